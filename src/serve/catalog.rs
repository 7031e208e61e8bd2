//! Which run directories `serve` shows: found under the folders it was
//! given, each known by an id the page uses. A request names a run only by
//! that id, looked up here, so no path from a request ever reaches the
//! file system; symbolic links are not followed while searching, and a file
//! read inside a run must resolve inside it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// How deep below a given folder run directories are looked for.
const MAX_DEPTH: usize = 8;

/// The folders `serve` was given, resolved.
#[derive(Debug)]
pub struct Catalog {
    roots: Vec<PathBuf>,
}

/// A run directory and the id the page knows it by.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRef {
    pub id: String,
    pub dir: PathBuf,
}

/// Whether `dir` is a run directory (what `nas-search run` makes).
pub fn is_run_dir(dir: &Path) -> bool {
    dir.join("checkpoint.json").is_file() && dir.join("config.yaml").is_file()
}

impl Catalog {
    /// Each of `dirs` must exist: a run directory, or a folder holding some.
    pub fn new(dirs: &[PathBuf]) -> Result<Self> {
        if dirs.is_empty() {
            bail!("give at least one run directory or folder of runs");
        }
        let roots = dirs
            .iter()
            .map(|d| {
                if !d.is_dir() {
                    bail!("{}: no such folder", d.display());
                }
                d.canonicalize().with_context(|| format!("{}: cannot resolve it", d.display()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { roots })
    }

    /// Every run directory under the roots now (runs started since appear),
    /// ids in the order found: `NAME/REST` where NAME is the root's folder
    /// name, suffixed `~2`, `~3` ... where two roots share one.
    pub fn runs(&self) -> Vec<RunRef> {
        let mut out = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for root in &self.roots {
            let base = root.file_name().map_or_else(|| "root".to_string(), |n| n.to_string_lossy().to_string());
            let seen = names.iter().filter(|n| **n == base).count();
            names.push(base.clone());
            let name = if seen == 0 { base } else { format!("{base}~{}", seen + 1) };
            let mut found = Vec::new();
            walk(root, 0, &mut found);
            for dir in found {
                let rest = dir.strip_prefix(root).expect("found under its root");
                let id = if rest.as_os_str().is_empty() {
                    name.clone()
                } else {
                    format!("{name}/{}", rest.to_string_lossy())
                };
                out.push(RunRef { id, dir });
            }
        }
        out
    }

    /// The run the page calls `id`, if there is one.
    pub fn find(&self, id: &str) -> Option<RunRef> {
        self.runs().into_iter().find(|r| r.id == id)
    }
}

fn walk(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
    if is_run_dir(dir) {
        found.push(dir.to_path_buf());
        return;
    }
    if depth >= MAX_DEPTH {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else { return };
    let mut subdirs: Vec<PathBuf> = entries
        .flatten()
        // file_type does not follow links: a linked folder is not entered
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    subdirs.sort();
    for sub in subdirs {
        walk(&sub, depth + 1, found);
    }
}

/// The file `name` of the run directory `dir`, read only if it resolves
/// inside `dir` (a link out of the run is refused). `name` comes from this
/// program, never from a request.
pub fn read_inside(dir: &Path, name: &str) -> io::Result<Vec<u8>> {
    let path = dir.join(name);
    let real = path.canonicalize()?;
    let root = dir.canonicalize()?;
    if !real.starts_with(&root) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{name} points outside the run directory"),
        ));
    }
    fs::read(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_at(dir: &Path) {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join("checkpoint.json"), "{}").unwrap();
        fs::write(dir.join("config.yaml"), "").unwrap();
    }

    #[test]
    fn runs_are_found_below_the_roots_but_not_through_links_or_inside_runs() {
        let tmp = std::env::temp_dir().join(format!("nas-serve-catalog-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        let (a, b, outside) = (tmp.join("a/runs"), tmp.join("b/runs"), tmp.join("outside"));
        run_at(&a.join("one"));
        run_at(&a.join("group/two"));
        // a run's own predictor folders are not runs of their own
        run_at(&a.join("one/predictor/round-0"));
        run_at(&b.join("three"));
        run_at(&outside.join("secret"));
        std::os::unix::fs::symlink(&outside, a.join("link")).unwrap();
        fs::write(outside.join("secret/notes.txt"), "not yours").unwrap();
        std::os::unix::fs::symlink(outside.join("secret/notes.txt"), a.join("one/run.log")).unwrap();

        let cat = Catalog::new(&[a.clone(), b.clone()]).unwrap();
        let ids: Vec<String> = cat.runs().into_iter().map(|r| r.id).collect();
        assert_eq!(ids, ["runs/group/two", "runs/one", "runs~2/three"]);
        assert_eq!(cat.find("runs/one").unwrap().dir, a.join("one").canonicalize().unwrap());
        assert!(cat.find("runs/link/secret").is_none());
        assert!(cat.find("runs/../outside/secret").is_none());
        let err = read_inside(&cat.find("runs/one").unwrap().dir, "run.log").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
        assert!(read_inside(&cat.find("runs/one").unwrap().dir, "config.yaml").is_ok());
        assert!(Catalog::new(&[tmp.join("nowhere")]).unwrap_err().to_string().contains("nowhere"));
        fs::remove_dir_all(&tmp).unwrap();
    }
}
