//! Shared pieces of the end-to-end tests: fixtures copied into a temporary
//! directory, the real binary, and a sandbox on 127.0.0.1.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Output;

use grantsync::sandbox::{self, Sandbox};
use serde_json::Value;
use tempfile::TempDir;

/// A copy of `tests/fixtures/<name>` in a fresh temporary directory, so that
/// a test's state directory and edits never touch the repository.
pub fn fixture(name: &str) -> TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    copy_tree(&source, dir.path());
    dir
}

/// A copy of `examples/quickstart` in a fresh temporary directory, without
/// the `.grantsync/` state that a local run of the quickstart leaves there.
pub fn quickstart() -> TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    copy_tree(&source, dir.path());
    dir
}

/// Copies the tree at `from` into `to`, leaving out `.grantsync/` state.
pub fn copy_tree(from: &Path, to: &Path) {
    let entries = walkdir::WalkDir::new(from)
        .into_iter()
        .filter_entry(|entry| entry.file_name() != ".grantsync");
    for entry in entries {
        let entry = entry.expect("readable fixture");
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The grantsync binary of this build.
pub fn grantsync() -> assert_cmd::Command {
    let mut command = assert_cmd::Command::cargo_bin("grantsync").expect("binary built");
    command.env_remove("GRANTSYNC_LOG").env("NO_COLOR", "1");
    command
}

/// Runs grantsync with `args` and returns its output.
pub fn run(args: &[&str]) -> Output {
    grantsync().args(args).output().expect("grantsync runs")
}

/// Runs grantsync with `args` plus `--format json`, and parses stdout.
pub fn run_json(args: &[&str]) -> (i32, Value) {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--format", "json"]);
    let output = run(&all);
    let code = output.status.code().expect("exited");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}); exit {code}\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (code, json)
}

/// The summary of the first environment of a plan or report.
pub fn summary(report: &Value) -> &Value {
    &report["environments"][0]["summary"]
}

/// Counts of a summary, in the order create, update, renew, unchanged,
/// revoke, unmanaged, unresolved.
pub fn counts(report: &Value) -> [u64; 7] {
    let s = summary(report);
    [
        "create",
        "update",
        "renew",
        "unchanged",
        "revoke",
        "unmanaged",
        "unresolved",
    ]
    .map(|k| {
        s[k].as_u64()
            .unwrap_or_else(|| panic!("summary lacks {k}: {s}"))
    })
}

/// Starts a sandbox on an ephemeral loopback port, its store in `data`.
pub async fn start_sandbox(directory: &Path, data: &Path, now: Option<&str>) -> Sandbox {
    start_sandbox_with(directory, data, now, sandbox::Faults::default()).await
}

pub async fn start_sandbox_with(
    directory: &Path,
    data: &Path,
    now: Option<&str>,
    faults: sandbox::Faults,
) -> Sandbox {
    let options = sandbox::Options {
        directory: directory.to_path_buf(),
        data_dir: data.to_path_buf(),
        reset: false,
        now: now.map(|n| n.parse().expect("valid --now")),
        faults,
        allow_remote: false,
    };
    Sandbox::start(options, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("sandbox starts")
}

/// Rewrites a config so that its first environment talks to `url` with the
/// key in the environment variable `key_env`, instead of the embedded sandbox.
pub fn point_config_at(config: &Path, url: &str, key_env: &str) -> PathBuf {
    let text = std::fs::read_to_string(config).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if trimmed.starts_with("api:") {
            out.push_str(&format!(
                "{indent}api: {{url: \"{url}\", key_env: {key_env}}}\n"
            ));
        } else if ["url: sandbox", "key_env:", "sandbox:"]
            .iter()
            .any(|prefix| trimmed.starts_with(prefix))
        {
            continue;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    let path = config.with_file_name("remote.yaml");
    std::fs::write(&path, out).unwrap();
    path
}

pub mod scenario;

/// What one run of the binary produced.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}); exit {}\nstdout: {}\nstderr: {}",
                self.code, self.stdout, self.stderr
            )
        })
    }
}

/// Runs the binary with the scenario key in its environment, off the async
/// runtime so that an in-process sandbox keeps serving meanwhile.
pub async fn run_with_key(args: &[&str], key: &str) -> Run {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let key = key.to_owned();
    tokio::task::spawn_blocking(move || {
        let output = grantsync()
            .env(scenario::KEY_ENV, key)
            .args(&args)
            .output()
            .expect("grantsync runs");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}
