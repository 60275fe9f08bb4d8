//! Segments with parameters: `segment bought_lately(cat, days) = bought category cat within
//! days`, called as `bought_lately("Coffee", 30d)`.
//!
//! A parameter stands where a value or a duration stands. Its type is declared
//! (`days: duration`) or follows from where the body uses it; a call's arguments are checked
//! against those types at the call, then the call is expanded: the body with each parameter
//! replaced by its argument (spans kept at the parameter's use, in the definition's text).

use segql_grammar::ast::*;

/// What an argument must be, from the declaration or the parameter's uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Declared or used as a duration (`within days`).
    Duration,
    /// A quoted text value.
    Text,
    /// A number.
    Number,
    /// A date.
    Date,
    /// true or false.
    Bool,
    /// One word of a fixed set (a lifecycle stage, an RFM segment).
    Word,
    /// Values matched by `bought`, `spend on` or `at`: a text, a number, or a list of them.
    Values,
    /// A list in parentheses.
    List,
    /// Any single value (a use whose type is decided once the argument is in place).
    Any,
}

impl Expect {
    /// The declared type as an expectation.
    pub fn declared(t: ParamType) -> Expect {
        match t {
            ParamType::Text => Expect::Text,
            ParamType::Number => Expect::Number,
            ParamType::Duration => Expect::Duration,
            ParamType::Date => Expect::Date,
            ParamType::List => Expect::List,
        }
    }

    /// In words, for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Expect::Duration => "a duration like 30d",
            Expect::Text => "a quoted text value",
            Expect::Number => "a number",
            Expect::Date => "a date like 2026-10-31",
            Expect::Bool => "true or false",
            Expect::Word => "a word such as a lifecycle stage",
            Expect::Values => "a quoted value or a list of values in parentheses",
            Expect::List => "a list of values in parentheses",
            Expect::Any => "a value",
        }
    }

    /// True when `arg` is what is expected.
    pub fn accepts(&self, arg: &Arg) -> bool {
        let one = |f: fn(&LiteralKind) -> bool| {
            !arg.list && arg.values.len() == 1 && f(&arg.values[0].kind)
        };
        match self {
            Expect::Duration => one(|k| matches!(k, LiteralKind::Duration(_))),
            Expect::Text => one(|k| matches!(k, LiteralKind::String(_))),
            Expect::Number => one(|k| matches!(k, LiteralKind::Number(_))),
            Expect::Date => one(|k| matches!(k, LiteralKind::Date(_))),
            Expect::Bool => one(|k| matches!(k, LiteralKind::Bool(_))),
            Expect::Word => one(|k| matches!(k, LiteralKind::Word(_) | LiteralKind::String(_))),
            Expect::Values => arg
                .values
                .iter()
                .all(|v| matches!(v.kind, LiteralKind::String(_) | LiteralKind::Number(_))),
            Expect::List => arg.list,
            Expect::Any => !arg.list,
        }
    }

    /// What a parameter used in two places takes: what both accept (`Values` and `Text`:
    /// a text value), `None` when nothing does.
    pub fn meet(self, other: Expect) -> Option<Expect> {
        use Expect::*;
        match (self, other) {
            (a, b) if a == b => Some(a),
            (Any, x) | (x, Any) => Some(x),
            (Values, x @ (Text | Number | List)) | (x @ (Text | Number | List), Values) => Some(x),
            (Word, Text) | (Text, Word) => Some(Text),
            _ => None,
        }
    }

    /// Whether a declared type and a use agree.
    fn compatible(&self, use_: Expect) -> bool {
        match (self, use_) {
            (a, b) if *a == b => true,
            (_, Expect::Any) => !matches!(self, Expect::List),
            (Expect::Text | Expect::Number | Expect::List, Expect::Values) => true,
            (Expect::Text, Expect::Word) => true,
            _ => false,
        }
    }
}

/// One use of a parameter in a body.
#[derive(Debug, Clone)]
pub struct Use<'a> {
    /// The parameter's position.
    pub index: usize,
    /// What the place takes.
    pub expect: Expect,
    /// Where the parameter is written.
    pub span: Span,
    /// For a comparison (`monetary > min`): the operand, whose type decides the value's.
    pub operand: Option<&'a Operand>,
    /// For an argument of a call (`bought_lately(cat, 30d)`): the segment called and the
    /// argument's position, whose parameter's type decides this one's.
    pub call: Option<(&'a str, usize)>,
}

/// Every use of `def`'s parameters in its body, in order.
pub fn uses(def: &SegmentDef) -> Vec<Use<'_>> {
    let mut c = Uses {
        def,
        out: Vec::new(),
    };
    walk(&def.body, &mut |e| c.expr(e));
    c.out
}

struct Uses<'a> {
    def: &'a SegmentDef,
    out: Vec<Use<'a>>,
}

impl<'a> Uses<'a> {
    fn index(&self, l: &Literal) -> Option<usize> {
        match &l.kind {
            LiteralKind::Param(n) => self.def.params.iter().position(|p| &p.name.name == n),
            _ => None,
        }
    }

    fn push(&mut self, index: usize, expect: Expect, span: Span, operand: Option<&'a Operand>) {
        self.out.push(Use {
            index,
            expect,
            span,
            operand,
            call: None,
        });
    }

    fn values(&mut self, ls: &'a [Literal]) {
        for l in ls {
            if let Some(i) = self.index(l) {
                self.push(i, Expect::Values, l.span, None);
            }
        }
    }

    fn scalar(&mut self, l: &'a Literal, o: &'a Operand) {
        if let Some(i) = self.index(l) {
            self.push(i, Expect::Any, l.span, Some(o));
        }
    }

    fn duration(&mut self, d: &Duration, span: Span) {
        if d.unit == DurationUnit::Param {
            self.push(d.value as usize, Expect::Duration, span, None);
        }
    }

    fn window(&mut self, w: Option<&'a Window>) {
        if let Some(w) = w {
            self.duration(&w.duration, w.span);
        }
    }

    fn operand(&mut self, o: &'a Operand) {
        match &o.kind {
            OperandKind::Name { scope, window, .. } => {
                if let Some((v, _)) = scope {
                    self.values(v);
                }
                self.window(window.as_ref());
            }
            OperandKind::Contacts { window, .. } => self.window(window.as_ref()),
            OperandKind::Spend { values, window, .. } => {
                self.values(values);
                self.window(window.as_ref());
            }
            OperandKind::Cluster { .. } | OperandKind::Score { .. } => {}
        }
    }

    fn expr(&mut self, e: &'a Expr) {
        match &e.kind {
            ExprKind::Compare { lhs, rhs, .. } => {
                self.operand(lhs);
                self.scalar(rhs, lhs);
            }
            ExprKind::Between { lhs, low, high, .. } => {
                self.operand(lhs);
                self.scalar(low, lhs);
                self.scalar(high, lhs);
            }
            ExprKind::In {
                lhs,
                list,
                list_param,
                ..
            } => {
                self.operand(lhs);
                match list.as_slice() {
                    [one] if *list_param && self.index(one).is_some() => {
                        let i = self.index(one).unwrap_or_default();
                        self.push(i, Expect::List, one.span, Some(lhs));
                    }
                    _ => list.iter().for_each(|l| self.scalar(l, lhs)),
                }
            }
            ExprKind::Bought { values, window, .. } => {
                self.values(values);
                self.window(window.as_ref());
            }
            ExprKind::Top { by, .. } => self.operand(by),
            ExprKind::Upcoming { window, .. } => self.window(Some(window)),
            ExprKind::Redeemed { window } | ExprKind::CampaignCond { window, .. } => {
                self.window(window.as_ref())
            }
            ExprKind::Contacted { window, .. } => self.duration(window, e.span),
            ExprKind::Call { name, args } => {
                for (position, arg) in args.iter().enumerate() {
                    for l in &arg.values {
                        if let Some(i) = self.index(l) {
                            self.out.push(Use {
                                index: i,
                                expect: Expect::Any,
                                span: l.span,
                                operand: None,
                                call: Some((name.name.as_str(), position)),
                            });
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// Calls `f` on `e` and every expression inside it.
pub fn walk<'a>(e: &'a Expr, f: &mut impl FnMut(&'a Expr)) {
    f(e);
    match &e.kind {
        ExprKind::And(v) | ExprKind::Or(v) => v.iter().for_each(|x| walk(x, f)),
        ExprKind::Not(x) | ExprKind::Group(x) => walk(x, f),
        _ => {}
    }
}

/// Whether a declared type agrees with a use; `None` when it does.
pub fn conflict(declared: ParamType, use_: Expect) -> Option<Expect> {
    let d = Expect::declared(declared);
    (!d.compatible(use_)).then_some(d)
}

/// The body of `def` with its parameters replaced by `args` (already checked: one per
/// parameter, of the right kind).
pub fn expand(def: &SegmentDef, args: &[Arg]) -> Expr {
    let mut body = def.body.clone();
    let by_name = |n: &str| {
        def.params
            .iter()
            .position(|p| p.name.name == n)
            .map(|i| &args[i])
    };
    substitute(&mut body, &by_name, args);
    body
}

fn substitute<'a>(e: &mut Expr, by_name: &impl Fn(&str) -> Option<&'a Arg>, args: &'a [Arg]) {
    let values = |ls: &mut Vec<Literal>| {
        let mut out = Vec::with_capacity(ls.len());
        for l in ls.drain(..) {
            match &l.kind {
                LiteralKind::Param(n) => match by_name(n) {
                    Some(a) => out.extend(a.values.iter().map(|v| Literal {
                        kind: v.kind.clone(),
                        span: l.span,
                    })),
                    None => out.push(l),
                },
                _ => out.push(l),
            }
        }
        *ls = out;
    };
    let one = |l: &mut Literal| {
        if let LiteralKind::Param(n) = &l.kind
            && let Some(a) = by_name(n)
            && let Some(v) = a.values.first()
        {
            l.kind = v.kind.clone();
        }
    };
    let duration = |d: &mut Duration| {
        if d.unit == DurationUnit::Param
            && let Some(a) = args.get(d.value as usize)
            && let Some(LiteralKind::Duration(x)) = a.values.first().map(|v| &v.kind)
        {
            *d = *x;
        }
    };
    let window = |w: &mut Option<Window>| {
        if let Some(w) = w {
            duration(&mut w.duration);
        }
    };
    let operand = |o: &mut Operand| match &mut o.kind {
        OperandKind::Name {
            scope, window: w, ..
        } => {
            if let Some((v, _)) = scope {
                values(v);
            }
            window(w);
        }
        OperandKind::Contacts { window: w, .. } => window(w),
        OperandKind::Spend {
            values: v,
            window: w,
            ..
        } => {
            values(v);
            window(w);
        }
        OperandKind::Cluster { .. } | OperandKind::Score { .. } => {}
    };
    match &mut e.kind {
        ExprKind::And(v) | ExprKind::Or(v) => {
            v.iter_mut().for_each(|x| substitute(x, by_name, args))
        }
        ExprKind::Not(x) | ExprKind::Group(x) => substitute(x, by_name, args),
        ExprKind::Compare { lhs, rhs, .. } => {
            operand(lhs);
            one(rhs);
        }
        ExprKind::Between { lhs, low, high, .. } => {
            operand(lhs);
            one(low);
            one(high);
        }
        ExprKind::In { lhs, list, .. } => {
            operand(lhs);
            values(list);
        }
        ExprKind::Bought {
            values: v,
            window: w,
            ..
        } => {
            values(v);
            window(w);
        }
        ExprKind::Top { by, .. } => operand(by),
        ExprKind::Lookalike { .. } => {}
        ExprKind::Upcoming { window: w, .. } => duration(&mut w.duration),
        ExprKind::Redeemed { window: w } | ExprKind::CampaignCond { window: w, .. } => window(w),
        ExprKind::Contacted { window: d, .. } => duration(d),
        // A parameter passed on to another call: the argument takes the caller's argument.
        ExprKind::Call {
            args: call_args, ..
        } => {
            for arg in call_args.iter_mut() {
                let mut values = Vec::with_capacity(arg.values.len());
                for l in arg.values.drain(..) {
                    match &l.kind {
                        LiteralKind::Param(n) => match by_name(n) {
                            Some(a) => {
                                arg.list |= a.list;
                                values.extend(a.values.iter().map(|v| Literal {
                                    kind: v.kind.clone(),
                                    span: l.span,
                                }));
                            }
                            None => values.push(l),
                        },
                        _ => values.push(l),
                    }
                }
                arg.values = values;
            }
        }
        ExprKind::SegmentRef(_) => {}
    }
}

/// `o` with each parameter in it replaced by a placeholder (a day, an empty text), so that
/// its type can be resolved before a call's arguments are in place.
pub fn operand_for_typing(o: &Operand) -> Operand {
    let mut o = o.clone();
    let (values, window) = match &mut o.kind {
        OperandKind::Name { scope, window, .. } => (scope.as_mut().map(|(v, _)| v), window),
        OperandKind::Contacts { window, .. } => (None, window),
        OperandKind::Spend { values, window, .. } => (Some(values), window),
        OperandKind::Cluster { .. } | OperandKind::Score { .. } => return o,
    };
    for v in values.into_iter().flatten() {
        if matches!(v.kind, LiteralKind::Param(_)) {
            v.kind = LiteralKind::String(String::new());
        }
    }
    if let Some(w) = window
        && w.duration.unit == DurationUnit::Param
    {
        w.duration = Duration {
            value: 1,
            unit: DurationUnit::Day,
        };
    }
    o
}

/// A placeholder argument of the expected kind, to check a body on its own (`segql check`).
pub fn placeholder(expect: Expect, span: Span, date: chrono::NaiveDate) -> Arg {
    let lit = |kind| Literal { kind, span };
    let (values, list) = match expect {
        Expect::Duration => (
            vec![lit(LiteralKind::Duration(Duration {
                value: 1,
                unit: DurationUnit::Day,
            }))],
            false,
        ),
        Expect::Number => (vec![lit(LiteralKind::Number("0".into()))], false),
        Expect::Date => (vec![lit(LiteralKind::Date(date))], false),
        Expect::Bool => (vec![lit(LiteralKind::Bool(true))], false),
        Expect::List => (vec![lit(LiteralKind::String(String::new()))], true),
        Expect::Text | Expect::Values | Expect::Word | Expect::Any => {
            (vec![lit(LiteralKind::String(String::new()))], false)
        }
    };
    Arg { values, list, span }
}
