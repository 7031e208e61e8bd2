//! The BANANAS baseline (`strategy: bananas`) through the binary: a run
//! killed in the middle resumes to exactly what an uninterrupted run in
//! another process evaluated, every architecture once; a space without
//! paths to encode is refused before anything is evaluated.

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// NAS-Bench-201 with the example evaluator (the table's accuracies, a
/// little sleep so a kill lands among the evaluations), 30 queries: 10
/// random, then two BANANAS rounds of 10.
fn config(dir: &Path, space: &str) -> std::path::PathBuf {
    let text = format!(
        "name: bananas
seed: 7
space: {}
strategy: bananas
evaluator:
  kind: command
  command: python3 {} --json {{json}} --nb201-csv {} --sleep 0.05
  retries: 0
  workers: 2
search:
  queries: 30
  bananas: {{ init: 10, per_round: 10, mlp: {{ epochs: 60 }} }}
",
        repo().join("search_spaces").join(space).display(),
        repo().join("scripts/example_evaluator.py").display(),
        nb201_csv().display()
    );
    write(dir, &format!("bananas-{space}"), &text)
}

/// (key, accuracy) of every evaluation, sorted.
fn evaluated(run: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = csv_rows(&run.join("evaluations.csv"))
        .into_iter()
        .map(|r| {
            assert_eq!((r["status"].as_str(), r["phase"].as_str()), ("ok", "bananas"), "{r:?}");
            (r["arch_key"].clone(), r["accuracy"].clone())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_killed_bananas_run_resumes_to_what_an_uninterrupted_one_in_another_process_evaluated() {
    let dir = temp_dir("bananas-resume");
    let cfg = config(&dir, "nb201.yaml");
    let whole = dir.join("whole");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&whole).arg("--quiet"));
    let all = evaluated(&whole);
    assert_eq!(all.len(), 30);
    let keys: std::collections::HashSet<&String> = all.iter().map(|e| &e.0).collect();
    assert_eq!(keys.len(), 30, "an architecture evaluated twice");

    // killed in the first BANANAS round: some of its evaluations in, others not
    let run = dir.join("run");
    let mut child = bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet").spawn().unwrap();
    let rows =
        |d: &Path| fs::read_to_string(d.join("evaluations.csv")).map_or(0, |t| t.lines().count().saturating_sub(1));
    let start = Instant::now();
    while rows(&run) < 13 {
        assert!(child.try_wait().unwrap().is_none() && start.elapsed() < Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(rows(&run) < 20, "killed before the first round was all in");
    run_ok(bin().args(["resume"]).arg(&run).arg("--quiet"));
    assert_eq!(evaluated(&run), all, "the resumed run evaluated what the uninterrupted one did");
    let summary = &csv_rows(&run.join("summary.csv"))[0];
    assert_eq!(summary["method"], "bananas");
    assert_eq!(summary["archs_trained"], "30");
}

#[test]
fn a_space_without_paths_to_encode_is_refused_before_anything_is_evaluated() {
    let dir = temp_dir("bananas-chain");
    let cfg = config(&dir, "mobilenetv3.yaml");
    let run = dir.join("run");
    let err = run_err(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
    assert!(err.contains("strategy bananas") && err.contains("search.bananas.max_path_ops"), "{err}");
    assert!(err.contains("mobilenetv3.yaml"), "names the space file: {err}");
    assert!(!run.join("evaluations.csv").exists(), "nothing evaluated");
}
