//! The run config (`nas-search run CONFIG`): which space, evaluator,
//! strategy, predictor and constraints, with defaults and checks that name
//! the file and key.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

pub use super::strategy::Strategy;
use crate::backend::DeviceKind;
use crate::eval::EvaluatorSection;
use crate::latency::source::LatencyConfig;
use crate::predictor::ModelConfig;
use crate::predictor::train::TrainConfig;
use crate::search::Constraints;
use crate::search::bananas::BananasConfig;
use crate::search::evolution::EvolutionConfig;
use crate::search::nsga2::{Nsga2Config, Objective};
use crate::search::regularized::RegularizedConfig;
use crate::space::SpaceConfig;

/// `predictor:`: its training data and settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictorSection {
    /// Architectures sampled and evaluated (proxy budget) to train the predictor.
    pub train_archs: usize,
    /// Share of the evaluated architectures held out to select the predictor's weights.
    #[serde(default = "d_val")]
    pub val_fraction: f64,
    /// Earlier `evaluations.csv` files whose successful rows are added to the training data.
    #[serde(default)]
    pub extra_data: Vec<PathBuf>,
    #[serde(default)]
    pub model: ModelConfig,
    pub train: TrainConfig,
}

fn d_val() -> f64 {
    0.1
}

/// `search:`: the evolution and what goes to real evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSection {
    #[serde(default)]
    pub evolution: EvolutionConfig,
    /// Distinct architectures, best predicted first, sent to the final budget per round.
    #[serde(default = "d_topk")]
    pub top_k: usize,
    /// Rounds of (train predictor, search, evaluate top-K); each round's
    /// measurements join the next round's training data.
    #[serde(default = "d_rounds")]
    pub rounds: usize,
    /// Best measured architectures put into each round's initial population
    /// (0: a random population, as Once-for-All's evolution starts).
    #[serde(default)]
    pub seed_measured: usize,
    /// Of each round's top_k, how many are the best-predicted unmeasured
    /// single mutations of the best measured architecture (a local search
    /// the predictor ranks); the rest come from the evolution. 0: all from it.
    #[serde(default)]
    pub local_picks: usize,
    /// Whose neighbours the local picks are: the best `local_from` measured
    /// architectures (1: the best only), ranked together by the predictor,
    /// so a search whose best sits in a local optimum also looks next to the
    /// runners-up.
    #[serde(default = "d_local_from")]
    pub local_from: usize,
    /// Generations between search checkpoints.
    #[serde(default = "d_every")]
    pub checkpoint_every: usize,
    /// Real evaluations in all, for the baseline strategies.
    #[serde(default)]
    pub queries: Option<usize>,
    #[serde(default)]
    pub regularized: RegularizedConfig,
    #[serde(default)]
    pub bananas: BananasConfig,
    /// What the search optimises: `accuracy` alone, or accuracy and one or
    /// more costs (`params`, `macs`) for the NSGA-II strategies; with a cost,
    /// every run also reports its measured front (`pareto.csv`).
    #[serde(default = "d_objectives")]
    pub objectives: Vec<Objective>,
    #[serde(default)]
    pub nsga2: Nsga2Config,
    /// Trainings of each final architecture (a round's top-K), each with its
    /// own training seed; the architecture's accuracy is their mean and the
    /// summary shows their spread. 1: one training.
    #[serde(default = "d_repeats")]
    pub final_repeats: usize,
    /// An architecture trained at the final budget (`final_repeats` times)
    /// after the search, so the summary compares the best found with a
    /// known network trained the same way.
    #[serde(default)]
    pub reference: Option<Reference>,
}

/// `search.reference`: a known architecture of the space to compare with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// What the summary calls it (`DARTS V2`).
    pub name: String,
    /// Its genotype, in the space's text form.
    pub genotype: String,
}

fn d_local_from() -> usize {
    1
}

fn d_repeats() -> usize {
    1
}

fn d_objectives() -> Vec<Objective> {
    vec![Objective::Accuracy]
}

fn d_topk() -> usize {
    10
}
fn d_rounds() -> usize {
    1
}
fn d_every() -> usize {
    10
}

impl Default for SearchSection {
    fn default() -> Self {
        Self {
            evolution: EvolutionConfig::default(),
            top_k: d_topk(),
            rounds: d_rounds(),
            seed_measured: 0,
            local_picks: 0,
            local_from: d_local_from(),
            checkpoint_every: d_every(),
            queries: None,
            regularized: RegularizedConfig::default(),
            bananas: BananasConfig::default(),
            objectives: d_objectives(),
            nsga2: Nsga2Config::default(),
            final_repeats: d_repeats(),
            reference: None,
        }
    }
}

/// A run config file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Run name: the default run directory is `runs/<name>`.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub seed: u64,
    /// The space: a space file (relative to this config file), or, in the
    /// config a run directory keeps, the space's definition itself.
    pub space: SpaceRef,
    #[serde(default)]
    pub strategy: Strategy,
    pub evaluator: EvaluatorSection,
    #[serde(default)]
    pub predictor: Option<PredictorSection>,
    #[serde(default)]
    pub search: SearchSection,
    #[serde(default)]
    pub constraints: Constraints,
    #[serde(default)]
    pub device: DeviceKind,
    /// Latency: what the search sees (a latency predictor, a look-up table,
    /// a measurement table) and how evaluated architectures are measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyConfig>,
}

/// `space:` of a run config.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SpaceRef {
    /// A space file, as configs name it.
    File(PathBuf),
    /// The definition, as a run directory keeps it (so it needs no other file).
    Inline(SpaceConfig),
}

impl<'de> Deserialize<'de> for SpaceRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match serde_yaml::Value::deserialize(d)? {
            serde_yaml::Value::String(path) => Ok(Self::File(PathBuf::from(path))),
            other => Ok(Self::Inline(crate::config::nested(other)?)),
        }
    }
}

impl RunConfig {
    /// Makes the config self-contained, as a run directory keeps it: the
    /// space file is read into `space:` and every relative path (data, table,
    /// extra evaluations, the command's folder) is resolved against
    /// `config_dir`, the config file's folder. Resolving twice changes nothing.
    pub fn resolve(&mut self, config_dir: &Path) -> Result<()> {
        let config_dir = std::path::absolute(config_dir)?;
        if let SpaceRef::File(path) = &self.space {
            let path = config_dir.join(path);
            self.space = SpaceRef::Inline(SpaceConfig::load(&path).context("loading the space (key `space`)")?);
        }
        self.evaluator.config.resolve_paths(&config_dir)?;
        if let Some(p) = &mut self.predictor {
            for path in &mut p.extra_data {
                *path = config_dir.join(&*path);
            }
        }
        if let Some(l) = &mut self.latency {
            l.resolve_paths(&config_dir);
        }
        Ok(())
    }

    /// Whether [`RunConfig::resolve`] has made it self-contained.
    pub fn is_resolved(&self) -> bool {
        matches!(self.space, SpaceRef::Inline(_))
    }

    /// The space (of a resolved config).
    pub fn space_config(&self) -> &SpaceConfig {
        match &self.space {
            SpaceRef::Inline(s) => s,
            SpaceRef::File(p) => panic!("the config's space {} was not resolved", p.display()),
        }
    }

    /// Reads, applies `--set` overrides, and checks a run config.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let cfg: Self = crate::config::load_yaml(path, overrides)?;
        cfg.check().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(cfg)
    }

    /// As [`RunConfig::load`], from the text of the file `name` (read by the caller).
    pub fn from_text(text: &str, name: &str) -> Result<Self> {
        let cfg: Self = crate::config::parse_yaml(text, name, &[])?;
        cfg.check().map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        Ok(cfg)
    }

    fn check(&self) -> Result<()> {
        self.check_objectives()?;
        self.check_numbers()?;
        match self.strategy {
            Strategy::NarFormerEvolution | Strategy::NarFormerNsga2 => {
                let Some(p) = &self.predictor else {
                    bail!("strategy {} needs a `predictor:` section", self.strategy.name());
                };
                if p.train_archs < 4 {
                    bail!("predictor.train_archs must be at least 4, got {}", p.train_archs);
                }
                if !(0.0..0.9).contains(&p.val_fraction) {
                    bail!("predictor.val_fraction must be in [0, 0.9), got {}", p.val_fraction);
                }
                p.model.validate("predictor.model").map_err(anyhow::Error::msg)?;
                p.train.validate("predictor.train").map_err(anyhow::Error::msg)?;
                if matches!(p.model, crate::predictor::ModelConfig::Mlp { .. }) {
                    bail!(
                        "predictor.model.kind: the run's predictor must be nar-former (it reads architecture graphs)"
                    );
                }
                let s = &self.search;
                for (key, value) in [
                    ("top_k", s.top_k),
                    ("rounds", s.rounds),
                    ("checkpoint_every", s.checkpoint_every),
                    ("local_from", s.local_from),
                ] {
                    if value == 0 {
                        bail!("search.{key} must be positive, got 0");
                    }
                }
                if s.evolution.population < 2 {
                    bail!("search.evolution.population must be at least 2, got {}", s.evolution.population);
                }
                if self.strategy == Strategy::NarFormerNsga2 && (s.local_picks > 0 || s.seed_measured > 0) {
                    bail!(
                        "search.local_picks and search.seed_measured are settings of nar-former-evolution, not of nar-former-nsga2"
                    );
                }
                if s.local_picks > s.top_k {
                    bail!("search.local_picks ({}) must not exceed search.top_k ({})", s.local_picks, s.top_k);
                }
                for (key, value) in
                    [("parent_ratio", s.evolution.parent_ratio), ("mutation_ratio", s.evolution.mutation_ratio)]
                {
                    if !(0.0..=1.0).contains(&value) {
                        bail!("search.evolution.{key} must be in [0, 1], got {value}");
                    }
                }
            }
            Strategy::RegularizedEvolution | Strategy::RandomSearch | Strategy::Nsga2 | Strategy::Bananas => {
                if self.search.queries.is_none_or(|q| q == 0) {
                    bail!("strategy {} needs search.queries (real evaluations in all)", self.strategy.name());
                }
                if self.search.final_repeats > 1 {
                    bail!(
                        "key `search.final_repeats`: {} trainings per architecture are for the predictor-guided \
                         strategies' top-K; strategy {} trains each of its search.queries architectures once (a \
                         `search.reference` is trained search.final_repeats times with any strategy: leave it at 1 here)",
                        self.search.final_repeats,
                        self.strategy.name()
                    );
                }
            }
        }
        if self.search.final_repeats == 0 {
            bail!("key `search.final_repeats` must be at least 1 (trainings of each final architecture), got 0");
        }
        if let Some(r) = &self.search.reference
            && (r.name.trim().is_empty() || r.genotype.trim().is_empty())
        {
            bail!("key `search.reference`: needs a `name` and a `genotype`, both not empty");
        }
        Ok(())
    }

    /// Ranges of the numbers no other check covers: the evaluator's, the
    /// baselines', the constraints'.
    fn check_numbers(&self) -> Result<()> {
        self.evaluator.config.check()?;
        let r = &self.search.regularized;
        if self.strategy == Strategy::RegularizedEvolution && !(1..=r.population).contains(&r.sample_size) {
            bail!(
                "search.regularized: population ({}) must be at least 1 and sample_size ({}) between 1 and the population",
                r.population,
                r.sample_size
            );
        }
        if self.strategy == Strategy::Bananas {
            self.search.bananas.check()?;
        }
        if let Some(c) = self.search.nsga2.reference_cost
            && c <= 0.0
        {
            bail!("search.nsga2.reference_cost must be positive, got {c}");
        }
        let c = &self.constraints;
        for (name, b) in [("params", &c.params), ("macs", &c.macs)] {
            for (end, v) in [("min", b.min), ("max", b.max)] {
                if v.is_some_and(|v| v < 0.0) {
                    bail!("constraints.{name}.{end} must be >= 0, got {}", v.unwrap_or_default());
                }
            }
            if let (Some(lo), Some(hi)) = (b.min, b.max)
                && lo > hi
            {
                bail!("constraints.{name}: min ({lo}) is above max ({hi})");
            }
        }
        if c.max_tries == 0 {
            bail!("constraints.max_tries must be positive");
        }
        let b = &c.latency_ms;
        if b.min.is_some_and(|v| v < 0.0) || b.max.is_some_and(|v| v <= 0.0) {
            bail!("constraints.latency_ms: min must be >= 0 and max > 0 (milliseconds), got {b:?}");
        }
        if let (Some(lo), Some(hi)) = (b.min, b.max)
            && lo > hi
        {
            bail!("constraints.latency_ms: min ({lo}) is above max ({hi})");
        }
        let wants_latency = b.is_set() || self.search.objectives.contains(&Objective::Latency);
        match &self.latency {
            None if wants_latency => bail!(
                "constraints.latency_ms and the latency objective need a `latency:` section (what the search sees: \
                 predict: predictor | lut | table; how evaluated architectures are measured: measure: table | device)"
            ),
            Some(l) => l.check()?,
            None => {}
        }
        Ok(())
    }

    /// `search.objectives` and the NSGA-II settings.
    fn check_objectives(&self) -> Result<()> {
        let s = &self.search;
        let objectives = &s.objectives;
        if objectives.first() != Some(&Objective::Accuracy) || objectives[1..].contains(&Objective::Accuracy) {
            bail!(
                "search.objectives must start with `accuracy` (once), then costs (params, macs, latency), got {objectives:?}"
            );
        }
        let costs = objectives.len() - 1;
        if self.strategy.multi_objective() && costs == 0 {
            bail!("strategy {} needs a cost in search.objectives, e.g. [accuracy, macs]", self.strategy.name());
        }
        if !self.strategy.multi_objective() && self.strategy.uses_predictor() && costs > 0 {
            bail!(
                "search.objectives: strategy {} optimises accuracy only; for a front use nar-former-nsga2",
                self.strategy.name()
            );
        }
        if costs > 0 && self.reference_cost().is_none() {
            bail!(
                "search.objectives: the front's hypervolume needs a reference {0}: set search.nsga2.reference_cost or constraints.{0}.max",
                objectives[1].name()
            );
        }
        if self.strategy.multi_objective() {
            if s.nsga2.population < 2 {
                bail!("search.nsga2.population must be at least 2, got {}", s.nsga2.population);
            }
            if !(0.0..=1.0).contains(&s.nsga2.crossover_ratio) {
                bail!("search.nsga2.crossover_ratio must be in [0, 1], got {}", s.nsga2.crossover_ratio);
            }
        }
        Ok(())
    }

    /// The hypervolume's reference for the first cost objective:
    /// `search.nsga2.reference_cost`, else that cost's constraint maximum.
    pub fn reference_cost(&self) -> Option<f64> {
        let bound = match self.search.objectives.get(1)? {
            Objective::Params => self.constraints.params.max,
            Objective::Macs => self.constraints.macs.max,
            Objective::Latency => self.constraints.latency_ms.max,
            Objective::Accuracy => None,
        };
        self.search.nsga2.reference_cost.or(bound).filter(|r| *r > 0.0)
    }

    /// Whether a changed config key only changes how evaluations run (the
    /// command, its folder and limits, workers, Slurm settings): a run may
    /// continue with it, as nothing measured so far depends on it. Every
    /// other key (the space, budgets, data, seed, predictor, search) changes
    /// what is measured or searched, and is refused on resume without --force.
    pub fn changes_only_how_evaluations_run(key: &str) -> bool {
        const HOW: [&str; 24] = [
            "name",
            "evaluator.command",
            "evaluator.cwd",
            "evaluator.timeout_s",
            "evaluator.retries",
            "evaluator.backoff_s",
            "evaluator.workers",
            "evaluator.stop_after_failures",
            "evaluator.partition",
            "evaluator.account",
            "evaluator.qos",
            "evaluator.time",
            "evaluator.cpus_per_task",
            "evaluator.mem",
            "evaluator.gpus_per_task",
            "evaluator.max_parallel",
            "evaluator.sbatch_args",
            "evaluator.poll_s",
            "evaluator.max_requeue",
            "evaluator.nas_search",
            "evaluator.task_device",
            "evaluator.result_grace_s",
            "evaluator.stuck_warn_s",
            "evaluator.builtin.workers",
        ];
        HOW.iter().any(|k| key == *k || key.starts_with(&format!("{k}.")))
    }

    /// What decides which measured architectures compete for the run's best.
    pub fn rules(&self) -> super::selection::Rules {
        super::selection::Rules {
            budgets_equal: self.evaluator.config.budgets_equal(),
            latency: self.constraints.latency_ms,
        }
    }

    /// Real evaluations (trainings) the run will make in all.
    pub fn planned_queries(&self) -> usize {
        let searched = match &self.predictor {
            Some(p) if self.strategy.uses_predictor() => {
                p.train_archs + self.search.top_k * self.search.rounds * self.search.final_repeats
            }
            _ => self.search.queries.unwrap_or(0),
        };
        searched + self.search.reference.as_ref().map_or(0, |_| self.search.final_repeats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_run_config_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            // run configs (predictor experiment configs have no evaluator)
            if path.extension().is_some_and(|e| e == "yaml") && text.contains("\nevaluator:") {
                RunConfig::load(&path, &[]).unwrap_or_else(|e| panic!("{e:#}"));
                checked += 1;
            }
        }
        assert!(checked >= 8, "only {checked} run configs found");
    }
}
