//! The workflow, stage by stage: sample the predictor's training data and
//! evaluate it (proxy budget), train the predictor, search with it, evaluate
//! the top-K (final budget), repeat for more rounds, report. The baselines
//! replace all of that with one stage of real-evaluation search. Every stage
//! can be interrupted and continued from the checkpoint. The decisions
//! about data are the pure functions of [`super::selection`].

mod baseline;

use std::collections::HashSet;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::tensor::backend::AutodiffBackend;

use super::config::{PredictorSection, RunConfig, Strategy};
use super::evaluations::Evaluations;
use super::fitness::PredictorFitness;
use super::records::{EvalRecord, Phase, Status, describe_failures, failures_by_stage, last_attempts};
use super::run_dir::RunDir;
use super::selection::{self, TrainingRow};
use super::state::{Pick, PickSource, RunState, Stage, rng_for};
use crate::eval::{Budget, EvalEvent, EvalJob, Evaluator, Flow};
use crate::latency::source::LatencySource;
use crate::predictor::Predictor;
use crate::predictor::dataset::encode_graphs;
use crate::predictor::fit::{self, FitData};
use crate::progress::bar;
use crate::search::evolution::Evolution;
use crate::search::evolution::GenerationStats;
use crate::search::local::LocalSearch;
use crate::search::nsga2::{FrontStats, Nsga2};
use crate::search::{Fitness, Generational, random};
use crate::space::SearchSpace;

/// The first line of an error, for progress lines.
fn first_line(error: &str) -> &str {
    error.lines().next().unwrap_or("").trim()
}

/// The key an evaluator gets for training `repeat` of architecture `key`
/// (`search.final_repeats`): the key itself for the first, so a run without
/// repeats trains as before; a key of its own for each further one, from
/// which the built-in trainer, eval-one and a command derive its seed.
pub fn training_key(key: &str, repeat: usize) -> String {
    if repeat <= 1 { key.to_string() } else { format!("{key}#repeat-{repeat}") }
}

/// Mutations of the best measured architecture drawn to find its neighbours (search.local_picks).
const NEIGHBOUR_DRAWS: usize = 1000;

/// How this process drives the run (from the command line).
#[derive(Clone, Debug, Default)]
pub struct DriveOptions {
    /// No progress bars or progress lines.
    pub quiet: bool,
    /// Evaluate again the architectures whose last evaluation failed.
    pub retry_failed: bool,
    /// With `retry_failed`: keep the predictors and searches already made
    /// even where they learnt without an evaluation that succeeds now.
    pub keep_later_stages: bool,
    /// The run directory as the user named it (for the commands we print).
    pub run_dir: String,
    /// The config file the run came from, when known (for the commands we print).
    pub config_file: Option<std::path::PathBuf>,
}

/// A run in progress on space `S` and backend `B`.
pub struct Workflow<'a, S: SearchSpace, B: AutodiffBackend> {
    /// The run's latency source (`latency:`), which also prices the searches' space.
    latency: Option<&'a LatencySource>,
    cfg: &'a RunConfig,
    space: &'a S,
    dir: &'a RunDir,
    evaluator: &'a dyn Evaluator,
    device: B::Device,
    state: RunState,
    evals: Evaluations,
    opts: &'a DriveOptions,
    quiet: bool,
    /// Errors of this process's evaluations while none has succeeded yet
    /// (`evaluator.stop_after_failures` of them stop the run).
    first_failures: Vec<String>,
    succeeded: bool,
}

impl<'a, S: SearchSpace, B: AutodiffBackend> Workflow<'a, S, B> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        latency: Option<&'a LatencySource>,
        cfg: &'a RunConfig,
        space: &'a S,
        dir: &'a RunDir,
        evaluator: &'a dyn Evaluator,
        device: B::Device,
        state: RunState,
        evals: Vec<EvalRecord>,
        opts: &'a DriveOptions,
    ) -> Self {
        let quiet = opts.quiet;
        let evals = Evaluations::new(evals, cfg.rules());
        Self {
            latency,
            cfg,
            space,
            dir,
            evaluator,
            device,
            state,
            evals,
            opts,
            quiet,
            first_failures: Vec::new(),
            succeeded: false,
        }
    }

    /// How many rounds' predictors are trained, from the stage.
    fn trained_rounds(&self) -> usize {
        match self.state.stage {
            Stage::SampleData | Stage::EvaluateData | Stage::Baseline => 0,
            Stage::Train | Stage::Report | Stage::Done => self.state.round,
            Stage::Search | Stage::EvaluateFinal => self.state.round + 1,
        }
    }

    /// With --retry-failed: evaluates again every architecture whose last
    /// evaluation failed, whatever its stage and round (each with its own
    /// budget, as a further attempt of its stage). Where a round's predictor
    /// learnt without one that succeeds now, goes back to that round's
    /// training (the architectures searched and evaluated since stay on
    /// record, none evaluated again; each round from there searches anew
    /// with the fuller predictor), unless --keep-later-stages.
    fn retry_failed(&mut self) -> Result<()> {
        let failed: Vec<EvalRecord> =
            last_attempts(&self.evals).into_iter().filter(|e| e.accuracy.is_none()).cloned().collect();
        if failed.is_empty() {
            self.say("--retry-failed: no failed evaluation on record");
            return Ok(());
        }
        self.say(&format!(
            "--retry-failed: evaluating again {} failed evaluations: {}",
            failed.len(),
            describe_failures(&failures_by_stage(&self.evals))
        ));
        // exactly the failed trainings (slots), grouped by stage and budget
        type Trainings = Vec<(Pick, usize)>;
        let mut groups: Vec<(Phase, usize, Budget, Trainings)> = Vec::new();
        for e in &failed {
            let slot = (Pick::unscored(e.arch_key.clone(), e.genotype.clone()), e.repeat);
            match groups.iter_mut().find(|g| (g.0, g.1, g.2) == (e.phase, e.round, e.budget)) {
                Some(g) => g.3.push(slot),
                None => groups.push((e.phase, e.round, e.budget, vec![slot])),
            }
        }
        for (phase, round, budget, slots) in &groups {
            let slots: Vec<(&Pick, usize)> = slots.iter().map(|(p, r)| (p, *r)).collect();
            self.evaluate_slots(&slots, *phase, *round, *budget, true)?;
        }
        let now: Vec<&EvalRecord> = last_attempts(&self.evals);
        let recovered: Vec<&EvalRecord> =
            failed.iter().filter(|f| now.iter().any(|e| e.slot() == f.slot() && e.accuracy.is_some())).collect();
        self.say(&format!("--retry-failed: {} of the {} succeeded this time", recovered.len(), failed.len()));
        // the first round whose predictor would have learnt from one of them
        let budgets_equal = self.cfg.evaluator.config.budgets_equal();
        let first = recovered
            .iter()
            .filter_map(|e| match e.phase {
                Phase::Data => Some(0),
                Phase::Final if budgets_equal => Some(e.round + 1),
                _ => None,
            })
            .min()
            .filter(|&r| r < self.trained_rounds() && self.cfg.strategy.uses_predictor());
        if let Some(r) = first {
            let missed = recovered
                .iter()
                .filter(|e| match e.phase {
                    Phase::Data => true,
                    Phase::Final => budgets_equal && e.round < r,
                    Phase::Baseline(_) | Phase::Reference => false,
                })
                .count();
            if self.opts.keep_later_stages {
                self.say(&format!(
                    "--keep-later-stages: round {r}'s predictor learnt without {missed} of these evaluations; it and \
                     the searches since are kept as they are (the next rounds' predictors learn from them)"
                ));
            } else {
                self.rewind_to_training(r, missed)?;
            }
        }
        if self.state.stage == Stage::Done {
            // the report counts the evaluations again
            self.state.stage = Stage::Report;
        }
        self.save()
    }

    /// Goes back to round `r`'s predictor training, whose predictor learnt
    /// without `missed` evaluations that succeed now.
    fn rewind_to_training(&mut self, r: usize, missed: usize) -> Result<()> {
        let evaluated = self.state.all_top_k.iter().filter(|p| p.round >= r).count();
        self.say(&format!(
            "--retry-failed: round {r}'s predictor learnt without {missed} evaluations that succeeded now: training it \
             again and going on from there; the {evaluated} architectures rounds {r}.. picked stay on record and are not \
             evaluated again, and each round from {r} on searches anew and evaluates its top-K among the architectures \
             not yet measured (--keep-later-stages keeps the rounds as they are instead)"
        ));
        // every round from r trains from scratch: its folder (weights, or a training's resume
        // points of other data) goes when that round's training starts, as the checkpoint says
        let last = self.trained_rounds().max(self.state.round).max(self.cfg.search.rounds);
        self.state.discard = (r..=last).collect();
        self.state.round = r;
        self.state.stage = Stage::Train;
        self.state.evolution = None;
        self.state.front = None;
        self.state.top_k.clear();
        Ok(())
    }

    fn save(&self) -> Result<()> {
        self.state.save(&self.dir.path("checkpoint.json"))
    }

    fn say(&self, line: &str) {
        self.dir.log(line);
        if !self.quiet {
            eprintln!("{line}");
        }
    }

    fn evaluated_keys(&self) -> HashSet<String> {
        self.evals.keys().clone()
    }

    fn predictor_section(&self) -> &'a PredictorSection {
        self.cfg.predictor.as_ref().expect("checked by RunConfig::load")
    }

    /// Advances stage by stage, checkpointing after each, until the run is done.
    pub fn drive(&mut self) -> Result<()> {
        if self.opts.retry_failed {
            self.retry_failed()?;
        }
        // evaluations a killed process recorded but did not time yet: before anything reads them
        self.time_latencies()?;
        loop {
            match self.state.stage {
                Stage::SampleData => self.sample_data()?,
                Stage::EvaluateData => {
                    let picks = self.state.data.clone();
                    self.evaluate(&picks, Phase::Data, 0, Budget::Proxy, 1, false)?;
                    self.draw_pictures();
                    self.state.stage = Stage::Train;
                }
                Stage::Train => self.train()?,
                Stage::Search => self.search()?,
                Stage::EvaluateFinal => {
                    let picks = self.state.top_k.clone();
                    let repeats = self.repeats(Phase::Final);
                    self.evaluate(&picks, Phase::Final, self.state.round, Budget::Final, repeats, false)?;
                    self.draw_pictures();
                    self.state.round += 1;
                    let rounds = self.cfg.search.rounds;
                    self.state.stage = if self.state.round < rounds { Stage::Train } else { Stage::Report };
                }
                Stage::Baseline => self.baseline()?,
                Stage::Report => {
                    self.confirm_best()?;
                    self.evaluate_reference()?;
                    self.report()?;
                    self.state.stage = Stage::Done;
                }
                Stage::Done => return Ok(()),
            }
            self.save()?;
        }
    }

    fn sample_data(&mut self) -> Result<()> {
        let n = self.predictor_section().train_archs;
        let mut rng = rng_for(self.cfg.seed, "data", 0, 0);
        let mut seen = HashSet::new();
        let mut picks = Vec::with_capacity(n);
        while picks.len() < n {
            let g = random::propose(self.space, &self.cfg.constraints, &mut rng, &seen)
                .map_err(|e| self.search_error(e))?;
            let key = self.space.key(&g);
            seen.insert(key.clone());
            picks.push(Pick::unscored(key, self.space.format(&g)));
        }
        self.say(&format!("sampled {n} architectures for the predictor's training data"));
        self.state.data = picks;
        self.state.stage = Stage::EvaluateData;
        Ok(())
    }

    /// Trainings per architecture in `phase`: `search.final_repeats` for the
    /// final top-K and the reference, else one.
    fn repeats(&self, phase: Phase) -> usize {
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
    fn confirm_best(&mut self) -> Result<()> {
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
    fn evaluate_reference(&mut self) -> Result<()> {
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
    fn evaluate(
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
    fn evaluate_slots(
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
    fn with_search_latency(&self, mut picks: Vec<Pick>) -> Vec<Pick> {
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
    fn time_latencies(&mut self) -> Result<()> {
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
    fn latency_error(&self) -> Result<()> {
        match self.latency.and_then(|l| l.take_error()) {
            Some(e) => Err(anyhow::anyhow!("the search's latency (key `latency`): {e}")),
            None => Ok(()),
        }
    }

    /// A search step's error, or the latency source's when it had one: a
    /// source that gave no latency fails every bounded proposal, and its own
    /// error says why.
    fn search_error(&self, e: anyhow::Error) -> anyhow::Error {
        self.latency_error().err().unwrap_or(e)
    }

    /// Why the run stops after its first evaluations all failed, and how to go on.
    fn stop_error(&self) -> anyhow::Error {
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

    /// Successful rows of the `predictor.extra_data` files, each checked against the space.
    fn extra_data(&self) -> Result<Vec<EvalRecord>> {
        let mut out = Vec::new();
        for path in &self.predictor_section().extra_data {
            let mut r =
                csv::Reader::from_path(path).with_context(|| format!("predictor.extra_data: {}", path.display()))?;
            for (i, rec) in r.deserialize::<EvalRecord>().enumerate() {
                let rec = rec.with_context(|| format!("{} is not an evaluations.csv", path.display()))?;
                rec.check_numbers()
                    .map_err(|e| anyhow::anyhow!("predictor.extra_data: {}: row {}: {e}", path.display(), i + 2))?;
                if rec.accuracy.is_some() {
                    self.space.parse(&rec.genotype).with_context(|| format!("{}: {}", path.display(), rec.genotype))?;
                    out.push(rec);
                }
            }
        }
        Ok(out)
    }

    /// Trains this round's predictor on everything measured.
    fn train(&mut self) -> Result<()> {
        let p = self.predictor_section();
        let round = self.state.round;
        if self.state.discard.contains(&round) {
            let dir = self.dir.path(&format!("predictor/round-{round}"));
            if dir.exists() {
                std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
            }
            self.state.discard.retain(|&q| q != round);
            self.save()?;
        }
        let budgets_equal = self.cfg.evaluator.config.budgets_equal();
        let rows: Vec<TrainingRow> = selection::training_rows(&self.evals, &self.extra_data()?, budgets_equal);
        let left_out =
            last_attempts(&self.evals).iter().filter(|e| e.budget == Budget::Final && e.accuracy.is_some()).count();
        if !budgets_equal && left_out > 0 {
            self.say(&format!(
                "round {round}: the predictor learns from proxy-budget accuracies only; the {left_out} final-budget \
                 ones are of another training and are left out (equal budgets would use them)"
            ));
        }
        anyhow::ensure!(rows.len() >= 4, "only {} successful evaluations to train the predictor on", rows.len());
        let (mut val, mut trn) =
            selection::split(rows.len(), p.val_fraction, &mut rng_for(self.cfg.seed, "split", round, 0));
        if !val.is_empty() && val.len() < selection::MIN_VALIDATION {
            self.say(&format!(
                "round {round}: {} held-out architectures are too few for a validation tau to choose the weights \
                 (at least {} are needed): the predictor trains on all {} and its weights are chosen by training tau \
                 (raise predictor.train_archs or val_fraction for a validation set, or set val_fraction: 0)",
                val.len(),
                selection::MIN_VALIDATION,
                rows.len()
            ));
            trn.append(&mut val);
        }
        let graphs: Vec<_> = rows
            .iter()
            .map(|r| self.space.parse(&r.genotype).map(|g| self.space.to_graph(&g)))
            .collect::<Result<_>>()?;
        let mut set = encode_graphs(&graphs, &p.model)?;
        let label = |i: &usize| (rows[*i].accuracy / 100.0) as f32;
        // without a validation share, weights are selected on the training set
        let val_rows: Vec<usize> = if val.is_empty() { trn.clone() } else { val.clone() };
        let data = FitData {
            set: &mut set,
            train_graphs: trn.iter().map(|&i| graphs[i].clone()).collect(),
            train_labels: trn.iter().map(label).collect(),
            train_rows: trn.clone(),
            val_labels: val_rows.iter().map(label).collect(),
            val_rows,
        };
        let out = self.dir.path(&format!("predictor/round-{round}"));
        self.say(&format!(
            "round {round}: training the predictor on {} architectures ({} held out)",
            trn.len(),
            val.len()
        ));
        let pb = bar(p.train.epochs as u64, "predictor", self.quiet);
        let outcome = fit::fit::<B>(&p.model, &p.train, data, &out, &self.device, |row| {
            pb.set_position(row.epoch as u64);
            let on = if val.is_empty() { "training" } else { "validation" };
            pb.set_message(format!("{on} tau {:.3}", row.val_tau.max(row.ema_val_tau)));
        })?;
        pb.finish_and_clear();
        // the round's log is also the run's predictor/train_log.csv
        std::fs::copy(out.join("train_log.csv"), self.dir.path("predictor/train_log.csv"))?;
        self.say(&format!(
            "round {round}: predictor trained in {:.1} s, best {} tau {:.3} (epoch {})",
            outcome.state.train_seconds,
            if val.is_empty() { "training" } else { "validation" },
            outcome.state.best_val_tau,
            outcome.state.best_epoch
        ));
        if self.state.predictor_seconds.len() <= round {
            self.state.predictor_seconds.resize(round + 1, 0.0);
        }
        self.state.predictor_seconds[round] = outcome.state.train_seconds;
        self.state.stage = Stage::Search;
        Ok(())
    }

    /// This round's trained predictor. The round's training is over (the
    /// checkpoint says Search): its resume checkpoints are dead weight and
    /// go; its best weights stay.
    fn round_predictor(&self) -> Result<Predictor<B::InnerBackend>> {
        let round = self.state.round;
        let resume_points = self.dir.path(&format!("predictor/round-{round}/checkpoint"));
        if resume_points.exists() {
            std::fs::remove_dir_all(&resume_points).with_context(|| format!("removing {}", resume_points.display()))?;
        }
        let (model, _) = fit::load_best::<B::InnerBackend>(
            &self.predictor_section().model,
            &self.dir.path(&format!("predictor/round-{round}")),
            &self.device,
        )?;
        Ok(model)
    }

    /// Searches with this round's predictor and picks the round's top-K.
    fn search(&mut self) -> Result<()> {
        if self.cfg.strategy == Strategy::NarFormerNsga2 {
            return self.search_front();
        }
        // copies of the shared references and the device: the search loop borrows self mutably
        let (cfg, space, device) = (self.cfg, self.space, self.device.clone());
        let p = self.predictor_section();
        let s = &cfg.search;
        let round = self.state.round;
        let model = self.round_predictor()?;
        let mut fitness = PredictorFitness::new(space, &model, &p.model, &device);
        let hall_size = p.train_archs + s.top_k * (s.rounds + 1) + 100;
        let evo = Evolution { space, cfg: &s.evolution, constraints: &cfg.constraints, hall_size };
        // the best measured architectures start the population (search.seed_measured);
        // all measured ones compete: they are the predictor's labels, of one budget
        // (the search's own choices do not read measured latencies: a timing is noise a re-run would
        // not repeat; what it proposes meets the constraint on the latency it sees)
        let seeds = selection::best_first(&self.evals, true)
            .iter()
            .take(s.seed_measured)
            .map(|e| self.space.parse(&e.genotype))
            .collect::<Result<Vec<_>>>()?;
        let st = self
            .generations(&evo, "search", seeds, |state| &mut state.evolution, &mut fitness)
            .map_err(|e| self.search_error(e))?;
        self.latency_error()?;
        self.say(&format!(
            "round {round}: {} distinct genotypes run through the predictor (the rest were repeats)",
            fitness.inferred()
        ));
        let measured = self.evaluated_keys();
        // search.local_picks: the best-predicted unmeasured neighbours of the best `local_from` measured
        let incumbents = selection::best_first(&self.evals, true)
            .iter()
            .take(if s.local_picks > 0 { s.local_from } else { 0 })
            .map(|e| self.space.parse(&e.genotype))
            .collect::<Result<Vec<_>>>()?;
        let local = if incumbents.is_empty() {
            Vec::new()
        } else {
            let local = LocalSearch { space: self.space, constraints: &self.cfg.constraints, draws: NEIGHBOUR_DRAWS };
            let mut rng = rng_for(self.cfg.seed, "local", round, 0);
            local
                .best_neighbours(&incumbents, &measured, s.local_picks, &mut rng, &mut fitness)
                .map_err(|e| self.search_error(e))?
        };
        let n_local = local.len();
        let picks = selection::top_k(local, &st.hall_of_fame, &measured, s.top_k, round);
        if s.local_picks > 0 {
            self.say(&format!(
                "round {round}: top-{} = {n_local} neighbours of the best measured + {} from the evolution",
                picks.len(),
                picks.len() - n_local
            ));
        }
        let picks = self.with_search_latency(picks);
        self.state.all_top_k.extend(picks.iter().cloned());
        self.state.top_k = picks;
        self.state.evolution = None;
        self.state.stage = Stage::EvaluateFinal;
        Ok(())
    }

    /// Runs this round's generational search to its last generation: from
    /// the checkpoint's state in `slot` when the run was interrupted in it,
    /// else from `init` (random generator stream `stream`); each generation's
    /// row appended to `generations.csv`, the state checkpointed every
    /// `search.checkpoint_every` generations and at the end. The round's
    /// architectures scored (from its start, whatever the interruptions) are
    /// added to the run's count and logged. The one loop of both
    /// predictor-guided strategies.
    fn generations<G>(
        &mut self,
        search: &G,
        stream: &str,
        seeds: Vec<S::Genotype>,
        slot: fn(&mut RunState) -> &mut Option<G::State>,
        fitness: &mut dyn Fitness<S::Genotype>,
    ) -> Result<G::State>
    where
        G: Generational<S>,
        G::Stats: GenerationRow,
    {
        let round = self.state.round;
        let every = self.cfg.search.checkpoint_every;
        let started = Instant::now();
        // architectures scored before this process (0 for a fresh round: its first population counts here)
        let mut scored_before = 0;
        let mut st = match slot(&mut self.state).take() {
            Some(st) => {
                self.dir.truncate_generations(round, G::progress(&st).0)?;
                scored_before = G::progress(&st).1;
                st
            }
            None => {
                self.dir.truncate_generations(round, 0)?;
                let st = search.init(seeds, &mut rng_for(self.cfg.seed, stream, round, 0), fitness)?;
                *slot(&mut self.state) = Some(st.clone());
                self.save()?;
                st
            }
        };
        let total = search.generations();
        let pb = bar(total as u64, "search", self.quiet);
        pb.set_position(G::progress(&st).0 as u64);
        while G::progress(&st).0 < total {
            let generation = G::progress(&st).0 + 1;
            let stats = search.step(&mut st, &mut rng_for(self.cfg.seed, stream, round, generation), fitness)?;
            stats.append(self.dir, round)?;
            pb.set_position(generation as u64);
            pb.set_message(stats.message());
            if generation % every == 0 || generation == total {
                *slot(&mut self.state) = Some(st.clone());
                self.save()?;
            }
        }
        pb.finish_and_clear();
        let secs = started.elapsed().as_secs_f64();
        let scored = G::progress(&st).1;
        self.state.search_seconds += secs;
        self.state.scored += scored;
        let here = scored - scored_before;
        self.say(&format!(
            "round {round}: the search scored {scored} architectures (this process {here} in {secs:.1} s: {:.0} archs/s)",
            here as f64 / secs.max(1e-9)
        ));
        Ok(st)
    }

    /// nar-former-nsga2: NSGA-II with this round's predictor as the accuracy
    /// objective; the round's top-K spread over the predicted front.
    fn search_front(&mut self) -> Result<()> {
        let (cfg, space, device) = (self.cfg, self.space, self.device.clone());
        let p = self.predictor_section();
        let s = &cfg.search;
        let round = self.state.round;
        let model = self.round_predictor()?;
        let mut fitness = PredictorFitness::new(space, &model, &p.model, &device);
        let reference = cfg.reference_cost().expect("checked by RunConfig::load");
        let nsga = Nsga2 { space, cfg: &s.nsga2, objectives: &s.objectives, constraints: &cfg.constraints, reference };
        let st = self
            .generations(&nsga, "front", Vec::new(), |state| &mut state.front, &mut fitness)
            .map_err(|e| self.search_error(e))?;
        self.latency_error()?;
        let picks: Vec<Pick> = nsga
            .picks(&st, &self.evaluated_keys(), s.top_k)
            .into_iter()
            .map(|m| Pick {
                key: m.key,
                genotype: m.genotype,
                score: Some(m.score),
                round,
                source: PickSource::Front,
                latency_ms: None,
            })
            .collect();
        self.say(&format!("round {round}: top-{} spread over the predicted front", picks.len()));
        let picks = self.with_search_latency(picks);
        self.state.all_top_k.extend(picks.iter().cloned());
        self.state.top_k = picks;
        self.state.front = None;
        self.state.stage = Stage::EvaluateFinal;
        Ok(())
    }

    /// Draws the run's pictures into `plots/` as the run stands: after the
    /// predictor's data, after every round and at the report, so that they
    /// (and `nas-search serve`) follow a run that takes days. Pictures never
    /// fail a run: a plotting error is logged.
    fn draw_pictures(&self) {
        match crate::plot::after_report(&self.dir.root) {
            Ok(files) => self.dir.log(&format!("plots: {} files in {}", files.len(), self.dir.path("plots").display())),
            Err(e) => self.say(&format!("plots could not be drawn: {e:#}")),
        }
    }

    fn report(&self) -> Result<()> {
        let row = crate::report::write(
            self.dir,
            &crate::report::ReportInput {
                strategy: self.cfg.strategy,
                space: self.space.name(),
                seed: self.cfg.seed,
                evals: &self.evals,
                top_k: &self.state.all_top_k,
                budgets_equal: self.cfg.evaluator.config.budgets_equal(),
                measures: self.evaluator.measures(),
                device: self.cfg.device,
                predictor_seconds: self.state.predictor_seconds.iter().sum(),
                search_seconds: self.state.search_seconds,
                scored: self.state.scored,
                front: self.cfg.search.objectives.get(1).map(|&cost| crate::report::front::FrontSpec {
                    cost,
                    reference: self.cfg.reference_cost().expect("checked by RunConfig::load"),
                }),
                latency_bound: self.cfg.constraints.latency_ms,
                exhausted: self.state.exhausted.as_deref(),
                reference: self.cfg.search.reference.as_ref().map(|r| r.name.as_str()),
                latency: self.latency.map(|l| crate::report::LatencyNote {
                    predicted: l.describe_predicted(),
                    measured: l.describe_measured(),
                }),
            },
        )?;
        self.draw_pictures();
        self.say(&format!(
            "best: {} at {} ({:.2}M params, {:.1}M MACs); {} real evaluations",
            row.top1.map_or("-".into(), |a| format!("{a:.2}%")),
            row.best_genotype,
            row.params_m,
            row.macs_m,
            row.archs_trained
        ));
        Ok(())
    }
}

/// A generation's row as the run writes and shows it.
trait GenerationRow {
    /// Appends it to `generations.csv` for `round`.
    fn append(&self, dir: &RunDir, round: usize) -> Result<()>;
    /// The progress bar's message.
    fn message(&self) -> String;
}

impl GenerationRow for GenerationStats {
    fn append(&self, dir: &RunDir, round: usize) -> Result<()> {
        dir.append_generation(round, self)
    }

    fn message(&self) -> String {
        format!("best predicted {:.2}%", self.best_score * 100.0)
    }
}

impl GenerationRow for FrontStats {
    fn append(&self, dir: &RunDir, round: usize) -> Result<()> {
        dir.append_front_generation(round, self)
    }

    fn message(&self) -> String {
        format!("front {}, hypervolume {:.4}", self.front_size, self.hypervolume)
    }
}
