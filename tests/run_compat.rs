//! Run directories written by earlier versions of nas-search resume under
//! this one: `tests/fixtures/run-v1/` was written by the binary of commit
//! b4fedc5 (config `tests/fixtures/run-v1.yaml`), killed in its second
//! round's search. Resumed here, it must end exactly as that binary's
//! uninterrupted run did (`run-v1-uninterrupted-*.csv`), without evaluating
//! any finished architecture again.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A copy of a directory tree.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The `columns` of a CSV file's rows, by name (all of them when empty),
/// without the columns that hold measured seconds.
fn rows(path: &Path, columns: &[&str]) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().clone();
    let keep: Vec<usize> = (0..h.len())
        .filter(|&i| !h[i].contains("seconds") && !h[i].starts_with("search_"))
        .filter(|&i| columns.is_empty() || columns.contains(&&h[i]))
        .collect();
    r.records().map(|rec| keep.iter().map(|&i| rec.as_ref().unwrap()[i].to_string()).collect()).collect()
}

/// The columns of the first format's evaluations.csv.
const FIRST_EVALUATIONS: [&str; 12] = [
    "phase", "round", "arch_key", "genotype", "params", "macs", "budget", "accuracy", "seconds", "status", "error",
    "extra",
];

#[test]
fn a_run_directory_of_the_first_format_resumes_to_the_uninterrupted_result() {
    let dir = temp_dir("compat-v1");
    let run = dir.join("run-v1");
    copy_tree(&fixtures().join("run-v1"), &run);
    // The first format records the config's folder as an absolute path: the
    // one of the machine that wrote it. Point it at this checkout's copy.
    let ckpt = run.join("checkpoint.json");
    let mut state: serde_json::Value = serde_json::from_str(&fs::read_to_string(&ckpt).unwrap()).unwrap();
    assert_eq!(state["stage"], "search", "the fixture was killed while searching");
    state["config_dir"] = serde_json::Value::String(fixtures().to_string_lossy().to_string());
    fs::write(&ckpt, serde_json::to_vec(&state).unwrap()).unwrap();
    let before = rows(&run.join("evaluations.csv"), &[]);

    run_ok(bin().args(["resume"]).arg(&run).arg("--quiet"));

    // the file is rewritten with this version's header; the first format's columns are kept
    let after = rows(&run.join("evaluations.csv"), &FIRST_EVALUATIONS);
    assert_eq!(after[..before.len()], before[..], "finished evaluations are kept as they were");
    let expected = rows(&fixtures().join("run-v1-uninterrupted-evaluations.csv"), &[]);
    assert_eq!(after, expected, "the resumed run measures what the uninterrupted one did");
    // columns added later are filled: the standard cost is the cost (the table builds no network)
    let mut r = csv::Reader::from_path(run.join("evaluations.csv")).unwrap();
    for rec in r.deserialize::<std::collections::HashMap<String, String>>() {
        let rec = rec.unwrap();
        assert_eq!((&rec["std_params"], &rec["attempt"]), (&rec["params"], &"1".to_string()));
    }
    let same = ["method", "space", "seed", "best_genotype", "params_m", "macs_m", "top1", "archs_trained", "failed"];
    assert_eq!(
        rows(&run.join("summary.csv"), &same),
        rows(&fixtures().join("run-v1-uninterrupted-summary.csv"), &same)
    );
    // the same picks; their predicted scores as the first format's to float
    // rounding: this version scores on the CPU through its own inference
    // (src/predictor/native.rs) instead of burn's forward. (That a score
    // survives a checkpoint to the last bit, which the first format's own
    // resume did not, run_cli's killed_runs_resume_to_the_same_result holds.)
    let topk = ["round", "rank", "source", "arch_key", "genotype", "params", "macs", "accuracy"];
    assert_eq!(rows(&run.join("topk.csv"), &topk), rows(&fixtures().join("run-v1-uninterrupted-topk.csv"), &topk));
    let predicted = |p: &Path| -> Vec<f64> { rows(p, &["predicted"]).iter().map(|r| r[0].parse().unwrap()).collect() };
    let (ours, first) =
        (predicted(&run.join("topk.csv")), predicted(&fixtures().join("run-v1-uninterrupted-topk.csv")));
    assert_eq!(ours.len(), first.len());
    for (a, b) in ours.iter().zip(&first) {
        assert!((a - b).abs() < 1e-4, "predicted {a} vs the first format's {b} (in %)");
    }
    // the first format's generations.csv held fractions: now all in %
    let gens = fs::read_to_string(run.join("generations.csv")).unwrap();
    assert!(gens.starts_with("round,generation,best_predicted,mean_predicted,median_predicted,"), "{gens}");
    let best: Vec<f64> = gens.lines().skip(1).map(|l| l.split(',').nth(2).unwrap().parse().unwrap()).collect();
    assert_eq!(best.len(), 2 * 400);
    assert!(best.iter().all(|&b| (1.0..=100.0).contains(&b)), "{best:?}");
}
