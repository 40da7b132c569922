//! The configuration file, `grantsync.yaml`.
//!
//! It names each environment, the API it talks to and where that API's key
//! comes from, the sources of desired state, the prune scope and the safety
//! limits, and the daemon's schedule. Paths in it are relative to the file.
//! [`Config::load`] parses and checks it; nothing here touches the network.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::sandbox::Faults;
use crate::yaml;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: cannot read the config file: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", yaml::located(path, *line, *column, message))]
    Invalid {
        path: PathBuf,
        line: u64,
        column: u64,
        message: String,
    },
}

/// The whole configuration, with paths already made absolute.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file itself.
    pub path: PathBuf,
    /// The directory that relative paths in the file start from.
    pub base_dir: PathBuf,
    pub environments: Vec<EnvironmentConfig>,
    pub reports: ReportsConfig,
    pub daemon: DaemonConfig,
}

/// `grantsync.yaml` as written.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigFile {
    /// Every environment grantsync keeps in sync.
    environments: Vec<EnvironmentConfig>,
    /// Where run reports go and how many are kept.
    #[serde(default)]
    reports: ReportsConfig,
    /// The schedule and health endpoint of `grantsync run`.
    #[serde(default)]
    daemon: DaemonConfig,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentConfig {
    /// The environment's name as the service knows it (`Production`, ...).
    pub name: String,
    pub api: ApiConfig,
    /// The embedded sandbox's seed, with `api.url: sandbox` only.
    #[serde(default)]
    pub sandbox: Option<SandboxConfig>,
    pub sources: Vec<SourceConfig>,
    #[serde(default)]
    pub prune: PruneConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// The literal `api.url` that selects the embedded sandbox.
pub const EMBEDDED_SANDBOX: &str = "sandbox";

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// The service's base URL, or `sandbox` for the embedded one.
    pub url: String,
    /// The environment variable that holds the API key.
    #[serde(default)]
    pub key_env: Option<String>,
    /// A file that holds the API key (a mounted secret).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Bulk-create calls in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Items per bulk-create call; lowered for the run when the service
    /// answers 413.
    #[serde(default = "default_bulk_size")]
    pub bulk_size: usize,
    /// Seconds a single request may take.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_concurrency() -> usize {
    4
}

fn default_bulk_size() -> usize {
    500
}

fn default_timeout_secs() -> u64 {
    30
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    /// The directory file that seeds the sandbox.
    pub directory: PathBuf,
    /// Faults the sandbox injects on purpose, for trying the client's retries.
    #[serde(default)]
    pub faults: Faults,
}

/// One source of desired state: a glob of grants files, or an HR export read
/// through a mapping.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["grants"], "not": {"anyOf": [{"required": ["hr_export"]}, {"required": ["mapping"]}]}},
    {"required": ["hr_export", "mapping"], "not": {"required": ["grants"]}}
]))]
pub struct SourceConfig {
    /// Grants files, a glob relative to the config.
    #[serde(default)]
    pub grants: Option<String>,
    /// HR exports, a glob relative to the config; the newest match by name is read.
    #[serde(default)]
    pub hr_export: Option<String>,
    /// The mapping of the HR export's columns to grants.
    #[serde(default)]
    pub mapping: Option<PathBuf>,
}

/// What a source is, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Grants { pattern: String },
    HrExport { pattern: String, mapping: PathBuf },
}

impl Source {
    /// The name the source goes by in reports and in the state directory.
    pub fn name(&self) -> &str {
        match self {
            Source::Grants { pattern } | Source::HrExport { pattern, .. } => pattern,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PruneConfig {
    /// Revoke live assignments that no source declares, inside `scope`.
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub scope: Scope,
}

/// The part of the service that grantsync manages. A live assignment is in
/// scope when its node is one of `nodes` or below one (every node when the
/// list is empty) and its role is one of `roles` (every role when empty).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    #[serde(default)]
    pub nodes: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

impl Scope {
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.roles.is_empty()
    }
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// The most revocations one run may make: a count, or a percent of the
    /// managed live assignments.
    #[serde(default = "default_max_revocations")]
    pub max_revocations: Limit,
    /// How far a source may shrink against its last good run before the run
    /// is refused: a count of grants, or a percent.
    #[serde(default = "default_max_source_shrink")]
    pub max_source_shrink: Limit,
    /// Roles that must keep holders wherever they are held.
    #[serde(default)]
    pub protect: Vec<Protect>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_revocations: default_max_revocations(),
            max_source_shrink: default_max_source_shrink(),
            protect: Vec::new(),
        }
    }
}

fn default_max_revocations() -> Limit {
    Limit::Percent(10.0)
}

fn default_max_source_shrink() -> Limit {
    Limit::Percent(20.0)
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Protect {
    /// A role key.
    pub role: String,
    /// The fewest active holders the role may have at a node where it is held.
    #[serde(default = "default_min_holders")]
    pub min_holders: usize,
}

fn default_min_holders() -> usize {
    1
}

/// A count, or a percent of some total.
#[derive(Debug, Clone, Copy, PartialEq, schemars::JsonSchema)]
#[schemars(schema_with = "limit_schema")]
pub enum Limit {
    Count(usize),
    Percent(f64),
}

impl Limit {
    /// The limit as a count, out of `total`.
    pub fn of(self, total: usize) -> usize {
        match self {
            Limit::Count(count) => count,
            Limit::Percent(percent) => ((total as f64) * percent / 100.0).floor() as usize,
        }
    }
}

/// A whole number, or a percent written as text (`10%`).
fn limit_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "A count (10), or a percent of the total (\"10%\").",
        "anyOf": [
            {"type": "integer", "minimum": 0},
            {"type": "string", "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*%?\\s*$"}
        ]
    })
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Count(count) => write!(f, "{count}"),
            Limit::Percent(percent) => write!(f, "{percent}%"),
        }
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Count(u64),
            Negative(i64),
            Fraction(f64),
            Text(String),
        }
        const FORMS: &str = "a limit is a count (10) or a percent from 0% to 100% (10%)";
        let invalid = |text: &dyn fmt::Display, why: &str| {
            serde::de::Error::custom(format!("limit \"{text}\" {why}; {FORMS}"))
        };
        match Raw::deserialize(deserializer)? {
            Raw::Count(count) => Ok(Limit::Count(count as usize)),
            Raw::Negative(count) => Err(invalid(&count, "is below zero")),
            Raw::Fraction(count) => Err(invalid(&count, "is not a whole count")),
            Raw::Text(text) => {
                let trimmed = text.trim();
                if let Some(percent) = trimmed.strip_suffix('%') {
                    let percent: f64 = percent
                        .trim()
                        .parse()
                        .map_err(|_| invalid(&text, "is not a number before the %"))?;
                    if !(0.0..=100.0).contains(&percent) {
                        return Err(invalid(&text, "is outside 0% to 100%"));
                    }
                    Ok(Limit::Percent(percent))
                } else {
                    trimmed
                        .parse()
                        .map(Limit::Count)
                        .map_err(|_| invalid(&text, "is neither a count nor a percent"))
                }
            }
        }
    }
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportsConfig {
    /// Where run reports go, relative to the config; with `--state-dir`,
    /// reports go to `reports/` under it instead.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// How many reports to keep; older ones are removed.
    #[serde(default = "default_keep")]
    pub keep: usize,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            dir: None,
            keep: default_keep(),
        }
    }
}

fn default_keep() -> usize {
    50
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Five crontab fields; when to re-sync to correct drift.
    #[serde(default)]
    pub schedule: Option<String>,
    /// The IANA zone the schedule is read in; UTC when left out.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Address of /healthz, /readyz, /metrics and /status.
    #[serde(default)]
    pub listen: Option<String>,
    /// How long file events must settle before a sync starts.
    #[serde(default = "default_debounce_ms")]
    pub debounce_ms: u64,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            schedule: None,
            timezone: None,
            listen: None,
            debounce_ms: default_debounce_ms(),
        }
    }
}

fn default_debounce_ms() -> u64 {
    500
}

impl EnvironmentConfig {
    pub fn is_embedded_sandbox(&self) -> bool {
        self.api.url == EMBEDDED_SANDBOX
    }

    /// The sources, checked: each is exactly one kind.
    pub fn sources(&self) -> Vec<Source> {
        self.sources
            .iter()
            .filter_map(
                |source| match (&source.grants, &source.hr_export, &source.mapping) {
                    (Some(pattern), None, None) => Some(Source::Grants {
                        pattern: pattern.clone(),
                    }),
                    (None, Some(pattern), Some(mapping)) => Some(Source::HrExport {
                        pattern: pattern.clone(),
                        mapping: mapping.clone(),
                    }),
                    _ => None,
                },
            )
            .collect()
    }
}

impl Config {
    /// Reads and checks a config file.
    ///
    /// # Errors
    ///
    /// The file cannot be read, is not valid YAML, has an unknown or missing
    /// field, or breaks a rule that the types cannot express (a source with
    /// two kinds, a key both inline and from a file, a name used twice); the
    /// error carries the file, line and column.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        let file: ConfigFile = yaml::from_str(&text).map_err(|e| Error::Invalid {
            path: path.to_path_buf(),
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        let base_dir = std::path::absolute(&base_dir).unwrap_or(base_dir);

        let invalid = |needle: &str, message: String| {
            let (line, column) = yaml::find_line(&text, needle);
            Error::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        };
        check(&file, invalid)?;

        let mut config = Config {
            path: path.to_path_buf(),
            base_dir,
            environments: file.environments,
            reports: file.reports,
            daemon: file.daemon,
        };
        config.make_paths_absolute();
        Ok(config)
    }

    fn make_paths_absolute(&mut self) {
        let base = self.base_dir.clone();
        for env in &mut self.environments {
            if let Some(key_file) = &mut env.api.key_file {
                *key_file = base.join(&*key_file);
            }
            if let Some(sandbox) = &mut env.sandbox {
                sandbox.directory = base.join(&sandbox.directory);
            }
            for source in &mut env.sources {
                if let Some(mapping) = &mut source.mapping {
                    *mapping = base.join(&*mapping);
                }
            }
        }
        if let Some(dir) = &mut self.reports.dir {
            *dir = base.join(&*dir);
        }
    }

    /// The environments a run works on: those named, or all of them.
    ///
    /// # Errors
    ///
    /// A name that the config does not have; the message lists those it has.
    pub fn select(&self, names: &[String]) -> Result<Vec<&EnvironmentConfig>, String> {
        if names.is_empty() {
            return Ok(self.environments.iter().collect());
        }
        names
            .iter()
            .map(|name| {
                self.environments
                    .iter()
                    .find(|env| env.name.eq_ignore_ascii_case(name))
                    .ok_or_else(|| {
                        let known: Vec<_> =
                            self.environments.iter().map(|e| e.name.as_str()).collect();
                        format!(
                            "no environment \"{name}\" in {}; it has: {}",
                            self.path.display(),
                            known.join(", ")
                        )
                    })
            })
            .collect()
    }

    /// The one environment a command works on: the one named, or the only
    /// one. `doing` completes the message that asks for `--env` ("say which
    /// to export").
    ///
    /// # Errors
    ///
    /// No environment has that name, or none is named and there are several.
    pub fn one(&self, name: Option<&str>, doing: &str) -> Result<&EnvironmentConfig, String> {
        match name {
            Some(name) => self.select(&[name.to_owned()]).map(|selected| selected[0]),
            None if self.environments.len() == 1 => Ok(&self.environments[0]),
            None => Err(format!(
                "{} has {} environments; say which to {doing} with --env NAME",
                self.path.display(),
                self.environments.len()
            )),
        }
    }
}

/// Rules of the config that its types do not express.
fn check(file: &ConfigFile, invalid: impl Fn(&str, String) -> Error) -> Result<(), Error> {
    if file.environments.is_empty() {
        return Err(invalid(
            "environments",
            "`environments` lists no environment".into(),
        ));
    }
    let mut names = HashSet::new();
    for env in &file.environments {
        let name = env.name.trim();
        if name.is_empty() {
            return Err(invalid("name:", "an environment needs a `name`".into()));
        }
        if !names.insert(name.to_lowercase()) {
            return Err(invalid(
                &format!("name: {name}"),
                format!("environment \"{name}\" is listed twice"),
            ));
        }
        let api = &env.api;
        if api.key_env.is_some() && api.key_file.is_some() {
            return Err(invalid(
                "key_file",
                format!("environment {name}: give `key_env` or `key_file`, not both"),
            ));
        }
        if api.url == EMBEDDED_SANDBOX {
            if env.sandbox.is_none() {
                return Err(invalid(
                    "url: sandbox",
                    format!(
                        "environment {name}: `api.url: sandbox` needs `sandbox: {{directory: FILE}}` to seed it"
                    ),
                ));
            }
        } else {
            if env.sandbox.is_some() {
                return Err(invalid(
                    "sandbox:",
                    format!("environment {name}: `sandbox` only goes with `api.url: sandbox`"),
                ));
            }
            if api.key_env.is_none() && api.key_file.is_none() {
                return Err(invalid(
                    "url:",
                    format!(
                        "environment {name}: say where the API key comes from with `key_env: VARIABLE` or `key_file: PATH`"
                    ),
                ));
            }
        }
        if api.concurrency == 0 || api.bulk_size == 0 || api.timeout_secs == 0 {
            return Err(invalid(
                "api:",
                format!(
                    "environment {name}: `concurrency`, `bulk_size` and `timeout_secs` must be at least 1"
                ),
            ));
        }
        if env.sources.is_empty() {
            return Err(invalid(
                "sources",
                format!("environment {name} has no sources"),
            ));
        }
        for source in &env.sources {
            match (&source.grants, &source.hr_export, &source.mapping) {
                (Some(_), None, None) | (None, Some(_), Some(_)) => {}
                (None, Some(pattern), None) => {
                    return Err(invalid(
                        pattern,
                        format!(
                            "environment {name}: source `hr_export: {pattern}` needs a `mapping: FILE`"
                        ),
                    ));
                }
                _ => {
                    return Err(invalid(
                        "sources",
                        format!(
                            "environment {name}: each source is either `grants: GLOB` or `hr_export: GLOB` with `mapping: FILE`"
                        ),
                    ));
                }
            }
        }
        for protect in &env.limits.protect {
            if protect.min_holders == 0 {
                return Err(invalid(
                    "min_holders",
                    format!(
                        "environment {name}: `min_holders` of role {} must be at least 1",
                        protect.role
                    ),
                ));
            }
        }
    }
    let daemon = &file.daemon;
    if let Err(error) =
        crate::daemon::Schedule::check(daemon.schedule.as_deref(), daemon.timezone.as_deref())
    {
        let needle = match error {
            crate::daemon::ScheduleError::InvalidSchedule { .. } => "schedule:",
            crate::daemon::ScheduleError::UnknownTimeZone { .. } => "timezone:",
        };
        return Err(invalid(needle, error.to_string()));
    }
    if let Err(message) = crate::daemon::parse_listen(daemon.listen.as_deref()) {
        return Err(invalid("listen:", message));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grantsync.yaml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path)
    }

    const MINIMAL: &str = "environments:\n  - name: Production\n    api: {url: https://access.example.com, key_env: KEY}\n    sources:\n      - grants: access/*.yaml\n";

    #[test]
    fn daemon_settings_are_checked_where_they_are_written() {
        let text = MINIMAL.to_owned() + "daemon:\n  schedule: \"0 */15 * * * *\"\n";
        let error = load(&text).unwrap_err().to_string();
        assert!(error.contains(":7:"), "{error}");
        assert!(error.contains("crontab schedule of five fields"), "{error}");

        let text = MINIMAL.to_owned() + "daemon:\n  timezone: Europe/Berlinn\n";
        let error = load(&text).unwrap_err().to_string();
        assert!(
            error.contains(":7:") && error.contains("Europe/Berlinn"),
            "{error}"
        );

        let text = MINIMAL.to_owned() + "daemon:\n  listen: localhost\n";
        let error = load(&text).unwrap_err().to_string();
        assert!(
            error.contains(":7:") && error.contains("127.0.0.1:9464"),
            "{error}"
        );

        let text =
            MINIMAL.to_owned() + "daemon: {schedule: \"30 2 * * *\", timezone: Europe/Berlin}\n";
        assert!(load(&text).is_ok());
    }

    #[test]
    fn a_wrong_limit_says_what_is_wrong_with_it() {
        for (value, why) in [
            ("150%", "is outside 0% to 100%"),
            ("-1", "is below zero"),
            ("2.5", "is not a whole count"),
            ("lots", "is neither a count nor a percent"),
            ("x%", "is not a number before the %"),
        ] {
            let text = MINIMAL.to_owned() + &format!("    limits: {{max_revocations: {value}}}\n");
            let error = load(&text).unwrap_err().to_string();
            assert!(error.contains(why), "{value}: {error}");
            assert!(error.contains("a limit is a count"), "{value}: {error}");
        }
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let config = load(MINIMAL).unwrap();
        let env = &config.environments[0];
        assert_eq!(env.limits.max_revocations, Limit::Percent(10.0));
        assert!(!env.prune.enabled);
        assert_eq!(env.api.concurrency, 4);
        assert_eq!(config.reports.keep, 50);
    }

    #[test]
    fn limit_reads_counts_and_percents() {
        assert_eq!(Limit::Percent(10.0).of(322), 32);
        assert_eq!(Limit::Count(5).of(322), 5);
        let text =
            MINIMAL.to_owned() + "    limits: {max_revocations: 25, max_source_shrink: 5%}\n";
        let config = load(&text).unwrap();
        assert_eq!(
            config.environments[0].limits.max_revocations,
            Limit::Count(25)
        );
        assert_eq!(
            config.environments[0].limits.max_source_shrink,
            Limit::Percent(5.0)
        );
    }

    #[test]
    fn unknown_field_is_an_error_with_its_line() {
        let text = MINIMAL.replace("    sources:", "    sourcs: []\n    sources:");
        let err = load(&text).unwrap_err().to_string();
        assert!(err.contains("grantsync.yaml:4:"), "{err}");
        assert!(err.contains("sourcs"), "{err}");
    }

    #[test]
    fn duplicate_key_is_an_error() {
        let text = MINIMAL.replace("    sources:", "    name: Again\n    sources:");
        let err = load(&text).unwrap_err().to_string();
        assert!(err.contains("grantsync.yaml:4:"), "{err}");
    }

    #[test]
    fn hr_source_without_mapping_is_refused() {
        let text = MINIMAL.replace("grants: access/*.yaml", "hr_export: hr/*.csv");
        let err = load(&text).unwrap_err().to_string();
        assert!(err.contains("needs a `mapping: FILE`"), "{err}");
        assert!(err.contains(":5:"), "{err}");
    }

    #[test]
    fn remote_api_needs_a_key_source() {
        let text = MINIMAL.replace(", key_env: KEY", "");
        let err = load(&text).unwrap_err().to_string();
        assert!(err.contains("key_env"), "{err}");
    }
}
