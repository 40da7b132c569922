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
use crate::desired::grants::parse_instant;
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

/// A grants file read leniently: unknown keys are skipped and every key is
/// optional, so that a file the strict reading stops on (a misspelt key)
/// still has its other values checked.
#[derive(Deserialize)]
struct LenientFile {
    #[serde(default)]
    grants: Vec<LenientEntry>,
}

#[derive(Deserialize)]
struct LenientEntry {
    #[serde(default)]
    identity: Option<Spanned<String>>,
    #[serde(default)]
    identities: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    node: Option<Spanned<String>>,
    #[serde(default)]
    role: Option<Spanned<String>>,
    #[serde(default)]
    effective_from: Option<Spanned<String>>,
    #[serde(default)]
    effective_to: Option<Spanned<String>>,
}

impl LenientEntry {
    fn identities(&self) -> impl Iterator<Item = &Spanned<String>> {
        self.identity.iter().chain(self.identities.iter().flatten())
    }
}

fn read_lenient(path: &Path) -> Option<LenientFile> {
    let text = std::fs::read_to_string(path).ok()?;
    yaml::from_str::<LenientFile>(&text).ok()
}

/// The names of one grants file: every node, role and identity it writes
/// that the service does not have.
pub(super) fn check_grants_file(path: &Path, catalog: &Catalog, out: &mut Vec<Diagnostic>) {
    let Some(file) = read_lenient(path) else {
        return;
    };
    for entry in &file.grants {
        if let Some(node) = &entry.node
            && let Ok(reference) = NodeRef::parse(&node.value)
            && let Err(message) = catalog.node(&reference)
        {
            out.push(at(path, node, message));
        }
        if let Some(role) = &entry.role
            && let Ok(reference) = RoleRef::parse(&role.value)
            && let Err(message) = catalog.role(&reference)
        {
            out.push(at(path, role, message));
        }
        for identity in entry.identities() {
            if let Ok(reference) = IdentityRef::parse(&identity.value)
                && let Err(message) = catalog.identity(&reference)
            {
                out.push(at(path, identity, message));
            }
        }
    }
}

/// The values of a grants file that the strict reading stopped on: each
/// reference and time that cannot be read, away from the line the strict
/// reading already reported. Whether the file parses leniently is returned,
/// so that its names can be checked too.
pub(super) fn check_grants_values(path: &Path, reported: u64, out: &mut Vec<Diagnostic>) -> bool {
    let Some(file) = read_lenient(path) else {
        return false;
    };
    let mut found = Vec::new();
    for entry in &file.grants {
        if let Some(node) = &entry.node
            && let Err(message) = NodeRef::parse(&node.value)
        {
            found.push(at(path, node, message));
        }
        if let Some(role) = &entry.role
            && let Err(message) = RoleRef::parse(&role.value)
        {
            found.push(at(path, role, message));
        }
        for identity in entry.identities() {
            if let Err(message) = IdentityRef::parse(&identity.value) {
                found.push(at(path, identity, message));
            }
        }
        let times = [(&entry.effective_from, false), (&entry.effective_to, true)];
        for (value, end_of_day) in times {
            if let Some(value) = value
                && let Err(message) = parse_instant(&value.value, end_of_day)
            {
                found.push(at(path, value, message));
            }
        }
    }
    out.extend(found.into_iter().filter(|d| d.line != reported));
    true
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
        // `message` is the catalog's, with its hint; `consequence` follows it.
        let row = |message: String, consequence: &str| {
            let mut warning =
                Diagnostic::warning(&export, u64::from(grant.origin.line), 0, message)
                    .with_hint_from_message();
            warning.message.push_str(consequence);
            warning
        };

        if let Err(message) = catalog.role(&grant.role) {
            match rule {
                Some((n, names)) => {
                    if reported_rules.insert((n, "role")) {
                        out.push(at(mapping, &names.role, format!("rule {n}: {message}")));
                    }
                }
                None => rows.push(row(message, "")),
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
                        rows.push(row(message, "; a run leaves this row out"));
                    }
                }
            }
        }
        if let Err(message) = catalog.identity(&grant.identity)
            && rows_seen.insert((grant.origin.line, message.clone()))
        {
            rows.push(row(
                message,
                "; this row's grants stay unresolved until the service has the identity",
            ));
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
