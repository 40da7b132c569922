//! Reports: what a run planned and what became of every item.
//!
//! A plan and an apply report share one shape ([`RunReport`]), written as
//! JSON (`plan --format json`, and the file every run leaves under the state
//! directory) or rendered for people: text for a terminal or CI log
//! (`text.rs`), Markdown for a pull-request comment (`markdown.rs`), a
//! unified diff of live and desired assignments (`diff.rs`, fed by
//! `assignments.rs`) and JUnit XML for CI test panels (`junit.rs`). Reports
//! on disk are written whole (to a temporary file, then renamed) and only the
//! newest `keep` are kept.

pub mod assignments;
pub mod diff;
pub mod junit;
mod labels;
pub mod markdown;
pub mod progress;
pub mod text;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Serialize;

pub use assignments::AssignmentSets;

use crate::api::CallCounts;
use crate::apply::Outcome;
use crate::plan::rails::Refusal;
use crate::plan::{EnvironmentPlan, Item, Summary, Window};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Plan,
    Apply,
}

/// A plan (`plan --format json`) or the report of an apply.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RunReport {
    pub version: &'static str,
    pub run_id: String,
    pub mode: Mode,
    pub started_at: Timestamp,
    /// The instant the plan was computed for (`--now`, or the start).
    pub now: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// The run was stopped by a signal before it finished.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    pub environments: Vec<EnvironmentReport>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct EnvironmentReport {
    pub name: String,
    pub summary: Summary,
    pub items: Vec<ItemReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub row_errors: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<Refusal>,
    /// An error that stopped this environment (sources invalid, service
    /// unreachable, ...); other environments still ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Items by outcome, after an apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcomes: Option<BTreeMap<&'static str, usize>>,
    /// Calls made to the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls: Option<CallCounts>,
    /// Every live assignment and every one the plan leaves, for the diff
    /// format; kept out of the JSON, which lists changes only.
    #[serde(skip)]
    pub assignments: Option<AssignmentSets>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ItemReport {
    #[schemars(with = "crate::plan::Action")]
    pub action: &'static str,
    pub identity: String,
    pub node: String,
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_to: Option<Timestamp>,
    /// The live window an update or renewal replaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<Window>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignment_id: Option<uuid::Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "outcome_schema")]
    pub outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ItemError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ItemError {
    pub code: String,
    pub message: String,
}

/// The names [`Outcome::as_str`] gives.
fn outcome_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "How the item ended, after an apply.",
        "type": "string",
        "enum": ["created", "already_assigned", "updated", "renewed", "revoked", "failed",
                 "not_attempted", "skipped"]
    })
}

impl ItemReport {
    pub fn new(item: &Item, outcome: Option<&Outcome>) -> ItemReport {
        let (error, why) = match outcome {
            Some(Outcome::Failed { code, message }) => (
                Some(ItemError {
                    code: code.clone(),
                    message: message.clone(),
                }),
                None,
            ),
            Some(Outcome::Skipped { why }) => (None, Some(why.clone())),
            _ => (None, None),
        };
        ItemReport {
            action: item.action.as_str(),
            identity: item.identity.clone(),
            node: item.node.clone(),
            role: item.role.clone(),
            effective_from: item.window.effective_from,
            effective_to: item.window.effective_to,
            previous: item.previous,
            source: item.source.clone(),
            reason: item.reason.clone(),
            detail: item.detail.clone(),
            assignment_id: item.assignment_id,
            outcome: outcome.map(Outcome::as_str),
            error,
            why,
        }
    }
}

impl EnvironmentReport {
    /// The report of an environment's plan, with outcomes when it was applied.
    pub fn new(plan: &EnvironmentPlan, outcomes: Option<&[Outcome]>) -> EnvironmentReport {
        let items = plan
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| ItemReport::new(item, outcomes.and_then(|o| o.get(i))))
            .collect();
        let outcomes = outcomes.map(|outcomes| {
            let mut counts = BTreeMap::new();
            for outcome in outcomes {
                *counts.entry(outcome.as_str()).or_default() += 1;
            }
            counts
        });
        EnvironmentReport {
            name: plan.name.clone(),
            summary: plan.summary,
            items,
            row_errors: plan.row_errors.clone(),
            refusals: Vec::new(),
            error: None,
            outcomes,
            calls: None,
            assignments: None,
        }
    }

    /// An environment that could not be planned.
    pub fn failed(name: &str, error: String) -> EnvironmentReport {
        EnvironmentReport {
            name: name.to_owned(),
            summary: Summary::default(),
            items: Vec::new(),
            row_errors: Vec::new(),
            refusals: Vec::new(),
            error: Some(error),
            outcomes: None,
            calls: None,
            assignments: None,
        }
    }

    pub fn failed_items(&self) -> usize {
        self.items
            .iter()
            .filter(|i| i.outcome == Some("failed"))
            .count()
    }
}

impl RunReport {
    pub fn new(mode: Mode, started_at: Timestamp, now: Timestamp) -> RunReport {
        RunReport {
            version: env!("CARGO_PKG_VERSION"),
            run_id: format!(
                "{}-{}",
                started_at.strftime("%Y%m%dT%H%M%S%.6fZ"),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            mode,
            started_at,
            now,
            finished_at: None,
            interrupted: false,
            environments: Vec::new(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }

    /// Writes the report as `<dir>/<run_id>.json` and removes all but the
    /// newest `keep` reports.
    ///
    /// # Errors
    ///
    /// The directory cannot be created or written.
    pub fn write(&self, dir: &Path, keep: usize) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{}.json", self.run_id));
        let partial = dir.join(format!(".{}.json.partial", self.run_id));
        std::fs::write(&partial, self.to_json())?;
        std::fs::rename(&partial, &path)?;
        prune_reports(dir, keep.max(1))?;
        Ok(path)
    }
}

/// Keeps the newest `keep` reports; run ids sort by time.
fn prune_reports(dir: &Path, keep: usize) -> std::io::Result<()> {
    let mut reports: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.extension().is_some_and(|e| e == "json")
                && !path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    reports.sort();
    let excess = reports.len().saturating_sub(keep);
    for old in &reports[..excess] {
        std::fs::remove_file(old)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_newest_reports_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        for minute in 0..5 {
            let at: Timestamp = format!("2026-12-01T12:0{minute}:00Z").parse().unwrap();
            RunReport::new(Mode::Plan, at, at)
                .write(dir.path(), 3)
                .unwrap();
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 3);
        assert!(names[0].starts_with("20261201T120200.000000Z"), "{names:?}");
    }

    #[test]
    fn reports_of_the_same_second_keep_their_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut newest = String::new();
        for micros in [900_000, 100_000, 500_000] {
            let at = Timestamp::from_microsecond(1_796_040_000_000_000 + micros).unwrap();
            let report = RunReport::new(Mode::Apply, at, at);
            if micros == 900_000 {
                newest = report.run_id.clone();
            }
            report.write(dir.path(), 1).unwrap();
        }
        let kept: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(kept, [format!("{newest}.json")]);
    }
}
