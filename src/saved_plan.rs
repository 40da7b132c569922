//! Reviewed plans: `plan --out FILE` saves a plan, `apply --plan FILE`
//! applies exactly that plan, or nothing.
//!
//! A saved plan holds its items with the ids they resolved to, a digest of
//! every input it was made from (the config and each source file), and a
//! digest of the live assignments it saw in each environment. Applying it
//! re-reads those digests first: when a file or the live state moved since,
//! the plan is stale and is refused, naming what moved, before any write.
//! Otherwise the saved items are applied as they are, through the same
//! rails and [`apply_plan`] as any apply; nothing is planned afresh.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use uuid::Uuid;

use crate::api::types::Assignment;
use crate::apply::{ApplyOptions, apply_plan};
use crate::config::{Config, EnvironmentConfig, Source};
use crate::desired::{display_path, expand_glob};
use crate::plan::rails::{self, Refusal};
use crate::plan::{Action, EnvironmentPlan, Item, Key, Summary, Window};
use crate::report::{EnvironmentReport, Mode, RunReport};
use crate::resolve::Catalog;
use crate::sync::{Captured, RunOptions, Runner};

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
    #[error(
        "the saved plan is stale; nothing was written:\n{}\nmake a new plan with `grantsync plan --out FILE`, review it, and apply that",
        changes.iter().map(|c| format!("  {c}")).collect::<Vec<_>>().join("\n")
    )]
    Stale { changes: Vec<String> },
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
    fn plan(&self) -> EnvironmentPlan {
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

/// The digest of a list of live assignments.
pub fn live_digest(live: &[Assignment]) -> LiveDigest {
    let mut sorted: Vec<&Assignment> = live.iter().collect();
    sorted.sort_by_key(|a| a.id);
    let mut hasher = blake3::Hasher::new();
    let instant = |at: Option<Timestamp>| at.map_or_else(String::new, |at| at.to_string());
    for a in sorted {
        let line = format!(
            "{} {} {} {} {} {}\n",
            a.id,
            a.identity_id,
            a.node_id,
            a.role_id,
            instant(a.effective_from),
            instant(a.effective_to)
        );
        hasher.update(line.as_bytes());
    }
    LiveDigest {
        assignments: live.len(),
        blake3: hasher.finalize().to_hex().to_string(),
    }
}

fn file_digest(base: &Path, path: &Path) -> Result<FileDigest, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    Ok(FileDigest {
        path: display_path(base, path).to_string(),
        blake3: blake3::hash(&bytes).to_hex().to_string(),
    })
}

/// The digests of every file an environment's sources read, found the way
/// the sources find them but without parsing them, so that a file that no
/// longer parses is still named as changed.
pub fn input_digests(config: &Config, env: &EnvironmentConfig) -> Result<Vec<FileDigest>, Error> {
    let base = &config.base_dir;
    let unreadable = |message: String| Error::InputsUnreadable {
        environment: env.name.clone(),
        message,
    };
    let mut files: Vec<PathBuf> = Vec::new();
    for source in env.sources() {
        let matched = expand_glob(base, source.name())
            .map_err(|e| unreadable(format!("{}: {e}", source.name())))?;
        match source {
            Source::Grants { .. } => files.extend(matched),
            // Only the newest export is read.
            Source::HrExport { mapping, .. } => {
                files.extend(matched.last().cloned());
                files.push(mapping);
            }
        }
    }
    files.sort();
    files.dedup();
    files
        .iter()
        .map(|path| file_digest(base, path).map_err(unreadable))
        .collect()
}

fn config_digest(config: &Config) -> Result<FileDigest, Error> {
    let bytes = std::fs::read(&config.path).map_err(|source| Error::Unreadable {
        path: config.path.clone(),
        source,
    })?;
    Ok(FileDigest {
        path: config.path.display().to_string(),
        blake3: blake3::hash(&bytes).to_hex().to_string(),
    })
}

/// The digests of every selected environment's inputs, by environment.
pub fn all_input_digests(
    config: &Config,
    environments: &[String],
) -> Result<BTreeMap<String, Vec<FileDigest>>, Error> {
    let selected = config
        .select(environments)
        .map_err(|message| Error::NotSaved(message.clone()))?;
    selected
        .into_iter()
        .map(|env| Ok((env.name.clone(), input_digests(config, env)?)))
        .collect()
}

/// What moved between two lists of file digests, one line per file.
fn changed_files(environment: &str, then: &[FileDigest], now: &[FileDigest]) -> Vec<String> {
    let then: BTreeMap<&str, &str> = then
        .iter()
        .map(|f| (f.path.as_str(), f.blake3.as_str()))
        .collect();
    let now: BTreeMap<&str, &str> = now
        .iter()
        .map(|f| (f.path.as_str(), f.blake3.as_str()))
        .collect();
    let mut changes = Vec::new();
    for (path, digest) in &then {
        match now.get(path) {
            None => changes.push(format!(
                "{path} is no longer read by environment {environment} (deleted or renamed)"
            )),
            Some(current) if current != digest => {
                changes.push(format!("{path} changed since the plan was made"));
            }
            Some(_) => {}
        }
    }
    for path in now.keys().filter(|path| !then.contains_key(*path)) {
        changes.push(format!(
            "{path} is new: environment {environment} reads it, the plan did not"
        ));
    }
    changes
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

/// Applies a saved plan: checks that nothing moved, then applies its items.
///
/// # Errors
///
/// [`Error::Stale`] naming every file and live state that moved, before any
/// write. What goes wrong inside one environment after the checks is in its
/// part of the report, as with any apply.
pub async fn apply_saved(
    runner: &mut Runner,
    saved: &SavedPlan,
    options: &RunOptions,
) -> Result<RunReport, Error> {
    let started_at = Timestamp::now();
    let config = runner.config().clone();

    // Files first: they need no network, and a stale file is the common case.
    let mut changes = Vec::new();
    let current = config_digest(&config)?;
    if current.blake3 != saved.config.blake3 {
        changes.push(format!(
            "{} changed since the plan was made",
            config.path.display()
        ));
    }
    let mut environments: Vec<(&SavedEnvironment, EnvironmentConfig)> = Vec::new();
    for env in &saved.environments {
        let Some(env_config) = config.environments.iter().find(|e| e.name == env.name) else {
            changes.push(format!(
                "environment {} is no longer in {}",
                env.name,
                config.path.display()
            ));
            continue;
        };
        changes.extend(changed_files(
            &env.name,
            &env.inputs,
            &input_digests(&config, env_config)?,
        ));
        environments.push((env, env_config.clone()));
    }
    if !changes.is_empty() {
        return Err(Error::Stale { changes });
    }

    // Then the live state of every environment, before writing to any.
    let mut connected = Vec::new();
    let mut failed = Vec::new();
    for (saved_env, env) in &environments {
        let span = tracing::info_span!("environment", environment = %env.name);
        let fetched = async {
            let client = runner.connect(env, options).await?;
            let (catalog, live) =
                tokio::try_join!(Catalog::fetch(&client), client.list_assignments())
                    .map_err(|e| e.to_string())?;
            Ok::<_, String>((client, catalog, live))
        }
        .instrument(span)
        .await;
        match fetched {
            Ok((client, catalog, live)) => {
                let now = live_digest(&live);
                if now != saved_env.live {
                    changes.push(format!(
                        "the live state of environment {} changed since the plan was made ({} assignments then, {} now)",
                        env.name, saved_env.live.assignments, now.assignments
                    ));
                }
                connected.push((*saved_env, env, client, catalog, live));
            }
            Err(error) => failed.push(EnvironmentReport::failed(&env.name, error)),
        }
    }
    if !changes.is_empty() {
        return Err(Error::Stale { changes });
    }

    let now = saved.now.unwrap_or(started_at);
    let mut report = RunReport::new(Mode::Apply, started_at, now);
    report.environments = failed;
    for (saved_env, env, client, catalog, live) in connected {
        let plan = saved_env.plan();
        let refusals = check_rails(runner, env, &plan, &live, &catalog, options, now);
        let outcomes = if refusals.is_empty() {
            let apply_options = ApplyOptions {
                bulk_size: env.api.bulk_size,
                concurrency: env.api.concurrency,
                cancel: options.cancel.clone(),
            };
            let outcomes = apply_plan(&client, &plan, &apply_options).await;
            if !options.cancel.is_cancelled()
                && let Err(error) = runner
                    .state()
                    .save_source_sizes(&env.name, &plan.source_sizes)
            {
                tracing::warn!(error = %error, "could not record the sources' sizes");
            }
            Some(outcomes)
        } else {
            for refusal in &refusals {
                tracing::warn!(rail = refusal.rail, "{}", refusal.message);
            }
            None
        };
        let mut env_report = EnvironmentReport::new(&plan, outcomes.as_deref());
        env_report.refusals = refusals;
        env_report.calls = Some(client.stats().snapshot());
        report.environments.push(env_report);
    }
    report.interrupted = options.cancel.is_cancelled();
    report.finished_at = Some(Timestamp::now());
    Ok(report)
}

/// The rails an apply checks, on the saved plan.
fn check_rails(
    runner: &Runner,
    env: &EnvironmentConfig,
    plan: &EnvironmentPlan,
    live: &[Assignment],
    catalog: &Catalog,
    options: &RunOptions,
    now: Timestamp,
) -> Vec<Refusal> {
    let mut refusals = Vec::new();
    refusals.extend(rails::check_revocations(
        plan,
        env.limits.max_revocations,
        options.allow_mass_revoke,
    ));
    refusals.extend(rails::check_source_shrink(
        plan,
        &runner.state().last_source_sizes(&env.name),
        env.limits.max_source_shrink,
        options.allow_source_shrink,
    ));
    refusals.extend(rails::check_protected(
        plan,
        live,
        &env.limits.protect,
        catalog,
        now,
    ));
    if options.strict && plan.summary.unresolved > 0 {
        refusals.push(Refusal {
            rail: "unresolved",
            message: format!(
                "environment {}: {} grants name an identity, node or role the service does not have (--strict); nothing was written",
                env.name, plan.summary.unresolved
            ),
        });
    }
    refusals
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(id: u128, to: Option<&str>) -> Assignment {
        Assignment {
            id: Uuid::from_u128(id),
            identity_id: Uuid::from_u128(1),
            node_id: Uuid::from_u128(2),
            role_id: Uuid::from_u128(3),
            effective_from: None,
            effective_to: to.map(|t| t.parse().unwrap()),
            state: crate::api::types::State::Active,
            created_at: "2026-01-01T00:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn live_digest_ignores_order_and_sees_windows() {
        let a = assignment(1, None);
        let b = assignment(2, Some("2026-12-31T23:59:59Z"));
        assert_eq!(
            live_digest(&[a.clone(), b.clone()]),
            live_digest(&[b.clone(), a.clone()])
        );
        let moved = assignment(2, Some("2027-01-31T23:59:59Z"));
        assert_ne!(live_digest(&[a.clone(), b]), live_digest(&[a, moved]));
    }

    #[test]
    fn changed_files_names_each_change() {
        let digest = |path: &str, blake3: &str| FileDigest {
            path: path.into(),
            blake3: blake3.into(),
        };
        let then = [digest("a.yaml", "1"), digest("b.yaml", "2")];
        let now = [digest("a.yaml", "9"), digest("c.yaml", "3")];
        let changes = changed_files("Production", &then, &now);
        assert_eq!(changes.len(), 3, "{changes:?}");
        assert!(changes[0].starts_with("a.yaml changed"), "{changes:?}");
        assert!(
            changes[1].starts_with("b.yaml is no longer read"),
            "{changes:?}"
        );
        assert!(changes[2].starts_with("c.yaml is new"), "{changes:?}");
    }
}
