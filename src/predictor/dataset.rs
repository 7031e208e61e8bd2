//! Encoded architectures held in memory, and batches of them as tensors.
//!
//! An [`EncodedSet`] stores each architecture's tokens (and depth encoding)
//! contiguously; training rows may have augmented twins stored as further rows.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

use super::{FeatureBatch, ModelConfig};
use crate::encode::augment::augmented;
use crate::encode::onehot::{NB201_WIDTH, nb201_onehot};
use crate::encode::tokenizer::tokenize;
use crate::graph::ArchGraph;
use crate::space::nb201::Nb201Cell;

/// Encodings of architectures: each a number of tokens of `width` values.
/// Architectures may differ in token count (MobileNetV3 depths); a batch of
/// them is left-padded to its longest member with a mask (see [`FeatureBatch`]).
#[derive(Clone, Debug)]
pub struct EncodedSet {
    width: usize,
    values: Vec<f32>,
    /// Start of each row in `values`, and its token count.
    rows: Vec<(usize, usize)>,
    depth: Option<Vec<f32>>,
}

/// One architecture's encoding.
pub struct Encoded {
    pub values: Vec<f32>,
    pub len: usize,
    pub depth: Option<Vec<f32>>,
}

impl EncodedSet {
    pub(super) fn from_encoded(items: Vec<Encoded>, width: usize) -> Self {
        let has_depth = items.first().is_some_and(|e| e.depth.is_some());
        let mut set = Self { width, values: Vec::new(), rows: Vec::new(), depth: has_depth.then(Vec::new) };
        set.extend(items);
        set
    }

    /// Appends encodings; returns the row index of the first one.
    pub fn extend(&mut self, items: Vec<Encoded>) -> usize {
        let first = self.rows.len();
        for e in items {
            assert_eq!(e.values.len(), e.len * self.width, "an encoding must be len x width values");
            self.rows.push((self.values.len(), e.len));
            self.values.extend_from_slice(&e.values);
            if let (Some(d), Some(v)) = (&mut self.depth, &e.depth) {
                d.extend_from_slice(v);
            }
        }
        first
    }

    pub fn count(&self) -> usize {
        self.rows.len()
    }

    /// Gathers `rows` into plain arrays, left-padding shorter ones.
    pub fn padded(&self, rows: &[usize]) -> Padded {
        let t = rows.iter().map(|&r| self.rows[r].1).max().unwrap_or(1);
        let padded = rows.iter().any(|&r| self.rows[r].1 != t);
        let mut tokens = vec![0f32; rows.len() * t * self.width];
        let mut mask = vec![1f32; rows.len() * t];
        for (i, &r) in rows.iter().enumerate() {
            let (start, len) = self.rows[r];
            let pad = t - len;
            let dst = (i * t + pad) * self.width;
            tokens[dst..dst + len * self.width].copy_from_slice(&self.values[start..start + len * self.width]);
            mask[i * t..i * t + pad].fill(0.0);
        }
        let depth = self.depth.as_ref().map(|d| {
            let mut v = Vec::with_capacity(rows.len() * self.width);
            for &r in rows {
                v.extend_from_slice(&d[r * self.width..(r + 1) * self.width]);
            }
            v
        });
        Padded { count: rows.len(), tokens: t, width: self.width, values: tokens, depth, mask: padded.then_some(mask) }
    }

    /// Gathers `rows` into a batch on `device`, left-padding shorter ones.
    pub fn batch<B: Backend>(&self, rows: &[usize], device: &B::Device) -> FeatureBatch<B> {
        let p = self.padded(rows);
        let (n, t, w) = (p.count, p.tokens, p.width);
        FeatureBatch {
            tokens: Tensor::from_data(TensorData::new(p.values, [n, t, w]), device),
            depth: p.depth.map(|d| Tensor::from_data(TensorData::new(d, [n, w]), device)),
            mask: p.mask.map(|m| Tensor::from_data(TensorData::new(m, [n, t]), device)),
        }
    }
}

/// A batch as plain arrays, the layout of [`FeatureBatch`]: `values`
/// [count, tokens, width], `depth` [count, width], `mask` [count, tokens]
/// (only when some row was padded).
pub struct Padded {
    pub count: usize,
    pub tokens: usize,
    pub width: usize,
    pub values: Vec<f32>,
    pub depth: Option<Vec<f32>>,
    pub mask: Option<Vec<f32>>,
}

/// NAR-Former tokens of a graph (None for models that do not read graphs).
pub fn encode_graph(graph: &ArchGraph, model: &ModelConfig) -> Option<Encoded> {
    match model {
        ModelConfig::NarFormer { tokenizer, transformer } => {
            let t = tokenize(graph, tokenizer);
            Some(Encoded { values: t.values, len: t.len, depth: transformer.depth_token.then_some(t.depth) })
        }
        ModelConfig::Mlp { .. } => None,
    }
}

/// Encodes one NAS-Bench-201 cell for `model`.
pub fn encode_cell(cell: &Nb201Cell, model: &ModelConfig) -> Encoded {
    encode_graph(&cell.to_graph(), model).unwrap_or_else(|| Encoded { values: nb201_onehot(cell), len: 1, depth: None })
}

/// Encodes graphs in parallel for a graph model.
pub fn encode_graphs(graphs: &[ArchGraph], model: &ModelConfig) -> anyhow::Result<EncodedSet> {
    let items: Vec<Encoded> = graphs
        .par_iter()
        .map(|g| {
            encode_graph(g, model)
                .ok_or_else(|| anyhow::anyhow!("the {} model does not read architecture graphs", model.name()))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(EncodedSet::from_encoded(items, width(model)))
}

/// Token width of `model`'s encoding.
pub fn width(model: &ModelConfig) -> usize {
    match model {
        ModelConfig::NarFormer { tokenizer, .. } => tokenizer.d_model(),
        ModelConfig::Mlp { .. } => NB201_WIDTH,
    }
}

/// Encodes `cells` in parallel.
pub fn encode_cells(cells: &[Nb201Cell], model: &ModelConfig) -> EncodedSet {
    let items: Vec<Encoded> = cells.par_iter().map(|c| encode_cell(c, model)).collect();
    EncodedSet::from_encoded(items, width(model))
}

/// Appends the augmented twins of each of `graphs` to `set` and returns, per
/// graph, the set rows of its twins (empty when it has none or the model
/// does not read graphs).
pub fn append_twins(
    set: &mut EncodedSet,
    graphs: &[ArchGraph],
    model: &ModelConfig,
    permutations: usize,
) -> Vec<Vec<usize>> {
    let per_row: Vec<Vec<Encoded>> = graphs
        .par_iter()
        .map(|g| augmented(g, permutations).iter().filter_map(|t| encode_graph(t, model)).collect())
        .collect();
    per_row
        .into_iter()
        .map(|twins| {
            let k = twins.len();
            let first = set.extend(twins);
            (first..first + k).collect()
        })
        .collect()
}
