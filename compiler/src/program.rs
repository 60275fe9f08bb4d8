//! Loading segment files and their imports into one program: the set of named segments, each
//! with the source it came from (for diagnostics).

use crate::error::{CompileError, Src};
use miette::NamedSource;
use segql_grammar::ast::{Expr, File, Item, SegmentDef, Span};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// One loaded source: a file or an inline expression.
#[derive(Debug, Clone)]
pub struct Source {
    /// The name shown in diagnostics.
    pub name: String,
    /// The canonical path, for files.
    pub path: Option<PathBuf>,
    /// The text.
    pub text: Arc<str>,
}

impl Source {
    /// The source as miette sees it.
    pub fn named(&self) -> Src {
        NamedSource::new(self.name.clone(), self.text.clone())
    }
}

/// A segment definition and the source it lives in.
#[derive(Debug, Clone)]
pub struct SegmentEntry {
    /// The definition.
    pub def: SegmentDef,
    /// Index into [`Program::sources`].
    pub source: usize,
    /// True when defined in a file given on the command line (not only imported).
    pub top_level: bool,
}

/// All segments loaded from a set of files and their imports.
#[derive(Debug, Clone, Default)]
pub struct Program {
    /// Every source, in load order.
    pub sources: Vec<Source>,
    /// Every segment, in definition order.
    pub segments: Vec<SegmentEntry>,
    index: HashMap<String, usize>,
    /// Imports may not leave this directory (canonical), when set.
    root: Option<PathBuf>,
    /// The confinement of the load in progress: the project root, or the directory of a
    /// top-level file that lies outside it (or of any top-level file, without a project).
    current_root: Option<PathBuf>,
}

impl Program {
    /// An empty program whose imports must stay inside `root` (the project directory). Without
    /// a root, each file named on the command line confines its imports to its own directory,
    /// and text that is not a file (the REPL, `-e`) to the current directory. Paths are compared
    /// with their links followed.
    pub fn new(root: Option<&Path>) -> Self {
        Program {
            root: root.map(canonical),
            ..Default::default()
        }
    }

    /// Loads a file and, recursively, its imports. Segments of `path` itself are top-level.
    pub fn load_file(&mut self, path: &Path) -> Result<(), CompileError> {
        let abs = std::fs::canonicalize(path).map_err(|e| CompileError::FileNotReadable {
            path: path.display().to_string(),
            reason: io_reason(&e),
            src: None,
            span: None,
        })?;
        self.current_root = match &self.root {
            Some(r) if abs.starts_with(r) => Some(r.clone()),
            _ => abs.parent().map(Path::to_path_buf),
        };
        let mut stack = Vec::new();
        self.load(path, &abs, true, None, &mut stack)
    }

    /// Adds segment text that is not a file (e.g. typed in the REPL) under `name`; imports in
    /// it are relative to the current directory, and confined to the root (or, without one,
    /// the current directory).
    pub fn load_text(&mut self, name: &str, text: &str) -> Result<(), CompileError> {
        let file = segql_grammar::parse_file(name, text)?;
        let idx = self.sources.len();
        self.sources.push(Source {
            name: name.to_string(),
            path: None,
            text: Arc::from(text),
        });
        let base = canonical(&std::env::current_dir().unwrap_or_default());
        self.current_root = Some(self.root.clone().unwrap_or_else(|| base.clone()));
        let mut stack = Vec::new();
        self.add_items(idx, &file, true, &base, &mut stack)
    }

    /// Adds or replaces segments typed interactively: definitions in `text` replace earlier
    /// segments of the same name. Returns the names defined.
    pub fn define(&mut self, name: &str, text: &str) -> Result<Vec<String>, CompileError> {
        let file = segql_grammar::parse_file(name, text)?;
        let names: Vec<String> = file
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Segment(d) => Some(d.def_name()),
                Item::Import(_) => None,
            })
            .collect();
        let before = (
            self.segments.clone(),
            self.index.clone(),
            self.sources.len(),
        );
        self.segments.retain(|s| !names.contains(&s.def.name.name));
        self.reindex();
        if let Err(e) = self.load_text(name, text) {
            (self.segments, self.index) = (before.0, before.1);
            self.sources.truncate(before.2);
            return Err(e);
        }
        Ok(names)
    }

    fn reindex(&mut self) {
        self.index = self
            .segments
            .iter()
            .enumerate()
            .map(|(i, s)| (s.def.name.name.clone(), i))
            .collect();
    }

    /// Parses an inline expression, registering its text as a source for diagnostics.
    pub fn parse_inline(&mut self, name: &str, text: &str) -> Result<(Expr, usize), CompileError> {
        let expr = segql_grammar::parse_expr(name, text)?;
        self.sources.push(Source {
            name: name.to_string(),
            path: None,
            text: Arc::from(text),
        });
        Ok((expr, self.sources.len() - 1))
    }

    /// The segment named `name`.
    pub fn segment(&self, name: &str) -> Option<&SegmentEntry> {
        self.index.get(name).map(|i| &self.segments[*i])
    }

    /// Names of all segments.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().map(|s| s.def.name.name.as_str())
    }

    /// Loads the file `path` (as written), whose canonical path `abs` the caller checked
    /// against the root.
    fn load(
        &mut self,
        path: &Path,
        abs: &Path,
        top_level: bool,
        from: Option<(usize, Span)>,
        stack: &mut Vec<PathBuf>,
    ) -> Result<(), CompileError> {
        let abs = abs.to_path_buf();
        if let Some(pos) = stack.iter().position(|p| p == &abs) {
            let (src, span) = from.expect("a cycle always has an importer");
            let mut names: Vec<String> = stack[pos..].iter().map(|p| display(p)).collect();
            names.push(display(&abs));
            return Err(CompileError::ImportCycle {
                cycle: names.join(" -> "),
                src: self.sources[src].named(),
                span,
            });
        }
        if let Some(existing) = self
            .sources
            .iter()
            .position(|s| s.path.as_ref() == Some(&abs))
        {
            // Already loaded (a diamond of imports): mark its segments top-level if needed.
            if top_level {
                for s in self.segments.iter_mut().filter(|s| s.source == existing) {
                    s.top_level = true;
                }
            }
            return Ok(());
        }
        let bytes = std::fs::read(&abs).map_err(|e| CompileError::FileNotReadable {
            path: path.display().to_string(),
            reason: io_reason(&e),
            src: from.map(|(s, _)| self.sources[s].named()),
            span: from.map(|(_, sp)| sp),
        })?;
        let name = path.display().to_string();
        let text = decode(&name, bytes)?;
        let file = segql_grammar::parse_file(&name, &text)?;
        let idx = self.sources.len();
        self.sources.push(Source {
            name,
            path: Some(abs.clone()),
            text: Arc::from(text.as_str()),
        });
        let base = abs.parent().map(Path::to_path_buf).unwrap_or_default();
        stack.push(abs);
        let r = self.add_items(idx, &file, top_level, &base, stack);
        stack.pop();
        r
    }

    fn add_items(
        &mut self,
        idx: usize,
        file: &File,
        top_level: bool,
        base: &Path,
        stack: &mut Vec<PathBuf>,
    ) -> Result<(), CompileError> {
        for item in &file.items {
            match item {
                Item::Import(imp) => {
                    // Links are followed before the root check, as the system opens the file
                    // (a `..` after a link leaves the link's target): a file outside the root
                    // is refused before a byte of it is read. A missing file is placed by its
                    // deepest existing directory, so a missing file outside the root is refused
                    // the same way and reveals nothing.
                    let written = base.join(&imp.path);
                    let outside = |p: &Path| {
                        self.current_root
                            .as_ref()
                            .is_some_and(|root| !p.starts_with(root))
                    };
                    let (target, missing) = match std::fs::canonicalize(&written) {
                        Ok(t) => (t, None),
                        Err(e) => (resolve_existing(&written), Some(e)),
                    };
                    if let Some(e) = missing.filter(|_| !outside(&target)) {
                        return Err(CompileError::FileNotReadable {
                            path: display(&target),
                            reason: io_reason(&e),
                            src: Some(self.sources[idx].named()),
                            span: Some(imp.path_span),
                        });
                    }
                    if outside(&target) {
                        let root = self.current_root.as_deref().unwrap_or(Path::new("/"));
                        return Err(CompileError::ImportOutsideRoot {
                            path: imp.path.clone(),
                            root: display(root),
                            src: self.sources[idx].named(),
                            span: imp.path_span,
                        });
                    }
                    self.load(
                        &normalize(&written),
                        &target,
                        false,
                        Some((idx, imp.path_span)),
                        stack,
                    )?;
                }
                Item::Segment(def) => {
                    let name = def.name.name.clone();
                    if let Some(&first) = self.index.get(&name) {
                        let f = &self.segments[first];
                        let src = &self.sources[f.source];
                        let line = src.text[..f.def.name.span.start].lines().count().max(1);
                        return Err(CompileError::DuplicateSegment {
                            name,
                            first: format!("{} line {}", src.name, line),
                            src: self.sources[idx].named(),
                            span: def.name.span,
                        });
                    }
                    self.index.insert(name, self.segments.len());
                    self.segments.push(SegmentEntry {
                        def: def.clone(),
                        source: idx,
                        top_level,
                    });
                }
            }
        }
        Ok(())
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::InvalidData => "the file is not UTF-8 text".into(),
        _ => e.to_string(),
    }
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    }
}

/// A path with its deepest existing ancestor resolved (links followed) and the rest appended
/// lexically: the path itself, canonical, when it exists.
fn resolve_existing(p: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut cur = p.to_path_buf();
    loop {
        if let Ok(c) = std::fs::canonicalize(&cur) {
            let mut out = c;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return normalize(&out);
        }
        match (cur.file_name().map(|n| n.to_os_string()), cur.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                cur = parent.to_path_buf();
            }
            _ => return normalize(p),
        }
    }
}

/// `p` absolute with its links followed (as far as it exists).
fn canonical(p: &Path) -> PathBuf {
    resolve_existing(&absolute(p))
}

/// The text of a segment file: UTF-8, with a leading byte-order mark dropped (spans then count
/// from the first character after it). CRLF line ends need nothing: the grammar skips `\r`.
pub fn decode(name: &str, mut bytes: Vec<u8>) -> Result<String, CompileError> {
    let bom = bytes.starts_with(b"\xEF\xBB\xBF");
    if bom {
        bytes.drain(..3);
    }
    String::from_utf8(bytes).map_err(|e| {
        let bad = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let line_start = bytes[..bad]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        let line = bytes[..bad].iter().filter(|b| **b == b'\n').count() + 1;
        let file = Path::new(name)
            .file_name()
            .map_or_else(|| name.to_string(), |n| n.to_string_lossy().to_string());
        CompileError::Encoding {
            path: name.to_string(),
            line,
            // Bytes of the line as the file has them, the mark included.
            byte: bad - line_start + 1 + if bom && line == 1 { 3 } else { 0 },
            help: format!(
                "segql reads UTF-8 only: convert the file, e.g. `iconv -f cp1251 -t utf-8 {file} > utf8-{file}` (cp1251 is Windows Cyrillic: name the file's own encoding), or save it again as UTF-8"
            ),
        }
    })
}

/// Removes `.` and resolves `..` lexically (the file need not exist).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c.as_os_str()),
        }
    }
    out
}

fn display(p: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    p.strip_prefix(&cwd).unwrap_or(p).display().to_string()
}
