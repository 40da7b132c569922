//! Read-only routes over what the directory declared: the key's environment,
//! identities, nodes, roles, and the access an identity has at a node.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use super::{
    ApiError, AppState, Authed, PathId, QueryParams, decode_cursor, encode_cursor, page_size,
    parse_id,
};
use crate::api::types::{
    EffectiveAccess, EffectiveRole, Environment, Identity, Node, Page, Role,
    State as AssignmentState,
};
use crate::sandbox::catalog::page;

pub(super) async fn environment(Authed(env): Authed) -> Json<Environment> {
    Json(env.environment.clone())
}

#[derive(Deserialize)]
pub(super) struct PageParams {
    limit: Option<String>,
    cursor: Option<String>,
    email: Option<String>,
    external_id: Option<String>,
}

/// One page of an immutable catalog list.
fn catalog_page<T: Clone>(
    items: &[T],
    kind: &str,
    params: &PageParams,
    keep: impl Fn(&T) -> bool,
) -> Result<Page<T>, ApiError> {
    let limit = page_size(params.limit.as_deref())?;
    let after = decode_cursor(kind, params.cursor.as_deref())?;
    let after = after.map(|a| usize::try_from(a).unwrap_or(usize::MAX));
    let (data, next) = page(items, after, limit, keep);
    Ok(Page {
        data,
        next_cursor: next.map(|position| encode_cursor(kind, position as u64)),
    })
}

/// Filters: `email` (case-insensitive) and `external_id` (exact).
pub(super) async fn identities(
    Authed(env): Authed,
    QueryParams(params): QueryParams<PageParams>,
) -> Result<Json<Page<Identity>>, ApiError> {
    let email = params.email.as_deref().map(str::to_lowercase);
    let external_id = params.external_id.clone();
    catalog_page(&env.identities, "i1.", &params, |identity| {
        email
            .as_ref()
            .is_none_or(|e| identity.email.to_lowercase() == *e)
            && external_id
                .as_ref()
                .is_none_or(|x| identity.external_id.as_ref() == Some(x))
    })
    .map(Json)
}

pub(super) async fn nodes(
    Authed(env): Authed,
    QueryParams(params): QueryParams<PageParams>,
) -> Result<Json<Page<Node>>, ApiError> {
    catalog_page(&env.nodes, "n1.", &params, |_| true).map(Json)
}

pub(super) async fn roles(
    Authed(env): Authed,
    QueryParams(params): QueryParams<PageParams>,
) -> Result<Json<Page<Role>>, ApiError> {
    catalog_page(&env.roles, "r1.", &params, |_| true).map(Json)
}

#[derive(Deserialize)]
pub(super) struct AccessParams {
    node_id: Option<String>,
}

/// The roles in effect for an identity at a node: one entry per active
/// assignment at the node or an ancestor, nearest node first.
pub(super) async fn access(
    State(app): State<AppState>,
    Authed(env): Authed,
    PathId(identity): PathId,
    QueryParams(params): QueryParams<AccessParams>,
) -> Result<Json<EffectiveAccess>, ApiError> {
    if env.identity(identity).is_none() {
        return Err(ApiError::not_found(format!(
            "no identity {identity} in this environment"
        )));
    }
    let node = params
        .node_id
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("node_id is required"))?;
    let node = parse_id(node, "node_id")?;
    let lineage = env.lineage(node);
    if lineage.is_empty() {
        return Err(ApiError::not_found(format!(
            "no node {node} in this environment"
        )));
    }

    let assignments = app
        .store
        .assignments_at(env.seq, identity, lineage, app.clock.now())
        .await?;
    let roles = assignments
        .into_iter()
        .filter(|a| a.state == AssignmentState::Active)
        .filter_map(|a| {
            let role = env.role(a.role_id)?;
            Some(EffectiveRole {
                role_id: role.id,
                role_key: role.key.clone(),
                assignment_id: a.id,
                node_id: a.node_id,
                inherited: a.node_id != node,
                permissions: role.permissions.clone(),
            })
        })
        .collect();
    Ok(Json(EffectiveAccess {
        identity_id: identity,
        node_id: node,
        roles,
    }))
}
