//! A named training budget (`evaluator.budgets.proxy` / `.final` of a
//! `builtin` evaluator): optimiser, schedule, augmentation, data subset, and
//! overrides of the network's size that the space applies to its network.

use serde::{Deserialize, Serialize};

use crate::net::NetOverrides;

/// How one architecture is trained and measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainBudget {
    pub epochs: usize,
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    /// Initial learning rate; cosine-annealed to `lr_min` over the epochs.
    #[serde(default = "d_lr")]
    pub learning_rate: f64,
    #[serde(default)]
    pub lr_min: f64,
    #[serde(default = "d_momentum")]
    pub momentum: f64,
    #[serde(default)]
    pub nesterov: bool,
    #[serde(default = "d_wd")]
    pub weight_decay: f64,
    /// Gradient-norm clipping (none when absent).
    #[serde(default = "d_clip")]
    pub grad_clip: Option<f64>,
    #[serde(default)]
    pub label_smoothing: f64,
    /// Random-crop padding in pixels (0 = no crop).
    #[serde(default = "d_pad")]
    pub crop_padding: usize,
    #[serde(default = "d_true")]
    pub flip: bool,
    /// Cutout square side in pixels (0 = none).
    #[serde(default)]
    pub cutout: usize,
    /// Drop-path probability, raised linearly from 0 over the epochs (DARTS).
    #[serde(default)]
    pub drop_path: f64,
    /// Weight of the auxiliary head's loss (DARTS; 0 = no auxiliary head).
    #[serde(default)]
    pub auxiliary_weight: f64,
    /// Train on the first N training images only (all when absent).
    #[serde(default)]
    pub train_images: Option<usize>,
    /// Measure on the first N held-out images only (all when absent).
    #[serde(default)]
    pub eval_images: Option<usize>,
    /// Overrides of the space's network (see [`NetOverrides`]; a space refuses
    /// the ones its network does not have): initial channels (DARTS's C)...
    #[serde(default)]
    pub channels: Option<usize>,
    /// ...number of cells...
    #[serde(default)]
    pub cells: Option<usize>,
    /// ...width multiplier (MobileNetV3)...
    #[serde(default)]
    pub width_mult: Option<f64>,
    /// ...and image size, instead of the network's own (DARTS: the space's
    /// `network.input_size`; MobileNetV3: the architecture's resolution).
    #[serde(default)]
    pub resolution: Option<usize>,
}

fn d_batch() -> usize {
    96
}
fn d_lr() -> f64 {
    0.025
}
fn d_momentum() -> f64 {
    0.9
}
fn d_wd() -> f64 {
    3e-4
}
fn d_clip() -> Option<f64> {
    Some(5.0)
}
fn d_pad() -> usize {
    4
}
fn d_true() -> bool {
    true
}

impl TrainBudget {
    /// The defaults (as a config gets them) with `epochs` epochs.
    pub fn new(epochs: usize) -> Self {
        Self {
            epochs,
            batch_size: d_batch(),
            learning_rate: d_lr(),
            lr_min: 0.0,
            momentum: d_momentum(),
            nesterov: false,
            weight_decay: d_wd(),
            grad_clip: d_clip(),
            label_smoothing: 0.0,
            crop_padding: d_pad(),
            flip: true,
            cutout: 0,
            drop_path: 0.0,
            auxiliary_weight: 0.0,
            train_images: None,
            eval_images: None,
            channels: None,
            cells: None,
            width_mult: None,
            resolution: None,
        }
    }

    /// The network overrides this budget sets, for a network with `classes` outputs.
    pub fn overrides(&self, classes: usize) -> NetOverrides {
        NetOverrides {
            channels: self.channels,
            cells: self.cells,
            width_mult: self.width_mult,
            resolution: self.resolution,
            auxiliary_head: self.auxiliary_weight > 0.0,
            classes: Some(classes),
        }
    }

    /// Learning rate of `epoch` (cosine annealing, per epoch as DARTS).
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let t = epoch as f64 / self.epochs.max(1) as f64;
        self.lr_min + 0.5 * (self.learning_rate - self.lr_min) * (1.0 + (std::f64::consts::PI * t).cos())
    }

    /// Checks values a config can get wrong; names the key.
    pub fn check(&self, key: &str) -> anyhow::Result<()> {
        let bad = |field: &str, why: &str| anyhow::anyhow!("{key}.{field}: {why}");
        if self.epochs == 0 {
            return Err(bad("epochs", "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(bad("batch_size", "must be at least 1"));
        }
        if self.learning_rate.is_nan() || self.learning_rate <= 0.0 {
            return Err(bad("learning_rate", "must be positive"));
        }
        if !(0.0..1.0).contains(&self.drop_path) {
            return Err(bad("drop_path", "must be in [0, 1)"));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(bad("label_smoothing", "must be in [0, 1)"));
        }
        Ok(())
    }
}
