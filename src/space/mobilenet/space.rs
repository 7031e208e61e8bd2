//! The Once-for-All MobileNetV3 space as a [`SearchSpace`].
//!
//! 5 stages of up to 4 blocks; per block a kernel size and an expand ratio,
//! per stage a depth, and one input resolution (see `genotype` for the
//! architecture and its text form).
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

use anyhow::{Result, bail};
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::genotype::{self, BLOCKS, MobileNetArch, SLOTS, STAGES};
use crate::graph::ArchGraph;
use crate::net::mobilenet::{MobileNetConfig, build};
use crate::net::{Cost, NetOverrides, NetSpec};
use crate::space::diagram::Dag;
use crate::space::{ArchKey, SearchSpace};

/// Op code of the head node in the tokenizer's graph.
pub const HEAD_CODE: usize = 10;

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

    fn diagram(&self, g: &MobileNetArch) -> Vec<Dag> {
        let mut dag = Dag { title: format!("MobileNetV3 at {} px", g.r), nodes: Vec::new(), edges: Vec::new() };
        let stem = dag.node(format!("stem {}px", g.r), true);
        dag.nodes[stem].at = Some((0, 0));
        let mut prev = stem;
        for (s, blocks) in g.stages().iter().enumerate() {
            for (i, b) in blocks.iter().enumerate() {
                let id = dag.node(format!("k{} e{}", b.kernel, b.expand), false);
                dag.nodes[id].at = Some((i + 1, s));
                dag.edge(prev, id, if i == 0 { format!("stage {}", s + 1) } else { String::new() });
                prev = id;
            }
        }
        let head = dag.node("head", true);
        dag.nodes[head].at = Some((SLOTS + 1, STAGES - 1));
        dag.edge(prev, head, "");
        vec![dag]
    }

    fn parse(&self, text: &str) -> Result<MobileNetArch> {
        let a = genotype::parse(text)?;
        self.validate(&a)?;
        Ok(a)
    }

    fn format(&self, g: &MobileNetArch) -> String {
        genotype::format(g)
    }

    fn cost(&self, g: &MobileNetArch) -> Cost {
        build(&g.stages(), g.r, &self.cfg.network).cost()
    }

    /// A block's units depend on its stage, on whether it is the stage's
    /// first (stride, input width), on its kernel and expand ratio and on
    /// the resolution; never on another block's choices (every stage's width
    /// is fixed). The stem and head depend on the resolution only. So: per
    /// resolution and (kernel, expand) pair, that pair in every block of
    /// every stage at its deepest.
    fn all(&self) -> Option<Vec<MobileNetArch>> {
        None // 10^18 and more: too many to list
    }

    fn unit_cover(&self) -> Option<Vec<MobileNetArch>> {
        let c = &self.cfg;
        let depth = *c.depths.iter().max()?;
        let mut out = Vec::new();
        for &r in &c.resolutions {
            for &k in &c.kernel_sizes {
                for &e in &c.expand_ratios {
                    out.push(MobileNetArch { ks: [k; BLOCKS], e: [e; BLOCKS], d: [depth; STAGES], r });
                }
            }
        }
        Some(out)
    }

    fn network(&self, g: &MobileNetArch, o: &NetOverrides) -> Option<Result<NetSpec>> {
        Some(o.refuse(&["channels", "cells", "auxiliary_weight"], "MobileNetV3").map(|()| {
            let mut net = self.cfg.network.clone();
            net.width_mult = o.width_mult.unwrap_or(net.width_mult);
            net.classes = o.classes.unwrap_or(net.classes);
            NetSpec::MobileNet(build(&g.stages(), o.resolution.unwrap_or(g.r), &net))
        }))
    }
}
