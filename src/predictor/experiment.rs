//! Predictor experiments on NAS-Bench-201 (the paper's Table 2): read a
//! config, split the benchmark, train, and measure the best weights on every
//! architecture. Owns the experiment config and the files a training writes
//! beside its checkpoints (`config.yaml`, `test_metrics.csv`) and the rows of
//! a results table.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::{Deserialize, Serialize};

use super::dataset::{self, EncodedSet};
use super::experiment_config::folder_of;
pub use super::experiment_config::{DataConfig, PredictorExperiment, SplitConfig};
use super::fit::{self, FitData};
use super::latency::{LatencyResultRow, LogScale, macs_fit, metrics as latency_metrics};
use super::metrics::{err_bound, kendall_tau, mape};
use super::scorer;
use super::{Predictor, checkpoint};
use crate::backend::{BackendTask, dispatch};
use crate::data::nb201;
use crate::graph::ArchGraph;
use crate::space::SpaceConfig;
use crate::space::nb201::Nb201Cell;

/// What an experiment measured: an accuracy predictor's test metrics, or a
/// latency predictor's rows beside its baselines.
pub enum Outcome {
    Accuracy(TestMetrics),
    Latency(Vec<LatencyResultRow>),
}

/// Test-set quality of a trained predictor.
#[derive(Clone, Debug, Serialize)]
pub struct TestMetrics {
    pub tau_all: f64,
    pub tau_rest: f64,
    pub mape: f64,
    #[serde(rename = "errbnd_0.1")]
    pub errbnd: f64,
    /// Kendall's tau over the training architectures: how closely the model
    /// fits what it was trained on (part of `tau_all`, not a test figure).
    pub tau_train: f64,
    pub archs_all: usize,
    pub archs_rest: usize,
    pub archs_train: usize,
}

/// Metrics of `pred` (scores of all architectures by index) against `label`;
/// "train" is the first `train` indices, "rest" leaves out the first `used`
/// (training and validation).
pub fn test_metrics(pred: &[f64], label: &[f64], train: usize, used: usize) -> TestMetrics {
    TestMetrics {
        tau_all: kendall_tau(pred, label),
        tau_rest: kendall_tau(&pred[used..], &label[used..]),
        mape: mape(pred, label),
        errbnd: err_bound(pred, label, 0.1),
        archs_all: pred.len(),
        archs_rest: pred.len() - used,
        tau_train: kendall_tau(&pred[..train], &label[..train]),
        archs_train: train,
    }
}

/// What the `predictor train` command was asked to do.
pub struct TrainRequest {
    pub config_path: PathBuf,
    pub overrides: Vec<String>,
    pub out_dir: Option<PathBuf>,
    pub results: Option<PathBuf>,
    pub restart: bool,
    pub quiet: bool,
    /// The command line, recorded with result rows.
    pub command: String,
}

/// The architectures and the label vector, encoded for `model`.
struct Prepared {
    /// The architectures' graphs, in the data's order.
    graphs: Vec<ArchGraph>,
    labels: Vec<f32>,
    set: EncodedSet,
    /// When the labels are latencies: what the baselines and metrics need.
    latency: Option<LatencyData>,
}

/// A latency CSV's networks, for metrics in milliseconds and the baselines.
struct LatencyData {
    ms: Vec<f64>,
    macs: Vec<f64>,
    scale: LogScale,
    csv: PathBuf,
    device: crate::latency::DeviceInfo,
    batch: usize,
    /// The look-up table's sum for each network, when `data.lut` is given.
    lut_ms: Option<Vec<f64>>,
    /// The space of the CSV's architectures.
    space: SpaceConfig,
}

fn prepare(cfg: &PredictorExperiment, config_dir: &Path) -> Result<Prepared> {
    if let Some(csv) = &cfg.data.latency_csv {
        return prepare_latency(cfg, &crate::config::join_tidy(config_dir, csv), config_dir);
    }
    let csv = cfg.data.nb201_csv.as_ref().map(|p| config_dir.join(p));
    let source = nb201::resolve(csv.as_deref(), "data.nb201_csv")?;
    let table = nb201::load(&source, &[cfg.data.label])?;
    let labels = table.accuracy[0].iter().map(|a| (a / 100.0) as f32).collect();
    let set = dataset::encode_cells(&table.cells, &cfg.model);
    let graphs = table.cells.iter().map(Nb201Cell::to_graph).collect();
    Ok(Prepared { graphs, labels, set, latency: None })
}

fn prepare_latency(cfg: &PredictorExperiment, path: &Path, config_dir: &Path) -> Result<Prepared> {
    let column = cfg.data.target.as_deref().unwrap_or("latency_ms");
    let table = crate::latency::LatencyTable::load(path, column).context("data.latency_csv")?;
    let (n, v) = (cfg.split.train_archs, cfg.split.val_archs);
    if n + v >= table.rows.len() {
        bail!(
            "split.train_archs + split.val_archs ({n} + {v}) must leave held-out networks: {} has {} networks",
            path.display(),
            table.rows.len()
        );
    }
    let space_cfg = match &cfg.data.space {
        Some(p) => SpaceConfig::load(p).context("data.space")?,
        None => SpaceConfig::Nb201(crate::space::nb201::Nb201SpaceConfig::benchmark()),
    };
    let space = space_cfg.build()?;
    let mut texts = Vec::with_capacity(table.rows.len());
    for (i, r) in table.rows.iter().enumerate() {
        if r.space != space.name() {
            bail!(
                "{} row {}: a network of the {} space, and data.space is {} (name the CSV's space file in data.space)",
                path.display(),
                i + 2,
                r.space,
                space.name()
            );
        }
        let text = space.check_text(&r.genotype).with_context(|| {
            format!("{} row {}: `{}` is not an architecture of data.space", path.display(), i + 2, r.genotype)
        })?;
        texts.push(text);
    }
    table.check_network(space.as_ref(), path).context("data.latency_csv (against data.space)")?;
    let ms: Vec<f64> = table.rows.iter().map(|r| r.latency_ms).collect();
    let scale = LogScale::fit(&ms[..n]);
    let labels = ms.iter().map(|&m| scale.to_label(m)).collect();
    let lut_ms = match &cfg.data.lut {
        Some(p) => {
            let lut = crate::latency::lut::Lut::load(&crate::config::join_tidy(config_dir, p)).context("data.lut")?;
            if let Some(why) = crate::latency::table::device_mismatch(&lut.device, &table.device()) {
                bail!("data.lut {}: {why} (the latency CSV's device)", lut.path.display());
            }
            // the table's units are of the space's network: the CSV must be of that network too
            let sums = texts
                .iter()
                .zip(&table.rows)
                .map(|(text, row)| {
                    let spec = crate::latency::signature::network(space.as_ref(), text)?;
                    if spec.cost().macs != row.macs {
                        bail!(
                            "data.lut: {} measured another network than data.space's: {} has {} MACs there, {} in the space's",
                            path.display(),
                            row.genotype,
                            row.macs,
                            spec.cost().macs
                        );
                    }
                    lut.latency(&spec)
                })
                .collect::<Result<Vec<f64>>>()?;
            Some(sums)
        }
        None => None,
    };
    let (graphs, set) = if space.name() == "nb201" {
        // NAS-Bench-201 cells keep their own encoding (the MLP's one-hot too)
        let cells: Vec<Nb201Cell> = texts.iter().map(|t| Ok(t.parse::<Nb201Cell>()?)).collect::<Result<_>>()?;
        (cells.iter().map(Nb201Cell::to_graph).collect(), dataset::encode_cells(&cells, &cfg.model))
    } else {
        let graphs: Vec<ArchGraph> = texts.iter().map(|t| space.graph_of(t)).collect::<Result<_>>()?;
        let set = dataset::encode_graphs(&graphs, &cfg.model)
            .with_context(|| format!("model: the {} space's architectures are graphs", space.name()))?;
        (graphs, set)
    };
    let latency = LatencyData {
        macs: table.rows.iter().map(|r| r.macs as f64).collect(),
        ms,
        scale,
        csv: path.to_path_buf(),
        device: table.device(),
        batch: table.rows[0].batch,
        lut_ms,
        space: space_cfg,
    };
    Ok(Prepared { graphs, labels, set, latency: Some(latency) })
}

fn out_dir_of(cfg: &PredictorExperiment, config_path: &Path, over: Option<&Path>) -> PathBuf {
    over.map(Path::to_path_buf).or_else(|| cfg.output_dir.clone()).unwrap_or_else(|| {
        let stem = config_path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
        PathBuf::from("runs/predictor").join(stem)
    })
}

/// Trains as `req` says, then evaluates the best weights on all architectures.
pub fn run_train(req: TrainRequest) -> Result<Outcome> {
    let cfg = PredictorExperiment::load(&req.config_path, &req.overrides)?;
    let out_dir = out_dir_of(&cfg, &req.config_path, req.out_dir.as_deref());
    if req.restart && out_dir.exists() {
        fs::remove_dir_all(&out_dir).with_context(|| format!("removing {}", out_dir.display()))?;
    }
    fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let frozen_path = out_dir.join("config.yaml");
    crate::config::freeze(
        &frozen_path,
        &serde_yaml::to_string(&cfg)?,
        false,
        |_| false,
        |changed| {
            anyhow::anyhow!(
                "{} holds a training with another config (see {}; changed keys: {}); pass --restart to discard it or --out to use another directory",
                out_dir.display(),
                frozen_path.display(),
                changed.join(", ")
            )
        },
    )?;
    let prepared = prepare(&cfg, folder_of(&req.config_path))?;
    dispatch(cfg.device, Experiment { cfg: &cfg, prepared, dir: &out_dir, train: Some(&req) })?
}

/// A predictor experiment on one backend: train (when `train` is set) into
/// `dir`, then measure the best weights there.
struct Experiment<'a> {
    cfg: &'a PredictorExperiment,
    prepared: Prepared,
    dir: &'a Path,
    train: Option<&'a TrainRequest>,
}

impl BackendTask for Experiment<'_> {
    type Output = Result<Outcome>;

    fn with_backend<B: AutodiffBackend>(self, device: B::Device) -> Result<Outcome> {
        let Self { cfg, mut prepared, dir, train } = self;
        let Some(req) = train else {
            let (model, _) = fit::load_best::<B::InnerBackend>(&cfg.model, dir, &device)?;
            if let Some(lat) = &prepared.latency {
                let seconds = checkpoint::CheckpointDir::new(dir).latest()?.map_or(0.0, |(_, s)| s.train_seconds);
                let command = format!("(evaluated) {}", dir.display());
                return Ok(Outcome::Latency(latency_rows(&model, &prepared, lat, cfg, seconds, &command, &device)));
            }
            return Ok(Outcome::Accuracy(evaluate(&model, &prepared, &cfg.split, &device)));
        };
        let (n, v) = (cfg.split.train_archs, cfg.split.val_archs);
        let data = FitData {
            train_rows: (0..n).collect(),
            train_graphs: prepared.graphs[..n].to_vec(),
            train_labels: prepared.labels[..n].to_vec(),
            val_rows: (n..n + v).collect(),
            val_labels: prepared.labels[n..n + v].to_vec(),
            set: &mut prepared.set,
        };
        let every = (cfg.train.epochs / 50).max(1);
        let (quiet, epochs) = (req.quiet, cfg.train.epochs);
        let outcome = fit::fit::<B>(&cfg.model, &cfg.train, data, dir, &device, |row| {
            if !quiet && (row.epoch % every == 0 || row.epoch == epochs || row.epoch == 1) {
                eprintln!(
                    "epoch {:>5}/{epochs}  loss {:.5}  lr {:.2e}  train tau {:.4}  val tau {:.4}  ema val tau {:.4}  {:.1}s",
                    row.epoch, row.loss, row.lr, row.train_tau, row.val_tau, row.ema_val_tau, row.seconds
                );
            }
        })?;
        if outcome.resumed_from > 0 && !quiet {
            eprintln!("resumed from the checkpoint after epoch {}", outcome.resumed_from);
        }
        let (model, best) = fit::load_best::<B::InnerBackend>(&cfg.model, dir, &device)?;
        if let Some(lat) = &prepared.latency {
            super::latency::LatencyLabels {
                scale: lat.scale,
                device: lat.device.clone(),
                latency_csv: lat.csv.display().to_string(),
                batch: lat.batch,
                target: cfg.data.target.clone().unwrap_or_else(|| "latency_ms".into()),
                space: Some(lat.space.clone()),
            }
            .save(dir)?;
            let rows = latency_rows(&model, &prepared, lat, cfg, outcome.state.train_seconds, &req.command, &device);
            if let Some(results) = &req.results {
                super::latency::upsert(results, &rows)?;
            }
            return Ok(Outcome::Latency(rows));
        }
        let metrics = evaluate(&model, &prepared, &cfg.split, &device);
        write_test_metrics(dir, &metrics, &best)?;
        if let Some(results) = &req.results {
            let row = ResultRow {
                model: cfg.model.name().to_string(),
                model_rev: super::MODEL_REVISION,
                train_archs: n,
                epochs: cfg.train.epochs,
                backend: cfg.device.backend_name().to_string(),
                tau_all: metrics.tau_all,
                tau_rest: metrics.tau_rest,
                mape: metrics.mape,
                errbnd: metrics.errbnd,
                train_seconds: outcome.state.train_seconds,
                train_dir: dir.display().to_string(),
                command: req.command.clone(),
            };
            upsert_result(results, &row)?;
        }
        Ok(Outcome::Accuracy(metrics))
    }
}

/// The learnt model's and the baselines' latency metrics on the held-out
/// networks, as result rows.
fn latency_rows<B: Backend>(
    model: &Predictor<B>,
    p: &Prepared,
    lat: &LatencyData,
    cfg: &PredictorExperiment,
    train_seconds: f64,
    command: &str,
    device: &B::Device,
) -> Vec<LatencyResultRow> {
    let (n, used) = (cfg.split.train_archs, cfg.split.train_archs + cfg.split.val_archs);
    let rest: Vec<usize> = (used..lat.ms.len()).collect();
    let truth = &lat.ms[used..];
    let row = |name: &str, rev: u32, pred: &[f64], epochs: usize, seconds: f64| {
        let m = latency_metrics(pred, truth);
        LatencyResultRow {
            model: name.to_string(),
            model_rev: rev,
            train_archs: n,
            test_archs: rest.len(),
            mape: m.mape,
            acc10: m.acc10,
            tau: m.tau,
            epochs,
            train_seconds: seconds,
            latency_csv: relative_to_here(&lat.csv),
            device_name: lat.device.describe(),
            command: command.to_string(),
        }
    };
    let pred: Vec<f64> = scorer::predict(model, &p.set, &rest, device).iter().map(|&s| lat.scale.to_ms(s)).collect();
    let mut rows = vec![row(cfg.model.name(), super::MODEL_REVISION, &pred, cfg.train.epochs, train_seconds)];
    let (a, b) = macs_fit(&lat.macs[..n], &lat.ms[..n]);
    let by_macs: Vec<f64> = lat.macs[used..].iter().map(|m| a * m + b).collect();
    rows.push(row("macs-fit", 0, &by_macs, 0, 0.0));
    if let Some(lut) = &lat.lut_ms {
        rows.push(row("lut", 0, &lut[used..], 0, 0.0));
    }
    rows
}

/// The latency table as `predictor train` prints it.
pub fn print_latency_table(rows: &[LatencyResultRow]) {
    println!("latency on {} held-out networks ({}):", rows[0].test_archs, rows[0].device_name);
    println!("{:<12} {:>8} {:>9} {:>7}", "model", "MAPE %", "ACC(10%)", "tau");
    for r in rows {
        println!("{:<12} {:>8.2} {:>9.2} {:>7.4}", r.model, r.mape, r.acc10, r.tau);
    }
}

fn evaluate<B: Backend>(model: &Predictor<B>, p: &Prepared, split: &SplitConfig, device: &B::Device) -> TestMetrics {
    let all: Vec<usize> = (0..p.set.count().min(p.labels.len())).collect();
    let pred: Vec<f64> = scorer::predict(model, &p.set, &all, device).iter().map(|&x| x as f64).collect();
    let label: Vec<f64> = p.labels.iter().map(|&x| x as f64).collect();
    test_metrics(&pred, &label, split.train_archs, split.train_archs + split.val_archs)
}

fn write_test_metrics(out_dir: &Path, m: &TestMetrics, best: &checkpoint::BestInfo) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "tau_all",
        "tau_rest",
        "mape",
        "errbnd_0.1",
        "tau_train",
        "archs_all",
        "archs_rest",
        "archs_train",
        "best_epoch",
        "best_source",
        "best_val_tau",
    ])?;
    w.write_record([
        m.tau_all.to_string(),
        m.tau_rest.to_string(),
        m.mape.to_string(),
        m.errbnd.to_string(),
        m.tau_train.to_string(),
        m.archs_all.to_string(),
        m.archs_rest.to_string(),
        m.archs_train.to_string(),
        best.epoch.to_string(),
        best.source.clone(),
        best.val_tau.to_string(),
    ])?;
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    crate::atomic_file::write_atomic(&out_dir.join("test_metrics.csv"), &bytes)
}

/// One row of `experiments/results/nb201_predictor.csv`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ResultRow {
    pub model: String,
    /// [`super::MODEL_REVISION`] of the binary that made the row.
    pub model_rev: u32,
    pub train_archs: usize,
    pub epochs: usize,
    pub backend: String,
    pub tau_all: f64,
    pub tau_rest: f64,
    pub mape: f64,
    #[serde(rename = "errbnd_0.1")]
    pub errbnd: f64,
    pub train_seconds: f64,
    /// The training directory: a row per directory (rerunning one replaces its row).
    pub train_dir: String,
    pub command: String,
}

/// Adds `row` to the results table, replacing the row of the same training
/// directory.
pub fn upsert_result(path: &Path, row: &ResultRow) -> Result<()> {
    let mut rows: Vec<ResultRow> = Vec::new();
    if path.exists() {
        let mut r = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
        for rec in r.deserialize() {
            rows.push(rec.with_context(|| format!("{} is malformed", path.display()))?);
        }
    }
    rows.retain(|r| r.train_dir != row.train_dir);
    rows.push(row.clone());
    rows.sort_by(|a, b| {
        (&a.backend, &a.model, a.train_archs, a.model_rev).cmp(&(&b.backend, &b.model, b.train_archs, b.model_rev))
    });
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in &rows {
        w.serialize(r)?;
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    crate::atomic_file::write_atomic(path, &w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)
}

/// `path` relative to the working directory when it lies below it (as result tables show paths).
fn relative_to_here(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|here| path.strip_prefix(here).ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| path.display().to_string())
}

/// Keys a config may change between training and evaluating: where the
/// training directory is and which device computes do not change what was trained.
const EVAL_MAY_DIFFER: [&str; 2] = ["device", "output_dir"];

/// Evaluates the best weights of the training directory `dir` as they were
/// trained: with the config frozen there. A `config_path` (with its
/// `overrides`) given as well must describe the same training; the keys it
/// changes are named.
pub fn run_eval(config_path: Option<&Path>, overrides: &[String], dir: &Path) -> Result<Outcome> {
    let frozen_path = dir.join("config.yaml");
    if !frozen_path.is_file() {
        bail!(
            "{} has no config.yaml: is it a predictor training directory (`predictor train --out DIR`)?",
            dir.display()
        );
    }
    let frozen = PredictorExperiment::load(&frozen_path, &[])?;
    let (cfg, config_dir) = match config_path {
        Some(path) => {
            let given = PredictorExperiment::load(path, overrides)?;
            let changed: Vec<String> =
                crate::config::changed_keys(&serde_yaml::to_value(&frozen)?, &serde_yaml::to_value(&given)?)
                    .into_iter()
                    .filter(|k| !EVAL_MAY_DIFFER.contains(&k.as_str()))
                    .collect();
            if !changed.is_empty() {
                bail!(
                    "{}{} describes another training than the one in {} (changed keys: {}); leave the config out to evaluate what was trained",
                    path.display(),
                    if overrides.is_empty() {
                        String::new()
                    } else {
                        format!(" with --set {}", overrides.join(" --set "))
                    },
                    dir.display(),
                    changed.join(", ")
                );
            }
            (PredictorExperiment { device: given.device, ..frozen }, folder_of(path).to_path_buf())
        }
        None => {
            anyhow::ensure!(overrides.is_empty(), "--set needs a config file to apply to");
            (frozen, PathBuf::from("."))
        }
    };
    let prepared = prepare(&cfg, &config_dir)?;
    dispatch(cfg.device, Experiment { cfg: &cfg, prepared, dir, train: None })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_metrics_split_training_from_the_rest() {
        // 10 architectures: the first 4 trained (ranked right), the next 2
        // validation, the last 4 ranked backwards.
        let label: Vec<f64> = (0..10).map(|i| 0.5 + i as f64 / 100.0).collect();
        let mut pred = label.clone();
        pred[6..].reverse();
        let m = test_metrics(&pred, &label, 4, 6);
        assert_eq!((m.archs_all, m.archs_train, m.archs_rest), (10, 4, 4));
        assert!((m.tau_train - 1.0).abs() < 1e-12, "{}", m.tau_train);
        assert!((m.tau_rest + 1.0).abs() < 1e-12, "{}", m.tau_rest);
        assert!(m.tau_all < 1.0 && m.tau_all > m.tau_rest);
    }
}
