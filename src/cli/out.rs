//! What commands print: standard output where a reader that went away is no error, and
//! text written atomically to a file.

use miette::{IntoDiagnostic, Result};
use std::path::Path;

/// `println!` through [`print_out`]: a reader that went away ends the output quietly.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::out::print_out(&format!("{}\n", format_args!($($arg)*)))?
    };
}

/// Prints to standard output; a reader that went away (`segql ... | head`) is no error.
pub(super) fn print_out(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).into_diagnostic(),
        _ => Ok(()),
    }
}

/// Writes `text` to `out` (atomically), else to standard output.
pub(super) fn write_text(out: Option<&Path>, text: &str) -> Result<()> {
    match out {
        None => print_out(text),
        Some(p) => Ok(segql_runtime::output::write_text(Some(p), text)?),
    }
}
