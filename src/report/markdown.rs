//! `--format markdown`: the plan or report as a pull-request comment.
//!
//! Per environment: a summary table, then refusals and errors in quotes
//! where no reviewer can miss them, then one collapsible `<details>` section
//! per action (open for the ones that need attention: unresolved, failed,
//! row errors). Long sections stop after a fixed number of rows with a count
//! of the rest, since a comment has a size limit. Every piece of user text
//! (identity, node, role, reason, detail, messages) goes through [`text`],
//! which turns every character Markdown or HTML would act on into an entity,
//! so a name can neither break a table nor inject markup. No colour, ever.

use std::io::{self, Write};

use jiff::Timestamp;

use super::labels::{ACTIONS, action_heading, is_listed, shown_detail};
use super::{EnvironmentReport, ItemReport, Mode, RunReport};

/// Options of the Markdown rendering.
#[derive(Debug, Clone, Copy)]
pub struct MarkdownOptions {
    /// List live-only assignments outside the managed scope.
    pub show_unmanaged: bool,
    /// Rows shown per section before "… and N more".
    pub max_rows: usize,
}

impl Default for MarkdownOptions {
    fn default() -> MarkdownOptions {
        MarkdownOptions {
            show_unmanaged: false,
            max_rows: DEFAULT_MAX_ROWS,
        }
    }
}

/// A hundred rows per section keep a comment with every section full well
/// under the 65,536 characters a GitHub comment may hold.
pub const DEFAULT_MAX_ROWS: usize = 100;

pub fn render(report: &RunReport, options: MarkdownOptions, out: &mut dyn Write) -> io::Result<()> {
    let title = match report.mode {
        Mode::Plan => "grantsync plan",
        Mode::Apply => "grantsync apply",
    };
    writeln!(out, "## {title}")?;
    writeln!(out)?;
    writeln!(out, "As of {}.", report.now)?;
    writeln!(out)?;
    if report.interrupted {
        writeln!(
            out,
            "> **Interrupted:** items not sent are reported as not attempted."
        )?;
        writeln!(out)?;
    }
    for env in &report.environments {
        render_environment(report.mode, env, options, out)?;
    }
    Ok(())
}

fn render_environment(
    mode: Mode,
    env: &EnvironmentReport,
    options: MarkdownOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out, "### {}", text(&env.name))?;
    writeln!(out)?;
    if let Some(error) = &env.error {
        quote(out, "Error", "this environment could not be planned", error)?;
        return Ok(());
    }
    for refusal in &env.refusals {
        quote(
            out,
            "Refused",
            refusal.rail,
            &format!(
                "{}\nNothing will be written in this environment.",
                refusal.message
            ),
        )?;
    }
    summary_table(mode, env, out)?;

    if !env.row_errors.is_empty() {
        let total = env.row_errors.len();
        writeln!(
            out,
            "<details open><summary>Row errors: {total} (rows left out)</summary>"
        )?;
        writeln!(out)?;
        for row in env.row_errors.iter().take(options.max_rows) {
            writeln!(out, "- {}", text(row))?;
        }
        more(out, total, options.max_rows)?;
        writeln!(out)?;
        writeln!(out, "</details>")?;
        writeln!(out)?;
    }

    let failed: Vec<&ItemReport> = env
        .items
        .iter()
        .filter(|i| i.outcome == Some("failed"))
        .collect();
    if !failed.is_empty() {
        section(out, "Failed", true, &failed, mode, options)?;
    }
    // A failed item is listed once, under Failed, not again under its action.
    for action in ACTIONS {
        let items: Vec<&ItemReport> = env
            .items
            .iter()
            .filter(|i| i.action == action && is_listed(i, options.show_unmanaged))
            .filter(|i| i.outcome != Some("failed"))
            .collect();
        if items.is_empty() {
            continue;
        }
        let open = action == "unresolved";
        section(out, action_heading(action), open, &items, mode, options)?;
    }
    if env.summary.changes() == 0 && env.items.is_empty() {
        writeln!(out, "No changes.")?;
        writeln!(out)?;
    }
    Ok(())
}

/// A refusal or an error, as a quote with its kind in bold.
fn quote(out: &mut dyn Write, kind: &str, label: &str, message: &str) -> io::Result<()> {
    writeln!(out, "> **{kind}** ({})", text(label))?;
    for line in message.lines() {
        writeln!(out, ">")?;
        writeln!(out, "> {}", text(line))?;
    }
    writeln!(out)
}

fn summary_table(mode: Mode, env: &EnvironmentReport, out: &mut dyn Write) -> io::Result<()> {
    let s = &env.summary;
    writeln!(
        out,
        "| create | update | renew | revoke | unchanged | unmanaged | unresolved | skipped | row errors |"
    )?;
    writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        s.create,
        s.update,
        s.renew,
        s.revoke,
        s.unchanged,
        s.unmanaged,
        s.unresolved,
        s.skip,
        s.row_errors
    )?;
    writeln!(out)?;
    if let (Mode::Apply, Some(outcomes)) = (mode, &env.outcomes) {
        let parts: Vec<String> = outcomes
            .iter()
            .map(|(name, count)| format!("{count} {}", name.replace('_', " ")))
            .collect();
        writeln!(out, "**Outcomes:** {}", parts.join(", "))?;
        writeln!(out)?;
    }
    Ok(())
}

/// One collapsible section: a table of items, truncated past `max_rows`.
fn section(
    out: &mut dyn Write,
    heading: &str,
    open: bool,
    items: &[&ItemReport],
    mode: Mode,
    options: MarkdownOptions,
) -> io::Result<()> {
    let open = if open { " open" } else { "" };
    writeln!(
        out,
        "<details{open}><summary>{heading}: {}</summary>",
        items.len()
    )?;
    writeln!(out)?;
    let with_outcome = mode == Mode::Apply;
    write!(out, "| identity | role | node | window | source | note |")?;
    if with_outcome {
        write!(out, " outcome |")?;
    }
    writeln!(out)?;
    write!(out, "|---|---|---|---|---|---|")?;
    if with_outcome {
        write!(out, "---|")?;
    }
    writeln!(out)?;
    for item in items.iter().take(options.max_rows) {
        row(out, item, with_outcome)?;
    }
    writeln!(out)?;
    more(out, items.len(), options.max_rows)?;
    writeln!(out, "</details>")?;
    writeln!(out)
}

fn row(out: &mut dyn Write, item: &ItemReport, with_outcome: bool) -> io::Result<()> {
    let window = match item.previous {
        Some(previous) => format!(
            "{} → {}",
            window(previous.effective_from, previous.effective_to),
            window(item.effective_from, item.effective_to)
        ),
        None if item.effective_from.is_none() && item.effective_to.is_none() => String::new(),
        None => window(item.effective_from, item.effective_to),
    };
    let note = match (shown_detail(item), &item.reason) {
        (Some(detail), Some(reason)) => format!("{}<br>{}", text(detail), text(reason)),
        (Some(one), None) | (None, Some(one)) => text(one),
        (None, None) => String::new(),
    };
    write!(
        out,
        "| {} | {} | {} | {} | {} | {note} |",
        code(&item.identity),
        code(&item.role),
        code(&item.node),
        window,
        item.source.as_deref().map(text).unwrap_or_default(),
    )?;
    if with_outcome {
        let outcome = item.outcome.unwrap_or("");
        match &item.error {
            Some(error) => write!(
                out,
                " **{outcome}** {}: {} |",
                text(&error.code),
                text(&error.message)
            )?,
            None => write!(out, " {outcome} |")?,
        }
    }
    writeln!(out)
}

/// A window in words; timestamps need no escaping.
fn window(from: Option<Timestamp>, to: Option<Timestamp>) -> String {
    match (from, to) {
        (None, None) => "open".into(),
        (Some(from), None) => format!("from {from}"),
        (None, Some(to)) => format!("until {to}"),
        (Some(from), Some(to)) => format!("{from} to {to}"),
    }
}

fn more(out: &mut dyn Write, total: usize, shown: usize) -> io::Result<()> {
    if total > shown {
        writeln!(out, "… and {} more", total - shown)?;
        writeln!(out)?;
    }
    Ok(())
}

/// User text as inert Markdown: every character that Markdown, a GFM table
/// or HTML would act on inside a line becomes a numeric entity, which
/// renderers show as the character itself, and so does a leading digit or
/// punctuation mark, which could open a list or a heading at the start of a
/// line. Line breaks become spaces so that a cell stays one row.
pub fn text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for (i, c) in raw.chars().enumerate() {
        let active = matches!(
            c,
            '&' | '<'
                | '>'
                | '"'
                | '\''
                | '`'
                | '|'
                | '\\'
                | '*'
                | '_'
                | '['
                | ']'
                | '~'
                | '#'
                | '!'
                | '$'
        );
        let opens_block = i == 0 && (c.is_ascii_punctuation() || c.is_ascii_digit());
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => out.push('\u{FFFD}'),
            c if active || opens_block => out.push_str(&format!("&#{};", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// An identifier in code style. The `<code>` element rather than backticks:
/// its content is escaped the same way as any text, where a backtick in the
/// name would end a code span early; and GitHub neither links `@names` nor
/// addresses inside it.
pub fn code(raw: &str) -> String {
    format!("<code>{}</code>", text(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_become_entities() {
        assert_eq!(text("a<b>|`x`"), "a&#60;b&#62;&#124;&#96;x&#96;");
        assert_eq!(text("a@b.example:12"), "a@b.example:12");
        assert_eq!(text("two\nlines"), "two lines");
    }

    #[test]
    fn a_leading_list_or_heading_marker_is_escaped() {
        assert_eq!(text("- x"), "&#45; x");
        assert_eq!(text("1. x"), "&#49;. x");
        assert_eq!(text("x - 1"), "x - 1");
    }
}
