//! The run's checkpoint (`checkpoint.json`): which stage it is in and what
//! that stage needs to continue exactly. Finished evaluations are not in
//! it: `evaluations.csv` is their record. Random choices are drawn from
//! generators seeded by (seed, stage, round, step), so the seed and these
//! counters are the whole random state.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::atomic_file::write_atomic;
use crate::search::evolution::EvolutionState;
use crate::search::nsga2::Nsga2State;

/// Where the workflow is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    SampleData,
    EvaluateData,
    Train,
    Search,
    EvaluateFinal,
    Baseline,
    Report,
    Done,
}

/// Where a picked architecture came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PickSource {
    /// Sampled at random or proposed by a baseline, without the predictor.
    #[default]
    #[serde(rename = "")]
    Unscored,
    /// The predictor-guided evolution's best predicted.
    #[serde(rename = "evolution")]
    Evolution,
    /// A best-predicted neighbour of the best measured architecture.
    #[serde(rename = "local")]
    Local,
    /// A member of the predicted front (nar-former-nsga2).
    #[serde(rename = "front")]
    Front,
}

/// An architecture picked for evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pick {
    pub key: String,
    pub genotype: String,
    /// Predicted score (top-K picks only).
    pub score: Option<f64>,
    /// Round of a top-K pick.
    #[serde(default)]
    pub round: usize,
    #[serde(default)]
    pub source: PickSource,
    /// The latency the search saw for it, ms (runs with `latency:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
}

impl Pick {
    /// An architecture picked without the predictor (random or baseline).
    pub fn unscored(key: String, genotype: String) -> Self {
        Self { key, genotype, score: None, round: 0, source: PickSource::Unscored, latency_ms: None }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub format: u32,
    /// Folder of the config file the run started from: only in checkpoints
    /// of the first format, whose config.yaml kept relative paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_dir: Option<PathBuf>,
    /// The config file the run was started (or last resumed) from, to name
    /// in the hints it prints (absent in checkpoints written before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_file: Option<PathBuf>,
    pub stage: Stage,
    pub round: usize,
    /// Architectures sampled for the predictor's training data.
    pub data: Vec<Pick>,
    /// This round's top-K by predicted score.
    pub top_k: Vec<Pick>,
    /// The evolution in progress (Search stage).
    pub evolution: Option<EvolutionState>,
    /// The NSGA-II search in progress (Search stage of nar-former-nsga2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub front: Option<Nsga2State>,
    /// Final top-K of every round, for the report.
    pub all_top_k: Vec<Pick>,
    /// A baseline's proposals being evaluated now (a wave of as many as the
    /// evaluator runs at once), so that a resume evaluates the same ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wave: Vec<Pick>,
    /// Rounds whose predictor folder is of an earlier training (before a
    /// --retry-failed went back): removed when the round's training starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discard: Vec<usize>,
    /// A baseline's proposals (keys) in the order they were made, as runs
    /// before `proposals.csv` kept them (moved there on resume).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proposed: Vec<String>,
    /// Why a baseline ended before its queries: the space is exhausted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exhausted: Option<String>,
    pub predictor_seconds: Vec<f64>,
    pub search_seconds: f64,
    pub scored: usize,
    /// A fingerprint of the files the run's `latency:` section reads (see
    /// `LatencyConfig::fingerprint`): a resume refuses files that changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_files: Option<String>,
}

impl RunState {
    pub fn new(first: Stage) -> Self {
        Self {
            format: 2,
            config_dir: None,
            config_file: None,
            stage: first,
            round: 0,
            data: Vec::new(),
            top_k: Vec::new(),
            evolution: None,
            front: None,
            all_top_k: Vec::new(),
            wave: Vec::new(),
            proposed: Vec::new(),
            exhausted: None,
            discard: Vec::new(),
            predictor_seconds: Vec::new(),
            search_seconds: 0.0,
            scored: 0,
            latency_files: None,
        }
    }

    pub fn load(path: &Path) -> Result<Option<Self>> {
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let s = serde_json::from_str(&text)
            .with_context(|| format!("{} is corrupt; the run cannot resume from it", path.display()))?;
        Ok(Some(s))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &serde_json::to_vec(self)?)
    }
}

/// The generator for one step of one stage.
pub fn rng_for(seed: u64, stage: &str, round: usize, step: usize) -> StdRng {
    StdRng::seed_from_u64(crate::seed::derive(seed, &[stage.as_bytes(), &round.to_le_bytes(), &step.to_le_bytes()]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::evolution::Member;

    #[test]
    fn scores_survive_the_checkpoint_bit_for_bit() {
        let mut state = RunState::new(Stage::Search);
        // the first: a score the first format wrote as 0.42000237107276917 and read back one bit off
        let scores = [0.42000237107276917_f64, 0.1 + 0.2, 1.0 / 3.0, 7e-310];
        state.evolution = Some(EvolutionState {
            population: scores.iter().map(|&score| Member { key: "k".into(), genotype: "g".into(), score }).collect(),
            ..Default::default()
        });
        let back: RunState = serde_json::from_slice(&serde_json::to_vec(&state).unwrap()).unwrap();
        let got: Vec<u64> = back.evolution.unwrap().population.iter().map(|m| m.score.to_bits()).collect();
        assert_eq!(got, scores.map(f64::to_bits));
    }
}
