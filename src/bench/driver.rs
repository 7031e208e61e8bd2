//! `nas-search bench driver`: the driver's own cost per evaluation as a run
//! grows. A baseline run on a space (DARTS by default) whose evaluations are
//! instant (a synthetic accuracy drawn from the architecture's key), so the
//! driver is all there is: proposing, recording (`evaluations.csv` flushed
//! to disk per evaluation), checkpointing. Prints the mean milliseconds per
//! evaluation over the last tenth before 1k, 10k, 100k ... evaluations; a
//! flat row is a driver whose cost does not grow with the run.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, ensure};

use crate::eval::{EvalEvent, EvalJob, EvalOutcome, EvalSeconds, Evaluator, Events, Flow, Measures};
use crate::run::{RunRequest, execute};

pub struct DriverBench {
    /// The space file.
    pub space: PathBuf,
    /// Baseline strategies to run, one run each.
    pub strategies: Vec<String>,
    /// Evaluation counts to report at (the run makes the largest).
    pub sizes: Vec<usize>,
    /// Where the runs go (replaced).
    pub dir: PathBuf,
}

/// Evaluations that take no time: an accuracy in [50, 95) drawn from the key.
struct Instantly {
    /// When each evaluation was handed back, in order (the bench keeps a handle after the run).
    stamps: Arc<Mutex<Vec<Instant>>>,
}

impl Evaluator for Instantly {
    fn evaluate(&self, jobs: &[EvalJob], events: Events) -> Result<()> {
        for (i, job) in jobs.iter().enumerate() {
            let draw = crate::seed::derive(0, &[job.key.as_bytes()]) as f64 / u64::MAX as f64;
            self.stamps.lock().expect("not poisoned").push(Instant::now());
            if let Flow::Stop = events(EvalEvent::Done(i, EvalOutcome::measured(50.0 + 45.0 * draw, 0.0)))? {
                break;
            }
        }
        Ok(())
    }

    fn measures(&self) -> Measures {
        Measures {
            signal: "a synthetic accuracy (bench driver)".into(),
            report: None,
            signal_is_test: false,
            seconds: EvalSeconds::Free,
        }
    }
}

pub fn driver(b: DriverBench) -> Result<()> {
    let largest = *b.sizes.iter().max().context("--sizes: give at least one count")?;
    ensure!(b.sizes.iter().all(|&n| n >= 10), "--sizes: each count at least 10");
    let space = std::path::absolute(&b.space)?;
    ensure!(space.is_file(), "--space: {} is not a file", space.display());
    if b.dir.exists() {
        std::fs::remove_dir_all(&b.dir).with_context(|| format!("removing {}", b.dir.display()))?;
    }
    std::fs::create_dir_all(&b.dir)?;
    println!("{}", super::machine_line());
    println!(
        "driver cost per evaluation, instant evaluations on {} (ms, mean over the last tenth before each count)",
        space.display()
    );
    let header: Vec<String> = b.sizes.iter().map(|n| format!("{n:>10}")).collect();
    println!("{:<24}{}{:>12}", "strategy", header.join(""), "total s");
    for strategy in &b.strategies {
        let config = b.dir.join(format!("{strategy}.yaml"));
        // NSGA-II needs a cost objective; the others ignore it
        let objectives = if strategy == "nsga2" {
            "  objectives: [accuracy, params]\n  nsga2: { reference_cost: 1.0e7 }\n"
        } else {
            ""
        };
        std::fs::write(
            &config,
            format!(
                "name: {strategy}\nseed: 0\nspace: {}\nstrategy: {strategy}\nevaluator:\n  kind: command\n  command: 'true'\nsearch:\n  queries: {largest}\n{objectives}",
                space.display()
            ),
        )?;
        let stamps = Arc::new(Mutex::new(Vec::with_capacity(largest)));
        let started = Instant::now();
        execute(RunRequest {
            config: Some(config),
            overrides: Vec::new(),
            run_dir: Some(b.dir.join(strategy)),
            seed: None,
            resume: false,
            force: false,
            quiet: true,
            retry_failed: false,
            keep_later_stages: false,
            evaluator: Some(Box::new(Instantly { stamps: stamps.clone() })),
        })
        .with_context(|| format!("the {strategy} run"))?;
        let total = started.elapsed().as_secs_f64();
        let stamps = stamps.lock().expect("not poisoned");
        let cells: Vec<String> = b
            .sizes
            .iter()
            .map(|&n| {
                let from = n - n / 10;
                match (stamps.get(from - 1), stamps.get(n - 1)) {
                    (Some(a), Some(z)) => format!("{:>10.3}", (*z - *a).as_secs_f64() * 1e3 / (n - from) as f64),
                    _ => format!("{:>10}", "-"),
                }
            })
            .collect();
        println!("{strategy:<24}{}{total:>12.1}", cells.join(""));
    }
    Ok(())
}
