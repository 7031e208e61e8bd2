//! The `slurm` evaluator: each batch of evaluations is one Slurm job array
//! (`sbatch --array=0-(N-1)%P`), one task per architecture, running either
//! a command (the `command` evaluator's placeholders and result line) or,
//! with `builtin:`, `nas-search eval-one` (the built-in trainer on the node).
//!
//! Results are files; the scheduler is only a liveness signal. A task's
//! wrapper writes `result.json` (exit code, seconds) atomically when its
//! command ends; the driver collects finished tasks from those files as they
//! appear, and asks `squeue` (one call per `poll_s`, whatever the number of
//! tasks) only about the tasks without one: TIMEOUT, PREEMPTED, NODE_FAIL,
//! BOOT_FAIL or a task Slurm forgot are resubmitted (a new small array, the
//! same `{workdir}`) up to `max_requeue` times; FAILED, OUT_OF_MEMORY, a
//! failing command or a garbage result are failed evaluations with the
//! stderr tail; CANCELLED is a failed evaluation named as such.
//!
//! The tasks in flight (job ids and array indices) are in
//! `RUN_DIR/slurm/inflight.json`, written before the driver waits, so a
//! resumed run re-attaches to them instead of submitting again. Files:
//! `RUN_DIR/slurm/batch-<b>/job.sh`, `<index>/{cmd.sh,stdout,stderr,slurm.out,result.json}`,
//! `RUN_DIR/slurm/work/<budget>-<hash>/` (the task's `{workdir}`), and
//! `submissions.log` (every sbatch and squeue problem).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::builtin::BuiltinConfig;
use super::command::{parse_output, prepare, stderr_tail, workdir_name};
use super::one::{NETWORK_MACS, NETWORK_PARAMS};
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
    /// Settings written into each task's JSON file per budget (command only).
    #[serde(default)]
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
}

/// What squeue says of a task without a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Waiting,
    /// Infrastructure: resubmit.
    Requeue,
    Failed,
    Cancelled,
    /// Ended (or unknown to Slurm) without a result file: look again, then give up.
    Unaccounted,
}

fn fate(state: Option<&str>) -> Fate {
    match state {
        Some(s) if s.starts_with("CANCELLED") => Fate::Cancelled,
        Some("TIMEOUT" | "PREEMPTED" | "NODE_FAIL" | "BOOT_FAIL" | "DEADLINE") => Fate::Requeue,
        Some("FAILED" | "OUT_OF_MEMORY" | "SPECIAL_EXIT") => Fate::Failed,
        Some("COMPLETED") | None => Fate::Unaccounted,
        Some(_) => Fate::Waiting,
    }
}

/// Polls (about `poll_s` apart) a task may go without a result after squeue
/// no longer shows it running, before it counts as lost.
const UNACCOUNTED_POLLS: usize = 3;

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
}

/// Whether a program is on PATH.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

impl SlurmEvaluator {
    pub fn new(cfg: SlurmConfig, ctx: &EvalContext) -> Result<Self> {
        match (&cfg.command, &cfg.builtin) {
            (Some(c), None) if c.trim().is_empty() => bail!("evaluator.command is empty"),
            (Some(_), None) | (None, Some(_)) => {}
            _ => bail!(
                "evaluator: give either `command` (run on the nodes) or `builtin` (the built-in trainer), not both or neither"
            ),
        }
        if cfg.poll_s.is_nan() || cfg.poll_s <= 0.0 {
            bail!("evaluator.poll_s must be positive, got {}", cfg.poll_s);
        }
        if cfg.max_parallel == Some(0) {
            bail!("evaluator.max_parallel must be positive");
        }
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
        let user = Command::new("id").arg("-un").output().context("running `id -un`")?;
        Ok(Self {
            cwd: absolute(cfg.cwd.as_deref().unwrap_or(Path::new(".")))?,
            root: run_dir.join("slurm"),
            run_name: run_dir.file_name().map_or("run".into(), |n| n.to_string_lossy().to_string()),
            config_path: run_dir.join("config.yaml"),
            exe,
            user: String::from_utf8_lossy(&user.stdout).trim().to_string(),
            squeue_calls: AtomicUsize::new(0),
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

    fn job_name(&self, batch: usize) -> String {
        format!("nas-search:{}:b{batch}", self.run_name)
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

    /// Writes the batch's files and submits it as one array; the tasks get
    /// their job id. `inflight` is saved before sbatch runs (the batch with
    /// no job id yet) and after.
    fn submit(&self, inflight: &mut Inflight, jobs: Vec<(EvalJob, usize)>) -> Result<()> {
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
        let mut cmd = Command::new("sbatch");
        cmd.arg("--parsable")
            .arg(format!("--array={array}"))
            .arg(format!("--job-name={}", self.job_name(batch)))
            .arg(format!("--output={}/%a/slurm.out", dir.display()))
            .arg("--signal=B:USR1@300")
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
        let out = cmd.output().context("running sbatch")?;
        if !out.status.success() {
            inflight.tasks.truncate(first);
            self.save(inflight)?;
            let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
            self.log(&format!("batch {batch}: sbatch refused the job: {err}"));
            bail!("sbatch refused the job array of {n} evaluations ({}): {err}", self.job_name(batch));
        }
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

    /// The state of each task of our jobs, by `JOBID_INDEX`: one squeue
    /// call; a failing squeue is retried with backoff (never fatal: the
    /// results are files).
    fn squeue(&self, job_ids: &HashSet<String>) -> HashMap<String, String> {
        let mut wait = 1.0f64;
        loop {
            self.squeue_calls.fetch_add(1, Ordering::Relaxed);
            let out =
                Command::new("squeue").args(["-h", "-r", "--states=all", "-u", &self.user, "-o", "%i|%T"]).output();
            match out {
                Ok(o) if o.status.success() => {
                    return String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .filter_map(|l| l.split_once('|'))
                        .filter(|(id, _)| id.split('_').next().is_some_and(|j| job_ids.contains(j)))
                        .map(|(id, state)| (id.trim().to_string(), state.trim().to_string()))
                        .collect();
                }
                Ok(o) => self.log(&format!(
                    "squeue failed ({}), trying again in {wait:.0} s: {}",
                    o.status,
                    String::from_utf8_lossy(&o.stderr).trim()
                )),
                Err(e) => self.log(&format!("squeue could not run, trying again in {wait:.0} s: {e}")),
            }
            std::thread::sleep(Duration::from_secs_f64(wait));
            wait = (wait * 2.0).min(self.cfg.poll_s.max(1.0) * 4.0);
        }
    }

    /// The array job id of batch `batch`, submitted by a process that died
    /// before it recorded the id (found by the job's name).
    fn find_job(&self, batch: usize) -> Option<String> {
        self.squeue_calls.fetch_add(1, Ordering::Relaxed);
        let out = Command::new("squeue")
            .args(["-h", "--states=all", "-u", &self.user, "-n", &self.job_name(batch), "-o", "%F"])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).lines().map(str::trim).find(|l| !l.is_empty()).map(String::from)
    }

    /// The outcome of a task whose `result.json` exists.
    fn collect(&self, t: &Task) -> EvalOutcome {
        let dir = self.task_dir(t);
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        let result: Value = serde_json::from_str(&read("result.json")).unwrap_or(Value::Null);
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
            o.network = Some(Cost { params, macs });
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
trap 'kill -USR1 -- -"$child" 2>/dev/null' USR1
wait "$child"; rc=$?
while kill -0 "$child" 2>/dev/null; do wait "$child"; rc=$?; done
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

impl Evaluator for SlurmEvaluator {
    fn evaluate(&self, jobs: &[EvalJob], events: Events) -> Result<()> {
        let index: HashMap<(String, Budget), usize> =
            jobs.iter().enumerate().map(|(i, j)| ((j.key.clone(), j.budget), i)).collect();
        let mut inflight = self.load()?;
        // tasks of other evaluations were recorded already
        inflight.tasks.retain(|t| index.contains_key(&(t.key.clone(), t.budget)));
        // a batch submitted by a driver that died before recording its job id
        let batches: BTreeSet<usize> = inflight.tasks.iter().filter(|t| t.job_id.is_none()).map(|t| t.batch).collect();
        let unrecorded: BTreeMap<usize, Option<String>> = batches.into_iter().map(|b| (b, self.find_job(b))).collect();
        for t in &mut inflight.tasks {
            if let Some(found) = unrecorded.get(&t.batch) {
                t.job_id = found.clone();
            }
        }
        inflight.tasks.retain(|t| t.job_id.is_some());
        let attached: HashSet<(String, Budget)> = inflight.tasks.iter().map(|t| (t.key.clone(), t.budget)).collect();
        if !attached.is_empty() {
            self.log(&format!("re-attached to {} tasks in flight", attached.len()));
        }
        let new: Vec<(EvalJob, usize)> =
            jobs.iter().filter(|j| !attached.contains(&(j.key.clone(), j.budget))).map(|j| (j.clone(), 0)).collect();
        if !new.is_empty() {
            self.submit(&mut inflight, new)?;
        } else {
            self.save(&inflight)?;
        }
        let mut unaccounted: HashMap<String, usize> = HashMap::new();
        let poll = Duration::from_secs_f64(self.cfg.poll_s);
        let mut last_squeue = Instant::now();
        loop {
            if inflight.tasks.is_empty() {
                return Ok(());
            }
            // finished tasks, from their result files
            let mut k = 0;
            while k < inflight.tasks.len() {
                let t = inflight.tasks[k].clone();
                if t.job_id.is_none() || !self.task_dir(&t).join("result.json").exists() {
                    k += 1;
                    continue;
                }
                let outcome = self.collect(&t);
                inflight.tasks.remove(k);
                self.save(&inflight)?;
                let i = index[&(t.key.clone(), t.budget)];
                if events(EvalEvent::Done(i, outcome))? == Flow::Stop {
                    return self.stop(&mut inflight);
                }
            }
            if inflight.tasks.is_empty() {
                return Ok(());
            }
            if last_squeue.elapsed() < poll {
                std::thread::sleep(poll.min(Duration::from_secs(1)));
                continue;
            }
            last_squeue = Instant::now();
            let job_ids: HashSet<String> = inflight.tasks.iter().filter_map(|t| t.job_id.clone()).collect();
            let states = self.squeue(&job_ids);
            let mut requeue = Vec::new();
            let mut k = 0;
            while k < inflight.tasks.len() {
                let t = inflight.tasks[k].clone();
                let id = t.slurm_id().unwrap_or_default();
                if self.task_dir(&t).join("result.json").exists() {
                    k += 1; // collected on the next pass
                    continue;
                }
                let state = states.get(&id).map(String::as_str);
                let verdict = match fate(state) {
                    Fate::Waiting => None,
                    Fate::Unaccounted => {
                        let n = unaccounted.entry(id.clone()).or_default();
                        *n += 1;
                        let started = self.task_dir(&t).join("slurm.out").exists();
                        match (*n >= UNACCOUNTED_POLLS, state, started) {
                            (false, _, _) => None,
                            (true, Some(s), _) => Some(Err(format!("ended ({s}) without writing its result"))),
                            // a pending array task that scancel removed leaves no record
                            (true, None, false) => {
                                Some(Err("left the queue before it started: cancelled on the cluster (scancel)".into()))
                            }
                            (true, None, true) => Some(Ok("is unknown to Slurm (lost)".to_string())),
                        }
                    }
                    Fate::Requeue => Some(Ok(format!("ended with {}", state.unwrap_or("?")))),
                    Fate::Failed => Some(Err(format!("ended with {}", state.unwrap_or("?")))),
                    Fate::Cancelled => Some(Err("was cancelled on the cluster (scancel)".to_string())),
                };
                let Some(verdict) = verdict else {
                    k += 1;
                    continue;
                };
                inflight.tasks.remove(k);
                let i = index[&(t.key.clone(), t.budget)];
                match verdict {
                    Ok(why) if t.requeues < self.cfg.max_requeue => {
                        self.log(&format!("task {id} ({}) {why}: resubmitting", t.genotype));
                        let error = format!("Slurm task {id} {why}; resubmitted");
                        if events(EvalEvent::Retrying { job: i, attempt: t.requeues + 1, error })? == Flow::Stop {
                            return self.stop(&mut inflight);
                        }
                        requeue.push((jobs[i].clone(), t.requeues + 1));
                    }
                    failed => {
                        let what = match failed {
                            Ok(why) => format!("{why}, after {} resubmissions", t.requeues),
                            Err(what) => what,
                        };
                        self.save(&inflight)?;
                        if events(EvalEvent::Done(i, self.failure(&t, &what)))? == Flow::Stop {
                            return self.stop(&mut inflight);
                        }
                    }
                }
            }
            if !requeue.is_empty() {
                self.submit(&mut inflight, requeue)?;
            }
        }
    }

    fn measures(&self) -> Measures {
        match &self.cfg.builtin {
            Some(b) => super::builtin::measures_of(&b.data, "trained by the built-in trainer on Slurm nodes"),
            None => Measures {
                signal: "the accuracy (%) your command reports (run as Slurm tasks)".into(),
                report: Some(format!(
                    "the `{}` (%) your command reports apart, where it gives one (else its accuracy)",
                    super::command::REPORT_ACCURACY
                )),
                signal_is_test: false,
                seconds: EvalSeconds::Wall,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(fate(Some("COMPLETED")), Fate::Unaccounted);
        assert_eq!(fate(None), Fate::Unaccounted);
    }
}
