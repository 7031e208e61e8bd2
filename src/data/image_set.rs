//! In-memory image sets for the built-in trainer ([`ImageSet`]), the
//! splits of one evaluation ([`ImageData`]) and which of them the signal is
//! measured on: the types every loader fills and the `data:` section
//! (`super::source`) composes. No I/O here.

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
    pub(crate) fn is_default(&self) -> bool {
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
