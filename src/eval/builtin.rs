//! The `builtin` evaluator: trains each architecture's network with the
//! built-in trainer (`crate::trainer`) on the configured images, with the
//! named budget, on the run's device, and reports top-1 on the held-out
//! split. A network that diverges (NaN loss) or panics (e.g. out of GPU
//! memory) is a failed evaluation, not a failed run.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use super::{Budget, EvalJob, EvalOutcome, Evaluator};
use crate::backend::{BackendTask, DeviceKind, dispatch};
use crate::data::{ImageData, ImageDataConfig};
use crate::space::SpaceConfig;
use crate::trainer::{NetSpec, TrainBudget, TrainReport, train_and_test};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuiltinConfig {
    /// The images (see [`ImageDataConfig`]).
    pub data: ImageDataConfig,
    pub budgets: BuiltinBudgets,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuiltinBudgets {
    pub proxy: TrainBudget,
    pub r#final: TrainBudget,
}

/// What the evaluator needs from the run besides its own section.
pub struct RunContext<'a> {
    pub space: &'a SpaceConfig,
    pub device: DeviceKind,
    pub seed: u64,
}

pub struct BuiltinEvaluator {
    cfg: BuiltinConfig,
    config_dir: PathBuf,
    space: SpaceConfig,
    device: DeviceKind,
    seed: u64,
    /// Classes of the data (the networks' outputs).
    classes: usize,
    /// Loaded image sets by image size.
    data: Mutex<HashMap<usize, Arc<ImageData>>>,
}

impl BuiltinEvaluator {
    /// Checks the budgets and loads the data once, so a missing or corrupt
    /// data file stops the run before any training.
    pub fn new(cfg: &BuiltinConfig, config_dir: &Path, ctx: &RunContext) -> Result<Self> {
        cfg.budgets.proxy.check("evaluator.budgets.proxy")?;
        cfg.budgets.r#final.check("evaluator.budgets.final")?;
        if matches!(ctx.space, SpaceConfig::Nb201(_)) {
            anyhow::bail!(
                "evaluator.kind: builtin trains DARTS and MobileNetV3 networks; use `kind: tabular` for NAS-Bench-201"
            );
        }
        let size = match ctx.space {
            SpaceConfig::Darts(c) => cfg.budgets.proxy.resolution.unwrap_or(c.network.input_size),
            _ => cfg.budgets.proxy.resolution.or(cfg.data.native_size()).unwrap_or(224),
        };
        let data = Arc::new(cfg.data.load(config_dir, size)?);
        Ok(Self {
            cfg: cfg.clone(),
            config_dir: config_dir.to_path_buf(),
            space: ctx.space.clone(),
            device: ctx.device,
            seed: ctx.seed,
            classes: data.train.classes,
            data: Mutex::new(HashMap::from([(size, data)])),
        })
    }

    fn data_at(&self, size: usize) -> Result<Arc<ImageData>> {
        let mut cache = self.data.lock().expect("data cache lock");
        if let Some(d) = cache.get(&size) {
            return Ok(d.clone());
        }
        let d = Arc::new(self.cfg.data.load(&self.config_dir, size)?);
        cache.insert(size, d.clone());
        Ok(d)
    }

    fn budget(&self, b: Budget) -> &TrainBudget {
        match b {
            Budget::Proxy => &self.cfg.budgets.proxy,
            Budget::Final => &self.cfg.budgets.r#final,
        }
    }

    fn evaluate_one(&self, job: &EvalJob) -> EvalOutcome {
        let start = Instant::now();
        let budget = self.budget(job.budget);
        let spec = match NetSpec::from_genotype(&self.space, &job.genotype, budget, self.classes) {
            Ok(s) => s,
            Err(e) => return EvalOutcome::failed(format!("cannot build the network: {e:#}"), 0.0),
        };
        let data = match self.data_at(spec.input_size()) {
            Ok(d) => d,
            Err(e) => return EvalOutcome::failed(format!("cannot load the data: {e:#}"), 0.0),
        };
        let seed = crate::seed::derive(self.seed, &[job.key.as_bytes(), job.budget.name().as_bytes()]);
        let task = TrainTask { spec: &spec, data: &data, budget, seed };
        let result = catch_unwind(AssertUnwindSafe(|| dispatch(self.device, task)));
        let seconds = start.elapsed().as_secs_f64();
        match result {
            Ok(Ok(Ok(r))) => outcome(&r, budget),
            Ok(Ok(Err(e))) => EvalOutcome::failed(e.to_string(), seconds),
            Ok(Err(e)) => EvalOutcome::failed(format!("{e:#}"), seconds),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                EvalOutcome::failed(format!("training panicked (out of memory?): {msg}"), seconds)
            }
        }
    }
}

fn outcome(r: &TrainReport, budget: &TrainBudget) -> EvalOutcome {
    let extra = [
        ("epochs", budget.epochs.to_string()),
        ("train_loss", format!("{:.4}", r.final_loss)),
        ("images_per_s", format!("{:.1}", r.images_per_s)),
        ("train_images", r.train_images.to_string()),
        ("eval_images", r.eval_images.to_string()),
    ];
    EvalOutcome {
        accuracy: Some(r.accuracy),
        seconds: r.seconds,
        error: String::new(),
        extra: extra.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    }
}

struct TrainTask<'a> {
    spec: &'a NetSpec,
    data: &'a ImageData,
    budget: &'a TrainBudget,
    seed: u64,
}

impl BackendTask for TrainTask<'_> {
    type Output = Result<TrainReport, crate::trainer::TrainError>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        train_and_test::<B>(self.spec, self.data, self.budget, self.seed, &device, &mut |_, _| {})
    }
}

impl Evaluator for BuiltinEvaluator {
    fn evaluate(&self, jobs: &[EvalJob], done: &mut dyn FnMut(usize, EvalOutcome) -> Result<()>) -> Result<()> {
        for (i, job) in jobs.iter().enumerate() {
            done(i, self.evaluate_one(job))?;
        }
        Ok(())
    }

    fn budgets_equal(&self) -> bool {
        self.cfg.budgets.proxy == self.cfg.budgets.r#final
    }
}
