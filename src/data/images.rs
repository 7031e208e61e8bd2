//! In-memory image sets for the built-in trainer, and the `data:` section
//! of a `builtin` evaluator that says where they come from.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// Square RGB images of one size, stored as bytes, channel-major per image
/// (`3 x size x size`), with class labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSet {
    pub size: usize,
    pub classes: usize,
    pub pixels: Vec<u8>,
    pub labels: Vec<u16>,
}

impl ImageSet {
    pub fn new(size: usize, classes: usize) -> Self {
        Self { size, classes, pixels: Vec::new(), labels: Vec::new() }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes of one image.
    pub fn image_len(&self) -> usize {
        3 * self.size * self.size
    }

    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    pub fn push(&mut self, image: &[u8], label: u16) {
        debug_assert_eq!(image.len(), self.image_len());
        self.pixels.extend_from_slice(image);
        self.labels.push(label);
    }

    /// Images `range` as a new set.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Self {
        let n = self.image_len();
        Self {
            size: self.size,
            classes: self.classes,
            pixels: self.pixels[range.start * n..range.end * n].to_vec(),
            labels: self.labels[range].to_vec(),
        }
    }

    /// The first `n` images (all when `n` is larger).
    pub fn take(&self, n: usize) -> Self {
        self.slice(0..n.min(self.len()))
    }

    /// Every image resized (bilinear) to `size` x `size`.
    pub fn resized(&self, size: usize) -> Self {
        if size == self.size {
            return self.clone();
        }
        let mut out = Self::new(size, self.classes);
        let s = self.size as u32;
        for i in 0..self.len() {
            let img = self.image(i);
            let plane = (s * s) as usize;
            let rgb = image::RgbImage::from_fn(s, s, |x, y| {
                let p = (y * s + x) as usize;
                image::Rgb([img[p], img[plane + p], img[2 * plane + p]])
            });
            out.push(
                &chw(&image::imageops::resize(&rgb, size as u32, size as u32, image::imageops::Triangle)),
                self.labels[i],
            );
        }
        out
    }

    /// Per-channel mean and standard deviation of the pixels, in [0, 1].
    pub fn channel_stats(&self) -> ([f32; 3], [f32; 3]) {
        let plane = self.size * self.size;
        let mut sum = [0f64; 3];
        let mut sq = [0f64; 3];
        for i in 0..self.len() {
            let img = self.image(i);
            for c in 0..3 {
                for &v in &img[c * plane..(c + 1) * plane] {
                    let v = v as f64 / 255.0;
                    sum[c] += v;
                    sq[c] += v * v;
                }
            }
        }
        let n = (self.len() * plane).max(1) as f64;
        let mean = sum.map(|s| s / n);
        let std = [0, 1, 2].map(|c| (sq[c] / n - mean[c] * mean[c]).max(1e-6).sqrt() as f32);
        (mean.map(|m| m as f32), std)
    }
}

/// An RGB image as channel-major bytes.
pub fn chw(img: &image::RgbImage) -> Vec<u8> {
    let plane = (img.width() * img.height()) as usize;
    let mut out = vec![0u8; 3 * plane];
    for (p, px) in img.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + p] = px[c];
        }
    }
    out
}

/// The images of a built-in evaluation: what it trains on, what its
/// signal (the accuracy the search sees) is measured on, and the test set
/// it reports apart, where there is one. The field's protocol: the signal
/// comes from images held out of the training set, never from the test set,
/// unless a config says `signal: test`.
#[derive(Clone, Debug)]
pub struct ImageData {
    pub train: ImageSet,
    /// Held-out images the signal is measured on.
    pub held_out: ImageSet,
    /// The test set, measured apart and reported (None: the data has no
    /// test set apart from `held_out`).
    pub report: Option<ImageSet>,
}

/// Which images a built-in evaluation's signal is measured on (`evaluator.data.signal`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalSplit {
    /// Images held out of the training set (the field's protocol); the test
    /// set, where there is one, is reported apart.
    #[default]
    Holdout,
    /// The test set itself: the search selects on test images (flagged in
    /// the summary; not comparable with published results).
    Test,
}

impl SignalSplit {
    fn is_default(&self) -> bool {
        *self == Self::Holdout
    }
}

/// What a data config measures, in words, for the report.
#[derive(Clone, Debug, PartialEq)]
pub struct Splits {
    /// The images of the signal.
    pub signal: String,
    /// The images of the reported accuracy, where measured apart.
    pub report: Option<String>,
    /// The signal is measured on a test set.
    pub signal_is_test: bool,
}

/// Where a `builtin` evaluator's images come from (`evaluator.data`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ImageDataConfig {
    /// Generated from a seed (no download): see `data::synthetic`. The
    /// held-out images are generated apart from the training ones; there is
    /// no test set.
    Synthetic {
        #[serde(default)]
        seed: u64,
        #[serde(default = "d_synth_train")]
        train_images: usize,
        /// Held-out images the signal is measured on.
        #[serde(default = "d_synth_test")]
        test_images: usize,
    },
    /// CIFAR-10's official binary files in `dir` (`nas-search data cifar10 --dir DIR` fetches them).
    Cifar10 {
        dir: PathBuf,
        /// The last N of the 50,000 training images are held out for the
        /// signal (default 5,000); the 10,000 test images are reported apart.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        holdout: Option<usize>,
        #[serde(default, skip_serializing_if = "SignalSplit::is_default")]
        signal: SignalSplit,
    },
    /// One sub-folder per class. `dir/train` and `dir/val` (ImageNet's
    /// layout, whose val is the field's test set): the signal is measured on
    /// `holdout_fraction` of each class held out of `train/`, and `val/` is
    /// reported; with `dir/test` too, `val/` is the signal and `test/` is
    /// reported. A flat folder: `holdout_fraction` of each class is the
    /// signal, and there is no test set.
    ImageFolder {
        dir: PathBuf,
        #[serde(default = "d_holdout_fraction")]
        holdout_fraction: f64,
        #[serde(default, skip_serializing_if = "SignalSplit::is_default")]
        signal: SignalSplit,
    },
}

impl<'de> Deserialize<'de> for ImageDataConfig {
    /// By hand, so that an error inside a variant names its whole key.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use crate::config::{nested, tagged};
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Synthetic {
            #[serde(default)]
            seed: u64,
            #[serde(default = "d_synth_train")]
            train_images: usize,
            #[serde(default = "d_synth_test")]
            test_images: usize,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Cifar10 {
            dir: PathBuf,
            #[serde(default)]
            holdout: Option<usize>,
            #[serde(default)]
            signal: SignalSplit,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ImageFolder {
            dir: PathBuf,
            #[serde(default = "d_holdout_fraction")]
            holdout_fraction: f64,
            #[serde(default)]
            signal: SignalSplit,
        }
        let (kind, rest) = tagged(d, "kind", &["synthetic", "cifar10", "image_folder"])?;
        Ok(match kind.as_str() {
            "synthetic" => {
                let f: Synthetic = nested(rest)?;
                Self::Synthetic { seed: f.seed, train_images: f.train_images, test_images: f.test_images }
            }
            "cifar10" => {
                let f: Cifar10 = nested(rest)?;
                Self::Cifar10 { dir: f.dir, holdout: f.holdout, signal: f.signal }
            }
            _ => {
                let f: ImageFolder = nested(rest)?;
                Self::ImageFolder { dir: f.dir, holdout_fraction: f.holdout_fraction, signal: f.signal }
            }
        })
    }
}

fn d_synth_train() -> usize {
    5000
}
fn d_synth_test() -> usize {
    1000
}
fn d_holdout_fraction() -> f64 {
    0.1
}
/// CIFAR-10 training images held out for the signal when `holdout` is not set.
pub const CIFAR10_HOLDOUT: usize = 5000;

impl ImageDataConfig {
    /// Resolves the relative folder against `config_dir` (the config file's).
    pub fn resolve_paths(&mut self, config_dir: &Path) {
        match self {
            Self::Cifar10 { dir, .. } | Self::ImageFolder { dir, .. } => *dir = config_dir.join(&*dir),
            Self::Synthetic { .. } => {}
        }
    }

    /// Checks the settings that need no file (a config's load calls it).
    pub fn check(&self) -> Result<()> {
        match self {
            Self::Cifar10 { holdout: Some(_), signal: SignalSplit::Test, .. } => bail!(
                "evaluator.data: `holdout` and `signal: test` exclude each other (with `signal: test` the search measures on the test set and nothing is held out)"
            ),
            Self::Cifar10 { holdout: Some(0), .. } => {
                bail!("evaluator.data.holdout must be positive (for the signal on the test set say `signal: test`)")
            }
            Self::ImageFolder { holdout_fraction, .. } if !(*holdout_fraction > 0.0 && *holdout_fraction < 1.0) => {
                bail!("evaluator.data.holdout_fraction must be in (0, 1), got {holdout_fraction}")
            }
            Self::Synthetic { train_images, test_images, .. } if *train_images < 2 || *test_images == 0 => bail!(
                "evaluator.data: a synthetic set needs train_images >= 2 and test_images >= 1, got {train_images} and {test_images}"
            ),
            _ => Ok(()),
        }
    }

    /// What the signal and the reported accuracy are measured on (for an
    /// image folder, by the layout found in `dir`).
    pub fn splits(&self) -> Splits {
        match self {
            Self::Synthetic { test_images, .. } => Splits {
                signal: format!("{test_images} held-out synthetic images (generated apart from the training images)"),
                report: None,
                signal_is_test: false,
            },
            Self::Cifar10 { signal: SignalSplit::Test, .. } => Splits {
                signal: "CIFAR-10's 10,000 test images (`signal: test`)".into(),
                report: None,
                signal_is_test: true,
            },
            Self::Cifar10 { holdout, .. } => Splits {
                signal: format!(
                    "the last {} of CIFAR-10's training images, held out of training",
                    holdout.unwrap_or(CIFAR10_HOLDOUT)
                ),
                report: Some("CIFAR-10's 10,000 test images".into()),
                signal_is_test: false,
            },
            Self::ImageFolder { dir, holdout_fraction, signal } => {
                let layout = super::image_folder::Layout::of(dir);
                let held = format!("{:.0}% of each class held out of the training images", holdout_fraction * 100.0);
                match (layout, signal) {
                    (super::image_folder::Layout::Flat, _) => {
                        Splits { signal: held, report: None, signal_is_test: false }
                    }
                    (layout, SignalSplit::Test) => Splits {
                        signal: format!("the test images in {}/ (`signal: test`)", layout.test_folder()),
                        report: None,
                        signal_is_test: true,
                    },
                    (super::image_folder::Layout::TrainValTest, SignalSplit::Holdout) => Splits {
                        signal: "the images in val/".into(),
                        report: Some("the images in test/".into()),
                        signal_is_test: false,
                    },
                    (super::image_folder::Layout::TrainVal, SignalSplit::Holdout) => Splits {
                        signal: held,
                        report: Some("the images in val/ (the test set of ImageNet's layout)".into()),
                        signal_is_test: false,
                    },
                }
            }
        }
    }

    /// Loads the data with images of `size` x `size` pixels (folders as the
    /// config, resolved, names them; settings checked by [`Self::check`]).
    pub fn load(&self, size: usize) -> Result<ImageData> {
        let data = match self {
            Self::Synthetic { seed, train_images, test_images } => ImageData {
                train: super::synthetic::generate(*train_images, size, *seed, 0),
                held_out: super::synthetic::generate(*test_images, size, *seed, 1),
                report: None,
            },
            Self::Cifar10 { dir, holdout, signal } => {
                let (train, test) = super::cifar10::load(dir).context("key `evaluator.data.dir`")?;
                let (train, held_out, report) = match signal {
                    SignalSplit::Test => (train, test, None),
                    SignalSplit::Holdout => {
                        let n = holdout.unwrap_or(CIFAR10_HOLDOUT);
                        if n >= train.len() {
                            bail!(
                                "evaluator.data.holdout = {n} leaves no training images (there are {}){}",
                                train.len(),
                                if holdout.is_none() { " (5,000 is the default)" } else { "" }
                            );
                        }
                        let cut = train.len() - n;
                        (train.slice(0..cut), train.slice(cut..train.len()), Some(test))
                    }
                };
                ImageData {
                    train: train.resized(size),
                    held_out: held_out.resized(size),
                    report: report.map(|r| r.resized(size)),
                }
            }
            Self::ImageFolder { dir, holdout_fraction, signal } => {
                super::image_folder::load(dir, size, *holdout_fraction, *signal).context("key `evaluator.data.dir`")?
            }
        };
        if data.train.is_empty() || data.held_out.is_empty() || data.report.as_ref().is_some_and(ImageSet::is_empty) {
            bail!("evaluator.data: the training, held-out or test set is empty");
        }
        Ok(data)
    }
}
