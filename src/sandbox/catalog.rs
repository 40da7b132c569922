//! What the API never changes once a store is seeded: environments, their
//! keys, identities, nodes and roles. It is loaded from the store when the
//! sandbox starts and kept in memory, so authentication, reference checks and
//! the inherited-access walk up the node tree cost no query.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use uuid::Uuid;

use crate::api::types::{Environment, Identity, Node, Role};

/// Every environment of a store, and which API key opens which.
#[derive(Default)]
pub(crate) struct Catalog {
    pub environments: Vec<Arc<EnvironmentCatalog>>,
    by_key: HashMap<String, Arc<EnvironmentCatalog>>,
}

impl fmt::Debug for Catalog {
    // Keys are secrets, even a sandbox's: show how many, never which.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Catalog")
            .field("environments", &self.environments)
            .field("keys", &format_args!("<{} redacted>", self.by_key.len()))
            .finish()
    }
}

impl Catalog {
    pub fn new(environments: Vec<(EnvironmentCatalog, Vec<String>)>) -> Catalog {
        let mut catalog = Catalog::default();
        for (environment, keys) in environments {
            let environment = Arc::new(environment);
            for key in keys {
                catalog.by_key.insert(key, Arc::clone(&environment));
            }
            catalog.environments.push(environment);
        }
        catalog
    }

    /// The environment that `key` belongs to.
    pub fn environment_for_key(&self, key: &str) -> Option<&Arc<EnvironmentCatalog>> {
        self.by_key.get(key)
    }

    /// How many keys open `environment`.
    pub fn key_count(&self, environment: Uuid) -> usize {
        self.by_key
            .values()
            .filter(|e| e.environment.id == environment)
            .count()
    }
}

/// One environment's identities, nodes and roles, in the order they were
/// seeded (which is the order the list endpoints return them in).
#[derive(Debug)]
pub(crate) struct EnvironmentCatalog {
    /// The store's small integer for this environment.
    pub seq: i64,
    pub environment: Environment,
    pub identities: Vec<Identity>,
    pub nodes: Vec<Node>,
    pub roles: Vec<Role>,
    identity_index: HashMap<Uuid, usize>,
    node_index: HashMap<Uuid, usize>,
    role_index: HashMap<Uuid, usize>,
}

impl EnvironmentCatalog {
    pub fn new(
        seq: i64,
        environment: Environment,
        identities: Vec<Identity>,
        nodes: Vec<Node>,
        roles: Vec<Role>,
    ) -> EnvironmentCatalog {
        let identity_index = identities
            .iter()
            .enumerate()
            .map(|(i, x)| (x.id, i))
            .collect();
        let node_index = nodes.iter().enumerate().map(|(i, x)| (x.id, i)).collect();
        let role_index = roles.iter().enumerate().map(|(i, x)| (x.id, i)).collect();
        EnvironmentCatalog {
            seq,
            environment,
            identities,
            nodes,
            roles,
            identity_index,
            node_index,
            role_index,
        }
    }

    pub fn identity(&self, id: Uuid) -> Option<&Identity> {
        self.identity_index.get(&id).map(|&i| &self.identities[i])
    }

    pub fn node(&self, id: Uuid) -> Option<&Node> {
        self.node_index.get(&id).map(|&i| &self.nodes[i])
    }

    pub fn role(&self, id: Uuid) -> Option<&Role> {
        self.role_index.get(&id).map(|&i| &self.roles[i])
    }

    /// `node` and its ancestors, nearest first; empty when the node is unknown.
    pub fn lineage(&self, node: Uuid) -> Vec<Uuid> {
        let mut lineage = Vec::new();
        let mut current = self.node(node);
        while let Some(n) = current {
            // A seeded tree has no cycles; the bound only guards a hand-edited store.
            if lineage.len() > self.nodes.len() {
                break;
            }
            lineage.push(n.id);
            current = n.parent_id.and_then(|p| self.node(p));
        }
        lineage
    }
}

/// A page of an immutable list: the items after position `after` that pass
/// `keep`, and the position to continue from when more may follow.
///
/// The catalog never changes while the sandbox runs, so a position is as
/// stable a cursor as a key would be.
pub(crate) fn page<T: Clone>(
    items: &[T],
    after: Option<usize>,
    limit: usize,
    keep: impl Fn(&T) -> bool,
) -> (Vec<T>, Option<usize>) {
    let start = after.map_or(0, |a| a + 1);
    let mut data = Vec::new();
    let mut last = start;
    for (position, item) in items.iter().enumerate().skip(start) {
        if !keep(item) {
            continue;
        }
        if data.len() == limit {
            return (data, Some(last));
        }
        data.push(item.clone());
        last = position;
    }
    (data, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_continues_after_the_last_item_returned() {
        let items: Vec<u32> = (0..10).collect();
        let (first, next) = page(&items, None, 3, |x| x % 2 == 0);
        assert_eq!(first, vec![0, 2, 4]);
        let (second, next) = page(&items, next, 3, |x| x % 2 == 0);
        assert_eq!(second, vec![6, 8]);
        assert_eq!(next, None);
    }

    #[test]
    fn page_of_exact_size_has_no_next() {
        let items: Vec<u32> = (0..3).collect();
        assert_eq!(page(&items, None, 3, |_| true), (vec![0, 1, 2], None));
    }
}
