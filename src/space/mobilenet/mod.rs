//! The Once-for-All MobileNetV3 space: the architecture and its arch-dict
//! text form (`genotype`), and the space that samples, mutates, tokenizes
//! and costs architectures and describes their network (`space`).

pub mod genotype;
pub mod space;

pub use genotype::MobileNetArch;
pub use space::{MobileNetSpace, MobileNetSpaceConfig};
