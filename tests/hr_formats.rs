//! HR exports as files: encodings, delimiters, quoting, line ends, blank rows,
//! truncation, and choosing the newest export.

mod hr_workspace;

use grantsync::desired::SourceKind;
use grantsync::desired::hr::{self, Error};
use hr_workspace::*;

/// Rows with accents, a quoted comma and a doubled quote, in `delimiter`.
fn sample(delimiter: &str) -> String {
    let rows = [
        HEADER.to_owned(),
        "1001,zoe.mueller@example.com,Fertigung & Qualität,Werksleiterin,Active,03/01/2020,"
            .to_owned(),
        "1002,siobhan.obrien@example.com,\"Sales, EMEA\",\"Kit \"\"KJ\"\" Manager\",Active,,"
            .to_owned(),
        "1003,gudrun.olafsdottir@example.com,Þróun,Engineer,Active,,".to_owned(),
    ];
    let text = rows.join("\r\n") + "\r\n";
    if delimiter == "," {
        return text;
    }
    // Swap the delimiter outside quotes only.
    let mut out = String::new();
    let mut in_quotes = false;
    for c in text.chars() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                out.push(c);
            }
            ',' if !in_quotes => out.push_str(delimiter),
            _ => out.push(c),
        }
    }
    out
}

const SAMPLE_KEYS: [&str; 4] = [
    "zoe.mueller@example.com acme/fertigung-qualität member",
    "siobhan.obrien@example.com acme/sales-emea member",
    "siobhan.obrien@example.com acme/sales-emea manager",
    "gudrun.olafsdottir@example.com acme/þróun member",
];

fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    let mut out = if big_endian {
        vec![0xFE, 0xFF]
    } else {
        vec![0xFF, 0xFE]
    };
    for unit in text.encode_utf16() {
        out.extend(if big_endian {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        });
    }
    out
}

fn windows_1252(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

#[test]
fn every_encoding_reads_the_same_grants() {
    // Þ and ó exist in Windows-1252, so one text serves all five encodings.
    let text = sample(",");
    let utf8_bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
    let cases = [
        ("utf-8", "utf-8", text.as_bytes().to_vec()),
        ("utf-8 with BOM", "utf-8", utf8_bom),
        ("utf-16le with BOM", "utf-16", utf16(&text, false)),
        ("utf-16be with BOM", "utf-16", utf16(&text, true)),
        ("windows-1252", "windows-1252", windows_1252(&text)),
    ];
    for (case, declared, bytes) in cases {
        for encoding in ["auto", declared] {
            let mapping = MAPPING.replace("encoding: auto", &format!("encoding: {encoding}"));
            let output = Workspace::new().read_with(&mapping, &bytes).unwrap();
            assert_eq!(keys(&output), SAMPLE_KEYS, "{case} read as {encoding}");
            assert_eq!(output.records, 3, "{case}");
        }
    }
}

#[test]
fn every_delimiter_is_sniffed_from_the_header() {
    for delimiter in [",", ";", "\t", "|"] {
        let output = Workspace::new().read(sample(delimiter).as_bytes()).unwrap();
        assert_eq!(keys(&output), SAMPLE_KEYS, "delimiter {delimiter:?}");
    }
}

#[test]
fn a_declared_delimiter_is_used_as_is() {
    let mapping = MAPPING.replace("delimiter: auto", "delimiter: \";\"");
    let output = Workspace::new()
        .read_with(&mapping, sample(";").as_bytes())
        .unwrap();
    assert_eq!(keys(&output), SAMPLE_KEYS);
    // A comma export read with ";" has one column: every mapped one is missing.
    let err = Workspace::new()
        .read_with(&mapping, sample(",").as_bytes())
        .unwrap_err();
    assert!(matches!(err, Error::MissingColumns { .. }), "{err}");
}

#[test]
fn line_breaks_in_quoted_fields_advance_later_lines() {
    let export = csv(&[
        "1,a@example.com,Sales,\"Account\nExecutive,\nNorth\",Active,,",
        "2,b@example.com,Sales,Rep,Active,,",
        "",
        "3,c@example.com,Support,Rep,Active,,",
    ]);
    let output = Workspace::new().read(&export).unwrap();
    let lines: Vec<u32> = output.grants.iter().map(|g| g.origin.line).collect();
    assert_eq!(lines, [2, 5, 7]);
    assert_eq!(output.grants[1].kind, SourceKind::HrRow(5));
    assert_eq!(
        output.grants[0].reason.as_deref(),
        Some("HR export: Account\nExecutive,\nNorth, Sales")
    );
}

#[test]
fn crlf_and_blank_trailing_rows_are_ignored() {
    let text = format!(
        "{HEADER}\r\n1,a@example.com,Sales,Rep,Active,,\r\n\r\n,,,,,,\r\n  ,, ,,,,\r\n\r\n"
    );
    let output = Workspace::new().read(text.as_bytes()).unwrap();
    assert_eq!(keys(&output), ["a@example.com acme/sales member"]);
    assert_eq!(output.records, 1);
    assert!(output.row_errors.is_empty());
}

#[test]
fn a_blank_row_in_the_middle_is_skipped_but_counted() {
    let export = csv(&[
        "1,a@example.com,Sales,Rep,Active,,",
        ",,,,,,",
        "2,b@example.com,Sales,Rep,Active,,",
    ]);
    let output = Workspace::new().read(&export).unwrap();
    let lines: Vec<u32> = output.grants.iter().map(|g| g.origin.line).collect();
    assert_eq!(lines, [2, 4]);
    assert_eq!(output.records, 2);
}

#[test]
fn headers_match_trimmed_and_case_insensitively() {
    let text = "\u{feff} employee # ,WORK EMAIL,department , Job title,STATUS,hire date,termination DATE\n\
                1,A@Example.com,Sales,Rep,Active,,\n";
    let output = Workspace::new().read(text.as_bytes()).unwrap();
    assert_eq!(keys(&output), ["a@example.com acme/sales member"]);
}

#[test]
fn a_missing_column_stops_the_source_and_lists_the_headers() {
    let text =
        "Employee #,Email,Department,Job Title,Status,Hire Date\n1,a@x.com,Sales,Rep,Active,\n";
    let err = Workspace::new().read(text.as_bytes()).unwrap_err();
    let Error::MissingColumns { missing, found, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(missing, &["Work Email", "Termination Date"]);
    assert_eq!(found.len(), 6);
    assert_eq!(
        err.to_string(),
        "export.csv:1: the header has no column \"Work Email\", \"Termination Date\"; \
         headers found: \"Employee #\", \"Email\", \"Department\", \"Job Title\", \"Status\", \
         \"Hire Date\""
    );
}

#[test]
fn a_header_mapped_twice_in_the_export_is_refused() {
    let text = format!("{HEADER},Department\n1,a@x.com,Sales,Rep,Active,,,Support\n");
    let err = Workspace::new().read(text.as_bytes()).unwrap_err();
    assert!(matches!(&err, Error::AmbiguousColumn { header, .. } if header == "Department"));
}

#[test]
fn a_header_without_rows_is_an_empty_export() {
    for text in [
        format!("{HEADER}\n"),
        format!("{HEADER}\r\n,,,,,,\r\n\r\n"),
        String::new(),
    ] {
        let err = Workspace::new().read(text.as_bytes()).unwrap_err();
        assert!(matches!(err, Error::Empty { .. }), "{err}");
        assert_eq!(err.to_string(), "export.csv: the export has no data rows");
    }
}

#[test]
fn windows_1252_bytes_in_a_declared_utf8_file_are_an_error_at_their_line() {
    let text = sample(",");
    let mapping = MAPPING.replace("encoding: auto", "encoding: utf-8");
    let err = Workspace::new()
        .read_with(&mapping, &windows_1252(&text))
        .unwrap_err();
    let Error::Encoding { line, encoding, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!((*line, *encoding), (2, "utf-8"));
    assert!(
        err.to_string()
            .starts_with("export.csv:2: not valid utf-8: byte 0xE4 is not UTF-8"),
        "{err}"
    );
}

#[test]
fn an_export_cut_inside_a_quoted_field_is_an_error() {
    let mut text = String::from_utf8(csv(&[
        "1,a@example.com,Sales,Rep,Active,,",
        "2,b@example.com,\"Sales, EMEA\",Rep,Active,,",
    ]))
    .unwrap();
    text.truncate(text.find("EMEA").unwrap());
    let err = Workspace::new().read(text.as_bytes()).unwrap_err();
    assert!(
        matches!(err, Error::UnterminatedQuote { line: 3, .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "export.csv:3: a quoted field opened here is never closed; the export looks truncated"
    );
}

#[test]
fn an_export_cut_between_fields_leaves_a_short_row_error() {
    let mut text = String::from_utf8(csv(&[
        "1,a@example.com,Sales,Rep,Active,,",
        "2,b@example.com,Sales,Rep,Active,,",
    ]))
    .unwrap();
    text.truncate(text.rfind(",Rep").unwrap());
    let output = Workspace::new().read(text.as_bytes()).unwrap();
    assert_eq!(keys(&output), ["a@example.com acme/sales member"]);
    assert_eq!(
        row_errors(&output),
        [
            "3: row has 3 fields but the header has 7; look for a missing or extra delimiter, \
          or an unquoted value that contains one"
        ]
    );
}

#[test]
fn the_newest_export_by_name_is_read() {
    let ws = Workspace::new();
    ws.write(
        "exports/employees-2026-11-30.csv",
        &csv(&["1,old@example.com,Sales,Rep,Active,,"]),
    );
    ws.write(
        "exports/employees-2026-12-01.csv",
        &csv(&["1,new@example.com,Sales,Rep,Active,,"]),
    );
    let mapping = ws.mapping(MAPPING).unwrap();
    let output = hr::load_export(ws.path(), "exports/employees-*.csv", &mapping, now()).unwrap();
    assert_eq!(keys(&output), ["new@example.com acme/sales member"]);
    assert_eq!(
        &*output.grants[0].origin.file,
        "exports/employees-2026-12-01.csv"
    );
    assert_eq!(output.name, "exports/employees-*.csv");
    assert_eq!(
        output.files,
        [
            ws.path().join("exports/employees-2026-12-01.csv"),
            ws.path().join("mapping.yaml")
        ]
    );

    let err = hr::load_export(ws.path(), "exports/staff-*.csv", &mapping, now()).unwrap_err();
    assert_eq!(err.to_string(), "no HR export matches exports/staff-*.csv");
}

#[test]
fn read_export_reports_an_unreadable_file() {
    let ws = Workspace::new();
    let mapping = ws.mapping(MAPPING).unwrap();
    let err =
        hr::read_export(&ws.path().join("absent.csv"), "absent.csv", &mapping, now()).unwrap_err();
    assert!(matches!(err, Error::Unreadable { .. }));
    assert_eq!(err.to_string(), "absent.csv: cannot read the file");
}

#[test]
fn terminations_on_daylight_saving_days_end_at_local_23_59_59() {
    // Chicago springs forward on 2026-03-08: the day ends at 23:59:59 CDT.
    let export = csv(&["1,a@example.com,Sales,Rep,Terminated,03/01/2020,03/08/2026"]);
    let output = Workspace::new().read(&export).unwrap();
    assert_eq!(
        output.grants[0].effective_to,
        Some(ts("2026-03-09T04:59:59Z"))
    );
    assert_eq!(
        output.grants[0].effective_from,
        Some(ts("2020-03-01T06:00:00Z"))
    );

    // Berlin falls back on 2026-10-25: the day ends at 23:59:59 CET.
    let mapping = MAPPING
        .replace("America/Chicago", "Europe/Berlin")
        .replace("%m/%d/%Y", "%d.%m.%Y");
    let export = csv(&["1,a@example.com,Sales,Rep,Terminated,25.10.2026,25.10.2026"]);
    let output = Workspace::new().read_with(&mapping, &export).unwrap();
    assert_eq!(
        output.grants[0].effective_from,
        Some(ts("2026-10-24T22:00:00Z"))
    );
    assert_eq!(
        output.grants[0].effective_to,
        Some(ts("2026-10-25T22:59:59Z"))
    );
}

#[test]
fn dates_in_iso_form_are_accepted_beside_the_format() {
    let export = csv(&[
        "1,a@example.com,Sales,Rep,Active,2026-12-14,",
        "2,b@example.com,Sales,Rep,Active,2026-12-14T00:00:00-06:00,12/31/2026",
    ]);
    let output = Workspace::new().read(&export).unwrap();
    for grant in &output.grants {
        assert_eq!(grant.effective_from, Some(ts("2026-12-14T06:00:00Z")));
    }
    assert_eq!(
        output.grants[1].effective_to,
        Some(ts("2027-01-01T05:59:59Z"))
    );
}
