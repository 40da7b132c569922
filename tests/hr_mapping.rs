//! The mapping file: strict YAML, and every mistake reported at
//! file:line:column before any export is read.

mod hr_workspace;

use grantsync::desired::hr::Error;
use hr_workspace::*;

/// Loads `yaml` and returns the error as shown, with the temp dir's path
/// replaced by `mapping.yaml`.
fn mapping_error(yaml: &str) -> String {
    let ws = Workspace::new();
    let err = ws.mapping(yaml).unwrap_err();
    assert!(matches!(err, Error::MappingInvalid { .. }), "{err}");
    err.to_string().replace(
        &ws.path().join("mapping.yaml").display().to_string(),
        "mapping.yaml",
    )
}

/// The line:column at which `needle` starts in `yaml`.
fn at(yaml: &str, needle: &str) -> String {
    let offset = yaml.find(needle).unwrap();
    let line = yaml[..offset].matches('\n').count() + 1;
    let column = offset - yaml[..offset].rfind('\n').map_or(0, |n| n + 1) + 1;
    format!("mapping.yaml:{line}:{column}")
}

#[test]
fn the_example_mapping_loads() {
    let ws = Workspace::new();
    let mapping = ws.mapping(MAPPING).unwrap();
    assert_eq!(mapping.path(), ws.path().join("mapping.yaml"));
}

#[test]
fn an_unknown_time_zone_is_a_mapping_error_at_its_value() {
    let yaml = MAPPING.replace("America/Chicago", "America/Chicag");
    assert_eq!(
        mapping_error(&yaml),
        format!(
            "{}: time zone \"America/Chicag\" is unknown; use an IANA name like America/Chicago",
            at(&yaml, "America/Chicag")
        )
    );
}

#[test]
fn an_invalid_regex_is_a_mapping_error_at_its_value() {
    let yaml = MAPPING.replace("/Manager$/", "/Manager($/");
    let message = mapping_error(&yaml);
    let place = at(&yaml, "\"/Manager($/\"");
    assert!(
        message == format!("{place}: rule 2: /Manager($/ is not a valid regex: unclosed group"),
        "{message}"
    );
}

#[test]
fn rules_may_only_name_mapped_columns() {
    let yaml = MAPPING.replace("{title: ", "{Job Title: ");
    assert_eq!(
        mapping_error(&yaml),
        format!(
            "{}: rule 2: when names column Job Title, which is not under columns",
            at(&yaml, "Job Title: ")
        )
    );
    let yaml = MAPPING.replace(
        "acme/{department|slug}\"\n    role: member",
        "acme/{dept}\"\n    role: member",
    );
    assert_eq!(
        mapping_error(&yaml),
        format!(
            "{}: rule 1: node \"acme/{{dept}}\" names column \"dept\", which is not under columns",
            at(&yaml, "\"acme/{dept}")
        )
    );
}

#[test]
fn a_literal_node_must_be_a_node_path() {
    let yaml = MAPPING.replace(
        "\"acme/{department|slug}\"\n    role: member",
        "acme//x\n    role: member",
    );
    let message = mapping_error(&yaml);
    assert!(
        message.starts_with(&format!(
            "{}: rule 1: node \"acme//x\"",
            at(&yaml, "acme//x")
        )),
        "{message}"
    );
}

#[test]
fn duplicate_keys_are_errors() {
    let yaml = MAPPING.replace(
        "  title: Job Title\n",
        "  title: Job Title\n  title: Position\n",
    );
    let message = mapping_error(&yaml);
    assert_eq!(
        message,
        format!("{}: duplicate key title", at(&yaml, "title: Position"))
    );
}

#[test]
fn unknown_fields_are_errors() {
    let yaml = MAPPING.replace("  timezone:", "  time_zone: UTC\n  timezone:");
    let message = mapping_error(&yaml);
    assert!(
        message.starts_with(&format!(
            "{}: unknown field `time_zone`",
            at(&yaml, "time_zone")
        )),
        "{message}"
    );
}

#[test]
fn a_missing_time_zone_is_an_error() {
    let yaml = MAPPING.replace("  timezone: America/Chicago\n", "");
    let message = mapping_error(&yaml);
    assert!(message.contains("missing field `timezone`"), "{message}");
}

#[test]
fn yaml_1_1_booleans_and_leading_zeros_stay_text() {
    // `NO` is Norway's code, `007123` an employee id: neither may turn into
    // a boolean or a number on the way to a condition.
    let yaml = MAPPING.replace(
        "{title: \"/Manager$/\"}",
        "{department: NO, employee_id: 007123}",
    );
    let export = csv(&[
        "007123,a@example.com,no,Rep,Active,,",
        "7123,b@example.com,NO,Rep,Active,,",
    ]);
    let output = Workspace::new().read_with(&yaml, &export).unwrap();
    assert_eq!(
        keys(&output),
        [
            "a@example.com acme/no member",
            "a@example.com acme/no manager",
            "b@example.com acme/no member",
        ]
    );
}

#[test]
fn delimiter_encoding_and_date_format_are_checked() {
    let yaml = MAPPING.replace("delimiter: auto", "delimiter: \":\"");
    assert!(mapping_error(&yaml).starts_with(&format!("{}: delimiter \":\"", at(&yaml, "\":\""))),);
    let yaml = MAPPING.replace("encoding: auto", "encoding: latin-9");
    assert_eq!(
        mapping_error(&yaml),
        format!(
            "{}: encoding \"latin-9\" is not one of auto, utf-8, utf-16, windows-1252",
            at(&yaml, "latin-9")
        )
    );
    let yaml = MAPPING.replace("%m/%d/%Y", "%m/%Y");
    assert_eq!(
        mapping_error(&yaml),
        format!(
            "{}: date_format \"%m/%Y\" does not name a year, a month and a day",
            at(&yaml, "\"%m/%Y\"")
        )
    );
    let tab = MAPPING.replace("delimiter: auto", "delimiter: \"\\t\"");
    Workspace::new().mapping(&tab).unwrap();
}

#[test]
fn the_identity_and_termination_columns_must_be_mapped() {
    let yaml = MAPPING.replace("  email: Work Email\n", "");
    let message = mapping_error(&yaml);
    assert!(
        message.ends_with("columns has no email, which identity: email needs"),
        "{message}"
    );
    let yaml = MAPPING.replace("  termination_date: Termination Date\n", "");
    let message = mapping_error(&yaml);
    assert!(
        message.ends_with("terminated.status needs a termination_date column under columns"),
        "{message}"
    );
    let yaml = MAPPING.replace("identity: email", "identity: badge");
    let message = mapping_error(&yaml);
    assert!(message.contains("unknown variant `badge`"), "{message}");
}

#[test]
fn a_header_mapped_twice_is_a_mapping_error() {
    let yaml = MAPPING.replace(
        "  title: Job Title\n",
        "  title: Job Title\n  role_name: job title\n",
    );
    assert_eq!(
        mapping_error(&yaml),
        format!(
            "{}: header \"job title\" is already mapped as title; map each header once",
            at(&yaml, "job title")
        )
    );
}

#[test]
fn a_mapping_without_rules_is_refused() {
    let yaml = MAPPING[..MAPPING.find("rules:").unwrap()].to_owned() + "rules: []\n";
    let message = mapping_error(&yaml);
    assert!(
        message.ends_with("rules is empty; add at least one rule"),
        "{message}"
    );
}

#[test]
fn extra_columns_can_be_used_in_rules_and_templates() {
    let yaml = MAPPING
        .replace("  status: Status\n", "  status: Status\n  site: Location\n")
        .replace("{title: \"/Manager$/\"}", "{site: \"/^Remote/\"}")
        .replace(
            "acme/{department|slug}\"\n    role: manager",
            "acme/remote/{site|slug}\"\n    role: manager",
        );
    let export = format!(
        "{HEADER},Location\n1,a@example.com,Sales,Rep,Active,,,Remote (EU)\n\
         2,b@example.com,Sales,Rep,Active,,,Chicago\n"
    );
    let output = Workspace::new()
        .read_with(&yaml, export.as_bytes())
        .unwrap();
    assert_eq!(
        keys(&output),
        [
            "a@example.com acme/sales member",
            "a@example.com acme/remote/remote-eu manager",
            "b@example.com acme/sales member",
        ]
    );
}
