//! The optimizer's arithmetic on the flat arrays, as burn's path does it:
//! burn's Adam moments and bias correction (`AdamWConfig`, no decay inside),
//! then the decoupled weight decay on weight matrices only
//! ([`crate::predictor::optim::decay_weights`]), then the moving average.
//! Also the sum of the gradient lanes. Element-wise, so threads split the
//! arrays without changing a result.

use rayon::prelude::*;

const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
/// Values per parallel piece.
const PIECE: usize = 1 << 16;

/// One step at `time` (1 for the first): moments updated, parameters moved
/// by `lr`, then those with `decays` multiplied by 1 - lr * weight_decay.
#[allow(clippy::too_many_arguments)]
pub fn step(
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    decays: &[bool],
    time: usize,
    lr: f64,
    weight_decay: f64,
    eps: f64,
) {
    let c1 = 1.0 - BETA_1.powi(time as i32);
    let c2 = 1.0 - BETA_2.powi(time as i32);
    let (lr32, eps) = (lr as f32, eps as f32);
    let factor = (1.0 - lr * weight_decay) as f32;
    p.par_chunks_mut(PIECE)
        .zip(g.par_chunks(PIECE))
        .zip(m.par_chunks_mut(PIECE))
        .zip(v.par_chunks_mut(PIECE))
        .zip(decays.par_chunks(PIECE))
        .for_each(|((((p, g), m), v), decays)| {
            for i in 0..p.len() {
                m[i] = m[i] * BETA_1 + g[i] * (1.0 - BETA_1);
                v[i] = v[i] * BETA_2 + g[i] * g[i] * (1.0 - BETA_2);
                let delta = (m[i] / c1) / ((v[i] / c2).sqrt() + eps);
                p[i] -= delta * lr32;
                if weight_decay > 0.0 && decays[i] {
                    p[i] *= factor;
                }
            }
        });
}

/// ema <- decay * ema + (1 - decay) * current.
pub fn ema_update(ema: &mut [f32], current: &[f32], decay: f64) {
    let (keep, take) = (decay as f32, (1.0 - decay) as f32);
    ema.par_chunks_mut(PIECE).zip(current.par_chunks(PIECE)).for_each(|(e, c)| {
        e.iter_mut().zip(c).for_each(|(e, c)| *e = *e * keep + c * take);
    });
}

/// Adds each of `parts` into `out`, element by element in the parts' order.
pub fn add_in_order(out: &mut [f32], parts: &[Vec<f32>]) {
    out.par_chunks_mut(PIECE).enumerate().for_each(|(i, out)| {
        for part in parts {
            let part = &part[i * PIECE..i * PIECE + out.len()];
            out.iter_mut().zip(part).for_each(|(o, v)| *o += v);
        }
    });
}

/// The L2 norm of all gradients together.
pub fn global_norm(g: &[f32]) -> f64 {
    g.par_chunks(PIECE)
        .map(|c| c.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>())
        .collect::<Vec<_>>()
        .iter()
        .sum::<f64>()
        .sqrt()
}

/// Scales every gradient by max_norm / norm when norm is above max_norm.
pub fn clip(g: &mut [f32], norm: f64, max_norm: f64) {
    if norm > max_norm {
        let s = (max_norm / norm) as f32;
        g.par_chunks_mut(PIECE).for_each(|c| c.iter_mut().for_each(|v| *v *= s));
    }
}
