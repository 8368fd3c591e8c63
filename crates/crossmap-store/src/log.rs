//! The durable log: every change, appended to SQLite by one writer thread that commits in groups. Each
//! record carries a CRC32C of its contents, checked when the log is read back.

use crate::StoreError;
use crossmap_delta::Change;
use crossmap_model::{IdentityMapping, MappingKey};
use rusqlite::{Connection, ErrorCode, params};
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The schema version this build writes and the newest it reads (`PRAGMA user_version`).
///
/// 1: the log without checksums; 2: each record with its CRC32C (a version-1 log is upgraded on open).
pub const SCHEMA_VERSION: i64 = 2;

/// One change as logged: the tenant, the kind, its feed token, the key, and the row (none for a removal).
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// Its place in the log (1, 2, …); 0 until written.
    pub(crate) seq: i64,
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
            seq: 0,
            tenant: tenant.to_owned(),
            kind,
            token,
            key: change.key().as_str().to_owned(),
            row,
        }
    }

    /// The CRC32C of everything the record says, each field length-prefixed so that no two records share
    /// an input. Its place in the log is not covered: the feed tokens catch records out of order or missing.
    pub(crate) fn checksum(&self) -> u32 {
        let mut crc = 0;
        let mut add = |bytes: &[u8]| crc = crc32c::crc32c_append(crc, bytes);
        add(&(self.tenant.len() as u64).to_le_bytes());
        add(self.tenant.as_bytes());
        add(&self.kind.to_le_bytes());
        add(&self.token.to_le_bytes());
        add(&(self.key.len() as u64).to_le_bytes());
        add(self.key.as_bytes());
        match &self.row {
            None => add(&[0]),
            Some(row) => {
                add(&[1]);
                add(&(row.len() as u64).to_le_bytes());
                add(row);
            }
        }
        crc
    }

    /// Where the record is, for a message: its place in the log, tenant, kind and token.
    pub(crate) fn describe(&self) -> String {
        let kind = match self.kind {
            1 => "user mappings".to_owned(),
            2 => "group mappings".to_owned(),
            3 => "directory users".to_owned(),
            4 => "directory groups".to_owned(),
            5 => "organization".to_owned(),
            other => format!("kind {other}"),
        };
        format!(
            "log record {} (tenant {:?}, {kind}, token {})",
            self.seq, self.tenant, self.token
        )
    }
}

/// SQLite's own reports of a damaged file become [`StoreError::Corrupt`]; other failures stay failures.
pub(crate) fn database_error(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            StoreError::Corrupt(format!("SQLite reports the database file damaged: {e}"))
        }
        _ => StoreError::Database(e),
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
        let mut conn = Connection::open(path).map_err(database_error)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(database_error)?;
        // FULL: a commit is on disk (the WAL fsynced) before it returns; that is what we acknowledge on.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(database_error)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(database_error)?;
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
            )
            .map_err(database_error)?;
        }
        if version < 2 {
            add_checksums(&mut conn)?;
        }
        let records = read_all(&conn)?;
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
            tx.prepare_cached("INSERT INTO log (tenant, kind, token, key, row, crc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
        for r in batches.iter().flat_map(|b| &b.records) {
            insert.execute(params![r.tenant, r.kind, r.token as i64, r.key, r.row, r.checksum()])?;
        }
    }
    tx.commit()
}

/// Reads every record in log order, each checked against its checksum.
fn read_all(conn: &Connection) -> Result<Vec<Result<Record, StoreError>>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT seq, tenant, kind, token, key, row, crc FROM log ORDER BY seq")
        .map_err(database_error)?;
    let rows = stmt
        .query_map([], |r| {
            let seq: i64 = r.get(0)?;
            // A damaged field can change its type: name the record rather than fail on the column.
            let fields = || -> rusqlite::Result<(Record, Option<i64>)> {
                Ok((
                    Record {
                        seq,
                        tenant: r.get(1)?,
                        kind: r.get(2)?,
                        token: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                        key: r.get(4)?,
                        row: r.get(5)?,
                    },
                    r.get(6)?,
                ))
            };
            Ok(fields().map_err(|e| StoreError::Corrupt(format!("log record {seq} cannot be read: {e}"))))
        })
        .map_err(database_error)?;
    let mut records = Vec::new();
    for row in rows {
        records.push(
            row.map_err(database_error)?
                .and_then(|(record, crc)| verify(record, crc)),
        );
    }
    Ok(records)
}

fn verify(record: Record, stored: Option<i64>) -> Result<Record, StoreError> {
    let computed = record.checksum();
    match stored {
        Some(stored) if stored == i64::from(computed) => Ok(record),
        Some(stored) => Err(StoreError::Corrupt(format!(
            "{} fails its checksum (stored {stored:#010x}, computed {computed:#010x}): the file was changed \
             after it was written",
            record.describe()
        ))),
        None => Err(StoreError::Corrupt(format!("{} has no checksum", record.describe()))),
    }
}

/// Upgrades a version-1 log: adds the checksum column and checksums every record, in one transaction.
fn add_checksums(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction().map_err(database_error)?;
    tx.execute_batch("ALTER TABLE log ADD COLUMN crc INTEGER")
        .map_err(database_error)?;
    let records: Vec<Record> = {
        let mut stmt = tx
            .prepare("SELECT seq, tenant, kind, token, key, row FROM log ORDER BY seq")
            .map_err(database_error)?;
        stmt.query_map([], |r| {
            Ok(Record {
                seq: r.get(0)?,
                tenant: r.get(1)?,
                kind: r.get(2)?,
                token: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                key: r.get(4)?,
                row: r.get(5)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| StoreError::Corrupt(format!("the version-1 log cannot be read to upgrade it: {e}")))?
    };
    {
        let mut update = tx
            .prepare("UPDATE log SET crc = ?1 WHERE seq = ?2")
            .map_err(database_error)?;
        for r in &records {
            update.execute(params![r.checksum(), r.seq]).map_err(database_error)?;
        }
    }
    tx.pragma_update(None, "user_version", 2).map_err(database_error)?;
    tx.commit().map_err(database_error)?;
    if !records.is_empty() {
        tracing::info!(
            records = records.len(),
            "upgraded the log to schema version 2: every record now carries a checksum"
        );
    }
    Ok(())
}
