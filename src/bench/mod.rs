//! `nas-search bench ...`: speed figures printed for humans, measured as
//! medians of repeated runs within one process. One file per benchmark.

pub mod noise;
pub mod predictor;
pub mod slurm;
pub mod torch;
pub mod train;

pub use predictor::{PredictorBench, PredictorBenchResult, predictor};
pub use train::{BenchSpace, TrainBench, TrainBenchResult, train};

/// The median of repeated timings; benchmarks always take at least one.
fn median(v: Vec<f64>) -> f64 {
    crate::stats::median(&v).expect("a benchmark measures at least one run")
}
