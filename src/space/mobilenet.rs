//! The Once-for-All MobileNetV3 space as a [`SearchSpace`].
//!
//! 5 stages of up to 4 blocks; per block a kernel size and an expand ratio,
//! per stage a depth, and one input resolution. Text form: OFA's arch dict as
//! JSON, `{"ks": [20 ints], "e": [20 ints], "d": [5 ints], "r": [224]}`
//! (`image_size` accepted for `r`, a bare int too). Values of blocks beyond a
//! stage's depth are kept but ignored by cost, key and graph.
//!
//! Sampling, mutation and crossover follow Once-for-All's evolution finder:
//! mutation resamples each block's (kernel, expand) with probability
//! `block_prob`, each stage's depth with `block_prob`, and the resolution
//! with `resolution_prob`; crossover takes every entry from either parent.
//!
//! Graph for the tokenizer: a chain [stem, active blocks in order, head].
//! Block op code = 1 + 3 * (index of its kernel in 3, 5, 7) + (index of its
//! expand ratio in 3, 4, 6), so 1..=9 in the standard space; head 10; the
//! stem's op code carries the resolution: 11 + resolution / 4 (e.g. 67 at
//! 224). Sequence length varies with depth: 12..=22 nodes.

use anyhow::{Context, Result, bail};
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ArchKey, SearchSpace};
use crate::graph::ArchGraph;
use crate::net::Cost;
use crate::net::mobilenet::{BlockChoice, MobileNetConfig, build};

/// Stages of the network.
pub const STAGES: usize = 5;
/// Block slots per stage.
pub const SLOTS: usize = 4;
/// Block slots in all.
pub const BLOCKS: usize = STAGES * SLOTS;
/// Op code of the head node.
pub const HEAD_CODE: usize = 10;

/// An OFA MobileNetV3 architecture.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MobileNetArch {
    pub ks: [usize; BLOCKS],
    pub e: [usize; BLOCKS],
    pub d: [usize; STAGES],
    pub r: usize,
}

impl MobileNetArch {
    /// The active blocks of each stage.
    pub fn stages(&self) -> Vec<Vec<BlockChoice>> {
        (0..STAGES)
            .map(|s| {
                (0..self.d[s])
                    .map(|i| BlockChoice { kernel: self.ks[s * SLOTS + i], expand: self.e[s * SLOTS + i] })
                    .collect()
            })
            .collect()
    }
}

/// Mutation probabilities (`mutation:`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MobileNetMutation {
    #[serde(default = "d_block")]
    pub block_prob: f64,
    #[serde(default = "d_res")]
    pub resolution_prob: f64,
}

fn d_block() -> f64 {
    0.1
}
fn d_res() -> f64 {
    0.5
}

impl Default for MobileNetMutation {
    fn default() -> Self {
        Self { block_prob: 0.1, resolution_prob: 0.5 }
    }
}

/// `search_spaces/mobilenetv3.yaml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MobileNetSpaceConfig {
    pub kernel_sizes: Vec<usize>,
    pub expand_ratios: Vec<usize>,
    pub depths: Vec<usize>,
    pub resolutions: Vec<usize>,
    #[serde(default)]
    pub mutation: MobileNetMutation,
    #[serde(default)]
    pub network: MobileNetConfig,
}

pub struct MobileNetSpace {
    pub cfg: MobileNetSpaceConfig,
}

fn pick(rng: &mut StdRng, v: &[usize]) -> usize {
    v[rng.random_range(0..v.len())]
}

impl MobileNetSpace {
    pub fn new(cfg: MobileNetSpaceConfig) -> Result<Self> {
        let bad_kernel = cfg.kernel_sizes.iter().find(|&&k| ![3, 5, 7].contains(&k));
        if cfg.kernel_sizes.is_empty() || bad_kernel.is_some() {
            bail!("kernel_sizes must be a non-empty subset of [3, 5, 7], got {:?}", cfg.kernel_sizes);
        }
        if cfg.expand_ratios.is_empty() || cfg.expand_ratios.iter().any(|&e| ![3, 4, 6].contains(&e)) {
            bail!("expand_ratios must be a non-empty subset of [3, 4, 6], got {:?}", cfg.expand_ratios);
        }
        if cfg.depths.is_empty() || cfg.depths.iter().any(|&d| d == 0 || d > SLOTS) {
            bail!("depths must be a non-empty subset of 1..={SLOTS}, got {:?}", cfg.depths);
        }
        if cfg.resolutions.is_empty() || cfg.resolutions.iter().any(|&r| r < 32 || r % 4 != 0) {
            bail!("resolutions must be multiples of 4, at least 32, got {:?}", cfg.resolutions);
        }
        let m = &cfg.mutation;
        if !(0.0..=1.0).contains(&m.block_prob) || !(0.0..=1.0).contains(&m.resolution_prob) {
            bail!("mutation probabilities must be in [0, 1]");
        }
        Ok(Self { cfg })
    }

    fn code(k: usize, e: usize) -> usize {
        let ki = [3, 5, 7].iter().position(|&x| x == k).unwrap_or(0);
        let ei = [3, 4, 6].iter().position(|&x| x == e).unwrap_or(0);
        1 + 3 * ki + ei
    }

    /// Parses OFA's arch dict (JSON) without checking it against this space.
    pub fn parse_dict(text: &str) -> Result<MobileNetArch> {
        let v: Value = serde_json::from_str(text).context("architecture is not valid JSON")?;
        let obj = v.as_object().context("architecture must be a JSON object with ks, e, d and r")?;
        for key in obj.keys() {
            if !["ks", "e", "d", "r", "image_size", "wid"].contains(&key.as_str()) {
                bail!("unknown key '{key}' (expected ks, e, d, r or image_size)");
            }
        }
        fn ints(obj: &serde_json::Map<String, Value>, key: &str, n: usize) -> Result<Vec<usize>> {
            let arr = obj.get(key).with_context(|| format!("missing key '{key}'"))?;
            let arr = arr.as_array().with_context(|| format!("'{key}' must be a list of {n} integers"))?;
            if arr.len() != n {
                bail!("'{key}' must have {n} entries, found {}", arr.len());
            }
            arr.iter()
                .enumerate()
                .map(|(i, x)| {
                    x.as_u64()
                        .map(|x| x as usize)
                        .with_context(|| format!("'{key}'[{i}] = {x} is not a non-negative integer"))
                })
                .collect()
        }
        let ks = ints(obj, "ks", BLOCKS)?;
        let e = ints(obj, "e", BLOCKS)?;
        let d = ints(obj, "d", STAGES)?;
        let rkey = if obj.contains_key("r") { "r" } else { "image_size" };
        let r = match obj.get(rkey).with_context(|| "missing key 'r' (or 'image_size')")? {
            Value::Array(a) if a.len() == 1 => a[0].as_u64(),
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
        .with_context(|| format!("'{rkey}' must be an integer or a list of one integer"))? as usize;
        Ok(MobileNetArch {
            ks: ks.try_into().expect("checked"),
            e: e.try_into().expect("checked"),
            d: d.try_into().expect("checked"),
            r,
        })
    }
}

impl SearchSpace for MobileNetSpace {
    type Genotype = MobileNetArch;

    fn name(&self) -> &'static str {
        "mobilenetv3"
    }

    fn sample(&self, rng: &mut StdRng) -> MobileNetArch {
        let c = &self.cfg;
        let mut a = MobileNetArch { ks: [0; BLOCKS], e: [0; BLOCKS], d: [0; STAGES], r: 0 };
        for i in 0..BLOCKS {
            a.ks[i] = pick(rng, &c.kernel_sizes);
            a.e[i] = pick(rng, &c.expand_ratios);
        }
        for s in 0..STAGES {
            a.d[s] = pick(rng, &c.depths);
        }
        a.r = pick(rng, &c.resolutions);
        a
    }

    fn mutate(&self, g: &MobileNetArch, rng: &mut StdRng) -> MobileNetArch {
        let c = &self.cfg;
        let mut a = g.clone();
        if rng.random_bool(c.mutation.resolution_prob) {
            a.r = pick(rng, &c.resolutions);
        }
        for i in 0..BLOCKS {
            if rng.random_bool(c.mutation.block_prob) {
                a.ks[i] = pick(rng, &c.kernel_sizes);
                a.e[i] = pick(rng, &c.expand_ratios);
            }
        }
        for s in 0..STAGES {
            if rng.random_bool(c.mutation.block_prob) {
                a.d[s] = pick(rng, &c.depths);
            }
        }
        a
    }

    fn crossover(&self, x: &MobileNetArch, y: &MobileNetArch, rng: &mut StdRng) -> MobileNetArch {
        let mut a = x.clone();
        for i in 0..BLOCKS {
            if rng.random_bool(0.5) {
                a.ks[i] = y.ks[i];
            }
            if rng.random_bool(0.5) {
                a.e[i] = y.e[i];
            }
        }
        for s in 0..STAGES {
            if rng.random_bool(0.5) {
                a.d[s] = y.d[s];
            }
        }
        if rng.random_bool(0.5) {
            a.r = y.r;
        }
        a
    }

    fn validate(&self, g: &MobileNetArch) -> Result<()> {
        let c = &self.cfg;
        if !c.resolutions.contains(&g.r) {
            bail!("resolution {} is not in this space's resolutions {:?}", g.r, c.resolutions);
        }
        for s in 0..STAGES {
            if !c.depths.contains(&g.d[s]) {
                bail!("'d'[{s}] = {} is not in this space's depths {:?}", g.d[s], c.depths);
            }
            for i in s * SLOTS..s * SLOTS + g.d[s] {
                if !c.kernel_sizes.contains(&g.ks[i]) {
                    bail!("'ks'[{i}] = {} is not in this space's kernel_sizes {:?}", g.ks[i], c.kernel_sizes);
                }
                if !c.expand_ratios.contains(&g.e[i]) {
                    bail!("'e'[{i}] = {} is not in this space's expand_ratios {:?}", g.e[i], c.expand_ratios);
                }
            }
        }
        Ok(())
    }

    fn key(&self, g: &MobileNetArch) -> ArchKey {
        let blocks: Vec<String> = g
            .stages()
            .iter()
            .map(|s| s.iter().map(|b| format!("k{}e{}", b.kernel, b.expand)).collect::<Vec<_>>().join(","))
            .collect();
        format!("r{}|{}", g.r, blocks.join("|"))
    }

    fn to_graph(&self, g: &MobileNetArch) -> ArchGraph {
        let mut ops = vec![11 + g.r / 4];
        ops.extend(g.stages().iter().flatten().map(|b| Self::code(b.kernel, b.expand)));
        ops.push(HEAD_CODE);
        let edges: Vec<(usize, usize)> = (1..ops.len()).map(|i| (i - 1, i)).collect();
        ArchGraph::from_edges(ops, &edges).expect("a chain is a valid graph")
    }

    fn parse(&self, text: &str) -> Result<MobileNetArch> {
        let a = Self::parse_dict(text)?;
        self.validate(&a)?;
        Ok(a)
    }

    fn format(&self, g: &MobileNetArch) -> String {
        serde_json::json!({ "ks": g.ks, "e": g.e, "d": g.d, "r": [g.r] }).to_string()
    }

    fn cost(&self, g: &MobileNetArch) -> Cost {
        build(&g.stages(), g.r, &self.cfg.network).cost()
    }
}
