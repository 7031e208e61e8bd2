//! The tasks in flight, `RUN_DIR/slurm/inflight.json`: written before sbatch
//! runs and again with its job id, so a resumed run re-attaches to them; a
//! task leaves it only after its result is recorded. Also `cancel` (what
//! `nas-search cancel` stops).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::eval::Budget;

/// One architecture's task in flight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Task {
    pub(super) key: String,
    pub(super) genotype: String,
    pub(super) budget: Budget,
    pub(super) batch: usize,
    pub(super) index: usize,
    /// Set as soon as sbatch answers; None while it is being submitted.
    pub(super) job_id: Option<String>,
    /// Resubmissions so far.
    pub(super) requeues: usize,
}

impl Task {
    /// How squeue names it.
    pub(super) fn slurm_id(&self) -> Option<String> {
        self.job_id.as_ref().map(|j| format!("{j}_{}", self.index))
    }
}

/// `inflight.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct Inflight {
    pub(super) tasks: Vec<Task>,
    pub(super) next_batch: usize,
    /// This run's id in its job names, made once (absent in run directories
    /// written before it existed: their jobs are found by the old names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) run_id: Option<String>,
}

/// A new run id: 8 random hex digits.
pub(super) fn new_run_id() -> String {
    format!("{:08x}", rand::random::<u32>())
}

pub(super) fn load_inflight(root: &Path) -> Result<Inflight> {
    let path = root.join("inflight.json");
    if !path.exists() {
        return Ok(Inflight::default());
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is corrupt", path.display()))
}

/// `nas-search cancel RUN_DIR`: scancels the run's Slurm jobs in flight;
/// returns their ids. The next `resume` records them as cancelled.
pub fn cancel(run_dir: &Path) -> Result<Vec<String>> {
    let inflight = load_inflight(&run_dir.join("slurm"))?;
    let mut jobs: Vec<String> = inflight.tasks.iter().filter_map(|t| t.job_id.clone()).collect();
    jobs.sort();
    jobs.dedup();
    if jobs.is_empty() {
        return Ok(jobs);
    }
    let out = Command::new("scancel").args(&jobs).output().context("running scancel (is it on PATH?)")?;
    if !out.status.success() {
        bail!("scancel {} failed: {}", jobs.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(jobs)
}
