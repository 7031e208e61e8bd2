//! How this process was started, for the commands it tells the user to run
//! next (`continue with: ... resume DIR`): the way the user started it, so
//! the hint works as printed. Through `cargo run` that is `cargo run
//! --release --` (or without `--release` for a debug build); a binary
//! started by its path is named by that path; one found on PATH by its name.

use std::path::Path;

/// The command prefix that runs this binary the way it was started.
pub fn prefix() -> String {
    let arg0 = std::env::args().next().unwrap_or_else(|| "nas-search".into());
    let cargo = std::env::var_os("CARGO").is_some() && std::env::var("CARGO_PKG_NAME").is_ok_and(|n| n == "nas-search");
    describe(&arg0, cargo)
}

/// The prefix for a binary started as `arg0`; `through_cargo` when `cargo run` started it.
fn describe(arg0: &str, through_cargo: bool) -> String {
    let path = Path::new(arg0);
    let in_target = |profile: &str| path.components().any(|c| c.as_os_str() == profile);
    if through_cargo {
        return if in_target("debug") { "cargo run --".into() } else { "cargo run --release --".into() };
    }
    if !arg0.contains('/') {
        return arg0.to_string();
    }
    shell_word(arg0)
}

/// A path or word as the shell reads it back (quoted where needed).
pub fn shell_word(word: &str) -> String {
    shlex::try_quote(word).map_or_else(|_| word.to_string(), |q| q.into_owned())
}

/// `prefix()` followed by `args` (e.g. `resume runs/x --retry-failed`).
pub fn command(args: &str) -> String {
    format!("{} {args}", prefix())
}

/// The command that evaluates a run's failed evaluations again.
pub fn retry_command(run_dir: &Path) -> String {
    command(&format!("resume {} --retry-failed", shell_word(&run_dir.display().to_string())))
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn hints_name_the_binary_as_it_was_started() {
        assert_eq!(describe("nas-search", false), "nas-search");
        assert_eq!(describe("./target/release/nas-search", false), "./target/release/nas-search");
        assert_eq!(describe("/opt/my tools/nas-search", false), "'/opt/my tools/nas-search'");
        assert_eq!(describe("/work/x/target/release/nas-search", true), "cargo run --release --");
        assert_eq!(describe("/work/x/target/debug/nas-search", true), "cargo run --");
    }
}
