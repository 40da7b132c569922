//! HR rows to grants: rules, identities, terminations, and every row error.

mod hr_workspace;

use grantsync::desired::{IdentityRef, SourceKind};
use hr_workspace::*;

#[test]
fn every_rule_whose_conditions_all_match_yields_a_grant() {
    let mapping = MAPPING.replace(
        "rules:\n",
        "rules:\n  - when: {department: \" FINANCE \", title: \"/^(Finance )?Manager$/\"}\n    \
         node: acme/finance/approvals\n    role: approver\n",
    );
    let export = csv(&[
        "1,a@example.com,Finance,Finance Manager,Active,,",
        "2,b@example.com,finance,Manager,Active,,",
        "3,c@example.com,Finance,Assistant to the Manager,Active,,",
        "4,d@example.com,Sales,Manager,Active,,",
    ]);
    let output = Workspace::new().read_with(&mapping, &export).unwrap();
    assert_eq!(
        keys(&output),
        [
            "a@example.com acme/finance/approvals approver",
            "a@example.com acme/finance member",
            "a@example.com acme/finance manager",
            "b@example.com acme/finance/approvals approver",
            "b@example.com acme/finance member",
            "b@example.com acme/finance manager",
            "c@example.com acme/finance member",
            "c@example.com acme/finance manager",
            "d@example.com acme/sales member",
            "d@example.com acme/sales manager",
        ]
    );
    let details: Vec<&str> = output
        .grants
        .iter()
        .filter(|g| g.origin.line == 3)
        .map(|g| g.origin.detail.as_deref().unwrap())
        .collect();
    assert_eq!(details, ["rule 1", "rule 2", "rule 3"]);
}

#[test]
fn regex_conditions_match_anywhere_unless_anchored() {
    let mapping = MAPPING.replace("/Manager$/", "/lead/");
    let export = csv(&[
        "1,a@example.com,Ops,Team lead,Active,,",
        "2,b@example.com,Ops,leadership coach,Active,,",
        "3,c@example.com,Ops,Lead,Active,,",
    ]);
    let output = Workspace::new().read_with(&mapping, &export).unwrap();
    let managers: Vec<String> = output
        .grants
        .iter()
        .filter(|g| g.role.to_string() == "manager")
        .map(|g| g.identity.to_string())
        .collect();
    // Regexes are case-sensitive as written; `(?i)` makes one insensitive.
    assert_eq!(managers, ["a@example.com", "b@example.com"]);
}

#[test]
fn employee_ids_identify_people_when_the_mapping_says_so() {
    let mapping = MAPPING.replace("identity: email", "identity: employee_id");
    let export = csv(&[
        "007123,,Sales,Rep,Active,,",
        " E1042 ,x@example.com,Sales,Rep,Active,,",
        ",y@example.com,Sales,Rep,Active,,",
    ]);
    let output = Workspace::new().read_with(&mapping, &export).unwrap();
    let identities: Vec<&IdentityRef> = output.grants.iter().map(|g| &g.identity).collect();
    assert_eq!(
        identities,
        [
            &IdentityRef::External("007123".into()),
            &IdentityRef::External("E1042".into())
        ]
    );
    assert_eq!(
        row_errors(&output),
        ["4: employee id missing: \"Employee #\" is empty; fill it in"]
    );
}

#[test]
fn emails_are_lowercased_and_checked() {
    let export = csv(&[
        "1, Ana.Silva@Example.COM ,Sales,Rep,Active,,",
        "2,not an email,Sales,Rep,Active,,",
        "3,,Sales,Rep,Active,,",
    ]);
    let output = Workspace::new().read(&export).unwrap();
    assert_eq!(keys(&output), ["ana.silva@example.com acme/sales member"]);
    assert_eq!(
        row_errors(&output),
        [
            "3: \"Work Email\" value \"not an email\" is not an email address",
            "4: email missing: \"Work Email\" is empty; fill it in",
        ]
    );
}

#[test]
fn hire_and_termination_dates_set_the_window() {
    let export = csv(&[
        "1,hired@example.com,Sales,Rep,Active,12/14/2026,",
        "2,undated@example.com,Sales,Rep,Active,,",
        "3,leaving@example.com,Sales,Rep,Active,01/04/2020,12/31/2026",
    ]);
    let output = Workspace::new().read(&export).unwrap();
    let windows: Vec<_> = output
        .grants
        .iter()
        .map(|g| (g.effective_from, g.effective_to))
        .collect();
    assert_eq!(
        windows,
        [
            (Some(ts("2026-12-14T06:00:00Z")), None),
            (None, None),
            (
                Some(ts("2020-01-04T06:00:00Z")),
                Some(ts("2027-01-01T05:59:59Z"))
            ),
        ]
    );
}

#[test]
fn terminated_rows_keep_their_grants_end_dated() {
    let export = csv(&[
        // By status, case-insensitively, with a date long past.
        "1,a@example.com,Sales,Sales Manager,terminated,01/04/2020,08/10/2024",
        // By date alone: the status was not updated yet.
        "2,b@example.com,Sales,Rep,Active,01/04/2020,11/30/2026",
    ]);
    let output = Workspace::new().read(&export).unwrap();
    assert!(output.row_errors.is_empty());
    assert_eq!(
        keys(&output),
        [
            "a@example.com acme/sales member",
            "a@example.com acme/sales manager",
            "b@example.com acme/sales member",
        ]
    );
    let ends: Vec<_> = output.grants.iter().map(|g| g.effective_to).collect();
    assert_eq!(
        ends,
        [
            Some(ts("2024-08-11T04:59:59Z")),
            Some(ts("2024-08-11T04:59:59Z")),
            Some(ts("2026-12-01T05:59:59Z")),
        ]
    );
}

#[test]
fn terminated_by_status_without_a_date_is_a_row_error() {
    let export = csv(&[
        "1,a@example.com,Sales,Rep,Inactive,01/04/2020,",
        "2,b@example.com,Sales,Rep,Active,01/04/2020,",
    ]);
    let output = Workspace::new().read(&export).unwrap();
    assert_eq!(keys(&output), ["b@example.com acme/sales member"]);
    assert_eq!(
        row_errors(&output),
        [
            "2: status \"Inactive\" marks a termination but \"Termination Date\" is empty; add the \
          last working day"
        ]
    );
}

#[test]
fn a_date_that_is_not_a_date_quotes_the_value_and_format() {
    let export = csv(&[
        "1,a@example.com,Sales,Rep,Active,11/31/2026,",
        "2,b@example.com,Sales,Rep,Active,01/04/2020,soon",
    ]);
    let output = Workspace::new().read(&export).unwrap();
    assert!(output.grants.is_empty());
    assert_eq!(
        row_errors(&output),
        [
            "2: hire date is not a date: \"11/31/2026\" in \"Hire Date\"; expected %m/%d/%Y \
             (like 12/31/2026) or YYYY-MM-DD",
            "3: termination date is not a date: \"soon\" in \"Termination Date\"; expected \
             %m/%d/%Y (like 12/31/2026) or YYYY-MM-DD",
        ]
    );
}

#[test]
fn a_termination_before_the_hire_is_a_row_error() {
    let export = csv(&["1,a@example.com,Sales,Rep,Active,11/16/2026,03/01/2024"]);
    let output = Workspace::new().read(&export).unwrap();
    assert_eq!(
        row_errors(&output),
        [
            "2: termination date 2024-03-01 is before hire date 2026-11-16; for a rehire, clear \
          the old termination date"
        ]
    );
}

#[test]
fn identical_duplicate_rows_merge() {
    let export = csv(&[
        "1,a@example.com,Sales,Rep,Active,01/04/2020,",
        "2,b@example.com,Sales,Rep,Active,,",
        "1, A@Example.com ,Sales,Rep,Active,01/04/2020,",
    ]);
    let output = Workspace::new().read(&export).unwrap();
    assert!(output.row_errors.is_empty());
    assert_eq!(
        keys(&output),
        [
            "a@example.com acme/sales member",
            "b@example.com acme/sales member"
        ]
    );
    assert_eq!(output.grants[0].origin.line, 2);
    assert_eq!(output.records, 3);
}

#[test]
fn differing_duplicate_rows_are_both_row_errors() {
    let export = csv(&[
        "1,a@example.com,Sales,Rep,Active,,",
        "2,b@example.com,Sales,Rep,Active,,",
        "1,A@example.com,Support,Rep,Active,,",
        "1,a@example.com,Sales,Rep,Active,,",
    ]);
    let output = Workspace::new().read(&export).unwrap();
    assert_eq!(keys(&output), ["b@example.com acme/sales member"]);
    assert_eq!(
        row_errors(&output),
        [
            "2: a@example.com also appears on lines 4, 5 with different data (Department: \
             \"Sales\" here, \"Support\" on line 4); keep one row per person",
            "4: a@example.com also appears on lines 2, 5 with different data (Department: \
             \"Support\" here, \"Sales\" on line 2); keep one row per person",
            "5: a@example.com also appears on lines 2, 4 with different data (Department: \
             \"Sales\" here, \"Support\" on line 4); keep one row per person",
        ]
    );
}

#[test]
fn a_template_naming_an_empty_column_is_a_row_error() {
    let export = csv(&[
        "1,a@example.com,,Rep,Active,,",
        "2,b@example.com,&,Rep,Active,,",
        "3,c@example.com,Sales,Rep,Active,,",
    ]);
    let output = Workspace::new().read(&export).unwrap();
    assert_eq!(keys(&output), ["c@example.com acme/sales member"]);
    assert_eq!(
        row_errors(&output),
        [
            "2: rule 1: node acme/{department|slug} needs \"Department\", which is empty on this \
             row",
            "3: rule 1: \"Department\" value \"&\" has no letter or digit to make a node key of",
        ]
    );
}

#[test]
fn rows_with_the_wrong_number_of_fields_are_row_errors() {
    let export = csv(&[
        "1,a@example.com,Sales,Rep,Active",
        "2,b@example.com,Sales,Rep,Active,,,extra",
        "3,c@example.com,Sales,Rep,Active,,,,",
    ]);
    let output = Workspace::new().read(&export).unwrap();
    // Trailing empty fields, as spreadsheets add them, are harmless.
    assert_eq!(keys(&output), ["c@example.com acme/sales member"]);
    let lines: Vec<u32> = output.row_errors.iter().map(|e| e.origin.line).collect();
    assert_eq!(lines, [2, 3]);
    assert!(
        output.row_errors[1]
            .message
            .starts_with("row has 8 fields but the header has 7")
    );
}

#[test]
fn row_errors_name_the_file_and_line_and_grants_name_their_row() {
    let export = csv(&[
        "1,,Sales,Rep,Active,,",
        "2,b@example.com,Sales,Rep,Active,,",
    ]);
    let output = Workspace::new().read(&export).unwrap();
    let error = &output.row_errors[0];
    assert_eq!(error.origin.to_string(), "export.csv:2");
    assert_eq!(output.grants[0].kind, SourceKind::HrRow(3));
    assert_eq!(output.records, 2);
}
