//! Predicting latency (the paper's Table 6): the label transform that puts
//! milliseconds into the models' (0, 1) score, the metrics (MAPE and
//! ACC(10%), the share of networks predicted within 10%, beside Kendall's
//! tau), the baselines measured on the same split (a MACs-only linear fit,
//! the per-unit look-up table), and the rows of the results table.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::metrics::{err_bound, kendall_tau, mape};
use super::{ModelConfig, Predictor};
use crate::backend::Cpu;
use crate::latency::DeviceInfo;
use crate::latency::source::LatencyModel;
use crate::space::nb201::Nb201Cell;
use crate::space::{AnySpace, SpaceConfig};

/// File in a training directory that holds the label transform and the
/// device the training data was measured on.
pub const LABELS_FILE: &str = "latency_labels.json";

/// How a latency predictor's labels were made: read back to turn its
/// scores into milliseconds, and to say which device they are of.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyLabels {
    pub scale: LogScale,
    pub device: DeviceInfo,
    /// The measurement CSV the predictor learnt from.
    pub latency_csv: String,
    /// Its batch size and the column learnt (`latency_ms`: the median).
    #[serde(default = "one")]
    pub batch: usize,
    #[serde(default = "median")]
    pub target: String,
    /// The space it learnt (absent in directories written before other
    /// spaces could be learnt: NAS-Bench-201's benchmark space).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space: Option<SpaceConfig>,
}

impl LatencyLabels {
    /// The space it learnt.
    pub fn space(&self) -> SpaceConfig {
        self.space.clone().unwrap_or_else(|| SpaceConfig::Nb201(crate::space::nb201::Nb201SpaceConfig::benchmark()))
    }
}

fn one() -> usize {
    1
}
fn median() -> String {
    "latency_ms".into()
}

impl LatencyLabels {
    pub fn save(&self, dir: &Path) -> Result<()> {
        crate::atomic_file::write_atomic(&dir.join(LABELS_FILE), serde_json::to_string_pretty(self)?.as_bytes())
    }

    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(LABELS_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {}: is {} a latency predictor's training (data.latency_csv)?",
                path.display(),
                dir.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("{} is malformed", path.display()))
    }
}

/// A trained latency predictor, loaded from its training directory to
/// predict milliseconds for a run's search (`latency.predict: predictor`).
pub struct TrainedLatency {
    model: Predictor<Cpu>,
    model_cfg: ModelConfig,
    labels: LatencyLabels,
    space: Box<dyn AnySpace>,
    dir: PathBuf,
}

impl TrainedLatency {
    pub fn load(dir: &Path) -> Result<Self> {
        let cfg = super::experiment_config::PredictorExperiment::load(&dir.join("config.yaml"), &[])
            .with_context(|| format!("{} is not a predictor training directory", dir.display()))?;
        if cfg.data.latency_csv.is_none() {
            bail!(
                "{} holds an accuracy predictor (its config has no data.latency_csv), not a latency predictor",
                dir.display()
            );
        }
        let labels = LatencyLabels::load(dir)?;
        let (model, _) = super::fit::load_best::<Cpu>(&cfg.model, dir, &Default::default())?;
        let space = labels.space().build().with_context(|| format!("{}: the space it learnt", dir.display()))?;
        Ok(Self { model, model_cfg: cfg.model, labels, space, dir: dir.to_path_buf() })
    }
}

impl LatencyModel for TrainedLatency {
    fn predict(&self, genotypes: &[String]) -> Result<Vec<f64>> {
        let not_of_space = |g: &String| {
            format!(
                "latency predictor {}: `{g}` is not an architecture of the {} space (the space it learnt)",
                self.dir.display(),
                self.space.name()
            )
        };
        let set = if self.space.name() == "nb201" {
            let cells = genotypes
                .iter()
                .map(|g| g.parse::<Nb201Cell>().with_context(|| not_of_space(g)))
                .collect::<Result<Vec<_>>>()?;
            super::dataset::encode_cells(&cells, &self.model_cfg)
        } else {
            let graphs = genotypes
                .iter()
                .map(|g| self.space.graph_of(g).with_context(|| not_of_space(g)))
                .collect::<Result<Vec<_>>>()?;
            super::dataset::encode_graphs(&graphs, &self.model_cfg)?
        };
        let rows: Vec<usize> = (0..genotypes.len()).collect();
        let scores = super::scorer::predict(&self.model, &set, &rows, &Default::default());
        Ok(scores.iter().map(|&s| self.labels.scale.to_ms(s)).collect())
    }

    fn space(&self) -> String {
        self.space.name().to_string()
    }

    fn learnt(&self) -> &dyn AnySpace {
        self.space.as_ref()
    }

    fn describe(&self) -> String {
        format!("the latency predictor {}", self.dir.display())
    }

    fn device(&self) -> DeviceInfo {
        self.labels.device.clone()
    }

    fn batch(&self) -> usize {
        self.labels.batch
    }
}

/// Milliseconds to labels: the logarithm, mapped linearly so that the
/// training set's fastest network is 0.1 and its slowest 0.9 (room on both
/// sides for networks outside that range). Equal relative errors are equal
/// label errors, which is what MAPE counts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogScale {
    pub lo_ms: f64,
    pub hi_ms: f64,
}

impl LogScale {
    /// The transform of a training set's latencies.
    pub fn fit(train_ms: &[f64]) -> Self {
        let lo = train_ms.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = train_ms.iter().copied().fold(0.0, f64::max);
        // a training set of one latency still gets a range
        let hi = if hi > lo { hi } else { lo * 2.0 };
        Self { lo_ms: lo, hi_ms: hi }
    }

    pub fn to_label(&self, ms: f64) -> f32 {
        (0.1 + 0.8 * (ms.ln() - self.lo_ms.ln()) / (self.hi_ms.ln() - self.lo_ms.ln())) as f32
    }

    pub fn to_ms(&self, label: f32) -> f64 {
        let t = (label as f64 - 0.1) / 0.8;
        (self.lo_ms.ln() + t * (self.hi_ms.ln() - self.lo_ms.ln())).exp()
    }
}

/// Quality of latency predictions on held-out networks.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LatencyMetrics {
    /// Mean absolute percentage error, in percent.
    pub mape: f64,
    /// Networks predicted within 10% of their measured latency, in percent.
    pub acc10: f64,
    pub tau: f64,
    pub networks: usize,
}

/// Metrics of predicted against measured milliseconds.
pub fn metrics(pred_ms: &[f64], true_ms: &[f64]) -> LatencyMetrics {
    LatencyMetrics {
        mape: 100.0 * mape(pred_ms, true_ms),
        acc10: 100.0 * err_bound(pred_ms, true_ms, 0.1),
        tau: kendall_tau(pred_ms, true_ms),
        networks: pred_ms.len(),
    }
}

/// Least squares `latency = a * macs + b` on the training networks (the
/// paper's "FLOPs" row); returns (a, b).
pub fn macs_fit(macs: &[f64], ms: &[f64]) -> (f64, f64) {
    let n = macs.len() as f64;
    let (mx, my) = (macs.iter().sum::<f64>() / n, ms.iter().sum::<f64>() / n);
    let sxy: f64 = macs.iter().zip(ms).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = macs.iter().map(|x| (x - mx) * (x - mx)).sum();
    let a = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (a, my - a * mx)
}

/// One row of `experiments/results/latency_predictor.csv`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LatencyResultRow {
    /// `nar-former`, `mlp`, `macs-fit` or `lut`.
    pub model: String,
    /// [`super::MODEL_REVISION`] for the learnt models; 0 for the baselines.
    pub model_rev: u32,
    pub train_archs: usize,
    pub test_archs: usize,
    pub mape: f64,
    pub acc10: f64,
    pub tau: f64,
    /// Epochs of a learnt model (0 for the baselines).
    pub epochs: usize,
    pub train_seconds: f64,
    /// The measurement CSV and the device it was measured on.
    pub latency_csv: String,
    pub device_name: String,
    pub command: String,
}

/// Adds `rows` to the results table, replacing rows of the same model,
/// training size and measurement CSV.
pub fn upsert(path: &Path, new: &[LatencyResultRow]) -> Result<()> {
    let mut rows: Vec<LatencyResultRow> = Vec::new();
    if path.exists() {
        let mut r = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
        for rec in r.deserialize() {
            rows.push(rec.with_context(|| format!("{} is malformed", path.display()))?);
        }
    }
    let same = |a: &LatencyResultRow, b: &LatencyResultRow| {
        (&a.model, a.train_archs, &a.latency_csv) == (&b.model, b.train_archs, &b.latency_csv)
    };
    rows.retain(|r| !new.iter().any(|n| same(r, n)));
    rows.extend(new.iter().cloned());
    rows.sort_by(|a, b| (a.train_archs, &a.model).cmp(&(b.train_archs, &b.model)));
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in &rows {
        w.serialize(r)?;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    crate::atomic_file::write_atomic(path, &w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mape_and_acc10_on_a_hand_computed_example() {
        // errors: 5%, 10%, 20%, 0% -> MAPE 8.75%, within 10%: 3 of 4
        let truth = [2.0, 10.0, 5.0, 1.0];
        let pred = [2.1, 9.0, 6.0, 1.0];
        let m = metrics(&pred, &truth);
        assert!((m.mape - 8.75).abs() < 1e-9, "{}", m.mape);
        assert!((m.acc10 - 75.0).abs() < 1e-9, "{}", m.acc10);
        assert_eq!(m.networks, 4);
    }

    #[test]
    fn log_scale_round_trips_and_spans_the_training_range() {
        let s = LogScale::fit(&[2.0, 8.0, 4.0]);
        assert!((s.to_label(2.0) - 0.1).abs() < 1e-6 && (s.to_label(8.0) - 0.9).abs() < 1e-6);
        assert!((s.to_label(4.0) - 0.5).abs() < 1e-6, "the log of the middle is in the middle");
        for ms in [1.0, 3.3, 12.0] {
            assert!((s.to_ms(s.to_label(ms)) - ms).abs() / ms < 1e-5);
        }
    }

    #[test]
    fn macs_fit_recovers_a_line() {
        let macs = [1e6, 2e6, 4e6];
        let ms: Vec<f64> = macs.iter().map(|m| 3e-6 * m + 0.5).collect();
        let (a, b) = macs_fit(&macs, &ms);
        assert!((a - 3e-6).abs() < 1e-12 && (b - 0.5).abs() < 1e-9, "{a} {b}");
    }
}
