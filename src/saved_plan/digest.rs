//! Digests of what a plan was made from: the bytes of every input file,
//! and the live assignments, so that applying the plan can tell whether
//! anything moved since, and say what.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::{Error, FileDigest, LiveDigest};
use crate::api::types::Assignment;
use crate::config::{Config, EnvironmentConfig, Source};
use crate::desired::{display_path, expand_glob};

/// The digest of a list of live assignments.
pub fn live_digest(live: &[Assignment]) -> LiveDigest {
    let mut sorted: Vec<&Assignment> = live.iter().collect();
    sorted.sort_by_key(|a| a.id);
    let mut hasher = blake3::Hasher::new();
    let instant = |at: Option<Timestamp>| at.map_or_else(String::new, |at| at.to_string());
    for a in sorted {
        let line = format!(
            "{} {} {} {} {} {}\n",
            a.id,
            a.identity_id,
            a.node_id,
            a.role_id,
            instant(a.effective_from),
            instant(a.effective_to)
        );
        hasher.update(line.as_bytes());
    }
    LiveDigest {
        assignments: live.len(),
        blake3: hasher.finalize().to_hex().to_string(),
    }
}

fn file_digest(base: &Path, path: &Path) -> Result<FileDigest, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    Ok(FileDigest {
        path: display_path(base, path).to_string(),
        blake3: blake3::hash(&bytes).to_hex().to_string(),
    })
}

/// The digests of every file an environment's sources read, found the way
/// the sources find them but without parsing them, so that a file that no
/// longer parses is still named as changed.
pub fn input_digests(config: &Config, env: &EnvironmentConfig) -> Result<Vec<FileDigest>, Error> {
    let base = &config.base_dir;
    let unreadable = |message: String| Error::InputsUnreadable {
        environment: env.name.clone(),
        message,
    };
    let mut files: Vec<PathBuf> = Vec::new();
    for source in env.sources() {
        let matched = expand_glob(base, source.name())
            .map_err(|e| unreadable(format!("{}: {e}", source.name())))?;
        match source {
            Source::Grants { .. } => files.extend(matched),
            // Only the newest export is read.
            Source::HrExport { mapping, .. } => {
                files.extend(matched.last().cloned());
                files.push(mapping);
            }
        }
    }
    files.sort();
    files.dedup();
    files
        .iter()
        .map(|path| file_digest(base, path).map_err(unreadable))
        .collect()
}

pub(super) fn config_digest(config: &Config) -> Result<FileDigest, Error> {
    let bytes = std::fs::read(&config.path).map_err(|source| Error::Unreadable {
        path: config.path.clone(),
        source,
    })?;
    Ok(FileDigest {
        path: config.path.display().to_string(),
        blake3: blake3::hash(&bytes).to_hex().to_string(),
    })
}

/// The digests of every selected environment's inputs, by environment.
pub fn all_input_digests(
    config: &Config,
    environments: &[String],
) -> Result<BTreeMap<String, Vec<FileDigest>>, Error> {
    let selected = config
        .select(environments)
        .map_err(|message| Error::NotSaved(message.clone()))?;
    selected
        .into_iter()
        .map(|env| Ok((env.name.clone(), input_digests(config, env)?)))
        .collect()
}

/// What moved between two lists of file digests, one line per file.
pub(super) fn changed_files(
    environment: &str,
    then: &[FileDigest],
    now: &[FileDigest],
) -> Vec<String> {
    let then: BTreeMap<&str, &str> = then
        .iter()
        .map(|f| (f.path.as_str(), f.blake3.as_str()))
        .collect();
    let now: BTreeMap<&str, &str> = now
        .iter()
        .map(|f| (f.path.as_str(), f.blake3.as_str()))
        .collect();
    let mut changes = Vec::new();
    for (path, digest) in &then {
        match now.get(path) {
            None => changes.push(format!(
                "{path} is no longer read by environment {environment} (deleted or renamed)"
            )),
            Some(current) if current != digest => {
                changes.push(format!("{path} changed since the plan was made"));
            }
            Some(_) => {}
        }
    }
    for path in now.keys().filter(|path| !then.contains_key(*path)) {
        changes.push(format!(
            "{path} is new: environment {environment} reads it, the plan did not"
        ));
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn assignment(id: u128, to: Option<&str>) -> Assignment {
        Assignment {
            id: Uuid::from_u128(id),
            identity_id: Uuid::from_u128(1),
            node_id: Uuid::from_u128(2),
            role_id: Uuid::from_u128(3),
            effective_from: None,
            effective_to: to.map(|t| t.parse().unwrap()),
            state: crate::api::types::State::Active,
            created_at: "2026-01-01T00:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn live_digest_ignores_order_and_sees_windows() {
        let a = assignment(1, None);
        let b = assignment(2, Some("2026-12-31T23:59:59Z"));
        assert_eq!(
            live_digest(&[a.clone(), b.clone()]),
            live_digest(&[b.clone(), a.clone()])
        );
        let moved = assignment(2, Some("2027-01-31T23:59:59Z"));
        assert_ne!(live_digest(&[a.clone(), b]), live_digest(&[a, moved]));
    }

    #[test]
    fn changed_files_names_each_change() {
        let digest = |path: &str, blake3: &str| FileDigest {
            path: path.into(),
            blake3: blake3.into(),
        };
        let then = [digest("a.yaml", "1"), digest("b.yaml", "2")];
        let now = [digest("a.yaml", "9"), digest("c.yaml", "3")];
        let changes = changed_files("Production", &then, &now);
        assert_eq!(changes.len(), 3, "{changes:?}");
        assert!(changes[0].starts_with("a.yaml changed"), "{changes:?}");
        assert!(
            changes[1].starts_with("b.yaml is no longer read"),
            "{changes:?}"
        );
        assert!(changes[2].starts_with("c.yaml is new"), "{changes:?}");
    }
}
