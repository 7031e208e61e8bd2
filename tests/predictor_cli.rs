//! End-to-end tests of `nas-search predictor ...`: the files a training writes,
//! resuming after a kill, and clear errors for bad input.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::*;

/// train_log.csv's rows without the `seconds` column (found by name).
fn log_rows_without_time(dir: &std::path::Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(dir.join("train_log.csv")).unwrap();
    let header = r.headers().unwrap().clone();
    let keep: Vec<usize> = (0..header.len()).filter(|&i| &header[i] != "seconds").collect();
    assert_eq!(keep.len(), header.len() - 1, "train_log.csv has a seconds column: {header:?}");
    r.records().map(|rec| keep.iter().map(|&i| rec.as_ref().unwrap()[i].to_string()).collect()).collect()
}

#[test]
fn train_writes_log_metrics_results_and_eval_reloads_best() {
    let dir = temp_dir("train");
    let cfg = write(&dir, "tiny.yaml", TINY_CONFIG);
    let out = dir.join("out");
    let results = dir.join("results.csv");
    let stdout = run_ok(
        bin()
            .args(["predictor", "train"])
            .arg(&cfg)
            .arg("--out")
            .arg(&out)
            .arg("--results")
            .arg(&results)
            .arg("--quiet"),
    );
    let text = String::from_utf8_lossy(&stdout.stdout).to_string();
    assert!(text.contains("tau_all"), "{text}");

    let log = fs::read_to_string(out.join("train_log.csv")).unwrap();
    let mut lines = log.lines();
    assert_eq!(lines.next().unwrap(), "epoch,loss,mse,sr,ac,lr,grad_norm,train_tau,val_tau,ema_val_tau,seconds");
    assert_eq!(lines.count(), 4);
    let metrics = fs::read_to_string(out.join("test_metrics.csv")).unwrap();
    assert!(
        metrics.starts_with("tau_all,tau_rest,mape,errbnd_0.1,tau_train,archs_all,archs_rest,archs_train,"),
        "{metrics}"
    );
    assert!(metrics.contains(",15625,15529,64,"), "{metrics}");

    let table = fs::read_to_string(&results).unwrap();
    let mut rows = table.lines();
    assert_eq!(
        rows.next().unwrap(),
        "model,model_rev,train_archs,epochs,backend,tau_all,tau_rest,mape,errbnd_0.1,train_seconds,train_dir,command"
    );
    let row = rows.next().unwrap();
    assert!(row.starts_with(&format!("nar-former,{},64,4,ndarray", nas_search::predictor::MODEL_REVISION)), "{row}");
    assert!(row.contains(",nas-search predictor train "), "the command as run: {row}");
    assert!(row.contains("predictor train"), "{row}");

    // eval reloads the best weights and reproduces the same tau_all
    let eval = run_ok(bin().args(["predictor", "eval"]).arg(&cfg).arg("--checkpoint").arg(&out));
    let eval_text = String::from_utf8_lossy(&eval.stdout).to_string();
    let tau_of = |s: &str| s.split_whitespace().nth(1).unwrap().to_string();
    assert_eq!(tau_of(&eval_text), tau_of(&text));

    // a second training into the same directory with another config is refused
    let err =
        run_err(bin().args(["predictor", "train"]).arg(&cfg).arg("--out").arg(&out).args(["--set", "train.epochs=5"]));
    assert!(err.contains("another config") && err.contains("train.epochs") && err.contains("--restart"), "{err}");
}

#[test]
fn killed_training_resumes_to_the_same_result() {
    // a checkpoint after every epoch, and one every 2 (the kill may then lose a logged epoch)
    for every in [1, 2] {
        let dir = temp_dir(&format!("resume-{every}"));
        let text = TINY_CONFIG.replace("epochs: 4", &format!("epochs: 7, checkpoint_every: {every}"));
        let cfg = write(&dir, "tiny.yaml", &text);
        let whole = dir.join("whole");
        run_ok(bin().args(["predictor", "train"]).arg(&cfg).arg("--out").arg(&whole).arg("--quiet"));

        let cut = dir.join("cut");
        let mut child =
            bin().args(["predictor", "train"]).arg(&cfg).arg("--out").arg(&cut).arg("--quiet").spawn().unwrap();
        let latest = cut.join("checkpoint/latest");
        let start = Instant::now();
        loop {
            if fs::read_to_string(&latest).map(|s| s.trim() >= "ckpt-000002").unwrap_or(false) {
                break;
            }
            if child.try_wait().unwrap().is_some() || start.elapsed() > Duration::from_secs(120) {
                panic!("training ended before it could be killed");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let done_before: usize = fs::read_to_string(&latest).unwrap().trim()[5..].parse().unwrap();
        assert!(done_before < 7, "the kill came too late to test resuming");
        assert_eq!(done_before % every, 0, "checkpoints every {every} epochs");

        let resumed = run_ok(bin().args(["predictor", "train"]).arg(&cfg).arg("--out").arg(&cut));
        let stderr = String::from_utf8_lossy(&resumed.stderr).to_string();
        assert!(stderr.contains("resumed from the checkpoint"), "{stderr}");
        assert_eq!(log_rows_without_time(&whole), log_rows_without_time(&cut), "checkpoint_every {every}");
        let m = |d: &std::path::Path| fs::read_to_string(d.join("test_metrics.csv")).unwrap();
        assert_eq!(m(&whole), m(&cut), "checkpoint_every {every}");
    }
}

#[test]
fn bad_inputs_name_the_problem() {
    let dir = temp_dir("bad");
    let cfg = write(&dir, "typo.yaml", &TINY_CONFIG.replace("batch_size", "batchsize"));
    let err = run_err(bin().args(["predictor", "train"]).arg(&cfg).arg("--out").arg(dir.join("o1")));
    assert!(err.contains("typo.yaml") && err.contains("batchsize"), "{err}");

    let cfg = write(&dir, "type.yaml", &TINY_CONFIG.replace("epochs: 4", "epochs: four"));
    let err = run_err(bin().args(["predictor", "train"]).arg(&cfg).arg("--out").arg(dir.join("o2")));
    assert!(err.contains("train.epochs"), "{err}");

    let cfg = write(&dir, "tiny.yaml", TINY_CONFIG);
    let err = run_err(
        bin()
            .args(["predictor", "train"])
            .arg(&cfg)
            .arg("--out")
            .arg(dir.join("o3"))
            .env("NAS_SEARCH_NB201_CSV", "/no/such.csv"),
    );
    assert!(err.contains("/no/such.csv") && err.contains("NAS_SEARCH_NB201_CSV"), "{err}");

    let broken = write(&dir, "broken.csv", "CIFAR10TestAccuracy200Epochs,ArchitectureString\n93.1,|none~0|+|none~0|\n");
    let err = run_err(
        bin()
            .args(["predictor", "train"])
            .arg(&cfg)
            .arg("--out")
            .arg(dir.join("o4"))
            .env("NAS_SEARCH_NB201_CSV", &broken),
    );
    assert!(err.contains("broken.csv:2") && err.contains("ArchitectureString"), "{err}");

    let err = run_err(bin().args(["predictor", "eval"]).arg(&cfg).arg("--checkpoint").arg(dir.join("nowhere")));
    assert!(
        err.contains("nowhere") && err.contains("not a predictor training directory") || err.contains("no config.yaml"),
        "{err}"
    );
}

/// A tiny MLP config.
const TINY_MLP: &str = "\
split: { train_archs: 64, val_archs: 32 }
model: { kind: mlp, mlp: { hidden: [16] } }
train: { epochs: 2, batch_size: 16, lr: 0.001, lambda_sr: 0.0, lambda_ac: 0.0, augment_permutations: 0 }
";

#[test]
fn eval_measures_what_was_trained_and_names_what_differs() {
    let dir = temp_dir("eval-frozen");
    let cfg = write(&dir, "tiny.yaml", TINY_CONFIG);
    let out = dir.join("out");
    let trained = run_ok(bin().args(["predictor", "train"]).arg(&cfg).arg("--out").arg(&out).arg("--quiet"));
    let tau_of =
        |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).split_whitespace().nth(1).unwrap().to_string();
    // without a config: the frozen one
    let eval = run_ok(bin().args(["predictor", "eval", "--checkpoint"]).arg(&out));
    assert_eq!(tau_of(&eval), tau_of(&trained));
    // a --set or a config that describes another training is refused, naming the keys
    let err = run_err(
        bin()
            .args(["predictor", "eval"])
            .arg(&cfg)
            .args(["--checkpoint"])
            .arg(&out)
            .args(["--set", "split.train_archs=65"]),
    );
    assert!(
        err.contains("split.train_archs")
            && err.contains("--set split.train_archs=65")
            && err.contains("another training"),
        "{err}"
    );
    let other = write(&dir, "other.yaml", &TINY_CONFIG.replace("depths: [1, 1, 1, 1]", "depths: [2, 1]"));
    let err = run_err(bin().args(["predictor", "eval"]).arg(&other).arg("--checkpoint").arg(&out));
    assert!(err.contains("other.yaml") && err.contains("model.transformer.depths"), "{err}");
    // the device may differ (where it runs does not change what was trained)
    run_ok(bin().args(["predictor", "eval"]).arg(&cfg).arg("--checkpoint").arg(&out).args(["--set", "device=cpu"]));

    // another model's weights under a config of this one: both kinds are named
    let mlp = write(&dir, "mlp.yaml", TINY_MLP);
    let mlp_out = dir.join("mlp-out");
    run_ok(bin().args(["predictor", "train"]).arg(&mlp).arg("--out").arg(&mlp_out).arg("--quiet"));
    fs::copy(out.join("config.yaml"), mlp_out.join("config.yaml")).unwrap();
    let err = run_err(bin().args(["predictor", "eval", "--checkpoint"]).arg(&mlp_out));
    assert!(err.contains("mlp model") && err.contains("nar-former model"), "{err}");
    // a directory written before best.json named the kind: an error, not a panic
    let best = fs::read_to_string(mlp_out.join("best.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&best).unwrap();
    let mut v = v.as_object().unwrap().clone();
    v.remove("model");
    fs::write(mlp_out.join("best.json"), serde_json::to_vec(&v).unwrap()).unwrap();
    let out = bin().args(["predictor", "eval", "--checkpoint"]).arg(&mlp_out).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a clean error: {err}");
    assert!(err.contains("model.mpk"), "{err}");
}

#[test]
fn corrupt_checkpoint_is_reported() {
    let dir = temp_dir("corrupt");
    let cfg = write(&dir, "tiny.yaml", &TINY_CONFIG.replace("epochs: 4", "epochs: 2"));
    let out = dir.join("out");
    run_ok(bin().args(["predictor", "train"]).arg(&cfg).arg("--out").arg(&out).arg("--quiet"));
    let name = fs::read_to_string(out.join("checkpoint/latest")).unwrap();
    fs::write(out.join("checkpoint").join(name.trim()).join("model.mpk"), b"garbage").unwrap();
    fs::write(out.join("checkpoint").join(name.trim()).join("state.json"), br#"{"epochs_done": 1, "steps_done": 4, "best_val_tau": 0.1, "best_epoch": 1, "best_source": "ema", "train_seconds": 1.0}"#).unwrap();
    let err = run_err(bin().args(["predictor", "train"]).arg(&cfg).arg("--out").arg(&out));
    assert!(err.contains("model.mpk"), "{err}");
}
