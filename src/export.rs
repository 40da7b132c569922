//! `grantsync export`: the live assignments of an environment, written as
//! grants files, so that an existing service can be brought under
//! grantsync without typing its state by hand.
//!
//! One file per root node, in the grouped form (one entry per node, role
//! and window, listing its identities), everything sorted so that two
//! exports of the same state are the same bytes. Windows are kept, expired
//! ones included, so that a plan against the export finds every live
//! assignment unchanged. Existing files are never overwritten without
//! `--force`; files the export does not write are left as they are.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use jiff::Timestamp;

use crate::api::types::Assignment;
use crate::config::{self, Config};
use crate::report::Mode;
use crate::resolve::Catalog;
use crate::sync::{RunOptions, Runner};
use crate::validate::shown_path;
use crate::yaml::scalar;

/// Where the grants schema is looked for, above the output directory.
const SCHEMA_PATH: &str = "schemas/grants.schema.json";
/// The schema written beside the export when none is found above it.
const SCHEMA_FILE: &str = "grants.schema.json";

#[derive(Debug, Clone)]
pub struct Options {
    pub config: PathBuf,
    /// The environment; may be left out when the config has only one.
    pub environment: Option<String>,
    pub out: PathBuf,
    /// Replace files that already exist.
    pub force: bool,
    pub state_dir: Option<PathBuf>,
    /// What the files' `$schema` line points at; found or written when `None`.
    pub schema_ref: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::Error),
    #[error("{0}")]
    Environment(String),
    #[error("environment {environment}: {message}")]
    Service {
        environment: String,
        message: String,
    },
    #[error(
        "refusing to overwrite {}; nothing was written. Pass --force to replace them",
        paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    WouldOverwrite { paths: Vec<PathBuf> },
    #[error("{}: cannot write the export", path.display())]
    WriteFailed {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What an export wrote.
#[derive(Debug)]
pub struct Exported {
    pub environment: String,
    pub files: Vec<PathBuf>,
    pub assignments: usize,
    /// Grants files already in the directory that this export did not write.
    pub left_alone: Vec<PathBuf>,
}

/// `grantsync export`: exports, lists the files written on stdout and
/// says what it did on stderr. Returns the exit code.
pub async fn run(options: &Options) -> i32 {
    match export(options).await {
        Ok(exported) => {
            for path in &exported.files {
                println!("{}", shown_path(path));
            }
            eprintln!(
                "exported {} assignments of environment {} into {} files",
                exported.assignments,
                exported.environment,
                exported.files.len()
            );
            for path in &exported.left_alone {
                eprintln!(
                    "warning: {} was already there and is left as it is; remove it if the export replaces it",
                    shown_path(path)
                );
            }
            crate::cli::EXIT_OK
        }
        Err(error) => {
            eprintln!("error: {}", crate::validate::full_message(&error));
            crate::cli::EXIT_ERROR
        }
    }
}

/// Exports the live assignments of one environment into `options.out`.
///
/// # Errors
///
/// The config is invalid, the environment is unknown or ambiguous, the
/// service cannot be read, a file exists (without `force`), or a file
/// cannot be written; in every case but the last nothing was written.
pub async fn export(options: &Options) -> Result<Exported, Error> {
    let config = Config::load(&options.config)?;
    let env = config
        .one(options.environment.as_deref(), "export")
        .map_err(Error::Environment)?
        .clone();

    let mut runner = Runner::new(config.clone(), options.state_dir.clone());
    let fetched = async {
        let client = runner.connect(&env, &RunOptions::new(Mode::Plan)).await?;
        tokio::try_join!(Catalog::fetch(&client), client.list_assignments())
            .map_err(|e| e.to_string())
    }
    .await;
    runner.shutdown().await;
    let (catalog, live) = fetched.map_err(|message| Error::Service {
        environment: env.name.clone(),
        message,
    })?;

    let out = std::path::absolute(&options.out).unwrap_or_else(|_| options.out.clone());
    let (schema_ref, write_schema) = match &options.schema_ref {
        Some(reference) => (reference.clone(), false),
        None => match find_schema_above(&out) {
            Some(found) => (relative(&out, &found), false),
            None => (SCHEMA_FILE.to_owned(), true),
        },
    };
    let mut files: Vec<(PathBuf, String)> = render_files(&env.name, &live, &catalog, &schema_ref)
        .into_iter()
        .map(|(name, text)| (out.join(name), text))
        .collect();
    if write_schema {
        let schema = crate::schema::named(SCHEMA_FILE).expect("the grants schema exists");
        files.push((out.join(SCHEMA_FILE), schema.text()));
    }

    let existing: Vec<PathBuf> = files
        .iter()
        .map(|(path, _)| path.clone())
        .filter(|path| path.exists())
        .collect();
    if !existing.is_empty() && !options.force {
        return Err(Error::WouldOverwrite { paths: existing });
    }
    let left_alone = other_grants_files(&out, &files);
    std::fs::create_dir_all(&out).map_err(|source| Error::WriteFailed {
        path: out.clone(),
        source,
    })?;
    for (path, text) in &files {
        crate::state::write_whole(path, text.as_bytes()).map_err(|source| Error::WriteFailed {
            path: path.clone(),
            source,
        })?;
    }
    tracing::info!(environment = %env.name, files = files.len(), assignments = live.len(), "exported");
    Ok(Exported {
        environment: env.name,
        files: files.into_iter().map(|(path, _)| path).collect(),
        assignments: live.len(),
        left_alone,
    })
}

/// One entry of a file: a node, a role and a window.
type EntryKey = (String, String, Option<Timestamp>, Option<Timestamp>);

/// The grants files of `live`, as (file name, text), sorted by name.
pub fn render_files(
    environment: &str,
    live: &[Assignment],
    catalog: &Catalog,
    schema_ref: &str,
) -> Vec<(String, String)> {
    let mut roots: BTreeMap<String, BTreeMap<EntryKey, BTreeSet<String>>> = BTreeMap::new();
    for assignment in live {
        let node = catalog.node_label(assignment.node_id);
        let root = node.split('/').next().unwrap_or_default().to_owned();
        let key = (
            node,
            catalog.role_label(assignment.role_id),
            assignment.effective_from,
            assignment.effective_to,
        );
        roots
            .entry(root)
            .or_default()
            .entry(key)
            .or_default()
            .insert(catalog.identity_label(assignment.identity_id));
    }

    roots
        .into_iter()
        .map(|(root, entries)| {
            let mut text = format!(
                "# yaml-language-server: $schema={schema_ref}\n#\n# The live assignments of environment {environment} under {root},\n# as `grantsync export` found them.\nenvironment: {}\ngrants:\n",
                scalar(environment)
            );
            for ((node, role, from, to), identities) in entries {
                let _ = writeln!(text, "  - node: {}", scalar(&node));
                let _ = writeln!(text, "    role: {}", scalar(&role));
                if let Some(from) = from {
                    let _ = writeln!(text, "    effective_from: {from}");
                }
                if let Some(to) = to {
                    let _ = writeln!(text, "    effective_to: {to}");
                }
                text.push_str("    identities:\n");
                for identity in identities {
                    let _ = writeln!(text, "      - {}", scalar(&identity));
                }
            }
            (format!("{}.yaml", file_stem(&root)), text)
        })
        .collect()
}

fn file_stem(root: &str) -> String {
    let stem: String = root
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.is_empty() || stem.starts_with('.') {
        format!("root{stem}")
    } else {
        stem
    }
}

/// The nearest `schemas/grants.schema.json` in `dir` or above it.
fn find_schema_above(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|ancestor| ancestor.join(SCHEMA_PATH))
        .find(|candidate| candidate.is_file())
}

/// `to` as seen from the directory `from`; both absolute.
fn relative(from: &Path, to: &Path) -> String {
    let from: Vec<Component> = from.components().collect();
    let to_parts: Vec<Component> = to.components().collect();
    let common = from
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count();
    let mut parts: Vec<String> = vec!["..".to_owned(); from.len() - common];
    parts.extend(
        to_parts[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

/// YAML files already in `dir` that the export does not write.
fn other_grants_files(dir: &Path, written: &[(PathBuf, String)]) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut others: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .filter(|path| !written.iter().any(|(w, _)| w == path))
        .collect();
    others.sort();
    others
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::api::types::{Identity, Node, Role, State};

    #[test]
    fn relative_paths_climb_to_the_common_parent() {
        assert_eq!(
            relative(
                Path::new("/r/access/prod"),
                Path::new("/r/schemas/grants.schema.json")
            ),
            "../../schemas/grants.schema.json"
        );
        assert_eq!(
            relative(Path::new("/r"), Path::new("/r/schemas/g.json")),
            "schemas/g.json"
        );
    }

    #[test]
    fn files_group_by_root_node_role_and_window_in_order() {
        let id = Uuid::from_u128;
        let catalog = Catalog::new(
            ["bob@x.org", "alice@x.org"]
                .iter()
                .enumerate()
                .map(|(i, email)| Identity {
                    id: id(i as u128 + 1),
                    email: (*email).into(),
                    external_id: None,
                    display_name: None,
                    status: "active".into(),
                })
                .collect(),
            vec![
                Node {
                    id: id(10),
                    key: "acme".into(),
                    name: None,
                    parent_id: None,
                },
                Node {
                    id: id(11),
                    key: "eng".into(),
                    name: None,
                    parent_id: Some(id(10)),
                },
                Node {
                    id: id(12),
                    key: "beta".into(),
                    name: None,
                    parent_id: None,
                },
            ],
            vec![Role {
                id: id(20),
                key: "dev".into(),
                name: None,
                permissions: vec![],
            }],
        );
        let assignment = |n: u128, who: u128, node: u128, to: Option<&str>| Assignment {
            id: id(100 + n),
            identity_id: id(who),
            node_id: id(node),
            role_id: id(20),
            effective_from: None,
            effective_to: to.map(|t| t.parse().unwrap()),
            state: State::Active,
            created_at: "2026-01-01T00:00:00Z".parse().unwrap(),
        };
        let live = [
            assignment(1, 1, 11, None),
            assignment(2, 2, 11, None),
            assignment(3, 2, 10, Some("2026-12-31T23:59:59Z")),
            assignment(4, 1, 12, None),
        ];
        let files = render_files(
            "Production",
            &live,
            &catalog,
            "../schemas/grants.schema.json",
        );
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["acme.yaml", "beta.yaml"]);
        let acme = &files[0].1;
        assert!(
            acme.starts_with("# yaml-language-server: $schema=../schemas/grants.schema.json\n")
        );
        let body = &acme[acme.find("environment:").unwrap()..];
        assert_eq!(
            body,
            "environment: Production\ngrants:\n  - node: acme\n    role: dev\n    effective_to: 2026-12-31T23:59:59Z\n    identities:\n      - alice@x.org\n  - node: acme/eng\n    role: dev\n    identities:\n      - alice@x.org\n      - bob@x.org\n"
        );
    }
}
