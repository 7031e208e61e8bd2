//! Data sets read from disk. Paths always come from a config key or an
//! environment variable, never from inside the repository.

pub mod nb201;
