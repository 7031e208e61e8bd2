//! Compute backends: NdArray on the CPU (default), burn's Flex CPU backend
//! (`device: flex`, pure Rust, gemm-based), CUDA with `--features cuda`,
//! WGPU (Vulkan, Metal, DX12; a software Vulkan driver in CI) with
//! `--features wgpu`.
//! Code that trains or runs models is generic over the backend; this module
//! picks the concrete one from the config's `device`.

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

/// Whether `B` is the CPU backend (with or without autodiff).
pub fn is_cpu<B: 'static>() -> bool {
    use std::any::TypeId;
    [TypeId::of::<Cpu>(), TypeId::of::<Autodiff<Cpu>>(), TypeId::of::<Flex>(), TypeId::of::<Autodiff<Flex>>()]
        .contains(&TypeId::of::<B>())
}

/// Threads the CPU backend computes with.
pub fn cpu_threads() -> usize {
    rayon::current_num_threads()
}
