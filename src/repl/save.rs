//! `:save NAME [FILE]`: a session's segment written into a segment file, with the imports and
//! definitions it needs, checked as `segql check` would before a byte is written.

use super::session::{Session, render};
use segql_runtime::RuntimeError;
use std::io::Write;
use std::path::{Path, PathBuf};

impl Session {
    /// `:save NAME [FILE]`: the segment NAME defined in this session, else the last expression
    /// under that name, appended to FILE with the imports and session definitions it needs,
    /// checked as `segql check` would before a byte is written.
    pub(super) fn save(&mut self, args: &[&str], out: &mut dyn Write) -> std::io::Result<()> {
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
        let (def, new_name) = match self.program.segment(name) {
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
                (entry.def.clone(), false)
            }
            None => match &self.last {
                Some((_, ast, _)) => (
                    segql_grammar::ast::SegmentDef {
                        name: segql_grammar::ast::Ident {
                            name: name.to_string(),
                            span: ast.span,
                        },
                        params: Vec::new(),
                        description: None,
                        body: ast.clone(),
                        campaign: None,
                        span: ast.span,
                    },
                    true,
                ),
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
                    segql_grammar::ast::Item::Segment(d) if d.name.name == n => {
                        Some(segql_grammar::fmt::format_definition(d))
                    }
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
        let mut todo: Vec<String> = def
            .body
            .segment_refs()
            .into_iter()
            .map(String::from)
            .collect();
        while let Some(r) = todo.pop() {
            if seen.contains(&r) {
                continue;
            }
            if let Some(theirs) = def_there(&r) {
                // The file's `r` must be the session's, or the saved segment would change
                // meaning.
                let ours = self
                    .program
                    .segment(&r)
                    .map(|e| segql_grammar::fmt::format_definition(&e.def));
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
                    definitions.push(segql_grammar::fmt::format_definition(&entry.def));
                }
            }
        }
        let text = segql_grammar::fmt::format_definition(&def);
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
        let trial = tempfile::Builder::new()
            .prefix(".segql-check-")
            .suffix(".seg")
            .tempfile_in(dir)
            .map_err(|e| format!("cannot write beside {}: {e}; ", file.display()))?;
        std::fs::write(trial.path(), text).map_err(|e| format!("{e}; "))?;
        let mut program = segql_compiler::Program::new(self.root.as_deref());
        // Messages name the file, never the trial copy.
        let named = |e: String| {
            e.replace(
                &trial.path().display().to_string(),
                &file.display().to_string(),
            )
        };
        program
            .load_file(trial.path())
            .map_err(|e| named(format!("{}\n", render(e))))?;
        let errors = segql_compiler::check_all(&program, &self.engine.catalog);
        match errors.into_iter().next() {
            Some(e) => Err(named(format!("{}\n", render(e)))),
            None => Ok(()),
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
