//! The `nas-search` command line: the command tree (clap) and its dispatch,
//! one file per group of commands, each parsing its arguments and handing
//! them to the library.

mod bench;
mod data;
mod latency;
mod predictor;
mod run;
mod serve;
mod space;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "nas-search", version, about = "Neural architecture search with a NAR-Former predictor")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the whole workflow of a run config: predictor data, predictor, search, top-K evaluation, report.
    Run(run::RunArgs),
    /// Continue an interrupted run from its directory.
    Resume(run::ResumeArgs),
    /// Cancel the Slurm jobs a run has in flight (scancel); a later resume
    /// records them as cancelled evaluations.
    Cancel(run::CancelArgs),
    /// Evaluate one architecture with a run config's built-in trainer and
    /// print the result line (what a Slurm task of `builtin:` runs).
    EvalOne(run::EvalOneArgs),
    /// Print the best architecture of a run (the best so far while it runs).
    Best(run::BestArgs),
    /// Draw a run's plots as SVG (progress, predicted vs measured, predictor training, accuracy vs cost,
    /// best architecture); several run directories: their progress, one line per method.
    Plot(serve::PlotArgs),
    /// Serve a live, read-only page over run directories: every run's status and best so far, a run's
    /// pictures, evaluations, top-K, config and log as the run goes, several runs compared.
    Serve(serve::ServeArgs),
    /// Print a trained predictor's predicted accuracy (%) for genotypes, one line each: SCORE<TAB>GENOTYPE.
    Predict(run::PredictArgs),
    /// Train and evaluate architecture performance predictors.
    #[command(subcommand)]
    Predictor(predictor::PredictorCmd),
    /// Inspect a search space: sample genotypes, cost one.
    #[command(subcommand)]
    Space(space::SpaceCmd),
    /// Print speed figures.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Fetch and check data sets.
    #[command(subcommand)]
    Data(data::DataCmd),
    /// Measure networks' latency on this machine, and per-unit look-up tables.
    #[command(subcommand)]
    Latency(latency::LatencyCmd),
}

/// Runs the command `cli` names.
pub fn handle(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Run(a) => run::run(a),
        Command::Resume(a) => run::resume(a),
        Command::Cancel(a) => run::cancel(a),
        Command::EvalOne(a) => run::eval_one(a),
        Command::Best(a) => run::best(a),
        Command::Predict(a) => run::predict(a),
        Command::Plot(a) => serve::plot(a),
        Command::Serve(a) => serve::serve(a),
        Command::Predictor(c) => predictor::handle(c).map(|()| ExitCode::SUCCESS),
        Command::Space(c) => space::handle(c).map(|()| ExitCode::SUCCESS),
        Command::Bench(c) => bench::handle(c).map(|()| ExitCode::SUCCESS),
        Command::Data(c) => data::handle(c).map(|()| ExitCode::SUCCESS),
        Command::Latency(c) => latency::handle(c).map(|()| ExitCode::SUCCESS),
    }
}

/// The command line exactly as run, with the binary named `nas-search`
/// (result tables record it; the backend column says which features).
fn command_line() -> String {
    let mut cmd = String::from("nas-search");
    for a in std::env::args().skip(1) {
        if a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=,:".contains(c)) {
            cmd += &format!(" {a}");
        } else {
            cmd += &format!(" '{}'", a.replace('\'', r"'\''"));
        }
    }
    cmd
}

/// A finished run: prints its summary; with failed evaluations, a last line
/// that counts them per stage and gives the command that retries them, and
/// the exit status that says so ([`nas_search::run::EXIT_FAILED_EVALUATIONS`]).
fn finished(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let md = std::fs::read_to_string(dir.join("summary.md"))?;
    println!("{md}run directory: {}", dir.display());
    Ok(match nas_search::run::failed_at_end(dir)? {
        Some(line) => {
            println!("{line}");
            ExitCode::from(nas_search::run::EXIT_FAILED_EVALUATIONS)
        }
        None => ExitCode::SUCCESS,
    })
}
