//! The interactive REPL: type a condition, get members, shares, revenue and a preview at once.
//!
//! [`Session`] holds the engine, the segments defined so far and the cached profile, and
//! handles one complete input at a time (so tests can drive it without a terminal);
//! [`run`] wraps it in a rustyline editor with history, completion, highlighting and
//! multi-line input.

use miette::Report;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::{Hinter, HistoryHinter};
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Editor, Helper};
use segql_compiler::ir::{MetricKind, Pred, Stage};
use segql_compiler::{Program, resolve_expr};
use segql_grammar::ast::Expr;
use segql_runtime::cache::{Answer, CustomerCache};
use segql_runtime::datafusion::arrow::util::pretty::pretty_format_batches;
use segql_runtime::{Engine, EngineOptions, Project, RuntimeError};
use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const KEYWORDS: [&str; 18] = [
    "and", "or", "not", "in", "between", "within", "bought", "spend", "on", "at", "least", "times",
    "segment", "category", "product", "partner", "store", "of",
];

const COMMANDS: [(&str, &str); 14] = [
    (":help", "this list"),
    (":schema", "the columns segments can use"),
    (":segments", "the segments defined so far"),
    (":load FILE", "load the segments of a .seg file"),
    (
        ":save NAME [FILE]",
        "append the last expression as `segment NAME` to FILE (saved.seg)",
    ),
    (":explain", "the optimized plan of the last expression"),
    (
        ":as-of DATE",
        "evaluate as of another date (rebuilds the profile)",
    ),
    (":show N", "preview N rows of each answer"),
    (
        ":export PATH",
        "write the last expression's members to PATH (.csv, .json, .parquet, .xlsx, .txt)",
    ),
    (":timing", "show how long each answer took"),
    (
        ":profile [NAME...]",
        "segments (or the last expression) side by side with the base",
    ),
    (
        ":transitions BY FROM TO [PARTNER]",
        "who became whom: BY = lifecycle, rfm_segment or abc",
    ),
    (
        ":flows EVERY FROM TO [PARTNER]",
        "customers in and out per month or quarter",
    ),
    (":quit", "leave (or Ctrl-D)"),
];

/// What the loop should do after an input.
#[derive(Debug, PartialEq, Eq)]
pub enum Control {
    /// Read the next input.
    Continue,
    /// Leave the REPL.
    Quit,
}

/// Words offered by completion; shared with the editor's helper.
#[derive(Debug, Default, Clone)]
pub struct Words {
    /// Metric, keyword, attribute and segment names.
    pub names: Vec<String>,
    /// Text attributes and dimensions with their distinct values.
    pub values: Vec<(String, Vec<String>)>,
}

/// One interactive session over a project.
pub struct Session {
    project: Project,
    options: EngineOptions,
    engine: Engine,
    program: Program,
    cache: CustomerCache,
    last: Option<(String, Expr, Pred)>,
    show: usize,
    timing: bool,
    words: Arc<Mutex<Words>>,
    inputs: usize,
    /// The directory imports are confined to (the project's), when there is one.
    root: Option<PathBuf>,
}

fn render(e: impl Into<Report>) -> String {
    format!("{:?}", e.into())
}

impl Session {
    /// Opens the project and builds the profile. Prints progress to `log` when it takes a
    /// while.
    pub async fn open(
        project: Project,
        options: EngineOptions,
        files: &[PathBuf],
        root: Option<&Path>,
        log: &mut dyn Write,
    ) -> Result<Session, Report> {
        let mut program = Program::new(root);
        for f in files {
            program.load_file(f)?;
        }
        let engine = Engine::open(project.clone(), options.clone(), true).await?;
        let cache = build_cache(&engine, log).await?;
        let s = Session {
            project,
            options,
            engine,
            program,
            cache,
            last: None,
            show: 5,
            timing: false,
            words: Arc::new(Mutex::new(Words::default())),
            inputs: 0,
            root: root.map(Path::to_path_buf),
        };
        s.refresh_words();
        Ok(s)
    }

    /// The completion words, shared with the editor.
    pub fn words(&self) -> Arc<Mutex<Words>> {
        self.words.clone()
    }

    fn refresh_words(&self) {
        let mut names: Vec<String> = KEYWORDS.iter().map(|s| s.to_string()).collect();
        names.extend(MetricKind::NAMED.iter().map(|(n, _)| n.to_string()));
        names.push("lifecycle".into());
        names.extend(self.engine.catalog.attributes().into_iter().map(|(n, _)| n));
        names.extend(self.program.names().map(str::to_string));
        names.sort();
        names.dedup();
        let mut w = self.words.lock().expect("words lock");
        w.names = names;
        w.values = self.cache.values.clone();
    }

    /// Handles one complete input (an expression, a definition or a `:command`), writing the
    /// answer or the diagnostic to `out`.
    pub async fn handle(&mut self, input: &str, out: &mut dyn Write) -> std::io::Result<Control> {
        let input = input.trim();
        if input.is_empty() {
            return Ok(Control::Continue);
        }
        self.inputs += 1;
        if let Some(cmd) = input.strip_prefix(':') {
            return self.command(cmd, out).await;
        }
        if input.starts_with("segment ")
            || input.starts_with("import ")
            || input.starts_with("campaign ")
        {
            let name = format!("input {}", self.inputs);
            match self.program.define(&name, input) {
                Ok(names) => {
                    self.refresh_words();
                    writeln!(out, "defined {}", names.join(", "))?;
                }
                Err(e) => writeln!(out, "{}", render(e))?,
            }
            return Ok(Control::Continue);
        }
        let name = format!("input {}", self.inputs);
        let parsed = self
            .program
            .parse_inline(&name, input)
            .and_then(|(ast, src)| {
                resolve_expr(&self.program, &self.engine.catalog, &ast, src).map(|p| (ast, p))
            });
        let (ast, pred) = match parsed {
            Ok(x) => x,
            Err(e) => {
                writeln!(out, "{}", render(e))?;
                return Ok(Control::Continue);
            }
        };
        match segql_runtime::literals::unmatched_with(&self.engine, &[&pred], &self.cache.values)
            .await
        {
            Ok(found) => {
                for u in found {
                    writeln!(out, "warning: {u}")?;
                }
            }
            Err(e) => writeln!(out, "{}", render(e))?,
        }
        match self.cache.answer(&self.engine, &pred, self.show).await {
            Ok(a) => self.print_answer(&a, out)?,
            Err(e) => writeln!(out, "{}", render(e))?,
        }
        self.last = Some((input.to_string(), ast, pred));
        Ok(Control::Continue)
    }

    /// The answer to an expression without printing (for tests and benchmarks).
    pub async fn answer(&mut self, text: &str) -> Result<Answer, Report> {
        let (ast, src) = self.program.parse_inline("expression", text)?;
        let pred = resolve_expr(&self.program, &self.engine.catalog, &ast, src)?;
        Ok(self.cache.answer(&self.engine, &pred, self.show).await?)
    }

    fn print_answer(&self, a: &Answer, out: &mut dyn Write) -> std::io::Result<()> {
        let base = self.cache.totals;
        let share = |x: f64, of: f64| if of == 0.0 { 0.0 } else { 100.0 * x / of };
        let t = a.totals;
        let n = |x: String| segql_runtime::output::thousands(&x);
        writeln!(
            out,
            "{} members ({:.1}% of {} customers), revenue {} ({:.1}% of {}), avg check {}",
            n(t.customers.to_string()),
            share(t.customers as f64, base.customers as f64),
            n(base.customers.to_string()),
            n(format!("{:.2}", t.revenue)),
            share(t.revenue, base.revenue),
            n(format!("{:.2}", base.revenue)),
            if t.purchases > 0 {
                n(format!("{:.2}", t.revenue / t.purchases as f64))
            } else {
                "-".into()
            }
        )?;
        if !a.preview.is_empty() && a.preview.iter().any(|b| b.num_rows() > 0) {
            match people_table(&a.preview) {
                Ok(table) => writeln!(out, "{table}")?,
                Err(e) => writeln!(out, "(cannot show rows: {e})")?,
            }
        }
        if self.timing {
            writeln!(
                out,
                "time: {:.1} ms ({})",
                a.elapsed.as_secs_f64() * 1000.0,
                if a.from_cache {
                    "from the cached profile"
                } else {
                    "scanned transactions"
                }
            )?;
        }
        Ok(())
    }

    async fn command(&mut self, cmd: &str, out: &mut dyn Write) -> std::io::Result<Control> {
        let mut parts = cmd.split_whitespace();
        let name = parts.next().unwrap_or("");
        let args: Vec<&str> = parts.collect();
        match name {
            "q" | "quit" | "exit" => return Ok(Control::Quit),
            "help" | "h" | "?" => {
                writeln!(
                    out,
                    "Type a condition, e.g. recency < 30d and bought category \"Coffee\" within 60d"
                )?;
                writeln!(
                    out,
                    "or define a segment: segment NAME = CONDITION. Commands:"
                )?;
                for (c, what) in COMMANDS {
                    writeln!(out, "  {c:<20} {what}")?;
                }
            }
            "schema" => self.schema(out)?,
            "segments" => {
                if self.program.segments.is_empty() {
                    writeln!(out, "no segments defined yet")?;
                }
                for s in &self.program.segments {
                    let src = &self.program.sources[s.source].name;
                    let desc = s.def.description.as_deref().unwrap_or("");
                    writeln!(out, "  {:<24} {desc:<50} ({src})", s.def.name.name)?;
                }
            }
            "load" => match args.first() {
                None => writeln!(out, "usage: :load FILE.seg")?,
                Some(f) => match self.program.load_file(Path::new(f)) {
                    Ok(()) => {
                        self.refresh_words();
                        writeln!(
                            out,
                            "loaded {f}; {} segments defined",
                            self.program.segments.len()
                        )?;
                    }
                    Err(e) => writeln!(out, "{}", render(e))?,
                },
            },
            "save" => self.save(&args, out)?,
            "explain" => match &self.last {
                None => writeln!(out, "nothing to explain yet: type a condition first")?,
                Some((_, _, pred)) => {
                    let plan = self
                        .cache
                        .profile_for(&self.engine, pred)
                        .and_then(|(p, _)| {
                            p.members(pred)
                                .and_then(|q| q.sorted())
                                .map_err(|e| RuntimeError::data("planning", e))
                        })
                        .and_then(|plan| self.engine.optimize(&plan));
                    match plan {
                        Ok(p) => writeln!(out, "{}", p.display_indent())?,
                        Err(e) => writeln!(out, "{}", render(e))?,
                    }
                }
            },
            "as-of" | "asof" => match args
                .first()
                .map(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d"))
            {
                Some(Ok(d)) => {
                    self.options.as_of = Some(d);
                    let r = async {
                        let engine =
                            Engine::open(self.project.clone(), self.options.clone(), true).await?;
                        let cache = build_cache(&engine, out).await?;
                        Ok::<_, Report>((engine, cache))
                    }
                    .await;
                    match r {
                        Ok((engine, cache)) => {
                            self.engine = engine;
                            self.cache = cache;
                            self.refresh_words();
                            writeln!(out, "as of {d}: {} customers", self.cache.totals.customers)?;
                        }
                        Err(e) => writeln!(out, "{e:?}")?,
                    }
                }
                _ => writeln!(
                    out,
                    "usage: :as-of YYYY-MM-DD (now {})",
                    self.engine.catalog.as_of
                )?,
            },
            "show" => match args.first().and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => {
                    self.show = n;
                    writeln!(out, "showing {n} rows")?;
                }
                None => writeln!(out, "usage: :show N (now {})", self.show)?,
            },
            "timing" => {
                self.timing = !self.timing;
                writeln!(out, "timing {}", if self.timing { "on" } else { "off" })?;
            }
            "export" => self.export(&args, out).await?,
            "profile" => self.profile(&args, out).await?,
            "transitions" | "flows" => self.report(name, &args, out).await?,
            other => writeln!(out, "unknown command :{other}; :help lists the commands")?,
        }
        Ok(Control::Continue)
    }

    async fn profile(&mut self, args: &[&str], out: &mut dyn Write) -> std::io::Result<()> {
        let segments: Result<Vec<segql_compiler::ir::Segment>, Report> = if args.is_empty() {
            match &self.last {
                None => {
                    return writeln!(out, "usage: :profile NAME... (or type a condition first)");
                }
                Some((_, _, pred)) => Ok(vec![segql_compiler::ir::Segment {
                    name: "expression".into(),
                    description: None,
                    pred: pred.clone(),
                    campaign: None,
                }]),
            }
        } else {
            args.iter()
                .map(|n| {
                    segql_compiler::resolve_segment(&self.program, &self.engine.catalog, n)
                        .map_err(Report::from)
                })
                .collect()
        };
        let r = match segments {
            Ok(s) => crate::cli::profile_batch(&self.engine, &s).await,
            Err(e) => Err(e),
        };
        self.print_batch(r, out)
    }

    async fn report(
        &mut self,
        which: &str,
        args: &[&str],
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        let date = |i: usize| {
            args.get(i)
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        };
        let partner = (args.len() > 3).then(|| args[3..].join(" ").trim_matches('"').to_string());
        let (Some(from), Some(to)) = (date(1), date(2)) else {
            return writeln!(
                out,
                "usage: :{which} {} FROM TO [PARTNER] (dates as YYYY-MM-DD)",
                if which == "flows" {
                    "month|quarter"
                } else {
                    "lifecycle|rfm_segment|abc"
                }
            );
        };
        let r = if which == "flows" {
            let every = match args[0] {
                "month" => crate::cli::Every::Month,
                "quarter" => crate::cli::Every::Quarter,
                other => return writeln!(out, "unknown period `{other}`: month or quarter"),
            };
            crate::cli::flows_batch(&self.project, &self.options, every, from, to, partner).await
        } else {
            let by = match args[0] {
                "lifecycle" => crate::cli::TransitionBy::Lifecycle,
                "rfm_segment" | "rfm-segment" => crate::cli::TransitionBy::RfmSegment,
                "abc" => crate::cli::TransitionBy::Abc,
                other => {
                    return writeln!(out, "unknown `{other}`: lifecycle, rfm_segment or abc");
                }
            };
            crate::cli::transitions_batch(&self.project, &self.options, by, from, to, partner, true)
                .await
        };
        self.print_batch(r, out)
    }

    fn print_batch(
        &self,
        r: Result<segql_runtime::datafusion::arrow::array::RecordBatch, Report>,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        match r.and_then(|b| {
            people_table(&[b])
                .map(|t| t.to_string())
                .map_err(|e| miette::miette!("{e}"))
        }) {
            Ok(t) => writeln!(out, "{t}"),
            Err(e) => writeln!(out, "{e:?}"),
        }
    }

    fn schema(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "as of {}", self.engine.catalog.as_of)?;
        writeln!(out, "transactions:")?;
        for f in self.engine.tables.transactions.schema().fields() {
            writeln!(out, "  {:<20} {}", f.name(), kind_of(f.data_type()))?;
        }
        if let Some(c) = &self.engine.tables.customers {
            writeln!(out, "customer attributes:")?;
            for f in c.schema().fields() {
                writeln!(out, "  {:<20} {}", f.name(), kind_of(f.data_type()))?;
            }
        }
        writeln!(
            out,
            "metrics: {}, lifecycle",
            MetricKind::NAMED
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// `:save NAME [FILE]`: the segment NAME defined in this session, else the last expression
    /// under that name, appended to FILE with the imports and session definitions it needs,
    /// checked as `segql check` would before a byte is written.
    fn save(&mut self, args: &[&str], out: &mut dyn Write) -> std::io::Result<()> {
        let Some(name) = args.first() else {
            return writeln!(out, "usage: :save NAME [FILE]");
        };
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return writeln!(
                out,
                "`{name}` is not a valid segment name (letters, digits and _)"
            );
        }
        let file = PathBuf::from(args.get(1).copied().unwrap_or("saved.seg"));
        // What to save: a segment of this session, or the last expression.
        let (body, description, new_name) = match self.program.segment(name) {
            Some(entry) => {
                let src = &self.program.sources[entry.source];
                if let Some(path) = &src.path {
                    return writeln!(
                        out,
                        "`{name}` is defined in {} already; to save the last expression, choose another name",
                        path.display()
                    );
                }
                if entry.def.campaign.is_some() {
                    return writeln!(
                        out,
                        "`{name}` is a campaign: write it into a segment file by hand"
                    );
                }
                (entry.def.body.clone(), entry.def.description.clone(), false)
            }
            None => match &self.last {
                Some((_, ast, _)) => (ast.clone(), None, true),
                None => return writeln!(out, "nothing to save yet: type a condition first"),
            },
        };
        // Segment files are what :save writes; the data and the project file never are.
        let inputs = segql_runtime::Inputs::of_project(&self.engine.project);
        if let Err(e) = inputs.check(&[(&file, ":save")]) {
            return writeln!(out, "{}", render(e));
        }
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return writeln!(
                out,
                "the directory `{}` does not exist; nothing saved",
                dir.display()
            );
        }
        let mut existing = match std::fs::read(&file) {
            Ok(bytes) => {
                match segql_compiler::program::decode(&file.display().to_string(), bytes) {
                    Ok(t) => t,
                    Err(e) => return writeln!(out, "{}", render(e)),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return writeln!(out, "cannot read {}: {e}; nothing saved", file.display()),
        };
        let there = segql_grammar::parse_file("saved", &existing).ok();
        // A definition of the file, formatted as :save would write it.
        let def_there = |n: &str| {
            there.as_ref().and_then(|f| {
                f.items.iter().find_map(|i| match i {
                    segql_grammar::ast::Item::Segment(d) if d.name.name == n => Some(
                        segql_grammar::fmt::format_segment(n, d.description.as_deref(), &d.body),
                    ),
                    _ => None,
                })
            })
        };
        if def_there(name).is_some() {
            return writeln!(
                out,
                "{} already defines `{name}`; choose another name",
                file.display()
            );
        }
        let imported_there: Vec<String> = there
            .iter()
            .flat_map(|f| f.items.iter())
            .filter_map(|i| match i {
                segql_grammar::ast::Item::Import(imp) => Some(imp.path.clone()),
                _ => None,
            })
            .collect();
        // The segments it refers to: imports of their files, session definitions copied in.
        let mut imports: Vec<String> = Vec::new();
        let mut definitions: Vec<String> = Vec::new();
        let mut seen: Vec<String> = vec![name.to_string()];
        let mut todo: Vec<String> = body.segment_refs().into_iter().map(String::from).collect();
        while let Some(r) = todo.pop() {
            if seen.contains(&r) {
                continue;
            }
            if let Some(theirs) = def_there(&r) {
                // The file's `r` must be the session's, or the saved segment would change
                // meaning.
                let ours = self.program.segment(&r).map(|e| {
                    segql_grammar::fmt::format_segment(
                        &r,
                        e.def.description.as_deref(),
                        &e.def.body,
                    )
                });
                if ours.is_some_and(|o| o != theirs) {
                    return writeln!(
                        out,
                        "{} defines another `{r}` than this session's; save to another file; nothing saved",
                        file.display()
                    );
                }
                continue;
            }
            seen.push(r.clone());
            let Some(entry) = self.program.segment(&r) else {
                continue;
            };
            match &self.program.sources[entry.source].path {
                Some(path) => {
                    let import = relative_import(&file, path);
                    if !imports.contains(&import) && !imported_there.contains(&import) {
                        imports.push(import);
                    }
                }
                None => {
                    todo.extend(entry.def.body.segment_refs().into_iter().map(String::from));
                    definitions.push(segql_grammar::fmt::format_segment(
                        &r,
                        entry.def.description.as_deref(),
                        &entry.def.body,
                    ));
                }
            }
        }
        let text = segql_grammar::fmt::format_segment(name, description.as_deref(), &body);
        let mut head = String::new();
        for i in &imports {
            head.push_str(&format!("import {:?}\n", i));
        }
        let mut all = if existing.is_empty() {
            head
        } else {
            // Imports go first: before the existing definitions.
            let mut t = head;
            t.push_str(&existing);
            if !t.ends_with('\n') {
                t.push('\n');
            }
            t
        };
        for d in definitions.iter().rev().chain(std::iter::once(&text)) {
            if !all.is_empty() {
                all.push('\n');
            }
            all.push_str(d);
        }
        existing = all;
        // The file as `segql check` reads it: loaded from where it will be, checked against
        // the data's schema. Nothing is written when it fails.
        if let Err(e) = self.check_saved(&file, &existing) {
            return writeln!(out, "{e}nothing saved");
        }
        let mut program = self.program.clone();
        if new_name && let Err(e) = program.define(&format!("input {}", self.inputs), &text) {
            return writeln!(out, "{}", render(e));
        }
        let r = segql_runtime::output::AtomicFile::create(&file).and_then(|mut f| {
            f.write_all(existing.as_bytes())
                .and_then(|_| f.commit())
                .map_err(|e| RuntimeError::Io {
                    path: file.display().to_string(),
                    reason: segql_runtime::output::io_reason(&e),
                })
        });
        match r {
            Ok(()) => {
                self.program = program;
                self.refresh_words();
                writeln!(out, "saved segment {name} to {}", file.display())
            }
            Err(e) => writeln!(out, "{}", render(e)),
        }
    }

    /// Checks segment text as the file `file` would hold it: its imports resolved from the
    /// file's directory within the project, every segment resolved against the schema.
    fn check_saved(&self, file: &Path, text: &str) -> Result<(), String> {
        let dir = file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let probe = tempfile::Builder::new()
            .prefix(".segql-check-")
            .suffix(".seg")
            .tempfile_in(dir)
            .map_err(|e| format!("cannot write beside {}: {e}; ", file.display()))?;
        std::fs::write(probe.path(), text).map_err(|e| format!("{e}; "))?;
        let mut program = segql_compiler::Program::new(self.root.as_deref());
        // Messages name the file, never the probe.
        let named = |e: String| {
            e.replace(
                &probe.path().display().to_string(),
                &file.display().to_string(),
            )
        };
        program
            .load_file(probe.path())
            .map_err(|e| named(format!("{}\n", render(e))))?;
        let errors = segql_compiler::check_all(&program, &self.engine.catalog);
        match errors.into_iter().next() {
            Some(e) => Err(named(format!("{}\n", render(e)))),
            None => Ok(()),
        }
    }

    async fn export(&mut self, args: &[&str], out: &mut dyn Write) -> std::io::Result<()> {
        let Some(path) = args.first().map(PathBuf::from) else {
            return writeln!(
                out,
                "usage: :export PATH ({})",
                segql_runtime::output::EXTENSIONS
            );
        };
        let Some((_, _, pred)) = &self.last else {
            return writeln!(out, "nothing to export yet: type a condition first");
        };
        let Some(format) = segql_runtime::Format::from_path(&path) else {
            return writeln!(
                out,
                "give the file a {} extension",
                segql_runtime::output::EXTENSIONS
            );
        };
        let mut inputs = segql_runtime::Inputs::of_project(&self.engine.project);
        for s in &self.program.sources {
            if let Some(p) = &s.path {
                inputs.add_named(p, &s.name, "the segment file");
            }
        }
        if let Err(e) = inputs.check(&[(&path, ":export")]) {
            return writeln!(out, "{}", render(e));
        }
        let r = async {
            let (p, _) = self.cache.profile_for(&self.engine, pred)?;
            let plan = p
                .members(pred)
                .and_then(|q| q.sorted())
                .map_err(|e| RuntimeError::data("planning", e))?;
            let stream = self.engine.stream(plan).await?;
            segql_runtime::output::write_stream(stream, format, Some(&path)).await
        }
        .await;
        match r {
            Ok(rows) => writeln!(out, "wrote {rows} rows to {}", path.display()),
            Err(e) => writeln!(out, "{}", render(e)),
        }
    }
}

/// The import path of `target` from a segment file at `file` (relative to its directory).
fn relative_import(file: &Path, target: &Path) -> String {
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let (d, t): (Vec<_>, Vec<_>) = (dir.components().collect(), target.components().collect());
    let common = d.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); d.len() - common];
    parts.extend(
        t[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().to_string()),
    );
    parts.join("/")
}

/// Batches as a table for people: numbers with thousands separators.
fn people_table(
    batches: &[segql_runtime::datafusion::arrow::array::RecordBatch],
) -> Result<impl std::fmt::Display, segql_runtime::datafusion::arrow::error::ArrowError> {
    let shown = batches
        .iter()
        .map(segql_runtime::output::for_people)
        .collect::<Result<Vec<_>, _>>()?;
    pretty_format_batches(&shown)
}

/// A column's type as a manager speaks of it.
fn kind_of(t: &segql_runtime::datafusion::arrow::datatypes::DataType) -> &'static str {
    use segql_runtime::datafusion::arrow::datatypes::DataType as T;
    match t {
        T::Utf8 | T::Utf8View | T::LargeUtf8 | T::Dictionary(..) => "text",
        T::Decimal128(..) | T::Decimal256(..) => "money",
        T::Date32 | T::Date64 | T::Timestamp(..) => "date",
        T::Boolean => "true/false",
        t if t.is_integer() => "whole number",
        t if t.is_numeric() => "number",
        _ => "other",
    }
}

async fn build_cache(engine: &Engine, log: &mut dyn Write) -> Result<CustomerCache, RuntimeError> {
    let _ = writeln!(
        log,
        "building the customer profile as of {} ...",
        engine.catalog.as_of
    );
    let c = CustomerCache::build(engine).await?;
    let _ = writeln!(
        log,
        "profiled {} customers in {:.0} ms",
        c.totals.customers,
        c.build_time.as_secs_f64() * 1000.0
    );
    Ok(c)
}

/// True while `text` cannot be a complete input: open parentheses or quotes, or a trailing
/// connective or operator.
pub fn is_incomplete(text: &str) -> bool {
    let mut depth = 0i32;
    let mut in_string = false;
    let mut escaped = false;
    let mut in_comment = false;
    for c in text.chars() {
        if in_comment {
            in_comment = c != '\n';
            continue;
        }
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '#' => in_comment = true,
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
    }
    if in_string || depth > 0 {
        return true;
    }
    let code: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ");
    let trimmed = code.trim_end();
    if trimmed.starts_with(':') || trimmed.is_empty() {
        return false;
    }
    let last = trimmed
        .rsplit(|c: char| c.is_whitespace())
        .next()
        .unwrap_or("");
    matches!(
        last,
        "and"
            | "or"
            | "not"
            | "in"
            | "between"
            | "within"
            | "bought"
            | "spend"
            | "on"
            | "at"
            | "least"
            | "="
            | "<"
            | ">"
            | "<="
            | ">="
            | "!="
            | ","
    )
}

/// Completion candidates for `line` with the cursor at `pos`: the start of the replaced text
/// and the replacements.
pub fn complete(line: &str, pos: usize, words: &Words) -> (usize, Vec<String>) {
    let before = &line[..pos];
    let start = before
        .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '"' || c == ':' || c == '-'))
        .map_or(0, |i| {
            i + before[i..].chars().next().map_or(1, char::len_utf8)
        });
    let prefix = &before[start..];
    if start == 0 && prefix.starts_with(':') {
        let c = COMMANDS
            .iter()
            .map(|(c, _)| c.split(' ').next().unwrap_or(c).to_string())
            .filter(|c| c.starts_with(prefix))
            .collect();
        return (0, c);
    }
    let context: Vec<&str> = before[..start]
        .split(|c: char| c.is_whitespace() || c == '(' || c == ',')
        .filter(|s| !s.is_empty())
        .collect();
    // The column whose values fit here: `category "`, `city = "`, `city in ("a", "`.
    let mut i = context.len();
    while i > 0 && context[i - 1].starts_with('"') {
        i -= 1; // skip earlier values of a list
    }
    let column = match context.get(..i) {
        Some([.., col, "not", "in"]) => Some(*col),
        Some([.., col, "=" | "!=" | "in"]) => Some(*col),
        Some([.., col]) if ["category", "partner", "store", "product"].contains(col) => Some(*col),
        _ => None,
    };
    let bare = prefix.trim_start_matches('"').to_lowercase();
    if column == Some("lifecycle") {
        let c = Stage::ALL
            .iter()
            .map(|s| s.name().to_string())
            .filter(|s| s.starts_with(&bare))
            .collect();
        return (start, c);
    }
    if let Some(col) = column
        && let Some((_, vals)) = words.values.iter().find(|(c, _)| c == col)
    {
        let c = vals
            .iter()
            .filter(|v| v.to_lowercase().starts_with(&bare))
            .map(|v| segql_grammar::ast::LiteralKind::String(v.clone()).to_string())
            .collect();
        return (start, c);
    }
    let c = words
        .names
        .iter()
        .filter(|n| n.starts_with(prefix))
        .cloned()
        .collect();
    (start, c)
}

/// rustyline's view of the session: completion, hints, highlighting, multi-line input.
pub struct ReplHelper {
    words: Arc<Mutex<Words>>,
    hinter: HistoryHinter,
    color: bool,
}

impl Completer for ReplHelper {
    type Candidate = Pair;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let words = self.words.lock().expect("words lock").clone();
        let (start, c) = complete(line, pos, &words);
        Ok((
            start,
            c.into_iter()
                .map(|s| Pair {
                    display: s.clone(),
                    replacement: s,
                })
                .collect(),
        ))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
    fn hint(&self, line: &str, pos: usize, ctx: &Context<'_>) -> Option<String> {
        self.hinter.hint(line, pos, ctx)
    }
}

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if !self.color {
            return Cow::Borrowed(line);
        }
        Cow::Owned(highlight(line))
    }
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.color {
            Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
        } else {
            Cow::Borrowed(hint)
        }
    }
    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        self.color
    }
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        Ok(if is_incomplete(ctx.input()) {
            ValidationResult::Incomplete
        } else {
            ValidationResult::Valid(None)
        })
    }
}

impl Helper for ReplHelper {}

/// ANSI colors: keywords bold, strings green, numbers, dates and durations cyan, comments dim.
pub fn highlight(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 16);
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '"' {
            let mut end = line.len();
            let mut esc = false;
            for (j, d) in line[i + 1..].char_indices() {
                if esc {
                    esc = false;
                } else if d == '\\' {
                    esc = true;
                } else if d == '"' {
                    end = i + 1 + j + 1;
                    break;
                }
            }
            out.push_str(&format!("\x1b[32m{}\x1b[0m", &line[i..end]));
            while chars.peek().is_some_and(|(j, _)| *j < end) {
                chars.next();
            }
        } else if c == '#' {
            out.push_str(&format!("\x1b[2m{}\x1b[0m", &line[i..]));
            break;
        } else if c.is_alphanumeric() || c == '_' {
            let mut end = i + c.len_utf8();
            while let Some((j, d)) = chars.peek() {
                if d.is_alphanumeric()
                    || *d == '_'
                    || *d == '-' && c.is_ascii_digit()
                    || *d == '.' && c.is_ascii_digit()
                {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let word = &line[i..end];
            if c.is_ascii_digit() {
                out.push_str(&format!("\x1b[36m{word}\x1b[0m"));
            } else if KEYWORDS.contains(&word) {
                out.push_str(&format!("\x1b[1;34m{word}\x1b[0m"));
            } else {
                out.push_str(word);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Where history is kept: `$SEGQL_HISTORY`, else `~/.segql_history`.
pub fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SEGQL_HISTORY") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".segql_history"))
}

/// Runs the interactive loop until `:quit` or Ctrl-D.
pub async fn run(mut session: Session) -> Result<(), Report> {
    let interactive = std::io::stdin().is_terminal();
    let helper = ReplHelper {
        words: session.words(),
        hinter: HistoryHinter::new(),
        color: interactive && std::env::var_os("NO_COLOR").is_none(),
    };
    let config = rustyline::Config::builder()
        .completion_type(rustyline::CompletionType::List)
        .build();
    let mut rl: Editor<ReplHelper, DefaultHistory> = Editor::with_config(config)
        .map_err(|e| miette::miette!("cannot start the line editor: {e}"))?;
    rl.set_helper(Some(helper));
    let history = history_path();
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    if interactive {
        println!(
            "segql {} — :help for commands, Ctrl-D to leave",
            env!("CARGO_PKG_VERSION")
        );
    }
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "segql> "
        } else {
            "   ... "
        };
        match rl.readline(prompt) {
            Ok(line) => {
                if !buffer.is_empty() && line.trim_start().starts_with(':') {
                    println!("(dropped the unfinished input)");
                    buffer.clear();
                }
                if !buffer.is_empty() {
                    buffer.push('\n');
                }
                buffer.push_str(&line);
                // Without a terminal rustyline does not validate: continue lines here.
                if is_incomplete(&buffer) {
                    continue;
                }
                let input = std::mem::take(&mut buffer);
                if !input.trim().is_empty() {
                    let _ = rl.add_history_entry(input.as_str());
                }
                let mut out = std::io::stdout();
                let control = tokio::select! {
                    r = session.handle(&input, &mut out) => r.unwrap_or(Control::Continue),
                    _ = tokio::signal::ctrl_c() => {
                        println!("cancelled");
                        Control::Continue
                    }
                };
                let _ = out.flush();
                if control == Control::Quit {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(miette::miette!("cannot read input: {e}")),
        }
    }
    if let Some(h) = &history {
        if let Some(dir) = h.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = rl.save_history(h);
    }
    Ok(())
}
