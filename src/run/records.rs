//! The records a run keeps of its real evaluations: one [`EvalRecord`] per
//! row of `evaluations.csv`, with typed phase, budget and status that
//! serialise to the same CSV text as run directories have always held.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::strategy::Strategy;
use crate::eval::Budget;

/// Why an architecture was evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Sampled at random to train the predictor (`data`).
    Data,
    /// A round's top-K, picked with the predictor (`final`).
    Final,
    /// Proposed by a real-evaluation baseline (its strategy's name).
    Baseline(Strategy),
    /// The run's reference architecture (`search.reference`), trained at the
    /// final budget to compare the search's best with (`reference`).
    Reference,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Self::Data => "data",
            Self::Final => "final",
            Self::Reference => "reference",
            Self::Baseline(s) => s.name(),
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Phase {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "data" => Ok(Self::Data),
            "final" => Ok(Self::Final),
            "reference" => Ok(Self::Reference),
            other => Strategy::from_name(other)
                .map(Self::Baseline)
                .ok_or_else(|| format!("unknown phase '{other}' (data, final or a strategy name)")),
        }
    }
}

impl Serialize for Phase {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Phase {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// How an evaluation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
}

/// One finished evaluation (a row of `evaluations.csv`). Columns added
/// after the first format come last and have defaults, so older files read
/// (and are rewritten with the current header on resume).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    pub phase: Phase,
    pub round: usize,
    pub arch_key: String,
    pub genotype: String,
    /// Parameters of the network evaluated (the budget may shrink the
    /// space's standard network; see `std_params`).
    pub params: u64,
    /// MACs of the network evaluated.
    pub macs: u64,
    pub budget: Budget,
    /// The signal: top-1 % the search sees, empty when the evaluation failed.
    pub accuracy: Option<f64>,
    pub seconds: f64,
    pub status: Status,
    pub error: String,
    /// Further fields the evaluator reported, as JSON.
    pub extra: String,
    /// The accuracy the summary reports, when the evaluator measures one
    /// apart from the signal (NAS-Bench-201: the test accuracy).
    #[serde(default)]
    pub report_accuracy: Option<f64>,
    /// 1 for the first evaluation of an architecture in its phase and round,
    /// then 2, 3, ... for retries of failed ones (the last attempt counts).
    #[serde(default = "first_attempt")]
    pub attempt: usize,
    /// Parameters of the space's standard network (what constraints bound).
    #[serde(default)]
    pub std_params: Option<u64>,
    /// MACs of the space's standard network.
    #[serde(default)]
    pub std_macs: Option<u64>,
    /// Latency of the space's standard network, measured (ms), when the run
    /// has a `latency:` section: from its measurement table or timed on
    /// this machine after the evaluation (see `crate::latency::source`).
    #[serde(default)]
    pub latency_ms: Option<f64>,
    /// Which training of the architecture this is, 1.. (`search.final_repeats`
    /// trains each final architecture that many times, each with its own
    /// training seed); the architecture's accuracy is their mean.
    #[serde(default = "first_attempt")]
    pub repeat: usize,
}

fn first_attempt() -> usize {
    1
}

#[cfg(test)]
impl EvalRecord {
    /// For unit tests: the first training of `key` in round 0 of the data
    /// phase at the proxy budget, with `accuracy` (`None`: failed), genotype
    /// `g-KEY` and every other field empty.
    pub fn example(key: &str, accuracy: Option<f64>) -> Self {
        Self {
            phase: Phase::Data,
            round: 0,
            arch_key: key.into(),
            genotype: format!("g-{key}"),
            params: 0,
            macs: 0,
            budget: Budget::Proxy,
            accuracy,
            seconds: 0.0,
            status: if accuracy.is_some() { Status::Ok } else { Status::Failed },
            error: String::new(),
            extra: "{}".into(),
            report_accuracy: None,
            attempt: 1,
            std_params: None,
            std_macs: None,
            latency_ms: None,
            repeat: 1,
        }
    }
}

/// Where an evaluation stands among a run's: its phase, round,
/// architecture and repeat. Attempts of one slot replace each other.
pub type Slot<'a> = (Phase, usize, &'a str, usize);

impl EvalRecord {
    /// The slot this evaluation fills (see [`Slot`]).
    pub fn slot(&self) -> Slot<'_> {
        (self.phase, self.round, self.arch_key.as_str(), self.repeat)
    }

    /// The accuracy the summary reports: the report column, else the signal.
    pub fn reported(&self) -> Option<f64> {
        self.accuracy.and(self.report_accuracy.or(self.accuracy))
    }

    /// Checks the numbers a file gave: accuracies are finite percentages
    /// (a damaged or hand-edited row must not rank as best or crash a sort).
    pub fn check_numbers(&self) -> Result<(), String> {
        for (column, v) in [("accuracy", self.accuracy), ("report_accuracy", self.report_accuracy)] {
            if let Some(v) = v
                && !(v.is_finite() && (0.0..=100.0).contains(&v))
            {
                return Err(format!("column {column}: {v} is not an accuracy in 0..100"));
            }
        }
        if let Some(v) = self.latency_ms
            && !(v.is_finite() && v > 0.0)
        {
            return Err(format!("column latency_ms: {v} is not a positive number of milliseconds"));
        }
        Ok(())
    }

    /// Fills the columns a file of an older format lacks.
    pub fn upgrade(&mut self) {
        self.std_params.get_or_insert(self.params);
        self.std_macs.get_or_insert(self.macs);
    }
}

/// The last attempt of each slot (each architecture's training per phase,
/// round and repeat; retries of a failed evaluation replace it), in the
/// order those last attempts ran.
pub fn last_attempts(evals: &[EvalRecord]) -> Vec<&EvalRecord> {
    let last: std::collections::HashMap<Slot<'_>, usize> =
        evals.iter().enumerate().map(|(i, e)| (e.slot(), i)).collect();
    evals.iter().enumerate().filter(|(i, e)| last[&e.slot()] == *i).map(|(_, e)| e).collect()
}

/// How many architectures' last evaluation failed, per stage: (phase,
/// round, count), in the order the stages first appear in `evals`.
pub fn failures_by_stage(evals: &[EvalRecord]) -> Vec<(Phase, usize, usize)> {
    let mut out: Vec<(Phase, usize, usize)> = Vec::new();
    for e in last_attempts(evals).into_iter().filter(|e| e.accuracy.is_none()) {
        match out.iter_mut().find(|(p, r, _)| (*p, *r) == (e.phase, e.round)) {
            Some(g) => g.2 += 1,
            None => out.push((e.phase, e.round, 1)),
        }
    }
    out
}

/// [`failures_by_stage`] in words: `3 data (round 0), 1 final (round 1)`.
pub fn describe_failures(stages: &[(Phase, usize, usize)]) -> String {
    let parts: Vec<String> = stages
        .iter()
        .map(|(phase, round, n)| match phase {
            Phase::Baseline(_) | Phase::Reference => format!("{n} {phase}"),
            _ => format!("{n} {phase} (round {round})"),
        })
        .collect();
    parts.join(", ")
}

/// The header of `evaluations.csv`, in [`EvalRecord`]'s field order.
pub const EVALUATIONS_HEADER: [&str; 18] = [
    "phase",
    "round",
    "arch_key",
    "genotype",
    "params",
    "macs",
    "budget",
    "accuracy",
    "seconds",
    "status",
    "error",
    "extra",
    "report_accuracy",
    "attempt",
    "std_params",
    "std_macs",
    "latency_ms",
    "repeat",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_of_the_first_format_read_with_defaults_and_typed_fields() {
        let text = "phase,round,arch_key,genotype,params,macs,budget,accuracy,seconds,status,error,extra\n\
                    data,0,k1,g1,10,20,proxy,91.5,0.0,ok,,{}\n\
                    regularized-evolution,0,k2,g2,10,20,final,,1.5,failed,boom,{}\n";
        let mut rows: Vec<EvalRecord> =
            csv::Reader::from_reader(text.as_bytes()).deserialize().collect::<Result<_, _>>().unwrap();
        assert_eq!(rows[0].phase, Phase::Data);
        assert_eq!(rows[0].budget, Budget::Proxy);
        assert_eq!((rows[0].attempt, rows[0].report_accuracy, rows[0].std_params), (1, None, None));
        assert_eq!(rows[0].reported(), Some(91.5));
        assert_eq!(rows[1].phase, Phase::Baseline(Strategy::RegularizedEvolution));
        assert_eq!((rows[1].status, rows[1].accuracy, rows[1].reported()), (Status::Failed, None, None));
        rows.iter_mut().for_each(EvalRecord::upgrade);
        assert_eq!((rows[0].std_params, rows[0].std_macs), (Some(10), Some(20)));
        let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
        w.write_record(EVALUATIONS_HEADER).unwrap();
        for r in &rows {
            w.serialize(r).unwrap();
        }
        let written = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let mut lines = written.lines();
        assert_eq!(lines.next().unwrap(), EVALUATIONS_HEADER.join(","));
        assert_eq!(lines.next().unwrap(), "data,0,k1,g1,10,20,proxy,91.5,0.0,ok,,{},,1,10,20,,1");
        let bad = "phase,round,arch_key,genotype,params,macs,budget,accuracy,seconds,status,error,extra\n\
                   dat,0,k1,g1,10,20,proxy,91.5,0.0,ok,,{}\n";
        let err = csv::Reader::from_reader(bad.as_bytes()).deserialize::<EvalRecord>().next().unwrap().unwrap_err();
        assert!(err.to_string().contains("unknown phase 'dat'"), "{err}");
    }
}
