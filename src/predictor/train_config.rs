//! The predictor's training settings (`train:` in a config file), with
//! their defaults and checks: read by the training loop (`train`) and by
//! both training steps (`step`, `native_train`), so it sits below them.

use serde::{Deserialize, Serialize};

/// Training hyper-parameters (`train:` in a config file; defaults: the paper's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub epochs: usize,
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    #[serde(default = "d_lr")]
    pub lr: f64,
    #[serde(default = "d_wd")]
    pub weight_decay: f64,
    #[serde(default = "d_eps")]
    pub eps: f64,
    #[serde(default = "d_warmup")]
    pub warmup_fraction: f64,
    #[serde(default = "d_ema")]
    pub ema_decay: f64,
    #[serde(default = "d_sr")]
    pub lambda_sr: f64,
    #[serde(default = "d_ac")]
    pub lambda_ac: f64,
    /// Augmentation: permutations tried per architecture (0 turns it off).
    #[serde(default = "d_perm")]
    pub augment_permutations: usize,
    #[serde(default)]
    pub seed: u64,
    /// Epochs between checkpoints (an interrupted training repeats at most
    /// this many); a run's small trainings spent about a third of their
    /// time writing one every epoch.
    #[serde(default = "d_every")]
    pub checkpoint_every: usize,
    /// Clip the global L2 norm of the gradients to this before each step
    /// (off by default: the paper does not clip). Tames the loss spikes of
    /// long runs at the CPU configs' high learning rate.
    #[serde(default)]
    pub grad_clip_norm: Option<f64>,
}

fn d_batch() -> usize {
    128
}
fn d_lr() -> f64 {
    1e-4
}
fn d_wd() -> f64 {
    0.01
}
fn d_eps() -> f64 {
    1e-8
}
fn d_warmup() -> f64 {
    0.1
}
fn d_ema() -> f64 {
    0.99
}
fn d_sr() -> f64 {
    0.1
}
fn d_ac() -> f64 {
    0.5
}
fn d_every() -> usize {
    1
}
fn d_perm() -> usize {
    crate::encode::augment::DEFAULT_PERMUTATIONS
}

impl TrainConfig {
    /// Checks the settings; `key` is where the section sits in the config (`train`).
    pub fn validate(&self, key: &str) -> Result<(), String> {
        for (name, value) in
            [("epochs", self.epochs), ("batch_size", self.batch_size), ("checkpoint_every", self.checkpoint_every)]
        {
            if value == 0 {
                return Err(format!("{key}.{name} must be positive, got 0"));
            }
        }
        if self.lr.is_nan() || self.lr <= 0.0 {
            return Err(format!("{key}.lr must be > 0, got {}", self.lr));
        }
        if !(0.0..=1.0).contains(&self.warmup_fraction) {
            return Err(format!("{key}.warmup_fraction must be in [0, 1], got {}", self.warmup_fraction));
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            return Err(format!("{key}.ema_decay must be in [0, 1), got {}", self.ema_decay));
        }
        for (name, value) in
            [("weight_decay", self.weight_decay), ("lambda_sr", self.lambda_sr), ("lambda_ac", self.lambda_ac)]
        {
            if value.is_nan() || value < 0.0 {
                return Err(format!("{key}.{name} must be >= 0, got {value}"));
            }
        }
        if self.eps.is_nan() || self.eps <= 0.0 {
            return Err(format!("{key}.eps must be > 0, got {}", self.eps));
        }
        if self.grad_clip_norm.is_some_and(|c| c.is_nan() || c <= 0.0) {
            return Err(format!("{key}.grad_clip_norm must be > 0 (leave it out to not clip)"));
        }
        Ok(())
    }
}
