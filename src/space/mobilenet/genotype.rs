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

/// A Python dict literal of numbers and lists (as Once-for-All prints arch
/// dicts: single quotes, `True`/`False`/`None`) as JSON text.
fn python_to_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(match word.as_str() {
            "True" => "true",
            "False" => "false",
            "None" => "null",
            w => w,
        });
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        flush(&mut word, &mut out);
        // tuples are lists in JSON: `'r': (224,)`
        out.push(match c {
            '\'' => '"',
            '(' => '[',
            ')' => ']',
            c => c,
        });
    }
    flush(&mut word, &mut out);
    // a trailing comma (`(224,)`, `[3, 5,]`) is Python, not JSON
    let mut json = String::with_capacity(out.len());
    for (i, c) in out.char_indices() {
        if c == ',' && out[i + 1..].trim_start().starts_with([']', '}']) {
            continue;
        }
        json.push(c);
    }
    json
}

/// Parses OFA's arch dict (JSON, or the Python dict OFA prints) without
/// checking it against this space.
pub fn parse(text: &str) -> Result<MobileNetArch> {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(json_error) => serde_json::from_str(&python_to_json(text)).map_err(|python_error| {
            // name the error of the form the text is written in
            let e = if text.contains('\'') || text.contains('(') { python_error } else { json_error };
            anyhow::anyhow!(
                "architecture is neither JSON nor a Python dict of numbers and lists ({e}); write it as \
                 {{\"ks\": [...20 kernel sizes], \"e\": [...20 expand ratios], \"d\": [...5 depths], \"r\": [224]}}"
            )
        })?,
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_dicts_as_ofa_prints_them_parse() {
        let json = r#"{"ks": [3,5,7,3,5,7,3,5,7,3,5,7,3,5,7,3,5,7,3,5], "e": [3,4,6,3,4,6,3,4,6,3,4,6,3,4,6,3,4,6,3,4], "d": [2,3,4,2,3], "r": [224]}"#;
        let a = parse(json).unwrap();
        let python = json.replace('"', "'").replace("[224]", "224");
        assert_eq!(parse(&python).unwrap(), a);
        let with_words = "{'ks': [3]*20, 'wid': None}";
        let e = parse(with_words).unwrap_err().to_string();
        assert!(e.contains("neither JSON nor a Python dict") && e.contains("\"ks\""), "{e}");
        assert_eq!(python_to_json("{'a': True, 'b': None, 'c': False}"), r#"{"a": true, "b": null, "c": false}"#);
        // a tuple, as Python prints a one-element one
        assert_eq!(parse(&python.replace("'r': 224", "'r': (224,)")).unwrap(), a);
        // a Python dict that is wrong names the Python form's problem, not JSON's "key must be a string"
        let e = parse("{'ks': [3,], 'e': }").unwrap_err().to_string();
        assert!(!e.contains("key must be a string"), "{e}");
    }
}
