//! Depthwise convolution with a fast input gradient on the CPU backend.
//!
//! burn 0.21's NdArray backend computes a grouped convolution's input
//! gradient with a transposed convolution that is ~10x slower than the
//! forward pass; it dominated training time. On `Autodiff<NdArray>` this
//! module registers its own backward: the input gradient as a forward
//! depthwise convolution of the (zero-dilated, for strides > 1) output
//! gradient with the spatially flipped kernel; the weight gradient as burn
//! computes it. Every other backend (CUDA, inference) uses burn's conv2d.

use std::any::Any;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, NdArray};
use burn::tensor::backend::Backend;
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, FloatTensor, ModuleOps};
use burn::tensor::{Tensor, TensorPrimitive, s};

type Cpu = NdArray<f32>;
type CpuAd = Autodiff<Cpu>;

/// `conv2d(x, w)` with groups = channels, no bias.
pub fn depthwise_conv2d<B: Backend>(x: Tensor<B, 4>, w: Tensor<B, 4>, opts: ConvOptions<2>) -> Tensor<B, 4> {
    let x: Box<dyn Any> = Box::new(x);
    match x.downcast::<Tensor<CpuAd, 4>>() {
        Ok(x) => {
            let w: Box<dyn Any> = Box::new(w);
            let w = *w.downcast::<Tensor<CpuAd, 4>>().expect("input and weight share a backend");
            let y: Box<dyn Any> = Box::new(cpu_autodiff(*x, w, opts));
            *y.downcast::<Tensor<B, 4>>().expect("the same backend")
        }
        Err(x) => conv2d(*x.downcast::<Tensor<B, 4>>().expect("the same backend"), w, None, opts),
    }
}

#[derive(Debug)]
struct DepthwiseBackward;

impl Backward<Cpu, 2> for DepthwiseBackward {
    type State = (NodeId, NodeId, ConvOptions<2>, [usize; 4]);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let grad = grads.consume::<Cpu>(&ops.node);
        let (x_state, w_state, opts, x_shape) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<Cpu>>(x_state);
        let w = checkpointer.retrieve_node_output::<FloatTensor<Cpu>>(w_state);
        if let Some(node) = node_x {
            grads.register::<Cpu>(node.id, input_grad(grad.clone(), w.clone(), &opts, x_shape));
        }
        if let Some(node) = node_w {
            grads.register::<Cpu>(node.id, Cpu::conv2d_weight_backward(x, w, grad, opts));
        }
    }
}

fn cpu_autodiff(x: Tensor<CpuAd, 4>, w: Tensor<CpuAd, 4>, opts: ConvOptions<2>) -> Tensor<CpuAd, 4> {
    let x_shape = x.dims();
    let x = x.into_primitive().tensor();
    let w = w.into_primitive().tensor();
    let out =
        match DepthwiseBackward.prepare::<NoCheckpointing>([x.node.clone(), w.node.clone()]).compute_bound().stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let xs = prep.checkpoint(&x);
                let ws = prep.checkpoint(&w);
                let y = Cpu::conv2d(x.primitive, w.primitive, None, opts.clone());
                prep.finish((xs, ws, opts, x_shape), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Cpu::conv2d(x.primitive, w.primitive, None, opts)),
        };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// d(loss)/d(x) of a depthwise convolution, as a forward convolution.
fn input_grad(
    grad: FloatTensor<Cpu>,
    w: FloatTensor<Cpu>,
    opts: &ConvOptions<2>,
    x_shape: [usize; 4],
) -> FloatTensor<Cpu> {
    let g = Tensor::<Cpu, 4>::from_primitive(TensorPrimitive::Float(grad));
    let w = Tensor::<Cpu, 4>::from_primitive(TensorPrimitive::Float(w));
    let [b, c, ho, wo] = g.dims();
    let [_, _, kh, kw] = w.dims();
    let [_, _, h, wd] = x_shape;
    let (s0, s1) = (opts.stride[0], opts.stride[1]);
    let (p0, p1) = (opts.padding[0], opts.padding[1]);
    let (d0, d1) = (opts.dilation[0], opts.dilation[1]);
    assert!(p0 <= d0 * (kh - 1) && p1 <= d1 * (kw - 1), "padding larger than the kernel's reach");
    // The output gradient spread back onto the input grid (zeros between
    // strided positions), sized so a "full" correlation gives h x wd.
    let (hd, wdd) = (h + 2 * p0 - d0 * (kh - 1), wd + 2 * p1 - d1 * (kw - 1));
    let g = if (s0, s1) == (1, 1) && (hd, wdd) == (ho, wo) {
        g
    } else {
        let device = g.device();
        Tensor::zeros([b, c, hd, wdd], &device)
            .slice_assign(s![.., .., 0..(ho - 1) * s0 + 1;s0, 0..(wo - 1) * s1 + 1;s1], g)
    };
    let pad = [d0 * (kh - 1) - p0, d1 * (kw - 1) - p1];
    conv2d(g, w.flip([2, 3]), None, ConvOptions::new([1, 1], pad, opts.dilation, c)).into_primitive().tensor()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn gradients_match_burns_convolution() {
        let dev = Default::default();
        for (k, stride, dil, h) in [(3, 1, 1, 8), (5, 2, 1, 8), (3, 1, 2, 7), (3, 2, 2, 9), (5, 1, 1, 6)] {
            let pad = k / 2 * dil;
            let opts = ConvOptions::new([stride; 2], [pad; 2], [dil; 2], 3);
            let x0 = Tensor::<CpuAd, 4>::random([2, 3, h, h], Distribution::Default, &dev);
            let w0 = Tensor::<CpuAd, 4>::random([3, 1, k, k], Distribution::Default, &dev);
            let out = conv2d(x0.clone(), w0.clone(), None, opts.clone()).dims();
            let weights = Tensor::<CpuAd, 4>::random(out, Distribution::Default, &dev);
            let run = |fast: bool| {
                let (x, w) = (x0.clone().require_grad(), w0.clone().require_grad());
                let y = if fast {
                    depthwise_conv2d(x.clone(), w.clone(), opts.clone())
                } else {
                    conv2d(x.clone(), w.clone(), None, opts.clone())
                };
                let g = (y.clone() * weights.clone()).sum().backward();
                [y.inner().into_data(), x.grad(&g).unwrap().into_data(), w.grad(&g).unwrap().into_data()]
            };
            let (fast, reference) = (run(true), run(false));
            for (what, (a, b)) in ["output", "input grad", "weight grad"].iter().zip(fast.iter().zip(&reference)) {
                assert_eq!(a.shape, b.shape, "{what}, k {k} stride {stride} dilation {dil} size {h}");
                let (a, b) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
                let err = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
                assert!(err < 1e-3, "{what}: max error {err}, k {k} stride {stride} dilation {dil} size {h}");
            }
        }
    }
}
