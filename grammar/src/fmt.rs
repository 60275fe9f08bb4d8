//! The canonical text of expressions and segment definitions (used when saving segments).

use crate::ast::*;

/// An expression on one line, in canonical spacing.
pub fn format_expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::And(ps) => ps.iter().map(format_expr).collect::<Vec<_>>().join(" and "),
        ExprKind::Or(ps) => ps.iter().map(format_expr).collect::<Vec<_>>().join(" or "),
        ExprKind::Not(x) => format!("not {}", format_expr(x)),
        ExprKind::Group(x) => format!("({})", format_expr(x)),
        ExprKind::SegmentRef(id) => id.name.clone(),
        ExprKind::Call { name, args } => {
            let args: Vec<String> = args
                .iter()
                .map(|a| list_text(&a.values, a.list))
                .collect();
            format!("{}({})", name.name, args.join(", "))
        }
        ExprKind::Upcoming {
            attribute,
            anniversary,
            window,
        } => format!(
            "{}{} {window}",
            attribute.name,
            if *anniversary { " anniversary" } else { "" },
        ),
        ExprKind::Top { count, by } => match count {
            TopCount::Count(n, _) => format!("top {n} by {}", operand(by)),
            TopCount::Percent(p, _) => format!("top {p}% by {}", operand(by)),
        },
        ExprKind::Redeemed { window } => match window {
            Some(w) => format!("redeemed {w}"),
            None => "redeemed".to_string(),
        },
        ExprKind::CampaignCond {
            role,
            campaign,
            date,
            window,
        } => {
            let mut s = format!("{}({}", role.word(), campaign.name);
            if let Some(d) = date {
                s.push_str(&format!(", {}", d.kind));
            }
            s.push(')');
            if let Some(w) = window {
                s.push_str(&format!(" {w}"));
            }
            s
        }
        ExprKind::Contacted { channel, window } => match channel {
            Some(c) => format!("contacted({}, {window})", channel_text(c)),
            None => format!("contacted({window})"),
        },
        ExprKind::Compare { lhs, op, rhs } => {
            format!("{} {} {}", operand(lhs), op.as_str(), rhs.kind)
        }
        ExprKind::In { lhs, negated, list } => format!(
            "{}{} in {}",
            operand(lhs),
            if *negated { " not" } else { "" },
            list_text(list, true)
        ),
        ExprKind::Between {
            lhs,
            negated,
            low,
            high,
        } => format!(
            "{}{} between {} and {}",
            operand(lhs),
            if *negated { " not" } else { "" },
            low.kind,
            high.kind
        ),
        ExprKind::Bought {
            dimension,
            values,
            at_least,
            window,
        } => {
            let mut s = String::from("bought ");
            if let Some(d) = dimension {
                s.push_str(&format!("{d} "));
            }
            s.push_str(&list_text(values, false));
            if let Some((n, _)) = at_least {
                s.push_str(&format!(
                    " at least {n} time{}",
                    if *n == 1 { "" } else { "s" }
                ));
            }
            if let Some(w) = window {
                s.push_str(&format!(" {w}"));
            }
            s
        }
    }
}

/// A segment definition: top-level `and` conditions each on their own line.
pub fn format_segment(name: &str, description: Option<&str>, body: &Expr) -> String {
    let desc = description
        .map(|d| format!(" {}", LiteralKind::String(d.to_string())))
        .unwrap_or_default();
    let body = match &body.kind {
        ExprKind::And(ps) => ps
            .iter()
            .map(format_expr)
            .collect::<Vec<_>>()
            .join("\n    and "),
        _ => format_expr(body),
    };
    format!("segment {name}{desc} =\n    {body}\n")
}

fn operand(o: &Operand) -> String {
    match &o.kind {
        OperandKind::Name {
            name,
            scope,
            window,
            percentile,
        } => {
            let mut s = name.name.clone();
            if let Some((values, _)) = scope {
                s.push_str(&format!(" at {}", list_text(values, false)));
            }
            if let Some(w) = window {
                s.push_str(&format!(" {w}"));
            }
            if *percentile {
                s.push_str(" percentile");
            }
            s
        }
        OperandKind::Contacts { channel, window } => {
            let mut s = String::from("contacts");
            if let Some(c) = channel {
                s.push_str(&format!(" by {}", channel_text(c)));
            }
            if let Some(w) = window {
                s.push_str(&format!(" {w}"));
            }
            s
        }
        OperandKind::Spend {
            dimension,
            values,
            window,
        } => {
            let mut s = format!("spend on {dimension} {}", list_text(values, false));
            if let Some(w) = window {
                s.push_str(&format!(" {w}"));
            }
            s
        }
    }
}

fn list_text(values: &[Literal], always_parens: bool) -> String {
    if values.len() == 1 && !always_parens {
        return values[0].kind.to_string();
    }
    let items: Vec<String> = values.iter().map(|v| v.kind.to_string()).collect();
    format!("({})", items.join(", "))
}

/// A channel as written: a bare word when it is one, else quoted.
fn channel_text(c: &str) -> String {
    let word = c
        .chars()
        .next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.chars().all(|x| x.is_ascii_alphanumeric() || x == '_');
    if word {
        c.to_string()
    } else {
        LiteralKind::String(c.to_string()).to_string()
    }
}
