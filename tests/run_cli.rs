//! End-to-end tests of `nas-search run`: the run directory, resuming after
//! SIGKILL at several points to the same result, and bad inputs.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

/// A small NAS-Bench-201 run: 12 architectures for the predictor, 2 rounds of top-3
/// (one of them a neighbour of the best measured).
fn small_config(dir: &Path, evaluator: &str) -> PathBuf {
    let text = format!(
        "name: small
seed: 4
space: {space}
strategy: nar-former-evolution
evaluator:
{evaluator}
predictor:
  train_archs: 12
  val_fraction: 0.2
  model:
    kind: nar-former
    tokenizer: {{ lx: 4, lp: 4, lr: 4 }}
    transformer: {{ depths: [1, 1, 1, 1], heads: 2, d_ff: 32 }}
  train: {{ epochs: 6, batch_size: 8, lr: 0.002 }}
search:
  evolution: {{ population: 20, generations: 12 }}
  top_k: 3
  rounds: 2
  local_picks: 1
  checkpoint_every: 2
",
        space = repo().join("search_spaces/nb201.yaml").display()
    );
    write(dir, "small.yaml", &text)
}

fn tabular() -> String {
    "  kind: tabular".to_string()
}

fn command_evaluator(extra: &str, log: &Path) -> String {
    format!(
        "  kind: command\n  command: python3 {} --json {{json}} --nb201-csv {} --log {} {extra}\n  timeout_s: 60\n  retries: 0\n  workers: 2",
        repo().join("scripts/example_evaluator.py").display(),
        nb201_csv().display(),
        log.display()
    )
}

/// evaluations.csv without its `seconds` column and without the command
/// line in `extra` (it names the run's own folder).
fn evaluations(run: &Path) -> Vec<Vec<String>> {
    evaluations_without(run, &["command"])
}

/// evaluations.csv, sorted, without its `seconds` column and without the
/// `extra` fields `keys`.
fn evaluations_without(run: &Path, keys: &[&str]) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(run.join("evaluations.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let skip = h.iter().position(|c| c == "seconds").unwrap();
    let extra = h.iter().position(|c| c == "extra").unwrap();
    let without_keys = |v: &str| {
        let mut m: serde_json::Map<String, serde_json::Value> = serde_json::from_str(v).unwrap();
        keys.iter().for_each(|k| drop(m.remove(*k)));
        serde_json::Value::Object(m).to_string()
    };
    let mut rows: Vec<Vec<String>> = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            rec.iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(i, v)| if i == extra { without_keys(v) } else { v.to_string() })
                .collect()
        })
        .collect();
    // parallel workers finish in any order
    rows.sort();
    rows
}

/// summary.csv without its timing columns.
fn summary(run: &Path) -> Vec<String> {
    let mut r = csv::Reader::from_path(run.join("summary.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let rec = r.records().next().unwrap().unwrap();
    h.iter()
        .zip(rec.iter())
        .filter(|(k, _)| !k.starts_with("search_") && !k.ends_with("_seconds"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

#[test]
fn nb201_run_writes_every_file() {
    let dir = temp_dir("run-e2e");
    let cfg = small_config(&dir, &tabular());
    let run = dir.join("run");
    let out = run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nar-former-evolution on nb201"));
    for f in [
        "config.yaml",
        "evaluations.csv",
        "generations.csv",
        "topk.csv",
        "summary.csv",
        "summary.md",
        "run.log",
        "checkpoint.json",
        "predictor/train_log.csv",
        "predictor/round-0/best.json",
        "predictor/round-1/best.json",
    ] {
        assert!(run.join(f).exists(), "missing {f}");
    }
    // each round trained its own predictor for the configured 6 epochs, and
    // the run's train_log.csv is the last round's
    for round in 0..2 {
        let log = run.join(format!("predictor/round-{round}/train_log.csv"));
        assert_eq!(rows_of(&log), 6, "round {round}");
    }
    assert_eq!(
        fs::read_to_string(run.join("predictor/train_log.csv")).unwrap(),
        fs::read_to_string(run.join("predictor/round-1/train_log.csv")).unwrap()
    );
    let evals = evaluations(&run);
    assert_eq!(evals.len(), 12 + 3 * 2);
    let header = fs::read_to_string(run.join("evaluations.csv")).unwrap();
    assert!(header.starts_with("phase,round,arch_key,genotype,params,macs,budget,accuracy,seconds,status,error,extra"));
    let gens = fs::read_to_string(run.join("generations.csv")).unwrap();
    assert_eq!(gens.lines().count(), 1 + 12 * 2);
    let s = summary(&run);
    assert!(s.contains(&"archs_trained=18".to_string()), "{s:?}");
    // each round's local pick is one edit away from the best cell measured before that round
    let mut topk = csv::Reader::from_path(run.join("topk.csv")).unwrap();
    let h = topk.headers().unwrap().clone();
    assert_eq!(
        h.iter().collect::<Vec<_>>(),
        [
            "round",
            "rank",
            "source",
            "arch_key",
            "genotype",
            "predicted",
            "params",
            "macs",
            "accuracy",
            "report_accuracy",
            "predicted_latency_ms",
            "latency_ms"
        ]
    );
    let picks: Vec<csv::StringRecord> = topk.records().map(|r| r.unwrap()).collect();
    assert_eq!(picks.len(), 6);
    let ops = |g: &str| g.split('|').filter(|t| t.contains('~')).map(str::to_string).collect::<Vec<_>>();
    for round in 0..2 {
        let local: Vec<_> = picks.iter().filter(|p| p[0] == *round.to_string() && &p[2] == "local").collect();
        assert_eq!(local.len(), 1, "round {round}: {picks:?}");
        let before =
            evals.iter().filter(|e| e[0] == "data" || (e[0] == "final" && e[1].parse::<usize>().unwrap() < round));
        // the most accurate, ties by key (as the workflow breaks them)
        let acc = |e: &Vec<String>| e[7].parse::<f64>().unwrap();
        let best = before.min_by(|a, b| acc(b).total_cmp(&acc(a)).then(a[2].cmp(&b[2]))).unwrap();
        let (a, b) = (ops(&best[3]), ops(&local[0][4]));
        assert_eq!(a.iter().zip(&b).filter(|(x, y)| x != y).count(), 1, "{a:?} vs {b:?}");
    }
    let log = fs::read_to_string(run.join("run.log")).unwrap();
    assert!(log.contains("archs/s"), "search speed is logged: {log}");
    // a second `run` into the same directory is refused without --resume
    let err = run_err(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run));
    assert!(err.contains("--resume"), "{err}");
    // resuming a finished run changes nothing
    run_ok(bin().args(["resume"]).arg(&run).arg("--quiet"));
    assert_eq!(evaluations(&run).len(), 18);
}

/// When to kill a run, judged from its directory.
type KillPoint = Box<dyn Fn(&Path) -> bool>;

/// Starts a run, SIGKILLs it once `ready` holds, then resumes it to the end.
fn kill_and_resume(cfg: &Path, run: &Path, ready: impl Fn(&Path) -> bool) {
    let mut child = bin().args(["run"]).arg(cfg).arg("--run-dir").arg(run).arg("--quiet").spawn().unwrap();
    let start = Instant::now();
    while !ready(run) {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before the kill point");
        assert!(start.elapsed() < Duration::from_secs(120), "kill point never reached");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!run.join("summary.csv").exists(), "killed too late");
    run_ok(bin().args(["run"]).arg(cfg).arg("--run-dir").arg(run).arg("--resume").arg("--quiet"));
}

fn lines_of(path: &Path) -> usize {
    fs::read_to_string(path).map(|t| t.lines().count()).unwrap_or(0)
}

fn rows_of(path: &Path) -> usize {
    fs::read_to_string(path).map(|t| t.lines().count().saturating_sub(1)).unwrap_or(0)
}

#[test]
fn killed_runs_resume_to_the_same_result() {
    let dir = temp_dir("run-resume");
    let whole_log = dir.join("whole.log");
    let cfg = small_config(&dir, &command_evaluator("--sleep 0.05", &whole_log));
    let whole = dir.join("whole");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&whole).arg("--quiet"));
    let reference = evaluations(&whole);
    assert_eq!(lines_of(&whole_log), reference.len(), "each architecture evaluated once");

    let points: [(&str, KillPoint); 3] = [
        ("evaluating", Box::new(|r: &Path| rows_of(&r.join("evaluations.csv")) >= 5)),
        ("training", Box::new(|r: &Path| r.join("predictor/round-0/checkpoint/latest").exists())),
        ("searching", Box::new(|r: &Path| rows_of(&r.join("generations.csv")) >= 5)),
    ];
    for (name, ready) in points {
        let log = dir.join(format!("{name}.log"));
        fs::create_dir_all(dir.join(name)).unwrap();
        let cfg = small_config(&dir.join(name), &command_evaluator("--sleep 0.05", &log));
        let run = dir.join(format!("run-{name}"));
        kill_and_resume(&cfg, &run, ready);
        assert_eq!(evaluations(&run), reference, "killed while {name}: evaluations differ");
        assert_eq!(summary(&run), summary(&whole), "killed while {name}: summary differs");
        let predicted = |r: &Path| -> Vec<String> {
            csv_rows(&r.join("topk.csv")).into_iter().map(|row| row["predicted"].clone()).collect()
        };
        assert_eq!(predicted(&run), predicted(&whole), "killed while {name}: predicted scores differ in some bit");
        // no finished evaluation ran again: at most the one in flight per worker at the kill
        let ran = lines_of(&log);
        assert!(ran <= reference.len() + 2, "killed while {name}: {ran} evaluations ran for {}", reference.len());
    }
}

#[test]
fn failing_evaluations_are_recorded_and_the_run_finishes() {
    let dir = temp_dir("run-failures");
    for mode in ["crash", "hang", "garbage", "nan"] {
        let log = dir.join(format!("{mode}.log"));
        let sub = dir.join(mode);
        fs::create_dir_all(&sub).unwrap();
        let mut ev = command_evaluator(&format!("--fail-fraction 0.3 --fail-mode {mode}"), &log);
        // a third of them fail, by design: the run must not stop early on that
        ev.push_str("\n  stop_after_failures: 0");
        // a short limit for the hanging evaluator; room for slow machines otherwise
        if mode == "hang" {
            ev = ev.replace("timeout_s: 60", "timeout_s: 2");
        }
        let cfg = small_config(&sub, &ev);
        let run = sub.join("run");
        run_with_failures(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
        let text = fs::read_to_string(run.join("evaluations.csv")).unwrap();
        let failed: Vec<&str> = text.lines().filter(|l| l.contains(",failed,")).collect();
        assert!(!failed.is_empty(), "{mode}: no failure recorded");
        let expect = match mode {
            "crash" => "CUDA out of memory",
            "hang" => "timed out",
            "garbage" => "not JSON",
            _ => "accuracy NaN is not a finite number",
        };
        assert!(failed.iter().all(|l| l.contains(expect)), "{mode}: {failed:?}");
        assert!(run.join("summary.csv").exists());
    }
}

#[test]
fn bad_inputs_name_the_key_or_file() {
    let dir = temp_dir("run-bad");
    let cfg = small_config(&dir, &tabular());
    let text = fs::read_to_string(&cfg).unwrap();

    let typo = write(&dir, "typo.yaml", &text.replace("top_k: 3", "topk: 3"));
    let err = run_err(bin().args(["run"]).arg(&typo).arg("--run-dir").arg(dir.join("r1")));
    assert!(err.contains("typo.yaml") && err.contains("topk"), "{err}");

    let wrong = write(&dir, "wrong.yaml", &text.replace("rounds: 2", "rounds: two"));
    let err = run_err(bin().args(["run"]).arg(&wrong).arg("--run-dir").arg(dir.join("r2")));
    assert!(err.contains("search.rounds"), "{err}");

    let err = run_err(
        bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(dir.join("r5")).args(["--set", "search.local_picks=4"]),
    );
    assert!(err.contains("search.local_picks (4)") && err.contains("small.yaml"), "{err}");

    let missing = write(
        &dir,
        "missing.yaml",
        &text.replace("  kind: tabular", "  kind: tabular\n  nb201_csv: /no/such/file.csv"),
    );
    let err = run_err(bin().args(["run"]).arg(&missing).arg("--run-dir").arg(dir.join("r3")));
    assert!(err.contains("/no/such/file.csv") && err.contains("evaluator.nb201_csv"), "{err}");

    // an unsatisfiable constraint fails clearly; the run resumes once it is fixed
    let run = dir.join("r4");
    let err = run_err(
        bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).args(["--set", "constraints.params.max=1000"]),
    );
    assert!(err.contains("params <= 1000") && err.contains("max_tries"), "{err}");
    let err = run_err(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--resume"));
    assert!(err.contains("change what is measured or searched: constraints.params.max"), "{err}");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).args(["--resume", "--force", "--quiet"]));
    assert!(run.join("summary.csv").exists());

    let err = run_err(bin().args(["resume"]).arg(dir.join("nowhere")));
    assert!(err.contains("nowhere does not exist"), "{err}");
    fs::write(run.join("checkpoint.json"), b"{ broken").unwrap();
    let err = run_err(bin().args(["resume"]).arg(&run));
    assert!(err.contains("checkpoint.json") && err.contains("corrupt"), "{err}");
}

/// A DARTS run with the built-in trainer at a tiny size: 4 sampled cells, top-2.
fn builtin_config(dir: &Path, data: &str) -> PathBuf {
    let evaluator = format!(
        "  kind: builtin
  data: {data}
  budgets:
    proxy: &b {{ epochs: 1, batch_size: 16, learning_rate: 0.05, resolution: 8, channels: 4, cells: 3 }}
    final: *b"
    );
    let text = fs::read_to_string(small_config(dir, &evaluator)).unwrap();
    let text = text
        .replace("search_spaces/nb201.yaml", "search_spaces/darts.yaml")
        .replace("train_archs: 12", "train_archs: 4")
        .replace("val_fraction: 0.2", "val_fraction: 0.25")
        .replace("rounds: 2", "rounds: 1")
        .replace("top_k: 3", "top_k: 2");
    write(dir, "builtin.yaml", &text)
}

#[test]
fn builtin_evaluator_trains_darts_networks_in_the_workflow() {
    let dir = temp_dir("run-builtin");
    let cfg = builtin_config(&dir, "{ kind: synthetic, seed: 2, train_images: 48, test_images: 20 }");
    let run = dir.join("run");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
    let evals = evaluations(&run);
    assert_eq!(evals.len(), 4 + 2);
    let text = fs::read_to_string(run.join("evaluations.csv")).unwrap();
    assert!(text.contains("\"\"images_per_s\"\"") && text.contains("\"\"train_images\"\":\"\"48\"\""), "{text}");
    let md = fs::read_to_string(run.join("summary.md")).unwrap();
    assert!(md.contains("Search against random sampling, same budget"), "{md}");
    // Training is seeded by the run seed and the architecture, each network on one thread: a second
    // run measures the same, one network at a time or several at once (in another order).
    let run2 = dir.join("run2");
    run_ok(
        bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run2).arg("--quiet").args(["--set", "evaluator.workers=1"]),
    );
    let measured = |rows: Vec<Vec<String>>| {
        let mut m: Vec<Vec<String>> = rows.into_iter().map(|r| r[..8].to_vec()).collect();
        m.sort();
        m
    };
    let run3 = dir.join("run3");
    run_ok(
        bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run3).arg("--quiet").args(["--set", "evaluator.workers=3"]),
    );
    assert_eq!(measured(evaluations(&run2)), measured(evals.clone()));
    assert_eq!(measured(evaluations(&run3)), measured(evals));
    let err = run_err(
        bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(dir.join("r0")).args(["--set", "evaluator.workers=0"]),
    );
    assert!(err.contains("evaluator.workers must be positive"), "{err}");

    let cifar = builtin_config(&dir, &format!("{{ kind: cifar10, dir: {} }}", dir.join("no-cifar").display()));
    let err = run_err(bin().args(["run"]).arg(&cifar).arg("--run-dir").arg(dir.join("r-cifar")));
    assert!(err.contains("data_batch_1.bin") && err.contains("evaluator.data.dir"), "{err}");
}

#[test]
fn a_killed_builtin_run_resumes_to_the_same_accuracies() {
    // Batches of 32 and more: until the loss's reciprocal estimate was taken
    // out, the same training differed between processes from that size on.
    let dir = temp_dir("run-builtin-resume");
    let text =
        fs::read_to_string(builtin_config(&dir, "{ kind: synthetic, seed: 1, train_images: 96, test_images: 40 }"))
            .unwrap()
            .replace("batch_size: 16", "batch_size: 32")
            .replace("epochs: 1,", "epochs: 2,");
    let cfg = write(&dir, "builtin-resume.yaml", &text);
    let whole = dir.join("whole");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&whole).arg("--quiet"));
    // what was measured, the training loss included; not how fast
    let measured = |run: &Path| evaluations_without(run, &["images_per_s"]);
    let reference = measured(&whole);
    assert_eq!(reference.len(), 4 + 2, "{reference:?}");
    let run = dir.join("killed");
    kill_and_resume(&cfg, &run, |r: &Path| rows_of(&r.join("evaluations.csv")) >= 2);
    assert_eq!(measured(&run), reference, "a killed and resumed built-in run measures what an uninterrupted one does");
    assert_eq!(summary(&run), summary(&whole));
}

/// Tiny CIFAR-10 binary files in `dir`: 5 x 12 training records and 25
/// test records (label and fill vary with the record).
fn tiny_cifar10(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let record = |label: u8, fill: u8| {
        let mut r = vec![label % 10];
        r.extend(std::iter::repeat_n(fill, 3072));
        r
    };
    for f in 1..=5u8 {
        let bytes: Vec<u8> = (0..12u8).flat_map(|i| record(i, f * 40 + i * 3)).collect();
        fs::write(dir.join(format!("data_batch_{f}.bin")), bytes).unwrap();
    }
    let bytes: Vec<u8> = (0..25u8).flat_map(|i| record(i * 7, 255 - i * 5)).collect();
    fs::write(dir.join("test_batch.bin"), bytes).unwrap();
}

#[test]
fn the_builtin_evaluator_searches_on_held_out_training_images_and_reports_the_test_set_apart() {
    let dir = temp_dir("run-protocol");
    let cifar = dir.join("cifar");
    tiny_cifar10(&cifar);
    let text = fs::read_to_string(builtin_config(
        &dir,
        &format!("{{ kind: cifar10, dir: {}, holdout: 10 }}", cifar.display()),
    ))
    .unwrap()
    .replace(
        "final: *b",
        "final: { epochs: 2, batch_size: 16, learning_rate: 0.05, resolution: 8, channels: 4, cells: 3 }",
    );
    let cfg = write(&dir, "protocol.yaml", &text);
    let run = dir.join("run");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
    let evals = csv_rows(&run.join("evaluations.csv"));
    assert_eq!(evals.len(), 4 + 2);
    for e in &evals {
        // trained on the 50 training images left, the signal measured on the 10 held out
        assert!(
            e["extra"].contains("\"train_images\":\"50\"") && e["extra"].contains("\"eval_images\":\"10\""),
            "{e:?}"
        );
        let reported = !e["report_accuracy"].is_empty();
        // the test set is measured for the final top-K only (the budgets differ)
        assert_eq!(reported, e["phase"] == "final", "{e:?}");
    }
    let md = fs::read_to_string(run.join("summary.md")).unwrap();
    assert!(
        md.contains("held out of training")
            && md.contains("top-1 is the top-1 accuracy (%) on CIFAR-10's 10,000 test images"),
        "{md}"
    );
    assert!(!md.contains("saw the test set"), "{md}");
    let summary = csv_rows(&run.join("summary.csv")).remove(0);
    let best = evals.iter().find(|e| e["genotype"] == summary["best_genotype"] && e["phase"] == "final").unwrap();
    assert_eq!((&summary["top1"], &summary["best_signal"]), (&best["report_accuracy"], &best["accuracy"]));

    // searching on the test images runs only when the config says so, and is flagged
    let on_test = dir.join("on-test");
    run_ok(
        bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&on_test).arg("--quiet").args([
            "--set",
            "evaluator.data={ kind: cifar10, signal: test, dir: CIFAR }"
                .replace("CIFAR", &cifar.display().to_string())
                .as_str(),
        ]),
    );
    let evals = csv_rows(&on_test.join("evaluations.csv"));
    for e in &evals {
        assert!(
            e["extra"].contains("\"train_images\":\"60\"") && e["extra"].contains("\"eval_images\":\"25\""),
            "{e:?}"
        );
        assert!(e["report_accuracy"].is_empty(), "{e:?}");
    }
    let md = fs::read_to_string(on_test.join("summary.md")).unwrap();
    assert!(md.contains("**The search saw the test set**") && md.contains("`signal: test`"), "{md}");
    // the default holds 5,000 out, more than these files have: a clear error, before any training
    let err = run_err(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(dir.join("default")).args([
        "--set",
        "evaluator.data={ kind: cifar10, dir: CIFAR }".replace("CIFAR", &cifar.display().to_string()).as_str(),
    ]));
    assert!(err.contains("holdout = 5000 leaves no training images") && err.contains("default"), "{err}");
}

#[test]
fn the_flex_cpu_backend_runs_the_workflow_and_the_benchmarks() {
    let dir = temp_dir("run-flex");
    let cfg = builtin_config(&dir, "{ kind: synthetic, seed: 2, train_images: 48, test_images: 20 }");
    let run = dir.join("run");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet").args(["--set", "device=flex"]));
    let evals = evaluations(&run);
    assert_eq!(evals.len(), 4 + 2);
    assert!(evals.iter().all(|r| r.iter().any(|f| f == "ok")), "{evals:?}");
    let out = run_ok(bin().args(["bench", "train", "--device", "flex", "--channels", "4", "--cells", "3"]).args([
        "--batch",
        "4",
        "--resolution",
        "8",
        "--steps",
        "1",
    ]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("backend flex") && text.contains("images/s"), "{text}");
}

#[test]
fn bench_noise_trains_each_cell_with_other_seeds_and_writes_every_training() {
    let dir = temp_dir("bench-noise");
    let cfg = builtin_config(&dir, "{ kind: synthetic, seed: 2, train_images: 48, test_images: 40 }");
    let noise = |out: &Path| {
        let o = bin()
            .args(["bench", "noise"])
            .arg(&cfg)
            .args(["--cells", "3", "--repeats", "2", "--out"])
            .arg(out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let (a, b) = (dir.join("a.csv"), dir.join("b.csv"));
    let text = noise(&a);
    assert!(text.contains("repeat noise of one cell") && text.contains("architecture's share"), "{text}");
    noise(&b);
    let rows = |p: &Path| -> Vec<csv::StringRecord> {
        csv::Reader::from_path(p).unwrap().records().map(|r| r.unwrap()).collect()
    };
    let no_seconds = |rows: Vec<csv::StringRecord>| -> Vec<Vec<String>> {
        rows.iter().map(|r| [0, 1, 2, 4].iter().map(|&i| r[i].to_string()).collect()).collect()
    };
    assert_eq!(no_seconds(rows(&a)), no_seconds(rows(&b)), "same seed, same accuracies");
    let rows = rows(&a);
    assert_eq!(rows.len(), 6);
    for r in &rows {
        let acc: f64 = r[2].parse().unwrap();
        assert!((0.0..=100.0).contains(&acc), "{r:?}");
    }
    // Three distinct cells, each trained twice.
    let cells: std::collections::BTreeSet<&str> = rows.iter().map(|r| &r[4]).collect();
    assert_eq!(cells.len(), 3);
    let err = String::from_utf8_lossy(
        &bin().args(["bench", "noise"]).arg(&cfg).args(["--cells", "1"]).output().unwrap().stderr,
    )
    .to_string();
    assert!(err.contains("at least 2 cells"), "{err}");
}

#[test]
fn an_evaluator_that_cannot_measure_the_space_is_refused_naming_both() {
    let dir = temp_dir("run-mismatch");
    let text = fs::read_to_string(small_config(&dir, &tabular())).unwrap();
    let darts =
        write(&dir, "tabular-darts.yaml", &text.replace("search_spaces/nb201.yaml", "search_spaces/darts.yaml"));
    let run = dir.join("r1");
    let err = run_err(bin().args(["run"]).arg(&darts).arg("--run-dir").arg(&run));
    assert!(err.contains("`tabular`") && err.contains("darts space") && err.contains("darts.yaml"), "{err}");
    assert!(!run.join("evaluations.csv").exists(), "refused before evaluating anything");
    // (the built-in trainer builds every space's network, NAS-Bench-201's too since 2026-11-30)
}

#[test]
fn a_command_evaluators_relative_paths_resolve_against_the_config_folder() {
    let dir = temp_dir("run-command-cwd");
    let cfg_dir = dir.join("configs");
    fs::create_dir_all(&cfg_dir).unwrap();
    // A script beside the config, named by a relative path; it scores a genotype by its characters.
    write(
        &cfg_dir,
        "score.py",
        "import json, sys\n\
         g = json.load(open(sys.argv[1]))['genotype']\n\
         print(json.dumps({'accuracy': 40 + sum(map(ord, g)) % 5000 / 100}))\n",
    );
    let ev = "  kind: command\n  command: python3 score.py {json}\n  retries: 0";
    let cfg = small_config(&cfg_dir, ev);
    let run = dir.join("run");
    // started from another folder: the script is found all the same
    let elsewhere = dir.join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    run_ok(bin().current_dir(&elsewhere).args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
    let text = fs::read_to_string(run.join("evaluations.csv")).unwrap();
    assert_eq!(text.lines().filter(|l| l.contains(",ok,")).count(), 18, "{text}");
}

/// Accuracy columns of the built-in table by cell string: (cifar10-valid, cifar10 test).
fn nb201_accuracies() -> std::collections::HashMap<String, (f64, f64)> {
    let text = nas_search::data::nb201::embedded_csv();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (arch, valid, test) =
        (col("ArchitectureString"), col("CIFAR10ValidAccuracy12Epochs"), col("CIFAR10TestAccuracy200Epochs"));
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            (rec[arch].to_string(), (rec[valid].parse().unwrap(), rec[test].parse().unwrap()))
        })
        .collect()
}

#[test]
fn nb201_search_sees_the_validation_signal_and_reports_test_accuracy() {
    let dir = temp_dir("run-nb201-protocol");
    let table = nb201_accuracies();
    let cfg = small_config(&dir, &tabular());
    let run = dir.join("run");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
    let mut r = csv::Reader::from_path(run.join("evaluations.csv")).unwrap();
    let rows: Vec<std::collections::HashMap<String, String>> = r.deserialize().map(|x| x.unwrap()).collect();
    let mut best: Option<(f64, f64)> = None;
    for row in &rows {
        let (valid, test) = table[&row["genotype"]];
        let (signal, report): (f64, f64) = (row["accuracy"].parse().unwrap(), row["report_accuracy"].parse().unwrap());
        assert_eq!((signal, report), (valid, test), "{}", row["genotype"]);
        if best.is_none_or(|b| signal > b.0) {
            best = Some((signal, report));
        }
    }
    // top-1: the test accuracy of the architecture with the best validation accuracy
    let s = summary(&run);
    assert!(s.contains(&format!("top1={}", best.unwrap().1)), "{s:?} {best:?}");
    assert!(s.contains(&format!("best_signal={}", best.unwrap().0)), "{s:?}");
    let md = fs::read_to_string(run.join("summary.md")).unwrap();
    assert!(md.contains("The search saw CIFAR-10 validation accuracy after 12 epochs"), "{md}");
    assert!(!md.contains("saw the test set"), "{md}");

    // a signal on the test set is allowed, and said
    for (name, evaluator) in
        [("test-signal", "  kind: tabular\n  signal: cifar10"), ("label", "  kind: tabular\n  label: cifar10")]
    {
        let sub = dir.join(name);
        fs::create_dir_all(&sub).unwrap();
        let cfg = small_config(&sub, evaluator);
        let run = sub.join("run");
        run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
        let md = fs::read_to_string(run.join("summary.md")).unwrap();
        assert!(md.contains("**The search saw the test set**"), "{name}: {md}");
    }
    let both = small_config(&dir, "  kind: tabular\n  label: cifar10\n  signal: cifar10-valid");
    let err = run_err(bin().args(["run"]).arg(&both).arg("--run-dir").arg(dir.join("both")));
    assert!(err.contains("evaluator.label") && err.contains("evaluator.signal"), "{err}");
}
