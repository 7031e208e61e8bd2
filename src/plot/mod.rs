//! Pictures of runs, as SVG files: search progress, predicted against
//! measured accuracy, the predictor's training, accuracy against cost with
//! its Pareto front, and the best architecture drawn (`nas-search plot`,
//! and `RUN_DIR/plots/` when a run reports). Reads only the files a run
//! directory holds (and, for the predictor's fit, its trained weights).
//!
//! `chart` draws panels, `diagram` draws architectures, `progress` the
//! search's progress, `read` loads run and training directories with
//! errors that name the file.

pub mod chart;
pub mod diagram;
mod progress;
mod read;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::predictor::metrics::kendall_tau;
use crate::report::front;
use crate::run::records::{EvalRecord, Phase, last_attempts};
use crate::run::selection;
use crate::search::nsga2::Objective;
use chart::{GREY, Mark, PALETTE, Panel, figure};
use progress::{group_by_method, origin, progress};
use read::{RunData, TrainLogRow};

/// Writes the plots of one run directory into `out` (default `RUN_DIR/plots`),
/// or, given several run directories, their progress side by side into
/// `out` (default `plots/` in the current folder). Returns the files
/// written, as absolute paths (the command prints them).
pub fn plot(dirs: &[PathBuf], out: Option<&Path>) -> Result<Vec<PathBuf>> {
    match dirs {
        [] => bail!("give at least one run directory"),
        [one] if read::is_training_dir(one) => {
            training_plots(one, &out.map_or_else(|| one.join("plots"), Path::to_path_buf))
        }
        [one] => run_plots(one, &out.map_or_else(|| one.join("plots"), Path::to_path_buf)),
        many => {
            let svg = compared(many)?;
            write(&out.map_or_else(|| PathBuf::from("plots"), Path::to_path_buf), "progress.svg", &svg)
        }
    }
}

/// Draws a run's pictures into `RUN_DIR/plots` (the workflow does after every
/// round and when it reports); a plotting error is logged by the caller, never fatal.
pub fn after_report(run_dir: &Path) -> Result<Vec<PathBuf>> {
    run_plots(run_dir, &run_dir.join("plots"))
}

fn write(out: &Path, name: &str, svg: &str) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let out = out.canonicalize().with_context(|| format!("finding {}", out.display()))?;
    let path = out.join(name);
    crate::atomic_file::write_atomic(&path, svg.as_bytes())?;
    Ok(vec![path])
}

fn run_plots(dir: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (name, svg) in pictures(dir)? {
        written.extend(write(out, name, &svg)?);
    }
    Ok(written)
}

/// The pictures of the run in `dir`, drawn from its files as they are now
/// (a run that is still going gets what it has so far), as (file name, SVG).
pub fn pictures(dir: &Path) -> Result<Vec<(&'static str, String)>> {
    let run = read::run(dir)?;
    let mut drawn = vec![
        ("progress.svg", progress(&[(run.method.clone(), vec![&run])])),
        ("accuracy_vs_cost.svg", accuracy_vs_cost(&run)),
    ];
    if let Some(svg) = best_cell(&run)? {
        drawn.push(("best_cell.svg", svg));
    }
    if run.cfg.strategy.uses_predictor() {
        if let Some(log) = read::last_train_log(dir)? {
            let held_out = read::run_held_out(dir, &run.cfg);
            drawn.push(("predictor_training.svg", predictor_training(&log, "the last round's predictor", held_out)));
        }
        if !run.topk.is_empty() {
            drawn.push(("predicted_vs_measured.svg", predicted_vs_measured(&run)?));
        }
    }
    Ok(drawn)
}

/// Several runs' progress in one picture, runs of one method grouped (as
/// `nas-search plot DIR DIR...` draws it).
pub fn compared(dirs: &[PathBuf]) -> Result<String> {
    let runs = dirs.iter().map(|d| read::run(d)).collect::<Result<Vec<_>>>()?;
    Ok(progress(&group_by_method(&runs)))
}

fn training_plots(dir: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    let log = read::train_log(&dir.join("train_log.csv"))?;
    let held_out = read::training_held_out(dir)?;
    let mut written =
        write(out, "predictor_training.svg", &predictor_training(&log, &dir.display().to_string(), held_out))?;
    let (pred, label) = read::all_cells_predicted(dir)?;
    let tau = kendall_tau(&pred, &label);
    let panel = Panel {
        title: "Predicted against measured, all 15,625 cells".into(),
        x_label: "measured accuracy (%)".into(),
        y_label: "predicted accuracy (%)".into(),
        marks: vec![Mark::Points {
            points: label.iter().copied().zip(pred.iter().copied()).collect(),
            color: PALETTE[0].into(),
            label: Some(format!("NAS-Bench-201 cells (Kendall tau {tau:.3})")),
            radius: 1.2,
            hollow: false,
        }],
        ..Default::default()
    };
    written.extend(write(
        out,
        "predicted_vs_true.svg",
        &figure(&[panel], &format!("nas-search plot {}", dir.display())),
    )?);
    Ok(written)
}

fn accuracy_vs_cost(run: &RunData) -> String {
    let evals = last_attempts(&run.evals);
    let ok: Vec<&&EvalRecord> = evals.iter().filter(|e| e.reported().is_some()).collect();
    let budgets_equal = run.cfg.evaluator.config.budgets_equal();
    // (objective, unit, its scale on the axis, the axis label, the constraint)
    let panel = |objective: Objective, unit: &str, scale: f64, x_label: String, bound: &crate::search::Bound| {
        let cost = |e: &EvalRecord| front::cost_of(e, objective) / scale;
        let (top, rest): (Vec<&&&EvalRecord>, Vec<&&&EvalRecord>) = ok.iter().partition(|e| e.phase == Phase::Final);
        let pts =
            |v: &[&&&EvalRecord]| v.iter().map(|e| (cost(e), e.reported().unwrap_or(f64::NAN))).collect::<Vec<_>>();
        let mut marks = vec![Mark::Points {
            points: pts(&rest),
            color: GREY.into(),
            label: Some(if run.cfg.strategy.uses_predictor() { "predictor data" } else { "evaluated" }.into()),
            radius: 3.0,
            hollow: false,
        }];
        if !top.is_empty() {
            marks.push(Mark::Points {
                points: pts(&top),
                color: PALETTE[1].into(),
                label: Some("searched top-K".into()),
                radius: 4.0,
                hollow: false,
            });
        }
        // the front of pareto.csv (by signal, of one budget), drawn at the reported accuracy
        let on_front = front::measured_front(&run.evals, run.cfg.rules(), objective);
        marks.push(Mark::Line {
            points: on_front.iter().map(|e| (cost(e), e.reported().unwrap_or(f64::NAN))).collect(),
            color: PALETTE[0].into(),
            label: Some(format!(
                "measured front (by signal{}{})",
                if budgets_equal { "" } else { ", final budget" },
                if run.cfg.constraints.latency_ms.is_set() { ", within the latency constraint" } else { "" }
            )),
            dashed: false,
            step: false,
        });
        for (v, what) in [(bound.min, "min"), (bound.max, "max")] {
            if let Some(v) = v {
                marks.push(Mark::VLine { x: v / scale, label: format!("constraint {what}"), color: PALETTE[2].into() });
            }
        }
        Panel {
            title: format!("Accuracy against {unit}"),
            x_label,
            y_label: "accuracy (%)".into(),
            marks,
            ..Default::default()
        }
    };
    let c = &run.cfg.constraints;
    let smaller = ok.iter().any(|e| Some(e.params) != e.std_params || Some(e.macs) != e.std_macs);
    let trained = if smaller {
        ": a budget here trained smaller networks (the params and macs columns), not drawn"
    } else {
        " (here also the network each evaluation trained)"
    };
    let millions = |unit: &str| format!("{unit} of the space's standard network (millions)");
    let mut panels = vec![
        panel(Objective::Macs, "MACs", 1e6, millions("MACs"), &c.macs),
        panel(Objective::Params, "params", 1e6, millions("params"), &c.params),
    ];
    let mut caption = format!(
        "{}: every evaluated architecture (reported accuracy). The MACs and params axes are the cost of the space's \
         standard network (the std_macs and std_params columns of evaluations.csv, what constraints bound){trained}.",
        run.dir.display()
    );
    if run.cfg.latency.is_some() {
        let x = "measured latency of the space's standard network (ms)".to_string();
        panels.insert(0, panel(Objective::Latency, "latency", 1.0, x, &c.latency_ms));
        caption.push_str(
            " Latency is as measured (the latency_ms column); architectures without a measurement are left out.",
        );
    }
    figure(&panels, &caption)
}

fn best_cell(run: &RunData) -> Result<Option<String>> {
    // drawn once the run has reported; the best by run::selection's rule, as the summary's
    let Some(best) = run.summary.as_ref().and(selection::best(&run.evals, run.cfg.rules())) else {
        return Ok(None);
    };
    let genotype = &best.genotype;
    let space = run.cfg.space_config().build()?;
    let dags = space.diagram_of(genotype).with_context(|| format!("drawing {genotype}"))?;
    let pct = |a: Option<f64>| a.map_or("-".into(), |a| format!("{a:.2}%"));
    let mut accuracy = if best.report_accuracy.is_some_and(|r| Some(r) != best.accuracy) {
        format!("top-1 {} (signal {})", pct(best.reported()), pct(best.accuracy))
    } else {
        format!("top-1 {}", pct(best.reported()))
    };
    // search.final_repeats: the mean of its trainings, with their spread
    let trainings: Vec<f64> = selection::trainings(&run.evals, &best).iter().filter_map(|e| e.reported()).collect();
    if let Some(s) = crate::stats::Spread::of(&trainings).filter(|s| s.n > 1) {
        accuracy.push_str(&format!(" (mean of {} trainings, std {:.2})", s.n, s.std));
    }
    let m = |v: u64| format!("{:.2}M", v as f64 / 1e6);
    let (std_params, std_macs) = (best.std_params.unwrap_or(best.params), best.std_macs.unwrap_or(best.macs));
    let cost = if (std_params, std_macs) == (best.params, best.macs) {
        format!("{} params, {} MACs (the space's standard network, as trained)", m(std_params), m(std_macs))
    } else {
        format!(
            "the space's standard network: {} params, {} MACs; the network trained at the {} budget: {} params, {} MACs",
            m(std_params),
            m(std_macs),
            best.budget,
            m(best.params),
            m(best.macs)
        )
    };
    let title = format!("Best architecture, {accuracy}, from {}", origin(run, &best).1);
    Ok(Some(diagram::render(&dags, &title, &format!("{}: {cost}. Genotype: {genotype}", run.dir.display()))))
}

/// `held_out`: whether a validation share chose the weights (else the
/// training set did, and train_log.csv's validation columns are of it).
fn predictor_training(log: &[TrainLogRow], what: &str, held_out: bool) -> String {
    let xs: Vec<f64> = log.iter().map(|r| r.epoch as f64).collect();
    let series = |f: &dyn Fn(&TrainLogRow) -> f64, label: &str, color: usize, dashed: bool| Mark::Line {
        points: xs.iter().copied().zip(log.iter().map(f)).filter(|(_, y)| y.is_finite()).collect(),
        color: PALETTE[color].into(),
        label: Some(label.into()),
        dashed,
        step: false,
    };
    let losses = Panel {
        title: "Training loss".into(),
        x_label: "epoch".into(),
        y_label: "loss (log scale)".into(),
        log_y: true,
        marks: vec![
            series(&|r| r.loss, "total", 0, false),
            series(&|r| r.mse, "MSE", 1, false),
            series(&|r| r.sr, "ranking (SR)", 2, false),
            series(&|r| r.ac, "consistency (AC)", 3, true),
        ]
        .into_iter()
        .filter(|m| matches!(m, Mark::Line { points, .. } if points.iter().any(|p| p.1 > 0.0)))
        .map(|m| match m {
            Mark::Line { points, color, label, dashed, step } => {
                Mark::Line { points: points.into_iter().filter(|p| p.1 > 0.0).collect(), color, label, dashed, step }
            }
            other => other,
        })
        .collect(),
        ..Default::default()
    };
    let taus = Panel {
        title: "Kendall's tau".into(),
        x_label: "epoch".into(),
        y_label: "tau".into(),
        y_range: Some((-0.1, 1.0)),
        marks: if held_out {
            vec![
                series(&|r| r.train_tau, "training (during the epoch)", 0, false),
                series(&|r| r.val_tau, "validation", 1, false),
                series(&|r| r.ema_val_tau, "validation, EMA weights", 2, true),
            ]
        } else {
            vec![series(&|r| r.train_tau, "training (during the epoch)", 0, false)]
        },
        ..Default::default()
    };
    let caption = if held_out {
        format!("{what}: train_log.csv; the weights kept are those of the best validation tau (model or EMA)")
    } else {
        format!(
            "{what}: train_log.csv. No validation share (predictor.val_fraction: 0, or too few architectures held \
             out for a tau to choose by): the weights kept were chosen on the training set (the better tau of the \
             model and its EMA), so no validation curve is drawn"
        )
    };
    figure(&[losses, taus], &caption)
}

fn predicted_vs_measured(run: &RunData) -> Result<String> {
    let mut marks = Vec::new();
    // the last predictor on everything measured before its round's top-K
    let last_round = run.topk.iter().map(|t| t.round).max().unwrap_or(0);
    let trained_on: Vec<&EvalRecord> = last_attempts(&run.evals)
        .into_iter()
        .filter(|e| {
            e.accuracy.is_some() && (e.phase == Phase::Data || (e.phase == Phase::Final && e.round < last_round))
        })
        .collect();
    let genotypes: Vec<String> = trained_on.iter().map(|e| e.genotype.clone()).collect();
    if !genotypes.is_empty() {
        let predicted = crate::inspect::predict_scores(&run.dir, &genotypes)?;
        let measured: Vec<f64> = trained_on.iter().map(|e| e.accuracy.unwrap_or(f64::NAN)).collect();
        let tau = kendall_tau(&predicted, &measured);
        marks.push(Mark::Points {
            points: measured.iter().copied().zip(predicted).collect(),
            color: GREY.into(),
            label: Some(format!("round {last_round} predictor's training data (tau {tau:.2})")),
            radius: 3.0,
            hollow: true,
        });
    }
    for round in 0..=last_round {
        let picks: Vec<(f64, f64)> =
            run.topk.iter().filter(|t| t.round == round).filter_map(|t| Some((t.accuracy?, t.predicted?))).collect();
        if picks.is_empty() {
            continue;
        }
        let (m, p): (Vec<f64>, Vec<f64>) = picks.iter().copied().unzip();
        let tau = if picks.len() > 1 { format!("tau {:.2}", kendall_tau(&p, &m)) } else { "one point".into() };
        marks.push(Mark::Points {
            points: picks,
            color: PALETTE[round % PALETTE.len()].into(),
            label: Some(format!("round {round} top-K ({tau})")),
            radius: 4.5,
            hollow: false,
        });
    }
    let panel = Panel {
        title: "Predicted against measured".into(),
        x_label: "measured accuracy (%, the signal)".into(),
        y_label: "predicted accuracy (%)".into(),
        marks,
        ..Default::default()
    };
    Ok(figure(&[panel], &format!("{}: topk.csv and the last round's predictor", run.dir.display())))
}
