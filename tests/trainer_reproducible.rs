//! Same seed, same bits, in another process: the built-in trainer trains a
//! DARTS network (auxiliary head, label smoothing, drop-path), a
//! MobileNetV3 (squeeze-and-excite, h-swish) and a NAS-Bench-201 network at
//! batch 64 in two processes that differ in their heap's history and their
//! thread count, and every weight, loss and accuracy must agree to the bit.
//!
//! Each process is this test binary run again on the ignored test
//! `one_process_trains_and_prints_a_digest`, which prints one line per
//! network. (Until burn-ndarray 0.21's reciprocal estimate was taken out of
//! the loss, two processes drifted apart by ~1e-4 in the loss gradient.)

mod common;

use std::fmt::Write as _;
use std::process::Command;

use burn::backend::{Autodiff, NdArray};
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use nas_search::data::{ImageData, synthetic};
use nas_search::space::SpaceConfig;
use nas_search::trainer::darts_net::DropPath;
use nas_search::trainer::train::Trainer;
use nas_search::trainer::{Network, TrainBudget, train_and_test};
use rand::SeedableRng;
use rand::rngs::StdRng;

type B = Autodiff<NdArray<f32>>;

/// Set in a child process: how much heap to stir before training.
const CHILD: &str = "NAS_SEARCH_TEST_TRAINING_CHILD";

/// A hash of every trainable weight's bits, in the module's order.
struct Digest(u64);

impl<Bk: Backend> ModuleVisitor<Bk> for Digest {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Bk, D>>) {
        let bytes: Vec<u8> = param.val().into_data().iter::<f32>().flat_map(|v| v.to_bits().to_le_bytes()).collect();
        self.0 = nas_search::seed::derive(self.0, &[&bytes]);
    }
}

/// Allocates and frees buffers of odd sizes, keeping some: every later
/// allocation lands at another address than in an unstirred process.
fn stir_the_heap(rounds: usize) -> Vec<Vec<u8>> {
    let mut kept = Vec::new();
    for i in 0..rounds {
        let v = vec![i as u8; 1 + (i * 37) % 1013];
        if i % 3 == 0 {
            kept.push(v);
        }
    }
    kept
}

/// The networks trained, as (name, space file, genotype, budget).
fn cases() -> Vec<(&'static str, &'static str, String, TrainBudget)> {
    let base = TrainBudget { batch_size: 64, learning_rate: 0.1, train_images: Some(192), ..TrainBudget::new(2) };
    let darts = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_5x5', 1), \
                 ('max_pool_3x3', 0), ('dil_conv_3x3', 2), ('avg_pool_3x3', 1), ('dil_conv_5x5', 3)], \
                 normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('skip_connect', 2), \
                 ('avg_pool_3x3', 0), ('dil_conv_3x3', 1), ('sep_conv_3x3', 2), ('dil_conv_5x5', 0), \
                 ('max_pool_3x3', 3)], reduce_concat=[2, 3, 4, 5])";
    let mobilenet = "{'ks': [3, 5, 7, 3, 5, 7, 3, 5, 7, 3, 5, 7, 3, 5, 7, 3, 5, 7, 3, 5], \
                     'e': [3, 4, 6, 6, 4, 3, 3, 4, 6, 6, 4, 3, 3, 4, 6, 6, 4, 3, 3, 4], \
                     'd': [2, 3, 2, 4, 3], 'r': [128]}";
    let nb201 = "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|";
    vec![
        (
            "darts",
            "darts.yaml",
            darts.to_string(),
            TrainBudget {
                channels: Some(8),
                cells: Some(5),
                // the auxiliary head pools an 8x8 map: 32x32 images
                resolution: Some(32),
                auxiliary_weight: 0.4,
                label_smoothing: 0.1,
                drop_path: 0.2,
                cutout: 4,
                ..base.clone()
            },
        ),
        (
            "mobilenetv3",
            "mobilenetv3.yaml",
            mobilenet.to_string(),
            TrainBudget { width_mult: Some(0.5), resolution: Some(32), ..base.clone() },
        ),
        ("nb201", "nb201.yaml", nb201.to_string(), TrainBudget { channels: Some(8), resolution: Some(16), ..base }),
    ]
}

/// One line per network: the loss of each of 3 SGD steps on one batch,
/// the weights after them, and a whole training's losses and accuracy.
fn digest_lines() -> String {
    let dev = Default::default();
    let mut out = String::new();
    for (name, file, text, budget) in cases() {
        let cfg = SpaceConfig::load(&common::repo().join("search_spaces").join(file)).unwrap();
        let spec = cfg.build().unwrap().network_of(&text, &budget.overrides(10)).unwrap().unwrap();
        let size = spec.input_size();
        let train = synthetic::generate(192, size, 3, 0);
        let data = ImageData { train: train.clone(), held_out: synthetic::generate(64, size, 3, 1), report: None };

        let x: Vec<f32> = train.pixels[..64 * 3 * size * size].iter().map(|&p| p as f32 / 64.0 - 2.0).collect();
        let x = Tensor::<B, 4>::from_data(TensorData::new(x, [64, 3, size, size]), &dev);
        let y: Vec<i64> = train.labels[..64].iter().map(|&l| l as i64).collect();
        let y = Tensor::<B, 1, Int>::from_data(TensorData::new(y, [64]), &dev);
        let mut model = Network::<B>::new(&spec, &mut StdRng::seed_from_u64(11), &dev);
        let mut trainer = Trainer::<B>::new(&budget, dev);
        let drop = DropPath::new(budget.drop_path, 5);
        let mut steps = Vec::new();
        for _ in 0..3 {
            let (m, loss) = trainer.step(model, x.clone(), y.clone(), 0.1, Some(&drop));
            model = m;
            steps.push(format!("{:016x}", loss.to_bits()));
        }
        let mut weights = Digest(0);
        model.visit(&mut weights);

        let mut epochs = Vec::new();
        let r = train_and_test::<B>(&spec, &data, &budget, 7, false, &dev, &mut |_, l| {
            epochs.push(format!("{:016x}", l.to_bits()))
        })
        .unwrap();
        writeln!(
            out,
            "{name}: steps {} weights {:016x} epochs {} accuracy {:016x}",
            steps.join(","),
            weights.0,
            epochs.join(","),
            r.accuracy.to_bits()
        )
        .unwrap();
    }
    out
}

#[test]
#[ignore = "one side of same_training_in_two_processes_gives_the_same_bits, run in a process of its own"]
fn one_process_trains_and_prints_a_digest() {
    // only as the other test's child (not under `--include-ignored`)
    let Ok(rounds) = std::env::var(CHILD) else { return };
    let rounds: usize = rounds.parse().unwrap();
    let kept = stir_the_heap(rounds);
    print!("{}", digest_lines().lines().map(|l| format!("DIGEST {l}\n")).collect::<String>());
    drop(kept);
}

/// This test binary run again on the child test, with `rounds` of heap
/// stirring and `threads` threads; its digest lines.
fn child(rounds: usize, threads: usize) -> Vec<String> {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "one_process_trains_and_prints_a_digest", "--nocapture", "--test-threads=1"])
        .env(CHILD, rounds.to_string())
        .env("RAYON_NUM_THREADS", threads.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // (the harness's "test ... " may stand before the first line)
    stdout.lines().filter_map(|l| l.split_once("DIGEST ")).map(|(_, d)| d.to_string()).collect()
}

#[test]
fn same_training_in_two_processes_gives_the_same_bits() {
    let plain = child(0, 1);
    let stirred = child(5000, 2);
    assert_eq!(plain.len(), 3, "one line per network: {plain:?}");
    assert_eq!(plain, stirred, "the same training in two processes (heap stirred, 2 threads in the second)");
    // the digests are of trainings that ran: finite losses that changed as the weights moved
    for line in &plain {
        let loss = |hex: &str| f64::from_bits(u64::from_str_radix(hex, 16).unwrap());
        let steps: Vec<f64> =
            line.split(" steps ").nth(1).unwrap().split(' ').next().unwrap().split(',').map(loss).collect();
        assert!(steps.iter().all(|l| l.is_finite() && *l > 0.0), "{line}");
        assert!(steps[2] != steps[0], "the steps changed the weights: {line}");
    }
}
