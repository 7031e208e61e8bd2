//! Optimisation pieces burn does not provide as NAR-Former needs them: the
//! warm-up + linear-decay schedule, AdamW's decoupled weight decay restricted
//! to weight matrices (no decay on biases and LayerNorm weights), an
//! exponential moving average of the weights, and optional clipping of the
//! gradients' global norm (burn's own clipping works tensor by tensor).

use std::collections::HashMap;

use burn::module::{AutodiffModule, Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor};

/// Learning rate at `step` of `total`: linear warm-up from 0 over the first
/// `warmup` fraction of steps, then linear decay to 0.
pub fn lr_at(step: usize, total: usize, base: f64, warmup: f64) -> f64 {
    let warm = (warmup * total as f64).round() as usize;
    if step < warm {
        base * (step + 1) as f64 / warm as f64
    } else {
        let rest = (total - warm).max(1);
        base * (total.saturating_sub(step)) as f64 / rest as f64
    }
}

/// Multiplies every parameter of rank >= 2 (weight matrices, learnt tokens)
/// by `factor` = 1 - lr * weight_decay; rank-1 parameters (biases, LayerNorm
/// scales and shifts) are left alone.
pub fn decay_weights<B: AutodiffBackend, M: AutodiffModule<B>>(module: M, factor: f64) -> M {
    struct Decay(f64);
    impl<B: AutodiffBackend> ModuleMapper<B> for Decay {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            if D < 2 {
                return param;
            }
            let (id, tensor, mapper) = param.consume();
            let grad = tensor.is_require_grad();
            let value = Tensor::from_inner(tensor.inner().mul_scalar(self.0)).set_require_grad(grad);
            Param::from_mapped_value(id, value, mapper)
        }
    }
    module.map(&mut Decay(factor))
}

/// ema <- decay * ema + (1 - decay) * current, parameter by parameter
/// (matched by parameter id, so `ema` must be a copy of `current`'s module).
pub fn ema_update<B: Backend, M: Module<B>>(ema: M, current: &M, decay: f64) -> M {
    struct Collect<B: Backend>(HashMap<ParamId, Tensor<B, 1>>);
    impl<B: Backend> ModuleVisitor<B> for Collect<B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let t = param.val();
            let n = t.shape().num_elements();
            self.0.insert(param.id, t.reshape([n]));
        }
    }
    struct Blend<B: Backend>(HashMap<ParamId, Tensor<B, 1>>, f64);
    impl<B: Backend> ModuleMapper<B> for Blend<B> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let (id, tensor, mapper) = param.consume();
            let cur = self.0.remove(&id).expect("EMA model and current model have the same parameters");
            let value = tensor.clone().mul_scalar(self.1) + cur.reshape(tensor.shape()).mul_scalar(1.0 - self.1);
            Param::from_mapped_value(id, value, mapper)
        }
    }
    let mut collect = Collect(HashMap::new());
    current.visit(&mut collect);
    ema.map(&mut Blend(collect.0, decay))
}

/// The L2 norm of all of `module`'s gradients together (0 when it has none).
pub fn global_grad_norm<B: AutodiffBackend, M: AutodiffModule<B>>(grads: &GradientsParams, module: &M) -> f64 {
    struct SumSquares<'a, B: AutodiffBackend>(&'a GradientsParams, Option<Tensor<B::InnerBackend, 1>>);
    impl<B: AutodiffBackend> ModuleVisitor<B> for SumSquares<'_, B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(g) = self.0.get::<B::InnerBackend, D>(param.id) {
                let s = g.square().sum();
                self.1 = Some(match self.1.take() {
                    Some(total) => total + s,
                    None => s,
                });
            }
        }
    }
    let mut sum = SumSquares::<B>(grads, None);
    module.visit(&mut sum);
    sum.1.map_or(0.0, |total| total.into_scalar().elem::<f64>().sqrt())
}

/// Clips the gradients' global norm `norm` (from [`global_grad_norm`]) to
/// `max_norm`, as PyTorch's `clip_grad_norm_` does: every gradient is scaled
/// by the same factor, so a spike shortens the step without turning it
/// (burn's own clipping works tensor by tensor).
pub fn clip_global_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    mut grads: GradientsParams,
    module: &M,
    norm: f64,
    max_norm: f64,
) -> GradientsParams {
    struct Scale<'a>(&'a mut GradientsParams, f64);
    impl<B: AutodiffBackend> ModuleVisitor<B> for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(g) = self.0.remove::<B::InnerBackend, D>(param.id) {
                self.0.register::<B::InnerBackend, D>(param.id, g.mul_scalar(self.1));
            }
        }
    }
    if norm > max_norm {
        module.visit(&mut Scale(&mut grads, max_norm / norm));
    }
    grads
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};
    use burn::nn::{Linear, LinearConfig};

    type B = NdArray<f32>;

    #[test]
    fn schedule_warms_up_then_decays_to_zero() {
        let total = 100;
        assert!((lr_at(0, total, 1.0, 0.1) - 0.1).abs() < 1e-12);
        assert!((lr_at(9, total, 1.0, 0.1) - 1.0).abs() < 1e-12);
        assert!((lr_at(10, total, 1.0, 0.1) - 1.0).abs() < 1e-12);
        assert!((lr_at(55, total, 1.0, 0.1) - 0.5).abs() < 1e-12);
        assert!(lr_at(99, total, 1.0, 0.1) > 0.0);
        assert!(lr_at(100, total, 1.0, 0.1).abs() < 1e-12);
    }

    fn values<Bk: Backend>(l: &Linear<Bk>) -> (Vec<f32>, Vec<f32>) {
        let w = l.weight.val().into_data().to_vec::<f32>().unwrap();
        let b = l.bias.as_ref().unwrap().val().into_data().to_vec::<f32>().unwrap();
        (w, b)
    }

    #[test]
    fn decay_touches_weights_not_biases() {
        let dev = Default::default();
        let lin: Linear<Autodiff<B>> = LinearConfig::new(3, 2).init(&dev);
        let (w0, b0) = values(&lin);
        let lin = decay_weights(lin, 0.5);
        let (w1, b1) = values(&lin);
        assert_eq!(b0, b1);
        for (a, b) in w0.iter().zip(&w1) {
            assert!((a * 0.5 - b).abs() < 1e-7);
        }
        assert!(lin.weight.val().is_require_grad());
    }

    #[test]
    fn ema_blends_by_parameter() {
        let dev = Default::default();
        let cur: Linear<B> = LinearConfig::new(3, 2).init(&dev);
        let ema = cur.clone().map(&mut ZeroAll);
        let ema = ema_update(ema, &cur, 0.75);
        let (w, b) = values(&cur);
        let (we, be) = values(&ema);
        for (a, e) in w.iter().chain(&b).zip(we.iter().chain(&be)) {
            assert!((a * 0.25 - e).abs() < 1e-7);
        }
    }

    /// Gradients of `sum(w * x) + sum(b)` for a 3-to-2 Linear: the weight
    /// gradient is x in every row, the bias gradient is all ones.
    fn linear_grads(x: [f32; 3]) -> (Linear<Autodiff<B>>, GradientsParams) {
        let dev = Default::default();
        let lin: Linear<Autodiff<B>> = LinearConfig::new(3, 2).init(&dev);
        let input = Tensor::<Autodiff<B>, 2>::from_floats([x], &dev);
        let grads = GradientsParams::from_grads(lin.forward(input).sum().backward(), &lin);
        (lin, grads)
    }

    fn grad_values(lin: &Linear<Autodiff<B>>, grads: &GradientsParams) -> Vec<f32> {
        let w = grads.get::<B, 2>(lin.weight.id).unwrap().into_data().to_vec::<f32>().unwrap();
        let b = grads.get::<B, 1>(lin.bias.as_ref().unwrap().id).unwrap().into_data().to_vec::<f32>().unwrap();
        w.into_iter().chain(b).collect()
    }

    #[test]
    fn global_clip_scales_all_gradients_by_one_factor() {
        // Weight gradient rows (3, 4, 0) twice and bias (1, 1): norm sqrt(52).
        let (lin, grads) = linear_grads([3.0, 4.0, 0.0]);
        let before = grad_values(&lin, &grads);
        let norm = before.iter().map(|g| g * g).sum::<f32>().sqrt();
        assert!((norm - 52f32.sqrt()).abs() < 1e-4);
        let measured = global_grad_norm(&grads, &lin);
        assert!((measured - 52f64.sqrt()).abs() < 1e-4, "global norm {measured}");
        let after = grad_values(&lin, &clip_global_norm(grads, &lin, measured, 2.0));
        let clipped = after.iter().map(|g| g * g).sum::<f32>().sqrt();
        assert!((clipped - 2.0).abs() < 1e-4, "clipped norm {clipped}");
        for (a, b) in before.iter().zip(&after) {
            assert!((a * 2.0 / norm - b).abs() < 1e-5, "one factor for weights and biases: {a} -> {b}");
        }
    }

    #[test]
    fn global_clip_leaves_small_gradients_alone() {
        let (lin, grads) = linear_grads([0.1, 0.2, 0.0]);
        let before = grad_values(&lin, &grads);
        let norm = global_grad_norm(&grads, &lin);
        let after = grad_values(&lin, &clip_global_norm(grads, &lin, norm, 100.0));
        for (a, b) in before.iter().zip(&after) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    struct ZeroAll;
    impl<Bk: Backend> ModuleMapper<Bk> for ZeroAll {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<Bk, D>>) -> Param<Tensor<Bk, D>> {
            let (id, t, mapper) = param.consume();
            Param::from_mapped_value(id, t.zeros_like(), mapper)
        }
    }
}
