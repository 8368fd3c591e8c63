//! What a migration tool's author writes in a first hour, with only `crossmap::prelude` and
//! `crossmap::testing` imported: a run chunked to 50, a removal, the lists read back, a throttled PATCH
//! retried.

use crossmap::prelude::*;
use crossmap::testing::{Emulator, FaultConfig, FaultMatch, FaultRule};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::test]
async fn a_run_of_150_mappings_is_chunked_to_50_and_read_back_after_a_removal() -> Result {
    let emulator = Emulator::start().await?;
    let client = emulator.client()?;
    let org = Guid::from_u128(0x2222);
    let users: Vec<_> = (0..120)
        .map(|i| UserMapping::new(org, format!("u{i}@contoso.com"), format!("u{i}@fabrikam.com")))
        .map(DeltaItem::Upsert)
        .collect();
    // The report `into_result()?` gives back may be dropped without a warning.
    client.apply_all(users, &ApplyOptions::default()).await.into_result()?;
    let groups: Vec<_> = (0..30)
        .map(|i| GroupMapping::new(org, Guid::from_u128(1000 + i), Guid::from_u128(2000 + i)))
        .map(DeltaItem::Upsert)
        .collect();
    client.apply_all(groups, &ApplyOptions::default()).await.into_result()?;

    let mut sizes: Vec<usize> = emulator.journal().await?.iter().filter_map(|e| e.items).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [20, 30, 50, 50]);

    let gone = UserKey::parse("u7@contoso.com")?;
    // The key's type says which collection: no annotation needed.
    client
        .apply_all(vec![DeltaItem::remove(&gone)], &ApplyOptions::default())
        .await
        .into_result()?;

    // No stream library needed to read a collection.
    let users: Vec<UserMapping> = client.list_all().await?;
    assert_eq!(users.len(), 119);
    assert!(users.iter().all(|u| u.source_key().as_ref() != Some(&gone)));
    assert_eq!(client.list_all::<GroupMapping>().await?.len(), 30);
    Ok(())
}

#[tokio::test]
async fn a_429_on_the_first_patch_is_retried_after_its_retry_after() -> Result {
    let emulator = Emulator::start().await?;
    let client = emulator.client()?;
    let org = Guid::from_u128(0x2222);
    let items = vec![DeltaItem::Upsert(UserMapping::new(
        org,
        "ada@contoso.com",
        "ada@fabrikam.com",
    ))];
    // --- README.md faults: begin
    // Only the first PATCH: `times` caps how often a rule fires.
    let faults = r#"{"rules": [{"match": {"method": "PATCH"}, "times": 1, "status": 429, "retryAfter": "1"}]}"#;
    emulator.set_faults(&FaultConfig::from_json(faults)?).await?;
    let report = client.apply_all(items, &ApplyOptions::default()).await.into_result()?;
    assert_eq!(report.throttled(), 1); // and the journal shows the retry: `retry_attempt == Some(1)`
    // --- README.md faults: end
    // The same rule, typed.
    let typed = FaultRule {
        matches: Some(FaultMatch {
            method: Some("PATCH".into()),
            path: None,
        }),
        times: Some(1),
        status: Some(429),
        retry_after: Some("1".into()),
        ..FaultRule::default()
    };
    assert_eq!(FaultConfig::from_json(faults)?.rules, [typed]);
    assert!(
        report.waited() >= std::time::Duration::from_millis(900),
        "{:?}",
        report.waited()
    );

    let patches: Vec<_> = emulator
        .journal()
        .await?
        .into_iter()
        .filter(|e| e.method == "PATCH")
        .map(|e| (e.status, e.retry_attempt, e.fault))
        .collect();
    assert_eq!(
        patches,
        [
            (Some(429), None, Some("rule 0: 429".to_owned())),
            (Some(200), Some(1), None)
        ]
    );
    assert!(
        client
            .get::<UserMapping>(&UserKey::parse("ada@contoso.com")?, None)
            .await?
            .is_some()
    );
    Ok(())
}

#[tokio::test]
async fn an_invalid_item_is_named_by_its_place_in_the_input_and_nothing_of_its_request_is_sent() -> Result {
    let emulator = Emulator::start().await?;
    let client = emulator.client()?;
    let org = Guid::from_u128(0x3333);
    let mut users: Vec<_> = (0..120)
        .map(|i| UserMapping::new(org, format!("u{i}@contoso.com"), format!("u{i}@fabrikam.com")))
        .map(DeltaItem::Upsert)
        .collect();
    users[75] = DeltaItem::Upsert(UserMapping::new(org, "u75@contoso.com", "not a upn"));

    let e = client
        .apply_all(users, &ApplyOptions::default())
        .await
        .into_result()
        .unwrap_err();
    // Its request of 50 (input items 50..=99) is refused whole, as Graph would; the others are applied.
    assert_eq!((e.failed(), e.not_sent(), e.total()), (50, 0, 120));
    let invalid = e.invalid_items();
    assert_eq!(invalid.len(), 1);
    let (index, item) = &invalid[0];
    assert_eq!((*index, item.index), (75, 25), "the input's index and the request's");
    assert_eq!(item.property, "targetUserIdentity.userPrincipalName");
    assert!(
        e.to_string()
            .contains("items 50..=99: the request is invalid and was not sent: nothing was applied: item 75 of the input (value[25] of its request), targetUserIdentity.userPrincipalName: "),
        "{e}"
    );
    // What a test's failing `?` prints: the message and each failed run, not a struct dump.
    let debug = format!("{e:?}");
    assert!(
        debug.starts_with("50 of 120 items were not applied (50 failed, 0 not sent)\n    items 50..=99: "),
        "{debug}"
    );
    assert_eq!(client.list_all::<UserMapping>().await?.len(), 70);
    Ok(())
}

#[test]
fn the_readme_shows_the_fault_example_as_it_is() {
    use crossmap_test_support::shown;
    let example = shown::region(include_str!("first_hour.rs"), "README.md faults");
    assert!(
        shown::workspace_file("README.md").contains(&example),
        "README.md's fault example differs from crates/crossmap/tests/it/first_hour.rs: copy it over"
    );
}
