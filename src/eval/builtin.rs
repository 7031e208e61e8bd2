//! The `builtin` evaluator: trains each architecture's network (as the space
//! describes it, with the budget's overrides) with the built-in trainer
//! (`crate::trainer`) on the configured images, on the run's device: the
//! signal is top-1 on images held out of the training set, and the test set
//! (where the data has one) is measured apart as the reported accuracy of the
//! evaluations that compete for the best (final budget; every one when the
//! budgets are equal). `crate::data::ImageDataConfig` says which images are
//! which. A network that diverges (NaN loss)
//! or panics (e.g. out of GPU memory) is a failed evaluation, not a failed run.
//!
//! On the CPU each network trains on one thread and `workers` networks train
//! at once: the small networks of proxy budgets keep one core busy but gain
//! little from a second (measured: 108 vs 114 images/s, `bench train
//! --channels 8 --cells 5 --resolution 16` with 1 and 2 threads), so two
//! at once nearly double the throughput. One thread per training also makes
//! its result independent of the machine's core count.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use burn::tensor::backend::AutodiffBackend;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::{Budget, Budgets, EvalContext, EvalJob, EvalOutcome, EvalSeconds, Evaluator, Events, Measures};
use crate::data::{ImageData, ImageDataConfig};
use crate::net::NetSpec;
use crate::space::AnySpace;
use crate::trainer::{TrainBudget, TrainReport, train_and_test};

/// Why another space is refused.
pub const MEASURES: &str = "the built-in trainer has no network description for it (measure it with `kind: command`)";

/// Whether this evaluator can measure `space`'s genotypes.
pub fn measures(space: &dyn AnySpace) -> bool {
    space.has_network()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuiltinConfig {
    /// The images (see [`ImageDataConfig`]).
    pub data: ImageDataConfig,
    pub budgets: Budgets<TrainBudget>,
    /// Networks trained at once (default: the CPU's cores on the CPU, 1 on a GPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
}

impl BuiltinConfig {
    /// Refuses settings the trainer cannot work with, naming the key (the
    /// config's load and the evaluator's construction both call it).
    pub(crate) fn validate(&self) -> Result<()> {
        if self.workers == Some(0) {
            anyhow::bail!("evaluator.workers must be positive");
        }
        for b in [Budget::Proxy, Budget::Final] {
            self.budgets.get(b).check(&format!("evaluator.budgets.{b}"))?;
        }
        self.data.check()
    }
}

pub struct BuiltinEvaluator<B: AutodiffBackend> {
    cfg: BuiltinConfig,
    /// The run's space, as genotype text: it builds each network.
    space: Arc<dyn AnySpace>,
    device: B::Device,
    seed: u64,
    /// Classes of the data (the networks' outputs).
    classes: usize,
    /// Loaded image sets by image size.
    data: Mutex<HashMap<usize, Arc<ImageData>>>,
}

impl<B: AutodiffBackend> BuiltinEvaluator<B> {
    /// Checks the budgets against the space's network and loads the data
    /// once, so a wrong key or a missing or corrupt data file stops the run
    /// before any training.
    pub fn new(cfg: &BuiltinConfig, ctx: &EvalContext, device: B::Device) -> Result<Self> {
        cfg.validate()?;
        let space = ctx.space.clone();
        let sample = space.sample_text(&mut StdRng::seed_from_u64(0));
        let mut sizes = Vec::new();
        for b in [Budget::Proxy, Budget::Final] {
            let network = network(space.as_ref(), &sample, cfg.budgets.get(b), 10);
            sizes.push(network.with_context(|| format!("evaluator.budgets.{b}"))?.input_size());
        }
        // Loaded now at the size of a proxy network (others load when first needed).
        let size = sizes[0];
        let data = Arc::new(cfg.data.load(size)?);
        Ok(Self {
            cfg: cfg.clone(),
            space,
            device,
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
        let d = Arc::new(self.cfg.data.load(size)?);
        cache.insert(size, d.clone());
        Ok(d)
    }

    fn evaluate_one(&self, job: &EvalJob) -> EvalOutcome {
        let start = Instant::now();
        let budget = self.cfg.budgets.get(job.budget);
        let spec = match network(self.space.as_ref(), &job.genotype, budget, self.classes) {
            Ok(s) => s,
            Err(e) => return EvalOutcome::failed(format!("cannot build the network: {e:#}"), 0.0),
        };
        let data = match self.data_at(spec.input_size()) {
            Ok(d) => d,
            Err(e) => return EvalOutcome::failed(format!("cannot load the data: {e:#}"), 0.0),
        };
        let seed = crate::seed::derive(self.seed, &[job.key.as_bytes(), job.budget.name().as_bytes()]);
        let report = job.budget == Budget::Final || self.cfg.budgets.equal();
        let result = catch_unwind(AssertUnwindSafe(|| {
            train_and_test::<B>(&spec, &data, budget, seed, report, &self.device, &mut |_, _| {})
        }));
        let seconds = start.elapsed().as_secs_f64();
        match result {
            Ok(Ok(r)) => outcome(&r, budget, &spec),
            Ok(Err(e)) => EvalOutcome::failed(e.to_string(), seconds),
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

/// The network of `genotype` as `budget` trains it, with `classes` outputs.
fn network(space: &dyn AnySpace, genotype: &str, budget: &TrainBudget, classes: usize) -> Result<NetSpec> {
    space.network_of(genotype, &budget.overrides(classes)).context(MEASURES)?
}

/// What the built-in trainer's accuracies are, on the images of `data`
/// (`how`: where it trained), for the report.
pub fn measures_of(data: &ImageDataConfig, how: &str) -> Measures {
    let splits = data.splits();
    Measures {
        signal: format!("top-1 accuracy (%) on {}, {how}", splits.signal),
        report: splits.report.map(|r| format!("top-1 accuracy (%) on {r}")),
        signal_is_test: splits.signal_is_test,
        seconds: EvalSeconds::Device,
    }
}

fn outcome(r: &TrainReport, budget: &TrainBudget, spec: &NetSpec) -> EvalOutcome {
    let mut o = EvalOutcome::measured(r.accuracy, r.seconds);
    o.report = r.report_accuracy;
    o.extra = [
        ("epochs", budget.epochs.to_string()),
        ("train_loss", format!("{:.4}", r.final_loss)),
        ("images_per_s", format!("{:.1}", r.images_per_s)),
        ("train_images", r.train_images.to_string()),
        ("eval_images", r.eval_images.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    o.network = Some(spec.cost());
    o
}

impl<B: AutodiffBackend> Evaluator for BuiltinEvaluator<B> {
    fn evaluate(&self, jobs: &[EvalJob], events: Events) -> Result<()> {
        if !crate::backend::is_cpu::<B>() {
            return super::pool::run_jobs(jobs, self.cfg.workers.unwrap_or(1), events, |_, job, _| {
                self.evaluate_one(job)
            });
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        super::pool::run_jobs(jobs, self.cfg.workers.unwrap_or(cores), events, |_, job, _| {
            match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
                Ok(pool) => pool.install(|| self.evaluate_one(job)),
                Err(e) => EvalOutcome::failed(format!("cannot start a training thread: {e}"), 0.0),
            }
        })
    }

    fn measures(&self) -> Measures {
        measures_of(&self.cfg.data, "trained by the built-in trainer")
    }

    /// `workers` as configured (1 when unset, whatever the cores).
    fn parallelism(&self) -> usize {
        self.cfg.workers.unwrap_or(1)
    }
}
