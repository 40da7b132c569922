//! The state directory: everything a run writes besides the service.
//!
//! Reports, the sizes of each source at its last good run (for the
//! source-shrink rail) and the embedded sandbox's store live here, by default
//! `.grantsync/` beside the config, so that a config in a read-only place
//! still runs with `--state-dir`. Files are replaced whole (write, then
//! rename), never edited in place.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub fn new(root: PathBuf) -> StateDir {
        StateDir { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn reports_dir(&self) -> PathBuf {
        self.root.join("reports")
    }

    /// Where the embedded sandbox seeded from `directory` keeps its store:
    /// one store per directory file, named after it.
    pub fn sandbox_dir(&self, directory: &Path) -> PathBuf {
        let stem = directory
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "directory".into());
        let hash = blake3::hash(directory.to_string_lossy().as_bytes()).to_hex();
        self.root
            .join("sandbox")
            .join(format!("{stem}-{}", &hash[..12]))
    }

    fn sources_file(&self, environment: &str) -> PathBuf {
        let safe: String = environment
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.root.join("sources").join(format!("{safe}.json"))
    }

    /// The number of grants each source yielded at its last good run.
    /// Missing or unreadable state counts as no history.
    pub fn last_source_sizes(&self, environment: &str) -> HashMap<String, usize> {
        std::fs::read(self.sources_file(environment))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Records the sizes of a good run.
    ///
    /// # Errors
    ///
    /// The state directory cannot be written.
    pub fn save_source_sizes(
        &self,
        environment: &str,
        sizes: &[(String, usize)],
    ) -> std::io::Result<()> {
        let map: HashMap<&str, usize> = sizes.iter().map(|(name, n)| (name.as_str(), *n)).collect();
        write_whole(
            &self.sources_file(environment),
            &serde_json::to_vec_pretty(&map).expect("a map of counts always serializes"),
        )
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that a
/// reader never sees half a file.
pub fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_sizes_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().to_path_buf());
        assert!(state.last_source_sizes("Production").is_empty());
        state
            .save_source_sizes("Production", &[("access/*.yaml".into(), 42)])
            .unwrap();
        assert_eq!(state.last_source_sizes("Production")["access/*.yaml"], 42);
    }
}
