//! `nas-search bench predictor`: NAR-Former inference throughput (with and
//! without the tokenizer) and training-step time, optionally beside
//! PyTorch's figures for the same model and shapes (`--compare-torch`).

use std::time::Instant;

use anyhow::Result;
use burn::module::{AutodiffModule, Module};
use burn::tensor::backend::AutodiffBackend;

use super::{median, torch};
use crate::backend::{BackendTask, DeviceKind, cpu_threads, dispatch, is_cpu};
use crate::predictor::dataset::encode_cells;
use crate::predictor::loss::LossWeights;
use crate::predictor::native_train::NativeStep;
use crate::predictor::scorer::Scorer;
use crate::predictor::step::{BurnStep, StepBatch, TrainStep};
use crate::predictor::train::TrainConfig;
use crate::predictor::{ModelConfig, Predictor};
use crate::space::nb201::Nb201Cell;

/// Settings of `bench predictor`.
pub struct PredictorBench {
    pub device: DeviceKind,
    pub infer_batch: usize,
    pub train_batch: usize,
    pub repeats: usize,
    /// Also time the same model in PyTorch (`scripts/torch_bench.py`).
    pub compare_torch: bool,
}

/// Figures `bench predictor` prints.
#[derive(Debug)]
pub struct PredictorBenchResult {
    /// Tokenizer and model.
    pub archs_per_second: f64,
    /// The model alone, on already tokenized architectures, as the search
    /// scores them (on the CPU: `predictor::native`).
    pub model_archs_per_second: f64,
    /// burn's `forward` of the model (the training graph), when the search
    /// scores through the native path instead.
    pub burn_forward_archs_per_second: Option<f64>,
    pub train_step_ms: f64,
    /// burn's autodiff step of the same batch, when the training step
    /// timed above is the native one.
    pub burn_train_step_ms: Option<f64>,
    /// Node tokens per architecture and their width (the shapes PyTorch gets).
    pub tokens: usize,
    pub d_model: usize,
    /// Trainable parameters of the model.
    pub params: usize,
}

/// Inference throughput and training-step time of the paper-size NAR-Former
/// (d_model 192, depths 6,1,1,1) on NAS-Bench-201 cells.
pub fn predictor(b: PredictorBench) -> Result<PredictorBenchResult> {
    let cfg = ModelConfig::default();
    let ModelConfig::NarFormer { transformer: t, .. } = &cfg else { unreachable!("the default model is NAR-Former") };
    println!("{}", super::machine_line());
    println!(
        "backend {} | threads {} | model nar-former depths {:?} heads {} d_ff {}",
        b.device.backend_name(),
        cpu_threads(),
        t.depths,
        t.heads,
        t.d_ff
    );
    let r = dispatch(b.device, BenchTask(&b))?;
    println!(
        "inference: {:.0} archs/s with the tokenizer, {:.0} archs/s model only ({} tokens x {}; batch {}, median of {})",
        r.archs_per_second, r.model_archs_per_second, r.tokens, r.d_model, b.infer_batch, b.repeats
    );
    if let Some(burn) = r.burn_forward_archs_per_second {
        println!("  (native inference; burn's forward of the same model: {burn:.0} archs/s model only)");
    }
    println!(
        "train step: {:.1} ms (batch {} rows, forward + backward + AdamW, median of {})",
        r.train_step_ms, b.train_batch, b.repeats
    );
    if let Some(burn) = r.burn_train_step_ms {
        println!("  (native training step; burn's autodiff step of the same batch: {burn:.1} ms)");
    }
    if b.compare_torch {
        let depths: Vec<String> = t.depths.iter().map(|d| d.to_string()).collect();
        let mut args = vec!["predictor".into(), "--tokens".into(), r.tokens.to_string()];
        args.extend(["--d-model".into(), r.d_model.to_string(), "--depths".into(), depths.join(",")]);
        args.extend(["--heads".into(), t.heads.to_string(), "--d-ff".into(), t.d_ff.to_string()]);
        args.extend(["--dropout".into(), t.dropout.to_string(), "--repeats".into(), b.repeats.to_string()]);
        args.extend(["--infer-batch".into(), b.infer_batch.to_string()]);
        args.extend(["--train-batch".into(), b.train_batch.to_string()]);
        if let Some(v) = torch::run(b.device, &args)? {
            let (inf, step) = (torch::figure(&v, "archs_per_s")?, torch::figure(&v, "train_step_ms")?);
            println!("{}: inference {inf:.0} archs/s model only, train step {step:.1} ms", torch::label(&v));
            torch::check_params(&v, "model", r.params as u64)?;
            println!(
                "ratio nas-search / PyTorch (speed, higher is faster): inference model only {:.2}, train step {:.2}",
                r.model_archs_per_second / inf,
                step / r.train_step_ms
            );
        }
    }
    Ok(r)
}

struct BenchTask<'a>(&'a PredictorBench);

impl BackendTask for BenchTask<'_> {
    type Output = PredictorBenchResult;

    fn with_backend<B: AutodiffBackend>(self, device: B::Device) -> PredictorBenchResult {
        let b = self.0;
        let cfg = ModelConfig::default();
        let model: Predictor<B> = cfg.init(&device);
        let params = model.num_params();
        let cells: Vec<Nb201Cell> = Nb201Cell::enumerate().step_by(7).take(b.infer_batch).collect();
        let rows: Vec<usize> = (0..cells.len()).collect();

        let inner = model.valid();
        let scorer = Scorer::new(&inner, &device);
        let encoded = encode_cells(&cells, &cfg);
        let time = |f: &dyn Fn()| -> f64 {
            let mut rates = Vec::new();
            for i in 0..=b.repeats {
                let t = Instant::now();
                f();
                if i > 0 {
                    rates.push(cells.len() as f64 / t.elapsed().as_secs_f64());
                }
            }
            median(rates)
        };
        let archs_per_second = time(&|| {
            let _ = scorer.predict(&encode_cells(&cells, &cfg), &rows);
        });
        let model_archs_per_second = time(&|| {
            let _ = scorer.predict(&encoded, &rows);
        });
        let batch = encoded.batch::<B::InnerBackend>(&rows, &device);
        let [_, tokens, d_model] = batch.tokens.dims();
        let burn_forward_archs_per_second = match scorer {
            Scorer::Native(_) => Some(time(&|| {
                let _ = inner.forward(&batch).into_data();
            })),
            Scorer::Burn(..) => None,
        };

        let set = encode_cells(&cells[..b.train_batch.min(cells.len())], &cfg);
        let train_rows: Vec<usize> = (0..b.train_batch.min(cells.len())).collect();
        let labels = vec![0.5f32; train_rows.len()];
        // What PyTorch's twin times: MSE on the batch, AdamW at 1e-4 (no
        // twins, no ranking terms; the moving average is extra work here).
        let train: TrainConfig = serde_yaml::from_str("epochs: 1").expect("a training config");
        let perm: Vec<usize> = (0..train_rows.len()).collect();
        let batch = StepBatch {
            set: &set,
            rows: &train_rows,
            labels: &labels,
            perm: &perm,
            twin_src: &[],
            originals: train_rows.len(),
            weights: LossWeights { sr: 0.0, ac: 0.0 },
            dropout_seed: 1,
        };
        let time_steps = |stepper: &mut dyn TrainStep<B>| -> f64 {
            let mut steps = Vec::new();
            for i in 0..=b.repeats {
                let t = Instant::now();
                stepper.step(&batch, 1e-4).expect("a training step");
                if i > 0 {
                    steps.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
            median(steps)
        };
        let burn_ms = time_steps(&mut BurnStep::new(model.clone(), &train, &device));
        let (train_step_ms, burn_train_step_ms) = if is_cpu::<B>() {
            let mut native = NativeStep::<B>::start(model, &cfg, &train, &device, None).expect("a NAR-Former");
            (time_steps(&mut native), Some(burn_ms))
        } else {
            (burn_ms, None)
        };
        PredictorBenchResult {
            archs_per_second,
            model_archs_per_second,
            burn_forward_archs_per_second,
            train_step_ms,
            burn_train_step_ms,
            tokens,
            d_model,
            params,
        }
    }
}
