// nas-search serve: fills the page from the JSON endpoints and follows the
// run by polling. Every text from a run goes in through textContent, never
// as markup; pictures are shown as images (an SVG in an <img> runs nothing).
"use strict";

const POLL_MS = 2000;
const params = new URLSearchParams(location.search);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) e.append(c instanceof Node ? c : String(c));
  return e;
}

async function api(path) {
  const res = await fetch(path, { credentials: "same-origin" });
  const body = await res.json().catch(() => ({ error: res.statusText }));
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function runLink(id) { return "/run?run=" + encodeURIComponent(id); }
function pct(v) { return v === null || v === undefined || v === "" ? "" : Number(v).toFixed(2); }
function ago(s) {
  if (s === null || s === undefined) return "";
  if (s < 90) return s + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  if (s < 172800) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " days ago";
}
function statusText(st) {
  if (st.state === "running") return "running (" + st.holder + ")";
  if (st.state === "stopped") return "stopped: " + st.error;
  if (st.state === "refused") return "not read: " + st.reason;
  return st.state;
}
function setLive(text) { document.getElementById("live").textContent = text; }

// A table whose columns sort on a click of their header.
function sortableTable(id, columns, rows, state, rowAttrs) {
  const sorted = rows.slice();
  if (state.key !== undefined) {
    const col = columns.find(c => c.key === state.key);
    sorted.sort((a, b) => {
      const x = col.sort ? col.sort(a) : col.value(a), y = col.sort ? col.sort(b) : col.value(b);
      const nx = typeof x === "number" || (x !== "" && !isNaN(x)), ny = typeof y === "number" || (y !== "" && !isNaN(y));
      const r = nx && ny ? Number(x) - Number(y) : String(x).localeCompare(String(y));
      return state.desc ? -r : r;
    });
  }
  const head = el("tr", {}, columns.map(c => el("th", {
    "data-key": c.key,
    class: state.key === c.key ? (state.desc ? "sorted-desc" : "sorted-asc") : undefined,
    onclick: () => { state.desc = state.key === c.key ? !state.desc : false; state.key = c.key; state.redraw(); },
  }, c.title)));
  const body = sorted.map(r => el("tr", rowAttrs ? rowAttrs(r) : {}, columns.map(c => {
    const v = c.cell ? c.cell(r) : c.value(r);
    return el("td", { class: c.class }, v);
  })));
  return el("table", { id }, el("thead", {}, head), el("tbody", {}, body));
}

// ---- runs page -------------------------------------------------------------

const runsState = { key: undefined, desc: false, selected: new Set(), data: [] };

const RUN_COLUMNS = [
  { key: "pick", title: "", value: () => "", cell: r => el("input", {
      type: "checkbox", class: "pick", "data-run": r.id, ...(runsState.selected.has(r.id) ? { checked: "" } : {}),
      onchange: e => { e.target.checked ? runsState.selected.add(r.id) : runsState.selected.delete(r.id); drawCompareButton(); },
    }) },
  { key: "name", title: "run", value: r => r.name, cell: r => el("a", { href: runLink(r.id), class: "run-link" }, r.name) },
  { key: "id", title: "directory", value: r => r.id, class: "muted" },
  { key: "space", title: "space", value: r => r.space },
  { key: "strategy", title: "strategy", value: r => r.strategy },
  { key: "evaluator", title: "evaluator", value: r => r.evaluator },
  { key: "status", title: "status", value: r => statusText(r.status),
    cell: r => el("span", { class: "status status-" + r.status.state }, statusText(r.status)) },
  { key: "done", title: "evaluations", value: r => r.done, class: "num",
    cell: r => el("span", {}, el("span", { class: "done" }, r.done), r.planned ? " / " + r.planned : "") },
  { key: "failures", title: "failed", value: r => r.failures, class: "num failures" },
  { key: "best", title: "best so far (%)", value: r => r.best ? (r.best.report_accuracy ?? r.best.accuracy ?? -1) : -1, class: "num",
    cell: r => r.best ? pct(r.best.report_accuracy ?? r.best.accuracy) : "" },
  { key: "started", title: "started (UTC)", value: r => (r.started || "").replace("T", " ").replace("Z", "") },
  { key: "activity", title: "last activity", value: r => -(r.idle_s ?? 1e12), cell: r => ago(r.idle_s) },
];

function drawCompareButton() {
  const b = document.getElementById("compare");
  b.disabled = runsState.selected.size < 2;
  b.textContent = "compare " + (runsState.selected.size || "") + " selected";
}

function drawRuns() {
  const main = document.getElementById("main");
  const warnings = runsState.data.flatMap(r => r.warnings.map(w => r.id + ": " + w));
  main.replaceChildren(
    el("div", { class: "filters" }, el("button", { id: "compare", onclick: () => {
      const q = [...runsState.selected].map(id => "run=" + encodeURIComponent(id)).join("&");
      location.href = "/compare?" + q;
    } }, "compare"), el("span", { class: "muted" }, runsState.data.length + (runsState.data.length === 1 ? " run" : " runs"))),
    sortableTable("runs", RUN_COLUMNS, runsState.data, runsState, r => ({ "data-run": r.id })),
    warnings.length ? el("ul", { class: "warnings" }, warnings.map(w => el("li", {}, w))) : "",
  );
  drawCompareButton();
}
runsState.redraw = drawRuns;

async function runsPage() {
  document.getElementById("where").textContent = "runs";
  for (;;) {
    try {
      runsState.data = await api("/api/runs");
      drawRuns();
      setLive("updated " + new Date().toLocaleTimeString());
    } catch (e) { setLive("cannot reach the server: " + e.message); }
    await new Promise(r => setTimeout(r, POLL_MS));
  }
}

// ---- run page --------------------------------------------------------------

const evalState = { key: undefined, desc: false, rows: [], status: "all", phase: "all", round: "all" };
const EVAL_COLUMNS = [
  { key: "n", title: "#", value: r => r.n, class: "num" },
  { key: "status", title: "status", value: r => r.status },
  { key: "phase", title: "phase", value: r => r.phase },
  { key: "round", title: "round", value: r => r.round, class: "num" },
  { key: "accuracy", title: "accuracy", value: r => r.accuracy ?? -1, cell: r => pct(r.accuracy), class: "num" },
  { key: "report", title: "report accuracy", value: r => r.report_accuracy ?? -1, cell: r => pct(r.report_accuracy), class: "num" },
  { key: "seconds", title: "seconds", value: r => r.seconds, cell: r => Number(r.seconds).toFixed(1), class: "num" },
  { key: "params", title: "params", value: r => r.params, class: "num" },
  { key: "macs", title: "MACs", value: r => r.macs, class: "num" },
  { key: "genotype", title: "genotype", value: r => r.genotype, class: "genotype" },
  { key: "command", title: "command / error", value: r => r.error || r.command || "", class: "command" },
];

function filteredEvals() {
  return evalState.rows.filter(r =>
    (evalState.status === "all" || r.status === evalState.status) &&
    (evalState.phase === "all" || r.phase === evalState.phase) &&
    (evalState.round === "all" || String(r.round) === evalState.round));
}

function drawEvals() {
  const box = document.getElementById("evaluations");
  const choice = (id, label, key, values) => el("label", {}, label + " ", el("select", {
    id, onchange: e => { evalState[key] = e.target.value; drawEvals(); },
  }, ["all", ...values].map(v => el("option", { value: v, ...(evalState[key] === String(v) ? { selected: "" } : {}) }, v))));
  const uniq = f => [...new Set(evalState.rows.map(f))].map(String);
  const rows = filteredEvals();
  box.replaceChildren(
    el("div", { class: "filters" },
      choice("filter-status", "status", "status", ["ok", "failed"]),
      choice("filter-phase", "phase", "phase", uniq(r => r.phase)),
      choice("filter-round", "round", "round", uniq(r => r.round)),
      el("span", { class: "muted", id: "eval-count" }, rows.length + " of " + evalState.rows.length + " evaluations")),
    sortableTable("evals", EVAL_COLUMNS, rows, evalState, r => ({ class: r.status === "failed" ? "failed" : undefined })),
  );
}
evalState.redraw = drawEvals;

function copy(text, button) {
  const done = () => { const t = button.textContent; button.textContent = "copied"; setTimeout(() => button.textContent = t, 1200); };
  if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text).then(done); return; }
  const area = el("textarea", {}, text);
  document.body.append(area); area.select(); document.execCommand("copy"); area.remove(); done();
}

function table(id, t) {
  if (!t.headers.length) return el("p", { class: "muted" }, "none yet");
  return el("table", { id }, el("thead", {}, el("tr", {}, t.headers.map(h => el("th", {}, h)))),
    el("tbody", {}, t.rows.map(r => el("tr", {}, r.map(v => el("td", {}, v))))));
}

const pictureUrls = [];
function drawPictures(p) {
  const box = document.getElementById("pictures");
  pictureUrls.splice(0).forEach(u => URL.revokeObjectURL(u));
  if (p.error) { box.replaceChildren(el("p", { class: "warnings" }, "no pictures yet: " + p.error)); return; }
  box.replaceChildren(...p.pictures.map(pic => {
    const url = URL.createObjectURL(new Blob([pic.svg], { type: "image/svg+xml" }));
    pictureUrls.push(url);
    return el("figure", {}, el("img", { src: url, alt: pic.name, "data-name": pic.name }), el("figcaption", { class: "muted" }, pic.name));
  }));
}

async function refreshRun(id) {
  const [page, evals, pics] = await Promise.all([
    api("/api/run?run=" + encodeURIComponent(id)),
    api("/api/evaluations?run=" + encodeURIComponent(id)),
    api("/api/pictures?run=" + encodeURIComponent(id)),
  ]);
  const o = page.overview;
  document.title = o.name + " · nas-search";
  document.getElementById("where").textContent = o.name + " (" + o.id + ")";
  document.getElementById("summary").replaceChildren(
    el("span", { class: "status status-" + o.status.state, id: "run-status" }, statusText(o.status)), " · ",
    [o.space, o.strategy, o.evaluator + " evaluator"].join(" · "), " · ",
    el("span", { id: "run-done" }, o.done), (o.planned ? " / " + o.planned : "") + " evaluations, ",
    o.failures + " failed",
    o.best ? " · best so far " + pct(o.best.report_accuracy ?? o.best.accuracy) + "%" : "");
  document.getElementById("best").replaceChildren(...(page.best.length ? page.best.map(b => el("div", { class: "best-forms" },
    el("button", { class: "copy", "data-format": b.format, onclick: e => copy(b.text, e.target) }, "copy " + b.format),
    el("code", {}, b.text.length > 160 ? b.text.slice(0, 160) + "…" : b.text))) : [el("p", { class: "muted" }, "no successful evaluation yet")]));
  evalState.rows = evals.rows.map((r, i) => ({ ...r, n: i + 1 }));
  drawEvals();
  drawPictures(pics);
  document.getElementById("topk").replaceChildren(table("topk-table", page.topk));
  document.getElementById("config").textContent = page.config || "";
  document.getElementById("log").textContent = page.log || "";
  const slurm = document.getElementById("slurm");
  slurm.hidden = !page.inflight && !page.submissions;
  document.getElementById("inflight").textContent = page.inflight ? JSON.stringify(page.inflight, null, 2) : "(none)";
  document.getElementById("submissions").textContent = page.submissions || "(none)";
  const warnings = [...page.warnings, ...o.warnings, ...evals.warnings];
  document.getElementById("warnings").replaceChildren(...warnings.map(w => el("li", {}, w)));
}

async function runPage() {
  const id = params.get("run");
  const section = (title, id, extra) => [el("h2", {}, title), el("div", { id, ...extra })];
  document.getElementById("main").replaceChildren(
    el("div", { id: "summary" }), el("ul", { id: "warnings", class: "warnings" }),
    ...section("Pictures", "pictures", { class: "pictures" }),
    ...section("Best architecture", "best"),
    ...section("Evaluations", "evaluations"),
    ...section("Top-K per round", "topk"),
    el("div", { id: "slurm", hidden: "" }, el("h2", {}, "Slurm: tasks in flight"), el("pre", { id: "inflight" }),
      el("h2", {}, "Slurm: submissions.log"), el("pre", { id: "submissions" })),
    el("h2", {}, "run.log (last lines)"), el("pre", { id: "log" }),
    el("h2", {}, "Config"), el("pre", { id: "config" }));
  let stamp = null;
  for (;;) {
    try {
      const now = await fetch("/api/stamp?run=" + encodeURIComponent(id), { credentials: "same-origin" });
      if (!now.ok) throw new Error((await now.json().catch(() => ({}))).error || now.statusText);
      const text = await now.text();
      if (text !== stamp) { await refreshRun(id); stamp = text; }
      setLive("updated " + new Date().toLocaleTimeString());
    } catch (e) { setLive("cannot read this run: " + e.message); }
    await new Promise(r => setTimeout(r, POLL_MS));
  }
}

// ---- compare page ----------------------------------------------------------

async function comparePage() {
  const ids = params.getAll("run");
  document.getElementById("where").textContent = "compare " + ids.length + " runs";
  const q = ids.map(id => "run=" + encodeURIComponent(id)).join("&");
  const img = el("img", { id: "compare-picture", alt: "progress of the compared runs" });
  const error = el("p", { class: "warnings", id: "compare-error" });
  document.getElementById("main").replaceChildren(
    el("ul", {}, ids.map(id => el("li", {}, el("a", { href: runLink(id) }, id)))), error, img);
  for (;;) {
    try {
      const res = await fetch("/api/compare?" + q, { credentials: "same-origin" });
      if (!res.ok) throw new Error((await res.json().catch(() => ({}))).error || res.statusText);
      const old = img.src;
      img.src = URL.createObjectURL(new Blob([await res.text()], { type: "image/svg+xml" }));
      if (old) URL.revokeObjectURL(old);
      error.textContent = "";
      setLive("updated " + new Date().toLocaleTimeString());
    } catch (e) { error.textContent = e.message; }
    await new Promise(r => setTimeout(r, 5 * POLL_MS));
  }
}

({ runs: runsPage, run: runPage, compare: comparePage })[document.body.dataset.page]();
