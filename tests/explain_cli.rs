//! `grantsync explain IDENTITY`: each grant of one identity, where it is
//! declared (a grants file's line, or an HR row and its mapping rule),
//! what is live, and what the plan does with it.

mod common;

use std::path::Path;

use serde_json::Value;

fn explain(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = common::grantsync()
        .current_dir(dir)
        .env("GRANTSYNC_PRODUCTION_KEY", "sk_prod_northwind")
        .args(["explain", "--config", "grantsync.yaml"])
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn explain_json(dir: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let (code, stdout, stderr) = explain(dir, &all);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn an_expired_live_grant_that_is_declared_again_is_renewed() {
    let dir = common::quickstart();
    let (code, stdout, stderr) = explain(dir.path(), &["oscar@acme.example"]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "oscar@acme.example in environment Production (Oscar Ruiz, active, external:E1012)"
    );
    assert_eq!(lines[2], "  acme/support viewer");
    assert_eq!(
        lines[3],
        "    declared  access/finance.yaml:17, no end, reason: back from leave"
    );
    assert!(
        lines[4].starts_with("    live      expired, until 2026-01-31T23:59:59Z, assignment "),
        "{stdout}"
    );
    assert_eq!(lines[5], "    plan      renew");
}

#[test]
fn every_grant_of_an_identity_is_listed_with_its_plan() {
    let dir = common::quickstart();
    // Carol is declared twice (grouped and single), by her email each time.
    let explanation = explain_json(dir.path(), &["carol@acme.example"]);
    let env = &explanation["environments"][0];
    assert_eq!(env["known"]["email"], "carol@acme.example");
    let grants: Vec<(String, String, String)> = env["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["node"].as_str().unwrap().to_owned(),
                g["role"].as_str().unwrap().to_owned(),
                g["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        grants,
        [
            (
                "acme/engineering".into(),
                "developer".into(),
                "create".into()
            ),
            (
                "acme/engineering/api".into(),
                "deployer".into(),
                "create".into()
            ),
        ]
    );
    assert_eq!(
        env["grants"][0]["declared"][0]["source"],
        "access/engineering.yaml:13"
    );
    assert!(env["grants"][0].get("live").is_none());

    // Dan is declared by his HR id; explain finds him by email all the same.
    let explanation = explain_json(dir.path(), &["dan@acme.example"]);
    let env = &explanation["environments"][0];
    assert_eq!(
        env["grants"][0]["declared"][0]["source"],
        "access/engineering.yaml:14"
    );
}

#[test]
fn a_live_grant_declared_nowhere_is_unmanaged_or_revoked_with_pruning() {
    let dir = common::quickstart();
    let (code, stdout, _) = explain(dir.path(), &["mallory@acme.example"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("  acme/finance/payroll approver\n    declared  nowhere\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("    plan      unmanaged: live but declared nowhere"),
        "{stdout}"
    );

    let (code, stdout, _) = explain(dir.path(), &["external:E1011", "--prune"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("    plan      revoke: live but declared nowhere, inside the prune scope"),
        "{stdout}"
    );
}

#[test]
fn an_unknown_identity_is_an_error_with_the_nearest_name() {
    let dir = common::quickstart();
    let (code, _, stderr) = explain(dir.path(), &["alise@acme.example"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(
            "unknown identity \"alise@acme.example\"; did you mean \"alice@acme.example\"?"
        ),
        "{stderr}"
    );
}

#[test]
fn an_hr_grant_names_its_row_and_mapping_rule() {
    let dir = common::fixture("hr/bamboohr");
    let explanation = explain_json(
        dir.path(),
        &["elias.bauer@example.com", "--now", "2026-12-01T12:00:00Z"],
    );
    let grants = explanation["environments"][0]["grants"].as_array().unwrap();
    let declared: Vec<(String, String, String)> = grants
        .iter()
        .map(|g| {
            let d = &g["declared"][0];
            (
                g["role"].as_str().unwrap().to_owned(),
                d["source"].as_str().unwrap().to_owned(),
                d["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        declared,
        [
            ("manager".into(), "employees.csv:13".into(), "rule 2".into()),
            ("member".into(), "employees.csv:13".into(), "rule 1".into()),
        ]
    );
    let (_, text, _) = explain(
        dir.path(),
        &["elias.bauer@example.com", "--now", "2026-12-01T12:00:00Z"],
    );
    assert!(
        text.contains("declared  employees.csv:13 (rule 2 of the mapping)"),
        "{text}"
    );
}
