//! Submission: each batch of evaluations as one `sbatch --array` (several
//! when a batch exceeds `MaxArraySize`), its job script and each task's
//! command.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::SlurmEvaluator;
use super::config::DEFAULT_MAX_ARRAY_SIZE;
use super::ledger::{Inflight, Task};
use crate::eval::EvalJob;
use crate::eval::command::{prepare, workdir_name};

impl SlurmEvaluator {
    /// Batch `batch`'s job name: `nas-search:<run dir name>:<run id>:b<batch>`
    /// (without a run id: the name a run directory from before run ids used).
    pub(super) fn job_name(&self, run_id: Option<&str>, batch: usize) -> String {
        match run_id {
            Some(id) => format!("nas-search:{}:{id}:b{batch}", self.run_name),
            None => format!("nas-search:{}:b{batch}", self.run_name),
        }
    }

    /// The command line a task runs for `job`.
    pub(super) fn task_command(&self, job: &EvalJob, workdir: &Path) -> Result<String> {
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
    pub(super) fn submit(
        &self,
        inflight: &mut Inflight,
        jobs: Vec<(EvalJob, usize)>,
        replaced: &[String],
    ) -> Result<()> {
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
    pub(super) fn submit_array(&self, inflight: &mut Inflight, jobs: &[(EvalJob, usize)]) -> Result<()> {
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
    pub(super) fn max_array_size(&self) -> Result<usize> {
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
}

/// Whether two paths name the same folder (squeue prints the path sbatch
/// ran in, with links resolved).
pub(super) fn same_dir(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// The array's job script: runs task `$SLURM_ARRAY_TASK_ID`'s `cmd.sh` in
/// its own session, forwards USR1 to it, and writes `result.json`
/// atomically when it ends (not when the task is killed: then squeue says why).
pub(super) fn job_script(dir: &Path, cwd: &Path, batch: usize, run: &str) -> String {
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
