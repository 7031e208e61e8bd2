//! Architecture performance predictors: the NAR-Former transformer and the
//! MLP baseline, their losses, training loop, metrics and checkpoints.
//!
//! Models read a [`FeatureBatch`] (tokens from `crate::encode`) and return a
//! score in (0, 1) per architecture. `fit` is the one way every caller
//! trains one and loads its best weights. This module does no file I/O
//! except in `checkpoint`, `train` (its log) and `experiment`.

pub mod checkpoint;
pub mod dataset;
pub mod experiment;
pub mod experiment_config;
pub mod fit;
pub mod latency;
pub mod layers;
pub mod loss;
pub mod metrics;
pub mod mlp;
pub mod model;
pub mod native;
pub mod native_train;
pub mod optim;
pub mod scorer;
pub mod step;
pub mod train;
pub mod train_config;

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::encode::tokenizer::TokenizerConfig;
use mlp::{Mlp, MlpConfig};
use model::{NarFormer, NarFormerConfig};

/// Revision of the predictor models' computation, recorded with every
/// result row so rows of different revisions can stand side by side:
/// 1 = dropout twice in the NAR-Former feed-forward block (until 2026-11-29),
/// 2 = once, after the activation, as the published model.
pub const MODEL_REVISION: u32 = 2;

/// A batch of encoded architectures: tokens [b, t, d], for models with a
/// depth token the depth encodings [b, d], and, when architectures of
/// different lengths were left-padded, a mask [b, t] (1 real token, 0 padding).
#[derive(Clone, Debug)]
pub struct FeatureBatch<B: Backend> {
    pub tokens: Tensor<B, 3>,
    pub depth: Option<Tensor<B, 2>>,
    pub mask: Option<Tensor<B, 2>>,
}

/// Which predictor, with its settings (`model:` in a config file).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ModelConfig {
    NarFormer {
        #[serde(default)]
        tokenizer: TokenizerConfig,
        #[serde(default)]
        transformer: NarFormerConfig,
    },
    Mlp {
        #[serde(default)]
        mlp: MlpConfig,
    },
}

impl<'de> Deserialize<'de> for ModelConfig {
    /// By hand, so that an error inside a variant names its whole key.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use crate::config::{nested, tagged};
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct NarFormerFields {
            #[serde(default)]
            tokenizer: TokenizerConfig,
            #[serde(default)]
            transformer: NarFormerConfig,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct MlpFields {
            #[serde(default)]
            mlp: MlpConfig,
        }
        let (kind, rest) = tagged(d, "kind", &["nar-former", "mlp"])?;
        Ok(match kind.as_str() {
            "nar-former" => {
                let f: NarFormerFields = nested(rest)?;
                Self::NarFormer { tokenizer: f.tokenizer, transformer: f.transformer }
            }
            _ => Self::Mlp { mlp: nested::<MlpFields, _>(rest)?.mlp },
        })
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self::NarFormer { tokenizer: TokenizerConfig::default(), transformer: NarFormerConfig::default() }
    }
}

impl ModelConfig {
    /// The name used in result tables.
    pub fn name(&self) -> &'static str {
        match self {
            Self::NarFormer { .. } => "nar-former",
            Self::Mlp { .. } => "mlp",
        }
    }

    /// Checks the settings; `key` is where the section sits in the config (`model`).
    pub fn validate(&self, key: &str) -> Result<(), String> {
        match self {
            Self::NarFormer { tokenizer, transformer } => {
                transformer.validate(tokenizer.d_model(), &format!("{key}.transformer"))
            }
            Self::Mlp { mlp } if mlp.hidden.contains(&0) => Err(format!("{key}.mlp.hidden widths must be positive")),
            Self::Mlp { .. } => Ok(()),
        }
    }

    /// Builds the model (its input width is the width of its encoding,
    /// [`dataset::width`]).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Predictor<B> {
        match self {
            Self::NarFormer { tokenizer, transformer } => {
                Predictor::NarFormer(transformer.init(tokenizer.d_model(), device))
            }
            Self::Mlp { mlp } => Predictor::Mlp(mlp.init(dataset::width(self), device)),
        }
    }
}

/// A predictor model of either kind. (Few exist at a time, so the size gap
/// between variants costs nothing worth boxing for.)
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Predictor<B: Backend> {
    NarFormer(NarFormer<B>),
    Mlp(Mlp<B>),
}

impl<B: Backend> Predictor<B> {
    /// The model's name, as [`ModelConfig::name`] gives it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::NarFormer(_) => "nar-former",
            Self::Mlp(_) => "mlp",
        }
    }

    pub fn forward(&self, batch: &FeatureBatch<B>) -> Tensor<B, 1> {
        match self {
            Self::NarFormer(m) => m.forward(batch),
            Self::Mlp(m) => m.forward(batch),
        }
    }
}
