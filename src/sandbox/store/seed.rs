//! The store's tables, seeding them from a directory, and reading the
//! catalog back.
//!
//! Ids are 16-byte blobs and environments a small integer, which keeps the
//! assignment indexes small at a million rows.

use jiff::Timestamp;
use rusqlite::{Connection, Row, TransactionBehavior, params};
use uuid::Uuid;

use super::SCHEMA_VERSION;
use super::assignments::timestamp_parts;
use crate::api::types::{Environment, Identity, Node, Role};
use crate::sandbox::catalog::{Catalog, EnvironmentCatalog};
use crate::sandbox::directory::Directory;

const SCHEMA: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE environments (
    seq  INTEGER PRIMARY KEY,
    id   BLOB NOT NULL UNIQUE,
    name TEXT NOT NULL
);
CREATE TABLE api_keys (
    key TEXT PRIMARY KEY,
    env INTEGER NOT NULL REFERENCES environments (seq)
);
CREATE TABLE identities (
    seq          INTEGER PRIMARY KEY,
    env          INTEGER NOT NULL REFERENCES environments (seq),
    id           BLOB NOT NULL,
    email        TEXT NOT NULL,
    external_id  TEXT,
    display_name TEXT,
    status       TEXT NOT NULL,
    UNIQUE (env, id)
);
CREATE TABLE nodes (
    seq       INTEGER PRIMARY KEY,
    env       INTEGER NOT NULL REFERENCES environments (seq),
    id        BLOB NOT NULL,
    key       TEXT NOT NULL,
    name      TEXT,
    parent_id BLOB,
    UNIQUE (env, id)
);
CREATE TABLE roles (
    seq         INTEGER PRIMARY KEY,
    env         INTEGER NOT NULL REFERENCES environments (seq),
    id          BLOB NOT NULL,
    key         TEXT NOT NULL,
    name        TEXT,
    permissions TEXT NOT NULL,
    UNIQUE (env, id)
);
-- AUTOINCREMENT: a seq is never reused, so a listing cursor (the last seq
-- seen) stays meaningful across deletes.
CREATE TABLE assignments (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    env         INTEGER NOT NULL REFERENCES environments (seq),
    id          BLOB NOT NULL UNIQUE,
    identity_id BLOB NOT NULL,
    node_id     BLOB NOT NULL,
    role_id     BLOB NOT NULL,
    from_s      INTEGER,
    from_ns     INTEGER,
    to_s        INTEGER,
    to_ns       INTEGER,
    created_s   INTEGER NOT NULL,
    created_ns  INTEGER NOT NULL,
    -- Node first: a client that sends its creates grouped by node (grantsync
    -- sorts them so) touches a few pages of this index per call, not one
    -- page per item; identity next, for the access query.
    UNIQUE (env, node_id, identity_id, role_id)
);
CREATE INDEX assignments_by_env ON assignments (env, seq);
CREATE INDEX assignments_by_node ON assignments (env, node_id, seq);
CREATE INDEX assignments_by_role ON assignments (env, role_id, seq);
";

/// Creates the tables and fills them from `directory`, in one transaction.
pub(super) fn seed(
    conn: &mut Connection,
    directory: &Directory,
    now: Timestamp,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(SCHEMA)?;
    let (created_s, created_ns) = timestamp_parts(now);

    for env in &directory.environments {
        tx.execute(
            "INSERT INTO environments (id, name) VALUES (?1, ?2)",
            params![env.id.as_bytes(), env.name],
        )?;
        let seq = tx.last_insert_rowid();
        for key in &env.api_keys {
            tx.execute(
                "INSERT INTO api_keys (key, env) VALUES (?1, ?2)",
                params![key, seq],
            )?;
        }

        let mut insert = tx.prepare(
            "INSERT INTO identities (env, id, email, external_id, display_name, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for i in &env.identities {
            insert.execute(params![
                seq,
                i.id.as_bytes(),
                i.email,
                i.external_id,
                i.display_name,
                i.status
            ])?;
        }
        drop(insert);

        let mut insert = tx.prepare(
            "INSERT INTO nodes (env, id, key, name, parent_id) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for n in &env.nodes {
            insert.execute(params![
                seq,
                n.id.as_bytes(),
                n.key,
                n.name,
                n.parent_id.as_ref().map(Uuid::as_bytes)
            ])?;
        }
        drop(insert);

        let mut insert = tx.prepare(
            "INSERT INTO roles (env, id, key, name, permissions) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for r in &env.roles {
            let permissions =
                serde_json::to_string(&r.permissions).expect("a list of strings serializes");
            insert.execute(params![seq, r.id.as_bytes(), r.key, r.name, permissions])?;
        }
        drop(insert);

        let mut insert = tx.prepare(
            "INSERT INTO assignments (env, id, identity_id, node_id, role_id,
                 from_s, from_ns, to_s, to_ns, created_s, created_ns)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for a in &env.assignments {
            let (from_s, from_ns) = a.effective_from.map(timestamp_parts).unzip();
            let (to_s, to_ns) = a.effective_to.map(timestamp_parts).unzip();
            insert.execute(params![
                seq,
                a.id.as_bytes(),
                a.identity_id.as_bytes(),
                a.node_id.as_bytes(),
                a.role_id.as_bytes(),
                from_s,
                from_ns,
                to_s,
                to_ns,
                created_s,
                created_ns
            ])?;
        }
    }

    let mut insert = tx.prepare("INSERT INTO meta (key, value) VALUES (?1, ?2)")?;
    insert.execute(params!["schema_version", SCHEMA_VERSION.to_string()])?;
    insert.execute(params!["directory_hash", directory.content_hash])?;
    insert.execute(params!["seeded_at", now.to_string()])?;
    drop(insert);
    tx.commit()
}

/// Reads every environment with its keys, identities, nodes and roles.
pub(super) fn load_catalog(conn: &Connection) -> rusqlite::Result<Catalog> {
    let mut environments = Vec::new();
    let mut select = conn.prepare("SELECT seq, id, name FROM environments ORDER BY seq")?;
    let rows = select.query_map([], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            uuid(row, 1)?,
            row.get::<_, String>(2)?,
        ))
    })?;
    for row in rows {
        let (seq, id, name) = row?;
        let keys = conn
            .prepare("SELECT key FROM api_keys WHERE env = ?1 ORDER BY rowid")?
            .query_map([seq], |row| row.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        let identities = conn
            .prepare(
                "SELECT id, email, external_id, display_name, status
                 FROM identities WHERE env = ?1 ORDER BY seq",
            )?
            .query_map([seq], |row| {
                Ok(Identity {
                    id: uuid(row, 0)?,
                    email: row.get(1)?,
                    external_id: row.get(2)?,
                    display_name: row.get(3)?,
                    status: row.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let nodes = conn
            .prepare("SELECT id, key, name, parent_id FROM nodes WHERE env = ?1 ORDER BY seq")?
            .query_map([seq], |row| {
                Ok(Node {
                    id: uuid(row, 0)?,
                    key: row.get(1)?,
                    name: row.get(2)?,
                    parent_id: row.get::<_, Option<[u8; 16]>>(3)?.map(Uuid::from_bytes),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let roles = conn
            .prepare("SELECT id, key, name, permissions FROM roles WHERE env = ?1 ORDER BY seq")?
            .query_map([seq], |row| {
                let permissions: String = row.get(3)?;
                Ok(Role {
                    id: uuid(row, 0)?,
                    key: row.get(1)?,
                    name: row.get(2)?,
                    permissions: serde_json::from_str(&permissions).map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            3,
                            rusqlite::types::Type::Text,
                            Box::new(e),
                        )
                    })?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let environment = Environment { id, name };
        environments.push((
            EnvironmentCatalog::new(seq, environment, identities, nodes, roles),
            keys,
        ));
    }
    Ok(Catalog::new(environments))
}

pub(super) fn uuid(row: &Row<'_>, index: usize) -> rusqlite::Result<Uuid> {
    row.get::<_, [u8; 16]>(index).map(Uuid::from_bytes)
}
