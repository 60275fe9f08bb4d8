//! `segql lint`: each finding on a small project with its own CSV data, by its code, its place
//! and its message (from `--message-format json`); the exit codes, the files linted by default,
//! and the human rendering of every code.

use crate::common::{fixture, segql_command, stderr, write};
use std::path::Path;
use std::process::Output;

/// Four purchases from 2026-01-01 to 2026-03-30: 90 days of history as of 2026-03-31.
const TX: &str = "customer_id,ts,amount,category,partner\n\
c1,2026-01-01,10.00,Coffee,Aroma\n\
c1,2026-03-20,20.00,Tea,Aroma\n\
c2,2026-02-10,15.00,Coffee,OKKO\n\
c3,2026-03-30,50.00,Fuel,OKKO\n";

const CUSTOMERS: &str = "customer_id,city\nc1,Kyiv\nc2,Lviv\nc3,Odesa\n";

const PROJECT: &str = "[project]\nas_of = \"2026-03-31\"\n\n[transactions]\npath = \"tx.csv\"\n\n\
[customers]\npath = \"customers.csv\"\n";

/// A project over [`TX`] and [`CUSTOMERS`] with these segment files.
fn project(segments: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = fixture(&[
        ("segql.toml", PROJECT),
        ("tx.csv", TX),
        ("customers.csv", CUSTOMERS),
    ]);
    for (name, text) in segments {
        write(dir.path(), name, text);
    }
    dir
}

/// `segql lint ARGS` in `dir`.
fn lint(dir: &Path, args: &[&str]) -> Output {
    segql_command()
        .arg("lint")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// One warning as the JSON format gives it.
#[derive(Debug, PartialEq)]
struct Warning {
    code: String,
    message: String,
    /// (file, line, column, label) of each span, the primary first.
    spans: Vec<(String, u64, u64, String)>,
    help: Option<String>,
}

/// The warnings of `segql lint --message-format json ARGS` (which must exit 0) with `code`.
fn warnings(dir: &Path, args: &[&str], code: &str) -> Vec<Warning> {
    let mut all = vec!["--message-format", "json"];
    all.extend(args);
    let o = lint(dir, &all);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    out.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .inspect(|v| assert_eq!(v["level"], "warning", "{v}"))
        .filter(|v| v["code"]["code"] == code)
        .map(|v| Warning {
            code: v["code"]["code"].as_str().unwrap().to_string(),
            message: v["message"].as_str().unwrap().to_string(),
            spans: v["spans"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["file_name"].as_str().unwrap().to_string(),
                        s["line_start"].as_u64().unwrap(),
                        s["column_start"].as_u64().unwrap(),
                        s["label"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
            help: v["children"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["level"] == "help")
                .map(|c| c["message"].as_str().unwrap().to_string()),
        })
        .collect()
}

/// A warning with one span.
fn at(code: &str, file: &str, line: u64, column: u64, label: &str, message: &str) -> Warning {
    Warning {
        code: code.into(),
        message: message.into(),
        spans: vec![(file.into(), line, column, label.into())],
        help: None,
    }
}

impl Warning {
    fn help(mut self, help: &str) -> Warning {
        self.help = Some(help.into());
        self
    }

    fn also(mut self, line: u64, column: u64, label: &str) -> Warning {
        let file = self.spans[0].0.clone();
        self.spans.push((file, line, column, label.into()));
        self
    }
}

#[test]
fn values_that_occur_nowhere_point_at_the_literal_with_the_closest_value() {
    let dir = project(&[(
        "segments/values.seg",
        "segment typo = bought category \"Cofee\" within 30d\n\
         segment city_typo = city = \"kyiv\"\n\
         segment scoped = frequency at \"Okko\" >= 1\n\
         segment fine = bought category \"Coffee\" and city in (\"Kyiv\", \"Lviv\")\n\
         segment lately(cat) = bought category cat\n\
         segment caller = lately(\"Te\") and spend on partner \"Aroma\" > 1\n",
    )]);
    let code = "segql::lint::unknown_value";
    let f = "segments/values.seg";
    let label = |c: &str| format!("no {c} has this value");
    assert_eq!(
        warnings(dir.path(), &[], code),
        vec![
            at(
                code,
                f,
                1,
                32,
                &label("category"),
                "no category \"Cofee\" in the transactions (text compares exactly, case included)"
            )
            .help("did you mean \"Coffee\"?"),
            at(
                code,
                f,
                2,
                28,
                &label("city"),
                "no city \"kyiv\" in the customers (text compares exactly, case included)"
            )
            .help("did you mean \"Kyiv\"?"),
            at(
                code,
                f,
                3,
                31,
                &label("partner"),
                "no partner \"Okko\" in the transactions (text compares exactly, case included)"
            )
            .help("did you mean \"OKKO\"?"),
            // A value passed to a segment with parameters: at the call's argument.
            at(
                code,
                f,
                6,
                25,
                &label("category"),
                "no category \"Te\" in the transactions (text compares exactly, case included)"
            )
            .help("did you mean \"Tea\"?"),
        ]
    );
}

#[test]
fn conditions_that_can_never_hold_point_at_the_later_comparison() {
    let dir = project(&[(
        "segments/never.seg",
        "segment a = recency < 30d and (frequency >= 1 and recency > 60d)\n\
         segment b = avg_check between 10 and 5\n\
         segment c = city = \"Kyiv\" and city = \"Lviv\"\n\
         segment d = monetary < 5 and monetary >= 5 or recency < 10d\n\
         segment e = recency < 30d and recency > 20d and monetary at \"OKKO\" > 5 and monetary < 5\n\
         segment f = frequency > 2 and frequency < 3\n",
    )]);
    let code = "segql::lint::never_true";
    let f = "segments/never.seg";
    let later = "contradicts the earlier comparison";
    let earlier = "the earlier comparison";
    let help = |v: &str| {
        format!(
            "no value of `{v}` meets them all, so no customer meets this `and`: check the bounds, or join them with `or`"
        )
    };
    assert_eq!(
        warnings(dir.path(), &[], code),
        vec![
            at(
                code,
                f,
                1,
                51,
                later,
                "`recency > 60d` can never hold together with `recency < 30d`"
            )
            .also(1, 13, earlier)
            .help(&help("recency")),
            at(
                code,
                f,
                2,
                13,
                "true for no customer",
                "`avg_check between 10 and 5` can never hold: its low end is above its high end"
            )
            .help("write the low end first: `avg_check between 5 and 10`"),
            at(
                code,
                f,
                3,
                31,
                later,
                "`city = \"Lviv\"` can never hold together with `city = \"Kyiv\"`"
            )
            .also(3, 13, earlier)
            .help(&help("city")),
            at(
                code,
                f,
                4,
                30,
                later,
                "`monetary >= 5` can never hold together with `monetary < 5`"
            )
            .also(4, 13, earlier)
            .help(&help("monetary")),
            // Whole numbers: no purchase count lies between 2 and 3.
            at(
                code,
                f,
                6,
                31,
                later,
                "`frequency < 3` can never hold together with `frequency > 2`"
            )
            .also(6, 13, earlier)
            .help(&help("frequency")),
        ]
    );
}

#[test]
fn windows_longer_than_the_history_say_how_many_days_there_are() {
    let dir = project(&[(
        "segments/windows.seg",
        "segment long = monetary within 1y > 100\n\
         segment all_of_it = frequency within 90d >= 1 and monetary within 30d of first_purchase > 1\n\
         segment recent(days) = frequency within days >= 1\n\
         segment caller = recent(13w)\n",
    )]);
    let code = "segql::lint::window_beyond_data";
    let f = "segments/windows.seg";
    let help = "the window counts only the 90 days there are, so totals over it are understated: \
                shorten it to at most 90d, or add older transactions";
    assert_eq!(
        warnings(dir.path(), &[], code),
        vec![
            at(
                code,
                f,
                1,
                25,
                "365 days, 90 of them in the data",
                "`within 1y` (365 days, from 2025-04-01) reaches back before the first transaction \
                 (2026-01-01): the data has 90 days of history up to 2026-03-31"
            )
            .help(help),
            at(
                code,
                f,
                4,
                25,
                "91 days, 90 of them in the data",
                "`within 13w` (91 days, from 2025-12-31) reaches back before the first transaction \
                 (2026-01-01): the data has 90 days of history up to 2026-03-31"
            )
            .help(help),
        ]
    );
    // As of an earlier date, the history is shorter: 30 days reach past 2026-01-01 on 29 January.
    let early = warnings(dir.path(), &["--as-of", "2026-01-29"], code);
    assert!(
        early.iter().any(|w| w
            .message
            .contains("the data has 29 days of history up to 2026-01-29")),
        "{early:?}"
    );
}

/// 2000 customers with one purchase each.
fn audience_project(segments: &str) -> tempfile::TempDir {
    let mut tx = String::from("customer_id,ts,amount\n");
    for i in 0..2000 {
        tx.push_str(&format!("c{i:04},2026-03-{:02},10.00\n", 1 + i % 30));
    }
    fixture(&[
        (
            "segql.toml",
            "[project]\nas_of = \"2026-03-31\"\n\n[transactions]\npath = \"tx.csv\"\n",
        ),
        ("tx.csv", &tx),
        ("campaigns.seg", segments),
    ])
}

#[test]
fn holdouts_too_small_to_detect_five_points_say_what_would_do() {
    let dir = audience_project(
        "campaign small = frequency >= 1 holdout 10%\n\
         campaign enough = frequency >= 1 holdout 40% respond within 14d\n\
         campaign capped = frequency >= 1 holdout 50% limit 100\n\
         campaign without = frequency >= 1 limit 10\n\
         campaign zero = frequency >= 1 holdout 0% limit 10\n",
    );
    let code = "segql::lint::holdout_too_small";
    let f = "campaigns.seg";
    // Control members needed for 10% against 15% at 80% power and the 5% level, the test group
    // the rest (Fleiss, without continuity correction; computed with Python's NormalDist):
    // 399.25 with 9 test members per control member, 460.47 at a holdout of 23.03% (the first
    // share whose 2000 x share reaches it), 685.6 at an even split.
    assert_eq!(
        warnings(dir.path(), &[], code),
        vec![
            at(
                code,
                f,
                1,
                41,
                "about 200 control members",
                "the control group of `small`, about 200 of 2,000 members as of 2026-03-31, is too \
                 small to detect a response rate going from 10% to 15% (at 80% power and the 5% \
                 level): that needs 400 control members"
            )
            .help(
                "a holdout of 23.03% gives about 461 control members, the 461 needed with the rest \
                 of the 2,000 members as the test group"
            ),
            at(
                code,
                f,
                3,
                42,
                "about 50 control members",
                "the control group of `capped`, about 50 of 100 members as of 2026-03-31, is too \
                 small to detect a response rate going from 10% to 15% (at 80% power and the 5% \
                 level): that needs 686 control members"
            )
            .help(
                "even half the audience held out is too few: an even split needs 686 control \
                 members, an audience of at least 1,372"
            ),
        ]
    );
}

#[test]
fn customers_columns_named_like_a_metric_are_reported_at_a_use_or_once() {
    let dir = project(&[(
        "segments/s.seg",
        "segment s = city = \"Kyiv\" and recency < 30d\n",
    )]);
    write(
        dir.path(),
        "customers.csv",
        "customer_id,city,recency,tenure\nc1,Kyiv,5,1\nc2,Lviv,7,2\nc3,Odesa,9,3\n",
    );
    let code = "segql::lint::shadowed_attribute";
    let message = |c: &str| {
        format!(
            "the customers table has a column `{c}`, which is also segql's metric `{c}`: the name means the metric, never the column"
        )
    };
    let help = |c: &str| {
        format!(
            "to compare with the column, give it another name in segql.toml: `customer_{c} = \"{c}\"` under [customers.columns], then write `customer_{c}`"
        )
    };
    let found = warnings(dir.path(), &[], code);
    assert_eq!(
        found,
        vec![
            at(
                code,
                "segments/s.seg",
                1,
                31,
                "segql's metric, not the customers column",
                &message("recency")
            )
            .help(&help("recency")),
            // Not used anywhere: reported once, with no place.
            Warning {
                code: code.into(),
                message: message("tenure"),
                spans: vec![],
                help: Some(help("tenure")),
            },
        ]
    );
    // The help's advice works: renamed, the column is an attribute and the warning is gone.
    write(
        dir.path(),
        "segql.toml",
        format!("{PROJECT}\n[customers.columns]\ncustomer_recency = \"recency\"\n"),
    );
    let found = warnings(dir.path(), &[], code);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].message, message("tenure"));
    let o = segql_command()
        .args(["run", "-e", "customer_recency > 6", "--count"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "2",
        "{}",
        stderr(&o)
    );
}

#[test]
fn segments_never_used_are_reported_at_their_name() {
    let dir = project(&[
        (
            "segments/lib.seg",
            "segment used = frequency >= 1\nsegment spare = frequency >= 2\n",
        ),
        (
            "segments/main.seg",
            "import \"lib.seg\"\n\n\
             segment target = used and recency < 30d\n\
             segment lately(cat) = bought category cat\n\
             segment alone = frequency >= 3\n",
        ),
    ]);
    let code = "segql::lint::unused_segment";
    assert_eq!(
        warnings(dir.path(), &[], code),
        vec![
            at(
                code,
                "segments/lib.seg",
                2,
                9,
                "used nowhere",
                "segment `spare` is used by no segment, and its file is imported by `segments/main.seg`"
            )
            .help(
                "an imported file holds building blocks of other segments: refer to it from one, or remove it"
            ),
            at(
                code,
                "segments/main.seg",
                4,
                9,
                "never called",
                "segment `lately` takes parameters and no segment calls it"
            )
            .help(
                "a segment with parameters runs only when called, e.g. `lately(cat)`; call it from a segment, or remove it"
            ),
        ]
    );
    // Named on the command line, the library is still a library.
    let named = warnings(dir.path(), &["segments/main.seg"], code);
    assert_eq!(named.len(), 2, "{named:?}");
}

#[test]
fn parameters_the_body_never_uses_are_reported_at_their_name() {
    let dir = project(&[(
        "segments/params.seg",
        "segment lately(cat, days, extra) = bought category cat within days\n\
         segment caller = lately(\"Tea\", 30d, 1)\n",
    )]);
    let code = "segql::lint::unused_parameter";
    assert_eq!(
        warnings(dir.path(), &[], code),
        vec![
            at(
                code,
                "segments/params.seg",
                1,
                27,
                "unused",
                "parameter `extra` of `lately` is never used in its body"
            )
            .help("use it in the body, or remove it and its argument from every call of `lately`")
        ]
    );
}

#[test]
fn exit_codes_summary_and_the_files_linted_by_default() {
    // Hidden directories and `target` are not linted: their broken files would be errors.
    let dir = project(&[
        ("segments/ok.seg", "segment ok = recency < 30d\n"),
        (".cache/broken.seg", "segment broken = (\n"),
        ("target/broken.seg", "segment broken = (\n"),
    ]);
    let o = lint(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "no warnings\n");

    write(
        dir.path(),
        "segments/typo.seg",
        "segment typo = bought category \"Cofee\"\n",
    );
    let o = lint(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).ends_with("1 warning in 2 files"),
        "{}",
        stderr(&o)
    );
    let o = lint(dir.path(), &["--deny", "warnings"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // Machine formats have no summary line.
    let o = lint(dir.path(), &["--message-format", "github"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with(
            "::warning file=segments/typo.seg,line=1,endLine=1,col=32,endColumn=39,\
             title=segql%3A%3Alint%3A%3Aunknown_value::"
        ),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // A file that does not resolve is the error `segql check` gives, and nothing is linted.
    write(
        dir.path(),
        "segments/bad.seg",
        "segment bad = frequncy > 1\n",
    );
    let o = lint(dir.path(), &["--message-format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let codes: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| format!("{} {}", v["level"], v["code"]["code"]))
        .collect();
    assert_eq!(
        codes,
        vec!["\"error\" \"segql::resolve::unknown_name\"".to_string()]
    );
    let o = lint(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).ends_with("1 error in 3 files"), "{}", stderr(&o));
}

/// What people see: miette's report of every code, and the summary.
#[test]
fn every_lint_code_renders_for_people() {
    let dir = project(&[
        (
            "segments/lib.seg",
            "segment spare = frequency >= 2\nsegment lately(cat, extra) = bought category cat\n",
        ),
        (
            "segments/all.seg",
            "import \"lib.seg\"\n\n\
             segment typo = lately(\"Cofee\", 1) and recency < 30d and recency > 60d\n\
             segment long = monetary within 1y > 100\n\n\
             campaign promo = frequency >= 1 holdout 10%\n",
        ),
    ]);
    write(
        dir.path(),
        "customers.csv",
        "customer_id,city,recency\nc1,Kyiv,5\nc2,Lviv,7\nc3,Odesa,9\n",
    );
    let o = lint(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    insta::assert_snapshot!(
        "every_lint_code",
        String::from_utf8_lossy(&o.stderr).to_string()
    );
}
