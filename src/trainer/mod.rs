//! The built-in trainer: DARTS, MobileNetV3 and NAS-Bench-201 networks built in burn from
//! the same layer descriptions as the cost model, trained with SGD on
//! in-memory image sets, measured by top-1 on a held-out split. The
//! `builtin` evaluator and `nas-search bench train` use it.

pub mod augment;
pub mod budget;
pub mod darts_net;
pub mod kernels;

pub mod layers;
pub mod mobilenet_net;
pub mod nb201_net;
pub mod network;
pub mod train;

pub use budget::TrainBudget;
pub use network::Network;
pub use train::{TrainError, TrainReport, train_and_test};
