//! `nas-search serve`: a live page over run directories, served by the
//! binary itself (no build step, nothing fetched from elsewhere). The runs
//! page lists every run found under the given folders; a run's page shows
//! its pictures, evaluations, top-K, config and log, and follows the run as
//! it goes by polling a fingerprint of its files; a compare page draws
//! several runs' progress together.
//!
//! Safe by default: only GET routes exist (nothing changes a run); it binds
//! 127.0.0.1 unless `--host` says otherwise, and on any other address every
//! request must carry the token printed at start; runs are named by ids the
//! catalog hands out, never by paths (see [`catalog`]).
//!
//! `catalog` finds runs, `overview` reads them leniently, `api` answers the
//! page's requests, `guard` checks the token, `page` holds the page itself.

mod api;
mod catalog;
mod guard;
mod overview;
mod page;

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
}

/// Serves until the process is stopped. Prints the page's address (with
/// the token, when one is needed) as the first line on stdout.
pub fn serve(opts: ServeOptions) -> Result<()> {
    let catalog = Arc::new(catalog::Catalog::new(&opts.dirs)?);
    let token = (!opts.host.is_loopback()).then(guard::new_token);
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
        let found = catalog.runs().len();
        eprintln!(
            "serving {found} run{} under {} (read-only{}); Ctrl-C stops",
            if found == 1 { "" } else { "s" },
            opts.dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
            if token.is_some() { "; the token in the address is needed from other machines" } else { "" }
        );
        use std::io::Write;
        let _ = std::io::stdout().flush();
        axum::serve(listener, router(catalog, token)).await.context("the web server stopped")
    })
}

fn router(catalog: api::Shared, token: Option<String>) -> Router {
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
        .layer(axum::middleware::from_fn_with_state(token.map(Arc::new), guard::check))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(guard::internal_error))
}
