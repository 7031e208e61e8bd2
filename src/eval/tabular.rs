//! The `tabular` evaluator: NAS-Bench-201's measured accuracies of a cell,
//! looked up in the benchmark table (the copy built into the binary unless
//! `nb201_csv` or `NAS_SEARCH_NB201_CSV` names another).
//!
//! The benchmark's protocol: the search sees a *signal* (by default the
//! CIFAR-10 validation accuracy after 12 epochs) and the architecture it
//! returns is reported by another column (by default its CIFAR-10 test
//! accuracy after 200 epochs); both are recorded. The table holds no
//! training times, so each query costs one unit: `seconds` is 0 and the
//! summary counts queries.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use super::{EvalEvent, EvalJob, EvalOutcome, EvalSeconds, Evaluator, Events, Flow, Measures};
use crate::data::nb201::{self, Nb201Column};
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
    /// Another copy of the NAS-Bench-201 CSV (relative to the config file);
    /// else `NAS_SEARCH_NB201_CSV`, else the table built into the binary.
    #[serde(default)]
    pub nb201_csv: Option<PathBuf>,
    /// The column the search sees [cifar10-valid].
    #[serde(default)]
    pub signal: Option<Nb201Column>,
    /// The column the summary reports the searched architectures by [cifar10].
    #[serde(default)]
    pub report: Option<Nb201Column>,
    /// One column as both signal and report (configs written before the two
    /// were separate said `label: cifar10`, which searched on the test set).
    #[serde(default)]
    pub label: Option<Nb201Column>,
}

impl TabularConfig {
    /// The (signal, report) columns.
    pub fn columns(&self) -> Result<(Nb201Column, Nb201Column)> {
        match (self.label, self.signal, self.report) {
            (Some(l), None, None) => Ok((l, l)),
            (Some(_), _, _) => bail!(
                "evaluator.label names one column for both signal and report: give either it or evaluator.signal / evaluator.report"
            ),
            (None, s, r) => Ok((s.unwrap_or(Nb201Column::Cifar10Valid), r.unwrap_or(Nb201Column::Cifar10Test))),
        }
    }
}

pub struct TabularEvaluator {
    /// Signal and report accuracy of every cell.
    accuracy: HashMap<Nb201Cell, (f64, f64)>,
    signal: Nb201Column,
    report: Nb201Column,
}

impl TabularEvaluator {
    pub fn new(cfg: &TabularConfig) -> Result<Self> {
        let (signal, report) = cfg.columns()?;
        let source = nb201::resolve(cfg.nb201_csv.as_deref(), "evaluator.nb201_csv")?;
        let table = nb201::load(&source, &[signal, report])?;
        let pairs = table.accuracy[0].iter().copied().zip(table.accuracy[1].iter().copied());
        Ok(Self { accuracy: table.cells.into_iter().zip(pairs).collect(), signal, report })
    }
}

impl Evaluator for TabularEvaluator {
    fn evaluate(&self, jobs: &[EvalJob], events: Events) -> Result<()> {
        for (i, job) in jobs.iter().enumerate() {
            let outcome = match job.genotype.parse::<Nb201Cell>() {
                Ok(cell) => match self.accuracy.get(&cell) {
                    Some(&(signal, report)) => {
                        EvalOutcome { report: Some(report), ..EvalOutcome::measured(signal, 0.0) }
                    }
                    None => EvalOutcome::failed(format!("cell {} is not in the table", job.genotype), 0.0),
                },
                Err(e) => EvalOutcome::failed(format!("not a NAS-Bench-201 cell: {e}"), 0.0),
            };
            if events(EvalEvent::Done(i, outcome))? == Flow::Stop {
                break;
            }
        }
        Ok(())
    }

    fn measures(&self) -> Measures {
        Measures {
            signal: format!("{} (`{}`)", self.signal.describe(), self.signal.name()),
            report: Some(format!("{} (`{}`)", self.report.describe(), self.report.name())),
            signal_is_test: self.signal.is_test(),
            seconds: EvalSeconds::Free,
        }
    }
}
