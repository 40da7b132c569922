//! How report values read in every human format: windows, the order and
//! headings of actions, `file:line` sources, and user text made harmless for
//! a terminal.

use std::borrow::Cow;

use jiff::Timestamp;

use super::ItemReport;
use crate::plan::Window;

/// Actions in the order people read them: what gets written first, then what
/// needs attention, then what is only reported.
pub(crate) const ACTIONS: [&str; 7] = [
    "create",
    "update",
    "renew",
    "revoke",
    "unresolved",
    "skip",
    "unmanaged",
];

/// The heading of an action's section.
pub(crate) fn action_heading(action: &str) -> &'static str {
    match action {
        "create" => "Create",
        "update" => "Update",
        "renew" => "Renew",
        "revoke" => "Revoke",
        "unresolved" => "Unresolved",
        "skip" => "Skipped (window already ended)",
        "unmanaged" => "Unmanaged (live only, not touched)",
        _ => "Other",
    }
}

/// Whether a human format lists the item: unmanaged ones only on request,
/// since a shared service can hold thousands that no file manages.
pub(crate) fn is_listed(item: &ItemReport, show_unmanaged: bool) -> bool {
    item.action != "unmanaged" || show_unmanaged
}

pub(crate) fn window(from: Option<Timestamp>, to: Option<Timestamp>) -> String {
    match (from, to) {
        (None, None) => "[open]".into(),
        (Some(from), None) => format!("[from {from}]"),
        (None, Some(to)) => format!("[until {to}]"),
        (Some(from), Some(to)) => format!("[{from} .. {to}]"),
    }
}

/// The window an item ends with, preceded by the one it replaces.
pub(crate) fn window_change(item: &ItemReport) -> Option<String> {
    let new = window(item.effective_from, item.effective_to);
    match item.previous {
        Some(Window {
            effective_from,
            effective_to,
        }) => Some(format!("{} -> {new}", window(effective_from, effective_to))),
        None if item.effective_from.is_some() || item.effective_to.is_some() => Some(new),
        None => None,
    }
}

/// The item's detail, unless its failure already says the same.
pub(crate) fn shown_detail(item: &ItemReport) -> Option<&String> {
    let detail = item.detail.as_ref()?;
    match &item.error {
        Some(error) if error.message == *detail => None,
        _ => Some(detail),
    }
}

/// Splits `file:line` into its parts; a source without a line number is all file.
pub(crate) fn split_source(source: &str) -> (&str, Option<u32>) {
    match source.rsplit_once(':') {
        Some((file, line)) if !file.is_empty() => match line.parse() {
            Ok(line) => (file, Some(line)),
            Err(_) => (source, None),
        },
        _ => (source, None),
    }
}

/// Text from files and the service with control characters escaped, so a
/// name cannot move the cursor, recolour or retitle the reader's terminal.
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_split_at_the_last_colon_only_before_a_number() {
        assert_eq!(split_source("a/b.yaml:12"), ("a/b.yaml", Some(12)));
        assert_eq!(split_source("C:/x/b.yaml:3"), ("C:/x/b.yaml", Some(3)));
        assert_eq!(split_source("b.yaml"), ("b.yaml", None));
        assert_eq!(split_source("b:yaml"), ("b:yaml", None));
    }

    #[test]
    fn control_characters_are_escaped_for_the_terminal() {
        assert_eq!(printable("alice@example.com"), "alice@example.com");
        assert_eq!(printable("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\\n");
    }

    #[test]
    fn windows_read_as_open_from_until_or_both() {
        let at: Timestamp = "2026-12-31T23:59:59Z".parse().unwrap();
        assert_eq!(window(None, None), "[open]");
        assert_eq!(window(None, Some(at)), "[until 2026-12-31T23:59:59Z]");
        assert_eq!(window(Some(at), None), "[from 2026-12-31T23:59:59Z]");
    }
}
