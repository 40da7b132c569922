//! `--format diff`: a unified diff between the live assignments and those
//! the plan leaves, each rendered as normalised grants YAML per root node.
//!
//! The files compared are named `live/<environment>/<root>.yaml` and
//! `desired/<environment>/<root>.yaml`; a root whose two sides are equal
//! prints nothing, so a plan without changes prints nothing at all. Lines are
//! coloured on a terminal (the caller's anstream strips the codes otherwise).

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use similar::{ChangeTag, TextDiff};

use super::assignments::{by_root, grouped, to_grants_yaml};
use super::labels::printable;
use super::{EnvironmentReport, RunReport};

const ADDED: Style = AnsiColor::Green.on_default();
const REMOVED: Style = AnsiColor::Red.on_default();
const HUNK: Style = AnsiColor::Cyan.on_default();
const HEADER: Style = Style::new().bold();

/// Lines of unchanged context around each change.
const CONTEXT: usize = 3;

/// Writes the diff of every environment that has its assignment sets.
pub fn render(report: &RunReport, out: &mut dyn Write) -> io::Result<()> {
    for env in &report.environments {
        render_environment(env, out)?;
    }
    Ok(())
}

fn render_environment(env: &EnvironmentReport, out: &mut dyn Write) -> io::Result<()> {
    let Some(sets) = &env.assignments else {
        return Ok(());
    };
    let live = by_root(&sets.live);
    let desired = by_root(&sets.desired);
    let mut roots: Vec<&str> = live.keys().chain(desired.keys()).copied().collect();
    roots.sort_unstable();
    roots.dedup();

    for root in roots {
        let live = live.get(root).map_or(&[][..], Vec::as_slice);
        let desired = desired.get(root).map_or(&[][..], Vec::as_slice);
        let groups = grouped(&[live, desired]);
        let before = to_grants_yaml(&env.name, live, &groups);
        let after = to_grants_yaml(&env.name, desired, &groups);
        if before == after {
            continue;
        }
        let path = format!("{}/{root}.yaml", file_part(&env.name));
        write_unified(&before, &after, &path, out)?;
    }
    Ok(())
}

/// What the diff cannot show, one line each: unresolved grants (they name
/// nothing the service has, so no assignment stands for them) and HR rows
/// left out.
pub fn left_out(report: &RunReport) -> Vec<String> {
    let mut notes = Vec::new();
    for env in &report.environments {
        notes.extend(env.row_errors.iter().map(|row| {
            format!(
                "environment {}: row error {}",
                printable(&env.name),
                printable(row)
            )
        }));
        for item in env.items.iter().filter(|i| i.action == "unresolved") {
            notes.push(format!(
                "{}: unresolved {} {} {}: {}",
                printable(item.source.as_deref().unwrap_or(&env.name)),
                printable(&item.identity),
                printable(&item.node),
                printable(&item.role),
                printable(
                    item.detail
                        .as_deref()
                        .unwrap_or("names nothing in the service")
                ),
            ));
        }
    }
    notes
}

fn write_unified(before: &str, after: &str, path: &str, out: &mut dyn Write) -> io::Result<()> {
    let diff = TextDiff::from_lines(before, after);
    writeln!(out, "{HEADER}--- live/{path}{HEADER:#}")?;
    writeln!(out, "{HEADER}+++ desired/{path}{HEADER:#}")?;
    for hunk in diff.unified_diff().context_radius(CONTEXT).iter_hunks() {
        writeln!(out, "{HUNK}{}{HUNK:#}", hunk.header())?;
        for change in hunk.iter_changes() {
            let (sign, style) = match change.tag() {
                ChangeTag::Delete => ('-', REMOVED),
                ChangeTag::Insert => ('+', ADDED),
                ChangeTag::Equal => (' ', Style::new()),
            };
            let line = change.value();
            let line = line.strip_suffix('\n').unwrap_or(line);
            writeln!(out, "{style}{sign}{line}{style:#}")?;
            if change.missing_newline() {
                writeln!(out, "\\ No newline at end of file")?;
            }
        }
    }
    Ok(())
}

/// An environment name as one path segment of the diff's file names.
fn file_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::assignments::{AssignmentSets, Held};
    use crate::report::{EnvironmentReport, Mode, RunReport};

    fn held(node: &str, identity: &str) -> Held {
        Held {
            node: node.into(),
            role: "viewer".into(),
            effective_from: None,
            effective_to: None,
            identity: identity.into(),
        }
    }

    fn report(live: Vec<Held>, desired: Vec<Held>) -> RunReport {
        let now = "2026-12-01T12:00:00Z".parse().unwrap();
        let mut report = RunReport::new(Mode::Plan, now, now);
        let mut env = EnvironmentReport::failed("Production", String::new());
        env.error = None;
        env.assignments = Some(AssignmentSets { live, desired });
        report.environments.push(env);
        report
    }

    fn rendered(report: &RunReport) -> String {
        let mut out = anstream::StripStream::new(Vec::new());
        render(report, &mut out).unwrap();
        String::from_utf8(out.into_inner()).unwrap()
    }

    #[test]
    fn an_added_identity_is_one_added_line_of_its_root() {
        let live = vec![held("acme/eng", "a@x.example"), held("beta", "c@x.example")];
        let mut desired = live.clone();
        desired.insert(1, held("acme/eng", "b@x.example"));
        let text = rendered(&report(live, desired));
        assert!(text.contains("--- live/Production/acme.yaml\n"), "{text}");
        assert!(
            text.contains("+++ desired/Production/acme.yaml\n"),
            "{text}"
        );
        assert!(
            text.contains("       - a@x.example\n+      - b@x.example\n"),
            "{text}"
        );
        assert_eq!(
            text.lines().filter(|l| l.starts_with(['+', '-'])).count(),
            3,
            "{text}"
        );
        assert!(
            !text.contains("beta"),
            "an unchanged root prints nothing: {text}"
        );
    }

    #[test]
    fn equal_sets_print_nothing() {
        let live = vec![held("acme", "a@x.example")];
        assert_eq!(rendered(&report(live.clone(), live)), "");
    }

    #[test]
    fn a_root_only_on_one_side_diffs_against_an_empty_list() {
        let text = rendered(&report(Vec::new(), vec![held("acme", "a@x.example")]));
        assert!(text.contains("-grants: []\n"), "{text}");
        assert!(text.contains("+  - node: acme\n"), "{text}");
    }
}
