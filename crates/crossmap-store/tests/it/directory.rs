//! Directories (users, groups, the organization): one conformance suite run against both backends, then
//! what the durable one adds (a reopen restores everything, re-seeding writes nothing, damage is found).

use crossmap_model::Guid;
use crossmap_model::compact::Compact;
use crossmap_model::directory::{Group, Organization, User};
use crossmap_store::{Cursor, DirectoryError, DirectorySeed, GroupFilter, SeedOutcome, Store, StoreError, UserFilter};
use serde_json::json;

fn id(n: u128) -> Guid {
    Guid::from_u128(n)
}

fn user(n: u128, upn: &str) -> User {
    User {
        id: id(n).into(),
        user_principal_name: upn.to_owned().into(),
        account_enabled: true.into(),
        user_type: "Member".to_owned().into(),
        ..User::default()
    }
}

fn group(n: u128, name: &str, microsoft_365: bool) -> Group {
    serde_json::from_value(json!({
        "id": id(n), "displayName": name, "mailNickname": name.to_lowercase(),
        "groupTypes": if microsoft_365 { vec!["Unified"] } else { vec![] },
        "mailEnabled": microsoft_365, "securityEnabled": !microsoft_365,
    }))
    .unwrap()
}

/// Every user of `tenant` that `filter` admits, page by page (`top` each), as ids.
fn list_all(store: &Store, tenant: &str, filter: &UserFilter, top: usize) -> Vec<Guid> {
    let mut seen = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let page = store.users(tenant, filter, after.as_ref(), top).unwrap();
        assert!(page.items.len() <= top);
        seen.extend(page.items.iter().map(|u| *u.id.value().unwrap()));
        match page.next {
            Some(c) => after = Some(c),
            None => return seen,
        }
    }
}

fn creates_reads_and_deletes(store: &Store) {
    let ann = user(1, "Ann@Contoso.com");
    let guest = user(2, "bob_fabrikam.com#EXT#@contoso.onmicrosoft.com");
    store.create_user("t1", ann.clone()).unwrap();
    store.create_user("t1", guest.clone()).unwrap();
    assert_eq!(store.user("t1", &id(1)).unwrap(), Some(ann.clone()));
    assert_eq!(store.user_by_upn("t1", "ANN@contoso.COM").unwrap(), Some(ann.clone()));
    assert_eq!(
        store
            .user_by_upn("t1", "Bob_Fabrikam.com#ext#@contoso.onmicrosoft.com")
            .unwrap(),
        Some(guest)
    );
    let sales = group(10, "Sales", true);
    store.create_group("t1", sales.clone()).unwrap();
    assert_eq!(store.group("t1", &id(10)).unwrap(), Some(sales));
    assert!(store.delete_user("t1", &id(1)).unwrap());
    assert!(
        !store.delete_user("t1", &id(1)).unwrap(),
        "a second delete finds nothing"
    );
    assert!(store.user_by_upn("t1", "ann@contoso.com").unwrap().is_none());
    // The UPN is free again.
    store.create_user("t1", user(3, "ann@contoso.com")).unwrap();
    assert!(store.delete_group("t1", &id(10)).unwrap());
    assert!(store.group("t1", &id(10)).unwrap().is_none());
    assert!(!store.delete_group("t1", &id(10)).unwrap());
}

fn refuses_taken_ids_and_upns_changing_nothing(store: &Store) {
    store.create_user("t1", user(1, "ann@contoso.com")).unwrap();
    let e = store.create_user("t1", user(2, "ANN@CONTOSO.COM")).unwrap_err();
    assert!(
        matches!(&e, StoreError::Directory(DirectoryError::UpnTaken { id: taken, .. }) if *taken == id(1)),
        "{e:?}"
    );
    assert!(e.is_client_error());
    let e = store.create_user("t1", user(1, "other@contoso.com")).unwrap_err();
    assert!(
        matches!(e, StoreError::Directory(DirectoryError::IdTaken { .. })),
        "{e:?}"
    );
    let e = store.create_user("t1", User::default()).unwrap_err();
    assert!(matches!(e, StoreError::Directory(DirectoryError::NoId { .. })), "{e:?}");
    let no_upn = User {
        id: id(5).into(),
        ..User::default()
    };
    let e = store.create_user("t1", no_upn).unwrap_err();
    assert!(matches!(e, StoreError::Directory(DirectoryError::NoUpn)), "{e:?}");
    store.create_group("t1", group(10, "Sales", false)).unwrap();
    assert!(store.create_group("t1", group(10, "Other", false)).is_err());
    assert_eq!(store.count_users("t1", &UserFilter::default()).unwrap(), 1);
    assert!(store.user_by_upn("t1", "other@contoso.com").unwrap().is_none());
    assert_eq!(
        store
            .group("t1", &id(10))
            .unwrap()
            .unwrap()
            .display_name
            .value()
            .unwrap(),
        "Sales"
    );
}

fn keeps_tenants_apart(store: &Store) {
    store.create_user("t1", user(1, "ann@contoso.com")).unwrap();
    // The same id and UPN in another tenant is another user.
    store.create_user("t2", user(1, "ann@contoso.com")).unwrap();
    store.delete_user("t2", &id(1)).unwrap();
    assert!(store.user("t1", &id(1)).unwrap().is_some());
    assert!(store.user("t3", &id(1)).unwrap().is_none());
    assert_eq!(store.count_users("t2", &UserFilter::default()).unwrap(), 0);
    assert!(
        store
            .users("nobody", &UserFilter::default(), None, 10)
            .unwrap()
            .items
            .is_empty()
    );
    assert!(store.organization("t1").unwrap().is_none());
    // Directories and mappings are apart too.
    assert_eq!(
        store
            .count::<crossmap_model::SharePointUserIdentityMapping>("t1")
            .unwrap(),
        0
    );
}

/// A mix of every class: enabled / disabled / unset × Member / Guest / unset, UPNs in two domains.
fn mixed(store: &Store, tenant: &str, n: u128) -> Vec<User> {
    let users: Vec<User> = (0..n)
        .map(|i| {
            // Ids out of UPN order, so id order and UPN order differ.
            let mut u = user(
                (i * 7919) % 1000 + 1,
                &format!(
                    "{}{i}@{}",
                    ["a", "b", "ab"][(i % 3) as usize],
                    ["x.com", "y.com"][(i % 2) as usize]
                ),
            );
            u.account_enabled = [Some(true), Some(false), None][(i % 3) as usize].into();
            u.user_type = [Some("Member"), Some("guest"), None][((i / 3) % 3) as usize]
                .map(str::to_owned)
                .into();
            u
        })
        .collect();
    for u in &users {
        store.create_user(tenant, u.clone()).unwrap();
    }
    users
}

fn admits(filter: &UserFilter, u: &User) -> bool {
    filter
        .account_enabled
        .is_none_or(|e| u.account_enabled.value() == Some(&e))
        && filter.user_type.as_ref().is_none_or(|t| {
            u.user_type.value().is_some_and(|v| v.eq_ignore_ascii_case(t))
                && ["member", "guest"].contains(&t.to_lowercase().as_str())
        })
        && filter.upn_prefix.as_ref().is_none_or(|p| {
            u.user_principal_name
                .value()
                .unwrap()
                .to_lowercase()
                .starts_with(&p.to_lowercase())
        })
}

fn every_filter_pages_and_counts_what_it_admits(store: &Store) {
    let users = mixed(store, "t1", 60);
    let enabled = [None, Some(true), Some(false)];
    let kinds = [None, Some("Member"), Some("GUEST"), Some("Foo")];
    let prefixes = [None, Some("A"), Some("ab"), Some("b1"), Some("zzz")];
    for e in enabled {
        for k in kinds {
            for p in prefixes {
                let filter = UserFilter {
                    account_enabled: e,
                    user_type: k.map(str::to_owned),
                    upn_prefix: p.map(str::to_owned),
                };
                let mut expected: Vec<&User> = users.iter().filter(|u| admits(&filter, u)).collect();
                if p.is_some() {
                    expected.sort_by_key(|u| u.user_principal_name.value().unwrap().to_lowercase());
                } else {
                    expected.sort_by_key(|u| *u.id.value().unwrap());
                }
                let expected: Vec<Guid> = expected.iter().map(|u| *u.id.value().unwrap()).collect();
                for top in [1, 4, 100] {
                    assert_eq!(list_all(store, "t1", &filter, top), expected, "{filter:?}, top {top}");
                }
                assert_eq!(store.count_users("t1", &filter).unwrap(), expected.len(), "{filter:?}");
            }
        }
    }
    // A cursor of the other order is refused.
    let by_upn = UserFilter {
        upn_prefix: Some("a".into()),
        ..UserFilter::default()
    };
    let e = store.users("t1", &by_upn, Some(&Cursor::Id(id(1))), 10).unwrap_err();
    assert!(matches!(e, StoreError::Directory(DirectoryError::Cursor)), "{e:?}");
    assert!(
        store
            .users("t1", &UserFilter::default(), Some(&Cursor::Upn("a".into())), 10)
            .is_err()
    );
}

fn pages_stay_valid_while_the_directory_changes(store: &Store) {
    for n in (10..=100).step_by(10) {
        store.create_user("t1", user(n, &format!("u{n}@x.com"))).unwrap();
    }
    let all = UserFilter::default();
    let first = store.users("t1", &all, None, 4).unwrap();
    let ids: Vec<Guid> = first.items.iter().map(|u| *u.id.value().unwrap()).collect();
    assert_eq!(ids, [id(10), id(20), id(30), id(40)]);
    // Between pages: one added before the cursor, one after; one after deleted; one already seen deleted.
    store.create_user("t1", user(15, "u15@x.com")).unwrap();
    store.create_user("t1", user(55, "u55@x.com")).unwrap();
    store.delete_user("t1", &id(70)).unwrap();
    store.delete_user("t1", &id(20)).unwrap();
    let mut rest = Vec::new();
    let mut after = first.next;
    while let Some(c) = after {
        let page = store.users("t1", &all, Some(&c), 4).unwrap();
        rest.extend(page.items.iter().map(|u| *u.id.value().unwrap()));
        after = page.next;
    }
    assert_eq!(rest, [id(50), id(55), id(60), id(80), id(90), id(100)]);
    // Even the cursor's own user gone, the next page continues after where it was.
    let by_upn = UserFilter {
        upn_prefix: Some("U".into()),
        ..UserFilter::default()
    };
    let page = store.users("t1", &by_upn, None, 2).unwrap();
    store.delete_user("t1", page.items[1].id.value().unwrap()).unwrap();
    let next = store.users("t1", &by_upn, page.next.as_ref(), 100).unwrap();
    let upns: Vec<&str> = next
        .items
        .iter()
        .map(|u| u.user_principal_name.value().unwrap().as_str())
        .collect();
    // UPN order: u10, u100, u15, … (u20 was deleted above); the page held u10 and u100.
    assert_eq!(
        upns,
        [
            "u15@x.com",
            "u30@x.com",
            "u40@x.com",
            "u50@x.com",
            "u55@x.com",
            "u60@x.com",
            "u80@x.com",
            "u90@x.com"
        ]
    );
}

fn groups_filter_microsoft_365(store: &Store) {
    for n in 1..=9u128 {
        store
            .create_group("t1", group(n, &format!("G{n}"), n % 3 == 0))
            .unwrap();
    }
    let m365 = GroupFilter {
        microsoft_365: Some(true),
    };
    let page = store.groups("t1", &m365, None, 2).unwrap();
    let ids: Vec<Guid> = page.items.iter().map(|g| *g.id.value().unwrap()).collect();
    assert_eq!(ids, [id(3), id(6)]);
    let rest = store.groups("t1", &m365, page.next.as_ref(), 2).unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(rest.next.is_none());
    assert_eq!(store.count_groups("t1", &m365).unwrap(), 3);
    assert_eq!(
        store
            .count_groups(
                "t1",
                &GroupFilter {
                    microsoft_365: Some(false)
                }
            )
            .unwrap(),
        6
    );
    let others = store
        .groups(
            "t1",
            &GroupFilter {
                microsoft_365: Some(false),
            },
            None,
            100,
        )
        .unwrap();
    assert!(others.items.iter().all(|g| !g.is_microsoft_365()));
    assert_eq!(store.count_groups("t1", &GroupFilter::default()).unwrap(), 9);
}

fn organization(n: u128) -> Organization {
    serde_json::from_value(json!({"id": id(n), "displayName": "Contoso",
        "verifiedDomains": [{"name": "contoso.com", "isDefault": true, "isInitial": false}]}))
    .unwrap()
}

fn seeding_creates_replaces_and_is_idempotent(store: &Store) {
    store.create_user("t1", user(99, "kept@contoso.com")).unwrap();
    let seed = DirectorySeed {
        users: vec![user(1, "ann@contoso.com"), user(2, "bob@contoso.com")],
        groups: vec![group(10, "Sales", true)],
        organization: Some(organization(7)),
    };
    let first = store.seed_directory("t1", &seed).unwrap();
    assert_eq!(
        first,
        SeedOutcome {
            created: 4,
            replaced: 0,
            unchanged: 0
        }
    );
    let again = store.seed_directory("t1", &seed).unwrap();
    assert_eq!(
        again,
        SeedOutcome {
            created: 0,
            replaced: 0,
            unchanged: 4
        }
    );
    assert_eq!(store.organization("t1").unwrap(), Some(organization(7)));
    // A changed file: Ann and Bob swap UPNs, the group is renamed; objects it no longer names are kept.
    let changed = DirectorySeed {
        users: vec![user(1, "BOB@contoso.com"), user(2, "ann@contoso.com")],
        groups: vec![group(10, "Sales EMEA", true)],
        organization: None,
    };
    let outcome = store.seed_directory("t1", &changed).unwrap();
    assert_eq!(
        outcome,
        SeedOutcome {
            created: 0,
            replaced: 3,
            unchanged: 0
        }
    );
    assert_eq!(
        store.user_by_upn("t1", "bob@contoso.com").unwrap().unwrap().id.value(),
        Some(&id(1))
    );
    assert_eq!(
        store.user_by_upn("t1", "ann@contoso.com").unwrap().unwrap().id.value(),
        Some(&id(2))
    );
    assert!(store.user("t1", &id(99)).unwrap().is_some());
    assert_eq!(store.organization("t1").unwrap(), Some(organization(7)));
    assert_eq!(store.upn_domains("t1").unwrap(), [("contoso.com".to_owned(), 3)]);
    // Refused as a whole: a UPN that a user the seed does not name keeps; names given twice.
    let before = list_all(store, "t1", &UserFilter::default(), 100);
    let refusals = [
        DirectorySeed {
            users: vec![user(3, "new@contoso.com"), user(4, "Kept@Contoso.com")],
            ..DirectorySeed::default()
        },
        DirectorySeed {
            users: vec![user(3, "new@contoso.com"), user(3, "new2@contoso.com")],
            ..DirectorySeed::default()
        },
        DirectorySeed {
            users: vec![user(3, "new@contoso.com"), user(4, "NEW@contoso.com")],
            ..DirectorySeed::default()
        },
        DirectorySeed {
            users: vec![user(3, "new@contoso.com")],
            groups: vec![group(11, "A", false), group(11, "B", false)],
            organization: None,
        },
    ];
    for seed in refusals {
        let e = store.seed_directory("t1", &seed).unwrap_err();
        assert!(matches!(e, StoreError::Directory(_)), "{e:?}");
        assert!(store.user("t1", &id(3)).unwrap().is_none(), "a refused seed wrote {e}");
    }
    assert_eq!(list_all(store, "t1", &UserFilter::default(), 100), before);
    assert!(store.group("t1", &id(11)).unwrap().is_none());
}

fn concurrent_creates_of_one_upn_have_one_winner(store: &Store) {
    let wins = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for w in 0..4u128 {
            let wins = &wins;
            s.spawn(move || {
                for n in 0..20u128 {
                    match store.create_user("t1", user(w * 100 + n + 1, &format!("u{n}@x.com"))) {
                        Ok(_) => {
                            wins.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Err(StoreError::Directory(DirectoryError::UpnTaken { .. })) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        }
    });
    assert_eq!(wins.into_inner(), 20);
    assert_eq!(store.count_users("t1", &UserFilter::default()).unwrap(), 20);
}

type Case = (&'static str, fn(&Store));

const SUITE: &[Case] = &[
    ("creates_reads_and_deletes", creates_reads_and_deletes),
    (
        "refuses_taken_ids_and_upns_changing_nothing",
        refuses_taken_ids_and_upns_changing_nothing,
    ),
    ("keeps_tenants_apart", keeps_tenants_apart),
    (
        "every_filter_pages_and_counts_what_it_admits",
        every_filter_pages_and_counts_what_it_admits,
    ),
    (
        "pages_stay_valid_while_the_directory_changes",
        pages_stay_valid_while_the_directory_changes,
    ),
    ("groups_filter_microsoft_365", groups_filter_microsoft_365),
    (
        "seeding_creates_replaces_and_is_idempotent",
        seeding_creates_replaces_and_is_idempotent,
    ),
    (
        "concurrent_creates_of_one_upn_have_one_winner",
        concurrent_creates_of_one_upn_have_one_winner,
    ),
];

#[test]
fn in_memory_directories_conform() {
    for (name, test) in SUITE {
        eprintln!("in-memory: {name}");
        test(&Store::in_memory());
    }
}

#[test]
fn durable_directories_conform() {
    for (name, test) in SUITE {
        eprintln!("durable: {name}");
        let dir = tempfile::tempdir().unwrap();
        test(&Store::open(dir.path()).unwrap());
    }
}

/// Everything a tenant's directory answers: users, groups, organization, UPN domains, counts.
type Snapshot = (
    Vec<User>,
    Vec<Group>,
    Option<Organization>,
    Vec<(String, usize)>,
    Vec<usize>,
);

/// Everything a tenant's directory answers, to compare two stores.
fn snapshot(store: &Store, tenant: &str) -> Snapshot {
    let users = store.users(tenant, &UserFilter::default(), None, 10_000).unwrap().items;
    let groups = store
        .groups(tenant, &GroupFilter::default(), None, 10_000)
        .unwrap()
        .items;
    let counts = [Some(true), Some(false)]
        .into_iter()
        .map(|e| {
            store
                .count_users(
                    tenant,
                    &UserFilter {
                        account_enabled: e,
                        ..UserFilter::default()
                    },
                )
                .unwrap()
        })
        .chain([store
            .count_groups(
                tenant,
                &GroupFilter {
                    microsoft_365: Some(true),
                },
            )
            .unwrap()])
        .collect();
    (
        users,
        groups,
        store.organization(tenant).unwrap(),
        store.upn_domains(tenant).unwrap(),
        counts,
    )
}

#[test]
fn a_reopened_store_has_the_same_directories_and_reseeding_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let seed = DirectorySeed {
        users: vec![user(1, "ann@contoso.com"), user(2, "bob@contoso.com")],
        groups: vec![group(10, "Sales", true), group(11, "Finance", false)],
        organization: Some(organization(7)),
    };
    let before = {
        let store = Store::open(dir.path()).unwrap();
        mixed(&store, "t1", 40);
        store.seed_directory("t2", &seed).unwrap();
        store.create_user("t2", user(3, "cat@fabrikam.com")).unwrap();
        store.delete_user("t2", &id(3)).unwrap();
        store.delete_group("t2", &id(11)).unwrap();
        // UPNs swapped through a seed: replay must never see two users with one UPN.
        let swapped = DirectorySeed {
            users: vec![user(1, "bob@contoso.com"), user(2, "ann@contoso.com")],
            ..DirectorySeed::default()
        };
        store.seed_directory("t2", &swapped).unwrap();
        (snapshot(&store, "t1"), snapshot(&store, "t2"))
    };
    let log_size = || {
        std::fs::metadata(dir.path().join("crossmap.sqlite-wal"))
            .map(|m| m.len())
            .unwrap_or(0)
            + std::fs::metadata(dir.path().join("crossmap.sqlite")).unwrap().len()
    };
    let store = Store::open(dir.path()).unwrap();
    assert_eq!((snapshot(&store, "t1"), snapshot(&store, "t2")), before);
    // The unchanged parts of a re-seed write nothing; the swap is undone by replacing two users.
    let size = log_size();
    let outcome = store.seed_directory("t2", &seed).unwrap();
    assert_eq!(
        outcome,
        SeedOutcome {
            created: 1,
            replaced: 2,
            unchanged: 2
        }
    );
    let outcome = store.seed_directory("t2", &seed).unwrap();
    assert_eq!(
        outcome,
        SeedOutcome {
            created: 0,
            replaced: 0,
            unchanged: 5
        }
    );
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.seed_directory("t2", &seed).unwrap().unchanged, 5);
    assert!(log_size() >= size);
    // And it keeps counting: new writes after the reopen are kept by the next one.
    store.create_user("t2", user(4, "dan@contoso.com")).unwrap();
    drop(store);
    assert!(Store::open(dir.path()).unwrap().user("t2", &id(4)).unwrap().is_some());
}

#[test]
fn a_damaged_directory_record_stops_the_open_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let ann = user(1, "ann@contoso.com");
    {
        let store = Store::open(dir.path()).unwrap();
        store.create_user("t1", ann.clone()).unwrap();
    }
    let bytes = ann.to_compact();
    let mut damaged = false;
    for name in ["crossmap.sqlite", "crossmap.sqlite-wal"] {
        let path = dir.path().join(name);
        let Ok(mut file) = std::fs::read(&path) else { continue };
        if let Some(at) = file.windows(bytes.len()).position(|w| w == bytes.as_slice()) {
            // A letter of the UPN: still a valid row, as another user.
            let upn_at = at + bytes.len() - 5;
            file[upn_at] ^= 1;
            std::fs::write(&path, file).unwrap();
            damaged = true;
            break;
        }
    }
    assert!(damaged, "the row is in neither database file");
    match Store::open(dir.path()) {
        Err(StoreError::Corrupt(m)) => {
            assert!(
                m.contains("log record 1 (tenant \"t1\", directory users, token 1)"),
                "{m}"
            );
            assert!(m.contains("checksum"), "{m}");
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(store) => panic!("a damaged user was served: {:?}", store.user("t1", &id(1)).unwrap()),
    }
}
