//! Name resolution and type checking: syntax tree to [`crate::ir`].

use crate::catalog::{AttrType, Catalog};
use crate::error::{CompileError, closest};
use crate::ir::*;
use crate::program::Program;
use segql_grammar::ast::{self, CmpOp, Dimension, Expr, ExprKind, Literal, LiteralKind, Span};
use std::sync::Arc;

/// Resolves segment `name` of the program (with references inlined).
pub fn resolve_segment(
    program: &Program,
    catalog: &Catalog,
    name: &str,
) -> Result<Segment, CompileError> {
    let entry = program
        .segment(name)
        .ok_or_else(|| CompileError::SegmentNotFound {
            name: name.to_string(),
            help: known_segments_help(program, name),
        })?;
    let mut r = Resolver {
        program,
        catalog,
        stack: vec![],
        leaves: 0,
        root: (entry.source, entry.def.name.span),
    };
    if !entry.def.params.is_empty() {
        return Err(r.needs_arguments(&entry.def, entry.source, entry.def.name.span));
    }
    let pred = r.segment(name, entry.source, entry.def.name.span)?;
    let campaign = match &entry.def.campaign {
        None => None,
        Some(c) => Some(r.campaign(c, entry.source)?),
    };
    Ok(Segment {
        name: name.to_string(),
        description: entry.def.description.clone(),
        pred,
        campaign,
    })
}

/// Resolves an inline expression parsed into `program` as source `source`.
pub fn resolve_expr(
    program: &Program,
    catalog: &Catalog,
    expr: &Expr,
    source: usize,
) -> Result<Pred, CompileError> {
    Resolver {
        program,
        catalog,
        stack: vec![],
        leaves: 0,
        root: (source, expr.span),
    }
    .expr(expr, source)
}

/// Resolves a response written on its own (`bought category "Coffee" within 14d`), parsed
/// into `program` as source `source`: a purchase condition whose windows are one length.
pub fn resolve_response(
    program: &Program,
    catalog: &Catalog,
    expr: &Expr,
    source: usize,
) -> Result<Arc<Response>, CompileError> {
    Resolver {
        program,
        catalog,
        stack: vec![],
        leaves: 0,
        root: (source, expr.span),
    }
    .response(
        &ast::Respond {
            condition: Some(expr.clone()),
            window: None,
            span: expr.span,
        },
        source,
    )
}

/// A `respond` clause in the canonical layout: `any purchase within 14d`, or its condition.
pub fn written_response(r: &ast::Respond) -> String {
    match (&r.condition, &r.window) {
        (Some(c), _) => segql_grammar::fmt::format_expr(c),
        (None, Some(w)) => format!("any purchase {w}"),
        (None, None) => String::new(),
    }
}

/// How each campaign of the program with a `respond` is responded to, by name, or why its
/// response does not resolve: what the features' responses to past campaigns count.
pub fn campaign_responses(
    program: &Program,
    catalog: &Catalog,
) -> std::collections::BTreeMap<String, Result<Arc<Response>, String>> {
    let mut out = std::collections::BTreeMap::new();
    for entry in &program.segments {
        let Some(r) = entry.def.campaign.as_ref().and_then(|c| c.respond.as_ref()) else {
            continue;
        };
        let mut resolver = Resolver {
            program,
            catalog,
            stack: vec![],
            leaves: 0,
            root: (entry.source, entry.def.name.span),
        };
        let response = resolver
            .response(r, entry.source)
            .map_err(|e| e.to_string());
        out.insert(entry.def.name.name.clone(), response);
    }
    out
}

/// Resolves every segment of the program, collecting every error instead of stopping at the
/// first.
pub fn check_all(program: &Program, catalog: &Catalog) -> Vec<CompileError> {
    program
        .segments
        .iter()
        .filter_map(|s| {
            if s.def.params.is_empty() {
                resolve_segment(program, catalog, &s.def.name.name).err()
            } else {
                check_template(program, catalog, &s.def.name.name).err()
            }
        })
        // A broken segment also breaks every segment referring to it; report it once.
        .fold(Vec::new(), |mut acc, e| {
            let key = format!("{e:?}");
            if !acc.iter().any(|x: &CompileError| format!("{x:?}") == key) {
                acc.push(e);
            }
            acc
        })
}

/// Checks a segment with parameters on its own: the parameters' declarations against their
/// uses, and the body with a placeholder argument of each parameter's type.
pub fn check_template(
    program: &Program,
    catalog: &Catalog,
    name: &str,
) -> Result<(), CompileError> {
    let entry = program
        .segment(name)
        .ok_or_else(|| CompileError::SegmentNotFound {
            name: name.to_string(),
            help: known_segments_help(program, name),
        })?;
    let mut r = Resolver {
        program,
        catalog,
        stack: vec![name.to_string()],
        leaves: 0,
        root: (entry.source, entry.def.name.span),
    };
    let expects = r.param_expects(&entry.def, entry.source)?;
    let args: Vec<ast::Arg> = expects
        .iter()
        .map(|(e, word)| {
            let mut a = crate::params::placeholder(*e, entry.def.name.span, catalog.as_of);
            if let Some(w) = word {
                a.values[0].kind = LiteralKind::Word(w.to_string());
            }
            a
        })
        .collect();
    let body = crate::params::expand(&entry.def, &args);
    r.expr(&body, entry.source).map(|_| ())
}

/// The definition of segment `name` with every call of a segment with parameters replaced
/// by the segment's body with its arguments in place (`segql explain --stage expanded`).
pub fn expanded_text(program: &Program, name: &str) -> Option<String> {
    fn expand_calls(program: &Program, e: &Expr, depth: usize) -> Expr {
        let mut e = e.clone();
        if depth > MAX_REFERENCE_DEPTH {
            return e;
        }
        match &mut e.kind {
            ExprKind::And(v) | ExprKind::Or(v) => {
                for x in v.iter_mut() {
                    *x = expand_calls(program, x, depth);
                }
            }
            ExprKind::Not(x) | ExprKind::Group(x) => **x = expand_calls(program, x, depth),
            ExprKind::Call { name, args } => {
                if let Some(entry) = program.segment(&name.name)
                    && entry.def.params.len() == args.len()
                {
                    let body = crate::params::expand(&entry.def, args);
                    let span = e.span;
                    return Expr {
                        kind: ExprKind::Group(Box::new(expand_calls(program, &body, depth + 1))),
                        span,
                    };
                }
            }
            _ => {}
        }
        e
    }
    let entry = program.segment(name)?;
    let mut def = entry.def.clone();
    def.body = expand_calls(program, &entry.def.body, 0);
    Some(segql_grammar::fmt::format_definition(&def))
}

fn known_segments_help(program: &Program, name: &str) -> String {
    let names: Vec<&str> = program.names().collect();
    match closest(name, names.iter().copied()) {
        Some(c) => format!("did you mean `{c}`?"),
        None if names.is_empty() => "no segments are defined".to_string(),
        None => format!("known segments: {}", names.join(", ")),
    }
}

/// A definition's parameters as written: `cat, days: duration`.
fn params_text(def: &ast::SegmentDef) -> String {
    def.params
        .iter()
        .map(|p| match p.ty {
            Some((t, _)) => format!("{}: {}", p.name.name, t.word()),
            None => p.name.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a value compared with a value of type `ty` must be, with a word of the set for
/// stages and enumerations.
fn expect_of(ty: ValueType) -> (crate::params::Expect, Option<&'static str>) {
    use crate::params::Expect;
    match ty {
        ValueType::Days => (Expect::Duration, None),
        ValueType::Count | ValueType::Money | ValueType::Quantity | ValueType::Number => {
            (Expect::Number, None)
        }
        ValueType::Date => (Expect::Date, None),
        ValueType::Text => (Expect::Text, None),
        ValueType::Bool => (Expect::Bool, None),
        ValueType::Stage => (Expect::Word, Some("active")),
        ValueType::Enum(_, words) => (Expect::Word, words.first().copied()),
    }
}

/// How deeply segments may refer to segments.
pub const MAX_REFERENCE_DEPTH: usize = 64;
/// How many conditions a segment may expand to once its references are inlined.
pub const MAX_CONDITIONS: usize = 10_000;

struct Resolver<'a> {
    program: &'a Program,
    catalog: &'a Catalog,
    /// Segments being resolved, for cycle detection.
    stack: Vec<String>,
    /// Conditions produced so far.
    leaves: usize,
    /// What is being resolved (source, span): the segment's name or the inline expression,
    /// where a limit on the whole expansion is reported.
    root: (usize, Span),
}

impl Resolver<'_> {
    /// A percentage as written (`12.5`) in basis points of 10,000, at least `min`.
    fn basis_points(
        &self,
        text: &str,
        span: Span,
        min: u64,
        message: &str,
        s: usize,
    ) -> Result<u64, CompileError> {
        let bad = || CompileError::InvalidValue {
            message: message.to_string(),
            src: self.src(s),
            span,
        };
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        if frac.len() > 2 {
            return Err(bad());
        }
        let bp = format!("{int}{frac:0<2}")
            .parse::<u64>()
            .map_err(|_| bad())?;
        if bp < min || bp > crate::udf::BUCKETS {
            return Err(bad());
        }
        Ok(bp)
    }

    fn campaign(&mut self, c: &ast::Campaign, s: usize) -> Result<CampaignSpec, CompileError> {
        let holdout_bp = match &c.holdout {
            None => 0,
            Some((text, span)) => self.basis_points(
                text,
                *span,
                0,
                "a holdout is a percentage from 0% to 100% with at most two decimals",
                s,
            )?,
        };
        let limit = match &c.limit {
            None => None,
            Some(l) => {
                if l.count == 0 {
                    return Err(CompileError::InvalidValue {
                        message: "`limit 0` leaves nobody in the campaign".into(),
                        src: self.src(s),
                        span: l.span,
                    });
                }
                let by = match &l.by {
                    None => None,
                    Some(op) => {
                        let (v, ty) = self.operand(op, s)?;
                        if !ty.ordered() {
                            return Err(self.bad_operator("limit ... by", &v, ty, op.span, s));
                        }
                        Some(v)
                    }
                };
                Some((l.count, by, l.descending))
            }
        };
        let response = match &c.respond {
            None => None,
            Some(r) => Some(self.response(r, s)?),
        };
        Ok(CampaignSpec {
            holdout_bp,
            limit,
            response,
        })
    }

    /// `respond within W` (a purchase in the window) or `respond CONDITION`: a condition on
    /// purchases whose windows are all one length, the response window.
    fn response(&mut self, r: &ast::Respond, s: usize) -> Result<Arc<Response>, CompileError> {
        let invalid = |this: &Self, message: String| {
            CompileError::InvalidResponse {
            message,
            src: this.src(s),
            span: r.span,
            help: "a response is a purchase condition over the days after the snapshot, e.g. `respond within 14d` (any purchase), `respond bought category \"Coffee\" within 14d` or `respond spend on partner \"OKKO\" within 30d >= 500`".into(),
        }
        };
        let pred = match (&r.condition, r.window) {
            (None, Some(w)) => {
                if w.since_first.is_some() {
                    return Err(invalid(
                        self,
                        "the response window starts after the snapshot, not at the first purchase"
                            .into(),
                    ));
                }
                Pred::Cmp {
                    value: Value::Metric(Metric {
                        kind: MetricKind::Frequency,
                        window: Some(w.duration.days()),
                        scope: vec![],
                    }),
                    ty: ValueType::Count,
                    op: CmpOp::Ge,
                    rhs: Const::Number("1".into()),
                }
            }
            (Some(cond), _) => self.expr(cond, s)?,
            (None, None) => return Err(invalid(self, "a response needs a window".into())),
        };
        let mut days = None;
        for v in pred.values() {
            let w = match &v {
                Value::Metric(m) if !matches!(m.kind, MetricKind::Contacts { .. }) => m.window,
                _ => None,
            };
            let Some(w) = w else {
                return Err(invalid(
                    self,
                    format!(
                        "`{}` is not a purchase measured over the response window",
                        v.column_name()
                    ),
                ));
            };
            match days {
                Some(d) if d != w => {
                    return Err(invalid(
                        self,
                        format!("its windows differ ({d} and {w} days); a response has one window"),
                    ));
                }
                _ => days = Some(w),
            }
        }
        let Some(days) = days else {
            return Err(invalid(self, "a response needs a window".into()));
        };
        self.check_window(Some(days), r.span, s)?;
        let text = format!("{pred:?}");
        Ok(Arc::new(Response {
            pred,
            days,
            text,
            written: written_response(r),
        }))
    }

    /// `treated(NAME [, DATE]) [within W]`, `held_out(...)`, `responded(...)`.
    fn campaign_cond(
        &mut self,
        role: CampaignRole,
        campaign: &ast::Ident,
        date: Option<&Literal>,
        window: Option<&ast::Window>,
        s: usize,
    ) -> Result<Pred, CompileError> {
        let program = self.program;
        let entry = program
            .segment(&campaign.name)
            .filter(|e| e.def.campaign.is_some());
        let Some(entry) = entry else {
            let names: Vec<&str> = program
                .segments
                .iter()
                .filter(|e| e.def.campaign.is_some())
                .map(|e| e.def.name.name.as_str())
                .collect();
            let help = match closest(&campaign.name, names.iter().copied()) {
                Some(c) => format!("did you mean `{c}`?"),
                None if names.is_empty() => {
                    "no campaigns are defined here; define one with `campaign NAME = SEGMENT holdout 10% respond within 14d`".into()
                }
                None => format!("known campaigns: {}", names.join(", ")),
            };
            return Err(CompileError::UnknownName {
                what: "campaign",
                name: campaign.name.clone(),
                src: self.src(s),
                span: campaign.span,
                help: Some(help),
            });
        };
        let snapshots = match (date, window) {
            (Some(d), Some(w)) => {
                return Err(CompileError::InvalidValue {
                    message: "name one snapshot by its date or a window of snapshots, not both"
                        .into(),
                    src: self.src(s),
                    span: Span::new(d.span.start, w.span.end),
                });
            }
            (Some(d), None) => {
                let LiteralKind::Date(day) = d.kind else {
                    unreachable!("the grammar takes a date")
                };
                let taken = self.catalog.snapshots_of(&campaign.name);
                if !taken.iter().any(|t| t.as_of == day) {
                    let dates: Vec<String> = taken.iter().map(|t| t.as_of.to_string()).collect();
                    return Err(CompileError::NoSnapshot {
                        campaign: campaign.name.clone(),
                        date: day.to_string(),
                        src: self.src(s),
                        span: d.span,
                        help: if dates.is_empty() {
                            format!(
                                "no snapshot of `{}` was taken; take one with `segql run FILE --segment {} --snapshot`",
                                campaign.name, campaign.name
                            )
                        } else {
                            format!("its snapshots: {}", dates.join(", "))
                        },
                    });
                }
                Snapshots::On(day)
            }
            (None, Some(w)) => {
                if w.since_first.is_some() {
                    return Err(CompileError::FromFirstNotAllowed {
                        name: role.word().to_string(),
                        src: self.src(s),
                        span: w.span,
                        help: format!(
                            "`{}(NAME) within 90d` reads the snapshots taken in the last 90 days",
                            role.word()
                        ),
                    });
                }
                let days = w.duration.days();
                self.check_window(Some(days), w.span, s)?;
                Snapshots::Within(days)
            }
            (None, None) => Snapshots::All,
        };
        let response = match role {
            CampaignRole::Responded => {
                let Some(r) = entry.def.campaign.as_ref().and_then(|c| c.respond.as_ref()) else {
                    return Err(CompileError::NoResponse {
                        campaign: campaign.name.clone(),
                        src: self.src(s),
                        span: campaign.span,
                    });
                };
                let key = format!("{} (response)", campaign.name);
                if self.stack.contains(&key) {
                    return Err(CompileError::SegmentCycle {
                        name: campaign.name.clone(),
                        cycle: format!("{key} -> {key}"),
                        src: self.src(s),
                        span: campaign.span,
                    });
                }
                self.stack.push(key);
                let r = self.response(r, entry.source);
                self.stack.pop();
                Some(r?)
            }
            _ => None,
        };
        Ok(Pred::Cmp {
            value: Value::Campaign(CampaignRef {
                role,
                campaign: campaign.name.clone(),
                snapshots,
                response,
            }),
            ty: ValueType::Bool,
            op: CmpOp::Eq,
            rhs: Const::Bool(true),
        })
    }

    fn segment(&mut self, name: &str, from_src: usize, from: Span) -> Result<Pred, CompileError> {
        if let Some(pos) = self.stack.iter().position(|s| s == name) {
            let mut chain: Vec<String> = self.stack[pos..].to_vec();
            chain.push(name.to_string());
            return Err(CompileError::SegmentCycle {
                name: name.to_string(),
                cycle: chain.join(" -> "),
                src: self.program.sources[from_src].named(),
                span: from,
            });
        }
        if self.stack.len() >= MAX_REFERENCE_DEPTH {
            return Err(CompileError::TooComplex {
                message: format!(
                    "segments refer to segments more than {MAX_REFERENCE_DEPTH} levels deep"
                ),
                src: self.src(self.root.0),
                span: self.root.1,
            });
        }
        let entry = self.program.segment(name).expect("checked by the caller");
        self.stack.push(name.to_string());
        let r = self.expr(&entry.def.body, entry.source);
        self.stack.pop();
        r
    }

    /// `model` names none of the `known` models: the closest name, the known ones, or how to
    /// fit one (`fit`, a command).
    fn unknown_model<'k>(
        &self,
        model: &ast::Ident,
        known: impl Iterator<Item = &'k String>,
        fit: &str,
        s: usize,
    ) -> CompileError {
        let known: Vec<&str> = known.map(String::as_str).collect();
        let help = match closest(&model.name, known.iter().copied()) {
            Some(c) => format!("did you mean `{c}`?"),
            None if known.is_empty() => {
                format!("the project has no models; fit one with `{fit}`")
            }
            None => format!("known models: {}", known.join(", ")),
        };
        CompileError::UnknownName {
            what: "model",
            name: model.name.clone(),
            src: self.src(s),
            span: model.span,
            help: Some(help),
        }
    }

    /// `id` names no segment: the closest name, or the known ones.
    fn unknown_segment(&self, id: &ast::Ident, s: usize) -> CompileError {
        let names: Vec<&str> = self.program.names().collect();
        let help = match closest(&id.name, names.iter().copied()) {
            Some(c) => Some(format!("did you mean `{c}`?")),
            None if names.is_empty() => Some(
                "no segments are defined here; define one with `segment NAME = ...`".to_string(),
            ),
            None => Some(format!("known segments: {}", names.join(", "))),
        };
        CompileError::UnknownName {
            what: "segment",
            name: id.name.clone(),
            src: self.src(s),
            span: id.span,
            help,
        }
    }

    fn needs_arguments(&self, def: &ast::SegmentDef, s: usize, span: Span) -> CompileError {
        let params = params_text(def);
        CompileError::NeedsArguments {
            name: def.name.name.clone(),
            help: format!(
                "use it from another segment with one argument for each of {}, in parentheses after its name",
                def.params
                    .iter()
                    .map(|p| format!("`{}`", p.name.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            params,
            src: self.src(s),
            span,
        }
    }

    /// What each parameter of `def` takes: its declared type, else what its uses take; with
    /// a word of the set for parameters compared with a lifecycle stage or an RFM segment
    /// (for placeholders).
    fn param_expects(
        &self,
        def: &ast::SegmentDef,
        s: usize,
    ) -> Result<Vec<(crate::params::Expect, Option<&'static str>)>, CompileError> {
        self.param_expects_in(def, s, &mut Vec::new())
    }

    /// [`Self::param_expects`], with the segments whose parameters are being typed (a
    /// parameter passed on to a call takes the called segment's parameter's type; segments
    /// calling each other in a circle leave it open, and the call reports the cycle).
    fn param_expects_in(
        &self,
        def: &ast::SegmentDef,
        s: usize,
        typing: &mut Vec<String>,
    ) -> Result<Vec<(crate::params::Expect, Option<&'static str>)>, CompileError> {
        use crate::params::{Expect, conflict, uses};
        typing.push(def.name.name.clone());
        let mut out: Vec<Option<(Expect, Option<&'static str>)>> = def
            .params
            .iter()
            .map(|p| p.ty.map(|(t, _)| (Expect::declared(t), None)))
            .collect();
        for u in uses(def) {
            let (expect, word) = match (u.expect, u.operand) {
                (Expect::Any, None) if u.call.is_some() => {
                    let (callee, position) = u.call.unwrap_or_default();
                    match self.program.segment(callee) {
                        Some(e) if !typing.iter().any(|t| t == callee) => self
                            .param_expects_in(&e.def, e.source, typing)?
                            .get(position)
                            .copied()
                            .unwrap_or((Expect::Any, None)),
                        _ => (Expect::Any, None),
                    }
                }
                (Expect::Any, Some(op)) => {
                    expect_of(self.operand(&crate::params::operand_for_typing(op), s)?.1)
                }
                // A list's placeholder: one value of the operand's type.
                (Expect::List, Some(op)) => (
                    Expect::List,
                    expect_of(self.operand(&crate::params::operand_for_typing(op), s)?.1).1,
                ),
                (e, _) => (e, None),
            };
            let param = &def.params[u.index];
            let clash = |first: String| CompileError::ParameterType {
                param: param.name.name.clone(),
                first,
                second: expect.describe(),
                src: self.src(s),
                span: u.span,
            };
            // A use that takes any value (an unused or untyped parameter of a called
            // segment, or a call in a circle) decides nothing.
            if expect == Expect::Any {
                continue;
            }
            match (param.ty, out[u.index]) {
                (Some((t, _)), _) => {
                    if conflict(t, expect).is_some() {
                        return Err(clash(format!("declared `{}`", t.word())));
                    }
                    if let Some(slot) = out[u.index].as_mut()
                        && slot.1.is_none()
                    {
                        slot.1 = word;
                    }
                }
                (None, None) => out[u.index] = Some((expect, word)),
                (None, Some((prev, prev_word))) => match prev.meet(expect) {
                    Some(both) => out[u.index] = Some((both, prev_word.or(word))),
                    None => return Err(clash(format!("used as {}", prev.describe()))),
                },
            }
        }
        typing.pop();
        Ok(out
            .into_iter()
            .map(|e| e.unwrap_or((Expect::Any, None)))
            .collect())
    }

    /// `NAME(ARGS)`: the arguments checked against the parameters, then the body resolved
    /// with them in place.
    fn call(
        &mut self,
        name: &ast::Ident,
        args: &[ast::Arg],
        span: Span,
        s: usize,
    ) -> Result<Pred, CompileError> {
        let program = self.program;
        let Some(entry) = program.segment(&name.name) else {
            // The unknown-name error of a plain reference.
            let e = Expr {
                kind: ExprKind::SegmentRef(name.clone()),
                span: name.span,
            };
            return self.expr(&e, s);
        };
        let def = &entry.def;
        if def.params.len() != args.len() {
            return Err(CompileError::WrongArguments {
                name: name.name.clone(),
                expected: def.params.len(),
                found: args.len(),
                src: self.src(s),
                span,
                help: if def.params.is_empty() {
                    format!("`{}` has no parameters: write `{}`", name.name, name.name)
                } else {
                    format!("its parameters: {}", params_text(def))
                },
            });
        }
        let expects = self.param_expects(def, entry.source)?;
        for ((arg, (expect, _)), param) in args.iter().zip(&expects).zip(&def.params) {
            if !expect.accepts(arg) {
                let found = if arg.list {
                    "a list"
                } else {
                    arg.values
                        .first()
                        .map(|v| v.kind.kind_name())
                        .unwrap_or("nothing")
                };
                return Err(CompileError::ArgumentType {
                    name: name.name.clone(),
                    param: param.name.name.clone(),
                    expected: expect.describe(),
                    found,
                    src: self.src(s),
                    span: arg.span,
                    help: match param.ty {
                        Some((t, _)) => format!("`{}` is declared `{}`", param.name.name, t.word()),
                        None => format!(
                            "`{}` is used as {} in `{}`",
                            param.name.name,
                            expect.describe(),
                            name.name
                        ),
                    },
                });
            }
        }
        let body = crate::params::expand(def, args);
        if let Some(pos) = self.stack.iter().position(|x| x == &name.name) {
            let mut chain: Vec<String> = self.stack[pos..].to_vec();
            chain.push(name.name.clone());
            return Err(CompileError::SegmentCycle {
                name: name.name.clone(),
                cycle: chain.join(" -> "),
                src: self.src(s),
                span: name.span,
            });
        }
        if self.stack.len() >= MAX_REFERENCE_DEPTH {
            return Err(CompileError::TooComplex {
                message: format!(
                    "segments refer to segments more than {MAX_REFERENCE_DEPTH} levels deep"
                ),
                src: self.src(self.root.0),
                span: self.root.1,
            });
        }
        self.stack.push(name.name.clone());
        let r = self.expr(&body, entry.source);
        self.stack.pop();
        r.map_err(|e| self.at_argument(e, def, entry.source, args, s))
    }

    /// An error in a call's expansion that points at the use of a parameter (the argument's
    /// value is what is wrong there: `st("bogus")`), pointed at the argument in the call.
    fn at_argument(
        &self,
        mut e: CompileError,
        def: &ast::SegmentDef,
        def_src: usize,
        args: &[ast::Arg],
        s: usize,
    ) -> CompileError {
        let def_name = self.program.sources[def_src].name.clone();
        if let Some((src, span)) = e.place_mut()
            && src.name() == def_name
        {
            let overlaps =
                |u: &crate::params::Use| u.span.start < span.end && span.start < u.span.end;
            if let Some(u) = crate::params::uses(def).iter().find(|u| overlaps(u))
                && let Some(arg) = args.get(u.index)
            {
                *src = self.src(s);
                *span = arg.span;
            }
        }
        e
    }

    fn src(&self, s: usize) -> crate::error::Src {
        self.program.sources[s].named()
    }

    fn expr(&mut self, e: &Expr, s: usize) -> Result<Pred, CompileError> {
        if !matches!(
            e.kind,
            ExprKind::And(_)
                | ExprKind::Or(_)
                | ExprKind::Not(_)
                | ExprKind::Group(_)
                | ExprKind::SegmentRef(_)
        ) {
            self.leaves += 1;
            if self.leaves > MAX_CONDITIONS {
                return Err(CompileError::TooComplex {
                    message: format!(
                        "with the segments it refers to, this expands to more than {MAX_CONDITIONS} conditions"
                    ),
                    src: self.src(self.root.0),
                    span: self.root.1,
                });
            }
        }
        match &e.kind {
            ExprKind::And(es) => Ok(Pred::And(
                es.iter()
                    .map(|x| self.expr(x, s))
                    .collect::<Result<_, _>>()?,
            )),
            ExprKind::Or(es) => Ok(Pred::Or(
                es.iter()
                    .map(|x| self.expr(x, s))
                    .collect::<Result<_, _>>()?,
            )),
            ExprKind::Not(x) => Ok(Pred::Not(Box::new(self.expr(x, s)?))),
            ExprKind::Group(x) => self.expr(x, s),
            ExprKind::Call { name, args } => self.call(name, args, e.span, s),
            ExprKind::SegmentRef(id) => {
                if let Some(entry) = self.program.segment(&id.name) {
                    if !entry.def.params.is_empty() {
                        return Err(self.needs_arguments(&entry.def, s, id.span));
                    }
                    return self.segment(&id.name, s, id.span);
                }
                if id.name == "lifecycle" {
                    return Err(CompileError::NotACondition {
                        name: id.name.clone(),
                        what: "lifecycle stage",
                        src: self.src(s),
                        span: id.span,
                        help: "compare it with a stage, for example `lifecycle = active`".into(),
                    });
                }
                if MetricKind::by_name(&id.name).is_some() {
                    let example = match id.name.as_str() {
                        "recency" | "tenure" => format!("{} < 30d", id.name),
                        "lifecycle" => "lifecycle = active".to_string(),
                        "first_purchase" | "last_purchase" => format!("{} >= 2024-01-01", id.name),
                        n => format!("{n} >= 3"),
                    };
                    return Err(CompileError::NotACondition {
                        name: id.name.clone(),
                        what: "metric",
                        src: self.src(s),
                        span: id.span,
                        help: format!("compare it with a value, for example `{example}`"),
                    });
                }
                if self.catalog.attribute(&id.name).is_some() {
                    return Err(CompileError::NotACondition {
                        name: id.name.clone(),
                        what: "customer attribute",
                        src: self.src(s),
                        span: id.span,
                        help: format!(
                            "compare it with a value, for example `{} = \"...\"`",
                            id.name
                        ),
                    });
                }
                Err(self.unknown_segment(id, s))
            }
            ExprKind::Bought {
                dimension,
                values,
                at_least,
                window,
            } => {
                let dimension = dimension.unwrap_or(Dimension::Product);
                self.require_dimension(dimension, "`bought`", e.span, s)?;
                let values = self.item_values(values, s)?;
                let (n, nspan) = at_least.unwrap_or((1, e.span));
                if n == 0 {
                    return Err(CompileError::InvalidValue {
                        message: "`at least 0 times` is always true; use 1 or more".into(),
                        src: self.src(s),
                        span: nspan,
                    });
                }
                let days = window.map(|w| w.duration.days());
                self.check_window(days, window.map_or(e.span, |w| w.span), s)?;
                let metric = Metric {
                    kind: MetricKind::Bought { dimension, values },
                    window: days,
                    scope: vec![],
                };
                Ok(Pred::Cmp {
                    value: self.windowed(metric, window.as_ref(), "bought", s)?,
                    ty: ValueType::Count,
                    op: CmpOp::Ge,
                    rhs: Const::Number(n.to_string()),
                })
            }
            ExprKind::Top { count, by } => {
                let metric = match self.operand(by, s)? {
                    // `top N by score(NAME)`: ranked in the score's own step.
                    (Value::Score(r), _) => Err(r),
                    (Value::Metric(m), ty) if ty.ordered() => Ok(m),
                    (Value::SinceFirst(_), _) => {
                        return Err(CompileError::TypeMismatch {
                            message: "`top` ranks customers by a metric over a window ending at the as-of date, not from the first purchase".into(),
                            src: self.src(s),
                            span: by.span,
                            label: "measured from the first purchase".into(),
                            help: Some(
                                "compare it instead, e.g. `frequency within 30d of first_purchase >= 2`, or rank by `limit N by ...` in a campaign"
                                    .into(),
                            ),
                        });
                    }
                    _ => {
                        return Err(CompileError::TypeMismatch {
                            message: "`top` ranks customers by a purchase metric".into(),
                            src: self.src(s),
                            span: by.span,
                            label: "not a purchase metric".into(),
                            help: Some("for example `top 20% by monetary within 1y`".into()),
                        });
                    }
                };
                let n = self.top_n(count, "`top 0` is nobody", s)?;
                Ok(match metric {
                    Ok(metric) => Pred::Top { metric, n },
                    Err(score) => Pred::TopScore { score, n },
                })
            }
            ExprKind::Lookalike { segment, count } => {
                let Some(entry) = self.program.segment(&segment.name) else {
                    return Err(self.unknown_segment(segment, s));
                };
                if !entry.def.params.is_empty() {
                    return Err(self.needs_arguments(&entry.def, s, segment.span));
                }
                let seeds = self.segment(&segment.name, s, segment.span)?;
                if seeds
                    .values()
                    .iter()
                    .any(|v| matches!(v, Value::Lookalike(_)))
                {
                    return Err(CompileError::InvalidValue {
                        message: format!(
                            "`{}` uses `lookalike` itself: a look-alike's seeds must be a segment of rules",
                            segment.name
                        ),
                        src: self.src(s),
                        span: segment.span,
                    });
                }
                let n = self.top_n(count, "a look-alike of 0 customers is nobody", s)?;
                Ok(Pred::Cmp {
                    value: Value::Lookalike(Lookalike {
                        segment: segment.name.clone(),
                        seeds: Arc::new(seeds),
                        n,
                    }),
                    ty: ValueType::Bool,
                    op: CmpOp::Eq,
                    rhs: Const::Bool(true),
                })
            }
            ExprKind::Upcoming {
                attribute,
                anniversary,
                window,
            } => {
                let name = &attribute.name;
                let counts = MetricKind::by_name(name).is_some_and(|k| {
                    !matches!(
                        k,
                        MetricKind::Recency
                            | MetricKind::Tenure
                            | MetricKind::FirstPurchase
                            | MetricKind::LastPurchase
                    )
                });
                if let Some(span) = window.since_first.filter(|_| !counts) {
                    return Err(CompileError::FromFirstNotAllowed {
                        name: name.clone(),
                        src: self.src(s),
                        span,
                        help: "windows from the first purchase apply to counts and sums of purchases, e.g. `frequency within 30d of first_purchase < 2`".into(),
                    });
                }
                if MetricKind::by_name(name).is_some() || name == "lifecycle" {
                    return Err(CompileError::NotACondition {
                        name: name.clone(),
                        what: "metric",
                        src: self.src(s),
                        span: attribute.span,
                        help: {
                            let rhs = match name.as_str() {
                                "recency" | "tenure" => "< 7d",
                                "first_purchase" | "last_purchase" => ">= 2026-01-01",
                                "monetary" | "avg_check" => "> 1000",
                                _ => ">= 2",
                            };
                            let of = if window.since_first.is_some() {
                                " of first_purchase"
                            } else {
                                ""
                            };
                            if name == "lifecycle" {
                                "compare it with a stage, for example `lifecycle = active` (a stage takes no window)".to_string()
                            } else {
                                format!(
                                    "compare it with a value, for example `{name} within {}{of} {rhs}`",
                                    window.duration
                                )
                            }
                        },
                    });
                }
                let resolved = [name.clone(), format!("{name}_date")]
                    .into_iter()
                    .find(|n| self.catalog.attribute(n).is_some());
                let Some(resolved) = resolved else {
                    return Err(self.unknown_operand(attribute, s));
                };
                if self.catalog.attribute(&resolved) != Some(Some(AttrType::Date)) {
                    return Err(CompileError::TypeMismatch {
                        message: format!("`{resolved}` is not a date, so it has no anniversary"),
                        src: self.src(s),
                        span: attribute.span,
                        label: "not a date".into(),
                        help: Some("`within` alone applies to dates: `birthday within 7d`".into()),
                    });
                }
                if !anniversary && resolved != "birthday" {
                    return Err(CompileError::NotACondition {
                        name: resolved.clone(),
                        what: "date attribute",
                        src: self.src(s),
                        span: attribute.span,
                        help: format!(
                            "for the coming anniversary write `{name} anniversary within {}`; for a date range compare it, e.g. `{resolved} >= 2024-01-01`",
                            window.duration
                        ),
                    });
                }
                let days = window.duration.days();
                self.check_window(Some(days), window.span, s)?;
                Ok(Pred::Upcoming {
                    attribute: resolved,
                    days,
                })
            }
            ExprKind::Redeemed { window } => {
                self.require_column("points_redeemed", "`redeemed`", e.span, s)?;
                let days = window.map(|w| w.duration.days());
                self.check_window(days, window.map_or(e.span, |w| w.span), s)?;
                let metric = Metric {
                    kind: MetricKind::PointsRedeemed,
                    window: days,
                    scope: vec![],
                };
                Ok(Pred::Cmp {
                    value: self.windowed(metric, window.as_ref(), "redeemed", s)?,
                    ty: ValueType::Quantity,
                    op: CmpOp::Gt,
                    rhs: Const::Number("0".into()),
                })
            }
            ExprKind::CampaignCond {
                role,
                campaign,
                date,
                window,
            } => self.campaign_cond(*role, campaign, date.as_ref(), window.as_ref(), s),
            ExprKind::Contacted { channel, window } => {
                self.require_messages(channel.is_some(), "`contacted`", e.span, s)?;
                let days = window.days();
                self.check_window(Some(days), e.span, s)?;
                Ok(Pred::Cmp {
                    value: Value::Metric(Metric {
                        kind: MetricKind::Contacts {
                            channel: channel.clone(),
                        },
                        window: Some(days),
                        scope: vec![],
                    }),
                    ty: ValueType::Count,
                    op: CmpOp::Ge,
                    rhs: Const::Number("1".into()),
                })
            }
            ExprKind::Compare { lhs, op, rhs } => {
                let (value, ty) = self.operand(lhs, s)?;
                if !ty.ordered() && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    return Err(self.bad_operator(op.as_str(), &value, ty, lhs.span, s));
                }
                if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    self.label_operator(&value, op.as_str(), lhs.span, s)?;
                }
                let rhs = self.constant(rhs, &value, ty, s)?;
                Ok(Pred::Cmp {
                    value,
                    ty,
                    op: *op,
                    rhs,
                })
            }
            ExprKind::In {
                lhs, negated, list, ..
            } => {
                let (value, ty) = self.operand(lhs, s)?;
                let list = list
                    .iter()
                    .map(|l| self.constant(l, &value, ty, s))
                    .collect::<Result<_, _>>()?;
                Ok(Pred::In {
                    value,
                    ty,
                    negated: *negated,
                    list,
                })
            }
            ExprKind::Between {
                lhs,
                negated,
                low,
                high,
            } => {
                let (value, ty) = self.operand(lhs, s)?;
                if !ty.ordered() {
                    return Err(self.bad_operator("between", &value, ty, lhs.span, s));
                }
                self.label_operator(&value, "between", lhs.span, s)?;
                let low = self.constant(low, &value, ty, s)?;
                let high = self.constant(high, &value, ty, s)?;
                Ok(Pred::Between {
                    value,
                    ty,
                    negated: *negated,
                    low,
                    high,
                })
            }
        }
    }

    fn bad_operator(
        &self,
        op: &str,
        value: &Value,
        ty: ValueType,
        span: Span,
        s: usize,
    ) -> CompileError {
        let what = match ty {
            ValueType::Stage => "the lifecycle stage".to_string(),
            ValueType::Enum(what, _) => format!("the {what}"),
            ValueType::Bool => format!("the true/false attribute `{value}`"),
            _ => format!("the text attribute `{value}`"),
        };
        CompileError::BadOperator {
            op: op.to_string(),
            what,
            src: self.src(s),
            span,
            help: "use `=`, `!=` or `in (...)`".to_string(),
        }
    }

    /// The value of `metric`, whose window was written `window`: over the days ending at the
    /// as-of date, or with `of first_purchase` from the first purchase on (counts and sums
    /// only).
    fn windowed(
        &self,
        metric: Metric,
        window: Option<&ast::Window>,
        name: &str,
        s: usize,
    ) -> Result<Value, CompileError> {
        match window.and_then(|w| w.since_first) {
            None => Ok(Value::Metric(metric)),
            Some(_) if metric.kind.from_first() => Ok(Value::SinceFirst(metric)),
            Some(span) => Err(CompileError::FromFirstNotAllowed {
                name: name.to_string(),
                src: self.src(s),
                span,
                help: format!(
                    "windows from the first purchase apply to counts and sums of purchases, e.g. `frequency within 30d of first_purchase < 2`; `{name}` is a number of days or a date: compare `first_purchase` or `tenure` instead"
                ),
            }),
        }
    }

    fn check_window(&self, window: Option<u64>, span: Span, s: usize) -> Result<(), CompileError> {
        if window == Some(0) {
            return Err(CompileError::InvalidValue {
                message: "a window of 0 days is always empty".into(),
                src: self.src(s),
                span,
            });
        }
        Ok(())
    }

    fn require_dimension(
        &self,
        d: Dimension,
        what: &str,
        span: Span,
        s: usize,
    ) -> Result<(), CompileError> {
        self.require_column(d.column(), &format!("{what} on {d}"), span, s)
    }

    /// Checks there is a communications table (with a `channel` column when one is named).
    fn require_messages(
        &self,
        channel: bool,
        what: &str,
        span: Span,
        s: usize,
    ) -> Result<(), CompileError> {
        let Some(c) = self.catalog.communications() else {
            return Err(CompileError::MissingTable {
                what: what.to_string(),
                table: "communications",
                src: self.src(s),
                span,
            });
        };
        if channel && !c.schema().fields().iter().any(|f| f.name() == "channel") {
            return Err(CompileError::MissingColumn {
                what: format!("{what} on a channel"),
                column: "channel".into(),
                table: "communications",
                src: self.src(s),
                span,
                help: "map a column onto `channel` under [communications.columns] in segql.toml"
                    .into(),
            });
        }
        Ok(())
    }

    fn require_column(
        &self,
        column: &str,
        what: &str,
        span: Span,
        s: usize,
    ) -> Result<(), CompileError> {
        if self.catalog.has_tx_column(column) {
            return Ok(());
        }
        Err(CompileError::MissingColumn {
            what: what.to_string(),
            column: column.to_string(),
            table: "transactions",
            src: self.src(s),
            span,
            help: format!(
                "map a column of your transactions file onto `{column}` under [transactions.columns] in segql.toml"
            ),
        })
    }

    fn item_values(&self, values: &[Literal], s: usize) -> Result<Vec<String>, CompileError> {
        values
            .iter()
            .map(|l| match &l.kind {
                LiteralKind::String(t) => Ok(t.clone()),
                LiteralKind::Number(n) => Ok(n.clone()),
                other => Err(CompileError::TypeMismatch {
                    message: format!("expected a quoted value, found {}", other.kind_name()),
                    src: self.src(s),
                    span: l.span,
                    label: "not a value of this column".into(),
                    help: Some("write values in double quotes, like \"Coffee\"".into()),
                }),
            })
            .collect()
    }

    /// How many customers `top` or `lookalike` keeps: a count above 0 (`zero` says why 0 is
    /// refused), or a share above 0% and at most 100%.
    fn top_n(&self, count: &ast::TopCount, zero: &str, s: usize) -> Result<TopN, CompileError> {
        Ok(match count {
            ast::TopCount::Count(0, span) => {
                return Err(CompileError::InvalidValue {
                    message: zero.into(),
                    src: self.src(s),
                    span: *span,
                });
            }
            ast::TopCount::Count(n, _) => TopN::Count(*n),
            ast::TopCount::Percent(text, span) => TopN::Basis(self.basis_points(
                text,
                *span,
                1,
                "a share is a percentage above 0% and at most 100%, with at most two decimals",
                s,
            )?),
        })
    }

    fn operand(&self, op: &ast::Operand, s: usize) -> Result<(Value, ValueType), CompileError> {
        match &op.kind {
            ast::OperandKind::Score { model, uplift } => self.score(model, *uplift, s),
            ast::OperandKind::Cluster { model } => match self.catalog.models.get(&model.name) {
                Some(Ok(_)) => Ok((Value::Cluster(model.name.clone()), ValueType::Count)),
                Some(Err(why)) => Err(CompileError::ModelUnusable {
                    name: model.name.clone(),
                    reason: why.clone(),
                    src: self.src(s),
                    span: model.span,
                }),
                None => Err(self.unknown_model(
                    model,
                    self.catalog.models.keys(),
                    "segql clusters fit NAME --k 8",
                    s,
                )),
            },
            ast::OperandKind::Contacts { channel, window } => {
                if let Some(span) = window.and_then(|w| w.since_first) {
                    return Err(CompileError::FromFirstNotAllowed {
                        name: "contacts".into(),
                        src: self.src(s),
                        span,
                        help: "messages are counted over windows ending at the as-of date, e.g. `contacts within 30d < 4`".into(),
                    });
                }
                self.require_messages(channel.is_some(), "`contacts`", op.span, s)?;
                let span = window.map_or(op.span, |w| w.span);
                let window = window.map(|w| w.duration.days());
                self.check_window(window, span, s)?;
                Ok((
                    Value::Metric(Metric {
                        kind: MetricKind::Contacts {
                            channel: channel.clone(),
                        },
                        window,
                        scope: vec![],
                    }),
                    ValueType::Count,
                ))
            }
            ast::OperandKind::Spend {
                dimension,
                values,
                window,
            } => {
                self.require_dimension(*dimension, "`spend`", op.span, s)?;
                let values = self.item_values(values, s)?;
                let days = window.map(|w| w.duration.days());
                self.check_window(days, window.map_or(op.span, |w| w.span), s)?;
                let metric = Metric {
                    kind: MetricKind::Spend {
                        dimension: *dimension,
                        values,
                    },
                    window: days,
                    scope: vec![],
                };
                Ok((
                    self.windowed(metric, window.as_ref(), "spend on", s)?,
                    ValueType::Money,
                ))
            }
            ast::OperandKind::Name {
                name,
                scope,
                window,
                percentile,
            } if *percentile => {
                let plain = ast::Operand {
                    kind: ast::OperandKind::Name {
                        name: name.clone(),
                        scope: scope.clone(),
                        window: *window,
                        percentile: false,
                    },
                    span: op.span,
                };
                match self.operand(&plain, s)? {
                    (Value::Metric(m), _) => Ok((Value::Percentile(m), ValueType::Number)),
                    (Value::SinceFirst(_), _) => Err(CompileError::TypeMismatch {
                        message: format!(
                            "`{}` from the first purchase has no percentile: percentiles rank windows ending at the as-of date",
                            name.name
                        ),
                        src: self.src(s),
                        span: op.span,
                        label: "measured from the first purchase".into(),
                        help: Some(
                            "compare the value itself, e.g. `monetary within 90d of first_purchase > 500`".into(),
                        ),
                    }),
                    _ => Err(CompileError::TypeMismatch {
                        message: format!(
                            "`{}` has no percentile: only purchase metrics do",
                            name.name
                        ),
                        src: self.src(s),
                        span: op.span,
                        label: "not a purchase metric".into(),
                        help: Some("for example `monetary within 1y percentile >= 90`".into()),
                    }),
                }
            }
            ast::OperandKind::Name {
                name,
                scope,
                window,
                ..
            } => {
                let partners = match scope {
                    None => Vec::new(),
                    Some((values, span)) => {
                        self.require_column("partner", "`at` (a partner scope)", *span, s)?;
                        self.item_values(values, s)?
                    }
                };
                let no_scope = |what: &str| -> Result<(), CompileError> {
                    match scope {
                        Some((_, span)) => Err(CompileError::ScopeNotAllowed {
                            name: what.to_string(),
                            src: self.src(s),
                            span: *span,
                        }),
                        None => Ok(()),
                    }
                };
                if let Some(kind) = MetricKind::by_name(&name.name) {
                    let needs = match kind {
                        MetricKind::Items => &["quantity"][..],
                        MetricKind::PointsEarned => &["points_earned"][..],
                        MetricKind::PointsRedeemed => &["points_redeemed"][..],
                        MetricKind::PointsBalance => &["points_earned", "points_redeemed"][..],
                        MetricKind::Distinct(d) => &[d.column()][..],
                        _ => &[][..],
                    };
                    for c in needs {
                        self.require_column(c, &format!("`{}`", name.name), name.span, s)?;
                    }
                    let w = window.map(|w| w.duration.days());
                    self.check_window(w, window.map_or(op.span, |w| w.span), s)?;
                    if kind == MetricKind::Activity && w.is_none() {
                        return Err(CompileError::InvalidValue {
                            message:
                                "`activity` needs a window: the share of its days with a purchase"
                                    .into(),
                            src: self.src(s),
                            span: op.span,
                        });
                    }
                    let ty = kind.value_type();
                    let metric = Metric {
                        kind,
                        window: w,
                        scope: partners,
                    };
                    return Ok((self.windowed(metric, window.as_ref(), &name.name, s)?, ty));
                }
                let no_window = |what: &str| -> Result<(), CompileError> {
                    match window {
                        Some(w) => Err(CompileError::WindowNotAllowed {
                            name: what.to_string(),
                            src: self.src(s),
                            span: w.span,
                        }),
                        None => Ok(()),
                    }
                };
                if name.name == "lifecycle" {
                    no_window("lifecycle")?;
                    return Ok((Value::Lifecycle(partners), ValueType::Stage));
                }
                let ranked = match name.name.as_str() {
                    "rfm" => Some((Value::Rfm(RfmPart::Code), ValueType::Text)),
                    "rfm.r" | "rfm_r" => Some((Value::Rfm(RfmPart::R), ValueType::Count)),
                    "rfm.f" | "rfm_f" => Some((Value::Rfm(RfmPart::F), ValueType::Count)),
                    "rfm.m" | "rfm_m" => Some((Value::Rfm(RfmPart::M), ValueType::Count)),
                    "rfm_segment" => Some((
                        Value::Rfm(RfmPart::Segment),
                        ValueType::Enum("RFM segment", self.catalog.ranking.rfm_segments.names()),
                    )),
                    "abc" => Some((
                        Value::Abc(partners.clone()),
                        ValueType::Enum("ABC tier", &ABC_TIERS),
                    )),
                    _ => None,
                };
                if let Some(r) = ranked {
                    no_window(&name.name)?;
                    if !matches!(r.0, Value::Abc(_)) {
                        no_scope(&name.name)?;
                    }
                    self.require_column("amount", "RFM and ABC", name.span, s)?;
                    return Ok(r);
                }
                match self.catalog.attribute(&name.name) {
                    Some(Some(t)) => {
                        no_window(&name.name)?;
                        no_scope(&name.name)?;
                        let ty = match t {
                            AttrType::Text => ValueType::Text,
                            AttrType::Number => ValueType::Number,
                            AttrType::Date => ValueType::Date,
                            AttrType::Bool => ValueType::Bool,
                        };
                        Ok((Value::Attribute(name.name.clone()), ty))
                    }
                    Some(None) => Err(CompileError::TypeMismatch {
                        message: format!(
                            "the customer attribute `{}` has a type conditions cannot compare",
                            name.name
                        ),
                        src: self.src(s),
                        span: name.span,
                        label: "unsupported column type".into(),
                        help: Some(
                            "conditions compare text, numbers, dates and true/false columns".into(),
                        ),
                    }),
                    None => Err(self.unknown_operand(name, s)),
                }
            }
        }
    }

    fn unknown_operand(&self, name: &ast::Ident, s: usize) -> CompileError {
        let attrs = self.catalog.attributes();
        let mut known: Vec<&str> = MetricKind::NAMED.iter().map(|(n, _)| *n).collect();
        known.extend([
            "lifecycle",
            "rfm",
            "rfm_r",
            "rfm_f",
            "rfm_m",
            "rfm_segment",
            "abc",
        ]);
        known.extend(attrs.iter().map(|(n, _)| n.as_str()));
        let help = if let Some(c) = closest(&name.name, known.iter().copied()) {
            format!("did you mean `{c}`?")
        } else if self.program.segment(&name.name).is_some() {
            format!(
                "`{}` is a segment: use it on its own, without a comparison",
                name.name
            )
        } else {
            let mut h = format!(
                "metrics: {}",
                MetricKind::NAMED
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if attrs.is_empty() {
                h.push_str(
                    "; no customers file is configured, so there are no customer attributes",
                );
            } else {
                h.push_str(&format!(
                    "; customer attributes: {}",
                    attrs
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            h
        };
        CompileError::UnknownName {
            what: "metric or attribute",
            name: name.name.clone(),
            src: self.src(s),
            span: name.span,
            help: Some(help),
        }
    }

    /// `score(NAME)` / `uplift(NAME)`: a usable score model (with a control model for an
    /// uplift), a probability or a difference of two.
    fn score(
        &self,
        model: &ast::Ident,
        uplift: bool,
        s: usize,
    ) -> Result<(Value, ValueType), CompileError> {
        let what = if uplift { "uplift" } else { "score" };
        match self.catalog.scores.get(&model.name) {
            Some(Ok(m)) => {
                if uplift && m.control.is_none() {
                    return Err(CompileError::InvalidValue {
                        message: format!(
                            "score model `{}` has no uplift: campaign `{}` had no control group to fit one on (use `score({})`)",
                            model.name, m.campaign, model.name
                        ),
                        src: self.src(s),
                        span: model.span,
                    });
                }
                Ok((
                    Value::Score(ScoreRef {
                        model: model.name.clone(),
                        uplift,
                        part: ScorePart::Value,
                    }),
                    ValueType::Number,
                ))
            }
            Some(Err(why)) => Err(CompileError::ScoreModelUnusable {
                name: model.name.clone(),
                what,
                reason: why.clone(),
                src: self.src(s),
                span: model.span,
            }),
            None => Err(self.unknown_model(
                model,
                self.catalog.scores.keys(),
                "segql score fit NAME --campaign CAMPAIGN",
                s,
            )),
        }
    }

    /// `l` as a constant `value` is compared with; a cluster's number must be one of its
    /// model's clusters.
    fn constant(
        &self,
        l: &Literal,
        value: &Value,
        ty: ValueType,
        s: usize,
    ) -> Result<Const, CompileError> {
        let c = self.constant_of_type(l, value, ty, s)?;
        if let (Value::Cluster(model), Const::Number(text)) = (value, &c)
            && let Some(Ok(m)) = self.catalog.models.get(model)
        {
            let k = m.centroids.len();
            if !text.parse::<usize>().is_ok_and(|n| (1..=k).contains(&n)) {
                return Err(CompileError::InvalidValue {
                    message: format!("model `{model}` has clusters 1 to {k}"),
                    src: self.src(s),
                    span: l.span,
                });
            }
        }
        Ok(c)
    }

    /// A cluster is a label: only `=`, `!=` and `in (...)` compare it.
    fn label_operator(
        &self,
        value: &Value,
        op: &str,
        span: Span,
        s: usize,
    ) -> Result<(), CompileError> {
        match value {
            Value::Cluster(model) => Err(CompileError::InvalidValue {
                message: format!(
                    "`cluster({model})` is a cluster's number, not a quantity: `{op}` does not apply; use `=`, `!=` or `in (...)`"
                ),
                src: self.src(s),
                span,
            }),
            _ => Ok(()),
        }
    }

    fn constant_of_type(
        &self,
        l: &Literal,
        value: &Value,
        ty: ValueType,
        s: usize,
    ) -> Result<Const, CompileError> {
        let mismatch = |expected: &str, help: Option<String>| CompileError::TypeMismatch {
            message: format!(
                "`{value}` is compared with {}, but it holds {expected}",
                l.kind.kind_name()
            ),
            src: self.src(s),
            span: l.span,
            label: format!("expected {expected}"),
            help,
        };
        match (ty, &l.kind) {
            (ValueType::Days, LiteralKind::Duration(d)) => Ok(Const::Days(d.days())),
            (ValueType::Days, LiteralKind::Number(n)) => Err(CompileError::TypeMismatch {
                message: format!("`{value}` counts days: `{n}` needs a unit"),
                src: self.src(s),
                span: l.span,
                label: "expected a duration".into(),
                help: Some(format!(
                    "write a duration: `{n}d` (days), `{n}w` (weeks) or `{n}m` (30-day months)"
                )),
            }),
            (ValueType::Days, _) => Err(mismatch(
                "a number of days",
                Some("write a duration such as `30d`, `8w`, `6m` or `1y`".into()),
            )),
            (
                ValueType::Count | ValueType::Money | ValueType::Quantity | ValueType::Number,
                LiteralKind::Number(n),
            ) => {
                if n.trim_start_matches('-').len() > 30 {
                    return Err(CompileError::InvalidValue {
                        message: "this number has too many digits".into(),
                        src: self.src(s),
                        span: l.span,
                    });
                }
                Ok(Const::Number(n.clone()))
            }
            (
                ValueType::Count | ValueType::Money | ValueType::Quantity | ValueType::Number,
                LiteralKind::Duration(d),
            ) => Err(mismatch(
                "a number",
                Some(format!(
                    "durations apply to day metrics such as recency; to count over a period write `{value} within {d} ...`",
                    value = match value {
                        Value::Metric(m) | Value::SinceFirst(m) => MetricKind::NAMED
                            .iter()
                            .find(|(_, k)| *k == m.kind)
                            .map(|(n, _)| *n)
                            .unwrap_or("frequency"),
                        _ => "frequency",
                    },
                )),
            )),
            (ValueType::Count | ValueType::Money | ValueType::Quantity | ValueType::Number, _) => {
                Err(mismatch("a number", None))
            }
            (ValueType::Date, LiteralKind::Date(d)) => Ok(Const::Date(*d)),
            (ValueType::Date, _) => Err(mismatch(
                "a date",
                Some("write dates as YYYY-MM-DD, like 2024-06-30".into()),
            )),
            (ValueType::Text, LiteralKind::String(t)) => Ok(Const::Text(t.clone())),
            (ValueType::Text, LiteralKind::Word(w)) => Err(mismatch(
                "text",
                Some(format!("put text values in double quotes: \"{w}\"")),
            )),
            (ValueType::Text, LiteralKind::Number(n)) => Err(mismatch(
                "text",
                Some(format!("put text values in double quotes: \"{n}\"")),
            )),
            (ValueType::Text, _) => Err(mismatch("text", None)),
            (ValueType::Bool, LiteralKind::Bool(b)) => Ok(Const::Bool(*b)),
            (ValueType::Bool, LiteralKind::Word(w) | LiteralKind::String(w)) => {
                let w = w.to_lowercase();
                let guess = if ["yes", "y", "on"].contains(&w.as_str()) {
                    Some("true")
                } else if ["no", "n", "off"].contains(&w.as_str()) {
                    Some("false")
                } else {
                    None
                };
                Err(mismatch(
                    "true or false",
                    Some(match guess {
                        Some(g) => format!("write true or false: `{value} = {g}`"),
                        None => "write `true` or `false`".into(),
                    }),
                ))
            }
            (ValueType::Bool, _) => Err(mismatch("true or false", None)),
            (ValueType::Stage, LiteralKind::Word(w) | LiteralKind::String(w)) => {
                Stage::by_name(w).map(Const::Stage).ok_or_else(|| {
                    let names: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
                    let help = match closest(w, names.iter().copied()) {
                        Some(c) => format!("did you mean `{c}`? stages: {}", names.join(", ")),
                        None => format!("stages: {}", names.join(", ")),
                    };
                    CompileError::UnknownValue {
                        what: "lifecycle stage",
                        value: w.clone(),
                        src: self.src(s),
                        span: l.span,
                        help,
                    }
                })
            }
            (ValueType::Enum(what, names), LiteralKind::Word(w) | LiteralKind::String(w)) => {
                if names.contains(&w.as_str()) {
                    return Ok(Const::Text(w.clone()));
                }
                let help = match closest(w, names.iter().copied()) {
                    Some(c) => format!("did you mean `{c}`? values: {}", names.join(", ")),
                    None => format!("values: {}", names.join(", ")),
                };
                Err(CompileError::UnknownValue {
                    what,
                    value: w.clone(),
                    src: self.src(s),
                    span: l.span,
                    help,
                })
            }
            (ValueType::Enum(what, names), _) => Err(mismatch(
                what,
                Some(format!("values: {}", names.join(", "))),
            )),
            (ValueType::Stage, _) => Err(mismatch(
                "a lifecycle stage",
                Some("stages: prospect, new, active, at_risk, churned, lost".into()),
            )),
        }
    }
}
