//! A private copy of what the pictures and the best-architecture panel read
//! of a run, made through the catalog's guarded reads
//! ([`super::catalog::read_inside`]: no link followed, no FIFO opened,
//! whatever the run directory holds by the time of the request), so that
//! the plotting and `best` code, which read files by path, read only this
//! copy. The copy lives in a folder of the temporary directory only its
//! owner can open, named like the run (its parent folder and its own name:
//! the pictures name runs by them), and goes when the snapshot is dropped.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::catalog::{Part, RunRef, read_inside};

/// The files of a run directory and of each round's folder in `predictor/`
/// that the pictures and `best` read (others are not copied, but for the
/// last round's folder, whole: its weights).
const TOP: &[&str] =
    &["checkpoint.json", "config.yaml", "evaluations.csv", "summary.csv", "topk.csv", "run.log", "generations.csv"];
const ROUND: &[&str] = &["train_log.csv", "best.json", "config.yaml"];

/// A run's copy; removed when dropped.
pub struct Snapshot {
    root: PathBuf,
    dir: PathBuf,
}

impl Snapshot {
    /// The copy of the run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// Copies `run`'s files that the pictures and `best` read; a file that is
/// absent is left out, one the guard refuses fails the copy (naming it).
pub fn snapshot(run: &RunRef) -> io::Result<Snapshot> {
    use std::os::unix::fs::DirBuilderExt;
    let leaf = |p: Option<&Path>| p.and_then(Path::file_name).map_or_else(|| "run".into(), |n| n.to_os_string());
    let unique = format!("nas-search-serve-{}-{}", std::process::id(), super::guard::new_token());
    let root = std::env::temp_dir().join(unique);
    fs::DirBuilder::new().mode(0o700).create(&root)?;
    let dir = root.join(leaf(run.dir.parent())).join(leaf(Some(&run.dir)));
    let snap = Snapshot { root, dir };
    fs::create_dir_all(&snap.dir)?;
    let copy = |name: &str| -> io::Result<bool> {
        match read_inside(&run.dir, name, Part::All) {
            Ok(bytes) => {
                let to = snap.dir.join(name);
                if let Some(parent) = to.parent() {
                    fs::create_dir_all(parent)?;
                }
                fs::write(to, bytes)?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    };
    for name in TOP {
        copy(name)?;
    }
    // each round's folder, in order, while there is one; the last one whole (its weights draw
    // the held-out predictions)
    let mut last = None;
    for r in 0.. {
        let mut any = false;
        for name in ROUND {
            any |= copy(&format!("predictor/round-{r}/{name}"))?;
        }
        if !any {
            break;
        }
        last = Some(r);
    }
    if let Some(r) = last {
        let round = format!("predictor/round-{r}");
        // names listed here, each file read through the guard (a link among them is refused)
        for entry in fs::read_dir(run.dir.join(&round))?.flatten() {
            let name = format!("{round}/{}", entry.file_name().to_string_lossy());
            if entry.file_type()?.is_dir() {
                for inner in fs::read_dir(entry.path())?.flatten() {
                    copy(&format!("{name}/{}", inner.file_name().to_string_lossy()))?;
                }
            } else {
                copy(&name)?;
            }
        }
    }
    Ok(snap)
}
