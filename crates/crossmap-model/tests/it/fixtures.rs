//! Every JSON example of the reference pages parses into the typed model and serialises back unchanged.

use crossmap_model::{
    CollectionResponse, DeltaItem, DeltaRequest, EntityResponse, GroupType, IdentityMapping, MappingKey,
    SharePointGroupIdentityMapping as Group, SharePointUserIdentityMapping as User, StructuredType, UserKey, UserType,
};
use crossmap_test_support::{fixture, fixture_names};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Parses `name` as `T`, serialises it again, and compares the two as JSON values.
fn round_trip<T: DeserializeOwned + Serialize>(name: &str) -> T {
    let text = fixture(name);
    let typed: T = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let again = serde_json::to_value(&typed).unwrap();
    let original: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(again, original, "{name} does not survive a round trip");
    typed
}

const EXAMPLES: &[&str] = &[
    "group_update_request.json",
    "group_update_response.json",
    "group_get_response.json",
    "user_update_request.json",
    "user_update_response.json",
    "user_get_response.json",
];

#[test]
fn every_fixture_is_covered_by_a_test() {
    let mut covered: Vec<&str> = EXAMPLES.to_vec();
    covered.push("group_resource_representation.json");
    covered.push("README.md");
    for name in fixture_names() {
        assert!(covered.contains(&name.as_str()), "fixture {name} is not tested here");
    }
}

#[test]
fn group_update_request_round_trips() {
    let request: DeltaRequest<Group> = round_trip("group_update_request.json");
    assert!(request.is_delta());
    assert!(matches!(request.value[0], DeltaItem::Upsert(_)));
    assert!(request.value[1].is_removal());
    for item in &request.value {
        assert!(
            item.entity().additional_properties.is_empty(),
            "no unknown properties in the example"
        );
    }
}

#[test]
fn user_update_request_round_trips() {
    let request: DeltaRequest<User> = round_trip("user_update_request.json");
    assert!(request.is_delta());
    let DeltaItem::Upsert(user) = &request.value[0] else {
        panic!("first item upserts")
    };
    assert_eq!(user.user_type.value().map(|t| t.as_str()), Some("regularUser"));
    assert!(request.value[1].is_removal());
}

/// The first item of a documented update request, as JSON.
fn documented_upsert(name: &str) -> Value {
    let request: Value = serde_json::from_str(&fixture(name)).unwrap();
    request["value"][0].clone()
}

#[test]
fn the_documented_user_upsert_is_a_builder_chain() {
    let org = "11111111-1111-1111-1111-111111111111".parse().unwrap();
    let built = User::new(org, "user1@contoso.com", "admin@a830edad9050849ken005.onmicrosoft.com")
        .email("admin@a830edad9050849ken005.onmicrosoft.com")
        .user_type(UserType::RegularUser);
    let documented = documented_upsert("user_update_request.json");
    assert_eq!(serde_json::to_value(&built).unwrap(), documented);
    let parsed: User = serde_json::from_value(documented).unwrap();
    assert_eq!(parsed, built, "the documented item parses to the same value");
}

#[test]
fn the_documented_group_upsert_is_a_builder_chain() {
    let org = "11111111-1111-1111-1111-111111111111".parse().unwrap();
    let source = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa".parse().unwrap();
    let target = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb".parse().unwrap();
    let built = Group::new(org, source, target)
        .group_type(GroupType::M365Group)
        .mail_nickname("targetGroup");
    let documented = documented_upsert("group_update_request.json");
    assert_eq!(serde_json::to_value(&built).unwrap(), documented);
    let parsed: Group = serde_json::from_value(documented).unwrap();
    assert_eq!(parsed, built, "the documented item parses to the same value");
}

#[test]
fn accessors_read_the_documented_response() {
    let response: CollectionResponse<User> = serde_json::from_str(&fixture("user_update_response.json")).unwrap();
    let upserted = &response.value[0];
    assert_eq!(upserted.id(), Some("AQAAAAEAAAB1c2VyMUBjb250b3NvLmNvbQ"));
    assert_eq!(
        upserted.source_key(),
        Some(UserKey::parse("user1@contoso.com").unwrap())
    );
    assert_eq!(
        upserted.target_upn(),
        Some("admin@a830edad9050849ken005.onmicrosoft.com")
    );
    assert_eq!(
        upserted.target_email(),
        Some("admin@a830edad9050849ken005.onmicrosoft.com")
    );
    assert_eq!(upserted.get_user_type(), Some(&UserType::RegularUser));
    assert_eq!(
        upserted.source_organization_id().map(|g| g.to_string()).as_deref(),
        Some("11111111-1111-1111-1111-111111111111")
    );
    let response: EntityResponse<Group> = serde_json::from_str(&fixture("group_get_response.json")).unwrap();
    let group = &response.entity;
    assert_eq!(
        group.id(),
        Some("AQAAAAIAAABhYWFhYWFhYS1hYWFhLWFhYWEtYWFhYS1hYWFhYWFhYWFhYWE")
    );
    assert_eq!(
        group.source_key().map(|k| k.to_string()).as_deref(),
        Some("aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa")
    );
    assert!(group.target_group_id().is_some());
    assert!(group.get_group_type().is_some());
}

/// The documented ids are the encoding of each item's source key.
fn ids_match_keys<T: IdentityMapping>(items: &[T]) {
    for item in items {
        let key = item.source_key_checked().expect("a source key").expect("a valid key");
        assert_eq!(
            item.id_patch().value().map(String::as_str),
            Some(T::id_of(&key).as_str()),
            "id of {key}"
        );
    }
}

#[test]
fn group_update_response_round_trips_and_ids_match() {
    let response: CollectionResponse<Group> = round_trip("group_update_response.json");
    assert!(
        response
            .context
            .as_deref()
            .unwrap()
            .ends_with("crossOrganizationGroupMappings/$delta")
    );
    ids_match_keys(&response.value);
    assert_eq!(
        response.value[1]
            .deleted
            .value()
            .and_then(|d| d.state.value())
            .map(String::as_str),
        Some("deleted")
    );
}

#[test]
fn user_update_response_round_trips_and_ids_match() {
    let response: CollectionResponse<User> = round_trip("user_update_response.json");
    ids_match_keys(&response.value);
}

#[test]
fn group_get_response_round_trips() {
    let response: EntityResponse<Group> = round_trip("group_get_response.json");
    assert!(response.context.as_deref().unwrap().ends_with("/$entity"));
    assert!(
        response.entity.additional_properties.is_empty(),
        "@odata.context is not an entity property"
    );
    ids_match_keys(std::slice::from_ref(&response.entity));
    let key = response.entity.source_key().unwrap();
    assert_eq!(
        key.to_segment(),
        "crossOrganizationGroupMappings(sourceGroupObjectId='aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa')"
    );
}

#[test]
fn user_get_response_round_trips_with_odata_types() {
    let response: EntityResponse<User> = round_trip("user_get_response.json");
    let user = &response.entity;
    assert_eq!(user.odata_type.as_deref(), Some(User::ODATA_TYPE));
    assert!(user.odata_type_matches());
    assert!(user.source_user_identity.value().unwrap().odata_type_matches());
    ids_match_keys(std::slice::from_ref(user));
}

#[test]
fn resource_representation_lists_exactly_the_declared_properties() {
    let sketch: serde_json::Map<String, Value> =
        serde_json::from_str(&fixture("group_resource_representation.json")).unwrap();
    let mut documented: Vec<&str> = sketch
        .keys()
        .map(String::as_str)
        .filter(|k| !k.starts_with('@'))
        .collect();
    let mut declared: Vec<&str> = Group::PROPERTIES.iter().map(|p| p.name).collect();
    documented.sort_unstable();
    declared.sort_unstable();
    assert_eq!(documented, declared);
    assert_eq!(sketch["@odata.type"], Group::ODATA_TYPE);
}

/// The model's own readers (`from_json`, what the docs show on these very bodies) agree with serde's.
#[test]
fn the_model_reads_every_documented_body_without_serde_json() {
    fn same<T: PartialEq + std::fmt::Debug + DeserializeOwned>(name: &str, read: impl Fn(&str) -> T) {
        let text = fixture(name);
        assert_eq!(read(&text), serde_json::from_str::<T>(&text).unwrap(), "{name}");
    }
    same("user_update_request.json", |t| {
        DeltaRequest::<User>::from_json(t).unwrap()
    });
    same("group_update_request.json", |t| {
        DeltaRequest::<Group>::from_json(t).unwrap()
    });
    same("user_update_response.json", |t| {
        CollectionResponse::<User>::from_json(t).unwrap()
    });
    same("group_update_response.json", |t| {
        CollectionResponse::<Group>::from_slice(t.as_bytes()).unwrap()
    });
    same("user_get_response.json", |t| {
        EntityResponse::<User>::from_json(t).unwrap()
    });
    same("group_get_response.json", |t| {
        EntityResponse::<Group>::from_slice(t.as_bytes()).unwrap()
    });
    // A body read as the wrong envelope says which it was reading.
    let e = DeltaRequest::<User>::from_json(&fixture("user_get_response.json")).unwrap_err();
    assert_eq!(e.what, "a delta request");
}
