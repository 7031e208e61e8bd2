//! An Once-for-All MobileNetV3 architecture and its text form: OFA's arch
//! dict as JSON, `{"ks": [20 ints], "e": [20 ints], "d": [5 ints], "r": [224]}`
//! (`image_size` accepted for `r`, a bare int too). Values of blocks beyond a
//! stage's depth are kept but ignored by cost, key and graph.

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::net::mobilenet::BlockChoice;

/// Stages of the network.
pub const STAGES: usize = 5;
/// Block slots per stage.
pub const SLOTS: usize = 4;
/// Block slots in all.
pub const BLOCKS: usize = STAGES * SLOTS;

/// An OFA MobileNetV3 architecture.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MobileNetArch {
    pub ks: [usize; BLOCKS],
    pub e: [usize; BLOCKS],
    pub d: [usize; STAGES],
    pub r: usize,
}

impl MobileNetArch {
    /// The active blocks of each stage.
    pub fn stages(&self) -> Vec<Vec<BlockChoice>> {
        (0..STAGES)
            .map(|s| {
                (0..self.d[s])
                    .map(|i| BlockChoice { kernel: self.ks[s * SLOTS + i], expand: self.e[s * SLOTS + i] })
                    .collect()
            })
            .collect()
    }
}

/// The arch dict as one line of JSON.
pub fn format(a: &MobileNetArch) -> String {
    serde_json::json!({ "ks": a.ks, "e": a.e, "d": a.d, "r": [a.r] }).to_string()
}

/// Parses OFA's arch dict (JSON) without checking it against this space.
pub fn parse(text: &str) -> Result<MobileNetArch> {
    let v: Value = serde_json::from_str(text).context("architecture is not valid JSON")?;
    let obj = v.as_object().context("architecture must be a JSON object with ks, e, d and r")?;
    for key in obj.keys() {
        if !["ks", "e", "d", "r", "image_size", "wid"].contains(&key.as_str()) {
            bail!("unknown key '{key}' (expected ks, e, d, r or image_size)");
        }
    }
    fn ints(obj: &serde_json::Map<String, Value>, key: &str, n: usize) -> Result<Vec<usize>> {
        let arr = obj.get(key).with_context(|| format!("missing key '{key}'"))?;
        let arr = arr.as_array().with_context(|| format!("'{key}' must be a list of {n} integers"))?;
        if arr.len() != n {
            bail!("'{key}' must have {n} entries, found {}", arr.len());
        }
        arr.iter()
            .enumerate()
            .map(|(i, x)| {
                x.as_u64()
                    .map(|x| x as usize)
                    .with_context(|| format!("'{key}'[{i}] = {x} is not a non-negative integer"))
            })
            .collect()
    }
    let ks = ints(obj, "ks", BLOCKS)?;
    let e = ints(obj, "e", BLOCKS)?;
    let d = ints(obj, "d", STAGES)?;
    let rkey = if obj.contains_key("r") { "r" } else { "image_size" };
    let r = match obj.get(rkey).with_context(|| "missing key 'r' (or 'image_size')")? {
        Value::Array(a) if a.len() == 1 => a[0].as_u64(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
    .with_context(|| format!("'{rkey}' must be an integer or a list of one integer"))? as usize;
    Ok(MobileNetArch {
        ks: ks.try_into().expect("checked"),
        e: e.try_into().expect("checked"),
        d: d.try_into().expect("checked"),
        r,
    })
}
