//! How long bulk-creating and listing many assignments takes. Ignored by
//! default (it measures, it does not check behaviour); run it with
//!
//! ```sh
//! cargo test --test sandbox_scale -- --ignored --nocapture
//! GRANTSYNC_SCALE_ASSIGNMENTS=1000000 cargo test --test sandbox_scale -- --ignored --nocapture
//! ```

mod sandbox_fixture;

use std::fmt::Write as _;
use std::time::Instant;

use grantsync::sandbox::Faults;
use reqwest::StatusCode;
use sandbox_fixture::{Running, options};
use serde_json::json;

const NODES: usize = 50;
const ROLES: usize = 2;
const PER_CALL: usize = 500;

#[tokio::test]
#[ignore = "a measurement; run with --ignored --nocapture"]
async fn bulk_create_and_list_at_scale() {
    let total: usize = std::env::var("GRANTSYNC_SCALE_ASSIGNMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let identities = total.div_ceil(NODES * ROLES);

    let data = tempfile::tempdir().unwrap();
    let directory = data.path().join("directory.yaml");
    let mut yaml =
        String::from("environments:\n  - name: Scale\n    api_keys: [sk_scale]\n    identities:\n");
    for i in 0..identities {
        writeln!(yaml, "      - {{email: user-{i}@example.com}}").unwrap();
    }
    yaml.push_str("    nodes:\n      - key: org\n        children:\n");
    for n in 0..NODES {
        writeln!(yaml, "          - key: team-{n}").unwrap();
    }
    yaml.push_str("    roles:\n");
    for r in 0..ROLES {
        writeln!(yaml, "      - {{key: role-{r}}}").unwrap();
    }
    std::fs::write(&directory, yaml).unwrap();
    let mut options = options(directory, data.path());
    options.faults = Faults::default();
    let running = Running::start_in(options, data).await;
    let api = running.api("sk_scale");

    let env = grantsync::ids::environment("Scale");
    let started = Instant::now();
    let mut items = Vec::with_capacity(PER_CALL);
    let mut created = 0;
    for k in 0..total {
        let (identity, rest) = (k / (NODES * ROLES), k % (NODES * ROLES));
        items.push(json!({
            "identity_id": grantsync::ids::identity(env, &format!("user-{identity}@example.com")),
            "node_id": grantsync::ids::node(env, &format!("org/team-{}", rest / ROLES)),
            "role_id": grantsync::ids::role(env, &format!("role-{}", rest % ROLES)),
        }));
        if items.len() == PER_CALL || k + 1 == total {
            let (status, body) = api
                .post(
                    "/api/v1/assignments/bulk-create",
                    json!({"assignments": std::mem::take(&mut items)}),
                )
                .await;
            assert_eq!(status, StatusCode::OK);
            created += body["summary"]["succeeded"].as_u64().unwrap();
        }
    }
    let create_time = started.elapsed();
    assert_eq!(created as usize, total);

    let started = Instant::now();
    let listed = api.list_all("/api/v1/assignments", 1000).await;
    let list_time = started.elapsed();
    assert_eq!(listed.len(), total);

    let node = grantsync::ids::node(env, "org/team-7");
    let started = Instant::now();
    let (_, page) = api
        .get(&format!("/api/v1/assignments?node_id={node}&limit=1000"))
        .await;
    let filtered_time = started.elapsed();
    let started = Instant::now();
    let (_, expired) = api
        .get("/api/v1/assignments?state=expired&limit=1000")
        .await;
    let empty_state_time = started.elapsed();

    println!(
        "{total} assignments: bulk-create in calls of {PER_CALL}: {create_time:.2?} \
         ({:.0}/s); list all in pages of 1000: {list_time:.2?}; one page filtered by node: \
         {filtered_time:.2?} ({} items); state=expired (matches none, scans all): \
         {empty_state_time:.2?} ({} items)",
        total as f64 / create_time.as_secs_f64(),
        page["data"].as_array().unwrap().len(),
        expired["data"].as_array().unwrap().len(),
    );
}
