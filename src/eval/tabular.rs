//! The `tabular` evaluator: NAS-Bench-201's measured accuracy of a cell,
//! looked up in the benchmark table. The table holds no training times, so
//! each query costs one unit: `seconds` is 0 and the summary counts queries.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::{EvalContext, EvalJob, EvalOutcome, Evaluator};
use crate::data::nb201::{self, Nb201Label};
use crate::space::AnySpace;
use crate::space::nb201::Nb201Cell;

/// Why another space is refused.
pub const MEASURES: &str = "the tabular evaluator looks NAS-Bench-201 cells up in the benchmark's table (space: nb201)";

/// Whether this evaluator can measure `space`'s genotypes.
pub fn measures(space: &dyn AnySpace) -> bool {
    space.name() == "nb201"
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TabularConfig {
    /// The NAS-Bench-201 CSV (relative to the config file); else
    /// `NAS_SEARCH_NB201_CSV`, else `../shared/data/nb201/...`.
    #[serde(default)]
    pub nb201_csv: Option<PathBuf>,
    #[serde(default)]
    pub label: Nb201Label,
}

pub struct TabularEvaluator {
    accuracy: HashMap<Nb201Cell, f64>,
}

impl TabularEvaluator {
    pub fn new(cfg: &TabularConfig, ctx: &EvalContext) -> Result<Self> {
        let path = nb201::resolve_path(cfg.nb201_csv.as_deref(), "evaluator.nb201_csv", ctx.config_dir)?;
        let table = nb201::load(&path, cfg.label)?;
        Ok(Self { accuracy: table.cells.into_iter().zip(table.accuracy).collect() })
    }
}

impl Evaluator for TabularEvaluator {
    fn evaluate(&self, jobs: &[EvalJob], done: &mut dyn FnMut(usize, EvalOutcome) -> Result<()>) -> Result<()> {
        for (i, job) in jobs.iter().enumerate() {
            let outcome = match job.genotype.parse::<Nb201Cell>() {
                Ok(cell) => match self.accuracy.get(&cell) {
                    Some(&a) => EvalOutcome::measured(a, 0.0),
                    None => EvalOutcome::failed(format!("cell {} is not in the table", job.genotype), 0.0),
                },
                Err(e) => EvalOutcome::failed(format!("not a NAS-Bench-201 cell: {e}"), 0.0),
            };
            done(i, outcome)?;
        }
        Ok(())
    }

    fn budgets_equal(&self) -> bool {
        true
    }
}
