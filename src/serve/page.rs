//! The page itself: three HTML shells (runs, one run, compare), one script
//! that fills them from the JSON endpoints, one style sheet. All of it is
//! compiled into the binary.

use axum::http::header;
use axum::response::{Html, IntoResponse};

const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/style.css");

/// An HTML shell whose body the script fills; `page` tells it which.
fn shell(page: &str, title: &str) -> Html<String> {
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · nas-search</title><link rel=\"stylesheet\" href=\"/style.css\"></head>\
         <body data-page=\"{page}\"><header><a href=\"/\" class=\"brand\">nas-search</a> <span id=\"where\"></span>\
         <span id=\"live\" title=\"the page follows the run's files\"></span></header>\
         <main id=\"main\"></main><script src=\"/app.js\"></script></body></html>\n"
    ))
}

pub async fn runs() -> Html<String> {
    shell("runs", "Runs")
}

pub async fn run() -> Html<String> {
    shell("run", "Run")
}

pub async fn compare() -> Html<String> {
    shell("compare", "Compare")
}

pub async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT)
}

pub async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}
