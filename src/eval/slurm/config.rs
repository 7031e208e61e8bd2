//! `evaluator: { kind: slurm, ... }`: the keys, their defaults and checks.

use std::path::PathBuf;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::backend::DeviceKind;
use crate::eval::builtin::BuiltinConfig;
use crate::eval::{Budgets, free_budgets};

/// `evaluator: { kind: slurm, ... }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmConfig {
    /// The command a task runs (placeholders as the `command` evaluator's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Or: the built-in trainer's settings; a task runs `nas-search eval-one`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<Box<BuiltinConfig>>,
    /// The folder a task's command runs in (default: the config file's).
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    #[serde(default)]
    pub partition: Option<String>,
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub qos: Option<String>,
    /// Time limit per task, in Slurm's format (`4:00:00`, `1-00:00:00`).
    #[serde(default)]
    pub time: Option<String>,
    #[serde(default)]
    pub cpus_per_task: Option<u32>,
    /// Memory per node, in Slurm's format (`16G`).
    #[serde(default)]
    pub mem: Option<String>,
    /// GPUs per task (`--gres=gpu:N`).
    #[serde(default)]
    pub gpus_per_task: Option<u32>,
    /// Tasks of an array running at once (the `%P` of `--array`).
    #[serde(default)]
    pub max_parallel: Option<usize>,
    /// Further sbatch arguments, as given.
    #[serde(default)]
    pub sbatch_args: Vec<String>,
    /// Seconds between two `squeue` calls.
    #[serde(default = "d_poll")]
    pub poll_s: f64,
    /// Resubmissions of one architecture after infrastructure failures.
    #[serde(default = "d_requeue")]
    pub max_requeue: usize,
    /// Seconds a task Slurm says has ended may go without a readable
    /// `result.json` (shared storage can show a new file late) before it
    /// counts as lost.
    #[serde(default = "d_grace")]
    pub result_grace_s: f64,
    /// Seconds of a failing squeue, or of tasks held in a state the driver
    /// does not wait on, before a warning (repeated at most this often).
    #[serde(default = "d_stuck")]
    pub stuck_warn_s: f64,
    /// Settings written into each task's JSON file per budget (command only).
    #[serde(default, deserialize_with = "free_budgets")]
    pub budgets: Budgets<Value>,
    /// The nas-search binary the nodes run for `builtin` (default: this one;
    /// it must be on storage the nodes see).
    #[serde(default)]
    pub nas_search: Option<PathBuf>,
    /// Where `builtin` tasks train (default: the run's `device`, which is
    /// also where the driver trains the predictor): e.g. `cuda` on GPU nodes
    /// while the driver runs on a CPU login node.
    #[serde(default)]
    pub task_device: Option<DeviceKind>,
}

pub(super) fn d_poll() -> f64 {
    30.0
}
pub(super) fn d_requeue() -> usize {
    2
}
pub(super) fn d_grace() -> f64 {
    120.0
}
pub(super) fn d_stuck() -> f64 {
    3600.0
}

/// Slurm's `MaxArraySize` when `scontrol show config` does not say.
pub(super) const DEFAULT_MAX_ARRAY_SIZE: usize = 1001;

/// A duration key of this section (`evaluator.KEY`), checked as every config duration is.
pub(super) fn check_seconds(key: &str, value: f64, positive: bool) -> Result<()> {
    crate::config::check_seconds(&format!("evaluator.{key}"), value, !positive)
}

impl SlurmConfig {
    /// Refuses settings the evaluator cannot work with, naming the key.
    pub(crate) fn validate(&self) -> Result<()> {
        match (&self.command, &self.builtin) {
            (Some(c), None) if c.trim().is_empty() => bail!("evaluator.command is empty"),
            (Some(_), None) | (None, Some(_)) => {}
            _ => bail!(
                "evaluator: give either `command` (run on the nodes) or `builtin` (the built-in trainer), not both or neither"
            ),
        }
        check_seconds("poll_s", self.poll_s, true)?;
        check_seconds("result_grace_s", self.result_grace_s, false)?;
        check_seconds("stuck_warn_s", self.stuck_warn_s, true)?;
        if self.max_parallel == Some(0) {
            bail!("evaluator.max_parallel must be positive");
        }
        if let Some(a) = self.sbatch_args.iter().find(|a| a.starts_with("--requeue")) {
            bail!(
                "evaluator.sbatch_args: {a} is not allowed: only the driver resubmits tasks (it passes --no-requeue)"
            );
        }
        Ok(())
    }
}
