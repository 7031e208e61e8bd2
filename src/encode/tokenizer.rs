//! NAR-Former tokenizer: one token per node plus an end token, and an
//! optional depth encoding.
//!
//! Positional function with L frequencies: b = L values evenly spaced from 1 to
//! 2^(L-1); f_L(p) = [sin(b_1 p pi), cos(b_1 p pi), ..., sin(b_L p pi), cos(b_L p pi)].
//! Node i's token is concat(f_Lx(op_i), f_Lp(i), sum over sources j of f_Lr(j)),
//! with f_Lr(-1) as the source part of node 0. The end token uses f(1e5) in all
//! three parts. The depth encoding is f_{d_model/2}(N), N = number of nodes;
//! the model projects it and puts it in front of the sequence.

use std::cell::RefCell;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::graph::ArchGraph;

/// Position fed to every part of the end token.
pub const END_POSITION: f64 = 1e5;

/// Frequencies of each token part (the token width is 2 * (lx + lp + lr)).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerConfig {
    /// Frequencies of the op part.
    #[serde(default = "default_freqs")]
    pub lx: usize,
    /// Frequencies of the self-position part.
    #[serde(default = "default_freqs")]
    pub lp: usize,
    /// Frequencies of the source part.
    #[serde(default = "default_freqs")]
    pub lr: usize,
}

fn default_freqs() -> usize {
    32
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        Self { lx: 32, lp: 32, lr: 32 }
    }
}

impl TokenizerConfig {
    /// Width of one token, which is also the model width.
    pub fn d_model(&self) -> usize {
        2 * (self.lx + self.lp + self.lr)
    }
}

/// The encoded architecture: `len` tokens of `d_model` values, row-major,
/// and the depth encoding (`d_model` values).
#[derive(Clone, Debug, PartialEq)]
pub struct Tokens {
    pub values: Vec<f32>,
    pub len: usize,
    pub depth: Vec<f32>,
}

/// The L frequencies of the positional function.
pub fn frequencies(l: usize) -> Vec<f64> {
    assert!(l >= 1, "a positional function needs at least one frequency");
    if l == 1 {
        return vec![1.0];
    }
    let top = 2f64.powi(l as i32 - 1);
    let s = (top - 1.0) / (l as f64 - 1.0);
    (0..l).map(|k| 1.0 + k as f64 * s).collect()
}

/// f_L(p), appended to `out`. Codes are remembered per thread: a search
/// encodes the same few positions millions of times, and the sines of the
/// high frequencies (up to 2^31 p pi) cost a slow argument reduction each.
pub fn positional_into(l: usize, p: f64, out: &mut Vec<f32>) {
    thread_local! {
        static CODES: RefCell<HashMap<(usize, u64), Vec<f32>>> = RefCell::new(HashMap::new());
    }
    CODES.with(|codes| {
        let mut codes = codes.borrow_mut();
        if codes.len() >= 4096 {
            codes.clear();
        }
        let code = codes.entry((l, p.to_bits())).or_insert_with(|| {
            frequencies(l)
                .into_iter()
                .flat_map(|b| {
                    let a = b * p * std::f64::consts::PI;
                    [a.sin() as f32, a.cos() as f32]
                })
                .collect()
        });
        out.extend_from_slice(code);
    });
}

/// f_L(p).
pub fn positional(l: usize, p: f64) -> Vec<f32> {
    let mut v = Vec::with_capacity(2 * l);
    positional_into(l, p, &mut v);
    v
}

/// Encodes a graph into NAR-Former tokens.
pub fn tokenize(graph: &ArchGraph, cfg: &TokenizerConfig) -> Tokens {
    let n = graph.len();
    let d = cfg.d_model();
    let mut values = Vec::with_capacity((n + 1) * d);
    for i in 0..n {
        positional_into(cfg.lx, graph.ops()[i] as f64, &mut values);
        positional_into(cfg.lp, i as f64, &mut values);
        if i == 0 {
            positional_into(cfg.lr, -1.0, &mut values);
        } else {
            let mut source = vec![0f32; 2 * cfg.lr];
            for j in graph.predecessors(i) {
                for (s, v) in source.iter_mut().zip(positional(cfg.lr, j as f64)) {
                    *s += v;
                }
            }
            values.extend(source);
        }
    }
    positional_into(cfg.lx, END_POSITION, &mut values);
    positional_into(cfg.lp, END_POSITION, &mut values);
    positional_into(cfg.lr, END_POSITION, &mut values);
    Tokens { values, len: n + 1, depth: positional(d / 2, n as f64) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn close(a: f32, b: f64) -> bool {
        (a as f64 - b).abs() < 1e-5
    }

    #[test]
    fn frequencies_span_one_to_two_pow_l_minus_one() {
        let b = frequencies(32);
        assert_eq!(b.len(), 32);
        assert_eq!(b[0], 1.0);
        assert_eq!(b[31], 2f64.powi(31));
        let s = (2f64.powi(31) - 1.0) / 31.0;
        assert!((b[1] - (1.0 + s)).abs() < 1e-6);
        assert_eq!(frequencies(3), vec![1.0, 2.5, 4.0]);
    }

    #[test]
    fn positional_values_by_hand() {
        // f(0): every sin is 0, every cos is 1.
        let f0 = positional(32, 0.0);
        assert_eq!(f0.len(), 64);
        assert!(f0.iter().step_by(2).all(|&v| v == 0.0));
        assert!(f0.iter().skip(1).step_by(2).all(|&v| v == 1.0));
        // f_3(3) with b = (1, 2.5, 4): sin(3 pi)=0, cos(3 pi)=-1, sin(7.5 pi)=-1, cos(7.5 pi)=0, sin(12 pi)=0, cos(12 pi)=1.
        let f3 = positional(3, 3.0);
        let want = [0.0, -1.0, -1.0, 0.0, 0.0, 1.0];
        for (a, b) in f3.iter().zip(want) {
            assert!(close(*a, b), "{f3:?}");
        }
        // A single entry of the L=32 code: the second frequency's cos at p=3.
        let b1 = frequencies(32)[1];
        assert!(close(positional(32, 3.0)[3], (b1 * 3.0 * PI).cos()));
    }

    #[test]
    fn token_parts() {
        // 0 -> 1, 0 -> 2, 1 -> 3, 2 -> 3: node 3 has two inputs.
        let g = ArchGraph::from_edges(vec![0, 2, 5, 6], &[(0, 1), (0, 2), (1, 3), (2, 3)]).unwrap();
        let cfg = TokenizerConfig { lx: 4, lp: 3, lr: 5 };
        let d = cfg.d_model();
        let t = tokenize(&g, &cfg);
        assert_eq!(t.len, 5);
        assert_eq!(t.values.len(), 5 * d);
        let token = |i: usize| &t.values[i * d..(i + 1) * d];
        // node 2: op code 5, position 2, source node 0
        assert_eq!(&token(2)[..8], positional(4, 5.0).as_slice());
        assert_eq!(&token(2)[8..14], positional(3, 2.0).as_slice());
        assert_eq!(&token(2)[14..], positional(5, 0.0).as_slice());
        // node 0: source part is f(-1)
        assert_eq!(&token(0)[14..], positional(5, -1.0).as_slice());
        // node 3 has two inputs: its source part is f(1) + f(2)
        let (f1, f2) = (positional(5, 1.0), positional(5, 2.0));
        for k in 0..10 {
            assert!((token(3)[14 + k] - (f1[k] + f2[k])).abs() < 1e-6);
        }
        // end token: all parts f(1e5)
        let mut end = positional(4, END_POSITION);
        end.extend(positional(3, END_POSITION));
        end.extend(positional(5, END_POSITION));
        assert_eq!(token(4), end.as_slice());
        // depth: f_{d/2}(N)
        assert_eq!(t.depth, positional(d / 2, 4.0));
    }
}
