//! BANANAS (White, Neiswanger and Savani, AAAI 2021), re-implemented from
//! the paper's description as a published predictor-guided baseline:
//! after `init` random architectures, each round trains an ensemble of
//! small networks ([`mlp`]) on the path encodings ([`paths`]) of every
//! measured architecture, makes candidates by mutating the best measured
//! ones, and sends to real evaluation the `per_round` candidates that
//! independent Thompson sampling ranks best (each candidate's predicted
//! error drawn once from a normal distribution with the ensemble's mean and
//! spread). The defaults are the paper's (and NASLib's) NAS-Bench-201
//! settings: 10 initial, 10 a round, 5 networks, 100 candidates from the 2
//! best, one mutation each.
//!
//! Pure: randomness from the caller's generator, no state between rounds
//! (the history of evaluations is the state).

pub mod mlp;
pub mod paths;

use std::collections::{HashMap, HashSet};

use anyhow::{Result, bail};
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use super::Constraints;
use crate::graph::ArchGraph;
use crate::space::SearchSpace;
use mlp::{Mlp, MlpSettings};
use paths::PathIndex;

/// `search.bananas:`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BananasConfig {
    /// Random architectures evaluated before the first ensemble.
    #[serde(default = "d_init")]
    pub init: usize,
    /// Architectures sent to real evaluation each round.
    #[serde(default = "d_per_round")]
    pub per_round: usize,
    /// Networks in the ensemble.
    #[serde(default = "d_ensemble")]
    pub ensemble: usize,
    /// Mutations drawn each round (duplicates and measured ones dropped).
    #[serde(default = "d_candidates")]
    pub candidates: usize,
    /// How many of the best measured architectures are mutated.
    #[serde(default = "d_mutate_best")]
    pub mutate_best: usize,
    /// Paths longer than this many operations are not encoded.
    #[serde(default = "d_max_path_ops")]
    pub max_path_ops: usize,
    /// Bits of the truncated path encoding.
    #[serde(default = "d_max_paths")]
    pub max_paths: usize,
    #[serde(default)]
    pub mlp: MlpSettings,
}

fn d_init() -> usize {
    10
}
fn d_per_round() -> usize {
    10
}
fn d_ensemble() -> usize {
    5
}
fn d_candidates() -> usize {
    100
}
fn d_mutate_best() -> usize {
    2
}
fn d_max_path_ops() -> usize {
    6
}
fn d_max_paths() -> usize {
    1024
}

impl Default for BananasConfig {
    fn default() -> Self {
        Self {
            init: d_init(),
            per_round: d_per_round(),
            ensemble: d_ensemble(),
            candidates: d_candidates(),
            mutate_best: d_mutate_best(),
            max_path_ops: d_max_path_ops(),
            max_paths: d_max_paths(),
            mlp: MlpSettings::default(),
        }
    }
}

impl BananasConfig {
    /// Checks the settings, naming the key that is wrong.
    pub fn check(&self) -> Result<()> {
        for (key, v) in [
            ("per_round", self.per_round),
            ("ensemble", self.ensemble),
            ("candidates", self.candidates),
            ("mutate_best", self.mutate_best),
            ("max_path_ops", self.max_path_ops),
            ("max_paths", self.max_paths),
            ("mlp.width", self.mlp.width),
            ("mlp.batch_size", self.mlp.batch_size),
        ] {
            if v == 0 {
                bail!("key `search.bananas.{key}` must be at least 1, got 0");
            }
        }
        if !(self.mlp.lr > 0.0 && self.mlp.lr.is_finite()) {
            bail!("key `search.bananas.mlp.lr` must be a positive number, got {}", self.mlp.lr);
        }
        Ok(())
    }
}

/// A round's proposals: up to `size` unmeasured architectures (never one of
/// `taken`, keys) that meet the constraints, best first by independent
/// Thompson sampling, from the `history` of (genotype text, accuracy %)
/// evaluations. Fewer when the mutations found fewer new ones (the caller
/// fills the wave with random ones); none when nothing was measured yet.
pub fn propose_wave<S: SearchSpace>(
    space: &S,
    cfg: &BananasConfig,
    constraints: &Constraints,
    rng: &mut StdRng,
    history: &[(String, Option<f64>)],
    taken: &HashSet<String>,
    size: usize,
) -> Result<Vec<S::Genotype>> {
    // each measured architecture once, at its last accuracy, in the order first measured
    let mut measured: Vec<(S::Genotype, f64)> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for (text, acc) in history {
        let Some(acc) = acc else { continue };
        let g = space.parse(text)?;
        match at.entry(space.key(&g)) {
            std::collections::hash_map::Entry::Occupied(i) => measured[*i.get()].1 = *acc,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(measured.len());
                measured.push((g, *acc));
            }
        }
    }
    if measured.is_empty() || size == 0 {
        return Ok(Vec::new());
    }
    let candidates = candidates(space, cfg, constraints, rng, &measured, taken);
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let graphs: Vec<_> = measured.iter().map(|(g, _)| space.to_graph(g)).collect();
    let cand_graphs: Vec<_> = candidates.iter().map(|g| space.to_graph(g)).collect();
    let index = PathIndex::new(graphs.iter().chain(&cand_graphs), cfg.max_path_ops, cfg.max_paths);
    if index.is_empty() {
        return Err(no_paths(cfg, space.name()));
    }
    // the networks predict the error (1 - accuracy), as the paper's predict the validation loss
    let x: Vec<Vec<f32>> = graphs.iter().map(|g| index.encode(g)).collect();
    let y: Vec<f32> = measured.iter().map(|(_, acc)| (1.0 - acc / 100.0) as f32).collect();
    let nets: Vec<Mlp> = (0..cfg.ensemble).map(|_| Mlp::train(&x, &y, &cfg.mlp, rng)).collect();
    let mut drawn: Vec<(f64, usize)> = Vec::with_capacity(candidates.len());
    for (i, g) in cand_graphs.iter().enumerate() {
        let v = index.encode(g);
        let p: Vec<f64> = nets.iter().map(|n| n.predict(&v) as f64).collect();
        drawn.push((thompson(&p, rng), i));
    }
    drawn.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut chosen: Vec<Option<S::Genotype>> = candidates.into_iter().map(Some).collect();
    Ok(drawn.into_iter().take(size).filter_map(|(_, i)| chosen[i].take()).collect())
}

/// Checks, before a run evaluates anything, that architectures of the
/// space named `space` (`graphs`, a sample of them) have paths to encode.
pub fn check_space(cfg: &BananasConfig, space: &str, graphs: &[ArchGraph]) -> Result<()> {
    if graphs.iter().all(|g| paths::paths(g, cfg.max_path_ops).is_empty()) {
        return Err(no_paths(cfg, space));
    }
    Ok(())
}

fn no_paths(cfg: &BananasConfig, space: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "strategy bananas: no input-to-output path of at most {} operations (key `search.bananas.max_path_ops`) \
         in the architectures of {space}, so BANANAS's path encoding is empty (a chain space's one path is long): \
         use another strategy",
        cfg.max_path_ops,
    )
}

/// One draw from the normal distribution with the mean and (population)
/// standard deviation of the ensemble's predictions `p`.
fn thompson(p: &[f64], rng: &mut StdRng) -> f64 {
    let mean = p.iter().sum::<f64>() / p.len() as f64;
    let sd = (p.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / p.len() as f64).sqrt();
    match Normal::new(mean, sd) {
        Ok(n) if sd > 0.0 => n.sample(rng),
        _ => mean,
    }
}

/// `cfg.candidates` single mutations of the best `cfg.mutate_best` measured
/// architectures (as many of each), without duplicates, measured or taken
/// ones, or ones that break the constraints.
fn candidates<S: SearchSpace>(
    space: &S,
    cfg: &BananasConfig,
    constraints: &Constraints,
    rng: &mut StdRng,
    measured: &[(S::Genotype, f64)],
    taken: &HashSet<String>,
) -> Vec<S::Genotype> {
    let mut best: Vec<usize> = (0..measured.len()).collect();
    // most accurate first; ties in the order measured
    best.sort_by(|&a, &b| measured[b].1.total_cmp(&measured[a].1).then(a.cmp(&b)));
    best.truncate(cfg.mutate_best);
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for &parent in &best {
        for _ in 0..cfg.candidates / best.len() {
            let g = space.mutate(&measured[parent].0, rng);
            let key = space.key(&g);
            if !taken.contains(&key) && constraints.holds(space.cost(&g)) && seen.insert(key) {
                out.push(g);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::testing::nb201;
    use crate::space::nb201::Nb201Space;
    use rand::SeedableRng;

    /// A NAS-Bench-201-shaped history whose accuracy counts 3x3 convolutions.
    fn history(space: &Nb201Space, n: usize, rng: &mut StdRng) -> Vec<(String, Option<f64>)> {
        (0..n)
            .map(|_| {
                let g = space.sample(rng);
                let text = space.format(&g);
                let acc = 50.0 + 5.0 * text.matches("nor_conv_3x3").count() as f64;
                (text, Some(acc))
            })
            .collect()
    }

    #[test]
    fn a_round_proposes_new_neighbours_of_the_best_that_the_ensemble_ranks_high() {
        let space = nb201();
        let convs = |text: &str| 50.0 + 5.0 * text.matches("nor_conv_3x3").count() as f64;
        let cfg = BananasConfig::default();
        let (mut picked, mut pool) = (0.0, 0.0);
        for seed in 0..4 {
            let mut rng = StdRng::seed_from_u64(seed);
            let hist = history(&space, 40, &mut rng);
            let taken: HashSet<String> = hist.iter().map(|(t, _)| space.key(&space.parse(t).unwrap())).collect();
            let round = |seed| {
                propose_wave(&space, &cfg, &Constraints::default(), &mut StdRng::seed_from_u64(seed), &hist, &taken, 10)
                    .unwrap()
            };
            let wave = round(100 + seed);
            assert_eq!(wave.len(), 10);
            let keys: HashSet<String> = wave.iter().map(|g| space.key(g)).collect();
            assert_eq!(keys.len(), 10, "distinct");
            assert!(keys.is_disjoint(&taken), "never a measured architecture");
            assert_eq!(round(100 + seed), wave, "the same generator gives the same round");
            picked += wave.iter().map(|g| convs(&space.format(g))).sum::<f64>() / 10.0;
            // the candidates the round chose from (the same draws: the generator's first use)
            let measured: Vec<_> = hist.iter().map(|(t, a)| (space.parse(t).unwrap(), a.unwrap())).collect();
            let c = candidates(
                &space,
                &cfg,
                &Constraints::default(),
                &mut StdRng::seed_from_u64(100 + seed),
                &measured,
                &taken,
            );
            assert!(wave.iter().all(|g| c.contains(g)), "the picks are among the candidates");
            pool += c.iter().map(|g| convs(&space.format(g))).sum::<f64>() / c.len() as f64;
        }
        // the ensemble's picks are better than the candidates they were chosen from, on average
        assert!(picked > pool + 1.0, "picked {} a round, candidates {}", picked / 4.0, pool / 4.0);
    }

    #[test]
    fn nothing_measured_proposes_nothing_and_bad_settings_name_their_key() {
        let space = nb201();
        let hist = vec![(space.format(&space.sample(&mut StdRng::seed_from_u64(1))), None)];
        let wave = propose_wave(
            &space,
            &BananasConfig::default(),
            &Constraints::default(),
            &mut StdRng::seed_from_u64(1),
            &hist,
            &HashSet::new(),
            10,
        )
        .unwrap();
        assert!(wave.is_empty());
        let e = BananasConfig { ensemble: 0, ..Default::default() }.check().unwrap_err();
        assert!(e.to_string().contains("search.bananas.ensemble"), "{e}");
    }
}
