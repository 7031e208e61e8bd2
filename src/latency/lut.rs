//! The per-unit look-up table: every distinct unit (see [`super::units`])
//! of a space's networks measured once on the device, and a network's
//! latency estimated as the sum of its units' latencies (Once-for-All's
//! latency tables and nn-Meter's kernel sums work this way).
//! `nas-search latency lut` writes the table; [`Lut`] reads it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::DeviceInfo;
use super::measure::{Timed, TimingSettings, append_row, network, open_appendable, time_forward, with_threads};
use super::units::{Unit, units};
use crate::net::NetSpec;
use crate::space::{AnySpace, SpaceConfig};

/// One measured unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LutRow {
    pub unit: String,
    pub latency_ms: f64,
    pub p25_ms: f64,
    pub p75_ms: f64,
    pub warmup: usize,
    pub repeats: usize,
    pub space: String,
    pub device: String,
    pub device_name: String,
    pub backend: String,
    pub threads: usize,
    pub batch: usize,
    pub date: String,
}

impl LutRow {
    /// The device it was measured on.
    pub fn device_info(&self) -> DeviceInfo {
        DeviceInfo {
            device: self.device.clone(),
            device_name: self.device_name.clone(),
            backend: self.backend.clone(),
            threads: self.threads,
        }
    }
}

/// What `latency lut` was asked to do.
pub struct LutRequest {
    pub space: PathBuf,
    pub out: PathBuf,
    /// Random architectures whose units are collected (None: every architecture of a listable space).
    pub samples: Option<usize>,
    pub timing: TimingSettings,
    pub seed: u64,
    pub quiet: bool,
}

/// The distinct units of the networks of `genotypes`, by key.
fn distinct_units(space: &dyn AnySpace, genotypes: &[String]) -> Result<BTreeMap<String, Unit>> {
    let mut all = BTreeMap::new();
    for g in genotypes {
        for u in units(&network(space, g)?) {
            all.entry(u.key()).or_insert(u);
        }
    }
    Ok(all)
}

/// Measures every unit the request's architectures use that the table lacks.
pub fn build(req: &LutRequest) -> Result<usize> {
    let t = &req.timing;
    let cfg = SpaceConfig::load(&req.space)?;
    let space = cfg.build()?;
    let genotypes = match req.samples {
        Some(n) => {
            let mut rng = StdRng::seed_from_u64(req.seed);
            (0..n).map(|_| space.sample_text(&mut rng)).collect()
        }
        None => space.all_texts().with_context(|| {
            format!("the {} space is too large to list: collect units from a sample with --samples N", space.name())
        })?,
    };
    let wanted = distinct_units(space.as_ref(), &genotypes)?;
    let here = DeviceInfo::here(t.device, t.threads);
    let (done, mut file) = open_appendable::<LutRow>(&req.out)?;
    if let Some(first) = done.first() {
        let theirs = first.device_info();
        if theirs != here || first.batch != t.batch {
            bail!(
                "{} holds units measured on {} at batch {}; this command measures on {} at batch {}: use another --out",
                req.out.display(),
                theirs.describe(),
                first.batch,
                here.describe(),
                t.batch
            );
        }
    }
    let have: std::collections::HashSet<&str> = done.iter().map(|r| r.unit.as_str()).collect();
    let todo: Vec<&Unit> = wanted.iter().filter(|(k, _)| !have.contains(k.as_str())).map(|(_, u)| u).collect();
    let bar = crate::run::progress::bar(todo.len() as u64, "units", req.quiet);
    for u in &todo {
        let timing = with_threads(t.threads, || time_forward(Timed::Unit(u), t))??;
        let row = LutRow {
            unit: u.key(),
            latency_ms: timing.median,
            p25_ms: timing.p25,
            p75_ms: timing.p75,
            warmup: t.warmup,
            repeats: t.repeats,
            space: space.name().to_string(),
            device: here.device.clone(),
            device_name: here.device_name.clone(),
            backend: here.backend.clone(),
            threads: t.threads,
            batch: t.batch,
            date: crate::clock::utc_now(),
        };
        append_row(&mut file, &row).with_context(|| format!("appending to {}", req.out.display()))?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(todo.len())
}

/// A look-up table read back: unit latencies by key, and the device.
#[derive(Clone, Debug)]
pub struct Lut {
    latency: HashMap<String, f64>,
    pub device: DeviceInfo,
    /// The batch size every unit was timed at.
    pub batch: usize,
    pub path: PathBuf,
}

impl Lut {
    pub fn load(path: &Path) -> Result<Self> {
        let mut r =
            csv::Reader::from_path(path).with_context(|| format!("reading the look-up table {}", path.display()))?;
        let mut latency = HashMap::new();
        let mut device = None;
        let mut batch = None;
        for (i, rec) in r.deserialize::<LutRow>().enumerate() {
            let row = rec.with_context(|| format!("{} row {} is malformed", path.display(), i + 2))?;
            if !(row.latency_ms.is_finite() && row.latency_ms >= 0.0) {
                bail!("{} row {}: latency_ms must be a number >= 0, got {}", path.display(), i + 2, row.latency_ms);
            }
            let d = row.device_info();
            match &device {
                None => device = Some(d),
                Some(first) if *first != d => bail!(
                    "{} row {} was measured on {}, earlier rows on {}",
                    path.display(),
                    i + 2,
                    d.describe(),
                    first.describe()
                ),
                _ => {}
            }
            if *batch.get_or_insert(row.batch) != row.batch {
                bail!(
                    "{} row {}: batch {}, earlier rows batch {}",
                    path.display(),
                    i + 2,
                    row.batch,
                    batch.unwrap_or(0)
                );
            }
            latency.insert(row.unit, row.latency_ms);
        }
        let device = device.with_context(|| format!("{} has no units", path.display()))?;
        Ok(Self { latency, device, batch: batch.unwrap_or(1), path: path.to_path_buf() })
    }

    /// Units in the table.
    pub fn len(&self) -> usize {
        self.latency.len()
    }

    pub fn is_empty(&self) -> bool {
        self.latency.is_empty()
    }

    /// The summed latency of `spec`'s units; an error names a unit the table lacks.
    pub fn latency(&self, spec: &NetSpec) -> Result<f64> {
        let mut total = 0.0;
        for u in units(spec) {
            let key = u.key();
            total += self.latency.get(&key).with_context(|| {
                format!(
                    "the look-up table {} has no unit `{key}`: extend it with `nas-search latency lut` on this space",
                    self.path.display()
                )
            })?;
        }
        Ok(total)
    }
}
