//! One problem found by `validate`, and how it is shown: the place first,
//! then the source line with a caret under the spot, then a hint.
//!
//! ```text
//! error: access/engineering.yaml:17:11: unknown role "developr"
//!    |
//! 17 |     role: developr
//!    |           ^^^^^^^^
//!    = help: did you mean "developer"?
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anstyle::{AnsiColor, Style};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    /// Something a run works around (a skipped HR row, a person the service
    /// does not know yet); reported, but `validate` still succeeds.
    Warning,
}

/// A problem at a place in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The file as it is read, to show its line.
    pub path: PathBuf,
    /// 1-based; 0 when the problem is with the whole file.
    pub line: u64,
    /// 1-based, in characters; 0 when only the line is known.
    pub column: u64,
    pub message: String,
    /// What to do about it, e.g. `did you mean "developer"?`.
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(path: &Path, line: u64, column: u64, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            path: path.to_owned(),
            line,
            column,
            message: message.into(),
            hint: None,
        }
    }

    pub fn warning(path: &Path, line: u64, column: u64, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(path, line, column, message)
        }
    }

    /// Takes a `; did you mean "..."?` tail off the message into the hint.
    pub fn with_hint_from_message(mut self) -> Diagnostic {
        if let Some((message, hint)) = self.message.split_once("; did you mean ") {
            self.hint = Some(format!("did you mean {hint}"));
            self.message = message.to_owned();
        }
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// `path:line:column`, leaving out what is unknown; the path relative
    /// to the current directory when it is below it.
    pub fn location(&self) -> String {
        let shown = shown_path(&self.path);
        match (self.line, self.column) {
            (0, _) => shown,
            (line, 0) => format!("{shown}:{line}"),
            (line, column) => format!("{shown}:{line}:{column}"),
        }
    }

    /// The diagnostic as text, styled for a terminal (the caller's stream
    /// strips the styles when it is not one).
    pub fn render(&self) -> String {
        let (label, color) = match self.severity {
            Severity::Error => ("error", AnsiColor::Red),
            Severity::Warning => ("warning", AnsiColor::Yellow),
        };
        let strong = Style::new().bold().fg_color(Some(color.into()));
        let gutter = Style::new().bold().fg_color(Some(AnsiColor::Blue.into()));
        let mut out = format!(
            "{strong}{label}{strong:#}: {}: {}\n",
            self.location(),
            self.message
        );

        if let Some(text) = source_line(&self.path, self.line) {
            let number = self.line.to_string();
            let pad = " ".repeat(number.len());
            let (start, width) = underline(&text, self.column);
            // Tabs stay tabs, so the caret lines up however they are shown.
            let lead: String = text
                .chars()
                .take(start)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let _ = writeln!(out, "{pad} {gutter}|{gutter:#}");
            let _ = writeln!(out, "{gutter}{number} |{gutter:#} {text}");
            let _ = writeln!(
                out,
                "{pad} {gutter}|{gutter:#} {lead}{strong}{}{strong:#}",
                "^".repeat(width)
            );
            if let Some(hint) = &self.hint {
                let _ = writeln!(out, "{pad} {gutter}={gutter:#} help: {hint}");
            }
        } else if let Some(hint) = &self.hint {
            let _ = writeln!(out, "  = help: {hint}");
        }
        out
    }
}

/// A path as a person at this shell would type it.
pub fn shown_path(path: &Path) -> String {
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf));
    relative
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

/// Line `line` (1-based) of the file, when it can be shown as text.
fn source_line(path: &Path, line: u64) -> Option<String> {
    if line == 0 {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    let raw = bytes.split(|&b| b == b'\n').nth(line as usize - 1)?;
    // A UTF-16 export has a NUL in every other byte: nothing to show.
    if raw.contains(&0) {
        return None;
    }
    let text = String::from_utf8_lossy(raw);
    let text = text.trim_end_matches('\r').trim_start_matches('\u{feff}');
    if text.trim().is_empty() {
        return None;
    }
    Some(text.to_owned())
}

/// Where the caret starts (in characters) and how wide it is: the value at
/// `column`, or the whole line without its indent when no column is known.
fn underline(text: &str, column: u64) -> (usize, usize) {
    let chars: Vec<char> = text.chars().collect();
    if column == 0 || column as usize > chars.len() {
        let start = chars.iter().take_while(|c| c.is_whitespace()).count();
        let end = chars.len() - chars.iter().rev().take_while(|c| c.is_whitespace()).count();
        return (start, end.saturating_sub(start).max(1));
    }
    let start = column as usize - 1;
    let rest = &chars[start..];
    let width = match rest.first() {
        Some(&quote @ ('"' | '\'')) => rest[1..]
            .iter()
            .position(|&c| c == quote)
            .map_or(rest.len(), |end| end + 2),
        _ => {
            // A plain scalar ends at a comment, or at flow punctuation.
            let mut end = rest.len();
            for (i, c) in rest.iter().enumerate() {
                let comment = *c == '#' && i > 0 && rest[i - 1].is_whitespace();
                let key_end = *c == ':' && rest.get(i + 1).is_none_or(|n| n.is_whitespace());
                if comment || key_end || matches!(c, ',' | ']' | '}') {
                    end = i;
                    break;
                }
            }
            rest[..end]
                .iter()
                .rev()
                .skip_while(|c| c.is_whitespace())
                .count()
        }
    };
    (start, width.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_covers_the_value_and_stops_at_a_comment_or_flow_punctuation() {
        assert_eq!(underline("    role: developr", 11), (10, 8));
        assert_eq!(underline("    role: developr  # typo", 11), (10, 8));
        assert_eq!(underline("  - {node: acme, role: viewr}", 24), (23, 5));
        assert_eq!(underline("    role: \"dev ops\" # x", 11), (10, 9));
        assert_eq!(underline("  12,bob@example.com,Sales", 0), (2, 24));
        assert_eq!(underline("    rol: developer", 5), (4, 3));
        assert_eq!(underline("  - identity: external:E1", 15), (14, 11));
    }

    #[test]
    fn rendering_puts_the_place_first_and_the_hint_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eng.yaml");
        std::fs::write(
            &path,
            "grants:\n  - identity: a@example.com\n    node: acme\n    role: developr\n",
        )
        .unwrap();
        let text = Diagnostic::error(
            &path,
            4,
            11,
            "unknown role \"developr\"; did you mean \"developer\"?",
        )
        .with_hint_from_message()
        .render();
        let plain = anstream::adapter::strip_str(&text).to_string();
        let lines: Vec<&str> = plain.lines().collect();
        assert!(lines[0].starts_with("error: "), "{plain}");
        assert!(
            lines[0].ends_with("eng.yaml:4:11: unknown role \"developr\""),
            "{plain}"
        );
        assert_eq!(lines[2], "4 |     role: developr");
        assert_eq!(lines[3], "  |           ^^^^^^^^");
        assert_eq!(lines[4], "  = help: did you mean \"developer\"?");
    }
}
