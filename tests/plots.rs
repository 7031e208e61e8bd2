//! `nas-search plot` and the plots a run writes when it reports: each is
//! well-formed SVG (parsed) with the expected number of marks.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;

fn config(dir: &Path, name: &str, space: &str, evaluator: &str, strategy: &str) -> PathBuf {
    let text = format!(
        "seed: 3
space: {space}
strategy: {strategy}
evaluator:
{evaluator}
predictor:
  train_archs: 12
  val_fraction: 0.2
  model:
    kind: nar-former
    tokenizer: {{ lx: 4, lp: 4, lr: 4 }}
    transformer: {{ depths: [1, 1, 1, 1], heads: 2, d_ff: 32 }}
  train: {{ epochs: 4, batch_size: 8, lr: 0.002 }}
search:
  evolution: {{ population: 20, generations: 8 }}
  top_k: 3
  rounds: 2
  local_picks: 1
  queries: 18
"
    );
    write(dir, name, &text)
}

fn nb201() -> String {
    repo().join("search_spaces/nb201.yaml").display().to_string()
}

/// A parsed SVG and how many elements have each class.
fn parse(path: &Path) -> std::collections::HashMap<String, usize> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc =
        roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{} is not well-formed: {e}", path.display()));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let mut counts = std::collections::HashMap::new();
    for n in doc.descendants().filter(|n| n.is_element()) {
        if let Some(c) = n.attribute("class") {
            *counts.entry(c.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

fn count(c: &std::collections::HashMap<String, usize>, class: &str) -> usize {
    c.get(class).copied().unwrap_or(0)
}

#[test]
fn a_finished_run_draws_its_plots() {
    let dir = temp_dir("plots-run");
    let cfg = config(&dir, "nb.yaml", &nb201(), "  kind: tabular", "nar-former-evolution");
    let run = dir.join("run");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
    let plots = run.join("plots");
    let progress = parse(&plots.join("progress.svg"));
    assert_eq!(count(&progress, "series"), 1);
    // phases marked: data -> round 0 top-K -> round 1 top-K
    assert_eq!(count(&progress, "marker"), 2);
    let evals = fs::read_to_string(run.join("evaluations.csv")).unwrap().lines().count() - 1;
    let cost = parse(&plots.join("accuracy_vs_cost.svg"));
    assert_eq!(count(&cost, "point"), 2 * evals, "every evaluation, on MACs and on params");
    assert_eq!(count(&cost, "series"), 2, "a Pareto front per panel");
    let pvm = parse(&plots.join("predicted_vs_measured.svg"));
    // the last predictor's training data (12 + round 0's 3) and both rounds' top-3
    assert_eq!(count(&pvm, "point"), 15 + 6);
    let training = parse(&plots.join("predictor_training.svg"));
    assert!(count(&training, "series") >= 5, "losses and taus: {training:?}");
    let cell = parse(&plots.join("best_cell.svg"));
    assert_eq!((count(&cell, "node"), count(&cell, "edge")), (4, 6), "the NAS-Bench-201 cell");

    // `plot` draws the same again, elsewhere
    let out = dir.join("again");
    let stdout = run_ok(bin().args(["plot"]).arg(&run).arg("--out").arg(&out));
    assert_eq!(String::from_utf8_lossy(&stdout.stdout).matches("wrote").count(), 5);
    assert_eq!(fs::read(out.join("progress.svg")).unwrap(), fs::read(plots.join("progress.svg")).unwrap());
}

#[test]
fn several_runs_draw_one_line_per_method() {
    let dir = temp_dir("plots-methods");
    let mut runs = Vec::new();
    for (strategy, seeds) in [("nar-former-evolution", 2), ("regularized-evolution", 3), ("random-search", 2)] {
        let cfg = config(&dir, &format!("{strategy}.yaml"), &nb201(), "  kind: tabular", strategy);
        for seed in 0..seeds {
            let run = dir.join(strategy).join(format!("seed-{seed}"));
            run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).args([
                "--seed",
                &seed.to_string(),
                "--quiet",
            ]));
            runs.push(run);
        }
    }
    let out = dir.join("compare");
    run_ok(bin().args(["plot"]).args(&runs).arg("--out").arg(&out));
    let progress = parse(&out.join("progress.svg"));
    assert_eq!(count(&progress, "series"), 3, "one line per method");
    assert_eq!(count(&progress, "band"), 3, "a min-max band per method of several seeds");
    let text = fs::read_to_string(out.join("progress.svg")).unwrap();
    assert!(text.contains("regularized-evolution: mean of 3 runs"), "the legend names the method and its runs");
}

#[test]
fn a_darts_run_draws_both_cells_and_a_training_directory_its_fit() {
    let dir = temp_dir("plots-darts");
    let ev = format!(
        "  kind: command\n  command: python3 {} --json {{json}}\n  retries: 0",
        repo().join("scripts/example_evaluator.py").display()
    );
    let cfg = config(
        &dir,
        "darts.yaml",
        &repo().join("search_spaces/darts.yaml").display().to_string(),
        &ev,
        "nar-former-evolution",
    );
    let run = dir.join("run");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
    let cell = parse(&run.join("plots/best_cell.svg"));
    // normal and reduction cell: 7 nodes and 8 + 4 edges each
    assert_eq!((count(&cell, "node"), count(&cell, "edge")), (14, 24));

    let tiny = write(&dir, "tiny.yaml", TINY_CONFIG);
    let trained = dir.join("trained");
    run_ok(bin().args(["predictor", "train"]).arg(&tiny).arg("--out").arg(&trained).arg("--quiet"));
    run_ok(bin().args(["plot"]).arg(&trained));
    let fit = parse(&trained.join("plots/predicted_vs_true.svg"));
    assert_eq!(count(&fit, "point"), 15_625);
    assert!(count(&parse(&trained.join("plots/predictor_training.svg")), "series") >= 5);
}

#[test]
fn a_missing_or_truncated_csv_is_named() {
    let dir = temp_dir("plots-bad");
    let cfg = config(&dir, "nb.yaml", &nb201(), "  kind: tabular", "random-search");
    let run = dir.join("run");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
    let evals = fs::read_to_string(run.join("evaluations.csv")).unwrap();
    // a row cut short in the middle of the file
    let mut lines: Vec<&str> = evals.lines().collect();
    let cut = lines[3].split(',').take(5).collect::<Vec<_>>().join(",");
    lines[3] = &cut;
    fs::write(run.join("evaluations.csv"), lines.join("\n") + "\n").unwrap();
    let err = run_err(bin().args(["plot"]).arg(&run));
    assert!(err.contains("evaluations.csv: line 4 is malformed or truncated"), "{err}");
    fs::remove_file(run.join("evaluations.csv")).unwrap();
    let err = run_err(bin().args(["plot"]).arg(&run));
    assert!(err.contains("evaluations.csv: missing"), "{err}");
    let err = run_err(bin().args(["plot"]).arg(dir.join("nothing")));
    assert!(err.contains("not a run directory"), "{err}");
}
