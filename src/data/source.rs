//! The `data:` section of a `builtin` evaluator: where its images come
//! from (generated, CIFAR-10's files, a folder of images), composed from the
//! loaders into the splits of one evaluation.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::image_set::{ImageData, ImageSet, SignalSplit, Splits};

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
