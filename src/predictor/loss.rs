//! NAR-Former's training loss: MSE + lambda_sr * SR + lambda_ac * AC.
//!
//! - MSE: mean squared error of predictions against labels.
//! - SR (sequence ranking): L1 between (p - p[I]) and (y - y[I]) for a random
//!   permutation I of the batch.
//! - AC (architecture consistency): L1 between the prediction for an
//!   architecture and for its augmented twin.

use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Int, Tensor};

/// Weights of the ranking and consistency terms.
#[derive(Clone, Copy, Debug)]
pub struct LossWeights {
    pub sr: f64,
    pub ac: f64,
}

/// The loss and its parts (as scalars, for logging).
pub struct Loss<B: Backend> {
    pub total: Tensor<B, 1>,
    pub mse: f64,
    pub sr: f64,
    pub ac: f64,
}

/// Indices into the batch that `loss` needs, built on the host.
pub struct LossIndices<B: Backend> {
    /// A random permutation of all rows (for SR).
    pub perm: Tensor<B, 1, Int>,
    /// For the twin rows at the end of the batch, the row of their original.
    pub twin_src: Option<Tensor<B, 1, Int>>,
}

/// `pred` and `label` hold all rows of the batch: the originals first, then
/// the twins (`twin_src` says whose twin each one is).
pub fn loss<B: Backend>(pred: Tensor<B, 1>, label: Tensor<B, 1>, idx: LossIndices<B>, w: LossWeights) -> Loss<B> {
    let n = pred.dims()[0];
    let diff = pred.clone() - label.clone();
    let mse = diff.clone().powi_scalar(2).mean();
    let pred_gap = pred.clone() - pred.clone().select(0, idx.perm.clone());
    let label_gap = label.clone() - label.select(0, idx.perm);
    let sr = (pred_gap - label_gap).abs().mean();
    let mut total = mse.clone() + sr.clone().mul_scalar(w.sr);
    let mut ac_value = 0.0;
    if let Some(src) = idx.twin_src {
        let m = src.dims()[0];
        let twins = pred.clone().narrow(0, n - m, m);
        let originals = pred.select(0, src);
        let ac = (twins - originals).abs().mean();
        ac_value = scalar(&ac);
        total = total + ac.mul_scalar(w.ac);
    }
    Loss { mse: scalar(&mse), sr: scalar(&sr), ac: ac_value, total }
}

fn scalar<B: Backend>(t: &Tensor<B, 1>) -> f64 {
    t.clone().into_scalar().elem::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use burn::tensor::TensorData;

    type B = NdArray<f32>;

    fn t(v: &[f32]) -> Tensor<B, 1> {
        Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), &Default::default())
    }
    fn ti(v: &[i64]) -> Tensor<B, 1, Int> {
        Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), &Default::default())
    }

    #[test]
    fn parts_by_hand() {
        // rows: two originals, one twin (of row 0)
        let pred = t(&[0.5, 0.7, 0.6]);
        let label = t(&[0.4, 0.9, 0.4]);
        let idx = LossIndices { perm: ti(&[1, 2, 0]), twin_src: Some(ti(&[0])) };
        let l = loss(pred, label, idx, LossWeights { sr: 0.1, ac: 0.5 });
        let mse = (0.01 + 0.04 + 0.04) / 3.0;
        // p - p[I] = (-0.2, 0.1, 0.1); y - y[I] = (-0.5, 0.5, 0.0); |diff| = (0.3, 0.4, 0.1)
        let sr = 0.8 / 3.0;
        let ac = 0.1;
        assert!((l.mse - mse).abs() < 1e-6);
        assert!((l.sr - sr).abs() < 1e-6);
        assert!((l.ac - ac).abs() < 1e-6);
        let total: f64 = l.total.into_scalar().elem();
        assert!((total - (mse + 0.1 * sr + 0.5 * ac)).abs() < 1e-6);
    }
}
