//! Inference of a trained NAR-Former on the CPU without burn's tensor ops:
//! the weights are copied out of the model once, then batches run through
//! plain loops and `gemm` matrix products (AVX-512 where the CPU has it).
//!
//! burn's CPU backends spend most of an inference on what surrounds the
//! Linears: one small matrix product per (architecture, head) in attention,
//! a copy for every reshape, an allocation for every elementwise op
//! (docs/speed.md). Here the query, key and value projections are one
//! product, attention is a loop per architecture in cache, bias, ReLU and
//! residuals are added in place, and threads take whole chunks of
//! architectures. The computation is the model's `forward` at inference
//! (dropout and stochastic depth off); a test holds the two to 1e-5.

use burn::module::Param;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rayon::prelude::*;

use super::dataset::{EncodedSet, Padded};
use super::layers::{Attention, CrossBlock, EncoderBlock, FfnResidual};
use super::model::NarFormer;
use super::native_train::ops::{LAYER_NORM_EPS, MASKED, View, dot, last_tokens, matmul, sigmoid};
use super::native_train::params::Layout;

/// Most architectures one thread takes at a time.
const CHUNK: usize = 64;

fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec::<f32>().expect("weights convert to f32")
}

/// Where the weights' values are read from: the model's own tensors, or a
/// flat copy of them laid out by `Layout` (native training's parameters,
/// read without a round trip through burn's tensors).
#[derive(Clone, Copy)]
enum Src<'a> {
    Model,
    Flat(&'a Layout, &'a [f32]),
}

fn param<B: Backend, const D: usize>(p: &Param<Tensor<B, D>>, src: Src) -> Vec<f32> {
    match src {
        Src::Model => values(p.val()),
        Src::Flat(layout, flat) => layout.values(p, flat).to_vec(),
    }
}

/// A Linear layer: `w` [din, dout] row-major, `b` [dout].
struct Dense {
    w: Vec<f32>,
    b: Vec<f32>,
    din: usize,
    dout: usize,
}

impl Dense {
    /// Several Linears on the same input as one, their outputs side by side.
    fn concat<B: Backend>(layers: &[&Linear<B>], src: Src) -> Self {
        let parts: Vec<(Vec<f32>, Vec<f32>, usize)> = layers
            .iter()
            .map(|l| {
                let [_, dout] = l.weight.dims();
                let b = l.bias.as_ref().map(|b| param(b, src)).unwrap_or_else(|| vec![0.0; dout]);
                (param(&l.weight, src), b, dout)
            })
            .collect();
        let din = layers[0].weight.dims()[0];
        let dout: usize = parts.iter().map(|p| p.2).sum();
        let mut w = vec![0f32; din * dout];
        let mut b = Vec::with_capacity(dout);
        let mut col = 0;
        for (pw, pb, n) in &parts {
            for i in 0..din {
                w[i * dout + col..i * dout + col + n].copy_from_slice(&pw[i * n..(i + 1) * n]);
            }
            b.extend_from_slice(pb);
            col += n;
        }
        Self { w, b, din, dout }
    }

    fn new<B: Backend>(l: &Linear<B>, src: Src) -> Self {
        Self::concat(&[l], src)
    }

    /// `out` [m, dout] = x [m, din] @ w + b.
    fn apply(&self, x: &[f32], out: &mut Vec<f32>) {
        let m = x.len() / self.din;
        out.clear();
        for _ in 0..m {
            out.extend_from_slice(&self.b);
        }
        self.product(x, out);
    }

    /// `acc` [m, dout] += x [m, din] @ w + b (a residual branch).
    fn accumulate(&self, x: &[f32], acc: &mut [f32]) {
        for row in acc.chunks_exact_mut(self.dout) {
            row.iter_mut().zip(&self.b).for_each(|(a, b)| *a += b);
        }
        self.product(x, acc);
    }

    /// `acc` += x @ w.
    fn product(&self, x: &[f32], acc: &mut [f32]) {
        let m = x.len() / self.din;
        assert_eq!(acc.len(), m * self.dout);
        matmul(
            View::rows(x, m, self.din, self.din),
            View::rows(&self.w, self.din, self.dout, self.dout),
            acc,
            self.dout,
            true,
        );
    }
}

struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

impl Norm {
    fn new<B: Backend>(n: &LayerNorm<B>, src: Src) -> Self {
        let gamma = param(&n.gamma, src);
        let beta = n.beta.as_ref().map(|b| param(b, src)).unwrap_or_else(|| vec![0.0; gamma.len()]);
        Self { gamma, beta }
    }

    fn apply(&self, x: &[f32], out: &mut Vec<f32>) {
        let d = self.gamma.len();
        out.resize(x.len(), 0.0);
        for (row, o) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            let mean = row.iter().sum::<f32>() / d as f32;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
            let inv = 1.0 / (var + LAYER_NORM_EPS).sqrt();
            for i in 0..d {
                o[i] = (row[i] - mean) * inv * self.gamma[i] + self.beta[i];
            }
        }
    }
}

/// Scratch buffers a thread reuses across layers.
#[derive(Default)]
struct Scratch {
    normed: Vec<f32>,
    query: Vec<f32>,
    keys: Vec<f32>,
    heads: Vec<f32>,
    hidden: Vec<f32>,
    scores: Vec<f32>,
}

/// Multi-head attention of `n` architectures: `q` holds `tq` rows per
/// architecture of `q_stride` values (the query at offset 0), `kv` holds
/// `tk` rows of `kv_stride` values (keys at `k_at`, values at `v_at`);
/// `bias` [n, tk] is added to the scores. Writes [n * tq, d] to `out`.
#[allow(clippy::too_many_arguments)]
fn attend(
    heads: usize,
    d: usize,
    (q, q_stride, tq): (&[f32], usize, usize),
    (kv, kv_stride, tk, k_at, v_at): (&[f32], usize, usize, usize, usize),
    bias: Option<&[f32]>,
    scores: &mut Vec<f32>,
    out: &mut Vec<f32>,
) {
    let n = q.len() / (q_stride * tq);
    let dh = d / heads;
    let scale = 1.0 / (dh as f32).sqrt();
    out.clear();
    out.resize(n * tq * d, 0.0);
    scores.resize(tk, 0.0);
    for a in 0..n {
        for h in 0..heads {
            for i in 0..tq {
                let qi = &q[(a * tq + i) * q_stride + h * dh..][..dh];
                let mut max = f32::NEG_INFINITY;
                for j in 0..tk {
                    let kj = &kv[(a * tk + j) * kv_stride + k_at + h * dh..][..dh];
                    let mut s = dot(qi, kj) * scale;
                    if let Some(bias) = bias {
                        s += bias[a * tk + j];
                    }
                    scores[j] = s;
                    max = max.max(s);
                }
                let mut total = 0.0;
                for s in scores.iter_mut() {
                    *s = (*s - max).exp();
                    total += *s;
                }
                let o = &mut out[(a * tq + i) * d + h * dh..][..dh];
                for (j, s) in scores.iter().enumerate() {
                    let p = s / total;
                    let vj = &kv[(a * tk + j) * kv_stride + v_at + h * dh..][..dh];
                    o.iter_mut().zip(vj).for_each(|(o, v)| *o += p * v);
                }
            }
        }
    }
}

/// x + FFN(LN(x)), in place.
struct Ffn {
    norm: Norm,
    fc1: Dense,
    fc2: Dense,
}

impl Ffn {
    fn new<B: Backend>(f: &FfnResidual<B>, src: Src) -> Self {
        Self { norm: Norm::new(&f.norm, src), fc1: Dense::new(&f.ffn.fc1, src), fc2: Dense::new(&f.ffn.fc2, src) }
    }

    fn forward(&self, x: &mut [f32], s: &mut Scratch) {
        self.norm.apply(x, &mut s.normed);
        self.fc1.apply(&s.normed, &mut s.hidden);
        s.hidden.iter_mut().for_each(|v| *v = v.max(0.0));
        self.fc2.accumulate(&s.hidden, x);
    }
}

/// Pre-norm self-attention block, its three projections as one product.
struct SelfBlock {
    norm: Norm,
    qkv: Dense,
    out: Dense,
    heads: usize,
    ffn: Ffn,
}

impl SelfBlock {
    fn new<B: Backend>(b: &EncoderBlock<B>, src: Src) -> Self {
        let a = &b.attn;
        let q = a.q.as_ref().expect("self-attention projects its query");
        Self {
            norm: Norm::new(&b.norm, src),
            qkv: Dense::concat(&[q, &a.k, &a.v], src),
            out: Dense::new(&a.out, src),
            heads: a.heads,
            ffn: Ffn::new(&b.ffn, src),
        }
    }

    /// `x` holds `t` rows per architecture.
    fn forward(&self, x: &mut [f32], t: usize, bias: Option<&[f32]>, s: &mut Scratch) {
        let d = self.out.dout;
        self.norm.apply(x, &mut s.normed);
        self.qkv.apply(&s.normed, &mut s.keys);
        attend(self.heads, d, (&s.keys, 3 * d, t), (&s.keys, 3 * d, t, d, 2 * d), bias, &mut s.scores, &mut s.heads);
        self.out.accumulate(&s.heads, x);
        self.ffn.forward(x, s);
    }
}

/// Attention from queries to a context without a residual, then x + FFN(LN(x)).
struct Cross {
    query_norm: Option<Norm>,
    query: Option<Dense>,
    context_norm: Norm,
    kv: Dense,
    out: Dense,
    heads: usize,
    ffn: Ffn,
}

impl Cross {
    fn new<B: Backend>(c: &CrossBlock<B>, src: Src) -> Self {
        let a: &Attention<B> = &c.attn;
        Self {
            query_norm: c.query_norm.as_ref().map(|n| Norm::new(n, src)),
            query: a.q.as_ref().map(|q| Dense::new(q, src)),
            context_norm: Norm::new(&c.context_norm, src),
            kv: Dense::concat(&[&a.k, &a.v], src),
            out: Dense::new(&a.out, src),
            heads: a.heads,
            ffn: Ffn::new(&c.ffn, src),
        }
    }

    /// `query`: `tq` rows per architecture; `context`: `tk` rows.
    fn forward(
        &self,
        query: &[f32],
        tq: usize,
        context: &[f32],
        tk: usize,
        bias: Option<&[f32]>,
        s: &mut Scratch,
    ) -> Vec<f32> {
        let d = self.out.dout;
        let mut q = match &self.query_norm {
            Some(norm) => {
                let mut q = Vec::new();
                norm.apply(query, &mut q);
                q
            }
            None => query.to_vec(),
        };
        if let Some(proj) = &self.query {
            proj.apply(&q, &mut s.query);
            std::mem::swap(&mut q, &mut s.query);
        }
        self.context_norm.apply(context, &mut s.normed);
        self.kv.apply(&s.normed, &mut s.keys);
        attend(self.heads, d, (&q, d, tq), (&s.keys, 2 * d, tk, 0, d), bias, &mut s.scores, &mut s.heads);
        let mut x = Vec::new();
        self.out.apply(&s.heads, &mut x);
        self.ffn.forward(&mut x, s);
        x
    }
}

struct Stage {
    queries: Vec<f32>,
    count: usize,
    fuse: Option<Cross>,
    cross: Cross,
    extra: Vec<SelfBlock>,
}

/// A NAR-Former's weights, ready for [`NativeNarFormer::predict`].
pub struct NativeNarFormer {
    d: usize,
    depth_embed: Option<Dense>,
    encoder: Vec<SelfBlock>,
    stages: Vec<Stage>,
    norm: Norm,
    head: Dense,
}

impl NativeNarFormer {
    /// Copies the weights of `model` (from any backend).
    pub fn new<B: Backend>(model: &NarFormer<B>) -> Self {
        Self::build(model, Src::Model)
    }

    /// The weights `flat` laid out by `layout` (made from `model`, whose
    /// shape they take; its own values are not read).
    pub fn from_flat<B: Backend>(model: &NarFormer<B>, layout: &Layout, flat: &[f32]) -> Self {
        Self::build(model, Src::Flat(layout, flat))
    }

    fn build<B: Backend>(model: &NarFormer<B>, src: Src) -> Self {
        let head = Dense::new(&model.head, src);
        Self {
            d: head.din,
            depth_embed: model.depth_embed.as_ref().map(|l| Dense::new(l, src)),
            encoder: model.encoder.iter().map(|b| SelfBlock::new(b, src)).collect(),
            stages: model
                .stages
                .iter()
                .map(|s| Stage {
                    queries: param(&s.queries, src),
                    count: s.queries.dims()[0],
                    fuse: s.fuse.as_ref().map(|f| Cross::new(f, src)),
                    cross: Cross::new(&s.cross, src),
                    extra: s.extra.iter().map(|b| SelfBlock::new(b, src)).collect(),
                })
                .collect(),
            norm: Norm::new(&model.norm, src),
            head,
        }
    }

    /// Scores `rows` of `set`, in chunks spread over the threads; each chunk
    /// is padded to its own longest row. A score is the same to the bit
    /// whatever it was scored beside (a resumed search, its cache of scores
    /// empty, scores a genotype in other company than the uninterrupted run
    /// did): padding is masked and comes first, so the sums over tokens add
    /// exact zeros ahead of the real terms, and a product's row depends on
    /// that row alone ([`matmul`]).
    pub fn predict(&self, set: &EncodedSet, rows: &[usize]) -> Vec<f32> {
        let per = rows.len().div_ceil(rayon::current_num_threads()).clamp(1, CHUNK);
        rows.par_chunks(per).map(|chunk| self.forward(set.padded(chunk))).collect::<Vec<_>>().concat()
    }

    fn forward(&self, batch: Padded) -> Vec<f32> {
        let (n, d) = (batch.count, self.d);
        assert_eq!(batch.width, d, "the encoding's width is the model's");
        let mut s = Scratch::default();
        let (mut x, mut t, mut mask) = (batch.values, batch.tokens, batch.mask);
        if let Some(embed) = &self.depth_embed {
            let depth = batch.depth.expect("the model uses a depth token but the batch has none");
            let mut token = Vec::new();
            embed.apply(&depth, &mut token);
            token.iter_mut().for_each(|v| *v = v.max(0.0));
            let mut with = Vec::with_capacity(n * (t + 1) * d);
            for a in 0..n {
                with.extend_from_slice(&token[a * d..(a + 1) * d]);
                with.extend_from_slice(&x[a * t * d..(a + 1) * t * d]);
            }
            mask = mask
                .map(|m| m.chunks_exact(t).flat_map(|row| std::iter::once(1.0).chain(row.iter().copied())).collect());
            (x, t) = (with, t + 1);
        }
        let bias: Option<Vec<f32>> = mask.map(|m| m.iter().map(|&v| (1.0 - v) * MASKED).collect());
        let bias = bias.as_deref();
        for block in &self.encoder {
            block.forward(&mut x, t, bias, &mut s);
        }
        let memory = x;
        let mut prev: Option<(Vec<f32>, usize)> = None;
        for stage in &self.stages {
            let fused;
            let (context, tk, context_bias) = match (&stage.fuse, prev.take()) {
                (Some(fuse), Some((p, tp))) => {
                    fused = fuse.forward(&p, tp, &memory, t, bias, &mut s);
                    (&fused[..], tp, None)
                }
                _ => (&memory[..], t, bias),
            };
            let learnt = stage.queries.repeat(n);
            let mut h = stage.cross.forward(&learnt, stage.count, context, tk, context_bias, &mut s);
            for block in &stage.extra {
                block.forward(&mut h, stage.count, None, &mut s);
            }
            prev = Some((h, stage.count));
        }
        let (out, tout) = prev.unwrap_or((memory, t));
        let mut normed = Vec::new();
        self.norm.apply(&last_tokens(&out, n, tout, d), &mut normed);
        let mut score = Vec::new();
        self.head.apply(&normed, &mut score);
        score.into_iter().map(sigmoid).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predictor::dataset::Encoded;
    use crate::predictor::model::NarFormerConfig;
    use burn::backend::NdArray;
    use burn::module::{Module, ModuleMapper};
    use burn::tensor::Distribution;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    type B = NdArray<f32>;
    /// The encoding's width in the tests that fix one.
    const D: usize = 32;

    /// Adds noise to every parameter, so that norms' scales and shifts and
    /// all biases differ from their initial ones and a swapped or skipped
    /// weight shows.
    struct Jitter;
    impl ModuleMapper<B> for Jitter {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let (id, t, mapper) = param.consume();
            let noise = Tensor::random(t.shape(), Distribution::Normal(0.0, 0.2), &t.device());
            Param::from_mapped_value(id, t + noise, mapper)
        }
    }

    /// `count` architectures of 4 to 8 tokens (so batches are padded).
    fn set(count: usize, d: usize, depth: bool, rng: &mut StdRng) -> EncodedSet {
        let items = (0..count)
            .map(|_| {
                let len = rng.random_range(4..=8);
                Encoded {
                    values: (0..len * d).map(|_| rng.random_range(-1.0..1.0)).collect(),
                    len,
                    depth: depth.then(|| (0..d).map(|_| rng.random_range(-1.0..1.0)).collect()),
                }
            })
            .collect();
        EncodedSet::from_encoded(items, d)
    }

    fn check(cfg: NarFormerConfig, d: usize, seed: u64) {
        let device = Default::default();
        <B as Backend>::seed(&device, seed);
        let model = cfg.init::<B>(d, &device).map(&mut Jitter);
        let mut rng = StdRng::seed_from_u64(seed);
        let set = set(150, d, cfg.depth_token, &mut rng);
        let rows: Vec<usize> = (0..set.count()).collect();
        let native = NativeNarFormer::new(&model).predict(&set, &rows);
        let burn: Vec<f32> = model.forward(&set.batch::<B>(&rows, &device)).into_data().to_vec().unwrap();
        assert_eq!(native.len(), burn.len());
        let spread = burn.iter().fold(0f32, |m, v| m.max((v - burn[0]).abs()));
        assert!(spread > 1e-3, "the scores must differ between architectures for the test to mean anything");
        for (i, (a, b)) in native.iter().zip(&burn).enumerate() {
            assert!((a - b).abs() < 2e-5, "architecture {i}: native {a}, burn {b} ({cfg:?})");
        }
    }

    #[test]
    fn a_score_is_the_same_to_the_bit_whatever_it_is_scored_beside() {
        // an architecture scored alone sends a single row through the last
        // stage (one query), which gemm alone would add up another way;
        // d_ff 640 is past the inner dimension of one gemm call
        let cfg = NarFormerConfig { depths: vec![1, 1, 1], heads: 2, d_ff: 640, ..Default::default() };
        let device = Default::default();
        <B as Backend>::seed(&device, 5);
        let model = NativeNarFormer::new(&cfg.init::<B>(D, &device).map(&mut Jitter));
        let mut rng = StdRng::seed_from_u64(5);
        let set = set(120, D, cfg.depth_token, &mut rng);
        let all: Vec<usize> = (0..set.count()).collect();
        let together = model.predict(&set, &all);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let alone: Vec<f32> = all.iter().flat_map(|&r| model.predict(&set, &[r])).collect();
        assert_eq!(bits(&alone), bits(&together), "scored alone vs all together");
        for size in [2, 3, 7, 50] {
            let parts: Vec<f32> = all.chunks(size).flat_map(|c| model.predict(&set, c)).collect();
            assert_eq!(bits(&parts), bits(&together), "in batches of {size}");
        }
        let reversed: Vec<usize> = all.iter().rev().copied().collect();
        let mut back = model.predict(&set, &reversed);
        back.reverse();
        assert_eq!(bits(&back), bits(&together), "in reverse order");
    }

    #[test]
    fn native_inference_matches_the_burn_model() {
        let base = NarFormerConfig { depths: vec![2, 1, 2, 1], heads: 4, d_ff: 64, ..Default::default() };
        check(base.clone(), 32, 1);
        check(NarFormerConfig { depth_token: false, ..base.clone() }, 32, 2);
        check(NarFormerConfig { depths: vec![3], heads: 2, ..base.clone() }, 16, 3);
        check(NarFormerConfig { depths: vec![1, 2], ..base }, 24, 4);
    }
}
