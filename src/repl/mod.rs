//! The interactive REPL: type a condition, get members, shares, revenue and a preview at once.
//!
//! [`Session`] holds the engine, the segments defined so far and the cached profile, and
//! handles one complete input at a time (so tests can drive it without a terminal); `:`
//! commands are in `commands` (`:save` in `save`); [`run`] wraps the session in the rustyline
//! editor of `editor` (history, completion, highlighting, multi-line input).

mod commands;
mod editor;
mod save;

pub use editor::{ReplHelper, complete, highlight, history_path, is_incomplete, run};

use crate::render::people_table;
use miette::Report;
use segql_compiler::ir::{MetricKind, Pred};
use segql_compiler::{Program, resolve_expr};
use segql_grammar::ast::Expr;
use segql_grammar::lex;
use segql_runtime::cache::{Answer, CustomerCache};
use segql_runtime::{Engine, EngineOptions, Project, RuntimeError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
        let mut names: Vec<String> = lex::KEYWORDS
            .iter()
            .chain(lex::CONTEXT_WORDS.iter())
            .map(|s| s.to_string())
            .collect();
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
        match segql_runtime::reports::literals::unmatched_with(
            &self.engine,
            &[&pred],
            &self.cache.values,
        )
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
