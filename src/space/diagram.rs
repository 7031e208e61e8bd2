//! A drawing of an architecture, as a space describes it: one or more graphs
//! of labelled nodes and labelled edges (a DARTS genotype is two cells), each
//! node at a grid position or placed by its depth. `crate::plot` draws it.

/// One graph of a drawing.
#[derive(Clone, Debug, PartialEq)]
pub struct Dag {
    pub title: String,
    pub nodes: Vec<DagNode>,
    pub edges: Vec<DagEdge>,
}

/// A node: its text, whether it is an input or output of the graph, and
/// where it goes (column, row); `None` places it by its depth.
#[derive(Clone, Debug, PartialEq)]
pub struct DagNode {
    pub label: String,
    pub io: bool,
    pub at: Option<(usize, usize)>,
}

/// An edge from node `from` to node `to` (indices), with the operation on it.
#[derive(Clone, Debug, PartialEq)]
pub struct DagEdge {
    pub from: usize,
    pub to: usize,
    pub label: String,
}

impl Dag {
    pub fn node(&mut self, label: impl Into<String>, io: bool) -> usize {
        self.nodes.push(DagNode { label: label.into(), io, at: None });
        self.nodes.len() - 1
    }

    pub fn edge(&mut self, from: usize, to: usize, label: impl Into<String>) {
        self.edges.push(DagEdge { from, to, label: label.into() });
    }

    /// Every node's (column, row): its given position, or its depth (the
    /// longest path from a node without inputs) and its order there.
    pub fn layout(&self) -> Vec<(usize, usize)> {
        let n = self.nodes.len();
        let mut depth = vec![0usize; n];
        // edges go from earlier to later nodes in every space's drawing; a few passes settle any order
        for _ in 0..n {
            let mut changed = false;
            for e in &self.edges {
                if e.from < n && e.to < n && depth[e.to] < depth[e.from] + 1 {
                    depth[e.to] = depth[e.from] + 1;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let mut next_row = std::collections::HashMap::new();
        (0..n)
            .map(|i| {
                self.nodes[i].at.unwrap_or_else(|| {
                    let row = next_row.entry(depth[i]).or_insert(0usize);
                    *row += 1;
                    (depth[i], *row - 1)
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_placed_by_depth_in_order() {
        let mut d = Dag { title: "t".into(), nodes: Vec::new(), edges: Vec::new() };
        let a = d.node("a", true);
        let b = d.node("b", false);
        let c = d.node("c", false);
        let out = d.node("out", true);
        d.edge(a, b, "x");
        d.edge(a, c, "y");
        d.edge(b, c, "z");
        d.edge(c, out, "");
        assert_eq!(d.layout(), vec![(0, 0), (1, 0), (2, 0), (3, 0)]);
        d.nodes[out].at = Some((5, 2));
        assert_eq!(d.layout()[3], (5, 2));
    }
}
