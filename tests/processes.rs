//! Evaluation processes and retries, through the binary: a driver killed
//! with SIGKILL leaves no evaluation running unseen (its groups die with it;
//! what left them with `setsid` is stopped by the next driver before it
//! evaluates anything; a pid the kernel gave to another process is never
//! signalled); `--retry-failed` evaluates every failed evaluation again,
//! whatever its stage, and trains the predictor again on them; the documented
//! defaults of the command evaluator are its defaults.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// `small_run` of NAS-Bench-201 with `evaluator`.
fn config(dir: &Path, evaluator: &str) -> PathBuf {
    small_run(dir, &repo().join("search_spaces/nb201.yaml").display().to_string(), evaluator)
}

/// Writes its tag and the time (ns) into `writes` of a work folder every 20 ms.
const WRITER: &str = r#"while :; do echo "$2 $(date +%s%N)" >> "$1/writes"; sleep 0.02; done
"#;

/// An evaluation: writes into its work folder from a grandchild in its own
/// group and from one that left it with `setsid`; until the test folder
/// has `release`, it records its processes in `life1.pids` and works for
/// ever; after, it notes which of those are still alive, stops its
/// writers and reports an accuracy.
const EVALUATE: &str = r#"w="$1"; key="$2"; t="$3"
echo "$$ $(date +%s%N)" >> "$w/writes"
if [ -e "$t/release" ]; then
  for p in $(cat "$t/life1.pids"); do
    if [ -e "/proc/$p" ] && ! grep -q ') Z' "/proc/$p/stat" 2>/dev/null; then
      echo "$p at $(date +%s%N) seen by $$: $(cat /proc/$p/stat 2>&1)" >> "$t/alive_at_start"
    fi
  done
fi
sh "$t/writer.sh" "$w" $$ &
writer=$!
setsid sh "$t/writer.sh" "$w" $$ &
escaped=$!
# until it has left the group (a signal to the group before would reach it)
while [ "$(cut -d' ' -f5 /proc/$escaped/stat)" != "$escaped" ]; do sleep 0.01; done
if [ ! -e "$t/release" ]; then
  echo "$$ $writer $escaped" >> "$t/life1.pids"
  sleep 300
fi
kill $writer $escaped
echo "{\"accuracy\": $(printf %s "$key" | cksum | cut -c1-2)}"
"#;

/// Whether process `pid` is running (a zombie is not).
fn running(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s[s.rfind(')').unwrap() + 1..].trim_start().starts_with('Z'))
        .unwrap_or(false)
}

/// Field 22 of /proc/PID/stat: the process's start time.
fn start_time(pid: u32) -> u64 {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    s[s.rfind(')').unwrap() + 1..].split_whitespace().nth(19).unwrap().parse().unwrap()
}

/// The running processes carrying run `run`'s mark.
fn marked(run: &Path) -> Vec<u32> {
    let mark = format!("NAS_SEARCH_RUN={}", fs::canonicalize(run).unwrap().display());
    let mut pids: Vec<u32> = fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| running(*p))
        .filter(|p| {
            fs::read(format!("/proc/{p}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|kv| kv == mark.as_bytes()))
        })
        .collect();
    pids.sort();
    pids
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A run in `dir` of [`EVALUATE`] at workers 2, started with stderr piped
/// and returned once two evaluations run: (the driver, the run directory,
/// `life1.pids`).
fn two_evaluations_running(dir: &Path) -> (std::process::Child, PathBuf, PathBuf) {
    write(dir, "writer.sh", WRITER);
    let script = write(dir, "evaluate.sh", EVALUATE);
    let evaluator = format!(
        "  kind: command\n  command: sh {} {{workdir}} {{key}} {}\n  retries: 0\n  workers: 2",
        script.display(),
        dir.display()
    );
    let cfg = config(dir, &evaluator);
    let run = dir.join("run");
    let driver = bin()
        .args(["run"])
        .arg(&cfg)
        .arg("--run-dir")
        .arg(&run)
        .arg("--quiet")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pids = dir.join("life1.pids");
    wait_for("two evaluations running", Duration::from_secs(120), || {
        fs::read_to_string(&pids).map(|t| t.lines().count() >= 2).unwrap_or(false)
    });
    (driver, run, pids)
}

#[test]
fn a_driver_killed_with_sigkill_leaves_no_evaluation_running_when_the_next_one_starts() {
    let dir = temp_dir("processes-kill");
    let (mut driver, run, pids) = two_evaluations_running(&dir);
    driver.kill().unwrap(); // SIGKILL: no handler runs
    driver.wait().unwrap();
    let life1: Vec<Vec<u32>> = fs::read_to_string(&pids)
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().map(|p| p.parse().unwrap()).collect())
        .collect();
    // the evaluation, its work and its writer die with the driver (their supervisor's death signal)
    for line in &life1 {
        wait_for("the evaluation's group to die with the driver", Duration::from_secs(20), || {
            !running(line[0]) && !running(line[1])
        });
    }
    // the writer that left its group with setsid is still running, and nothing else: the
    // supervisors are gone too, well before their 10 s grace
    assert!(life1.iter().all(|l| running(l[2])), "the setsid writers outlive the driver: {life1:?}");
    let mut escaped: Vec<u32> = life1.iter().map(|l| l[2]).collect();
    escaped.sort();
    wait_for("only the setsid writers to be left", Duration::from_secs(5), || marked(&run) == escaped);

    // an unrelated process whose pid a stale record names, with another start time (a reused pid)
    let mut unrelated = Command::new("sleep").arg("120").process_group(0).spawn().unwrap();
    let fake = run.join("eval/final-reused");
    fs::create_dir_all(&fake).unwrap();
    let boot = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    fs::write(
        fake.join("nas-search-process.json"),
        format!(
            r#"{{"pid": {}, "start": {}, "boot": "{}", "driver": 1}}"#,
            unrelated.id(),
            start_time(unrelated.id()) + 1,
            boot.trim()
        ),
    )
    .unwrap();

    write(&dir, "release", "");
    let out = run_ok(bin().args(["resume"]).arg(&run).arg("--quiet"));
    let stderr = String::from_utf8_lossy(&out.stderr);

    assert!(unrelated.try_wait().unwrap().is_none(), "a pid reused by another process was signalled");
    unrelated.kill().unwrap();
    unrelated.wait().unwrap();
    // none of the first life is left, and none was there when a new evaluation started
    for l in &life1 {
        for &p in l {
            assert!(!running(p), "pid {p} of the first life still runs");
        }
    }
    let alive = fs::read_to_string(dir.join("alive_at_start")).unwrap_or_default();
    assert!(
        alive.trim().is_empty(),
        "first-life processes alive when a new evaluation started: {alive}\nfirst life: {life1:?}\n\
         resume's stderr:\n{stderr}\nrun.log:\n{}",
        fs::read_to_string(run.join("run.log")).unwrap_or_default()
    );
    // what was stopped is said, on the terminal and in run.log
    let log = fs::read_to_string(run.join("run.log")).unwrap();
    for l in &life1 {
        let line = format!("stopped pid {} that this run's previous driver left running", l[2]);
        assert!(stderr.contains(&line) && log.contains(&line), "{line}:\n{stderr}");
    }
    // every work folder was written by one attempt at a time
    let mut folders = 0;
    for entry in fs::read_dir(run.join("eval")).unwrap() {
        let Ok(text) = fs::read_to_string(entry.unwrap().path().join("writes")) else { continue };
        folders += 1;
        let mut spans: BTreeMap<String, (u128, u128)> = BTreeMap::new();
        for line in text.lines() {
            let (tag, t) = line.split_once(' ').unwrap();
            let t: u128 = t.parse().unwrap();
            let s = spans.entry(tag.to_string()).or_insert((t, t));
            s.0 = s.0.min(t);
            s.1 = s.1.max(t);
        }
        let mut spans: Vec<(u128, u128)> = spans.into_values().collect();
        spans.sort();
        for pair in spans.windows(2) {
            assert!(pair[0].1 < pair[1].0, "two attempts wrote into one work folder at once: {text}");
        }
    }
    assert!(folders >= 18, "{folders} work folders");
    let summary = &csv_rows(&run.join("summary.csv"))[0];
    assert_eq!(summary["failed"], "0", "{summary:?}");
}

#[test]
fn retry_failed_evaluates_every_failed_stage_again_and_retrains_on_them() {
    let dir = temp_dir("processes-retry");
    let log = dir.join("evaluated.log");
    // the share that fails comes from the environment: fixed on resume
    let evaluator = format!(
        "  kind: command\n  command: python3 {} --json {{json}} --nb201-csv {} --log {} --fail-fraction ${{NAS_TEST_FAIL:-0}}\n  \
         retries: 0\n  workers: 2\n  budgets: {{}}\n  stop_after_failures: 0",
        repo().join("scripts/example_evaluator.py").display(),
        nb201_csv().display(),
        log.display()
    );
    let cfg = config(&dir, &evaluator);
    let run = dir.join("run");
    let out = run_with_failures(
        bin().env("NAS_TEST_FAIL", "0.3").args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"),
    );
    let last = String::from_utf8_lossy(&out.stdout).lines().last().unwrap().to_string();
    let before = csv_rows(&run.join("evaluations.csv"));
    let failed_data = before.iter().filter(|r| r["phase"] == "data" && r["status"] == "failed").count();
    assert!(failed_data > 0, "no data evaluation failed: {before:?}");
    assert!(last.contains(&format!("{failed_data} data (round 0)")), "{last}");
    let md = fs::read_to_string(run.join("summary.md")).unwrap();
    assert!(md.contains("evaluations failed**") && md.contains("--retry-failed"), "{md}");
    let trained = |run: &Path| -> Vec<usize> {
        fs::read_to_string(run.join("run.log"))
            .unwrap()
            .lines()
            .filter_map(|l| {
                let rest = l.split("round 0: training the predictor on ").nth(1)?;
                let (n, rest) = rest.split_once(" architectures (")?;
                let held = rest.split_once(' ')?.0;
                Some(n.parse::<usize>().ok()? + held.parse::<usize>().ok()?)
            })
            .collect()
    };
    assert_eq!(trained(&run), vec![12 - failed_data], "round 0's predictor learnt from the successful ones");

    let out = run_ok(bin().env_remove("NAS_TEST_FAIL").args(["resume"]).arg(&run).args(["--retry-failed", "--quiet"]));
    assert!(String::from_utf8_lossy(&out.stdout).lines().last().unwrap().starts_with("run directory:"));
    let after = csv_rows(&run.join("evaluations.csv"));
    // every failed architecture, of every stage, was evaluated again and succeeded
    let mut last_of: HashMap<(String, String, String), &HashMap<String, String>> = HashMap::new();
    for r in &after {
        last_of.insert((r["phase"].clone(), r["round"].clone(), r["arch_key"].clone()), r);
    }
    assert!(last_of.values().all(|r| r["status"] == "ok"), "a failed evaluation is left");
    for f in before.iter().filter(|r| r["status"] == "failed") {
        let again = &last_of[&(f["phase"].clone(), f["round"].clone(), f["arch_key"].clone())];
        assert_eq!(again["attempt"], "2", "{} evaluated again once", f["arch_key"]);
    }
    // round 0's predictor was trained again on everything measured (the budgets are equal): the 12
    // data evaluations and the first searches' finals, all of them successful now
    let archs_before = before.iter().map(|r| &r["arch_key"]).collect::<std::collections::HashSet<_>>().len();
    assert_eq!(trained(&run), vec![12 - failed_data, archs_before]);
    // no successful evaluation ran twice
    let ran = fs::read_to_string(&log).unwrap();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for key in ran.lines() {
        *count.entry(key).or_default() += 1;
    }
    for ok in before.iter().filter(|r| r["status"] == "ok") {
        assert_eq!(count[ok["arch_key"].as_str()], 1, "{} was evaluated again", ok["arch_key"]);
    }
    let summary = &csv_rows(&run.join("summary.csv"))[0];
    assert_eq!(summary["failed"], "0");
}

/// The command evaluator's table in README: (key, documented default).
fn documented_defaults() -> Vec<(String, String)> {
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let table = readme.split("  | key | default | meaning |").nth(1).expect("the command evaluator's table");
    table
        .lines()
        .skip(2)
        .take_while(|l| l.trim_start().starts_with('|'))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let key = cells.get(1)?.trim_matches('`').to_string();
            let default = cells.get(2)?.trim_matches('`').to_string();
            Some((key, default))
        })
        .collect()
}

#[test]
fn the_command_evaluators_documented_defaults_are_its_defaults() {
    use nas_search::eval::EvaluatorConfig;
    let parse = |yaml: &str| serde_yaml::from_str::<EvaluatorConfig>(yaml).map_err(|e| format!("{e}"));
    let plain = parse("kind: command\ncommand: train.sh").unwrap();
    let defaults = documented_defaults();
    let mut checked = 0;
    for (key, default) in &defaults {
        // no default (`-`), or one in words (`the config file's folder`)
        if default == "-" || default.contains(' ') {
            continue;
        }
        let written = parse(&format!("kind: command\ncommand: train.sh\n{key}: {default}"))
            .unwrap_or_else(|e| panic!("README's default `{key}: {default}` is refused: {e}"));
        assert_eq!(written, plain, "`{key}: {default}` is not the default");
        checked += 1;
    }
    assert!(checked >= 5 && defaults.iter().any(|(k, _)| k == "budgets"), "{defaults:?}");
    // either budget alone, and a misspelt one named
    let proxy = parse("kind: command\ncommand: t\nbudgets: { proxy: { epochs: 1 } }").unwrap();
    assert!(
        matches!(proxy, EvaluatorConfig::Command(c) if c.budgets.final_.is_null() && c.budgets.proxy["epochs"] == 1)
    );
    let err = parse("kind: command\ncommand: t\nbudgets: { proxi: {} }").unwrap_err();
    assert!(err.contains("proxi"), "{err}");
}

/// An evaluation that notes when it starts and ends and takes 0.3 s.
const TIMED: &str = r#"key="$1"; t="$2"
echo "start $(date +%s%N)" >> "$t/times"
sleep 0.3
echo "end $(date +%s%N)" >> "$t/times"
echo "{\"accuracy\": $(printf %s "$key" | cksum | cut -c1-2)}"
"#;

/// The most evaluations that ran at once, from `times`.
fn most_at_once(dir: &Path) -> usize {
    let mut events: Vec<(u128, i32)> = fs::read_to_string(dir.join("times"))
        .unwrap()
        .lines()
        .map(|l| {
            let (what, t) = l.split_once(' ').unwrap();
            (t.parse().unwrap(), if what == "start" { 1 } else { -1 })
        })
        .collect();
    // an end before a start at the same instant
    events.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in events {
        now += d;
        most = most.max(now);
    }
    most as usize
}

#[test]
fn baselines_keep_the_workers_busy_and_repeat_with_the_same_seed() {
    let dir = temp_dir("processes-baselines");
    let script = write(&dir, "timed.sh", TIMED);
    for strategy in ["random-search", "regularized-evolution"] {
        let mut keys = Vec::new();
        for copy in ["a", "b"] {
            let sub = dir.join(format!("{strategy}-{copy}"));
            fs::create_dir_all(&sub).unwrap();
            let evaluator = format!(
                "  kind: command\n  command: sh {} {{key}} {}\n  retries: 0\n  workers: 3",
                script.display(),
                sub.display()
            );
            let cfg = config(&sub, &evaluator);
            let run = sub.join("run");
            run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet").args([
                "--set",
                &format!("strategy={strategy}"),
                "--set",
                "search.queries=12",
                "--set",
                "search.regularized.population=4",
                "--set",
                "search.regularized.sample_size=2",
            ]));
            assert_eq!(most_at_once(&sub), 3, "{strategy}: three workers, three evaluations at once");
            let mut k: Vec<(String, String)> = csv_rows(&run.join("evaluations.csv"))
                .into_iter()
                .map(|r| (r["arch_key"].clone(), r["accuracy"].clone()))
                .collect();
            assert_eq!(k.len(), 12);
            k.sort();
            keys.push(k);
        }
        assert_eq!(keys[0], keys[1], "{strategy}: the same seed, the same architectures whatever the timing");
    }
}

#[test]
fn an_evaluation_that_leaves_a_server_running_ends_with_its_command() {
    let dir = temp_dir("processes-server");
    // a detached server that keeps the evaluation's stdout and stderr open for 10 minutes
    let script = write(
        &dir,
        "serve_and_report.sh",
        "setsid sleep 600 &\necho \"{\\\"accuracy\\\": $(printf %s \"$1\" | cksum | cut -c1-2)}\"\n",
    );
    let evaluator = format!("  kind: command\n  command: sh {} {{key}}\n  retries: 0\n  workers: 2", script.display());
    let cfg = config(&dir, &evaluator);
    let run = dir.join("run");
    run_ok(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
    assert_eq!(csv_rows(&run.join("summary.csv"))[0]["failed"], "0");
    // the run ended while its servers run: it read each result without waiting for them
    let servers = marked;
    let left = servers(&run);
    assert_eq!(left.len(), 18, "one server per evaluation still runs: {left:?}");
    // the next driver of the run stops them and says so
    let out = run_ok(bin().args(["resume"]).arg(&run).arg("--quiet"));
    assert!(String::from_utf8_lossy(&out.stderr).matches("stopped pid").count() >= 18);
    assert!(servers(&run).is_empty());
}

#[test]
fn sigterm_of_the_driver_stops_every_evaluation_process_including_those_that_left_the_group() {
    let dir = temp_dir("processes-term");
    let (driver, _, pids) = two_evaluations_running(&dir);
    // SAFETY: kill(2) on the driver we started
    assert_eq!(unsafe { libc::kill(driver.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let out = driver.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("continue with:"));
    let life1: Vec<u32> = fs::read_to_string(&pids).unwrap().split_whitespace().map(|p| p.parse().unwrap()).collect();
    assert_eq!(life1.len(), 6);
    // the evaluations, their writers and the writers that left their group (setsid) are gone
    wait_for("every evaluation process to end", Duration::from_secs(10), || life1.iter().all(|&p| !running(p)));
}
