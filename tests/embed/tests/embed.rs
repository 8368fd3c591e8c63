//! A user's test: the emulator in one line, three mappings built with the builders, one read back.

use crossmap::prelude::*;
use crossmap::testing::Emulator;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::test]
async fn push_three_mappings_and_read_one_back() -> Result {
    let emulator = Emulator::start().await?;
    let client = emulator.client()?;
    let org: Guid = "11111111-1111-1111-1111-111111111111".parse()?;
    let items = vec![
        DeltaItem::Upsert(UserMapping::new(org, "ada@contoso.com", "ada@fabrikam.com").email("ada@fabrikam.com")),
        DeltaItem::Upsert(
            UserMapping::new(org, "alan@contoso.com", "alan@fabrikam.com").user_type(UserType::GuestUser),
        ),
        DeltaItem::Upsert(UserMapping::new(org, "grace@contoso.com", "grace@fabrikam.com")),
    ];
    let report = client.apply_all(items, &ApplyOptions::default()).await.into_result()?;
    assert_eq!(report.applied(), 3);

    let alan: UserMapping = client
        .get(&UserKey::parse("Alan@Contoso.com")?, None)
        .await?
        .ok_or("alan's mapping is not there")?;
    assert_eq!(alan.target_upn(), Some("alan@fabrikam.com"));
    assert_eq!(alan.get_user_type(), Some(&UserType::GuestUser));
    assert_eq!(alan.source_organization_id(), Some(org));
    assert!(alan.id().is_some());
    Ok(())
}
