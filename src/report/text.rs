//! The plan and report as people read them in a terminal or a CI log.
//!
//! One line per change, grouped by environment, then a summary line. Styles
//! are written as ANSI codes; the caller's stream (anstream) strips them when
//! the output is not a terminal or `NO_COLOR` is set.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use jiff::Timestamp;

use super::{EnvironmentReport, ItemReport, Mode, RunReport};

const CREATE: Style = AnsiColor::Green.on_default();
const CHANGE: Style = AnsiColor::Yellow.on_default();
const REVOKE: Style = AnsiColor::Red.on_default();
const QUIET: Style = Style::new().dimmed();
const BOLD: Style = Style::new().bold();
const FAILED: Style = AnsiColor::Red.on_default().bold();

/// Options of the text rendering.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions {
    /// List live-only assignments outside the managed scope one by one.
    pub show_unmanaged: bool,
}

pub fn render(report: &RunReport, options: TextOptions, out: &mut dyn Write) -> io::Result<()> {
    for env in &report.environments {
        render_environment(report.mode, env, options, out)?;
    }
    Ok(())
}

fn render_environment(
    mode: Mode,
    env: &EnvironmentReport,
    options: TextOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out, "{BOLD}Environment {}{BOLD:#}", env.name)?;
    if let Some(error) = &env.error {
        writeln!(out, "  {FAILED}error{FAILED:#}: {error}")?;
        writeln!(out)?;
        return Ok(());
    }
    for row in &env.row_errors {
        writeln!(out, "  {FAILED}row error{FAILED:#} {row}")?;
    }
    for item in &env.items {
        if item.action == "unmanaged" && !options.show_unmanaged {
            continue;
        }
        render_item(item, out)?;
    }
    for refusal in &env.refusals {
        writeln!(out, "  {FAILED}refused{FAILED:#}: {}", refusal.message)?;
    }
    let s = &env.summary;
    let verb = match mode {
        Mode::Plan => "Plan",
        Mode::Apply => "Apply",
    };
    writeln!(
        out,
        "{BOLD}{verb}:{BOLD:#} {} to create, {} to update, {} to renew, {} to revoke; {} unchanged, {} unmanaged, {} unresolved{}{}",
        s.create,
        s.update,
        s.renew,
        s.revoke,
        s.unchanged,
        s.unmanaged,
        s.unresolved,
        if s.skip > 0 {
            format!(", {} skipped (ended)", s.skip)
        } else {
            String::new()
        },
        if s.row_errors > 0 {
            format!(", {} row errors", s.row_errors)
        } else {
            String::new()
        },
    )?;
    if let Some(outcomes) = &env.outcomes {
        let parts: Vec<String> = outcomes
            .iter()
            .filter(|(name, _)| **name != "skipped")
            .map(|(name, count)| format!("{count} {name}"))
            .collect();
        writeln!(
            out,
            "{BOLD}Outcomes:{BOLD:#} {}",
            if parts.is_empty() {
                "nothing to do".into()
            } else {
                parts.join(", ")
            }
        )?;
    }
    writeln!(out)
}

fn render_item(item: &ItemReport, out: &mut dyn Write) -> io::Result<()> {
    let (mark, style) = match item.action {
        "create" => ("+", CREATE),
        "update" | "renew" => ("~", CHANGE),
        "revoke" => ("-", REVOKE),
        "unresolved" => ("?", FAILED),
        "unmanaged" => ("!", QUIET),
        _ => (" ", QUIET),
    };
    write!(
        out,
        "  {style}{mark} {:<10}{style:#} {} {BOLD}{}{BOLD:#} at {}",
        item.action, item.identity, item.role, item.node
    )?;
    match (&item.previous, item.action) {
        (Some(previous), _) => write!(
            out,
            " {}window {} -> {}{}",
            QUIET.render(),
            window(previous.effective_from, previous.effective_to),
            window(item.effective_from, item.effective_to),
            QUIET.render_reset()
        )?,
        (None, _) if item.effective_from.is_some() || item.effective_to.is_some() => {
            write!(out, " {}", window(item.effective_from, item.effective_to))?
        }
        _ => {}
    }
    if let Some(detail) = &item.detail {
        write!(out, ": {detail}")?;
    }
    if let Some(source) = &item.source {
        write!(out, " {QUIET}({source}){QUIET:#}")?;
    }
    if let Some(outcome) = item.outcome {
        let style = if outcome == "failed" { FAILED } else { QUIET };
        write!(out, " {style}=> {outcome}{style:#}")?;
        if let Some(error) = &item.error {
            write!(out, " {}: {}", error.code, error.message)?;
        }
    }
    writeln!(out)
}

fn window(from: Option<Timestamp>, to: Option<Timestamp>) -> String {
    match (from, to) {
        (None, None) => "[open]".into(),
        (Some(from), None) => format!("[from {from}]"),
        (None, Some(to)) => format!("[until {to}]"),
        (Some(from), Some(to)) => format!("[{from} .. {to}]"),
    }
}
