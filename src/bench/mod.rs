//! `nas-search bench ...`: speed figures printed for humans, measured as
//! medians of repeated runs within one process. One file per benchmark.

pub mod predictor;
pub mod train;

pub use predictor::{PredictorBench, PredictorBenchResult, predictor};
pub use train::{TrainBench, TrainBenchResult, train};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
