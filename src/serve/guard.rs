//! Who may read. By default every request must carry the token printed at
//! start, in the address (`?token=`, as printed) or in the cookie the first
//! such page sets, named after the port (browsers do not keep cookies
//! apart by port: two servers on one host must not log each other out, nor
//! another service on the host receive it); on a shared login node every
//! user of the machine reaches a loopback port. `--no-token` (a
//! single-user machine, loopback only) drops it. On a loopback address a
//! request must also name this machine as its host, so that a web site
//! whose name is made to point at 127.0.0.1 (DNS rebinding) cannot read the
//! runs; and a request another site's page made (`Sec-Fetch-Site`,
//! `Origin`: an `<img>` or a script elsewhere pointing here) is refused,
//! but for a plain navigation, which shows the page without handing it to
//! the other site. Every answer says the page runs only its own script and
//! is not framed. Also the answer to a handler that panicked: a plain 500,
//! no backtrace.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;

/// What the guard checks, fixed at start.
pub struct Guard {
    /// The token every request must carry (None: `--no-token`).
    pub token: Option<String>,
    /// The cookie that stands for it: `nas_search_token_PORT`.
    pub cookie: String,
    /// Served on a loopback address: the Host must name this machine.
    pub loopback: bool,
}

impl Guard {
    pub fn new(token: Option<String>, port: u16, loopback: bool) -> Self {
        Self { token, cookie: format!("nas_search_token_{port}"), loopback }
    }
}

/// A fresh token: 128 random bits from the OS's generator, as hex.
pub fn new_token() -> String {
    let bits: u128 = rand::rng().random();
    format!("{bits:032x}")
}

/// Equal, compared in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn presented(req: &Request, name: &str) -> (Option<String>, Option<String>) {
    let query = req
        .uri()
        .query()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned()));
    let cookie = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(name)?.strip_prefix('=').map(str::to_string))
        .next();
    (query, cookie)
}

/// Whether the request's Host names this machine (`localhost`, a loopback address).
fn local_host(req: &Request) -> bool {
    let Some(host) = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Headers on every answer: only the page's own script and styles run,
/// images come from here or the page's blobs, no frame shows it.
fn harden(res: &mut Response) {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; img-src 'self' blob:; object-src 'none'; frame-ancestors 'none'"),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
}

/// Why a request made by another site's page is refused, if it is one:
/// `Sec-Fetch-Site` other than same-origin or none (the user's own
/// navigation), or an `Origin` other than the Host; a navigation to a page
/// is let through (the other site cannot read what it shows).
fn cross_site(req: &Request) -> Option<String> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let navigation = header("sec-fetch-mode") == Some("navigate") && !req.uri().path().starts_with("/api/");
    if navigation {
        return None;
    }
    if let Some(site) = header("sec-fetch-site").filter(|s| !matches!(*s, "same-origin" | "none")) {
        return Some(format!("a request made by another site's page (Sec-Fetch-Site: {site})"));
    }
    let origin = header("origin")?;
    let host = header("host").unwrap_or("");
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    (!origin_host.eq_ignore_ascii_case(host)).then(|| format!("a request from another origin ({origin})"))
}

pub async fn check(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let mut res = admit(&guard, req, next).await;
    harden(&mut res);
    res
}

async fn admit(guard: &Guard, req: Request, next: Next) -> Response {
    if guard.loopback && !local_host(&req) {
        let why = "this server answers to localhost only; to be reached from elsewhere, start it with --host\n";
        return (StatusCode::FORBIDDEN, why).into_response();
    }
    if let Some(why) = cross_site(&req) {
        return (StatusCode::FORBIDDEN, format!("refused: {why}\n")).into_response();
    }
    let Some(token) = &guard.token else {
        return next.run(req).await;
    };
    let (query, cookie) = presented(&req, &guard.cookie);
    let by_query = query.as_deref().is_some_and(|q| same(q, token));
    if !by_query && !cookie.as_deref().is_some_and(|c| same(c, token)) {
        return (
            StatusCode::UNAUTHORIZED,
            "this page needs the token nas-search serve printed at start (the address it printed, with ?token=...)\n",
        )
            .into_response();
    }
    let mut res = next.run(req).await;
    if by_query {
        let value = format!("{}={token}; Path=/; HttpOnly; SameSite=Strict", guard.cookie);
        if let Ok(v) = HeaderValue::from_str(&value) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

pub fn internal_error(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error: the server could not answer this request\n").into_response()
}
