//! Against a service that answers with more than it was sent (undeclared properties, annotations,
//! `"deleted": null`), what was acknowledged is recorded in the request's terms: the next sync sends
//! nothing.

use crossmap_client::{ApplyOptions, Client, LocalState, StaticToken};
use crossmap_delta::{MappingTable, MemoryTable};
use crossmap_model::{GroupMapping as Group, GroupType, Guid, UserMapping as User, UserType};
use crossmap_test_support::echo::EchoServer;

const ORG: &str = "11111111-1111-1111-1111-111111111111";

fn org() -> Guid {
    ORG.parse().unwrap()
}

fn users(n: u32) -> MemoryTable<User> {
    MemoryTable::from_mappings((0..n).map(|i| {
        User::new(org(), format!("User{i}@Contoso.com"), format!("user{i}@fabrikam.com"))
            .email(format!("user{i}@fabrikam.com"))
            .user_type(UserType::GuestUser)
    }))
    .unwrap()
}

fn groups(n: u32) -> MemoryTable<Group> {
    let guid = |prefix: &str, i: u32| format!("{prefix}-0000-0000-0000-{i:012}").parse().unwrap();
    MemoryTable::from_mappings((0..n).map(|i| {
        Group::new(org(), guid("00000000", i), guid("99999999", i))
            .group_type(GroupType::M365Group)
            .mail_nickname(format!("group{i}"))
    }))
    .unwrap()
}

#[tokio::test]
async fn a_second_sync_against_an_echoing_service_sends_nothing() {
    let server = EchoServer::start();
    let client = Client::builder()
        .base_url(&server.base_url)
        .token_provider(StaticToken::new("t"))
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = LocalState::new(dir.path());
    let options = ApplyOptions::default();
    for remove in [false, true] {
        let (u, g) = (users(120), groups(60));
        let first = client.sync_with_state(&u, &state, remove, &options).await.unwrap();
        let first_groups = client.sync_with_state(&g, &state, remove, &options).await.unwrap();
        if !remove {
            assert!(
                first.is_complete() && first.items().len() == 120,
                "{:?}",
                first.items().len()
            );
            assert!(first_groups.is_complete() && first_groups.items().len() == 60);
        }
        let sent = server.items_received();
        let again = client.sync_with_state(&u, &state, remove, &options).await.unwrap();
        let again_groups = client.sync_with_state(&g, &state, remove, &options).await.unwrap();
        assert_eq!(
            (again.items().len(), again_groups.items().len()),
            (0, 0),
            "remove={remove}"
        );
        assert_eq!(server.items_received(), sent, "remove={remove}");
    }
    // The echo's undeclared properties are kept beside the record, not compared.
    let recorded = state.load::<User>().unwrap();
    let (_, ann) = recorded.iter().next().unwrap();
    assert!(ann.additional_properties.contains_key("futureProperty"), "{ann:?}");
    assert_eq!(recorded.len(), 120);
}
