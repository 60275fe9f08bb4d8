//! The session: the engine, the segments defined so far and the REPL's customer cache, and
//! the answer to an expression.

use crate::render::people_table;
use miette::Report;
use segql_compiler::ir::{MetricKind, Pred};
use segql_compiler::{Program, resolve_expr};
use segql_grammar::ast::Expr;
use segql_grammar::lex;
use segql_runtime::cache::warm::DEFAULT_BUDGET;
use segql_runtime::cache::{Answer, CustomerCache, Warm};
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
    pub(super) project: Project,
    pub(super) options: EngineOptions,
    pub(super) engine: Engine,
    pub(super) program: Program,
    pub(super) cache: CustomerCache,
    /// The data held in memory (see `segql_runtime::cache::warm`).
    pub(super) warm: Warm,
    pub(super) last: Option<(String, Expr, Pred)>,
    pub(super) show: usize,
    pub(super) timing: bool,
    pub(super) words: Arc<Mutex<Words>>,
    pub(super) inputs: usize,
    /// The directory imports are confined to (the project's), when there is one.
    pub(super) root: Option<PathBuf>,
}

pub(super) fn render(e: impl Into<Report>) -> String {
    format!("{:?}", e.into())
}

impl Session {
    /// Opens the project, reads its data into memory within the budget of `[repl]
    /// memory_budget` (or the default) and builds the profile. Prints progress to `log`.
    pub async fn open(
        project: Project,
        options: EngineOptions,
        files: &[PathBuf],
        root: Option<&Path>,
        log: &mut dyn Write,
    ) -> Result<Session, Report> {
        Session::open_with_budget(project, options, None, files, root, log).await
    }

    /// [`Session::open`] with a memory budget in bytes that overrides the project's (`0`:
    /// nothing is held in memory and answers outside the customer cache read the files).
    pub async fn open_with_budget(
        project: Project,
        options: EngineOptions,
        budget: Option<u64>,
        files: &[PathBuf],
        root: Option<&Path>,
        log: &mut dyn Write,
    ) -> Result<Session, Report> {
        let mut program = Program::new(root);
        for f in files {
            program.load_file(f)?;
        }
        let mut engine = Engine::open(project.clone(), options.clone(), true).await?;
        // Every table is read, so that the warm copy holds them all.
        let unread = engine.catalog.unread();
        if unread.any() {
            engine.read(unread).await?;
        }
        let budget = budget
            .or_else(|| project.memory_budget())
            .unwrap_or(DEFAULT_BUDGET);
        let _ = writeln!(log, "reading the data into memory ...");
        let warm = Warm::load(&engine, budget).await;
        let _ = writeln!(log, "{}", warm.describe());
        let cache = build_cache(&engine, &warm, log).await?;
        let s = Session {
            project,
            options,
            engine,
            program,
            cache,
            warm,
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

    pub(super) fn refresh_words(&self) {
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

    /// The answer to an expression without printing (for tests and benchmarks).
    pub async fn answer(&mut self, text: &str) -> Result<Answer, Report> {
        let (ast, src) = self.program.parse_inline("expression", text)?;
        let pred = resolve_expr(&self.program, &self.engine.catalog, &ast, src)?;
        self.engine.prepare(&[&pred]).await?;
        Ok(self
            .cache
            .answer(&self.engine, Some(&self.warm), &pred, self.show)
            .await?)
    }

    pub(super) fn print_answer(&self, a: &Answer, out: &mut dyn Write) -> std::io::Result<()> {
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
                a.source.describe()
            )?;
        }
        Ok(())
    }
}

pub(super) async fn build_cache(
    engine: &Engine,
    warm: &Warm,
    log: &mut dyn Write,
) -> Result<CustomerCache, RuntimeError> {
    let _ = writeln!(
        log,
        "building the customer profile as of {} ...",
        engine.catalog.as_of
    );
    let c = CustomerCache::build(engine, Some(warm)).await?;
    let _ = writeln!(
        log,
        "profiled {} customers in {:.0} ms",
        c.totals.customers,
        c.build_time.as_secs_f64() * 1000.0
    );
    Ok(c)
}
