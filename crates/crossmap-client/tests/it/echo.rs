//! Against a service that answers with more than it was sent (undeclared properties, annotations,
//! `"deleted": null`), what was acknowledged is recorded in the request's terms: the next sync sends
//! nothing.

use crossmap_client::{ApplyOptions, Client, LocalState, StaticToken};
use crossmap_delta::{MappingTable, MemoryTable};
use crossmap_model::{SharePointGroupIdentityMapping as Group, SharePointUserIdentityMapping as User};
use crossmap_test_support::echo::EchoServer;
use serde_json::json;

const ORG: &str = "11111111-1111-1111-1111-111111111111";

fn users(n: u32) -> MemoryTable<User> {
    MemoryTable::from_mappings((0..n).map(|i| {
        serde_json::from_value(json!({"sourceOrganizationId": ORG, "userType": "guestUser",
            "sourceUserIdentity": {"userPrincipalName": format!("User{i}@Contoso.com")},
            "targetUserIdentity": {"userPrincipalName": format!("user{i}@fabrikam.com")},
            "targetUserMigrationData": {"email": format!("user{i}@fabrikam.com")}}))
        .unwrap()
    }))
    .unwrap()
}

fn groups(n: u32) -> MemoryTable<Group> {
    MemoryTable::from_mappings((0..n).map(|i| {
        serde_json::from_value(json!({"sourceOrganizationId": ORG, "groupType": "m365Group",
            "sourceGroupIdentity": {"id": format!("00000000-0000-0000-0000-{i:012}")},
            "targetGroupIdentity": {"id": format!("99999999-0000-0000-0000-{i:012}")},
            "targetGroupMigrationData": {"mailNickname": format!("group{i}")}}))
        .unwrap()
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
                first.is_complete() && first.items.len() == 120,
                "{:?}",
                first.items.len()
            );
            assert!(first_groups.is_complete() && first_groups.items.len() == 60);
        }
        let sent = server.items_received();
        let again = client.sync_with_state(&u, &state, remove, &options).await.unwrap();
        let again_groups = client.sync_with_state(&g, &state, remove, &options).await.unwrap();
        assert_eq!((again.items.len(), again_groups.items.len()), (0, 0), "remove={remove}");
        assert_eq!(server.items_received(), sent, "remove={remove}");
    }
    // The echo's undeclared properties are kept beside the record, not compared.
    let recorded = state.load::<User>().unwrap();
    let (_, ann) = recorded.iter().next().unwrap();
    assert!(ann.additional_properties.contains_key("futureProperty"), "{ann:?}");
    assert_eq!(recorded.len(), 120);
}
