//! Search spaces: the sets of architectures a search explores.
//!
//! [`SearchSpace`] is what a search needs from a space: sample, mutate,
//! cross over, validate, a canonical key, the graph the tokenizer reads, a
//! text form and the cost of the evaluation network. Each space is one file
//! and is configured by a YAML file in `search_spaces/` ([`SpaceConfig`]).
//! Spaces are pure: no I/O, no global state; randomness comes from the
//! caller's seeded generator.
//!
//! Adding a space: write its file, add a variant to [`SpaceConfig`] and an
//! arm to [`SpaceConfig::dispatch`].

pub mod darts;
pub mod darts_genotype;
pub mod mobilenet;
pub mod nb201;
pub mod nb201_space;
pub mod tools;

use std::fmt::Debug;
use std::hash::Hash;
use std::path::Path;

use anyhow::Result;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::graph::ArchGraph;
use crate::net::Cost;

/// A canonical identity: genotypes that compute the same network share it.
pub type ArchKey = String;

/// What a search needs from a space.
pub trait SearchSpace: Send + Sync {
    type Genotype: Clone + Debug + PartialEq + Eq + Hash + Send + Sync;

    /// The space's name as configs spell it.
    fn name(&self) -> &'static str;
    /// A uniformly random genotype.
    fn sample(&self, rng: &mut StdRng) -> Self::Genotype;
    /// A random neighbour, different from `g`.
    fn mutate(&self, g: &Self::Genotype, rng: &mut StdRng) -> Self::Genotype;
    /// A child taking each choice from one of the parents.
    fn crossover(&self, a: &Self::Genotype, b: &Self::Genotype, rng: &mut StdRng) -> Self::Genotype;
    /// Whether `g` belongs to this space (as narrowed by its YAML).
    fn validate(&self, g: &Self::Genotype) -> Result<()>;
    /// The canonical key (see [`ArchKey`]).
    fn key(&self, g: &Self::Genotype) -> ArchKey;
    /// The architecture graph the NAR-Former tokenizer reads.
    fn to_graph(&self, g: &Self::Genotype) -> ArchGraph;
    /// Parses the text form (and validates it).
    fn parse(&self, text: &str) -> Result<Self::Genotype>;
    /// The text form.
    fn format(&self, g: &Self::Genotype) -> String;
    /// Parameters and MACs of the evaluation network.
    fn cost(&self, g: &Self::Genotype) -> Cost;
}

/// A space definition file (`search_spaces/*.yaml`), selected by its `space:` key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "space", rename_all = "lowercase", deny_unknown_fields)]
pub enum SpaceConfig {
    Nb201(nb201_space::Nb201SpaceConfig),
    Darts(darts::DartsSpaceConfig),
    Mobilenetv3(mobilenet::MobileNetSpaceConfig),
}

/// Work to do with whichever space a config names.
pub trait SpaceTask {
    type Output;
    fn run<S: SearchSpace>(self, space: &S) -> Self::Output;
}

impl SpaceConfig {
    /// Reads and checks a space definition file.
    pub fn load(path: &Path) -> Result<Self> {
        let cfg: Self = crate::config::load_yaml(path, &[])?;
        cfg.check().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(cfg)
    }

    fn check(&self) -> Result<()> {
        match self {
            Self::Nb201(c) => nb201_space::Nb201Space::new(c.clone()).map(|_| ()),
            Self::Darts(c) => darts::DartsSpace::new(c.clone()).map(|_| ()),
            Self::Mobilenetv3(c) => mobilenet::MobileNetSpace::new(c.clone()).map(|_| ()),
        }
    }

    /// Runs `task` on the configured space.
    pub fn dispatch<T: SpaceTask>(&self, task: T) -> Result<T::Output> {
        Ok(match self {
            Self::Nb201(c) => task.run(&nb201_space::Nb201Space::new(c.clone())?),
            Self::Darts(c) => task.run(&darts::DartsSpace::new(c.clone())?),
            Self::Mobilenetv3(c) => task.run(&mobilenet::MobileNetSpace::new(c.clone())?),
        })
    }
}

/// Picks an index in 0..n other than `current` (n >= 2).
pub(crate) fn other_index(rng: &mut StdRng, n: usize, current: usize) -> usize {
    use rand::Rng;
    let k = rng.random_range(0..n - 1);
    if k >= current { k + 1 } else { k }
}
