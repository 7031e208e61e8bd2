//! The baselines' one stage: real-evaluation search (random search,
//! regularized evolution, NSGA-II, BANANAS) proposing architectures in waves and
//! evaluating each wave. The history the proposals read is kept as
//! evaluations arrive ([`History`]) and the proposal order lives in
//! `proposals.csv` (appended, not rewritten), so a proposal costs the same
//! after 10^5 evaluations as after 10. On a space that can be listed, a
//! proposal whose draws find nothing new takes one of the architectures
//! left, and a space whose every architecture was evaluated ends the run:
//! that is a result, said in `run.log` and the summary.

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;
use rand::Rng;

use super::Workflow;
use crate::eval::Budget;
use crate::run::config::Strategy;
use crate::run::records::{EvalRecord, Phase, last_attempts};
use crate::run::state::{Pick, Stage, rng_for};
use crate::search::{bananas, nsga2, random, regularized};
use crate::space::SearchSpace;

/// A baseline's history in the order of proposal (a wave's evaluations end
/// in any order; evaluations of runs made before the order was kept come
/// first, as they were recorded), kept up to date record by record.
#[derive(Default)]
struct History {
    /// Each key's place in the order of proposal (from 1; absent: before the order was kept).
    order: HashMap<String, usize>,
    /// Every evaluation as (genotype, accuracy): regularized evolution's history.
    all: Vec<(String, Option<f64>)>,
    /// Each architecture's last attempt as (genotype, accuracy fraction, costs): NSGA-II's.
    last: Vec<(String, Option<f64>, Vec<f64>)>,
    /// The (phase, round, key) of each entry of `last`, to see an attempt that replaces one.
    in_last: HashSet<(Phase, usize, String)>,
    /// NSGA-II's population replayed from `last` so far.
    replay: nsga2::Replay,
    /// How many of the run's records are in.
    seen: usize,
}

impl History {
    fn new(proposed: Vec<String>) -> Self {
        let mut order = HashMap::with_capacity(proposed.len());
        for key in proposed {
            let next = order.len() + 1;
            // a wave proposed again after a kill lists its keys twice: the first stands
            order.entry(key).or_insert(next);
        }
        Self { order, ..Self::default() }
    }

    fn place(&self, e: &EvalRecord) -> usize {
        self.order.get(e.arch_key.as_str()).copied().unwrap_or(0)
    }

    /// Takes in the records that arrived since the last call (NSGA-II's
    /// entries priced by `cost`); a record that replaces an attempt already
    /// in (a retry) rebuilds the history from all of `evals`.
    fn sync(&mut self, evals: &[EvalRecord], cost: &dyn Fn(&EvalRecord) -> Result<Vec<f64>>) -> Result<()> {
        let retried = evals[self.seen..].iter().any(|e| self.in_last.contains(&(e.phase, e.round, e.arch_key.clone())));
        if retried {
            *self = Self { order: std::mem::take(&mut self.order), ..Self::default() };
            let mut last = last_attempts(evals);
            last.sort_by_key(|e| self.place(e));
            for e in last {
                self.push_last(e, cost)?;
            }
        }
        // stable: the whole history sorted by place is the old history, then the new records by place
        // (a new record's place is after every earlier one's: the order only grows)
        let mut new: Vec<&EvalRecord> = evals[self.seen..].iter().collect();
        new.sort_by_key(|e| self.place(e));
        if !retried {
            for e in &new {
                self.push_last(e, cost)?;
            }
        }
        self.all.extend(new.iter().map(|e| (e.genotype.clone(), e.accuracy)));
        self.seen = evals.len();
        Ok(())
    }

    fn push_last(&mut self, e: &EvalRecord, cost: &dyn Fn(&EvalRecord) -> Result<Vec<f64>>) -> Result<()> {
        self.in_last.insert((e.phase, e.round, e.arch_key.clone()));
        self.last.push((e.genotype.clone(), e.accuracy.map(|a| a / 100.0), cost(e)?));
        Ok(())
    }
}

impl<S: SearchSpace, B: AutodiffBackend> Workflow<'_, S, B> {
    /// A real-evaluation baseline: proposes architectures in waves and
    /// evaluates each wave at once. Random search proposes all its queries
    /// in one wave (a proposal does not depend on results); regularized
    /// evolution and NSGA-II as many as the evaluator runs at once
    /// ([`crate::eval::Evaluator::parallelism`]), each from the history
    /// before its wave. Proposal `i` draws from generator step `i`; the wave
    /// is checkpointed before it is evaluated, so a resume evaluates the same
    /// architectures and the same seed gives the same run whatever the timing.
    pub(super) fn baseline(&mut self) -> Result<()> {
        let queries = self.cfg.search.queries.expect("checked by RunConfig::load");
        let strategy = self.cfg.strategy;
        let phase = Phase::Baseline(strategy);
        // runs made before proposals.csv kept the order in the checkpoint
        let mut proposed = self.dir.read_proposals()?;
        if proposed.is_empty() && !self.state.proposed.is_empty() {
            self.dir.append_proposals(&self.state.proposed)?;
            proposed = std::mem::take(&mut self.state.proposed);
        }
        self.state.proposed.clear();
        let mut history = History::new(proposed);
        let mut taken: HashSet<String> = self.evals.keys().clone();
        taken.extend(self.state.wave.iter().map(|p| p.key.clone()));
        let (space, objectives) = (self.space, &self.cfg.search.objectives);
        let cost = |e: &EvalRecord| -> Result<Vec<f64>> {
            // the latency the search sees (predicted, deterministic), not the
            // measured one (a timing is noise a re-run would not repeat)
            Ok(nsga2::costs(objectives, space.cost(&space.parse(&e.genotype)?)))
        };
        let no_cost = |_: &EvalRecord| -> Result<Vec<f64>> { Ok(Vec::new()) };
        loop {
            if !self.state.wave.is_empty() {
                let wave = self.state.wave.clone();
                self.evaluate(&wave, phase, 0, Budget::Final, 1, false)?;
                self.state.wave.clear();
                self.save()?;
            }
            let done = self.evals.distinct();
            if done >= queries || self.state.exhausted.is_some() {
                break;
            }
            if strategy != Strategy::RandomSearch {
                history.sync(&self.evals, if strategy == Strategy::Nsga2 { &cost } else { &no_cost })?;
            }
            let init = self.cfg.search.bananas.init;
            let size = match strategy {
                Strategy::RandomSearch => queries - done,
                Strategy::Bananas if done < init => (init - done).min(queries - done),
                Strategy::Bananas => self.cfg.search.bananas.per_round.clamp(1, queries - done),
                _ => self.evaluator.parallelism().clamp(1, queries - done),
            };
            // BANANAS ranks a whole round at once; what it cannot fill comes from random proposals
            let mut planned = match strategy {
                Strategy::Bananas if done >= init => self.bananas_round(done, size, &taken, &history)?,
                _ => Vec::new(),
            }
            .into_iter();
            let mut wave = Vec::with_capacity(size);
            for step in done..done + size {
                let g = match planned
                    .next()
                    .map(Ok)
                    .unwrap_or_else(|| self.propose(strategy, step, &taken, &mut history))
                {
                    Ok(g) => g,
                    // the proposal's draws found nothing new: on a space that can be listed, what is left
                    Err(e) => match self.left_in_space(&taken) {
                        None => return Err(e),
                        Some(left) if left.is_empty() => {
                            let note = self.exhausted_note(taken.len(), queries);
                            self.say(&note);
                            self.state.exhausted = Some(note);
                            break;
                        }
                        Some(mut left) => {
                            let mut rng = rng_for(self.cfg.seed, "left", 0, step);
                            left.swap_remove(rng.random_range(0..left.len()))
                        }
                    },
                };
                let pick = Pick::unscored(self.space.key(&g), self.space.format(&g));
                taken.insert(pick.key.clone());
                let next = history.order.len() + 1;
                history.order.entry(pick.key.clone()).or_insert(next);
                wave.push(pick);
            }
            // the order first: a kill between the two proposes the same wave again, listed twice
            self.dir.append_proposals(&wave.iter().map(|p| p.key.clone()).collect::<Vec<_>>())?;
            self.state.wave = wave;
            self.save()?;
        }
        self.state.stage = Stage::Report;
        Ok(())
    }

    /// A baseline's proposal number `step`, from the history and never one of `taken`.
    fn propose(
        &self,
        strategy: Strategy,
        step: usize,
        taken: &HashSet<String>,
        history: &mut History,
    ) -> Result<S::Genotype> {
        let mut rng = rng_for(self.cfg.seed, strategy.name(), 0, step);
        let (space, search, constraints) = (self.space, &self.cfg.search, &self.cfg.constraints);
        let g = match strategy {
            Strategy::RandomSearch | Strategy::Bananas => random::propose(space, constraints, &mut rng, taken),
            Strategy::Nsga2 => {
                nsga2::propose(space, &search.nsga2, constraints, &mut rng, &history.last, taken, &mut history.replay)
            }
            _ => regularized::propose(space, &search.regularized, constraints, &mut rng, &history.all, taken),
        }
        .map_err(|e| self.search_error(e))?;
        self.latency_error()?;
        Ok(g)
    }

    /// A BANANAS round proposed when `done` architectures are evaluated:
    /// up to `size` of them, from its own generator for that point.
    fn bananas_round(
        &self,
        done: usize,
        size: usize,
        taken: &HashSet<String>,
        history: &History,
    ) -> Result<Vec<S::Genotype>> {
        let mut rng = rng_for(self.cfg.seed, Strategy::Bananas.name(), 0, done);
        let (space, cfg, constraints) = (self.space, &self.cfg.search.bananas, &self.cfg.constraints);
        let wave = bananas::propose_wave(space, cfg, constraints, &mut rng, &history.all, taken, size)
            .map_err(|e| self.search_error(e))?;
        self.latency_error()?;
        Ok(wave)
    }

    /// When no proposal could be made, on a space that can be listed: one
    /// architecture of each key not `taken` that meets the constraints, in
    /// the space's order (None when the space cannot be listed).
    fn left_in_space(&self, taken: &HashSet<String>) -> Option<Vec<S::Genotype>> {
        let mut seen = HashSet::new();
        let left = self
            .space
            .all()?
            .into_iter()
            .filter(|g| {
                let key = self.space.key(g);
                !taken.contains(&key) && self.cfg.constraints.holds(self.space.cost(g)) && seen.insert(key)
            })
            .collect();
        Some(left)
    }

    /// The note that says the space is exhausted: `evaluated` distinct
    /// architectures were all it had.
    fn exhausted_note(&self, evaluated: usize, queries: usize) -> String {
        let constrained = if self.cfg.constraints.describe().is_empty() { "" } else { " that meet the constraints" };
        format!(
            "the space is exhausted: its {evaluated} distinct architectures{constrained} are all evaluated or \
             being evaluated, fewer than the {queries} search.queries asked for; the run ends with them",
        )
    }
}
