//! Checking the names the files use against what the service has: every
//! identity, node and role of a grants file, every role and literal node
//! of an HR mapping's rules, every node and role the config's prune scope
//! and protected roles name. A name that matches nothing is reported at the
//! value that wrote it, with the nearest name the service knows.
//!
//! The files have already parsed when these checks run; they are read
//! again here only for the places of their values.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::diagnostic::Diagnostic;
use crate::desired::grants::GrantsFile;
use crate::desired::{IdentityRef, NodeRef, RoleRef, SourceOutput};
use crate::resolve::Catalog;
use crate::yaml;

/// How many row warnings one export shows before it only counts them.
const ROW_WARNINGS_SHOWN: usize = 20;

fn at<T>(path: &Path, value: &Spanned<T>, message: String) -> Diagnostic {
    Diagnostic::error(
        path,
        value.referenced.line(),
        value.referenced.column(),
        message,
    )
    .with_hint_from_message()
}

/// The names of one grants file that read without error.
pub(super) fn check_grants_file(path: &Path, catalog: &Catalog, out: &mut Vec<Diagnostic>) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let Ok(file) = yaml::from_str::<GrantsFile>(&text) else {
        return;
    };
    for entry in &file.grants {
        if let Ok(node) = NodeRef::parse(&entry.node.value)
            && let Err(message) = catalog.node(&node)
        {
            out.push(at(path, &entry.node, message));
        }
        if let Ok(role) = RoleRef::parse(&entry.role.value)
            && let Err(message) = catalog.role(&role)
        {
            out.push(at(path, &entry.role, message));
        }
        let identities = entry
            .identity
            .iter()
            .chain(entry.identities.iter().flatten());
        for identity in identities {
            if let Ok(reference) = IdentityRef::parse(&identity.value)
                && let Err(message) = catalog.identity(&reference)
            {
                out.push(at(path, identity, message));
            }
        }
    }
}

/// The rules of a mapping, for the places of their nodes and roles.
#[derive(Deserialize)]
struct MappingRules {
    #[serde(default)]
    rules: Vec<RuleNames>,
}

#[derive(Deserialize)]
struct RuleNames {
    node: Spanned<String>,
    role: Spanned<String>,
}

/// The names an HR export yielded. A rule's literal role or node that
/// matches nothing is the mapping's error; a templated node or an identity
/// that matches nothing is one row's problem, which a run skips or leaves
/// unresolved, and is a warning.
pub(super) fn check_hr_export(
    base: &Path,
    output: &SourceOutput,
    mapping: &Path,
    catalog: &Catalog,
    out: &mut Vec<Diagnostic>,
) {
    let rules = std::fs::read_to_string(mapping)
        .ok()
        .and_then(|text| yaml::from_str::<MappingRules>(&text).ok())
        .map(|m| m.rules)
        .unwrap_or_default();
    let rule_of = |detail: Option<&str>| {
        detail
            .and_then(|d| d.strip_prefix("rule "))
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| rules.get(n.checked_sub(1)?).map(|rule| (n, rule)))
    };

    let mut reported_rules: HashSet<(usize, &str)> = HashSet::new();
    let mut rows = Vec::new();
    let mut rows_seen: HashSet<(u32, String)> = HashSet::new();
    for grant in &output.grants {
        let rule = rule_of(grant.origin.detail.as_deref());
        let export = base.join(&*grant.origin.file);
        let row = |message: String| {
            Diagnostic::warning(&export, u64::from(grant.origin.line), 0, message)
                .with_hint_from_message()
        };

        if let Err(message) = catalog.role(&grant.role) {
            match rule {
                Some((n, names)) => {
                    if reported_rules.insert((n, "role")) {
                        out.push(at(mapping, &names.role, format!("rule {n}: {message}")));
                    }
                }
                None => rows.push(row(message)),
            }
        }
        if let Err(message) = catalog.node(&grant.node) {
            match rule {
                Some((n, names)) if !names.node.value.contains('{') => {
                    if reported_rules.insert((n, "node")) {
                        out.push(at(mapping, &names.node, format!("rule {n}: {message}")));
                    }
                }
                _ => {
                    if rows_seen.insert((grant.origin.line, message.clone())) {
                        rows.push(row(format!("{message}; a run leaves this row out")));
                    }
                }
            }
        }
        if let Err(message) = catalog.identity(&grant.identity)
            && rows_seen.insert((grant.origin.line, message.clone()))
        {
            rows.push(row(format!(
                "{message}; this row's grants stay unresolved until the service has the identity"
            )));
        }
    }

    let hidden = rows.len().saturating_sub(ROW_WARNINGS_SHOWN);
    out.extend(rows.into_iter().take(ROW_WARNINGS_SHOWN));
    if hidden > 0 {
        let export = output
            .files
            .first()
            .map_or_else(|| base.join(&output.name), Clone::clone);
        out.push(Diagnostic::warning(
            &export,
            0,
            0,
            format!("{hidden} more rows name something the service does not have"),
        ));
    }
}

/// The names in the config that the types cannot check: the prune scope
/// and the protected roles of one environment.
#[derive(Deserialize)]
struct ConfigNames {
    #[serde(default)]
    environments: Vec<EnvironmentNames>,
}

#[derive(Deserialize)]
struct EnvironmentNames {
    name: String,
    #[serde(default)]
    prune: Option<PruneNames>,
    #[serde(default)]
    limits: Option<LimitNames>,
}

#[derive(Deserialize)]
struct PruneNames {
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    scope: Option<ScopeNames>,
}

#[derive(Deserialize)]
struct ScopeNames {
    #[serde(default)]
    nodes: Vec<Spanned<String>>,
    #[serde(default)]
    roles: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
struct LimitNames {
    #[serde(default)]
    protect: Vec<ProtectNames>,
}

#[derive(Deserialize)]
struct ProtectNames {
    role: Spanned<String>,
}

/// An unknown scope entry stops a run only when it prunes, so it is an
/// error when the config turns pruning on and a warning otherwise. An
/// unknown protected role would keep its rail from ever firing: an error.
pub(super) fn check_config(
    config: &Path,
    environment: &str,
    catalog: &Catalog,
    out: &mut Vec<Diagnostic>,
) {
    let Some(env) = std::fs::read_to_string(config)
        .ok()
        .and_then(|text| yaml::from_str::<ConfigNames>(&text).ok())
        .and_then(|names| {
            names
                .environments
                .into_iter()
                .find(|e| e.name.trim() == environment)
        })
    else {
        return;
    };

    if let Some(prune) = &env.prune
        && let Some(scope) = &prune.scope
    {
        let mut scoped = |value: &Spanned<String>, found: Result<(), String>| {
            if let Err(message) = found {
                let mut diagnostic = at(
                    config,
                    value,
                    format!("prune scope of environment {environment}: {message}"),
                );
                if !prune.enabled {
                    diagnostic.severity = super::diagnostic::Severity::Warning;
                }
                out.push(diagnostic);
            }
        };
        for node in &scope.nodes {
            let found = NodeRef::parse(&node.value).and_then(|n| catalog.node(&n).map(drop));
            scoped(node, found);
        }
        for role in &scope.roles {
            let found = RoleRef::parse(&role.value).and_then(|r| catalog.role(&r).map(drop));
            scoped(role, found);
        }
    }

    for protect in env.limits.iter().flat_map(|l| &l.protect) {
        if let Err(message) = RoleRef::parse(&protect.role.value).and_then(|r| catalog.role(&r)) {
            out.push(at(
                config,
                &protect.role,
                format!("protected role of environment {environment}: {message}"),
            ));
        }
    }
}
