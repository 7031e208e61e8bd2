//! `nas-search eval-one`: one evaluation by the built-in trainer of a run
//! config, printed as the command evaluator's result line (`{"accuracy":
//! ..., "seconds": ..., ...}`). A Slurm task of `evaluator: { kind: slurm,
//! builtin: ... }` runs it, so GPU nodes train while the driver waits on a
//! login node; any other scheduler can run it the same way.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use burn::tensor::backend::AutodiffBackend;

use super::builtin::{BuiltinConfig, BuiltinEvaluator};
use super::{Budget, EvalContext, EvalEvent, EvalJob, EvalOutcome, Evaluator, EvaluatorConfig, Flow};
use crate::backend::{BackendTask, DeviceKind, dispatch};
use crate::run::config::RunConfig;
use crate::space::AnySpace;

/// The result line's field for the accuracy reported apart from the signal (%).
pub use super::command::{NETWORK_MACS, NETWORK_PARAMS, REPORT_ACCURACY};

/// Evaluates `genotype` at `budget` with the built-in trainer of the run
/// config at `config` (a run directory's `config.yaml`, or a config file),
/// seeding its training by `key` as the run itself would (default: the
/// genotype's canonical text), on `device` (default: the config's).
pub fn eval_one(
    config: &Path,
    genotype: &str,
    budget: Budget,
    key: Option<&str>,
    device: Option<DeviceKind>,
) -> Result<EvalOutcome> {
    let cfg = load_resolved(config, &[])?;
    let builtin = builtin_of(&cfg, config)?;
    let space: Arc<dyn AnySpace> = Arc::from(cfg.space_config().build()?);
    let text = space.check_text(genotype).with_context(|| format!("genotype '{genotype}'"))?;
    let job = EvalJob { key: key.map_or(text.clone(), String::from), genotype: text, budget };
    let task = One { builtin, space, job, seed: cfg.seed, config_dir: config.parent().unwrap_or(Path::new(".")) };
    dispatch(device.unwrap_or(cfg.device), task)?
}

/// The run config at `config` with `overrides`, its paths resolved against
/// its folder (a run directory's frozen config is resolved already).
pub fn load_resolved(config: &Path, overrides: &[String]) -> Result<RunConfig> {
    let mut cfg = RunConfig::load(config, overrides)?;
    if !cfg.is_resolved() {
        cfg.resolve(config.parent().unwrap_or(Path::new(".")))?;
    }
    Ok(cfg)
}

/// The built-in trainer's settings of a run config (`kind: builtin`, or a
/// Slurm evaluator's `builtin:`); `config` names the file in the error.
pub fn builtin_of(cfg: &RunConfig, config: &Path) -> Result<BuiltinConfig> {
    Ok(match &cfg.evaluator.config {
        EvaluatorConfig::Builtin(b) => (**b).clone(),
        EvaluatorConfig::Slurm(s) => match &s.builtin {
            Some(b) => (**b).clone(),
            None => bail!("{}: evaluator.builtin is not set (this Slurm evaluator runs a command)", config.display()),
        },
        other => bail!("{}: evaluator.kind `{}` has no built-in trainer to run", config.display(), other.kind()),
    })
}

/// The result line `eval-one` prints: the outcome's accuracy, seconds,
/// network cost and extra fields as one JSON object.
pub fn result_line(o: &EvalOutcome) -> String {
    let mut map = serde_json::Map::new();
    map.insert("accuracy".into(), o.accuracy.into());
    map.insert("seconds".into(), o.seconds.into());
    if let Some(r) = o.report {
        map.insert(REPORT_ACCURACY.into(), r.into());
    }
    if let Some(c) = o.network {
        map.insert(NETWORK_PARAMS.into(), c.params.into());
        map.insert(NETWORK_MACS.into(), c.macs.into());
    }
    for (k, v) in &o.extra {
        map.insert(k.clone(), v.clone().into());
    }
    serde_json::Value::Object(map).to_string()
}

struct One<'a> {
    builtin: BuiltinConfig,
    space: Arc<dyn AnySpace>,
    job: EvalJob,
    seed: u64,
    config_dir: &'a Path,
}

impl BackendTask for One<'_> {
    type Output = Result<EvalOutcome>;

    fn with_backend<B: AutodiffBackend>(self, device: B::Device) -> Result<EvalOutcome> {
        let ctx = EvalContext { space: self.space, run_dir: self.config_dir, seed: self.seed };
        let evaluator = BuiltinEvaluator::<B>::new(&self.builtin, &ctx, device)?;
        let mut result = None;
        evaluator.evaluate(std::slice::from_ref(&self.job), &mut |event| {
            if let EvalEvent::Done(_, o) = event {
                result = Some(o);
            }
            Ok(Flow::Continue)
        })?;
        result.context("the built-in trainer returned no result")
    }
}
