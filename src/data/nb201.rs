//! The NAS-Bench-201 table: every cell with its measured accuracies, in the
//! benchmark's architecture-index order (data row i is index i).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::space::nb201::{Nb201Cell, SPACE_SIZE};

/// Environment variable that names the CSV when the config does not.
pub const ENV_VAR: &str = "NAS_SEARCH_NB201_CSV";
/// Where the CSV lies in this project's layout, relative to the working directory.
pub const CONVENTIONAL_PATH: &str = "../shared/data/nb201/nb201_cifar10_cifar100_imagenet16.csv";

/// Which accuracy column is the label.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Nb201Label {
    #[default]
    Cifar10,
    Cifar100,
    Imagenet16,
}

impl Nb201Label {
    fn column(self) -> &'static str {
        match self {
            Self::Cifar10 => "CIFAR10TestAccuracy200Epochs",
            Self::Cifar100 => "CIFAR100TestAccuracy200Epochs",
            Self::Imagenet16 => "ImageNetTestAccuracy200Epochs",
        }
    }
}

/// The whole benchmark: cells and accuracies (in %) by architecture index.
#[derive(Clone, Debug)]
pub struct Nb201Table {
    pub cells: Vec<Nb201Cell>,
    pub accuracy: Vec<f64>,
    pub path: PathBuf,
}

/// Picks the CSV path: the config's value (relative to the config file's
/// folder), else the environment variable, else the conventional path.
/// `key` is the config key that names it, for error messages.
pub fn resolve_path(configured: Option<&Path>, key: &str, config_dir: &Path) -> Result<PathBuf> {
    if let Some(p) = configured {
        let p = if p.is_absolute() { p.to_path_buf() } else { config_dir.join(p) };
        if p.is_file() {
            return Ok(p);
        }
        bail!("NAS-Bench-201 CSV not found at {} (from the config key {key})", p.display());
    }
    if let Ok(v) = std::env::var(ENV_VAR) {
        let p = PathBuf::from(v);
        if p.is_file() {
            return Ok(p);
        }
        bail!("NAS-Bench-201 CSV not found at {} (from {ENV_VAR})", p.display());
    }
    let p = PathBuf::from(CONVENTIONAL_PATH);
    if p.is_file() {
        return Ok(p);
    }
    bail!("no NAS-Bench-201 CSV: set {key} in the config or {ENV_VAR}; {CONVENTIONAL_PATH} does not exist")
}

/// Reads the table and checks that it is the full benchmark.
pub fn load(path: &Path, label: Nb201Label) -> Result<Nb201Table> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let headers = reader.headers().with_context(|| format!("reading the header of {}", path.display()))?.clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).with_context(|| format!("{}: missing column {name}", path.display()))
    };
    let (acc_col, arch_col) = (col(label.column())?, col("ArchitectureString")?);
    let mut cells = Vec::with_capacity(SPACE_SIZE);
    let mut accuracy = Vec::with_capacity(SPACE_SIZE);
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let rec = rec.with_context(|| format!("{}:{line}: malformed CSV row", path.display()))?;
        let arch = rec.get(arch_col).unwrap_or("");
        let cell: Nb201Cell =
            arch.parse().with_context(|| format!("{}:{line}: bad ArchitectureString '{arch}'", path.display()))?;
        let acc_text = rec.get(acc_col).unwrap_or("");
        let acc: f64 =
            acc_text.parse().ok().filter(|a: &f64| a.is_finite() && (0.0..=100.0).contains(a)).with_context(|| {
                format!("{}:{line}: bad accuracy '{acc_text}' in {}", path.display(), label.column())
            })?;
        cells.push(cell);
        accuracy.push(acc);
    }
    if cells.len() != SPACE_SIZE {
        bail!("{}: expected {SPACE_SIZE} architectures, found {}", path.display(), cells.len());
    }
    Ok(Nb201Table { cells, accuracy, path: path.to_path_buf() })
}
