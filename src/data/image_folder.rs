//! ImageNet-style image folders: one sub-folder per class (sorted names give
//! the class indices), images decoded (PNG, JPEG), the shorter side resized
//! to the target size and centre-cropped. The whole set is held in memory,
//! so use it with subsets of ImageNet sized to the machine.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rayon::prelude::*;

use super::images::{ImageData, ImageSet, chw};

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

/// Loads `dir` (with `train/` and `val/` inside, or split per class).
pub fn load(dir: &Path, size: usize, holdout_fraction: f64) -> Result<ImageData> {
    let (train_dir, val_dir) = (dir.join("train"), dir.join("val"));
    let (train_files, test_files, classes) = if train_dir.is_dir() && val_dir.is_dir() {
        let train = list(&train_dir)?;
        let val = list(&val_dir)?;
        let names: Vec<&String> = train.iter().map(|c| &c.0).collect();
        let flat = |cls: &[(String, Vec<PathBuf>)]| -> Result<Vec<(PathBuf, u16)>> {
            let mut out = Vec::new();
            for (name, files) in cls {
                let Some(label) = names.iter().position(|n| *n == name) else {
                    bail!("{}: class folder '{name}' has no counterpart in {}", val_dir.display(), train_dir.display());
                };
                out.extend(files.iter().map(|f| (f.clone(), label as u16)));
            }
            Ok(out)
        };
        (flat(&train)?, flat(&val)?, train.len())
    } else {
        let cls = list(dir)?;
        let (mut train, mut test) = (Vec::new(), Vec::new());
        for (label, (_, files)) in cls.iter().enumerate() {
            let held = ((files.len() as f64 * holdout_fraction).round() as usize).min(files.len());
            let cut = files.len() - held;
            train.extend(files[..cut].iter().map(|f| (f.clone(), label as u16)));
            test.extend(files[cut..].iter().map(|f| (f.clone(), label as u16)));
        }
        (train, test, cls.len())
    };
    Ok(ImageData { train: load_files(&train_files, size, classes)?, test: load_files(&test_files, size, classes)? })
}
