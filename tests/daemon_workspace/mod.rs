//! A copy of `tests/fixtures/daemon` with a config written for the test, and
//! the small pieces the daemon's end-to-end tests share: HTTP on loopback
//! and reading a Prometheus exposition.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

/// The most any awaited step may take before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The key the fixture's directory lists; it must never reach a log.
pub const KEY: &str = "sk_daemon_test";

pub struct Workspace {
    pub dir: TempDir,
}

impl Workspace {
    pub fn new() -> Workspace {
        let dir = tempfile::tempdir().expect("temporary directory");
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/daemon");
        for entry in walkdir::WalkDir::new(&fixture) {
            let entry = entry.unwrap();
            let target = dir
                .path()
                .join(entry.path().strip_prefix(&fixture).unwrap());
            if entry.file_type().is_dir() {
                std::fs::create_dir_all(&target).unwrap();
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
        std::fs::write(dir.path().join("key.txt"), format!("{KEY}\n")).unwrap();
        Workspace { dir }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn config(&self) -> PathBuf {
        self.path("grantsync.yaml")
    }

    pub fn state(&self) -> PathBuf {
        self.path("state")
    }

    /// Writes the config: `api` is the environment's `api:` value and
    /// `extra` more lines of the environment (indented by four).
    pub fn write_config(&self, api: &str, extra: &str) {
        let text = format!(
            "environments:\n  - name: Production\n    api: {api}\n{extra}    sources:\n      - grants: access/*.yaml\nreports: {{keep: 10}}\ndaemon:\n  listen: 127.0.0.1:0\n  debounce_ms: 100\n"
        );
        std::fs::write(self.config(), text).unwrap();
    }

    /// A config for the sandbox at `url`, the key read from `key.txt`.
    pub fn write_config_for(&self, url: &str) {
        self.write_config(
            &format!("{{url: \"{url}\", key_file: key.txt, bulk_size: 1, concurrency: 1}}"),
            "",
        );
    }

    /// The reports written so far, parsed, oldest first (by their start:
    /// file names only sort to the second).
    pub fn reports(&self) -> Vec<serde_json::Value> {
        let paths: Vec<PathBuf> = match std::fs::read_dir(self.state().join("reports")) {
            Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
            Err(_) => return Vec::new(),
        };
        let mut reports: Vec<serde_json::Value> = paths
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect();
        reports.sort_by_key(|r| {
            let started = r["started_at"].as_str().unwrap_or_default();
            started.parse::<jiff::Timestamp>().ok()
        });
        reports
    }
}

/// GET on loopback: the status code and the body.
pub async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect("the daemon answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// The value of the sample `series` (name and labels exactly as rendered)
/// in a Prometheus text exposition.
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.trim().parse().ok()
    })
}
