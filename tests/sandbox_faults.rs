//! Faults on purpose: their observed shares follow the configured rates, a
//! seed replays them, and a dropped answer leaves its write committed.

mod sandbox_fixture;

use std::time::{Duration, Instant, SystemTime};

use grantsync::sandbox::Faults;
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use sandbox_fixture::{Running, error_code, fixture, options};
use serde_json::json;

async fn start_with(faults: Faults) -> Running {
    let data = tempfile::tempdir().unwrap();
    let mut options = options(fixture("k8s-org/directory.yaml"), data.path());
    options.faults = faults;
    Running::start_in(options, data).await
}

const K8S_KEY: &str = "sk_prod_k8s_org";

/// `count` of `total` is within `slack` of `rate`.
fn near(count: usize, total: usize, rate: f64, slack: f64) -> bool {
    ((count as f64 / total as f64) - rate).abs() <= slack
}

#[tokio::test]
async fn refusals_follow_the_configured_rates() {
    let running = start_with(Faults {
        error_rate: 0.1,
        rate_limit_rate: 0.05,
        seed: Some(42),
        ..Faults::default()
    })
    .await;
    let api = running.api(K8S_KEY);
    let (mut unavailable, mut limited, mut ok) = (0, 0, 0);
    let mut retry_after = Vec::new();
    for _ in 0..1000 {
        let response = api
            .request(reqwest::Method::GET, "/api/v1/environment")
            .send()
            .await
            .unwrap();
        match response.status() {
            StatusCode::SERVICE_UNAVAILABLE => {
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(error_code(&body), "unavailable");
                unavailable += 1;
            }
            StatusCode::TOO_MANY_REQUESTS => {
                let value = response.headers()[RETRY_AFTER].to_str().unwrap().to_owned();
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(error_code(&body), "rate_limited");
                retry_after.push(value);
                limited += 1;
            }
            StatusCode::OK => ok += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        near(unavailable, 1000, 0.1, 0.03),
        "{unavailable} unavailable"
    );
    assert!(near(limited, 1000, 0.05, 0.02), "{limited} rate limited");
    assert_eq!(unavailable + limited + ok, 1000);

    // Retry-After alternates between delay-seconds and an HTTP date.
    assert_eq!(retry_after[0], "1");
    let date = httpdate::parse_http_date(&retry_after[1]).unwrap();
    assert!(date > SystemTime::now());
    assert_eq!(retry_after[2], "1");

    let stats = running.sandbox.stats();
    assert_eq!(stats.faults.unavailable, unavailable as u64);
    assert_eq!(stats.faults.rate_limited, limited as u64);
    assert_eq!(stats.by_status[&503], unavailable as u64);
}

#[tokio::test]
async fn the_same_seed_replays_the_same_faults() {
    let faults = Faults {
        error_rate: 0.2,
        rate_limit_rate: 0.2,
        retry_after_secs: Some(0),
        seed: Some(7),
        ..Faults::default()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let running = start_with(faults.clone()).await;
        let api = running.api(K8S_KEY);
        let mut statuses = Vec::new();
        for _ in 0..100 {
            statuses.push(api.get("/api/v1/roles").await.0);
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].contains(&StatusCode::SERVICE_UNAVAILABLE));
}

#[tokio::test]
async fn a_dropped_answer_leaves_the_write_committed() {
    let running = start_with(Faults {
        drop_rate: 0.3,
        seed: Some(3),
        ..Faults::default()
    })
    .await;
    let api = running.api(K8S_KEY);
    let env = grantsync::ids::environment("Production");
    // No one holds a team role at an organisation root.
    let role = grantsync::ids::role(env, "team-maintainer");
    let node = grantsync::ids::node(env, "etcd-io");

    let identities = api.list_all("/api/v1/identities", 1000).await;
    let (mut dropped, mut reads_ok) = (0, 0);
    for identity in identities.iter().take(1000) {
        let item = json!({"identity_id": identity["id"], "node_id": node, "role_id": role});
        let sent = api
            .request(reqwest::Method::POST, "/api/v1/assignments")
            .json(&item)
            .send()
            .await;
        let first = match sent {
            Ok(response) => response.status(),
            Err(error) => {
                assert!(!error.is_status(), "{error}");
                dropped += 1;
                // Retry until an answer arrives: the first write was committed.
                let mut answered = false;
                for _ in 0..50 {
                    let retried = api
                        .request(reqwest::Method::POST, "/api/v1/assignments")
                        .json(&item)
                        .send()
                        .await;
                    if let Ok(response) = retried {
                        assert_eq!(response.status(), StatusCode::CONFLICT);
                        let body: serde_json::Value = response.json().await.unwrap();
                        assert_eq!(error_code(&body), "already_assigned");
                        answered = true;
                        break;
                    }
                }
                assert!(answered, "every retry was dropped");
                continue;
            }
        };
        assert_eq!(first, StatusCode::CREATED);
        // Reads are never dropped.
        if api.get("/api/v1/environment").await.0 == StatusCode::OK {
            reads_ok += 1;
        }
    }
    assert!(near(dropped, 1000, 0.3, 0.04), "{dropped} dropped");
    assert_eq!(reads_ok, 1000 - dropped);
    let listed = api
        .list_all(
            &format!("/api/v1/assignments?node_id={node}&role_id={role}"),
            1000,
        )
        .await;
    assert!(
        listed.len() >= 1000,
        "every write landed once: {}",
        listed.len()
    );
    assert!(running.sandbox.stats().faults.dropped >= dropped as u64);
}

#[tokio::test]
async fn a_dropped_delete_is_still_a_transport_error() {
    let running = start_with(Faults {
        drop_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let api = running.api(K8S_KEY);
    let (_, page) = api.get("/api/v1/assignments?limit=1").await;
    let id = page["data"][0]["id"].as_str().unwrap().to_owned();
    let sent = api
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/assignments/{id}"),
        )
        .send()
        .await;
    assert!(
        sent.is_err(),
        "a 204 went through: {:?}",
        sent.map(|r| r.status())
    );
    let (status, _) = api.get(&format!("/api/v1/assignments/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the delete was committed");
}

#[tokio::test]
async fn bulk_items_fail_on_their_own_at_the_configured_rate() {
    let running = start_with(Faults {
        item_failure_rate: 0.2,
        seed: Some(11),
        ..Faults::default()
    })
    .await;
    let api = running.api(K8S_KEY);
    let env = grantsync::ids::environment("Production");
    let role = grantsync::ids::role(env, "team-member");
    let node = grantsync::ids::node(env, "kubernetes-nightly");
    let identities = api.list_all("/api/v1/identities", 1000).await;
    let items: Vec<_> = identities[..1000]
        .iter()
        .map(|i| json!({"identity_id": i["id"], "node_id": node, "role_id": role}))
        .collect();

    let mut failed = Vec::new();
    for chunk in items.chunks(500) {
        let (status, body) = api
            .post(
                "/api/v1/assignments/bulk-create",
                json!({"assignments": chunk}),
            )
            .await;
        assert_eq!(status, StatusCode::MULTI_STATUS);
        for result in body["results"].as_array().unwrap() {
            if result["status"] == "failed" {
                assert_eq!(result["error"]["code"], "internal");
                failed.push(chunk[result["index"].as_u64().unwrap() as usize].clone());
            }
        }
    }
    assert!(
        near(failed.len(), 1000, 0.2, 0.04),
        "{} failed",
        failed.len()
    );
    assert_eq!(
        running.sandbox.stats().faults.failed_items,
        failed.len() as u64
    );

    // A failed item was not written: its retry creates it (or fails again).
    let (_, body) = api
        .post(
            "/api/v1/assignments/bulk-create",
            json!({"assignments": failed}),
        )
        .await;
    for result in body["results"].as_array().unwrap() {
        let code = result["error"]["code"].as_str().unwrap_or("created");
        assert!(code == "created" || code == "internal", "{code}");
    }
}

#[tokio::test]
async fn latency_is_added_to_every_request() {
    let running = start_with(Faults {
        latency_ms: 150,
        ..Faults::default()
    })
    .await;
    let api = running.api(K8S_KEY);
    let started = Instant::now();
    let (status, _) = api.get("/api/v1/environment").await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn invalid_faults_are_refused_at_start() {
    let data = tempfile::tempdir().unwrap();
    let mut options = options(fixture("sandbox/two-environments.yaml"), data.path());
    options.faults = Faults {
        error_rate: 0.7,
        rate_limit_rate: 0.6,
        ..Faults::default()
    };
    let error = grantsync::sandbox::Sandbox::start(options, "127.0.0.1:0".parse().unwrap())
        .await
        .err()
        .expect("rates adding up past 1 are refused");
    assert!(
        error.to_string().contains("add up to more than 1"),
        "{error}"
    );
}

#[tokio::test]
async fn a_write_whose_client_gave_up_still_lands_and_is_counted() {
    let running = start_with(Faults {
        latency_ms: 300,
        ..Faults::default()
    })
    .await;
    let api = running.api(K8S_KEY);
    let env = grantsync::ids::environment("Production");
    let role = grantsync::ids::role(env, "team-maintainer");
    let node = grantsync::ids::node(env, "etcd-io");
    let identities = api.list_all("/api/v1/identities", 1000).await;
    let item = json!({"identity_id": identities[0]["id"], "node_id": node, "role_id": role});

    // The client stops waiting well before the answer: as a killed client.
    let sent = api
        .request(reqwest::Method::POST, "/api/v1/assignments")
        .timeout(Duration::from_millis(50))
        .json(&item)
        .send()
        .await;
    assert!(sent.is_err_and(|e| e.is_timeout()));

    // The service finishes the request anyway; each read takes the latency,
    // so twenty of them give it ample time.
    let path = format!("/api/v1/assignments?node_id={node}&role_id={role}");
    let mut landed = false;
    for _ in 0..20 {
        let listed = api.list_all(&path, 1000).await.len();
        if listed == 1 && running.sandbox.stats().writes == 1 {
            landed = true;
            break;
        }
    }
    assert!(
        landed,
        "the write never landed, or was not counted: {:?}",
        running.sandbox.stats()
    );
}
