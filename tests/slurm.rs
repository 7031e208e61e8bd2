//! The `slurm` evaluator against a real one-node Slurm cluster, started by
//! `scripts/slurm-test-cluster.sh` (which `.ci/run` runs; these tests start
//! it themselves if it is down, which needs root or sudo). They run only
//! against that script's cluster (its marker file and ClusterName nastest),
//! never a site's. Tasks run the example evaluator on NAS-Bench-201 cells
//! through job arrays. The cluster's MaxArraySize is 6, so batches of 8
//! run as two arrays (6 + 2).
//!
//! Tests that stop slurmctld hold the cluster alone ([`cluster_alone`]);
//! the others share it ([`cluster`]).

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use common::*;

/// The test cluster's script with `arg`.
fn script(arg: &str) -> std::process::Output {
    Command::new("bash").arg(repo().join("scripts/slurm-test-cluster.sh")).arg(arg).output().unwrap()
}

/// Starts the test cluster once per test process (a no-op when it is up),
/// and refuses to go on unless the cluster that answers is the script's.
fn start_once() {
    static UP: std::sync::Once = std::sync::Once::new();
    UP.call_once(|| {
        let out = script("start");
        assert!(
            out.status.success(),
            "the Slurm test cluster did not start (scripts/slurm-test-cluster.sh start): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    let dir = std::env::var("SLURM_TEST_DIR").unwrap_or_else(|_| "/tmp/nas-search-slurm".into());
    let config = Command::new("scontrol").args(["show", "config"]).output().unwrap();
    let config = String::from_utf8_lossy(&config.stdout);
    let name =
        config.lines().find_map(|l| l.strip_prefix("ClusterName")).map(|v| v.trim_start_matches([' ', '=']).trim());
    assert!(
        Path::new(&dir).join("ours").exists() && name == Some("nastest"),
        "refusing to run the Slurm tests: the cluster that answers is not scripts/slurm-test-cluster.sh's \
         ({dir}/ours missing, or ClusterName {name:?} is not nastest); these tests submit, requeue and cancel jobs \
         and stop slurmctld: run them on a machine without a real cluster"
    );
}

/// Who uses the cluster: tests that stop slurmctld take it alone.
static CLUSTER: RwLock<()> = RwLock::new(());

/// The test cluster, up and the script's, shared with other tests.
fn cluster() -> RwLockReadGuard<'static, ()> {
    start_once();
    CLUSTER.read().unwrap_or_else(|e| e.into_inner())
}

/// The test cluster, up and the script's, with no other test using it.
fn cluster_alone() -> RwLockWriteGuard<'static, ()> {
    start_once();
    CLUSTER.write().unwrap_or_else(|e| e.into_inner())
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
/// (A result missing after its task ended counts as lost after 3 s, not
/// the default 120 s: `result_grace_s` where a test needs more.)
fn slurm(command: &str, keys: &str) -> String {
    let grace = if keys.contains("result_grace_s") { "" } else { "  result_grace_s: 3\n" };
    format!("  kind: slurm\n  command: {command}\n  poll_s: 1\n  stop_after_failures: 0\n{grace}{keys}")
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

fn wait_for(what: &str, secs: u64, mut ready: impl FnMut() -> bool) {
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
    let _cluster = cluster();
    let dir = temp_dir("slurm-workflow");
    let cfg = config(&dir, "arrays", &slurm(&example(""), "  max_parallel: 4\n"));
    let run = dir.join("run");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
    let local_cfg = config(&dir, "local", &format!("  kind: command\n  command: {}\n  workers: 2", example("")));
    let local = dir.join("local");
    run_ok(bin().args(["run"]).arg(&local_cfg).arg("--run-dir").arg(&local).arg("--quiet"));
    assert_eq!(accuracies(&run), accuracies(&local));
    assert_eq!(accuracies(&run).len(), 8 + 2 * 3);
    // one array per batch: the predictor's data, then each round's top-3;
    // the data's 8 as two arrays, as the cluster allows 6 (indices 0-5)
    assert_eq!(max_array_size(), 6);
    let subs = submissions(&run);
    assert_eq!(subs.len(), 4, "{subs:?}");
    assert!(subs[0].contains("6 tasks") && subs[0].contains("array 0-5%4"), "{subs:?}");
    assert!(subs[1].contains("2 tasks") && subs[1].contains("array 0-1%4"), "{subs:?}");
    assert!(subs[2].contains("3 tasks") && subs[3].contains("3 tasks"), "{subs:?}");
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
    let _cluster = cluster();
    let dir = temp_dir("slurm-reattach");
    let log = dir.join("evaluated.log");
    let cfg = config(&dir, "reattach", &slurm(&example(&format!("--sleep 4 --log {}", log.display())), ""));
    let run = dir.join("run");
    let mut child = bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet").spawn().unwrap();
    // killed while the first array runs: submitted, some tasks started
    wait_for("the first arrays", 120, || inflight_ids(&run).len() == 8 && log.exists());
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
    assert_eq!(subs.len(), 4, "{subs:?}");
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
    let _cluster = cluster();
    let dir = temp_dir("slurm-fail");
    let cfg = config(&dir, "fail", &slurm(&example("--fail-fraction 0.4 --fail-mode crash"), ""));
    let run = dir.join("run");
    run_with_failures(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
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
    let _cluster = cluster();
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

    // killed when the first resubmission is about to scancel the tasks it replaces: the ledger
    // still holds them (a job the cluster may run is never off it), and resume finishes the run
    let killed = dir.join("killed");
    killed_at("slurm-before-scancel", &cfg, &killed);
    assert!(!inflight_ids(&killed).is_empty(), "the tasks being replaced are in inflight.json");
    run_ok(bin().args(["resume"]).arg(&killed).arg("--quiet"));
    assert_eq!(all_ok_once(&killed), 5);
}

#[test]
fn an_sbatch_that_fails_after_queueing_its_array_loses_nothing_and_submits_nothing_twice() {
    let _cluster = cluster();
    let dir = temp_dir("slurm-sbatch-timeout");
    let log = dir.join("evaluated.log");
    let cfg = config(&dir, "sbatch-timeout", &slurm(&example(&format!("--log {}", log.display())), ""));
    let run = dir.join("run");
    // the controller queued the first array and sbatch still reported a failure (a timed-out answer)
    let out = bin()
        .args(["run"])
        .arg(&cfg)
        .arg("--run-dir")
        .arg(&run)
        .arg("--quiet")
        .env("NAS_SEARCH_FAILPOINT", "slurm-sbatch-fails-after-queueing")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("Socket timed out"), "{stderr}");
    assert!(stderr.contains("resume finds it by name"), "{stderr}");
    let inflight = fs::read_to_string(run.join("slurm/inflight.json")).unwrap();
    assert!(inflight.contains("\"job_id\": null"), "the batch's tasks kept, without a job id: {inflight}");
    // resume attaches to the array the cluster ran: every architecture evaluated once
    run_ok(bin().args(["resume"]).arg(&run).arg("--quiet"));
    assert_eq!(evaluated_once(&log), 8 + 2 * 3);
    assert_eq!(all_ok_once(&run), 8 + 2 * 3);
    let text = fs::read_to_string(run.join("slurm/submissions.log")).unwrap();
    let found = text.lines().find(|l| l.contains("its sbatch answer was lost")).unwrap_or_default();
    assert!(!found.is_empty() && !found.ends_with(": none"), "the lookup by name found the array: {text}");
}

#[test]
fn a_task_cancelled_by_hand_is_recorded_as_cancelled_and_the_run_goes_on() {
    let _cluster = cluster();
    let dir = temp_dir("slurm-cancel");
    let cfg = config(&dir, "cancel", &slurm(&example("--sleep 6"), ""));
    let run = dir.join("run");
    let child = bin()
        .args(["run"])
        .arg(&cfg)
        .arg("--run-dir")
        .arg(&run)
        .arg("--quiet")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the first array", 120, || inflight_ids(&run).len() == 8);
    let victim = inflight_ids(&run)[2].clone();
    let out = Command::new("scancel").arg(&victim).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = child.wait_with_output().unwrap();
    // it finished with a failed evaluation: status 3, and the last line says how to retry it
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().last().is_some_and(|l| l.contains("1 evaluations failed (1 data (round 0))")), "{stdout}");
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
    let _cluster = cluster();
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
    let _cluster = cluster();
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
    let _cluster = cluster();
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

/// The cluster's MaxArraySize.
fn max_array_size() -> usize {
    let out = Command::new("scontrol").args(["show", "config"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("MaxArraySize")?.trim_start_matches([' ', '=']).trim().parse().ok())
        .expect("MaxArraySize in scontrol show config")
}

/// The number of evaluations the example evaluator's `--log` holds, each
/// architecture once (fails naming the one evaluated twice).
fn evaluated_once(log: &Path) -> usize {
    let text = fs::read_to_string(log).unwrap_or_default();
    let mut keys: Vec<&str> = text.lines().collect();
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "an architecture was evaluated twice:\n{text}");
    n
}

/// `nas-search run` of `cfg` into `run`, killed (SIGKILL) at `failpoint`.
fn killed_at(failpoint: &str, cfg: &Path, run: &Path) {
    let out = bin()
        .args(["run"])
        .arg(cfg)
        .arg("--run-dir")
        .arg(run)
        .arg("--quiet")
        .env("NAS_SEARCH_FAILPOINT", failpoint)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains(&format!("failpoint {failpoint}")), "{stderr}");
}

/// `nas-search run` of `cfg` into `run`, in the background.
fn spawn_run(cfg: &Path, run: &Path) -> Child {
    bin()
        .args(["run"])
        .arg(cfg)
        .arg("--run-dir")
        .arg(run)
        .arg("--quiet")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a background run and fails with its stderr unless it succeeded.
fn finished(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "the run failed: {stderr}");
    stderr
}

/// The run's tasks in flight that squeue shows RUNNING.
fn running(run: &Path) -> Vec<String> {
    let ids = inflight_ids(run);
    let q = Command::new("squeue").args(["-h", "-r", "-o", "%i %T"]).output().unwrap();
    String::from_utf8_lossy(&q.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(id, state)| *state == "RUNNING" && ids.iter().any(|i| i == id))
        .map(|(id, _)| id.to_string())
        .collect()
}

/// Every evaluation of a run succeeded, each architecture recorded once; their number.
fn all_ok_once(run: &Path) -> usize {
    let evals = rows(&run.join("evaluations.csv"));
    assert!(evals.iter().all(|e| e["status"] == "ok"), "{evals:?}");
    let mut keys: Vec<_> = evals.iter().map(|e| (e["genotype"].clone(), e["budget"].clone())).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), evals.len(), "an architecture was recorded twice: {evals:?}");
    evals.len()
}

/// Restarts slurmctld when dropped (a failing test leaves the cluster up).
struct CtldDown;

impl CtldDown {
    fn stop() -> Self {
        let out = script("ctld-stop");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        CtldDown
    }
}

impl Drop for CtldDown {
    fn drop(&mut self) {
        let out = script("ctld-start");
        assert!(out.status.success(), "slurmctld did not start again: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn a_driver_killed_between_sbatch_and_saving_the_job_id_submits_nothing_twice_while_squeue_fails() {
    let _cluster = cluster_alone();
    let dir = temp_dir("slurm-lost-answer");
    let log = dir.join("evaluated.log");
    let cfg = config(&dir, "lost", &slurm(&example(&format!("--log {}", log.display())), "  stuck_warn_s: 10\n"));
    let run = dir.join("run");
    // the first array reached Slurm; its job id was never saved
    killed_at("slurm-after-sbatch", &cfg, &run);
    let inflight = fs::read_to_string(run.join("slurm/inflight.json")).unwrap();
    assert!(inflight_ids(&run).is_empty() && inflight.contains("\"job_id\": null"), "{inflight}");
    // squeue fails (slurmctld down, about 19 s per attempt) while the
    // resumed driver looks the batch up; slurmctld is back after 30 s
    let down = CtldDown::stop();
    let resume = bin()
        .args(["resume"])
        .arg(&run)
        .arg("--quiet")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(30));
    drop(down);
    let stderr = finished(resume);
    assert_eq!(evaluated_once(&log), 8 + 2 * 3);
    assert_eq!(all_ok_once(&run), 8 + 2 * 3);
    let text = fs::read_to_string(run.join("slurm/submissions.log")).unwrap();
    assert!(text.contains("squeue failed"), "{text}");
    let found = text.lines().find(|l| l.contains("its sbatch answer was lost")).unwrap_or_default();
    assert!(!found.ends_with(": none") && !found.is_empty(), "{text}");
    // the user heard of the failing squeue, in run.log and on the terminal
    let run_log = fs::read_to_string(run.join("run.log")).unwrap();
    assert!(run_log.contains("warning: Slurm: squeue has been failing"), "{run_log}");
    assert!(stderr.contains("squeue has been failing") && stderr.contains("scontrol ping"), "{stderr}");
}

#[test]
fn a_result_found_before_a_kill_is_recorded_once_on_resume_without_a_rerun() {
    let _cluster = cluster();
    let dir = temp_dir("slurm-record-kill");
    let log = dir.join("evaluated.log");
    let cfg = config(&dir, "record", &slurm(&example(&format!("--log {}", log.display())), ""));
    let run = dir.join("run");
    // killed with the first result.json read, before its row is written
    killed_at("slurm-before-record", &cfg, &run);
    assert!(!run.join("evaluations.csv").exists() || rows(&run.join("evaluations.csv")).is_empty());
    run_ok(bin().args(["resume"]).arg(&run).arg("--quiet"));
    assert_eq!(evaluated_once(&log), 8 + 2 * 3);
    assert_eq!(all_ok_once(&run), 8 + 2 * 3);
}

#[test]
fn a_task_requeued_on_the_cluster_is_run_once() {
    let _cluster = cluster();
    let dir = temp_dir("slurm-requeue");
    let log = dir.join("evaluated.log");
    let cfg = config(&dir, "requeue", &slurm(&example(&format!("--sleep 5 --log {}", log.display())), ""));
    let run = dir.join("run");
    let child = spawn_run(&cfg, &run);
    // requeued once their evaluations have started (a task requeued before
    // its command ran would not show a second run)
    let lines = || fs::read_to_string(&log).map_or(0, |t| t.lines().count());
    wait_for("started evaluations", 120, || lines() >= 2 && !running(&run).is_empty());
    let mut answers = Vec::new();
    for id in running(&run) {
        let out = Command::new("scontrol").args(["requeue", &id]).output().unwrap();
        answers.push(format!("{id}: {} {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    finished(child);
    assert_eq!(evaluated_once(&log), 8 + 2 * 3, "scontrol requeue said: {answers:?}");
    assert_eq!(all_ok_once(&run), 8 + 2 * 3);
}

#[test]
fn runs_with_the_same_folder_name_never_touch_each_others_jobs() {
    let _cluster = cluster();
    let dir = temp_dir("slurm-same-name");
    let (a, b) = (dir.join("A/seed-1"), dir.join("B/seed-1"));
    let (log_a, log_b) = (dir.join("a.log"), dir.join("b.log"));
    let cfg_a = config(&dir, "same-a", &slurm(&example(&format!("--log {}", log_a.display())), ""));
    let cfg_b = config(&dir, "same-b", &slurm(&example(&format!("--sleep 3 --log {}", log_b.display())), ""));
    // A dies with its first batch written, before sbatch: no job of A's exists
    killed_at("slurm-before-sbatch", &cfg_a, &a);
    // B (the same folder name) runs; A resumes while B's arrays are queued
    let child = spawn_run(&cfg_b, &b);
    wait_for("B's first arrays", 120, || inflight_ids(&b).len() == 8);
    run_ok(bin().args(["resume"]).arg(&a).arg("--quiet"));
    finished(child);
    assert_eq!((evaluated_once(&log_a), evaluated_once(&log_b)), (8 + 2 * 3, 8 + 2 * 3));
    assert_eq!((all_ok_once(&a), all_ok_once(&b)), (8 + 2 * 3, 8 + 2 * 3));
    let jobs = |r: &Path| -> Vec<String> {
        submissions(r).iter().filter_map(|s| Some(s.split(": job ").nth(1)?.split(',').next()?.to_string())).collect()
    };
    let (ja, jb) = (jobs(&a), jobs(&b));
    assert!(ja.iter().all(|j| !jb.contains(j)), "A {ja:?} and B {jb:?} share a job");
    let text = fs::read_to_string(a.join("slurm/submissions.log")).unwrap();
    assert!(text.lines().any(|l| l.contains("its sbatch answer was lost") && l.ends_with(": none")), "{text}");
}

#[test]
fn a_result_that_appears_late_is_collected() {
    let _cluster = cluster();
    let dir = temp_dir("slurm-late");
    // each task's command leaves a folder where its wrapper writes result.json:
    // the wrapper's file lands inside it, and result.json reads as an error
    let command = format!("{} && mkdir \"$(dirname \"$0\")/result.json\"", example(""));
    let text = fs::read_to_string(config(&dir, "late", &slurm(&command, "  result_grace_s: 60\n")))
        .unwrap()
        .replace("train_archs: 8", "train_archs: 4")
        .replace("rounds: 2", "rounds: 1")
        .replace("top_k: 3", "top_k: 1");
    let cfg = write(&dir, "late.yaml", &text);
    let run = dir.join("run");
    let mut child = spawn_run(&cfg, &run);
    // each result: unreadable for 3 s, then missing for 3 s (squeue says
    // COMPLETED all along), then there
    let mut seen: HashMap<PathBuf, Instant> = HashMap::new();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(300), "the run did not finish");
        for task in
            fs::read_dir(run.join("slurm")).into_iter().flatten().flatten().flat_map(|b| {
                fs::read_dir(b.path()).into_iter().flatten().flatten().map(|t| t.path()).collect::<Vec<_>>()
            })
        {
            if task.join("result.json/result.json.tmp").exists() {
                seen.entry(task).or_insert_with(Instant::now);
            }
        }
        for (task, since) in &seen {
            let (inner, aside, result) =
                (task.join("result.json/result.json.tmp"), task.join("late.json"), task.join("result.json"));
            if since.elapsed() > Duration::from_secs(3) && inner.exists() {
                fs::rename(&inner, &aside).unwrap();
                fs::remove_dir(&result).unwrap();
            }
            if since.elapsed() > Duration::from_secs(6) && aside.exists() {
                fs::rename(&aside, &result).unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    finished(child);
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert_eq!(all_ok_once(&run), 5);
    let log = fs::read_to_string(run.join("slurm/submissions.log")).unwrap();
    assert!(log.contains("has an unreadable result.json") && log.contains("looking again for up to 60 s"), "{log}");
}

/// Resumes a suspended task when dropped (a failing test leaves no task held).
struct Resumed(String);

impl Drop for Resumed {
    fn drop(&mut self) {
        let out = Command::new("scontrol").args(["resume", &self.0]).output().unwrap();
        assert!(out.status.success(), "scontrol resume {}: {}", self.0, String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn a_task_held_on_the_cluster_is_reported_and_waited_for() {
    let _cluster = cluster();
    let dir = temp_dir("slurm-held");
    let log = dir.join("evaluated.log");
    let cfg =
        config(&dir, "held", &slurm(&example(&format!("--sleep 6 --log {}", log.display())), "  stuck_warn_s: 2\n"));
    let run = dir.join("run");
    let child = spawn_run(&cfg, &run);
    let mut victim = None;
    wait_for("a task to suspend", 120, || {
        victim = running(&run)
            .into_iter()
            .find(|id| Command::new("scontrol").args(["suspend", id]).output().unwrap().status.success());
        victim.is_some()
    });
    let victim = victim.unwrap();
    let _resumed = Resumed(victim.clone());
    wait_for("the warning in run.log", 60, || {
        fs::read_to_string(run.join("run.log")).unwrap_or_default().contains(&format!("{victim} (SUSPENDED)"))
    });
    drop(_resumed);
    let stderr = finished(child);
    assert!(
        stderr.contains(&format!("{victim} (SUSPENDED)")) && stderr.contains(&format!("scontrol show job {victim}")),
        "{stderr}"
    );
    assert_eq!(evaluated_once(&log), 8 + 2 * 3);
    assert_eq!(all_ok_once(&run), 8 + 2 * 3);
}
