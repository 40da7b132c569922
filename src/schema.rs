//! JSON Schemas of the files grantsync reads and writes, generated from the
//! Rust types that read and write them, so that a schema cannot say
//! something the code does not.
//!
//! [`all`] lists them; `grantsync schema --out schemas/` writes them, and a
//! test fails when a committed file differs from what the types generate.
//! Editors use them through the `# yaml-language-server: $schema=` line at
//! the top of a file: an unknown key (`rol:`) or a missing one is flagged
//! while typing. They are draft-07 schemas, the newest draft that every
//! YAML language server in use reads in full.
//!
//! `schemas/openapi.yaml`, the description of the service's API, is written
//! by hand; its test holds it to the sandbox's routes.

use std::path::{Path, PathBuf};

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};
use serde_json::Value;

/// One schema file.
#[derive(Debug, Clone)]
pub struct SchemaFile {
    /// The file name under `schemas/`, e.g. `grants.schema.json`.
    pub name: &'static str,
    pub schema: Value,
}

impl SchemaFile {
    /// The file's text: pretty JSON ending in a newline.
    pub fn text(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.schema).expect("a schema is JSON");
        text.push('\n');
        text
    }
}

/// Every generated schema, in a fixed order.
pub fn all() -> Vec<SchemaFile> {
    vec![
        read::<crate::config::ConfigFile>(
            "grantsync.schema.json",
            "grantsync.yaml",
            "The grantsync configuration: environments, their API and key, sources, prune scope, limits, reports and the daemon.",
        ),
        read::<crate::desired::grants::GrantsFile>(
            "grants.schema.json",
            "grantsync grants file",
            "Who holds which role at which node, one identity per entry or one role for many.",
        ),
        read::<crate::desired::hr::MappingFile>(
            "hr-mapping.schema.json",
            "grantsync HR mapping",
            "How the columns of an HR system's CSV export become grants.",
        ),
        read::<crate::sandbox::DirectoryFile>(
            "directory.schema.json",
            "grantsync sandbox directory",
            "What `grantsync sandbox` is seeded with: environments, API keys, identities, node trees, roles and existing assignments.",
        ),
        written::<crate::report::RunReport>(
            "report.schema.json",
            "grantsync plan or report",
            "The output of `plan --format json`, and the report every apply writes.",
        ),
        written::<crate::saved_plan::SavedPlan>(
            "saved-plan.schema.json",
            "grantsync saved plan",
            "A plan saved by `plan --out FILE` for `apply --plan FILE`: its items, and digests of the files and live state it was made from.",
        ),
    ]
}

/// The schema with this file name.
pub fn named(name: &str) -> Option<SchemaFile> {
    all().into_iter().find(|file| file.name == name)
}

/// Writes every schema into `dir`, creating it; returns the paths written.
///
/// # Errors
///
/// The directory cannot be created or a file cannot be written; files
/// written before the failure stay.
pub fn write_all(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for file in all() {
        let path = dir.join(file.name);
        crate::state::write_whole(&path, file.text().as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

/// `grantsync schema`: writes every schema into `out`, or prints the one
/// named, or lists the names. Returns the exit code.
pub fn run(name: Option<&str>, out: Option<&Path>) -> i32 {
    if let Some(dir) = out {
        return match write_all(dir) {
            Ok(written) => {
                for path in written {
                    println!("{}", path.display());
                }
                crate::cli::EXIT_OK
            }
            Err(error) => {
                eprintln!(
                    "error: cannot write the schemas into {}: {error}",
                    dir.display()
                );
                crate::cli::EXIT_ERROR
            }
        };
    }
    match name {
        None => {
            for file in all() {
                println!("{}", file.name);
            }
            crate::cli::EXIT_OK
        }
        Some(name) => match named(name) {
            Some(file) => {
                print!("{}", file.text());
                crate::cli::EXIT_OK
            }
            None => {
                let names: Vec<&str> = all().iter().map(|f| f.name).collect();
                eprintln!(
                    "error: no schema \"{name}\"; there are: {}",
                    names.join(", ")
                );
                crate::cli::EXIT_ERROR
            }
        },
    }
}

/// A file grantsync reads: what deserializing accepts.
fn read<T: JsonSchema>(name: &'static str, title: &str, description: &str) -> SchemaFile {
    let generator = SchemaSettings::draft07().for_deserialize().into_generator();
    finish(
        name,
        generator.into_root_schema_for::<T>(),
        title,
        description,
    )
}

/// A file grantsync writes: what serializing produces.
fn written<T: JsonSchema>(name: &'static str, title: &str, description: &str) -> SchemaFile {
    let generator = SchemaSettings::draft07().for_serialize().into_generator();
    finish(
        name,
        generator.into_root_schema_for::<T>(),
        title,
        description,
    )
}

fn finish(name: &'static str, mut schema: Schema, title: &str, description: &str) -> SchemaFile {
    schema.insert("title".into(), title.into());
    schema.insert("description".into(), description.into());
    SchemaFile {
        name,
        schema: schema.to_value(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_grantsync_reads_forbids_unknown_keys() {
        let read = [
            "grantsync.schema.json",
            "grants.schema.json",
            "hr-mapping.schema.json",
            "directory.schema.json",
            "saved-plan.schema.json",
        ];
        for file in all().into_iter().filter(|f| read.contains(&f.name)) {
            assert_eq!(
                file.schema["additionalProperties"],
                Value::Bool(false),
                "{}",
                file.name
            );
        }
    }

    #[test]
    fn report_outcomes_are_the_outcome_names() {
        use crate::apply::Outcome;
        let report = named("report.schema.json").unwrap();
        let listed = &report.schema["definitions"]["ItemReport"]["properties"]["outcome"]["enum"];
        let outcomes = [
            Outcome::Created,
            Outcome::AlreadyAssigned,
            Outcome::Updated,
            Outcome::Renewed,
            Outcome::Revoked,
            Outcome::Failed {
                code: String::new(),
                message: String::new(),
            },
            Outcome::NotAttempted,
            Outcome::Skipped { why: String::new() },
        ];
        for outcome in outcomes {
            assert!(
                listed
                    .as_array()
                    .unwrap()
                    .contains(&Value::from(outcome.as_str())),
                "{} is missing from {listed}",
                outcome.as_str()
            );
        }
    }
}
