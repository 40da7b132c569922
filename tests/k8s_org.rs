//! The Kubernetes organisations' real access-as-code data (pseudonymised):
//! plan, apply with pruning, convergence, and creates made behind
//! grantsync's back, against a sandbox on 127.0.0.1.

mod common;

use std::path::Path;

use common::{counts, fixture, point_config_at, run_json, start_sandbox};
use serde_json::Value;

const KEY_ENV: &str = "GRANTSYNC_K8S_TEST_KEY";
const KEY: &str = "sk_prod_k8s_org";

fn items_with<'a>(report: &'a Value, field: &str, value: &str) -> Vec<&'a Value> {
    report["environments"][0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item[field] == value)
        .collect()
}

/// Runs the binary off the async runtime, so the in-process sandbox keeps serving.
async fn run_json_async(args: Vec<String>) -> (i32, Value) {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // The key reaches the child through its environment only, never argv.
        run_json_with_key(&args)
    })
    .await
    .unwrap()
}

fn run_json_with_key(args: &[&str]) -> (i32, Value) {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--format", "json"]);
    let output = common::grantsync()
        .env(KEY_ENV, KEY)
        .args(&all)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e})\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap(), json)
}

fn args(list: &[&str], config: &Path, state: &Path) -> Vec<String> {
    let mut all: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    all.extend([
        "--config".into(),
        config.display().to_string(),
        "--state-dir".into(),
        state.display().to_string(),
    ]);
    all
}

#[test]
fn plan_on_the_embedded_sandbox_gives_the_expected_counts() {
    let dir = fixture("k8s-org");
    let config = dir.path().join("grantsync.yaml");
    let (code, plan) = run_json(&["plan", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{plan}");
    // create, update, renew, unchanged, revoke, unmanaged, unresolved
    assert_eq!(counts(&plan), [537, 0, 0, 5740, 0, 100, 4]);
    let unresolved = items_with(&plan, "action", "unresolved");
    assert_eq!(unresolved.len(), 4);
    for item in unresolved {
        assert!(
            item["detail"]
                .as_str()
                .unwrap()
                .starts_with("unknown identity"),
            "{item}"
        );
        assert!(
            item["source"]
                .as_str()
                .unwrap()
                .starts_with("grants/kubernetes"),
            "{item}"
        );
    }

    let (code, pruned) = run_json(&["plan", "--prune", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{pruned}");
    assert_eq!(counts(&pruned), [537, 0, 0, 5740, 100, 0, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_with_prune_converges_and_a_second_apply_writes_nothing() {
    let dir = fixture("k8s-org");
    let sandbox = start_sandbox(
        &dir.path().join("directory.yaml"),
        &dir.path().join("store"),
        None,
    )
    .await;
    let config = point_config_at(&dir.path().join("grantsync.yaml"), &sandbox.url(), KEY_ENV);
    let state = dir.path().join("state");

    let (code, report) = run_json_async(args(&["apply", "--prune"], &config, &state)).await;
    assert_eq!(
        code, 3,
        "the unresolved items are failed items: {}",
        report["environments"][0]["outcomes"]
    );
    let outcomes = &report["environments"][0]["outcomes"];
    assert_eq!(outcomes["created"], 537, "{outcomes}");
    assert_eq!(outcomes["revoked"], 100, "{outcomes}");
    assert_eq!(outcomes["failed"], 4, "{outcomes}");
    let items = report["environments"][0]["items"].as_array().unwrap();
    assert!(
        items.iter().all(|item| item["outcome"].is_string()),
        "every item has an outcome"
    );
    for failed in items_with(&report, "outcome", "failed") {
        assert_eq!(failed["error"]["code"], "unresolved", "{failed}");
    }

    let (code, plan) = run_json_async(args(&["plan", "--prune"], &config, &state)).await;
    assert_eq!(code, 0);
    assert_eq!(counts(&plan), [0, 0, 0, 6277, 0, 0, 4]);

    let writes_before = sandbox.stats().writes;
    let (code, again) = run_json_async(args(&["apply", "--prune"], &config, &state)).await;
    assert_eq!(code, 3, "still the 4 unresolved");
    assert_eq!(counts(&again), [0, 0, 0, 6277, 0, 0, 4]);
    assert_eq!(
        sandbox.stats().writes,
        writes_before,
        "a converged apply sends no write call"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_made_behind_its_back_end_as_already_assigned() {
    use grantsync::api::{ApiKey, Client, ClientOptions};
    use grantsync::apply::{ApplyOptions, Outcome, apply_plan};
    use grantsync::plan::{Action, PlanInput, ResolvedScope, plan_environment};
    use grantsync::resolve::Catalog;

    let dir = fixture("k8s-org");
    let sandbox = start_sandbox(
        &dir.path().join("directory.yaml"),
        &dir.path().join("store"),
        None,
    )
    .await;
    let config = grantsync::config::Config::load(&dir.path().join("grantsync.yaml")).unwrap();
    let env = &config.environments[0];
    let client = Client::new(&sandbox.url(), ApiKey::new(KEY), ClientOptions::default()).unwrap();

    // Plan, as `plan` does.
    let now = jiff::Timestamp::now();
    let sources = grantsync::sync::load_sources(&config.base_dir, env, now).unwrap();
    let catalog = Catalog::fetch(&client).await.unwrap();
    let live = client.list_assignments().await.unwrap();
    let plan = plan_environment(PlanInput {
        name: "Production",
        sources: &sources,
        live: &live,
        catalog: &catalog,
        now,
        prune: false,
        scope: &ResolvedScope::default(),
    })
    .unwrap();
    assert_eq!(plan.summary.create, 537);

    // Someone creates five of the planned grants by hand before the apply.
    let http = reqwest::Client::new();
    let creates: Vec<_> = plan
        .items
        .iter()
        .filter(|i| i.action == Action::Create)
        .collect();
    for item in creates.iter().take(5) {
        let key = item.key.unwrap();
        let response = http
            .post(format!("{}/api/v1/assignments", sandbox.url()))
            .header("X-API-Key", KEY)
            .json(&serde_json::json!({"identity_id": key.identity, "node_id": key.node, "role_id": key.role}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }

    let options = ApplyOptions {
        bulk_size: 500,
        concurrency: 4,
        cancel: Default::default(),
        progress: Default::default(),
    };
    let outcomes = apply_plan(&client, &plan, &options).await;
    let mut already = 0;
    let mut created = 0;
    for (item, outcome) in plan.items.iter().zip(&outcomes) {
        if item.action != Action::Create {
            continue;
        }
        let made_by_hand = creates.iter().take(5).any(|c| c.key == item.key);
        match outcome {
            Outcome::AlreadyAssigned => {
                assert!(made_by_hand, "{item:?}");
                already += 1;
            }
            Outcome::Created => {
                assert!(!made_by_hand, "{item:?}");
                created += 1;
            }
            other => panic!("unexpected outcome {other:?} for {item:?}"),
        }
    }
    assert_eq!((already, created), (5, 532));

    // The report says so item by item.
    let report = grantsync::report::EnvironmentReport::new(&plan, Some(&outcomes));
    let json = serde_json::to_value(&report).unwrap();
    let already_items = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["outcome"] == "already_assigned")
        .count();
    assert_eq!(already_items, 5);
    sandbox.shutdown().await;
}
