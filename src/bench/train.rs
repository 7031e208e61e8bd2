//! `nas-search bench train`: training throughput of the built-in trainer,
//! forward, backward and the SGD step in images/s, on synthetic images: a
//! DARTS network (DARTS V2 cells, C=16, 8 cells, batch 64, 32x32 by
//! default) or an Once-for-All MobileNetV3 subnet at width 1.0 (kernel 5,
//! expand 4, depth 3 in every stage by default; batch 32, 64x64).

use std::time::Instant;

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::{median, torch};
use crate::backend::{BackendTask, DeviceKind, cpu_threads, dispatch};
use crate::data::synthetic;
use crate::net::NetSpec;
use crate::net::darts::{self as darts_net, DartsNetConfig};
use crate::net::mobilenet::{self as mobilenet_net, MobileNetConfig};
use crate::space::darts::DartsGenotype;
use crate::space::mobilenet::genotype as mobilenet_genotype;
use crate::trainer::augment::{Normalize, batch};
use crate::trainer::train::Trainer;
use crate::trainer::{Network, TrainBudget};

/// The network `bench train` times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchSpace {
    Darts,
    Mobilenetv3,
}

/// The MobileNetV3 subnet timed when no `--arch` is given: the middle
/// choice of every stage (kernel 5, expand 4, depth 3).
pub const MOBILENET_DEFAULT: &str = r#"{"ks": [5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5], "e": [4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4], "d": [3,3,3,3,3], "r": [64]}"#;

/// Settings of `bench train`.
pub struct TrainBench {
    pub device: DeviceKind,
    pub space: BenchSpace,
    /// DARTS: initial channels and cells.
    pub channels: usize,
    pub cells: usize,
    /// MobileNetV3: the OFA arch dict (its `r` is replaced by `resolution`).
    pub arch: Option<String>,
    /// Images per step (default 64 for DARTS, 32 for MobileNetV3).
    pub batch: Option<usize>,
    /// Image side in pixels (default 32 for DARTS, 64 for MobileNetV3).
    pub resolution: Option<usize>,
    pub steps: usize,
    /// Also time the same network in PyTorch (`scripts/torch_bench.py`).
    pub compare_torch: bool,
}

#[derive(Debug)]
pub struct TrainBenchResult {
    pub images_per_second: f64,
    pub step_ms: f64,
}

pub fn train(b: TrainBench) -> Result<TrainBenchResult> {
    let (batch, res) = match b.space {
        BenchSpace::Darts => (b.batch.unwrap_or(64), b.resolution.unwrap_or(32)),
        BenchSpace::Mobilenetv3 => (b.batch.unwrap_or(32), b.resolution.unwrap_or(64)),
    };
    // The network, its name, and the PyTorch twin's arguments for it.
    let (spec, name, mut args) = match b.space {
        BenchSpace::Darts => {
            let genotype = DartsGenotype::darts_v2();
            let cfg = DartsNetConfig { channels: b.channels, cells: b.cells, input_size: res, ..Default::default() };
            let spec = NetSpec::Darts(darts_net::build(&genotype, &cfg));
            let name = format!("DARTS V2 network C={} cells={}", b.channels, b.cells);
            let args = vec![
                "--genotype".to_string(),
                genotype.to_string(),
                "--channels".into(),
                b.channels.to_string(),
                "--cells".into(),
                b.cells.to_string(),
            ];
            (spec, name, args)
        }
        BenchSpace::Mobilenetv3 => {
            let text = b.arch.as_deref().unwrap_or(MOBILENET_DEFAULT);
            let arch = mobilenet_genotype::parse(text).map_err(|e| anyhow::anyhow!("--arch: {e}"))?;
            let net = mobilenet_net::build(&arch.stages(), res, &MobileNetConfig::default());
            let args = vec!["--mobilenet".to_string(), serde_json::to_string(&net)?];
            (NetSpec::MobileNet(net), format!("MobileNetV3 subnet {text}"), args)
        }
    };
    let cost = spec.cost();
    println!("{}", super::machine_line());
    println!(
        "backend {} | threads {} | {name} ({:.2}M params, {:.1}M MACs) | batch {batch} | {res}x{res}",
        b.device.backend_name(),
        cpu_threads(),
        cost.params as f64 / 1e6,
        cost.macs as f64 / 1e6,
    );
    let r = dispatch(b.device, Task { batch, res, steps: b.steps, spec })?;
    println!(
        "train: {:.1} images/s ({:.0} ms per step: forward + backward + SGD, median of {})",
        r.images_per_second, r.step_ms, b.steps
    );
    if b.compare_torch {
        args.insert(0, "train".into());
        args.extend(["--batch".into(), batch.to_string(), "--resolution".into(), res.to_string()]);
        args.extend(["--steps".into(), b.steps.to_string()]);
        if let Some(v) = torch::run(b.device, &args)? {
            let ips = torch::figure(&v, "images_per_s")?;
            println!("{}: {ips:.1} images/s", torch::label(&v));
            torch::check_params(&v, "network", cost.params)?;
            println!("ratio nas-search / PyTorch (images/s, higher is faster): {:.2}", r.images_per_second / ips);
        }
    }
    Ok(r)
}

struct Task {
    batch: usize,
    res: usize,
    steps: usize,
    spec: NetSpec,
}

impl BackendTask for Task {
    type Output = TrainBenchResult;

    fn with_backend<B: AutodiffBackend>(self, device: B::Device) -> TrainBenchResult {
        let (n, res) = (self.batch, self.res);
        let set = synthetic::generate(n, res, 0, 0);
        let idx: Vec<usize> = (0..n).collect();
        let norm = Normalize { mean: [0.5; 3], std: [0.25; 3] };
        let x = Tensor::<B, 4>::from_data(TensorData::new(batch(&set, &idx, &norm, None), [n, 3, res, res]), &device);
        let labels: Vec<i64> = set.labels.iter().map(|&l| l as i64).collect();
        let y = Tensor::<B, 1, Int>::from_data(TensorData::new(labels, [n]), &device);
        let budget = TrainBudget::new(1);
        let mut trainer = Trainer::<B>::new(&budget, device.clone());
        let mut model = Network::<B>::new(&self.spec, &mut StdRng::seed_from_u64(0), &device);
        let mut times = Vec::new();
        for i in 0..=self.steps {
            let t = Instant::now();
            let (m, _loss) = trainer.step(model, x.clone(), y.clone(), 0.01, None);
            model = m;
            if i > 0 {
                times.push(t.elapsed().as_secs_f64());
            }
        }
        let step = median(times);
        TrainBenchResult { images_per_second: n as f64 / step, step_ms: step * 1000.0 }
    }
}
