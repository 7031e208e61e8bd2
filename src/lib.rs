//! nas-search: neural architecture search driven by a NAR-Former predictor.
//!
//! Data flows one way: a search space yields genotypes (`space`), `encode`
//! turns their graphs (`graph`) into tokens, the `predictor` scores tokens.
//! `trainer` trains networks for real (the `builtin` evaluator);
//! `config` reads YAML, `atomic_file` writes crash-safe files, `data` reads benchmark files and image sets, `backend` picks where
//! models run, `bench` measures speed, `stats` holds the shared summaries.

pub mod atomic_file;
pub mod backend;
pub mod bench;
pub mod config;
pub mod data;
pub mod encode;
pub mod eval;
pub mod graph;
pub mod net;
pub mod predictor;
pub mod report;
pub mod run;
pub mod search;
pub mod seed;
pub mod space;
pub mod stats;
pub mod trainer;
