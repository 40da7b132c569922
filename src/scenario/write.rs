//! Writing a scenario's files: `directory.yaml` (the sandbox's seed, with
//! the live assignments), `access/grants-NNNNN.yaml` (the desired grants),
//! `grantsync.yaml`, `sandbox.key` and `scenario.json` (the spec and the
//! counts its plan must show).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};

use super::{Fate, KeyAt, KeySpace, Spec, fates, mix};

/// The scenario's one environment.
pub const ENVIRONMENT: &str = "Scale";

/// The API key its sandbox directory lists.
pub const KEY: &str = "sk_scale_bench";

/// How the written config reaches the sandbox and sends its writes.
#[derive(Debug, Clone)]
pub struct ConfigOptions {
    /// `sandbox` for the embedded sandbox, or the base URL of one that runs
    /// on its own (the key then comes from `sandbox.key`).
    pub url: String,
    pub bulk_size: usize,
    pub concurrency: usize,
}

impl Default for ConfigOptions {
    fn default() -> Self {
        ConfigOptions {
            url: crate::config::EMBEDDED_SANDBOX.to_owned(),
            bulk_size: crate::sandbox::DEFAULT_BULK_LIMIT,
            concurrency: 4,
        }
    }
}

/// Where the files went.
#[derive(Debug, Clone)]
pub struct Written {
    pub config: PathBuf,
    pub directory: PathBuf,
    pub grants_dir: PathBuf,
    pub grants_files: usize,
}

/// Writes the scenario of `spec` under `dir` (created if missing).
///
/// # Errors
///
/// The spec does not fit ([`Spec::validate`]) or a file cannot be written.
pub fn write(spec: &Spec, dir: &Path, options: &ConfigOptions) -> io::Result<Written> {
    spec.validate()
        .map_err(|m| io::Error::new(io::ErrorKind::InvalidInput, m))?;
    let grants_dir = dir.join("access");
    std::fs::create_dir_all(&grants_dir)?;
    let space = KeySpace::new(spec);
    let fates = fates(spec);

    let directory = dir.join("directory.yaml");
    write_directory(spec, &space, &fates, &directory)?;
    let grants_files = write_grants(spec, &space, &fates, &grants_dir)?;
    let config = write_config(dir, options)?;
    let summary = serde_json::json!({
        "spec": spec,
        "desired": spec.desired(),
        "live": spec.live(),
        "nodes": spec.nodes(),
        "grants_files": grants_files,
    });
    std::fs::write(
        dir.join("scenario.json"),
        serde_json::to_string_pretty(&summary).expect("a JSON value serializes"),
    )?;
    Ok(Written {
        config,
        directory,
        grants_dir,
        grants_files,
    })
}

fn email(identity: usize) -> String {
    format!("user{identity}@scale.example")
}

fn node_path(key: &KeyAt) -> String {
    format!("org/d{}/t{}", key.department, key.team)
}

/// Ends of a live window, as the sandbox takes them: some keys end in a
/// future year, a few started in the past, most are open.
fn live_window(seed: u64, k: usize) -> (Option<Timestamp>, Option<Timestamp>) {
    let h = mix(seed.rotate_left(17) ^ k as u64);
    let day = SignedDuration::from_hours(24 * (h % 365) as i64);
    let start: Timestamp = "2030-01-01T23:59:59Z".parse().expect("a valid instant");
    match h % 10 {
        0 | 1 => (None, Some(start + day)),
        2 => (
            Some("2026-01-01T00:00:00Z".parse().expect("a valid instant")),
            None,
        ),
        _ => (None, None),
    }
}

/// The desired window of a key whose window changes: its end moves.
fn changed_window(
    (from, to): (Option<Timestamp>, Option<Timestamp>),
) -> (Option<Timestamp>, Option<Timestamp>) {
    let to = match to {
        Some(to) => to + SignedDuration::from_hours(24 * 30),
        None => "2031-06-30T23:59:59Z".parse().expect("a valid instant"),
    };
    (from, Some(to))
}

fn write_directory(spec: &Spec, space: &KeySpace, fates: &[Fate], path: &Path) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    writeln!(
        out,
        "# A generated scale scenario (seed {}); see scenario.json.",
        spec.seed
    )?;
    writeln!(
        out,
        "environments:\n  - name: {ENVIRONMENT}\n    api_keys: [{KEY}]\n    identities:"
    )?;
    for i in 0..spec.identities {
        writeln!(out, "      - {{email: {}, external_id: E{i}}}", email(i))?;
    }
    writeln!(out, "    nodes:\n      - key: org\n        children:")?;
    for d in 0..spec.departments {
        writeln!(out, "          - key: d{d}\n            children:")?;
        for t in 0..spec.teams {
            writeln!(out, "              - {{key: t{t}}}")?;
        }
    }
    writeln!(out, "    roles:")?;
    for r in 0..spec.roles {
        writeln!(out, "      - {{key: role{r}, permissions: [p{r}.read]}}")?;
    }
    if spec.live() == 0 {
        writeln!(out, "    assignments: []")?;
        return out.flush();
    }
    writeln!(out, "    assignments:")?;
    let mut line = String::with_capacity(160);
    for (k, fate) in fates.iter().enumerate() {
        if *fate == Fate::Create {
            continue;
        }
        let key = space.key(k);
        line.clear();
        write!(
            line,
            "      - {{identity: {}, node: {}, role: role{}",
            email(key.identity),
            node_path(&key),
            key.role
        )
        .expect("writing to a String");
        push_window(&mut line, ", ", live_window(spec.seed, k));
        line.push_str("}\n");
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}

fn push_window(
    line: &mut String,
    separator: &str,
    (from, to): (Option<Timestamp>, Option<Timestamp>),
) {
    if let Some(from) = from {
        write!(line, "{separator}effective_from: {from}").expect("writing to a String");
    }
    if let Some(to) = to {
        write!(line, "{separator}effective_to: {to}").expect("writing to a String");
    }
}

/// Writes the desired grants in files of `grants_per_file`, in key order,
/// one entry per grant as people write them; returns the number of files.
fn write_grants(spec: &Spec, space: &KeySpace, fates: &[Fate], dir: &Path) -> io::Result<usize> {
    let mut files = 0;
    let mut in_file = 0;
    let mut out: Option<BufWriter<File>> = None;
    let mut entry = String::with_capacity(256);
    for (k, fate) in fates.iter().enumerate() {
        let window = match fate {
            Fate::Revoke => continue,
            Fate::Unchanged | Fate::Create => live_window(spec.seed, k),
            Fate::Update => changed_window(live_window(spec.seed, k)),
        };
        if out.is_none() || in_file == spec.grants_per_file {
            if let Some(mut done) = out.take() {
                done.flush()?;
            }
            let path = dir.join(format!("grants-{files:05}.yaml"));
            let mut file = BufWriter::with_capacity(1 << 20, File::create(path)?);
            writeln!(file, "environment: {ENVIRONMENT}\ngrants:")?;
            out = Some(file);
            files += 1;
            in_file = 0;
        }
        let key = space.key(k);
        entry.clear();
        // Every tenth identity is named by its HR id, as HR-fed files do.
        if key.identity % 10 == 3 {
            write!(entry, "  - identity: external:E{}", key.identity)
        } else {
            write!(entry, "  - identity: {}", email(key.identity))
        }
        .expect("writing to a String");
        write!(
            entry,
            "\n    node: {}\n    role: role{}",
            node_path(&key),
            key.role
        )
        .expect("writing to a String");
        push_window(&mut entry, "\n    ", window);
        if k % 20 == 0 {
            entry.push_str("\n    reason: generated for scale");
        }
        entry.push('\n');
        out.as_mut()
            .expect("opened above")
            .write_all(entry.as_bytes())?;
        in_file += 1;
    }
    if let Some(mut done) = out {
        done.flush()?;
    }
    if files == 0 {
        std::fs::write(
            dir.join("grants-00000.yaml"),
            format!("environment: {ENVIRONMENT}\ngrants: []\n"),
        )?;
        files = 1;
    }
    Ok(files)
}

/// (Re)writes the scenario's config and key file, e.g. once the sandbox that
/// the config is to call has started and its URL is known; returns the
/// config's path.
pub fn write_config(dir: &Path, options: &ConfigOptions) -> io::Result<PathBuf> {
    let config = dir.join("grantsync.yaml");
    std::fs::write(&config, config_text(options))?;
    std::fs::write(dir.join("sandbox.key"), KEY)?;
    Ok(config)
}

fn config_text(options: &ConfigOptions) -> String {
    let api = if options.url == crate::config::EMBEDDED_SANDBOX {
        format!(
            "api: {{url: sandbox, bulk_size: {}, concurrency: {}}}\n    sandbox: {{directory: directory.yaml}}",
            options.bulk_size, options.concurrency
        )
    } else {
        format!(
            "api: {{url: \"{}\", key_file: sandbox.key, bulk_size: {}, concurrency: {}}}",
            options.url, options.bulk_size, options.concurrency
        )
    };
    format!(
        "# A generated scale scenario; see scenario.json.
environments:
  - name: {ENVIRONMENT}
    {api}
    sources:
      - grants: access/*.yaml
    prune:
      enabled: true
      scope: {{nodes: [org]}}
    limits:
      max_revocations: 100%
      max_source_shrink: 100%
reports: {{keep: 5}}
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_spec_writes_the_same_bytes() {
        let spec = Spec::sized(5, 300, 40, 50, 30);
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for dir in [&a, &b] {
            write(&spec, dir.path(), &ConfigOptions::default()).unwrap();
        }
        for file in [
            "directory.yaml",
            "access/grants-00000.yaml",
            "grantsync.yaml",
        ] {
            let read = |d: &tempfile::TempDir| std::fs::read(d.path().join(file)).unwrap();
            assert_eq!(read(&a), read(&b), "{file}");
        }
    }

    #[test]
    fn written_files_load_with_their_counts() {
        let spec = Spec::sized(9, 120, 15, 25, 10);
        let dir = tempfile::tempdir().unwrap();
        let written = write(&spec, dir.path(), &ConfigOptions::default()).unwrap();
        // Loading checks every reference and window of the live assignments.
        let key = crate::sandbox::first_key(&written.directory, ENVIRONMENT).unwrap();
        assert_eq!(key.as_deref(), Some(KEY));
        let source =
            crate::desired::grants::load(dir.path(), "access/*.yaml", ENVIRONMENT).unwrap();
        assert_eq!(source.grants.len(), spec.desired());
        crate::config::Config::load(&written.config).unwrap();
    }
}
