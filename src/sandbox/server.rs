//! The sandbox's HTTP side: the routes of the contract, authentication by
//! `X-API-Key`, the error body, and the front door every API request passes
//! (statistics and injected faults).
//!
//! [`router`] lists the routes; the handlers are in `server/assignments.rs`
//! and `server/catalog.rs`.
//!
//! Status choices the contract leaves open: a request that is well-formed
//! JSON but names an unknown identity, node or role, or a window that ends
//! before it starts, answers `422` with the item code (`unknown_identity`,
//! `invalid_window`, ...); malformed JSON, a missing field, a bad query
//! parameter or a path id that is not a UUID answer `400 invalid_request`.

mod assignments;
mod catalog;
mod front;

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use tracing::error;
use uuid::Uuid;

use super::Clock;
use super::catalog::{Catalog, EnvironmentCatalog};
use super::faults::FaultPlan;
use super::stats::Recorder;
use super::store::{Store, StoreError};
use crate::api::types::{ErrorBody, ErrorEnvelope, MAX_PAGE_SIZE, code};

/// Generous enough for any bulk limit a test sets; the item limit is what
/// a client is meant to meet.
const BODY_LIMIT: usize = 64 * 1024 * 1024;

const DEFAULT_PAGE_SIZE: usize = 100;

#[derive(Clone)]
pub(crate) struct AppState {
    pub store: Arc<Store>,
    pub catalog: Arc<Catalog>,
    pub clock: Clock,
    pub faults: Arc<FaultPlan>,
    pub stats: Arc<Recorder>,
}

/// Every route the sandbox serves, as (method, path). The router is built
/// from this list, so the list is exactly what the sandbox answers;
/// `schemas/openapi.yaml` is tested against it. `/_sandbox/` routes are
/// the sandbox's own, not the service's, and need no key.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/assignments"),
    ("GET", "/api/v1/assignments"),
    ("POST", "/api/v1/assignments/bulk-create"),
    ("GET", "/api/v1/assignments/{id}"),
    ("PATCH", "/api/v1/assignments/{id}"),
    ("DELETE", "/api/v1/assignments/{id}"),
    ("GET", "/api/v1/environment"),
    ("GET", "/api/v1/identities"),
    ("GET", "/api/v1/identities/{id}/access"),
    ("GET", "/api/v1/nodes"),
    ("GET", "/api/v1/roles"),
    ("GET", "/_sandbox/stats"),
];

fn handler(method: &str, path: &str) -> MethodRouter<AppState> {
    match (method, path) {
        ("POST", "/api/v1/assignments") => post(assignments::create),
        ("GET", "/api/v1/assignments") => get(assignments::list),
        ("POST", "/api/v1/assignments/bulk-create") => post(assignments::bulk_create),
        ("GET", "/api/v1/assignments/{id}") => get(assignments::get_one),
        ("PATCH", "/api/v1/assignments/{id}") => patch(assignments::patch),
        ("DELETE", "/api/v1/assignments/{id}") => delete(assignments::delete),
        ("GET", "/api/v1/environment") => get(catalog::environment),
        ("GET", "/api/v1/identities") => get(catalog::identities),
        ("GET", "/api/v1/identities/{id}/access") => get(catalog::access),
        ("GET", "/api/v1/nodes") => get(catalog::nodes),
        ("GET", "/api/v1/roles") => get(catalog::roles),
        ("GET", "/_sandbox/stats") => get(stats),
        _ => unreachable!("every entry of ROUTES has a handler: {method} {path}"),
    }
}

pub(crate) fn router(state: AppState) -> Router {
    let mut api = Router::new();
    let mut own = Router::new();
    for &(method, path) in ROUTES {
        if path.starts_with("/api/") {
            api = api.route(path, handler(method, path));
        } else {
            own = own.route(path, handler(method, path));
        }
    }
    let api = api
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            front::front_door,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    own.merge(api).with_state(state)
}

async fn stats(State(app): State<AppState>) -> Response {
    Json(app.stats.snapshot()).into_response()
}

async fn no_route(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        code::NOT_FOUND,
        format!("no route {} {}", request.method(), request.uri().path()),
    )
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
}

/// An answer with the contract's error body.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code::INVALID_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code::NOT_FOUND, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorEnvelope {
            error: ErrorBody {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        error!(error = %e, cause = ?std::error::Error::source(&e), "sandbox store failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::INTERNAL,
            "the sandbox store failed; see its log",
        )
    }
}

/// The environment of the request's `X-API-Key`.
pub(crate) struct Authed(pub Arc<EnvironmentCatalog>);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, code::UNAUTHORIZED, m);
        let key = parts
            .headers
            .get("x-api-key")
            .ok_or_else(|| unauthorized("missing X-API-Key header"))?
            .to_str()
            .map_err(|_| unauthorized("unknown API key"))?;
        app.catalog
            .environment_for_key(key)
            .map(|env| Authed(Arc::clone(env)))
            .ok_or_else(|| unauthorized("unknown API key"))
    }
}

/// A JSON body whose rejections answer with the contract's error body.
pub(crate) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let message = rejection.body_text();
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(status, code::INVALID_REQUEST, "request body is too large")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(status, code::INVALID_REQUEST, message),
        _ => ApiError::bad_request(message),
    }
}

/// Query parameters whose rejections answer with the contract's error body.
pub(crate) struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| QueryParams(q.0))
            .map_err(|rejection: QueryRejection| ApiError::bad_request(rejection.body_text()))
    }
}

/// The `{id}` of a route, whose rejections answer with the contract's error
/// body.
pub(crate) struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
        parse_id(&id, "id in the path").map(PathId)
    }
}

/// Parses an id from a path or query parameter.
pub(crate) fn parse_id(value: &str, what: &str) -> Result<Uuid, ApiError> {
    value
        .parse()
        .map_err(|_| ApiError::bad_request(format!("{what} \"{value}\" is not a UUID")))
}

/// The page size asked for: default 100, at most [`MAX_PAGE_SIZE`] (a larger
/// ask is served in pages of the maximum, which a cursor-following client
/// cannot tell from a short page).
pub(crate) fn page_size(limit: Option<&str>) -> Result<usize, ApiError> {
    let Some(limit) = limit else {
        return Ok(DEFAULT_PAGE_SIZE);
    };
    match limit.parse::<usize>() {
        Ok(0) | Err(_) => Err(ApiError::bad_request(format!(
            "limit \"{limit}\" is not a positive whole number"
        ))),
        Ok(n) => Ok(n.min(MAX_PAGE_SIZE)),
    }
}

/// Cursors are opaque to clients; the prefix keeps one listing's cursor from
/// being taken for another's.
pub(crate) fn encode_cursor(kind: &str, position: u64) -> String {
    format!("{kind}{position:x}")
}

pub(crate) fn decode_cursor(kind: &str, cursor: Option<&str>) -> Result<Option<u64>, ApiError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    cursor
        .strip_prefix(kind)
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "cursor \"{cursor}\" was not issued by this listing"
            ))
        })
}
