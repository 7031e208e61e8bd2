//! The Once-for-All MobileNetV3 subnet of an architecture, as layers.
//!
//! Stem conv 3x3 stride 2 (3 -> 16) + BN + h-swish; a first block (depthwise
//! 3x3 + BN + ReLU, pointwise 16 -> 16 + BN, identity shortcut); 5 stages of
//! MBConv blocks (widths 24, 40, 80, 112, 160; strides 2, 2, 2, 1, 2; ReLU in
//! the first two stages, h-swish after; squeeze-excite in stages 2, 4, 5),
//! each block: expand 1x1 + BN + act, depthwise kxk + BN + act, SE, project
//! 1x1 + BN, identity shortcut when stride 1 and equal widths; final expand
//! 1x1 160 -> 960 + BN + h-swish, global pool, feature mix 1x1 960 -> 1280 +
//! h-swish (no BN, no bias), linear classifier. Widths are scaled by
//! `width_mult` and rounded as OFA's `make_divisible`.
//!
//! MACs as the Once-for-All package counts them: it sums per-layer counts in
//! float32 tensors in module order, which rounds totals above 2^24 (e.g.
//! 566,170,688 instead of the exact 566,170,656 for the largest net);
//! [`MobileNet::cost`] reproduces that sum, [`MobileNet::exact_macs`] gives
//! the exact integer.

use serde::{Deserialize, Serialize};

use super::layer::{Cost, Layer, LayerSeq};

/// OFA's channel rounding: to a multiple of `divisor`, at least `divisor`,
/// never more than 10% below `v`.
pub fn make_divisible(v: f64, divisor: usize) -> usize {
    let d = divisor as f64;
    let mut n = (divisor).max(((v + d / 2.0) as usize) / divisor * divisor);
    if (n as f64) < 0.9 * v {
        n += divisor;
    }
    n
}

/// Settings of the network (`network:` in `search_spaces/mobilenetv3.yaml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MobileNetConfig {
    #[serde(default = "d_width")]
    pub width_mult: f64,
    #[serde(default = "d_classes")]
    pub classes: usize,
}

fn d_width() -> f64 {
    1.0
}
fn d_classes() -> usize {
    1000
}

impl Default for MobileNetConfig {
    fn default() -> Self {
        Self { width_mult: 1.0, classes: 1000 }
    }
}

/// The fixed per-stage settings of OFA's MobileNetV3 space.
pub const STAGE_WIDTHS: [usize; 5] = [24, 40, 80, 112, 160];
pub const STAGE_STRIDES: [usize; 5] = [2, 2, 2, 1, 2];
pub const STAGE_HSWISH: [bool; 5] = [false, false, true, true, true];
pub const STAGE_SE: [bool; 5] = [false, true, false, true, true];
/// Squeeze-excite channel reduction.
pub const SE_REDUCTION: usize = 4;

/// One block's choices, as the genotype gives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockChoice {
    pub kernel: usize,
    pub expand: usize,
}

/// One inverted-residual block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MbBlock {
    /// Expand 1x1 + BN + act (absent in the first block, expand ratio 1).
    pub expand: Option<LayerSeq>,
    /// Depthwise kxk + BN + act.
    pub depthwise: LayerSeq,
    /// Squeeze-excite, applied at 1x1 after a global pool.
    pub se: Option<LayerSeq>,
    /// Project 1x1 + BN.
    pub project: LayerSeq,
    pub residual: bool,
}

/// The whole network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MobileNet {
    pub resolution: usize,
    pub stem: LayerSeq,
    pub blocks: Vec<MbBlock>,
    /// Final expand 1x1 + BN + h-swish, at the last feature map size.
    pub final_expand: LayerSeq,
    /// Global pool, feature mix, classifier (at 1x1).
    pub head: LayerSeq,
}

fn act(hswish: bool) -> Layer {
    if hswish { Layer::HSwish } else { Layer::Relu }
}

/// Describes the subnet with `stages[s]` = the active blocks of stage s.
pub fn build(stages: &[Vec<BlockChoice>], resolution: usize, cfg: &MobileNetConfig) -> MobileNet {
    let w = |c: usize| make_divisible(c as f64 * cfg.width_mult, 8);
    let (stem_c, first_c) = (w(16), w(16));
    let stem = LayerSeq(vec![Layer::conv(3, stem_c, 3, 2), Layer::BatchNorm { c: stem_c }, Layer::HSwish]);
    let mut blocks = vec![MbBlock {
        expand: None,
        depthwise: LayerSeq(vec![Layer::depthwise(stem_c, 3, 1, 1), Layer::BatchNorm { c: stem_c }, Layer::Relu]),
        se: None,
        project: LayerSeq(vec![Layer::conv(stem_c, first_c, 1, 1), Layer::BatchNorm { c: first_c }]),
        residual: stem_c == first_c,
    }];
    let mut cin = first_c;
    for (s, choices) in stages.iter().enumerate() {
        let cout = w(STAGE_WIDTHS[s]);
        for (i, b) in choices.iter().enumerate() {
            let stride = if i == 0 { STAGE_STRIDES[s] } else { 1 };
            let mid = make_divisible((cin * b.expand) as f64, 8);
            let a = act(STAGE_HSWISH[s]);
            let se = STAGE_SE[s].then(|| {
                let m = make_divisible((mid / SE_REDUCTION) as f64, 8);
                LayerSeq(vec![
                    Layer::GlobalAvgPool,
                    Layer::conv1x1_bias(mid, m),
                    Layer::Relu,
                    Layer::conv1x1_bias(m, mid),
                    Layer::HSigmoid,
                ])
            });
            blocks.push(MbBlock {
                expand: Some(LayerSeq(vec![Layer::conv(cin, mid, 1, 1), Layer::BatchNorm { c: mid }, a.clone()])),
                depthwise: LayerSeq(vec![Layer::depthwise(mid, b.kernel, stride, 1), Layer::BatchNorm { c: mid }, a]),
                se,
                project: LayerSeq(vec![Layer::conv(mid, cout, 1, 1), Layer::BatchNorm { c: cout }]),
                residual: stride == 1 && cin == cout,
            });
            cin = cout;
        }
    }
    let (fe, mix) = (w(960), w(1280));
    MobileNet {
        resolution,
        stem,
        blocks,
        final_expand: LayerSeq(vec![Layer::conv(cin, fe, 1, 1), Layer::BatchNorm { c: fe }, Layer::HSwish]),
        head: LayerSeq(vec![
            Layer::GlobalAvgPool,
            Layer::conv(fe, mix, 1, 1),
            Layer::HSwish,
            Layer::Linear { inp: mix, out: cfg.classes, bias: true },
        ]),
    }
}

impl MobileNet {
    /// (params, MACs) of every layer in module order.
    fn layers(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut h = self.resolution;
        let mut seq = |s: &LayerSeq, h: usize| {
            out.extend(s.per_layer_macs(h));
            s.out_size(h)
        };
        h = seq(&self.stem, h);
        for b in &self.blocks {
            if let Some(e) = &b.expand {
                h = seq(e, h);
            }
            h = seq(&b.depthwise, h);
            if let Some(se) = &b.se {
                seq(se, h);
            }
            h = seq(&b.project, h);
        }
        h = seq(&self.final_expand, h);
        seq(&self.head, h);
        out
    }

    /// Parameters and MACs as the Once-for-All package counts them (see the module doc).
    pub fn cost(&self) -> Cost {
        let layers = self.layers();
        let mut macs = 0f32;
        for &(_, m) in &layers {
            if m > 0 {
                macs += m as f32;
            }
        }
        Cost::new(layers.iter().map(|l| l.0).sum(), macs as u64)
    }

    /// The exact multiply-accumulate count.
    pub fn exact_macs(&self) -> u64 {
        self.layers().iter().map(|l| l.1).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uniform(kernel: usize, expand: usize, depth: usize) -> Vec<Vec<BlockChoice>> {
        vec![vec![BlockChoice { kernel, expand }; depth]; 5]
    }

    #[test]
    fn make_divisible_as_ofa() {
        assert_eq!(make_divisible(16.0, 8), 16);
        assert_eq!(make_divisible(60.0, 8), 64);
        assert_eq!(make_divisible(120.0, 8), 120);
        assert_eq!(make_divisible(3.0, 8), 8);
        assert_eq!(make_divisible(1280.0 * 1.2, 8), 1536);
    }

    #[test]
    fn largest_and_smallest_nets_match_the_ofa_package() {
        let big = build(&uniform(7, 6, 4), 224, &MobileNetConfig::default());
        assert_eq!(big.cost(), Cost::new(7_664_760, 566_170_688));
        assert_eq!(big.exact_macs(), 566_170_656);
        let small = build(&uniform(3, 3, 2), 128, &MobileNetConfig::default());
        assert_eq!(small.cost(), Cost::new(3_410_792, 41_476_224));
    }
}
