//! Evaluation processes on this machine, so that none outlives its driver
//! unseen.
//!
//! Three layers, each for the deaths the one before cannot see:
//! - Ctrl-C and SIGTERM of the driver kill the process groups it started
//!   (`crate::interrupt`).
//! - Each evaluation runs under a small `sh` supervisor that leads its
//!   process group and gets SIGTERM when the driver dies in any way
//!   (Linux's `PR_SET_PDEATHSIG`: `kill -9`, the OOM killer, a crash, a
//!   closed terminal); it then sends SIGTERM to its whole group and SIGKILL
//!   once its child has ended, or [`GROUP_GRACE_S`] seconds later.
//! - Every process an evaluation starts carries the run's mark in its
//!   environment ([`RUN_MARK`]), which survives `setsid` and double forks,
//!   and each attempt records its group leader (pid, start time, boot) in
//!   its work folder ([`RECORD`]). Before a run evaluates anything, a new
//!   driver stops what its previous life left running
//!   ([`stop_leftovers`]): SIGTERM, then SIGKILL after [`STOP_GRACE`].
//!   A process is signalled only while it is provably that process: through
//!   a pidfd opened before its start time is checked again, so a pid the
//!   kernel gave to another process since is never signalled.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The environment variable every evaluation process carries: the run
/// directory's canonical path.
pub const RUN_MARK: &str = "NAS_SEARCH_RUN";
/// The environment variable naming the evaluation's work folder.
pub const WORKDIR_MARK: &str = "NAS_SEARCH_WORKDIR";
/// The attempt's record in its work folder.
pub const RECORD: &str = "nas-search-process.json";
/// Seconds the supervisor gives its group between SIGTERM and SIGKILL when
/// the driver died.
pub const GROUP_GRACE_S: u32 = 10;
/// How long [`stop_leftovers`] waits after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// The supervisor: runs the command (`$1`) as a child in its own group and
/// exits with its status. On SIGTERM (the driver died) it sends SIGTERM to
/// the whole group, waits for its child, then SIGKILLs what is left of the
/// group (itself included); a timer SIGKILLs the group after the grace
/// period if the child outlives it. The handler writes nothing to the
/// driver's pipes, whose reader is gone: dash's "Terminated" about its
/// child went there and its SIGPIPE killed the supervisor before its last
/// SIGKILL, leaving the timer (seen with strace).
const SUPERVISOR: &str = "trap 'trap \"\" TERM PIPE; exec >/dev/null 2>&1; kill -TERM 0; (sleep GRACE; kill -KILL 0) & wait $child; kill -KILL 0' TERM\n\
                          sh -c \"$1\" &\n\
                          child=$!\n\
                          wait $child";

/// The run's mark: its directory as the kernel resolves it (the same
/// whichever way a later driver names it).
pub fn run_mark(run_dir: &Path) -> Result<String> {
    let path = match std::fs::canonicalize(run_dir) {
        Ok(p) => p,
        Err(_) => std::path::absolute(run_dir).with_context(|| format!("resolving {}", run_dir.display()))?,
    };
    Ok(path.to_string_lossy().into_owned())
}

/// `sh -c cmd` under the supervisor, marked as run `mark`'s evaluation in
/// `workdir`, leading a new process group that dies with this process.
pub fn command(cmd: &str, mark: &str, workdir: &Path) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(SUPERVISOR.replace("GRACE", &GROUP_GRACE_S.to_string()))
        .arg("nas-search-evaluation")
        .arg(cmd)
        .env(RUN_MARK, mark)
        .env(WORKDIR_MARK, workdir)
        .process_group(0);
    die_with_parent(&mut c);
    c
}

#[cfg(target_os = "linux")]
fn die_with_parent(c: &mut Command) {
    let parent = std::process::id();
    // SAFETY: prctl and getppid are async-signal-safe and touch no memory of ours.
    unsafe {
        c.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // the driver died between fork and prctl: no signal will come
            if libc::getppid() as u32 != parent {
                // (no allocation between fork and exec)
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_: &mut Command) {}

/// An attempt's group leader, as its work folder records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The supervisor's pid, which is also its process group's id.
    pub pid: u32,
    /// Its start time (clock ticks since boot, /proc/PID/stat field 22).
    pub start: u64,
    /// The boot it ran in (a pid of another boot is another process).
    pub boot: String,
    /// The driver that started it.
    pub driver: u32,
}

impl Record {
    /// The record of the process `pid` just started, or None where the
    /// system has no /proc (then only the mark finds its processes).
    pub fn of(pid: u32) -> Option<Self> {
        Some(Self { pid, start: stat(pid)?.start, boot: boot_id()?, driver: std::process::id() })
    }

    /// Writes it into `workdir` (atomically: a driver killed meanwhile leaves the old one or this one).
    pub fn write(&self, workdir: &Path) -> Result<()> {
        crate::atomic_file::write_atomic(&workdir.join(RECORD), &serde_json::to_vec(self)?)
    }
}

/// What `/proc/PID/stat` says of a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stat {
    state: char,
    pgrp: u32,
    start: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // the command name may hold spaces and parentheses: fields follow the last ')'
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); pgrp is field 5, starttime field 22
    Some(Stat {
        state: fields.first()?.chars().next()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok().map(|s| s.trim().to_string())
}

/// The value of `name` in a process's environment (as it was at its exec).
fn environ(pid: u32, name: &str) -> Option<String> {
    let bytes = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{name}=");
    bytes.split(|&b| b == 0).find_map(|kv| {
        let kv = String::from_utf8_lossy(kv);
        kv.strip_prefix(&prefix).map(String::from)
    })
}

fn cmdline(pid: u32) -> String {
    let bytes = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let words: Vec<String> =
        bytes.split(|&b| b == 0).filter(|w| !w.is_empty()).map(|w| String::from_utf8_lossy(w).into_owned()).collect();
    let line = words.join(" ");
    if line.chars().count() > 120 { format!("{}...", line.chars().take(120).collect::<String>()) } else { line }
}

fn all_pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect()
}

/// A process a previous driver of the run left running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leftover {
    pub pid: u32,
    /// Its start time, which identifies it with its pid.
    start: u64,
    /// Its command line (shortened).
    pub command: String,
    /// The work folder of its evaluation, where known.
    pub workdir: Option<PathBuf>,
    /// Whether SIGKILL was needed (it outlived SIGTERM by the grace period).
    pub killed: bool,
}

/// The processes of run `mark` running now, other than this process: those
/// carrying the mark, and the members of each recorded group whose leader
/// is still the recorded process.
fn find(mark: &str, records: &[Record]) -> BTreeMap<u32, Leftover> {
    let me = std::process::id();
    let boot = boot_id();
    let leader = |r: &Record| {
        Some(&r.boot) == boot.as_ref() && stat(r.pid).is_some_and(|s| s.start == r.start && s.state != 'Z')
    };
    // a group's members started after its leader; the leader is checked again after the scan
    let groups: BTreeMap<u32, &Record> = records.iter().filter(|r| leader(r)).map(|r| (r.pid, r)).collect();
    let mut out = BTreeMap::new();
    for pid in all_pids() {
        if pid == me {
            continue;
        }
        let Some(s) = stat(pid) else { continue };
        if s.state == 'Z' || s.state == 'X' {
            continue;
        }
        let marked = environ(pid, RUN_MARK).is_some_and(|m| m == mark);
        let member = groups.get(&s.pgrp).is_some_and(|r| s.start >= r.start);
        if marked || member {
            let workdir = environ(pid, WORKDIR_MARK).map(PathBuf::from);
            out.insert(
                pid,
                (marked, s.pgrp, Leftover { pid, start: s.start, command: cmdline(pid), workdir, killed: false }),
            );
        }
    }
    // a leader gone during the scan may have left its pid to another group's leader
    let still: BTreeSet<u32> = groups.values().filter(|r| leader(r)).map(|r| r.pid).collect();
    out.into_iter()
        .filter(|(_, (marked, pgrp, _))| *marked || still.contains(pgrp))
        .map(|(pid, (_, _, l))| (pid, l))
        .collect()
}

/// Sends `signal` to `pid` only if it is still the process that started at
/// `start`: through a pidfd (which names one process for good) opened
/// before the start time is read again. Returns whether it was sent.
fn signal(pid: u32, start: u64, signal: i32) -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: pidfd_open takes a pid and flags and returns a descriptor we own.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_long, 0 as libc::c_long) };
        if fd >= 0 {
            let fd = fd as libc::c_int;
            let same = stat(pid).is_some_and(|s| s.start == start);
            // SAFETY: the descriptor is ours; a null siginfo is allowed; close ends it.
            let sent = same
                && unsafe {
                    libc::syscall(libc::SYS_pidfd_send_signal, fd, signal, std::ptr::null::<libc::siginfo_t>(), 0)
                } == 0;
            unsafe {
                libc::close(fd);
            }
            return sent;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS) {
            return false; // gone (ESRCH) or not ours to signal
        }
    }
    // no pidfds (Linux before 5.3): check, then signal at once
    // SAFETY: kill(2) touches no memory of ours.
    stat(pid).is_some_and(|s| s.start == start) && unsafe { libc::kill(pid as libc::pid_t, signal) } == 0
}

/// Whether `l` is still running (a zombie is not).
fn alive(l: &Leftover) -> bool {
    stat(l.pid).is_some_and(|s| s.start == l.start && s.state != 'Z' && s.state != 'X')
}

/// The attempt records under the run's `eval/` folder (unreadable ones skipped).
fn records(run_dir: &Path) -> Vec<(PathBuf, Record)> {
    let Ok(entries) = std::fs::read_dir(run_dir.join("eval")) else { return Vec::new() };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let path = e.path().join(RECORD);
        if let Some(r) = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<Record>(&b).ok()) {
            out.push((path, r));
        }
    }
    out
}

/// SIGKILLs every process carrying run `mark` at once (Ctrl-C: the
/// groups are killed already; this reaches those that left them).
pub fn kill_marked(mark: &str) {
    for l in find(mark, &[]).values() {
        signal(l.pid, l.start, libc::SIGKILL);
    }
}

/// Stops every process a previous driver of the run in `run_dir` left
/// running (SIGTERM; SIGKILL to those still there after `grace`), waits
/// until they are gone, removes the attempt records, and returns what it
/// stopped. Call it before the run evaluates anything.
pub fn stop_leftovers(run_dir: &Path, grace: Duration) -> Result<Vec<Leftover>> {
    let mark = run_mark(run_dir)?;
    let recorded = records(run_dir);
    let groups: Vec<Record> = recorded.iter().map(|(_, r)| r.clone()).collect();
    let mut stopped: BTreeMap<u32, Leftover> = BTreeMap::new();
    // a process may start others while it is being stopped: look again until none is left
    for _ in 0..20 {
        let found = find(&mark, &groups);
        if found.is_empty() {
            for (path, _) in &recorded {
                let _ = std::fs::remove_file(path);
            }
            return Ok(stopped.into_values().collect());
        }
        for l in found.values() {
            signal(l.pid, l.start, libc::SIGTERM);
        }
        let until = Instant::now() + grace;
        while Instant::now() < until && found.values().any(alive) {
            std::thread::sleep(Duration::from_millis(50));
        }
        for mut l in found.into_values() {
            if alive(&l) {
                l.killed = signal(l.pid, l.start, libc::SIGKILL);
            }
            stopped.entry(l.pid).or_insert(l);
        }
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until && stopped.values().any(alive) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let left: Vec<String> = find(&mark, &groups).values().map(|l| format!("pid {} ({})", l.pid, l.command)).collect();
    anyhow::bail!(
        "processes of this run's previous driver are still running after SIGKILL: {}; stop them, then resume",
        left.join(", ")
    )
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn stat_reads_this_process_past_a_name_with_spaces_and_parentheses() {
        let me = stat(std::process::id()).expect("/proc");
        assert!(me.start > 0);
        // a command name with ") (" in it: the fields are read after the last ')'
        let dir = std::env::temp_dir().join(format!("nas-search-stat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let exe = dir.join("a) (b");
        std::fs::copy("/bin/sleep", &exe).unwrap();
        let mut child = Command::new(&exe).arg("5").spawn().unwrap();
        let s = stat(child.id()).unwrap();
        assert_eq!(s.pgrp, me.pgrp, "a child stays in our group");
        assert!(s.start >= me.start);
        child.kill().unwrap();
        child.wait().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_pid_with_another_start_time_is_not_signalled() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let s = stat(child.id()).unwrap();
        assert!(!signal(child.id(), s.start + 1, libc::SIGKILL), "another start time: not ours");
        assert!(child.try_wait().unwrap().is_none(), "still running");
        assert!(signal(child.id(), s.start, libc::SIGKILL));
        assert!(!child.wait().unwrap().success());
    }
}
