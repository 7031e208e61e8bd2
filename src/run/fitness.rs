//! The trained predictor as the evolution's fitness: scores architectures in
//! batches of graphs, caching scores by canonical key so an architecture is
//! scored once.

use std::collections::{HashMap, HashSet};

use burn::tensor::backend::Backend;

use crate::predictor::dataset::encode_graphs;
use crate::predictor::train::predict;
use crate::predictor::{ModelConfig, Predictor};
use crate::search::Fitness;
use crate::space::SearchSpace;

pub struct PredictorFitness<'a, S: SearchSpace, B: Backend> {
    space: &'a S,
    model: &'a Predictor<B>,
    model_cfg: &'a ModelConfig,
    device: &'a B::Device,
    cache: HashMap<String, f64>,
    /// Architectures the model actually ran on.
    inferred: usize,
}

impl<'a, S: SearchSpace, B: Backend> PredictorFitness<'a, S, B> {
    pub fn new(space: &'a S, model: &'a Predictor<B>, model_cfg: &'a ModelConfig, device: &'a B::Device) -> Self {
        Self { space, model, model_cfg, device, cache: HashMap::new(), inferred: 0 }
    }

    /// Architectures the model ran on (the rest were cached).
    pub fn inferred(&self) -> usize {
        self.inferred
    }
}

impl<S: SearchSpace, B: Backend> Fitness<S::Genotype> for PredictorFitness<'_, S, B> {
    fn score(&mut self, genotypes: &[S::Genotype]) -> Vec<f64> {
        let keys: Vec<String> = genotypes.iter().map(|g| self.space.key(g)).collect();
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
            let scores = predict(self.model, &set, &rows, 1024, self.device);
            self.inferred += graphs.len();
            for ((k, _), s) in todo.into_iter().zip(scores) {
                self.cache.insert(k, s as f64);
            }
        }
        keys.iter().map(|k| self.cache[k]).collect()
    }
}
