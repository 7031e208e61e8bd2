//! Search strategies: Once-for-All-style evolution guided by a fitness
//! function (the predictor), a predictor-ranked local search around the best
//! measured architecture, NSGA-II over accuracy and cost (with the predictor,
//! or on real evaluations), and, as baselines on real evaluations,
//! regularized (aging) evolution, random search and BANANAS (a published
//! predictor-guided search, for comparison). Also the cost constraints every
//! proposal must meet.
//!
//! Strategies are pure: randomness comes from generators the caller seeds,
//! and their state is plain data the run checkpoints.

pub mod bananas;
pub mod evolution;
pub mod local;
pub mod nsga2;
pub mod pareto;
pub mod random;
pub mod regularized;
#[cfg(test)]
pub(crate) mod testing;

use anyhow::{Result, bail};
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::net::Cost;
use crate::space::SearchSpace;

/// Optional lower and upper bound on one cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bound {
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
}

impl Bound {
    /// Whether `v` is within the bound (NaN never is).
    pub fn holds(&self, v: f64) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }

    pub fn is_set(&self) -> bool {
        self.min.is_some() || self.max.is_some()
    }

    pub fn describe(&self, what: &str) -> String {
        match (self.min, self.max) {
            (Some(a), Some(b)) => format!("{a} <= {what} <= {b}"),
            (Some(a), None) => format!("{what} >= {a}"),
            (None, Some(b)) => format!("{what} <= {b}"),
            (None, None) => String::new(),
        }
    }
}

/// `steps` mutations in a row from `from` (each of the previous result):
/// a random walk of that many edits, for searches that step further than
/// one mutation when the nearer ones were all evaluated.
pub fn mutations<S: SearchSpace>(space: &S, from: &S::Genotype, steps: usize, rng: &mut StdRng) -> S::Genotype {
    let mut g = space.mutate(from, rng);
    for _ in 1..steps {
        g = space.mutate(&g, rng);
    }
    g
}

/// Constraints on the evaluation network's cost (`constraints:`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constraints {
    #[serde(default)]
    pub params: Bound,
    #[serde(default)]
    pub macs: Bound,
    /// Latency in ms: the search bounds what its latency source predicts;
    /// the summary judges the evaluated architectures on their measured
    /// latency, and only those that meet it compete for the run's best.
    #[serde(default)]
    pub latency_ms: Bound,
    /// Proposals tried before giving up on meeting the constraints.
    #[serde(default = "d_tries")]
    pub max_tries: usize,
}

fn d_tries() -> usize {
    10_000
}

impl Default for Constraints {
    fn default() -> Self {
        Self { params: Bound::default(), macs: Bound::default(), latency_ms: Bound::default(), max_tries: d_tries() }
    }
}

impl Constraints {
    pub fn holds(&self, c: Cost) -> bool {
        self.params.holds(c.params as f64)
            && self.macs.holds(c.macs as f64)
            && (!self.latency_ms.is_set() || self.latency_ms.holds(c.latency_ms.unwrap_or(f64::NAN)))
    }

    /// What the constraints bound, in words (empty when nothing).
    pub fn describe(&self) -> String {
        let parts: Vec<String> =
            [self.params.describe("params"), self.macs.describe("MACs"), self.latency_ms.describe("latency (ms)")]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect();
        parts.join(" and ")
    }

    /// Draws proposals from `propose` until one meets the constraints
    /// (rejection sampling), failing after `max_tries`.
    pub fn draw<S: SearchSpace>(
        &self,
        space: &S,
        rng: &mut StdRng,
        mut propose: impl FnMut(&mut StdRng) -> S::Genotype,
    ) -> Result<S::Genotype> {
        let mut closest: Option<Cost> = None;
        for _ in 0..self.max_tries.max(1) {
            let g = propose(rng);
            let c = space.cost(&g);
            if self.holds(c) {
                return Ok(g);
            }
            // the smallest by what is bounded: latency when it is, else params
            let size = |c: &Cost| match c.latency_ms {
                Some(l) if self.latency_ms.is_set() => l,
                _ => c.params as f64,
            };
            closest = Some(closest.map_or(c, |b: Cost| if size(&c) < size(&b) { c } else { b }));
        }
        let c = closest.unwrap_or_default();
        let latency = c.latency_ms.map_or(String::new(), |l| format!(", {l:.3} ms"));
        bail!(
            "constraints: no architecture with {} in {} tries (the smallest seen had {} params, {} MACs{latency}); loosen constraints or raise constraints.max_tries",
            self.describe(),
            self.max_tries,
            c.params,
            c.macs
        )
    }
}

/// Scores genotypes (higher is better); the evolution's fitness.
/// What a search optimises: a score per genotype, higher better. A score
/// that is not a number ranks as the worst: implementations return
/// [`worst_if_nan`] of what their model gave.
pub trait Fitness<G> {
    fn score(&mut self, genotypes: &[G]) -> Vec<f64>;
}

/// A score as searches store and sort it: NaN (a predictor that produced
/// no number) becomes the worst score, so it never ranks above a real one
/// (the lowest finite number: crowding distances and hypervolumes stay numbers).
pub fn worst_if_nan(score: f64) -> f64 {
    if score.is_nan() { WORST_SCORE } else { score }
}

/// The score of an architecture the fitness could not score.
pub const WORST_SCORE: f64 = f64::MIN;

/// A search that runs generation by generation over a fitness, with a
/// state that is plain data: the run checkpoints it between generations
/// and continues it exactly (the predictor-guided evolution and NSGA-II).
pub trait Generational<S: SearchSpace> {
    /// Everything needed to continue the search exactly.
    type State: Clone;
    /// What one generation reports (a row of `generations.csv`).
    type Stats;
    /// Generations to run in all.
    fn generations(&self) -> usize;
    /// Generations finished and architectures scored so far (with repeats) in `st`.
    fn progress(st: &Self::State) -> (usize, usize);
    /// Generation 0: `seeds` first, then random architectures.
    fn init(
        &self,
        seeds: Vec<S::Genotype>,
        rng: &mut StdRng,
        fitness: &mut dyn Fitness<S::Genotype>,
    ) -> Result<Self::State>;
    /// One generation.
    fn step(
        &self,
        st: &mut Self::State,
        rng: &mut StdRng,
        fitness: &mut dyn Fitness<S::Genotype>,
    ) -> Result<Self::Stats>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::testing::nb201 as space;
    use rand::SeedableRng;

    #[test]
    fn rejection_sampling_meets_bounds_or_says_why() {
        let s = space();
        let mut rng = StdRng::seed_from_u64(0);
        let c = Constraints { params: Bound { min: Some(4e5), max: Some(8e5) }, ..Default::default() };
        for _ in 0..50 {
            let g = c.draw(&s, &mut rng, |r| s.sample(r)).unwrap();
            let p = s.cost(&g).params;
            assert!((400_000..=800_000).contains(&p), "{p}");
        }
        let impossible =
            Constraints { params: Bound { min: None, max: Some(1000.0) }, max_tries: 50, ..Default::default() };
        let err = impossible.draw(&s, &mut rng, |r| s.sample(r)).unwrap_err().to_string();
        assert!(err.contains("params <= 1000") && err.contains("50 tries"), "{err}");
    }
}
