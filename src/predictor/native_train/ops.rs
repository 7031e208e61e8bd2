//! The numeric pieces of native training, forward and backward: matrix
//! products ([`crate::matmul`]: any strides, so a column block of a wider
//! array is read and written in place), Linear layers, LayerNorm, and the
//! random masks of dropout. (Native inference, `super::super::native`,
//! shares the products, the constants and the head's read-out.)

/// burn's `LayerNormConfig` default, which every norm of the model uses.
pub const LAYER_NORM_EPS: f32 = 1e-5;
/// Added to the attention scores of padded keys, as the model does.
pub const MASKED: f32 = -1e9;

pub use crate::matmul::{View, matmul};

/// Where a Linear layer's weight [din, dout] (row-major) and bias [dout]
/// sit in the flat parameter array.
#[derive(Clone, Copy, Debug)]
pub struct Dense {
    pub w: usize,
    pub b: usize,
    pub din: usize,
    pub dout: usize,
}

impl Dense {
    /// `out` (rows `out_rs` apart, from column 0) = x [m, din] @ w + b.
    pub fn forward(&self, p: &[f32], x: View, out: &mut [f32], out_rs: usize) {
        let bias = &p[self.b..self.b + self.dout];
        for i in 0..x.rows {
            out[i * out_rs..i * out_rs + self.dout].copy_from_slice(bias);
        }
        matmul(x, self.weight(p), out, out_rs, true);
    }

    fn weight<'a>(&self, p: &'a [f32]) -> View<'a> {
        View::rows(&p[self.w..self.w + self.din * self.dout], self.din, self.dout, self.dout)
    }

    /// Gradients of the weight and bias from the input `x` and the output's
    /// gradient `dy` [m, dout]; and, when `dx` is given, the input's gradient
    /// added to it (rows `dx_rs` apart).
    pub fn backward(&self, p: &[f32], g: &mut [f32], x: View, dy: View, dx: Option<(&mut [f32], usize)>) {
        matmul(x.t(), dy, &mut g[self.w..self.w + self.din * self.dout], self.dout, true);
        let gb = &mut g[self.b..self.b + self.dout];
        for i in 0..dy.rows {
            for (j, gb) in gb.iter_mut().enumerate() {
                *gb += dy.data[i * dy.rs + j * dy.cs];
            }
        }
        if let Some((dx, dx_rs)) = dx {
            matmul(dy, self.weight(p).t(), dx, dx_rs, true);
        }
    }
}

/// Where a LayerNorm's scale and shift [d] sit in the flat parameters.
#[derive(Clone, Copy, Debug)]
pub struct Norm {
    pub g: usize,
    pub b: usize,
    pub d: usize,
}

/// What a LayerNorm's backward needs: the normalised input and each row's
/// 1 / std.
#[derive(Default)]
pub struct NormTape {
    pub xhat: Vec<f32>,
    pub rstd: Vec<f32>,
}

impl Norm {
    /// Normalises the rows of `x` [m, d] into `out`.
    pub fn forward(&self, p: &[f32], x: &[f32], out: &mut Vec<f32>) -> NormTape {
        let d = self.d;
        let (gamma, beta) = (&p[self.g..self.g + d], &p[self.b..self.b + d]);
        let m = x.len() / d;
        let mut tape = NormTape { xhat: vec![0.0; x.len()], rstd: Vec::with_capacity(m) };
        out.clear();
        out.resize(x.len(), 0.0);
        for ((row, xh), o) in x.chunks_exact(d).zip(tape.xhat.chunks_exact_mut(d)).zip(out.chunks_exact_mut(d)) {
            let mean = row.iter().sum::<f32>() / d as f32;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
            let rstd = 1.0 / (var + LAYER_NORM_EPS).sqrt();
            for i in 0..d {
                xh[i] = (row[i] - mean) * rstd;
                o[i] = xh[i] * gamma[i] + beta[i];
            }
            tape.rstd.push(rstd);
        }
        tape
    }

    /// Adds the input's gradient to `dx` and the scale's and shift's to `g`.
    pub fn backward(&self, p: &[f32], g: &mut [f32], tape: &NormTape, dy: &[f32], dx: &mut [f32]) {
        let d = self.d;
        let gamma = &p[self.g..self.g + d];
        let mut dxhat = vec![0f32; d];
        for (r, ((dyr, xh), dxr)) in
            dy.chunks_exact(d).zip(tape.xhat.chunks_exact(d)).zip(dx.chunks_exact_mut(d)).enumerate()
        {
            let (mut mean_d, mut mean_dx) = (0f32, 0f32);
            for i in 0..d {
                g[self.g + i] += dyr[i] * xh[i];
                g[self.b + i] += dyr[i];
                dxhat[i] = dyr[i] * gamma[i];
                mean_d += dxhat[i];
                mean_dx += dxhat[i] * xh[i];
            }
            mean_d /= d as f32;
            mean_dx /= d as f32;
            let rstd = tape.rstd[r];
            for i in 0..d {
                dxr[i] += rstd * (dxhat[i] - mean_d - xh[i] * mean_dx);
            }
        }
    }
}

/// A small, fast generator (xoshiro128++) for dropout masks: a mask is
/// millions of draws a step, and each chunk of a batch gets its own
/// generator seeded from the epoch's stream, so masks do not depend on the
/// thread count.
pub struct MaskRng([u32; 4]);

impl MaskRng {
    pub fn new(seed: u64) -> Self {
        // splitmix64 to spread the seed over the state (never all zero).
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^ (x >> 31)
        };
        let (a, b) = (next(), next());
        Self([a as u32, (a >> 32) as u32 | 1, b as u32, (b >> 32) as u32])
    }

    fn next(&mut self) -> u32 {
        let s = &mut self.0;
        let result = s[0].wrapping_add(s[3]).rotate_left(7).wrapping_add(s[0]);
        let t = s[1] << 9;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(11);
        result
    }

    /// `n` keep-scales: 1 / keep with probability `keep`, else 0 (an empty
    /// mask when nothing is dropped).
    pub fn mask(&mut self, n: usize, rate: f64) -> Vec<f32> {
        if rate <= 0.0 {
            return Vec::new();
        }
        let keep = 1.0 - rate;
        let threshold = (keep * 4_294_967_296.0) as u64;
        let scale = (1.0 / keep) as f32;
        (0..n).map(|_| if (self.next() as u64) < threshold { scale } else { 0.0 }).collect()
    }
}

/// Multiplies `x` by `mask` element-wise (nothing for an empty mask).
pub fn apply_mask(x: &mut [f32], mask: &[f32]) {
    if !mask.is_empty() {
        x.iter_mut().zip(mask).for_each(|(v, m)| *v *= m);
    }
}

/// Multiplies each of the `rows.len()` row groups of `x` by its sample's
/// drop-path scale (`per_sample` [n], `x` [n, group]).
pub fn apply_sample_mask(x: &mut [f32], per_sample: &[f32]) {
    if per_sample.is_empty() {
        return;
    }
    let group = x.len() / per_sample.len();
    for (chunk, m) in x.chunks_exact_mut(group).zip(per_sample) {
        chunk.iter_mut().for_each(|v| *v *= m);
    }
}

/// Dot product in eight lanes (a plain iterator sum stays scalar: float
/// addition is not reassociated).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// `acc += s * x`.
pub fn axpy(acc: &mut [f32], s: f32, x: &[f32]) {
    acc.iter_mut().zip(x).for_each(|(a, x)| *a += s * x);
}

/// The last of each architecture's `t` rows of `x` [n*t, d]: the token the
/// model's head reads.
pub fn last_tokens(x: &[f32], n: usize, t: usize, d: usize) -> Vec<f32> {
    (0..n).flat_map(|a| x[((a + 1) * t - 1) * d..(a + 1) * t * d].iter().copied()).collect()
}

pub fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}
