//! The work behind `nas-search space ...`: sample genotypes of a space file
//! with their cost, and cost one genotype given as text.

use std::path::Path;

use anyhow::Result;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::SpaceConfig;
use crate::net::Cost;

/// `n` genotypes sampled with `seed`, each as (text, cost).
pub fn sample(space_file: &Path, n: usize, seed: u64) -> Result<Vec<(String, Cost)>> {
    let space = SpaceConfig::load(space_file)?.build()?;
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let text = space.sample_text(&mut rng);
            let cost = space.cost_of(&text)?;
            Ok((text, cost))
        })
        .collect()
}

/// The cost of the genotype written as `text` in the space of `space_file`.
pub fn cost(space_file: &Path, text: &str) -> Result<Cost> {
    let space = SpaceConfig::load(space_file)?.build()?;
    space.cost_of(text).map_err(|e| e.context(format!("genotype is not valid in {}", space_file.display())))
}
