//! The NAS-Bench-201 CIFAR network of a cell, as layers: a 3x3 stem (conv,
//! BN), three stages of `cells_per_stage` cells, the benchmark's ResNet basic
//! block between stages (ReLU-conv3x3/2-BN, ReLU-conv3x3-BN, added to a 2x2
//! average pool and a 1x1 conv of the input: channels doubled, size halved),
//! then BN-ReLU, global pool, linear classifier. Inside a cell node j is the
//! sum of op(node i) over i < j; the ops are ReLU-conv-BN (1x1, 3x3), a 3x3
//! average pool (padding not counted), the identity, and zero.
//!
//! The benchmark's table measures these networks' accuracy; the latency
//! measurement (`nas-search latency measure`) builds them, so the cost model
//! and the built network come from this one description.

use super::layer::{Cost, Layer, LayerSeq};
use crate::space::nb201::genotype::{EDGES, Nb201Cell};

/// What one cell edge computes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EdgeOp {
    /// `none`: contributes nothing.
    Zero,
    /// `skip_connect`.
    Identity,
    /// A convolution or pooling, as layers.
    Seq(LayerSeq),
}

/// One block of the network body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Nb201Block {
    /// A cell: one op per edge (in the cell's edge order: 0->1, 0->2, 1->2, 0->3, 1->3, 2->3).
    Cell(Vec<EdgeOp>),
    /// The residual reduction block between stages.
    Residual { a: LayerSeq, b: LayerSeq, shortcut: LayerSeq },
}

/// The network of one cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nb201Net {
    pub stem: LayerSeq,
    pub blocks: Vec<Nb201Block>,
    pub head: LayerSeq,
    pub input_size: usize,
}

fn relu_conv_bn(cin: usize, cout: usize, k: usize, stride: usize) -> LayerSeq {
    LayerSeq(vec![Layer::Relu, Layer::conv(cin, cout, k, stride), Layer::BatchNorm { c: cout }])
}

/// The op of edge `e` of `cell` at `c` channels.
pub fn edge_op(cell: &Nb201Cell, e: usize, c: usize) -> EdgeOp {
    match cell.op_name(e) {
        "nor_conv_1x1" => EdgeOp::Seq(relu_conv_bn(c, c, 1, 1)),
        "nor_conv_3x3" => EdgeOp::Seq(relu_conv_bn(c, c, 3, 1)),
        "avg_pool_3x3" => EdgeOp::Seq(LayerSeq(vec![Layer::AvgPool { k: 3, stride: 1, pad: 1 }])),
        "skip_connect" => EdgeOp::Identity,
        _ => EdgeOp::Zero,
    }
}

/// The network of `cell` with `channels` in the first stage (the benchmark:
/// 16), `cells_per_stage` cells per stage (5) and `classes` outputs, on 32x32
/// inputs.
pub fn build(cell: &Nb201Cell, channels: usize, cells_per_stage: usize, classes: usize) -> Nb201Net {
    let stem = LayerSeq(vec![Layer::conv(3, channels, 3, 1), Layer::BatchNorm { c: channels }]);
    let mut blocks = Vec::new();
    let mut c = channels;
    for stage in 0..3 {
        if stage > 0 {
            let (cin, cout) = (c, 2 * c);
            blocks.push(Nb201Block::Residual {
                a: relu_conv_bn(cin, cout, 3, 2),
                b: relu_conv_bn(cout, cout, 3, 1),
                shortcut: LayerSeq(vec![
                    Layer::AvgPool { k: 2, stride: 2, pad: 0 },
                    Layer::Conv { cin, cout, k: 1, stride: 1, pad: 0, dilation: 1, groups: 1, bias: false },
                ]),
            });
            c = cout;
        }
        for _ in 0..cells_per_stage {
            blocks.push(Nb201Block::Cell((0..EDGES).map(|e| edge_op(cell, e, c)).collect()));
        }
    }
    let head = LayerSeq(vec![
        Layer::BatchNorm { c },
        Layer::Relu,
        Layer::GlobalAvgPool,
        Layer::Linear { inp: c, out: classes, bias: true },
    ]);
    Nb201Net { stem, blocks, head, input_size: 32 }
}

impl Nb201Block {
    /// Cost at input size `h`, and the output size.
    pub fn cost(&self, h: usize) -> (Cost, usize) {
        match self {
            Self::Cell(edges) => {
                let mut total = Cost::default();
                for op in edges {
                    if let EdgeOp::Seq(s) = op {
                        total += s.cost(h);
                    }
                }
                (total, h)
            }
            Self::Residual { a, b, shortcut } => {
                let mut total = a.cost(h);
                let out = a.out_size(h);
                total += b.cost(out);
                total += shortcut.cost(h);
                (total, out)
            }
        }
    }
}

impl Nb201Net {
    /// Parameters and MACs.
    pub fn cost(&self) -> Cost {
        let mut h = self.input_size;
        let mut total = self.stem.cost(h);
        h = self.stem.out_size(h);
        for b in &self.blocks {
            let (c, out) = b.cost(h);
            total += c;
            h = out;
        }
        total += self.head.cost(h);
        total
    }
}

/// Parameters and MACs of the network of `cell` (see [`build`]).
pub fn cost(cell: &Nb201Cell, channels: usize, cells_per_stage: usize, classes: usize) -> Cost {
    build(cell, channels, cells_per_stage, classes).cost()
}
