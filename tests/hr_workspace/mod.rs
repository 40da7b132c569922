//! A temporary directory holding one mapping and one or more exports, so that
//! each HR test builds its inputs inline and reads top to bottom.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use grantsync::desired::hr::{self, Mapping};
use grantsync::desired::{DesiredGrant, SourceOutput};
use jiff::Timestamp;

/// The instant every test reads at, as in the fixture's README.
pub const NOW: &str = "2026-12-01T12:00:00Z";

/// A mapping over the columns of [`HEADER`]: everyone gets `member` at their
/// department, a title ending in `Manager` also gets `manager`.
pub const MAPPING: &str = r#"
csv:
  delimiter: auto
  encoding: auto
  date_format: "%m/%d/%Y"
  timezone: America/Chicago
columns:
  employee_id: "Employee #"
  email: Work Email
  department: Department
  title: Job Title
  status: Status
  hire_date: Hire Date
  termination_date: Termination Date
identity: email
terminated:
  status: [Terminated, Inactive]
rules:
  - node: "acme/{department|slug}"
    role: member
  - when: {title: "/Manager$/"}
    node: "acme/{department|slug}"
    role: manager
"#;

pub const HEADER: &str =
    "Employee #,Work Email,Department,Job Title,Status,Hire Date,Termination Date";

pub struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `yaml` as `mapping.yaml` and loads it.
    pub fn mapping(&self, yaml: &str) -> Result<Mapping, hr::Error> {
        let path = self.write("mapping.yaml", yaml.as_bytes());
        Mapping::load(&path)
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Reads `export` (as `export.csv`) through `mapping` at [`NOW`].
    pub fn read_with(&self, mapping: &str, export: &[u8]) -> Result<SourceOutput, hr::Error> {
        let mapping = self.mapping(mapping).unwrap();
        self.write("export.csv", export);
        hr::load_export(self.path(), "export.csv", &mapping, now())
    }

    /// Reads `export` through [`MAPPING`] at [`NOW`].
    pub fn read(&self, export: &[u8]) -> Result<SourceOutput, hr::Error> {
        self.read_with(MAPPING, export)
    }
}

pub fn now() -> Timestamp {
    NOW.parse().unwrap()
}

pub fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// `identity node role` of each grant, in order.
pub fn keys(output: &SourceOutput) -> Vec<String> {
    output.grants.iter().map(key).collect()
}

pub fn key(grant: &DesiredGrant) -> String {
    format!("{} {} {}", grant.identity, grant.node, grant.role)
}

/// `line: message` of each row error.
pub fn row_errors(output: &SourceOutput) -> Vec<String> {
    output
        .row_errors
        .iter()
        .map(|e| format!("{}: {}", e.origin.line, e.message))
        .collect()
}

/// An export of [`HEADER`] and `rows`, lines joined with `\n`.
pub fn csv(rows: &[&str]) -> Vec<u8> {
    let mut text = String::from(HEADER);
    for row in rows {
        text.push('\n');
        text.push_str(row);
    }
    text.push('\n');
    text.into_bytes()
}
