//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's root (spaces, scripts and experiments are found from it).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The NAS-Bench-201 CSV the binary ships, written once per test process
/// to a file (for the example evaluator script, which reads a file).
pub fn nb201_csv() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let p = std::env::temp_dir().join(format!("nas-search-test-{}-nb201.csv", std::process::id()));
        std::fs::write(&p, nas_search::data::nb201::embedded_csv()).unwrap();
        p
    })
    .clone()
}

/// The binary, with no NAS-Bench-201 path in its environment (it uses the
/// built-in table), started as a user starts an installed binary (not
/// through cargo: the hints it prints then name its path).
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nas-search"));
    c.env_remove("NAS_SEARCH_NB201_CSV").env_remove("CARGO");
    c
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("nas-search runs");
    assert!(
        out.status.success(),
        "command failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn run_err(cmd: &mut Command) -> String {
    let out = cmd.output().expect("nas-search runs");
    assert!(!out.status.success(), "command should have failed: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// A small run config (12 architectures for the predictor, 2 rounds of
/// top-3, a tiny NAR-Former) of `space` with `evaluator` (its YAML lines,
/// indented), written as `small.yaml` in `dir`.
pub fn small_run(dir: &Path, space: &str, evaluator: &str) -> PathBuf {
    let text = format!(
        "name: small
seed: 4
space: {space}
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
  checkpoint_every: 2
"
    );
    write(dir, "small.yaml", &text)
}

/// A run that finishes with failed evaluations: it exits with status 3 and
/// its last stdout line counts them and gives the command that retries them.
pub fn run_with_failures(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("nas-search runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "a finished run with failures:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or("");
    assert!(
        last.contains("evaluations failed (") && last.contains("resume ") && last.contains("--retry-failed"),
        "{last}"
    );
    out
}

/// A fresh temporary directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nas-search-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A tiny NAR-Former predictor config that trains in seconds.
pub const TINY_CONFIG: &str = "\
split: { train_archs: 64, val_archs: 32 }
model:
  kind: nar-former
  tokenizer: { lx: 4, lp: 4, lr: 4 }
  transformer: { depths: [1, 1, 1, 1], heads: 2, d_ff: 32, dropout: 0.1 }
train: { epochs: 4, batch_size: 16, lr: 0.001, seed: 3 }
";

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A CSV file's rows as column -> value maps.
pub fn csv_rows(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    r.deserialize().map(|x| x.unwrap()).collect()
}
