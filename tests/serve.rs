//! `nas-search serve` end to end, against the real binary: the security
//! cases over plain HTTP (a raw socket, so paths reach the server exactly as
//! written), and the page in a real Chromium driven through WebDriver
//! (`scripts/browser-for-tests.sh` installs Debian's chromium and
//! chromium-driver when they are missing).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;

/// A child process killed when the test lets go of it, however it ends.
struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A run config: NAS-Bench-201, a tiny predictor, `train_archs` + 2 x 3
/// evaluations by the example evaluator (`args`: its failures, its pace).
fn config(dir: &Path, name: &str, args: &str, train_archs: usize) -> PathBuf {
    let text = format!(
        "name: {name}
seed: 2
space: {space}
strategy: nar-former-evolution
evaluator:
  kind: command
  command: python3 {script} --json {{json}} --nb201-csv {csv} {args}
  timeout_s: 60
  retries: 0
  workers: 1
predictor:
  train_archs: {train_archs}
  val_fraction: 0.2
  model:
    kind: nar-former
    tokenizer: {{ lx: 4, lp: 4, lr: 4 }}
    transformer: {{ depths: [1, 1, 1, 1], heads: 2, d_ff: 32 }}
  train: {{ epochs: 4, batch_size: 8, lr: 0.002 }}
search:
  evolution: {{ population: 16, generations: 4 }}
  top_k: 3
  rounds: 2
",
        space = repo().join("search_spaces/nb201.yaml").display(),
        script = repo().join("scripts/example_evaluator.py").display(),
        csv = nb201_csv().display(),
    );
    write(dir, &format!("{name}.yaml"), &text)
}

/// One finished run with failed evaluations, made once per test process:
/// (the folder holding it, the run directory).
fn finished() -> &'static (PathBuf, PathBuf) {
    static RUN: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    RUN.get_or_init(|| {
        let root = temp_dir("serve-runs");
        let cfg = config(&root, "finished", "--fail-fraction 0.3", 12);
        let run = root.join("runs/finished");
        run_with_failures(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&run).arg("--quiet"));
        (root.join("runs"), run)
    })
}

/// `nas-search serve` over `dirs`, and the address it printed (with the
/// token, if it asks for one).
fn serve(dirs: &[&Path], extra: &[&str]) -> (Killed, String) {
    let mut child =
        bin().arg("serve").args(dirs).args(["--port", "0"]).args(extra).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("http://"), "serve printed its address first: {line:?}");
    (Killed(child), line.trim().to_string())
}

/// One HTTP/1.1 request, `target` sent as written: (status, head, body).
fn request(base: &str, method: &str, target: &str, headers: &[&str]) -> (u16, String, String) {
    let authority = base.trim_start_matches("http://").split('/').next().unwrap();
    let mut s = TcpStream::connect(authority).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    // the Host this machine's name, unless the test gives another
    let host = if headers.iter().any(|h| h.to_ascii_lowercase().starts_with("host:")) {
        String::new()
    } else {
        format!("Host: {authority}\r\n")
    };
    write!(s, "{method} {target} HTTP/1.1\r\n{host}Connection: close\r\nContent-Length: 0\r\n{extra}\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Every file under `dir` with its bytes, to see that nothing changed.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                todo.push(e.path());
            } else if t.is_file() {
                out.push((e.path(), std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// A copy of `run` at `to` whose `evaluations.csv` is cut at line `line`
/// (1 the header) to a third of it: a torn row; the last line, without its
/// newline, is a row being written.
fn torn_copy(run: &Path, to: &Path, line: usize) -> usize {
    copy_dir(run, to);
    let evals = to.join("evaluations.csv");
    let text = std::fs::read_to_string(&evals).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let last = line == lines.len();
    let cut = lines[line - 1].len() / 3;
    lines[line - 1].truncate(cut);
    std::fs::write(&evals, lines.join("\n") + if last { "" } else { "\n" }).unwrap();
    lines.len() - 2
}

#[test]
fn the_server_is_read_only_stays_inside_its_folders_and_asks_for_its_token() {
    let (runs, run) = finished();
    let log = std::fs::read_to_string(run.join("run.log")).unwrap();
    assert_eq!(
        log.matches(" plots: ").count(),
        4,
        "pictures drawn after the data, each of 2 rounds, the report: {log}"
    );
    let dir = temp_dir("serve-http");
    let served = dir.join("served");
    // beside copies of the finished run: one with a torn row, one being written
    let damaged_rows = torn_copy(run, &served.join("damaged"), 4);
    let writing_rows = torn_copy(
        run,
        &served.join("writing"),
        std::fs::read_to_string(run.join("evaluations.csv")).unwrap().lines().count(),
    );
    // links that lead out of the served folder, and a FIFO where a log should be
    let secret = dir.join("secret.txt");
    std::fs::write(&secret, "outside the served folder").unwrap();
    copy_dir(run, &served.join("linked"));
    std::fs::remove_file(served.join("linked/run.log")).unwrap();
    std::os::unix::fs::symlink(&secret, served.join("linked/run.log")).unwrap();
    copy_dir(run, &served.join("fifo"));
    std::fs::remove_file(served.join("fifo/run.log")).unwrap();
    assert!(Command::new("mkfifo").arg(served.join("fifo/run.log")).status().unwrap().success());
    std::os::unix::fs::symlink(runs, served.join("elsewhere")).unwrap();
    let before = snapshot(&served);

    // a single-user machine: no token (the checks below are of what is served, not of who asks)
    let (_server, base) = serve(&[&served], &["--no-token"]);
    let (status, head, body) = request(&base, "GET", "/api/runs", &[]);
    assert_eq!(status, 200, "{body}");
    assert!(head.to_ascii_lowercase().contains("content-security-policy: default-src 'self'"), "{head}");
    let listed = json(&body);
    let runs_listed = listed.as_array().unwrap();
    let ids: Vec<&str> = runs_listed.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["served/damaged", "served/fifo", "served/linked", "served/writing"],
        "a linked folder is not followed"
    );
    // a run with a link or a FIFO is listed, said why, and not read
    for (id, why) in [("served/linked", "run.log is a link"), ("served/fifo", "run.log is not a plain file")] {
        let row = runs_listed.iter().find(|r| r["id"] == id).unwrap();
        assert_eq!(row["status"]["state"], "refused", "{row}");
        assert_eq!(row["status"]["reason"], why, "{row}");
        for api in ["run", "evaluations", "pictures", "stamp"] {
            let (status, _, body) = request(&base, "GET", &format!("/api/{api}?run={id}"), &[]);
            assert_eq!(status, 403, "{api} {id}: {body}");
            assert!(body.contains(why) && !body.contains("outside the served folder"), "{body}");
        }
    }

    // a torn row is left out and named, the rest is there; plots must not draw damaged records and say so
    let (status, _, body) = request(&base, "GET", "/api/evaluations?run=served/damaged", &[]);
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["rows"].as_array().unwrap().len(), damaged_rows, "{body}");
    let warnings = v["warnings"].to_string();
    assert!(warnings.contains("evaluations.csv: row 4 is corrupt") && warnings.contains("left out"), "{warnings}");
    let (status, _, body) = request(&base, "GET", "/api/pictures?run=served/damaged", &[]);
    assert_eq!(status, 200, "{body}");
    assert!(json(&body)["error"].as_str().unwrap().contains("evaluations.csv"), "says what it could not draw: {body}");
    // a row being written is left out, and everything else is drawn
    let (_, _, body) = request(&base, "GET", "/api/evaluations?run=served/writing", &[]);
    let v = json(&body);
    assert_eq!(v["rows"].as_array().unwrap().len(), writing_rows, "{body}");
    assert!(v["warnings"].to_string().contains("still being written"), "{}", v["warnings"]);
    let (_, _, body) = request(&base, "GET", "/api/pictures?run=served/writing", &[]);
    let v = json(&body);
    assert!(v["error"].is_null() && v["pictures"].as_array().unwrap().len() == 5, "{}", v["error"]);

    // paths out of the folder, however written
    for target in [
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "/api/run?run=../../../etc",
        "/api/run?run=served%2F..%2F..%2Fetc",
        "/api/run?run=served/elsewhere/finished",
        "/api/evaluations?run=%2Fetc%2Fpasswd",
        "/app.js/../../etc/passwd",
    ] {
        let (status, _, body) = request(&base, "GET", target, &[]);
        assert!(status == 404 || status == 400, "{target}: {status} {body}");
        assert!(!body.contains("root:"), "{target}: {body}");
    }
    // a web page whose name was pointed at 127.0.0.1 (DNS rebinding) gets nothing
    let (status, _, body) = request(&base, "GET", "/api/runs", &["Host: attacker.example"]);
    assert_eq!(status, 403, "{body}");
    assert_eq!(request(&base, "GET", "/api/runs", &["Host: localhost:8080"]).0, 200);
    // nothing changes a run
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        for target in ["/", "/api/runs", "/api/run?run=served/damaged", "/api/evaluations?run=served/damaged"] {
            let (status, _, _) = request(&base, method, target, &[]);
            assert_eq!(status, 405, "{method} {target}");
        }
    }
    assert!(snapshot(&served) == before, "serving changed no file");

    // on an address other machines reach, the token printed at start is needed
    let (_open, with_token) = serve(&[&served], &["--host", "0.0.0.0"]);
    let token = with_token.split("?token=").nth(1).expect("the address carries a token").to_string();
    assert_eq!(token.len(), 32);
    let plain = with_token.split('?').next().unwrap();
    for target in ["/", "/api/runs", "/api/run?run=served/damaged", "/app.js"] {
        assert_eq!(request(plain, "GET", target, &[]).0, 401, "{target} without the token");
        assert_eq!(request(plain, "GET", &format!("{target}?token=0123"), &[]).0, 401, "{target} with a wrong token");
    }
    let (status, head, _) = request(plain, "GET", &format!("/?token={token}"), &[]);
    assert_eq!(status, 200);
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: ").or_else(|| l.strip_prefix("Set-Cookie: ")))
        .expect("the page sets a cookie for its own requests");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().unwrap();
    let (status, _, body) = request(plain, "GET", "/api/runs", &[&format!("Cookie: {pair}")]);
    assert_eq!(status, 200, "the cookie stands for the token: {body}");
    assert_eq!(json(&body).as_array().unwrap().len(), 4);
    let port = plain.rsplit(':').next().unwrap().trim_end_matches('/');
    assert!(pair.starts_with(&format!("nas_search_token_{port}=")), "the cookie is named after the port: {pair}");
    let wrong = format!("Cookie: nas_search_token_{port}=ffffffffffffffffffffffffffffffff");
    assert_eq!(request(plain, "GET", "/api/runs", &[&wrong]).0, 401, "a wrong cookie is refused");
    // --no-token only where no one else reaches the port
    let err = run_err(bin().arg("serve").arg(&served).args(["--port", "0", "--host", "0.0.0.0", "--no-token"]));
    assert!(err.contains("--no-token") && err.contains("0.0.0.0"), "{err}");
}

#[test]
fn the_token_is_asked_on_127_0_0_1_too_and_other_sites_cheap_requests_and_slow_clients_are_refused() {
    let (runs, _) = finished();
    // by default the token is asked on the loopback address as well (a login node's users all reach it)
    let (_a, first) = serve(&[runs], &["--idle-timeout", "1"]);
    let (_b, second) = serve(&[runs], &[]);
    let token_of = |address: &str| address.split("?token=").nth(1).expect("the address carries a token").to_string();
    let base = |address: &str| address.split('?').next().unwrap().trim_end_matches('/').to_string();
    let (token, plain) = (token_of(&first), base(&first));
    assert!(first.starts_with("http://127.0.0.1:"), "{first}");
    assert_eq!(request(&plain, "GET", "/api/runs", &[]).0, 401, "no token on 127.0.0.1: refused");
    let (status, head, _) = request(&plain, "GET", &format!("/?token={token}"), &[]);
    assert_eq!(status, 200);
    let cookie_of = |head: &str| {
        let line = head.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie: ")).expect("a cookie");
        line["set-cookie: ".len()..].split(';').next().unwrap().to_string()
    };
    let cookie = cookie_of(&head);
    // two servers on one host: each its own cookie, neither logs the other out
    let (_, head2, _) = request(&base(&second), "GET", &format!("/?token={}", token_of(&second)), &[]);
    let cookie2 = cookie_of(&head2);
    assert_ne!(cookie.split('=').next(), cookie2.split('=').next(), "cookie names per port: {cookie} {cookie2}");
    let both = format!("Cookie: {cookie}; {cookie2}");
    assert_eq!(request(&plain, "GET", "/api/runs", &[&both]).0, 200);
    assert_eq!(request(&base(&second), "GET", "/api/runs", &[&both]).0, 200);
    let auth = format!("Cookie: {cookie}");

    // another site's page reaching for the loopback server (an <img>, a fetch) is refused, token or not
    for headers in
        [vec!["Origin: http://attacker.example"], vec!["Sec-Fetch-Site: cross-site"], vec!["Sec-Fetch-Site: same-site"]]
    {
        let mut h = headers.clone();
        h.push(&auth);
        let (status, _, body) = request(&plain, "GET", "/api/runs", &h);
        assert_eq!(status, 403, "{headers:?}: {body}");
        assert!(body.contains("another"), "{body}");
        let (status, _, _) = request(&plain, "GET", &format!("/api/compare?run=runs/finished&token={token}"), &h);
        assert_eq!(status, 403, "{headers:?}");
    }
    // a link followed from elsewhere shows the page (the other site cannot read it); the page's own requests pass
    let nav = ["Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: navigate", &auth];
    assert_eq!(request(&plain, "GET", "/", &nav).0, 200);
    let own = ["Sec-Fetch-Site: same-origin", "Sec-Fetch-Mode: cors", &auth];
    assert_eq!(request(&plain, "GET", "/api/runs", &own).0, 200);
    let origin = format!("Origin: {plain}");
    assert_eq!(request(&plain, "GET", "/api/runs", &[&origin, &auth]).0, 200);

    // a compare of 10,000 ids is refused at once (an address that long: by the HTTP layer), and of
    // 1,000 before any run is looked for
    for (n, refused) in [(10_000, [400, 414]), (1_000, [400, 400])] {
        let many: Vec<String> = (0..n).map(|i| format!("run=x{i}")).collect();
        let started = std::time::Instant::now();
        let (status, _, body) = request(&plain, "GET", &format!("/api/compare?{}", many.join("&")), &[&auth]);
        assert!(refused.contains(&status), "{n} ids: {status} {body}");
        if status == 400 {
            assert!(body.contains(&format!("{n} runs named")) && body.contains("at most 32"), "{body}");
        }
        eprintln!("a compare of {n} ids refused ({status}) in {:.3} s", started.elapsed().as_secs_f64());
    }
    // ... and repeats of one id count once
    let repeated: Vec<&str> = vec!["run=runs/finished"; 100];
    let (status, _, body) = request(&plain, "GET", &format!("/api/compare?{}", repeated.join("&")), &[&auth]);
    assert_eq!(status, 200, "{body}");

    // a client that sends half a request and waits is cut off after --idle-timeout (1 s here)
    let authority = plain.trim_start_matches("http://");
    let mut slow = TcpStream::connect(authority).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(slow, "GET /api/runs HTTP/1.1\r\nHost: {authority}\r\n").unwrap();
    let waited = std::time::Instant::now();
    let mut rest = Vec::new();
    slow.read_to_end(&mut rest).expect("the server closes the connection");
    assert!(waited.elapsed() < Duration::from_secs(30), "closed by the server, not by the test's read timeout");
    assert!(!String::from_utf8_lossy(&rest).contains("\"id\""), "no runs for half a request");
}

// ---- in the browser ----------------------------------------------------------

use fantoccini::{Client, ClientBuilder, Locator};

/// chromedriver on a free port, and its address.
fn chromedriver() -> (Killed, String) {
    let out = Command::new("bash").arg(repo().join("scripts/browser-for-tests.sh")).output().unwrap();
    assert!(out.status.success(), "no browser for the tests: {}", String::from_utf8_lossy(&out.stderr));
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(&path).arg(format!("--port={port}")).stdout(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(30), "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    (Killed(child), format!("http://127.0.0.1:{port}"))
}

async fn browser(driver: &str, profile: &Path) -> Client {
    let args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
    ];
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), serde_json::json!({ "args": args }));
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver)
        .await
        .expect("a WebDriver session in Chromium")
}

/// Polls `probe` until it gives a value (60 s at most).
async fn until<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "waited a minute for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn text_of(c: &Client, css: &str) -> Option<String> {
    c.find(Locator::Css(css)).await.ok()?.text().await.ok()
}

async fn count(c: &Client, css: &str) -> usize {
    c.find_all(Locator::Css(css)).await.map_or(0, |v| v.len())
}

/// Whether every picture of the page has loaded and drawn something.
async fn pictures_drawn(c: &Client) -> Vec<String> {
    let script = "return [...document.querySelectorAll('#pictures img')]
        .filter(i => i.complete && i.naturalWidth > 0).map(i => i.dataset.name)";
    let v = c.execute(script, vec![]).await.unwrap();
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

#[test]
fn the_page_follows_a_running_run_and_shows_filters_and_compares_runs() {
    let (runs, finished_run) = finished();
    let evals = csv_rows(&finished_run.join("evaluations.csv"));
    let failed = evals.iter().filter(|r| r["status"] == "failed").count();
    assert!(failed > 0 && failed < evals.len(), "the finished run has some failures to filter: {failed}");
    let best = String::from_utf8(run_ok(bin().args(["best"]).arg(finished_run)).stdout).unwrap();
    // the browser first (it may have to be installed), then a run going on
    // beside the finished one: 40 + 6 evaluations, one a second
    let dir = temp_dir("serve-browser");
    let (_driver, driver) = chromedriver();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let c = rt.block_on(browser(&driver, &dir.join("profile")));
    let cfg = config(&dir, "going", "--sleep 1", 40);
    let going = runs.join("going");
    let _ = std::fs::remove_dir_all(&going);
    let _run = Killed(bin().args(["run"]).arg(&cfg).arg("--run-dir").arg(&going).arg("--quiet").spawn().unwrap());
    let (_server, base) = serve(&[runs], &[]);

    rt.block_on(async {
        // the runs page: both runs, one running, one finished (the table is
        // redrawn every 2 s: each look finds its element again)
        c.goto(&base).await.unwrap();
        let going_done = "tr[data-run=\"runs/going\"] .done";
        let first: usize = until("the running run's row, running", || async {
            let status = text_of(&c, "tr[data-run=\"runs/going\"] .status").await?;
            let n = text_of(&c, going_done).await?.parse().ok()?;
            status.starts_with("running (pid ").then_some(n)
        })
        .await;
        until("the finished run's row", || async {
            let status = text_of(&c, "tr[data-run=\"runs/finished\"] .status").await?;
            let done = text_of(&c, "tr[data-run=\"runs/finished\"] .done").await?;
            (status == "finished" && done == evals.len().to_string()).then_some(())
        })
        .await;
        // the count grows as the run appends rows, with no reload
        c.execute("window.stayed = true", vec![]).await.unwrap();
        let later: usize = until("the running run's count to grow", || async {
            let n: usize = text_of(&c, going_done).await?.parse().ok()?;
            (n > first).then_some(n)
        })
        .await;
        assert!(later > first);
        let stayed = c.execute("return window.stayed === true", vec![]).await.unwrap();
        assert_eq!(stayed, serde_json::json!(true), "the page was not reloaded");

        // a run's page: its pictures, its evaluations, a filter to the failed ones
        until("a click on the finished run", || async {
            c.find(Locator::Css("tr[data-run=\"runs/finished\"] a.run-link")).await.ok()?.click().await.ok()
        })
        .await;
        let drawn = until("the pictures", || async {
            let d = pictures_drawn(&c).await;
            (d.len() >= 5).then_some(d)
        })
        .await;
        for name in ["progress.svg", "accuracy_vs_cost.svg", "best_cell.svg", "predicted_vs_measured.svg", "predictor_training.svg"]
        {
            assert!(drawn.iter().any(|d| d == name), "{name} in {drawn:?}");
        }
        until("every evaluation in the table", || async { (count(&c, "#evals tbody tr").await == evals.len()).then_some(()) })
            .await;
        c.find(Locator::Css("#filter-status")).await.unwrap().select_by_value("failed").await.unwrap();
        until("the failed ones only", || async { (count(&c, "#evals tbody tr").await == failed).then_some(()) }).await;
        assert_eq!(count(&c, "#evals tbody tr.failed").await, failed);
        let finals = evals.iter().filter(|r| r["phase"] == "final" && r["status"] == "failed").count();
        c.find(Locator::Css("#filter-phase")).await.unwrap().select_by_value("final").await.unwrap();
        until("the failed final ones", || async { (count(&c, "#evals tbody tr").await == finals).then_some(()) }).await;
        // the best architecture, as `nas-search best` prints it, with its copy button
        let shown = text_of(&c, "#best code").await.unwrap();
        assert_eq!(shown, best.trim());
        assert!(count(&c, "button.copy[data-format=\"json\"]").await == 1);
        let topk_rows = count(&c, "#topk-table tbody tr").await;
        assert_eq!(topk_rows, csv_rows(&finished_run.join("topk.csv")).len());

        // two runs compared on one picture
        c.goto(&base).await.unwrap();
        for id in ["runs/finished", "runs/going"] {
            let pick = format!("input.pick[data-run=\"{id}\"]");
            until("a click on the checkbox", || async { c.find(Locator::Css(&pick)).await.ok()?.click().await.ok() })
                .await;
        }
        until("a click on compare", || async { c.find(Locator::Css("#compare")).await.ok()?.click().await.ok() }).await;
        until("the compared progress", || async {
            let v = c
                .execute("const i = document.getElementById('compare-picture'); return !!i && i.complete && i.naturalWidth > 0", vec![])
                .await
                .ok()?;
            (v == serde_json::json!(true)).then_some(())
        })
        .await;
        assert_eq!(text_of(&c, "#compare-error").await.unwrap(), "");
        assert!(c.current_url().await.unwrap().as_str().contains("/compare?run=runs%2Ffinished&run=runs%2Fgoing"));
        c.close().await.unwrap();
    });
}

#[test]
fn the_runs_list_rereads_only_the_runs_whose_files_changed() {
    let (_, run) = finished();
    let dir = temp_dir("serve-many");
    let many = dir.join("many");
    // 1,000 runs, each a copy of the finished run's own files
    let files = ["config.yaml", "checkpoint.json", "evaluations.csv", "summary.csv", "run.log"];
    for i in 0..1000 {
        let to = many.join(format!("r{i:04}"));
        std::fs::create_dir_all(&to).unwrap();
        for f in files {
            std::fs::copy(run.join(f), to.join(f)).unwrap();
        }
    }
    let (_server, base) = serve(&[&many], &["--no-token"]);
    let poll = || {
        let started = std::time::Instant::now();
        let (status, _, body) = request(&base, "GET", "/api/runs", &[]);
        assert_eq!(status, 200);
        let mut rows = json(&body);
        for r in rows.as_array_mut().unwrap() {
            r.as_object_mut().unwrap().remove("idle_s");
        }
        (rows, started.elapsed().as_secs_f64())
    };
    let (first, cold) = poll();
    let (second, warm) = poll();
    assert_eq!(first.as_array().unwrap().len(), 1000);
    assert_eq!(first, second, "nothing changed, nothing differs");
    eprintln!("runs list over 1,000 runs: {cold:.3} s read, {warm:.3} s when none changed");
    let done = |rows: &serde_json::Value, id: &str| {
        rows.as_array().unwrap().iter().find(|r| r["id"] == id).unwrap()["done"].as_u64().unwrap()
    };
    let all = done(&first, "many/r0007");
    assert!(all > 3);
    // a run whose files did not change is not read again: bytes swapped under the same size and
    // time are not seen (as make and rsync would not see them)
    let evaluations = many.join("r0007/evaluations.csv");
    let meta = std::fs::metadata(&evaluations).unwrap();
    std::fs::write(&evaluations, " ".repeat(meta.len() as usize)).unwrap();
    std::fs::File::options().write(true).open(&evaluations).unwrap().set_modified(meta.modified().unwrap()).unwrap();
    assert_eq!(done(&poll().0, "many/r0007"), all, "the kept row");
    // a file that changed is read again
    let text = std::fs::read_to_string(run.join("evaluations.csv")).unwrap();
    let head: Vec<&str> = text.lines().take(4).collect();
    std::fs::write(&evaluations, head.join("\n") + "\n").unwrap();
    assert_eq!(done(&poll().0, "many/r0007"), 3, "read again after it changed");
}

/// A copy of the finished run's own files in `to`, with markup where the
/// page shows its name, a genotype and an error.
fn run_with_markup(to: &Path) {
    let (_, run) = finished();
    std::fs::create_dir_all(to).unwrap();
    for f in ["checkpoint.json", "summary.csv", "run.log", "topk.csv"] {
        std::fs::copy(run.join(f), to.join(f)).unwrap();
    }
    let config = std::fs::read_to_string(run.join("config.yaml")).unwrap();
    let named: Vec<String> = config
        .lines()
        .map(|l| if l.starts_with("name:") { "name: '<img id=inj-name src=x>'".to_string() } else { l.to_string() })
        .collect();
    std::fs::write(to.join("config.yaml"), named.join("\n") + "\n").unwrap();
    let mut r = csv::Reader::from_path(run.join("evaluations.csv")).unwrap();
    let headers = r.headers().unwrap().clone();
    let [genotype, error, status] =
        ["genotype", "error", "status"].map(|h| headers.iter().position(|x| x == h).unwrap());
    let mut w = csv::Writer::from_path(to.join("evaluations.csv")).unwrap();
    w.write_record(&headers).unwrap();
    for (i, rec) in r.records().enumerate() {
        let mut fields: Vec<String> = rec.unwrap().iter().map(str::to_string).collect();
        if i == 0 {
            fields[genotype] = "<i id=inj-genotype>g</i>".into();
        }
        if fields[status] == "failed" {
            fields[error] = "<b id=inj-error>boom</b>".into();
        }
        w.write_record(&fields).unwrap();
    }
    w.flush().unwrap();
}

#[test]
fn markup_in_a_runs_name_genotype_and_errors_is_shown_as_text_in_the_browser() {
    let dir = temp_dir("serve-markup");
    run_with_markup(&dir.join("markup/m"));
    let (_driver, driver) = chromedriver();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let c = rt.block_on(browser(&driver, &dir.join("profile")));
    let (_server, address) = serve(&[&dir.join("markup")], &[]);
    let token = address.split("?token=").nth(1).unwrap().to_string();
    let base = address.split('?').next().unwrap().to_string();
    rt.block_on(async {
        c.goto(&address).await.unwrap();
        let name = until("the run's row", || async { text_of(&c, "tr[data-run=\"markup/m\"] .run-link").await }).await;
        assert!(name.contains("<img id=inj-name src=x>"), "the name as text: {name}");
        c.goto(&format!("{base}run?run=markup/m&token={token}")).await.unwrap();
        until("the evaluations with the error text", || async {
            let source = c.source().await.ok()?;
            (source.contains("&lt;b id=inj-error&gt;boom&lt;/b&gt;") && source.contains("&lt;i id=inj-genotype&gt;"))
                .then_some(())
        })
        .await;
        for id in ["inj-name", "inj-genotype", "inj-error"] {
            assert_eq!(count(&c, &format!("#{id}")).await, 0, "markup became an element: #{id}");
        }
        c.close().await.unwrap();
    });
}
