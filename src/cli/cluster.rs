//! `segql scheduler`, `segql executor` and `segql cluster start`: an Apache Ballista cluster
//! that runs segql's plans (`--engine ballista://HOST:PORT`), from the same binary as the
//! client, so that every process has segql's functions.

use super::args::parse_size;
use clap::{Args, Subcommand};
use miette::{IntoDiagnostic, Result};
use segql_runtime::RuntimeError;
use segql_runtime::cluster::{
    ClusterUrl, ExecutorOptions, SchedulerEvent, SchedulerOptions, run_executor, run_scheduler,
};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// `segql scheduler`.
#[derive(Debug, Args)]
pub(super) struct SchedulerArgs {
    /// The address to listen on: 127.0.0.1 for this machine only, 0.0.0.0 for every one.
    #[arg(long, value_name = "HOST", default_value = "127.0.0.1")]
    bind: String,
    /// The port clients and executors connect to (0: any free one, printed).
    #[arg(long, value_name = "PORT", default_value_t = segql_runtime::cluster::DEFAULT_SCHEDULER_PORT)]
    port: u16,
    /// Seconds without a heartbeat (executors send one every 5) after which an executor
    /// counts as lost and its tasks run again on the others.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    executor_timeout: u64,
    #[command(flatten)]
    common: Common,
}

/// `segql executor`.
#[derive(Debug, Args)]
pub(super) struct ExecutorArgs {
    /// The scheduler to register with: ballista://HOST:PORT (or HOST:PORT).
    #[arg(long, value_name = "URL", value_parser = scheduler_url)]
    scheduler: ClusterUrl,
    /// The address to listen on.
    #[arg(long, value_name = "HOST", default_value = "127.0.0.1")]
    bind: String,
    /// The host name the scheduler and the other executors reach this one by. Default: the
    /// address the scheduler sees it connect from.
    #[arg(long, value_name = "HOST")]
    external_host: Option<String>,
    /// The port results are fetched from, by other executors and clients (Arrow Flight; 0:
    /// any free one).
    #[arg(long, value_name = "PORT", default_value_t = 50051)]
    port: u16,
    /// The port the scheduler sends tasks to (gRPC; 0: any free one).
    #[arg(long, value_name = "PORT", default_value_t = 50052)]
    grpc_port: u16,
    #[command(flatten)]
    resources: Resources,
    /// Where shuffle files and spills go. Default: a temporary directory, removed on exit.
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

/// What each executor may use.
#[derive(Debug, Args, Clone)]
struct Resources {
    /// Tasks an executor runs at once. Default: the number of cores.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    concurrent_tasks: Option<u16>,
    /// Memory for an executor's running tasks together, e.g. 2G, split evenly between its
    /// task slots; past it, sorts, joins and aggregations spill to the work directory or
    /// the task fails. Default: most of the machine's memory.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_limit: Option<usize>,
}

/// Options of every cluster process.
#[derive(Debug, Args, Clone)]
struct Common {
    /// The least severe of Ballista's messages printed on standard error: error, warn, info
    /// or debug.
    #[arg(long, value_name = "LEVEL", default_value = "warn", value_parser = parse_level)]
    log_level: log::LevelFilter,
    /// Stop when standard input closes (so that a process that started this one takes it
    /// down when it ends, however it ends).
    #[arg(long)]
    stop_with_stdin: bool,
}

/// `segql cluster`.
#[derive(Debug, Args)]
pub(super) struct ClusterArgs {
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Start a scheduler and executors on this machine, print the cluster's address when
    /// every executor has registered, and run them until Ctrl-C or SIGTERM.
    Start(StartArgs),
    /// Fit k-means clusters of customers on their features and write models/NAME.json for
    /// `cluster(NAME) = 3` (the same as `segql clusters fit`).
    Fit(Box<super::models::FitArgs>),
}

/// `segql cluster start`.
#[derive(Debug, Args)]
struct StartArgs {
    /// Number of executor processes.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    executors: u16,
    /// The scheduler's port (0: any free one).
    #[arg(long, value_name = "PORT", default_value_t = segql_runtime::cluster::DEFAULT_SCHEDULER_PORT)]
    port: u16,
    #[command(flatten)]
    resources: Resources,
    /// The directory under which each executor gets its work directory (executor-1, ...).
    /// Default: a temporary directory each.
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// The least severe of Ballista's messages printed on standard error.
    #[arg(long, value_name = "LEVEL", default_value = "warn", value_parser = parse_level)]
    log_level: log::LevelFilter,
}

/// `HOST:PORT` or `ballista://HOST:PORT`.
fn scheduler_url(s: &str) -> Result<ClusterUrl, String> {
    if s.contains("://") {
        ClusterUrl::parse(s)
    } else {
        ClusterUrl::parse(&format!("ballista://{s}"))
    }
}

/// A level of messages: error, warn, info or debug (or off, trace).
fn parse_level(s: &str) -> Result<log::LevelFilter, String> {
    s.parse()
        .map_err(|_| format!("`{s}`: give error, warn, info, debug, trace or off"))
}

/// A line on standard output at once; a reader that went away is no error.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// Ballista's messages on standard error, each with its level and who wrote it.
struct StderrLog {
    who: String,
    level: log::LevelFilter,
}

impl log::Log for StderrLog {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= self.level
    }

    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            let _ = writeln!(
                std::io::stderr().lock(),
                "{} {} [{}] {}",
                self.who,
                r.level(),
                r.target(),
                r.args()
            );
        }
    }

    fn flush(&self) {}
}

/// Sets up the messages and, with `--stop-with-stdin`, the watch on standard input.
fn start_process(who: String, common: &Common) {
    let level = common.log_level;
    if log::set_logger(Box::leak(Box::new(StderrLog { who, level }))).is_ok() {
        log::set_max_level(level);
    }
    if common.stop_with_stdin {
        std::thread::spawn(|| {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
            // An exit runs no destructor: the temporary work directory goes first.
            if let Some(dir) = TEMPORARY_WORK_DIR.get() {
                let _ = std::fs::remove_dir_all(dir);
            }
            std::process::exit(0);
        });
    }
}

/// An executor's temporary work directory (none given), removed when standard input closes.
static TEMPORARY_WORK_DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Runs a scheduler until the process is stopped.
pub(super) async fn scheduler(a: SchedulerArgs) -> Result<ExitCode> {
    start_process("scheduler".into(), &a.common);
    let options = SchedulerOptions {
        bind: a.bind.clone(),
        port: a.port,
        executor_timeout: a.executor_timeout,
    };
    run_scheduler(options, |event| match event {
        SchedulerEvent::Listening(addr) => say(&format!(
            "scheduler listening on ballista://{}:{}",
            addr.ip(),
            addr.port()
        )),
        SchedulerEvent::ExecutorRegistered(id, n) => {
            say(&format!("executor {id} registered ({n} registered)"))
        }
        SchedulerEvent::ExecutorRemoved(id, n) => {
            say(&format!("executor {id} removed ({n} registered)"))
        }
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// Runs an executor until the process is stopped.
pub(super) async fn executor(a: ExecutorArgs) -> Result<ExitCode> {
    // Without --work-dir, a temporary one made here, so that the watch on standard input can
    // remove it (it is also removed when this function returns).
    // `_temp` removes the temporary directory when this function returns.
    let (_temp, work_dir) = match &a.work_dir {
        Some(d) => (None, d.clone()),
        None => {
            let t = tempfile::Builder::new()
                .prefix("segql-executor-")
                .tempdir()
                .map_err(|e| RuntimeError::Io {
                    path: std::env::temp_dir().display().to_string(),
                    reason: e.to_string(),
                })?;
            let path = t.path().to_path_buf();
            let _ = TEMPORARY_WORK_DIR.set(path.clone());
            (Some(t), path)
        }
    };
    let options = ExecutorOptions {
        scheduler: a.scheduler.clone(),
        bind: a.bind.clone(),
        external_host: a.external_host.clone(),
        port: a.port,
        grpc_port: a.grpc_port,
        concurrent_tasks: a.resources.concurrent_tasks.map(usize::from),
        memory_limit: a.resources.memory_limit.map(|b| b as u64),
        work_dir,
    };
    start_process("executor".into(), &a.common);
    let bind = a.bind.clone();
    run_executor(options, |s| {
        say(&format!(
            "executor {} listening on {bind}:{} (tasks on port {}), work directory {}",
            s.id,
            s.port,
            s.grpc_port,
            s.work_dir.display()
        ))
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `segql cluster ...`.
pub(super) async fn cluster(a: ClusterArgs) -> Result<ExitCode> {
    match a.command {
        ClusterCommand::Start(s) => start(s).await,
        ClusterCommand::Fit(f) => super::models::fit(*f).await,
    }
}

/// How long a local cluster may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts the scheduler and the executors as child processes of this binary, and runs them
/// until Ctrl-C, SIGTERM or one of them ends. Each child stops when this process's end
/// closes its standard input, so none outlives it.
async fn start(a: StartArgs) -> Result<ExitCode> {
    use tokio::io::{AsyncBufReadExt, BufReader};
    use tokio::process::{Child, Command};
    use tokio::sync::mpsc;

    let exe = std::env::current_exe().into_diagnostic()?;
    let child = |args: Vec<String>| -> Result<Child> {
        Command::new(&exe)
            .args(args)
            .args(["--stop-with-stdin", "--log-level", a.log_level.as_str()])
            .stdin(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                RuntimeError::Cluster {
                    message: format!("cannot start `{}`: {e}", exe.display()),
                    help: None,
                }
                .into()
            })
    };
    let mut scheduler = Command::new(&exe)
        .args(["scheduler", "--port", &a.port.to_string()])
        .args(["--stop-with-stdin", "--log-level", a.log_level.as_str()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .into_diagnostic()?;
    // The scheduler's lines, read as they come.
    let (tx, mut lines) = mpsc::unbounded_channel::<String>();
    let mut reader = BufReader::new(scheduler.stdout.take().expect("piped")).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = reader.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    let not_started = |what: String| RuntimeError::Cluster {
        message: format!("the cluster did not start: {what}"),
        help: Some("run with --log-level info to see why".into()),
    };
    let url = loop {
        match tokio::time::timeout_at(deadline, lines.recv()).await {
            Ok(Some(line)) => {
                say(&line);
                if let Some(url) = line.strip_prefix("scheduler listening on ") {
                    break url.to_string();
                }
            }
            Ok(None) => return Err(not_started("the scheduler stopped".into()).into()),
            Err(_) => return Err(not_started("the scheduler did not listen".into()).into()),
        }
    };
    let mut executors = Vec::new();
    for i in 1..=a.executors {
        let mut args: Vec<String> = ["executor", "--scheduler", &url, "--port", "0"]
            .into_iter()
            .chain(["--grpc-port", "0"])
            .map(str::to_string)
            .collect();
        if let Some(n) = a.resources.concurrent_tasks {
            args.extend(["--concurrent-tasks".into(), n.to_string()]);
        }
        if let Some(m) = a.resources.memory_limit {
            args.extend(["--memory-limit".into(), m.to_string()]);
        }
        if let Some(d) = &a.work_dir {
            let dir = d.join(format!("executor-{i}"));
            args.extend(["--work-dir".into(), dir.display().to_string()]);
        }
        executors.push(child(args)?);
    }
    let mut registered = 0;
    while registered < usize::from(a.executors) {
        match tokio::time::timeout_at(deadline, lines.recv()).await {
            Ok(Some(line)) => {
                if line.contains(" registered (") {
                    registered += 1;
                }
                say(&line);
            }
            Ok(None) => return Err(not_started("the scheduler stopped".into()).into()),
            Err(_) => {
                return Err(not_started(format!(
                    "{registered} of {} executors registered",
                    a.executors
                ))
                .into());
            }
        }
    }
    say(&format!(
        "cluster ready at {url}: 1 scheduler, {} executors; Ctrl-C stops it\n  segql run --engine {url} ...",
        a.executors
    ));
    let stop = wait_for_stop();
    tokio::pin!(stop);
    let mut watch = tokio::time::interval(Duration::from_millis(200));
    // Why it stops, and whether that is a failure (a process ended by itself). A lost
    // executor is the scheduler's to handle (its tasks run again on the others): the cluster
    // runs on while one is left.
    let mut ended = vec![false; executors.len()];
    let (why, failed) = loop {
        tokio::select! {
            why = &mut stop => break (why, false),
            Some(line) = lines.recv() => say(&line),
            _ = watch.tick() => {
                if let Ok(Some(status)) = scheduler.try_wait() {
                    break (format!("the scheduler ended ({status})"), true);
                }
                for (i, c) in executors.iter_mut().enumerate() {
                    if !ended[i] && let Ok(Some(status)) = c.try_wait() {
                        ended[i] = true;
                        say(&format!("executor process {} ended ({status})", i + 1));
                    }
                }
                if ended.iter().all(|e| *e) {
                    break ("every executor ended".to_string(), true);
                }
            }
        }
    };
    say(&format!("stopping the cluster: {why}"));
    // Closing their standard input stops them; those that linger are killed.
    for c in executors.iter_mut().chain(std::iter::once(&mut scheduler)) {
        drop(c.stdin.take());
    }
    for c in executors.iter_mut().chain(std::iter::once(&mut scheduler)) {
        if tokio::time::timeout(Duration::from_secs(5), c.wait())
            .await
            .is_err()
        {
            let _ = c.kill().await;
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Waits for Ctrl-C or SIGTERM; says which.
async fn wait_for_stop() -> String {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "Ctrl-C".to_string(),
                _ = term.recv() => "SIGTERM".to_string(),
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "Ctrl-C".to_string()
}
