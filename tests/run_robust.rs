//! Runs that forgive mistakes: stop early on systematic failure and retry
//! the failed evaluations, run directories that resume after a move, one
//! process per run directory, clear refusals, Ctrl-C, the `best` and
//! `predict` commands, pruned predictor checkpoints.

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn nb201_space() -> String {
    repo().join("search_spaces/nb201.yaml").display().to_string()
}

/// The example evaluator with the table's CIFAR-10 test accuracies.
fn example(extra: &str) -> String {
    format!(
        "  kind: command\n  command: python3 {} --json {{json}} --nb201-csv {} {extra}\n  retries: 0\n  workers: 2",
        repo().join("scripts/example_evaluator.py").display(),
        nb201_csv().display()
    )
}

#[test]
fn a_systematic_failure_stops_the_run_and_retry_failed_completes_it() {
    let dir = temp_dir("robust-retry");
    let cfg = small_run(&dir, &nb201_space(), &example("--needs-env NAS_TEST_READY"));
    let run = dir.join("run");
    let err =
        run_err(bin().env_remove("NAS_TEST_READY").args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
    assert!(err.contains("stopped after this run's first 3 evaluations failed") && err.contains("all with"), "{err}");
    assert!(err.contains("KeyError: 'NAS_TEST_READY'"), "the common error is shown: {err}");
    assert!(err.contains(&format!("resume {} --retry-failed --config {}", run.display(), cfg.display())), "{err}");
    let rows = csv_rows(&run.join("evaluations.csv"));
    // the third failure stops it: only evaluations already running (or
    // finished but not yet recorded) are recorded after it, far from all 12
    assert!((3..12).contains(&rows.len()) && rows.iter().all(|r| r["status"] == "failed"), "{rows:?}");

    // a plain resume leaves the failures as they are, and fails the same way
    // (new evaluations fail too: they count from zero in each process)
    let err = run_err(bin().env_remove("NAS_TEST_READY").args(["resume"]).arg(&run).arg("--quiet"));
    assert!(err.contains("--retry-failed"), "{err}");

    // fixed: --retry-failed evaluates the failed ones again and the run ends
    run_ok(bin().env("NAS_TEST_READY", "1").args(["resume"]).arg(&run).args(["--retry-failed", "--quiet"]));
    let rows = csv_rows(&run.join("evaluations.csv"));
    let summary = &csv_rows(&run.join("summary.csv"))[0];
    assert_eq!((summary["archs_trained"].as_str(), summary["failed"].as_str()), ("18", "0"), "{summary:?}");
    assert_eq!(summary["attempts"].parse::<usize>().unwrap(), rows.len());
    // every failed attempt is kept, and its architecture has a later successful one
    for f in rows.iter().filter(|r| r["status"] == "failed") {
        let later =
            rows.iter().find(|r| r["arch_key"] == f["arch_key"] && r["phase"] == f["phase"] && r["status"] == "ok");
        let later = later.unwrap_or_else(|| panic!("{} was not evaluated again", f["arch_key"]));
        assert!(later["attempt"].parse::<usize>().unwrap() > f["attempt"].parse::<usize>().unwrap());
    }
}

#[test]
fn final_repeats_are_each_recorded_once_and_a_run_killed_mid_repeat_resumes_them_exactly() {
    let dir = temp_dir("robust-repeats");
    // the example evaluator's accuracy moves with the training seed: trainings of one architecture differ
    let cfg = small_run(&dir, &nb201_space(), &example("--sleep 0.05 --seed-noise 1"));
    let reference = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|";
    let text = fs::read_to_string(&cfg).unwrap()
        + &format!("  final_repeats: 3\n  reference: {{ name: ResNet-like, genotype: '{reference}' }}\n");
    fs::write(&cfg, text).unwrap();
    let whole = dir.join("whole");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&whole).arg("--quiet"));

    let run = dir.join("run");
    let mut child = bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet").spawn().unwrap();
    let start = Instant::now();
    let finals = |d: &Path| {
        fs::read_to_string(d.join("evaluations.csv")).map(|t| t.lines().filter(|l| l.starts_with("final,")).count())
    };
    // killed among round 0's trainings: some of an architecture's repeats in, others not
    while finals(&run).unwrap_or(0) < 2 {
        assert!(child.try_wait().unwrap().is_none() && start.elapsed() < Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(finals(&run).unwrap() < 9, "killed before round 0's 9 trainings were all in");
    run_ok(bin().args(["resume"]).arg(&run).arg("--quiet"));

    type Slot = (String, String, String, String, String);
    let slots = |d: &Path| -> Vec<Slot> {
        let mut v: Vec<Slot> = csv_rows(&d.join("evaluations.csv"))
            .into_iter()
            .map(|r| {
                assert_eq!(r["status"], "ok", "{r:?}");
                (
                    r["phase"].clone(),
                    r["round"].clone(),
                    r["arch_key"].clone(),
                    r["repeat"].clone(),
                    r["accuracy"].clone(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let (resumed, uninterrupted) = (slots(&run), slots(&whole));
    assert_eq!(resumed, uninterrupted, "the resumed run trained what the uninterrupted one did, with the same results");
    // every training once: no repeat recorded twice
    let mut seen = std::collections::HashSet::new();
    for s in &resumed {
        assert!(seen.insert((&s.0, &s.1, &s.2, &s.3)), "{s:?} recorded twice");
    }
    let count = |phase: &str| resumed.iter().filter(|s| s.0 == phase).count();
    // data: 12 trainings, and 2 more of each data architecture that was the best when the search ended
    let confirmed = resumed.iter().filter(|s| s.0 == "data" && s.3 != "1").count();
    assert_eq!((count("data") - confirmed, count("final"), count("reference")), (12, 2 * 3 * 3, 3));
    assert_eq!(confirmed % 2, 0, "{resumed:?}");
    // each final architecture's trainings are repeats 1..3 with their own seeds (not all the same accuracy)
    let mut by_arch: HashMap<(&str, &str), Vec<f64>> = HashMap::new();
    for s in resumed.iter().filter(|s| s.0 != "data") {
        by_arch.entry((&s.1, &s.2)).or_default().push(s.4.parse().unwrap());
    }
    assert!(by_arch.values().all(|v| v.len() == 3), "{by_arch:?}");
    assert!(by_arch.values().any(|v| v.iter().any(|a| *a != v[0])), "trainings differ: {by_arch:?}");
    // the summary's top-1 is the best architecture's mean over its trainings, with its spread
    let summary = &csv_rows(&run.join("summary.csv"))[0];
    let rows = csv_rows(&run.join("evaluations.csv"));
    let of_best: Vec<f64> = rows
        .iter()
        .filter(|r| r["genotype"] == summary["best_genotype"] && r["phase"] != "reference")
        .map(|r| r["accuracy"].parse().unwrap())
        .collect();
    let mean = of_best.iter().sum::<f64>() / of_best.len() as f64;
    assert!((summary["top1"].parse::<f64>().unwrap() - mean).abs() < 1e-9, "{summary:?} {of_best:?}");
    // whatever phase it came from, the best stands on 3 trainings (a data architecture is trained again)
    assert_eq!((summary["top1_trainings"].as_str(), of_best.len()), ("3", 3), "{summary:?}");
    let md = fs::read_to_string(run.join("summary.md")).unwrap();
    assert!(md.contains(&format!("Against ResNet-like (`{reference}`)")), "{md}");
}

#[test]
fn a_moved_run_directory_resumes_without_its_config() {
    let dir = temp_dir("robust-move");
    let project = dir.join("project");
    fs::create_dir_all(&project).unwrap();
    // the config names its space relatively; both files go away after the kill
    fs::copy(repo().join("search_spaces/nb201.yaml"), project.join("nb201.yaml")).unwrap();
    let cfg = small_run(&project, "nb201.yaml", &example("--sleep 0.05"));
    let whole = dir.join("whole");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&whole).arg("--quiet"));

    let run = project.join("run");
    let mut child = bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet").spawn().unwrap();
    let start = Instant::now();
    while fs::read_to_string(run.join("evaluations.csv")).map(|t| t.lines().count()).unwrap_or(0) < 6 {
        assert!(child.try_wait().unwrap().is_none() && start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let moved = dir.join("elsewhere/run");
    fs::create_dir_all(moved.parent().unwrap()).unwrap();
    fs::rename(&run, &moved).unwrap();
    fs::remove_file(&cfg).unwrap();
    fs::remove_file(project.join("nb201.yaml")).unwrap();
    run_ok(bin().args(["resume"]).arg(&moved).arg("--quiet"));
    let measured = |d: &Path| {
        let mut v: Vec<(String, String, String)> = csv_rows(&d.join("evaluations.csv"))
            .into_iter()
            .map(|r| (r["phase"].clone(), r["arch_key"].clone(), r["accuracy"].clone()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(measured(&moved), measured(&whole));
    let cfg_text = fs::read_to_string(moved.join("config.yaml")).unwrap();
    assert!(
        cfg_text.contains("space: nb201") || cfg_text.contains("space:\n  space: nb201"),
        "the space is inside: {cfg_text}"
    );
}

#[test]
fn a_second_process_is_refused_while_the_first_holds_the_run() {
    let dir = temp_dir("robust-lock");
    let cfg = small_run(&dir, &nb201_space(), &example("--sleep 0.3"));
    let run = dir.join("run");
    let mut first = bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet").spawn().unwrap();
    let start = Instant::now();
    while !run.join("checkpoint.json").exists() {
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
    }
    let err = run_err(bin().args(["resume"]).arg(&run).arg("--quiet"));
    assert!(
        err.contains("in use by another nas-search process") && err.contains(&format!("pid {}", first.id())),
        "{err}"
    );
    first.kill().unwrap(); // SIGKILL: the OS releases the lock
    first.wait().unwrap();
    run_ok(bin().args(["resume"]).arg(&run).arg("--quiet"));
}

#[test]
fn mistakes_get_refusals_that_name_what_is_wrong() {
    let dir = temp_dir("robust-refusals");
    let cfg = small_run(&dir, &nb201_space(), "  kind: tabular");
    let err = run_err(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(dir.join("nowhere")).arg("--resume"));
    assert!(err.contains("does not exist") && err.contains("leave out --resume"), "{err}");
    let err = run_err(bin().args(["resume"]).arg(repo().join("README.md")));
    assert!(err.contains("README.md is not a run directory"), "{err}");
    let err =
        run_err(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(dir.join("r1")).args(["--set", "search.topk=5"]));
    assert!(err.starts_with("error: --set search.topk=5: key `search.topk`: unknown field"), "{err}");
    let text = fs::read_to_string(&cfg).unwrap();
    let label = write(&dir, "label.yaml", &text.replace("  kind: tabular", "  kind: tabular\n  label: cifar-10"));
    let err = run_err(bin().args(["run"]).arg(&label).arg("--run-dir").arg(dir.join("r2")));
    assert!(err.contains("label.yaml: key `evaluator.label`: unknown variant `cifar-10`"), "{err}");
    let zero = write(&dir, "zero.yaml", &text.replace("epochs: 6", "epochs: 0"));
    let err = run_err(bin().args(["run"]).arg(&zero).arg("--run-dir").arg(dir.join("r3")));
    assert!(err.contains("predictor.train.epochs must be positive") && !err.contains("batch_size"), "{err}");
    let err = run_err(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(dir.join("r4")).arg("--retry-failed"));
    assert!(err.contains("--retry-failed") && err.contains("--resume"), "{err}");
}

#[test]
fn ctrl_c_kills_the_evaluations_and_says_how_to_continue() {
    let dir = temp_dir("robust-ctrlc");
    let log = dir.join("evaluated.log");
    let cfg = small_run(&dir, &nb201_space(), &example(&format!("--sleep 30 --log {}", log.display())));
    let run = dir.join("run");
    let child = bin()
        .args(["run"])
        .arg(&cfg)
        .arg("--run-dir")
        .arg(&run)
        .arg("--quiet")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while fs::read_to_string(&log).map(|t| t.lines().count()).unwrap_or(0) < 2 {
        assert!(start.elapsed() < Duration::from_secs(60), "the evaluations never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains(&format!(
            "interrupted; continue with: {} resume {}",
            env!("CARGO_BIN_EXE_nas-search"),
            run.display()
        )),
        "{err}"
    );
    assert!(!run.join("lock").exists(), "Ctrl-C releases the run's lock file");
    // the sleeping evaluators were killed with it (a killed process can take
    // a moment to leave the process table on a loaded machine)
    let running = || {
        let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
        String::from_utf8_lossy(&ps.stdout).lines().filter(|l| l.contains(&log.display().to_string())).count()
    };
    let start = Instant::now();
    while running() > 0 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(running(), 0, "evaluation commands left running");
}

#[test]
fn numbers_that_would_panic_are_refused_at_load_naming_the_key() {
    let dir = temp_dir("robust-numbers");
    // (small_run() writes small.yaml each time: each is copied before the next)
    let command =
        write(&dir, "command.yaml", &fs::read_to_string(small_run(&dir, &nb201_space(), &example(""))).unwrap());
    let tabular =
        write(&dir, "tabular.yaml", &fs::read_to_string(small_run(&dir, &nb201_space(), "  kind: tabular")).unwrap());
    let slurm = write(
        &dir,
        "slurm.yaml",
        &fs::read_to_string(&tabular).unwrap().replace("  kind: tabular", "  kind: slurm\n  command: echo"),
    );
    let baseline = ["--set", "strategy=regularized-evolution", "--set", "search.queries=20"];
    let cases: Vec<(&PathBuf, Vec<&str>, &str)> = vec![
        (&tabular, [&baseline[..], &["--set", "search.regularized.population=0"]].concat(), "search.regularized"),
        (&tabular, [&baseline[..], &["--set", "search.regularized.sample_size=30"]].concat(), "sample_size"),
        (&command, vec!["--set", "evaluator.timeout_s=.inf"], "key `evaluator.timeout_s`: inf is not a finite number"),
        (&command, vec!["--set", "evaluator.timeout_s=1e300"], "evaluator.timeout_s must be a number of seconds"),
        (&command, vec!["--set", "evaluator.backoff_s=1e300"], "evaluator.backoff_s must be a number of seconds"),
        (&command, vec!["--set", "evaluator.backoff_s=.nan"], "key `evaluator.backoff_s`: NaN is not a finite number"),
        (&slurm, vec!["--set", "evaluator.poll_s=1e300"], "evaluator.poll_s must be a number of seconds"),
        (
            &tabular,
            vec!["--set", "constraints.params.min=5", "--set", "constraints.params.max=1"],
            "min (5) is above max",
        ),
        (&tabular, vec!["--set", "predictor.train.weight_decay=-1"], "predictor.train.weight_decay must be >= 0"),
    ];
    for (i, (cfg, sets, expect)) in cases.iter().enumerate() {
        let run = dir.join(format!("r{i}"));
        let err = run_err(bin().args(["run"]).arg(cfg).arg("--run-dir").arg(&run).args(sets));
        assert!(err.contains(expect) && !err.contains("panicked"), "{sets:?}: {err}");
    }

    // a NaN accuracy in a run's evaluations.csv (damaged, or edited by hand): a named error, no panic
    let run = dir.join("run");
    run_ok(bin().args(["run"]).arg(&tabular).arg("--run-dir").arg(&run).arg("--quiet"));
    let path = run.join("evaluations.csv");
    let text = fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let col = header.iter().position(|c| *c == "accuracy").unwrap();
    let mut fields: Vec<String> = lines[3].split(',').map(String::from).collect();
    fields[col] = "NaN".into();
    lines[3] = fields.join(",");
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    fs::remove_file(run.join("summary.csv")).unwrap();
    for cmd in [vec!["best"], vec!["resume"]] {
        let err = run_err(bin().args(&cmd).arg(&run));
        assert!(
            err.contains("evaluations.csv: row 4: column accuracy: NaN") && !err.contains("panicked"),
            "{cmd:?}: {err}"
        );
    }
}

#[test]
fn best_and_predict_read_a_finished_run_and_a_training() {
    let dir = temp_dir("robust-best");
    let cfg = small_run(&dir, &nb201_space(), "  kind: tabular");
    let run = dir.join("run");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
    // pruned: a finished round keeps its best weights, not its resume checkpoints
    for round in 0..2 {
        let p = run.join(format!("predictor/round-{round}"));
        assert!(p.join("best.json").exists() && !p.join("checkpoint").exists(), "round {round}");
    }
    let log = fs::read_to_string(run.join("run.log")).unwrap();
    assert!(
        log.lines().all(|l| l.len() > 21 && l.as_bytes()[4] == b'-' && &l[19..21] == "Z "),
        "UTC timestamps: {log}"
    );

    let out = run_ok(bin().args(["best"]).arg(&run).args(["--format", "json"]));
    let best: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let summary = &csv_rows(&run.join("summary.csv"))[0];
    assert_eq!(best["genotype"], summary["best_genotype"].as_str());
    let genotype = best["genotype"].as_str().unwrap();
    let out = run_ok(bin().args(["space", "cost", &nb201_space(), genotype, "--json"]));
    let cost: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cost["params"], best["params"], "best's genotype parses back with its cost");
    let err = run_err(bin().args(["best"]).arg(&run).args(["--format", "darts"]));
    assert!(err.contains("--format darts is for darts runs") && err.contains("nb201"), "{err}");

    // predict with the run's last predictor: one line per genotype
    let out = run_ok(bin().args(["predict"]).arg(&run).arg(genotype));
    let line = String::from_utf8_lossy(&out.stdout);
    let (score, g) = line.trim().split_once('\t').unwrap();
    assert_eq!(g, genotype);
    assert!((0.0..=100.0).contains(&score.parse::<f64>().unwrap()), "{line}");
    let err = run_err(bin().args(["predict"]).arg(&run).arg("|conv_9x9~0|"));
    assert!(err.contains("genotype 1"), "{err}");

    // a predictor training: predict over all cells gives the training's own tau_all
    let tiny = write(&dir, "tiny.yaml", TINY_CONFIG);
    let out_dir = dir.join("trained");
    run_ok(bin().args(["predictor", "train"]).arg(&tiny).arg("--out").arg(&out_dir).arg("--quiet"));
    let text = nas_search::data::nb201::embedded_csv();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let (mut cells, mut labels) = (Vec::new(), Vec::new());
    for rec in r.deserialize::<HashMap<String, String>>() {
        let rec = rec.unwrap();
        cells.push(rec["ArchitectureString"].clone());
        // as the training holds its labels: fractions in f32
        labels.push((rec["CIFAR10TestAccuracy200Epochs"].parse::<f64>().unwrap() / 100.0) as f32 as f64);
    }
    let list = write(&dir, "cells.txt", &cells.join("\n"));
    let out = run_ok(bin().args(["predict"]).arg(&out_dir).arg("--file").arg(&list));
    let scores: Vec<f64> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('\t').next().unwrap().parse().unwrap()).collect();
    assert_eq!(scores.len(), 15_625);
    let tau = nas_search::predictor::metrics::kendall_tau(&scores, &labels);
    let metrics = &csv_rows(&out_dir.join("test_metrics.csv"))[0];
    let expected: f64 = metrics["tau_all"].parse().unwrap();
    assert!((tau - expected).abs() < 1e-6, "predict gives tau {tau}, the training measured {expected}");
}

/// The NAS-Bench-201 experiment with the built-in table as a baseline run, in `dir`.
fn nb201_baseline(strategy: &str, queries: usize, dir: &Path, extra: &[&str]) -> std::process::Command {
    let mut cmd = bin();
    let config = repo().join("experiments/nb201.yaml");
    cmd.arg("run").arg(config).arg("--run-dir").arg(dir).arg("--quiet");
    cmd.args(["--set", &format!("strategy={strategy}"), "--set", &format!("search.queries={queries}")]);
    for e in extra {
        cmd.args(["--set", e]);
    }
    cmd
}

#[test]
fn a_baselines_checkpoint_stays_the_same_size_however_many_evaluations_it_made() {
    // the driver rewrites the checkpoint after every wave: what it holds must not grow with the
    // run (the order of proposals is appended to proposals.csv instead)
    let d = temp_dir("flat-checkpoint");
    let size = |n: usize| {
        let run = d.join(format!("r{n}"));
        run_ok(&mut nb201_baseline("regularized-evolution", n, &run, &[]));
        let proposals = std::fs::read_to_string(run.join("proposals.csv")).unwrap();
        assert_eq!(proposals.lines().count(), n + 1, "one row per proposal, and the header");
        std::fs::metadata(run.join("checkpoint.json")).unwrap().len()
    };
    let (small, large) = (size(40), size(400));
    assert_eq!(small, large, "checkpoint of a 40-evaluation run {small} bytes, of a 400-evaluation one {large}");
}

#[test]
fn random_search_ends_with_the_space_exhausted_and_refuses_more_queries_than_the_space_has() {
    use nas_search::space::SearchSpace;
    let d = temp_dir("exhausted");
    // more than the 6,466 distinct cells: refused before anything is created, naming the key and the size
    let err = run_err(&mut nb201_baseline("random-search", 7000, &d.join("more"), &[]));
    assert!(err.contains("search.queries") && err.contains("7000") && err.contains("6466"), "{err}");
    assert!(!d.join("more").exists(), "a refused run leaves nothing behind");
    // under a params bound only the cells without a convolution are left: fewer than asked for
    let cfg = nas_search::space::SpaceConfig::load(&repo().join("search_spaces/nb201.yaml")).unwrap();
    let nas_search::space::SpaceConfig::Nb201(c) = cfg else { panic!("the NB201 space file") };
    let space = nas_search::space::nb201::Nb201Space::new(c).unwrap();
    let all = space.all().unwrap();
    let bound = all.iter().map(|g| space.cost(g).params).min().unwrap();
    let left: std::collections::HashSet<String> =
        all.iter().filter(|g| space.cost(g).params <= bound).map(|g| space.key(g)).collect();
    assert!(left.len() > 20 && left.len() < 1000, "{} cells at the smallest params", left.len());
    let run = d.join("bounded");
    run_ok(&mut nb201_baseline("random-search", 1000, &run, &[&format!("constraints.params.max={bound}")]));
    let evaluated: std::collections::HashSet<String> =
        csv_rows(&run.join("evaluations.csv")).into_iter().map(|r| r["arch_key"].clone()).collect();
    assert_eq!(evaluated, left, "every cell within the bound evaluated, once");
    let log = std::fs::read_to_string(run.join("run.log")).unwrap();
    let summary = std::fs::read_to_string(run.join("summary.md")).unwrap();
    for text in [&log, &summary] {
        assert!(text.contains(&format!("the space is exhausted: its {} distinct architectures", left.len())), "{text}");
    }
}
