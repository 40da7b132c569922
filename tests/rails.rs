//! Safety rails: each refusal shows its message and leaves the service
//! untouched, proven by the sandbox's own count of write calls.

mod common;

use common::scenario::{DEV_KEY, Grant, PROD_KEY, Scenario, members, person};
use common::{run_with_key, start_sandbox};
use grantsync::sandbox::Sandbox;

async fn sandbox_for(scenario: &Scenario) -> Sandbox {
    start_sandbox(&scenario.directory(), &scenario.path().join("store"), None).await
}

fn config_arg(scenario: &Scenario) -> String {
    scenario.path().join("grantsync.yaml").display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_over_the_limit_are_refused_with_no_write() {
    let scenario = Scenario::new(20, 3, &members(20, 3));
    let sandbox = sandbox_for(&scenario).await;
    scenario.write_grants("team", &members(20, 1));
    scenario.write_config(
        &sandbox.url(),
        "prune: {enabled: true, scope: {nodes: [acme]}}",
    );
    let config = config_arg(&scenario);

    let run = run_with_key(
        &["apply", "--config", &config, "--format", "json"],
        PROD_KEY,
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("would revoke 40 of 60 managed assignments, over the limit of 6"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--allow-mass-revoke"), "{}", run.stderr);
    assert_eq!(
        run.json()["environments"][0]["refusals"][0]["rail"],
        "max_revocations"
    );
    assert_eq!(sandbox.stats().writes, 0, "a refused run writes nothing");

    let run = run_with_key(
        &[
            "apply",
            "--allow-mass-revoke",
            "--config",
            &config,
            "--format",
            "json",
        ],
        PROD_KEY,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["environments"][0]["outcomes"]["revoked"], 40);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_stays_inside_the_scope() {
    let mut live = members(10, 2);
    live.push(Grant::new(&person(0), "acme/team-1", "viewer"));
    live.push(Grant::new(&person(1), "other", "member"));
    let scenario = Scenario::new(10, 2, &live);
    let sandbox = sandbox_for(&scenario).await;
    scenario.write_grants("team", &members(10, 1));
    scenario.write_config(
        &sandbox.url(),
        "prune: {enabled: true, scope: {nodes: [acme], roles: [member]}}\nlimits: {max_revocations: 100%}",
    );
    let config = config_arg(&scenario);

    let run = run_with_key(
        &["apply", "--config", &config, "--format", "json"],
        PROD_KEY,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    let items = report["environments"][0]["items"].as_array().unwrap();
    let revoked: Vec<_> = items.iter().filter(|i| i["outcome"] == "revoked").collect();
    assert_eq!(revoked.len(), 10);
    assert!(
        revoked
            .iter()
            .all(|i| i["node"] == "acme/team-1" && i["role"] == "member")
    );
    let untouched: Vec<_> = items
        .iter()
        .filter(|i| i["action"] == "unmanaged")
        .collect();
    assert_eq!(
        untouched.len(),
        2,
        "the viewer grant and the grant outside acme stay"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shrunken_or_empty_source_is_refused() {
    let scenario = Scenario::new(20, 3, &[]);
    let sandbox = sandbox_for(&scenario).await;
    scenario.write_grants("team", &members(20, 3));
    scenario.write_config(&sandbox.url(), "");
    let config = config_arg(&scenario);
    let run = run_with_key(&["apply", "--config", &config], PROD_KEY).await;
    assert_eq!(run.code, 0, "the first run has no history: {}", run.stderr);
    let writes = sandbox.stats().writes;

    scenario.write_grants("team", &members(20, 3)[..10]);
    let run = run_with_key(&["apply", "--config", &config], PROD_KEY).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(
            "yields 10 grants, 50 fewer than the 60 of its last good run, over the limit of 12"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("--allow-source-shrink"),
        "{}",
        run.stderr
    );

    scenario.write_grants("team", &[]);
    let run = run_with_key(&["apply", "--config", &config], PROD_KEY).await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("yields no grants"), "{}", run.stderr);
    assert_eq!(sandbox.stats().writes, writes, "refused runs write nothing");

    let run = run_with_key(
        &["apply", "--allow-source-shrink", "--config", &config],
        PROD_KEY,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_of_another_environment_is_refused() {
    let scenario = Scenario::new(5, 1, &[]);
    let sandbox = sandbox_for(&scenario).await;
    scenario.write_grants("team", &members(5, 1));
    scenario.write_config(&sandbox.url(), "");
    let run = run_with_key(&["apply", "--config", &config_arg(&scenario)], DEV_KEY).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("the API key belongs to environment \"Development\", but the config and files declare \"Production\""),
        "{}",
        run.stderr
    );
    assert_eq!(sandbox.stats().writes, 0);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_roles_keep_their_holders() {
    let mut live = members(5, 1);
    live.push(Grant::new(&person(0), "acme", "admin"));
    live.push(Grant::new(&person(1), "acme", "admin"));
    let scenario = Scenario::new(5, 1, &live);
    let sandbox = sandbox_for(&scenario).await;
    let mut desired = members(5, 1);
    desired.push(Grant::new(&person(2), "acme/team-0", "admin"));
    scenario.write_grants("team", &desired);
    scenario.write_config(
        &sandbox.url(),
        "prune: {enabled: true, scope: {nodes: [acme]}}\nlimits:\n  max_revocations: 100%\n  protect: [{role: admin, min_holders: 1}]",
    );
    let run = run_with_key(&["apply", "--config", &config_arg(&scenario)], PROD_KEY).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("node acme would be left with 0 active admin (now 2, protected minimum 1)"),
        "{}",
        run.stderr
    );
    assert_eq!(sandbox.stats().writes, 0);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_or_half_written_file_stops_the_run_before_any_call() {
    let scenario = Scenario::new(5, 1, &[]);
    let sandbox = sandbox_for(&scenario).await;
    scenario.write_grants("good", &members(5, 1));
    let half = scenario.path().join("access/half.yaml");
    std::fs::write(
        &half,
        "grants:\n  - identity: user-1@example.com\n    node: acme/te",
    )
    .unwrap();
    scenario.write_config(&sandbox.url(), "");

    let run = run_with_key(&["apply", "--config", &config_arg(&scenario)], PROD_KEY).await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("access/half.yaml:3:"), "{}", run.stderr);
    assert!(
        run.stderr.contains("role"),
        "names the missing field: {}",
        run.stderr
    );
    assert_eq!(sandbox.stats().requests, 0, "not even a read was sent");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_another_host_is_refused_before_any_connection() {
    let scenario = Scenario::new(2, 1, &[]);
    scenario.write_grants("team", &members(2, 1));
    // `.invalid` never resolves; the refusal comes before any lookup.
    scenario.write_config("http://access.example.invalid", "");
    let run = run_with_key(&["plan", "--config", &config_arg(&scenario)], PROD_KEY).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("refusing plain http:// to access.example.invalid"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_never_appears_in_any_output() {
    let scenario = Scenario::new(5, 1, &[]);
    let sandbox = sandbox_for(&scenario).await;
    scenario.write_grants("team", &members(5, 1));
    scenario.write_config(&sandbox.url(), "");
    let config = config_arg(&scenario);
    let state = scenario.path().join("state");
    let state_arg = state.display().to_string();

    let mut seen = String::new();
    // A wrong key, a key of another environment, a successful debug run, and
    // a service that is not there, each with debug logs.
    let wrong = "sk_prod_wrong_5d1e";
    for (args, key) in [
        (vec!["apply", "-vv"], wrong),
        (vec!["apply", "-vv"], DEV_KEY),
        (vec!["apply", "-vv", "--format", "json"], PROD_KEY),
        (vec!["plan", "-vv", "--format", "json"], PROD_KEY),
    ] {
        let mut all = args.clone();
        all.extend(["--config", &config, "--state-dir", &state_arg]);
        let run = run_with_key(&all, key).await;
        seen.push_str(&run.stdout);
        seen.push_str(&run.stderr);
    }
    scenario.write_config("http://127.0.0.1:9", "");
    let run = run_with_key(&["plan", "-vv", "--config", &config], PROD_KEY).await;
    assert_eq!(
        run.code, 1,
        "nothing listens on the discard port: {}",
        run.stderr
    );
    seen.push_str(&run.stdout);
    seen.push_str(&run.stderr);
    for entry in walkdir::WalkDir::new(&state)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
    {
        seen.push_str(&String::from_utf8_lossy(
            &std::fs::read(entry.path()).unwrap(),
        ));
    }
    assert!(seen.contains("401"), "the wrong key was refused: {seen}");
    for key in [PROD_KEY, DEV_KEY, wrong] {
        assert!(!seen.contains(key), "key {key} leaked");
    }
    sandbox.shutdown().await;
}
