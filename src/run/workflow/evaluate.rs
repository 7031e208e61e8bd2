//! Evaluations as the workflow asks for them: each (architecture, training)
//! slot once, handed to the evaluator and recorded as it ends; a best
//! trained fewer times than `search.final_repeats` trained again; the
//! reference architecture; latencies timed; the errors that stop a run.

use anyhow::{Context, Result};
use burn::tensor::backend::AutodiffBackend;

use super::Workflow;
use crate::eval::{Budget, EvalEvent, EvalJob, Flow};
use crate::progress::bar;
use crate::run::evaluations::Evaluations;
use crate::run::records::{EvalRecord, Phase, Status};
use crate::run::selection::{self};
use crate::run::state::Pick;
use crate::space::SearchSpace;

/// The first line of an error, for progress lines.
fn first_line(error: &str) -> &str {
    error.lines().next().unwrap_or("").trim()
}

/// The key an evaluator gets for training `repeat` of architecture `key`
/// (`search.final_repeats`): the key itself for the first, so a run without
/// repeats trains as before; a key of its own for each further one, from
/// which the built-in trainer, eval-one and a command derive its seed.
pub(crate) fn training_key(key: &str, repeat: usize) -> String {
    if repeat <= 1 { key.to_string() } else { format!("{key}#repeat-{repeat}") }
}

impl<S: SearchSpace, B: AutodiffBackend> Workflow<'_, S, B> {
    /// Trainings per architecture in `phase`: `search.final_repeats` for the
    /// final top-K and the reference, else one.
    pub(super) fn repeats(&self, phase: Phase) -> usize {
        match phase {
            Phase::Final | Phase::Reference => self.cfg.search.final_repeats,
            Phase::Data | Phase::Baseline(_) => 1,
        }
    }

    /// `search.final_repeats`: the run's best stands on as many trainings
    /// as the final top-K. A best trained fewer times (a random architecture
    /// of the predictor's data, measured once, whose one lucky training beat
    /// the top-K's means) is trained again until it has them, in its own
    /// phase and round; if its mean then falls below another's, that one is
    /// next. Ends when the best has them all (or one of its trainings failed:
    /// on record, for --retry-failed).
    pub(super) fn confirm_best(&mut self) -> Result<()> {
        let n = self.repeats(Phase::Final);
        if n <= 1 {
            return Ok(());
        }
        loop {
            let Some(best) = self.evals.best().cloned() else { return Ok(()) };
            let have = selection::trainings(&self.evals, &best).len();
            if have >= n {
                return Ok(());
            }
            self.say(&format!(
                "the best so far, {}, has {have} of {n} trainings (search.final_repeats): training it again",
                best.genotype
            ));
            let pick = Pick::unscored(best.arch_key.clone(), best.genotype.clone());
            self.evaluate(&[pick], best.phase, best.round, best.budget, n, false)?;
            self.save()?;
            if selection::trainings(&self.evals, &best).len() < n {
                return Ok(());
            }
        }
    }

    /// `search.reference`: trains the reference architecture at the final
    /// budget, `search.final_repeats` times (once the search is over; a
    /// resume trains only what is missing).
    pub(super) fn evaluate_reference(&mut self) -> Result<()> {
        let Some(r) = &self.cfg.search.reference else { return Ok(()) };
        let g =
            self.space.parse(&r.genotype).with_context(|| format!("key `search.reference.genotype` ({})", r.name))?;
        let pick = Pick::unscored(self.space.key(&g), self.space.format(&g));
        let round = self.state.round;
        self.evaluate(&[pick], Phase::Reference, round, Budget::Final, self.repeats(Phase::Reference), false)?;
        self.save()
    }

    /// Evaluates the trainings of the picks not yet evaluated in `phase`
    /// and `round`, `repeats` per pick (`again`: also those whose last
    /// evaluation there failed).
    pub(super) fn evaluate(
        &mut self,
        picks: &[Pick],
        phase: Phase,
        round: usize,
        budget: Budget,
        repeats: usize,
        again: bool,
    ) -> Result<()> {
        let slots: Vec<(&Pick, usize)> = picks.iter().flat_map(|p| (1..=repeats).map(move |r| (p, r))).collect();
        self.evaluate_slots(&slots, phase, round, budget, again)
    }

    /// Evaluates the trainings `slots` (pick, repeat) not yet evaluated in
    /// `phase` and `round` (`again`: also those whose last evaluation there
    /// failed). Training `r` > 1 of an architecture goes to the evaluator
    /// under a key of its own ([`training_key`]), so its training seed differs.
    pub(super) fn evaluate_slots(
        &mut self,
        slots: &[(&Pick, usize)],
        phase: Phase,
        round: usize,
        budget: Budget,
        again: bool,
    ) -> Result<()> {
        let evals = &self.evals;
        let done = |p: &Pick, r: usize| {
            evals.last_attempt(phase, round, &p.key, r).is_some_and(|e| e.accuracy.is_some() || !again)
        };
        let pending: Vec<(&Pick, usize)> = slots.iter().filter(|(p, r)| !done(p, *r)).copied().collect();
        // trainings per architecture here, for the log lines ("training 2 of 3")
        let repeats = slots.iter().map(|s| s.1).max().unwrap_or(1).max(self.repeats(phase));
        if pending.is_empty() {
            return Ok(());
        }
        let jobs: Vec<EvalJob> = pending
            .iter()
            .map(|(p, r)| EvalJob { key: training_key(&p.key, *r), genotype: p.genotype.clone(), budget })
            .collect();
        let pb = bar(slots.len() as u64, phase.name(), self.quiet);
        pb.set_position((slots.len() - pending.len()) as u64);
        let stop_after = self.cfg.evaluator.stop_after_failures;
        let (space, dir, evals) = (self.space, self.dir, &mut self.evals);
        // latency looked up at once; timed ones after the batch (trainings in flight would disturb the timing)
        let lookup = self.latency.filter(|l| !l.times_on_device());
        let (first_failures, succeeded) = (&mut self.first_failures, &mut self.succeeded);
        // the run's one best (constraints included), as the report will name it
        let shown =
            |evals: &Evaluations| evals.best().and_then(|e| e.accuracy).map_or("-".into(), |b| format!("{b:.2}%"));
        let mut failed_now = 0usize;
        let mut stopped = false;
        self.evaluator.evaluate(&jobs, &mut |event| {
            let (i, outcome) = match event {
                EvalEvent::Retrying { job, attempt, error } => {
                    let line = first_line(&error);
                    dir.log(&format!("attempt {attempt} of {} failed, trying again: {line}", jobs[job].genotype));
                    pb.set_message(format!("retrying after: {line}"));
                    return Ok(Flow::Continue);
                }
                EvalEvent::Warning(line) => {
                    // shown even with --quiet: the run may be waiting on something only the user can fix
                    dir.log(&format!("warning: {line}"));
                    pb.suspend(|| eprintln!("warning: {line}"));
                    return Ok(Flow::Continue);
                }
                EvalEvent::Done(i, outcome) => (i, outcome),
            };
            let job = &jobs[i];
            let (pick, repeat) = pending[i];
            let standard = space.cost(&space.parse(&job.genotype)?);
            let evaluated = outcome.network.unwrap_or(standard);
            let attempt = 1 + evals.attempts(phase, round, &pick.key, repeat);
            let rec = EvalRecord {
                phase,
                round,
                arch_key: pick.key.clone(),
                genotype: job.genotype.clone(),
                params: evaluated.params,
                macs: evaluated.macs,
                budget,
                accuracy: outcome.accuracy,
                seconds: outcome.seconds,
                status: if outcome.ok() { Status::Ok } else { Status::Failed },
                error: outcome.error.clone(),
                extra: serde_json::to_string(&outcome.extra)?,
                report_accuracy: outcome.report,
                attempt,
                std_params: Some(standard.params),
                std_macs: Some(standard.macs),
                // a look-up that fails leaves the latency empty (the evaluation is kept; it then
                // meets no latency constraint) and says why
                latency_ms: match lookup {
                    Some(l) if outcome.ok() => match l.measured(space, &job.genotype) {
                        Ok(ms) => Some(ms),
                        Err(e) => {
                            let line = format!("no measured latency for {}: {e:#}", job.genotype);
                            dir.log(&format!("warning: {line}"));
                            pb.suspend(|| eprintln!("warning: {line}"));
                            None
                        }
                    },
                    _ => None,
                },
                repeat,
            };
            dir.append_evaluation(&rec)?;
            // one line per evaluation: run.log keeps a failure's whole error, the terminal its first line
            let training = if repeats > 1 { format!(", training {repeat} of {repeats}") } else { String::new() };
            let head = format!("{} ({phase}, round {round}, {} budget{training})", rec.genotype, rec.budget);
            match rec.accuracy {
                Some(a) => {
                    let line = format!("{head}: {a:.2}% in {:.1} s", rec.seconds);
                    dir.log(&format!("evaluated {line}"));
                    pb.note(&line);
                }
                None => {
                    dir.log(&format!("evaluated {head}: FAILED after {:.1} s: {}", rec.seconds, rec.error));
                    pb.note(&format!("{head}: FAILED after {:.1} s: {}", rec.seconds, first_line(&rec.error)));
                }
            }
            pb.inc(1);
            match rec.accuracy {
                Some(_) => *succeeded = true,
                None => {
                    failed_now += 1;
                    if !*succeeded {
                        first_failures.push(rec.error.clone());
                    }
                }
            }
            let failures = match failed_now {
                0 => String::new(),
                n if rec.accuracy.is_none() => format!(", {n} failed: {}", first_line(&rec.error)),
                n => format!(", {n} failed"),
            };
            evals.push(rec);
            pb.set_message(format!("best {}{failures}", shown(evals)));
            if stop_after > 0 && !*succeeded && first_failures.len() >= stop_after {
                stopped = true;
                return Ok(Flow::Stop);
            }
            Ok(Flow::Continue)
        })?;
        pb.finish_and_clear();
        self.time_latencies()?;
        if stopped {
            return Err(self.stop_error());
        }
        self.say(&format!(
            "{phase} evaluations of round {round}: {} done, {} failed, best so far {}",
            slots.len(),
            self.evals.failed(phase, round),
            shown(&self.evals)
        ));
        Ok(())
    }

    /// `picks` with the latency the search saw for each (runs with `latency:`).
    pub(super) fn with_search_latency(&self, mut picks: Vec<Pick>) -> Vec<Pick> {
        if let Some(l) = self.latency {
            for p in &mut picks {
                p.latency_ms = l.for_search(self.space, &p.genotype);
            }
        }
        picks
    }

    /// With `latency.measure: device`: times every successfully evaluated
    /// architecture that has no latency yet, on this machine, and rewrites
    /// `evaluations.csv` with them (a run interrupted before this times
    /// them on resume).
    pub(super) fn time_latencies(&mut self) -> Result<()> {
        let Some(l) = self.latency.filter(|l| l.times_on_device()) else { return Ok(()) };
        let todo: Vec<usize> = (0..self.evals.len())
            .filter(|&i| self.evals[i].accuracy.is_some() && self.evals[i].latency_ms.is_none())
            .collect();
        if todo.is_empty() {
            return Ok(());
        }
        crate::failpoint::hit("latency-before-timing");
        let pb = bar(todo.len() as u64, "latency", self.quiet);
        let mut timed: std::collections::HashMap<String, f64> = std::collections::HashMap::new();
        let mut latencies = Vec::with_capacity(todo.len());
        for i in todo {
            let g = self.evals[i].genotype.clone();
            let ms = match timed.get(&g) {
                Some(&ms) => ms,
                None => l.measured(self.space, &g)?,
            };
            timed.insert(g, ms);
            latencies.push((i, ms));
            pb.inc(1);
        }
        pb.finish_and_clear();
        self.evals.set_latencies(latencies);
        self.dir.rewrite_evaluations(&self.evals)?;
        self.dir.log(&format!("latency: timed {} architectures ({})", timed.len(), l.describe_measured()));
        Ok(())
    }

    /// The first error the latency source gave the search, as the run's error.
    pub(super) fn latency_error(&self) -> Result<()> {
        match self.latency.and_then(|l| l.take_error()) {
            Some(e) => Err(anyhow::anyhow!("the search's latency (key `latency`): {e}")),
            None => Ok(()),
        }
    }

    /// A search step's error, or the latency source's when it had one: a
    /// source that gave no latency fails every bounded proposal, and its own
    /// error says why.
    pub(super) fn search_error(&self, e: anyhow::Error) -> anyhow::Error {
        self.latency_error().err().unwrap_or(e)
    }

    /// Why the run stops after its first evaluations all failed, and how to go on.
    pub(super) fn stop_error(&self) -> anyhow::Error {
        let n = self.first_failures.len();
        // the same error from other command lines is one error; the first command line is shown
        fn split(e: &str) -> (&str, Option<&str>) {
            e.split_once("; command: ").map_or((e, None), |(msg, cmd)| (msg, Some(cmd)))
        }
        let mut errors: Vec<&str> = self.first_failures.iter().map(|e| split(e).0).collect();
        errors.dedup();
        let mut what = if errors.len() == 1 {
            format!("all with:\n  {}", errors[0])
        } else {
            format!("with:\n  {}", errors.join("\n  "))
        };
        if let Some(cmd) = self.first_failures.first().and_then(|e| split(e).1) {
            what.push_str(&format!("\nThe first command line that ran: {cmd}"));
        }
        let stop_after = self.cfg.evaluator.stop_after_failures;
        let config = self.opts.config_file.as_ref().map_or("YOUR_CONFIG.yaml".to_string(), |p| p.display().to_string());
        let next = crate::invocation::command(&format!(
            "resume {} --retry-failed --config {}",
            crate::invocation::shell_word(&self.opts.run_dir),
            crate::invocation::shell_word(&config)
        ));
        let msg = format!(
            "stopped after this run's first {stop_after} evaluations failed ({n} recorded before it stopped), {what}\n\
             Fix the evaluator in {config} (how evaluations run: command, cwd, timeouts, workers, Slurm settings; \
             `evaluator.stop_after_failures` sets when a run stops, 0 never), then evaluate the failed ones again and \
             continue with:\n  {next}"
        );
        self.dir.log(&msg);
        anyhow::anyhow!(msg)
    }
}
