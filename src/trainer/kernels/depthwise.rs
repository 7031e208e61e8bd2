//! Depthwise convolution on the CPU backend, written directly on slices.
//!
//! burn 0.21's NdArray backend computes a grouped convolution with a generic
//! direct convolution, and its input gradient with a transposed convolution
//! that is ~10x slower still; they dominated training time. On
//! `Autodiff<NdArray>` this module computes the forward pass, the input
//! gradient and the weight gradient itself: per (image, channel) plane, each
//! kernel tap is one multiply-add over a run of an output row. Every other
//! backend (CUDA, NdArray without autodiff, Flex) uses burn's conv2d.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, FloatTensor};
use rayon::prelude::*;

use super::slices::{add_scaled, dot, scatter_scaled};
use super::{Cpu, CpuAd, dims, from_cpu, native, tap_run, tensor, to_cpu, with_values};

/// `conv2d(x, w)` with groups = channels, no bias.
pub fn depthwise_conv2d<B: Backend>(x: Tensor<B, 4>, w: Tensor<B, 4>, opts: ConvOptions<2>) -> Tensor<B, 4> {
    if !native::<B>() {
        return conv2d(x, w, None, opts);
    }
    from_cpu(cpu_autodiff(to_cpu(x), to_cpu(w), opts))
}

#[derive(Debug)]
struct DepthwiseBackward;

impl Backward<Cpu, 2> for DepthwiseBackward {
    type State = (NodeId, NodeId, ConvOptions<2>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let grad = grads.consume::<Cpu>(&ops.node);
        let (x_state, w_state, opts) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<Cpu>>(x_state);
        let w = checkpointer.retrieve_node_output::<FloatTensor<Cpu>>(w_state);
        let (x_shape, w_shape): ([usize; 4], [usize; 4]) = (dims(&x), dims(&w));
        let geo = Geometry::new(&x_shape, &w_shape, &opts);
        with_values(&grad, |dy| {
            if let Some(node) = node_x {
                let dx = with_values(&w, |w| input_grad(&geo, dy, w));
                grads.register::<Cpu>(node.id, tensor(dx, x_shape));
            }
            if let Some(node) = node_w {
                let dw = with_values(&x, |x| weight_grad(&geo, dy, x));
                grads.register::<Cpu>(node.id, tensor(dw, w_shape));
            }
        });
    }
}

fn cpu_autodiff(x: FloatTensor<CpuAd>, w: FloatTensor<CpuAd>, opts: ConvOptions<2>) -> FloatTensor<CpuAd> {
    let forward = |x: FloatTensor<Cpu>, w: FloatTensor<Cpu>, opts: &ConvOptions<2>| {
        let (xs, ws) = (dims(&x), dims(&w));
        let geo = Geometry::new(&xs, &ws, opts);
        let y = with_values(&x, |x| with_values(&w, |w| forward(&geo, x, w)));
        tensor(y, [xs[0], xs[1], geo.ho, geo.wo])
    };
    match DepthwiseBackward.prepare::<NoCheckpointing>([x.node.clone(), w.node.clone()]).compute_bound().stateful() {
        OpsKind::Tracked(mut prep) => {
            let xs = prep.checkpoint(&x);
            let ws = prep.checkpoint(&w);
            let y = forward(x.primitive, w.primitive, &opts);
            prep.finish((xs, ws, opts), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(x.primitive, w.primitive, &opts)),
    }
}

/// Shapes of one depthwise convolution: `planes` (image, channel) pairs of
/// h x w inputs and ho x wo outputs, a k0 x k1 kernel per channel.
struct Geometry {
    channels: usize,
    planes: usize,
    h: usize,
    w: usize,
    ho: usize,
    wo: usize,
    k: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 2],
    dilation: [usize; 2],
}

impl Geometry {
    fn new(x: &[usize; 4], w: &[usize; 4], opts: &ConvOptions<2>) -> Self {
        let [b, c, h, wd] = *x;
        assert_eq!((w[0], w[1]), (c, 1), "a depthwise kernel is [channels, 1, k, k]");
        let k = [w[2], w[3]];
        let out = |i: usize, size: usize| {
            (size + 2 * opts.padding[i] - opts.dilation[i] * (k[i] - 1) - 1) / opts.stride[i] + 1
        };
        Self {
            channels: c,
            planes: b * c,
            h,
            w: wd,
            ho: out(0, h),
            wo: out(1, wd),
            k,
            stride: opts.stride,
            pad: opts.padding,
            dilation: opts.dilation,
        }
    }

    /// Values in an input plane, in an output plane, and kernel taps.
    fn sizes(&self) -> (usize, usize, usize) {
        (self.h * self.w, self.ho * self.wo, self.k[0] * self.k[1])
    }

    /// [`tap_run`] along axis `i`.
    fn run(&self, i: usize, t: usize, size: usize, outs: usize) -> (usize, usize, usize) {
        tap_run(self.stride[i], self.dilation[i], self.pad[i], t, size, outs)
    }

    /// Calls `f(tap, output row, input row, output columns lo..hi, first
    /// input column)` for every kernel tap and output row it reaches.
    fn taps(&self, mut f: impl FnMut(usize, usize, usize, usize, usize, usize)) {
        for ky in 0..self.k[0] {
            let (oy0, oy1, iy0) = self.run(0, ky, self.h, self.ho);
            for kx in 0..self.k[1] {
                let (lo, hi, ix) = self.run(1, kx, self.w, self.wo);
                if lo == hi {
                    continue;
                }
                for (n, oy) in (oy0..oy1).enumerate() {
                    f(ky * self.k[1] + kx, oy, iy0 + n * self.stride[0], lo, hi, ix);
                }
            }
        }
    }
}

/// y[p] = sum over taps of w[tap] x[p shifted], plane by plane.
fn forward(g: &Geometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    let (plane_in, plane_out, taps) = g.sizes();
    let mut y = vec![0f32; g.planes * plane_out];
    y.par_chunks_mut(plane_out).enumerate().for_each(|(p, y)| {
        let (x, w) = (&x[p * plane_in..][..plane_in], &w[(p % g.channels) * taps..][..taps]);
        let sx = g.stride[1];
        g.taps(|t, oy, iy, lo, hi, ix| {
            add_scaled(&mut y[oy * g.wo + lo..oy * g.wo + hi], &x[iy * g.w + ix..(iy + 1) * g.w], sx, w[t]);
        });
    });
    y
}

/// dx[p shifted] += w[tap] dy[p]: the forward pass's taps, scattered back.
fn input_grad(g: &Geometry, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let (plane_in, plane_out, taps) = g.sizes();
    let mut dx = vec![0f32; g.planes * plane_in];
    dx.par_chunks_mut(plane_in).enumerate().for_each(|(p, dx)| {
        let (dy, w) = (&dy[p * plane_out..][..plane_out], &w[(p % g.channels) * taps..][..taps]);
        let sx = g.stride[1];
        g.taps(|t, oy, iy, lo, hi, ix| {
            scatter_scaled(&mut dx[iy * g.w + ix..(iy + 1) * g.w], sx, &dy[oy * g.wo + lo..oy * g.wo + hi], w[t]);
        });
    });
    dx
}

/// dw[c, tap] = sum over images and outputs of dy[p] x[p shifted].
fn weight_grad(g: &Geometry, dy: &[f32], x: &[f32]) -> Vec<f32> {
    let (plane_in, plane_out, taps) = g.sizes();
    let per_plane: Vec<Vec<f32>> = (0..g.planes)
        .into_par_iter()
        .map(|p| {
            let (dy, x) = (&dy[p * plane_out..][..plane_out], &x[p * plane_in..][..plane_in]);
            let mut dw = vec![0f32; taps];
            let sx = g.stride[1];
            g.taps(|t, oy, iy, lo, hi, ix| {
                dw[t] += dot(&dy[oy * g.wo + lo..oy * g.wo + hi], &x[iy * g.w + ix..(iy + 1) * g.w], sx);
            });
            dw
        })
        .collect();
    let mut dw = vec![0f32; g.channels * taps];
    for (p, part) in per_plane.iter().enumerate() {
        let c = p % g.channels;
        dw[c * taps..(c + 1) * taps].iter_mut().zip(part).for_each(|(a, b)| *a += b);
    }
    dw
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
