//! Diagnostics for machines: miette diagnostics made plain [`Record`]s, then written as
//! miette's human report, rustc-style JSON Lines, GitHub Actions workflow commands or one
//! SARIF 2.1.0 log (`--message-format human|json|github|sarif`).
//!
//! Lines and columns are 1-based; columns count Unicode scalar values (chars), and an end
//! column is the column just after the span, as in rustc's JSON and SARIF. `\n`, `\r\n` and
//! a lone `\r` all end a line, as in miette's own rendering.

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, Severity, SourceCode};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::fmt::Write as _;

/// How diagnostics are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageFormat {
    /// miette's graphical report, without colour.
    #[default]
    Human,
    /// One JSON object per line, shaped like rustc's `--error-format=json`.
    Json,
    /// GitHub Actions workflow commands (`::error file=…::message`).
    Github,
    /// One SARIF 2.1.0 log.
    Sarif,
}

/// Error or warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Something is wrong; the command fails.
    Error,
    /// Worth a look; the command goes on.
    Warning,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
        }
    }
}

/// One diagnostic made plain data: everything the formats need.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// The diagnostic code, such as `segql::resolve::unknown_name`.
    pub code: Option<String>,
    /// Error or warning.
    pub level: Level,
    /// The one-line message (the diagnostic's `Display`).
    pub message: String,
    /// One span per label, in the diagnostic's order; empty when it has no source code.
    pub spans: Vec<Span>,
    /// The help text.
    pub help: Option<String>,
    /// The replacement the help suggests, when it suggests one (see [`Suggestion`]).
    pub suggestion: Option<Suggestion>,
    /// The error's causes (its `source()` chain), outermost first.
    pub causes: Vec<String>,
    /// The diagnostic's `#[related]` diagnostics.
    pub related: Vec<Record>,
    /// The human report, as [`MessageFormat::Human`] writes it.
    pub rendered: String,
}

/// Where a label points: serialised with rustc's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    /// The source's name: the file path relative to the project.
    #[serde(rename = "file_name")]
    pub file: String,
    /// First byte of the span.
    pub byte_start: usize,
    /// Byte just after the span.
    pub byte_end: usize,
    /// Line of the first byte (from 1).
    pub line_start: usize,
    /// Line of `byte_end` (from 1).
    pub line_end: usize,
    /// Column of the first char (from 1, in chars).
    pub column_start: usize,
    /// Column just after the span (from 1, in chars).
    pub column_end: usize,
    /// Whether this is the label the diagnostic is about.
    pub is_primary: bool,
    /// The lines the span covers.
    pub text: Vec<SpanLine>,
    /// The label's text.
    pub label: Option<String>,
}

/// One source line a span covers, with the part it highlights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpanLine {
    /// The line, without its line ending.
    pub text: String,
    /// First highlighted column (from 1, in chars).
    pub highlight_start: usize,
    /// Column just after the highlight (from 1, in chars).
    pub highlight_end: usize,
}

/// A replacement a help text suggests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suggestion {
    /// What to replace.
    pub span: Span,
    /// The text to put there.
    pub replacement: String,
}

impl Record {
    /// Makes a diagnostic plain data. `level` applies unless the diagnostic has a severity
    /// (warnings and advice become [`Level::Warning`]).
    pub fn from_diagnostic(d: &dyn Diagnostic, level: Level) -> Record {
        Self::build(d, level, None)
    }

    /// Related diagnostics without source code of their own point into their parent's, as
    /// miette renders them.
    fn build(d: &dyn Diagnostic, default: Level, parent_src: Option<&dyn SourceCode>) -> Record {
        let level = match d.severity() {
            Some(Severity::Error) => Level::Error,
            Some(Severity::Warning | Severity::Advice) => Level::Warning,
            None => default,
        };
        let src = d.source_code().or(parent_src);
        let spans = src.map(|src| spans(d, src)).unwrap_or_default();
        let help = d.help().map(|h| h.to_string());
        let suggestion = suggestion(help.as_deref(), &spans);
        let related = d.related().into_iter().flatten();
        Record {
            code: d.code().map(|c| c.to_string()),
            level,
            message: d.to_string(),
            help,
            suggestion,
            causes: causes(d),
            related: related.map(|r| Self::build(r, level, src)).collect(),
            rendered: human(d, level),
            spans,
        }
    }

    fn primary_span(&self) -> Option<&Span> {
        self.spans.iter().find(|s| s.is_primary)
    }
}

/// segql words its suggestions as a help text "did you mean `X`?" (code) or
/// "did you mean \"X\"?" (a text value, quotes included), possibly followed by more text;
/// with exactly one label, that is a suggestion to replace the label's span with X.
fn suggestion(help: Option<&str>, spans: &[Span]) -> Option<Suggestion> {
    let [span] = spans else { return None };
    let help = help?;
    let replacement = if let Some(rest) = help.strip_prefix("did you mean `") {
        rest.split_once("`?")?.0.to_string()
    } else {
        let (value, _) = help.strip_prefix("did you mean \"")?.split_once("\"?")?;
        format!("\"{value}\"")
    };
    (!replacement.trim_matches('"').is_empty()).then(|| Suggestion {
        span: span.clone(),
        replacement,
    })
}

/// The cause chain miette prints under a report: diagnostic sources, then error sources.
fn causes(d: &dyn Diagnostic) -> Vec<String> {
    let mut out = Vec::new();
    let mut last = d;
    while let Some(next) = last.diagnostic_source() {
        out.push(next.to_string());
        last = next;
    }
    let mut err = last.source();
    while let Some(e) = err {
        out.push(e.to_string());
        err = e.source();
    }
    out
}

/// miette's graphical report: unicode, no colour, no terminal hyperlinks, 100 columns.
fn human(d: &dyn Diagnostic, level: Level) -> String {
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_links(false)
        .with_width(100);
    let mut out = String::new();
    // miette fails when a label lies outside its source; fall back to the bare message.
    if handler.render_report(&mut out, d).is_err() {
        out = format!("{}: {d}\n", level.as_str());
    }
    out
}

/// The diagnostic's labels as spans over `src`; none when the text cannot be read.
fn spans(d: &dyn Diagnostic, src: &dyn SourceCode) -> Vec<Span> {
    let labels: Vec<_> = d.labels().into_iter().flatten().collect();
    if labels.is_empty() {
        return Vec::new();
    }
    // An empty span with unbounded context reads the whole text.
    let Ok(whole) = src.read_span(&(0..0).into(), usize::MAX, usize::MAX) else {
        return Vec::new();
    };
    let file = whole.name().unwrap_or_default().to_string();
    let lines = Lines::new(whole.data());
    let any_primary = labels.iter().any(|l| l.primary());
    let len = whole.data().len();
    labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let start = l.offset().min(len);
            let end = l.offset().saturating_add(l.len()).clamp(start, len);
            let (line_start, column_start) = lines.position(start);
            let (line_end, column_end) = lines.position(end);
            let text = (line_start..=line_end)
                .map(|n| {
                    let line = lines.content(n - 1);
                    SpanLine {
                        text: String::from_utf8_lossy(line).into_owned(),
                        highlight_start: if n == line_start { column_start } else { 1 },
                        highlight_end: if n == line_end {
                            column_end
                        } else {
                            chars(line) + 1
                        },
                    }
                })
                .collect();
            Span {
                file: file.clone(),
                byte_start: start,
                byte_end: end,
                line_start,
                line_end,
                column_start,
                column_end,
                is_primary: if any_primary { l.primary() } else { i == 0 },
                text,
                label: l.label().map(str::to_string),
            }
        })
        .collect()
}

/// Where the lines of a text start.
struct Lines<'a> {
    text: &'a [u8],
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a [u8]) -> Self {
        let mut starts = vec![0];
        for (i, &b) in text.iter().enumerate() {
            if b == b'\n' || (b == b'\r' && text.get(i + 1) != Some(&b'\n')) {
                starts.push(i + 1);
            }
        }
        Lines { text, starts }
    }

    /// Line `index` (from 0) without its line ending.
    fn content(&self, index: usize) -> &'a [u8] {
        let start = self.starts[index];
        let end = self
            .starts
            .get(index + 1)
            .copied()
            .unwrap_or(self.text.len());
        let line = &self.text[start..end];
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        line.strip_suffix(b"\r").unwrap_or(line)
    }

    /// 1-based line and char column of a byte offset (at most the text's length). An offset
    /// inside a line ending is the column just after the line's last char.
    fn position(&self, offset: usize) -> (usize, usize) {
        let index = self
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let line = self.content(index);
        let before = &line[..(offset - self.starts[index]).min(line.len())];
        (index + 1, chars(before) + 1)
    }
}

/// Chars in UTF-8 bytes: the bytes that do not continue a char (an invalid byte counts as one).
fn chars(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count()
}

/// Writes records in a format; `tool_version` is segql's version, for SARIF. Every format but
/// Human ends each line with `\n`.
pub fn render(records: &[Record], format: MessageFormat, tool_version: &str) -> String {
    match format {
        MessageFormat::Human => {
            let texts: Vec<&str> = records.iter().map(|r| r.rendered.as_str()).collect();
            texts.join("\n")
        }
        MessageFormat::Json => records
            .iter()
            .map(|r| {
                let line = serde_json::to_string(&JsonDiagnostic::new(r, true));
                line.expect("diagnostic JSON has only string keys") + "\n"
            })
            .collect(),
        MessageFormat::Github => records.iter().map(|r| github(r) + "\n").collect(),
        MessageFormat::Sarif => format!("{:#}\n", sarif(records, tool_version)),
    }
}

/// The text of a record for formats with a single message: message, causes, help.
fn full_text(r: &Record) -> String {
    let mut text = r.message.clone();
    for cause in &r.causes {
        let _ = write!(text, "\ncaused by: {cause}");
    }
    if let Some(help) = &r.help {
        let _ = write!(text, "\nhelp: {help}");
    }
    text
}

// ---- JSON: rustc's `--error-format=json` ----

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    #[serde(rename = "$message_type", skip_serializing_if = "Option::is_none")]
    message_type: Option<&'static str>,
    message: &'a str,
    code: Option<JsonCode<'a>>,
    level: &'static str,
    spans: Vec<JsonSpan<'a>>,
    children: Vec<JsonDiagnostic<'a>>,
    rendered: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonCode<'a> {
    code: &'a str,
    explanation: Option<()>,
}

#[derive(Serialize)]
struct JsonSpan<'a> {
    #[serde(flatten)]
    span: &'a Span,
    suggested_replacement: Option<&'a str>,
    suggestion_applicability: Option<&'static str>,
    expansion: Option<()>,
}

impl<'a> JsonDiagnostic<'a> {
    /// A top-level diagnostic, or (`top` false) a child: causes are notes, the help is a help
    /// carrying the suggestion, related diagnostics keep their level.
    fn new(r: &'a Record, top: bool) -> Self {
        let mut children: Vec<_> = r
            .causes
            .iter()
            .map(|c| Self::child(c, "note", Vec::new()))
            .collect();
        if let Some(help) = &r.help {
            let spans = r.suggestion.iter().map(|s| JsonSpan {
                span: &s.span,
                suggested_replacement: Some(&s.replacement),
                // A guess at a misspelt name: the fix may not be what the user meant.
                suggestion_applicability: Some("MaybeIncorrect"),
                expansion: None,
            });
            children.push(Self::child(help, "help", spans.collect()));
        }
        children.extend(r.related.iter().map(|rel| Self::new(rel, false)));
        JsonDiagnostic {
            message_type: top.then_some("diagnostic"),
            message: &r.message,
            code: r.code.as_deref().map(|code| JsonCode {
                code,
                explanation: None,
            }),
            level: r.level.as_str(),
            spans: r.spans.iter().map(JsonSpan::plain).collect(),
            children,
            rendered: top.then_some(r.rendered.as_str()),
        }
    }

    fn child(message: &'a str, level: &'static str, spans: Vec<JsonSpan<'a>>) -> Self {
        JsonDiagnostic {
            message_type: None,
            message,
            code: None,
            level,
            spans,
            children: Vec::new(),
            rendered: None,
        }
    }
}

impl<'a> JsonSpan<'a> {
    fn plain(span: &'a Span) -> Self {
        JsonSpan {
            span,
            suggested_replacement: None,
            suggestion_applicability: None,
            expansion: None,
        }
    }
}

// ---- GitHub Actions workflow commands ----

/// `::error file=…,line=…,endLine=…,col=…,endColumn=…,title=code::text`. Columns only on a
/// one-line span (the runner drops them otherwise); related diagnostics become lines of the
/// text.
fn github(r: &Record) -> String {
    let mut props = Vec::new();
    if let Some(s) = r.primary_span() {
        if !s.file.is_empty() {
            props.push(format!("file={}", escape_property(&s.file)));
        }
        props.push(format!("line={},endLine={}", s.line_start, s.line_end));
        if s.line_start == s.line_end {
            props.push(format!("col={},endColumn={}", s.column_start, s.column_end));
        }
    }
    if let Some(code) = &r.code {
        props.push(format!("title={}", escape_property(code)));
    }
    let mut text = full_text(r);
    for rel in &r.related {
        text.push('\n');
        if let Some(s) = rel.primary_span() {
            let _ = write!(text, "{}:{}:{}: ", s.file, s.line_start, s.column_start);
        }
        let _ = write!(text, "{}: {}", rel.level.as_str(), rel.message);
    }
    let props = if props.is_empty() {
        String::new()
    } else {
        format!(" {}", props.join(","))
    };
    format!("::{}{props}::{}", r.level.as_str(), escape_data(&text))
}

/// Escapes a workflow command's message.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

// ---- SARIF 2.1.0 ----

/// The rule of records without a code.
const DEFAULT_RULE: &str = "segql::error";

fn sarif(records: &[Record], tool_version: &str) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    let mut rule_ids: Vec<&str> = Vec::new();
    let mut results = Vec::new();
    for r in records {
        let id = r.code.as_deref().unwrap_or(DEFAULT_RULE);
        let index = rule_ids.iter().position(|&x| x == id).unwrap_or_else(|| {
            rule_ids.push(id);
            rules.push(json!({"id": id, "shortDescription": {"text": r.message}}));
            rule_ids.len() - 1
        });
        let mut result = json!({
            "ruleId": id,
            "ruleIndex": index,
            "level": r.level.as_str(),
            "message": {"text": full_text(r)},
        });
        let located = r.spans.iter().filter(|s| !s.file.is_empty());
        let (primary, secondary): (Vec<&Span>, Vec<&Span>) = located.partition(|s| s.is_primary);
        let locations: Vec<Value> = primary
            .iter()
            .map(|s| sarif_location(s, s.label.as_deref()))
            .collect();
        let mut related: Vec<Value> = secondary
            .iter()
            .map(|s| sarif_location(s, s.label.as_deref()))
            .collect();
        for rel in &r.related {
            let spans = rel
                .spans
                .iter()
                .filter(|s| s.is_primary && !s.file.is_empty());
            related.extend(spans.map(|s| sarif_location(s, Some(&rel.message))));
        }
        if !locations.is_empty() {
            result["locations"] = locations.into();
        }
        if !related.is_empty() {
            result["relatedLocations"] = related.into();
        }
        if let (Some(s), Some(help)) = (&r.suggestion, &r.help) {
            result["fixes"] = json!([{
                "description": {"text": help},
                "artifactChanges": [{
                    "artifactLocation": {"uri": uri(&s.span.file)},
                    "replacements": [{
                        "deletedRegion": sarif_region(&s.span),
                        "insertedContent": {"text": s.replacement},
                    }],
                }],
            }]);
        }
        results.push(result);
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "segql",
                "version": tool_version,
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
}

fn sarif_location(s: &Span, message: Option<&str>) -> Value {
    let mut location = json!({"physicalLocation": {
        "artifactLocation": {"uri": uri(&s.file)},
        "region": sarif_region(s),
    }});
    if let Some(text) = message {
        location["message"] = json!({"text": text});
    }
    location
}

fn sarif_region(s: &Span) -> Value {
    json!({
        "startLine": s.line_start,
        "startColumn": s.column_start,
        "endLine": s.line_end,
        "endColumn": s.column_end,
        "byteOffset": s.byte_start,
        "byteLength": s.byte_end - s.byte_start,
    })
}

/// A relative URI reference for a path: forward slashes, everything but unreserved
/// characters and `/` percent-encoded.
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.replace('\\', "/").bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Checks a SARIF log against the SARIF 2.1.0 schema for the objects segql writes: each
/// object's `required` properties, property types, enums (`level`, `columnKind`, `version`),
/// `minItems`, and integer bounds (lines and columns >= 1). It also checks what the spec
/// requires beyond the schema: a region has a start, does not end before it starts, and a
/// `ruleIndex` names the rule its `ruleId` does. Artifact locations must have a `uri`.
/// Errors name the offending place as a JSON pointer.
pub fn sarif_required_fields_present(v: &Value) -> Result<(), String> {
    let log = object(v, "")?;
    if string(required(log, "version", "")?, "/version")? != "2.1.0" {
        return Err("/version: must be \"2.1.0\"".into());
    }
    if let Some(schema) = log.get("$schema") {
        string(schema, "/$schema")?;
    }
    required(log, "runs", "")?;
    each(log, "runs", "", 0, &sarif_run)
}

type Check = Result<(), String>;

fn sarif_run(v: &Value, at: &str) -> Check {
    let run = object(v, at)?;
    let tool = object(required(run, "tool", at)?, &format!("{at}/tool"))?;
    let driver = required(tool, "driver", &format!("{at}/tool"))?;
    tool_component(driver, &format!("{at}/tool/driver"))?;
    each(
        tool,
        "extensions",
        &format!("{at}/tool"),
        0,
        &tool_component,
    )?;
    one_of(
        run,
        "columnKind",
        &["utf16CodeUnits", "unicodeCodePoints"],
        at,
    )?;
    let rules = driver
        .get("rules")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    each(run, "results", at, 0, &|r, at| sarif_result(r, at, rules))
}

fn tool_component(v: &Value, at: &str) -> Check {
    let c = object(v, at)?;
    string(required(c, "name", at)?, &format!("{at}/name"))?;
    optional_string(c, "version", at)?;
    optional_string(c, "informationUri", at)?;
    each(c, "rules", at, 0, &|rule, at| {
        let rule = object(rule, at)?;
        string(required(rule, "id", at)?, &format!("{at}/id"))?;
        for key in ["shortDescription", "fullDescription"] {
            if let Some(d) = rule.get(key) {
                let at = format!("{at}/{key}");
                string(
                    required(object(d, &at)?, "text", &at)?,
                    &format!("{at}/text"),
                )?;
            }
        }
        Ok(())
    })
}

fn sarif_result(v: &Value, at: &str, rules: &[Value]) -> Check {
    let r = object(v, at)?;
    message(required(r, "message", at)?, &format!("{at}/message"))?;
    let rule_id = optional_string(r, "ruleId", at)?;
    if let Some(index) = integer(r, "ruleIndex", -1, at)?.filter(|&i| i >= 0) {
        let rule = usize::try_from(index).ok().and_then(|i| rules.get(i));
        let Some(rule) = rule else {
            return Err(format!(
                "{at}/ruleIndex: no rule {index} in tool.driver.rules"
            ));
        };
        if let Some(id) = rule_id.filter(|&id| rule.get("id").and_then(Value::as_str) != Some(id)) {
            return Err(format!("{at}/ruleIndex: rule {index} is not `{id}`"));
        }
    }
    one_of(r, "level", &["none", "note", "warning", "error"], at)?;
    let kinds = [
        "notApplicable",
        "pass",
        "fail",
        "review",
        "open",
        "informational",
    ];
    one_of(r, "kind", &kinds, at)?;
    each(r, "locations", at, 0, &location)?;
    each(r, "relatedLocations", at, 0, &location)?;
    each(r, "fixes", at, 0, &|fix, at| {
        let fix = object(fix, at)?;
        if let Some(d) = fix.get("description") {
            message(d, &format!("{at}/description"))?;
        }
        required(fix, "artifactChanges", at)?;
        each(fix, "artifactChanges", at, 1, &|change, at| {
            let change = object(change, at)?;
            let loc = required(change, "artifactLocation", at)?;
            artifact_location(loc, &format!("{at}/artifactLocation"))?;
            required(change, "replacements", at)?;
            each(change, "replacements", at, 1, &|rep, at| {
                let rep = object(rep, at)?;
                region(
                    required(rep, "deletedRegion", at)?,
                    &format!("{at}/deletedRegion"),
                )?;
                if let Some(content) = rep.get("insertedContent") {
                    optional_string(
                        object(content, &format!("{at}/insertedContent"))?,
                        "text",
                        at,
                    )?;
                }
                Ok(())
            })
        })
    })
}

/// A message needs a `text` or an `id` (the schema's `anyOf`).
fn message(v: &Value, at: &str) -> Check {
    let m = object(v, at)?;
    let text = optional_string(m, "text", at)?;
    let id = optional_string(m, "id", at)?;
    if text.is_none() && id.is_none() {
        return Err(format!("{at}: missing required property `text` (or `id`)"));
    }
    Ok(())
}

fn location(v: &Value, at: &str) -> Check {
    let loc = object(v, at)?;
    integer(loc, "id", -1, at)?;
    if let Some(m) = loc.get("message") {
        message(m, &format!("{at}/message"))?;
    }
    let Some(physical) = loc.get("physicalLocation") else {
        return Ok(());
    };
    let at = format!("{at}/physicalLocation");
    let physical = object(physical, &at)?;
    match (physical.get("artifactLocation"), physical.get("address")) {
        (Some(a), _) => artifact_location(a, &format!("{at}/artifactLocation"))?,
        (None, Some(_)) => {}
        (None, None) => {
            return Err(format!(
                "{at}: missing required property `artifactLocation`"
            ));
        }
    }
    for key in ["region", "contextRegion"] {
        if let Some(r) = physical.get(key) {
            region(r, &format!("{at}/{key}"))?;
        }
    }
    Ok(())
}

fn artifact_location(v: &Value, at: &str) -> Check {
    let a = object(v, at)?;
    string(required(a, "uri", at)?, &format!("{at}/uri"))?;
    optional_string(a, "uriBaseId", at)?;
    integer(a, "index", -1, at).map(drop)
}

fn region(v: &Value, at: &str) -> Check {
    let r = object(v, at)?;
    let start_line = integer(r, "startLine", 1, at)?;
    let start_column = integer(r, "startColumn", 1, at)?;
    let end_line = integer(r, "endLine", 1, at)?;
    let end_column = integer(r, "endColumn", 1, at)?;
    let char_offset = integer(r, "charOffset", -1, at)?;
    let byte_offset = integer(r, "byteOffset", -1, at)?;
    integer(r, "charLength", 0, at)?;
    integer(r, "byteLength", 0, at)?;
    if start_line.is_none() && char_offset.is_none() && byte_offset.is_none() {
        return Err(format!(
            "{at}: needs `startLine`, `charOffset` or `byteOffset`"
        ));
    }
    let end_line = end_line.or(start_line);
    if end_line < start_line {
        return Err(format!("{at}: `endLine` before `startLine`"));
    }
    if end_line == start_line && end_column.is_some() && end_column < start_column {
        return Err(format!("{at}: `endColumn` before `startColumn`"));
    }
    Ok(())
}

fn object<'v>(v: &'v Value, at: &str) -> Result<&'v Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{at}: expected an object"))
}

fn required<'v>(o: &'v Map<String, Value>, key: &str, at: &str) -> Result<&'v Value, String> {
    o.get(key)
        .ok_or_else(|| format!("{at}: missing required property `{key}`"))
}

fn string<'v>(v: &'v Value, at: &str) -> Result<&'v str, String> {
    v.as_str().ok_or_else(|| format!("{at}: expected a string"))
}

fn optional_string<'v>(
    o: &'v Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<&'v str>, String> {
    o.get(key)
        .map(|v| string(v, &format!("{at}/{key}")))
        .transpose()
}

/// An optional integer property of at least `min`.
fn integer(o: &Map<String, Value>, key: &str, min: i64, at: &str) -> Result<Option<i64>, String> {
    let Some(v) = o.get(key) else { return Ok(None) };
    match v.as_i64() {
        Some(i) if i >= min => Ok(Some(i)),
        _ => Err(format!(
            "{at}/{key}: expected an integer >= {min}, found {v}"
        )),
    }
}

fn one_of(o: &Map<String, Value>, key: &str, allowed: &[&str], at: &str) -> Check {
    match optional_string(o, key, at)? {
        Some(s) if !allowed.contains(&s) => Err(format!(
            "{at}/{key}: `{s}` is not one of {}",
            allowed.join(", ")
        )),
        _ => Ok(()),
    }
}

/// Checks each item of an optional array property with at least `min_items` items.
fn each(
    o: &Map<String, Value>,
    key: &str,
    at: &str,
    min_items: usize,
    check: &dyn Fn(&Value, &str) -> Check,
) -> Check {
    let Some(v) = o.get(key) else { return Ok(()) };
    let at = format!("{at}/{key}");
    let items = v
        .as_array()
        .ok_or_else(|| format!("{at}: expected an array"))?;
    if items.len() < min_items {
        return Err(format!("{at}: expected at least {min_items} item(s)"));
    }
    items
        .iter()
        .enumerate()
        .try_for_each(|(i, item)| check(item, &format!("{at}/{i}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use miette::{NamedSource, SourceSpan};
    use std::sync::Arc;
    use thiserror::Error;

    type Src = NamedSource<Arc<str>>;

    fn src(text: &str) -> Src {
        NamedSource::new("segments/offers.seg", Arc::from(text))
    }

    fn span_of(text: &str, needle: &str) -> SourceSpan {
        let at = text.find(needle).expect("needle in text");
        (at, needle.len()).into()
    }

    /// Like segql's `CompileError`.
    #[derive(Debug, Error, Diagnostic)]
    enum ResolveError {
        #[error("unknown segment `{name}`")]
        #[diagnostic(code(fixture::unknown_segment))]
        UnknownSegment {
            name: String,
            #[source_code]
            src: Src,
            #[label("not defined")]
            span: SourceSpan,
            #[help]
            help: Option<String>,
        },
        #[error("segment `{name}` is defined twice")]
        #[diagnostic(code(fixture::duplicate))]
        Duplicate {
            name: String,
            #[source_code]
            src: Src,
            #[label("defined again here")]
            span: SourceSpan,
            #[related]
            previous: Vec<FirstDefinition>,
        },
        #[error(transparent)]
        #[diagnostic(transparent)]
        Lint(Lint),
    }

    /// A related diagnostic pointing into its parent's source.
    #[derive(Debug, Error, Diagnostic)]
    #[error("first defined here")]
    #[diagnostic(severity(Advice))]
    struct FirstDefinition {
        #[label("first")]
        span: SourceSpan,
    }

    /// A warning, with text that needs escaping.
    #[derive(Debug, Error, Diagnostic)]
    enum Lint {
        #[error("segment `{name}` matches 100% of customers, always")]
        #[diagnostic(
            code(fixture::always_true),
            severity(Warning),
            help("check the condition")
        )]
        AlwaysTrue {
            name: String,
            #[source_code]
            src: Src,
            #[label("always true")]
            span: SourceSpan,
        },
    }

    /// No source code, a cause.
    #[derive(Debug, Error, Diagnostic)]
    enum IoError {
        #[error("cannot read `{path}`")]
        #[diagnostic(code(fixture::io))]
        Read {
            path: String,
            #[source]
            cause: std::io::Error,
        },
    }

    const OFFERS: &str = "segment big = spent > 100\nsegment promo = big and Cofee\n";
    const CRLF: &str = "# Кава ☕\r\nsegment café = city == \"Київ\" and Cofee\r\n";

    fn unknown(text: &str) -> ResolveError {
        ResolveError::UnknownSegment {
            name: "Cofee".into(),
            src: src(text),
            span: span_of(text, "Cofee"),
            help: Some("did you mean `Coffee`?".into()),
        }
    }

    fn always_true() -> Lint {
        let text = "segment all = spent >= 0\n";
        Lint::AlwaysTrue {
            name: "all".into(),
            src: src(text),
            span: span_of(text, "spent >= 0"),
        }
    }

    fn io_error() -> IoError {
        let cause = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied");
        IoError::Read {
            path: "segments/offers.seg".into(),
            cause,
        }
    }

    fn duplicate() -> ResolveError {
        let text = "segment big = spent > 100\nsegment big = spent > 200\n";
        ResolveError::Duplicate {
            name: "big".into(),
            src: src(text),
            span: (34, 3).into(),
            previous: vec![FirstDefinition {
                span: (8, 3).into(),
            }],
        }
    }

    fn record(d: &dyn Diagnostic) -> Record {
        Record::from_diagnostic(d, Level::Error)
    }

    /// A record whose rendering is short, for exact output.
    fn short(d: &dyn Diagnostic) -> Record {
        Record {
            rendered: "<rendered>".into(),
            ..record(d)
        }
    }

    #[test]
    fn spans_lines_and_columns() {
        let r = record(&unknown(OFFERS));
        assert_eq!(r.code.as_deref(), Some("fixture::unknown_segment"));
        assert_eq!(r.level, Level::Error);
        assert_eq!(r.message, "unknown segment `Cofee`");
        let [s] = r.spans.as_slice() else {
            panic!("one span: {:?}", r.spans)
        };
        assert_eq!((s.byte_start, s.byte_end), (50, 55));
        assert_eq!(
            (s.line_start, s.column_start, s.line_end, s.column_end),
            (2, 25, 2, 30)
        );
        assert_eq!(s.file, "segments/offers.seg");
        assert!(s.is_primary);
        assert_eq!(s.label.as_deref(), Some("not defined"));
        let line = SpanLine {
            text: "segment promo = big and Cofee".into(),
            highlight_start: 25,
            highlight_end: 30,
        };
        assert_eq!(s.text, [line]);
    }

    #[test]
    fn multibyte_text_and_crlf() {
        let r = record(&unknown(CRLF));
        let [s] = r.spans.as_slice() else {
            panic!("one span")
        };
        // "# Кава ☕\r\n" is 16 bytes; "segment café = city == \"Київ\" and " is 39 bytes, 34 chars.
        assert_eq!((s.byte_start, s.byte_end), (55, 60));
        assert_eq!(
            (s.line_start, s.column_start, s.line_end, s.column_end),
            (2, 35, 2, 40)
        );
        assert_eq!(s.text[0].text, "segment café = city == \"Київ\" and Cofee");
    }

    #[test]
    fn positions_at_edges() {
        let lines = Lines::new("ab\r\nç\rd\n".as_bytes());
        assert_eq!(lines.position(0), (1, 1));
        assert_eq!(lines.position(2), (1, 3)); // at "\r"
        assert_eq!(lines.position(3), (1, 3)); // inside "\r\n"
        assert_eq!(lines.position(4), (2, 1));
        assert_eq!(lines.position(6), (2, 2)); // after the two-byte "ç"
        assert_eq!(lines.position(7), (3, 1)); // a lone "\r" ends a line
        assert_eq!(lines.position(9), (4, 1)); // end of text, after the last "\n"
        assert_eq!(Lines::new(b"").position(0), (1, 1));

        // A zero-length span at the end of the text, and one spanning lines.
        let text = "segment a = x\nand y";
        let end = ResolveError::UnknownSegment {
            name: String::new(),
            src: src(text),
            span: (text.len(), 0).into(),
            help: None,
        };
        let s = &record(&end).spans[0];
        assert_eq!((s.byte_start, s.byte_end), (19, 19));
        assert_eq!(
            (s.line_start, s.column_start, s.line_end, s.column_end),
            (2, 6, 2, 6)
        );
        let across = ResolveError::UnknownSegment {
            name: String::new(),
            src: src(text),
            span: span_of(text, "x\nand"),
            help: None,
        };
        let s = &record(&across).spans[0];
        assert_eq!(
            (s.line_start, s.column_start, s.line_end, s.column_end),
            (1, 13, 2, 4)
        );
        let highlights: Vec<_> = s
            .text
            .iter()
            .map(|l| (l.highlight_start, l.highlight_end))
            .collect();
        assert_eq!(highlights, [(13, 14), (1, 4)]);
        // Out of bounds: clamped, no panic.
        let past = ResolveError::UnknownSegment {
            name: String::new(),
            src: src("ab"),
            span: (1, 9).into(),
            help: None,
        };
        let s = &record(&past).spans[0];
        assert_eq!(
            (s.byte_start, s.byte_end, s.column_start, s.column_end),
            (1, 2, 2, 3)
        );
    }

    #[test]
    fn suggestion_from_help() {
        let r = record(&unknown(OFFERS));
        let s = r.suggestion.expect("a suggestion");
        assert_eq!(s.replacement, "Coffee");
        assert_eq!(s.span, r.spans[0]);
        let span = &r.spans[..1];
        assert!(suggestion(Some("did you mean `x`? known: a, b"), span).is_some());
        assert!(suggestion(Some("known segments: a, b"), span).is_none());
        // A text value: the replacement is quoted as the literal it replaces.
        let quoted = suggestion(Some("did you mean \"Kyiv\"?"), span).expect("a value");
        assert_eq!(quoted.replacement, "\"Kyiv\"");
        assert!(suggestion(Some("did you mean one of \"a\", \"b\"?"), span).is_none());
        assert!(suggestion(Some("did you mean \"\"?"), span).is_none());
        assert!(suggestion(Some("did you mean `x`?"), &[]).is_none());
        let two = [r.spans[0].clone(), r.spans[0].clone()];
        assert!(suggestion(Some("did you mean `x`?"), &two).is_none());
    }

    #[test]
    fn severity_overrides_level_and_transparent_forwards() {
        assert_eq!(
            Record::from_diagnostic(&always_true(), Level::Error).level,
            Level::Warning
        );
        assert_eq!(
            Record::from_diagnostic(&io_error(), Level::Warning).level,
            Level::Warning
        );
        let wrapped = record(&ResolveError::Lint(always_true()));
        assert_eq!(wrapped.level, Level::Warning);
        assert_eq!(wrapped.code.as_deref(), Some("fixture::always_true"));
        assert_eq!(wrapped.help.as_deref(), Some("check the condition"));
        assert_eq!(wrapped.spans, record(&always_true()).spans);
    }

    #[test]
    fn no_source_no_spans() {
        let r = record(&io_error());
        assert!(r.spans.is_empty());
        assert_eq!(r.causes, ["permission denied"]);
        let out = render(&[short(&io_error())], MessageFormat::Github, "0.1.0");
        assert_eq!(
            out,
            "::error title=fixture%3A%3Aio::cannot read `segments/offers.seg`%0Acaused by: permission denied\n"
        );
    }

    #[test]
    fn related_use_parent_source() {
        let r = record(&duplicate());
        let [rel] = r.related.as_slice() else {
            panic!("one related")
        };
        assert_eq!(rel.level, Level::Warning);
        assert_eq!((rel.spans[0].line_start, rel.spans[0].column_start), (1, 9));
        assert_eq!(rel.spans[0].file, "segments/offers.seg");
        let gh = render(std::slice::from_ref(&r), MessageFormat::Github, "0.1.0");
        assert_eq!(
            gh,
            "::error file=segments/offers.seg,line=2,endLine=2,col=9,endColumn=12,\
             title=fixture%3A%3Aduplicate::segment `big` is defined twice\
             %0Asegments/offers.seg:1:9: warning: first defined here\n"
        );
        let sarif: Value =
            serde_json::from_str(&render(&[r], MessageFormat::Sarif, "0.1.0")).expect("JSON");
        let related = &sarif["runs"][0]["results"][0]["relatedLocations"][0];
        assert_eq!(related["message"]["text"], "first defined here");
        assert_eq!(related["physicalLocation"]["region"]["startColumn"], 9);
        assert_eq!(sarif_required_fields_present(&sarif), Ok(()));
    }

    #[test]
    fn json_lines_like_rustc() {
        let out = render(
            &[short(&unknown(OFFERS)), short(&io_error())],
            MessageFormat::Json,
            "0.1.0",
        );
        let span = r#""file_name":"segments/offers.seg","byte_start":50,"byte_end":55,"line_start":2,"line_end":2,"column_start":25,"column_end":30,"is_primary":true,"text":[{"text":"segment promo = big and Cofee","highlight_start":25,"highlight_end":30}]"#;
        let expected = format!(
            concat!(
                r#"{{"$message_type":"diagnostic","message":"unknown segment `Cofee`","#,
                r#""code":{{"code":"fixture::unknown_segment","explanation":null}},"level":"error","#,
                r#""spans":[{{{span},"label":"not defined","suggested_replacement":null,"suggestion_applicability":null,"expansion":null}}],"#,
                r#""children":[{{"message":"did you mean `Coffee`?","code":null,"level":"help","#,
                r#""spans":[{{{span},"label":"not defined","suggested_replacement":"Coffee","suggestion_applicability":"MaybeIncorrect","expansion":null}}],"#,
                r#""children":[],"rendered":null}}],"rendered":"<rendered>"}}"#,
                "\n",
                r#"{{"$message_type":"diagnostic","message":"cannot read `segments/offers.seg`","#,
                r#""code":{{"code":"fixture::io","explanation":null}},"level":"error","spans":[],"#,
                r#""children":[{{"message":"permission denied","code":null,"level":"note","spans":[],"children":[],"rendered":null}}],"#,
                r#""rendered":"<rendered>"}}"#,
                "\n",
            ),
            span = span
        );
        assert_eq!(out, expected);
        for line in out.lines() {
            serde_json::from_str::<Value>(line).expect("each line is JSON");
        }
    }

    #[test]
    fn github_commands_and_escaping() {
        let records = [short(&unknown(CRLF)), short(&always_true())];
        assert_eq!(
            render(&records, MessageFormat::Github, "0.1.0"),
            "::error file=segments/offers.seg,line=2,endLine=2,col=35,endColumn=40,\
             title=fixture%3A%3Aunknown_segment::unknown segment `Cofee`%0Ahelp: did you mean `Coffee`?\n\
             ::warning file=segments/offers.seg,line=1,endLine=1,col=15,endColumn=25,\
             title=fixture%3A%3Aalways_true::segment `all` matches 100%25 of customers, always\
             %0Ahelp: check the condition\n"
        );
        assert_eq!(escape_data("a%b\r\nc:d,e"), "a%25b%0D%0Ac:d,e");
        assert_eq!(escape_property("a%b\r\nc:d,e"), "a%25b%0D%0Ac%3Ad%2Ce");
        // Columns only on one line.
        let text = "segment a = x\nand y";
        let across = ResolveError::UnknownSegment {
            name: "x".into(),
            src: src(text),
            span: span_of(text, "x\nand"),
            help: None,
        };
        let out = render(&[short(&across)], MessageFormat::Github, "0.1.0");
        assert!(
            out.starts_with("::error file=segments/offers.seg,line=1,endLine=2,title="),
            "{out}"
        );
    }

    #[test]
    fn human_is_miettes_report_without_colour() {
        let records = [record(&unknown(CRLF)), record(&always_true())];
        // miette's header counts the column in bytes (2:40); the spans count chars (2:35).
        let expected = r#"fixture::unknown_segment

  × unknown segment `Cofee`
   ╭─[segments/offers.seg:2:40]
 1 │ # Кава ☕
 2 │ segment café = city == "Київ" and Cofee
   ·                                   ──┬──
   ·                                     ╰── not defined
   ╰────
  help: did you mean `Coffee`?

fixture::always_true

  ⚠ segment `all` matches 100% of customers, always
   ╭─[segments/offers.seg:1:15]
 1 │ segment all = spent >= 0
   ·               ─────┬────
   ·                    ╰── always true
   ╰────
  help: check the condition
"#;
        assert_eq!(render(&records, MessageFormat::Human, "0.1.0"), expected);
    }

    #[test]
    fn sarif_log() {
        let records = [
            record(&unknown(CRLF)),
            record(&always_true()),
            record(&io_error()),
            record(&unknown(OFFERS)),
        ];
        let out = render(&records, MessageFormat::Sarif, "1.2.3");
        let v: Value = serde_json::from_str(&out).expect("SARIF is JSON");
        assert_eq!(sarif_required_fields_present(&v), Ok(()));
        let run = &v["runs"][0];
        assert_eq!(run["tool"]["driver"]["version"], "1.2.3");
        let rules: Vec<&str> = run["tool"]["driver"]["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .filter_map(|r| r["id"].as_str())
            .collect();
        assert_eq!(
            rules,
            [
                "fixture::unknown_segment",
                "fixture::always_true",
                "fixture::io"
            ]
        );
        let results = run["results"].as_array().expect("results");
        let indexes: Vec<_> = results.iter().map(|r| r["ruleIndex"].as_u64()).collect();
        assert_eq!(indexes, [Some(0), Some(1), Some(2), Some(0)]);
        assert_eq!(results[1]["level"], "warning");
        assert!(results[2].get("locations").is_none());
        assert_eq!(
            results[0]["locations"][0]["physicalLocation"],
            json!({
                "artifactLocation": {"uri": "segments/offers.seg"},
                "region": {"startLine": 2, "startColumn": 35, "endLine": 2, "endColumn": 40, "byteOffset": 55, "byteLength": 5},
            })
        );
        let replacement = &results[0]["fixes"][0]["artifactChanges"][0]["replacements"][0];
        assert_eq!(replacement["insertedContent"]["text"], "Coffee");
        assert_eq!(replacement["deletedRegion"]["byteOffset"], 55);

        // A record without a code.
        let mut anonymous = record(&io_error());
        anonymous.code = None;
        let v: Value =
            serde_json::from_str(&render(&[anonymous], MessageFormat::Sarif, "1")).expect("JSON");
        assert_eq!(v["runs"][0]["results"][0]["ruleId"], DEFAULT_RULE);
        assert_eq!(uri(r"segments\a b%.seg"), "segments/a%20b%25.seg");
    }

    #[test]
    fn sarif_check_finds_what_is_missing() {
        let out = render(&[record(&unknown(OFFERS))], MessageFormat::Sarif, "1");
        let good: Value = serde_json::from_str(&out).expect("JSON");
        let broken = |pointer: &str, change: &dyn Fn(&mut Value)| {
            let mut v = good.clone();
            change(v.pointer_mut(pointer).expect("pointer"));
            sarif_required_fields_present(&v).expect_err(pointer)
        };
        let remove = |key: &'static str| {
            move |v: &mut Value| drop(v.as_object_mut().expect("object").remove(key))
        };
        assert_eq!(
            broken("", &remove("version")),
            ": missing required property `version`"
        );
        assert_eq!(
            broken("", &remove("runs")),
            ": missing required property `runs`"
        );
        assert_eq!(
            broken("/runs/0", &remove("tool")),
            "/runs/0: missing required property `tool`"
        );
        assert_eq!(
            broken("/runs/0/tool", &remove("driver")),
            "/runs/0/tool: missing required property `driver`"
        );
        assert_eq!(
            broken("/runs/0/tool/driver", &remove("name")),
            "/runs/0/tool/driver: missing required property `name`"
        );
        assert_eq!(
            broken("/runs/0/tool/driver/rules/0", &remove("id")),
            "/runs/0/tool/driver/rules/0: missing required property `id`"
        );
        assert_eq!(
            broken("/runs/0/results/0", &remove("message")),
            "/runs/0/results/0: missing required property `message`"
        );
        assert_eq!(
            broken("/runs/0/results/0/message", &remove("text")),
            "/runs/0/results/0/message: missing required property `text` (or `id`)"
        );
        let loc = "/runs/0/results/0/locations/0/physicalLocation";
        assert_eq!(
            broken(&format!("{loc}/artifactLocation"), &remove("uri")),
            format!("{loc}/artifactLocation: missing required property `uri`")
        );
        assert_eq!(
            broken(&format!("{loc}/region/startLine"), &|v| *v = json!(0)),
            format!("{loc}/region/startLine: expected an integer >= 1, found 0")
        );
        assert_eq!(
            broken(&format!("{loc}/region/endColumn"), &|v| *v = json!("30")),
            format!("{loc}/region/endColumn: expected an integer >= 1, found \"30\"")
        );
        assert_eq!(
            broken("/runs/0/results/0/level", &|v| *v = json!("fatal")),
            "/runs/0/results/0/level: `fatal` is not one of none, note, warning, error"
        );
        assert_eq!(
            broken("/runs/0/results/0/ruleIndex", &|v| *v = json!(3)),
            "/runs/0/results/0/ruleIndex: no rule 3 in tool.driver.rules"
        );
        assert_eq!(
            broken("/version", &|v| *v = json!("2.0.0")),
            "/version: must be \"2.1.0\""
        );
        let fix = "/runs/0/results/0/fixes/0/artifactChanges/0";
        assert_eq!(
            broken(&format!("{fix}/replacements"), &|v| *v = json!([])),
            format!("{fix}/replacements: expected at least 1 item(s)")
        );
        assert_eq!(
            broken(&format!("{fix}/replacements/0"), &remove("deletedRegion")),
            format!("{fix}/replacements/0: missing required property `deletedRegion`")
        );
    }
}
