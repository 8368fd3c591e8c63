//! Every call against the real emulator, on loopback.

use crossmap_client::{ApplyOptions, Client, ClientError, ItemResult, Progress};
use crossmap_delta::{MappingTable, MemoryTable};
use crossmap_model::{
    DeltaItem, DeltaRequest, GroupKey, GroupMapping as Group, GroupType, Guid, IdentityMapping, UserKey,
    UserMapping as User, UserType,
};
use crossmap_server::{AppState, Auth, router};
use crossmap_store::Store;
use futures_util::StreamExt;
use std::sync::{Arc, Mutex};

const TENANT: &str = "11111111-1111-1111-1111-111111111111";

async fn emulator() -> (Client, tokio::task::JoinHandle<()>) {
    emulator_with(4).await
}

async fn emulator_with(concurrency: usize) -> (Client, tokio::task::JoinHandle<()>) {
    let auth = Auth::ephemeral(vec!["app:secret:manage".parse().unwrap()]).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = router(AppState::new(Store::in_memory(), auth));
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = Client::builder()
        .base_url(format!("{base}/beta"))
        .client_credentials(TENANT, "app", "secret")
        .concurrency(concurrency)
        .build()
        .unwrap();
    (client, task)
}

fn org() -> Guid {
    TENANT.parse().unwrap()
}

/// A GUID whose last group reads `n` in decimal: `00000000-0000-0000-0000-000000000042`.
fn guid(prefix: &str, n: u32) -> Guid {
    format!("{prefix}-0000-0000-0000-{n:012}").parse().unwrap()
}

fn group(n: u32) -> Group {
    Group::new(org(), guid("00000000", n), guid("99999999", n)).group_type(GroupType::RegularGroup)
}

fn user(n: u32) -> User {
    User::new(org(), format!("User{n}@Contoso.com"), format!("user{n}@fabrikam.com")).user_type(UserType::RegularUser)
}

fn gkey(n: u32) -> GroupKey {
    GroupKey::new(guid("00000000", n))
}

#[tokio::test]
async fn apply_get_list_and_get_by_id() {
    let (client, _server) = emulator().await;
    let entries = client
        .apply(&DeltaRequest::new(vec![
            DeltaItem::Upsert(group(1)),
            DeltaItem::Upsert(group(2)),
        ]))
        .await
        .unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].id(), Some(Group::id_of(&gkey(1)).as_str()));
    let got: Group = client.get(&gkey(1), None).await.unwrap().unwrap();
    assert_eq!(got.target_group_id(), Some("99999999-0000-0000-0000-000000000001"));
    let mut built = group(1);
    *built.id_mut() = Group::id_of(&gkey(1)).into();
    assert_eq!(got, built, "read back as built, with its id");
    let selected: Group = client.get(&gkey(1), Some(&["groupType"])).await.unwrap().unwrap();
    assert!(selected.target_group_identity.is_absent() && selected.group_type.is_value());
    assert!(client.get::<Group>(&gkey(9), None).await.unwrap().is_none());
    let by_id: Group = client.get_by_id(&Group::id_of(&gkey(2))).await.unwrap().unwrap();
    assert_eq!(by_id.source_key().unwrap(), gkey(2));
    let listed: Vec<Group> = client.list::<Group>().map(Result::unwrap).collect().await;
    assert_eq!(listed.len(), 2);
    // Users, with a quote and case in the key.
    client
        .apply(&DeltaRequest::new(vec![DeltaItem::Upsert(user(1))]))
        .await
        .unwrap();
    let u: User = client
        .get(&UserKey::parse("user1@contoso.com").unwrap(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        u.source_user_identity
            .value()
            .unwrap()
            .user_principal_name
            .value()
            .unwrap(),
        "User1@Contoso.com"
    );
}

#[tokio::test]
async fn a_request_the_server_would_refuse_is_never_sent() {
    let (client, _server) = emulator().await;
    let mut bad = group(1);
    bad.group_type =
        crossmap_model::Patch::Value(crossmap_model::SharePointIdentityMappingGroupType::Other("x".into()));
    let before = client.counters().requests.load(std::sync::atomic::Ordering::Relaxed);
    let e = client
        .apply(&DeltaRequest::new(vec![DeltaItem::Upsert(bad)]))
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Invalid(_)), "{e:?}");
    let many: Vec<_> = (0..51).map(|n| DeltaItem::Upsert(group(n))).collect();
    assert!(matches!(
        client.apply(&DeltaRequest::new(many)).await,
        Err(ClientError::Invalid(_))
    ));
    assert_eq!(
        client.counters().requests.load(std::sync::atomic::Ordering::Relaxed),
        before,
        "something was sent"
    );
}

#[tokio::test]
async fn apply_all_chunks_any_number_keeps_key_order_and_reports_progress() {
    let (client, _server) = emulator().await;
    let mut items: Vec<DeltaItem<Group>> = (0..230).map(|n| DeltaItem::Upsert(group(n))).collect();
    // 60 items on one key: more than a chunk, so they must go in order across chunks. The last wins.
    for round in 0..60u32 {
        let mut g = group(1000);
        g.target_group_identity.value_mut().unwrap().display_name =
            crossmap_model::Patch::Value(format!("round {round}"));
        items.push(DeltaItem::Upsert(g));
    }
    items.push(DeltaItem::deleted(group(5).key_only()));
    let seen = Arc::new(Mutex::new(Vec::<Progress>::new()));
    let sink = seen.clone();
    let options = ApplyOptions {
        progress: Some(Arc::new(move |p| sink.lock().unwrap().push(p))),
        ..Default::default()
    };
    let report = client.apply_all(items, &options).await;
    assert!(report.is_complete(), "{} applied", report.applied());
    assert_eq!(report.items().len(), 291);
    assert!(matches!(&report.items()[0], ItemResult::Applied { entry: g, .. } if g.source_key().unwrap() == gkey(0)));
    let last = client.get::<Group>(&gkey(1000), None).await.unwrap().unwrap();
    assert_eq!(
        last.target_group_identity
            .value()
            .unwrap()
            .display_name
            .value()
            .unwrap(),
        "round 59"
    );
    assert!(client.get::<Group>(&gkey(5), None).await.unwrap().is_none());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.last().unwrap().done, 291);
    assert!(seen.windows(2).all(|w| w[0].done < w[1].done), "progress only grows");
}

#[tokio::test]
async fn a_chunk_that_fails_for_good_fails_its_items_and_the_others_go_on() {
    let (client, _server) = emulator().await;
    // Valid by itself, refused by the server: updating a key that does not exist lacks required properties.
    let mut patch_only = Group::from_key(&gkey(700));
    patch_only.group_type = crossmap_model::Patch::Value(crossmap_model::SharePointIdentityMappingGroupType::M365Group);
    let mut items: Vec<DeltaItem<Group>> = (0..49).map(|n| DeltaItem::Upsert(group(n))).collect();
    items.push(DeltaItem::Upsert(patch_only)); // the 50th: fills chunk one
    items.extend((100..110).map(|n| DeltaItem::Upsert(group(n))));
    let report = client.apply_all(items, &ApplyOptions::default()).await;
    assert_eq!(
        report.failures().count(),
        50,
        "the refused chunk fails whole (all or nothing)"
    );
    assert_eq!(report.applied(), 10);
    let (_, e) = report.failures().next().unwrap();
    assert_eq!(e.status(), Some(400));
    assert_eq!(e.code(), Some("invalidRequest"));
    assert!(e.request_id().is_some());
    // `into_result` makes the failures an error for `?`, naming the refused chunk's items once.
    let e = report.into_result().unwrap_err();
    assert_eq!((e.failed(), e.not_sent(), e.total()), (50, 0, 60));
    assert_eq!(e.failures()[49].0, 49);
    let shown = e.to_string();
    assert!(
        shown.starts_with("50 of 60 items were not applied (50 failed, 0 not sent): items 0..=49: 400 invalidRequest"),
        "{shown}"
    );
}

#[tokio::test]
async fn into_result_passes_a_complete_run_through() {
    let (client, _server) = emulator().await;
    let report = client
        .apply_all(
            (0..3).map(|n| DeltaItem::Upsert(group(n))).collect(),
            &ApplyOptions::default(),
        )
        .await
        .into_result()
        .expect("every item applied");
    assert_eq!(report.applied(), 3);
}

#[tokio::test]
async fn client_credentials_follow_the_base_url_whatever_the_order() {
    let auth = Auth::ephemeral(vec!["app:secret:manage".parse().unwrap()]).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let app = router(AppState::new(Store::in_memory(), auth));
    let _server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    // The credentials come first, naming no authority: the token endpoint is the emulator's, the base
    // URL's origin, settled when the client is built.
    let client = Client::builder()
        .client_credentials(TENANT, "app", "secret")
        .base_url(format!("{origin}/beta"))
        .build()
        .unwrap();
    assert_eq!(crossmap_client::authority_for(client.base_url()), origin);
    let entries = client
        .apply(&DeltaRequest::new(vec![DeltaItem::Upsert(group(1))]))
        .await
        .expect("a token from the emulator's own token endpoint");
    assert_eq!(entries[0].source_key(), Some(gkey(1)));
}

#[tokio::test]
async fn sync_sends_only_the_difference_and_removes_only_when_asked() {
    let (client, _server) = emulator().await;
    let desired = MemoryTable::from_mappings((0..20).map(group)).unwrap();
    let current = client.current::<Group>().await.unwrap();
    assert!(
        client
            .sync(&desired, &current, false, &ApplyOptions::default())
            .await
            .is_complete()
    );
    let current = client.current::<Group>().await.unwrap();
    assert_eq!(current.len(), 20);
    let again = client.sync(&desired, &current, false, &ApplyOptions::default()).await;
    assert!(again.items().is_empty(), "nothing to send the second time");
    let smaller = MemoryTable::from_mappings((0..15).map(group)).unwrap();
    assert!(
        client
            .sync(&smaller, &current, false, &ApplyOptions::default())
            .await
            .items()
            .is_empty()
    );
    let report = client.sync(&smaller, &current, true, &ApplyOptions::default()).await;
    assert_eq!(report.items().len(), 5);
    assert_eq!(client.current::<Group>().await.unwrap().len(), 15);
}

#[tokio::test]
async fn the_change_feed_of_the_emulator() {
    let (client, _server) = emulator().await;
    client
        .apply(&DeltaRequest::new(
            (0..3).map(|n| DeltaItem::Upsert(group(n))).collect(),
        ))
        .await
        .unwrap();
    let first = client.changes::<Group>(None).await.unwrap();
    assert_eq!(first.items.len(), 3);
    client
        .apply(&DeltaRequest::new(vec![DeltaItem::deleted(group(1).key_only())]))
        .await
        .unwrap();
    let next = client.changes::<Group>(Some(&first.delta_link)).await.unwrap();
    assert_eq!(next.items.len(), 1);
    assert!(next.items[0].is_removal());
}

#[tokio::test]
async fn cancelling_stops_before_sending() {
    let (client, _server) = emulator().await;
    let options = ApplyOptions::default();
    options.cancel.cancel();
    let report = client
        .apply_all((0..120).map(|n| DeltaItem::Upsert(group(n))).collect(), &options)
        .await;
    assert_eq!(report.not_sent(), 120);
    assert_eq!(client.current::<Group>().await.unwrap().len(), 0);
}

#[tokio::test]
async fn an_interrupted_sync_with_local_state_sends_only_what_is_missing() {
    // One request in flight, so that cancelling after the first chunk leaves the others unsent.
    let (client, _server) = emulator_with(1).await;
    let dir = std::env::temp_dir().join(format!("crossmap-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let state = crossmap_client::LocalState::new(&dir);
    let desired = MemoryTable::from_mappings((0..120).map(group)).unwrap();
    // Interrupted after the first chunk: cancel from the progress callback.
    let options = ApplyOptions::default();
    let cancel = options.cancel.clone();
    let options = ApplyOptions {
        progress: Some(Arc::new(move |_| cancel.cancel())),
        ..options
    };
    let first = client.sync_with_state(&desired, &state, false, &options).await.unwrap();
    let sent_first = first.applied();
    assert!(sent_first > 0 && sent_first < 120, "{sent_first}");
    assert_eq!(
        state.load::<Group>().unwrap().len(),
        sent_first,
        "only what was acknowledged is recorded"
    );
    // Run again: only the rest is sent.
    let second = client
        .sync_with_state(&desired, &state, false, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(second.items().len(), 120 - sent_first);
    assert!(second.is_complete());
    assert_eq!(client.current::<Group>().await.unwrap().len(), 120);
    let third = client
        .sync_with_state(&desired, &state, false, &ApplyOptions::default())
        .await
        .unwrap();
    assert!(third.items().is_empty());
    // A removal is recorded too.
    let fewer = MemoryTable::from_mappings((0..100).map(group)).unwrap();
    let removed = client
        .sync_with_state(&fewer, &state, true, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(removed.applied(), 20);
    assert_eq!(state.load::<Group>().unwrap().len(), 100);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn directory_reads_follow_every_page_and_count() {
    use crossmap_client::DirectoryQuery;
    let store = Store::in_memory();
    let mut seed = format!(
        "{{\"@odata.type\":\"#microsoft.graph.organization\",\"id\":\"{TENANT}\",\"displayName\":\"Contoso\",\"verifiedDomains\":[{{\"name\":\"contoso.com\",\"isDefault\":true}}]}}\n"
    );
    for n in 0..2_500u32 {
        seed.push_str(&format!(
            "{{\"@odata.type\":\"#microsoft.graph.user\",\"id\":\"00000000-0000-4000-8000-{n:012}\",\"userPrincipalName\":\"user{n}@contoso.com\",\"accountEnabled\":{}}}\n",
            n % 5 != 0
        ));
    }
    crossmap_server::seed_directory(&store, TENANT, &seed).unwrap();
    let auth = Auth::ephemeral(vec!["app:secret:directory".parse().unwrap()]).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = router(AppState::new(store, auth));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = Client::builder()
        .base_url(format!("{base}/beta"))
        .client_credentials(TENANT, "app", "secret")
        .build()
        .unwrap();

    // Three pages of 999, read from v1.0 although the client's root is beta.
    let users: Vec<_> = client.users(&DirectoryQuery::users()).collect().await;
    assert_eq!(users.len(), 2_500);
    assert!(users.iter().all(Result::is_ok));
    let first_requests = client.counters().requests.load(std::sync::atomic::Ordering::Relaxed);
    assert!(first_requests >= 3, "{first_requests} requests for three pages");

    // A filter with $count: the first page says how many match.
    let query = DirectoryQuery::users().filter("accountEnabled eq true").count(true);
    let pages: Vec<_> = client
        .directory_pages::<crossmap_model::directory::User>("users", &query)
        .collect()
        .await;
    let pages: Vec<_> = pages.into_iter().map(Result::unwrap).collect();
    assert_eq!(pages[0].count, Some(2_000));
    assert_eq!(pages.iter().map(|p| p.value.len()).sum::<usize>(), 2_000);

    let org = client.organization().await.unwrap();
    assert_eq!(org.display_name.value().map(String::as_str), Some("Contoso"));
}
