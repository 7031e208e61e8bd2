//! `latency measure`, `latency lut` and `latency predict`: networks timed on
//! this machine, per-unit look-up tables, and the latency a source gives.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use nas_search::backend::DeviceKind;

/// How `latency` commands time a network (the same for every row of a CSV).
#[derive(clap::Args)]
pub struct TimingArgs {
    /// Where the networks run.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceKind,
    /// Inputs per forward pass.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Threads the CPU backend computes with.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Untimed passes before the timed ones.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Timed passes (their median is the latency).
    #[arg(long, default_value_t = 10)]
    repeats: usize,
}

impl TimingArgs {
    /// Makes NdArray's matrix products (matrixmultiply's own thread pool)
    /// use `--threads` too, as the rows will say.
    fn bound_matrix_threads(&self) {
        // first thing in a latency command, before anything computes
        nas_search::latency::measure::bind_matrix_threads(self.threads);
    }

    fn settings(&self) -> nas_search::latency::measure::TimingSettings {
        nas_search::latency::measure::TimingSettings {
            device: self.device,
            batch: self.batch,
            threads: self.threads,
            warmup: self.warmup,
            repeats: self.repeats,
        }
    }
}
#[derive(Subcommand)]
pub enum LatencyCmd {
    /// Time the networks of a space's architectures (random ones, or all) on this machine and append
    /// a row each to a CSV (resumes: what is in it already is skipped).
    Measure {
        /// A space file, e.g. search_spaces/nb201.yaml.
        space: PathBuf,
        /// The CSV to append to (optional with --genotype / --file: their latency is printed).
        #[arg(long, required_unless_present_any = ["genotype", "file"])]
        out: Option<PathBuf>,
        /// How many random architectures.
        #[arg(short = 'n', long, conflicts_with_all = ["all", "genotype", "file"])]
        n: Option<usize>,
        /// Every architecture of the space (NAS-Bench-201).
        #[arg(long, conflicts_with_all = ["genotype", "file"])]
        all: bool,
        #[command(flatten)]
        given: GivenArgs,
        #[command(flatten)]
        timing: TimingArgs,
        /// Networks measured again at the end to show the machine's drift (default: 5% of them, 5 to 100).
        #[arg(long)]
        remeasure: Option<usize>,
        /// Seed of the sample and of the measuring order.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Measure each distinct unit (layer sequence at its input shape) of a space's networks once: the
    /// look-up table a run or `predictor train` can sum latencies from (resumes: units in it are skipped).
    Lut {
        /// A space file, e.g. search_spaces/nb201.yaml.
        space: PathBuf,
        /// The CSV to append to.
        #[arg(long)]
        out: PathBuf,
        /// Every unit the space's networks can hold: the complete table a run needs.
        #[arg(long, required_unless_present = "samples", conflicts_with = "samples")]
        all: bool,
        /// Only the units of this many random architectures.
        #[arg(long)]
        samples: Option<usize>,
        #[command(flatten)]
        timing: TimingArgs,
        /// Seed of the sample.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// The latency a source gives given architectures (what a run's search sees): a look-up table,
    /// a trained latency predictor, or a measurement table.
    Predict {
        /// The space file of the architectures.
        space: PathBuf,
        /// A look-up table (`latency lut`).
        #[arg(long)]
        lut: Option<PathBuf>,
        /// A latency predictor's training directory (`predictor train` with data.latency_csv).
        #[arg(long)]
        predictor: Option<PathBuf>,
        /// A measurement CSV (`latency measure`).
        #[arg(long)]
        table: Option<PathBuf>,
        #[command(flatten)]
        given: GivenArgs,
    },
}

/// Runs one `latency` command.
pub fn handle(cmd: LatencyCmd) -> Result<()> {
    match cmd {
        LatencyCmd::Measure { space, out, n, all, given, timing, remeasure, seed, quiet } => {
            use nas_search::latency::measure::{self, Which};
            timing.bound_matrix_threads();
            let list = given.list()?;
            let what = match (n, all) {
                (Some(n), _) => Which::Sample(n),
                (None, true) => Which::All,
                (None, false) if !list.is_empty() => Which::Given(list),
                _ => anyhow::bail!("say what to measure: -n N, --all, --genotype G or --file F"),
            };
            let req = measure::MeasureRequest { space, out, what, timing: timing.settings(), seed, remeasure, quiet };
            let summary = measure::measure(&req)?;
            measure::print_summary(&req, &summary);
        }
        LatencyCmd::Predict { space, lut, predictor, table, given } => {
            use nas_search::latency::predict::{Source, predict};
            let source = match (lut, predictor, table) {
                (Some(p), None, None) => Source::Lut(p),
                (None, Some(p), None) => Source::Predictor(p),
                (None, None, Some(p)) => Source::Table(p),
                _ => anyhow::bail!("give one source: --lut CSV, --predictor DIR or --table CSV"),
            };
            let any = nas_search::space::SpaceConfig::load(&space)?.build()?;
            let out = predict(any.as_ref(), &source, &given.list()?, |dir| {
                Ok(Box::new(nas_search::predictor::latency::TrainedLatency::load(dir)?))
            })?;
            eprintln!("latency from {} (measured on {})", out.source, out.device.describe());
            for (g, ms) in &out.rows {
                println!("{ms:.3} ms {g}");
            }
        }
        LatencyCmd::Lut { space, out, all: _, samples, timing, seed, quiet } => {
            use nas_search::latency::lut;
            timing.bound_matrix_threads();
            let req = lut::LutRequest { space, out, samples, timing: timing.settings(), seed, quiet };
            let n = lut::build(&req)?;
            let table = lut::Lut::load(&req.out)?;
            println!(
                "{}: {} units measured now, {} in all, on {}",
                req.out.display(),
                n,
                table.len(),
                table.device.describe()
            );
        }
    }
    Ok(())
}

/// Architectures named on the command line.
#[derive(clap::Args)]
pub struct GivenArgs {
    /// An architecture in the space's text form (repeat for more).
    #[arg(long)]
    genotype: Vec<String>,
    /// A file of architectures, one per line (blank lines and `#` lines skipped).
    #[arg(long)]
    file: Option<PathBuf>,
}

impl GivenArgs {
    /// The architectures given, in order (none: empty).
    fn list(&self) -> anyhow::Result<Vec<String>> {
        let mut out = self.genotype.clone();
        if let Some(f) = &self.file {
            let text = std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("--file {}: {e}", f.display()))?;
            out.extend(
                text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string),
            );
        }
        Ok(out)
    }
}
