//! The `nas-search` command line: parses arguments and hands them to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nas_search::backend::DeviceKind;
use nas_search::bench;
use nas_search::predictor::experiment::{self, TrainRequest};
use nas_search::run;
use nas_search::space::tools as space_tools;

#[derive(Parser)]
#[command(name = "nas-search", version, about = "Neural architecture search with a NAR-Former predictor")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole workflow of a run config: predictor data, predictor, search, top-K evaluation, report.
    Run {
        /// The run config, e.g. experiments/quickstart.yaml.
        config: PathBuf,
        /// Run directory (default: runs/<name>).
        #[arg(long)]
        run_dir: Option<PathBuf>,
        /// Seed of every random choice (overrides the config's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Continue the run in the run directory from its checkpoint.
        #[arg(long)]
        resume: bool,
        /// Resume even though the config changed.
        #[arg(long)]
        force: bool,
        /// Override a config value, e.g. --set search.top_k=5 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// With --resume: evaluate again the architectures whose last evaluation failed, in every stage.
        #[arg(long)]
        retry_failed: bool,
        /// With --retry-failed: keep the predictors and searches already made, even where they learnt
        /// without an evaluation that succeeds now (default: train again from the first such round).
        #[arg(long)]
        keep_later_stages: bool,
        /// No progress bars or progress lines.
        #[arg(long)]
        quiet: bool,
    },
    /// Continue an interrupted run from its directory.
    Resume {
        /// The run directory (it holds checkpoint.json).
        run_dir: PathBuf,
        /// Evaluate again the architectures whose last evaluation failed, in every stage (after fixing
        /// the evaluator); a round whose predictor learnt without one that succeeds now is trained and
        /// searched again.
        #[arg(long)]
        retry_failed: bool,
        /// With --retry-failed: keep the predictors and searches already made, even where they learnt
        /// without an evaluation that succeeds now.
        #[arg(long)]
        keep_later_stages: bool,
        /// Continue with this config (e.g. the one you fixed the evaluator in) instead of the copy the
        /// run directory keeps: it may change how evaluations run (command, cwd, timeouts, retries,
        /// workers, Slurm settings), not what is measured (space, budgets, data, seed, search).
        #[arg(long)]
        config: Option<PathBuf>,
        /// With --config: override a value of it (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE", requires = "config")]
        overrides: Vec<String>,
        /// No progress bars or progress lines.
        #[arg(long)]
        quiet: bool,
    },
    /// Cancel the Slurm jobs a run has in flight (scancel); a later resume
    /// records them as cancelled evaluations.
    Cancel {
        /// The run directory.
        run_dir: PathBuf,
    },
    /// Evaluate one architecture with a run config's built-in trainer and
    /// print the result line (what a Slurm task of `builtin:` runs).
    EvalOne {
        /// A run directory's config.yaml, or a run config.
        config: PathBuf,
        /// The genotype.
        #[arg(long)]
        genotype: String,
        /// The budget: proxy or final.
        #[arg(long, default_value = "final")]
        budget: String,
        /// The key that seeds its training, as in the run (default: the genotype's canonical text).
        #[arg(long)]
        key: Option<String>,
        /// Where it trains (default: the config's `device`).
        #[arg(long, value_enum)]
        device: Option<DeviceKind>,
    },
    /// Print the best architecture of a run (the best so far while it runs).
    Best {
        /// The run directory.
        run_dir: PathBuf,
        /// text (default), darts (a Genotype(...) line for genotypes.py), ofa (the arch dict), json.
        #[arg(long, value_enum, default_value = "text")]
        format: nas_search::inspect::BestFormat,
    },
    /// Draw a run's plots as SVG (progress, predicted vs measured, predictor training, accuracy vs cost,
    /// best architecture); several run directories: their progress, one line per method.
    Plot {
        /// Run directories (or one `predictor train` directory).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where the SVG files go (default: RUN_DIR/plots, or plots/ for several runs).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Serve a live, read-only page over run directories: every run's status and best so far, a run's
    /// pictures, evaluations, top-K, config and log as the run goes, several runs compared.
    Serve {
        /// Run directories, or folders holding them (searched recursively).
        #[arg(default_value = "runs")]
        dirs: Vec<PathBuf>,
        /// Port to listen on (0: any free one; the address is printed).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Address to listen on (other machines reach any but 127.0.0.1 and ::1).
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// Do not ask for the token printed at start: for 127.0.0.1 on a
        /// machine no one else logs into (on a shared login node every user reaches the port).
        #[arg(long)]
        no_token: bool,
        /// Seconds a connection may take to send a request, or stay idle, before it is closed.
        #[arg(long, default_value_t = 20.0)]
        idle_timeout: f64,
    },
    /// Print a trained predictor's predicted accuracy (%) for genotypes, one line each: SCORE<TAB>GENOTYPE.
    Predict {
        /// A run directory (its last round's predictor) or a `predictor train` directory.
        dir: PathBuf,
        /// Genotypes in the space's text form.
        genotypes: Vec<String>,
        /// A file with one genotype per line (added after GENOTYPES).
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Train and evaluate architecture performance predictors.
    #[command(subcommand)]
    Predictor(PredictorCmd),
    /// Inspect a search space: sample genotypes, cost one.
    #[command(subcommand)]
    Space(SpaceCmd),
    /// Print speed figures.
    #[command(subcommand)]
    Bench(BenchCmd),
    /// Fetch and check data sets.
    #[command(subcommand)]
    Data(DataCmd),
    /// Measure networks' latency on this machine, and per-unit look-up tables.
    #[command(subcommand)]
    Latency(LatencyCmd),
}

/// How `latency` commands time a network (the same for every row of a CSV).
#[derive(clap::Args)]
struct TimingArgs {
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
enum LatencyCmd {
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

/// Architectures named on the command line.
#[derive(clap::Args)]
struct GivenArgs {
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

#[derive(Subcommand)]
enum DataCmd {
    /// Download CIFAR-10 (binary version), verify its MD5 sum and unpack it into DIR.
    Cifar10 {
        /// The folder to unpack into.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Write the NAS-Bench-201 table built into the binary to a CSV file.
    Nb201 {
        /// The CSV file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// NAS-Bench-201's true front (CIFAR-10 test accuracy against a cost
    /// over all 15,625 cells) and its hypervolume: the best a run's measured
    /// front can reach.
    Nb201Front {
        /// The NAS-Bench-201 space file, e.g. search_spaces/nb201.yaml.
        space: PathBuf,
        /// The cost: macs, params or latency.
        #[arg(long, default_value = "macs")]
        cost: String,
        /// The hypervolume's reference cost (as in the run's config).
        #[arg(long)]
        reference: f64,
        /// With --cost latency: a measurement CSV of every cell (e.g. search_spaces/latency/nb201_cpu.csv.gz).
        #[arg(long, required_if_eq("cost", "latency"))]
        latency_table: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SpaceCmd {
    /// Print random genotypes of a space with their params and MACs.
    Sample {
        /// A space file, e.g. search_spaces/darts.yaml.
        space: PathBuf,
        /// How many genotypes.
        #[arg(short = 'n', long, default_value_t = 5)]
        count: usize,
        /// Seed of the sampling.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Print the params and MACs of one genotype (in the space's text form).
    Cost {
        /// A space file, e.g. search_spaces/darts.yaml.
        space: PathBuf,
        /// The genotype, e.g. "Genotype(normal=[...], ...)" or an OFA arch dict.
        genotype: String,
        /// One line of JSON: {"params": N, "macs": N}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PredictorCmd {
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

#[derive(Subcommand)]
enum BenchCmd {
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

/// A finished run: prints its summary; with failed evaluations, a last line
/// that counts them per stage and gives the command that retries them, and
/// the exit status that says so ([`run::EXIT_FAILED_EVALUATIONS`]).
fn finished(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let md = std::fs::read_to_string(dir.join("summary.md"))?;
    println!("{md}run directory: {}", dir.display());
    Ok(match run::failed_at_end(dir)? {
        Some(line) => {
            println!("{line}");
            ExitCode::from(run::EXIT_FAILED_EVALUATIONS)
        }
        None => ExitCode::SUCCESS,
    })
}

fn handle(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Predictor(PredictorCmd::Train { config, out, overrides, results, restart, quiet }) => {
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
        Command::Predictor(PredictorCmd::Eval { config, checkpoint, overrides }) => {
            print_outcome(&experiment::run_eval(config.as_deref(), &overrides, &checkpoint)?);
        }
        Command::Run { config, run_dir, seed, resume, force, overrides, retry_failed, keep_later_stages, quiet } => {
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
            return finished(&run::execute(req)?);
        }
        Command::Cancel { run_dir } => {
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
        }
        Command::EvalOne { config, genotype, budget, key, device } => {
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
        }
        Command::Resume { run_dir, retry_failed, keep_later_stages, config, overrides, quiet } => {
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
            return finished(&dir);
        }
        Command::Serve { dirs, port, host, no_token, idle_timeout } => {
            let opts =
                nas_search::serve::ServeOptions { dirs, host, port, token: !no_token, idle_timeout_s: idle_timeout };
            nas_search::serve::serve(opts)?;
        }
        Command::Plot { dirs, out } => {
            for path in nas_search::plot::plot(&dirs, out.as_deref())? {
                println!("wrote {}", path.display());
            }
        }
        Command::Best { run_dir, format } => {
            // the architecture on stdout (so `$(nas-search best DIR)` is it), what it is on stderr
            let best = nas_search::inspect::best(&run_dir, format)?;
            if let Some(note) = &best.unfinished {
                eprintln!("{note}");
            }
            println!("{}", best.text);
            if let Some(detail) = best.detail {
                eprintln!("{detail}");
            }
        }
        Command::Predict { dir, mut genotypes, file } => {
            if let Some(file) = file {
                let text =
                    std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
                genotypes.extend(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from));
            }
            if genotypes.is_empty() {
                anyhow::bail!("no genotype given (as arguments or with --file)");
            }
            let scores = nas_search::inspect::predict_scores(&dir, &genotypes)?;
            for (g, s) in genotypes.iter().zip(scores) {
                println!("{s}\t{g}");
            }
        }
        Command::Space(SpaceCmd::Sample { space, count, seed }) => {
            for (text, cost) in space_tools::sample(&space, count, seed)? {
                println!("{text}\n  params {:.3}M  MACs {:.1}M", cost.params as f64 / 1e6, cost.macs as f64 / 1e6);
            }
        }
        Command::Space(SpaceCmd::Cost { space, genotype, json }) => {
            let cost = space_tools::cost(&space, &genotype)?;
            if json {
                println!("{}", serde_json::json!({ "params": cost.params, "macs": cost.macs }));
            } else {
                println!(
                    "params {} ({:.3}M)  MACs {} ({:.1}M)",
                    cost.params,
                    cost.params as f64 / 1e6,
                    cost.macs,
                    cost.macs as f64 / 1e6
                );
            }
        }
        Command::Bench(BenchCmd::Train {
            device,
            space,
            channels,
            cells,
            arch,
            batch,
            resolution,
            steps,
            compare_torch,
        }) => {
            let b = bench::TrainBench { device, space, channels, cells, arch, batch, resolution, steps, compare_torch };
            bench::train(b)?;
        }
        Command::Latency(LatencyCmd::Measure { space, out, n, all, given, timing, remeasure, seed, quiet }) => {
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
        Command::Latency(LatencyCmd::Predict { space, lut, predictor, table, given }) => {
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
        Command::Latency(LatencyCmd::Lut { space, out, all: _, samples, timing, seed, quiet }) => {
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
        Command::Data(DataCmd::Cifar10 { dir }) => nas_search::data::cifar10::download(&dir)?,
        Command::Data(DataCmd::Nb201 { out }) => {
            std::fs::write(&out, nas_search::data::nb201::embedded_csv())
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", out.display()))?;
            println!("wrote {} (15,625 NAS-Bench-201 cells; columns in README)", out.display());
        }
        Command::Data(DataCmd::Nb201Front { space, cost, reference, latency_table }) => {
            let cost: nas_search::search::nsga2::Objective = serde_yaml::from_str(&cost)
                .ok()
                .filter(|o| *o != nas_search::search::nsga2::Objective::Accuracy)
                .ok_or_else(|| anyhow::anyhow!("--cost must be macs, params or latency, got {cost}"))?;
            let table = match &latency_table {
                Some(p) => Some(nas_search::latency::LatencyTable::load(p, "latency_ms")?),
                None => None,
            };
            let (front, hv) = nas_search::report::front::nb201_true_front(&space, cost, reference, table.as_ref())?;
            println!("genotype,test_acc,{}", cost.name());
            for (g, acc, c) in &front {
                println!("{g},{acc},{c}");
            }
            eprintln!(
                "{} cells on the true front; hypervolume {hv:.6} (reference: 0% accuracy, {reference} {})",
                front.len(),
                cost.name()
            );
        }
        Command::Bench(BenchCmd::Slurm { tasks, sleep, poll, dir, partition }) => {
            bench::slurm::slurm(bench::slurm::SlurmBench { tasks, sleep_s: sleep, poll_s: poll, dir, partition })?;
        }
        Command::Bench(BenchCmd::Driver { space, strategies, sizes, dir }) => {
            bench::driver::driver(bench::driver::DriverBench { space, strategies, sizes, dir })?;
        }
        Command::Bench(BenchCmd::Noise { config, cells, repeats, seed, overrides, out }) => {
            bench::noise::noise(bench::noise::NoiseBench { config, overrides, cells, repeats, seed, out })?;
        }
        Command::Bench(BenchCmd::Predictor { device, repeats, compare_torch }) => {
            let b = bench::PredictorBench { device, infer_batch: 1024, train_batch: 128, repeats, compare_torch };
            bench::predictor(b)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A training step allocates and frees the same few-megabyte arrays
/// hundreds of times. glibc's malloc gives each such array fresh pages from
/// the kernel and returns them on free (the mmap threshold), so every step
/// paid a page fault per 4 KiB written (~19% of a DARTS step, measured with
/// perf). Freed memory is kept for reuse instead, up to arrays of 32 MiB
/// (glibc's largest threshold) and 1 GiB kept free.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: sets two malloc parameters before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

fn main() -> ExitCode {
    // A closed pipe (`nas-search best DIR | head -1`) ends the process quietly, as it
    // ends Unix tools, instead of a panic in println!.
    // SAFETY: sets the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    keep_freed_memory();
    match handle(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
