//! Scenarios for the output tests, each in a fresh temporary directory with
//! the embedded sandbox: the quickstart as shipped, a plan with every
//! category, and one whose names are hostile to Markdown and XML. The binary
//! runs inside the directory with `--now` fixed, so outputs replay exactly.

#![allow(dead_code)]

use std::path::Path;
use std::process::Output;

use tempfile::TempDir;

#[path = "../common/mod.rs"]
mod common;

pub use common::grantsync;
// Not every output test starts from the quickstart.
#[allow(unused_imports)]
pub use common::quickstart;

/// The instant every scenario is planned at.
pub const NOW: &str = "2026-12-01T12:00:00Z";

pub fn write(dir: &Path, relative: &str, text: &str) {
    let path = dir.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A service and files that put at least one item in every category:
/// unchanged (ana), update (ben: window moved), renew (cy: expired), create
/// (fay, from a grants file and from the HR export), skip (gus: window ended),
/// revoke (dee: live only, inside the prune scope), unmanaged (eve: outside
/// it), unresolved (an unknown identity, a misspelt role), a row error (a bad
/// date), and a refusal (one revocation over `max_revocations: 0`).
pub fn every_category() -> TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = dir.path();
    write(
        root,
        "directory.yaml",
        r#"environments:
  - name: Production
    api_keys: [sk_prod_review]
    identities:
      - {email: ana@corp.example, external_id: H100}
      - {email: ben@corp.example, external_id: H101}
      - {email: cy@corp.example, external_id: H102}
      - {email: dee@corp.example, external_id: H103}
      - {email: eve@corp.example, external_id: H104}
      - {email: fay@corp.example, external_id: H105}
      - {email: gus@corp.example, external_id: H106}
    nodes:
      - key: corp
        children:
          - key: eng
            children: [{key: api}]
          - key: ops
      - key: partners
    roles:
      - {key: admin}
      - {key: developer}
      - {key: viewer}
      - {key: member}
    assignments:
      - {identity: ana@corp.example, node: corp, role: admin}
      - {identity: ben@corp.example, node: corp/eng, role: developer, effective_to: "2027-01-31T23:59:59Z"}
      - {identity: cy@corp.example, node: corp/eng/api, role: developer, effective_to: "2026-06-30T23:59:59Z"}
      - {identity: dee@corp.example, node: corp/ops, role: viewer}
      - {identity: eve@corp.example, node: partners, role: viewer}
"#,
    );
    write(
        root,
        "access/eng.yaml",
        r#"environment: Production
grants:
  - identity: ana@corp.example
    node: corp
    role: admin
  - identity: ben@corp.example
    node: corp/eng
    role: developer
    effective_to: 2027-06-30T23:59:59Z
    reason: contract extended
  - identity: cy@corp.example
    node: corp/eng/api
    role: developer
    reason: back on the API team
  - identity: fay@corp.example
    node: corp/eng
    role: developer
  - identity: gus@corp.example
    node: corp/ops
    role: viewer
    effective_to: 2026-11-30T23:59:59Z
  - identity: nobody@corp.example
    node: corp/eng
    role: developer
  - identity: ana@corp.example
    node: corp/eng
    role: developr
"#,
    );
    write(
        root,
        "hr/mapping.yaml",
        r#"csv: {delimiter: ",", date_format: "%Y-%m-%d", timezone: UTC}
columns:
  employee_id: Id
  email: Email
  department: Dept
  status: Status
  hire_date: Start
  termination_date: End
identity: email
terminated: {status: [Terminated]}
rules:
  - node: "corp/{department|slug}"
    role: member
"#,
    );
    write(
        root,
        "hr/people.csv",
        "Id,Email,Dept,Status,Start,End\n\
         H105,fay@corp.example,Eng,Active,2025-01-06,\n\
         H106,gus@corp.example,Ops,Active,someday,\n",
    );
    write(
        root,
        "grantsync.yaml",
        r#"environments:
  - name: Production
    api: {url: sandbox}
    sandbox: {directory: directory.yaml}
    sources:
      - grants: access/*.yaml
      - hr_export: hr/people.csv
        mapping: hr/mapping.yaml
    prune:
      enabled: true
      scope: {nodes: [corp]}
    limits:
      max_revocations: 0
"#,
    );
    dir
}

/// Names and reasons written to break Markdown tables and XML and to inject
/// HTML. None resolves, so each is an unresolved item whose detail repeats it.
pub const HOSTILE_IDENTITY: &str = "<script>alert(1)</script>|x@evil.example";
pub const HOSTILE_NODE: &str = "corp/<img src=x onerror=alert(1)>|`tick`";
pub const HOSTILE_ROLE: &str = "dev|ops **bold** [link](https://evil.example) ]]> &amp;";
pub const HOSTILE_REASON: &str =
    "| broken | row |\n# heading <details open> `code` \"quoted\" 'single' & more";

pub fn hostile() -> TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = dir.path();
    write(
        root,
        "directory.yaml",
        r#"environments:
  - name: Production
    api_keys: [sk_prod_hostile]
    identities:
      - {email: ana@corp.example}
    nodes:
      - key: corp
    roles:
      - {key: viewer}
"#,
    );
    let quoted = |text: &str| serde_json::to_string(text).unwrap();
    write(
        root,
        "access/hostile.yaml",
        &format!(
            "environment: Production\ngrants:\n  - identity: {}\n    node: {}\n    role: {}\n    reason: {}\n  - identity: ana@corp.example\n    node: corp\n    role: viewer\n    reason: {}\n",
            quoted(HOSTILE_IDENTITY),
            quoted(HOSTILE_NODE),
            quoted(HOSTILE_ROLE),
            quoted(HOSTILE_REASON),
            quoted(HOSTILE_REASON),
        ),
    );
    write(
        root,
        "grantsync.yaml",
        r#"environments:
  - name: Production
    api: {url: sandbox}
    sandbox: {directory: directory.yaml}
    sources:
      - grants: access/*.yaml
"#,
    );
    dir
}

/// Runs `grantsync <command> --config grantsync.yaml --now NOW <args>` inside
/// `dir`, without colour.
pub fn run(dir: &Path, command: &str, args: &[&str]) -> Output {
    grantsync()
        .current_dir(dir)
        .arg(command)
        .args(["--config", "grantsync.yaml", "--now", NOW])
        .args(args)
        .output()
        .expect("grantsync runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

pub fn code(output: &Output) -> i32 {
    output.status.code().expect("exited with a code")
}

/// Snapshot settings that hide what changes between runs: the temporary
/// directory, loopback ports, run ids and wall-clock times.
pub fn settings(dir: &Path) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    let path = dir.display().to_string();
    settings.add_filter(&regex::escape(&path), "[TEMP]");
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    settings.add_filter(r"\d{8}T\d{6}Z-[0-9a-f]{8}", "[RUN_ID]");
    settings.set_prepend_module_to_snapshot(false);
    settings
}
