//! `grantsync validate` as a new user meets it: every problem at once, each
//! at `file:line:column` with the line, a caret under the spot and a hint;
//! names checked against the service (the embedded sandbox) unless
//! `--offline`; exit 1 when anything is wrong.

mod common;

use std::path::Path;

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// Runs validate from inside `dir`, so paths show as a user there sees them.
fn validate(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let output = common::grantsync()
        .current_dir(dir)
        .args(["validate", "--config", "grantsync.yaml"])
        .args(extra)
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_quickstart_is_valid() {
    let dir = common::quickstart();
    let (code, stdout, stderr) = validate(dir.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "environment Production: 13 grants from 2 files, names checked against the service: valid\n"
    );
    assert_eq!(stderr, "");
}

#[test]
fn a_misspelt_role_is_one_error_with_the_suggestion() {
    let dir = common::quickstart();
    edit(
        &dir.path().join("access/engineering.yaml"),
        "    role: deployer",
        "    role: deployr",
    );
    let (code, stdout, stderr) = validate(dir.path(), &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        stderr,
        "error: access/engineering.yaml:17:11: unknown role \"deployr\"
   |
17 |     role: deployr
   |           ^^^^^^^
   = help: did you mean \"deployer\"?

error: validation failed: 1 error, 0 warnings
"
    );
    assert!(stdout.ends_with(": 1 error\n"), "{stdout}");

    // Offline, the files alone are fine: the name is not checked.
    let (code, stdout, _) = validate(dir.path(), &["--offline"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("names not checked (--offline): valid"),
        "{stdout}"
    );
}

#[test]
fn every_problem_of_every_file_is_reported_at_once() {
    let dir = common::quickstart();
    std::fs::write(
        dir.path().join("access/broken.yaml"),
        "environment: Production
grants:
  - identity: alise@acme.example
    node: acme/enginering
    rol: developer
  - identity: bob@acme.example
    node: acme/support
    role: viewer
    effective_to: soon
",
    )
    .unwrap();
    edit(
        &dir.path().join("access/finance.yaml"),
        "    role: approver",
        "    role: aprover",
    );
    let (code, _, stderr) = validate(dir.path(), &[]);
    assert_eq!(code, 1);
    let headlines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(
        headlines,
        [
            "error: access/broken.yaml:3:15: unknown identity \"alise@acme.example\"",
            "error: access/broken.yaml:4:11: unknown node \"acme/enginering\"",
            "error: access/broken.yaml:5:5: unknown field `rol`, expected one of identity, identities, node, role, effective_from, effective_to, reason",
            "error: access/broken.yaml:9:19: \"soon\" is not a time; write RFC 3339 like 2026-12-31T23:59:59Z, or a date like 2026-12-31",
            "error: access/finance.yaml:10:11: unknown role \"aprover\"",
            "error: validation failed: 5 errors, 0 warnings",
        ]
    );
    assert!(
        stderr.contains("= help: did you mean \"acme/engineering\"?"),
        "{stderr}"
    );
    assert!(
        stderr.contains("5 |     rol: developer\n  |     ^^^\n"),
        "{stderr}"
    );
}

#[test]
fn a_config_error_points_into_the_config() {
    let dir = common::quickstart();
    edit(
        &dir.path().join("grantsync.yaml"),
        "    sources:",
        "    sourcs:",
    );
    let (code, _, stderr) = validate(dir.path(), &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("error: grantsync.yaml:12:5: unknown field `sourcs`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("12 |     sourcs:\n   |     ^^^^^^\n"),
        "{stderr}"
    );
}

#[test]
fn names_in_the_config_are_checked_too() {
    let dir = common::quickstart();
    edit(
        &dir.path().join("grantsync.yaml"),
        "{role: admin, min_holders: 1}",
        "{role: admins, min_holders: 1}",
    );
    let (code, _, stderr) = validate(dir.path(), &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(
            "grantsync.yaml:20:18: protected role of environment Production: unknown role \"admins\""
        ),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean \"admin\"?"), "{stderr}");
}

#[test]
fn the_same_grant_with_two_windows_is_an_error_naming_both_places() {
    let dir = common::quickstart();
    std::fs::write(
        dir.path().join("access/again.yaml"),
        "grants:\n  - identity: ivan@acme.example\n    node: acme/support\n    role: viewer\n    effective_to: 2027-01-01\n",
    )
    .unwrap();
    let (code, _, stderr) = validate(dir.path(), &["--offline"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("error: access/finance.yaml:13:15: ivan@acme.example acme/support viewer is also declared at access/again.yaml:2 with another window"),
        "{stderr}"
    );
}

#[test]
fn hr_mapping_errors_are_located_and_skipped_rows_are_warnings() {
    let dir = common::fixture("hr/bamboohr");
    let run = |extra: &[&str]| {
        let output = common::grantsync()
            .current_dir(dir.path())
            .env("GRANTSYNC_PRODUCTION_KEY", "sk_prod_northwind")
            .args(["validate", "--config", "grantsync.yaml"])
            .args(extra)
            .output()
            .unwrap();
        (
            output.status.code().unwrap(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };

    // As shipped: rows a run skips, and people the service lacks, warn.
    let (code, stderr) = run(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("warning: employees.csv:"), "{stderr}");
    assert!(
        stderr.contains("warnings; a run works around them"),
        "{stderr}"
    );

    edit(
        &dir.path().join("mapping.yaml"),
        "timezone: America/Chicago",
        "timezone: America/Chicgo",
    );
    let (code, stderr) = run(&["--offline"]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("error: mapping.yaml:8:13: time zone \"America/Chicgo\" is unknown"),
        "{stderr}"
    );
    assert!(stderr.contains("^^^^^^^^^^^^^^"), "{stderr}");
}

#[test]
fn a_literal_role_of_a_mapping_rule_is_checked_at_the_rule() {
    let dir = common::fixture("hr/bamboohr");
    edit(
        &dir.path().join("mapping.yaml"),
        "    role: approver\n",
        "    role: aprover\n",
    );
    let output = common::grantsync()
        .current_dir(dir.path())
        .env("GRANTSYNC_PRODUCTION_KEY", "sk_prod_northwind")
        .args(["validate", "--config", "grantsync.yaml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(
        errors,
        [
            "error: mapping.yaml:28:11: rule 3: unknown role \"aprover\"",
            "error: validation failed: 1 error, 6 warnings",
        ],
        "once for the rule, not once per row"
    );
    assert!(
        stderr.contains("= help: did you mean \"approver\"?"),
        "{stderr}"
    );
}
