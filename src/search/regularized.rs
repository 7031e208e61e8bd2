//! Regularized (aging) evolution on real evaluations (Real et al., 2019):
//! the population is the last `population` evaluated architectures; each
//! step samples `sample_size` of them, mutates the most accurate, and the
//! oldest member ages out. Until the population is full, proposals are random.

use std::collections::HashSet;

use anyhow::{Result, bail};
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::Constraints;
use crate::space::SearchSpace;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegularizedConfig {
    #[serde(default = "d_pop")]
    pub population: usize,
    #[serde(default = "d_sample")]
    pub sample_size: usize,
}

fn d_pop() -> usize {
    20
}
fn d_sample() -> usize {
    5
}

impl Default for RegularizedConfig {
    fn default() -> Self {
        Self { population: 20, sample_size: 5 }
    }
}

/// The next architecture to evaluate, given the history of (genotype text,
/// accuracy) in evaluation order; failed evaluations have no accuracy.
pub fn propose<S: SearchSpace>(
    space: &S,
    cfg: &RegularizedConfig,
    constraints: &Constraints,
    rng: &mut StdRng,
    history: &[(String, Option<f64>)],
    evaluated: &HashSet<String>,
) -> Result<S::Genotype> {
    if history.len() < cfg.population {
        return super::random::propose(space, constraints, rng, evaluated);
    }
    let population = &history[history.len() - cfg.population..];
    let mut best: Option<&(String, Option<f64>)> = None;
    for _ in 0..cfg.sample_size.max(1) {
        let m = &population[rng.random_range(0..population.len())];
        if best.is_none_or(|b| m.1.unwrap_or(f64::NEG_INFINITY) > b.1.unwrap_or(f64::NEG_INFINITY)) {
            best = Some(m);
        }
    }
    let parent = space.parse(&best.expect("sampled at least one").0)?;
    for _ in 0..constraints.max_tries.max(1) {
        let child = constraints.draw(space, rng, |r| space.mutate(&parent, r))?;
        if !evaluated.contains(&space.key(&child)) {
            return Ok(child);
        }
    }
    bail!("regularized evolution: every mutant of the parent was evaluated already ({} tries)", constraints.max_tries)
}
