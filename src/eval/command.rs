//! The `command` evaluator: runs a user command per architecture, e.g. a
//! PyTorch training script or a cluster submit wrapper.
//!
//! The command runs under `sh -c`, in the config file's folder (`cwd`; so
//! relative paths in it resolve as every other path in a config does), after
//! substituting `{genotype}` (the genotype text, shell-quoted), `{json}` (a
//! file holding the genotype, its key, the budget name and the budget's
//! settings), `{workdir}` (a scratch folder for this evaluation; both
//! absolute paths), `{budget}`, `{key}` (shell-quoted) and `{seed}` (a
//! training seed from the key and budget: each training of
//! `search.final_repeats` has its own; the JSON file holds it too). The
//! last non-empty line of its stdout must be a JSON object with `accuracy`
//! (0..100) and optionally `seconds`; other fields are kept. A non-zero exit,
//! a run past `timeout_s` (its whole process group is killed), or output
//! without a valid accuracy is retried `retries` times with doubling backoff,
//! then recorded as a failed evaluation with the tail of its stderr.
//! Each attempt runs under [`super::process`]'s supervisor, so it dies with
//! the driver however the driver dies.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Budgets, EvalContext, EvalEvent, EvalJob, EvalOutcome, EvalSeconds, Evaluator, Events, Measures};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandConfig {
    /// The command line (see the module doc for placeholders).
    pub command: String,
    /// The folder it runs in (default: the config file's; a run directory's
    /// config records it as an absolute path).
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    /// Seconds one attempt may run.
    #[serde(default = "d_timeout")]
    pub timeout_s: f64,
    /// Further attempts after a failed one.
    #[serde(default = "d_retries")]
    pub retries: usize,
    /// Seconds before the first retry (doubled for each further one).
    #[serde(default = "d_backoff")]
    pub backoff_s: f64,
    /// Evaluations run at the same time.
    #[serde(default = "d_workers")]
    pub workers: usize,
    /// Settings written into the JSON file for each budget (free-form).
    #[serde(default, deserialize_with = "super::free_budgets")]
    pub budgets: Budgets<Value>,
}

fn d_timeout() -> f64 {
    24.0 * 3600.0
}
fn d_retries() -> usize {
    1
}
fn d_backoff() -> f64 {
    1.0
}
fn d_workers() -> usize {
    1
}

impl CommandConfig {
    /// Refuses settings the evaluator cannot work with, naming the key (the
    /// config's load and the evaluator's construction both call it).
    pub(crate) fn validate(&self) -> Result<()> {
        if self.command.trim().is_empty() {
            bail!("evaluator.command is empty");
        }
        if self.workers == 0 {
            bail!("evaluator.workers must be positive");
        }
        crate::config::check_seconds("evaluator.timeout_s", self.timeout_s, false)?;
        crate::config::check_seconds("evaluator.backoff_s", self.backoff_s, true)?;
        // the backoff doubles per retry: the last wait must be a duration too
        let last = self.backoff_s * 2f64.powi(self.retries.min(1000) as i32);
        crate::config::check_seconds("evaluator.backoff_s x 2^retries (the last retry's wait)", last, true)
    }
}

pub struct CommandEvaluator {
    cfg: CommandConfig,
    /// Where the command runs: the config file's folder.
    cwd: PathBuf,
    /// Per-evaluation scratch folders go here (absolute).
    scratch: PathBuf,
    /// The run's mark in every evaluation process's environment.
    mark: String,
}

impl CommandEvaluator {
    pub fn new(cfg: CommandConfig, ctx: &EvalContext) -> Result<Self> {
        cfg.validate()?;
        let absolute = |p: &Path| std::path::absolute(p).with_context(|| format!("resolving {}", p.display()));
        let cwd = absolute(cfg.cwd.as_deref().unwrap_or(Path::new(".")))?;
        Ok(Self {
            cfg,
            cwd,
            scratch: absolute(&ctx.run_dir.join("eval"))?,
            mark: super::process::run_mark(ctx.run_dir)?,
        })
    }

    /// Runs job `i` with its retries; `retrying` hears of each failed
    /// attempt that will be tried again.
    fn run_one(&self, i: usize, job: &EvalJob, retrying: &dyn Fn(EvalEvent)) -> EvalOutcome {
        let started = Instant::now();
        let mut last = EvalOutcome::failed("not run", 0.0);
        for attempt in 0..=self.cfg.retries {
            if attempt > 0 {
                retrying(EvalEvent::Retrying { job: i, attempt, error: last.error.clone() });
                let wait = self.cfg.backoff_s * 2f64.powi(attempt as i32 - 1);
                std::thread::sleep(Duration::from_secs_f64(wait.max(0.0)));
            }
            last = match self.attempt(job) {
                Ok(o) if o.ok() => return o,
                Ok(o) => o,
                Err(e) => EvalOutcome::failed(format!("{e:#}"), 0.0),
            };
        }
        if self.cfg.retries > 0 {
            last.error = format!("{} attempts, the last: {}", self.cfg.retries + 1, last.error);
        }
        last.seconds = started.elapsed().as_secs_f64();
        last
    }

    fn attempt(&self, job: &EvalJob) -> Result<EvalOutcome> {
        let dir = self.scratch.join(workdir_name(job));
        let cmd = prepare(&self.cfg.command, self.cfg.budgets.get(job.budget), job, &dir)?;
        let started = Instant::now();
        let mut child = crate::interrupt::spawn(
            super::process::command(&cmd, &self.mark, &dir)
                .current_dir(&self.cwd)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        )
        .context("starting sh")?;
        // who runs in the work folder, for a driver after this one (a failed write loses only that)
        let record = super::process::Record::of(child.id());
        if let Some(r) = &record {
            let _ = r.write(&dir);
        }
        let out_reader = Drain::start(child.stdout.take().expect("piped"));
        let err_reader = Drain::start(child.stderr.take().expect("piped"));
        let timeout = Duration::from_secs_f64(self.cfg.timeout_s);
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            if started.elapsed() > timeout {
                crate::interrupt::kill_group(child.id());
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        crate::interrupt::untrack(child.id());
        if record.is_some() {
            let _ = std::fs::remove_file(dir.join(super::process::RECORD));
        }
        // a process the command left running in the background (a detached server) may keep the
        // pipes open: what was written before the command ended is read, then no more than 2 s
        let until = Instant::now() + PIPE_GRACE;
        let stdout = String::from_utf8_lossy(&out_reader.finish(until)).to_string();
        let stderr = String::from_utf8_lossy(&err_reader.finish(until)).to_string();
        let wall = started.elapsed().as_secs_f64();
        let tail = stderr_tail(&stderr);
        let mut outcome = match status {
            None => EvalOutcome::failed(
                format!("timed out after {:.0} s; stderr: {tail}; command: {cmd}", self.cfg.timeout_s),
                wall,
            ),
            Some(status) if !status.success() => {
                EvalOutcome::failed(format!("exited with {status}; stderr: {tail}; command: {cmd}"), wall)
            }
            Some(_) => parse_output(&stdout, wall)
                .unwrap_or_else(|e| EvalOutcome::failed(format!("{e}; stderr: {tail}; command: {cmd}"), wall)),
        };
        // the command line that ran, in evaluations.csv's `extra`
        outcome.extra.insert(COMMAND.into(), cmd);
        Ok(outcome)
    }
}

/// How long output is still read once the command has ended.
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// A pipe read to its end on a thread of its own, into a buffer shared
/// with the caller.
struct Drain {
    buf: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    done: std::sync::mpsc::Receiver<()>,
}

impl Drain {
    fn start(mut pipe: impl Read + Send + 'static) -> Self {
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, done) = std::sync::mpsc::channel();
        let shared = buf.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                shared.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(&chunk[..n]);
            }
            let _ = tx.send(());
        });
        Self { buf, done }
    }

    /// What was read: all of it, or, when the pipe stays open, what came
    /// by `until` (its reader thread is left to end with the pipe). What the
    /// command wrote before it ended is in the pipe already: `until` is
    /// slack for a reader thread a busy machine schedules late.
    fn finish(self, until: Instant) -> Vec<u8> {
        let _ = self.done.recv_timeout(until.saturating_duration_since(Instant::now()));
        std::mem::take(&mut *self.buf.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The scratch folder name of `job`: its budget and a hash of its key
/// (the same for every attempt, so a command can resume there).
pub(crate) fn workdir_name(job: &EvalJob) -> String {
    let slug = job.key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    format!("{}-{slug}", job.budget.name())
}

/// Creates `workdir` with the job's `arch.json` (genotype, key, budget and
/// the budget's `settings`) and returns `command` with its placeholders
/// substituted (shell-quoted).
pub(crate) fn prepare(command: &str, settings: &Value, job: &EvalJob, workdir: &Path) -> Result<String> {
    std::fs::create_dir_all(workdir).with_context(|| format!("creating {}", workdir.display()))?;
    let json_path = workdir.join("arch.json");
    let payload = serde_json::json!({
        "genotype": job.genotype, "key": job.key, "budget": job.budget.name(), "settings": settings,
        "seed": job.seed(),
    });
    std::fs::write(&json_path, serde_json::to_vec_pretty(&payload)?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    let json = json_path.to_string_lossy();
    let dir = workdir.to_string_lossy();
    let seed = job.seed().to_string();
    let values = [
        ("{seed}", seed.as_str()),
        ("{genotype}", job.genotype.as_str()),
        ("{json}", &*json),
        ("{workdir}", &*dir),
        ("{budget}", job.budget.name()),
        ("{key}", job.key.as_str()),
    ];
    Ok(substitute(command, &values))
}

/// How the shell reads the text at some point of a command line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quoting {
    Bare,
    Single,
    Double,
}

/// `command` with each placeholder of `values` replaced by its value quoted
/// for where it stands: bare (`{genotype}`) as one shell word, inside
/// double quotes (`"{genotype}"`) or single quotes (`'{genotype}'`) with
/// just what those quotes need, so the program gets the value itself
/// however the user quoted the placeholder.
pub(crate) fn substitute(command: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(command.len());
    let mut quoting = Quoting::Bare;
    let mut rest = command;
    while let Some(c) = rest.chars().next() {
        if let Some((name, value)) = values.iter().find(|(name, _)| rest.starts_with(name)) {
            out.push_str(&match quoting {
                Quoting::Bare => {
                    shlex::try_quote(value).map(|q| q.to_string()).unwrap_or_else(|_| value.replace('\0', ""))
                }
                Quoting::Single => value.replace('\'', r"'\''"),
                Quoting::Double => value.chars().fold(String::new(), |mut s, ch| {
                    if matches!(ch, '"' | '\\' | '$' | '`') {
                        s.push('\\');
                    }
                    s.push(ch);
                    s
                }),
            });
            rest = &rest[name.len()..];
            continue;
        }
        let len = c.len_utf8();
        match (quoting, c) {
            (Quoting::Bare, '\'') => quoting = Quoting::Single,
            (Quoting::Bare, '"') => quoting = Quoting::Double,
            (Quoting::Single, '\'') | (Quoting::Double, '"') => quoting = Quoting::Bare,
            // a backslash outside single quotes keeps the next character as it is
            (Quoting::Bare | Quoting::Double, '\\') => {
                let next = rest[1..].chars().next().map_or(0, char::len_utf8);
                out.push_str(&rest[..1 + next]);
                rest = &rest[1 + next..];
                continue;
            }
            _ => {}
        }
        out.push_str(&rest[..len]);
        rest = &rest[len..];
    }
    out
}

/// The last 400 characters of stderr on one line.
pub(crate) fn stderr_tail(s: &str) -> String {
    let flat: String = s.trim().replace('\n', " | ");
    let n = flat.chars().count();
    if n > 400 { format!("...{}", flat.chars().skip(n - 400).collect::<String>()) } else { flat }
}

/// The raw text of the `accuracy` value in a line that looks like a JSON
/// object but is not JSON (`{"accuracy": NaN}`, `1e999`), to name it.
fn raw_accuracy(line: &str) -> Option<&str> {
    if !line.starts_with('{') {
        return None;
    }
    let after = &line[line.find("\"accuracy\"")? + "\"accuracy\"".len()..];
    let value = after.trim_start().strip_prefix(':')?;
    let end = value.find([',', '}']).unwrap_or(value.len());
    Some(value[..end].trim()).filter(|v| !v.is_empty())
}

/// The `extra` field that records the command line an evaluation ran.
pub const COMMAND: &str = "command";

/// The result line's optional field for an accuracy reported apart from the
/// signal (%; e.g. the test accuracy beside a validation signal).
pub const REPORT_ACCURACY: &str = "report_accuracy";
/// Fields of the result line that carry the evaluated network's cost.
pub const NETWORK_PARAMS: &str = "network_params";
pub const NETWORK_MACS: &str = "network_macs";

/// Reads the result from the last non-empty line of stdout.
pub fn parse_output(stdout: &str, wall: f64) -> Result<EvalOutcome> {
    let line = stdout.lines().rev().find(|l| !l.trim().is_empty()).context("no output on stdout")?.trim();
    let v: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => match raw_accuracy(line) {
            Some(raw) => bail!("accuracy {raw} is not a finite number in 0..100: '{line}'"),
            None => return Err(anyhow::Error::new(e).context(format!("last stdout line is not JSON: '{line}'"))),
        },
    };
    let obj = v.as_object().context("last stdout line must be a JSON object")?;
    let acc = obj.get("accuracy").and_then(Value::as_f64).context("no numeric 'accuracy' in the output")?;
    if !acc.is_finite() || !(0.0..=100.0).contains(&acc) {
        bail!("accuracy {acc} is not in 0..100: '{line}'");
    }
    let seconds = match obj.get("seconds") {
        Some(s) => {
            s.as_f64().filter(|s| s.is_finite() && *s >= 0.0).context("'seconds' must be a non-negative number")?
        }
        None => wall,
    };
    let report = match obj.get(REPORT_ACCURACY) {
        None | Some(Value::Null) => None,
        Some(r) => Some(
            r.as_f64()
                .filter(|r| r.is_finite() && (0.0..=100.0).contains(r))
                .with_context(|| format!("'{REPORT_ACCURACY}' must be a number in 0..100: '{line}'"))?,
        ),
    };
    let extra: BTreeMap<String, String> = obj
        .iter()
        .filter(|(k, _)| *k != "accuracy" && *k != "seconds" && *k != REPORT_ACCURACY)
        .map(|(k, v)| (k.clone(), v.as_str().map(String::from).unwrap_or_else(|| v.to_string())))
        .collect();
    let mut outcome = EvalOutcome::measured(acc, seconds);
    outcome.extra = extra;
    outcome.report = report;
    Ok(outcome)
}

impl Evaluator for CommandEvaluator {
    fn evaluate(&self, jobs: &[EvalJob], events: Events) -> Result<()> {
        super::pool::run_jobs(jobs, self.cfg.workers, events, |i, job, send| self.run_one(i, job, send))
    }

    fn parallelism(&self) -> usize {
        self.cfg.workers
    }

    fn measures(&self) -> Measures {
        Measures {
            signal: "the accuracy (%) your command reports".into(),
            report: Some(format!(
                "`{REPORT_ACCURACY}` (%) your command reports apart, where it gives one (else its accuracy)"
            )),
            signal_is_test: false,
            seconds: EvalSeconds::Wall,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_placeholder_gives_the_program_its_value_however_it_is_quoted() {
        let nasty = r#"Genotype(normal=[('sep_conv_3x3', 0)], x="a b" $HOME `id` \n it's)"#;
        for template in ["printf '%s' {genotype}", r#"printf '%s' "{genotype}""#, "printf '%s' '{genotype}'"] {
            let cmd = substitute(template, &[("{genotype}", nasty)]);
            let out = std::process::Command::new("sh").arg("-c").arg(&cmd).output().unwrap();
            assert!(out.status.success(), "{template}: {cmd}: {}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(String::from_utf8_lossy(&out.stdout), nasty, "{template} -> {cmd}");
        }
        // text around placeholders and escapes stay as written
        assert_eq!(substitute(r#"a\ b "{k}x" {k}"#, &[("{k}", "v")]), r#"a\ b "vx" v"#);
    }

    #[test]
    fn output_parsing() {
        let o = parse_output("training...\n{\"accuracy\": 93.5, \"seconds\": 12, \"params\": 3}\n\n", 1.0).unwrap();
        assert_eq!(o.accuracy, Some(93.5));
        assert_eq!(o.seconds, 12.0);
        assert_eq!(o.extra["params"], "3");
        let err = |out: &str| format!("{:#}", parse_output(out, 1.0).unwrap_err());
        assert!(err("{\"accuracy\": \"NaN\"}").contains("no numeric 'accuracy'"));
        // values that are not finite, or not percentages, are named
        for (out, named) in [
            ("{\"accuracy\": NaN, \"seconds\": 1}", "accuracy NaN is not a finite number"),
            ("{\"accuracy\": Infinity}", "accuracy Infinity is not a finite number"),
            ("{\"accuracy\": 1e999}", "accuracy 1e999 is not a finite number"),
            ("{\"accuracy\": -5}", "accuracy -5 is not in 0..100"),
            ("{\"accuracy\": 150, \"seconds\": 3}", "accuracy 150 is not in 0..100"),
        ] {
            assert!(err(out).contains(named), "{out}: {}", err(out));
        }
        assert!(err("all good").contains("not JSON"));
        assert!(err("{not json at all}").contains("not JSON"));
        assert!(parse_output("", 1.0).is_err());
        assert_eq!(parse_output("{\"accuracy\": 50}", 7.5).unwrap().seconds, 7.5);
    }
}
