//! An acknowledged write survives a kill -9 of the sandbox's process.
//!
//! The sandbox runs in a child process: this test binary itself, started
//! again on the ignored test `child_serves_until_killed`, which serves until
//! it is killed. The parent writes through HTTP, kills the child with
//! SIGKILL as soon as the answers are in, and reopens the store.

mod sandbox_fixture;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use grantsync::sandbox::Sandbox;
use reqwest::StatusCode;
use sandbox_fixture::{Api, LOOPBACK, fixture, options};
use serde_json::json;

const DATA_VAR: &str = "GRANTSYNC_SANDBOX_CHILD_DATA";
const READY: &str = "sandbox-child listening on ";
const KEY: &str = "sk_prod_k8s_org";

/// How long a child may live if its parent never kills it.
const CHILD_LIFETIME: Duration = Duration::from_secs(120);

#[tokio::test]
#[ignore = "the child half of acknowledged_writes_survive_kill_9"]
async fn child_serves_until_killed() {
    let Ok(data) = std::env::var(DATA_VAR) else {
        return;
    };
    let options = options(fixture("k8s-org/directory.yaml"), data.as_ref());
    let sandbox = Sandbox::start(options, LOOPBACK.parse().unwrap())
        .await
        .unwrap();
    println!("{READY}{}", sandbox.url());
    let _ = tokio::time::timeout(CHILD_LIFETIME, std::future::pending::<()>()).await;
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_serves_until_killed",
            "--nocapture",
        ])
        .env(DATA_VAR, data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let url = stdout
        .lines()
        .map(|line| line.unwrap())
        .find_map(|line| line.strip_prefix(READY).map(str::to_owned))
        .expect("the child reports where it listens");

    // Writes of every kind, each acknowledged before the kill.
    let api = Api::new(&url, KEY);
    let env = grantsync::ids::environment("Production");
    let role = grantsync::ids::role(env, "team-maintainer");
    let node = grantsync::ids::node(env, "etcd-io");
    let identities = api.list_all("/api/v1/identities", 1000).await;
    let items: Vec<_> = identities[..500]
        .iter()
        .map(|i| json!({"identity_id": i["id"], "node_id": node, "role_id": role}))
        .collect();
    let (status, _) = api
        .post(
            "/api/v1/assignments/bulk-create",
            json!({"assignments": items}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let single = json!({"identity_id": identities[600]["id"], "node_id": node, "role_id": role});
    let (status, created) = api.post("/api/v1/assignments", single).await;
    assert_eq!(status, StatusCode::CREATED);
    let created = format!("/api/v1/assignments/{}", created["id"].as_str().unwrap());
    let (status, _) = api
        .patch(&created, json!({"effective_to": "2026-12-31T23:59:59Z"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, page) = api.get("/api/v1/assignments?limit=1").await;
    let deleted = format!(
        "/api/v1/assignments/{}",
        page["data"][0]["id"].as_str().unwrap()
    );
    assert_eq!(api.delete(&deleted).await.0, StatusCode::NO_CONTENT);

    child.kill().unwrap();
    child.wait().unwrap();

    let sandbox = Sandbox::start(
        options(fixture("k8s-org/directory.yaml"), data.path()),
        LOOPBACK.parse().unwrap(),
    )
    .await
    .unwrap();
    let api = Api::new(&sandbox.url(), KEY);
    let listed = api
        .list_all(
            &format!("/api/v1/assignments?node_id={node}&role_id={role}"),
            1000,
        )
        .await;
    assert_eq!(listed.len(), 501);
    let (status, patched) = api.get(&created).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(patched["effective_to"], "2026-12-31T23:59:59Z");
    assert_eq!(api.get(&deleted).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        api.list_all("/api/v1/assignments", 1000).await.len(),
        5840 + 501 - 1
    );
    sandbox.shutdown().await;
}
