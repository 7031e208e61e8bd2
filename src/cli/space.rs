//! `space sample` and `space cost`: a space file's architectures and their costs.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use nas_search::space::tools as space_tools;

#[derive(Subcommand)]
pub enum SpaceCmd {
    /// Print random genotypes of a space with their params and MACs.
    Sample {
        /// A space file, e.g. search_spaces/darts.yaml.
        space: PathBuf,
        /// How many genotypes.
        #[arg(short = 'n', long, default_value_t = 5)]
        count: usize,
        /// Seed of the sampling.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Print the params and MACs of one genotype (in the space's text form).
    Cost {
        /// A space file, e.g. search_spaces/darts.yaml.
        space: PathBuf,
        /// The genotype, e.g. "Genotype(normal=[...], ...)" or an OFA arch dict.
        genotype: String,
        /// One line of JSON: {"params": N, "macs": N}.
        #[arg(long)]
        json: bool,
    },
}

/// Runs one `space` command.
pub fn handle(cmd: SpaceCmd) -> Result<()> {
    match cmd {
        SpaceCmd::Sample { space, count, seed } => {
            for (text, cost) in space_tools::sample(&space, count, seed)? {
                println!("{text}\n  params {:.3}M  MACs {:.1}M", cost.params as f64 / 1e6, cost.macs as f64 / 1e6);
            }
        }
        SpaceCmd::Cost { space, genotype, json } => {
            let cost = space_tools::cost(&space, &genotype)?;
            if json {
                println!("{}", serde_json::json!({ "params": cost.params, "macs": cost.macs }));
            } else {
                println!(
                    "params {} ({:.3}M)  MACs {} ({:.1}M)",
                    cost.params,
                    cost.params as f64 / 1e6,
                    cost.macs,
                    cost.macs as f64 / 1e6
                );
            }
        }
    }
    Ok(())
}
