//! Assignment routes: create one, bulk-create, list, get, patch, delete.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::front::RequestNumber;
use super::{
    ApiError, AppState, Authed, JsonBody, PathId, QueryParams, decode_cursor, encode_cursor,
    page_size, parse_id,
};
use crate::api::types::{
    Assignment, AssignmentPatch, BulkCreateResponse, BulkItemResult, BulkItemStatus, BulkSummary,
    ErrorBody, NewAssignment, Page, State as AssignmentState, code,
};
use crate::sandbox::catalog::EnvironmentCatalog;
use crate::sandbox::store::{AssignmentFilter, NewRow, PatchOutcome};

const CURSOR: &str = "a1.";

/// Why one item cannot be created.
struct ItemError {
    code: &'static str,
    message: String,
}

impl ItemError {
    fn body(self) -> ErrorBody {
        ErrorBody {
            code: self.code.to_owned(),
            message: self.message,
        }
    }
}

/// Checks an item's references and window, before the store is asked.
fn check_item(env: &EnvironmentCatalog, item: &NewAssignment) -> Result<NewRow, ItemError> {
    let fail = |code: &'static str, message: String| ItemError { code, message };
    if env.identity(item.identity_id).is_none() {
        return Err(fail(
            code::UNKNOWN_IDENTITY,
            format!("no identity {} in this environment", item.identity_id),
        ));
    }
    if env.node(item.node_id).is_none() {
        return Err(fail(
            code::UNKNOWN_NODE,
            format!("no node {} in this environment", item.node_id),
        ));
    }
    if env.role(item.role_id).is_none() {
        return Err(fail(
            code::UNKNOWN_ROLE,
            format!("no role {} in this environment", item.role_id),
        ));
    }
    if let (Some(from), Some(to)) = (item.effective_from, item.effective_to)
        && from > to
    {
        return Err(fail(
            code::INVALID_WINDOW,
            format!("effective_from {from} is after effective_to {to}"),
        ));
    }
    Ok(NewRow {
        identity_id: item.identity_id,
        node_id: item.node_id,
        role_id: item.role_id,
        effective_from: item.effective_from,
        effective_to: item.effective_to,
    })
}

fn already_assigned() -> ItemError {
    ItemError {
        code: code::ALREADY_ASSIGNED,
        message: "the identity already holds this role at this node; PATCH that assignment to change its window".to_owned(),
    }
}

fn created(assignment: Assignment) -> Response {
    let location = format!("/api/v1/assignments/{}", assignment.id);
    (
        StatusCode::CREATED,
        [(LOCATION, location)],
        Json(assignment),
    )
        .into_response()
}

pub(super) async fn create(
    State(app): State<AppState>,
    Authed(env): Authed,
    JsonBody(item): JsonBody<NewAssignment>,
) -> Result<Response, ApiError> {
    let row = check_item(&env, &item)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code, e.message))?;
    let mut results = app
        .store
        .create_assignments(env.seq, vec![row], app.clock.now())
        .await?;
    match results.pop().flatten() {
        Some(assignment) => Ok(created(assignment)),
        None => {
            let e = already_assigned();
            Err(ApiError::new(StatusCode::CONFLICT, e.code, e.message))
        }
    }
}

/// The bulk body before its items are read: each item is read on its own so
/// that a malformed one fails alone (`invalid_item`).
#[derive(Deserialize)]
pub(super) struct BulkBody {
    assignments: Vec<serde_json::Value>,
}

pub(super) async fn bulk_create(
    State(app): State<AppState>,
    Authed(env): Authed,
    number: Option<Extension<RequestNumber>>,
    JsonBody(body): JsonBody<BulkBody>,
) -> Result<Response, ApiError> {
    let total = body.assignments.len();
    if total == 0 {
        return Err(ApiError::bad_request("assignments is empty"));
    }
    let limit = app.faults.faults().bulk_limit();
    if total > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            code::TOO_MANY_ITEMS,
            format!("{total} items in one call; at most {limit} are taken"),
        ));
    }
    let number = number.map_or(0, |n| n.0.0);

    // Check every item; the ones that pass go to the store together.
    let mut results: Vec<Option<BulkItemResult>> = vec![None; total];
    let mut rows = Vec::new();
    let mut row_indexes = Vec::new();
    let mut injected = 0;
    for (index, value) in body.assignments.into_iter().enumerate() {
        let checked = serde_json::from_value::<NewAssignment>(value)
            .map_err(|e| ItemError {
                code: code::INVALID_ITEM,
                message: e.to_string(),
            })
            .and_then(|item| check_item(&env, &item));
        let checked = checked.and_then(|row| {
            if app.faults.item_fails(number, index) {
                injected += 1;
                Err(ItemError {
                    code: code::INTERNAL,
                    message: "item failed on its own (injected fault); retry it".to_owned(),
                })
            } else {
                Ok(row)
            }
        });
        match checked {
            Ok(row) => {
                rows.push(row);
                row_indexes.push(index);
            }
            Err(error) => results[index] = Some(failed(index, error)),
        }
    }
    if injected > 0 {
        app.stats.record_failed_items(injected);
    }

    let stored = app
        .store
        .create_assignments(env.seq, rows, app.clock.now())
        .await?;
    for (index, assignment) in row_indexes.into_iter().zip(stored) {
        results[index] = Some(match assignment {
            Some(assignment) => BulkItemResult {
                index,
                status: BulkItemStatus::Created,
                assignment: Some(assignment),
                error: None,
            },
            None => failed(index, already_assigned()),
        });
    }

    let results: Vec<BulkItemResult> = results.into_iter().flatten().collect();
    let succeeded = results
        .iter()
        .filter(|r| r.status == BulkItemStatus::Created)
        .count();
    let summary = BulkSummary {
        total,
        succeeded,
        failed: total - succeeded,
    };
    let status = if summary.failed == 0 {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    Ok((status, Json(BulkCreateResponse { summary, results })).into_response())
}

fn failed(index: usize, error: ItemError) -> BulkItemResult {
    BulkItemResult {
        index,
        status: BulkItemStatus::Failed,
        assignment: None,
        error: Some(error.body()),
    }
}

#[derive(Deserialize)]
pub(super) struct ListParams {
    limit: Option<String>,
    cursor: Option<String>,
    identity_id: Option<String>,
    node_id: Option<String>,
    role_id: Option<String>,
    state: Option<String>,
}

pub(super) async fn list(
    State(app): State<AppState>,
    Authed(env): Authed,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<Json<Page<Assignment>>, ApiError> {
    let limit = page_size(params.limit.as_deref())?;
    let after = decode_cursor(CURSOR, params.cursor.as_deref())?;
    let id = |value: &Option<String>, what: &str| {
        value.as_deref().map(|v| parse_id(v, what)).transpose()
    };
    let state = match params.state.as_deref() {
        None => None,
        Some("active") => Some(AssignmentState::Active),
        Some("scheduled") => Some(AssignmentState::Scheduled),
        Some("expired") => Some(AssignmentState::Expired),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "state \"{other}\" is not one of active, scheduled, expired"
            )));
        }
    };
    let filter = AssignmentFilter {
        identity_id: id(&params.identity_id, "identity_id")?,
        node_id: id(&params.node_id, "node_id")?,
        role_id: id(&params.role_id, "role_id")?,
        state,
    };
    let after = after.map(|a| i64::try_from(a).unwrap_or(i64::MAX));
    let (data, next) = app
        .store
        .list_assignments(env.seq, filter, after, limit, app.clock.now())
        .await?;
    Ok(Json(Page {
        data,
        next_cursor: next.map(|seq| encode_cursor(CURSOR, seq as u64)),
    }))
}

pub(super) async fn get_one(
    State(app): State<AppState>,
    Authed(env): Authed,
    PathId(id): PathId,
) -> Result<Json<Assignment>, ApiError> {
    app.store
        .get_assignment(env.seq, id, app.clock.now())
        .await?
        .map(Json)
        .ok_or_else(|| not_found(id))
}

fn not_found(id: uuid::Uuid) -> ApiError {
    ApiError::not_found(format!("no assignment {id} in this environment"))
}

pub(super) async fn patch(
    State(app): State<AppState>,
    Authed(env): Authed,
    PathId(id): PathId,
    JsonBody(patch): JsonBody<AssignmentPatch>,
) -> Result<Json<Assignment>, ApiError> {
    match app
        .store
        .patch_assignment(env.seq, id, patch, app.clock.now())
        .await?
    {
        PatchOutcome::Updated(assignment) => Ok(Json(assignment)),
        PatchOutcome::NotFound => Err(not_found(id)),
        PatchOutcome::InvalidWindow(from, to) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            code::INVALID_WINDOW,
            format!("the window would start at {from} and end before it, at {to}"),
        )),
    }
}

pub(super) async fn delete(
    State(app): State<AppState>,
    Authed(env): Authed,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    if app.store.delete_assignment(env.seq, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(id))
    }
}
