//! Shell habits: `segql completions SHELL` (clap_complete) and `segql man` (clap_mangen),
//! both generated from the same clap definitions as the parser; values of `--segment`
//! complete with the project's segment names (`segql __segments`) in bash, zsh and fish.

use super::Cli;
use super::out::print_out;
use clap::{Args, CommandFactory, ValueEnum};
use miette::{IntoDiagnostic, Result};
use std::process::ExitCode;

/// `segql completions`.
#[derive(Debug, Args)]
pub(super) struct CompletionsArgs {
    /// The shell.
    shell: Shell,
}

/// The shells completions are generated for.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

/// Bash: the generated function, and a wrapper completing `--segment` with segment names.
const BASH_SEGMENTS: &str = r#"
_segql_with_segments() {
    local prev="${COMP_WORDS[COMP_CWORD-1]}"
    if [[ "$prev" == "--segment" || "$prev" == "-s" ]]; then
        COMPREPLY=( $(compgen -W "$(segql __segments 2>/dev/null)" -- "${COMP_WORDS[COMP_CWORD]}") )
        return 0
    fi
    _segql "$@"
}
complete -F _segql_with_segments -o nosort -o bashdefault -o default segql
"#;

/// Fish: segment names as the candidates of `--segment`.
const FISH_SEGMENTS: &str =
    "complete -c segql -s s -l segment -x -a '(segql __segments 2>/dev/null)'\n";

/// Zsh: a completer of segment names, used for `--segment`'s value.
const ZSH_SEGMENTS: &str = r#"
(( $+functions[_segql_segments] )) ||
_segql_segments() {
    local -a names
    names=(${(f)"$(segql __segments 2>/dev/null)"})
    compadd -a names
}
"#;

/// Prints the completion script of `shell`.
pub(super) fn completions(a: CompletionsArgs) -> Result<ExitCode> {
    print_out(&script(a.shell))?;
    Ok(ExitCode::SUCCESS)
}

/// The command line as users see it: without the hidden subcommands.
fn visible() -> clap::Command {
    let cmd = Cli::command();
    let subcommands: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .cloned()
        .collect();
    let mut out = clap::Command::new("segql")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommands(subcommands);
    if let Some(about) = cmd.get_about() {
        out = out.about(about.clone());
    }
    out
}

fn script(shell: Shell) -> String {
    use clap_complete::shells;
    let mut cmd = visible();
    let mut buf = Vec::new();
    match shell {
        Shell::Bash => clap_complete::generate(shells::Bash, &mut cmd, "segql", &mut buf),
        Shell::Zsh => clap_complete::generate(shells::Zsh, &mut cmd, "segql", &mut buf),
        Shell::Fish => clap_complete::generate(shells::Fish, &mut cmd, "segql", &mut buf),
        Shell::Powershell => {
            clap_complete::generate(shells::PowerShell, &mut cmd, "segql", &mut buf)
        }
    }
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    match shell {
        Shell::Bash => text.push_str(BASH_SEGMENTS),
        Shell::Fish => text.push_str(FISH_SEGMENTS),
        Shell::Zsh => {
            // `--segment`'s value: segment names instead of any word.
            text = text
                .lines()
                .map(|l| {
                    if l.contains("--segment=") || l.contains("-s+[") {
                        l.replace(":NAME:_default", ":NAME:_segql_segments")
                    } else {
                        l.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            text.push('\n');
            text.push_str(ZSH_SEGMENTS);
        }
        Shell::Powershell => {}
    }
    text
}

/// `segql man`.
#[derive(Debug, Args)]
pub(super) struct ManArgs {
    /// A subcommand: its page (`segql-run(1)`) with every option. Default: the page of
    /// segql, which lists the subcommands.
    subcommand: Option<String>,
}

/// Prints a man page (roff).
pub(super) fn man(a: ManArgs) -> Result<ExitCode> {
    let cmd = visible();
    let page = match &a.subcommand {
        None => cmd,
        Some(name) => {
            let Some(sub) = cmd.find_subcommand(name) else {
                let names: Vec<&str> = cmd.get_subcommands().map(|c| c.get_name()).collect();
                return Err(segql_runtime::RuntimeError::Usage {
                    message: format!("no subcommand `{name}`"),
                    help: Some(format!("the subcommands: {}", names.join(", "))),
                }
                .into());
            };
            // Named as its page is: segql-run(1). clap takes a static name; one page is
            // rendered per process, so the name is leaked once.
            let page_name: &'static str = Box::leak(format!("segql-{name}").into_boxed_str());
            sub.clone()
                .name(page_name)
                .version(env!("CARGO_PKG_VERSION"))
        }
    };
    let mut buf = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut buf)
        .into_diagnostic()?;
    print_out(&String::from_utf8_lossy(&buf))?;
    Ok(ExitCode::SUCCESS)
}

/// `segql __segments`: the names of the segments of the project's files, one per line, for
/// completion (nothing, quietly, outside a project or with broken files).
pub(super) fn segment_names() -> Result<ExitCode> {
    let Ok(project) = segql_runtime::Project::discover(None) else {
        return Ok(ExitCode::SUCCESS);
    };
    let mut names = Vec::new();
    for f in super::stages::segment_files(&project) {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let Ok(file) = segql_grammar::parse_file("", &text) else {
            continue;
        };
        for item in file.items {
            if let segql_grammar::ast::Item::Segment(d) = item
                && d.params.is_empty()
            {
                names.push(d.name.name);
            }
        }
    }
    names.sort();
    names.dedup();
    let mut out = names.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    print_out(&out)?;
    Ok(ExitCode::SUCCESS)
}
