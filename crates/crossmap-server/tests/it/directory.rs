//! Graph's directory in the emulator, over HTTP: every route, the default property sets and `$select`,
//! paging (also while the directory changes), every filter, `$count`, every 400, permissions, tenants.

use crate::support::{Emulator, TENANT, graph_error, json, reopen};
use crossmap_server::seed_directory;
use crossmap_store::Store;
use reqwest::Response;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const OTHER: &str = "22222222-2222-2222-2222-222222222222";

fn uid(n: u32) -> String {
    format!("aaaaaaaa-0000-4000-8000-{n:012}")
}

fn gid(n: u32) -> String {
    format!("bbbbbbbb-0000-4000-8000-{n:012}")
}

/// A directory of `n` users (every third disabled, every fourth a guest with an `#EXT#` UPN) and six
/// groups (every other one Microsoft 365).
fn seed_file(n: u32) -> String {
    let mut lines = Vec::new();
    for i in 0..n {
        let guest = i % 4 == 3;
        let upn = if guest {
            format!("user{i}_partner.com#EXT#@contoso.onmicrosoft.com")
        } else {
            format!("User{i}@Contoso.com")
        };
        lines.push(
            json!({"@odata.type": "#microsoft.graph.user", "id": uid(i), "userPrincipalName": upn,
            "displayName": format!("User {i}"), "mail": format!("user{i}@contoso.com"), "employeeId": format!("E{i}"),
            "accountEnabled": i % 3 != 2, "userType": if guest { "Guest" } else { "Member" }, "jobTitle": "Staff"}),
        );
    }
    for i in 0..6 {
        let m365 = i % 2 == 0;
        lines.push(
            json!({"@odata.type": "#microsoft.graph.group", "id": gid(i), "displayName": format!("Group {i}"),
            "mailNickname": format!("group{i}"), "groupTypes": if m365 { vec!["Unified"] } else { vec![] },
            "mailEnabled": m365, "securityEnabled": !m365}),
        );
    }
    lines.iter().map(Value::to_string).collect::<Vec<_>>().join("\n")
}

/// An in-memory emulator whose TENANT directory is `seed_file(n)`.
async fn seeded(n: u32) -> Emulator {
    let store = Store::in_memory();
    seed_directory(&store, TENANT, &seed_file(n)).unwrap();
    Emulator::start(store, b"k".to_vec()).await
}

impl Emulator {
    fn dir_url(&self, path: &str) -> String {
        format!("{}/v1.0/{path}", self.base)
    }

    /// `GET /v1.0/{path}` with the directory app's token for TENANT.
    async fn dir_get(&self, path: &str) -> Response {
        self.http
            .get(self.dir_url(path))
            .bearer_auth(self.token_of(TENANT, "directory"))
            .send()
            .await
            .unwrap()
    }

    async fn dir_post(&self, path: &str, body: &Value) -> Response {
        self.http
            .post(self.dir_url(path))
            .bearer_auth(self.token_of(TENANT, "directory"))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Follows `@odata.nextLink`s from `url` with `token` and `header`: every page's values, and the pages.
    async fn follow(&self, url: &str, token: &str, header: Option<(&str, &str)>) -> (Vec<Value>, Vec<Value>) {
        let mut url = url.to_owned();
        let mut values = Vec::new();
        let mut pages = Vec::new();
        loop {
            let mut request = self.http.get(&url).bearer_auth(token);
            if let Some((k, v)) = header {
                request = request.header(k, v);
            }
            let page = json(request.send().await.unwrap(), 200).await;
            values.extend(page["value"].as_array().unwrap().iter().cloned());
            let next = page["@odata.nextLink"].as_str().map(str::to_owned);
            pages.push(page);
            match next {
                Some(next) => url = next,
                None => return (values, pages),
            }
        }
    }
}

fn ids(values: &[Value]) -> Vec<String> {
    values.iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect()
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[tokio::test]
async fn users_come_with_graphs_default_properties_unless_selected() {
    let e = seeded(3).await;
    let body = json(e.dir_get("users").await, 200).await;
    assert_eq!(body["@odata.context"], format!("{}/v1.0/$metadata#users", e.base));
    let ann = &body["value"][0];
    let default: BTreeSet<&str> = [
        "businessPhones",
        "displayName",
        "givenName",
        "id",
        "jobTitle",
        "mail",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "surname",
        "userPrincipalName",
    ]
    .into();
    assert_eq!(keys(ann), default);
    assert_eq!(ann["businessPhones"], json!([]), "an unset collection is empty");
    assert_eq!(ann["givenName"], Value::Null, "an unset property is null");
    assert_eq!(ann["jobTitle"], "Staff");
    let body = json(
        e.dir_get("users?$select=id,employeeId,proxyAddresses,onPremisesImmutableId,accountEnabled")
            .await,
        200,
    )
    .await;
    assert_eq!(
        body["@odata.context"],
        format!(
            "{}/v1.0/$metadata#users(id,employeeId,proxyAddresses,onPremisesImmutableId,accountEnabled)",
            e.base
        )
    );
    assert_eq!(
        body["value"][0],
        json!({"id": uid(0), "employeeId": "E0", "proxyAddresses": [], "onPremisesImmutableId": null, "accountEnabled": true})
    );
    // $select names are read without regard to case and written as Graph spells them; id only if asked.
    let body = json(e.dir_get("users?$select=DISPLAYNAME").await, 200).await;
    assert_eq!(body["value"][0], json!({"displayName": "User 0"}));
    let body = json(e.dir_get(&format!("users/{}?$select=mail", uid(1))).await, 200).await;
    assert_eq!(
        body["@odata.context"],
        format!("{}/v1.0/$metadata#users(mail)/$entity", e.base)
    );
    assert_eq!(body["mail"], "user1@contoso.com");
    // The model's SELECT list is all known.
    let body = json(
        e.dir_get(&format!("users?$select={}", crossmap_model::directory::User::SELECT))
            .await,
        200,
    )
    .await;
    assert_eq!(body["value"][0]["userType"], "Member");
    let body = json(e.dir_get("groups").await, 200).await;
    let g = &body["value"][0];
    assert!(
        keys(g).is_superset(
            &[
                "id",
                "displayName",
                "mailNickname",
                "groupTypes",
                "mailEnabled",
                "securityEnabled",
                "visibility"
            ]
            .into()
        )
    );
    assert_eq!(g["groupTypes"], json!(["Unified"]));
    assert_eq!(g["visibility"], Value::Null);
    let e2 = graph_error(
        e.dir_get("users?$select=id,favouriteColour").await,
        400,
        "Request_BadRequest",
    )
    .await;
    assert!(
        e2["error"]["message"].as_str().unwrap().contains("'favouriteColour'"),
        "{e2}"
    );
}

#[tokio::test]
async fn beta_serves_the_same_directory_and_links_keep_the_version() {
    let e = seeded(3).await;
    let token = e.token_of(TENANT, "directory");
    let (values, pages) = e.follow(&format!("{}/beta/users?$top=2", e.base), &token, None).await;
    assert_eq!(ids(&values), [uid(0), uid(1), uid(2)]);
    assert!(
        pages[0]["@odata.nextLink"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/beta/users?", e.base))
    );
    assert_eq!(pages[0]["@odata.context"], format!("{}/beta/$metadata#users", e.base));
    let body = json(
        e.http
            .get(format!("{}/beta/groups/{}", e.base, gid(1)))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(body["displayName"], "Group 1");
}

#[tokio::test]
async fn paging_follows_whole_next_links_through_every_user_once() {
    let e = seeded(250).await;
    let token = e.token_of(TENANT, "directory");
    // Default page: 100.
    let (values, pages) = e.follow(&e.dir_url("users"), &token, None).await;
    assert_eq!(
        pages
            .iter()
            .map(|p| p["value"].as_array().unwrap().len())
            .collect::<Vec<_>>(),
        [100, 100, 50]
    );
    let expected: Vec<String> = (0..250).map(uid).collect();
    assert_eq!(ids(&values), expected);
    for page in &pages[..2] {
        let link = page["@odata.nextLink"].as_str().unwrap();
        assert!(link.starts_with(&format!("{}/v1.0/users?", e.base)), "absolute: {link}");
        assert!(link.contains("$skiptoken="), "{link}");
    }
    // $top up to 999, $select carried along.
    let (values, pages) = e
        .follow(&e.dir_url("users?$top=999&$select=id,userPrincipalName"), &token, None)
        .await;
    assert_eq!((values.len(), pages.len()), (250, 1));
    let (values, pages) = e
        .follow(&e.dir_url("users?$top=7&$select=id,userPrincipalName"), &token, None)
        .await;
    assert_eq!((values.len(), pages.len()), (250, 36));
    assert!(values.iter().all(|v| keys(v) == ["id", "userPrincipalName"].into()));
    for bad in ["0", "1000", "-1", "ten", ""] {
        let body = graph_error(e.dir_get(&format!("users?$top={bad}")).await, 400, "Request_BadRequest").await;
        assert!(
            body["error"]["message"].as_str().unwrap().contains("Invalid page size"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_next_link_stays_valid_while_the_directory_changes() {
    let e = seeded(10).await;
    let token = e.token_of(TENANT, "directory");
    let first = json(e.dir_get("users?$top=4").await, 200).await;
    assert_eq!(
        ids(first["value"].as_array().unwrap()),
        [uid(0), uid(1), uid(2), uid(3)]
    );
    // Meanwhile: a user created after the page's end, one deleted after it, one deleted from the page.
    let created = json!({"id": uid(5_000), "accountEnabled": true, "displayName": "New", "mailNickname": "new",
        "userPrincipalName": "new@contoso.com", "passwordProfile": {"password": "Secret123!"}});
    json(e.dir_post("users", &created).await, 201).await;
    for gone in [uid(6), uid(1)] {
        let r = e
            .http
            .delete(e.dir_url(&format!("users/{gone}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    let (rest, _) = e.follow(first["@odata.nextLink"].as_str().unwrap(), &token, None).await;
    assert_eq!(ids(&rest), [uid(4), uid(5), uid(7), uid(8), uid(9), uid(5_000)]);
}

#[tokio::test]
async fn every_filter_matching_needs_selects_what_it_says() {
    let e = seeded(40).await;
    let token = e.token_of(TENANT, "directory");
    let all = |f: fn(u32) -> bool| -> Vec<String> { (0..40).filter(|i| f(*i)).map(uid).collect() };
    let cases: [(&str, Vec<String>); 6] = [
        ("accountEnabled eq true", all(|i| i % 3 != 2)),
        ("accountEnabled eq false", all(|i| i % 3 == 2)),
        ("userType eq 'Guest'", all(|i| i % 4 == 3)),
        ("userType eq 'member'", all(|i| i % 4 != 3)),
        (
            "accountEnabled eq true and userType eq 'Member'",
            all(|i| i % 3 != 2 && i % 4 != 3),
        ),
        ("userType eq 'Nobody'", Vec::new()),
    ];
    for (filter, expected) in cases {
        let url = e.dir_url(&format!("users?$top=5&$filter={}", urlencode(filter)));
        let (values, pages) = e.follow(&url, &token, None).await;
        assert_eq!(ids(&values), expected, "{filter}");
        if let Some(link) = pages[0]["@odata.nextLink"].as_str() {
            assert!(link.contains("$filter="), "the filter is carried along: {link}");
        }
    }
    // startswith(userPrincipalName, …): without regard to case, in UPN order.
    let url = e.dir_url(&format!(
        "users?$top=3&$filter={}",
        urlencode("startswith(userPrincipalName,'USER1')")
    ));
    let (values, _) = e.follow(&url, &token, None).await;
    let upns: Vec<&str> = values
        .iter()
        .map(|v| v["userPrincipalName"].as_str().unwrap())
        .collect();
    assert_eq!(
        upns,
        // Lower-cased UPN order: '0' sorts before '@'.
        [
            "User10@Contoso.com",
            "user11_partner.com#EXT#@contoso.onmicrosoft.com",
            "User12@Contoso.com",
            "User13@Contoso.com",
            "User14@Contoso.com",
            "user15_partner.com#EXT#@contoso.onmicrosoft.com",
            "User16@Contoso.com",
            "User17@Contoso.com",
            "User18@Contoso.com",
            "user19_partner.com#EXT#@contoso.onmicrosoft.com",
            "User1@Contoso.com",
        ]
    );
    let url = e.dir_url(&format!(
        "users?$filter={}",
        urlencode("startswith(userPrincipalName,'user1') and userType eq 'Guest'")
    ));
    let (values, _) = e.follow(&url, &token, None).await;
    assert_eq!(ids(&values), [uid(11), uid(15), uid(19)]);
    // Groups: Microsoft 365 ones.
    let url = e.dir_url(&format!(
        "groups?$filter={}",
        urlencode("groupTypes/any(c:c eq 'Unified')")
    ));
    let (values, _) = e.follow(&url, &token, None).await;
    assert_eq!(ids(&values), [gid(0), gid(2), gid(4)]);
    // Anything else is a 400 in Graph's words.
    for (path, code) in [
        ("users?$filter=accountEnabled ne true", "Request_UnsupportedQuery"),
        ("users?$filter=displayName eq 'User 1'", "Request_UnsupportedQuery"),
        (
            "users?$filter=endswith(mail,'@contoso.com')",
            "Request_UnsupportedQuery",
        ),
        (
            "users?$filter=accountEnabled eq true or userType eq 'Guest'",
            "Request_UnsupportedQuery",
        ),
        ("users?$filter=accountEnabled eq", "Request_BadRequest"),
        ("users?$filter=userType eq 'Guest", "Request_BadRequest"),
        (
            "groups?$filter=groupTypes/any(c:c eq 'DynamicMembership')",
            "Request_UnsupportedQuery",
        ),
        ("groups?$filter=mailEnabled eq true", "Request_UnsupportedQuery"),
    ] {
        let (p, q) = path.split_once("$filter=").unwrap();
        graph_error(e.dir_get(&format!("{p}$filter={}", urlencode(q))).await, 400, code).await;
    }
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test]
async fn count_needs_consistency_level_eventual() {
    let e = seeded(30).await;
    let token = e.token_of(TENANT, "directory");
    let body = graph_error(e.dir_get("users?$count=true").await, 400, "Request_BadRequest").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("$count is not currently supported.")
    );
    graph_error(e.dir_get("users/$count").await, 400, "Request_BadRequest").await;
    let eventual = Some(("ConsistencyLevel", "eventual"));
    let url = e.dir_url(&format!(
        "users?$count=true&$top=10&$filter={}",
        urlencode("accountEnabled eq false")
    ));
    let (values, pages) = e.follow(&url, &token, eventual).await;
    assert_eq!(values.len(), 10);
    for page in &pages {
        assert_eq!(page["@odata.count"], 10, "every page carries the count");
    }
    let body = json(
        e.http
            .get(e.dir_url("groups?$count=true&$top=1"))
            .bearer_auth(&token)
            .header("consistencylevel", "Eventual")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(body["@odata.count"], 6);
    assert!(body["@odata.nextLink"].as_str().unwrap().contains("$count=true"));
    for (path, n) in [
        ("users/$count".to_owned(), "30"),
        (
            format!("users/$count?$filter={}", urlencode("userType eq 'Guest'")),
            "7",
        ),
        (
            format!(
                "groups/$count?$filter={}",
                urlencode("groupTypes/any(c:c eq 'Unified')")
            ),
            "3",
        ),
    ] {
        let r = e
            .http
            .get(e.dir_url(&path))
            .bearer_auth(&token)
            .header("ConsistencyLevel", "eventual")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        assert_eq!(r.text().await.unwrap(), n, "{path}");
    }
}

#[tokio::test]
async fn users_are_found_by_id_or_upn_without_regard_to_case() {
    let e = seeded(4).await;
    for path in [
        format!("users/{}", uid(0)),
        format!("users/{}", uid(0).to_uppercase()),
        "users/user0@contoso.com".to_owned(),
        "users/USER0%40CONTOSO.COM".to_owned(),
    ] {
        let body = json(e.dir_get(&path).await, 200).await;
        assert_eq!(body["id"], uid(0), "{path}");
        assert_eq!(
            body["@odata.context"],
            format!("{}/v1.0/$metadata#users/$entity", e.base)
        );
    }
    // A guest's UPN: `#` percent-encoded, as it must be in a path.
    let body = json(
        e.dir_get("users/user3_partner.com%23EXT%23@contoso.onmicrosoft.com")
            .await,
        200,
    )
    .await;
    assert_eq!(body["id"], uid(3));
    let body = json(
        e.dir_get("users/USER3_PARTNER.COM%23ext%23%40contoso.onmicrosoft.com")
            .await,
        200,
    )
    .await;
    assert_eq!(body["id"], uid(3));
    for missing in [
        "users/nobody@contoso.com",
        "users/aaaaaaaa-0000-4000-8000-999999999999",
        "groups/bbbbbbbb-0000-4000-8000-999999999999",
    ] {
        let body = graph_error(e.dir_get(missing).await, 404, "Request_ResourceNotFound").await;
        assert!(
            body["error"]["message"].as_str().unwrap().contains("does not exist"),
            "{body}"
        );
    }
    graph_error(e.dir_get("groups/group0").await, 400, "Request_BadRequest").await;
    graph_error(
        e.dir_get(&format!("users/{}/memberOf", uid(0))).await,
        404,
        "Request_ResourceNotFound",
    )
    .await;
}

#[tokio::test]
async fn post_creates_with_graphs_required_properties() {
    let e = seeded(1).await;
    let ann = json!({"accountEnabled": true, "displayName": "Ann Lee", "mailNickname": "ann",
        "userPrincipalName": "ann@contoso.com", "passwordProfile": {"forceChangePasswordNextSignIn": true, "password": "Xy12345!"},
        "employeeId": "E77"});
    let r = e.dir_post("users", &ann).await;
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let body = json(r, 201).await;
    let id: crossmap_model::Guid = body["id"].as_str().unwrap().parse().expect("a GUID id");
    assert_eq!(location, format!("{}/v1.0/users/{id}", e.base));
    assert_eq!(
        body["@odata.context"],
        format!("{}/v1.0/$metadata#users/$entity", e.base)
    );
    assert_eq!(body["userPrincipalName"], "ann@contoso.com");
    assert!(body.get("passwordProfile").is_none() && body.get("employeeId").is_none());
    let got = json(
        e.dir_get(&format!("users/{id}?$select=userType,employeeId,accountEnabled"))
            .await,
        200,
    )
    .await;
    assert_eq!(got["userType"], "Member", "Graph's default");
    assert_eq!(got["employeeId"], "E77");
    // Each required property, missing, is named.
    for property in [
        "accountEnabled",
        "displayName",
        "mailNickname",
        "userPrincipalName",
        "passwordProfile",
    ] {
        let mut body = ann.clone();
        body.as_object_mut().unwrap().remove(property);
        body["userPrincipalName"] = json!("other@contoso.com");
        if property == "userPrincipalName" {
            body.as_object_mut().unwrap().remove(property);
        }
        let err = graph_error(e.dir_post("users", &body).await, 400, "Request_BadRequest").await;
        assert_eq!(err["error"]["target"], property, "{err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("'{property}'")),
            "{err}"
        );
    }
    // A UPN taken (without regard to case) is Graph's ObjectConflict; nothing is stored.
    let mut twin = ann.clone();
    twin["userPrincipalName"] = json!("ANN@contoso.com");
    twin["id"] = json!(uid(900));
    let err = graph_error(e.dir_post("users", &twin).await, 400, "Request_BadRequest").await;
    assert_eq!(
        err["error"]["message"],
        "Another object with the same value for property userPrincipalName already exists."
    );
    assert_eq!(err["error"]["details"][0]["code"], "ObjectConflict");
    assert_eq!(err["error"]["details"][0]["target"], "userPrincipalName");
    graph_error(
        e.dir_get(&format!("users/{}", uid(900))).await,
        404,
        "Request_ResourceNotFound",
    )
    .await;
    // An id taken; bad values; unknown properties; not JSON; not JSON's media type.
    let mut same_id = ann.clone();
    same_id["id"] = json!(uid(0));
    same_id["userPrincipalName"] = json!("zed@contoso.com");
    let err = graph_error(e.dir_post("users", &same_id).await, 400, "Request_BadRequest").await;
    assert_eq!(err["error"]["details"][0]["target"], "id");
    for (property, value) in [
        ("userType", json!("Admin")),
        ("accountEnabled", json!("yes")),
        ("shoeSize", json!(44)),
        ("userPrincipalName", json!("no-at-sign")),
        ("id", json!("not-a-guid")),
    ] {
        let mut body = ann.clone();
        body["userPrincipalName"] = json!("fresh@contoso.com");
        body[property] = value;
        let err = graph_error(e.dir_post("users", &body).await, 400, "Request_BadRequest").await;
        assert_eq!(err["error"]["target"], property, "{err}");
    }
    let r = e
        .http
        .post(e.dir_url("users"))
        .bearer_auth(e.token_of(TENANT, "directory"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    graph_error(r, 400, "Request_BadRequest").await;
    let r = e
        .http
        .post(e.dir_url("users"))
        .bearer_auth(e.token_of(TENANT, "directory"))
        .header("content-type", "text/plain")
        .body(ann.to_string())
        .send()
        .await
        .unwrap();
    graph_error(r, 415, "unsupportedMediaType").await;
    let count = e
        .http
        .get(e.dir_url("users/$count"))
        .bearer_auth(e.token_of(TENANT, "directory"))
        .header("ConsistencyLevel", "eventual")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(count, "2", "only the one valid POST was stored");

    // Groups: required properties, and the kinds Graph creates.
    let team = json!({"displayName": "Team", "mailNickname": "team", "groupTypes": ["Unified"], "mailEnabled": true, "securityEnabled": false});
    let body = json(e.dir_post("groups", &team).await, 201).await;
    assert_eq!(body["groupTypes"], json!(["Unified"]));
    for property in ["displayName", "mailEnabled", "mailNickname", "securityEnabled"] {
        let mut body = team.clone();
        body.as_object_mut().unwrap().remove(property);
        let err = graph_error(e.dir_post("groups", &body).await, 400, "Request_BadRequest").await;
        assert_eq!(err["error"]["target"], property);
    }
    let mut not_mail = team.clone();
    not_mail["mailEnabled"] = json!(false);
    graph_error(e.dir_post("groups", &not_mail).await, 400, "Request_BadRequest").await;
    let security = json!({"displayName": "Sec", "mailNickname": "sec", "mailEnabled": false, "securityEnabled": true});
    json(e.dir_post("groups", &security).await, 201).await;
    let mut gid0 = security.clone();
    gid0["id"] = json!(gid(0));
    let err = graph_error(e.dir_post("groups", &gid0).await, 400, "Request_BadRequest").await;
    assert_eq!(err["error"]["details"][0]["code"], "ObjectConflict");
}

#[tokio::test]
async fn delete_removes_by_id_or_upn_once() {
    let e = seeded(3).await;
    let token = e.token_of(TENANT, "directory");
    let delete = |path: String| e.http.delete(e.dir_url(&path)).bearer_auth(&token).send();
    assert_eq!(delete(format!("users/{}", uid(0))).await.unwrap().status(), 204);
    graph_error(
        delete(format!("users/{}", uid(0))).await.unwrap(),
        404,
        "Request_ResourceNotFound",
    )
    .await;
    graph_error(
        e.dir_get(&format!("users/{}", uid(0))).await,
        404,
        "Request_ResourceNotFound",
    )
    .await;
    assert_eq!(
        delete("users/USER1@contoso.com".to_owned()).await.unwrap().status(),
        204
    );
    assert_eq!(delete(format!("groups/{}", gid(2))).await.unwrap().status(), 204);
    graph_error(
        e.dir_get(&format!("groups/{}", gid(2))).await,
        404,
        "Request_ResourceNotFound",
    )
    .await;
    let (values, _) = e.follow(&e.dir_url("users"), &token, None).await;
    assert_eq!(ids(&values), [uid(2)]);
    // Methods a resource does not take.
    let r = e
        .http
        .patch(e.dir_url(&format!("users/{}", uid(2))))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["allow"], "GET, DELETE");
    graph_error(r, 405, "methodNotAllowed").await;
    let r = e
        .http
        .delete(e.dir_url("users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    graph_error(r, 405, "methodNotAllowed").await;
    let r = e
        .http
        .post(e.dir_url("organization"))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    graph_error(r, 405, "methodNotAllowed").await;
}

#[tokio::test]
async fn the_organization_is_the_seeded_one_or_a_stable_default() {
    let store = Store::in_memory();
    let org = json!({"@odata.type": "#microsoft.graph.organization", "id": TENANT, "displayName": "Contoso",
        "verifiedDomains": [{"name": "contoso.com", "isDefault": true, "isInitial": false, "type": "Managed", "capabilities": "Email"}]});
    seed_directory(&store, TENANT, &format!("{}\n{org}", seed_file(2))).unwrap();
    seed_directory(
        &store,
        "Fabrikam",
        &seed_file(2)
            .replace("Contoso", "fabrikam")
            .replace("contoso", "fabrikam"),
    )
    .unwrap();
    let e = Emulator::start(store, b"k".to_vec()).await;
    let body = json(e.dir_get("organization").await, 200).await;
    assert_eq!(
        body["@odata.context"],
        format!("{}/v1.0/$metadata#organization", e.base)
    );
    assert_eq!(body["value"].as_array().unwrap().len(), 1);
    assert_eq!(body["value"][0]["id"], TENANT);
    assert_eq!(body["value"][0]["displayName"], "Contoso");
    assert_eq!(body["value"][0]["verifiedDomains"][0]["name"], "contoso.com");
    let body = json(e.dir_get("organization?$select=id,verifiedDomains").await, 200).await;
    assert_eq!(keys(&body["value"][0]), ["id", "verifiedDomains"].into());
    let body = json(e.dir_get(&format!("organization/{TENANT}")).await, 200).await;
    assert_eq!(body["displayName"], "Contoso");
    graph_error(
        e.dir_get(&format!("organization/{OTHER}")).await,
        404,
        "Request_ResourceNotFound",
    )
    .await;
    // Without a seeded organization: derived from the tenant's name and its users' UPN domains.
    let fabrikam = e.token_of("fabrikam", "directory");
    let get = || async {
        json(
            e.http
                .get(e.dir_url("organization"))
                .bearer_auth(&fabrikam)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await
    };
    let first = get().await;
    assert_eq!(first, get().await, "stable");
    let o = &first["value"][0];
    assert_eq!(o["displayName"], "fabrikam");
    assert_ne!(o["id"], TENANT);
    let domains: Vec<(&str, bool)> = o["verifiedDomains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["name"].as_str().unwrap(), d["isDefault"].as_bool().unwrap()))
        .collect();
    assert_eq!(domains, [("fabrikam.com", true), ("fabrikam.onmicrosoft.com", false)]);
    // A tenant with nothing: its id is the tenant's GUID.
    let body = json(
        e.http
            .get(e.dir_url("organization"))
            .bearer_auth(e.token_of(OTHER, "directory"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(body["value"][0]["id"], OTHER);
}

#[tokio::test]
async fn each_call_needs_its_directory_permission() {
    let e = seeded(2).await;
    let user = json!({"accountEnabled": true, "displayName": "A", "mailNickname": "a", "userPrincipalName": "a@contoso.com",
        "passwordProfile": {"password": "Xy12345!"}});
    let group = json!({"displayName": "G", "mailNickname": "g", "mailEnabled": false, "securityEnabled": true});
    let call = |app: &str, method: &str, path: &str| {
        let token = e.token_of(TENANT, app);
        let url = e.dir_url(path);
        let request = match method {
            "GET" => e.http.get(url),
            "DELETE" => e.http.delete(url),
            _ => e.http.post(url).json(if path == "users" { &user } else { &group }),
        };
        request.bearer_auth(token).send()
    };
    // (app, method, path, allowed)
    let uid0 = format!("users/{}", uid(0));
    let gid0 = format!("groups/{}", gid(0));
    let cases: &[(&str, &str, &str, bool)] = &[
        ("users", "GET", "users", true),
        ("users", "GET", &uid0, true),
        ("users", "GET", "groups", false),
        ("users", "GET", "organization", false),
        ("users", "POST", "users", false),
        ("users", "DELETE", &uid0, false),
        ("members", "GET", "groups", true),
        ("members", "GET", &gid0, true),
        ("members", "GET", "users", false),
        ("members", "POST", "groups", false),
        ("reader", "GET", "users", false),
        ("writer", "GET", "groups", false),
        ("directory", "GET", "organization", true),
        ("directory", "POST", "users", true),
        ("directory", "POST", "groups", true),
        ("directory", "DELETE", &gid0, true),
    ];
    for (app, method, path, allowed) in cases {
        let r = call(app, method, path).await.unwrap();
        if *allowed {
            assert!(r.status().is_success(), "{app} {method} {path}: {}", r.status());
        } else {
            let body = graph_error(r, 403, "Authorization_RequestDenied").await;
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("Insufficient privileges"),
                "{body}"
            );
        }
    }
    // No token at all.
    let r = e.http.get(e.dir_url("users")).send().await.unwrap();
    graph_error(r, 401, "InvalidAuthenticationToken").await;
    // The mapping permissions do not reach the directory, nor the directory ones the mappings.
    let r = e
        .get("crossOrganizationUserMappings", &e.token_of(TENANT, "directory"))
        .send()
        .await
        .unwrap();
    graph_error(r, 403, "accessDenied").await;
}

#[tokio::test]
async fn tenants_do_not_see_each_others_directories() {
    let e = seeded(3).await;
    let other = e.token_of(OTHER, "directory");
    let body = json(
        e.http.get(e.dir_url("users")).bearer_auth(&other).send().await.unwrap(),
        200,
    )
    .await;
    assert_eq!(body["value"], json!([]));
    graph_error(
        e.http
            .get(e.dir_url("users/user0@contoso.com"))
            .bearer_auth(&other)
            .send()
            .await
            .unwrap(),
        404,
        "Request_ResourceNotFound",
    )
    .await;
    // The same UPN and id can exist in another tenant.
    let user = json!({"id": uid(0), "accountEnabled": true, "displayName": "A", "mailNickname": "a",
        "userPrincipalName": "User0@Contoso.com", "passwordProfile": {"password": "Xy12345!"}});
    let r = e
        .http
        .post(e.dir_url("users"))
        .bearer_auth(&other)
        .json(&user)
        .send()
        .await
        .unwrap();
    json(r, 201).await;
    let r = e
        .http
        .delete(e.dir_url(&format!("users/{}", uid(0))))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        json(e.dir_get(&format!("users/{}", uid(0))).await, 200).await["id"],
        uid(0)
    );
}

#[tokio::test]
async fn query_options_a_list_does_not_take_are_refused() {
    let e = seeded(3).await;
    for (path, code) in [
        ("users?$top=1&$top=2", "Request_BadRequest"),
        ("users?$skip=1", "Request_BadRequest"),
        ("users?$orderby=displayName", "Request_UnsupportedQuery"),
        ("users?$search=%22displayName:ann%22", "Request_UnsupportedQuery"),
        ("users?$expand=manager", "Request_UnsupportedQuery"),
        ("users?$bogus=1", "Request_BadRequest"),
        ("users?$count=maybe", "Request_BadRequest"),
        ("users?$skiptoken=not-ours", "Request_BadRequest"),
        ("groups?$select=userPrincipalName", "Request_BadRequest"),
    ] {
        graph_error(e.dir_get(path).await, 400, code).await;
    }
    // A users skiptoken is no groups skiptoken, nor one of a UPN-ordered users list.
    let page = json(e.dir_get("users?$top=1").await, 200).await;
    let link = page["@odata.nextLink"].as_str().unwrap();
    let token = link.split("$skiptoken=").nth(1).unwrap();
    graph_error(
        e.dir_get(&format!("groups?$skiptoken={token}")).await,
        400,
        "Request_BadRequest",
    )
    .await;
    let filtered = format!(
        "users?$skiptoken={token}&$filter={}",
        urlencode("startswith(userPrincipalName,'u')")
    );
    graph_error(e.dir_get(&filtered).await, 400, "Request_BadRequest").await;
}

#[tokio::test]
async fn a_durable_directory_survives_a_restart_of_the_emulator() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = reopen(dir.path()).await;
        seed_directory(&store, TENANT, &seed_file(3)).unwrap();
        let e = Emulator::start(store, b"k".to_vec()).await;
        let ann = json!({"id": uid(77), "accountEnabled": true, "displayName": "Ann", "mailNickname": "ann",
            "userPrincipalName": "ann@contoso.com", "passwordProfile": {"password": "Xy12345!"}});
        json(e.dir_post("users", &ann).await, 201).await;
        let r = e
            .http
            .delete(e.dir_url(&format!("users/{}", uid(1))))
            .bearer_auth(e.token_of(TENANT, "directory"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    let store = reopen(dir.path()).await;
    // Seeding the same file again re-creates the deleted user only.
    let report = seed_directory(&store, TENANT, &seed_file(3)).unwrap();
    assert_eq!((report.outcome.created, report.outcome.unchanged), (1, 8));
    let e = Emulator::start(store, b"k".to_vec()).await;
    let (values, _) = e
        .follow(&e.dir_url("users"), &e.token_of(TENANT, "directory"), None)
        .await;
    assert_eq!(ids(&values), [uid(0), uid(1), uid(2), uid(77)]);
}

#[test]
fn seed_files_are_refused_line_by_line() {
    let user = |id: &str, upn: &str| {
        json!({"@odata.type": "#microsoft.graph.user", "id": id, "userPrincipalName": upn}).to_string()
    };
    let cases: Vec<(String, &str)> = vec![
        ("not json".to_owned(), "line 1: not JSON"),
        ("[1]".to_owned(), "line 1: not a JSON object"),
        (
            json!({"id": uid(1), "userPrincipalName": "a@b.c"}).to_string(),
            "line 1: no \"@odata.type\"",
        ),
        (
            json!({"@odata.type": "#microsoft.graph.device", "id": uid(1)}).to_string(),
            "line 1: \"@odata.type\" \"#microsoft.graph.device\"",
        ),
        (
            json!({"@odata.type": "#microsoft.graph.user", "userPrincipalName": "a@b.c"}).to_string(),
            "line 1: a seeded user needs \"id\"",
        ),
        (
            json!({"@odata.type": "#microsoft.graph.user", "id": uid(1)}).to_string(),
            "needs \"userPrincipalName\"",
        ),
        (
            format!("\n{}\n{}", user(&uid(1), "a@b.c"), user(&uid(2), "A@B.C")),
            "line 3: userPrincipalName \"a@b.c\" is already line 2's",
        ),
        (
            format!("{}\n{}", user(&uid(1), "a@b.c"), user(&uid(1), "x@b.c")),
            "line 2: user id",
        ),
        (
            json!({"@odata.type": "#microsoft.graph.user", "id": uid(1), "userPrincipalName": "a@b.c", "colour": 1})
                .to_string(),
            "line 1: Invalid property 'colour'",
        ),
        (
            json!({"@odata.type": "#microsoft.graph.organization", "id": OTHER}).to_string(),
            "line 1: the organization's id",
        ),
    ];
    for (text, expected) in cases {
        let store = Store::in_memory();
        let e = seed_directory(&store, TENANT, &text).unwrap_err().to_string();
        assert!(e.contains(expected), "{e:?} should contain {expected:?}");
        assert_eq!(
            store
                .count_users(TENANT, &crossmap_store::UserFilter::default())
                .unwrap(),
            0,
            "nothing stored"
        );
    }
    // A UPN a stored user keeps, whom the file does not name.
    let store = Store::in_memory();
    seed_directory(&store, TENANT, &user(&uid(1), "a@b.c")).unwrap();
    let e = seed_directory(
        &store,
        TENANT,
        &format!("{}\n{}", user(&uid(3), "z@b.c"), user(&uid(2), "A@b.c")),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("line 2: userPrincipalName \"A@b.c\" is already a stored user's"),
        "{e}"
    );
    assert!(store.user(TENANT, &uid(3).parse().unwrap()).unwrap().is_none());
}

/// Graph's beta endpoint takes system query options without their `$`; v1.0 only for some APIs, so there a
/// name without `$` stays a custom option (ignored).
#[tokio::test]
async fn on_beta_the_dollar_of_a_query_option_is_optional() {
    let e = seeded(5).await;
    let get = |url: String| e.http.get(url).bearer_auth(e.token_of(TENANT, "directory")).send();
    let beta = json(
        get(format!("{}/beta/users?select=displayName&top=2", e.base))
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(beta["value"].as_array().unwrap().len(), 2, "{beta}");
    assert_eq!(beta["value"][0], json!({"displayName": "User 0"}));
    let refused = get(format!("{}/beta/users?skip=1", e.base)).await.unwrap();
    assert_eq!(refused.status(), 400);
    let v1 = json(
        get(format!("{}/v1.0/users?select=displayName&top=2", e.base))
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(v1["value"].as_array().unwrap().len(), 5, "{v1}");
    assert!(v1["value"][0].get("userPrincipalName").is_some(), "{v1}");
}

/// directory-notes.md: "`in` allows at most 15 values". Users by id or UPN (without regard to case,
/// guests' `#EXT#` UPNs too), with the other filters, paged by `$top`, counted; groups by id.
#[tokio::test]
async fn in_names_up_to_15_users_or_groups() {
    let e = seeded(20).await;
    let token = e.token_of(TENANT, "directory");
    let filter = |f: &str| format!("users?$filter={}&$select=id", urlencode(f));
    // Users 1, 2 (disabled), 3 (a guest), 7 (a guest): an absent UPN and a repeated one change nothing.
    let upns = "userPrincipalName in ('USER1@contoso.com', 'user2@contoso.com', \
                'user3_partner.com#EXT#@contoso.onmicrosoft.com', 'user7_partner.com#EXT#@contoso.onmicrosoft.com', \
                'nobody@contoso.com', 'user1@CONTOSO.com')";
    let (values, _) = e.follow(&e.dir_url(&filter(upns)), &token, None).await;
    assert_eq!(ids(&values), [uid(1), uid(2), uid(3), uid(7)]);
    let (values, pages) = e
        .follow(&e.dir_url(&format!("{}&$top=3", filter(upns))), &token, None)
        .await;
    assert_eq!(ids(&values), [uid(1), uid(2), uid(3), uid(7)], "paged");
    assert_eq!(pages.len(), 2);
    let (values, _) = e
        .follow(
            &e.dir_url(&filter(&format!(
                "{upns} and accountEnabled eq true and userType eq 'Guest'"
            ))),
            &token,
            None,
        )
        .await;
    assert_eq!(ids(&values), [uid(3), uid(7)]);
    let by_id = format!("id in ('{}', '{}') and {upns}", uid(2), uid(9));
    let (values, _) = e.follow(&e.dir_url(&filter(&by_id)), &token, None).await;
    assert_eq!(ids(&values), [uid(2)], "both lists must hold");
    let count = e
        .http
        .get(e.dir_url(&format!("users/$count?$filter={}", urlencode(upns))))
        .bearer_auth(&token)
        .header("ConsistencyLevel", "eventual")
        .send()
        .await
        .unwrap();
    assert_eq!(count.text().await.unwrap(), "4");
    let groups = format!(
        "groups?$filter={}",
        urlencode(&format!("id in ('{}', '{}')", gid(4), gid(1)))
    );
    let (values, _) = e.follow(&e.dir_url(&groups), &token, None).await;
    assert_eq!(ids(&values), [gid(1), gid(4)]);
    let unified = format!(
        "id in ('{}', '{}') and groupTypes/any(c:c eq 'Unified')",
        gid(4),
        gid(1)
    );
    let (values, _) = e
        .follow(
            &e.dir_url(&format!("groups?$filter={}", urlencode(&unified))),
            &token,
            None,
        )
        .await;
    assert_eq!(ids(&values), [gid(4)]);
    // 16 values, another property, a malformed id or list.
    let sixteen: Vec<String> = (0..16).map(|i| format!("'u{i}@contoso.com'")).collect();
    let many = format!("userPrincipalName in ({})", sixteen.join(","));
    let body = graph_error(e.dir_get(&filter(&many)).await, 400, "Request_UnsupportedQuery").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("15"), "{body}");
    graph_error(
        e.dir_get(&filter("mail in ('a@b.com')")).await,
        400,
        "Request_UnsupportedQuery",
    )
    .await;
    graph_error(e.dir_get(&filter("id in ('x')")).await, 400, "Request_BadRequest").await;
    graph_error(e.dir_get(&filter("id in ()")).await, 400, "Request_BadRequest").await;
    let groups_by_upn = format!("groups?$filter={}", urlencode("userPrincipalName in ('a@b.com')"));
    graph_error(e.dir_get(&groups_by_upn).await, 400, "Request_UnsupportedQuery").await;
}
