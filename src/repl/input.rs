//! One complete input: a segment definition, an expression or a `:` command.

use super::session::{Control, Session, render};
use segql_compiler::resolve_expr;
use std::io::Write;

impl Session {
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
        if let Err(e) = self.engine.prepare(&[&pred]).await {
            writeln!(out, "{}", render(e))?;
            return Ok(Control::Continue);
        }
        let catalog = segql_runtime::cache::catalog_of(&self.engine, Some(&self.warm));
        let found = match catalog {
            Ok(catalog) => {
                segql_runtime::reports::literals::unmatched_with(
                    &self.engine,
                    &catalog,
                    &[&pred],
                    &self.cache.values,
                )
                .await
            }
            Err(e) => Err(e),
        };
        match found {
            Ok(found) => {
                for u in found {
                    writeln!(out, "warning: {u}")?;
                }
            }
            Err(e) => writeln!(out, "{}", render(e))?,
        }
        match self
            .cache
            .answer(&self.engine, Some(&self.warm), &pred, self.show)
            .await
        {
            Ok(a) => self.print_answer(&a, out)?,
            Err(e) => writeln!(out, "{}", render(e))?,
        }
        self.last = Some((input.to_string(), ast, pred));
        Ok(Control::Continue)
    }
}
