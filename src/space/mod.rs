//! Search spaces: the sets of architectures a search explores.
//!
//! [`SearchSpace`] is everything the rest of the tool needs from a space:
//! sample, mutate, cross over, validate, a canonical key, the graph the
//! tokenizer reads, a text form, the cost of the space's standard network
//! and, for spaces the built-in trainer trains, the network description it
//! builds. Nothing outside this module asks which space is configured.
//! Each space is one folder (`genotype.rs` and `space.rs`) and is configured
//! by a YAML file in `search_spaces/` ([`SpaceConfig`]). Spaces are pure: no
//! I/O, no global state; randomness comes from the caller's seeded generator.
//!
//! Adding a space: write its folder (and, if the built-in trainer is to
//! train it, its network description in `crate::net`), then register it
//! with one variant of [`SpaceConfig`] (and an arm in each of its two
//! matches, which the compiler points to).

pub mod darts;
pub mod diagram;
pub mod mobilenet;
pub mod nb201;
pub mod tools;

use std::fmt::Debug;
use std::hash::Hash;
use std::path::Path;

use anyhow::Result;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::graph::ArchGraph;
use crate::net::{Cost, NetOverrides, NetSpec};
use diagram::Dag;

/// A canonical identity: genotypes that compute the same network share it.
pub type ArchKey = String;

/// What the tool needs from a space. No method has a default: a space, and
/// a wrapper of one (`crate::run::costed::Costed`, which adds the run's
/// latency to the costs), implements each, so a method added here is one
/// the compiler asks every implementation, the wrapper's forwarding
/// included, to give.
pub trait SearchSpace: Send + Sync {
    type Genotype: Clone + Debug + PartialEq + Eq + Hash + Send + Sync;

    /// The space's name as space files spell it (`space: nb201`).
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
    /// Parameters and MACs of the space's standard evaluation network (the
    /// one constraints bound and papers report).
    fn cost(&self, g: &Self::Genotype) -> Cost;
    /// The network the built-in trainer builds for `g`, changed by a
    /// budget's `overrides` (an override this space's network does not have
    /// is an error naming it); `None` for spaces whose networks it does not
    /// build (every space here has one).
    fn network(&self, g: &Self::Genotype, overrides: &NetOverrides) -> Option<Result<NetSpec>>;
    /// Every genotype of the space, for spaces small enough to list (`None`: too many).
    fn all(&self) -> Option<Vec<Self::Genotype>>;
    /// Architectures whose networks together hold every unit (layer
    /// sequence at its input shape, see `latency::units`) that any
    /// architecture's network holds: what a complete per-unit look-up table
    /// times, and what proves a table complete. `None`: no network, or no
    /// such set known. A space's choices that change a unit must each be
    /// crossed here with every other choice that changes the same unit.
    fn unit_cover(&self) -> Option<Vec<Self::Genotype>>;
    /// A drawing of `g`: its cells or blocks as the space draws them.
    fn diagram(&self, g: &Self::Genotype) -> Vec<Dag>;
}

/// A space seen through genotype text, for code that must not be generic
/// over the space (evaluators, the `space` CLI). Every [`SearchSpace`] is one.
pub trait AnySpace: Send + Sync {
    fn name(&self) -> &'static str;
    /// A random genotype as text.
    fn sample_text(&self, rng: &mut StdRng) -> String;
    /// Parses and validates `text`; returns the canonical text form.
    fn check_text(&self, text: &str) -> Result<String>;
    /// The standard network's cost of the genotype written as `text`.
    fn cost_of(&self, text: &str) -> Result<Cost>;
    /// Whether the built-in trainer builds this space's networks.
    fn has_network(&self) -> bool;
    /// The network of the genotype written as `text` (see [`SearchSpace::network`]).
    fn network_of(&self, text: &str, overrides: &NetOverrides) -> Option<Result<NetSpec>>;
    /// A drawing of the genotype written as `text` (see [`SearchSpace::diagram`]).
    fn diagram_of(&self, text: &str) -> Result<Vec<Dag>>;
    /// Every genotype as text (see [`SearchSpace::all`]).
    fn all_texts(&self) -> Option<Vec<String>>;
    /// The unit cover as text (see [`SearchSpace::unit_cover`]).
    fn cover_texts(&self) -> Option<Vec<String>>;
    /// The tokenizer's graph of the genotype written as `text`.
    fn graph_of(&self, text: &str) -> Result<ArchGraph>;
    /// The canonical key of the genotype written as `text`.
    fn key_of(&self, text: &str) -> Result<ArchKey>;
}

impl<S: SearchSpace> AnySpace for S {
    fn name(&self) -> &'static str {
        SearchSpace::name(self)
    }

    fn sample_text(&self, rng: &mut StdRng) -> String {
        self.format(&self.sample(rng))
    }

    fn check_text(&self, text: &str) -> Result<String> {
        Ok(self.format(&self.parse(text)?))
    }

    fn cost_of(&self, text: &str) -> Result<Cost> {
        Ok(self.cost(&self.parse(text)?))
    }

    fn has_network(&self) -> bool {
        use rand::SeedableRng;
        let g = self.sample(&mut StdRng::seed_from_u64(0));
        self.network(&g, &NetOverrides::default()).is_some()
    }

    fn network_of(&self, text: &str, overrides: &NetOverrides) -> Option<Result<NetSpec>> {
        match self.parse(text) {
            Ok(g) => self.network(&g, overrides),
            Err(e) => Some(Err(e)),
        }
    }

    fn diagram_of(&self, text: &str) -> Result<Vec<Dag>> {
        Ok(self.diagram(&self.parse(text)?))
    }

    fn all_texts(&self) -> Option<Vec<String>> {
        self.all().map(|gs| gs.iter().map(|g| self.format(g)).collect())
    }

    fn key_of(&self, text: &str) -> Result<ArchKey> {
        Ok(self.key(&self.parse(text)?))
    }

    fn cover_texts(&self) -> Option<Vec<String>> {
        self.unit_cover().map(|gs| gs.iter().map(|g| self.format(g)).collect())
    }

    fn graph_of(&self, text: &str) -> Result<ArchGraph> {
        Ok(self.to_graph(&self.parse(text)?))
    }
}

/// A space definition file (`search_spaces/*.yaml`), selected by its `space:`
/// key: the one place that lists the spaces.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "space", rename_all = "lowercase", deny_unknown_fields)]
pub enum SpaceConfig {
    Nb201(nb201::Nb201SpaceConfig),
    Darts(darts::DartsSpaceConfig),
    Mobilenetv3(mobilenet::MobileNetSpaceConfig),
}

impl<'de> Deserialize<'de> for SpaceConfig {
    /// By hand, so that an error inside a space's keys names its whole key.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use crate::config::{nested, tagged};
        let (space, rest) = tagged(d, "space", &["nb201", "darts", "mobilenetv3"])?;
        Ok(match space.as_str() {
            "nb201" => Self::Nb201(nested(rest)?),
            "darts" => Self::Darts(nested(rest)?),
            _ => Self::Mobilenetv3(nested(rest)?),
        })
    }
}

/// Work to do with whichever space a config names.
pub trait SpaceTask {
    type Output;
    fn with_space<S: SearchSpace + 'static>(self, space: &S) -> Self::Output;
}

impl SpaceConfig {
    /// The `space:` as space files spell it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Nb201(_) => "nb201",
            Self::Darts(_) => "darts",
            Self::Mobilenetv3(_) => "mobilenetv3",
        }
    }

    /// Reads and checks a space definition file.
    pub fn load(path: &Path) -> Result<Self> {
        // a run config given where a space file is wanted: say so, and name its space
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(serde_yaml::Value::Mapping(m)) = serde_yaml::from_str::<serde_yaml::Value>(&text)
            && m.contains_key("evaluator")
        {
            let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let space = m
                .get("space")
                .and_then(|v| v.as_str())
                .map_or(String::new(), |s| format!(": its space is {}", folder.join(s).display()));
            anyhow::bail!(
                "{} is a run config, not a space file{space} (space files are in search_spaces/)",
                path.display()
            );
        }
        let cfg: Self = crate::config::load_yaml(path, &[])?;
        cfg.build().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(cfg)
    }

    /// The configured space, seen through genotype text.
    pub fn build(&self) -> Result<Box<dyn AnySpace>> {
        Ok(match self {
            Self::Nb201(c) => Box::new(nb201::Nb201Space::new(c.clone())?),
            Self::Darts(c) => Box::new(darts::DartsSpace::new(c.clone())?),
            Self::Mobilenetv3(c) => Box::new(mobilenet::MobileNetSpace::new(c.clone())?),
        })
    }

    /// Runs `task` on the configured space.
    pub fn dispatch<T: SpaceTask>(&self, task: T) -> Result<T::Output> {
        Ok(match self {
            Self::Nb201(c) => task.with_space(&nb201::Nb201Space::new(c.clone())?),
            Self::Darts(c) => task.with_space(&darts::DartsSpace::new(c.clone())?),
            Self::Mobilenetv3(c) => task.with_space(&mobilenet::MobileNetSpace::new(c.clone())?),
        })
    }
}

/// Picks an index in 0..n other than `current` (n >= 2).
pub(crate) fn other_index(rng: &mut StdRng, n: usize, current: usize) -> usize {
    use rand::Rng;
    let k = rng.random_range(0..n - 1);
    if k >= current { k + 1 } else { k }
}

/// The space a genotype's text looks like it is of, by its form: a
/// NAS-Bench-201 cell (`|op~0|+...`), a DARTS `Genotype(...)`, a
/// MobileNetV3 arch dict (`{...}`); for errors that name both spaces.
pub fn looks_like(text: &str) -> Option<&'static str> {
    let t = text.trim_start();
    if t.starts_with('|') {
        Some("nb201")
    } else if t.starts_with("Genotype") {
        Some("darts")
    } else if t.starts_with('{') {
        Some("mobilenetv3")
    } else {
        None
    }
}
