//! ReLU, h-swish and h-sigmoid on the CPU backend: one pass forward, one
//! pass back (burn's ReLU gradient is three: a comparison, a mask, a fill;
//! its h-swish is a product of a clamp, six passes each way), keeping a
//! NaN a NaN. Also the activation [`super::batch_norm`] applies in its own
//! passes.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use rayon::prelude::*;

use super::{Cpu, CpuAd, dims, from_cpu, native, tensor, to_cpu, with_values};

/// Element-wise values are split into runs of this many for the threads.
const RUN: usize = 1 << 14;

/// An element-wise activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Identity,
    Relu,
    /// `z * relu6(z + 3) / 6`, MobileNetV3's.
    HSwish,
    /// `relu6(z + 3) / 6`, the gate of MobileNetV3's squeeze-and-excite.
    HSigmoid,
}

impl Activation {
    /// The value at `z`; a NaN stays NaN (`f32::max` would turn ReLU's into
    /// 0, and burn-ndarray 0.21's SIMD max and clamp do, burn issue #5716:
    /// a diverging training must be seen diverging).
    #[inline]
    pub(super) fn apply(self, z: f32) -> f32 {
        match self {
            Self::Identity => z,
            Self::Relu if z <= 0.0 => 0.0,
            Self::Relu => z,
            // `clamp` keeps a NaN
            Self::HSwish => z * (z + 3.0).clamp(0.0, 6.0) / 6.0,
            Self::HSigmoid => (z + 3.0).clamp(0.0, 6.0) / 6.0,
        }
    }

    /// The derivative at `z`, as PyTorch takes it at the kinks (ReLU 0 at 0,
    /// h-swish -0.5 at -3 and 1.5 at 3, h-sigmoid 0 at ±3); NaN at a NaN
    /// (burn and PyTorch pass a gradient through a NaN input: here it shows).
    #[inline]
    pub(super) fn slope(self, z: f32) -> f32 {
        match self {
            _ if z.is_nan() => f32::NAN,
            Self::Identity => 1.0,
            Self::Relu if z > 0.0 => 1.0,
            Self::Relu => 0.0,
            Self::HSwish if z < -3.0 => 0.0,
            Self::HSwish if z > 3.0 => 1.0,
            Self::HSwish => (2.0 * z + 3.0) / 6.0,
            Self::HSigmoid if z <= -3.0 || z >= 3.0 => 0.0,
            Self::HSigmoid => 1.0 / 6.0,
        }
    }

    /// burn's op for it (every backend but the native one).
    pub fn burn<B: Backend, const D: usize>(self, x: Tensor<B, D>) -> Tensor<B, D> {
        match self {
            Self::Identity => x,
            Self::Relu => burn::tensor::activation::relu(x),
            Self::HSwish => burn::tensor::activation::hard_swish(x),
            Self::HSigmoid => burn::tensor::activation::hard_sigmoid(x, 1.0 / 6.0, 0.5),
        }
    }
}

/// Evaluates `$body` with `$f` bound to `$act.$method` (`apply` or
/// `slope`) as a closure compiled for that one activation: a loop calling
/// `$f` is compiled once per activation, with no branch on which inside,
/// so it vectorises.
macro_rules! specialised {
    ($act:expr, $method:ident, |$f:ident| $body:expr) => {
        match $act {
            Activation::Identity => {
                let $f = |z: f32| Activation::Identity.$method(z);
                $body
            }
            Activation::Relu => {
                let $f = |z: f32| Activation::Relu.$method(z);
                $body
            }
            Activation::HSwish => {
                let $f = |z: f32| Activation::HSwish.$method(z);
                $body
            }
            Activation::HSigmoid => {
                let $f = |z: f32| Activation::HSigmoid.$method(z);
                $body
            }
        }
    };
}
pub(super) use specialised;

/// `act(x)` element-wise.
pub fn activation<B: Backend, const D: usize>(x: Tensor<B, D>, act: Activation) -> Tensor<B, D> {
    if !native::<B>() || act == Activation::Identity {
        return act.burn(x);
    }
    from_cpu::<B, D>(cpu_autodiff::<D>(to_cpu(x), act))
}

#[derive(Debug)]
struct ActivationBackward<const D: usize>;

impl<const D: usize> Backward<Cpu, 1> for ActivationBackward<D> {
    /// The input, and the activation.
    type State = (FloatTensor<Cpu>, Activation);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [Some(node)] = ops.parents else { return };
        let dy = grads.consume::<Cpu>(&ops.node);
        let (x, act) = ops.state;
        let shape: [usize; D] = dims(&x);
        let dx = with_values(&dy, |dy| {
            with_values(&x, |x| {
                let mut dx = vec![0f32; x.len()];
                specialised!(act, slope, |slope| {
                    dx.par_chunks_mut(RUN).zip(x.par_chunks(RUN)).zip(dy.par_chunks(RUN)).for_each(|((dx, x), dy)| {
                        dx.iter_mut().zip(x).zip(dy).for_each(|((d, &z), &g)| *d = g * slope(z))
                    })
                });
                dx
            })
        });
        grads.register::<Cpu>(node.id, tensor(dx, shape));
    }
}

fn cpu_autodiff<const D: usize>(x: FloatTensor<CpuAd>, act: Activation) -> FloatTensor<CpuAd> {
    let forward = |x: &FloatTensor<Cpu>| {
        let shape: [usize; D] = dims(x);
        let y = with_values(x, |x| {
            let mut y = vec![0f32; x.len()];
            specialised!(act, apply, |apply| {
                y.par_chunks_mut(RUN)
                    .zip(x.par_chunks(RUN))
                    .for_each(|(y, x)| y.iter_mut().zip(x).for_each(|(y, &z)| *y = apply(z)))
            });
            y
        });
        tensor(y, shape)
    };
    match ActivationBackward::<D>.prepare::<NoCheckpointing>([x.node.clone()]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let y = forward(&x.primitive);
            prep.finish((x.primitive, act), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(&x.primitive)),
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::TensorData;

    use super::*;
    use crate::trainer::kernels::tests::CpuAd;
    use crate::trainer::kernels::tests::{assert_close, random};

    #[test]
    fn activations_and_their_gradients_match_burns() {
        for act in [Activation::Relu, Activation::HSwish, Activation::HSigmoid] {
            for shape in [[2, 3, 5, 7], [1, 1, 1, 1], [3, 17, 33, 31]] {
                // Values spread past h-swish's bends at -3 and 3.
                let x0 = random(shape, 5.0);
                let weights = random(shape, 1.0);
                let run = |native: bool| {
                    let x = x0.clone().require_grad();
                    let y = if native { activation(x.clone(), act) } else { act.burn(x.clone()) };
                    let g = (y.clone() * weights.clone()).sum().backward();
                    [y.inner().into_data(), x.grad(&g).unwrap().into_data()]
                };
                let what = format!("{act:?} {shape:?}");
                assert_close(&run(true), &run(false), &["output", "input gradient"], 1e-5, &what);
            }
        }
    }

    #[test]
    fn a_nan_stays_nan_through_every_activation_and_its_gradient() {
        for act in [Activation::Relu, Activation::HSwish, Activation::HSigmoid] {
            let values = [f32::NAN, -4.0, -1.0, 0.0, 2.0, 5.0];
            let x0 = Tensor::<CpuAd, 4>::from_data(TensorData::new(values.to_vec(), [1, 1, 2, 3]), &Default::default());
            let x = x0.require_grad();
            let y = activation(x.clone(), act);
            let g = y.clone().sum().backward();
            let (y, dx) = (
                y.inner().into_data().to_vec::<f32>().unwrap(),
                x.grad(&g).unwrap().into_data().to_vec::<f32>().unwrap(),
            );
            assert!(y[0].is_nan() && dx[0].is_nan(), "{act:?}: {y:?} {dx:?}");
            assert!(y[1..].iter().chain(&dx[1..]).all(|v| v.is_finite()), "{act:?}: only the NaN is NaN: {y:?} {dx:?}");
        }
    }
}
