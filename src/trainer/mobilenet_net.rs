//! The Once-for-All MobileNetV3 subnet as burn modules, built from
//! [`crate::net::mobilenet::MobileNet`] (the description the cost model counts).

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use rand::rngs::StdRng;

use super::darts_net::flatten;
use super::layers::LayerStack;
use crate::net::mobilenet::{MbBlock, MobileNet};

/// One inverted-residual block.
#[derive(Module, Debug)]
pub struct MbBlockModule<B: Backend> {
    expand: Option<LayerStack<B>>,
    depthwise: LayerStack<B>,
    se: Option<LayerStack<B>>,
    project: LayerStack<B>,
    residual: bool,
}

impl<B: Backend> MbBlockModule<B> {
    fn new(b: &MbBlock, rng: &mut StdRng, device: &B::Device) -> Self {
        Self {
            expand: b.expand.as_ref().map(|s| LayerStack::new(s, rng, device)),
            depthwise: LayerStack::new(&b.depthwise, rng, device),
            se: b.se.as_ref().map(|s| LayerStack::new(s, rng, device)),
            project: LayerStack::new(&b.project, rng, device),
            residual: b.residual,
        }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut y = match &self.expand {
            Some(e) => e.forward(x.clone()),
            None => x.clone(),
        };
        y = self.depthwise.forward(y);
        if let Some(se) = &self.se {
            // The squeeze-excite gate is [batch, channels, 1, 1]; broadcast it.
            let gate = se.forward(y.clone());
            y = y * gate;
        }
        y = self.project.forward(y);
        if self.residual { y + x } else { y }
    }
}

/// The whole subnet.
#[derive(Module, Debug)]
pub struct MobileNetNetwork<B: Backend> {
    stem: LayerStack<B>,
    blocks: Vec<MbBlockModule<B>>,
    final_expand: LayerStack<B>,
    head: LayerStack<B>,
}

impl<B: Backend> MobileNetNetwork<B> {
    pub fn new(net: &MobileNet, rng: &mut StdRng, device: &B::Device) -> Self {
        Self {
            stem: LayerStack::new(&net.stem, rng, device),
            blocks: net.blocks.iter().map(|b| MbBlockModule::new(b, rng, device)).collect(),
            final_expand: LayerStack::new(&net.final_expand, rng, device),
            head: LayerStack::new(&net.head, rng, device),
        }
    }

    /// Logits `[batch, classes]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let mut h = self.stem.forward(x);
        for b in &self.blocks {
            h = b.forward(h);
        }
        flatten(self.head.forward(self.final_expand.forward(h)))
    }
}
