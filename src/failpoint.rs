//! Test-only fault injection: lets the end-to-end tests kill the driver at
//! an exact point (between sbatch and the saving of its job id, between a
//! result file appearing and its recording, between an evaluation's record
//! and the timing of its latency) instead of racing a `kill -9`
//! against it. `NAS_SEARCH_FAILPOINT=<name>` makes [`hit`]`("<name>")` kill
//! this process with SIGKILL, as `kill -9` would (no cleanup, no core file);
//! [`active`] lets the code simulate a fault of an outside program instead
//! (an sbatch that queued the job and still reported a failure). Without
//! the variable every point is a no-op. Nothing else reads it.

/// Dies here, with SIGKILL, when `NAS_SEARCH_FAILPOINT` names `point`.
pub fn hit(point: &str) {
    if std::env::var_os("NAS_SEARCH_FAILPOINT").is_some_and(|v| v == point) {
        eprintln!("nas-search: failpoint {point}: killing this process (NAS_SEARCH_FAILPOINT)");
        // SAFETY: kill(2) on our own pid with a signal number; no memory is touched.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        std::process::abort(); // not reached: SIGKILL cannot be caught
    }
}

/// Whether `NAS_SEARCH_FAILPOINT` names `point`: the caller then simulates the fault it stands for.
pub fn active(point: &str) -> bool {
    let on = std::env::var_os("NAS_SEARCH_FAILPOINT").is_some_and(|v| v == point);
    if on {
        eprintln!("nas-search: failpoint {point}: simulating its fault (NAS_SEARCH_FAILPOINT)");
    }
    on
}
