//! `--engine ballista://`: a real Ballista cluster of segql's own binary (a scheduler and
//! two executors on free localhost ports, in a directory of their own) runs the example
//! project's segments, campaigns and reports, byte for byte as the local engine does; a lost
//! executor's tasks run again on the other; what a cluster cannot run is refused clearly.

use crate::common::{example_dir, segql_command, stderr, stdout};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// How long a cluster may take to start, or a lost executor to be noticed.
pub(crate) const PATIENCE: Duration = Duration::from_secs(90);

/// A scheduler and its executors, each stopped (killed) when dropped; their work
/// directories and logs live in `dir`.
pub(crate) struct Cluster {
    pub(crate) url: String,
    scheduler: Child,
    executors: Vec<Child>,
    /// The scheduler's lines (listening, executors registered and removed).
    lines: Receiver<String>,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts a scheduler and `n` executors of `tasks` task slots each, and waits until every
    /// executor has registered.
    fn start(n: usize, tasks: usize) -> Cluster {
        Cluster::start_with(n, tasks, &[])
    }

    /// [`Cluster::start`] with these environment variables in every process's environment
    /// (an object store's credentials).
    pub(crate) fn start_with(n: usize, tasks: usize, env: &[(&str, &str)]) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut scheduler = process(
            &dir,
            "scheduler",
            &["scheduler", "--port", "0", "--executor-timeout", "6"],
        );
        scheduler.stdout(Stdio::piped()).envs(env.iter().copied());
        let mut scheduler = scheduler.spawn().expect("the scheduler starts");
        let (tx, lines) = channel();
        let out = scheduler.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut cluster = Cluster {
            url: String::new(),
            scheduler,
            executors: Vec::new(),
            lines,
            dir,
        };
        let first = cluster.wait_for("scheduler listening on ");
        cluster.url = first["scheduler listening on ".len()..].to_string();
        for i in 0..n {
            let work = cluster.work_dir(i);
            let tasks = tasks.to_string();
            let args = [
                "executor",
                "--scheduler",
                &cluster.url,
                "--port",
                "0",
                "--grpc-port",
                "0",
                "--concurrent-tasks",
                &tasks,
                "--work-dir",
                work.to_str().unwrap(),
            ];
            let mut c = process(&cluster.dir, &format!("executor-{i}"), &args);
            c.envs(env.iter().copied());
            cluster
                .executors
                .push(c.spawn().expect("an executor starts"));
        }
        for _ in 0..n {
            cluster.wait_for(" registered (");
        }
        cluster
    }

    fn work_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("work-{i}"))
    }

    /// The scheduler's next line that contains `text`; the earlier ones are passed over.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no `{text}` from the scheduler in {PATIENCE:?}; logs:\n{}",
                    self.logs()
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the scheduler stopped; logs:\n{}", self.logs())
                }
            }
        }
    }

    /// Every process's standard error, for a failure's message.
    pub(crate) fn logs(&self) -> String {
        let mut out = String::new();
        for e in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "log") {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                out.push_str(&format!("--- {}\n{text}", e.path().display()));
            }
        }
        out
    }

    /// `segql ARGS --engine URL`.
    fn segql(&self, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.extend(["--engine", &self.url]);
        segql(&all)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.executors.iter_mut().chain([&mut self.scheduler]) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `segql ARGS` as a cluster process, in the cluster's directory (not the project's, so that
/// relative paths could not work by chance), its standard error in `NAME.log`; it stops
/// when the test process ends, however it ends (its standard input closes).
fn process(dir: &tempfile::TempDir, name: &str, args: &[&str]) -> std::process::Command {
    let log = std::fs::File::create(dir.path().join(format!("{name}.log"))).unwrap();
    let mut c = segql_command();
    c.args(args)
        .args(["--stop-with-stdin", "--log-level", "info"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(log);
    c
}

/// `segql ARGS`, which must end within the patience (a stalled cluster fails the test).
fn segql(args: &[&str]) -> Output {
    let child = segql_command()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("segql runs");
    output_within(child, 4 * PATIENCE)
}

/// The example project's segment files.
fn segment_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(example_dir().join("segments"))
        .unwrap()
        .flatten()
        .map(|e| e.path().display().to_string())
        .filter(|p| p.ends_with(".seg"))
        .collect();
    files.sort();
    files
}

/// Runs `args` here and on the cluster: both succeed with the same bytes on standard output.
fn same_here_and_there(cluster: &Cluster, args: &[&str]) -> String {
    let here = segql(args);
    assert!(here.status.success(), "{args:?} here: {}", stderr(&here));
    let there = cluster.segql(args);
    assert!(
        there.status.success(),
        "{args:?} on the cluster: {}\nlogs:\n{}",
        stderr(&there),
        cluster.logs()
    );
    assert!(!here.stdout.is_empty(), "{args:?} printed nothing");
    assert!(
        here.stdout == there.stdout,
        "{args:?}: the cluster's output differs:\n--- here\n{}\n--- cluster\n{}",
        stdout(&here),
        stdout(&there)
    );
    stdout(&here)
}

#[test]
fn the_example_project_runs_on_a_cluster_byte_for_byte_as_here() {
    let cluster = Cluster::start(2, 2);
    let example = example_dir().display().to_string();
    let p = ["--project", example.as_str()];
    let files = segment_files();
    let offers = example_dir()
        .join("segments/offers.seg")
        .display()
        .to_string();
    for f in &files {
        // Every segment of the file: the members and their memberships (campaigns run on
        // their own, below).
        let mut args = vec!["run", f.as_str()];
        if *f == offers {
            args.extend(["-s", "autumn_no_show", "-s", "autumn_responders"]);
        }
        let with = |extra: &[&'static str]| [&args[..], extra, &p[..]].concat();
        same_here_and_there(&cluster, &with(&["--format", "csv"]));
        same_here_and_there(&cluster, &with(&["--count"]));
    }
    // Each campaign on its own: its audience, capped and split into test and control.
    for campaign in ["winback", "coffee_week", "birthday_bonus", "autumn_bonus"] {
        let args = ["run", &offers, "-s", campaign, "--format", "csv"];
        same_here_and_there(&cluster, &[&args[..], &p[..]].concat());
    }
    let all: Vec<&str> = files.iter().map(String::as_str).collect();
    // The reports.
    for args in [
        [&["profile"], &all[..], &["--format", "csv"]].concat(),
        vec!["rfm", "--format", "csv"],
        vec![
            "transitions",
            "--by",
            "lifecycle",
            "--from",
            "2026-03-31",
            "--to",
            "2026-09-30",
            "--format",
            "csv",
        ],
        vec![
            "flows",
            "--every",
            "quarter",
            "--from",
            "2025-10-01",
            "--to",
            "2026-09-30",
            "--format",
            "csv",
        ],
        vec![
            "kpis",
            "--from",
            "2026-01-01",
            "--to",
            "2026-06-30",
            "--format",
            "csv",
        ],
        vec!["lifecycle-thresholds"],
        vec!["measure", "autumn_bonus", &offers],
        [&["check", "--data"], &all[..]].concat(),
    ] {
        same_here_and_there(&cluster, &[&args[..], &p[..]].concat());
    }
    // The plan the cluster runs: its stages, split at shuffles.
    let o = cluster.segql(&[&["explain", "--stage", "physical", &files[0]], &p[..]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains(&format!("Physical plan on {}", cluster.url))
            && text.contains("ShuffleWriterExec"),
        "{text}"
    );
}

#[test]
fn what_keeps_data_in_memory_is_refused_on_a_cluster() {
    let cluster = Cluster::start(1, 1);
    let example = example_dir().display().to_string();
    let lifecycle = example_dir()
        .join("segments/lifecycle.seg")
        .display()
        .to_string();
    for args in [
        vec!["repl", "--project", &example],
        vec![
            "kpis",
            "--project",
            &example,
            &lifecycle,
            "-s",
            "at_risk",
            "--from",
            "2026-07-01",
            "--to",
            "2026-09-30",
        ],
    ] {
        let o = cluster.segql(&args);
        assert!(!o.status.success(), "{args:?} ran");
        let err = stderr(&o);
        assert!(
            err.contains("keeps data in this process's memory") && err.contains("--engine local"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_scheduler_that_is_not_there_is_a_clear_error_at_once() {
    // A port nothing listens on: bound, then freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let example = example_dir().display().to_string();
    let started = Instant::now();
    let o = segql(&[
        "run",
        "--project",
        &example,
        "-e",
        "frequency >= 1",
        "--count",
        "--engine",
        &format!("ballista://127.0.0.1:{port}"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "no Ballista scheduler answers at ballista://127.0.0.1:{port}"
        )) && err.contains("segql cluster start"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    // A bad address is a usage error before anything runs.
    let o = segql(&[
        "run",
        "--project",
        &example,
        "--count",
        "--engine",
        "http://x:1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("Ballista clusters only"),
        "{}",
        stderr(&o)
    );

    // `[engine] url` of segql.toml: used by default, overridden by `--engine local`, checked
    // when the project loads.
    let dir = tempfile::tempdir().unwrap();
    let tx = example_dir().join("data/transactions.parquet");
    let project = |url: &str| {
        let text = format!("[transactions]\npath = {tx:?}\n\n[engine]\nurl = \"{url}\"\n");
        std::fs::write(dir.path().join("segql.toml"), text).unwrap();
    };
    let p = dir.path().display().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--project", &p, "-e", "frequency >= 1", "--count"];
        args.extend_from_slice(extra);
        segql(&args)
    };
    project(&format!("ballista://127.0.0.1:{port}"));
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no Ballista scheduler answers"),
        "{}",
        stderr(&o)
    );
    let o = run(&["--engine", "local"]);
    assert!(o.status.success(), "{}", stderr(&o));
    project("postgres://db:5432");
    let o = run(&["--engine", "local"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o)
            .contains("[engine] url: `postgres://db:5432`: segql runs on Ballista clusters only"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_unreachable_scheduler_renders_its_diagnostic() {
    let example = example_dir().display().to_string();
    let o = segql(&[
        "run",
        "--project",
        &example,
        "-e",
        "frequency >= 1",
        "--count",
        "--engine",
        "ballista://127.0.0.1:1",
    ]);
    assert_eq!(o.status.code(), Some(1));
    insta::assert_snapshot!(String::from_utf8_lossy(&o.stderr));
}

/// A generated data set big enough that a run spans many tasks.
fn bigger_project(dir: &Path) -> PathBuf {
    let out = dir.join("data");
    let o = segql(&[
        "demo",
        "--customers",
        "20000",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(
        dir.join("segql.toml"),
        "[transactions]\npath = \"data/transactions.parquet\"\n",
    )
    .unwrap();
    dir.to_path_buf()
}

/// Whether an executor's work directory holds a job's shuffle files yet (a directory per
/// job; DataFusion's spill directories are named `datafusion-*`).
fn has_job_files(work: &Path) -> bool {
    std::fs::read_dir(work).is_ok_and(|d| {
        d.flatten()
            .any(|e| !e.file_name().to_string_lossy().starts_with("datafusion"))
    })
}

#[test]
fn an_executor_killed_in_the_middle_of_a_run_never_changes_its_result() {
    let data = tempfile::tempdir().unwrap();
    let project = bigger_project(data.path()).display().to_string();
    // One task at a time on each executor and many partitions: the run is many tasks long.
    let cluster = Cluster::start(2, 1);
    let expr = "frequency >= 3 and monetary > 500 and recency < 180d";
    let args = [
        "run",
        "--project",
        &project,
        "-e",
        expr,
        "--format",
        "csv",
        "--partitions",
        "24",
    ];
    let here = segql(&args);
    assert!(here.status.success(), "{}", stderr(&here));
    let mut all = args.to_vec();
    all.extend(["--engine", &cluster.url]);
    let run = segql_command()
        .args(&all)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // As soon as the first executor writes a task's output, it is killed.
    let deadline = Instant::now() + PATIENCE;
    while !has_job_files(&cluster.work_dir(0)) {
        assert!(Instant::now() < deadline, "no task ran on executor 0");
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut cluster = cluster;
    cluster.executors[0].kill().unwrap();
    cluster.executors[0].wait().unwrap();
    let there = output_within(run, 4 * PATIENCE);
    // The scheduler noticed. Ballista resets the lost executor's tasks (and the shuffle
    // output it held) and runs them on the other: the run finishes with the local result.
    // Should the loss come too late for that (the client fetching a result from it), the run
    // must fail cleanly: an error, and no output.
    cluster.wait_for(" removed (");
    if there.status.success() {
        assert!(
            here.stdout == there.stdout,
            "a lost executor changed the result"
        );
    } else {
        assert_eq!(there.status.code(), Some(1));
        assert!(there.stdout.is_empty(), "a failed run printed a result");
        assert!(
            stderr(&there).contains("running the query"),
            "{}",
            stderr(&there)
        );
    }
}

/// The output of `child` (its standard output and error piped), which must end within
/// `limit`: else it is killed and the test fails, rather than wait for ever.
pub(crate) fn output_within(mut child: Child, limit: Duration) -> Output {
    use std::io::Read;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the run did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// `segql cluster start`: a scheduler and two executors as its children, the address printed
/// once both registered, a query answered there as here; on SIGTERM every child stops and
/// every temporary work directory is removed.
#[test]
fn cluster_start_runs_a_cluster_and_stops_it_whole() {
    let mut child = segql_command()
        .args(["cluster", "start", "--executors", "2", "--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("segql cluster start runs");
    /// Kills the cluster if an assertion fails before it is stopped.
    struct Guard(Child);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let out = child.stdout.take().unwrap();
    let mut guard = Guard(child);
    let (tx, lines) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + PATIENCE;
    let mut work_dirs = Vec::new();
    let url = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .expect("`cluster ready at` within the patience");
        if let Some((_, dir)) = line.split_once(", work directory ") {
            work_dirs.push(PathBuf::from(dir));
        }
        if let Some(rest) = line.strip_prefix("cluster ready at ") {
            break rest.split(':').take(3).collect::<Vec<_>>().join(":");
        }
    };
    assert_eq!(work_dirs.len(), 2, "{work_dirs:?}");
    assert!(work_dirs.iter().all(|d| d.is_dir()), "{work_dirs:?}");
    let project = example_dir();
    let args = |engine: &str| {
        segql(&[
            "run",
            "--project",
            project.to_str().unwrap(),
            "-e",
            "recency < 30d and frequency >= 2",
            "--count",
            "--engine",
            engine,
        ])
    };
    let (here, there) = (args("local"), args(&url));
    assert!(there.status.success(), "{}", stderr(&there));
    assert!(
        stdout(&here).trim().parse::<u64>().is_ok(),
        "{}",
        stdout(&here)
    );
    assert_eq!(stdout(&there), stdout(&here));
    let pid = guard.0.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let stopped = Instant::now() + PATIENCE;
    while guard.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < stopped, "segql cluster start did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The executors stop when their standard input closes, removing their directories.
    let gone = Instant::now() + Duration::from_secs(30);
    while work_dirs.iter().any(|d| d.exists()) {
        assert!(
            Instant::now() < gone,
            "work directories left: {work_dirs:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
