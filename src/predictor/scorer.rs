//! How a trained predictor scores architectures: a NAR-Former on a CPU
//! backend through [`native`](super::native) (several times faster than
//! burn's ops there), anything else through the model's `forward` in batches.

use burn::tensor::backend::Backend;

use super::Predictor;
use super::dataset::EncodedSet;
use super::native::NativeNarFormer;
use crate::backend::native_predictor;

/// Architectures per `forward` call on the burn path.
const BATCH: usize = 1024;

/// A model ready to score many batches (the native weights copied once).
pub enum Scorer<'a, B: Backend> {
    Native(Box<NativeNarFormer>),
    Burn(&'a Predictor<B>, &'a B::Device),
}

impl<'a, B: Backend> Scorer<'a, B> {
    pub fn new(model: &'a Predictor<B>, device: &'a B::Device) -> Self {
        match model {
            Predictor::NarFormer(m) if native_predictor::<B>() => Self::Native(Box::new(NativeNarFormer::new(m))),
            _ => Self::Burn(model, device),
        }
    }

    /// Scores of `rows` of `set`, in (0, 1).
    pub fn predict(&self, set: &EncodedSet, rows: &[usize]) -> Vec<f32> {
        match self {
            Self::Native(m) => m.predict(set, rows),
            Self::Burn(model, device) => {
                let mut out = Vec::with_capacity(rows.len());
                for chunk in rows.chunks(BATCH) {
                    let p = model.forward(&set.batch::<B>(chunk, device));
                    out.extend(p.into_data().to_vec::<f32>().expect("predictions are f32"));
                }
                out
            }
        }
    }
}

/// Scores `rows` of `set` with `model` (see [`Scorer`]).
pub fn predict<B: Backend>(model: &Predictor<B>, set: &EncodedSet, rows: &[usize], device: &B::Device) -> Vec<f32> {
    Scorer::new(model, device).predict(set, rows)
}
