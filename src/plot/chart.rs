//! A small SVG chart: one panel with axes, nice ticks, grid, a title, axis
//! labels and a legend, holding lines, points, bands and marker lines. Text
//! is SVG `<text>` (the viewer draws the font), so nothing here needs fonts
//! or system libraries. Marks carry a `class` (`series`, `point`, `band`,
//! `marker`) so tests can count them; the plot area is `frame`, the legend
//! `legend` (under the plot area, never over data), the caption `caption`.

use std::fmt::Write;

/// Colours of successive series (colour-blind friendly, Okabe-Ito).
pub const PALETTE: [&str; 8] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];

/// A grey for context marks.
pub const GREY: &str = "#9a9a9a";

/// One thing drawn in a panel.
#[derive(Clone, Debug)]
pub enum Mark {
    /// A polyline through `points` (sorted by the caller as wanted).
    Line { points: Vec<(f64, f64)>, color: String, label: Option<String>, dashed: bool, step: bool },
    /// Markers at `points`.
    Points { points: Vec<(f64, f64)>, color: String, label: Option<String>, radius: f64, hollow: bool },
    /// The area between `lower` and `upper` (same x values).
    Band { xs: Vec<f64>, lower: Vec<f64>, upper: Vec<f64>, color: String, label: Option<String> },
    /// A vertical line at `x` with a short label at its top.
    VLine { x: f64, label: String, color: String },
    /// A horizontal line at `y`.
    HLine { y: f64, label: String, color: String },
}

/// One panel: axes and marks; the legend goes under the axes (the panel
/// grows to hold it), so it never hides data.
#[derive(Clone, Debug, Default)]
pub struct Panel {
    /// A line under the title (empty: none).
    pub subtitle: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub marks: Vec<Mark>,
    /// Logarithmic y axis (values must be positive).
    pub log_y: bool,
    /// Fixed ranges (else from the data, with a margin).
    pub x_range: Option<(f64, f64)>,
    pub y_range: Option<(f64, f64)>,
}

const PANEL_W: f64 = 560.0;
const PANEL_H: f64 = 400.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 55.0;
/// Space between the axis label and the legend under it.
const LEGEND_GAP: f64 = 4.0;
const FONT: &str = "font-family=\"DejaVu Sans, Arial, Helvetica, sans-serif\"";

/// Escapes text for SVG.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// About `n` round tick values covering [lo, hi].
pub fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if hi <= lo || !lo.is_finite() || !hi.is_finite() {
        return vec![lo];
    }
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() * step;
    (0..)
        .map(|i| first + i as f64 * step)
        .take_while(|t| *t <= hi + step * 1e-9)
        .map(|t| if t.abs() < step * 1e-9 { 0.0 } else { t })
        .collect()
}

/// A tick label: as many decimals as the step needs (2.5 needs one).
fn tick_label(v: f64, step: f64) -> String {
    let decimals = (0..6).find(|d| {
        let scaled = step * 10f64.powi(*d);
        (scaled - scaled.round()).abs() < 1e-6 * scaled.abs().max(1.0)
    });
    let decimals = if step > 0.0 { decimals.unwrap_or(6) as usize } else { 0 };
    if v.abs() >= 1e6 { format!("{:.1}M", v / 1e6) } else { format!("{v:.decimals$}") }
}

impl Panel {
    fn data_range(&self) -> ((f64, f64), (f64, f64)) {
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for m in &self.marks {
            match m {
                Mark::Line { points, .. } | Mark::Points { points, .. } => {
                    xs.extend(points.iter().map(|p| p.0));
                    ys.extend(points.iter().map(|p| p.1));
                }
                Mark::Band { xs: bx, lower, upper, .. } => {
                    xs.extend(bx);
                    ys.extend(lower);
                    ys.extend(upper);
                }
                Mark::VLine { x, .. } => xs.push(*x),
                Mark::HLine { y, .. } => ys.push(*y),
            }
        }
        let span = |v: &[f64], log: bool| {
            let v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite() && (!log || *x > 0.0)).collect();
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if !lo.is_finite() {
                return if log { (1.0, 10.0) } else { (0.0, 1.0) };
            }
            if log {
                return (lo / 1.3, hi * 1.3);
            }
            let pad = if hi > lo { (hi - lo) * 0.05 } else { lo.abs().max(1.0) * 0.05 };
            (lo - pad, hi + pad)
        };
        (self.x_range.unwrap_or_else(|| span(&xs, false)), self.y_range.unwrap_or_else(|| span(&ys, self.log_y)))
    }

    /// The panel as SVG elements, placed at (`ox`, `oy`).
    /// The subtitle in lines that fit over the plot area.
    fn subtitle_lines(&self) -> Vec<String> {
        if self.subtitle.is_empty() {
            Vec::new()
        } else {
            wrap(&self.subtitle, ((PANEL_W - LEFT - RIGHT) / 6.8) as usize)
        }
    }

    fn render(&self, out: &mut String, ox: f64, oy: f64) {
        let subtitle = self.subtitle_lines();
        let top = TOP + 15.0 * subtitle.len() as f64;
        let ((x0, x1), (y0, y1)) = self.data_range();
        let (pw, ph) = (PANEL_W - LEFT - RIGHT, PANEL_H - top - BOTTOM);
        let (ly0, ly1) = if self.log_y { (y0.log10(), y1.log10()) } else { (y0, y1) };
        let sx = |x: f64| ox + LEFT + (x - x0) / (x1 - x0).max(1e-300) * pw;
        let sy = |y: f64| {
            let y = if self.log_y { y.max(1e-300).log10() } else { y };
            oy + top + ph - (y - ly0) / (ly1 - ly0).max(1e-300) * ph
        };
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"15\" font-weight=\"bold\" text-anchor=\"middle\">{}</text>",
            ox + LEFT + pw / 2.0,
            oy + 24.0,
            esc(&self.title)
        );
        for (i, line) in subtitle.iter().enumerate() {
            let _ = writeln!(
                out,
                "<text class=\"subtitle\" x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"12\" text-anchor=\"middle\">{}</text>",
                ox + LEFT + pw / 2.0,
                oy + 41.0 + 15.0 * i as f64,
                esc(line)
            );
        }
        // grid and ticks
        let xt = ticks(x0, x1, 6);
        let xstep = if xt.len() > 1 { xt[1] - xt[0] } else { 1.0 };
        for t in &xt {
            let x = sx(*t);
            let _ = writeln!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#e6e6e6\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\" {FONT} font-size=\"12\" text-anchor=\"middle\">{}</text>",
                oy + top,
                oy + top + ph,
                oy + top + ph + 17.0,
                tick_label(*t, xstep)
            );
        }
        let yt: Vec<f64> = if self.log_y {
            let (a, b) = (ly0.floor() as i32, ly1.ceil() as i32);
            (a..=b).map(|e| 10f64.powi(e)).filter(|v| *v >= y0 && *v <= y1).collect()
        } else {
            ticks(y0, y1, 6)
        };
        let ystep = if yt.len() > 1 { yt[1] - yt[0] } else { 1.0 };
        for t in &yt {
            let y = sy(*t);
            let label = if self.log_y { format!("{t:e}") } else { tick_label(*t, ystep) };
            let _ = writeln!(
                out,
                "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#e6e6e6\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"12\" text-anchor=\"end\">{label}</text>",
                ox + LEFT,
                ox + LEFT + pw,
                ox + LEFT - 6.0,
                y + 4.0
            );
        }
        let _ = writeln!(
            out,
            "<rect class=\"frame\" x=\"{:.1}\" y=\"{:.1}\" width=\"{pw:.1}\" height=\"{ph:.1}\" fill=\"none\" stroke=\"#444\"/>",
            ox + LEFT,
            oy + top
        );
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"13\" text-anchor=\"middle\">{}</text>\
             <text transform=\"translate({:.1},{:.1}) rotate(-90)\" {FONT} font-size=\"13\" text-anchor=\"middle\">{}</text>",
            ox + LEFT + pw / 2.0,
            oy + PANEL_H - 12.0,
            esc(&self.x_label),
            ox + 18.0,
            oy + top + ph / 2.0,
            esc(&self.y_label)
        );
        // marks, clipped to the plot area
        let clip = format!("clip{}", (ox as i64) * 10_000 + oy as i64);
        let _ = writeln!(
            out,
            "<clipPath id=\"{clip}\"><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{pw:.1}\" height=\"{ph:.1}\"/></clipPath><g clip-path=\"url(#{clip})\">",
            ox + LEFT,
            oy + top
        );
        for m in &self.marks {
            match m {
                Mark::Band { xs, lower, upper, color, .. } => {
                    let mut pts: Vec<String> =
                        xs.iter().zip(upper).map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y))).collect();
                    pts.extend(xs.iter().zip(lower).rev().map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y))));
                    let _ = writeln!(
                        out,
                        "<polygon class=\"band\" points=\"{}\" fill=\"{color}\" fill-opacity=\"0.18\" stroke=\"none\"/>",
                        pts.join(" ")
                    );
                }
                Mark::Line { points, color, dashed, step, .. } => {
                    let mut pts = Vec::new();
                    for (i, (x, y)) in points.iter().enumerate() {
                        if *step && i > 0 {
                            pts.push(format!("{:.1},{:.1}", sx(*x), sy(points[i - 1].1)));
                        }
                        pts.push(format!("{:.1},{:.1}", sx(*x), sy(*y)));
                    }
                    let dash = if *dashed { " stroke-dasharray=\"6,4\"" } else { "" };
                    let _ = writeln!(
                        out,
                        "<polyline class=\"series\" points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>",
                        pts.join(" ")
                    );
                }
                Mark::Points { points, color, radius, hollow, .. } => {
                    for (x, y) in points {
                        let fill = if *hollow { "none" } else { color.as_str() };
                        let _ = writeln!(
                            out,
                            "<circle class=\"point\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"{radius}\" fill=\"{fill}\" fill-opacity=\"0.75\" stroke=\"{color}\"/>",
                            sx(*x),
                            sy(*y)
                        );
                    }
                }
                Mark::VLine { x, color, .. } => {
                    let _ = writeln!(
                        out,
                        "<line class=\"marker\" x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{2:.1}\" stroke=\"{color}\" stroke-dasharray=\"3,3\"/>",
                        sx(*x),
                        oy + top,
                        oy + top + ph
                    );
                }
                Mark::HLine { y, color, .. } => {
                    let _ = writeln!(
                        out,
                        "<line class=\"marker\" x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{2:.1}\" y2=\"{1:.1}\" stroke=\"{color}\" stroke-dasharray=\"3,3\"/>",
                        ox + LEFT,
                        sy(*y),
                        ox + LEFT + pw
                    );
                }
            }
        }
        let _ = writeln!(out, "</g>");
        // marker labels, above the plot area
        for m in &self.marks {
            match m {
                Mark::VLine { x, label, color } => {
                    // written down the line's right side, from the top of the plot area
                    let _ = writeln!(
                        out,
                        "<text x=\"{0:.1}\" y=\"{1:.1}\" {FONT} font-size=\"10\" fill=\"{color}\" text-anchor=\"end\" transform=\"rotate(-90 {0:.1} {1:.1})\">{2}</text>",
                        sx(*x) + 11.0,
                        oy + top + 4.0,
                        esc(label)
                    );
                }
                Mark::HLine { y, label, color } => {
                    let _ = writeln!(
                        out,
                        "<text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"10\" fill=\"{color}\" text-anchor=\"end\">{}</text>",
                        ox + LEFT + pw - 4.0,
                        sy(*y) - 3.0,
                        esc(label)
                    );
                }
                _ => {}
            }
        }
        self.legend(out, ox + LEFT, oy + PANEL_H, pw);
    }

    fn legend_entries(&self) -> Vec<(&str, &str, &Mark)> {
        self.marks
            .iter()
            .filter_map(|m| match m {
                Mark::Line { label: Some(l), color, .. }
                | Mark::Points { label: Some(l), color, .. }
                | Mark::Band { label: Some(l), color, .. } => Some((l.as_str(), color.as_str(), m)),
                _ => None,
            })
            .collect()
    }

    /// The widest legend entry.
    fn legend_entry_width(&self) -> f64 {
        self.legend_entries().iter().map(|(l, ..)| l.chars().count()).max().unwrap_or(0) as f64 * 6.6 + 36.0
    }

    /// The legend's columns, rows and column width, in a plot area `width` wide.
    fn legend_grid(&self, width: f64) -> (usize, usize, f64) {
        let entries = self.legend_entries();
        let entry_w = self.legend_entry_width();
        let cols = if entries.len() > 1 && 2.0 * entry_w <= width { 2 } else { 1 };
        (cols, entries.len().div_ceil(cols), width / cols as f64)
    }

    /// Height the legend adds under the panel (0 without labelled marks).
    fn legend_height(&self) -> f64 {
        let (_, rows, _) = self.legend_grid(PANEL_W - LEFT - RIGHT);
        if rows == 0 { 0.0 } else { rows as f64 * 17.0 + 8.0 + LEGEND_GAP }
    }

    /// The legend, in a box under the panel's axis label: from `x`, below `y`, `width` wide.
    fn legend(&self, out: &mut String, x: f64, y: f64, width: f64) {
        let entries = self.legend_entries();
        if entries.is_empty() {
            return;
        }
        // an entry wider than the plot area widens the box to the panel's width
        let (x, width) = if self.legend_entry_width() > width { (x - LEFT + 10.0, PANEL_W - 20.0) } else { (x, width) };
        let (cols, rows, col_w) = self.legend_grid(width);
        let height = rows as f64 * 17.0 + 8.0;
        let _ = writeln!(
            out,
            "<g class=\"legend\"><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{height:.1}\" fill=\"white\" stroke=\"#bbb\"/>"
        );
        for (i, (label, color, mark)) in entries.iter().enumerate() {
            // filled row by row
            let (col, row) = (i % cols, i / cols);
            let ex = x + col as f64 * col_w;
            let ly = y + 17.0 + row as f64 * 17.0;
            let sample = match mark {
                Mark::Points { hollow, .. } => {
                    let fill = if *hollow { "none" } else { color };
                    format!(
                        "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{fill}\" stroke=\"{color}\"/>",
                        ex + 14.0,
                        ly - 4.0
                    )
                }
                Mark::Band { .. } => format!(
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"18\" height=\"9\" fill=\"{color}\" fill-opacity=\"0.3\"/>",
                    ex + 5.0,
                    ly - 9.0
                ),
                Mark::Line { dashed, .. } => format!(
                    "<line x1=\"{:.1}\" y1=\"{2:.1}\" x2=\"{:.1}\" y2=\"{2:.1}\" stroke=\"{color}\" stroke-width=\"2\"{3}/>",
                    ex + 3.0,
                    ex + 25.0,
                    ly - 4.0,
                    if *dashed { " stroke-dasharray=\"5,3\"" } else { "" }
                ),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "{sample}<text x=\"{:.1}\" y=\"{ly:.1}\" {FONT} font-size=\"12\">{}</text>",
                ex + 29.0,
                esc(label)
            );
        }
        let _ = writeln!(out, "</g>");
    }
}

/// Panels side by side (up to three a row), each with its legend under it,
/// and a caption under them all.
pub fn figure(panels: &[Panel], caption: &str) -> String {
    let cols = panels.len().clamp(1, 3);
    let w = PANEL_W * cols as f64;
    // each row as tall as its tallest panel with its legend
    let row_h: Vec<f64> = panels
        .chunks(cols)
        .map(|row| row.iter().map(|p| PANEL_H + p.legend_height()).fold(PANEL_H, f64::max))
        .collect();
    let lines = if caption.is_empty() { Vec::new() } else { wrap(caption, ((w - 20.0) / 6.3) as usize) };
    let panels_h: f64 = if row_h.is_empty() { PANEL_H } else { row_h.iter().sum() };
    let h = panels_h + if lines.is_empty() { 0.0 } else { 10.0 + 14.0 * lines.len() as f64 };
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for (i, p) in panels.iter().enumerate() {
        let oy: f64 = row_h[..i / cols].iter().sum();
        p.render(&mut out, (i % cols) as f64 * PANEL_W, oy);
    }
    caption_lines(&mut out, caption, &lines, 10.0, h - 8.0, 14.0);
    out.push_str("</svg>\n");
    out
}

/// The caption's `lines` (of `full`), the last one's baseline at `bottom`:
/// a `caption` group whose `<title>` holds the whole text.
pub fn caption_lines(out: &mut String, full: &str, lines: &[String], x: f64, bottom: f64, step: f64) {
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(out, "<g class=\"caption\"><title>{}</title>", esc(full));
    for (i, line) in lines.iter().enumerate() {
        let _ = writeln!(
            out,
            "<text x=\"{x:.0}\" y=\"{:.1}\" {FONT} font-size=\"11\" fill=\"#555\">{}</text>",
            bottom - step * (lines.len() - 1 - i) as f64,
            esc(line)
        );
    }
    let _ = writeln!(out, "</g>");
}

/// Characters after which a word longer than a line may break: paths and
/// genotypes have few spaces.
pub const BREAK_AFTER: [char; 6] = ['/', '|', '+', ',', ';', ')'];

/// `text` in lines of at most `width` characters, broken at spaces; a word
/// longer than a line breaks after one of [`BREAK_AFTER`] (a path's `/`, a
/// genotype's `|`), and only one without any of them is cut where it must be.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(20);
    // pieces, each with whether a space goes before it
    let mut pieces: Vec<(String, bool)> = Vec::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if word.chars().count() <= width {
            pieces.push((word.to_string(), true));
            continue;
        }
        let mut atom = String::new();
        let mut first = true;
        for c in word.chars() {
            atom.push(c);
            if BREAK_AFTER.contains(&c) || atom.chars().count() == width {
                pieces.push((std::mem::take(&mut atom), first));
                first = false;
            }
        }
        if !atom.is_empty() {
            pieces.push((atom, first));
        }
    }
    let mut lines = Vec::new();
    let mut line = String::new();
    for (piece, spaced) in pieces {
        let sep = if spaced && !line.is_empty() { " " } else { "" };
        if !line.is_empty() && line.chars().count() + sep.len() + piece.chars().count() > width {
            lines.push(std::mem::take(&mut line));
            line = piece;
        } else {
            line.push_str(sep);
            line.push_str(&piece);
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 10.0, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(ticks(93.1, 94.4, 6), vec![93.25, 93.5, 93.75, 94.0, 94.25]);
        let t = ticks(-0.3, 0.7, 5);
        assert!(t.contains(&0.0) && t.first().unwrap() >= &-0.3 && t.last().unwrap() <= &0.7, "{t:?}");
        assert_eq!(ticks(5.0, 5.0, 4), vec![5.0]);
        assert_eq!(tick_label(82.5, 2.5), "82.5");
        assert_eq!(tick_label(80.0, 2.5), "80.0");
        assert_eq!(tick_label(4.0, 2.0), "4");
        assert_eq!(tick_label(0.25, 0.05), "0.25");
    }

    #[test]
    fn a_figure_is_an_svg_with_its_marks() {
        let p = Panel {
            title: "t <1>".into(),
            marks: vec![
                Mark::Line {
                    points: vec![(0.0, 1.0), (1.0, 2.0)],
                    color: PALETTE[0].into(),
                    label: Some("a".into()),
                    dashed: false,
                    step: true,
                },
                Mark::Points {
                    points: vec![(0.5, 1.5)],
                    color: PALETTE[1].into(),
                    label: None,
                    radius: 3.0,
                    hollow: false,
                },
            ],
            ..Default::default()
        };
        let svg = figure(&[p], "made by a test");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("class=\"series\"").count(), 1);
        assert_eq!(svg.matches("class=\"point\"").count(), 1);
        assert!(svg.contains("t &lt;1&gt;"));
    }

    #[test]
    fn captions_break_at_spaces_and_long_words_after_separators() {
        let text = "a picture of the best architecture, drawn from a run directory";
        let lines = wrap(text, 20);
        assert_eq!(lines.join(" "), text, "every break at a space: {lines:?}");
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        let long = "see /tmp/some/very/long/run/directory/name/here";
        let lines = wrap(long, 20);
        assert!(
            lines[..lines.len() - 1].iter().all(|l| l.ends_with('/') || long.contains(&format!("{l} "))),
            "{lines:?}"
        );
        assert_eq!(lines.concat(), long, "nothing lost or added");
    }

    #[test]
    fn the_legend_goes_under_the_plot_area_and_the_figure_grows() {
        // points everywhere: no corner of the plot area is free
        let points: Vec<(f64, f64)> = (0..400).map(|i| ((i % 20) as f64, (i / 20) as f64)).collect();
        let p = Panel {
            marks: vec![Mark::Points {
                points,
                color: PALETTE[0].into(),
                label: Some("all".into()),
                radius: 3.0,
                hollow: false,
            }],
            ..Default::default()
        };
        let bare = figure(&[Panel { marks: Vec::new(), ..p.clone() }], "");
        let svg = figure(&[p], "");
        let height =
            |s: &str| s.split("height=\"").nth(1).and_then(|h| h.split('"').next()).unwrap().parse::<f64>().unwrap();
        assert!(height(&svg) > height(&bare), "the figure grows to hold the legend");
        let legend_y: f64 = svg
            .split("<g class=\"legend\"><rect x=\"")
            .nth(1)
            .unwrap()
            .split("y=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(legend_y >= PANEL_H - BOTTOM, "legend at y {legend_y}, inside the plot area");
    }
}
