//! Test helpers shared by the strategies' unit tests: the full NAS-Bench-201
//! space and a fitness with a known optimum.

use super::Fitness;
use crate::space::nb201::{Nb201Cell, OPS};
use crate::space::nb201::{Nb201Space, Nb201SpaceConfig};

/// NAS-Bench-201 with all five ops.
pub fn nb201() -> Nb201Space {
    let ops = OPS.iter().map(|s| s.to_string()).collect();
    Nb201Space::new(Nb201SpaceConfig { ops, channels: 16, cells_per_stage: 5, classes: 10 }).unwrap()
}

/// Fitness = number of 3x3 convolutions: the optimum is all six.
pub struct Convs;

impl Fitness<Nb201Cell> for Convs {
    fn score(&mut self, gs: &[Nb201Cell]) -> Vec<f64> {
        gs.iter().map(|g| (0..6).filter(|&e| g.op_name(e) == "nor_conv_3x3").count() as f64).collect()
    }
}

/// [`Convs`], but NaN (a broken predictor) for cells with an average
/// pooling on some edge, which would otherwise sort above every real score.
pub struct NanForPools;

/// Whether [`NanForPools`] scores a cell (as text) NaN.
pub fn pooled(genotype: &str) -> bool {
    genotype.contains("avg_pool_3x3")
}

impl Fitness<Nb201Cell> for NanForPools {
    fn score(&mut self, gs: &[Nb201Cell]) -> Vec<f64> {
        let convs = Convs.score(gs);
        gs.iter().zip(convs).map(|(g, c)| if pooled(&g.to_string()) { f64::NAN } else { c }).collect()
    }
}

/// Edges on which two cells differ.
pub fn edits(a: &Nb201Cell, b: &Nb201Cell) -> usize {
    (0..6).filter(|&e| a.edges[e] != b.edges[e]).count()
}

/// Every cell one edit away from `c` (6 edges x 4 other ops).
pub fn single_edits(c: &Nb201Cell) -> Vec<Nb201Cell> {
    let mut out = Vec::new();
    for e in 0..6 {
        for op in 0..OPS.len() as u8 {
            if op != c.edges[e] {
                let mut n = *c;
                n.edges[e] = op;
                out.push(n);
            }
        }
    }
    out
}
