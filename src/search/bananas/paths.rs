//! BANANAS's path encoding (White et al., 2021), on any space's
//! architecture graph: an architecture is the set of its paths from the
//! input to the output, each path the sequence of the operations on it, and
//! its encoding has one bit per path of a dictionary. The paper's form
//! lists every possible sequence of the space's operations; here the
//! dictionary is the paths the architectures at hand hold (a path none of
//! them holds is a zero column, which changes no prediction), ordered
//! shortest first, then by operation codes, and truncated to its first
//! `max_paths` entries: the paper's truncated encoding, which also drops the
//! longest paths first. Paths of more than `max_ops` operations are not
//! listed (the paper truncates them too; a chain space, whose one path is
//! long, therefore has no path of its own: the strategy refuses it).

use std::collections::{BTreeSet, HashMap};

use crate::graph::ArchGraph;

/// The op-code sequences of `g`'s input-to-output paths with at most
/// `max_ops` operations (the input and output nodes not counted), each once.
pub fn paths(g: &ArchGraph, max_ops: usize) -> BTreeSet<Vec<usize>> {
    let last = g.len() - 1;
    // successors of each node, from the adjacency
    let next: Vec<Vec<usize>> =
        (0..g.len()).map(|j| (j + 1..g.len()).filter(|&i| g.has_edge(j, i)).collect()).collect();
    let mut out = BTreeSet::new();
    let mut stack: Vec<(usize, Vec<usize>)> = vec![(0, Vec::new())];
    while let Some((node, ops)) = stack.pop() {
        for &to in &next[node] {
            if to == last {
                out.insert(ops.clone());
            } else if ops.len() < max_ops {
                let mut longer = ops.clone();
                longer.push(g.ops()[to]);
                stack.push((to, longer));
            }
        }
    }
    out
}

/// A path dictionary: which bit of the encoding each path sets.
#[derive(Clone, Debug)]
pub struct PathIndex {
    bit: HashMap<Vec<usize>, usize>,
    max_ops: usize,
}

impl PathIndex {
    /// The dictionary of the paths `graphs` hold, shortest first, then by
    /// op codes, its first `max_paths` entries.
    pub fn new<'a>(graphs: impl IntoIterator<Item = &'a ArchGraph>, max_ops: usize, max_paths: usize) -> Self {
        let mut all: BTreeSet<(usize, Vec<usize>)> = BTreeSet::new();
        for g in graphs {
            all.extend(paths(g, max_ops).into_iter().map(|p| (p.len(), p)));
        }
        let bit = all.into_iter().take(max_paths).enumerate().map(|(i, (_, p))| (p, i)).collect();
        Self { bit, max_ops }
    }

    /// Bits in an encoding.
    pub fn len(&self) -> usize {
        self.bit.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bit.is_empty()
    }

    /// `g`'s encoding: 1 for each dictionary path it holds.
    pub fn encode(&self, g: &ArchGraph) -> Vec<f32> {
        let mut v = vec![0.0; self.len()];
        for p in paths(g, self.max_ops) {
            if let Some(&i) = self.bit.get(&p) {
                v[i] = 1.0;
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NAS-Bench-201's cell as the tokenizer's graph: op codes 1..=5 on the six edges.
    fn nb201(text: &str) -> ArchGraph {
        text.parse::<crate::space::nb201::Nb201Cell>().unwrap().to_graph()
    }

    #[test]
    fn a_cell_has_one_path_per_route_through_its_edges() {
        // every edge a 1x1 conv (code 1): routes 0-3, 0-1-3, 0-2-3, 0-1-2-3 give
        // op sequences of 1, 2, 2 and 3 convs: three distinct paths
        let g =
            nb201("|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|nor_conv_1x1~0|nor_conv_1x1~1|nor_conv_1x1~2|");
        let p = paths(&g, 3);
        assert_eq!(p.into_iter().collect::<Vec<_>>(), vec![vec![1], vec![1, 1], vec![1, 1, 1]]);
        // with other ops on the two-edge routes, they are told apart
        let g =
            nb201("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_1x1~2|");
        let p: Vec<Vec<usize>> = paths(&g, 3).into_iter().collect();
        // routes 0-3: avg pool (3); 0-1-3: conv3, conv1 (2, 1); 0-2-3: skip, conv1 (4, 1);
        // 0-1-2-3: conv3, conv1, conv1 (2, 1, 1)
        assert!(p.contains(&vec![3]), "{p:?}");
        assert!(p.contains(&vec![2, 1]), "{p:?}");
        assert!(p.contains(&vec![4, 1]), "{p:?}");
        assert!(p.contains(&vec![2, 1, 1]), "{p:?}");
        assert_eq!(p.len(), 4);
        // a path limit drops the longer ones
        assert_eq!(paths(&g, 1).len(), 1);
    }

    #[test]
    fn the_dictionary_keeps_the_shortest_paths_and_encodes_what_a_cell_holds() {
        let a =
            nb201("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_1x1~2|");
        let b =
            nb201("|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|nor_conv_1x1~0|nor_conv_1x1~1|nor_conv_1x1~2|");
        let full = PathIndex::new([&a, &b], 3, 100);
        // a: [3] [2,1] [4,1] [2,1,1]; b: [1] [1,1] [1,1,1]
        assert_eq!(full.len(), 7);
        let ea = full.encode(&a);
        assert_eq!(ea.iter().sum::<f32>(), 4.0);
        // truncated to 2: the two one-op paths [1] and [3]
        let short = PathIndex::new([&a, &b], 3, 2);
        assert_eq!(short.encode(&a), vec![0.0, 1.0]);
        assert_eq!(short.encode(&b), vec![1.0, 0.0]);
    }
}
