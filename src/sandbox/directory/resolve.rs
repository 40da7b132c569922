//! The checks YAML cannot make (unique emails, keys and ids; references that
//! name something; windows that end after they start), and ids filled in
//! from [`crate::ids`] wherever the file leaves them out.
//!
//! Every check stops at the first problem and points at it, with what to fix.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use jiff::Timestamp;
use serde_saphyr::{Location, Spanned};
use uuid::Uuid;

use super::{
    Directory, EnvironmentSeed, RawAssignment, RawDirectory, RawEnvironment, RawIdentity, RawNode,
    RawRole, SeedAssignment,
};
use crate::api::types::{Identity, Node, Role};
use crate::ids;
use crate::sandbox::Error;

/// Statuses an identity may have; anything else is most likely a typo.
const STATUSES: [&str; 3] = ["active", "inactive", "suspended"];

pub(super) fn resolve(path: &Path, raw: RawDirectory) -> Result<Directory, Error> {
    let at = At { path };
    let mut names: HashMap<String, Location> = HashMap::new();
    let mut keys: HashMap<String, Location> = HashMap::new();
    let mut environments = Vec::with_capacity(raw.environments.len());

    for env in raw.environments {
        if let Some(first) = names.insert(env.name.value.clone(), env.name.referenced) {
            return Err(at.error(
                &env.name.referenced,
                format!(
                    "environment \"{}\" is declared twice (first at line {}); rename or merge one",
                    env.name.value,
                    first.line()
                ),
            ));
        }
        for key in &env.api_keys {
            if key.value.trim().is_empty() {
                return Err(at.error(&key.referenced, "API key is empty"));
            }
            // A key selects exactly one environment, so it may appear once.
            if let Some(first) = keys.insert(key.value.clone(), key.referenced) {
                return Err(at.error(
                    &key.referenced,
                    format!(
                        "API key is listed twice (first at line {}); every key belongs to one environment",
                        first.line()
                    ),
                ));
            }
        }
        environments.push(resolve_environment(&at, env)?);
    }

    Ok(Directory {
        content_hash: String::new(),
        environments,
    })
}

/// Builds errors that point at a place in the file.
struct At<'a> {
    path: &'a Path,
}

impl At<'_> {
    fn error(&self, location: &Location, message: impl Into<String>) -> Error {
        Error::DirectoryInvalid {
            path: self.path.to_owned(),
            line: location.line(),
            column: location.column(),
            message: message.into(),
        }
    }

    /// An id the file gives, or the one `derive` makes when it gives none.
    fn id(
        &self,
        given: &Option<Spanned<String>>,
        what: &str,
        derive: impl FnOnce() -> Uuid,
    ) -> Result<Uuid, Error> {
        let Some(given) = given else {
            return Ok(derive());
        };
        given.value.parse().map_err(|_| {
            self.error(
                &given.referenced,
                format!("{what} id \"{}\" is not a UUID", given.value),
            )
        })
    }

    fn timestamp(
        &self,
        value: &Option<Spanned<String>>,
        field: &str,
    ) -> Result<Option<Timestamp>, Error> {
        let Some(value) = value else { return Ok(None) };
        value.value.parse().map(Some).map_err(|_| {
            self.error(
                &value.referenced,
                format!(
                    "{field} \"{}\" is not an RFC 3339 timestamp; write it like 2026-12-31T23:59:59Z",
                    value.value
                ),
            )
        })
    }
}

/// What one environment declares so far, to check references against.
struct Scope<'a> {
    at: &'a At<'a>,
    env: Uuid,
    /// Every id in the environment, so that a given id is not given twice.
    ids: HashMap<Uuid, Location>,
    by_email: HashMap<String, (Uuid, Location)>,
    by_external: HashMap<String, (Uuid, Location)>,
    by_path: HashMap<String, Uuid>,
    by_role_key: HashMap<String, (Uuid, Location)>,
    identity_ids: HashSet<Uuid>,
    node_ids: HashSet<Uuid>,
    role_ids: HashSet<Uuid>,
}

impl Scope<'_> {
    fn claim(&mut self, id: Uuid, location: &Location) -> Result<(), Error> {
        match self.ids.insert(id, *location) {
            Some(first) => Err(self.at.error(
                location,
                format!(
                    "id {id} is used twice in this environment (first at line {})",
                    first.line()
                ),
            )),
            None => Ok(()),
        }
    }
}

fn resolve_environment(at: &At<'_>, env: RawEnvironment) -> Result<EnvironmentSeed, Error> {
    let env_id = at.id(&env.id, "environment", || ids::environment(&env.name.value))?;
    let mut scope = Scope {
        at,
        env: env_id,
        ids: HashMap::new(),
        by_email: HashMap::new(),
        by_external: HashMap::new(),
        by_path: HashMap::new(),
        by_role_key: HashMap::new(),
        identity_ids: HashSet::new(),
        node_ids: HashSet::new(),
        role_ids: HashSet::new(),
    };
    let identities = env
        .identities
        .iter()
        .map(|raw| resolve_identity(&mut scope, raw))
        .collect::<Result<Vec<_>, _>>()?;
    let nodes = resolve_nodes(&mut scope, &env.nodes)?;
    let roles = env
        .roles
        .iter()
        .map(|raw| resolve_role(&mut scope, raw))
        .collect::<Result<Vec<_>, _>>()?;
    let mut granted = HashMap::new();
    let assignments = env
        .assignments
        .iter()
        .map(|raw| resolve_assignment(&mut scope, &mut granted, raw))
        .collect::<Result<Vec<_>, _>>()?;

    Ok(EnvironmentSeed {
        id: env_id,
        name: env.name.value,
        api_keys: env.api_keys.into_iter().map(|k| k.value).collect(),
        identities,
        nodes,
        roles,
        assignments,
    })
}

/// An identity, unique by email (case-insensitive) and by external id.
fn resolve_identity(scope: &mut Scope<'_>, raw: &RawIdentity) -> Result<Identity, Error> {
    let at = scope.at;
    let email = raw.email.value.trim();
    let location = raw.email.referenced;
    if !email.contains('@') {
        return Err(at.error(&location, format!("email \"{email}\" has no @")));
    }
    let id = at.id(&raw.id, "identity", || ids::identity(scope.env, email))?;
    if let Some((_, first)) = scope.by_email.insert(email.to_lowercase(), (id, location)) {
        return Err(at.error(
            &location,
            format!(
                "duplicate email {email} (first at line {}); each identity needs its own",
                first.line()
            ),
        ));
    }
    scope.claim(id, &location)?;
    scope.identity_ids.insert(id);
    if let Some(external) = &raw.external_id
        && let Some((_, first)) = scope
            .by_external
            .insert(external.value.clone(), (id, external.referenced))
    {
        return Err(at.error(
            &external.referenced,
            format!(
                "duplicate external_id \"{}\" (first at line {}); each identity needs its own",
                external.value,
                first.line()
            ),
        ));
    }
    let status = match &raw.status {
        Some(status) if !STATUSES.contains(&status.value.as_str()) => {
            return Err(at.error(
                &status.referenced,
                format!(
                    "unknown status \"{}\"; use one of {}",
                    status.value,
                    STATUSES.join(", ")
                ),
            ));
        }
        Some(status) => status.value.clone(),
        None => STATUSES[0].to_owned(),
    };
    Ok(Identity {
        id,
        email: email.to_owned(),
        external_id: raw.external_id.as_ref().map(|e| e.value.clone()),
        display_name: raw.display_name.clone(),
        status,
    })
}

/// The node trees, depth first so that every parent precedes its children.
/// A node is named by its path of keys, so one key may repeat under
/// different parents but not under the same one.
fn resolve_nodes(scope: &mut Scope<'_>, roots: &[RawNode]) -> Result<Vec<Node>, Error> {
    let at = scope.at;
    let mut nodes = Vec::new();
    let mut stack: Vec<(&RawNode, Option<(Uuid, String)>)> =
        roots.iter().rev().map(|n| (n, None)).collect();
    let mut siblings: HashSet<(Option<Uuid>, String)> = HashSet::new();
    while let Some((raw, parent)) = stack.pop() {
        let key = raw.key.value.as_str();
        if key.is_empty() || key.contains('/') {
            return Err(at.error(
                &raw.key.referenced,
                format!("node key \"{key}\" must be non-empty and contain no /"),
            ));
        }
        let path = match &parent {
            Some((_, parent_path)) => format!("{parent_path}/{key}"),
            None => key.to_owned(),
        };
        let parent_id = parent.as_ref().map(|(id, _)| *id);
        if !siblings.insert((parent_id, key.to_owned())) {
            return Err(at.error(
                &raw.key.referenced,
                format!("node {path} is declared twice under the same parent; merge the two"),
            ));
        }
        let id = at.id(&raw.id, "node", || ids::node(scope.env, &path))?;
        scope.claim(id, &raw.key.referenced)?;
        scope.by_path.insert(path.clone(), id);
        scope.node_ids.insert(id);
        nodes.push(Node {
            id,
            key: key.to_owned(),
            name: raw.name.clone(),
            parent_id,
        });
        for child in raw.children.iter().rev() {
            stack.push((child, Some((id, path.clone()))));
        }
    }
    Ok(nodes)
}

/// A role, unique by key.
fn resolve_role(scope: &mut Scope<'_>, raw: &RawRole) -> Result<Role, Error> {
    let at = scope.at;
    let key = raw.key.value.as_str();
    if key.is_empty() {
        return Err(at.error(&raw.key.referenced, "role key is empty"));
    }
    let id = at.id(&raw.id, "role", || ids::role(scope.env, key))?;
    if let Some((_, first)) = scope
        .by_role_key
        .insert(key.to_owned(), (id, raw.key.referenced))
    {
        return Err(at.error(
            &raw.key.referenced,
            format!("duplicate role key {key} (first at line {})", first.line()),
        ));
    }
    scope.claim(id, &raw.key.referenced)?;
    scope.role_ids.insert(id);
    Ok(Role {
        id,
        key: key.to_owned(),
        name: raw.name.clone(),
        permissions: raw.permissions.clone(),
    })
}

/// An assignment, with references written as in grants files: the identity
/// as an email, `external:<id>` or UUID; the node as a path or UUID; the
/// role as a key or UUID.
fn resolve_assignment(
    scope: &mut Scope<'_>,
    granted: &mut HashMap<(Uuid, Uuid, Uuid), Location>,
    raw: &RawAssignment,
) -> Result<SeedAssignment, Error> {
    let at = scope.at;
    let identity_id = resolve_identity_ref(scope, &raw.identity)?;

    let reference = &raw.node.value;
    let node_id = match reference.parse::<Uuid>() {
        Ok(uuid) => scope.node_ids.contains(&uuid).then_some(uuid),
        Err(_) => scope.by_path.get(reference.trim_matches('/')).copied(),
    }
    .ok_or_else(|| {
        at.error(
            &raw.node.referenced,
            format!(
                "unknown node path {reference}; write the keys from a root joined by /, like acme/engineering"
            ),
        )
    })?;

    let reference = &raw.role.value;
    let role_id = match reference.parse::<Uuid>() {
        Ok(uuid) => scope.role_ids.contains(&uuid).then_some(uuid),
        Err(_) => scope.by_role_key.get(reference).map(|(id, _)| *id),
    }
    .ok_or_else(|| {
        at.error(
            &raw.role.referenced,
            format!("unknown role {reference}; add it under roles or fix the key"),
        )
    })?;

    let effective_from = at.timestamp(&raw.effective_from, "effective_from")?;
    let effective_to = at.timestamp(&raw.effective_to, "effective_to")?;
    let location = raw.identity.referenced;
    if let (Some(from), Some(to)) = (effective_from, effective_to)
        && from > to
    {
        return Err(at.error(
            &location,
            format!("effective_from {from} is after effective_to {to}; swap or fix them"),
        ));
    }
    if let Some(first) = granted.insert((identity_id, node_id, role_id), location) {
        return Err(at.error(
            &location,
            format!(
                "the same identity, node and role are assigned twice (first at line {}); keep one",
                first.line()
            ),
        ));
    }
    let id = at.id(&raw.id, "assignment", || {
        ids::seeded_assignment(scope.env, identity_id, node_id, role_id)
    })?;
    scope.claim(id, &location)?;
    Ok(SeedAssignment {
        id,
        identity_id,
        node_id,
        role_id,
        effective_from,
        effective_to,
    })
}

fn resolve_identity_ref(scope: &Scope<'_>, reference: &Spanned<String>) -> Result<Uuid, Error> {
    let text = &reference.value;
    let found = if let Some(external) = text.strip_prefix("external:") {
        scope.by_external.get(external).map(|(id, _)| *id)
    } else if text.contains('@') {
        scope.by_email.get(&text.to_lowercase()).map(|(id, _)| *id)
    } else if let Ok(uuid) = text.parse::<Uuid>() {
        scope.identity_ids.contains(&uuid).then_some(uuid)
    } else {
        return Err(scope.at.error(
            &reference.referenced,
            format!("identity \"{text}\" is neither an email, external:<id> nor a UUID"),
        ));
    };
    found.ok_or_else(|| {
        scope.at.error(
            &reference.referenced,
            format!("unknown identity {text}; add it under identities or fix the reference"),
        )
    })
}
