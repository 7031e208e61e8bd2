//! Ctrl-C (SIGINT, and SIGTERM): a run stops at once, as a kill would leave
//! it (every finished evaluation is already on disk), after killing the
//! evaluation commands it started and saying how to continue.

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::{Mutex, Once};

/// Process groups of the evaluation commands running now, and whether the
/// process was interrupted (then no command may start any more).
static CHILDREN: Mutex<(BTreeSet<u32>, bool)> = Mutex::new((BTreeSet::new(), false));
/// What to print when interrupted.
static MESSAGE: Mutex<String> = Mutex::new(String::new());
/// Files to remove when interrupted (a run directory's lock: the process
/// exits without running destructors).
static RELEASE: Mutex<Vec<std::path::PathBuf>> = Mutex::new(Vec::new());
/// The run mark of the evaluation processes to kill besides the groups
/// (those that left their group with `setsid`): `crate::eval::process`.
static MARK: Mutex<Option<String>> = Mutex::new(None);

/// On Ctrl-C, every process carrying run mark `mark` is killed too.
pub fn kill_marked_on_interrupt(mark: String) {
    *MARK.lock().unwrap_or_else(|e| e.into_inner()) = Some(mark);
}

/// On Ctrl-C, `path` is removed before the process exits (as its owner's
/// destructor would have).
pub fn release_on_interrupt(path: std::path::PathBuf) {
    RELEASE.lock().unwrap_or_else(|e| e.into_inner()).push(path);
}
static INSTALL: Once = Once::new();

/// From now on, Ctrl-C prints `message` (e.g. how to continue) and exits
/// with 130 after killing the commands [`track`]ed.
pub fn on_interrupt(message: String) {
    *MESSAGE.lock().unwrap_or_else(|e| e.into_inner()) = message;
    INSTALL.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            let children: Vec<u32> = {
                let mut guard = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
                guard.1 = true;
                guard.0.iter().copied().collect()
            };
            for group in children {
                kill_group(group);
            }
            if let Some(mark) = MARK.lock().unwrap_or_else(|e| e.into_inner()).as_deref() {
                crate::eval::process::kill_marked(mark);
            }
            eprintln!("\n{}", MESSAGE.lock().unwrap_or_else(|e| e.into_inner()));
            for path in RELEASE.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                let _ = std::fs::remove_file(path);
            }
            std::process::exit(130);
        });
    });
}

/// Kills a whole process group (a direct `kill(2)`: no `kill` program needed).
pub fn kill_group(group: u32) {
    if let Ok(group) = i32::try_from(group) {
        // SAFETY: kill(2) with a negative pid signals that process group; it
        // touches no memory of ours.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
    }
}

/// Starts `command` in its own process group and tracks it: it is killed on
/// Ctrl-C. Starting and tracking happen under the same lock the handler
/// takes, so no command can start unseen while the handler runs (it would
/// outlive the driver); after an interrupt nothing starts any more.
pub fn spawn(command: &mut Command) -> anyhow::Result<Child> {
    let mut guard = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
    if guard.1 {
        anyhow::bail!("interrupted");
    }
    let child = command.process_group(0).spawn()?;
    guard.0.insert(child.id());
    Ok(child)
}

/// The command of process group `group` has ended.
pub fn untrack(group: u32) {
    CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).0.remove(&group);
}
