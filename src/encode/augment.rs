//! Information-flow-consistency augmentation (NAR-Former section 4).
//!
//! Relabels the intermediate nodes 1..N-2 of a graph by a permutation (input
//! and output stay) and keeps the result when it is still in topological
//! order (upper triangular) and differs from the original. The relabelled
//! graph computes the same function, so it shares the original's label.
//! Permutations are tried in lexicographic order, identity first; the
//! published setting tries the first two.

use crate::graph::ArchGraph;

/// The published number of permutations tried (identity included).
pub const DEFAULT_PERMUTATIONS: usize = 2;

/// Rearranges `p` into its lexicographic successor; false when `p` is the last.
fn next_permutation(p: &mut [usize]) -> bool {
    let Some(i) = (1..p.len()).rev().find(|&i| p[i - 1] < p[i]) else {
        return false;
    };
    let j = (i..p.len()).rev().find(|&j| p[j] > p[i - 1]).expect("a larger element exists");
    p.swap(i - 1, j);
    p[i..].reverse();
    true
}

/// The augmented twins of `graph`: from the first `permutations` orderings of
/// the intermediate nodes, those that give a valid graph different from it.
/// In the result, new node k is old node `order[k]`.
pub fn augmented(graph: &ArchGraph, permutations: usize) -> Vec<ArchGraph> {
    let n = graph.len();
    if n < 4 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..n).collect();
    let mut out = Vec::new();
    for _ in 0..permutations {
        let ops: Vec<usize> = order.iter().map(|&o| graph.ops()[o]).collect();
        let adj: Vec<Vec<bool>> =
            order.iter().map(|&a| order.iter().map(|&b| graph.has_edge(a, b)).collect()).collect();
        if let Ok(g) = ArchGraph::new(ops, adj)
            && &g != graph
        {
            out.push(g);
        }
        if !next_permutation(&mut order[1..n - 1]) {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::nb201::Nb201Cell;

    #[test]
    fn lexicographic_order() {
        let mut p = vec![1, 2, 3];
        let mut seen = vec![p.clone()];
        while next_permutation(&mut p) {
            seen.push(p.clone());
        }
        assert_eq!(seen, vec![[1, 2, 3], [1, 3, 2], [2, 1, 3], [2, 3, 1], [3, 1, 2], [3, 2, 1]]);
    }

    fn check_twins(g: &ArchGraph, twins: &[ArchGraph]) {
        for t in twins {
            // valid: ArchGraph::new succeeded, so upper triangular; check again explicitly
            for j in 0..t.len() {
                for i in 0..=j {
                    assert!(!t.has_edge(j, i));
                }
            }
            assert_ne!(t, g);
            assert_eq!(t.op_paths(), g.op_paths(), "twin computes a different function");
        }
    }

    #[test]
    fn nb201_cells_have_one_valid_twin_with_the_same_function() {
        for cell in Nb201Cell::enumerate().step_by(97) {
            let g = cell.to_graph();
            let twins = augmented(&g, DEFAULT_PERMUTATIONS);
            assert_eq!(twins.len(), 1);
            check_twins(&g, &twins);
            // more permutations: every kept one is still valid and equivalent
            let many = augmented(&g, 720);
            assert!(many.len() > 1);
            check_twins(&g, &many);
        }
    }

    #[test]
    fn chain_has_no_twin() {
        let g = ArchGraph::from_edges(vec![0, 1, 2, 3, 4], &[(0, 1), (1, 2), (2, 3), (3, 4)]).unwrap();
        assert!(augmented(&g, 24).is_empty());
    }
}
