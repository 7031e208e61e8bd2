//! Matrix products on slices through `gemm`, with any row and column
//! strides (a transpose or a column block of a wider array is read in
//! place), each row of a product bit-identical however many rows are
//! computed beside it. Native NAR-Former training and inference and the
//! built-in trainer's CPU convolutions use it.

/// A read-only matrix view: element (i, j) at `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> View<'a> {
    /// A row-major `rows x cols` matrix whose rows are `stride` apart.
    pub fn rows(data: &'a [f32], rows: usize, cols: usize, stride: usize) -> Self {
        Self { data, rows, cols, rs: stride, cs: 1 }
    }

    /// The transpose of [`View::rows`] of the same arguments.
    pub fn t(self) -> Self {
        Self { rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs, ..self }
    }

    fn check(&self) {
        if self.rows > 0 && self.cols > 0 {
            let last = end(self.rows - 1, self.rs, (self.cols - 1) * self.cs);
            assert!(last < self.data.len(), "matrix view past its data ({last} >= {})", self.data.len());
        }
    }
}

/// `i * stride + rest`, refusing to wrap around.
fn end(i: usize, stride: usize, rest: usize) -> usize {
    i.checked_mul(stride).and_then(|v| v.checked_add(rest)).expect("a matrix index overflows")
}

/// `out[i * out_rs + j]` (+)= (a @ b)[i, j]; `accumulate` keeps what `out` holds.
pub fn matmul(a: View, b: View, out: &mut [f32], out_rs: usize, accumulate: bool) {
    assert_eq!(a.cols, b.rows, "inner dimensions of a product");
    a.check();
    b.check();
    let (m, n, k) = (a.rows, b.cols, a.cols);
    if m == 0 || n == 0 {
        return;
    }
    assert!(end(m - 1, out_rs, n) <= out.len(), "product's output past its buffer");
    assert!(m == 1 || out_rs >= n, "the product's output rows must not overlap");
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                out[i * out_rs..i * out_rs + n].fill(0.0);
            }
        }
        return;
    }
    if m == 1 {
        // gemm sends a lone row through its matrix-vector path, which adds
        // into `out` in another order than its kernels: run it as two rows
        let row: Vec<f32> = (0..k).map(|j| a.data[j * a.cs]).collect();
        let twice = [&row[..], &row[..]].concat();
        let mut both = [&out[..n], &out[..n]].concat();
        matmul(View::rows(&twice, 2, k, k), b, &mut both, n, accumulate);
        out[..n].copy_from_slice(&both[..n]);
        return;
    }
    let pieces = k.div_ceil(MAX_INNER);
    let piece = k.div_ceil(pieces);
    for depth in (0..k).step_by(piece) {
        let kb = piece.min(k - depth);
        // SAFETY: every index the product touches is inside its slice
        // (checked above for a, b and out; the piece's columns of a and rows
        // of b lie inside theirs); out does not alias a or b (borrow rules).
        unsafe {
            gemm::gemm(
                m,
                n,
                kb,
                out.as_mut_ptr(),
                1,
                out_rs as isize,
                accumulate || depth > 0,
                a.data.as_ptr().add(depth * a.cs),
                a.cs as isize,
                a.rs as isize,
                b.data.as_ptr().add(depth * b.rs),
                b.cs as isize,
                b.rs as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
}

/// The longest inner dimension one `gemm` call sums. gemm cuts a longer one
/// into blocks whose length depends on the product's other sizes (512 when
/// both are at most 64, else from the cache, 320 at k = 640), so a row's
/// result would round differently with the number of rows beside it. Cut
/// here the same way for every shape, each row of a product depends on its
/// own row alone: a score on who it was scored with, a gradient on how the
/// batch was chunked.
const MAX_INNER: usize = 512;
