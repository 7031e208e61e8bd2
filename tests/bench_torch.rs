//! `bench ... --compare-torch` against a real PyTorch: the project's twin
//! script builds the same network (the parameter counts must agree) and both
//! figures and the ratio come from one run. The Python with torch is named
//! by NAS_SEARCH_TEST_TORCH_PYTHON (`.ci/run` installs one with
//! `scripts/torch-env.sh`); without it these two tests say so and pass, and
//! the third (no torch) always runs.

mod common;

use common::*;

fn torch_python() -> Option<String> {
    let py = std::env::var("NAS_SEARCH_TEST_TORCH_PYTHON").ok()?;
    assert!(
        std::process::Command::new(&py).args(["-c", "import torch"]).status().is_ok_and(|s| s.success()),
        "NAS_SEARCH_TEST_TORCH_PYTHON={py} cannot import torch"
    );
    Some(py)
}

fn stdout(args: &[&str], python: &str) -> String {
    let out = run_ok(bin().args(args).env("NAS_SEARCH_PYTHON", python));
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn bench_train_times_the_same_darts_network_in_pytorch() {
    let Some(py) = torch_python() else {
        eprintln!("NAS_SEARCH_TEST_TORCH_PYTHON is not set: not compared with PyTorch");
        return;
    };
    let args = ["bench", "train", "--channels", "4", "--cells", "3", "--batch", "8", "--resolution", "8"];
    // Both CPU backends are compared with PyTorch on the CPU.
    for device in ["cpu", "flex"] {
        let text = stdout(&[&args[..], &["--steps", "1", "--compare-torch", "--device", device]].concat(), &py);
        assert!(text.contains("PyTorch 2.") && text.contains("threads, cpu)"), "{text}");
        assert!(text.contains("ratio nas-search / PyTorch"), "{text}");
        assert!(!text.contains("parameters, nas-search's"), "the two networks differ: {text}");
    }
}

#[test]
fn bench_predictor_times_the_same_model_in_pytorch() {
    let Some(py) = torch_python() else {
        eprintln!("NAS_SEARCH_TEST_TORCH_PYTHON is not set: not compared with PyTorch");
        return;
    };
    let text = stdout(&["bench", "predictor", "--repeats", "1", "--compare-torch"], &py);
    assert!(text.contains("PyTorch 2.") && text.contains("inference model only"), "{text}");
    assert!(!text.contains("parameters, nas-search's"), "the two models differ: {text}");
}

#[test]
fn without_torch_the_bench_says_how_to_get_the_comparison() {
    let args = ["bench", "train", "--channels", "4", "--cells", "3", "--batch", "4", "--resolution", "8"];
    let out =
        run_ok(bin().args(args).args(["--steps", "1", "--compare-torch"]).env("NAS_SEARCH_PYTHON", "no-such-python"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("train:") && text.contains("images/s"), "its own figure still: {text}");
    assert!(text.contains("cannot import torch") && text.contains("NAS_SEARCH_PYTHON"), "{text}");
}
