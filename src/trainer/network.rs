//! Which network a genotype trains as: the description ([`NetSpec`], from
//! the space's layer descriptions and the budget's size overrides) and the
//! burn module built from it ([`Network`]).

use anyhow::{Result, bail};
use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use rand::rngs::StdRng;

use super::budget::TrainBudget;
use super::darts_net::{DartsNetwork, DropPath};
use super::mobilenet_net::MobileNetNetwork;
use crate::net::Cost;
use crate::net::darts::{self as darts_net, DartsNet};
use crate::net::mobilenet::{self as mb_net, MobileNet};
use crate::space::darts::DartsSpace;
use crate::space::mobilenet::MobileNetSpace;
use crate::space::{SearchSpace, SpaceConfig};

/// A network description the trainer can build.
#[derive(Clone, Debug, PartialEq)]
pub enum NetSpec {
    Darts(DartsNet),
    MobileNet(MobileNet),
}

impl NetSpec {
    /// The network of `genotype` (text form) in `space`, sized by `budget`,
    /// with `classes` outputs.
    pub fn from_genotype(space: &SpaceConfig, genotype: &str, budget: &TrainBudget, classes: usize) -> Result<Self> {
        Ok(match space {
            SpaceConfig::Darts(c) => {
                let g = DartsSpace::new(c.clone())?.parse(genotype)?;
                let mut net = c.network.clone();
                net.channels = budget.channels.unwrap_or(net.channels);
                net.cells = budget.cells.unwrap_or(net.cells);
                net.auxiliary = budget.auxiliary_weight > 0.0;
                net.input_size = budget.resolution.unwrap_or(net.input_size);
                net.classes = classes;
                Self::Darts(darts_net::build(&g, &net))
            }
            SpaceConfig::Mobilenetv3(c) => {
                let arch = MobileNetSpace::new(c.clone())?.parse(genotype)?;
                let mut net = c.network.clone();
                net.width_mult = budget.width_mult.unwrap_or(net.width_mult);
                net.classes = classes;
                Self::MobileNet(mb_net::build(&arch.stages(), budget.resolution.unwrap_or(arch.r), &net))
            }
            SpaceConfig::Nb201(_) => {
                bail!(
                    "the builtin evaluator trains DARTS and MobileNetV3 networks; use `kind: tabular` for NAS-Bench-201"
                )
            }
        })
    }

    /// Input resolution.
    pub fn input_size(&self) -> usize {
        match self {
            Self::Darts(n) => n.input_size,
            Self::MobileNet(n) => n.resolution,
        }
    }

    /// Parameters and MACs, as the cost model counts them.
    pub fn cost(&self) -> Cost {
        match self {
            Self::Darts(n) => n.cost(),
            Self::MobileNet(n) => n.cost(),
        }
    }

    /// A DARTS network of `channels` and `cells` for `genotype` (benchmarks, tests).
    pub fn darts(g: &crate::space::darts_genotype::DartsGenotype, channels: usize, cells: usize) -> Self {
        let cfg = darts_net::DartsNetConfig { channels, cells, ..Default::default() };
        Self::Darts(darts_net::build(g, &cfg))
    }
}

/// A built network: exactly one of the two is present.
#[derive(Module, Debug)]
pub struct Network<B: Backend> {
    darts: Option<DartsNetwork<B>>,
    mobilenet: Option<MobileNetNetwork<B>>,
}

impl<B: Backend> Network<B> {
    /// Builds the network with weights drawn from `rng`.
    pub fn new(spec: &NetSpec, rng: &mut StdRng, device: &B::Device) -> Self {
        match spec {
            NetSpec::Darts(n) => Self { darts: Some(DartsNetwork::new(n, rng, device)), mobilenet: None },
            NetSpec::MobileNet(n) => Self { darts: None, mobilenet: Some(MobileNetNetwork::new(n, rng, device)) },
        }
    }

    /// Logits, and auxiliary logits when asked for and the network has a head.
    pub fn forward(
        &self,
        x: Tensor<B, 4>,
        drop: Option<&DropPath>,
        with_aux: bool,
    ) -> (Tensor<B, 2>, Option<Tensor<B, 2>>) {
        match (&self.darts, &self.mobilenet) {
            (Some(n), _) => n.forward(x, drop, with_aux),
            (None, Some(n)) => (n.forward(x), None),
            (None, None) => unreachable!("a network is built from a spec"),
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
