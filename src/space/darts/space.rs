//! The DARTS CIFAR-10 cell space as a [`SearchSpace`].
//!
//! Graph for the tokenizer (22 nodes; 24 tokens with the end and depth
//! tokens): the normal cell as nodes 0..=10, then the reduction cell as nodes
//! 11..=21, each laid out as [c_{k-2}, c_{k-1}, one node per edge in genotype
//! order, output]. An edge node reads the node that feeds its edge; an
//! intermediate node is the sum of its two edges, so an edge from
//! intermediate node i reads both edge nodes of i. The output (concat of
//! nodes 2..=5) reads all 8 edge nodes. Across cells, as data flows in the
//! network: c_{k-1} reads c_{k-2} (node 0 -> 1); the reduction cell's
//! c_{k-2} is the normal cell's c_{k-1} (1 -> 11) and its c_{k-1} is the
//! normal cell's output (10 -> 12).
//!
//! Op codes: 0 cell input c_{k-2}, 1 cell input c_{k-1}, 2 max_pool_3x3,
//! 3 avg_pool_3x3, 4 skip_connect, 5 sep_conv_3x3, 6 sep_conv_5x5,
//! 7 dil_conv_3x3, 8 dil_conv_5x5, 9 cell output. Position tells the two
//! cells apart.

use anyhow::{Result, bail};
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::genotype::{DartsCell, DartsGenotype, DartsOp, EDGES, Edge, NODES};
use crate::graph::ArchGraph;
use crate::net::darts::{DartsNetConfig, build};
use crate::net::{Cost, NetOverrides, NetSpec};
use crate::space::diagram::Dag;
use crate::space::{ArchKey, SearchSpace, other_index};

/// Nodes of one cell in the graph.
pub const CELL_NODES: usize = EDGES + 3;
/// Nodes of a genotype's graph.
pub const GRAPH_NODES: usize = 2 * CELL_NODES;
/// Op code of the cell output node.
pub const OUTPUT_CODE: usize = 9;

/// `search_spaces/darts.yaml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DartsSpaceConfig {
    /// The ops edges may take (a subset of DARTS's seven).
    pub ops: Vec<DartsOp>,
    /// Probability that mutation changes each edge's op, and each edge's input.
    #[serde(default = "d_prob")]
    pub mutate_prob: f64,
    #[serde(default)]
    pub network: DartsNetConfig,
}

fn d_prob() -> f64 {
    0.1
}

pub struct DartsSpace {
    pub cfg: DartsSpaceConfig,
}

impl DartsSpace {
    pub fn new(cfg: DartsSpaceConfig) -> Result<Self> {
        if cfg.ops.is_empty() {
            bail!("ops: need at least one op");
        }
        if !(0.0..=1.0).contains(&cfg.mutate_prob) {
            bail!("mutate_prob must be in [0, 1], got {}", cfg.mutate_prob);
        }
        let n = &cfg.network;
        if n.channels == 0 || n.cells < 3 || n.classes == 0 || n.input_size < 8 {
            bail!("network: channels, classes must be positive, cells >= 3, input_size >= 8");
        }
        Ok(Self { cfg })
    }

    fn random_op(&self, rng: &mut StdRng) -> DartsOp {
        self.cfg.ops[rng.random_range(0..self.cfg.ops.len())]
    }

    fn sample_cell(&self, rng: &mut StdRng) -> DartsCell {
        let mut edges = [Edge { op: DartsOp::SkipConnect, input: 0 }; EDGES];
        for n in 0..NODES {
            let node = n + 2;
            let a = rng.random_range(0..node);
            let b = other_index(rng, node, a);
            edges[2 * n] = Edge { op: self.random_op(rng), input: a };
            edges[2 * n + 1] = Edge { op: self.random_op(rng), input: b };
        }
        DartsCell { edges }
    }

    /// Gives edge `k` another of the space's ops; false when there is none.
    fn change_op(&self, cell: &mut DartsCell, k: usize, rng: &mut StdRng) -> bool {
        let ops = &self.cfg.ops;
        if ops.len() < 2 {
            return false;
        }
        let cur = ops.iter().position(|&o| o == cell.edges[k].op).unwrap_or(0);
        cell.edges[k].op = ops[other_index(rng, ops.len(), cur)];
        true
    }

    /// Gives edge `k` another input, distinct from its sibling's; false when there is none.
    fn change_input(cell: &mut DartsCell, k: usize, rng: &mut StdRng) -> bool {
        let node = k / 2 + 2;
        let (sibling, current) = (cell.edges[k ^ 1].input, cell.edges[k].input);
        let choices: Vec<usize> = (0..node).filter(|&i| i != sibling && i != current).collect();
        if choices.is_empty() {
            return false;
        }
        cell.edges[k].input = choices[rng.random_range(0..choices.len())];
        true
    }

    fn mutate_cell(&self, c: &DartsCell, rng: &mut StdRng) -> DartsCell {
        let mut out = *c;
        for k in 0..EDGES {
            if rng.random_bool(self.cfg.mutate_prob) {
                self.change_op(&mut out, k, rng);
            }
            if rng.random_bool(self.cfg.mutate_prob) {
                Self::change_input(&mut out, k, rng);
            }
        }
        out
    }

    /// Canonical expression of a cell: each node's edges sorted, nodes sorted.
    fn cell_key(c: &DartsCell) -> String {
        fn expr(c: &DartsCell, node: usize) -> String {
            match node {
                0 => "a".into(),
                1 => "b".into(),
                n => {
                    let mut terms: Vec<String> = (0..2)
                        .map(|k| {
                            let e = c.edges[2 * (n - 2) + k];
                            format!("{}({})", e.op.name(), expr(c, e.input))
                        })
                        .collect();
                    terms.sort();
                    terms.join("+")
                }
            }
        }
        let mut nodes: Vec<String> = (2..2 + NODES).map(|n| format!("[{}]", expr(c, n))).collect();
        nodes.sort();
        nodes.join(",")
    }

    fn cell_edges(c: &DartsCell, o: usize, edges: &mut Vec<(usize, usize)>) {
        for (k, e) in c.edges.iter().enumerate() {
            let me = o + 2 + k;
            if e.input < 2 {
                edges.push((o + e.input, me));
            } else {
                let first = o + 2 + 2 * (e.input - 2);
                edges.push((first, me));
                edges.push((first + 1, me));
            }
            edges.push((me, o + CELL_NODES - 1));
        }
    }
}

impl SearchSpace for DartsSpace {
    type Genotype = DartsGenotype;

    fn name(&self) -> &'static str {
        "darts"
    }

    fn sample(&self, rng: &mut StdRng) -> DartsGenotype {
        DartsGenotype { normal: self.sample_cell(rng), reduce: self.sample_cell(rng) }
    }

    fn mutate(&self, g: &DartsGenotype, rng: &mut StdRng) -> DartsGenotype {
        for _ in 0..100 {
            let m =
                DartsGenotype { normal: self.mutate_cell(&g.normal, rng), reduce: self.mutate_cell(&g.reduce, rng) };
            if m != *g {
                return m;
            }
        }
        // mutate_prob is tiny: change one random edge's op or input for sure
        let mut m = *g;
        loop {
            let cell = if rng.random_bool(0.5) { &mut m.normal } else { &mut m.reduce };
            let k = rng.random_range(0..EDGES);
            if self.change_op(cell, k, rng) || Self::change_input(cell, k, rng) {
                return m;
            }
        }
    }

    fn crossover(&self, a: &DartsGenotype, b: &DartsGenotype, rng: &mut StdRng) -> DartsGenotype {
        // whole nodes (both edges) come from one parent, so inputs stay distinct
        let mut child = *a;
        for (c, other) in [(&mut child.normal, &b.normal), (&mut child.reduce, &b.reduce)] {
            for n in 0..NODES {
                if rng.random_bool(0.5) {
                    c.edges[2 * n] = other.edges[2 * n];
                    c.edges[2 * n + 1] = other.edges[2 * n + 1];
                }
            }
        }
        child
    }

    fn validate(&self, g: &DartsGenotype) -> Result<()> {
        g.validate()?;
        for (name, c) in [("normal", &g.normal), ("reduce", &g.reduce)] {
            for e in &c.edges {
                if !self.cfg.ops.contains(&e.op) {
                    bail!("operation '{}' in the {name} cell is not in this space's ops", e.op.name());
                }
            }
        }
        Ok(())
    }

    fn key(&self, g: &DartsGenotype) -> ArchKey {
        format!("normal:{}|reduce:{}", Self::cell_key(&g.normal), Self::cell_key(&g.reduce))
    }

    fn to_graph(&self, g: &DartsGenotype) -> ArchGraph {
        let mut ops = Vec::with_capacity(GRAPH_NODES);
        for c in [&g.normal, &g.reduce] {
            ops.extend([0, 1]);
            ops.extend(c.edges.iter().map(|e| 2 + e.op.index()));
            ops.push(OUTPUT_CODE);
        }
        let mut edges = vec![(0, 1), (1, CELL_NODES), (CELL_NODES - 1, CELL_NODES + 1)];
        Self::cell_edges(&g.normal, 0, &mut edges);
        Self::cell_edges(&g.reduce, CELL_NODES, &mut edges);
        ArchGraph::from_edges(ops, &edges).expect("a valid DARTS genotype gives a valid graph")
    }

    fn parse(&self, text: &str) -> Result<DartsGenotype> {
        let g: DartsGenotype = text.parse()?;
        self.validate(&g)?;
        Ok(g)
    }

    fn format(&self, g: &DartsGenotype) -> String {
        g.to_string()
    }

    fn diagram(&self, g: &DartsGenotype) -> Vec<Dag> {
        [("normal cell", &g.normal), ("reduction cell", &g.reduce)]
            .into_iter()
            .map(|(title, cell)| {
                let mut dag = Dag { title: title.into(), nodes: Vec::new(), edges: Vec::new() };
                // inputs on the left, the intermediate nodes down a diagonal, the output right
                let mut ids = vec![dag.node("c_{k-2}", true), dag.node("c_{k-1}", true)];
                ids.extend((0..NODES).map(|n| dag.node(format!("{n}"), false)));
                let out = dag.node("c_{k}", true);
                dag.nodes[0].at = Some((0, 0));
                dag.nodes[1].at = Some((0, NODES - 1));
                for n in 0..NODES {
                    dag.nodes[2 + n].at = Some((1 + n, n));
                }
                dag.nodes[out].at = Some((NODES + 1, NODES / 2));
                for (k, e) in cell.edges.iter().enumerate() {
                    dag.edge(ids[e.input], ids[2 + k / 2], e.op.name());
                }
                for n in 0..NODES {
                    dag.edge(ids[2 + n], out, "");
                }
                dag
            })
            .collect()
    }

    fn cost(&self, g: &DartsGenotype) -> Cost {
        build(g, &self.cfg.network).cost()
    }

    /// An edge's unit depends on its op, its cell's place in the network
    /// (channels, size, normal or reduction) and whether it reads one of
    /// the cell's two inputs (stride 2 in a reduction cell) or an
    /// intermediate node; the preprocessing depends on the place only. So:
    /// per op, both cells of that op everywhere, with edges from the inputs
    /// and from every intermediate node.
    fn all(&self) -> Option<Vec<DartsGenotype>> {
        None // 10^18 and more: too many to list
    }

    fn unit_cover(&self) -> Option<Vec<DartsGenotype>> {
        let inputs = [0, 1, 1, 2, 2, 3, 3, 4];
        let cells = self.cfg.ops.iter().map(|&op| DartsCell { edges: inputs.map(|input| Edge { op, input }) });
        Some(cells.map(|c| DartsGenotype { normal: c, reduce: c }).collect())
    }

    fn network(&self, g: &DartsGenotype, o: &NetOverrides) -> Option<Result<NetSpec>> {
        Some(o.refuse(&["width_mult"], "DARTS").map(|()| {
            let mut net = self.cfg.network.clone();
            net.channels = o.channels.unwrap_or(net.channels);
            net.cells = o.cells.unwrap_or(net.cells);
            net.auxiliary = o.auxiliary_head;
            net.input_size = o.resolution.unwrap_or(net.input_size);
            net.classes = o.classes.unwrap_or(net.classes);
            NetSpec::Darts(build(g, &net))
        }))
    }
}
