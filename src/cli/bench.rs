//! `bench ...`: the speed and noise figures (docs/speed.md).

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use nas_search::backend::DeviceKind;
use nas_search::bench;

#[derive(Subcommand)]
pub enum BenchCmd {
    /// Inference throughput and training-step time of the paper-size NAR-Former.
    Predictor {
        /// Where the model runs.
        #[arg(long, value_enum, default_value = "cpu")]
        device: DeviceKind,
        /// Timed repeats (after one warm-up); the median is printed.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// Also time the same model in PyTorch, in this run (needs a Python
        /// with torch: NAS_SEARCH_PYTHON, default python3).
        #[arg(long)]
        compare_torch: bool,
    },
    /// The driver's CPU use and squeue calls while it waits on a large job
    /// array on a Slurm cluster (tasks that sleep).
    Slurm {
        /// Tasks in the array.
        #[arg(long, default_value_t = 1000)]
        tasks: usize,
        /// Seconds each task sleeps.
        #[arg(long, default_value_t = 30.0)]
        sleep: f64,
        /// Seconds between squeue calls (the evaluator's poll_s).
        #[arg(long, default_value_t = 10.0)]
        poll: f64,
        /// Folder for the batch's files (on storage the nodes see).
        #[arg(long, default_value = "runs/bench-slurm")]
        dir: PathBuf,
        /// The partition (default: the cluster's default).
        #[arg(long)]
        partition: Option<String>,
    },
    /// The driver's own cost per evaluation as a run grows: baselines on a
    /// space with instant (synthetic) evaluations, ms per evaluation at each count.
    Driver {
        /// The space file.
        #[arg(long, default_value = "search_spaces/darts.yaml")]
        space: PathBuf,
        /// Baseline strategies, one run each.
        #[arg(long, value_delimiter = ',', default_value = "random-search,regularized-evolution,nsga2")]
        strategies: Vec<String>,
        /// Evaluation counts to report at (the runs make the largest).
        #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
        sizes: Vec<usize>,
        /// Folder for the runs (replaced).
        #[arg(long, default_value = "runs/bench-driver")]
        dir: PathBuf,
    },
    /// Training noise of a run config's built-in evaluations: random cells
    /// trained several times each, another training seed each time; the
    /// spread of one cell's repeats against the spread between cells.
    Noise {
        /// A run config with `evaluator: { kind: builtin }`, e.g. experiments/quickstart.yaml.
        config: PathBuf,
        /// Random cells drawn from the config's space.
        #[arg(long, default_value_t = 6)]
        cells: usize,
        /// Trainings of each cell.
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Seed of the cells and the training seeds.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Override a value of CONFIG (repeatable), e.g. evaluator.budgets.proxy.epochs=8.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Write every training (cell, repeat, accuracy, seconds) to this CSV.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Training throughput (images/s) of the built-in trainer on a DARTS
    /// network or a MobileNetV3 subnet.
    Train {
        /// Where the network trains.
        #[arg(long, value_enum, default_value = "cpu")]
        device: DeviceKind,
        /// The network: a DARTS V2 network, or an OFA MobileNetV3 subnet at width 1.0.
        #[arg(long, value_enum, default_value = "darts")]
        space: bench::BenchSpace,
        /// Initial channels C of the DARTS network.
        #[arg(long, default_value_t = 16)]
        channels: usize,
        /// Cells of the DARTS network.
        #[arg(long, default_value_t = 8)]
        cells: usize,
        /// The MobileNetV3 subnet as OFA's arch dict (default: kernel 5, expand 4, depth 3 everywhere).
        #[arg(long)]
        arch: Option<String>,
        /// Images per step [default: 64 for darts, 32 for mobilenetv3].
        #[arg(long)]
        batch: Option<usize>,
        /// Image side in pixels [default: 32 for darts, 64 for mobilenetv3].
        #[arg(long)]
        resolution: Option<usize>,
        /// Timed steps (after one warm-up step).
        #[arg(long, default_value_t = 5)]
        steps: usize,
        /// Also time the same network in PyTorch, in this run (needs a
        /// Python with torch: NAS_SEARCH_PYTHON, default python3).
        #[arg(long)]
        compare_torch: bool,
    },
}

/// Runs one `bench` command.
pub fn handle(cmd: BenchCmd) -> Result<()> {
    match cmd {
        BenchCmd::Train { device, space, channels, cells, arch, batch, resolution, steps, compare_torch } => {
            let b = bench::TrainBench { device, space, channels, cells, arch, batch, resolution, steps, compare_torch };
            bench::train(b)?;
        }
        BenchCmd::Slurm { tasks, sleep, poll, dir, partition } => {
            bench::slurm::slurm(bench::slurm::SlurmBench { tasks, sleep_s: sleep, poll_s: poll, dir, partition })?;
        }
        BenchCmd::Driver { space, strategies, sizes, dir } => {
            bench::driver::driver(bench::driver::DriverBench { space, strategies, sizes, dir })?;
        }
        BenchCmd::Noise { config, cells, repeats, seed, overrides, out } => {
            bench::noise::noise(bench::noise::NoiseBench { config, overrides, cells, repeats, seed, out })?;
        }
        BenchCmd::Predictor { device, repeats, compare_torch } => {
            let b = bench::PredictorBench { device, infer_batch: 1024, train_batch: 128, repeats, compare_torch };
            bench::predictor(b)?;
        }
    }
    Ok(())
}
