//! `nas-search bench predictor`: NAR-Former inference throughput and
//! training-step time.

use std::time::Instant;

use anyhow::Result;
use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};

use super::median;
use crate::backend::{BackendTask, DeviceKind, cpu_threads, dispatch};
use crate::predictor::dataset::encode_cells;
use crate::predictor::{ModelConfig, Predictor};
use crate::space::nb201::Nb201Cell;

/// Settings of `bench predictor`.
pub struct PredictorBench {
    pub device: DeviceKind,
    pub infer_batch: usize,
    pub train_batch: usize,
    pub repeats: usize,
}

/// Figures `bench predictor` prints.
#[derive(Debug)]
pub struct PredictorBenchResult {
    pub archs_per_second: f64,
    pub train_step_ms: f64,
}

/// Inference throughput (tokenizer included) and training-step time of the
/// paper-size NAR-Former (d_model 192, depths 6,1,1,1) on NAS-Bench-201 cells.
pub fn predictor(b: PredictorBench) -> Result<PredictorBenchResult> {
    println!(
        "backend {} | threads {} | model nar-former d_model 192 depths [6,1,1,1] heads 6 d_ff 768",
        b.device.backend_name(),
        cpu_threads()
    );
    let r = dispatch(b.device, BenchTask(&b))?;
    println!(
        "inference: {:.0} archs/s (batch {}, tokenizer included, median of {})",
        r.archs_per_second, b.infer_batch, b.repeats
    );
    println!(
        "train step: {:.1} ms (batch {} rows, forward + backward + AdamW, median of {})",
        r.train_step_ms, b.train_batch, b.repeats
    );
    Ok(r)
}

struct BenchTask<'a>(&'a PredictorBench);

impl BackendTask for BenchTask<'_> {
    type Output = PredictorBenchResult;

    fn with_backend<B: AutodiffBackend>(self, device: B::Device) -> PredictorBenchResult {
        let b = self.0;
        let cfg = ModelConfig::default();
        let model: Predictor<B> = cfg.init(&device);
        let cells: Vec<Nb201Cell> = Nb201Cell::enumerate().step_by(7).take(b.infer_batch).collect();
        let rows: Vec<usize> = (0..cells.len()).collect();

        let inner = model.valid();
        let mut infer = Vec::new();
        for i in 0..=b.repeats {
            let t = Instant::now();
            let set = encode_cells(&cells, &cfg);
            let p = inner.forward(&set.batch::<B::InnerBackend>(&rows, &device));
            let _ = p.into_data();
            if i > 0 {
                infer.push(cells.len() as f64 / t.elapsed().as_secs_f64());
            }
        }

        let set = encode_cells(&cells[..b.train_batch.min(cells.len())], &cfg);
        let train_rows: Vec<usize> = (0..b.train_batch.min(cells.len())).collect();
        let labels = vec![0.5f32; train_rows.len()];
        let mut optim = AdamWConfig::new().init::<B, Predictor<B>>();
        let mut model = model;
        let mut steps = Vec::new();
        for i in 0..=b.repeats {
            let t = Instant::now();
            let batch = set.batch::<B>(&train_rows, &device);
            let label = Tensor::<B, 1>::from_data(TensorData::new(labels.clone(), [labels.len()]), &device);
            let loss = (model.forward(&batch) - label).powi_scalar(2).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-4, model, grads);
            let _ = model.valid();
            if i > 0 {
                steps.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        PredictorBenchResult { archs_per_second: median(infer), train_step_ms: median(steps) }
    }
}
