//! The `slurm` evaluator: each batch of evaluations is one Slurm job array
//! (`sbatch --array=0-(N-1)%P --no-requeue`; several arrays when N exceeds
//! the cluster's `MaxArraySize`), one task per architecture, running either
//! a command (the `command` evaluator's placeholders and result line) or,
//! with `builtin:`, `nas-search eval-one` (the built-in trainer on the node).
//!
//! Results are files; the scheduler is only a liveness signal. A task's
//! wrapper writes `result.json` (exit code, seconds) atomically when its
//! command ends; the driver collects finished tasks from those files as they
//! appear, and asks `squeue` (one call per `poll_s`, whatever the number of
//! tasks) only about the tasks without one: TIMEOUT, PREEMPTED, NODE_FAIL,
//! BOOT_FAIL or a task Slurm forgot are resubmitted (a new small array, the
//! same `{workdir}`, the old task scancelled first) up to `max_requeue`
//! times; FAILED, OUT_OF_MEMORY, a failing command or a garbage result are
//! failed evaluations with the stderr tail; CANCELLED is a failed evaluation
//! named as such. Only the driver resubmits (`--no-requeue`: Slurm neither
//! requeues a task by itself nor lets `scontrol requeue` run it twice). A
//! task that ended without a readable `result.json` is looked at again for
//! `result_grace_s` (shared storage can show a new file late) before it
//! counts as lost. A failing squeue, or tasks held in a state the driver
//! does not wait on (REQUEUE_HOLD, SUSPENDED, ...), are reported as
//! warnings every `stuck_warn_s`.
//!
//! The tasks in flight (job ids and array indices) are in
//! `RUN_DIR/slurm/inflight.json`, written before sbatch runs and again with
//! its job id, so a resumed run re-attaches to them instead of submitting
//! again; a task leaves it only after its result is recorded. Job names
//! carry a run id kept there, and a batch whose sbatch answer was lost is
//! attached to only if the job found by that name runs in this run's batch
//! folder. Files: `RUN_DIR/slurm/batch-<b>/job.sh`,
//! `<index>/{cmd.sh,stdout,stderr,slurm.out,result.json}`,
//! `RUN_DIR/slurm/work/<budget>-<hash>/` (the task's `{workdir}`), and
//! `submissions.log` (every sbatch, scancel and squeue problem).
//!
//! Files: `config.rs` (the keys), `ledger.rs` (inflight.json), `submit.rs`
//! (sbatch and the job script), `queue.rs` (squeue), `collect.rs` (results
//! and verdicts); this file the evaluator and its loop.

mod collect;
mod config;
mod ledger;
mod queue;
mod submit;

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{Budget, EvalContext, EvalJob, EvalSeconds, Evaluator, Events, Flow, Measures};
use crate::atomic_file::write_atomic;
use collect::{JobIndex, Watch};
pub use config::SlurmConfig;
pub use ledger::cancel;
use ledger::{Inflight, Task, load_inflight, new_run_id};

pub struct SlurmEvaluator {
    cfg: SlurmConfig,
    /// `RUN_DIR/slurm` (absolute).
    root: PathBuf,
    /// The run directory's name, for job names.
    run_name: String,
    /// `RUN_DIR/config.yaml`, which `eval-one` reads.
    config_path: PathBuf,
    cwd: PathBuf,
    exe: PathBuf,
    user: String,
    squeue_calls: AtomicUsize,
    /// The cluster's `MaxArraySize`, read once, when first needed.
    max_array_size: OnceLock<usize>,
}

/// This user's name (`id -un`), whose jobs squeue is asked about; an error
/// when there is none (squeue would fail on every call, for good).
fn user_name() -> Result<String> {
    let out = Command::new("id").arg("-un").output().context("running `id -un`")?;
    let user = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || user.is_empty() {
        bail!(
            "`id -un` gave no user name ({}: {}): the slurm evaluator asks squeue for this user's jobs; \
             run nas-search as a user with a name (an entry in the passwd database)",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(user)
}

/// Whether a program is on PATH.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

impl SlurmEvaluator {
    pub fn new(cfg: SlurmConfig, ctx: &EvalContext) -> Result<Self> {
        cfg.validate()?;
        for program in ["sbatch", "squeue", "scancel"] {
            if !on_path(program) {
                bail!(
                    "{program} is not on PATH: the slurm evaluator submits with sbatch and watches with squeue; \
                     run nas-search on a login node of the cluster (or use evaluator.kind: command)"
                );
            }
        }
        let absolute = |p: &Path| std::path::absolute(p).with_context(|| format!("resolving {}", p.display()));
        let run_dir = absolute(ctx.run_dir)?;
        let exe = match &cfg.nas_search {
            Some(p) => absolute(p)?,
            None => std::env::current_exe().context("finding this nas-search binary (set evaluator.nas_search)")?,
        };
        let user = user_name()?;
        Ok(Self {
            cwd: absolute(cfg.cwd.as_deref().unwrap_or(Path::new(".")))?,
            root: run_dir.join("slurm"),
            run_name: run_dir.file_name().map_or("run".into(), |n| n.to_string_lossy().to_string()),
            config_path: run_dir.join("config.yaml"),
            exe,
            user,
            squeue_calls: AtomicUsize::new(0),
            max_array_size: OnceLock::new(),
            cfg,
        })
    }

    /// squeue calls made so far (for the benchmark).
    pub fn squeue_calls(&self) -> usize {
        self.squeue_calls.load(Ordering::Relaxed)
    }

    fn log(&self, line: &str) {
        let _ = std::fs::create_dir_all(&self.root);
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(self.root.join("submissions.log"))
        {
            let _ = writeln!(f, "{} {line}", crate::clock::utc_now());
        }
    }

    fn load(&self) -> Result<Inflight> {
        load_inflight(&self.root)
    }

    fn save(&self, inflight: &Inflight) -> Result<()> {
        std::fs::create_dir_all(&self.root)?;
        write_atomic(&self.root.join("inflight.json"), &serde_json::to_vec_pretty(inflight)?)
    }

    fn batch_dir(&self, batch: usize) -> PathBuf {
        self.root.join(format!("batch-{batch}"))
    }

    fn task_dir(&self, t: &Task) -> PathBuf {
        self.batch_dir(t.batch).join(t.index.to_string())
    }
}

impl Evaluator for SlurmEvaluator {
    fn evaluate(&self, jobs: &[EvalJob], events: Events) -> Result<()> {
        let index: JobIndex = jobs.iter().enumerate().map(|(i, j)| ((j.key.clone(), j.budget), i)).collect();
        let mut inflight = self.load()?;
        // tasks of other evaluations were recorded already
        inflight.tasks.retain(|t| index.contains_key(&(t.key.clone(), t.budget)));
        self.attach_unrecorded(&mut inflight, events)?;
        if inflight.run_id.is_none() {
            inflight.run_id = Some(new_run_id());
        }
        let attached: HashSet<(String, Budget)> = inflight.tasks.iter().map(|t| (t.key.clone(), t.budget)).collect();
        if !attached.is_empty() {
            self.log(&format!("re-attached to {} tasks in flight", attached.len()));
        }
        let new: Vec<(EvalJob, usize)> =
            jobs.iter().filter(|j| !attached.contains(&(j.key.clone(), j.budget))).map(|j| (j.clone(), 0)).collect();
        if !new.is_empty() {
            self.submit(&mut inflight, new, &[])?;
        } else {
            self.save(&inflight)?;
        }
        let mut watch = Watch::default();
        let poll = Duration::from_secs_f64(self.cfg.poll_s);
        let mut last_squeue = Instant::now();
        loop {
            // finished tasks, from their result files
            if self.collect_finished(&mut inflight, &index, &mut watch, events)? == Flow::Stop {
                return self.stop(&mut inflight);
            }
            if inflight.tasks.is_empty() {
                return Ok(());
            }
            if last_squeue.elapsed() < poll {
                std::thread::sleep(poll.min(Duration::from_secs(1)));
                continue;
            }
            last_squeue = Instant::now();
            if self.check_unfinished(&mut inflight, jobs, &index, &mut watch, events)? == Flow::Stop {
                return self.stop(&mut inflight);
            }
        }
    }

    fn measures(&self) -> Measures {
        match &self.cfg.builtin {
            Some(b) => super::builtin::measures_of(&b.data, "trained by the built-in trainer on Slurm nodes"),
            None => Measures {
                signal: "the accuracy (%) your command reports (run as Slurm tasks)".into(),
                report: Some(format!(
                    "`{}` (%) your command reports apart, where it gives one (else its accuracy)",
                    super::command::REPORT_ACCURACY
                )),
                signal_is_test: false,
                seconds: EvalSeconds::Wall,
            },
        }
    }

    /// `max_parallel` (1 when unset: an array without a bound has no
    /// number a baseline's waves could follow).
    fn parallelism(&self) -> usize {
        self.cfg.max_parallel.unwrap_or(1)
    }
}

#[cfg(test)]
mod tests {
    use super::queue::{Fate, Stuck, fate};
    use super::submit::job_script;
    use super::*;

    #[test]
    fn a_task_that_ends_cleanly_on_usr1_is_recorded_with_its_own_status() {
        // the job script run by bash as Slurm would start it, signalled as --signal=B:USR1 does; a task
        // that checkpoints and exits 0 on USR1 must not be recorded as killed (138), however soon it ends
        // after the signal (a race: repeated)
        let dir = std::env::temp_dir().join(format!("nas-search-usr1-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("0")).unwrap();
        let mark = dir.join("0/started");
        let cmd = format!("trap 'exit 0' USR1\necho started > {}\nsleep 30 &\nwait\n", mark.display());
        std::fs::write(dir.join("0/cmd.sh"), cmd).unwrap();
        std::fs::write(dir.join("job.sh"), job_script(&dir, &dir, 0, "test")).unwrap();
        for attempt in 0..40 {
            let _ = std::fs::remove_file(&mark);
            let _ = std::fs::remove_file(dir.join("0/result.json"));
            let mut job = Command::new("bash").arg(dir.join("job.sh")).env("SLURM_ARRAY_TASK_ID", "0").spawn().unwrap();
            while !mark.exists() {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            // the script sets its trap right after starting the task
            std::thread::sleep(std::time::Duration::from_millis(50));
            // SAFETY: signals the job script this test started
            unsafe { libc::kill(job.id() as i32, libc::SIGUSR1) };
            assert!(job.wait().unwrap().success());
            let result = std::fs::read_to_string(dir.join("0/result.json")).unwrap();
            assert!(result.contains("\"exit_code\": 0,"), "attempt {attempt}: {result}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn squeue_states_decide_what_happens() {
        assert_eq!(fate(Some("RUNNING")), Fate::Waiting);
        assert_eq!(fate(Some("PENDING")), Fate::Waiting);
        assert_eq!(fate(Some("COMPLETING")), Fate::Waiting);
        for s in ["TIMEOUT", "PREEMPTED", "NODE_FAIL", "BOOT_FAIL"] {
            assert_eq!(fate(Some(s)), Fate::Requeue, "{s}");
        }
        assert_eq!(fate(Some("FAILED")), Fate::Failed);
        assert_eq!(fate(Some("OUT_OF_MEMORY")), Fate::Failed);
        assert_eq!(fate(Some("CANCELLED")), Fate::Cancelled);
        assert_eq!(fate(Some("COMPLETED")), Fate::Ended);
        assert_eq!(fate(None), Fate::Ended);
        // run again by Slurm itself: waited for, never resubmitted
        assert_eq!(fate(Some("REQUEUED")), Fate::Waiting);
        for s in ["REQUEUE_HOLD", "SUSPENDED", "STOPPED", "SOMETHING_NEW"] {
            assert_eq!(fate(Some(s)), Fate::Held, "{s}");
        }
    }

    fn config(yaml: &str) -> SlurmConfig {
        serde_yaml::from_str(&format!("command: echo\n{yaml}")).unwrap()
    }

    #[test]
    fn durations_are_checked_by_key() {
        assert!(config("").validate().is_ok());
        let d = config("");
        assert_eq!((d.poll_s, d.result_grace_s, d.stuck_warn_s), (30.0, 120.0, 3600.0));
        for (yaml, needle) in [
            ("poll_s: 0", "evaluator.poll_s must be a number of seconds > 0"),
            ("poll_s: .inf", "evaluator.poll_s must be a number of seconds > 0"),
            ("poll_s: .nan", "evaluator.poll_s must be a number of seconds > 0"),
            ("poll_s: 1e300", "evaluator.poll_s must be a number of seconds > 0"),
            ("result_grace_s: -1", "evaluator.result_grace_s must be a number of seconds >= 0"),
            ("result_grace_s: .inf", "evaluator.result_grace_s must be a number of seconds >= 0"),
            ("stuck_warn_s: 0", "evaluator.stuck_warn_s must be a number of seconds > 0"),
            ("stuck_warn_s: 1e20", "evaluator.stuck_warn_s must be a number of seconds > 0"),
            ("sbatch_args: [--requeue]", "only the driver resubmits"),
        ] {
            let err = config(yaml).validate().unwrap_err().to_string();
            assert!(err.contains(needle), "{yaml}: {err}");
        }
        assert!(config("result_grace_s: 0").validate().is_ok());
    }

    #[test]
    fn an_inflight_file_without_a_run_id_still_loads() {
        let old = r#"{"tasks": [{"key": "k", "genotype": "g", "budget": "proxy", "batch": 0, "index": 0,
            "job_id": null, "requeues": 0}], "next_batch": 1}"#;
        let inflight: Inflight = serde_json::from_str(old).unwrap();
        assert_eq!((inflight.tasks.len(), inflight.run_id), (1, None));
    }

    #[test]
    fn a_warning_is_due_after_the_delay_and_then_at_most_that_often() {
        let mut s = Stuck::new();
        assert!(!s.due(Duration::from_secs(3600)));
        let mut s = Stuck::new();
        assert!(s.due(Duration::ZERO));
        assert!(!s.due(Duration::from_secs(3600)), "warned just now");
    }
}
