//! What every store does, whatever keeps it: run against the in-memory and the durable backend.

use crossmap_delta::{Mode, Outcome, parse_request};
use crossmap_model::{
    GroupKey, IdentityMapping, SharePointGroupIdentityMapping as Group, SharePointUserIdentityMapping as User, UserKey,
};
use crossmap_store::{Store, StoreError};
use serde_json::{Value, json};

pub(crate) const ORG: &str = "11111111-1111-1111-1111-111111111111";

pub(crate) fn group(n: u32) -> Value {
    json!({"sourceOrganizationId": ORG, "sourceGroupIdentity": {"id": format!("00000000-0000-0000-0000-{n:012}")},
           "targetGroupIdentity": {"id": format!("99999999-0000-0000-0000-{n:012}")}})
}

pub(crate) fn gkey(n: u32) -> GroupKey {
    GroupKey::parse(&format!("00000000-0000-0000-0000-{n:012}")).unwrap()
}

pub(crate) fn body(items: Value) -> String {
    json!({"@context": "#$delta", "value": items}).to_string()
}

pub(crate) fn apply_groups(
    store: &Store,
    tenant: &str,
    items: Value,
    mode: Mode,
) -> Result<Vec<Outcome<Group>>, StoreError> {
    store
        .apply::<Group>(tenant, parse_request(&body(items)).unwrap(), mode)
        .map(|a| a.outcomes)
}

fn applies_reads_and_removes(store: &Store) {
    let out = apply_groups(store, "t1", json!([group(1), group(2)]), Mode::Atomic).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(store.count::<Group>("t1").unwrap(), 2);
    let g = store.get::<Group>("t1", &gkey(1)).unwrap().unwrap();
    assert_eq!(g.id.value().unwrap(), &Group::id_of(&gkey(1)));
    apply_groups(
        store,
        "t1",
        json!([{"@removed": {}, "sourceGroupIdentity": {"id": gkey(1).as_str()}}]),
        Mode::Atomic,
    )
    .unwrap();
    assert!(store.get::<Group>("t1", &gkey(1)).unwrap().is_none());
    assert_eq!(store.count::<Group>("t1").unwrap(), 1);
}

fn keeps_tenants_and_kinds_apart(store: &Store) {
    apply_groups(store, "t1", json!([group(1)]), Mode::Atomic).unwrap();
    assert!(store.get::<Group>("t2", &gkey(1)).unwrap().is_none());
    assert_eq!(store.count::<Group>("t2").unwrap(), 0);
    assert_eq!(store.count::<User>("t1").unwrap(), 0);
    let user = json!([{"sourceOrganizationId": ORG, "sourceUserIdentity": {"userPrincipalName": "Ann@Contoso.com"}, "targetUserIdentity": {"userPrincipalName": "ann@fabrikam.com"}}]);
    store
        .apply::<User>("t2", parse_request(&body(user)).unwrap(), Mode::Atomic)
        .unwrap();
    assert!(
        store
            .get::<User>("t2", &UserKey::parse("ann@contoso.com").unwrap())
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .get::<User>("t1", &UserKey::parse("ann@contoso.com").unwrap())
            .unwrap()
            .is_none()
    );
}

fn a_refused_request_changes_nothing(store: &Store) {
    apply_groups(store, "t1", json!([group(1)]), Mode::Atomic).unwrap();
    let token = store.latest_token::<Group>("t1").unwrap();
    let e = apply_groups(
        store,
        "t1",
        json!([group(2), {"sourceGroupIdentity": {"id": "nope"}}]),
        Mode::Atomic,
    )
    .unwrap_err();
    assert!(matches!(e, StoreError::Refused(_)) && e.is_client_error(), "{e:?}");
    assert!(store.get::<Group>("t1", &gkey(2)).unwrap().is_none());
    assert_eq!(
        store.latest_token::<Group>("t1").unwrap(),
        token,
        "a refused request reached the feed"
    );
    // Continue-on-error applies the valid item.
    let out = apply_groups(
        store,
        "t1",
        json!([group(2), {"sourceGroupIdentity": {"id": "nope"}}]),
        Mode::ContinueOnError,
    )
    .unwrap();
    assert!(matches!(out[1], Outcome::Failed(_)));
    assert!(store.get::<Group>("t1", &gkey(2)).unwrap().is_some());
}

fn pages_in_key_order(store: &Store) {
    let items: Vec<Value> = (0..25).rev().map(group).collect();
    apply_groups(store, "t1", Value::Array(items), Mode::Atomic).unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.page::<Group>("t1", after.as_ref(), 10).unwrap();
        assert!(page.mappings.len() <= 10);
        seen.extend(
            page.mappings
                .iter()
                .map(|m| m.source_group_identity.value().unwrap().id.value().unwrap().clone()),
        );
        match page.next {
            Some(k) => after = Some(k),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).map(|n| gkey(n).as_str().to_owned()).collect();
    assert_eq!(seen, expected);
    assert!(store.page::<Group>("nobody", None, 10).unwrap().mappings.is_empty());
}

fn serves_the_change_feed(store: &Store) {
    assert_eq!(store.latest_token::<Group>("t1").unwrap(), 0);
    apply_groups(store, "t1", json!([group(1), group(2)]), Mode::Atomic).unwrap();
    let t = store.latest_token::<Group>("t1").unwrap();
    assert_eq!(t, 2);
    // A retried request changes nothing, so it adds nothing to the feed.
    apply_groups(store, "t1", json!([group(1), group(2)]), Mode::Atomic).unwrap();
    assert_eq!(store.latest_token::<Group>("t1").unwrap(), t);
    apply_groups(
        store,
        "t1",
        json!([{"@removed": {}, "sourceGroupIdentity": {"id": gkey(1).as_str()}}]),
        Mode::Atomic,
    )
    .unwrap();
    let page = store.changes_since::<Group>("t1", t, 100).unwrap();
    assert_eq!(page.changes.len(), 1);
    assert_eq!((page.token, page.more), (3, false));
    // Paging: one at a time from the start, each page continuing after the last.
    let first = store.changes_since::<Group>("t1", 0, 1).unwrap();
    assert_eq!((first.changes.len(), first.more), (1, true));
    let rest = store.changes_since::<Group>("t1", first.token, 10).unwrap();
    assert_eq!((rest.changes.len(), rest.more, rest.token), (1, false, 3));
    assert!(matches!(
        store.changes_since::<Group>("t1", 99, 10),
        Err(StoreError::Feed(_))
    ));
}

fn serves_concurrent_writers(store: &Store) {
    std::thread::scope(|s| {
        for w in 0..4u32 {
            s.spawn(move || {
                for i in 0..25u32 {
                    apply_groups(store, "t1", json!([group(w * 100 + i)]), Mode::Atomic).unwrap();
                }
            });
        }
    });
    assert_eq!(store.count::<Group>("t1").unwrap(), 100);
    assert_eq!(store.latest_token::<Group>("t1").unwrap(), 100);
}

/// A create that refuses when the key is taken, through `apply_with`.
fn create_unless_taken(store: &Store, n: u32) -> Result<(), Option<StoreError>> {
    let item: Group = serde_json::from_value(group(n)).unwrap();
    store
        .apply_with::<Group, Option<StoreError>>("t1", &gkey(n), Mode::Atomic, |current| match current {
            Some(_) => Err(None),
            None => Ok(crossmap_delta::ParsedRequest {
                context: Some("#$delta".into()),
                items: vec![Ok(crossmap_model::DeltaItem::Upsert(item))],
            }),
        })
        .map(|_| ())
}

fn reads_and_writes_in_one_step(store: &Store) {
    // Eight racing creates of each key: exactly one wins each.
    let wins = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for n in 0..20 {
                    match create_unless_taken(store, n) {
                        Ok(()) => {
                            wins.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Err(None) => {}
                        Err(Some(e)) => panic!("{e}"),
                    }
                }
            });
        }
    });
    assert_eq!(wins.into_inner(), 20);
    assert_eq!(
        store.latest_token::<Group>("t1").unwrap(),
        20,
        "the losers wrote nothing"
    );
    // The builder sees the current mapping; its refusal changes nothing.
    let stored = store.get::<Group>("t1", &gkey(1)).unwrap();
    let seen = store.apply_with::<Group, StoreError>("t1", &gkey(1), Mode::Atomic, |current| {
        assert_eq!(current, stored);
        Err(StoreError::Unavailable("refused by the caller".into()))
    });
    assert!(seen.is_err());
    assert_eq!(store.latest_token::<Group>("t1").unwrap(), 20);
}

/// One test of the suite: its name and body.
type Case = (&'static str, fn(&Store));

/// Every test of the suite, by name, so each backend runs all of them.
const SUITE: &[Case] = &[
    ("applies_reads_and_removes", applies_reads_and_removes),
    ("keeps_tenants_and_kinds_apart", keeps_tenants_and_kinds_apart),
    ("a_refused_request_changes_nothing", a_refused_request_changes_nothing),
    ("pages_in_key_order", pages_in_key_order),
    ("serves_the_change_feed", serves_the_change_feed),
    ("serves_concurrent_writers", serves_concurrent_writers),
    ("reads_and_writes_in_one_step", reads_and_writes_in_one_step),
];

#[test]
fn in_memory_store_conforms() {
    for (name, test) in SUITE {
        eprintln!("in-memory: {name}");
        test(&Store::in_memory());
    }
}

#[test]
fn durable_store_conforms() {
    for (name, test) in SUITE {
        eprintln!("durable: {name}");
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(store.is_durable());
        test(&store);
    }
}
