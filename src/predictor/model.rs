//! The NAR-Former predictor: a multi-stage fusion transformer over the
//! tokenizer's node tokens, ending in a sigmoid score in [0, 1].
//!
//! Stage 1 is `depths[0]` pre-norm self-attention blocks over
//! [depth token, node tokens..., end token]; its output is the memory. Each
//! later stage s (1-based, s >= 2) has learnt query tokens (4, 2, 1 for four
//! stages: 2^(S-s)), a cross attention from them to a context without a
//! residual, then x + FFN(LN(x)). Stage 2's context is the memory; from stage 3
//! on it is a fuse unit, attention from the previous stage's tokens to the
//! memory followed by x + FFN(LN(x)). `depths[s] - 1` further self-attention
//! blocks follow in a stage. A final LayerNorm and Linear(d, 1) + sigmoid read
//! the last token.

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};
use serde::{Deserialize, Serialize};

use super::FeatureBatch;
use super::layers::{BlockDims, CrossBlock, EncoderBlock};

/// Shape and regularisation of the NAR-Former model (defaults: the paper's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NarFormerConfig {
    /// Blocks per stage; the first is the encoder, each later one a fusion stage.
    #[serde(default = "default_depths")]
    pub depths: Vec<usize>,
    #[serde(default = "default_heads")]
    pub heads: usize,
    #[serde(default = "default_d_ff")]
    pub d_ff: usize,
    /// Dropout on attention weights and inside the feed-forward layers
    /// (after their activation).
    #[serde(default = "default_dropout")]
    pub dropout: f64,
    /// Largest stochastic-depth rate (linearly spaced from 0 over all blocks).
    #[serde(default)]
    pub drop_path: f64,
    /// Prepend the projected depth encoding to the sequence.
    #[serde(default = "yes")]
    pub depth_token: bool,
}

fn default_depths() -> Vec<usize> {
    vec![6, 1, 1, 1]
}
fn default_heads() -> usize {
    6
}
fn default_d_ff() -> usize {
    768
}
fn default_dropout() -> f64 {
    0.1
}
fn yes() -> bool {
    true
}

impl Default for NarFormerConfig {
    fn default() -> Self {
        Self {
            depths: default_depths(),
            heads: default_heads(),
            d_ff: default_d_ff(),
            dropout: default_dropout(),
            drop_path: 0.0,
            depth_token: true,
        }
    }
}

impl NarFormerConfig {
    /// Checks what `init` would otherwise panic on; `d_model` comes from the
    /// tokenizer; `key` is where the section sits in the config (`model.transformer`).
    pub fn validate(&self, d_model: usize, key: &str) -> Result<(), String> {
        if self.depths.is_empty() || self.depths.contains(&0) {
            return Err(format!("{key}.depths must be non-empty and positive, got {:?}", self.depths));
        }
        if self.heads == 0 || !d_model.is_multiple_of(self.heads) {
            return Err(format!(
                "{key}.heads = {} must divide d_model = {d_model} (the tokenizer's width)",
                self.heads
            ));
        }
        for (name, value) in [("dropout", self.dropout), ("drop_path", self.drop_path)] {
            if !(0.0..1.0).contains(&value) {
                return Err(format!("{key}.{name} must be in [0, 1), got {value}"));
            }
        }
        Ok(())
    }

    pub fn init<B: Backend>(&self, d_model: usize, device: &B::Device) -> NarFormer<B> {
        let dims = BlockDims { d: d_model, heads: self.heads, d_ff: self.d_ff, dropout: self.dropout };
        let total: usize = self.depths.iter().sum();
        let rate = |i: usize| {
            if total > 1 { self.drop_path * i as f64 / (total - 1) as f64 } else { 0.0 }
        };
        let encoder = (0..self.depths[0]).map(|i| EncoderBlock::new(dims, rate(i), device)).collect();
        let stages_after = self.depths.len() - 1;
        let mut layer = self.depths[0];
        let mut stages = Vec::with_capacity(stages_after);
        for (s, &depth) in self.depths.iter().enumerate().skip(1) {
            let count = 1usize << (stages_after - s);
            let queries = Tensor::<B, 2>::random([count, d_model], Distribution::Normal(0.0, 1.0), device);
            stages.push(FusionStage {
                queries: Param::from_tensor(queries),
                fuse: (s >= 2).then(|| CrossBlock::new(dims, false, rate(layer), device)),
                cross: CrossBlock::new(dims, true, rate(layer), device),
                extra: (1..depth).map(|i| EncoderBlock::new(dims, rate(layer + i), device)).collect(),
            });
            layer += depth;
        }
        NarFormer {
            depth_embed: self.depth_token.then(|| LinearConfig::new(d_model, d_model).init(device)),
            encoder,
            stages,
            norm: LayerNormConfig::new(d_model).init(device),
            head: LinearConfig::new(d_model, 1).init(device),
        }
    }
}

/// One fusion stage (see the module doc).
#[derive(Module, Debug)]
pub struct FusionStage<B: Backend> {
    pub(super) queries: Param<Tensor<B, 2>>,
    pub(super) fuse: Option<CrossBlock<B>>,
    pub(super) cross: CrossBlock<B>,
    pub(super) extra: Vec<EncoderBlock<B>>,
}

/// The NAR-Former model.
#[derive(Module, Debug)]
pub struct NarFormer<B: Backend> {
    pub(super) depth_embed: Option<Linear<B>>,
    pub(super) encoder: Vec<EncoderBlock<B>>,
    pub(super) stages: Vec<FusionStage<B>>,
    pub(super) norm: LayerNorm<B>,
    pub(super) head: Linear<B>,
}

impl<B: Backend> NarFormer<B> {
    /// Scores a batch: tokens [b, t, d] (and depth [b, d]) to [b] in (0, 1).
    pub fn forward(&self, batch: &FeatureBatch<B>) -> Tensor<B, 1> {
        let mut x = batch.tokens.clone();
        let b = x.dims()[0];
        let mut mask = batch.mask.clone();
        if let Some(embed) = &self.depth_embed {
            let depth = batch.depth.clone().expect("the model uses a depth token but the batch has none");
            let d = relu(embed.forward(depth)).unsqueeze_dim::<3>(1);
            x = Tensor::cat(vec![d, x], 1);
            mask = mask.map(|m| Tensor::cat(vec![m.ones_like().narrow(1, 0, 1), m], 1));
        }
        // padded keys get -1e9 before the softmax: [b, 1, 1, t]
        let bias = mask.map(|m| (m - 1.0).mul_scalar(1e9).unsqueeze_dims::<4>(&[1, 2]));
        let bias = bias.as_ref();
        for block in &self.encoder {
            x = block.forward(x, bias);
        }
        let memory = x;
        let mut q: Option<Tensor<B, 3>> = None;
        for stage in &self.stages {
            let (context, context_bias) = match (&stage.fuse, q.take()) {
                (Some(fuse), Some(prev)) => (fuse.forward(prev, memory.clone(), bias), None),
                _ => (memory.clone(), bias),
            };
            let learnt = stage.queries.val().unsqueeze_dim::<3>(0).repeat_dim(0, b);
            let mut h = stage.cross.forward(learnt, context, context_bias);
            for block in &stage.extra {
                h = block.forward(h, None);
            }
            q = Some(h);
        }
        let out = self.norm.forward(q.unwrap_or(memory));
        let [b, t, d] = out.dims();
        let last = out.narrow(1, t - 1, 1).reshape([b, d]);
        sigmoid(self.head.forward(last)).reshape([b])
    }
}
