//! The evaluator adapters in `scripts/` against stand-ins of the programs
//! they wrap: `darts_train_command.py` drives a stand-in of the DARTS code's
//! unmodified `cnn/train.py` (same flags, `--arch` looked up in its
//! `genotypes.py`, same log format; `tests/fixtures/darts_standin/`).

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use common::*;
use nas_search::space::darts::DartsGenotype;

/// Runs the DARTS adapter on one job, with the stand-in train.py in `mode`.
fn adapter(dir: &Path, genotype: &str, settings: &str, mode: &str) -> Output {
    let json = dir.join("arch.json");
    let job = format!(
        r#"{{"genotype": {}, "key": "k", "budget": "final", "settings": {settings}}}"#,
        serde_json::to_string(genotype).unwrap()
    );
    fs::write(&json, job).unwrap();
    Command::new("python3")
        .arg(repo().join("scripts/darts_train_command.py"))
        .arg(&json)
        .arg(dir.join("work"))
        .env("DARTS_REPO", repo().join("tests/fixtures/darts_standin"))
        .env("STANDIN_MODE", mode)
        .output()
        .expect("python3 runs")
}

/// What the stand-in received: the one eval-*/received.json under `work`.
fn received(work: &Path) -> serde_json::Value {
    let eval = fs::read_dir(work).unwrap().map(|e| e.unwrap().path()).find(|p| p.is_dir()).expect("an eval-* folder");
    serde_json::from_str(&fs::read_to_string(eval.join("received.json")).unwrap()).unwrap()
}

#[test]
fn darts_adapter_passes_the_genotype_and_settings_and_reads_the_last_valid_acc() {
    let dir = temp_dir("adapter-ok");
    let v2 = DartsGenotype::darts_v2().to_string();
    let out = adapter(
        &dir,
        &v2,
        r#"{"epochs": 3, "init_channels": 16, "layers": 8, "cutout": true, "auxiliary": false}"#,
        "",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    // the stand-in's valid_acc of the last epoch (2): 40 + 6 convolutions in V2 + 16 / 10 + 2
    assert!((result["accuracy"].as_f64().unwrap() - 49.6).abs() < 1e-9, "{result}");
    assert_eq!(result["epochs_logged"], 3);
    let got = received(&dir.join("work"));
    let args = &got["args"];
    assert_eq!(
        (args["arch"].as_str(), args["epochs"].as_i64(), args["init_channels"].as_i64()),
        (Some("NAS_SEARCH"), Some(3), Some(16))
    );
    assert_eq!(
        (args["layers"].as_i64(), args["cutout"].as_bool(), args["auxiliary"].as_bool()),
        (Some(8), Some(true), Some(false))
    );
    // the genotype train.py built is ours, edge by edge
    let normal: Vec<(String, usize)> = serde_json::from_value(got["normal"].clone()).unwrap();
    let g = DartsGenotype::darts_v2();
    let ours: Vec<(String, usize)> = g.normal.edges.iter().map(|e| (e.op.name().to_string(), e.input)).collect();
    assert_eq!(normal, ours);
    assert!(dir.join("work/train.log").exists(), "train.py's log is kept in the work folder");
}

#[test]
fn darts_adapter_reports_a_crash_a_missing_accuracy_and_an_unknown_setting() {
    let v2 = DartsGenotype::darts_v2().to_string();
    let dir = temp_dir("adapter-crash");
    let out = adapter(&dir, &v2, r#"{"epochs": 2}"#, "crash");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CUDA out of memory") && err.contains("exited with"), "{err}");

    let dir = temp_dir("adapter-noacc");
    let out = adapter(&dir, &v2, r#"{"epochs": 2}"#, "no-acc");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no valid_acc line") && err.contains("train_acc"), "{err}");

    let dir = temp_dir("adapter-unknown");
    let out = adapter(&dir, &v2, r#"{"epochs": 2, "channels": 8}"#, "");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unrecognized arguments: --channels 8"), "{err}");
}

#[test]
fn a_darts_run_trains_through_the_adapter() {
    let dir = temp_dir("adapter-run");
    let text = format!(
        "name: adapter
seed: 1
space: {space}
evaluator:
  kind: command
  command: python3 {script} {{json}} {{workdir}}
  retries: 0
  budgets:
    proxy: {{ epochs: 2, init_channels: 8, layers: 5 }}
    final: {{ epochs: 3, init_channels: 16, layers: 8, cutout: true }}
predictor:
  train_archs: 6
  val_fraction: 0.34
  model:
    kind: nar-former
    tokenizer: {{ lx: 4, lp: 4, lr: 4 }}
    transformer: {{ depths: [1, 1, 1, 1], heads: 2, d_ff: 32 }}
  train: {{ epochs: 3, batch_size: 8, lr: 0.002 }}
search:
  evolution: {{ population: 10, generations: 3 }}
  top_k: 2
",
        space = repo().join("search_spaces/darts.yaml").display(),
        script = repo().join("scripts/darts_train_command.py").display()
    );
    let cfg = write(&dir, "adapter.yaml", &text);
    let run = dir.join("run");
    run_ok(
        bin()
            .env("DARTS_REPO", repo().join("tests/fixtures/darts_standin"))
            .args(["run"])
            .arg(&cfg)
            .arg("--run-dir")
            .arg(&run)
            .arg("--quiet"),
    );
    let mut r = csv::Reader::from_path(run.join("evaluations.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(rows.len(), 8);
    for row in &rows {
        assert_eq!(&row[9], "ok", "{row:?}");
        let acc: f64 = row[7].parse().unwrap();
        // proxy: 2 epochs of C=8 (last epoch 1): 40 + convs + 0.8 + 1; final: 40 + convs + 1.6 + 2
        let rest = if &row[6] == "proxy" { 1.8 } else { 3.6 };
        let convs = acc - 40.0 - rest;
        assert!((convs - convs.round()).abs() < 1e-6 && (0.0..=16.0).contains(&convs), "{row:?}");
    }
}
