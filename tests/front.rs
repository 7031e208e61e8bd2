//! Multi-objective runs on NAS-Bench-201 (tabular): the predictor-guided
//! NSGA-II and the NSGA-II and random baselines report a measured front
//! that holds no dominated point, with the hypervolume its own points give.

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use common::*;

/// A small accuracy-vs-MACs run: 12 for the predictor, 2 rounds of 4.
fn config(dir: &Path, strategy: &str, search_extra: &str) -> PathBuf {
    let text = format!(
        "name: front
seed: 3
space: {}
strategy: {strategy}
evaluator: {{ kind: tabular }}
predictor:
  train_archs: 12
  val_fraction: 0
  model:
    kind: nar-former
    tokenizer: {{ lx: 4, lp: 4, lr: 4 }}
    transformer: {{ depths: [1, 1, 1, 1], heads: 2, d_ff: 32 }}
  train: {{ epochs: 6, batch_size: 8, lr: 0.002 }}
search:
  objectives: [accuracy, macs]
  nsga2: {{ population: 16, generations: 4, reference_cost: 220119680 }}
  top_k: 4
  rounds: 2
{search_extra}",
        repo().join("search_spaces/nb201.yaml").display()
    );
    write(dir, &format!("{strategy}.yaml"), &text)
}

fn rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    r.deserialize().map(|x| x.unwrap()).collect()
}

fn f(row: &HashMap<String, String>, key: &str) -> f64 {
    row[key].parse().unwrap_or_else(|_| panic!("{key} = {:?}", row[key]))
}

/// The share of [0, 1] x [0, reference] that the points dominate, counted
/// by sweeping the points sorted by cost (independent of the tool's code).
fn dominated_share(points: &[(f64, f64)], reference: f64) -> f64 {
    let mut p: Vec<(f64, f64)> = points.iter().map(|&(acc, c)| (c / reference, acc)).filter(|p| p.0 < 1.0).collect();
    p.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut area = 0.0;
    let mut best = 0.0f64;
    for (i, &(c, acc)) in p.iter().enumerate() {
        best = best.max(acc);
        let next = p.get(i + 1).map_or(1.0, |q| q.0);
        area += (next - c) * best;
    }
    area
}

/// Checks the run's measured front against its evaluations.
fn check_front(run: &Path) -> HashMap<String, String> {
    let evals: Vec<_> = rows(&run.join("evaluations.csv")).into_iter().filter(|e| !e["accuracy"].is_empty()).collect();
    let pareto = rows(&run.join("pareto.csv"));
    assert!(!pareto.is_empty());
    // no measured architecture beats a front member in both signal and MACs
    for p in &pareto {
        let (acc, macs) = (f(p, "accuracy"), f(p, "macs"));
        for e in &evals {
            let (ea, em) = (f(e, "accuracy"), f(e, "std_macs"));
            assert!(
                !(ea >= acc && em <= macs && (ea > acc || em < macs)),
                "{} dominates {}",
                e["genotype"],
                p["genotype"]
            );
        }
    }
    // and every measured architecture not on it is beaten by one that is
    let on_front: Vec<&str> = pareto.iter().map(|p| p["genotype"].as_str()).collect();
    for e in evals.iter().filter(|e| !on_front.contains(&e["genotype"].as_str())) {
        let (ea, em) = (f(e, "accuracy"), f(e, "std_macs"));
        assert!(
            pareto.iter().any(|p| f(p, "accuracy") >= ea && f(p, "macs") <= em),
            "{} is on no front",
            e["genotype"]
        );
    }
    let front = rows(&run.join("front.csv")).remove(0);
    let reference = f(&front, "reference_cost");
    let signal: Vec<(f64, f64)> = evals.iter().map(|e| (f(e, "accuracy") / 100.0, f(e, "std_macs"))).collect();
    let report: Vec<(f64, f64)> = evals.iter().map(|e| (f(e, "report_accuracy") / 100.0, f(e, "std_macs"))).collect();
    assert!((f(&front, "hypervolume") - dominated_share(&signal, reference)).abs() < 1e-9);
    assert!((f(&front, "report_hypervolume") - dominated_share(&report, reference)).abs() < 1e-9);
    assert_eq!(f(&front, "front_size") as usize, pareto.len());
    assert_eq!(f(&front, "measured") as usize, evals.len());
    let md = fs::read_to_string(run.join("summary.md")).unwrap();
    assert!(md.contains("## Measured front: accuracy vs macs"), "{md}");
    assert_eq!(md.matches("\n| `").count(), pareto.len() + 1, "{md}"); // + the best architecture's row
    front
}

#[test]
fn the_predictor_guided_nsga2_spreads_its_picks_over_the_front() {
    let dir = temp_dir("front-nar");
    let cfg = config(&dir, "nar-former-nsga2", "");
    let run = dir.join("run");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
    let front = check_front(&run);
    assert_eq!(front["method"], "nar-former-nsga2");
    assert_eq!(f(&front, "measured"), 12.0 + 2.0 * 4.0);
    // each round's 4 picks come from the predicted front, cheapest first
    let topk = rows(&run.join("topk.csv"));
    assert_eq!(topk.len(), 8);
    for round in ["0", "1"] {
        let picks: Vec<_> = topk.iter().filter(|r| r["round"] == round).collect();
        assert!(picks.iter().all(|r| r["source"] == "front"));
        let macs: Vec<f64> = picks.iter().map(|r| f(r, "macs")).collect();
        assert!(macs.windows(2).all(|w| w[0] <= w[1]), "round {round}: {macs:?}");
        assert!(macs[0] < macs[3], "round {round}: the picks sit at one cost: {macs:?}");
    }
    // generations.csv: 4 per round with the predicted front's hypervolume
    let gens = rows(&run.join("generations.csv"));
    assert_eq!(gens.len(), 8);
    assert!(gens.iter().all(|g| (0.0..=1.0).contains(&f(g, "predicted_hypervolume")) && f(g, "front_size") >= 1.0));
}

#[test]
fn the_baselines_report_their_front_and_nsga2_is_deterministic() {
    let dir = temp_dir("front-baselines");
    for strategy in ["nsga2", "random-search"] {
        let cfg = config(&dir, strategy, "  queries: 30\n");
        let mut first = None;
        for attempt in ["a", "b"] {
            let run = dir.join(format!("{strategy}-{attempt}"));
            run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
            let front = check_front(&run);
            assert_eq!(f(&front, "measured"), 30.0, "{strategy}");
            let genotypes: Vec<String> =
                rows(&run.join("evaluations.csv")).into_iter().map(|r| r["genotype"].clone()).collect();
            let distinct: std::collections::HashSet<&String> = genotypes.iter().collect();
            assert_eq!(distinct.len(), 30, "{strategy} evaluated an architecture twice");
            match &first {
                None => first = Some(genotypes),
                Some(g) => assert_eq!(g, &genotypes, "{strategy}: the same seed chose differently"),
            }
        }
    }
}

#[test]
fn front_configs_are_checked() {
    let dir = temp_dir("front-config");
    let cfg = config(&dir, "nar-former-nsga2", "");
    let text = fs::read_to_string(&cfg).unwrap();
    let no_cost = write(&dir, "no-cost.yaml", &text.replace("[accuracy, macs]", "[accuracy]"));
    let err = run_err(bin().args(["run"]).arg(&no_cost).arg("--run-dir").arg(dir.join("r1")));
    assert!(err.contains("strategy nar-former-nsga2 needs a cost in search.objectives"), "{err}");
    let no_reference = write(&dir, "no-ref.yaml", &text.replace(", reference_cost: 220119680", ""));
    let err = run_err(bin().args(["run"]).arg(&no_reference).arg("--run-dir").arg(dir.join("r2")));
    assert!(err.contains("search.nsga2.reference_cost or constraints.macs.max"), "{err}");
    let latency = write(&dir, "latency.yaml", &text.replace("[accuracy, macs]", "[accuracy, latency]"));
    let err = run_err(bin().args(["run"]).arg(&latency).arg("--run-dir").arg(dir.join("r3")));
    // latency is an objective once the run says where latency comes from
    assert!(err.contains("the latency objective need a `latency:` section"), "{err}");
}

#[test]
fn the_true_nb201_front_is_a_front() {
    let out = run_ok(
        bin()
            .args(["data", "nb201-front"])
            .arg(repo().join("search_spaces/nb201.yaml"))
            .args(["--reference", "220119680"]),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let front: Vec<(f64, f64)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let v: Vec<&str> = l.rsplitn(3, ',').collect();
            (v[1].parse().unwrap(), v[0].parse().unwrap())
        })
        .collect();
    assert!(front.len() >= 5, "{text}");
    // cheapest first, each more accurate than the one before
    assert!(front.windows(2).all(|w| w[0].1 <= w[1].1 && w[0].0 <= w[1].0), "{front:?}");
    // the best cell of the benchmark (94.37% test accuracy) ends it
    assert!((front.last().unwrap().0 - 94.373).abs() < 0.01, "{front:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("hypervolume 0.9"), "{err}");
}

#[test]
fn a_killed_front_search_resumes_to_the_same_front() {
    let dir = temp_dir("front-resume");
    let cfg = config(&dir, "nar-former-nsga2", "  checkpoint_every: 1\n");
    let text = fs::read_to_string(&cfg).unwrap().replace("generations: 4", "generations: 30");
    let cfg = write(&dir, "long.yaml", &text);
    let whole = dir.join("whole");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&whole).arg("--quiet"));
    let run = dir.join("killed");
    let mut child = bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet").spawn().unwrap();
    let start = std::time::Instant::now();
    while fs::read_to_string(run.join("generations.csv")).map(|t| t.lines().count()).unwrap_or(0) < 4 {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before its search");
        assert!(start.elapsed().as_secs() < 120, "the search never started");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!run.join("summary.csv").exists(), "killed too late");
    run_ok(bin().args(["resume"]).arg(&run).arg("--quiet"));
    let genotypes =
        |r: &Path| rows(&r.join("evaluations.csv")).into_iter().map(|e| e["genotype"].clone()).collect::<Vec<_>>();
    assert_eq!(genotypes(&run), genotypes(&whole));
    assert_eq!(rows(&run.join("generations.csv")), rows(&whole.join("generations.csv")));
    assert_eq!(
        fs::read_to_string(run.join("pareto.csv")).unwrap(),
        fs::read_to_string(whole.join("pareto.csv")).unwrap()
    );
    // the summary too, the architectures scored included (timings aside)
    let summary = |r: &Path| {
        let mut row = rows(&r.join("summary.csv")).remove(0);
        row.retain(|k, _| !k.starts_with("search_") && !k.ends_with("_seconds"));
        row
    };
    assert_eq!(summary(&run), summary(&whole));
    assert_eq!(summary(&run)["archs_scored"], summary(&whole)["archs_scored"]);
}
