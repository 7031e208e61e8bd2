//! What a new user trips over, end to end through the binary: resuming
//! after fixing the evaluator in their own config, the hints naming the
//! binary as it was started, a quoted placeholder, the command line on
//! record, progress in a log file, a closed pipe, refused runs that leave
//! nothing behind.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

/// A small NAS-Bench-201 run with the example evaluator run as `command`.
fn config(dir: &Path, name: &str, command: &str) -> PathBuf {
    let text = format!(
        "name: field
seed: 4
space: {space}
evaluator:
  kind: command
  command: {command}
  retries: 0
  workers: 2
predictor:
  train_archs: 8
  val_fraction: 0
  model:
    kind: nar-former
    tokenizer: {{ lx: 4, lp: 4, lr: 4 }}
    transformer: {{ depths: [1, 1, 1, 1], heads: 2, d_ff: 32 }}
  train: {{ epochs: 4, batch_size: 8, lr: 0.002 }}
search:
  evolution: {{ population: 20, generations: 4 }}
  top_k: 2
  rounds: 1
",
        space = repo().join("search_spaces/nb201.yaml").display()
    );
    write(dir, name, &text)
}

/// The example evaluator's command line with `extra` arguments (a YAML string).
fn example(extra: &str) -> String {
    let line = format!(
        "python3 {} --json {{json}} --nb201-csv {} {extra}",
        repo().join("scripts/example_evaluator.py").display(),
        nb201_csv().display()
    );
    serde_json::to_string(&line).unwrap()
}

/// The line after "continue with:" in an error.
fn next_command(err: &str) -> String {
    let at = err.find("continue with:").unwrap_or_else(|| panic!("no command to continue with: {err}"));
    err[at..].lines().nth(1).unwrap_or_default().trim().to_string()
}

#[test]
fn after_a_failure_the_printed_command_continues_with_the_fixed_config() {
    let dir = temp_dir("field-fix");
    let cfg = config(&dir, "mine.yaml", &example("--needs-env NAS_FIELD_NEVER_SET"));
    let run = dir.join("run");
    let err = run_err(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run));
    assert!(err.contains("stopped after this run's first 3 evaluations failed"), "{err}");
    assert!(err.contains("The first command line that ran: python3"), "the failure shows the command that ran: {err}");
    let next = next_command(&err);
    let expected = format!("resume {} --retry-failed --config {}", run.display(), cfg.display());
    assert!(next.starts_with(env!("CARGO_BIN_EXE_nas-search")) && next.ends_with(&expected), "{next}");
    // the evaluations on record carry the command line that ran
    let rows = csv_rows(&run.join("evaluations.csv"));
    assert!(rows.iter().all(|r| r["extra"].contains("NAS_FIELD_NEVER_SET")), "{rows:?}");

    // a fix that changes what is measured is refused, naming the key
    let text = fs::read_to_string(&cfg).unwrap();
    fs::write(&cfg, text.replace("seed: 4", "seed: 5").replace(" --needs-env NAS_FIELD_NEVER_SET", "")).unwrap();
    let out = Command::new("sh").arg("-c").arg(&next).env_remove("CARGO").output().unwrap();
    let refusal = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && refusal.contains("change what is measured") && refusal.contains("seed"),
        "{refusal}"
    );

    // the user fixes the evaluator in their own file and runs the printed command as it is
    fs::write(&cfg, text.replace(" --needs-env NAS_FIELD_NEVER_SET", "")).unwrap();
    let out = Command::new("sh").arg("-c").arg(&next).env_remove("CARGO").output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(!said.contains("already finished") && said.contains(" data (round 0); evaluated again now"), "{said}");
    let summary = &csv_rows(&run.join("summary.csv"))[0];
    assert_eq!((summary["archs_trained"].as_str(), summary["failed"].as_str()), ("10", "0"), "{summary:?}");
    let log = fs::read_to_string(run.join("run.log")).unwrap();
    assert!(log.contains("config changed on resume: evaluator.command"), "{log}");
}

#[test]
fn hints_name_the_binary_the_way_it_was_started() {
    let dir = temp_dir("field-hints");
    let cfg = config(&dir, "mine.yaml", &example("--needs-env NAS_FIELD_NEVER_SET"));
    let run = dir.join("run");
    // as `cargo run --release -- ...` starts it (cargo sets CARGO and the package's name)
    let err = run_err(
        bin()
            .env("CARGO", "cargo")
            .env("CARGO_PKG_NAME", "nas-search")
            .args(["run"])
            .arg(&cfg)
            .arg("--run-dir")
            .arg(&run)
            .arg("--quiet"),
    );
    assert!(next_command(&err).starts_with("cargo run --release -- resume "), "{err}");
}

#[test]
fn a_quoted_placeholder_reaches_the_program_as_its_value() {
    let dir = temp_dir("field-quotes");
    for (i, quoted) in
        [r#"--genotype "{genotype}""#, "--genotype '{genotype}'", "--genotype {genotype}"].iter().enumerate()
    {
        let cfg = config(&dir, &format!("q{i}.yaml"), &example(quoted));
        let run = dir.join(format!("run{i}"));
        run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
        let rows = csv_rows(&run.join("evaluations.csv"));
        assert!(rows.len() == 10 && rows.iter().all(|r| r["status"] == "ok"), "{quoted}: {rows:?}");
    }
}

#[test]
fn a_run_logged_to_a_file_says_what_it_evaluates() {
    let dir = temp_dir("field-log");
    let cfg = config(&dir, "mine.yaml", &example(""));
    let run = dir.join("run");
    // stderr is a pipe here, as under nohup or Slurm: no bar, plain lines
    let out = run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run));
    let err = String::from_utf8_lossy(&out.stderr);
    let rows = csv_rows(&run.join("evaluations.csv"));
    for r in &rows {
        assert!(
            err.contains(&format!("{} ({}, round 0", r["genotype"], r["phase"])),
            "{} not on stderr:\n{err}",
            r["genotype"]
        );
    }
    assert!(err.contains("search: 4/4") && err.contains("predictor: 4/4"), "{err}");
    let log = fs::read_to_string(run.join("run.log")).unwrap();
    assert_eq!(log.matches(" evaluated ").count(), rows.len(), "{log}");
    // one count of architectures scored: the log's and the summary's
    let summary = &csv_rows(&run.join("summary.csv"))[0];
    assert!(log.contains(&format!("the search scored {} architectures", summary["archs_scored"])), "{log}");
    assert!(log.contains(&format!("(this process {} in", summary["archs_scored"])), "{log}");
    let md = fs::read_to_string(run.join("summary.md")).unwrap();
    assert!(md.contains("search cost (days; wall)") && md.contains("The best architecture came from"), "{md}");
}

#[test]
fn best_prints_the_genotype_alone_and_a_closed_pipe_ends_it_quietly() {
    let dir = temp_dir("field-pipe");
    let cfg = config(&dir, "mine.yaml", &example(""));
    let run = dir.join("run");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
    let out = run_ok(bin().args(["best"]).arg(&run));
    let summary = &csv_rows(&run.join("summary.csv"))[0];
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{}\n", summary["best_genotype"]));
    let detail = String::from_utf8_lossy(&out.stderr);
    assert!(detail.contains("the space's standard network") && detail.contains("from "), "{detail}");
    // the reader goes away before anything is written: no panic, no backtrace
    for args in [
        vec!["best".to_string(), run.display().to_string()],
        vec!["data".into(), "nb201".into(), "--out".into(), "/dev/stdout".into()],
    ] {
        let mut child = bin().args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{args:?}: {err}");
    }
}

#[test]
fn refused_runs_leave_nothing_and_finished_runs_release_their_lock() {
    let dir = temp_dir("field-lock");
    let cfg = config(&dir, "mine.yaml", &example(""));
    for (i, args) in [vec!["--set", "search.topk=5"], vec!["--set", "evaluator.timeout_s=-1"]].iter().enumerate() {
        let run = dir.join(format!("refused{i}"));
        run_err(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).args(args));
        assert!(!run.exists(), "{args:?} left {}", run.display());
    }
    let missing = dir.join("refused-missing");
    run_err(bin().args(["run"]).arg(dir.join("no-such.yaml")).arg("--run-dir").arg(&missing));
    assert!(!missing.exists());
    let run = dir.join("run");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
    assert!(!run.join("lock").exists(), "a finished run keeps no lock");
    run_ok(bin().args(["resume"]).arg(&run).arg("--quiet"));
}

#[test]
fn too_few_held_out_architectures_do_not_choose_the_weights() {
    let dir = temp_dir("field-val");
    let cfg = config(&dir, "mine.yaml", &example(""));
    let run = dir.join("run");
    // 8 architectures, 20% held out: 2, whose tau is +1 or -1
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).args([
        "--quiet",
        "--set",
        "predictor.val_fraction=0.2",
    ]));
    let log = fs::read_to_string(run.join("run.log")).unwrap();
    assert!(log.contains("2 held-out architectures are too few for a validation tau"), "{log}");
    assert!(log.contains("training the predictor on 8 architectures (0 held out)"), "{log}");
    assert!(log.contains("best training tau"), "{log}");
}

/// DARTS V2's genotype (the DARTS paper's cell).
const DARTS_V2: &str = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

#[test]
fn mistakes_get_messages_in_the_users_terms() {
    let dir = temp_dir("field-messages");
    let darts = repo().join("search_spaces/darts.yaml");
    // a misspelt key is pointed at, not the space before it
    let typo = DARTS_V2.replace("normal_concat", "normal_concatt");
    let err = run_err(bin().args(["space", "cost"]).arg(&darts).arg(&typo));
    let at = typo.find("normal_concatt").unwrap();
    assert!(err.contains(&format!("at position {at}")) && err.contains("found 'normal_concatt'"), "{err}");
    // DARTS nodes are numbered as the cell diagram numbers them
    let bad = DARTS_V2.replacen("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)", 1);
    let err = run_err(bin().args(["space", "cost"]).arg(&darts).arg(&bad));
    assert!(err.contains("into node 3, as the cell diagram numbers it") && err.contains("0 = c_{k-2}"), "{err}");
    // an OFA arch dict with a tuple, as Python prints it
    let ofa = "{'ks': [3, 5, 7, 3, 5, 7, 3, 5, 7, 3, 5, 7, 3, 5, 7, 3, 5, 7, 3, 5], 'e': [3, 4, 6, 3, 4, 6, 3, 4, 6, 3, 4, 6, 3, 4, 6, 3, 4, 6, 3, 4], 'd': [2, 3, 4, 2, 3], 'r': (224,)}";
    run_ok(bin().args(["space", "cost"]).arg(repo().join("search_spaces/mobilenetv3.yaml")).arg(ofa));
    // a run config where a space file goes
    let err = run_err(bin().args(["space", "sample"]).arg(repo().join("experiments/quickstart.yaml")));
    let space = repo().join("experiments/../search_spaces/darts.yaml");
    assert!(err.contains(&format!("is a run config, not a space file: its space is {}", space.display())), "{err}");
    // resume of a directory that is not there
    let err = run_err(bin().args(["resume"]).arg(dir.join("nowhere")));
    let start = format!("start one with `{} run CONFIG --run-dir DIR`", env!("CARGO_BIN_EXE_nas-search"));
    assert!(err.contains(&format!("there is no run to resume ({start})")), "{err}");
    // a type in plain words
    let cfg = config(&dir, "mine.yaml", &example(""));
    let err =
        run_err(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(dir.join("r")).args(["--set", "search.top_k=many"]));
    assert!(err.contains("expected a whole number (0 or more)") && !err.contains("usize"), "{err}");
    // a genotype of another space given to a run's predictor names both spaces
    let run = dir.join("run");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
    let err = run_err(bin().args(["predict"]).arg(&run).arg(DARTS_V2));
    assert!(err.contains("looks like a darts genotype, but this predictor was trained on the nb201 space"), "{err}");
}
