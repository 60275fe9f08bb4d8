//! Data sources: a project's tables found, read with DataFusion and normalized to segql's
//! canonical names and types, and the failure path that names the file, column and value a
//! failed read tripped on.
//!
//! One way: `discovery` (files, formats) <- `facts` (columns, statistics) <- `normalize`
//! (column roles, casts) <- `read` (one table) <- `probe` (diagnosing unreadable data); this
//! file reads a project's tables with `read`.

pub mod discovery;
pub mod facts;
pub mod normalize;
pub mod probe;
pub mod read;

pub use discovery::expand_path;
pub(crate) use discovery::{Kind, kinds_of};
pub use normalize::TEXT;

use crate::error::RuntimeError;
use crate::project::config::Project;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use discovery::locate;
use normalize::{id_type, ids_as_text};
use read::{load, rows_before_merge};
use segql_compiler::{DataFacts, Wanted};

/// The normalized input tables.
#[derive(Debug, Clone)]
pub struct Tables {
    /// Transactions.
    pub transactions: LogicalPlan,
    /// Customers, if configured and read: one row per customer.
    pub customers: Option<LogicalPlan>,
    /// The customers' rows before duplicate ids are merged (rows without an id dropped).
    pub customer_rows: Option<LogicalPlan>,
    /// Communications, if configured and read.
    pub communications: Option<LogicalPlan>,
    /// The configured tables not read yet ([`read_unread`] reads them).
    pub unread: Wanted,
    /// What the transactions' Parquet statistics prove about every line.
    pub facts: DataFacts,
}

impl Tables {
    /// The tables of `wanted` not read yet.
    pub(crate) fn unread_of(&self, wanted: Wanted) -> Wanted {
        Wanted {
            customers: wanted.customers && self.unread.customers,
            communications: wanted.communications && self.unread.communications,
        }
    }

    /// The tables read so far, transactions first.
    pub(crate) fn read_kinds(&self) -> Vec<Kind> {
        let read = Wanted {
            customers: !self.unread.customers,
            communications: !self.unread.communications,
        };
        let mut kinds = vec![Kind::Transactions];
        kinds.extend(kinds_of(read));
        kinds
    }
}

/// Reads the configured tables (lazily: only schemas are inferred, no data is scanned).
///
/// With `when_needed`, the customers and communications tables are only located (their
/// files found, none empty) and left unread ([`Tables::unread`]) for [`read_unread`], when
/// transactions identify customers by text: then every table's ids end up text whatever
/// the others hold, so reading a table later changes no other. Integer transaction ids
/// become text only if another table's are not integers, so then every table is read now.
/// A failure is explained by probing the tables' files (`probe::explain_load`).
pub async fn load_tables(
    ctx: &SessionContext,
    project: &Project,
    when_needed: bool,
) -> Result<Tables, RuntimeError> {
    match read_tables(ctx, project, when_needed).await {
        Ok(t) => Ok(t),
        Err(e) => Err(probe::explain_load(project, e, &Kind::ALL).await),
    }
}

/// [`load_tables`] with its errors as the readers give them.
async fn read_tables(
    ctx: &SessionContext,
    project: &Project,
    when_needed: bool,
) -> Result<Tables, RuntimeError> {
    let f = &project.file;
    let tx_cfg = f
        .transactions
        .as_ref()
        .expect("validated: transactions exist");
    let (transactions, facts) = load(ctx, project, tx_cfg.get_ref(), Kind::Transactions).await?;
    let mut tables = Tables {
        transactions,
        customers: None,
        customer_rows: None,
        communications: None,
        unread: Wanted {
            customers: f.customers.is_some(),
            communications: f.communications.is_some(),
        },
        facts,
    };
    if when_needed && id_type(&tables.transactions) == TEXT {
        for (kind, cfg) in [
            (Kind::Customers, &f.customers),
            (Kind::Communications, &f.communications),
        ] {
            if let Some(cfg) = cfg {
                locate(project, cfg.get_ref(), kind).await?;
            }
        }
        return Ok(tables);
    }
    let all = tables.unread;
    read_wanted(ctx, project, &mut tables, all).await?;
    Ok(tables)
}

/// Reads the unread tables named in `wanted`, their ids made text where they differ from the
/// transactions' (then the transactions' too: with every table read at once, as
/// [`load_tables`] does unless transactions have text ids). A failure is explained by
/// probing the files of the tables being read.
pub async fn read_unread(
    ctx: &SessionContext,
    project: &Project,
    tables: &mut Tables,
    wanted: Wanted,
) -> Result<(), RuntimeError> {
    let reading = kinds_of(tables.unread_of(wanted));
    match read_wanted(ctx, project, tables, wanted).await {
        Ok(()) => Ok(()),
        Err(e) => Err(probe::explain_load(project, e, &reading).await),
    }
}

/// [`read_unread`] with its errors as the readers give them.
async fn read_wanted(
    ctx: &SessionContext,
    project: &Project,
    tables: &mut Tables,
    wanted: Wanted,
) -> Result<(), RuntimeError> {
    let f = &project.file;
    let reading = tables.unread_of(wanted);
    let mut customers = None;
    if let (true, Some(c)) = (reading.customers, &f.customers) {
        customers = Some(load(ctx, project, c.get_ref(), Kind::Customers).await?.0);
    }
    let mut communications = None;
    if let (true, Some(c)) = (reading.communications, &f.communications) {
        let plan = load(ctx, project, c.get_ref(), Kind::Communications)
            .await?
            .0;
        communications = Some(plan);
    }
    // One id type everywhere: text when the tables disagree.
    let t = id_type(&tables.transactions);
    let differs = customers
        .iter()
        .chain(communications.iter())
        .any(|p| id_type(p) != t);
    let mut customer_rows = customers.as_ref().map(rows_before_merge);
    if differs {
        // Every table, those read before too (unchanged when their ids are text already).
        tables.transactions = ids_as_text(tables.transactions.clone())?;
        for p in [
            &mut customers,
            &mut customer_rows,
            &mut communications,
            &mut tables.customers,
            &mut tables.customer_rows,
            &mut tables.communications,
        ] {
            *p = p.take().map(ids_as_text).transpose()?;
        }
    }
    if reading.customers {
        tables.customers = customers;
        tables.customer_rows = customer_rows;
        tables.unread.customers = false;
    }
    if reading.communications {
        tables.communications = communications;
        tables.unread.communications = false;
    }
    Ok(())
}
