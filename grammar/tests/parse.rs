//! Parser tests: every construct parses to the expected tree shape, and arbitrary or mutated
//! text never panics.

use proptest::prelude::*;
use segql_grammar::ast::{CampaignRole, ExprKind, Item, LiteralKind, SegmentDef};
use segql_grammar::{parse_expr, parse_file};

#[test]
fn every_construct_parses() {
    let text = r#"
        # comment
        import "other.seg"
        segment a "described" = recency < 30d and not (frequency within 8w >= 3 or monetary > 12.50)
        segment b = city in ("Kyiv", "Lviv") and gender not in ("m") and avg_check between 10 and 20
        segment c = bought category "Coffee" at least 2 times within 30d and bought ("X", 5)
        segment d = spend on partner ("OKKO", "WOG") within 6m > 100 and lifecycle = at_risk
        segment e = signup_date < 2024-01-01 and sms_opt_in = true and a and recency not between 1d and 2y
    "#;
    let f = parse_file("t.seg", text).unwrap();
    assert_eq!(f.items.len(), 6);
    let Item::Segment(a) = &f.items[1] else {
        panic!()
    };
    assert_eq!(a.description.as_deref(), Some("described"));
    let ExprKind::And(parts) = &a.body.kind else {
        panic!("{:?}", a.body)
    };
    assert_eq!(parts.len(), 2);
    assert!(matches!(parts[1].kind, ExprKind::Not(_)));
    let Item::Segment(c) = &f.items[3] else {
        panic!()
    };
    let ExprKind::And(parts) = &c.body.kind else {
        panic!()
    };
    let ExprKind::Bought {
        at_least,
        window,
        values,
        ..
    } = &parts[0].kind
    else {
        panic!()
    };
    assert_eq!(at_least.map(|a| a.0), Some(2));
    assert_eq!(window.unwrap().duration.days(), 30);
    assert_eq!(values[0].kind, LiteralKind::String("Coffee".into()));
}

#[test]
fn and_binds_tighter_than_or() {
    let e = parse_expr("x", "a or b and c").unwrap();
    let ExprKind::Or(parts) = e.kind else {
        panic!()
    };
    assert!(matches!(parts[1].kind, ExprKind::And(_)));
}

#[test]
fn durations_are_whole_days() {
    for (text, days) in [("1d", 1), ("8w", 56), ("6m", 180), ("1y", 365)] {
        let e = parse_expr("x", &format!("recency < {text}")).unwrap();
        let ExprKind::Compare { rhs, .. } = e.kind else {
            panic!()
        };
        let LiteralKind::Duration(d) = rhs.kind else {
            panic!()
        };
        assert_eq!(d.days(), days);
    }
}

#[test]
fn spans_point_at_the_source() {
    let text = "recency < 30d and city = \"Kyiv\"";
    let e = parse_expr("x", text).unwrap();
    let ExprKind::And(parts) = e.kind else {
        panic!()
    };
    assert_eq!(
        &text[parts[1].span.start..parts[1].span.end],
        "city = \"Kyiv\""
    );
}

#[test]
fn windows_can_start_at_the_first_purchase() {
    let text = "frequency within 30d of first_purchase < 2";
    let e = parse_expr("x", text).unwrap();
    let ExprKind::Compare { lhs, .. } = e.kind else {
        panic!()
    };
    let segql_grammar::ast::OperandKind::Name { window, .. } = lhs.kind else {
        panic!()
    };
    let w = window.unwrap();
    assert_eq!(w.duration.days(), 30);
    let of = w.since_first.expect("of first_purchase");
    assert_eq!(&text[of.start..of.end], "of first_purchase");
    assert_eq!(
        &text[w.span.start..w.span.end],
        "within 30d of first_purchase"
    );
    // Without it, the window ends at the as-of date.
    let e = parse_expr("x", "bought \"X\" within 30d").unwrap();
    let ExprKind::Bought { window, .. } = e.kind else {
        panic!()
    };
    assert_eq!(window.unwrap().since_first, None);
    // Only the first purchase anchors a window; `of` alone is no keyword.
    let err = parse_expr("x", "frequency within 30d of last_purchase < 2").unwrap_err();
    assert!(
        err.to_string()
            .contains("expected `first_purchase`, found `last_purchase`"),
        "{err}"
    );
    assert!(parse_expr("x", "of = \"a\" and partners >= 2").is_ok());
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}recency < 30d{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(parse_expr("x", &deep).is_err());
    let nots = format!("{}recency < 30d", "not ".repeat(10_000));
    assert!(parse_expr("x", &nots).is_err());
}

const PIECES: [&str; 27] = [
    "segment",
    "import",
    "and",
    "or",
    "not",
    "(",
    ")",
    "\"",
    "=",
    "<",
    ">=",
    "in",
    "between",
    "within",
    "30d",
    "bought",
    "category",
    "\"Coffee\"",
    "2024-01-01",
    "12.5",
    "recency",
    "#",
    "\n",
    "at least",
    "of",
    "first_purchase",
    "partners",
];

proptest! {
    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        let _ = parse_file("x", &s);
        let _ = parse_expr("x", &s);
    }

    #[test]
    fn token_soup_never_panics(parts in prop::collection::vec(0usize..PIECES.len(), 0..40)) {
        let s: Vec<&str> = parts.iter().map(|i| PIECES[*i]).collect();
        let s = s.join(" ");
        let _ = parse_file("x", &s);
        let _ = parse_expr("x", &s);
    }
}

#[test]
fn formatting_round_trips() {
    let cases = [
        "recency < 30d and not (frequency within 8w >= 3 or monetary > 12.50)",
        "city in (\"Kyiv\", \"Lviv\") and gender not in (\"m\") and avg_check between 10 and 20",
        "bought category \"Coffee\" at least 2 times within 30d or bought (\"X\", 5)",
        "spend on partner (\"OKKO\", \"WOG\") within 6m > 100 and lifecycle = at_risk",
        "signup_date < 2024-01-01 and sms_opt_in = true and a and recency not between 1d and 2y",
        "not not a",
        "not contacted(sms, 14d) and contacts by \"SMS Gate\" within 30d < 4 and contacted(1w)",
        "recency at \"OKKO\" within 30d < 14d and lifecycle at (\"A\", \"B\") = new",
        "lifecycle = new and frequency within 30d of first_purchase < 2 and partners within 1y >= 2",
        "bought category \"Coffee\" within 2w of first_purchase and redeemed within 30d of first_purchase",
        "spend on partner \"OKKO\" within 30d of first_purchase > 100 or categories at \"OKKO\" >= 3",
        "treated(birthday_bonus) and not responded(birthday_bonus, 2026-09-15) or held_out(x) within 90d",
        "treated = true and responded(a) within 2w",
    ];
    for c in cases {
        let e = parse_expr("x", c).unwrap();
        let text = segql_grammar::fmt::format_expr(&e);
        assert_eq!(text, c);
        let seg = segql_grammar::fmt::format_segment("s", Some("say \"hi\""), &e);
        let f = parse_file("s.seg", &seg).unwrap();
        let Item::Segment(d) = &f.items[0] else {
            panic!()
        };
        assert_eq!(segql_grammar::fmt::format_expr(&d.body), c, "{seg}");
        assert_eq!(d.description.as_deref(), Some("say \"hi\""));
    }
}

#[test]
fn campaigns_declare_their_response_and_conditions_read_snapshots() {
    let text = r#"
        campaign a = b holdout 10% respond within 14d
        campaign c = d respond bought category "Coffee" at least 2 times within 14d limit 5
        campaign e = f respond spend on partner "OKKO" within 30d >= 500 and frequency within 30d >= 2 holdout 5%
        segment g = treated(a, 2026-09-15) and not responded(a) within 90d and held_out(c)
    "#;
    let f = parse_file("t.seg", text).unwrap();
    let defs: Vec<&SegmentDef> = f
        .items
        .iter()
        .map(|i| match i {
            Item::Segment(s) => s,
            Item::Import(_) => panic!("no imports"),
        })
        .collect();
    let r = defs[0].campaign.as_ref().unwrap().respond.as_ref().unwrap();
    assert!(r.condition.is_none());
    assert_eq!(r.window.unwrap().duration.days(), 14);
    assert_eq!(&text[r.span.start..r.span.end], "respond within 14d");
    let c = defs[1].campaign.as_ref().unwrap();
    assert_eq!(c.limit.as_ref().unwrap().count, 5);
    let cond = c.respond.as_ref().unwrap().condition.as_ref().unwrap();
    assert!(matches!(cond.kind, ExprKind::Bought { .. }));
    let e = defs[2].campaign.as_ref().unwrap();
    assert!(e.holdout.is_some());
    assert!(matches!(
        e.respond.as_ref().unwrap().condition.as_ref().unwrap().kind,
        ExprKind::And(_)
    ));
    let ExprKind::And(parts) = &defs[3].body.kind else {
        panic!("{:?}", defs[3].body)
    };
    let ExprKind::CampaignCond {
        role,
        campaign,
        date,
        window,
    } = &parts[0].kind
    else {
        panic!("{:?}", parts[0])
    };
    assert_eq!(*role, CampaignRole::Treated);
    assert_eq!(campaign.name, "a");
    assert!(date.is_some() && window.is_none());
    let ExprKind::Not(inner) = &parts[1].kind else {
        panic!()
    };
    assert!(matches!(
        inner.kind,
        ExprKind::CampaignCond {
            role: CampaignRole::Responded,
            window: Some(_),
            ..
        }
    ));
    // A second response is an error, and the words stay usable as names.
    assert!(
        parse_file(
            "t.seg",
            "campaign a = b respond within 1d respond within 2d"
        )
        .is_err()
    );
    assert!(parse_expr("x", "treated = true and respond > 2 and responded").is_ok());
}
