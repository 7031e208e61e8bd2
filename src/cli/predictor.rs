//! `predictor train` and `predictor eval`: predictor experiments.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use nas_search::predictor::experiment::{self, TrainRequest};

use super::command_line;

#[derive(Subcommand)]
pub enum PredictorCmd {
    /// Train a predictor (resumes from the output directory's checkpoint).
    Train {
        /// A predictor experiment config, e.g. experiments/nb201_predictor_cpu.yaml.
        config: PathBuf,
        /// Training directory (default: the config's output_dir, else runs/predictor/<config name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override a config value, e.g. --set train.epochs=10 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Add the result as a row of this CSV table (replacing the row of the same training directory).
        #[arg(long)]
        results: Option<PathBuf>,
        /// Discard an earlier training in the output directory instead of resuming it.
        #[arg(long)]
        restart: bool,
        /// No per-epoch progress lines.
        #[arg(long)]
        quiet: bool,
    },
    /// Evaluate the best weights of a training on all NAS-Bench-201 architectures,
    /// as trained (with the config frozen in its directory).
    Eval {
        /// A config to check against the one the training used (optional).
        config: Option<PathBuf>,
        /// The training directory.
        #[arg(long)]
        checkpoint: PathBuf,
        /// Override a value of CONFIG before the check (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
}

/// Runs one `predictor` command.
pub fn handle(cmd: PredictorCmd) -> Result<()> {
    match cmd {
        PredictorCmd::Train { config, out, overrides, results, restart, quiet } => {
            let req = TrainRequest {
                config_path: config,
                overrides,
                out_dir: out,
                results,
                restart,
                quiet,
                command: command_line(),
            };
            print_outcome(&experiment::run_train(req)?);
        }
        PredictorCmd::Eval { config, checkpoint, overrides } => {
            print_outcome(&experiment::run_eval(config.as_deref(), &overrides, &checkpoint)?);
        }
    }
    Ok(())
}

fn print_outcome(o: &experiment::Outcome) {
    match o {
        experiment::Outcome::Accuracy(m) => print_metrics(m),
        experiment::Outcome::Latency(rows) => experiment::print_latency_table(rows),
    }
}

fn print_metrics(m: &experiment::TestMetrics) {
    println!(
        "tau_all {:.4} ({} archs)  tau_rest {:.4} ({} archs)  MAPE {:.4}  ErrBnd(0.1) {:.4}  tau_train {:.4} ({} archs)",
        m.tau_all, m.archs_all, m.tau_rest, m.archs_rest, m.mape, m.errbnd, m.tau_train, m.archs_train
    );
}
