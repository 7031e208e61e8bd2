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

/// The largest file of a run that is read (a bigger one refuses the run).
const MAX_FILE: u64 = 1 << 30;

/// A run directory and the id the page knows it by.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRef {
    pub id: String,
    pub dir: PathBuf,
    /// Why the run is listed but not read, if it is not: what it holds
    /// where its files should be is a link, not a plain file or folder
    /// (a FIFO, a device), or too large to read.
    pub refused: Option<String>,
}

/// Why a run directory is not read, if it is not: every entry where the
/// page, the pictures and `best` read (the run's own files, `slurm/`,
/// `predictor/` and each round's folder in it) must be a plain file of at
/// most [`MAX_FILE`] bytes or a folder, not a link (which could lead out of
/// the served folders) nor a FIFO or device (which could block a read or
/// never end).
fn unreadable(dir: &Path) -> Option<String> {
    let mut folders = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < folders.len() {
        let folder = folders[i].clone();
        i += 1;
        let Ok(mut entries) = fs::read_dir(&folder).map(|e| e.flatten().collect::<Vec<_>>()) else { continue };
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let Ok(t) = e.file_type() else { continue };
            let path = e.path();
            let sub = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
            let name = sub.display().to_string();
            if t.is_symlink() {
                return Some(format!("{name} is a link"));
            }
            if t.is_dir() {
                let depth = sub.components().count();
                if (sub.starts_with("slurm") && depth == 1) || (sub.starts_with("predictor") && depth <= 2) {
                    folders.push(path);
                }
            } else if !t.is_file() {
                return Some(format!("{name} is not a plain file"));
            } else if e.metadata().is_ok_and(|m| m.len() > MAX_FILE) {
                return Some(format!("{name} is larger than {} MiB", MAX_FILE >> 20));
            }
        }
    }
    None
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
        self.located().into_iter().map(|(id, dir)| checked(id, dir)).collect()
    }

    /// The run the page calls `id`, if there is one (only it is checked).
    pub fn find(&self, id: &str) -> Option<RunRef> {
        self.located().into_iter().find(|(found, _)| found == id).map(|(id, dir)| checked(id, dir))
    }

    /// Every run directory under the roots, with its id.
    fn located(&self) -> Vec<(String, PathBuf)> {
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
                out.push((id, dir));
            }
        }
        out
    }
}

/// The run `id` at `dir`, with why it is not read, if it is not.
fn checked(id: String, dir: PathBuf) -> RunRef {
    let refused = unreadable(&dir);
    RunRef { id, dir, refused }
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

/// Which bytes of a file to read.
#[derive(Clone, Copy)]
pub enum Part {
    All,
    /// The first n bytes.
    Head(u64),
    /// The last n bytes.
    Tail(u64),
}

/// The file `name` (relative, `/`-separated) of the run directory `dir`
/// (the `part` of it), opened relative to `dir` one component at a time
/// without following a link (`openat` with `O_NOFOLLOW`; the check and the
/// read are of one handle, so a link or FIFO swapped in after the
/// catalog's check is refused, not followed), without blocking (a FIFO),
/// and read only if `fstat` says it is a plain file of at most
/// [`MAX_FILE`] bytes. Errors name the file, never its content. `name`
/// comes from this program, never from a request.
pub fn read_inside(dir: &Path, name: &str, part: Part) -> io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let refused = |why: &str| io::Error::new(io::ErrorKind::PermissionDenied, format!("{name} {why}"));
    let mut at = open_nofollow(None, dir.as_os_str(), libc::O_DIRECTORY).map_err(|e| named(e, name, &refused))?;
    let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
    for (i, comp) in parts.iter().enumerate() {
        if *comp == ".." || *comp == "." {
            return Err(refused("is not a plain name inside the run directory"));
        }
        let flags = if i + 1 < parts.len() { libc::O_DIRECTORY } else { libc::O_NONBLOCK };
        at = open_nofollow(Some(&at), std::ffi::OsStr::new(comp), flags).map_err(|e| named(e, name, &refused))?;
    }
    let mut file = fs::File::from(at);
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{name} is not a plain file")));
    }
    if meta.len() > MAX_FILE {
        return Err(refused(&format!("is larger than {} MiB", MAX_FILE >> 20)));
    }
    let limit = match part {
        Part::All => MAX_FILE,
        Part::Head(n) => n,
        Part::Tail(n) => {
            file.seek(SeekFrom::Start(meta.len().saturating_sub(n)))?;
            n
        }
    };
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// `openat(at, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | flags)`; `at` None: the working directory.
fn open_nofollow(
    at: Option<&std::os::fd::OwnedFd>,
    name: &std::ffi::OsStr,
    flags: i32,
) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let at = at.map_or(libc::AT_FDCWD, |fd| fd.as_raw_fd());
    // SAFETY: openat reads the NUL-terminated name and returns a new descriptor or -1
    let fd = unsafe { libc::openat(at, c.as_ptr(), libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a descriptor openat just opened, owned by nothing else
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// An open error of `name` in words that name it: a link (ELOOP under
/// O_NOFOLLOW, or ENOTDIR where a folder was a link) is refused as such.
fn named(e: io::Error, name: &str, refused: &dyn Fn(&str) -> io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::ENOTDIR) => refused("is a link or not where a plain file or folder should be"),
        _ if e.kind() == io::ErrorKind::NotFound => e,
        _ => io::Error::new(e.kind(), format!("{name}: {}", e.kind())),
    }
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
    fn a_link_or_fifo_swapped_in_after_the_check_is_refused_by_the_read_itself() {
        let root = std::env::temp_dir().join(format!("nas-serve-swap-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let run = root.join("run");
        run_at(&run);
        fs::create_dir_all(run.join("slurm")).unwrap();
        fs::write(run.join("run.log"), "line\n").unwrap();
        fs::write(run.join("slurm/submissions.log"), "sub\n").unwrap();
        fs::write(root.join("secret.txt"), "outside the run").unwrap();
        assert_eq!(read_inside(&run, "run.log", Part::All).unwrap(), b"line\n");
        assert_eq!(read_inside(&run, "slurm/submissions.log", Part::Tail(3)).unwrap(), b"ub\n");
        // the catalog saw plain files; now they are swapped: a link to a file outside, a linked
        // folder, a FIFO (which would block a plain open for ever)
        fs::remove_file(run.join("run.log")).unwrap();
        std::os::unix::fs::symlink(root.join("secret.txt"), run.join("run.log")).unwrap();
        fs::rename(run.join("slurm"), root.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(root.join("elsewhere"), run.join("slurm")).unwrap();
        fs::remove_file(run.join("config.yaml")).unwrap();
        assert!(std::process::Command::new("mkfifo").arg(run.join("config.yaml")).status().unwrap().success());
        for (name, why) in
            [("run.log", "is a link"), ("slurm/submissions.log", "is a link"), ("config.yaml", "not a plain file")]
        {
            let e = read_inside(&run, name, Part::All).unwrap_err().to_string();
            assert!(e.contains(name) && e.contains(why), "{name}: {e}");
            assert!(!e.contains("outside the run") && !e.contains('\n'), "no content in the error: {e}");
        }
        assert!(read_inside(&run, "../secret.txt", Part::All).is_err());
        fs::remove_dir_all(&root).unwrap();
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
        let one = cat.find("runs/one").unwrap();
        assert_eq!(one.refused.as_deref(), Some("run.log is a link"));
        let err = read_inside(&one.dir, "run.log", Part::All).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
        assert!(read_inside(&one.dir, "config.yaml", Part::All).is_ok());
        assert_eq!(cat.find("runs/group/two").unwrap().refused, None);
        // a FIFO where a file is read: refused, never opened
        let three = cat.find("runs~2/three").unwrap();
        assert!(std::process::Command::new("mkfifo").arg(three.dir.join("slurm.fifo")).status().unwrap().success());
        assert_eq!(cat.find("runs~2/three").unwrap().refused.as_deref(), Some("slurm.fifo is not a plain file"));
        assert_eq!(read_inside(&three.dir, "slurm.fifo", Part::All).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        fs::write(three.dir.join("run.log"), "a\nb\nlast\n").unwrap();
        assert_eq!(read_inside(&three.dir, "run.log", Part::Tail(5)).unwrap(), b"last\n");
        assert!(Catalog::new(&[tmp.join("nowhere")]).unwrap_err().to_string().contains("nowhere"));
        fs::remove_dir_all(&tmp).unwrap();
    }
}
