//! What only the durable store promises.

use crate::conformance::{apply_groups, gkey, group};
use crossmap_delta::Mode;
use crossmap_model::SharePointGroupIdentityMapping as Group;
use crossmap_store::{SCHEMA_VERSION, Store, StoreError};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn state_and_feed_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        apply_groups(&store, "t1", json!([group(1), group(2)]), Mode::Atomic).unwrap();
        apply_groups(
            &store,
            "t1",
            json!([{"@removed": {}, "sourceGroupIdentity": {"id": gkey(1).as_str()}}]),
            Mode::Atomic,
        )
        .unwrap();
        apply_groups(&store, "t2", json!([group(3)]), Mode::Atomic).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert!(store.get::<Group>("t1", &gkey(1)).unwrap().is_none());
    assert!(store.get::<Group>("t1", &gkey(2)).unwrap().is_some());
    assert!(store.get::<Group>("t2", &gkey(3)).unwrap().is_some());
    assert_eq!(
        store.latest_token::<Group>("t1").unwrap(),
        3,
        "tokens survive: mirrors keep working"
    );
    assert_eq!(store.changes_since::<Group>("t1", 2, 100).unwrap().changes.len(), 1);
    // And it keeps counting from there.
    apply_groups(&store, "t1", json!([group(4)]), Mode::Atomic).unwrap();
    assert_eq!(store.latest_token::<Group>("t1").unwrap(), 4);
}

/// Two stores on one log would interleave their records: the second open is refused while the first
/// lives, names the directory, and succeeds once the first is dropped.
#[test]
fn a_data_directory_in_use_is_refused_until_its_store_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path()).unwrap();
    apply_groups(&first, "t1", json!([group(1)]), Mode::Atomic).unwrap();
    match Store::open(dir.path()) {
        Err(e @ StoreError::InUse { .. }) => {
            assert!(e.to_string().contains(&dir.path().display().to_string()), "{e}")
        }
        other => panic!("a second store on a directory in use: {other:?}"),
    }
    // The refused open changed nothing: the first store still writes, and a later open sees it all.
    apply_groups(&first, "t1", json!([group(2)]), Mode::Atomic).unwrap();
    drop(first);
    let second = Store::open(dir.path()).unwrap();
    assert!(second.get::<Group>("t1", &gkey(1)).unwrap().is_some());
    assert!(second.get::<Group>("t1", &gkey(2)).unwrap().is_some());
}

#[test]
fn a_clear_is_logged_feeds_removals_and_leaves_other_tenants() {
    use crossmap_model::{Guid, directory::User};
    use crossmap_store::UserFilter;
    let dir = tempfile::tempdir().unwrap();
    let ann = User {
        id: Guid::from_u128(1).into(),
        user_principal_name: "ann@contoso.com".to_owned().into(),
        ..User::default()
    };
    {
        let store = Store::open(dir.path()).unwrap();
        apply_groups(&store, "t1", json!([group(1), group(2)]), Mode::Atomic).unwrap();
        apply_groups(&store, "t2", json!([group(3)]), Mode::Atomic).unwrap();
        store.create_user("t1", ann.clone()).unwrap();
        assert_eq!(store.clear(Some("t1")).unwrap(), 3, "two mappings and a user");
        assert_eq!(store.clear(Some("nobody")).unwrap(), 0);
        // Mirrors see the mappings go.
        let feed = store.changes_since::<Group>("t1", 2, 100).unwrap();
        assert_eq!(feed.changes.len(), 2);
        assert!(
            feed.changes
                .iter()
                .all(|c| matches!(c, crossmap_delta::Change::Remove(_)))
        );
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.count::<Group>("t1").unwrap(), 0);
    assert_eq!(store.count_users("t1", &UserFilter::default()).unwrap(), 0);
    assert_eq!(store.count::<Group>("t2").unwrap(), 1);
    assert_eq!(store.latest_token::<Group>("t1").unwrap(), 4, "the feed counts on");
    // The directory's sequences go on too: the same user can come back.
    store.create_user("t1", ann).unwrap();
    apply_groups(&store, "t1", json!([group(1)]), Mode::Atomic).unwrap();
    assert_eq!(store.clear(None).unwrap(), 3);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert!(store.tenants().iter().all(|t| store.count::<Group>(t).unwrap() == 0));
    assert_eq!(store.count_users("t1", &UserFilter::default()).unwrap(), 0);
}

#[test]
fn a_data_directory_from_a_newer_version_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    bump_schema_version(dir.path());
    let e = Store::open(dir.path()).unwrap_err();
    assert!(
        matches!(e, StoreError::NewerSchema { found, supported } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION)
    );
    assert!(e.to_string().contains("written by a newer crossmap"), "{e}");
}

/// Sets `user_version` one past ours in the SQLite file header (4 bytes, big-endian, at offset 60),
/// as a newer crossmap would have left it.
fn bump_schema_version(dir: &std::path::Path) {
    let path = dir.join("crossmap.sqlite");
    let mut bytes = std::fs::read(&path).unwrap();
    let next = u32::try_from(SCHEMA_VERSION + 1).unwrap().to_be_bytes();
    bytes[60..64].copy_from_slice(&next);
    std::fs::write(&path, bytes).unwrap();
    let _ = std::fs::remove_file(dir.join("crossmap.sqlite-wal"));
}

#[test]
fn corrupt_rows_are_reported_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        apply_groups(&store, "t1", json!([group(1)]), Mode::Atomic).unwrap();
    }
    // The row is found by its bytes in the database files and damaged there.
    let store = Store::open(dir.path()).unwrap();
    let table_row = store.get::<Group>("t1", &gkey(1)).unwrap().unwrap();
    drop(store);
    let row = crossmap_delta::Row::encode(&table_row);
    for name in ["crossmap.sqlite", "crossmap.sqlite-wal"] {
        let path = dir.path().join(name);
        let Ok(mut bytes) = std::fs::read(&path) else { continue };
        if let Some(at) = bytes.windows(row.as_bytes().len()).position(|w| w == row.as_bytes()) {
            bytes[at] = 0xff; // the header varint now says "more bytes follow" with nonsense presence bits
            std::fs::write(&path, bytes).unwrap();
        }
    }
    match Store::open(dir.path()) {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("log record"), "{m}"),
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("a damaged row was accepted"),
    }
}

/// Replaces the first occurrence of `find` in the database files (the main file and the WAL) by what
/// `damage` makes of it; panics if there is none.
fn damage_in_files(dir: &std::path::Path, find: &[u8], damage: impl Fn(&mut [u8])) {
    for name in ["crossmap.sqlite", "crossmap.sqlite-wal"] {
        let path = dir.join(name);
        let Ok(mut bytes) = std::fs::read(&path) else { continue };
        if let Some(at) = bytes.windows(find.len()).position(|w| w == find) {
            damage(&mut bytes[at..at + find.len()]);
            std::fs::write(&path, bytes).unwrap();
            return;
        }
    }
    panic!("the bytes are in neither database file");
}

#[test]
fn one_flipped_bit_in_a_record_stops_the_open_naming_the_record() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        apply_groups(&store, "t1", json!([group(1)]), Mode::Atomic).unwrap();
        apply_groups(&store, "t1", json!([group(2)]), Mode::Atomic).unwrap();
    }
    let stored = Store::open(dir.path())
        .unwrap()
        .get::<Group>("t1", &gkey(2))
        .unwrap()
        .unwrap();
    let row = crossmap_delta::Row::encode(&stored);
    // The row's last bytes are its target id: one bit there still decodes, as another mapping.
    damage_in_files(dir.path(), row.as_bytes(), |bytes| *bytes.last_mut().unwrap() ^= 1);
    match Store::open(dir.path()) {
        Err(StoreError::Corrupt(m)) => {
            assert!(
                m.contains("log record 2 (tenant \"t1\", group mappings, token 2)"),
                "{m}"
            );
            assert!(m.contains("checksum"), "{m}");
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(store) => panic!(
            "a damaged record was served: {:?} became {:?}",
            stored.target_group_identity,
            store
                .get::<Group>("t1", &gkey(2))
                .unwrap()
                .map(|g| g.target_group_identity)
        ),
    }
}

#[test]
fn a_record_missing_from_the_middle_of_the_log_stops_the_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        for n in 1..=3 {
            apply_groups(&store, "t1", json!([group(n)]), Mode::Atomic).unwrap();
        }
        apply_groups(&store, "t2", json!([group(4)]), Mode::Atomic).unwrap();
    }
    let conn = rusqlite::Connection::open(dir.path().join("crossmap.sqlite")).unwrap();
    conn.execute("DELETE FROM log WHERE seq = 2", []).unwrap();
    drop(conn);
    match Store::open(dir.path()) {
        Err(StoreError::Corrupt(m)) => {
            assert!(m.contains("log record 3") && m.contains("missing"), "{m}")
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("a log with a record missing was served"),
    }
}

#[test]
fn a_damaged_database_file_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        apply_groups(&store, "t1", json!([group(1)]), Mode::Atomic).unwrap();
    }
    damage_in_files(dir.path(), b"SQLite format 3\0", |bytes| bytes.fill(b'x'));
    match Store::open(dir.path()) {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("damaged"), "{m}"),
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("a file that is no database was opened"),
    }
}

/// A log exactly as version 1 wrote it, holding one record: group mapping 1 of tenant `t1` as `row`.
fn version_1_log(dir: &Path, row: &[u8]) {
    let conn = rusqlite::Connection::open(dir.join("crossmap.sqlite")).unwrap();
    conn.execute_batch(
        "CREATE TABLE log (seq INTEGER PRIMARY KEY, tenant TEXT NOT NULL, kind INTEGER NOT NULL,
             token INTEGER NOT NULL, key TEXT NOT NULL, row BLOB);
         PRAGMA user_version = 1;",
    )
    .unwrap();
    conn.execute(
        "INSERT INTO log (tenant, kind, token, key, row) VALUES ('t1', 2, 1, ?1, ?2)",
        rusqlite::params![gkey(1).as_str(), row],
    )
    .unwrap();
}

#[test]
fn a_version_1_data_directory_is_upgraded_with_checksums() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = crossmap_delta::canonical::<Group>(0, serde_json::from_value(group(1)).unwrap())
        .unwrap()
        .1;
    version_1_log(dir.path(), crossmap_delta::Row::encode(&mapping).as_bytes());
    {
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.get::<Group>("t1", &gkey(1)).unwrap(), Some(mapping.clone()));
        apply_groups(&store, "t1", json!([group(2)]), Mode::Atomic).unwrap();
    }
    let conn = rusqlite::Connection::open(dir.path().join("crossmap.sqlite")).unwrap();
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let unchecked: i64 = conn
        .query_row("SELECT count(*) FROM log WHERE crc IS NULL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(unchecked, 0, "every record carries a checksum");
    drop(conn);
    // And the upgraded records are checked like new ones.
    let row = crossmap_delta::Row::encode(&mapping);
    damage_in_files(dir.path(), row.as_bytes(), |bytes| *bytes.last_mut().unwrap() ^= 1);
    assert!(matches!(Store::open(dir.path()), Err(StoreError::Corrupt(m)) if m.contains("log record 1")));
}

#[test]
fn a_version_1_row_that_does_not_decode_is_refused_at_the_upgrade_not_vouched_for() {
    // A version-1 record had no checksum; the upgrade gives it one, and an open then trusts rows whose
    // checksum matches without decoding them: a damaged one must stop the upgrade, not pass it.
    let dir = tempfile::tempdir().unwrap();
    version_1_log(dir.path(), &[0xff, 0xff, 0xff]);
    match Store::open(dir.path()) {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("log record 1") && m.contains("version-1"), "{m}"),
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("a row that does not decode was given a checksum"),
    }
    // Nothing was upgraded: the directory is as it was.
    let conn = rusqlite::Connection::open(dir.path().join("crossmap.sqlite")).unwrap();
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(version, 1);
}

/// The child side of the crash test: write one mapping per request forever, printing each key after it
/// is acknowledged. Does nothing unless the parent set the variable.
#[test]
fn crash_child_writer() {
    let Ok(dir) = std::env::var("CROSSMAP_CRASH_DIR") else {
        return;
    };
    let store = Store::open(&dir).unwrap();
    let mut out = std::io::stdout();
    for n in 0u32.. {
        apply_groups(&store, "t1", json!([group(n)]), Mode::Atomic).unwrap();
        use std::io::Write;
        writeln!(out, "ACK {n}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn a_sigkill_during_sustained_writes_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "durable::crash_child_writer",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CROSSMAP_CRASH_DIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut acked = Vec::new();
    let start = Instant::now();
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("ACK ") {
            acked.push(n.parse::<u32>().unwrap());
        }
        if acked.len() >= 200 || start.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    eprintln!("crash test: {} acknowledged writes before SIGKILL", acked.len());
    child.kill().unwrap(); // SIGKILL on Unix: no destructor, no flush
    child.wait().unwrap();
    assert!(acked.len() >= 50, "the child acknowledged only {} writes", acked.len());
    let store = Store::open(dir.path()).unwrap();
    for n in &acked {
        assert!(
            store.get::<Group>("t1", &gkey(*n)).unwrap().is_some(),
            "acknowledged mapping {n} was lost"
        );
    }
}
