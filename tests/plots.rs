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
  val_fraction: 0.4
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

fn num(n: roxmltree::Node, a: &str) -> f64 {
    n.attribute(a).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{a} of {n:?}"))
}

fn has_class(n: &roxmltree::Node, class: &str) -> bool {
    n.is_element() && n.attribute("class") == Some(class)
}

/// Checks of every figure: each legend box lies outside every plot area
/// (`frame`) and covers no point; each caption line ends at a word
/// boundary (a space of the full caption, kept in its `<title>`, or after
/// a path's `/` or a genotype's `|`, `+`, `,`, `;`, `)` inside a word too
/// long for a line).
fn check_figure(path: &Path) {
    let text = fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let rect = |n: roxmltree::Node| (num(n, "x"), num(n, "y"), num(n, "width"), num(n, "height"));
    let frames: Vec<_> = doc.descendants().filter(|n| has_class(n, "frame")).map(rect).collect();
    let legends: Vec<_> = doc
        .descendants()
        .filter(|n| has_class(n, "legend"))
        .map(|g| rect(g.children().find(|c| c.has_tag_name("rect")).unwrap()))
        .collect();
    let overlap = |a: (f64, f64, f64, f64), b: (f64, f64, f64, f64)| {
        a.0 < b.0 + b.2 && b.0 < a.0 + a.2 && a.1 < b.1 + b.3 && b.1 < a.1 + a.3
    };
    for l in &legends {
        for f in &frames {
            assert!(!overlap(*l, *f), "{}: legend {l:?} over the plot area {f:?}", path.display());
        }
        for c in doc.descendants().filter(|n| has_class(n, "point")) {
            let (x, y, r) = (num(c, "cx"), num(c, "cy"), num(c, "r"));
            assert!(!overlap(*l, (x - r, y - r, 2.0 * r, 2.0 * r)), "{}: legend {l:?} covers a point", path.display());
        }
    }
    for g in doc.descendants().filter(|n| has_class(n, "caption")) {
        let full = g.children().find(|c| c.has_tag_name("title")).and_then(|t| t.text()).unwrap().to_string();
        let lines: Vec<String> =
            g.children().filter(|c| c.has_tag_name("text")).map(|t| t.text().unwrap_or("").to_string()).collect();
        let mut rest = full.as_str();
        for (i, line) in lines.iter().enumerate() {
            rest = rest.strip_prefix(line.as_str()).unwrap_or_else(|| {
                panic!("{}: caption line {line:?} is not the next part of {full:?}", path.display())
            });
            if i + 1 < lines.len() {
                let at_space = rest.starts_with(' ');
                let after_separator = line.ends_with(['/', '|', '+', ',', ';', ')']);
                assert!(at_space || after_separator, "{}: caption line {line:?} ends mid-word", path.display());
                rest = rest.trim_start_matches(' ');
            }
        }
        assert!(rest.is_empty(), "{}: caption lost {rest:?}", path.display());
    }
}

/// The texts of the elements of `class` (with their descendants' texts).
fn texts(path: &Path, class: &str) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    doc.descendants()
        .filter(|n| has_class(n, class))
        .map(|n| n.descendants().filter(|d| d.is_text()).filter_map(|d| d.text()).collect::<Vec<_>>().join(" "))
        .collect()
}

/// A polyline's points.
fn polyline(n: roxmltree::Node) -> Vec<(f64, f64)> {
    n.attribute("points")
        .unwrap()
        .split_whitespace()
        .map(|p| {
            let (x, y) = p.split_once(',').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect()
}

/// In a best_cell.svg: every labelled edge's label sits on its own edge
/// (its centre on the curve) and its box lets no other edge through, or,
/// where edges cross too close for that (a DARTS cell), at most
/// `crossed_at_most` labels do.
fn check_edge_labels(path: &Path, crossed_at_most: usize) {
    let text = fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let mut curves = std::collections::HashMap::new();
    for e in doc.descendants().filter(|n| has_class(n, "edge")) {
        let d: Vec<f64> = e.attribute("d").unwrap().split([' ', ',']).filter_map(|t| t.parse().ok()).collect();
        assert_eq!(d.len(), 8, "a cubic edge: {d:?}");
        let samples: Vec<(f64, f64)> = (0..=200)
            .map(|i| {
                let t = i as f64 / 200.0;
                let u = 1.0 - t;
                let w = [u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t];
                ((0..4).map(|k| w[k] * d[2 * k]).sum::<f64>(), (0..4).map(|k| w[k] * d[2 * k + 1]).sum::<f64>())
            })
            .collect();
        curves.insert(e.attribute("data-edge").unwrap().to_string(), samples);
    }
    let labels: Vec<_> = doc.descendants().filter(|n| has_class(n, "edge-label")).collect();
    let mut crossed = Vec::new();
    assert!(!labels.is_empty() && labels.len() <= curves.len(), "{} labels for {} edges", labels.len(), curves.len());
    for l in labels {
        let edge = l.attribute("data-edge").unwrap();
        let nums: Vec<f64> = l
            .attribute("transform")
            .unwrap()
            .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
            .filter_map(|t| t.parse().ok())
            .collect();
        let (cx, cy, angle) = (nums[0], nums[1], nums[2].to_radians());
        let r = l.children().find(|c| c.has_tag_name("rect")).unwrap();
        let (hw, hh) = (num(r, "width") / 2.0, num(r, "height") / 2.0);
        let own = &curves[edge];
        let nearest = own.iter().map(|p| (p.0 - cx).hypot(p.1 - cy)).fold(f64::INFINITY, f64::min);
        assert!(nearest < 1.5, "{}: the label of edge {edge} is {nearest:.1} px off its edge", path.display());
        let inside = |p: &(f64, f64)| {
            let (dx, dy) = (p.0 - cx, p.1 - cy);
            let (s, c) = angle.sin_cos();
            (dx * c + dy * s).abs() < hw && (-dx * s + dy * c).abs() < hh
        };
        for (other, samples) in &curves {
            if other != edge && samples.iter().any(inside) {
                crossed.push(format!("edge {other} runs through the label of edge {edge}"));
            }
        }
    }
    assert!(crossed.len() <= crossed_at_most, "{}: {crossed:?}", path.display());
}

/// Where summary.csv's best came from, as the pictures name it.
fn expected_origin(run: &Path) -> String {
    let best = csv_rows(&run.join("summary.csv"))[0]["best_genotype"].clone();
    let evals = csv_rows(&run.join("evaluations.csv"));
    let e = evals.iter().rev().find(|e| e["genotype"] == best && !e["accuracy"].is_empty()).unwrap();
    match e["phase"].as_str() {
        "data" => "the random sample that trained the predictor".into(),
        "final" => {
            let topk = csv_rows(&run.join("topk.csv"));
            let t = topk.iter().find(|t| t["round"] == e["round"] && t["arch_key"] == e["arch_key"]).unwrap();
            format!("round {}'s searched top-K ({}:", e["round"], t["source"])
        }
        baseline => format!("the {baseline} baseline's evaluations"),
    }
}

#[test]
fn a_finished_run_draws_its_plots() {
    let dir = temp_dir("plots-run");
    let cfg = config(&dir, "nb.yaml", &nb201(), "  kind: tabular", "nar-former-evolution");
    let run = dir.join("run");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
    let plots = run.join("plots");
    let progress = parse(&plots.join("progress.svg"));
    // the best signal so far and (NAS-Bench-201 reports the test accuracy apart) its reported accuracy
    assert_eq!(count(&progress, "series"), 2);
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
    for f in ["progress", "accuracy_vs_cost", "predicted_vs_measured", "predictor_training", "best_cell"] {
        check_figure(&plots.join(format!("{f}.svg")));
    }
    check_edge_labels(&plots.join("best_cell.svg"), 0);
    // with a validation share, its curves are drawn
    assert!(texts(&plots.join("predictor_training.svg"), "legend")[1].contains("validation"));
    // where the best came from, in the cell's title and under the progress title
    let origin = expected_origin(&run);
    let title = texts(&plots.join("best_cell.svg"), "title").join(" ");
    assert!(title.contains(&format!("from {origin}")), "{title} / {origin}");
    let subtitle = texts(&plots.join("progress.svg"), "subtitle").join(" ");
    assert!(subtitle.contains(&origin), "{subtitle} / {origin}");
    // which network the costs are of
    let cost_caption = texts(&plots.join("accuracy_vs_cost.svg"), "caption").join(" ");
    assert!(
        cost_caption.contains("axes are the cost of the space's standard network") && cost_caption.contains("std_macs")
    );
    let cell_caption = texts(&plots.join("best_cell.svg"), "caption").join(" ");
    assert!(cell_caption.contains("(the space's standard network, as trained)"), "{cell_caption}");

    // `plot` draws the same again, elsewhere, and says where (absolute paths)
    let out = dir.join("again");
    let stdout = run_ok(bin().args(["plot"]).arg(&run).arg("--out").arg(&out));
    let stdout = String::from_utf8_lossy(&stdout.stdout).to_string();
    assert_eq!(stdout.matches("wrote").count(), 5);
    for line in stdout.lines() {
        let path = Path::new(line.strip_prefix("wrote ").unwrap());
        assert!(path.is_absolute() && path.is_file() && path.starts_with(out.canonicalize().unwrap()), "{line}");
    }
    assert_eq!(fs::read(out.join("progress.svg")).unwrap(), fs::read(plots.join("progress.svg")).unwrap());
}

#[test]
fn several_runs_draw_one_line_per_method() {
    let dir = temp_dir("plots-methods");
    let mut runs = Vec::new();
    // as a new user keeps them: one method in runs/, two in nu-logs/
    for (strategy, folder, seeds) in
        [("nar-former-evolution", "runs", 2), ("regularized-evolution", "nu-logs", 3), ("random-search", "nu-logs", 2)]
    {
        let cfg = config(&dir, &format!("{strategy}.yaml"), &nb201(), "  kind: tabular", strategy);
        for seed in 0..seeds {
            let run = dir.join(folder).join(format!("{strategy}-{seed}"));
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
    let text = fs::read_to_string(out.join("progress.svg")).unwrap();
    let apart = text.contains("its reported accuracy");
    assert_eq!(count(&progress, "series"), if apart { 6 } else { 3 }, "one line (and its reported one) per method");
    assert_eq!(count(&progress, "band"), 3, "a min-max band per method of several seeds");
    let legend = texts(&out.join("progress.svg"), "legend").join(" ");
    for name in [
        "nar-former-evolution, seeds 0-1: ",
        "regularized-evolution, seeds 0-2: best signal, mean of 3 runs",
        "random-search, seeds 0-1: ",
    ] {
        assert!(legend.contains(name), "the legend names the method and its seeds: {name} in {legend}");
    }
    assert!(!legend.contains("nu-logs") && !legend.contains("runs:"), "{legend}");
    check_figure(&out.join("progress.svg"));

    // without --out: plots/ in the current folder, each file's full path printed
    let cwd = dir.join("here");
    fs::create_dir_all(&cwd).unwrap();
    let stdout = run_ok(bin().current_dir(&cwd).args(["plot"]).args(&runs));
    let stdout = String::from_utf8_lossy(&stdout.stdout).to_string();
    let expected = cwd.canonicalize().unwrap().join("plots/progress.svg");
    assert_eq!(stdout.trim(), format!("wrote {}", expected.display()));
    assert!(expected.is_file());

    // a baseline's best comes from its own evaluations
    let rs = dir.join("nu-logs/random-search-0");
    let title = texts(&rs.join("plots/best_cell.svg"), "title").join(" ");
    assert!(title.contains("from the random-search baseline's evaluations"), "{title}");
    assert_eq!(expected_origin(&rs), "the random-search baseline's evaluations");
}

#[test]
fn progress_draws_the_monotone_best_signal_and_its_reported_accuracy_apart() {
    let dir = temp_dir("plots-progress");
    let cfg = config(&dir, "nb.yaml", &nb201(), "  kind: tabular", "random-search");
    let run = dir.join("run");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
    // a later architecture with a better signal whose reported accuracy is far lower
    let path = run.join("evaluations.csv");
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let header = reader.headers().unwrap().clone();
    let mut rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let k = rows.len() - 3;
    let mut row: Vec<String> = rows[k].iter().map(String::from).collect();
    row[col("accuracy")] = "99.5".into();
    row[col("report_accuracy")] = "20.0".into();
    rows[k] = csv::StringRecord::from(row);
    let mut w = csv::Writer::from_path(&path).unwrap();
    w.write_record(&header).unwrap();
    for r in &rows {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let out = dir.join("out");
    run_ok(bin().args(["plot"]).arg(&run).arg("--out").arg(&out));
    let svg = out.join("progress.svg");
    let text = fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let series: Vec<_> = doc.descendants().filter(|n| has_class(n, "series")).collect();
    let solid: Vec<_> = series.iter().filter(|n| n.attribute("stroke-dasharray").is_none()).collect();
    let dashed: Vec<_> = series.iter().filter(|n| n.attribute("stroke-dasharray").is_some()).collect();
    assert_eq!((solid.len(), dashed.len()), (1, 1), "the best signal solid, its reported accuracy dashed");
    // SVG y grows downwards: the signal's line never goes down, the reported one does here
    let ys = |n: &roxmltree::Node| polyline(*n).into_iter().map(|p| p.1).collect::<Vec<_>>();
    let signal = ys(solid[0]);
    assert!(signal.windows(2).all(|w| w[1] <= w[0] + 1e-9), "the best signal so far falls: {signal:?}");
    assert!(ys(dashed[0]).windows(2).any(|w| w[1] > w[0]), "the reported accuracy of the new best is lower");
    let legend = texts(&svg, "legend").join(" ");
    assert!(
        legend.contains("best signal so far (what the search saw)")
            && legend.contains("reported accuracy of that architecture (dashed)")
            && legend.contains("new best from the random-search evaluations"),
        "{legend}"
    );
    check_figure(&svg);
}

#[test]
fn no_validation_curve_without_a_validation_share() {
    let dir = temp_dir("plots-noval");
    let cfg = config(&dir, "nb.yaml", &nb201(), "  kind: tabular", "nar-former-evolution");
    let run = dir.join("run");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).args([
        "--quiet",
        "--set",
        "predictor.val_fraction=0",
        "--set",
        "search.rounds=1",
    ]));
    let svg = run.join("plots/predictor_training.svg");
    let legends = texts(&svg, "legend");
    assert_eq!(legends.len(), 2);
    assert!(!legends[1].contains("validation"), "{legends:?}");
    assert!(legends[1].contains("training"), "{legends:?}");
    let caption = texts(&svg, "caption").join(" ");
    assert!(caption.contains("the weights kept were chosen on the training set"), "{caption}");
    check_figure(&svg);
    // a share too small to choose by (12 x 0.1: 2 held out) is trained on too: no validation curve either
    let small = dir.join("small");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&small).args([
        "--quiet",
        "--set",
        "predictor.val_fraction=0.1",
        "--set",
        "search.rounds=1",
    ]));
    let legends = texts(&small.join("plots/predictor_training.svg"), "legend");
    assert!(!legends[1].contains("validation"), "{legends:?}");
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
    // 24 labels on edges that cross each other: where a short edge is crossed near its middle no spot
    // of it is clear; a quarter of the labels at most
    check_edge_labels(&run.join("plots/best_cell.svg"), 6);
    check_figure(&run.join("plots/best_cell.svg"));

    // the built-in trainer at a small size trains a smaller network than the standard one: both named
    let builtin = write(
        &dir,
        "builtin.yaml",
        &fs::read_to_string(&cfg).unwrap().replace(
            &ev,
            "  kind: builtin
  data: { kind: synthetic, seed: 2, train_images: 48, test_images: 20 }
  budgets:
    proxy: &b { epochs: 1, batch_size: 16, learning_rate: 0.05, resolution: 8, channels: 4, cells: 3 }
    final: *b",
        ),
    );
    let small = dir.join("small");
    run_ok(bin().args(["run"]).arg(&builtin).arg("--run-dir").arg(&small).args([
        "--quiet",
        "--set",
        "predictor.train_archs=4",
        "--set",
        "search.rounds=1",
    ]));
    let caption = texts(&small.join("plots/best_cell.svg"), "caption").join(" ");
    assert!(
        caption.contains("the space's standard network: ")
            && caption.contains("the network trained at the proxy budget: "),
        "{caption}"
    );
    let caption = texts(&small.join("plots/accuracy_vs_cost.svg"), "caption").join(" ");
    assert!(caption.contains("a budget here trained smaller networks (the params and macs columns)"), "{caption}");
    check_edge_labels(&small.join("plots/best_cell.svg"), 6);

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
    assert!(err.contains("evaluations.csv: row 4 is corrupt"), "{err}");
    fs::remove_file(run.join("evaluations.csv")).unwrap();
    let err = run_err(bin().args(["plot"]).arg(&run));
    assert!(err.contains("evaluations.csv: missing"), "{err}");
    let err = run_err(bin().args(["plot"]).arg(dir.join("nothing")));
    assert!(err.contains("not a run directory"), "{err}");
}
