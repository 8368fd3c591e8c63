//! The durable log: every change, appended to SQLite by one writer thread that commits in groups. Each
//! record carries a CRC32C of its contents, checked when the log is read back. Compaction folds the log
//! into the checkpoint (each key's latest row, and each tenant and kind's feed position) and empties it,
//! in one transaction.

use crate::StoreError;
use crossmap_delta::Change;
use crossmap_model::{IdentityMapping, MappingKey};
use rusqlite::{Connection, ErrorCode, params};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The schema version this build writes and the newest it reads (`PRAGMA user_version`).
///
/// 1: the log without checksums; 2: each record with its CRC32C (a version-1 log is upgraded on open);
/// 3: the checkpoint and the feed positions beside the log (an older log is upgraded on open).
pub const SCHEMA_VERSION: i64 = 3;

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
        let place = match self.seq {
            0 => "checkpoint row".to_owned(),
            seq => format!("log record {seq}"),
        };
        format!("{place} (tenant {:?}, {kind}, token {})", self.tenant, self.token)
    }
}

/// Where a tenant's kind stood when the checkpoint was taken: its latest token, and the horizon (tokens
/// older than it were followed by removals the checkpoint dropped, so they cannot be served).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) latest: u64,
    pub(crate) horizon: u64,
}

impl Position {
    fn checksum(tenant: &str, kind: i64, latest: u64, horizon: u64) -> u32 {
        let mut crc = 0;
        let mut add = |bytes: &[u8]| crc = crc32c::crc32c_append(crc, bytes);
        add(&(tenant.len() as u64).to_le_bytes());
        add(tenant.as_bytes());
        add(&kind.to_le_bytes());
        add(&latest.to_le_bytes());
        add(&horizon.to_le_bytes());
        crc
    }
}

/// What opening the database hands back, in this order: the checkpoint's positions, its rows, then every
/// log record after it, each checked against its checksum.
pub(crate) trait Replay {
    /// A tenant's kind's position in the checkpoint (every position comes before any row).
    fn position(&mut self, tenant: &str, kind: i64, position: Position) -> Result<(), StoreError>;
    /// A row of the checkpoint: a key's latest row, under the token of its latest change (seq 0).
    fn checkpoint_row(&mut self, record: Record) -> Result<(), StoreError>;
    /// The checkpoint is in; log records follow.
    fn checkpoint_done(&mut self) -> Result<(), StoreError>;
    /// A log record, in log order.
    fn record(&mut self, record: Record) -> Result<(), StoreError>;
}

/// When the store compacts by itself: once the log holds `min_records` records and at least half as many
/// as the checkpoint has rows (so the data directory stays within about twice a fresh load of the state,
/// and the work of compacting is linear in the writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoCompact {
    /// The fewest log records that make a compaction worth its pause.
    pub min_records: u64,
}

impl Default for AutoCompact {
    fn default() -> Self {
        AutoCompact { min_records: 100_000 }
    }
}

/// What a compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Compaction {
    /// Log records folded into the checkpoint and removed from the log.
    pub records_removed: u64,
    /// Rows in the checkpoint afterwards (mappings and directory objects).
    pub checkpoint_rows: u64,
    /// The database's size on disk before (main file and its write-ahead log), in bytes.
    pub bytes_before: u64,
    /// Its size afterwards, in bytes.
    pub bytes_after: u64,
    /// How long it took, the store's writes waiting meanwhile.
    pub elapsed: Duration,
    /// For each tenant and kind the log held: the last token it covered, and the new horizon.
    pub(crate) positions: Vec<(String, i64, u64, u64)>,
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

enum Job {
    Write(Batch),
    Compact(mpsc::SyncSender<Result<Compaction, String>>),
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
    tx: Option<mpsc::Sender<Job>>,
    failed: Arc<Mutex<Option<String>>>,
    /// Set by the writer thread once the log has grown past the automatic threshold.
    due: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    /// Opens the database, checks its schema version (upgrading an older one), hands the checkpoint and
    /// every log record after it to `replay`, and starts the writer thread.
    pub(crate) fn open(
        path: &Path,
        auto: Option<AutoCompact>,
        replay: &mut (impl Replay + Send),
    ) -> Result<Writer, StoreError> {
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
        if version < 3 {
            // One transaction: a crash leaves version 2 and no new table, or both.
            conn.execute_batch(
                "BEGIN;
                 CREATE TABLE checkpoint (
                     tenant TEXT    NOT NULL,
                     kind   INTEGER NOT NULL,
                     key    TEXT    NOT NULL,
                     token  INTEGER NOT NULL,
                     row    BLOB    NOT NULL,
                     crc    INTEGER NOT NULL,
                     PRIMARY KEY (tenant, kind, key)
                 ) WITHOUT ROWID;
                 CREATE TABLE position (
                     tenant  TEXT    NOT NULL,
                     kind    INTEGER NOT NULL,
                     latest  INTEGER NOT NULL,
                     horizon INTEGER NOT NULL,
                     crc     INTEGER NOT NULL,
                     PRIMARY KEY (tenant, kind)
                 ) WITHOUT ROWID;
                 PRAGMA user_version = 3;
                 COMMIT;",
            )
            .map_err(database_error)?;
        }
        let (checkpoint_rows, log_records) = read_all_pipelined(&conn, replay)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let failed = Arc::new(Mutex::new(None));
        let due = Arc::new(AtomicBool::new(false));
        let thread = WriterThread {
            conn,
            path: path.to_owned(),
            failed: failed.clone(),
            due: due.clone(),
            auto,
            checkpoint_rows,
            log_records,
        };
        thread.check_due();
        let thread = std::thread::Builder::new()
            .name("crossmap-log".into())
            .spawn(move || thread.run(rx))
            .map_err(|source| StoreError::Io {
                path: path.display().to_string(),
                source,
            })?;
        Ok(Writer {
            tx: Some(tx),
            failed,
            due,
            thread: Some(thread),
        })
    }

    /// Queues records to be written in one transaction; the ticket resolves when they are durable.
    pub(crate) fn submit(&self, records: Vec<Record>) -> Result<Ticket, StoreError> {
        self.check_failed()?;
        let (done, wait) = mpsc::sync_channel(1);
        self.send(Job::Write(Batch { records, done }))?;
        Ok(Ticket(wait))
    }

    /// Folds the log into the checkpoint, after every batch submitted before; returns once it is durable.
    pub(crate) fn compact(&self) -> Result<Compaction, StoreError> {
        self.check_failed()?;
        let (done, wait) = mpsc::sync_channel(1);
        self.send(Job::Compact(done))?;
        match wait.recv() {
            Ok(Ok(report)) => Ok(report),
            Ok(Err(e)) => Err(StoreError::Unavailable(e)),
            Err(_) => Err(StoreError::Unavailable("the log writer stopped".into())),
        }
    }

    /// Whether the log has grown past the automatic threshold; clears the flag, so that one caller acts.
    pub(crate) fn take_due(&self) -> bool {
        self.due.swap(false, Ordering::AcqRel)
    }

    fn check_failed(&self) -> Result<(), StoreError> {
        match self.failed.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            Some(e) => Err(StoreError::Unavailable(e)),
            None => Ok(()),
        }
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        self.tx
            .as_ref()
            .expect("the sender lives until drop")
            .send(job)
            .map_err(|_| StoreError::Unavailable("the log writer stopped".into()))
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

/// The writer thread's own state.
struct WriterThread {
    conn: Connection,
    path: std::path::PathBuf,
    failed: Arc<Mutex<Option<String>>>,
    due: Arc<AtomicBool>,
    auto: Option<AutoCompact>,
    checkpoint_rows: u64,
    log_records: u64,
}

impl WriterThread {
    /// Takes every job waiting: consecutive batches go in one transaction, and a compaction runs after
    /// the batches queued before it.
    fn run(mut self, rx: mpsc::Receiver<Job>) {
        while let Ok(first) = rx.recv() {
            let mut batches = Vec::new();
            for job in std::iter::once(first).chain(rx.try_iter()) {
                match job {
                    Job::Write(batch) => batches.push(batch),
                    Job::Compact(done) => {
                        self.write_batches(std::mem::take(&mut batches));
                        let _ = done.send(self.compact());
                    }
                }
            }
            self.write_batches(batches);
        }
    }

    fn failure(&self) -> Option<String> {
        self.failed.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn fail(&self, message: String) -> String {
        tracing::error!(error = %message, "the log could not be written; the store stops accepting writes");
        *self.failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(message.clone());
        message
    }

    fn write_batches(&mut self, batches: Vec<Batch>) {
        if batches.is_empty() {
            return;
        }
        let result = match self.failure() {
            Some(e) => Err(e),
            None => write(&mut self.conn, &batches).map_err(|e| self.fail(format!("writing the log failed: {e}"))),
        };
        if result.is_ok() {
            self.log_records += batches.iter().map(|b| b.records.len() as u64).sum::<u64>();
            self.check_due();
        }
        tracing::trace!(batches = batches.len(), "log group committed");
        for b in batches {
            let _ = b.done.send(result.clone());
        }
    }

    fn check_due(&self) {
        if let Some(auto) = self.auto
            && self.log_records >= auto.min_records.max(self.checkpoint_rows / 2).max(1)
        {
            self.due.store(true, Ordering::Release);
        }
    }

    fn compact(&mut self) -> Result<Compaction, String> {
        if let Some(e) = self.failure() {
            return Err(e);
        }
        let start = Instant::now();
        let bytes_before = disk_size(&self.path);
        let mut report = compact(&mut self.conn).map_err(|e| self.fail(format!("compacting the log failed: {e}")))?;
        // The checkpoint is durable: what follows only gives space back, each step atomic on its own.
        if let Err(e) = shrink(&self.conn) {
            tracing::warn!(error = %e, "the data directory could not be shrunk after compaction");
        }
        self.checkpoint_rows = report.checkpoint_rows;
        self.log_records = 0;
        // Batches committed while this compaction waited in the queue may have raised the flag again.
        self.due.store(false, Ordering::Release);
        report.bytes_before = bytes_before;
        report.bytes_after = disk_size(&self.path);
        report.elapsed = start.elapsed();
        tracing::info!(
            removed = report.records_removed,
            rows = report.checkpoint_rows,
            bytes_before = report.bytes_before,
            bytes_after = report.bytes_after,
            elapsed_ms = report.elapsed.as_millis() as u64,
            "log compacted"
        );
        Ok(report)
    }
}

/// The database's main file and write-ahead log, in bytes.
fn disk_size(path: &Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    [path.to_owned(), wal.into()]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// Folds every log record into the checkpoint, in one transaction: each key's latest record replaces
/// its checkpoint row (a removal deletes it), each tenant and kind's position moves to its latest token
/// (the horizon to its newest removal dropped), and the log is emptied. A crash before the commit leaves
/// the old checkpoint and the whole log; after it, the new checkpoint and an empty log: either opens to
/// the same state.
fn compact(conn: &mut Connection) -> rusqlite::Result<Compaction> {
    let tx = conn.transaction()?;
    let records_removed: i64 = tx.query_row("SELECT count(*) FROM log", [], |r| r.get(0))?;
    // SQLite takes the bare columns of a max() aggregate from the row holding the maximum.
    tx.execute_batch(
        "CREATE TEMP TABLE latest (
             tenant TEXT NOT NULL, kind INTEGER NOT NULL, key TEXT NOT NULL,
             token INTEGER NOT NULL, row BLOB, crc INTEGER,
             PRIMARY KEY (tenant, kind, key)
         ) WITHOUT ROWID;
         INSERT INTO temp.latest
             SELECT tenant, kind, key, token, row, crc FROM
                 (SELECT tenant, kind, key, token, row, crc, max(seq) FROM log GROUP BY tenant, kind, key);
         INSERT OR REPLACE INTO checkpoint (tenant, kind, key, token, row, crc)
             SELECT tenant, kind, key, token, row, crc FROM temp.latest WHERE row IS NOT NULL;
         DELETE FROM checkpoint WHERE (tenant, kind, key) IN
             (SELECT tenant, kind, key FROM temp.latest WHERE row IS NULL);",
    )?;
    let mut positions: HashMap<(String, i64), (u64, u64)> = HashMap::new();
    {
        let mut stmt = tx.prepare("SELECT tenant, kind, latest, horizon FROM position")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                (r.get(0)?, r.get(1)?),
                (r.get::<_, i64>(2)? as u64, r.get::<_, i64>(3)? as u64),
            ))
        })?;
        for row in rows {
            let (k, v) = row?;
            positions.insert(k, v);
        }
    }
    let mut covered = Vec::new();
    {
        let mut stmt = tx.prepare(
            "SELECT tenant, kind, max(token),
                 (SELECT max(token) FROM temp.latest l WHERE l.tenant = log.tenant AND l.kind = log.kind AND l.row IS NULL)
             FROM log GROUP BY tenant, kind",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)? as u64,
                r.get::<_, Option<i64>>(3)?.map(|t| t as u64),
            ))
        })?;
        for row in rows {
            let (tenant, kind, latest, removal) = row?;
            let position = positions.entry((tenant.clone(), kind)).or_insert((0, 0));
            position.0 = latest;
            position.1 = position.1.max(removal.unwrap_or(0));
            covered.push((tenant, kind, position.0, position.1));
        }
    }
    {
        let mut put = tx.prepare(
            "INSERT OR REPLACE INTO position (tenant, kind, latest, horizon, crc) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (tenant, kind, latest, horizon) in &covered {
            let crc = Position::checksum(tenant, *kind, *latest, *horizon);
            put.execute(params![tenant, kind, *latest as i64, *horizon as i64, crc])?;
        }
    }
    tx.execute_batch("DELETE FROM log; DROP TABLE temp.latest;")?;
    let checkpoint_rows: i64 = tx.query_row("SELECT count(*) FROM checkpoint", [], |r| r.get(0))?;
    tx.commit()?;
    Ok(Compaction {
        records_removed: records_removed as u64,
        checkpoint_rows: checkpoint_rows as u64,
        positions: covered,
        ..Compaction::default()
    })
}

/// Gives back the space compaction freed, when it is most of the file: `VACUUM` rewrites the database
/// (atomically, as a transaction), then the write-ahead log is checkpointed and truncated.
fn shrink(conn: &Connection) -> rusqlite::Result<()> {
    let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
    let free: i64 = conn.pragma_query_value(None, "freelist_count", |r| r.get(0))?;
    if free * 2 > pages {
        conn.execute_batch("VACUUM")?;
    }
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
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

/// What `read_all` hands on, queued for the thread that replays it.
enum Item {
    Position(String, i64, Position),
    CheckpointRow(Record),
    CheckpointDone,
    Record(Record),
}

/// A [`Replay`] that queues everything, in batches, for another thread.
struct Forward {
    tx: mpsc::SyncSender<Vec<Item>>,
    batch: Vec<Item>,
}

impl Forward {
    const BATCH: usize = 1024;

    fn push(&mut self, item: Item) -> Result<(), StoreError> {
        self.batch.push(item);
        if self.batch.len() >= Self::BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(Self::BATCH));
        // A closed channel means the replay stopped on an error, which the caller reports.
        self.tx
            .send(batch)
            .map_err(|_| StoreError::Unavailable("the replay stopped".into()))
    }
}

impl Replay for Forward {
    fn position(&mut self, tenant: &str, kind: i64, position: Position) -> Result<(), StoreError> {
        self.push(Item::Position(tenant.to_owned(), kind, position))
    }
    fn checkpoint_row(&mut self, record: Record) -> Result<(), StoreError> {
        self.push(Item::CheckpointRow(record))
    }
    fn checkpoint_done(&mut self) -> Result<(), StoreError> {
        self.push(Item::CheckpointDone)
    }
    fn record(&mut self, record: Record) -> Result<(), StoreError> {
        self.push(Item::Record(record))
    }
}

/// [`read_all`] on this thread while `replay` runs on another, so that reading and checking records
/// overlaps with decoding and indexing them: the time to open a large checkpoint.
fn read_all_pipelined(conn: &Connection, replay: &mut (impl Replay + Send)) -> Result<(u64, u64), StoreError> {
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::sync_channel::<Vec<Item>>(16);
        let consumer = s.spawn(move || -> Result<(), StoreError> {
            for item in rx.into_iter().flatten() {
                match item {
                    Item::Position(tenant, kind, p) => replay.position(&tenant, kind, p)?,
                    Item::CheckpointRow(record) => replay.checkpoint_row(record)?,
                    Item::CheckpointDone => replay.checkpoint_done()?,
                    Item::Record(record) => replay.record(record)?,
                }
            }
            Ok(())
        });
        let mut forward = Forward {
            tx,
            batch: Vec::with_capacity(Forward::BATCH),
        };
        let read = read_all(conn, &mut forward).and_then(|counts| forward.flush().map(|()| counts));
        drop(forward);
        consumer.join().expect("the replay thread does not panic")?;
        read
    })
}

/// Hands the checkpoint's positions, its rows and then every log record in order to `replay`, each checked
/// against its checksum; returns how many checkpoint rows and log records there were.
fn read_all(conn: &Connection, replay: &mut impl Replay) -> Result<(u64, u64), StoreError> {
    {
        let mut stmt = conn
            .prepare("SELECT tenant, kind, latest, horizon, crc FROM position")
            .map_err(database_error)?;
        let mut rows = stmt.query([]).map_err(database_error)?;
        while let Some(r) = rows.next().map_err(database_error)? {
            let fields = || -> rusqlite::Result<(String, i64, i64, i64, i64)> {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            };
            let (tenant, kind, latest, horizon, crc) =
                fields().map_err(|e| StoreError::Corrupt(format!("a checkpoint position cannot be read: {e}")))?;
            let (latest, horizon) = (latest as u64, horizon as u64);
            if i64::from(Position::checksum(&tenant, kind, latest, horizon)) != crc || horizon > latest {
                return Err(StoreError::Corrupt(format!(
                    "the checkpoint position of tenant {tenant:?}, kind {kind} fails its checksum"
                )));
            }
            replay.position(&tenant, kind, Position { latest, horizon })?;
        }
    }
    let mut checkpoint_rows = 0;
    {
        let mut stmt = conn
            .prepare("SELECT tenant, kind, token, key, row, crc FROM checkpoint")
            .map_err(database_error)?;
        let mut rows = stmt.query([]).map_err(database_error)?;
        while let Some(r) = rows.next().map_err(database_error)? {
            let fields = || -> rusqlite::Result<(Record, Option<i64>)> {
                Ok((
                    Record {
                        seq: 0,
                        tenant: r.get(0)?,
                        kind: r.get(1)?,
                        token: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                        key: r.get(3)?,
                        row: Some(r.get(4)?),
                    },
                    r.get(5)?,
                ))
            };
            let (record, crc) =
                fields().map_err(|e| StoreError::Corrupt(format!("a checkpoint row cannot be read: {e}")))?;
            replay.checkpoint_row(verify(record, crc)?)?;
            checkpoint_rows += 1;
        }
    }
    replay.checkpoint_done()?;
    let mut stmt = conn
        .prepare("SELECT seq, tenant, kind, token, key, row, crc FROM log ORDER BY seq")
        .map_err(database_error)?;
    let mut rows = stmt.query([]).map_err(database_error)?;
    let mut log_records = 0;
    while let Some(r) = rows.next().map_err(database_error)? {
        let seq: i64 = r.get(0).map_err(database_error)?;
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
        let (record, crc) =
            fields().map_err(|e| StoreError::Corrupt(format!("log record {seq} cannot be read: {e}")))?;
        replay.record(verify(record, crc)?)?;
        log_records += 1;
    }
    Ok((checkpoint_rows, log_records))
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
