//! Turning images into training batches: normalisation, and the CIFAR
//! augmentations (random crop with zero padding, horizontal flip, cutout),
//! all drawn from the caller's seeded generator.

use rand::Rng;
use rand::rngs::StdRng;

use crate::data::ImageSet;

/// Augmentations applied to training batches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augment {
    pub crop_padding: usize,
    pub flip: bool,
    pub cutout: usize,
}

/// Per-channel normalisation (pixel / 255 - mean) / std.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalize {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

/// Images `idx` of `set` as a flat `[batch, 3, size, size]` buffer,
/// augmented when `aug` is given.
pub fn batch(set: &ImageSet, idx: &[usize], norm: &Normalize, mut aug: Option<(&Augment, &mut StdRng)>) -> Vec<f32> {
    let s = set.size;
    let plane = s * s;
    let mut out = vec![0f32; idx.len() * 3 * plane];
    for (bi, &i) in idx.iter().enumerate() {
        let img = set.image(i);
        let dst = &mut out[bi * 3 * plane..(bi + 1) * 3 * plane];
        let (mut dx, mut dy, mut flip) = (0isize, 0isize, false);
        let mut cut = None;
        if let Some((a, rng)) = aug.as_mut() {
            let p = a.crop_padding as i64;
            if p > 0 {
                dx = rng.random_range(-p..=p) as isize;
                dy = rng.random_range(-p..=p) as isize;
            }
            flip = a.flip && rng.random_bool(0.5);
            if a.cutout > 0 {
                cut = Some((rng.random_range(0..s) as isize, rng.random_range(0..s) as isize, a.cutout as isize));
            }
        }
        for c in 0..3 {
            let pad_value = -norm.mean[c] / norm.std[c];
            for y in 0..s {
                for x in 0..s {
                    let sx = if flip { (s - 1 - x) as isize } else { x as isize } + dx;
                    let sy = y as isize + dy;
                    let v = if sx >= 0 && sy >= 0 && (sx as usize) < s && (sy as usize) < s {
                        (img[c * plane + sy as usize * s + sx as usize] as f32 / 255.0 - norm.mean[c]) / norm.std[c]
                    } else {
                        pad_value
                    };
                    dst[c * plane + y * s + x] = v;
                }
            }
        }
        if let Some((cy, cx, len)) = cut {
            // Cutout: a len x len square centred at (cy, cx), clipped to the image, set to 0.
            let (y0, y1) = ((cy - len / 2).max(0) as usize, ((cy + len / 2).min(s as isize)) as usize);
            let (x0, x1) = ((cx - len / 2).max(0) as usize, ((cx + len / 2).min(s as isize)) as usize);
            for c in 0..3 {
                for y in y0..y1 {
                    for x in x0..x1 {
                        dst[c * plane + y * s + x] = 0.0;
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn set() -> ImageSet {
        let mut s = ImageSet::new(4, 2);
        s.push(&(0..48).map(|v| v as u8).collect::<Vec<_>>(), 1);
        s
    }

    #[test]
    fn plain_batch_is_normalised_pixels() {
        let norm = Normalize { mean: [0.0; 3], std: [1.0; 3] };
        let b = batch(&set(), &[0], &norm, None);
        assert_eq!(b.len(), 48);
        assert!((b[17] - 17.0 / 255.0).abs() < 1e-6);
    }

    #[test]
    fn flip_mirrors_rows_and_cutout_zeroes_a_square() {
        let norm = Normalize { mean: [0.5; 3], std: [0.25; 3] };
        let aug = Augment { crop_padding: 0, flip: true, cutout: 2 };
        let plain = batch(&set(), &[0], &norm, None);
        let mut rng = StdRng::seed_from_u64(1);
        let mut saw_flip = false;
        for _ in 0..20 {
            let b = batch(&set(), &[0], &norm, Some((&aug, &mut rng)));
            let zeros = b.iter().filter(|v| **v == 0.0).count();
            assert!((3..=12).contains(&zeros), "cutout zeroed {zeros} values");
            saw_flip |= (0..4).all(|y| (0..4).all(|x| b[y * 4 + x] == 0.0 || b[y * 4 + x] == plain[y * 4 + 3 - x]));
        }
        assert!(saw_flip);
    }
}
