//! proptest strategies for both mapping kinds: valid mappings, patches, removals, corrupt items, states.
//!
//! Keys come from small pools so that requests touch the same mappings again and again, and the
//! generated values are what a request may carry: valid ones, and invalid ones ([`Gen::corrupt`]) of every
//! kind the engine refuses.

use crossmap_delta::{MemoryTable, Rules};
use crossmap_model::{
    DeltaItem, Guid, Identity, Patch, SharePointGroupIdentityMapping as Group,
    SharePointIdentityMappingGroupMigrationData, SharePointIdentityMappingGroupType as GroupType,
    SharePointIdentityMappingUserMigrationData, SharePointIdentityMappingUserType as UserType,
    SharePointUserIdentityMapping as User, UserIdentity,
};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::json;

/// A mapping kind the property tests run over.
pub trait Gen: Rules + std::fmt::Debug {
    /// A complete, valid mapping (what a create needs, and sometimes more).
    fn full() -> BoxedStrategy<Self>;
    /// A valid patch: the source key and any subset of the other properties, `null`s included.
    fn partial() -> BoxedStrategy<Self>;
    /// An item that validation refuses, whatever the stored state.
    fn corrupt() -> BoxedStrategy<Self>;
    /// A removal item of a key of the pool.
    fn removal() -> BoxedStrategy<Self>;
}

const GROUP_POOL: usize = 8;
const USER_POOL: usize = 8;

fn guid(i: u128) -> Guid {
    Guid::from_u128(0x1000_0000_0000_4000_8000_0000_0000_0000 + i)
}

fn guid_text() -> impl Strategy<Value = String> {
    (0..GROUP_POOL as u128, any::<bool>()).prop_map(|(i, upper)| {
        let t = guid(i).to_string();
        if upper { t.to_uppercase() } else { t }
    })
}

fn upn_text() -> impl Strategy<Value = String> {
    let names = [
        "ann",
        "bob",
        "o'brien",
        "zoë",
        "ann_fabrikam.com#EXT#",
        "x/y",
        "carol",
        "dave",
    ];
    (0..USER_POOL, any::<bool>()).prop_map(move |(i, upper)| {
        let t = format!("{}@contoso.com", names[i]);
        if upper { t.to_uppercase() } else { t }
    })
}

fn org() -> impl Strategy<Value = Guid> {
    (0..2u128).prop_map(|i| guid(0xff00 + i))
}

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z ']{0,6}"
}

fn token() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,6}"
}

/// Absent, null (when nullable) or a value.
fn slot<T: std::fmt::Debug + Clone + 'static>(
    value: impl Strategy<Value = T> + 'static,
    nullable: bool,
) -> BoxedStrategy<Patch<T>> {
    let value = value.prop_map(Patch::Value);
    if nullable {
        prop_oneof![2 => Just(Patch::Absent), 1 => Just(Patch::Null), 3 => value].boxed()
    } else {
        prop_oneof![1 => Just(Patch::Absent), 3 => value].boxed()
    }
}

fn group_type() -> impl Strategy<Value = GroupType> {
    select(vec![GroupType::None, GroupType::RegularGroup, GroupType::M365Group])
}

fn user_type() -> impl Strategy<Value = UserType> {
    select(vec![
        UserType::None,
        UserType::RegularUser,
        UserType::AdminUser,
        UserType::GuestUser,
    ])
}

fn group_identity(id: impl Strategy<Value = String> + 'static) -> impl Strategy<Value = Identity> {
    (id, slot(text(), true)).prop_map(|(id, display_name)| Identity {
        id: Patch::Value(id),
        display_name,
        ..Identity::default()
    })
}

fn user_identity(upn: impl Strategy<Value = String> + 'static) -> impl Strategy<Value = UserIdentity> {
    (upn, slot(text(), true), slot("10\\.0\\.0\\.[0-9]", true)).prop_map(|(upn, display_name, ip_address)| {
        UserIdentity {
            user_principal_name: Patch::Value(upn),
            display_name,
            ip_address,
            ..UserIdentity::default()
        }
    })
}

fn group_data() -> impl Strategy<Value = SharePointIdentityMappingGroupMigrationData> {
    slot(token(), true).prop_map(|mail_nickname| SharePointIdentityMappingGroupMigrationData {
        mail_nickname,
        ..Default::default()
    })
}

fn user_data() -> impl Strategy<Value = SharePointIdentityMappingUserMigrationData> {
    slot(upn_text(), true).prop_map(|email| SharePointIdentityMappingUserMigrationData {
        email,
        ..Default::default()
    })
}

impl Gen for Group {
    fn full() -> BoxedStrategy<Self> {
        (
            guid_text(),
            org(),
            group_type(),
            group_identity(guid_text()),
            slot(group_data(), true),
        )
            .prop_map(|(src, org, gt, target, data)| Group {
                source_group_identity: Patch::Value(Identity {
                    id: Patch::Value(src),
                    ..Identity::default()
                }),
                source_organization_id: Patch::Value(org),
                group_type: Patch::Value(gt),
                target_group_identity: Patch::Value(target),
                target_group_migration_data: data,
                ..Group::default()
            })
            .boxed()
    }

    fn partial() -> BoxedStrategy<Self> {
        (
            guid_text(),
            slot(org(), false),
            slot(group_type(), false),
            slot(group_identity(guid_text()), false),
            slot(group_data(), true),
        )
            .prop_map(|(src, org, gt, target, data)| Group {
                source_group_identity: Patch::Value(Identity {
                    id: Patch::Value(src),
                    ..Identity::default()
                }),
                source_organization_id: org,
                group_type: gt,
                target_group_identity: target,
                target_group_migration_data: data,
                ..Group::default()
            })
            .boxed()
    }

    fn corrupt() -> BoxedStrategy<Self> {
        (Self::full(), 0..6usize)
            .prop_map(|(mut g, how)| {
                match how {
                    0 => g.source_group_identity = Patch::Absent,
                    1 => {
                        g.target_group_identity = Patch::Value(Identity {
                            id: Patch::Value("not-a-guid".into()),
                            ..Identity::default()
                        })
                    }
                    2 => g.source_organization_id = Patch::Null,
                    3 => g.group_type = Patch::Value(GroupType::Other("distributionList".into())),
                    4 => {
                        g.additional_properties.insert("futureProperty".into(), json!(1));
                    }
                    _ => g.group_type = Patch::Value(GroupType::UnknownFutureValue),
                }
                g
            })
            .boxed()
    }

    fn removal() -> BoxedStrategy<Self> {
        guid_text()
            .prop_map(|id| Group {
                source_group_identity: Patch::Value(Identity {
                    id: Patch::Value(id),
                    ..Identity::default()
                }),
                ..Group::default()
            })
            .boxed()
    }
}

impl Gen for User {
    fn full() -> BoxedStrategy<Self> {
        (
            upn_text(),
            org(),
            user_type(),
            user_identity(upn_text()),
            slot(user_data(), true),
            slot(text(), true),
        )
            .prop_map(|(src, org, ut, target, data, name)| User {
                source_user_identity: Patch::Value(UserIdentity {
                    user_principal_name: Patch::Value(src),
                    display_name: name,
                    ..UserIdentity::default()
                }),
                source_organization_id: Patch::Value(org),
                user_type: Patch::Value(ut),
                target_user_identity: Patch::Value(target),
                target_user_migration_data: data,
                ..User::default()
            })
            .boxed()
    }

    fn partial() -> BoxedStrategy<Self> {
        (
            upn_text(),
            slot(org(), false),
            slot(user_type(), false),
            slot(user_identity(upn_text()), false),
            slot(user_data(), true),
        )
            .prop_map(|(src, org, ut, target, data)| User {
                source_user_identity: Patch::Value(UserIdentity {
                    user_principal_name: Patch::Value(src),
                    ..UserIdentity::default()
                }),
                source_organization_id: org,
                user_type: ut,
                target_user_identity: target,
                target_user_migration_data: data,
                ..User::default()
            })
            .boxed()
    }

    fn corrupt() -> BoxedStrategy<Self> {
        (Self::full(), 0..6usize)
            .prop_map(|(mut u, how)| {
                match how {
                    0 => u.source_user_identity = Patch::Null,
                    1 => {
                        u.target_user_identity = Patch::Value(UserIdentity {
                            user_principal_name: Patch::Value("two words@contoso.com".into()),
                            ..UserIdentity::default()
                        })
                    }
                    2 => u.user_type = Patch::Null,
                    3 => u.user_type = Patch::Value(UserType::Other("serviceAccount".into())),
                    4 => {
                        if let Patch::Value(t) = &mut u.target_user_identity {
                            t.additional_properties.insert("tenantId".into(), json!("t"));
                        }
                    }
                    _ => u.odata_type = Some("#microsoft.graph.sharePointGroupIdentityMapping".into()),
                }
                u
            })
            .boxed()
    }

    fn removal() -> BoxedStrategy<Self> {
        upn_text()
            .prop_map(|upn| User {
                source_user_identity: Patch::Value(UserIdentity {
                    user_principal_name: Patch::Value(upn),
                    ..UserIdentity::default()
                }),
                ..User::default()
            })
            .boxed()
    }
}

/// A stored state: up to `max` mappings, canonical, as the engine would hold them.
pub fn state<M: Gen>(max: usize) -> impl Strategy<Value = MemoryTable<M>> {
    proptest::collection::vec(M::full(), 0..=max)
        .prop_map(|ms| MemoryTable::from_mappings(ms).expect("generated mappings are complete"))
}

/// A valid item: a complete upsert, a patch, or a removal.
pub fn valid_item<M: Gen>() -> impl Strategy<Value = DeltaItem<M>> {
    prop_oneof![
        2 => M::full().prop_map(DeltaItem::Upsert),
        2 => M::partial().prop_map(DeltaItem::Upsert),
        1 => M::removal().prop_map(DeltaItem::deleted),
    ]
}

/// Up to `max` valid items.
pub fn valid_items<M: Gen>(max: usize) -> impl Strategy<Value = Vec<DeltaItem<M>>> {
    proptest::collection::vec(valid_item::<M>(), 0..=max)
}

/// Up to `max` valid items with at least one corrupt one somewhere; also returns the corrupt indices.
pub fn items_with_invalid<M: Gen>(max: usize) -> impl Strategy<Value = (Vec<DeltaItem<M>>, Vec<usize>)> {
    (
        valid_items::<M>(max),
        proptest::collection::vec((any::<proptest::sample::Index>(), M::corrupt()), 1..=3),
    )
        .prop_map(|(mut items, bad)| {
            let mut at = Vec::new();
            for (index, item) in bad {
                let i = index.index(items.len() + 1);
                items.insert(i, DeltaItem::Upsert(item));
                for a in &mut at {
                    if *a >= i {
                        *a += 1;
                    }
                }
                at.push(i);
            }
            at.sort_unstable();
            (items, at)
        })
}

/// `mapping` as a service might echo it: with properties the schema does not declare (at the top and
/// inside complex values), instance annotations, `"deleted": null` and, for users, the internal
/// `sourceUserPrincipalName` alternate key. None of it is something a request states.
pub fn echoed<M: Gen>(mapping: M) -> impl Strategy<Value = M> {
    let extra = proptest::collection::vec(
        (
            select(
                &[
                    "futureProperty",
                    "sourceGroupPrincipalName",
                    "lastModifiedDateTime",
                    "x",
                ][..],
            ),
            prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(serde_json::Value::from),
                "[a-z]{0,5}".prop_map(serde_json::Value::from),
                Just(json!({"nested": [1, 2]})),
            ],
        ),
        0..3,
    );
    (extra, any::<bool>(), any::<bool>(), any::<bool>()).prop_map(move |(extra, annotate, nested, deleted)| {
        let mut value = serde_json::to_value(&mapping).expect("a mapping serialises");
        let object = value.as_object_mut().expect("a mapping is an object");
        for (k, v) in &extra {
            object.insert((*k).to_owned(), v.clone());
        }
        if annotate {
            object.insert("@odata.type".into(), json!("#microsoft.graph.futureMappingType"));
            object.insert("@odata.etag".into(), json!("W/\"3\""));
            object.insert("id@odata.navigationLink".into(), json!("x"));
        }
        if deleted {
            object.insert("deleted".into(), serde_json::Value::Null);
        }
        if let Some(upn) = object
            .get("sourceUserIdentity")
            .and_then(|i| i.get("userPrincipalName"))
            .cloned()
        {
            object.insert("sourceUserPrincipalName".into(), upn);
        }
        if nested {
            for (_, v) in object.iter_mut() {
                if let Some(inner) = v.as_object_mut() {
                    inner.insert("futureProperty".into(), json!(7));
                    inner.insert("@odata.type".into(), json!("#microsoft.graph.identity"));
                }
            }
        }
        serde_json::from_value(value).expect("an echo still reads as a mapping")
    })
}

/// A stored state as a service echoes it: [`state`], each mapping passed through [`echoed`], paired with
/// the state itself.
pub fn echoed_state<M: Gen>(max: usize) -> impl Strategy<Value = (MemoryTable<M>, MemoryTable<M>)> {
    proptest::collection::vec(M::full(), 0..=max)
        .prop_flat_map(|ms| {
            let echoes: Vec<_> = ms.iter().cloned().map(echoed).collect();
            (Just(ms), echoes)
        })
        .prop_map(|(ms, echoes)| {
            (
                MemoryTable::from_mappings(ms).expect("generated mappings are complete"),
                MemoryTable::from_mappings(echoes).expect("echoes keep their keys"),
            )
        })
}
