//! Real evaluation of architectures: the [`Evaluator`] trait and one
//! implementation per file. An evaluator takes genotypes as text with a
//! named budget and returns measured accuracies; a failure of one
//! evaluation (crash, timeout, garbage output) is a failed result, never an
//! error that stops the run.

pub mod builtin;
pub mod command;
pub mod tabular;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

/// Which training budget an evaluation gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Budget {
    /// Cheap evaluation for the predictor's training data.
    Proxy,
    /// Full evaluation of the search's top candidates.
    Final,
}

impl Budget {
    pub fn name(self) -> &'static str {
        match self {
            Self::Proxy => "proxy",
            Self::Final => "final",
        }
    }
}

/// One architecture to evaluate.
#[derive(Clone, Debug)]
pub struct EvalJob {
    pub key: String,
    pub genotype: String,
    pub budget: Budget,
}

/// What one evaluation gave.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalOutcome {
    /// Top-1 accuracy in %, or None when the evaluation failed.
    pub accuracy: Option<f64>,
    /// Cost of the evaluation in seconds (measured or, for tables, recorded).
    pub seconds: f64,
    /// Why it failed (empty when it succeeded).
    pub error: String,
    /// Further fields the evaluator reported.
    pub extra: BTreeMap<String, String>,
}

impl EvalOutcome {
    pub fn failed(error: impl Into<String>, seconds: f64) -> Self {
        Self { accuracy: None, seconds, error: error.into(), extra: BTreeMap::new() }
    }

    pub fn ok(&self) -> bool {
        self.accuracy.is_some()
    }
}

/// Measures architectures for real.
pub trait Evaluator: Send + Sync {
    /// Evaluates `jobs` (in parallel where the evaluator can); `done` is
    /// called once per finished job, in completion order, so the caller can
    /// record each result before the next one finishes.
    fn evaluate(&self, jobs: &[EvalJob], done: &mut dyn FnMut(usize, EvalOutcome) -> Result<()>) -> Result<()>;

    /// True when the proxy and final budgets are the same evaluation (then
    /// every evaluation competes for the best architecture).
    fn budgets_equal(&self) -> bool;
}

/// The `evaluator:` section of a run config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum EvaluatorConfig {
    Tabular(tabular::TabularConfig),
    Command(command::CommandConfig),
    Builtin(Box<builtin::BuiltinConfig>),
}

impl EvaluatorConfig {
    /// Builds the evaluator; relative paths are resolved against `config_dir`,
    /// scratch files go under `run_dir`.
    pub fn build(&self, config_dir: &Path, run_dir: &Path, ctx: &builtin::RunContext) -> Result<Box<dyn Evaluator>> {
        Ok(match self {
            Self::Tabular(c) => Box::new(tabular::TabularEvaluator::new(c, config_dir)?),
            Self::Command(c) => Box::new(command::CommandEvaluator::new(c.clone(), config_dir, run_dir)?),
            Self::Builtin(c) => Box::new(builtin::BuiltinEvaluator::new(c, config_dir, ctx)?),
        })
    }
}
