//! Who may read: with a token (served on an address other machines reach),
//! a request must carry it, in the address (`?token=`, as printed at start)
//! or in the cookie the first such page sets; without one (127.0.0.1), a
//! request must name this machine as its host, so that a web site whose
//! name is made to point at 127.0.0.1 (DNS rebinding) cannot read the
//! runs. Every answer says the page runs only its own script and is not
//! framed. Also the answer to a handler that panicked: a plain 500, no
//! backtrace.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;

const COOKIE: &str = "nas_search_token";

/// A fresh token: 128 random bits from the OS's generator, as hex.
pub fn new_token() -> String {
    let bits: u128 = rand::rng().random();
    format!("{bits:032x}")
}

/// Equal, compared in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn presented(req: &Request) -> (Option<String>, Option<String>) {
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
        .filter_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('=').map(str::to_string))
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

pub async fn check(State(token): State<Option<Arc<String>>>, req: Request, next: Next) -> Response {
    let mut res = admit(token, req, next).await;
    harden(&mut res);
    res
}

async fn admit(token: Option<Arc<String>>, req: Request, next: Next) -> Response {
    let Some(token) = token else {
        if !local_host(&req) {
            let why = "this server answers to localhost only; to be reached from elsewhere, start it with --host \
                       (it then prints an address with a token)\n";
            return (StatusCode::FORBIDDEN, why).into_response();
        }
        return next.run(req).await;
    };
    let (query, cookie) = presented(&req);
    let by_query = query.as_deref().is_some_and(|q| same(q, &token));
    if !by_query && !cookie.as_deref().is_some_and(|c| same(c, &token)) {
        return (
            StatusCode::UNAUTHORIZED,
            "this page needs the token nas-search serve printed at start (?token=...)\n",
        )
            .into_response();
    }
    let mut res = next.run(req).await;
    if by_query {
        let value = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
        if let Ok(v) = HeaderValue::from_str(&value) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

pub fn internal_error(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error: the server could not answer this request\n").into_response()
}
