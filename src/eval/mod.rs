//! Real evaluation of architectures: the [`Evaluator`] trait and one
//! implementation per file. An evaluator takes genotypes as text (of the
//! space it declared it can measure) with a named budget and returns
//! measured accuracies; a failure of one evaluation (crash, timeout,
//! garbage output) is a failed result, never an error that stops the run.
//!
//! Beside them, what the local ones share: [`pool`] (jobs on worker
//! threads) and [`process`] (evaluation processes that die with the driver
//! and are stopped by the next one).
//!
//! Adding an evaluator: write its file, add a variant to [`EvaluatorConfig`]
//! and an arm to each of its matches.

pub mod builtin;
pub mod command;
pub mod one;
pub mod pool;
pub mod process;
pub mod slurm;
pub mod tabular;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use crate::net::Cost;
use crate::space::AnySpace;

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

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An evaluator's settings for each budget (`budgets: { proxy: ..., final: ... }`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budgets<T> {
    pub proxy: T,
    #[serde(rename = "final")]
    pub final_: T,
}

impl<T: PartialEq> Budgets<T> {
    /// The settings of budget `b`.
    pub fn get(&self, b: Budget) -> &T {
        match b {
            Budget::Proxy => &self.proxy,
            Budget::Final => &self.final_,
        }
    }

    /// True when the two budgets are one evaluation.
    pub fn equal(&self) -> bool {
        self.proxy == self.final_
    }
}

/// `budgets:` of free-form settings (the command and Slurm evaluators):
/// either budget may be left out (`{}`, README's default), and then hands
/// `null` to the command; another key is refused by name.
pub(crate) fn free_budgets<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Budgets<serde_json::Value>, D::Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Partial {
        #[serde(default)]
        proxy: serde_json::Value,
        #[serde(default, rename = "final")]
        final_: serde_json::Value,
    }
    // `budgets:` with nothing after it is YAML's null: no settings either
    let partial: Option<Partial> = Option::deserialize(d)?;
    let p = partial.unwrap_or(Partial { proxy: serde_json::Value::Null, final_: serde_json::Value::Null });
    Ok(Budgets { proxy: p.proxy, final_: p.final_ })
}

/// One architecture to evaluate.
#[derive(Clone, Debug)]
pub struct EvalJob {
    pub key: String,
    pub genotype: String,
    pub budget: Budget,
}

impl EvalJob {
    /// A training seed for an outside trainer (a command's `{seed}`): from
    /// the key and the budget, so each training of `search.final_repeats`
    /// (a key of its own) gets its own and a retry the same.
    pub fn seed(&self) -> u32 {
        crate::seed::derive(0, &[self.key.as_bytes(), self.budget.name().as_bytes()]) as u32
    }
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
    /// Params and MACs of the network actually evaluated, when the evaluator
    /// built it (the budget may shrink the space's standard network).
    #[serde(default)]
    pub network: Option<Cost>,
    /// The accuracy the summary reports, when it is not `accuracy` (the
    /// signal): NAS-Bench-201's test accuracy beside the validation signal.
    #[serde(default)]
    pub report: Option<f64>,
}

impl EvalOutcome {
    /// A successful evaluation.
    pub fn measured(accuracy: f64, seconds: f64) -> Self {
        Self {
            accuracy: Some(accuracy),
            seconds,
            error: String::new(),
            extra: BTreeMap::new(),
            network: None,
            report: None,
        }
    }

    pub fn failed(error: impl Into<String>, seconds: f64) -> Self {
        Self { accuracy: None, seconds, error: error.into(), extra: BTreeMap::new(), network: None, report: None }
    }

    pub fn ok(&self) -> bool {
        self.accuracy.is_some()
    }
}

/// What an evaluator tells its caller while it works.
#[derive(Clone, Debug, PartialEq)]
pub enum EvalEvent {
    /// Job `i` finished.
    Done(usize, EvalOutcome),
    /// Job `i`'s attempt `attempt` failed with `error`; it will be tried again.
    Retrying { job: usize, attempt: usize, error: String },
    /// Something the user should look at while the evaluation goes on (a
    /// scheduler that keeps failing, tasks stuck in a state the evaluator
    /// does not wait on); the caller logs it and shows it.
    Warning(String),
}

/// The caller's answer to an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Start no further job; report the ones already running, then return.
    Stop,
}

/// The callback an evaluator reports to. An `Err` (the caller could not
/// record a result) aborts the evaluation at once.
pub type Events<'a> = &'a mut dyn FnMut(EvalEvent) -> Result<Flow>;

/// Measures architectures for real.
pub trait Evaluator: Send + Sync {
    /// Evaluates `jobs` (in parallel where the evaluator can); `events` sees
    /// every finished job once, in completion order, so the caller can
    /// record each result before the next one finishes.
    fn evaluate(&self, jobs: &[EvalJob], events: Events) -> Result<()>;

    /// What its accuracies and seconds are, for the report.
    fn measures(&self) -> Measures;

    /// How many evaluations it runs at once as configured (never the
    /// machine's core count: a baseline's waves follow it, and the same
    /// config must give the same proposals on any machine).
    fn parallelism(&self) -> usize {
        1
    }
}

/// What an evaluator's numbers are: the signal the search sees and, when
/// the summary reports another number, what that one is; and where its
/// seconds were spent.
#[derive(Clone, Debug, PartialEq)]
pub struct Measures {
    pub signal: String,
    pub report: Option<String>,
    /// The signal is a test-set accuracy (a protocol the field does not compare with).
    pub signal_is_test: bool,
    pub seconds: EvalSeconds,
}

/// What an evaluator's `seconds` measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalSeconds {
    /// Training on the run's device (the built-in trainer).
    Device,
    /// Wall time of an outside program, on hardware the tool does not know.
    Wall,
    /// Nothing: looked up in a table of earlier measurements.
    Free,
}

/// What an evaluator is built with besides its own config section.
pub struct EvalContext<'a> {
    /// The run's space.
    pub space: Arc<dyn AnySpace>,
    /// The run directory (scratch files go under it).
    pub run_dir: &'a Path,
    /// The run seed (evaluators that draw random numbers derive from it).
    pub seed: u64,
}

/// The `evaluator:` section of a run config: the evaluator (by `kind:`)
/// and what the run does when evaluations fail.
#[derive(Clone, Debug, PartialEq)]
pub struct EvaluatorSection {
    pub config: EvaluatorConfig,
    /// Stop the run when the first this-many evaluations it makes all fail
    /// (a systematic failure: a missing environment variable, a wrong path);
    /// 0 never stops. Default 3.
    pub stop_after_failures: usize,
}

/// The default of `evaluator.stop_after_failures`.
pub const STOP_AFTER_FAILURES: usize = 3;

impl Serialize for EvaluatorSection {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut value = serde_yaml::to_value(&self.config).map_err(serde::ser::Error::custom)?;
        if self.stop_after_failures != STOP_AFTER_FAILURES
            && let Some(map) = value.as_mapping_mut()
        {
            map.insert("stop_after_failures".into(), (self.stop_after_failures as u64).into());
        }
        value.serialize(s)
    }
}

impl<'de> Deserialize<'de> for EvaluatorSection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error;
        let mut value = serde_yaml::Value::deserialize(d)?;
        let stop = match value.as_mapping_mut().and_then(|m| m.remove("stop_after_failures")) {
            None => STOP_AFTER_FAILURES,
            Some(v) => v.as_u64().map(|n| n as usize).ok_or_else(|| {
                D::Error::custom(format!(
                    "\u{1f}stop_after_failures\u{1f}must be a non-negative integer, got {}",
                    serde_yaml::to_string(&v).unwrap_or_default().trim()
                ))
            })?,
        };
        Ok(Self { config: crate::config::nested(value)?, stop_after_failures: stop })
    }
}

/// One evaluator's settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum EvaluatorConfig {
    Tabular(tabular::TabularConfig),
    Command(command::CommandConfig),
    Builtin(Box<builtin::BuiltinConfig>),
    Slurm(Box<slurm::SlurmConfig>),
}

impl<'de> Deserialize<'de> for EvaluatorConfig {
    /// By hand, so that an error inside a variant names its whole key.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use crate::config::{nested, tagged};
        let (kind, rest) = tagged(d, "kind", &["tabular", "command", "builtin", "slurm"])?;
        Ok(match kind.as_str() {
            "tabular" => Self::Tabular(nested(rest)?),
            "command" => Self::Command(nested(rest)?),
            "slurm" => Self::Slurm(Box::new(nested(rest)?)),
            _ => Self::Builtin(Box::new(nested(rest)?)),
        })
    }
}

impl EvaluatorConfig {
    /// The `kind:` as configs spell it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Tabular(_) => "tabular",
            Self::Command(_) => "command",
            Self::Builtin(_) => "builtin",
            Self::Slurm(_) => "slurm",
        }
    }

    /// Range checks of the section's numbers, naming the key (a config's
    /// load calls it, so nothing starts with a value that would panic later).
    pub fn check(&self) -> Result<()> {
        match self {
            Self::Tabular(_) => Ok(()),
            Self::Builtin(b) => b.validate(),
            Self::Command(c) => c.validate(),
            Self::Slurm(c) => {
                c.validate()?;
                c.builtin.as_deref().map_or(Ok(()), builtin::BuiltinConfig::validate)
            }
        }
    }

    /// Whether the proxy and final budgets are one evaluation (then every
    /// evaluation competes for the best architecture: `run::selection`).
    pub fn budgets_equal(&self) -> bool {
        match self {
            Self::Tabular(_) => true,
            Self::Command(c) => c.budgets.equal(),
            Self::Builtin(b) => b.budgets.equal(),
            Self::Slurm(c) => match &c.builtin {
                Some(b) => b.budgets.equal(),
                None => c.budgets.equal(),
            },
        }
    }

    /// Resolves the section's relative paths against `config_dir` (the
    /// config file's folder), so the section reads the same from anywhere.
    pub fn resolve_paths(&mut self, config_dir: &Path) -> Result<()> {
        match self {
            Self::Tabular(c) => c.nb201_csv = c.nb201_csv.take().map(|p| config_dir.join(p)),
            Self::Command(c) => c.cwd = Some(config_dir.join(c.cwd.take().unwrap_or_default())),
            Self::Builtin(c) => c.data.resolve_paths(config_dir),
            Self::Slurm(c) => {
                c.cwd = Some(config_dir.join(c.cwd.take().unwrap_or_default()));
                c.nas_search = c.nas_search.take().map(|p| config_dir.join(p));
                if let Some(b) = &mut c.builtin {
                    b.data.resolve_paths(config_dir);
                }
            }
        }
        Ok(())
    }

    /// Refuses a space this evaluator cannot measure, naming both.
    pub fn check_space(&self, space: &dyn AnySpace) -> Result<()> {
        let fits = match self {
            Self::Tabular(_) => tabular::measures(space),
            Self::Command(_) => true,
            Self::Builtin(_) => builtin::measures(space),
            Self::Slurm(c) => c.builtin.is_none() || builtin::measures(space),
        };
        anyhow::ensure!(
            fits,
            "evaluator.kind `{}` cannot measure the {} space: {}",
            self.kind(),
            space.name(),
            match self {
                Self::Tabular(_) => tabular::MEASURES,
                Self::Builtin(_) | Self::Slurm(_) => builtin::MEASURES,
                Self::Command(_) => "",
            }
        );
        Ok(())
    }

    /// Builds the evaluator for the space of `ctx` (checked with
    /// [`EvaluatorConfig::check_space`] first); models train on `device`.
    pub fn build<B: AutodiffBackend>(&self, ctx: &EvalContext, device: &B::Device) -> Result<Box<dyn Evaluator>> {
        self.check_space(ctx.space.as_ref())?;
        Ok(match self {
            Self::Tabular(c) => Box::new(tabular::TabularEvaluator::new(c)?),
            Self::Command(c) => Box::new(command::CommandEvaluator::new(c.clone(), ctx)?),
            Self::Builtin(c) => Box::new(builtin::BuiltinEvaluator::<B>::new(c, ctx, device.clone())?),
            Self::Slurm(c) => Box::new(slurm::SlurmEvaluator::new((**c).clone(), ctx)?),
        })
    }
}
