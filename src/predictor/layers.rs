//! Transformer building blocks for the NAR-Former model, written so that every
//! `Linear` sees a 2-D input ([batch * tokens, d]): burn 0.21 makes 3-D Linear
//! weight gradients as a batched product, 5x slower (see notes/burn.md).

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};

/// Applies `linear` to [b, t, d_in] by flattening to [b * t, d_in].
pub fn linear_3d<B: Backend>(linear: &Linear<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    let [b, t, d] = x.dims();
    let y = linear.forward(x.reshape([b * t, d]));
    let out = y.dims()[1];
    y.reshape([b, t, out])
}

/// Multi-head attention. Without a query projection (`q: None`) the query is
/// used as given: NAR-Former's cross attention from learnt query tokens.
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    pub(super) q: Option<Linear<B>>,
    pub(super) k: Linear<B>,
    pub(super) v: Linear<B>,
    pub(super) out: Linear<B>,
    drop: Dropout,
    pub(super) heads: usize,
}

impl<B: Backend> Attention<B> {
    pub fn new(d: usize, heads: usize, dropout: f64, project_query: bool, device: &B::Device) -> Self {
        assert!(d.is_multiple_of(heads), "d_model {d} is not divisible by {heads} heads");
        let lin = || LinearConfig::new(d, d).init(device);
        Self {
            q: project_query.then(lin),
            k: lin(),
            v: lin(),
            out: lin(),
            drop: DropoutConfig::new(dropout).init(),
            heads,
        }
    }

    /// `query`: [b, tq, d]; `context`: [b, tk, d] (keys and values);
    /// `key_bias`: [b, 1, 1, tk], added to the attention scores (a large
    /// negative value hides padded keys). Returns [b, tq, d].
    pub fn forward(&self, query: Tensor<B, 3>, context: Tensor<B, 3>, key_bias: Option<&Tensor<B, 4>>) -> Tensor<B, 3> {
        let [b, tq, d] = query.dims();
        let tk = context.dims()[1];
        let (h, dh) = (self.heads, d / self.heads);
        let q = match &self.q {
            Some(l) => linear_3d(l, query),
            None => query,
        };
        let k = linear_3d(&self.k, context.clone());
        let v = linear_3d(&self.v, context);
        let heads = |t: Tensor<B, 3>, len: usize| t.reshape([b, len, h, dh]).swap_dims(1, 2);
        let (q, k, v) = (heads(q, tq), heads(k, tk), heads(v, tk));
        let scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(1.0 / (dh as f64).sqrt());
        let scores = match key_bias {
            Some(bias) => scores + bias.clone(),
            None => scores,
        };
        let attn = self.drop.forward(softmax(scores, 3));
        let o = attn.matmul(v).swap_dims(1, 2).reshape([b * tq, d]);
        self.out.forward(o).reshape([b, tq, d])
    }
}

/// Position-wise feed-forward: Linear, ReLU, dropout, Linear (dropout once,
/// after the activation, as the published NAR-Former; model revision 1 also
/// dropped after the second Linear, which measured no better: docs/results.md).
#[derive(Module, Debug)]
pub struct FeedForward<B: Backend> {
    pub(super) fc1: Linear<B>,
    pub(super) fc2: Linear<B>,
    drop: Dropout,
}

impl<B: Backend> FeedForward<B> {
    pub fn new(d: usize, d_ff: usize, dropout: f64, device: &B::Device) -> Self {
        Self {
            fc1: LinearConfig::new(d, d_ff).init(device),
            fc2: LinearConfig::new(d_ff, d).init(device),
            drop: DropoutConfig::new(dropout).init(),
        }
    }

    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let h = self.drop.forward(relu(linear_3d(&self.fc1, x)));
        linear_3d(&self.fc2, h)
    }
}

/// Stochastic depth: in training, zeroes a sample's residual branch with
/// probability `rate` and rescales the survivors; identity at inference.
pub fn drop_path<B: Backend>(x: Tensor<B, 3>, rate: f64) -> Tensor<B, 3> {
    if rate <= 0.0 || !B::ad_enabled(&x.device()) {
        return x;
    }
    let keep = 1.0 - rate;
    let b = x.dims()[0];
    let mask = Tensor::<B, 3>::random([b, 1, 1], Distribution::Bernoulli(keep), &x.device());
    x * mask.div_scalar(keep)
}

/// Shape hyper-parameters shared by the blocks.
#[derive(Clone, Copy, Debug)]
pub struct BlockDims {
    pub d: usize,
    pub heads: usize,
    pub d_ff: usize,
    pub dropout: f64,
}

/// x + FFN(LN(x)), the second half of every block.
#[derive(Module, Debug)]
pub struct FfnResidual<B: Backend> {
    pub(super) norm: LayerNorm<B>,
    pub(super) ffn: FeedForward<B>,
    pub(super) drop_path: f64,
}

impl<B: Backend> FfnResidual<B> {
    pub fn new(dims: BlockDims, drop_path: f64, device: &B::Device) -> Self {
        Self {
            norm: LayerNormConfig::new(dims.d).init(device),
            ffn: FeedForward::new(dims.d, dims.d_ff, dims.dropout, device),
            drop_path,
        }
    }

    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let branch = self.ffn.forward(self.norm.forward(x.clone()));
        x + drop_path(branch, self.drop_path)
    }
}

/// Pre-norm self-attention block: x = x + MHA(LN(x)); x = x + FFN(LN(x)).
#[derive(Module, Debug)]
pub struct EncoderBlock<B: Backend> {
    pub(super) norm: LayerNorm<B>,
    pub(super) attn: Attention<B>,
    pub(super) ffn: FfnResidual<B>,
    pub(super) drop_path: f64,
}

impl<B: Backend> EncoderBlock<B> {
    pub fn new(dims: BlockDims, drop_path: f64, device: &B::Device) -> Self {
        Self {
            norm: LayerNormConfig::new(dims.d).init(device),
            attn: Attention::new(dims.d, dims.heads, dims.dropout, true, device),
            ffn: FfnResidual::new(dims, drop_path, device),
            drop_path,
        }
    }

    pub fn forward(&self, x: Tensor<B, 3>, key_bias: Option<&Tensor<B, 4>>) -> Tensor<B, 3> {
        let h = self.norm.forward(x.clone());
        let x = x + drop_path(self.attn.forward(h.clone(), h, key_bias), self.drop_path);
        self.ffn.forward(x)
    }
}

/// Attention without residual (the shape may change), then x + FFN(LN(x)).
/// With `learnt_query`, the query is used unprojected and not normalised
/// (NAR-Former's cross attention); otherwise it is normalised and projected
/// (the fuse unit's attention from the previous stage's tokens).
#[derive(Module, Debug)]
pub struct CrossBlock<B: Backend> {
    pub(super) query_norm: Option<LayerNorm<B>>,
    pub(super) context_norm: LayerNorm<B>,
    pub(super) attn: Attention<B>,
    pub(super) ffn: FfnResidual<B>,
}

impl<B: Backend> CrossBlock<B> {
    pub fn new(dims: BlockDims, learnt_query: bool, drop_path: f64, device: &B::Device) -> Self {
        Self {
            query_norm: (!learnt_query).then(|| LayerNormConfig::new(dims.d).init(device)),
            context_norm: LayerNormConfig::new(dims.d).init(device),
            attn: Attention::new(dims.d, dims.heads, dims.dropout, !learnt_query, device),
            ffn: FfnResidual::new(dims, drop_path, device),
        }
    }

    pub fn forward(&self, query: Tensor<B, 3>, context: Tensor<B, 3>, key_bias: Option<&Tensor<B, 4>>) -> Tensor<B, 3> {
        let query = match &self.query_norm {
            Some(n) => n.forward(query),
            None => query,
        };
        let x = self.attn.forward(query, self.context_norm.forward(context), key_bias);
        self.ffn.forward(x)
    }
}
