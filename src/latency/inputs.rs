//! The latency files a run reads (`latency.table`, `latency.lut`), kept in
//! its run directory when it starts (`latency_inputs/`), so that a resume
//! can tell a file that only gained rows (a look-up table completed, more
//! networks measured: accepted, the run goes on) from one whose rows
//! changed under it (refused, naming the row).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::source::LatencyConfig;

/// The folder of the run directory the copies live in.
pub const DIR: &str = "latency_inputs";

/// The files `cfg` reads that are kept: (config key, path, copy's name,
/// the columns that name a row).
fn kept(cfg: &LatencyConfig) -> Vec<(&'static str, &PathBuf, String, &'static [&'static str])> {
    let copy = |stem: &str, p: &Path| {
        let gz = p.extension().is_some_and(|e| e == "gz");
        format!("{stem}.csv{}", if gz { ".gz" } else { "" })
    };
    let mut out = Vec::new();
    if let Some(p) = &cfg.table {
        out.push(("latency.table", p, copy("table", p), &["genotype", "pass"][..]));
    }
    if let Some(p) = &cfg.lut {
        out.push(("latency.lut", p, copy("lut", p), &["unit"][..]));
    }
    out
}

/// Copies the files `cfg` reads into `run_dir`/latency_inputs.
pub fn keep(cfg: &LatencyConfig, run_dir: &Path) -> Result<()> {
    let dir = run_dir.join(DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (key, path, name, _) in kept(cfg) {
        let bytes = std::fs::read(path).with_context(|| format!("{key}: reading {}", path.display()))?;
        crate::atomic_file::write_atomic(&dir.join(name), &bytes)?;
    }
    Ok(())
}

/// Whether the copies were kept (runs started before they were have none).
pub fn are_kept(cfg: &LatencyConfig, run_dir: &Path) -> bool {
    kept(cfg).iter().all(|(_, _, name, _)| run_dir.join(DIR).join(name).is_file())
}

/// Compares each file `cfg` reads with its copy: every row of the copy
/// must be in the file unchanged (rows added are fine). Returns a line per
/// file that gained rows, and keeps the grown file as the new copy.
pub fn check_only_grown(cfg: &LatencyConfig, run_dir: &Path) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    for (key, path, name, id) in kept(cfg) {
        let copy = run_dir.join(DIR).join(&name);
        let (then_header, then) = rows(&copy, id).with_context(|| format!("the run's copy of {key}"))?;
        let (now_header, now) = rows(path, id).with_context(|| format!("{key} {}", path.display()))?;
        if then_header != now_header {
            bail!(
                "{key} {}: its columns changed since this run started (were: {}; now: {}); restore it, or start a new run",
                path.display(),
                then_header.join(","),
                now_header.join(",")
            );
        }
        for (row_key, old) in &then {
            match now.get(row_key) {
                Some(new) if new == old => {}
                Some(new) => bail!(
                    "{key} {}: the row of {row_key} changed since this run started (was: {}; now: {}); \
                     restore it, or start a new run (rows may be added, not changed)",
                    path.display(),
                    old.join(","),
                    new.join(",")
                ),
                None => bail!(
                    "{key} {}: the row of {row_key} was removed since this run started; restore it, or start a new run",
                    path.display()
                ),
            }
        }
        if now.len() > then.len() {
            notes.push(format!(
                "{key} {} gained {} rows since this run started (rows only added: accepted)",
                path.display(),
                now.len() - then.len()
            ));
            let bytes = std::fs::read(path).with_context(|| format!("{key}: reading {}", path.display()))?;
            crate::atomic_file::write_atomic(&copy, &bytes)?;
        }
    }
    Ok(notes)
}

/// A CSV's header, and its rows by the values of their `id` columns.
type Rows = (Vec<String>, HashMap<String, Vec<String>>);

/// The header and the rows of a CSV (gzip-compressed when it ends in
/// `.gz`), each row by the values of the `id` columns.
fn rows(path: &Path, id: &[&str]) -> Result<Rows> {
    let bytes = super::table::read_csv_bytes(path).with_context(|| format!("reading {}", path.display()))?;
    let mut r = csv::Reader::from_reader(bytes.as_slice());
    let header: Vec<String> = r.headers()?.iter().map(str::to_string).collect();
    let at: Vec<usize> = id
        .iter()
        .map(|c| header.iter().position(|h| h == c).with_context(|| format!("{} has no column `{c}`", path.display())))
        .collect::<Result<_>>()?;
    let mut out = HashMap::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.with_context(|| format!("{} row {}", path.display(), i + 2))?;
        // `unit`, or `genotype` (pass N)
        let mut key = format!("`{}`", rec.get(at[0]).unwrap_or(""));
        for (&c, name) in at.iter().zip(id).skip(1) {
            key.push_str(&format!(" ({name} {})", rec.get(c).unwrap_or("")));
        }
        out.insert(key, rec.iter().map(str::to_string).collect());
    }
    Ok((header, out))
}
