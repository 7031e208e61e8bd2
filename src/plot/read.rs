//! Loading what the plots draw from run and predictor-training directories;
//! every error names the file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::report::SummaryRow;
use crate::run::config::RunConfig;
use crate::run::records::EvalRecord;
use crate::run::state::PickSource;

/// A run directory's records.
pub struct RunData {
    pub dir: PathBuf,
    pub cfg: RunConfig,
    pub evals: Vec<EvalRecord>,
    /// Absent until the run reports.
    pub summary: Option<SummaryRow>,
    pub topk: Vec<TopKRecord>,
    /// The strategy's name.
    pub method: String,
}

/// A row of `topk.csv`.
#[derive(Clone, Debug, Deserialize)]
pub struct TopKRecord {
    pub round: usize,
    #[serde(default)]
    pub arch_key: String,
    /// `evolution`, `local` or `front` (empty in files of older versions).
    #[serde(default)]
    pub source: PickSource,
    pub predicted: Option<f64>,
    pub accuracy: Option<f64>,
}

/// A row of `train_log.csv`.
#[derive(Clone, Debug, Deserialize)]
pub struct TrainLogRow {
    pub epoch: usize,
    pub loss: f64,
    pub mse: f64,
    pub sr: f64,
    pub ac: f64,
    pub train_tau: f64,
    pub val_tau: f64,
    pub ema_val_tau: f64,
}

/// Every row of a CSV file; a missing file or a malformed row is an error
/// naming the file and the line.
fn rows<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    let mut r = csv::Reader::from_path(path).with_context(|| format!("{}: cannot read it", path.display()))?;
    r.deserialize()
        .enumerate()
        .map(|(i, row)| row.with_context(|| format!("{}: line {} is malformed or truncated", path.display(), i + 2)))
        .collect()
}

pub fn run(dir: &Path) -> Result<RunData> {
    if !dir.join("checkpoint.json").is_file() {
        bail!("{} is not a run directory (it has no checkpoint.json)", dir.display());
    }
    let cfg = RunConfig::load(&dir.join("config.yaml"), &[])?;
    if !cfg.is_resolved() {
        bail!("{} was written by an earlier version: resume it once to bring it up to date", dir.display());
    }
    let evals_path = dir.join("evaluations.csv");
    if !evals_path.is_file() {
        bail!("{}: missing (the run has not evaluated anything yet)", evals_path.display());
    }
    // strict here: a plot must not draw a damaged record; a torn last line
    // (a row being written) is left out, as a resume does
    let evals: Vec<EvalRecord> = crate::run::run_dir::RunDir::read_evaluations(dir)?;
    let summary_path = dir.join("summary.csv");
    let summary = if summary_path.is_file() { rows::<SummaryRow>(&summary_path)?.into_iter().next() } else { None };
    let topk_path = dir.join("topk.csv");
    let topk = if topk_path.is_file() { rows(&topk_path)? } else { Vec::new() };
    let method = cfg.strategy.name().to_string();
    Ok(RunData { dir: dir.to_path_buf(), cfg, evals, summary, topk, method })
}

/// The last round's `train_log.csv` of a run, if a round trained.
pub fn last_train_log(dir: &Path) -> Result<Option<Vec<TrainLogRow>>> {
    let last = (0..).map(|r| dir.join(format!("predictor/round-{r}/train_log.csv"))).take_while(|p| p.is_file()).last();
    last.map(|p| train_log(&p)).transpose()
}

pub fn train_log(path: &Path) -> Result<Vec<TrainLogRow>> {
    rows(path)
}

/// Whether `dir` is a `predictor train` directory.
pub fn is_training_dir(dir: &Path) -> bool {
    !dir.join("checkpoint.json").exists() && dir.join("best.json").is_file() && dir.join("train_log.csv").is_file()
}

/// Whether the last round of the run in `dir` chose its predictor's weights
/// on held-out architectures: as `run.log` says of the round (a share too
/// small for a tau is trained on instead), else as the config asks.
pub fn run_held_out(dir: &Path, cfg: &RunConfig) -> bool {
    let said = std::fs::read_to_string(dir.join("run.log")).ok().and_then(|log| {
        let line = log.lines().rev().find(|l| l.contains("training the predictor on"))?;
        let held = line.rsplit_once('(')?.1.split_whitespace().next()?.parse::<usize>().ok()?;
        Some(held > 0)
    });
    said.unwrap_or_else(|| cfg.predictor.as_ref().is_none_or(|p| p.val_fraction > 0.0))
}

/// Whether a `predictor train` directory held out a validation set (`split.val_archs`).
pub fn training_held_out(dir: &Path) -> Result<bool> {
    use crate::predictor::experiment::PredictorExperiment;
    Ok(PredictorExperiment::load(&dir.join("config.yaml"), &[])?.split.val_archs > 0)
}

/// A training's predictions for all NAS-Bench-201 cells and their labels
/// (% , the training's label column), by architecture index.
pub fn all_cells_predicted(dir: &Path) -> Result<(Vec<f64>, Vec<f64>)> {
    use crate::predictor::experiment::PredictorExperiment;
    let cfg = PredictorExperiment::load(&dir.join("config.yaml"), &[])?;
    let source = crate::data::nb201::resolve(cfg.data.nb201_csv.as_deref(), "data.nb201_csv")?;
    let table = crate::data::nb201::load(&source, &[cfg.data.label])?;
    let cells: Vec<String> = table.cells.iter().map(|c| c.to_string()).collect();
    let pred = crate::inspect::predict_scores(dir, &cells)?;
    Ok((pred, table.accuracy[0].clone()))
}
