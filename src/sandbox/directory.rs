//! The sandbox's directory file: the environments, API keys, identities, node
//! trees, roles and pre-existing assignments that a store is seeded from.
//!
//! [`load`] reads the YAML strictly (unknown fields, duplicate keys and YAML
//! 1.1 booleans are errors), then [`resolve`] checks what YAML cannot (unique
//! emails, known references, valid windows) and fills in every id left out
//! from [`crate::ids`], so the same file always seeds the same ids.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use jiff::Timestamp;
use serde::Deserialize;
use serde_saphyr::{Location, MessageFormatter, Spanned, UserMessageFormatter};
use uuid::Uuid;

use super::Error;
use crate::api::types::{Identity, Node, Role};
use crate::ids;

/// A directory file, checked and with every id filled in.
#[derive(Debug, Clone)]
pub(crate) struct Directory {
    /// blake3 of the file's bytes, recorded at seeding to notice later edits.
    pub content_hash: String,
    pub environments: Vec<EnvironmentSeed>,
}

#[derive(Debug, Clone)]
pub(crate) struct EnvironmentSeed {
    pub id: Uuid,
    pub name: String,
    pub api_keys: Vec<String>,
    pub identities: Vec<Identity>,
    /// Parents before children, in file order.
    pub nodes: Vec<Node>,
    pub roles: Vec<Role>,
    pub assignments: Vec<SeedAssignment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeedAssignment {
    pub id: Uuid,
    pub identity_id: Uuid,
    pub node_id: Uuid,
    pub role_id: Uuid,
    pub effective_from: Option<Timestamp>,
    pub effective_to: Option<Timestamp>,
}

/// Reads and checks the directory file at `path`.
pub(crate) fn load(path: &Path) -> Result<Directory, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::DirectoryRead {
        path: path.to_owned(),
        source,
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|e| Error::DirectoryInvalid {
        path: path.to_owned(),
        line: 0,
        column: 0,
        message: format!("not UTF-8 text (byte {})", e.valid_up_to()),
    })?;
    let raw = parse(path, text)?;
    let mut directory = resolve(path, raw)?;
    directory.content_hash = blake3::hash(&bytes).to_hex().to_string();
    Ok(directory)
}

fn parse(path: &Path, text: &str) -> Result<RawDirectory, Error> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        with_snippet: false,
    };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let location = e.location();
        let message = UserMessageFormatter.format_message(e.without_snippet());
        Error::DirectoryInvalid {
            path: path.to_owned(),
            line: location.map_or(0, |l| l.line()),
            column: location.map_or(0, |l| l.column()),
            message: message.into_owned(),
        }
    })
}

// The file as written. Every field that a later check may complain about is
// `Spanned`, so the complaint can point at it.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDirectory {
    environments: Vec<RawEnvironment>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    name: Spanned<String>,
    id: Option<Spanned<String>>,
    #[serde(default)]
    api_keys: Vec<Spanned<String>>,
    #[serde(default)]
    identities: Vec<RawIdentity>,
    #[serde(default)]
    nodes: Vec<RawNode>,
    #[serde(default)]
    roles: Vec<RawRole>,
    #[serde(default)]
    assignments: Vec<RawAssignment>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    id: Option<Spanned<String>>,
    email: Spanned<String>,
    external_id: Option<Spanned<String>>,
    display_name: Option<String>,
    status: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    id: Option<Spanned<String>>,
    key: Spanned<String>,
    name: Option<String>,
    #[serde(default)]
    children: Vec<RawNode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    id: Option<Spanned<String>>,
    key: Spanned<String>,
    name: Option<String>,
    #[serde(default)]
    permissions: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAssignment {
    id: Option<Spanned<String>>,
    identity: Spanned<String>,
    node: Spanned<String>,
    role: Spanned<String>,
    effective_from: Option<Spanned<String>>,
    effective_to: Option<Spanned<String>>,
}

/// Statuses an identity may have; anything else is most likely a typo.
const STATUSES: [&str; 3] = ["active", "inactive", "suspended"];

/// Builds one error at a place in the file.
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

    fn uuid(&self, value: &Spanned<String>, what: &str) -> Result<Uuid, Error> {
        value.value.parse().map_err(|_| {
            self.error(
                &value.referenced,
                format!("{what} id \"{}\" is not a UUID", value.value),
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

fn resolve(path: &Path, raw: RawDirectory) -> Result<Directory, Error> {
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

fn resolve_environment(at: &At<'_>, env: RawEnvironment) -> Result<EnvironmentSeed, Error> {
    let env_id = match &env.id {
        Some(id) => at.uuid(id, "environment")?,
        None => ids::environment(&env.name.value),
    };
    let mut seen_ids: HashMap<Uuid, Location> = HashMap::new();
    let mut claim_id = |id: Uuid, location: &Location| -> Result<(), Error> {
        match seen_ids.insert(id, *location) {
            Some(first) => Err(at.error(
                location,
                format!(
                    "id {id} is used twice in this environment (first at line {})",
                    first.line()
                ),
            )),
            None => Ok(()),
        }
    };

    // Identities, unique by email (case-insensitive) and by external id.
    let mut identities = Vec::with_capacity(env.identities.len());
    let mut by_email: HashMap<String, (Uuid, Location)> = HashMap::new();
    let mut by_external: HashMap<String, (Uuid, Location)> = HashMap::new();
    for raw in &env.identities {
        let email = raw.email.value.trim();
        if !email.contains('@') {
            return Err(at.error(&raw.email.referenced, format!("email \"{email}\" has no @")));
        }
        let id = match &raw.id {
            Some(id) => at.uuid(id, "identity")?,
            None => ids::identity(env_id, email),
        };
        if let Some((_, first)) = by_email.insert(email.to_lowercase(), (id, raw.email.referenced))
        {
            return Err(at.error(
                &raw.email.referenced,
                format!(
                    "duplicate email {email} (first at line {}); each identity needs its own",
                    first.line()
                ),
            ));
        }
        claim_id(id, &raw.email.referenced)?;
        if let Some(external) = &raw.external_id
            && let Some((_, first)) =
                by_external.insert(external.value.clone(), (id, external.referenced))
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
        identities.push(Identity {
            id,
            email: email.to_owned(),
            external_id: raw.external_id.as_ref().map(|e| e.value.clone()),
            display_name: raw.display_name.clone(),
            status,
        });
    }

    // Nodes, depth first so that every parent precedes its children.
    let mut nodes = Vec::new();
    let mut by_path: HashMap<String, Uuid> = HashMap::new();
    let mut stack: Vec<(&RawNode, Option<(Uuid, String)>)> =
        env.nodes.iter().rev().map(|n| (n, None)).collect();
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
                format!("node {path} is declared twice under the same parent"),
            ));
        }
        let node_id = match &raw.id {
            Some(node_id) => at.uuid(node_id, "node")?,
            None => ids::node(env_id, &path),
        };
        claim_id(node_id, &raw.key.referenced)?;
        by_path.insert(path.clone(), node_id);
        nodes.push(Node {
            id: node_id,
            key: key.to_owned(),
            name: raw.name.clone(),
            parent_id,
        });
        for child in raw.children.iter().rev() {
            stack.push((child, Some((node_id, path.clone()))));
        }
    }

    // Roles, unique by key.
    let mut roles = Vec::with_capacity(env.roles.len());
    let mut by_role_key: HashMap<String, (Uuid, Location)> = HashMap::new();
    for raw in &env.roles {
        let key = raw.key.value.as_str();
        if key.is_empty() {
            return Err(at.error(&raw.key.referenced, "role key is empty"));
        }
        let role_id = match &raw.id {
            Some(role_id) => at.uuid(role_id, "role")?,
            None => ids::role(env_id, key),
        };
        if let Some((_, first)) = by_role_key.insert(key.to_owned(), (role_id, raw.key.referenced))
        {
            return Err(at.error(
                &raw.key.referenced,
                format!("duplicate role key {key} (first at line {})", first.line()),
            ));
        }
        claim_id(role_id, &raw.key.referenced)?;
        roles.push(Role {
            id: role_id,
            key: key.to_owned(),
            name: raw.name.clone(),
            permissions: raw.permissions.clone(),
        });
    }

    // Assignments, with references as grants files write them.
    let identity_ids: HashSet<Uuid> = identities.iter().map(|i| i.id).collect();
    let node_ids: HashSet<Uuid> = nodes.iter().map(|n| n.id).collect();
    let role_ids: HashSet<Uuid> = roles.iter().map(|r| r.id).collect();
    let mut assignments = Vec::with_capacity(env.assignments.len());
    let mut granted: HashMap<(Uuid, Uuid, Uuid), Location> = HashMap::new();
    for raw in &env.assignments {
        let reference = &raw.identity.value;
        let identity_id = if let Some(external) = reference.strip_prefix("external:") {
            by_external.get(external).map(|(id, _)| *id)
        } else if reference.contains('@') {
            by_email.get(&reference.to_lowercase()).map(|(id, _)| *id)
        } else if let Ok(uuid) = reference.parse::<Uuid>() {
            identity_ids.contains(&uuid).then_some(uuid)
        } else {
            return Err(at.error(
                &raw.identity.referenced,
                format!("identity \"{reference}\" is neither an email, external:<id> nor a UUID"),
            ));
        };
        let identity_id = identity_id.ok_or_else(|| {
            at.error(
                &raw.identity.referenced,
                format!(
                    "unknown identity {reference}; add it under identities or fix the reference"
                ),
            )
        })?;

        let reference = &raw.node.value;
        let node_id = match reference.parse::<Uuid>() {
            Ok(uuid) => node_ids.contains(&uuid).then_some(uuid),
            Err(_) => by_path.get(reference.trim_matches('/')).copied(),
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
            Ok(uuid) => role_ids.contains(&uuid).then_some(uuid),
            Err(_) => by_role_key.get(reference).map(|(id, _)| *id),
        }
        .ok_or_else(|| {
            at.error(
                &raw.role.referenced,
                format!("unknown role {reference}; add it under roles or fix the key"),
            )
        })?;

        let effective_from = at.timestamp(&raw.effective_from, "effective_from")?;
        let effective_to = at.timestamp(&raw.effective_to, "effective_to")?;
        if let (Some(from), Some(to)) = (effective_from, effective_to)
            && from > to
        {
            return Err(at.error(
                &raw.identity.referenced,
                format!("effective_from {from} is after effective_to {to}"),
            ));
        }
        if let Some(first) =
            granted.insert((identity_id, node_id, role_id), raw.identity.referenced)
        {
            return Err(at.error(
                &raw.identity.referenced,
                format!(
                    "the same identity, node and role are assigned twice (first at line {}); keep one",
                    first.line()
                ),
            ));
        }
        let assignment_id = match &raw.id {
            Some(assignment_id) => at.uuid(assignment_id, "assignment")?,
            None => ids::seeded_assignment(env_id, identity_id, node_id, role_id),
        };
        claim_id(assignment_id, &raw.identity.referenced)?;
        assignments.push(SeedAssignment {
            id: assignment_id,
            identity_id,
            node_id,
            role_id,
            effective_from,
            effective_to,
        });
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str) -> Result<Directory, Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("directory.yaml");
        std::fs::write(&path, text).unwrap();
        load(&path)
    }

    /// The `line:column: message` part of a directory error.
    fn problem(text: &str) -> String {
        match load_str(text) {
            Err(Error::DirectoryInvalid {
                line,
                column,
                message,
                ..
            }) => format!("{line}:{column}: {message}"),
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("directory was accepted"),
        }
    }

    fn fixture(path: &str) -> Directory {
        load(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(path),
        )
        .unwrap()
    }

    const BASE: &str = "environments:
  - name: Production
    api_keys: [sk_prod]
    identities:
      - {email: alice@example.com, external_id: E1}
      - {email: bob@example.com, external_id: 007, display_name: no}
    nodes:
      - key: acme
        children:
          - key: eng
            children: [{key: api}]
          - key: ops
            children: [{key: api}]
    roles:
      - {key: developer, permissions: [code.read]}
";

    #[test]
    fn ids_left_out_come_from_names_and_paths() {
        let directory = load_str(BASE).unwrap();
        let env = &directory.environments[0];
        assert_eq!(env.id, ids::environment("Production"));
        assert_eq!(
            env.identities[0].id,
            ids::identity(env.id, "alice@example.com")
        );
        let api: Vec<_> = env.nodes.iter().filter(|n| n.key == "api").collect();
        assert_eq!(api.len(), 2, "the same key under two parents is two nodes");
        assert_eq!(api[0].id, ids::node(env.id, "acme/eng/api"));
        assert_eq!(api[1].id, ids::node(env.id, "acme/ops/api"));
        assert_eq!(api[0].parent_id, Some(ids::node(env.id, "acme/eng")));
        assert_eq!(env.roles[0].id, ids::role(env.id, "developer"));
    }

    #[test]
    fn scalars_keep_their_text() {
        let directory = load_str(BASE).unwrap();
        let bob = &directory.environments[0].identities[1];
        assert_eq!(bob.external_id.as_deref(), Some("007"));
        assert_eq!(bob.display_name.as_deref(), Some("no"));
    }

    #[test]
    fn assignments_resolve_every_reference_form() {
        let env_id = ids::environment("Production");
        let bob = ids::identity(env_id, "bob@example.com");
        let text = format!(
            "{BASE}    assignments:
      - {{identity: ALICE@example.com, node: acme/eng/api, role: developer}}
      - {{identity: \"external:007\", node: acme, role: developer}}
      - {{identity: {bob}, node: acme/ops, role: developer, effective_to: 2026-12-31T23:59:59Z}}
"
        );
        let directory = load_str(&text).unwrap();
        let assignments = &directory.environments[0].assignments;
        assert_eq!(assignments.len(), 3);
        assert_eq!(assignments[1].identity_id, bob);
        assert_eq!(assignments[2].identity_id, bob);
        assert_eq!(
            assignments[2].effective_to,
            Some("2026-12-31T23:59:59Z".parse().unwrap())
        );
    }

    #[test]
    fn duplicate_mapping_key_is_refused_with_its_place() {
        let text = "environments:\n  - name: P\n    name: Q\n";
        assert_eq!(
            problem(text),
            "3:5: duplicate mapping key `name` is not allowed here"
        );
    }

    #[test]
    fn unknown_field_is_refused() {
        let text = "environments:\n  - name: P\n    identitys: []\n";
        assert!(problem(text).starts_with("3:5: unknown field `identitys`"));
    }

    #[test]
    fn duplicate_email_is_refused_whatever_its_case() {
        let text = BASE.replace("bob@example.com", "Alice@Example.com");
        assert_eq!(
            problem(&text),
            "6:17: duplicate email Alice@Example.com (first at line 5); each identity needs its own"
        );
    }

    #[test]
    fn unknown_node_path_in_an_assignment_is_refused() {
        let text = format!(
            "{BASE}    assignments:\n      - {{identity: alice@example.com, node: acme/api, role: developer}}\n"
        );
        assert!(
            problem(&text).starts_with("17:45: unknown node path acme/api;"),
            "{}",
            problem(&text)
        );
    }

    #[test]
    fn window_that_ends_before_it_starts_is_refused() {
        let text = format!(
            "{BASE}    assignments:\n      - {{identity: alice@example.com, node: acme, role: developer, effective_from: 2026-02-01T00:00:00Z, effective_to: 2026-01-01T00:00:00Z}}\n"
        );
        assert!(problem(&text).contains("is after effective_to"));
    }

    #[test]
    fn duplicate_assignment_is_refused() {
        let line = "      - {identity: alice@example.com, node: acme, role: developer}\n";
        let text = format!("{BASE}    assignments:\n{line}{line}");
        assert!(problem(&text).starts_with(
            "18:20: the same identity, node and role are assigned twice (first at line 17)"
        ));
    }

    #[test]
    fn yaml_1_1_booleans_are_not_booleans() {
        let text =
            "environments:\n  - name: P\n    identities:\n      - {email: a@x, status: yes}\n";
        assert!(problem(text).contains("unknown status \"yes\""));
    }

    #[test]
    fn k8s_org_directory_loads() {
        let directory = fixture("k8s-org/directory.yaml");
        let env = &directory.environments[0];
        assert_eq!(env.identities.len(), 1507);
        assert_eq!(env.nodes.len(), 781);
        assert_eq!(env.roles.len(), 4);
        assert_eq!(env.assignments.len(), 5840);
        assert!(
            env.nodes
                .iter()
                .any(|n| n.id == ids::node(env.id, "kubernetes-sigs/zeitgeist-maintainers"))
        );
    }

    #[test]
    fn bamboohr_directory_keeps_quoted_ids_and_windows() {
        let directory = fixture("hr/bamboohr/directory.yaml");
        let env = &directory.environments[0];
        assert_eq!(env.assignments.len(), 322);
        let hana = env
            .identities
            .iter()
            .find(|i| i.email == "hana.kovacs@example.com")
            .unwrap();
        assert_eq!(hana.external_id.as_deref(), Some("1304"));
        assert!(env.assignments.iter().any(|a| a.effective_to.is_some()));
    }
}
