//! `segql test`: assertions in `.segtest` files on fixture rows or the project's data, their
//! failures with each condition's value, their mistakes as diagnostics, exit codes, and the
//! example project's own tests.

use crate::common::{example_dir, fixture, segql_command, stdout};
use std::path::Path;
use std::process::Output;

/// A project of four customers whose settings differ from the defaults (new for 10 days, a
/// customers file with its own column names), with one segment file.
fn project(tests: &[(&str, &str)]) -> tempfile::TempDir {
    let mut files = vec![
        (
            "segql.toml",
            "[transactions]\npath = \"data/tx.csv\"\n\n\
             [customers]\npath = \"data/cust.csv\"\n\n\
             [customers.columns]\ncustomer_id = \"id\"\n\n\
             [lifecycle]\nnew_days = 10\n",
        ),
        (
            "data/tx.csv",
            "customer_id,ts,amount,receipt_id,category\n\
             a,2026-10-20,1500.00,r1,Fuel\n\
             b,2026-10-21,120.00,r2,Coffee\n\
             c,2026-06-01,2500.00,r3,Grocery\n\
             d,2026-10-25,1200.00,r4,Coffee\n",
        ),
        (
            "data/cust.csv",
            "id,city\na,Kyiv\nb,Lviv\nc,Kyiv\nd,Odesa\n",
        ),
        (
            "segments/main.seg",
            "segment valuable = monetary within 365d > 1000 and recency < 30d\n\
             segment coffee = bought category \"Coffee\" within 30d\n\
             segment fresh = lifecycle = new\n\
             segment kyiv_coffee = coffee and city = \"Kyiv\"\n",
        ),
    ];
    files.extend_from_slice(tests);
    fixture(&files)
}

fn segql_test(dir: &Path, args: &[&str]) -> Output {
    segql_command()
        .arg("test")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Standard error as printed.
fn rendered(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn the_example_projects_tests_pass() {
    let o = segql_test(&example_dir(), &[]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", rendered(&o));
    assert!(!out.contains("FAIL"), "{out}");
    assert!(out.contains("ok    tests/offers.segtest:"), "{out}");
    let summary = out.lines().last().unwrap();
    assert!(summary.starts_with("test result: ok. "), "{out}");
    assert!(summary.ends_with(" passed; 0 failed"), "{out}");
    // Every segment file of the example has a test file using it.
    for seg in ["lifecycle", "offers", "partners", "value"] {
        assert!(
            example_dir().join(format!("tests/{seg}.segtest")).is_file(),
            "{seg}"
        );
    }
}

#[test]
fn passing_and_failing_assertions_read_like_cargo_test() {
    let dir = project(&[(
        "tests/main.segtest",
        "# fixtures\n\
         use \"../segments/main.seg\"\n\
         as of 2026-10-31\n\
         \n\
         transactions:\n\
         customer_id,ts,amount,receipt_id,category\n\
         C1,2026-10-20,12.50,r1,Coffee\n\
         C2,2026-06-01,40.00,r2,Grocery\n\
         \n\
         customers:\n\
         customer_id,city\n\
         C1,Kyiv\n\
         C2,Lviv\n\
         \n\
         expect \"C1\" in coffee\n\
         expect \"C2\" in kyiv_coffee\n\
         expect count(coffee) = 2\n\
         expect count(coffee) between 1 and 3\n\
         expect \"C1\" not in coffee as of 2026-12-01\n\
         expect \"C9\" in coffee\n",
    )]);
    let o = segql_test(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", rendered(&o));
    assert_eq!(
        stdout(&o),
        "ok    tests/main.segtest:15 \"C1\" in coffee\n\
         FAIL  tests/main.segtest:16 \"C2\" in kyiv_coffee\n\
         FAIL  tests/main.segtest:17 count(coffee) = 2\n\
         ok    tests/main.segtest:18 count(coffee) between 1 and 3\n\
         ok    tests/main.segtest:19 \"C1\" not in coffee as of 2026-12-01\n\
         FAIL  tests/main.segtest:20 \"C9\" in coffee\n\
         \n\
         failures:\n\
         \n\
         ---- tests/main.segtest:16 \"C2\" in kyiv_coffee ----\n\
         \"C2\" is not in kyiv_coffee as of 2026-10-31; its conditions (all must hold):\n  \
         coffee: false (bought_category_coffee_30d = 0)\n  \
         city = \"Kyiv\": false (city = \"Lviv\")\n\
         \n\
         ---- tests/main.segtest:17 count(coffee) = 2 ----\n\
         count(coffee) is 1 as of 2026-10-31, expected = 2\n\
         \n\
         ---- tests/main.segtest:20 \"C9\" in coffee ----\n\
         \"C9\" is not in the customer base as of 2026-10-31: the id appears nowhere in the data\n\
         \n\
         test result: FAILED. 3 passed; 3 failed\n"
    );
    // People get the failures on standard output only.
    assert_eq!(rendered(&o), "");
}

#[test]
fn a_failure_lists_every_condition_with_the_values_it_reads() {
    let dir = project(&[(
        "tests/why.segtest",
        "use \"../segments/main.seg\"\n\
         as of 2026-10-31\n\
         transactions:\n\
         customer_id,ts,amount,category\n\
         V1,2026-01-10,600.00,Grocery\n\
         V1,2026-09-01,700.00,Coffee\n\
         \n\
         expect \"V1\" in valuable\n\
         expect \"V1\" not in monetary > 1000 or fresh\n",
    )]);
    let o = segql_test(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains(
            "\"V1\" is not in valuable as of 2026-10-31; its conditions (all must hold):\n  \
             monetary within 365d > 1000: true (monetary_365d = 1300.00)\n  \
             recency < 30d: false (recency = 60)\n"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "\"V1\" is in monetary > 1000 or fresh as of 2026-10-31; its conditions (one must hold):\n  \
             monetary > 1000: true (monetary = 1300.00)\n  \
             fresh: false (lifecycle = \"at_risk\")\n"
        ),
        "{out}"
    );
}

#[test]
fn a_customer_not_yet_in_the_base_is_told_apart_from_one_absent_from_the_data() {
    let dir = project(&[(
        "tests/base.segtest",
        "use \"../segments/main.seg\"\n\
         as of 2026-10-31\n\
         transactions:\n\
         customer_id,ts,amount\n\
         L1,2026-11-05,10.00\n\
         \n\
         expect \"L1\" in fresh\n\
         expect \"L1\" in fresh as of 2026-11-06\n",
    )]);
    let o = segql_test(dir.path(), &[]);
    let out = stdout(&o);
    assert!(
        out.contains(
            "\"L1\" is not in the customer base as of 2026-10-31: no purchase up to that date \
             and no customers row signed up by then"
        ),
        "{out}"
    );
    assert!(out.contains("ok    tests/base.segtest:8 "), "{out}");
}

#[test]
fn fixtures_replace_the_tables_and_keep_the_projects_settings() {
    let dir = project(&[
        // new_days = 10 from segql.toml: a first purchase 11 days ago is not new any more.
        // The project's customers file maps `id`; fixture rows use the canonical names.
        (
            "tests/fixtures.segtest",
            "use \"../segments/main.seg\"\n\
             as of 2026-10-31\n\
             transactions:\n\
             customer_id,ts,amount\n\
             F1,2026-10-22,10.00\n\
             F2,2026-10-20,10.00\n\
             \n\
             customers:\n\
             customer_id,city\n\
             F1,Kyiv\n\
             \n\
             expect \"F1\" in fresh\n\
             expect \"F2\" not in fresh\n\
             expect count(fresh) = 1\n\
             expect count(city = \"Kyiv\") = 1\n\
             expect \"a\" not in fresh\n",
        ),
        // Without fixtures: the project's data (a, b and d bought in October).
        (
            "tests/project.segtest",
            "use \"../segments/main.seg\"\n\
             expect count(fresh) = 3\n\
             expect \"c\" not in fresh\n\
             expect count(kyiv_coffee) = 0\n\
             expect \"d\" in coffee\n",
        ),
        // Customers alone: no purchases at all, so everyone is a prospect.
        (
            "tests/prospects.segtest",
            "as of 2026-10-31\n\
             customers:\n\
             customer_id,signup_date\n\
             P1,2026-01-01\n\
             P2,2026-12-01\n\
             \n\
             expect count(lifecycle = prospect) = 1\n\
             expect \"P1\" in frequency = 0\n",
        ),
    ]);
    let o = segql_test(dir.path(), &[]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", rendered(&o));
    assert!(
        out.ends_with("test result: ok. 11 passed; 0 failed\n"),
        "{out}"
    );
    // Files named on the command line run alone; --as-of is the date of files without one.
    let o = segql_test(
        dir.path(),
        &["tests/project.segtest", "--as-of", "2026-11-15"],
    );
    let out = stdout(&o);
    assert!(
        out.contains("count(fresh) is 0 as of 2026-11-15, expected = 3"),
        "{out}"
    );
}

#[test]
fn segments_may_be_calls_and_conditions() {
    let dir = project(&[
        (
            "segments/params.seg",
            "segment bought_lately(cat, days) = bought category cat within days\n",
        ),
        (
            "tests/calls.segtest",
            "use \"../segments/params.seg\"\n\
             use \"../segments/main.seg\"\n\
             as of 2026-10-31\n\
             expect count(bought_lately(\"Coffee\", 30d)) = 2\n\
             expect \"b\" in bought_lately(\"Coffee\", 30d) and city = \"Lviv\"\n\
             expect count((coffee or valuable) and not city = \"Odesa\") = 2\n",
        ),
    ]);
    let o = segql_test(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), rendered(&o));
}

/// The files of every mistake, one file per stage that finds them.
const BROKEN: [(&str, &str); 5] = [
    (
        "tests/a_syntax.segtest",
        "use \"../segments/main.seg\"\n\
         expects \"C1\" in coffee\n\
         as of 2026-02-30\n\
         transactions:\n\
         customer_id,ts,amont\n\
         C1,2026-10-01\n\
         \n\
         expect count(coffee) => 1\n",
    ),
    (
        "tests/b_use.segtest",
        "use \"../segments/nope.seg\"\nexpect count(coffee) = 1\n",
    ),
    (
        "tests/c_unknown.segtest",
        "use \"../segments/main.seg\"\nexpect \"a\" in cofee\n",
    ),
    (
        "tests/d_data.segtest",
        "customers:\ncustomer_id,city\nP1,Kyiv\n\nexpect count(coffee) = 0\n",
    ),
    (
        "tests/e_failed.segtest",
        "use \"../segments/main.seg\"\nexpect count(coffee) = 5\n",
    ),
];

#[test]
fn each_mistake_has_its_code_and_points_into_the_test_file() {
    let dir = project(&BROKEN);
    let o = segql_test(dir.path(), &["--message-format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let found: Vec<(String, String, u64, u64, u64)> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| {
            let s = &v["spans"][0];
            (
                v["code"]["code"].as_str().unwrap().to_string(),
                s["file_name"].as_str().unwrap().to_string(),
                s["line_start"].as_u64().unwrap(),
                s["column_start"].as_u64().unwrap(),
                s["column_end"].as_u64().unwrap(),
            )
        })
        .collect();
    let at = |code: &str, file: &str, line, col, end| {
        (
            code.to_string(),
            format!("tests/{file}.segtest"),
            line,
            col,
            end,
        )
    };
    assert_eq!(
        found,
        vec![
            at("segql::test::syntax", "a_syntax", 2, 1, 8),
            at("segql::test::bad_date", "a_syntax", 3, 7, 17),
            at("segql::test::bad_csv", "a_syntax", 5, 16, 21),
            at("segql::test::bad_csv", "a_syntax", 5, 1, 21),
            at("segql::test::bad_csv", "a_syntax", 6, 1, 14),
            at("segql::test::assertion", "a_syntax", 8, 22, 24),
            at("segql::test::use_file", "b_use", 1, 5, 27),
            at("segql::test::unknown_segment", "c_unknown", 2, 15, 20),
            at("segql::test::data", "d_data", 1, 1, 11),
            at("segql::test::failed", "e_failed", 2, 1, 25),
        ]
    );
    // Errors stop their file, not the run: the summary is on standard error beside JSON.
    assert!(
        rendered(&o).ends_with("test result: FAILED. 0 passed; 1 failed; 9 errors\n"),
        "{}",
        rendered(&o)
    );
    // "did you mean" is a suggested replacement of the misspelled name.
    let unknown: serde_json::Value = serde_json::from_str(
        stdout(&o)
            .lines()
            .find(|l| l.contains("unknown_segment"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        unknown["children"][0]["spans"][0]["suggested_replacement"],
        "coffee"
    );
}

#[test]
fn mistakes_render_with_their_code_and_line() {
    let dir = project(&BROKEN[..4]);
    let o = segql_test(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(1));
    insta::assert_snapshot!("segtest_mistakes", rendered(&o));
    // A failure for machines: its detail is the help.
    let dir = project(&BROKEN[4..]);
    let o = segql_test(dir.path(), &["--message-format", "json"]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    insta::assert_snapshot!("segtest_failed", v["rendered"].as_str().unwrap());
    // No test files at all.
    let dir = project(&[]);
    let o = segql_test(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(1));
    insta::assert_snapshot!("segtest_no_files", rendered(&o));
}

#[test]
fn github_annotates_the_failing_expect_line() {
    let dir = project(&[(
        "tests/main.segtest",
        "use \"../segments/main.seg\"\nas of 2026-10-31\nexpect \"c\" in coffee\n",
    )]);
    let o = segql_test(dir.path(), &["--message-format", "github"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        "::error file=tests/main.segtest,line=3,endLine=3,col=1,endColumn=21,\
         title=segql%3A%3Atest%3A%3Afailed::assertion failed: \"c\" in coffee%0Ahelp: \
         \"c\" is not in coffee as of 2026-10-31; its condition:%0A  \
         bought category \"Coffee\" within 30d: false (bought_category_coffee_30d = 0)\n"
    );
    // The cargo-like lines go to standard error beside machine output.
    assert!(rendered(&o).contains("FAIL  tests/main.segtest:3 \"c\" in coffee"));
}

#[test]
fn exit_codes_say_whether_everything_passed() {
    let pass = project(&[(
        "t/pass.segtest",
        "use \"../segments/main.seg\"\nexpect count(coffee) >= 1\n",
    )]);
    let o = segql_test(pass.path(), &["t/pass.segtest"]);
    assert_eq!(o.status.code(), Some(0), "{}", rendered(&o));
    assert_eq!(
        stdout(&o),
        "ok    t/pass.segtest:2 count(coffee) >= 1\n\ntest result: ok. 1 passed; 0 failed\n"
    );
    let o = segql_test(pass.path(), &["t/missing.segtest"]);
    assert_eq!(o.status.code(), Some(1));
    let o = segql_test(pass.path(), &["--message-format", "yaml"]);
    assert_eq!(o.status.code(), Some(2));
}
