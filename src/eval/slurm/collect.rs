//! The collect loop's work: a task's `result.json` read and recorded, the
//! tasks without one judged by what squeue says (resubmitted, failed, waited
//! on past a grace, warned of when held), batches whose sbatch answer was
//! lost re-attached, and everything stopped on request.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::Value;

use super::SlurmEvaluator;
use super::ledger::{Inflight, Task};
use super::queue::{Fate, fate};
use crate::eval::command::{NETWORK_MACS, NETWORK_PARAMS, parse_output, stderr_tail};
use crate::eval::{Budget, EvalEvent, EvalJob, EvalOutcome, Events, Flow};
use crate::net::Cost;

/// What a task's `result.json` holds right now.
pub(super) enum ResultFile {
    Missing,
    /// There, but not (yet) a whole result: why.
    Unreadable(String),
    Ready(Value),
}

impl SlurmEvaluator {
    /// What `t`'s `result.json` holds now.
    pub(super) fn result_file(&self, t: &Task) -> ResultFile {
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
    pub(super) fn collect(&self, t: &Task, result: &Value) -> EvalOutcome {
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
    pub(super) fn failure(&self, t: &Task, what: &str) -> EvalOutcome {
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
    pub(super) fn stop(&self, inflight: &mut Inflight) -> Result<()> {
        let ids: Vec<String> = inflight.tasks.iter().filter_map(Task::slurm_id).collect();
        if !ids.is_empty() {
            let _ = Command::new("scancel").args(&ids).output();
            self.log(&format!("cancelled {} tasks (the run stopped): {}", ids.len(), ids.join(" ")));
        }
        inflight.tasks.clear();
        self.save(inflight)
    }

    /// Gives the tasks of each batch whose sbatch answer was lost the job id
    /// squeue finds under the batch's name (in this run's folder), and drops
    /// those of a batch that never reached Slurm (they are submitted anew).
    pub(super) fn attach_unrecorded(&self, inflight: &mut Inflight, events: Events) -> Result<()> {
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
    pub(super) fn past_grace(&self, watch: &mut Watch, id: &str, why: &str) -> bool {
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
    pub(super) fn collect_finished(
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
    pub(super) fn forget(&self, inflight: &mut Inflight, k: usize, watch: &mut Watch) -> Result<()> {
        let t = inflight.tasks.remove(k);
        if let Some(id) = t.slurm_id() {
            watch.forget(&id);
        }
        self.save(inflight)
    }

    /// What to do with task `t` (`id`), which has no result, in squeue state
    /// `state`: `None` to wait; `Ok(why)` to resubmit it (infrastructure);
    /// `Err(what)` to record it as failed.
    pub(super) fn verdict(
        &self,
        t: &Task,
        id: &str,
        state: Option<&str>,
        watch: &mut Watch,
    ) -> Option<Result<String, String>> {
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
    pub(super) fn check_unfinished(
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
    pub(super) fn warn_held(&self, watch: &mut Watch, events: Events) -> Result<()> {
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
pub(super) type JobIndex = HashMap<(String, Budget), usize>;

/// What the collect loop remembers between passes.
#[derive(Default)]
pub(super) struct Watch {
    /// Since when each task (by Slurm id) has been ended without a readable `result.json`.
    pub(super) overdue: HashMap<String, Instant>,
    /// Since when each task has been in a state the driver does not wait on, and which.
    pub(super) held: HashMap<String, (Instant, String)>,
    /// When tasks held too long were last warned of.
    pub(super) held_warned: Option<Instant>,
}

impl Watch {
    pub(super) fn forget(&mut self, id: &str) {
        self.overdue.remove(id);
        self.held.remove(id);
    }
}
