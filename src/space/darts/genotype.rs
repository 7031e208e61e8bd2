//! DARTS genotypes: the data type, DARTS's own text notation (parse and
//! print) and the checks that make a genotype valid.
//!
//! A cell has 4 intermediate nodes (2..=5); node n has 2 incoming edges
//! (`edges[2(n-2)]`, `edges[2(n-2)+1]`) from 2 distinct earlier nodes
//! (0 = c_{k-2}, 1 = c_{k-1}, or an earlier intermediate node), each with one
//! operation. The cell output concatenates nodes 2..=5.

use std::fmt;

/// The operations a DARTS edge can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum DartsOp {
    #[serde(rename = "max_pool_3x3")]
    MaxPool3x3,
    #[serde(rename = "avg_pool_3x3")]
    AvgPool3x3,
    #[serde(rename = "skip_connect")]
    SkipConnect,
    #[serde(rename = "sep_conv_3x3")]
    SepConv3x3,
    #[serde(rename = "sep_conv_5x5")]
    SepConv5x5,
    #[serde(rename = "dil_conv_3x3")]
    DilConv3x3,
    #[serde(rename = "dil_conv_5x5")]
    DilConv5x5,
}

impl DartsOp {
    pub const ALL: [DartsOp; 7] = [
        Self::MaxPool3x3,
        Self::AvgPool3x3,
        Self::SkipConnect,
        Self::SepConv3x3,
        Self::SepConv5x5,
        Self::DilConv3x3,
        Self::DilConv5x5,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::MaxPool3x3 => "max_pool_3x3",
            Self::AvgPool3x3 => "avg_pool_3x3",
            Self::SkipConnect => "skip_connect",
            Self::SepConv3x3 => "sep_conv_3x3",
            Self::SepConv5x5 => "sep_conv_5x5",
            Self::DilConv3x3 => "dil_conv_3x3",
            Self::DilConv5x5 => "dil_conv_5x5",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.name() == name)
    }

    /// Position in [`DartsOp::ALL`].
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|&o| o == self).expect("listed")
    }
}

/// Intermediate nodes per cell.
pub const NODES: usize = 4;
/// Edges per cell.
pub const EDGES: usize = 2 * NODES;

/// One edge: its operation and the node it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Edge {
    pub op: DartsOp,
    pub input: usize,
}

/// One cell: 8 edges, two per intermediate node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DartsCell {
    pub edges: [Edge; EDGES],
}

/// A DARTS genotype: a normal and a reduction cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DartsGenotype {
    pub normal: DartsCell,
    pub reduce: DartsCell,
}

/// Why a DARTS genotype was rejected; `pos` is a byte offset in the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DartsError {
    #[error("at position {pos}: expected {expected}, found {found}")]
    Syntax { pos: usize, expected: String, found: String },
    #[error("at position {pos}: unknown operation '{op}' (known: {known})")]
    UnknownOp { pos: usize, op: String, known: String },
    #[error("{cell} cell has {found} edges, expected {EDGES} (2 per intermediate node)")]
    EdgeCount { cell: &'static str, found: usize },
    #[error(
        "{cell} cell, edge {edge} (into node {}, as the cell diagram numbers it): input {input} is not an earlier node \
         (inputs are 0 = c_{{k-2}}, 1 = c_{{k-1}}, 2.. = nodes 0..; this edge's must be < {node})",
        node - 2
    )]
    BadInput { cell: &'static str, edge: usize, node: usize, input: usize },
    #[error(
        "{cell} cell, node {} (as the cell diagram numbers it): both edges read input {input}; the two inputs must be \
         distinct (inputs are 0 = c_{{k-2}}, 1 = c_{{k-1}}, 2.. = nodes 0..)",
        node - 2
    )]
    SameInputs { cell: &'static str, node: usize, input: usize },
    #[error("{cell}_concat must be [2, 3, 4, 5] (or range(2, 6)), got {found:?}")]
    Concat { cell: &'static str, found: Vec<usize> },
    #[error("missing field '{0}'")]
    Missing(&'static str),
    #[error("operation '{op}' in the {cell} cell is not in this space's ops")]
    OpNotInSpace { cell: &'static str, op: &'static str },
}

impl DartsCell {
    /// Checks edge inputs: earlier nodes, distinct per node.
    pub fn validate(&self, cell: &'static str) -> Result<(), DartsError> {
        for n in 0..NODES {
            let node = n + 2;
            let (a, b) = (self.edges[2 * n], self.edges[2 * n + 1]);
            for (k, e) in [(2 * n, a), (2 * n + 1, b)] {
                if e.input >= node {
                    return Err(DartsError::BadInput { cell, edge: k, node, input: e.input });
                }
            }
            if a.input == b.input {
                return Err(DartsError::SameInputs { cell, node, input: a.input });
            }
        }
        Ok(())
    }
}

impl DartsGenotype {
    pub fn validate(&self) -> Result<(), DartsError> {
        self.normal.validate("normal")?;
        self.reduce.validate("reduce")
    }

    /// DARTS V2, the genotype of the DARTS paper's CIFAR-10 result.
    pub fn darts_v2() -> Self {
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
            .parse()
            .expect("DARTS V2 parses")
    }
}

fn write_cell(f: &mut fmt::Formatter<'_>, c: &DartsCell) -> fmt::Result {
    write!(f, "[")?;
    for (i, e) in c.edges.iter().enumerate() {
        if i > 0 {
            write!(f, ", ")?;
        }
        write!(f, "('{}', {})", e.op.name(), e.input)?;
    }
    write!(f, "]")
}

impl fmt::Display for DartsGenotype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Genotype(normal=")?;
        write_cell(f, &self.normal)?;
        write!(f, ", normal_concat=[2, 3, 4, 5], reduce=")?;
        write_cell(f, &self.reduce)?;
        write!(f, ", reduce_concat=[2, 3, 4, 5])")
    }
}

/// A small cursor over the genotype text that reports byte positions.
struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while self.s[self.pos..].starts_with(|c: char| c.is_whitespace()) {
            self.pos += 1;
        }
    }
    fn found(&self) -> String {
        match self.s[self.pos..].chars().next() {
            Some(c) => format!("'{c}'"),
            None => "end of text".into(),
        }
    }
    fn err(&self, expected: &str) -> DartsError {
        DartsError::Syntax { pos: self.pos, expected: expected.into(), found: self.found() }
    }
    fn eat(&mut self, t: &str) -> bool {
        self.ws();
        if self.s[self.pos..].starts_with(t) {
            self.pos += t.len();
            true
        } else {
            false
        }
    }
    fn expect(&mut self, t: &str) -> Result<(), DartsError> {
        if self.eat(t) { Ok(()) } else { Err(self.err(&format!("'{t}'"))) }
    }
    fn ident(&mut self) -> Result<&'a str, DartsError> {
        self.ws();
        let start = self.pos;
        while self.s[self.pos..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        if start == self.pos { Err(self.err("a name")) } else { Ok(&self.s[start..self.pos]) }
    }
    fn number(&mut self) -> Result<usize, DartsError> {
        self.ws();
        let start = self.pos;
        while self.s[self.pos..].starts_with(|c: char| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.s[start..self.pos].parse().map_err(|_| {
            self.pos = start;
            self.err("a number")
        })
    }
    fn quoted(&mut self) -> Result<(usize, &'a str), DartsError> {
        self.ws();
        let q = match self.s[self.pos..].chars().next() {
            Some(c @ ('\'' | '"')) => c,
            _ => return Err(self.err("a quoted operation name")),
        };
        self.pos += 1;
        let start = self.pos;
        let end = self.s[start..].find(q).map(|i| start + i).ok_or_else(|| self.err("a closing quote"))?;
        self.pos = end + 1;
        Ok((start, &self.s[start..end]))
    }
    fn edges(&mut self) -> Result<Vec<Edge>, DartsError> {
        self.expect("[")?;
        let mut out = Vec::new();
        if self.eat("]") {
            return Ok(out);
        }
        loop {
            self.expect("(")?;
            let (at, name) = self.quoted()?;
            let op = DartsOp::from_name(name).ok_or_else(|| DartsError::UnknownOp {
                pos: at,
                op: name.into(),
                known: DartsOp::ALL.map(DartsOp::name).join(", "),
            })?;
            self.expect(",")?;
            let input = self.number()?;
            self.expect(")")?;
            out.push(Edge { op, input });
            if self.eat("]") {
                return Ok(out);
            }
            self.expect(",")?;
        }
    }
    fn concat(&mut self) -> Result<Vec<usize>, DartsError> {
        if self.eat("range") {
            self.expect("(")?;
            let a = self.number()?;
            self.expect(",")?;
            let b = self.number()?;
            self.expect(")")?;
            return Ok((a..b).collect());
        }
        self.expect("[")?;
        let mut v = Vec::new();
        if self.eat("]") {
            return Ok(v);
        }
        loop {
            v.push(self.number()?);
            if self.eat("]") {
                return Ok(v);
            }
            self.expect(",")?;
        }
    }
}

fn to_cell(cell: &'static str, edges: Vec<Edge>) -> Result<DartsCell, DartsError> {
    let edges: [Edge; EDGES] =
        edges.try_into().map_err(|v: Vec<Edge>| DartsError::EdgeCount { cell, found: v.len() })?;
    let c = DartsCell { edges };
    c.validate(cell)?;
    Ok(c)
}

impl std::str::FromStr for DartsGenotype {
    type Err = DartsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut p = Parser { s, pos: 0 };
        p.expect("Genotype")?;
        p.expect("(")?;
        let (mut normal, mut reduce) = (None, None);
        loop {
            p.ws();
            let at = p.pos;
            let key = p.ident()?;
            p.expect("=")?;
            match key {
                "normal" => normal = Some(p.edges()?),
                "reduce" => reduce = Some(p.edges()?),
                "normal_concat" | "reduce_concat" => {
                    let cell = if key == "normal_concat" { "normal" } else { "reduce" };
                    let c = p.concat()?;
                    if c != [2, 3, 4, 5] {
                        return Err(DartsError::Concat { cell, found: c });
                    }
                }
                _ => {
                    return Err(DartsError::Syntax {
                        pos: at,
                        expected: "normal, normal_concat, reduce or reduce_concat".into(),
                        found: format!("'{key}'"),
                    });
                }
            }
            if p.eat(")") {
                break;
            }
            p.expect(",")?;
        }
        p.ws();
        if p.pos != s.len() {
            return Err(p.err("end of text"));
        }
        let g = DartsGenotype {
            normal: to_cell("normal", normal.ok_or(DartsError::Missing("normal"))?)?,
            reduce: to_cell("reduce", reduce.ok_or(DartsError::Missing("reduce"))?)?,
        };
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_concat_forms_and_round_trips() {
        let v2 = DartsGenotype::darts_v2();
        let text = v2.to_string();
        assert_eq!(text.parse::<DartsGenotype>().unwrap(), v2);
        let ranged = text.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 6)");
        assert_eq!(ranged.parse::<DartsGenotype>().unwrap(), v2);
        let dq = text.replace('\'', "\"");
        assert_eq!(dq.parse::<DartsGenotype>().unwrap(), v2);
        assert_eq!(v2.normal.edges[7], Edge { op: DartsOp::DilConv3x3, input: 2 });
    }

    #[test]
    fn malformed_text_names_position_and_problem() {
        let v2 = DartsGenotype::darts_v2().to_string();
        let e = v2.replacen("sep_conv_3x3", "sep_conv_9x9", 1).parse::<DartsGenotype>().unwrap_err();
        assert_eq!(e.to_string().split(':').next().unwrap(), "at position 19");
        assert!(e.to_string().contains("sep_conv_9x9"));
        let e = v2.replacen("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)", 1).parse::<DartsGenotype>().unwrap_err();
        assert_eq!(e, DartsError::BadInput { cell: "normal", edge: 7, node: 5, input: 5 });
        let e = v2.replacen("('sep_conv_3x3', 1)", "('sep_conv_3x3', 0)", 1).parse::<DartsGenotype>().unwrap_err();
        assert_eq!(e, DartsError::SameInputs { cell: "normal", node: 2, input: 0 });
        let e =
            v2.replacen("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3]", 1).parse::<DartsGenotype>().unwrap_err();
        assert!(matches!(e, DartsError::Concat { cell: "normal", .. }));
        let e = "Genotype(normal=[('sep_conv_3x3', 0)])".parse::<DartsGenotype>().unwrap_err();
        assert_eq!(e, DartsError::EdgeCount { cell: "normal", found: 1 });
        let e = v2.trim_end_matches(')').parse::<DartsGenotype>().unwrap_err();
        assert!(e.to_string().contains("end of text"), "{e}");
    }
}
