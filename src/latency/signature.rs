//! Which network a latency is of: the network a space builds for a
//! genotype, and its signature (params, MACs, input resolution), by which a
//! measurement, a table or a learnt latency predictor is checked against a
//! run's space. Shared by `measure` (which times the network) and `table`
//! (which checks a file's rows).

use anyhow::{Context, Result};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::net::{NetOverrides, NetSpec};
use crate::space::AnySpace;

/// The network of `genotype` as the space describes it.
pub fn network(space: &dyn AnySpace, genotype: &str) -> Result<NetSpec> {
    space
        .network_of(genotype, &NetOverrides::default())
        .with_context(|| format!("the {} space describes no network to build", space.name()))?
}

/// Which network of `space` a latency of `genotype` is of: (params, MACs,
/// input resolution) of the network timed. Two spaces of one name (other
/// channels, cells or resolutions) build other networks for one genotype.
pub fn signature(space: &dyn AnySpace, genotype: &str) -> Result<(u64, u64, usize)> {
    let spec = network(space, genotype)?;
    let cost = spec.cost();
    Ok((cost.params, cost.macs, spec.input_size()))
}

/// Why a latency of `learnt` (the space a table was measured on, or a
/// predictor learnt) is not one of `run`'s networks, if it is not: the
/// networks of a few of `run`'s genotypes (its unit cover's, else random
/// ones of a fixed seed) compared.
pub fn network_mismatch(learnt: &dyn AnySpace, run: &dyn AnySpace) -> Result<Option<String>> {
    let genotypes = match run.cover_texts() {
        Some(c) => c.into_iter().take(5).collect(),
        None => {
            let mut rng = StdRng::seed_from_u64(0);
            (0..5).map(|_| run.sample_text(&mut rng)).collect::<Vec<_>>()
        }
    };
    for g in genotypes {
        let ours = signature(run, &g)?;
        let theirs = match learnt.check_text(&g).and_then(|t| signature(learnt, &t)) {
            Ok(s) => s,
            Err(e) => return Ok(Some(format!("{g} is not one of its networks ({e:#})"))),
        };
        if ours != theirs {
            return Ok(Some(describe_mismatch(&g, theirs, ours)));
        }
    }
    Ok(None)
}

/// `genotype`'s network as the latency has it and as the run builds it.
pub fn describe_mismatch(genotype: &str, theirs: (u64, u64, usize), ours: (u64, u64, usize)) -> String {
    format!(
        "{genotype} is a network of {} params, {} MACs at resolution {} there and of {} params, {} MACs at \
         resolution {} in this run's space (other channels, cells or resolution)",
        theirs.0, theirs.1, theirs.2, ours.0, ours.1, ours.2
    )
}
