//! Predictor-ranked local search around the incumbent: the single mutations
//! of the best measured architecture that were not measured yet, ordered by
//! the fitness function; once too few of those are left (the incumbent is a
//! local optimum of what was measured), the best-predicted double mutations
//! follow, so the search steps past it instead of stalling. A round spends
//! part of its real evaluations here so the search keeps refining its best
//! real result even where the predictor is unsure (it ranks the whole space
//! well but the few best cells poorly).

use std::collections::HashSet;

use anyhow::Result;
use rand::rngs::StdRng;

use super::evolution::Member;
use super::{Constraints, Fitness, worst_if_nan};
use crate::space::SearchSpace;

/// Neighbourhoods in one space under the run's constraints. Neighbours are
/// found by drawing `draws` mutations that meet the constraints, so spaces
/// too large to enumerate work the same way.
pub struct LocalSearch<'a, S: SearchSpace> {
    pub space: &'a S,
    pub constraints: &'a Constraints,
    pub draws: usize,
}

impl<S: SearchSpace> LocalSearch<'_, S> {
    /// Up to `n` neighbours of the `incumbents` (the best measured
    /// architectures, one or a few) whose keys are not in `exclude`: single
    /// mutations of any of them best predicted first (ties by key), then, if
    /// fewer than `n`, double mutations best predicted first. `self.draws`
    /// draws per incumbent.
    pub fn best_neighbours(
        &self,
        incumbents: &[S::Genotype],
        exclude: &HashSet<String>,
        n: usize,
        rng: &mut StdRng,
        fitness: &mut dyn Fitness<S::Genotype>,
    ) -> Result<Vec<Member>> {
        let space = self.space;
        let mut seen: HashSet<String> = exclude.clone();
        seen.extend(incumbents.iter().map(|g| space.key(g)));
        let mut members = Vec::new();
        for steps in 1..=2 {
            if members.len() < n && !incumbents.is_empty() {
                let mut next = 0;
                let ring = self.ring(&mut seen, n - members.len(), incumbents.len(), rng, fitness, |r| {
                    next += 1;
                    super::mutations(space, &incumbents[(next - 1) % incumbents.len()], steps, r)
                })?;
                members.extend(ring);
            }
        }
        Ok(members)
    }

    /// The `n` best-predicted distinct genotypes among `self.draws` draws of
    /// `step` per incumbent (`incumbents` of them) that meet the constraints
    /// and are not in `seen` (which gains every genotype drawn).
    fn ring(
        &self,
        seen: &mut HashSet<String>,
        n: usize,
        incumbents: usize,
        rng: &mut StdRng,
        fitness: &mut dyn Fitness<S::Genotype>,
        mut step: impl FnMut(&mut StdRng) -> S::Genotype,
    ) -> Result<Vec<Member>> {
        let space = self.space;
        let mut found = Vec::new();
        for _ in 0..self.draws * incumbents {
            let g = self.constraints.draw(space, rng, &mut step)?;
            if seen.insert(space.key(&g)) {
                found.push(g);
            }
        }
        let scores = fitness.score(&found);
        let mut members: Vec<Member> = found
            .iter()
            .zip(scores)
            .map(|(g, score)| Member { key: space.key(g), genotype: space.format(g), score: worst_if_nan(score) })
            .collect();
        members.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.key.cmp(&b.key)));
        members.truncate(n);
        Ok(members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::testing::{Convs, NanForPools, edits, nb201, pooled, single_edits};
    use crate::space::nb201::Nb201Cell;
    use rand::SeedableRng;

    #[test]
    fn neighbours_are_single_unmeasured_mutations_best_first() {
        let space = nb201();
        let inc: Nb201Cell =
            "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_3x3~1|nor_conv_3x3~2|"
                .parse()
                .unwrap();
        let constraints = Constraints::default();
        let local = LocalSearch { space: &space, constraints: &constraints, draws: 500 };
        let mut rng = StdRng::seed_from_u64(0);
        // every distinct cell one edit away (6 edges x 4 other ops, isomorphic ones merged)
        let keys: HashSet<String> = single_edits(&inc).iter().map(|c| space.key(c)).collect();
        assert!(keys.len() >= 20, "{}", keys.len());
        let all = local
            .best_neighbours(std::slice::from_ref(&inc), &HashSet::new(), keys.len(), &mut rng, &mut Convs)
            .unwrap();
        assert_eq!(all.iter().map(|m| m.key.clone()).collect::<HashSet<_>>(), keys);
        for m in &all {
            assert_eq!(edits(&space.parse(&m.genotype).unwrap(), &inc), 1, "{}", m.genotype);
        }
        assert!(all.windows(2).all(|w| w[0].score >= w[1].score));
        // the two that add a 3x3 convolution come first; a measured one is left out
        assert_eq!(all[0].score, 5.0);
        assert_eq!(all[1].score, 5.0);
        let exclude: HashSet<String> = [all[0].key.clone()].into();
        let top = local.best_neighbours(std::slice::from_ref(&inc), &exclude, 2, &mut rng, &mut Convs).unwrap();
        assert_eq!(top.len(), 2);
        assert_eq!(top[0].key, all[1].key);
        assert_eq!(top[1].score, 4.0);
    }

    #[test]
    fn with_several_incumbents_the_neighbours_of_each_compete_together() {
        let space = nb201();
        let parse = |t: &str| -> Nb201Cell { t.parse().unwrap() };
        let a =
            parse("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_3x3~1|nor_conv_3x3~2|");
        let b = parse("|avg_pool_3x3~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|avg_pool_3x3~2|");
        let constraints = Constraints::default();
        let local = LocalSearch { space: &space, constraints: &constraints, draws: 500 };
        let mut rng = StdRng::seed_from_u64(3);
        let near = |inc: &Nb201Cell| -> HashSet<String> { single_edits(inc).iter().map(|c| space.key(c)).collect() };
        let (of_a, of_b) = (near(&a), near(&b));
        let n = of_a.union(&of_b).count();
        let all = local.best_neighbours(&[a, b], &HashSet::new(), n, &mut rng, &mut Convs).unwrap();
        let got: HashSet<String> = all.iter().map(|m| m.key.clone()).collect();
        // every single edit of either, none of the incumbents themselves, best predicted first
        assert_eq!(got, of_a.union(&of_b).filter(|k| **k != space.key(&a) && **k != space.key(&b)).cloned().collect());
        assert!(all.windows(2).all(|w| w[0].score >= w[1].score));
        // the convolution-rich a's neighbours lead; b's (pools) follow
        assert!(of_a.contains(&all[0].key) && of_b.contains(&all[all.len() - 1].key));
    }

    #[test]
    fn nan_scored_neighbours_come_last() {
        let space = nb201();
        let inc: Nb201Cell = "|nor_conv_1x1~0|+|none~0|nor_conv_1x1~1|+|none~0|none~1|nor_conv_1x1~2|".parse().unwrap();
        let constraints = Constraints::default();
        let local = LocalSearch { space: &space, constraints: &constraints, draws: 500 };
        let all = local
            .best_neighbours(
                std::slice::from_ref(&inc),
                &HashSet::new(),
                30,
                &mut StdRng::seed_from_u64(0),
                &mut NanForPools,
            )
            .unwrap();
        let skip = |m: &Member| pooled(&m.genotype);
        // the single edits (best first), then the double ones: NaN-scored ones last within each
        let singles: Vec<&Member> =
            all.iter().take_while(|m| edits(&space.parse(&m.genotype).unwrap(), &inc) == 1).collect();
        assert!(singles.iter().any(|m| skip(m)) && !skip(singles[0]), "{all:?}");
        let first = singles.iter().position(|m| skip(m)).unwrap();
        assert!(singles[first..].iter().all(|m| skip(m) && m.score == crate::search::WORST_SCORE), "{all:?}");
    }

    #[test]
    fn widens_to_two_edits_once_single_edits_run_out() {
        let space = nb201();
        let inc: Nb201Cell =
            "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_3x3~1|nor_conv_3x3~2|"
                .parse()
                .unwrap();
        let constraints = Constraints::default();
        let local = LocalSearch { space: &space, constraints: &constraints, draws: 2000 };
        let mut rng = StdRng::seed_from_u64(1);
        let edits = |m: &Member| edits(&space.parse(&m.genotype).unwrap(), &inc);
        let near =
            local.best_neighbours(std::slice::from_ref(&inc), &HashSet::new(), 24, &mut rng, &mut Convs).unwrap();
        let singles: Vec<&Member> = near.iter().filter(|m| edits(m) == 1).collect();
        assert!(singles.len() >= 20);
        // all but two single edits measured: those two first, then the best double edits
        let measured: HashSet<String> = singles[2..].iter().map(|m| m.key.clone()).collect();
        let got = local.best_neighbours(std::slice::from_ref(&inc), &measured, 8, &mut rng, &mut Convs).unwrap();
        assert_eq!(got.len(), 8);
        assert_eq!(got[0].key, singles[0].key);
        assert_eq!(got[1].key, singles[1].key);
        for m in &got[2..] {
            assert_eq!(edits(m), 2, "{}", m.genotype);
            assert!(!measured.contains(&m.key) && m.key != space.key(&inc));
        }
        assert!(got[2..].windows(2).all(|w| w[0].score >= w[1].score));
        // the best double edits turn two more edges into 3x3 convolutions (Convs counts them)
        assert_eq!(got[2].score, 6.0);
    }
}
