//! A network cut into units for the per-unit look-up table: each layer
//! sequence of its description with the channels and size of its input.
//! What joins the units (sums of a cell's edges, residual adds, concatenations,
//! the squeeze-excite product) is not a unit: the table's sum leaves it out,
//! as per-layer look-up tables do.

use crate::net::darts::{DartsNet, OpLayers, factorized_half};
use crate::net::mobilenet::MobileNet;
use crate::net::nb201::{EdgeOp, Nb201Block, Nb201Net};
use crate::net::{Layer, LayerSeq, NetSpec};

/// One unit: layers run on an input of `channels` x `size` x `size`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    pub seq: LayerSeq,
    pub channels: usize,
    pub size: usize,
}

impl Unit {
    /// The look-up table's key: the layers and the input shape, e.g.
    /// `relu,conv3x3/1 16>16,bn @16x32`.
    pub fn key(&self) -> String {
        let layers: Vec<String> = self.seq.0.iter().map(layer_key).collect();
        format!("{} @{}x{}", layers.join(","), self.channels, self.size)
    }
}

fn layer_key(l: &Layer) -> String {
    match *l {
        Layer::Conv { cin, cout, k, stride, dilation, groups, bias, .. } => {
            let kind = if groups == 1 { "conv" } else { "dw" };
            let d = if dilation > 1 { format!("d{dilation}") } else { String::new() };
            let b = if bias { "+b" } else { "" };
            format!("{kind}{k}x{k}/{stride}{d} {cin}>{cout}{b}")
        }
        Layer::BatchNorm { .. } => "bn".into(),
        Layer::Linear { inp, out, .. } => format!("fc {inp}>{out}"),
        Layer::Relu => "relu".into(),
        Layer::HSwish => "hswish".into(),
        Layer::HSigmoid => "hsigmoid".into(),
        Layer::MaxPool { k, stride, .. } => format!("max{k}x{k}/{stride}"),
        Layer::AvgPool { k, stride, .. } => format!("avg{k}x{k}/{stride}"),
        Layer::GlobalAvgPool => "gap".into(),
    }
}

/// Collects units while following the feature map's channels and size.
struct Cutter(Vec<Unit>);

impl Cutter {
    /// Adds `seq` on an input of `c` x `h`; returns its output channels and size.
    fn add(&mut self, seq: &LayerSeq, c: usize, h: usize) -> (usize, usize) {
        if seq.0.is_empty() {
            return (c, h);
        }
        self.0.push(Unit { seq: seq.clone(), channels: c, size: h });
        let out_c = seq.0.iter().fold(c, |c, l| match *l {
            Layer::Conv { cout, .. } => cout,
            Layer::Linear { out, .. } => out,
            _ => c,
        });
        (out_c, seq.out_size(h))
    }
}

/// The units of `spec`, in the order the network runs them.
pub fn units(spec: &NetSpec) -> Vec<Unit> {
    let mut cut = Cutter(Vec::new());
    match spec {
        NetSpec::Nb201(n) => nb201(n, &mut cut),
        NetSpec::MobileNet(n) => mobilenet(n, &mut cut),
        NetSpec::Darts(n) => darts(n, &mut cut),
    }
    cut.0
}

fn nb201(n: &Nb201Net, cut: &mut Cutter) {
    let (mut c, mut h) = cut.add(&n.stem, 3, n.input_size);
    for b in &n.blocks {
        match b {
            Nb201Block::Cell(ops) => {
                for op in ops {
                    if let EdgeOp::Seq(s) = op {
                        cut.add(s, c, h);
                    }
                }
            }
            Nb201Block::Residual { a, b, shortcut } => {
                cut.add(shortcut, c, h);
                let (ca, ha) = cut.add(a, c, h);
                (c, h) = cut.add(b, ca, ha);
            }
        }
    }
    cut.add(&n.head, c, h);
}

fn mobilenet(n: &MobileNet, cut: &mut Cutter) {
    let (mut c, mut h) = cut.add(&n.stem, 3, n.resolution);
    for b in &n.blocks {
        let (mut bc, mut bh) = (c, h);
        if let Some(e) = &b.expand {
            (bc, bh) = cut.add(e, bc, bh);
        }
        (bc, bh) = cut.add(&b.depthwise, bc, bh);
        if let Some(se) = &b.se {
            cut.add(se, bc, bh);
        }
        (c, h) = cut.add(&b.project, bc, bh);
    }
    (c, h) = cut.add(&n.final_expand, c, h);
    cut.add(&n.head, c, h);
}

/// A DARTS edge or preprocessing op; a factorized reduce as its two
/// convolutions (ReLU first; each a unit, the same one) and the BatchNorm of
/// their concatenation (a unit of its own: it runs on both halves' channels).
fn darts_op(op: &OpLayers, c: usize, h: usize, cut: &mut Cutter) -> (usize, usize) {
    match op {
        OpLayers::Identity => (c, h),
        OpLayers::Seq(s) => cut.add(s, c, h),
        OpLayers::FactorizedReduce { cin, cout } => {
            let half = LayerSeq(vec![Layer::Relu, factorized_half(*cin, *cout)]);
            cut.add(&half, c, h);
            let (_, out) = cut.add(&half, c, h);
            cut.add(&LayerSeq(vec![Layer::BatchNorm { c: *cout }]), *cout, out);
            (*cout, out)
        }
    }
}

fn darts(n: &DartsNet, cut: &mut Cutter) {
    let (stem_c, h) = cut.add(&n.stem, 3, n.input_size);
    // (channels, size) of the two cell inputs
    let (mut s0, mut s1) = ((stem_c, h), (stem_c, h));
    for cell in &n.cells {
        let p0 = darts_op(&cell.pre0, s0.0, s0.1, cut);
        let p1 = darts_op(&cell.pre1, s1.0, s1.1, cut);
        let mut states = vec![p0, p1];
        for pair in cell.edges.chunks(2) {
            let mut out = (cell.c, states[0].1);
            for e in pair {
                let (ci, hi) = states[e.input];
                out = darts_op(&e.op, ci, hi, cut);
            }
            states.push(out);
        }
        let size = states.last().map_or(s1.1, |s| s.1);
        s0 = s1;
        s1 = (cell.c * (states.len() - 2), size);
    }
    cut.add(&n.classifier, s1.0, s1.1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::nb201::Nb201Cell;

    #[test]
    fn nb201_units_follow_the_stages_and_skip_free_edges() {
        let cell: Nb201Cell =
            "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|".parse().unwrap();
        let spec = NetSpec::Nb201(crate::net::nb201::build(&cell, 16, 5, 10));
        let u = units(&spec);
        // stem, 3 stages x 5 cells x 3 costed edges, 2 residual blocks x 3, head
        assert_eq!(u.len(), 1 + 45 + 6 + 1);
        assert_eq!(u[0].key(), "conv3x3/1 3>16,bn @3x32");
        assert_eq!(u[1].key(), "relu,conv3x3/1 16>16,bn @16x32");
        assert_eq!(u[2].key(), "avg3x3/1 @16x32");
        let last = u.last().unwrap().key();
        assert_eq!(last, "bn,relu,gap,fc 64>10 @64x8");
        assert!(u.iter().any(|x| x.key() == "relu,conv3x3/2 16>32,bn @16x32"));
        assert!(u.iter().any(|x| x.key() == "relu,conv1x1/1 64>64,bn @64x8"));
    }
}
