//! The plan and report as people read them in a terminal or a CI log.
//!
//! Grouped by environment, then by node (the node's path as a heading), one
//! line per item with a mark: `+` create, `~` update or renew, `-` revoke,
//! `?` unresolved, `!` unmanaged (only with `--show-unmanaged`), a blank for
//! a grant skipped because its window has ended. Row errors and refusals
//! follow the items, then one summary line per environment. Styles are
//! written as ANSI codes; the caller's stream (anstream) strips them when the
//! output is not a terminal, with `NO_COLOR`, or with `--color never`.

use std::collections::BTreeMap;
use std::io::{self, Write};

use anstyle::{AnsiColor, Style};

use super::labels::{is_listed, printable, shown_detail, window_change};
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
    writeln!(out, "{BOLD}Environment {}{BOLD:#}", printable(&env.name))?;
    if let Some(error) = &env.error {
        for line in error.lines() {
            writeln!(out, "  {FAILED}error{FAILED:#}: {}", printable(line))?;
        }
        writeln!(out)?;
        return Ok(());
    }

    // Items under their node; nodes sort by path so parents precede children.
    let mut by_node: BTreeMap<&str, Vec<&ItemReport>> = BTreeMap::new();
    for item in env
        .items
        .iter()
        .filter(|i| is_listed(i, options.show_unmanaged))
    {
        by_node.entry(item.node.as_str()).or_default().push(item);
    }
    for (node, items) in &by_node {
        writeln!(out, "  {BOLD}{}{BOLD:#}", printable(node))?;
        let identity_width = column_width(items.iter().map(|i| i.identity.as_str()));
        let role_width = column_width(items.iter().map(|i| i.role.as_str()));
        for item in items {
            render_item(item, identity_width, role_width, out)?;
        }
    }
    if by_node.is_empty() {
        writeln!(out, "  no changes")?;
    }
    let hidden = env.items.len()
        - env
            .items
            .iter()
            .filter(|i| is_listed(i, options.show_unmanaged))
            .count();
    if hidden > 0 {
        writeln!(
            out,
            "  {QUIET}({hidden} unmanaged not listed; --show-unmanaged lists them){QUIET:#}"
        )?;
    }

    for row in &env.row_errors {
        writeln!(out, "  {FAILED}row error{FAILED:#} {}", printable(row))?;
    }
    for refusal in &env.refusals {
        writeln!(
            out,
            "  {FAILED}refused{FAILED:#} ({}): {}",
            refusal.rail,
            printable(&refusal.message)
        )?;
    }
    render_summary(mode, env, out)?;
    writeln!(out)
}

fn render_summary(mode: Mode, env: &EnvironmentReport, out: &mut dyn Write) -> io::Result<()> {
    let s = &env.summary;
    let verb = match mode {
        Mode::Plan => "Plan",
        Mode::Apply => "Apply",
    };
    let mut extra = String::new();
    if s.skip > 0 {
        extra.push_str(&format!(", {} skipped (ended)", s.skip));
    }
    if s.row_errors > 0 {
        extra.push_str(&format!(", {} row errors", s.row_errors));
    }
    if !env.refusals.is_empty() {
        extra.push_str("; refused, nothing written");
    }
    writeln!(
        out,
        "{BOLD}{verb} {}:{BOLD:#} {} to create, {} to update, {} to renew, {} to revoke; {} unchanged, {} unmanaged, {} unresolved{extra}",
        printable(&env.name),
        s.create,
        s.update,
        s.renew,
        s.revoke,
        s.unchanged,
        s.unmanaged,
        s.unresolved,
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
    Ok(())
}

/// The widest of the values, capped so that one long name does not push
/// every other line far to the right.
fn column_width<'a>(values: impl Iterator<Item = &'a str>) -> usize {
    const MAX: usize = 40;
    values
        .map(|v| v.chars().count())
        .max()
        .unwrap_or(0)
        .min(MAX)
}

fn render_item(
    item: &ItemReport,
    identity_width: usize,
    role_width: usize,
    out: &mut dyn Write,
) -> io::Result<()> {
    let (mark, style) = match item.action {
        "create" => ("+", CREATE),
        "update" | "renew" => ("~", CHANGE),
        "revoke" => ("-", REVOKE),
        "unresolved" => ("?", FAILED),
        "unmanaged" => ("!", QUIET),
        _ => (" ", QUIET),
    };
    let identity = printable(&item.identity);
    let role = printable(&item.role);
    // Built whole so that padding never leaves trailing blanks.
    let mut line =
        format!("    {style}{mark} {identity:<identity_width$}{style:#}  {role:<role_width$}");
    if matches!(item.action, "update" | "renew" | "skip") {
        line.push_str(&format!("  {style}{}{style:#}", item.action));
    }
    if let Some(window) = window_change(item) {
        line.push_str(&format!("  {window}"));
    }
    if let Some(detail) = shown_detail(item) {
        line.push_str(&format!("  {style}{}{style:#}", printable(detail)));
    }
    if let Some(reason) = &item.reason {
        line.push_str(&format!("  {QUIET}\"{}\"{QUIET:#}", printable(reason)));
    }
    if let Some(source) = &item.source {
        line.push_str(&format!("  {QUIET}({}){QUIET:#}", printable(source)));
    }
    if let Some(outcome) = item.outcome {
        let style = if outcome == "failed" { FAILED } else { QUIET };
        line.push_str(&format!("  {style}=> {outcome}{style:#}"));
        if let Some(error) = &item.error {
            line.push_str(&format!(
                " {}: {}",
                printable(&error.code),
                printable(&error.message)
            ));
        }
        if outcome == "not_attempted" {
            line.push_str(&format!(" {QUIET}(the run stopped first){QUIET:#}"));
        }
    }
    writeln!(out, "{}", line.trim_end())
}
