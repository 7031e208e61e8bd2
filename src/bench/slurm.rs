//! `nas-search bench slurm`: what the driver costs while it waits on a large
//! job array. Submits `tasks` tasks that sleep, waits for all of them with
//! the slurm evaluator, and prints the driver's own CPU time (and that of
//! the squeue/sbatch calls it made) against the wall time, and the number
//! of squeue calls against the number of poll intervals.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, ensure};

use crate::eval::slurm::{SlurmConfig, SlurmEvaluator};
use crate::eval::{Budget, Budgets, EvalContext, EvalEvent, EvalJob, Evaluator, Flow};

pub struct SlurmBench {
    pub tasks: usize,
    pub sleep_s: f64,
    pub poll_s: f64,
    /// Where the batch's files go (on storage the nodes see).
    pub dir: PathBuf,
    pub partition: Option<String>,
}

/// CPU seconds (user + system) of this process and of its waited-for children.
fn cpu_seconds() -> (f64, f64) {
    let read = |who| {
        // SAFETY: getrusage fills the struct we pass and reads nothing else.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(who, &mut u) };
        let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
        t(u.ru_utime) + t(u.ru_stime)
    };
    (read(libc::RUSAGE_SELF), read(libc::RUSAGE_CHILDREN))
}

pub fn slurm(b: SlurmBench) -> Result<()> {
    ensure!(b.tasks > 0 && b.poll_s > 0.0, "--tasks and --poll must be positive");
    std::fs::create_dir_all(&b.dir)?;
    let run_dir = std::path::absolute(&b.dir)?;
    let _ = std::fs::remove_dir_all(run_dir.join("slurm"));
    let cfg = SlurmConfig {
        command: Some(format!("sleep {}; echo '{{\"accuracy\": 50}}'", b.sleep_s)),
        builtin: None,
        cwd: Some(run_dir.clone()),
        partition: b.partition.clone(),
        account: None,
        qos: None,
        time: None,
        cpus_per_task: None,
        mem: None,
        gpus_per_task: None,
        max_parallel: None,
        sbatch_args: Vec::new(),
        poll_s: b.poll_s,
        max_requeue: 0,
        result_grace_s: 120.0,
        stuck_warn_s: 3600.0,
        budgets: Budgets::default(),
        nas_search: None,
        task_device: None,
    };
    let ops = crate::space::nb201::OPS.iter().map(|s| s.to_string()).collect();
    let space: Arc<dyn crate::space::AnySpace> =
        Arc::new(crate::space::nb201::Nb201Space::new(crate::space::nb201::Nb201SpaceConfig {
            ops,
            channels: 16,
            cells_per_stage: 5,
            classes: 10,
        })?);
    let ctx = EvalContext { space, run_dir: &run_dir, seed: 0 };
    let evaluator = SlurmEvaluator::new(cfg, &ctx)?;
    let jobs: Vec<EvalJob> = (0..b.tasks)
        .map(|i| EvalJob { key: format!("bench-{i}"), genotype: format!("task {i}"), budget: Budget::Final })
        .collect();
    eprintln!("submitting {} tasks that sleep {} s; the driver polls squeue every {} s", b.tasks, b.sleep_s, b.poll_s);
    let (self0, children0) = cpu_seconds();
    let start = Instant::now();
    let mut done = 0usize;
    let mut failed = 0usize;
    evaluator.evaluate(&jobs, &mut |e| {
        match e {
            EvalEvent::Done(_, o) => {
                done += 1;
                failed += usize::from(!o.ok());
            }
            EvalEvent::Warning(line) => eprintln!("warning: {line}"),
            EvalEvent::Retrying { .. } => {}
        }
        Ok(Flow::Continue)
    })?;
    let wall = start.elapsed().as_secs_f64();
    let (self1, children1) = cpu_seconds();
    let driver = self1 - self0;
    let calls = children1 - children0;
    println!("tasks                 {done} finished ({failed} failed)");
    println!("wall                  {wall:.1} s");
    println!("driver CPU            {driver:.3} s = {:.3}% of one core", 100.0 * driver / wall);
    println!("sbatch + squeue CPU   {calls:.3} s = {:.3}% of one core", 100.0 * calls / wall);
    println!(
        "squeue calls          {} in {:.0} poll intervals of {} s",
        evaluator.squeue_calls(),
        wall / b.poll_s,
        b.poll_s
    );
    Ok(())
}
