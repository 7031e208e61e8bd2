//! NSGA-II (Deb et al., 2002) over accuracy and cost: each generation makes
//! `population` children from parents chosen by binary tournament (lower
//! front first, then larger crowding distance), by the space's crossover or
//! mutation, every child meeting the constraints; parents and children
//! together are sorted into fronts and the best `population` survive, the
//! last front cut by crowding distance.
//!
//! Two uses: with the predictor as the accuracy objective (a round's search,
//! [`Nsga2`]), and on real evaluations as a baseline ([`propose`]), whose
//! population is replayed from the evaluation history so that it needs no
//! state of its own.

use std::collections::HashSet;

use anyhow::{Result, bail};
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::pareto::{crowding_distance, hypervolume_2d, non_dominated_sort};
use super::{Constraints, Fitness, Generational, worst_if_nan};
use crate::net::Cost;
use crate::space::SearchSpace;

/// One objective of `search.objectives`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// Accuracy (predicted or measured), maximised.
    Accuracy,
    /// Parameters of the evaluation network, minimised.
    Params,
    /// Multiply-accumulates of the evaluation network, minimised.
    Macs,
    /// Latency of the evaluation network (ms), minimised: predicted while
    /// searching, measured once evaluated (a run's `latency:` section).
    Latency,
}

impl Objective {
    pub fn name(self) -> &'static str {
        match self {
            Self::Accuracy => "accuracy",
            Self::Params => "params",
            Self::Macs => "macs",
            Self::Latency => "latency",
        }
    }

    /// The cost this objective minimises (None for accuracy).
    pub fn cost(self, c: Cost) -> Option<f64> {
        match self {
            Self::Accuracy => None,
            Self::Params => Some(c.params as f64),
            Self::Macs => Some(c.macs as f64),
            // a latency the source could not give ranks as the worst
            Self::Latency => Some(c.latency_ms.unwrap_or(f64::INFINITY)),
        }
    }
}

/// The costs of `objectives` (accuracy left out), in their order.
pub fn costs(objectives: &[Objective], c: Cost) -> Vec<f64> {
    objectives.iter().filter_map(|o| o.cost(c)).collect()
}

/// `search.nsga2:` settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nsga2Config {
    #[serde(default = "d_pop")]
    pub population: usize,
    /// Generations per round (the predictor-guided search).
    #[serde(default = "d_gen")]
    pub generations: usize,
    /// Share of the children made by crossover; the rest by mutation.
    #[serde(default = "d_cross")]
    pub crossover_ratio: f64,
    /// The hypervolume's reference cost (the first cost objective's worst
    /// value counted); default: that cost's `constraints` maximum.
    #[serde(default)]
    pub reference_cost: Option<f64>,
}

fn d_pop() -> usize {
    100
}
fn d_gen() -> usize {
    30
}
fn d_cross() -> f64 {
    0.5
}

impl Default for Nsga2Config {
    fn default() -> Self {
        Self { population: d_pop(), generations: d_gen(), crossover_ratio: d_cross(), reference_cost: None }
    }
}

/// A scored member: predicted accuracy (a fraction) and its costs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrontMember {
    pub key: String,
    pub genotype: String,
    pub score: f64,
    pub costs: Vec<f64>,
}

impl FrontMember {
    /// The point NSGA-II minimises: (-accuracy, costs...).
    fn point(&self) -> Vec<f64> {
        std::iter::once(-self.score).chain(self.costs.iter().copied()).collect()
    }
}

/// Everything needed to continue the search exactly.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Nsga2State {
    pub generation: usize,
    pub population: Vec<FrontMember>,
    /// Architectures scored so far.
    pub scored: usize,
}

/// A generation's row of `generations.csv`.
#[derive(Clone, Debug, Serialize)]
pub struct FrontStats {
    pub generation: usize,
    pub best_score: f64,
    pub mean_score: f64,
    pub median_score: f64,
    pub best_key: String,
    pub scored: usize,
    /// Members of the first front.
    pub front_size: usize,
    /// Hypervolume of the first front in (predicted accuracy, first cost).
    pub hypervolume: f64,
}

/// The fronts of `members` and each member's (front, crowding distance).
fn rank(members: &[FrontMember]) -> (Vec<Vec<usize>>, Vec<(usize, f64)>) {
    let points: Vec<Vec<f64>> = members.iter().map(FrontMember::point).collect();
    let fronts = non_dominated_sort(&points);
    let mut ranks = vec![(0, 0.0); members.len()];
    for (f, front) in fronts.iter().enumerate() {
        for (&i, d) in front.iter().zip(crowding_distance(&points, front)) {
            ranks[i] = (f, d);
        }
    }
    (fronts, ranks)
}

/// Binary tournament: the lower front wins, then the larger crowding distance.
fn tournament(ranks: &[(usize, f64)], rng: &mut StdRng) -> usize {
    let (a, b) = (rng.random_range(0..ranks.len()), rng.random_range(0..ranks.len()));
    let better = ranks[a].0 < ranks[b].0 || (ranks[a].0 == ranks[b].0 && ranks[a].1 > ranks[b].1);
    if better || a == b { a } else { b }
}

/// The `n` survivors of `members`: whole fronts first, the last front cut
/// by crowding distance (ties by key, so the cut is deterministic).
pub fn survivors(members: Vec<FrontMember>, n: usize) -> Vec<FrontMember> {
    let (fronts, ranks) = rank(&members);
    let mut keep: Vec<usize> = Vec::with_capacity(n);
    for front in fronts {
        if keep.len() + front.len() <= n {
            keep.extend(front);
            continue;
        }
        let mut last = front;
        last.sort_by(|&a, &b| ranks[b].1.total_cmp(&ranks[a].1).then_with(|| members[a].key.cmp(&members[b].key)));
        keep.extend(last.into_iter().take(n - keep.len()));
        break;
    }
    keep.sort_unstable();
    keep.into_iter().map(|i| members[i].clone()).collect()
}

/// Hypervolume of `members` in (accuracy fraction, first cost): the share
/// of the box [0, 1] x [0, reference] their front dominates. 0 without a
/// cost objective.
pub fn hypervolume(members: &[(f64, f64)], reference: f64) -> f64 {
    if reference <= 0.0 {
        return 0.0;
    }
    let points: Vec<(f64, f64)> = members.iter().map(|&(acc, cost)| (1.0 - acc, cost / reference)).collect();
    hypervolume_2d(&points, (1.0, 1.0))
}

/// Draws a child of `parents` (by tournament on `ranks`) meeting the
/// constraints and not in `taken`.
fn child<S: SearchSpace>(
    space: &S,
    constraints: &Constraints,
    crossover_ratio: f64,
    parents: &[S::Genotype],
    ranks: &[(usize, f64)],
    taken: &HashSet<String>,
    rng: &mut StdRng,
) -> Result<S::Genotype> {
    for _ in 0..constraints.max_tries.max(1) {
        let a = &parents[tournament(ranks, rng)];
        let g = if rng.random_bool(crossover_ratio.clamp(0.0, 1.0)) {
            let b = &parents[tournament(ranks, rng)];
            constraints.draw(space, rng, |r| space.crossover(a, b, r))?
        } else {
            constraints.draw(space, rng, |r| space.mutate(a, r))?
        };
        if !taken.contains(&space.key(&g)) {
            return Ok(g);
        }
    }
    bail!("nsga2: no new child in {} tries: every child was in the population already", constraints.max_tries)
}

/// The predictor-guided NSGA-II of one round.
pub struct Nsga2<'a, S: SearchSpace> {
    pub space: &'a S,
    pub cfg: &'a Nsga2Config,
    pub objectives: &'a [Objective],
    pub constraints: &'a Constraints,
    /// The hypervolume's reference cost.
    pub reference: f64,
}

impl<S: SearchSpace> Generational<S> for Nsga2<'_, S> {
    type State = Nsga2State;
    type Stats = FrontStats;

    fn generations(&self) -> usize {
        self.cfg.generations
    }

    fn progress(st: &Nsga2State) -> (usize, usize) {
        (st.generation, st.scored)
    }

    /// Generation 0: `seeds` first, then distinct random architectures.
    fn init(
        &self,
        seeds: Vec<S::Genotype>,
        rng: &mut StdRng,
        fitness: &mut dyn Fitness<S::Genotype>,
    ) -> Result<Nsga2State> {
        let mut gs: Vec<S::Genotype> = Vec::new();
        let mut seen = HashSet::new();
        for g in seeds {
            if gs.len() < self.cfg.population && seen.insert(self.space.key(&g)) {
                gs.push(g);
            }
        }
        let mut tries = 0;
        while gs.len() < self.cfg.population && tries < self.constraints.max_tries.max(1) {
            let g = self.constraints.draw(self.space, rng, |r| self.space.sample(r))?;
            tries += 1;
            if seen.insert(self.space.key(&g)) {
                gs.push(g);
            }
        }
        let population = self.members(&gs, fitness);
        Ok(Nsga2State { generation: 0, scored: population.len(), population })
    }

    /// One generation: children by tournament, crossover and mutation, then survival.
    fn step(
        &self,
        st: &mut Nsga2State,
        rng: &mut StdRng,
        fitness: &mut dyn Fitness<S::Genotype>,
    ) -> Result<FrontStats> {
        let (_, ranks) = rank(&st.population);
        let parents: Vec<S::Genotype> =
            st.population.iter().map(|m| self.space.parse(&m.genotype)).collect::<Result<_>>()?;
        let mut taken: HashSet<String> = st.population.iter().map(|m| m.key.clone()).collect();
        let mut children = Vec::with_capacity(self.cfg.population);
        for _ in 0..self.cfg.population {
            let g = child(self.space, self.constraints, self.cfg.crossover_ratio, &parents, &ranks, &taken, rng)?;
            taken.insert(self.space.key(&g));
            children.push(g);
        }
        let children = self.members(&children, fitness);
        st.scored += children.len();
        let mut all = std::mem::take(&mut st.population);
        all.extend(children);
        st.population = survivors(all, self.cfg.population);
        st.generation += 1;
        Ok(self.stats(st))
    }
}

impl<S: SearchSpace> Nsga2<'_, S> {
    fn members(&self, gs: &[S::Genotype], fitness: &mut dyn Fitness<S::Genotype>) -> Vec<FrontMember> {
        let scores = fitness.score(gs);
        gs.iter()
            .zip(scores)
            .map(|(g, score)| FrontMember {
                key: self.space.key(g),
                genotype: self.space.format(g),
                score: worst_if_nan(score),
                costs: costs(self.objectives, self.space.cost(g)),
            })
            .collect()
    }

    fn stats(&self, st: &Nsga2State) -> FrontStats {
        let (fronts, _) = rank(&st.population);
        let front: Vec<&FrontMember> =
            fronts.first().map_or(Vec::new(), |f| f.iter().map(|&i| &st.population[i]).collect());
        let scores: Vec<f64> = st.population.iter().map(|m| m.score).collect();
        let best = st.population.iter().max_by(|a, b| a.score.total_cmp(&b.score).then_with(|| b.key.cmp(&a.key)));
        let points: Vec<(f64, f64)> = front.iter().filter_map(|m| m.costs.first().map(|&c| (m.score, c))).collect();
        FrontStats {
            generation: st.generation,
            best_score: best.map_or(f64::NAN, |m| m.score),
            mean_score: scores.iter().sum::<f64>() / scores.len().max(1) as f64,
            median_score: crate::stats::median(&scores).unwrap_or(f64::NAN),
            best_key: best.map(|m| m.key.clone()).unwrap_or_default(),
            scored: st.scored,
            front_size: front.len(),
            hypervolume: hypervolume(&points, self.reference),
        }
    }

    /// `k` unmeasured members to evaluate for real, spread over the
    /// predicted fronts: the first front's members at equal steps of the
    /// first cost, then the next front's, until `k`; cheapest first.
    pub fn picks(&self, st: &Nsga2State, measured: &HashSet<String>, k: usize) -> Vec<FrontMember> {
        let open: Vec<FrontMember> = st.population.iter().filter(|m| !measured.contains(&m.key)).cloned().collect();
        let (fronts, _) = rank(&open);
        let by_cost = |a: &&FrontMember, b: &&FrontMember| {
            let cost = |m: &FrontMember| m.costs.first().copied().unwrap_or(0.0);
            cost(a).total_cmp(&cost(b)).then(b.score.total_cmp(&a.score)).then_with(|| a.key.cmp(&b.key))
        };
        let mut out: Vec<&FrontMember> = Vec::with_capacity(k);
        for front in fronts {
            let mut members: Vec<&FrontMember> = front.iter().map(|&i| &open[i]).collect();
            members.sort_by(by_cost);
            for i in super::pareto::spread(members.len(), k - out.len()) {
                out.push(members[i]);
            }
            if out.len() >= k {
                break;
            }
        }
        out.sort_by(by_cost);
        out.into_iter().cloned().collect()
    }
}

/// NSGA-II's population replayed from a history (see [`propose`]), kept
/// between proposals: the history only grows, so each proposal replays only
/// the blocks completed since the last one.
#[derive(Clone, Debug, Default)]
pub struct Replay {
    /// How many blocks of `population` evaluations the population is of.
    blocks: usize,
    population: Vec<FrontMember>,
}

impl Replay {
    /// The population after every complete block of `history` (blocks of
    /// `n`): generation 0 is the first block, then the survivors of
    /// population + each next block.
    fn advance(&mut self, history: &[(String, Option<f64>, Vec<f64>)], n: usize) -> &[FrontMember] {
        let member = |(g, acc, costs): &(String, Option<f64>, Vec<f64>)| -> Option<FrontMember> {
            acc.map(|a| FrontMember { key: g.clone(), genotype: g.clone(), score: a, costs: costs.clone() })
        };
        let complete = history.len() / n;
        if self.blocks > complete {
            *self = Self::default();
        }
        while self.blocks < complete {
            let block = history[self.blocks * n..(self.blocks + 1) * n].iter().filter_map(member);
            self.population.extend(block);
            if self.blocks > 0 {
                self.population = survivors(std::mem::take(&mut self.population), n);
            }
            self.blocks += 1;
        }
        &self.population
    }
}

/// The next architecture for NSGA-II on real evaluations. `history` is
/// every evaluated architecture in order as (genotype, measured accuracy
/// fraction or None if it failed, costs); the population is replayed from
/// it: the first `population` evaluations are generation 0 (random), each
/// following block of `population` is a generation's children, and the
/// survivors of population + block are the next parents. `replay` keeps the
/// replay between calls on a history that only grew (a fresh one replays
/// from the start).
pub fn propose<S: SearchSpace>(
    space: &S,
    cfg: &Nsga2Config,
    constraints: &Constraints,
    rng: &mut StdRng,
    history: &[(String, Option<f64>, Vec<f64>)],
    evaluated: &HashSet<String>,
    replay: &mut Replay,
) -> Result<S::Genotype> {
    let n = cfg.population.max(2);
    if history.len() < n {
        return super::random::propose(space, constraints, rng, evaluated);
    }
    let population = replay.advance(history, n);
    if population.is_empty() {
        return super::random::propose(space, constraints, rng, evaluated);
    }
    let (_, ranks) = rank(population);
    let parents: Vec<S::Genotype> = population.iter().map(|m| space.parse(&m.genotype)).collect::<Result<_>>()?;
    child(space, constraints, cfg.crossover_ratio, &parents, &ranks, evaluated, rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::testing::{Convs, NanForPools, nb201 as space, pooled};
    use rand::SeedableRng;

    fn m(key: &str, score: f64, cost: f64) -> FrontMember {
        FrontMember { key: key.into(), genotype: key.into(), score, costs: vec![cost] }
    }

    #[test]
    fn survivors_keep_whole_fronts_then_the_least_crowded() {
        // front 0: a, b, c, d on a line; e dominated
        let all = vec![m("a", 0.9, 4.0), m("b", 0.8, 3.0), m("c", 0.7, 2.9), m("d", 0.5, 1.0), m("e", 0.4, 5.0)];
        let keys = |v: Vec<FrontMember>| v.into_iter().map(|m| m.key).collect::<Vec<_>>();
        assert_eq!(keys(survivors(all.clone(), 4)), vec!["a", "b", "c", "d"]);
        // cut to 3: the ends stay, and of b and c the one with the larger gap around it
        assert_eq!(keys(survivors(all.clone(), 3)), vec!["a", "c", "d"]);
        assert_eq!(keys(survivors(all, 5)).len(), 5);
    }

    #[test]
    fn nan_scores_stay_off_the_first_front() {
        let space = space();
        let cfg = Nsga2Config { population: 30, ..Default::default() };
        let objectives = [Objective::Accuracy, Objective::Params];
        let constraints = Constraints::default();
        let nsga =
            Nsga2 { space: &space, cfg: &cfg, objectives: &objectives, constraints: &constraints, reference: 2e6 };
        let mut rng = StdRng::seed_from_u64(4);
        let mut st = nsga.init(Vec::new(), &mut rng, &mut NanForPools).unwrap();
        let mut stats = nsga.stats(&st);
        for _ in 0..3 {
            stats = nsga.step(&mut st, &mut rng, &mut NanForPools).unwrap();
        }
        assert!(st.population.iter().all(|m| !m.score.is_nan()));
        assert!(stats.hypervolume.is_finite() && stats.best_score >= 0.0, "{stats:?}");
        let (fronts, _) = rank(&st.population);
        // an unscorable member is on the first front only when it is the cheapest of all
        let cheapest = st.population.iter().map(|m| m.costs[0]).fold(f64::INFINITY, f64::min);
        for &i in &fronts[0] {
            let m = &st.population[i];
            assert!(!pooled(&m.genotype) || m.costs[0] == cheapest, "{m:?}");
        }
    }

    #[test]
    fn the_search_pushes_the_front_out() {
        let space = space();
        let cfg = Nsga2Config { population: 20, ..Default::default() };
        let objectives = [Objective::Accuracy, Objective::Params];
        let constraints = Constraints::default();
        let max_params = 2e6; // above every cell's parameters
        let nsga = Nsga2 {
            space: &space,
            cfg: &cfg,
            objectives: &objectives,
            constraints: &constraints,
            reference: max_params,
        };
        let mut rng = StdRng::seed_from_u64(2);
        let mut st = nsga.init(Vec::new(), &mut rng, &mut Convs).unwrap();
        let first = nsga.stats(&st).hypervolume;
        let mut last = None;
        for _ in 0..15 {
            last = Some(nsga.step(&mut st, &mut rng, &mut Convs).unwrap());
        }
        let last = last.unwrap();
        assert!(last.hypervolume > first, "{first} -> {}", last.hypervolume);
        assert_eq!(st.population.len(), 20);
        let keys: HashSet<&String> = st.population.iter().map(|m| &m.key).collect();
        assert_eq!(keys.len(), 20, "the population holds duplicates");
        // the picks span the first front: the cheapest and the most accurate of it
        let picks = nsga.picks(&st, &HashSet::new(), 4);
        assert_eq!(picks.len(), 4);
        let (fronts, _) = rank(&st.population);
        let front: Vec<&FrontMember> = fronts[0].iter().map(|&i| &st.population[i]).collect();
        let cheapest = front.iter().map(|m| m.costs[0]).fold(f64::INFINITY, f64::min);
        let best = front.iter().map(|m| m.score).fold(f64::NEG_INFINITY, f64::max);
        assert!(picks.windows(2).all(|w| w[0].costs[0] <= w[1].costs[0]), "cheapest first");
        if front.len() >= 4 {
            assert_eq!(picks[0].costs[0], cheapest);
            assert_eq!(picks[3].score, best);
        }
    }

    #[test]
    fn the_baseline_replays_its_population_from_the_history() {
        let space = space();
        let cfg = Nsga2Config { population: 4, ..Default::default() };
        let constraints = Constraints::default();
        let mut history = Vec::new();
        let mut evaluated = HashSet::new();
        let mut replay = Replay::default();
        for step in 0..12 {
            let mut rng = StdRng::seed_from_u64(step);
            let g = propose(&space, &cfg, &constraints, &mut rng, &history, &evaluated, &mut replay).unwrap();
            // the replay kept between proposals proposes what a replay from the start does
            let fresh = propose(
                &space,
                &cfg,
                &constraints,
                &mut StdRng::seed_from_u64(step),
                &history,
                &evaluated,
                &mut Replay::default(),
            )
            .unwrap();
            assert_eq!(space.format(&g), space.format(&fresh));
            let key = space.key(&g);
            assert!(evaluated.insert(key), "step {step} proposed an evaluated architecture");
            let acc = Convs.score(std::slice::from_ref(&g))[0] / 6.0;
            history.push((space.format(&g), Some(acc), costs(&[Objective::Params], space.cost(&g))));
        }
        // the same history and generator give the same proposal
        let at = |seed| {
            let mut replay = Replay::default();
            propose(&space, &cfg, &constraints, &mut StdRng::seed_from_u64(seed), &history, &evaluated, &mut replay)
        };
        let (a, b) = (at(99).unwrap(), at(99).unwrap());
        assert_eq!(space.format(&a), space.format(&b));
    }
}
