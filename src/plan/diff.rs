//! Comparing desired grants with live assignments.
//!
//! Both sides become hash maps keyed by [`Key`]; one pass over the desired
//! map and one over the live map put every key in exactly one action, so the
//! cost grows linearly with the two sizes.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;

use super::key::KeyHash;
use super::{Action, EnvironmentPlan, Item, Key, Window};
use crate::api::types::{Assignment, State};
use crate::desired::{DesiredGrant, Origin, SourceKind, SourceOutput};
use crate::resolve::Catalog;

/// The part of the service a run manages, resolved to ids. Empty lists mean
/// every node, or every role.
#[derive(Debug, Clone, Default)]
pub struct ResolvedScope {
    pub nodes: Vec<uuid::Uuid>,
    pub roles: Vec<uuid::Uuid>,
}

impl ResolvedScope {
    pub fn contains(&self, catalog: &Catalog, key: &Key) -> bool {
        (self.roles.is_empty() || self.roles.contains(&key.role))
            && (self.nodes.is_empty() || self.nodes.iter().any(|&n| catalog.is_within(key.node, n)))
    }
}

pub struct PlanInput<'a> {
    pub name: &'a str,
    pub sources: &'a [SourceOutput],
    pub live: &'a [Assignment],
    pub catalog: &'a Catalog,
    pub now: Timestamp,
    pub prune: bool,
    pub scope: &'a ResolvedScope,
}

/// One desired key, merged from every place that declares it.
struct Wanted<'a> {
    window: Window,
    grant: &'a DesiredGrant,
}

/// What one key has on each side: positions in the desired list and in the
/// live slice, or [`NONE`]. Positions rather than references keep the map's
/// entries small, and so more of it in cache.
#[derive(Clone, Copy)]
struct Slot {
    want: u32,
    live: u32,
}

const NONE: u32 = u32::MAX;

fn index(position: usize) -> u32 {
    u32::try_from(position)
        .ok()
        .filter(|&i| i != NONE)
        .expect("fewer than four billion grants or assignments")
}

/// Plans one environment.
///
/// # Errors
///
/// The same key is declared twice with different windows; every such
/// conflict is returned, each naming both places.
pub fn plan_environment(input: PlanInput<'_>) -> Result<EnvironmentPlan, Vec<String>> {
    let PlanInput {
        name,
        sources,
        live,
        catalog,
        now,
        prune,
        scope,
    } = input;
    let mut plan = EnvironmentPlan {
        name: name.to_owned(),
        ..EnvironmentPlan::default()
    };

    // HR rows whose node does not exist are row errors: the whole row is left
    // out, not only the grant that named the node.
    let mut bad_rows: HashSet<(Arc<str>, u32)> = HashSet::new();
    for source in sources {
        plan.source_sizes
            .push((source.name.clone(), source.grants.len()));
        plan.row_errors.extend(
            source
                .row_errors
                .iter()
                .map(|e| format!("{}: {}", e.origin, e.message)),
        );
        for grant in &source.grants {
            if let SourceKind::HrRow(line) = grant.kind
                && let Err(reason) = catalog.node(&grant.node)
                && bad_rows.insert((grant.origin.file.clone(), line))
            {
                plan.row_errors
                    .push(format!("{}: {reason}; the row is left out", grant.origin));
            }
        }
    }

    // Desired side: resolve, merge duplicates, catch conflicts. Desired and
    // live share one map, so each key is looked up once per side and the
    // actions come from one pass over the map: at a million keys the cost is
    // the random memory accesses, not the comparisons.
    let desired_count: usize = sources.iter().map(|s| s.grants.len()).sum();
    let mut wanted: Vec<Wanted<'_>> = Vec::with_capacity(desired_count);
    let mut slots: HashMap<Key, Slot, KeyHash> =
        HashMap::with_capacity_and_hasher(desired_count.max(live.len()), KeyHash::default());
    let mut conflicts = Vec::new();
    for grant in sources.iter().flat_map(|s| &s.grants) {
        if let SourceKind::HrRow(line) = grant.kind
            && bad_rows.contains(&(grant.origin.file.clone(), line))
        {
            continue;
        }
        let resolved = (
            catalog.identity(&grant.identity),
            catalog.node(&grant.node),
            catalog.role(&grant.role),
        );
        let (Ok(identity), Ok(node), Ok(role)) = resolved else {
            let reasons: Vec<String> = [resolved.0.err(), resolved.1.err(), resolved.2.err()]
                .into_iter()
                .flatten()
                .collect();
            plan.items.push(unresolved_item(grant, reasons.join("; ")));
            continue;
        };
        let key = Key {
            identity,
            node,
            role,
        };
        let window = Window {
            effective_from: grant.effective_from,
            effective_to: grant.effective_to,
        };
        match slots.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert(Slot {
                    want: index(wanted.len()),
                    live: NONE,
                });
                wanted.push(Wanted { window, grant });
            }
            Entry::Occupied(slot) if wanted[slot.get().want as usize].window == window => {}
            Entry::Occupied(slot) => conflicts.push(format!(
                "{} and {} both declare {} {} {} with different windows; make them agree or remove one",
                wanted[slot.get().want as usize].grant.origin,
                grant.origin,
                catalog.identity_label(key.identity),
                catalog.node_label(key.node),
                catalog.role_label(key.role),
            )),
        }
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }

    // Live side, keyed the same way. The service keeps keys unique; should it
    // not, the later duplicate is reported as unmanaged and never touched.
    let mut live_duplicates = Vec::new();
    for (position, assignment) in live.iter().enumerate() {
        let key = Key {
            identity: assignment.identity_id,
            node: assignment.node_id,
            role: assignment.role_id,
        };
        let slot = slots.entry(key).or_insert(Slot {
            want: NONE,
            live: NONE,
        });
        if slot.live == NONE {
            slot.live = index(position);
        } else {
            live_duplicates.push(assignment);
        }
    }

    // Whether a node is in scope, decided once per node rather than once per
    // assignment: a million assignments sit at a few thousand nodes.
    let mut node_in_scope: HashMap<uuid::Uuid, bool> = HashMap::new();
    for (key, slot) in &slots {
        let assignment = (slot.live != NONE).then(|| &live[slot.live as usize]);
        if let Some(assignment) = assignment {
            let in_scope = (scope.roles.is_empty() || scope.roles.contains(&key.role))
                && *node_in_scope.entry(key.node).or_insert_with(|| {
                    scope.nodes.is_empty()
                        || scope.nodes.iter().any(|&n| catalog.is_within(key.node, n))
                });
            if in_scope {
                plan.managed_live += 1;
            }
            if slot.want == NONE {
                let action = if prune && in_scope {
                    Action::Revoke
                } else {
                    Action::Unmanaged
                };
                plan.items.push(live_item(action, key, assignment, catalog));
                plan.summary.count(action);
                continue;
            }
        }

        let want = &wanted[slot.want as usize];
        let item = match assignment {
            None if want.window.has_ended(now) => {
                let mut item = desired_item(Action::Skip, key, want, catalog);
                item.detail = Some("its window has already ended".into());
                item
            }
            None => desired_item(Action::Create, key, want, catalog),
            Some(assignment) => {
                let live_window = Window {
                    effective_from: assignment.effective_from,
                    effective_to: assignment.effective_to,
                };
                let action = if live_window == want.window {
                    Action::Unchanged
                } else if live_window.state(now) == State::Expired && !want.window.has_ended(now) {
                    Action::Renew
                } else {
                    Action::Update
                };
                if action == Action::Unchanged {
                    plan.summary.count(Action::Unchanged);
                    continue;
                }
                let mut item = desired_item(action, key, want, catalog);
                item.assignment_id = Some(assignment.id);
                item.previous = Some(live_window);
                item
            }
        };
        plan.summary.count(item.action);
        plan.items.push(item);
    }
    for assignment in live_duplicates {
        let key = Key {
            identity: assignment.identity_id,
            node: assignment.node_id,
            role: assignment.role_id,
        };
        plan.items
            .push(live_item(Action::Unmanaged, &key, assignment, catalog));
        plan.summary.count(Action::Unmanaged);
    }

    plan.summary.unresolved = plan
        .items
        .iter()
        .filter(|i| i.action == Action::Unresolved)
        .count();
    plan.summary.row_errors = plan.row_errors.len();
    plan.items.sort_by(|a, b| {
        (a.action, &a.node, &a.role, &a.identity).cmp(&(b.action, &b.node, &b.role, &b.identity))
    });
    Ok(plan)
}

fn desired_item(action: Action, key: &Key, want: &Wanted<'_>, catalog: &Catalog) -> Item {
    Item {
        action,
        identity: catalog.identity_label(key.identity),
        node: catalog.node_label(key.node),
        role: catalog.role_label(key.role),
        key: Some(*key),
        assignment_id: None,
        window: want.window,
        previous: None,
        source: Some(want.grant.origin.to_string()),
        reason: want.grant.reason.clone(),
        detail: None,
    }
}

fn live_item(action: Action, key: &Key, assignment: &Assignment, catalog: &Catalog) -> Item {
    Item {
        action,
        identity: catalog.identity_label(key.identity),
        node: catalog.node_label(key.node),
        role: catalog.role_label(key.role),
        key: Some(*key),
        assignment_id: Some(assignment.id),
        window: Window {
            effective_from: assignment.effective_from,
            effective_to: assignment.effective_to,
        },
        previous: None,
        source: None,
        reason: None,
        detail: None,
    }
}

fn unresolved_item(grant: &DesiredGrant, reason: String) -> Item {
    Item {
        action: Action::Unresolved,
        identity: grant.identity.to_string(),
        node: grant.node.to_string(),
        role: grant.role.to_string(),
        key: None,
        assignment_id: None,
        window: Window {
            effective_from: grant.effective_from,
            effective_to: grant.effective_to,
        },
        previous: None,
        source: Some(origin_label(&grant.origin)),
        reason: grant.reason.clone(),
        detail: Some(reason),
    }
}

fn origin_label(origin: &Origin) -> String {
    origin.to_string()
}
