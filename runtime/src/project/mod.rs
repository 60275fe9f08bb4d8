//! The project: the project file `segql.toml` ([`config`]).

pub mod config;

pub use config::{FileFormat, Project, TableConfig};

use std::path::{Path, PathBuf};

/// Every `.seg` file of the project: its directory searched (hidden directories, `target`
/// and the snapshot directory skipped, links to directories not followed), named relative to
/// the current directory when under it, sorted, then ordered by [`imported_first`].
pub fn segment_files(project: &Project) -> Vec<PathBuf> {
    let skip = crate::snapshots::dir(project);
    let mut out = Vec::new();
    let mut stack = vec![project.dir.clone()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with('.') || name == "target" || Some(&p) == skip.as_ref() {
                continue;
            }
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() && name.ends_with(".seg") => out.push(p),
                _ => {}
            }
        }
    }
    let cwd = std::env::current_dir().ok();
    let mut out: Vec<PathBuf> = out
        .into_iter()
        .map(|p| {
            let rel = cwd.as_ref().and_then(|c| p.strip_prefix(c).ok());
            rel.or_else(|| p.strip_prefix(".").ok())
                .map_or_else(|| p.clone(), Path::to_path_buf)
        })
        .collect();
    out.sort();
    imported_first(out)
}

/// `files` ordered so that a file another of them imports comes before its importers (else in
/// the order given): each is then loaded, and named in messages, as given rather than as the
/// import's resolved path.
pub fn imported_first(files: Vec<PathBuf>) -> Vec<PathBuf> {
    let canonical: Vec<Option<PathBuf>> = files.iter().map(|f| f.canonicalize().ok()).collect();
    let imports: Vec<Vec<usize>> = files
        .iter()
        .map(|f| {
            let Some(text) = std::fs::read_to_string(f).ok() else {
                return Vec::new();
            };
            let Ok(file) = segql_grammar::parse_file(&f.display().to_string(), &text) else {
                return Vec::new();
            };
            let base = f.parent().unwrap_or(Path::new(""));
            file.items
                .iter()
                .filter_map(|item| match item {
                    segql_grammar::ast::Item::Import(imp) => {
                        let target = base.join(&imp.path).canonicalize().ok()?;
                        canonical.iter().position(|c| c.as_ref() == Some(&target))
                    }
                    segql_grammar::ast::Item::Segment(_) => None,
                })
                .collect()
        })
        .collect();
    fn visit(i: usize, imports: &[Vec<usize>], done: &mut [bool], order: &mut Vec<usize>) {
        if done[i] {
            return;
        }
        done[i] = true;
        for &j in &imports[i] {
            visit(j, imports, done, order);
        }
        order.push(i);
    }
    let mut done = vec![false; files.len()];
    let mut order = Vec::new();
    for i in 0..files.len() {
        visit(i, &imports, &mut done, &mut order);
    }
    order.into_iter().map(|i| files[i].clone()).collect()
}
