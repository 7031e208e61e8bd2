//! `nas-search bench train`: training throughput of the built-in trainer on
//! a DARTS network (DARTS V2 cells, C=16, 8 cells by default) with 32x32
//! synthetic images (other sizes with --resolution): forward, backward and the SGD step, in images/s.

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
use crate::space::darts::DartsGenotype;
use crate::trainer::augment::{Normalize, batch};
use crate::trainer::train::Trainer;
use crate::trainer::{Network, TrainBudget};

/// Settings of `bench train`.
pub struct TrainBench {
    pub device: DeviceKind,
    pub channels: usize,
    pub cells: usize,
    pub batch: usize,
    /// Image side in pixels.
    pub resolution: usize,
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
    let genotype = DartsGenotype::darts_v2();
    let net = DartsNetConfig { channels: b.channels, cells: b.cells, ..Default::default() };
    let spec = NetSpec::Darts(darts_net::build(&genotype, &net));
    println!(
        "backend {} | threads {} | DARTS V2 network C={} cells={} ({:.2}M params, {:.1}M MACs) | batch {} | {r}x{r}",
        b.device.backend_name(),
        cpu_threads(),
        b.channels,
        b.cells,
        spec.cost().params as f64 / 1e6,
        spec.cost().macs as f64 / 1e6,
        b.batch,
        r = b.resolution
    );
    let params = spec.cost().params;
    let r = dispatch(b.device, Task { b: &b, spec })?;
    println!(
        "train: {:.1} images/s ({:.0} ms per step: forward + backward + SGD, median of {})",
        r.images_per_second, r.step_ms, b.steps
    );
    if b.compare_torch {
        let mut args = vec!["train".into(), "--genotype".into(), genotype.to_string()];
        args.extend(["--channels".into(), b.channels.to_string(), "--cells".into(), b.cells.to_string()]);
        args.extend(["--batch".into(), b.batch.to_string(), "--resolution".into(), b.resolution.to_string()]);
        args.extend(["--steps".into(), b.steps.to_string()]);
        if let Some(v) = torch::run(b.device, &args)? {
            let ips = torch::figure(&v, "images_per_s")?;
            println!("{}: {ips:.1} images/s", torch::label(&v));
            torch::check_params(&v, "network", params)?;
            println!("ratio nas-search / PyTorch (images/s, higher is faster): {:.2}", r.images_per_second / ips);
        }
    }
    Ok(r)
}

struct Task<'a> {
    b: &'a TrainBench,
    spec: NetSpec,
}

impl BackendTask for Task<'_> {
    type Output = TrainBenchResult;

    fn with_backend<B: AutodiffBackend>(self, device: B::Device) -> TrainBenchResult {
        let b = self.b;
        let res = b.resolution;
        let set = synthetic::generate(b.batch, res, 0, 0);
        let idx: Vec<usize> = (0..b.batch).collect();
        let norm = Normalize { mean: [0.5; 3], std: [0.25; 3] };
        let x =
            Tensor::<B, 4>::from_data(TensorData::new(batch(&set, &idx, &norm, None), [b.batch, 3, res, res]), &device);
        let labels: Vec<i64> = set.labels.iter().map(|&l| l as i64).collect();
        let y = Tensor::<B, 1, Int>::from_data(TensorData::new(labels, [b.batch]), &device);
        let budget = TrainBudget::new(1);
        let mut trainer = Trainer::<B>::new(&budget, device.clone());
        let mut model = Network::<B>::new(&self.spec, &mut StdRng::seed_from_u64(0), &device);
        let mut times = Vec::new();
        for i in 0..=b.steps {
            let t = Instant::now();
            let (m, _loss) = trainer.step(model, x.clone(), y.clone(), 0.01, None);
            model = m;
            if i > 0 {
                times.push(t.elapsed().as_secs_f64());
            }
        }
        let step = median(times);
        TrainBenchResult { images_per_second: b.batch as f64 / step, step_ms: step * 1000.0 }
    }
}
