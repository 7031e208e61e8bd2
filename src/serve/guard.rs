//! Who may read: with a token (served on an address other machines reach),
//! a request must carry it, in the address (`?token=`, as printed at start)
//! or in the cookie the first such page sets. Also the answer to a handler
//! that panicked: a plain 500, no backtrace.

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

pub async fn check(State(token): State<Option<Arc<String>>>, req: Request, next: Next) -> Response {
    let Some(token) = token else { return next.run(req).await };
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
