//! A run's latency (`latency:` in a run config): what the search sees for
//! an architecture it has not measured (a trained latency predictor, the
//! per-unit look-up table, or a measurement table), and how the
//! architectures it evaluates get their measured latency (looked up in the
//! measurement table, or timed on this machine after their evaluation).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::DeviceInfo;
use super::lut::Lut;
use super::measure::{TimingSettings, time_network, with_threads};
use super::signature::network;
use super::table::{LatencyTable, device_mismatch};
use crate::backend::DeviceKind;
use crate::space::AnySpace;

/// What the search sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Predict {
    /// A trained latency predictor (`predictor_dir`).
    Predictor,
    /// The per-unit look-up table (`lut`).
    Lut,
    /// The measurement table itself (`table`): every architecture the search
    /// may propose must be in it (NAS-Bench-201 measured whole).
    Table,
}

/// Where evaluated architectures' latency comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Measure {
    /// Looked up in `table` (for tabular runs: a table measured beforehand).
    Table,
    /// Timed on this machine (the run's `device`) after each evaluation.
    Device,
}

/// `latency:` of a run config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyConfig {
    pub predict: Predict,
    pub measure: Measure,
    /// A measurement CSV (`nas-search latency measure`; `.csv.gz` too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<PathBuf>,
    /// A look-up table (`nas-search latency lut`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lut: Option<PathBuf>,
    /// A latency predictor's training directory (`predictor train` with `data.latency_csv`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predictor_dir: Option<PathBuf>,
    /// How `measure: device` times a network.
    #[serde(default = "d_one")]
    pub batch: usize,
    #[serde(default = "d_one")]
    pub threads: usize,
    #[serde(default = "d_warmup")]
    pub warmup: usize,
    #[serde(default = "d_repeats")]
    pub repeats: usize,
}

fn d_one() -> usize {
    1
}
fn d_warmup() -> usize {
    3
}
fn d_repeats() -> usize {
    10
}

impl LatencyConfig {
    /// Checks that the files each choice needs are named.
    pub fn check(&self) -> Result<()> {
        let need = |what: &str, set: bool, why: &str| {
            if set { Ok(()) } else { Err(anyhow::anyhow!("latency.{what} is needed: {why}")) }
        };
        match self.predict {
            Predict::Predictor => need("predictor_dir", self.predictor_dir.is_some(), "latency.predict is predictor")?,
            Predict::Lut => need("lut", self.lut.is_some(), "latency.predict is lut")?,
            Predict::Table => need("table", self.table.is_some(), "latency.predict is table")?,
        }
        if self.measure == Measure::Table {
            need("table", self.table.is_some(), "latency.measure is table")?;
        }
        for (key, v) in [("batch", self.batch), ("threads", self.threads), ("repeats", self.repeats)] {
            if v == 0 {
                bail!("latency.{key} must be at least 1");
            }
        }
        Ok(())
    }

    /// Resolves the paths against the config file's folder.
    pub fn resolve_paths(&mut self, dir: &Path) {
        for p in [&mut self.table, &mut self.lut, &mut self.predictor_dir].into_iter().flatten() {
            *p = crate::config::join_tidy(dir, p);
        }
    }

    /// A fingerprint of the predictor directory's files (MD5, `v2:`
    /// first). The tables are not in it: a run keeps copies of them
    /// (`super::inputs`), so that a table that only gained rows is accepted.
    pub fn fingerprint(&self) -> Result<String> {
        Ok(format!("v2:{}", digest(&self.predictor_files()?)?))
    }

    /// The fingerprint runs started before `v2` recorded: every file this
    /// section reads, tables included.
    pub fn fingerprint_v1(&self) -> Result<String> {
        let mut files: Vec<PathBuf> = [&self.table, &self.lut].into_iter().flatten().cloned().collect();
        files.extend(self.predictor_files()?);
        digest(&files)
    }

    fn predictor_files(&self) -> Result<Vec<PathBuf>> {
        let Some(dir) = &self.predictor_dir else { return Ok(Vec::new()) };
        let mut inside: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("latency.predictor_dir: reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        inside.sort();
        Ok(inside)
    }

    /// How `measure: device` times, on `device`.
    pub fn timing(&self, device: DeviceKind) -> TimingSettings {
        TimingSettings { device, batch: self.batch, threads: self.threads, warmup: self.warmup, repeats: self.repeats }
    }
}

/// MD5 of the files' names and contents, in order.
fn digest(files: &[PathBuf]) -> Result<String> {
    let mut digest = md5::Context::new();
    for f in files {
        digest.consume(f.display().to_string().as_bytes());
        digest.consume(std::fs::read(f).with_context(|| format!("reading {}", f.display()))?);
    }
    Ok(format!("{:x}", digest.finalize()))
}

/// A latency predictor loaded from its training directory.
pub trait LatencyModel: Send + Sync {
    /// Predicted milliseconds of each genotype (text form).
    fn predict(&self, genotypes: &[String]) -> Result<Vec<f64>>;
    /// Where it comes from, for messages.
    fn describe(&self) -> String;
    /// The device its training data was measured on.
    fn device(&self) -> DeviceInfo;
    /// The batch size its training data was measured at.
    fn batch(&self) -> usize;
    /// The name of the space it learnt (`nb201`, `darts`, `mobilenetv3`).
    fn space(&self) -> String;
    /// The space it learnt, whose networks its latencies are of.
    fn learnt(&self) -> &dyn AnySpace;
}

/// The run's latency, ready to use.
pub struct LatencySource {
    cfg: LatencyConfig,
    table: Option<LatencyTable>,
    lut: Option<Lut>,
    model: Option<Box<dyn LatencyModel>>,
    timing: TimingSettings,
    /// Predicted latencies by genotype, as the search asks again and again.
    cache: Mutex<HashMap<String, f64>>,
    /// The first error [`LatencySource::for_search`] met.
    error: Mutex<Option<String>>,
}

impl LatencySource {
    /// Loads what `cfg` names; `load_model` loads a predictor directory.
    /// Warnings (a latency of another device than this run's) are returned.
    pub fn open(
        cfg: &LatencyConfig,
        space: &dyn AnySpace,
        device: DeviceKind,
        load_model: impl FnOnce(&Path) -> Result<Box<dyn LatencyModel>>,
    ) -> Result<(Self, Vec<String>)> {
        cfg.check()?;
        let table = match &cfg.table {
            Some(p) => {
                let t = LatencyTable::load(p, "latency_ms").context("latency.table")?;
                t.check_network(space, p).context("latency.table")?;
                Some(t)
            }
            None => None,
        };
        let lut = match &cfg.lut {
            Some(p) => Some(Lut::load(p).context("latency.lut")?),
            None => None,
        };
        let model = match (&cfg.predictor_dir, cfg.predict) {
            (Some(dir), Predict::Predictor) => Some(load_model(dir).context("latency.predictor_dir")?),
            _ => None,
        };
        let timing = cfg.timing(device);
        let here = DeviceInfo::here(device, cfg.threads);
        let mut warnings = Vec::new();
        let seen: Option<(String, DeviceInfo, usize)> = match cfg.predict {
            Predict::Predictor => model.as_ref().map(|m| (m.describe(), m.device(), m.batch())),
            Predict::Lut => {
                lut.as_ref().map(|l| (format!("look-up table {}", l.path.display()), l.device.clone(), l.batch))
            }
            Predict::Table => table.as_ref().map(|t| ("measurement table".to_string(), t.device(), t.rows[0].batch)),
        };
        // the batch the evaluated architectures are measured at
        let measured_batch = match (cfg.measure, &table) {
            (Measure::Table, Some(t)) => t.rows[0].batch,
            _ => cfg.batch,
        };
        if let Some((what, _, batch)) = &seen
            && *batch != measured_batch
        {
            warnings.push(format!(
                "the search's latency ({what}) is of batch {batch}, measured latencies of batch {measured_batch}: the constraint is judged on another batch than the search bounded"
            ));
        }
        if let Some((what, d, _)) = &seen {
            if cfg.measure == Measure::Device
                && let Some(why) = device_mismatch(d, &here)
            {
                warnings.push(format!("the search's latency ({what}) was {why}: its predictions may not hold here"));
            }
            if cfg.measure == Measure::Table
                && let Some(t) = &table
                && let Some(why) = device_mismatch(d, &t.device())
            {
                warnings.push(format!(
                    "the search's latency ({what}) was {} (the measurement table's device)",
                    why.replace("this run is on", "the table is of")
                ));
            }
        }
        let source = Self {
            cfg: cfg.clone(),
            table,
            lut,
            model,
            timing,
            cache: Mutex::new(HashMap::new()),
            error: Mutex::new(None),
        };
        source.check_covers(space)?;
        Ok((source, warnings))
    }

    /// Checks that the search's source and the table give every
    /// architecture of the space a latency, so that a gap is an error now,
    /// naming what is missing, not a run stopped after hours of
    /// evaluations: a look-up table must hold every unit the space can
    /// produce (its unit cover), a measurement table every architecture of
    /// a listable space (a larger space cannot be measured whole), a
    /// predictor must have learnt this space.
    fn check_covers(&self, space: &dyn AnySpace) -> Result<()> {
        if let (Predict::Predictor, Some(model)) = (self.cfg.predict, &self.model)
            && model.space() != space.name()
        {
            bail!(
                "latency.predict: predictor: {} learnt the {} space, the run's space is {}",
                model.describe(),
                model.space(),
                space.name()
            );
        }
        if let (Predict::Predictor, Some(model)) = (self.cfg.predict, &self.model)
            && let Some(why) = super::signature::network_mismatch(model.learnt(), space)?
        {
            bail!(
                "latency.predict: predictor: {} learnt another network of the {} space: {why}; train one on \
                 measurements of this space's networks",
                model.describe(),
                space.name()
            );
        }
        let tabled = self.cfg.predict == Predict::Table || self.cfg.measure == Measure::Table;
        if tabled {
            let all = space.all_texts().with_context(|| {
                format!(
                    "latency.table holds whole networks measured beforehand, and the {} space has too many to measure whole: \
                     set latency.predict to lut or predictor and latency.measure to device",
                    space.name()
                )
            })?;
            for g in &all {
                self.looked_up(g).context("latency.table")?;
            }
        }
        if let (Predict::Lut, Some(lut)) = (self.cfg.predict, &self.lut) {
            let (missing, total) = lut.missing(space).context("latency.lut")?;
            if let Some(first) = missing.first() {
                bail!(
                    "latency.lut: the look-up table {} lacks {} of the {total} units the {} space's networks can hold \
                     (the first: `{first}`); complete it with `nas-search latency lut SPACE.yaml --all --out {}` \
                     (SPACE.yaml: the run's space file; it times only the missing units)",
                    lut.path.display(),
                    missing.len(),
                    space.name(),
                    lut.path.display()
                );
            }
        }
        Ok(())
    }

    /// The latency the search sees for each genotype (predicted or looked up), ms.
    pub fn predicted(&self, space: &dyn AnySpace, genotypes: &[String]) -> Result<Vec<f64>> {
        let mut out = vec![f64::NAN; genotypes.len()];
        let mut missing = Vec::new();
        {
            let cache = self.cache.lock().expect("latency cache");
            for (i, g) in genotypes.iter().enumerate() {
                match cache.get(g) {
                    Some(&v) => out[i] = v,
                    None => missing.push(i),
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let asked: Vec<String> = missing.iter().map(|&i| genotypes[i].clone()).collect();
        let values: Vec<f64> = match self.cfg.predict {
            Predict::Predictor => self.model.as_ref().expect("loaded with the config").predict(&asked)?,
            Predict::Lut => {
                let lut = self.lut.as_ref().expect("loaded with the config");
                asked.iter().map(|g| lut.latency(&network(space, g)?)).collect::<Result<_>>()?
            }
            Predict::Table => asked.iter().map(|g| self.looked_up(g)).collect::<Result<_>>()?,
        };
        let mut cache = self.cache.lock().expect("latency cache");
        for (&i, v) in missing.iter().zip(values) {
            out[i] = v;
            cache.insert(genotypes[i].clone(), v);
        }
        Ok(out)
    }

    /// The latency the search sees for one genotype; `None` when the
    /// source has none (it then meets no latency bound and ranks last as a
    /// cost), the first such error kept for [`LatencySource::take_error`].
    pub fn for_search(&self, space: &dyn AnySpace, genotype: &str) -> Option<f64> {
        match self.predicted(space, &[genotype.to_string()]) {
            Ok(v) => v.first().copied(),
            Err(e) => {
                self.error.lock().expect("latency error").get_or_insert_with(|| format!("{e:#}"));
                None
            }
        }
    }

    /// The first error the search met (taken).
    pub fn take_error(&self) -> Option<String> {
        self.error.lock().expect("latency error").take()
    }

    fn looked_up(&self, genotype: &str) -> Result<f64> {
        let t = self.table.as_ref().expect("checked: a table is named");
        t.get(genotype).with_context(|| {
            format!(
                "latency.table {} has no measurement of {genotype}: measure the space whole (`nas-search latency measure --all`) or set latency.measure: device",
                self.cfg.table.as_ref().map_or(String::new(), |p| p.display().to_string())
            )
        })
    }

    /// The measured latency of an evaluated genotype, ms.
    pub fn measured(&self, space: &dyn AnySpace, genotype: &str) -> Result<f64> {
        match self.cfg.measure {
            Measure::Table => self.looked_up(genotype),
            Measure::Device => {
                let spec = network(space, genotype)?;
                let t = &self.timing;
                Ok(with_threads(t.threads, || time_network(&spec, t))??.median)
            }
        }
    }

    /// Whether evaluated architectures are timed on this machine (after
    /// their evaluation) rather than looked up.
    pub fn times_on_device(&self) -> bool {
        self.cfg.measure == Measure::Device
    }

    /// One line for summaries: where measured latencies come from.
    pub fn describe_measured(&self) -> String {
        match (&self.cfg.measure, &self.table) {
            (Measure::Table, Some(t)) => format!(
                "looked up in {} (measured on {})",
                self.cfg.table.as_ref().map_or(String::new(), |p| p.display().to_string()),
                t.device().describe()
            ),
            _ => format!(
                "timed on this machine: {} (batch {}, median of {} passes)",
                DeviceInfo::here(self.timing.device, self.timing.threads).describe(),
                self.timing.batch,
                self.timing.repeats
            ),
        }
    }

    /// One line for summaries: what the search saw.
    pub fn describe_predicted(&self) -> String {
        match self.cfg.predict {
            Predict::Predictor => self.model.as_ref().map_or(String::new(), |m| m.describe()),
            Predict::Lut => format!(
                "the per-unit look-up table {}",
                self.lut.as_ref().map_or(String::new(), |l| l.path.display().to_string())
            ),
            Predict::Table => "the measurement table".to_string(),
        }
    }
}
