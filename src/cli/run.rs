//! `run`, `resume`, `cancel`, `eval-one`, `best` and `predict`: the
//! commands of one run directory.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use nas_search::backend::DeviceKind;
use nas_search::run;

use super::finished;

#[derive(clap::Args)]
pub struct RunArgs {
    /// The run config, e.g. experiments/quickstart.yaml.
    pub config: PathBuf,
    /// Run directory (default: runs/<name>).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// Seed of every random choice (overrides the config's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Continue the run in the run directory from its checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Resume even though the config changed.
    #[arg(long)]
    pub force: bool,
    /// Override a config value, e.g. --set search.top_k=5 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// With --resume: evaluate again the architectures whose last evaluation failed, in every stage.
    #[arg(long)]
    pub retry_failed: bool,
    /// With --retry-failed: keep the predictors and searches already made, even where they learnt
    /// without an evaluation that succeeds now (default: train again from the first such round).
    #[arg(long)]
    pub keep_later_stages: bool,
    /// No progress bars or progress lines.
    #[arg(long)]
    pub quiet: bool,
}

/// Run the whole workflow of a run config: predictor data, predictor, search, top-K evaluation, report.
pub fn run(a: RunArgs) -> Result<ExitCode> {
    let RunArgs { config, run_dir, seed, resume, force, overrides, retry_failed, keep_later_stages, quiet } = a;
    if retry_failed && !resume {
        anyhow::bail!("--retry-failed continues a run: it needs --resume");
    }
    if keep_later_stages && !retry_failed {
        anyhow::bail!("--keep-later-stages goes with --retry-failed");
    }
    let req = run::RunRequest {
        config: Some(config),
        overrides,
        run_dir,
        seed,
        resume,
        force,
        quiet,
        retry_failed,
        keep_later_stages,
        evaluator: None,
    };
    finished(&run::execute(req)?)
}

#[derive(clap::Args)]
pub struct ResumeArgs {
    /// The run directory (it holds checkpoint.json).
    pub run_dir: PathBuf,
    /// Evaluate again the architectures whose last evaluation failed, in every stage (after fixing
    /// the evaluator); a round whose predictor learnt without one that succeeds now is trained and
    /// searched again.
    #[arg(long)]
    pub retry_failed: bool,
    /// With --retry-failed: keep the predictors and searches already made, even where they learnt
    /// without an evaluation that succeeds now.
    #[arg(long)]
    pub keep_later_stages: bool,
    /// Continue with this config (e.g. the one you fixed the evaluator in) instead of the copy the
    /// run directory keeps: it may change how evaluations run (command, cwd, timeouts, retries,
    /// workers, Slurm settings), not what is measured (space, budgets, data, seed, search).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// With --config: override a value of it (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", requires = "config")]
    pub overrides: Vec<String>,
    /// No progress bars or progress lines.
    #[arg(long)]
    pub quiet: bool,
}

/// Continue an interrupted run from its directory.
pub fn resume(a: ResumeArgs) -> Result<ExitCode> {
    let ResumeArgs { run_dir, retry_failed, keep_later_stages, config, overrides, quiet } = a;
    if keep_later_stages && !retry_failed {
        anyhow::bail!("--keep-later-stages goes with --retry-failed");
    }
    let dir = run::execute(run::RunRequest {
        config,
        overrides,
        run_dir: Some(run_dir),
        seed: None,
        resume: true,
        force: false,
        quiet,
        retry_failed,
        keep_later_stages,
        evaluator: None,
    })?;
    finished(&dir)
}

#[derive(clap::Args)]
pub struct CancelArgs {
    /// The run directory.
    pub run_dir: PathBuf,
}

/// Cancel the Slurm jobs a run has in flight (scancel); a later resume
/// records them as cancelled evaluations.
pub fn cancel(a: CancelArgs) -> Result<ExitCode> {
    let CancelArgs { run_dir } = a;
    let jobs = nas_search::eval::slurm::cancel(&run_dir)?;
    if jobs.is_empty() {
        println!("{}: no Slurm jobs in flight", run_dir.display());
    } else {
        println!(
            "cancelled Slurm jobs {}; `{}` records them as cancelled and goes on",
            jobs.join(" "),
            nas_search::invocation::command(&format!(
                "resume {}",
                nas_search::invocation::shell_word(&run_dir.to_string_lossy())
            ))
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct EvalOneArgs {
    /// A run directory's config.yaml, or a run config.
    pub config: PathBuf,
    /// The genotype.
    #[arg(long)]
    pub genotype: String,
    /// The budget: proxy or final.
    #[arg(long, default_value = "final")]
    pub budget: String,
    /// The key that seeds its training, as in the run (default: the genotype's canonical text).
    #[arg(long)]
    pub key: Option<String>,
    /// Where it trains (default: the config's `device`).
    #[arg(long, value_enum)]
    pub device: Option<DeviceKind>,
}

/// Evaluate one architecture with a run config's built-in trainer and
/// print the result line (what a Slurm task of `builtin:` runs).
pub fn eval_one(a: EvalOneArgs) -> Result<ExitCode> {
    let EvalOneArgs { config, genotype, budget, key, device } = a;
    let budget = match budget.as_str() {
        "proxy" => nas_search::eval::Budget::Proxy,
        "final" => nas_search::eval::Budget::Final,
        other => anyhow::bail!("--budget must be proxy or final, got {other}"),
    };
    let outcome = nas_search::eval::one::eval_one(&config, &genotype, budget, key.as_deref(), device)?;
    if !outcome.ok() {
        anyhow::bail!("evaluation failed: {}", outcome.error);
    }
    println!("{}", nas_search::eval::one::result_line(&outcome));
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct BestArgs {
    /// The run directory.
    pub run_dir: PathBuf,
    /// text (default), darts (a Genotype(...) line for genotypes.py), ofa (the arch dict), json.
    #[arg(long, value_enum, default_value = "text")]
    pub format: nas_search::inspect::BestFormat,
}

/// Print the best architecture of a run (the best so far while it runs).
pub fn best(a: BestArgs) -> Result<ExitCode> {
    let BestArgs { run_dir, format } = a;
    // the architecture on stdout (so `$(nas-search best DIR)` is it), what it is on stderr
    let best = nas_search::inspect::best(&run_dir, format)?;
    if let Some(note) = &best.unfinished {
        eprintln!("{note}");
    }
    println!("{}", best.text);
    if let Some(detail) = best.detail {
        eprintln!("{detail}");
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct PredictArgs {
    /// A run directory (its last round's predictor) or a `predictor train` directory.
    pub dir: PathBuf,
    /// Genotypes in the space's text form.
    pub genotypes: Vec<String>,
    /// A file with one genotype per line (added after GENOTYPES).
    #[arg(long)]
    pub file: Option<PathBuf>,
}

/// Print a trained predictor's predicted accuracy (%) for genotypes, one line each: SCORE<TAB>GENOTYPE.
pub fn predict(a: PredictArgs) -> Result<ExitCode> {
    let PredictArgs { dir, mut genotypes, file } = a;
    if let Some(file) = file {
        let text = std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
        genotypes.extend(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from));
    }
    if genotypes.is_empty() {
        anyhow::bail!("no genotype given (as arguments or with --file)");
    }
    let scores = nas_search::inspect::predict_scores(&dir, &genotypes)?;
    for (g, s) in genotypes.iter().zip(scores) {
        println!("{s}\t{g}");
    }
    Ok(ExitCode::SUCCESS)
}
