//! NAS-Bench-201 cell space: 6 edges, each one of 5 operations (15,625 cells).
//!
//! Text form is the benchmark's cell string, e.g.
//! `|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|`:
//! three groups separated by `+`, group j lists the edges into cell node j as
//! `op~i`. Edges are stored in that order: 0->1, 0->2, 1->2, 0->3, 1->3, 2->3.
//!
//! Graph form (NAR-Former's): 8 nodes, the input, one node per edge in the
//! order above, and the output. Op codes: input 0, nor_conv_1x1 1,
//! nor_conv_3x3 2, avg_pool_3x3 3, skip_connect 4, none 5, output 6. The
//! adjacency is the same for every cell: 0->{1,2,4}, 1->{3,5}, 2->6, 3->6,
//! 4->7, 5->7, 6->7.

use std::fmt;
use std::str::FromStr;

use crate::graph::ArchGraph;

/// The operations an edge can hold, in the order of their graph op codes 1..=5.
pub const OPS: [&str; 5] = ["nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "none"];
/// Number of edges in a cell.
pub const EDGES: usize = 6;
/// Number of cells in the space (5^6).
pub const SPACE_SIZE: usize = 15_625;
/// Graph op code of the input node.
pub const INPUT_CODE: usize = 0;
/// Graph op code of the output node.
pub const OUTPUT_CODE: usize = 6;
/// Source cell node of each edge, in storage order.
pub const EDGE_FROM: [usize; EDGES] = [0, 0, 1, 0, 1, 2];
/// Target cell node of each edge, in storage order.
pub const EDGE_TO: [usize; EDGES] = [1, 2, 2, 3, 3, 3];
/// Graph edges shared by every cell.
const GRAPH_EDGES: [(usize, usize); 10] =
    [(0, 1), (0, 2), (0, 4), (1, 3), (1, 5), (2, 6), (3, 6), (4, 7), (5, 7), (6, 7)];

/// One NAS-Bench-201 cell: the op index (into [`OPS`]) of each edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nb201Cell {
    pub edges: [u8; EDGES],
}

/// Why a cell string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Nb201ParseError {
    #[error("expected 3 node groups separated by '+', found {0}")]
    GroupCount(usize),
    #[error("node group {group} must be written as |op~i|...|, got '{text}'")]
    GroupSyntax { group: usize, text: String },
    #[error("node group {group} must have {expected} edges, found {found}")]
    EdgeCount { group: usize, expected: usize, found: usize },
    #[error("edge '{text}' in node group {group}: expected 'op~{expected}'")]
    EdgeSyntax { group: usize, text: String, expected: usize },
    #[error("unknown operation '{op}' in node group {group} (known: {known})")]
    UnknownOp { group: usize, op: String, known: String },
}

impl Nb201Cell {
    /// The cell with index `i` in this crate's enumeration order (edge 0 is the
    /// most significant digit). This is not the benchmark's index order.
    pub fn from_enumeration_index(mut i: usize) -> Self {
        assert!(i < SPACE_SIZE, "cell index {i} out of range");
        let mut edges = [0u8; EDGES];
        for e in (0..EDGES).rev() {
            edges[e] = (i % OPS.len()) as u8;
            i /= OPS.len();
        }
        Self { edges }
    }

    /// All 15,625 cells.
    pub fn enumerate() -> impl Iterator<Item = Self> {
        (0..SPACE_SIZE).map(Self::from_enumeration_index)
    }

    /// The op name of edge `e`.
    pub fn op_name(&self, e: usize) -> &'static str {
        OPS[self.edges[e] as usize]
    }

    /// The NAR-Former graph of this cell (see the module doc).
    pub fn to_graph(&self) -> ArchGraph {
        let mut ops = Vec::with_capacity(EDGES + 2);
        ops.push(INPUT_CODE);
        ops.extend(self.edges.iter().map(|&o| o as usize + 1));
        ops.push(OUTPUT_CODE);
        ArchGraph::from_edges(ops, &GRAPH_EDGES).expect("the NAS-Bench-201 graph is valid")
    }
}

impl fmt::Display for Nb201Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut e = 0;
        for group in 1..=3 {
            if group > 1 {
                write!(f, "+")?;
            }
            write!(f, "|")?;
            for _ in 0..group {
                write!(f, "{}~{}|", self.op_name(e), EDGE_FROM[e])?;
                e += 1;
            }
        }
        Ok(())
    }
}

impl FromStr for Nb201Cell {
    type Err = Nb201ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let groups: Vec<&str> = s.trim().split('+').collect();
        if groups.len() != 3 {
            return Err(Nb201ParseError::GroupCount(groups.len()));
        }
        let mut edges = [0u8; EDGES];
        let mut e = 0;
        for (g, text) in groups.iter().enumerate() {
            let group = g + 1;
            let inner = text
                .strip_prefix('|')
                .and_then(|t| t.strip_suffix('|'))
                .ok_or_else(|| Nb201ParseError::GroupSyntax { group, text: text.to_string() })?;
            let items: Vec<&str> = inner.split('|').collect();
            if items.len() != group {
                return Err(Nb201ParseError::EdgeCount { group, expected: group, found: items.len() });
            }
            for (from, item) in items.iter().enumerate() {
                let edge_err = || Nb201ParseError::EdgeSyntax { group, text: item.to_string(), expected: from };
                let (op, src) = item.split_once('~').ok_or_else(edge_err)?;
                if src.parse::<usize>().ok() != Some(from) {
                    return Err(edge_err());
                }
                let code = OPS.iter().position(|&o| o == op).ok_or_else(|| Nb201ParseError::UnknownOp {
                    group,
                    op: op.to_string(),
                    known: OPS.join(", "),
                })?;
                edges[e] = code as u8;
                e += 1;
            }
        }
        Ok(Self { edges })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const INDEX0: &str =
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|";

    #[test]
    fn parse_and_print_round_trip() {
        let c: Nb201Cell = INDEX0.parse().unwrap();
        assert_eq!(c.to_string(), INDEX0);
        assert_eq!(c.op_name(0), "avg_pool_3x3");
        assert_eq!(c.op_name(5), "skip_connect");
    }

    #[test]
    fn enumeration_is_complete_and_distinct() {
        let all: HashSet<String> = Nb201Cell::enumerate().map(|c| c.to_string()).collect();
        assert_eq!(all.len(), SPACE_SIZE);
        for s in all.iter().take(50) {
            assert_eq!(&s.parse::<Nb201Cell>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn graph_matches_the_published_form() {
        let g: ArchGraph = INDEX0.parse::<Nb201Cell>().unwrap().to_graph();
        assert_eq!(g.ops(), &[0, 3, 1, 4, 1, 4, 4, 6]);
        let succ: Vec<Vec<usize>> = (0..8).map(|j| (0..8).filter(|&i| g.has_edge(j, i)).collect()).collect();
        assert_eq!(succ[0], vec![1, 2, 4]);
        assert_eq!(succ[1], vec![3, 5]);
        assert_eq!(succ[2], vec![6]);
        assert_eq!(succ[3], vec![6]);
        assert_eq!(succ[4], vec![7]);
        assert_eq!(succ[5], vec![7]);
        assert_eq!(succ[6], vec![7]);
        assert!(succ[7].is_empty());
    }

    #[test]
    fn malformed_strings_name_the_problem() {
        let e = "|avg_pool_3x3~0|+|nor_conv_1x1~0|".parse::<Nb201Cell>().unwrap_err();
        assert_eq!(e, Nb201ParseError::GroupCount(2));
        let e = "|avg_pool_3x3~0|+|conv_9x9~0|skip_connect~1|+|none~0|none~1|none~2|".parse::<Nb201Cell>().unwrap_err();
        assert!(e.to_string().contains("conv_9x9") && e.to_string().contains("group 2"), "{e}");
        let e = "|avg_pool_3x3~0|+|none~0|none~0|+|none~0|none~1|none~2|".parse::<Nb201Cell>().unwrap_err();
        assert!(e.to_string().contains("none~0") && e.to_string().contains("op~1"), "{e}");
        let e = "|none~0|+|none~0|+|none~0|none~1|none~2|".parse::<Nb201Cell>().unwrap_err();
        assert_eq!(e, Nb201ParseError::EdgeCount { group: 2, expected: 2, found: 1 });
    }
}
