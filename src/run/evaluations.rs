//! The run's evaluations in memory, indexed as they arrive: each
//! architecture's last attempt per phase and round, the keys ever
//! evaluated, the failures per stage and the run's one best, kept up to
//! date one record at a time so that the driver's cost per evaluation does
//! not grow with the number of evaluations already made (a run of cheap
//! evaluations makes 10^5 of them). The answers are those of the
//! whole-record functions of [`super::records`] and [`super::selection`].

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ops::Deref;

use super::records::{EvalRecord, Phase};
use super::selection::{self, Rules};

/// Where an architecture's attempts in one phase and round stand.
#[derive(Clone, Copy, Debug)]
struct Attempts {
    /// Index of the last attempt in the records.
    last: usize,
    /// How many attempts there were.
    count: usize,
}

/// Every evaluation of the run in the order they ended, with indexes.
pub struct Evaluations {
    records: Vec<EvalRecord>,
    /// Per phase and round: per (architecture, repeat).
    attempts: HashMap<(Phase, usize), HashMap<(String, usize), Attempts>>,
    keys: HashSet<String>,
    /// Per phase and round: how many architectures' last attempt failed.
    failed: HashMap<(Phase, usize), usize>,
    rules: Rules,
    /// Index of the run's best under `rules` ([`selection::best`]), while
    /// every architecture was trained once.
    best: Option<usize>,
    /// Once an architecture was trained more than once (`search.final_repeats`):
    /// the run's best as [`selection::best`] gives it (a mean of trainings),
    /// found again after each record.
    best_of_repeats: Option<Option<EvalRecord>>,
}

impl Evaluations {
    /// The records on file (in the order they ended); `rules` decide the best.
    pub fn new(records: Vec<EvalRecord>, rules: Rules) -> Self {
        let mut out = Self {
            records: Vec::with_capacity(records.len()),
            attempts: HashMap::new(),
            keys: HashSet::new(),
            failed: HashMap::new(),
            rules,
            best: None,
            best_of_repeats: None,
        };
        for r in records {
            out.push(r);
        }
        out
    }

    /// Adds a record that just ended.
    pub fn push(&mut self, rec: EvalRecord) {
        let i = self.records.len();
        let stage = (rec.phase, rec.round);
        let by_key = self.attempts.entry(stage).or_default();
        let slot = (rec.arch_key.clone(), rec.repeat);
        let previous = by_key.get(&slot).copied();
        let failed = self.failed.entry(stage).or_default();
        if previous.is_some_and(|p| self.records[p.last].accuracy.is_none()) {
            *failed -= 1;
        }
        if rec.accuracy.is_none() {
            *failed += 1;
        }
        by_key.insert(slot, Attempts { last: i, count: previous.map_or(0, |p| p.count) + 1 });
        if !self.keys.contains(rec.arch_key.as_str()) {
            self.keys.insert(rec.arch_key.clone());
        }
        let replaces_best = previous.is_some_and(|p| Some(p.last) == self.best);
        let repeated = rec.repeat > 1;
        self.records.push(rec);
        if repeated || self.best_of_repeats.is_some() {
            // a mean of trainings changes with each of them: the whole rule again (runs that
            // repeat trainings make few, expensive evaluations)
            self.best_of_repeats = Some(selection::best(&self.records, self.rules).map(Cow::into_owned));
        } else if replaces_best {
            // the best's own evaluation was attempted again: the new attempt stands in its place
            self.recompute_best();
        } else if self.is_better(i) {
            self.best = Some(i);
        }
    }

    /// Whether record `i` beats the best so far by the one rule of [`selection::best`].
    fn is_better(&self, i: usize) -> bool {
        let e = &self.records[i];
        let candidate = e.accuracy.is_some_and(f64::is_finite) && selection::competes(e, self.rules);
        candidate && self.best.is_none_or(|b| selection::best_order(e, &self.records[b]).is_lt())
    }

    fn recompute_best(&mut self) {
        if self.best_of_repeats.is_some() {
            self.best_of_repeats = Some(selection::best(&self.records, self.rules).map(Cow::into_owned));
            return;
        }
        let best = selection::best(&self.records, self.rules);
        self.best = best.map(|b| {
            self.records.iter().position(|e| std::ptr::eq(e, b.as_ref())).expect("one of the records: none repeated")
        });
    }

    /// The run's best measured architecture ([`selection::best`] of every record).
    pub fn best(&self) -> Option<&EvalRecord> {
        match &self.best_of_repeats {
            Some(best) => best.as_ref(),
            None => self.best.map(|i| &self.records[i]),
        }
    }

    /// Sets the measured latency of records (index, ms): timed after they ended.
    pub fn set_latencies(&mut self, timed: impl IntoIterator<Item = (usize, f64)>) {
        for (i, ms) in timed {
            self.records[i].latency_ms = Some(ms);
        }
        // a latency decides whether a record meets the run's latency constraint
        self.recompute_best();
    }

    /// The last attempt of training `repeat` of `key` in `phase` and `round`.
    pub fn last_attempt(&self, phase: Phase, round: usize, key: &str, repeat: usize) -> Option<&EvalRecord> {
        self.attempts
            .get(&(phase, round))
            .and_then(|m| m.get(&(key.to_string(), repeat)))
            .map(|a| &self.records[a.last])
    }

    /// How many times training `repeat` of `key` was evaluated in `phase` and `round`.
    pub fn attempts(&self, phase: Phase, round: usize, key: &str, repeat: usize) -> usize {
        self.attempts.get(&(phase, round)).and_then(|m| m.get(&(key.to_string(), repeat))).map_or(0, |a| a.count)
    }

    /// How many architectures were evaluated, once per phase and round
    /// (`records::last_attempts(..).len()`).
    pub fn distinct(&self) -> usize {
        self.attempts.values().map(HashMap::len).sum()
    }

    /// How many architectures' last attempt in `phase` and `round` failed.
    pub fn failed(&self, phase: Phase, round: usize) -> usize {
        self.failed.get(&(phase, round)).copied().unwrap_or(0)
    }

    /// The key of every architecture evaluated, in any phase.
    pub fn keys(&self) -> &HashSet<String> {
        &self.keys
    }
}

impl Deref for Evaluations {
    type Target = [EvalRecord];

    fn deref(&self) -> &[EvalRecord] {
        &self.records
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Budget;
    use crate::run::records::{Status, last_attempts};
    use crate::search::Bound;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn record(rng: &mut StdRng, repeats: bool) -> EvalRecord {
        let ok = rng.random_bool(0.7);
        EvalRecord {
            phase: if rng.random_bool(0.5) { Phase::Data } else { Phase::Final },
            round: rng.random_range(0..2),
            arch_key: format!("k{}", rng.random_range(0..12)),
            genotype: String::new(),
            params: 0,
            macs: 0,
            budget: if rng.random_bool(0.5) { Budget::Proxy } else { Budget::Final },
            accuracy: ok.then(|| rng.random_range(0..5) as f64),
            seconds: 0.0,
            status: if ok { Status::Ok } else { Status::Failed },
            error: String::new(),
            extra: String::new(),
            report_accuracy: None,
            attempt: 1,
            std_params: None,
            std_macs: None,
            latency_ms: rng.random_bool(0.8).then(|| rng.random_range(1..10) as f64),
            repeat: if repeats { rng.random_range(1..=3) } else { 1 },
        }
    }

    #[test]
    fn the_indexes_answer_as_the_whole_records_do_after_every_record() {
        // few keys and stages, so that attempts repeat, failures replace successes and the best is re-evaluated
        let latency = Bound { max: Some(6.0), ..Default::default() };
        // the last: architectures trained up to 3 times (search.final_repeats), the best a mean
        for (seed, rules, repeats) in [
            (1, Rules::from(false), false),
            (2, Rules::from(true), false),
            (3, Rules { budgets_equal: true, latency }, false),
            (4, Rules::from(true), true),
        ] {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut ev = Evaluations::new(Vec::new(), rules);
            let mut all = Vec::new();
            for _ in 0..400 {
                let r = record(&mut rng, repeats);
                all.push(r.clone());
                ev.push(r);
                let last = last_attempts(&all);
                assert_eq!(ev.distinct(), last.len());
                assert_eq!(
                    ev.best().map(|e| &e.arch_key),
                    selection::best(&all, rules).as_deref().map(|e| &e.arch_key)
                );
                assert_eq!(
                    ev.best().and_then(|e| e.accuracy),
                    selection::best(&all, rules).as_deref().and_then(|e| e.accuracy)
                );
                for phase in [Phase::Data, Phase::Final] {
                    for round in 0..2 {
                        let failed = last
                            .iter()
                            .filter(|e| (e.phase, e.round) == (phase, round) && e.accuracy.is_none())
                            .count();
                        assert_eq!(ev.failed(phase, round), failed);
                    }
                }
                let k = &all[rng.random_range(0..all.len())];
                let n = all.iter().filter(|e| e.slot() == k.slot()).count();
                assert_eq!(ev.attempts(k.phase, k.round, &k.arch_key, k.repeat), n);
            }
            // a latency set afterwards can take the best off (or put another on)
            ev.set_latencies((0..all.len()).step_by(2).map(|i| (i, 9.0)));
            for e in all.iter_mut().step_by(2) {
                e.latency_ms = Some(9.0);
            }
            assert_eq!(ev.best().map(|e| &e.arch_key), selection::best(&all, rules).as_deref().map(|e| &e.arch_key));
            assert_eq!(
                Evaluations::new(all.clone(), rules).best().map(|e| &e.arch_key),
                ev.best().map(|e| &e.arch_key)
            );
        }
    }
}
