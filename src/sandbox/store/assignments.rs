//! Assignment queries: create (one transaction per group of waiting calls),
//! get, patch,
//! delete, and keyset-paginated listing.
//!
//! A listing is ordered by `seq`, which is given once at insert and never
//! reused; a cursor is the last `seq` returned. So an assignment that exists
//! for the whole of a listing is returned exactly once, whatever is created,
//! changed or deleted between pages.
//!
//! Timestamps are stored as (seconds, nanoseconds) pairs: exact to the
//! nanosecond a client sent, and comparable in SQL for the state filter.

use jiff::Timestamp;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params, params_from_iter};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::seed::uuid;
use super::{Store, StoreError};
use crate::api::types::{Assignment, AssignmentPatch, State};

const COLUMNS: &str = "seq, id, identity_id, node_id, role_id,
    from_s, from_ns, to_s, to_ns, created_s, created_ns";

/// An assignment to insert, its references already checked.
#[derive(Debug, Clone)]
pub(crate) struct NewRow {
    pub identity_id: Uuid,
    pub node_id: Uuid,
    pub role_id: Uuid,
    pub effective_from: Option<Timestamp>,
    pub effective_to: Option<Timestamp>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct AssignmentFilter {
    pub identity_id: Option<Uuid>,
    pub node_id: Option<Uuid>,
    pub role_id: Option<Uuid>,
    pub state: Option<State>,
}

#[derive(Debug)]
pub(crate) enum PatchOutcome {
    Updated(Assignment),
    NotFound,
    /// The window that the patch would leave, which ends before it starts.
    InvalidWindow(Timestamp, Timestamp),
}

pub(crate) fn timestamp_parts(t: Timestamp) -> (i64, i32) {
    (t.as_second(), t.subsec_nanosecond())
}

fn timestamp(row: &Row<'_>, seconds: usize) -> rusqlite::Result<Option<Timestamp>> {
    let s: Option<i64> = row.get(seconds)?;
    let ns: Option<i32> = row.get(seconds + 1)?;
    match (s, ns) {
        (Some(s), Some(ns)) => Timestamp::new(s, ns).map(Some).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(
                seconds,
                rusqlite::types::Type::Integer,
                Box::new(e),
            )
        }),
        _ => Ok(None),
    }
}

/// One row in `COLUMNS` order, with its state at `now`.
fn assignment(row: &Row<'_>, now: Timestamp) -> rusqlite::Result<(i64, Assignment)> {
    let effective_from = timestamp(row, 5)?;
    let effective_to = timestamp(row, 7)?;
    let created_at = timestamp(row, 9)?.unwrap_or(Timestamp::UNIX_EPOCH);
    Ok((
        row.get(0)?,
        Assignment {
            id: uuid(row, 1)?,
            identity_id: uuid(row, 2)?,
            node_id: uuid(row, 3)?,
            role_id: uuid(row, 4)?,
            effective_from,
            effective_to,
            state: State::at(effective_from, effective_to, now),
            created_at,
        },
    ))
}

type Created = rusqlite::Result<Vec<Option<Assignment>>>;

/// One create call waiting for the store's thread.
pub(crate) struct CreateJob {
    env: i64,
    rows: Vec<NewRow>,
    now: Timestamp,
    reply: oneshot::Sender<Created>,
}

/// Runs a group of create calls in one transaction and answers each once it
/// is committed. Should the shared transaction fail, each call is run again
/// in a transaction of its own, so that one call's failure is not another's.
pub(super) fn create_group(conn: &mut Connection, group: Vec<CreateJob>) {
    let shared = (|| {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let results = group
            .iter()
            .map(|job| insert_rows(&tx, job.env, &job.rows, job.now))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        tx.commit()?;
        Ok::<_, rusqlite::Error>(results)
    })();
    match shared {
        Ok(results) => {
            for (job, result) in group.into_iter().zip(results) {
                // The caller may have gone (a cut connection); the rows are in.
                let _ = job.reply.send(Ok(result));
            }
        }
        Err(_) if group.len() > 1 => {
            for job in group {
                let env = job.env;
                let result = (|| {
                    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                    let result = insert_rows(&tx, env, &job.rows, job.now)?;
                    tx.commit()?;
                    Ok(result)
                })();
                let _ = job.reply.send(result);
            }
        }
        Err(error) => {
            let job = group
                .into_iter()
                .next()
                .expect("a group has one call or more");
            let _ = job.reply.send(Err(error));
        }
    }
}

/// Inserts the rows of one call inside `tx`.
fn insert_rows(
    tx: &rusqlite::Transaction<'_>,
    env: i64,
    rows: &[NewRow],
    now: Timestamp,
) -> rusqlite::Result<Vec<Option<Assignment>>> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO assignments (env, id, identity_id, node_id, role_id,
             from_s, from_ns, to_s, to_ns, created_s, created_ns)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (env, node_id, identity_id, role_id) DO NOTHING",
    )?;
    let (created_s, created_ns) = timestamp_parts(now);
    let mut results = Vec::with_capacity(rows.len());
    for row in rows {
        // Time-ordered ids append to the id index instead of dirtying a
        // random page of it per row.
        let id = Uuid::now_v7();
        let (from_s, from_ns) = row.effective_from.map(timestamp_parts).unzip();
        let (to_s, to_ns) = row.effective_to.map(timestamp_parts).unzip();
        let inserted = insert.execute(params![
            env,
            id.as_bytes(),
            row.identity_id.as_bytes(),
            row.node_id.as_bytes(),
            row.role_id.as_bytes(),
            from_s,
            from_ns,
            to_s,
            to_ns,
            created_s,
            created_ns
        ])?;
        results.push((inserted == 1).then(|| Assignment {
            id,
            identity_id: row.identity_id,
            node_id: row.node_id,
            role_id: row.role_id,
            effective_from: row.effective_from,
            effective_to: row.effective_to,
            state: State::at(row.effective_from, row.effective_to, now),
            created_at: now,
        }));
    }
    Ok(results)
}

/// SQL that holds when the window in `from_*`/`to_*` is in `state` at `now`;
/// pushes the values of its placeholders, in order, onto `values`.
fn state_condition(state: State, now: Timestamp, values: &mut Vec<Value>) -> String {
    let (s, ns) = timestamp_parts(now);
    let mut compare = |column: &str, op: &str| {
        values.extend([
            Value::Integer(s),
            Value::Integer(s),
            Value::Integer(ns.into()),
        ]);
        format!("({column}_s {op} ? OR ({column}_s = ? AND {column}_ns {op} ?))")
    };
    // Mirrors `State::at`: scheduled wins over expired for an inverted window.
    let scheduled = format!("(from_s IS NOT NULL AND {})", compare("from", ">"));
    match state {
        State::Scheduled => scheduled,
        State::Expired | State::Active => {
            let ended = format!("(to_s IS NOT NULL AND {})", compare("to", "<"));
            let negation = if state == State::Active { "NOT " } else { "" };
            format!("(NOT {scheduled} AND {negation}{ended})")
        }
    }
}

impl Store {
    /// Inserts `rows` in one transaction, shared with the create calls that
    /// wait beside it. Each row succeeds on its own or answers `None` when
    /// its (identity, node, role) is already assigned, by an earlier call or
    /// an earlier row of this one.
    ///
    /// # Errors
    ///
    /// A failed commit fails the whole call: nothing of it was written.
    pub async fn create_assignments(
        &self,
        env: i64,
        rows: Vec<NewRow>,
        now: Timestamp,
    ) -> Result<Vec<Option<Assignment>>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = CreateJob {
            env,
            rows,
            now,
            reply,
        };
        self.jobs
            .send(super::Message::Create(job))
            .map_err(|_| StoreError::Closed)?;
        answer
            .await
            .map_err(|_| StoreError::Closed)?
            .map_err(|source| StoreError::Sqlite {
                path: self.path.clone(),
                source,
            })
    }

    pub async fn get_assignment(
        &self,
        env: i64,
        id: Uuid,
        now: Timestamp,
    ) -> Result<Option<Assignment>, StoreError> {
        self.call(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM assignments WHERE id = ?1 AND env = ?2"
            ))?
            .query_row(params![id.as_bytes(), env], |row| assignment(row, now))
            .optional()
            .map(|found| found.map(|(_, a)| a))
        })
        .await
    }

    /// Applies `patch` to the window: a field left out stays, `null` clears.
    pub async fn patch_assignment(
        &self,
        env: i64,
        id: Uuid,
        patch: AssignmentPatch,
        now: Timestamp,
    ) -> Result<PatchOutcome, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let found = tx
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM assignments WHERE id = ?1 AND env = ?2"
                ))?
                .query_row(params![id.as_bytes(), env], |row| assignment(row, now))
                .optional()?;
            let Some((seq, mut current)) = found else {
                return Ok(PatchOutcome::NotFound);
            };
            let from = patch.effective_from.unwrap_or(current.effective_from);
            let to = patch.effective_to.unwrap_or(current.effective_to);
            if let (Some(from), Some(to)) = (from, to)
                && from > to
            {
                return Ok(PatchOutcome::InvalidWindow(from, to));
            }
            let (from_s, from_ns) = from.map(timestamp_parts).unzip();
            let (to_s, to_ns) = to.map(timestamp_parts).unzip();
            tx.prepare_cached(
                "UPDATE assignments SET from_s = ?1, from_ns = ?2, to_s = ?3, to_ns = ?4
                 WHERE seq = ?5",
            )?
            .execute(params![from_s, from_ns, to_s, to_ns, seq])?;
            tx.commit()?;
            current.effective_from = from;
            current.effective_to = to;
            current.state = State::at(from, to, now);
            Ok(PatchOutcome::Updated(current))
        })
        .await
    }

    /// Deletes one assignment; false when `env` has none with that id.
    pub async fn delete_assignment(&self, env: i64, id: Uuid) -> Result<bool, StoreError> {
        self.call(move |conn| {
            conn.prepare_cached("DELETE FROM assignments WHERE id = ?1 AND env = ?2")?
                .execute(params![id.as_bytes(), env])
                .map(|deleted| deleted == 1)
        })
        .await
    }

    /// One page of `env`'s assignments after `after` (a `seq`), and the `seq`
    /// to continue from when more follow.
    pub async fn list_assignments(
        &self,
        env: i64,
        filter: AssignmentFilter,
        after: Option<i64>,
        limit: usize,
        now: Timestamp,
    ) -> Result<(Vec<Assignment>, Option<i64>), StoreError> {
        self.call(move |conn| {
            let mut values = vec![Value::Integer(env), Value::Integer(after.unwrap_or(0))];
            let mut sql = format!("SELECT {COLUMNS} FROM assignments WHERE env = ? AND seq > ?");
            for (column, id) in [
                ("identity_id", filter.identity_id),
                ("node_id", filter.node_id),
                ("role_id", filter.role_id),
            ] {
                if let Some(id) = id {
                    sql.push_str(&format!(" AND {column} = ?"));
                    values.push(Value::Blob(id.as_bytes().to_vec()));
                }
            }
            if let Some(state) = filter.state {
                let condition = state_condition(state, now, &mut values);
                sql.push_str(&format!(" AND {condition}"));
            }
            // One extra row tells whether another page follows.
            sql.push_str(" ORDER BY seq LIMIT ?");
            values.push(Value::Integer(limit as i64 + 1));

            let mut page = conn
                .prepare_cached(&sql)?
                .query_map(params_from_iter(values), |row| assignment(row, now))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let next = if page.len() > limit {
                page.truncate(limit);
                page.last().map(|(seq, _)| *seq)
            } else {
                None
            };
            Ok((page.into_iter().map(|(_, a)| a).collect(), next))
        })
        .await
    }

    /// Every assignment of `identity` at any of `nodes`, in `seq` order.
    pub async fn assignments_at(
        &self,
        env: i64,
        identity: Uuid,
        nodes: Vec<Uuid>,
        now: Timestamp,
    ) -> Result<Vec<Assignment>, StoreError> {
        self.call(move |conn| {
            let mut select = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM assignments
                 WHERE env = ?1 AND identity_id = ?2 AND node_id = ?3 ORDER BY seq"
            ))?;
            let mut found = Vec::new();
            for node in nodes {
                let rows = select
                    .query_map(params![env, identity.as_bytes(), node.as_bytes()], |row| {
                        assignment(row, now)
                    })?;
                for row in rows {
                    found.push(row?.1);
                }
            }
            Ok(found)
        })
        .await
    }
}
