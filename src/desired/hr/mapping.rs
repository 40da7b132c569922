//! The mapping file: how an HR export's columns become grants.
//!
//! [`Mapping::parse`] reads the YAML strictly (duplicate keys, unknown fields
//! and YAML 1.1 booleans are errors) and then checks everything that can be
//! checked before an export is seen: the time zone, the date format, every
//! `/regex/`, every template and every column a rule names. Each problem is
//! reported at the file, line and column of the value at fault.
//!
//! Rules and templates name columns by their mapped names (the keys of
//! `columns`), never by raw header text: the header may change spelling
//! between HR systems, the rules should not have to. Besides the named
//! columns (`employee_id`, `email`, `department`, `title`, `status`,
//! `hire_date`, `termination_date`), a mapping may add its own, such as
//! `site: Location`, for rules and templates to use.
//!
//! A `when` value is compared trimmed and case-insensitively; a `/regex/`
//! is matched as written (case-sensitive unless it starts with `(?i)`) against
//! the trimmed value, anywhere in it unless anchored.

use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use jiff::tz::TimeZone;
use regex::Regex;
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;
use serde_saphyr::{Location, MessageFormatter};

use super::Error;
use super::dates::DateReader;
use super::decode::Encoding;
use super::template::Template;
use crate::desired::{NodeRef, RoleRef};

pub(super) const EMPLOYEE_ID: &str = "employee_id";
pub(super) const EMAIL: &str = "email";
pub(super) const DEPARTMENT: &str = "department";
pub(super) const TITLE: &str = "title";
pub(super) const STATUS: &str = "status";
pub(super) const HIRE_DATE: &str = "hire_date";
pub(super) const TERMINATION_DATE: &str = "termination_date";

/// A parsed and checked mapping file.
#[derive(Debug, Clone)]
pub struct Mapping {
    path: PathBuf,
    /// `None` sniffs the delimiter from the header line.
    pub(super) delimiter: Option<u8>,
    pub(super) encoding: Encoding,
    pub(super) dates: DateReader,
    pub(super) columns: Vec<Column>,
    pub(super) identity: IdentityColumn,
    /// Lowercased status values that mark a person as terminated.
    pub(super) terminated_status: Vec<String>,
    pub(super) rules: Vec<Rule>,
}

/// A mapped column: the name rules use, and the header text it stands for.
#[derive(Debug, Clone)]
pub(super) struct Column {
    pub(super) name: String,
    pub(super) header: String,
}

/// Which column says who a row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum IdentityColumn {
    Email,
    EmployeeId,
}

#[derive(Debug, Clone)]
pub(super) struct Rule {
    /// 1-based, as shown in origins (`rule 2`).
    pub(super) number: usize,
    pub(super) when: Vec<Condition>,
    pub(super) node: Template,
    pub(super) role: RoleRef,
}

#[derive(Debug, Clone)]
pub(super) struct Condition {
    /// Index into [`Mapping::columns`].
    pub(super) column: usize,
    pub(super) matcher: Matcher,
}

#[derive(Debug, Clone)]
pub(super) enum Matcher {
    /// Compared trimmed and case-insensitively; stored lowercased.
    Exact(String),
    Pattern(Regex),
}

impl Matcher {
    pub(super) fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(expected) => value.trim().to_lowercase() == *expected,
            Matcher::Pattern(regex) => regex.is_match(value.trim()),
        }
    }
}

impl Mapping {
    /// Reads and checks a mapping file.
    ///
    /// # Errors
    ///
    /// [`Error::Unreadable`] when the file cannot be read, and
    /// [`Error::MappingInvalid`] with the line and column of the first problem
    /// otherwise.
    pub fn load(path: &Path) -> Result<Mapping, Error> {
        let bytes = std::fs::read(path).map_err(|source| Error::Unreadable {
            path: path.to_owned(),
            source,
        })?;
        let text = match std::str::from_utf8(&bytes) {
            Ok(text) => text,
            Err(e) => {
                let valid = &bytes[..e.valid_up_to()];
                let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
                let column = 1 + valid.iter().rev().take_while(|&&b| b != b'\n').count();
                return Err(Error::MappingInvalid {
                    path: path.to_owned(),
                    line: line as u32,
                    column: column as u32,
                    message: "the mapping file is not UTF-8; save it as UTF-8".into(),
                });
            }
        };
        Mapping::parse(text, path)
    }

    /// Reads and checks mapping text; `path` is used for errors and for
    /// [`Mapping::path`].
    ///
    /// # Errors
    ///
    /// [`Error::MappingInvalid`] with the line and column of the first problem.
    pub fn parse(text: &str, path: &Path) -> Result<Mapping, Error> {
        let options = serde_saphyr::options! {
            strict_booleans: true,
            leading_zero_numbers_as_strings: true,
        };
        let raw: RawMapping =
            serde_saphyr::from_str_with_options(text, options).map_err(|e| yaml_error(path, &e))?;
        build(raw, path).map_err(|Invalid { at, message }| Error::MappingInvalid {
            path: path.to_owned(),
            line: at.line() as u32,
            column: at.column() as u32,
            message,
        })
    }

    /// The file this mapping was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

fn yaml_error(path: &Path, error: &serde_saphyr::Error) -> Error {
    let (line, column) = error
        .location()
        .map_or((0, 0), |at| (at.line() as u32, at.column() as u32));
    let mut inner = error;
    while let serde_saphyr::Error::WithSnippet { error, .. } = inner {
        inner = error;
    }
    let message = serde_saphyr::DefaultMessageFormatter.format_message(inner);
    // The parser's advice is for programmers; a mapping's author only needs
    // to know which key is repeated.
    let message = match message.split_once(", set DuplicateKeyPolicy") {
        Some((head, _)) => head.replace("duplicate mapping key:", "duplicate key"),
        None => message.into_owned(),
    };
    Error::MappingInvalid {
        path: path.to_owned(),
        line,
        column,
        message,
    }
}

/// A problem found after parsing, at the value it concerns.
struct Invalid {
    at: Location,
    message: String,
}

fn invalid<T>(at: Location, message: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid {
        at,
        message: message.into(),
    })
}

/// An HR mapping file as written.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMapping {
    /// How to read the export's bytes and dates.
    csv: RawCsv,
    /// Names for the export's columns: `name: Header text`. Rules and
    /// templates use the names; headers match trimmed and case-insensitively.
    #[schemars(schema_with = "columns_schema")]
    columns: Spanned<Pairs>,
    /// Which column says who a row is about: `email` (default), or
    /// `employee_id`, matched as `external:<id>`.
    #[serde(default)]
    identity: Option<IdentityColumn>,
    /// When a row counts as terminated, besides a termination date that
    /// has passed; its grants are end-dated, never deleted.
    #[serde(default)]
    #[schemars(with = "Option<RawTerminated>")]
    terminated: Option<Spanned<RawTerminated>>,
    /// Every rule whose `when` all match yields one grant for the row.
    #[schemars(with = "Vec<RawRule>", length(min = 1))]
    rules: Spanned<Vec<RawRule>>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Csv")]
struct RawCsv {
    /// The field separator; `auto` sniffs it from the header line.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    #[schemars(extend("enum" = [",", ";", "\t", "\\t", "tab", "|", "auto", null]))]
    delimiter: Option<Spanned<String>>,
    /// `auto` (UTF-8 with or without BOM, UTF-16 with BOM, else
    /// windows-1252), `utf-8`, `utf-16` or `windows-1252`.
    #[serde(default)]
    #[schemars(schema_with = "encoding_schema")]
    encoding: Option<Spanned<String>>,
    /// strftime, e.g. `%m/%d/%Y`; ISO 8601 dates are always accepted.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    date_format: Option<Spanned<String>>,
    /// The IANA time zone the export's dates mean, e.g. `America/Chicago`.
    #[schemars(with = "String")]
    timezone: Spanned<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Terminated")]
struct RawTerminated {
    /// Status values (case-insensitive) that mark a person as terminated.
    #[serde(default)]
    status: Vec<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Rule")]
struct RawRule {
    /// Column name to value: an exact value (trimmed, case-insensitive) or a
    /// `/regex/`. Every condition must match; no `when` matches every row.
    #[serde(default)]
    #[schemars(with = "std::collections::BTreeMap<String, String>")]
    when: Pairs,
    /// A node path; `{column}` is the cell, `{column|slug}` its slug.
    #[schemars(with = "String")]
    node: Spanned<String>,
    /// A role key, or a UUID.
    #[schemars(with = "String")]
    role: Spanned<String>,
}

/// The named columns a mapping may use, and the pattern of its own names.
fn columns_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let header = |description: &str| serde_json::json!({"type": "string", "minLength": 1, "description": description});
    schemars::json_schema!({
        "type": "object",
        "properties": {
            "employee_id": header("The HR system's id of the person."),
            "email": header("The person's work email."),
            "department": header("The department, for node templates."),
            "title": header("The job title, for `when` conditions."),
            "status": header("The employment status; see `terminated.status`."),
            "hire_date": header("Becomes `effective_from`: the start of that day."),
            "termination_date": header("Becomes `effective_to`: the end of that day."),
        },
        "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$"},
        "additionalProperties": {"type": "string", "minLength": 1}
    })
}

/// Encoding names are read case-insensitively, which JSON Schema's `enum`
/// cannot say: a pattern spells each letter both ways.
fn encoding_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let names = [
        "auto",
        "utf-8",
        "utf8",
        "utf-16",
        "utf16",
        "windows-1252",
        "cp1252",
    ];
    let alternatives: Vec<String> = names
        .iter()
        .map(|name| {
            name.chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    schemars::json_schema!({
        "type": ["string", "null"],
        "pattern": format!("^\\s*({})\\s*$", alternatives.join("|"))
    })
}

/// A YAML mapping of strings kept in file order, with the place of every key
/// and value (a plain map would lose the order that messages follow).
#[derive(Default)]
struct Pairs(Vec<(Spanned<String>, Spanned<String>)>);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Pairs, D::Error> {
        struct PairsVisitor(PhantomData<Pairs>);
        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = Pairs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of names to text")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    pairs.push(entry);
                }
                Ok(Pairs(pairs))
            }
        }
        deserializer.deserialize_map(PairsVisitor(PhantomData))
    }
}

fn build(raw: RawMapping, path: &Path) -> Result<Mapping, Invalid> {
    let delimiter = match &raw.csv.delimiter {
        None => None,
        Some(d) => parse_delimiter(&d.value).ok_or_else(|| Invalid {
            at: d.referenced,
            message: format!(
                "delimiter \"{}\" is not one of \",\" \";\" \"\\t\" \"|\" or auto",
                d.value.escape_debug()
            ),
        })?,
    };
    let encoding = match &raw.csv.encoding {
        None => Encoding::Auto,
        Some(e) => Encoding::from_name(&e.value).ok_or_else(|| Invalid {
            at: e.referenced,
            message: format!(
                "encoding \"{}\" is not one of auto, utf-8, utf-16, windows-1252",
                e.value
            ),
        })?,
    };
    let tz = &raw.csv.timezone;
    let zone = TimeZone::get(tz.value.trim()).or_else(|_| {
        invalid(
            tz.referenced,
            format!(
                "time zone \"{}\" is unknown; use an IANA name like America/Chicago",
                tz.value
            ),
        )
    })?;
    let format = raw.csv.date_format.as_ref();
    let dates = DateReader::new(format.map(|f| f.value.clone()), zone)
        .or_else(|message| invalid(format.map_or(tz.referenced, |f| f.referenced), message))?;

    let columns = build_columns(&raw.columns)?;
    let find = |name: &str| columns.iter().position(|c| c.name == name);

    let identity = raw.identity.unwrap_or(IdentityColumn::Email);
    let identity_name = match identity {
        IdentityColumn::Email => EMAIL,
        IdentityColumn::EmployeeId => EMPLOYEE_ID,
    };
    if find(identity_name).is_none() {
        return invalid(
            raw.columns.referenced,
            format!("columns has no {identity_name}, which identity: {identity_name} needs"),
        );
    }

    let mut terminated_status = Vec::new();
    if let Some(terminated) = &raw.terminated {
        terminated_status = terminated
            .value
            .status
            .iter()
            .map(|s| s.trim().to_lowercase())
            .collect();
        if !terminated_status.is_empty() {
            for needed in [STATUS, TERMINATION_DATE] {
                if find(needed).is_none() {
                    return invalid(
                        terminated.referenced,
                        format!("terminated.status needs a {needed} column under columns"),
                    );
                }
            }
        }
    }

    if raw.rules.value.is_empty() {
        return invalid(
            raw.rules.referenced,
            "rules is empty; add at least one rule",
        );
    }
    let mut rules = Vec::with_capacity(raw.rules.value.len());
    for (index, rule) in raw.rules.value.iter().enumerate() {
        rules.push(build_rule(index + 1, rule, &find)?);
    }

    Ok(Mapping {
        path: path.to_owned(),
        delimiter,
        encoding,
        dates,
        columns,
        identity,
        terminated_status,
        rules,
    })
}

fn parse_delimiter(text: &str) -> Option<Option<u8>> {
    match text {
        "," => Some(Some(b',')),
        ";" => Some(Some(b';')),
        "\t" | "\\t" | "tab" => Some(Some(b'\t')),
        "|" => Some(Some(b'|')),
        "auto" => Some(None),
        _ => None,
    }
}

fn build_columns(raw: &Spanned<Pairs>) -> Result<Vec<Column>, Invalid> {
    let mut columns: Vec<Column> = Vec::with_capacity(raw.value.0.len());
    for (name, header) in &raw.value.0 {
        let valid_name = name.value.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid_name {
            return invalid(
                name.referenced,
                format!(
                    "column name \"{}\" must be lowercase letters, digits and _ (like hire_date)",
                    name.value
                ),
            );
        }
        let text = header.value.trim();
        if text.is_empty() {
            return invalid(
                header.referenced,
                format!("column {} names no header", name.value),
            );
        }
        if let Some(other) = columns
            .iter()
            .find(|c| c.header.to_lowercase() == text.to_lowercase())
        {
            return invalid(
                header.referenced,
                format!(
                    "header \"{text}\" is already mapped as {}; map each header once",
                    other.name
                ),
            );
        }
        columns.push(Column {
            name: name.value.clone(),
            header: text.to_owned(),
        });
    }
    Ok(columns)
}

fn build_rule(
    number: usize,
    raw: &RawRule,
    find: &dyn Fn(&str) -> Option<usize>,
) -> Result<Rule, Invalid> {
    let mut when = Vec::with_capacity(raw.when.0.len());
    for (name, value) in &raw.when.0 {
        let Some(column) = find(name.value.trim()) else {
            return invalid(
                name.referenced,
                format!(
                    "rule {number}: when names column {}, which is not under columns",
                    name.value
                ),
            );
        };
        let text = value.value.trim();
        let matcher = match text.strip_prefix('/').and_then(|t| t.strip_suffix('/')) {
            Some(pattern) if text.len() >= 2 => match Regex::new(pattern) {
                Ok(regex) => Matcher::Pattern(regex),
                Err(e) => {
                    let reason = e.to_string();
                    // The last line of the regex error holds the cause.
                    let reason = reason.lines().last().unwrap_or_default().trim();
                    let reason = reason.strip_prefix("error: ").unwrap_or(reason);
                    return invalid(
                        value.referenced,
                        format!("rule {number}: /{pattern}/ is not a valid regex: {reason}"),
                    );
                }
            },
            _ => Matcher::Exact(text.to_lowercase()),
        };
        when.push(Condition { column, matcher });
    }

    let node = Template::parse(&raw.node.value, find)
        .or_else(|message| invalid(raw.node.referenced, format!("rule {number}: {message}")))?;
    if node.is_literal() {
        NodeRef::parse(&raw.node.value)
            .or_else(|message| invalid(raw.node.referenced, format!("rule {number}: {message}")))?;
    }
    let role = RoleRef::parse(&raw.role.value)
        .or_else(|message| invalid(raw.role.referenced, format!("rule {number}: {message}")))?;
    Ok(Rule {
        number,
        when,
        node,
        role,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPPING: &str = r#"
csv: {timezone: Europe/Berlin, delimiter: ";"}
columns:
  employee_id: "Employee #"
  email: Work Email
  department: Department
  title: Job Title
identity: employee_id
rules:
  - when: {title: " Lead ", department: "/^R&D/"}
    node: "acme/{department|slug}"
    role: lead
"#;

    fn parse(text: &str) -> Result<Mapping, Error> {
        Mapping::parse(text, Path::new("mapping.yaml"))
    }

    #[test]
    fn conditions_keep_their_order_and_columns() {
        let mapping = parse(MAPPING).unwrap();
        assert_eq!(mapping.delimiter, Some(b';'));
        assert_eq!(mapping.encoding, Encoding::Auto);
        assert_eq!(mapping.identity, IdentityColumn::EmployeeId);
        let rule = &mapping.rules[0];
        let columns: Vec<usize> = rule.when.iter().map(|c| c.column).collect();
        assert_eq!(columns, [3, 2]);
        assert_eq!(rule.role, RoleRef::Key("lead".into()));
    }

    #[test]
    fn exact_values_match_trimmed_and_case_insensitively() {
        let mapping = parse(MAPPING).unwrap();
        let exact = &mapping.rules[0].when[0].matcher;
        assert!(exact.matches("lead"));
        assert!(exact.matches("  LEAD "));
        assert!(!exact.matches("Team Lead"));
        let pattern = &mapping.rules[0].when[1].matcher;
        assert!(pattern.matches(" R&D Lab"));
        assert!(!pattern.matches("Lab R&D"));
    }

    #[test]
    fn delimiters_are_named_by_character_or_auto() {
        assert_eq!(parse_delimiter("\t"), Some(Some(b'\t')));
        assert_eq!(parse_delimiter("\\t"), Some(Some(b'\t')));
        assert_eq!(parse_delimiter("|"), Some(Some(b'|')));
        assert_eq!(parse_delimiter("auto"), Some(None));
        assert_eq!(parse_delimiter(";;"), None);
    }

    #[test]
    fn column_names_must_be_identifiers() {
        let text = MAPPING.replace("  title: Job Title", "  Job Title: Job Title");
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.starts_with("mapping.yaml:7:3: column name \"Job Title\" must be lowercase"),
            "{err}"
        );
    }

    #[test]
    fn a_mapping_that_is_not_utf8_is_an_error_at_the_bad_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mapping.yaml");
        std::fs::write(
            &path,
            b"csv:\n  timezone: Europe/Berlin # Zeitzone f\xFCr Daten\n",
        )
        .unwrap();
        let err = Mapping::load(&path).unwrap_err();
        assert!(
            matches!(
                err,
                Error::MappingInvalid {
                    line: 2,
                    column: 39,
                    ..
                }
            ),
            "{err}"
        );
    }
}
