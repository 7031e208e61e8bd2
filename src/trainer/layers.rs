//! burn modules for the primitive layers of [`crate::net::Layer`]: one
//! description, two readers (the cost model counts it, this builds it).

use burn::module::{Module, Param};
use burn::nn::activation::HardSwish;
use burn::nn::pool::{
    AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig,
};
use burn::nn::{BatchNorm, BatchNormConfig, HardSigmoid, HardSigmoidConfig, Linear, PaddingConfig2d, Relu};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData};
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal, Uniform};

use super::kernels::{Activation, ConvGeometry, activation, batch_norm, dense_conv2d, depthwise_conv2d};
use burn::tensor::backend::Backend;

use crate::net::{Layer, LayerSeq};

/// A dense (groups = 1) convolution as a matrix product of unfolded
/// columns ([`super::kernels::conv`]). Weight layout: `[cout, k*k*cin]`
/// with the kernel offset outer and the input channel inner.
#[derive(Module, Debug)]
pub struct MatConv<B: Backend> {
    weight: Param<Tensor<B, 2>>,
    bias: Option<Param<Tensor<B, 1>>>,
    k: usize,
    stride: usize,
    pad: usize,
    dilation: usize,
}

impl<B: Backend> MatConv<B> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        pad: usize,
        dilation: usize,
        bias: bool,
        rng: &mut StdRng,
        device: &B::Device,
    ) -> Self {
        let weight = param([cout, k * k * cin], conv_init(cout, k, 1), rng, device);
        let bias = bias.then(|| Param::from_tensor(Tensor::zeros([cout], device)));
        Self { weight, bias, k, stride, pad, dilation }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let g = ConvGeometry { k: self.k, stride: self.stride, pad: self.pad, dilation: self.dilation };
        let y = dense_conv2d(x, self.weight.val(), g);
        match &self.bias {
            Some(bias) => y + bias.val().reshape([1, bias.dims()[0], 1, 1]),
            None => y,
        }
    }
}

/// A depthwise convolution (groups = channels, no bias); see
/// [`super::depthwise`] for why it is not burn's `Conv2d`.
#[derive(Module, Debug)]
pub struct DepthwiseConv<B: Backend> {
    /// `[channels, 1, k, k]`, as burn's and PyTorch's grouped convolutions.
    weight: Param<Tensor<B, 4>>,
    stride: usize,
    pad: usize,
    dilation: usize,
}

impl<B: Backend> DepthwiseConv<B> {
    pub fn new(
        c: usize,
        k: usize,
        stride: usize,
        pad: usize,
        dilation: usize,
        rng: &mut StdRng,
        device: &B::Device,
    ) -> Self {
        let weight = param([c, 1, k, k], conv_init(c, k, c), rng, device);
        Self { weight, stride, pad, dilation }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let c = self.weight.dims()[0];
        let opts = ConvOptions::new([self.stride; 2], [self.pad; 2], [self.dilation; 2], c);
        depthwise_conv2d(x, self.weight.val(), opts)
    }
}

/// One built layer.
#[derive(Module, Debug)]
pub enum LayerModule<B: Backend> {
    Depthwise(DepthwiseConv<B>),
    /// Dense convolution.
    MatConv(MatConv<B>),
    BatchNorm(BatchNorm<B>),
    /// Applied to `[batch, channels, 1, 1]` maps (after a global pool).
    Linear(Linear<B>),
    Relu(Relu),
    HSwish(HardSwish),
    HSigmoid(HardSigmoid),
    MaxPool(MaxPool2d),
    AvgPool(AvgPool2d),
    GlobalAvgPool(AdaptiveAvgPool2d),
}

/// A parameter drawn from `dist` with the caller's generator: weights come
/// from the evaluation's own seeded RNG, not the backend's global one, so
/// trainings running side by side (tests, workers) stay reproducible.
pub fn param<B: Backend, const D: usize>(
    shape: [usize; D],
    dist: impl Distribution<f32>,
    rng: &mut StdRng,
    device: &B::Device,
) -> Param<Tensor<B, D>> {
    let n = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| dist.sample(rng)).collect();
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

/// Kaiming-normal fan-out initialisation for convolutions, as torchvision's
/// MobileNet and common CIFAR trainers use.
fn conv_init(cout: usize, k: usize, groups: usize) -> Normal<f32> {
    let fan_out = (cout / groups.max(1)).max(1) * k * k;
    Normal::new(0.0, (2.0 / fan_out as f32).sqrt()).expect("positive std")
}

impl<B: Backend> LayerModule<B> {
    pub fn new(layer: &Layer, rng: &mut StdRng, device: &B::Device) -> Self {
        match *layer {
            Layer::Conv { cin, cout, k, stride, pad, dilation, groups: 1, bias } => {
                Self::MatConv(MatConv::new(cin, cout, k, stride, pad, dilation, bias, rng, device))
            }
            Layer::Conv { cin, cout, k, stride, pad, dilation, groups, bias: false }
                if groups == cin && cin == cout =>
            {
                Self::Depthwise(DepthwiseConv::new(cin, k, stride, pad, dilation, rng, device))
            }
            Layer::Conv { .. } => unreachable!("no space uses grouped convolutions other than depthwise: {layer:?}"),
            Layer::BatchNorm { c } => Self::BatchNorm(BatchNormConfig::new(c).init(device)),
            Layer::Linear { inp, out, bias } => {
                // PyTorch's default: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
                let bound = 1.0 / (inp as f32).sqrt();
                let u = Uniform::new(-bound, bound).expect("bound > 0");
                let weight = param([inp, out], u, rng, device);
                let bias = bias.then(|| param([out], u, rng, device));
                Self::Linear(Linear { weight, bias })
            }
            Layer::Relu => Self::Relu(Relu),
            Layer::HSwish => Self::HSwish(HardSwish),
            // a marker, like Relu's: the op is `Activation::HSigmoid` (relu6(z + 3) / 6)
            Layer::HSigmoid => Self::HSigmoid(HardSigmoidConfig::new().init()),
            Layer::MaxPool { k, stride, pad } => Self::MaxPool(
                MaxPool2dConfig::new([k, k])
                    .with_strides([stride, stride])
                    .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                    .init(),
            ),
            Layer::AvgPool { k, stride, pad } => Self::AvgPool(
                AvgPool2dConfig::new([k, k])
                    .with_strides([stride, stride])
                    .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                    .with_count_include_pad(false)
                    .init(),
            ),
            Layer::GlobalAvgPool => Self::GlobalAvgPool(AdaptiveAvgPool2dConfig::new([1, 1]).init()),
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        match self {
            Self::Depthwise(m) => m.forward(x),
            Self::MatConv(m) => m.forward(x),
            Self::BatchNorm(m) => batch_norm(m, x, Activation::Identity),
            Self::Linear(m) => {
                let [b, c, h, w] = x.dims();
                assert_eq!((h, w), (1, 1), "a linear layer reads a globally pooled map");
                let y = m.forward(x.reshape([b, c]));
                let out = y.dims()[1];
                y.reshape([b, out, 1, 1])
            }
            Self::Relu(_) => activation(x, Activation::Relu),
            Self::HSwish(_) => activation(x, Activation::HSwish),
            Self::HSigmoid(_) => activation(x, Activation::HSigmoid),
            Self::MaxPool(m) => m.forward(x),
            Self::AvgPool(m) => m.forward(x),
            Self::GlobalAvgPool(m) => m.forward(x),
        }
    }
}

impl<B: Backend> LayerModule<B> {
    /// The element-wise activation this layer is, if it is one the
    /// kernels fuse into a BatchNorm before it.
    fn activation(&self) -> Option<Activation> {
        match self {
            Self::Relu(_) => Some(Activation::Relu),
            Self::HSwish(_) => Some(Activation::HSwish),
            _ => None,
        }
    }
}

/// Layers applied one after another; an empty stack is the identity.
#[derive(Module, Debug)]
pub struct LayerStack<B: Backend> {
    pub layers: Vec<LayerModule<B>>,
}

impl<B: Backend> LayerStack<B> {
    pub fn new(seq: &LayerSeq, rng: &mut StdRng, device: &B::Device) -> Self {
        Self { layers: seq.0.iter().map(|l| LayerModule::new(l, rng, device)).collect() }
    }

    /// The layers in order; a BatchNorm followed by a ReLU or h-swish runs
    /// as one op (see [`super::kernels`]).
    pub fn forward(&self, mut x: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut layers = self.layers.iter().peekable();
        while let Some(layer) = layers.next() {
            x = match (layer, layers.peek().and_then(|next| next.activation())) {
                (LayerModule::BatchNorm(bn), Some(act)) => {
                    layers.next();
                    batch_norm(bn, x, act)
                }
                _ => layer.forward(x),
            };
        }
        x
    }
}
