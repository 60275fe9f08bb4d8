//! Compile errors: one miette diagnostic kind per mistake, each with a stable code.

use miette::{Diagnostic, NamedSource};
use segql_grammar::ast::Span;
use std::sync::Arc;
use thiserror::Error;

/// The source text a diagnostic points into.
pub type Src = NamedSource<Arc<str>>;

/// An error found while loading, resolving, type-checking or lowering segments.
#[derive(Debug, Error, Diagnostic)]
pub enum CompileError {
    /// Parse error in one of the files.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Parse(#[from] segql_grammar::ParseError),

    /// A segment file could not be read.
    #[error("cannot read segment file `{path}`: {reason}")]
    #[diagnostic(
        code(segql::load::file_not_found),
        help("check the path; imports are relative to the importing file")
    )]
    FileNotReadable {
        /// The path.
        path: String,
        /// Why.
        reason: String,
        /// The importing file, when the path came from an import.
        #[source_code]
        src: Option<Src>,
        /// The import's path literal.
        #[label("imported here")]
        span: Option<Span>,
    },

    /// A segment file that is not UTF-8 text.
    #[error("the segment file `{path}` is not UTF-8 text: line {line}, byte {byte} of the line")]
    #[diagnostic(code(segql::load::encoding))]
    Encoding {
        /// The file.
        path: String,
        /// The first line with a byte sequence that is not UTF-8 (from 1).
        line: usize,
        /// Where in that line (from 1).
        byte: usize,
        /// How to convert it.
        #[help]
        help: String,
    },

    /// An import that points outside the project root.
    #[error("import `{path}` leaves the directory imports are confined to")]
    #[diagnostic(
        code(segql::load::import_outside_root),
        help("segment files may only import files inside `{root}`, links followed")
    )]
    ImportOutsideRoot {
        /// The import path.
        path: String,
        /// The root.
        root: String,
        /// The importing file.
        #[source_code]
        src: Src,
        /// The import's path literal.
        #[label("outside the project")]
        span: Span,
    },

    /// Files import each other in a circle.
    #[error("import cycle: {cycle}")]
    #[diagnostic(
        code(segql::load::import_cycle),
        help("move the shared segments into a file that both import")
    )]
    ImportCycle {
        /// The files in the circle.
        cycle: String,
        /// The importing file.
        #[source_code]
        src: Src,
        /// The import that closes the circle.
        #[label("this import closes the circle")]
        span: Span,
    },

    /// Two segments with one name.
    #[error("segment `{name}` is defined twice")]
    #[diagnostic(
        code(segql::resolve::duplicate_segment),
        help("the first definition is in {first}; rename one of them")
    )]
    DuplicateSegment {
        /// The name.
        name: String,
        /// Where the first one is.
        first: String,
        /// The second definition's file.
        #[source_code]
        src: Src,
        /// The second definition's name.
        #[label("defined again here")]
        span: Span,
    },

    /// A name that is neither a segment, a metric nor an attribute.
    #[error("unknown {what} `{name}`")]
    #[diagnostic(code(segql::resolve::unknown_name))]
    UnknownName {
        /// "segment", "metric or attribute", ...
        what: &'static str,
        /// The name.
        name: String,
        /// The file.
        #[source_code]
        src: Src,
        /// Where.
        #[label("not known")]
        span: Span,
        /// "did you mean ...?" and what is known.
        #[help]
        help: Option<String>,
    },

    /// A model file that cannot be used (another feature-set version or project, broken).
    #[error("model `{name}` cannot be used: {reason}")]
    #[diagnostic(
        code(segql::resolve::model_unusable),
        help("fit it again with `segql clusters fit {name} ...` and review the new file")
    )]
    ModelUnusable {
        /// The model's name.
        name: String,
        /// Why.
        reason: String,
        /// The file.
        #[source_code]
        src: Src,
        /// Where it is named.
        #[label("this model")]
        span: Span,
    },

    /// `score(NAME)` / `uplift(NAME)` of a model that cannot be used: a clusters model,
    /// another feature-set version or project, a broken file.
    #[error("model `{name}` cannot be used in `{what}({name})`: {reason}")]
    #[diagnostic(
        code(segql::resolve::score_model_unusable),
        help(
            "`score(NAME)` and `uplift(NAME)` name a score model: fit one with `segql score fit {name} --campaign CAMPAIGN` (a clusters model is named in `cluster(NAME)`)"
        )
    )]
    ScoreModelUnusable {
        /// The model's name.
        name: String,
        /// `score` or `uplift`.
        what: &'static str,
        /// Why.
        reason: String,
        /// The file.
        #[source_code]
        src: Src,
        /// Where it is named.
        #[label("this model")]
        span: Span,
    },

    /// A metric written where a condition belongs.
    #[error("`{name}` is a {what}, not a condition")]
    #[diagnostic(code(segql::resolve::not_a_condition))]
    NotACondition {
        /// The name.
        name: String,
        /// "metric" or "customer attribute".
        what: &'static str,
        /// The file.
        #[source_code]
        src: Src,
        /// Where.
        #[label("compare it with a value")]
        span: Span,
        /// An example.
        #[help]
        help: String,
    },

    /// Segments that refer to each other in a circle.
    #[error("segment `{name}` refers to itself: {cycle}")]
    #[diagnostic(
        code(segql::resolve::segment_cycle),
        help("a segment cannot be defined in terms of itself, directly or through others")
    )]
    SegmentCycle {
        /// The segment.
        name: String,
        /// The chain of references.
        cycle: String,
        /// The file.
        #[source_code]
        src: Src,
        /// The reference that closes the circle.
        #[label("this reference closes the circle")]
        span: Span,
    },

    /// Segment references nest too deeply or expand to too many conditions.
    #[error("segment too complex: {message}")]
    #[diagnostic(
        code(segql::resolve::too_complex),
        help("simplify the definitions; segments are expanded into one condition before running")
    )]
    TooComplex {
        /// What limit was passed.
        message: String,
        /// The file.
        #[source_code]
        src: Src,
        /// Where.
        #[label("here")]
        span: Span,
    },

    /// A value of the wrong type.
    #[error("type mismatch: {message}")]
    #[diagnostic(code(segql::types::mismatch))]
    TypeMismatch {
        /// What is wrong.
        message: String,
        /// The file.
        #[source_code]
        src: Src,
        /// The value.
        #[label("{label}")]
        span: Span,
        /// Label text.
        label: String,
        /// How to write it instead.
        #[help]
        help: Option<String>,
    },

    /// An operator that does not apply to this kind of value.
    #[error("`{op}` cannot be used with {what}")]
    #[diagnostic(code(segql::types::bad_operator))]
    BadOperator {
        /// The operator.
        op: String,
        /// The value described.
        what: String,
        /// The file.
        #[source_code]
        src: Src,
        /// Where.
        #[label("not applicable")]
        span: Span,
        /// What works instead.
        #[help]
        help: String,
    },

    /// A value outside the allowed set (e.g. an unknown lifecycle stage).
    #[error("unknown {what} `{value}`")]
    #[diagnostic(code(segql::types::unknown_value))]
    UnknownValue {
        /// What kind of value.
        what: &'static str,
        /// The value.
        value: String,
        /// The file.
        #[source_code]
        src: Src,
        /// Where.
        #[label("not one of the known values")]
        span: Span,
        /// Suggestion and the list of values.
        #[help]
        help: String,
    },

    /// `within` on something that has no time dimension.
    #[error("`{name}` cannot take a time window")]
    #[diagnostic(
        code(segql::types::window_not_allowed),
        help("windows apply to purchase metrics such as frequency, monetary or recency")
    )]
    WindowNotAllowed {
        /// The name.
        name: String,
        /// The file.
        #[source_code]
        src: Src,
        /// The window clause.
        #[label("remove this window")]
        span: Span,
    },

    /// `at "PARTNER"` on something that is not about purchases.
    #[error("`{name}` cannot be measured at a partner")]
    #[diagnostic(
        code(segql::types::scope_not_allowed),
        help(
            "`at \"PARTNER\"` applies to purchase metrics and lifecycle, e.g. `recency at \"OKKO\" < 14d`"
        )
    )]
    ScopeNotAllowed {
        /// The name.
        name: String,
        /// The file.
        #[source_code]
        src: Src,
        /// The scope clause.
        #[label("remove this")]
        span: Span,
    },

    /// `within N of first_purchase` on something that is not a count or sum of purchases.
    #[error("`{name}` cannot be measured from the first purchase")]
    #[diagnostic(code(segql::types::from_first_not_allowed))]
    FromFirstNotAllowed {
        /// The name.
        name: String,
        /// The file.
        #[source_code]
        src: Src,
        /// The `of first_purchase` clause.
        #[label("remove `of first_purchase`")]
        span: Span,
        /// What works instead.
        #[help]
        help: String,
    },

    /// A construct needs a table the project does not configure.
    #[error("{what} needs the {table} table, which the project does not have")]
    #[diagnostic(
        code(segql::catalog::missing_table),
        help("add a [{table}] table with its `path` to segql.toml")
    )]
    MissingTable {
        /// The construct.
        what: String,
        /// The table.
        table: &'static str,
        /// The file.
        #[source_code]
        src: Src,
        /// Where.
        #[label("needs {table}")]
        span: Span,
    },

    /// A construct needs a column the data does not have.
    #[error("{what} needs the `{column}` column of {table}, which the data does not have")]
    #[diagnostic(code(segql::catalog::missing_column))]
    MissingColumn {
        /// The construct.
        what: String,
        /// The canonical column.
        column: String,
        /// The table.
        table: &'static str,
        /// The file.
        #[source_code]
        src: Src,
        /// Where.
        #[label("needs `{column}`")]
        span: Span,
        /// How to map it.
        #[help]
        help: String,
    },

    /// A value that is valid text but out of range.
    #[error("invalid value: {message}")]
    #[diagnostic(code(segql::types::invalid_value))]
    InvalidValue {
        /// What is wrong.
        message: String,
        /// The file.
        #[source_code]
        src: Src,
        /// Where.
        #[label("{message}")]
        span: Span,
    },

    /// `responded(NAME)` of a campaign that does not say what a response is.
    #[error("campaign `{campaign}` does not say what counts as a response")]
    #[diagnostic(
        code(segql::resolve::no_response),
        help(
            "add a response to its definition, e.g. `campaign {campaign} = ... respond within 14d` (any purchase) or `respond bought category \"Coffee\" within 14d`"
        )
    )]
    NoResponse {
        /// The campaign.
        campaign: String,
        /// The file.
        #[source_code]
        src: Src,
        /// Where it is asked.
        #[label("has no `respond`")]
        span: Span,
    },

    /// A response that is not a purchase condition over one window.
    #[error("invalid response: {message}")]
    #[diagnostic(code(segql::types::invalid_response))]
    InvalidResponse {
        /// What is wrong.
        message: String,
        /// The file.
        #[source_code]
        src: Src,
        /// Where.
        #[label("{message}")]
        span: Span,
        /// What works.
        #[help]
        help: String,
    },

    /// A snapshot asked for by date that was not taken.
    #[error("campaign `{campaign}` has no snapshot of {date}")]
    #[diagnostic(code(segql::resolve::no_snapshot))]
    NoSnapshot {
        /// The campaign.
        campaign: String,
        /// The date asked for.
        date: String,
        /// The file.
        #[source_code]
        src: Src,
        /// Where.
        #[label("no snapshot of this date")]
        span: Span,
        /// The snapshots there are.
        #[help]
        help: String,
    },

    /// A segment asked for by name that no file defines.
    #[error("no segment named `{name}`")]
    #[diagnostic(code(segql::resolve::segment_not_found))]
    SegmentNotFound {
        /// The name.
        name: String,
        /// What exists.
        #[help]
        help: String,
    },

    /// A segment with parameters named without arguments, or run on its own.
    #[error("segment `{name}` takes parameters ({params})")]
    #[diagnostic(code(segql::resolve::needs_arguments))]
    NeedsArguments {
        /// The segment.
        name: String,
        /// Its parameters as written.
        params: String,
        /// The file.
        #[source_code]
        src: Src,
        /// Where it is named.
        #[label("called without arguments")]
        span: Span,
        /// How to call it.
        #[help]
        help: String,
    },

    /// A call with too many or too few arguments.
    #[error("segment `{name}` takes {expected} argument{}, {found} given", if *expected == 1 { "" } else { "s" })]
    #[diagnostic(code(segql::resolve::arguments))]
    WrongArguments {
        /// The segment.
        name: String,
        /// How many it takes.
        expected: usize,
        /// How many the call gives.
        found: usize,
        /// The file.
        #[source_code]
        src: Src,
        /// The call.
        #[label("this call")]
        span: Span,
        /// The parameters.
        #[help]
        help: String,
    },

    /// An argument of the wrong type.
    #[error("argument `{param}` of `{name}` must be {expected}, found {found}")]
    #[diagnostic(code(segql::types::argument))]
    ArgumentType {
        /// The segment.
        name: String,
        /// The parameter.
        param: String,
        /// What it takes.
        expected: &'static str,
        /// What was given.
        found: &'static str,
        /// The file.
        #[source_code]
        src: Src,
        /// The argument.
        #[label("{found}")]
        span: Span,
        /// Where the type comes from.
        #[help]
        help: String,
    },

    /// A parameter whose declaration and uses disagree.
    #[error("parameter `{param}` is {first} and is used as {second} here")]
    #[diagnostic(code(segql::types::parameter))]
    ParameterType {
        /// The parameter.
        param: String,
        /// Its declared type or first use.
        first: String,
        /// This use.
        second: &'static str,
        /// The file.
        #[source_code]
        src: Src,
        /// The use.
        #[label("used as {second}")]
        span: Span,
    },

    /// DataFusion refused the plan (a bug in segql when it happens).
    #[error("could not build the query plan: {0}")]
    #[diagnostic(
        code(segql::lower::plan),
        help("this is a bug in segql; please report it with the segment text")
    )]
    Plan(String),
}

impl From<datafusion::error::DataFusionError> for CompileError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        CompileError::Plan(e.to_string())
    }
}

/// Suggests the closest of `candidates` to `name`, if any is close enough.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len().max(name.len()) / 3).max(1) || c.starts_with(&lower))
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)))
        .map(|(_, c)| c)
}

impl CompileError {
    /// The source and span a diagnostic points at, for the kinds that point at one place in
    /// a file (so a caller can point it elsewhere: a call's argument instead of the use of
    /// its parameter).
    pub fn place_mut(&mut self) -> Option<(&mut Src, &mut Span)> {
        match self {
            CompileError::ImportOutsideRoot { src, span, .. }
            | CompileError::ImportCycle { src, span, .. }
            | CompileError::DuplicateSegment { src, span, .. }
            | CompileError::UnknownName { src, span, .. }
            | CompileError::NotACondition { src, span, .. }
            | CompileError::SegmentCycle { src, span, .. }
            | CompileError::TooComplex { src, span, .. }
            | CompileError::TypeMismatch { src, span, .. }
            | CompileError::BadOperator { src, span, .. }
            | CompileError::UnknownValue { src, span, .. }
            | CompileError::WindowNotAllowed { src, span, .. }
            | CompileError::ScopeNotAllowed { src, span, .. }
            | CompileError::FromFirstNotAllowed { src, span, .. }
            | CompileError::MissingTable { src, span, .. }
            | CompileError::MissingColumn { src, span, .. }
            | CompileError::InvalidValue { src, span, .. }
            | CompileError::ModelUnusable { src, span, .. }
            | CompileError::ScoreModelUnusable { src, span, .. }
            | CompileError::NoResponse { src, span, .. }
            | CompileError::InvalidResponse { src, span, .. }
            | CompileError::NoSnapshot { src, span, .. }
            | CompileError::NeedsArguments { src, span, .. }
            | CompileError::WrongArguments { src, span, .. }
            | CompileError::ArgumentType { src, span, .. }
            | CompileError::ParameterType { src, span, .. } => Some((src, span)),
            _ => None,
        }
    }
}
