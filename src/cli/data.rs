//! `data cifar10`, `data nb201` and `data nb201-front`: data sets fetched,
//! written and checked.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum DataCmd {
    /// Download CIFAR-10 (binary version), verify its MD5 sum and unpack it into DIR.
    Cifar10 {
        /// The folder to unpack into.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Write the NAS-Bench-201 table built into the binary to a CSV file.
    Nb201 {
        /// The CSV file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// NAS-Bench-201's true front (CIFAR-10 test accuracy against a cost
    /// over all 15,625 cells) and its hypervolume: the best a run's measured
    /// front can reach.
    Nb201Front {
        /// The NAS-Bench-201 space file, e.g. search_spaces/nb201.yaml.
        space: PathBuf,
        /// The cost: macs, params or latency.
        #[arg(long, default_value = "macs")]
        cost: String,
        /// The hypervolume's reference cost (as in the run's config).
        #[arg(long)]
        reference: f64,
        /// With --cost latency: a measurement CSV of every cell (e.g. search_spaces/latency/nb201_cpu.csv.gz).
        #[arg(long, required_if_eq("cost", "latency"))]
        latency_table: Option<PathBuf>,
    },
}

/// Runs one `data` command.
pub fn handle(cmd: DataCmd) -> Result<()> {
    match cmd {
        DataCmd::Cifar10 { dir } => nas_search::data::cifar10::download(&dir)?,
        DataCmd::Nb201 { out } => {
            std::fs::write(&out, nas_search::data::nb201::embedded_csv())
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", out.display()))?;
            println!("wrote {} (15,625 NAS-Bench-201 cells; columns in README)", out.display());
        }
        DataCmd::Nb201Front { space, cost, reference, latency_table } => {
            let cost: nas_search::search::nsga2::Objective = serde_yaml::from_str(&cost)
                .ok()
                .filter(|o| *o != nas_search::search::nsga2::Objective::Accuracy)
                .ok_or_else(|| anyhow::anyhow!("--cost must be macs, params or latency, got {cost}"))?;
            let table = match &latency_table {
                Some(p) => Some(nas_search::latency::LatencyTable::load(p, "latency_ms")?),
                None => None,
            };
            let (front, hv) = nas_search::report::front::nb201_true_front(&space, cost, reference, table.as_ref())?;
            println!("genotype,test_acc,{}", cost.name());
            for (g, acc, c) in &front {
                println!("{g},{acc},{c}");
            }
            eprintln!(
                "{} cells on the true front; hypervolume {hv:.6} (reference: 0% accuracy, {reference} {})",
                front.len(),
                cost.name()
            );
        }
    }
    Ok(())
}
