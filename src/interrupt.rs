//! Ctrl-C (SIGINT, and SIGTERM): a run stops at once, as a kill would leave
//! it (every finished evaluation is already on disk), after killing the
//! evaluation commands it started and saying how to continue.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::{Mutex, Once};

/// Process groups of the evaluation commands running now, and whether the
/// process was interrupted (then no command may start any more).
static CHILDREN: Mutex<(BTreeSet<u32>, bool)> = Mutex::new((BTreeSet::new(), false));
/// What to print when interrupted.
static MESSAGE: Mutex<String> = Mutex::new(String::new());
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
            eprintln!("\n{}", MESSAGE.lock().unwrap_or_else(|e| e.into_inner()));
            std::process::exit(130);
        });
    });
}

/// Kills a whole process group.
pub fn kill_group(group: u32) {
    let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{group}")]).status();
}

/// A command started in its own process group `group`: killed on Ctrl-C.
/// After an interrupt it is killed at once (a worker may start one while
/// the handler runs) and this returns false.
pub fn track(group: u32) -> bool {
    let mut guard = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
    if guard.1 {
        drop(guard);
        kill_group(group);
        return false;
    }
    guard.0.insert(group);
    true
}

/// The command of process group `group` has ended.
pub fn untrack(group: u32) {
    CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).0.remove(&group);
}
