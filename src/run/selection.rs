//! The workflow's decisions about data, as pure functions: which
//! evaluations train the predictor, which of them validate it, which
//! measured architectures are best, and which architectures make a round's
//! top-K. No I/O; randomness comes from the caller's generator.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::records::{EvalRecord, Phase, last_attempts};
use super::state::{Pick, PickSource};
use crate::eval::Budget;
use crate::search::Bound;
use crate::search::evolution::Member;

/// One measured architecture the predictor learns from.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingRow {
    pub key: String,
    pub genotype: String,
    /// Top-1 in %.
    pub accuracy: f64,
}

/// The predictor's training data: every successful evaluation of the run,
/// then those of `extra` (earlier runs), one row per architecture: the
/// mean of its trainings in the first phase and round that measured it
/// (`search.final_repeats`; summed in repeat order), ordered by key so that
/// evaluations finishing in any order give the same data. Labels are of
/// one budget: with unequal budgets only the proxy budget's accuracies (a
/// final-budget accuracy is of a longer training, on another scale). The
/// reference architecture (`search.reference`) is not among them.
pub fn training_rows(evals: &[EvalRecord], extra: &[EvalRecord], budgets_equal: bool) -> Vec<TrainingRow> {
    let mut first: HashMap<&str, (Phase, usize, bool)> = HashMap::new();
    let mut trainings: HashMap<&str, Vec<(usize, f64)>> = HashMap::new();
    let mut order: Vec<&EvalRecord> = Vec::new();
    for (from_extra, e) in evals.iter().map(|e| (false, e)).chain(extra.iter().map(|e| (true, e))) {
        let Some(accuracy) = e.accuracy else { continue };
        if !(budgets_equal || e.budget == Budget::Proxy) || e.phase == Phase::Reference {
            continue;
        }
        let stage = *first.entry(&e.arch_key).or_insert_with(|| {
            order.push(e);
            (e.phase, e.round, from_extra)
        });
        if stage == (e.phase, e.round, from_extra) {
            trainings.entry(&e.arch_key).or_default().push((e.repeat, accuracy));
        }
    }
    let mut rows: Vec<TrainingRow> = order
        .into_iter()
        .map(|e| {
            let mut t = trainings.remove(e.arch_key.as_str()).unwrap_or_default();
            // one training per repeat (a repeat measured twice: its first stands)
            t.sort_by_key(|&(repeat, _)| repeat);
            t.dedup_by_key(|&mut (repeat, _)| repeat);
            let accuracy = t.iter().map(|&(_, a)| a).sum::<f64>() / t.len() as f64;
            TrainingRow { key: e.arch_key.clone(), genotype: e.genotype.clone(), accuracy }
        })
        .collect();
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    rows
}

/// The fewest held-out architectures whose Kendall tau may choose the
/// predictor's weights: over fewer the tau takes a handful of values (over
/// 2 it is +1 or -1), and the run trains on all of them instead.
pub const MIN_VALIDATION: usize = 5;

/// Splits `n` rows into (validation, training) indices: a shuffled
/// `val_fraction` of them, at least 2, is held out; none when it is 0.
pub fn split(n: usize, val_fraction: f64, rng: &mut StdRng) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let n_val = if val_fraction > 0.0 { ((val_fraction * n as f64).ceil() as usize).max(2) } else { 0 };
    let train = order.split_off(n_val.min(n));
    (order, train)
}

/// What decides which measured architectures compete for the run's best.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rules {
    /// Whether the evaluator's proxy and final budgets are one evaluation.
    pub budgets_equal: bool,
    /// The run's latency constraint (`constraints.latency_ms`), judged on
    /// the measured latency.
    pub latency: Bound,
}

impl From<bool> for Rules {
    /// Rules of a run without a latency constraint.
    fn from(budgets_equal: bool) -> Self {
        Self { budgets_equal, latency: Bound::default() }
    }
}

impl Rules {
    /// Whether `e`'s measured latency meets the latency constraint (true
    /// when there is none; false when there is one and `e` has no measurement).
    pub fn meets_latency(&self, e: &EvalRecord) -> bool {
        !self.latency.is_set() || e.latency_ms.is_some_and(|l| self.latency.holds(l))
    }
}

/// Whether a measured architecture competes for the run's best: every
/// evaluation does when the proxy and final budgets are one evaluation
/// (baselines measure with the final budget only), else only the final
/// budget's (a proxy accuracy is of a cheaper training, not comparable);
/// with a latency constraint, only those whose measured latency meets it.
pub fn competes(e: &EvalRecord, rules: impl Into<Rules>) -> bool {
    let rules = rules.into();
    (rules.budgets_equal || e.budget == Budget::Final) && rules.meets_latency(e) && e.phase != Phase::Reference
}

/// The one order of measured architectures: higher signal first, then by
/// key (so ties break the same way everywhere); a missing or NaN accuracy
/// ranks last.
pub fn best_order(a: &EvalRecord, b: &EvalRecord) -> Ordering {
    let signal = |e: &EvalRecord| e.accuracy.filter(|x| !x.is_nan()).unwrap_or(f64::NEG_INFINITY);
    signal(b).total_cmp(&signal(a)).then_with(|| a.arch_key.cmp(&b.arch_key))
}

/// The measured architectures that compete (see [`competes`]), best first
/// by [`best_order`]: each slot's last attempt, successes only, and an
/// architecture trained several times in one phase and round
/// (`search.final_repeats`) as one measurement: the mean of its trainings
/// ([`mean_of`]). The run's best is the first; the summary, `best`, the
/// plots and the search's incumbent all take it from here.
pub fn best_first(evals: &[EvalRecord], rules: impl Into<Rules>) -> Vec<Cow<'_, EvalRecord>> {
    let rules = rules.into();
    let mut groups: Vec<Vec<&EvalRecord>> = Vec::new();
    let mut index: HashMap<(Phase, usize, &str), usize> = HashMap::new();
    for e in last_attempts(evals) {
        if e.accuracy.is_some_and(f64::is_finite) && competes(e, rules) {
            let i = *index.entry((e.phase, e.round, e.arch_key.as_str())).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[i].push(e);
        }
    }
    let mut measured: Vec<Cow<'_, EvalRecord>> =
        groups.into_iter().map(|g| if g.len() == 1 { Cow::Borrowed(g[0]) } else { Cow::Owned(mean_of(&g)) }).collect();
    measured.sort_by(|a, b| best_order(a, b));
    measured
}

/// Several successful trainings of one architecture as one measurement:
/// the first repeat's record with the mean signal and the mean reported
/// accuracy (summed in repeat order, so any finishing order gives the same
/// figure) and the trainings' seconds added up.
pub fn mean_of(trainings: &[&EvalRecord]) -> EvalRecord {
    let mut t = trainings.to_vec();
    t.sort_by_key(|e| e.repeat);
    let n = t.len() as f64;
    let mean = |v: &dyn Fn(&EvalRecord) -> Option<f64>| -> Option<f64> {
        t.iter().map(|e| v(e)).sum::<Option<f64>>().map(|s| s / n)
    };
    EvalRecord {
        accuracy: mean(&|e| e.accuracy),
        report_accuracy: mean(&|e| e.report_accuracy),
        seconds: t.iter().map(|e| e.seconds).sum(),
        ..t[0].clone()
    }
}

/// The successful trainings (last attempts) of `e`'s architecture in `e`'s
/// phase and round, in repeat order: one, or `search.final_repeats` of them.
pub fn trainings<'a>(evals: &'a [EvalRecord], e: &EvalRecord) -> Vec<&'a EvalRecord> {
    let mut t: Vec<&EvalRecord> = last_attempts(evals)
        .into_iter()
        .filter(|r| (r.phase, r.round, &r.arch_key) == (e.phase, e.round, &e.arch_key) && r.accuracy.is_some())
        .collect();
    t.sort_by_key(|r| r.repeat);
    t
}

/// The run's best measured architecture (the first of [`best_first`]).
pub fn best(evals: &[EvalRecord], rules: impl Into<Rules>) -> Option<Cow<'_, EvalRecord>> {
    best_first(evals, rules).into_iter().next()
}

/// A round's top-K: the `local` picks first (already unmeasured, best
/// predicted first), then the evolution's best predicted (`hall_of_fame`,
/// best first) that were neither measured (`measured` keys) nor picked.
pub fn top_k(
    local: Vec<Member>,
    hall_of_fame: &[Member],
    measured: &HashSet<String>,
    k: usize,
    round: usize,
) -> Vec<Pick> {
    let pick = |m: Member, source| Pick {
        key: m.key,
        genotype: m.genotype,
        score: Some(m.score),
        round,
        source,
        latency_ms: None,
    };
    let local: Vec<Member> = local.into_iter().take(k).collect();
    let taken: HashSet<&str> = local.iter().map(|m| m.key.as_str()).collect();
    let from_evolution: Vec<Member> = hall_of_fame
        .iter()
        .filter(|m| !measured.contains(&m.key) && !taken.contains(m.key.as_str()))
        .take(k - local.len())
        .cloned()
        .collect();
    local
        .into_iter()
        .map(|m| pick(m, PickSource::Local))
        .chain(from_evolution.into_iter().map(|m| pick(m, PickSource::Evolution)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::records::Phase;
    use rand::SeedableRng;

    fn rec(key: &str, accuracy: Option<f64>) -> EvalRecord {
        EvalRecord::example(key, accuracy)
    }

    fn member(key: &str, score: f64) -> Member {
        Member { key: key.into(), genotype: format!("g-{key}"), score }
    }

    #[test]
    fn training_rows_keep_successes_once_ordered_by_key() {
        let evals = [rec("b", Some(90.0)), rec("a", None), rec("c", Some(80.0)), rec("b", Some(70.0))];
        let extra = [rec("a", Some(60.0)), rec("c", Some(10.0))];
        let rows = training_rows(&evals, &extra, true);
        let got: Vec<(&str, f64)> = rows.iter().map(|r| (r.key.as_str(), r.accuracy)).collect();
        assert_eq!(got, [("a", 60.0), ("b", 90.0), ("c", 80.0)]);
        // unequal budgets: a final-budget accuracy is no label
        let mut fin = rec("d", Some(99.0));
        fin.budget = Budget::Final;
        let rows = training_rows(&[rec("b", Some(90.0)), fin], &[], false);
        assert_eq!(rows.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), ["b"]);
    }

    #[test]
    fn split_holds_out_a_share_but_at_least_two() {
        let mut rng = StdRng::seed_from_u64(1);
        let (val, trn) = split(10, 0.15, &mut rng);
        assert_eq!((val.len(), trn.len()), (2, 8));
        let mut all: Vec<usize> = val.iter().chain(&trn).copied().collect();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(split(10, 0.0, &mut rng).0.len(), 0);
        assert_eq!(split(20, 0.25, &mut rng).0.len(), 5);
        assert_eq!(split(10, 0.15, &mut StdRng::seed_from_u64(1)), (val, trn), "the split is the generator's");
    }

    #[test]
    fn best_first_orders_by_accuracy_then_key_and_drops_failures() {
        let evals = [rec("b", Some(90.0)), rec("x", None), rec("a", Some(90.0)), rec("c", Some(95.0))];
        let first = best_first(&evals, true);
        let keys: Vec<&str> = first.iter().map(|e| e.arch_key.as_str()).collect();
        assert_eq!(keys, ["c", "a", "b"]);
    }

    #[test]
    fn with_unequal_budgets_only_the_final_budget_competes_and_the_last_attempt_counts() {
        let mut top = rec("t", Some(80.0));
        top.budget = Budget::Final;
        top.phase = Phase::Final;
        // a proxy accuracy above every final one does not make the best
        let evals = [rec("p", Some(99.0)), top.clone(), rec("q", Some(50.0))];
        assert_eq!(best(&evals, false).as_deref().map(|e| e.arch_key.as_str()), Some("t"));
        assert_eq!(best(&evals, true).as_deref().map(|e| e.arch_key.as_str()), Some("p"));
        // a retry that failed after a success: the architecture's last attempt failed
        let mut retry = rec("p", None);
        retry.attempt = 2;
        let evals = [rec("p", Some(99.0)), retry, rec("q", Some(50.0))];
        assert_eq!(best(&evals, true).as_deref().map(|e| e.arch_key.as_str()), Some("q"));
        // a NaN accuracy (a damaged file) never ranks first
        assert_eq!(
            best(&[rec("n", Some(f64::NAN)), rec("q", Some(1.0))], true).as_deref().map(|e| e.arch_key.as_str()),
            Some("q")
        );
        assert_eq!(best_order(&rec("n", Some(f64::NAN)), &rec("q", Some(1.0))), Ordering::Greater);
    }

    #[test]
    fn an_architecture_trained_several_times_competes_by_its_mean() {
        let training = |key: &str, repeat: usize, accuracy: f64| EvalRecord {
            phase: Phase::Final,
            repeat,
            report_accuracy: Some(accuracy - 1.0),
            ..rec(key, Some(accuracy))
        };
        // a's best training (90) beats b, its mean (80) does not
        let evals = [training("a", 1, 90.0), rec("b", Some(85.0)), training("a", 2, 70.0)];
        let order: Vec<(String, Option<f64>)> =
            best_first(&evals, true).iter().map(|e| (e.arch_key.clone(), e.accuracy)).collect();
        assert_eq!(order, [("b".to_string(), Some(85.0)), ("a".to_string(), Some(80.0))]);
        let a = &best_first(&evals, true)[1];
        assert_eq!((a.report_accuracy, a.repeat), (Some(79.0), 1));
        assert_eq!(trainings(&evals, a).iter().map(|e| e.repeat).collect::<Vec<_>>(), [1, 2]);
        // a failed further training does not count; one that succeeds raises the mean
        let mut more = evals.to_vec();
        more.push(EvalRecord { accuracy: None, ..training("a", 3, 0.0) });
        assert_eq!(best(&more, true).map(|e| e.arch_key.clone()), Some("b".into()));
        more.push(training("a", 3, 98.0));
        assert_eq!(best(&more, true).map(|e| (e.arch_key.clone(), e.accuracy)), Some(("a".into(), Some(86.0))));
        // the predictor learns the mean too, whatever order the trainings ended in
        let mut shuffled = more.clone();
        shuffled.reverse();
        for evals in [&more, &shuffled] {
            let rows = training_rows(evals, &[], true);
            assert_eq!(
                rows.iter().map(|r| (r.key.as_str(), r.accuracy)).collect::<Vec<_>>(),
                [("a", 86.0), ("b", 85.0)]
            );
        }
    }

    #[test]
    fn top_k_takes_local_picks_then_unmeasured_unpicked_evolution_members() {
        let hall = [member("m1", 0.9), member("l1", 0.8), member("e1", 0.7), member("e2", 0.6), member("e3", 0.5)];
        let measured: HashSet<String> = ["m1".to_string()].into();
        let picks = top_k(vec![member("l1", 0.8)], &hall, &measured, 3, 2);
        let got: Vec<(&str, PickSource, usize)> = picks.iter().map(|p| (p.key.as_str(), p.source, p.round)).collect();
        assert_eq!(
            got,
            [("l1", PickSource::Local, 2), ("e1", PickSource::Evolution, 2), ("e2", PickSource::Evolution, 2)]
        );
        assert_eq!(picks[1].score, Some(0.7));
        // more local picks than k: only k are taken
        let picks = top_k(vec![member("x", 0.1), member("y", 0.1)], &hall, &measured, 1, 0);
        assert_eq!(picks.len(), 1);
        // a short hall of fame gives fewer than k
        assert_eq!(top_k(Vec::new(), &hall[..2], &measured, 5, 0).len(), 1);
    }
}
