//! The progress picture: the best signal so far against the evaluations,
//! one line per method (mean and min-max band over its seeds), each
//! measurement marked by where it came from.

use super::chart::{Mark, PALETTE, Panel, figure};
use super::read::RunData;
use crate::run::records::{EvalRecord, Phase};
use crate::run::selection;
use crate::run::state::PickSource;

/// Runs of one method grouped together (and apart when they come from
/// different folders, as the table scripts lay out variants), each group
/// named by its method, its folder where two groups share a method, and
/// its seeds (from each run's config): "nar-former-evolution, seeds 0-9".
pub(super) fn group_by_method(runs: &[RunData]) -> Vec<(String, Vec<&RunData>)> {
    let parent = |r: &RunData| r.dir.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().to_string());
    // (method, folder) and its runs
    type Group<'a> = ((String, Option<String>), Vec<&'a RunData>);
    let mut groups: Vec<Group> = Vec::new();
    for r in runs {
        let k = (r.method.clone(), parent(r));
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, v)) => v.push(r),
            None => groups.push((k, vec![r])),
        }
    }
    let shared = |m: &str| groups.iter().filter(|((g, _), _)| g == m).count() > 1;
    groups
        .iter()
        .map(|((method, folder), runs)| {
            let mut name = method.clone();
            if shared(method)
                && let Some(f) = folder
            {
                name = format!("{name} ({f})");
            }
            let seeds: Vec<u64> = runs.iter().map(|r| r.cfg.seed).collect();
            (format!("{name}, {}", seed_range(&seeds)), runs.clone())
        })
        .collect()
}

/// "seed 3", "seeds 0-9", "seeds 0-2, 5".
fn seed_range(seeds: &[u64]) -> String {
    let mut s = seeds.to_vec();
    s.sort_unstable();
    s.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let mut j = i;
        while j + 1 < s.len() && s[j + 1] == s[j] + 1 {
            j += 1;
        }
        parts.push(if j > i { format!("{}-{}", s[i], s[j]) } else { s[i].to_string() });
        i = j + 1;
    }
    format!("{} {}", if s.len() == 1 { "seed" } else { "seeds" }, parts.join(", "))
}

/// After each evaluation: the run's best so far (`run::selection`'s rule,
/// `competes` and `best_order`, over the evaluations up to it: what the
/// run would return if it stopped there).
fn best_so_far(evals: &[EvalRecord], rules: selection::Rules) -> Vec<Option<&EvalRecord>> {
    let mut best: Option<&EvalRecord> = None;
    evals
        .iter()
        .map(|e| {
            let counts = e.accuracy.is_some_and(f64::is_finite) && selection::competes(e, rules);
            if counts && best.is_none_or(|b| selection::best_order(e, b).is_lt()) {
                best = Some(e);
            }
            best
        })
        .collect()
}

/// Where a measured architecture came from: a short name for legends and
/// the words for titles.
pub(super) fn origin(run: &RunData, e: &EvalRecord) -> (String, String) {
    let source = run.topk.iter().find(|t| t.round == e.round && t.arch_key == e.arch_key).map(|t| t.source);
    let short = match (e.phase, source) {
        (Phase::Data, _) => "random sample (data)".to_string(),
        (Phase::Final, Some(PickSource::Evolution)) => "searched top-K, evolution".into(),
        (Phase::Final, Some(PickSource::Local)) => "searched top-K, local".into(),
        (Phase::Final, Some(PickSource::Front)) => "searched top-K, front".into(),
        (Phase::Final, _) => "searched top-K".into(),
        (Phase::Baseline(s), _) => format!("{} evaluations", s.name()),
        (Phase::Reference, _) => "reference".into(),
    };
    (short, crate::report::origin(e, source))
}

/// Whether a run's evaluator reports an accuracy apart from its signal.
fn reports_apart(run: &RunData) -> bool {
    run.evals.iter().any(|e| e.report_accuracy.is_some_and(|r| Some(r) != e.accuracy))
}

pub(super) fn progress(groups: &[(String, Vec<&RunData>)]) -> String {
    let mut marks = Vec::new();
    let single = match groups {
        [(_, runs)] if runs.len() == 1 => Some(runs[0]),
        _ => None,
    };
    let apart = groups.iter().flat_map(|(_, r)| r).any(|r| reports_apart(r));
    let mut best_words = None;
    for (i, (name, runs)) in groups.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()].to_string();
        let bests: Vec<Vec<Option<&EvalRecord>>> = runs.iter().map(|r| best_so_far(&r.evals, r.cfg.rules())).collect();
        let curve = |f: &dyn Fn(&EvalRecord) -> Option<f64>| -> Vec<Vec<f64>> {
            bests.iter().map(|b| b.iter().map(|e| e.and_then(f).unwrap_or(f64::NAN)).collect()).collect()
        };
        let signal = curve(&|e| e.accuracy);
        let reported = curve(&EvalRecord::reported);
        let len = signal.iter().map(Vec::len).min().unwrap_or(0);
        let xs: Vec<f64> = (1..=len).map(|x| x as f64).collect();
        let stat = |curves: &[Vec<f64>], f: &dyn Fn(&[f64]) -> f64| -> Vec<f64> {
            (0..len).map(|k| f(&curves.iter().map(|c| c[k]).filter(|v| v.is_finite()).collect::<Vec<_>>())).collect()
        };
        let mean = |v: &[f64]| if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 };
        let line = |ys: Vec<f64>| xs.iter().copied().zip(ys).filter(|(_, y)| y.is_finite()).collect::<Vec<_>>();
        if runs.len() > 1 {
            marks.push(Mark::Band {
                xs: xs.clone(),
                lower: stat(&signal, &|v| v.iter().copied().fold(f64::INFINITY, f64::min)),
                upper: stat(&signal, &|v| v.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
                color: color.clone(),
                label: None,
            });
        }
        let (signal_label, reported_label) = if runs.len() > 1 {
            (
                format!("{name}: best signal, mean of {} runs, band min-max", runs.len()),
                format!("{name}: its reported accuracy, mean (dashed)"),
            )
        } else if single.is_some() {
            (
                "best signal so far (what the search saw)".to_string(),
                "reported accuracy of that architecture (dashed)".to_string(),
            )
        } else {
            (format!("{name}: best signal so far"), format!("{name}: its reported accuracy (dashed)"))
        };
        marks.push(Mark::Line {
            points: line(stat(&signal, &mean)),
            color: color.clone(),
            label: Some(signal_label),
            dashed: false,
            step: true,
        });
        if apart {
            marks.push(Mark::Line {
                points: line(stat(&reported, &mean)),
                color: color.clone(),
                label: Some(reported_label),
                dashed: true,
                step: true,
            });
        }
        // where a single run's best changed, marked by where the new best came from
        if let Some(run) = single {
            let mut by_origin: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
            let mut previous: Option<&EvalRecord> = None;
            for (k, b) in bests[0].iter().enumerate() {
                if let Some(b) = b
                    && previous.is_none_or(|p| !std::ptr::eq(p, *b))
                {
                    let (short, _) = origin(run, b);
                    let point = (k as f64 + 1.0, b.accuracy.unwrap_or(f64::NAN));
                    match by_origin.iter_mut().find(|(o, _)| *o == short) {
                        Some((_, v)) => v.push(point),
                        None => by_origin.push((short, vec![point])),
                    }
                    previous = Some(b);
                }
            }
            best_words = previous.map(|b| origin(run, b).1);
            for (short, points) in by_origin {
                marks.push(Mark::Points {
                    points,
                    color: origin_color(&short).into(),
                    label: Some(format!("new best from the {short}")),
                    radius: 4.5,
                    hollow: false,
                });
            }
        }
    }
    // phase marks of a single predictor-guided run
    if let Some(run) = single
        && run.cfg.strategy.uses_predictor()
    {
        let mut previous = None;
        for (i, e) in run.evals.iter().enumerate() {
            let phase = (e.phase, e.round);
            if previous.is_some_and(|p| p != phase) {
                let label = match e.phase {
                    Phase::Final => format!("round {} top-K", e.round),
                    _ => e.phase.to_string(),
                };
                marks.push(Mark::VLine { x: i as f64 + 0.5, label, color: "#777".into() });
            }
            previous = Some(phase);
        }
    }
    let (title, subtitle) = match (groups, &best_words) {
        ([(name, _)], Some(words)) if single.is_some() => {
            (format!("Search progress: {name}"), format!("the best came from {words}"))
        }
        _ => ("Search progress".to_string(), String::new()),
    };
    let y_range = settled_range(&marks);
    let panel = Panel {
        title,
        subtitle,
        x_label: "real evaluations".into(),
        y_label: "accuracy of the best-signal architecture (%)".into(),
        marks,
        y_range,
        ..Default::default()
    };
    let what = if apart {
        "solid: the best signal so far (the accuracy the search sees, never decreasing); dashed: the reported \
         accuracy of the architecture holding that best (it can fall when a new best by signal reports less)"
    } else {
        "the best accuracy so far (the signal the search sees, which is also the reported accuracy)"
    };
    let caption = match single {
        Some(run) => format!("{}: {what}", run.dir.display()),
        None => format!("each method, the mean over its runs; {what}"),
    };
    figure(&[panel], &format!("{caption}. Y axis: the range after the first tenth of the evaluations."))
}

/// The colour of where a new best came from (`origin`'s short name).
fn origin_color(short: &str) -> &'static str {
    match short {
        s if s.starts_with("random sample") => "#777777",
        s if s.ends_with("evolution") && s.starts_with("searched") => PALETTE[1],
        s if s.ends_with("local") => PALETTE[2],
        s if s.ends_with("front") => PALETTE[3],
        s if s.starts_with("searched") => PALETTE[5],
        _ => PALETTE[4],
    }
}

/// The y range of the lines and bands after the first tenth of the x axis,
/// padded: the first few random evaluations would otherwise squeeze the
/// part of the curves worth reading into a sliver.
fn settled_range(marks: &[Mark]) -> Option<(f64, f64)> {
    let x_max = marks
        .iter()
        .filter_map(|m| match m {
            Mark::Line { points, .. } => points.last().map(|p| p.0),
            _ => None,
        })
        .fold(f64::NEG_INFINITY, f64::max);
    let from = x_max * 0.1;
    let mut ys = Vec::new();
    for m in marks {
        match m {
            Mark::Line { points, .. } => ys.extend(points.iter().filter(|p| p.0 >= from).map(|p| p.1)),
            Mark::Band { xs, lower, upper, .. } => {
                for ((x, lo), hi) in xs.iter().zip(lower).zip(upper) {
                    if *x >= from {
                        ys.extend([*lo, *hi]);
                    }
                }
            }
            _ => {}
        }
    }
    let (lo, hi) =
        ys.iter().filter(|y| y.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &y| (a.min(y), b.max(y)));
    (lo.is_finite() && hi > lo).then(|| {
        let pad = (hi - lo) * 0.08;
        (lo - pad, hi + pad)
    })
}
