//! From rows to grants: identity, duplicates, dates, terminations and rules.
//!
//! Each row is all or nothing: a row with any problem yields no grant and one
//! row error that says what to fix, so a half-read person never reaches the
//! plan. Rows are first keyed by identity, so that a person listed twice with
//! different data is caught before either row yields grants. Two rows are the
//! same data when every mapped column holds the same trimmed text (an email
//! in any case); other columns do not take part, since they yield nothing.
//!
//! A termination date before the hire date is a row error too: it is how a
//! rehire looks when the old termination date was left in place, and reading
//! it either way could lock the person out or keep a leaver in.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;

use super::mapping::{
    DEPARTMENT, HIRE_DATE, IdentityColumn, Mapping, STATUS, TERMINATION_DATE, TITLE,
};
use super::table::Row;
use super::template::RenderError;
use crate::desired::{DesiredGrant, IdentityRef, NodeRef, Origin, RowError, SourceKind};

/// What the rows of one export need to be read.
pub(super) struct Sheet<'a> {
    /// The export as shown in origins.
    pub(super) file: Arc<str>,
    pub(super) mapping: &'a Mapping,
    pub(super) header_len: usize,
    /// For each mapped column, its field index in the row.
    pub(super) fields: Vec<usize>,
    pub(super) now: Timestamp,
}

/// What the rows yielded.
#[derive(Debug, Default)]
pub(super) struct RowsRead {
    pub(super) grants: Vec<DesiredGrant>,
    pub(super) errors: Vec<RowError>,
    /// Rows of people who are terminated at `now`.
    pub(super) terminated: usize,
    /// Identical repeats of an earlier row, merged into it.
    pub(super) merged: usize,
}

/// A row whose identity is known, with its mapped values trimmed.
struct Person {
    line: u32,
    identity: IdentityRef,
    values: Vec<String>,
}

pub(super) fn read_rows(sheet: &Sheet<'_>, rows: &[Row]) -> RowsRead {
    let mut out = RowsRead::default();
    let error = |line: u32, message: String| RowError {
        origin: Origin::new(sheet.file.clone(), line, 0),
        message,
    };

    // Who each row is about.
    let mut people = Vec::with_capacity(rows.len());
    for row in rows {
        match person(sheet, row) {
            Ok(person) => people.push(person),
            Err(message) => out.errors.push(error(row.line, message)),
        }
    }

    // One row per person: identical repeats merge, differing ones are all
    // skipped, since there is no telling which of them is right.
    let mut rows_of: HashMap<&IdentityRef, Vec<usize>> = HashMap::new();
    for (index, person) in people.iter().enumerate() {
        rows_of.entry(&person.identity).or_default().push(index);
    }
    let mut skip = vec![false; people.len()];
    for members in rows_of.values().filter(|m| m.len() > 1) {
        let first = &people[members[0]];
        if members.iter().all(|&m| people[m].values == first.values) {
            for &m in &members[1..] {
                skip[m] = true;
                out.merged += 1;
                tracing::debug!(
                    file = %sheet.file,
                    line = people[m].line,
                    first = first.line,
                    "identical duplicate row merged"
                );
            }
            continue;
        }
        for &m in members {
            skip[m] = true;
            out.errors
                .push(error(people[m].line, conflict(sheet, &people, members, m)));
        }
    }

    // Grants of everyone else.
    for (person, skip) in people.iter().zip(skip) {
        if skip {
            continue;
        }
        match grants(sheet, person) {
            Ok((grants, terminated)) => {
                out.grants.extend(grants);
                out.terminated += usize::from(terminated);
            }
            Err(message) => out.errors.push(error(person.line, message)),
        }
    }
    out.errors.sort_by_key(|e| e.origin.line);
    out
}

fn header<'m>(sheet: &Sheet<'m>, column: usize) -> &'m str {
    &sheet.mapping.columns[column].header
}

fn value<'p>(sheet: &Sheet<'_>, person: &'p Person, name: &str) -> Option<&'p str> {
    sheet
        .mapping
        .column(name)
        .map(|column| person.values[column].as_str())
}

fn person(sheet: &Sheet<'_>, row: &Row) -> Result<Person, String> {
    let found = row.fields.len();
    let short = found < sheet.header_len;
    let long = row.fields[sheet.header_len.min(found)..]
        .iter()
        .any(|f| !f.trim().is_empty());
    if short || long {
        return Err(format!(
            "row has {found} fields but the header has {}; look for a missing or extra \
             delimiter, or an unquoted value that contains one",
            sheet.header_len
        ));
    }

    let values: Vec<String> = sheet
        .fields
        .iter()
        .map(|&field| row.fields[field].trim().to_owned())
        .collect();
    let (name, what) = match sheet.mapping.identity {
        IdentityColumn::Email => (super::mapping::EMAIL, "email"),
        IdentityColumn::EmployeeId => (super::mapping::EMPLOYEE_ID, "employee id"),
    };
    let column = sheet
        .mapping
        .column(name)
        .expect("a mapping always maps its identity column");
    let text = values[column].as_str();
    if text.is_empty() {
        return Err(format!(
            "{what} missing: \"{}\" is empty; fill it in",
            header(sheet, column)
        ));
    }
    let identity = match sheet.mapping.identity {
        IdentityColumn::Email => {
            if !text.contains('@') || text.contains(char::is_whitespace) {
                return Err(format!(
                    "\"{}\" value \"{text}\" is not an email address",
                    header(sheet, column)
                ));
            }
            IdentityRef::Email(text.to_lowercase())
        }
        IdentityColumn::EmployeeId => IdentityRef::External(text.to_owned()),
    };
    // Emails match case-insensitively, so two rows that differ only in the
    // case of the email are the same data.
    let mut values = values;
    if let IdentityRef::Email(email) = &identity {
        values[column] = email.clone();
    }
    Ok(Person {
        line: row.line,
        identity,
        values,
    })
}

fn conflict(sheet: &Sheet<'_>, people: &[Person], members: &[usize], me: usize) -> String {
    let mine = &people[me];
    let others: Vec<&Person> = members
        .iter()
        .filter(|&&m| m != me)
        .map(|&m| &people[m])
        .collect();
    let lines: Vec<String> = others.iter().map(|p| p.line.to_string()).collect();
    let differing = others
        .iter()
        .find_map(|other| {
            (0..mine.values.len())
                .find(|&c| mine.values[c] != other.values[c])
                .map(|c| (other, c))
        })
        .map(|(other, c)| {
            format!(
                " ({}: \"{}\" here, \"{}\" on line {})",
                header(sheet, c),
                mine.values[c],
                other.values[c],
                other.line
            )
        })
        .unwrap_or_default();
    format!(
        "{} also appears on line{} {} with different data{differing}; keep one row per person",
        mine.identity,
        if lines.len() > 1 { "s" } else { "" },
        lines.join(", "),
    )
}

/// When a person's grants hold, from their hire and termination dates.
struct Window {
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    /// Terminated by status, or by a termination date already past.
    terminated: bool,
}

fn window(sheet: &Sheet<'_>, person: &Person) -> Result<Window, String> {
    let dates = &sheet.mapping.dates;
    let read_date = |name: &str, what: &str| -> Result<Option<jiff::civil::Date>, String> {
        let Some(column) = sheet.mapping.column(name) else {
            return Ok(None);
        };
        let text = person.values[column].as_str();
        if text.is_empty() {
            return Ok(None);
        }
        dates.parse(text).map(Some).ok_or_else(|| {
            format!(
                "{what} is not a date: \"{text}\" in \"{}\"; expected {}",
                header(sheet, column),
                dates.expected()
            )
        })
    };
    let hired = read_date(HIRE_DATE, "hire date")?;
    let leaves = read_date(TERMINATION_DATE, "termination date")?;
    let out_of_range = |e: jiff::Error| format!("date out of range: {e}");
    let effective_from = hired
        .map(|d| dates.day_start(d))
        .transpose()
        .map_err(out_of_range)?;
    let effective_to = leaves
        .map(|d| dates.day_end(d))
        .transpose()
        .map_err(out_of_range)?;
    if let (Some(hired), Some(leaves)) = (hired, leaves)
        && leaves < hired
    {
        return Err(format!(
            "termination date {leaves} is before hire date {hired}; for a rehire, clear the old \
             termination date"
        ));
    }

    let status = value(sheet, person, STATUS).unwrap_or_default();
    let by_status = sheet
        .mapping
        .terminated_status
        .contains(&status.to_lowercase());
    if by_status && effective_to.is_none() {
        let column = sheet
            .mapping
            .column(TERMINATION_DATE)
            .map_or("termination date", |c| {
                sheet.mapping.columns[c].header.as_str()
            });
        return Err(format!(
            "status \"{status}\" marks a termination but \"{column}\" is empty; add the last \
             working day"
        ));
    }
    Ok(Window {
        from: effective_from,
        to: effective_to,
        terminated: by_status || effective_to.is_some_and(|end| end < sheet.now),
    })
}

/// The grants of one person's row, and whether the person is terminated.
fn grants(sheet: &Sheet<'_>, person: &Person) -> Result<(Vec<DesiredGrant>, bool), String> {
    let window = window(sheet, person)?;
    let reason = [TITLE, DEPARTMENT]
        .iter()
        .filter_map(|name| value(sheet, person, name))
        .filter(|v| !v.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    let reason = (!reason.is_empty()).then(|| format!("HR export: {reason}"));

    let mut grants = Vec::new();
    for rule in &sheet.mapping.rules {
        let applies = rule
            .when
            .iter()
            .all(|c| c.matcher.matches(&person.values[c.column]));
        if !applies {
            continue;
        }
        let node = rule.node.render(&person.values).map_err(|e| match e {
            RenderError::EmptyColumn(c) => format!(
                "rule {}: node {} needs \"{}\", which is empty on this row",
                rule.number,
                rule.node.text(),
                header(sheet, c)
            ),
            RenderError::EmptySlug(c) => format!(
                "rule {}: \"{}\" value \"{}\" has no letter or digit to make a node key of",
                rule.number,
                header(sheet, c),
                person.values[c]
            ),
        })?;
        let node = NodeRef::parse(&node).map_err(|e| format!("rule {}: {e}", rule.number))?;
        let mut origin = Origin::new(sheet.file.clone(), person.line, 0);
        origin.detail = Some(format!("rule {}", rule.number).into());
        grants.push(DesiredGrant {
            identity: person.identity.clone(),
            node,
            role: rule.role.clone(),
            effective_from: window.from,
            effective_to: window.to,
            reason: reason.clone(),
            origin,
            kind: SourceKind::HrRow(person.line),
        });
    }
    Ok((grants, window.terminated))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const MAPPING: &str = r#"
csv: {timezone: UTC}
columns: {email: Email, status: Status, termination_date: Left, department: Team}
terminated: {status: [Gone]}
rules:
  - node: "acme/{department|slug}"
    role: member
"#;

    fn read(rows: &[(u32, &[&str])]) -> RowsRead {
        let mapping = Mapping::parse(MAPPING, Path::new("mapping.yaml")).unwrap();
        let sheet = Sheet {
            file: Arc::from("export.csv"),
            mapping: &mapping,
            header_len: 4,
            fields: vec![0, 1, 2, 3],
            now: "2026-12-01T12:00:00Z".parse().unwrap(),
        };
        let rows: Vec<Row> = rows
            .iter()
            .map(|(line, fields)| Row {
                line: *line,
                fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            })
            .collect();
        read_rows(&sheet, &rows)
    }

    #[test]
    fn terminated_people_are_counted_by_status_or_past_date() {
        let read = read(&[
            (2, &["a@x.com", "Gone", "2026-01-31", "Ops"]),
            (3, &["b@x.com", "Active", "2026-11-30", "Ops"]),
            (4, &["c@x.com", "Active", "2026-12-01", "Ops"]),
            (5, &["d@x.com", "Active", "", "Ops"]),
        ]);
        assert!(read.errors.is_empty());
        assert_eq!(read.grants.len(), 4);
        // c leaves at the end of today: not yet terminated.
        assert_eq!(read.terminated, 2);
    }

    #[test]
    fn identical_repeats_are_counted_as_merged() {
        let row: &[&str] = &["a@x.com", "Active", "", "Ops"];
        let read = read(&[(2, row), (3, row), (9, row)]);
        assert_eq!(read.merged, 2);
        assert_eq!(read.grants.len(), 1);
        assert_eq!(read.grants[0].origin.line, 2);
    }

    #[test]
    fn a_row_yields_all_its_grants_or_none() {
        let read = read(&[(2, &["a@x.com", "Gone", "", "Ops"])]);
        assert!(read.grants.is_empty());
        assert_eq!(read.errors.len(), 1);
        assert_eq!(read.errors[0].origin.to_string(), "export.csv:2");
    }
}
