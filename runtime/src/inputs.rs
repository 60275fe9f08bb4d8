//! The files a command reads, so that no output ever replaces one of them.
//!
//! Before a command reads or writes anything, every output path it was given is compared with
//! every file it reads: the project file, each file of each table (a directory or a glob
//! expanded), and the segment files. Files are compared by device and inode with links
//! followed, so `./data/../tx.csv`, a hard link and a symbolic link all name the file they
//! are. An output that does not exist yet is refused too when a table's directory or glob
//! would read it on the next run, and two outputs of one command may not name one file.

use crate::error::RuntimeError;
use crate::project::{Project, TableConfig};
use std::path::{Path, PathBuf};

/// A file's identity: device and inode (links followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId(u64, u64);

#[cfg(unix)]
fn file_id(p: &Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| FileId(m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(p: &Path) -> Option<FileId> {
    // Without inodes, the canonical path stands for the file.
    use std::hash::{Hash, Hasher};
    let c = std::fs::canonicalize(p).ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    c.hash(&mut h);
    Some(FileId(0, h.finish()))
}

/// One file read, as the user named it.
#[derive(Debug, Clone)]
struct Input {
    /// What it is, e.g. "the transactions file `data/tx.csv`".
    what: String,
    id: FileId,
}

/// A place a table reads every matching file from: a new file there is read by the next run.
#[derive(Debug, Clone)]
enum Watch {
    /// A directory: every CSV or Parquet file in it.
    Dir {
        table: String,
        shown: String,
        dir: PathBuf,
    },
    /// A glob, as an absolute pattern.
    Glob {
        table: String,
        shown: String,
        pattern: glob::Pattern,
    },
}

/// The files one command reads.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    files: Vec<Input>,
    watches: Vec<Watch>,
}

impl Inputs {
    /// The project file and every file of every table of `project`. A table whose path
    /// matches nothing adds nothing here: the read reports it.
    pub fn of_project(project: &Project) -> Inputs {
        let mut inputs = Inputs::default();
        if let Some(src) = &project.source {
            let path = Path::new(src.name());
            let cwd = std::env::current_dir().unwrap_or_default();
            let shown = path
                .strip_prefix(&cwd)
                .unwrap_or(path)
                .display()
                .to_string();
            inputs.add_named(path, &shown, "the project file");
        }
        let f = &project.file;
        let tables: [(&str, Option<&TableConfig>); 3] = [
            ("transactions", f.transactions.as_ref().map(|t| t.get_ref())),
            ("customers", f.customers.as_ref().map(|t| t.get_ref())),
            (
                "communications",
                f.communications.as_ref().map(|t| t.get_ref()),
            ),
        ];
        for (table, cfg) in tables {
            let Some(cfg) = cfg else { continue };
            inputs.add_table(&project.dir, table, cfg.path.get_ref());
        }
        inputs
    }

    /// Adds the files of `table` at `path` (a file, a directory or a glob) relative to `base`.
    fn add_table(&mut self, base: &Path, table: &str, path: &str) {
        // Objects in a store are no local file: outputs are written on this machine only.
        if crate::stores::is_url(path) {
            return;
        }
        let full = if Path::new(path).is_absolute() {
            PathBuf::from(path)
        } else {
            base.join(path)
        };
        if path.contains(['*', '?', '[']) {
            if let Ok(pattern) = glob::Pattern::new(&canonical_glob(&full).to_string_lossy()) {
                self.watches.push(Watch::Glob {
                    table: table.into(),
                    shown: path.into(),
                    pattern,
                });
            }
        } else if full.is_dir()
            && let Ok(dir) = std::fs::canonicalize(&full)
        {
            self.watches.push(Watch::Dir {
                table: table.into(),
                shown: path.into(),
                dir,
            });
        }
        if let Ok(files) = crate::sources::expand_path(base, path, table) {
            for file in files {
                let shown = if path.contains(['*', '?', '[']) || full.is_dir() {
                    file.strip_prefix(base)
                        .unwrap_or(&file)
                        .display()
                        .to_string()
                } else {
                    path.to_string()
                };
                self.add(&file, format!("the {table} file `{shown}`"));
            }
        }
    }

    /// Adds one file read, described as `what` (e.g. "the segment file"); a file that does
    /// not exist is left out.
    pub fn add_file(&mut self, path: &Path, what: &str) {
        self.add_named(path, &path.display().to_string(), what);
    }

    /// [`Inputs::add_file`] for a file shown under another name (as the user wrote it).
    pub fn add_named(&mut self, path: &Path, shown: &str, what: &str) {
        self.add(path, format!("{what} `{shown}`"));
    }

    fn add(&mut self, path: &Path, what: String) {
        if let Some(id) = file_id(path) {
            self.files.push(Input { what, id });
        }
    }

    /// Checks `outputs` (each with the option that named it, e.g. `--output`) against the
    /// inputs and each other. Standard output (`-`) is never a clash.
    pub fn check(&self, outputs: &[(&Path, &str)]) -> Result<(), RuntimeError> {
        let mut seen: Vec<(Target, String)> = Vec::new();
        for (out, option) in outputs {
            if out.as_os_str() == "-" {
                continue;
            }
            let shown = out.display().to_string();
            let target = Target::of(out);
            if let Target::Existing(id) = target
                && let Some(input) = self.files.iter().find(|i| i.id == id)
            {
                return Err(clash(&shown, option, &input.what, "it would replace"));
            }
            if let Target::New(p) = &target {
                for w in &self.watches {
                    let read = match w {
                        Watch::Dir { dir, .. } => {
                            p.parent() == Some(dir.as_path())
                                && crate::sources::discovery::format_of(p).is_some()
                        }
                        Watch::Glob { pattern, .. } => pattern.matches_path_with(
                            p,
                            glob::MatchOptions {
                                require_literal_separator: true,
                                ..Default::default()
                            },
                        ),
                    };
                    if read {
                        let what = match w {
                            Watch::Dir { table, shown, .. } => {
                                format!("the {table} directory `{shown}`")
                            }
                            Watch::Glob { table, shown, .. } => {
                                format!("the {table} files `{shown}`")
                            }
                        };
                        return Err(clash(
                            &shown,
                            option,
                            &what,
                            "the next run would take it for",
                        ));
                    }
                }
            }
            if let Some((_, other)) = seen.iter().find(|(t, _)| *t == target) {
                return Err(RuntimeError::OutputIsInput {
                    message: format!("{option} `{shown}` names the same file as {other}"),
                    help: "give each output its own file".into(),
                });
            }
            seen.push((target, format!("{option} `{shown}`")));
        }
        Ok(())
    }
}

fn clash(shown: &str, option: &str, input: &str, how: &str) -> RuntimeError {
    let message = if how.starts_with("the next run") {
        format!("{option} `{shown}` would be read as part of {input}: {how} data")
    } else {
        format!("{option} `{shown}` is {input}: {how} a file this command reads")
    };
    RuntimeError::OutputIsInput {
        message,
        help: if option == ":save" {
            "save segments to a segment file, e.g. :save NAME saved.seg".into()
        } else {
            format!("write the result to a file outside the data, e.g. {option} members.csv")
        },
    }
}

/// An output path as a file: one that exists (by identity), or the absolute path a new file
/// would get (its directory's links followed).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Existing(FileId),
    New(PathBuf),
}

impl Target {
    fn of(p: &Path) -> Target {
        if let Some(id) = file_id(p) {
            return Target::Existing(id);
        }
        let abs = absolute(p);
        let name = abs.file_name().map(|n| n.to_os_string());
        let dir = abs
            .parent()
            .and_then(|d| std::fs::canonicalize(d).ok())
            .unwrap_or_else(|| abs.parent().map(Path::to_path_buf).unwrap_or_default());
        Target::New(match name {
            Some(n) => dir.join(n),
            None => abs,
        })
    }
}

/// A glob pattern with the directories before its first wildcard resolved as the file system
/// sees them (`..` and links followed), as new outputs are.
fn canonical_glob(pattern: &Path) -> PathBuf {
    let abs = absolute(pattern);
    let mut literal = PathBuf::new();
    let mut rest = PathBuf::new();
    for c in abs.components() {
        let wild = c.as_os_str().to_string_lossy().contains(['*', '?', '[']);
        if rest.as_os_str().is_empty() && !wild {
            literal.push(c);
        } else {
            rest.push(c);
        }
    }
    // The last literal part may be a file name pattern's directory or the pattern itself.
    match std::fs::canonicalize(&literal) {
        Ok(dir) => dir.join(rest),
        Err(_) => abs,
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_dot_segments_name_the_file_they_point_to() {
        let dir = tempfile::tempdir().unwrap();
        let d = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(d.join("data")).unwrap();
        std::fs::write(d.join("data/tx.csv"), "customer_id,ts,amount\n").unwrap();
        let project =
            Project::from_paths(d.join("data/tx.csv").to_str().unwrap(), None, None, None);
        let inputs = Inputs::of_project(&project);
        let via_dots = d.join("data/../data/tx.csv");
        assert!(inputs.check(&[(&via_dots, "--output")]).is_err());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(d.join("data/tx.csv"), d.join("link.csv")).unwrap();
            std::fs::hard_link(d.join("data/tx.csv"), d.join("hard.csv")).unwrap();
            assert!(inputs.check(&[(&d.join("link.csv"), "--output")]).is_err());
            assert!(inputs.check(&[(&d.join("hard.csv"), "--output")]).is_err());
        }
        assert!(inputs.check(&[(&d.join("out.csv"), "--output")]).is_ok());
        assert!(inputs.check(&[(Path::new("-"), "--output")]).is_ok());
        let twice = inputs.check(&[
            (&d.join("out.csv"), "--output"),
            (&d.join("data/../out.csv"), "--snapshot"),
        ]);
        assert!(
            twice
                .unwrap_err()
                .to_string()
                .contains("names the same file"),
            "two outputs of one file"
        );
    }

    #[test]
    fn a_new_file_a_directory_or_glob_would_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(d.join("tx")).unwrap();
        std::fs::write(d.join("tx/a.csv"), "customer_id,ts,amount\n").unwrap();
        let by_dir = Inputs::of_project(&Project::from_paths(
            d.join("tx").to_str().unwrap(),
            None,
            None,
            None,
        ));
        let err = by_dir
            .check(&[(&d.join("tx/b.csv"), "--output")])
            .unwrap_err();
        assert!(
            err.to_string().contains("the transactions directory"),
            "{err}"
        );
        // A file the directory does not read (no data extension) is fine.
        assert!(
            by_dir
                .check(&[(&d.join("tx/notes.md"), "--output")])
                .is_ok()
        );
        let by_glob = Inputs::of_project(&Project::from_paths(
            d.join("tx/*.csv").to_str().unwrap(),
            None,
            None,
            None,
        ));
        let err = by_glob
            .check(&[(&d.join("tx/c.csv"), "--output")])
            .unwrap_err();
        assert!(err.to_string().contains("the transactions files"), "{err}");
        assert!(by_glob.check(&[(&d.join("tx/c.json"), "--output")]).is_ok());
    }
}
