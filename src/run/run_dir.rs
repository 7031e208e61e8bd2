//! The run directory: every file a run writes, and how each is written so
//! that a kill at any moment loses no finished evaluation. Appended tables
//! (`evaluations.csv`, `generations.csv`) are flushed and synced row by row;
//! whole files (`checkpoint.json`, `topk.csv`, summaries) are replaced
//! atomically.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::config::RunConfig;
use super::records::{EVALUATIONS_HEADER, EvalRecord};
use crate::atomic_file::write_atomic;
use crate::search::evolution::GenerationStats;
use crate::search::nsga2::FrontStats;

/// The rows of an `evaluations.csv` (none when it does not exist), whether
/// its header is the current one, and whether its last line was torn.
/// A baseline's proposals in the order made, one key per row.
const PROPOSALS: &str = "proposals.csv";

fn read_evaluations_csv(path: &Path) -> Result<(Vec<EvalRecord>, bool, bool)> {
    read_evaluations_with(path, &mut Err)
}

/// `text` up to its last newline: a line without one is still being
/// written (or was torn by a kill), and is not read.
pub fn complete_lines(text: &str) -> &str {
    &text[..text.rfind('\n').map_or(0, |i| i + 1)]
}

/// Reads `evaluations.csv` at `path`: its rows, whether its header is the
/// current one, and whether a torn last line (no newline yet: a kill or a
/// write in progress) was left out. A corrupt row goes to `bad`: an error
/// from it stops the reading, Ok leaves the row out.
fn read_evaluations_with(
    path: &Path,
    bad: &mut dyn FnMut(anyhow::Error) -> Result<()>,
) -> Result<(Vec<EvalRecord>, bool, bool)> {
    if !path.exists() {
        return Ok((Vec::new(), true, false));
    }
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_evaluations(&text, &path.display().to_string(), bad)
}

/// [`read_evaluations_with`] of the text of the file `name`.
fn parse_evaluations(
    text: &str,
    name: &str,
    bad: &mut dyn FnMut(anyhow::Error) -> Result<()>,
) -> Result<(Vec<EvalRecord>, bool, bool)> {
    let path = std::path::Path::new(name);
    let complete = complete_lines(text);
    let mut r = csv::Reader::from_reader(complete.as_bytes());
    let current = r.headers().map(|h| h.iter().eq(EVALUATIONS_HEADER)).unwrap_or(false);
    let mut out = Vec::new();
    for (i, rec) in r.deserialize::<EvalRecord>().enumerate() {
        let checked =
            rec.with_context(|| format!("{}: row {} is corrupt", path.display(), i + 2)).and_then(|mut rec| {
                rec.check_numbers().map_err(|e| anyhow::anyhow!("{}: row {}: {e}", path.display(), i + 2))?;
                rec.upgrade();
                Ok(rec)
            });
        match checked {
            Ok(rec) => out.push(rec),
            Err(e) => bad(e)?,
        }
    }
    Ok((out, current, complete.len() != text.len()))
}

/// `rows` as a whole `evaluations.csv`.
fn evaluations_csv(rows: &[EvalRecord]) -> Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    w.write_record(EVALUATIONS_HEADER)?;
    for r in rows {
        w.serialize(r)?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

/// The header of `generations.csv` (predicted scores in %).
pub const GENERATIONS_HEADER: [&str; 7] =
    ["round", "generation", "best_predicted", "mean_predicted", "median_predicted", "best_key", "scored"];

/// The header of `generations.csv` of an NSGA-II search: also the size of
/// the first predicted front and its hypervolume (accuracy vs first cost).
pub const FRONT_GENERATIONS_HEADER: [&str; 9] = [
    "round",
    "generation",
    "best_predicted",
    "mean_predicted",
    "median_predicted",
    "best_key",
    "scored",
    "front_size",
    "predicted_hypervolume",
];

/// How long [`RunDir::open`] waits for a lock whose recorded holder has ended.
const LOCK_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether the open `file` is still the file at `path` (not removed or replaced).
fn same_file(file: &fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// The pid in a lock file's text (`pid N on HOST, since ...`).
pub fn holder_pid(text: &str) -> Option<u32> {
    text.strip_prefix("pid ")?.split_whitespace().next()?.parse().ok()
}

/// An open run directory, locked for this process.
pub struct RunDir {
    pub root: PathBuf,
    /// `lock`, held with an exclusive OS lock while the directory is open:
    /// the OS releases it when the process ends, however it ends.
    _lock: fs::File,
}

impl Drop for RunDir {
    /// Releases the run: the lock file goes (while still locked, so a
    /// process waiting for it locks a fresh one: see `open`); the OS lock
    /// goes with the file handle.
    fn drop(&mut self) {
        let _ = fs::remove_file(self.root.join("lock"));
    }
}

impl RunDir {
    /// Opens (creating it if needed) and locks the run directory; a second
    /// process is refused with who holds it.
    pub fn open(root: &Path) -> Result<Self> {
        fs::create_dir_all(root).with_context(|| format!("creating run directory {}", root.display()))?;
        let path = root.join("lock");
        let open = || {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))
        };
        let mut file = open()?;
        // A holder that has ended (killed) may leave the lock to a process it
        // was starting, for the moment until that one runs its program: wait
        // that out rather than refuse.
        let started = std::time::Instant::now();
        loop {
            match file.try_lock() {
                // the holder before us removes the file when it ends: a lock on a
                // removed file guards nothing, so lock the file the path names now
                Ok(()) if !same_file(&file, &path) => file = open()?,
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) => {
                    let holder = fs::read_to_string(&path).unwrap_or_default();
                    let dead = holder_pid(&holder).is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
                    if dead && started.elapsed() < LOCK_GRACE {
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        continue;
                    }
                    bail!(
                        "{} is in use by another nas-search process ({}); wait for it to end or stop it",
                        root.display(),
                        if holder.trim().is_empty() { "holder unknown".to_string() } else { holder.trim().to_string() }
                    );
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("locking {}", path.display()));
                }
            }
        }
        let host = fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "unknown host".into());
        file.set_len(0)?;
        write!(file, "pid {} on {host}, since {}", std::process::id(), crate::clock::utc_now())?;
        file.sync_data()?;
        crate::interrupt::release_on_interrupt(path);
        Ok(Self { root: root.to_path_buf(), _lock: file })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Saves the resolved config, or checks it against the saved one: a
    /// config that changes only how evaluations run (see
    /// [`RunConfig::changes_only_how_evaluations_run`]) replaces it, and the
    /// changed keys are returned (and logged); one that changes what is
    /// measured is refused naming those keys, unless `force`.
    pub fn freeze_config(&self, yaml: &str, force: bool) -> Result<Vec<String>> {
        let path = self.path("config.yaml");
        let changed = crate::config::freeze(
            &path,
            yaml,
            force,
            RunConfig::changes_only_how_evaluations_run,
            |changed| {
                anyhow::anyhow!(
                    "the config differs from the one this run started with ({}) in keys that change what is measured or \
                 searched: {}; a run continues only with changes to how evaluations run (evaluator command, cwd, \
                 timeouts, retries, workers, Slurm settings); pass --force to continue anyway, or start a new run \
                 with --run-dir",
                    path.display(),
                    changed.join(", ")
                )
            },
        )?;
        if !changed.is_empty() {
            self.log(&format!("config changed on resume: {}", changed.join(", ")));
        }
        Ok(changed)
    }

    /// All finished evaluations; a torn last line (a kill mid-write) is
    /// dropped, and a file of an older format is rewritten with the current
    /// header (its new columns filled), so that rows appended next line up.
    pub fn load_evaluations(&self) -> Result<Vec<EvalRecord>> {
        let (rows, current, torn) = read_evaluations_csv(&self.path("evaluations.csv"))?;
        if (!current && !rows.is_empty()) || torn {
            write_atomic(&self.path("evaluations.csv"), &evaluations_csv(&rows)?)?;
        }
        Ok(rows)
    }

    /// Replaces `evaluations.csv` with `rows` atomically (columns filled in
    /// after the evaluations, such as a timed latency).
    pub fn rewrite_evaluations(&self, rows: &[EvalRecord]) -> Result<()> {
        write_atomic(&self.path("evaluations.csv"), &evaluations_csv(rows)?)
    }

    /// The finished evaluations of the run directory `root`, read only (no
    /// lock: for commands that look at a run, running or not).
    pub fn read_evaluations(root: &Path) -> Result<Vec<EvalRecord>> {
        Ok(read_evaluations_csv(&root.join("evaluations.csv"))?.0)
    }

    /// As [`RunDir::read_evaluations`], but a corrupt row is left out and
    /// said in the returned warnings instead of failing the reading (for a
    /// page that shows what it can of a run being written).
    pub fn read_evaluations_leniently(root: &Path) -> (Vec<EvalRecord>, Vec<String>) {
        let path = root.join("evaluations.csv");
        match fs::read_to_string(&path) {
            Ok(text) => Self::evaluations_leniently(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Vec::new(), Vec::new()),
            Err(e) => (Vec::new(), vec![format!("reading {}: {e}", path.display())]),
        }
    }

    /// [`RunDir::read_evaluations_leniently`] of the text of the file `name` (read by the caller).
    pub fn evaluations_leniently(text: &str, name: &str) -> (Vec<EvalRecord>, Vec<String>) {
        let mut warnings = Vec::new();
        let mut note = |e: anyhow::Error| {
            warnings.push(format!("{e:#}, left out"));
            Ok(())
        };
        match parse_evaluations(text, name, &mut note) {
            Ok((rows, _, torn)) => {
                if torn {
                    warnings.push(format!("{name}: its last line is still being written, left out"));
                }
                (rows, warnings)
            }
            Err(e) => {
                warnings.push(format!("{e:#}"));
                (Vec::new(), warnings)
            }
        }
    }

    fn append_row<T: Serialize>(&self, name: &str, header: &[&str], row: &T) -> Result<()> {
        self.append_rows(name, header, std::iter::once(row))
    }

    /// Appends `rows` to the CSV file `name` (its header first when it is
    /// new), flushed to disk once before returning.
    fn append_rows<T: Serialize>(&self, name: &str, header: &[&str], rows: impl IntoIterator<Item = T>) -> Result<()> {
        let path = self.path(name);
        let new = !path.exists() || fs::metadata(&path)?.len() == 0;
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(file);
        if new {
            w.write_record(header)?;
        }
        for row in rows {
            w.serialize(row)?;
        }
        w.flush()?;
        w.get_ref().sync_data()?;
        Ok(())
    }

    /// Appends a baseline's proposals (keys, in the order made) to
    /// `proposals.csv`, flushed to disk before returning.
    pub fn append_proposals(&self, keys: &[String]) -> Result<()> {
        self.append_rows(PROPOSALS, &["arch_key"], keys.iter().map(|k| [k]))
    }

    /// A baseline's proposals in the order made (`proposals.csv`; a torn
    /// last line is left out).
    pub fn read_proposals(&self) -> Result<Vec<String>> {
        let path = self.path(PROPOSALS);
        if !path.exists() {
            return Ok(Vec::new());
        }
        let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut r = csv::Reader::from_reader(complete_lines(&text).as_bytes());
        r.records()
            .enumerate()
            .map(|(i, row)| {
                let row = row.with_context(|| format!("{}: row {} is corrupt", path.display(), i + 2))?;
                Ok(row.get(0).unwrap_or_default().to_string())
            })
            .collect()
    }

    /// Appends one finished evaluation, flushed to disk before returning.
    pub fn append_evaluation(&self, rec: &EvalRecord) -> Result<()> {
        self.append_row("evaluations.csv", &EVALUATIONS_HEADER, rec)
    }

    /// Appends a search generation for `round`; predicted scores in %, as
    /// accuracies are (the first format wrote fractions, under the header
    /// names `*_score`).
    pub fn append_generation(&self, round: usize, s: &GenerationStats) -> Result<()> {
        let pct = |x: f64| x * 100.0;
        self.append_row(
            "generations.csv",
            &GENERATIONS_HEADER,
            &(round, s.generation, pct(s.best_score), pct(s.mean_score), pct(s.median_score), &s.best_key, s.scored),
        )
    }

    /// Appends an NSGA-II generation for `round` (scores in %).
    pub fn append_front_generation(&self, round: usize, s: &FrontStats) -> Result<()> {
        let pct = |x: f64| x * 100.0;
        self.append_row(
            "generations.csv",
            &FRONT_GENERATIONS_HEADER,
            &(
                round,
                s.generation,
                pct(s.best_score),
                pct(s.mean_score),
                pct(s.median_score),
                &s.best_key,
                s.scored,
                s.front_size,
                s.hypervolume,
            ),
        )
    }

    /// Rewrites a `generations.csv` of the first format (scores as
    /// fractions, header `best_score,...`) in % with the current header;
    /// leaves a current one alone, so it is safe to repeat.
    pub fn generations_to_percent(&self) -> Result<()> {
        let path = self.path("generations.csv");
        if !path.exists() {
            return Ok(());
        }
        let text = fs::read_to_string(&path)?;
        if !text.starts_with("round,generation,best_score,") {
            return Ok(());
        }
        let mut out = GENERATIONS_HEADER.join(",") + "\n";
        for line in text.split_inclusive('\n').skip(1) {
            if !line.ends_with('\n') {
                break;
            }
            let mut fields: Vec<String> = line.trim_end_matches('\n').split(',').map(String::from).collect();
            for f in fields.iter_mut().skip(2).take(3) {
                if let Ok(v) = f.parse::<f64>() {
                    *f = (v * 100.0).to_string();
                }
            }
            out.push_str(&fields.join(","));
            out.push('\n');
        }
        write_atomic(&path, out.as_bytes())
    }

    /// Keeps only the generations a checkpoint covers (before a resume).
    pub fn truncate_generations(&self, round: usize, generation: usize) -> Result<()> {
        let path = self.path("generations.csv");
        if !path.exists() {
            return Ok(());
        }
        let text = fs::read_to_string(&path)?;
        let mut kept = String::new();
        for (i, line) in text.split_inclusive('\n').enumerate() {
            if !line.ends_with('\n') {
                break;
            }
            let mut f = line.splitn(3, ',');
            let (r, g) = (f.next().unwrap_or(""), f.next().unwrap_or(""));
            let keep = i == 0
                || match (r.parse::<usize>(), g.parse::<usize>()) {
                    (Ok(r), Ok(g)) => r < round || (r == round && g <= generation),
                    _ => false,
                };
            if keep {
                kept.push_str(line);
            }
        }
        write_atomic(&path, kept.as_bytes())
    }

    /// Appends a line to `run.log`, after a UTC timestamp.
    pub fn log(&self, line: &str) {
        append_log(&self.root, line);
    }

    /// Replaces a whole file atomically.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.path(name), bytes)
    }

    /// Replaces a CSV file with these rows atomically.
    pub fn write_csv<T: Serialize>(&self, name: &str, rows: &[T]) -> Result<()> {
        let mut w = csv::Writer::from_writer(Vec::new());
        for r in rows {
            w.serialize(r)?;
        }
        self.write(name, &w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)
    }
}

/// Appends a line, stamped with the time, to `root/run.log` (best effort:
/// the log never fails a run).
pub fn append_log(root: &Path, line: &str) {
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(root.join("run.log")) {
        let _ = writeln!(f, "{} {line}", crate::clock::utc_now());
    }
}
