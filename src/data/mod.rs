//! Data sets read from disk or generated. Paths always come from a config
//! key or an environment variable, never from inside the repository.

pub mod cifar10;
pub mod image_folder;
pub mod image_set;
pub mod nb201;
pub mod source;
pub mod synthetic;

pub use image_set::{ImageData, ImageSet, SignalSplit, Splits};
pub use source::ImageDataConfig;
