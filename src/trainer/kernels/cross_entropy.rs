//! Softmax cross-entropy, optionally label-smoothed, on the CPU backend:
//! the loss forward in one pass per row, its gradient computed exactly
//! beside it.
//!
//! Why ours and not burn's: burn 0.21's loss is `log_softmax`, whose
//! backward takes `log`'s gradient through `float_recip`, and burn-ndarray
//! 0.21 computes `recip` of 32 or more f32 values with the CPU's reciprocal
//! *estimate* (`_mm256_rcp_ps`, relative error up to ~3.7e-4) on the part of
//! the buffer that happens to be aligned, and exactly on the rest. Which
//! rows get the estimate follows the heap's history, so the same training
//! in two processes drifted apart (fixed upstream in burn-ndarray 0.22.1).
//! Here every sum is in f64 in row order and every division exact: the
//! same bits in any process, on any thread count.
//!
//! `q` is the smoothed target (`(1 - a)` on the label plus `a / classes`
//! everywhere, as burn and PyTorch define it); per row the loss is
//! `-sum_c q_c log p_c`, the batch's loss their mean, and the gradient
//! with respect to the logits `(p - q) / batch`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Int, Tensor};

use super::{Cpu, CpuAd, dims, from_cpu, native, tensor, to_cpu, with_values};

/// The mean cross-entropy of `logits` (`[batch, classes]`) against the
/// class indices `targets`, label-smoothed by `smoothing` (0: none);
/// shape `[1]`, as burn's loss.
pub fn cross_entropy<B: Backend>(logits: Tensor<B, 2>, targets: Tensor<B, 1, Int>, smoothing: f32) -> Tensor<B, 1> {
    if !native::<B>() {
        let smoothing = (smoothing > 0.0).then_some(smoothing);
        return CrossEntropyLossConfig::new().with_smoothing(smoothing).init(&logits.device()).forward(logits, targets);
    }
    let labels: Vec<usize> = targets.into_data().iter::<i64>().map(|t| t as usize).collect();
    from_cpu::<B, 1>(cpu_autodiff(to_cpu::<B, 2>(logits), &labels, smoothing))
}

/// The loss, and `(p - q) / batch` (the gradient for an upstream 1).
fn loss_and_gradient(x: &[f32], (batch, classes): (usize, usize), labels: &[usize], smoothing: f32) -> (f32, Vec<f32>) {
    assert_eq!(labels.len(), batch, "one target per row of logits");
    let a = smoothing as f64;
    let off = a / classes as f64;
    let on = 1.0 - a + off;
    let mut grad = vec![0f32; x.len()];
    let mut total = 0f64;
    for ((row, g), &label) in x.chunks_exact(classes).zip(grad.chunks_exact_mut(classes)).zip(labels) {
        assert!(label < classes, "target {label} out of range for {classes} classes");
        // A NaN among the logits makes the sum, and so the loss, NaN: a diverging training shows.
        let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        let sum: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
        let log_sum = max + sum.ln();
        let mut loss = 0f64;
        for (c, (&v, g)) in row.iter().zip(g.iter_mut()).enumerate() {
            let log_p = v as f64 - log_sum;
            let q = if c == label { on } else { off };
            // a class without target mass adds nothing, even at a logit of -inf (as burn and PyTorch)
            if q != 0.0 {
                loss -= q * log_p;
            }
            *g = ((log_p.exp() - q) / batch as f64) as f32;
        }
        total += loss;
    }
    ((total / batch as f64) as f32, grad)
}

#[derive(Debug)]
struct CrossEntropyBackward;

impl Backward<Cpu, 1> for CrossEntropyBackward {
    /// The gradient with respect to the logits for an upstream gradient of 1.
    type State = FloatTensor<Cpu>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [Some(node)] = ops.parents else { return };
        let upstream = grads.consume::<Cpu>(&ops.node);
        let scale = with_values(&upstream, |g| g[0]);
        let shape: [usize; 2] = dims(&ops.state);
        let dx = with_values(&ops.state, |d| d.iter().map(|&v| v * scale).collect());
        grads.register::<Cpu>(node.id, tensor(dx, shape));
    }
}

fn cpu_autodiff(logits: FloatTensor<CpuAd>, labels: &[usize], smoothing: f32) -> FloatTensor<CpuAd> {
    let [batch, classes]: [usize; 2] = dims(&logits.primitive);
    let (loss, grad) = with_values(&logits.primitive, |x| loss_and_gradient(x, (batch, classes), labels, smoothing));
    let loss = tensor(vec![loss], [1]);
    // (the gradient comes with the loss at no extra pass; untracked, it is dropped)
    match CrossEntropyBackward.prepare::<NoCheckpointing>([logits.node.clone()]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(tensor(grad, [batch, classes]), loss),
        OpsKind::UnTracked(prep) => prep.finish(loss),
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::TensorData;

    use super::*;
    use crate::trainer::kernels::tests::{CpuAd, assert_close, random};

    #[test]
    fn the_loss_and_its_gradient_match_burns() {
        for smoothing in [0.0, 0.1] {
            for (batch, classes) in [(1, 10), (31, 10), (64, 10), (96, 100), (5, 3)] {
                let logits = random([batch, classes], 6.0);
                let labels: Vec<i64> = (0..batch as i64).map(|i| (i * 7 + 3) % classes as i64).collect();
                let targets = || {
                    Tensor::<CpuAd, 1, Int>::from_data(TensorData::new(labels.clone(), [batch]), &Default::default())
                };
                let run = |ours: bool| {
                    let x = logits.clone().require_grad();
                    let loss = if ours {
                        cross_entropy(x.clone(), targets(), smoothing)
                    } else {
                        let s = (smoothing > 0.0).then_some(smoothing);
                        CrossEntropyLossConfig::new()
                            .with_smoothing(s)
                            .init(&Default::default())
                            .forward(x.clone(), targets())
                    };
                    // an upstream gradient other than 1, as the auxiliary head's weight gives
                    let g = loss.clone().mul_scalar(0.4).backward();
                    [loss.inner().into_data(), x.grad(&g).unwrap().into_data()]
                };
                let what = format!("batch {batch}, {classes} classes, smoothing {smoothing}");
                assert_close(&run(true), &run(false), &["loss", "logits gradient"], 2e-5, &what);
            }
        }
    }

    #[test]
    fn a_nan_logit_makes_the_loss_nan_and_minus_infinity_does_not() {
        let mut values = vec![0.5f32; 2 * 4];
        values[5] = f32::NAN;
        let (loss, _) = loss_and_gradient(&values, (2, 4), &[0, 1], 0.0);
        assert!(loss.is_nan(), "{loss}");
        let mut values = vec![0.5f32; 2 * 4];
        values[0] = f32::INFINITY;
        assert!(!loss_and_gradient(&values, (2, 4), &[0, 1], 0.0).0.is_finite());
        // a class ruled out (-inf) that is not the label: a finite loss, as burn's and PyTorch's
        let mut values = vec![0.5f32; 2 * 4];
        values[1] = f32::NEG_INFINITY;
        let (loss, grad) = loss_and_gradient(&values, (2, 4), &[0, 1], 0.0);
        assert!(loss.is_finite() && grad.iter().all(|g| g.is_finite()), "{loss} {grad:?}");
    }
}
