//! Desired state: what the files say should exist.
//!
//! Two kinds of source feed it: grants files (`grants.rs`), written by people,
//! and HR exports read through a mapping (`hr/`). Both produce the same
//! [`DesiredGrant`], each remembering where it came from so that plans,
//! reports and errors can point at the file and line.

pub mod grants;
pub mod hr;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;
use uuid::Uuid;

/// Where a desired grant, or an error about one, comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The file as the user named it (relative to the config when it was).
    pub file: Arc<str>,
    /// 1-based line; 0 when unknown.
    pub line: u32,
    /// 1-based column; 0 when unknown.
    pub column: u32,
    /// For an HR row: which mapping rule produced the grant, e.g. `rule 2`.
    pub detail: Option<Arc<str>>,
}

impl Origin {
    pub fn new(file: Arc<str>, line: u32, column: u32) -> Origin {
        Origin {
            file,
            line,
            column,
            detail: None,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        Ok(())
    }
}

/// How a grant names the identity that should hold the role.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdentityRef {
    /// Matched case-insensitively; stored lowercased.
    Email(String),
    /// `external:<id>`: the HR system's id of the person.
    External(String),
    Id(Uuid),
}

impl IdentityRef {
    /// Reads an identity as written in a file: `external:<id>`, a UUID, or an email.
    pub fn parse(text: &str) -> Result<IdentityRef, String> {
        let text = text.trim();
        if let Some(id) = text.strip_prefix("external:") {
            let id = id.trim();
            if id.is_empty() {
                return Err("`external:` needs the HR system's id after the colon".into());
            }
            return Ok(IdentityRef::External(id.to_owned()));
        }
        if let Ok(id) = Uuid::parse_str(text) {
            return Ok(IdentityRef::Id(id));
        }
        if text.contains('@') && !text.contains(char::is_whitespace) {
            return Ok(IdentityRef::Email(text.to_lowercase()));
        }
        Err(format!(
            "identity \"{text}\" is neither an email, `external:<id>` nor a UUID"
        ))
    }
}

impl fmt::Display for IdentityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityRef::Email(email) => f.write_str(email),
            IdentityRef::External(id) => write!(f, "external:{id}"),
            IdentityRef::Id(id) => write!(f, "{id}"),
        }
    }
}

/// How a grant names a node: its path of keys from a root, or its id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeRef {
    Path(String),
    Id(Uuid),
}

impl NodeRef {
    pub fn parse(text: &str) -> Result<NodeRef, String> {
        let text = text.trim();
        if let Ok(id) = Uuid::parse_str(text) {
            return Ok(NodeRef::Id(id));
        }
        let path = text.trim_matches('/');
        if path.is_empty() || path.split('/').any(|key| key.trim().is_empty()) {
            return Err(format!(
                "node \"{text}\" is not a path of node keys like acme/engineering"
            ));
        }
        Ok(NodeRef::Path(path.to_owned()))
    }
}

impl fmt::Display for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeRef::Path(path) => f.write_str(path),
            NodeRef::Id(id) => write!(f, "{id}"),
        }
    }
}

/// How a grant names a role: its key, or its id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoleRef {
    Key(String),
    Id(Uuid),
}

impl RoleRef {
    pub fn parse(text: &str) -> Result<RoleRef, String> {
        let text = text.trim();
        if let Ok(id) = Uuid::parse_str(text) {
            return Ok(RoleRef::Id(id));
        }
        if text.is_empty() {
            return Err("role is empty".into());
        }
        Ok(RoleRef::Key(text.to_owned()))
    }
}

impl fmt::Display for RoleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoleRef::Key(key) => f.write_str(key),
            RoleRef::Id(id) => write!(f, "{id}"),
        }
    }
}

/// Which kind of source a grant came from; an HR grant also names its row, so
/// that a problem found later (a node that does not exist) skips the whole row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    Grants,
    /// The 1-based physical line of the row in the export.
    HrRow(u32),
}

/// One grant the files ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredGrant {
    pub identity: IdentityRef,
    pub node: NodeRef,
    pub role: RoleRef,
    pub effective_from: Option<Timestamp>,
    pub effective_to: Option<Timestamp>,
    pub reason: Option<String>,
    pub origin: Origin,
    pub kind: SourceKind,
}

/// A row of an HR export that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub origin: Origin,
    pub message: String,
}

/// A problem at a place in a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", crate::yaml::located(std::path::Path::new(&**file), *line, *column, message))]
pub struct FileError {
    pub file: Arc<str>,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl FileError {
    pub fn new(file: Arc<str>, line: u64, column: u64, message: String) -> FileError {
        FileError {
            file,
            line,
            column,
            message,
        }
    }
}

/// How a file's name appears in messages: relative to `base` when it is below it.
pub fn display_path(base: &Path, path: &Path) -> Arc<str> {
    let shown = path.strip_prefix(base).unwrap_or(path);
    Arc::from(shown.to_string_lossy().as_ref())
}

/// What one source yielded.
#[derive(Debug, Clone, Default)]
pub struct SourceOutput {
    /// How the source is named in reports and in the state directory: its
    /// config entry (the glob or the export pattern).
    pub name: String,
    /// The files read, for watching and for plan digests.
    pub files: Vec<PathBuf>,
    pub grants: Vec<DesiredGrant>,
    pub row_errors: Vec<RowError>,
    /// Rows (HR) or entries (grants) read, before errors were taken out.
    pub records: usize,
}

/// The files under `base` that match `pattern` (a glob relative to `base`, or
/// an absolute one), sorted by path. `*` does not cross a `/`.
pub fn expand_glob(base: &Path, pattern: &str) -> std::io::Result<Vec<PathBuf>> {
    let full = if Path::new(pattern).is_absolute() {
        PathBuf::from(pattern)
    } else {
        base.join(pattern)
    };
    // Walk from the longest leading part without glob characters.
    let text = full.to_string_lossy().into_owned();
    let first_glob = text.find(['*', '?', '[', '{']);
    let Some(first_glob) = first_glob else {
        return Ok(if full.is_file() { vec![full] } else { vec![] });
    };
    let root = match text[..first_glob].rfind('/') {
        Some(0) => PathBuf::from("/"),
        Some(slash) => PathBuf::from(&text[..slash]),
        None => PathBuf::from("."),
    };
    let matcher = globset::GlobBuilder::new(&text)
        .literal_separator(true)
        .build()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?
        .compile_matcher();
    let mut found = Vec::new();
    if !root.is_dir() {
        return Ok(found);
    }
    for entry in walkdir::WalkDir::new(&root)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = entry.map_err(std::io::Error::other)?;
        if entry.file_type().is_file() && matcher.is_match(entry.path()) {
            found.push(entry.into_path());
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_by_their_form() {
        assert_eq!(
            IdentityRef::parse(" Alice@Example.com ").unwrap(),
            IdentityRef::Email("alice@example.com".into())
        );
        assert_eq!(
            IdentityRef::parse("external:E1042").unwrap(),
            IdentityRef::External("E1042".into())
        );
        assert!(IdentityRef::parse("alice").is_err());
        assert_eq!(
            NodeRef::parse("/acme/eng/").unwrap(),
            NodeRef::Path("acme/eng".into())
        );
        assert!(NodeRef::parse("acme//eng").is_err());
    }

    #[test]
    fn glob_matches_within_one_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("access/sub")).unwrap();
        for name in [
            "access/b.yaml",
            "access/a.yaml",
            "access/sub/c.yaml",
            "access/x.txt",
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let found = expand_glob(dir.path(), "access/*.yaml").unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["a.yaml", "b.yaml"]);
    }
}
