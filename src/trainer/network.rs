//! The burn module built from a network description ([`NetSpec`], which the
//! space hands out with the budget's overrides applied).

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use rand::rngs::StdRng;

use super::darts_net::{DartsNetwork, DropPath};
use super::mobilenet_net::MobileNetNetwork;
use super::nb201_net::Nb201Network;
use crate::net::NetSpec;

/// A built network, one variant per [`NetSpec`] variant.
#[derive(Module, Debug)]
pub enum Network<B: Backend> {
    Darts(DartsNetwork<B>),
    MobileNet(MobileNetNetwork<B>),
    Nb201(Nb201Network<B>),
}

impl<B: Backend> Network<B> {
    /// Builds the network with weights drawn from `rng`.
    pub fn new(spec: &NetSpec, rng: &mut StdRng, device: &B::Device) -> Self {
        match spec {
            NetSpec::Darts(n) => Self::Darts(DartsNetwork::new(n, rng, device)),
            NetSpec::MobileNet(n) => Self::MobileNet(MobileNetNetwork::new(n, rng, device)),
            NetSpec::Nb201(n) => Self::Nb201(Nb201Network::new(n, rng, device)),
        }
    }

    /// Logits, and auxiliary logits when asked for and the network has a head.
    pub fn forward(
        &self,
        x: Tensor<B, 4>,
        drop: Option<&DropPath>,
        with_aux: bool,
    ) -> (Tensor<B, 2>, Option<Tensor<B, 2>>) {
        match self {
            Self::Darts(n) => n.forward(x, drop, with_aux),
            Self::MobileNet(n) => (n.forward(x), None),
            Self::Nb201(n) => (n.forward(x), None),
        }
    }
}

/// Counts the trainable parameters: burn's `num_params` also counts
/// BatchNorm's running statistics, which are not trained.
struct TrainableCount(usize);

impl<B: Backend> burn::module::ModuleVisitor<B> for TrainableCount {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D>>) {
        if param.is_require_grad() {
            self.0 += param.shape().num_elements();
        }
    }
}

impl<B: burn::tensor::backend::AutodiffBackend> Network<B> {
    /// Trainable parameters (what the cost model counts).
    pub fn trainable_params(&self) -> usize {
        let mut count = TrainableCount(0);
        self.visit(&mut count);
        count.0
    }
}
