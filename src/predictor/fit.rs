//! The one way to fit a predictor and to load what it learnt, used by
//! `predictor train` / `predictor eval` (NAS-Bench-201 experiments) and by a
//! run's train and search stages alike.

use std::path::Path;

use anyhow::Result;
use burn::tensor::backend::{AutodiffBackend, Backend};

use super::checkpoint::{self, BestInfo};
use super::dataset::{EncodedSet, append_twins};
use super::train::{self, EpochLog, TrainConfig, TrainData, TrainOutcome};
use super::{ModelConfig, Predictor};
use crate::graph::ArchGraph;

/// Labelled architectures to fit on: rows of an encoded set, the graphs of
/// the training rows (for their augmented twins), and the labels in [0, 1].
pub struct FitData<'a> {
    /// Encodings; the training rows' twins are appended to it.
    pub set: &'a mut EncodedSet,
    pub train_rows: Vec<usize>,
    pub train_graphs: Vec<ArchGraph>,
    pub train_labels: Vec<f32>,
    /// Rows that choose the best weights (Kendall's tau after every epoch).
    pub val_rows: Vec<usize>,
    pub val_labels: Vec<f32>,
}

/// Trains `model` on `data` into `out_dir` (resuming from its checkpoint);
/// `on_epoch` sees every finished epoch.
pub fn fit<B: AutodiffBackend>(
    model: &ModelConfig,
    cfg: &TrainConfig,
    data: FitData<'_>,
    out_dir: &Path,
    device: &B::Device,
    on_epoch: impl FnMut(&EpochLog),
) -> Result<TrainOutcome> {
    let twins = append_twins(data.set, &data.train_graphs, model, cfg.augment_permutations);
    let rows = TrainData {
        set: data.set,
        train_rows: data.train_rows,
        train_labels: data.train_labels,
        twins,
        val_rows: data.val_rows,
        val_labels: data.val_labels,
    };
    train::train::<B>(model, cfg, &rows, out_dir, device, on_epoch)
}

/// The best weights of the training in `out_dir`, in a `model` predictor.
pub fn load_best<B: Backend>(
    model: &ModelConfig,
    out_dir: &Path,
    device: &B::Device,
) -> Result<(Predictor<B>, BestInfo)> {
    checkpoint::load_best(model.init(device), out_dir, device)
}
