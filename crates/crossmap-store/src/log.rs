//! The durable log: every change, appended to SQLite by one writer thread that commits in groups.

use crate::StoreError;
use crossmap_delta::Change;
use crossmap_model::{IdentityMapping, MappingKey};
use rusqlite::{Connection, params};
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The schema version this build writes and the newest it reads (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 1;

/// One change as logged: the tenant, the kind, its feed token, the key, and the row (none for a removal).
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) tenant: String,
    pub(crate) kind: i64,
    pub(crate) token: u64,
    pub(crate) key: String,
    pub(crate) row: Option<Vec<u8>>,
}

impl Record {
    pub(crate) fn of<M: IdentityMapping>(tenant: &str, kind: i64, token: u64, change: &Change<M>) -> Record {
        let row = match change {
            Change::Upsert(_, row) => Some(row.as_bytes().to_vec()),
            Change::Remove(_) => None,
        };
        Record {
            tenant: tenant.to_owned(),
            kind,
            token,
            key: change.key().as_str().to_owned(),
            row,
        }
    }
}

struct Batch {
    records: Vec<Record>,
    done: mpsc::SyncSender<Result<(), String>>,
}

/// A submitted batch: wait for it to be durable.
pub(crate) struct Ticket(mpsc::Receiver<Result<(), String>>);

impl Ticket {
    /// Blocks until the batch is committed (or failed).
    pub(crate) fn wait(self) -> Result<(), StoreError> {
        match self.0.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Unavailable(e)),
            Err(_) => Err(StoreError::Unavailable("the log writer stopped".into())),
        }
    }
}

/// The writer thread's handle.
pub(crate) struct Writer {
    tx: Option<mpsc::Sender<Batch>>,
    failed: Arc<Mutex<Option<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    /// Opens the database, checks its schema version, reads back every record in order, and starts the
    /// writer thread.
    pub(crate) fn open(path: &Path) -> Result<(Writer, Vec<Result<Record, StoreError>>), StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a commit is on disk (the WAL fsynced) before it returns; that is what we acknowledge on.
        conn.pragma_update(None, "synchronous", "FULL")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version == 0 {
            conn.execute_batch(
                "BEGIN;
                 CREATE TABLE IF NOT EXISTS log (
                     seq    INTEGER PRIMARY KEY,
                     tenant TEXT    NOT NULL,
                     kind   INTEGER NOT NULL,
                     token  INTEGER NOT NULL,
                     key    TEXT    NOT NULL,
                     row    BLOB
                 );
                 PRAGMA user_version = 1;
                 COMMIT;",
            )?;
        }
        let records = {
            let mut stmt = conn.prepare("SELECT tenant, kind, token, key, row FROM log ORDER BY seq")?;
            stmt.query_map([], |r| {
                Ok(Record {
                    tenant: r.get(0)?,
                    kind: r.get(1)?,
                    token: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                    key: r.get(3)?,
                    row: r.get(4)?,
                })
            })?
            .map(|r| r.map_err(StoreError::from))
            .collect()
        };
        let (tx, rx) = mpsc::channel::<Batch>();
        let failed = Arc::new(Mutex::new(None));
        let thread_failed = failed.clone();
        let thread = std::thread::Builder::new()
            .name("crossmap-log".into())
            .spawn(move || write_loop(conn, rx, thread_failed))
            .map_err(|source| StoreError::Io {
                path: path.display().to_string(),
                source,
            })?;
        Ok((
            Writer {
                tx: Some(tx),
                failed,
                thread: Some(thread),
            },
            records,
        ))
    }

    /// Queues records to be written in one transaction; the ticket resolves when they are durable.
    pub(crate) fn submit(&self, records: Vec<Record>) -> Result<Ticket, StoreError> {
        if let Some(e) = self.failed.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Err(StoreError::Unavailable(e));
        }
        let (done, wait) = mpsc::sync_channel(1);
        self.tx
            .as_ref()
            .expect("the sender lives until drop")
            .send(Batch { records, done })
            .map_err(|_| StoreError::Unavailable("the log writer stopped".into()))?;
        Ok(Ticket(wait))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel lets the thread finish what is queued and stop.
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Takes every batch waiting, writes them in one transaction, and answers each.
fn write_loop(mut conn: Connection, rx: mpsc::Receiver<Batch>, failed: Arc<Mutex<Option<String>>>) {
    while let Ok(first) = rx.recv() {
        let mut batches = vec![first];
        batches.extend(rx.try_iter());
        let result = if let Some(e) = failed.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            Err(e)
        } else {
            write(&mut conn, &batches).map_err(|e| {
                let message = format!("writing the log failed: {e}");
                tracing::error!(error = %e, "the log could not be written; the store stops accepting writes");
                *failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(message.clone());
                message
            })
        };
        tracing::trace!(batches = batches.len(), "log group committed");
        for b in batches {
            let _ = b.done.send(result.clone());
        }
    }
}

fn write(conn: &mut Connection, batches: &[Batch]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut insert =
            tx.prepare_cached("INSERT INTO log (tenant, kind, token, key, row) VALUES (?1, ?2, ?3, ?4, ?5)")?;
        for r in batches.iter().flat_map(|b| &b.records) {
            insert.execute(params![r.tenant, r.kind, r.token as i64, r.key, r.row])?;
        }
    }
    tx.commit()
}
