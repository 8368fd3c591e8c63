//! Compaction: the checkpoint keeps every mapping and directory object and the feed's continuity, tokens
//! from before a removal it dropped get `Resync`, and the store reopens from it.

use crate::conformance::{apply_groups, gkey, group};
use crossmap_delta::{FeedError, MappingTable, MemoryTable, Mode, replay};
use crossmap_model::{Guid, SharePointGroupIdentityMapping as Group, directory::User};
use crossmap_store::{AutoCompact, Store, StoreError, StoreOptions, UserFilter};
use serde_json::json;
use std::path::Path;

fn manual(dir: &Path) -> Store {
    Store::open_with(dir, StoreOptions::default().auto_compact(None)).unwrap()
}

/// Every group mapping of `tenant`, by key, in key order.
fn groups(store: &Store, tenant: &str) -> Vec<(String, Group)> {
    let page = store.page::<Group>(tenant, None, usize::MAX).unwrap();
    page.mappings
        .into_iter()
        .map(|g| {
            (
                g.source_group_identity.value().unwrap().id.value().unwrap().to_string(),
                g,
            )
        })
        .collect()
}

/// A mirror at `token` brought up to date through the feed, in pages of 3.
fn catch_up(store: &Store, tenant: &str, mirror: &mut MemoryTable<Group>, mut token: u64) -> Result<u64, StoreError> {
    loop {
        let page = store.changes_since::<Group>(tenant, token, 3)?;
        replay(mirror, &page.changes);
        token = page.token;
        if !page.more {
            return Ok(token);
        }
    }
}

fn remove(n: u32) -> serde_json::Value {
    json!({"@removed": {}, "sourceGroupIdentity": {"id": gkey(n).as_str()}})
}

fn log_records(dir: &Path) -> i64 {
    let conn = rusqlite::Connection::open(dir.join("crossmap.sqlite")).unwrap();
    conn.query_row("SELECT count(*) FROM log", [], |r| r.get(0)).unwrap()
}

fn with_target(n: u32, target: u32) -> serde_json::Value {
    let mut g = group(n);
    g["targetGroupIdentity"]["id"] = json!(format!("88888888-0000-0000-0000-{target:012}"));
    g
}

#[test]
fn compaction_keeps_every_mapping_and_the_feeds_continuity() {
    let dir = tempfile::tempdir().unwrap();
    let store = manual(dir.path());
    apply_groups(
        &store,
        "t1",
        json!((1..=10).map(group).collect::<Vec<_>>()),
        Mode::Atomic,
    )
    .unwrap();
    // A mirror taken now, at token 10.
    let mut mirror = MemoryTable::<Group>::new();
    let at_ten = catch_up(&store, "t1", &mut mirror, 0).unwrap();
    assert_eq!(at_ten, 10);
    apply_groups(
        &store,
        "t1",
        json!([with_target(2, 1), with_target(3, 1), remove(4)]),
        Mode::Atomic,
    )
    .unwrap();
    apply_groups(&store, "t1", json!([with_target(2, 2), group(11)]), Mode::Atomic).unwrap();
    apply_groups(&store, "t2", json!([group(1)]), Mode::Atomic).unwrap();
    let before = groups(&store, "t1");
    let latest = store.latest_token::<Group>("t1").unwrap();

    let report = store.compact().unwrap();
    assert_eq!(report.records_removed, 16);
    assert_eq!(report.checkpoint_rows, 11, "10 live in t1, 1 in t2");
    assert_eq!(log_records(dir.path()), 0, "the log is empty");
    assert_eq!(groups(&store, "t1"), before);
    assert_eq!(store.latest_token::<Group>("t1").unwrap(), latest);
    // The removal of 4 (token 13) was dropped: tokens before it must resync, from it on are served.
    assert!(matches!(
        store.changes_since::<Group>("t1", 12, 10),
        Err(StoreError::Feed(FeedError::Resync { token: 12, horizon: 13 }))
    ));
    assert!(store.changes_since::<Group>("t1", 13, 10).is_ok());

    // Reopened from the checkpoint: the same state, tokens and horizon.
    drop(store);
    let store = manual(dir.path());
    assert_eq!(groups(&store, "t1"), before);
    assert_eq!(groups(&store, "t2").len(), 1);
    assert_eq!(store.latest_token::<Group>("t1").unwrap(), latest);
    assert!(matches!(
        store.changes_since::<Group>("t1", 10, 10),
        Err(StoreError::Feed(FeedError::Resync { .. }))
    ));
    // The mirror taken at token 10 must resync: a full read, then it follows from the latest token.
    assert!(matches!(
        catch_up(&store, "t1", &mut mirror, at_ten),
        Err(StoreError::Feed(FeedError::Resync { .. }))
    ));
    // Writes carry on from the checkpoint's tokens, and a second compaction merges into the first.
    apply_groups(&store, "t1", json!([remove(1), group(12)]), Mode::Atomic).unwrap();
    assert_eq!(store.latest_token::<Group>("t1").unwrap(), latest + 2);
    let mut mirror_at_latest = MemoryTable::<Group>::new();
    for (k, g) in &before {
        mirror_at_latest.put(gkey_of(k), g);
    }
    catch_up(&store, "t1", &mut mirror_at_latest, latest).unwrap();
    store.compact().unwrap();
    drop(store);
    let store = manual(dir.path());
    let after = groups(&store, "t1");
    assert_eq!(after.len(), before.len());
    assert!(after.iter().all(|(k, _)| k != gkey(1).as_str()));
    assert_eq!(mirror_at_latest.len(), after.len());
    for (k, g) in &after {
        assert_eq!(
            mirror_at_latest.get(&gkey_of(k)).as_ref(),
            Some(g),
            "mirror differs at {k}"
        );
    }
    apply_groups(&store, "t1", json!([group(13)]), Mode::Atomic).unwrap();
    assert_eq!(store.latest_token::<Group>("t1").unwrap(), latest + 3);
}

fn gkey_of(k: &str) -> crossmap_model::GroupKey {
    crossmap_model::GroupKey::parse(k).unwrap()
}

#[test]
fn a_mirror_from_before_the_checkpoint_without_a_dropped_removal_keeps_following() {
    let dir = tempfile::tempdir().unwrap();
    let store = manual(dir.path());
    apply_groups(&store, "t1", json!([group(1), group(2)]), Mode::Atomic).unwrap();
    let mut mirror = MemoryTable::<Group>::new();
    let token = catch_up(&store, "t1", &mut mirror, 0).unwrap();
    apply_groups(&store, "t1", json!([with_target(1, 7)]), Mode::Atomic).unwrap();
    store.compact().unwrap();
    drop(store);
    let store = manual(dir.path());
    // No removal was dropped: the mirror's token is still served, and brings it up to date.
    catch_up(&store, "t1", &mut mirror, token).unwrap();
    let now = groups(&store, "t1");
    assert_eq!(mirror.len(), now.len());
    for (k, g) in &now {
        assert_eq!(mirror.get(&gkey_of(k)).as_ref(), Some(g));
    }
}

#[test]
fn directories_survive_compaction_and_keep_counting() {
    let dir = tempfile::tempdir().unwrap();
    let user = |n: u128, upn: &str| User {
        id: Guid::from_u128(n).into(),
        user_principal_name: upn.to_owned().into(),
        ..User::default()
    };
    {
        let store = manual(dir.path());
        for n in 1..=3 {
            store.create_user("c", user(n, &format!("u{n}@c.com"))).unwrap();
        }
        store.delete_user("c", &Guid::from_u128(2)).unwrap();
        store.create_user("c", user(4, "u2@c.com")).unwrap();
        store.compact().unwrap();
        store.create_user("c", user(5, "u5@c.com")).unwrap();
    }
    let store = manual(dir.path());
    assert_eq!(store.count_users("c", &UserFilter::default()).unwrap(), 4);
    assert_eq!(store.user_by_upn("c", "u2@c.com").unwrap(), Some(user(4, "u2@c.com")));
    assert!(store.user("c", &Guid::from_u128(2)).unwrap().is_none());
    store.compact().unwrap();
    store.create_user("c", user(6, "u6@c.com")).unwrap();
    drop(store);
    let store = manual(dir.path());
    assert_eq!(store.count_users("c", &UserFilter::default()).unwrap(), 5);
}

#[test]
fn the_store_compacts_by_itself_past_its_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions::default().auto_compact(Some(AutoCompact { min_records: 20 }));
    let store = Store::open_with(dir.path(), options.clone()).unwrap();
    for n in 0..19 {
        apply_groups(&store, "t1", json!([group(n % 5)]), Mode::Atomic).unwrap();
        apply_groups(&store, "t1", json!([remove(n % 5)]), Mode::Atomic).unwrap();
    }
    // 38 records written; each time the log reached 20 it was folded in, beside the writes.
    let start = std::time::Instant::now();
    while log_records(dir.path()) >= 20 && start.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(log_records(dir.path()) < 20, "{} records left", log_records(dir.path()));
    apply_groups(&store, "t1", json!([group(1)]), Mode::Atomic).unwrap();
    drop(store);
    let store = Store::open_with(dir.path(), options).unwrap();
    assert_eq!(groups(&store, "t1").len(), 1);
    assert_eq!(store.latest_token::<Group>("t1").unwrap(), 39);
}

/// Writes that cross the threshold while a fold runs find it running and ask nobody; the compactor must
/// look again when it ends, or the log stays past the threshold until some later write comes.
#[test]
fn writes_during_a_fold_are_folded_in_without_another_write() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions::default().auto_compact(Some(AutoCompact { min_records: 4 }));
    let store = Store::open_with(dir.path(), options).unwrap();
    // Each round: a request of 4 records crosses the threshold and starts a fold; the next request of 4
    // lands while it runs (a debug fold writes and fsyncs a file), and nothing is written after it.
    for round in 0..20u32 {
        for half in 0..2u32 {
            let items: Vec<_> = (0..4).map(|n| with_target(half * 4 + n, round)).collect();
            apply_groups(&store, "t1", json!(items), Mode::Atomic).unwrap();
        }
        let start = std::time::Instant::now();
        while log_records(dir.path()) >= 4 && start.elapsed() < std::time::Duration::from_secs(5) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let left = log_records(dir.path());
        assert!(left < 4, "round {round}: {left} records left past the threshold");
    }
    assert_eq!(groups(&store, "t1").len(), 8);
}

/// Changes the checkpoint file's byte at `at` (from the end when negative).
fn damage_checkpoint(dir: &Path, at: i64) {
    let path = dir.join("checkpoint");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = if at < 0 { bytes.len() as i64 + at } else { at } as usize;
    bytes[at] ^= 1;
    std::fs::write(&path, bytes).unwrap();
}

#[test]
fn a_damaged_checkpoint_row_is_reported_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = manual(dir.path());
        apply_groups(&store, "t1", json!([group(1)]), Mode::Atomic).unwrap();
        store.compact().unwrap();
    }
    // The first row's token, just after the 40-byte header and the row's tenant and kind.
    damage_checkpoint(dir.path(), 40 + 5);
    let e = Store::open(dir.path()).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt(_)), "{e}");
    assert!(
        e.to_string().contains("checkpoint row (tenant \"t1\", group mappings"),
        "{e}"
    );
}

#[test]
fn a_damaged_checkpoint_position_is_reported_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = manual(dir.path());
        apply_groups(&store, "t1", json!([group(1), group(2)]), Mode::Atomic).unwrap();
        store.compact().unwrap();
    }
    // The trailer ends with the one position: latest, horizon, rows (8 bytes each), its checksum.
    damage_checkpoint(dir.path(), -28);
    let e = Store::open(dir.path()).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt(_)), "{e}");
    assert!(e.to_string().contains("checkpoint position of tenant \"t1\""), "{e}");
}

#[test]
fn a_damaged_checkpoint_header_is_reported_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = manual(dir.path());
        apply_groups(&store, "t1", json!([group(1)]), Mode::Atomic).unwrap();
        store.compact().unwrap();
    }
    // The number of rows.
    damage_checkpoint(dir.path(), 8 + 4 + 8 + 8);
    let e = Store::open(dir.path()).unwrap_err();
    assert!(e.to_string().contains("the checkpoint file header is damaged"), "{e}");
}

#[test]
fn a_checkpoint_left_half_written_by_a_crash_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = manual(dir.path());
        apply_groups(&store, "t1", json!([group(1)]), Mode::Atomic).unwrap();
        store.compact().unwrap();
        apply_groups(&store, "t1", json!([group(2)]), Mode::Atomic).unwrap();
    }
    std::fs::write(dir.path().join("checkpoint.tmp"), b"XMAPCKPT half").unwrap();
    let store = manual(dir.path());
    assert_eq!(groups(&store, "t1").len(), 2);
    assert!(!dir.path().join("checkpoint.tmp").exists());
}

#[test]
fn writes_go_on_while_compactions_run_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let store = manual(dir.path());
    let writing = std::sync::atomic::AtomicBool::new(true);
    std::thread::scope(|s| {
        s.spawn(|| {
            for n in 0..600u32 {
                let item = match n % 3 {
                    0 => group(n % 200),
                    1 => with_target(n % 200, n),
                    _ => remove((n + 100) % 200),
                };
                apply_groups(&store, "t1", json!([item]), Mode::Atomic).unwrap();
            }
            writing.store(false, std::sync::atomic::Ordering::Release);
        });
        let mut compactions = 0;
        while writing.load(std::sync::atomic::Ordering::Acquire) {
            store.compact().unwrap();
            compactions += 1;
        }
        assert!(compactions > 1, "{compactions} compactions");
    });
    let before = groups(&store, "t1");
    let latest = store.latest_token::<Group>("t1").unwrap();
    drop(store);
    let store = manual(dir.path());
    assert_eq!(groups(&store, "t1"), before);
    assert_eq!(store.latest_token::<Group>("t1").unwrap(), latest);
    apply_groups(&store, "t1", json!([group(500)]), Mode::Atomic).unwrap();
    assert_eq!(store.latest_token::<Group>("t1").unwrap(), latest + 1);
}

#[test]
fn dropping_the_store_during_an_automatic_compaction_stops_it_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions::default().auto_compact(Some(AutoCompact { min_records: 1 }));
    let store = Store::open_with(dir.path(), options).unwrap();
    for n in 0..300u32 {
        apply_groups(&store, "t1", json!([group(n), with_target(n + 1000, n)]), Mode::Atomic).unwrap();
    }
    let before = groups(&store, "t1");
    drop(store); // joins the compactor, whatever it was doing
    let store = manual(dir.path());
    assert_eq!(groups(&store, "t1"), before);
    assert_eq!(store.latest_token::<Group>("t1").unwrap(), 600);
}

#[test]
fn a_log_set_aside_by_a_fold_cut_short_is_replayed_before_the_newer_records() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = manual(dir.path());
        apply_groups(&store, "t1", json!([group(1), group(2)]), Mode::Atomic).unwrap();
        store.compact().unwrap();
        apply_groups(&store, "t1", json!([with_target(1, 5), remove(2)]), Mode::Atomic).unwrap();
    }
    // A crash after the fold set the log aside and before its checkpoint replaced the old one.
    let conn = rusqlite::Connection::open(dir.path().join("crossmap.sqlite")).unwrap();
    conn.execute_batch(
        "ALTER TABLE log RENAME TO log_old;
         CREATE TABLE log (seq INTEGER PRIMARY KEY, tenant TEXT NOT NULL, kind INTEGER NOT NULL,
             token INTEGER NOT NULL, key TEXT NOT NULL, row BLOB, crc INTEGER);",
    )
    .unwrap();
    drop(conn);
    let store = manual(dir.path());
    apply_groups(&store, "t1", json!([group(3)]), Mode::Atomic).unwrap();
    let expected = groups(&store, "t1");
    assert_eq!(expected.len(), 2, "key 1 changed, key 2 removed, key 3 new");
    assert_eq!(store.latest_token::<Group>("t1").unwrap(), 5);
    drop(store);
    let store = manual(dir.path());
    assert_eq!(groups(&store, "t1"), expected);
    assert_eq!(store.latest_token::<Group>("t1").unwrap(), 5);
    // Read where they are, not copied back: the open costs no write.
    assert_eq!((old_log_records(dir.path()), log_records(dir.path())), (Some(2), 1));
    // A compaction asked for folds the set-aside records and the newer one.
    let report = store.compact().unwrap();
    assert_eq!((report.records_removed, report.checkpoint_rows), (3, 2));
    assert_eq!((old_log_records(dir.path()), log_records(dir.path())), (None, 0));
    drop(store);
    let store = manual(dir.path());
    assert_eq!(groups(&store, "t1"), expected);
    assert_eq!(store.latest_token::<Group>("t1").unwrap(), 5);
}

/// Records in the log a fold set aside, if there is one.
fn old_log_records(dir: &Path) -> Option<i64> {
    let conn = rusqlite::Connection::open(dir.join("crossmap.sqlite")).unwrap();
    conn.query_row("SELECT count(*) FROM log_old", [], |r| r.get(0)).ok()
}
