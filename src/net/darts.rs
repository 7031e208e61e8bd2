//! The DARTS CIFAR-10 evaluation network of a genotype, as layers.
//!
//! Stem conv 3x3 (3 -> stem_multiplier * C) + BN; `cells` cells, reduction
//! cells at 1/3 and 2/3 of the depth (channels doubled there); each cell
//! preprocesses its inputs (ReLU-conv1x1-BN, or factorized reduce when the
//! previous cell reduced) and applies one op per edge; global average pool and
//! a linear classifier. Ops: sep conv = 2 x (ReLU, depthwise kxk, pointwise,
//! BN); dil conv = ReLU, depthwise kxk dilation 2, pointwise, BN; skip at
//! stride 2 = factorized reduce; pools have no parameters. Optional auxiliary
//! head after the second reduction cell (as the DARTS paper's CIFAR head).

use serde::{Deserialize, Serialize};

use super::layer::{Cost, Layer, LayerSeq};
use crate::space::darts::genotype::{DartsCell, DartsGenotype, DartsOp, NODES};

/// Settings of the evaluation network (`network:` in `search_spaces/darts.yaml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DartsNetConfig {
    #[serde(default = "d_c")]
    pub channels: usize,
    #[serde(default = "d_cells")]
    pub cells: usize,
    #[serde(default = "d_classes")]
    pub classes: usize,
    #[serde(default = "d_input")]
    pub input_size: usize,
    #[serde(default = "d_stem")]
    pub stem_multiplier: usize,
    #[serde(default)]
    pub auxiliary: bool,
}

fn d_c() -> usize {
    36
}
fn d_cells() -> usize {
    20
}
fn d_classes() -> usize {
    10
}
fn d_input() -> usize {
    32
}
fn d_stem() -> usize {
    3
}

impl Default for DartsNetConfig {
    fn default() -> Self {
        Self { channels: 36, cells: 20, classes: 10, input_size: 32, stem_multiplier: 3, auxiliary: false }
    }
}

/// What one edge computes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpLayers {
    /// The input unchanged.
    Identity,
    /// Layers in sequence.
    Seq(LayerSeq),
    /// ReLU, then two 1x1 stride-2 convs (cin -> cout/2) on the input and on it
    /// shifted by one pixel, concatenated, then BN(cout).
    FactorizedReduce { cin: usize, cout: usize },
}

/// One of a factorized reduce's two convolutions: 1x1, stride 2, `cin` to `cout / 2`.
pub fn factorized_half(cin: usize, cout: usize) -> Layer {
    Layer::Conv { cin, cout: cout / 2, k: 1, stride: 2, pad: 0, dilation: 1, groups: 1, bias: false }
}

impl OpLayers {
    /// Cost at input size `h`, and the output size.
    pub fn cost(&self, h: usize) -> (Cost, usize) {
        match self {
            Self::Identity => (Cost::default(), h),
            Self::Seq(s) => (s.cost(h), s.out_size(h)),
            Self::FactorizedReduce { cin, cout } => {
                let half = LayerSeq(vec![factorized_half(*cin, *cout)]);
                let c = half.cost(h);
                let out = half.out_size(h);
                (Cost::new(2 * c.params + 2 * *cout as u64, 2 * c.macs), out)
            }
        }
    }
}

/// The layers of one edge op with `c` channels.
pub fn op_layers(op: DartsOp, c: usize, stride: usize) -> OpLayers {
    let sep = |k: usize| {
        LayerSeq(vec![
            Layer::Relu,
            Layer::depthwise(c, k, stride, 1),
            Layer::conv(c, c, 1, 1),
            Layer::BatchNorm { c },
            Layer::Relu,
            Layer::depthwise(c, k, 1, 1),
            Layer::conv(c, c, 1, 1),
            Layer::BatchNorm { c },
        ])
    };
    let dil = |k: usize| {
        LayerSeq(vec![Layer::Relu, Layer::depthwise(c, k, stride, 2), Layer::conv(c, c, 1, 1), Layer::BatchNorm { c }])
    };
    match op {
        DartsOp::MaxPool3x3 => OpLayers::Seq(LayerSeq(vec![Layer::MaxPool { k: 3, stride, pad: 1 }])),
        DartsOp::AvgPool3x3 => OpLayers::Seq(LayerSeq(vec![Layer::AvgPool { k: 3, stride, pad: 1 }])),
        DartsOp::SkipConnect if stride == 1 => OpLayers::Identity,
        DartsOp::SkipConnect => OpLayers::FactorizedReduce { cin: c, cout: c },
        DartsOp::SepConv3x3 => OpLayers::Seq(sep(3)),
        DartsOp::SepConv5x5 => OpLayers::Seq(sep(5)),
        DartsOp::DilConv3x3 => OpLayers::Seq(dil(3)),
        DartsOp::DilConv5x5 => OpLayers::Seq(dil(5)),
    }
}

/// One edge of a cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgeLayers {
    pub input: usize,
    pub op: OpLayers,
}

/// One cell of the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellLayers {
    pub reduction: bool,
    /// Channels of each intermediate node.
    pub c: usize,
    pub pre0: OpLayers,
    pub pre1: OpLayers,
    pub edges: Vec<EdgeLayers>,
}

/// The whole evaluation network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DartsNet {
    pub input_size: usize,
    pub stem: LayerSeq,
    pub cells: Vec<CellLayers>,
    /// Index of the cell after which the auxiliary head reads, and its layers.
    pub auxiliary: Option<(usize, LayerSeq)>,
    pub classifier: LayerSeq,
}

fn relu_conv_bn(cin: usize, cout: usize) -> OpLayers {
    OpLayers::Seq(LayerSeq(vec![Layer::Relu, Layer::conv(cin, cout, 1, 1), Layer::BatchNorm { c: cout }]))
}

/// Describes the evaluation network of `g`.
pub fn build(g: &DartsGenotype, cfg: &DartsNetConfig) -> DartsNet {
    let stem_c = cfg.stem_multiplier * cfg.channels;
    let stem = LayerSeq(vec![Layer::conv(3, stem_c, 3, 1), Layer::BatchNorm { c: stem_c }]);
    let (mut cpp, mut cp, mut cc) = (stem_c, stem_c, cfg.channels);
    let mut reduction_prev = false;
    let mut cells = Vec::with_capacity(cfg.cells);
    let mut auxiliary = None;
    for i in 0..cfg.cells {
        let reduction = i == cfg.cells / 3 || i == 2 * cfg.cells / 3;
        if reduction {
            cc *= 2;
        }
        let cell: &DartsCell = if reduction { &g.reduce } else { &g.normal };
        let pre0 =
            if reduction_prev { OpLayers::FactorizedReduce { cin: cpp, cout: cc } } else { relu_conv_bn(cpp, cc) };
        let edges = cell
            .edges
            .iter()
            .map(|e| {
                let stride = if reduction && e.input < 2 { 2 } else { 1 };
                EdgeLayers { input: e.input, op: op_layers(e.op, cc, stride) }
            })
            .collect();
        cells.push(CellLayers { reduction, c: cc, pre0, pre1: relu_conv_bn(cp, cc), edges });
        cpp = cp;
        cp = NODES * cc;
        reduction_prev = reduction;
        if cfg.auxiliary && i == 2 * cfg.cells / 3 {
            let head = LayerSeq(vec![
                Layer::Relu,
                Layer::AvgPool { k: 5, stride: 3, pad: 0 },
                Layer::conv(cp, 128, 1, 1),
                Layer::BatchNorm { c: 128 },
                Layer::Relu,
                Layer::Conv { cin: 128, cout: 768, k: 2, stride: 1, pad: 0, dilation: 1, groups: 1, bias: false },
                Layer::BatchNorm { c: 768 },
                Layer::Relu,
                Layer::GlobalAvgPool,
                Layer::Linear { inp: 768, out: cfg.classes, bias: true },
            ]);
            auxiliary = Some((i, head));
        }
    }
    let classifier = LayerSeq(vec![Layer::GlobalAvgPool, Layer::Linear { inp: cp, out: cfg.classes, bias: true }]);
    DartsNet { input_size: cfg.input_size, stem, cells, auxiliary, classifier }
}

impl DartsNet {
    /// Parameters and MACs of the whole network (auxiliary head included when present).
    pub fn cost(&self) -> Cost {
        let mut total = self.stem.cost(self.input_size);
        let h0 = self.stem.out_size(self.input_size);
        let (mut hpp, mut hp) = (h0, h0);
        for (i, cell) in self.cells.iter().enumerate() {
            let (c0, _) = cell.pre0.cost(hpp);
            let (c1, _) = cell.pre1.cost(hp);
            total += c0;
            total += c1;
            // Edges read the cell's inputs at hp; in a reduction cell those
            // edges have stride 2, so the intermediate nodes, and every edge
            // reading one of them, are at the reduced size.
            let h_out = if cell.reduction { hp.div_ceil(2) } else { hp };
            for e in &cell.edges {
                let h_in = if e.input < 2 { hp } else { h_out };
                let (c, o) = e.op.cost(h_in);
                total += c;
                debug_assert_eq!(o, h_out, "every node of a cell has the cell's output size");
            }
            hpp = hp;
            hp = h_out;
            if let Some((at, head)) = &self.auxiliary
                && *at == i
            {
                total += head.cost(hp);
            }
        }
        total += self.classifier.cost(hp);
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn darts_v2_has_the_published_parameter_count() {
        let net = build(&DartsGenotype::darts_v2(), &DartsNetConfig::default());
        assert_eq!(net.cost().params, 3_349_342);
        assert_eq!(net.cells.iter().filter(|c| c.reduction).count(), 2);
        let aux = build(&DartsGenotype::darts_v2(), &DartsNetConfig { auxiliary: true, ..Default::default() });
        let head = 576 * 128 + 256 + 128 * 768 * 4 + 1536 + 768 * 10 + 10;
        assert_eq!(aux.cost().params, 3_349_342 + head);
    }

    /// DARTS V2 with the reduction cell's third edge, `('skip_connect', 2)`
    /// (an identity on intermediate node 2: no MACs, no params), replaced by `op`.
    fn v2_with_reduce_edge_2(op: DartsOp) -> DartsGenotype {
        let mut g = DartsGenotype::darts_v2();
        assert_eq!((g.reduce.edges[2].op, g.reduce.edges[2].input), (DartsOp::SkipConnect, 2));
        g.reduce.edges[2].op = op;
        g
    }

    fn cost_of(g: &DartsGenotype) -> Cost {
        build(g, &DartsNetConfig::default()).cost()
    }

    #[test]
    fn an_op_on_an_intermediate_node_of_a_reduction_cell_runs_at_the_reduced_size() {
        // C=36, 20 cells: the reduction cells are cells 6 and 13, with c = 72
        // channels per node on 32x32 inputs (nodes at 16x16) and c = 144 on
        // 16x16 inputs (nodes at 8x8). An edge from node 2 reads a node at the
        // reduced size and has stride 1, so its op runs at 16x16, then 8x8.
        // Per op at size H with c channels (depthwise k x k + pointwise 1x1):
        //   sep_conv_k: 2 x (H^2 c k^2 + H^2 c^2)   dil_conv_k: H^2 c k^2 + H^2 c^2
        //   pools and skip_connect at stride 1: 0
        let sep = |h: u64, c: u64, k: u64| 2 * (h * h * c * k * k + h * h * c * c);
        let dil = |h: u64, c: u64, k: u64| h * h * c * k * k + h * h * c * c;
        let both = |f: &dyn Fn(u64, u64, u64) -> u64, k: u64| f(16, 72, k) + f(8, 144, k);
        // sep_conv_3x3: 2 x (256*72*9 + 256*5184) = 2,985,984 and 2 x (64*144*9 + 64*20736) = 2,820,096
        assert_eq!(both(&sep, 3), 2_985_984 + 2_820_096);
        let cases = [
            (DartsOp::SepConv3x3, both(&sep, 3)), // 5,806,080
            (DartsOp::SepConv5x5, both(&sep, 5)), // 3,575,808 + 3,115,008 = 6,690,816
            (DartsOp::DilConv3x3, both(&dil, 3)), // 1,492,992 + 1,410,048 = 2,903,040
            (DartsOp::DilConv5x5, both(&dil, 5)), // 1,787,904 + 1,557,504 = 3,345,408
            (DartsOp::MaxPool3x3, 0),
            (DartsOp::AvgPool3x3, 0),
            (DartsOp::SkipConnect, 0),
        ];
        let v2 = cost_of(&DartsGenotype::darts_v2());
        assert_eq!(v2.macs, 528_359_040);
        for (op, extra) in cases {
            let g = v2_with_reduce_edge_2(op);
            assert_eq!(cost_of(&g).macs - v2.macs, extra, "{op:?}");
        }
        assert_eq!(cost_of(&v2_with_reduce_edge_2(DartsOp::SepConv3x3)).macs, 534_165_120);
        assert_eq!(both(&sep, 5), 6_690_816);
        assert_eq!(both(&dil, 3) + both(&dil, 5), 2_903_040 + 3_345_408);
    }
}
