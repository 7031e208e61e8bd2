//! `nas-search serve`: a live page over run directories, served by the
//! binary itself (no build step, nothing fetched from elsewhere). The runs
//! page lists every run found under the given folders; a run's page shows
//! its pictures, evaluations, top-K, config and log, and follows the run as
//! it goes by polling a fingerprint of its files; a compare page draws
//! several runs' progress together.
//!
//! Safe by default: only GET routes exist (nothing changes a run); it binds
//! 127.0.0.1 unless `--host` says otherwise, and every request must carry
//! the token printed at start (on a shared login node every user of the
//! machine reaches a loopback port), unless `--no-token` on a loopback
//! address; requests another site's page makes are refused (see [`guard`]);
//! runs are named by ids the catalog hands out, never by paths (see
//! [`catalog`]). Connections are bounded: at most [`MAX_CONNECTIONS`] at
//! once, and one whose client sends no complete request head within
//! `--idle-timeout` seconds (a slow client, or a kept-alive connection left
//! idle) is closed.
//!
//! `catalog` finds runs, `overview` reads them leniently (and keeps the runs
//! page's rows until a run's files change), `api` answers the page's
//! requests, `guard` checks the token, `page` holds the page itself.

mod api;
mod catalog;
mod guard;
mod overview;
mod page;
mod snapshot;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use axum::routing::get;

/// What `nas-search serve` was asked.
pub struct ServeOptions {
    pub dirs: Vec<PathBuf>,
    pub host: IpAddr,
    pub port: u16,
    /// Ask for the token (all but `--no-token`).
    pub token: bool,
    /// Seconds a connection may take to send a request head, or stay idle.
    pub idle_timeout_s: f64,
}

/// Connections served at once; further ones wait to be accepted.
pub const MAX_CONNECTIONS: usize = 64;

/// Serves until the process is stopped. Prints the page's address (with
/// the token, when one is needed) as the first line on stdout.
pub fn serve(opts: ServeOptions) -> Result<()> {
    if !opts.token && !opts.host.is_loopback() {
        anyhow::bail!(
            "--no-token serves every run to whoever reaches {}: it is for 127.0.0.1 on a single-user machine only",
            opts.host
        );
    }
    anyhow::ensure!(
        opts.idle_timeout_s.is_finite() && opts.idle_timeout_s > 0.0,
        "--idle-timeout: {} is not a positive number of seconds",
        opts.idle_timeout_s
    );
    let catalog = Arc::new(api::Served { catalog: catalog::Catalog::new(&opts.dirs)?, rows: Default::default() });
    let token = opts.token.then(guard::new_token);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the web server's runtime")?;
    runtime.block_on(async move {
        let addr = SocketAddr::new(opts.host, opts.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (--host, --port)"))?;
        let bound = listener.local_addr()?;
        let shown = match bound.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
            IpAddr::V6(ip) if ip.is_unspecified() => "::1".to_string(),
            ip => ip.to_string(),
        };
        let query = token.as_ref().map_or_else(String::new, |t| format!("?token={t}"));
        let host = if bound.is_ipv6() { format!("[{shown}]") } else { shown };
        println!("http://{host}:{}/{query}", bound.port());
        use std::io::IsTerminal;
        if token.is_some() && !std::io::stdout().is_terminal() {
            // a batch system's output file may be readable by others
            eprintln!(
                "note: the address above carries the page's token and went to a file or pipe, not a terminal: \
                 whoever can read it can read these runs"
            );
        }
        let found = catalog.runs().len();
        eprintln!(
            "serving {found} run{} under {} (read-only; {}); Ctrl-C stops",
            if found == 1 { "" } else { "s" },
            opts.dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
            if token.is_some() { "open the address above: it carries the token" } else { "no token: --no-token" }
        );
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let guard = guard::Guard::new(token, bound.port(), opts.host.is_loopback());
        let idle = std::time::Duration::from_secs_f64(opts.idle_timeout_s);
        accept(listener, router(catalog, guard), idle).await
    })
}

/// Serves connections from `listener`, at most [`MAX_CONNECTIONS`] at once,
/// each closed when its client sends no complete request head for `idle`.
async fn accept(listener: tokio::net::TcpListener, app: Router, idle: std::time::Duration) -> Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = slots.clone().acquire_owned().await.context("the connection limit")?;
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // out of file descriptors and the like: wait, then go on
                eprintln!("warning: accepting a connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(idle);
            // a connection that fails or times out ends; the server goes on
            let _ = http.serve_connection(TokioIo::new(stream), service).await;
            drop(slot);
        });
    }
}

fn router(catalog: api::Shared, guard: guard::Guard) -> Router {
    Router::new()
        .route("/", get(page::runs))
        .route("/run", get(page::run))
        .route("/compare", get(page::compare))
        .route("/app.js", get(page::script))
        .route("/style.css", get(page::style))
        .route("/api/runs", get(api::runs))
        .route("/api/run", get(api::run))
        .route("/api/evaluations", get(api::evaluations))
        .route("/api/pictures", get(api::pictures))
        .route("/api/compare", get(api::compare))
        .route("/api/stamp", get(api::stamp))
        .with_state(catalog)
        .layer(axum::middleware::from_fn_with_state(Arc::new(guard), guard::check))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(guard::internal_error))
}
