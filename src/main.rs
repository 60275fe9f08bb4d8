//! The `segql` command line.

// Diagnostics carry their source text and spans, so error values are large; they are
// built only on the (cold) failure path, where their size does not matter.
#![allow(clippy::result_large_err)]

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = segql::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // Ctrl-C stops the command cleanly: outputs in progress are removed, earlier files kept.
    let result = runtime.block_on(async {
        tokio::select! {
            r = segql::cli::run(args) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    let Some(result) = result else {
        eprintln!("interrupted");
        return std::process::ExitCode::from(130);
    };
    match result {
        Ok(code) => code,
        Err(report)
            if matches!(
                report.downcast_ref::<segql_runtime::RuntimeError>(),
                Some(segql_runtime::RuntimeError::OutputClosed)
            ) =>
        {
            std::process::ExitCode::SUCCESS
        }
        Err(report) => {
            eprintln!("{report:?}");
            std::process::ExitCode::FAILURE
        }
    }
}
