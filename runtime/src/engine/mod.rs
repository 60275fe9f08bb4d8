//! The engine: a DataFusion session over a project's tables, with the catalog segments are
//! compiled against, configured with segql's physical rules (`physical/`).

pub mod rhythms;

use crate::cluster::{ClusterUrl, EngineChoice};
use crate::error::RuntimeError;
use crate::physical::{Rule, RuleSet, read_once};
use crate::project::Project;
use crate::sources::{Kind, Tables, load_tables, probe};
use chrono::NaiveDate;
use datafusion::arrow::array::{Array, Date32Array};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::functions_aggregate::expr_fn::max;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, ident, lit};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use segql_compiler::{Catalog, Wanted};
use std::sync::Arc;

/// Options of a session.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Evaluate as of this date instead of the project's or the latest transaction date.
    pub as_of: Option<NaiveDate>,
    /// Parallelism (default: the number of cores).
    pub target_partitions: Option<usize>,
    /// Memory for query execution in bytes; past it, sorts and aggregations spill to disk
    /// or fail with a clear error instead of exhausting the machine.
    pub memory_limit: Option<usize>,
    /// Read the customers and communications tables only when a segment compiled with
    /// [`Engine::compile`] needs them, instead of when the engine opens (see
    /// [`crate::sources::load_tables`] for when they are read at once anyway).
    pub tables_when_needed: bool,
    /// segql physical rules not to apply, by name as typed (`collect_build_side`, with or
    /// without the `segql_` prefix; see [`crate::physical::Rule::named`]).
    pub disabled_rules: Vec<String>,
    /// Plans of DataFusion's own nodes and segql's UDFs only: no segql physical rule and no
    /// in-memory rewrite (for engines that run DataFusion plans elsewhere).
    pub portable: bool,
    /// Where the queries run: in this process or on a Ballista cluster (whose plans are then
    /// portable). Default: the project's `[engine]`, else this process.
    pub engine: Option<EngineChoice>,
}

/// A session over one project.
pub struct Engine {
    ctx: SessionContext,
    rules: RuleSet,
    cluster: Option<ClusterUrl>,
    /// The project.
    pub project: Project,
    /// The normalized tables.
    pub tables: Tables,
    /// What segments compile against.
    pub catalog: Catalog,
    /// The campaigns' responses are in the catalog ([`Engine::read_responses`]).
    responses_read: bool,
}

impl Engine {
    /// Opens the project's tables. With `need_as_of` false and no date given, no data is
    /// scanned (the as-of date is then a placeholder, fine for checking but not for running).
    pub async fn open(
        project: Project,
        options: EngineOptions,
        need_as_of: bool,
    ) -> Result<Engine, RuntimeError> {
        let cluster = crate::cluster::chosen(options.engine.as_ref(), &project);
        let rules = RuleSet::from_options(
            &options.disabled_rules,
            options.portable || cluster.is_some(),
        )?;
        if let Some(url) = &cluster {
            if options.memory_limit.is_some() {
                return Err(RuntimeError::Usage {
                    message: format!(
                        "--memory-limit limits this process, and the queries run on {url}"
                    ),
                    help: Some(
                        "give each executor its limit: `segql executor --memory-limit SIZE`".into(),
                    ),
                });
            }
            crate::cluster::reach(url).await?;
        }
        // DataFusion's own settings can be tuned with `DATAFUSION_*` environment variables
        // (e.g. `DATAFUSION_EXECUTION_BATCH_SIZE`); the command line's options win.
        let mut config = SessionConfig::from_env().map_err(|e| RuntimeError::Usage {
            message: format!("a DATAFUSION_* environment variable is invalid: {e}"),
            help: Some("see DataFusion's configuration settings, or unset the variable".into()),
        })?;
        segql_settings(&mut config);
        if let Some(n) = options.target_partitions {
            config = config.with_target_partitions(n.max(1));
        }
        // `s3://` and `gs://` tables through this process's object stores.
        let mut runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
            .with_object_store_registry(crate::stores::registry());
        if let Some(bytes) = options.memory_limit {
            runtime = runtime.with_memory_limit(bytes, 1.0);
        }
        let runtime = runtime
            .build_arc()
            .map_err(|e| RuntimeError::data("setting up the memory limit", e))?;
        // segql's physical rules that are on (`physical/`).
        let state = datafusion::execution::SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_physical_optimizer_rules(rules.optimizer_rules())
            .build();
        let state = match &cluster {
            Some(url) => crate::cluster::remote_state(state, url)?,
            None => state,
        };
        let ctx = SessionContext::new_with_state(state);
        for f in segql_compiler::udf::all() {
            ctx.register_udf(f);
        }
        let tables = load_tables(&ctx, &project, options.tables_when_needed).await?;
        let as_of = match options.as_of.or(project.as_of()) {
            Some(d) => d,
            // The latest date, from the files' statistics when they prove it.
            None if need_as_of => match tables.facts {
                segql_compiler::DataFacts {
                    ids_present: true,
                    dates: Some((_, latest)),
                } => latest,
                _ => match latest_date(&ctx, &project, &tables.transactions).await {
                    Ok(d) => d,
                    Err(e) => {
                        let tx = [Kind::Transactions];
                        return Err(probe::explain(&project, e, &tx).await);
                    }
                },
            },
            None => chrono::Utc::now().date_naive(),
        };
        let mut catalog = Catalog::new(tables.transactions.clone(), as_of);
        catalog.lifecycle = project.lifecycle();
        catalog.partner_lifecycle = project.partner_lifecycle();
        catalog.ranking = project.ranking();
        catalog.facts = tables.facts;
        set_tables(&mut catalog, &tables);
        let mut engine = Engine {
            ctx,
            rules,
            cluster,
            project,
            tables,
            catalog,
            responses_read: false,
        };
        engine.reload_snapshots().await?;
        engine.catalog.models = crate::models::load(&engine.project);
        engine.catalog.scores = crate::models::load_scores(&engine.project);
        engine.check_models_responses();
        let derived = engine.project.derived_partners();
        if need_as_of && !derived.is_empty() {
            // Partners with `derive = true`: thresholds from their purchase gaps, unless set.
            let rhythms = rhythms::partner_rhythms(&engine, &derived).await?;
            for r in rhythms {
                let set = engine
                    .project
                    .file
                    .lifecycle
                    .as_ref()
                    .and_then(|l| l.get_ref().partners.get(&r.partner).copied())
                    .unwrap_or_default();
                let t = engine
                    .catalog
                    .partner_lifecycle
                    .entry(r.partner.clone())
                    .or_insert(r.thresholds);
                t.at_risk_days = set.at_risk_days.unwrap_or(r.thresholds.at_risk_days);
                t.churned_days = set.churned_days.unwrap_or(r.thresholds.churned_days);
                t.lost_days = set.lost_days.unwrap_or(r.thresholds.lost_days);
                if let Err(m) = t.validate() {
                    return Err(RuntimeError::ProjectInvalid {
                        message: format!(
                            "[lifecycle.partners.{:?}] with derived thresholds: {m}",
                            r.partner
                        ),
                        src: engine.project.source.clone(),
                        span: None,
                    });
                }
            }
        }
        Ok(engine)
    }

    /// Puts how each campaign of the project's segment files is responded to in the catalog
    /// (`Catalog::responses`, and the files that did not load), once: what the features'
    /// responses to past campaigns count. Done as the engine opens when a model counts them,
    /// and before a feature set is chosen.
    pub fn read_responses(&mut self) {
        if !self.responses_read {
            (self.catalog.responses, self.catalog.unloaded) =
                project_responses(&self.project, &self.catalog);
            self.responses_read = true;
        }
    }

    /// A model whose features count past campaigns needs their responses as it was fitted
    /// with: reads them, and makes each model whose campaign is no longer defined, does not
    /// resolve or has another response unusable, with the reason (as a model of another
    /// feature-set version is).
    fn check_models_responses(&mut self) {
        let models = self.catalog.models.values().flatten().map(|m| &m.features);
        let scores = self.catalog.scores.values().flatten().map(|s| &s.features);
        if !models.chain(scores).any(|f| f.reads_campaigns()) {
            return;
        }
        self.read_responses();
        let catalog = &self.catalog;
        let why = |file: &str, set| {
            let why = catalog.unknown_responses(set)?;
            Some(format!("{file}: {why}"))
        };
        let models: Vec<(String, String)> = catalog
            .models
            .iter()
            .filter_map(|(n, m)| {
                let m = m.as_ref().ok()?;
                Some((n.clone(), why(&m.file, &m.features)?))
            })
            .collect();
        let scores: Vec<(String, String)> = catalog
            .scores
            .iter()
            .filter_map(|(n, m)| {
                let m = m.as_ref().ok()?;
                Some((n.clone(), why(&m.file, &m.features)?))
            })
            .collect();
        for (name, why) in models {
            self.catalog.models.insert(name, Err(why));
        }
        for (name, why) in scores {
            self.catalog.scores.insert(name, Err(why));
        }
    }

    /// Reads the project's snapshot directory again (after a snapshot was taken), so that
    /// `treated`, `held_out` and `responded` see every snapshot.
    pub async fn reload_snapshots(&mut self) -> Result<(), RuntimeError> {
        let files = crate::snapshots::list(&self.project)?;
        self.catalog.snapshots = crate::snapshots::tables(
            &self.ctx,
            &files,
            &crate::sources::normalize::id_type(&self.tables.transactions),
        )
        .await?;
        // The look-alikes' feature set names the campaigns with a snapshot: again when wanted.
        self.catalog.features = None;
        Ok(())
    }

    /// Every transaction line of the files, those without a customer id included (the
    /// tables' plan leaves them out: they belong to no customer). Only the KPI report reads
    /// them, as receipts of non-members.
    pub fn transaction_lines(&self) -> LogicalPlan {
        match &self.tables.transactions {
            LogicalPlan::Filter(f) if f.predicate == ident("customer_id").not_eq(lit("")) => {
                f.input.as_ref().clone()
            }
            plan => plan.clone(),
        }
    }

    /// An engine for compiling only: the project's tables as of `as_of`, their schemas read
    /// and no data (for tools that compile without running, such as fuzzing and the
    /// compile-time benchmarks).
    pub async fn for_compiling(project: Project, as_of: NaiveDate) -> Result<Engine, RuntimeError> {
        let options = EngineOptions {
            as_of: Some(as_of),
            ..EngineOptions::default()
        };
        Engine::open(project, options, false).await
    }

    /// Runs `compile` against the catalog. When it asked for tables not read yet (and so
    /// compiled as if they were absent), reads them and runs it again.
    pub async fn compile<T>(
        &mut self,
        mut compile: impl FnMut(&Catalog) -> T,
    ) -> Result<T, RuntimeError> {
        self.catalog.take_wanted();
        self.catalog.take_features_wanted();
        loop {
            self.catalog.record_wanted(true);
            let out = compile(&self.catalog);
            self.catalog.record_wanted(false);
            let wanted = self.catalog.take_wanted();
            let features = self.catalog.take_features_wanted();
            if !wanted.any() && !features {
                return Ok(out);
            }
            if wanted.any() {
                self.read(wanted).await?;
            }
            if features {
                // Computing them compiles (and reads the customers): no recursion back here,
                // as that compilation does not ask for them.
                let set = Box::pin(crate::models::lookalike_feature_set(self)).await?;
                self.catalog.features = Some(set);
            }
        }
    }

    /// Computes what a plan of `preds` needs beyond the tables before it is compiled outside
    /// [`Engine::compile`] (the REPL's profile, its warm copy): the look-alikes' feature set
    /// when one of them names a look-alike.
    pub async fn prepare(
        &mut self,
        preds: &[&segql_compiler::ir::Pred],
    ) -> Result<(), RuntimeError> {
        let looks = preds.iter().any(|p| {
            p.values()
                .iter()
                .any(|v| matches!(v, segql_compiler::ir::Value::Lookalike(_)))
        });
        if looks && self.catalog.features.is_none() {
            let set = crate::models::lookalike_feature_set(self).await?;
            self.catalog.features = Some(set);
        }
        Ok(())
    }

    /// Reads the tables in `wanted` that are still unread; `tables.unread` names them all.
    /// A failure is explained by probing those tables' files.
    pub async fn read(&mut self, wanted: Wanted) -> Result<(), RuntimeError> {
        crate::sources::read_unread(&self.ctx, &self.project, &mut self.tables, wanted).await?;
        self.catalog.transactions = self.tables.transactions.clone();
        set_tables(&mut self.catalog, &self.tables);
        Ok(())
    }

    /// The DataFusion session.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The Ballista cluster the engine runs its queries on, if not in this process.
    pub fn cluster(&self) -> Option<&ClusterUrl> {
        self.cluster.as_ref()
    }

    /// The segql physical rules the engine applies.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// The physical plan of `plan`: DataFusion's optimizer and planner, with the CSV tables
    /// the plan scans more than once read once when that rule is on
    /// (`physical/read_once.rs`). Reading those is the only work done before the plan runs;
    /// its errors are explained like the run's.
    pub async fn physical(
        &self,
        plan: &LogicalPlan,
    ) -> Result<Arc<dyn ExecutionPlan>, RuntimeError> {
        let state = self.ctx.state();
        let mut optimized = self.optimize(plan)?;
        if let Some(url) = &self.cluster
            && let Some(table) = in_memory_table(&optimized)
        {
            let what = format!("this command's plan (its table `{table}`)");
            return Err(crate::cluster::in_memory_only(&what, url));
        }
        if self.rules.is_on(Rule::ReadOnce) {
            let budget = read_once::budget(&state);
            optimized = match read_once::read_once(&state, optimized, budget).await {
                Ok(p) => p,
                Err(e) => {
                    let e = RuntimeError::data("running the query", e);
                    return Err(probe::explain(&self.project, e, &self.tables.read_kinds()).await);
                }
            };
        }
        state
            .query_planner()
            .create_physical_plan(&optimized, &state)
            .await
            .map_err(|e| RuntimeError::data("planning the query", e))
    }

    /// The distinct values of a text column of the transactions (`partner`, `category`, ...),
    /// sorted; none when the data has no such column.
    pub async fn tx_values(&self, column: &str) -> Result<Vec<String>, RuntimeError> {
        if !self.catalog.has_tx_column(column) {
            return Ok(Vec::new());
        }
        self.distinct_values(&self.tables.transactions, column)
            .await
    }

    /// The distinct values of `column` of `plan` as text (no NULL), sorted.
    pub async fn distinct_values(
        &self,
        plan: &LogicalPlan,
        column: &str,
    ) -> Result<Vec<String>, RuntimeError> {
        use datafusion::arrow::array::AsArray;
        use datafusion::logical_expr::{LogicalPlanBuilder, cast, ident};
        let q = LogicalPlanBuilder::from(plan.clone())
            .project(vec![
                cast(ident(column), datafusion::arrow::datatypes::DataType::Utf8).alias("v"),
            ])
            .and_then(|b| b.filter(ident("v").is_not_null()))
            .and_then(|b| b.distinct())
            .and_then(|b| b.build())
            .map_err(|e| RuntimeError::data(format!("listing the values of `{column}`"), e))?;
        let mut values: Vec<String> = Vec::new();
        for b in self.collect(q).await? {
            values.extend(
                b.column(0)
                    .as_string::<i32>()
                    .iter()
                    .flatten()
                    .map(str::to_string),
            );
        }
        values.sort();
        Ok(values)
    }

    /// Checks that every name in `partners` (a `--partner` flag) is a partner of the data: an
    /// error names the closest one and lists them all.
    pub async fn check_partners(&self, partners: &[String]) -> Result<(), RuntimeError> {
        if partners.is_empty() {
            return Ok(());
        }
        let known = self.tx_values("partner").await?;
        for p in partners {
            if known.contains(p) {
                continue;
            }
            let close = segql_compiler::error::closest(p, known.iter().map(String::as_str))
                .map(|c| format!("did you mean \"{c}\"? "))
                .unwrap_or_default();
            return Err(RuntimeError::Usage {
                message: format!("no partner \"{p}\" in the transactions"),
                help: Some(if known.is_empty() {
                    "the transactions have no partner values: map a `partner` column under [transactions.columns]".into()
                } else {
                    format!(
                        "{close}partners (case matters): {}",
                        known
                            .iter()
                            .map(|k| format!("\"{k}\""))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }),
            });
        }
        Ok(())
    }

    /// Runs a plan and collects every batch.
    pub async fn collect(&self, plan: LogicalPlan) -> Result<Vec<RecordBatch>, RuntimeError> {
        let physical = self.physical(&plan).await?;
        match datafusion::physical_plan::collect(physical, self.ctx.task_ctx()).await {
            Ok(b) => Ok(b),
            Err(e) => {
                let e = RuntimeError::data("running the query", e);
                Err(probe::explain(&self.project, e, &self.tables.read_kinds()).await)
            }
        }
    }

    /// Runs a plan as a stream of batches. When a batch fails on the data, the error the
    /// stream yields names the file, column and value if the probe finds them.
    pub async fn stream(
        &self,
        plan: LogicalPlan,
    ) -> Result<SendableRecordBatchStream, RuntimeError> {
        use datafusion::error::DataFusionError;
        use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
        use futures::StreamExt;
        let physical = self.physical(&plan).await?;
        let stream = match datafusion::physical_plan::execute_stream(physical, self.ctx.task_ctx())
        {
            Ok(s) => s,
            Err(e) => {
                let e = RuntimeError::data("running the query", e);
                return Err(probe::explain(&self.project, e, &self.tables.read_kinds()).await);
            }
        };
        let schema = stream.schema();
        let project = self.project.clone();
        let kinds = self.tables.read_kinds();
        let explained = stream.then(move |item| {
            let project = project.clone();
            let kinds = kinds.clone();
            async move {
                match item {
                    Err(e) if probe::worth_probing(&e.to_string()) => {
                        match probe::find_unreadable(&project, &kinds).await {
                            Err(found) => Err(DataFusionError::External(Box::new(found))),
                            Ok(()) => Err(e),
                        }
                    }
                    other => other,
                }
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, explained)))
    }

    /// The plan after DataFusion's optimizer.
    pub fn optimize(&self, plan: &LogicalPlan) -> Result<LogicalPlan, RuntimeError> {
        self.ctx
            .state()
            .optimize(plan)
            .map_err(|e| RuntimeError::data("optimizing the query", e))
    }

    /// The physical plan, as text. On a cluster: the scheduler's physical plan and the
    /// stages it runs it in, as the scheduler explains them.
    pub async fn physical_plan(&self, plan: &LogicalPlan) -> Result<String, RuntimeError> {
        if let Some(url) = &self.cluster {
            use datafusion::arrow::array::AsArray;
            let explain = LogicalPlanBuilder::from(plan.clone())
                .explain(false, false)
                .and_then(|b| b.build())
                .map_err(|e| RuntimeError::data("explaining the query", e))?;
            let mut parts = Vec::new();
            for b in self.collect(explain).await? {
                let (Some(kind), Some(text)) = (
                    b.column(0).as_string_opt::<i32>(),
                    b.column(1).as_string_opt::<i32>(),
                ) else {
                    return Err(RuntimeError::Usage {
                        message: format!(
                            "the scheduler at {url} explained the plan in columns of an unexpected type"
                        ),
                        help: Some("run `segql explain` with `--engine local`".into()),
                    });
                };
                for i in 0..b.num_rows() {
                    match kind.value(i) {
                        "physical_plan" => {
                            parts.push(format!("Physical plan on {url}:\n{}", text.value(i)))
                        }
                        "distributed_plan" => {
                            parts.push(format!("Stages:\n{}", text.value(i).trim_end()))
                        }
                        _ => {}
                    }
                }
            }
            return Ok(parts.join("\n"));
        }
        let physical = self.physical(plan).await?;
        Ok(datafusion::physical_plan::displayable(physical.as_ref())
            .indent(false)
            .to_string())
    }
}

/// The name of a table of `plan` held in this process's memory, if any: a cluster cannot be
/// sent one (it has file scans and values only).
fn in_memory_table(plan: &LogicalPlan) -> Option<String> {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut found = None;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(provider) = datafusion::datasource::source_as_provider(&scan.source)
            && provider
                .downcast_ref::<datafusion::datasource::listing::ListingTable>()
                .is_none()
        {
            found = Some(scan.table_name.to_string());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// Gives the catalog the tables read, and marks those not read yet.
fn set_tables(catalog: &mut Catalog, tables: &Tables) {
    if let (Some(merged), Some(rows)) = (&tables.customers, &tables.customer_rows) {
        catalog.set_customers(merged.clone(), rows.clone());
    }
    if let Some(c) = &tables.communications {
        catalog.set_communications(c.clone());
    }
    catalog.set_unread(tables.unread);
}

/// The latest transaction date: the default as-of date.
async fn latest_date(
    ctx: &SessionContext,
    project: &Project,
    tx: &LogicalPlan,
) -> Result<NaiveDate, RuntimeError> {
    let plan = LogicalPlanBuilder::from(tx.clone())
        .aggregate(Vec::<Expr>::new(), vec![max(ident("ts")).alias("latest")])
        .and_then(|b| b.build())
        .map_err(|e| RuntimeError::data("finding the latest transaction date", e))?;
    let batches = ctx
        .execute_logical_plan(plan)
        .await
        .map_err(|e| RuntimeError::data("reading transactions", e))?
        .collect()
        .await
        .map_err(|e| RuntimeError::data("reading transactions", e))?;
    let latest = batches
        .iter()
        .filter(|b| b.num_rows() > 0)
        .filter_map(|b| b.column(0).as_any().downcast_ref::<Date32Array>().cloned())
        .find_map(|a| if a.is_null(0) { None } else { Some(a.value(0)) });
    let path = project
        .file
        .transactions
        .as_ref()
        .map(|t| t.get_ref().path.get_ref().clone())
        .unwrap_or_default();
    match latest {
        Some(days) => NaiveDate::from_ymd_opt(1970, 1, 1)
            .and_then(|epoch| epoch.checked_add_signed(chrono::Duration::days(days as i64)))
            .ok_or_else(|| RuntimeError::Empty {
                message: format!(
                    "the latest date of the transactions `{path}` is {days} days after 1970-01-01, past any calendar"
                ),
                help: Some("check the dates of the transactions file, or give --as-of DATE".into()),
            }),
        None => Err(RuntimeError::Empty {
            message: format!(
                "the transactions `{path}` have no dated rows, so there is no latest date to evaluate as of"
            ),
            help: Some(
                "a file with a header and no rows counts nothing: give --as-of DATE to evaluate it anyway".into(),
            ),
        }),
    }
}

/// segql's defaults for DataFusion settings, each unless its `DATAFUSION_*` variable is set.
///
/// Partial aggregation is skipped when it keeps more than half of its input rows (DataFusion's
/// default: 80%). The roll-up of lines into receipts keeps about 57%: skipping it made the
/// simple workload at 22.5M lines about 15% faster and its peak memory 37% lower
/// (`bench/RESULTS.md`). Aggregations by customer keep a few percent and still run in two
/// phases.
pub fn segql_settings(config: &mut SessionConfig) {
    if std::env::var_os("DATAFUSION_EXECUTION_SKIP_PARTIAL_AGGREGATION_PROBE_RATIO_THRESHOLD")
        .is_none()
    {
        config
            .options_mut()
            .execution
            .skip_partial_aggregation_probe_ratio_threshold = 0.5;
    }
}

/// How each campaign the project's segment files define is responded to (what the
/// features' responses to past campaigns count), and the files that did not load, each with
/// why (the commands that read them report them in full); none for a project of
/// command-line flags.
fn project_responses(project: &Project, catalog: &Catalog) -> (Responses, Vec<String>) {
    if project.source.is_none() {
        return Default::default();
    }
    let mut program = segql_compiler::Program::new(Some(&project.dir));
    let mut unloaded = Vec::new();
    for f in crate::project::segment_files(project) {
        if let Err(e) = program.load_file(&f) {
            unloaded.push(format!("{} does not load: {e}", f.display()));
        }
    }
    (
        segql_compiler::campaign_responses(&program, catalog),
        unloaded,
    )
}

/// Campaigns' responses by name, or why one does not resolve.
type Responses = std::collections::BTreeMap<
    String,
    Result<std::sync::Arc<segql_compiler::ir::Response>, String>,
>;
