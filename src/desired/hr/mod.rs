//! HR exports as a source: a CSV file read through a mapping file.
//!
//! Start at [`load_export`]. The steps, one module each: [`Mapping`] reads and
//! checks the mapping (`mapping.rs`, with node templates in `template.rs`);
//! `decode.rs` turns the export's bytes into text; `table.rs` splits the text
//! into a header and rows that remember their physical lines; `rows.rs` turns
//! each row into grants, reading dates through `dates.rs`.
//!
//! Problems with the whole file (unreadable, wrongly encoded, truncated, a
//! mapped column missing from the header, no rows) stop the source with an
//! [`Error`]. Problems with one row skip that row and are listed as
//! [`RowError`](crate::desired::RowError)s, each at the export's file and line.

mod dates;
mod decode;
mod mapping;
mod rows;
mod table;
mod template;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;

pub use mapping::Mapping;
pub(crate) use mapping::RawMapping as MappingFile;

use crate::desired::{SourceOutput, expand_glob};
use rows::Sheet;
use table::TableError;

/// Why an HR export, or its mapping, could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}:{line}:{column}: {message}", path.display())]
    MappingInvalid {
        path: PathBuf,
        line: u32,
        column: u32,
        message: String,
    },

    #[error("no HR export matches {pattern}")]
    NoExportFound { pattern: String },

    #[error("cannot look for HR exports matching {pattern}")]
    ExportSearchFailed {
        pattern: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: cannot read the file", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}:{line}: not valid {encoding}: {message}", path.display())]
    Encoding {
        path: PathBuf,
        line: u32,
        encoding: &'static str,
        message: String,
    },

    #[error(
        "{}:{line}: a quoted field opened here is never closed; the export looks truncated",
        path.display()
    )]
    UnterminatedQuote { path: PathBuf, line: u32 },

    #[error(
        "{}:1: the header has no column {}; headers found: {}",
        path.display(), quoted(missing), quoted(found)
    )]
    MissingColumns {
        path: PathBuf,
        /// Header texts as the mapping names them.
        missing: Vec<String>,
        /// The header as the export has it.
        found: Vec<String>,
    },

    #[error(
        "{}:1: the header has \"{header}\" more than once; rename one of them in the export",
        path.display()
    )]
    AmbiguousColumn { path: PathBuf, header: String },

    #[error("{}: the export has no data rows", path.display())]
    Empty { path: PathBuf },
}

fn quoted(names: &[String]) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    names.join(", ")
}

/// Reads the newest export matching `export_pattern` through `mapping`.
///
/// `export_pattern` is a glob relative to `base` (the config's directory);
/// the newest export is the last match by name. File names in origins and
/// errors are shown relative to `base`. Terminations are judged at `now`.
///
/// # Errors
///
/// [`Error::NoExportFound`] when nothing matches; otherwise as
/// [`read_export`].
pub fn load_export(
    base: &Path,
    export_pattern: &str,
    mapping: &Mapping,
    now: Timestamp,
) -> Result<SourceOutput, Error> {
    let found = expand_glob(base, export_pattern).map_err(|source| Error::ExportSearchFailed {
        pattern: export_pattern.to_owned(),
        source,
    })?;
    let Some(path) = found.last() else {
        return Err(Error::NoExportFound {
            pattern: export_pattern.to_owned(),
        });
    };
    let display = path.strip_prefix(base).unwrap_or(path).to_string_lossy();
    let mut output = read_export(path, &display, mapping, now)?;
    output.name = export_pattern.to_owned();
    Ok(output)
}

/// Reads one export file through `mapping`; `display_name` is how the file
/// is shown in origins and errors.
///
/// # Errors
///
/// Any [`Error`] but [`Error::NoExportFound`]: the file cannot be read, is not
/// valid in its encoding, ends inside a quoted field, lacks a mapped column
/// or has no data rows. Nothing is returned then, so the previous state of
/// the source stays in force.
pub fn read_export(
    path: &Path,
    display_name: &str,
    mapping: &Mapping,
    now: Timestamp,
) -> Result<SourceOutput, Error> {
    let shown = PathBuf::from(display_name);
    let bytes = std::fs::read(path).map_err(|source| Error::Unreadable {
        path: shown.clone(),
        source,
    })?;

    let decoded = decode::decode(&bytes, mapping.encoding).map_err(|e| Error::Encoding {
        path: shown.clone(),
        line: e.line,
        encoding: e.encoding,
        message: e.message,
    })?;
    let delimiter = mapping
        .delimiter
        .unwrap_or_else(|| table::sniff_delimiter(&decoded.text));
    let table = table::read_table(&decoded.text, delimiter).map_err(|e| match e {
        TableError::NoHeader => Error::Empty {
            path: shown.clone(),
        },
        TableError::UnterminatedQuote { line } => Error::UnterminatedQuote {
            path: shown.clone(),
            line,
        },
    })?;

    let fields = locate_columns(mapping, &table.header, &shown)?;
    if table.rows.is_empty() {
        return Err(Error::Empty { path: shown });
    }

    let sheet = Sheet {
        file: Arc::from(display_name),
        mapping,
        header_len: table.header.len(),
        fields,
        now,
    };
    let read = rows::read_rows(&sheet, &table.rows);
    tracing::debug!(
        file = display_name,
        encoding = decoded.encoding,
        delimiter = %char::from(delimiter).escape_debug(),
        records = table.rows.len(),
        grants = read.grants.len(),
        row_errors = read.errors.len(),
        terminated = read.terminated,
        merged = read.merged,
        "hr export read"
    );
    Ok(SourceOutput {
        name: display_name.to_owned(),
        files: vec![path.to_owned(), mapping.path().to_owned()],
        grants: read.grants,
        row_errors: read.errors,
        records: table.rows.len(),
    })
}

/// For each mapped column, the index of its header field.
fn locate_columns(mapping: &Mapping, header: &[String], path: &Path) -> Result<Vec<usize>, Error> {
    let header_keys: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
    let mut fields = Vec::with_capacity(mapping.columns.len());
    let mut missing = Vec::new();
    for column in &mapping.columns {
        let key = column.header.to_lowercase();
        let mut matches = header_keys.iter().enumerate().filter(|(_, h)| **h == key);
        match (matches.next(), matches.next()) {
            (Some((index, _)), None) => fields.push(index),
            (Some((_, _)), Some((second, _))) => {
                return Err(Error::AmbiguousColumn {
                    path: path.to_owned(),
                    header: header[second].trim().to_owned(),
                });
            }
            (None, _) => missing.push(column.header.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(Error::MissingColumns {
            path: path.to_owned(),
            missing,
            found: header.iter().map(|h| h.trim().to_owned()).collect(),
        });
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping() -> Mapping {
        let text = "csv: {timezone: UTC}\ncolumns: {email: E-Mail, department: Team}\n\
                    rules: [{node: acme, role: member}]\n";
        Mapping::parse(text, Path::new("mapping.yaml")).unwrap()
    }

    fn header(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn columns_are_found_in_any_order_and_case() {
        let fields = locate_columns(
            &mapping(),
            &header(&["Name", " team ", "e-mail"]),
            Path::new("x.csv"),
        )
        .unwrap();
        assert_eq!(fields, [2, 1]);
    }

    #[test]
    fn missing_columns_are_all_named() {
        let err = locate_columns(&mapping(), &header(&["Name"]), Path::new("x.csv")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.csv:1: the header has no column \"E-Mail\", \"Team\"; headers found: \"Name\""
        );
    }
}
