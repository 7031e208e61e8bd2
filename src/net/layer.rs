//! Primitive layers and their cost: parameters (BatchNorm affine weights
//! included, running statistics not) and multiply-accumulates of convolutions
//! and linear layers (`H_out * W_out * C_out * C_in / groups * k * k` and
//! `in * out`; bias, BatchNorm, activations and pooling count none).

use serde::{Deserialize, Serialize};

/// Parameters and multiply-accumulates of a network, and, where a search
/// has a latency source (`crate::latency::source`), its latency as the
/// search sees it (ms; the cost model itself counts none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    pub params: u64,
    pub macs: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
}

impl Cost {
    /// Parameters and MACs (no latency).
    pub fn new(params: u64, macs: u64) -> Self {
        Self { params, macs, latency_ms: None }
    }
}

impl std::ops::AddAssign for Cost {
    fn add_assign(&mut self, o: Self) {
        self.params += o.params;
        self.macs += o.macs;
    }
}

/// One primitive layer (serialized for the PyTorch twin of `bench train`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Layer {
    Conv { cin: usize, cout: usize, k: usize, stride: usize, pad: usize, dilation: usize, groups: usize, bias: bool },
    BatchNorm { c: usize },
    Linear { inp: usize, out: usize, bias: bool },
    Relu,
    HSwish,
    HSigmoid,
    MaxPool { k: usize, stride: usize, pad: usize },
    AvgPool { k: usize, stride: usize, pad: usize },
    GlobalAvgPool,
}

impl Layer {
    /// A bias-free convolution with "same" padding (k / 2), as both spaces use.
    pub fn conv(cin: usize, cout: usize, k: usize, stride: usize) -> Self {
        Self::Conv { cin, cout, k, stride, pad: k / 2, dilation: 1, groups: 1, bias: false }
    }

    /// A 1x1 convolution with a bias (squeeze-excite layers).
    pub fn conv1x1_bias(cin: usize, cout: usize) -> Self {
        Self::Conv { cin, cout, k: 1, stride: 1, pad: 0, dilation: 1, groups: 1, bias: true }
    }

    /// A depthwise convolution (groups = channels) with "same" padding.
    pub fn depthwise(c: usize, k: usize, stride: usize, dilation: usize) -> Self {
        Self::Conv { cin: c, cout: c, k, stride, pad: (k / 2) * dilation, dilation, groups: c, bias: false }
    }

    /// Output spatial size for input size `h`.
    pub fn out_size(&self, h: usize) -> usize {
        match *self {
            Self::Conv { k, stride, pad, dilation, .. } => (h + 2 * pad - dilation * (k - 1) - 1) / stride + 1,
            Self::MaxPool { k, stride, pad } | Self::AvgPool { k, stride, pad } => (h + 2 * pad - k) / stride + 1,
            Self::GlobalAvgPool => 1,
            _ => h,
        }
    }

    pub fn params(&self) -> u64 {
        (match *self {
            Self::Conv { cin, cout, k, groups, bias, .. } => {
                cout * (cin / groups) * k * k + if bias { cout } else { 0 }
            }
            Self::BatchNorm { c } => 2 * c,
            Self::Linear { inp, out, bias } => inp * out + if bias { out } else { 0 },
            _ => 0,
        }) as u64
    }

    /// Multiply-accumulates for input spatial size `h` (square maps).
    pub fn macs(&self, h: usize) -> u64 {
        match *self {
            Self::Conv { cin, cout, k, groups, .. } => {
                let o = self.out_size(h) as u64;
                o * o * cout as u64 * (cin / groups) as u64 * (k * k) as u64
            }
            Self::Linear { inp, out, .. } => (inp * out) as u64,
            _ => 0,
        }
    }
}

/// Layers applied one after another.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LayerSeq(pub Vec<Layer>);

impl LayerSeq {
    /// Output spatial size for input size `h`.
    pub fn out_size(&self, h: usize) -> usize {
        self.0.iter().fold(h, |h, l| l.out_size(h))
    }

    /// Cost for input size `h`.
    pub fn cost(&self, h: usize) -> Cost {
        self.per_layer_macs(h).into_iter().fold(Cost::default(), |mut c, (p, m)| {
            c += Cost::new(p, m);
            c
        })
    }

    /// (params, MACs) of each layer in order, for input size `h`.
    pub fn per_layer_macs(&self, mut h: usize) -> Vec<(u64, u64)> {
        self.0
            .iter()
            .map(|l| {
                let r = (l.params(), l.macs(h));
                h = l.out_size(h);
                r
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_cost_by_hand() {
        let c = Layer::conv(3, 16, 3, 2);
        assert_eq!(c.params(), 16 * 3 * 9);
        assert_eq!(c.out_size(224), 112);
        assert_eq!(c.macs(224), 112 * 112 * 16 * 3 * 9);
        let dw = Layer::depthwise(32, 5, 1, 2);
        assert_eq!(dw.params(), 32 * 25);
        assert_eq!(dw.out_size(16), 16);
        assert_eq!(Layer::Linear { inp: 10, out: 3, bias: true }.params(), 33);
        assert_eq!(Layer::MaxPool { k: 3, stride: 2, pad: 1 }.out_size(32), 16);
        assert_eq!(Layer::AvgPool { k: 5, stride: 3, pad: 0 }.out_size(8), 2);
        assert_eq!(Layer::conv(4, 4, 7, 2).out_size(7), 4);
    }
}
