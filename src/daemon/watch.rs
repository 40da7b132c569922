//! Watching the files the daemon syncs from, in the ways real deployments
//! replace them.
//!
//! A watch on a file goes silent after the first save by rename (vim,
//! JetBrains) and never sees a Kubernetes ConfigMap update, whose files are
//! symlinks through a `..data` symlink that is swapped by a rename. So the
//! daemon watches directories, non-recursively: the config's, each glob's
//! root, and the directory holding any symlink on the way to them (the
//! `..data` link, a git-sync worktree link). Any event in a watched
//! directory only means "read again and compare the fingerprint", so events
//! that name other files, or none of ours, are harmless. Events that only
//! read (open, close without writing) are dropped, since the daemon's own
//! reads would otherwise wake it forever.
//!
//! Directories are replaced under the daemon's feet (a deleted and recreated
//! folder, a new worktree), so [`DirWatcher::update`] is called after every
//! change and on the periodic rescan: it watches each wanted directory
//! again, which re-arms a replaced one, and drops the ones no longer wanted.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::config::{Config, Source};

/// The most directories one glob that reaches into subdirectories may add.
/// A glob rooted too high (`/**/*.yaml`) would otherwise watch a whole disk;
/// past this the periodic rescan still notices changes.
const MAX_DIRECTORIES_PER_GLOB: usize = 1000;

/// The directories to watch for a config at `config_path` (absolute) with
/// the `selected` environments, and the `files` read from them. Each is
/// canonical, so two paths to one directory are watched once.
pub fn directories(
    config_path: &Path,
    config: &Config,
    selected: &[String],
    files: &BTreeSet<PathBuf>,
) -> BTreeSet<PathBuf> {
    let config_dir = config_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    let mut wanted = BTreeSet::new();
    add_with_links(&mut wanted, &config_dir);

    let environments = config
        .select(selected)
        .unwrap_or_else(|_| config.environments.iter().collect());
    for env in environments {
        for source in env.sources() {
            let (pattern, mapping) = match &source {
                Source::Grants { pattern } => (pattern, None),
                Source::HrExport { pattern, mapping } => (pattern, Some(mapping)),
            };
            let (root, deep) = glob_root(&config.base_dir, pattern);
            add_with_links(&mut wanted, &root);
            // A root that is deleted and recreated is seen from its parent.
            if root != config_dir
                && let Some(parent) = root.parent()
            {
                add_with_links(&mut wanted, parent);
            }
            if deep {
                add_subdirectories(&mut wanted, &root);
            }
            if let Some(parent) = mapping.and_then(|m| m.parent()) {
                add_with_links(&mut wanted, parent);
            }
        }
    }

    // A file that is a symlink changes when its target does.
    for file in files {
        let is_link = std::fs::symlink_metadata(file).is_ok_and(|m| m.file_type().is_symlink());
        if is_link
            && let Ok(target) = std::fs::canonicalize(file)
            && let Some(parent) = target.parent()
        {
            wanted.insert(parent.to_path_buf());
        }
    }
    wanted
}

/// The directory a glob starts from, and whether it matches below it.
fn glob_root(base: &Path, pattern: &str) -> (PathBuf, bool) {
    let full = if Path::new(pattern).is_absolute() {
        PathBuf::from(pattern)
    } else {
        base.join(pattern)
    };
    let text = full.to_string_lossy();
    match text.find(['*', '?', '[', '{']) {
        None => (
            full.parent().map(Path::to_path_buf).unwrap_or(full.clone()),
            false,
        ),
        Some(first_glob) => {
            let slash = text[..first_glob].rfind('/').unwrap_or(0);
            let root = if slash == 0 {
                PathBuf::from("/")
            } else {
                PathBuf::from(&text[..slash])
            };
            let deep = text[slash + 1..].contains('/');
            (root, deep)
        }
    }
}

/// Adds `dir` (or, while it does not exist, its nearest existing ancestor,
/// so that its creation is seen) and the directory holding each symlink on
/// the way to it, where a swap of that link would happen.
fn add_with_links(wanted: &mut BTreeSet<PathBuf>, dir: &Path) {
    let mut existing = dir;
    while !existing.is_dir() {
        match existing.parent() {
            Some(parent) => existing = parent,
            None => return,
        }
    }
    if let Ok(canonical) = std::fs::canonicalize(existing) {
        wanted.insert(canonical);
    }
    for ancestor in existing.ancestors() {
        let is_link = std::fs::symlink_metadata(ancestor).is_ok_and(|m| m.file_type().is_symlink());
        if is_link
            && let Some(parent) = ancestor.parent()
            && let Ok(canonical) = std::fs::canonicalize(parent)
        {
            wanted.insert(canonical);
        }
    }
}

fn add_subdirectories(wanted: &mut BTreeSet<PathBuf>, root: &Path) {
    let subdirectories = walkdir::WalkDir::new(root)
        .follow_links(true)
        .min_depth(1)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_dir())
        .take(MAX_DIRECTORIES_PER_GLOB);
    for entry in subdirectories {
        if let Ok(canonical) = std::fs::canonicalize(entry.path()) {
            wanted.insert(canonical);
        }
    }
}

/// Whether an event may mean a change. Reads are not changes; a close after
/// writing is.
pub fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Non-recursive watches on a set of directories, each event turned into a
/// wake-up on a channel that holds at most one: a burst is one wake-up.
pub struct DirWatcher {
    watcher: notify::RecommendedWatcher,
    watched: BTreeSet<PathBuf>,
}

impl DirWatcher {
    /// # Errors
    ///
    /// The system refuses a new watcher (on Linux: too many inotify
    /// instances).
    pub fn new(wake: mpsc::Sender<()>) -> notify::Result<DirWatcher> {
        let watcher = notify::recommended_watcher(move |result: notify::Result<notify::Event>| {
            let change = match &result {
                Ok(event) => {
                    tracing::trace!(kind = ?event.kind, paths = ?event.paths, "file event");
                    is_change(&event.kind)
                }
                // A lost event or a full queue: read everything again.
                Err(error) => {
                    tracing::debug!(error = %error, "watcher error");
                    true
                }
            };
            if change {
                // Full means a wake-up is already pending, which covers this one.
                let _ = wake.try_send(());
            }
        })?;
        Ok(DirWatcher {
            watcher,
            watched: BTreeSet::new(),
        })
    }

    /// Watches exactly `wanted`. Every wanted directory is watched again,
    /// since the one at that path may have been replaced.
    pub fn update(&mut self, wanted: &BTreeSet<PathBuf>) {
        for gone in self.watched.difference(wanted) {
            // It may be gone already, with its directory.
            let _ = self.watcher.unwatch(gone);
        }
        self.watched.clear();
        for dir in wanted {
            match self.watcher.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched.insert(dir.clone());
                }
                Err(error) => {
                    tracing::warn!(directory = %dir.display(), error = %error, "cannot watch a directory; the periodic rescan covers it");
                }
            }
        }
    }

    pub fn watched(&self) -> &BTreeSet<PathBuf> {
        &self.watched
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn config_at(dir: &Path, sources: &str) -> (PathBuf, Config) {
        let path = dir.join("grantsync.yaml");
        let text = format!(
            "environments:\n  - name: Production\n    api: {{url: https://access.example.com, key_env: KEY}}\n    sources:\n{sources}"
        );
        std::fs::write(&path, text).unwrap();
        let config = Config::load(&path).unwrap();
        (path, config)
    }

    fn canonical(path: &Path) -> PathBuf {
        std::fs::canonicalize(path).unwrap()
    }

    #[test]
    fn glob_roots_stop_before_the_first_wildcard() {
        let base = Path::new("/etc/grantsync");
        assert_eq!(
            glob_root(base, "access/*.yaml"),
            (PathBuf::from("/etc/grantsync/access"), false)
        );
        assert_eq!(
            glob_root(base, "access/**/*.yaml"),
            (PathBuf::from("/etc/grantsync/access"), true)
        );
        assert_eq!(
            glob_root(base, "/srv/hr/export.csv"),
            (PathBuf::from("/srv/hr"), false)
        );
        assert_eq!(glob_root(base, "/*.yaml"), (PathBuf::from("/"), false));
    }

    #[test]
    fn the_config_directory_and_glob_roots_are_watched() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("access")).unwrap();
        let (path, config) = config_at(dir.path(), "      - grants: access/*.yaml\n");
        let wanted = directories(&path, &config, &[], &BTreeSet::new());
        let expected: BTreeSet<_> = [canonical(dir.path()), canonical(&dir.path().join("access"))]
            .into_iter()
            .collect();
        assert_eq!(wanted, expected);
    }

    #[test]
    fn a_missing_glob_root_is_watched_through_its_nearest_ancestor() {
        let dir = tempfile::tempdir().unwrap();
        let (path, config) = config_at(dir.path(), "      - grants: not-yet/teams/*.yaml\n");
        let wanted = directories(&path, &config, &[], &BTreeSet::new());
        assert_eq!(wanted.len(), 1);
        assert!(wanted.contains(&canonical(dir.path())));
    }

    #[test]
    fn the_directory_holding_a_symlinked_worktree_is_watched() {
        // git-sync: /repo/current -> /repo/.worktrees/abc, sources below it.
        let repo = tempfile::tempdir().unwrap();
        let worktree = repo.path().join(".worktrees/abc/access");
        std::fs::create_dir_all(&worktree).unwrap();
        symlink(
            repo.path().join(".worktrees/abc"),
            repo.path().join("current"),
        )
        .unwrap();
        let conf = tempfile::tempdir().unwrap();
        let pattern = format!("{}/current/access/*.yaml", repo.path().display());
        let (path, config) = config_at(conf.path(), &format!("      - grants: {pattern}\n"));
        let wanted = directories(&path, &config, &[], &BTreeSet::new());
        assert!(wanted.contains(&canonical(repo.path())), "{wanted:?}");
        assert!(wanted.contains(&canonical(&worktree)), "{wanted:?}");
    }

    #[test]
    fn a_symlinked_file_adds_its_targets_directory() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(elsewhere.path().join("real.yaml"), "").unwrap();
        let (path, config) = config_at(dir.path(), "      - grants: '*.yaml'\n");
        let link = dir.path().join("linked.yaml");
        symlink(elsewhere.path().join("real.yaml"), &link).unwrap();
        let files: BTreeSet<_> = [link].into_iter().collect();
        let wanted = directories(&path, &config, &[], &files);
        assert!(wanted.contains(&canonical(elsewhere.path())), "{wanted:?}");
    }

    #[test]
    fn a_deep_glob_watches_every_subdirectory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("access/team-a")).unwrap();
        std::fs::create_dir_all(dir.path().join("access/team-b/sub")).unwrap();
        let (path, config) = config_at(dir.path(), "      - grants: access/**/*.yaml\n");
        let wanted = directories(&path, &config, &[], &BTreeSet::new());
        assert_eq!(wanted.len(), 5, "{wanted:?}");
    }

    #[test]
    fn reads_are_not_changes() {
        use notify::event::{CreateKind, ModifyKind};
        assert!(!is_change(&EventKind::Access(AccessKind::Open(
            notify::event::AccessMode::Any
        ))));
        assert!(!is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(is_change(&EventKind::Create(CreateKind::File)));
        assert!(is_change(&EventKind::Modify(ModifyKind::Any)));
    }
}
