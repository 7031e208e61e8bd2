//! NAS-Bench-201: the cell genotype and its text form (`genotype`), and the
//! space that samples, mutates and costs cells (`space`).

pub mod genotype;
pub mod space;

pub use genotype::{EDGES, Nb201Cell, OPS, SPACE_SIZE};
pub use space::{Nb201Space, Nb201SpaceConfig};
