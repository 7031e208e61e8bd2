//! Draws the architecture diagrams spaces describe ([`Dag`]): nodes as
//! boxes on a grid (columns left to right), edges as curves with their
//! operation written on them, one graph above the other, a title above.
//!
//! An edge's label sits on the edge itself, turned along it, in a white box
//! (`class="edge-label"`, `data-edge` naming its edge's `data-edge`): at
//! the midpoint when nothing else is there, else slid along the edge to
//! where no other edge, node or label is.

use std::fmt::Write;

use super::chart::{PALETTE, caption_lines, esc, wrap};
use crate::space::diagram::Dag;

const COL_W: f64 = 200.0;
const ROW_H: f64 = 80.0;
const NODE_W: f64 = 92.0;
const NODE_H: f64 = 30.0;
const ARC_ROOM: f64 = 60.0;
const LABEL_H: f64 = 15.0;
const FONT: &str = "font-family=\"DejaVu Sans, Arial, Helvetica, sans-serif\"";

/// The diagrams as one SVG, with `title` above them and `caption` under them.
pub fn render(dags: &[Dag], title: &str, caption: &str) -> String {
    let layouts: Vec<Vec<(usize, usize)>> = dags.iter().map(Dag::layout).collect();
    // room for arcs above and below a row: 60 px each way
    let size = |l: &[(usize, usize)]| {
        let cols = l.iter().map(|p| p.0).max().unwrap_or(0) + 1;
        let rows = l.iter().map(|p| p.1).max().unwrap_or(0) + 1;
        (cols as f64 * COL_W + 40.0, rows as f64 * ROW_H + 60.0 + ARC_ROOM * 2.0)
    };
    let width = layouts.iter().map(|l| size(l).0).fold(560.0, f64::max);
    let chars = ((width - 20.0) / 6.3) as usize;
    let caption_text = caption;
    let caption = wrap(caption, chars);
    let title = wrap(title, ((width - 20.0) / 8.0) as usize);
    let title_h = 10.0 + 18.0 * title.len() as f64;
    let height: f64 = title_h + layouts.iter().map(|l| size(l).1).sum::<f64>() + 16.0 * caption.len() as f64 + 14.0;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
         <path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n"
    );
    let _ = writeln!(out, "<g class=\"title\">");
    for (i, line) in title.iter().enumerate() {
        let _ = writeln!(
            out,
            "<text x=\"10\" y=\"{:.0}\" {FONT} font-size=\"14\" font-weight=\"bold\">{}</text>",
            22.0 + 18.0 * i as f64,
            esc(line)
        );
    }
    let _ = writeln!(out, "</g>");
    let mut top = title_h;
    let mut first_edge = 0;
    for (dag, layout) in dags.iter().zip(&layouts) {
        draw(&mut out, dag, layout, top, first_edge);
        top += size(layout).1;
        first_edge += dag.edges.len();
    }
    caption_lines(&mut out, caption_text, &caption, 10.0, height - 8.0, 16.0);
    out.push_str("</svg>\n");
    out
}

/// A cubic Bezier curve: its point and its direction at `t`.
#[derive(Clone, Copy, Debug)]
struct Curve([(f64, f64); 4]);

impl Curve {
    fn at(&self, t: f64) -> (f64, f64) {
        let [a, b, c, d] = self.0;
        let u = 1.0 - t;
        let f =
            |a: f64, b: f64, c: f64, d: f64| u * u * u * a + 3.0 * u * u * t * b + 3.0 * u * t * t * c + t * t * t * d;
        (f(a.0, b.0, c.0, d.0), f(a.1, b.1, c.1, d.1))
    }

    fn direction(&self, t: f64) -> (f64, f64) {
        let [a, b, c, d] = self.0;
        let u = 1.0 - t;
        let f = |a: f64, b: f64, c: f64, d: f64| 3.0 * u * u * (b - a) + 6.0 * u * t * (c - b) + 3.0 * t * t * (d - c);
        (f(a.0, b.0, c.0, d.0), f(a.1, b.1, c.1, d.1))
    }

    fn samples(&self) -> Vec<(f64, f64)> {
        (0..=80).map(|i| self.at(i as f64 / 80.0)).collect()
    }

    fn path(&self) -> String {
        let [a, b, c, d] = self.0;
        format!("M {:.1} {:.1} C {:.1} {:.1}, {:.1} {:.1}, {:.1} {:.1}", a.0, a.1, b.0, b.1, c.0, c.1, d.0, d.1)
    }
}

/// A label's box: centre, angle (radians) and half sizes.
#[derive(Clone, Copy, Debug)]
struct LabelBox {
    center: (f64, f64),
    angle: f64,
    half: (f64, f64),
}

impl LabelBox {
    /// `p` in the box's own frame.
    fn local(&self, p: (f64, f64)) -> (f64, f64) {
        let (dx, dy) = (p.0 - self.center.0, p.1 - self.center.1);
        let (s, c) = self.angle.sin_cos();
        (dx * c + dy * s, -dx * s + dy * c)
    }

    fn contains(&self, p: (f64, f64), margin: f64) -> bool {
        let (x, y) = self.local(p);
        x.abs() <= self.half.0 + margin && y.abs() <= self.half.1 + margin
    }

    fn corners(&self) -> [(f64, f64); 4] {
        let (s, c) = self.angle.sin_cos();
        let (w, h) = self.half;
        [(-w, -h), (w, -h), (w, h), (-w, h)]
            .map(|(x, y)| (self.center.0 + x * c - y * s, self.center.1 + x * s + y * c))
    }

    /// Whether two boxes overlap (separating axes of both).
    fn overlaps(&self, other: &LabelBox) -> bool {
        let outside = |a: &LabelBox, b: &LabelBox| {
            let pts = b.corners().map(|p| a.local(p));
            pts.iter().all(|p| p.0 > a.half.0)
                || pts.iter().all(|p| p.0 < -a.half.0)
                || pts.iter().all(|p| p.1 > a.half.1)
                || pts.iter().all(|p| p.1 < -a.half.1)
        };
        !(outside(self, other) || outside(other, self))
    }
}

/// Where along its edge a label goes (as the curve's parameter): the
/// midpoint first, then further out each way, never past 0.2 from either
/// end (so it reads as the edge's, not as the node's it enters or leaves).
fn label_ts() -> impl Iterator<Item = f64> {
    (0..=24usize).map(|i| {
        let side = if i % 2 == 0 { 1.0 } else { -1.0 };
        0.5 + side * i.div_ceil(2) as f64 * 0.025
    })
}

/// The box of a label `w` wide on `curve` at `t`, turned along the curve (kept upright).
fn label_box(curve: &Curve, t: f64, w: f64) -> LabelBox {
    let (dx, dy) = curve.direction(t);
    let mut angle = dy.atan2(dx);
    if angle > std::f64::consts::FRAC_PI_2 {
        angle -= std::f64::consts::PI;
    } else if angle < -std::f64::consts::FRAC_PI_2 {
        angle += std::f64::consts::PI;
    }
    LabelBox { center: curve.at(t), angle, half: (w / 2.0, LABEL_H / 2.0) }
}

/// Colour of an operation: one per distinct name, grey for none/identity.
fn op_color(label: &str, names: &[&str]) -> &'static str {
    if label.is_empty() || label == "none" {
        return "#b0b0b0";
    }
    PALETTE[names.iter().position(|n| *n == label).unwrap_or(0) % PALETTE.len()]
}

fn draw(out: &mut String, dag: &Dag, layout: &[(usize, usize)], top: f64, first_edge: usize) {
    let _ = writeln!(
        out,
        "<text x=\"20\" y=\"{:.0}\" {FONT} font-size=\"15\" font-weight=\"bold\">{}</text>",
        top + 24.0,
        esc(&dag.title)
    );
    let center = |i: usize| {
        let (c, r) = layout[i];
        (40.0 + c as f64 * COL_W + NODE_W / 2.0, top + 50.0 + ARC_ROOM + r as f64 * ROW_H + NODE_H / 2.0)
    };
    let mut names: Vec<&str> =
        dag.edges.iter().map(|e| e.label.as_str()).filter(|l| !l.is_empty() && *l != "none").collect();
    names.sort();
    names.dedup();
    // edges that skip columns on one row arc over (then under) the ones between
    let mut arcs_above = 0usize;
    let mut arcs_below = 0usize;
    let is_arc = |from: usize, to: usize| {
        let ((x1, y1), (x2, y2)) = (center(from), center(to));
        (y2 - y1).abs() < 1.0 && ((x2 - x1).abs() / COL_W).round() as usize > 1
    };
    // edges leave and enter a node's side at their own heights (ports), in
    // the order of the nodes at their other ends: two edges from one node
    // do not run on top of each other, so a label sits on one edge only
    let port = |node: usize, edge: usize, outgoing: bool| {
        let mut side: Vec<(f64, usize)> = dag
            .edges
            .iter()
            .enumerate()
            .filter(|(_, e)| (if outgoing { e.from } else { e.to }) == node && !is_arc(e.from, e.to))
            .map(|(k, e)| (center(if outgoing { e.to } else { e.from }).1, k))
            .collect();
        side.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let n = side.len();
        let at = side.iter().position(|s| s.1 == edge).unwrap_or(0);
        if n < 2 { 0.0 } else { (at as f64 / (n - 1) as f64 - 0.5) * (NODE_H - 8.0) }
    };
    let curves: Vec<Curve> = dag
        .edges
        .iter()
        .enumerate()
        .map(|(k, e)| {
            let ((x1, y1), (x2, y2)) = (center(e.from), center(e.to));
            if is_arc(e.from, e.to) {
                let above = arcs_above <= arcs_below;
                let level = if above { arcs_above } else { arcs_below } + 1;
                if above {
                    arcs_above += 1
                } else {
                    arcs_below += 1
                }
                let lift = if above { -1.0 } else { 1.0 } * (18.0 + 22.0 * level as f64);
                let (sy, ey) = (y1 + lift.signum() * NODE_H / 2.0, y2 + lift.signum() * NODE_H / 2.0);
                let cy = y1 + lift * 1.35;
                Curve([(x1, sy), (x1, cy), (x2, cy), (x2, ey)])
            } else {
                let (sx, ex) = if x2 >= x1 {
                    (x1 + NODE_W / 2.0, x2 - NODE_W / 2.0)
                } else {
                    (x1 - NODE_W / 2.0, x2 + NODE_W / 2.0)
                };
                let (y1, y2) = (y1 + port(e.from, k, true), y2 + port(e.to, k, false));
                let mid = (sx + ex) / 2.0;
                Curve([(sx, y1), (mid, y1), (mid, y2), (ex, y2)])
            }
        })
        .collect();
    for (i, (e, curve)) in dag.edges.iter().zip(&curves).enumerate() {
        let color = op_color(&e.label, &names);
        let dash = if e.label == "none" { " stroke-dasharray=\"4,3\"" } else { "" };
        let _ = writeln!(
            out,
            "<path class=\"edge\" data-edge=\"{}\" d=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} marker-end=\"url(#arrow)\"/>",
            first_edge + i,
            curve.path()
        );
    }
    // labels after every edge, so no edge is drawn over one
    let samples: Vec<Vec<(f64, f64)>> = curves.iter().map(Curve::samples).collect();
    let nodes: Vec<LabelBox> = (0..dag.nodes.len())
        .map(|i| LabelBox { center: center(i), angle: 0.0, half: (NODE_W / 2.0, NODE_H / 2.0) })
        .collect();
    let mut placed: Vec<LabelBox> = Vec::new();
    for (i, (e, curve)) in dag.edges.iter().zip(&curves).enumerate() {
        if e.label.is_empty() {
            continue;
        }
        let w = e.label.chars().count() as f64 * 6.4 + 8.0;
        // what a label at t would cover: points of other edges, nodes, labels placed before
        let clashes = |b: &LabelBox| {
            let edges: usize = samples
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, s)| s.iter().filter(|p| b.contains(**p, 2.0)).count())
                .sum();
            let boxes = nodes.iter().chain(&placed).filter(|o| b.overlaps(o)).count();
            edges + 100 * boxes
        };
        let candidates: Vec<LabelBox> = label_ts().map(|t| label_box(curve, t, w)).collect();
        let best = candidates
            .iter()
            .position(|b| clashes(b) == 0)
            .unwrap_or_else(|| (0..candidates.len()).min_by_key(|k| (clashes(&candidates[*k]), *k)).unwrap_or(0));
        let b = candidates[best];
        placed.push(b);
        let color = op_color(&e.label, &names);
        let _ = writeln!(
            out,
            "<g class=\"edge-label\" data-edge=\"{}\" transform=\"translate({:.1},{:.1}) rotate({:.1})\">\
             <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{LABEL_H}\" rx=\"3\" fill=\"white\" stroke=\"{color}\" stroke-width=\"0.8\"/>\
             <text x=\"0\" y=\"4\" {FONT} font-size=\"11\" fill=\"{color}\" text-anchor=\"middle\">{}</text></g>",
            first_edge + i,
            b.center.0,
            b.center.1,
            b.angle.to_degrees(),
            -w / 2.0,
            -LABEL_H / 2.0,
            esc(&e.label)
        );
    }
    for (i, node) in dag.nodes.iter().enumerate() {
        let (x, y) = center(i);
        let fill = if node.io { "#e8eef7" } else { "#fff7e0" };
        let _ = writeln!(
            out,
            "<g class=\"node\"><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"6\" fill=\"{fill}\" stroke=\"#444\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" {FONT} font-size=\"12\" text-anchor=\"middle\">{}</text></g>",
            x - NODE_W / 2.0,
            y - NODE_H / 2.0,
            y + 4.0,
            esc(&node.label)
        );
    }
}
