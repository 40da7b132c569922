//! `grantsync export`: live assignments written as grants files, one per
//! root node, that plan back to no change at all; windows kept; existing
//! files never overwritten without `--force`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{counts, fixture, point_config_at, start_sandbox};
use serde_json::Value;

const KEY_ENV: &str = "GRANTSYNC_EXPORT_TEST_KEY";

/// Runs grantsync off the async runtime, so an in-process sandbox keeps serving.
async fn run(key: &'static str, args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        common::grantsync()
            .env(KEY_ENV, key)
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn text(path: &Path) -> String {
    path.display().to_string()
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e})\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// A copy of `config` whose grants come from `glob` instead.
fn config_reading(config: &Path, from: &str, glob: &str) -> PathBuf {
    let source = std::fs::read_to_string(config).unwrap();
    assert!(source.contains(from), "{source}");
    let path = config.with_file_name("from-export.yaml");
    std::fs::write(&path, source.replace(from, glob)).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k8s_org_exported_after_an_apply_plans_to_no_change() {
    let dir = fixture("k8s-org");
    let sandbox = start_sandbox(
        &dir.path().join("directory.yaml"),
        &dir.path().join("store"),
        None,
    )
    .await;
    let config = point_config_at(&dir.path().join("grantsync.yaml"), &sandbox.url(), KEY_ENV);
    let state = dir.path().join("state");
    let common_args = |list: &[&str]| {
        let mut all = args(list);
        all.extend(args(&[
            "--config",
            &text(&config),
            "--state-dir",
            &text(&state),
        ]));
        all
    };

    let output = run(
        "sk_prod_k8s_org",
        common_args(&["apply", "--prune", "--format", "json"]),
    )
    .await;
    assert_eq!(
        output.status.code(),
        Some(3),
        "the 4 unresolved grants fail"
    );
    assert_eq!(counts(&stdout_json(&output))[0], 537);

    let out = dir.path().join("exported");
    let export = common_args(&["export", "--env", "Production", "--out", &text(&out)]);
    let output = run("sk_prod_k8s_org", export.clone()).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "etcd-io.yaml",
            "grants.schema.json",
            "kubernetes-client.yaml",
            "kubernetes-csi.yaml",
            "kubernetes-incubator.yaml",
            "kubernetes-nightly.yaml",
            "kubernetes-retired.yaml",
            "kubernetes-sigs.yaml",
            "kubernetes.yaml",
        ]
    );
    let etcd = std::fs::read_to_string(out.join("etcd-io.yaml")).unwrap();
    assert!(
        etcd.starts_with("# yaml-language-server: $schema=grants.schema.json\n"),
        "{etcd}"
    );
    assert!(etcd.contains("\nenvironment: Production\ngrants:\n  - node: etcd-io\n    role: org-admin\n    identities:\n      - user-"), "{etcd}");

    // Planning against the export: every live assignment is declared as it is.
    let exported = config_reading(&config, "grants/*.yaml", "exported/*.yaml");
    for prune in [false, true] {
        let mut plan = args(&["plan", "--format", "json", "--config", &text(&exported)]);
        plan.extend(args(&["--state-dir", &text(&state)]));
        if prune {
            plan.push("--prune".into());
        }
        let output = run("sk_prod_k8s_org", plan).await;
        assert_eq!(output.status.code(), Some(0));
        // create, update, renew, unchanged, revoke, unmanaged, unresolved
        assert_eq!(counts(&stdout_json(&output)), [0, 0, 0, 6277, 0, 0, 0]);
    }

    // A second export refuses to overwrite, and with --force writes the same bytes.
    let before = std::fs::read_to_string(out.join("kubernetes.yaml")).unwrap();
    let output = run("sk_prod_k8s_org", export.clone()).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refusing to overwrite"), "{stderr}");
    assert!(stderr.contains("kubernetes.yaml"), "{stderr}");
    let mut forced = export;
    forced.push("--force".into());
    let output = run("sk_prod_k8s_org", forced).await;
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(out.join("kubernetes.yaml")).unwrap(),
        before
    );
    sandbox.shutdown().await;
}

#[test]
fn export_keeps_windows_and_finds_the_schema_above_it() {
    // The quickstart's embedded sandbox, as a new user runs it; its live
    // state holds an expired assignment.
    let dir = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    for name in ["grantsync.yaml", "directory.yaml"] {
        std::fs::copy(source.join(name), dir.path().join(name)).unwrap();
    }
    std::fs::create_dir_all(dir.path().join("schemas")).unwrap();
    std::fs::write(dir.path().join("schemas/grants.schema.json"), "{}").unwrap();
    let config = dir.path().join("grantsync.yaml");

    let output = common::run(&[
        "export",
        "--config",
        &text(&config),
        "--out",
        &text(&dir.path().join("access")),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let acme = std::fs::read_to_string(dir.path().join("access/acme.yaml")).unwrap();
    assert_eq!(
        acme,
        "# yaml-language-server: $schema=../schemas/grants.schema.json
#
# The live assignments of environment Production under acme,
# as `grantsync export` found them.
environment: Production
grants:
  - node: acme
    role: admin
    identities:
      - alice@acme.example
  - node: acme/engineering
    role: developer
    identities:
      - bob@acme.example
  - node: acme/finance/payroll
    role: approver
    identities:
      - mallory@acme.example
  - node: acme/support
    role: viewer
    effective_to: 2026-01-31T23:59:59Z
    identities:
      - oscar@acme.example
"
    );
    assert!(!dir.path().join("access/grants.schema.json").exists());

    // The config already reads access/*.yaml: the plan finds nothing to do.
    let (code, plan) = common::run_json(&["plan", "--config", &text(&config)]);
    assert_eq!(code, 0);
    assert_eq!(counts(&plan), [0, 0, 0, 4, 0, 0, 0]);
}

#[test]
fn export_needs_an_environment_when_the_config_has_several() {
    let dir = tempfile::tempdir().unwrap();
    let directory =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sandbox/two-environments.yaml");
    std::fs::copy(&directory, dir.path().join("directory.yaml")).unwrap();
    let env = |name: &str| {
        format!(
            "  - name: {name}\n    api: {{url: sandbox}}\n    sandbox: {{directory: directory.yaml}}\n    sources: [{{grants: \"access/*.yaml\"}}]\n"
        )
    };
    let config = dir.path().join("grantsync.yaml");
    std::fs::write(
        &config,
        format!("environments:\n{}{}", env("Production"), env("Development")),
    )
    .unwrap();
    let out = text(&dir.path().join("out"));
    let output = common::run(&["export", "--config", &text(&config), "--out", &out]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("say which to export with --env NAME")
    );
    assert!(!dir.path().join("out").exists(), "nothing was written");

    let output = common::run(&[
        "export",
        "--config",
        &text(&config),
        "--out",
        &out,
        "--env",
        "development",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let acme = std::fs::read_to_string(dir.path().join("out/acme.yaml")).unwrap();
    assert!(acme.contains("environment: Development\n"), "{acme}");
}
