//! The report's page: one HTML file with its style inline, a Content-Security-Policy that
//! forbids every request (no script, no font, no stylesheet, no image from outside), and per
//! chart a figure (the SVG or a sentence) with its caption and the table of its numbers.
//! Every text and number goes through [`esc`].

use super::{Figures, Section};
use std::fmt::Write;

/// `s` with `&`, `<`, `>`, `"` and `'` as character references: safe in text and in
/// attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;max-width:780px;margin:2em auto;padding:0 1em;color:#111;line-height:1.4}\
h1{font-size:1.6em}h2{border-bottom:1px solid #999;margin-top:2em}h3{font-size:1.1em;margin-bottom:.3em}\
figure{margin:1em 0}figcaption{font-size:.9em;color:#333;margin-top:.3em}\
table{border-collapse:collapse;font-size:.85em;margin:.5em 0 1.5em}\
th,td{border:1px solid #ccc;padding:2px 6px}td{text-align:right;font-variant-numeric:tabular-nums}\
th[scope=row]{text-align:left;font-weight:normal}caption{text-align:left;font-size:.9em;color:#333}\
.empty{font-style:italic}nav ul{columns:2}";

/// The page of `f`'s `sections`.
pub(crate) fn page(f: &Figures, sections: &[Section]) -> String {
    let title = match &f.partner {
        Some(p) => format!("{}: report for {p} as of {}", f.project, f.as_of),
        None => format!("{}: report as of {}", f.project, f.as_of),
    };
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"generator\" content=\"segql {}\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n",
        env!("CARGO_PKG_VERSION"),
        esc(&title)
    );
    let _ = write!(
        h,
        "<header><h1>{}</h1><p>Periods from {} to {} (months), as of {}. Made by segql {}; every figure is the one the named segql command prints.</p></header>\n<nav><ul>",
        esc(&title),
        f.from,
        f.as_of,
        f.as_of,
        env!("CARGO_PKG_VERSION")
    );
    for s in sections {
        let _ = write!(h, "<li><a href=\"#{}\">{}</a></li>", s.id, esc(&s.title));
    }
    h.push_str("</ul></nav>\n");
    for s in sections {
        let _ = writeln!(h, "<section id=\"{}\"><h2>{}</h2>", s.id, esc(&s.title));
        for n in &s.notes {
            let _ = writeln!(h, "<p class=\"note\">{}</p>", esc(n));
        }
        for c in &s.charts {
            let _ = write!(
                h,
                "<figure id=\"{id}\" class=\"chart\" data-chart=\"{id}\"><h3>{}</h3>",
                esc(&c.title),
                id = esc(&c.id)
            );
            match &c.svg {
                Ok(svg) => h.push_str(svg),
                Err(sentence) => {
                    let _ = write!(h, "<p class=\"empty\">{}</p>", esc(sentence));
                }
            }
            let _ = writeln!(h, "<figcaption>{}</figcaption></figure>", esc(&c.caption));
            let t = &c.table;
            if t.rows.is_empty() {
                continue;
            }
            let _ = write!(
                h,
                "<table data-chart=\"{}\"><caption>The numbers of \u{201c}{}\u{201d}</caption><thead><tr><th scope=\"col\">{}</th>",
                esc(&c.id),
                esc(&c.title),
                esc(&t.row_header)
            );
            for col in &t.columns {
                let _ = write!(h, "<th scope=\"col\">{}</th>", esc(&col.name));
            }
            h.push_str("</tr></thead><tbody>");
            for (i, row) in t.rows.iter().enumerate() {
                let _ = write!(h, "<tr><th scope=\"row\">{}</th>", esc(row));
                for col in &t.columns {
                    let _ = write!(h, "<td>{}</td>", esc(&col.text(i)));
                }
                h.push_str("</tr>");
            }
            h.push_str("</tbody></table>\n");
        }
        h.push_str("</section>\n");
    }
    h.push_str("</body></html>\n");
    h
}
