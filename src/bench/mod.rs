//! `nas-search bench ...`: speed figures printed for humans, measured as
//! medians of repeated runs within one process. One file per benchmark.

pub mod driver;
pub mod noise;
pub mod predictor;
pub mod slurm;
pub mod torch;
pub mod train;

pub use predictor::{PredictorBench, PredictorBenchResult, predictor};
pub use train::{BenchSpace, TrainBench, TrainBenchResult, train};

/// The machine a figure was measured on: the CPU's model and the vector
/// extensions its kernels can use (gemm, matrixmultiply and our loops pick
/// theirs at run time, so two EPYCs with and without AVX-512 give other
/// ratios). Printed first by every speed benchmark.
pub fn machine_line() -> String {
    format!("cpu {} | vector extensions {}", crate::latency::device::cpu_model(), vector_extensions())
}

#[cfg(target_arch = "x86_64")]
fn vector_extensions() -> String {
    let found = [
        ("sse4.2", std::arch::is_x86_feature_detected!("sse4.2")),
        ("avx", std::arch::is_x86_feature_detected!("avx")),
        ("avx2", std::arch::is_x86_feature_detected!("avx2")),
        ("fma", std::arch::is_x86_feature_detected!("fma")),
        ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
        ("avx512vl", std::arch::is_x86_feature_detected!("avx512vl")),
    ];
    let has: Vec<&str> = found.iter().filter(|f| f.1).map(|f| f.0).collect();
    let avx512 = if found[4].1 { "" } else { " (no AVX-512)" };
    format!("{}{avx512}", has.join(" "))
}

#[cfg(target_arch = "aarch64")]
fn vector_extensions() -> String {
    let sve = if std::arch::is_aarch64_feature_detected!("sve") { " sve" } else { "" };
    format!("neon{sve}")
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn vector_extensions() -> String {
    format!("unknown ({})", std::env::consts::ARCH)
}

/// The median of repeated timings; benchmarks always take at least one.
fn median(v: Vec<f64>) -> f64 {
    crate::stats::median(&v).expect("a benchmark measures at least one run")
}
