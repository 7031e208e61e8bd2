//! `nas-search run`: one YAML file drives the whole workflow. This module
//! owns the run directory, its checkpoint and resuming; `phases` sequences
//! the work.

pub mod config;
pub mod fitness;
pub mod phases;
pub mod run_dir;
pub mod state;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::space::{SearchSpace, SpaceConfig, SpaceTask};
use config::{RunConfig, Strategy};
use phases::Workflow;
use run_dir::RunDir;
use state::{RunState, Stage};

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

/// Runs (or resumes) a run to its end; returns the run directory.
pub fn run(req: RunRequest) -> Result<PathBuf> {
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
        Some(s) if resume => s,
        _ => RunState::new(
            &config_dir,
            if cfg.strategy == Strategy::NarFormerEvolution { Stage::SampleData } else { Stage::Baseline },
        ),
    };
    let space_path = state.config_dir.join(&cfg.space);
    let space = SpaceConfig::load(&space_path).context("loading the space (key `space`)")?;
    let ctx = crate::eval::builtin::RunContext { space: &space, device: cfg.device, seed: cfg.seed };
    let evaluator =
        cfg.evaluator.build(&state.config_dir, &run_dir, &ctx).context("setting up the evaluator (key `evaluator`)")?;
    let evals = dir.load_evaluations()?;
    if !req.quiet && !evals.is_empty() {
        eprintln!("resuming {}: {} evaluations already finished", run_dir.display(), evals.len());
    }
    dir.log(&format!("start: stage {:?}, round {}, {} evaluations on record", state.stage, state.round, evals.len()));
    struct Go<'a> {
        cfg: &'a RunConfig,
        dir: &'a RunDir,
        evaluator: &'a dyn crate::eval::Evaluator,
        state: RunState,
        evals: Vec<run_dir::EvalRecord>,
        quiet: bool,
    }
    impl SpaceTask for Go<'_> {
        type Output = Result<()>;
        fn run<S: SearchSpace>(self, space: &S) -> Result<()> {
            let mut wf = Workflow {
                cfg: self.cfg,
                space,
                dir: self.dir,
                evaluator: self.evaluator,
                state: self.state,
                evals: self.evals,
                quiet: self.quiet,
            };
            wf.run()
        }
    }
    space.dispatch(Go { cfg: &cfg, dir: &dir, evaluator: evaluator.as_ref(), state, evals, quiet: req.quiet })??;
    Ok(run_dir)
}
