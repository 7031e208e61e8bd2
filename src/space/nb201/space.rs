//! NAS-Bench-201 as a [`SearchSpace`]: uniform sampling, one-edge mutation,
//! per-edge crossover, the benchmark's UniqueString as canonical key, and the
//! benchmark's CIFAR network (C=16, 5 cells per stage, ResNet blocks between
//! stages): its cost, and its description for the code that builds it.

use anyhow::{Result, bail};
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::genotype::{EDGES, Nb201Cell, OPS};
use crate::graph::ArchGraph;
use crate::net::{Cost, NetOverrides, NetSpec};
use crate::space::diagram::Dag;
use crate::space::{ArchKey, SearchSpace, other_index};

/// `search_spaces/nb201.yaml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nb201SpaceConfig {
    /// The ops edges may take (a subset of the benchmark's five).
    pub ops: Vec<String>,
    /// Channels of the first stage (the benchmark: 16).
    #[serde(default = "d_c")]
    pub channels: usize,
    /// Cells per stage (the benchmark: 5).
    #[serde(default = "d_n")]
    pub cells_per_stage: usize,
    #[serde(default = "d_classes")]
    pub classes: usize,
}

impl Nb201SpaceConfig {
    /// The benchmark's space: all five ops, its network (C=16, 5 cells per
    /// stage, 10 classes).
    pub fn benchmark() -> Self {
        Self {
            ops: OPS.iter().map(|s| s.to_string()).collect(),
            channels: d_c(),
            cells_per_stage: d_n(),
            classes: d_classes(),
        }
    }
}

fn d_c() -> usize {
    16
}
fn d_n() -> usize {
    5
}
fn d_classes() -> usize {
    10
}

pub struct Nb201Space {
    cfg: Nb201SpaceConfig,
    allowed: Vec<u8>,
}

impl Nb201Space {
    pub fn new(cfg: Nb201SpaceConfig) -> Result<Self> {
        let mut allowed = Vec::new();
        for op in &cfg.ops {
            match OPS.iter().position(|o| o == op) {
                Some(i) => allowed.push(i as u8),
                None => bail!("ops: unknown NAS-Bench-201 op '{op}' (known: {})", OPS.join(", ")),
            }
        }
        if allowed.len() < 2 {
            bail!("ops: need at least 2 ops, got {}", allowed.len());
        }
        Ok(Self { cfg, allowed })
    }

    fn random_op(&self, rng: &mut StdRng) -> u8 {
        self.allowed[rng.random_range(0..self.allowed.len())]
    }

    /// The node expression of cell node `j` as sorted sum terms, following
    /// the benchmark's UniqueString exactly: a `none` edge adds the term `#`,
    /// a skip connection adds its input's expression as one term, any other
    /// op adds `(input)@op` (or `#` when its input is just `#`).
    fn expr(cell: &Nb201Cell, j: usize) -> Vec<String> {
        if j == 0 {
            return vec!["0".to_string()];
        }
        let first = j * (j - 1) / 2; // edges into node j start here
        let mut terms = Vec::new();
        for i in 0..j {
            let op = OPS[cell.edges[first + i] as usize];
            match op {
                "none" => terms.push("#".to_string()),
                "skip_connect" => terms.push(Self::expr(cell, i).join("+")),
                _ => {
                    let input = Self::expr(cell, i).join("+");
                    terms.push(if input == "#" { input } else { format!("({input})@{op}") });
                }
            }
        }
        terms.sort();
        terms
    }
}

impl SearchSpace for Nb201Space {
    type Genotype = Nb201Cell;

    fn name(&self) -> &'static str {
        "nb201"
    }

    fn sample(&self, rng: &mut StdRng) -> Nb201Cell {
        let mut edges = [0u8; EDGES];
        for e in &mut edges {
            *e = self.random_op(rng);
        }
        Nb201Cell { edges }
    }

    fn mutate(&self, g: &Nb201Cell, rng: &mut StdRng) -> Nb201Cell {
        let mut c = *g;
        let e = rng.random_range(0..EDGES);
        let cur = self.allowed.iter().position(|&o| o == c.edges[e]).unwrap_or(0);
        c.edges[e] = self.allowed[other_index(rng, self.allowed.len(), cur)];
        c
    }

    fn crossover(&self, a: &Nb201Cell, b: &Nb201Cell, rng: &mut StdRng) -> Nb201Cell {
        let mut c = *a;
        for e in 0..EDGES {
            if rng.random_bool(0.5) {
                c.edges[e] = b.edges[e];
            }
        }
        c
    }

    /// An edge's unit depends on its op and its stage only: per op, a cell
    /// of that op on every edge.
    fn unit_cover(&self) -> Option<Vec<Nb201Cell>> {
        Some(self.allowed.iter().map(|&op| Nb201Cell { edges: [op; EDGES] }).collect())
    }

    fn validate(&self, g: &Nb201Cell) -> Result<()> {
        for e in 0..EDGES {
            if !self.allowed.contains(&g.edges[e]) {
                bail!("edge {e} uses '{}', which this space's ops leave out", g.op_name(e));
            }
        }
        Ok(())
    }

    fn key(&self, g: &Nb201Cell) -> ArchKey {
        Self::expr(g, 3).join("+")
    }

    fn to_graph(&self, g: &Nb201Cell) -> ArchGraph {
        g.to_graph()
    }

    fn parse(&self, text: &str) -> Result<Nb201Cell> {
        let c: Nb201Cell = text.parse()?;
        self.validate(&c)?;
        Ok(c)
    }

    fn format(&self, g: &Nb201Cell) -> String {
        g.to_string()
    }

    fn diagram(&self, g: &Nb201Cell) -> Vec<Dag> {
        let mut dag = Dag { title: "NAS-Bench-201 cell".into(), nodes: Vec::new(), edges: Vec::new() };
        let nodes: Vec<usize> = ["input", "node 1", "node 2", "output"]
            .iter()
            .enumerate()
            .map(|(i, l)| dag.node(*l, i == 0 || i == 3))
            .collect();
        let mut e = 0;
        for to in 1..=3 {
            for from in 0..to {
                dag.edge(nodes[from], nodes[to], g.op_name(e));
                e += 1;
            }
        }
        vec![dag]
    }

    fn cost(&self, g: &Nb201Cell) -> Cost {
        crate::net::nb201::cost(g, self.cfg.channels, self.cfg.cells_per_stage, self.cfg.classes)
    }

    fn all(&self) -> Option<Vec<Nb201Cell>> {
        Some(Nb201Cell::enumerate().filter(|c| self.validate(c).is_ok()).collect())
    }

    fn network(&self, g: &Nb201Cell, o: &NetOverrides) -> Option<Result<NetSpec>> {
        Some(o.refuse(&["cells", "width_mult", "auxiliary_weight"], "NAS-Bench-201").map(|()| {
            let channels = o.channels.unwrap_or(self.cfg.channels);
            let classes = o.classes.unwrap_or(self.cfg.classes);
            let mut net = crate::net::nb201::build(g, channels, self.cfg.cells_per_stage, classes);
            net.input_size = o.resolution.unwrap_or(net.input_size);
            NetSpec::Nb201(net)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn space() -> Nb201Space {
        Nb201Space::new(Nb201SpaceConfig {
            ops: OPS.iter().map(|s| s.to_string()).collect(),
            channels: 16,
            cells_per_stage: 5,
            classes: 10,
        })
        .unwrap()
    }

    #[test]
    fn largest_network_has_the_benchmarks_1_53m_parameters() {
        let s = space();
        let all_conv: Nb201Cell =
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
                .parse()
                .unwrap();
        assert_eq!(s.cost(&all_conv).params, 1_531_546);
    }

    #[test]
    fn key_merges_isomorphic_cells() {
        let s = space();
        let k = |t: &str| s.key(&t.parse().unwrap());
        // node 1 unused (its out-edges are none): its own op does not matter
        assert_eq!(
            k("|nor_conv_3x3~0|+|none~0|none~1|+|avg_pool_3x3~0|none~1|none~2|"),
            k("|nor_conv_1x1~0|+|none~0|none~1|+|avg_pool_3x3~0|none~1|none~2|")
        );
        assert_eq!(k("|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|"), "#+#+#+0");
        assert_ne!(
            k("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|skip_connect~2|"),
            k("|nor_conv_1x1~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|skip_connect~2|")
        );
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..100 {
            let a = s.sample(&mut rng);
            let m = s.mutate(&a, &mut rng);
            assert_ne!(a, m);
            assert!(s.validate(&s.crossover(&a, &m, &mut rng)).is_ok());
        }
    }
}
