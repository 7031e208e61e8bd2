//! The work behind `nas-search space ...`: sample genotypes of a space file
//! with their cost, and cost one genotype given as text.

use std::path::Path;

use anyhow::Result;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::{SearchSpace, SpaceConfig, SpaceTask};
use crate::net::Cost;

/// `n` genotypes sampled with `seed`, each as (text, cost).
pub fn sample(space_file: &Path, n: usize, seed: u64) -> Result<Vec<(String, Cost)>> {
    struct Sample(usize, u64);
    impl SpaceTask for Sample {
        type Output = Vec<(String, Cost)>;
        fn run<S: SearchSpace>(self, s: &S) -> Self::Output {
            let mut rng = StdRng::seed_from_u64(self.1);
            (0..self.0)
                .map(|_| {
                    let g = s.sample(&mut rng);
                    (s.format(&g), s.cost(&g))
                })
                .collect()
        }
    }
    SpaceConfig::load(space_file)?.dispatch(Sample(n, seed))
}

/// The cost of the genotype written as `text` in the space of `space_file`.
pub fn cost(space_file: &Path, text: &str) -> Result<Cost> {
    struct CostOf<'a>(&'a str);
    impl SpaceTask for CostOf<'_> {
        type Output = Result<Cost>;
        fn run<S: SearchSpace>(self, s: &S) -> Self::Output {
            Ok(s.cost(&s.parse(self.0)?))
        }
    }
    let cfg = SpaceConfig::load(space_file)?;
    cfg.dispatch(CostOf(text))?.map_err(|e| e.context(format!("genotype is not valid in {}", space_file.display())))
}
