//! `nas-search bench noise`: how much of a built-in evaluation's accuracy is
//! the architecture and how much is the training's luck. Random cells of a
//! run config's space are trained several times each at its proxy budget,
//! every repeat with another training seed; the spread of one cell's
//! repeats (the noise a predictor learns from) is set against the spread
//! between cells (what a search can exploit).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use burn::tensor::backend::AutodiffBackend;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::backend::{BackendTask, dispatch};
use crate::eval::builtin::{BuiltinConfig, BuiltinEvaluator};
use crate::eval::one::{builtin_of, load_resolved};
use crate::eval::{Budget, EvalContext, EvalEvent, EvalJob, Evaluator, Flow};
use crate::space::AnySpace;

/// Settings of `bench noise`.
pub struct NoiseBench {
    /// A run config with a built-in trainer (e.g. experiments/quickstart.yaml).
    pub config: PathBuf,
    pub overrides: Vec<String>,
    pub cells: usize,
    pub repeats: usize,
    /// Seed of the cells drawn and of the training seeds.
    pub seed: u64,
    /// CSV of every training (cell, repeat, accuracy, seconds).
    pub out: Option<PathBuf>,
}

/// The figures `bench noise` prints.
#[derive(Debug)]
pub struct NoiseReport {
    /// accuracies[cell][repeat], in %.
    pub accuracies: Vec<Vec<f64>>,
    pub genotypes: Vec<String>,
    /// Pooled standard deviation of one cell's repeats (points of accuracy).
    pub repeat_sd: f64,
    /// Standard deviation of the cells' mean accuracies.
    pub between_sd: f64,
    /// Share of one evaluation's variance that is the architecture's
    /// (intraclass correlation; 1 = no training noise).
    pub architecture_share: f64,
    pub seconds_per_training: f64,
}

pub fn noise(b: NoiseBench) -> Result<NoiseReport> {
    anyhow::ensure!(b.cells >= 2 && b.repeats >= 2, "bench noise needs at least 2 cells and 2 repeats");
    let cfg = load_resolved(&b.config, &b.overrides)?;
    let builtin = builtin_of(&cfg, &b.config)?;
    let space: Arc<dyn AnySpace> = Arc::from(cfg.space_config().build()?);
    let mut rng = StdRng::seed_from_u64(crate::seed::derive(b.seed, &[b"noise-cells"]));
    let genotypes: Vec<String> = (0..b.cells).map(|_| space.sample_text(&mut rng)).collect();
    println!(
        "{}: {} random cells x {} trainings each (another training seed each time), budget `proxy`",
        b.config.display(),
        b.cells,
        b.repeats
    );
    let task = Task {
        builtin,
        space,
        genotypes: &genotypes,
        repeats: b.repeats,
        seed: b.seed,
        dir: b.config.parent().unwrap_or(Path::new(".")),
    };
    let (accuracies, seconds) = dispatch(cfg.device, task)??;
    let report = summarise(accuracies, genotypes, &seconds);
    for (i, (accs, g)) in report.accuracies.iter().zip(&report.genotypes).enumerate() {
        let list: Vec<String> = accs.iter().map(|a| format!("{a:5.1}")).collect();
        println!("cell {i:2}: {} | mean {:5.1} | {g}", list.join(" "), mean(accs));
    }
    println!(
        "repeat noise of one cell (pooled SD): {:.2} points | spread between cells (SD of means): {:.2} points | \
         architecture's share of one evaluation's variance: {:.2} | {:.1} s per training (median)",
        report.repeat_sd, report.between_sd, report.architecture_share, report.seconds_per_training
    );
    if let Some(out) = &b.out {
        write_csv(out, &report, &seconds).with_context(|| format!("writing {}", out.display()))?;
        println!("wrote {}", out.display());
    }
    Ok(report)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Sample variance (n - 1).
fn variance(v: &[f64]) -> f64 {
    let m = mean(v);
    v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64
}

/// The noise figures of `accuracies[cell][repeat]` (every cell with the
/// same number of repeats, at least 2 cells of 2).
fn summarise(accuracies: Vec<Vec<f64>>, genotypes: Vec<String>, seconds: &[f64]) -> NoiseReport {
    let repeats = accuracies[0].len() as f64;
    let within = mean(&accuracies.iter().map(|a| variance(a)).collect::<Vec<_>>());
    let means: Vec<f64> = accuracies.iter().map(|a| mean(a)).collect();
    let var_means = variance(&means);
    // The cell means still carry within/repeats of noise; what is left is the architecture's.
    let arch = (var_means - within / repeats).max(0.0);
    let share = if arch + within > 0.0 { arch / (arch + within) } else { 0.0 };
    NoiseReport {
        accuracies,
        genotypes,
        repeat_sd: within.sqrt(),
        between_sd: var_means.sqrt(),
        architecture_share: share,
        seconds_per_training: crate::stats::median(seconds).unwrap_or(0.0),
    }
}

fn write_csv(path: &Path, r: &NoiseReport, seconds: &[f64]) -> Result<()> {
    let mut f = std::fs::File::create(path)?;
    writeln!(f, "cell,repeat,accuracy,seconds,genotype")?;
    let repeats = r.accuracies[0].len();
    for (c, (accs, g)) in r.accuracies.iter().zip(&r.genotypes).enumerate() {
        for (k, a) in accs.iter().enumerate() {
            writeln!(f, "{c},{k},{a},{:.2},\"{g}\"", seconds[c * repeats + k])?;
        }
    }
    Ok(())
}

struct Task<'a> {
    builtin: BuiltinConfig,
    space: Arc<dyn AnySpace>,
    genotypes: &'a [String],
    repeats: usize,
    seed: u64,
    dir: &'a Path,
}

impl BackendTask for Task<'_> {
    /// accuracies[cell][repeat] and the seconds of each training, cell-major.
    type Output = Result<(Vec<Vec<f64>>, Vec<f64>)>;

    fn with_backend<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let mut acc = vec![vec![0.0; self.repeats]; self.genotypes.len()];
        let mut secs = vec![0.0; self.genotypes.len() * self.repeats];
        for r in 0..self.repeats {
            // The evaluator derives each training's seed from the context's seed and the key.
            let seed = crate::seed::derive(self.seed, &[b"noise-repeat", &r.to_le_bytes()]);
            let ctx = EvalContext { space: self.space.clone(), run_dir: self.dir, seed };
            let evaluator = BuiltinEvaluator::<B>::new(&self.builtin, &ctx, device.clone())?;
            let jobs: Vec<EvalJob> = self
                .genotypes
                .iter()
                .map(|g| EvalJob { key: g.clone(), genotype: g.clone(), budget: Budget::Proxy })
                .collect();
            let mut failure = None;
            evaluator.evaluate(&jobs, &mut |event| {
                if let EvalEvent::Done(c, o) = event {
                    match o.accuracy {
                        Some(a) => {
                            acc[c][r] = a;
                            secs[c * self.repeats + r] = o.seconds;
                            eprintln!("  cell {c} repeat {r}: {a:.1}% in {:.1} s", o.seconds);
                        }
                        None => failure = Some(format!("cell {c} ({}): {}", jobs[c].genotype, o.error)),
                    }
                }
                Ok(if failure.is_some() { Flow::Stop } else { Flow::Continue })
            })?;
            if let Some(f) = failure {
                anyhow::bail!("a training failed, so the noise cannot be measured: {f}");
            }
        }
        Ok((acc, secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_architectures_share_is_one_without_noise_and_zero_without_differences() {
        let clean = summarise(vec![vec![50.0, 50.0], vec![60.0, 60.0]], vec!["a".into(), "b".into()], &[1.0; 4]);
        assert_eq!(clean.repeat_sd, 0.0);
        assert!((clean.architecture_share - 1.0).abs() < 1e-12);
        // Both cells the same up to noise: their means differ by less than the noise explains.
        let noisy = summarise(vec![vec![40.0, 60.0], vec![45.0, 55.0]], vec!["a".into(), "b".into()], &[1.0; 4]);
        assert!((noisy.repeat_sd - (125f64).sqrt()).abs() < 1e-9, "{}", noisy.repeat_sd);
        assert_eq!(noisy.architecture_share, 0.0);
    }

    #[test]
    fn the_share_follows_the_variance_components() {
        // Cell means 40 and 60 (variance 200), repeats ±1 (variance 2): share = (200 - 2/2) / (199 + 2).
        let r = summarise(vec![vec![39.0, 41.0], vec![59.0, 61.0]], vec!["a".into(), "b".into()], &[1.0; 4]);
        assert!((r.architecture_share - 199.0 / 201.0).abs() < 1e-12);
        assert!((r.between_sd - 200f64.sqrt()).abs() < 1e-12);
    }
}
