//! Large deterministic data sets for benchmarks: many mappings, and requests against them.

use crossmap_model::{
    DeltaItem, Guid, Identity, Patch, SharePointGroupIdentityMapping as Group,
    SharePointIdentityMappingGroupMigrationData, SharePointIdentityMappingGroupType as GroupType,
    SharePointIdentityMappingUserMigrationData, SharePointIdentityMappingUserType as UserType,
    SharePointUserIdentityMapping as User, UserIdentity,
};

/// A mapping kind with a deterministic `n`-th mapping and `n`-th patch.
pub trait Sample: crossmap_delta::Rules {
    /// The `n`-th complete mapping; different `n`, different key. `variant` changes the target.
    fn sample(n: u64, variant: u64) -> Self;
    /// A patch of mapping `n` that changes one property (its target's display name).
    fn sample_patch(n: u64, variant: u64) -> Self;
}

/// splitmix64: spreads `n` so consecutive keys are not consecutive GUIDs.
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn guid(n: u64, salt: u64) -> String {
    Guid::from_u128((u128::from(mix(n ^ salt)) << 64) | u128::from(mix(n.wrapping_add(salt)))).to_string()
}

const ORG: u128 = 0x1111_1111_1111_1111_1111_1111_1111_1111;

impl Sample for Group {
    fn sample(n: u64, variant: u64) -> Self {
        Group {
            source_organization_id: Patch::Value(Guid::from_u128(ORG)),
            group_type: Patch::Value(if n.is_multiple_of(3) {
                GroupType::M365Group
            } else {
                GroupType::RegularGroup
            }),
            source_group_identity: Patch::Value(Identity {
                id: Patch::Value(guid(n, 1)),
                ..Identity::default()
            }),
            target_group_identity: Patch::Value(Identity {
                id: Patch::Value(guid(n, 2 + variant)),
                ..Identity::default()
            }),
            target_group_migration_data: Patch::Value(SharePointIdentityMappingGroupMigrationData {
                mail_nickname: Patch::Value(format!("group{n}")),
                ..Default::default()
            }),
            ..Group::default()
        }
    }

    fn sample_patch(n: u64, variant: u64) -> Self {
        Group {
            source_group_identity: Patch::Value(Identity {
                id: Patch::Value(guid(n, 1)),
                ..Identity::default()
            }),
            target_group_identity: Patch::Value(Identity {
                display_name: Patch::Value(format!("Group {n} v{variant}")),
                ..Identity::default()
            }),
            ..Group::default()
        }
    }
}

impl Sample for User {
    fn sample(n: u64, variant: u64) -> Self {
        User {
            source_organization_id: Patch::Value(Guid::from_u128(ORG)),
            user_type: Patch::Value(if n.is_multiple_of(50) {
                UserType::GuestUser
            } else {
                UserType::RegularUser
            }),
            source_user_identity: Patch::Value(UserIdentity {
                user_principal_name: Patch::Value(format!("user{n}@contoso.com")),
                ..UserIdentity::default()
            }),
            target_user_identity: Patch::Value(UserIdentity {
                user_principal_name: Patch::Value(format!("user{n}.{variant}@fabrikam.com")),
                ..UserIdentity::default()
            }),
            target_user_migration_data: Patch::Value(SharePointIdentityMappingUserMigrationData {
                email: Patch::Value(format!("user{n}.{variant}@fabrikam.com")),
                ..Default::default()
            }),
            ..User::default()
        }
    }

    fn sample_patch(n: u64, variant: u64) -> Self {
        User {
            source_user_identity: Patch::Value(UserIdentity {
                user_principal_name: Patch::Value(format!("user{n}@contoso.com")),
                ..UserIdentity::default()
            }),
            target_user_identity: Patch::Value(UserIdentity {
                display_name: Patch::Value(format!("User {n} v{variant}")),
                ..UserIdentity::default()
            }),
            ..User::default()
        }
    }
}

/// `count` requests of `size` items against a table of `existing` mappings: mostly patches of existing
/// mappings, some creates of new keys and some removals, as a migration's incremental runs look.
pub fn requests<M: Sample>(existing: u64, count: usize, size: usize) -> Vec<Vec<DeltaItem<M>>> {
    (0..count as u64)
        .map(|r| {
            (0..size as u64)
                .map(|i| {
                    let n = mix(r * size as u64 + i);
                    match n % 10 {
                        0 => DeltaItem::Upsert(M::sample(existing + n % existing, r)),
                        1 => DeltaItem::deleted(M::sample(existing * 2 + n % existing, 0).key_only()),
                        _ => DeltaItem::Upsert(M::sample_patch(n % existing, r)),
                    }
                })
                .collect()
        })
        .collect()
}
