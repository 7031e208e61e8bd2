//! The space as a run's searches see it: the configured space, with the
//! latency the run's latency source gives (`latency:`) added to each
//! architecture's cost, so that constraints and objectives on latency work
//! in every strategy like those on params and MACs. Every other method is
//! the configured space's: `SearchSpace` has no default methods, so the
//! compiler refuses this wrapper until a method added to the trait is
//! forwarded here too (none can fall back to a default unseen).

use anyhow::Result;
use rand::rngs::StdRng;

use crate::graph::ArchGraph;
use crate::latency::source::LatencySource;
use crate::net::{Cost, NetOverrides, NetSpec};
use crate::space::diagram::Dag;
use crate::space::{ArchKey, SearchSpace};

/// `space` with latency in its costs (none without a source).
pub struct Costed<'a, S> {
    space: &'a S,
    latency: Option<&'a LatencySource>,
}

impl<'a, S: SearchSpace> Costed<'a, S> {
    pub fn new(space: &'a S, latency: Option<&'a LatencySource>) -> Self {
        Self { space, latency }
    }
}

impl<S: SearchSpace> SearchSpace for Costed<'_, S> {
    type Genotype = S::Genotype;

    fn name(&self) -> &'static str {
        self.space.name()
    }
    fn sample(&self, rng: &mut StdRng) -> Self::Genotype {
        self.space.sample(rng)
    }
    fn mutate(&self, g: &Self::Genotype, rng: &mut StdRng) -> Self::Genotype {
        self.space.mutate(g, rng)
    }
    fn crossover(&self, a: &Self::Genotype, b: &Self::Genotype, rng: &mut StdRng) -> Self::Genotype {
        self.space.crossover(a, b, rng)
    }
    fn validate(&self, g: &Self::Genotype) -> Result<()> {
        self.space.validate(g)
    }
    fn key(&self, g: &Self::Genotype) -> ArchKey {
        self.space.key(g)
    }
    fn to_graph(&self, g: &Self::Genotype) -> ArchGraph {
        self.space.to_graph(g)
    }
    fn parse(&self, text: &str) -> Result<Self::Genotype> {
        self.space.parse(text)
    }
    fn format(&self, g: &Self::Genotype) -> String {
        self.space.format(g)
    }
    fn network(&self, g: &Self::Genotype, overrides: &NetOverrides) -> Option<Result<NetSpec>> {
        self.space.network(g, overrides)
    }
    fn all(&self) -> Option<Vec<Self::Genotype>> {
        self.space.all()
    }
    fn diagram(&self, g: &Self::Genotype) -> Vec<Dag> {
        self.space.diagram(g)
    }
    fn unit_cover(&self) -> Option<Vec<Self::Genotype>> {
        self.space.unit_cover()
    }

    fn cost(&self, g: &Self::Genotype) -> Cost {
        let mut c = self.space.cost(g);
        if let Some(source) = self.latency {
            c.latency_ms = source.for_search(self.space, &self.space.format(g));
        }
        c
    }
}
