//! The predictor training loop: batches of architectures with their augmented
//! twins, AdamW with warm-up and linear decay (a [`TrainStep`]: native on a
//! CPU backend for the NAR-Former, else burn's autodiff), EMA weights, validation
//! Kendall's tau after every epoch, best-by-validation weights, and a
//! checkpoint after every epoch that an interrupted training resumes from.
//!
//! Every random choice of epoch e (shuffle, twins, SR permutation, dropout)
//! is drawn from generators seeded by (seed, e), so a resumed training makes
//! the same choices as an uninterrupted one.

use std::fs;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::tensor::backend::AutodiffBackend;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

use super::checkpoint::{self, CheckpointDir, TrainState};
use super::dataset::EncodedSet;
use super::loss::LossWeights;
use super::metrics::kendall_tau;
use super::native_train::NativeStep;
use super::optim::lr_at;
use super::step::{BurnStep, StepBatch, TrainStep};
pub use super::train_config::TrainConfig;
use super::{ModelConfig, Predictor};
use crate::backend::native_predictor;

/// The architectures to train and validate on, as rows of one encoded set.
pub struct TrainData<'a> {
    pub set: &'a EncodedSet,
    pub train_rows: Vec<usize>,
    pub train_labels: Vec<f32>,
    /// Per training architecture, the set rows of its augmented twins.
    pub twins: Vec<Vec<usize>>,
    pub val_rows: Vec<usize>,
    pub val_labels: Vec<f32>,
}

/// One row of `train_log.csv`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub loss: f64,
    pub mse: f64,
    pub sr: f64,
    pub ac: f64,
    pub lr: f64,
    /// Mean over the epoch's steps of the gradients' global L2 norm, before
    /// any clipping (empty in logs written before this column existed).
    #[serde(default = "nan")]
    pub grad_norm: f64,
    pub train_tau: f64,
    pub val_tau: f64,
    pub ema_val_tau: f64,
    pub seconds: f64,
}

/// What a finished training leaves.
pub struct TrainOutcome {
    pub state: TrainState,
    pub resumed_from: usize,
}

fn nan() -> f64 {
    f64::NAN
}

fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (epoch as u64).wrapping_mul(0xD1B5_4A32_D192_ED03) ^ 0x5EED
}

fn tau(pred: &[f32], label: &[f32]) -> f64 {
    let p: Vec<f64> = pred.iter().map(|&v| v as f64).collect();
    let y: Vec<f64> = label.iter().map(|&v| v as f64).collect();
    kendall_tau(&p, &y)
}

/// Which implementation of a step a training uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The native step for a NAR-Former on a CPU backend, else burn's (and
    /// burn's for a training resumed from a checkpoint burn's path wrote).
    Auto,
    /// burn's autodiff (the reference the native step is tested against).
    Burn,
    /// The native CPU step (NAR-Former only).
    Native,
}

/// Trains a predictor into `out_dir`, resuming from its latest checkpoint
/// when there is one. `on_epoch` sees every finished epoch.
pub fn train<B: AutodiffBackend>(
    model_cfg: &ModelConfig,
    cfg: &TrainConfig,
    data: &TrainData<'_>,
    out_dir: &Path,
    device: &B::Device,
    on_epoch: impl FnMut(&EpochLog),
) -> Result<TrainOutcome> {
    train_with::<B>(Engine::Auto, None, model_cfg, cfg, data, out_dir, device, on_epoch)
}

/// [`train`] with the step's implementation chosen, and the initial
/// weights when not `model_cfg`'s seeded draw (a resumed training reads its
/// checkpoint's either way).
#[allow(clippy::too_many_arguments)]
pub fn train_with<B: AutodiffBackend>(
    engine: Engine,
    initial: Option<Predictor<B>>,
    model_cfg: &ModelConfig,
    cfg: &TrainConfig,
    data: &TrainData<'_>,
    out_dir: &Path,
    device: &B::Device,
    mut on_epoch: impl FnMut(&EpochLog),
) -> Result<TrainOutcome> {
    fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let ckpts = CheckpointDir::new(out_dir);
    B::seed(device, epoch_seed(cfg.seed, usize::MAX));
    let latest = ckpts.latest()?;
    let mut state = match &latest {
        Some((_, saved)) => saved.clone(),
        None => TrainState { best_val_tau: f64::NEG_INFINITY, ..Default::default() },
    };
    let native = match engine {
        // A training that burn's path checkpointed (a build from before
        // native training) goes on with burn's path: its optimizer state
        // is burn's record.
        Engine::Auto => {
            matches!(model_cfg, ModelConfig::NarFormer { .. })
                && native_predictor::<B>()
                && !latest.as_ref().is_some_and(|(dir, _)| BurnStep::<B>::wrote(dir))
        }
        Engine::Burn => false,
        Engine::Native => true,
    };
    anyhow::ensure!(!native || native_predictor::<B>(), "the native training step runs on a CPU backend only");
    let model = initial.unwrap_or_else(|| model_cfg.init(device));
    let mut stepper: Box<dyn TrainStep<B>> = if native {
        let resume = latest.as_ref().map(|(dir, s)| (dir.as_path(), s.steps_done));
        Box::new(NativeStep::<B>::start(model, model_cfg, cfg, device, resume)?)
    } else {
        Box::new(BurnStep::<B>::start(model, cfg, device, latest.as_ref().map(|(dir, _)| dir.as_path()))?)
    };
    let resumed_from = state.epochs_done;
    let log_path = out_dir.join("train_log.csv");
    let mut log = open_log(&log_path, state.epochs_done)?;

    let n = data.train_rows.len();
    let steps_per_epoch = n.div_ceil(cfg.batch_size);
    let total_steps = steps_per_epoch * cfg.epochs;
    let weights = LossWeights { sr: cfg.lambda_sr, ac: cfg.lambda_ac };

    for epoch in state.epochs_done..cfg.epochs {
        let started = Instant::now();
        let seed = epoch_seed(cfg.seed, epoch);
        B::seed(device, seed);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng);
        let (mut sums, mut batches, mut grad_norm_sum) = ([0f64; 4], 0usize, 0f64);
        let mut train_pred = vec![0f32; n];
        let mut lr = 0.0;
        for chunk in order.chunks(cfg.batch_size) {
            let mut rows: Vec<usize> = chunk.iter().map(|&i| data.train_rows[i]).collect();
            let mut labels: Vec<f32> = chunk.iter().map(|&i| data.train_labels[i]).collect();
            let mut twin_src = Vec::new();
            for (pos, &i) in chunk.iter().enumerate() {
                let twins = &data.twins[i];
                if !twins.is_empty() {
                    rows.push(twins[rng.random_range(0..twins.len())]);
                    labels.push(data.train_labels[i]);
                    twin_src.push(pos);
                }
            }
            let mut perm: Vec<usize> = (0..rows.len()).collect();
            perm.shuffle(&mut rng);
            // Not drawn from `rng`: its stream (shuffle, twins, permutations)
            // stays what it was before native training existed.
            let dropout_seed = epoch_seed(seed, batches);
            lr = lr_at(state.steps_done, total_steps, cfg.lr, cfg.warmup_fraction);
            let batch = StepBatch {
                set: data.set,
                rows: &rows,
                labels: &labels,
                perm: &perm,
                twin_src: &twin_src,
                originals: chunk.len(),
                weights,
                dropout_seed,
            };
            let out = stepper.step(&batch, lr)?;
            for (k, &i) in chunk.iter().enumerate() {
                train_pred[i] = out.pred[k];
            }
            anyhow::ensure!(out.total.is_finite(), "training diverged at epoch {epoch}: loss is {}", out.total);
            for (s, v) in sums.iter_mut().zip([out.total, out.mse, out.sr, out.ac]) {
                *s += v;
            }
            batches += 1;
            grad_norm_sum += out.grad_norm;
            state.steps_done += 1;
        }

        let (val_pred, ema_pred) = stepper.scores(data.set, &data.val_rows);
        let (val_tau, ema_val_tau) = (tau(&val_pred, &data.val_labels), tau(&ema_pred, &data.val_labels));
        let (best_tau, source) = if ema_val_tau >= val_tau { (ema_val_tau, "ema") } else { (val_tau, "model") };
        // Tau is undefined (NaN) when the labels or the scores are all tied:
        // count it as the worst (-1), so a training always has best weights.
        let best_tau = if best_tau.is_nan() { -1.0 } else { best_tau };
        if best_tau > state.best_val_tau {
            checkpoint::save_best(stepper.module(source == "ema"), out_dir, epoch + 1, source, best_tau)?;
            state.best_val_tau = best_tau;
            state.best_epoch = epoch + 1;
            state.best_source = source.to_string();
        }
        let seconds = started.elapsed().as_secs_f64();
        state.train_seconds += seconds;
        state.epochs_done = epoch + 1;
        let b = batches.max(1) as f64;
        let row = EpochLog {
            epoch: epoch + 1,
            loss: sums[0] / b,
            mse: sums[1] / b,
            sr: sums[2] / b,
            ac: sums[3] / b,
            lr,
            grad_norm: grad_norm_sum / b,
            train_tau: tau(&train_pred, &data.train_labels),
            val_tau,
            ema_val_tau,
            seconds,
        };
        log.serialize(&row)?;
        log.flush()?;
        if state.epochs_done.is_multiple_of(cfg.checkpoint_every) || state.epochs_done == cfg.epochs {
            let writing = Instant::now();
            let dir = ckpts.begin(state.epochs_done)?;
            stepper.save(&dir)?;
            ckpts.commit(&dir, &state)?;
            // The training's cost includes its checkpoints (counted from the
            // next one on; a resume loses only the last write's seconds).
            state.train_seconds += writing.elapsed().as_secs_f64();
        }
        on_epoch(&row);
    }
    Ok(TrainOutcome { state, resumed_from })
}

/// Opens `train_log.csv` for appending, keeping only the rows of epochs a
/// checkpoint covers (a crash may have logged an epoch it did not save).
fn open_log(path: &Path, epochs_done: usize) -> Result<csv::Writer<fs::File>> {
    let mut kept = Vec::new();
    if epochs_done > 0 && path.exists() {
        let mut r = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
        for row in r.deserialize::<EpochLog>() {
            let row = row.with_context(|| format!("{} is corrupt", path.display()))?;
            if row.epoch <= epochs_done {
                kept.push(row);
            }
        }
    }
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    w.write_record([
        "epoch",
        "loss",
        "mse",
        "sr",
        "ac",
        "lr",
        "grad_norm",
        "train_tau",
        "val_tau",
        "ema_val_tau",
        "seconds",
    ])?;
    for row in &kept {
        w.serialize(row)?;
    }
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    crate::atomic_file::write_atomic(path, &bytes)?;
    let file = fs::OpenOptions::new().append(true).open(path)?;
    Ok(csv::WriterBuilder::new().has_headers(false).from_writer(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resuming_a_log_written_before_grad_norm_keeps_its_rows() {
        let dir = std::env::temp_dir().join(format!("nas-search-old-log-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("train_log.csv");
        fs::write(
            &path,
            "epoch,loss,mse,sr,ac,lr,train_tau,val_tau,ema_val_tau,seconds\n\
             1,0.5,0.1,0.2,0.3,0.001,0.4,0.45,0.44,30.0\n\
             2,0.4,0.1,0.2,0.3,0.001,0.5,0.55,0.54,31.0\n",
        )
        .unwrap();
        drop(open_log(&path, 1).unwrap());
        let text = fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "epoch,loss,mse,sr,ac,lr,grad_norm,train_tau,val_tau,ema_val_tau,seconds");
        assert_eq!(lines[1], "1,0.5,0.1,0.2,0.3,0.001,NaN,0.4,0.45,0.44,30.0", "epoch 2 is past the checkpoint");
        assert_eq!(lines.len(), 2);
        fs::remove_dir_all(&dir).unwrap();
    }
}
