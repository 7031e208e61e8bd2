//! A latency measurement CSV (what `nas-search latency measure` writes):
//! one row per measured network, saying what was measured where. Reading
//! one checks every row (a missing column, a latency that is not a positive
//! number, rows of several devices) and names the file, row and column.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::DeviceInfo;

/// One measured network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyRow {
    /// The genotype in the space's text form.
    pub genotype: String,
    /// Its canonical key.
    pub key: String,
    /// 1: the measurement; 2: the same network measured again at the end (drift check).
    pub pass: u32,
    /// Position in the (shuffled) measuring order.
    pub order: usize,
    /// Median latency of the timed passes, milliseconds.
    pub latency_ms: f64,
    pub p25_ms: f64,
    pub p75_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub warmup: usize,
    pub repeats: usize,
    pub params: u64,
    pub macs: u64,
    pub space: String,
    pub device: String,
    pub device_name: String,
    pub backend: String,
    pub threads: usize,
    pub batch: usize,
    pub resolution: usize,
    /// When it was measured (UTC).
    pub date: String,
}

impl LatencyRow {
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

/// The columns a measurement CSV must have.
pub const REQUIRED: [&str; 6] = ["genotype", "pass", "latency_ms", "device", "device_name", "batch"];

/// A checked measurement CSV: the first-pass rows by genotype, and the
/// device they were measured on.
#[derive(Clone, Debug)]
pub struct LatencyTable {
    pub rows: Vec<LatencyRow>,
    /// Re-measurements (pass 2).
    pub repeats: Vec<LatencyRow>,
    by_genotype: HashMap<String, usize>,
}

impl LatencyTable {
    /// Reads and checks `path`. `column` is the latency column to read
    /// (`latency_ms`, or another numeric column such as `p75_ms`).
    pub fn load(path: &Path, column: &str) -> Result<Self> {
        let text = read_csv_bytes(path).with_context(|| format!("reading the latency CSV {}", path.display()))?;
        Self::parse(&text, column).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Parses a measurement CSV (see [`LatencyTable::load`]).
    pub fn parse(bytes: &[u8], column: &str) -> Result<Self> {
        let mut r = csv::Reader::from_reader(bytes);
        let headers = r.headers().context("reading the header")?.clone();
        for want in REQUIRED.iter().copied().chain([column]) {
            if !headers.iter().any(|h| h == want) {
                bail!(
                    "no column `{want}` (it has: {}); is it a `nas-search latency measure` CSV?",
                    headers.iter().collect::<Vec<_>>().join(", ")
                );
            }
        }
        let col = headers.iter().position(|h| h == column).expect("checked above");
        let (mut rows, mut repeats) = (Vec::new(), Vec::new());
        let mut by_genotype = HashMap::new();
        for (i, rec) in r.records().enumerate() {
            let line = i + 2;
            let rec = rec.with_context(|| format!("row {line}"))?;
            let mut row: LatencyRow =
                rec.deserialize(Some(&headers)).with_context(|| format!("row {line} is malformed"))?;
            let value = rec.get(col).unwrap_or("");
            row.latency_ms = match value.trim().parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 => v,
                _ => bail!("row {line}: {column} must be a positive number of milliseconds, got `{value}`"),
            };
            if let Some(first) = rows.first().or(repeats.first()) {
                let (a, b) = (LatencyRow::device_info(first), row.device_info());
                if a != b || first.batch != row.batch {
                    bail!(
                        "row {line} was measured on {} at batch {}, row 2 on {} at batch {}: one CSV holds one device's measurements",
                        b.describe(),
                        row.batch,
                        a.describe(),
                        first.batch
                    );
                }
            }
            match row.pass {
                1 => {
                    if by_genotype.insert(row.genotype.clone(), rows.len()).is_some() {
                        bail!("row {line}: genotype {} is measured twice in pass 1", row.genotype);
                    }
                    rows.push(row);
                }
                2 => repeats.push(row),
                p => bail!("row {line}: pass must be 1 or 2, got {p}"),
            }
        }
        if rows.is_empty() {
            bail!("no measurements (pass 1 rows)");
        }
        Ok(Self { rows, repeats, by_genotype })
    }

    /// The device every row was measured on.
    /// Refuses a table measured on another network than `space` builds for
    /// its genotypes (the rows carry params, MACs and resolution of the
    /// network timed): a few rows, spread over the table, compared.
    pub fn check_network(&self, space: &dyn crate::space::AnySpace, file: &Path) -> Result<()> {
        let step = (self.rows.len() / 5).max(1);
        for r in self.rows.iter().step_by(step).take(5) {
            let theirs = (r.params, r.macs, r.resolution);
            let ours = super::signature::signature(space, &r.genotype)
                .with_context(|| format!("{}: `{}` in this run's space", file.display(), r.genotype))?;
            if theirs != ours {
                bail!(
                    "{} was measured on another network of the {} space: {}; measure it with this space file \
                     (nas-search latency measure)",
                    file.display(),
                    r.space,
                    super::signature::describe_mismatch(&r.genotype, theirs, ours)
                );
            }
        }
        Ok(())
    }

    pub fn device(&self) -> DeviceInfo {
        self.rows[0].device_info()
    }

    /// The latency of `genotype` (its text form as the CSV writes it).
    pub fn get(&self, genotype: &str) -> Option<f64> {
        self.by_genotype.get(genotype).map(|&i| self.rows[i].latency_ms)
    }

    /// The first measurements of the re-measured networks predicted by their
    /// second ones: (MAPE, ACC(10%)) in percent. No latency predictor can be
    /// judged finer than this against one measurement per network.
    pub fn noise_floor(&self) -> Option<(f64, f64)> {
        let (first, second): (Vec<f64>, Vec<f64>) =
            self.repeats.iter().filter_map(|r| self.get(&r.genotype).map(|a| (a, r.latency_ms))).unzip();
        use crate::predictor::metrics::{err_bound, mape};
        (!first.is_empty()).then(|| (100.0 * mape(&second, &first), 100.0 * err_bound(&second, &first, 0.1)))
    }

    /// Coefficients of variation between the two measurements of each
    /// re-measured network (see [`super::timing::pair_cv`]).
    pub fn repeat_cvs(&self) -> Vec<f64> {
        self.repeats
            .iter()
            .filter_map(|r| self.get(&r.genotype).map(|first| super::timing::pair_cv(first, r.latency_ms)))
            .collect()
    }
}

/// The bytes of a CSV file, uncompressed when its name ends in `.gz`.
pub fn read_csv_bytes(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path)?;
    if path.extension().is_none_or(|e| e != "gz") {
        return Ok(bytes);
    }
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes.as_slice()), &mut plain)
        .with_context(|| format!("{} is not gzip-compressed CSV", path.display()))?;
    Ok(plain)
}

/// Checks that a measurement of `measured` may stand for a run on `here`:
/// the same device kind and name, the same backend and threads. Returns a
/// description of the difference.
pub fn device_mismatch(measured: &DeviceInfo, here: &DeviceInfo) -> Option<String> {
    (measured != here).then(|| format!("measured on {}, this run is on {}", measured.describe(), here.describe()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "genotype,key,pass,order,latency_ms,p25_ms,p75_ms,min_ms,max_ms,warmup,repeats,params,macs,space,device,device_name,backend,threads,batch,resolution,date";

    fn row(g: &str, pass: u32, ms: &str, name: &str) -> String {
        format!("{g},{g},{pass},0,{ms},1,1,1,1,1,5,10,10,nb201,cpu,{name},ndarray,1,1,32,2026-11-30T00:00:00Z")
    }

    #[test]
    fn reads_rows_and_repeats_and_refuses_bad_ones() {
        let ok = format!(
            "{HEADER}\n{}\n{}\n{}\n",
            row("a", 1, "2.0", "X"),
            row("b", 1, "4.0", "X"),
            row("a", 2, "2.2", "X")
        );
        let t = LatencyTable::parse(ok.as_bytes(), "latency_ms").unwrap();
        assert_eq!((t.get("a"), t.get("b"), t.get("c")), (Some(2.0), Some(4.0), None));
        assert_eq!(t.repeat_cvs().len(), 1);
        for (bad, says) in [
            (format!("{HEADER}\n{}\n", row("a", 1, "NaN", "X")), "row 2: latency_ms must be a positive number"),
            (format!("{HEADER}\n{}\n", row("a", 1, "-1", "X")), "got `-1`"),
            (
                format!("{HEADER}\n{}\n{}\n", row("a", 1, "1", "X"), row("b", 1, "1", "Y")),
                "row 3 was measured on cpu (Y",
            ),
            (format!("{HEADER}\n{}\n{}\n", row("a", 1, "1", "X"), row("a", 1, "1", "X")), "measured twice"),
            (HEADER.replace(",latency_ms", "") + "\n", "no column `latency_ms`"),
        ] {
            let err = LatencyTable::parse(bad.as_bytes(), "latency_ms").unwrap_err();
            assert!(format!("{err:#}").contains(says), "{err:#} should say {says}");
        }
    }
}
