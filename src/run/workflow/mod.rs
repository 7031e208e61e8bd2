//! The workflow, stage by stage: sample the predictor's training data and
//! evaluate it (proxy budget), train the predictor, search with it, evaluate
//! the top-K (final budget), repeat for more rounds, report. The baselines
//! replace all of that with one stage of real-evaluation search. Every stage
//! can be interrupted and continued from the checkpoint. The decisions
//! about data are the pure functions of [`super::selection`].
//!
//! One file a stage: `train.rs` (the predictor's data and training),
//! `search.rs` (a round's search), `evaluate.rs` (evaluations and their
//! records), `report.rs`, `retry.rs` (`--retry-failed`), `baseline.rs` (the
//! baselines' one stage); this file the workflow's state and its driver.

mod baseline;
mod evaluate;
mod report;
mod retry;
mod search;
mod train;

use std::collections::HashSet;

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;

use super::config::{PredictorSection, RunConfig};
use super::evaluations::Evaluations;
use super::records::{EvalRecord, Phase};
use super::run_dir::RunDir;
use super::state::{RunState, Stage};
use crate::eval::{Budget, Evaluator};
use crate::latency::source::LatencySource;
use crate::space::SearchSpace;

/// How this process drives the run (from the command line).
#[derive(Clone, Debug, Default)]
pub struct DriveOptions {
    /// No progress bars or progress lines.
    pub quiet: bool,
    /// Evaluate again the architectures whose last evaluation failed.
    pub retry_failed: bool,
    /// With `retry_failed`: keep the predictors and searches already made
    /// even where they learnt without an evaluation that succeeds now.
    pub keep_later_stages: bool,
    /// The run directory as the user named it (for the commands we print).
    pub run_dir: String,
    /// The config file the run came from, when known (for the commands we print).
    pub config_file: Option<std::path::PathBuf>,
}

/// A run in progress on space `S` and backend `B`.
pub struct Workflow<'a, S: SearchSpace, B: AutodiffBackend> {
    /// The run's latency source (`latency:`), which also prices the searches' space.
    latency: Option<&'a LatencySource>,
    cfg: &'a RunConfig,
    space: &'a S,
    dir: &'a RunDir,
    evaluator: &'a dyn Evaluator,
    device: B::Device,
    state: RunState,
    evals: Evaluations,
    opts: &'a DriveOptions,
    quiet: bool,
    /// Errors of this process's evaluations while none has succeeded yet
    /// (`evaluator.stop_after_failures` of them stop the run).
    first_failures: Vec<String>,
    succeeded: bool,
}

impl<'a, S: SearchSpace, B: AutodiffBackend> Workflow<'a, S, B> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        latency: Option<&'a LatencySource>,
        cfg: &'a RunConfig,
        space: &'a S,
        dir: &'a RunDir,
        evaluator: &'a dyn Evaluator,
        device: B::Device,
        state: RunState,
        evals: Vec<EvalRecord>,
        opts: &'a DriveOptions,
    ) -> Self {
        let quiet = opts.quiet;
        let evals = Evaluations::new(evals, cfg.rules());
        Self {
            latency,
            cfg,
            space,
            dir,
            evaluator,
            device,
            state,
            evals,
            opts,
            quiet,
            first_failures: Vec::new(),
            succeeded: false,
        }
    }

    /// How many rounds' predictors are trained, from the stage.
    fn trained_rounds(&self) -> usize {
        match self.state.stage {
            Stage::SampleData | Stage::EvaluateData | Stage::Baseline => 0,
            Stage::Train | Stage::Report | Stage::Done => self.state.round,
            Stage::Search | Stage::EvaluateFinal => self.state.round + 1,
        }
    }

    fn save(&self) -> Result<()> {
        self.state.save(&self.dir.path("checkpoint.json"))
    }

    fn say(&self, line: &str) {
        self.dir.log(line);
        if !self.quiet {
            eprintln!("{line}");
        }
    }

    fn evaluated_keys(&self) -> HashSet<String> {
        self.evals.keys().clone()
    }

    fn predictor_section(&self) -> &'a PredictorSection {
        self.cfg.predictor.as_ref().expect("checked by RunConfig::load")
    }

    /// Advances stage by stage, checkpointing after each, until the run is done.
    pub fn drive(&mut self) -> Result<()> {
        if self.opts.retry_failed {
            self.retry_failed()?;
        }
        // evaluations a killed process recorded but did not time yet: before anything reads them
        self.time_latencies()?;
        loop {
            match self.state.stage {
                Stage::SampleData => self.sample_data()?,
                Stage::EvaluateData => {
                    let picks = self.state.data.clone();
                    self.evaluate(&picks, Phase::Data, 0, Budget::Proxy, 1, false)?;
                    self.draw_pictures();
                    self.state.stage = Stage::Train;
                }
                Stage::Train => self.train()?,
                Stage::Search => self.search()?,
                Stage::EvaluateFinal => {
                    let picks = self.state.top_k.clone();
                    let repeats = self.repeats(Phase::Final);
                    self.evaluate(&picks, Phase::Final, self.state.round, Budget::Final, repeats, false)?;
                    self.draw_pictures();
                    self.state.round += 1;
                    let rounds = self.cfg.search.rounds;
                    self.state.stage = if self.state.round < rounds { Stage::Train } else { Stage::Report };
                }
                Stage::Baseline => self.baseline()?,
                Stage::Report => {
                    self.confirm_best()?;
                    self.evaluate_reference()?;
                    self.report()?;
                    self.state.stage = Stage::Done;
                }
                Stage::Done => return Ok(()),
            }
            self.save()?;
        }
    }
}
