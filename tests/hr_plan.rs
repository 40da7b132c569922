//! HR exports end to end: the same company exported by three HR systems
//! plans to the same changes, applies, and converges, on the embedded sandbox.

mod common;

use common::{counts, fixture};
use serde_json::Value;

const NOW: &str = "2026-12-01T12:00:00Z";
const LAYOUTS: [&str; 3] = ["bamboohr", "workday", "personio"];

fn run_layout(layout: &str, dir: &std::path::Path, extra: &[&str]) -> (i32, Value) {
    let config = dir.join(layout).join("grantsync.yaml");
    let mut args = extra.to_vec();
    args.extend([
        "--config",
        config.to_str().unwrap(),
        "--now",
        NOW,
        "--format",
        "json",
    ]);
    let output = common::grantsync()
        .env("GRANTSYNC_PRODUCTION_KEY", "sk_prod_northwind")
        .args(&args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{layout}: stdout is not JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap(), json)
}

fn keys(report: &Value, action: &str) -> Vec<String> {
    let mut keys: Vec<String> = report["environments"][0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["action"] == action)
        .map(|i| {
            format!(
                "{} {} {}",
                i["identity"].as_str().unwrap(),
                i["node"].as_str().unwrap(),
                i["role"].as_str().unwrap()
            )
        })
        .collect();
    keys.sort();
    keys
}

#[test]
fn three_layouts_plan_the_same_changes() {
    let dir = fixture("hr");
    let mut first: Option<Value> = None;
    for layout in LAYOUTS {
        let (code, plan) = run_layout(layout, dir.path(), &["plan"]);
        assert_eq!(code, 0, "{layout}: {plan}");
        // create, update, renew, unchanged, revoke, unmanaged, unresolved
        assert_eq!(counts(&plan), [11, 8, 1, 306, 0, 7, 3], "{layout}");
        let env = &plan["environments"][0];
        let rows: Vec<&str> = env["row_errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert_eq!(rows.len(), 3, "{layout}: {rows:?}");
        for line in [":126:", ":171:", ":236:"] {
            assert!(
                rows.iter().any(|r| r.contains(line)),
                "{layout}: no row error at {line} in {rows:?}"
            );
        }
        assert!(
            rows.iter().any(|r| r.contains("northwind/sales-apac")),
            "{rows:?}"
        );
        let scheduled = env["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| {
                i["action"] == "create" && i["effective_from"].as_str().is_some_and(|f| f > NOW)
            })
            .count();
        assert_eq!(scheduled, 3, "{layout}: creates that start later");

        assert!(
            keys(&plan, "create").contains(
                &"juergen.hartmann@example.com northwind/engineering manager".to_string()
            )
        );
        assert_eq!(
            keys(&plan, "renew"),
            ["chloe.tanaka@example.com northwind/research-development member"]
        );
        match &first {
            None => first = Some(plan),
            Some(first) => {
                for action in ["create", "update", "renew", "unmanaged", "unresolved"] {
                    assert_eq!(
                        keys(first, action),
                        keys(&plan, action),
                        "{layout}: {action} differs from bamboohr"
                    );
                }
            }
        }
    }
}

#[test]
fn pruning_revokes_the_people_who_left_the_export() {
    let dir = fixture("hr");
    let (code, plan) = run_layout("workday", dir.path(), &["plan", "--prune"]);
    assert_eq!(code, 0, "{plan}");
    assert_eq!(counts(&plan), [11, 8, 1, 306, 7, 0, 3]);
    assert!(
        keys(&plan, "revoke")
            .contains(&"ingrid.park@example.com northwind/marketing member".to_string())
    );
}

#[test]
fn apply_then_apply_again_writes_nothing() {
    let dir = fixture("hr");
    for layout in LAYOUTS {
        let (code, report) = run_layout(layout, dir.path(), &["apply"]);
        assert_eq!(
            code, 3,
            "{layout}: the 3 unresolved hires fail: {}",
            report["environments"][0]["outcomes"]
        );
        let outcomes = &report["environments"][0]["outcomes"];
        assert_eq!(outcomes["created"], 11, "{layout}: {outcomes}");
        assert_eq!(outcomes["updated"], 8, "{layout}: {outcomes}");
        assert_eq!(outcomes["renewed"], 1, "{layout}: {outcomes}");
        assert_eq!(outcomes["failed"], 3, "{layout}: {outcomes}");

        let (_, again) = run_layout(layout, dir.path(), &["apply"]);
        assert_eq!(counts(&again), [0, 0, 0, 326, 0, 7, 3], "{layout}");
        assert_eq!(
            again["environments"][0]["calls"]["writes"], 0,
            "{layout}: a converged apply writes nothing"
        );
    }
}
