//! ImageNet-style image folders: one sub-folder per class (sorted names give
//! the class indices), images decoded (PNG, JPEG), the shorter side resized
//! to the target size and centre-cropped. The whole set is held in memory,
//! so use it with subsets of ImageNet sized to the machine. Which images are
//! trained on, held out for the signal, and reported is [`Layout`]'s and
//! the config's `signal` (see `load`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rayon::prelude::*;

use super::image_set::{ImageData, ImageSet, SignalSplit, chw};

/// Class folders of `dir` (sorted) and their image files (sorted).
fn list(dir: &Path) -> Result<Vec<(String, Vec<PathBuf>)>> {
    let mut classes = Vec::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot read image folder {}", dir.display()))?;
    for e in entries {
        let e = e?;
        if e.file_type()?.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(e.path())?
                .filter_map(|f| f.ok().map(|f| f.path()))
                .filter(|p| {
                    p.extension()
                        .and_then(|x| x.to_str())
                        .is_some_and(|x| matches!(x.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
                })
                .collect();
            files.sort();
            classes.push((e.file_name().to_string_lossy().into_owned(), files));
        }
    }
    classes.sort_by(|a, b| a.0.cmp(&b.0));
    if classes.is_empty() {
        bail!("{}: no class sub-folders", dir.display());
    }
    Ok(classes)
}

/// Decodes one image at `size` x `size`.
fn decode(path: &Path, size: usize) -> Result<Vec<u8>> {
    let img = image::open(path).with_context(|| format!("cannot decode image {}", path.display()))?.to_rgb8();
    let (w, h) = img.dimensions();
    let scale = size as f64 / w.min(h) as f64;
    let (nw, nh) =
        (((w as f64 * scale).round() as u32).max(size as u32), ((h as f64 * scale).round() as u32).max(size as u32));
    let resized = image::imageops::resize(&img, nw, nh, image::imageops::Triangle);
    let (x0, y0) = ((nw - size as u32) / 2, (nh - size as u32) / 2);
    let crop = image::imageops::crop_imm(&resized, x0, y0, size as u32, size as u32).to_image();
    Ok(chw(&crop))
}

fn load_files(files: &[(PathBuf, u16)], size: usize, classes: usize) -> Result<ImageSet> {
    let decoded: Vec<Vec<u8>> = files.par_iter().map(|(p, _)| decode(p, size)).collect::<Result<_>>()?;
    let mut set = ImageSet::new(size, classes);
    for (img, (_, label)) in decoded.iter().zip(files) {
        set.push(img, *label);
    }
    Ok(set)
}

/// How an image folder is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Class folders directly inside.
    Flat,
    /// `train/` and `val/` (ImageNet's layout: val is the test set).
    TrainVal,
    /// `train/`, `val/` and `test/`.
    TrainValTest,
}

impl Layout {
    pub fn of(dir: &Path) -> Self {
        match (dir.join("train").is_dir(), dir.join("val").is_dir(), dir.join("test").is_dir()) {
            (true, true, true) => Self::TrainValTest,
            (true, true, false) => Self::TrainVal,
            _ => Self::Flat,
        }
    }

    /// The sub-folder holding the test set.
    pub fn test_folder(self) -> &'static str {
        match self {
            Self::TrainValTest => "test",
            _ => "val",
        }
    }
}

/// Image files with their class labels.
type Labelled = Vec<(PathBuf, u16)>;

/// Files of `classes` as (path, label), labels by the names of `names`
/// (`dir` names the folder in the error).
fn labelled(classes: &[(String, Vec<PathBuf>)], names: &[&String], dir: &Path) -> Result<Labelled> {
    let mut out = Vec::new();
    for (name, files) in classes {
        let Some(label) = names.iter().position(|n| *n == name) else {
            bail!("{}: class folder '{name}' has no counterpart in the training folder", dir.display());
        };
        out.extend(files.iter().map(|f| (f.clone(), label as u16)));
    }
    Ok(out)
}

/// Splits each class's files: the last `fraction` of them (at least one
/// where a class has two or more) are held out.
fn hold_out(classes: &[(String, Vec<PathBuf>)], fraction: f64) -> (Labelled, Labelled) {
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for (label, (_, files)) in classes.iter().enumerate() {
        let n = ((files.len() as f64 * fraction).round() as usize).max(usize::from(files.len() >= 2)).min(files.len());
        let cut = files.len() - n;
        train.extend(files[..cut].iter().map(|f| (f.clone(), label as u16)));
        held.extend(files[cut..].iter().map(|f| (f.clone(), label as u16)));
    }
    (train, held)
}

/// Loads `dir` (see [`Layout`]): the training images, the held-out images
/// of the signal and the test set reported apart, as `signal` and the
/// layout decide (`crate::data::ImageDataConfig::ImageFolder`).
pub fn load(dir: &Path, size: usize, holdout_fraction: f64, signal: SignalSplit) -> Result<ImageData> {
    let layout = Layout::of(dir);
    let (train, held_out, report, classes) = if layout == Layout::Flat {
        let cls = list(dir)?;
        let (train, held) = hold_out(&cls, holdout_fraction);
        (train, held, None, cls.len())
    } else {
        let train_dir = dir.join("train");
        let train = list(&train_dir)?;
        let names: Vec<&String> = train.iter().map(|c| &c.0).collect();
        let folder = |name: &str| -> Result<Labelled> {
            let d = dir.join(name);
            labelled(&list(&d)?, &names, &d)
        };
        let all_train = labelled(&train, &names, &train_dir)?;
        let (t, h, r) = match (layout, signal) {
            (_, SignalSplit::Test) => (all_train, folder(layout.test_folder())?, None),
            (Layout::TrainValTest, SignalSplit::Holdout) => (all_train, folder("val")?, Some(folder("test")?)),
            _ => {
                let (t, h) = hold_out(&train, holdout_fraction);
                (t, h, Some(folder("val")?))
            }
        };
        (t, h, r, train.len())
    };
    Ok(ImageData {
        train: load_files(&train, size, classes)?,
        held_out: load_files(&held_out, size, classes)?,
        report: report.map(|r| load_files(&r, size, classes)).transpose()?,
    })
}
