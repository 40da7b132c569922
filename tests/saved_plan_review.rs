//! Reviewed plans over real HTTP: `plan --out FILE` saves the plan, `apply
//! --plan FILE` applies exactly its items, and a plan whose files or live
//! state moved since is refused, naming what moved, with nothing written.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use grantsync::sandbox::Sandbox;
use serde_json::Value;
use tempfile::TempDir;

const KEY_ENV: &str = "GRANTSYNC_REVIEW_TEST_KEY";
const KEY: &str = "sk_prod_quickstart";

/// The quickstart's files, a sandbox seeded from its directory, and a
/// config that talks to that sandbox.
struct Review {
    dir: TempDir,
    sandbox: Sandbox,
    config: PathBuf,
}

impl Review {
    async fn start() -> Review {
        let dir = common::quickstart();
        let sandbox = common::start_sandbox(
            &dir.path().join("directory.yaml"),
            &dir.path().join("store"),
            None,
        )
        .await;
        let config =
            common::point_config_at(&dir.path().join("grantsync.yaml"), &sandbox.url(), KEY_ENV);
        Review {
            dir,
            sandbox,
            config,
        }
    }

    fn plan_file(&self) -> PathBuf {
        self.dir.path().join("reviewed/plan.json")
    }

    /// Runs grantsync off the async runtime, so the sandbox keeps serving.
    async fn run(&self, args: &[&str]) -> Output {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.extend([
            "--config".into(),
            self.config.display().to_string(),
            "--state-dir".into(),
            self.dir.path().join("state").display().to_string(),
            "--format".into(),
            "json".into(),
        ]);
        tokio::task::spawn_blocking(move || {
            common::grantsync()
                .env(KEY_ENV, KEY)
                .args(&all)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    }

    async fn plan_out(&self) -> Value {
        let plan = self.plan_file();
        let output = self.run(&["plan", "--out", plan.to_str().unwrap()]).await;
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("plan saved to"),
            "{}",
            stderr(&output)
        );
        serde_json::from_str(&std::fs::read_to_string(plan).unwrap()).unwrap()
    }

    async fn apply_plan(&self) -> Output {
        let plan = self.plan_file();
        self.run(&["apply", "--plan", plan.to_str().unwrap()]).await
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\nstderr: {}", stderr(output)))
}

/// (action, identity, node, role) of each item.
fn items(list: &Value) -> Vec<(String, String, String, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let text = |k: &str| i[k].as_str().unwrap().to_owned();
            (text("action"), text("identity"), text("node"), text("role"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewed_plan_applies_exactly_its_items() {
    let review = Review::start().await;
    let saved = review.plan_out().await;
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/saved-plan.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(validator.is_valid(&saved), "the saved plan fits its schema");

    let env = &saved["environments"][0];
    let saved_items = items(&env["items"]);
    let writes: usize = saved_items
        .iter()
        .filter(|(action, ..)| ["create", "update", "renew", "revoke"].contains(&action.as_str()))
        .count();
    assert!(writes > 5, "{saved_items:?}");
    assert_eq!(env["live"]["assignments"], 4);
    assert!(
        env["inputs"].as_array().unwrap().len() == 2,
        "{}",
        env["inputs"]
    );

    let output = review.apply_plan().await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = json(&output);
    assert_eq!(report["mode"], "apply");
    let applied = &report["environments"][0];
    assert_eq!(items(&applied["items"]), saved_items);
    assert_eq!(applied["summary"], env["summary"]);
    let done = applied["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| {
            ["created", "updated", "renewed", "revoked"].contains(&i["outcome"].as_str().unwrap())
        })
        .count();
    assert_eq!(done, writes);

    // What the plan said is now in place: a fresh plan has nothing to do.
    let output = review.run(&["plan"]).await;
    let plan = json(&output);
    assert_eq!(plan["environments"][0]["summary"]["create"], 0);
    assert_eq!(
        plan["environments"][0]["summary"]["unchanged"]
            .as_u64()
            .unwrap(),
        env["summary"]["unchanged"].as_u64().unwrap() + writes as u64
            - env["summary"]["revoke"].as_u64().unwrap()
    );

    // The same plan a second time finds the live state it made, not the
    // one it was made for.
    let writes_before = review.sandbox.stats().writes;
    let output = review.apply_plan().await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output)
            .contains("the live state of environment Production changed since the plan was made"),
        "{}",
        stderr(&output)
    );
    assert_eq!(review.sandbox.stats().writes, writes_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_file_makes_the_plan_stale() {
    let review = Review::start().await;
    review.plan_out().await;
    let finance = review.dir.path().join("access/finance.yaml");
    let text = std::fs::read_to_string(&finance).unwrap();
    std::fs::write(
        &finance,
        text.replace("reason: payroll lead", "reason: payroll"),
    )
    .unwrap();

    let writes_before = review.sandbox.stats().writes;
    let output = review.apply_plan().await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr(&output);
    assert!(
        stderr.contains("the saved plan is stale; nothing was written"),
        "{stderr}"
    );
    assert!(
        stderr.contains("access/finance.yaml changed since the plan was made"),
        "{stderr}"
    );
    assert!(!stderr.contains("engineering.yaml"), "{stderr}");
    assert_eq!(
        review.sandbox.stats().writes,
        writes_before,
        "nothing was sent"
    );

    // A new file that the sources now match is named too.
    std::fs::write(&finance, text).unwrap();
    std::fs::write(
        review.dir.path().join("access/support.yaml"),
        "grants:\n  - {identity: judy@acme.example, node: acme/support, role: viewer}\n",
    )
    .unwrap();
    let output = review.apply_plan().await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        self::stderr(&output).contains("access/support.yaml is new"),
        "{}",
        self::stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assignment_made_behind_its_back_makes_the_plan_stale() {
    let review = Review::start().await;
    let saved = review.plan_out().await;

    // Someone grants a role by hand between review and apply.
    let env = grantsync::ids::environment("Production");
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/assignments", review.sandbox.url()))
        .header("X-API-Key", KEY)
        .json(&serde_json::json!({
            "identity_id": grantsync::ids::identity(env, "judy@acme.example"),
            "node_id": grantsync::ids::node(env, "acme/support"),
            "role_id": grantsync::ids::role(env, "viewer"),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    let writes_before = review.sandbox.stats().writes;
    let output = review.apply_plan().await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr(&output);
    assert!(
        stderr.contains("the live state of environment Production changed since the plan was made (4 assignments then, 5 now)"),
        "{stderr}"
    );
    assert_eq!(
        review.sandbox.stats().writes,
        writes_before,
        "nothing was sent"
    );
    assert_eq!(saved["environments"][0]["live"]["assignments"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_decides_the_environments_and_pruning() {
    let review = Review::start().await;
    let plan = review.plan_file();
    let output = review
        .run(&["apply", "--plan", plan.to_str().unwrap(), "--prune"])
        .await;
    assert_eq!(
        output.status.code(),
        Some(1),
        "the mix is a usage error, exit 1"
    );
    assert!(stderr(&output).contains("--prune"), "{}", stderr(&output));

    let output = review.apply_plan().await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("cannot read the saved plan"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_plan_file_is_refused() {
    let review = Review::start().await;
    let saved = review.plan_out().await;
    let items = saved["environments"][0]["items"].as_array().unwrap();
    let unmanaged = items
        .iter()
        .position(|i| i["action"] == "unmanaged")
        .expect("the quickstart has an unmanaged assignment");
    let create = items
        .iter()
        .position(|i| i["action"] == "create")
        .expect("the quickstart has creates");

    // Each edit alone: an unmanaged assignment turned into a revocation
    // (pruning is off), and a create moved to another role.
    let edits: [(usize, &str, Value); 2] = [
        (unmanaged, "action", Value::from("revoke")),
        (
            create,
            "role_id",
            saved["environments"][0]["items"][unmanaged]["role_id"].clone(),
        ),
    ];
    let writes_before = review.sandbox.stats().writes;
    for (index, field, value) in edits {
        let mut edited = saved.clone();
        edited["environments"][0]["items"][index][field] = value;
        std::fs::write(review.plan_file(), edited.to_string()).unwrap();

        let output = review.apply_plan().await;
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        let stderr = stderr(&output);
        assert!(
            stderr.contains("the saved plan is stale; nothing was written"),
            "{stderr}"
        );
        assert!(
            stderr.contains("the plan file does not hold what its unchanged files and live state give now (1 item only in the file, 1 only in a fresh plan)"),
            "{stderr}"
        );
    }
    assert_eq!(
        review.sandbox.stats().writes,
        writes_before,
        "nothing was sent"
    );

    // The file as it was saved still applies.
    std::fs::write(review.plan_file(), saved.to_string()).unwrap();
    let output = review.apply_plan().await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}
