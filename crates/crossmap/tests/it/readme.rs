//! The README's "Use crossmap from your own code" test, run as written: the text between the markers
//! is the README's block, byte for byte (checked below).

// --- README.md example: begin
use crossmap::prelude::*;
use crossmap::testing::Emulator;

#[tokio::test]
async fn my_tool_pushes_the_map() -> Result<(), Box<dyn std::error::Error>> {
    // The emulator in this process: in memory, on a free port, with an app holding every role.
    let emulator = Emulator::start().await?;
    let client = emulator.client()?;

    // Two user mappings, built with the builders: the source organization, then source and target UPNs.
    let org: Guid = "11111111-1111-1111-1111-111111111111".parse()?;
    let ada = UserMapping::new(org, "ada@contoso.com", "ada@fabrikam.com").email("ada@fabrikam.com");
    let alan = UserMapping::new(org, "alan@contoso.com", "alan@fabrikam.com").user_type(UserType::GuestUser);
    let items = vec![DeltaItem::Upsert(ada), DeltaItem::Upsert(alan)];

    // Chunked, retried and paced; `into_result` turns any item that failed into an error.
    let report = client.apply_all(items, &ApplyOptions::default()).await.into_result()?;
    assert_eq!(report.applied(), 2);

    // Read one back by its source key, as Graph's alternate-key GET does.
    let key = UserKey::parse("alan@contoso.com")?;
    let alan: UserMapping = client.get(&key, None).await?.ok_or("not found")?;
    assert_eq!(alan.target_upn(), Some("alan@fabrikam.com"));

    // What reached the emulator: one delta PATCH of two items.
    let journal = emulator.journal().await?;
    let patches: Vec<_> = journal.iter().filter(|e| e.method == "PATCH").collect();
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].items, Some(2));

    // Between tests: forget every mapping (or start another emulator: each has its own state).
    emulator.reset().await?;
    assert!(client.get::<UserMapping>(&key, None).await?.is_none());
    Ok(())
}
// --- README.md example: end

#[test]
fn the_readme_shows_this_example_as_it_is() {
    use crossmap_test_support::shown;
    let example = shown::region(include_str!("readme.rs"), "README.md example");
    let readme = shown::workspace_file("README.md");
    assert!(
        shown::rust_block_after(&readme, "## Use crossmap from your own code") == example,
        "the Rust example in README.md differs from crates/crossmap/tests/it/readme.rs: copy it over"
    );
}
