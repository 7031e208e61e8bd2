//! The `nas-search` binary: process settings, then the command line (`cli`).

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// A training step allocates and frees the same few-megabyte arrays
/// hundreds of times. glibc's malloc gives each such array fresh pages from
/// the kernel and returns them on free (the mmap threshold), so every step
/// paid a page fault per 4 KiB written (~19% of a DARTS step, measured with
/// perf). Freed memory is kept for reuse instead, up to arrays of 32 MiB
/// (glibc's largest threshold) and 1 GiB kept free.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: sets two malloc parameters before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

fn main() -> ExitCode {
    // A closed pipe (`nas-search best DIR | head -1`) ends the process quietly, as it
    // ends Unix tools, instead of a panic in println!.
    // SAFETY: sets the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    keep_freed_memory();
    match cli::handle(cli::Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
