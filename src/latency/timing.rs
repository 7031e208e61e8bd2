//! Times a closure: warm-up calls, then timed calls, summarised by their
//! median, quartiles and extremes (milliseconds).

use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Summary of timed calls, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub median: f64,
    pub p25: f64,
    pub p75: f64,
    pub min: f64,
    pub max: f64,
}

/// The `q`-quantile of sorted values (linear between neighbours).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl Timing {
    /// Summary of `ms` (one value per call).
    pub fn of(mut ms: Vec<f64>) -> Self {
        ms.sort_by(f64::total_cmp);
        Self {
            median: quantile(&ms, 0.5),
            p25: quantile(&ms, 0.25),
            p75: quantile(&ms, 0.75),
            min: ms.first().copied().unwrap_or(f64::NAN),
            max: ms.last().copied().unwrap_or(f64::NAN),
        }
    }
}

/// Calls `f` `warmup` times untimed, then `repeats` times timed.
pub fn time(warmup: usize, repeats: usize, mut f: impl FnMut()) -> Timing {
    for _ in 0..warmup {
        f();
    }
    let ms = (0..repeats.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    Timing::of(ms)
}

/// Coefficient of variation of two measurements of the same thing: their
/// standard deviation over their mean (`|a - b| / sqrt(2) / ((a + b) / 2)`).
pub fn pair_cv(a: f64, b: f64) -> f64 {
    (a - b).abs() / std::f64::consts::SQRT_2 / ((a + b) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_and_pair_cv_by_hand() {
        let t = Timing::of(vec![5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((t.min, t.p25, t.median, t.p75, t.max), (1.0, 2.0, 3.0, 4.0, 5.0));
        let t = Timing::of(vec![1.0, 2.0]);
        assert_eq!((t.p25, t.median, t.p75), (1.25, 1.5, 1.75));
        // 9 and 11: sd sqrt(2), mean 10
        assert!((pair_cv(9.0, 11.0) - 2f64.sqrt() / 10.0).abs() < 1e-12);
        assert_eq!(pair_cv(4.0, 4.0), 0.0);
    }
}
