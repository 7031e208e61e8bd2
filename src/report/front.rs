//! The measured front of a run whose `search.objectives` include a cost:
//! `pareto.csv` (the measured architectures no other measured one beats in
//! both signal accuracy and cost), `front.csv` (one row: the front's size and
//! hypervolume, by signal and by reported accuracy) and a table for
//! `summary.md`.
//!
//! Hypervolume: the share of the box [0, 100%] accuracy x [0, reference]
//! cost that the measured points dominate (1 is an architecture at 100% that
//! costs nothing), over the first cost objective.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::ReportInput;
use crate::run::records::EvalRecord;
use crate::search::nsga2::{Objective, hypervolume};
use crate::search::pareto::non_dominated_sort;

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
    /// Architectures measured successfully.
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
fn cost_of(e: &EvalRecord, objective: Objective) -> f64 {
    match objective {
        Objective::Params => e.std_params.unwrap_or(e.params) as f64,
        _ => e.std_macs.unwrap_or(e.macs) as f64,
    }
}

/// The measured front (by signal), cheapest first, and the `front.csv` row.
pub fn front(r: &ReportInput<'_>, spec: &FrontSpec, evals: &[&EvalRecord]) -> (Vec<ParetoRow>, FrontRow) {
    let ok: Vec<&EvalRecord> = evals.iter().copied().filter(|e| e.accuracy.is_some()).collect();
    let point = |e: &EvalRecord, acc: f64| vec![-acc, cost_of(e, spec.cost)];
    let points: Vec<Vec<f64>> = ok.iter().map(|e| point(e, e.accuracy.unwrap_or(0.0))).collect();
    let first = non_dominated_sort(&points).into_iter().next().unwrap_or_default();
    let predicted: HashMap<&str, f64> =
        r.top_k.iter().filter_map(|p| Some((p.key.as_str(), p.score? * 100.0))).collect();
    let mut rows: Vec<ParetoRow> = first
        .iter()
        .map(|&i| {
            let e = ok[i];
            ParetoRow {
                genotype: e.genotype.clone(),
                params: e.std_params.unwrap_or(e.params),
                macs: e.std_macs.unwrap_or(e.macs),
                accuracy: e.accuracy.unwrap_or(0.0),
                report_accuracy: e.report_accuracy,
                predicted: predicted.get(e.arch_key.as_str()).copied(),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        let cost = |x: &ParetoRow| if spec.cost == Objective::Params { x.params } else { x.macs };
        cost(a).cmp(&cost(b)).then(b.accuracy.total_cmp(&a.accuracy))
    });
    let hv = |acc: &dyn Fn(&EvalRecord) -> Option<f64>| {
        let pts: Vec<(f64, f64)> =
            ok.iter().filter_map(|e| acc(e).map(|a| (a / 100.0, cost_of(e, spec.cost)))).collect();
        hypervolume(&pts, spec.reference)
    };
    let row = FrontRow {
        method: r.strategy.name().to_string(),
        seed: r.seed,
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
        "\n## Measured front: accuracy vs {}\n\n{} of the {} measured architectures are on it; hypervolume {:.4} \
         (reported accuracy: {:.4}; reference: 0% accuracy, {} {}).\n\n\
         | genotype | params (M) | MACs (M) | accuracy (%) | reported (%) | predicted (%) |\n| --- | --- | --- | --- | --- | --- |\n",
        row.cost, row.front_size, row.measured, row.hypervolume, row.report_hypervolume, row.reference_cost, row.cost
    );
    let opt = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.2}"));
    for p in rows {
        md.push_str(&format!(
            "| `{}` | {:.3} | {:.1} | {:.2} | {} | {} |\n",
            p.genotype,
            p.params as f64 / 1e6,
            p.macs as f64 / 1e6,
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
/// first, and the hypervolume.
pub fn nb201_true_front(
    space_file: &std::path::Path,
    cost: Objective,
    reference: f64,
) -> anyhow::Result<(Vec<FrontCell>, f64)> {
    use crate::data::nb201::{Nb201Column, Nb201Source, load};
    let space = crate::space::SpaceConfig::load(space_file)?.build()?;
    let table = load(&Nb201Source::Embedded, &[Nb201Column::Cifar10Test])?;
    let mut all = Vec::with_capacity(table.cells.len());
    for (cell, &acc) in table.cells.iter().zip(&table.accuracy[0]) {
        let text = cell.to_string();
        let c = cost.cost(space.cost_of(&text)?).unwrap_or(0.0);
        all.push((text, acc, c));
    }
    let points: Vec<Vec<f64>> = all.iter().map(|(_, a, c)| vec![-a, *c]).collect();
    let first = non_dominated_sort(&points).into_iter().next().unwrap_or_default();
    let mut front: Vec<FrontCell> = first.iter().map(|&i| all[i].clone()).collect();
    front.sort_by(|a, b| a.2.total_cmp(&b.2).then(b.1.total_cmp(&a.1)));
    let pts: Vec<(f64, f64)> = all.iter().map(|(_, a, c)| (a / 100.0, *c)).collect();
    Ok((front, hypervolume(&pts, reference)))
}
