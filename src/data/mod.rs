//! Data sets read from disk or generated. Paths always come from a config
//! key or an environment variable, never from inside the repository.

pub mod cifar10;
pub mod image_folder;
pub mod images;
pub mod nb201;
pub mod synthetic;

pub use images::{ImageData, ImageDataConfig, ImageSet, SignalSplit, Splits};
