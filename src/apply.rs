//! Applying a plan: making the service match.
//!
//! Creates go first, through bulk-create, in chunks of at most the service's
//! limit and with a bounded number of calls in flight; then window changes
//! (PATCH); revocations (DELETE) come last, so that a person who moves gets
//! the new access before losing the old. Every item ends with exactly one
//! [`Outcome`]. Once the cancel token fires nothing new is sent: calls in
//! flight finish and the items not reached end as `not_attempted`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::types::{AssignmentPatch, BulkItemStatus, NewAssignment, code};
use crate::api::{self, Client};
use crate::plan::{Action, EnvironmentPlan, Item};
use crate::report::progress::Progress;

/// How one item of a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Created,
    /// The service already had it: a create made behind grantsync's back, or
    /// a retried create whose first answer was lost. It is in place.
    AlreadyAssigned,
    Updated,
    Renewed,
    Revoked,
    Failed {
        code: String,
        message: String,
    },
    /// The run stopped before this item was sent.
    NotAttempted,
    /// Nothing to send, and why.
    Skipped {
        why: String,
    },
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::AlreadyAssigned => "already_assigned",
            Outcome::Updated => "updated",
            Outcome::Renewed => "renewed",
            Outcome::Revoked => "revoked",
            Outcome::Failed { .. } => "failed",
            Outcome::NotAttempted => "not_attempted",
            Outcome::Skipped { .. } => "skipped",
        }
    }

    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed { .. })
    }

    fn failed(error: &api::Error) -> Outcome {
        Outcome::Failed {
            code: error.code().to_owned(),
            message: error.to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Items per bulk-create call, at most; lowered when the service says 413.
    pub bulk_size: usize,
    /// Calls in flight at once.
    pub concurrency: usize,
    pub cancel: CancellationToken,
    /// Advanced as items finish; hidden unless a person is watching.
    pub progress: Progress,
}

/// Applies `plan` and returns one outcome per item, in the order of
/// `plan.items`.
pub async fn apply_plan(
    client: &Client,
    plan: &EnvironmentPlan,
    options: &ApplyOptions,
) -> Vec<Outcome> {
    let mut outcomes: Vec<Option<Outcome>> = plan.items.iter().map(fixed_outcome).collect();

    let creates: Vec<usize> = indices(plan, |a| a == Action::Create);
    for (index, outcome) in apply_creates(client, plan, &creates, options).await {
        outcomes[index] = Some(outcome);
    }
    let patches: Vec<usize> = indices(plan, |a| matches!(a, Action::Update | Action::Renew));
    for (index, outcome) in apply_each(client, plan, &patches, options, patch_one).await {
        outcomes[index] = Some(outcome);
    }
    let revokes: Vec<usize> = indices(plan, |a| a == Action::Revoke);
    for (index, outcome) in apply_each(client, plan, &revokes, options, revoke_one).await {
        outcomes[index] = Some(outcome);
    }

    outcomes
        .into_iter()
        .map(|outcome| outcome.unwrap_or(Outcome::NotAttempted))
        .collect()
}

fn indices(plan: &EnvironmentPlan, wanted: impl Fn(Action) -> bool) -> Vec<usize> {
    (0..plan.items.len())
        .filter(|&i| wanted(plan.items[i].action))
        .collect()
}

/// The outcome of an item that sends nothing.
fn fixed_outcome(item: &Item) -> Option<Outcome> {
    match item.action {
        Action::Unresolved => Some(Outcome::Failed {
            code: "unresolved".into(),
            message: item
                .detail
                .clone()
                .unwrap_or_else(|| "a reference names nothing in the service".into()),
        }),
        Action::Skip => Some(Outcome::Skipped {
            why: item
                .detail
                .clone()
                .unwrap_or_else(|| "its window has already ended".into()),
        }),
        Action::Unmanaged => Some(Outcome::Skipped {
            why: "live only and not managed by this run".into(),
        }),
        Action::Unchanged => Some(Outcome::Skipped {
            why: "already as desired".into(),
        }),
        Action::Create | Action::Update | Action::Renew | Action::Revoke => None,
    }
}

fn new_assignment(item: &Item) -> NewAssignment {
    let key = item.key.expect("a create item always has a resolved key");
    NewAssignment {
        identity_id: key.identity,
        node_id: key.node,
        role_id: key.role,
        effective_from: item.window.effective_from,
        effective_to: item.window.effective_to,
    }
}

/// Sends the creates in bulk-create calls, `concurrency` at a time.
async fn apply_creates(
    client: &Client,
    plan: &EnvironmentPlan,
    creates: &[usize],
    options: &ApplyOptions,
) -> Vec<(usize, Outcome)> {
    let limit = Arc::new(AtomicUsize::new(options.bulk_size.max(1)));
    let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for chunk in creates.chunks(options.bulk_size.max(1)) {
        let items: Vec<(usize, NewAssignment)> = chunk
            .iter()
            .map(|&i| (i, new_assignment(&plan.items[i])))
            .collect();
        let (client, limit, permits, cancel) = (
            client.clone(),
            limit.clone(),
            permits.clone(),
            options.cancel.clone(),
        );
        tasks.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            send_chunk(&client, items, &limit, &cancel).await
        });
    }
    let mut outcomes = Vec::with_capacity(creates.len());
    while let Some(done) = tasks.join_next().await {
        let done = done.expect("an apply task never panics");
        options.progress.advance(done.len());
        outcomes.extend(done);
    }
    outcomes
}

/// Sends one chunk, splitting it whenever the service says it is too large.
async fn send_chunk(
    client: &Client,
    items: Vec<(usize, NewAssignment)>,
    limit: &AtomicUsize,
    cancel: &CancellationToken,
) -> Vec<(usize, Outcome)> {
    let mut outcomes = Vec::with_capacity(items.len());
    let mut pending: std::collections::VecDeque<Vec<(usize, NewAssignment)>> =
        std::collections::VecDeque::new();
    pending.push_back(items);
    while let Some(batch) = pending.pop_front() {
        // A limit learnt from another call's 413 applies to this one too.
        let size = limit.load(Ordering::Relaxed).max(1);
        if batch.len() > size {
            let mut batches: Vec<_> = batch.chunks(size).map(<[_]>::to_vec).collect();
            batches.reverse();
            for b in batches {
                pending.push_front(b);
            }
            continue;
        }
        if cancel.is_cancelled() {
            outcomes.extend(batch.iter().map(|(i, _)| (*i, Outcome::NotAttempted)));
            continue;
        }
        let body: Vec<NewAssignment> = batch.iter().map(|(_, item)| item.clone()).collect();
        match client.bulk_create(&body).await {
            Ok(response) => {
                let mut answered = vec![None; batch.len()];
                for result in response.results {
                    if let Some(slot) = answered.get_mut(result.index) {
                        *slot = Some(match (result.status, result.error) {
                            (BulkItemStatus::Created, _) => Outcome::Created,
                            (BulkItemStatus::Failed, Some(e))
                                if e.code == code::ALREADY_ASSIGNED =>
                            {
                                Outcome::AlreadyAssigned
                            }
                            (BulkItemStatus::Failed, Some(e)) => Outcome::Failed {
                                code: e.code,
                                message: e.message,
                            },
                            (BulkItemStatus::Failed, None) => Outcome::Failed {
                                code: "unknown".into(),
                                message: "the service reported a failure without a reason".into(),
                            },
                        });
                    }
                }
                for ((index, _), outcome) in batch.iter().zip(answered) {
                    outcomes.push((
                        *index,
                        outcome.unwrap_or_else(|| Outcome::Failed {
                            code: "contract".into(),
                            message: "the bulk answer has no result for this item".into(),
                        }),
                    ));
                }
            }
            Err(error) if error.status() == Some(413) && batch.len() > 1 => {
                let half = batch.len().div_ceil(2);
                limit.fetch_min(half, Ordering::Relaxed);
                tracing::info!(
                    items = batch.len(),
                    now = half,
                    "service refused the chunk as too large; splitting"
                );
                pending.push_front(batch);
            }
            Err(error) => {
                let outcome = if matches!(error, api::Error::Interrupted { .. }) {
                    Outcome::NotAttempted
                } else {
                    Outcome::failed(&error)
                };
                outcomes.extend(batch.iter().map(|(i, _)| (*i, outcome.clone())));
            }
        }
    }
    outcomes
}

type OneCall = fn(Client, Item) -> std::pin::Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// Sends one call per item, `concurrency` at a time.
async fn apply_each(
    client: &Client,
    plan: &EnvironmentPlan,
    indices: &[usize],
    options: &ApplyOptions,
    call: OneCall,
) -> Vec<(usize, Outcome)> {
    let permits = Arc::new(Semaphore::new(options.concurrency.max(1) * 2));
    let mut tasks = JoinSet::new();
    for &index in indices {
        let (client, permits, cancel, item) = (
            client.clone(),
            permits.clone(),
            options.cancel.clone(),
            plan.items[index].clone(),
        );
        tasks.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            if cancel.is_cancelled() {
                return (index, Outcome::NotAttempted);
            }
            (index, call(client, item).await)
        });
    }
    let mut outcomes = Vec::with_capacity(indices.len());
    while let Some(done) = tasks.join_next().await {
        outcomes.push(done.expect("an apply task never panics"));
        options.progress.advance(1);
    }
    outcomes
}

fn patch_one(
    client: Client,
    item: Item,
) -> std::pin::Pin<Box<dyn Future<Output = Outcome> + Send>> {
    Box::pin(async move {
        let id = item
            .assignment_id
            .expect("an update item always names its assignment");
        let patch = AssignmentPatch {
            effective_from: Some(item.window.effective_from),
            effective_to: Some(item.window.effective_to),
        };
        match client.patch_assignment(id, &patch).await {
            Ok(_) if item.action == Action::Renew => Outcome::Renewed,
            Ok(_) => Outcome::Updated,
            Err(api::Error::Interrupted { .. }) => Outcome::NotAttempted,
            Err(error) => Outcome::failed(&error),
        }
    })
}

fn revoke_one(
    client: Client,
    item: Item,
) -> std::pin::Pin<Box<dyn Future<Output = Outcome> + Send>> {
    Box::pin(async move {
        let id = item
            .assignment_id
            .expect("a revoke item always names its assignment");
        match client.delete_assignment(id).await {
            Ok(()) => Outcome::Revoked,
            Err(api::Error::Interrupted { .. }) => Outcome::NotAttempted,
            Err(error) => Outcome::failed(&error),
        }
    })
}
