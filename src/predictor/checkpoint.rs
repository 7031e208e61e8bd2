//! On-disk state of a predictor training: crash-safe checkpoints that a
//! training resumes from, and the best-by-validation weights.
//!
//! Layout of a training directory:
//! - `checkpoint/ckpt-<epochs>/` model, EMA model and optimizer records
//!   (burn's named MessagePack recorder) and `state.json`;
//!   `checkpoint/latest` names the newest complete one. A checkpoint directory
//!   is written and synced before `latest` is switched to it by an atomic
//!   rename, so a crash at any point leaves the previous one intact.
//! - `best-<epoch>/model.mpk` and `best.json` (switched the same way).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use super::Predictor;
use crate::atomic_file::{sync_files_in, write_atomic};

/// The recorder every file here is written with.
pub fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::new()
}

/// Progress of a training, saved with every checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    pub epochs_done: usize,
    pub steps_done: usize,
    pub best_val_tau: f64,
    pub best_epoch: usize,
    pub best_source: String,
    pub train_seconds: f64,
}

/// Which weights did best on validation, and where they are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BestInfo {
    /// The model kind (`nar-former`, `mlp`; absent in directories written
    /// before it was recorded).
    #[serde(default)]
    pub model: Option<String>,
    pub epoch: usize,
    /// `model` (the trained weights) or `ema` (their moving average).
    pub source: String,
    pub val_tau: f64,
    pub dir: String,
}

/// Saves a module to `dir/name.mpk`.
pub fn save_module<B: Backend, M: Module<B>>(module: M, dir: &Path, name: &str) -> Result<()> {
    let path = dir.join(name);
    module.save_file(&path, &recorder()).with_context(|| format!("saving {}.mpk", path.display()))
}

/// Loads `dir/name.mpk` into `module`. burn panics on a record of another
/// model kind ("Can't parse record from a different variant"); that is
/// turned into an error naming the file.
pub fn load_module<B: Backend, M: Module<B>>(module: M, dir: &Path, name: &str, device: &B::Device) -> Result<M> {
    let path = dir.join(name);
    let what = || format!("loading {}.mpk (corrupt or from another model config?)", path.display());
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let loaded =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| module.load_file(&path, &recorder(), device)));
    std::panic::set_hook(hook);
    match loaded {
        Ok(result) => result.with_context(what),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(anyhow::anyhow!("{msg}").context(what()))
        }
    }
}

/// Saves an optimizer record to `dir/optim.mpk`.
pub fn save_record<B: Backend, R: burn::record::Record<B>>(record: R, dir: &Path) -> Result<()> {
    Recorder::<B>::record(&recorder(), record, dir.join("optim")).context("saving optimizer state")?;
    Ok(())
}

/// Loads an optimizer record from `dir/optim.mpk`.
pub fn load_record<B: Backend, R: burn::record::Record<B>>(dir: &Path, device: &B::Device) -> Result<R> {
    Recorder::<B>::load(&recorder(), dir.join("optim"), device)
        .with_context(|| format!("loading {}/optim.mpk", dir.display()))
}

/// Checkpoints of one training directory.
pub struct CheckpointDir {
    root: PathBuf,
}

impl CheckpointDir {
    pub fn new(out_dir: &Path) -> Self {
        Self { root: out_dir.join("checkpoint") }
    }

    /// The newest complete checkpoint, if any.
    pub fn latest(&self) -> Result<Option<(PathBuf, TrainState)>> {
        let pointer = self.root.join("latest");
        if !pointer.exists() {
            return Ok(None);
        }
        let name = fs::read_to_string(&pointer).with_context(|| format!("reading {}", pointer.display()))?;
        let dir = self.root.join(name.trim());
        let state_path = dir.join("state.json");
        let text = fs::read_to_string(&state_path)
            .with_context(|| format!("checkpoint {} is incomplete: reading {}", dir.display(), state_path.display()))?;
        let state = serde_json::from_str(&text)
            .with_context(|| format!("checkpoint state {} is corrupt", state_path.display()))?;
        Ok(Some((dir, state)))
    }

    /// Creates an empty directory for the checkpoint after `epochs` epochs.
    pub fn begin(&self, epochs: usize) -> Result<PathBuf> {
        let dir = self.root.join(format!("ckpt-{epochs:06}"));
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    /// Writes the state, syncs the directory and makes it the latest; removes older ones.
    pub fn commit(&self, dir: &Path, state: &TrainState) -> Result<()> {
        fs::write(dir.join("state.json"), serde_json::to_vec_pretty(state)?)?;
        let name = dir.file_name().expect("checkpoint dir has a name").to_string_lossy().to_string();
        publish(dir, &self.root.join("latest"), name.as_bytes(), |_| true)
    }
}

/// Makes the finished directory `dir` the current one: syncs its files,
/// atomically writes `pointer` (whose content names it), then removes the
/// other directories beside it that `is_old` selects. A crash at any point
/// leaves the pointer naming a complete directory.
fn publish(dir: &Path, pointer: &Path, content: &[u8], is_old: impl Fn(&str) -> bool) -> Result<()> {
    sync_files_in(dir)?;
    write_atomic(pointer, content)?;
    let parent = dir.parent().unwrap_or(Path::new("."));
    for entry in fs::read_dir(parent)? {
        let p = entry?.path();
        let name = p.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default();
        if p.is_dir() && p != dir && is_old(&name) {
            let _ = fs::remove_dir_all(&p);
        }
    }
    Ok(())
}

/// Saves `model` as the best weights of the training in `out_dir`.
pub fn save_best<B: Backend>(
    model: Predictor<B>,
    out_dir: &Path,
    info_epoch: usize,
    source: &str,
    tau: f64,
) -> Result<()> {
    let name = format!("best-{info_epoch:06}");
    let dir = out_dir.join(&name);
    fs::create_dir_all(&dir)?;
    let kind = model.name().to_string();
    save_module(model, &dir, "model")?;
    let info = BestInfo { model: Some(kind), epoch: info_epoch, source: source.to_string(), val_tau: tau, dir: name };
    publish(&dir, &out_dir.join("best.json"), &serde_json::to_vec_pretty(&info)?, |n| n.starts_with("best-"))
}

/// Reads `best.json` of a training directory.
pub fn read_best(out_dir: &Path) -> Result<BestInfo> {
    let path = out_dir.join("best.json");
    let text = fs::read_to_string(&path).with_context(|| {
        format!("{} not found: is {} a finished predictor training?", path.display(), out_dir.display())
    })?;
    serde_json::from_str(&text).with_context(|| format!("{} is corrupt", path.display()))
}

/// Loads the best weights of the training in `out_dir` into `model`.
pub fn load_best<B: Backend>(
    model: Predictor<B>,
    out_dir: &Path,
    device: &B::Device,
) -> Result<(Predictor<B>, BestInfo)> {
    let info = read_best(out_dir)?;
    if let Some(kind) = &info.model
        && kind != model.name()
    {
        anyhow::bail!(
            "{} holds the best weights of a {kind} model, but the config asks for a {} model",
            out_dir.display(),
            model.name()
        );
    }
    let model = load_module(model, &out_dir.join(&info.dir), "model", device)?;
    Ok((model, info))
}
