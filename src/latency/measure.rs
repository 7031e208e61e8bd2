//! `nas-search latency measure`: times the networks of a space's
//! architectures on this machine and appends one row each to a CSV.
//!
//! Each network is built with burn from the description the cost model
//! counts, with random weights, in inference mode (BatchNorm on its running
//! statistics), and run on one random input of the space's resolution:
//! `warmup` passes, then `repeats` timed passes (median, quartiles, extremes;
//! each pass waits for the result). The architectures are measured in a
//! seeded shuffled order, and the first `remeasure` of them are measured
//! again at the end: the two measurements of the same network, apart by the
//! whole measuring time, show how much the machine drifts (their coefficient
//! of variation is printed). Rows are appended as they are made: an
//! interrupted measurement continues where it stopped, with the same order.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Distribution, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::DeviceInfo;
use super::signature::network;
use super::table::LatencyRow;
use super::timing::{Timing, time};
use super::units::Unit;
use crate::backend::{BackendTask, DeviceKind, dispatch};
use crate::net::NetSpec;
use crate::space::{AnySpace, SpaceConfig};
use crate::trainer::Network;
use crate::trainer::layers::LayerStack;

/// How to time (the same for every network of one CSV).
#[derive(Clone, Debug, PartialEq)]
pub struct TimingSettings {
    pub device: DeviceKind,
    pub batch: usize,
    pub threads: usize,
    pub warmup: usize,
    pub repeats: usize,
}

/// What `latency measure` was asked to do.
pub struct MeasureRequest {
    pub space: PathBuf,
    /// The CSV rows are appended to (None: given architectures timed and
    /// printed only).
    pub out: Option<PathBuf>,
    pub what: Which,
    pub timing: TimingSettings,
    pub seed: u64,
    /// Networks measured again at the end (the first of the order; default
    /// 5% of them, at least 5 and at most 100).
    pub remeasure: Option<usize>,
    pub quiet: bool,
}

/// Which architectures `latency measure` times.
#[derive(Clone, Debug)]
pub enum Which {
    /// This many random ones (`-n`).
    Sample(usize),
    /// Every one (`--all`, a listable space).
    All,
    /// These, in this order (`--genotype`, `--file`).
    Given(Vec<String>),
}

/// What a finished measurement says.
#[derive(Clone, Debug)]
pub struct MeasureSummary {
    pub measured: usize,
    pub total: usize,
    /// Median latency over the networks, and the fastest and slowest.
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    /// Coefficients of variation between the two measurements of each re-measured network.
    pub repeat_cvs: Vec<f64>,
    /// The first measurement of each re-measured network "predicted" by its
    /// second: MAPE and ACC(10%) in percent, the noise floor of latency predictors here.
    pub repeat_floor: Option<(f64, f64)>,
    /// Seconds this process spent measuring, per network.
    pub seconds_per_network: f64,
    /// The given architectures' rows (`Which::Given`), in the order given.
    pub given: Vec<LatencyRow>,
}

/// Rows of a CSV this command appends to, and the file to append to. A
/// last line cut by a kill is dropped (its network is measured again).
pub fn open_appendable<T: DeserializeOwned>(path: &Path) -> Result<(Vec<T>, std::fs::File)> {
    let mut rows = Vec::new();
    if path.exists() {
        let mut bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        if !bytes.is_empty() && bytes.last() != Some(&b'\n') {
            let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            bytes.truncate(keep);
            // atomically: a kill while it is rewritten must not lose the rows measured before
            crate::atomic_file::write_atomic(path, &bytes)
                .with_context(|| format!("dropping the cut last line of {}", path.display()))?;
        }
        let mut r = csv::Reader::from_reader(bytes.as_slice());
        for (i, rec) in r.deserialize().enumerate() {
            rows.push(rec.with_context(|| {
                format!(
                    "{} row {} is malformed: is it a file this command wrote? (use another --out)",
                    path.display(),
                    i + 2
                )
            })?);
        }
    } else if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {} to append", path.display()))?;
    Ok((rows, file))
}

/// Appends `row` as one line (with the header first when the file is empty).
pub fn append_row<T: Serialize>(file: &mut std::fs::File, row: &T) -> Result<()> {
    let empty = file.metadata().map(|m| m.len() == 0).unwrap_or(false);
    let mut w = csv::WriterBuilder::new().has_headers(empty).from_writer(Vec::new());
    w.serialize(row)?;
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    file.write_all(&bytes)?;
    file.sync_data()?;
    Ok(())
}

/// The architectures to measure, in measuring order.
fn plan(space: &dyn AnySpace, what: &Which, seed: u64) -> Result<Vec<String>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut list = match what {
        Which::Given(list) => {
            let mut seen = HashSet::new();
            let mut out = Vec::new();
            for g in list {
                let text = space
                    .check_text(g)
                    .with_context(|| format!("`{g}` is not an architecture of the {} space", space.name()))?;
                if seen.insert(text.clone()) {
                    out.push(text);
                }
            }
            if out.is_empty() {
                bail!("no architecture given");
            }
            return Ok(out);
        }
        Which::All => space.all_texts().with_context(|| {
            format!("--all: the {} space is too large to list; measure a sample with --n N", space.name())
        })?,
        &Which::Sample(0) => bail!("-n 0: measure at least 1 network"),
        &Which::Sample(n) => {
            let mut seen = HashSet::new();
            let mut list = Vec::new();
            let mut tries = 0;
            while list.len() < n && tries < 100 * n + 1000 {
                let g = space.sample_text(&mut rng);
                tries += 1;
                if seen.insert(g.clone()) {
                    list.push(g);
                }
            }
            if list.len() < n {
                bail!("--n {n}: the space has only {} distinct architectures", list.len());
            }
            list
        }
    };
    list.shuffle(&mut rng);
    Ok(list)
}

/// Settings a CSV's earlier rows were made with, as a message when they
/// differ from `timing` on `here`.
fn settings_differ(
    row: &LatencyRow,
    here: &DeviceInfo,
    timing: &TimingSettings,
    space: &str,
    resolution: usize,
) -> Option<String> {
    let theirs = (row.device_info(), row.batch, row.warmup, row.repeats, row.space.as_str());
    let ours = (here.clone(), timing.batch, timing.warmup, timing.repeats, space);
    if row.space == space && row.resolution != resolution {
        return Some(format!(
            "its rows were measured at {0}x{0} (another configuration of the {space} space); this space's networks are {1}x{1}",
            row.resolution, resolution
        ));
    }
    (theirs != ours).then(|| {
        format!(
            "its rows were measured on {} (batch {}, warm-up {}, repeats {}, space {}); this command measures on {} (batch {}, warm-up {}, repeats {}, space {})",
            theirs.0.describe(),
            theirs.1,
            theirs.2,
            theirs.3,
            theirs.4,
            here.describe(),
            ours.1,
            ours.2,
            ours.3,
            ours.4
        )
    })
}

/// The most threads matrixmultiply (NdArray's matrix products) computes on.
pub const MATRIX_THREADS_MAX: usize = 4;

/// Makes NdArray's matrix products (matrixmultiply's own thread pool, sized
/// once, at the process's first product, from `MATMUL_NUM_THREADS`) use
/// `threads` as the timing rows will say, whatever the environment held.
/// Call it before the process computes anything. Returns what it changed,
/// for the log: None when the environment already said `threads`.
pub fn bind_matrix_threads(threads: usize) -> Option<String> {
    let before = std::env::var("MATMUL_NUM_THREADS").ok();
    let wanted = threads.max(1).to_string();
    if before.as_deref() == Some(wanted.as_str()) {
        return None;
    }
    // SAFETY: called before the process starts computing threads that could read the environment
    // (matrixmultiply reads it at its first product).
    unsafe { std::env::set_var("MATMUL_NUM_THREADS", &wanted) };
    let capped = if threads > MATRIX_THREADS_MAX {
        format!("; matrix products use at most {MATRIX_THREADS_MAX} of them")
    } else {
        String::new()
    };
    let was = before.map_or_else(|| "unset: every core".to_string(), |b| format!("it was {b}"));
    Some(format!("timing on {wanted} thread(s): MATMUL_NUM_THREADS set to {wanted} ({was}){capped}"))
}

/// Runs `f` with the backend computing on `threads` threads.
pub fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> Result<T> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build()?;
    Ok(pool.install(f))
}

/// Measures as `req` says.
pub fn measure(req: &MeasureRequest) -> Result<MeasureSummary> {
    let t = &req.timing;
    if t.batch == 0 || t.repeats == 0 || t.threads == 0 {
        bail!("--batch, --repeats and --threads must be at least 1");
    }
    if let Some(out) = req.out.as_ref().filter(|o| o.extension().is_some_and(|e| e == "gz")) {
        bail!("--out {}: measurements are appended as plain CSV; compress the file when it is complete", out.display());
    }
    let cfg = SpaceConfig::load(&req.space)?;
    let space = cfg.build()?;
    let here = DeviceInfo::here(t.device, t.threads);
    let order = plan(space.as_ref(), &req.what, req.seed)?;
    let resolution = network(space.as_ref(), &order[0])?.input_size();
    let (done, mut file) = match &req.out {
        Some(out) => {
            let (done, file) = open_appendable::<LatencyRow>(out)?;
            if let Some(first) = done.first()
                && let Some(why) = settings_differ(first, &here, t, space.name(), resolution)
            {
                bail!("{} holds other measurements: {why}; use another --out", out.display());
            }
            (done, Some(file))
        }
        None => (Vec::new(), None),
    };
    let measured: HashSet<(u32, String)> = done.iter().map(|r| (r.pass, r.genotype.clone())).collect();
    let default_again = match req.what {
        Which::Given(_) => 0,
        _ => order.len().div_ceil(20).clamp(5, 100),
    };
    let again = req.remeasure.unwrap_or(default_again).min(order.len());
    let todo: Vec<(u32, usize)> = (0..order.len())
        .map(|i| (1, i))
        .chain((0..again).map(|i| (2, i)))
        .filter(|&(pass, i)| !measured.contains(&(pass, order[i].clone())))
        .collect();
    if let Some(out) = &req.out
        && !done.is_empty()
        && !req.quiet
        && !todo.is_empty()
    {
        eprintln!("{}: {} rows measured before; measuring the other {}", out.display(), done.len(), todo.len());
    }
    let started = std::time::Instant::now();
    let bar = crate::progress::bar(todo.len() as u64, "latency", req.quiet);
    let mut rows = done;
    for &(pass, i) in &todo {
        let genotype = &order[i];
        let spec = network(space.as_ref(), genotype)?;
        let timing = with_threads(t.threads, || time_network(&spec, t))??;
        let cost = spec.cost();
        let row = LatencyRow {
            genotype: genotype.clone(),
            key: space.key_of(genotype)?,
            pass,
            order: i,
            latency_ms: timing.median,
            p25_ms: timing.p25,
            p75_ms: timing.p75,
            min_ms: timing.min,
            max_ms: timing.max,
            warmup: t.warmup,
            repeats: t.repeats,
            params: cost.params,
            macs: cost.macs,
            space: space.name().to_string(),
            device: here.device.clone(),
            device_name: here.device_name.clone(),
            backend: here.backend.clone(),
            threads: t.threads,
            batch: t.batch,
            resolution: spec.input_size(),
            date: crate::clock::utc_now(),
        };
        if let (Some(file), Some(out)) = (&mut file, &req.out) {
            append_row(file, &row).with_context(|| format!("appending to {}", out.display()))?;
        }
        rows.push(row);
        bar.inc(1);
        bar.set_message(format!("{:.2} ms", timing.median));
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let table = match &req.out {
        Some(out) => super::LatencyTable::load(out, "latency_ms")?,
        None => {
            let mut w = csv::Writer::from_writer(Vec::new());
            for r in &rows {
                w.serialize(r)?;
            }
            super::LatencyTable::parse(&w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?, "latency_ms")?
        }
    };
    let given = match &req.what {
        Which::Given(_) => order
            .iter()
            .map(|g| table.rows.iter().find(|r| &r.genotype == g).cloned().expect("measured above or before"))
            .collect(),
        _ => Vec::new(),
    };
    let mut lat: Vec<f64> = table.rows.iter().map(|r| r.latency_ms).collect();
    lat.sort_by(f64::total_cmp);
    Ok(MeasureSummary {
        measured: todo.len(),
        total: table.rows.len(),
        median_ms: super::timing::quantile(&lat, 0.5),
        min_ms: lat[0],
        max_ms: lat[lat.len() - 1],
        repeat_cvs: table.repeat_cvs(),
        repeat_floor: table.noise_floor(),
        seconds_per_network: if todo.is_empty() { 0.0 } else { seconds / todo.len() as f64 },
        given,
    })
}

/// What is timed: a whole network, or one unit of the look-up table.
#[derive(Clone, Copy)]
pub enum Timed<'a> {
    Network(&'a NetSpec),
    Unit(&'a Unit),
}

/// Times forward passes of `what` on `t.device`.
pub fn time_forward(what: Timed<'_>, t: &TimingSettings) -> Result<Timing> {
    dispatch(t.device, TimeForward { what, t })
}

/// Times one network's forward pass.
pub fn time_network(spec: &NetSpec, t: &TimingSettings) -> Result<Timing> {
    time_forward(Timed::Network(spec), t)
}

struct TimeForward<'a> {
    what: Timed<'a>,
    t: &'a TimingSettings,
}

impl BackendTask for TimeForward<'_> {
    type Output = Timing;

    fn with_backend<B: AutodiffBackend>(self, device: B::Device) -> Timing {
        time_on::<B::InnerBackend>(self.what, self.t, &device)
    }
}

/// Random weights (a fixed seed), random input, inference mode; reading
/// each result back waits for the device.
fn time_on<B: Backend>(what: Timed<'_>, t: &TimingSettings, device: &B::Device) -> Timing {
    let rng = &mut StdRng::seed_from_u64(0);
    let input = |c: usize, r: usize| Tensor::<B, 4>::random([t.batch, c, r, r], Distribution::Normal(0.0, 1.0), device);
    match what {
        Timed::Network(spec) => {
            let net = Network::<B>::new(spec, rng, device);
            let x = input(3, spec.input_size());
            time(t.warmup, t.repeats, || {
                let _ = net.forward(x.clone(), None, false).0.into_data();
            })
        }
        Timed::Unit(u) => {
            let stack = LayerStack::<B>::new(&u.seq, rng, device);
            let x = input(u.channels, u.size);
            time(t.warmup, t.repeats, || {
                let _ = stack.forward(x.clone()).into_data();
            })
        }
    }
}

/// Prints what a measurement did.
pub fn print_summary(req: &MeasureRequest, s: &MeasureSummary) {
    for r in &s.given {
        println!(
            "{:.3} ms (quartiles {:.3}-{:.3} ms of {} passes; {:.2}M params, {:.1}M MACs at {}x{}) {}",
            r.latency_ms,
            r.p25_ms,
            r.p75_ms,
            r.repeats,
            r.params as f64 / 1e6,
            r.macs as f64 / 1e6,
            r.resolution,
            r.resolution,
            r.genotype
        );
    }
    let Some(out) = &req.out else { return };
    println!(
        "{}: {} networks ({} measured now, {:.3} s each); latency median {:.3} ms, from {:.3} to {:.3} ms",
        out.display(),
        s.total,
        s.measured,
        s.seconds_per_network,
        s.median_ms,
        s.min_ms,
        s.max_ms
    );
    if s.repeat_cvs.is_empty() {
        println!("repeat noise: no network measured twice (--remeasure 0)");
    } else {
        let mut cv = s.repeat_cvs.clone();
        cv.sort_by(f64::total_cmp);
        let mean = cv.iter().sum::<f64>() / cv.len() as f64;
        println!(
            "repeat noise: {} networks measured again at the end; coefficient of variation between the two measurements median {:.2}%, mean {:.2}%, max {:.2}%",
            cv.len(),
            100.0 * super::timing::quantile(&cv, 0.5),
            100.0 * mean,
            100.0 * cv[cv.len() - 1]
        );
    }
    if let Some((mape, acc)) = s.repeat_floor {
        println!(
            "noise floor: the second measurement as a prediction of the first has MAPE {mape:.2}% and {acc:.1}% of networks within 10%"
        );
    }
}
