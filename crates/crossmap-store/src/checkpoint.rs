//! The checkpoint: each key's latest row and each tenant and kind's feed position, in a file of its own
//! beside the log (`checkpoint`), and the compaction that folds the log into it.
//!
//! Why a file and not a SQLite table: folding the log into a B-tree keyed by random GUIDs is random page
//! writes, done in one transaction that held SQLite's only write lock for about a second while every
//! writer waited. The file is rewritten whole instead, as one sequential stream: the old checkpoint's
//! rows the log leaves alone, then the log's latest record of each key, read from a log set aside
//! (`log_old`) that nobody writes, so writers keep appending to a new `log` meanwhile. It is written to
//! `checkpoint.tmp`, fsynced and renamed over the old one (then the directory fsynced): a crash leaves
//! the old checkpoint or the new one, never a mix. The file names the last log record it covers; an
//! open replays the log after it. The set-aside log is dropped whole afterwards (a crash before that
//! leaves it: the open replays what the checkpoint does not cover of it where it is, and the next fold
//! folds it before anything else).
//!
//! Layout (integers little-endian): a header (magic, format, the covered log sequence number, where the
//! trailer starts, the number of rows, a CRC32C of those), the rows in no particular order, each
//! `tenant index u32, kind u8, token u64, key (u32 length, bytes), row (u32 length, bytes), crc u32` (the
//! log record's own checksum, so rows are copied with it), then the trailer: the tenants' names, and each
//! tenant and kind's position (latest token, horizon, row count) with its own CRC32C.

use crate::StoreError;
use crate::log::{Position, Record, RecordRef, Sink};
use hashbrown::HashTable;
use rusqlite::{Connection, params};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The checkpoint's file name in the data directory.
pub(crate) const FILE: &str = "checkpoint";
/// Where a checkpoint is written before it replaces the old one.
const TMP: &str = "checkpoint.tmp";
const MAGIC: &[u8; 8] = b"XMAPCKPT";
const FORMAT: u32 = 1;
const HEADER: usize = 8 + 4 + 8 + 8 + 8 + 4;
/// Buffer for reading and writing the file: large sequential transfers.
const BUFFER: usize = 1 << 20;
/// How much of a new checkpoint is written before it is flushed to disk.
const SYNC_EVERY: u64 = 8 << 20;

/// What a checkpoint file says before its rows: the log it covers and the positions.
#[derive(Debug, Default)]
pub(crate) struct Head {
    /// The last log record (sequence number) the checkpoint covers; 0 for none.
    pub(crate) covered: i64,
    /// Rows in the file.
    pub(crate) rows: u64,
    tenants: Vec<String>,
    /// By (tenant index, kind): the position and the row count.
    positions: BTreeMap<(u32, i64), (Position, u64)>,
}

impl Head {
    /// Each tenant and kind with its position and row count.
    pub(crate) fn positions(&self) -> impl Iterator<Item = (&str, i64, Position, u64)> {
        self.positions
            .iter()
            .map(|((t, kind), (p, rows))| (self.tenants[*t as usize].as_str(), *kind, *p, *rows))
    }
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("the checkpoint file {what}"))
}

fn io(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A checkpoint file open for reading: its head read, its rows next.
pub(crate) struct Reader {
    head: Head,
    input: BufReader<File>,
    left: u64,
    path: PathBuf,
    /// The current row, as read: its fixed fields, then key and row.
    frame: Frame,
}

/// One row of the file, read into a buffer that is reused row after row.
#[derive(Default)]
pub(crate) struct Frame {
    pub(crate) tenant: u32,
    pub(crate) kind: i64,
    pub(crate) token: u64,
    pub(crate) crc: u32,
    key_len: usize,
    bytes: Vec<u8>,
}

impl Frame {
    pub(crate) fn key(&self) -> &[u8] {
        &self.bytes[..self.key_len]
    }

    pub(crate) fn row(&self) -> &[u8] {
        &self.bytes[self.key_len..]
    }
}

impl Reader {
    /// Opens the data directory's checkpoint, if it has one, and reads its header and trailer.
    pub(crate) fn open(dir: &Path) -> Result<Option<Reader>, StoreError> {
        let path = dir.join(FILE);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path, e)),
        };
        let mut header = [0u8; HEADER];
        file.read_exact(&mut header)
            .map_err(|e| corrupt(format_args!("has no complete header: {e}")))?;
        let crc = u32::from_le_bytes(header[HEADER - 4..].try_into().expect("4 bytes"));
        if &header[..8] != MAGIC || crc32c::crc32c(&header[..HEADER - 4]) != crc {
            return Err(corrupt("header is damaged"));
        }
        let mut at = 8;
        let format = u32::from_le_bytes(take(&header, &mut at));
        if format != FORMAT {
            return Err(corrupt(format_args!("is of an unknown format ({format})")));
        }
        let covered = i64::from_le_bytes(take(&header, &mut at));
        let trailer_at = u64::from_le_bytes(take(&header, &mut at));
        let rows = u64::from_le_bytes(take(&header, &mut at));
        file.seek(SeekFrom::Start(trailer_at)).map_err(|e| io(&path, e))?;
        let mut trailer = Vec::new();
        file.read_to_end(&mut trailer).map_err(|e| io(&path, e))?;
        let mut head = Head {
            covered,
            rows,
            ..Head::default()
        };
        read_trailer(&trailer, &mut head).map_err(|what| corrupt(format_args!("trailer {what}")))?;
        file.seek(SeekFrom::Start(HEADER as u64)).map_err(|e| io(&path, e))?;
        Ok(Some(Reader {
            head,
            input: BufReader::with_capacity(BUFFER, file),
            left: rows,
            path,
            frame: Frame::default(),
        }))
    }

    /// The header and trailer.
    pub(crate) fn head(&self) -> &Head {
        &self.head
    }

    /// Reads the next row, checked against its checksum, into the reader's frame; none after the last.
    pub(crate) fn next_frame(&mut self) -> Result<Option<&Frame>, StoreError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let input = &mut self.input;
        let path = &self.path;
        let truncated = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => corrupt("ends before its last row"),
            std::io::ErrorKind::InvalidData => corrupt("holds a length beyond any row"),
            _ => io(path, e),
        };
        let mut fixed = [0u8; 4 + 1 + 8 + 4];
        input.read_exact(&mut fixed).map_err(truncated)?;
        let mut at = 0;
        let frame = &mut self.frame;
        frame.tenant = u32::from_le_bytes(take(&fixed, &mut at));
        frame.kind = i64::from(fixed[4]);
        at += 1;
        frame.token = u64::from_le_bytes(take(&fixed, &mut at));
        frame.key_len = u32::from_le_bytes(take(&fixed, &mut at)) as usize;
        read_into(input, &mut frame.bytes, 0, frame.key_len).map_err(truncated)?;
        let mut len = [0u8; 4];
        input.read_exact(&mut len).map_err(truncated)?;
        read_into(input, &mut frame.bytes, frame.key_len, u32::from_le_bytes(len) as usize).map_err(truncated)?;
        let mut crc = [0u8; 4];
        input.read_exact(&mut crc).map_err(truncated)?;
        frame.crc = u32::from_le_bytes(crc);
        let Some(tenant) = self.head.tenants.get(frame.tenant as usize) else {
            return Err(corrupt(format_args!(
                "names tenant {}, which it does not hold",
                frame.tenant
            )));
        };
        let computed = crate::log::checksum(
            tenant.as_bytes(),
            frame.kind,
            frame.token,
            frame.key(),
            Some(frame.row()),
        );
        if computed != frame.crc {
            return Err(StoreError::Corrupt(format!(
                "{} fails its checksum (stored {:#010x}, computed {computed:#010x}): the file was changed \
                 after it was written",
                crate::log::describe(0, tenant, frame.kind, frame.token),
                frame.crc
            )));
        }
        Ok(Some(&self.frame))
    }

    /// The next row, borrowed from the reader's buffer; none after the last.
    pub(crate) fn next_row(&mut self) -> Result<Option<RecordRef<'_>>, StoreError> {
        if self.next_frame()?.is_none() {
            return Ok(None);
        }
        let frame = &self.frame;
        let key = std::str::from_utf8(frame.key()).map_err(|_| corrupt("holds a key that is not UTF-8"))?;
        Ok(Some(RecordRef {
            seq: 0,
            tenant: &self.head.tenants[frame.tenant as usize],
            kind: frame.kind,
            token: frame.token,
            key,
            row: Some(frame.row()),
        }))
    }
}

/// Reads `len` bytes into `buf` from `at` on (cutting it there), refusing lengths beyond what a row can
/// be rather than allocating them.
fn read_into(input: &mut impl Read, buf: &mut Vec<u8>, at: usize, len: usize) -> std::io::Result<()> {
    if len > 64 << 20 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "a length beyond any row",
        ));
    }
    buf.resize(at + len, 0);
    input.read_exact(&mut buf[at..])
}

fn take<const N: usize>(bytes: &[u8], at: &mut usize) -> [u8; N] {
    let out = bytes[*at..*at + N].try_into().expect("N bytes");
    *at += N;
    out
}

fn read_trailer(bytes: &[u8], head: &mut Head) -> Result<(), String> {
    let mut at = 0;
    let mut next = |n: usize| -> Result<&[u8], String> {
        let out = bytes.get(at..at + n).ok_or("is cut short")?;
        at += n;
        Ok(out)
    };
    let u32_ = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes"));
    let u64_ = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
    let tenants = u32_(next(4)?);
    for _ in 0..tenants {
        let len = u32_(next(4)?) as usize;
        let name = std::str::from_utf8(next(len)?).map_err(|_| "holds a tenant name that is not UTF-8")?;
        head.tenants.push(name.to_owned());
    }
    let positions = u32_(next(4)?);
    for _ in 0..positions {
        let tenant = u32_(next(4)?);
        let kind = i64::from(next(1)?[0]);
        let latest = u64_(next(8)?);
        let horizon = u64_(next(8)?);
        let rows = u64_(next(8)?);
        let crc = u32_(next(4)?);
        let name = head
            .tenants
            .get(tenant as usize)
            .ok_or("names a tenant it does not hold")?;
        if position_checksum(name, kind, latest, horizon, rows) != crc || horizon > latest {
            return Err(format!(
                "holds the checkpoint position of tenant {name:?}, kind {kind}, which fails its checksum"
            ));
        }
        head.positions
            .insert((tenant, kind), (Position { latest, horizon }, rows));
    }
    Ok(())
}

fn position_checksum(tenant: &str, kind: i64, latest: u64, horizon: u64, rows: u64) -> u32 {
    let mut crc = 0;
    let mut add = |bytes: &[u8]| crc = crc32c::crc32c_append(crc, bytes);
    add(&(tenant.len() as u64).to_le_bytes());
    add(tenant.as_bytes());
    add(&kind.to_le_bytes());
    add(&latest.to_le_bytes());
    add(&horizon.to_le_bytes());
    add(&rows.to_le_bytes());
    crc
}

/// Hands a checkpoint's positions, then its rows, to `replay`; returns what it covers and how many rows
/// it holds (none without a checkpoint file).
pub(crate) fn restore(dir: &Path, replay: &mut impl Sink) -> Result<(i64, u64), StoreError> {
    let Some(mut reader) = Reader::open(dir)? else {
        replay.checkpoint_done()?;
        return Ok((0, 0));
    };
    for (tenant, kind, position, rows) in reader.head().positions() {
        replay.position(tenant, kind, position, rows)?;
    }
    let (covered, rows) = (reader.head().covered, reader.head().rows);
    while let Some(record) = reader.next_row()? {
        replay.checkpoint_row(record)?;
    }
    replay.checkpoint_done()?;
    Ok((covered, rows))
}

/// A checkpoint being written to `checkpoint.tmp`.
struct Output {
    out: BufWriter<File>,
    tmp: PathBuf,
    tenants: Vec<String>,
    tenant_index: HashMap<String, u32>,
    positions: BTreeMap<(u32, i64), (Position, u64)>,
    rows: u64,
    written: u64,
}

impl Output {
    fn create(dir: &Path) -> Result<Output, StoreError> {
        let tmp = dir.join(TMP);
        let file = File::create(&tmp).map_err(|e| io(&tmp, e))?;
        let mut out = BufWriter::with_capacity(BUFFER, file);
        out.write_all(&[0u8; HEADER]).map_err(|e| io(&tmp, e))?;
        Ok(Output {
            out,
            tmp,
            tenants: Vec::new(),
            tenant_index: HashMap::new(),
            positions: BTreeMap::new(),
            rows: 0,
            written: HEADER as u64,
        })
    }

    /// The index of `tenant`, added when new.
    fn tenant(&mut self, tenant: &str) -> u32 {
        if let Some(i) = self.tenant_index.get(tenant) {
            return *i;
        }
        let i = self.tenants.len() as u32;
        self.tenants.push(tenant.to_owned());
        self.tenant_index.insert(tenant.to_owned(), i);
        i
    }

    fn position(&mut self, tenant: u32, kind: i64) -> &mut (Position, u64) {
        self.positions
            .entry((tenant, kind))
            .or_insert((Position { latest: 0, horizon: 0 }, 0))
    }

    /// Writes a row of tenant `tenant` (an index from [`Output::tenant`]) with its checksum.
    fn row(&mut self, tenant: u32, kind: i64, token: u64, key: &[u8], row: &[u8], crc: u32) -> Result<(), StoreError> {
        let kind_byte = u8::try_from(kind).map_err(|_| {
            StoreError::Corrupt(format!(
                "a record of tenant {:?} is of no known kind ({kind})",
                self.tenants[tenant as usize]
            ))
        })?;
        let mut fixed = [0u8; 4 + 1 + 8 + 4];
        fixed[..4].copy_from_slice(&tenant.to_le_bytes());
        fixed[4] = kind_byte;
        fixed[5..13].copy_from_slice(&token.to_le_bytes());
        fixed[13..].copy_from_slice(&(key.len() as u32).to_le_bytes());
        let write = |out: &mut BufWriter<File>| -> std::io::Result<()> {
            out.write_all(&fixed)?;
            out.write_all(key)?;
            out.write_all(&(row.len() as u32).to_le_bytes())?;
            out.write_all(row)?;
            out.write_all(&crc.to_le_bytes())
        };
        write(&mut self.out).map_err(|e| io(&self.tmp, e))?;
        let before = self.written;
        self.written += (fixed.len() + key.len() + 4 + row.len() + 4) as u64;
        if before / SYNC_EVERY != self.written / SYNC_EVERY {
            // Written back as it goes: one fsync of the whole file at the end would hold the log's own
            // fsyncs behind it (the file system commits them together).
            let flushed = self.out.flush().and_then(|()| self.out.get_ref().sync_data());
            flushed.map_err(|e| io(&self.tmp, e))?;
        }
        self.rows += 1;
        self.position(tenant, kind).1 += 1;
        Ok(())
    }

    /// Writes the trailer and header, makes the file durable and puts it in place of the old checkpoint.
    fn finish(mut self, covered: i64) -> Result<u64, StoreError> {
        let mut trailer = Vec::new();
        trailer.extend((self.tenants.len() as u32).to_le_bytes());
        for t in &self.tenants {
            trailer.extend((t.len() as u32).to_le_bytes());
            trailer.extend(t.as_bytes());
        }
        trailer.extend((self.positions.len() as u32).to_le_bytes());
        for ((t, kind), (p, rows)) in &self.positions {
            let name = &self.tenants[*t as usize];
            trailer.extend(t.to_le_bytes());
            trailer.push(*kind as u8);
            trailer.extend(p.latest.to_le_bytes());
            trailer.extend(p.horizon.to_le_bytes());
            trailer.extend(rows.to_le_bytes());
            trailer.extend(position_checksum(name, *kind, p.latest, p.horizon, *rows).to_le_bytes());
        }
        let mut header = Vec::with_capacity(HEADER);
        header.extend(MAGIC);
        header.extend(FORMAT.to_le_bytes());
        header.extend(covered.to_le_bytes());
        header.extend(self.written.to_le_bytes());
        header.extend(self.rows.to_le_bytes());
        header.extend(crc32c::crc32c(&header).to_le_bytes());
        let tmp = self.tmp.clone();
        let done = || -> std::io::Result<File> {
            self.out.write_all(&trailer)?;
            let mut file = self.out.into_inner().map_err(|e| e.into_error())?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(&header)?;
            file.sync_all()?;
            Ok(file)
        };
        drop(done().map_err(|e| io(&tmp, e))?);
        let dir = tmp.parent().expect("in the data directory");
        std::fs::rename(&tmp, dir.join(FILE)).map_err(|e| io(&tmp, e))?;
        // The rename is durable only once the directory is: before the covered log records go.
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io(dir, e))?;
        Ok(self.rows)
    }
}

/// What folding the log into the checkpoint did.
#[derive(Debug, Default)]
pub(crate) struct Folded {
    /// The last log record now covered.
    pub(crate) covered: i64,
    /// Log records folded in.
    pub(crate) records: u64,
    /// Rows in the new checkpoint.
    pub(crate) rows: u64,
    /// Each tenant and kind the folded records touched: the last token covered, and the horizon.
    pub(crate) positions: Vec<(String, i64, u64, u64)>,
}

/// The compaction was abandoned because the store is closing.
pub(crate) struct Stopped;

/// A log record as the first pass keeps it: where its key is in the arena, its token, and whether it is
/// a removal.
struct Seen {
    tenant: u32,
    kind: u8,
    key: (u32, u32),
    token: u64,
    removal: bool,
}

/// Folds every log record committed so far into a new checkpoint file, reading the log on `conn` (which
/// writes nothing: writers go on meanwhile). Three sequential passes, no sort: the records' keys (which
/// record is each key's latest), the old checkpoint's rows whose key the log does not touch, then the
/// log's latest record of each key. Checks `stop` as it goes. Deleting the covered records is the
/// caller's ([`drop_covered`]).
///
/// First the log is set aside, under `gate` (between two of the writer's transactions): `log` becomes
/// `log_old` and a new, empty `log` takes the writes, so that the fold reads a table nobody writes and
/// the covered records go with one `DROP TABLE` rather than row by row. A `log_old` left by a fold that
/// failed is folded first, before anything is set aside.
pub(crate) fn fold(
    dir: &Path,
    conn: &Connection,
    gate: &std::sync::Mutex<()>,
    stop: &AtomicBool,
) -> Result<Result<Folded, Stopped>, StoreError> {
    let db = crate::log::database_error;
    if !has_old_log(conn).map_err(db)? {
        let _held = gate.lock().unwrap_or_else(|e| e.into_inner());
        conn.execute_batch(&format!(
            "BEGIN; ALTER TABLE log RENAME TO log_old; {}; COMMIT;",
            crate::log::CREATE_LOG
        ))
        .map_err(db)?;
    }
    let mut old = Reader::open(dir)?;
    let from = old.as_ref().map_or(0, |r| r.head().covered);
    let upto: Option<i64> = conn
        .query_row("SELECT max(seq) FROM log_old", [], |r| r.get(0))
        .map_err(db)?;
    let upto = upto.unwrap_or(0);
    if upto <= from {
        return Ok(Ok(Folded {
            covered: from,
            rows: old.as_ref().map_or(0, |r| r.head().rows),
            ..Folded::default()
        }));
    }
    let stopped = |n: usize| n.is_multiple_of(65_536) && stop.load(Ordering::Relaxed);
    let mut output = Output::create(dir)?;
    let give_up = |output: Output| {
        drop(output);
        let _ = std::fs::remove_file(dir.join(TMP));
        Ok(Err(Stopped))
    };
    // Positions as they were; the log moves some.
    if let Some(old) = &old {
        for (tenant, kind, p, _) in old.head().positions() {
            let t = output.tenant(tenant);
            output.position(t, kind).0 = p;
        }
    }
    let unreadable = |e: rusqlite::Error| StoreError::Corrupt(format!("a log record cannot be read: {e}"));

    // 1. Each record's key (into one arena), token and whether it removes. Sized exactly up front: a
    // fold runs beside a full store, and growth by doubling would hold up to twice as much.
    let (count, key_bytes): (i64, i64) = conn
        .query_row(
            "SELECT count(*), coalesce(sum(length(CAST(key AS BLOB))), 0) FROM log_old WHERE seq > ?1 AND seq <= ?2",
            params![from, upto],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(db)?;
    let mut arena: Vec<u8> = Vec::with_capacity(usize::try_from(key_bytes).unwrap_or(0));
    let mut seen: Vec<Seen> = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    {
        let mut stmt = conn
            .prepare(
                "SELECT tenant, kind, key, token, row IS NULL FROM log_old WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
            )
            .map_err(db)?;
        let mut rows = stmt.query(params![from, upto]).map_err(db)?;
        while let Some(r) = rows.next().map_err(db)? {
            if stopped(seen.len()) {
                return give_up(output);
            }
            let tenant = output.tenant(r.get_ref(0).and_then(|v| Ok(v.as_str()?)).map_err(unreadable)?);
            let key = r.get_ref(2).and_then(|v| Ok(v.as_bytes()?)).map_err(unreadable)?;
            let at = arena.len() as u32;
            arena.extend_from_slice(key);
            let kind: i64 = r.get(1).map_err(unreadable)?;
            seen.push(Seen {
                tenant,
                kind: u8::try_from(kind)
                    .map_err(|_| StoreError::Corrupt(format!("a log record is of no known kind ({kind})")))?,
                key: (at, key.len() as u32),
                token: u64::try_from(r.get::<_, i64>(3).map_err(unreadable)?).unwrap_or(0),
                removal: r.get(4).map_err(unreadable)?,
            });
        }
    }
    // Each key's latest record: a table of indices into `seen` (4 bytes each), its keys in the arena.
    let key_of = |s: &Seen| &arena[s.key.0 as usize..(s.key.0 + s.key.1) as usize];
    let hash = |tenant: u32, kind: u8, key: &[u8]| {
        let mut h = rustc_hash::FxHasher::default();
        (tenant, kind, key).hash(&mut h);
        h.finish()
    };
    let mut latest: HashTable<u32> = HashTable::with_capacity(seen.len());
    for (i, s) in seen.iter().enumerate() {
        let h = hash(s.tenant, s.kind, key_of(s));
        let same = |j: &u32| {
            let t = &seen[*j as usize];
            t.tenant == s.tenant && t.kind == s.kind && key_of(t) == key_of(s)
        };
        match latest.find_mut(h, same) {
            Some(j) => *j = i as u32,
            None => {
                latest.insert_unique(h, i as u32, |j| {
                    let t = &seen[*j as usize];
                    hash(t.tenant, t.kind, key_of(t))
                });
            }
        }
        let position = &mut output.position(s.tenant, i64::from(s.kind)).0;
        position.latest = position.latest.max(s.token);
    }
    let mut is_latest = vec![false; seen.len()];
    for &i in latest.iter() {
        is_latest[i as usize] = true;
        let s = &seen[i as usize];
        if s.removal {
            // A removal is dropped: tokens before it can no longer be served.
            let position = &mut output.position(s.tenant, i64::from(s.kind)).0;
            position.horizon = position.horizon.max(s.token);
        }
    }

    // 2. The old checkpoint's rows whose key the log leaves alone.
    if let Some(reader) = &mut old {
        let tenants: Vec<u32> = reader.head().tenants.clone().iter().map(|t| output.tenant(t)).collect();
        let mut n = 0;
        while let Some(frame) = reader.next_frame()? {
            n += 1;
            if stopped(n) {
                return give_up(output);
            }
            let tenant = tenants[frame.tenant as usize];
            let kind = frame.kind as u8; // read from one byte
            let touched = latest
                .find(hash(tenant, kind, frame.key()), |j| {
                    let t = &seen[*j as usize];
                    t.tenant == tenant && t.kind == kind && key_of(t) == frame.key()
                })
                .is_some();
            if !touched {
                output.row(tenant, frame.kind, frame.token, frame.key(), frame.row(), frame.crc)?;
            }
        }
    }
    drop(latest);
    drop(arena);

    // 3. The log's latest record of each key, unless a removal.
    {
        let mut stmt = conn
            .prepare("SELECT key, token, row, crc FROM log_old WHERE seq > ?1 AND seq <= ?2 ORDER BY seq")
            .map_err(db)?;
        let mut rows = stmt.query(params![from, upto]).map_err(db)?;
        let mut i = 0;
        while let Some(r) = rows.next().map_err(db)? {
            if stopped(i + 1) {
                return give_up(output);
            }
            let s = seen
                .get(i)
                .ok_or_else(|| StoreError::Corrupt("the log changed under compaction".into()))?;
            if is_latest[i] && !s.removal {
                let key = r.get_ref(0).and_then(|v| Ok(v.as_bytes()?)).map_err(unreadable)?;
                let row = r.get_ref(2).and_then(|v| Ok(v.as_blob()?)).map_err(unreadable)?;
                let crc: i64 = r.get(3).map_err(unreadable)?;
                output.row(s.tenant, i64::from(s.kind), s.token, key, row, crc as u32)?;
            }
            i += 1;
        }
    }
    let mut touched: Vec<(u32, i64)> = seen.iter().map(|s| (s.tenant, i64::from(s.kind))).collect();
    touched.sort_unstable();
    touched.dedup();
    let positions = touched
        .into_iter()
        .map(|(t, kind)| {
            let p = output.position(t, kind).0;
            (output.tenants[t as usize].clone(), kind, p.latest, p.horizon)
        })
        .collect();
    let records = seen.len() as u64;
    let rows = output.finish(upto)?;
    Ok(Ok(Folded {
        covered: upto,
        records,
        rows,
        positions,
    }))
}

/// Whether a log set aside by [`fold`] is still there.
pub(crate) fn has_old_log(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'log_old'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// Drops the log [`fold`] set aside, once the checkpoint covering it is durable: one short transaction
/// under `gate` (its pages go to the free list, reused by the log's next records).
pub(crate) fn drop_covered(conn: &Connection, gate: &std::sync::Mutex<()>) -> rusqlite::Result<()> {
    let _held = gate.lock().unwrap_or_else(|e| e.into_inner());
    conn.execute_batch("DROP TABLE IF EXISTS log_old")
}

/// Writes the checkpoint of a version-3 database (its `checkpoint` and `position` tables) as a file that
/// covers no log record, for the upgrade to version 4.
pub(crate) fn from_tables(dir: &Path, conn: &Connection) -> Result<u64, StoreError> {
    let mut output = Output::create(dir)?;
    {
        let mut stmt = conn
            .prepare("SELECT tenant, kind, latest, horizon, crc FROM position ORDER BY tenant, kind")
            .map_err(crate::log::database_error)?;
        let mut rows = stmt.query([]).map_err(crate::log::database_error)?;
        while let Some(r) = rows.next().map_err(crate::log::database_error)? {
            let read = || -> rusqlite::Result<(String, i64, i64, i64, i64)> {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            };
            let (tenant, kind, latest, horizon, crc) =
                read().map_err(|e| StoreError::Corrupt(format!("a checkpoint position cannot be read: {e}")))?;
            if i64::from(v3_position_checksum(&tenant, kind, latest as u64, horizon as u64)) != crc || horizon > latest
            {
                return Err(StoreError::Corrupt(format!(
                    "the checkpoint position of tenant {tenant:?}, kind {kind} fails its checksum"
                )));
            }
            let t = output.tenant(&tenant);
            output.position(t, kind).0 = Position {
                latest: latest as u64,
                horizon: horizon as u64,
            };
        }
    }
    {
        let mut stmt = conn
            .prepare("SELECT tenant, kind, key, token, row, crc FROM checkpoint ORDER BY tenant, kind, key")
            .map_err(crate::log::database_error)?;
        let mut rows = stmt.query([]).map_err(crate::log::database_error)?;
        while let Some(r) = rows.next().map_err(crate::log::database_error)? {
            let read = || -> rusqlite::Result<(Record, i64)> {
                Ok((
                    Record {
                        seq: 0,
                        tenant: r.get(0)?,
                        kind: r.get(1)?,
                        key: r.get(2)?,
                        token: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                        row: Some(r.get(4)?),
                    },
                    r.get(5)?,
                ))
            };
            let (record, crc) =
                read().map_err(|e| StoreError::Corrupt(format!("a checkpoint row cannot be read: {e}")))?;
            let t = output.tenant(&record.tenant);
            let row = record.row.as_deref().unwrap_or_default();
            output.row(t, record.kind, record.token, record.key.as_bytes(), row, crc as u32)?;
        }
    }
    output.finish(0)
}

/// A version-3 position's checksum: its tenant, kind, latest token and horizon.
fn v3_position_checksum(tenant: &str, kind: i64, latest: u64, horizon: u64) -> u32 {
    let mut crc = 0;
    let mut add = |bytes: &[u8]| crc = crc32c::crc32c_append(crc, bytes);
    add(&(tenant.len() as u64).to_le_bytes());
    add(tenant.as_bytes());
    add(&kind.to_le_bytes());
    add(&latest.to_le_bytes());
    add(&horizon.to_le_bytes());
    crc
}

/// Removes a checkpoint left half-written by a crash.
pub(crate) fn remove_leftover(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(TMP));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use crossmap_delta::Row;
    use crossmap_model::{GroupKey, Guid, Identity, SharePointGroupIdentityMapping as Group};

    fn key(n: u32) -> GroupKey {
        GroupKey::parse(&format!("00000000-0000-0000-0000-{n:012}")).unwrap()
    }

    fn group(n: u32, target: u128) -> Group {
        Group {
            source_organization_id: Guid::from_u128(1).into(),
            source_group_identity: Identity {
                id: key(n).as_str().to_owned().into(),
                ..Identity::default()
            }
            .into(),
            target_group_identity: Identity {
                id: Guid::from_u128(target).to_string().into(),
                ..Identity::default()
            }
            .into(),
            ..Group::default()
        }
    }

    fn record(seq: i64, token: u64, n: u32, target: u128) -> Record {
        Record {
            seq,
            tenant: "t1".into(),
            kind: 2,
            token,
            key: key(n).as_str().to_owned(),
            row: Some(Row::encode(&group(n, target)).as_bytes().to_vec()),
        }
    }

    /// A data directory as version 3 left it: the checkpoint (keys 1 and 2, latest token 3, horizon 3)
    /// in tables, and one log record after it (token 4).
    fn version_3(dir: &Path) {
        let conn = Connection::open(dir.join("crossmap.sqlite")).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE log (seq INTEGER PRIMARY KEY, tenant TEXT NOT NULL, kind INTEGER NOT NULL,
                 token INTEGER NOT NULL, key TEXT NOT NULL, row BLOB, crc INTEGER);
             CREATE TABLE checkpoint (tenant TEXT NOT NULL, kind INTEGER NOT NULL, key TEXT NOT NULL,
                 token INTEGER NOT NULL, row BLOB NOT NULL, crc INTEGER NOT NULL,
                 PRIMARY KEY (tenant, kind, key)) WITHOUT ROWID;
             CREATE TABLE position (tenant TEXT NOT NULL, kind INTEGER NOT NULL, latest INTEGER NOT NULL,
                 horizon INTEGER NOT NULL, crc INTEGER NOT NULL, PRIMARY KEY (tenant, kind)) WITHOUT ROWID;
             PRAGMA user_version = 3;",
        )
        .unwrap();
        for r in [record(0, 1, 1, 10), record(0, 2, 2, 20)] {
            conn.execute(
                "INSERT INTO checkpoint VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![r.tenant, r.kind, r.key, r.token as i64, r.row, r.checksum()],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO position VALUES ('t1', 2, 3, 3, ?1)",
            params![v3_position_checksum("t1", 2, 3, 3)],
        )
        .unwrap();
        // Version 3 emptied the log as it checkpointed, so its numbering started again at 1.
        let r = record(1, 4, 1, 11);
        conn.execute(
            "INSERT INTO log VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)",
            params![r.tenant, r.kind, r.token as i64, r.key, r.row, r.checksum()],
        )
        .unwrap();
    }

    #[test]
    fn a_version_3_data_directory_is_upgraded_to_a_checkpoint_file() {
        let dir = tempfile::tempdir().unwrap();
        version_3(dir.path());
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.get::<Group>("t1", &key(1)).unwrap(), Some(group(1, 11)));
        assert_eq!(store.get::<Group>("t1", &key(2)).unwrap(), Some(group(2, 20)));
        assert_eq!(store.latest_token::<Group>("t1").unwrap(), 4);
        assert!(matches!(
            store.changes_since::<Group>("t1", 2, 10),
            Err(crate::StoreError::Feed(crossmap_delta::FeedError::Resync {
                horizon: 3,
                ..
            }))
        ));
        drop(store);
        let conn = Connection::open(dir.path().join("crossmap.sqlite")).unwrap();
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, crate::SCHEMA_VERSION);
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name IN ('checkpoint', 'position')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0, "the tables are gone");
        drop(conn);
        // Reopened from the file, and a compaction folds the old log into it.
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.latest_token::<Group>("t1").unwrap(), 4);
        let report = store.compact().unwrap();
        assert_eq!((report.records_removed, report.checkpoint_rows), (1, 2));
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.get::<Group>("t1", &key(1)).unwrap(), Some(group(1, 11)));
        assert_eq!(store.latest_token::<Group>("t1").unwrap(), 4);
    }

    #[test]
    fn a_version_3_position_that_fails_its_checksum_stops_the_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        version_3(dir.path());
        let conn = Connection::open(dir.path().join("crossmap.sqlite")).unwrap();
        conn.execute("UPDATE position SET latest = 5", []).unwrap();
        drop(conn);
        let e = Store::open(dir.path()).unwrap_err();
        assert!(e.to_string().contains("checkpoint position of tenant \"t1\""), "{e}");
    }

    #[test]
    fn a_fold_keeps_each_keys_latest_row_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), crate::StoreOptions::default().auto_compact(None)).unwrap();
        let put = |n: u32, target: u128| {
            let request = crossmap_delta::ParsedRequest {
                context: Some("#$delta".into()),
                items: vec![Ok(crossmap_model::DeltaItem::Upsert(group(n, target)))],
            };
            store
                .apply::<Group>("t1", request, crossmap_delta::Mode::Atomic)
                .unwrap();
        };
        for n in [5, 3, 9] {
            put(n, 1);
        }
        store.compact().unwrap();
        for n in [4, 9, 1] {
            put(n, 2);
        }
        store.compact().unwrap();
        let mut reader = Reader::open(dir.path()).unwrap().unwrap();
        let mut rows = Vec::new();
        while let Some(r) = reader.next_row().unwrap() {
            rows.push((r.key.to_owned(), r.token));
        }
        rows.sort();
        let expected: Vec<(String, u64)> = [(1, 6), (3, 2), (4, 4), (5, 1), (9, 5)]
            .into_iter()
            .map(|(n, t)| (key(n).as_str().to_owned(), t))
            .collect();
        assert_eq!(rows, expected);
    }
}
