//! Latency: how long an architecture's network takes to run on a device.
//!
//! Measured here (`measure`: forward passes of the network built from the
//! space's description, timed, written to a CSV that says on every row where
//! it was measured), read back (`table`: a measurement CSV, checked), summed
//! from a per-unit look-up table (`lut`: each distinct layer sequence
//! measured once, Once-for-All's and nn-Meter's way), and handed to a run as
//! one source (`source`: what the search sees and what an evaluation
//! records), or asked for given architectures (`predict`). `signature` says
//! which network a latency is of (checked against a run's space). `units` cuts a network into the units the look-up table keys;
//! `device` names the machine; `timing` times a closure; `inputs` keeps the
//! files a run read, so that a resume accepts a table that only grew.

pub mod device;
pub mod inputs;
pub mod lut;
pub mod measure;
pub mod predict;
pub mod signature;
pub mod source;
pub mod table;
pub mod timing;
pub mod units;

pub use device::DeviceInfo;
pub use table::{LatencyRow, LatencyTable};
