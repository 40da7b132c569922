//! Reading what the daemon syncs from: the config file and every source, as
//! they are on disk now, with one fingerprint of all of it.
//!
//! The fingerprint (blake3 over the config's bytes and the paths and bytes
//! of every file the sources match) is what turns a file event into a sync:
//! events that leave it unchanged (a touch, a save of the same text, the
//! daemon's own reads) cause none. A reading keeps the config's or the
//! sources' errors instead of failing, so that the daemon can keep its last
//! good state and say what is wrong.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;

use crate::config::{Config, Source};
use crate::desired::{SourceOutput, expand_glob};
use crate::sync::read_sources;

/// The config and the sources, read once.
#[derive(Debug)]
pub struct Reading {
    pub fingerprint: blake3::Hash,
    /// The config file's part of the fingerprint.
    pub config_fingerprint: blake3::Hash,
    /// The config as the file now says, or why it cannot be used.
    pub config: Result<Config, String>,
    /// The selected environments of the config in effect: the file's when it
    /// is valid, else the last good one.
    pub environments: Vec<EnvironmentReading>,
    /// Every file read: the config, the files the sources match, mappings.
    pub files: BTreeSet<PathBuf>,
}

#[derive(Debug)]
pub struct EnvironmentReading {
    pub name: String,
    /// The environment's desired state, or every problem found in it.
    pub sources: Result<Arc<Vec<SourceOutput>>, Vec<String>>,
}

impl Reading {
    /// Every problem of this reading, located when it has a place.
    pub fn errors(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if let Err(error) = &self.config {
            errors.push(error.clone());
        }
        for env in &self.environments {
            if let Err(problems) = &env.sources {
                errors.extend(
                    problems
                        .iter()
                        .map(|problem| format!("environment {}: {problem}", env.name)),
                );
            }
        }
        errors
    }

    /// Whether a change to this reading has anything new that is valid to
    /// sync: the config is usable and at least one environment reads well.
    pub fn has_valid_change(&self) -> bool {
        self.config.is_ok() && self.environments.iter().any(|env| env.sources.is_ok())
    }
}

/// Reads the config at `path` and the sources of the `selected`
/// environments (all when empty). `check` adds the daemon's own rules to the
/// config's (a schedule that parses, a listen address); a config that fails
/// them is reported and `fallback`, the last good config, stays in effect.
pub fn read(
    path: &Path,
    fallback: &Config,
    selected: &[String],
    now: Timestamp,
    check: impl Fn(&Config) -> Result<(), String>,
) -> Reading {
    let mut config_hasher = blake3::Hasher::new();
    hash_file(&mut config_hasher, path);
    let config_fingerprint = config_hasher.finalize();
    let mut hasher = blake3::Hasher::new();
    hasher.update(config_fingerprint.as_bytes());
    let mut files = BTreeSet::new();
    files.insert(path.to_path_buf());

    let config = Config::load(path)
        .map_err(|error| error.to_string())
        .and_then(|config| {
            config.select(selected)?;
            check(&config)?;
            Ok(config)
        });
    let in_effect = config.as_ref().unwrap_or(fallback);
    let chosen = in_effect
        .select(selected)
        .unwrap_or_else(|_| in_effect.environments.iter().collect());

    let mut environments = Vec::new();
    for env in chosen {
        hasher.update(b"\0environment\0");
        hasher.update(env.name.as_bytes());
        for source in env.sources() {
            for file in source_files(&in_effect.base_dir, &source) {
                hash_file(&mut hasher, &file);
                files.insert(file);
            }
        }
        environments.push(EnvironmentReading {
            name: env.name.clone(),
            sources: read_sources(&in_effect.base_dir, env, now).map(Arc::new),
        });
    }
    Reading {
        fingerprint: hasher.finalize(),
        config_fingerprint,
        config,
        environments,
        files,
    }
}

/// The files a source reads: every match of its glob (an HR source reads
/// only the newest, but a new older export is rare and a sync that changes
/// nothing is harmless), and its mapping.
pub fn source_files(base: &Path, source: &Source) -> Vec<PathBuf> {
    let (pattern, mapping) = match source {
        Source::Grants { pattern } => (pattern, None),
        Source::HrExport { pattern, mapping } => (pattern, Some(mapping)),
    };
    let mut files = expand_glob(base, pattern).unwrap_or_default();
    files.extend(mapping.cloned());
    files
}

/// Adds a file's path and contents to the fingerprint; a file that cannot
/// be read adds why, so that it appearing or disappearing still counts.
fn hash_file(hasher: &mut blake3::Hasher, path: &Path) {
    hasher.update(b"\0file\0");
    hasher.update(path.as_os_str().as_encoded_bytes());
    match std::fs::read(path) {
        Ok(bytes) => {
            hasher.update(&(bytes.len() as u64).to_le_bytes());
            hasher.update(&bytes);
        }
        Err(error) => {
            hasher.update(b"\0unreadable\0");
            hasher.update(format!("{:?}", error.kind()).as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "environments:\n  - name: Production\n    api: {url: https://access.example.com, key_env: KEY}\n    sources:\n      - grants: access/*.yaml\n";
    const GRANTS: &str =
        "grants:\n  - {identity: alice@example.com, node: acme/eng, role: developer}\n";

    fn setup() -> (tempfile::TempDir, PathBuf, Config) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("access")).unwrap();
        std::fs::write(dir.path().join("access/eng.yaml"), GRANTS).unwrap();
        let path = dir.path().join("grantsync.yaml");
        std::fs::write(&path, CONFIG).unwrap();
        let config = Config::load(&path).unwrap();
        (dir, path, config)
    }

    fn read_now(path: &Path, fallback: &Config) -> Reading {
        read(path, fallback, &[], Timestamp::now(), |_| Ok(()))
    }

    #[test]
    fn rewriting_the_same_text_keeps_the_fingerprint() {
        let (dir, path, config) = setup();
        let first = read_now(&path, &config);
        assert!(first.errors().is_empty(), "{:?}", first.errors());
        std::fs::write(dir.path().join("access/eng.yaml"), GRANTS).unwrap();
        assert_eq!(read_now(&path, &config).fingerprint, first.fingerprint);
        assert_eq!(first.files.len(), 2);
    }

    #[test]
    fn a_new_matching_file_changes_the_fingerprint() {
        let (dir, path, config) = setup();
        let first = read_now(&path, &config);
        std::fs::write(dir.path().join("access/ops.yaml"), GRANTS).unwrap();
        let second = read_now(&path, &config);
        assert_ne!(second.fingerprint, first.fingerprint);
        assert_eq!(second.files.len(), 3);
    }

    #[test]
    fn an_invalid_grants_file_is_reported_with_its_line() {
        let (dir, path, config) = setup();
        std::fs::write(
            dir.path().join("access/eng.yaml"),
            "grants:\n  - {identity: alice@example.com, node: acme/eng}\n",
        )
        .unwrap();
        let reading = read_now(&path, &config);
        assert!(!reading.has_valid_change());
        let errors = reading.errors();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("environment Production: access/eng.yaml:2:"),
            "{errors:?}"
        );
    }

    #[test]
    fn an_invalid_config_keeps_the_last_good_one_in_effect() {
        let (_dir, path, config) = setup();
        std::fs::write(&path, CONFIG.replace("sources:", "sourcez:")).unwrap();
        let reading = read_now(&path, &config);
        let error = reading.config.as_ref().unwrap_err();
        assert!(error.contains("grantsync.yaml:"), "{error}");
        // The sources of the last good config are still read and hashed.
        assert_eq!(reading.environments.len(), 1);
        assert!(reading.environments[0].sources.is_ok());
    }

    #[test]
    fn the_daemons_own_rules_make_a_config_invalid() {
        let (_dir, path, config) = setup();
        let reading = read(&path, &config, &[], Timestamp::now(), |_| {
            Err("daemon.schedule is wrong".into())
        });
        assert_eq!(reading.config.unwrap_err(), "daemon.schedule is wrong");
    }
}
