//! The plan: what must change for the service to match the files.
//!
//! Desired grants and live assignments are both reduced to one [`Key`] per
//! (identity, node, role) and compared through hash maps, in time linear in
//! their size (`diff.rs`). Every key lands in exactly one [`Action`]. The
//! safety rails that can refuse a plan before anything is written live in
//! `rails.rs`.

mod diff;
mod key;
pub mod rails;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use diff::{PlanInput, ResolvedScope, plan_environment};

use crate::api::types::State;

/// One assignment's identity: at most one exists per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub identity: Uuid,
    pub node: Uuid,
    pub role: Uuid,
}

/// What the plan does with a key.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Desired, not live: bulk-create it.
    Create,
    /// Live with another window: PATCH the window.
    Update,
    /// Live but expired, desired active again: PATCH the window.
    Renew,
    /// Live only, inside the managed scope, with pruning on: DELETE it.
    Revoke,
    /// A reference names nothing in the service: reported, not sent.
    Unresolved,
    /// Desired, but its window has already ended: never created.
    Skip,
    /// Live only, outside what this run manages: reported, never touched.
    Unmanaged,
    /// Live as desired.
    Unchanged,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Renew => "renew",
            Action::Revoke => "revoke",
            Action::Unresolved => "unresolved",
            Action::Skip => "skip",
            Action::Unmanaged => "unmanaged",
            Action::Unchanged => "unchanged",
        }
    }

    /// Whether applying the item writes to the service.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Action::Create | Action::Update | Action::Renew | Action::Revoke
        )
    }
}

/// A window of validity; `None` is open at that end.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Window {
    pub effective_from: Option<Timestamp>,
    pub effective_to: Option<Timestamp>,
}

impl Window {
    pub fn state(&self, now: Timestamp) -> State {
        State::at(self.effective_from, self.effective_to, now)
    }

    /// Whether the window has ended by `now`.
    pub fn has_ended(&self, now: Timestamp) -> bool {
        self.effective_to.is_some_and(|to| to < now)
    }
}

/// One line of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub action: Action,
    /// The identity, node and role as shown: email, path, key (or the
    /// reference as written when it did not resolve).
    pub identity: String,
    pub node: String,
    pub role: String,
    /// Present for everything that resolved.
    pub key: Option<Key>,
    /// The live assignment, for updates, renewals, revocations and unmanaged.
    pub assignment_id: Option<Uuid>,
    /// The desired window; the live one for revocations and unmanaged items.
    pub window: Window,
    /// The live window an update or renewal replaces.
    pub previous: Option<Window>,
    /// Where the grant was declared, `file:line`.
    pub source: Option<String>,
    /// Why the grant exists, as its file says.
    pub reason: Option<String>,
    /// Why an item is unresolved or skipped.
    pub detail: Option<String>,
}

/// Counts of a plan by action.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub renew: usize,
    pub unchanged: usize,
    pub revoke: usize,
    pub unmanaged: usize,
    pub unresolved: usize,
    /// Desired grants whose window had already ended, with nothing live.
    pub skip: usize,
    /// HR export rows that could not be read and were left out.
    pub row_errors: usize,
}

impl Summary {
    pub fn count(&mut self, action: Action) {
        match action {
            Action::Create => self.create += 1,
            Action::Update => self.update += 1,
            Action::Renew => self.renew += 1,
            Action::Unchanged => self.unchanged += 1,
            Action::Revoke => self.revoke += 1,
            Action::Unmanaged => self.unmanaged += 1,
            Action::Unresolved => self.unresolved += 1,
            Action::Skip => self.skip += 1,
        }
    }

    /// Writes the plan would make.
    pub fn changes(&self) -> usize {
        self.create + self.update + self.renew + self.revoke
    }
}

/// The plan of one environment.
#[derive(Debug, Clone, Default)]
pub struct EnvironmentPlan {
    pub name: String,
    pub summary: Summary,
    /// Every item but the unchanged ones, which are only counted.
    pub items: Vec<Item>,
    /// HR rows left out, `file:line: message`.
    pub row_errors: Vec<String>,
    /// Live assignments inside the managed scope: the base of percent limits.
    pub managed_live: usize,
    /// Desired grants per source name, for the source-shrink rail.
    pub source_sizes: Vec<(String, usize)>,
}
