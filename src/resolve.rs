//! Turning the names people write into the ids the service uses.
//!
//! A [`Catalog`] holds one environment's identities, nodes and roles as the
//! service lists them, indexed every way a file may name them: identities by
//! email, HR id or UUID, nodes by their path of keys or UUID, roles by key or
//! UUID. A name that matches nothing is not an error of the run: the grant
//! becomes an `unresolved` item with the reason, and a hint when a known name
//! is close.

use std::collections::HashMap;

use uuid::Uuid;

use crate::api::types::{Identity, Node, Role};
use crate::api::{self, Client};
use crate::desired::{IdentityRef, NodeRef, RoleRef};

/// What one environment's names refer to.
#[derive(Debug, Default)]
pub struct Catalog {
    by_email: HashMap<String, Uuid>,
    by_external: HashMap<String, Uuid>,
    identities: HashMap<Uuid, Identity>,
    by_path: HashMap<String, Uuid>,
    nodes: HashMap<Uuid, NodeEntry>,
    by_role_key: HashMap<String, Uuid>,
    roles: HashMap<Uuid, Role>,
}

#[derive(Debug)]
struct NodeEntry {
    path: String,
    parent: Option<Uuid>,
}

impl Catalog {
    /// Lists identities, nodes and roles from the service, concurrently.
    ///
    /// # Errors
    ///
    /// Any of the three listings fails after retries.
    pub async fn fetch(client: &Client) -> Result<Catalog, api::Error> {
        let (identities, nodes, roles) = tokio::try_join!(
            client.list_identities(),
            client.list_nodes(),
            client.list_roles()
        )?;
        Ok(Catalog::new(identities, nodes, roles))
    }

    pub fn new(identities: Vec<Identity>, nodes: Vec<Node>, roles: Vec<Role>) -> Catalog {
        let mut catalog = Catalog::default();
        for identity in identities {
            catalog
                .by_email
                .insert(identity.email.to_lowercase(), identity.id);
            if let Some(external) = &identity.external_id {
                catalog.by_external.insert(external.clone(), identity.id);
            }
            catalog.identities.insert(identity.id, identity);
        }

        let parents: HashMap<Uuid, (Option<Uuid>, String)> = nodes
            .into_iter()
            .map(|node| (node.id, (node.parent_id, node.key)))
            .collect();
        for (&id, (parent, _)) in &parents {
            let path = node_path(id, &parents);
            catalog.by_path.insert(path.clone(), id);
            catalog.nodes.insert(
                id,
                NodeEntry {
                    path,
                    parent: *parent,
                },
            );
        }

        for role in roles {
            catalog.by_role_key.insert(role.key.clone(), role.id);
            catalog.roles.insert(role.id, role);
        }
        catalog
    }

    pub fn identity(&self, reference: &IdentityRef) -> Result<Uuid, String> {
        let found = match reference {
            IdentityRef::Email(email) => self.by_email.get(email).copied(),
            IdentityRef::External(id) => self.by_external.get(id).copied(),
            IdentityRef::Id(id) => self.identities.contains_key(id).then_some(*id),
        };
        found.ok_or_else(|| {
            let hint = match reference {
                IdentityRef::Email(email) => nearest_email(email, self.by_email.keys()),
                _ => None,
            };
            with_hint(format!("unknown identity \"{reference}\""), hint)
        })
    }

    pub fn node(&self, reference: &NodeRef) -> Result<Uuid, String> {
        let found = match reference {
            NodeRef::Path(path) => self.by_path.get(path).copied(),
            NodeRef::Id(id) => self.nodes.contains_key(id).then_some(*id),
        };
        found.ok_or_else(|| {
            let hint = match reference {
                NodeRef::Path(path) => nearest(path, self.by_path.keys()),
                NodeRef::Id(_) => None,
            };
            with_hint(format!("unknown node \"{reference}\""), hint)
        })
    }

    pub fn role(&self, reference: &RoleRef) -> Result<Uuid, String> {
        let found = match reference {
            RoleRef::Key(key) => self.by_role_key.get(key).copied(),
            RoleRef::Id(id) => self.roles.contains_key(id).then_some(*id),
        };
        found.ok_or_else(|| {
            let hint = match reference {
                RoleRef::Key(key) => nearest(key, self.by_role_key.keys()),
                RoleRef::Id(_) => None,
            };
            with_hint(format!("unknown role \"{reference}\""), hint)
        })
    }

    /// How an identity is shown: its email, or its id when unknown.
    pub fn identity_label(&self, id: Uuid) -> String {
        self.identities
            .get(&id)
            .map_or_else(|| id.to_string(), |identity| identity.email.clone())
    }

    /// How a node is shown: its path, or its id when unknown.
    pub fn node_label(&self, id: Uuid) -> String {
        self.nodes
            .get(&id)
            .map_or_else(|| id.to_string(), |node| node.path.clone())
    }

    /// How a role is shown: its key, or its id when unknown.
    pub fn role_label(&self, id: Uuid) -> String {
        self.roles
            .get(&id)
            .map_or_else(|| id.to_string(), |role| role.key.clone())
    }

    pub fn node_by_path(&self, path: &str) -> Option<Uuid> {
        self.by_path.get(path.trim_matches('/')).copied()
    }

    pub fn role_by_key(&self, key: &str) -> Option<Uuid> {
        self.by_role_key.get(key).copied()
    }

    /// Whether `node` is `ancestor` or lies below it.
    pub fn is_within(&self, node: Uuid, ancestor: Uuid) -> bool {
        let mut current = Some(node);
        // The depth bound guards against a parent cycle in a broken service.
        for _ in 0..=self.nodes.len() {
            match current {
                Some(id) if id == ancestor => return true,
                Some(id) => current = self.nodes.get(&id).and_then(|n| n.parent),
                None => return false,
            }
        }
        false
    }

    /// Every role key, sorted.
    pub fn role_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self.by_role_key.keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys
    }

    /// Every node path, sorted.
    pub fn node_paths(&self) -> Vec<&str> {
        let mut paths: Vec<&str> = self.by_path.keys().map(String::as_str).collect();
        paths.sort_unstable();
        paths
    }

    pub fn identities(&self) -> impl Iterator<Item = &Identity> {
        self.identities.values()
    }

    pub fn counts(&self) -> (usize, usize, usize) {
        (self.identities.len(), self.nodes.len(), self.roles.len())
    }
}

/// A node's path of keys from its root.
fn node_path(id: Uuid, parents: &HashMap<Uuid, (Option<Uuid>, String)>) -> String {
    let mut keys = Vec::new();
    let mut current = Some(id);
    while let Some(node) = current {
        let Some((parent, key)) = parents.get(&node) else {
            break;
        };
        keys.push(key.as_str());
        // A cycle would otherwise loop for ever; a path is never longer than the tree.
        if keys.len() > parents.len() {
            break;
        }
        current = *parent;
    }
    keys.reverse();
    keys.join("/")
}

fn with_hint(message: String, hint: Option<&str>) -> String {
    match hint {
        Some(hint) => format!("{message}; did you mean \"{hint}\"?"),
        None => message,
    }
}

/// The known name closest to `wanted`, when it is close enough to be a typo:
/// at most two edits away (three for long names); ties go to the name that
/// sorts first, so the hint is the same on every run. A looser match would
/// offer a sibling department, or another person, as the fix.
pub fn nearest<'a>(wanted: &str, known: impl Iterator<Item = &'a String>) -> Option<&'a str> {
    let allowed = if wanted.chars().count() >= 12 { 3 } else { 2 };
    let mut best: Option<(usize, &str)> = None;
    for candidate in known {
        let distance = strsim::damerau_levenshtein(wanted, candidate);
        if distance <= allowed && best.is_none_or(|top| (distance, candidate.as_str()) < top) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, name)| name)
}

/// The known email closest to `wanted`: same domain, and a local part at
/// most one edit away per four characters. Emails of different people are
/// often a few letters apart, so anything looser would name a colleague.
fn nearest_email<'a>(wanted: &str, known: impl Iterator<Item = &'a String>) -> Option<&'a str> {
    let (local, domain) = wanted.rsplit_once('@')?;
    let allowed = (local.chars().count() / 4).max(1);
    let mut best: Option<(usize, &str)> = None;
    for candidate in known {
        let Some((their_local, their_domain)) = candidate.rsplit_once('@') else {
            continue;
        };
        if their_domain != domain {
            continue;
        }
        let distance = strsim::damerau_levenshtein(local, their_local);
        if distance <= allowed && best.is_none_or(|top| (distance, candidate.as_str()) < top) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, email)| email)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let node = |id: u128, key: &str, parent: Option<u128>| Node {
            id: Uuid::from_u128(id),
            key: key.into(),
            name: None,
            parent_id: parent.map(Uuid::from_u128),
        };
        Catalog::new(
            vec![Identity {
                id: Uuid::from_u128(1),
                email: "Alice@example.com".into(),
                external_id: Some("E1".into()),
                display_name: None,
                status: "active".into(),
            }],
            vec![
                node(10, "acme", None),
                node(11, "engineering", Some(10)),
                node(12, "api", Some(11)),
            ],
            vec![Role {
                id: Uuid::from_u128(20),
                key: "developer".into(),
                name: None,
                permissions: vec![],
            }],
        )
    }

    #[test]
    fn names_resolve_every_way_a_file_may_write_them() {
        let c = catalog();
        let alice = Uuid::from_u128(1);
        assert_eq!(
            c.identity(&IdentityRef::Email("alice@example.com".into())),
            Ok(alice)
        );
        assert_eq!(c.identity(&IdentityRef::External("E1".into())), Ok(alice));
        assert_eq!(c.identity(&IdentityRef::Id(alice)), Ok(alice));
        assert_eq!(
            c.node(&NodeRef::Path("acme/engineering/api".into())),
            Ok(Uuid::from_u128(12))
        );
        assert!(c.is_within(Uuid::from_u128(12), Uuid::from_u128(10)));
        assert!(!c.is_within(Uuid::from_u128(10), Uuid::from_u128(12)));
    }

    #[test]
    fn a_misspelt_name_gets_a_hint() {
        let c = catalog();
        let err = c.role(&RoleRef::Key("developr".into())).unwrap_err();
        assert_eq!(
            err,
            "unknown role \"developr\"; did you mean \"developer\"?"
        );
        let err = c
            .node(&NodeRef::Path("acme/enginering".into()))
            .unwrap_err();
        assert!(err.contains("did you mean \"acme/engineering\""), "{err}");
        let err = c
            .identity(&IdentityRef::Email("zed@other.org".into()))
            .unwrap_err();
        assert_eq!(err, "unknown identity \"zed@other.org\"");
    }
}
