//! The sandbox's directory file: the environments, API keys, identities, node
//! trees, roles and pre-existing assignments that a store is seeded from.
//!
//! [`load`] reads the YAML strictly (unknown fields, duplicate keys and YAML
//! 1.1 booleans are errors); `directory/resolve.rs` then checks what YAML
//! cannot (unique emails, known references, valid windows) and fills in every
//! id left out from [`crate::ids`], so the same file always seeds the same ids.

mod resolve;

use std::path::Path;

use jiff::Timestamp;
use serde::Deserialize;
use serde_saphyr::{MessageFormatter, Spanned, UserMessageFormatter};
use uuid::Uuid;

use super::Error;
use crate::api::types::{Identity, Node, Role};

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
    let mut directory = resolve::resolve(path, raw)?;
    directory.content_hash = blake3::hash(&bytes).to_hex().to_string();
    Ok(directory)
}

fn parse(path: &Path, text: &str) -> Result<RawDirectory, Error> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        with_snippet: false,
        budget: crate::yaml::budget_for(text.len()),
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

/// A sandbox directory file as written.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDirectory {
    /// The environments the sandbox serves, each with its own keys and data.
    environments: Vec<RawEnvironment>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Environment")]
struct RawEnvironment {
    /// The environment's name (`Production`, `Development`, ...).
    #[schemars(with = "String")]
    name: Spanned<String>,
    /// A UUID; derived from the name when left out.
    #[schemars(with = "Option<uuid::Uuid>")]
    id: Option<Spanned<String>>,
    /// The API keys that read and write this environment.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    api_keys: Vec<Spanned<String>>,
    #[serde(default)]
    identities: Vec<RawIdentity>,
    /// The node trees, roots first.
    #[serde(default)]
    nodes: Vec<RawNode>,
    #[serde(default)]
    roles: Vec<RawRole>,
    /// Assignments that already exist when the sandbox is seeded.
    #[serde(default)]
    assignments: Vec<RawAssignment>,
}

/// A person or service account.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Identity")]
struct RawIdentity {
    /// A UUID; derived from the email when left out.
    #[schemars(with = "Option<uuid::Uuid>")]
    id: Option<Spanned<String>>,
    #[schemars(with = "String")]
    email: Spanned<String>,
    /// The HR system's id, matched by `external:<id>` in grants files.
    #[schemars(with = "Option<String>")]
    external_id: Option<Spanned<String>>,
    display_name: Option<String>,
    /// `active` when left out.
    #[schemars(with = "Option<String>")]
    #[schemars(extend("enum" = ["active", "inactive", "suspended", null]))]
    status: Option<Spanned<String>>,
}

/// A place in a tree, with the nodes below it.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Node")]
struct RawNode {
    /// A UUID; derived from the node's path when left out.
    #[schemars(with = "Option<uuid::Uuid>")]
    id: Option<Spanned<String>>,
    /// Unique among its siblings; grants files name a node by the path of
    /// keys from its root (`acme/engineering/api`).
    #[schemars(with = "String")]
    key: Spanned<String>,
    name: Option<String>,
    #[serde(default)]
    children: Vec<RawNode>,
}

/// A bundle of permissions.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Role")]
struct RawRole {
    /// A UUID; derived from the key when left out.
    #[schemars(with = "Option<uuid::Uuid>")]
    id: Option<Spanned<String>>,
    #[schemars(with = "String")]
    key: Spanned<String>,
    name: Option<String>,
    #[serde(default)]
    permissions: Vec<String>,
}

/// An assignment that exists before any client call, with references
/// written as in grants files.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Assignment")]
struct RawAssignment {
    #[schemars(with = "Option<uuid::Uuid>")]
    id: Option<Spanned<String>>,
    /// An email, `external:<id>`, or a UUID.
    #[schemars(with = "String")]
    identity: Spanned<String>,
    /// A path of node keys from a root, or a UUID.
    #[schemars(with = "String")]
    node: Spanned<String>,
    /// A role key, or a UUID.
    #[schemars(with = "String")]
    role: Spanned<String>,
    /// RFC 3339.
    #[schemars(with = "Option<jiff::Timestamp>")]
    effective_from: Option<Spanned<String>>,
    /// RFC 3339.
    #[schemars(with = "Option<jiff::Timestamp>")]
    effective_to: Option<Spanned<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids;

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
