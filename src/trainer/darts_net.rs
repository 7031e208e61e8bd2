//! The DARTS evaluation network as burn modules, built from
//! [`crate::net::darts::DartsNet`] (the description the cost model counts).

use burn::module::Module;
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::tensor::backend::Backend;
use std::cell::RefCell;

use burn::tensor::{Tensor, TensorData};
use rand::{Rng, SeedableRng};

use rand::rngs::StdRng;

use super::kernels::{Activation, activation, batch_norm};
use super::layers::{LayerStack, MatConv};
use crate::net::darts::{CellLayers, DartsNet, OpLayers};

/// ReLU, two 1x1 stride-2 convolutions on the input and on it shifted by
/// one pixel, concatenated, BN.
#[derive(Module, Debug)]
pub struct FactorizedReduce<B: Backend> {
    conv_a: MatConv<B>,
    conv_b: MatConv<B>,
    bn: BatchNorm<B>,
}

impl<B: Backend> FactorizedReduce<B> {
    fn new(cin: usize, cout: usize, rng: &mut StdRng, device: &B::Device) -> Self {
        let conv_a = MatConv::new(cin, cout / 2, 1, 2, 0, 1, false, rng, device);
        let conv_b = MatConv::new(cin, cout / 2, 1, 2, 0, 1, false, rng, device);
        Self { conv_a, conv_b, bn: BatchNormConfig::new(cout).init(device) }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = activation(x, Activation::Relu);
        let [b, c, h, w] = x.dims();
        let a = self.conv_a.forward(x.clone());
        let shifted = x.slice([0..b, 0..c, 1.min(h - 1)..h, 1.min(w - 1)..w]);
        let mut s = self.conv_b.forward(shifted);
        let [_, _, ha, wa] = a.dims();
        let [_, _, hs, ws] = s.dims();
        if (hs, ws) != (ha, wa) {
            // Odd input sizes: the shifted half is one pixel smaller; pad it.
            s = s.pad((0, wa - ws, 0, ha - hs), burn::tensor::ops::PadMode::Constant(0.0));
        }
        batch_norm(&self.bn, Tensor::cat(vec![a, s], 1), Activation::Identity)
    }
}

/// What one edge (or a cell's input preprocessing) computes: layers in
/// sequence (none for the identity), or a factorized reduce.
#[derive(Module, Debug)]
pub struct OpModule<B: Backend> {
    stack: LayerStack<B>,
    reduce: Option<FactorizedReduce<B>>,
}

impl<B: Backend> OpModule<B> {
    pub fn new(op: &OpLayers, rng: &mut StdRng, device: &B::Device) -> Self {
        let empty = LayerStack { layers: Vec::new() };
        match op {
            OpLayers::Identity => Self { stack: empty, reduce: None },
            OpLayers::Seq(s) => Self { stack: LayerStack::new(s, rng, device), reduce: None },
            OpLayers::FactorizedReduce { cin, cout } => {
                Self { stack: empty, reduce: Some(FactorizedReduce::new(*cin, *cout, rng, device)) }
            }
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        match &self.reduce {
            Some(r) => r.forward(x),
            None => self.stack.forward(x),
        }
    }

    fn is_identity(&self) -> bool {
        self.reduce.is_none() && self.stack.layers.is_empty()
    }
}

/// One edge: the node it reads and its op.
#[derive(Module, Debug)]
pub struct EdgeModule<B: Backend> {
    input: usize,
    op: OpModule<B>,
}

/// One cell.
#[derive(Module, Debug)]
pub struct CellModule<B: Backend> {
    pre0: OpModule<B>,
    pre1: OpModule<B>,
    edges: Vec<EdgeModule<B>>,
}

/// Drop path (training only): zeroes a whole sample's edge output with
/// probability `p` and rescales the rest. Masks come from its own seeded
/// generator.
pub struct DropPath {
    pub p: f64,
    rng: RefCell<StdRng>,
}

impl DropPath {
    pub fn new(p: f64, seed: u64) -> Self {
        Self { p, rng: RefCell::new(StdRng::seed_from_u64(seed)) }
    }

    pub fn apply<B: Backend>(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        if self.p <= 0.0 {
            return x;
        }
        let keep = 1.0 - self.p;
        let b = x.dims()[0];
        let mut rng = self.rng.borrow_mut();
        let mask: Vec<f32> = (0..b).map(|_| if rng.random_bool(keep) { (1.0 / keep) as f32 } else { 0.0 }).collect();
        let mask = Tensor::<B, 4>::from_data(TensorData::new(mask, [b, 1, 1, 1]), &x.device());
        x * mask
    }
}

impl<B: Backend> CellModule<B> {
    fn new(cell: &CellLayers, rng: &mut StdRng, device: &B::Device) -> Self {
        Self {
            pre0: OpModule::new(&cell.pre0, rng, device),
            pre1: OpModule::new(&cell.pre1, rng, device),
            edges: cell
                .edges
                .iter()
                .map(|e| EdgeModule { input: e.input, op: OpModule::new(&e.op, rng, device) })
                .collect(),
        }
    }

    fn forward(&self, s0: Tensor<B, 4>, s1: Tensor<B, 4>, drop: Option<&DropPath>) -> Tensor<B, 4> {
        let mut states = vec![self.pre0.forward(s0), self.pre1.forward(s1)];
        for pair in self.edges.chunks(2) {
            let node = pair
                .iter()
                .map(|e| {
                    let h = e.op.forward(states[e.input].clone());
                    match drop {
                        Some(d) if !e.op.is_identity() => d.apply(h),
                        _ => h,
                    }
                })
                .reduce(|a, b| a + b)
                .expect("two edges per node");
            states.push(node);
        }
        Tensor::cat(states.split_off(2), 1)
    }
}

/// The whole network.
#[derive(Module, Debug)]
pub struct DartsNetwork<B: Backend> {
    stem: LayerStack<B>,
    cells: Vec<CellModule<B>>,
    /// The auxiliary head and the cell after which it reads.
    aux_head: Option<LayerStack<B>>,
    aux_at: usize,
    classifier: LayerStack<B>,
}

impl<B: Backend> DartsNetwork<B> {
    pub fn new(net: &DartsNet, rng: &mut StdRng, device: &B::Device) -> Self {
        let stem = LayerStack::new(&net.stem, rng, device);
        let cells = net.cells.iter().map(|c| CellModule::new(c, rng, device)).collect();
        let (aux_at, aux_head) = match &net.auxiliary {
            Some((at, head)) => (*at, Some(LayerStack::new(head, rng, device))),
            None => (usize::MAX, None),
        };
        Self { stem, cells, aux_head, aux_at, classifier: LayerStack::new(&net.classifier, rng, device) }
    }

    /// Logits `[batch, classes]` and, when the network has an auxiliary head
    /// and `with_aux`, the auxiliary logits.
    pub fn forward(
        &self,
        x: Tensor<B, 4>,
        drop: Option<&DropPath>,
        with_aux: bool,
    ) -> (Tensor<B, 2>, Option<Tensor<B, 2>>) {
        let s = self.stem.forward(x);
        let (mut s0, mut s1) = (s.clone(), s);
        let mut aux = None;
        for (i, cell) in self.cells.iter().enumerate() {
            let out = cell.forward(s0, s1.clone(), drop);
            s0 = s1;
            s1 = out;
            if with_aux
                && i == self.aux_at
                && let Some(head) = &self.aux_head
            {
                aux = Some(flatten(head.forward(s1.clone())));
            }
        }
        (flatten(self.classifier.forward(s1)), aux)
    }
}

/// `[batch, classes, 1, 1]` to `[batch, classes]`.
pub fn flatten<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 2> {
    let [b, c, _, _] = x.dims();
    x.reshape([b, c])
}
