//! The `tabular` evaluator: NAS-Bench-201's measured accuracy of a cell,
//! looked up in the benchmark table. The table holds no training times, so
//! each query costs one unit: `seconds` is 0 and the summary counts queries.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::{EvalJob, EvalOutcome, Evaluator};
use crate::data::nb201::{self, Nb201Label};
use crate::space::nb201::Nb201Cell;

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
    pub fn new(cfg: &TabularConfig, config_dir: &Path) -> Result<Self> {
        let path = nb201::resolve_path(cfg.nb201_csv.as_deref(), "evaluator.nb201_csv", config_dir)?;
        let table = nb201::load(&path, cfg.label)?;
        Ok(Self { accuracy: table.cells.into_iter().zip(table.accuracy).collect() })
    }
}

impl Evaluator for TabularEvaluator {
    fn evaluate(&self, jobs: &[EvalJob], done: &mut dyn FnMut(usize, EvalOutcome) -> Result<()>) -> Result<()> {
        for (i, job) in jobs.iter().enumerate() {
            let outcome = match job.genotype.parse::<Nb201Cell>() {
                Ok(cell) => match self.accuracy.get(&cell) {
                    Some(&a) => {
                        EvalOutcome { accuracy: Some(a), seconds: 0.0, error: String::new(), extra: Default::default() }
                    }
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
