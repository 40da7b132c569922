//! Shell completions and man pages, generated from the command line's own
//! definition at run time so that they can never fall behind it.
//!
//! `grantsync man` prints grantsync(1); `grantsync man plan` prints
//! grantsync-plan(1), the page of one command with all of its flags. A
//! package build writes them out with `grantsync man > grantsync.1`.

use std::io::Write;

use clap::CommandFactory;

use super::{Cli, EXIT_CHANGES, EXIT_ERROR, EXIT_ITEMS_FAILED, EXIT_OK};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no command \"{name}\"; pages exist for: {known}")]
    UnknownCommand { name: String, known: String },
    #[error("cannot write the man page")]
    Write(#[from] std::io::Error),
}

pub fn write_completions(shell: clap_complete::Shell, out: &mut dyn Write) -> std::io::Result<()> {
    // Generated into memory first: the generator panics on a failed write,
    // and `grantsync completions bash | head` closes the pipe early.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "grantsync", &mut script);
    out.write_all(&script)?;
    out.flush()
}

/// Writes the roff source of grantsync's man page, or of one command's.
///
/// # Errors
///
/// `command` names no command of grantsync, or the output cannot be written.
pub fn write_man(command: Option<&str>, out: &mut dyn Write) -> Result<(), Error> {
    let mut root = Cli::command();
    root.build();
    let Some(name) = command else {
        clap_mangen::Man::new(root.clone()).render(out)?;
        write_exit_status(out)?;
        return Ok(out.flush()?);
    };

    let Some(sub) = root.find_subcommand(name).cloned() else {
        let known: Vec<&str> = root.get_subcommands().map(|c| c.get_name()).collect();
        return Err(Error::UnknownCommand {
            name: name.to_owned(),
            known: known.join(", "),
        });
    };
    // Built from the root, the command is named grantsync-plan, the way git
    // names its commands' pages, and its synopsis reads `grantsync plan`.
    clap_mangen::Man::new(sub)
        .source(format!("grantsync {}", env!("CARGO_PKG_VERSION")))
        .render(out)?;
    if matches!(name, "plan" | "apply") {
        write_exit_status(out)?;
    }
    Ok(out.flush()?)
}

/// The exit codes, which clap knows nothing of.
fn write_exit_status(out: &mut dyn Write) -> std::io::Result<()> {
    let codes = [
        (
            EXIT_OK,
            "Success; with --detailed-exitcode, also nothing to change.",
        ),
        (EXIT_ERROR, "An error, or a run refused by a safety rail."),
        (
            EXIT_CHANGES,
            "With --detailed-exitcode, a plan with changes pending.",
        ),
        (
            EXIT_ITEMS_FAILED,
            "An apply in which some items failed (unresolved ones included).",
        ),
    ];
    writeln!(out, ".SH \"EXIT STATUS\"")?;
    for (code, meaning) in codes {
        writeln!(out, ".TP\n{code}\n{}", meaning.replace('-', "\\-"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(command: Option<&str>) -> String {
        let mut out = Vec::new();
        write_man(command, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_main_page_lists_the_commands_and_exit_status() {
        let text = page(None);
        assert!(text.starts_with(".ie"), "{}", &text[..80]);
        assert!(text.contains("grantsync\\-plan(1)"), "{text}");
        assert!(text.contains(".SH \"EXIT STATUS\""), "{text}");
    }

    #[test]
    fn a_command_page_carries_its_flags() {
        let text = page(Some("plan"));
        assert!(text.contains("grantsync\\-plan"), "{text}");
        assert!(text.contains("detailed\\-exitcode"), "{text}");
        assert!(text.contains("markdown"), "{text}");
    }

    #[test]
    fn an_unknown_command_names_the_known_ones() {
        let error = write_man(Some("plna"), &mut Vec::new()).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("\"plna\""), "{message}");
        assert!(message.contains("plan, apply"), "{message}");
    }

    #[test]
    fn completions_name_the_commands() {
        let mut out = Vec::new();
        write_completions(clap_complete::Shell::Bash, &mut out).unwrap();
        let script = String::from_utf8(out).unwrap();
        assert!(script.contains("grantsync"), "{script}");
        assert!(script.contains("completions"), "{script}");
    }
}
