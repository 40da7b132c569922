//! Grants files: YAML written by people.
//!
//! A file lists grants in two forms, one identity per entry or one role for a
//! group of identities; both become one [`DesiredGrant`] per identity, each
//! keeping the line it was written on. A file is read whole or not at all: any
//! error in it stops the source, so a half-written file never yields a
//! partial desired state.

use std::path::Path;
use std::sync::Arc;

use jiff::Timestamp;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{
    DesiredGrant, FileError, IdentityRef, NodeRef, Origin, RoleRef, SourceKind, SourceOutput,
};
use crate::yaml;

/// A grants file as written.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantsFile {
    /// The environment these grants are for; must match when present.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub environment: Option<Spanned<String>>,
    /// Who holds which role where.
    pub grants: Vec<GrantEntry>,
}

/// One entry: `identity` for a single grant, or `identities` for the same
/// role at the same node for many.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{"required": ["identity"]}, {"required": ["identities"]}]))]
pub struct GrantEntry {
    /// An email, `external:<HR id>`, or a UUID.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub identity: Option<Spanned<String>>,
    /// Many identities that get the same role at the same node.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub identities: Option<Vec<Spanned<String>>>,
    /// The path of node keys from a root (`acme/engineering/api`), or a UUID.
    #[schemars(with = "String")]
    pub node: Spanned<String>,
    /// A role key, or a UUID.
    #[schemars(with = "String")]
    pub role: Spanned<String>,
    /// RFC 3339, or a date (the start of that day, UTC).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub effective_from: Option<Spanned<String>>,
    /// RFC 3339, or a date (the end of that day, 23:59:59 UTC).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub effective_to: Option<Spanned<String>>,
    /// Why the grant exists; shown in plans and reports.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Reads every grants file that `pattern` matches under `base`.
///
/// # Errors
///
/// Every problem of every file, each with its file, line and column; when
/// there is any, no grant of the source is returned.
pub fn load(base: &Path, pattern: &str, environment: &str) -> Result<SourceOutput, Vec<FileError>> {
    let files = super::expand_glob(base, pattern).map_err(|e| {
        vec![FileError::new(
            Arc::from(pattern),
            0,
            0,
            format!("cannot list the files of this glob: {e}"),
        )]
    })?;
    let mut output = SourceOutput {
        name: pattern.to_owned(),
        ..SourceOutput::default()
    };
    let mut errors = Vec::new();
    read_files(base, &files, environment, |_, result| match result {
        Ok((grants, entries)) => {
            output.grants.extend(grants);
            output.records += entries;
        }
        Err(mut file_errors) => errors.append(&mut file_errors),
    });
    output.files = files;
    if errors.is_empty() {
        Ok(output)
    } else {
        Err(errors)
    }
}

pub(crate) type FileResult = Result<(Vec<DesiredGrant>, usize), Vec<FileError>>;

/// Reads `files` on as many threads as there are cores and hands their
/// results, each with its file, to `sink` in the order of `files`, each as soon as it and every
/// file before it are read, so that few files' grants are held twice.
/// Parsing YAML is nearly all of the cost of a large source, and files are
/// independent.
pub(crate) fn read_files(
    base: &Path,
    files: &[std::path::PathBuf],
    environment: &str,
    mut sink: impl FnMut(&std::path::PathBuf, FileResult),
) {
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(files.len());
    let read_one =
        |path: &std::path::PathBuf| read_file(path, super::display_path(base, path), environment);
    if workers <= 1 {
        for path in files {
            sink(path, read_one(path));
        }
        return;
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let (done, results) = std::sync::mpsc::channel::<(usize, FileResult)>();
        for _ in 0..workers {
            let done = done.clone();
            let (next, read_one) = (&next, &read_one);
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(path) = files.get(index) else { return };
                    if done.send((index, read_one(path))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done);
        let mut waiting = std::collections::BTreeMap::new();
        let mut expected = 0;
        for (index, result) in results {
            waiting.insert(index, result);
            while let Some(result) = waiting.remove(&expected) {
                sink(&files[expected], result);
                expected += 1;
            }
        }
    });
}

/// Reads one grants file; `shown` is how its name appears in messages.
/// Returns the grants and the number of entries.
pub fn read_file(
    path: &Path,
    shown: Arc<str>,
    environment: &str,
) -> Result<(Vec<DesiredGrant>, usize), Vec<FileError>> {
    let fail = |line: u64, column: u64, message: String| {
        vec![FileError::new(shown.clone(), line, column, message)]
    };
    let bytes =
        std::fs::read(path).map_err(|e| fail(0, 0, format!("cannot read the file: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        fail(
            line,
            0,
            "the file is not UTF-8 text; save grants files as UTF-8".into(),
        )
    })?;
    if text.trim().is_empty() {
        return Err(fail(
            0,
            0,
            "the file is empty; a grants file needs a `grants:` list".into(),
        ));
    }
    let file: GrantsFile = yaml::from_str(&text).map_err(|e| fail(e.line, e.column, e.message))?;
    parse_file(file, &shown, environment)
}

fn parse_file(
    file: GrantsFile,
    shown: &Arc<str>,
    environment: &str,
) -> Result<(Vec<DesiredGrant>, usize), Vec<FileError>> {
    let mut errors = Vec::new();
    let error_at = |at: &serde_saphyr::Location, message: String| {
        FileError::new(shown.clone(), at.line(), at.column(), message)
    };
    if let Some(declared) = &file.environment
        && !declared.value.trim().eq_ignore_ascii_case(environment)
    {
        errors.push(error_at(
            &declared.referenced,
            format!(
                "this file is for environment \"{}\" but is a source of environment \"{environment}\"; fix `environment:` or the config's sources",
                declared.value
            ),
        ));
        return Err(errors);
    }

    let mut grants = Vec::new();
    let entries = file.grants.len();
    for entry in file.grants {
        let node =
            NodeRef::parse(&entry.node.value).map_err(|m| error_at(&entry.node.referenced, m));
        let role =
            RoleRef::parse(&entry.role.value).map_err(|m| error_at(&entry.role.referenced, m));
        let from = entry
            .effective_from
            .as_ref()
            .map(|value| {
                parse_instant(&value.value, false).map_err(|m| error_at(&value.referenced, m))
            })
            .transpose();
        let to = entry
            .effective_to
            .as_ref()
            .map(|value| {
                parse_instant(&value.value, true).map_err(|m| error_at(&value.referenced, m))
            })
            .transpose();
        let who: Vec<&Spanned<String>> = match (&entry.identity, &entry.identities) {
            (Some(one), None) => vec![one],
            (None, Some(many)) if !many.is_empty() => many.iter().collect(),
            (None, Some(_)) => {
                errors.push(error_at(
                    &entry.node.referenced,
                    "`identities` is empty; list at least one identity or remove the entry".into(),
                ));
                continue;
            }
            (Some(one), Some(_)) => {
                errors.push(error_at(
                    &one.referenced,
                    "give `identity` or `identities`, not both".into(),
                ));
                continue;
            }
            (None, None) => {
                errors.push(error_at(
                    &entry.node.referenced,
                    "this grant names no `identity` (or `identities` list)".into(),
                ));
                continue;
            }
        };
        let (node, role, from, to) = match (node, role, from, to) {
            (Ok(node), Ok(role), Ok(from), Ok(to)) => (node, role, from, to),
            (node, role, from, to) => {
                errors.extend(node.err());
                errors.extend(role.err());
                errors.extend(from.err());
                errors.extend(to.err());
                continue;
            }
        };
        if let (Some(from_at), Some(to_at)) = (from, to)
            && from_at > to_at
        {
            let at = &entry
                .effective_to
                .as_ref()
                .expect("parsed above")
                .referenced;
            errors.push(error_at(
                at,
                format!("`effective_to` {to_at} is before `effective_from` {from_at}"),
            ));
            continue;
        }
        for identity in who {
            match IdentityRef::parse(&identity.value) {
                Ok(reference) => grants.push(DesiredGrant {
                    identity: reference,
                    node: node.clone(),
                    role: role.clone(),
                    effective_from: from,
                    effective_to: to,
                    reason: entry.reason.clone(),
                    origin: Origin::new(
                        shown.clone(),
                        identity.referenced.line() as u32,
                        identity.referenced.column() as u32,
                    ),
                    kind: SourceKind::Grants,
                }),
                Err(message) => errors.push(error_at(&identity.referenced, message)),
            }
        }
    }
    if errors.is_empty() {
        Ok((grants, entries))
    } else {
        Err(errors)
    }
}

/// An RFC 3339 instant, or a date: the start of that day in UTC for a window's
/// start, its last second for a window's end.
pub fn parse_instant(text: &str, end_of_day: bool) -> Result<Timestamp, String> {
    let text = text.trim();
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(at);
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        let time = if end_of_day {
            jiff::civil::time(23, 59, 59, 0)
        } else {
            jiff::civil::time(0, 0, 0, 0)
        };
        return date
            .to_datetime(time)
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|zoned| zoned.timestamp())
            .map_err(|e| format!("\"{text}\": {e}"));
    }
    Err(format!(
        "\"{text}\" is not a time; write RFC 3339 like 2026-12-31T23:59:59Z, or a date like 2026-12-31"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<DesiredGrant>, Vec<FileError>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eng.yaml");
        std::fs::write(&path, text).unwrap();
        read_file(&path, Arc::from("eng.yaml"), "Production").map(|(grants, _)| grants)
    }

    #[test]
    fn both_forms_yield_one_grant_per_identity_with_its_line() {
        let grants = read(
            "environment: Production\ngrants:\n  - identity: alice@example.com\n    node: acme/eng\n    role: dev\n    effective_to: 2026-12-31\n  - node: acme\n    role: viewer\n    identities:\n      - bob@example.com\n      - external:E1042\n",
        )
        .unwrap();
        assert_eq!(grants.len(), 3);
        assert_eq!(grants[0].origin.line, 3);
        assert_eq!(
            grants[0].effective_to,
            Some("2026-12-31T23:59:59Z".parse().unwrap())
        );
        assert_eq!(grants[1].origin.line, 10);
        assert_eq!(grants[2].identity, IdentityRef::External("E1042".into()));
        assert_eq!(grants[2].origin.line, 11);
    }

    #[test]
    fn every_error_of_a_file_is_reported_with_its_place() {
        let errors = read(
            "grants:\n  - identity: alice\n    node: acme\n    role: dev\n  - identity: bob@example.com\n    node: acme\n    role: dev\n    effective_from: soon\n",
        )
        .unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(text[0].starts_with("eng.yaml:2:"), "{text:?}");
        assert!(text[1].starts_with("eng.yaml:8:"), "{text:?}");
    }

    #[test]
    fn a_file_for_another_environment_is_refused() {
        let errors = read("environment: Development\ngrants: []\n").unwrap_err();
        assert!(errors[0].to_string().contains("Development"), "{errors:?}");
    }

    #[test]
    fn a_file_that_is_not_utf8_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eng.yaml");
        std::fs::write(&path, b"grants:\n  - identity: j\xfcrgen@example.com\n").unwrap();
        let errors = read_file(&path, Arc::from("eng.yaml"), "Production").unwrap_err();
        assert!(
            errors[0]
                .to_string()
                .starts_with("eng.yaml:2: the file is not UTF-8"),
            "{errors:?}"
        );
    }

    #[test]
    fn an_empty_file_is_an_error_not_an_empty_source() {
        assert!(read("").is_err());
        assert!(read("grants: []\n").unwrap().is_empty());
    }

    #[test]
    fn a_window_that_ends_before_it_starts_is_refused() {
        let errors = read(
            "grants:\n  - identity: a@example.com\n    node: acme\n    role: dev\n    effective_from: 2026-05-01\n    effective_to: 2026-04-01\n",
        )
        .unwrap_err();
        assert!(errors[0].to_string().contains("before"), "{errors:?}");
    }
}
