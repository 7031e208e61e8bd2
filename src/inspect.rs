//! Reading what runs and predictor trainings left behind: `nas-search best`
//! (the best architecture of a run, in the form the space's own code takes)
//! and `nas-search predict` (a trained predictor's scores for any genotypes).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::backend::AutodiffBackend;
use serde::Serialize;

use crate::backend::{BackendTask, dispatch};
use crate::predictor::dataset::{encode_cells, encode_graphs};
use crate::predictor::experiment::PredictorExperiment;
use crate::predictor::scorer::predict;
use crate::predictor::{ModelConfig, fit};
use crate::report::SummaryRow;
use crate::run::config::RunConfig;
use crate::run::run_dir::RunDir;
use crate::space::nb201::Nb201Cell;
use crate::space::{SearchSpace, SpaceConfig, SpaceTask};

/// How `best` prints the architecture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum BestFormat {
    /// The genotype's text form, its cost and accuracy.
    #[default]
    Text,
    /// A `Genotype(...)` line for the DARTS code's genotypes.py (DARTS runs).
    Darts,
    /// The Once-for-All arch dict as JSON (MobileNetV3 runs).
    Ofa,
    /// One JSON object: genotype, space, key, params, MACs, top-1.
    Json,
}

#[derive(Serialize)]
struct BestJson<'a> {
    genotype: &'a str,
    space: &'a str,
    arch_key: &'a str,
    /// Params and MACs of the network evaluated (a budget may shrink it).
    params: u64,
    macs: u64,
    /// Of the space's standard network.
    std_params: Option<u64>,
    std_macs: Option<u64>,
    budget: String,
    top1: Option<f64>,
    signal: Option<f64>,
    /// Where it came from (random sample, searched top-K, baseline).
    origin: String,
    finished: bool,
    /// Its measured latency, ms (runs with `latency:`), and the run's bound on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_bound: Option<crate::search::Bound>,
}

/// What `best` prints: the architecture in the format asked for (stdout),
/// and, for text, what it is (stderr).
pub struct Best {
    pub text: String,
    pub detail: Option<String>,
    /// Said when the run has not finished: this is the best so far.
    pub unfinished: Option<String>,
}

/// The best architecture of the run in `run_dir`, printed as `format` asks.
/// A run that has not reported yet gives its best measured so far (and says so on stderr).
pub fn best(run_dir: &Path, format: BestFormat) -> Result<Best> {
    BestFound::load(run_dir)?.render(format)
}

/// A run's best architecture, found once, to print in any format.
pub struct BestFound {
    run_dir: std::path::PathBuf,
    rec: crate::run::records::EvalRecord,
    finished: bool,
    /// The space's name.
    space: &'static str,
    top_k: Vec<crate::run::state::Pick>,
    /// The run's latency constraint.
    latency_bound: crate::search::Bound,
}

impl BestFound {
    /// Finds the best of the run in `run_dir` (one rule: `selection::best_first`,
    /// and a finished run's `summary.csv`).
    pub fn load(run_dir: &Path) -> Result<Self> {
        let cfg = run_config(run_dir)?;
        let evals = RunDir::read_evaluations(run_dir)?;
        let summary = run_dir.join("summary.csv");
        let finished = summary.is_file();
        let competing = crate::run::selection::best_first(&evals, cfg.rules());
        let rec = if finished {
            let mut r = csv::Reader::from_path(&summary).with_context(|| format!("reading {}", summary.display()))?;
            let row: SummaryRow = r
                .deserialize()
                .next()
                .with_context(|| format!("{} has no row", summary.display()))?
                .with_context(|| format!("{} is corrupt", summary.display()))?;
            if row.best_genotype.is_empty() {
                bail!("{} found no architecture (every evaluation failed)", run_dir.display());
            }
            competing.into_iter().find(|e| e.genotype == row.best_genotype).with_context(|| {
                format!(
                    "{} (summary.csv's best) is not among the evaluations of {}",
                    row.best_genotype,
                    run_dir.display()
                )
            })?
        } else {
            competing
                .into_iter()
                .next()
                .with_context(|| format!("{} has no successful evaluation yet", run_dir.display()))?
        };
        let top_k = crate::run::state::RunState::load(&run_dir.join("checkpoint.json"))?
            .map(|s| s.all_top_k)
            .unwrap_or_default();
        Ok(Self {
            run_dir: run_dir.to_path_buf(),
            rec: rec.into_owned(),
            finished,
            space: cfg.space_config().build()?.name(),
            top_k,
            latency_bound: cfg.constraints.latency_ms,
        })
    }

    /// The best as `format` prints it; a format of another space is an error naming both.
    pub fn render(&self, format: BestFormat) -> Result<Best> {
        let (rec, finished, name, top_k) = (&self.rec, self.finished, self.space, &self.top_k);
        let run_dir = self.run_dir.as_path();
        let unfinished =
            (!finished).then(|| format!("{} has not finished: this is the best measured so far", run_dir.display()));
        let genotype = rec.genotype.clone();
        let need = |want: &str| -> Result<()> {
            if name != want {
                bail!(
                    "--format {} is for {want} runs; {} searched the {name} space",
                    format_name(format),
                    run_dir.display()
                );
            }
            Ok(())
        };
        let text = match format {
            BestFormat::Text => {
                let bound = &self.latency_bound;
                let latency = match rec.latency_ms {
                    Some(ms) if bound.is_set() => format!(
                        "; latency {ms:.2} ms measured ({}: {})",
                        bound.describe("latency_ms"),
                        if bound.holds(ms) { "met" } else { "NOT met" }
                    ),
                    Some(ms) => format!("; latency {ms:.2} ms measured"),
                    None if bound.is_set() => format!("; latency not measured ({})", bound.describe("latency_ms")),
                    None => String::new(),
                };
                let detail = format!(
                    "  space {name}; {}{latency}; top-1 {}; from {}{}",
                    crate::report::costs(rec),
                    rec.reported().map_or("-".into(), |a| format!("{a:.2}%")),
                    crate::report::origin(rec, crate::report::pick_source(rec, top_k)),
                    if finished { "" } else { " (run not finished)" }
                );
                return Ok(Best { text: genotype, detail: Some(detail), unfinished });
            }
            BestFormat::Darts => {
                need("darts")?;
                genotype
            }
            BestFormat::Ofa => {
                need("mobilenetv3")?;
                genotype
            }
            BestFormat::Json => serde_json::to_string(&BestJson {
                genotype: &genotype,
                space: name,
                arch_key: &rec.arch_key,
                params: rec.params,
                macs: rec.macs,
                std_params: rec.std_params,
                std_macs: rec.std_macs,
                budget: rec.budget.to_string(),
                top1: rec.reported(),
                signal: rec.accuracy,
                origin: crate::report::origin(rec, crate::report::pick_source(rec, top_k)),
                finished,
                latency_ms: rec.latency_ms,
                latency_bound: self.latency_bound.is_set().then_some(self.latency_bound),
            })?,
        };
        Ok(Best { text, detail: None, unfinished })
    }
}

/// The `--format` value as the command line spells it.
pub fn format_name(f: BestFormat) -> &'static str {
    match f {
        BestFormat::Text => "text",
        BestFormat::Darts => "darts",
        BestFormat::Ofa => "ofa",
        BestFormat::Json => "json",
    }
}

/// The config a run directory keeps.
fn run_config(run_dir: &Path) -> Result<RunConfig> {
    if !run_dir.join("checkpoint.json").is_file() {
        bail!("{} is not a run directory (it has no checkpoint.json)", run_dir.display());
    }
    let cfg = RunConfig::load(&run_dir.join("config.yaml"), &[])?;
    if !cfg.is_resolved() {
        bail!(
            "{} was written by an earlier version: resume it once (`nas-search resume {}`) to bring it up to date",
            run_dir.display(),
            run_dir.display()
        );
    }
    Ok(cfg)
}

/// What a directory of trained weights is.
enum Trained {
    /// A run directory: the last round's predictor, the run's space.
    Run { space: SpaceConfig, model: ModelConfig, weights: PathBuf },
    /// A `predictor train` directory: NAS-Bench-201 cells.
    Experiment { model: ModelConfig, weights: PathBuf },
}

fn trained(dir: &Path) -> Result<Trained> {
    if dir.join("checkpoint.json").is_file() {
        let cfg = run_config(dir)?;
        let model =
            cfg.predictor.as_ref().with_context(|| format!("{}'s run has no predictor", dir.display()))?.model.clone();
        let rounds = dir.join("predictor");
        let last = (0..)
            .map(|r| rounds.join(format!("round-{r}")))
            .take_while(|p| p.join("best.json").is_file())
            .last()
            .with_context(|| format!("{} has no trained predictor yet", dir.display()))?;
        return Ok(Trained::Run { space: cfg.space_config().clone(), model, weights: last });
    }
    if dir.join("best.json").is_file() && dir.join("config.yaml").is_file() {
        let cfg = PredictorExperiment::load(&dir.join("config.yaml"), &[])?;
        return Ok(Trained::Experiment { model: cfg.model, weights: dir.to_path_buf() });
    }
    bail!(
        "{} is neither a run directory nor a predictor training directory (`predictor train --out DIR`)",
        dir.display()
    )
}

/// The predicted accuracy (%) of each of `genotypes` by the predictor trained in `dir`.
pub fn predict_scores(dir: &Path, genotypes: &[String]) -> Result<Vec<f64>> {
    match trained(dir)? {
        Trained::Run { space, model, weights } => space.dispatch(ScoreInSpace { model, weights, genotypes })?,
        Trained::Experiment { model, weights } => {
            let cells: Vec<Nb201Cell> = genotypes
                .iter()
                .enumerate()
                .map(|(i, g)| g.parse().with_context(|| format!("genotype {} is not a NAS-Bench-201 cell: {g}", i + 1)))
                .collect::<Result<_>>()?;
            dispatch(crate::backend::DeviceKind::Cpu, Score { model, weights, input: Input::Cells(cells) })?
        }
    }
}

struct ScoreInSpace<'a> {
    model: ModelConfig,
    weights: PathBuf,
    genotypes: &'a [String],
}

impl SpaceTask for ScoreInSpace<'_> {
    type Output = Result<Vec<f64>>;

    fn with_space<S: SearchSpace + 'static>(self, space: &S) -> Result<Vec<f64>> {
        let graphs = self
            .genotypes
            .iter()
            .enumerate()
            .map(|(i, g)| {
                space.parse(g).map(|g| space.to_graph(&g)).with_context(|| {
                    let name = SearchSpace::name(space);
                    match crate::space::looks_like(g) {
                        Some(other) if other != name => format!(
                            "genotype {} looks like a {other} genotype, but this predictor was trained on the {name} space: {g}",
                            i + 1
                        ),
                        _ => format!("genotype {} is not a {name} genotype: {g}", i + 1),
                    }
                })
            })
            .collect::<Result<Vec<_>>>()?;
        dispatch(
            crate::backend::DeviceKind::Cpu,
            Score { model: self.model, weights: self.weights, input: Input::Graphs(graphs) },
        )?
    }
}

enum Input {
    Graphs(Vec<crate::graph::ArchGraph>),
    Cells(Vec<Nb201Cell>),
}

struct Score {
    model: ModelConfig,
    weights: PathBuf,
    input: Input,
}

impl BackendTask for Score {
    type Output = Result<Vec<f64>>;

    fn with_backend<B: AutodiffBackend>(self, device: B::Device) -> Result<Vec<f64>> {
        let (model, _) = fit::load_best::<B::InnerBackend>(&self.model, &self.weights, &device)?;
        let set = match &self.input {
            Input::Graphs(g) => encode_graphs(g, &self.model)?,
            Input::Cells(c) => encode_cells(c, &self.model),
        };
        let rows: Vec<usize> = (0..set.count()).collect();
        Ok(predict(&model, &set, &rows, &device).into_iter().map(|s| s as f64 * 100.0).collect())
    }
}
