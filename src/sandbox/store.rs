//! Durable storage of the sandbox: one SQLite file in the data directory,
//! owned by one thread.
//!
//! Every write is a transaction that is on disk before its answer is sent
//! (WAL with `synchronous=FULL`), so an acknowledged write survives a kill -9
//! or a power cut. The store is seeded from the directory file once, when
//! the file is absent or on reset; afterwards it is the truth, like a real
//! service's database, and an edited directory file only earns a warning.
//!
//! Start with [`Store::open`]; the assignment queries are in
//! `store/assignments.rs`.

mod assignments;
mod seed;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension};
use tokio::sync::oneshot;
use tracing::{info, warn};

pub(crate) use assignments::{AssignmentFilter, NewRow, PatchOutcome};

use super::catalog::Catalog;
use super::directory::Directory;

/// The store's file inside the data directory.
pub(crate) const FILE_NAME: &str = "sandbox.sqlite3";

/// Bumped whenever the tables change; an older file must be reset.
const SCHEMA_VERSION: i64 = 2;

/// SQLite's page cache, in KiB. The default 2 MiB makes every bulk call
/// re-read the index pages it touches from the file; pages are only taken
/// as they are read, so a small store stays small.
const CACHE_KIB: i64 = 256 * 1024;

/// Pages the WAL may hold before it is copied into the database. The
/// default (1000) copies after nearly every bulk call; a longer WAL lets a
/// page that many calls change be copied once.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 10_000;

/// Long enough to ride out a checkpoint or an inspecting `sqlite3` shell.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: cannot prepare the store directory", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: store query failed", path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "{}: store has schema version {found}, this grantsync needs {SCHEMA_VERSION}; start with --reset to recreate it",
        path.display()
    )]
    SchemaVersion { path: PathBuf, found: i64 },
    #[error("store is closed")]
    Closed,
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

enum Message {
    Job(Job),
    /// Creates, kept apart from other jobs so that calls waiting together
    /// can share one commit (`store/assignments.rs`, `create_group`).
    Create(assignments::CreateJob),
    Close(oneshot::Sender<()>),
}

/// A handle to the store's thread. Cheap to share behind an `Arc`.
pub(crate) struct Store {
    path: PathBuf,
    jobs: mpsc::Sender<Message>,
}

/// What [`Store::open`] found or did.
pub(crate) struct Opened {
    pub store: Store,
    pub catalog: Catalog,
    /// True when the store was (re)created from the directory file.
    pub seeded: bool,
}

impl Store {
    /// Opens the store in `data_dir`, seeding it from `directory` when it is
    /// new or `reset` asks for it. Blocking: call it off the async runtime.
    pub fn open(
        data_dir: &Path,
        directory: &Directory,
        reset: bool,
        now: Timestamp,
    ) -> Result<Opened, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(FILE_NAME);
        if reset {
            remove_store_files(&path)?;
        }
        let sqlite = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };

        let mut conn = Connection::open(&path).map_err(sqlite)?;
        configure(&conn).map_err(sqlite)?;
        let seeded = match seeded_version(&conn).map_err(sqlite)? {
            None => {
                seed::seed(&mut conn, directory, now).map_err(sqlite)?;
                info!(path = %path.display(), environments = directory.environments.len(), "sandbox store seeded from the directory");
                true
            }
            Some(found) if found != SCHEMA_VERSION => {
                return Err(StoreError::SchemaVersion { path, found });
            }
            Some(_) => {
                let recorded = meta(&conn, "directory_hash").map_err(sqlite)?;
                if recorded.as_deref() != Some(directory.content_hash.as_str()) {
                    warn!(
                        path = %path.display(),
                        "directory file changed since the store was seeded; the store keeps its state, start with --reset to reseed"
                    );
                }
                false
            }
        };
        let catalog = seed::load_catalog(&conn).map_err(sqlite)?;

        let (jobs, inbox) = mpsc::channel();
        std::thread::Builder::new()
            .name("sandbox-store".to_owned())
            .spawn(move || run(conn, inbox))
            .map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
        Ok(Opened {
            store: Store { path, jobs },
            catalog,
            seeded,
        })
    }

    /// Runs `f` on the store's thread and returns what it returned.
    async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            // The caller may have gone (a cut connection); the work is done anyway.
            let _ = reply.send(f(conn));
        });
        self.jobs
            .send(Message::Job(job))
            .map_err(|_| StoreError::Closed)?;
        answer
            .await
            .map_err(|_| StoreError::Closed)?
            .map_err(|source| StoreError::Sqlite {
                path: self.path.clone(),
                source,
            })
    }

    /// Finishes the queued work, checkpoints and closes the file.
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.jobs.send(Message::Close(done)).is_ok() {
            let _ = closed.await;
        }
    }
}

/// Most create calls that share one commit: bounds how long one transaction
/// holds the store, and so how long a read queued behind it waits.
const MAX_GROUP: usize = 16;

fn run(conn: Connection, inbox: mpsc::Receiver<Message>) {
    let mut conn = conn;
    let mut held: Option<Message> = None;
    loop {
        let message = match held.take() {
            Some(message) => message,
            None => match inbox.recv() {
                Ok(message) => message,
                Err(_) => return,
            },
        };
        match message {
            Message::Job(job) => job(&mut conn),
            Message::Create(first) => {
                // Calls that arrived while the last commit was on its way to
                // disk share the next one: one fsync for them all, and each
                // still answered only once its rows are durable.
                let mut group = vec![first];
                while group.len() < MAX_GROUP {
                    match inbox.try_recv() {
                        Ok(Message::Create(next)) => group.push(next),
                        Ok(other) => {
                            held = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                assignments::create_group(&mut conn, group);
            }
            Message::Close(done) => {
                if let Err((_, error)) = conn.close() {
                    warn!(%error, "sandbox store did not close cleanly");
                }
                let _ = done.send(());
                return;
            }
        }
    }
}

fn remove_store_files(path: &Path) -> Result<(), StoreError> {
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(StoreError::Io { path: file, source }),
        }
    }
    Ok(())
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // NORMAL would let a power cut take back a commit already answered.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
    Ok(())
}

/// The schema version of a seeded store; `None` for a new or half-seeded one
/// (seeding is one transaction, so a crash during it leaves no meta row).
fn seeded_version(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    let has_meta: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta')",
        [],
        |row| row.get(0),
    )?;
    if !has_meta {
        return Ok(None);
    }
    Ok(meta(conn, "schema_version")?.and_then(|v| v.parse().ok()))
}

fn meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
        row.get(0)
    })
    .optional()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::api::types::AssignmentPatch;

    const DIRECTORY: &str = "environments:
  - name: Production
    api_keys: [sk_prod]
    identities: [{email: alice@example.com}, {email: bob@example.com}]
    nodes: [{key: acme, children: [{key: eng}]}]
    roles: [{key: viewer}]
    assignments: [{identity: alice@example.com, node: acme, role: viewer}]
";

    fn directory(dir: &Path, text: &str) -> Directory {
        let path = dir.join("directory.yaml");
        std::fs::write(&path, text).unwrap();
        super::super::directory::load(&path).unwrap()
    }

    fn now() -> Timestamp {
        "2026-06-01T00:00:00Z".parse().unwrap()
    }

    fn row(env: &super::super::catalog::EnvironmentCatalog, email: &str) -> NewRow {
        let identity = env.identities.iter().find(|i| i.email == email).unwrap();
        NewRow {
            identity_id: identity.id,
            node_id: env.nodes[1].id,
            role_id: env.roles[0].id,
            effective_from: None,
            effective_to: None,
        }
    }

    #[tokio::test]
    async fn committed_writes_survive_a_store_that_was_never_closed() {
        let dir = tempfile::tempdir().unwrap();
        let directory = directory(dir.path(), DIRECTORY);
        let opened = Store::open(dir.path(), &directory, false, now()).unwrap();
        assert!(opened.seeded);
        let env = Arc::clone(&opened.catalog.environments[0]);
        let created = opened
            .store
            .create_assignments(env.seq, vec![row(&env, "bob@example.com")], now())
            .await
            .unwrap();
        let id = created[0].as_ref().unwrap().id;
        let patch = AssignmentPatch {
            effective_to: Some(Some("2026-12-31T00:00:00Z".parse().unwrap())),
            ..AssignmentPatch::default()
        };
        opened
            .store
            .patch_assignment(env.seq, id, patch, now())
            .await
            .unwrap();
        // Neither closed nor dropped: its thread and connection live on,
        // with the WAL never checkpointed.
        std::mem::forget(opened);

        let reopened = Store::open(dir.path(), &directory, false, now()).unwrap();
        assert!(!reopened.seeded);
        let found = reopened
            .store
            .get_assignment(env.seq, id, now())
            .await
            .unwrap()
            .expect("the committed assignment is there");
        assert_eq!(
            found.effective_to,
            Some("2026-12-31T00:00:00Z".parse().unwrap())
        );
        let (all, next) = reopened
            .store
            .list_assignments(env.seq, AssignmentFilter::default(), None, 10, now())
            .await
            .unwrap();
        assert_eq!((all.len(), next), (2, None));
        reopened.store.close().await;
    }

    #[tokio::test]
    async fn a_repeated_row_in_one_call_is_already_assigned() {
        let dir = tempfile::tempdir().unwrap();
        let directory = directory(dir.path(), DIRECTORY);
        let opened = Store::open(dir.path(), &directory, false, now()).unwrap();
        let env = Arc::clone(&opened.catalog.environments[0]);
        let bob = row(&env, "bob@example.com");
        let results = opened
            .store
            .create_assignments(env.seq, vec![bob.clone(), bob], now())
            .await
            .unwrap();
        assert!(results[0].is_some());
        assert!(results[1].is_none());
        opened.store.close().await;
        assert!(matches!(
            opened
                .store
                .get_assignment(env.seq, uuid::Uuid::nil(), now())
                .await,
            Err(StoreError::Closed)
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_calls_for_one_key_create_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let directory = directory(dir.path(), DIRECTORY);
        let opened = Store::open(dir.path(), &directory, false, now()).unwrap();
        let env = Arc::clone(&opened.catalog.environments[0]);
        let store = Arc::new(opened.store);
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..12 {
            let (store, row) = (Arc::clone(&store), row(&env, "bob@example.com"));
            let seq = env.seq;
            calls.spawn(async move { store.create_assignments(seq, vec![row], now()).await });
        }
        let mut created = 0;
        while let Some(result) = calls.join_next().await {
            let result = result.unwrap().unwrap();
            created += result.iter().flatten().count();
        }
        assert_eq!(created, 1, "whichever call came first created it");
        store.close().await;
    }

    #[tokio::test]
    async fn a_changed_directory_does_not_reseed() {
        let dir = tempfile::tempdir().unwrap();
        let first = directory(dir.path(), DIRECTORY);
        Store::open(dir.path(), &first, false, now())
            .unwrap()
            .store
            .close()
            .await;

        let changed = directory(
            dir.path(),
            &DIRECTORY.replace(
                "assignments: [",
                "assignments: [{identity: bob@example.com, node: acme, role: viewer}, ",
            ),
        );
        assert_ne!(changed.content_hash, first.content_hash);
        let reopened = Store::open(dir.path(), &changed, false, now()).unwrap();
        assert!(!reopened.seeded);
        let env = reopened.catalog.environments[0].seq;
        let (all, _) = reopened
            .store
            .list_assignments(env, AssignmentFilter::default(), None, 10, now())
            .await
            .unwrap();
        assert_eq!(all.len(), 1);
        reopened.store.close().await;

        let reset = Store::open(dir.path(), &changed, true, now()).unwrap();
        assert!(reset.seeded);
        let (all, _) = reset
            .store
            .list_assignments(env, AssignmentFilter::default(), None, 10, now())
            .await
            .unwrap();
        assert_eq!(all.len(), 2);
        reset.store.close().await;
    }
}
