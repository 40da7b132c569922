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
//! They know the shape of a file, not a service's names. [`narrowed`]
//! gives the same schemas with every role and node of a grants file (and
//! every rule's role of an HR mapping) held to the names one environment's
//! service lists, for an editor that should flag a misspelt role too.
//!
//! `schemas/openapi.yaml`, the description of the service's API, is written
//! by hand; its test holds it to the sandbox's routes.

use std::path::{Path, PathBuf};

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};
use serde_json::Value;

use crate::config::Config;
use crate::report::Mode;
use crate::resolve::Catalog;
use crate::sync::{RunOptions, Runner};

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
    write_files(dir, &all())
}

fn write_files(dir: &Path, files: &[SchemaFile]) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for file in files {
        let path = dir.join(file.name);
        crate::state::write_whole(&path, file.text().as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

/// What `grantsync schema` prints or writes.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The schema to print; every name is listed when `None` and `out` is too.
    pub name: Option<String>,
    /// Write every schema into this directory instead of printing one.
    pub out: Option<PathBuf>,
    /// Narrow the schemas to the role keys and node paths of this config's
    /// environment, as its service lists them.
    pub config: Option<PathBuf>,
    pub environment: Option<String>,
    pub state_dir: Option<PathBuf>,
}

/// `grantsync schema`: writes every schema into `out`, or prints the one
/// named, or lists the names. Returns the exit code.
pub async fn run(options: &Options) -> i32 {
    match schemas_to_show(options).await {
        Ok(files) => show(options, files),
        Err(message) => {
            eprintln!("error: {message}");
            crate::cli::EXIT_ERROR
        }
    }
}

/// Every schema, narrowed to a service's names when a config is given and
/// a schema that holds names is wanted.
async fn schemas_to_show(options: &Options) -> Result<Vec<SchemaFile>, String> {
    let wants_names = options.out.is_some() || options.name.is_some();
    let Some(config_path) = options.config.as_deref().filter(|_| wants_names) else {
        return Ok(all());
    };
    let config = Config::load(config_path).map_err(|e| crate::validate::full_message(&e))?;
    let env = config
        .one(options.environment.as_deref(), "narrow the schemas to")?
        .clone();
    let mut runner = Runner::new(config, options.state_dir.clone());
    let fetched = async {
        let client = runner.connect(&env, &RunOptions::new(Mode::Plan)).await?;
        Catalog::fetch(&client).await.map_err(|e| e.to_string())
    }
    .await;
    runner.shutdown().await;
    let catalog = fetched.map_err(|message| format!("environment {}: {message}", env.name))?;
    Ok(narrowed(&env.name, &catalog))
}

fn show(options: &Options, files: Vec<SchemaFile>) -> i32 {
    if let Some(dir) = &options.out {
        return match write_files(dir, &files) {
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
    let Some(name) = &options.name else {
        for file in &files {
            println!("{}", file.name);
        }
        return crate::cli::EXIT_OK;
    };
    let short = |file: &&SchemaFile| file.name.strip_suffix(".schema.json") == Some(name.as_str());
    match files.iter().find(|file| file.name == name || short(file)) {
        Some(file) => {
            print!("{}", file.text());
            crate::cli::EXIT_OK
        }
        None => {
            let names: Vec<&str> = files.iter().map(|f| f.name).collect();
            eprintln!(
                "error: no schema \"{name}\"; there are: {}",
                names.join(", ")
            );
            crate::cli::EXIT_ERROR
        }
    }
}

/// The same UUIDs that a grants file may name things by, hyphens optional.
const UUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$";

/// Every schema, with the places that name a role or a node narrowed to
/// the names `catalog` knows (or a UUID): an editor then flags a misspelt
/// role or node as it is typed and offers the real ones for completion.
/// HR mapping rules keep any node, since theirs are templates.
pub fn narrowed(environment: &str, catalog: &Catalog) -> Vec<SchemaFile> {
    let roles = catalog.role_keys();
    let nodes = catalog.node_paths();
    let mut files = all();
    for file in &mut files {
        let (entry, names_nodes) = match file.name {
            "grants.schema.json" => ("GrantEntry", true),
            "hr-mapping.schema.json" => ("Rule", false),
            _ => continue,
        };
        let properties = &mut file.schema["definitions"][entry]["properties"];
        narrow(&mut properties["role"], &roles, "role key");
        if names_nodes {
            narrow(&mut properties["node"], &nodes, "node path");
        }
        let title = file.schema["title"].as_str().unwrap_or_default().to_owned();
        file.schema["title"] = format!("{title}, environment {environment}").into();
    }
    files
}

/// Makes a string property one of `names` or a UUID. With no names there
/// is nothing to offer, and the property stays as it is.
fn narrow(property: &mut Value, names: &[&str], what: &str) {
    if names.is_empty() || !property.is_object() {
        return;
    }
    property["anyOf"] = serde_json::json!([
        {"enum": names, "description": format!("A {what} that the service knows.")},
        {"pattern": UUID_PATTERN, "description": "A UUID."},
    ]);
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
