//! `segql repl`: the command that starts the interactive session of [`crate::repl`].

use super::args::DataArgs;
use clap::Args;
use miette::Result;
use std::path::PathBuf;
use std::process::ExitCode;

/// `segql repl`.
#[derive(Debug, Args)]
pub(super) struct ReplArgs {
    /// Segment files to load; their segments can be used by name.
    files: Vec<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    /// The most memory the copy of the data held for fast answers may take, e.g. 4GiB or
    /// 512MB; 0 keeps nothing in memory (answers outside the customer cache read the files).
    /// Default: `[repl] memory_budget` of segql.toml, else 4GiB.
    #[arg(long, value_name = "SIZE", value_parser = segql_runtime::cache::warm::parse_bytes)]
    memory_budget: Option<u64>,
}

/// Opens the session over the project and runs it until `:quit` or Ctrl-D.
pub(super) async fn repl(a: ReplArgs) -> Result<ExitCode> {
    let p = a.data.project()?;
    let root = a.data.import_root(&p);
    let options = a.data.engine_options(false);
    if let Some(url) = segql_runtime::cluster::chosen(options.engine.as_ref(), &p) {
        return Err(segql_runtime::cluster::in_memory_only("the REPL", &url).into());
    }
    let session = crate::repl::Session::open_with_budget(
        p,
        options,
        a.memory_budget,
        &a.files,
        root.as_deref(),
        &mut std::io::stderr(),
    )
    .await?;
    crate::repl::run(session).await?;
    Ok(ExitCode::SUCCESS)
}
