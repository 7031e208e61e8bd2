//! The records a run keeps of its real evaluations: one [`EvalRecord`] per
//! row of `evaluations.csv`, with typed phase, budget and status that
//! serialise to the same CSV text as run directories have always held.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::config::Strategy;
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
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Self::Data => "data",
            Self::Final => "final",
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

/// One finished evaluation (a row of `evaluations.csv`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    pub phase: Phase,
    pub round: usize,
    pub arch_key: String,
    pub genotype: String,
    pub params: u64,
    pub macs: u64,
    pub budget: Budget,
    /// Top-1 %, empty when the evaluation failed.
    pub accuracy: Option<f64>,
    pub seconds: f64,
    pub status: Status,
    pub error: String,
    /// Further fields the evaluator reported, as JSON.
    pub extra: String,
}

/// The header of `evaluations.csv`, in [`EvalRecord`]'s field order.
pub const EVALUATIONS_HEADER: [&str; 12] = [
    "phase", "round", "arch_key", "genotype", "params", "macs", "budget", "accuracy", "seconds", "status", "error",
    "extra",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_and_write_the_first_formats_text() {
        let text = "phase,round,arch_key,genotype,params,macs,budget,accuracy,seconds,status,error,extra\n\
                    data,0,k1,g1,10,20,proxy,91.5,0.0,ok,,{}\n\
                    regularized-evolution,0,k2,g2,10,20,final,,1.5,failed,boom,{}\n";
        let rows: Vec<EvalRecord> =
            csv::Reader::from_reader(text.as_bytes()).deserialize().collect::<Result<_, _>>().unwrap();
        assert_eq!(rows[0].phase, Phase::Data);
        assert_eq!(rows[0].budget, Budget::Proxy);
        assert_eq!(rows[1].phase, Phase::Baseline(Strategy::RegularizedEvolution));
        assert_eq!((rows[1].status, rows[1].accuracy), (Status::Failed, None));
        let mut w = csv::Writer::from_writer(Vec::new());
        for r in &rows {
            w.serialize(r).unwrap();
        }
        assert_eq!(String::from_utf8(w.into_inner().unwrap()).unwrap(), text);
        let bad = "phase,round,arch_key,genotype,params,macs,budget,accuracy,seconds,status,error,extra\n\
                   dat,0,k1,g1,10,20,proxy,91.5,0.0,ok,,{}\n";
        let err = csv::Reader::from_reader(bad.as_bytes()).deserialize::<EvalRecord>().next().unwrap().unwrap_err();
        assert!(err.to_string().contains("unknown phase 'dat'"), "{err}");
    }
}
