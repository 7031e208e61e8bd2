//! The page's data, as JSON (and the pictures, as SVG): one handler per
//! endpoint, each reading a run found by its id through the catalog. A run
//! that is not there is a 404 naming the id; what a run's files cannot give
//! comes back as warnings beside what they can.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::catalog::{Catalog, RunRef};
use super::overview::{self, Overview, csv_table, overview, records, tail, text};
use crate::eval::command::COMMAND;
use crate::inspect::BestFormat;
use crate::run::records::EvalRecord;

/// What the handlers share: the catalog, and the runs page's rows kept between requests.
pub struct Served {
    pub catalog: Catalog,
    pub rows: overview::Rows,
}

impl std::ops::Deref for Served {
    type Target = Catalog;

    fn deref(&self) -> &Catalog {
        &self.catalog
    }
}

pub type Shared = Arc<Served>;

/// An answer that is not the data asked for: a status and a sentence.
pub struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

#[derive(Deserialize)]
pub struct RunQuery {
    run: String,
}

/// The run called `id`, if it is here and readable.
fn find(catalog: &Catalog, id: &str) -> Result<RunRef, Refusal> {
    let run = catalog.find(id).ok_or_else(|| Refusal(StatusCode::NOT_FOUND, format!("no run called {id:?} here")))?;
    match &run.refused {
        Some(reason) => Err(Refusal(StatusCode::FORBIDDEN, format!("{id} is not read: {reason}"))),
        None => Ok(run),
    }
}

/// Runs `work` (file reads) on the blocking pool, so that a slow disk
/// holds up only its own request.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, Refusal> + Send + 'static) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|_| Err(Refusal(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())))
}

/// Every run, for the runs page.
pub async fn runs(State(catalog): State<Shared>) -> Result<Json<Vec<Overview>>, Refusal> {
    blocking(move || {
        let runs = catalog.runs();
        catalog.rows.keep_only(&runs);
        Ok(Json(runs.iter().map(|r| catalog.rows.overview(r)).collect()))
    })
    .await
}

/// The run page's data, but for the evaluations and the pictures.
#[derive(Serialize)]
pub struct RunPage {
    overview: Overview,
    config: Option<String>,
    topk: Table,
    log: Option<String>,
    /// Slurm runs: the tasks in flight and the submissions log.
    inflight: Option<Value>,
    submissions: Option<String>,
    /// The best architecture in each form `nas-search best` prints for this space.
    best: Vec<BestForm>,
    warnings: Vec<String>,
}

#[derive(Serialize)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

#[derive(Serialize)]
pub struct BestForm {
    format: &'static str,
    text: String,
}

pub async fn run(State(catalog): State<Shared>, Query(q): Query<RunQuery>) -> Result<Json<RunPage>, Refusal> {
    blocking(move || run_page(&catalog, &q.run)).await
}

fn run_page(catalog: &Catalog, id: &str) -> Result<Json<RunPage>, Refusal> {
    let run = find(catalog, id)?;
    let mut warnings = Vec::new();
    let (headers, rows) = csv_table(&run.dir, "topk.csv", &mut warnings);
    let inflight = text(&run.dir, "slurm/inflight.json", &mut warnings).and_then(|t| match serde_json::from_str(&t) {
        Ok(v) => Some(v),
        Err(e) => {
            warnings.push(format!("slurm/inflight.json: cannot be read now ({e})"));
            None
        }
    });
    // found once, printed in each format `best` has that fits the run's space
    // `best` reads by path: it reads a copy made through the guard
    let snap = super::snapshot::snapshot(&run);
    let best = snap
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .and_then(|s| crate::inspect::BestFound::load(s.dir()))
        .map_or_else(
            |_| Vec::new(),
            |found| {
                <BestFormat as clap::ValueEnum>::value_variants()
                    .iter()
                    .filter_map(|&format| {
                        Some(BestForm {
                            format: crate::inspect::format_name(format),
                            text: found.render(format).ok()?.text,
                        })
                    })
                    .collect()
            },
        );
    Ok(Json(RunPage {
        overview: overview(&run),
        config: text(&run.dir, "config.yaml", &mut warnings),
        topk: Table { headers, rows },
        log: tail(&run.dir, "run.log", &mut warnings),
        inflight,
        submissions: tail(&run.dir, "slurm/submissions.log", &mut warnings),
        best,
        warnings,
    }))
}

/// A row of the evaluations table: the record, and the command it ran.
#[derive(Serialize)]
pub struct EvalRow {
    #[serde(flatten)]
    record: EvalRecord,
    command: Option<String>,
}

#[derive(Serialize)]
pub struct Evaluations {
    rows: Vec<EvalRow>,
    warnings: Vec<String>,
}

pub async fn evaluations(
    State(catalog): State<Shared>,
    Query(q): Query<RunQuery>,
) -> Result<Json<Evaluations>, Refusal> {
    blocking(move || evaluation_rows(&catalog, &q.run)).await
}

fn evaluation_rows(catalog: &Catalog, id: &str) -> Result<Json<Evaluations>, Refusal> {
    let run = find(catalog, id)?;
    let overview::Records { evals, warnings, .. } = records(&run);
    let rows = evals
        .into_iter()
        .map(|record| {
            let command = serde_json::from_str::<Value>(&record.extra)
                .ok()
                .and_then(|v| v.get(COMMAND).and_then(Value::as_str).map(str::to_string));
            EvalRow { record, command }
        })
        .collect();
    Ok(Json(Evaluations { rows, warnings }))
}

/// The pictures as the run stands, drawn now.
#[derive(Serialize)]
pub struct Pictures {
    pictures: Vec<Picture>,
    /// Why none could be drawn, if so.
    error: Option<String>,
}

#[derive(Serialize)]
pub struct Picture {
    name: &'static str,
    svg: String,
}

pub async fn pictures(State(catalog): State<Shared>, Query(q): Query<RunQuery>) -> Result<Json<Pictures>, Refusal> {
    blocking(move || {
        let run = find(&catalog, &q.run)?;
        // the plots read by path: they read a copy made through the guard
        let drawn = super::snapshot::snapshot(&run)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .and_then(|snap| crate::plot::pictures(snap.dir()));
        Ok(Json(match drawn {
            Ok(drawn) => {
                Pictures { pictures: drawn.into_iter().map(|(name, svg)| Picture { name, svg }).collect(), error: None }
            }
            Err(e) => Pictures { pictures: Vec::new(), error: Some(format!("{e:#}")) },
        }))
    })
    .await
}

/// The most runs one compare picture draws.
pub const MAX_COMPARED: usize = 32;

/// Several runs' progress in one picture: `?run=ID&run=ID...`.
pub async fn compare(
    State(catalog): State<Shared>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, Refusal> {
    let mut ids: Vec<String> = pairs.into_iter().filter(|(k, _)| k == "run").map(|(_, v)| v).collect();
    if ids.is_empty() {
        return Err(Refusal(StatusCode::BAD_REQUEST, "name the runs to compare: ?run=ID&run=ID".into()));
    }
    // each id is a run to find and load: a bounded number, each once
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    if ids.len() > MAX_COMPARED {
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            format!("{} runs named: compare at most {MAX_COMPARED} at once", ids.len()),
        ));
    }
    blocking(move || {
        let dirs = ids.iter().map(|id| find(&catalog, id).map(|r| r.dir)).collect::<Result<Vec<_>, _>>()?;
        let svg =
            crate::plot::compared(&dirs).map_err(|e| Refusal(StatusCode::UNPROCESSABLE_ENTITY, format!("{e:#}")))?;
        Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
    })
    .await
}

/// A fingerprint of the run (its files' sizes and times, and its status,
/// which a killed process changes without touching a file): the page
/// polls it and fetches again when it changes.
pub async fn stamp(State(catalog): State<Shared>, Query(q): Query<RunQuery>) -> Result<String, Refusal> {
    blocking(move || {
        let run = find(&catalog, &q.run)?;
        let status = serde_json::to_string(&overview::status(&run, &mut Vec::new())).unwrap_or_default();
        Ok(format!("{status};{}", fingerprint(&run.dir)))
    })
    .await
}

fn fingerprint(dir: &std::path::Path) -> String {
    let mut parts: Vec<String> = ["", "slurm", "predictor"]
        .iter()
        // a run that is read has folders here, not links (see catalog)
        .filter_map(|sub| overview::stamp(&dir.join(sub)))
        .flatten()
        .filter_map(|(name, len, modified)| {
            let t = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
            Some(format!("{}:{len}:{}", name.to_string_lossy(), t.as_nanos()))
        })
        .collect();
    parts.sort();
    parts.join(";")
}
