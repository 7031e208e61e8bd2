//! Draws the architecture diagrams spaces describe ([`Dag`]): nodes as
//! boxes on a grid (columns left to right), edges as curves with their
//! operation written on them, one graph above the other.

use std::fmt::Write;

use super::chart::{PALETTE, esc};
use crate::space::diagram::Dag;

const COL_W: f64 = 200.0;
const ROW_H: f64 = 80.0;
const NODE_W: f64 = 92.0;
const NODE_H: f64 = 30.0;
const ARC_ROOM: f64 = 60.0;
const FONT: &str = "font-family=\"DejaVu Sans, Arial, Helvetica, sans-serif\"";

/// The diagrams as one SVG, with `caption` under them.
pub fn render(dags: &[Dag], caption: &str) -> String {
    let layouts: Vec<Vec<(usize, usize)>> = dags.iter().map(Dag::layout).collect();
    // room for arcs above and below a row: 60 px each way
    let size = |l: &[(usize, usize)]| {
        let cols = l.iter().map(|p| p.0).max().unwrap_or(0) + 1;
        let rows = l.iter().map(|p| p.1).max().unwrap_or(0) + 1;
        (cols as f64 * COL_W + 40.0, rows as f64 * ROW_H + 60.0 + ARC_ROOM * 2.0)
    };
    let caption = wrap(caption, ((layouts.iter().map(|l| size(l).0).fold(400.0, f64::max) - 20.0) / 6.3) as usize);
    let width = layouts.iter().map(|l| size(l).0).fold(400.0, f64::max);
    let height: f64 = layouts.iter().map(|l| size(l).1).sum::<f64>() + 16.0 * caption.len() as f64 + 14.0;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
         <path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n"
    );
    let mut top = 0.0;
    for (dag, layout) in dags.iter().zip(&layouts) {
        draw(&mut out, dag, layout, top);
        top += size(layout).1;
    }
    for (i, line) in caption.iter().enumerate() {
        let y = height - 8.0 - 16.0 * (caption.len() - 1 - i) as f64;
        let _ = writeln!(out, "<text x=\"10\" y=\"{y:.0}\" {FONT} font-size=\"11\" fill=\"#555\">{}</text>", esc(line));
    }
    out.push_str("</svg>\n");
    out
}

/// Colour of an operation: one per distinct name, grey for none/identity.
fn op_color(label: &str, names: &[&str]) -> &'static str {
    if label.is_empty() || label == "none" {
        return "#b0b0b0";
    }
    PALETTE[names.iter().position(|n| *n == label).unwrap_or(0) % PALETTE.len()]
}

fn draw(out: &mut String, dag: &Dag, layout: &[(usize, usize)], top: f64) {
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
    for e in &dag.edges {
        let ((x1, y1), (x2, y2)) = (center(e.from), center(e.to));
        let (sx, ex) =
            if x2 >= x1 { (x1 + NODE_W / 2.0, x2 - NODE_W / 2.0) } else { (x1 - NODE_W / 2.0, x2 + NODE_W / 2.0) };
        let span = ((x2 - x1).abs() / COL_W).round() as usize;
        let color = op_color(&e.label, &names);
        let dash = if e.label == "none" { " stroke-dasharray=\"4,3\"" } else { "" };
        let (path, (mx, my)) = if (y2 - y1).abs() < 1.0 && span > 1 {
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
            (
                format!("M {x1:.1} {sy:.1} C {x1:.1} {cy:.1}, {x2:.1} {cy:.1}, {x2:.1} {ey:.1}"),
                ((x1 + x2) / 2.0, y1 + lift + if above { 0.0 } else { 11.0 }),
            )
        } else {
            let mid = (sx + ex) / 2.0;
            // the label sits 60% of the way, nearer the node the edge feeds:
            // edges crossing in the middle then keep their labels apart
            let t: f64 = 0.6;
            let bez = |a: f64, b: f64, c: f64, d: f64| {
                (1.0 - t).powi(3) * a + 3.0 * (1.0 - t).powi(2) * t * b + 3.0 * (1.0 - t) * t * t * c + t.powi(3) * d
            };
            (
                format!("M {sx:.1} {y1:.1} C {mid:.1} {y1:.1}, {mid:.1} {y2:.1}, {ex:.1} {y2:.1}"),
                (bez(sx, mid, mid, ex), bez(y1, y1, y2, y2) + 4.0),
            )
        };
        let _ = writeln!(
            out,
            "<path class=\"edge\" d=\"{path}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} marker-end=\"url(#arrow)\"/>"
        );
        if !e.label.is_empty() {
            let w = e.label.chars().count() as f64 * 6.2 + 8.0;
            let _ = writeln!(
                out,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"15\" rx=\"3\" fill=\"white\" fill-opacity=\"0.9\"/>\
                 <text x=\"{mx:.1}\" y=\"{:.1}\" {FONT} font-size=\"11\" fill=\"{color}\" text-anchor=\"middle\">{}</text>",
                mx - w / 2.0,
                my - 11.0,
                my,
                esc(&e.label)
            );
        }
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

/// `text` in lines of at most `width` characters (breaking anywhere: genotypes have few spaces).
pub(super) fn wrap(text: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(width.max(20)).map(|c| c.iter().collect()).collect()
}
