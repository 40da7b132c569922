//! The Northwind Robotics fixture: one company's HR export in three real
//! layouts (BambooHR, Workday, Personio), read through each layout's mapping
//! and checked against the expected results in `fixtures/hr/README.md` and
//! against the live assignments in each layout's `directory.yaml`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use grantsync::desired::hr::{self, Mapping};
use grantsync::desired::{DesiredGrant, IdentityRef, NodeRef, RoleRef, SourceKind, SourceOutput};
use jiff::Timestamp;
use serde::Deserialize;

const NOW: &str = "2026-12-01T12:00:00Z";
const LAYOUTS: [(&str, &str); 3] = [
    ("bamboohr", "employees.csv"),
    ("workday", "workers.csv"),
    ("personio", "mitarbeiter.csv"),
];

type Key = (String, String, String);
type Window = (Option<Timestamp>, Option<Timestamp>);

fn layout_dir(layout: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hr")
        .join(layout)
}

fn read_layout(layout: &str, export: &str) -> SourceOutput {
    let dir = layout_dir(layout);
    let mapping = Mapping::load(&dir.join("mapping.yaml")).unwrap();
    hr::load_export(&dir, export, &mapping, NOW.parse().unwrap()).unwrap()
}

fn key(grant: &DesiredGrant) -> Key {
    (
        grant.identity.to_string(),
        grant.node.to_string(),
        grant.role.to_string(),
    )
}

fn desired(output: &SourceOutput) -> BTreeMap<Key, Window> {
    let mut keys = BTreeMap::new();
    for grant in &output.grants {
        let window = (grant.effective_from, grant.effective_to);
        let previous = keys.insert(key(grant), window);
        assert!(previous.is_none(), "key declared twice: {:?}", key(grant));
    }
    keys
}

fn grant<'a>(output: &'a SourceOutput, email: &str, node: &str, role: &str) -> &'a DesiredGrant {
    output
        .grants
        .iter()
        .find(|g| {
            g.identity == IdentityRef::Email(email.into())
                && g.node == NodeRef::Path(node.into())
                && g.role == RoleRef::Key(role.into())
        })
        .unwrap_or_else(|| panic!("no grant {email} {node} {role}"))
}

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

#[derive(Deserialize)]
struct Directory {
    environments: Vec<Environment>,
}

#[derive(Deserialize)]
struct Environment {
    assignments: Vec<Assignment>,
}

#[derive(Deserialize)]
struct Assignment {
    identity: String,
    node: String,
    role: String,
    effective_from: Option<Timestamp>,
    effective_to: Option<Timestamp>,
}

fn live(layout: &str) -> BTreeMap<Key, Window> {
    let text = std::fs::read_to_string(layout_dir(layout).join("directory.yaml")).unwrap();
    let directory: Directory = serde_saphyr::from_str(&text).unwrap();
    directory.environments[0]
        .assignments
        .iter()
        .map(|a| {
            (
                (a.identity.clone(), a.node.clone(), a.role.clone()),
                (a.effective_from, a.effective_to),
            )
        })
        .collect()
}

#[test]
fn every_layout_yields_the_expected_desired_keys() {
    for (layout, export) in LAYOUTS {
        let output = read_layout(layout, export);
        let keys = desired(&output);
        // 329 desired keys, plus the grant of line 236 whose node does not
        // exist: only the resolver can know that.
        assert_eq!(keys.len(), 330, "{layout}");
        assert_eq!(output.grants.len(), 330, "{layout}");
        assert_eq!(
            output.records, 303,
            "{layout}: blank trailing rows are not records"
        );
        assert!(keys.contains_key(&(
            "youssef.rahman@example.com".into(),
            "northwind/sales-apac".into(),
            "member".into()
        )));
        let apac = grant(
            &output,
            "youssef.rahman@example.com",
            "northwind/sales-apac",
            "member",
        );
        assert_eq!(apac.kind, SourceKind::HrRow(236), "{layout}");
    }
}

#[test]
fn layouts_agree_on_identity_node_and_role() {
    let sets: Vec<BTreeSet<Key>> = LAYOUTS
        .iter()
        .map(|(layout, export)| desired(&read_layout(layout, export)).into_keys().collect())
        .collect();
    assert_eq!(sets[0], sets[1]);
    assert_eq!(sets[0], sets[2]);
}

#[test]
fn every_layout_reports_the_same_row_errors() {
    for (layout, export) in LAYOUTS {
        let output = read_layout(layout, export);
        let lines: Vec<u32> = output.row_errors.iter().map(|e| e.origin.line).collect();
        assert_eq!(lines, [126, 171], "{layout}: {:?}", output.row_errors);
        let files: BTreeSet<&str> = output.row_errors.iter().map(|e| &*e.origin.file).collect();
        assert_eq!(files, BTreeSet::from([export]));

        let missing = &output.row_errors[0].message;
        assert!(missing.starts_with("email missing"), "{layout}: {missing}");
        let bad_date = &output.row_errors[1].message;
        let shown = match layout {
            "bamboohr" => "\"11/31/2026\"",
            "workday" => "\"2026-11-31\"",
            _ => "\"31.11.2026\"",
        };
        assert!(
            bad_date.starts_with("hire date is not a date") && bad_date.contains(shown),
            "{layout}: {bad_date}"
        );
    }
}

#[test]
fn desired_windows_match_the_live_state_as_the_readme_expects() {
    let now: Timestamp = NOW.parse().unwrap();
    for (layout, export) in LAYOUTS {
        let desired = desired(&read_layout(layout, export));
        let live = live(layout);
        assert_eq!(live.len(), 322, "{layout}");

        let mut absent = Vec::new();
        let mut same = 0;
        let mut differ = Vec::new();
        for (key, window) in &desired {
            match live.get(key) {
                None => absent.push(key.clone()),
                Some(live_window) if live_window == window => same += 1,
                Some(live_window) => differ.push((key.clone(), *live_window, *window)),
            }
        }
        // create 11 + unresolved 3 + the unknown node of line 236.
        assert_eq!(absent.len(), 15, "{layout}: {absent:?}");
        assert_eq!(same, 306, "{layout}: unchanged");
        // update 8 + renew 1.
        assert_eq!(differ.len(), 9, "{layout}: {differ:?}");
        let renewed: Vec<&Key> = differ
            .iter()
            .filter(|(_, live, _)| live.1.is_some_and(|to| to < now))
            .map(|(key, _, _)| key)
            .collect();
        assert_eq!(
            renewed,
            [&(
                "chloe.tanaka@example.com".to_owned(),
                "northwind/research-development".to_owned(),
                "member".to_owned()
            )],
            "{layout}"
        );
        let gone = live.keys().filter(|k| !desired.contains_key(*k)).count();
        assert_eq!(gone, 7, "{layout}: unmanaged or revoked");
    }
}

#[test]
fn instants_follow_each_layouts_zone() {
    // (layout, hire on 2026-12-14 starts, termination on 2026-11-26 ends)
    let expected = [
        ("bamboohr", "2026-12-14T06:00:00Z", "2026-11-27T05:59:59Z"),
        ("workday", "2026-12-14T08:00:00Z", "2026-11-27T07:59:59Z"),
        ("personio", "2026-12-13T23:00:00Z", "2026-11-26T22:59:59Z"),
    ];
    for ((layout, export), (name, hire, leave)) in LAYOUTS.iter().zip(expected) {
        assert_eq!(*layout, name);
        let output = read_layout(layout, export);
        let hired = grant(
            &output,
            "maelle.fournier@example.com",
            "northwind/engineering",
            "member",
        );
        assert_eq!(hired.effective_from, Some(ts(hire)), "{layout}");
        assert_eq!(hired.effective_to, None, "{layout}");

        // Terminated by status, with its date: every grant end-dated, none dropped.
        for role in ["member", "manager"] {
            let left = grant(&output, "thabo.pham@example.com", "northwind/support", role);
            assert_eq!(left.effective_to, Some(ts(leave)), "{layout} {role}");
            assert!(left.effective_from.is_some());
        }
    }
}

#[test]
fn terminated_people_keep_end_dated_grants() {
    for (layout, export) in LAYOUTS {
        let output = read_layout(layout, export);
        // Terminated in 2024 and still exported: the grant is there, ended.
        let old = grant(
            &output,
            "sven.johnson@example.com",
            "northwind/support",
            "member",
        );
        assert!(old.effective_to.is_some_and(|to| to < ts(NOW)), "{layout}");
        // Finance manager leaving: all three grants end-dated alike.
        let ends: BTreeSet<Option<Timestamp>> = ["member", "manager"]
            .iter()
            .map(|role| {
                grant(
                    &output,
                    "leonie.cohen@example.com",
                    "northwind/finance",
                    role,
                )
            })
            .chain([grant(
                &output,
                "leonie.cohen@example.com",
                "northwind/finance/approvals",
                "approver",
            )])
            .map(|g| g.effective_to)
            .collect();
        assert_eq!(ends.len(), 1, "{layout}: {ends:?}");
        assert!(ends.first().unwrap().is_some(), "{layout}");
    }
}

#[test]
fn origins_name_the_export_line_and_rule() {
    let output = read_layout("bamboohr", "employees.csv");
    let manager = grant(
        &output,
        "emile.aberg@example.com",
        "northwind/research-development",
        "manager",
    );
    assert_eq!(&*manager.origin.file, "employees.csv");
    assert_eq!(manager.origin.line, 3);
    assert_eq!(manager.origin.column, 0);
    assert_eq!(manager.origin.detail.as_deref(), Some("rule 2"));
    assert_eq!(manager.kind, SourceKind::HrRow(3));
    assert_eq!(
        manager.reason.as_deref(),
        Some("HR export: Research Manager, Research & Development")
    );
    assert_eq!(output.name, "employees.csv");
    let dir = layout_dir("bamboohr");
    assert_eq!(
        output.files,
        [dir.join("employees.csv"), dir.join("mapping.yaml")]
    );
}
