//! Scenarios built inline: a sandbox directory, grants files and a config in
//! a temporary directory, sized and shaped by the test that needs them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// One grant as a test writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub identity: String,
    pub node: String,
    pub role: String,
    pub effective_to: Option<String>,
}

impl Grant {
    pub fn new(identity: &str, node: &str, role: &str) -> Grant {
        Grant {
            identity: identity.into(),
            node: node.into(),
            role: role.into(),
            effective_to: None,
        }
    }
}

/// A company of `people` identities (`user-N@example.com`), a node tree
/// `acme` → `team-0..teams` → `svc`, roles `admin`, `member`, `viewer`, and
/// the live assignments the test gives.
pub struct Scenario {
    pub dir: TempDir,
    pub people: usize,
    pub teams: usize,
}

pub const PROD_KEY: &str = "sk_prod_scenario_7f3a";
pub const DEV_KEY: &str = "sk_dev_scenario_91c2";
pub const KEY_ENV: &str = "GRANTSYNC_SCENARIO_KEY";

pub fn person(n: usize) -> String {
    format!("user-{n}@example.com")
}

impl Scenario {
    pub fn new(people: usize, teams: usize, live: &[Grant]) -> Scenario {
        let dir = tempfile::tempdir().unwrap();
        let scenario = Scenario { dir, people, teams };
        scenario.write_directory(live);
        scenario
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn directory(&self) -> PathBuf {
        self.path().join("directory.yaml")
    }

    fn write_directory(&self, live: &[Grant]) {
        let mut yaml = String::from("environments:\n");
        for (name, key) in [("Production", PROD_KEY), ("Development", DEV_KEY)] {
            writeln!(
                yaml,
                "  - name: {name}\n    api_keys: [{key}]\n    identities:"
            )
            .unwrap();
            for n in 0..self.people {
                writeln!(yaml, "      - {{email: {}, external_id: E{n}}}", person(n)).unwrap();
            }
            yaml.push_str("    nodes:\n      - key: acme\n        children:\n");
            for t in 0..self.teams {
                writeln!(
                    yaml,
                    "          - key: team-{t}\n            children: [{{key: svc}}]"
                )
                .unwrap();
            }
            yaml.push_str("      - key: other\n");
            yaml.push_str(
                "    roles:\n      - {key: admin}\n      - {key: member}\n      - {key: viewer}\n",
            );
            if name == "Production" && !live.is_empty() {
                yaml.push_str("    assignments:\n");
                for grant in live {
                    write!(
                        yaml,
                        "      - {{identity: {}, node: {}, role: {}",
                        grant.identity, grant.node, grant.role
                    )
                    .unwrap();
                    if let Some(to) = &grant.effective_to {
                        write!(yaml, ", effective_to: \"{to}\"").unwrap();
                    }
                    yaml.push_str("}\n");
                }
            }
        }
        std::fs::write(self.directory(), yaml).unwrap();
    }

    /// Writes `grants` as `access/<name>.yaml`.
    pub fn write_grants(&self, name: &str, grants: &[Grant]) -> PathBuf {
        let dir = self.path().join("access");
        std::fs::create_dir_all(&dir).unwrap();
        let mut yaml = String::from("environment: Production\n");
        yaml.push_str(if grants.is_empty() {
            "grants: []\n"
        } else {
            "grants:\n"
        });
        for grant in grants {
            writeln!(
                yaml,
                "  - identity: {}\n    node: {}\n    role: {}",
                grant.identity, grant.node, grant.role
            )
            .unwrap();
            if let Some(to) = &grant.effective_to {
                writeln!(yaml, "    effective_to: \"{to}\"").unwrap();
            }
        }
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, yaml).unwrap();
        path
    }

    /// Writes `grantsync.yaml` for the service at `url` with the key in
    /// [`KEY_ENV`]; `extra` is appended to the environment's block (indented
    /// by four spaces), e.g. prune and limits.
    pub fn write_config(&self, url: &str, extra: &str) -> PathBuf {
        let mut yaml = format!(
            "environments:\n  - name: Production\n    api: {{url: \"{url}\", key_env: {KEY_ENV}}}\n    sources:\n      - grants: access/*.yaml\n"
        );
        for line in extra.lines() {
            writeln!(yaml, "    {line}").unwrap();
        }
        let path = self.path().join("grantsync.yaml");
        std::fs::write(&path, yaml).unwrap();
        path
    }
}

/// Every `member` grant of people `0..people` at each of the first `teams` teams.
pub fn members(people: usize, teams: usize) -> Vec<Grant> {
    let mut grants = Vec::with_capacity(people * teams);
    for t in 0..teams {
        for n in 0..people {
            grants.push(Grant::new(&person(n), &format!("acme/team-{t}"), "member"));
        }
    }
    grants
}
