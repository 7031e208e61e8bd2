//! The trained predictor as the evolution's fitness: scores architectures in
//! batches of graphs, caching scores by genotype so a genotype is scored
//! once. The cache is keyed by the genotype's text, not its canonical key:
//! isomorphic genotypes share a key but not a graph, so the predictor may
//! score them differently, and a cache by key would hand out whichever was
//! scored first, making a resumed search (whose cache starts empty) differ
//! from an uninterrupted one.

use std::collections::{HashMap, HashSet};

use burn::tensor::backend::Backend;

use crate::predictor::dataset::encode_graphs;
use crate::predictor::scorer::Scorer;
use crate::predictor::{ModelConfig, Predictor};
use crate::search::Fitness;
use crate::space::SearchSpace;

pub struct PredictorFitness<'a, S: SearchSpace, B: Backend> {
    space: &'a S,
    scorer: Scorer<'a, B>,
    model_cfg: &'a ModelConfig,
    /// Scores by genotype text.
    cache: HashMap<String, f64>,
    /// Genotypes the model actually ran on.
    inferred: usize,
}

impl<'a, S: SearchSpace, B: Backend> PredictorFitness<'a, S, B> {
    pub fn new(space: &'a S, model: &'a Predictor<B>, model_cfg: &'a ModelConfig, device: &'a B::Device) -> Self {
        Self { space, scorer: Scorer::new(model, device), model_cfg, cache: HashMap::new(), inferred: 0 }
    }

    /// Genotypes the model ran on (the rest were cached).
    pub fn inferred(&self) -> usize {
        self.inferred
    }
}

impl<S: SearchSpace, B: Backend> Fitness<S::Genotype> for PredictorFitness<'_, S, B> {
    fn score(&mut self, genotypes: &[S::Genotype]) -> Vec<f64> {
        let keys: Vec<String> = genotypes.iter().map(|g| self.space.format(g)).collect();
        let mut todo = Vec::new();
        let mut seen = HashSet::new();
        for (g, k) in genotypes.iter().zip(&keys) {
            if !self.cache.contains_key(k) && seen.insert(k.clone()) {
                todo.push((k.clone(), self.space.to_graph(g)));
            }
        }
        if !todo.is_empty() {
            let graphs: Vec<_> = todo.iter().map(|(_, g)| g.clone()).collect();
            let set = encode_graphs(&graphs, self.model_cfg).expect("the run checked the model reads graphs");
            let rows: Vec<usize> = (0..graphs.len()).collect();
            let scores = self.scorer.predict(&set, &rows);
            self.inferred += graphs.len();
            for ((k, _), s) in todo.into_iter().zip(scores) {
                self.cache.insert(k, s as f64);
            }
        }
        keys.iter().map(|k| self.cache[k]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::tokenizer::TokenizerConfig;
    use crate::predictor::model::NarFormerConfig;
    use crate::search::testing::nb201;
    use burn::backend::NdArray;

    #[test]
    fn isomorphic_genotypes_keep_their_own_scores_whatever_was_scored_first() {
        let space = nb201();
        // one canonical key (node 1 feeds nothing), two graphs
        let a = space.parse("|nor_conv_3x3~0|+|none~0|none~1|+|avg_pool_3x3~0|none~1|none~2|").unwrap();
        let b = space.parse("|nor_conv_1x1~0|+|none~0|none~1|+|avg_pool_3x3~0|none~1|none~2|").unwrap();
        assert_eq!(space.key(&a), space.key(&b));
        let cfg = ModelConfig::NarFormer {
            tokenizer: TokenizerConfig { lx: 4, lp: 4, lr: 4 },
            transformer: NarFormerConfig { depths: vec![1, 1], heads: 2, d_ff: 16, ..Default::default() },
        };
        let dev = Default::default();
        let model: Predictor<NdArray<f32>> = cfg.init(&dev);
        let alone = |g| PredictorFitness::new(&space, &model, &cfg, &dev).score(&[g])[0];
        let (sa, sb) = (alone(a), alone(b));
        assert_ne!(sa, sb, "the model tells the two graphs apart");
        let mut f = PredictorFitness::new(&space, &model, &cfg, &dev);
        assert_eq!(f.score(&[a]), [sa]);
        assert_eq!(f.score(&[b, a]), [sb, sa], "b is scored as itself, not as the cached a");
        assert_eq!(f.inferred(), 2);
    }
}
