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
use super::measure::{Timed, TimingSettings, append_row, open_appendable, time_forward, with_threads};
use super::signature::network;
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
    /// Random architectures whose units are collected (None: every unit the
    /// space can produce, from its unit cover).
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

/// Every unit any network of `space` holds, by key (from the space's unit
/// cover, see `SearchSpace::unit_cover`).
pub fn space_units(space: &dyn AnySpace) -> Result<BTreeMap<String, Unit>> {
    let cover = space
        .cover_texts()
        .with_context(|| format!("the {} space does not list the units its networks can hold", space.name()))?;
    distinct_units(space, &cover)
}

/// Measures every unit the request's architectures use that the table
/// lacks; returns how many it measured.
pub fn build(req: &LutRequest) -> Result<usize> {
    let t = &req.timing;
    let cfg = SpaceConfig::load(&req.space)?;
    let space = cfg.build()?;
    let wanted = match req.samples {
        Some(n) => {
            let mut rng = StdRng::seed_from_u64(req.seed);
            let genotypes: Vec<String> = (0..n).map(|_| space.sample_text(&mut rng)).collect();
            distinct_units(space.as_ref(), &genotypes)?
        }
        None => space_units(space.as_ref())?,
    };
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
    if !req.quiet {
        let what = if req.samples.is_some() { "the sample's networks use" } else { "the space can produce" };
        eprint!(
            "{}: {} units {what}, {} in the table already, {} to time",
            req.out.display(),
            wanted.len(),
            wanted.len() - todo.len(),
            todo.len()
        );
        if !todo.is_empty() {
            let (secs, probed) = estimate_seconds(&todo, t)?;
            eprint!(
                ": about {} ({} passes each; estimated from one pass of {probed})",
                human_seconds(secs),
                t.warmup + t.repeats
            );
        }
        eprintln!();
    }
    let bar = crate::progress::bar(todo.len() as u64, "units", req.quiet);
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

/// How long timing `todo` will take, from one untimed-warmup pass of up to
/// 20 of them spread over the list (the building of each unit's module
/// counted once, its passes `warmup + repeats` times); and how many were probed.
fn estimate_seconds(todo: &[&Unit], t: &TimingSettings) -> Result<(f64, usize)> {
    let probes = todo.len().min(20);
    let one = TimingSettings { warmup: 0, repeats: 1, ..t.clone() };
    let mut per_unit = 0.0;
    for i in 0..probes {
        let u = todo[i * todo.len() / probes];
        let started = std::time::Instant::now();
        let pass_ms = with_threads(t.threads, || time_forward(Timed::Unit(u), &one))??.median;
        let wall = started.elapsed().as_secs_f64();
        let pass = pass_ms / 1000.0;
        per_unit += (wall - pass).max(0.0) + pass * (t.warmup + t.repeats) as f64;
    }
    Ok((per_unit / probes as f64 * todo.len() as f64, probes))
}

/// `95 s`, `12 min`, `3.4 h`.
fn human_seconds(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
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

    /// The units `space` can produce that the table lacks (keys, sorted),
    /// and how many units it can produce.
    pub fn missing(&self, space: &dyn AnySpace) -> Result<(Vec<String>, usize)> {
        let all = space_units(space)?;
        let missing = all.keys().filter(|k| !self.latency.contains_key(*k)).cloned().collect();
        Ok((missing, all.len()))
    }

    /// The summed latency of `spec`'s units; an error names a unit the table lacks.
    pub fn latency(&self, spec: &NetSpec) -> Result<f64> {
        let mut total = 0.0;
        for u in units(spec) {
            let key = u.key();
            total += self.latency.get(&key).with_context(|| {
                format!(
                    "the look-up table {} has no unit `{key}`: complete it with `nas-search latency lut SPACE.yaml --all --out {}`",
                    self.path.display(),
                    self.path.display()
                )
            })?;
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unit cover's claim, checked the other way round on the shipped
    /// spaces: every unit of random networks is among the space's units.
    #[test]
    fn every_unit_of_random_networks_is_in_the_spaces_unit_cover() {
        for (file, units_in_all) in [("nb201.yaml", 15), ("darts.yaml", 44), ("mobilenetv3.yaml", 1943)] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("search_spaces").join(file);
            let space = SpaceConfig::load(&path).unwrap().build().unwrap();
            let all = space_units(space.as_ref()).unwrap();
            assert_eq!(all.len(), units_in_all, "{file}");
            let mut rng = StdRng::seed_from_u64(11);
            for _ in 0..1000 {
                let g = space.sample_text(&mut rng);
                for u in units(&network(space.as_ref(), &g).unwrap()) {
                    assert!(all.contains_key(&u.key()), "{file}: {} of {g} is not in the cover's units", u.key());
                }
            }
        }
    }
}
