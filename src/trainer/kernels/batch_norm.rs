//! BatchNorm in training, with the activation that follows it, on the CPU
//! backend: per channel, one pass for the mean, one for the variance, one
//! writing `act(x * scale + shift)`; back, one pass for the two sums the
//! gradients need and one writing the input gradient. burn's BatchNorm
//! takes ~15 element-wise ops each way, each a new array, plus a transposed
//! copy of the input for each statistic. Running statistics are kept as
//! burn's BatchNorm keeps them (momentum, biased variance), so a network
//! trained here evaluates through burn's own BatchNorm unchanged.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::nn::BatchNorm;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

use super::activation::specialised;
use super::slices::{lanes, lanes2_pair};
use super::{Activation, Cpu, CpuAd, dims, from_cpu, native, tensor, to_cpu, with_values};

/// `act(bn(x))` for a `[batch, channels, h, w]` input; in training (an
/// autodiff backend) with batch statistics, which also update the running
/// ones, as burn's `BatchNorm::forward`.
pub fn batch_norm<B: Backend>(bn: &BatchNorm<B>, x: Tensor<B, 4>, act: Activation) -> Tensor<B, 4> {
    if !native::<B>() || !B::ad_enabled(&x.device()) {
        return act.burn(bn.forward(x));
    }
    let device = x.device();
    let (gamma, beta) = (to_cpu(bn.gamma.val()), to_cpu(bn.beta.val()));
    let (y, mean, var) = cpu_autodiff(to_cpu(x), gamma, beta, bn.epsilon as f32, act);
    let c = mean.len();
    let running = |state: Tensor<B, 1>, batch: Vec<f32>| {
        let batch = Tensor::<B, 1>::from_data(TensorData::new(batch, [c]), &device);
        state.mul_scalar(1.0 - bn.momentum).add(batch.mul_scalar(bn.momentum)).detach()
    };
    bn.running_mean.update(running(bn.running_mean.value_sync().to_device(&device), mean));
    bn.running_var.update(running(bn.running_var.value_sync().to_device(&device), var));
    from_cpu(y)
}

/// What the backward pass needs: the input and, per channel, the batch
/// mean, 1/std and the affine map the forward pass applied.
#[derive(Debug, Clone)]
struct Saved {
    x: FloatTensor<Cpu>,
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    scale: Vec<f32>,
    shift: Vec<f32>,
    act: Activation,
}

/// The shape as (images, channels, values per plane).
fn layout(shape: [usize; 4]) -> (usize, usize, usize) {
    (shape[0], shape[1], shape[2] * shape[3])
}

/// The planes of channel `ch`, in image order.
fn planes(x: &[f32], (n, c, hw): (usize, usize, usize), ch: usize) -> impl Iterator<Item = &[f32]> {
    (0..n).map(move |i| &x[(i * c + ch) * hw..][..hw])
}

fn forward(
    x: &FloatTensor<Cpu>,
    gamma: &[f32],
    beta: &[f32],
    epsilon: f32,
    act: Activation,
) -> (FloatTensor<Cpu>, Vec<f32>, Vec<f32>, Saved) {
    let shape: [usize; 4] = dims(x);
    let (n, c, hw) = layout(shape);
    let count = (n * hw) as f64;
    with_values(x, |xs| {
        // Sums in f64, in a fixed order: the same to the bit on any thread count.
        // (Each plane in f32 lanes, planes added in f64.)
        let stats: Vec<(f32, f32)> = (0..c)
            .into_par_iter()
            .map(|ch| {
                let sum: f64 = planes(xs, (n, c, hw), ch).map(|p| lanes(p, |v| v) as f64).sum();
                let mean = (sum / count) as f32;
                let sq: f64 = planes(xs, (n, c, hw), ch).map(|p| lanes(p, |v| (v - mean) * (v - mean)) as f64).sum();
                (mean, (sq / count) as f32)
            })
            .collect();
        let (mean, var): (Vec<f32>, Vec<f32>) = stats.into_iter().unzip();
        let inv_std: Vec<f32> = var.iter().map(|v| 1.0 / (v + epsilon).sqrt()).collect();
        let scale: Vec<f32> = (0..c).map(|ch| gamma[ch] * inv_std[ch]).collect();
        let shift: Vec<f32> = (0..c).map(|ch| beta[ch] - mean[ch] * scale[ch]).collect();
        let mut y = vec![0f32; xs.len()];
        specialised!(act, apply, |apply| {
            y.par_chunks_mut(hw).zip(xs.par_chunks(hw)).enumerate().for_each(|(p, (y, x))| {
                let (a, b) = (scale[p % c], shift[p % c]);
                y.iter_mut().zip(x).for_each(|(y, &v)| *y = apply(v * a + b));
            })
        });
        let saved = Saved { x: x.clone(), mean: mean.clone(), inv_std, scale, shift, act };
        (tensor(y, shape), mean, var, saved)
    })
}

#[derive(Debug)]
struct BatchNormBackward;

impl Backward<Cpu, 3> for BatchNormBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = grads.consume::<Cpu>(&ops.node);
        let s = ops.state;
        let shape: [usize; 4] = dims(&s.x);
        let (n, c, hw) = layout(shape);
        let count = (n * hw) as f64;
        with_values(&s.x, |xs| {
            with_values(&dy, |dys| {
                // g = dL/d(pre-activation); per channel the sums of g and of g * x-hat.
                let sums: Vec<(f64, f64)> = specialised!(s.act, slope, |slope| {
                    (0..c)
                        .into_par_iter()
                        .map(|ch| {
                            let (a, b, m, is) = (s.scale[ch], s.shift[ch], s.mean[ch], s.inv_std[ch]);
                            let (mut sum_g, mut sum_gx) = (0f64, 0f64);
                            for (x, dy) in planes(xs, (n, c, hw), ch).zip(planes(dys, (n, c, hw), ch)) {
                                let (g, gx) = lanes2_pair(x, dy, |v, d| {
                                    let g = d * slope(v * a + b);
                                    (g, g * ((v - m) * is))
                                });
                                sum_g += g as f64;
                                sum_gx += gx as f64;
                            }
                            (sum_g, sum_gx)
                        })
                        .collect()
                });
                if let Some(node) = node_x {
                    let mean_g: Vec<f32> = sums.iter().map(|s| (s.0 / count) as f32).collect();
                    let mean_gx: Vec<f32> = sums.iter().map(|s| (s.1 / count) as f32).collect();
                    let mut dx = vec![0f32; xs.len()];
                    specialised!(s.act, slope, |slope| {
                        let rows = dx.par_chunks_mut(hw).zip(xs.par_chunks(hw)).zip(dys.par_chunks(hw));
                        rows.enumerate().for_each(|(p, ((dx, x), dy))| {
                            let ch = p % c;
                            let (a, b, m, is) = (s.scale[ch], s.shift[ch], s.mean[ch], s.inv_std[ch]);
                            let (mg, mgx) = (mean_g[ch], mean_gx[ch]);
                            for ((dx, &v), &d) in dx.iter_mut().zip(x).zip(dy) {
                                *dx = a * (d * slope(v * a + b) - mg - (v - m) * is * mgx);
                            }
                        })
                    });
                    grads.register::<Cpu>(node.id, tensor(dx, shape));
                }
                if let Some(node) = node_gamma {
                    grads.register::<Cpu>(node.id, tensor(sums.iter().map(|s| s.1 as f32).collect(), [c]));
                }
                if let Some(node) = node_beta {
                    grads.register::<Cpu>(node.id, tensor(sums.iter().map(|s| s.0 as f32).collect(), [c]));
                }
            })
        });
    }
}

/// The output, and the batch mean and (biased) variance per channel.
fn cpu_autodiff(
    x: FloatTensor<CpuAd>,
    gamma: FloatTensor<CpuAd>,
    beta: FloatTensor<CpuAd>,
    epsilon: f32,
    act: Activation,
) -> (FloatTensor<CpuAd>, Vec<f32>, Vec<f32>) {
    let (y, mean, var, saved) =
        with_values(&gamma.primitive, |g| with_values(&beta.primitive, |b| forward(&x.primitive, g, b, epsilon, act)));
    let parents = [x.node.clone(), gamma.node.clone(), beta.node.clone()];
    let out = match BatchNormBackward.prepare::<NoCheckpointing>(parents).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(saved, y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    (out, mean, var)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trainer::kernels::tests::{CpuAd, assert_close, random};
    use burn::module::Param;
    use burn::nn::BatchNormConfig;

    #[test]
    fn batch_norm_with_each_activation_matches_burns_forward_gradients_and_running_stats() {
        let dev = Default::default();
        for act in [Activation::Identity, Activation::Relu, Activation::HSwish] {
            for shape in [[2, 3, 5, 7], [4, 1, 1, 1], [3, 17, 9, 11], [8, 5, 2, 1]] {
                let c = shape[1];
                // An input far from zero mean and unit variance, gamma and beta not 1 and 0.
                let x0 = random(shape, 4.0).add_scalar(1.5);
                let weights = random(shape, 1.0);
                let (gamma0, beta0) = (random([c], 1.0).add_scalar(1.0), random([c], 1.0));
                let run = |native: bool| {
                    let mut bn = BatchNormConfig::new(c).init::<CpuAd>(&dev);
                    bn.gamma = Param::from_tensor(gamma0.clone());
                    bn.beta = Param::from_tensor(beta0.clone());
                    let x = x0.clone().require_grad();
                    let y = if native { batch_norm(&bn, x.clone(), act) } else { act.burn(bn.forward(x.clone())) };
                    let g = (y.clone() * weights.clone()).sum().backward();
                    [
                        y.inner().into_data(),
                        x.grad(&g).unwrap().into_data(),
                        bn.gamma.val().grad(&g).unwrap().into_data(),
                        bn.beta.val().grad(&g).unwrap().into_data(),
                        bn.running_mean.value().into_data(),
                        bn.running_var.value().into_data(),
                    ]
                };
                let names =
                    ["output", "input gradient", "gamma gradient", "beta gradient", "running mean", "running var"];
                assert_close(&run(true), &run(false), &names, 1e-4, &format!("{act:?} {shape:?}"));
            }
        }
    }
}
