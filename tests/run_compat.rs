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

/// CSV rows without the columns that hold measured seconds.
fn rows_without_seconds(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().clone();
    let keep: Vec<usize> =
        (0..h.len()).filter(|&i| !h[i].contains("seconds") && !h[i].starts_with("search_gpu")).collect();
    r.records().map(|rec| keep.iter().map(|&i| rec.as_ref().unwrap()[i].to_string()).collect()).collect()
}

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
    let before = rows_without_seconds(&run.join("evaluations.csv"));

    run_ok(bin().args(["resume"]).arg(&run).arg("--quiet"));

    let after = rows_without_seconds(&run.join("evaluations.csv"));
    assert_eq!(after[..before.len()], before[..], "finished evaluations are kept as they were");
    let expected = rows_without_seconds(&fixtures().join("run-v1-uninterrupted-evaluations.csv"));
    assert_eq!(after, expected, "the resumed run measures what the uninterrupted one did");
    assert_eq!(
        rows_without_seconds(&run.join("summary.csv")),
        rows_without_seconds(&fixtures().join("run-v1-uninterrupted-summary.csv"))
    );
    // predicted scores survive the checkpoint to the last bit (the first
    // format's own resume lost one in the last digit of a topk.csv score)
    assert_eq!(
        fs::read_to_string(run.join("topk.csv")).unwrap(),
        fs::read_to_string(fixtures().join("run-v1-uninterrupted-topk.csv")).unwrap()
    );
}
