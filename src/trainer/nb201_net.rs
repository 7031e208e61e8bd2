//! The NAS-Bench-201 network as burn modules, built from
//! [`crate::net::nb201::Nb201Net`] (the description the cost model counts).

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand::rngs::StdRng;

use super::darts_net::flatten;
use super::layers::LayerStack;
use crate::net::nb201::{EdgeOp, Nb201Block, Nb201Net};
use crate::space::nb201::genotype::{EDGE_FROM, EDGE_TO};

/// One edge: `None` for `none` (it contributes nothing), an empty stack for
/// the identity.
#[derive(Module, Debug)]
pub struct EdgeModule<B: Backend> {
    op: Option<LayerStack<B>>,
}

/// One block of the body.
#[derive(Module, Debug)]
pub struct BlockModule<B: Backend> {
    /// A cell's edges (empty for a residual block).
    edges: Vec<EdgeModule<B>>,
    /// A residual block's two branches and shortcut.
    residual: Option<(LayerStack<B>, LayerStack<B>, LayerStack<B>)>,
}

impl<B: Backend> BlockModule<B> {
    fn new(block: &Nb201Block, rng: &mut StdRng, device: &B::Device) -> Self {
        match block {
            Nb201Block::Cell(ops) => Self {
                edges: ops
                    .iter()
                    .map(|op| EdgeModule {
                        op: match op {
                            EdgeOp::Zero => None,
                            EdgeOp::Identity => Some(LayerStack { layers: Vec::new() }),
                            EdgeOp::Seq(s) => Some(LayerStack::new(s, rng, device)),
                        },
                    })
                    .collect(),
                residual: None,
            },
            Nb201Block::Residual { a, b, shortcut } => Self {
                edges: Vec::new(),
                residual: Some((
                    LayerStack::new(a, rng, device),
                    LayerStack::new(b, rng, device),
                    LayerStack::new(shortcut, rng, device),
                )),
            },
        }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        if let Some((a, b, shortcut)) = &self.residual {
            return b.forward(a.forward(x.clone())) + shortcut.forward(x);
        }
        // node j = sum of op(node i) over the edges into it; a node that
        // only `none` edges reach is zero (its shape is the input's)
        let mut nodes: Vec<Option<Tensor<B, 4>>> = vec![Some(x.clone()), None, None, None];
        for (e, edge) in self.edges.iter().enumerate() {
            let Some(op) = &edge.op else { continue };
            let input = nodes[EDGE_FROM[e]].clone().unwrap_or_else(|| x.zeros_like());
            let out = op.forward(input);
            let to = &mut nodes[EDGE_TO[e]];
            *to = Some(match to.take() {
                Some(sum) => sum + out,
                None => out,
            });
        }
        nodes[3].take().unwrap_or_else(|| x.zeros_like())
    }
}

/// The whole network.
#[derive(Module, Debug)]
pub struct Nb201Network<B: Backend> {
    stem: LayerStack<B>,
    blocks: Vec<BlockModule<B>>,
    head: LayerStack<B>,
}

impl<B: Backend> Nb201Network<B> {
    pub fn new(net: &Nb201Net, rng: &mut StdRng, device: &B::Device) -> Self {
        Self {
            stem: LayerStack::new(&net.stem, rng, device),
            blocks: net.blocks.iter().map(|b| BlockModule::new(b, rng, device)).collect(),
            head: LayerStack::new(&net.head, rng, device),
        }
    }

    /// Logits `[batch, classes]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let h = self.blocks.iter().fold(self.stem.forward(x), |h, b| b.forward(h));
        flatten(self.head.forward(h))
    }
}
