//! `--compare-torch`: runs the project's PyTorch twin of a benchmark
//! (`scripts/torch_bench.py`, carried inside the binary) with the Python
//! named by `NAS_SEARCH_PYTHON` (default `python3`), so nas-search's figure
//! and PyTorch's come from the same run on the same machine.

use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::backend::{DeviceKind, cpu_threads};

const SCRIPT: &str = include_str!("../../scripts/torch_bench.py");

/// How to get the comparison when no Python with torch is found.
pub const HOW: &str = "set NAS_SEARCH_PYTHON to a Python that has torch, e.g. \
`python3 -m venv ~/torchenv && ~/torchenv/bin/pip install torch numpy` then \
`NAS_SEARCH_PYTHON=~/torchenv/bin/python nas-search bench ... --compare-torch`";

/// PyTorch's name of the device that `kind` runs on (both CPU backends: `cpu`).
fn device(kind: DeviceKind) -> &'static str {
    match kind {
        DeviceKind::Cuda => "cuda",
        _ => "cpu",
    }
}

fn python() -> String {
    std::env::var("NAS_SEARCH_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// PyTorch's figures for `work` (the script's subcommand and its arguments)
/// on the device of `kind` with as many threads as nas-search uses, or
/// `None` with a printed note when no Python with torch is found.
pub fn run(kind: DeviceKind, work: &[String]) -> Result<Option<Value>> {
    let mut args = vec!["--device".into(), device(kind).into(), "--threads".into(), cpu_threads().to_string()];
    args.extend(work.iter().cloned());
    let py = python();
    let probe = Command::new(&py).args(["-c", "import torch"]).output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(_) | Err(_) => {
            println!("PyTorch: not measured, `{py}` cannot import torch; {HOW}");
            return Ok(None);
        }
    }
    let path = std::env::temp_dir().join(format!("nas-search-torch-bench-{}.py", std::process::id()));
    std::fs::write(&path, SCRIPT).with_context(|| format!("writing {}", path.display()))?;
    let out = Command::new(&py).arg(&path).args(args).output();
    let _ = std::fs::remove_file(&path);
    let out = out.with_context(|| format!("running {py} scripts/torch_bench.py"))?;
    if !out.status.success() {
        bail!("the PyTorch benchmark failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or("");
    let v: Value = serde_json::from_str(line).with_context(|| format!("the PyTorch benchmark printed `{line}`"))?;
    Ok(Some(v))
}

/// A number field of the script's answer.
pub fn figure(v: &Value, key: &str) -> Result<f64> {
    v.get(key).and_then(Value::as_f64).with_context(|| format!("the PyTorch benchmark gave no `{key}`: {v}"))
}

/// Prints a note when PyTorch's model (`what`) has another parameter count
/// than nas-search's `ours`: then the two figures time different work.
pub fn check_params(v: &Value, what: &str, ours: u64) -> Result<()> {
    let theirs = figure(v, "params")? as u64;
    if theirs != ours {
        println!("note: PyTorch's {what} has {theirs} parameters, nas-search's {ours}");
    }
    Ok(())
}

/// "PyTorch 2.x (2 threads, cpu)" from the script's answer.
pub fn label(v: &Value) -> String {
    format!(
        "PyTorch {} ({} threads, {})",
        v.get("torch").and_then(Value::as_str).unwrap_or("?"),
        v.get("threads").and_then(Value::as_u64).unwrap_or(0),
        v.get("device").and_then(Value::as_str).unwrap_or("?")
    )
}
