//! Reviewed plans: `plan --out FILE` saves a plan, `apply --plan FILE`
//! applies exactly that plan, or nothing.
//!
//! A saved plan holds its items with the ids they resolved to, a digest of
//! every input it was made from (the config and each source file), and a
//! digest of the live assignments it saw in each environment. Applying it
//! re-reads those digests first: when a file or the live state moved since,
//! the plan is stale and is refused, naming what moved, before any write.
//! Otherwise the saved items are applied as they are, through the same
//! rails and [`apply_plan`](crate::apply::apply_plan) as any apply; nothing is planned afresh.

mod apply;
mod digest;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use apply::apply_saved;
pub use digest::{all_input_digests, input_digests, live_digest};

use crate::config::Config;
use crate::plan::{Action, EnvironmentPlan, Item, Key, Summary, Window};
use crate::report::RunReport;
use crate::sync::{Captured, RunOptions, Runner};
use digest::{changed_files, config_digest};

/// The layout of [`SavedPlan`]; a file of another layout is refused.
pub const FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: cannot read the saved plan", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a saved plan of this grantsync: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("{}: cannot write the saved plan", path.display())]
    WriteFailed {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the inputs of environment {environment}: {message}")]
    InputsUnreadable {
        environment: String,
        message: String,
    },
    #[error("no plan was saved: {0}")]
    NotSaved(String),
    #[error(transparent)]
    Run(#[from] crate::sync::Error),
    #[error(
        "the saved plan is stale; nothing was written:\n{}\nmake a new plan with `grantsync plan --out FILE`, review it, and apply that",
        changes.iter().map(|c| format!("  {c}")).collect::<Vec<_>>().join("\n")
    )]
    Stale { changes: Vec<String> },
}

/// Plans as `plan` does, with every environment's inputs captured, and
/// saves the plan to `path`. The report comes back together with whether
/// the plan could be saved, so that it is shown either way.
///
/// # Errors
///
/// The inputs cannot be read, or the run could not start.
pub async fn plan_and_save(
    runner: &mut Runner,
    path: &Path,
    options: &RunOptions,
) -> Result<(RunReport, Result<(), Error>), Error> {
    let inputs = all_input_digests(runner.config(), &options.environments)?;
    let mut options = options.clone();
    options.capture = true;
    let report = runner.run(&options).await?;
    let captured = runner.take_captured();
    let saved = SavedPlan::new(
        runner.config(),
        options.now,
        options.prune,
        &captured,
        &report,
        &inputs,
    )
    .and_then(|saved| saved.write(path));
    Ok((report, saved))
}

/// Reads the plan saved at `path` and applies it, with the environments
/// and the clock it was made with.
///
/// # Errors
///
/// As [`SavedPlan::read`] and [`apply_saved`].
pub async fn apply_file(
    runner: &mut Runner,
    path: &Path,
    options: &RunOptions,
) -> Result<RunReport, Error> {
    let saved = SavedPlan::read(path)?;
    let mut options = options.clone();
    options.environments = saved.environment_names();
    options.now = saved.now;
    tracing::info!(path = %path.display(), created_at = %saved.created_at, "applying a saved plan");
    apply_saved(runner, &saved, &options).await
}

/// A plan as `plan --out` saves it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SavedPlan {
    /// The layout of this file; 1.
    pub format: u32,
    /// The grantsync that made the plan.
    pub grantsync_version: String,
    pub created_at: Timestamp,
    /// The instant given with `--now`, which the apply uses too.
    #[serde(default)]
    pub now: Option<Timestamp>,
    /// The config file the plan was made with.
    pub config: FileDigest,
    pub environments: Vec<SavedEnvironment>,
}

/// A file and the blake3 digest of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileDigest {
    /// Relative to the config file's directory when below it.
    pub path: String,
    pub blake3: String,
}

/// The plan of one environment.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SavedEnvironment {
    pub name: String,
    /// Whether pruning was on.
    pub prune: bool,
    /// Every file the sources read: grants files, HR exports and mappings.
    pub inputs: Vec<FileDigest>,
    /// The live assignments the plan was compared with.
    pub live: LiveDigest,
    pub summary: Summary,
    /// Live assignments inside the managed scope: the base of percent limits.
    pub managed_live: usize,
    /// Grants per source, for the source-shrink rail.
    pub source_sizes: BTreeMap<String, usize>,
    #[serde(default)]
    pub row_errors: Vec<String>,
    /// Every item but the unchanged ones, which are only counted.
    pub items: Vec<SavedItem>,
}

/// A digest of live assignments: their ids, references and windows, in id
/// order. The computed `state` is left out, since it moves with the clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LiveDigest {
    pub assignments: usize,
    pub blake3: String,
}

/// One item, with the ids it resolved to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SavedItem {
    pub action: Action,
    /// As shown: an email, a node path, a role key.
    pub identity: String,
    pub node: String,
    pub role: String,
    /// The ids; absent for an unresolved item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_id: Option<Uuid>,
    /// The live assignment an update, renewal or revocation acts on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_to: Option<Timestamp>,
    /// The live window an update or renewal replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Window>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl SavedItem {
    fn new(item: &Item) -> SavedItem {
        SavedItem {
            action: item.action,
            identity: item.identity.clone(),
            node: item.node.clone(),
            role: item.role.clone(),
            identity_id: item.key.map(|k| k.identity),
            node_id: item.key.map(|k| k.node),
            role_id: item.key.map(|k| k.role),
            assignment_id: item.assignment_id,
            effective_from: item.window.effective_from,
            effective_to: item.window.effective_to,
            previous: item.previous,
            source: item.source.clone(),
            reason: item.reason.clone(),
            detail: item.detail.clone(),
        }
    }

    fn item(&self) -> Item {
        let key = match (self.identity_id, self.node_id, self.role_id) {
            (Some(identity), Some(node), Some(role)) => Some(Key {
                identity,
                node,
                role,
            }),
            _ => None,
        };
        Item {
            action: self.action,
            identity: self.identity.clone(),
            node: self.node.clone(),
            role: self.role.clone(),
            key,
            assignment_id: self.assignment_id,
            window: Window {
                effective_from: self.effective_from,
                effective_to: self.effective_to,
            },
            previous: self.previous,
            source: self.source.clone(),
            reason: self.reason.clone(),
            detail: self.detail.clone(),
        }
    }

    /// Whether the item can be sent: a write needs its key, and all but a
    /// create need the live assignment.
    fn is_complete(&self) -> bool {
        let keyed = self.identity_id.is_some() && self.node_id.is_some() && self.role_id.is_some();
        match self.action {
            Action::Create => keyed,
            Action::Update | Action::Renew | Action::Revoke => {
                keyed && self.assignment_id.is_some()
            }
            _ => true,
        }
    }
}

impl SavedEnvironment {
    /// The plan the saved items stand for.
    pub(crate) fn plan(&self) -> EnvironmentPlan {
        EnvironmentPlan {
            name: self.name.clone(),
            summary: self.summary,
            items: self.items.iter().map(SavedItem::item).collect(),
            row_errors: self.row_errors.clone(),
            managed_live: self.managed_live,
            source_sizes: self
                .source_sizes
                .iter()
                .map(|(name, size)| (name.clone(), *size))
                .collect(),
        }
    }
}

impl SavedPlan {
    /// A saved plan of the environments a run captured. `inputs` are the
    /// digests taken before the run; they must still hold after it.
    ///
    /// # Errors
    ///
    /// An environment could not be planned, or a file changed while the
    /// plan was being made.
    pub fn new(
        config: &Config,
        now: Option<Timestamp>,
        prune: bool,
        captured: &[Captured],
        report: &RunReport,
        inputs: &BTreeMap<String, Vec<FileDigest>>,
    ) -> Result<SavedPlan, Error> {
        for env in &report.environments {
            if env.error.is_some() || !captured.iter().any(|c| c.plan.name == env.name) {
                return Err(Error::NotSaved(format!(
                    "environment {} could not be planned",
                    env.name
                )));
            }
        }
        let mut environments = Vec::with_capacity(captured.len());
        for capture in captured {
            let plan = &capture.plan;
            let env = config
                .environments
                .iter()
                .find(|e| e.name == plan.name)
                .expect("a captured environment comes from the config");
            let before = inputs.get(&plan.name).cloned().unwrap_or_default();
            let after = input_digests(config, env)?;
            let moved = changed_files(&plan.name, &before, &after);
            if !moved.is_empty() {
                return Err(Error::NotSaved(format!(
                    "files changed while the plan was being made: {}",
                    moved.join("; ")
                )));
            }
            environments.push(SavedEnvironment {
                name: plan.name.clone(),
                prune: prune || env.prune.enabled,
                inputs: after,
                live: live_digest(&capture.live),
                summary: plan.summary,
                managed_live: plan.managed_live,
                source_sizes: plan.source_sizes.iter().cloned().collect(),
                row_errors: plan.row_errors.clone(),
                items: plan.items.iter().map(SavedItem::new).collect(),
            });
        }
        Ok(SavedPlan {
            format: FORMAT,
            grantsync_version: env!("CARGO_PKG_VERSION").to_owned(),
            created_at: Timestamp::now(),
            now,
            config: config_digest(config)?,
            environments,
        })
    }

    /// Writes the plan as JSON, whole or not at all.
    ///
    /// # Errors
    ///
    /// The file cannot be written.
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let mut text = serde_json::to_string_pretty(self).expect("a saved plan serializes");
        text.push('\n');
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::WriteFailed {
                path: path.to_owned(),
                source,
            })?;
        }
        crate::state::write_whole(path, text.as_bytes()).map_err(|source| Error::WriteFailed {
            path: path.to_owned(),
            source,
        })
    }

    /// Reads a saved plan and checks that it can be applied as it is.
    ///
    /// # Errors
    ///
    /// The file cannot be read, is not a saved plan, is of another layout,
    /// or has a write item without the ids it needs.
    pub fn read(path: &Path) -> Result<SavedPlan, Error> {
        let invalid = |message: String| Error::Invalid {
            path: path.to_owned(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|source| Error::Unreadable {
            path: path.to_owned(),
            source,
        })?;
        let plan: SavedPlan = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        if plan.format != FORMAT {
            return Err(invalid(format!(
                "layout {} where this grantsync reads layout {FORMAT}",
                plan.format
            )));
        }
        for env in &plan.environments {
            if let Some(item) = env.items.iter().find(|item| !item.is_complete()) {
                return Err(invalid(format!(
                    "environment {}: the {} item for {} {} {} lacks the ids it needs",
                    env.name,
                    item.action.as_str(),
                    item.identity,
                    item.node,
                    item.role
                )));
            }
        }
        Ok(plan)
    }

    /// The environments the plan covers.
    pub fn environment_names(&self) -> Vec<String> {
        self.environments.iter().map(|e| e.name.clone()).collect()
    }
}
