//! Search spaces: the sets of architectures a search explores.
//!
//! Each space lives in its own file and knows how to parse and print its
//! genotypes and how to turn one into an [`crate::graph::ArchGraph`] for the
//! tokenizer. Spaces are pure: no I/O, no global state.

pub mod nb201;
