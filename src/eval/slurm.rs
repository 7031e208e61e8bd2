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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::builtin::BuiltinConfig;
use super::command::{NETWORK_MACS, NETWORK_PARAMS};
use super::command::{parse_output, prepare, stderr_tail, workdir_name};
use super::{
    Budget, Budgets, EvalContext, EvalEvent, EvalJob, EvalOutcome, EvalSeconds, Evaluator, Events, Flow, Measures,
};
use crate::atomic_file::write_atomic;
use crate::backend::DeviceKind;
use crate::net::Cost;

/// `evaluator: { kind: slurm, ... }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmConfig {
    /// The command a task runs (placeholders as the `command` evaluator's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Or: the built-in trainer's settings; a task runs `nas-search eval-one`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<Box<BuiltinConfig>>,
    /// The folder a task's command runs in (default: the config file's).
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    #[serde(default)]
    pub partition: Option<String>,
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub qos: Option<String>,
    /// Time limit per task, in Slurm's format (`4:00:00`, `1-00:00:00`).
    #[serde(default)]
    pub time: Option<String>,
    #[serde(default)]
    pub cpus_per_task: Option<u32>,
    /// Memory per node, in Slurm's format (`16G`).
    #[serde(default)]
    pub mem: Option<String>,
    /// GPUs per task (`--gres=gpu:N`).
    #[serde(default)]
    pub gpus_per_task: Option<u32>,
    /// Tasks of an array running at once (the `%P` of `--array`).
    #[serde(default)]
    pub max_parallel: Option<usize>,
    /// Further sbatch arguments, as given.
    #[serde(default)]
    pub sbatch_args: Vec<String>,
    /// Seconds between two `squeue` calls.
    #[serde(default = "d_poll")]
    pub poll_s: f64,
    /// Resubmissions of one architecture after infrastructure failures.
    #[serde(default = "d_requeue")]
    pub max_requeue: usize,
    /// Seconds a task Slurm says has ended may go without a readable
    /// `result.json` (shared storage can show a new file late) before it
    /// counts as lost.
    #[serde(default = "d_grace")]
    pub result_grace_s: f64,
    /// Seconds of a failing squeue, or of tasks held in a state the driver
    /// does not wait on, before a warning (repeated at most this often).
    #[serde(default = "d_stuck")]
    pub stuck_warn_s: f64,
    /// Settings written into each task's JSON file per budget (command only).
    #[serde(default, deserialize_with = "super::free_budgets")]
    pub budgets: Budgets<Value>,
    /// The nas-search binary the nodes run for `builtin` (default: this one;
    /// it must be on storage the nodes see).
    #[serde(default)]
    pub nas_search: Option<PathBuf>,
    /// Where `builtin` tasks train (default: the run's `device`, which is
    /// also where the driver trains the predictor): e.g. `cuda` on GPU nodes
    /// while the driver runs on a CPU login node.
    #[serde(default)]
    pub task_device: Option<DeviceKind>,
}

fn d_poll() -> f64 {
    30.0
}
fn d_requeue() -> usize {
    2
}
fn d_grace() -> f64 {
    120.0
}
fn d_stuck() -> f64 {
    3600.0
}

/// Slurm's `MaxArraySize` when `scontrol show config` does not say.
const DEFAULT_MAX_ARRAY_SIZE: usize = 1001;

/// A duration key of this section (`evaluator.KEY`), checked as every config duration is.
fn check_seconds(key: &str, value: f64, positive: bool) -> Result<()> {
    crate::config::check_seconds(&format!("evaluator.{key}"), value, !positive)
}

impl SlurmConfig {
    /// Refuses settings the evaluator cannot work with, naming the key.
    pub(crate) fn validate(&self) -> Result<()> {
        match (&self.command, &self.builtin) {
            (Some(c), None) if c.trim().is_empty() => bail!("evaluator.command is empty"),
            (Some(_), None) | (None, Some(_)) => {}
            _ => bail!(
                "evaluator: give either `command` (run on the nodes) or `builtin` (the built-in trainer), not both or neither"
            ),
        }
        check_seconds("poll_s", self.poll_s, true)?;
        check_seconds("result_grace_s", self.result_grace_s, false)?;
        check_seconds("stuck_warn_s", self.stuck_warn_s, true)?;
        if self.max_parallel == Some(0) {
            bail!("evaluator.max_parallel must be positive");
        }
        if let Some(a) = self.sbatch_args.iter().find(|a| a.starts_with("--requeue")) {
            bail!(
                "evaluator.sbatch_args: {a} is not allowed: only the driver resubmits tasks (it passes --no-requeue)"
            );
        }
        Ok(())
    }
}

/// One architecture's task in flight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Task {
    key: String,
    genotype: String,
    budget: Budget,
    batch: usize,
    index: usize,
    /// Set as soon as sbatch answers; None while it is being submitted.
    job_id: Option<String>,
    /// Resubmissions so far.
    requeues: usize,
}

impl Task {
    /// How squeue names it.
    fn slurm_id(&self) -> Option<String> {
        self.job_id.as_ref().map(|j| format!("{j}_{}", self.index))
    }
}

/// `inflight.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Inflight {
    tasks: Vec<Task>,
    next_batch: usize,
    /// This run's id in its job names, made once (absent in run directories
    /// written before it existed: their jobs are found by the old names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run_id: Option<String>,
}

/// A new run id: 8 random hex digits.
fn new_run_id() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// What squeue says of a task without a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
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

fn fate(state: Option<&str>) -> Fate {
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

/// What a task's `result.json` holds right now.
enum ResultFile {
    Missing,
    /// There, but not (yet) a whole result: why.
    Unreadable(String),
    Ready(Value),
}

/// Since when something has been wrong, and when it was last said.
struct Stuck {
    since: Instant,
    warned: Option<Instant>,
}

impl Stuck {
    /// Wrong from now on.
    fn new() -> Self {
        Self { since: Instant::now(), warned: None }
    }

    /// True when a warning is due: wrong for `after` and not warned of
    /// within `after`.
    fn due(&mut self, after: Duration) -> bool {
        let due = self.since.elapsed() >= after && self.warned.is_none_or(|w| w.elapsed() >= after);
        if due {
            self.warned = Some(Instant::now());
        }
        due
    }
}

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

    /// Batch `batch`'s job name: `nas-search:<run dir name>:<run id>:b<batch>`
    /// (without a run id: the name a run directory from before run ids used).
    fn job_name(&self, run_id: Option<&str>, batch: usize) -> String {
        match run_id {
            Some(id) => format!("nas-search:{}:{id}:b{batch}", self.run_name),
            None => format!("nas-search:{}:b{batch}", self.run_name),
        }
    }

    /// The command line a task runs for `job`.
    fn task_command(&self, job: &EvalJob, workdir: &Path) -> Result<String> {
        match &self.cfg.command {
            Some(command) => prepare(command, self.cfg.budgets.get(job.budget), job, workdir),
            None => {
                std::fs::create_dir_all(workdir)?;
                let q = |s: &str| shlex::try_quote(s).map(|q| q.to_string()).unwrap_or_else(|_| s.replace('\0', ""));
                let device = self.cfg.task_device.map_or(String::new(), |d| format!(" --device {}", d.name()));
                Ok(format!(
                    "{} eval-one {} --genotype {} --budget {} --key {}{device}",
                    q(&self.exe.to_string_lossy()),
                    q(&self.config_path.to_string_lossy()),
                    q(&job.genotype),
                    job.budget.name(),
                    q(&job.key)
                ))
            }
        }
    }

    /// Writes the tasks' files and submits them as job arrays of at most the
    /// cluster's `MaxArraySize` tasks each, one batch number per array; the
    /// tasks get their job id. `replaced` (the tasks in `inflight` these
    /// resubmit) are scancelled first, then leave the ledger, so Slurm can
    /// never run one beside its replacement, and every job the cluster may
    /// run is in the saved ledger at every point (a kill after the scancel
    /// leaves cancelled tasks there, which resume records as cancelled).
    fn submit(&self, inflight: &mut Inflight, jobs: Vec<(EvalJob, usize)>, replaced: &[String]) -> Result<()> {
        self.save(inflight)?;
        if !replaced.is_empty() {
            crate::failpoint::hit("slurm-before-scancel");
            let out = Command::new("scancel").args(replaced).output();
            let how = match &out {
                Ok(o) if o.status.success() => "done".to_string(),
                Ok(o) => format!("{}: {}", o.status, String::from_utf8_lossy(&o.stderr).trim()),
                Err(e) => format!("could not run: {e}"),
            };
            self.log(&format!("scancel of the {} tasks resubmitted ({}): {how}", replaced.len(), replaced.join(" ")));
            inflight.tasks.retain(|t| t.slurm_id().is_none_or(|id| !replaced.contains(&id)));
        }
        let size = self.max_array_size()?;
        for chunk in jobs.chunks(size) {
            self.submit_array(inflight, chunk)?;
        }
        Ok(())
    }

    /// Submits `jobs` as one array, batch `inflight.next_batch`. `inflight`
    /// is saved before sbatch runs (the batch with no job id yet) and after.
    fn submit_array(&self, inflight: &mut Inflight, jobs: &[(EvalJob, usize)]) -> Result<()> {
        let batch = inflight.next_batch;
        inflight.next_batch += 1;
        let dir = self.batch_dir(batch);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let first = inflight.tasks.len();
        for (index, (job, requeues)) in jobs.iter().enumerate() {
            let t = Task {
                key: job.key.clone(),
                genotype: job.genotype.clone(),
                budget: job.budget,
                batch,
                index,
                job_id: None,
                requeues: *requeues,
            };
            let tdir = self.task_dir(&t);
            std::fs::create_dir_all(&tdir)?;
            let workdir = self.root.join("work").join(workdir_name(job));
            let command = self.task_command(job, &workdir)?;
            // the command ignores USR1 unless it installs a handler (a program
            // may, to checkpoint before the time limit: --signal=B:USR1@300)
            std::fs::write(tdir.join("cmd.sh"), format!("trap '' USR1\n{command}\n"))?;
            inflight.tasks.push(t);
        }
        std::fs::write(dir.join("job.sh"), job_script(&dir, &self.cwd, batch, &self.run_name))?;
        self.save(inflight)?;
        let n = jobs.len();
        let array = match self.cfg.max_parallel {
            Some(p) => format!("0-{}%{p}", n - 1),
            None => format!("0-{}", n - 1),
        };
        let name = self.job_name(inflight.run_id.as_deref(), batch);
        let mut cmd = Command::new("sbatch");
        cmd.arg("--parsable")
            .arg(format!("--array={array}"))
            .arg(format!("--job-name={name}"))
            .arg(format!("--output={}/%a/slurm.out", dir.display()))
            .arg("--signal=B:USR1@300")
            // only the driver resubmits: Slurm requeueing a task by itself
            // (preemption, node failure, scontrol requeue) would run it twice
            .arg("--no-requeue")
            .current_dir(&dir);
        let c = &self.cfg;
        for (flag, value) in [("partition", &c.partition), ("account", &c.account), ("qos", &c.qos), ("time", &c.time)]
        {
            if let Some(v) = value {
                cmd.arg(format!("--{flag}={v}"));
            }
        }
        if let Some(n) = c.cpus_per_task {
            cmd.arg(format!("--cpus-per-task={n}"));
        }
        if let Some(m) = &c.mem {
            cmd.arg(format!("--mem={m}"));
        }
        if let Some(g) = c.gpus_per_task {
            cmd.arg(format!("--gres=gpu:{g}"));
        }
        cmd.args(&c.sbatch_args).arg(dir.join("job.sh"));
        crate::failpoint::hit("slurm-before-sbatch");
        let mut out = cmd.output().context("running sbatch")?;
        if crate::failpoint::active("slurm-sbatch-fails-after-queueing") {
            // as a controller that queued the job and timed out answering
            use std::os::unix::process::ExitStatusExt;
            out.status = std::process::ExitStatus::from_raw(1 << 8);
            out.stderr =
                b"sbatch: error: Batch job submission failed: Socket timed out on send/recv operation".to_vec();
        }
        if !out.status.success() {
            // sbatch may fail after the controller queued the job (a timed-out answer): the batch's
            // tasks stay in the ledger without a job id, so that a resume looks the job up by its
            // name and attaches to it (or, finding none, submits the tasks anew)
            let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
            self.log(&format!(
                "batch {batch}: sbatch failed: {err}; its tasks stay without a job id (resume looks the job up by name)"
            ));
            bail!(
                "sbatch refused the job array of {n} evaluations ({name}): {err}\n(if it queued the array \
                 all the same, resume finds it by name and waits for it; nothing is submitted twice)"
            );
        }
        crate::failpoint::hit("slurm-after-sbatch");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let job_id = stdout.trim().split(';').next().unwrap_or("").to_string();
        anyhow::ensure!(
            !job_id.is_empty() && job_id.bytes().all(|b| b.is_ascii_digit()),
            "sbatch answered '{}' instead of a job id",
            stdout.trim()
        );
        for t in &mut inflight.tasks[first..] {
            t.job_id = Some(job_id.clone());
        }
        self.save(inflight)?;
        let requeued = jobs.iter().filter(|(_, r)| *r > 0).count();
        self.log(&format!("batch {batch}: job {job_id}, {n} tasks ({requeued} resubmitted), array {array}"));
        Ok(())
    }

    /// The most tasks one array may have: the cluster's `MaxArraySize`
    /// (`scontrol show config`; array indices go up to MaxArraySize-1), read
    /// once; Slurm's default 1001 when scontrol does not say.
    fn max_array_size(&self) -> Result<usize> {
        if let Some(&n) = self.max_array_size.get() {
            return Ok(n);
        }
        let out = Command::new("scontrol").args(["show", "config"]).output();
        let found = out.as_ref().ok().filter(|o| o.status.success()).and_then(|o| {
            String::from_utf8_lossy(&o.stdout).lines().find_map(|l| {
                let (key, value) = l.split_once('=')?;
                (key.trim() == "MaxArraySize").then(|| value.trim().parse::<usize>().ok())?
            })
        });
        let n = match found {
            Some(0) => bail!("the cluster does not allow job arrays (MaxArraySize = 0 in `scontrol show config`)"),
            Some(n) => n,
            None => {
                self.log(&format!(
                    "scontrol show config did not give MaxArraySize: arrays of at most {DEFAULT_MAX_ARRAY_SIZE} tasks"
                ));
                DEFAULT_MAX_ARRAY_SIZE
            }
        };
        Ok(*self.max_array_size.get_or_init(|| n))
    }

    /// squeue's stdout for `args`. A failing squeue is retried with backoff
    /// and logged, never taken for an answer; when it has failed for
    /// `stuck_warn_s`, a warning says so (again every `stuck_warn_s`).
    fn squeue_retrying(&self, args: &[&str], events: Events) -> Result<String> {
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
    fn squeue(&self, job_ids: &HashSet<String>, events: Events) -> Result<HashMap<String, String>> {
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
    fn find_job(&self, name: &str, batch: usize, events: Events) -> Result<Option<String>> {
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

    /// What `t`'s `result.json` holds now.
    fn result_file(&self, t: &Task) -> ResultFile {
        let text = match std::fs::read_to_string(self.task_dir(t).join("result.json")) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return ResultFile::Missing,
            Err(e) => return ResultFile::Unreadable(e.to_string()),
        };
        match serde_json::from_str::<Value>(&text) {
            Ok(v) if v.get("exit_code").is_some_and(Value::is_i64) => ResultFile::Ready(v),
            Ok(_) => ResultFile::Unreadable(format!("no exit_code in {:?}", text.trim())),
            Err(e) => ResultFile::Unreadable(format!("not JSON ({e}): {:?}", text.trim())),
        }
    }

    /// The outcome of a task whose `result.json` reads `result`.
    fn collect(&self, t: &Task, result: &Value) -> EvalOutcome {
        let dir = self.task_dir(t);
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        let seconds = result.get("seconds").and_then(Value::as_f64).unwrap_or(0.0);
        let code = result.get("exit_code").and_then(Value::as_i64).unwrap_or(-1);
        let host = result.get("host").and_then(Value::as_str).unwrap_or("?");
        let tail = stderr_tail(&read("stderr"));
        if code != 0 {
            return EvalOutcome::failed(format!("exited with code {code} on {host}; stderr: {tail}"), seconds);
        }
        let mut o = match parse_output(&read("stdout"), seconds) {
            Ok(o) => o,
            Err(e) => return EvalOutcome::failed(format!("{e}; stderr: {tail}"), seconds),
        };
        let num = |k: &str| o.extra.get(k).and_then(|v| v.parse::<u64>().ok());
        if let (Some(params), Some(macs)) = (num(NETWORK_PARAMS), num(NETWORK_MACS)) {
            o.network = Some(Cost::new(params, macs));
            o.extra.remove(NETWORK_PARAMS);
            o.extra.remove(NETWORK_MACS);
        }
        o.extra.insert("slurm_job".into(), t.slurm_id().unwrap_or_default());
        o
    }

    /// Why a task without a result failed, with its stderr tail.
    fn failure(&self, t: &Task, what: &str) -> EvalOutcome {
        let tail = stderr_tail(&std::fs::read_to_string(self.task_dir(t).join("stderr")).unwrap_or_default());
        let slurm = stderr_tail(&std::fs::read_to_string(self.task_dir(t).join("slurm.out")).unwrap_or_default());
        let mut o = EvalOutcome::failed(
            format!(
                "Slurm task {} {what}; stderr: {tail}{}",
                t.slurm_id().unwrap_or_default(),
                if slurm.is_empty() { String::new() } else { format!("; slurm.out: {slurm}") }
            ),
            0.0,
        );
        o.extra.insert("slurm_job".into(), t.slurm_id().unwrap_or_default());
        o
    }

    /// On Stop: cancels the tasks still in flight and forgets them (they
    /// were never recorded, so a later run evaluates them anew).
    fn stop(&self, inflight: &mut Inflight) -> Result<()> {
        let ids: Vec<String> = inflight.tasks.iter().filter_map(Task::slurm_id).collect();
        if !ids.is_empty() {
            let _ = Command::new("scancel").args(&ids).output();
            self.log(&format!("cancelled {} tasks (the run stopped): {}", ids.len(), ids.join(" ")));
        }
        inflight.tasks.clear();
        self.save(inflight)
    }
}

/// Whether two paths name the same folder (squeue prints the path sbatch
/// ran in, with links resolved).
fn same_dir(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// The array's job script: runs task `$SLURM_ARRAY_TASK_ID`'s `cmd.sh` in
/// its own session, forwards USR1 to it, and writes `result.json`
/// atomically when it ends (not when the task is killed: then squeue says why).
fn job_script(dir: &Path, cwd: &Path, batch: usize, run: &str) -> String {
    let q = |p: &Path| shlex::try_quote(&p.to_string_lossy()).map(|q| q.to_string()).unwrap_or_default();
    format!(
        r#"#!/bin/bash
# nas-search run {run}, batch {batch}: task i evaluates the architecture of {dir}/i/cmd.sh
d={dir}/"$SLURM_ARRAY_TASK_ID"
cd {cwd} || exit 1
start=$(date +%s.%N)
setsid /bin/sh "$d/cmd.sh" > "$d/stdout" 2> "$d/stderr" &
child=$!
trap 'got=1; kill -USR1 -- -"$child" 2>/dev/null' USR1
# a trapped USR1 interrupts wait (status > 128) while the task runs on, or has just ended:
# wait again, which gives the task's own status (bash keeps it once the task has ended)
while :; do
  got=0
  wait "$child"; rc=$?
  [ "$got" = 1 ] || break
done
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {{ printf "%.3f", b - a }}')
printf '{{"exit_code": %d, "seconds": %s, "host": "%s"}}\n' "$rc" "$secs" "$(hostname)" > "$d/result.json.tmp"
mv -f "$d/result.json.tmp" "$d/result.json"
"#,
        dir = q(dir),
        cwd = q(cwd),
    )
}

fn load_inflight(root: &Path) -> Result<Inflight> {
    let path = root.join("inflight.json");
    if !path.exists() {
        return Ok(Inflight::default());
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is corrupt", path.display()))
}

/// `nas-search cancel RUN_DIR`: scancels the run's Slurm jobs in flight;
/// returns their ids. The next `resume` records them as cancelled.
pub fn cancel(run_dir: &Path) -> Result<Vec<String>> {
    let inflight = load_inflight(&run_dir.join("slurm"))?;
    let mut jobs: Vec<String> = inflight.tasks.iter().filter_map(|t| t.job_id.clone()).collect();
    jobs.sort();
    jobs.dedup();
    if jobs.is_empty() {
        return Ok(jobs);
    }
    let out = Command::new("scancel").args(&jobs).output().context("running scancel (is it on PATH?)")?;
    if !out.status.success() {
        bail!("scancel {} failed: {}", jobs.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(jobs)
}

impl SlurmEvaluator {
    /// Gives the tasks of each batch whose sbatch answer was lost the job id
    /// squeue finds under the batch's name (in this run's folder), and drops
    /// those of a batch that never reached Slurm (they are submitted anew).
    fn attach_unrecorded(&self, inflight: &mut Inflight, events: Events) -> Result<()> {
        let batches: BTreeSet<usize> = inflight.tasks.iter().filter(|t| t.job_id.is_none()).map(|t| t.batch).collect();
        let mut found = BTreeMap::new();
        for b in batches {
            let name = self.job_name(inflight.run_id.as_deref(), b);
            let job = self.find_job(&name, b, events)?;
            self.log(&format!(
                "batch {b}: its sbatch answer was lost; job {name}: {}",
                job.as_deref().unwrap_or("none")
            ));
            found.insert(b, job);
        }
        for t in &mut inflight.tasks {
            if let Some(job) = found.get(&t.batch) {
                t.job_id = job.clone();
            }
        }
        inflight.tasks.retain(|t| t.job_id.is_some());
        Ok(())
    }

    /// Whether task `id`'s result (missing or unreadable: `why`) has been
    /// overdue for `result_grace_s`; the first time, notes and logs it.
    fn past_grace(&self, watch: &mut Watch, id: &str, why: &str) -> bool {
        let since = *watch.overdue.entry(id.to_string()).or_insert_with(|| {
            self.log(&format!("task {id} {why}: looking again for up to {:.0} s", self.cfg.result_grace_s));
            Instant::now()
        });
        since.elapsed().as_secs_f64() >= self.cfg.result_grace_s
    }

    /// Records each task whose `result.json` is whole, and only then forgets
    /// it (a driver killed in between collects it again on resume, from the
    /// same file). An unreadable `result.json` is looked at again for
    /// `result_grace_s`, then recorded as a failure.
    fn collect_finished(
        &self,
        inflight: &mut Inflight,
        index: &JobIndex,
        watch: &mut Watch,
        events: Events,
    ) -> Result<Flow> {
        let mut k = 0;
        while k < inflight.tasks.len() {
            let t = inflight.tasks[k].clone();
            let Some(id) = t.slurm_id() else {
                k += 1;
                continue;
            };
            let outcome = match self.result_file(&t) {
                ResultFile::Missing => None,
                ResultFile::Ready(result) => Some(self.collect(&t, &result)),
                ResultFile::Unreadable(why) => {
                    self.past_grace(watch, &id, &format!("has an unreadable result.json ({why})")).then(|| {
                        self.failure(
                            &t,
                            &format!(
                                "left a result.json that stayed unreadable for {:.0} s ({why})",
                                self.cfg.result_grace_s
                            ),
                        )
                    })
                }
            };
            let Some(outcome) = outcome else {
                k += 1;
                continue;
            };
            crate::failpoint::hit("slurm-before-record");
            let flow = events(EvalEvent::Done(index[&(t.key.clone(), t.budget)], outcome))?;
            self.forget(inflight, k, watch)?;
            if flow == Flow::Stop {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }

    /// Removes task `k`, recorded, from `inflight` (saved) and from `watch`.
    fn forget(&self, inflight: &mut Inflight, k: usize, watch: &mut Watch) -> Result<()> {
        let t = inflight.tasks.remove(k);
        if let Some(id) = t.slurm_id() {
            watch.forget(&id);
        }
        self.save(inflight)
    }

    /// What to do with task `t` (`id`), which has no result, in squeue state
    /// `state`: `None` to wait; `Ok(why)` to resubmit it (infrastructure);
    /// `Err(what)` to record it as failed.
    fn verdict(&self, t: &Task, id: &str, state: Option<&str>, watch: &mut Watch) -> Option<Result<String, String>> {
        match fate(state) {
            Fate::Waiting | Fate::Held => {
                watch.overdue.remove(id);
                None
            }
            Fate::Ended => {
                let why = match state {
                    Some(s) => format!("ended ({s}) without a result.json yet"),
                    None => "is not known to squeue and has no result.json yet".to_string(),
                };
                if !self.past_grace(watch, id, &why) {
                    return None;
                }
                let started = self.task_dir(t).join("slurm.out").exists();
                let grace = self.cfg.result_grace_s;
                Some(match (state, started) {
                    (Some(s), _) => Err(format!("ended ({s}) without writing its result (none after {grace:.0} s)")),
                    // a pending array task that scancel removed leaves no record
                    (None, false) => Err("left the queue before it started: cancelled on the cluster (scancel)".into()),
                    (None, true) => Ok("is unknown to Slurm (lost)".to_string()),
                })
            }
            Fate::Requeue => Some(Ok(format!("ended with {}", state.unwrap_or("?")))),
            Fate::Failed => Some(Err(format!("ended with {}", state.unwrap_or("?")))),
            Fate::Cancelled => Some(Err("was cancelled on the cluster (scancel)".to_string())),
        }
    }

    /// Asks squeue (once) what became of the tasks without a result: records
    /// the failed ones (then forgets them), resubmits those lost to the
    /// infrastructure (the old task scancelled first), waits for the rest,
    /// and warns of tasks held too long.
    fn check_unfinished(
        &self,
        inflight: &mut Inflight,
        jobs: &[EvalJob],
        index: &JobIndex,
        watch: &mut Watch,
        events: Events,
    ) -> Result<Flow> {
        let job_ids: HashSet<String> = inflight.tasks.iter().filter_map(|t| t.job_id.clone()).collect();
        let states = self.squeue(&job_ids, events)?;
        let (mut requeue, mut replaced) = (Vec::new(), Vec::new());
        let mut k = 0;
        while k < inflight.tasks.len() {
            let t = inflight.tasks[k].clone();
            let id = t.slurm_id().unwrap_or_default();
            if self.task_dir(&t).join("result.json").exists() {
                k += 1; // collected (or looked at again) on the next pass
                continue;
            }
            let state = states.get(&id).map(String::as_str);
            match fate(state) {
                Fate::Held => {
                    watch.held.entry(id.clone()).or_insert_with(|| (Instant::now(), String::new())).1 =
                        state.unwrap_or("?").into()
                }
                _ => drop(watch.held.remove(&id)),
            }
            let Some(verdict) = self.verdict(&t, &id, state, watch) else {
                k += 1;
                continue;
            };
            let i = index[&(t.key.clone(), t.budget)];
            match verdict {
                Ok(why) if t.requeues < self.cfg.max_requeue => {
                    self.log(&format!("task {id} ({}) {why}: resubmitting", t.genotype));
                    let error = format!("Slurm task {id} {why}; resubmitted");
                    if events(EvalEvent::Retrying { job: i, attempt: t.requeues + 1, error })? == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                    // kept in the ledger until scancel has stopped it (see `submit`): a kill
                    // before then leaves a job the cluster may run where resume finds it
                    k += 1;
                    watch.forget(&id);
                    requeue.push((jobs[i].clone(), t.requeues + 1));
                    replaced.push(id);
                }
                failed => {
                    let what = match failed {
                        Ok(why) => format!("{why}, after {} resubmissions", t.requeues),
                        Err(what) => what,
                    };
                    let flow = events(EvalEvent::Done(i, self.failure(&t, &what)))?;
                    self.forget(inflight, k, watch)?;
                    if flow == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                }
            }
        }
        self.warn_held(watch, events)?;
        if !requeue.is_empty() {
            self.submit(inflight, requeue, &replaced)?;
        }
        Ok(Flow::Continue)
    }

    /// Warns (at most every `stuck_warn_s`) of the tasks that have been for
    /// `stuck_warn_s` in a state the driver does not wait on, with the
    /// commands to look at them.
    fn warn_held(&self, watch: &mut Watch, events: Events) -> Result<()> {
        let after = Duration::from_secs_f64(self.cfg.stuck_warn_s);
        let mut long: Vec<(&String, &String)> =
            watch.held.iter().filter(|(_, (since, _))| since.elapsed() >= after).map(|(id, (_, s))| (id, s)).collect();
        if long.is_empty() || watch.held_warned.is_some_and(|w| w.elapsed() < after) {
            return Ok(());
        }
        long.sort();
        let first = long[0].0;
        let job = first.split('_').next().unwrap_or(first);
        let list: Vec<String> = long.iter().take(5).map(|(id, s)| format!("{id} ({s})")).collect();
        let line = format!(
            "Slurm: {} task(s) have been for over {:.0} s in a state the driver does not wait on: {}{}; the run waits \
             for them. Inspect them with `scontrol show job {first}` and `squeue -j {job}`; release them (`scontrol \
             release`, `scontrol resume`) or scancel them (recorded as cancelled)",
            long.len(),
            self.cfg.stuck_warn_s,
            list.join(", "),
            if long.len() > 5 { ", ..." } else { "" }
        );
        watch.held_warned = Some(Instant::now());
        self.log(&format!("warning: {line}"));
        events(EvalEvent::Warning(line))?;
        Ok(())
    }
}

/// A job's position in `evaluate`'s jobs, by (key, budget).
type JobIndex = HashMap<(String, Budget), usize>;

/// What the collect loop remembers between passes.
#[derive(Default)]
struct Watch {
    /// Since when each task (by Slurm id) has been ended without a readable `result.json`.
    overdue: HashMap<String, Instant>,
    /// Since when each task has been in a state the driver does not wait on, and which.
    held: HashMap<String, (Instant, String)>,
    /// When tasks held too long were last warned of.
    held_warned: Option<Instant>,
}

impl Watch {
    fn forget(&mut self, id: &str) {
        self.overdue.remove(id);
        self.held.remove(id);
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
