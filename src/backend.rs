//! Compute backends: NdArray on the CPU (default), burn's Flex CPU backend
//! (`device: flex`, pure Rust, gemm-based), CUDA with `--features cuda`,
//! WGPU (Vulkan, Metal, DX12; a software Vulkan driver in CI) with
//! `--features wgpu`.
//! Code that trains or runs models is generic over the backend; this module
//! picks the concrete one from the config's `device`, and says per backend
//! which of the tool's own CPU code paths it takes ([`identify`]).

use burn::backend::Autodiff;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

/// The CPU backend.
pub type Cpu = burn::backend::NdArray<f32>;
/// burn's newer pure-Rust CPU backend (strided views, gemm matrix products).
pub type Flex = burn::backend::Flex;
/// The CUDA backend.
#[cfg(feature = "cuda")]
pub type Gpu = burn::backend::Cuda<f32>;

/// burn's WGPU backend: CubeCL's kernels, fusion and runtime (those CUDA
/// uses) compiled to WGSL for whatever GPU wgpu finds.
#[cfg(feature = "wgpu")]
pub type Wgpu = burn::backend::Wgpu<f32>;

/// Where models run (`device:` in a config file).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    #[default]
    Cpu,
    /// The CPU through burn's Flex backend.
    Flex,
    Cuda,
    /// A GPU through wgpu (AMD, Intel, Apple; any Vulkan driver).
    Wgpu,
}

impl DeviceKind {
    /// The name configs use (`cpu`, `cuda`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Flex => "flex",
            Self::Cuda => "cuda",
            Self::Wgpu => "wgpu",
        }
    }

    /// Backend name as result tables record it.
    pub fn backend_name(self) -> &'static str {
        match self {
            Self::Cpu if cfg!(feature = "blas") => "ndarray+openblas",
            Self::Cpu => "ndarray",
            Self::Flex => "flex",
            Self::Cuda => "cuda",
            Self::Wgpu => "wgpu",
        }
    }
}

/// A command's work, generic over the backend: each command picks its
/// backend once, by handing its whole work to [`dispatch`].
pub trait BackendTask {
    type Output;
    fn with_backend<B: AutodiffBackend>(self, device: B::Device) -> Self::Output;
}

/// Runs `task` on the backend for `kind`.
pub fn dispatch<T: BackendTask>(kind: DeviceKind, task: T) -> anyhow::Result<T::Output> {
    match kind {
        DeviceKind::Cpu => Ok(task.with_backend::<Autodiff<Cpu>>(Default::default())),
        DeviceKind::Flex => Ok(task.with_backend::<Autodiff<Flex>>(Default::default())),
        #[cfg(feature = "cuda")]
        DeviceKind::Cuda => Ok(task.with_backend::<Autodiff<Gpu>>(Default::default())),
        #[cfg(not(feature = "cuda"))]
        DeviceKind::Cuda => anyhow::bail!("device: cuda needs a build with `--features cuda`"),
        #[cfg(feature = "wgpu")]
        DeviceKind::Wgpu => Ok(task.with_backend::<Autodiff<Wgpu>>(Default::default())),
        #[cfg(not(feature = "wgpu"))]
        DeviceKind::Wgpu => anyhow::bail!("device: wgpu needs a build with `--features wgpu`"),
    }
}

/// Which of the backends this build has `B` is: its device and whether it
/// records gradients (`Autodiff<..>`); `None` for any other backend type.
/// The one table the tool's own code paths are chosen from.
pub fn identify<B: 'static>() -> Option<(DeviceKind, bool)> {
    use std::any::TypeId;
    // A backend and its autodiff wrapper: called in the trainer's hot path
    // (every kernel asks), so a chain of constants, no allocation.
    fn pair<T: 'static>(kind: DeviceKind) -> [(TypeId, DeviceKind, bool); 2] {
        [(TypeId::of::<T>(), kind, false), (TypeId::of::<Autodiff<T>>(), kind, true)]
    }
    let table = pair::<Cpu>(DeviceKind::Cpu).into_iter().chain(pair::<Flex>(DeviceKind::Flex));
    #[cfg(feature = "cuda")]
    let table = table.chain(pair::<Gpu>(DeviceKind::Cuda));
    #[cfg(feature = "wgpu")]
    let table = table.chain(pair::<Wgpu>(DeviceKind::Wgpu));
    let b = TypeId::of::<B>();
    table.into_iter().find(|&(t, _, _)| t == b).map(|(_, kind, ad)| (kind, ad))
}

impl DeviceKind {
    /// Whether tensors live in host memory (a CPU backend), so code that
    /// reads weights and computes on slices costs no transfer.
    pub fn on_host(self) -> bool {
        matches!(self, Self::Cpu | Self::Flex)
    }
}

/// Whether `B` is a CPU backend (with or without autodiff).
pub fn is_cpu<B: 'static>() -> bool {
    identify::<B>().is_some_and(|(kind, _)| kind.on_host())
}

/// Whether the predictor's native NAR-Former step and scorer (host
/// slices, `predictor::native*`) run on `B`: the CPU backends only.
pub fn native_predictor<B: 'static>() -> bool {
    is_cpu::<B>()
}

/// Whether the trainer's kernels (`trainer::kernels`, written on NdArray's
/// arrays) run on `B`: NdArray with autodiff only. Every GPU backend, Flex,
/// and any backend not in [`identify`]'s table run burn's ops.
pub fn native_trainer<B: 'static>() -> bool {
    identify::<B>() == Some((DeviceKind::Cpu, true))
}

/// A GPU runtime's memory report (CubeCL's memory pools), in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceMemory {
    /// Bytes held by live tensors.
    pub in_use: u64,
    /// Bytes the pools hold from the device (in use, padding and free pages).
    pub reserved: u64,
}

/// The memory report of `device` when `B` is a GPU backend of this build
/// (after finishing its queued work); `None` on the CPU backends.
pub fn device_memory<B: burn::tensor::backend::Backend>(device: &B::Device) -> Option<DeviceMemory> {
    let (kind, _) = identify::<B>()?;
    if kind.on_host() {
        return None;
    }
    B::sync(device).ok()?;
    let any: &dyn std::any::Any = device;
    match kind {
        #[cfg(feature = "wgpu")]
        DeviceKind::Wgpu => {
            use burn::cubecl::Runtime;
            let usage = burn::backend::wgpu::WgpuRuntime::client(any.downcast_ref()?).memory_usage().ok()?;
            Some(DeviceMemory { in_use: usage.bytes_in_use, reserved: usage.bytes_reserved })
        }
        #[cfg(feature = "cuda")]
        DeviceKind::Cuda => {
            use burn::cubecl::Runtime;
            let usage = burn::cubecl::cuda::CudaRuntime::client(any.downcast_ref()?).memory_usage().ok()?;
            Some(DeviceMemory { in_use: usage.bytes_in_use, reserved: usage.bytes_reserved })
        }
        _ => {
            let _ = any; // read by the GPU arms of builds that have them
            None
        }
    }
}

/// The name of the adapter `device: wgpu` computes on (wgpu's default
/// device: the high-performance adapter of the platform's graphics API), as
/// its driver reports it, e.g. `llvmpipe (LLVM 19.1.7, 256 bits) (Vulkan,
/// Mesa 25.0.7)`; `None` without the feature or an adapter.
pub fn wgpu_adapter_name() -> Option<String> {
    #[cfg(feature = "wgpu")]
    {
        use burn::cubecl::wgpu::{AutoGraphicsApi, GraphicsApi};
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: AutoGraphicsApi::backend().into(),
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let options = wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: false,
            compatible_surface: None,
        };
        let info = burn::cubecl::future::block_on(instance.request_adapter(&options)).ok()?.get_info();
        Some(format!("{} ({:?}, {})", info.name, info.backend, info.driver_info))
    }
    #[cfg(not(feature = "wgpu"))]
    None
}

/// Threads the CPU backend computes with.
pub fn cpu_threads() -> usize {
    rayon::current_num_threads()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cpu_backend_is_identified_and_takes_only_its_own_paths() {
        assert_eq!(identify::<Cpu>(), Some((DeviceKind::Cpu, false)));
        assert_eq!(identify::<Autodiff<Cpu>>(), Some((DeviceKind::Cpu, true)));
        assert_eq!(identify::<Autodiff<Flex>>(), Some((DeviceKind::Flex, true)));
        // the trainer's kernels need NdArray's arrays and autodiff: nothing else
        assert!(native_trainer::<Autodiff<Cpu>>());
        assert!(!native_trainer::<Cpu>() && !native_trainer::<Autodiff<Flex>>());
        // the predictor's native code reads weights on the host: both CPU backends
        assert!(native_predictor::<Cpu>() && native_predictor::<Autodiff<Flex>>());
        // a backend outside the table takes burn's ops everywhere
        type Other = burn::backend::NdArray<f64>;
        assert_eq!(identify::<Other>(), None);
        assert!(!native_predictor::<Other>() && !native_trainer::<Other>() && !is_cpu::<Other>());
        assert_eq!(device_memory::<Cpu>(&Default::default()), None);
    }
}
