//! docs/delta-semantics.md, rule by rule: each `rule_NN_*` test is that rule's example, driven the way the
//! emulator drives the engine (a body's text, read item by item, then prepared against a table).

use crossmap_delta::{
    MappingTable, MemoryTable, Mode, Outcome, Prepared, RequestError, chunk, one_to_one, parse_request, plan,
    prepare_parsed,
};
use crossmap_model::{
    CollectionResponse, GroupKey, SharePointGroupIdentityMapping as Group, SharePointUserIdentityMapping as User,
};
use crossmap_test_support::fixture;
use serde_json::{Value, json};

const A: &str = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa";
const B: &str = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb";
const C: &str = "cccccccc-cccc-cccc-cccc-cccccccccccc";
const ORG: &str = "11111111-1111-1111-1111-111111111111";

fn body(items: Value) -> String {
    json!({"@context": "#$delta", "value": items}).to_string()
}

fn try_apply<M: crossmap_delta::Rules>(
    table: &mut MemoryTable<M>,
    body: &str,
    mode: Mode,
) -> Result<Vec<Outcome<M>>, RequestError> {
    let parsed = parse_request::<M>(body)?;
    let prepared: Prepared<M> = prepare_parsed(&*table, parsed, mode)?;
    Ok(prepared.commit(table))
}

fn apply_ok<M: crossmap_delta::Rules>(table: &mut MemoryTable<M>, items: Value) -> Vec<Value> {
    try_apply(table, &body(items), Mode::Atomic)
        .unwrap_or_else(|e| panic!("refused: {e}"))
        .iter()
        .map(|o| serde_json::to_value(o.entry().expect("no failure")).unwrap())
        .collect()
}

fn refused<M: crossmap_delta::Rules>(table: &mut MemoryTable<M>, body: &str) -> RequestError {
    let before = table.clone();
    let e = try_apply(table, body, Mode::Atomic)
        .map(|o| o.len())
        .expect_err("the request is refused");
    assert_eq!(table, &before, "a refused request changed the table");
    e
}

fn group(source: &str, target: &str) -> Value {
    json!({"sourceOrganizationId": ORG, "groupType": "m365Group", "sourceGroupIdentity": {"id": source}, "targetGroupIdentity": {"id": target}})
}

fn stored(table: &MemoryTable<Group>, source: &str) -> Value {
    serde_json::to_value(table.get(&GroupKey::parse(source).unwrap()).expect("stored")).unwrap()
}

#[test]
fn rule_01_the_body_must_be_a_delta_payload() {
    let mut t = MemoryTable::<Group>::new();
    for bad in [r#"{"value": []}"#, r##"{"@context": "#$entity", "value": []}"##] {
        assert!(matches!(refused(&mut t, bad), RequestError::NotDelta { .. }), "{bad}");
    }
    for bad in [
        "not json",
        r##"{"@context": "#$delta"}"##,
        r##"{"@context": "#$delta", "value": {}}"##,
        r##"{"@context": "#$delta", "value": [], "extra": 1}"##,
    ] {
        assert!(matches!(refused(&mut t, bad), RequestError::Malformed { .. }), "{bad}");
    }
    // OData 4.0's spelling and instance annotations are fine.
    try_apply(&mut t, r##"{"@odata.context": "https://graph.microsoft.com/beta/$metadata#x/$delta", "value": [], "@odata.etag": "x"}"##, Mode::Atomic).unwrap();
}

#[test]
fn rule_02_at_most_50_items() {
    let mut t = MemoryTable::<Group>::new();
    let fifty: Vec<Value> = (0..50)
        .map(|i| group(&format!("00000000-0000-0000-0000-{i:012}"), B))
        .collect();
    assert_eq!(apply_ok(&mut t, Value::Array(fifty.clone())).len(), 50);
    let mut fifty_one = fifty;
    fifty_one.push(group(A, B));
    let e = refused(&mut t, &body(Value::Array(fifty_one)));
    assert_eq!(e, RequestError::TooManyItems { count: 51 });
    assert!(e.to_string().contains("at most 50"), "{e}");
    assert!(apply_ok(&mut t, json!([])).is_empty());
}

#[test]
fn rule_03_an_item_is_named_by_its_normalised_source_key() {
    let mut t = MemoryTable::<Group>::new();
    apply_ok(&mut t, json!([group(&A.to_uppercase(), B)]));
    assert_eq!(
        stored(&t, A)["id"],
        "AQAAAAIAAABhYWFhYWFhYS1hYWFhLWFhYWEtYWFhYS1hYWFhYWFhYWFhYWE"
    );
    let e = refused(&mut t, &body(json!([{"sourceOrganizationId": ORG}])));
    assert!(
        e.to_string().contains("item 0, sourceGroupIdentity.id: is required"),
        "{e}"
    );
    let e = refused(&mut t, &body(json!([{"sourceGroupIdentity": null}])));
    assert!(e.to_string().contains("must not be null"), "{e}");
    let e = refused(&mut t, &body(json!([{"sourceGroupIdentity": {"id": "nope"}}])));
    assert!(e.to_string().contains("is not a GUID"), "{e}");

    // Users: the UPN without regard to case.
    let mut u = MemoryTable::<User>::new();
    let user = |upn: &str, email: &str| json!({"sourceOrganizationId": ORG, "sourceUserIdentity": {"userPrincipalName": upn}, "targetUserIdentity": {"userPrincipalName": "t@fabrikam.com"}, "targetUserMigrationData": {"email": email}});
    apply_ok(&mut u, json!([user("Ann@Contoso.com", "a@fabrikam.com")]));
    apply_ok(&mut u, json!([user("ann@contoso.COM", "b@fabrikam.com")]));
    assert_eq!(u.len(), 1);
}

#[test]
fn rule_04_a_create_needs_the_organisation_and_the_target_and_defaults_the_type() {
    let mut t = MemoryTable::<Group>::new();
    let out = apply_ok(
        &mut t,
        json!([{"sourceOrganizationId": ORG, "sourceGroupIdentity": {"id": A}, "targetGroupIdentity": {"id": B}}]),
    );
    assert_eq!(
        out[0],
        json!({"id": "AQAAAAIAAABhYWFhYWFhYS1hYWFhLWFhYWEtYWFhYS1hYWFhYWFhYWFhYWE", "sourceOrganizationId": ORG, "groupType": "none", "sourceGroupIdentity": {"id": A}, "targetGroupIdentity": {"id": B}})
    );
    let e = refused(
        &mut t,
        &body(json!([{"sourceGroupIdentity": {"id": C}, "targetGroupIdentity": {"id": B}}])),
    );
    assert!(
        e.to_string()
            .contains("item 0, sourceOrganizationId: is required to create a mapping"),
        "{e}"
    );
    let e = refused(
        &mut t,
        &body(json!([{"sourceGroupIdentity": {"id": C}, "sourceOrganizationId": ORG}])),
    );
    assert!(
        e.to_string()
            .contains("targetGroupIdentity.id: is required to create a mapping"),
        "{e}"
    );
}

#[test]
fn rule_05_an_upsert_of_an_existing_key_merges() {
    let mut t = MemoryTable::<Group>::new();
    let mut first = group(A, B);
    first["targetGroupIdentity"]["displayName"] = json!("B");
    first["targetGroupMigrationData"] = json!({"mailNickname": "b"});
    apply_ok(&mut t, json!([first]));
    let out = apply_ok(
        &mut t,
        json!([{"sourceGroupIdentity": {"id": A}, "targetGroupIdentity": {"displayName": null}, "id": "ignored", "deleted": {"state": "x"}}]),
    );
    let expected = json!({"id": "AQAAAAIAAABhYWFhYWFhYS1hYWFhLWFhYWEtYWFhYS1hYWFhYWFhYWFhYWE", "sourceOrganizationId": ORG, "groupType": "m365Group",
        "sourceGroupIdentity": {"id": A}, "targetGroupIdentity": {"id": B}, "targetGroupMigrationData": {"mailNickname": "b"}});
    assert_eq!(out[0], expected);
    assert_eq!(stored(&t, A), expected);
    // A property every mapping holds cannot be cleared.
    let e = refused(
        &mut t,
        &body(json!([{"sourceGroupIdentity": {"id": A}, "targetGroupIdentity": {"id": null}}])),
    );
    assert!(
        e.to_string().contains("targetGroupIdentity.id: must not be cleared"),
        "{e}"
    );
    // Users: sourceUserPrincipalName is the service's, ignored when sent.
    let mut u = MemoryTable::<User>::new();
    let out = apply_ok(
        &mut u,
        json!([{"sourceOrganizationId": ORG, "sourceUserPrincipalName": "x@y.z", "sourceUserIdentity": {"userPrincipalName": "a@b.c"}, "targetUserIdentity": {"userPrincipalName": "d@e.f"}}]),
    );
    assert!(out[0].get("sourceUserPrincipalName").is_none());
}

#[test]
fn rule_06_removed_removes_and_removing_nothing_succeeds() {
    let mut t = MemoryTable::<Group>::new();
    apply_ok(&mut t, json!([group(A, B), group(C, B), group(B, A)]));
    let out = apply_ok(
        &mut t,
        json!([
            {"@removed": {"reason": "deleted"}, "sourceGroupIdentity": {"id": A}},
            {"@removed": {"reason": "changed", "@ns.note": "annotations are allowed"}, "sourceGroupIdentity": {"id": C}},
            {"@odata.removed": {}, "sourceGroupIdentity": {"id": B}},
        ]),
    );
    assert!(t.is_empty());
    assert_eq!(out.len(), 3);
    // A tombstone as the feed serves it (id and deleted are the service's, ignored) removes too.
    apply_ok(&mut t, json!([group(A, B)]));
    let tombstone = apply_ok(
        &mut t,
        json!([{"@removed": {"reason": "deleted"}, "sourceGroupIdentity": {"id": A}}]),
    );
    apply_ok(&mut t, json!([group(A, B)]));
    let mut again = tombstone[0].clone();
    again["@removed"] = json!({"reason": "deleted"});
    apply_ok(&mut t, json!([again]));
    assert!(t.is_empty());
    // The annotation is an object with a known reason, and the item holds only declared properties.
    apply_ok(&mut t, json!([group(A, B)]));
    let removal = |removed: Value, identity: Value, extra: Option<(&str, Value)>| {
        let mut item = json!({"@removed": removed, "sourceGroupIdentity": identity});
        if let Some((k, v)) = extra {
            item[k] = v;
        }
        body(json!([item]))
    };
    let cases = [
        (
            removal(json!({"reason": "archived"}), json!({"id": A}), None),
            "value[0].@removed.reason",
            "not a removal reason",
        ),
        (
            removal(json!([]), json!({"id": A}), None),
            "value[0].@removed",
            "must be an object",
        ),
        (
            removal(json!(["deleted"]), json!({"id": A}), None),
            "value[0].@removed",
            "not an array",
        ),
        (
            removal(json!("deleted"), json!({"id": A}), None),
            "value[0].@removed",
            "not a string",
        ),
        (
            removal(json!({"reason": "deleted", "foo": 1}), json!({"id": A}), None),
            "value[0].@removed.foo",
            "is not a property of @removed",
        ),
        (
            removal(json!({"reason": "deleted"}), json!({"id": A}), Some(("foo", json!(1)))),
            "value[0].foo",
            "is not a property of microsoft.graph.sharePointGroupIdentityMapping",
        ),
        (
            removal(json!({"reason": "deleted"}), json!({"id": A, "foo": 1}), None),
            "value[0].sourceGroupIdentity.foo",
            "is not a property of microsoft.graph.identity",
        ),
        (
            removal(
                json!({"reason": "deleted"}),
                json!({"id": A}),
                Some(("groupType", json!("distributionList"))),
            ),
            "value[0].groupType",
            "is not a member",
        ),
    ];
    for (request, target, needle) in cases {
        let e = refused(&mut t, &request);
        let RequestError::Invalid { errors } = &e else {
            panic!("{request}: {e:?}")
        };
        assert_eq!(errors[0].target(), target, "{request}");
        assert!(errors[0].message.contains(needle), "{request}: {}", errors[0].message);
    }
    assert_eq!(t.len(), 1, "no refused removal removed anything");
}

#[test]
fn rule_07_items_apply_in_order_the_documented_example() {
    let mut t = MemoryTable::<Group>::new();
    let outcomes = try_apply(&mut t, &fixture("group_update_request.json"), Mode::Atomic).unwrap();
    assert!(t.is_empty(), "created then removed");
    assert!(matches!(outcomes[0], Outcome::Upserted { created: true, .. }));
    assert!(matches!(outcomes[1], Outcome::Removed { existed: true, .. }));
}

#[test]
fn rule_08_one_invalid_item_refuses_the_request_naming_every_invalid_item() {
    let mut t = MemoryTable::<Group>::new();
    apply_ok(&mut t, json!([group(A, B)]));
    let e = refused(
        &mut t,
        &body(json!([group(C, B), group(C, "x"), {"sourceGroupIdentity": {"id": A}, "groupType": 5}])),
    );
    let RequestError::Invalid { errors } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        errors.iter().map(|e| e.target()).collect::<Vec<_>>(),
        ["value[1].targetGroupIdentity.id", "value[2].groupType"]
    );
    let g = e.to_graph_error();
    assert_eq!(g.code, "invalidRequest");
    assert_eq!(g.target.as_deref(), Some("value[1].targetGroupIdentity.id"));
    assert_eq!(g.details.len(), 2);
    assert!(
        g.message
            .starts_with("nothing was applied: item 1, targetGroupIdentity.id: \"x\" is not a GUID"),
        "{}",
        g.message
    );
    assert!(t.get(&GroupKey::parse(C).unwrap()).is_none());
}

#[test]
fn rule_09_continue_on_error_applies_the_valid_items() {
    let mut t = MemoryTable::<Group>::new();
    let outcomes = try_apply(
        &mut t,
        &body(json!([group(A, B), group(C, "x"), {"sourceGroupIdentity": {"id": B}}])),
        Mode::ContinueOnError,
    )
    .unwrap();
    assert!(matches!(&outcomes[1], Outcome::Failed(e) if e.target() == "value[1].targetGroupIdentity.id"));
    assert!(matches!(&outcomes[2], Outcome::Failed(e) if e.target() == "value[2].sourceOrganizationId"));
    assert_eq!(t.len(), 1);
}

#[test]
fn rule_10_the_response_reproduces_the_documented_one() {
    let mut t = MemoryTable::<Group>::new();
    let entries: Vec<Value> = try_apply(&mut t, &fixture("group_update_request.json"), Mode::Atomic)
        .unwrap()
        .iter()
        .map(|o| serde_json::to_value(o.entry().unwrap()).unwrap())
        .collect();
    let documented: CollectionResponse<Value> = serde_json::from_str(&fixture("group_update_response.json")).unwrap();
    assert_eq!(entries, documented.value);

    // The user example is "shortened": its removal entry leaves out `deleted`; everything else matches.
    let mut u = MemoryTable::<User>::new();
    let entries: Vec<Value> = try_apply(&mut u, &fixture("user_update_request.json"), Mode::Atomic)
        .unwrap()
        .iter()
        .map(|o| serde_json::to_value(o.entry().unwrap()).unwrap())
        .collect();
    let documented: CollectionResponse<Value> = serde_json::from_str(&fixture("user_update_response.json")).unwrap();
    assert_eq!(entries[0], documented.value[0]);
    let mut removal = entries[1].clone();
    assert_eq!(
        removal.as_object_mut().unwrap().remove("deleted"),
        Some(json!({"state": "deleted"}))
    );
    assert_eq!(removal, documented.value[1]);
}

#[test]
fn rule_11_values_are_validated_with_messages_a_person_understands() {
    let user = |patch: Value| {
        let mut u = json!({"sourceOrganizationId": ORG, "sourceUserIdentity": {"userPrincipalName": "ann@contoso.com"}, "targetUserIdentity": {"userPrincipalName": "ann@fabrikam.com"}});
        for (k, v) in patch.as_object().unwrap() {
            u[k] = v.clone();
        }
        body(json!([u]))
    };
    let cases = [
        (
            json!({"sourceOrganizationId": "1111"}),
            "value[0].sourceOrganizationId",
            "is not a GUID",
        ),
        (
            json!({"targetUserIdentity": {"userPrincipalName": "two words@fabrikam.com"}}),
            "value[0].targetUserIdentity.userPrincipalName",
            "contains whitespace",
        ),
        (
            json!({"targetUserIdentity": {"userPrincipalName": "a@b@c"}}),
            "value[0].targetUserIdentity.userPrincipalName",
            "more than one '@'",
        ),
        (
            json!({"targetUserMigrationData": {"email": "nobody"}}),
            "value[0].targetUserMigrationData.email",
            "is not an email address",
        ),
        (
            json!({"targetUserMigrationData": {"email": 5}}),
            "value[0].targetUserMigrationData.email",
            "expected a string",
        ),
        (
            json!({"userType": "serviceAccount"}),
            "value[0].userType",
            "expected one of none, regularUser, adminUser, guestUser",
        ),
        (
            json!({"userType": "unknownFutureValue"}),
            "value[0].userType",
            "not a value a client can set",
        ),
        (json!({"userType": null}), "value[0].userType", "must not be null"),
        (
            json!({"futureProperty": 1}),
            "value[0].futureProperty",
            "is not a property of microsoft.graph.sharePointUserIdentityMapping",
        ),
        (
            json!({"targetUserIdentity": {"userPrincipalName": "a@b.c", "tenantId": "t"}}),
            "value[0].targetUserIdentity.tenantId",
            "is not a property of microsoft.graph.userIdentity",
        ),
        (
            json!({"@odata.type": "#microsoft.graph.sharePointGroupIdentityMapping"}),
            "value[0].@odata.type",
            "does not name microsoft.graph.sharePointUserIdentityMapping",
        ),
        (
            json!({"targetUserIdentity": "ann"}),
            "value[0].targetUserIdentity",
            "expected a microsoft.graph.userIdentity object",
        ),
    ];
    for (patch, target, needle) in cases {
        let mut u = MemoryTable::<User>::new();
        let e = refused(&mut u, &user(patch.clone()));
        let RequestError::Invalid { errors } = &e else {
            panic!("{patch}: {e:?}")
        };
        assert_eq!(errors[0].target(), target, "{patch}");
        assert!(errors[0].message.contains(needle), "{patch}: {}", errors[0].message);
    }
    // Annotations and the right @odata.type are accepted, and not stored.
    let mut u = MemoryTable::<User>::new();
    let out = apply_ok(
        &mut u,
        json!([{"@odata.type": "#microsoft.graph.sharePointUserIdentityMapping", "userType@odata.type": "#x", "sourceOrganizationId": ORG,
        "sourceUserIdentity": {"@odata.type": "microsoft.graph.userIdentity", "userPrincipalName": "ann_fabrikam.com#EXT#@contoso.onmicrosoft.com"},
        "targetUserIdentity": {"userPrincipalName": "ann@fabrikam.com"}, "userType": "guestUser"}]),
    );
    assert!(!out[0].to_string().contains("@odata"), "{}", out[0]);
}

#[test]
fn rule_12_a_retried_request_is_harmless() {
    let mut t = MemoryTable::<Group>::new();
    let request = body(json!([group(A, B), {"@removed": {"reason": "deleted"}, "sourceGroupIdentity": {"id": C}}]));
    try_apply(&mut t, &request, Mode::Atomic).unwrap();
    let once = t.clone();
    try_apply(&mut t, &request, Mode::Atomic).unwrap();
    assert_eq!(t, once);
}

#[test]
fn rule_13_mappings_are_stored_without_nulls() {
    let mut t = MemoryTable::<Group>::new();
    let mut g = group(A, B);
    g["targetGroupMigrationData"] = json!({"mailNickname": null});
    apply_ok(&mut t, json!([g]));
    assert_eq!(stored(&t, A)["targetGroupMigrationData"], json!({}));
}

#[test]
fn rule_14_the_change_feed_serves_one_change_per_key() {
    let mut t = MemoryTable::<Group>::new();
    let mut feed = crossmap_delta::ChangeFeed::new();
    for items in [
        json!([group(A, B), group(C, B)]),
        json!([group(A, C)]),
        json!([{"@removed": {}, "sourceGroupIdentity": {"id": C}}]),
    ] {
        let parsed = parse_request::<Group>(&body(items)).unwrap();
        let prepared = prepare_parsed(&t, parsed, Mode::Atomic).unwrap();
        feed.record_all(prepared.changes.clone());
        prepared.commit(&mut t);
    }
    let since_start: Vec<Value> = feed
        .changes_since(0)
        .unwrap()
        .iter()
        .map(|c| serde_json::to_value(c.to_delta_item()).unwrap())
        .collect();
    assert_eq!(since_start.len(), 2, "one entry per key: {since_start:?}");
    assert_eq!(since_start[0]["targetGroupIdentity"]["id"], C);
    assert_eq!(since_start[1]["@removed"], json!({"reason": "deleted"}));
    feed.compact_through(feed.latest());
    assert!(matches!(
        feed.changes_since(0),
        Err(crossmap_delta::FeedError::Resync { .. })
    ));
}

#[test]
fn rule_15_plan_sends_only_what_changed_and_chunks_keep_keys_together() {
    let mut current = MemoryTable::<Group>::new();
    apply_ok(&mut current, json!([group(A, B), group(B, B)]));
    let mut desired = current.clone();
    let mut changed = group(A, C);
    changed["groupType"] = json!("m365Group");
    apply_ok(
        &mut desired,
        json!([changed, group(C, A), {"@removed": {}, "sourceGroupIdentity": {"id": B}}]),
    );
    let items: Vec<Value> = plan(&current, &desired)
        .iter()
        .map(|i| serde_json::to_value(i).unwrap())
        .collect();
    assert_eq!(
        items,
        [
            json!({"sourceGroupIdentity": {"id": A}, "targetGroupIdentity": {"id": C}}),
            json!({"@removed": {"reason": "deleted"}, "sourceGroupIdentity": {"id": B}}),
            json!({"sourceOrganizationId": ORG, "groupType": "m365Group", "sourceGroupIdentity": {"id": C}, "targetGroupIdentity": {"id": A}}),
        ]
    );
    let chunks = chunk(plan(&current, &desired), 2);
    assert_eq!(chunks.iter().map(|c| c.items.len()).collect::<Vec<_>>(), [2, 1]);
}

#[test]
fn rule_16_one_to_one_lists_shared_targets() {
    let mut t = MemoryTable::<Group>::new();
    apply_ok(&mut t, json!([group(A, C), group(B, &C.to_uppercase()), group(C, A)]));
    let shared = one_to_one::<Group>(t.iter().map(|(_, m)| m));
    assert_eq!(shared.len(), 1);
    assert_eq!(shared[0].target, C);
    assert_eq!(shared[0].sources.len(), 2);
}
