//! Segment files as code: machine-readable diagnostics, `fmt`, `diff`, `lint`, `test`,
//! completions and the man page.

use crate::common::{example_dir, fixture, segql_command, stdout};

/// A file with one unknown category and one call with a wrong argument, in the example
/// project's terms.
const BROKEN: &str = "segment a = lifecycle = new and bought category \"Coffee\" within 30d\n\
segment b(days) = recency < days\n\
segment c = b(\"soon\") and a\n\
segment d = unknown_one\n";

#[test]
fn check_writes_json_github_and_sarif() {
    let dir = fixture(&[("segments/broken.seg", BROKEN)]);
    let run = |format: &str| {
        segql_command()
            .args(["check", "segments/broken.seg", "--project"])
            .arg(example_dir())
            .args(["--message-format", format])
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let json = run("json");
    assert_eq!(json.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = stdout(&json)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<(String, u64, u64, String)> = lines
        .iter()
        .map(|v| {
            let span = &v["spans"][0];
            (
                v["code"]["code"].as_str().unwrap().to_string(),
                span["line_start"].as_u64().unwrap(),
                span["column_start"].as_u64().unwrap(),
                span["file_name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "segql::types::argument".into(),
                3,
                15,
                "segments/broken.seg".into()
            ),
            (
                "segql::resolve::unknown_name".into(),
                4,
                13,
                "segments/broken.seg".into()
            ),
        ]
    );
    // "did you mean" becomes a suggested replacement.
    let child = &lines[1]["children"][0];
    assert_eq!(child["level"], "help");

    let github = stdout(&run("github"));
    assert_eq!(
        github.lines().next().unwrap(),
        "::error file=segments/broken.seg,line=3,endLine=3,col=15,endColumn=21,\
         title=segql%3A%3Atypes%3A%3Aargument::argument `days` of `b` must be a duration like \
         30d, found a text value%0Ahelp: `days` is used as a duration like 30d in `b`"
    );

    let sarif: serde_json::Value = serde_json::from_str(&stdout(&run("sarif"))).unwrap();
    segql::diagnostics::sarif_required_fields_present(&sarif).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 2);
    assert_eq!(
        sarif["runs"][0]["results"][1]["ruleId"],
        "segql::resolve::unknown_name"
    );
}

#[test]
fn a_clean_check_writes_no_machine_output() {
    let o = segql_command()
        .args([
            "check",
            "segments/lifecycle.seg",
            "--message-format",
            "json",
        ])
        .current_dir(example_dir())
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(stdout(&o), "");
}

/// A project of four customers in a fresh git repository, its segment file committed.
fn repo_project() -> tempfile::TempDir {
    let dir = fixture(&[
        (
            "segql.toml",
            "[transactions]\npath = \"transactions.csv\"\n",
        ),
        (
            "transactions.csv",
            "customer_id,ts,amount,receipt_id,partner,category\n\
             a,2026-10-20,1500.00,r1,OKKO,Fuel\n\
             b,2026-10-21,120.00,r2,Silpo,Coffee\n\
             c,2026-06-01,2500.00,r3,Silpo,Grocery\n\
             d,2026-10-25,1200.00,r4,OKKO,Coffee\n",
        ),
        (
            "segments/main.seg",
            "# Valuable and recent.\nsegment valuable = monetary within 365d > 1000 and recency < 30d\n\n\
             segment coffee = bought category \"Coffee\" within 30d\n",
        ),
    ]);
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "segments"]);
    dir
}

fn diff(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    segql_command()
        .arg("diff")
        .args(["--as-of", "2026-10-31"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn diff_of_revisions_counts_who_moved_and_why() {
    let dir = repo_project();
    // A real change to one segment, layout and comments only in the other.
    crate::common::write(
        dir.path(),
        "segments/main.seg",
        "segment valuable = monetary within 365d > 1000 and recency < 30d and bought category \"Coffee\"\n\
         segment coffee =\n    # any coffee\n    bought category \"Coffee\"   within 30d\n",
    );
    let o = diff(dir.path(), &["--format", "csv"]);
    assert!(o.status.success(), "{}", crate::common::stderr(&o));
    assert_eq!(
        stdout(&o),
        "segment,change,before,after,entered,left,stayed\n\
         valuable,changed,2,1,0,1,1\n\
         coffee,layout only,,,,,\n"
    );
    let o = diff(dir.path(), &["--members", "--format", "csv"]);
    assert_eq!(
        stdout(&o),
        "segment,customer_id,moved,why\n\
         valuable,a,left,\"bought category \"\"Coffee\"\": absent -> false\"\n"
    );
    // Markdown for a pull-request comment.
    let o = diff(dir.path(), &["--format", "markdown"]);
    assert!(stdout(&o).starts_with(
        "### Segment changes: `HEAD` against the working tree, as of 2026-10-31\n\n| segment |"
    ));
}

#[test]
fn diff_of_dates_names_the_condition_that_changed() {
    let dir = repo_project();
    let o = diff(
        dir.path(),
        &[
            "--from",
            "2026-10-22",
            "--to",
            "2026-10-31",
            "--members",
            "--format",
            "csv",
            "-s",
            "coffee",
        ],
    );
    assert!(o.status.success(), "{}", crate::common::stderr(&o));
    // d bought coffee on 10-25: not yet on the 22nd.
    assert_eq!(
        stdout(&o),
        "segment,customer_id,moved,why\n\
         coffee,d,entered,\"bought category \"\"Coffee\"\" within 30d: false -> true\"\n"
    );
}

#[test]
fn diff_with_an_unknown_revision_is_an_error() {
    let dir = repo_project();
    let o = diff(dir.path(), &["--base", "no-such-branch"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        crate::common::stderr(&o).contains("no-such-branch"),
        "{}",
        crate::common::stderr(&o)
    );
}

/// The subcommands users see (not the hidden completion helper).
fn subcommands() -> Vec<String> {
    use clap::CommandFactory;
    segql::cli::Cli::command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| c.get_name().to_string())
        .collect()
}

#[test]
fn completions_and_the_man_page_list_every_subcommand() {
    use clap::CommandFactory;
    let names = subcommands();
    assert!(
        names.contains(&"diff".to_string()) && names.len() >= 17,
        "{names:?}"
    );
    // How each shell's script offers a subcommand.
    let offered = |shell: &str, n: &str| match shell {
        "bash" => format!("segql,{n})"),
        "zsh" => format!("'{n}:"),
        "fish" => format!("-a \"{n}\""),
        _ => format!("[CompletionResult]::new('{n}'"),
    };
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let o = segql_command()
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(o.status.success());
        let script = stdout(&o);
        for n in &names {
            assert!(
                script.contains(&offered(shell, n)),
                "{shell} completion lacks `{n}`"
            );
        }
        // The hidden helper is no candidate; segment names come from it.
        assert!(!script.contains(&offered(shell, "__segments")), "{shell}");
        if shell != "powershell" {
            assert!(
                script.contains("segql __segments"),
                "{shell}: no segment names"
            );
        }
    }
    let man = |args: &[&str]| {
        let o = segql_command().arg("man").args(args).output().unwrap();
        assert!(o.status.success());
        stdout(&o).replace("\\-", "-")
    };
    let main = man(&[]);
    assert!(main.starts_with(".ie"), "{main}");
    let cli = segql::cli::Cli::command();
    for n in &names {
        assert!(main.contains(&format!("segql-{n}(1)")), "man lacks `{n}`");
        // Each subcommand's page has every option of the subcommand.
        let page = man(&[n]);
        assert!(page.contains(&format!(".TH segql-{n} 1")), "{page}");
        let sub = cli.find_subcommand(n).unwrap();
        for arg in sub.get_arguments().filter_map(|a| a.get_long()) {
            assert!(
                page.contains(&format!("--{arg}")),
                "segql-{n}(1) lacks --{arg}"
            );
        }
    }
}

#[test]
fn segment_names_complete_from_the_project() {
    let o = segql_command()
        .arg("__segments")
        .current_dir(example_dir())
        .output()
        .unwrap();
    let names = stdout(&o);
    for n in ["at_risk", "autumn_bonus", "lapsed_valuable", "newcomers"] {
        assert!(names.lines().any(|l| l == n), "{names}");
    }
}

/// The catalog of a small project with the customer attributes the random segments use.
fn generator_catalog() -> (tempfile::TempDir, segql_compiler::Catalog) {
    let dir = fixture(&[
        (
            "transactions.csv",
            "customer_id,ts,amount,receipt_id,partner,category,product,store\n\
             c01,2026-10-20,10.00,r1,OKKO,Coffee,LATTE,s1\n",
        ),
        (
            "customers.csv",
            "customer_id,city,age,signup_date,birthday\nc01,Kyiv,30,2025-01-01,1990-05-05\n",
        ),
        (
            "communications.csv",
            "customer_id,ts,channel\nc01,2026-10-01,sms\n",
        ),
    ]);
    let p = |f: &str| dir.path().join(f).display().to_string();
    let project = segql_runtime::Project::from_paths(
        &p("transactions.csv"),
        Some(&p("customers.csv")),
        Some(&p("communications.csv")),
        None,
    );
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
    let catalog = crate::common::block_on(segql_runtime::Engine::for_compiling(project, as_of))
        .unwrap()
        .catalog;
    (dir, catalog)
}

/// Every segment of a file, resolved: name and IR (as text).
fn resolved(catalog: &segql_compiler::Catalog, text: &str) -> Vec<(String, String)> {
    let mut program = segql_compiler::Program::new(None);
    program.load_text("case.seg", text).unwrap();
    program
        .names()
        .map(|n| {
            let s = segql_compiler::resolve_segment(&program, catalog, n);
            (
                n.to_string(),
                format!("{:?}", s.map(|s| (s.pred, s.campaign)).ok()),
            )
        })
        .collect()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Formatting keeps the meaning: the same typed IR before and after, for random
    /// segments; and formatting twice changes nothing.
    #[test]
    fn formatting_keeps_the_typed_ir(
        e in crate::reference::expr(true),
        long in proptest::bool::ANY,
    ) {
        let (_dir, catalog) = generator_catalog();
        let desc = if long { " \"a description long enough to push the body past the line width\"" } else { "" };
        let text = format!("# a comment\nsegment s{desc} = {e} # trailing\nsegment t = s or recency < 7d\n");
        let formatted = segql_grammar::fmt::format_file("case.seg", &text).unwrap();
        proptest::prop_assert_eq!(resolved(&catalog, &text), resolved(&catalog, &formatted));
        let again = segql_grammar::fmt::format_file("case.seg", &formatted).unwrap();
        proptest::prop_assert_eq!(&again, &formatted);
        proptest::prop_assert_eq!(formatted.matches('#').count(), text.matches('#').count());
    }
}

/// Every segment file of the repository is formatted, and formatting keeps each segment's IR.
#[test]
fn every_segment_file_is_formatted_and_keeps_its_meaning() {
    let catalog = crate::diagnostics::example_catalog();
    let mut files = crate::common::files_matching("examples/**/*.seg");
    files.extend(crate::common::files_matching("bench/**/*.seg"));
    files.extend(crate::common::files_matching("fuzz/seeds/*.seg"));
    assert!(files.len() >= 10);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let formatted = segql_grammar::fmt::format_file("x.seg", &text).unwrap();
        assert_eq!(
            formatted,
            text,
            "{} is not formatted (segql fmt)",
            f.display()
        );
    }
    // The example project's files, formatted into a copy, resolve to the same IR.
    let dir = tempfile::tempdir().unwrap();
    let seg_dir = example_dir().join("segments");
    let mut before = segql_compiler::Program::new(None);
    let mut after = segql_compiler::Program::new(None);
    for f in std::fs::read_dir(&seg_dir).unwrap().flatten() {
        let text = std::fs::read_to_string(f.path()).unwrap();
        let shuffled = text.replace("    ", "  ").replace(" = ", "   =   ");
        crate::common::write(
            dir.path(),
            &f.file_name().to_string_lossy(),
            segql_grammar::fmt::format_file("x.seg", &shuffled).unwrap(),
        );
    }
    for f in std::fs::read_dir(&seg_dir).unwrap().flatten() {
        before.load_file(&f.path()).unwrap();
        after.load_file(&dir.path().join(f.file_name())).unwrap();
    }
    for n in before.names() {
        let a = segql_compiler::resolve_segment(&before, &catalog, n)
            .map(|s| format!("{:?}", (s.pred, s.campaign)));
        let b = segql_compiler::resolve_segment(&after, &catalog, n)
            .map(|s| format!("{:?}", (s.pred, s.campaign)));
        assert_eq!(a.ok(), b.ok(), "{n}");
    }
}

/// The example project's CI workflow runs: each `segql` command in it succeeds on the example
/// project (the base branch read as `HEAD`, outputs written to a temporary directory).
#[test]
fn the_example_ci_workflow_passes_on_the_example_project() {
    let workflow =
        std::fs::read_to_string(example_dir().join(".github/workflows/segments.yml")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut ran = Vec::new();
    for line in workflow.lines() {
        let line = line.trim().trim_start_matches("run:").trim();
        let Some(command) = line.strip_prefix("segql ") else {
            continue;
        };
        let command = command.replace("\"origin/${{ github.base_ref }}\"", "HEAD");
        let mut args: Vec<String> = Vec::new();
        for word in command.split_whitespace() {
            if word == ">" || word == "||" || word == "\\" {
                break;
            }
            args.push(word.to_string());
        }
        if let Some(i) = args.iter().position(|a| a == "--output") {
            args[i + 1] = out.path().join(&args[i + 1]).display().to_string();
        }
        // The repository may belong to another user than the one running the tests (a CI
        // checkout): git reads it anyway.
        let o = segql_command()
            .args(&args)
            .current_dir(example_dir())
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "safe.directory")
            .env("GIT_CONFIG_VALUE_0", "*")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "segql {}: {}{}",
            args.join(" "),
            stdout(&o),
            crate::common::stderr(&o)
        );
        ran.push(args[0].clone());
    }
    ran.sort();
    ran.dedup();
    assert_eq!(ran, ["check", "diff", "fmt", "lint", "test"]);
}

#[test]
fn fmt_check_changes_nothing_and_fmt_keeps_line_ends_and_the_byte_order_mark() {
    let dir = fixture(&[
        (
            "a.seg",
            "\u{feff}# keep me\r\nsegment a =   recency < 30d   # and me\r\n",
        ),
        ("b.seg", "segment b =\n    recency < 30d\n"),
        ("broken.seg", "segment c = recency <\n"),
    ]);
    let run = |args: &[&str]| {
        segql_command()
            .arg("fmt")
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let before = std::fs::read(dir.path().join("a.seg")).unwrap();
    let o = run(&["--check", "a.seg", "b.seg"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("-segment a =   recency < 30d   # and me\r\n+segment a =\r\n"),
        "{}",
        stdout(&o)
    );
    assert!(crate::common::stderr(&o).contains("1 file would be reformatted: a.seg"));
    assert_eq!(std::fs::read(dir.path().join("a.seg")).unwrap(), before);
    let o = run(&["a.seg", "b.seg"]);
    assert!(o.status.success());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.seg")).unwrap(),
        "\u{feff}# keep me\r\nsegment a =\r\n    recency < 30d  # and me\r\n"
    );
    assert!(run(&["--check", "a.seg", "b.seg"]).status.success());
    // A file that does not parse is its parse error, and stays as it was.
    let o = run(&["broken.seg"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(crate::common::stderr(&o).contains("segql::parse::syntax"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("broken.seg")).unwrap(),
        "segment c = recency <\n"
    );
}

#[test]
fn diff_reports_the_segments_of_a_removed_file_and_base_errors_without_temporary_paths() {
    let dir = repo_project();
    std::fs::remove_file(dir.path().join("segments/main.seg")).unwrap();
    crate::common::write(
        dir.path(),
        "segments/new.seg",
        "segment fresh = recency < 3d\n",
    );
    let o = diff(dir.path(), &["--format", "csv"]);
    assert!(o.status.success(), "{}", crate::common::stderr(&o));
    assert_eq!(
        stdout(&o),
        "segment,change,before,after,entered,left,stayed\n\
         fresh,added,0,0,0,0,0\n\
         valuable,removed,2,0,0,2,0\n\
         coffee,removed,2,0,0,2,0\n"
    );
    // A base revision whose files do not load: said of that revision, no temporary path.
    crate::common::write(
        dir.path(),
        "segments/main.seg",
        "segment valuable = recency <\n",
    );
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    git(&["add", "-A"]);
    git(&["commit", "-qm", "broken"]);
    crate::common::write(
        dir.path(),
        "segments/main.seg",
        "segment valuable = recency < 30d\n",
    );
    let o = diff(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = crate::common::stderr(&o);
    assert!(
        err.contains("the segment files at `HEAD`: syntax error"),
        "{err}"
    );
    assert!(!err.contains("/tmp"), "{err}");
}

#[test]
fn fmt_check_points_at_the_first_line_that_differs() {
    let dir = fixture(&[(
        "crlf.seg",
        "# Київ\r\n# Київ\r\n# Київ\r\nsegment a =   recency < 30d\r\n",
    )]);
    let o = segql_command()
        .args(["fmt", "--check", "crlf.seg", "--message-format", "json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(v["code"]["code"], "segql::fmt::unformatted");
    let span = &v["spans"][0];
    assert_eq!(
        (span["line_start"].as_u64(), span["column_start"].as_u64()),
        (Some(4), Some(1))
    );
    assert_eq!(span["column_end"].as_u64(), Some(28));
    assert!(
        v["children"][0]["message"]
            .as_str()
            .unwrap()
            .contains("+segment a =\r\n")
    );
}

#[test]
fn a_segment_test_reads_no_file_outside_the_project() {
    let outside = fixture(&[("secret.seg", "segment s = city = \"SECRET-VALUE\" and\n")]);
    let secret = outside.path().join("secret.seg").display().to_string();
    let dir = fixture(&[
        ("segql.toml", "[transactions]\npath = \"t.csv\"\n"),
        ("t.csv", "customer_id,ts,amount\na,2026-10-01,1.00\n"),
        (
            "tests/t.segtest",
            &format!("use \"{secret}\"\nexpect count(s) = 0\n"),
        ),
    ]);
    let o = segql_command()
        .arg("test")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = crate::common::stderr(&o) + &stdout(&o);
    assert!(err.contains("segql::test::use_file"), "{err}");
    assert!(err.contains("outside the project"), "{err}");
    assert!(!err.contains("SECRET-VALUE"), "{err}");
}

#[test]
fn diff_counts_a_campaign_capped_by_its_limit() {
    let dir = repo_project();
    crate::common::write(
        dir.path(),
        "segments/main.seg",
        "campaign best = monetary within 365d > 0 limit 3 by monetary within 365d desc\n",
    );
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    git(&["add", "-A"]);
    git(&["commit", "-qm", "campaign"]);
    crate::common::write(
        dir.path(),
        "segments/main.seg",
        "campaign best = monetary within 365d > 0 limit 1 by monetary within 365d desc\n",
    );
    let o = diff(dir.path(), &["--members", "--format", "csv"]);
    assert!(o.status.success(), "{}", crate::common::stderr(&o));
    // c (2,500) stays; a (1,500) and d (1,200) leave; b (120) was never in the top 3.
    assert_eq!(
        stdout(&o),
        "segment,customer_id,moved,why\nbest,a,left,\nbest,d,left,\n"
    );
}

#[test]
fn a_misspelt_value_comes_with_a_suggested_replacement() {
    let dir = fixture(&[
        ("segql.toml", "[transactions]\npath = \"t.csv\"\n"),
        (
            "t.csv",
            "customer_id,ts,amount,receipt_id,partner,category\na,2026-10-01,1.00,r1,OKKO,Coffee\n",
        ),
        (
            "s.seg",
            "segment typo = bought category \"Cofee\" within 30d\n",
        ),
    ]);
    let o = segql_command()
        .args(["lint", "s.seg", "--message-format", "json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(v["code"]["code"], "segql::lint::unknown_value");
    assert_eq!(v["level"], "warning");
    let fix = &v["children"][0]["spans"][0];
    assert_eq!(fix["suggested_replacement"], "\"Coffee\"");
    assert_eq!(
        (fix["byte_start"].as_u64(), fix["byte_end"].as_u64()),
        (Some(31), Some(38))
    );
}

/// In bash, `--segment` completes with the project's segment names and a subcommand with its
/// name: the generated script, sourced and driven as bash drives it.
#[test]
fn bash_completes_segment_names_after_segment() {
    let script = stdout(
        &segql_command()
            .args(["completions", "bash"])
            .output()
            .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    crate::common::write(dir.path(), "segql.bash", &script);
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_segql"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let drive = |words: &str, cword: usize| {
        let o = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; \
                 _segql_with_segments segql \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
                 printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                dir.path().join("segql.bash").display()
            ))
            .env("PATH", &path)
            .current_dir(example_dir())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", crate::common::stderr(&o));
        stdout(&o)
    };
    assert_eq!(
        drive("segql run --segment lapsed_v", 3),
        "lapsed_valuable\n"
    );
    assert_eq!(
        drive("segql run -s autumn_", 3),
        "autumn_bonus\nautumn_no_show\nautumn_responders\n"
    );
    assert_eq!(drive("segql dif", 1), "diff\n");
}

#[test]
fn lint_refuses_an_unknown_allow_and_says_what_a_contradiction_under_not_means() {
    let dir = fixture(&[
        ("segql.toml", "[transactions]\npath = \"t.csv\"\n"),
        ("t.csv", "customer_id,ts,amount\na,2026-10-01,1.00\n"),
        (
            "s.seg",
            "segment everyone = not (recency < 30d and recency > 60d)\n",
        ),
    ]);
    let lint = |args: &[&str]| {
        segql_command()
            .arg("lint")
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let o = lint(&["s.seg", "--allow", "unused_segments"]);
    assert_eq!(o.status.code(), Some(1));
    let err = crate::common::stderr(&o);
    assert!(
        err.contains("--allow unused_segments: no such lint"),
        "{err}"
    );
    assert!(err.contains("unused_segment, unused_parameter"), "{err}");
    let o = lint(&["s.seg", "--message-format", "json"]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(v["code"]["code"], "segql::lint::never_true");
    let help = v["children"][0]["message"].as_str().unwrap();
    assert!(
        help.contains("under its `not`, that part holds for every customer"),
        "{help}"
    );
}
