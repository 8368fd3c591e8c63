//! Wire behaviour beyond the documented examples: PATCH states, unknown properties, evolvable enums.

use crossmap_model::{
    DeltaItem, DeltaRequest, Guid, Patch, RemovedReason, SharePointGroupIdentityMapping as Group,
    SharePointIdentityMappingGroupType as GroupType, SharePointUserIdentityMapping as User, StructuredType,
};
use serde_json::{Value, json};

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

#[test]
fn absent_null_and_set_stay_distinguishable_through_a_round_trip() {
    let v = json!({"targetGroupMigrationData": null, "groupType": "regularGroup"});
    let g: Group = parse(v.clone());
    assert!(g.target_group_migration_data.is_null());
    assert!(g.target_group_identity.is_absent());
    assert_eq!(g.group_type, Patch::Value(GroupType::RegularGroup));
    assert_eq!(serde_json::to_value(&g).unwrap(), v);
}

#[test]
fn unknown_properties_are_kept_and_detectable_and_annotations_are_not_properties() {
    let v = json!({
        "sourceGroupIdentity": {"id": "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa", "tenantId": "t"},
        "futureProperty": {"a": 1},
        "groupType@odata.type": "#microsoft.graph.sharePointIdentityMappingGroupType"
    });
    let g: Group = parse(v.clone());
    assert_eq!(g.unknown_properties().collect::<Vec<_>>(), ["futureProperty"]);
    assert_eq!(g.additional_properties.len(), 2);
    let identity = g.source_group_identity.value().unwrap();
    assert_eq!(identity.unknown_properties().collect::<Vec<_>>(), ["tenantId"]);
    assert_eq!(serde_json::to_value(&g).unwrap(), v);
}

#[test]
fn an_undeclared_enum_member_survives_and_is_flagged() {
    let v = json!({"groupType": "distributionList"});
    let g: Group = parse(v.clone());
    let t = g.group_type.value().unwrap();
    assert!(!t.is_known());
    assert_eq!(t, &GroupType::Other("distributionList".into()));
    assert_eq!(serde_json::to_value(&g).unwrap(), v);
    for m in GroupType::MEMBERS {
        assert!(GroupType::from_wire(m).is_known());
        assert_eq!(GroupType::from_wire(m).as_str(), *m);
    }
}

#[test]
fn a_repeated_property_is_an_error() {
    let e = serde_json::from_str::<Group>(r#"{"groupType":"none","groupType":"m365Group"}"#).unwrap_err();
    assert!(e.to_string().contains("duplicate field `groupType`"), "{e}");
    let e = serde_json::from_str::<Group>(r#"{"x":1,"x":2}"#).unwrap_err();
    assert!(e.to_string().contains("duplicate field `x`"), "{e}");
}

#[test]
fn a_bad_value_is_reported_with_its_path() {
    let body = r##"{"@context":"#$delta","value":[{},{"sourceOrganizationId":"not-a-guid"}]}"##;
    let de = &mut serde_json::Deserializer::from_str(body);
    let e = serde_path_to_error::deserialize::<_, DeltaRequest<Group>>(de).unwrap_err();
    assert_eq!(e.path().to_string(), "value[1].sourceOrganizationId");
    assert!(e.inner().to_string().contains("\"not-a-guid\" is not a GUID"), "{e}");

    let body = r##"{"@context":"#$delta","value":[{"targetUserMigrationData":{"email":5}}]}"##;
    let de = &mut serde_json::Deserializer::from_str(body);
    let e = serde_path_to_error::deserialize::<_, DeltaRequest<User>>(de).unwrap_err();
    assert_eq!(e.path().to_string(), "value[0].targetUserMigrationData.email");
    assert!(e.inner().to_string().contains("expected a string"), "{e}");
}

#[test]
fn removals_read_both_annotation_spellings_and_keep_unknown_reasons() {
    let r: DeltaItem<Group> = parse(json!({"@odata.removed": {"reason": "changed"}}));
    let DeltaItem::Removed { removed, .. } = &r else {
        panic!("a removal")
    };
    assert_eq!(removed.reason, Some(RemovedReason::Changed));
    // Written back in OData 4.01's spelling.
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        json!({"@removed": {"reason": "changed"}})
    );

    let r: DeltaItem<Group> = parse(json!({"@removed": {"reason": "archived"}}));
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        json!({"@removed": {"reason": "archived"}})
    );
    let r: DeltaItem<Group> = parse(json!({"@removed": {}}));
    assert!(matches!(r, DeltaItem::Removed { ref removed, .. } if removed.reason.is_none()));

    let both = json!({"@removed": {}, "@odata.removed": {}});
    assert!(serde_json::from_value::<DeltaItem<Group>>(both).is_err());
}

#[test]
fn guids_are_normalised_to_lower_case() {
    let g: Group = parse(json!({"sourceOrganizationId": "ABCDEF01-2345-6789-ABCD-EF0123456789"}));
    assert_eq!(
        g.source_organization_id.value().unwrap().to_string(),
        "abcdef01-2345-6789-abcd-ef0123456789"
    );
    for bad in [
        "abcdef0123456789abcdef0123456789",
        "{abcdef01-2345-6789-abcd-ef0123456789}",
        "",
        "g0000000-0000-0000-0000-000000000000",
    ] {
        assert!(bad.parse::<Guid>().is_err(), "{bad}");
    }
}

#[test]
fn property_metadata_comes_from_the_schema() {
    let p = Group::property("sourceOrganizationId").unwrap();
    assert_eq!((p.edm_type, p.nullable), ("Edm.Guid", false));
    assert_eq!(
        User::property("userType").unwrap().edm_type,
        "microsoft.graph.sharePointIdentityMappingUserType"
    );
    assert!(Group::property("userType").is_none());
    assert_eq!(User::ALTERNATE_KEY, "sourceUserPrincipalName");
    assert_eq!(
        Group::COLLECTION_PATH,
        "solutions/sharePoint/migrations/crossOrganizationGroupMappings"
    );
}

#[test]
fn metadata_document_is_served_from_the_same_schema() {
    let xml = crossmap_model::METADATA_XML;
    assert!(
        xml.contains(
            "<EntityType Name=\"sharePointUserIdentityMapping\" BaseType=\"graph.sharePointIdentityMapping\">"
        )
    );
    assert!(xml.contains("String=\"sourceGroupObjectId\""));
    assert!(
        !xml.contains("Comments here are ours"),
        "schema comments are not served"
    );
}

#[test]
fn the_compact_encoding_round_trips_everything_a_value_can_hold() {
    use crossmap_model::compact::Compact;
    let v = json!({
        "@odata.type": "#microsoft.graph.sharePointUserIdentityMapping",
        "id": "AQAAAAEAAAB1c2VyMUBjb250b3NvLmNvbQ",
        "deleted": null,
        "sourceOrganizationId": "11111111-1111-1111-1111-111111111111",
        "userType": "serviceAccount",
        "sourceUserIdentity": {"userPrincipalName": "zoë@contoso.com", "displayName": null, "x-custom": [1, {"a": "b"}]},
        "targetUserMigrationData": {},
        "futureProperty": {"nested": true}
    });
    let user: User = parse(v.clone());
    let bytes = user.to_compact();
    assert_eq!(User::from_compact(&bytes).unwrap(), user);
    assert_eq!(serde_json::to_value(User::from_compact(&bytes).unwrap()).unwrap(), v);
    // Declared members take one byte; equal values give equal bytes.
    let a: Group = parse(json!({"groupType": "m365Group"}));
    assert_eq!(
        a.to_compact(),
        parse::<Group>(json!({"groupType": "m365Group"})).to_compact()
    );
    assert!(a.to_compact().len() <= 3, "{:?}", a.to_compact());
    // Corrupt input is an error, not a panic.
    for cut in 0..bytes.len() {
        assert!(
            User::from_compact(&bytes[..cut]).is_err(),
            "a prefix of {cut} bytes decoded"
        );
    }
    let mut extra = bytes.clone();
    extra.push(0);
    assert!(User::from_compact(&extra).is_err());
}
