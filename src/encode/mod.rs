//! Encodings: turn an architecture graph into the numbers a predictor reads.
//!
//! `tokenizer` is NAR-Former's per-node token encoding, `augment` its
//! information-flow-consistency augmentation, `onehot` the flat op-per-edge
//! encoding of the MLP baseline. All pure functions of the graph.

pub mod augment;
pub mod onehot;
pub mod tokenizer;
