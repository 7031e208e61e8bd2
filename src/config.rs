//! Reading YAML config files: `--set key.path=value` overrides, unknown keys
//! and wrong types reported with the file and the dotted key that is wrong.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_yaml::Value;

/// Applies one `a.b.c=value` override (the value is parsed as YAML).
pub fn apply_override(root: &mut Value, assignment: &str) -> Result<()> {
    let (key, raw) =
        assignment.split_once('=').ok_or_else(|| anyhow!("override '{assignment}' must look like key.path=value"))?;
    let value: Value =
        serde_yaml::from_str(raw).with_context(|| format!("override '{assignment}': value is not valid YAML"))?;
    let mut node = root;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            bail!("override '{assignment}': empty key segment");
        }
        if !node.is_mapping() {
            if node.is_null() {
                *node = Value::Mapping(Default::default());
            } else {
                bail!("override '{assignment}': '{}' is not a mapping", parts[..i].join("."));
            }
        }
        let map = node.as_mapping_mut().expect("checked above");
        let k = Value::String(part.to_string());
        if i + 1 == parts.len() {
            map.insert(k, value);
            return Ok(());
        }
        node = map.entry(k).or_insert(Value::Null);
    }
    unreachable!("split always yields at least one part")
}

/// Marks the key path inside an error raised by [`nested`], so that the
/// path of the enclosing value and the one inside it join into one key.
const PATH_MARK: char = '\u{1f}';

/// Joins `outer` (a dotted path, `.` for the root) with a message that may
/// carry a nested path; returns (full path, message).
fn join_path(outer: &str, message: &str) -> (String, String) {
    let outer = if outer == "." { "" } else { outer };
    if let Some(rest) = message.strip_prefix(PATH_MARK)
        && let Some((inner, msg)) = rest.split_once(PATH_MARK)
    {
        let inner = if inner == "." { "" } else { inner };
        let path = match (outer.is_empty(), inner.is_empty()) {
            (true, _) => inner.to_string(),
            (false, true) => outer.to_string(),
            (false, false) => format!("{outer}.{inner}"),
        };
        return (path, msg.to_string());
    }
    (outer.to_string(), message.to_string())
}

/// Deserializes `value` as `T` from inside another `Deserialize`
/// (internally tagged enums, which serde buffers, losing the key path): an
/// error keeps the path inside `value`, and [`parse_yaml`] reports the
/// whole dotted key.
pub fn nested<T: DeserializeOwned, E: serde::de::Error>(value: Value) -> std::result::Result<T, E> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let (path, msg) = join_path(&e.path().to_string(), &e.into_inner().to_string());
        E::custom(format!("{PATH_MARK}{path}{PATH_MARK}{msg}"))
    })
}

/// Reads an internally tagged enum's mapping: the value of its `tag` key
/// (one of `variants`) and the rest, to deserialize with [`nested`].
pub fn tagged<'de, D: serde::Deserializer<'de>>(
    d: D,
    tag: &str,
    variants: &[&str],
) -> std::result::Result<(String, Value), D::Error> {
    use serde::de::Error;
    let value = Value::deserialize(d)?;
    let Value::Mapping(mut map) = value else {
        return Err(D::Error::custom(format!("expected a mapping with `{tag}: {}`", variants.join(" | "))));
    };
    let name = match map.remove(tag) {
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(D::Error::custom(format!("`{tag}` must be one of {}, got {other:?}", variants.join(", "))));
        }
        None => return Err(D::Error::custom(format!("missing field `{tag}` (one of {})", variants.join(", ")))),
    };
    if !variants.contains(&name.as_str()) {
        return Err(D::Error::custom(format!(
            "{PATH_MARK}{tag}{PATH_MARK}unknown variant `{name}`, expected one of {}",
            variants.join(", ")
        )));
    }
    Ok((name, Value::Mapping(map)))
}

/// The `--set` (of `overrides`) that set `path` or a key above or below it.
fn override_for<'a>(overrides: &'a [String], path: &str) -> Option<&'a str> {
    overrides.iter().rev().map(String::as_str).find(|o| {
        let key = o.split_once('=').map_or(*o, |(k, _)| k);
        key == path || path.starts_with(&format!("{key}.")) || key.starts_with(&format!("{path}."))
    })
}

/// The longest duration a config may give, in seconds (about 31 years):
/// a larger one is a typo, and would overflow a `Duration`.
pub const MAX_SECONDS: f64 = 1e9;

/// `dir` joined with `path`, with `.` and `name/..` taken out (without
/// touching the file system), so that paths resolved against a config's
/// folder read as the user would write them.
pub fn join_tidy(dir: &Path, path: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for c in dir.join(path).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Checks a duration key: a finite number of seconds, positive (or also 0
/// with `zero_ok`), at most [`MAX_SECONDS`]; the error names `key`.
pub fn check_seconds(key: &str, value: f64, zero_ok: bool) -> Result<()> {
    let low_ok = if zero_ok { value >= 0.0 } else { value > 0.0 };
    if !(value.is_finite() && low_ok && value <= MAX_SECONDS) {
        bail!(
            "{key} must be a number of seconds {} and at most {MAX_SECONDS:e}, got {value}",
            if zero_ok { ">= 0" } else { "> 0" }
        );
    }
    Ok(())
}

/// The first number in `value` that is not finite (`.inf`, `.nan`), as
/// (dotted key, value): no setting of this tool takes one.
fn non_finite(value: &Value, path: &str) -> Option<(String, f64)> {
    let join = |k: &str| if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
    match value {
        Value::Number(n) => n.as_f64().filter(|f| !f.is_finite()).map(|f| (path.to_string(), f)),
        Value::Mapping(m) => m.iter().find_map(|(k, v)| {
            let key = match k {
                Value::String(s) => s.clone(),
                other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
            };
            non_finite(v, &join(&key))
        }),
        Value::Sequence(items) => items.iter().enumerate().find_map(|(i, v)| non_finite(v, &join(&i.to_string()))),
        Value::Tagged(t) => non_finite(&t.value, path),
        _ => None,
    }
}

/// Parses YAML text (named `origin` in errors) into `T` after the overrides.
/// An error names the dotted key, and the `--set` it came from when one did.
pub fn parse_yaml<T: DeserializeOwned>(text: &str, origin: &str, overrides: &[String]) -> Result<T> {
    let mut value: Value = serde_yaml::from_str(text).with_context(|| format!("{origin}: not valid YAML"))?;
    if value.is_null() {
        value = Value::Mapping(Default::default());
    }
    for o in overrides {
        apply_override(&mut value, o)?;
    }
    if let Some((path, f)) = non_finite(&value, "") {
        let source = override_for(overrides, &path).map_or(origin.to_string(), |o| format!("--set {o}"));
        bail!("{source}: key `{path}`: {f} is not a finite number");
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let (path, msg) = join_path(&e.path().to_string(), &e.into_inner().to_string());
        let msg = plain_types(&msg);
        let source = match override_for(overrides, &path) {
            Some(o) => format!("--set {o}"),
            None => origin.to_string(),
        };
        if path.is_empty() { anyhow!("{source}: {msg}") } else { anyhow!("{source}: key `{path}`: {msg}") }
    })
}

/// serde's names of Rust types in an error, in a user's words.
fn plain_types(msg: &str) -> String {
    const WORDS: [(&str, &str); 8] = [
        ("expected usize", "expected a whole number (0 or more)"),
        ("expected u64", "expected a whole number (0 or more)"),
        ("expected u32", "expected a whole number (0 or more)"),
        ("expected u16", "expected a whole number (0 or more)"),
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("expected i64", "expected a whole number"),
        ("expected a sequence", "expected a list"),
    ];
    WORDS.iter().fold(msg.to_string(), |m, (from, to)| m.replace(from, to))
}

/// Reads and parses a YAML config file.
pub fn load_yaml<T: DeserializeOwned>(path: &Path, overrides: &[String]) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
    parse_yaml(&text, &path.display().to_string(), overrides)
}

/// Dotted keys whose values differ between two YAML documents. A key missing
/// on one side counts as null, so a key added to the tool later with a null
/// default (an option left off) does not make an old run's config differ.
pub fn changed_keys(old: &Value, new: &Value) -> Vec<String> {
    fn walk(old: &Value, new: &Value, prefix: &str, out: &mut Vec<String>) {
        match (old, new) {
            (Value::Mapping(a), Value::Mapping(b)) => {
                let mut keys: Vec<String> =
                    a.keys().chain(b.keys()).filter_map(|k| k.as_str().map(String::from)).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    let (x, y) = (a.get(k.as_str()).unwrap_or(&Value::Null), b.get(k.as_str()).unwrap_or(&Value::Null));
                    walk(x, y, &p, out);
                }
            }
            (a, b) if a != b => out.push(if prefix.is_empty() { "(root)".into() } else { prefix.to_string() }),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(old, new, "", &mut out);
    out
}

/// The keys in which `yaml` differs from the config frozen in the file at
/// `path` (see [`changed_keys`]); a frozen file that does not parse is
/// reported as corrupt.
pub fn changed_since_frozen(path: &Path, yaml: &str) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let old: Value = serde_yaml::from_str(&text).with_context(|| format!("{} is corrupt", path.display()))?;
    Ok(changed_keys(&old, &serde_yaml::from_str(yaml)?))
}

/// The frozen-config policy of run and training directories: the resolved
/// config `yaml` is written to `path` when there is none. A differing one
/// replaces it when every changed key is `allowed` (returned, to log), or
/// with `force`; else it is refused with the error `refuse` makes from the
/// changed keys that are not allowed.
pub fn freeze(
    path: &Path,
    yaml: &str,
    force: bool,
    allowed: impl Fn(&str) -> bool,
    refuse: impl FnOnce(&[String]) -> anyhow::Error,
) -> Result<Vec<String>> {
    let mut changed = Vec::new();
    if path.exists() {
        changed = changed_since_frozen(path, yaml)?;
        if changed.is_empty() {
            return Ok(changed);
        }
        let refused: Vec<String> = changed.iter().filter(|k| !allowed(k)).cloned().collect();
        if !refused.is_empty() && !force {
            return Err(refuse(&refused));
        }
    }
    crate::atomic_file::write_atomic(path, yaml.as_bytes())?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[test]
    fn joined_paths_lose_dots_but_keep_leading_parents() {
        let t = |d: &str, p: &str| join_tidy(Path::new(d), Path::new(p)).display().to_string();
        assert_eq!(t("/work/main/experiments", "../search_spaces/x.csv"), "/work/main/search_spaces/x.csv");
        assert_eq!(t("experiments", "./a/../b.csv"), "experiments/b.csv");
        assert_eq!(t("..", "../x"), "../../x");
        assert_eq!(t("/a", "/abs/x"), "/abs/x");
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        epochs: usize,
        #[serde(default)]
        lr: f64,
    }
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        train: Inner,
    }

    #[test]
    fn unknown_key_and_wrong_type_are_named() {
        let e = parse_yaml::<Outer>("train:\n  epochs: 3\n  epocs: 4\n", "x.yaml", &[]).unwrap_err().to_string();
        assert!(e.contains("x.yaml") && e.contains("key `train.epocs`"), "{e}");
        let e = parse_yaml::<Outer>("train:\n  epochs: many\n", "x.yaml", &[]).unwrap_err().to_string();
        assert!(e.contains("train.epochs"), "{e}");
    }

    #[test]
    fn errors_from_a_set_name_the_set() {
        let e = parse_yaml::<Outer>("train:\n  epochs: 3\n", "x.yaml", &["train.epocs=5".into()]).unwrap_err();
        assert_eq!(e.to_string().split(": key").next().unwrap(), "--set train.epocs=5", "{e}");
        let e = parse_yaml::<Outer>("train:\n  epochs: 3\n", "x.yaml", &["train.epochs=many".into()]).unwrap_err();
        assert!(e.to_string().starts_with("--set train.epochs=many: key `train.epochs`"), "{e}");
        let e = parse_yaml::<Outer>("train:\n  epochs: x\n", "x.yaml", &["train.lr=0.1".into()]).unwrap_err();
        assert!(e.to_string().starts_with("x.yaml: key `train.epochs`"), "{e}");
    }

    /// An internally tagged enum deserialized through [`tagged`] and [`nested`].
    #[derive(Debug, PartialEq)]
    enum Kind {
        A(Inner),
        B(Outer),
    }
    impl<'de> Deserialize<'de> for Kind {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
            let (kind, rest) = tagged(d, "kind", &["a", "b"])?;
            Ok(if kind == "a" { Kind::A(nested(rest)?) } else { Kind::B(nested(rest)?) })
        }
    }
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Top {
        thing: Kind,
    }

    #[test]
    fn errors_inside_a_tagged_enum_name_the_whole_key() {
        let t: Top = parse_yaml("thing: { kind: a, epochs: 2 }", "x.yaml", &[]).unwrap();
        assert_eq!(t.thing, Kind::A(Inner { epochs: 2, lr: 0.0 }));
        let e = parse_yaml::<Top>("thing: { kind: b, train: { epochs: two } }", "x.yaml", &[]).unwrap_err();
        assert!(e.to_string().starts_with("x.yaml: key `thing.train.epochs`: invalid type"), "{e}");
        let e = parse_yaml::<Top>("thing: { kind: b, train: { epochs: 2, lr: 1, x: 3 } }", "x.yaml", &[]).unwrap_err();
        assert!(e.to_string().starts_with("x.yaml: key `thing.train.x`: unknown field"), "{e}");
        let e = parse_yaml::<Top>("thing: { kind: c }", "x.yaml", &[]).unwrap_err();
        assert!(e.to_string().starts_with("x.yaml: key `thing.kind`: unknown variant `c`"), "{e}");
        let e = parse_yaml::<Top>("thing: { epochs: 2 }", "x.yaml", &["thing.epochs=3".into()]).unwrap_err();
        assert!(e.to_string().contains("missing field `kind`"), "{e}");
    }

    #[test]
    fn overrides_replace_and_create() {
        let o: Outer =
            parse_yaml("train:\n  epochs: 3\n", "x", &["train.epochs=7".into(), "train.lr=0.5".into()]).unwrap();
        assert_eq!(o, Outer { train: Inner { epochs: 7, lr: 0.5 } });
        assert!(parse_yaml::<Outer>("train:\n  epochs: 3\n", "x", &["train.epochs".into()]).is_err());
    }

    #[test]
    fn changed_keys_names_dotted_paths_and_treats_missing_as_null() {
        let yaml = |text: &str| -> Value { serde_yaml::from_str(text).unwrap() };
        let old = yaml("train: { epochs: 3, lr: 0.1 }\nseed: 1\n");
        let new = yaml("train: { epochs: 5, lr: 0.1, clip: null }\nseed: 1\n");
        assert_eq!(changed_keys(&old, &new), vec!["train.epochs".to_string()]);
        let added = yaml("train: { epochs: 3, lr: 0.1, clip: 1.0 }\nseed: 1\n");
        assert_eq!(changed_keys(&old, &added), vec!["train.clip".to_string()]);
        assert!(changed_keys(&old, &old).is_empty());
    }
}
