//! The `slurm` evaluator against a real one-node Slurm cluster, started by
//! `scripts/slurm-test-cluster.sh` (which `.ci/run` runs; these tests start
//! it themselves if it is down, which needs root or sudo). Tasks run the
//! example evaluator on NAS-Bench-201 cells through job arrays.

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// Starts the test cluster once per test process (a no-op when it is up).
fn cluster() {
    static UP: std::sync::Once = std::sync::Once::new();
    UP.call_once(|| {
        let out = Command::new("bash").arg(repo().join("scripts/slurm-test-cluster.sh")).arg("start").output().unwrap();
        assert!(
            out.status.success(),
            "the Slurm test cluster did not start (scripts/slurm-test-cluster.sh start): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// A small NAS-Bench-201 run: 8 for the predictor, 2 rounds of top-3.
fn config(dir: &Path, name: &str, evaluator: &str) -> PathBuf {
    let text = format!(
        "name: {name}
seed: 5
space: {space}
evaluator:
{evaluator}
predictor:
  train_archs: 8
  val_fraction: 0
  model:
    kind: nar-former
    tokenizer: {{ lx: 4, lp: 4, lr: 4 }}
    transformer: {{ depths: [1, 1, 1, 1], heads: 2, d_ff: 32 }}
  train: {{ epochs: 6, batch_size: 8, lr: 0.002 }}
search:
  evolution: {{ population: 20, generations: 6 }}
  top_k: 3
  rounds: 2
",
        space = repo().join("search_spaces/nb201.yaml").display()
    );
    write(dir, &format!("{name}.yaml"), &text)
}

/// The example evaluator's command line (NAS-Bench-201 test accuracies).
fn example(extra: &str) -> String {
    format!(
        "python3 {} --json {{json}} --workdir {{workdir}} --nb201-csv {} {extra}",
        repo().join("scripts/example_evaluator.py").display(),
        nb201_csv().display()
    )
}

/// A slurm evaluator section with `command` and further `keys`.
fn slurm(command: &str, keys: &str) -> String {
    format!("  kind: slurm\n  command: {command}\n  poll_s: 1\n  stop_after_failures: 0\n{keys}")
}

fn rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    r.deserialize().map(|x| x.unwrap()).collect()
}

/// (genotype, accuracy (empty when failed)) of a run's evaluations, sorted
/// (tasks finish in any order).
fn accuracies(run: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = rows(&run.join("evaluations.csv"))
        .into_iter()
        .map(|r| (r["genotype"].clone(), r["accuracy"].clone()))
        .collect();
    v.sort();
    v
}

/// sbatch submissions a run made (its submissions.log).
fn submissions(run: &Path) -> Vec<String> {
    fs::read_to_string(run.join("slurm/submissions.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(": job "))
        .map(String::from)
        .collect()
}

fn wait_for(what: &str, secs: u64, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < Duration::from_secs(secs), "{what} did not happen within {secs} s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The job ids of the tasks in flight.
fn inflight_ids(run: &Path) -> Vec<String> {
    let text = fs::read_to_string(run.join("slurm/inflight.json")).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    v["tasks"]
        .as_array()
        .map(|ts| {
            ts.iter().filter_map(|t| Some(format!("{}_{}", t["job_id"].as_str()?, t["index"].as_u64()?))).collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_workflow_runs_through_job_arrays_as_the_command_evaluator_would() {
    cluster();
    let dir = temp_dir("slurm-workflow");
    let cfg = config(&dir, "arrays", &slurm(&example(""), "  max_parallel: 4\n"));
    let run = dir.join("run");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
    let local_cfg = config(&dir, "local", &format!("  kind: command\n  command: {}\n  workers: 2", example("")));
    let local = dir.join("local");
    run_ok(bin().args(["run"]).arg(&local_cfg).arg("--run-dir").arg(&local).arg("--quiet"));
    assert_eq!(accuracies(&run), accuracies(&local));
    assert_eq!(accuracies(&run).len(), 8 + 2 * 3);
    // one array per batch: the predictor's data, then each round's top-3
    let subs = submissions(&run);
    assert_eq!(subs.len(), 3, "{subs:?}");
    assert!(subs[0].contains("8 tasks") && subs[0].contains("array 0-7%4"), "{subs:?}");
    // each row names its Slurm task; a task's files are under the run directory
    let evals = rows(&run.join("evaluations.csv"));
    assert!(evals.iter().all(|e| e["extra"].contains("slurm_job")), "{:?}", evals[0]);
    assert!(run.join("slurm/batch-0/0/stdout").exists() && run.join("slurm/batch-0/job.sh").exists());
    assert_eq!(
        fs::read_to_string(run.join("summary.csv")).unwrap().lines().nth(1).unwrap().split(',').nth(3),
        fs::read_to_string(local.join("summary.csv")).unwrap().lines().nth(1).unwrap().split(',').nth(3)
    );
}

#[test]
fn a_killed_driver_reattaches_and_nothing_is_submitted_twice() {
    cluster();
    let dir = temp_dir("slurm-reattach");
    let log = dir.join("evaluated.log");
    let cfg = config(&dir, "reattach", &slurm(&example(&format!("--sleep 4 --log {}", log.display())), ""));
    let run = dir.join("run");
    let mut child = bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet").spawn().unwrap();
    // killed while the first array runs: submitted, some tasks started
    wait_for("the first array", 120, || !inflight_ids(&run).is_empty() && log.exists());
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let in_flight = inflight_ids(&run);
    assert_eq!(in_flight.len(), 8, "{in_flight:?}");
    run_ok(bin().args(["resume"]).arg(&run).arg("--quiet"));
    // every architecture evaluated exactly once, three arrays in all
    let evaluated = fs::read_to_string(&log).unwrap();
    let mut keys: Vec<&str> = evaluated.lines().collect();
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "an architecture was evaluated twice:\n{evaluated}");
    assert_eq!(n, 8 + 2 * 3);
    let subs = submissions(&run);
    assert_eq!(subs.len(), 3, "{subs:?}");
    let log_text = fs::read_to_string(run.join("slurm/submissions.log")).unwrap();
    assert!(log_text.contains("re-attached to 8 tasks in flight"), "{log_text}");
    // the same result as a run never killed
    let whole = dir.join("whole");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&whole).arg("--quiet"));
    assert_eq!(accuracies(&run), accuracies(&whole));
    let summary = |r: &Path| rows(&r.join("summary.csv")).remove(0);
    let (a, b) = (summary(&run), summary(&whole));
    assert_eq!((&a["best_genotype"], &a["top1"]), (&b["best_genotype"], &b["top1"]));
}

#[test]
fn failing_tasks_are_failed_evaluations_with_their_stderr() {
    cluster();
    let dir = temp_dir("slurm-fail");
    let cfg = config(&dir, "fail", &slurm(&example("--fail-fraction 0.4 --fail-mode crash"), ""));
    let run = dir.join("run");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
    let evals = rows(&run.join("evaluations.csv"));
    let failed: Vec<_> = evals.iter().filter(|e| e["status"] == "failed").collect();
    assert!(!failed.is_empty() && failed.len() < evals.len(), "{} of {} failed", failed.len(), evals.len());
    for f in &failed {
        assert!(
            f["error"].contains("exited with code 3") && f["error"].contains("CUDA out of memory (simulated)"),
            "{}",
            f["error"]
        );
    }
    assert!(evals.iter().filter(|e| e["status"] == "ok").all(|e| !e["accuracy"].is_empty()));
}

#[test]
fn a_task_past_its_time_limit_is_resubmitted_and_recorded_once() {
    cluster();
    let dir = temp_dir("slurm-timeout");
    // every first attempt hangs past the 5-second limit; the second succeeds in the same workdir
    let evaluator = slurm(&example("--hang-first-attempt"), "  time: \"0:05\"\n  max_requeue: 1\n");
    let text = fs::read_to_string(config(&dir, "timeout", &evaluator))
        .unwrap()
        .replace("train_archs: 8", "train_archs: 4")
        .replace("rounds: 2", "rounds: 1")
        .replace("top_k: 3", "top_k: 1");
    let cfg = write(&dir, "timeout.yaml", &text);
    let run = dir.join("run");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
    let evals = rows(&run.join("evaluations.csv"));
    assert_eq!(evals.len(), 5, "each architecture recorded once");
    assert!(evals.iter().all(|e| e["status"] == "ok"), "{evals:?}");
    let log = fs::read_to_string(run.join("slurm/submissions.log")).unwrap();
    assert!(log.contains("ended with TIMEOUT: resubmitting"), "{log}");
    // the 4 data tasks and the round's 1 were each resubmitted once
    let resubmitted: usize = submissions(&run)
        .iter()
        .filter_map(|s| s.split(" tasks (").nth(1)?.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(resubmitted, 5, "{log}");
    let run_log = fs::read_to_string(run.join("run.log")).unwrap();
    assert!(run_log.contains("TIMEOUT; resubmitted"), "{run_log}");
}

#[test]
fn a_task_cancelled_by_hand_is_recorded_as_cancelled_and_the_run_goes_on() {
    cluster();
    let dir = temp_dir("slurm-cancel");
    let cfg = config(&dir, "cancel", &slurm(&example("--sleep 6"), ""));
    let run = dir.join("run");
    let child = bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet").spawn().unwrap();
    wait_for("the first array", 120, || inflight_ids(&run).len() == 8);
    let victim = inflight_ids(&run)[2].clone();
    let out = Command::new("scancel").arg(&victim).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let evals = rows(&run.join("evaluations.csv"));
    assert_eq!(evals.len(), 8 + 2 * 3);
    let failed: Vec<_> = evals.iter().filter(|e| e["status"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    let error = &failed[0]["error"];
    assert!(error.contains(&format!("Slurm task {victim} ")) && error.contains("cancelled on the cluster"), "{error}");
    assert!(run.join("summary.csv").exists());
}

#[test]
fn a_bad_partition_stops_the_run_with_sbatchs_message_and_loses_nothing() {
    cluster();
    let dir = temp_dir("slurm-partition");
    let text = fs::read_to_string(config(&dir, "partition", &slurm(&example(""), ""))).unwrap();
    let cfg = write(&dir, "partition.yaml", &text.replace("epochs: 6,", "epochs: 2000,"));
    let run = dir.join("run");
    // stopped while training its first predictor: the data evaluations are recorded
    let mut child = bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet").spawn().unwrap();
    wait_for("the first training", 120, || run.join("predictor/round-0/checkpoint").exists());
    child.kill().unwrap();
    child.wait().unwrap();
    let before = fs::read_to_string(run.join("evaluations.csv")).unwrap();
    assert_eq!(before.lines().count(), 1 + 8);
    let err = run_err(
        bin()
            .args(["run"])
            .arg(&cfg)
            .arg("--run-dir")
            .arg(&run)
            .args(["--resume", "--force", "--quiet", "--set"])
            .arg("evaluator.partition=nosuch"),
    );
    assert!(err.contains("sbatch refused the job array") && err.to_lowercase().contains("invalid partition"), "{err}");
    assert_eq!(fs::read_to_string(run.join("evaluations.csv")).unwrap(), before);
    // with the partition fixed it finishes, having evaluated nothing twice
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).args(["--resume", "--force", "--quiet"]));
    assert_eq!(rows(&run.join("evaluations.csv")).len(), 8 + 2 * 3);
}

#[test]
fn cancel_stops_a_runs_jobs() {
    cluster();
    let dir = temp_dir("slurm-cancel-cmd");
    let cfg = config(&dir, "cancelcmd", &slurm(&example("--sleep 60"), ""));
    let run = dir.join("run");
    let mut child = bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet").spawn().unwrap();
    wait_for("the first array", 120, || inflight_ids(&run).len() == 8);
    child.kill().unwrap();
    child.wait().unwrap();
    let out = run_ok(bin().args(["cancel"]).arg(&run));
    let job = inflight_ids(&run)[0].split('_').next().unwrap().to_string();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("cancelled Slurm jobs {job}")));
    // the run's tasks leave the queue as cancelled
    wait_for("the cancellation", 60, || {
        let q = Command::new("squeue").args(["-h", "-r", "--states=all", "-j", &job, "-o", "%T"]).output().unwrap();
        let states = String::from_utf8_lossy(&q.stdout).to_string();
        !states.is_empty() && states.lines().all(|s| s.starts_with("CANCELLED"))
    });
}

#[test]
fn builtin_tasks_run_eval_one_and_measure_what_the_run_would() {
    cluster();
    let dir = temp_dir("slurm-builtin");
    let builtin = "data: { kind: synthetic, seed: 2, train_images: 48, test_images: 20 }
    budgets:
      proxy: &b { epochs: 1, batch_size: 16, learning_rate: 0.05, resolution: 8, channels: 4, cells: 3 }
      final: *b";
    let darts = |text: String| {
        text.replace("search_spaces/nb201.yaml", "search_spaces/darts.yaml")
            .replace("train_archs: 8", "train_archs: 4")
            .replace("rounds: 2", "rounds: 1")
            .replace("top_k: 3", "top_k: 2")
    };
    let on_slurm = format!("  kind: slurm\n  poll_s: 1\n  builtin:\n    {builtin}");
    let cfg = write(&dir, "slurm.yaml", &darts(fs::read_to_string(config(&dir, "slurm", &on_slurm)).unwrap()));
    let local = format!("  kind: builtin\n  {}", builtin.replace("\n    ", "\n  "));
    let local_cfg = write(&dir, "local.yaml", &darts(fs::read_to_string(config(&dir, "local", &local)).unwrap()));
    let run = dir.join("run");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
    let here = dir.join("here");
    run_ok(bin().args(["run"]).arg(&local_cfg).arg("--run-dir").arg(&here).arg("--quiet"));
    // the same networks, trained with the same seeds on the node as in the driver
    assert_eq!(accuracies(&run), accuracies(&here));
    assert_eq!(accuracies(&run).len(), 6);
    let cmd = fs::read_to_string(run.join("slurm/batch-0/0/cmd.sh")).unwrap();
    assert!(cmd.contains(" eval-one ") && cmd.contains("config.yaml"), "{cmd}");
    let params =
        |r: &Path| rows(&r.join("evaluations.csv")).into_iter().map(|e| e["params"].clone()).collect::<Vec<_>>();
    let (mut a, mut b) = (params(&run), params(&here));
    a.sort();
    b.sort();
    assert_eq!(a, b, "the evaluated network's params come back from the node");
}
