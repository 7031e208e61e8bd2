//! `nas-search run` / `resume`: one YAML file drives the whole workflow.
//! This module sets a run up (config, run directory, checkpoint, space,
//! evaluator), picks the backend once, and hands over to the
//! [`workflow::Workflow`], which sequences the stages.

pub mod config;
pub mod fitness;
pub mod progress;
pub mod records;
pub mod run_dir;
pub mod selection;
pub mod state;
pub mod workflow;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use burn::tensor::backend::AutodiffBackend;

use crate::backend::{BackendTask, dispatch};
use crate::eval::{EvalContext, Evaluator};
use crate::space::{AnySpace, SearchSpace, SpaceConfig, SpaceTask};
use config::RunConfig;
use records::EvalRecord;
use run_dir::RunDir;
use state::{RunState, Stage};
use workflow::Workflow;

/// What `nas-search run` / `resume` was asked to do.
pub struct RunRequest {
    /// The config file (`run`), or None to take the run directory's (`resume`).
    pub config: Option<PathBuf>,
    pub overrides: Vec<String>,
    pub run_dir: Option<PathBuf>,
    pub seed: Option<u64>,
    pub resume: bool,
    pub force: bool,
    pub quiet: bool,
}

/// A run ready to go: its config, directory, checkpoint and space.
struct Setup {
    cfg: RunConfig,
    run_dir: PathBuf,
    dir: RunDir,
    state: RunState,
    space: SpaceConfig,
    quiet: bool,
}

/// Runs (or resumes) a run to its end; returns the run directory.
pub fn execute(req: RunRequest) -> Result<PathBuf> {
    let setup = set_up(&req)?;
    let run_dir = setup.run_dir.clone();
    dispatch(setup.cfg.device, OnBackend(setup))??;
    Ok(run_dir)
}

/// Reads the config (the file's, or the run directory's on `resume`), the
/// checkpoint and the space; freezes the config in the run directory.
fn set_up(req: &RunRequest) -> Result<Setup> {
    let (mut cfg, config_dir, run_dir) = match &req.config {
        Some(path) => {
            let cfg = RunConfig::load(path, &req.overrides)?;
            let dir = req.run_dir.clone().unwrap_or_else(|| {
                let stem = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "run".into());
                PathBuf::from("runs").join(cfg.name.clone().unwrap_or(stem))
            });
            let config_dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
            let config_dir = if config_dir.as_os_str().is_empty() { PathBuf::from(".") } else { config_dir };
            (cfg, std::fs::canonicalize(&config_dir)?, dir)
        }
        None => {
            let dir = req.run_dir.clone().context("resume needs a run directory")?;
            let state = RunState::load(&dir.join("checkpoint.json"))?
                .with_context(|| format!("{} has no checkpoint.json: nothing to resume", dir.display()))?;
            let cfg = RunConfig::load(&dir.join("config.yaml"), &req.overrides)?;
            (cfg, state.config_dir, dir)
        }
    };
    if let Some(seed) = req.seed {
        cfg.seed = seed;
    }
    let resume = req.resume || req.config.is_none();
    let checkpoint = run_dir.join("checkpoint.json");
    if checkpoint.exists() && !resume {
        bail!("{} already holds a run; pass --resume to continue it, or --run-dir for a new one", run_dir.display());
    }
    let dir = RunDir::new(&run_dir)?;
    dir.freeze_config(&serde_yaml::to_string(&cfg)?, req.force)?;
    let state = match RunState::load(&checkpoint)? {
        Some(s) if resume => {
            dir.generations_to_percent()?;
            s
        }
        _ => {
            RunState::new(&config_dir, if cfg.strategy.uses_predictor() { Stage::SampleData } else { Stage::Baseline })
        }
    };
    let space_path = state.config_dir.join(&cfg.space);
    let space = SpaceConfig::load(&space_path).context("loading the space (key `space`)")?;
    cfg.evaluator.check_space(space.build()?.as_ref()).with_context(|| format!("space {}", space_path.display()))?;
    Ok(Setup { cfg, run_dir, dir, state, space, quiet: req.quiet })
}

/// The run on the backend its config names: builds the evaluator there,
/// then runs the workflow on the configured space.
struct OnBackend(Setup);

impl BackendTask for OnBackend {
    type Output = Result<()>;

    fn with_backend<B: AutodiffBackend>(self, device: B::Device) -> Result<()> {
        let s = self.0;
        let any: Arc<dyn AnySpace> = Arc::from(s.space.build()?);
        let ctx = EvalContext { space: any, config_dir: &s.state.config_dir, run_dir: &s.run_dir, seed: s.cfg.seed };
        let evaluator =
            s.cfg.evaluator.build::<B>(&ctx, &device).context("setting up the evaluator (key `evaluator`)")?;
        let evals = s.dir.load_evaluations()?;
        if !s.quiet && !evals.is_empty() {
            eprintln!("resuming {}: {} evaluations already finished", s.run_dir.display(), evals.len());
        }
        s.dir.log(&format!(
            "start: stage {:?}, round {}, {} evaluations on record",
            s.state.stage,
            s.state.round,
            evals.len()
        ));
        let task = InSpace::<B> {
            cfg: &s.cfg,
            dir: &s.dir,
            evaluator: evaluator.as_ref(),
            device,
            state: s.state.clone(),
            evals,
            quiet: s.quiet,
        };
        s.space.dispatch(task)?
    }
}

/// The workflow on the configured space `S`.
struct InSpace<'a, B: AutodiffBackend> {
    cfg: &'a RunConfig,
    dir: &'a RunDir,
    evaluator: &'a dyn Evaluator,
    device: B::Device,
    state: RunState,
    evals: Vec<EvalRecord>,
    quiet: bool,
}

impl<B: AutodiffBackend> SpaceTask for InSpace<'_, B> {
    type Output = Result<()>;

    fn with_space<S: SearchSpace + 'static>(self, space: &S) -> Result<()> {
        Workflow::<S, B>::new(
            self.cfg,
            space,
            self.dir,
            self.evaluator,
            self.device,
            self.state,
            self.evals,
            self.quiet,
        )
        .drive()
    }
}
