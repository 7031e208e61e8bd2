//! The measured front of a run whose `search.objectives` include a cost:
//! `pareto.csv` (the measured architectures no other measured one beats in
//! both signal accuracy and cost), `front.csv` (one row: the front's size and
//! hypervolume, by signal and by reported accuracy) and a table for
//! `summary.md`.
//!
//! A front is of the evaluations that compete for the run's best
//! (`run::selection::competes`: of one budget, every one when the budgets
//! are equal, else the final budget's; under `constraints.latency_ms`, only
//! those whose measured latency meets it: what a user deploys from), priced
//! at the space's standard network (the cost the search optimised and the
//! constraints bound). [`measured_front`] is its one definition;
//! `pareto.csv`, the hypervolume, `summary.md` and the plots all draw it.
//!
//! Hypervolume: the share of the box [0, 100%] accuracy x [0, reference]
//! cost that the measured points dominate (1 is an architecture at 100% that
//! costs nothing), over the first cost objective.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::ReportInput;
use crate::run::records::EvalRecord;
use crate::run::selection;
use crate::search::nsga2::{Objective, hypervolume};
use crate::search::pareto::first_front_2d;

/// The objectives of the front and the hypervolume's reference cost.
#[derive(Clone, Debug)]
pub struct FrontSpec {
    /// The first cost objective.
    pub cost: Objective,
    pub reference: f64,
}

/// A row of `pareto.csv`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ParetoRow {
    pub genotype: String,
    pub params: u64,
    pub macs: u64,
    /// Measured latency (ms), when the run has a latency source.
    pub latency_ms: Option<f64>,
    /// Measured signal, %.
    pub accuracy: f64,
    /// Reported accuracy, %, where the evaluator measures one apart.
    pub report_accuracy: Option<f64>,
    /// The predictor's score when it picked the architecture, %.
    pub predicted: Option<f64>,
}

/// `front.csv`: the front in one row.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FrontRow {
    pub method: String,
    pub seed: u64,
    /// The evaluations the front is of: `final` (the final budget's) or
    /// `all` (one budget measured them all).
    pub budget: String,
    /// Architectures measured successfully with that budget.
    pub measured: usize,
    pub cost: String,
    pub reference_cost: f64,
    pub front_size: usize,
    /// Hypervolume of the measured points by signal accuracy.
    pub hypervolume: f64,
    /// By reported accuracy (the same unless the evaluator reports apart).
    pub report_hypervolume: f64,
}

/// The standard network's costs of an evaluation (as the search saw them).
/// Latency is the measured one; an evaluation without it costs infinitely
/// (it adds no hypervolume, and is on the front only as its most accurate
/// point, at the far end).
pub fn cost_of(e: &EvalRecord, objective: Objective) -> f64 {
    match objective {
        Objective::Params => e.std_params.unwrap_or(e.params) as f64,
        Objective::Latency => e.latency_ms.unwrap_or(f64::INFINITY),
        _ => e.std_macs.unwrap_or(e.macs) as f64,
    }
}

/// The measured front: the candidates that compete (each architecture's
/// last successful attempt, see the module doc) no other beats in both
/// signal and `cost`, cheapest first (ties: better signal first).
pub fn measured_front(
    evals: &[EvalRecord],
    rules: impl Into<selection::Rules>,
    cost: Objective,
) -> Vec<Cow<'_, EvalRecord>> {
    front_of(selection::best_first(evals, rules), cost)
}

/// The non-dominated ones of `candidates` by signal and `cost`, cheapest first.
fn front_of(candidates: Vec<Cow<'_, EvalRecord>>, cost: Objective) -> Vec<Cow<'_, EvalRecord>> {
    let points: Vec<(f64, f64)> = candidates.iter().map(|e| (cost_of(e, cost), -e.accuracy.unwrap_or(0.0))).collect();
    let on: std::collections::HashSet<usize> = first_front_2d(&points).into_iter().collect();
    let mut front: Vec<Cow<'_, EvalRecord>> =
        candidates.into_iter().enumerate().filter(|(i, _)| on.contains(i)).map(|(_, e)| e).collect();
    front.sort_by(|a, b| cost_of(a, cost).total_cmp(&cost_of(b, cost)).then_with(|| selection::best_order(a, b)));
    front
}

/// The measured front (by signal), cheapest first, and the `front.csv` row.
pub fn front(r: &ReportInput<'_>, spec: &FrontSpec) -> (Vec<ParetoRow>, FrontRow) {
    let ok = selection::best_first(r.evals, r.rules());
    let predicted: HashMap<&str, f64> =
        r.top_k.iter().filter_map(|p| Some((p.key.as_str(), p.score? * 100.0))).collect();
    let rows: Vec<ParetoRow> = front_of(ok.clone(), spec.cost)
        .into_iter()
        .map(|e| ParetoRow {
            genotype: e.genotype.clone(),
            params: e.std_params.unwrap_or(e.params),
            macs: e.std_macs.unwrap_or(e.macs),
            latency_ms: e.latency_ms,
            accuracy: e.accuracy.unwrap_or(0.0),
            report_accuracy: e.report_accuracy,
            predicted: predicted.get(e.arch_key.as_str()).copied(),
        })
        .collect();
    let hv = |acc: &dyn Fn(&EvalRecord) -> Option<f64>| {
        let pts: Vec<(f64, f64)> =
            ok.iter().filter_map(|e| acc(e).map(|a| (a / 100.0, cost_of(e, spec.cost)))).collect();
        hypervolume(&pts, spec.reference)
    };
    let row = FrontRow {
        method: r.strategy.name().to_string(),
        seed: r.seed,
        budget: if r.budgets_equal { "all" } else { "final" }.to_string(),
        measured: ok.len(),
        cost: spec.cost.name().to_string(),
        reference_cost: spec.reference,
        front_size: rows.len(),
        hypervolume: hv(&|e| e.accuracy),
        report_hypervolume: hv(&|e| e.reported()),
    };
    (rows, row)
}

/// The front as a Markdown section of `summary.md`.
pub fn markdown(rows: &[ParetoRow], row: &FrontRow) -> String {
    let mut md = format!(
        "\n## Measured front: accuracy vs {}\n\n{} of the {} architectures measured {} are on it; hypervolume {:.4} \
         (reported accuracy: {:.4}; reference: 0% accuracy, {} {}; costs of the space's standard network).\n\n\
         | genotype | params (M) | MACs (M) | latency (ms) | accuracy (%) | reported (%) | predicted (%) |\n| --- | --- | --- | --- | --- | --- | --- |\n",
        row.cost,
        row.front_size,
        row.measured,
        if row.budget == "final" {
            "with the final budget (proxy accuracies are of another training)"
        } else {
            "(one budget)"
        },
        row.hypervolume,
        row.report_hypervolume,
        row.reference_cost,
        if row.cost == "latency" { "ms latency" } else { &row.cost }
    );
    let opt = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.2}"));
    for p in rows {
        md.push_str(&format!(
            "| `{}` | {:.3} | {:.1} | {} | {:.2} | {} | {} |\n",
            p.genotype,
            p.params as f64 / 1e6,
            p.macs as f64 / 1e6,
            p.latency_ms.map_or("-".to_string(), |v| format!("{v:.3}")),
            p.accuracy,
            opt(p.report_accuracy),
            opt(p.predicted)
        ));
    }
    md
}

/// A cell of a front: (genotype, accuracy %, cost).
pub type FrontCell = (String, f64, f64);

/// NAS-Bench-201's true front: every one of its 15,625 cells by CIFAR-10
/// test accuracy against `cost` in the space of `space_file`, with its
/// hypervolume at `reference` (the best value a run's measured front can
/// reach). Returns (genotype, accuracy %, cost) of the front, cheapest
/// first, and the hypervolume. Latency comes from `latency`, a measurement
/// of every cell.
pub fn nb201_true_front(
    space_file: &std::path::Path,
    cost: Objective,
    reference: f64,
    latency: Option<&crate::latency::LatencyTable>,
) -> anyhow::Result<(Vec<FrontCell>, f64)> {
    use crate::data::nb201::{Nb201Column, Nb201Source, load};
    let space = crate::space::SpaceConfig::load(space_file)?.build()?;
    let table = load(&Nb201Source::Embedded, &[Nb201Column::Cifar10Test])?;
    let mut all = Vec::with_capacity(table.cells.len());
    for (cell, &acc) in table.cells.iter().zip(&table.accuracy[0]) {
        let text = cell.to_string();
        let mut costs = space.cost_of(&text)?;
        if let Some(t) = latency {
            costs.latency_ms =
                Some(t.get(&text).ok_or_else(|| anyhow::anyhow!("the latency table has no measurement of {text}"))?);
        }
        let c = cost.cost(costs).unwrap_or(0.0);
        all.push((text, acc, c));
    }
    let points: Vec<(f64, f64)> = all.iter().map(|(_, a, c)| (*c, -a)).collect();
    let mut front: Vec<FrontCell> = first_front_2d(&points).into_iter().map(|i| all[i].clone()).collect();
    front.sort_by(|a, b| a.2.total_cmp(&b.2).then(b.1.total_cmp(&a.1)));
    let pts: Vec<(f64, f64)> = all.iter().map(|(_, a, c)| (a / 100.0, *c)).collect();
    Ok((front, hypervolume(&pts, reference)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Budget;
    use crate::run::records::Phase;

    fn rec(key: &str, budget: Budget, accuracy: f64, macs: u64) -> EvalRecord {
        EvalRecord {
            phase: if budget == Budget::Final { Phase::Final } else { Phase::Data },
            params: 1,
            macs: macs / 2,
            budget,
            std_params: Some(1),
            std_macs: Some(macs),
            ..EvalRecord::example(key, Some(accuracy))
        }
    }

    fn keys(front: &[Cow<'_, EvalRecord>]) -> Vec<String> {
        front.iter().map(|e| e.arch_key.clone()).collect()
    }

    #[test]
    fn the_front_is_of_one_budget_non_dominated_and_priced_at_the_standard_network() {
        let evals = [
            rec("p-cheap", Budget::Proxy, 70.0, 100),
            rec("p-best", Budget::Proxy, 99.0, 300),
            rec("f-cheap", Budget::Final, 60.0, 100),
            rec("f-mid", Budget::Final, 65.0, 200),
            rec("f-dominated", Budget::Final, 62.0, 250),
            rec("f-best", Budget::Final, 80.0, 400),
        ];
        // unequal budgets: the proxy accuracies stay off the front
        assert_eq!(keys(&measured_front(&evals, false, Objective::Macs)), ["f-cheap", "f-mid", "f-best"]);
        // one budget: every evaluation competes
        assert_eq!(keys(&measured_front(&evals, true, Objective::Macs)), ["p-cheap", "p-best"]);
        // by params all cost the same: the best signal alone
        assert_eq!(keys(&measured_front(&evals, false, Objective::Params)), ["f-best"]);
    }

    #[test]
    fn under_a_latency_constraint_the_front_is_of_what_meets_it() {
        let timed =
            |key, accuracy, ms: Option<f64>| EvalRecord { latency_ms: ms, ..rec(key, Budget::Final, accuracy, 100) };
        let evals =
            [timed("fast", 60.0, Some(5.0)), timed("slow-best", 90.0, Some(20.0)), timed("untimed", 95.0, None)];
        let latency = crate::search::Bound { max: Some(10.0), ..Default::default() };
        let rules = selection::Rules { budgets_equal: true, latency };
        // without the constraint the slow one tops the front; with it only what meets it is left
        assert_eq!(keys(&measured_front(&evals, true, Objective::Latency)), ["fast", "slow-best", "untimed"]);
        assert_eq!(keys(&measured_front(&evals, rules, Objective::Latency)), ["fast"]);
        assert_eq!(keys(&measured_front(&evals, rules, Objective::Macs)), ["fast"]);
    }
}
