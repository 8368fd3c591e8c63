//! The model's builders against the engine: what `UserMapping::new` / `GroupMapping::new` give is a create
//! the service accepts as is, and exactly what it stores, so a mapping read back equals the one built.

use crossmap_delta::{MappingTable, MemoryTable, Mode, Outcome, Rules, canonical, parse_request, prepare_parsed};
use crossmap_model::prelude::*;
use serde_json::json;

fn org() -> Guid {
    "11111111-1111-1111-1111-111111111111".parse().unwrap()
}

/// Sends `built` as the one item of a JSON delta request to an empty table, as the emulator would, and
/// checks it is accepted, answered and stored exactly as built (with its id).
fn accepted_as_built<M: Rules>(built: M) {
    let body = json!({"@context": "#$delta", "value": [&built]}).to_string();
    let mut table = MemoryTable::<M>::new();
    let parsed = parse_request::<M>(&body).unwrap_or_else(|e| panic!("{body}: {e}"));
    let prepared = prepare_parsed(&table, parsed, Mode::Atomic).unwrap_or_else(|e| panic!("{body}: refused: {e}"));
    let outcomes = prepared.commit(&mut table);
    let key = built.source_key_checked().expect("a key").expect("a valid key");
    let mut expected = built.clone();
    *expected.id_mut() = Patch::Value(M::id_of(&key));
    match &outcomes[..] {
        [Outcome::Upserted { created: true, mapping }] => assert_eq!(mapping, &expected, "the answer"),
        other => panic!("{body}: {other:?}"),
    }
    assert_eq!(table.get(&key).as_ref(), Some(&expected), "what is stored");
    let (_, canonical) = canonical(0, built.clone()).expect("valid");
    assert_eq!(
        canonical, expected,
        "a built mapping is in canonical form but for its id"
    );
}

#[test]
fn a_user_mapping_built_by_new_is_accepted_and_stored_as_built() {
    accepted_as_built(UserMapping::new(org(), "ann@contoso.com", "ann@fabrikam.com"));
    accepted_as_built(
        UserMapping::new(
            org(),
            "ann_fabrikam.com#EXT#@contoso.onmicrosoft.com",
            "ann@fabrikam.com",
        )
        .email("ann.b@fabrikam.com")
        .user_type(UserType::GuestUser)
        .target_id(Guid::from_u128(2))
        .display_name("Ann B")
        .source_id(Guid::from_u128(1))
        .source_display_name("Ann"),
    );
}

#[test]
fn a_group_mapping_built_by_new_is_accepted_and_stored_as_built() {
    accepted_as_built(GroupMapping::new(org(), Guid::from_u128(1), Guid::from_u128(2)));
    accepted_as_built(
        GroupMapping::new(org(), Guid::from_u128(1), Guid::from_u128(2))
            .group_type(GroupType::M365Group)
            .mail_nickname("sales")
            .display_name("Sales")
            .source_display_name("Sales (old)"),
    );
}

#[test]
fn malformed_values_given_to_a_builder_are_refused_by_the_engine() {
    let body = json!({"@context": "#$delta", "value": [
        UserMapping::new(org(), "ann@contoso.com", "two words@fabrikam.com")
    ]})
    .to_string();
    let table = MemoryTable::<UserMapping>::new();
    let e = prepare_parsed(&table, parse_request::<UserMapping>(&body).unwrap(), Mode::Atomic)
        .map(drop)
        .expect_err("refused");
    assert!(e.to_string().contains("targetUserIdentity.userPrincipalName"), "{e}");
}
