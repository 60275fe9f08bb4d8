//! The `:` commands of the REPL: help, schema, segments, load, explain, as-of, show, timing,
//! export and the reports (`:profile`, `:transitions`, `:flows`).

use super::session::{Control, Session, build_cache, render};
use crate::render::{people_table, transitions_matrix};
use miette::Report;
use segql_compiler::ir::MetricKind;
use segql_runtime::datafusion::arrow::array::RecordBatch;
use segql_runtime::reports::flows::{self, Every, FlowsSpec};
use segql_runtime::reports::segment_profile;
use segql_runtime::reports::transitions::{self, TransitionBy, TransitionsSpec};
use segql_runtime::{Engine, RuntimeError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The commands with what they do, as `:help` lists them.
pub(super) const COMMANDS: [(&str, &str); 18] = [
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
        ":profile [NAME...] [--by-cluster MODEL]",
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
    (
        ":kpis EVERY FROM TO [by partner|store|ATTRIBUTE]",
        "program KPIs per month, quarter or week (docs/kpis.md)",
    ),
    (
        ":snapshot CAMPAIGN",
        "freeze the campaign's audience as of the session's date",
    ),
    (
        ":measure CAMPAIGN [DATE...] [by BY] [partial]",
        "the campaign's snapshots against their control groups",
    ),
    (
        ":report FILE [FROM] [PARTNER]",
        "the HTML report (or .csv numbers) of the session's segments, as `segql report`",
    ),
    (":quit", "leave (or Ctrl-D)"),
];

impl Session {
    /// Handles `:cmd` (without its colon).
    pub(super) async fn command(
        &mut self,
        cmd: &str,
        out: &mut dyn Write,
    ) -> std::io::Result<Control> {
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
                    let pred = pred.clone();
                    let pred = &pred;
                    if let Err(e) = self.engine.prepare(&[pred]).await {
                        writeln!(out, "{}", render(e))?;
                        return Ok(Control::Continue);
                    }
                    let plan = self
                        .cache
                        .table_for(&self.engine, Some(&self.warm), pred)
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
                        let mut engine =
                            Engine::open(self.project.clone(), self.options.clone(), true).await?;
                        let unread = engine.catalog.unread();
                        if unread.any() {
                            engine.read(unread).await?;
                        }
                        let cache = build_cache(&engine, &self.warm, out).await?;
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
            "kpis" => self.kpis(&args, out).await?,
            "snapshot" => self.snapshot(&args, out).await?,
            "measure" => self.measure(&args, out).await?,
            "report" => self.report_page(&args, out).await?,
            other => writeln!(out, "unknown command :{other}; :help lists the commands")?,
        }
        Ok(Control::Continue)
    }

    /// `:snapshot CAMPAIGN`: freezes the campaign's audience as of the session's date.
    async fn snapshot(&mut self, args: &[&str], out: &mut dyn Write) -> std::io::Result<()> {
        let [name] = args else {
            return writeln!(out, "usage: :snapshot CAMPAIGN");
        };
        let taken: Result<String, Report> = async {
            let program = &self.program;
            let seg = self
                .engine
                .compile(|c| segql_compiler::resolve_segment(program, c, name))
                .await??;
            let q = self
                .engine
                .compile(|c| segql_compiler::lower_definition(c, &seg))
                .await?
                .map_err(crate::compile_err)?;
            let said = crate::campaign::take_snapshot(&self.engine, &seg, &q).await?;
            self.engine.reload_snapshots().await?;
            Ok(said)
        }
        .await;
        match taken {
            Ok(said) => writeln!(out, "{said}"),
            Err(e) => writeln!(out, "{}", render(e)),
        }
    }

    /// `:report FILE [FROM] [PARTNER]`: the page of `segql report` (CSV numbers for a `.csv`
    /// file) for every segment of the session, as of the session's date.
    async fn report_page(&mut self, args: &[&str], out: &mut dyn Write) -> std::io::Result<()> {
        let usage = "usage: :report FILE.html|FILE.csv [FROM as YYYY-MM-DD] [PARTNER]";
        let Some((file, rest)) = args.split_first() else {
            return writeln!(out, "{usage}");
        };
        let path = PathBuf::from(file);
        let csv = match path.extension().map(|e| e.to_string_lossy().to_lowercase()) {
            Some(e) if e == "csv" => true,
            Some(e) if e == "html" || e == "htm" => false,
            _ => return writeln!(out, "{usage}"),
        };
        let mut scope = crate::report::Scope::default();
        let mut rest = rest.to_vec();
        if let Some(d) = rest
            .first()
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        {
            scope.from = Some(d);
            rest.remove(0);
        }
        if !rest.is_empty() {
            scope.partner = Some(rest.join(" ").trim_matches('"').to_string());
        }
        let mut inputs = segql_runtime::Inputs::of_project(&self.engine.project);
        for s in &self.program.sources {
            if let Some(p) = &s.path {
                inputs.add_named(p, &s.name, "the segment file");
            }
        }
        if let Err(e) = inputs.check(&[(&path, ":report")]) {
            return writeln!(out, "{}", render(e));
        }
        let r: Result<(), Report> = async {
            let names: Vec<String> = self
                .program
                .segments
                .iter()
                .filter(|s| s.top_level && s.def.params.is_empty())
                .map(|s| s.def.name.name.clone())
                .collect();
            let program = &self.program;
            let segments = self
                .engine
                .compile(|c| {
                    names
                        .iter()
                        .map(|n| segql_compiler::resolve_segment(program, c, n))
                        .collect::<Result<Vec<_>, _>>()
                })
                .await??;
            let preds: Vec<_> = segments.iter().map(|s| &s.pred).collect();
            self.engine.prepare(&preds).await?;
            let options = self.options.clone();
            let figures = crate::report::gather(
                &mut self.engine,
                &options,
                &mut self.program,
                segments,
                &scope,
            )
            .await?;
            let sections = crate::report::sections(&figures);
            let text = if csv {
                crate::report::csv(&sections)
            } else {
                crate::report::html::page(&figures, &sections)
            };
            segql_runtime::output::write_text(Some(&path), &text)?;
            Ok(())
        }
        .await;
        match r {
            Ok(()) => writeln!(out, "wrote {}", path.display()),
            Err(e) => writeln!(out, "{}", render(e)),
        }
    }

    /// `:measure CAMPAIGN [DATE...] [by BY] [partial]`.
    async fn measure(&mut self, args: &[&str], out: &mut dyn Write) -> std::io::Result<()> {
        let Some((name, rest)) = args.split_first() else {
            return writeln!(out, "usage: :measure CAMPAIGN [DATE...] [by BY] [partial]");
        };
        let mut ask = crate::campaign::Ask {
            campaign: name.to_string(),
            ..Default::default()
        };
        let mut words = rest.iter();
        while let Some(w) = words.next() {
            match *w {
                "by" | "--by" => ask.by = words.next().map(|b| b.to_string()),
                "partial" | "--partial" => ask.partial = true,
                d => match chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d") {
                    Ok(d) => ask.dates.push(d),
                    Err(_) => {
                        return writeln!(
                            out,
                            "`{d}` is neither a snapshot date (YYYY-MM-DD), `by BY` nor `partial`"
                        );
                    }
                },
            }
        }
        match crate::campaign::measure_campaign(&mut self.engine, &mut self.program, &ask).await {
            Ok(m) => write!(out, "{}", crate::campaign::report(&m, false)),
            Err(e) => writeln!(out, "{}", render(e)),
        }
    }

    async fn profile(&mut self, args: &[&str], out: &mut dyn Write) -> std::io::Result<()> {
        // `--by-cluster MODEL`: one more row per cluster of the model.
        let mut by_cluster = None;
        let mut names = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if *a == "--by-cluster" {
                match it.next() {
                    Some(m) => by_cluster = Some(m.to_string()),
                    None => return writeln!(out, "usage: :profile [NAME...] --by-cluster MODEL"),
                }
            } else {
                names.push(*a);
            }
        }
        let args = &names[..];
        let segments: Result<Vec<segql_compiler::ir::Segment>, Report> = if args.is_empty()
            && by_cluster.is_some()
        {
            Ok(Vec::new())
        } else if args.is_empty() {
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
        let segments = match (segments, &by_cluster) {
            (Ok(mut s), Some(m)) => segment_profile::cluster_segments(&self.engine, m)
                .map(|c| {
                    s.extend(c);
                    s
                })
                .map_err(Report::from),
            (s, _) => s,
        };
        let segments = match segments {
            Ok(s) => {
                let preds: Vec<_> = s.iter().map(|s| &s.pred).collect();
                self.engine
                    .prepare(&preds)
                    .await
                    .map_err(Report::from)
                    .map(|()| s)
            }
            Err(e) => Err(e),
        };
        let r = match segments {
            Ok(s) => segment_profile::segment_profile(&self.engine, &s)
                .await
                .map_err(Report::from)
                .and_then(|rows| batch(segment_profile::to_batch(&rows))),
            Err(e) => Err(e),
        };
        print_batch(r, out)
    }

    /// `:transitions BY FROM TO [PARTNER]` and `:flows EVERY FROM TO [PARTNER]`.
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
                    "month|quarter|week"
                } else {
                    "lifecycle|rfm_segment|abc"
                }
            );
        };
        let r = if which == "flows" {
            let Some(every) = Every::by_name(args[0]) else {
                return writeln!(out, "unknown period `{}`: month, quarter or week", args[0]);
            };
            let spec = FlowsSpec {
                every,
                from,
                to,
                partner,
            };
            match flows::flows(&self.project, &self.options, &spec).await {
                Ok(rows) => batch(flows::to_batch(&rows)),
                Err(e) => Err(e.into()),
            }
        } else {
            let Some(by) = TransitionBy::by_name(args[0]) else {
                return writeln!(out, "unknown `{}`: lifecycle, rfm_segment or abc", args[0]);
            };
            let spec = TransitionsSpec {
                by,
                from,
                to,
                partner,
            };
            match transitions::transitions(&self.project, &self.options, &spec).await {
                Ok(t) => batch(transitions_matrix(&t)),
                Err(e) => Err(e.into()),
            }
        };
        print_batch(r, out)
    }

    /// `:kpis EVERY FROM TO [by BY]`: the program KPIs, as `segql kpis` computes them.
    async fn kpis(&mut self, args: &[&str], out: &mut dyn Write) -> std::io::Result<()> {
        use segql_runtime::reports::kpis::{self, By, KpiSpec};
        let date = |i: usize| {
            args.get(i)
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        };
        let by = match args.get(3..) {
            Some(["by", b]) => Some(match *b {
                "partner" => By::Partner,
                "store" => By::Store,
                other => By::Attribute(other.to_string()),
            }),
            Some([]) | None => None,
            Some(_) => {
                return writeln!(
                    out,
                    "usage: :kpis month|quarter|week FROM TO [by partner|store|ATTRIBUTE]"
                );
            }
        };
        let (Some(every), Some(from), Some(to)) = (
            args.first().and_then(|e| Every::by_name(e)),
            date(1),
            date(2),
        ) else {
            return writeln!(
                out,
                "usage: :kpis month|quarter|week FROM TO [by partner|store|ATTRIBUTE] (dates as YYYY-MM-DD)"
            );
        };
        let spec = KpiSpec {
            every,
            from,
            to,
            by: by.clone(),
            segment: None,
        };
        let r = match kpis::kpis(&self.project, &self.options, &spec).await {
            Ok(rows) => batch(kpis::to_batch(&rows, by.as_ref())),
            Err(e) => Err(e.into()),
        };
        print_batch(r, out)
    }

    /// `:schema`: the columns segments can use, with their kinds.
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

    /// `:export PATH`: the last expression's members written to PATH.
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
            self.engine.prepare(&[pred]).await?;
            let (p, _) = self.cache.table_for(&self.engine, Some(&self.warm), pred)?;
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

/// A report's batch, or why it could not be built.
fn batch(
    b: Result<RecordBatch, segql_runtime::datafusion::arrow::error::ArrowError>,
) -> Result<RecordBatch, Report> {
    b.map_err(|e| miette::miette!("{e}"))
}

/// A report as a table, or its diagnostic.
fn print_batch(r: Result<RecordBatch, Report>, out: &mut dyn Write) -> std::io::Result<()> {
    match r.and_then(|b| {
        people_table(&[b])
            .map(|t| t.to_string())
            .map_err(|e| miette::miette!("{e}"))
    }) {
        Ok(t) => writeln!(out, "{t}"),
        Err(e) => writeln!(out, "{e:?}"),
    }
}
