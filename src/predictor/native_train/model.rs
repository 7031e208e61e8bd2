//! The whole NAR-Former, forward with its tape and backward, on one chunk
//! of a batch (its rows left-padded to the chunk's longest, padding masked
//! as the model does): depth token, encoder, fusion stages with their
//! learnt queries, final norm, head and sigmoid.

use burn::tensor::backend::Backend;

use super::blocks::{CrossBlock, CrossTape, FfnResidual, Rates, SelfBlock, SelfTape};
use super::ops::{Dense, MASKED, MaskRng, Norm, NormTape, View, last_tokens, sigmoid};
use super::params::Layout;
use crate::predictor::dataset::Padded;
use crate::predictor::layers;
use crate::predictor::model::{NarFormer, NarFormerConfig};

struct Stage {
    /// Offset of the learnt queries [count, d].
    queries: usize,
    count: usize,
    fuse: Option<CrossBlock>,
    cross: CrossBlock,
    extra: Vec<SelfBlock>,
}

/// Where every layer's parameters sit, and the model's dropout rates.
pub struct NativeModel {
    d: usize,
    depth_embed: Option<Dense>,
    encoder: Vec<SelfBlock>,
    stages: Vec<Stage>,
    norm: Norm,
    head: Dense,
}

struct StageTape {
    fuse: Option<CrossTape>,
    cross: CrossTape,
    extra: Vec<SelfTape>,
}

/// What the backward of one chunk needs.
pub struct ChunkTape {
    n: usize,
    /// Tokens per architecture in the encoder (with the depth token).
    t: usize,
    depth_in: Option<Vec<f32>>,
    /// The depth token after its ReLU.
    depth_out: Vec<f32>,
    encoder: Vec<SelfTape>,
    stages: Vec<StageTape>,
    /// Tokens per architecture of the last stage's output.
    t_out: usize,
    norm: NormTape,
    normed: Vec<f32>,
    pub pred: Vec<f32>,
}

impl NativeModel {
    /// The layers of `model` in `layout`; rates from `cfg` (burn's modules
    /// keep them private), spaced over the blocks as `cfg.init` does.
    pub fn new<B: Backend>(model: &NarFormer<B>, cfg: &NarFormerConfig, layout: &Layout) -> Self {
        let total: usize = cfg.depths.iter().sum();
        let rate = |i: usize| Rates {
            dropout: cfg.dropout,
            drop_path: if total > 1 { cfg.drop_path * i as f64 / (total - 1) as f64 } else { 0.0 },
        };
        let attention = |a: &layers::Attention<B>| super::blocks::Attention {
            q: a.q.as_ref().map(|l| layout.dense(l)),
            k: layout.dense(&a.k),
            v: layout.dense(&a.v),
            out: layout.dense(&a.out),
            heads: a.heads,
        };
        let ffn = |f: &layers::FfnResidual<B>| FfnResidual {
            norm: layout.norm(&f.norm),
            fc1: layout.dense(&f.ffn.fc1),
            fc2: layout.dense(&f.ffn.fc2),
        };
        let block = |b: &layers::EncoderBlock<B>, i: usize| SelfBlock {
            norm: layout.norm(&b.norm),
            attn: attention(&b.attn),
            ffn: ffn(&b.ffn),
            rates: rate(i),
        };
        let cross = |c: &layers::CrossBlock<B>, i: usize| CrossBlock {
            query_norm: c.query_norm.as_ref().map(|n| layout.norm(n)),
            context_norm: layout.norm(&c.context_norm),
            attn: attention(&c.attn),
            ffn: ffn(&c.ffn),
            rates: rate(i),
        };
        let encoder = model.encoder.iter().enumerate().map(|(i, b)| block(b, i)).collect();
        let mut layer = model.encoder.len();
        let mut stages = Vec::new();
        for s in &model.stages {
            stages.push(Stage {
                queries: layout.offset_of(&s.queries),
                count: s.queries.dims()[0],
                fuse: s.fuse.as_ref().map(|f| cross(f, layer)),
                cross: cross(&s.cross, layer),
                extra: s.extra.iter().enumerate().map(|(i, b)| block(b, layer + 1 + i)).collect(),
            });
            layer += 1 + s.extra.len();
        }
        let head = layout.dense(&model.head);
        Self {
            d: head.din,
            depth_embed: model.depth_embed.as_ref().map(|l| layout.dense(l)),
            encoder,
            stages,
            norm: layout.norm(&model.norm),
            head,
        }
    }

    /// The stochastic-depth rate of every residual branch, in the model's
    /// order (per self-attention block: its attention, its FFN; per cross
    /// block: its FFN). For the tests against burn's blocks.
    #[cfg(test)]
    pub fn drop_path_rates(&self) -> Vec<f64> {
        let mut rates = Vec::new();
        let block = |b: &SelfBlock, rates: &mut Vec<f64>| rates.extend([b.rates.drop_path; 2]);
        for b in &self.encoder {
            block(b, &mut rates);
        }
        for s in &self.stages {
            rates.extend(s.fuse.iter().chain([&s.cross]).map(|c| c.rates.drop_path));
            for b in &s.extra {
                block(b, &mut rates);
            }
        }
        rates
    }

    /// Scores of the chunk's architectures, and the tape for [`Self::backward`].
    pub fn forward(&self, p: &[f32], batch: Padded, rng: &mut MaskRng) -> ChunkTape {
        let (n, d) = (batch.count, self.d);
        assert_eq!(batch.width, d, "the encoding's width is the model's");
        let (mut x, mut t, mut mask) = (batch.values, batch.tokens, batch.mask);
        let mut depth_out = Vec::new();
        let depth_in = match &self.depth_embed {
            Some(embed) => {
                let depth = batch.depth.expect("the model uses a depth token but the batch has none");
                depth_out = vec![0f32; n * d];
                embed.forward(p, View::rows(&depth, n, d, d), &mut depth_out, d);
                depth_out.iter_mut().for_each(|v| *v = v.max(0.0));
                let mut with = Vec::with_capacity(n * (t + 1) * d);
                for a in 0..n {
                    with.extend_from_slice(&depth_out[a * d..(a + 1) * d]);
                    with.extend_from_slice(&x[a * t * d..(a + 1) * t * d]);
                }
                mask = mask.map(|m| {
                    m.chunks_exact(t).flat_map(|row| std::iter::once(1.0).chain(row.iter().copied())).collect()
                });
                (x, t) = (with, t + 1);
                Some(depth)
            }
            None => None,
        };
        let bias: Option<Vec<f32>> = mask.map(|m| m.iter().map(|&v| (1.0 - v) * MASKED).collect());
        let bias = bias.as_deref();
        let encoder = self.encoder.iter().map(|b| b.forward(p, &mut x, t, bias, rng)).collect();
        let memory = x;
        let mut prev: Option<(Vec<f32>, usize)> = None;
        let mut stages = Vec::new();
        for stage in &self.stages {
            let (fused, fuse) = match (&stage.fuse, prev.take()) {
                (Some(fuse), Some((q, tq))) => {
                    let (out, tape) = fuse.forward(p, q, tq, &memory, t, bias, rng);
                    (Some((out, tq)), Some(tape))
                }
                _ => (None, None),
            };
            let (context, tk, context_bias) = match &fused {
                Some((f, tq)) => (&f[..], *tq, None),
                None => (&memory[..], t, bias),
            };
            let learnt = p[stage.queries..stage.queries + stage.count * d].repeat(n);
            let (mut h, cross) = stage.cross.forward(p, learnt, stage.count, context, tk, context_bias, rng);
            let extra = stage.extra.iter().map(|b| b.forward(p, &mut h, stage.count, None, rng)).collect();
            stages.push(StageTape { fuse, cross, extra });
            prev = Some((h, stage.count));
        }
        let (out, t_out) = prev.unwrap_or((memory, t));
        let mut normed = Vec::new();
        let norm = self.norm.forward(p, &last_tokens(&out, n, t_out, d), &mut normed);
        let mut score = vec![0f32; n];
        self.head.forward(p, View::rows(&normed, n, d, d), &mut score, 1);
        let pred = score.into_iter().map(sigmoid).collect();
        ChunkTape { n, t, depth_in, depth_out, encoder, stages, t_out, norm, normed, pred }
    }

    /// Adds the gradients of every parameter to `g`, from the loss's
    /// gradient with respect to each score of the chunk.
    pub fn backward(&self, p: &[f32], g: &mut [f32], tape: &ChunkTape, dpred: &[f32]) {
        let (n, d) = (tape.n, self.d);
        let dz: Vec<f32> = dpred.iter().zip(&tape.pred).map(|(dp, s)| dp * s * (1.0 - s)).collect();
        let mut dnormed = vec![0f32; n * d];
        self.head.backward(p, g, View::rows(&tape.normed, n, d, d), View::rows(&dz, n, 1, 1), Some((&mut dnormed, d)));
        let mut dlast = vec![0f32; n * d];
        self.norm.backward(p, g, &tape.norm, &dnormed, &mut dlast);
        let t_out = tape.t_out;
        let mut dout = vec![0f32; n * t_out * d];
        for a in 0..n {
            dout[((a + 1) * t_out - 1) * d..(a + 1) * t_out * d].copy_from_slice(&dlast[a * d..(a + 1) * d]);
        }
        let mut dmemory = if self.stages.is_empty() { dout.clone() } else { vec![0f32; n * tape.t * d] };
        for (stage, st) in self.stages.iter().zip(&tape.stages).rev() {
            for (block, bt) in stage.extra.iter().zip(&st.extra).rev() {
                block.backward(p, g, bt, &mut dout);
            }
            let (dlearnt, dcontext) = stage.cross.backward(p, g, &st.cross, dout);
            let gq = &mut g[stage.queries..stage.queries + stage.count * d];
            for chunk in dlearnt.chunks_exact(stage.count * d) {
                gq.iter_mut().zip(chunk).for_each(|(g, v)| *g += v);
            }
            dout = match (&stage.fuse, &st.fuse) {
                (Some(fuse), Some(ft)) => {
                    let (dprev, dmem) = fuse.backward(p, g, ft, dcontext);
                    dmemory.iter_mut().zip(&dmem).for_each(|(a, b)| *a += b);
                    dprev
                }
                _ => {
                    dmemory.iter_mut().zip(&dcontext).for_each(|(a, b)| *a += b);
                    Vec::new()
                }
            };
        }
        for (block, bt) in self.encoder.iter().zip(&tape.encoder).rev() {
            block.backward(p, g, bt, &mut dmemory);
        }
        if let (Some(embed), Some(depth)) = (&self.depth_embed, &tape.depth_in) {
            let t = tape.t;
            let mut dtoken: Vec<f32> = (0..n).flat_map(|a| dmemory[a * t * d..(a * t + 1) * d].to_vec()).collect();
            for (g, &o) in dtoken.iter_mut().zip(&tape.depth_out) {
                if o <= 0.0 {
                    *g = 0.0;
                }
            }
            embed.backward(p, g, View::rows(depth, n, d, d), View::rows(&dtoken, n, d, d), None);
        }
    }
}
