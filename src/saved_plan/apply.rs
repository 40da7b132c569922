//! Applying a saved plan: every file and live state checked first, across
//! all its environments, and only then the saved items, through the same
//! rails and [`apply_plan`] as any apply.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use jiff::Timestamp;
use tracing::Instrument;

use super::digest::{changed_files, config_digest, input_digests, live_digest};
use super::{Error, SavedEnvironment, SavedItem, SavedPlan};
use crate::api::types::Assignment;
use crate::config::EnvironmentConfig;
use crate::plan::rails;
use crate::report::{EnvironmentReport, Mode, RunReport};
use crate::resolve::Catalog;
use crate::sync::{RunOptions, Runner, apply_and_record, load_sources, log_refusals, plan_for};

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

    // The same inputs must still give the saved items: an edited plan file,
    // or a clock that has crossed a grant's window since, is refused too.
    let now = saved.now.unwrap_or(started_at);
    for (saved_env, env, _, catalog, live) in &connected {
        changes.extend(replanned_differences(
            saved_env,
            env,
            &config.base_dir,
            catalog,
            live,
            now,
        ));
    }
    if !changes.is_empty() {
        return Err(Error::Stale { changes });
    }

    let mut report = RunReport::new(Mode::Apply, started_at, now);
    report.environments = failed;
    for (saved_env, env, client, catalog, live) in connected {
        let plan = saved_env.plan();
        let refusals = rails::check_all(
            &plan,
            &live,
            &catalog,
            &env.limits,
            &runner.state().last_source_sizes(&env.name),
            options.allowed(),
            now,
        );
        let outcomes = if refusals.is_empty() {
            Some(apply_and_record(runner.state(), &client, env, &plan, options).await)
        } else {
            None
        };
        log_refusals(&refusals);
        let mut env_report = EnvironmentReport::new(&plan, outcomes.as_deref());
        env_report.refusals = refusals;
        env_report.calls = Some(client.stats().snapshot());
        report.environments.push(env_report);
    }
    report.interrupted = options.cancel.is_cancelled();
    report.finished_at = Some(Timestamp::now());
    Ok(report)
}

/// How the saved plan of one environment differs from the plan that its
/// (unchanged) files and live state give now; empty when they agree.
fn replanned_differences(
    saved: &SavedEnvironment,
    env: &EnvironmentConfig,
    base: &Path,
    catalog: &Catalog,
    live: &[Assignment],
    now: Timestamp,
) -> Vec<String> {
    let fresh = load_sources(base, env, now)
        .and_then(|sources| plan_for(env, &sources, live, catalog, now, saved.prune));
    let fresh = match fresh {
        Ok(plan) => plan,
        Err(message) => return vec![format!("environment {}: {message}", env.name)],
    };
    let fresh_items: Vec<SavedItem> = fresh.items.iter().map(SavedItem::new).collect();
    let same = fresh_items == saved.items
        && fresh.summary == saved.summary
        && fresh.managed_live == saved.managed_live
        && fresh.row_errors == saved.row_errors
        && fresh
            .source_sizes
            .iter()
            .cloned()
            .collect::<BTreeMap<_, _>>()
            == saved.source_sizes;
    if same {
        return Vec::new();
    }

    // Items compare by their JSON, which holds every field.
    let file_texts = as_json(&saved.items);
    let in_file: BTreeSet<&String> = file_texts.iter().collect();
    let fresh_texts = as_json(&fresh_items);
    let in_fresh: BTreeSet<&String> = fresh_texts.iter().collect();
    let first_only_in_file = saved
        .items
        .iter()
        .zip(&file_texts)
        .find(|(_, text)| !in_fresh.contains(text))
        .map(|(item, _)| item);
    let only_in_file = in_file.difference(&in_fresh).count();
    let mut message = format!(
        "environment {}: the plan file does not hold what its unchanged files and live state give now ({only_in_file} {} only in the file, {} only in a fresh plan)",
        env.name,
        if only_in_file == 1 { "item" } else { "items" },
        in_fresh.difference(&in_file).count(),
    );
    if let Some(item) = first_only_in_file {
        let _ = write!(
            message,
            ", such as {} {} {} at {}",
            item.action.as_str(),
            item.identity,
            item.role,
            item.node
        );
    }
    message.push_str(
        "; the file was edited after it was made, or the clock has since crossed a grant's window",
    );
    vec![message]
}

/// Each item's JSON, in the items' order.
fn as_json(items: &[SavedItem]) -> Vec<String> {
    items
        .iter()
        .map(|item| serde_json::to_string(item).expect("an item is JSON"))
        .collect()
}
