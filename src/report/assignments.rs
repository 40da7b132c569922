//! The full sets of assignments behind a plan, for the diff format: what is
//! live now, and what the service holds once the plan is applied.
//!
//! A report lists changes only, so the diff needs both sets whole. They are
//! built from the live listing and the plan's items alone (creates added,
//! windows changed, revocations removed), so unmanaged assignments appear on
//! both sides and the diff shows exactly what the plan would write. Each set
//! renders as normalised grants YAML, one document per root node.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::Timestamp;

use crate::api::types::Assignment;
use crate::plan::{Action, EnvironmentPlan, Key, Window};
use crate::resolve::Catalog;
use crate::yaml::scalar;

/// One assignment as people name it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Held {
    /// The node's path of keys from its root.
    pub node: String,
    pub role: String,
    pub effective_from: Option<Timestamp>,
    pub effective_to: Option<Timestamp>,
    pub identity: String,
}

/// The assignments live now and those the plan leaves, each sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignmentSets {
    pub live: Vec<Held>,
    pub desired: Vec<Held>,
}

/// Both sets of one environment, from its live listing and its plan.
pub fn assignment_sets(
    live: &[Assignment],
    plan: &EnvironmentPlan,
    catalog: &Catalog,
) -> AssignmentSets {
    let mut now: HashMap<Key, Window> = HashMap::with_capacity(live.len());
    for assignment in live {
        let key = Key {
            identity: assignment.identity_id,
            node: assignment.node_id,
            role: assignment.role_id,
        };
        let window = Window {
            effective_from: assignment.effective_from,
            effective_to: assignment.effective_to,
        };
        now.insert(key, window);
    }

    let mut after = now.clone();
    for item in &plan.items {
        let Some(key) = item.key else { continue };
        match item.action {
            Action::Create | Action::Update | Action::Renew => {
                after.insert(key, item.window);
            }
            Action::Revoke => {
                after.remove(&key);
            }
            Action::Unresolved | Action::Skip | Action::Unmanaged | Action::Unchanged => {}
        }
    }

    AssignmentSets {
        live: labelled(&now, catalog),
        desired: labelled(&after, catalog),
    }
}

fn labelled(set: &HashMap<Key, Window>, catalog: &Catalog) -> Vec<Held> {
    let mut held: Vec<Held> = set
        .iter()
        .map(|(key, window)| Held {
            node: catalog.node_label(key.node),
            role: catalog.role_label(key.role),
            effective_from: window.effective_from,
            effective_to: window.effective_to,
            identity: catalog.identity_label(key.identity),
        })
        .collect();
    held.sort();
    held
}

/// The root of a node path: the part before the first `/`.
pub fn root_of(node: &str) -> &str {
    node.split('/').next().unwrap_or(node)
}

/// Splits a sorted set by root node.
pub fn by_root(set: &[Held]) -> BTreeMap<&str, Vec<&Held>> {
    let mut roots: BTreeMap<&str, Vec<&Held>> = BTreeMap::new();
    for held in set {
        roots.entry(root_of(&held.node)).or_default().push(held);
    }
    roots
}

/// What the identities of one grants entry share: node, role and window.
pub type GroupKey<'a> = (&'a str, &'a str, Option<Timestamp>, Option<Timestamp>);

fn group_key(held: &Held) -> GroupKey<'_> {
    (
        &held.node,
        &held.role,
        held.effective_from,
        held.effective_to,
    )
}

/// The entries that take the grouped form: those with two or more
/// identities in any of `sets`. Deciding over both sides of a diff keeps an
/// entry in one form on both, so adding a second identity is one added line
/// rather than a rewritten entry.
pub fn grouped<'a>(sets: &[&[&'a Held]]) -> HashSet<GroupKey<'a>> {
    let mut grouped = HashSet::new();
    for set in sets {
        for pair in set.windows(2) {
            if group_key(pair[0]) == group_key(pair[1]) {
                grouped.insert(group_key(pair[0]));
            }
        }
    }
    grouped
}

/// A grants file holding `held` (sorted), in normalised form: entries by
/// node, role and window; the grouped form (`identities:`) for the entries
/// in `grouped`; one identity per line so that a diff moves whole lines.
pub fn to_grants_yaml(
    environment: &str,
    held: &[&Held],
    grouped: &HashSet<GroupKey<'_>>,
) -> String {
    let mut out = format!("environment: {}\n", scalar(environment));
    if held.is_empty() {
        out.push_str("grants: []\n");
        return out;
    }
    out.push_str("grants:\n");
    let mut rest = held;
    while let Some(first) = rest.first() {
        let key = group_key(first);
        let same = rest.iter().take_while(|h| group_key(h) == key).count();
        let (group, tail) = rest.split_at(same);
        out.push_str(&format!("  - node: {}\n", scalar(&first.node)));
        out.push_str(&format!("    role: {}\n", scalar(&first.role)));
        if let Some(from) = first.effective_from {
            out.push_str(&format!("    effective_from: {from}\n"));
        }
        if let Some(to) = first.effective_to {
            out.push_str(&format!("    effective_to: {to}\n"));
        }
        if let ([only], false) = (group, grouped.contains(&key)) {
            out.push_str(&format!("    identity: {}\n", scalar(&only.identity)));
        } else {
            out.push_str("    identities:\n");
            for held in group {
                out.push_str(&format!("      - {}\n", scalar(&held.identity)));
            }
        }
        rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(node: &str, role: &str, identity: &str, to: Option<&str>) -> Held {
        Held {
            node: node.into(),
            role: role.into(),
            effective_from: None,
            effective_to: to.map(|t| t.parse().unwrap()),
            identity: identity.into(),
        }
    }

    #[test]
    fn identities_sharing_node_role_and_window_are_grouped() {
        let mut set = [
            held("acme/eng", "developer", "carol@x.example", None),
            held("acme/eng", "developer", "bob@x.example", None),
            held(
                "acme/eng",
                "developer",
                "erin@x.example",
                Some("2027-01-01T00:00:00Z"),
            ),
            held("acme", "admin", "alice@x.example", None),
        ];
        set.sort();
        let refs: Vec<&Held> = set.iter().collect();
        assert_eq!(
            to_grants_yaml("Production", &refs, &grouped(&[&refs])),
            "environment: Production
grants:
  - node: acme
    role: admin
    identity: alice@x.example
  - node: acme/eng
    role: developer
    identities:
      - bob@x.example
      - carol@x.example
  - node: acme/eng
    role: developer
    effective_to: 2027-01-01T00:00:00Z
    identity: erin@x.example
"
        );
    }

    #[test]
    fn an_empty_root_renders_an_empty_list() {
        assert_eq!(
            to_grants_yaml("Dev", &[], &HashSet::new()),
            "environment: Dev\ngrants: []\n"
        );
    }

    #[test]
    fn an_entry_grouped_on_either_side_is_grouped_on_both() {
        let one = [held("acme", "viewer", "a@x.example", None)];
        let two = [
            held("acme", "viewer", "a@x.example", None),
            held("acme", "viewer", "b@x.example", None),
        ];
        let before: Vec<&Held> = one.iter().collect();
        let after: Vec<&Held> = two.iter().collect();
        let groups = grouped(&[&before, &after]);
        assert!(
            to_grants_yaml("P", &before, &groups)
                .ends_with("    identities:\n      - a@x.example\n")
        );
    }
}
