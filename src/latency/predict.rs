//! `nas-search latency predict`: the latency one source gives given
//! architectures (a per-unit look-up table, a trained latency predictor, or
//! a measurement table), as a run's search would see it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::lut::Lut;
use super::signature::network;
use super::source::LatencyModel;
use super::{DeviceInfo, LatencyTable};
use crate::space::AnySpace;

/// Where the latency comes from.
#[derive(Clone, Debug)]
pub enum Source {
    Lut(PathBuf),
    Predictor(PathBuf),
    Table(PathBuf),
}

/// What a source said: its description, the device it is of, and each
/// architecture (canonical text) with its latency, ms.
pub struct Predicted {
    pub source: String,
    pub device: DeviceInfo,
    pub rows: Vec<(String, f64)>,
}

/// The latency `source` gives each of `genotypes` (of `space`);
/// `load_model` loads a predictor directory.
pub fn predict(
    space: &dyn AnySpace,
    source: &Source,
    genotypes: &[String],
    load_model: impl FnOnce(&Path) -> Result<Box<dyn LatencyModel>>,
) -> Result<Predicted> {
    let texts: Vec<String> = genotypes
        .iter()
        .map(|g| {
            space.check_text(g).with_context(|| format!("`{g}` is not an architecture of the {} space", space.name()))
        })
        .collect::<Result<_>>()?;
    if texts.is_empty() {
        bail!("no architecture given");
    }
    let (what, device, ms): (String, DeviceInfo, Vec<f64>) = match source {
        Source::Lut(p) => {
            let lut = Lut::load(p)?;
            let ms = texts.iter().map(|g| lut.latency(&network(space, g)?)).collect::<Result<_>>()?;
            (format!("the look-up table {}", p.display()), lut.device.clone(), ms)
        }
        Source::Predictor(dir) => {
            let model = load_model(dir)?;
            if model.space() != space.name() {
                bail!("{} learnt the {} space, not {}", model.describe(), model.space(), space.name());
            }
            (model.describe(), model.device(), model.predict(&texts)?)
        }
        Source::Table(p) => {
            let table = LatencyTable::load(p, "latency_ms")?;
            let ms = texts
                .iter()
                .map(|g| table.get(g).with_context(|| format!("{} has no measurement of {g}", p.display())))
                .collect::<Result<_>>()?;
            (format!("the measurement table {}", p.display()), table.device(), ms)
        }
    };
    Ok(Predicted { source: what, device, rows: texts.into_iter().zip(ms).collect() })
}
