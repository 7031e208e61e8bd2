//! Native training of the NAR-Former on the CPU: one optimisation step
//! without burn's autodiff, the same numerics to float rounding.
//!
//! burn's autodiff on a CPU backend spends most of a step around the
//! products: a graph node, an allocation and a copy per element-wise op and
//! reshape, one small product per (architecture, head) in attention
//! (docs/speed.md). Here a batch is cut into chunks of [`CHUNK_ROWS`]
//! architectures; each chunk runs forward keeping what its backward needs
//! (`model`, `blocks`), the loss and its gradient are taken over the whole
//! batch (`loss`), and the chunks' backward passes add their gradients into
//! a fixed number of lanes, summed in order: a step's result does not depend
//! on the thread count. AdamW, weight decay, clipping and the moving average
//! are loops over flat arrays (`adamw`, `params`). Dropout masks come from
//! this module's own generator, seeded per step from the epoch's stream, so
//! a training stays deterministic per seed and resumes exactly.
//!
//! Checkpoints hold the weights, their moving average and the two Adam
//! moments as burn modules of the model (`model`, `ema`, `adam_m`, `adam_v`).

mod adamw;
mod blocks;
mod loss;
mod model;
pub(crate) mod ops;
pub(crate) mod params;

use std::path::Path;

use anyhow::{Result, bail};
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use rayon::prelude::*;

use super::checkpoint;
use super::dataset::EncodedSet;
use super::model::{NarFormer, NarFormerConfig};
use super::native::NativeNarFormer;
use super::step::{BurnStep, StepBatch, StepOut, TrainStep};
use super::train_config::TrainConfig;
use super::{ModelConfig, Predictor};
use model::{ChunkTape, NativeModel};
use ops::MaskRng;
use params::{Layout, flatten, unflatten};

/// Architectures per chunk of a batch.
pub const CHUNK_ROWS: usize = 32;
/// Gradient buffers the chunks' backward passes are spread over.
const LANES: usize = 4;

/// A NAR-Former training's state: weights, moving average, Adam moments.
pub struct NativeStep<B: AutodiffBackend> {
    template: NarFormer<B::InnerBackend>,
    layout: Layout,
    model: NativeModel,
    params: Vec<f32>,
    ema: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    lanes: Vec<Vec<f32>>,
    /// Steps taken (Adam's time).
    steps: usize,
    cfg: TrainConfig,
}

impl<B: AutodiffBackend> NativeStep<B> {
    /// Starts from `model`'s weights (the moving average a copy of them).
    pub fn new(model: NarFormer<B::InnerBackend>, model_cfg: &NarFormerConfig, cfg: &TrainConfig) -> Self {
        let (layout, params) = flatten(&model);
        let native = NativeModel::new(&model, model_cfg, &layout);
        let zeros = vec![0f32; params.len()];
        Self {
            template: model,
            model: native,
            ema: params.clone(),
            m: zeros.clone(),
            v: zeros,
            lanes: Vec::new(),
            layout,
            params,
            steps: 0,
            cfg: cfg.clone(),
        }
    }

    /// A fresh training from `model`'s weights, or one resumed from
    /// checkpoint `resume` after `steps_done` steps.
    pub fn start(
        model: Predictor<B>,
        model_cfg: &ModelConfig,
        cfg: &TrainConfig,
        device: &B::Device,
        resume: Option<(&Path, usize)>,
    ) -> Result<Self> {
        let ModelConfig::NarFormer { transformer, .. } = model_cfg else {
            bail!("native training is for the NAR-Former model");
        };
        let Predictor::NarFormer(model) = model.valid() else {
            bail!("native training is for the NAR-Former model");
        };
        let mut step = Self::new(model, transformer, cfg);
        if let Some((dir, steps_done)) = resume {
            if !dir.join("adam_m.mpk").exists() && !BurnStep::<B>::wrote(dir) {
                bail!("checkpoint {} is incomplete: it has no adam_m.mpk", dir.display());
            }
            if !dir.join("adam_m.mpk").exists() {
                bail!(
                    "checkpoint {} was written by burn's autodiff training (it has no adam_m.mpk): the native step \
                     cannot continue it (an automatic choice continues it with burn's)",
                    dir.display()
                );
            }
            let load = |name: &str| -> Result<Vec<f32>> {
                let template = Predictor::NarFormer(step.template.clone());
                match checkpoint::load_module(template, dir, name, device)? {
                    Predictor::NarFormer(m) => Ok(flatten(&m).1),
                    Predictor::Mlp(_) => bail!("{}/{name}.mpk holds an MLP, not a NAR-Former", dir.display()),
                }
            };
            step.params = load("model")?;
            step.ema = load("ema")?;
            step.m = load("adam_m")?;
            step.v = load("adam_v")?;
            step.steps = steps_done;
        }
        Ok(step)
    }

    fn as_module(&self, values: &[f32]) -> Predictor<B::InnerBackend> {
        Predictor::NarFormer(unflatten(&self.template, &self.layout, values))
    }

    /// Forward of every chunk, the loss, backward into the lanes, and the
    /// summed gradient in `lanes[0]`. Returns the loss and the scores.
    fn gradients(&mut self, batch: &StepBatch<'_>) -> (loss::LossGrad, Vec<f32>) {
        let chunks: Vec<&[usize]> = batch.rows.chunks(CHUNK_ROWS).collect();
        let (model, params) = (&self.model, &self.params);
        let tapes: Vec<ChunkTape> = chunks
            .par_iter()
            .enumerate()
            .map(|(c, rows)| {
                let seed = batch.dropout_seed ^ (c as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                model.forward(params, batch.set.padded(rows), &mut MaskRng::new(seed))
            })
            .collect();
        let pred: Vec<f32> = tapes.iter().flat_map(|t| t.pred.iter().copied()).collect();
        let l = loss::loss(&pred, batch.labels, batch.perm, batch.twin_src, batch.weights);
        let lanes = LANES.min(chunks.len());
        self.lanes.resize_with(lanes, || vec![0f32; params.len()]);
        let dpred = &l.dpred;
        self.lanes.par_iter_mut().enumerate().for_each(|(lane, g)| {
            g.fill(0.0);
            for c in (lane..tapes.len()).step_by(lanes) {
                let at = c * CHUNK_ROWS;
                model.backward(params, g, &tapes[c], &dpred[at..at + tapes[c].pred.len()]);
            }
        });
        let (first, rest) = self.lanes.split_at_mut(1);
        adamw::add_in_order(&mut first[0], rest);
        (l, pred)
    }
}

impl<B: AutodiffBackend> TrainStep<B> for NativeStep<B> {
    fn step(&mut self, batch: &StepBatch<'_>, lr: f64) -> Result<StepOut> {
        let (l, pred) = self.gradients(batch);
        let grad = &mut self.lanes[0];
        let grad_norm = adamw::global_norm(grad);
        if let Some(max_norm) = self.cfg.grad_clip_norm {
            adamw::clip(grad, grad_norm, max_norm);
        }
        self.steps += 1;
        adamw::step(
            &mut self.params,
            grad,
            &mut self.m,
            &mut self.v,
            &self.layout.decays,
            self.steps,
            lr,
            self.cfg.weight_decay,
            self.cfg.eps,
        );
        adamw::ema_update(&mut self.ema, &self.params, self.cfg.ema_decay);
        Ok(StepOut {
            total: l.total,
            mse: l.mse,
            sr: l.sr,
            ac: l.ac,
            pred: pred[..batch.originals].to_vec(),
            grad_norm,
        })
    }

    fn scores(&self, set: &EncodedSet, rows: &[usize]) -> (Vec<f32>, Vec<f32>) {
        let score = |flat: &[f32]| NativeNarFormer::from_flat(&self.template, &self.layout, flat).predict(set, rows);
        (score(&self.params), score(&self.ema))
    }

    fn module(&self, ema: bool) -> Predictor<B::InnerBackend> {
        self.as_module(if ema { &self.ema } else { &self.params })
    }

    fn save(&self, dir: &Path) -> Result<()> {
        for (name, values) in [("model", &self.params), ("ema", &self.ema), ("adam_m", &self.m), ("adam_v", &self.v)] {
            checkpoint::save_module(self.as_module(values), dir, name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
