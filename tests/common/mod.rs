//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The NAS-Bench-201 CSV: `NAS_SEARCH_NB201_CSV` or the project's conventional path.
pub fn nb201_csv() -> PathBuf {
    let p = std::env::var("NAS_SEARCH_NB201_CSV").map(PathBuf::from).unwrap_or_else(|_| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/nb201/nb201_cifar10_cifar100_imagenet16.csv")
    });
    assert!(p.is_file(), "NAS-Bench-201 CSV missing at {} (set NAS_SEARCH_NB201_CSV)", p.display());
    p
}

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nas-search"));
    c.env("NAS_SEARCH_NB201_CSV", nb201_csv());
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
