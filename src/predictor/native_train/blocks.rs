//! The NAR-Former's blocks, forward with what their backward needs kept
//! (a tape), and backward: multi-head attention with the padding bias and
//! dropout on its weights, the x + FFN(LN(x)) residual with its dropout and
//! stochastic depth, the pre-norm self-attention block and the cross block.
//! Every gradient is added into the flat gradient array `g`, laid out as
//! the parameters `p` are.

use super::ops::{Dense, MaskRng, Norm, NormTape, View, apply_mask, apply_sample_mask, axpy, dot};

/// Dropout rates of one block.
#[derive(Clone, Copy, Debug)]
pub struct Rates {
    /// On attention weights and after the feed-forward activation.
    pub dropout: f64,
    /// Stochastic depth of the block's residual branches.
    pub drop_path: f64,
}

/// Multi-head attention's weights (`q: None`: the query is used as given).
pub struct Attention {
    pub q: Option<Dense>,
    pub k: Dense,
    pub v: Dense,
    pub out: Dense,
    pub heads: usize,
}

/// Sizes of one attention call: `n` architectures, `tq` query and `tk`
/// key rows each.
#[derive(Clone, Copy)]
struct Shape {
    n: usize,
    tq: usize,
    tk: usize,
}

pub struct AttentionTape {
    shape: Shape,
    /// The query projection's input (when it projects), the queries [n*tq, d].
    query_in: Option<Vec<f32>>,
    q: Vec<f32>,
    /// The context (the key and value projections' input) and [K | V] [n*tk, 2d].
    context: Vec<f32>,
    kv: Vec<f32>,
    /// Softmax weights [n, heads, tq, tk] before dropout, and the dropout's scales.
    probs: Vec<f32>,
    drop: Vec<f32>,
    /// The heads' outputs side by side [n*tq, d] (the output projection's input).
    heads_out: Vec<f32>,
}

impl Attention {
    fn d(&self) -> usize {
        self.out.dout
    }

    /// `query` [n*tq, d] attends to `context` [n*tk, d]; `bias` [n, tk] is
    /// added to the scores. Returns [n*tq, d].
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        p: &[f32],
        query: Vec<f32>,
        context: Vec<f32>,
        (n, tq, tk): (usize, usize, usize),
        bias: Option<&[f32]>,
        dropout: f64,
        rng: &mut MaskRng,
    ) -> (Vec<f32>, AttentionTape) {
        let d = self.d();
        let (h, dh) = (self.heads, d / self.heads);
        let scale = 1.0 / (dh as f32).sqrt();
        let (q, query_in) = match &self.q {
            Some(proj) => {
                let mut q = vec![0f32; n * tq * d];
                proj.forward(p, View::rows(&query, n * tq, d, d), &mut q, d);
                (q, Some(query))
            }
            None => (query, None),
        };
        let mut kv = vec![0f32; n * tk * 2 * d];
        self.k.forward(p, View::rows(&context, n * tk, d, d), &mut kv, 2 * d);
        self.v.forward(p, View::rows(&context, n * tk, d, d), &mut kv[d..], 2 * d);
        let mut probs = vec![0f32; n * h * tq * tk];
        let drop = rng.mask(probs.len(), dropout);
        let mut heads_out = vec![0f32; n * tq * d];
        for a in 0..n {
            for hh in 0..h {
                for i in 0..tq {
                    let qi = &q[(a * tq + i) * d + hh * dh..][..dh];
                    let at = ((a * h + hh) * tq + i) * tk;
                    let row = &mut probs[at..at + tk];
                    let mut max = f32::NEG_INFINITY;
                    for (j, s) in row.iter_mut().enumerate() {
                        let kj = &kv[(a * tk + j) * 2 * d + hh * dh..][..dh];
                        *s = dot(qi, kj) * scale + bias.map_or(0.0, |b| b[a * tk + j]);
                        max = max.max(*s);
                    }
                    let mut total = 0.0;
                    for s in row.iter_mut() {
                        *s = (*s - max).exp();
                        total += *s;
                    }
                    row.iter_mut().for_each(|s| *s /= total);
                    let o = &mut heads_out[(a * tq + i) * d + hh * dh..][..dh];
                    for (j, &pj) in row.iter().enumerate() {
                        let w = if drop.is_empty() { pj } else { pj * drop[at + j] };
                        axpy(o, w, &kv[(a * tk + j) * 2 * d + d + hh * dh..][..dh]);
                    }
                }
            }
        }
        let mut out = vec![0f32; n * tq * d];
        self.out.forward(p, View::rows(&heads_out, n * tq, d, d), &mut out, d);
        let tape = AttentionTape { shape: Shape { n, tq, tk }, query_in, q, context, kv, probs, drop, heads_out };
        (out, tape)
    }

    /// From the output's gradient, adds the weights' gradients to `g` and
    /// returns the gradients of the query [n*tq, d] and the context [n*tk, d].
    pub fn backward(&self, p: &[f32], g: &mut [f32], t: &AttentionTape, dout: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let d = self.d();
        let Shape { n, tq, tk } = t.shape;
        let (h, dh) = (self.heads, d / self.heads);
        let scale = 1.0 / (dh as f32).sqrt();
        let mut dheads = vec![0f32; n * tq * d];
        self.out.backward(
            p,
            g,
            View::rows(&t.heads_out, n * tq, d, d),
            View::rows(dout, n * tq, d, d),
            Some((&mut dheads, d)),
        );
        let mut dq = vec![0f32; n * tq * d];
        let mut dkv = vec![0f32; n * tk * 2 * d];
        let mut dp = vec![0f32; tk];
        for a in 0..n {
            for hh in 0..h {
                for i in 0..tq {
                    let at = ((a * h + hh) * tq + i) * tk;
                    let probs = &t.probs[at..at + tk];
                    let doi = &dheads[(a * tq + i) * d + hh * dh..][..dh];
                    let mut weighted = 0f32;
                    for j in 0..tk {
                        let keep = if t.drop.is_empty() { 1.0 } else { t.drop[at + j] };
                        let v_at = (a * tk + j) * 2 * d + d + hh * dh;
                        dp[j] = dot(doi, &t.kv[v_at..v_at + dh]) * keep;
                        axpy(&mut dkv[v_at..v_at + dh], probs[j] * keep, doi);
                        weighted += probs[j] * dp[j];
                    }
                    let qi = &t.q[(a * tq + i) * d + hh * dh..][..dh];
                    let dqi_at = (a * tq + i) * d + hh * dh;
                    for j in 0..tk {
                        let ds = probs[j] * (dp[j] - weighted) * scale;
                        if ds == 0.0 {
                            continue;
                        }
                        let k_at = (a * tk + j) * 2 * d + hh * dh;
                        axpy(&mut dq[dqi_at..dqi_at + dh], ds, &t.kv[k_at..k_at + dh]);
                        axpy(&mut dkv[k_at..k_at + dh], ds, qi);
                    }
                }
            }
        }
        let mut dcontext = vec![0f32; n * tk * d];
        let ctx = View::rows(&t.context, n * tk, d, d);
        self.k.backward(p, g, ctx, View::rows(&dkv, n * tk, d, 2 * d), Some((&mut dcontext, d)));
        self.v.backward(p, g, ctx, View::rows(&dkv[d..], n * tk, d, 2 * d), Some((&mut dcontext, d)));
        let dquery = match (&self.q, &t.query_in) {
            (Some(proj), Some(query)) => {
                let mut dquery = vec![0f32; n * tq * d];
                proj.backward(
                    p,
                    g,
                    View::rows(query, n * tq, d, d),
                    View::rows(&dq, n * tq, d, d),
                    Some((&mut dquery, d)),
                );
                dquery
            }
            _ => dq,
        };
        (dquery, dcontext)
    }
}

/// x + FFN(LN(x)): LayerNorm, Linear, ReLU, dropout, Linear, stochastic depth.
pub struct FfnResidual {
    pub norm: Norm,
    pub fc1: Dense,
    pub fc2: Dense,
}

pub struct FfnTape {
    norm: NormTape,
    normed: Vec<f32>,
    /// After ReLU and dropout: the second Linear's input.
    hidden: Vec<f32>,
    drop: Vec<f32>,
    path: Vec<f32>,
}

impl FfnResidual {
    /// `x` holds `n` architectures' rows; updated in place.
    pub fn forward(&self, p: &[f32], x: &mut [f32], n: usize, rates: Rates, rng: &mut MaskRng) -> FfnTape {
        let (d, dff) = (self.fc1.din, self.fc1.dout);
        let m = x.len() / d;
        let mut normed = Vec::new();
        let norm = self.norm.forward(p, x, &mut normed);
        let mut hidden = vec![0f32; m * dff];
        self.fc1.forward(p, View::rows(&normed, m, d, d), &mut hidden, dff);
        hidden.iter_mut().for_each(|v| *v = v.max(0.0));
        let drop = rng.mask(hidden.len(), rates.dropout);
        apply_mask(&mut hidden, &drop);
        let mut branch = vec![0f32; m * d];
        self.fc2.forward(p, View::rows(&hidden, m, dff, dff), &mut branch, d);
        let path = rng.mask(n, rates.drop_path);
        apply_sample_mask(&mut branch, &path);
        x.iter_mut().zip(&branch).for_each(|(x, b)| *x += b);
        FfnTape { norm, normed, hidden, drop, path }
    }

    /// `dx`: the output's gradient in, the input's out.
    pub fn backward(&self, p: &[f32], g: &mut [f32], t: &FfnTape, dx: &mut [f32]) {
        let (d, dff) = (self.fc1.din, self.fc1.dout);
        let m = dx.len() / d;
        let mut dbranch = dx.to_vec();
        apply_sample_mask(&mut dbranch, &t.path);
        let mut dhidden = vec![0f32; m * dff];
        self.fc2.backward(
            p,
            g,
            View::rows(&t.hidden, m, dff, dff),
            View::rows(&dbranch, m, d, d),
            Some((&mut dhidden, dff)),
        );
        // Through dropout and ReLU: a kept, positive unit passes its
        // gradient times its keep-scale; every other unit passes none.
        for (i, (dh, &h)) in dhidden.iter_mut().zip(&t.hidden).enumerate() {
            *dh = if h > 0.0 { if t.drop.is_empty() { *dh } else { *dh * t.drop[i] } } else { 0.0 };
        }
        let mut dnormed = vec![0f32; m * d];
        self.fc1.backward(
            p,
            g,
            View::rows(&t.normed, m, d, d),
            View::rows(&dhidden, m, dff, dff),
            Some((&mut dnormed, d)),
        );
        self.norm.backward(p, g, &t.norm, &dnormed, dx);
    }
}

/// Pre-norm self-attention block: x += MHA(LN(x)); x += FFN(LN(x)).
pub struct SelfBlock {
    pub norm: Norm,
    pub attn: Attention,
    pub ffn: FfnResidual,
    pub rates: Rates,
}

pub struct SelfTape {
    norm: NormTape,
    attn: AttentionTape,
    path: Vec<f32>,
    ffn: FfnTape,
}

impl SelfBlock {
    /// `x` holds `t` rows per architecture; updated in place.
    pub fn forward(&self, p: &[f32], x: &mut [f32], t: usize, bias: Option<&[f32]>, rng: &mut MaskRng) -> SelfTape {
        let d = self.norm.d;
        let n = x.len() / (t * d);
        let mut normed = Vec::new();
        let norm = self.norm.forward(p, x, &mut normed);
        let (mut branch, attn) = self.attn.forward(p, normed.clone(), normed, (n, t, t), bias, self.rates.dropout, rng);
        let path = rng.mask(n, self.rates.drop_path);
        apply_sample_mask(&mut branch, &path);
        x.iter_mut().zip(&branch).for_each(|(x, b)| *x += b);
        let ffn = self.ffn.forward(p, x, n, self.rates, rng);
        SelfTape { norm, attn, path, ffn }
    }

    /// `dx`: the output's gradient in, the input's out.
    pub fn backward(&self, p: &[f32], g: &mut [f32], t: &SelfTape, dx: &mut [f32]) {
        self.ffn.backward(p, g, &t.ffn, dx);
        let mut dbranch = dx.to_vec();
        apply_sample_mask(&mut dbranch, &t.path);
        let (dq, dctx) = self.attn.backward(p, g, &t.attn, &dbranch);
        let dnormed: Vec<f32> = dq.iter().zip(&dctx).map(|(a, b)| a + b).collect();
        self.norm.backward(p, g, &t.norm, &dnormed, dx);
    }
}

/// Attention from queries to a context without a residual, then
/// x + FFN(LN(x)); the query normalised first unless it is learnt.
pub struct CrossBlock {
    pub query_norm: Option<Norm>,
    pub context_norm: Norm,
    pub attn: Attention,
    pub ffn: FfnResidual,
    pub rates: Rates,
}

pub struct CrossTape {
    query_norm: Option<NormTape>,
    context_norm: NormTape,
    attn: AttentionTape,
    ffn: FfnTape,
}

impl CrossBlock {
    /// `query`: `tq` rows per architecture; `context`: `tk` rows. Returns [n*tq, d].
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        p: &[f32],
        query: Vec<f32>,
        tq: usize,
        context: &[f32],
        tk: usize,
        bias: Option<&[f32]>,
        rng: &mut MaskRng,
    ) -> (Vec<f32>, CrossTape) {
        let d = self.context_norm.d;
        let n = query.len() / (tq * d);
        let (query, query_norm) = match &self.query_norm {
            Some(norm) => {
                let mut normed = Vec::new();
                let tape = norm.forward(p, &query, &mut normed);
                (normed, Some(tape))
            }
            None => (query, None),
        };
        let mut ctx = Vec::new();
        let context_norm = self.context_norm.forward(p, context, &mut ctx);
        let (mut x, attn) = self.attn.forward(p, query, ctx, (n, tq, tk), bias, self.rates.dropout, rng);
        let ffn = self.ffn.forward(p, &mut x, n, self.rates, rng);
        (x, CrossTape { query_norm, context_norm, attn, ffn })
    }

    /// From the output's gradient `dx` (consumed), the gradients of the
    /// query and of the context.
    pub fn backward(&self, p: &[f32], g: &mut [f32], t: &CrossTape, mut dx: Vec<f32>) -> (Vec<f32>, Vec<f32>) {
        self.ffn.backward(p, g, &t.ffn, &mut dx);
        let (dq, dctx) = self.attn.backward(p, g, &t.attn, &dx);
        let mut dcontext = vec![0f32; dctx.len()];
        self.context_norm.backward(p, g, &t.context_norm, &dctx, &mut dcontext);
        let dquery = match (&self.query_norm, &t.query_norm) {
            (Some(norm), Some(tape)) => {
                let mut dquery = vec![0f32; dq.len()];
                norm.backward(p, g, tape, &dq, &mut dquery);
                dquery
            }
            _ => dq,
        };
        (dquery, dcontext)
    }
}
