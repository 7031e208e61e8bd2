//! Regularized (aging) evolution on real evaluations (Real et al., 2019):
//! the population is the last `population` evaluated architectures; each
//! step samples `sample_size` of them, mutates the most accurate, and the
//! oldest member ages out. Until the population is full, proposals are random.
//! Architectures are never evaluated twice: when every single mutation of the
//! parent was evaluated already, the child is two (then three) mutations
//! away, and failing that a random unevaluated architecture.

use std::collections::HashSet;

use anyhow::Result;
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
    for steps in 1..=MAX_STEPS {
        for _ in 0..constraints.max_tries.max(1) {
            let child = constraints.draw(space, rng, |r| super::mutations(space, &parent, steps, r))?;
            if !evaluated.contains(&space.key(&child)) {
                return Ok(child);
            }
        }
    }
    super::random::propose(space, constraints, rng, evaluated)
}

/// Mutations in a row tried from the parent before a random proposal.
const MAX_STEPS: usize = 3;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::testing::{edits, nb201, single_edits};
    use crate::space::nb201::Nb201Cell;
    use rand::SeedableRng;

    #[test]
    fn steps_further_when_every_single_mutation_of_the_parent_was_evaluated() {
        let space = nb201();
        let parent: Nb201Cell =
            "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_3x3~1|nor_conv_3x3~2|"
                .parse()
                .unwrap();
        let mut evaluated: HashSet<String> = single_edits(&parent).iter().map(|c| space.key(c)).collect();
        evaluated.insert(space.key(&parent));
        let history = vec![(space.format(&parent), Some(90.0))];
        let cfg = RegularizedConfig { population: 1, sample_size: 1 };
        let constraints = Constraints { max_tries: 200, ..Constraints::default() };
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..20 {
            let child = propose(&space, &cfg, &constraints, &mut rng, &history, &evaluated).unwrap();
            assert!(!evaluated.contains(&space.key(&child)), "{}", space.format(&child));
            assert_eq!(edits(&child, &parent), 2, "{}", space.format(&child));
        }
    }
}
