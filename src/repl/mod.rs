//! The interactive REPL: type a condition, get members, shares, revenue and a preview at once.
//!
//! [`Session`] (`session`) holds the engine, the segments defined so far and the customer
//! cache; `input` handles one complete input at a time (so tests can drive it without a
//! terminal): a definition, an expression or a `:` command (`commands`; `:save` in `save`);
//! [`run`] wraps the session in the rustyline editor of `editor` (history, completion,
//! highlighting, multi-line input). Files use each other in that order, never back.

mod commands;
mod editor;
mod input;
mod save;
mod session;

pub use editor::{ReplHelper, complete, highlight, history_path, is_incomplete, run};
pub use session::{Control, Session, Words};
