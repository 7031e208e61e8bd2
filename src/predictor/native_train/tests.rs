//! The native step against burn's autodiff (the reference) and against
//! finite differences.

use std::path::Path;

use burn::backend::{Autodiff, NdArray};
use burn::module::{AutodiffModule, Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::*;
use crate::predictor::dataset::{Encoded, EncodedSet};
use crate::predictor::loss::{LossIndices, LossWeights, loss as burn_loss};
use crate::predictor::model::NarFormerConfig;
use crate::predictor::step::StepBatch;
use crate::predictor::train::{Engine, TrainConfig, TrainData, train_with};

type Inner = NdArray<f32>;
type B = Autodiff<Inner>;
/// The reference runs in f64: burn-ndarray 0.21's f32 `recip` (softmax's
/// and the norms' backward) takes the CPU's reciprocal estimate on the
/// aligned part of a buffer (docs/determinism.md), so an f32 reference
/// moves by ~1e-3 of a parameter's scale with the heap's history; in f64
/// it is a division.
type Inner64 = NdArray<f64>;
type B64 = Autodiff<Inner64>;

/// Sets every parameter from a seeded generator (burn's own generator is
/// shared with the tests running beside these): weight matrices uniform in
/// +-1/sqrt(fan-in), norms' scales and shifts and all biases off their
/// initial 1 or 0 by up to 0.2, so a swapped or skipped one shows.
struct Jitter(StdRng);
impl<Bk: Backend> ModuleMapper<Bk> for Jitter {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<Bk, D>>) -> Param<Tensor<Bk, D>> {
        let (id, t, mapper) = param.consume();
        let dims = t.dims();
        let base: Vec<f32> = t.clone().into_data().convert::<f32>().to_vec().unwrap();
        let spread = if D >= 2 { 1.0 / (dims[0] as f32).sqrt() } else { 0.2 };
        let values: Vec<f32> =
            base.iter().map(|v| if D >= 2 { 0.0 } else { v.round() } + self.0.random_range(-spread..spread)).collect();
        let value = Tensor::<Bk, D>::from_data(TensorData::new(values, dims), &t.device());
        // a new leaf, so that autodiff gives the set parameter its gradient
        Param::from_mapped_value(id, value.require_grad(), mapper)
    }
}

/// `count` architectures of 4 to 8 tokens (so chunks are padded), each
/// followed by a twin of the same length.
fn set(count: usize, d: usize, depth: bool, rng: &mut StdRng) -> EncodedSet {
    let item = |len: usize, rng: &mut StdRng| Encoded {
        values: (0..len * d).map(|_| rng.random_range(-1.0..1.0)).collect(),
        len,
        depth: depth.then(|| (0..d).map(|_| rng.random_range(-1.0..1.0)).collect()),
    };
    let mut items = Vec::new();
    for _ in 0..count {
        let len = rng.random_range(4..=8);
        items.push(item(len, rng));
        items.push(item(len, rng));
    }
    EncodedSet::from_encoded(items, d)
}

/// A batch of the originals (even rows) and their twins (odd rows).
struct Batch {
    rows: Vec<usize>,
    labels: Vec<f32>,
    perm: Vec<usize>,
    twin_src: Vec<usize>,
    originals: usize,
}

fn batch(count: usize, rng: &mut StdRng) -> Batch {
    let mut rows: Vec<usize> = (0..count).map(|i| 2 * i).collect();
    rows.extend((0..count).map(|i| 2 * i + 1));
    let mut labels: Vec<f32> = (0..count).map(|_| rng.random_range(0.1..0.9)).collect();
    labels.extend(labels.clone());
    let mut perm: Vec<usize> = (0..2 * count).collect();
    perm.shuffle(rng);
    Batch { rows, labels, perm, twin_src: (0..count).collect(), originals: count }
}

const WEIGHTS: LossWeights = LossWeights { sr: 0.1, ac: 0.5 };

fn step_batch<'a>(set: &'a EncodedSet, b: &'a Batch, weights: LossWeights, dropout_seed: u64) -> StepBatch<'a> {
    StepBatch {
        set,
        rows: &b.rows,
        labels: &b.labels,
        perm: &b.perm,
        twin_src: &b.twin_src,
        originals: b.originals,
        weights,
        dropout_seed,
    }
}

/// Per parameter (in burn's visiting order): its name, burn's gradient
/// (computed in f64, see [`B64`]).
fn burn_gradients(model: &Predictor<B64>, set: &EncodedSet, b: &Batch) -> (f64, Vec<(String, Vec<f32>)>) {
    let device = Default::default();
    let ints = |v: &[usize]| {
        let v: Vec<i64> = v.iter().map(|&i| i as i64).collect();
        let n = v.len();
        Tensor::<B64, 1, Int>::from_data(TensorData::new(v, [n]), &device)
    };
    let pred = model.forward(&set.batch::<B64>(&b.rows, &device));
    let label = Tensor::from_data(TensorData::new(b.labels.clone(), [b.labels.len()]), &device);
    let l = burn_loss(pred, label, LossIndices { perm: ints(&b.perm), twin_src: Some(ints(&b.twin_src)) }, WEIGHTS);
    let total: f64 = l.total.clone().into_scalar();
    let grads = GradientsParams::from_grads(l.total.backward(), model);
    struct Collect<'a>(&'a GradientsParams, Vec<(String, Vec<f32>)>);
    impl ModuleVisitor<B64> for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B64, D>>) {
            let g = self.0.get::<Inner64, D>(param.id).map(|g| g.into_data().convert::<f32>().to_vec::<f32>().unwrap());
            let n = param.val().shape().num_elements();
            self.1.push((format!("param {} {:?}", self.1.len(), param.val().dims()), g.unwrap_or(vec![0.0; n])));
        }
    }
    let mut c = Collect(&grads, Vec::new());
    model.visit(&mut c);
    (total, c.1)
}

fn native_step(model: &Predictor<B>, cfg: &NarFormerConfig) -> NativeStep<B> {
    let Predictor::NarFormer(m) = model.valid() else { unreachable!() };
    let train = TrainConfig { epochs: 1, ..serde_yaml::from_str("epochs: 1").unwrap() };
    NativeStep::<B>::new(m, cfg, &train)
}

/// The native step's own f32 rounding, as a share of the model's largest
/// gradient: a weight's gradient is a sum over a few hundred token rows, and
/// where those terms cancel (a gradient near zero) the f32 sum keeps an
/// error of a few 1e-6 against the f64 reference (measured worst: 3.1e-5 of
/// the largest gradient, on a [32, 32] attention weight whose gradient is
/// under 1% of the largest). A skipped or swapped parameter errs by its whole
/// gradient, which the relative bound above still catches.
const ROUNDING: f32 = 5e-5;

fn check_gradients(cfg: NarFormerConfig, d: usize, seed: u64) {
    let device = Default::default();
    let model = Predictor::NarFormer(cfg.init::<B>(d, &device).map(&mut Jitter(StdRng::seed_from_u64(seed))));
    // the same parameters in f64: the jitter sets every value from its seed
    let model64 = Predictor::NarFormer(cfg.init::<B64>(d, &device).map(&mut Jitter(StdRng::seed_from_u64(seed))));
    let mut rng = StdRng::seed_from_u64(seed);
    let set = set(40, d, cfg.depth_token, &mut rng);
    let b = batch(40, &mut rng);
    let (burn_total, reference) = burn_gradients(&model64, &set, &b);
    let mut native = native_step(&model, &cfg);
    let sb = step_batch(&set, &b, WEIGHTS, 0);
    let (l, _) = native.gradients(&sb);
    assert!((l.total - burn_total).abs() < 1e-5, "loss: native {} burn {burn_total}", l.total);
    let g = &native.lanes[0];
    let global = reference.iter().flat_map(|(_, r)| r.iter()).fold(0f32, |m, v| m.max(v.abs()));
    let mut meaningful = 0;
    let mut at = 0;
    for (name, r) in &reference {
        let mine = &g[at..at + r.len()];
        at += r.len();
        // A parameter whose gradient is zero in exact arithmetic (the key
        // bias: softmax ignores a shift shared by all keys) or tiny is
        // compared against 1% of the whole model's gradient scale (float
        // rounding of the larger terms).
        let scale = r.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-2 * global);
        if r.iter().any(|v| v.abs() > 1e-3 * global) {
            meaningful += 1;
        }
        for (i, (a, b)) in mine.iter().zip(r).enumerate() {
            assert!(
                (a - b).abs() <= 2e-3 * scale + ROUNDING * global,
                "{name}[{i}]: native {a}, burn {b} (max |g| {scale}, {cfg:?})"
            );
        }
    }
    assert_eq!(at, g.len(), "every parameter compared");
    assert!(
        meaningful * 10 >= reference.len() * 8,
        "only {meaningful} of {} parameters have a gradient",
        reference.len()
    );
}

fn no_dropout(depths: Vec<usize>, heads: usize) -> NarFormerConfig {
    NarFormerConfig { depths, heads, d_ff: 48, dropout: 0.0, drop_path: 0.0, depth_token: true }
}

#[test]
fn gradients_match_burns_autodiff() {
    check_gradients(no_dropout(vec![2, 1, 2, 1], 4), 32, 1);
    check_gradients(NarFormerConfig { depth_token: false, ..no_dropout(vec![2, 1, 2, 1], 4) }, 32, 2);
    check_gradients(no_dropout(vec![3], 2), 16, 3);
    check_gradients(no_dropout(vec![1, 2], 3), 24, 4);
}

#[test]
fn gradients_match_finite_differences_with_dropout_and_drop_path() {
    let cfg =
        NarFormerConfig { depths: vec![2, 1, 1], heads: 2, d_ff: 16, dropout: 0.2, drop_path: 0.3, depth_token: true };
    let d = 8;
    let device = Default::default();
    let model = Predictor::NarFormer(cfg.init::<B>(d, &device).map(&mut Jitter(StdRng::seed_from_u64(7))));
    let mut rng = StdRng::seed_from_u64(7);
    let set = set(12, d, true, &mut rng);
    let b = batch(12, &mut rng);
    // MSE only: the L1 terms' kinks would blur the differences.
    let sb = step_batch(&set, &b, LossWeights { sr: 0.0, ac: 0.0 }, 99);
    let mut native = native_step(&model, &cfg);
    let (l0, _) = native.gradients(&sb);
    let g = native.lanes[0].clone();
    let (again, _) = native.gradients(&sb);
    assert_eq!(l0.total, again.total, "the same seed, the same dropout masks");
    let other = StepBatch { dropout_seed: 100, ..sb };
    assert_ne!(native.gradients(&other).0.total, l0.total, "dropout is on: another seed, other masks");
    let h = 1e-2f32;
    let (mut checked, mut failed) = (0, Vec::new());
    for i in (0..g.len()).step_by(7) {
        if g[i].abs() < 1e-3 {
            continue;
        }
        let keep = native.params[i];
        native.params[i] = keep + h;
        let up = native.gradients(&sb).0.total;
        native.params[i] = keep - h;
        let down = native.gradients(&sb).0.total;
        native.params[i] = keep;
        let fd = ((up - down) / (2.0 * h as f64)) as f32;
        checked += 1;
        if (fd - g[i]).abs() > 0.05 * g[i].abs() + 2e-4 {
            failed.push((i, fd, g[i]));
        }
    }
    assert!(checked > 100, "only {checked} parameters with a gradient to check");
    // A ReLU or dropout kink inside +-h may spoil a rare difference.
    assert!(failed.len() * 50 <= checked, "{} of {checked} differ from finite differences: {failed:?}", failed.len());
}

/// A model config of 24-wide tokens around `transformer`.
fn tiny(transformer: NarFormerConfig) -> ModelConfig {
    ModelConfig::NarFormer { tokenizer: serde_yaml::from_str("{ lx: 4, lp: 4, lr: 4 }").unwrap(), transformer }
}

/// `set`'s first `train` originals (rows 2i; their twins 2i + 1 when
/// `twins`) with random labels to train on, the next `val` to validate on.
fn train_data<'a>(set: &'a EncodedSet, train: usize, val: usize, twins: bool, rng: &mut StdRng) -> TrainData<'a> {
    TrainData {
        set,
        train_rows: (0..train).map(|i| 2 * i).collect(),
        train_labels: (0..train).map(|_| rng.random_range(0.1..0.9)).collect(),
        twins: (0..train).map(|i| if twins { vec![2 * i + 1] } else { Vec::new() }).collect(),
        val_rows: (train..train + val).map(|i| 2 * i).collect(),
        val_labels: (0..val).map(|i| i as f32 / val as f32).collect(),
    }
}

fn train_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("nas-search-native-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn weights(dir: &Path, name: &str, template: &NarFormer<Inner>) -> Vec<f32> {
    let device = Default::default();
    let latest = std::fs::read_to_string(dir.join("checkpoint/latest")).unwrap();
    let ckpt = dir.join("checkpoint").join(latest.trim());
    match checkpoint::load_module(Predictor::NarFormer(template.clone()), &ckpt, name, &device).unwrap() {
        Predictor::NarFormer(m) => flatten(&m).1,
        Predictor::Mlp(_) => unreachable!(),
    }
}

#[test]
fn an_epoch_ends_at_burns_weights() {
    let model_cfg = tiny(no_dropout(vec![2, 1, 1], 2));
    let d = crate::predictor::dataset::width(&model_cfg);
    let mut rng = StdRng::seed_from_u64(5);
    let set = set(128, d, true, &mut rng);
    let data = train_data(&set, 120, 8, true, &mut rng);
    // eps well above rounding noise: Adam would turn the key bias's
    // rounding-noise gradient (zero in exact arithmetic) into full steps.
    // Batches of 40 and their twins: three chunks in three lanes; a weight
    // decay that moves weights well past the tolerance.
    let cfg: TrainConfig = serde_yaml::from_str(
        "{ epochs: 1, batch_size: 40, lr: 0.001, eps: 1.0e-4, weight_decay: 0.5, grad_clip_norm: 0.05, seed: 2 }",
    )
    .unwrap();
    let device = Default::default();
    let (burn_dir, native_dir) = (train_dir("burn"), train_dir("native"));
    // Seeded here (burn's generator is shared with the tests beside this),
    // one copy given to both.
    let start: Predictor<B> = model_cfg.init::<B>(&device).map(&mut Jitter(StdRng::seed_from_u64(6)));
    train_with::<B>(Engine::Burn, Some(start.clone()), &model_cfg, &cfg, &data, &burn_dir, &device, |_| {}).unwrap();
    train_with::<B>(Engine::Native, Some(start), &model_cfg, &cfg, &data, &native_dir, &device, |_| {}).unwrap();
    let Predictor::NarFormer(template) = model_cfg.init::<Inner>(&device) else { unreachable!() };
    let burn: Vec<Vec<f32>> = ["model", "ema"].iter().map(|n| weights(&burn_dir, n, &template)).collect();
    let native: Vec<Vec<f32>> = ["model", "ema"].iter().map(|n| weights(&native_dir, n, &template)).collect();
    // The moving average trails the weights by ~97% of what they moved.
    let moved = burn[0].iter().zip(&burn[1]).fold(0f32, |m, (a, e)| m.max((a - e).abs()));
    assert!(moved > 1e-3, "the epoch moved the weights by {moved} only");
    for (name, (a, b)) in ["model", "ema"].iter().zip(burn.iter().zip(&native)) {
        let worst = a.iter().zip(b).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst < 2e-5, "{name}: native and burn differ by up to {worst} after an epoch (moved {moved})");
    }
    let log = |dir: &Path| std::fs::read_to_string(dir.join("train_log.csv")).unwrap();
    let loss_of = |text: String| -> f64 { text.lines().nth(1).unwrap().split(',').nth(1).unwrap().parse().unwrap() };
    let (lb, ln) = (loss_of(log(&burn_dir)), loss_of(log(&native_dir)));
    assert!((lb - ln).abs() < 1e-5, "epoch loss: burn {lb}, native {ln}");
    for dir in [burn_dir, native_dir] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn a_checkpoint_of_the_other_engine_is_refused_by_name_or_continued_by_its_own() {
    let model_cfg = tiny(no_dropout(vec![1, 1], 2));
    let d = crate::predictor::dataset::width(&model_cfg);
    let mut rng = StdRng::seed_from_u64(9);
    let set = set(20, d, true, &mut rng);
    let data = train_data(&set, 16, 4, false, &mut rng);
    let two: TrainConfig = serde_yaml::from_str("{ epochs: 2, batch_size: 8 }").unwrap();
    let device = Default::default();
    let start: Predictor<B> = model_cfg.init::<B>(&device).map(&mut Jitter(StdRng::seed_from_u64(10)));
    let stop_after_one = |dir: &Path, engine: Engine| {
        // a training killed after its first epoch's checkpoint
        let mut epochs = 0;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            train_with::<B>(engine, Some(start.clone()), &model_cfg, &two, &data, dir, &device, |_| {
                epochs += 1;
                assert!(epochs < 1, "killed");
            })
        }));
        assert!(result.is_err(), "the training was stopped");
    };
    for (first, then, named) in
        [(Engine::Burn, Engine::Native, "burn's autodiff"), (Engine::Native, Engine::Burn, "native")]
    {
        let dir = train_dir("engines");
        stop_after_one(&dir, first);
        let err = train_with::<B>(then, None, &model_cfg, &two, &data, &dir, &device, |_| {}).err().expect("refused");
        let text = format!("{err:#}");
        assert!(text.contains(named) && text.contains("ckpt-"), "{text}");
        std::fs::remove_dir_all(dir).unwrap();
    }
    // The automatic choice continues a checkpoint of burn's path with burn's
    // path, ending where an uninterrupted burn training ends.
    let (cut, whole) = (train_dir("auto-cut"), train_dir("auto-whole"));
    stop_after_one(&cut, Engine::Burn);
    train_with::<B>(Engine::Auto, None, &model_cfg, &two, &data, &cut, &device, |_| {}).unwrap();
    train_with::<B>(Engine::Burn, Some(start.clone()), &model_cfg, &two, &data, &whole, &device, |_| {}).unwrap();
    let Predictor::NarFormer(template) = model_cfg.init::<Inner>(&device) else { unreachable!() };
    assert_eq!(weights(&cut, "model", &template), weights(&whole, "model", &template));
    assert!(cut.join("checkpoint/ckpt-000002/optim.mpk").exists(), "continued by burn's path");
    for dir in [cut, whole] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn drop_path_rates_are_the_burn_models() {
    let cfg = NarFormerConfig {
        depths: vec![3, 2, 1, 2],
        heads: 2,
        d_ff: 16,
        dropout: 0.1,
        drop_path: 0.3,
        depth_token: true,
    };
    let model = cfg.init::<Inner>(8, &Default::default());
    let (layout, _) = flatten(&model);
    let mut burn = Vec::new();
    for b in &model.encoder {
        burn.extend([b.drop_path, b.ffn.drop_path]);
    }
    for s in &model.stages {
        burn.extend(s.fuse.iter().chain([&s.cross]).map(|c| c.ffn.drop_path));
        for b in &s.extra {
            burn.extend([b.drop_path, b.ffn.drop_path]);
        }
    }
    assert!(burn.iter().any(|&r| r > 0.0) && burn.windows(2).any(|w| w[0] != w[1]), "rates differ by block: {burn:?}");
    assert_eq!(NativeModel::new(&model, &cfg, &layout).drop_path_rates(), burn);
}

#[test]
fn a_steps_gradients_do_not_depend_on_the_thread_count() {
    let cfg =
        NarFormerConfig { depths: vec![2, 1, 1], heads: 2, d_ff: 16, dropout: 0.2, drop_path: 0.2, depth_token: true };
    let model = Predictor::NarFormer(cfg.init::<B>(8, &Default::default()).map(&mut Jitter(StdRng::seed_from_u64(3))));
    let mut rng = StdRng::seed_from_u64(3);
    let set = set(80, 8, true, &mut rng);
    let b = batch(80, &mut rng);
    let sb = step_batch(&set, &b, WEIGHTS, 5);
    let grads = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let mut native = native_step(&model, &cfg);
        pool.install(|| native.gradients(&sb));
        native.lanes[0].clone()
    };
    let one = grads(1);
    assert!(one.iter().any(|&g| g != 0.0));
    assert_eq!(one, grads(3), "1 thread and 3 threads");
}

#[test]
fn a_native_training_stopped_after_a_checkpoint_resumes_to_the_uninterrupted_result() {
    let model_cfg = tiny(NarFormerConfig {
        depths: vec![1, 1, 1],
        heads: 2,
        d_ff: 16,
        dropout: 0.1,
        drop_path: 0.1,
        depth_token: true,
    });
    let d = crate::predictor::dataset::width(&model_cfg);
    let mut rng = StdRng::seed_from_u64(4);
    let set = set(40, d, true, &mut rng);
    let data = train_data(&set, 36, 4, true, &mut rng);
    let cfg: TrainConfig = serde_yaml::from_str("{ epochs: 3, batch_size: 8, lr: 0.001, seed: 1 }").unwrap();
    let device = Default::default();
    let start: Predictor<B> = model_cfg.init::<B>(&device).map(&mut Jitter(StdRng::seed_from_u64(11)));
    let (cut, whole) = (train_dir("native-cut"), train_dir("native-whole"));
    let mut epochs = 0;
    let killed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        train_with::<B>(Engine::Native, Some(start.clone()), &model_cfg, &cfg, &data, &cut, &device, |_| {
            epochs += 1;
            assert!(epochs < 2, "killed after epoch 2's checkpoint");
        })
    }));
    assert!(killed.is_err());
    let resumed = train_with::<B>(Engine::Auto, None, &model_cfg, &cfg, &data, &cut, &device, |_| {}).unwrap();
    assert_eq!(resumed.resumed_from, 2);
    train_with::<B>(Engine::Native, Some(start), &model_cfg, &cfg, &data, &whole, &device, |_| {}).unwrap();
    let Predictor::NarFormer(template) = model_cfg.init::<Inner>(&device) else { unreachable!() };
    for name in ["model", "ema", "adam_m", "adam_v"] {
        assert_eq!(weights(&cut, name, &template), weights(&whole, name, &template), "{name}");
    }
    let log = |dir: &Path| -> Vec<String> {
        let text = std::fs::read_to_string(dir.join("train_log.csv")).unwrap();
        text.lines().map(|l| l.rsplit_once(',').unwrap().0.to_string()).collect()
    };
    assert_eq!(log(&cut), log(&whole), "the log, but for its seconds");
    for dir in [cut, whole] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// Each row of a product is a function of its own row alone, to the bit:
/// however many rows come with it (one, a few, more than gemm's small-size
/// cut of 64), wherever it sits, with an inner dimension past one gemm call
/// (split the same way for every shape) and added into what `out` holds.
#[test]
fn a_row_of_a_product_does_not_depend_on_the_rows_beside_it() {
    use super::ops::{View, matmul};
    let mut rng = StdRng::seed_from_u64(11);
    for (k, n) in [(640, 32), (1100, 3), (513, 65), (48, 96), (640, 1), (2, 9)] {
        let a: Vec<f32> = (0..160 * k).map(|_| rng.random_range(-1.0..1.0)).collect();
        let b: Vec<f32> = (0..k * n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let bias: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let product = |first: usize, m: usize| {
            let mut out = bias.repeat(m);
            matmul(View::rows(&a[first * k..], m, k, k), View::rows(&b, k, n, n), &mut out, n, true);
            out.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        };
        let all = product(0, 160);
        for m in [1, 2, 5, 63, 64, 65, 100] {
            for first in [0, 3, 60] {
                assert_eq!(product(first, m), all[first * n..(first + m) * n], "k {k}, n {n}: rows {first}.. of {m}");
            }
        }
    }
}
