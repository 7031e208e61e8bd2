//! The built-in trainer: op shapes, networks matching the cost model,
//! an SGD step that lowers the loss, the data loaders, divergence handling.

mod common;

use std::path::Path;

use burn::backend::{Autodiff, NdArray};
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use nas_search::data::{ImageData, SignalSplit, cifar10, image_folder, synthetic};
use nas_search::net::NetSpec;
use nas_search::net::darts::op_layers;
use nas_search::space::darts::DartsSpace;
use nas_search::space::darts::genotype::{DartsGenotype, DartsOp};
use nas_search::space::mobilenet::MobileNetSpace;
use nas_search::space::{SearchSpace, SpaceConfig};
use nas_search::trainer::darts_net::{DropPath, OpModule};
use nas_search::trainer::train::Trainer;
use nas_search::trainer::{Network, TrainBudget, TrainError, train_and_test};
use rand::SeedableRng;
use rand::rngs::StdRng;

type B = Autodiff<NdArray<f32>>;

fn space(name: &str) -> SpaceConfig {
    SpaceConfig::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("search_spaces").join(name)).unwrap()
}

#[test]
fn every_darts_op_keeps_or_halves_the_map() {
    let dev = Default::default();
    let ops = [
        DartsOp::MaxPool3x3,
        DartsOp::AvgPool3x3,
        DartsOp::SkipConnect,
        DartsOp::SepConv3x3,
        DartsOp::SepConv5x5,
        DartsOp::DilConv3x3,
        DartsOp::DilConv5x5,
    ];
    for op in ops {
        for stride in [1, 2] {
            let layers = op_layers(op, 6, stride);
            let m = OpModule::<B>::new(&layers, &mut StdRng::seed_from_u64(0), &dev);
            let y = m.forward(Tensor::random([2, 6, 8, 8], Distribution::Default, &dev));
            assert_eq!(y.dims(), [2, 6, 8 / stride, 8 / stride], "{op:?} at stride {stride}");
            assert_eq!(layers.cost(8).1, 8 / stride, "the description's output size for {op:?}");
        }
    }
}

/// DARTS V2 in the text form of `cfg` (a DARTS space).
fn darts_v2_text(cfg: &SpaceConfig) -> String {
    let SpaceConfig::Darts(c) = cfg else { panic!("not a DARTS space") };
    DartsSpace::new(c.clone()).unwrap().format(&DartsGenotype::darts_v2())
}

/// The network the space of `cfg` describes for `text`, as budget `b` trains it (10 classes).
fn network(cfg: &SpaceConfig, text: &str, b: &TrainBudget) -> NetSpec {
    cfg.build().unwrap().network_of(text, &b.overrides(10)).expect("the space has networks").unwrap()
}

fn budget(channels: usize, cells: usize, aux: bool) -> TrainBudget {
    TrainBudget {
        channels: Some(channels),
        cells: Some(cells),
        auxiliary_weight: if aux { 0.4 } else { 0.0 },
        ..TrainBudget::new(1)
    }
}

#[test]
fn built_darts_networks_have_the_cost_models_parameter_count() {
    let cfg = space("darts.yaml");
    let SpaceConfig::Darts(c) = &cfg else { panic!() };
    let s = DartsSpace::new(c.clone()).unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let dev = Default::default();
    for (i, (channels, cells, aux)) in
        [(8, 5, false), (6, 8, true), (16, 6, false), (36, 20, true)].into_iter().enumerate()
    {
        let text = s.format(&s.sample(&mut rng));
        let spec = network(&cfg, &text, &budget(channels, cells, aux));
        let net = Network::<B>::new(&spec, &mut StdRng::seed_from_u64(1), &dev);
        assert_eq!(net.trainable_params() as u64, spec.cost().params, "genotype {i}: {text}");
        if channels <= 8 {
            let (logits, aux_logits) = net.forward(
                Tensor::random([2, 3, 32, 32], Distribution::Default, &dev),
                Some(&DropPath::new(0.2, 1)),
                true,
            );
            assert_eq!(logits.dims(), [2, 10]);
            assert_eq!(aux_logits.map(|a| a.dims()), aux.then_some([2, 10]));
        }
    }
}

#[test]
fn built_mobilenets_have_the_cost_models_parameter_count() {
    let cfg = space("mobilenetv3.yaml");
    let SpaceConfig::Mobilenetv3(c) = &cfg else { panic!() };
    let s = MobileNetSpace::new(c.clone()).unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    let dev = Default::default();
    for i in 0..3 {
        let text = s.format(&s.sample(&mut rng));
        let b = TrainBudget {
            resolution: Some(64),
            width_mult: Some(if i == 2 { 1.2 } else { 1.0 }),
            ..TrainBudget::new(1)
        };
        let spec = network(&cfg, &text, &b);
        let net = Network::<B>::new(&spec, &mut StdRng::seed_from_u64(1), &dev);
        assert_eq!(net.trainable_params() as u64, spec.cost().params, "arch {i}: {text}");
        if i == 0 {
            let (logits, _) = net.forward(Tensor::random([2, 3, 64, 64], Distribution::Default, &dev), None, false);
            assert_eq!(logits.dims(), [2, 10]);
        }
    }
}

#[test]
fn one_sgd_step_lowers_the_loss_on_a_fixed_batch() {
    let cfg = space("darts.yaml");
    let dev = Default::default();
    let text = darts_v2_text(&cfg);
    let b = TrainBudget { learning_rate: 0.05, ..budget(4, 3, true) };
    let spec = network(&cfg, &text, &b);
    let mut model = Network::<B>::new(&spec, &mut StdRng::seed_from_u64(1), &dev);
    let set = synthetic::generate(16, 32, 1, 0);
    let x = Tensor::<B, 4>::from_data(
        TensorData::new(set.pixels.iter().map(|&p| p as f32 / 255.0 - 0.5).collect::<Vec<_>>(), [16, 3, 32, 32]),
        &dev,
    );
    let y = Tensor::<B, 1, Int>::from_data(
        TensorData::new(set.labels.iter().map(|&l| l as i64).collect::<Vec<_>>(), [16]),
        &dev,
    );
    let mut trainer = Trainer::<B>::new(&b, dev);
    let (m, before) = trainer.step(model, x.clone(), y.clone(), 0.05, None);
    model = m;
    let (_, after) = trainer.step(model, x, y, 0.05, None);
    assert!(before.is_finite() && after < before, "loss {before} -> {after}");
}

#[test]
fn a_diverging_training_is_reported_not_hidden() {
    let cfg = space("darts.yaml");
    let text = darts_v2_text(&cfg);
    let b = TrainBudget {
        learning_rate: 1e12,
        grad_clip: None,
        epochs: 3,
        batch_size: 16,
        resolution: Some(8),
        ..budget(4, 3, false)
    };
    let spec = network(&cfg, &text, &b);
    let data =
        ImageData { train: synthetic::generate(64, 8, 0, 0), held_out: synthetic::generate(16, 8, 0, 1), report: None };
    let r = train_and_test::<B>(&spec, &data, &b, 0, false, &Default::default(), &mut |_, _| {});
    assert!(matches!(r, Err(TrainError::Diverged { .. })), "{r:?}");
}

#[test]
fn a_short_training_is_deterministic_and_beats_chance_on_its_training_images() {
    let cfg = space("darts.yaml");
    let text = darts_v2_text(&cfg);
    let b = TrainBudget {
        epochs: 6,
        batch_size: 16,
        learning_rate: 0.15,
        crop_padding: 0,
        resolution: Some(16),
        ..budget(8, 5, false)
    };
    let spec = network(&cfg, &text, &b);
    let train = synthetic::generate(160, 16, 0, 0);
    // Measured on the training images themselves: the point is that it learns.
    let data = ImageData { train: train.clone(), held_out: train.clone(), report: Some(train) };
    let mut losses = Vec::new();
    let r1 = train_and_test::<B>(&spec, &data, &b, 7, true, &Default::default(), &mut |_, l| losses.push(l)).unwrap();
    let r2 = train_and_test::<B>(&spec, &data, &b, 7, false, &Default::default(), &mut |_, _| {}).unwrap();
    assert_eq!(r1.accuracy, r2.accuracy);
    assert_eq!(r1.final_loss, r2.final_loss);
    // the test set is measured when asked for (here the same images: the same accuracy)
    assert_eq!((r1.report_accuracy, r2.report_accuracy), (Some(r1.accuracy), None));
    assert!(losses[5] < losses[0] - 0.2, "per-epoch losses {losses:?}");
    assert!(r1.accuracy > 20.0, "top-1 on its training images {} (chance is 10)", r1.accuracy);
}

fn cifar_record(label: u8, fill: u8) -> Vec<u8> {
    let mut r = vec![label];
    r.extend(std::iter::repeat_n(fill, 3072));
    r
}

#[test]
fn cifar10_loader_reads_the_official_format_and_names_a_truncated_file() {
    let dir = common::temp_dir("cifar");
    for (i, f) in cifar10::TRAIN_FILES.iter().enumerate() {
        let bytes: Vec<u8> = [cifar_record(i as u8, 10 * i as u8), cifar_record(9, 200)].concat();
        std::fs::write(dir.join(f), bytes).unwrap();
    }
    std::fs::write(dir.join(cifar10::TEST_FILE), cifar_record(3, 7)).unwrap();
    let (train, test) = cifar10::load(&dir).unwrap();
    assert_eq!((train.len(), test.len(), train.size), (10, 1, 32));
    assert_eq!(train.labels, vec![0, 9, 1, 9, 2, 9, 3, 9, 4, 9]);
    assert!(train.image(2).iter().all(|&p| p == 10));
    assert_eq!(test.labels, vec![3]);

    let mut truncated = cifar_record(1, 1);
    truncated.truncate(2000);
    std::fs::write(dir.join("data_batch_3.bin"), truncated).unwrap();
    let err = format!("{:#}", cifar10::load(&dir).unwrap_err());
    assert!(err.contains("data_batch_3.bin") && err.contains("truncated"), "{err}");
    std::fs::remove_file(dir.join(cifar10::TEST_FILE)).unwrap();
    std::fs::write(dir.join("data_batch_3.bin"), cifar_record(1, 1)).unwrap();
    let err = format!("{:#}", cifar10::load(&dir).unwrap_err());
    assert!(err.contains("test_batch.bin") && err.contains("nas-search data cifar10"), "{err}");
}

#[test]
fn image_folder_loader_reads_class_folders_and_splits_them() {
    let dir = common::temp_dir("imgfolder");
    for (ci, class) in ["cat", "dog"].iter().enumerate() {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        for j in 0..5 {
            let img = image::RgbImage::from_pixel(40, 30, image::Rgb([ci as u8 * 200, j * 10, 0]));
            img.save(dir.join(class).join(format!("{j}.png"))).unwrap();
        }
    }
    let data = image_folder::load(&dir, 16, 0.2, SignalSplit::Holdout).unwrap();
    assert_eq!((data.train.len(), data.held_out.len(), data.train.size, data.train.classes), (8, 2, 16, 2));
    assert_eq!(data.held_out.labels, vec![0, 1]);
    assert!(data.report.is_none(), "a flat folder has no test set");
    assert!(data.train.image(5)[..256].iter().all(|&p| p == 200), "red channel of a dog image");
    std::fs::write(dir.join("dog").join("bad.png"), b"not a png").unwrap();
    let err = format!("{:#}", image_folder::load(&dir, 16, 0.2, SignalSplit::Holdout).unwrap_err());
    assert!(err.contains("bad.png"), "{err}");
}

#[test]
fn synthetic_set_is_identical_for_a_seed_and_differs_across_seeds() {
    let a = synthetic::generate(40, 32, 11, 0);
    assert_eq!(a, synthetic::generate(40, 32, 11, 0));
    assert_ne!(a.pixels, synthetic::generate(40, 32, 12, 0).pixels);
    assert_eq!((a.len(), a.size, a.classes), (40, 32, 10));
    assert_eq!(a.labels.iter().filter(|&&l| l == 3).count(), 4, "classes are balanced");
    // Images differ within a class (random placement, colour, noise).
    assert_ne!(a.image(0), a.image(10));
}
