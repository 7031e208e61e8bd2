//! Network descriptions: the layers a genotype's evaluation network is made
//! of, written once per space. The cost model (params, MACs) walks these
//! descriptions, and the built-in trainer builds its networks from the same
//! ones, so the two can never disagree. Spaces hand out their descriptions
//! (`SearchSpace::network`); nothing here knows which space is configured.

pub mod darts;
pub mod layer;
pub mod mobilenet;
pub mod nb201;

use anyhow::{Result, bail};

pub use layer::{Cost, Layer, LayerSeq};

/// A network description the built-in trainer can build: one variant per
/// kind of network it trains.
#[derive(Clone, Debug, PartialEq)]
pub enum NetSpec {
    Darts(darts::DartsNet),
    MobileNet(mobilenet::MobileNet),
    Nb201(nb201::Nb201Net),
}

impl NetSpec {
    /// Input resolution (square images).
    pub fn input_size(&self) -> usize {
        match self {
            Self::Darts(n) => n.input_size,
            Self::MobileNet(n) => n.resolution,
            Self::Nb201(n) => n.input_size,
        }
    }

    /// Parameters and MACs, as the cost model counts them.
    pub fn cost(&self) -> Cost {
        match self {
            Self::Darts(n) => n.cost(),
            Self::MobileNet(n) => n.cost(),
            Self::Nb201(n) => n.cost(),
        }
    }
}

/// What a training budget may change about a space's standard network.
/// Each space applies the settings its network has and refuses the others
/// by their config key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetOverrides {
    /// `channels`: initial channels (DARTS's C).
    pub channels: Option<usize>,
    /// `cells`: number of cells.
    pub cells: Option<usize>,
    /// `width_mult`: width multiplier (MobileNetV3).
    pub width_mult: Option<f64>,
    /// `resolution`: input image size.
    pub resolution: Option<usize>,
    /// An auxiliary classifier head (`auxiliary_weight` > 0).
    pub auxiliary_head: bool,
    /// Outputs of the classifier (from the data).
    pub classes: Option<usize>,
}

impl NetOverrides {
    /// An error naming the first of `keys` (config keys) that is set: `what`
    /// networks do not have it.
    pub fn refuse(&self, keys: &[&str], what: &str) -> Result<()> {
        for &key in keys {
            let set = match key {
                "channels" => self.channels.is_some(),
                "cells" => self.cells.is_some(),
                "width_mult" => self.width_mult.is_some(),
                "resolution" => self.resolution.is_some(),
                "auxiliary_weight" => self.auxiliary_head,
                _ => false,
            };
            if set {
                bail!("`{key}` does not apply to {what} networks");
            }
        }
        Ok(())
    }
}
