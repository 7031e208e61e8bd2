//! The NAS-Bench-201 CIFAR network of a cell, as layers: a 3x3 stem, three
//! stages of `cells_per_stage` cells (channels doubled by a ResNet block
//! between stages), BN-ReLU, global pool, linear classifier. Only its cost
//! is needed: the benchmark's table measures these networks, the built-in
//! trainer does not train them.

use super::layer::{Cost, Layer, LayerSeq};
use crate::space::nb201::genotype::{EDGES, Nb201Cell};

/// Parameters and MACs of the network of `cell` with `channels` in the first
/// stage (the benchmark: 16), `cells_per_stage` cells per stage (5) and
/// `classes` outputs, on 32x32 inputs.
pub fn cost(cell: &Nb201Cell, channels: usize, cells_per_stage: usize, classes: usize) -> Cost {
    let relu_conv_bn = |cin: usize, cout: usize, k: usize, stride: usize| {
        LayerSeq(vec![Layer::Relu, Layer::conv(cin, cout, k, stride), Layer::BatchNorm { c: cout }])
    };
    let mut h = 32;
    let stem = LayerSeq(vec![Layer::conv(3, channels, 3, 1), Layer::BatchNorm { c: channels }]);
    let mut total = stem.cost(h);
    let mut c = channels;
    for stage in 0..3 {
        if stage > 0 {
            let (cin, cout) = (c, 2 * c);
            total += relu_conv_bn(cin, cout, 3, 2).cost(h);
            h = h.div_ceil(2);
            total += relu_conv_bn(cout, cout, 3, 1).cost(h);
            total += LayerSeq(vec![Layer::conv(cin, cout, 1, 1)]).cost(h); // after a 2x2 average pool
            c = cout;
        }
        for _ in 0..cells_per_stage {
            for e in 0..EDGES {
                match cell.op_name(e) {
                    "nor_conv_1x1" => total += relu_conv_bn(c, c, 1, 1).cost(h),
                    "nor_conv_3x3" => total += relu_conv_bn(c, c, 3, 1).cost(h),
                    _ => {}
                }
            }
        }
    }
    total += LayerSeq(vec![
        Layer::BatchNorm { c },
        Layer::Relu,
        Layer::GlobalAvgPool,
        Layer::Linear { inp: c, out: classes, bias: true },
    ])
    .cost(h);
    total
}
