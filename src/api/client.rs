//! The HTTP client of the access service.
//!
//! One [`Client`] talks to one environment with one key. Every call goes
//! through `Client::call`, which sets the key header, applies the retry
//! policy of `retry.rs` and turns non-2xx answers into [`Error::Api`] with the
//! service's error code. Listing walks every page of a keyset-paginated
//! endpoint.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backon::Retryable;
use bytes::Bytes;
use reqwest::header::{HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::key::ApiKey;
use super::retry;
use super::types::{
    Assignment, AssignmentPatch, BulkCreateRequest, BulkCreateResponse, Environment, ErrorEnvelope,
    Identity, MAX_PAGE_SIZE, NewAssignment, Node, Page, Role,
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to {what}: {status} {code}: {message}")]
    Api {
        what: String,
        status: u16,
        code: String,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("failed to {what}: {source}")]
    Transport {
        what: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("failed to {what}: the answer is not what the API contract says: {message}")]
    Contract { what: String, message: String },
    #[error(
        "refusing plain http:// to {host}: use https://, or http:// only to a loopback address"
    )]
    Insecure { host: String },
    #[error("invalid API url \"{url}\": {message}")]
    InvalidUrl { url: String, message: String },
    #[error("failed to {what}: stopped before the call was sent")]
    Interrupted { what: String },
}

impl Error {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The contract's error code, or a code that says what went wrong on the way.
    pub fn code(&self) -> &str {
        match self {
            Error::Api { code, .. } => code,
            Error::Transport { .. } => "transport",
            Error::Contract { .. } => "contract",
            Error::Insecure { .. } | Error::InvalidUrl { .. } => "config",
            Error::Interrupted { .. } => "interrupted",
        }
    }

    /// Whether the same call may succeed when sent again.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api { status, .. } => *status == 429 || (500..600).contains(status),
            Error::Transport { .. } => true,
            _ => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Timeouts and retries of a client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: retry::Policy,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            retry: retry::Policy::default(),
        }
    }
}

/// Counts of the calls a client made, for reports, metrics and tests.
#[derive(Debug, Default)]
pub struct CallStats {
    reads: AtomicU64,
    writes: AtomicU64,
    retries: AtomicU64,
    by_status: Mutex<BTreeMap<String, u64>>,
}

/// A snapshot of [`CallStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CallCounts {
    /// Calls that change nothing (GET), attempts included.
    pub reads: u64,
    /// Calls that write (POST, PATCH, DELETE), attempts included.
    pub writes: u64,
    /// Attempts that were sent again after a retryable failure.
    pub retries: u64,
    /// Answers by status code; `transport` for attempts that got none.
    pub by_status: BTreeMap<String, u64>,
}

impl CallStats {
    pub fn snapshot(&self) -> CallCounts {
        CallCounts {
            reads: self.reads.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            by_status: self
                .by_status
                .lock()
                .expect("stats lock is never poisoned")
                .clone(),
        }
    }

    fn record(&self, method: &Method, status: Option<StatusCode>) {
        let counter = if method == Method::GET {
            &self.reads
        } else {
            &self.writes
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let label = status.map_or_else(|| "transport".to_owned(), |s| s.as_u16().to_string());
        *self
            .by_status
            .lock()
            .expect("stats lock is never poisoned")
            .entry(label)
            .or_default() += 1;
    }
}

/// A client of one environment of the access service.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: ApiKey,
    retry: retry::Policy,
    stats: Arc<CallStats>,
    cancel: CancellationToken,
}

impl Client {
    /// A client of the service at `url` (its base, without `/api/v1`).
    ///
    /// # Errors
    ///
    /// The URL is not http(s), or is plain http to anything but loopback.
    pub fn new(url: &str, key: ApiKey, options: ClientOptions) -> Result<Client, Error> {
        let parsed = reqwest::Url::parse(url).map_err(|e| Error::InvalidUrl {
            url: url.to_owned(),
            message: e.to_string(),
        })?;
        let host = parsed.host_str().unwrap_or_default().to_owned();
        match parsed.scheme() {
            "https" => {}
            "http" if is_loopback(&host) => {}
            "http" => return Err(Error::Insecure { host }),
            other => {
                return Err(Error::InvalidUrl {
                    url: url.to_owned(),
                    message: format!("scheme {other}: is not http or https"),
                });
            }
        }
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .user_agent(concat!("grantsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| Error::Transport {
                what: "build the HTTP client".into(),
                source,
            })?;
        Ok(Client {
            http,
            base: url.trim_end_matches('/').to_owned(),
            key,
            retry: options.retry,
            stats: Arc::default(),
            cancel: CancellationToken::new(),
        })
    }

    /// Stops retries and new calls once `cancel` fires; calls in flight finish.
    pub fn with_cancel(mut self, cancel: CancellationToken) -> Client {
        self.cancel = cancel;
        self
    }

    pub fn stats(&self) -> &Arc<CallStats> {
        &self.stats
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub async fn environment(&self) -> Result<Environment, Error> {
        self.get_json("read the key's environment", "/api/v1/environment", &[])
            .await
    }

    pub async fn list_identities(&self) -> Result<Vec<Identity>, Error> {
        self.list_all("list identities", "/api/v1/identities", &[])
            .await
    }

    pub async fn list_nodes(&self) -> Result<Vec<Node>, Error> {
        self.list_all("list nodes", "/api/v1/nodes", &[]).await
    }

    pub async fn list_roles(&self) -> Result<Vec<Role>, Error> {
        self.list_all("list roles", "/api/v1/roles", &[]).await
    }

    /// Every live assignment, in pages of the largest size the service takes.
    pub async fn list_assignments(&self) -> Result<Vec<Assignment>, Error> {
        self.list_all("list assignments", "/api/v1/assignments", &[])
            .await
    }

    /// One bulk-create call. A 200 or 207 answer is returned as it is, one
    /// result per item; the caller reads every item.
    ///
    /// # Errors
    ///
    /// A whole-call error after retries; a 413 comes back as
    /// [`Error::Api`] with status 413 so that the caller can split.
    pub async fn bulk_create(&self, items: &[NewAssignment]) -> Result<BulkCreateResponse, Error> {
        let what = format!("bulk-create {} assignments", items.len());
        let body = serde_json::to_vec(&BulkCreateRequest {
            assignments: items.to_vec(),
        })
        .expect("contract types always serialize");
        let (status, bytes) = self
            .call(
                &what,
                Method::POST,
                "/api/v1/assignments/bulk-create",
                &[],
                Some(body.into()),
            )
            .await?;
        if status != StatusCode::OK && status != StatusCode::MULTI_STATUS {
            return Err(Error::Contract {
                what,
                message: format!("status {status}, expected 200 or 207"),
            });
        }
        let response: BulkCreateResponse = decode(&what, &bytes)?;
        if response.results.len() != items.len() {
            return Err(Error::Contract {
                what,
                message: format!(
                    "{} results for {} items",
                    response.results.len(),
                    items.len()
                ),
            });
        }
        Ok(response)
    }

    /// Changes an assignment's window.
    pub async fn patch_assignment(
        &self,
        id: Uuid,
        patch: &AssignmentPatch,
    ) -> Result<Assignment, Error> {
        let what = format!("update assignment {id}");
        let body = serde_json::to_vec(patch).expect("contract types always serialize");
        let path = format!("/api/v1/assignments/{id}");
        let (_, bytes) = self
            .call(&what, Method::PATCH, &path, &[], Some(body.into()))
            .await?;
        decode(&what, &bytes)
    }

    /// Revokes an assignment. One that is already gone counts as revoked: a
    /// retried DELETE whose first answer was lost finds nothing the second
    /// time.
    pub async fn delete_assignment(&self, id: Uuid) -> Result<(), Error> {
        let what = format!("revoke assignment {id}");
        let path = format!("/api/v1/assignments/{id}");
        match self.call(&what, Method::DELETE, &path, &[], None).await {
            Ok(_) => Ok(()),
            Err(Error::Api { status: 404, .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        what: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, Error> {
        let (_, bytes) = self.call(what, Method::GET, path, query, None).await?;
        decode(what, &bytes)
    }

    async fn list_all<T: DeserializeOwned>(
        &self,
        what: &str,
        path: &str,
        filters: &[(&str, String)],
    ) -> Result<Vec<T>, Error> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query: Vec<(&str, String)> = filters.to_vec();
            query.push(("limit", MAX_PAGE_SIZE.to_string()));
            if let Some(cursor) = &cursor {
                query.push(("cursor", cursor.clone()));
            }
            let page: Page<T> = self.get_json(what, path, &query).await?;
            items.extend(page.data);
            match page.next_cursor {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                Some(_) => {
                    return Err(Error::Contract {
                        what: what.to_owned(),
                        message: "the service returned the same cursor twice".into(),
                    });
                }
                None => return Ok(items),
            }
        }
    }

    /// Sends one request, with retries, and returns the 2xx status and body.
    async fn call(
        &self,
        what: &str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes), Error> {
        if self.cancel.is_cancelled() {
            return Err(Error::Interrupted {
                what: what.to_owned(),
            });
        }
        let attempt = || self.attempt(what, method.clone(), path, query, body.clone());
        attempt
            .retry(self.retry.backoff())
            .when(|error| error.is_retryable() && !self.cancel.is_cancelled())
            .adjust(|error, delay| delay.map(|d| self.retry.delay_for(error.retry_after(), d)))
            .notify(|error, delay| {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(call = what, error = %error, delay_ms = delay.as_millis() as u64, "retrying");
            })
            .await
    }

    async fn attempt(
        &self,
        what: &str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes), Error> {
        let mut key = HeaderValue::from_str(self.key.expose()).map_err(|_| Error::InvalidUrl {
            url: self.base.clone(),
            message: "the API key holds characters an HTTP header cannot carry".into(),
        })?;
        key.set_sensitive(true);
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("X-API-Key", key)
            .header(reqwest::header::ACCEPT, "application/json");
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        tracing::debug!(method = %method, path, "request");
        let transport = |source: reqwest::Error| Error::Transport {
            what: what.to_owned(),
            source: source.without_url(),
        };
        let response = match request.send().await {
            Ok(response) => response,
            Err(source) => {
                self.stats.record(&method, None);
                return Err(transport(source));
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(retry::parse_retry_after);
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(source) => {
                self.stats.record(&method, None);
                return Err(transport(source));
            }
        };
        self.stats.record(&method, Some(status));
        if status.is_success() {
            return Ok((status, bytes));
        }
        let (code, message) = match serde_json::from_slice::<ErrorEnvelope>(&bytes) {
            Ok(envelope) => (envelope.error.code, envelope.error.message),
            Err(_) => (
                status
                    .canonical_reason()
                    .unwrap_or("error")
                    .to_lowercase()
                    .replace(' ', "_"),
                String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            ),
        };
        Err(Error::Api {
            what: what.to_owned(),
            status: status.as_u16(),
            code,
            message,
            retry_after,
        })
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Contract {
        what: what.to_owned(),
        message: e.to_string(),
    })
}

/// Whether `host` names this machine: `localhost` or a loopback address.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        let key = || ApiKey::new("k");
        assert!(Client::new("http://127.0.0.1:8080", key(), ClientOptions::default()).is_ok());
        assert!(Client::new("http://[::1]:8080", key(), ClientOptions::default()).is_ok());
        assert!(Client::new("http://localhost", key(), ClientOptions::default()).is_ok());
        assert!(
            Client::new(
                "https://access.example.com",
                key(),
                ClientOptions::default()
            )
            .is_ok()
        );
        let err =
            Client::new("http://access.example.com", key(), ClientOptions::default()).unwrap_err();
        assert!(matches!(err, Error::Insecure { .. }), "{err}");
        assert!(Client::new("ftp://x", key(), ClientOptions::default()).is_err());
    }
}
