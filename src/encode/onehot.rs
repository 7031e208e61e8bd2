//! Flat one-hot encoding (one op per edge), the input of the MLP baseline,
//! as Once-for-All's accuracy predictor encodes architectures.

use crate::space::nb201::{EDGES, Nb201Cell, OPS};

/// Width of the NAS-Bench-201 one-hot vector.
pub const NB201_WIDTH: usize = EDGES * OPS.len();

/// One-hot of each edge's op, edges in cell-string order.
pub fn nb201_onehot(cell: &Nb201Cell) -> Vec<f32> {
    let mut v = vec![0f32; NB201_WIDTH];
    for (e, &op) in cell.edges.iter().enumerate() {
        v[e * OPS.len() + op as usize] = 1.0;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hot_per_edge() {
        let c = Nb201Cell { edges: [0, 1, 2, 3, 4, 0] };
        let v = nb201_onehot(&c);
        assert_eq!(v.iter().sum::<f32>(), 6.0);
        assert_eq!(v[0], 1.0);
        assert_eq!(v[5 + 1], 1.0);
        assert_eq!(v[25], 1.0);
    }
}
