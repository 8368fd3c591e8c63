//! The emulator's rules, each over HTTP.

use crate::support::{Emulator, MIGRATIONS, TENANT, graph_error, group, json, reopen};
use crossmap_model::{CollectionResponse, EntityResponse, SharePointGroupIdentityMapping as Group};
use crossmap_test_support::fixture;
use serde_json::{Value, json};

const GROUPS: &str = "crossOrganizationGroupMappings";
const USERS: &str = "crossOrganizationUserMappings";
const A: &str = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa";

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

/// The documented context with the emulator's host.
fn local_context(e: &Emulator, documented: &Value) -> Value {
    let c = documented["@odata.context"].as_str().unwrap();
    let fragment = c.split_once("$metadata#").unwrap().1;
    Value::String(format!("{}/beta/$metadata#{fragment}", e.base))
}

#[tokio::test]
async fn the_documented_group_example_gets_the_documented_response() {
    let e = Emulator::memory().await;
    let request = fixture_json("group_update_request.json");
    let response = e.patch_json(GROUPS, &e.writer(TENANT), &request).send().await.unwrap();
    let body = json(response, 200).await;
    let mut documented = fixture_json("group_update_response.json");
    documented["@odata.context"] = local_context(&e, &documented);
    assert_eq!(body, documented);
}

/// The user page's example, whole: the documented response but for the removal's `deleted` facet, which
/// the user example leaves out ("shortened for readability") and the group example shows
/// (`docs/delta-semantics.md`, rule 10): the emulator answers as the group example does.
#[tokio::test]
async fn the_documented_user_example_gets_the_documented_response() {
    let e = Emulator::memory().await;
    let request = fixture_json("user_update_request.json");
    let response = e.patch_json(USERS, &e.writer(TENANT), &request).send().await.unwrap();
    let mut body = json(response, 200).await;
    let removed = body["value"][1].as_object_mut().unwrap().remove("deleted");
    assert_eq!(removed, Some(json!({"state": "deleted"})));
    let mut documented = fixture_json("user_update_response.json");
    documented["@odata.context"] = local_context(&e, &documented);
    assert_eq!(body, documented);
}

#[tokio::test]
async fn the_documented_user_example_and_get_by_key() {
    let e = Emulator::memory().await;
    let mut request = fixture_json("user_update_request.json");
    request["value"].as_array_mut().unwrap().pop(); // keep the mapping, to read it back
    let body = json(
        e.patch_json(USERS, &e.writer(TENANT), &request).send().await.unwrap(),
        200,
    )
    .await;
    let documented = fixture_json("user_update_response.json");
    assert_eq!(body["value"][0], documented["value"][0]);
    let got = json(
        e.get(
            "crossOrganizationUserMappings(sourceUserPrincipalName='user1%40contoso.com')",
            &e.reader(TENANT),
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    let mut expected = fixture_json("user_get_response.json");
    // The documented GET shows @odata.type annotations, which crossmap does not store (rule 13).
    strip_odata_types(&mut expected);
    let got_entity: EntityResponse<crossmap_model::SharePointUserIdentityMapping> =
        serde_json::from_value(got.clone()).unwrap();
    assert!(
        got_entity
            .context
            .unwrap()
            .ends_with("crossOrganizationUserMappings/$entity")
    );
    let mut got = got;
    got.as_object_mut().unwrap().remove("@odata.context");
    assert_eq!(got, expected);
}

fn strip_odata_types(v: &mut Value) {
    if let Value::Object(o) = v {
        o.remove("@odata.type");
        for child in o.values_mut() {
            strip_odata_types(child);
        }
    }
}

#[tokio::test]
async fn the_documented_group_get_after_a_create() {
    let e = Emulator::memory().await;
    let mut request = fixture_json("group_update_request.json");
    request["value"].as_array_mut().unwrap().pop();
    json(
        e.patch_json(GROUPS, &e.writer(TENANT), &request).send().await.unwrap(),
        200,
    )
    .await;
    let got = json(
        e.get(&format!("{GROUPS}(sourceGroupObjectId='{A}')"), &e.reader(TENANT))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let mut documented = fixture_json("group_get_response.json");
    documented["@odata.context"] = local_context(&e, &documented);
    assert_eq!(got, documented);
    // $select: only what was asked, and the id.
    let got = json(
        e.get(
            &format!("{GROUPS}(sourceGroupObjectId='{A}')?$select=groupType"),
            &e.reader(TENANT),
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        got.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["@odata.context", "groupType", "id"]
    );
    assert!(
        got["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("crossOrganizationGroupMappings(groupType)/$entity")
    );
    let r = e
        .get(
            &format!("{GROUPS}(sourceGroupObjectId='{A}')?$select=userType"),
            &e.reader(TENANT),
        )
        .send()
        .await
        .unwrap();
    graph_error(r, 400, "invalidRequest").await;
    let r = e
        .get(
            &format!("{GROUPS}(sourceGroupObjectId='bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb')"),
            &e.reader(TENANT),
        )
        .send()
        .await
        .unwrap();
    graph_error(r, 404, "itemNotFound").await;
    let r = e
        .get(&format!("{GROUPS}(sourceGroupObjectId='nope')"), &e.reader(TENANT))
        .send()
        .await
        .unwrap();
    graph_error(r, 400, "invalidRequest").await;
}

#[tokio::test]
async fn tokens_and_permissions_are_checked() {
    let e = Emulator::memory().await;
    // The token endpoint.
    let form = |secret: &str| {
        vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", "writer".to_owned()),
            ("client_secret", secret.to_owned()),
            ("scope", "https://graph.microsoft.com/.default".to_owned()),
        ]
    };
    let url = format!("{}/{TENANT}/oauth2/v2.0/token", e.base);
    let ok = json(e.http.post(&url).form(&form("w-secret")).send().await.unwrap(), 200).await;
    assert_eq!(ok["token_type"], "Bearer");
    let token = ok["access_token"].as_str().unwrap().to_owned();
    let claims = e.auth.verify(&token).unwrap();
    assert_eq!(claims.tid, TENANT);
    let bad = json(e.http.post(&url).form(&form("wrong")).send().await.unwrap(), 401).await;
    assert_eq!(bad["error"], "invalid_client");
    // No token, a bad token, an expired one.
    let r = e.http.get(e.url(GROUPS)).send().await.unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    graph_error(r, 401, "InvalidAuthenticationToken").await;
    graph_error(
        e.get(GROUPS, "not-a-token").send().await.unwrap(),
        401,
        "InvalidAuthenticationToken",
    )
    .await;
    let expired = expired_token();
    let body = graph_error(
        e.get(GROUPS, &expired).send().await.unwrap(),
        401,
        "InvalidAuthenticationToken",
    )
    .await;
    assert!(body["error"]["message"].as_str().unwrap().contains("expired"), "{body}");
    // A reader reads but does not write; a token without roles does neither.
    json(e.get(GROUPS, &e.reader(TENANT)).send().await.unwrap(), 200).await;
    let delta = json!({"@context": "#$delta", "value": [group(1)]});
    graph_error(
        e.patch_json(GROUPS, &e.reader(TENANT), &delta).send().await.unwrap(),
        403,
        "accessDenied",
    )
    .await;
    let none = e.auth.client_credentials(TENANT, "nobody", "n-secret").unwrap();
    graph_error(e.get(GROUPS, &none).send().await.unwrap(), 403, "accessDenied").await;
    json(e.patch_json(GROUPS, &token, &delta).send().await.unwrap(), 200).await;
}

/// A token signed with the test key that expired a minute ago.
fn expired_token() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = crossmap_server::Claims {
        aud: crossmap_server::AUDIENCE.into(),
        iss: "test".into(),
        tid: TENANT.into(),
        appid: "writer".into(),
        roles: vec![crossmap_server::MANAGE_ROLE.into()],
        iat: now - 3600,
        nbf: now - 3600,
        exp: now - 60,
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"test-key"),
    )
    .unwrap()
}

#[tokio::test]
async fn tenants_never_see_each_other() {
    let e = Emulator::memory().await;
    json(e.groups_delta(json!([group(1)])).await, 200).await;
    let other = "22222222-2222-2222-2222-222222222222";
    let list = json(e.get(GROUPS, &e.reader(other)).send().await.unwrap(), 200).await;
    assert_eq!(list["value"], json!([]));
    let key = format!("{GROUPS}(sourceGroupObjectId='00000000-0000-0000-0000-000000000001')");
    graph_error(e.get(&key, &e.reader(other)).send().await.unwrap(), 404, "itemNotFound").await;
    // A removal from the other tenant does not touch ours.
    let removal = json!({"@context": "#$delta", "value": [{"@removed": {}, "sourceGroupIdentity": {"id": "00000000-0000-0000-0000-000000000001"}}]});
    json(
        e.patch_json(GROUPS, &e.writer(other), &removal).send().await.unwrap(),
        200,
    )
    .await;
    json(e.get(&key, &e.reader(TENANT)).send().await.unwrap(), 200).await;
}

async fn list_all(e: &Emulator) -> Value {
    json(
        e.get(&format!("{GROUPS}?$top=999"), &e.reader(TENANT))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await["value"]
        .clone()
}

#[tokio::test]
async fn bad_requests_get_graph_errors_and_change_nothing() {
    let e = Emulator::memory().await;
    json(e.groups_delta(json!([group(1)])).await, 200).await;
    let before = list_all(&e).await;
    let w = e.writer(TENANT);
    // More than 50 items.
    let many: Vec<Value> = (0..51).map(group).collect();
    let body = graph_error(e.groups_delta(Value::Array(many)).await, 400, "invalidRequest").await;
    assert!(
        body["error"]["message"].as_str().unwrap().contains("at most 50"),
        "{body}"
    );
    // An invalid item among valid ones: named with its index and property.
    let mut bad = group(3);
    bad["targetGroupIdentity"]["id"] = json!("x");
    let body = graph_error(e.groups_delta(json!([group(2), bad])).await, 400, "invalidRequest").await;
    assert_eq!(body["error"]["target"], "value[1].targetGroupIdentity.id");
    // Unknown properties and enum members, wrong JSON types.
    let mut unknown = group(4);
    unknown["colour"] = json!("blue");
    graph_error(e.groups_delta(json!([unknown])).await, 400, "invalidRequest").await;
    let mut member = group(5);
    member["groupType"] = json!("distributionList");
    let body = graph_error(e.groups_delta(json!([member])).await, 400, "invalidRequest").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expected one of none, regularGroup, m365Group"),
        "{body}"
    );
    // A removal is held to the same rules: its annotation is an object, its properties declared ones.
    let key = json!({"id": "00000000-0000-0000-0000-000000000001"});
    for item in [
        json!({"@removed": [], "sourceGroupIdentity": key}),
        json!({"@removed": {"reason": "deleted", "foo": 1}, "sourceGroupIdentity": key}),
        json!({"@removed": {}, "sourceGroupIdentity": key, "foo": 1}),
    ] {
        graph_error(e.groups_delta(json!([item])).await, 400, "invalidRequest").await;
    }
    // Malformed JSON, wrong content type, too large.
    let url = e.url(GROUPS);
    let r = e
        .http
        .patch(&url)
        .bearer_auth(&w)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    graph_error(r, 400, "invalidRequest").await;
    let r = e
        .http
        .patch(&url)
        .bearer_auth(&w)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    graph_error(r, 415, "unsupportedMediaType").await;
    let huge = format!(
        "{{\"@context\": \"#$delta\", \"value\": [], \"pad\": \"{}\"}}",
        "x".repeat(crossmap_server::MAX_BODY)
    );
    let r = e
        .http
        .patch(&url)
        .bearer_auth(&w)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    graph_error(r, 413, "requestTooLarge").await;
    // Unknown routes and methods.
    graph_error(
        e.get("crossOrganizationThings", &w).send().await.unwrap(),
        404,
        "itemNotFound",
    )
    .await;
    graph_error(
        e.http.get(format!("{}/nowhere", e.base)).send().await.unwrap(),
        404,
        "itemNotFound",
    )
    .await;
    let r = e.http.delete(&url).bearer_auth(&w).send().await.unwrap();
    assert_eq!(r.headers()["allow"], "GET, POST, PATCH");
    graph_error(r, 405, "methodNotAllowed").await;
    graph_error(
        e.get(&format!("{GROUPS}?$orderby=id"), &w).send().await.unwrap(),
        400,
        "invalidRequest",
    )
    .await;
    assert_eq!(list_all(&e).await, before, "a refused request changed the data");
}

#[tokio::test]
async fn continue_on_error_applies_the_valid_items_and_says_so() {
    let e = Emulator::memory().await;
    let mut bad = group(2);
    bad["sourceOrganizationId"] = json!("nope");
    let body = json!({"@context": "#$delta", "value": [group(1), bad]});
    let r = e
        .patch_json(GROUPS, &e.writer(TENANT), &body)
        .header("Prefer", "odata.continue-on-error")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["preference-applied"], "odata.continue-on-error");
    let out = json(r, 200).await;
    assert!(out["value"][0]["id"].is_string());
    let failure = &out["value"][1]["@Core.DataModificationException"];
    assert_eq!(failure["failedOperation"], "upsert");
    assert_eq!(failure["info"]["target"], "value[1].sourceOrganizationId");
    assert_eq!(list_all(&e).await.as_array().unwrap().len(), 1);
}

/// OData 4.01's ABNF: `[ "odata." ] "continue-on-error" [ EQ-h booleanValue ]`, names without regard to
/// case, parameters after `;`, several preferences in one header or in several.
#[tokio::test]
async fn continue_on_error_is_read_in_every_form_odata_allows() {
    let e = Emulator::memory().await;
    let mut bad = group(2);
    bad["sourceOrganizationId"] = json!("nope");
    let body = json!({"@context": "#$delta", "value": [group(1), bad]});
    let send = |prefer: Vec<&'static str>| {
        let mut r = e.patch_json(GROUPS, &e.writer(TENANT), &body);
        for p in prefer {
            r = r.header("Prefer", p);
        }
        r.send()
    };
    for (prefer, applied) in [
        (vec!["continue-on-error"], "continue-on-error"),
        (vec!["Continue-On-Error"], "continue-on-error"),
        (vec!["odata.continue-on-error=true"], "odata.continue-on-error"),
        (vec!["continue-on-error = TRUE"], "continue-on-error"),
        (vec!["return=minimal, continue-on-error"], "continue-on-error"),
        (
            vec!["return=minimal", "odata.continue-on-error; x=1"],
            "odata.continue-on-error",
        ),
    ] {
        let r = send(prefer.clone()).await.unwrap();
        assert_eq!(r.headers()["preference-applied"], applied, "{prefer:?}");
        let out = json(r, 200).await;
        assert!(
            out["value"][1]["@Core.DataModificationException"].is_object(),
            "{prefer:?}: {out}"
        );
    }
    assert_eq!(list_all(&e).await.as_array().unwrap().len(), 1);
    // Asked not to, or a look-alike: all or nothing.
    for prefer in [
        "continue-on-error=false",
        "odata.continue-on-error=false",
        "x.continue-on-error",
    ] {
        let r = send(vec![prefer]).await.unwrap();
        assert!(!r.headers().contains_key("preference-applied"), "{prefer}");
        graph_error(r, 400, "invalidRequest").await;
    }
}

#[tokio::test]
async fn lists_page_with_next_links_and_count() {
    let e = Emulator::memory().await;
    json(
        e.groups_delta(Value::Array((0..25).rev().map(group).collect())).await,
        200,
    )
    .await;
    let r = e
        .get(
            &format!("{GROUPS}?$top=10&$count=true&$select=groupType"),
            &e.reader(TENANT),
        )
        .send()
        .await
        .unwrap();
    let mut page: CollectionResponse<Value> = serde_json::from_value(json(r, 200).await).unwrap();
    assert_eq!(page.count, Some(25));
    let mut ids = Vec::new();
    loop {
        assert!(page.value.len() <= 10);
        for v in &page.value {
            assert!(
                v.get("targetGroupIdentity").is_none(),
                "$select holds on every page: {v}"
            );
            ids.push(v["id"].as_str().unwrap().to_owned());
        }
        let Some(next) = page.next_link.clone() else { break };
        page = serde_json::from_value(
            json(
                e.http.get(next).bearer_auth(e.reader(TENANT)).send().await.unwrap(),
                200,
            )
            .await,
        )
        .unwrap();
    }
    assert_eq!(ids.len(), 25);
    let mut sorted = ids.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), 25, "no mapping twice");
    let skipped = json(
        e.get(&format!("{GROUPS}?$top=5&$skip=20"), &e.reader(TENANT))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(skipped["value"].as_array().unwrap().len(), 5);
    assert!(skipped.get("@odata.nextLink").is_none());
    let count = e
        .get(&format!("{GROUPS}/$count"), &e.reader(TENANT))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(count, "25");
}

#[tokio::test]
async fn the_entity_set_calls_of_the_generated_sdks() {
    let e = Emulator::memory().await;
    let w = e.writer(TENANT);
    let created = e
        .http
        .post(e.url(GROUPS))
        .bearer_auth(&w)
        .json(&group(7))
        .send()
        .await
        .unwrap();
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let created = json(created, 201).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(
        location.ends_with(&id.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D")),
        "{location}"
    );
    graph_error(
        e.http
            .post(e.url(GROUPS))
            .bearer_auth(&w)
            .json(&group(7))
            .send()
            .await
            .unwrap(),
        409,
        "conflict",
    )
    .await;
    let by_id = format!("{GROUPS}/{id}");
    assert_eq!(json(e.get(&by_id, &w).send().await.unwrap(), 200).await["id"], id);
    let r = e
        .http
        .patch(e.url(&by_id))
        .bearer_auth(&w)
        .json(&json!({"groupType": "m365Group"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        json(e.get(&by_id, &w).send().await.unwrap(), 200).await["groupType"],
        "m365Group"
    );
    let r = e
        .http
        .patch(e.url(&by_id))
        .bearer_auth(&w)
        .json(&json!({"sourceGroupIdentity": {"id": A}}))
        .send()
        .await
        .unwrap();
    graph_error(r, 400, "invalidRequest").await;
    assert_eq!(
        e.http
            .delete(e.url(&by_id))
            .bearer_auth(&w)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    graph_error(e.get(&by_id, &w).send().await.unwrap(), 404, "itemNotFound").await;
    graph_error(
        e.http.delete(e.url(&by_id)).bearer_auth(&w).send().await.unwrap(),
        404,
        "itemNotFound",
    )
    .await;
    // A user id in the group collection names nothing there.
    graph_error(
        e.get(&format!("{GROUPS}/AQAAAAEAAAB1c2VyMUBjb250b3NvLmNvbQ"), &w)
            .send()
            .await
            .unwrap(),
        404,
        "itemNotFound",
    )
    .await;
}

#[tokio::test]
async fn the_delta_feed_serves_everything_then_changes() {
    let e = Emulator::memory().await;
    let r = e.reader(TENANT);
    json(e.groups_delta(Value::Array((0..5).map(group).collect())).await, 200).await;
    // The initial round, two per page.
    let mut url = format!("{}{MIGRATIONS}/{GROUPS}/delta()?$top=2", e.base);
    let mut seen = 0;
    let delta_link = loop {
        let page = json(e.http.get(&url).bearer_auth(&r).send().await.unwrap(), 200).await;
        seen += page["value"].as_array().unwrap().len();
        if let Some(next) = page["@odata.nextLink"].as_str() {
            url = next.to_owned();
        } else {
            break page["@odata.deltaLink"].as_str().unwrap().to_owned();
        }
    };
    assert_eq!(seen, 5);
    // Nothing new yet; then a change and a removal.
    let page = json(e.http.get(&delta_link).bearer_auth(&r).send().await.unwrap(), 200).await;
    assert_eq!(page["value"], json!([]));
    let mut changed = group(1);
    changed["groupType"] = json!("m365Group");
    json(e.groups_delta(json!([changed, {"@removed": {"reason": "deleted"}, "sourceGroupIdentity": {"id": "00000000-0000-0000-0000-000000000002"}}])).await, 200).await;
    let page = json(e.http.get(&delta_link).bearer_auth(&r).send().await.unwrap(), 200).await;
    let value = page["value"].as_array().unwrap();
    assert_eq!(value.len(), 2);
    assert_eq!(value[0]["groupType"], "m365Group");
    assert_eq!(value[1]["@removed"], json!({"reason": "deleted"}));
    assert!(page["@odata.deltaLink"].is_string());
    graph_error(
        e.http
            .get(format!("{}{MIGRATIONS}/{GROUPS}/delta()?$deltatoken=999", e.base))
            .bearer_auth(&r)
            .send()
            .await
            .unwrap(),
        400,
        "invalidRequest",
    )
    .await;
}

#[tokio::test]
async fn metadata_and_diagnostics_headers() {
    let e = Emulator::memory().await;
    let r = e.http.get(format!("{}/beta/$metadata", e.base)).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/xml");
    assert_eq!(r.text().await.unwrap(), crossmap_model::METADATA_XML);
    let r = e
        .get(GROUPS, &e.reader(TENANT))
        .header("client-request-id", "my-id-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["client-request-id"], "my-id-1");
    assert!(r.headers().contains_key("request-id"));
    assert!(r.headers().contains_key("date"));
}

#[tokio::test]
async fn data_and_tokens_survive_a_restart_on_the_same_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let key = crossmap_server::Auth::key_in(dir.path()).unwrap();
    let token;
    {
        let e = Emulator::start(reopen(dir.path()).await, key.clone()).await;
        token = e.writer(TENANT);
        json(e.groups_delta(json!([group(1)])).await, 200).await;
    }
    // Let the aborted server task drop its store (and with it the log writer).
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        crossmap_server::Auth::key_in(dir.path()).unwrap(),
        key,
        "the key is kept, not remade"
    );
    let e = Emulator::start(reopen(dir.path()).await, key).await;
    let got = json(
        e.get(
            &format!("{GROUPS}(sourceGroupObjectId='00000000-0000-0000-0000-000000000001')"),
            &token,
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    let _: EntityResponse<Group> = serde_json::from_value(got).unwrap();
}
