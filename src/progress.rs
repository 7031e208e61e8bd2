//! Progress on stderr: a bar on a terminal; plain lines when stderr is a
//! file or a pipe (nohup, Slurm, `2> log`), where a bar shows nothing: each
//! [`Progress::note`] (a finished evaluation) and the position at most every
//! [`PLAIN_EVERY`] and at the end. Nothing with `--quiet`.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Seconds between two plain position lines.
pub const PLAIN_EVERY: Duration = Duration::from_secs(30);

/// A progress display of `len` steps.
pub struct Progress {
    bar: ProgressBar,
    /// Plain lines instead of a bar: what, steps, when the last line was written.
    plain: Option<Plain>,
}

struct Plain {
    what: String,
    len: u64,
    state: Mutex<(u64, String, Option<Instant>)>,
}

/// A display of `len` steps named `what`.
pub fn bar(len: u64, what: &str, quiet: bool) -> Progress {
    if quiet {
        return Progress { bar: ProgressBar::hidden(), plain: None };
    }
    if !std::io::stderr().is_terminal() {
        let plain = Plain { what: what.to_string(), len, state: Mutex::new((0, String::new(), None)) };
        return Progress { bar: ProgressBar::hidden(), plain: Some(plain) };
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} eta {eta} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_string());
    Progress { bar: pb, plain: None }
}

impl Progress {
    pub fn set_position(&self, pos: u64) {
        self.bar.set_position(pos);
        self.plain_update(|s| s.0 = pos);
    }

    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
        self.plain_update(|s| s.0 += n);
    }

    pub fn set_message(&self, msg: String) {
        if let Some(p) = &self.plain {
            p.state.lock().unwrap_or_else(|e| e.into_inner()).1 = msg.clone();
        }
        self.bar.set_message(msg);
    }

    /// A line that stands on its own (a finished evaluation): written as it
    /// is in plain mode; on a terminal the bar's message shows instead.
    pub fn note(&self, line: &str) {
        if let Some(p) = &self.plain {
            eprintln!("{}: {line}", p.what);
        }
    }

    /// Runs `f` (which writes to stderr) with the bar hidden meanwhile.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    pub fn finish_and_clear(&self) {
        self.bar.finish_and_clear();
    }

    /// Applies `f` to the plain state and writes a position line when one is due.
    fn plain_update(&self, f: impl FnOnce(&mut (u64, String, Option<Instant>))) {
        let Some(p) = &self.plain else { return };
        let mut s = p.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s);
        let due = s.2.is_none_or(|t| t.elapsed() >= PLAIN_EVERY) || s.0 >= p.len;
        if due {
            let msg = if s.1.is_empty() { String::new() } else { format!(" ({})", s.1) };
            eprintln!("{}: {}/{}{msg}", p.what, s.0, p.len);
            s.2 = Some(Instant::now());
        }
    }
}
