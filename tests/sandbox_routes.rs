//! Every route of the sandbox over real HTTP: happy paths, errors, and keys
//! scoped to their environment.

mod sandbox_fixture;

use grantsync::sandbox::{Error, Faults, Sandbox};
use reqwest::{Method, StatusCode};
use sandbox_fixture::{NOW, Production, Running, error_code, fixture, options, timestamp};
use serde_json::{Value, json};

#[tokio::test]
async fn environment_is_the_one_the_key_belongs_to() {
    let running = Running::two_environments().await;
    for (key, name) in [
        ("sk_prod", "Production"),
        ("sk_prod_second", "Production"),
        ("sk_dev", "Development"),
    ] {
        let (status, body) = running.api(key).get("/api/v1/environment").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["name"], name);
        assert_eq!(
            body["id"],
            json!(grantsync::ids::environment(name).to_string())
        );
    }
}

#[tokio::test]
async fn missing_or_unknown_key_is_unauthorized() {
    let running = Running::two_environments().await;
    let paths = [
        "/api/v1/environment",
        "/api/v1/assignments",
        "/api/v1/identities",
        "/api/v1/nodes",
        "/api/v1/roles",
    ];
    for path in paths {
        for api in [running.anonymous(), running.api("sk_wrong")] {
            let (status, body) = api.get(path).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(error_code(&body), "unauthorized");
        }
    }
    let (status, _) = running
        .anonymous()
        .post(
            "/api/v1/assignments/bulk-create",
            json!({"assignments": []}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn key_of_one_environment_cannot_reach_another() {
    let running = Running::two_environments().await;
    let prod = running.api("sk_prod");
    let dev = running.api("sk_dev");
    let p = Production::new();

    let (status, created) = prod
        .post(
            "/api/v1/assignments",
            p.item("bob@example.com", "acme/finance", "viewer"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let path = format!("/api/v1/assignments/{}", created["id"].as_str().unwrap());

    assert_eq!(dev.get(&path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        dev.patch(&path, json!({"effective_to": null})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(dev.delete(&path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(prod.get(&path).await.0, StatusCode::OK);

    // Development lists only its own seeded assignment.
    let listed = dev.list_all("/api/v1/assignments", 100).await;
    assert_eq!(listed.len(), 1);

    // Production's ids name nothing in Development.
    let (status, body) = dev
        .post(
            "/api/v1/assignments",
            p.item("alice@example.com", "acme", "developer"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&body), "unknown_identity");
}

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
async fn malformed_requests_answer_400_with_the_error_body() {
    let running = Running::two_environments().await;
    let api = running.api("sk_prod");
    let p = Production::new();

    let broken = api
        .request(Method::POST, "/api/v1/assignments")
        .header("content-type", "application/json")
        .body("{\"identity_id\": ");
    let (status, body) = api.send(broken).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "invalid_request");

    let mut missing = p.item("bob@example.com", "acme", "viewer");
    missing.as_object_mut().unwrap().remove("role_id");
    let (status, body) = api.post("/api/v1/assignments", missing).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("role_id")
    );

    let not_json = api
        .request(Method::POST, "/api/v1/assignments")
        .body("hello");
    let (status, body) = api.send(not_json).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error_code(&body), "invalid_request");

    let (status, body) = api.get("/api/v1/assignments/not-a-uuid").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "invalid_request");

    for query in [
        "limit=0",
        "limit=ten",
        "state=gone",
        "cursor=zzz",
        "node_id=x",
    ] {
        let (status, body) = api.get(&format!("/api/v1/assignments?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(error_code(&body), "invalid_request");
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
async fn unknown_route_and_method_answer_with_the_error_body() {
    let running = Running::two_environments().await;
    let api = running.api("sk_prod");
    let (status, body) = api.get("/api/v1/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not_found");

    let (status, body) = api
        .send(api.request(Method::PUT, "/api/v1/assignments"))
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(&body), "method_not_allowed");
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

#[tokio::test]
async fn identities_are_paginated_and_filtered() {
    let running = Running::two_environments().await;
    let api = running.api("sk_prod");

    let (status, page) = api.get("/api/v1/identities?limit=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = api
        .get(&format!("/api/v1/identities?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(rest["data"][0]["email"], "carol@example.com");
    assert_eq!(rest["data"][0]["external_id"], "0042");
    assert_eq!(rest["data"][0]["status"], "inactive");
    assert_eq!(rest["next_cursor"], Value::Null);

    let (_, found) = api.get("/api/v1/identities?email=ALICE@example.com").await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
    assert_eq!(found["data"][0]["display_name"], "Alice Ng");
    assert_eq!(found["data"][0]["status"], "active");
    let (_, found) = api.get("/api/v1/identities?external_id=0042").await;
    assert_eq!(found["data"][0]["email"], "carol@example.com");
    let (_, found) = api.get("/api/v1/identities?external_id=42").await;
    assert_eq!(found["data"], json!([]));

    // A cursor of one listing is refused by another.
    let (status, _) = api.get(&format!("/api/v1/nodes?cursor={cursor}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn nodes_and_roles_are_listed() {
    let running = Running::two_environments().await;
    let api = running.api("sk_prod");
    let p = Production::new();

    let nodes = api.list_all("/api/v1/nodes", 2).await;
    assert_eq!(nodes.len(), 5);
    assert_eq!(nodes[0]["key"], "acme");
    assert_eq!(nodes[0]["name"], "Acme Corp");
    assert_eq!(nodes[0]["parent_id"], Value::Null);
    let api_node = nodes
        .iter()
        .find(|n| n["id"] == json!(p.node("acme/engineering/api")))
        .unwrap();
    assert_eq!(api_node["parent_id"], json!(p.node("acme/engineering")));

    let roles = api.list_all("/api/v1/roles", 100).await;
    assert_eq!(roles.len(), 2);
    assert_eq!(roles[0]["key"], "developer");
    assert_eq!(roles[0]["permissions"], json!(["code.read", "code.write"]));
}

#[tokio::test]
async fn access_includes_roles_inherited_from_ancestors() {
    let running = Running::two_environments().await;
    let api = running.api("sk_prod");
    let p = Production::new();
    let alice = p.identity("alice@example.com");
    let access = |identity: uuid::Uuid, node: &str| {
        format!(
            "/api/v1/identities/{identity}/access?node_id={}",
            p.node(node)
        )
    };

    // Viewer from acme; developer at acme/engineering is expired.
    let (status, body) = api.get(&access(alice, "acme/engineering/api")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["identity_id"], json!(alice));
    assert_eq!(body["node_id"], json!(p.node("acme/engineering/api")));
    let roles = body["roles"].as_array().unwrap();
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0]["role_key"], "viewer");
    assert_eq!(roles[0]["node_id"], json!(p.node("acme")));
    assert_eq!(roles[0]["inherited"], true);
    assert_eq!(roles[0]["permissions"], json!(["code.read"]));

    // A direct assignment comes first and is not inherited.
    let (_, created) = api
        .post(
            "/api/v1/assignments",
            p.item("alice@example.com", "acme/engineering/api", "developer"),
        )
        .await;
    let (_, body) = api.get(&access(alice, "acme/engineering/api")).await;
    let roles = body["roles"].as_array().unwrap();
    assert_eq!(roles.len(), 2);
    assert_eq!(roles[0]["assignment_id"], created["id"]);
    assert_eq!(roles[0]["inherited"], false);

    // Nothing flows down from a sibling or up from a child.
    let (_, body) = api.get(&access(alice, "acme/finance")).await;
    assert_eq!(body["roles"].as_array().unwrap().len(), 1);

    // Bob's only assignment is scheduled, so not in effect yet.
    let (_, body) = api
        .get(&access(
            p.identity("bob@example.com"),
            "acme/engineering/api",
        ))
        .await;
    assert_eq!(body["roles"], json!([]));

    let (status, _) = api.get(&format!("/api/v1/identities/{alice}/access")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api
        .get(&format!(
            "/api/v1/identities/{alice}/access?node_id={}",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api
        .get(&format!(
            "/api/v1/identities/{}/access?node_id={}",
            uuid::Uuid::new_v4(),
            p.node("acme")
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn stats_count_routes_statuses_and_writes() {
    let running = Running::two_environments().await;
    let api = running.api("sk_prod");
    let p = Production::new();
    api.get("/api/v1/environment").await;
    api.get("/api/v1/assignments").await;
    api.post(
        "/api/v1/assignments",
        p.item("bob@example.com", "acme", "viewer"),
    )
    .await;
    api.post(
        "/api/v1/assignments",
        p.item("bob@example.com", "acme", "viewer"),
    )
    .await;
    running.anonymous().get("/api/v1/roles").await;
    api.get("/api/v1/assignments/00000000-0000-0000-0000-000000000000")
        .await;

    let stats = running.sandbox.stats();
    assert_eq!(stats.requests, 6);
    assert_eq!(stats.writes, 2);
    assert_eq!(stats.by_route["POST /api/v1/assignments"], 2);
    assert_eq!(stats.by_route["GET /api/v1/assignments/{id}"], 1);
    assert_eq!(stats.by_status[&201], 1);
    assert_eq!(stats.by_status[&409], 1);
    assert_eq!(stats.by_status[&401], 1);

    // The same numbers over HTTP, without a key, and reading them is not counted.
    let (status, body) = running.anonymous().get("/_sandbox/stats").await;
    assert_eq!(status, StatusCode::OK);
    let over_http: grantsync::sandbox::Stats = serde_json::from_value(body).unwrap();
    assert_eq!(over_http, stats);
    assert_eq!(running.sandbox.stats(), stats);
}

#[tokio::test]
async fn non_loopback_listen_is_refused_without_allow_remote() {
    let data = tempfile::tempdir().unwrap();
    let options = options(fixture("sandbox/two-environments.yaml"), data.path());
    let listen = "0.0.0.0:0".parse().unwrap();
    match Sandbox::start(options, listen).await {
        Err(Error::RemoteListen { addr }) => assert_eq!(addr, listen),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("listened on a non-loopback address"),
    }
}

#[tokio::test]
async fn invalid_directory_names_file_line_and_column() {
    let data = tempfile::tempdir().unwrap();
    let directory = data.path().join("directory.yaml");
    std::fs::write(
        &directory,
        "environments:\n  - name: P\n    roles:\n      - {key: a}\n      - {key: a}\n",
    )
    .unwrap();
    let options = options(directory.clone(), &data.path().join("store"));
    match Sandbox::start(options, "127.0.0.1:0".parse().unwrap()).await {
        Err(error @ Error::DirectoryInvalid { .. }) => {
            let text = error.to_string();
            assert!(
                text.starts_with(&format!(
                    "{}:5:15: duplicate role key a",
                    directory.display()
                )),
                "{text}"
            );
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("an invalid directory was accepted"),
    }
}
