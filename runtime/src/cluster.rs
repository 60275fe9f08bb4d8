//! Running segql's plans on an Apache Ballista cluster: the `ballista://HOST:PORT` address of
//! a scheduler ([`ClusterUrl`]), the client session whose queries the scheduler runs
//! ([`remote_state`]), and the scheduler and executor processes ([`run_scheduler`],
//! [`run_executor`]) with segql's functions registered, so that a cluster runs the same code
//! as the client.
//!
//! The client sends the optimized logical plan (DataFusion's own nodes, file scans and
//! segql's UDFs, see [`crate::physical::RuleSet::portable`]); the scheduler plans it into
//! stages split at shuffles and the executors run their tasks. Every process reads the data
//! files itself: the paths must be the same on every machine, or URLs of an object store
//! that each process reaches with its own environment's credentials ([`crate::stores`]).

use crate::error::RuntimeError;
use ballista_core::extension::SessionStateExt;
use datafusion::execution::SessionState;
use datafusion::execution::registry::FunctionRegistry;
use datafusion::prelude::SessionConfig;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The port a Ballista scheduler listens on unless told otherwise.
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// How long the client waits for a scheduler to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often an executor reports to the scheduler that it is alive.
pub const HEARTBEAT_INTERVAL_SECONDS: u64 = 5;

/// Where an engine runs its queries: `local` or `ballista://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineChoice {
    /// In this process.
    Local,
    /// On the Ballista cluster whose scheduler is at this address.
    Cluster(ClusterUrl),
}

impl EngineChoice {
    /// Parses `local` or a cluster's address ([`ClusterUrl::parse`]).
    pub fn parse(text: &str) -> Result<EngineChoice, String> {
        if text.trim() == "local" {
            Ok(EngineChoice::Local)
        } else {
            ClusterUrl::parse(text)
                .map(EngineChoice::Cluster)
                .map_err(|e| format!("{e} (or `local`)"))
        }
    }
}

/// The cluster queries run on: `choice` (a command's `--engine`), else the project's
/// `[engine] url`; none for this process.
pub fn chosen(choice: Option<&EngineChoice>, project: &crate::Project) -> Option<ClusterUrl> {
    match choice {
        Some(EngineChoice::Local) => None,
        Some(EngineChoice::Cluster(url)) => Some(url.clone()),
        None => project.cluster(),
    }
}

/// The error for `what`, which keeps data in this process's memory, asked of a cluster.
pub fn in_memory_only(what: &str, url: &ClusterUrl) -> RuntimeError {
    RuntimeError::Usage {
        message: format!(
            "{what} keeps data in this process's memory, which the executors of {url} cannot read"
        ),
        help: Some("run it here: `--engine local`".into()),
    }
}

/// The address of a Ballista scheduler: `ballista://HOST:PORT` (the port defaults to 50050).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterUrl {
    /// Host name or IP address.
    pub host: String,
    /// gRPC port.
    pub port: u16,
}

impl ClusterUrl {
    /// Parses `ballista://HOST[:PORT]`; the error says what is wrong, for a diagnostic.
    pub fn parse(text: &str) -> Result<ClusterUrl, String> {
        let t = text.trim();
        let example = "give it like ballista://localhost:50050";
        let Some(rest) = t.strip_prefix("ballista://") else {
            return Err(match t.split_once("://") {
                Some((scheme, _)) => {
                    format!(
                        "`{t}`: segql runs on Ballista clusters only, not `{scheme}://`; {example}"
                    )
                }
                None => format!("`{t}` is not a cluster address; {example}"),
            });
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "`{t}`: an address is only a host and a port; {example}"
            ));
        }
        let (host, port) = match rest.rsplit_once(':') {
            // An IPv6 address in brackets has colons of its own.
            Some((h, p)) if !p.contains(']') => {
                let port =
                    p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                        format!("`{t}`: `{p}` is not a port (1 to 65535); {example}")
                    })?;
                (h, port)
            }
            _ => (rest, DEFAULT_SCHEDULER_PORT),
        };
        if host.is_empty() {
            return Err(format!("`{t}` names no host; {example}"));
        }
        Ok(ClusterUrl {
            host: host.to_string(),
            port,
        })
    }

    /// The scheduler's gRPC endpoint, as Ballista's client takes it.
    pub fn endpoint(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// `HOST:PORT`.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl fmt::Display for ClusterUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ballista://{}:{}", self.host, self.port)
    }
}

/// Checks that something accepts connections at the scheduler's address within
/// [`CONNECT_TIMEOUT`], so that a wrong address fails at once with advice instead of at the
/// first query.
pub async fn reach(url: &ClusterUrl) -> Result<(), RuntimeError> {
    let failed = |reason: String| RuntimeError::Cluster {
        message: format!("no Ballista scheduler answers at {url}: {reason}"),
        help: Some(
            "start one with `segql cluster start` (on this machine) or `segql scheduler`, or fix \
             --engine / [engine] url in segql.toml (`--engine local` runs here)"
                .into(),
        ),
    };
    match tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect(url.authority()),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(failed(e.to_string())),
        Err(_) => Err(failed(format!(
            "no answer in {} seconds",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// `state` (segql's settings, functions and portable rules) made a client of the scheduler
/// at `url`: its queries are planned and run there.
///
/// Two settings keep Ballista 55 from leaving a job waiting forever: its static planner
/// plans the stages (not the adaptive one, on by default), and DataFusion's dynamic filters
/// are off (the scheduler re-plans a stage's hash join after they were built, which fails
/// with "Cannot swap HashJoinExec inputs after dynamic filters have been constructed" and
/// the job never ends: the fixtures of `examples/coalition/tests/offers.segtest`). Both are
/// sent to the scheduler with the query's settings.
pub fn remote_state(state: SessionState, url: &ClusterUrl) -> Result<SessionState, RuntimeError> {
    use ballista_core::extension::SessionConfigExt;
    let mut config = state
        .config()
        .clone()
        .with_ballista_adaptive_query_planner(false);
    let optimizer = &mut config.options_mut().optimizer;
    optimizer.enable_dynamic_filter_pushdown = false;
    optimizer.enable_join_dynamic_filter_pushdown = false;
    optimizer.enable_topk_dynamic_filter_pushdown = false;
    optimizer.enable_aggregate_dynamic_filter_pushdown = false;
    datafusion::execution::SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .build()
        .upgrade_for_ballista(url.endpoint())
        .map_err(|e| RuntimeError::data(format!("connecting to {url}"), e))
}

/// segql's functions added to a Ballista session, so that plans naming them resolve.
fn with_segql_functions(mut state: SessionState) -> datafusion::common::Result<SessionState> {
    for f in segql_compiler::udf::all() {
        state.register_udf(Arc::new(f))?;
    }
    Ok(state)
}

/// The scheduler's sessions: Ballista's, with segql's functions and object stores (it lists
/// a table's files when it plans the stages).
fn scheduler_session(config: SessionConfig) -> datafusion::common::Result<SessionState> {
    let state = ballista_core::utils::default_session_builder(config)?;
    let state = datafusion::execution::SessionStateBuilder::new_from_existing(state)
        .with_runtime_env(crate::stores::runtime_env())
        .build();
    with_segql_functions(state)
}

/// The runtime of an executor's tasks: spills in `work_dir`, object stores from the
/// executor's own environment (Ballista's memory pool is set on it afterwards).
fn executor_runtime(work_dir: PathBuf) -> ballista_core::RuntimeProducer {
    Arc::new(move |_| {
        datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
            .with_temp_file_path(work_dir.clone())
            .with_object_store_registry(crate::stores::registry())
            .build_arc()
    })
}

/// The functions an executor resolves plans' function names with: DataFusion's and segql's.
fn executor_functions() -> ballista_core::registry::BallistaFunctionRegistry {
    let mut registry = ballista_core::registry::BallistaFunctionRegistry::default();
    for f in segql_compiler::udf::all() {
        registry
            .scalar_functions
            .insert(f.name().to_string(), Arc::new(f));
    }
    registry
}

/// How a scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// The address to listen on (`127.0.0.1`: this machine only; `0.0.0.0`: every interface).
    pub bind: String,
    /// The port (0: any free one).
    pub port: u16,
    /// Seconds without a heartbeat after which an executor counts as lost and its tasks run
    /// again elsewhere.
    pub executor_timeout: u64,
}

/// What a running scheduler reports, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchedulerEvent {
    /// It listens at this address.
    Listening(SocketAddr),
    /// An executor registered; this many are registered now.
    ExecutorRegistered(String, usize),
    /// An executor stopped or was lost; this many are left.
    ExecutorRemoved(String, usize),
}

/// Runs a Ballista scheduler with segql's functions until the process stops, telling
/// `report` when it listens and when executors come and go.
pub async fn run_scheduler(
    options: SchedulerOptions,
    mut report: impl FnMut(SchedulerEvent) + Send + 'static,
) -> Result<(), RuntimeError> {
    use ballista_scheduler::cluster::{BallistaCluster, ClusterStateEvent};
    use ballista_scheduler::config::SchedulerConfig;
    use ballista_scheduler::scheduler_process::{
        create_scheduler, start_grpc_service_with_listener,
    };
    use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
    use futures::StreamExt;

    let address = format!("{}:{}", options.bind, options.port);
    let listener =
        tokio::net::TcpListener::bind(&address)
            .await
            .map_err(|e| RuntimeError::Cluster {
                message: format!("the scheduler cannot listen on {address}: {e}"),
                help: Some("choose another --port, or stop what uses this one".into()),
            })?;
    let bound = listener.local_addr().map_err(|e| RuntimeError::Cluster {
        message: format!("the scheduler's address: {e}"),
        help: None,
    })?;
    let timeout = options.executor_timeout.max(HEARTBEAT_INTERVAL_SECONDS + 1);
    let config = SchedulerConfig {
        bind_host: options.bind.clone(),
        bind_port: bound.port(),
        executor_timeout_seconds: timeout,
        expire_dead_executor_interval_seconds: timeout.clamp(1, 15),
        no_executors_grace_period_seconds: timeout,
        ..SchedulerConfig::default()
    }
    .with_override_session_builder(Arc::new(scheduler_session));
    let failed = |what: &str, e: ballista_core::error::BallistaError| RuntimeError::Cluster {
        message: format!("the scheduler {what}: {e}"),
        help: None,
    };
    config
        .validate()
        .map_err(|e| failed("is misconfigured", e))?;
    let config = Arc::new(config);
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| failed("cannot start", e))?;
    let scheduler = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, config)
        .await
        .map_err(|e| failed("cannot start", e))?;
    let mut events = scheduler
        .cluster_state_events()
        .await
        .map_err(|e| failed("cannot watch its executors", e))?;
    report(SchedulerEvent::Listening(bound));
    tokio::spawn(async move {
        let mut registered = std::collections::BTreeSet::new();
        while let Some(event) = events.next().await {
            match event {
                ClusterStateEvent::RegisteredExecutor { executor_id } => {
                    registered.insert(executor_id.clone());
                    report(SchedulerEvent::ExecutorRegistered(
                        executor_id,
                        registered.len(),
                    ));
                }
                ClusterStateEvent::RemovedExecutor { executor_id } => {
                    registered.remove(&executor_id);
                    report(SchedulerEvent::ExecutorRemoved(
                        executor_id,
                        registered.len(),
                    ));
                }
            }
        }
    });
    start_grpc_service_with_listener(listener, scheduler)
        .await
        .map_err(|e| failed("stopped", e))
}

/// How an executor runs.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler to register with.
    pub scheduler: ClusterUrl,
    /// The address to listen on.
    pub bind: String,
    /// The host name the scheduler and the other executors reach this one by (default: the
    /// address the scheduler sees it connect from).
    pub external_host: Option<String>,
    /// The Arrow Flight port other executors and clients fetch results from (0: any free one).
    pub port: u16,
    /// The gRPC port the scheduler sends tasks to (0: any free one).
    pub grpc_port: u16,
    /// Tasks run at once (default: the number of cores).
    pub concurrent_tasks: Option<usize>,
    /// Memory for all running tasks together, in bytes, shared evenly between the task
    /// slots; past it, sorts, joins and aggregations spill to the work directory or fail.
    pub memory_limit: Option<u64>,
    /// Where shuffle files and spills go (made when missing; the caller removes a temporary
    /// one).
    pub work_dir: PathBuf,
}

/// What an executor is, once it has its ports.
#[derive(Debug, Clone)]
pub struct ExecutorStarted {
    /// The id the scheduler knows it by.
    pub id: String,
    /// The Arrow Flight port.
    pub port: u16,
    /// The gRPC port.
    pub grpc_port: u16,
    /// The work directory.
    pub work_dir: PathBuf,
}

/// A port that is free now: `port` itself unless it is 0.
fn free_port(bind: &str, port: u16) -> Result<u16, RuntimeError> {
    if port != 0 {
        return Ok(port);
    }
    std::net::TcpListener::bind((bind, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| RuntimeError::Cluster {
            message: format!("no free port on {bind}: {e}"),
            help: Some("give --port and --grpc-port".into()),
        })
}

/// Runs a Ballista executor with segql's functions until the process is stopped (Ctrl-C,
/// SIGTERM) or the scheduler tells it to stop; `started` hears its ports first.
pub async fn run_executor(
    options: ExecutorOptions,
    started: impl FnOnce(&ExecutorStarted),
) -> Result<(), RuntimeError> {
    use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
    let port = free_port(&options.bind, options.port)?;
    let mut grpc_port = free_port(&options.bind, options.grpc_port)?;
    while grpc_port == port {
        grpc_port = free_port(&options.bind, 0)?;
    }
    let work_dir = options.work_dir.clone();
    std::fs::create_dir_all(&work_dir).map_err(|e| RuntimeError::Io {
        path: work_dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let defaults = ExecutorProcessConfig::default();
    let config = ExecutorProcessConfig {
        bind_host: options.bind.clone(),
        external_host: options.external_host.clone(),
        port,
        grpc_port,
        scheduler_host: options.scheduler.host.clone(),
        scheduler_port: options.scheduler.port,
        scheduler_connect_timeout_seconds: CONNECT_TIMEOUT.as_secs() as u16,
        vcores: options.concurrent_tasks.unwrap_or(0),
        work_dir: Some(work_dir.display().to_string()),
        executor_heartbeat_interval_seconds: HEARTBEAT_INTERVAL_SECONDS,
        memory_pool_size: options.memory_limit,
        // Shuffle files of finished jobs are removed after an hour.
        job_data_ttl_seconds: 3600,
        job_data_clean_up_interval_seconds: 600,
        override_function_registry: Some(Arc::new(executor_functions())),
        override_runtime_producer: Some(executor_runtime(work_dir.clone())),
        ..defaults
    };
    started(&ExecutorStarted {
        id: config.executor_id.clone(),
        port,
        grpc_port,
        work_dir: work_dir.clone(),
    });
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| RuntimeError::Cluster {
            message: format!("the executor stopped: {e}"),
            help: Some(format!(
                "check that a scheduler runs at {} (`segql scheduler`)",
                options.scheduler
            )),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_parse_with_a_default_port() {
        let u = ClusterUrl::parse("ballista://example.org").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("example.org", 50050));
        let u = ClusterUrl::parse(" ballista://10.0.0.7:6000/ ").unwrap();
        assert_eq!(u.to_string(), "ballista://10.0.0.7:6000");
        assert_eq!(u.endpoint(), "http://10.0.0.7:6000");
    }

    #[test]
    fn bad_cluster_urls_say_what_is_wrong() {
        for (text, says) in [
            ("http://h:1", "not `http://`"),
            ("localhost:50050", "not a cluster address"),
            ("ballista://h:99999", "not a port"),
            ("ballista://h:0", "not a port"),
            ("ballista://:1", "names no host"),
            ("ballista://h:1/db", "only a host and a port"),
        ] {
            let e = ClusterUrl::parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn every_side_of_a_cluster_knows_segqls_functions() {
        let registry = executor_functions();
        let state = scheduler_session(SessionConfig::new()).unwrap();
        for f in segql_compiler::udf::all() {
            assert!(
                registry.udf(f.name()).is_ok(),
                "executor lacks {}",
                f.name()
            );
            assert!(state.udf(f.name()).is_ok(), "scheduler lacks {}", f.name());
        }
    }

    #[test]
    fn every_side_of_a_cluster_resolves_object_store_urls() {
        use datafusion::execution::object_store::ObjectStoreUrl;
        // Making a bucket's store reads the environment and asks nothing of the network.
        let url = ObjectStoreUrl::parse("s3://segql-any-bucket").unwrap();
        let scheduler = scheduler_session(SessionConfig::new()).unwrap();
        assert!(scheduler.runtime_env().object_store(&url).is_ok());
        let dir = tempfile::tempdir().unwrap();
        let executor = executor_runtime(dir.path().to_path_buf())(&SessionConfig::new()).unwrap();
        assert!(executor.object_store(&url).is_ok());
        // DataFusion's own registry knows no such store.
        let plain = datafusion::execution::runtime_env::RuntimeEnv::default();
        assert!(plain.object_store(&url).is_err());
    }
}
