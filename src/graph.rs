//! `ArchGraph`: an architecture as a DAG of operations in topological order.
//!
//! Node 0 is the input, node N-1 the output, every other node one operation.
//! `adj[j][i]` means node `i` reads node `j`'s output; only `j < i` may be set
//! (upper triangular). This module owns the representation and its validation;
//! it knows nothing about any particular search space or encoding.

use std::fmt;

/// What is wrong with a graph, precise enough to point at the offending entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("graph needs at least 2 nodes (input and output), got {0}")]
    TooSmall(usize),
    #[error("adjacency has {rows} rows but there are {nodes} ops")]
    RowCount { rows: usize, nodes: usize },
    #[error("adjacency row {row} has {len} entries, expected {nodes}")]
    RowLength { row: usize, len: usize, nodes: usize },
    #[error("edge {from}->{to} is not upper triangular (a node may only read earlier nodes)")]
    NotUpperTriangular { from: usize, to: usize },
    #[error("node {0} has no input edge")]
    NoInput(usize),
    #[error("node {0} feeds no later node")]
    NoOutput(usize),
}

/// An architecture graph: one op code per node and the adjacency matrix.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ArchGraph {
    ops: Vec<usize>,
    adj: Vec<Vec<bool>>,
}

impl ArchGraph {
    /// Builds and validates a graph.
    pub fn new(ops: Vec<usize>, adj: Vec<Vec<bool>>) -> Result<Self, GraphError> {
        let g = Self { ops, adj };
        g.validate()?;
        Ok(g)
    }

    /// Builds a graph from an edge list `(from, to)`.
    pub fn from_edges(ops: Vec<usize>, edges: &[(usize, usize)]) -> Result<Self, GraphError> {
        let n = ops.len();
        let mut adj = vec![vec![false; n]; n];
        for &(from, to) in edges {
            if from >= n || to >= n || from >= to {
                return Err(GraphError::NotUpperTriangular { from, to });
            }
            adj[from][to] = true;
        }
        Self::new(ops, adj)
    }

    fn validate(&self) -> Result<(), GraphError> {
        let n = self.ops.len();
        if n < 2 {
            return Err(GraphError::TooSmall(n));
        }
        if self.adj.len() != n {
            return Err(GraphError::RowCount { rows: self.adj.len(), nodes: n });
        }
        for (j, row) in self.adj.iter().enumerate() {
            if row.len() != n {
                return Err(GraphError::RowLength { row: j, len: row.len(), nodes: n });
            }
            for (i, &e) in row.iter().enumerate() {
                if e && i <= j {
                    return Err(GraphError::NotUpperTriangular { from: j, to: i });
                }
            }
        }
        for i in 1..n {
            if self.predecessors(i).next().is_none() {
                return Err(GraphError::NoInput(i));
            }
        }
        for j in 0..n - 1 {
            if !self.adj[j].iter().any(|&e| e) {
                return Err(GraphError::NoOutput(j));
            }
        }
        Ok(())
    }

    /// Number of nodes, input and output included.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Always false for a valid graph (it has at least input and output).
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn ops(&self) -> &[usize] {
        &self.ops
    }

    pub fn adj(&self) -> &[Vec<bool>] {
        &self.adj
    }

    pub fn has_edge(&self, from: usize, to: usize) -> bool {
        self.adj[from][to]
    }

    /// Nodes that `node` reads, in increasing order.
    pub fn predecessors(&self, node: usize) -> impl Iterator<Item = usize> + '_ {
        (0..node).filter(move |&j| self.adj[j][node])
    }

    /// Relabels nodes: node `i` becomes node `perm[i]`. The result is not
    /// validated (it may not be upper triangular); see [`ArchGraph::is_topological`].
    pub fn relabel(&self, perm: &[usize]) -> (Vec<usize>, Vec<Vec<bool>>) {
        let n = self.len();
        let mut ops = vec![0; n];
        let mut adj = vec![vec![false; n]; n];
        for i in 0..n {
            ops[perm[i]] = self.ops[i];
            for j in 0..n {
                adj[perm[i]][perm[j]] = self.adj[i][j];
            }
        }
        (ops, adj)
    }

    /// Every path from input to output as the sequence of op codes on it.
    /// Two graphs that compute the same function have the same multiset.
    pub fn op_paths(&self) -> Vec<Vec<usize>> {
        let n = self.len();
        let mut paths_to: Vec<Vec<Vec<usize>>> = vec![Vec::new(); n];
        paths_to[0] = vec![vec![self.ops[0]]];
        for i in 1..n {
            let mut here = Vec::new();
            for j in self.predecessors(i) {
                for p in &paths_to[j] {
                    let mut q = p.clone();
                    q.push(self.ops[i]);
                    here.push(q);
                }
            }
            paths_to[i] = here;
        }
        let mut out = std::mem::take(&mut paths_to[n - 1]);
        out.sort();
        out
    }
}

impl fmt::Debug for ArchGraph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "ArchGraph ops={:?}", self.ops)?;
        for row in &self.adj {
            let s: String = row.iter().map(|&e| if e { '1' } else { '0' }).collect();
            writeln!(f, "  {s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_lower_triangular_edge() {
        let adj = vec![vec![false, true, false], vec![false, false, true], vec![false, true, false]];
        let err = ArchGraph::new(vec![0, 1, 2], adj).unwrap_err();
        assert_eq!(err, GraphError::NotUpperTriangular { from: 2, to: 1 });
    }

    #[test]
    fn rejects_dangling_nodes() {
        let err = ArchGraph::from_edges(vec![0, 1, 2, 3], &[(0, 1), (1, 3), (0, 2)]).unwrap_err();
        assert_eq!(err, GraphError::NoOutput(2));
        let err = ArchGraph::from_edges(vec![0, 1, 2], &[(0, 2)]).unwrap_err();
        assert_eq!(err, GraphError::NoInput(1));
    }

    #[test]
    fn op_paths_of_diamond() {
        let g = ArchGraph::from_edges(vec![0, 1, 2, 3], &[(0, 1), (0, 2), (1, 3), (2, 3)]).unwrap();
        assert_eq!(g.op_paths(), vec![vec![0, 1, 3], vec![0, 2, 3]]);
    }
}
