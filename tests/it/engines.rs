//! Real SQL engines for the tests of `segql sql`: DuckDB from PyPI in a virtualenv made once
//! under the target directory (with moto, the S3-compatible server of the object-store
//! tests), driven by `tests/engines/duckdb_driver.py`, and a PostgreSQL
//! server started with `initdb`/`pg_ctl` on a temporary directory (once per test run, stopped
//! when the test process ends, even on a panic or a kill).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The DuckDB release the tests install.
const DUCKDB: &str = "duckdb==2.0.1";

/// The moto release (a real S3-compatible server, with boto3) the tests install.
const MOTO: &str = "moto[server]==5.2.6";

/// Tables to load: name, then `("parquet" | "csv", files)`.
pub type Tables = BTreeMap<String, (&'static str, Vec<PathBuf>)>;

/// A query's result: the header, then the rows, every value as text.
pub type Rows = Vec<Vec<String>>;

fn spec(tables: &Tables, all_varchar: &[&str]) -> String {
    let entries: Vec<String> = tables
        .iter()
        .map(|(name, (format, paths))| {
            let paths: Vec<String> = paths
                .iter()
                .map(|p| format!("{:?}", p.display().to_string()))
                .collect();
            format!(
                "{name:?}: {{\"format\": {format:?}, \"paths\": [{}], \"all_varchar\": {}}}",
                paths.join(", "),
                all_varchar.contains(&name.as_str())
            )
        })
        .collect();
    format!("{{{}}}", entries.join(", "))
}

/// The target directory the test binary was built in.
fn target_dir() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_segql"));
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// The virtualenv's Python with DuckDB and moto, made (or completed) on first use.
pub fn test_python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let venv = target_dir().join("test-venv");
        let python = venv.join("bin/python");
        let has_packages = |p: &Path| {
            Command::new(p)
                .args([
                    "-c",
                    "import duckdb, moto, sys; \
                     sys.exit((duckdb.__version__, moto.__version__) != tuple(sys.argv[1:]))",
                ])
                .arg(DUCKDB.trim_start_matches("duckdb=="))
                .arg(MOTO.rsplit_once("==").unwrap().1)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !has_packages(&python) {
            let made = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .output()
                .expect("python3 runs (`.ci/run` installs it)");
            assert!(
                made.status.success(),
                "python3 -m venv failed (install python3-venv, as `.ci/run` does): {}",
                String::from_utf8_lossy(&made.stderr)
            );
            let pip = Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", DUCKDB, MOTO])
                .output()
                .expect("pip runs");
            assert!(
                pip.status.success(),
                "pip install {DUCKDB} {MOTO} failed: {}",
                String::from_utf8_lossy(&pip.stderr)
            );
        }
        python
    })
}

fn driver() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/engines/duckdb_driver.py")
}

/// Parses CSV text (as the driver and `psql --csv` write it) into rows.
fn parse_csv(text: &str) -> Rows {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            ('\r', false) => {}
            (c, _) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// Runs `sql` (statements, the last a query) on DuckDB over `tables`; its rows, or DuckDB's
/// error.
pub fn duckdb(tables: &Tables, sql: &str) -> Result<Rows, String> {
    duckdb_with(tables, &[], sql)
}

/// [`duckdb`] with the CSV tables named in `all_varchar` read with every column as text.
pub fn duckdb_with(tables: &Tables, all_varchar: &[&str], sql: &str) -> Result<Rows, String> {
    duckdb_many(tables, all_varchar, &[sql.to_string()])
        .pop()
        .unwrap()
}

/// Runs each script of `scripts` on DuckDB over `tables` loaded once; each one's rows or
/// error.
pub fn duckdb_many(
    tables: &Tables,
    all_varchar: &[&str],
    scripts: &[String],
) -> Vec<Result<Rows, String>> {
    const NEXT: &str = "\n-- segql:next\n";
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, spec(tables, all_varchar)).unwrap();
    let sql_path = dir.path().join("query.sql");
    std::fs::write(&sql_path, scripts.join(NEXT)).unwrap();
    let out = Command::new(test_python())
        .arg(driver())
        .arg("run")
        .arg(&spec_path)
        .arg(&sql_path)
        .output()
        .expect("the DuckDB driver runs");
    if !out.status.success() {
        let e = String::from_utf8_lossy(&out.stderr).to_string();
        return scripts.iter().map(|_| Err(e.clone())).collect();
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let text = text.strip_suffix('\n').unwrap_or(&text).to_string() + "\n";
    text.split("-- segql:next\n")
        .map(|part| match part.strip_prefix("-- segql:error ") {
            Some(e) => Err(e.trim().to_string()),
            None => Ok(parse_csv(part)),
        })
        .collect()
}

/// A PostgreSQL server of the tests.
pub struct Postgres {
    bin: PathBuf,
    socket: PathBuf,
    port: u16,
    /// Databases made so far, by name.
    made: Mutex<Vec<String>>,
}

/// Whether this process runs as root (PostgreSQL then runs as the `postgres` user).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program` of PostgreSQL's binaries, as the server's user.
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// The directory of `initdb` and `pg_ctl`: on the PATH, else Debian's newest
/// `/usr/lib/postgresql/*/bin`.
fn postgres_bin() -> PathBuf {
    if let Ok(o) = Command::new("pg_config").arg("--bindir").output()
        && o.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
        if dir.join("pg_ctl").exists() {
            return dir;
        }
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|f| f.1).expect(
        "PostgreSQL's server is not installed: `apt-get install postgresql` (as `.ci/run` does)",
    )
}

/// The tests' server, started on first use.
pub fn postgres() -> &'static Postgres {
    static SERVER: OnceLock<Postgres> = OnceLock::new();
    SERVER.get_or_init(start_postgres)
}

fn start_postgres() -> Postgres {
    let bin = postgres_bin();
    let dir = tempfile::Builder::new()
        .prefix("segql-pg-")
        .tempdir()
        .unwrap()
        .keep();
    if is_root() {
        let chown = Command::new("chown")
            .args(["-R", "postgres:"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(chown.success(), "chown of the server's directory failed");
    }
    let data = dir.join("data");
    let init = as_server_user(&bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args([
            "-A",
            "trust",
            "-U",
            "segql",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .output()
        .expect("initdb runs");
    assert!(
        init.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    // Only a Unix socket in the private directory: the port names the socket, and cannot
    // clash with another server's.
    let port = 5432;
    let options = format!(
        "-p {port} -k {} -c listen_addresses='' -c fsync=off",
        dir.display()
    );
    let started = as_server_user(&bin.join("pg_ctl"))
        .arg("-D")
        .arg(&data)
        .args(["-o", &options, "-l"])
        .arg(dir.join("log"))
        .args(["-w", "start"])
        .stdout(Stdio::null())
        .output()
        .expect("pg_ctl runs");
    assert!(
        started.status.success(),
        "pg_ctl start failed: {} {}",
        String::from_utf8_lossy(&started.stderr),
        std::fs::read_to_string(dir.join("log")).unwrap_or_default()
    );
    // Stopped when this process ends, however it ends: a watcher waits for it, then stops
    // the server and removes its directory.
    let pg_ctl = bin.join("pg_ctl");
    let stop = if is_root() {
        format!("runuser -u postgres -- '{}'", pg_ctl.display())
    } else {
        format!("'{}'", pg_ctl.display())
    };
    let watcher = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} -D '{data}' -m immediate stop >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        data = data.display(),
        dir = dir.display(),
    );
    // Not waited for: it outlives this process on purpose (it is reaped by init).
    #[allow(clippy::zombie_processes)]
    Command::new("sh")
        .args(["-c", &watcher])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server's watcher starts");
    Postgres {
        bin,
        socket: dir,
        port,
        made: Mutex::new(Vec::new()),
    }
}

impl Postgres {
    fn psql(&self, database: &str) -> Command {
        let mut c = Command::new(self.bin.join("psql"));
        c.arg("-h")
            .arg(&self.socket)
            .args(["-p", &self.port.to_string(), "-U", "segql", "-d", database])
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"]);
        c
    }

    /// A database `name` holding `tables`, as DuckDB reads them from their files (same
    /// columns and types), made once.
    pub fn database(&self, name: &str, tables: &Tables) {
        let mut made = self.made.lock().unwrap();
        if made.iter().any(|m| m == name) {
            return;
        }
        let create = self
            .psql("postgres")
            .args(["-c", &format!("CREATE DATABASE \"{name}\"")])
            .output()
            .unwrap();
        assert!(
            create.status.success(),
            "{}",
            String::from_utf8_lossy(&create.stderr)
        );
        let dir = tempfile::tempdir().unwrap();
        let spec_path = dir.path().join("spec.json");
        std::fs::write(&spec_path, spec(tables, &[])).unwrap();
        let export = Command::new(test_python())
            .arg(driver())
            .arg("export")
            .arg(&spec_path)
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            export.status.success(),
            "{}",
            String::from_utf8_lossy(&export.stderr)
        );
        let script = dir.path().join("load.sql");
        std::fs::write(&script, &export.stdout).unwrap();
        let load = self.psql(name).arg("-f").arg(&script).output().unwrap();
        assert!(
            load.status.success(),
            "loading {name}: {}",
            String::from_utf8_lossy(&load.stderr)
        );
        made.push(name.to_string());
    }

    /// Runs `sql` (statements, the last a query) in `database`; the last query's rows, or
    /// PostgreSQL's error.
    pub fn query(&self, database: &str, sql: &str) -> Result<Rows, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("query.sql");
        std::fs::write(&path, sql).unwrap();
        let out = self
            .psql(database)
            .arg("--csv")
            .arg("-f")
            .arg(&path)
            .output()
            .expect("psql runs");
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).to_string());
        }
        Ok(parse_csv(&String::from_utf8_lossy(&out.stdout)))
    }
}
