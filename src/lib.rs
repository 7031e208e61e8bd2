//! nas-search: neural architecture search driven by a NAR-Former predictor.
//!
//! Data flows one way: a search space (`space`) yields genotypes and
//! describes their networks (`net`); `encode` turns their graphs (`graph`)
//! into tokens; the `predictor` scores tokens; a `search` strategy asks for
//! scores and proposes genotypes; an evaluator (`eval`, with the built-in
//! `trainer`) measures them for real; `run` sequences the workflow and owns
//! the run directory; `report` writes what happened. `latency` times
//! networks on a device and gives a run the latency its search sees and its
//! evaluations record. Around them: `config`
//! reads YAML, `atomic_file` writes crash-safe files, `failpoint` lets tests
//! kill the driver at an exact point, `data` reads benchmark
//! tables and image sets, `backend` picks where models run, `bench` measures
//! speed, `seed` derives seeds, `stats` holds the shared summaries,
//! `invocation` says how to run this binary again in the hints it prints,
//! `progress` draws the progress bars. ARCHITECTURE.md gives the layers.

pub mod atomic_file;
pub mod backend;
pub mod bench;
pub mod clock;
pub mod config;
pub mod data;
pub mod encode;
pub mod eval;
pub mod failpoint;
pub mod graph;
pub mod inspect;
pub mod interrupt;
pub mod invocation;
pub mod latency;
pub mod matmul;
pub mod net;
pub mod plot;
pub mod predictor;
pub mod progress;
pub mod report;
pub mod run;
pub mod search;
pub mod seed;
pub mod serve;
pub mod space;
pub mod stats;
pub mod trainer;
