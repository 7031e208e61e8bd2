//! `nas-search run` / `resume`: one YAML file drives the whole workflow.
//! This module sets a run up (config, run directory, checkpoint, space,
//! evaluator), picks the backend once, and hands over to the
//! [`workflow::Workflow`], which sequences the stages.

pub mod config;
pub mod costed;
pub mod evaluations;
pub mod fitness;
pub mod records;
pub mod run_dir;
pub mod selection;
pub mod state;
pub mod strategy;
pub mod workflow;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use burn::tensor::backend::AutodiffBackend;

use crate::backend::{BackendTask, dispatch};
use crate::eval::{EvalContext, Evaluator};
use crate::space::{AnySpace, SearchSpace, SpaceTask};
use config::RunConfig;
use records::EvalRecord;
use run_dir::RunDir;
use state::{RunState, Stage};
use workflow::{DriveOptions, Workflow};

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
    /// Evaluate again the architectures whose last evaluation failed.
    pub retry_failed: bool,
    /// With `retry_failed`: keep the rounds already made as they are.
    pub keep_later_stages: bool,
    /// An evaluator that replaces the config's (`nas-search bench driver`'s instant one).
    pub evaluator: Option<Box<dyn Evaluator>>,
}

/// A run ready to go: its config (resolved: self-contained), directory and checkpoint.
struct Setup {
    cfg: RunConfig,
    run_dir: PathBuf,
    dir: RunDir,
    state: RunState,
    opts: DriveOptions,
    /// [`RunRequest::evaluator`].
    evaluator: Option<Box<dyn Evaluator>>,
}

/// Runs (or resumes) a run to its end; returns the run directory.
pub fn execute(mut req: RunRequest) -> Result<PathBuf> {
    let mut setup = set_up(&req)?;
    setup.evaluator = req.evaluator.take();
    // a run that times networks does it on the configured threads, as its rows say (before anything computes)
    if let Some(l) = setup.cfg.latency.as_ref().filter(|l| l.measure == crate::latency::source::Measure::Device)
        && let Some(note) = crate::latency::measure::bind_matrix_threads(l.threads)
    {
        setup.dir.log(&format!("latency: {note}"));
    }
    let slurm = if matches!(setup.cfg.evaluator.config, crate::eval::EvaluatorConfig::Slurm(_)) {
        format!(
            "; its Slurm jobs keep running (resume re-attaches to them; {} stops them)",
            crate::invocation::command(&format!("cancel {}", crate::invocation::shell_word(&setup.opts.run_dir)))
        )
    } else {
        String::new()
    };
    crate::interrupt::on_interrupt(format!(
        "interrupted; continue with: {}{slurm}",
        crate::invocation::command(&format!("resume {}", crate::invocation::shell_word(&setup.opts.run_dir)))
    ));
    let run_dir = setup.run_dir.clone();
    let outcome = dispatch(setup.cfg.device, OnBackend(setup)).and_then(|r| r);
    if let Err(e) = &outcome {
        // the run directory says why it stopped (`nas-search serve` shows it)
        run_dir::append_log(&run_dir, &format!("{STOPPED}{e:#}"));
    }
    outcome.map(|()| run_dir)
}

/// The exit status of `run` and `resume` when the run finished but some
/// architectures' last evaluation failed.
pub const EXIT_FAILED_EVALUATIONS: u8 = 3;

/// For a finished run whose last evaluation of some architectures failed:
/// the line that says how many, per stage, and the command that evaluates
/// them again (the run's last terminal line). None when none failed.
pub fn failed_at_end(run_dir: &Path) -> Result<Option<String>> {
    let stages = records::failures_by_stage(&RunDir::read_evaluations(run_dir)?);
    let failed: usize = stages.iter().map(|s| s.2).sum();
    Ok((failed > 0).then(|| {
        format!(
            "{failed} evaluations failed ({}); after fixing their cause, evaluate them again with: {}",
            records::describe_failures(&stages),
            crate::invocation::retry_command(run_dir)
        )
    }))
}

/// How `run.log` begins the line of the error that stopped a run.
pub const STOPPED: &str = "stopped: ";

/// The folder of a config file (relative paths in it resolve against it).
fn folder_of(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Reads the config (the file's, resolved; or, on `resume`, the one the run
/// directory keeps), checks the directory and its checkpoint, and freezes
/// the config there.
fn set_up(req: &RunRequest) -> Result<Setup> {
    let resume = req.resume || req.config.is_none();
    let run_dir = match (&req.run_dir, &req.config) {
        (Some(dir), _) => dir.clone(),
        (None, Some(path)) => {
            let cfg = RunConfig::load(path, &req.overrides)?;
            let stem = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "run".into());
            PathBuf::from("runs").join(cfg.name.clone().unwrap_or(stem))
        }
        (None, None) => bail!("resume needs a run directory"),
    };
    let checkpoint = run_dir.join("checkpoint.json");
    if resume && !checkpoint.is_file() {
        if !run_dir.exists() {
            let start = if req.config.is_some() {
                "leave out --resume to start one there".to_string()
            } else {
                format!("start one with `{}`", crate::invocation::command("run CONFIG --run-dir DIR"))
            };
            bail!("{} does not exist: there is no run to resume ({start})", run_dir.display());
        }
        bail!("{} is not a run directory (it has no checkpoint.json): there is nothing to resume", run_dir.display());
    }
    let space_source = match &req.config {
        Some(path) => format!("the space of {}", path.display()),
        None => format!("the space kept in {}", run_dir.join("config.yaml").display()),
    };
    if checkpoint.exists() && !resume {
        bail!("{} already holds a run; pass --resume to continue it, or --run-dir for a new one", run_dir.display());
    }
    // a config file is read and checked before anything is created: a refused run leaves nothing behind
    let from_file = match &req.config {
        Some(path) => {
            let mut cfg = RunConfig::load(path, &req.overrides)?;
            cfg.resolve(folder_of(path))?;
            check_setup(&mut cfg, req.seed, &space_source)?;
            Some((cfg, std::path::absolute(path)?))
        }
        None => None,
    };
    let dir = RunDir::open(&run_dir)?;
    let saved = if resume { RunState::load(&checkpoint)? } else { None };
    if let Some(state) = &saved {
        upgrade_frozen_config(&dir, state)?;
    }
    let (cfg, config_file) = match from_file {
        Some((cfg, file)) => (cfg, Some(file)),
        None => {
            let mut cfg = RunConfig::load(&dir.path("config.yaml"), &req.overrides)?;
            check_setup(&mut cfg, req.seed, &space_source)?;
            (cfg, None)
        }
    };
    dir.freeze_config(&serde_yaml::to_string(&cfg)?, req.force)?;
    let mut state = match saved {
        Some(s) => {
            dir.generations_to_percent()?;
            s
        }
        None => RunState::new(if cfg.strategy.uses_predictor() { Stage::SampleData } else { Stage::Baseline }),
    };
    if config_file.is_some() {
        state.config_file = config_file;
    }
    // checkpointed at once, so the directory is a run directory from now on
    state.save(&checkpoint)?;
    let opts = DriveOptions {
        quiet: req.quiet,
        retry_failed: req.retry_failed,
        keep_later_stages: req.keep_later_stages,
        run_dir: run_dir.display().to_string(),
        config_file: state.config_file.clone(),
    };
    Ok(Setup { cfg, run_dir, dir, state, opts, evaluator: None })
}

/// Applies `--seed` and checks that the config's evaluator can measure its
/// space (`space_source` names where the space came from).
fn check_setup(cfg: &mut RunConfig, seed: Option<u64>, space_source: &str) -> Result<()> {
    if let Some(seed) = seed {
        cfg.seed = seed;
    }
    let space = cfg.space_config().build()?;
    cfg.evaluator.config.check_space(space.as_ref()).with_context(|| format!("key `evaluator`, {space_source}"))?;
    if let Some(r) = &cfg.search.reference {
        space.key_of(&r.genotype).with_context(|| {
            format!("key `search.reference.genotype` ({}) is not an architecture of {space_source}", r.name)
        })?;
    }
    if cfg.strategy == crate::run::config::Strategy::Bananas {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0);
        let graphs: Vec<_> = (0..8).map(|_| space.graph_of(&space.sample_text(&mut rng))).collect::<Result<_>>()?;
        crate::search::bananas::check_space(&cfg.search.bananas, space_source, &graphs)?;
    }
    // a baseline cannot evaluate more distinct architectures than a space that can be listed has
    let queries = cfg.search.queries.filter(|_| !cfg.strategy.uses_predictor());
    if let (Some(queries), Some(all)) = (queries, queries.and_then(|_| space.all_texts())) {
        let keys: std::collections::HashSet<String> =
            all.iter().map(|t| space.key_of(t)).collect::<Result<_>>().context("listing the space")?;
        if queries > keys.len() {
            bail!(
                "key `search.queries`: {queries} is more than the {} distinct architectures of {space_source} \
                 (architectures that compute the same network counted once); ask for at most {}",
                keys.len(),
                keys.len()
            );
        }
    }
    Ok(())
}

/// A run directory of the first format keeps its config as written (the
/// space a path, relative paths) and the config's folder in its checkpoint:
/// rewrites the config resolved, so the directory needs nothing else.
fn upgrade_frozen_config(dir: &RunDir, state: &RunState) -> Result<()> {
    let path = dir.path("config.yaml");
    let mut cfg = RunConfig::load(&path, &[])?;
    if cfg.is_resolved() {
        return Ok(());
    }
    let base = state.config_dir.as_deref().with_context(|| {
        format!("{} names its space by a relative path but the checkpoint has no config folder", path.display())
    })?;
    cfg.resolve(base).with_context(|| {
        format!("{} was written by an earlier version: resolving its paths against {}", path.display(), base.display())
    })?;
    crate::atomic_file::write_atomic(&path, serde_yaml::to_string(&cfg)?.as_bytes())
}

/// The run on the backend its config names: builds the evaluator there,
/// then runs the workflow on the configured space.
struct OnBackend(Setup);

impl BackendTask for OnBackend {
    type Output = Result<()>;

    fn with_backend<B: AutodiffBackend>(self, device: B::Device) -> Result<()> {
        let mut s = self.0;
        stop_leftovers(&s)?;
        let any: Arc<dyn AnySpace> = Arc::from(s.cfg.space_config().build()?);
        let ctx = EvalContext { space: any.clone(), run_dir: &s.run_dir, seed: s.cfg.seed };
        let evaluator = match s.evaluator.take() {
            Some(e) => e,
            None => s
                .cfg
                .evaluator
                .config
                .build::<B>(&ctx, &device)
                .context("setting up the evaluator (key `evaluator`)")?,
        };
        let evals = s.dir.load_evaluations()?;
        if !s.opts.quiet && !evals.is_empty() {
            let stages = records::failures_by_stage(&evals);
            let failed: usize = stages.iter().map(|s| s.2).sum();
            eprintln!(
                "resuming {}: {} evaluations on record ({failed} of them failed{}{})",
                s.run_dir.display(),
                evals.len(),
                if failed > 0 { format!(": {}", records::describe_failures(&stages)) } else { String::new() },
                match (s.opts.retry_failed, failed) {
                    (true, 1..) => "; evaluated again now",
                    (false, 1..) => "; --retry-failed evaluates them again",
                    _ => "",
                }
            );
        }
        s.dir.log(&format!(
            "start: stage {:?}, round {}, {} evaluations on record",
            s.state.stage,
            s.state.round,
            evals.len()
        ));
        let mut latency_files = None;
        let latency = match &s.cfg.latency {
            Some(l) => {
                let (source, warnings) =
                    crate::latency::source::LatencySource::open(l, any.as_ref(), s.cfg.device, |dir| {
                        Ok(Box::new(crate::predictor::latency::TrainedLatency::load(dir)?))
                    })
                    .context("key `latency`")?;
                for w in warnings {
                    s.dir.log(&format!("warning: {w}"));
                    eprintln!("warning: {w}");
                }
                // what the search saw and the evaluations recorded must not change under a run
                // (a table that only gained rows has not changed)
                let now = l.fingerprint()?;
                let changed = || {
                    anyhow::anyhow!(
                        "key `latency`: the files it reads ({}) changed since this run started; restore them, or start a new run",
                        [&l.table, &l.lut, &l.predictor_dir]
                            .into_iter()
                            .flatten()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                use crate::latency::inputs;
                match &s.state.latency_files {
                    Some(then) if then.starts_with("v2:") && inputs::are_kept(l, &s.dir.root) => {
                        if *then != now {
                            anyhow::bail!(
                                "key `latency`: the predictor in {} changed since this run started; restore it, or start a new run",
                                l.predictor_dir.as_ref().map_or(String::new(), |p| p.display().to_string())
                            );
                        }
                        for note in inputs::check_only_grown(l, &s.dir.root).context("key `latency`")? {
                            s.dir.log(&note);
                        }
                    }
                    // a run started before the tables were kept: their bytes must be the same
                    Some(then) if *then != l.fingerprint_v1()? => return Err(changed()),
                    Some(_) => {}
                    None => {
                        inputs::keep(l, &s.dir.root)?;
                        latency_files = Some(now);
                    }
                }
                Some(source)
            }
            None => None,
        };
        let task = InSpace::<B> {
            latency: latency.as_ref(),
            cfg: &s.cfg,
            dir: &s.dir,
            evaluator: evaluator.as_ref(),
            device,
            state: match latency_files {
                Some(fp) => {
                    let mut state = s.state.clone();
                    state.latency_files = Some(fp);
                    state.save(&s.dir.path("checkpoint.json"))?;
                    state
                }
                None => s.state.clone(),
            },
            evals,
            opts: &s.opts,
        };
        s.cfg.space_config().dispatch(task)?
    }
}

/// Stops what a previous driver of this run left running (evaluation
/// processes that outlived it: `crate::eval::process`) before anything is
/// evaluated, and says what it stopped (in `run.log` and on the terminal,
/// even with --quiet).
fn stop_leftovers(s: &Setup) -> Result<()> {
    use crate::eval::process;
    crate::interrupt::kill_marked_on_interrupt(process::run_mark(&s.run_dir)?);
    for l in process::stop_leftovers(&s.run_dir, process::STOP_GRACE)? {
        let line = format!(
            "stopped pid {} that this run's previous driver left running{}: {}{}",
            l.pid,
            l.workdir.as_ref().map_or(String::new(), |w| format!(" (evaluation in {})", w.display())),
            l.command,
            if l.killed {
                format!(" (SIGKILL: still running {} s after SIGTERM)", process::STOP_GRACE.as_secs())
            } else {
                String::new()
            }
        );
        s.dir.log(&line);
        eprintln!("{line}");
    }
    Ok(())
}

/// The workflow on the configured space `S`.
struct InSpace<'a, B: AutodiffBackend> {
    latency: Option<&'a crate::latency::source::LatencySource>,
    cfg: &'a RunConfig,
    dir: &'a RunDir,
    evaluator: &'a dyn Evaluator,
    device: B::Device,
    state: RunState,
    evals: Vec<EvalRecord>,
    opts: &'a DriveOptions,
}

impl<B: AutodiffBackend> SpaceTask for InSpace<'_, B> {
    type Output = Result<()>;

    fn with_space<S: SearchSpace + 'static>(self, space: &S) -> Result<()> {
        let costed = costed::Costed::new(space, self.latency);
        Workflow::<costed::Costed<S>, B>::new(
            self.latency,
            self.cfg,
            &costed,
            self.dir,
            self.evaluator,
            self.device,
            self.state,
            self.evals,
            self.opts,
        )
        .drive()
    }
}
