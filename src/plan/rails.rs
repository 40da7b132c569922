//! Safety rails: checks that refuse a plan before anything is written.
//!
//! Each check returns the refusals it finds, with a message that says what
//! would have happened, the limit, and how to allow it when that is allowed.
//! An environment with a refusal gets no write at all.

use std::collections::HashMap;

use jiff::Timestamp;
use serde::Serialize;
use uuid::Uuid;

use super::{Action, EnvironmentPlan, Key};
use crate::api::types::{Assignment, State};
use crate::config::{Limit, LimitsConfig, Protect};
use crate::resolve::Catalog;

/// Why a plan may not be applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Refusal {
    /// Which rail: `max_revocations`, `max_source_shrink`, `protect`,
    /// `environment`, `unresolved`.
    pub rail: &'static str,
    pub message: String,
}

/// What one run lets past the rails: the `--allow-*` flags, and whether
/// unresolved references are let through (they are, unless `--strict`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Allowed {
    pub mass_revoke: bool,
    pub source_shrink: bool,
    pub unresolved: bool,
}

/// Every rail an apply checks, in order; `last_good` holds the sources'
/// sizes at the environment's last good run.
pub fn check_all(
    plan: &EnvironmentPlan,
    live: &[Assignment],
    catalog: &Catalog,
    limits: &LimitsConfig,
    last_good: &HashMap<String, usize>,
    allowed: Allowed,
    now: Timestamp,
) -> Vec<Refusal> {
    let mut refusals = Vec::new();
    refusals.extend(check_revocations(
        plan,
        limits.max_revocations,
        allowed.mass_revoke,
    ));
    refusals.extend(check_source_shrink(
        plan,
        last_good,
        limits.max_source_shrink,
        allowed.source_shrink,
    ));
    refusals.extend(check_protected(plan, live, &limits.protect, catalog, now));
    let unresolved = plan.summary.unresolved;
    if !allowed.unresolved && unresolved > 0 {
        refusals.push(Refusal {
            rail: "unresolved",
            message: format!(
                "environment {}: --strict refuses {unresolved} unresolved {} (a name the service does not have); nothing was written",
                plan.name,
                if unresolved == 1 { "grant" } else { "grants" }
            ),
        });
    }
    refusals
}

/// More revocations than `limit` allows (of the managed live assignments).
pub fn check_revocations(plan: &EnvironmentPlan, limit: Limit, allowed: bool) -> Option<Refusal> {
    let revokes = plan.summary.revoke;
    let max = limit.of(plan.managed_live);
    (revokes > max && !allowed).then(|| Refusal {
        rail: "max_revocations",
        message: format!(
            "environment {}: the plan would revoke {revokes} of {} managed assignments, over the limit of {max} (max_revocations: {limit}); nothing was written. Check the sources, or allow it once with `grantsync apply --allow-mass-revoke`",
            plan.name, plan.managed_live
        ),
    })
}

/// Sources that yield far fewer grants than at their last good run, and
/// sources that yield none at all.
pub fn check_source_shrink(
    plan: &EnvironmentPlan,
    last_good: &HashMap<String, usize>,
    limit: Limit,
    allowed: bool,
) -> Vec<Refusal> {
    if allowed {
        return Vec::new();
    }
    let mut refusals = Vec::new();
    for (source, now) in &plan.source_sizes {
        let before = last_good.get(source).copied();
        if *now == 0 {
            refusals.push(Refusal {
                rail: "max_source_shrink",
                message: format!(
                    "environment {}: source {source} yields no grants{}; an empty or truncated source is refused. Fix the source, or allow it once with `grantsync apply --allow-source-shrink`",
                    plan.name,
                    before.map_or(String::new(), |b| format!(" (it yielded {b} at its last good run)")),
                ),
            });
            continue;
        }
        let Some(before) = before else { continue };
        let lost = before.saturating_sub(*now);
        let max = limit.of(before);
        if lost > max {
            refusals.push(Refusal {
                rail: "max_source_shrink",
                message: format!(
                    "environment {}: source {source} yields {now} grants, {lost} fewer than the {before} of its last good run, over the limit of {max} (max_source_shrink: {limit}); nothing was written. Check the source, or allow it once with `grantsync apply --allow-source-shrink`",
                    plan.name
                ),
            });
        }
    }
    refusals
}

/// Nodes where a protected role would be left with fewer active holders
/// than its minimum (and fewer than it has now).
pub fn check_protected(
    plan: &EnvironmentPlan,
    live: &[Assignment],
    protect: &[Protect],
    catalog: &Catalog,
    now: Timestamp,
) -> Vec<Refusal> {
    let minimum: HashMap<Uuid, &Protect> = protect
        .iter()
        .filter_map(|p| catalog.role_by_key(&p.role).map(|id| (id, p)))
        .collect();
    if minimum.is_empty() {
        return Vec::new();
    }

    // Whether each key of a protected role is active, before and after.
    let mut before: HashMap<Key, bool> = HashMap::new();
    for assignment in live.iter().filter(|a| minimum.contains_key(&a.role_id)) {
        let key = Key {
            identity: assignment.identity_id,
            node: assignment.node_id,
            role: assignment.role_id,
        };
        let active =
            State::at(assignment.effective_from, assignment.effective_to, now) == State::Active;
        before.insert(key, active);
    }
    let mut after = before.clone();
    for item in &plan.items {
        let Some(key) = item.key.filter(|k| minimum.contains_key(&k.role)) else {
            continue;
        };
        match item.action {
            Action::Revoke => {
                after.remove(&key);
            }
            Action::Create | Action::Update | Action::Renew => {
                after.insert(key, item.window.state(now) == State::Active);
            }
            _ => {}
        }
    }

    let holders = |states: &HashMap<Key, bool>| {
        let mut count: HashMap<(Uuid, Uuid), usize> = HashMap::new();
        for (key, active) in states {
            let slot = count.entry((key.node, key.role)).or_default();
            if *active {
                *slot += 1;
            }
        }
        count
    };
    let (held_before, held_after) = (holders(&before), holders(&after));
    let mut refusals = Vec::new();
    let mut places: Vec<_> = held_before.iter().collect();
    places.sort();
    for (&(node, role), &count_before) in places {
        let count_after = held_after.get(&(node, role)).copied().unwrap_or(0);
        let min = minimum[&role].min_holders;
        if count_after < min && count_after < count_before {
            refusals.push(Refusal {
                rail: "protect",
                message: format!(
                    "environment {}: node {} would be left with {count_after} active {} (now {count_before}, protected minimum {min}); nothing was written. Declare the holders that should stay",
                    plan.name,
                    catalog.node_label(node),
                    catalog.role_label(role),
                ),
            });
        }
    }
    refusals
}
