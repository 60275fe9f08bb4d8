//! `segql lint`: likely mistakes in segment files that compile, each a [`Finding`] with a
//! stable code, the place it is about and, where useful, what to do. Some findings come from
//! the text alone (conditions that can never hold, segments and parameters never used), the
//! others from the data: text values that occur nowhere, windows longer than the history,
//! control groups too small to measure, customers columns hidden by a metric of the same name.
//!
//! Findings point at the syntax tree (its spans), never at the resolved predicates, so a value
//! passed to a segment with parameters is reported at the argument of the call.

use crate::engine::Engine;
use crate::error::RuntimeError;
use crate::measure::stats::normal_quantile;
use crate::reports::literals::{self, Unmatched};
use chrono::NaiveDate;
use datafusion::arrow::array::{Array, Date32Array, Int64Array};
use datafusion::functions_aggregate::expr_fn::min;
use datafusion::logical_expr::{Expr as DfExpr, LogicalPlanBuilder, ident};
use miette::{Diagnostic, LabeledSpan};
use segql_compiler::Program;
use segql_compiler::catalog::{AttrType, Catalog};
use segql_compiler::error::Src;
use segql_compiler::ir::{MetricKind, ValueType};
use segql_grammar::ast::*;
use segql_grammar::fmt::format_expr;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use thiserror::Error;

/// The response rate a campaign's control group is planned against: segql cannot know the
/// responders' rate before sending, so every campaign is planned at this one.
pub const BASELINE_RATE: f64 = 0.10;
/// The uplift of the response rate (absolute, in parts of 1) a control group must be large
/// enough to detect.
pub const DETECTABLE_UPLIFT: f64 = 0.05;
/// The power to detect [`DETECTABLE_UPLIFT`] with.
pub const POWER: f64 = 0.80;
/// The two-sided significance level.
pub const ALPHA: f64 = 0.05;

/// The kinds of finding, each with its stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// A text value that occurs nowhere in its column.
    UnknownValue,
    /// A condition no customer can meet by construction.
    NeverTrue,
    /// A window longer than the data's history.
    WindowBeyondData,
    /// A control group too small to detect the planned uplift.
    HoldoutTooSmall,
    /// A customers column named like a metric, so the name means the metric.
    ShadowedAttribute,
    /// A segment nothing uses.
    UnusedSegment,
    /// A parameter its segment's body never uses.
    UnusedParameter,
}

impl Code {
    /// Every code.
    pub const ALL: [Code; 7] = [
        Code::UnknownValue,
        Code::NeverTrue,
        Code::WindowBeyondData,
        Code::HoldoutTooSmall,
        Code::ShadowedAttribute,
        Code::UnusedSegment,
        Code::UnusedParameter,
    ];

    /// The stable code, `segql::lint::...`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Code::UnknownValue => "segql::lint::unknown_value",
            Code::NeverTrue => "segql::lint::never_true",
            Code::WindowBeyondData => "segql::lint::window_beyond_data",
            Code::HoldoutTooSmall => "segql::lint::holdout_too_small",
            Code::ShadowedAttribute => "segql::lint::shadowed_attribute",
            Code::UnusedSegment => "segql::lint::unused_segment",
            Code::UnusedParameter => "segql::lint::unused_parameter",
        }
    }
}

/// One likely mistake.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// What kind.
    pub code: Code,
    /// The one-line message.
    pub message: String,
    /// The source it points into (an index of [`Program::sources`]); none for a finding about
    /// the data alone.
    pub source: Option<usize>,
    /// Where in that source.
    pub span: Option<Span>,
    /// The label at `span`.
    pub label: Option<String>,
    /// Other places in the same source, with their labels (the earlier comparison).
    pub related: Vec<(Span, String)>,
    /// What to do.
    pub help: Option<String>,
}

impl Finding {
    /// The finding as a miette diagnostic with its code and `Warning` severity.
    pub fn diagnostic(&self, program: &Program) -> LintWarning {
        let src = self
            .source
            .and_then(|i| program.sources.get(i))
            .map(|s| s.named());
        let mut labels = Vec::new();
        if src.is_some() {
            if let Some(span) = self.span {
                labels.push(LabeledSpan::new_primary_with_span(self.label.clone(), span));
            }
            for (span, label) in &self.related {
                labels.push(LabeledSpan::new_with_span(Some(label.clone()), *span));
            }
        }
        let (message, help) = (self.message.clone(), self.help.clone());
        match self.code {
            Code::UnknownValue => LintWarning::UnknownValue {
                message,
                src,
                labels,
                help,
            },
            Code::NeverTrue => LintWarning::NeverTrue {
                message,
                src,
                labels,
                help,
            },
            Code::WindowBeyondData => LintWarning::WindowBeyondData {
                message,
                src,
                labels,
                help,
            },
            Code::HoldoutTooSmall => LintWarning::HoldoutTooSmall {
                message,
                src,
                labels,
                help,
            },
            Code::ShadowedAttribute => LintWarning::ShadowedAttribute {
                message,
                src,
                labels,
                help,
            },
            Code::UnusedSegment => LintWarning::UnusedSegment {
                message,
                src,
                labels,
                help,
            },
            Code::UnusedParameter => LintWarning::UnusedParameter {
                message,
                src,
                labels,
                help,
            },
        }
    }
}

/// A [`Finding`] as a diagnostic: one variant per code.
#[derive(Debug, Error, Diagnostic)]
pub enum LintWarning {
    /// [`Code::UnknownValue`].
    #[error("{message}")]
    #[diagnostic(code(segql::lint::unknown_value), severity(Warning))]
    UnknownValue {
        /// The message.
        message: String,
        /// The segment file.
        #[source_code]
        src: Option<Src>,
        /// Where.
        #[label(collection)]
        labels: Vec<LabeledSpan>,
        /// What to do.
        #[help]
        help: Option<String>,
    },
    /// [`Code::NeverTrue`].
    #[error("{message}")]
    #[diagnostic(code(segql::lint::never_true), severity(Warning))]
    NeverTrue {
        /// The message.
        message: String,
        /// The segment file.
        #[source_code]
        src: Option<Src>,
        /// Where.
        #[label(collection)]
        labels: Vec<LabeledSpan>,
        /// What to do.
        #[help]
        help: Option<String>,
    },
    /// [`Code::WindowBeyondData`].
    #[error("{message}")]
    #[diagnostic(code(segql::lint::window_beyond_data), severity(Warning))]
    WindowBeyondData {
        /// The message.
        message: String,
        /// The segment file.
        #[source_code]
        src: Option<Src>,
        /// Where.
        #[label(collection)]
        labels: Vec<LabeledSpan>,
        /// What to do.
        #[help]
        help: Option<String>,
    },
    /// [`Code::HoldoutTooSmall`].
    #[error("{message}")]
    #[diagnostic(code(segql::lint::holdout_too_small), severity(Warning))]
    HoldoutTooSmall {
        /// The message.
        message: String,
        /// The segment file.
        #[source_code]
        src: Option<Src>,
        /// Where.
        #[label(collection)]
        labels: Vec<LabeledSpan>,
        /// What to do.
        #[help]
        help: Option<String>,
    },
    /// [`Code::ShadowedAttribute`].
    #[error("{message}")]
    #[diagnostic(code(segql::lint::shadowed_attribute), severity(Warning))]
    ShadowedAttribute {
        /// The message.
        message: String,
        /// The segment file, when the name is used.
        #[source_code]
        src: Option<Src>,
        /// Where.
        #[label(collection)]
        labels: Vec<LabeledSpan>,
        /// What to do.
        #[help]
        help: Option<String>,
    },
    /// [`Code::UnusedSegment`].
    #[error("{message}")]
    #[diagnostic(code(segql::lint::unused_segment), severity(Warning))]
    UnusedSegment {
        /// The message.
        message: String,
        /// The segment file.
        #[source_code]
        src: Option<Src>,
        /// Where.
        #[label(collection)]
        labels: Vec<LabeledSpan>,
        /// What to do.
        #[help]
        help: Option<String>,
    },
    /// [`Code::UnusedParameter`].
    #[error("{message}")]
    #[diagnostic(code(segql::lint::unused_parameter), severity(Warning))]
    UnusedParameter {
        /// The message.
        message: String,
        /// The segment file.
        #[source_code]
        src: Option<Src>,
        /// Where.
        #[label(collection)]
        labels: Vec<LabeledSpan>,
        /// What to do.
        #[help]
        help: Option<String>,
    },
}

/// Every finding of `program` (which resolves without errors) against the engine's data,
/// ordered by source and position (findings without a place last). Tables of the project not
/// read yet are read first.
pub async fn lint(engine: &mut Engine, program: &Program) -> Result<Vec<Finding>, RuntimeError> {
    let unread = engine.catalog.unread();
    if unread.any() {
        engine.read(unread).await?;
    }
    let mut out = Vec::new();
    unused(program, &mut out);
    for entry in &program.segments {
        for e in bodies(&entry.def) {
            never_true(e, entry.source, &mut out);
        }
    }
    let places = places(program, &engine.catalog);
    unknown_values(engine, &places, &mut out).await?;
    if let Some(first) = first_date(engine).await? {
        windows_beyond_data(&places, first, engine.catalog.as_of, &mut out);
    }
    shadowed_attributes(program, &engine.catalog, &mut out);
    holdouts(engine, program, &mut out).await?;
    out.sort_by_key(|f| {
        (
            f.source.unwrap_or(usize::MAX),
            f.span.map_or(usize::MAX, |s| s.start),
            f.code,
        )
    });
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Unused segments and parameters

/// Segments with parameters that no segment calls, segments of imported files that no
/// segment uses, and parameters their body never uses.
fn unused(program: &Program, out: &mut Vec<Finding>) {
    let imported = imported_sources(program);
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for entry in &program.segments {
        for e in bodies(&entry.def) {
            used.extend(e.segment_refs());
            segql_compiler::params::walk(e, &mut |x| {
                if let ExprKind::CampaignCond { campaign, .. } = &x.kind {
                    used.insert(campaign.name.as_str());
                }
            });
        }
    }
    for entry in &program.segments {
        let def = &entry.def;
        let name = def.name.name.as_str();
        let what = if def.campaign.is_some() {
            "campaign"
        } else {
            "segment"
        };
        if !def.params.is_empty() && !used.contains(name) {
            out.push(Finding {
                code: Code::UnusedSegment,
                message: format!("{what} `{name}` takes parameters and no segment calls it"),
                source: Some(entry.source),
                span: Some(def.name.span),
                label: Some("never called".into()),
                related: Vec::new(),
                help: Some(format!(
                    "a segment with parameters runs only when called, e.g. `{name}({})`; call it from a segment, or remove it",
                    def.params
                        .iter()
                        .map(|p| p.name.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            });
        } else if def.params.is_empty()
            && !used.contains(name)
            && let Some(importer) = imported.get(&entry.source)
        {
            out.push(Finding {
                code: Code::UnusedSegment,
                message: format!(
                    "{what} `{name}` is used by no segment, and its file is imported by `{}`",
                    program.sources[*importer].name
                ),
                source: Some(entry.source),
                span: Some(def.name.span),
                label: Some("used nowhere".into()),
                related: Vec::new(),
                help: Some(
                    "an imported file holds building blocks of other segments: refer to it from one, or remove it"
                        .into(),
                ),
            });
        }
        if def.params.is_empty() {
            continue;
        }
        let uses = segql_compiler::params::uses(def);
        for (i, p) in def.params.iter().enumerate() {
            if uses.iter().any(|u| u.index == i) {
                continue;
            }
            out.push(Finding {
                code: Code::UnusedParameter,
                message: format!(
                    "parameter `{}` of `{name}` is never used in its body",
                    p.name.name
                ),
                source: Some(entry.source),
                span: Some(p.name.span),
                label: Some("unused".into()),
                related: Vec::new(),
                help: Some(format!(
                    "use it in the body, or remove it and its argument from every call of `{name}`"
                )),
            });
        }
    }
}

/// The condition and the campaign's response condition of a definition.
fn bodies(def: &SegmentDef) -> Vec<&Expr> {
    let mut out = vec![&def.body];
    if let Some(cond) = def
        .campaign
        .as_ref()
        .and_then(|c| c.respond.as_ref())
        .and_then(|r| r.condition.as_ref())
    {
        out.push(cond);
    }
    out
}

/// The sources another source imports, each with (the first of) its importers.
fn imported_sources(program: &Program) -> HashMap<usize, usize> {
    let by_path: HashMap<&PathBuf, usize> = program
        .sources
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.path.as_ref().map(|p| (p, i)))
        .collect();
    let mut out = HashMap::new();
    for (i, s) in program.sources.iter().enumerate() {
        let Ok(file) = segql_grammar::parse_file(&s.name, &s.text) else {
            continue;
        };
        let base = s
            .path
            .as_ref()
            .and_then(|p| p.parent().map(PathBuf::from))
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        for item in &file.items {
            if let Item::Import(imp) = item
                && let Ok(target) = std::fs::canonicalize(base.join(&imp.path))
                && let Some(&j) = by_path.get(&target)
                && j != i
            {
                out.entry(j).or_insert(i);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Conditions that can never hold

/// A comparison's value, for comparing bounds: numbers, durations (days) and dates (days)
/// are ordered; text, words and true/false are compared for equality.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Num(f64),
    Cat(String),
}

/// The values an operand can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Domain {
    /// Any number.
    Real,
    /// Whole numbers: days, dates, counts.
    Whole,
    /// Text and words.
    Cat,
    /// true and false.
    Bool,
}

/// What the comparisons of one operand allow, so far.
#[derive(Debug, Clone)]
struct Bounds {
    domain: Domain,
    /// The kind of literal (a number, a duration, a date, a value, true/false): comparisons
    /// with literals of different kinds are not combined.
    kind: &'static str,
    /// The lower end, and whether it is excluded.
    lo: Option<(f64, bool)>,
    /// The upper end, and whether it is excluded.
    hi: Option<(f64, bool)>,
    /// The only values allowed (`=`, `in`), when some are named.
    allowed: Option<Vec<Val>>,
    /// Values excluded (`!=`, `not in`).
    excluded: Vec<Val>,
}

impl Bounds {
    fn new(domain: Domain, kind: &'static str) -> Bounds {
        Bounds {
            domain,
            kind,
            lo: None,
            hi: None,
            allowed: None,
            excluded: Vec::new(),
        }
    }

    /// Both at once; `None` when they compare different kinds of value.
    fn and(&self, other: &Bounds) -> Option<Bounds> {
        if self.kind != other.kind || self.domain != other.domain {
            return None;
        }
        let tighter = |a: Option<(f64, bool)>, b: Option<(f64, bool)>, lower: bool| match (a, b) {
            (None, x) | (x, None) => x,
            (Some(x), Some(y)) if x.0 == y.0 => Some((x.0, x.1 || y.1)),
            (Some(x), Some(y)) => Some(if (x.0 > y.0) == lower { x } else { y }),
        };
        let allowed = match (&self.allowed, &other.allowed) {
            (None, x) | (x, None) => x.clone(),
            (Some(a), Some(b)) => Some(a.iter().filter(|v| b.contains(v)).cloned().collect()),
        };
        let mut excluded = self.excluded.clone();
        excluded.extend(other.excluded.iter().cloned());
        Some(Bounds {
            domain: self.domain,
            kind: self.kind,
            lo: tighter(self.lo, other.lo, true),
            hi: tighter(self.hi, other.hi, false),
            allowed,
            excluded,
        })
    }

    /// Whether `v` meets every comparison.
    fn admits(&self, v: &Val) -> bool {
        if self.excluded.contains(v) {
            return false;
        }
        match v {
            Val::Cat(_) => true,
            Val::Num(x) => {
                let above = self
                    .lo
                    .is_none_or(|(lo, strict)| if strict { *x > lo } else { *x >= lo });
                let below = self
                    .hi
                    .is_none_or(|(hi, strict)| if strict { *x < hi } else { *x <= hi });
                above && below && (self.domain != Domain::Whole || x.fract() == 0.0)
            }
        }
    }

    /// Whether some value meets every comparison.
    fn possible(&self) -> bool {
        if let Some(allowed) = &self.allowed {
            return allowed.iter().any(|v| self.admits(v));
        }
        let lo = self.lo.unwrap_or((f64::NEG_INFINITY, false));
        let hi = self.hi.unwrap_or((f64::INFINITY, false));
        match self.domain {
            Domain::Cat => true,
            Domain::Bool => ["true", "false"]
                .iter()
                .any(|b| self.admits(&Val::Cat(b.to_string()))),
            Domain::Real => {
                lo.0 < hi.0 || (lo.0 == hi.0 && !lo.1 && !hi.1 && self.admits(&Val::Num(lo.0)))
            }
            Domain::Whole => {
                let first = if lo.1 {
                    lo.0.floor() + 1.0
                } else {
                    lo.0.ceil()
                };
                let last = if hi.1 {
                    hi.0.ceil() - 1.0
                } else {
                    hi.0.floor()
                };
                if first > last {
                    return false;
                }
                if last - first > self.excluded.len() as f64 {
                    return true;
                }
                let mut x = first;
                while x <= last {
                    if self.admits(&Val::Num(x)) {
                        return true;
                    }
                    x += 1.0;
                }
                false
            }
        }
    }
}

/// A literal as a value to compare, with its kind; `None` for a parameter.
fn value_of(l: &Literal) -> Option<(&'static str, Val)> {
    Some(match &l.kind {
        LiteralKind::Number(n) => ("number", Val::Num(n.parse().ok()?)),
        LiteralKind::Duration(d) if d.unit != DurationUnit::Param => {
            ("duration", Val::Num(d.days() as f64))
        }
        LiteralKind::Date(d) => (
            "date",
            Val::Num(f64::from(chrono::Datelike::num_days_from_ce(d))),
        ),
        LiteralKind::String(s) | LiteralKind::Word(s) => ("value", Val::Cat(s.clone())),
        LiteralKind::Bool(b) => ("bool", Val::Cat(b.to_string())),
        LiteralKind::Duration(_) | LiteralKind::Param(_) => return None,
    })
}

/// True when the operand's values are whole numbers (counts).
fn whole_operand(o: &Operand) -> bool {
    match &o.kind {
        OperandKind::Name {
            name, percentile, ..
        } => {
            !percentile
                && (matches!(
                    name.name.as_str(),
                    "rfm.r" | "rfm_r" | "rfm.f" | "rfm_f" | "rfm.m" | "rfm_m"
                ) || MetricKind::by_name(&name.name)
                    .is_some_and(|m| m.value_type() == ValueType::Count))
        }
        OperandKind::Contacts { .. } | OperandKind::Cluster { .. } => true,
        OperandKind::Spend { .. } | OperandKind::Score { .. } => false,
    }
}

/// The canonical text of an operand, which identifies it (its name, scope and window).
fn operand_text(o: &Operand) -> String {
    let e = Expr {
        kind: ExprKind::Compare {
            lhs: o.clone(),
            op: CmpOp::Eq,
            rhs: Literal {
                kind: LiteralKind::Number("0".into()),
                span: Span::default(),
            },
        },
        span: Span::default(),
    };
    let text = format_expr(&e);
    text.strip_suffix(" = 0").unwrap_or(&text).to_string()
}

/// What one comparison allows its operand: (operand, its canonical text, bounds).
fn comparison(e: &Expr) -> Option<(&Operand, String, Bounds)> {
    let (lhs, values): (&Operand, Vec<(&'static str, Val)>) = match &e.kind {
        ExprKind::Compare { lhs, rhs, .. } => (lhs, vec![value_of(rhs)?]),
        ExprKind::In { lhs, list, .. } => (lhs, list.iter().map(value_of).collect::<Option<_>>()?),
        ExprKind::Between {
            lhs,
            negated: false,
            low,
            high,
        } => (lhs, vec![value_of(low)?, value_of(high)?]),
        _ => return None,
    };
    let kind = values.first()?.0;
    if values.iter().any(|(k, _)| *k != kind) {
        return None;
    }
    let domain = match kind {
        "duration" | "date" => Domain::Whole,
        "number" if whole_operand(lhs) => Domain::Whole,
        "number" => Domain::Real,
        "bool" => Domain::Bool,
        _ => Domain::Cat,
    };
    let mut b = Bounds::new(domain, kind);
    let num = |v: &Val| match v {
        Val::Num(x) => Some(*x),
        Val::Cat(_) => None,
    };
    let vals: Vec<Val> = values.into_iter().map(|(_, v)| v).collect();
    match &e.kind {
        ExprKind::Compare { op, .. } => {
            let v = vals[0].clone();
            match op {
                CmpOp::Eq => b.allowed = Some(vec![v]),
                CmpOp::Ne => b.excluded.push(v),
                CmpOp::Lt => b.hi = Some((num(&v)?, true)),
                CmpOp::Le => b.hi = Some((num(&v)?, false)),
                CmpOp::Gt => b.lo = Some((num(&v)?, true)),
                CmpOp::Ge => b.lo = Some((num(&v)?, false)),
            }
        }
        ExprKind::In { negated: true, .. } => b.excluded = vals,
        ExprKind::In { .. } => b.allowed = Some(vals),
        _ => {
            b.lo = Some((num(&vals[0])?, false));
            b.hi = Some((num(&vals[1])?, false));
        }
    }
    Some((lhs, operand_text(lhs), b))
}

/// The `and` chains of `e` (groups flattened), each a list of its operands; a condition that
/// is not in an `and` is a chain of its own.
/// Each `and` chain with whether it sits under a `not` (an odd number of them).
type Chain<'a> = (Vec<&'a Expr>, bool);

fn chains<'a>(e: &'a Expr, negated: bool, out: &mut Vec<Chain<'a>>) {
    fn flatten<'a>(
        e: &'a Expr,
        negated: bool,
        atoms: &mut Vec<&'a Expr>,
        out: &mut Vec<Chain<'a>>,
    ) {
        match &e.kind {
            ExprKind::And(v) => v.iter().for_each(|x| flatten(x, negated, atoms, out)),
            ExprKind::Group(x) => flatten(x, negated, atoms, out),
            ExprKind::Or(_) | ExprKind::Not(_) => chains(e, negated, out),
            _ => atoms.push(e),
        }
    }
    match &e.kind {
        ExprKind::Or(v) => v.iter().for_each(|x| chains(x, negated, out)),
        ExprKind::Not(x) => chains(x, !negated, out),
        _ => {
            let mut atoms = Vec::new();
            flatten(e, negated, &mut atoms, out);
            if !atoms.is_empty() {
                out.push((atoms, negated));
            }
        }
    }
}

/// The comparisons of one operand in a chain so far (none contradicting the others), and what
/// they allow together.
type Seen<'a> = (Vec<(&'a Expr, Bounds)>, Bounds);

/// Comparisons of one operand in one `and` chain that no value meets together.
fn never_true(e: &Expr, source: usize, out: &mut Vec<Finding>) {
    let mut all = Vec::new();
    chains(e, false, &mut all);
    for (chain, negated) in all {
        // Under a `not`, a condition that never holds makes the `not` hold for everyone.
        let under_not = if negated {
            "; under its `not`, that part holds for every customer"
        } else {
            ""
        };
        // Per operand: the comparisons so far (that did not contradict) and what they allow.
        let mut seen: HashMap<String, Seen> = HashMap::new();
        for atom in chain {
            let Some((lhs, key, b)) = comparison(atom) else {
                continue;
            };
            let text = format_expr(atom);
            if !b.possible() {
                let (reason, help) = match &atom.kind {
                    ExprKind::Between { low, high, .. }
                        if b.lo.zip(b.hi).is_some_and(|(l, h)| l.0 > h.0) =>
                    {
                        (
                            "its low end is above its high end".to_string(),
                            Some(format!(
                                "write the low end first: `{} between {} and {}`",
                                key, high.kind, low.kind
                            )),
                        )
                    }
                    _ if b.domain == Domain::Whole && b.kind == "number" => (
                        format!("`{key}` is a whole number"),
                        Some(format!("compare `{key}` with whole numbers")),
                    ),
                    _ => ("no value meets it".to_string(), None),
                };
                let help = match (help, negated) {
                    (Some(h), _) => Some(format!("{h}{under_not}")),
                    (None, true) => Some(under_not.trim_start_matches("; ").to_string()),
                    (None, false) => None,
                };
                out.push(Finding {
                    code: Code::NeverTrue,
                    message: format!("`{text}` can never hold: {reason}"),
                    source: Some(source),
                    span: Some(atom.span),
                    label: Some("true for no customer".into()),
                    related: Vec::new(),
                    help,
                });
                continue;
            }
            let Some((earlier, so_far)) = seen.get_mut(&key) else {
                seen.insert(key, (vec![(atom, b.clone())], b));
                continue;
            };
            let Some(together) = so_far.and(&b) else {
                continue;
            };
            if together.possible() {
                earlier.push((atom, b));
                *so_far = together;
                continue;
            }
            // The earlier comparison it contradicts on its own, else all of them together.
            let one = earlier
                .iter()
                .find(|(_, e)| e.and(&b).is_some_and(|both| !both.possible()));
            let (message, related) = match one {
                Some((first, _)) => (
                    format!(
                        "`{text}` can never hold together with `{}`",
                        format_expr(first)
                    ),
                    vec![(first.span, "the earlier comparison".to_string())],
                ),
                None => (
                    format!(
                        "`{text}` can never hold together with the comparisons of `{key}` before it"
                    ),
                    earlier
                        .iter()
                        .map(|(x, _)| (x.span, "an earlier comparison".to_string()))
                        .collect(),
                ),
            };
            let what = if matches!(lhs.kind, OperandKind::Name { .. }) {
                format!("`{key}`")
            } else {
                "the value".to_string()
            };
            out.push(Finding {
                code: Code::NeverTrue,
                message,
                source: Some(source),
                span: Some(atom.span),
                label: Some("contradicts the earlier comparison".into()),
                related,
                help: Some(format!(
                    "no value of {what} meets them all, so no customer meets this `and`{under_not}: check the bounds, or join them with `or`"
                )),
            });
        }
    }
}

// ---------------------------------------------------------------------------------------
// Places that name data: text values and windows over the history

/// A place in a segment file that names data.
#[derive(Debug, Clone)]
enum Place {
    /// A text value compared with a column.
    Value {
        table: &'static str,
        column: String,
        value: String,
        source: usize,
        span: Span,
    },
    /// A window ending at the as-of date, over the transactions.
    Window {
        days: u64,
        text: String,
        source: usize,
        span: Span,
    },
}

/// How a parameter is used: as a value of a column, or as a window over the history.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ParamUse {
    Value { table: &'static str, column: String },
    Window,
}

/// What walking one definition found.
#[derive(Default)]
struct Walked<'a> {
    places: Vec<Place>,
    /// (parameter index, use).
    params: Vec<(usize, ParamUse)>,
    /// The calls of segments with parameters.
    calls: Vec<(&'a Ident, &'a [Arg])>,
}

/// The walk of one definition.
struct Walker<'a, 'c> {
    catalog: &'c Catalog,
    def: &'a SegmentDef,
    source: usize,
    /// Windows over the history count (not in a response, measured after a snapshot).
    history: bool,
    found: Walked<'a>,
}

impl<'a> Walker<'a, '_> {
    fn param(&self, name: &str) -> Option<usize> {
        self.def.params.iter().position(|p| p.name.name == name)
    }

    fn value(&mut self, table: &'static str, column: &str, l: &Literal) {
        match &l.kind {
            LiteralKind::String(v) | LiteralKind::Number(v) => {
                self.found.places.push(Place::Value {
                    table,
                    column: column.to_string(),
                    value: v.clone(),
                    source: self.source,
                    span: l.span,
                })
            }
            LiteralKind::Param(p) => {
                if let Some(i) = self.param(p) {
                    self.found.params.push((
                        i,
                        ParamUse::Value {
                            table,
                            column: column.to_string(),
                        },
                    ));
                }
            }
            _ => {}
        }
    }

    fn window(&mut self, w: Option<&Window>) {
        let Some(w) = w else { return };
        if !self.history || w.since_first.is_some() {
            return;
        }
        if w.duration.unit == DurationUnit::Param {
            self.found
                .params
                .push((w.duration.value as usize, ParamUse::Window));
        } else {
            self.found.places.push(Place::Window {
                days: w.duration.days(),
                text: w.to_string(),
                source: self.source,
                span: w.span,
            });
        }
    }

    /// The customers attribute of text type an operand names, if it does.
    fn text_attribute(&self, o: &Operand) -> Option<String> {
        match &o.kind {
            OperandKind::Name {
                name,
                scope: None,
                window: None,
                percentile: false,
            } if !builtin(&name.name)
                && self.catalog.attribute(&name.name) == Some(Some(AttrType::Text)) =>
            {
                Some(name.name.clone())
            }
            _ => None,
        }
    }

    fn operand(&mut self, o: &Operand) {
        match &o.kind {
            OperandKind::Name {
                name,
                scope,
                window,
                ..
            } => {
                for l in scope.iter().flat_map(|(v, _)| v) {
                    self.value("transactions", "partner", l);
                }
                if MetricKind::by_name(&name.name).is_some() {
                    self.window(window.as_ref());
                }
            }
            OperandKind::Spend {
                dimension,
                values,
                window,
            } => {
                for l in values {
                    self.value("transactions", dimension.column(), l);
                }
                self.window(window.as_ref());
            }
            OperandKind::Contacts { .. }
            | OperandKind::Cluster { .. }
            | OperandKind::Score { .. } => {}
        }
    }

    fn expr(&mut self, e: &'a Expr) {
        match &e.kind {
            ExprKind::And(v) | ExprKind::Or(v) => v.iter().for_each(|x| self.expr(x)),
            ExprKind::Not(x) | ExprKind::Group(x) => self.expr(x),
            ExprKind::Compare { lhs, rhs, .. } => {
                self.operand(lhs);
                if let Some(a) = self.text_attribute(lhs) {
                    self.value("customers", &a, rhs);
                }
            }
            ExprKind::In { lhs, list, .. } => {
                self.operand(lhs);
                if let Some(a) = self.text_attribute(lhs) {
                    for l in list {
                        self.value("customers", &a, l);
                    }
                }
            }
            ExprKind::Between { lhs, .. } => self.operand(lhs),
            ExprKind::Top { by, .. } => self.operand(by),
            ExprKind::Bought {
                dimension,
                values,
                window,
                ..
            } => {
                let column = dimension.unwrap_or(Dimension::Product).column();
                for l in values {
                    self.value("transactions", column, l);
                }
                self.window(window.as_ref());
            }
            ExprKind::Redeemed { window } => self.window(window.as_ref()),
            ExprKind::Call { name, args } => self.found.calls.push((name, args)),
            ExprKind::SegmentRef(_)
            | ExprKind::Lookalike { .. }
            | ExprKind::Upcoming { .. }
            | ExprKind::CampaignCond { .. }
            | ExprKind::Contacted { .. } => {}
        }
    }
}

/// Names that mean a value of segql's before any customers attribute: the metrics,
/// `lifecycle`, the RFM parts and `abc`.
fn builtin(name: &str) -> bool {
    MetricKind::by_name(name).is_some()
        || matches!(
            name,
            "lifecycle"
                | "rfm"
                | "rfm.r"
                | "rfm_r"
                | "rfm.f"
                | "rfm_f"
                | "rfm.m"
                | "rfm_m"
                | "rfm_segment"
                | "abc"
        )
}

/// Every place of the program's segments that names data, values passed to parameters at the
/// arguments of the calls.
fn places(program: &Program, catalog: &Catalog) -> Vec<Place> {
    let mut walked: Vec<Walked> = Vec::new();
    for entry in &program.segments {
        let mut w = Walker {
            catalog,
            def: &entry.def,
            source: entry.source,
            history: true,
            found: Walked::default(),
        };
        w.expr(&entry.def.body);
        if let Some(c) = &entry.def.campaign {
            if let Some(by) = c.limit.as_ref().and_then(|l| l.by.as_ref()) {
                w.operand(by);
            }
            if let Some(cond) = c.respond.as_ref().and_then(|r| r.condition.as_ref()) {
                w.history = false;
                w.expr(cond);
            }
        }
        walked.push(w.found);
    }
    let index: HashMap<&str, usize> = program
        .segments
        .iter()
        .enumerate()
        .map(|(i, s)| (s.def.name.name.as_str(), i))
        .collect();
    let param_of = |i: usize, l: &Literal| match &l.kind {
        LiteralKind::Param(p) => program.segments[i]
            .def
            .params
            .iter()
            .position(|x| &x.name.name == p),
        _ => None,
    };
    // A parameter passed on to a call is used as the called segment uses it.
    for _ in 0..program.segments.len() {
        let mut changed = false;
        for i in 0..walked.len() {
            let mut new = Vec::new();
            for (name, args) in &walked[i].calls {
                let Some(&callee) = index.get(name.name.as_str()) else {
                    continue;
                };
                for (k, u) in &walked[callee].params {
                    for l in args.get(*k).map(|a| a.values.as_slice()).unwrap_or(&[]) {
                        if let Some(p) = param_of(i, l) {
                            let item = (p, u.clone());
                            if !walked[i].params.contains(&item) && !new.contains(&item) {
                                new.push(item);
                            }
                        }
                    }
                }
            }
            changed |= !new.is_empty();
            walked[i].params.extend(new);
        }
        if !changed {
            break;
        }
    }
    let mut out = Vec::new();
    for (i, w) in walked.iter().enumerate() {
        out.extend(w.places.iter().cloned());
        let source = program.segments[i].source;
        for (name, args) in &w.calls {
            let Some(&callee) = index.get(name.name.as_str()) else {
                continue;
            };
            for (k, u) in &walked[callee].params {
                for l in args.get(*k).map(|a| a.values.as_slice()).unwrap_or(&[]) {
                    match (u, &l.kind) {
                        (
                            ParamUse::Value { table, column },
                            LiteralKind::String(v) | LiteralKind::Number(v),
                        ) => out.push(Place::Value {
                            table,
                            column: column.clone(),
                            value: v.clone(),
                            source,
                            span: l.span,
                        }),
                        (ParamUse::Window, LiteralKind::Duration(d))
                            if d.unit != DurationUnit::Param =>
                        {
                            out.push(Place::Window {
                                days: d.days(),
                                text: format!("within {d}"),
                                source,
                                span: l.span,
                            })
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    out
}

/// Text values that occur nowhere in their column.
async fn unknown_values(
    engine: &Engine,
    places: &[Place],
    out: &mut Vec<Finding>,
) -> Result<(), RuntimeError> {
    let wanted: Vec<literals::Literal> = places
        .iter()
        .filter_map(|p| match p {
            Place::Value {
                table,
                column,
                value,
                ..
            } => Some((*table, column.clone(), value.clone())),
            Place::Window { .. } => None,
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let unmatched = literals::unmatched_literals(engine, &wanted).await?;
    for p in places {
        let Place::Value {
            table,
            column,
            value,
            source,
            span,
        } = p
        else {
            continue;
        };
        let Some(u) = unmatched
            .iter()
            .find(|u| u.table == *table && &u.column == column && &u.value == value)
        else {
            continue;
        };
        out.push(Finding {
            code: Code::UnknownValue,
            message: format!(
                "no {column} \"{value}\" in the {table} (text compares exactly, case included)"
            ),
            source: Some(*source),
            span: Some(*span),
            label: Some(format!("no {column} has this value")),
            related: Vec::new(),
            help: unknown_help(u),
        });
    }
    Ok(())
}

/// The help of a value that occurs nowhere: where it occurs, else the closest values.
fn unknown_help(u: &Unmatched) -> Option<String> {
    if let Some(other) = &u.elsewhere {
        return Some(format!(
            "\"{}\" is a {other}: write `{other} \"{}\"`",
            u.value, u.value
        ));
    }
    match u.closest.as_slice() {
        [] => None,
        [one] => Some(format!("did you mean \"{one}\"?")),
        many => Some(format!(
            "did you mean one of {}?",
            many.iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Windows beyond the data

/// The first transaction date: from the files' statistics when they prove it, else read.
async fn first_date(engine: &Engine) -> Result<Option<NaiveDate>, RuntimeError> {
    if let Some((first, _)) = engine.catalog.facts.dates {
        return Ok(Some(first));
    }
    let plan = LogicalPlanBuilder::from(engine.catalog.transactions.clone())
        .aggregate(Vec::<DfExpr>::new(), vec![min(ident("ts")).alias("first")])
        .and_then(|b| b.build())
        .map_err(|e| RuntimeError::data("finding the first transaction date", e))?;
    let batches = engine.collect(plan).await?;
    let days = batches
        .iter()
        .filter(|b| b.num_rows() > 0)
        .filter_map(|b| b.column(0).as_any().downcast_ref::<Date32Array>())
        .find_map(|a| (!a.is_null(0)).then(|| a.value(0)));
    Ok(days.and_then(|d| {
        NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_signed(chrono::Duration::days(d.into()))
    }))
}

/// Windows that reach back before the first transaction.
fn windows_beyond_data(
    places: &[Place],
    first: NaiveDate,
    as_of: NaiveDate,
    out: &mut Vec<Finding>,
) {
    let history = (as_of - first).num_days() + 1;
    for p in places {
        let Place::Window {
            days,
            text,
            source,
            span,
        } = p
        else {
            continue;
        };
        if (*days as i64) <= history {
            continue;
        }
        let start = as_of
            .checked_sub_signed(chrono::Duration::days(*days as i64 - 1))
            .map(|d| d.to_string())
            .unwrap_or_else(|| "before any calendar".into());
        let (message, help) = if history <= 0 {
            (
                format!(
                    "`{text}` ({days} days) looks at history the data does not have: the first transaction ({first}) is after the as-of date {as_of}"
                ),
                "evaluate as of a later date (--as-of), or check the data".to_string(),
            )
        } else {
            (
                format!(
                    "`{text}` ({days} days, from {start}) reaches back before the first transaction ({first}): the data has {history} days of history up to {as_of}"
                ),
                format!(
                    "the window counts only the {history} days there are, so totals over it are understated: shorten it to at most {history}d, or add older transactions"
                ),
            )
        };
        out.push(Finding {
            code: Code::WindowBeyondData,
            message,
            source: Some(*source),
            span: Some(*span),
            label: Some(format!("{days} days, {history} of them in the data")),
            related: Vec::new(),
            help: Some(help),
        });
    }
}

// ---------------------------------------------------------------------------------------
// Customers columns named like a metric

/// Customers columns whose name means a value of segql's, at their first use (else once,
/// without a place).
fn shadowed_attributes(program: &Program, catalog: &Catalog, out: &mut Vec<Finding>) {
    for (attr, _) in catalog.attributes() {
        if !builtin(&attr) {
            continue;
        }
        let mut first: Option<(usize, Span)> = None;
        for entry in &program.segments {
            let mut operands: Vec<&Operand> = Vec::new();
            for e in bodies(&entry.def) {
                segql_compiler::params::walk(e, &mut |x| match &x.kind {
                    ExprKind::Compare { lhs, .. }
                    | ExprKind::In { lhs, .. }
                    | ExprKind::Between { lhs, .. } => operands.push(lhs),
                    ExprKind::Top { by, .. } => operands.push(by),
                    _ => {}
                });
            }
            if let Some(by) = entry
                .def
                .campaign
                .as_ref()
                .and_then(|c| c.limit.as_ref())
                .and_then(|l| l.by.as_ref())
            {
                operands.push(by);
            }
            for o in operands {
                if let OperandKind::Name { name, .. } = &o.kind
                    && name.name == attr
                {
                    let here = (entry.source, name.span);
                    if first.is_none_or(|f| (here.0, here.1.start) < (f.0, f.1.start)) {
                        first = Some(here);
                    }
                }
            }
        }
        let what = if MetricKind::by_name(&attr).is_some() {
            "metric"
        } else {
            "value"
        };
        out.push(Finding {
            code: Code::ShadowedAttribute,
            message: format!(
                "the customers table has a column `{attr}`, which is also segql's {what} `{attr}`: the name means the {what}, never the column"
            ),
            source: first.map(|f| f.0),
            span: first.map(|f| f.1),
            label: Some(format!("segql's {what}, not the customers column")),
            related: Vec::new(),
            help: Some(format!(
                "to compare with the column, give it another name in segql.toml: `customer_{attr} = \"{attr}\"` under [customers.columns], then write `customer_{attr}`"
            )),
        });
    }
}

// ---------------------------------------------------------------------------------------
// Control groups too small to measure

/// Control members needed to detect a response rate going from `baseline` to
/// `baseline + uplift` with a two-sided test at `alpha` and the given `power`, when the test
/// group has `ratio` members per control member (the two-proportion sample size without
/// continuity correction, Fleiss):
/// n_c = (z_{1-alpha/2} sqrt(p(1-p)(1 + 1/k)) + z_power sqrt(p_c(1-p_c) + p_t(1-p_t)/k))² / d²
/// with p = (p_c + k p_t) / (1 + k). `None` for rates outside (0, 1) or a ratio that is not
/// positive.
pub fn control_needed(
    baseline: f64,
    uplift: f64,
    ratio: f64,
    alpha: f64,
    power: f64,
) -> Option<f64> {
    let (pc, pt, k) = (baseline, baseline + uplift, ratio);
    let valid = |p: f64| p > 0.0 && p < 1.0;
    if !(valid(pc) && valid(pt) && k > 0.0 && k.is_finite() && uplift != 0.0) {
        return None;
    }
    let za = normal_quantile(1.0 - alpha / 2.0)?;
    let zb = normal_quantile(power)?;
    let pooled = (pc + k * pt) / (1.0 + k);
    let a = za * (pooled * (1.0 - pooled) * (1.0 + 1.0 / k)).sqrt();
    let b = zb * (pc * (1.0 - pc) + pt * (1.0 - pt) / k).sqrt();
    Some((a + b).powi(2) / (uplift * uplift))
}

/// What a holdout of `bp` basis points of an audience of `n` gives: (control members
/// expected, control members needed with the rest as the test group).
fn holdout_plan(n: u64, bp: u64) -> Option<(f64, f64)> {
    let control = n as f64 * bp as f64 / 10_000.0;
    let ratio = (10_000 - bp.min(9_999)) as f64 / bp.max(1) as f64;
    let needed = control_needed(BASELINE_RATE, DETECTABLE_UPLIFT, ratio, ALPHA, POWER)?;
    Some((control, needed))
}

/// A percentage of basis points as written: `10%`, `12.5%`, `31.42%`.
fn percent(bp: u64) -> String {
    let text = format!("{}.{:02}", bp / 100, bp % 100);
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
}

/// A whole number with thousands separators.
fn count_text(n: f64) -> String {
    crate::output::thousands(&format!("{n:.0}"))
}

/// Campaigns whose control group is too small to detect [`DETECTABLE_UPLIFT`].
async fn holdouts(
    engine: &mut Engine,
    program: &Program,
    out: &mut Vec<Finding>,
) -> Result<(), RuntimeError> {
    for entry in &program.segments {
        let def = &entry.def;
        let Some((_, span)) = def.campaign.as_ref().and_then(|c| c.holdout.as_ref()) else {
            continue;
        };
        if !def.params.is_empty() {
            continue;
        }
        let name = def.name.name.as_str();
        let Ok(seg) = engine
            .compile(|c| segql_compiler::resolve_segment(program, c, name))
            .await?
        else {
            continue;
        };
        let bp = seg.campaign.as_ref().map_or(0, |c| c.holdout_bp);
        if bp == 0 {
            continue;
        }
        let query = engine
            .compile(|c| segql_compiler::lower_definition(c, &seg))
            .await?
            .and_then(|q| q.count())
            .map_err(|e| RuntimeError::data(format!("counting the audience of `{name}`"), e))?;
        let batches = engine.collect(query).await?;
        let n = batches
            .iter()
            .filter(|b| b.num_rows() > 0)
            .filter_map(|b| b.column(0).as_any().downcast_ref::<Int64Array>())
            .map(|a| a.value(0).max(0) as u64)
            .next()
            .unwrap_or(0);
        let Some((control, needed)) = holdout_plan(n, bp) else {
            continue;
        };
        if control >= needed {
            continue;
        }
        // The smallest holdout (up to half the audience) whose control group is large enough.
        let enough = (1..=5_000).find_map(|b| {
            let (c, need) = holdout_plan(n, b)?;
            (c >= need).then_some((b, need))
        });
        let help = match enough {
            Some((b, need)) => format!(
                "a holdout of {} gives about {} control members, the {} needed with the rest of the {} as the test group",
                percent(b),
                count_text(n as f64 * b as f64 / 10_000.0),
                count_text(need.ceil()),
                plural(n, "member", "members")
            ),
            None => {
                let half = control_needed(BASELINE_RATE, DETECTABLE_UPLIFT, 1.0, ALPHA, POWER)
                    .unwrap_or(f64::NAN)
                    .ceil();
                format!(
                    "even half the audience held out is too few: an even split needs {} control members, an audience of at least {}",
                    count_text(half),
                    count_text(2.0 * half)
                )
            }
        };
        out.push(Finding {
            code: Code::HoldoutTooSmall,
            message: format!(
                "the control group of `{name}`, about {} of {} as of {}, is too small to detect a response rate going from {:.0}% to {:.0}% (at {:.0}% power and the {:.0}% level): that needs {} control members",
                count_text(control),
                plural(n, "member", "members"),
                engine.catalog.as_of,
                BASELINE_RATE * 100.0,
                (BASELINE_RATE + DETECTABLE_UPLIFT) * 100.0,
                POWER * 100.0,
                ALPHA * 100.0,
                count_text(needed.ceil()),
            ),
            source: Some(entry.source),
            span: Some(*span),
            label: Some(format!(
                "about {} control member{}",
                count_text(control),
                if control.round() == 1.0 { "" } else { "s" }
            )),
            related: Vec::new(),
            help: Some(help),
        });
    }
    Ok(())
}

/// `n` with its noun, singular or plural, the number with thousands separators.
fn plural(n: u64, one: &str, many: &str) -> String {
    format!(
        "{} {}",
        crate::output::thousands(&n.to_string()),
        if n == 1 { one } else { many }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook figure: 686 per group for 10% against 15% at 80% power and the 5% level
    /// (Fleiss without continuity correction; 685.6 computed with Python's `NormalDist`).
    #[test]
    fn control_needed_matches_the_two_proportion_sample_size() {
        let n = control_needed(0.10, 0.05, 1.0, 0.05, 0.8).unwrap();
        assert!((n - 685.6).abs() < 0.1, "{n}");
        // A larger test group needs fewer control members.
        let k9 = control_needed(0.10, 0.05, 9.0, 0.05, 0.8).unwrap();
        assert!(k9 < n && k9 > n / 2.0, "{k9}");
        assert!(control_needed(0.0, 0.05, 1.0, 0.05, 0.8).is_none());
    }

    #[test]
    fn percentages_are_written_as_in_a_campaign() {
        assert_eq!(percent(1000), "10%");
        assert_eq!(percent(1250), "12.5%");
        assert_eq!(percent(3142), "31.42%");
    }

    fn bounds(text: &str) -> Vec<Bounds> {
        let e = segql_grammar::parse_expr("t", text).unwrap();
        let mut all = Vec::new();
        chains(&e, false, &mut all);
        all.into_iter()
            .flat_map(|(atoms, _)| atoms)
            .map(|a| comparison(a).unwrap().2)
            .collect()
    }

    fn possible(text: &str) -> bool {
        let b = bounds(text);
        b.iter()
            .skip(1)
            .try_fold(b[0].clone(), |acc, x| acc.and(x))
            .unwrap()
            .possible()
    }

    #[test]
    fn bounds_that_cannot_all_hold() {
        assert!(!possible("recency < 30d and recency > 60d"));
        assert!(!possible("x = \"a\" and x = \"b\""));
        assert!(!possible("x < 5 and x >= 5"));
        assert!(!possible("avg_check between 10 and 5"));
        assert!(!possible("frequency > 2 and frequency < 3"));
        assert!(!possible(
            "x in (\"a\", \"b\") and x != \"a\" and x != \"b\""
        ));
        assert!(!possible("sms_opt_in != true and sms_opt_in != false"));
        assert!(!possible(
            "first_purchase > 2026-01-02 and first_purchase < 2026-01-03"
        ));
        assert!(possible("x > 2 and x < 3"));
        assert!(possible("x <= 5 and x >= 5"));
        assert!(possible("recency >= 30d and recency <= 30d"));
        assert!(possible("x in (\"a\", \"b\") and x != \"a\""));
        assert!(possible(
            "frequency >= 2 and frequency <= 3 and frequency != 2"
        ));
    }
}
