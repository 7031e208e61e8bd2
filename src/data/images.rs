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

/// A training set and the held-out set accuracy is measured on.
#[derive(Clone, Debug)]
pub struct ImageData {
    pub train: ImageSet,
    pub test: ImageSet,
}

/// Where a `builtin` evaluator's images come from (`evaluator.data`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ImageDataConfig {
    /// Generated from a seed (no download): see `data::synthetic`.
    Synthetic {
        #[serde(default)]
        seed: u64,
        #[serde(default = "d_synth_train")]
        train_images: usize,
        #[serde(default = "d_synth_test")]
        test_images: usize,
    },
    /// CIFAR-10's official binary files in `dir` (`nas-search data cifar10 --dir DIR` fetches them).
    Cifar10 {
        dir: PathBuf,
        /// Hold out the last N training images and measure on them instead of the test set.
        #[serde(default)]
        holdout: Option<usize>,
    },
    /// One sub-folder per class; `dir/train` and `dir/val` when present, else a
    /// per-class split with `holdout_fraction` of each class held out.
    ImageFolder {
        dir: PathBuf,
        #[serde(default = "d_holdout_fraction")]
        holdout_fraction: f64,
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
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ImageFolder {
            dir: PathBuf,
            #[serde(default = "d_holdout_fraction")]
            holdout_fraction: f64,
        }
        let (kind, rest) = tagged(d, "kind", &["synthetic", "cifar10", "image_folder"])?;
        Ok(match kind.as_str() {
            "synthetic" => {
                let f: Synthetic = nested(rest)?;
                Self::Synthetic { seed: f.seed, train_images: f.train_images, test_images: f.test_images }
            }
            "cifar10" => {
                let f: Cifar10 = nested(rest)?;
                Self::Cifar10 { dir: f.dir, holdout: f.holdout }
            }
            _ => {
                let f: ImageFolder = nested(rest)?;
                Self::ImageFolder { dir: f.dir, holdout_fraction: f.holdout_fraction }
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

impl ImageDataConfig {
    /// Resolves the relative folder against `config_dir` (the config file's).
    pub fn resolve_paths(&mut self, config_dir: &Path) {
        match self {
            Self::Cifar10 { dir, .. } | Self::ImageFolder { dir, .. } => *dir = config_dir.join(&*dir),
            Self::Synthetic { .. } => {}
        }
    }

    /// Loads the data with images of `size` x `size` pixels (folders as the
    /// config, resolved, names them).
    pub fn load(&self, size: usize) -> Result<ImageData> {
        let data = match self {
            Self::Synthetic { seed, train_images, test_images } => ImageData {
                train: super::synthetic::generate(*train_images, size, *seed, 0),
                test: super::synthetic::generate(*test_images, size, *seed, 1),
            },
            Self::Cifar10 { dir, holdout } => {
                let (train, test) = super::cifar10::load(dir).context("key `evaluator.data.dir`")?;
                let (train, test) = match holdout {
                    Some(n) if *n >= train.len() => {
                        bail!("evaluator.data.holdout = {n} leaves no training images (there are {})", train.len())
                    }
                    Some(n) => (train.slice(0..train.len() - n), train.slice(train.len() - n..train.len())),
                    None => (train, test),
                };
                ImageData { train: train.resized(size), test: test.resized(size) }
            }
            Self::ImageFolder { dir, holdout_fraction } => {
                if !(0.0..1.0).contains(holdout_fraction) {
                    bail!("evaluator.data.holdout_fraction must be in [0, 1), got {holdout_fraction}");
                }
                super::image_folder::load(dir, size, *holdout_fraction).context("key `evaluator.data.dir`")?
            }
        };
        if data.train.is_empty() || data.test.is_empty() {
            bail!("evaluator.data: the training or held-out set is empty");
        }
        Ok(data)
    }
}
