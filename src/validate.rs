//! `grantsync validate`: every problem of the config and of every source,
//! all at once, each at its file, line and column with the line itself and
//! a caret under the spot (`validate/diagnostic.rs`).
//!
//! The files are read the way a run reads them, so validate accepts
//! exactly what plan accepts. Then, unless offline, the names they use are
//! checked against the service through the same client a run makes, the
//! embedded sandbox included (`validate/names.rs`): a misspelt role, node
//! or identity is an error with the nearest name the service knows.
//! Problems a run works around (an HR row it skips, a person the service
//! does not know yet) are warnings; any error makes validate fail.

mod diagnostic;
mod names;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;

pub use diagnostic::{Diagnostic, Severity, shown_path};

use crate::config::{self, Config, EnvironmentConfig, Source};
use crate::desired::{self, DesiredGrant, FileError, SourceKind, SourceOutput, grants, hr};
use crate::report::Mode;
use crate::resolve::Catalog;
use crate::sync::{RunOptions, Runner};
use crate::yaml;

/// What to validate.
#[derive(Debug, Clone)]
pub struct Options {
    pub config: PathBuf,
    /// Environments to check; all when empty.
    pub environments: Vec<String>,
    /// Check the files alone, without asking the service about names.
    pub offline: bool,
    /// Where the embedded sandbox's store lives; `.grantsync/` beside the
    /// config by default.
    pub state_dir: Option<PathBuf>,
}

/// What validation found.
#[derive(Debug, Default)]
pub struct Findings {
    /// In the order found: the config, then each environment's files.
    pub diagnostics: Vec<Diagnostic>,
    /// One line per environment that was checked.
    pub checked: Vec<String>,
}

impl Findings {
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    }
}

/// What one environment's sources yielded, for the checks that follow.
#[derive(Default)]
struct EnvironmentRead {
    /// Each grants file, and whether its grants are in `desired` (the
    /// strict reading took it) or only its names can be checked.
    grants_files: Vec<(PathBuf, bool)>,
    hr_exports: Vec<(SourceOutput, PathBuf)>,
    desired: Vec<DesiredGrant>,
    files: usize,
}

/// Checks the config and every source of the selected environments.
pub async fn validate(options: &Options) -> Findings {
    let mut findings = Findings::default();
    let config = match Config::load(&options.config) {
        Ok(config) => config,
        Err(error) => {
            findings
                .diagnostics
                .push(config_diagnostic(&options.config, &error));
            return findings;
        }
    };
    let config_text = std::fs::read_to_string(&config.path).unwrap_or_default();
    let in_config = |needle: &str, message: String| {
        let (line, column) = yaml::find_line(&config_text, needle);
        Diagnostic::error(&config.path, line, column, message)
    };
    let selected = match config.select(&options.environments) {
        Ok(selected) => selected,
        Err(message) => {
            findings
                .diagnostics
                .push(in_config("environments", message));
            return findings;
        }
    };

    let now = Timestamp::now();
    let mut runner =
        (!options.offline).then(|| Runner::new(config.clone(), options.state_dir.clone()));
    for env in &selected {
        let errors_before = findings.errors();
        let first = findings.diagnostics.len();
        let read = read_sources(&config, env, now, &in_config, &mut findings.diagnostics);

        let catalog = match &mut runner {
            Some(runner) => match fetch_catalog(runner, env).await {
                Ok(catalog) => Some(catalog),
                Err(message) => {
                    findings.diagnostics.push(
                        in_config(
                            &format!("name: {}", env.name),
                            format!(
                                "environment {}: cannot check names against the service: {message}",
                                env.name
                            ),
                        )
                        .with_hint("fix the API settings, or run `grantsync validate --offline` to check the files alone"),
                    );
                    None
                }
            },
            None => None,
        };
        if let Some(catalog) = &catalog {
            names::check_config(&config.path, &env.name, catalog, &mut findings.diagnostics);
            let named_wrongly = files_naming_unknowns(&read.desired, catalog);
            for (path, read_strictly) in &read.grants_files {
                let shown = desired::display_path(&config.base_dir, path);
                if !read_strictly || named_wrongly.contains(&shown) {
                    names::check_grants_file(path, catalog, &mut findings.diagnostics);
                }
            }
            for (output, mapping) in &read.hr_exports {
                names::check_hr_export(
                    &config.base_dir,
                    output,
                    mapping,
                    catalog,
                    &mut findings.diagnostics,
                );
            }
        }
        conflicts(
            &config.base_dir,
            &read.desired,
            catalog.as_ref(),
            &mut findings.diagnostics,
        );

        // Within an environment, by place: a file reads top to bottom.
        findings.diagnostics[first..]
            .sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
        let errors = findings.errors() - errors_before;
        let names = match (options.offline, catalog.is_some()) {
            (true, _) => "names not checked (--offline)",
            (false, true) => "names checked against the service",
            (false, false) => "names not checked",
        };
        let verdict = match errors {
            0 => "valid".to_owned(),
            1 => "1 error".to_owned(),
            n => format!("{n} errors"),
        };
        let (grants, files) = (read.desired.len(), read.files);
        findings.checked.push(format!(
            "environment {}: {grants} {} from {files} {}, {names}: {verdict}",
            env.name,
            plural(grants, "grant", "grants"),
            plural(files, "file", "files"),
        ));
    }
    if let Some(runner) = runner {
        runner.shutdown().await;
    }
    findings
}

/// The grants files among `desired`'s origins that name something the
/// service does not have. Resolving the grants already read is cheap; only
/// these files are read again, for the place of each unknown name.
fn files_naming_unknowns(desired: &[DesiredGrant], catalog: &Catalog) -> HashSet<Arc<str>> {
    desired
        .iter()
        .filter(|grant| grant.kind == SourceKind::Grants)
        .filter(|grant| {
            catalog.identity(&grant.identity).is_err()
                || catalog.node(&grant.node).is_err()
                || catalog.role(&grant.role).is_err()
        })
        .map(|grant| grant.origin.file.clone())
        .collect()
}

/// The service's names for one environment, through the client a run makes.
async fn fetch_catalog(runner: &mut Runner, env: &EnvironmentConfig) -> Result<Catalog, String> {
    let client = runner.connect(env, &RunOptions::new(Mode::Plan)).await?;
    Catalog::fetch(&client).await.map_err(|e| e.to_string())
}

/// Runs `validate` and prints what it found: problems on stderr, one line
/// per environment on stdout. Returns the exit code: 1 when any error.
pub async fn run(options: &Options) -> i32 {
    let findings = validate(options).await;
    let mut err = anstream::stderr().lock();
    for diagnostic in &findings.diagnostics {
        let _ = writeln!(err, "{}", diagnostic.render());
    }
    let errors = findings.errors();
    let warnings = findings.warnings();
    let mut out = anstream::stdout().lock();
    for line in &findings.checked {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
    if errors > 0 {
        let _ = writeln!(
            err,
            "error: validation failed: {errors} {}, {warnings} {}",
            plural(errors, "error", "errors"),
            plural(warnings, "warning", "warnings")
        );
        crate::cli::EXIT_ERROR
    } else {
        if warnings > 0 {
            let _ = writeln!(
                err,
                "{warnings} {}; a run works around them",
                plural(warnings, "warning", "warnings")
            );
        }
        crate::cli::EXIT_OK
    }
}

fn plural(count: usize, one: &'static str, many: &'static str) -> &'static str {
    if count == 1 { one } else { many }
}

/// Reads every source of one environment, as a run would, keeping every
/// problem instead of stopping at the first.
fn read_sources(
    config: &Config,
    env: &EnvironmentConfig,
    now: Timestamp,
    in_config: &dyn Fn(&str, String) -> Diagnostic,
    out: &mut Vec<Diagnostic>,
) -> EnvironmentRead {
    let base = &config.base_dir;
    let mut read = EnvironmentRead::default();
    for source in env.sources() {
        match source {
            Source::Grants { pattern } => {
                let files = match desired::expand_glob(base, &pattern) {
                    Ok(files) => files,
                    Err(error) => {
                        out.push(in_config(
                            &pattern,
                            format!("cannot list the files of `grants: {pattern}`: {error}"),
                        ));
                        continue;
                    }
                };
                if files.is_empty() {
                    let mut warning = in_config(
                        &pattern,
                        format!(
                            "`grants: {pattern}` matches no file: the source yields no grants, which an apply refuses"
                        ),
                    );
                    warning.severity = Severity::Warning;
                    out.push(warning);
                }
                read.files += files.len();
                grants::read_files(base, &files, &env.name, |path, result| match result {
                    Ok((grants, _)) => {
                        read.desired.extend(grants);
                        read.grants_files.push((path.clone(), true));
                    }
                    Err(errors) => {
                        out.extend(errors.iter().map(|e| file_diagnostic(base, e)));
                        // The strict reading stops at a YAML error; a
                        // lenient one still finds the file's other problems.
                        let parsed = std::fs::read_to_string(path)
                            .is_ok_and(|text| yaml::from_str::<grants::GrantsFile>(&text).is_ok());
                        let readable =
                            parsed || names::check_grants_values(path, errors[0].line, out);
                        if readable {
                            read.grants_files.push((path.clone(), false));
                        }
                    }
                });
            }
            Source::HrExport { pattern, mapping } => {
                read.files += 1;
                let loaded = hr::Mapping::load(&mapping)
                    .and_then(|loaded| hr::load_export(base, &pattern, &loaded, now));
                match loaded {
                    Ok(output) => {
                        read.files += 1;
                        out.extend(output.row_errors.iter().map(|row| {
                            Diagnostic::warning(
                                &base.join(&*row.origin.file),
                                u64::from(row.origin.line),
                                u64::from(row.origin.column),
                                format!("{}; a run leaves this row out", row.message),
                            )
                        }));
                        read.desired.extend(output.grants.iter().cloned());
                        read.hr_exports.push((output, mapping));
                    }
                    Err(error) => out.push(hr_diagnostic(base, &pattern, &error, in_config)),
                }
            }
        }
    }
    read
}

fn config_diagnostic(path: &Path, error: &config::Error) -> Diagnostic {
    match error {
        config::Error::Invalid {
            path,
            line,
            column,
            message,
        } => Diagnostic::error(path, *line, *column, message.clone()),
        config::Error::Unreadable { source, .. } => {
            Diagnostic::error(path, 0, 0, format!("cannot read the config file: {source}"))
        }
    }
}

fn file_diagnostic(base: &Path, error: &FileError) -> Diagnostic {
    Diagnostic::error(
        &base.join(&*error.file),
        error.line,
        error.column,
        error.message.clone(),
    )
}

fn hr_diagnostic(
    base: &Path,
    pattern: &str,
    error: &hr::Error,
    in_config: &dyn Fn(&str, String) -> Diagnostic,
) -> Diagnostic {
    use hr::Error as E;
    let (path, line, column) = match error {
        E::MappingInvalid {
            path, line, column, ..
        } => (path.clone(), u64::from(*line), u64::from(*column)),
        E::Encoding { path, line, .. } | E::UnterminatedQuote { path, line } => {
            (base.join(path), u64::from(*line), 0)
        }
        E::MissingColumns { path, .. } | E::AmbiguousColumn { path, .. } => (base.join(path), 1, 0),
        E::Empty { path } | E::Unreadable { path, .. } => (base.join(path), 0, 0),
        E::NoExportFound { .. } | E::ExportSearchFailed { .. } => {
            return in_config(pattern, full_message(error));
        }
    };
    let shown = match error {
        E::MappingInvalid { path, .. } => path.display().to_string(),
        _ => path
            .strip_prefix(base)
            .unwrap_or(&path)
            .display()
            .to_string(),
    };
    let message = full_message(error);
    let message = without_location(&message, &shown).to_owned();
    Diagnostic::error(&path, line, column, message)
}

/// An error's message followed by its causes, each once: a cause that the
/// message already quotes is not repeated.
pub fn full_message(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// `message` without the `path:line:column: ` it starts with, since a
/// diagnostic shows the place itself.
fn without_location<'a>(message: &'a str, path: &str) -> &'a str {
    let Some(mut rest) = message.strip_prefix(path) else {
        return message;
    };
    for _ in 0..2 {
        if let Some(after) = rest.strip_prefix(':') {
            let digits = after.chars().take_while(char::is_ascii_digit).count();
            if digits == 0 {
                break;
            }
            rest = &after[digits..];
        }
    }
    rest.strip_prefix(": ").unwrap_or(message)
}

/// The same grant declared twice with different windows, which a plan
/// refuses: each such pair is reported at the second place, naming the
/// first. With the service's names at hand, two spellings of one person
/// (an email and `external:<id>`) count as the same grant.
fn conflicts(
    base: &Path,
    desired: &[DesiredGrant],
    catalog: Option<&Catalog>,
    out: &mut Vec<Diagnostic>,
) {
    let mut first: HashMap<(String, String, String), &DesiredGrant> = HashMap::new();
    for grant in desired {
        let resolved = catalog.and_then(|c| {
            Some((
                c.identity(&grant.identity).ok()?.to_string(),
                c.node(&grant.node).ok()?.to_string(),
                c.role(&grant.role).ok()?.to_string(),
            ))
        });
        let key = resolved.unwrap_or_else(|| {
            (
                grant.identity.to_string(),
                grant.node.to_string(),
                grant.role.to_string(),
            )
        });
        match first.get(&key) {
            None => {
                first.insert(key, grant);
            }
            Some(earlier)
                if (earlier.effective_from, earlier.effective_to)
                    != (grant.effective_from, grant.effective_to) =>
            {
                out.push(
                    Diagnostic::error(
                        &base.join(&*grant.origin.file),
                        u64::from(grant.origin.line),
                        u64::from(grant.origin.column),
                        format!(
                            "{} {} {} is also declared at {} with another window",
                            grant.identity, grant.node, grant.role, earlier.origin
                        ),
                    )
                    .with_hint("make the two windows agree, or remove one"),
                );
            }
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_the_message_quotes_is_not_repeated() {
        let error = crate::config::Config::load(Path::new("no-such-dir/grantsync.yaml"))
            .expect_err("the file does not exist");
        let message = full_message(&error);
        assert_eq!(message.matches("os error 2").count(), 1, "{message}");
    }

    #[test]
    fn location_prefixes_come_off_messages() {
        assert_eq!(
            without_location("hr/x.csv:1: the header has no column", "hr/x.csv"),
            "the header has no column"
        );
        assert_eq!(
            without_location("/m.yaml:3:7: rule 1: bad", "/m.yaml"),
            "rule 1: bad"
        );
        assert_eq!(
            without_location("hr/x.csv: the export has no data rows", "hr/x.csv"),
            "the export has no data rows"
        );
        assert_eq!(
            without_location("no HR export matches x", "hr/x.csv"),
            "no HR export matches x"
        );
    }
}
