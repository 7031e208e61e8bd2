//! A deterministic synthetic 10-class RGB image set, generated from a seed:
//! the embedded default data of the built-in trainer (no download).
//!
//! The class is the shape of one object (disc, square, triangle, plus, ring,
//! striped disc, checkered square, dumbbell, frame, half disc) drawn at a
//! random position, size and rotation, in a random colour of random
//! contrast, over a textured background of another random colour, with
//! distractor blobs and pixel noise. Colour says nothing about the class;
//! telling shapes apart under rotation, clutter and low contrast takes a
//! real network, so architectures reach different accuracies.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

use super::image_set::ImageSet;

pub const CLASSES: usize = 10;

/// Whether the point `(u, v)` (object coordinates, radius 1) is inside the
/// object of class `c`.
fn inside(c: usize, u: f64, v: f64) -> bool {
    let r2 = u * u + v * v;
    let box_ = u.abs().max(v.abs());
    match c {
        0 => r2 <= 1.0,
        1 => box_ <= 0.8,
        2 => (-0.5..=1.0).contains(&v) && u.abs() <= (1.0 - v) / 3f64.sqrt(),
        3 => (u.abs() <= 0.25 && v.abs() <= 1.0) || (v.abs() <= 0.25 && u.abs() <= 1.0),
        4 => (0.3..=1.0).contains(&r2),
        5 => r2 <= 1.0 && ((u + 1.0) * 3.0).floor() as i64 % 2 == 0,
        6 => box_ <= 0.9 && (((u + 1.0) * 2.5).floor() as i64 + ((v + 1.0) * 2.5).floor() as i64) % 2 == 0,
        7 => (u - 0.55).powi(2) + v * v <= 0.16 || (u + 0.55).powi(2) + v * v <= 0.16,
        8 => (0.6..=0.9).contains(&box_),
        _ => r2 <= 1.0 && v >= 0.0,
    }
}

fn luma(c: &[f64; 3]) -> f64 {
    0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
}

/// One image of class `label`, channel-major floats in [0, 1].
fn draw(label: usize, size: usize, rng: &mut StdRng) -> Vec<f64> {
    let s = size as f64;
    let plane = size * size;
    let bg: [f64; 3] = [rng.random(), rng.random(), rng.random()];
    let mut fg: [f64; 3] = [rng.random(), rng.random(), rng.random()];
    let contrast = rng.random_range(0.3..0.7);
    for _ in 0..20 {
        if (luma(&fg) - luma(&bg)).abs() >= contrast {
            break;
        }
        fg = [rng.random(), rng.random(), rng.random()];
    }
    // Background texture: two random plane waves.
    let waves: Vec<(f64, f64, f64, f64)> = (0..2)
        .map(|_| {
            (
                rng.random_range(0.0..std::f64::consts::TAU),
                rng.random_range(0.1..0.6),
                rng.random(),
                0.08 * rng.random::<f64>(),
            )
        })
        .collect();
    let mut img = vec![0f64; 3 * plane];
    for y in 0..size {
        for x in 0..size {
            let t: f64 = waves
                .iter()
                .map(|&(a, f, ph, amp)| amp * ((x as f64 * a.cos() + y as f64 * a.sin()) * f + ph * 6.3).sin())
                .sum();
            for c in 0..3 {
                img[c * plane + y * size + x] = bg[c] + t;
            }
        }
    }
    // Distractors: small squares of random colours.
    for _ in 0..rng.random_range(0..2) {
        let w = rng.random_range(2..=(size / 8).max(2));
        let (x0, y0) = (rng.random_range(0..size - w), rng.random_range(0..size - w));
        let col: [f64; 3] = [rng.random(), rng.random(), rng.random()];
        for y in y0..y0 + w {
            for x in x0..x0 + w {
                for c in 0..3 {
                    img[c * plane + y * size + x] = col[c];
                }
            }
        }
    }
    // The object.
    let r = rng.random_range(0.28..0.42) * s;
    let (cx, cy) = (rng.random_range(0.35..0.65) * s, rng.random_range(0.35..0.65) * s);
    let th: f64 = rng.random_range(0.0..std::f64::consts::TAU);
    let (sin, cos) = th.sin_cos();
    for y in 0..size {
        for x in 0..size {
            let (dx, dy) = ((x as f64 + 0.5 - cx) / r, (y as f64 + 0.5 - cy) / r);
            let (u, v) = (cos * dx + sin * dy, -sin * dx + cos * dy);
            if inside(label, u, v) {
                for c in 0..3 {
                    img[c * plane + y * size + x] = fg[c];
                }
            }
        }
    }
    let noise = Normal::new(0.0, 0.03).expect("valid sigma");
    for p in img.iter_mut() {
        *p += noise.sample(rng);
    }
    img
}

/// `n` images of `size` x `size`, classes in turn, from `seed`; `stream`
/// separates sets drawn from one seed (0 = training, 1 = test).
pub fn generate(n: usize, size: usize, seed: u64, stream: u64) -> ImageSet {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (stream + 1));
    let mut set = ImageSet::new(size, CLASSES);
    for i in 0..n {
        let label = i % CLASSES;
        let img: Vec<u8> =
            draw(label, size, &mut rng).iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect();
        set.push(&img, label as u16);
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_draws_a_visible_object() {
        for c in 0..CLASSES {
            let inside_count =
                (0..32 * 32).filter(|p| inside(c, (p % 32) as f64 / 16.0 - 1.0, (p / 32) as f64 / 16.0 - 1.0)).count();
            assert!(inside_count > 30, "class {c} covers {inside_count} of 1024 points");
        }
    }

    #[test]
    fn streams_differ() {
        assert_ne!(generate(10, 16, 3, 0).pixels, generate(10, 16, 3, 1).pixels);
    }
}
