//! BANANAS's meta neural network: a small fully-connected network (ReLU
//! hidden layers, one linear output) trained with Adam on the mean absolute
//! error, as the paper describes it (10 layers of width 20, learning rate
//! 0.01, 200 epochs). Written out here rather than on burn: it has a few
//! thousand weights and trains on at most a few hundred examples, where a
//! tensor library's cost per operation would be most of the time. Plain
//! `f32` arithmetic in a fixed order: the same seed gives the same weights
//! in any process.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// How each network of the ensemble is built and trained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpSettings {
    /// Hidden layers.
    #[serde(default = "d_layers")]
    pub layers: usize,
    /// Units in each hidden layer.
    #[serde(default = "d_width")]
    pub width: usize,
    #[serde(default = "d_epochs")]
    pub epochs: usize,
    /// Adam's learning rate.
    #[serde(default = "d_lr")]
    pub lr: f64,
    #[serde(default = "d_batch")]
    pub batch_size: usize,
}

fn d_layers() -> usize {
    10
}
fn d_width() -> usize {
    20
}
fn d_epochs() -> usize {
    200
}
fn d_lr() -> f64 {
    0.01
}
fn d_batch() -> usize {
    32
}

impl Default for MlpSettings {
    fn default() -> Self {
        Self { layers: d_layers(), width: d_width(), epochs: d_epochs(), lr: d_lr(), batch_size: d_batch() }
    }
}

/// One fully-connected layer: `w` is `out` rows of `inp` weights.
#[derive(Clone, Debug)]
struct Dense {
    inp: usize,
    out: usize,
    w: Vec<f32>,
    b: Vec<f32>,
}

impl Dense {
    /// He-uniform weights (for the ReLU that follows), zero biases.
    fn init(inp: usize, out: usize, rng: &mut StdRng) -> Self {
        let limit = (6.0 / inp.max(1) as f32).sqrt();
        let w = (0..inp * out).map(|_| rng.random_range(-limit..limit)).collect();
        Self { inp, out, w, b: vec![0.0; out] }
    }

    fn forward(&self, x: &[f32], y: &mut Vec<f32>) {
        y.clear();
        for o in 0..self.out {
            let row = &self.w[o * self.inp..(o + 1) * self.inp];
            y.push(self.b[o] + row.iter().zip(x).map(|(w, x)| w * x).sum::<f32>());
        }
    }
}

/// A trained network.
#[derive(Clone, Debug)]
pub struct Mlp {
    layers: Vec<Dense>,
}

/// Adam's running moments of one parameter vector.
struct Moments {
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Moments {
    fn new(n: usize) -> Self {
        Self { m: vec![0.0; n], v: vec![0.0; n] }
    }

    /// One Adam step of `params` along `grad` (step `t` from 1).
    fn step(&mut self, params: &mut [f32], grad: &[f32], lr: f32, t: i32) {
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        let (c1, c2) = (1.0 - B1.powi(t), 1.0 - B2.powi(t));
        for i in 0..params.len() {
            self.m[i] = B1 * self.m[i] + (1.0 - B1) * grad[i];
            self.v[i] = B2 * self.v[i] + (1.0 - B2) * grad[i] * grad[i];
            params[i] -= lr * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + 1e-8);
        }
    }
}

impl Mlp {
    /// Trains a network from `rng`'s weights on inputs `x` and targets `y`.
    pub fn train(x: &[Vec<f32>], y: &[f32], s: &MlpSettings, rng: &mut StdRng) -> Self {
        let input = x.first().map_or(0, Vec::len);
        let mut layers = Vec::with_capacity(s.layers + 1);
        let mut width = input;
        for _ in 0..s.layers {
            layers.push(Dense::init(width, s.width, rng));
            width = s.width;
        }
        layers.push(Dense::init(width, 1, rng));
        let mut net = Self { layers };
        let mut moments: Vec<(Moments, Moments)> =
            net.layers.iter().map(|l| (Moments::new(l.w.len()), Moments::new(l.b.len()))).collect();
        let mut grads: Vec<(Vec<f32>, Vec<f32>)> =
            net.layers.iter().map(|l| (vec![0.0; l.w.len()], vec![0.0; l.b.len()])).collect();
        let mut order: Vec<usize> = (0..x.len()).collect();
        let mut acts: Vec<Vec<f32>> = vec![Vec::new(); net.layers.len() + 1];
        let mut t = 0;
        for _ in 0..s.epochs {
            order.shuffle(rng);
            for batch in order.chunks(s.batch_size.max(1)) {
                for (gw, gb) in &mut grads {
                    gw.fill(0.0);
                    gb.fill(0.0);
                }
                for &i in batch {
                    net.activations(&x[i], &mut acts);
                    let out = acts[net.layers.len()][0];
                    // d|out - y| / d out, averaged over the batch
                    let mut delta = vec![(out - y[i]).signum() / batch.len() as f32];
                    net.backward(&acts, &mut delta, &mut grads);
                }
                t += 1;
                for ((layer, (mw, mb)), (gw, gb)) in net.layers.iter_mut().zip(&mut moments).zip(&grads) {
                    mw.step(&mut layer.w, gw, s.lr as f32, t);
                    mb.step(&mut layer.b, gb, s.lr as f32, t);
                }
            }
        }
        net
    }

    /// Each layer's output for `x` (`acts[0]` is `x`; hidden outputs after ReLU).
    fn activations(&self, x: &[f32], acts: &mut [Vec<f32>]) {
        acts[0].clear();
        acts[0].extend_from_slice(x);
        let last = self.layers.len() - 1;
        for (l, layer) in self.layers.iter().enumerate() {
            let (before, after) = acts.split_at_mut(l + 1);
            layer.forward(&before[l], &mut after[0]);
            if l < last {
                after[0].iter_mut().for_each(|v| *v = v.max(0.0));
            }
        }
    }

    /// Adds one example's gradients to `grads`, from the loss's gradient
    /// `delta` at the output.
    fn backward(&self, acts: &[Vec<f32>], delta: &mut Vec<f32>, grads: &mut [(Vec<f32>, Vec<f32>)]) {
        for l in (0..self.layers.len()).rev() {
            let layer = &self.layers[l];
            let input = &acts[l];
            let (gw, gb) = &mut grads[l];
            let mut back = vec![0.0f32; layer.inp];
            for (o, &d) in delta.iter().enumerate() {
                if d == 0.0 {
                    continue;
                }
                gb[o] += d;
                let row = o * layer.inp;
                for i in 0..layer.inp {
                    gw[row + i] += d * input[i];
                    back[i] += d * layer.w[row + i];
                }
            }
            // through the ReLU that made this layer's input (none before the first layer)
            if l > 0 {
                for (b, a) in back.iter_mut().zip(input) {
                    if *a <= 0.0 {
                        *b = 0.0;
                    }
                }
            }
            *delta = back;
        }
    }

    pub fn predict(&self, x: &[f32]) -> f32 {
        let mut acts = vec![Vec::new(); self.layers.len() + 1];
        self.activations(x, &mut acts);
        acts[self.layers.len()][0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Inputs of 8 bits; the target depends on two of them.
    fn data(n: usize, rng: &mut StdRng) -> (Vec<Vec<f32>>, Vec<f32>) {
        let x: Vec<Vec<f32>> = (0..n).map(|_| (0..8).map(|_| rng.random_range(0..2) as f32).collect()).collect();
        let y = x.iter().map(|v| 0.2 + 0.3 * v[1] - 0.1 * v[4]).collect();
        (x, y)
    }

    #[test]
    fn it_learns_a_function_of_its_bits_and_the_same_seed_gives_the_same_network() {
        let mut rng = StdRng::seed_from_u64(1);
        let (x, y) = data(64, &mut rng);
        let (tx, ty) = data(32, &mut rng);
        let s = MlpSettings { layers: 3, ..MlpSettings::default() };
        let mae = |net: &Mlp| tx.iter().zip(&ty).map(|(x, y)| (net.predict(x) - y).abs()).sum::<f32>() / 32.0;
        let untrained = Mlp::train(&x, &y, &MlpSettings { epochs: 0, ..s.clone() }, &mut StdRng::seed_from_u64(2));
        let net = Mlp::train(&x, &y, &s, &mut StdRng::seed_from_u64(2));
        assert!(mae(&net) < 0.06, "held-out error {} (untrained {})", mae(&net), mae(&untrained));
        assert!(mae(&untrained) > 0.1, "{}", mae(&untrained));
        let again = Mlp::train(&x, &y, &s, &mut StdRng::seed_from_u64(2));
        assert!(tx.iter().all(|v| net.predict(v).to_bits() == again.predict(v).to_bits()));
        let other = Mlp::train(&x, &y, &s, &mut StdRng::seed_from_u64(3));
        assert!(tx.iter().any(|v| net.predict(v) != other.predict(v)));
    }
}
