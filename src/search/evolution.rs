//! Once-for-All-style evolution: a population scored by a fitness function;
//! each generation keeps the top `parent_ratio` as parents and adds
//! `mutation_ratio` x population children by mutation of a random parent and
//! the rest by crossover of two random parents, every child meeting the
//! constraints. A hall of fame keeps the best distinct architectures ever
//! scored, from which the top-K for real evaluation are taken.

use std::collections::HashSet;

use anyhow::Result;
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::{Constraints, Fitness, Generational, worst_if_nan};
use crate::space::SearchSpace;

/// `search:` settings of the evolution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvolutionConfig {
    #[serde(default = "d_pop")]
    pub population: usize,
    #[serde(default = "d_parent")]
    pub parent_ratio: f64,
    #[serde(default = "d_mut")]
    pub mutation_ratio: f64,
    #[serde(default = "d_gen")]
    pub generations: usize,
}

fn d_pop() -> usize {
    100
}
fn d_parent() -> f64 {
    0.25
}
fn d_mut() -> f64 {
    0.5
}
fn d_gen() -> usize {
    500
}

impl Default for EvolutionConfig {
    fn default() -> Self {
        Self { population: 100, parent_ratio: 0.25, mutation_ratio: 0.5, generations: 500 }
    }
}

/// A scored member (genotype as text, so the state serializes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub key: String,
    pub genotype: String,
    pub score: f64,
}

/// Everything needed to continue an evolution exactly.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EvolutionState {
    /// Generations finished.
    pub generation: usize,
    pub population: Vec<Member>,
    /// Best distinct members ever scored, best first.
    pub hall_of_fame: Vec<Member>,
    /// Architectures scored so far (with repeats).
    pub scored: usize,
}

/// Statistics of one generation (a row of `generations.csv`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GenerationStats {
    pub generation: usize,
    pub best_score: f64,
    pub mean_score: f64,
    pub median_score: f64,
    pub best_key: String,
    pub scored: usize,
}

fn sort_desc(v: &mut [Member]) {
    v.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.key.cmp(&b.key)));
}

pub struct Evolution<'a, S: SearchSpace> {
    pub space: &'a S,
    pub cfg: &'a EvolutionConfig,
    pub constraints: &'a Constraints,
    pub hall_size: usize,
}

impl<S: SearchSpace> Generational<S> for Evolution<'_, S> {
    type State = EvolutionState;
    type Stats = GenerationStats;

    fn generations(&self) -> usize {
        self.cfg.generations
    }

    fn progress(st: &EvolutionState) -> (usize, usize) {
        (st.generation, st.scored)
    }

    /// The initial population (generation 0): `seeds` first, then random
    /// architectures meeting the constraints.
    fn init(
        &self,
        seeds: Vec<S::Genotype>,
        rng: &mut StdRng,
        fitness: &mut dyn Fitness<S::Genotype>,
    ) -> Result<EvolutionState> {
        let mut st = EvolutionState::default();
        let mut gs: Vec<S::Genotype> = seeds.into_iter().take(self.cfg.population).collect();
        while gs.len() < self.cfg.population {
            gs.push(self.constraints.draw(self.space, rng, |r| self.space.sample(r))?);
        }
        st.population = self.members(gs, fitness, &mut st);
        sort_desc(&mut st.population);
        Ok(st)
    }

    /// One generation: parents, then mutated and crossed-over children.
    fn step(
        &self,
        st: &mut EvolutionState,
        rng: &mut StdRng,
        fitness: &mut dyn Fitness<S::Genotype>,
    ) -> Result<GenerationStats> {
        let n = self.cfg.population;
        let parents_n = ((self.cfg.parent_ratio * n as f64).round() as usize).clamp(1, st.population.len().max(1));
        let mutations = (self.cfg.mutation_ratio * n as f64).round() as usize;
        sort_desc(&mut st.population);
        st.population.truncate(parents_n);
        let parents: Vec<S::Genotype> =
            st.population.iter().map(|m| self.space.parse(&m.genotype)).collect::<Result<_>>()?;
        let mut children = Vec::with_capacity(n);
        for _ in 0..mutations {
            let p = &parents[rng.random_range(0..parents.len())];
            children.push(self.constraints.draw(self.space, rng, |r| self.space.mutate(p, r))?);
        }
        for _ in mutations..n {
            let a = &parents[rng.random_range(0..parents.len())];
            let b = &parents[rng.random_range(0..parents.len())];
            children.push(self.constraints.draw(self.space, rng, |r| self.space.crossover(a, b, r))?);
        }
        let children = self.members(children, fitness, st);
        st.population.extend(children);
        sort_desc(&mut st.population);
        st.generation += 1;
        let scores: Vec<f64> = st.population.iter().map(|m| m.score).collect();
        Ok(GenerationStats {
            generation: st.generation,
            best_score: st.hall_of_fame.first().map_or(f64::NAN, |m| m.score),
            mean_score: scores.iter().sum::<f64>() / scores.len() as f64,
            median_score: crate::stats::median(&scores).unwrap_or(f64::NAN),
            best_key: st.hall_of_fame.first().map(|m| m.key.clone()).unwrap_or_default(),
            scored: st.scored,
        })
    }
}

impl<S: SearchSpace> Evolution<'_, S> {
    fn members(
        &self,
        gs: Vec<S::Genotype>,
        fitness: &mut dyn Fitness<S::Genotype>,
        st: &mut EvolutionState,
    ) -> Vec<Member> {
        let scores = fitness.score(&gs);
        st.scored += gs.len();
        let members: Vec<Member> = gs
            .iter()
            .zip(scores)
            .map(|(g, score)| Member {
                key: self.space.key(g),
                genotype: self.space.format(g),
                score: worst_if_nan(score),
            })
            .collect();
        self.update_hall(st, &members);
        members
    }

    fn update_hall(&self, st: &mut EvolutionState, members: &[Member]) {
        let mut seen: HashSet<String> = st.hall_of_fame.iter().map(|m| m.key.clone()).collect();
        for m in members {
            if seen.insert(m.key.clone()) {
                st.hall_of_fame.push(m.clone());
            }
        }
        sort_desc(&mut st.hall_of_fame);
        st.hall_of_fame.truncate(self.hall_size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::testing::{Convs, NanForPools, nb201 as space, pooled};
    use crate::space::nb201::Nb201Cell;
    use rand::SeedableRng;

    #[test]
    fn evolution_climbs_to_the_optimum() {
        let space = space();
        let cfg = EvolutionConfig { population: 30, generations: 30, ..Default::default() };
        let constraints = Constraints::default();
        let evo = Evolution { space: &space, cfg: &cfg, constraints: &constraints, hall_size: 10 };
        let mut rng = StdRng::seed_from_u64(3);
        let mut st = evo.init(Vec::new(), &mut rng, &mut Convs).unwrap();
        let first = st.hall_of_fame[0].score;
        let mut last = None;
        for _ in 0..cfg.generations {
            last = Some(evo.step(&mut st, &mut rng, &mut Convs).unwrap());
        }
        let last = last.unwrap();
        assert_eq!(last.best_score, 6.0, "started at {first}");
        assert!(last.mean_score > 4.0);
        assert_eq!(st.hall_of_fame.len(), 10);
        assert!(st.hall_of_fame.windows(2).all(|w| w[0].score >= w[1].score));
        let keys: HashSet<_> = st.hall_of_fame.iter().map(|m| &m.key).collect();
        assert_eq!(keys.len(), 10);
    }

    #[test]
    fn nan_scores_rank_last_and_never_reach_the_hall_of_fame_top() {
        let space = space();
        let cfg = EvolutionConfig { population: 20, generations: 5, ..Default::default() };
        let constraints = Constraints::default();
        let evo = Evolution { space: &space, cfg: &cfg, constraints: &constraints, hall_size: 400 };
        let mut rng = StdRng::seed_from_u64(5);
        let mut st = evo.init(Vec::new(), &mut rng, &mut NanForPools).unwrap();
        for _ in 0..cfg.generations {
            evo.step(&mut st, &mut rng, &mut NanForPools).unwrap();
        }
        let unscorable = |m: &Member| pooled(&m.genotype);
        assert!(st.hall_of_fame.iter().any(unscorable), "the test needs some NaN-scored cells");
        assert!(st.hall_of_fame.iter().all(|m| !m.score.is_nan()));
        // every NaN-scored member sits below every scored one
        let first_bad = st.hall_of_fame.iter().position(unscorable).unwrap();
        assert!(st.hall_of_fame[first_bad..].iter().all(unscorable), "{:?}", &st.hall_of_fame[first_bad..]);
        assert!(!unscorable(&st.population[0]));
    }

    #[test]
    fn seeds_start_the_population() {
        let space = space();
        let cfg = EvolutionConfig { population: 8, generations: 1, ..Default::default() };
        let constraints = Constraints::default();
        let evo = Evolution { space: &space, cfg: &cfg, constraints: &constraints, hall_size: 4 };
        let best: Nb201Cell =
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
                .parse()
                .unwrap();
        let st = evo.init(vec![best], &mut StdRng::seed_from_u64(1), &mut Convs).unwrap();
        assert_eq!(st.population.len(), 8);
        assert_eq!(st.population[0].genotype, space.format(&best));
        assert_eq!(st.population[0].score, 6.0);
    }
}
