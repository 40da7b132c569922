//! One run over the configured environments: load, resolve, plan, check the
//! rails, apply, report.
//!
//! [`Runner`] is what `plan`, `apply` and the daemon share. It keeps the
//! embedded sandboxes it started alive between runs, so that a daemon's
//! sandbox keeps its state; [`Runner::shutdown`] stops them. Environments are
//! independent: one that fails or is refused does not stop the others.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::api::types::Assignment;
use crate::api::{ApiKey, Client, ClientOptions};
use crate::apply::{ApplyOptions, apply_plan};
use crate::config::{Config, EnvironmentConfig, Source};
use crate::desired::{self, SourceOutput};
use crate::plan::rails::{self, Refusal};
use crate::plan::{EnvironmentPlan, PlanInput, ResolvedScope, plan_environment};
use crate::report::assignments::assignment_sets;
use crate::report::progress::Progress;
use crate::report::{EnvironmentReport, Mode, RunReport};
use crate::resolve::Catalog;
use crate::sandbox::{self, Sandbox};
use crate::state::StateDir;

/// What a run does, beyond the config.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub mode: Mode,
    /// Environments to work on; all when empty.
    pub environments: Vec<String>,
    /// Turn pruning on for this run, within the configured scope.
    pub prune: bool,
    /// The instant to plan for; the run's start when `None`.
    pub now: Option<Timestamp>,
    pub allow_mass_revoke: bool,
    pub allow_source_shrink: bool,
    /// Unresolved references refuse the environment instead of being reported.
    pub strict: bool,
    pub cancel: CancellationToken,
    /// Desired state the caller has already read, by environment name; an
    /// environment not in it reads its sources from the files. The daemon
    /// uses this to sync exactly what it checked, or its last good state.
    pub desired: HashMap<String, Arc<Vec<SourceOutput>>>,
    /// The run's id, for a caller that gathers several runs into one report;
    /// a new one when `None`.
    pub run_id: Option<String>,
    /// Draw a progress bar on stderr during long applies, when it is a terminal.
    pub progress: bool,
    /// Keep every live and desired assignment in the report, for `--format diff`.
    pub keep_assignments: bool,
    /// Keep each environment's plan and what it was made from, for
    /// [`Runner::take_captured`] (saved plans, `explain`).
    pub capture: bool,
}

impl RunOptions {
    pub fn new(mode: Mode) -> RunOptions {
        RunOptions {
            mode,
            environments: Vec::new(),
            prune: false,
            now: None,
            allow_mass_revoke: false,
            allow_source_shrink: false,
            strict: false,
            cancel: CancellationToken::new(),
            desired: HashMap::new(),
            run_id: None,
            progress: false,
            keep_assignments: false,
            capture: false,
        }
    }

    /// What this run lets past the safety rails.
    pub fn allowed(&self) -> rails::Allowed {
        rails::Allowed {
            mass_revoke: self.allow_mass_revoke,
            source_shrink: self.allow_source_shrink,
            unresolved: !self.strict,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    UnknownEnvironment(String),
}

pub struct Runner {
    config: Config,
    state: StateDir,
    sandboxes: HashMap<PathBuf, Sandbox>,
    captured: Vec<Captured>,
}

/// One environment's plan and everything it was made from, kept when
/// [`RunOptions::capture`] asks for it.
#[derive(Debug)]
pub struct Captured {
    pub plan: EnvironmentPlan,
    pub sources: Vec<SourceOutput>,
    pub live: Vec<Assignment>,
    pub catalog: Catalog,
}

impl Runner {
    pub fn new(config: Config, state_dir: Option<PathBuf>) -> Runner {
        let state = StateDir::new(state_dir.unwrap_or_else(|| config.base_dir.join(".grantsync")));
        Runner {
            config,
            state,
            sandboxes: HashMap::new(),
            captured: Vec::new(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn state(&self) -> &StateDir {
        &self.state
    }

    /// Replaces the config, for a daemon that reloaded it.
    pub fn set_config(&mut self, config: Config) {
        self.config = config;
    }

    /// Runs once over the selected environments.
    ///
    /// # Errors
    ///
    /// Only an environment name that the config lacks; everything that goes
    /// wrong inside an environment is in its part of the report.
    pub async fn run(&mut self, options: &RunOptions) -> Result<RunReport, Error> {
        let started_at = Timestamp::now();
        let now = options.now.unwrap_or(started_at);
        let names: Vec<String> = self
            .config
            .select(&options.environments)
            .map_err(Error::UnknownEnvironment)?
            .into_iter()
            .map(|env| env.name.clone())
            .collect();
        let mut report = RunReport::new(options.mode, started_at, now);
        if let Some(run_id) = &options.run_id {
            report.run_id = run_id.clone();
        }
        // Every environment's desired state first: an invalid file anywhere
        // stops the whole run before any call, not only its environment.
        let mut desired = HashMap::new();
        let mut invalid = Vec::new();
        for name in &names {
            let env = self.environment(name);
            match options.desired.get(name) {
                Some(sources) => {
                    desired.insert(name.clone(), Arc::clone(sources));
                }
                None => match load_sources(&self.config.base_dir, &env, now) {
                    Ok(sources) => {
                        desired.insert(name.clone(), Arc::new(sources));
                    }
                    Err(error) => invalid.push((name.clone(), error)),
                },
            }
        }
        if !invalid.is_empty() {
            let bad: Vec<&str> = invalid.iter().map(|(name, _)| name.as_str()).collect();
            for name in &names {
                let error = match invalid.iter().find(|(bad, _)| bad == name) {
                    Some((_, error)) => error.clone(),
                    None => format!(
                        "not synced: the desired state of {} is invalid, and a run writes nothing until every file is valid",
                        bad.join(", ")
                    ),
                };
                report
                    .environments
                    .push(EnvironmentReport::failed(name, error));
            }
            report.finished_at = Some(Timestamp::now());
            return Ok(report);
        }

        for name in names {
            let env = self.environment(&name);
            let sources = Arc::clone(&desired[&name]);
            let span = tracing::info_span!("environment", run_id = %report.run_id, environment = %env.name);
            let env_report = match self
                .run_environment(&env, sources, options, now)
                .instrument(span)
                .await
            {
                Ok(env_report) => env_report,
                Err(error) => {
                    // The report carries the error; the caller decides how loudly to say it.
                    tracing::info!(error = %error, "environment could not be synced");
                    EnvironmentReport::failed(&env.name, error)
                }
            };
            report.environments.push(env_report);
        }
        report.interrupted = options.cancel.is_cancelled();
        report.finished_at = Some(Timestamp::now());
        Ok(report)
    }

    /// The plans kept since the last call, in the order they were made.
    pub fn take_captured(&mut self) -> Vec<Captured> {
        std::mem::take(&mut self.captured)
    }

    /// The client of an environment, as a run makes it (starting its
    /// embedded sandbox if needed), once the service says that the key
    /// belongs to that environment.
    ///
    /// # Errors
    ///
    /// The key cannot be read, the service cannot be reached, or the key
    /// belongs to another environment.
    pub async fn connect(
        &mut self,
        env: &EnvironmentConfig,
        options: &RunOptions,
    ) -> Result<Client, String> {
        let client = self.client_for(env, options).await?;
        let live_env = client
            .environment()
            .await
            .map_err(|e| crate::error_chain(&e))?;
        if !live_env.name.eq_ignore_ascii_case(&env.name) {
            return Err(format!(
                "the API key belongs to environment \"{}\", but the config names \"{}\"; use the key of {}",
                live_env.name, env.name, env.name
            ));
        }
        Ok(client)
    }

    /// Stops the embedded sandboxes.
    pub async fn shutdown(mut self) {
        for (_, sandbox) in self.sandboxes.drain() {
            sandbox.shutdown().await;
        }
    }

    /// The config of a selected environment.
    fn environment(&self, name: &str) -> EnvironmentConfig {
        self.config
            .environments
            .iter()
            .find(|e| e.name == name)
            .expect("selected from the config")
            .clone()
    }

    async fn run_environment(
        &mut self,
        env: &EnvironmentConfig,
        sources: Arc<Vec<SourceOutput>>,
        options: &RunOptions,
        now: Timestamp,
    ) -> Result<EnvironmentReport, String> {
        let client = self.client_for(env, options).await?;
        match self.sync_with(&client, env, sources, options, now).await {
            Ok(report) => Ok(report),
            Err(error) => {
                // The calls that led to the error count too (in metrics, above all).
                tracing::info!(error = %error, "environment could not be synced");
                let mut report = EnvironmentReport::failed(&env.name, error);
                report.calls = Some(client.stats().snapshot());
                Ok(report)
            }
        }
    }

    /// One environment's sync through `client`: check, list, plan, rails,
    /// and in apply mode the writes.
    async fn sync_with(
        &mut self,
        client: &Client,
        env: &EnvironmentConfig,
        sources: Arc<Vec<SourceOutput>>,
        options: &RunOptions,
        now: Timestamp,
    ) -> Result<EnvironmentReport, String> {
        let live_env = client
            .environment()
            .await
            .map_err(|e| crate::error_chain(&e))?;
        if !live_env.name.eq_ignore_ascii_case(&env.name) {
            let refusal = Refusal {
                rail: "environment",
                message: format!(
                    "the API key belongs to environment \"{}\", but the config and files declare \"{}\"; nothing was written. Use the key of {}",
                    live_env.name, env.name, env.name
                ),
            };
            let mut report = EnvironmentReport::failed(&env.name, refusal.message.clone());
            report.error = None;
            report.refusals.push(refusal);
            return Ok(report);
        }

        let (catalog, live) = tokio::try_join!(Catalog::fetch(client), client.list_assignments())
            .map_err(|e| crate::error_chain(&e))?;
        let prune = env.prune.enabled || options.prune;
        let plan = plan_for(env, &sources, &live, &catalog, now, prune)?;
        tracing::info!(
            create = plan.summary.create,
            update = plan.summary.update,
            renew = plan.summary.renew,
            revoke = plan.summary.revoke,
            unchanged = plan.summary.unchanged,
            unresolved = plan.summary.unresolved,
            "plan ready"
        );

        let refusals = rails::check_all(
            &plan,
            &live,
            &catalog,
            &env.limits,
            &self.state.last_source_sizes(&env.name),
            options.allowed(),
            now,
        );

        let outcomes = if options.mode == Mode::Apply && refusals.is_empty() {
            Some(apply_and_record(&self.state, client, env, &plan, options).await)
        } else {
            None
        };
        log_refusals(&refusals);
        let mut report = EnvironmentReport::new(&plan, outcomes.as_deref());
        report.refusals = refusals;
        report.calls = Some(client.stats().snapshot());
        if options.keep_assignments {
            report.assignments = Some(assignment_sets(&live, &plan, &catalog));
        }
        if options.capture {
            self.captured.push(Captured {
                plan,
                sources: sources.to_vec(),
                live,
                catalog,
            });
        }
        Ok(report)
    }

    /// The client of an environment, starting its embedded sandbox if needed.
    async fn client_for(
        &mut self,
        env: &EnvironmentConfig,
        options: &RunOptions,
    ) -> Result<Client, String> {
        let key = if let Some(var) = &env.api.key_env {
            Some(ApiKey::from_env(var)?)
        } else if let Some(file) = &env.api.key_file {
            Some(ApiKey::from_file(file)?)
        } else {
            None
        };
        let url = if env.is_embedded_sandbox() {
            let seed = env
                .sandbox
                .as_ref()
                .expect("checked when the config was loaded");
            let directory = seed.directory.clone();
            if !self.sandboxes.contains_key(&directory) {
                let data_dir = self.state.sandbox_dir(&directory);
                let sandbox_options = sandbox::Options {
                    directory: directory.clone(),
                    data_dir,
                    reset: false,
                    now: options.now,
                    faults: seed.faults.clone(),
                    allow_remote: false,
                };
                let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
                let started = Sandbox::start(sandbox_options, listen).await.map_err(|e| {
                    format!(
                        "cannot start the embedded sandbox: {}",
                        crate::error_chain(&e)
                    )
                })?;
                tracing::info!(url = %started.url(), "embedded sandbox started");
                self.sandboxes.insert(directory.clone(), started);
            }
            self.sandboxes[&directory].url()
        } else {
            env.api.url.clone()
        };
        let key = match key {
            Some(key) => key,
            None => {
                let seed = env
                    .sandbox
                    .as_ref()
                    .expect("a key source is required unless embedded");
                let found = sandbox::first_key(&seed.directory, &env.name)
                    .map_err(|e| crate::error_chain(&e))?;
                ApiKey::new(found.ok_or_else(|| {
                    format!(
                        "the sandbox directory {} lists no API key for environment {}",
                        seed.directory.display(),
                        env.name
                    )
                })?)
            }
        };
        let client_options = ClientOptions {
            timeout: Duration::from_secs(env.api.timeout_secs),
            ..ClientOptions::default()
        };
        Client::new(&url, key, client_options)
            .map(|client| client.with_cancel(options.cancel.clone()))
            .map_err(|e| e.to_string())
    }
}

/// Reads every source of an environment; any error stops the environment.
pub fn load_sources(
    base: &Path,
    env: &EnvironmentConfig,
    now: Timestamp,
) -> Result<Vec<SourceOutput>, String> {
    read_sources(base, env, now).map_err(|errors| {
        format!(
            "the desired state is invalid; nothing was planned or written:\n{}",
            errors.join("\n")
        )
    })
}

/// Reads every source of an environment.
///
/// # Errors
///
/// Every problem found, one message each, located (`file:line:column:`)
/// when the problem has a place.
pub fn read_sources(
    base: &Path,
    env: &EnvironmentConfig,
    now: Timestamp,
) -> Result<Vec<SourceOutput>, Vec<String>> {
    let mut outputs = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    for source in env.sources() {
        match source {
            Source::Grants { pattern } => match desired::grants::load(base, &pattern, &env.name) {
                Ok(output) => outputs.push(output),
                Err(file_errors) => errors.extend(file_errors.iter().map(ToString::to_string)),
            },
            Source::HrExport { pattern, mapping } => {
                let result = desired::hr::Mapping::load(&mapping)
                    .and_then(|mapping| desired::hr::load_export(base, &pattern, &mapping, now));
                match result {
                    Ok(output) => outputs.push(output),
                    Err(error) => errors.push(error.to_string()),
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(outputs)
    } else {
        Err(errors)
    }
}

/// Applies `plan` through `client` as every apply does, with a progress bar
/// where wanted, and then, unless interrupted, keeps the sources' sizes as
/// the last good ones for the source-shrink rail.
pub(crate) async fn apply_and_record(
    state: &StateDir,
    client: &Client,
    env: &EnvironmentConfig,
    plan: &EnvironmentPlan,
    options: &RunOptions,
) -> Vec<crate::apply::Outcome> {
    let apply_options = ApplyOptions {
        bulk_size: env.api.bulk_size,
        concurrency: env.api.concurrency,
        cancel: options.cancel.clone(),
        progress: Progress::for_apply(&env.name, plan.summary.changes(), options.progress),
    };
    let outcomes = apply_plan(client, plan, &apply_options).await;
    apply_options.progress.finish();
    if !options.cancel.is_cancelled()
        && let Err(error) = state.save_source_sizes(&env.name, &plan.source_sizes)
    {
        tracing::warn!(error = %error, "could not record the sources' sizes");
    }
    outcomes
}

pub(crate) fn log_refusals(refusals: &[Refusal]) {
    for refusal in refusals {
        // The CLI says it as its error; the daemon's log, at info, shows it too.
        tracing::info!(rail = refusal.rail, "{}", refusal.message);
    }
}

/// Works out one environment's plan from its sources and what the service
/// lists, as every run does.
///
/// # Errors
///
/// The prune scope names something the service lacks while pruning, or two
/// sources declare the same grant differently.
pub(crate) fn plan_for(
    env: &EnvironmentConfig,
    sources: &[SourceOutput],
    live: &[Assignment],
    catalog: &Catalog,
    now: Timestamp,
    prune: bool,
) -> Result<EnvironmentPlan, String> {
    let scope = resolve_scope(env, catalog, prune)?;
    plan_environment(PlanInput {
        name: &env.name,
        sources,
        live,
        catalog,
        now,
        prune,
        scope: &scope,
    })
    .map_err(|conflicts| conflicts.join("\n"))
}

/// The prune scope as ids. A scope entry that names nothing is an error when
/// pruning, since guessing could revoke too much or too little.
fn resolve_scope(
    env: &EnvironmentConfig,
    catalog: &Catalog,
    prune: bool,
) -> Result<ResolvedScope, String> {
    let mut scope = ResolvedScope::default();
    let mut unknown = Vec::new();
    for path in &env.prune.scope.nodes {
        match catalog.node_by_path(path) {
            Some(id) => scope.nodes.push(id),
            None => unknown.push(format!("node \"{path}\"")),
        }
    }
    for key in &env.prune.scope.roles {
        match catalog.role_by_key(key) {
            Some(id) => scope.roles.push(id),
            None => unknown.push(format!("role \"{key}\"")),
        }
    }
    if !unknown.is_empty() {
        let message = format!(
            "environment {}: the prune scope names {} that the service does not have",
            env.name,
            unknown.join(", ")
        );
        if prune {
            return Err(format!("{message}; nothing was written. Fix `prune.scope`"));
        }
        tracing::warn!("{message}");
    }
    if prune && env.prune.scope.is_empty() {
        return Err(format!(
            "environment {}: pruning needs `prune.scope` with the nodes or roles grantsync manages; nothing was written",
            env.name
        ));
    }
    Ok(scope)
}
