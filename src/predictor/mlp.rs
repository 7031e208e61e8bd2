//! MLP baseline predictor on a flat one-hot encoding, the kind of accuracy
//! predictor Once-for-All uses: hidden ReLU layers, then Linear + sigmoid.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::Tensor;
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use super::FeatureBatch;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpConfig {
    /// Widths of the hidden layers (Once-for-All: three of 400).
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
}

fn default_hidden() -> Vec<usize> {
    vec![400, 400, 400]
}

impl Default for MlpConfig {
    fn default() -> Self {
        Self { hidden: default_hidden() }
    }
}

impl MlpConfig {
    pub fn init<B: Backend>(&self, input: usize, device: &B::Device) -> Mlp<B> {
        let mut layers = Vec::new();
        let mut width = input;
        for &h in &self.hidden {
            layers.push(LinearConfig::new(width, h).init(device));
            width = h;
        }
        Mlp { layers, head: LinearConfig::new(width, 1).init(device) }
    }
}

#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    layers: Vec<Linear<B>>,
    head: Linear<B>,
}

impl<B: Backend> Mlp<B> {
    /// Scores a batch whose tokens are [b, 1, width] flat encodings.
    pub fn forward(&self, batch: &FeatureBatch<B>) -> Tensor<B, 1> {
        let [b, t, d] = batch.tokens.dims();
        let mut x = batch.tokens.clone().reshape([b, t * d]);
        for layer in &self.layers {
            x = relu(layer.forward(x));
        }
        sigmoid(self.head.forward(x)).reshape([b])
    }
}
