//! What a finished run reports: `topk.csv` (each round's top-K with predicted
//! and measured accuracy), `summary.csv` (one row in the paper's table
//! format) and `summary.md`; with a cost objective, also the measured front
//! ([`front`]). Pure formatting of the run's records.
//!
//! The best architecture is the one with the best *signal* (what the search
//! saw) among the evaluations that compete; its *reported* accuracy is the
//! top-1 (the same number unless the evaluator measures a report apart, as
//! NAS-Bench-201's test accuracy beside its validation signal). Predicted
//! scores are percentages, as accuracies are.

pub mod front;

use anyhow::Result;
use serde::Serialize;

use crate::backend::DeviceKind;
use crate::eval::{EvalSeconds, Measures};
use crate::run::config::Strategy;
use crate::run::records::{EvalRecord, Phase, last_attempts};
use crate::run::run_dir::RunDir;
use crate::run::state::{Pick, PickSource};
use crate::stats::{Spread, Verdict};

/// Everything the report is made from.
pub struct ReportInput<'a> {
    pub strategy: Strategy,
    pub space: &'a str,
    pub seed: u64,
    /// Every evaluation, retries included.
    pub evals: &'a [EvalRecord],
    pub top_k: &'a [Pick],
    /// Whether the evaluator's proxy and final budgets are one evaluation.
    pub budgets_equal: bool,
    /// What the evaluator's numbers are.
    pub measures: Measures,
    /// Where the predictor (and the built-in trainer) ran.
    pub device: DeviceKind,
    pub predictor_seconds: f64,
    pub search_seconds: f64,
    pub scored: usize,
    /// With a cost objective: the front to report.
    pub front: Option<front::FrontSpec>,
    /// The latency constraint (judged on measured latency).
    pub latency_bound: crate::search::Bound,
    /// With a latency source: what the search saw and where measured latencies come from.
    pub latency: Option<LatencyNote>,
    /// Why a baseline ended before its queries (the space is exhausted).
    pub exhausted: Option<&'a str>,
    /// The name of `search.reference`, when the run trains one.
    pub reference: Option<&'a str>,
}

impl ReportInput<'_> {
    /// What decides which measured architectures compete for the run's best.
    pub fn rules(&self) -> crate::run::selection::Rules {
        crate::run::selection::Rules { budgets_equal: self.budgets_equal, latency: self.latency_bound }
    }
}

/// The latency source, in words for the summary.
pub struct LatencyNote {
    pub predicted: String,
    pub measured: String,
}

/// `summary.csv`: one row in the paper's table format.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct SummaryRow {
    pub method: String,
    pub space: String,
    pub seed: u64,
    pub best_genotype: String,
    /// Params and MACs of the network the best architecture was evaluated as.
    pub params_m: f64,
    pub macs_m: f64,
    /// The reported accuracy of the best architecture.
    pub top1: Option<f64>,
    /// Its signal (what the search saw; equal to top1 unless the evaluator reports apart).
    pub best_signal: Option<f64>,
    /// Architectures evaluated (each counted once, whatever its retries and repeats).
    pub archs_trained: usize,
    /// Of them, those whose last attempt failed.
    pub failed: usize,
    /// Evaluations run, retries included.
    pub attempts: usize,
    /// Search cost: seconds of real evaluation and predictor training, in hours and days.
    pub search_hours: f64,
    pub search_days: f64,
    /// What those hours are: `cpu` or `cuda` (device time), `wall` (an outside
    /// command's time plus the predictor's), `table` (predictor time only:
    /// table look-ups cost nothing).
    pub cost_kind: String,
    pub eval_seconds: f64,
    pub predictor_seconds: f64,
    pub search_seconds: f64,
    pub archs_scored: usize,
    /// The best architecture's measured latency (ms), when the run measures latency.
    #[serde(default)]
    pub latency_ms: Option<f64>,
    /// Trainings of the best architecture (`search.final_repeats`; its top-1 is their mean).
    #[serde(default)]
    pub top1_trainings: Option<usize>,
    /// Standard deviation of the best architecture's top-1 over its trainings (two or more).
    #[serde(default)]
    pub top1_std: Option<f64>,
}

#[derive(Serialize)]
struct TopKRow<'a> {
    round: usize,
    rank: usize,
    source: PickSource,
    arch_key: &'a str,
    genotype: &'a str,
    /// Predicted accuracy, %.
    predicted: Option<f64>,
    params: Option<u64>,
    macs: Option<u64>,
    /// The measured signal, %.
    accuracy: Option<f64>,
    /// The reported accuracy, %, where the evaluator measures one apart.
    report_accuracy: Option<f64>,
    /// The latency the search saw (predicted or looked up) and the
    /// measured one, ms (runs with `latency:`).
    predicted_latency_ms: Option<f64>,
    latency_ms: Option<f64>,
}

/// Writes `topk.csv`, `summary.csv` and `summary.md`; returns the summary row.
pub fn write(dir: &RunDir, r: &ReportInput<'_>) -> Result<SummaryRow> {
    let evals = last_attempts(r.evals);
    dir.write_csv("topk.csv", &topk_rows(r, &evals))?;
    let rules = r.rules();
    let best = crate::run::selection::best(r.evals, rules);
    let row = summary_row(r, &evals, best.as_deref());
    dir.write_csv("summary.csv", std::slice::from_ref(&row))?;
    let mut md = summary_md(r, &evals, &row, best.as_deref());
    if let Some(note) = r.exhausted {
        md.push_str(&format!("\n**The search ended early**: {note}.\n"));
    }
    let failed = crate::run::records::failures_by_stage(r.evals);
    if !failed.is_empty() {
        md.push_str(&format!(
            "\n**{} evaluations failed** ({}); their errors are in `evaluations.csv` and `run.log`. Once their \
             cause is fixed, evaluate them again with `{}`.\n",
            failed.iter().map(|f| f.2).sum::<usize>(),
            crate::run::records::describe_failures(&failed),
            crate::invocation::retry_command(&dir.root)
        ));
    }
    if let Some(spec) = &r.front {
        let (pareto, front_row) = front::front(r, spec);
        dir.write_csv("pareto.csv", &pareto)?;
        dir.write_csv("front.csv", std::slice::from_ref(&front_row))?;
        md.push_str(&front::markdown(&pareto, &front_row));
    }
    dir.write("summary.md", md.as_bytes())?;
    Ok(row)
}

fn topk_rows<'a>(r: &'a ReportInput<'_>, evals: &[&'a EvalRecord]) -> Vec<TopKRow<'a>> {
    let final_eval =
        |p: &Pick| evals.iter().find(|e| e.arch_key == p.key && e.phase == Phase::Final && e.round == p.round);
    r.top_k
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let e = final_eval(p);
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
                report_accuracy: e.and_then(|e| e.report_accuracy),
                predicted_latency_ms: p.latency_ms,
                latency_ms: e.and_then(|e| e.latency_ms),
            }
        })
        .collect()
}

/// Where a measured architecture came from, in words: the random sample the
/// predictor learnt from, a round's searched top-K (with the pick's
/// `source`, from `topk.csv` or the checkpoint), or a baseline's proposal.
/// The summary, `best` and the plots all say it with these words.
pub fn origin(e: &EvalRecord, source: Option<PickSource>) -> String {
    match e.phase {
        Phase::Data => "the random sample that trained the predictor (data; not found by the search)".into(),
        Phase::Final => {
            let how = match source {
                Some(PickSource::Evolution) => " (evolution: the predictor-guided evolution's best predicted)",
                Some(PickSource::Local) => " (local: a predicted-best neighbour of the best measured)",
                Some(PickSource::Front) => " (front: on the predicted front)",
                _ => "",
            };
            format!("round {}'s searched top-K{how}", e.round)
        }
        Phase::Baseline(s) => format!("the {} baseline's evaluations", s.name()),
        Phase::Reference => "the reference architecture (search.reference; not found by the search)".into(),
    }
}

/// The source of the pick among `picks` that made `e` (a round's top-K).
pub fn pick_source(e: &EvalRecord, picks: &[Pick]) -> Option<PickSource> {
    picks.iter().find(|p| p.key == e.arch_key && p.round == e.round).map(|p| p.source)
}

/// The costs of a measured architecture, each labelled with its network:
/// the network evaluated (a budget may shrink it) and the space's standard
/// network (what constraints bound and fronts are priced at), one figure
/// when they are the same.
pub fn costs(e: &EvalRecord) -> String {
    let m = |n: u64| n as f64 / 1e6;
    let trained = format!("{:.3}M params, {:.1}M MACs", m(e.params), m(e.macs));
    match (e.std_params, e.std_macs) {
        (Some(p), Some(c)) if (p, c) != (e.params, e.macs) => format!(
            "{trained} as evaluated ({} budget); the space's standard network: {:.3}M params, {:.1}M MACs",
            e.budget,
            m(p),
            m(c)
        ),
        _ => format!("{trained} (the space's standard network, as evaluated)"),
    }
}

/// The summary row; `best` is the run's best (`run::selection::best`).
fn summary_row(r: &ReportInput<'_>, evals: &[&EvalRecord], best: Option<&EvalRecord>) -> SummaryRow {
    let architectures: std::collections::HashSet<(Phase, usize, &str)> =
        evals.iter().map(|e| (e.phase, e.round, e.arch_key.as_str())).collect();
    let spread = best.and_then(|b| trainings_spread(r.evals, b));
    let eval_seconds: f64 = r.evals.iter().map(|e| e.seconds).sum();
    let cost_seconds = eval_seconds + r.predictor_seconds;
    let cost_kind = match r.measures.seconds {
        EvalSeconds::Device => r.device.name(),
        EvalSeconds::Wall => "wall",
        EvalSeconds::Free => "table",
    };
    SummaryRow {
        method: r.strategy.name().to_string(),
        space: r.space.to_string(),
        seed: r.seed,
        best_genotype: best.map(|b| b.genotype.clone()).unwrap_or_default(),
        params_m: best.map_or(0.0, |b| b.params as f64 / 1e6),
        macs_m: best.map_or(0.0, |b| b.macs as f64 / 1e6),
        top1: best.and_then(|b| b.reported()),
        best_signal: best.and_then(|b| b.accuracy),
        archs_trained: architectures.len(),
        failed: evals.iter().filter(|e| e.accuracy.is_none()).count(),
        attempts: r.evals.len(),
        search_hours: cost_seconds / 3600.0,
        search_days: cost_seconds / 86400.0,
        cost_kind: cost_kind.to_string(),
        eval_seconds,
        predictor_seconds: r.predictor_seconds,
        search_seconds: r.search_seconds,
        archs_scored: r.scored,
        latency_ms: best.and_then(|b| b.latency_ms),
        top1_trainings: spread.map(|s| s.n),
        top1_std: spread.filter(|s| s.n > 1).map(|s| s.std),
    }
}

/// The reported accuracies of the trainings of `e`'s architecture (one, or
/// `search.final_repeats` of them), as a spread.
fn trainings_spread(all: &[EvalRecord], e: &EvalRecord) -> Option<Spread> {
    let v: Vec<f64> = crate::run::selection::trainings(all, e).iter().filter_map(|t| t.reported()).collect();
    Spread::of(&v)
}

fn summary_md(r: &ReportInput<'_>, evals: &[&EvalRecord], row: &SummaryRow, best: Option<&EvalRecord>) -> String {
    let device = match r.device.name() {
        "cuda" => "GPU",
        _ => "CPU",
    };
    // what the cost's hours are of (cost_kind)
    let unit = match row.cost_kind.as_str() {
        "cpu" | "flex" => "CPU".to_string(),
        "cuda" => "GPU".to_string(),
        "table" => format!("{device}, predictor only: look-ups are free"),
        _ => "wall".to_string(),
    };
    let mut md = format!(
        "# {method} on {space} (seed {seed})\n\n\
         | best architecture | params (M) | MACs (M) | top-1 (%) | archs trained | search cost (days; {unit}) | search cost (hours; {unit}) |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n\
         | `{g}` | {p:.2} | {m:.1} | {a} | {n} | {d:.4} | {h:.3} |\n\n",
        method = row.method,
        space = row.space,
        seed = row.seed,
        g = row.best_genotype,
        p = row.params_m,
        m = row.macs_m,
        a = match (row.top1, row.top1_std) {
            (Some(a), Some(sd)) => format!("{a:.2} ± {sd:.2} ({} trainings)", row.top1_trainings.unwrap_or(0)),
            (Some(a), None) => format!("{a:.2}"),
            (None, _) => "-".into(),
        },
        n = row.archs_trained,
        d = row.search_days,
        h = row.search_hours,
    );
    if let Some(best) = best {
        md.push_str(&format!(
            "The best architecture came from {}. Params and MACs above are of the network evaluated: {}.\n",
            origin(best, pick_source(best, r.top_k)),
            costs(best)
        ));
    }
    let m = &r.measures;
    match &m.report {
        Some(report) => md.push_str(&format!(
            "The search saw {}; top-1 is the {} of the architecture with the best of it ({}).\n",
            m.signal,
            report,
            row.best_signal.map_or("-".into(), |s| format!("{s:.2}%"))
        )),
        None => md.push_str(&format!("Accuracies are {}.\n", m.signal)),
    }
    if m.signal_is_test {
        md.push_str(
            "**The search saw the test set**: its signal is a test accuracy, so this top-1 is not comparable \
             with results of the benchmark's protocol (search on validation accuracy, report test accuracy).\n",
        );
    }
    let spent = match m.seconds {
        EvalSeconds::Device => format!("real evaluation on {} ({:.1} s)", r.device.name(), row.eval_seconds),
        EvalSeconds::Wall => format!("your evaluation command's wall time ({:.1} s)", row.eval_seconds),
        EvalSeconds::Free => "no evaluation time (table look-ups)".to_string(),
    };
    if r.strategy.uses_predictor() {
        md.push_str(&format!(
            "Search cost = {spent} and predictor training on {} ({:.1} s).\n\
             The search itself scored {} architectures with the predictor in {:.1} s. Failed evaluations: {}.\n",
            r.device.name(),
            row.predictor_seconds,
            row.archs_scored,
            row.search_seconds,
            row.failed
        ));
    } else {
        md.push_str(&format!("Search cost = {spent}. Failed evaluations: {}.\n", row.failed));
    }
    if let Some(l) = &r.latency {
        md.push_str(&latency_md(r, evals, best, l));
    }
    if r.budgets_equal && r.strategy.uses_predictor() {
        md.push_str(&search_vs_random(r.evals, evals));
    }
    md.push_str(&against_reference(r.evals, evals, best, r.reference));
    md
}

/// The latency paragraph: what the search saw, the best's measured latency,
/// and how many of the searched top-K met the latency constraint as measured.
fn latency_md(r: &ReportInput<'_>, evals: &[&EvalRecord], best: Option<&EvalRecord>, l: &LatencyNote) -> String {
    let mut md = format!("\nLatency: the search saw {}; measured latencies are {}.", l.predicted, l.measured);
    if let Some(ms) = best.and_then(|b| b.latency_ms) {
        md.push_str(&format!(" The best architecture measured {ms:.3} ms."));
    }
    let bound = &r.latency_bound;
    if bound.is_set() {
        let rules = r.rules();
        let judged: Vec<&&EvalRecord> = evals
            .iter()
            .filter(|e| e.accuracy.is_some() && (e.phase == Phase::Final || matches!(e.phase, Phase::Baseline(_))))
            .collect();
        let met = judged.iter().filter(|e| rules.meets_latency(e)).count();
        let what = if r.strategy.uses_predictor() { "searched top-K" } else { "evaluated" };
        md.push_str(&format!(
            " Constraint {}: {met} of the {} {what} architectures met it as measured; only those compete for the best{}.",
            bound.describe("latency (ms)"),
            judged.len(),
            if best.is_none() && !judged.is_empty() { " (none did: there is no best)" } else { "" }
        ));
    }
    md.push('\n');
    md
}

/// With one budget for all evaluations: the final top-K against the
/// randomly sampled architectures the predictor learnt from, at equal cost
/// (by reported accuracy; an architecture trained several times counts by
/// its mean), each group as mean ± std with the interval of its mean; a
/// winner is named only when the intervals do not overlap.
fn search_vs_random(all: &[EvalRecord], evals: &[&EvalRecord]) -> String {
    let group = |phase: Phase| {
        let mut seen = std::collections::HashSet::new();
        let v: Vec<f64> = evals
            .iter()
            .filter(|e| e.phase == phase && e.accuracy.is_some() && seen.insert((e.round, e.arch_key.as_str())))
            .filter_map(|e| trainings_spread(all, e).map(|s| s.mean))
            .collect();
        Spread::of(&v)
    };
    let (Some(sampled), Some(top)) = (group(Phase::Data), group(Phase::Final)) else { return String::new() };
    let verdict = match top.compare(&sampled) {
        Verdict::Higher => "the search found better networks".to_string(),
        Verdict::Lower => "the searched networks are worse than random ones".to_string(),
        Verdict::WithinNoise => {
            "within noise: the intervals overlap, so this run does not show that the search beat random sampling"
                .to_string()
        }
        Verdict::Unknown => "too few architectures on one side to tell a difference from noise".to_string(),
    };
    format!(
        "\nSearch against random sampling, same budget: the searched top-K architectures {}; the randomly sampled \
         ones {} ({verdict}).\n",
        describe_group(&top),
        describe_group(&sampled)
    )
}

/// `average 38.21% (std 1.10 over 3, mean in 36.94-39.48)`.
fn describe_group(s: &Spread) -> String {
    match s.interval() {
        Some((lo, hi)) => format!("average {:.2}% (std {:.2} over {}; mean in {lo:.2}-{hi:.2})", s.mean, s.std, s.n),
        None => format!("average {:.2}% (1 architecture)", s.mean),
    }
}

/// `search.reference`: the best found against the reference architecture,
/// both as mean ± std of their trainings at the final budget; a winner is
/// named only when the intervals of the means do not overlap.
fn against_reference(
    all: &[EvalRecord],
    evals: &[&EvalRecord],
    best: Option<&EvalRecord>,
    name: Option<&str>,
) -> String {
    let Some(reference) = evals.iter().find(|e| e.phase == Phase::Reference) else { return String::new() };
    let name = name.unwrap_or("the reference architecture");
    let Some(theirs) = trainings_spread(all, reference) else {
        return format!("\nThe reference architecture, {name}, failed to train: nothing to compare with.\n");
    };
    let Some(ours) = best.and_then(|b| trainings_spread(all, b)) else { return String::new() };
    let verdict = match ours.compare(&theirs) {
        Verdict::Higher => "the best found is better".to_string(),
        Verdict::Lower => format!("the best found is worse than {name}"),
        Verdict::WithinNoise => "within noise: the intervals of the means overlap".to_string(),
        Verdict::Unknown => "one training of one of them: a difference cannot be told from the training's noise \
                             (search.final_repeats trains each several times)"
            .to_string(),
    };
    format!(
        "\nAgainst {name} (`{}`), trained the same way (final budget): the best found {} against {} ({verdict}; \
         mean ± std (trainings)).\n",
        reference.genotype,
        ours.describe(),
        theirs.describe()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Budget;

    fn rec(phase: Phase, key: &str, repeat: usize, accuracy: f64) -> EvalRecord {
        EvalRecord { phase, repeat, budget: Budget::Final, ..EvalRecord::example(key, Some(accuracy)) }
    }

    fn sentences(all: &[EvalRecord]) -> (String, String) {
        let last = last_attempts(all);
        let best = crate::run::selection::best(all, true);
        (search_vs_random(all, &last), against_reference(all, &last, best.as_deref(), Some("DARTS V2")))
    }

    #[test]
    fn a_summary_names_a_winner_only_when_the_spreads_do_not_overlap() {
        let data = |accs: &[f64]| -> Vec<EvalRecord> {
            accs.iter().enumerate().map(|(i, &a)| rec(Phase::Data, &format!("d{i}"), 1, a)).collect()
        };
        // searched 40 +- 0.5 (three architectures, three trainings each: counted by their means)
        // against random 30 +- 1: apart
        let mut apart = data(&[29.0, 30.0, 31.0, 30.5, 29.5]);
        for (k, base) in [("f1", 40.0), ("f2", 40.5), ("f3", 39.5)] {
            for (r, noise) in [(1, -1.0), (2, 0.0), (3, 1.0)] {
                apart.push(rec(Phase::Final, k, r, base + noise));
            }
        }
        for (r, a) in [(1, 36.0), (2, 37.0), (3, 38.0)] {
            apart.push(rec(Phase::Reference, "ref", r, a));
        }
        let (vs_random, vs_reference) = sentences(&apart);
        assert!(vs_random.contains("the search found better networks"), "{vs_random}");
        assert!(vs_random.contains("average 40.00% (std 0.50 over 3"), "{vs_random}");
        // the best (f2, 40.5 +- 1 over 3) against the reference (37 +- 1 over 3): intervals 39.35-41.65, 35.85-38.15
        assert!(vs_reference.contains("the best found 40.50 ± 1.00 (3) against 37.00 ± 1.00 (3)"), "{vs_reference}");
        assert!(vs_reference.contains("the best found is better"), "{vs_reference}");

        // wide spreads: no winner either way
        let mut overlapping = data(&[20.0, 40.0, 25.0, 35.0, 30.0]);
        for (k, base) in [("f1", 34.0), ("f2", 40.0), ("f3", 46.0)] {
            for (r, noise) in [(1, -6.0), (2, 0.0), (3, 6.0)] {
                overlapping.push(rec(Phase::Final, k, r, base + noise));
            }
        }
        for (r, a) in [(1, 30.0), (2, 37.0), (3, 44.0)] {
            overlapping.push(rec(Phase::Reference, "ref", r, a));
        }
        let (vs_random, vs_reference) = sentences(&overlapping);
        assert!(vs_random.contains("within noise") && !vs_random.contains("found better"), "{vs_random}");
        assert!(vs_reference.contains("within noise") && !vs_reference.contains("is better"), "{vs_reference}");

        // one training each: nothing claimed
        let single =
            [rec(Phase::Data, "d", 1, 30.0), rec(Phase::Final, "f", 1, 40.0), rec(Phase::Reference, "r", 1, 20.0)];
        let (_, vs_reference) = sentences(&single);
        assert!(vs_reference.contains("cannot be told from the training's noise"), "{vs_reference}");
        assert!(!vs_reference.contains("is better"), "{vs_reference}");
    }
}
