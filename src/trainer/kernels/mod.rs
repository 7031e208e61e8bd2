//! Training kernels the CPU backend runs itself, written on slices.
//!
//! burn 0.21's NdArray backend computes each element-wise op as its own
//! pass into a new array, and records each for the backward pass: a
//! BatchNorm in training is ~15 passes forward and as many back, a ReLU's
//! gradient 3. PyTorch runs these as fused kernels. On `Autodiff<NdArray>`
//! (and only there: [`native`]) the trainer's dense and depthwise
//! convolutions, BatchNorm + activation, activations and the loss run here,
//! forward and backward, each as one or two passes or matrix products, each
//! computing the same bits wherever its buffers lie and on any thread count
//! (docs/determinism.md). Every other backend (CUDA, WGPU, Flex,
//! NdArray without autodiff when evaluating) runs burn's own ops, which
//! these are tested against.

pub mod activation;
pub mod batch_norm;
pub mod conv;
pub mod cross_entropy;
pub mod depthwise;
mod slices;

use std::any::{Any, TypeId};

use burn::backend::ndarray::NdArrayTensor;
use burn::backend::{Autodiff, NdArray};
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorData, TensorMetadata, TensorPrimitive};

pub use activation::{Activation, activation};
pub use batch_norm::batch_norm;
pub use conv::{ConvGeometry, dense_conv2d};
pub use cross_entropy::cross_entropy;
pub use depthwise::depthwise_conv2d;

type Cpu = NdArray<f32>;
type CpuAd = Autodiff<Cpu>;

/// Whether `B` runs the kernels of this module: exactly the CPU backend
/// with autodiff, the one the trainer trains on without a GPU
/// ([`crate::backend::native_trainer`], by type: a GPU backend can never
/// take a CPU path, and [`cast`] relies on it).
pub fn native<B: Backend>() -> bool {
    let native = crate::backend::native_trainer::<B>();
    debug_assert_eq!(native, TypeId::of::<B>() == TypeId::of::<CpuAd>());
    native
}

/// `t` as the type [`native`] has established it is.
fn cast<T: 'static, U: 'static>(t: T) -> U {
    let t: Box<dyn Any> = Box::new(t);
    *t.downcast::<U>().expect("the backend checked by `native`")
}

/// A tensor of the backend `B` that [`native`] accepted, as the CPU
/// autodiff backend's primitive (and back).
fn to_cpu<B: Backend, const D: usize>(t: Tensor<B, D>) -> FloatTensor<CpuAd> {
    cast::<_, Tensor<CpuAd, D>>(t).into_primitive().tensor()
}

fn from_cpu<B: Backend, const D: usize>(t: FloatTensor<CpuAd>) -> Tensor<B, D> {
    cast(Tensor::<CpuAd, D>::from_primitive(TensorPrimitive::Float(t)))
}

/// Along one axis of a convolution (input `size`, `outs` outputs): the
/// outputs `lo..hi` whose kernel tap `tap` lands inside the input, and the
/// input position of the first. Shared by the dense and depthwise kernels.
fn tap_run(stride: usize, dilation: usize, pad: usize, tap: usize, size: usize, outs: usize) -> (usize, usize, usize) {
    let off = tap * dilation;
    // input = o * stride + off - pad must lie in 0..size
    let lo = pad.saturating_sub(off).div_ceil(stride);
    let hi = if size + pad > off { ((size + pad - off - 1) / stride + 1).min(outs) } else { 0 };
    (lo, hi.max(lo), (lo * stride + off).saturating_sub(pad))
}

fn dims<const D: usize>(t: &FloatTensor<Cpu>) -> [usize; D] {
    t.shape().dims()
}

/// Calls `f` with a tensor's values (row-major), without a copy when they
/// lie contiguous (burn's `into_data` copies a shared array element by element).
fn with_values<R>(t: &FloatTensor<Cpu>, f: impl FnOnce(&[f32]) -> R) -> R {
    let NdArrayTensor::F32(storage) = t else { panic!("the CPU backend computes in f32, got {:?}", t.dtype()) };
    let view = storage.view();
    match view.as_slice() {
        Some(values) => f(values),
        None => f(&view.iter().copied().collect::<Vec<f32>>()),
    }
}

fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FloatTensor<Cpu> {
    Tensor::<Cpu, D>::from_data(TensorData::new(values, shape), &Default::default()).into_primitive().tensor()
}

#[cfg(test)]
pub(super) mod tests {
    use burn::tensor::{Distribution, Tensor, TensorData};

    pub type CpuAd = super::CpuAd;

    /// Values uniform in `-spread..spread`.
    pub fn random<const D: usize>(shape: [usize; D], spread: f64) -> Tensor<CpuAd, D> {
        Tensor::random(shape, Distribution::Uniform(-spread, spread), &Default::default())
    }

    /// Each of `got` equal to `want` in shape and within `tol`, relative to
    /// the larger of 1 and the value's size.
    pub fn assert_close(got: &[TensorData], want: &[TensorData], names: &[&str], tol: f32, case: &str) {
        for ((a, b), name) in got.iter().zip(want).zip(names) {
            assert_eq!(a.shape, b.shape, "{name} ({case})");
            let (a, b) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
            // a NaN anywhere is an error of NaN, which fails (`f32::max` would skip it)
            let err = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
                .fold(0f32, |m, e| if e.is_nan() || e > m { e } else { m });
            assert!(err < tol, "{name}: error {err} > {tol} ({case})");
        }
    }
}
