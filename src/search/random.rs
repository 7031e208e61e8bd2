//! Random search: uniformly sampled architectures that meet the
//! constraints and have not been evaluated yet.

use std::collections::HashSet;

use anyhow::Result;
use rand::rngs::StdRng;

use super::Constraints;
use crate::space::SearchSpace;

/// A new architecture for real evaluation, not in `evaluated` (keys).
pub fn propose<S: SearchSpace>(
    space: &S,
    constraints: &Constraints,
    rng: &mut StdRng,
    evaluated: &HashSet<String>,
) -> Result<S::Genotype> {
    for _ in 0..constraints.max_tries.max(1) {
        let g = constraints.draw(space, rng, |r| space.sample(r))?;
        if !evaluated.contains(&space.key(&g)) {
            return Ok(g);
        }
    }
    anyhow::bail!("random search: no architecture left that was not evaluated yet ({} tries)", constraints.max_tries)
}
