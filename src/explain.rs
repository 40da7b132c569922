//! `grantsync explain IDENTITY`: everything about one identity's access in
//! each environment: every grant the files declare for it and where (a
//! grants file's `file:line`, or an HR export's row and the mapping rule
//! that produced it), every assignment it holds in the service, and what
//! the plan would do with each.
//!
//! It plans exactly as `plan` does (the same [`Runner`], embedded sandbox
//! included) and then picks out the one identity, so what it says is what
//! a plan would do.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::Serialize;
use uuid::Uuid;

use crate::config::Config;
use crate::desired::{DesiredGrant, IdentityRef, SourceKind};
use crate::plan::{Action, Item, Window};
use crate::report::Mode;
use crate::sync::{Captured, RunOptions, Runner};

/// What one identity's access looks like in every selected environment.
#[derive(Debug, Serialize)]
pub struct Explanation {
    pub identity: String,
    pub environments: Vec<EnvironmentExplanation>,
}

#[derive(Debug, Serialize)]
pub struct EnvironmentExplanation {
    pub name: String,
    /// The identity as the service knows it; `None` when it does not.
    pub known: Option<KnownIdentity>,
    /// Why the service does not know it, with the nearest match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
    /// One line per node and role, sorted.
    pub grants: Vec<GrantLine>,
    /// An error that kept the environment from being planned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct KnownIdentity {
    pub id: Uuid,
    pub email: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub status: String,
}

/// One role at one node: where it is declared, whether it is live, and
/// what the plan does.
#[derive(Debug, Serialize)]
pub struct GrantLine {
    pub node: String,
    pub role: String,
    pub declared: Vec<Declared>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<Live>,
    /// What the plan does; `None` for an HR row that a run leaves out.
    pub action: Option<Action>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Declared {
    /// `file:line`.
    pub source: String,
    /// For an HR row: the mapping rule, e.g. `rule 2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub window: Window,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Live {
    pub assignment_id: Uuid,
    pub window: Window,
    pub state: &'static str,
}

/// What `grantsync explain` is asked.
#[derive(Debug, Clone)]
pub struct Options {
    /// An email, `external:<HR id>`, or a UUID.
    pub identity: String,
    pub config: PathBuf,
    /// Environments to explain; all when empty.
    pub environments: Vec<String>,
    /// JSON on stdout instead of text.
    pub json: bool,
    pub prune: bool,
    pub now: Option<Timestamp>,
    pub state_dir: Option<PathBuf>,
}

/// `grantsync explain`: plans, explains, prints. Returns the exit code: 1
/// when an environment could not be planned or no environment knows the
/// identity.
pub async fn run(options: &Options) -> i32 {
    let config = match Config::load(&options.config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return crate::cli::EXIT_ERROR;
        }
    };
    let mut run_options = RunOptions::new(Mode::Plan);
    run_options.environments = options.environments.clone();
    run_options.prune = options.prune;
    run_options.now = options.now;
    let mut runner = Runner::new(config, options.state_dir.clone());
    let result = explain(&mut runner, &options.identity, &run_options).await;
    runner.shutdown().await;
    let explanation = match result {
        Ok(explanation) => explanation,
        Err(message) => {
            eprintln!("error: {message}");
            return crate::cli::EXIT_ERROR;
        }
    };
    let mut out = anstream::stdout().lock();
    let written = if options.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&explanation).expect("an explanation serializes")
        )
    } else {
        render_text(&explanation, &mut out)
    };
    if let Err(error) = written.and_then(|()| out.flush())
        && error.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: cannot write the output: {error}");
        return crate::cli::EXIT_ERROR;
    }
    let failed = explanation.environments.iter().any(|e| e.error.is_some());
    let unknown_everywhere = explanation
        .environments
        .iter()
        .all(|e| e.known.is_none() && e.grants.is_empty());
    if failed || unknown_everywhere {
        for env in &explanation.environments {
            if let Some(unknown) = &env.unknown {
                eprintln!("error: environment {}: {unknown}", env.name);
            }
        }
        return crate::cli::EXIT_ERROR;
    }
    crate::cli::EXIT_OK
}

/// Plans the selected environments and explains `identity` in each.
///
/// The run's own errors (an unknown environment) come back as `Err`;
/// an environment that could not be planned carries its error.
pub async fn explain(
    runner: &mut Runner,
    identity: &str,
    options: &RunOptions,
) -> Result<Explanation, String> {
    let mut options = options.clone();
    options.mode = Mode::Plan;
    options.capture = true;
    let report = runner.run(&options).await.map_err(|e| e.to_string())?;
    let captured = runner.take_captured();
    let now = report.now;

    let wanted = IdentityRef::parse(identity).ok();
    let environments = report
        .environments
        .iter()
        .map(|env| {
            let capture = captured.iter().find(|c| c.plan.name == env.name);
            match (capture, &env.error) {
                (Some(capture), None) => {
                    explain_environment(capture, identity, wanted.as_ref(), now)
                }
                (_, error) => EnvironmentExplanation {
                    name: env.name.clone(),
                    known: None,
                    unknown: None,
                    grants: Vec::new(),
                    error: Some(error.clone().unwrap_or_else(|| {
                        env.refusals
                            .iter()
                            .map(|r| r.message.clone())
                            .collect::<Vec<_>>()
                            .join("; ")
                    })),
                },
            }
        })
        .collect();
    Ok(Explanation {
        identity: identity.to_owned(),
        environments,
    })
}

fn explain_environment(
    capture: &Captured,
    written: &str,
    wanted: Option<&IdentityRef>,
    now: Timestamp,
) -> EnvironmentExplanation {
    let catalog = &capture.catalog;
    let resolved = match wanted {
        Some(reference) => catalog.identity(reference),
        None => Err(format!(
            "\"{written}\" is neither an email, `external:<id>` nor a UUID"
        )),
    };
    let id = resolved.as_ref().ok().copied();
    let known = id.and_then(|id| {
        catalog
            .identities()
            .find(|identity| identity.id == id)
            .map(|identity| KnownIdentity {
                id,
                email: identity.email.clone(),
                external_id: identity.external_id.clone(),
                display_name: identity.display_name.clone(),
                status: identity.status.clone(),
            })
    });

    // The grants that name this identity, however they spell it.
    let names_it = |grant: &DesiredGrant| match id {
        Some(id) => catalog.identity(&grant.identity) == Ok(id),
        None => Some(&grant.identity) == wanted,
    };
    let mut lines: BTreeMap<(String, String), GrantLine> = BTreeMap::new();

    for grant in capture.sources.iter().flat_map(|s| &s.grants) {
        if !names_it(grant) {
            continue;
        }
        let node = catalog
            .node(&grant.node)
            .map_or_else(|_| grant.node.to_string(), |n| catalog.node_label(n));
        let role = catalog
            .role(&grant.role)
            .map_or_else(|_| grant.role.to_string(), |r| catalog.role_label(r));
        let entry = entry(&mut lines, node, role);
        entry.declared.push(Declared {
            source: grant.origin.to_string(),
            rule: grant.origin.detail.as_ref().map(ToString::to_string),
            window: Window {
                effective_from: grant.effective_from,
                effective_to: grant.effective_to,
            },
            reason: grant.reason.clone(),
        });
        if let (SourceKind::HrRow(_), Err(reason)) = (grant.kind, catalog.node(&grant.node)) {
            entry.detail = Some(format!("{reason}; a run leaves this row out"));
        }
    }

    if let Some(id) = id {
        for assignment in capture.live.iter().filter(|a| a.identity_id == id) {
            let window = Window {
                effective_from: assignment.effective_from,
                effective_to: assignment.effective_to,
            };
            let entry = entry(
                &mut lines,
                catalog.node_label(assignment.node_id),
                catalog.role_label(assignment.role_id),
            );
            entry.live = Some(Live {
                assignment_id: assignment.id,
                window,
                state: window.state(now).as_str(),
            });
        }
    }

    let label = known.as_ref().map(|k| k.email.as_str());
    for item in &capture.plan.items {
        let about_it = match (item.key, id) {
            (Some(key), Some(id)) => key.identity == id,
            _ => Some(item.identity.as_str()) == label || item.identity == written.trim(),
        };
        if about_it {
            let entry = entry(&mut lines, item.node.clone(), item.role.clone());
            entry.action = Some(item.action);
            entry.detail = detail(item).or(entry.detail.take());
        }
    }
    // Declared and live with no item: the plan leaves it as it is.
    for entry in lines.values_mut() {
        if entry.action.is_none() && entry.live.is_some() && !entry.declared.is_empty() {
            entry.action = Some(Action::Unchanged);
        }
    }

    EnvironmentExplanation {
        name: capture.plan.name.clone(),
        known,
        unknown: resolved.err(),
        grants: lines.into_values().collect(),
        error: None,
    }
}

fn entry(
    lines: &mut BTreeMap<(String, String), GrantLine>,
    node: String,
    role: String,
) -> &mut GrantLine {
    lines
        .entry((node.clone(), role.clone()))
        .or_insert(GrantLine {
            node,
            role,
            declared: Vec::new(),
            live: None,
            action: None,
            detail: None,
        })
}

fn detail(item: &Item) -> Option<String> {
    match item.action {
        Action::Unmanaged => Some(
            "live but declared nowhere; left alone (pruning is off, or it is outside the prune scope)"
                .into(),
        ),
        Action::Revoke => Some("live but declared nowhere, inside the prune scope".into()),
        _ => item.detail.clone(),
    }
}

fn window_text(window: &Window) -> String {
    match (window.effective_from, window.effective_to) {
        (None, None) => "no end".into(),
        (Some(from), None) => format!("from {from}"),
        (None, Some(to)) => format!("until {to}"),
        (Some(from), Some(to)) => format!("{from} until {to}"),
    }
}

/// Writes the explanation for people.
pub fn render_text(explanation: &Explanation, out: &mut dyn Write) -> std::io::Result<()> {
    for env in &explanation.environments {
        match (&env.known, &env.error) {
            (_, Some(error)) => {
                writeln!(
                    out,
                    "environment {}: could not be planned: {error}",
                    env.name
                )?;
                continue;
            }
            (Some(known), None) => {
                let mut about = vec![known.status.clone()];
                if let Some(name) = &known.display_name {
                    about.insert(0, name.clone());
                }
                if let Some(external) = &known.external_id {
                    about.push(format!("external:{external}"));
                }
                writeln!(
                    out,
                    "{} in environment {} ({})",
                    known.email,
                    env.name,
                    about.join(", ")
                )?;
            }
            (None, None) => writeln!(
                out,
                "{} in environment {}: {}",
                explanation.identity,
                env.name,
                env.unknown.as_deref().unwrap_or("not known to the service")
            )?,
        }
        if env.grants.is_empty() {
            writeln!(out, "  no grant is declared and no assignment is live")?;
        }
        for line in &env.grants {
            writeln!(out)?;
            writeln!(out, "  {} {}", line.node, line.role)?;
            if line.declared.is_empty() {
                writeln!(out, "    declared  nowhere")?;
            }
            for declared in &line.declared {
                let mut text = declared.source.clone();
                if let Some(rule) = &declared.rule {
                    text.push_str(&format!(" ({rule} of the mapping)"));
                }
                text.push_str(&format!(", {}", window_text(&declared.window)));
                if let Some(reason) = &declared.reason {
                    text.push_str(&format!(", reason: {reason}"));
                }
                writeln!(out, "    declared  {text}")?;
            }
            match &line.live {
                Some(live) => writeln!(
                    out,
                    "    live      {}, {}, assignment {}",
                    live.state,
                    window_text(&live.window),
                    live.assignment_id
                )?,
                None => writeln!(out, "    live      no assignment")?,
            }
            let action = line.action.map_or("left out", Action::as_str);
            match &line.detail {
                Some(detail) => writeln!(out, "    plan      {action}: {detail}")?,
                None => writeln!(out, "    plan      {action}")?,
            }
        }
        writeln!(out)?;
    }
    Ok(())
}
