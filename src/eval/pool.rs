//! Running an evaluator's jobs on a few worker threads: each worker takes
//! the next job, every finished job is reported to the caller's `events` in
//! completion order (on the calling thread), and a `Flow::Stop` or an error
//! from `events` starts no further job while the running ones finish.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use anyhow::Result;

use super::{EvalEvent, EvalJob, EvalOutcome, Events, Flow};

/// Evaluates `jobs` with `run_one` on `workers` threads. `run_one` gets the
/// job's index, the job, and a way to send intermediate events (retries).
pub fn run_jobs<F>(jobs: &[EvalJob], workers: usize, events: Events, run_one: F) -> Result<()>
where
    F: Fn(usize, &EvalJob, &dyn Fn(EvalEvent)) -> EvalOutcome + Sync,
{
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<EvalEvent>();
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1).min(jobs.len().max(1)) {
            let tx = tx.clone();
            let (next, run_one) = (&next, &run_one);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= jobs.len() {
                        break;
                    }
                    let send = |e: EvalEvent| {
                        let _ = tx.send(e);
                    };
                    let outcome = run_one(i, &jobs[i], &send);
                    if tx.send(EvalEvent::Done(i, outcome)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for event in rx {
            match events(event) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Stop) => next.store(jobs.len(), Ordering::SeqCst),
                Err(e) => {
                    next.store(jobs.len(), Ordering::SeqCst);
                    return Err(e);
                }
            }
        }
        Ok(())
    })
}
