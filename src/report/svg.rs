//! The report's charts as inline SVG, written by hand: horizontal bars (grouped series),
//! lines over periods, heat maps and estimates with their intervals. Every element that
//! carries a figure has a `<title>` with its label and value; the chart has `role="img"`,
//! a `<title>` and a `<desc>`. Series differ by colour (Okabe-Ito), and also by hatching
//! (bars), marker shape and dash (lines), and bars and cells print their values, so a chart
//! reads without colour. Bars start at zero. Sizes are fixed by the data (no script, no
//! font file: the browser's sans-serif).

use super::html::esc;
use std::fmt::Write;

/// The Okabe-Ito palette without its yellow (too light on white) and black (the axes'):
/// blue, orange, bluish green, vermillion, reddish purple, sky blue.
pub(crate) const PALETTE: [&str; 6] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9",
];

/// Width of every chart, in CSS pixels.
pub(crate) const WIDTH: f64 = 720.0;

/// The width of a left column of category labels: the widest at 12 px, from 60 to 220.
fn label_width(categories: &[String]) -> f64 {
    categories
        .iter()
        .map(|c| text_width(c, 12.0))
        .fold(60.0, f64::max)
        .min(220.0)
}

/// An estimated text width: 12px sans-serif averages about 6.6px a character.
fn text_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.55
}

/// `s` cut to about `width` pixels, with an ellipsis.
fn fit(s: &str, width: f64, size: f64) -> String {
    let max = (width / (size * 0.55)).floor() as usize;
    if s.chars().count() <= max || max < 2 {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// A value as an axis or bar label: thousands separated, `decimals` places.
pub(crate) fn label(v: f64, decimals: usize) -> String {
    segql_runtime::output::thousands(&format!("{v:.decimals$}"))
}

/// Round tick steps covering `lo..hi` (about five), and the ticks.
fn ticks(lo: f64, hi: f64) -> (Vec<f64>, usize) {
    let span = (hi - lo).abs();
    if span == 0.0 || !span.is_finite() {
        return (vec![0.0, 1.0], 0);
    }
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut decimals = 0;
    while decimals < 6 && {
        let v = step * 10f64.powi(decimals as i32);
        (v - v.round()).abs() > 1e-6
    } {
        decimals += 1;
    }
    let start = (lo / step).floor() * step;
    let end = (hi / step).ceil() * step;
    let mut out = Vec::new();
    let mut t = start;
    while t <= end + step * 1e-9 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    if out.len() < 2 {
        out.push(start + step);
    }
    (out, decimals)
}

/// The opening of a chart: size, role, title and description, and the patterns of the
/// bars' hatching.
fn open(svg: &mut String, id: &str, height: f64, title: &str, desc: &str) {
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-labelledby="{id}-t {id}-d" font-family="sans-serif" font-size="12"><title id="{id}-t">{t}</title><desc id="{id}-d">{d}</desc>"##,
        w = WIDTH,
        h = height,
        t = esc(title),
        d = esc(desc),
    );
    svg.push_str("<defs>");
    for (i, c) in PALETTE.iter().enumerate() {
        // Series 0 is solid; the others are hatched at their own angle.
        let angle = [0, 45, -45, 90, 0, 30][i];
        let _ = write!(
            svg,
            r##"<pattern id="{id}-p{i}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate({angle})"><rect width="6" height="6" fill="{c}"/>{}</pattern>"##,
            if i == 0 {
                String::new()
            } else {
                r##"<line x1="0" y1="0" x2="0" y2="6" stroke="#fff" stroke-width="1.5"/>"##
                    .to_string()
            }
        );
    }
    svg.push_str("</defs>");
}

/// A legend of `names` in a row at `y` (swatches as the series are drawn).
fn legend(svg: &mut String, id: &str, names: &[&str], y: f64, lines: bool) {
    let mut x = 10.0;
    for (i, n) in names.iter().enumerate() {
        if lines {
            let _ = write!(
                svg,
                r##"<line x1="{x}" y1="{yy}" x2="{x2}" y2="{yy}" stroke="{c}" stroke-width="2" stroke-dasharray="{dash}"/>"##,
                yy = y - 4.0,
                x2 = x + 24.0,
                c = PALETTE[i % PALETTE.len()],
                dash = DASHES[i % DASHES.len()],
            );
            marker(svg, i, x + 12.0, y - 4.0, "");
            x += 30.0;
        } else {
            let _ = write!(
                svg,
                r##"<rect x="{x}" y="{yy}" width="14" height="10" fill="url(#{id}-p{p})"/>"##,
                yy = y - 9.0,
                p = i % PALETTE.len(),
            );
            x += 18.0;
        }
        let _ = write!(svg, r##"<text x="{x}" y="{y}">{}</text>"##, esc(n));
        x += text_width(n, 12.0) + 18.0;
    }
}

/// Dash patterns of the lines, one per series.
const DASHES: [&str; 6] = ["none", "6 3", "2 3", "10 3 2 3", "4 4", "1 2"];

/// A series' marker at (x, y): circle, square, triangle, diamond, cross, plus.
fn marker(svg: &mut String, series: usize, x: f64, y: f64, title: &str) {
    let c = PALETTE[series % PALETTE.len()];
    let t = if title.is_empty() {
        String::new()
    } else {
        format!("<title>{}</title>", esc(title))
    };
    let _ = match series % 6 {
        0 => write!(
            svg,
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{c}">{t}</circle>"##
        ),
        1 => write!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="7" height="7" fill="{c}">{t}</rect>"##,
            x - 3.5,
            y - 3.5
        ),
        2 => write!(
            svg,
            r##"<path d="M{:.1},{:.1}L{:.1},{:.1}L{:.1},{:.1}Z" fill="{c}">{t}</path>"##,
            x,
            y - 4.5,
            x + 4.5,
            y + 3.5,
            x - 4.5,
            y + 3.5
        ),
        3 => write!(
            svg,
            r##"<path d="M{:.1},{:.1}L{:.1},{:.1}L{:.1},{:.1}L{:.1},{:.1}Z" fill="{c}">{t}</path>"##,
            x,
            y - 5.0,
            x + 5.0,
            y,
            x,
            y + 5.0,
            x - 5.0,
            y
        ),
        4 => write!(
            svg,
            r##"<path d="M{:.1},{:.1}L{:.1},{:.1}M{:.1},{:.1}L{:.1},{:.1}" stroke="{c}" stroke-width="2.5">{t}</path>"##,
            x - 4.0,
            y - 4.0,
            x + 4.0,
            y + 4.0,
            x - 4.0,
            y + 4.0,
            x + 4.0,
            y - 4.0
        ),
        _ => write!(
            svg,
            r##"<path d="M{:.1},{:.1}L{:.1},{:.1}M{:.1},{:.1}L{:.1},{:.1}" stroke="{c}" stroke-width="2.5">{t}</path>"##,
            x - 5.0,
            y,
            x + 5.0,
            y,
            x,
            y - 5.0,
            x,
            y + 5.0
        ),
    };
}

/// One series of a chart: its name, its values (one per category) and the decimals its
/// labels show.
pub(crate) struct Series<'a> {
    /// The name, in the legend.
    pub(crate) name: &'a str,
    /// One value per category; `None` is not drawn.
    pub(crate) values: &'a [Option<f64>],
    /// Decimals of the value labels.
    pub(crate) decimals: usize,
}

/// Horizontal bars from zero: one group per category, one bar per series, the value printed
/// at the bar's end. `axis` names the value axis with its unit.
pub(crate) fn bars(
    id: &str,
    title: &str,
    desc: &str,
    categories: &[String],
    series: &[Series],
    axis: &str,
) -> String {
    let bar_h = 16.0;
    let group_h = bar_h * series.len() as f64 + 10.0;
    let legend_h = if series.len() > 1 { 24.0 } else { 0.0 };
    let top = 10.0 + legend_h;
    let height = top + group_h * categories.len() as f64 + 46.0;
    let label_w = label_width(categories);
    let (x0, x1) = (label_w + 16.0, WIDTH - 70.0);
    let values = series
        .iter()
        .flat_map(|s| s.values.iter().flatten().copied());
    let (lo, hi) = values.fold((0.0f64, 0.0f64), |(l, h), v| (l.min(v), h.max(v)));
    let hi = if hi == lo { lo + 1.0 } else { hi };
    let (tick_values, tick_dec) = ticks(lo, hi);
    let (lo, hi) = (
        tick_values[0].min(lo),
        *tick_values.last().expect("two ticks"),
    );
    let x = |v: f64| x0 + (v - lo) / (hi - lo) * (x1 - x0);
    let mut svg = String::new();
    open(&mut svg, id, height, title, desc);
    if series.len() > 1 {
        let names: Vec<&str> = series.iter().map(|s| s.name).collect();
        legend(&mut svg, id, &names, 20.0, false);
    }
    let bottom = top + group_h * categories.len() as f64;
    for t in &tick_values {
        let _ = write!(
            svg,
            r##"<line x1="{xx:.1}" y1="{top}" x2="{xx:.1}" y2="{bottom}" stroke="#ddd"/><text x="{xx:.1}" y="{ty}" text-anchor="middle">{l}</text>"##,
            xx = x(*t),
            ty = bottom + 16.0,
            l = label(*t, tick_dec),
        );
    }
    for (ci, c) in categories.iter().enumerate() {
        let gy = top + group_h * ci as f64 + 5.0;
        let _ = write!(
            svg,
            r##"<text x="{lx}" y="{ly:.1}" text-anchor="end"><title>{full}</title>{shown}</text>"##,
            lx = x0 - 6.0,
            ly = gy + group_h / 2.0,
            full = esc(c),
            shown = esc(&fit(c, label_w, 12.0)),
        );
        for (si, s) in series.iter().enumerate() {
            let Some(v) = s.values.get(ci).copied().flatten() else {
                continue;
            };
            let by = gy + bar_h * si as f64;
            let (a, b) = (x(0.0f64.max(lo)), x(v));
            let _ = write!(
                svg,
                r##"<rect x="{:.1}" y="{by:.1}" width="{:.1}" height="{h}" fill="url(#{id}-p{p})"><title>{}: {}: {}</title></rect><text x="{:.1}" y="{:.1}">{}</text>"##,
                a.min(b),
                (b - a).abs().max(0.5),
                esc(c),
                esc(s.name),
                label(v, s.decimals),
                a.max(b) + 4.0,
                by + bar_h - 4.0,
                label(v, s.decimals),
                h = bar_h - 2.0,
                p = si % PALETTE.len(),
            );
        }
    }
    let _ = write!(
        svg,
        r##"<line x1="{z:.1}" y1="{top}" x2="{z:.1}" y2="{bottom}" stroke="#000"/><line x1="{x0}" y1="{bottom}" x2="{x1}" y2="{bottom}" stroke="#000"/><text x="{mid:.1}" y="{ay}" text-anchor="middle" font-weight="bold">{a}</text></svg>"##,
        z = x(0.0f64.max(lo)),
        mid = (x0 + x1) / 2.0,
        ay = bottom + 36.0,
        a = esc(axis),
    );
    svg
}

/// Lines over `periods` (the x axis, in order), one per series, each point a marker with its
/// value in a `<title>`. The y axis starts at zero unless a value is negative.
pub(crate) fn lines(
    id: &str,
    title: &str,
    desc: &str,
    periods: &[String],
    series: &[Series],
    x_axis: &str,
    y_axis: &str,
) -> String {
    let legend_rows = legend_rows(series);
    let top = 14.0 + 20.0 * legend_rows.len() as f64;
    let plot_h = 220.0;
    let height = top + plot_h + 62.0;
    let (x0, x1) = (70.0, WIDTH - 20.0);
    let (y0, y1) = (top + plot_h, top);
    let values = series
        .iter()
        .flat_map(|s| s.values.iter().flatten().copied());
    let (lo, hi) = values.fold((0.0f64, 0.0f64), |(l, h), v| (l.min(v), h.max(v)));
    let hi = if hi == lo { lo + 1.0 } else { hi };
    let (tick_values, tick_dec) = ticks(lo, hi);
    let (lo, hi) = (
        tick_values[0].min(lo),
        *tick_values.last().expect("two ticks"),
    );
    let y = |v: f64| y0 - (v - lo) / (hi - lo) * (y0 - y1);
    let n = periods.len().max(1);
    let step = (x1 - x0) / n as f64;
    let x = |i: usize| x0 + step * (i as f64 + 0.5);
    let mut svg = String::new();
    open(&mut svg, id, height, title, desc);
    for (row, names) in legend_rows.iter().enumerate() {
        legend(&mut svg, id, names, 18.0 + 20.0 * row as f64, true);
    }
    for t in &tick_values {
        let _ = write!(
            svg,
            r##"<line x1="{x0}" y1="{yy:.1}" x2="{x1}" y2="{yy:.1}" stroke="#ddd"/><text x="{tx}" y="{ty:.1}" text-anchor="end">{l}</text>"##,
            yy = y(*t),
            tx = x0 - 6.0,
            ty = y(*t) + 4.0,
            l = label(*t, tick_dec),
        );
    }
    // Period labels: every one when they fit, else every k-th.
    let every = ((text_width("2026-10", 12.0) + 8.0) / step).ceil().max(1.0) as usize;
    for (i, p) in periods.iter().enumerate() {
        if i % every == 0 {
            let _ = write!(
                svg,
                r##"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"##,
                x(i),
                y0 + 16.0,
                esc(p)
            );
        }
    }
    for (si, s) in series.iter().enumerate() {
        let mut d = String::new();
        let mut pen_down = false;
        for (i, v) in s.values.iter().enumerate() {
            match v {
                Some(v) => {
                    let _ = write!(
                        d,
                        "{}{:.1},{:.1}",
                        if pen_down { "L" } else { "M" },
                        x(i),
                        y(*v)
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let _ = write!(
            svg,
            r##"<path d="{d}" fill="none" stroke="{c}" stroke-width="2" stroke-dasharray="{dash}"/>"##,
            c = PALETTE[si % PALETTE.len()],
            dash = DASHES[si % DASHES.len()],
        );
        for (i, v) in s.values.iter().enumerate() {
            if let Some(v) = v {
                let t = format!("{}: {}: {}", periods[i], s.name, label(*v, s.decimals));
                marker(&mut svg, si, x(i), y(*v), &t);
            }
        }
    }
    let _ = write!(
        svg,
        r##"<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#000"/><line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#000"/><text x="{mx:.1}" y="{xy}" text-anchor="middle" font-weight="bold">{xa}</text><text x="14" y="{my:.1}" text-anchor="middle" font-weight="bold" transform="rotate(-90 14 {my:.1})">{ya}</text></svg>"##,
        mx = (x0 + x1) / 2.0,
        xy = y0 + 40.0,
        my = (y0 + y1) / 2.0,
        xa = esc(x_axis),
        ya = esc(y_axis),
    );
    svg
}

/// The series' names in legend rows that fit the width.
fn legend_rows<'a>(series: &[Series<'a>]) -> Vec<Vec<&'a str>> {
    let mut rows: Vec<Vec<&str>> = vec![Vec::new()];
    let mut width = 10.0;
    for s in series {
        let w = 30.0 + text_width(s.name, 12.0) + 18.0;
        if width + w > WIDTH && !rows.last().expect("a row").is_empty() {
            rows.push(Vec::new());
            width = 10.0;
        }
        rows.last_mut().expect("a row").push(s.name);
        width += w;
    }
    rows
}

/// A heat map: `cells[row][col]` shaded by `shade` (0 to 1, light to dark blue, one hue so
/// that it reads in grey too) and printed as `text`. Axis names carry their meaning.
#[allow(clippy::too_many_arguments)]
pub(crate) fn heat(
    id: &str,
    title: &str,
    desc: &str,
    rows: &[String],
    cols: &[String],
    text: &[Vec<String>],
    shade: &[Vec<f64>],
    row_axis: &str,
    col_axis: &str,
) -> String {
    let label_w = rows
        .iter()
        .map(|c| text_width(c, 12.0))
        .fold(40.0, f64::max)
        .min(160.0);
    let (x0, top) = (label_w + 44.0, 46.0);
    let cell_w = ((WIDTH - x0 - 10.0) / cols.len().max(1) as f64).min(110.0);
    let cell_h = 34.0;
    // Tall enough for the rotated name of the rows, however few they are.
    let body = (cell_h * rows.len() as f64).max(text_width(row_axis, 12.0) + 10.0);
    let height = top + body + 20.0;
    let mut svg = String::new();
    open(&mut svg, id, height, title, desc);
    let _ = write!(
        svg,
        r##"<text x="{:.1}" y="14" text-anchor="middle" font-weight="bold">{}</text>"##,
        x0 + cell_w * cols.len() as f64 / 2.0,
        esc(col_axis)
    );
    let my = top + body / 2.0;
    let _ = write!(
        svg,
        r##"<text x="14" y="{my:.1}" text-anchor="middle" font-weight="bold" transform="rotate(-90 14 {my:.1})">{}</text>"##,
        esc(row_axis)
    );
    for (ci, c) in cols.iter().enumerate() {
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{}" text-anchor="middle"><title>{}</title>{}</text>"##,
            x0 + cell_w * (ci as f64 + 0.5),
            top - 8.0,
            esc(c),
            esc(&fit(c, cell_w - 4.0, 12.0))
        );
    }
    for (ri, r) in rows.iter().enumerate() {
        let ry = top + cell_h * ri as f64;
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end"><title>{}</title>{}</text>"##,
            x0 - 6.0,
            ry + cell_h / 2.0 + 4.0,
            esc(r),
            esc(&fit(r, label_w, 12.0))
        );
        for (ci, c) in cols.iter().enumerate() {
            let s = shade
                .get(ri)
                .and_then(|r| r.get(ci))
                .copied()
                .unwrap_or(0.0)
                .clamp(0.0, 1.0);
            let t = text
                .get(ri)
                .and_then(|r| r.get(ci))
                .cloned()
                .unwrap_or_default();
            let _ = write!(
                svg,
                r##"<rect x="{:.1}" y="{ry:.1}" width="{:.1}" height="{cell_h}" fill="{}" stroke="#fff"><title>{} / {}: {}</title></rect><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{}">{}</text>"##,
                x0 + cell_w * ci as f64,
                cell_w,
                blue(s),
                esc(r),
                esc(c),
                esc(&t),
                x0 + cell_w * (ci as f64 + 0.5),
                ry + cell_h / 2.0 + 4.0,
                if s > 0.55 { "#fff" } else { "#000" },
                esc(&t),
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A light-to-dark blue for `s` in 0..=1 (#f7fbff to #08306b).
fn blue(s: f64) -> String {
    let mix = |a: f64, b: f64| (a + (b - a) * s).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(247.0, 8.0),
        mix(251.0, 48.0),
        mix(255.0, 107.0)
    )
}

/// Estimates with their intervals, one row per category: a point and a whisker from `low`
/// to `high`, with a line at zero. `axis` names the value with its unit.
#[allow(clippy::too_many_arguments)]
pub(crate) fn intervals(
    id: &str,
    title: &str,
    desc: &str,
    categories: &[String],
    estimate: &[Option<f64>],
    low: &[Option<f64>],
    high: &[Option<f64>],
    decimals: usize,
    axis: &str,
) -> String {
    let row_h = 30.0;
    let top = 10.0;
    let height = top + row_h * categories.len() as f64 + 46.0;
    let label_w = label_width(categories);
    let (x0, x1) = (label_w + 16.0, WIDTH - 30.0);
    let all = estimate
        .iter()
        .chain(low)
        .chain(high)
        .flatten()
        .copied()
        .fold((0.0f64, 0.0f64), |(l, h), v| (l.min(v), h.max(v)));
    let (lo, hi) = if all.0 == all.1 {
        (all.0 - 1.0, all.1 + 1.0)
    } else {
        all
    };
    let (tick_values, tick_dec) = ticks(lo, hi);
    let (lo, hi) = (
        tick_values[0].min(lo),
        *tick_values.last().expect("two ticks"),
    );
    let x = |v: f64| x0 + (v - lo) / (hi - lo) * (x1 - x0);
    let bottom = top + row_h * categories.len() as f64;
    let mut svg = String::new();
    open(&mut svg, id, height, title, desc);
    for t in &tick_values {
        let _ = write!(
            svg,
            r##"<line x1="{xx:.1}" y1="{top}" x2="{xx:.1}" y2="{bottom}" stroke="#ddd"/><text x="{xx:.1}" y="{ty}" text-anchor="middle">{l}</text>"##,
            xx = x(*t),
            ty = bottom + 16.0,
            l = label(*t, tick_dec),
        );
    }
    let _ = write!(
        svg,
        r##"<line x1="{z:.1}" y1="{top}" x2="{z:.1}" y2="{bottom}" stroke="#000" stroke-dasharray="4 3"/>"##,
        z = x(0.0)
    );
    for (i, c) in categories.iter().enumerate() {
        let cy = top + row_h * (i as f64 + 0.5);
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            x0 - 6.0,
            cy + 4.0,
            esc(&fit(c, label_w, 12.0))
        );
        if let (Some(l), Some(h)) = (low[i], high[i]) {
            let _ = write!(
                svg,
                r##"<path d="M{a:.1},{cy:.1}H{b:.1}M{a:.1},{t:.1}V{u:.1}M{b:.1},{t:.1}V{u:.1}" stroke="{c}" stroke-width="2" fill="none"><title>{}: 95% interval {} to {}</title></path>"##,
                esc(c),
                label(l, decimals),
                label(h, decimals),
                a = x(l),
                b = x(h),
                t = cy - 6.0,
                u = cy + 6.0,
                c = PALETTE[0],
            );
        }
        if let Some(e) = estimate[i] {
            let _ = write!(
                svg,
                r##"<circle cx="{:.1}" cy="{cy:.1}" r="5" fill="{}"><title>{}: {}</title></circle><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                x(e),
                PALETTE[3],
                esc(c),
                label(e, decimals),
                x(e),
                cy - 9.0,
                label(e, decimals),
            );
        }
    }
    let _ = write!(
        svg,
        r##"<line x1="{x0}" y1="{bottom}" x2="{x1}" y2="{bottom}" stroke="#000"/><text x="{mid:.1}" y="{ay}" text-anchor="middle" font-weight="bold">{a}</text></svg>"##,
        mid = (x0 + x1) / 2.0,
        ay = bottom + 36.0,
        a = esc(axis),
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_cover_the_range_from_zero() {
        let (t, _) = ticks(0.0, 87.0);
        assert_eq!(t.first(), Some(&0.0));
        assert!(*t.last().unwrap() >= 87.0, "{t:?}");
        let (t, d) = ticks(0.0, 45.65);
        assert_eq!(t, [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]);
        assert_eq!(d, 0);
        let (t, d) = ticks(-1.5, 7.2);
        assert!(t[0] <= -1.5 && *t.last().unwrap() >= 7.2 && d == 0, "{t:?}");
        let (t, d) = ticks(0.0, 0.42);
        assert!(*t.last().unwrap() >= 0.42 && d >= 1, "{t:?} {d}");
    }

    #[test]
    fn text_is_escaped_in_every_chart() {
        let evil = "<script>alert(\"x\")</script>&'";
        let cats = vec![evil.to_string()];
        let v = [Some(1.0)];
        let s = [Series {
            name: evil,
            values: &v,
            decimals: 0,
        }];
        for svg in [
            bars("b", evil, evil, &cats, &s, evil),
            lines("l", evil, evil, &cats, &s, evil, evil),
            heat(
                "h",
                evil,
                evil,
                &cats,
                &cats,
                &[vec![evil.to_string()]],
                &[vec![0.5]],
                evil,
                evil,
            ),
            intervals("i", evil, evil, &cats, &v, &v, &v, 1, evil),
        ] {
            assert!(!svg.contains("<script"), "{svg}");
            assert!(svg.contains("&lt;script&gt;"), "{svg}");
        }
    }
}
