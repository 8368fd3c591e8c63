//! What the CLI writes from a matching: the map's rows (section 9), the review list (section 10), JSON.

use crate::{SOURCE_TENANT, dir, run, s, user};
use crossmap_match::{Config, ReviewRow, Status, match_directories};
use crossmap_model::directory::Group;
use crossmap_model::{
    Guid, Patch, SharePointIdentityMappingGroupType as GroupType, SharePointIdentityMappingUserType as UserType,
};
use crossmap_test_support::directories::group;

#[test]
fn s9_user_rows_carry_the_tenant_the_user_type_and_the_target_address() {
    let src = [
        user(1, "Ann@a.com", |u| u.employee_id = s("1")),
        user(3, "guest_x.org#EXT#@a.onmicrosoft.com", |u| {
            u.user_type = s("Guest");
            u.employee_id = s("2");
        }),
        user(5, "root@a.com", |u| {
            u.user_type = s("Guest");
            u.employee_id = s("3");
        }),
    ];
    let tgt = [
        user(2, "Ann.Lee@b.com", |u| {
            u.employee_id = s("1");
            u.mail = s("Ann.Lee@mail.b.com");
        }),
        user(4, "g@b.com", |u| u.employee_id = s("2")),
        user(6, "r@b.com", |u| u.employee_id = s("3")),
    ];
    let mut c = Config::new();
    c.admin("ROOT@a.com").unwrap();
    run(&src, &tgt, &c, |m| {
        let rows: Vec<_> = m.user_mappings().collect();
        let view: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.source_user_identity
                        .value()
                        .unwrap()
                        .user_principal_name
                        .value()
                        .unwrap()
                        .as_str(),
                    r.target_user_identity
                        .value()
                        .unwrap()
                        .user_principal_name
                        .value()
                        .unwrap()
                        .as_str(),
                    r.target_user_migration_data
                        .value()
                        .unwrap()
                        .email
                        .value()
                        .unwrap()
                        .as_str(),
                    r.user_type.value().unwrap().clone(),
                )
            })
            .collect();
        assert_eq!(
            view,
            [
                (
                    "Ann@a.com",
                    "Ann.Lee@b.com",
                    "Ann.Lee@mail.b.com",
                    UserType::RegularUser
                ),
                (
                    "guest_x.org#EXT#@a.onmicrosoft.com",
                    "g@b.com",
                    "g@b.com",
                    UserType::GuestUser
                ),
                ("root@a.com", "r@b.com", "r@b.com", UserType::AdminUser),
            ]
        );
        assert!(
            rows.iter()
                .all(|r| r.source_organization_id == Patch::Value(Guid::from_u128(SOURCE_TENANT)))
        );
        // What the engine would store: every row is a valid, complete create.
        for r in rows {
            source_key_is_valid(&r);
        }
    });
}

/// The map's user rows name their source by a valid UPN (the API's key).
fn source_key_is_valid(r: &crossmap_model::SharePointUserIdentityMapping) {
    assert!(r.source_key().is_some(), "{r:?}");
}

#[test]
fn s9_group_rows_name_a_microsoft_365_target_by_alias_and_others_by_display_name() {
    let src: Vec<Group> = vec![group(1, "Sales", "sales", true), group(2, "Finance", "fin", false)];
    let tgt: Vec<Group> = vec![
        group(11, "Sales Team", "Sales", true),
        group(12, "Finance (EU)", "fin", false),
    ];
    let (sd, td) = (dir(SOURCE_TENANT, &[], &src), dir(2, &[], &tgt));
    let m = match_directories(&sd, &td, &Config::new()).unwrap();
    let rows: Vec<_> = m.group_mappings().collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].group_type, Patch::Value(GroupType::M365Group));
    assert_eq!(
        rows[0].target_group_migration_data.value().unwrap().mail_nickname,
        Patch::Value("Sales".to_owned())
    );
    assert!(rows[0].target_group_identity.value().unwrap().display_name.is_absent());
    assert_eq!(rows[1].group_type, Patch::Value(GroupType::RegularGroup));
    assert_eq!(
        rows[1].target_group_identity.value().unwrap().display_name,
        Patch::Value("Finance (EU)".to_owned())
    );
    assert_eq!(
        rows[1].target_group_identity.value().unwrap().id,
        Patch::Value(Guid::from_u128(12).to_string())
    );
}

#[test]
fn s10_the_review_list_has_every_source_object_once_in_the_documented_columns() {
    let src = [
        user(1, "ann@a.com", |u| u.employee_id = s("e1")),
        user(3, "bob@a.com", |u| u.employee_id = s("0")),
        user(5, "gone@a.com", |u| u.account_enabled = Patch::Value(false)),
    ];
    let tgt = [
        user(2, "x@b.com", |u| u.employee_id = s("e1")),
        user(4, "b.one@b.com", |u| u.employee_id = s("0")),
        user(6, "b.two@b.com", |u| u.employee_id = s("0")),
    ];
    let groups = [group(7, "Finance", "fin", false)];
    let (sd, td) = (dir(1, &src, &groups), dir(2, &tgt, &[]));
    // The tenants' domain, mapped as in every move: the rows say nothing about domains then.
    let mut c = Config::new();
    c.map_domain_arg("a.com=b.com").unwrap();
    let m = match_directories(&sd, &td, &c).unwrap();
    let rows: Vec<ReviewRow> = m.review().collect();
    assert_eq!(rows.len(), 4);
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    for r in &rows {
        w.serialize(r).unwrap();
    }
    let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], ReviewRow::HEADER.join(","));
    assert_eq!(
        lines[1],
        "user,ann@a.com,matched,employeeId,x@b.com,,\"employeeId \"\"e1\"\" identifies one source and one target user\""
    );
    assert_eq!(
        lines[2],
        "user,bob@a.com,ambiguous,employeeId,,b.one@b.com b.two@b.com,\"employeeId \"\"0\"\" is shared: 2 target users\""
    );
    assert_eq!(
        lines[3],
        "user,gone@a.com,excluded,accountEnabled,,,accountEnabled is false"
    );
    assert_eq!(
        lines[4],
        format!(
            "group,{},unmatched,,,,\"\"\"Finance\"\" (security): no rule found a candidate\"",
            Guid::from_u128(7)
        )
    );
    let counts = m.user_counts();
    assert_eq!(
        (counts.matched, counts.ambiguous, counts.excluded, counts.total()),
        (1, 1, 1, 3)
    );
    assert_eq!(m.group_counts().get(Status::Unmatched), 1);
}

#[test]
fn the_json_form_holds_every_row_with_its_evidence() {
    let src = [user(1, "cat@a.com", |u| u.employee_id = s("0"))];
    let tgt = [
        user(2, "cat@b.com", |u| u.employee_id = s("0")),
        user(4, "other@b.com", |u| u.employee_id = s("0")),
    ];
    let mut c = Config::new();
    c.map_domain_arg("a.com=b.com").unwrap();
    run(&src, &tgt, &c, |m| {
        let v = serde_json::to_value(m).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "users": [{
                    "source": "cat@a.com", "status": "matched", "rule": "userPrincipalName",
                    "target": "cat@b.com", "userType": "regularUser",
                    "evidence": [
                        {"rule": "employeeId", "outcome": "ambiguous", "values": ["0"],
                         "candidates": ["cat@b.com", "other@b.com"]},
                        {"rule": "userPrincipalName", "outcome": "matched", "values": ["cat@b.com"],
                         "candidates": ["cat@b.com"]}
                    ]
                }],
                "groups": []
            })
        );
    });
}
