//! One optimisation step of a predictor training, and burn's autodiff
//! implementation of it (the MLP on every backend, the NAR-Former on CUDA;
//! [`super::native_train`] is the NAR-Former's on a CPU backend). The
//! training loop (`train`) draws the batch and owns the schedule, logs and
//! checkpoints; a [`TrainStep`] owns the weights, their moving average and
//! the optimizer's state.

use std::path::Path;

use anyhow::{Result, bail};
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamW, AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};

use super::Predictor;
use super::checkpoint;
use super::dataset::EncodedSet;
use super::loss::{LossIndices, LossWeights, loss};
use super::optim::{clip_global_norm, decay_weights, ema_update, global_grad_norm};
use super::scorer::predict;
use super::train_config::TrainConfig;

/// One batch: `rows` of `set` (the originals, then their twins), their
/// labels, the SR permutation of all rows, each twin's original.
pub struct StepBatch<'a> {
    pub set: &'a EncodedSet,
    pub rows: &'a [usize],
    pub labels: &'a [f32],
    pub perm: &'a [usize],
    pub twin_src: &'a [usize],
    /// Rows before the twins.
    pub originals: usize,
    pub weights: LossWeights,
    /// Seeds the native path's dropout masks (burn's path draws from its
    /// backend's generator, seeded per epoch).
    pub dropout_seed: u64,
}

/// What a step reports.
pub struct StepOut {
    pub total: f64,
    pub mse: f64,
    pub sr: f64,
    pub ac: f64,
    /// The originals' scores, before the step.
    pub pred: Vec<f32>,
    /// The gradients' global L2 norm before any clipping.
    pub grad_norm: f64,
}

/// A training's weights and optimizer, stepped by the training loop.
pub trait TrainStep<B: AutodiffBackend> {
    /// Forward, loss, backward, clipping, AdamW, weight decay, moving average.
    fn step(&mut self, batch: &StepBatch<'_>, lr: f64) -> Result<StepOut>;
    /// Scores of `rows` of `set` by the trained weights and by their moving average.
    fn scores(&self, set: &EncodedSet, rows: &[usize]) -> (Vec<f32>, Vec<f32>);
    /// The trained weights (`ema`: their moving average) as burn's module.
    fn module(&self, ema: bool) -> Predictor<B::InnerBackend>;
    /// Writes the state into checkpoint directory `dir`.
    fn save(&self, dir: &Path) -> Result<()>;
}

/// burn's autodiff and optimizer.
pub struct BurnStep<B: AutodiffBackend> {
    model: Predictor<B>,
    ema: Predictor<B::InnerBackend>,
    optim: OptimizerAdaptor<AdamW, Predictor<B>, B>,
    cfg: TrainConfig,
    device: B::Device,
}

fn int_tensor<B: Backend>(v: &[usize], device: &B::Device) -> Tensor<B, 1, Int> {
    let v: Vec<i64> = v.iter().map(|&i| i as i64).collect();
    let n = v.len();
    Tensor::from_data(TensorData::new(v, [n]), device)
}

impl<B: AutodiffBackend> BurnStep<B> {
    /// A fresh training from `model`'s weights, or one resumed from
    /// checkpoint `resume` (into `model`'s shape).
    pub fn start(model: Predictor<B>, cfg: &TrainConfig, device: &B::Device, resume: Option<&Path>) -> Result<Self> {
        let mut step = Self::new(model, cfg, device);
        if let Some(dir) = resume {
            if dir.join("adam_m.mpk").exists() {
                bail!(
                    "checkpoint {} was written by the native CPU training (adam_m.mpk), which burn's path cannot \
                     continue: resume it on a CPU backend",
                    dir.display()
                );
            }
            step.model = checkpoint::load_module(step.model, dir, "model", device)?;
            step.ema = checkpoint::load_module(step.ema, dir, "ema", device)?;
            step.optim = step.optim.load_record(checkpoint::load_record::<B, _>(dir, device)?);
        }
        Ok(step)
    }

    /// Whether checkpoint directory `dir` was written by this path.
    pub fn wrote(dir: &Path) -> bool {
        dir.join("optim.mpk").exists()
    }

    /// Starts from `model`'s weights.
    pub fn new(model: Predictor<B>, cfg: &TrainConfig, device: &B::Device) -> Self {
        let optim = AdamWConfig::new().with_epsilon(cfg.eps as f32).with_weight_decay(0.0).init::<B, Predictor<B>>();
        Self { ema: model.valid(), model, optim, cfg: cfg.clone(), device: device.clone() }
    }
}

impl<B: AutodiffBackend> TrainStep<B> for BurnStep<B> {
    fn step(&mut self, b: &StepBatch<'_>, lr: f64) -> Result<StepOut> {
        let device = &self.device;
        let batch = b.set.batch::<B>(b.rows, device);
        let label = Tensor::from_data(TensorData::new(b.labels.to_vec(), [b.rows.len()]), device);
        let pred = self.model.forward(&batch);
        let idx = LossIndices {
            perm: int_tensor(b.perm, device),
            twin_src: (!b.twin_src.is_empty()).then(|| int_tensor(b.twin_src, device)),
        };
        let l = loss(pred.clone(), label, idx, b.weights);
        let p = pred.narrow(0, 0, b.originals).into_data().to_vec::<f32>().expect("f32 predictions");
        let total: f64 = l.total.clone().into_scalar().elem();
        let mut grads = GradientsParams::from_grads(l.total.backward(), &self.model);
        let grad_norm = global_grad_norm(&grads, &self.model);
        if let Some(max_norm) = self.cfg.grad_clip_norm {
            grads = clip_global_norm(grads, &self.model, grad_norm, max_norm);
        }
        let model = self.optim.step(lr, self.model.clone(), grads);
        self.model =
            if self.cfg.weight_decay > 0.0 { decay_weights(model, 1.0 - lr * self.cfg.weight_decay) } else { model };
        self.ema = ema_update(self.ema.clone(), &self.model.valid(), self.cfg.ema_decay);
        Ok(StepOut { total, mse: l.mse, sr: l.sr, ac: l.ac, pred: p, grad_norm })
    }

    fn scores(&self, set: &EncodedSet, rows: &[usize]) -> (Vec<f32>, Vec<f32>) {
        (predict(&self.model.valid(), set, rows, &self.device), predict(&self.ema, set, rows, &self.device))
    }

    fn module(&self, ema: bool) -> Predictor<B::InnerBackend> {
        if ema { self.ema.clone() } else { self.model.valid() }
    }

    fn save(&self, dir: &Path) -> Result<()> {
        checkpoint::save_module(self.model.clone(), dir, "model")?;
        checkpoint::save_module(self.ema.clone(), dir, "ema")?;
        checkpoint::save_record::<B, _>(self.optim.to_record(), dir)
    }
}
