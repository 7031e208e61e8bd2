//! nas-search: neural architecture search driven by a NAR-Former predictor.
//!
//! Data flows one way: a search space yields genotypes (`space`), `encode`
//! turns their graphs (`graph`) into tokens, the `predictor` scores tokens.
//! `config` reads YAML, `data` reads benchmark files, `backend` picks where
//! models run, `bench` measures speed.

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
pub mod space;
