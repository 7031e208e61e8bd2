//! What the page shows of a run, read from its files as they are at the
//! moment, while the run may be writing them: a torn or malformed CSV row is
//! skipped and named in `warnings`, a missing or unreadable file leaves its
//! part empty and says why. Nothing here writes, and nothing here locks
//! (taking even a shared lock on `lock` could turn a starting run away).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::catalog::{Part, RunRef, read_inside};
use crate::run::STOPPED;
use crate::run::config::RunConfig;
use crate::run::records::{EvalRecord, last_attempts};
use crate::run::run_dir::{RunDir, complete_lines, holder_pid};

/// How many lines of `run.log` and `submissions.log` the run page shows.
const TAIL_LINES: usize = 80;
/// How much of the end of a log is read (for its last lines and the run's status).
const TAIL_BYTES: u64 = 256 << 10;

/// A run as the runs page lists it.
#[derive(Clone, Serialize)]
pub struct Overview {
    pub id: String,
    pub name: String,
    pub space: String,
    pub strategy: String,
    pub evaluator: String,
    pub status: RunStatus,
    /// Evaluations finished (an architecture's last attempt in its phase and round).
    pub done: usize,
    /// Evaluations the config plans in all (0 when it does not say).
    pub planned: usize,
    pub failures: usize,
    pub best: Option<BestSoFar>,
    pub started: Option<String>,
    /// When a file of the run last changed, and how long ago (seconds).
    pub last_activity: Option<String>,
    pub idle_s: Option<u64>,
    /// What could not be read, file by file.
    pub warnings: Vec<String>,
}

/// Whether a run is going, and if not, how it ended.
#[derive(Clone, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum RunStatus {
    /// A process holds the run: `holder` is the lock file's text (`pid N on HOST, since T`).
    Running {
        holder: String,
    },
    Finished,
    /// Ended by an error, which `run.log` recorded.
    Stopped {
        error: String,
    },
    /// Neither running nor finished nor stopped by an error: killed, or
    /// stopped with Ctrl-C; `nas-search resume` continues it.
    Interrupted,
    /// Not read at all: see [`RunRef::refused`].
    Refused {
        reason: String,
    },
}

#[derive(Clone, Serialize)]
pub struct BestSoFar {
    pub genotype: String,
    pub accuracy: Option<f64>,
    pub report_accuracy: Option<f64>,
}

/// A run's evaluations and its config, as far as they could be read.
pub struct Records {
    pub cfg: Option<RunConfig>,
    pub evals: Vec<EvalRecord>,
    pub warnings: Vec<String>,
}

/// Reads `config.yaml` and `evaluations.csv` of `run` (a refused run: nothing).
pub fn records(run: &RunRef) -> Records {
    if let Some(reason) = &run.refused {
        return Records { cfg: None, evals: Vec::new(), warnings: vec![format!("not read: {reason}")] };
    }
    let mut warnings = Vec::new();
    // read through the catalog's guard (no link, no FIFO, whatever changed since the check)
    let cfg = match text(&run.dir, "config.yaml", &mut warnings).map(|t| RunConfig::from_text(&t, "config.yaml")) {
        None => None,
        Some(Ok(cfg)) if cfg.is_resolved() => Some(cfg),
        Some(Ok(_)) => {
            warnings
                .push("config.yaml: written by an earlier version; resume the run once to bring it up to date".into());
            None
        }
        Some(Err(e)) => {
            warnings.push(format!("{e:#}"));
            None
        }
    };
    let (evals, more) = match text(&run.dir, "evaluations.csv", &mut warnings) {
        Some(t) => RunDir::evaluations_leniently(&t, &run.dir.join("evaluations.csv").display().to_string()),
        None => (Vec::new(), Vec::new()),
    };
    warnings.extend(more);
    Records { cfg, evals, warnings }
}

/// The runs page's row for `run`.
pub fn overview(run: &RunRef) -> Overview {
    let Records { cfg, evals, mut warnings } = records(run);
    let last = last_attempts(&evals);
    let best = cfg.as_ref().and_then(|c| crate::run::selection::best(&evals, c.rules())).map(|e| BestSoFar {
        genotype: e.genotype.clone(),
        accuracy: e.accuracy,
        report_accuracy: e.report_accuracy,
    });
    let first_line = |dir: &Path| -> Option<String> {
        let head = read_inside(dir, "run.log", Part::Head(200)).ok()?;
        String::from_utf8_lossy(&head).split_whitespace().next().map(str::to_string)
    };
    let modified = last_modified(&run.dir);
    let ended = run.refused.is_some();
    Overview {
        id: run.id.clone(),
        name: cfg
            .as_ref()
            .and_then(|c| c.name.clone())
            .unwrap_or_else(|| run.dir.file_name().map_or_else(String::new, |n| n.to_string_lossy().to_string())),
        space: cfg.as_ref().map_or_else(String::new, |c| c.space_config().name().to_string()),
        strategy: cfg.as_ref().map_or_else(String::new, |c| c.strategy.name().to_string()),
        evaluator: cfg.as_ref().map_or_else(String::new, |c| c.evaluator.config.kind().to_string()),
        status: status(run, &mut warnings),
        done: last.len(),
        planned: cfg.as_ref().map_or(0, RunConfig::planned_queries),
        failures: last.iter().filter(|e| e.accuracy.is_none()).count(),
        best,
        started: if ended { None } else { first_line(&run.dir) },
        last_activity: modified.map(|t| crate::clock::utc(t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))),
        idle_s: modified.map(|t| SystemTime::now().duration_since(t).unwrap_or(Duration::ZERO).as_secs()),
        warnings,
    }
}

/// What a run directory holds directly: each entry's name, size and
/// modification time, sorted (a run's row is read again when it changes;
/// as make and rsync do, a rewrite of the same size within the same
/// timestamp goes unseen).
type Stamp = Vec<(OsString, u64, SystemTime)>;

pub fn stamp(dir: &Path) -> Option<Stamp> {
    let mut entries: Stamp = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((e.file_name(), m.len(), m.modified().ok()?))
        })
        .collect();
    entries.sort();
    Some(entries)
}

/// The runs page's rows kept between requests, per run directory: a row is
/// read from the run's files again only when a file directly in its
/// directory changed (see [`Stamp`]), so the page's poll over hundreds of
/// runs costs what changed. What changes without a file changing is
/// brought up to date on every request: the status of a run shown running
/// (its process may have died) and how long each run has been idle.
#[derive(Default)]
pub struct Rows(Mutex<HashMap<PathBuf, (Stamp, Overview)>>);

impl Rows {
    /// `overview(run)`, from the kept row when the run's files did not change.
    pub fn overview(&self, run: &RunRef) -> Overview {
        let Some(stamp) = stamp(&run.dir).filter(|_| run.refused.is_none()) else { return overview(run) };
        let kept =
            self.0.lock().expect("not poisoned").get(&run.dir).filter(|(s, o)| *s == stamp && o.id == run.id).cloned();
        let Some((stamp, mut row)) = kept else {
            let row = overview(run);
            self.0.lock().expect("not poisoned").insert(run.dir.clone(), (stamp, row.clone()));
            return row;
        };
        if matches!(row.status, RunStatus::Running { .. }) {
            row.status = status(run, &mut row.warnings);
        }
        let modified = stamp.iter().map(|e| e.2).max();
        row.idle_s = modified.map(|t| SystemTime::now().duration_since(t).unwrap_or(Duration::ZERO).as_secs());
        row
    }

    /// Forgets the rows of runs that are not among `runs` any more.
    pub fn keep_only(&self, runs: &[RunRef]) {
        let here: std::collections::HashSet<&Path> = runs.iter().map(|r| r.dir.as_path()).collect();
        self.0.lock().expect("not poisoned").retain(|dir, _| here.contains(dir.as_path()));
    }
}

/// Whether `run` is going, and if not, how it ended.
pub fn status(run: &RunRef, warnings: &mut Vec<String>) -> RunStatus {
    if let Some(reason) = &run.refused {
        return RunStatus::Refused { reason: reason.clone() };
    }
    let dir = &run.dir;
    if let Some(holder) = text(dir, "lock", warnings).map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
        && holder_alive(&holder)
    {
        return RunStatus::Running { holder };
    }
    if dir.join("summary.csv").is_file() {
        return RunStatus::Finished;
    }
    // the error that ended the last start, if one did
    let log = read_inside(dir, "run.log", Part::Tail(TAIL_BYTES)).map(|b| String::from_utf8_lossy(&b).into_owned());
    let log = log.unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    let last_start = lines.iter().rposition(|l| l.contains(" start: ")).unwrap_or(0);
    // a line is `TIME TEXT`
    match lines[last_start..].iter().rev().find_map(|l| l.split_once(' ')?.1.strip_prefix(STOPPED)) {
        Some(error) => RunStatus::Stopped { error: error.to_string() },
        None => RunStatus::Interrupted,
    }
}

/// Whether the process a lock file names still runs: checked when it runs
/// on this host; a holder on another host is taken at its word.
fn holder_alive(holder: &str) -> bool {
    let Some(pid) = holder_pid(holder) else { return true };
    let host = holder.split(" on ").nth(1).and_then(|h| h.split(',').next()).unwrap_or("");
    let here = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    host.trim() != here.trim() || Path::new("/proc").join(pid.to_string()).exists()
}

/// When any file directly in `dir` last changed.
fn last_modified(dir: &Path) -> Option<SystemTime> {
    std::fs::read_dir(dir).ok()?.flatten().filter_map(|e| e.metadata().ok()?.modified().ok()).max()
}

/// The text of the file `name` in `dir`, or None (and a warning, unless it
/// is simply absent).
pub fn text(dir: &Path, name: &str, warnings: &mut Vec<String>) -> Option<String> {
    read(dir, name, Part::All, warnings)
}

fn read(dir: &Path, name: &str, part: Part, warnings: &mut Vec<String>) -> Option<String> {
    match read_inside(dir, name, part) {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            warnings.push(format!("{name}: {e}"));
            None
        }
    }
}

/// The last lines of the file `name` in `dir`.
pub fn tail(dir: &Path, name: &str, warnings: &mut Vec<String>) -> Option<String> {
    let text = read(dir, name, Part::Tail(TAIL_BYTES), warnings)?;
    let lines: Vec<&str> = text.lines().collect();
    Some(lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n"))
}

/// A CSV file of `dir` as a table of text: its header and the rows that
/// read with as many fields; a torn last line (no newline yet) and any
/// malformed row are left out and named.
pub fn csv_table(dir: &Path, name: &str, warnings: &mut Vec<String>) -> (Vec<String>, Vec<Vec<String>>) {
    let Some(text) = text(dir, name, warnings) else { return (Vec::new(), Vec::new()) };
    let complete = complete_lines(&text);
    if complete.len() != text.len() {
        warnings.push(format!("{name}: its last line is still being written, left out"));
    }
    let mut reader = csv::ReaderBuilder::new().from_reader(complete.as_bytes());
    let headers: Vec<String> = reader.headers().map(|h| h.iter().map(str::to_string).collect()).unwrap_or_default();
    let mut rows = Vec::new();
    for record in reader.records() {
        match record {
            Ok(r) => rows.push(r.iter().map(str::to_string).collect()),
            Err(e) => {
                let line = e.position().map_or_else(String::new, |p| format!("line {} ", p.line()));
                warnings.push(format!("{name}: {line}is torn or malformed, left out"));
            }
        }
    }
    (headers, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(dir: &Path) -> String {
        let run = RunRef { id: String::new(), dir: dir.to_path_buf(), refused: None };
        match status(&run, &mut Vec::new()) {
            RunStatus::Running { holder } => format!("running {holder}"),
            RunStatus::Finished => "finished".into(),
            RunStatus::Stopped { error } => format!("stopped {error}"),
            RunStatus::Interrupted => "interrupted".into(),
            RunStatus::Refused { reason } => format!("refused {reason}"),
        }
    }

    #[test]
    fn a_runs_status_comes_from_its_lock_its_summary_and_its_log() {
        let dir = std::env::temp_dir().join(format!("nas-serve-status-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        let log = |lines: &[&str]| std::fs::write(dir.join("run.log"), lines.join("\n") + "\n").unwrap();
        log(&["2026-01-01T00:00:00Z start: stage SampleData"]);
        assert_eq!(state(&dir), "interrupted");
        log(&["T start: stage Train", "T evaluation failed: stopped: not this", "T stopped: the evaluator crashed"]);
        assert_eq!(state(&dir), "stopped the evaluator crashed");
        log(&["T start: stage Train", "T stopped: the evaluator crashed", "T start: stage Train"]);
        assert_eq!(state(&dir), "interrupted", "resumed after the error, then killed");
        // a lock whose holder has ended (killed) is not a running run
        std::fs::write(dir.join("lock"), format!("pid 4000000000 on {}, since T", host.trim())).unwrap();
        assert_eq!(state(&dir), "interrupted");
        std::fs::write(dir.join("summary.csv"), "x\n").unwrap();
        assert_eq!(state(&dir), "finished");
        let me = format!("pid {} on {}, since T", std::process::id(), host.trim());
        std::fs::write(dir.join("lock"), &me).unwrap();
        assert_eq!(state(&dir), format!("running {me}"), "a live holder: running again (a resume)");
        std::fs::write(dir.join("lock"), "pid 4000000000 on another-host, since T").unwrap();
        assert!(state(&dir).starts_with("running"), "a holder on another host is taken at its word");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
