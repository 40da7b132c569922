//! The wire types of the access service's API, shared by the HTTP client and
//! by the sandbox that implements the same contract.
//!
//! Every response type ignores fields it does not know, so a newer service
//! that adds fields keeps working with an older grantsync.

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

/// Lifecycle of an assignment, computed by the service when it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Scheduled,
    Active,
    Expired,
}

impl State {
    /// The state of a window `[from, to]` at `now`.
    pub fn at(from: Option<Timestamp>, to: Option<Timestamp>, now: Timestamp) -> State {
        match (from, to) {
            (Some(from), _) if now < from => State::Scheduled,
            (_, Some(to)) if now > to => State::Expired,
            _ => State::Active,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Scheduled => "scheduled",
            State::Active => "active",
            State::Expired => "expired",
        }
    }
}

/// A live assignment: one role granted to one identity at one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub id: Uuid,
    pub identity_id: Uuid,
    pub node_id: Uuid,
    pub role_id: Uuid,
    pub effective_from: Option<Timestamp>,
    pub effective_to: Option<Timestamp>,
    pub state: State,
    pub created_at: Timestamp,
}

/// The body of a single create, and one item of a bulk create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAssignment {
    pub identity_id: Uuid,
    pub node_id: Uuid,
    pub role_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_to: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BulkCreateRequest {
    pub assignments: Vec<NewAssignment>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BulkCreateResponse {
    pub summary: BulkSummary,
    pub results: Vec<BulkItemResult>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkSummary {
    pub total: usize,
    pub succeeded: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkItemStatus {
    Created,
    Failed,
}

/// The outcome of one item of a bulk create; `index` points into the request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BulkItemResult {
    pub index: usize,
    pub status: BulkItemStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<Assignment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// Changes to an assignment's window. A field left out stays as it is; a field
/// sent as `null` clears that end of the window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignmentPatch {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub effective_from: Option<Option<Timestamp>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub effective_to: Option<Option<Timestamp>>,
}

/// Tells a field sent as `null` (`Some(None)`) from a field left out (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The error of a whole call, or of one bulk item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// The body of every non-2xx answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

/// Item and call error codes of the contract.
pub mod code {
    pub const ALREADY_ASSIGNED: &str = "already_assigned";
    pub const UNKNOWN_IDENTITY: &str = "unknown_identity";
    pub const UNKNOWN_NODE: &str = "unknown_node";
    pub const UNKNOWN_ROLE: &str = "unknown_role";
    pub const INVALID_WINDOW: &str = "invalid_window";
    pub const INVALID_ITEM: &str = "invalid_item";
    pub const INVALID_REQUEST: &str = "invalid_request";
    pub const UNAUTHORIZED: &str = "unauthorized";
    pub const NOT_FOUND: &str = "not_found";
    pub const TOO_MANY_ITEMS: &str = "too_many_items";
    pub const RATE_LIMITED: &str = "rate_limited";
    pub const INTERNAL: &str = "internal";
    pub const UNAVAILABLE: &str = "unavailable";
}

/// One page of a keyset-paginated listing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

/// The largest page the list endpoints return.
pub const MAX_PAGE_SIZE: usize = 1000;

/// The environment an API key belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub id: Uuid,
    pub email: String,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default = "default_status")]
    pub status: String,
}

fn default_status() -> String {
    "active".to_owned()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub id: Uuid,
    pub key: String,
    #[serde(default)]
    pub name: Option<String>,
    pub parent_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub id: Uuid,
    pub key: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// The roles in effect for one identity at one node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EffectiveAccess {
    pub identity_id: Uuid,
    pub node_id: Uuid,
    pub roles: Vec<EffectiveRole>,
}

/// One role in effect, and the assignment (possibly at an ancestor) it comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EffectiveRole {
    pub role_id: Uuid,
    pub role_key: String,
    pub assignment_id: Uuid,
    /// The node the assignment was made at: the node asked about, or an ancestor.
    pub node_id: Uuid,
    pub inherited: bool,
    #[serde(default)]
    pub permissions: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_follows_the_window() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let now = t("2026-06-01T00:00:00Z");
        assert_eq!(State::at(None, None, now), State::Active);
        assert_eq!(
            State::at(Some(t("2026-07-01T00:00:00Z")), None, now),
            State::Scheduled
        );
        assert_eq!(
            State::at(None, Some(t("2026-05-01T00:00:00Z")), now),
            State::Expired
        );
        assert_eq!(State::at(None, Some(now), now), State::Active);
    }

    #[test]
    fn patch_tells_null_from_absent() {
        let p: AssignmentPatch = serde_json::from_str(r#"{"effective_to": null}"#).unwrap();
        assert_eq!(p.effective_to, Some(None));
        assert_eq!(p.effective_from, None);
    }
}
