//! Small numeric summaries shared by search logs, run reports and benchmarks,
//! so every "median" in the tool's output means the same thing, and every
//! comparison a summary states is made by one rule ([`Spread::compare`]).

/// The median of `v` (the mean of the two middle values when the length is
/// even); `None` for an empty slice. NaNs sort last (`f64::total_cmp`).
pub fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    (n > 0).then(|| if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// A set of measurements as mean and spread: what a summary states a
/// comparison with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n - 1); 0 for one measurement.
    pub std: f64,
}

/// How two spreads compare: a winner only when the intervals of their means
/// ([`Spread::interval`]) do not overlap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Higher,
    Lower,
    /// The intervals overlap: the difference is within noise.
    WithinNoise,
    /// One side has a single measurement: its noise is unknown.
    Unknown,
}

impl Spread {
    /// `None` for no measurements.
    pub fn of(v: &[f64]) -> Option<Self> {
        let n = v.len();
        if n == 0 {
            return None;
        }
        let mean = v.iter().sum::<f64>() / n as f64;
        let std = if n > 1 { (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt() } else { 0.0 };
        Some(Self { n, mean, std })
    }

    /// The interval of the mean, mean ± 2 standard errors (about 95% under
    /// normal noise); `None` for one measurement.
    pub fn interval(&self) -> Option<(f64, f64)> {
        (self.n > 1).then(|| {
            let half = 2.0 * self.std / (self.n as f64).sqrt();
            (self.mean - half, self.mean + half)
        })
    }

    /// How `self` compares with `other`.
    pub fn compare(&self, other: &Spread) -> Verdict {
        match (self.interval(), other.interval()) {
            (Some((lo, _)), Some((_, ohi))) if lo > ohi => Verdict::Higher,
            (Some((_, hi)), Some((olo, _))) if hi < olo => Verdict::Lower,
            (Some(_), Some(_)) => Verdict::WithinNoise,
            _ => Verdict::Unknown,
        }
    }

    /// `38.21 ± 1.10 (3)`: mean ± standard deviation, in %, and how many;
    /// one measurement: `38.21 (1)`.
    pub fn describe(&self) -> String {
        if self.n > 1 {
            format!("{:.2} ± {:.2} ({})", self.mean, self.std, self.n)
        } else {
            format!("{:.2} (1)", self.mean)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_winner_only_when_the_intervals_of_the_means_do_not_overlap() {
        let s = |v: &[f64]| Spread::of(v).unwrap();
        let a = s(&[40.0, 41.0, 39.0]);
        assert_eq!((a.n, a.mean, a.std), (3, 40.0, 1.0));
        // 2 standard errors: 2 / sqrt(3) = 1.155
        let (lo, hi) = a.interval().unwrap();
        assert!((lo - 38.845).abs() < 1e-3 && (hi - 41.155).abs() < 1e-3, "{lo} {hi}");
        assert_eq!(a.compare(&s(&[36.0, 37.0, 38.0])), Verdict::Higher);
        assert_eq!(s(&[36.0, 37.0, 38.0]).compare(&a), Verdict::Lower);
        // means 2 apart, but spreads wide enough to overlap
        assert_eq!(a.compare(&s(&[35.0, 38.0, 41.0])), Verdict::WithinNoise);
        assert_eq!(a.compare(&s(&[30.0])), Verdict::Unknown);
        assert_eq!(s(&[30.0]).describe(), "30.00 (1)");
        assert_eq!(a.describe(), "40.00 ± 1.00 (3)");
        assert_eq!(Spread::of(&[]), None);
    }

    #[test]
    fn median_of_odd_even_and_empty_inputs() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[7.0]), Some(7.0));
        assert_eq!(median(&[]), None);
    }
}
