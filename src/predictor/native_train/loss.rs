//! NAR-Former's loss on plain arrays (the same three terms as
//! [`crate::predictor::loss`]) and its gradient with respect to each score.

use crate::predictor::loss::LossWeights;

/// The loss's parts and its gradient with respect to every row's score.
pub struct LossGrad {
    pub total: f64,
    pub mse: f64,
    pub sr: f64,
    pub ac: f64,
    pub dpred: Vec<f32>,
}

/// `pred` and `label` hold the originals then the twins; `perm` is the SR
/// permutation of all rows, `twin_src[k]` the original of twin row
/// `n - twin_src.len() + k`. The sign of |x| at 0 is 0, as burn's `abs`.
pub fn loss(pred: &[f32], label: &[f32], perm: &[usize], twin_src: &[usize], w: LossWeights) -> LossGrad {
    let n = pred.len();
    let nf = n as f32;
    let mut dpred = vec![0f32; n];
    let mut mse = 0f64;
    for i in 0..n {
        let diff = pred[i] - label[i];
        mse += (diff * diff) as f64;
        dpred[i] += 2.0 * diff / nf;
    }
    let mut sr = 0f64;
    let w_sr = w.sr as f32;
    for (i, &j) in perm.iter().enumerate() {
        let gap = (pred[i] - pred[j]) - (label[i] - label[j]);
        sr += gap.abs() as f64;
        let s = sign(gap) * w_sr / nf;
        dpred[i] += s;
        dpred[j] -= s;
    }
    let m = twin_src.len();
    let mut ac = 0f64;
    let w_ac = w.ac as f32;
    for (k, &src) in twin_src.iter().enumerate() {
        let gap = pred[n - m + k] - pred[src];
        ac += gap.abs() as f64;
        let s = sign(gap) * w_ac / m as f32;
        dpred[n - m + k] += s;
        dpred[src] -= s;
    }
    let (mse, sr) = (mse / n as f64, sr / n as f64);
    let ac = if m > 0 { ac / m as f64 } else { 0.0 };
    LossGrad { total: mse + w.sr * sr + w.ac * ac, mse, sr, ac, dpred }
}

fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}
