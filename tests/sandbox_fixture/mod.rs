//! A sandbox on 127.0.0.1:0 with a throwaway data directory, and a small
//! JSON client for it, shared by the `sandbox_*` test files.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use grantsync::sandbox::{Faults, Options, Sandbox};
use jiff::Timestamp;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tempfile::TempDir;
use uuid::Uuid;

/// The instant the route tests run at (see the fixture's comment).
pub const NOW: &str = "2026-06-01T00:00:00Z";

pub const LOOPBACK: &str = "127.0.0.1:0";

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn options(directory: PathBuf, data_dir: &Path) -> Options {
    Options {
        directory,
        data_dir: data_dir.to_owned(),
        reset: false,
        now: Some(NOW.parse().unwrap()),
        faults: Faults::default(),
        allow_remote: false,
    }
}

/// A running sandbox and the directory its store lives in.
pub struct Running {
    pub sandbox: Sandbox,
    pub data: TempDir,
    pub http: reqwest::Client,
}

impl Running {
    pub async fn start(options: Options) -> Running {
        let data = tempfile::tempdir().unwrap();
        Running::start_in(options, data).await
    }

    /// Starts on `data`, whatever `options.data_dir` says.
    pub async fn start_in(mut options: Options, data: TempDir) -> Running {
        options.data_dir = data.path().to_owned();
        let sandbox = Sandbox::start(options, LOOPBACK.parse::<SocketAddr>().unwrap())
            .await
            .unwrap();
        Running {
            sandbox,
            data,
            http: reqwest::Client::new(),
        }
    }

    /// The two-environment fixture at [`NOW`].
    pub async fn two_environments() -> Running {
        let data = tempfile::tempdir().unwrap();
        let options = options(fixture("sandbox/two-environments.yaml"), data.path());
        Running::start_in(options, data).await
    }

    pub fn api(&self, key: &str) -> Api {
        Api {
            base: self.sandbox.url(),
            key: Some(key.to_owned()),
            http: self.http.clone(),
        }
    }

    pub fn anonymous(&self) -> Api {
        Api {
            base: self.sandbox.url(),
            key: None,
            http: self.http.clone(),
        }
    }
}

/// Calls with one API key; every answer comes back as status and JSON.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub key: Option<String>,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str, key: &str) -> Api {
        Api {
            base: base.to_owned(),
            key: Some(key.to_owned()),
            http: reqwest::Client::new(),
        }
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = &self.key {
            request = request.header("X-API-Key", key);
        }
        request
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: not JSON: {text}"))
        };
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.request(Method::POST, path).json(&body))
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.request(Method::PATCH, path).json(&body))
            .await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.request(Method::DELETE, path)).await
    }

    /// Follows `next_cursor` from the first page to the last.
    pub async fn list_all(&self, path: &str, limit: usize) -> Vec<Value> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{path}{separator}limit={limit}");
            if let Some(cursor) = &cursor {
                url.push_str(&format!("&cursor={cursor}"));
            }
            let (status, page) = self.get(&url).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            items.extend(page["data"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return items,
            }
        }
    }
}

/// The `error.code` of an error body.
pub fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

/// Ids of the Production environment of the two-environment fixture.
pub struct Production {
    pub env: Uuid,
}

impl Production {
    pub fn new() -> Production {
        Production {
            env: grantsync::ids::environment("Production"),
        }
    }

    pub fn identity(&self, email: &str) -> Uuid {
        grantsync::ids::identity(self.env, email)
    }

    pub fn node(&self, path: &str) -> Uuid {
        grantsync::ids::node(self.env, path)
    }

    pub fn role(&self, key: &str) -> Uuid {
        grantsync::ids::role(self.env, key)
    }

    pub fn item(&self, email: &str, node: &str, role: &str) -> Value {
        serde_json::json!({
            "identity_id": self.identity(email),
            "node_id": self.node(node),
            "role_id": self.role(role),
        })
    }
}

pub fn timestamp(text: &str) -> Timestamp {
    text.parse().unwrap()
}
