//! `--message-format human|json|github|sarif`: how `check`, `fmt --check`, `lint`, `test`
//! and `diff` report their diagnostics. People get miette's report on standard error;
//! machines get [`crate::diagnostics`]' formats on standard output, written once at the end
//! (SARIF is one document).

use crate::diagnostics::{Level, MessageFormat, Record, render};
use clap::{Args, ValueEnum};
use miette::Report;

/// The `--message-format` argument.
#[derive(Debug, Args, Clone, Copy)]
pub(super) struct MessageArgs {
    /// How to write errors and warnings: for people (standard error), or for machines on
    /// standard output: JSON lines shaped like rustc's, GitHub workflow annotations, or one
    /// SARIF 2.1.0 log.
    #[arg(long, value_enum, default_value = "human", value_name = "FORMAT")]
    pub(super) message_format: MessageFormatArg,
}

/// The formats, as clap spells them.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(super) enum MessageFormatArg {
    /// miette's report, on standard error.
    Human,
    /// One JSON object per diagnostic (rustc's shape).
    Json,
    /// GitHub Actions workflow commands.
    Github,
    /// A SARIF 2.1.0 log.
    Sarif,
}

/// Collects a command's diagnostics and writes them in the chosen format.
pub(super) struct Reporter {
    format: MessageFormatArg,
    records: Vec<Record>,
    /// Errors reported.
    pub(super) errors: usize,
    /// Warnings reported.
    pub(super) warnings: usize,
}

impl Reporter {
    /// A reporter writing `args`' format.
    pub(super) fn new(args: MessageArgs) -> Self {
        Reporter {
            format: args.message_format,
            records: Vec::new(),
            errors: 0,
            warnings: 0,
        }
    }

    /// True for the human format (other output of the command may go to standard output).
    pub(super) fn human(&self) -> bool {
        self.format == MessageFormatArg::Human
    }

    /// Reports an error.
    pub(super) fn error(&mut self, e: impl Into<Report>) {
        self.push(e.into(), Level::Error);
    }

    /// Reports a warning.
    pub(super) fn warning(&mut self, e: impl Into<Report>) {
        self.push(e.into(), Level::Warning);
    }

    fn push(&mut self, report: Report, level: Level) {
        let record = Record::from_diagnostic(report.as_ref(), level);
        match record.level {
            Level::Error => self.errors += 1,
            Level::Warning => self.warnings += 1,
        }
        if self.human() {
            eprintln!("{report:?}");
        } else {
            self.records.push(record);
        }
    }

    /// Writes what was collected (machine formats) and returns the counts.
    pub(super) fn finish(self) -> miette::Result<(usize, usize)> {
        let format = match self.format {
            MessageFormatArg::Human => return Ok((self.errors, self.warnings)),
            MessageFormatArg::Json => MessageFormat::Json,
            MessageFormatArg::Github => MessageFormat::Github,
            MessageFormatArg::Sarif => MessageFormat::Sarif,
        };
        let text = render(&self.records, format, env!("CARGO_PKG_VERSION"));
        if !text.is_empty() {
            let end = if text.ends_with('\n') { "" } else { "\n" };
            super::out::print_out(&format!("{text}{end}"))?;
        }
        Ok((self.errors, self.warnings))
    }
}

/// A warning with a code and no place in a file (found in the data).
pub(super) fn data_warning(code: &str, message: String) -> Report {
    Report::new(
        miette::MietteDiagnostic::new(message)
            .with_code(code)
            .with_severity(miette::Severity::Warning),
    )
}
