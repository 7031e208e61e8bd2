//! Dense (groups = 1) convolution on the CPU backend: per image, the input
//! unfolded into columns (none for a 1x1 stride-1 convolution: the image is
//! its own column matrix) and one matrix product through
//! [`crate::matmul`]; back, the input gradient as the transposed product
//! folded back, the weight gradient as products with the columns read
//! transposed in place. burn's route (pad, k*k strided slices, a
//! concatenation, a broadcast batched product) copies the input ~k*k+2
//! times each way and sums a per-image weight gradient.
//!
//! The weight is `[cout, k*k*cin]`, kernel offset outer and input channel
//! inner (`super::super::layers::MatConv`'s layout).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, s};
use rayon::prelude::*;

use super::{Cpu, CpuAd, dims, from_cpu, native, tap_run, tensor, to_cpu, with_values};
use crate::matmul::{View, matmul};

/// Images per share of the weight gradient: shares are summed in a fixed
/// order, so the gradient does not depend on the number of threads.
const WEIGHT_GRAD_SHARES: usize = 8;

/// The shapes of one convolution.
#[derive(Clone, Copy, Debug)]
pub struct ConvGeometry {
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    pub dilation: usize,
}

/// The convolution of `x` `[b, cin, h, w]` by `w` `[cout, k*k*cin]`, no bias.
pub fn dense_conv2d<B: Backend>(x: Tensor<B, 4>, w: Tensor<B, 2>, g: ConvGeometry) -> Tensor<B, 4> {
    if !native::<B>() {
        return unfolded_conv2d(x, w, g);
    }
    from_cpu(cpu_autodiff(to_cpu(x), to_cpu(w), g))
}

/// The same in burn's ops, for every other backend: im2col as strided
/// slices and one product (burn 0.21's NdArray convolution computes its
/// weight gradient by a direct convolution 10-100x slower than a product).
pub fn unfolded_conv2d<B: Backend>(x: Tensor<B, 4>, w: Tensor<B, 2>, g: ConvGeometry) -> Tensor<B, 4> {
    let ConvGeometry { k, stride: st, pad: p, dilation: d } = g;
    let x = if p > 0 { x.pad((p, p, p, p), burn::tensor::ops::PadMode::Constant(0.0)) } else { x };
    let [b, cin, h, wd] = x.dims();
    let ho = (h - d * (k - 1) - 1) / st + 1;
    let wo = (wd - d * (k - 1) - 1) / st + 1;
    let patch = |i: usize, j: usize| {
        let (y0, x0) = (i * d, j * d);
        let v = x.clone().slice(s![.., .., y0..y0 + (ho - 1) * st + 1;st, x0..x0 + (wo - 1) * st + 1;st]);
        v.reshape([b, cin, ho * wo])
    };
    let cols = if k == 1 { patch(0, 0) } else { Tensor::cat((0..k * k).map(|o| patch(o / k, o % k)).collect(), 1) };
    let cout = w.dims()[0];
    w.unsqueeze::<3>().matmul(cols).reshape([b, cout, ho, wo])
}

/// The sizes a geometry gives an input of `[b, cin, h, w]` and `cout` filters.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    b: usize,
    cin: usize,
    h: usize,
    w: usize,
    cout: usize,
    ho: usize,
    wo: usize,
    g: ConvGeometry,
}

impl Sizes {
    fn new(x: [usize; 4], w: [usize; 2], g: ConvGeometry) -> Self {
        let [b, cin, h, wd] = x;
        assert_eq!(w[1], g.k * g.k * cin, "a [cout, k*k*cin] weight");
        let out = |size: usize| (size + 2 * g.pad - g.dilation * (g.k - 1) - 1) / g.stride + 1;
        Self { b, cin, h, w: wd, cout: w[0], ho: out(h), wo: out(wd), g }
    }

    /// Rows of the column matrix (k*k*cin), input and output plane sizes.
    fn cols(&self) -> (usize, usize, usize) {
        (self.g.k * self.g.k * self.cin, self.h * self.w, self.ho * self.wo)
    }

    /// Whether an image is its own column matrix (1x1, stride 1, no padding).
    fn direct(&self) -> bool {
        self.g.k == 1 && self.g.stride == 1 && self.g.pad == 0
    }

    /// Calls `f(column row, output row, start of the input row, output
    /// columns lo..hi, first input column)` for every column row (tap,
    /// channel) and output row whose input row lies inside: the run of
    /// output columns that read inside the input.
    fn runs(&self, mut f: impl FnMut(usize, usize, usize, usize, usize, usize)) {
        let g = self.g;
        for ky in 0..g.k {
            let (oy0, oy1, iy0) = tap_run(g.stride, g.dilation, g.pad, ky, self.h, self.ho);
            for kx in 0..g.k {
                let (lo, hi, ix) = tap_run(g.stride, g.dilation, g.pad, kx, self.w, self.wo);
                if lo == hi {
                    continue;
                }
                for (n, oy) in (oy0..oy1).enumerate() {
                    let iy = iy0 + n * g.stride;
                    for ci in 0..self.cin {
                        f((ky * g.k + kx) * self.cin + ci, oy, ci * self.h * self.w + iy * self.w, lo, hi, ix);
                    }
                }
            }
        }
    }

    /// One image's column matrix `[k*k*cin, ho*wo]`.
    fn unfold(&self, x: &[f32]) -> Vec<f32> {
        let (rows, _, plane) = self.cols();
        let mut cols = vec![0f32; rows * plane];
        let s = self.g.stride;
        self.runs(|r, oy, at, lo, hi, ix| {
            let out = &mut cols[r * plane + oy * self.wo..][lo..hi];
            let row = &x[at + ix..];
            out.iter_mut().zip(row.iter().step_by(s)).for_each(|(o, v)| *o = *v);
        });
        cols
    }

    /// Adds a column matrix's gradient into one image's input gradient.
    fn fold(&self, dcols: &[f32], dx: &mut [f32]) {
        let (_, _, plane) = self.cols();
        let s = self.g.stride;
        self.runs(|r, oy, at, lo, hi, ix| {
            let from = &dcols[r * plane + oy * self.wo..][lo..hi];
            let row = dx[at + ix..].iter_mut().step_by(s);
            row.zip(from).for_each(|(v, d)| *v += d);
        });
    }

    /// Calls `f` with one image's column matrix (borrowed when direct).
    fn with_cols<R>(&self, x: &[f32], f: impl FnOnce(&[f32]) -> R) -> R {
        if self.direct() { f(x) } else { f(&self.unfold(x)) }
    }
}

/// `y[i] = w @ cols(x[i])` for every image.
fn forward(s: &Sizes, x: &[f32], w: &[f32]) -> Vec<f32> {
    let (rows, plane_in, plane_out) = s.cols();
    let mut y = vec![0f32; s.b * s.cout * plane_out];
    y.par_chunks_mut(s.cout * plane_out).zip(x.par_chunks(s.cin * plane_in)).for_each(|(y, x)| {
        s.with_cols(x, |cols| {
            let w = View::rows(w, s.cout, rows, rows);
            matmul(w, View::rows(cols, rows, plane_out, plane_out), y, plane_out, false)
        })
    });
    y
}

/// `dx[i] = fold(w^T @ dy[i])`.
fn input_grad(s: &Sizes, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let (rows, plane_in, plane_out) = s.cols();
    let mut dx = vec![0f32; s.b * s.cin * plane_in];
    let wt = View::rows(w, s.cout, rows, rows).t();
    dx.par_chunks_mut(s.cin * plane_in).zip(dy.par_chunks(s.cout * plane_out)).for_each(|(dx, dy)| {
        let dy = View::rows(dy, s.cout, plane_out, plane_out);
        if s.direct() {
            matmul(wt, dy, dx, plane_out, false);
        } else {
            let mut dcols = vec![0f32; rows * plane_out];
            matmul(wt, dy, &mut dcols, plane_out, false);
            s.fold(&dcols, dx);
        }
    });
    dx
}

/// `dw = sum over images of dy[i] @ cols(x[i])^T`, in shares summed in order.
fn weight_grad(s: &Sizes, dy: &[f32], x: &[f32]) -> Vec<f32> {
    let (rows, plane_in, plane_out) = s.cols();
    let per_share = s.b.div_ceil(WEIGHT_GRAD_SHARES).max(1);
    let shares: Vec<Vec<f32>> = (0..s.b)
        .step_by(per_share)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|first| {
            let mut dw = vec![0f32; s.cout * rows];
            for i in first..(first + per_share).min(s.b) {
                let dy = View::rows(&dy[i * s.cout * plane_out..][..s.cout * plane_out], s.cout, plane_out, plane_out);
                s.with_cols(&x[i * s.cin * plane_in..][..s.cin * plane_in], |cols| {
                    matmul(dy, View::rows(cols, rows, plane_out, plane_out).t(), &mut dw, rows, i > first)
                });
            }
            dw
        })
        .collect();
    let mut dw = vec![0f32; s.cout * rows];
    for share in &shares {
        dw.iter_mut().zip(share).for_each(|(a, b)| *a += b);
    }
    dw
}

#[derive(Debug)]
struct ConvBackward;

impl Backward<Cpu, 2> for ConvBackward {
    /// The input, the weight, the geometry.
    type State = (FloatTensor<Cpu>, FloatTensor<Cpu>, ConvGeometry);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let dy = grads.consume::<Cpu>(&ops.node);
        let (x, w, g) = ops.state;
        let (xs, ws) = (dims::<4>(&x), dims::<2>(&w));
        let s = Sizes::new(xs, ws, g);
        with_values(&dy, |dy| {
            if let Some(node) = node_x {
                let dx = with_values(&w, |w| input_grad(&s, dy, w));
                grads.register::<Cpu>(node.id, tensor(dx, xs));
            }
            if let Some(node) = node_w {
                let dw = with_values(&x, |x| weight_grad(&s, dy, x));
                grads.register::<Cpu>(node.id, tensor(dw, ws));
            }
        });
    }
}

fn cpu_autodiff(x: FloatTensor<CpuAd>, w: FloatTensor<CpuAd>, g: ConvGeometry) -> FloatTensor<CpuAd> {
    let run = |x: &FloatTensor<Cpu>, w: &FloatTensor<Cpu>| {
        let s = Sizes::new(dims(x), dims(w), g);
        let y = with_values(x, |x| with_values(w, |w| forward(&s, x, w)));
        tensor(y, [s.b, s.cout, s.ho, s.wo])
    };
    match ConvBackward.prepare::<NoCheckpointing>([x.node.clone(), w.node.clone()]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let y = run(&x.primitive, &w.primitive);
            prep.finish((x.primitive, w.primitive, g), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(run(&x.primitive, &w.primitive)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trainer::kernels::tests::{CpuAd, assert_close, random};

    #[test]
    fn convolution_and_its_gradients_match_burns_ops() {
        // (k, stride, pad, dilation, cin, cout, h, w, images)
        let cases = [
            (1, 1, 0, 1, 5, 7, 6, 9, 3),   // an image is its own column matrix
            (1, 2, 0, 1, 4, 3, 7, 8, 2),   // factorized reduce's halves
            (3, 1, 1, 1, 3, 6, 8, 8, 2),   // the DARTS stem
            (3, 2, 1, 1, 3, 5, 9, 7, 2),   // the MobileNetV3 stem, odd sizes
            (5, 1, 4, 2, 2, 3, 7, 6, 1),   // dilation 2
            (3, 2, 2, 2, 2, 2, 10, 11, 3), // stride 2 and dilation 2
            (2, 1, 0, 1, 3, 4, 5, 5, 9),   // an even kernel, more images than weight-gradient shares
        ];
        for (k, stride, pad, dilation, cin, cout, h, w, b) in cases {
            let g = ConvGeometry { k, stride, pad, dilation };
            let x0 = random([b, cin, h, w], 1.0);
            let w0 = random([cout, k * k * cin], 1.0);
            let out = unfolded_conv2d(x0.clone(), w0.clone(), g).dims();
            let weights = random(out, 1.0);
            let run = |native: bool| {
                let (x, w) = (x0.clone().require_grad(), w0.clone().require_grad());
                let y: Tensor<CpuAd, 4> = if native {
                    dense_conv2d(x.clone(), w.clone(), g)
                } else {
                    unfolded_conv2d(x.clone(), w.clone(), g)
                };
                let grads = (y.clone() * weights.clone()).sum().backward();
                [y.inner().into_data(), x.grad(&grads).unwrap().into_data(), w.grad(&grads).unwrap().into_data()]
            };
            let case = format!("{g:?}, input [{b}, {cin}, {h}, {w}], {cout} filters");
            assert_close(&run(true), &run(false), &["output", "input gradient", "weight gradient"], 1e-4, &case);
        }
    }
}
