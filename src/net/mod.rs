//! Network descriptions: the layers a genotype's evaluation network is made
//! of, written once per space. The cost model (params, MACs) walks these
//! descriptions, and the built-in trainer builds its networks from the same
//! ones, so the two can never disagree.

pub mod darts;
pub mod layer;
pub mod mobilenet;

pub use layer::{Cost, Layer, LayerSeq};
