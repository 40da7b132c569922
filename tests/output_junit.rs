//! The JUnit format read back by an XML parser: well-formed, counts that
//! agree with the cases, failures where the run needs attention, and names
//! that survive escaping exactly.

mod output_scenario;

use std::collections::HashMap;

use output_scenario::{
    HOSTILE_IDENTITY, HOSTILE_NODE, HOSTILE_ROLE, code, every_category, hostile, run, stderr,
    stdout,
};
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

#[derive(Debug, Default)]
struct Case {
    attributes: HashMap<String, String>,
    /// `failure`, `error` or `skipped`, with that element's attributes.
    verdict: Option<(String, HashMap<String, String>)>,
}

#[derive(Debug, Default)]
struct Document {
    /// The attributes of `<testsuites>`.
    totals: HashMap<String, String>,
    cases: Vec<Case>,
}

impl Document {
    fn count(&self, verdict: &str) -> usize {
        self.cases
            .iter()
            .filter(|c| c.verdict.as_ref().is_some_and(|(v, _)| v == verdict))
            .count()
    }

    fn total(&self, name: &str) -> usize {
        self.totals[name].parse().unwrap()
    }
}

fn attributes(element: &BytesStart<'_>) -> HashMap<String, String> {
    element
        .attributes()
        .map(|a| {
            let a = a.expect("well-formed attribute");
            (
                a.key.as_ref().to_owned(),
                a.normalized_value(XmlVersion::Implicit1_0)
                    .expect("valid escapes")
                    .into_owned(),
            )
        })
        .collect()
}

fn parse(xml: &str) -> Document {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut document = Document::default();
    loop {
        let event = reader
            .read_event()
            .unwrap_or_else(|e| panic!("not well-formed XML ({e}):\n{xml}"));
        match event {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                "testsuites" => document.totals = attributes(&e),
                "testcase" => document.cases.push(Case {
                    attributes: attributes(&e),
                    verdict: None,
                }),
                name @ ("failure" | "error" | "skipped") => {
                    let case = document.cases.last_mut().expect("inside a testcase");
                    let name = name.to_owned();
                    case.verdict = Some((name, attributes(&e)));
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    document
}

fn junit(dir: &std::path::Path, command: &str, args: &[&str]) -> (i32, Document) {
    let mut all = vec!["--format", "junit", "-q"];
    all.extend(args);
    let output = run(dir, command, &all);
    (code(&output), parse(&stdout(&output)))
}

#[test]
fn a_plan_fails_on_unresolved_items_row_errors_and_refusals() {
    let dir = every_category();
    let (code, document) = junit(dir.path(), "plan", &[]);
    assert_eq!(code, 1);

    assert_eq!(document.cases.len(), 10, "{document:#?}");
    assert_eq!(document.count("failure"), 4, "{document:#?}");
    assert_eq!(document.count("skipped"), 1, "{document:#?}");
    assert_eq!(document.total("tests"), document.cases.len());
    assert_eq!(document.total("failures"), 4);
    assert_eq!(document.total("skipped"), 1);
    assert_eq!(document.total("errors"), 0);

    let failed_types: Vec<&str> = document
        .cases
        .iter()
        .filter_map(|c| c.verdict.as_ref())
        .filter(|(v, _)| v == "failure")
        .map(|(_, a)| a["type"].as_str())
        .collect();
    assert_eq!(
        failed_types,
        ["refusal", "row_error", "unresolved", "unresolved"]
    );

    let unresolved = document
        .cases
        .iter()
        .find(|c| c.attributes["name"] == "unresolved nobody@corp.example corp/eng developer")
        .expect("a case for the unknown identity");
    assert_eq!(unresolved.attributes["classname"], "Production");
    assert_eq!(unresolved.attributes["file"], "access/eng.yaml");
    assert_eq!(unresolved.attributes["line"], "22");
    let (_, failure) = unresolved.verdict.as_ref().unwrap();
    assert_eq!(
        failure["message"],
        "unknown identity \"nobody@corp.example\""
    );
}

#[test]
fn an_apply_fails_the_items_that_failed_and_skips_those_not_sent() {
    let dir = every_category();
    let (code, document) = junit(dir.path(), "apply", &["--allow-mass-revoke"]);
    assert_eq!(code, 3);
    // Eight listed items (the unmanaged one is not listed) and a row error.
    assert_eq!(document.cases.len(), 9, "{document:#?}");
    assert_eq!(document.count("failure"), 3, "{document:#?}");
    assert_eq!(document.count("skipped"), 1, "{document:#?}");
    assert_eq!(document.total("failures"), 3);
    let passed: Vec<&str> = document
        .cases
        .iter()
        .filter(|c| c.verdict.is_none())
        .map(|c| c.attributes["name"].as_str())
        .collect();
    assert_eq!(
        passed,
        [
            "create fay@corp.example corp/eng developer",
            "create fay@corp.example corp/eng member",
            "update ben@corp.example corp/eng developer",
            "renew cy@corp.example corp/eng/api developer",
            "revoke dee@corp.example corp/ops viewer",
        ]
    );
}

#[test]
fn hostile_names_survive_escaping_exactly() {
    let dir = hostile();
    let output = run(dir.path(), "plan", &["--format", "junit"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let document = parse(&stdout(&output));
    assert_eq!(document.cases.len(), 2, "{document:#?}");
    let name = format!("unresolved {HOSTILE_IDENTITY} {HOSTILE_NODE} {HOSTILE_ROLE}");
    let case = document
        .cases
        .iter()
        .find(|c| c.attributes["name"] == name)
        .unwrap_or_else(|| panic!("no case named {name:?}: {document:#?}"));
    let (verdict, failure) = case.verdict.as_ref().unwrap();
    assert_eq!(verdict, "failure");
    assert!(
        failure["message"].contains(&format!("unknown identity \"{HOSTILE_IDENTITY}\"")),
        "{failure:?}"
    );
}
