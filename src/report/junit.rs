//! `--format junit`: the plan or report as JUnit XML, for CI test panels.
//!
//! One `<testsuite>` per environment and one `<testcase>` per item, named
//! `action identity node role` with the environment as its class. An item
//! fails when its apply failed, and in a plan when it is unresolved; the
//! failure carries the code, the message and the `file:line` it came from.
//! Items that send nothing (a window already ended, unmanaged ones listed
//! with `--show-unmanaged`, items a stopped run never reached) are
//! `<skipped/>`. Row errors and refusals are failed cases of their own, and
//! an environment that could not run is an `<error>`, so a panel never shows
//! green for a run that did not do its work.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::labels::{is_listed, split_source};
use super::{EnvironmentReport, ItemReport, Mode, RunReport};

/// Options of the JUnit rendering.
#[derive(Debug, Clone, Copy, Default)]
pub struct JunitOptions {
    /// Include live-only assignments outside the managed scope, as skipped.
    pub show_unmanaged: bool,
}

enum Verdict {
    Passed,
    Failed { kind: String, message: String },
    Skipped(String),
    Error(String),
}

struct Case {
    name: String,
    file: Option<String>,
    line: Option<u32>,
    verdict: Verdict,
    /// What the failure element's body says: code, message, source.
    body: String,
}

pub fn render(report: &RunReport, options: JunitOptions, out: &mut dyn Write) -> io::Result<()> {
    let suites: Vec<(&str, Vec<Case>)> = report
        .environments
        .iter()
        .map(|env| (env.name.as_str(), cases(report.mode, env, options)))
        .collect();
    let all = || suites.iter().flat_map(|(_, cases)| cases);
    let mode = match report.mode {
        Mode::Plan => "plan",
        Mode::Apply => "apply",
    };

    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="grantsync {mode}" tests="{}" failures="{}" errors="{}" skipped="{}">"#,
        all().count(),
        all()
            .filter(|c| matches!(c.verdict, Verdict::Failed { .. }))
            .count(),
        all()
            .filter(|c| matches!(c.verdict, Verdict::Error(_)))
            .count(),
        all()
            .filter(|c| matches!(c.verdict, Verdict::Skipped(_)))
            .count(),
    )?;
    for (name, cases) in &suites {
        write_suite(name, cases, out)?;
    }
    writeln!(out, "</testsuites>")
}

fn write_suite(environment: &str, cases: &[Case], out: &mut dyn Write) -> io::Result<()> {
    let count = |f: fn(&Verdict) -> bool| cases.iter().filter(|c| f(&c.verdict)).count();
    writeln!(
        out,
        r#"  <testsuite name="{}" tests="{}" failures="{}" errors="{}" skipped="{}">"#,
        escape(environment),
        cases.len(),
        count(|v| matches!(v, Verdict::Failed { .. })),
        count(|v| matches!(v, Verdict::Error(_))),
        count(|v| matches!(v, Verdict::Skipped(_))),
    )?;
    for case in cases {
        let mut attributes = format!(
            r#"classname="{}" name="{}""#,
            escape(environment),
            escape(&case.name)
        );
        if let Some(file) = &case.file {
            let _ = write!(attributes, r#" file="{}""#, escape(file));
        }
        if let Some(line) = case.line {
            let _ = write!(attributes, r#" line="{line}""#);
        }
        match &case.verdict {
            Verdict::Passed => writeln!(out, "    <testcase {attributes}/>")?,
            Verdict::Skipped(why) => {
                writeln!(out, "    <testcase {attributes}>")?;
                writeln!(out, r#"      <skipped message="{}"/>"#, escape(why))?;
                writeln!(out, "    </testcase>")?;
            }
            Verdict::Failed { kind, message } => {
                writeln!(out, "    <testcase {attributes}>")?;
                writeln!(
                    out,
                    r#"      <failure type="{}" message="{}">{}</failure>"#,
                    escape(kind),
                    escape(message),
                    escape(&case.body)
                )?;
                writeln!(out, "    </testcase>")?;
            }
            Verdict::Error(message) => {
                writeln!(out, "    <testcase {attributes}>")?;
                writeln!(
                    out,
                    r#"      <error type="environment" message="{}">{}</error>"#,
                    escape(message),
                    escape(&case.body)
                )?;
                writeln!(out, "    </testcase>")?;
            }
        }
    }
    writeln!(out, "  </testsuite>")
}

fn cases(mode: Mode, env: &EnvironmentReport, options: JunitOptions) -> Vec<Case> {
    let mut cases = Vec::new();
    if let Some(error) = &env.error {
        cases.push(Case {
            name: format!("environment {}", env.name),
            file: None,
            line: None,
            verdict: Verdict::Error(first_line(error)),
            body: error.clone(),
        });
        return cases;
    }
    for refusal in &env.refusals {
        cases.push(Case {
            name: format!("refusal {}", refusal.rail),
            file: None,
            line: None,
            verdict: Verdict::Failed {
                kind: "refusal".into(),
                message: refusal.message.clone(),
            },
            body: format!("{}: {}", refusal.rail, refusal.message),
        });
    }
    for row in &env.row_errors {
        // A row error reads `file:line: message`.
        let (place, message) = row.split_once(": ").unwrap_or((row.as_str(), ""));
        let (file, line) = split_source(place);
        cases.push(Case {
            name: format!("row error {place}"),
            file: Some(file.to_owned()),
            line,
            verdict: Verdict::Failed {
                kind: "row_error".into(),
                message: message.to_owned(),
            },
            body: format!("row_error: {message}\nsource: {place}"),
        });
    }
    for item in env
        .items
        .iter()
        .filter(|i| is_listed(i, options.show_unmanaged))
    {
        cases.push(item_case(mode, item));
    }
    cases
}

fn item_case(mode: Mode, item: &ItemReport) -> Case {
    let (file, line) = match item.source.as_deref().map(split_source) {
        Some((file, line)) => (Some(file.to_owned()), line),
        None => (None, None),
    };
    let source = item.source.as_deref().unwrap_or("live only");
    let failure = |code: &str, message: &str| Verdict::Failed {
        kind: code.to_owned(),
        message: message.to_owned(),
    };
    let verdict = match (mode, item.outcome, &item.error) {
        (_, Some("failed"), Some(error)) => failure(&error.code, &error.message),
        (_, Some("failed"), None) => failure("failed", "the item failed"),
        (_, Some("not_attempted"), _) => {
            Verdict::Skipped("not attempted: the run stopped first".into())
        }
        (_, Some("skipped"), _) => {
            Verdict::Skipped(item.why.clone().unwrap_or_else(|| "nothing to send".into()))
        }
        (Mode::Plan, None, _) if item.action == "unresolved" => failure(
            "unresolved",
            item.detail
                .as_deref()
                .unwrap_or("a reference names nothing in the service"),
        ),
        (Mode::Plan, None, _) if item.action == "skip" => Verdict::Skipped(
            item.detail
                .clone()
                .unwrap_or_else(|| "its window has already ended".into()),
        ),
        (Mode::Plan, None, _) if item.action == "unmanaged" => {
            Verdict::Skipped("live only and not managed by this run".into())
        }
        _ => Verdict::Passed,
    };
    let body = match &verdict {
        Verdict::Failed { kind, message } => format!("{kind}: {message}\nsource: {source}"),
        _ => String::new(),
    };
    Case {
        name: format!(
            "{} {} {} {}",
            item.action, item.identity, item.node, item.role
        ),
        file,
        line,
        verdict,
        body,
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

/// Text as XML character data or attribute value. Characters XML 1.0 cannot
/// carry at all (most control characters) become U+FFFD; line breaks and
/// tabs in attributes become references, which parsers would otherwise fold
/// into spaces.
pub fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            c if c.is_control() && c < '\u{20}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_specials_and_control_characters_are_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'\n\u{1}"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&#10;\u{FFFD}"
        );
    }
}
