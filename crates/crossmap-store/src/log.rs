//! The durable log: every change, appended to SQLite by one writer thread that commits in groups. Each
//! record carries a CRC32C of its contents, checked when the log is read back. Compaction runs on a
//! thread of its own, beside the writer: it folds the log into the checkpoint file (`checkpoint.rs`) on
//! its own connection, then deletes the records it covered in short transactions.

use crate::{StoreError, checkpoint};
use crossmap_delta::Change;
use crossmap_model::compact::Compact;
use crossmap_model::{IdentityMapping, MappingKey};
use rusqlite::{Connection, ErrorCode, params};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The schema version this build writes and the newest it reads (`PRAGMA user_version`).
///
/// 1: the log without checksums; 2: each record with its CRC32C (a version-1 log is upgraded on open);
/// 3: the checkpoint and the feed positions in tables beside the log; 4: the checkpoint in a file of its
/// own beside the database, naming the last log record it covers (an older database is upgraded on open).
pub const SCHEMA_VERSION: i64 = 4;

/// The log's table: each record under its sequence number (given by the writer).
pub(crate) const CREATE_LOG: &str = "CREATE TABLE log (
    seq    INTEGER PRIMARY KEY,
    tenant TEXT    NOT NULL,
    kind   INTEGER NOT NULL,
    token  INTEGER NOT NULL,
    key    TEXT    NOT NULL,
    row    BLOB,
    crc    INTEGER
)";

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
        checksum(
            self.tenant.as_bytes(),
            self.kind,
            self.token,
            self.key.as_bytes(),
            self.row.as_deref(),
        )
    }

    /// Where the record is, for a message: its place in the log, tenant, kind and token.
    pub(crate) fn describe(&self) -> String {
        describe(self.seq, &self.tenant, self.kind, self.token)
    }
}

/// A record's fields as read, borrowed from the reader's buffer or SQLite's row: nothing is copied
/// until something keeps it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordRef<'a> {
    /// Its place in the log; 0 for a checkpoint row.
    pub(crate) seq: i64,
    pub(crate) tenant: &'a str,
    pub(crate) kind: i64,
    pub(crate) token: u64,
    pub(crate) key: &'a str,
    pub(crate) row: Option<&'a [u8]>,
}

impl RecordRef<'_> {
    /// An owned copy.
    pub(crate) fn to_record(self) -> Record {
        Record {
            seq: self.seq,
            tenant: self.tenant.to_owned(),
            kind: self.kind,
            token: self.token,
            key: self.key.to_owned(),
            row: self.row.map(<[u8]>::to_vec),
        }
    }

    /// Where the record is, for a message.
    pub(crate) fn describe(&self) -> String {
        describe(self.seq, self.tenant, self.kind, self.token)
    }
}

/// Where a record is, for a message: its place in the log (or the checkpoint), tenant, kind and token.
pub(crate) fn describe(seq: i64, tenant: &str, kind: i64, token: u64) -> String {
    let kind = match kind {
        1 => "user mappings".to_owned(),
        2 => "group mappings".to_owned(),
        3 => "directory users".to_owned(),
        4 => "directory groups".to_owned(),
        5 => "organization".to_owned(),
        other => format!("kind {other}"),
    };
    let place = match seq {
        0 => "checkpoint row".to_owned(),
        seq => format!("log record {seq}"),
    };
    format!("{place} (tenant {tenant:?}, {kind}, token {token})")
}

/// The CRC32C of a record's fields, each length-prefixed so that no two records share an input.
pub(crate) fn checksum(tenant: &[u8], kind: i64, token: u64, key: &[u8], row: Option<&[u8]>) -> u32 {
    // The fields copied into one buffer and summed in one call: `crc32c`'s cost per call, not per byte,
    // was most of it over a dozen small fields (8% of a start).
    let mut buf = [0u8; 1024];
    let len = 8 + tenant.len() + 8 + 8 + 8 + key.len() + 1 + row.map_or(0, |r| 8 + r.len());
    if len > buf.len() {
        return checksum_by_parts(tenant, kind, token, key, row);
    }
    let mut at = 0;
    each_field(tenant, kind, token, key, row, |bytes| {
        buf[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    });
    crc32c::crc32c(&buf[..len])
}

/// [`checksum`], field by field: for records too large for its buffer.
fn checksum_by_parts(tenant: &[u8], kind: i64, token: u64, key: &[u8], row: Option<&[u8]>) -> u32 {
    let mut crc = 0;
    each_field(tenant, kind, token, key, row, |bytes| {
        crc = crc32c::crc32c_append(crc, bytes)
    });
    crc
}

/// Hands `put` what a record's checksum covers, in order: the definition of the checksum.
fn each_field(tenant: &[u8], kind: i64, token: u64, key: &[u8], row: Option<&[u8]>, mut put: impl FnMut(&[u8])) {
    put(&(tenant.len() as u64).to_le_bytes());
    put(tenant);
    put(&kind.to_le_bytes());
    put(&token.to_le_bytes());
    put(&(key.len() as u64).to_le_bytes());
    put(key);
    match row {
        None => put(&[0]),
        Some(row) => {
            put(&[1]);
            put(&(row.len() as u64).to_le_bytes());
            put(row);
        }
    }
}

/// Where a tenant's kind stood when the checkpoint was taken: its latest token, and the horizon (tokens
/// older than it were followed by removals the checkpoint dropped, so they cannot be served).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) latest: u64,
    pub(crate) horizon: u64,
}

/// Where reading the data directory hands what it finds, in this order: the checkpoint's positions, its
/// rows, then every log record after it, each checked against its checksum.
pub(crate) trait Sink {
    /// A tenant's kind's position in the checkpoint and how many rows it holds there (every position
    /// comes before any row).
    fn position(&mut self, tenant: &str, kind: i64, position: Position, rows: u64) -> Result<(), StoreError>;
    /// A row of the checkpoint: a key's latest row, under the token of its latest change (seq 0).
    fn checkpoint_row(&mut self, record: RecordRef<'_>) -> Result<(), StoreError>;
    /// The checkpoint is in; log records follow.
    fn checkpoint_done(&mut self) -> Result<(), StoreError>;
    /// A log record, in log order.
    fn record(&mut self, record: RecordRef<'_>) -> Result<(), StoreError>;
}

/// What puts the state back together from what [`Sink`] is handed, in two steps: [`Replay::ready`] does
/// what needs no state (parse the key, copy the row) on the thread that reads, so that the
/// thread that replays only indexes; an open is then bounded by the slower of the two, not their sum.
pub(crate) trait Replay {
    /// A record made ready to replay.
    type Ready: Send;
    /// Makes `record` ready, or says why it cannot be.
    fn ready(record: RecordRef<'_>) -> Result<Self::Ready, StoreError>;
    /// See [`Sink::position`].
    fn position(&mut self, tenant: &str, kind: i64, position: Position, rows: u64) -> Result<(), StoreError>;
    /// See [`Sink::checkpoint_row`].
    fn checkpoint_row(&mut self, tenant: &str, row: Self::Ready) -> Result<(), StoreError>;
    /// See [`Sink::checkpoint_done`].
    fn checkpoint_done(&mut self) -> Result<(), StoreError>;
    /// See [`Sink::record`].
    fn record(&mut self, tenant: &str, record: Self::Ready) -> Result<(), StoreError>;
}

/// When the store compacts by itself: once the log holds `min_records` records and at least a quarter as
/// many as the checkpoint has rows (so the data directory stays within about 1.25 times a fresh load of
/// the state plus the checkpoint's looser packing, a restart replays at most a quarter of the state from
/// the log, and the work of compacting is linear in the writes: each compaction rewrites at most about
/// four times the records it folds). The compaction runs on a thread of its own, beside the writers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoCompact {
    /// The fewest log records that make a compaction worth its work.
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
    /// How long it took (writes went on meanwhile).
    pub elapsed: Duration,
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

/// Told, after each compaction, which tenant and kind it covered up to which token and their horizons,
/// so that memory drops the removals the checkpoint dropped.
pub(crate) type OnCheckpoint = Box<dyn Fn(&[(String, i64, u64, u64)]) + Send + Sync>;

/// What the writer and the compactor share.
struct Common {
    failed: Mutex<Option<String>>,
    /// Held around every write transaction, so that the two connections never wait on SQLite's lock.
    gate: Mutex<()>,
    /// Log records after the checkpoint, and rows in it: when to compact.
    log_records: AtomicU64,
    checkpoint_rows: AtomicU64,
    /// Set while an automatic compaction is asked for or running, so that it is asked for once.
    compacting: AtomicBool,
    /// Set when the store closes: a compaction under way gives up.
    stop: AtomicBool,
    auto: Option<AutoCompact>,
}

impl Common {
    fn failure(&self) -> Option<String> {
        self.failed.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn due(&self) -> bool {
        self.auto.is_some_and(|auto| {
            self.log_records.load(Ordering::Acquire)
                >= auto
                    .min_records
                    .max(self.checkpoint_rows.load(Ordering::Acquire) / 4)
                    .max(1)
        })
    }
}

enum Ask {
    /// The log has grown past the threshold.
    Auto,
    /// On request: the report, once the covered records are gone and the file shrunk.
    Now(mpsc::SyncSender<Result<Compaction, StoreError>>),
    Stop,
}

/// The writer thread's and the compactor thread's handle.
pub(crate) struct Writer {
    tx: Option<mpsc::Sender<Batch>>,
    compactor: mpsc::Sender<Ask>,
    common: Arc<Common>,
    thread: Option<JoinHandle<()>>,
    compactor_thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(database_error)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(database_error)?;
    // FULL: a commit is on disk (the WAL fsynced) before it returns; that is what we acknowledge on.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(database_error)?;
    // The gate keeps our two connections apart; this only covers another process (`crossmap compact`).
    conn.busy_timeout(Duration::from_secs(10)).map_err(database_error)?;
    Ok(conn)
}

impl Writer {
    /// Opens the database in `dir`, checks its schema version (upgrading an older one), hands the
    /// checkpoint and every log record after it to `replay`, and starts the writer and compactor threads.
    pub(crate) fn open(
        dir: &Path,
        auto: Option<AutoCompact>,
        replay: &mut (impl Replay + Send),
        on_checkpoint: OnCheckpoint,
    ) -> Result<Writer, StoreError> {
        let path = dir.join("crossmap.sqlite");
        let mut conn = connect(&path)?;
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
            conn.execute_batch(&format!("BEGIN; {CREATE_LOG}; PRAGMA user_version = 4; COMMIT;"))
                .map_err(database_error)?;
        }
        if (1..2).contains(&version) {
            add_checksums(&mut conn)?;
        }
        if version == 1 || version == 2 {
            // Neither had a checkpoint: the whole log is replayed, as before.
            conn.pragma_update(None, "user_version", 4).map_err(database_error)?;
        }
        if version == 3 {
            // The tables' checkpoint becomes the file (covering no log record: version 3 emptied the log
            // as it checkpointed), then the tables go. A crash before the commit leaves version 3, and
            // the next open does this again.
            let rows = checkpoint::from_tables(dir, &conn)?;
            conn.execute_batch(
                "BEGIN;
                 DROP TABLE checkpoint;
                 DROP TABLE position;
                 PRAGMA user_version = 4;
                 COMMIT;",
            )
            .map_err(database_error)?;
            tracing::info!(
                rows,
                "upgraded the data directory to schema version 4: the checkpoint is a file"
            );
        }
        checkpoint::remove_leftover(dir);
        let read = read_all_pipelined(dir, &conn, replay)?;
        let common = Arc::new(Common {
            failed: Mutex::new(None),
            gate: Mutex::new(()),
            log_records: AtomicU64::new(read.log_records),
            checkpoint_rows: AtomicU64::new(read.checkpoint_rows),
            compacting: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            auto,
        });
        let (ask, asked) = mpsc::channel::<Ask>();
        let compactor = Compactor {
            conn: connect(&path)?,
            dir: dir.to_owned(),
            common: common.clone(),
            on_checkpoint,
        };
        let spawn_error = |source| StoreError::Io {
            path: path.display().to_string(),
            source,
        };
        let compactor_thread = std::thread::Builder::new()
            .name("crossmap-compact".into())
            .spawn(move || compactor.run(asked))
            .map_err(spawn_error)?;
        let (tx, rx) = mpsc::channel::<Batch>();
        let thread = WriterThread {
            conn,
            common: common.clone(),
            compactor: ask.clone(),
            next_seq: read.last_seq + 1,
        };
        let thread = std::thread::Builder::new()
            .name("crossmap-log".into())
            .spawn(move || thread.run(rx))
            .map_err(spawn_error)?;
        Ok(Writer {
            tx: Some(tx),
            compactor: ask,
            common,
            thread: Some(thread),
            compactor_thread: Some(compactor_thread),
        })
    }

    /// Queues records to be written in one transaction; the ticket resolves when they are durable.
    pub(crate) fn submit(&self, records: Vec<Record>) -> Result<Ticket, StoreError> {
        self.check_failed()?;
        let (done, wait) = mpsc::sync_channel(1);
        self.tx
            .as_ref()
            .expect("the sender lives until drop")
            .send(Batch { records, done })
            .map_err(|_| StoreError::Unavailable("the log writer stopped".into()))?;
        Ok(Ticket(wait))
    }

    /// Asks for an automatic compaction if the log read on open is already past the threshold.
    pub(crate) fn compact_if_due(&self) {
        if self.common.due() && !self.common.compacting.swap(true, Ordering::AcqRel) {
            let _ = self.compactor.send(Ask::Auto);
        }
    }

    /// Folds every record committed so far into the checkpoint, deletes them from the log and gives back
    /// the space; returns once that is durable. Writers go on meanwhile.
    pub(crate) fn compact(&self) -> Result<Compaction, StoreError> {
        self.check_failed()?;
        let (done, wait) = mpsc::sync_channel(1);
        self.compactor
            .send(Ask::Now(done))
            .map_err(|_| StoreError::Unavailable("the compactor stopped".into()))?;
        wait.recv()
            .map_err(|_| StoreError::Unavailable("the compactor stopped".into()))?
    }

    fn check_failed(&self) -> Result<(), StoreError> {
        match self.common.failure() {
            Some(e) => Err(StoreError::Unavailable(e)),
            None => Ok(()),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // A compaction under way gives up (its file is left half-written and removed at the next open);
        // then closing the channel lets the writer finish what is queued and stop.
        self.common.stop.store(true, Ordering::Release);
        let _ = self.compactor.send(Ask::Stop);
        if let Some(t) = self.compactor_thread.take() {
            let _ = t.join();
        }
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The writer thread's own state.
struct WriterThread {
    conn: Connection,
    common: Arc<Common>,
    compactor: mpsc::Sender<Ask>,
    /// The sequence number of the next record: past every record the log or the checkpoint has seen.
    next_seq: i64,
}

impl WriterThread {
    /// Takes every batch waiting and commits them in one transaction.
    fn run(mut self, rx: mpsc::Receiver<Batch>) {
        while let Ok(first) = rx.recv() {
            let batches: Vec<Batch> = std::iter::once(first).chain(rx.try_iter()).collect();
            self.write_batches(batches);
        }
    }

    fn fail(&self, message: String) -> String {
        tracing::error!(error = %message, "the log could not be written; the store stops accepting writes");
        *self.common.failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(message.clone());
        message
    }

    fn write_batches(&mut self, batches: Vec<Batch>) {
        let result = match self.common.failure() {
            Some(e) => Err(e),
            None => {
                let _held = self.common.gate.lock().unwrap_or_else(|e| e.into_inner());
                write(&mut self.conn, &batches, self.next_seq)
                    .map_err(|e| self.fail(format!("writing the log failed: {e}")))
            }
        };
        if result.is_ok() {
            let written = batches.iter().map(|b| b.records.len() as u64).sum::<u64>();
            self.next_seq += written as i64;
            self.common.log_records.fetch_add(written, Ordering::AcqRel);
            self.ask_if_due();
        }
        tracing::trace!(batches = batches.len(), "log group committed");
        for b in batches {
            let _ = b.done.send(result.clone());
        }
    }

    /// Asks the compactor to run when the log has grown past the threshold and it is not running yet.
    fn ask_if_due(&self) {
        if self.common.due() && !self.common.compacting.swap(true, Ordering::AcqRel) {
            let _ = self.compactor.send(Ask::Auto);
        }
    }
}

/// The compactor thread's own state: a connection that reads the log and deletes what was folded.
struct Compactor {
    conn: Connection,
    dir: std::path::PathBuf,
    common: Arc<Common>,
    on_checkpoint: OnCheckpoint,
}

impl Compactor {
    fn run(self, asked: mpsc::Receiver<Ask>) {
        while let Ok(ask) = asked.recv() {
            match ask {
                Ask::Stop => return,
                Ask::Auto => loop {
                    let result = self.compact(false);
                    self.common.compacting.store(false, Ordering::Release);
                    if let Err(e) = result {
                        tracing::error!(error = %e, "automatic compaction failed");
                        break;
                    }
                    // A write that crossed the threshold while this fold ran found it running and asked
                    // nobody: look again, or its records would wait for the next write.
                    if !self.common.due() || self.common.compacting.swap(true, Ordering::AcqRel) {
                        break;
                    }
                },
                Ask::Now(done) => {
                    let _ = done.send(self.compact(true));
                }
            }
        }
    }

    /// One fold, then what it makes true: memory forgets the removals it dropped, the log the records it
    /// covered.
    fn fold(&self) -> Result<checkpoint::Folded, StoreError> {
        let folded = match checkpoint::fold(&self.dir, &self.conn, &self.common.gate, &self.common.stop)? {
            Ok(folded) => folded,
            Err(checkpoint::Stopped) => {
                return Err(StoreError::Unavailable("the store is closing".into()));
            }
        };
        tracing::debug!(covered = folded.covered, "checkpoint written");
        self.common.checkpoint_rows.store(folded.rows, Ordering::Release);
        self.common.log_records.fetch_sub(folded.records, Ordering::AcqRel);
        (self.on_checkpoint)(&folded.positions);
        checkpoint::drop_covered(&self.conn, &self.common.gate).map_err(database_error)?;
        Ok(folded)
    }

    fn compact(&self, shrink_after: bool) -> Result<Compaction, StoreError> {
        if let Some(e) = self.common.failure() {
            return Err(StoreError::Unavailable(e));
        }
        let start = Instant::now();
        let bytes_before = disk_size(&self.dir);
        // A log set aside by a fold that was cut short is folded on its own first; a compaction asked
        // for then folds what was written since as well, as it promises.
        let leftover = shrink_after && checkpoint::has_old_log(&self.conn).map_err(database_error)?;
        let mut folded = self.fold()?;
        if leftover {
            let again = self.fold()?;
            folded = checkpoint::Folded {
                records: folded.records + again.records,
                ..again
            };
        }
        if shrink_after && let Err(e) = shrink(&self.conn, &self.common.gate) {
            tracing::warn!(error = %e, "the data directory could not be shrunk after compaction");
        }
        let report = Compaction {
            records_removed: folded.records,
            checkpoint_rows: folded.rows,
            bytes_before,
            bytes_after: disk_size(&self.dir),
            elapsed: start.elapsed(),
        };
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

/// The data directory's size: the database, its write-ahead log and the checkpoint, in bytes.
fn disk_size(dir: &Path) -> u64 {
    ["crossmap.sqlite", "crossmap.sqlite-wal", checkpoint::FILE]
        .iter()
        .filter_map(|name| std::fs::metadata(dir.join(name)).ok())
        .map(|m| m.len())
        .sum()
}

/// Gives back the space compaction freed, when it is most of the file: `VACUUM` rewrites the database
/// (atomically, as a transaction), then the write-ahead log is checkpointed and truncated. Writers wait
/// meanwhile: the database then holds only the log after the checkpoint.
fn shrink(conn: &Connection, gate: &Mutex<()>) -> rusqlite::Result<()> {
    let _held = gate.lock().unwrap_or_else(|e| e.into_inner());
    let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
    let free: i64 = conn.pragma_query_value(None, "freelist_count", |r| r.get(0))?;
    if free * 2 > pages {
        conn.execute_batch("VACUUM")?;
    }
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

/// Appends the batches' records in one transaction, numbered from `first`.
fn write(conn: &mut Connection, batches: &[Batch], first: i64) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO log (seq, tenant, kind, token, key, row, crc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for (i, r) in batches.iter().flat_map(|b| &b.records).enumerate() {
            insert.execute(params![
                first + i as i64,
                r.tenant,
                r.kind,
                r.token as i64,
                r.key,
                r.row,
                r.checksum()
            ])?;
        }
    }
    tx.commit()
}

/// What `read_all` hands on, queued for the thread that replays it; tenants by their index in the order
/// they were first seen.
enum Item<T> {
    Tenant(String),
    Position(u32, i64, Position, u64),
    CheckpointRow(u32, T),
    CheckpointDone,
    Record(u32, T),
}

/// A [`Sink`] that makes each record ready and queues everything, in batches, for another thread.
struct Forward<R: Replay> {
    tx: mpsc::SyncSender<Vec<Item<R::Ready>>>,
    batch: Vec<Item<R::Ready>>,
    /// The tenants seen so far, by name; the last one's index is tried first, since records come in runs.
    tenants: std::collections::HashMap<String, u32>,
    last: Option<(String, u32)>,
}

impl<R: Replay> Forward<R> {
    const BATCH: usize = 1024;

    fn push(&mut self, item: Item<R::Ready>) -> Result<(), StoreError> {
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

    /// The index of `tenant`, announced to the other thread when new.
    fn tenant(&mut self, tenant: &str) -> Result<u32, StoreError> {
        if let Some((name, i)) = &self.last
            && name == tenant
        {
            return Ok(*i);
        }
        let i = match self.tenants.get(tenant) {
            Some(i) => *i,
            None => {
                let i = u32::try_from(self.tenants.len()).expect("fewer than 2^32 tenants");
                self.tenants.insert(tenant.to_owned(), i);
                self.push(Item::Tenant(tenant.to_owned()))?;
                i
            }
        };
        self.last = Some((tenant.to_owned(), i));
        Ok(i)
    }
}

impl<R: Replay> Sink for Forward<R> {
    fn position(&mut self, tenant: &str, kind: i64, position: Position, rows: u64) -> Result<(), StoreError> {
        let t = self.tenant(tenant)?;
        self.push(Item::Position(t, kind, position, rows))
    }
    fn checkpoint_row(&mut self, record: RecordRef<'_>) -> Result<(), StoreError> {
        let t = self.tenant(record.tenant)?;
        self.push(Item::CheckpointRow(t, R::ready(record)?))
    }
    fn checkpoint_done(&mut self) -> Result<(), StoreError> {
        self.push(Item::CheckpointDone)
    }
    fn record(&mut self, record: RecordRef<'_>) -> Result<(), StoreError> {
        let t = self.tenant(record.tenant)?;
        self.push(Item::Record(t, R::ready(record)?))
    }
}

/// What reading the data directory found.
struct Read {
    checkpoint_rows: u64,
    log_records: u64,
    /// The highest sequence number the log or the checkpoint has used.
    last_seq: i64,
}

/// [`read_all`] on this thread while `replay` runs on another, so that reading and checking records
/// overlaps with parsing and indexing them: the time to open a large checkpoint.
fn read_all_pipelined<R: Replay + Send>(dir: &Path, conn: &Connection, replay: &mut R) -> Result<Read, StoreError> {
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::sync_channel::<Vec<Item<R::Ready>>>(16);
        let consumer = s.spawn(move || -> Result<(), StoreError> {
            let mut tenants: Vec<String> = Vec::new();
            for item in rx.into_iter().flatten() {
                match item {
                    Item::Tenant(name) => tenants.push(name),
                    Item::Position(t, kind, p, rows) => replay.position(&tenants[t as usize], kind, p, rows)?,
                    Item::CheckpointRow(t, ready) => replay.checkpoint_row(&tenants[t as usize], ready)?,
                    Item::CheckpointDone => replay.checkpoint_done()?,
                    Item::Record(t, ready) => replay.record(&tenants[t as usize], ready)?,
                }
            }
            Ok(())
        });
        let mut forward = Forward::<R> {
            tx,
            batch: Vec::with_capacity(Forward::<R>::BATCH),
            tenants: std::collections::HashMap::new(),
            last: None,
        };
        let read = read_all(dir, conn, &mut forward).and_then(|counts| forward.flush().map(|()| counts));
        drop(forward);
        consumer.join().expect("the replay thread does not panic")?;
        read
    })
}

/// Hands the checkpoint's positions, its rows and then every log record after it in order to `replay`,
/// each checked against its checksum.
fn read_all(dir: &Path, conn: &Connection, replay: &mut impl Sink) -> Result<Read, StoreError> {
    let (covered, checkpoint_rows) = checkpoint::restore(dir, replay)?;
    // A fold cut short (the store closed or crashed during it) leaves the log it set aside: what the
    // checkpoint does not cover of it comes first, read where it is. The next fold folds it before
    // anything else; copying it back into `log` here cost a start about a microsecond per record.
    let tables: &[&str] = if checkpoint::has_old_log(conn).map_err(database_error)? {
        &["log_old", "log"]
    } else {
        &["log"]
    };
    let mut log_records = 0;
    let mut last_seq = covered;
    for table in tables {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT seq, tenant, kind, token, key, row, crc FROM {table} WHERE seq > ?1 ORDER BY seq"
            ))
            .map_err(database_error)?;
        let mut rows = stmt.query(params![last_seq]).map_err(database_error)?;
        while let Some(r) = rows.next().map_err(database_error)? {
            let seq: i64 = r.get(0).map_err(database_error)?;
            // A damaged field can change its type: name the record rather than fail on the column.
            let text = |i: usize| r.get_ref(i).and_then(|v| v.as_str().map_err(rusqlite::Error::from));
            let fields = || -> rusqlite::Result<(RecordRef<'_>, Option<i64>)> {
                Ok((
                    RecordRef {
                        seq,
                        tenant: text(1)?,
                        kind: r.get(2)?,
                        token: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                        key: text(4)?,
                        row: r.get_ref(5)?.as_blob_or_null()?,
                    },
                    r.get(6)?,
                ))
            };
            let (record, crc) =
                fields().map_err(|e| StoreError::Corrupt(format!("log record {seq} cannot be read: {e}")))?;
            replay.record(verify(record, crc)?)?;
            log_records += 1;
            last_seq = seq;
        }
    }
    Ok(Read {
        checkpoint_rows,
        log_records,
        last_seq,
    })
}

fn verify(record: RecordRef<'_>, stored: Option<i64>) -> Result<RecordRef<'_>, StoreError> {
    let computed = checksum(
        record.tenant.as_bytes(),
        record.kind,
        record.token,
        record.key.as_bytes(),
        record.row,
    );
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
            // A version-1 record was never checksummed: its row is checked to decode before the checksum
            // vouches for it, since an open trusts a row whose checksum matches.
            let decodes = match (r.kind, &r.row) {
                (1, Some(row)) => crossmap_model::SharePointUserIdentityMapping::from_compact(row).map(drop),
                (2, Some(row)) => crossmap_model::SharePointGroupIdentityMapping::from_compact(row).map(drop),
                _ => Ok(()),
            };
            decodes.map_err(|e| {
                StoreError::Corrupt(format!("{}: {e}: the version-1 log cannot be upgraded", r.describe()))
            })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_in_one_buffer_equals_the_checksum_field_by_field() {
        // Records on both sides of the buffer's size (a row of 939 bytes fills it here), with and without
        // a row: the same sums as the definition, so logs and checkpoints written before still check.
        for row_len in [0usize, 1, 100, 900, 938, 939, 940, 941, 2000] {
            let row: Vec<u8> = (0..row_len).map(|i| (i * 7 + 3) as u8).collect();
            for row in [None, Some(row.as_slice())] {
                let args = (
                    b"tenant-1".as_slice(),
                    2,
                    12_345_678,
                    b"aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa".as_slice(),
                );
                assert_eq!(
                    checksum(args.0, args.1, args.2, args.3, row),
                    checksum_by_parts(args.0, args.1, args.2, args.3, row),
                    "row of {row_len} bytes ({})",
                    if row.is_some() { "some" } else { "none" }
                );
            }
        }
        // A removal and an empty row differ.
        assert_ne!(checksum(b"t", 1, 1, b"k", None), checksum(b"t", 1, 1, b"k", Some(b"")));
    }
}
