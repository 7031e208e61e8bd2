//! Predictor quality metrics: Kendall's tau-b (with ties, O(n log n)), MAPE and
//! ErrBnd. Pure functions over slices.

/// Kendall's tau-b between `x` and `y` (Knight's algorithm, O(n log n)).
/// Returns NaN when either side is constant or there are fewer than 2 points.
pub fn kendall_tau(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len(), "kendall_tau needs two equally long slices");
    let n = x.len();
    if n < 2 {
        return f64::NAN;
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]).then(y[a].total_cmp(&y[b])));
    let pairs = |len: u64| len * (len.saturating_sub(1)) / 2;
    let n0 = pairs(n as u64);

    // Ties in x (n1) and joint ties in (x, y) (n3), over runs of the sorted order.
    let (mut n1, mut n3) = (0u64, 0u64);
    let (mut run_x, mut run_xy) = (1u64, 1u64);
    for w in idx.windows(2) {
        let (a, b) = (w[0], w[1]);
        if x[a] == x[b] {
            run_x += 1;
            if y[a] == y[b] {
                run_xy += 1;
            } else {
                n3 += pairs(run_xy);
                run_xy = 1;
            }
        } else {
            n1 += pairs(run_x);
            n3 += pairs(run_xy);
            run_x = 1;
            run_xy = 1;
        }
    }
    n1 += pairs(run_x);
    n3 += pairs(run_xy);

    // Discordant pairs = swaps needed to sort y in this order.
    let mut ys: Vec<f64> = idx.iter().map(|&i| y[i]).collect();
    let mut buf = vec![0f64; n];
    let swaps = merge_count(&mut ys, &mut buf);

    // Ties in y (n2), now that ys is sorted.
    let mut n2 = 0u64;
    let mut run = 1u64;
    for w in ys.windows(2) {
        if w[0] == w[1] {
            run += 1;
        } else {
            n2 += pairs(run);
            run = 1;
        }
    }
    n2 += pairs(run);

    let num = n0 as f64 - n1 as f64 - n2 as f64 + n3 as f64 - 2.0 * swaps as f64;
    let den = ((n0 - n1) as f64 * (n0 - n2) as f64).sqrt();
    if den == 0.0 { f64::NAN } else { num / den }
}

/// Sorts `v` ascending and returns the number of inversions (strictly greater
/// elements before smaller ones).
fn merge_count(v: &mut [f64], buf: &mut [f64]) -> u64 {
    let n = v.len();
    if n < 2 {
        return 0;
    }
    let mid = n / 2;
    let mut swaps = merge_count(&mut v[..mid], &mut buf[..mid]) + merge_count(&mut v[mid..], &mut buf[mid..]);
    let (mut i, mut j, mut k) = (0, mid, 0);
    while i < mid && j < n {
        if v[j] < v[i] {
            buf[k] = v[j];
            swaps += (mid - i) as u64;
            j += 1;
        } else {
            buf[k] = v[i];
            i += 1;
        }
        k += 1;
    }
    buf[k..k + mid - i].copy_from_slice(&v[i..mid]);
    k += mid - i;
    buf[k..k + n - j].copy_from_slice(&v[j..n]);
    v.copy_from_slice(&buf[..n]);
    swaps
}

/// Mean absolute percentage error, as a fraction: mean(|p - y| / y).
pub fn mape(pred: &[f64], label: &[f64]) -> f64 {
    assert_eq!(pred.len(), label.len());
    pred.iter().zip(label).map(|(p, y)| ((p - y) / y).abs()).sum::<f64>() / pred.len() as f64
}

/// Share of predictions with |p - y| / y <= `bound`.
pub fn err_bound(pred: &[f64], label: &[f64], bound: f64) -> f64 {
    assert_eq!(pred.len(), label.len());
    pred.iter().zip(label).filter(|(p, y)| ((*p - *y) / *y).abs() <= bound).count() as f64 / pred.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn brute_force_tau_b(x: &[f64], y: &[f64]) -> f64 {
        let n = x.len();
        let (mut c, mut d, mut tx, mut ty) = (0f64, 0f64, 0f64, 0f64);
        for i in 0..n {
            for j in i + 1..n {
                let sx = (x[i] - x[j]).signum() * if x[i] == x[j] { 0.0 } else { 1.0 };
                let sy = (y[i] - y[j]).signum() * if y[i] == y[j] { 0.0 } else { 1.0 };
                if sx == 0.0 && sy == 0.0 {
                    continue;
                } else if sx == 0.0 {
                    tx += 1.0;
                } else if sy == 0.0 {
                    ty += 1.0;
                } else if sx == sy {
                    c += 1.0;
                } else {
                    d += 1.0;
                }
            }
        }
        (c - d) / ((c + d + tx) * (c + d + ty)).sqrt()
    }

    #[test]
    fn matches_brute_force_with_ties() {
        let mut rng = StdRng::seed_from_u64(7);
        for trial in 0..200 {
            let n = rng.random_range(2..120);
            let levels = if trial % 3 == 0 { 4 } else { 30 };
            let x: Vec<f64> = (0..n).map(|_| rng.random_range(0..levels) as f64).collect();
            let y: Vec<f64> = x.iter().map(|v| v + rng.random_range(0..levels) as f64 * 0.7).collect();
            let (fast, slow) = (kendall_tau(&x, &y), brute_force_tau_b(&x, &y));
            if slow.is_nan() {
                assert!(fast.is_nan());
            } else {
                assert!((fast - slow).abs() < 1e-12, "n={n}: {fast} vs {slow}");
            }
        }
    }

    #[test]
    fn perfect_and_reversed() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(kendall_tau(&x, &[10.0, 20.0, 30.0, 40.0]), 1.0);
        assert_eq!(kendall_tau(&x, &[4.0, 3.0, 2.0, 1.0]), -1.0);
        assert!(kendall_tau(&x, &[1.0, 1.0, 1.0, 1.0]).is_nan());
    }

    #[test]
    fn mape_and_error_bound() {
        let y = [1.0, 2.0, 4.0];
        let p = [1.05, 2.0, 3.0];
        assert!((mape(&p, &y) - (0.05 + 0.0 + 0.25) / 3.0).abs() < 1e-12);
        assert!((err_bound(&p, &y, 0.1) - 2.0 / 3.0).abs() < 1e-12);
    }
}
