//! The training loop: SGD with momentum, cosine learning rate, weight
//! decay, gradient-norm clipping, cross-entropy (optionally label-smoothed,
//! plus the auxiliary head's loss), augmentation, then top-1 on the
//! held-out set. Deterministic for a seed on the CPU backend.

use std::time::Instant;

use burn::grad_clipping::GradientClippingConfig;
use burn::module::AutodiffModule;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::augment::{Augment, Normalize, batch};
use super::budget::TrainBudget;
use super::darts_net::DropPath;
use super::kernels::cross_entropy;
use super::network::Network;
use crate::data::{ImageData, ImageSet};
use crate::net::NetSpec;

/// What a finished training measured.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainReport {
    /// Top-1 on the held-out images (the signal), in %.
    pub accuracy: f64,
    /// Top-1 on the test set, in %, when asked for and the data has one.
    pub report_accuracy: Option<f64>,
    /// Mean training loss of the last epoch.
    pub final_loss: f64,
    pub seconds: f64,
    /// Training images processed per second.
    pub images_per_s: f64,
    pub params: u64,
    pub train_images: usize,
    pub eval_images: usize,
}

/// Why a training did not finish.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("training diverged: loss {loss} at epoch {epoch}, step {step}")]
    Diverged { epoch: usize, step: usize, loss: f64 },
    #[error("the network expects {expected}x{expected} images, the data has {found}x{found}")]
    InputSize { expected: usize, found: usize },
}

/// Called after every epoch with (epoch, mean loss).
pub type EpochHook<'a> = &'a mut dyn FnMut(usize, f64);

/// Images `idx` as a tensor.
fn images<B: Backend>(
    set: &ImageSet,
    idx: &[usize],
    norm: &Normalize,
    aug: Option<(&Augment, &mut StdRng)>,
    device: &B::Device,
) -> Tensor<B, 4> {
    let s = set.size;
    Tensor::from_data(TensorData::new(batch(set, idx, norm, aug), [idx.len(), 3, s, s]), device)
}

fn labels<B: Backend>(set: &ImageSet, idx: &[usize], device: &B::Device) -> Tensor<B, 1, Int> {
    let v: Vec<i64> = idx.iter().map(|&i| set.labels[i] as i64).collect();
    Tensor::from_data(TensorData::new(v, [idx.len()]), device)
}

/// The optimiser and loss of one training; [`Trainer::step`] is one SGD step.
pub struct Trainer<'a, B: AutodiffBackend> {
    pub budget: &'a TrainBudget,
    pub device: B::Device,
    optim: burn::optim::adaptor::OptimizerAdaptor<burn::optim::Sgd<B::InnerBackend>, Network<B>, B>,
    /// Label smoothing of the cross-entropy (0: none).
    smoothing: f32,
}

impl<'a, B: AutodiffBackend> Trainer<'a, B> {
    pub fn new(budget: &'a TrainBudget, device: B::Device) -> Self {
        let optim = SgdConfig::new()
            .with_momentum(Some(MomentumConfig {
                momentum: budget.momentum,
                dampening: 0.0,
                nesterov: budget.nesterov,
            }))
            .with_weight_decay((budget.weight_decay > 0.0).then(|| WeightDecayConfig::new(budget.weight_decay as f32)))
            .with_gradient_clipping(budget.grad_clip.map(|c| GradientClippingConfig::Norm(c as f32)))
            .init();
        Self { budget, device, optim, smoothing: budget.label_smoothing as f32 }
    }

    /// One step on a batch; returns the updated model and the batch loss.
    pub fn step(
        &mut self,
        model: Network<B>,
        x: Tensor<B, 4>,
        y: Tensor<B, 1, Int>,
        lr: f64,
        drop: Option<&DropPath>,
    ) -> (Network<B>, f64) {
        let with_aux = self.budget.auxiliary_weight > 0.0;
        let (logits, aux) = model.forward(x, drop, with_aux);
        let mut loss = cross_entropy(logits, y.clone(), self.smoothing);
        if let Some(aux) = aux {
            loss = loss + cross_entropy(aux, y, self.smoothing).mul_scalar(self.budget.auxiliary_weight);
        }
        let value: f64 = loss.clone().into_scalar().elem();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        (self.optim.step(lr, model, grads), value)
    }
}

/// Top-1 accuracy (%) of `model` on `set` (first `n` images).
pub fn accuracy<B: Backend>(
    model: &Network<B>,
    set: &ImageSet,
    n: usize,
    batch_size: usize,
    norm: &Normalize,
    device: &B::Device,
) -> f64 {
    let mut correct = 0usize;
    let all: Vec<usize> = (0..n).collect();
    for idx in all.chunks(batch_size.max(1)) {
        let (logits, _) = model.forward(images::<B>(set, idx, norm, None, device), None, false);
        let pred = logits.argmax(1).reshape([idx.len()]);
        let hits = pred.equal(labels::<B>(set, idx, device)).int().sum().into_scalar().elem::<i64>();
        correct += hits as usize;
    }
    100.0 * correct as f64 / n.max(1) as f64
}

/// Trains the network of `spec` on `data` with `budget` and measures it on
/// the held-out images and, with `report` and where the data has one, on
/// the test set (all of it: `eval_images` limits the held-out images only).
pub fn train_and_test<B: AutodiffBackend>(
    spec: &NetSpec,
    data: &ImageData,
    budget: &TrainBudget,
    seed: u64,
    report: bool,
    device: &B::Device,
    on_epoch: EpochHook,
) -> Result<TrainReport, TrainError> {
    if data.train.size != spec.input_size() {
        return Err(TrainError::InputSize { expected: spec.input_size(), found: data.train.size });
    }
    let start = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut model = Network::<B>::new(spec, &mut rng, device);
    let mut drop = DropPath::new(0.0, seed ^ 0x5eed);
    let train = &data.train;
    let n_train = budget.train_images.unwrap_or(train.len()).min(train.len());
    let n_eval = budget.eval_images.unwrap_or(data.held_out.len()).min(data.held_out.len());
    let (mean, std) = train.take(n_train).channel_stats();
    let norm = Normalize { mean, std };
    let aug = Augment { crop_padding: budget.crop_padding, flip: budget.flip, cutout: budget.cutout };
    let mut trainer = Trainer::<B>::new(budget, device.clone());
    let mut order: Vec<usize> = (0..n_train).collect();
    let mut final_loss = f64::NAN;
    for epoch in 0..budget.epochs {
        let lr = budget.lr_at(epoch);
        drop.p = budget.drop_path * epoch as f64 / budget.epochs as f64;
        order.shuffle(&mut rng);
        let (mut sum, mut count) = (0.0, 0usize);
        for (step, idx) in order.chunks(budget.batch_size).enumerate() {
            if idx.len() < 2 {
                continue; // BatchNorm needs two samples
            }
            let x = images::<B>(train, idx, &norm, Some((&aug, &mut rng)), device);
            let y = labels::<B>(train, idx, device);
            let (m, loss) = trainer.step(model, x, y, lr, Some(&drop));
            model = m;
            if !loss.is_finite() {
                return Err(TrainError::Diverged { epoch, step, loss });
            }
            sum += loss * idx.len() as f64;
            count += idx.len();
        }
        final_loss = sum / count.max(1) as f64;
        on_epoch(epoch, final_loss);
    }
    let train_seconds = start.elapsed().as_secs_f64();
    let model = model.valid();
    let acc = accuracy(&model, &data.held_out, n_eval, 256, &norm, device);
    let report_accuracy = match &data.report {
        Some(test) if report => Some(accuracy(&model, test, test.len(), 256, &norm, device)),
        _ => None,
    };
    Ok(TrainReport {
        accuracy: acc,
        report_accuracy,
        final_loss,
        seconds: start.elapsed().as_secs_f64(),
        images_per_s: (n_train * budget.epochs) as f64 / train_seconds.max(1e-9),
        params: spec.cost().params,
        train_images: n_train,
        eval_images: n_eval,
    })
}
