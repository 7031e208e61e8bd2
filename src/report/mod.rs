//! What a finished run reports: `topk.csv` (each round's top-K with predicted
//! and measured accuracy), `summary.csv` (one row in the paper's table
//! format) and `summary.md`. Pure formatting of the run's records.

use anyhow::Result;
use serde::Serialize;

use crate::run::config::Strategy;
use crate::run::records::{EvalRecord, Phase};
use crate::run::run_dir::RunDir;
use crate::run::state::{Pick, PickSource};

/// Everything the report is made from.
pub struct ReportInput<'a> {
    pub strategy: Strategy,
    pub space: &'a str,
    pub seed: u64,
    pub evals: &'a [EvalRecord],
    pub top_k: &'a [Pick],
    /// Whether the evaluator's proxy and final budgets are one evaluation.
    pub budgets_equal: bool,
    pub predictor_seconds: f64,
    pub search_seconds: f64,
    pub scored: usize,
}

/// `summary.csv`: one row in the paper's table format.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct SummaryRow {
    pub method: String,
    pub space: String,
    pub seed: u64,
    pub best_genotype: String,
    pub params_m: f64,
    pub macs_m: f64,
    pub top1: Option<f64>,
    pub archs_trained: usize,
    pub failed: usize,
    pub search_gpu_hours: f64,
    pub search_gpu_days: f64,
    pub eval_seconds: f64,
    pub predictor_seconds: f64,
    pub search_seconds: f64,
    pub archs_scored: usize,
}

#[derive(Serialize)]
struct TopKRow<'a> {
    round: usize,
    rank: usize,
    source: PickSource,
    arch_key: &'a str,
    genotype: &'a str,
    predicted: Option<f64>,
    params: Option<u64>,
    macs: Option<u64>,
    accuracy: Option<f64>,
}

/// Writes `topk.csv`, `summary.csv` and `summary.md`; returns the summary row.
pub fn write(dir: &RunDir, r: &ReportInput<'_>) -> Result<SummaryRow> {
    // Which evaluations compete for the best architecture: all of them when
    // one budget measured them all (baselines measure only with the final one).
    let all_compete = r.budgets_equal || !r.strategy.uses_predictor();
    let final_eval = |key: &str| r.evals.iter().find(|e| e.arch_key == key && e.phase == Phase::Final);
    let rows: Vec<TopKRow> = r
        .top_k
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let e = final_eval(&p.key);
            // rank within the round: the picks of a round are consecutive
            let first_of_round = r.top_k.iter().position(|q| q.round == p.round).unwrap_or(i);
            TopKRow {
                round: p.round,
                rank: i - first_of_round + 1,
                source: p.source,
                arch_key: &p.key,
                genotype: &p.genotype,
                predicted: p.score.map(|s| s * 100.0),
                params: e.map(|e| e.params),
                macs: e.map(|e| e.macs),
                accuracy: e.and_then(|e| e.accuracy),
            }
        })
        .collect();
    dir.write_csv("topk.csv", &rows)?;

    let best = r
        .evals
        .iter()
        .filter(|e| e.accuracy.is_some() && (all_compete || e.phase != Phase::Data))
        .fold(None::<&EvalRecord>, |b, e| if b.is_none_or(|b| e.accuracy > b.accuracy) { Some(e) } else { b });
    let eval_seconds: f64 = r.evals.iter().map(|e| e.seconds).sum();
    let gpu_seconds = eval_seconds + r.predictor_seconds;
    let row = SummaryRow {
        method: r.strategy.name().to_string(),
        space: r.space.to_string(),
        seed: r.seed,
        best_genotype: best.map(|b| b.genotype.clone()).unwrap_or_default(),
        params_m: best.map_or(0.0, |b| b.params as f64 / 1e6),
        macs_m: best.map_or(0.0, |b| b.macs as f64 / 1e6),
        top1: best.and_then(|b| b.accuracy),
        archs_trained: r.evals.len(),
        failed: r.evals.iter().filter(|e| e.accuracy.is_none()).count(),
        search_gpu_hours: gpu_seconds / 3600.0,
        search_gpu_days: gpu_seconds / 86400.0,
        eval_seconds,
        predictor_seconds: r.predictor_seconds,
        search_seconds: r.search_seconds,
        archs_scored: r.scored,
    };
    dir.write_csv("summary.csv", std::slice::from_ref(&row))?;
    let md = format!(
        "# {method} on {space} (seed {seed})\n\n\
         | best architecture | params (M) | MACs (M) | top-1 (%) | archs trained | search cost (GPU-days) | search cost (GPU-hours) |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n\
         | `{g}` | {p:.2} | {m:.1} | {a} | {n} | {d:.4} | {h:.3} |\n\n\
         Search cost = measured seconds of real evaluation ({e:.1} s) and predictor training ({t:.1} s).\n\
         The search itself scored {s} architectures with the predictor in {ss:.1} s. Failed evaluations: {f}.\n",
        method = row.method,
        space = row.space,
        seed = row.seed,
        g = row.best_genotype,
        p = row.params_m,
        m = row.macs_m,
        a = row.top1.map_or("-".into(), |a| format!("{a:.2}")),
        n = row.archs_trained,
        d = row.search_gpu_days,
        h = row.search_gpu_hours,
        e = row.eval_seconds,
        t = row.predictor_seconds,
        s = row.archs_scored,
        ss = row.search_seconds,
        f = row.failed,
    );
    let mut md = md;
    if all_compete && r.strategy.uses_predictor() {
        md.push_str(&search_vs_random(r.evals));
    }
    dir.write("summary.md", md.as_bytes())?;
    Ok(row)
}

/// With one budget for all evaluations: the final top-K against the
/// randomly sampled architectures the predictor learnt from, at equal cost.
fn search_vs_random(evals: &[EvalRecord]) -> String {
    let acc = |phase: Phase| evals.iter().filter(|e| e.phase == phase).filter_map(|e| e.accuracy).collect::<Vec<_>>();
    let (sampled, top) = (acc(Phase::Data), acc(Phase::Final));
    match (crate::stats::median(&sampled), top.is_empty()) {
        (Some(med), false) => {
            let mean = top.iter().sum::<f64>() / top.len() as f64;
            format!(
                "\nSearch against random sampling, same budget: the {} searched top-K architectures average \
                 {mean:.2}%; the {} randomly sampled ones have median {med:.2}% ({}).\n",
                top.len(),
                sampled.len(),
                if mean > med { "the search found better networks" } else { "the search did not beat random sampling" }
            )
        }
        _ => String::new(),
    }
}
