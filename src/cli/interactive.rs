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
}

/// Opens the session over the project and runs it until `:quit` or Ctrl-D.
pub(super) async fn repl(a: ReplArgs) -> Result<ExitCode> {
    let p = a.data.project()?;
    let root = a.data.import_root(&p);
    let options = a.data.engine_options(false);
    let session = crate::repl::Session::open(
        p,
        options,
        &a.files,
        root.as_deref(),
        &mut std::io::stderr(),
    )
    .await?;
    crate::repl::run(session).await?;
    Ok(ExitCode::SUCCESS)
}
