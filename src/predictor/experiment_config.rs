//! The predictor experiment config file (`nas-search predictor train
//! CONFIG`): where its data comes from, how the benchmark is split, the
//! model and its training, read with its checks. Below both the experiment
//! runner (`experiment`) and the latency predictor's loader (`latency`).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use super::ModelConfig;
use super::train_config::TrainConfig;
use crate::backend::DeviceKind;
use crate::data::nb201::Nb201Column;

/// Where the benchmark data comes from (`data:`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Another copy of the NAS-Bench-201 CSV, relative to the config file;
    /// when absent, `NAS_SEARCH_NB201_CSV`, then the table built into the binary.
    #[serde(default)]
    pub nb201_csv: Option<PathBuf>,
    /// The accuracy column the predictor learns and is measured on
    /// (`cifar10`: CIFAR-10 test accuracy after 200 epochs).
    #[serde(default)]
    pub label: Nb201Column,
    /// A latency measurement CSV (`nas-search latency measure` of any space):
    /// the predictor learns latency instead of accuracy, and `split:` splits
    /// the CSV's rows in file order (the measuring order is shuffled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_csv: Option<PathBuf>,
    /// The CSV column learned (default `latency_ms`, the median).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// A per-unit look-up table of the same device (`nas-search latency lut`),
    /// measured as a baseline on the same split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lut: Option<PathBuf>,
    /// The space file of the latency CSV's architectures (default: the
    /// NAS-Bench-201 benchmark's space).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space: Option<PathBuf>,
}

/// Train/validation split in architecture-index order (`split:`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitConfig {
    /// The first `train_archs` indices are the training set.
    pub train_archs: usize,
    /// The next `val_archs` indices are the validation set.
    #[serde(default = "d_val")]
    pub val_archs: usize,
}

fn d_val() -> usize {
    200
}

/// A predictor experiment config file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictorExperiment {
    #[serde(default)]
    pub data: DataConfig,
    pub split: SplitConfig,
    #[serde(default)]
    pub model: ModelConfig,
    pub train: TrainConfig,
    #[serde(default)]
    pub device: DeviceKind,
    /// Training directory (relative to the working directory).
    #[serde(default)]
    pub output_dir: Option<PathBuf>,
}

impl PredictorExperiment {
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let mut cfg: Self = crate::config::load_yaml(path, overrides)?;
        // the latency files resolved now, so a training directory's frozen copy finds them from anywhere
        let dir = std::path::absolute(folder_of(path))?;
        for p in [&mut cfg.data.latency_csv, &mut cfg.data.lut, &mut cfg.data.space].into_iter().flatten() {
            *p = crate::config::join_tidy(&dir, p);
        }
        let n = crate::space::nb201::SPACE_SIZE;
        if cfg.split.train_archs == 0 || cfg.split.train_archs + cfg.split.val_archs >= n {
            bail!(
                "{}: split.train_archs + split.val_archs must be in 1..{n}, got {} + {}",
                path.display(),
                cfg.split.train_archs,
                cfg.split.val_archs
            );
        }
        if cfg.data.latency_csv.is_none() {
            for (key, set) in [
                ("target", cfg.data.target.is_some()),
                ("lut", cfg.data.lut.is_some()),
                ("space", cfg.data.space.is_some()),
            ] {
                if set {
                    bail!(
                        "{}: data.{key} needs data.latency_csv (it is a setting of latency predictors)",
                        path.display()
                    );
                }
            }
        }
        cfg.model.validate("model").map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        cfg.train.validate("train").map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(cfg)
    }
}

/// The folder of a config file (relative paths in it resolve against it).
pub fn folder_of(config_path: &Path) -> &Path {
    config_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}
