//! How a run searches (`strategy:`): the predictor-guided strategies and
//! the baselines, by name. Below the config that selects one and the
//! records that name a baseline's phase by it.

use serde::{Deserialize, Serialize};

/// How the run searches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Predictor-guided evolution, top-K to real evaluation (the paper's workflow).
    #[default]
    NarFormerEvolution,
    /// Aging evolution on real evaluations only (baseline).
    RegularizedEvolution,
    /// Random architectures, real evaluations only (baseline).
    RandomSearch,
    /// Predictor-guided NSGA-II over accuracy and cost, top-K spread over
    /// the predicted front to real evaluation.
    NarFormerNsga2,
    /// NSGA-II on real evaluations only (baseline).
    Nsga2,
    /// BANANAS: an ensemble of small networks on path encodings, with
    /// Thompson sampling over mutations of the best (a published
    /// predictor-guided search, as a baseline).
    Bananas,
}

impl Strategy {
    pub const ALL: [Strategy; 6] = [
        Self::NarFormerEvolution,
        Self::RegularizedEvolution,
        Self::RandomSearch,
        Self::NarFormerNsga2,
        Self::Nsga2,
        Self::Bananas,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::NarFormerEvolution => "nar-former-evolution",
            Self::RegularizedEvolution => "regularized-evolution",
            Self::RandomSearch => "random-search",
            Self::NarFormerNsga2 => "nar-former-nsga2",
            Self::Nsga2 => "nsga2",
            Self::Bananas => "bananas",
        }
    }

    /// The strategy a config names `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether it searches with the predictor (else on real evaluations only).
    pub fn uses_predictor(self) -> bool {
        matches!(self, Self::NarFormerEvolution | Self::NarFormerNsga2)
    }

    /// Whether it searches for a front of accuracy against cost.
    pub fn multi_objective(self) -> bool {
        matches!(self, Self::NarFormerNsga2 | Self::Nsga2)
    }
}
