//! The sandbox as a service over real HTTP: keys scoped to environments,
//! error bodies for every rejection, the read-only catalog routes, effective
//! access, statistics, and what refuses to start.

mod sandbox_fixture;

use grantsync::sandbox::{Error, Sandbox};
use reqwest::{Method, StatusCode};
use sandbox_fixture::{Production, Running, error_code, fixture, options};
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

    for path in ["/api/v1/assignments/not-a-uuid", "/api/v1/assignments/%FF"] {
        let (status, body) = api.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(error_code(&body), "invalid_request");
    }

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

    let stats = running.sandbox.stats();
    assert_eq!(stats.by_route["GET (unmatched)"], 1);
    assert_eq!(stats.by_route["PUT /api/v1/assignments"], 1);
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
