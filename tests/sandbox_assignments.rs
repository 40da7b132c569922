//! The assignment routes over real HTTP: create, bulk-create, list, get,
//! patch and delete, with their errors and the state computed at read time.

mod sandbox_fixture;

use grantsync::sandbox::Faults;
use reqwest::{Method, StatusCode};
use sandbox_fixture::{NOW, Production, Running, error_code, fixture, options, timestamp};
use serde_json::{Value, json};

#[tokio::test]
async fn create_returns_the_assignment_with_its_state() {
    let running = Running::two_environments().await;
    let api = running.api("sk_prod");
    let p = Production::new();

    let mut item = p.item("bob@example.com", "acme/finance", "viewer");
    item["effective_from"] = json!("2026-07-01T00:00:00Z");
    let response = api
        .request(Method::POST, "/api/v1/assignments")
        .json(&item)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        location,
        format!("/api/v1/assignments/{}", body["id"].as_str().unwrap())
    );
    assert_eq!(body["identity_id"], json!(p.identity("bob@example.com")));
    assert_eq!(body["state"], "scheduled");
    assert_eq!(body["effective_to"], Value::Null);
    assert_eq!(body["created_at"], NOW);

    let (status, fetched) = api.get(&location).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, body);
}

#[tokio::test]
async fn repeated_create_answers_already_assigned() {
    let running = Running::two_environments().await;
    let api = running.api("sk_prod");
    let p = Production::new();
    // Seeded, and expired: uniqueness holds whatever the state.
    let item = p.item("alice@example.com", "acme/engineering", "developer");
    let (status, body) = api.post("/api/v1/assignments", item).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&body), "already_assigned");
}

#[tokio::test]
async fn create_with_unknown_references_or_bad_window_answers_422() {
    let running = Running::two_environments().await;
    let api = running.api("sk_prod");
    let p = Production::new();
    let unknown = json!(uuid::Uuid::new_v4());
    let base = p.item("bob@example.com", "acme", "viewer");
    let mut cases = Vec::new();
    for (field, code) in [
        ("identity_id", "unknown_identity"),
        ("node_id", "unknown_node"),
        ("role_id", "unknown_role"),
    ] {
        let mut item = base.clone();
        item[field] = unknown.clone();
        cases.push((item, code));
    }
    let mut inverted = base.clone();
    inverted["effective_from"] = json!("2026-08-01T00:00:00Z");
    inverted["effective_to"] = json!("2026-07-01T00:00:00Z");
    cases.push((inverted, "invalid_window"));

    for (item, code) in cases {
        let (status, body) = api.post("/api/v1/assignments", item).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(error_code(&body), code);
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn unknown_request_fields_are_ignored() {
    let running = Running::two_environments().await;
    let api = running.api("sk_prod");
    let mut item = Production::new().item("bob@example.com", "acme", "viewer");
    item["reason"] = json!("on-call cover");
    let (status, _) = api.post("/api/v1/assignments", item).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn bulk_create_answers_200_when_every_item_succeeds() {
    let running = Running::two_environments().await;
    let api = running.api("sk_prod");
    let p = Production::new();
    let body = json!({"assignments": [
        p.item("bob@example.com", "acme", "viewer"),
        p.item("carol@example.com", "acme/finance", "viewer"),
    ]});
    let (status, body) = api.post("/api/v1/assignments/bulk-create", body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["summary"],
        json!({"total": 2, "succeeded": 2, "failed": 0})
    );
    for (index, result) in body["results"].as_array().unwrap().iter().enumerate() {
        assert_eq!(result["index"], index);
        assert_eq!(result["status"], "created");
        assert_eq!(result["assignment"]["state"], "active");
        assert!(result.get("error").is_none());
    }
}

#[tokio::test]
async fn bulk_create_answers_207_with_a_result_per_item() {
    let running = Running::two_environments().await;
    let api = running.api("sk_prod");
    let p = Production::new();
    let mut inverted = p.item("carol@example.com", "acme", "viewer");
    inverted["effective_from"] = json!("2026-08-01T00:00:00Z");
    inverted["effective_to"] = json!("2026-07-01T00:00:00Z");
    let mut unknown_node = p.item("bob@example.com", "acme", "viewer");
    unknown_node["node_id"] = json!(uuid::Uuid::new_v4());
    let body = json!({"assignments": [
        p.item("bob@example.com", "acme/engineering/web", "developer"),
        p.item("alice@example.com", "acme", "viewer"),
        unknown_node,
        {"identity_id": "not-a-uuid"},
        inverted,
        p.item("bob@example.com", "acme/engineering/web", "developer"),
    ]});
    let (status, body) = api.post("/api/v1/assignments/bulk-create", body).await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert_eq!(
        body["summary"],
        json!({"total": 6, "succeeded": 1, "failed": 5})
    );
    let results = body["results"].as_array().unwrap();
    let codes: Vec<&str> = results
        .iter()
        .map(|r| r["error"]["code"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        codes,
        [
            "-",
            "already_assigned",
            "unknown_node",
            "invalid_item",
            "invalid_window",
            "already_assigned"
        ]
    );
    assert_eq!(results[0]["status"], "created");
    assert_eq!(results[1]["status"], "failed");
    assert!(results[1].get("assignment").is_none());

    // The item that succeeded is there; the others are not.
    let listed = api
        .list_all(
            &format!(
                "/api/v1/assignments?identity_id={}",
                p.identity("bob@example.com")
            ),
            10,
        )
        .await;
    assert_eq!(listed.len(), 2);
}

#[tokio::test]
async fn bulk_create_refuses_empty_malformed_and_oversized_calls() {
    let data = tempfile::tempdir().unwrap();
    let mut options = options(fixture("sandbox/two-environments.yaml"), data.path());
    options.faults = Faults {
        bulk_limit: Some(2),
        ..Faults::default()
    };
    let running = Running::start_in(options, data).await;
    let api = running.api("sk_prod");
    let p = Production::new();

    let (status, body) = api
        .post(
            "/api/v1/assignments/bulk-create",
            json!({"assignments": []}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "invalid_request");

    let (status, _) = api
        .post(
            "/api/v1/assignments/bulk-create",
            json!([p.item("bob@example.com", "acme", "viewer")]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let three = json!({"assignments": [
        p.item("bob@example.com", "acme", "viewer"),
        p.item("bob@example.com", "acme/finance", "viewer"),
        p.item("carol@example.com", "acme", "viewer"),
    ]});
    let (status, body) = api.post("/api/v1/assignments/bulk-create", three).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&body), "too_many_items");
    // Nothing of a refused call is written.
    let listed = api
        .list_all(
            &format!(
                "/api/v1/assignments?identity_id={}",
                p.identity("bob@example.com")
            ),
            10,
        )
        .await;
    assert_eq!(listed.len(), 1, "only Bob's seeded assignment");
}

#[tokio::test]
async fn patch_leaves_absent_fields_and_clears_null_ones() {
    let running = Running::two_environments().await;
    let api = running.api("sk_prod");
    let p = Production::new();
    let listed = api
        .list_all(
            &format!(
                "/api/v1/assignments?identity_id={}&node_id={}",
                p.identity("alice@example.com"),
                p.node("acme/engineering")
            ),
            10,
        )
        .await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["state"], "expired");
    let path = format!("/api/v1/assignments/{}", listed[0]["id"].as_str().unwrap());

    // Renewing an expired assignment is a PATCH of its end.
    let (status, renewed) = api
        .patch(&path, json!({"effective_to": "2026-12-31T23:59:59Z"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(renewed["state"], "active");
    assert_eq!(renewed["id"], listed[0]["id"]);

    let (status, started) = api
        .patch(
            &path,
            json!({"effective_from": "2026-05-01T00:00:00.123456789Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(started["effective_from"], "2026-05-01T00:00:00.123456789Z");
    assert_eq!(
        started["effective_to"], "2026-12-31T23:59:59Z",
        "absent stays"
    );

    let (_, unchanged) = api.patch(&path, json!({})).await;
    assert_eq!(unchanged, started);

    let (status, cleared) = api.patch(&path, json!({"effective_to": null})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cleared["effective_to"], Value::Null, "null clears");
    assert_eq!(cleared["effective_from"], started["effective_from"]);
    assert_eq!(api.get(&path).await.1, cleared);

    let (status, body) = api
        .patch(&path, json!({"effective_to": "2026-01-01T00:00:00Z"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&body), "invalid_window");

    let missing = format!("/api/v1/assignments/{}", uuid::Uuid::new_v4());
    assert_eq!(
        api.patch(&missing, json!({})).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn delete_answers_204_then_404() {
    let running = Running::two_environments().await;
    let api = running.api("sk_prod");
    let p = Production::new();
    let (_, created) = api
        .post(
            "/api/v1/assignments",
            p.item("bob@example.com", "acme", "viewer"),
        )
        .await;
    let path = format!("/api/v1/assignments/{}", created["id"].as_str().unwrap());
    let (status, body) = api.delete(&path).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);
    let (status, body) = api.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not_found");
    assert_eq!(api.delete(&path).await.0, StatusCode::NOT_FOUND);

    // Deleted, the same grant can be created again.
    let (status, _) = api
        .post(
            "/api/v1/assignments",
            p.item("bob@example.com", "acme", "viewer"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn state_is_computed_from_the_fixed_clock() {
    let running = Running::two_environments().await;
    let api = running.api("sk_prod");
    let all = api.list_all("/api/v1/assignments", 100).await;
    let mut states: Vec<&str> = all.iter().map(|a| a["state"].as_str().unwrap()).collect();
    states.sort();
    assert_eq!(states, ["active", "expired", "scheduled"]);
    for state in ["active", "expired", "scheduled"] {
        let listed = api
            .list_all(&format!("/api/v1/assignments?state={state}"), 100)
            .await;
        assert_eq!(listed.len(), 1, "{state}");
        assert_eq!(listed[0]["state"], state);
    }
}

#[tokio::test]
async fn state_boundaries_are_inclusive_to_the_nanosecond() {
    let running = Running::two_environments().await;
    let api = running.api("sk_prod");
    let p = Production::new();
    let now = timestamp(NOW);
    let ns = jiff::SignedDuration::from_nanos(1);
    let window = |from: Option<jiff::Timestamp>, to: Option<jiff::Timestamp>, node: &str| {
        let mut item = p.item("carol@example.com", node, "viewer");
        item["effective_from"] = json!(from);
        item["effective_to"] = json!(to);
        item
    };
    let items = json!({"assignments": [
        window(Some(now), None, "acme"),
        window(None, Some(now), "acme/engineering"),
        window(Some(now + ns), None, "acme/engineering/api"),
        window(None, Some(now - ns), "acme/engineering/web"),
    ]});
    let (status, body) = api.post("/api/v1/assignments/bulk-create", items).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let states: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["assignment"]["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["active", "active", "scheduled", "expired"]);

    // The listing filter agrees with the computed state.
    let carol = p.identity("carol@example.com");
    for state in ["active", "scheduled", "expired"] {
        let listed = api
            .list_all(
                &format!("/api/v1/assignments?identity_id={carol}&state={state}"),
                10,
            )
            .await;
        let expected = states.iter().filter(|s| **s == state).count();
        assert_eq!(listed.len(), expected, "{state}");
    }
}

#[tokio::test]
async fn assignments_filter_by_identity_node_and_role() {
    let running = Running::two_environments().await;
    let api = running.api("sk_prod");
    let p = Production::new();
    let alice = p.identity("alice@example.com");
    let cases = [
        (format!("identity_id={alice}"), 2),
        (format!("node_id={}", p.node("acme")), 1),
        (format!("role_id={}", p.role("developer")), 2),
        (
            format!("identity_id={alice}&role_id={}", p.role("developer")),
            1,
        ),
        (format!("node_id={}", p.node("acme/finance")), 0),
    ];
    for (query, count) in cases {
        let listed = api
            .list_all(&format!("/api/v1/assignments?{query}"), 10)
            .await;
        assert_eq!(listed.len(), count, "{query}");
    }
}
