//! Seeding, keeping state across restarts, and keyset pagination that holds
//! while writes happen between pages.

mod sandbox_fixture;

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

use grantsync::sandbox::Sandbox;
use reqwest::StatusCode;
use sandbox_fixture::{Api, LOOPBACK, Running, fixture, options};
use serde_json::{Value, json};
use uuid::Uuid;

/// A directory of `identities` people, `nodes` teams under one root and
/// `roles` roles, with no assignments: room for identities × nodes × roles.
fn generated_directory(path: &Path, identities: usize, nodes: usize, roles: usize) {
    let mut yaml = String::from("environments:\n  - name: Production\n    api_keys: [sk_gen]\n");
    yaml.push_str("    identities:\n");
    for i in 0..identities {
        writeln!(yaml, "      - {{email: user-{i}@example.com}}").unwrap();
    }
    yaml.push_str("    nodes:\n      - key: org\n        children:\n");
    for n in 0..nodes {
        writeln!(yaml, "          - key: team-{n}").unwrap();
    }
    yaml.push_str("    roles:\n");
    for r in 0..roles {
        writeln!(yaml, "      - {{key: role-{r}}}").unwrap();
    }
    std::fs::write(path, yaml).unwrap();
}

/// Bulk-create items for every (identity, node, role) in `range` of the
/// generated directory's combinations, in calls of `per_call`.
fn generated_items(range: std::ops::Range<usize>, nodes: usize, roles: usize) -> Vec<Value> {
    let env = grantsync::ids::environment("Production");
    range
        .map(|k| {
            let (identity, rest) = (k / (nodes * roles), k % (nodes * roles));
            let (node, role) = (rest / roles, rest % roles);
            json!({
                "identity_id": grantsync::ids::identity(env, &format!("user-{identity}@example.com")),
                "node_id": grantsync::ids::node(env, &format!("org/team-{node}")),
                "role_id": grantsync::ids::role(env, &format!("role-{role}")),
            })
        })
        .collect()
}

async fn start_generated(identities: usize, nodes: usize, roles: usize) -> Running {
    let data = tempfile::tempdir().unwrap();
    let directory = data.path().join("directory.yaml");
    generated_directory(&directory, identities, nodes, roles);
    let options = options(directory, &data.path().join("store"));
    Running::start_in(options, data).await
}

#[tokio::test]
async fn listing_never_skips_or_doubles_while_writes_happen_between_pages() {
    const NODES: usize = 10;
    const ROLES: usize = 3;
    let running = start_generated(100, NODES, ROLES).await;
    let api = running.api("sk_gen");

    // 2,500 assignments in five bulk calls of 500.
    let items = generated_items(0..2500, NODES, ROLES);
    for chunk in items.chunks(500) {
        let (status, body) = api
            .post(
                "/api/v1/assignments/bulk-create",
                json!({"assignments": chunk}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{}", body["summary"]);
    }
    let existing: HashSet<String> = api
        .list_all("/api/v1/assignments", 1000)
        .await
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(existing.len(), 2500);

    // Page by 1000, and between pages create more, change some and delete
    // some that were already seen.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut deleted = HashSet::new();
    let mut extra = generated_items(2500..3000, NODES, ROLES).into_iter();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &cursor {
            Some(c) => format!("/api/v1/assignments?limit=1000&cursor={c}"),
            None => "/api/v1/assignments?limit=1000".to_owned(),
        };
        let (status, page) = api.get(&url).await;
        assert_eq!(status, StatusCode::OK);
        pages += 1;
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 1000);
        for a in data {
            *seen
                .entry(a["id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }

        let batch: Vec<Value> = extra.by_ref().take(100).collect();
        if !batch.is_empty() {
            let (status, _) = api
                .post(
                    "/api/v1/assignments/bulk-create",
                    json!({"assignments": batch}),
                )
                .await;
            assert_eq!(status, StatusCode::OK);
        }
        let last = data.last().unwrap()["id"].as_str().unwrap().to_owned();
        api.patch(
            &format!("/api/v1/assignments/{last}"),
            json!({"effective_to": "2027-01-01T00:00:00Z"}),
        )
        .await;
        let first = data[0]["id"].as_str().unwrap().to_owned();
        assert_eq!(
            api.delete(&format!("/api/v1/assignments/{first}")).await.0,
            StatusCode::NO_CONTENT
        );
        deleted.insert(first);

        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }

    assert!(pages >= 3, "{pages} pages");
    for id in &existing {
        assert_eq!(
            seen.get(id),
            Some(&1),
            "assignment {id} seen {:?} times",
            seen.get(id)
        );
    }
    assert!(seen.values().all(|&n| n == 1), "an item was doubled");
    assert!(deleted.iter().all(|id| existing.contains(id)));
}

#[tokio::test]
async fn page_size_defaults_to_100_and_is_capped_at_1000() {
    const NODES: usize = 10;
    const ROLES: usize = 3;
    let running = start_generated(40, NODES, ROLES).await;
    let api = running.api("sk_gen");
    let items = generated_items(0..1200, NODES, ROLES);
    for chunk in items.chunks(500) {
        api.post(
            "/api/v1/assignments/bulk-create",
            json!({"assignments": chunk}),
        )
        .await;
    }
    let (_, page) = api.get("/api/v1/assignments").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 100);
    let (_, page) = api.get("/api/v1/assignments?limit=5000").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1000);
    assert!(page["next_cursor"].is_string());
}

#[tokio::test]
async fn k8s_org_directory_seeds_the_same_ids_in_every_store() {
    let first = Running::start(options(fixture("k8s-org/directory.yaml"), Path::new(""))).await;
    let second = Running::start(options(fixture("k8s-org/directory.yaml"), Path::new(""))).await;
    assert_ne!(first.data.path(), second.data.path());

    let mut listings = Vec::new();
    for running in [&first, &second] {
        let api = running.api("sk_prod_k8s_org");
        let assignments = api.list_all("/api/v1/assignments", 1000).await;
        assert_eq!(assignments.len(), 5840);
        assert!(assignments.iter().all(|a| a["state"] == "active"));
        assert_eq!(api.list_all("/api/v1/identities", 1000).await.len(), 1507);
        assert_eq!(api.list_all("/api/v1/nodes", 1000).await.len(), 781);
        let ids: Vec<Uuid> = assignments
            .iter()
            .map(|a| a["id"].as_str().unwrap().parse().unwrap())
            .collect();
        listings.push(ids);
    }
    assert_eq!(listings[0], listings[1]);

    // A seeded id is the one `ids` derives from what it grants.
    let env = grantsync::ids::environment("Production");
    let zeitgeist = grantsync::ids::node(env, "kubernetes-sigs/zeitgeist-maintainers");
    let api = first.api("sk_prod_k8s_org");
    let listed = api
        .list_all(&format!("/api/v1/assignments?node_id={zeitgeist}"), 100)
        .await;
    let user = grantsync::ids::identity(env, "user-0429@example.com");
    let role = grantsync::ids::role(env, "team-member");
    let expected = grantsync::ids::seeded_assignment(env, user, zeitgeist, role);
    assert!(listed.iter().any(|a| a["id"] == json!(expected)));
}

#[tokio::test]
async fn store_keeps_its_state_across_restarts_until_reset() {
    let data = tempfile::tempdir().unwrap();
    let directory = data.path().join("directory.yaml");
    std::fs::copy(fixture("sandbox/two-environments.yaml"), &directory).unwrap();
    let store = data.path().join("store");
    let p = sandbox_fixture::Production::new();
    let start = |reset: bool| {
        let mut options = options(directory.clone(), &store);
        options.reset = reset;
        Sandbox::start(options, LOOPBACK.parse().unwrap())
    };

    let sandbox = start(false).await.unwrap();
    let api = Api::new(&sandbox.url(), "sk_prod");
    let (status, created) = api
        .post(
            "/api/v1/assignments",
            p.item("bob@example.com", "acme", "viewer"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let path = format!("/api/v1/assignments/{}", created["id"].as_str().unwrap());
    sandbox.shutdown().await;

    // An edited directory does not reseed a store that exists.
    let edited = std::fs::read_to_string(&directory).unwrap().replace(
        "{key: viewer, permissions: [code.read]}",
        "{key: viewer, permissions: [code.read, docs.read]}",
    );
    std::fs::write(&directory, edited).unwrap();
    let sandbox = start(false).await.unwrap();
    let api = Api::new(&sandbox.url(), "sk_prod");
    assert_eq!(api.get(&path).await.0, StatusCode::OK);
    let roles = api.list_all("/api/v1/roles", 10).await;
    assert_eq!(roles[1]["permissions"], json!(["code.read"]));
    sandbox.shutdown().await;

    let sandbox = start(true).await.unwrap();
    let api = Api::new(&sandbox.url(), "sk_prod");
    assert_eq!(api.get(&path).await.0, StatusCode::NOT_FOUND);
    let roles = api.list_all("/api/v1/roles", 10).await;
    assert_eq!(roles[1]["permissions"], json!(["code.read", "docs.read"]));
    sandbox.shutdown().await;
}
