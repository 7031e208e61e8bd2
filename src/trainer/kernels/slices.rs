//! The inner loops of the kernels, written so the compiler vectorises them:
//! unit strides as plain slices (an iterator with `step_by` is not
//! vectorised), sums in eight f32 lanes (a float sum in one accumulator
//! cannot be reordered, so it is not vectorised either). Lanes are summed
//! in a fixed order: a result does not depend on threads or batching.

const LANES: usize = 8;

/// `out[i] += a * x[i * stride]` for every `i` of `out`.
#[inline]
pub fn add_scaled(out: &mut [f32], x: &[f32], stride: usize, a: f32) {
    if stride == 1 {
        let n = out.len();
        out.iter_mut().zip(&x[..n]).for_each(|(o, v)| *o += a * v);
    } else {
        out.iter_mut().zip(x.iter().step_by(stride)).for_each(|(o, v)| *o += a * v);
    }
}

/// `out[i * stride] += a * d[i]` for every `i` of `d`.
#[inline]
pub fn scatter_scaled(out: &mut [f32], stride: usize, d: &[f32], a: f32) {
    if stride == 1 {
        out[..d.len()].iter_mut().zip(d).for_each(|(o, v)| *o += a * v);
    } else {
        out.iter_mut().step_by(stride).zip(d).for_each(|(o, v)| *o += a * v);
    }
}

/// `sum over i of d[i] * x[i * stride]`.
#[inline]
pub fn dot(d: &[f32], x: &[f32], stride: usize) -> f32 {
    if stride == 1 {
        lanes2(d, &x[..d.len()], |a, b| a * b)
    } else {
        d.iter().zip(x.iter().step_by(stride)).map(|(a, b)| a * b).sum()
    }
}

/// `sum over i of f(a[i], b[i])` in eight lanes (`a` and `b` the same length).
#[inline]
pub fn lanes2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    lanes2_pair(a, b, |a, b| (f(a, b), 0.0)).0
}

/// Two sums over one pass: `sum over i of f(a[i], b[i])`, each component
/// summed as [`lanes2`] sums it.
#[inline]
pub fn lanes2_pair(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> (f32, f32)) -> (f32, f32) {
    let (mut acc0, mut acc1) = ([0f32; LANES], [0f32; LANES]);
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (ca, cb) in ca.zip(cb) {
        for i in 0..LANES {
            let (u, v) = f(ca[i], cb[i]);
            acc0[i] += u;
            acc1[i] += v;
        }
    }
    let (mut tail0, mut tail1) = (0f32, 0f32);
    for (&a, &b) in ra.iter().zip(rb) {
        let (u, v) = f(a, b);
        tail0 += u;
        tail1 += v;
    }
    (acc0.iter().sum::<f32>() + tail0, acc1.iter().sum::<f32>() + tail1)
}

/// `sum over i of f(v[i])` in eight lanes.
#[inline]
pub fn lanes(v: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    lanes2(v, v, |a, _| f(a))
}
