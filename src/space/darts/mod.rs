//! The DARTS CIFAR-10 cell space: the genotype and DARTS's text notation
//! (`genotype`), and the space that samples, mutates, tokenizes and costs
//! genotypes and describes their evaluation network (`space`).

pub mod genotype;
pub mod space;

pub use genotype::{DartsCell, DartsGenotype, DartsOp, Edge};
pub use space::{DartsSpace, DartsSpaceConfig};
