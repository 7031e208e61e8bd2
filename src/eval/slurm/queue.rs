//! What the scheduler says: `squeue` asked (with retries and warnings when
//! it fails) about the tasks without a result, a job found by its name, and
//! the fate each state means for a task ([`Fate`]).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::SlurmEvaluator;
use super::submit::same_dir;
use crate::eval::{EvalEvent, Events};

/// What squeue says of a task without a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fate {
    /// On its way (pending, running, or run again by Slurm itself: an
    /// admin's forced requeue); wait, never resubmit.
    Waiting,
    /// In a state only someone on the cluster ends (REQUEUE_HOLD, SUSPENDED,
    /// STOPPED, or one this driver does not know): wait, and warn.
    Held,
    /// Infrastructure: resubmit.
    Requeue,
    Failed,
    Cancelled,
    /// Ended (or unknown to Slurm) without a result file: look again for
    /// `result_grace_s`, then give up.
    Ended,
}

pub(super) fn fate(state: Option<&str>) -> Fate {
    match state {
        Some(s) if s.starts_with("CANCELLED") => Fate::Cancelled,
        Some("TIMEOUT" | "PREEMPTED" | "NODE_FAIL" | "BOOT_FAIL" | "DEADLINE") => Fate::Requeue,
        Some("FAILED" | "OUT_OF_MEMORY" | "SPECIAL_EXIT") => Fate::Failed,
        Some("COMPLETED") | None => Fate::Ended,
        Some(
            "PENDING" | "CONFIGURING" | "RUNNING" | "COMPLETING" | "REQUEUED" | "REQUEUE_FED" | "RESIZING"
            | "SIGNALING" | "STAGE_OUT",
        ) => Fate::Waiting,
        Some(_) => Fate::Held,
    }
}

/// Since when something has been wrong, and when it was last said.
pub(super) struct Stuck {
    pub(super) since: Instant,
    pub(super) warned: Option<Instant>,
}

impl Stuck {
    /// Wrong from now on.
    pub(super) fn new() -> Self {
        Self { since: Instant::now(), warned: None }
    }

    /// True when a warning is due: wrong for `after` and not warned of
    /// within `after`.
    pub(super) fn due(&mut self, after: Duration) -> bool {
        let due = self.since.elapsed() >= after && self.warned.is_none_or(|w| w.elapsed() >= after);
        if due {
            self.warned = Some(Instant::now());
        }
        due
    }
}

impl SlurmEvaluator {
    /// squeue's stdout for `args`. A failing squeue is retried with backoff
    /// and logged, never taken for an answer; when it has failed for
    /// `stuck_warn_s`, a warning says so (again every `stuck_warn_s`).
    pub(super) fn squeue_retrying(&self, args: &[&str], events: Events) -> Result<String> {
        let mut wait = 1.0f64;
        let mut stuck = Stuck::new();
        loop {
            self.squeue_calls.fetch_add(1, Ordering::Relaxed);
            let problem = match Command::new("squeue").args(args).output() {
                Ok(o) if o.status.success() => return Ok(String::from_utf8_lossy(&o.stdout).into_owned()),
                Ok(o) => format!("squeue failed ({}): {}", o.status, String::from_utf8_lossy(&o.stderr).trim()),
                Err(e) => format!("squeue could not run: {e}"),
            };
            self.log(&format!("{problem}; trying again in {wait:.0} s"));
            if stuck.due(Duration::from_secs_f64(self.cfg.stuck_warn_s)) {
                let secs = stuck.since.elapsed().as_secs_f64();
                let line = format!(
                    "Slurm: squeue has been failing for {secs:.0} s ({problem}); the run waits for it. \
                     Check the cluster with `scontrol ping` and `squeue -u {}`; every attempt is in {}",
                    self.user,
                    self.root.join("submissions.log").display()
                );
                self.log(&format!("warning: {line}"));
                events(EvalEvent::Warning(line))?;
            }
            std::thread::sleep(Duration::from_secs_f64(wait));
            wait = (wait * 2.0).min(self.cfg.poll_s.max(1.0) * 4.0);
        }
    }

    /// The state of each task of our jobs, by `JOBID_INDEX`: one squeue
    /// call (retried until squeue answers: the results are files).
    pub(super) fn squeue(&self, job_ids: &HashSet<String>, events: Events) -> Result<HashMap<String, String>> {
        let out = self.squeue_retrying(&["-h", "-r", "--states=all", "-u", &self.user, "-o", "%i|%T"], events)?;
        Ok(out
            .lines()
            .filter_map(|l| l.split_once('|'))
            .filter(|(id, _)| id.split('_').next().is_some_and(|j| job_ids.contains(j)))
            .map(|(id, state)| (id.trim().to_string(), state.trim().to_string()))
            .collect())
    }

    /// The array job id of batch `batch`, submitted (perhaps) by a process
    /// that died before it recorded the id: found by its job name `name`,
    /// and only if that job runs in this run's batch folder. `None` when
    /// squeue answered and knows no such job; a failing squeue is waited
    /// for, never taken for "no job".
    pub(super) fn find_job(&self, name: &str, batch: usize, events: Events) -> Result<Option<String>> {
        let out = self.squeue_retrying(&["-h", "--states=all", "-u", &self.user, "-n", name, "-o", "%F|%Z"], events)?;
        let ours = self.batch_dir(batch);
        for (id, workdir) in out.lines().filter_map(|l| l.split_once('|')) {
            let (id, workdir) = (id.trim(), Path::new(workdir.trim()));
            if same_dir(workdir, &ours) {
                return Ok(Some(id.to_string()));
            }
            self.log(&format!(
                "batch {batch}: job {id} is named {name} but runs in {}, not in {}: another run's, not attaching",
                workdir.display(),
                ours.display()
            ));
        }
        Ok(None)
    }
}
