//! Text to syntax tree: the pest parser and the translation of its pairs into [`crate::ast`].

use crate::ast::*;
use crate::error::{ParseError, syntax_error};
use crate::lex::{self, TokenKind};
use pest::Parser as _;
use pest::iterators::Pair;
use pest_derive::Parser;

/// How deeply parentheses and `not`s may nest. Deeper input gets a clear error instead of
/// exhausting the stack.
pub const MAX_NESTING: usize = 64;

#[derive(Parser)]
#[grammar = "segql.pest"]
struct SegParser;

/// Parses a whole `.seg` file. `name` is used in diagnostics.
pub fn parse_file(name: &str, text: &str) -> Result<File, ParseError> {
    check_nesting(name, text)?;
    let mut pairs = SegParser::parse(Rule::file, text).map_err(|e| syntax_error(name, text, e))?;
    let file = pairs.next().expect("the file rule always yields one pair");
    let b = Builder {
        name,
        text,
        params: &[],
    };
    let mut items = Vec::new();
    for p in file.into_inner() {
        match p.as_rule() {
            Rule::import => items.push(Item::Import(b.import(p))),
            Rule::segment_def | Rule::campaign_def => items.push(Item::Segment(b.segment_def(p)?)),
            Rule::EOI => {}
            r => unreachable!("unexpected rule in file: {r:?}"),
        }
    }
    Ok(File { items })
}

/// Parses a single expression (as given with `segql run -e`).
pub fn parse_expr(name: &str, text: &str) -> Result<Expr, ParseError> {
    check_nesting(name, text)?;
    let mut pairs =
        SegParser::parse(Rule::expr_input, text).map_err(|e| syntax_error(name, text, e))?;
    let input = pairs.next().expect("expr_input yields one pair");
    let expr = input
        .into_inner()
        .next()
        .expect("expr_input holds an expression");
    Builder {
        name,
        text,
        params: &[],
    }
    .expr(expr, 0)
}

/// Rejects input whose parentheses nest deeper than [`MAX_NESTING`] before pest's recursive
/// descent sees it. Parentheses are counted over the tokens of [`crate::lex`], so that those
/// in strings and comments do not count.
fn check_nesting(name: &str, text: &str) -> Result<(), ParseError> {
    let mut depth = 0usize;
    for t in lex::tokens(text) {
        match t.kind {
            TokenKind::LParen => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(ParseError::too_deep(name, text, t.span));
                }
            }
            TokenKind::RParen => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn span_of(p: &Pair<Rule>) -> Span {
    let s = p.as_span();
    Span::new(s.start(), s.end())
}

struct Builder<'a> {
    name: &'a str,
    text: &'a str,
    /// The parameters of the segment being built: words naming them stand for values.
    params: &'a [String],
}

impl Builder<'_> {
    fn import(&self, p: Pair<Rule>) -> Import {
        let span = span_of(&p);
        let s = p
            .into_inner()
            .find(|p| p.as_rule() == Rule::string)
            .expect("import has a string");
        Import {
            path_span: span_of(&s),
            path: unescape(&s),
            span,
        }
    }

    fn segment_def(&self, p: Pair<Rule>) -> Result<SegmentDef, ParseError> {
        let span = span_of(&p);
        let mut campaign = (p.as_rule() == Rule::campaign_def).then(Campaign::default);
        let mut name = None;
        let mut description = None;
        let mut body = None;
        let mut params: Vec<Param> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::ident => name = Some(ident(&c)),
                Rule::string => description = Some(unescape(&c)),
                Rule::params => {
                    for x in c.into_inner().filter(|x| x.as_rule() == Rule::param) {
                        let param = self.param(x);
                        if names.contains(&param.name.name) {
                            return Err(ParseError::bad_literal(
                                self.name,
                                self.text,
                                param.name.span,
                                "this parameter is named twice",
                            ));
                        }
                        names.push(param.name.name.clone());
                        params.push(param);
                    }
                }
                Rule::expr => {
                    let b = Builder {
                        name: self.name,
                        text: self.text,
                        params: &names,
                    };
                    body = Some(b.expr(c, 0)?)
                }
                Rule::holdout => {
                    let cspan = span_of(&c);
                    let pct = c
                        .into_inner()
                        .find(|x| x.as_rule() == Rule::percent)
                        .expect("holdout has a percentage");
                    let text = pct.as_str().trim_end_matches('%').to_string();
                    let camp = campaign.as_mut().expect("holdout is in a campaign");
                    if camp.holdout.is_some() {
                        return Err(ParseError::bad_literal(
                            self.name,
                            self.text,
                            cspan,
                            "a campaign has one holdout",
                        ));
                    }
                    camp.holdout = Some((text, span_of(&pct)));
                }
                Rule::limit => {
                    let lspan = span_of(&c);
                    let mut count = 0;
                    let mut by = None;
                    let mut descending = true;
                    for x in c.into_inner() {
                        match x.as_rule() {
                            Rule::integer => count = self.integer(&x)?,
                            Rule::operand => by = Some(self.operand(x)?),
                            Rule::order => descending = x.as_str() == "desc",
                            _ => {}
                        }
                    }
                    let camp = campaign.as_mut().expect("limit is in a campaign");
                    if camp.limit.is_some() {
                        return Err(ParseError::bad_literal(
                            self.name,
                            self.text,
                            lspan,
                            "a campaign has one limit",
                        ));
                    }
                    if by.is_none() {
                        descending = false;
                    }
                    camp.limit = Some(Limit {
                        count,
                        by,
                        descending,
                        span: lspan,
                    });
                }
                Rule::respond => {
                    let rspan = span_of(&c);
                    let mut condition = None;
                    let mut window = None;
                    for x in c.into_inner() {
                        match x.as_rule() {
                            Rule::window => window = Some(self.window(x)?),
                            Rule::expr => condition = Some(self.expr(x, 0)?),
                            _ => {}
                        }
                    }
                    let camp = campaign.as_mut().expect("respond is in a campaign");
                    if camp.respond.is_some() {
                        return Err(ParseError::bad_literal(
                            self.name,
                            self.text,
                            rspan,
                            "a campaign has one response",
                        ));
                    }
                    camp.respond = Some(Respond {
                        condition,
                        window,
                        span: rspan,
                    });
                }
                _ => {}
            }
        }
        Ok(SegmentDef {
            name: name.expect("segment has a name"),
            params,
            description,
            body: body.expect("segment has a body"),
            campaign,
            span,
        })
    }

    fn param(&self, p: Pair<Rule>) -> Param {
        let mut name = None;
        let mut ty = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::ident => name = Some(ident(&c)),
                Rule::param_type => {
                    let t = match c.as_str() {
                        "text" => ParamType::Text,
                        "number" => ParamType::Number,
                        "duration" => ParamType::Duration,
                        "date" => ParamType::Date,
                        _ => ParamType::List,
                    };
                    ty = Some((t, span_of(&c)));
                }
                _ => {}
            }
        }
        Param {
            name: name.expect("a parameter has a name"),
            ty,
        }
    }

    /// The position of the parameter `word` names, if it names one.
    fn param_index(&self, word: &str) -> Option<usize> {
        self.params.iter().position(|p| p == word)
    }

    /// A duration, or a word naming a parameter of the segment (`within days`).
    fn span_len(&self, p: &Pair<Rule>) -> Result<Duration, ParseError> {
        if p.as_rule() == Rule::duration {
            return self.duration(p);
        }
        match self.param_index(p.as_str()) {
            Some(i) => Ok(Duration {
                value: i as u64,
                unit: DurationUnit::Param,
            }),
            None => Err(ParseError::expected_at(
                self.name,
                self.text,
                span_of(p),
                "a duration like 30d, 8w, 6m or 1y",
            )),
        }
    }

    fn expr(&self, p: Pair<Rule>, depth: usize) -> Result<Expr, ParseError> {
        let span = span_of(&p);
        if depth > MAX_NESTING * 4 {
            return Err(ParseError::too_deep(self.name, self.text, span));
        }
        match p.as_rule() {
            Rule::expr | Rule::and_expr => {
                let is_or = p.as_rule() == Rule::expr;
                let mut parts = Vec::new();
                for c in p.into_inner() {
                    if !matches!(c.as_rule(), Rule::kw_and | Rule::kw_or) {
                        parts.push(self.expr(c, depth + 1)?);
                    }
                }
                if parts.len() == 1 {
                    return Ok(parts.pop().expect("one part"));
                }
                let kind = if is_or {
                    ExprKind::Or(parts)
                } else {
                    ExprKind::And(parts)
                };
                Ok(Expr { kind, span })
            }
            Rule::not_expr => {
                let mut nots = Vec::new();
                let mut inner = None;
                for c in p.into_inner() {
                    if c.as_rule() == Rule::kw_not {
                        nots.push(span_of(&c).start);
                    } else {
                        inner = Some(c);
                    }
                }
                if nots.len() > MAX_NESTING {
                    return Err(ParseError::too_deep(self.name, self.text, span));
                }
                let mut e = self.expr(inner.expect("not_expr has an operand"), depth + 1)?;
                for start in nots.into_iter().rev() {
                    let s = Span::new(start, e.span.end);
                    e = Expr {
                        kind: ExprKind::Not(Box::new(e)),
                        span: s,
                    };
                }
                Ok(e)
            }
            Rule::group => {
                let inner = p
                    .into_inner()
                    .find(|c| c.as_rule() == Rule::expr)
                    .expect("group holds an expression");
                Ok(Expr {
                    kind: ExprKind::Group(Box::new(self.expr(inner, depth + 1)?)),
                    span,
                })
            }
            Rule::segment_ref => {
                let mut inner = p.into_inner();
                let id = ident(&inner.next().expect("segment_ref has a name"));
                let Some(args) = inner.next() else {
                    return Ok(Expr {
                        kind: ExprKind::SegmentRef(id),
                        span,
                    });
                };
                let mut out = Vec::new();
                for a in args
                    .into_inner()
                    .filter(|c| !matches!(c.as_rule(), Rule::lparen | Rule::rparen | Rule::comma))
                {
                    let aspan = span_of(&a);
                    if a.as_rule() == Rule::value_list {
                        out.push(Arg {
                            values: self.literal_list(a)?,
                            list: true,
                            span: aspan,
                        });
                    } else {
                        out.push(Arg {
                            values: vec![self.literal(a)?],
                            list: false,
                            span: aspan,
                        });
                    }
                }
                Ok(Expr {
                    kind: ExprKind::Call {
                        name: id,
                        args: out,
                    },
                    span,
                })
            }
            Rule::bought => self.bought(p),
            Rule::lookalike => {
                let mut segment = None;
                let mut count = None;
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::ident => segment = Some(ident(&c)),
                        Rule::integer | Rule::percent => count = Some(self.top_count(&c)?),
                        _ => {}
                    }
                }
                Ok(Expr {
                    kind: ExprKind::Lookalike {
                        segment: segment.expect("lookalike names a segment"),
                        count: count.expect("lookalike has a count"),
                    },
                    span,
                })
            }
            Rule::top => {
                let mut count = None;
                let mut by = None;
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::integer | Rule::percent => count = Some(self.top_count(&c)?),
                        Rule::operand => by = Some(self.operand(c)?),
                        _ => {}
                    }
                }
                Ok(Expr {
                    kind: ExprKind::Top {
                        count: count.expect("top has a count"),
                        by: by.expect("top has a value"),
                    },
                    span,
                })
            }
            Rule::upcoming => {
                let mut attribute = None;
                let mut anniversary = false;
                let mut window = None;
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::ident => attribute = Some(ident(&c)),
                        Rule::kw_anniversary => anniversary = true,
                        Rule::window => window = Some(self.window(c)?),
                        _ => {}
                    }
                }
                Ok(Expr {
                    kind: ExprKind::Upcoming {
                        attribute: attribute.expect("upcoming has a name"),
                        anniversary,
                        window: window.expect("upcoming has a window"),
                    },
                    span,
                })
            }
            Rule::redeemed => {
                let mut window = None;
                for c in p.into_inner() {
                    if c.as_rule() == Rule::window {
                        window = Some(self.window(c)?);
                    }
                }
                Ok(Expr {
                    kind: ExprKind::Redeemed { window },
                    span,
                })
            }
            Rule::campaign_cond => {
                let mut role = CampaignRole::Treated;
                let mut campaign = None;
                let mut date = None;
                let mut window = None;
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::campaign_role => {
                            role = match c.as_str() {
                                "held_out" => CampaignRole::HeldOut,
                                "responded" => CampaignRole::Responded,
                                _ => CampaignRole::Treated,
                            }
                        }
                        Rule::ident => campaign = Some(ident(&c)),
                        Rule::date => date = Some(self.literal(c)?),
                        Rule::window => window = Some(self.window(c)?),
                        _ => {}
                    }
                }
                Ok(Expr {
                    kind: ExprKind::CampaignCond {
                        role,
                        campaign: campaign.expect("a campaign condition names its campaign"),
                        date,
                        window,
                    },
                    span,
                })
            }
            Rule::contacted => {
                let mut channel = None;
                let mut window = None;
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::channel => channel = Some(channel_of(c)),
                        Rule::duration | Rule::word => window = Some(self.span_len(&c)?),
                        _ => {}
                    }
                }
                Ok(Expr {
                    kind: ExprKind::Contacted {
                        channel,
                        window: window.expect("contacted has a window"),
                    },
                    span,
                })
            }
            Rule::comparison => self.comparison(p),
            r => unreachable!("unexpected rule in expression: {r:?}"),
        }
    }

    fn bought(&self, p: Pair<Rule>) -> Result<Expr, ParseError> {
        let span = span_of(&p);
        let mut dimension = None;
        let mut values = Vec::new();
        let mut at_least = None;
        let mut window = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::dimension => dimension = Some(dimension_of(&c)),
                Rule::values => values = self.values(c)?,
                Rule::at_least => {
                    let n = c
                        .into_inner()
                        .find(|x| x.as_rule() == Rule::integer)
                        .expect("at least has a count");
                    at_least = Some((self.integer(&n)?, span_of(&n)));
                }
                Rule::window => window = Some(self.window(c)?),
                _ => {}
            }
        }
        Ok(Expr {
            kind: ExprKind::Bought {
                dimension,
                values,
                at_least,
                window,
            },
            span,
        })
    }

    fn comparison(&self, p: Pair<Rule>) -> Result<Expr, ParseError> {
        let span = span_of(&p);
        let mut inner = p.into_inner();
        let lhs = self.operand(inner.next().expect("comparison has an operand"))?;
        let tail = inner.next().expect("comparison has a tail");
        let rule = tail.as_rule();
        let mut negated = false;
        let mut op = None;
        let mut lits = Vec::new();
        let mut list = Vec::new();
        let mut list_param = false;
        for c in tail.into_inner() {
            match c.as_rule() {
                Rule::negation => negated = true,
                Rule::cmp_op => op = Some(cmp_op(c.as_str())),
                Rule::value_list => list = self.literal_list(c)?,
                Rule::word if rule == Rule::in_tail => {
                    let lit = self.literal(c)?;
                    if !matches!(lit.kind, LiteralKind::Param(_)) {
                        return Err(ParseError::expected_at(
                            self.name,
                            self.text,
                            lit.span,
                            "`in (...)`",
                        ));
                    }
                    list = vec![lit];
                    list_param = true;
                }
                Rule::kw_in | Rule::kw_between | Rule::kw_and => {}
                _ => lits.push(self.literal(c)?),
            }
        }
        let kind = match rule {
            Rule::compare_tail => ExprKind::Compare {
                lhs,
                op: op.expect("compare has an operator"),
                rhs: lits.pop().expect("compare has a value"),
            },
            Rule::in_tail => ExprKind::In {
                lhs,
                negated,
                list,
                list_param,
            },
            Rule::between_tail => {
                let high = lits.pop().expect("between has an upper bound");
                let low = lits.pop().expect("between has a lower bound");
                ExprKind::Between {
                    lhs,
                    negated,
                    low,
                    high,
                }
            }
            r => unreachable!("unexpected comparison tail {r:?}"),
        };
        Ok(Expr { kind, span })
    }

    fn operand(&self, p: Pair<Rule>) -> Result<Operand, ParseError> {
        let span = span_of(&p);
        let inner = p.into_inner().next().expect("operand has content");
        let kind = match inner.as_rule() {
            Rule::metric => {
                let mut name = None;
                let mut window = None;
                let mut scope = None;
                let mut percentile = false;
                for c in inner.into_inner() {
                    match c.as_rule() {
                        Rule::kw_percentile => percentile = true,
                        Rule::ident => name = Some(ident(&c)),
                        Rule::window => window = Some(self.window(c)?),
                        Rule::scope => {
                            let span = span_of(&c);
                            let v = c
                                .into_inner()
                                .find(|x| x.as_rule() == Rule::values)
                                .expect("scope has values");
                            scope = Some((self.values(v)?, span));
                        }
                        _ => {}
                    }
                }
                OperandKind::Name {
                    name: name.expect("metric has a name"),
                    scope,
                    window,
                    percentile,
                }
            }
            Rule::contacts => {
                let mut channel = None;
                let mut window = None;
                for c in inner.into_inner() {
                    match c.as_rule() {
                        Rule::channel => channel = Some(channel_of(c)),
                        Rule::window => window = Some(self.window(c)?),
                        _ => {}
                    }
                }
                OperandKind::Contacts { channel, window }
            }
            Rule::spend => {
                let mut dimension = None;
                let mut values = Vec::new();
                let mut window = None;
                for c in inner.into_inner() {
                    match c.as_rule() {
                        Rule::dimension => dimension = Some(dimension_of(&c)),
                        Rule::values => values = self.values(c)?,
                        Rule::window => window = Some(self.window(c)?),
                        _ => {}
                    }
                }
                OperandKind::Spend {
                    dimension: dimension.expect("spend has a dimension"),
                    values,
                    window,
                }
            }
            Rule::model_value => {
                let mut parts = inner.into_inner();
                let word = parts.next().map(|w| w.as_rule());
                let name = parts
                    .find(|c| c.as_rule() == Rule::ident)
                    .expect("a model value names its model");
                match word {
                    Some(Rule::kw_score) | Some(Rule::kw_uplift) => OperandKind::Score {
                        model: ident(&name),
                        uplift: word == Some(Rule::kw_uplift),
                    },
                    _ => OperandKind::Cluster {
                        model: ident(&name),
                    },
                }
            }
            r => unreachable!("unexpected operand {r:?}"),
        };
        Ok(Operand { kind, span })
    }

    fn values(&self, p: Pair<Rule>) -> Result<Vec<Literal>, ParseError> {
        let inner = p.into_inner().next().expect("values has content");
        let values = if inner.as_rule() == Rule::item_list {
            self.literal_list(inner)?
        } else {
            vec![self.literal(inner)?]
        };
        // A bare word is a parameter here; anything else is a value someone forgot to quote.
        if let Some(v) = values
            .iter()
            .find(|v| matches!(v.kind, LiteralKind::Word(_)))
        {
            return Err(ParseError::expected_at(
                self.name,
                self.text,
                v.span,
                "a quoted value or a list of values in parentheses",
            ));
        }
        Ok(values)
    }

    fn literal_list(&self, p: Pair<Rule>) -> Result<Vec<Literal>, ParseError> {
        p.into_inner()
            .filter(|c| !matches!(c.as_rule(), Rule::lparen | Rule::rparen | Rule::comma))
            .map(|c| self.literal(c))
            .collect()
    }

    fn window(&self, p: Pair<Rule>) -> Result<Window, ParseError> {
        let span = span_of(&p);
        let mut duration = None;
        let mut since_first = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::duration | Rule::word => duration = Some(self.span_len(&c)?),
                Rule::since_first => since_first = Some(span_of(&c)),
                _ => {}
            }
        }
        Ok(Window {
            duration: duration.expect("window has a duration"),
            since_first,
            span,
        })
    }

    /// `100` or `20%` of `top` and `lookalike`.
    fn top_count(&self, c: &Pair<Rule>) -> Result<TopCount, ParseError> {
        Ok(match c.as_rule() {
            Rule::percent => {
                TopCount::Percent(c.as_str().trim_end_matches('%').to_string(), span_of(c))
            }
            _ => TopCount::Count(self.integer(c)?, span_of(c)),
        })
    }

    fn integer(&self, p: &Pair<Rule>) -> Result<u64, ParseError> {
        p.as_str().parse::<u64>().map_err(|_| {
            ParseError::bad_literal(self.name, self.text, span_of(p), "this number is too large")
        })
    }

    fn duration(&self, p: &Pair<Rule>) -> Result<Duration, ParseError> {
        let s = p.as_str();
        let (num, unit) = s.split_at(s.len() - 1);
        let unit = match unit {
            "d" => DurationUnit::Day,
            "w" => DurationUnit::Week,
            "m" => DurationUnit::Month,
            _ => DurationUnit::Year,
        };
        let value = num
            .parse::<u64>()
            .ok()
            .filter(|v| *v <= 100_000)
            .ok_or_else(|| {
                ParseError::bad_literal(
                    self.name,
                    self.text,
                    span_of(p),
                    "this duration is too long (at most 100000 units)",
                )
            })?;
        Ok(Duration { value, unit })
    }

    fn literal(&self, p: Pair<Rule>) -> Result<Literal, ParseError> {
        let span = span_of(&p);
        let kind = match p.as_rule() {
            Rule::number => LiteralKind::Number(p.as_str().to_string()),
            Rule::string => LiteralKind::String(unescape(&p)),
            Rule::boolean => LiteralKind::Bool(p.as_str() == "true"),
            Rule::word => match self.param_index(p.as_str()) {
                Some(_) => LiteralKind::Param(p.as_str().to_string()),
                None => LiteralKind::Word(p.as_str().to_string()),
            },
            Rule::duration => LiteralKind::Duration(self.duration(&p)?),
            Rule::date => {
                let d =
                    chrono::NaiveDate::parse_from_str(p.as_str(), "%Y-%m-%d").map_err(|_| {
                        ParseError::bad_literal(
                            self.name,
                            self.text,
                            span,
                            "this is not a date in the calendar",
                        )
                    })?;
                LiteralKind::Date(d)
            }
            r => unreachable!("unexpected literal {r:?}"),
        };
        Ok(Literal { kind, span })
    }
}

fn ident(p: &Pair<Rule>) -> Ident {
    Ident {
        name: p.as_str().to_string(),
        span: span_of(p),
    }
}

fn channel_of(p: Pair<Rule>) -> String {
    let inner = p.into_inner().next().expect("channel has a value");
    if inner.as_rule() == Rule::string {
        unescape(&inner)
    } else {
        inner.as_str().to_string()
    }
}

fn dimension_of(p: &Pair<Rule>) -> Dimension {
    match p.as_str() {
        "category" => Dimension::Category,
        "product" => Dimension::Product,
        "partner" => Dimension::Partner,
        _ => Dimension::Store,
    }
}

fn cmp_op(s: &str) -> CmpOp {
    match s {
        "<" => CmpOp::Lt,
        "<=" => CmpOp::Le,
        ">" => CmpOp::Gt,
        ">=" => CmpOp::Ge,
        "=" => CmpOp::Eq,
        _ => CmpOp::Ne,
    }
}

fn unescape(p: &Pair<Rule>) -> String {
    let raw = p.as_str();
    let inner = &raw[1..raw.len() - 1];
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Plain words for each grammar rule, used in "expected ..." messages. No catch-all arm: a new
/// rule must be described here before the crate compiles.
pub(crate) fn describe_rule(rule: Rule) -> &'static str {
    match rule {
        Rule::EOI => "the end of the input",
        Rule::WHITESPACE | Rule::COMMENT => "a space",
        Rule::file | Rule::item => "a segment definition",
        Rule::primary | Rule::condition => "a condition",
        Rule::literal | Rule::item_value => "a value",
        Rule::ident_start | Rule::ident_char => "a name",
        Rule::expr_input => "a condition",
        Rule::import | Rule::kw_import => "`import \"file.seg\"`",
        Rule::segment_def | Rule::kw_segment => "`segment NAME = condition`",
        Rule::campaign_def | Rule::kw_campaign => "`campaign NAME = condition`",
        Rule::holdout | Rule::kw_holdout => "`holdout 10%`",
        Rule::percent => "a percentage like 10%",
        Rule::limit | Rule::kw_limit => "`limit N by METRIC`",
        Rule::order | Rule::kw_asc | Rule::kw_desc => "`asc` or `desc`",
        Rule::respond | Rule::kw_respond => "`respond within 14d` or `respond CONDITION`",
        Rule::campaign_cond | Rule::campaign_role => "`treated(CAMPAIGN)`",
        Rule::kw_treated => "`treated`",
        Rule::kw_held_out => "`held_out`",
        Rule::kw_responded => "`responded`",
        Rule::expr
        | Rule::and_expr
        | Rule::not_expr
        | Rule::group
        | Rule::comparison
        | Rule::bought
        | Rule::segment_ref
        | Rule::operand
        | Rule::metric
        | Rule::spend => "a condition",
        Rule::compare_tail | Rule::cmp_op => "a comparison such as `<`, `>=`, `=` or `!=`",
        Rule::in_tail | Rule::kw_in => "`in (...)`",
        Rule::between_tail | Rule::kw_between => "`between A and B`",
        Rule::negation | Rule::kw_not => "`not`",
        Rule::dimension => "`category`, `product`, `partner` or `store`",
        Rule::values | Rule::item_list => "a quoted value or a list of values in parentheses",
        Rule::value_list => "a list of values in parentheses, like (\"a\", \"b\")",
        Rule::at_least => "`at least N times`",
        Rule::kw_at => "`at`",
        Rule::kw_by => "`by`",
        Rule::top | Rule::kw_top => "`top N by VALUE`",
        Rule::kw_percentile => "`percentile`",
        Rule::model_value | Rule::kw_cluster => "`cluster(MODEL)`",
        Rule::kw_score => "`score(MODEL)`",
        Rule::kw_uplift => "`uplift(MODEL)`",
        Rule::lookalike | Rule::kw_lookalike => "`lookalike(SEGMENT, N)`",
        Rule::upcoming => "a condition",
        Rule::kw_anniversary => "`anniversary`",
        Rule::redeemed | Rule::kw_redeemed => "`redeemed`",
        Rule::contacted | Rule::kw_contacted => "`contacted(CHANNEL, 14d)`",
        Rule::contacts | Rule::kw_contacts => "`contacts`",
        Rule::channel => "a channel such as sms or email",
        Rule::scope => "`at` and a partner, like at \"OKKO\"",
        Rule::kw_least => "`least`",
        Rule::kw_times | Rule::kw_time => "`times`",
        Rule::window | Rule::kw_within => "`within` and a duration like 30d",
        Rule::since_first | Rule::kw_of => "`of first_purchase`",
        Rule::kw_first_purchase => "`first_purchase`",
        Rule::date => "a date like 2024-06-30",
        Rule::duration => "a duration like 30d, 8w, 6m or 1y",
        Rule::number => "a number",
        Rule::integer => "a whole number",
        Rule::string | Rule::string_inner => "a quoted text like \"Coffee\"",
        Rule::boolean => "true or false",
        Rule::word => "a value",
        Rule::ident => "a name",
        Rule::keyword => "a keyword",
        Rule::kw_and => "`and`",
        Rule::kw_or => "`or`",
        Rule::kw_bought => "`bought`",
        Rule::kw_spend => "`spend`",
        Rule::kw_on => "`on`",
        Rule::kw_category => "`category`",
        Rule::kw_product => "`product`",
        Rule::kw_partner => "`partner`",
        Rule::kw_store => "`store`",
        Rule::eq_sign => "`=`",
        Rule::lparen => "`(`",
        Rule::rparen => "`)`",
        Rule::comma => "`,`",
        Rule::colon => "`:`",
        Rule::params | Rule::param => "parameters in parentheses, like (cat: text, days)",
        Rule::param_type
        | Rule::kw_text
        | Rule::kw_number
        | Rule::kw_duration
        | Rule::kw_date
        | Rule::kw_list => "a type: text, number, duration, date or list",
        Rule::args => "arguments in parentheses, like (\"Coffee\", 30d)",
        Rule::span_len => "a duration like 30d",
        Rule::arg => "a value or a list of values in parentheses",
    }
}

pub(crate) use Rule as GrammarRule;
