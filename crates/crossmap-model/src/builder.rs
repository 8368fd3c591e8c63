//! Building and reading mappings without spelling out [`Patch`] and `..Default::default()` at every level.
//!
//! [`UserMapping::new`] and [`GroupMapping::new`] give a complete mapping, every property the service
//! requires set, and by-value setters add the optional ones. Inherent accessors read the properties a
//! caller looks at most (`id`, the source key, the target) as plain `Option`s: no trait to import.

use crate::{
    GroupKey, Guid, Identity, Patch, SharePointGroupIdentityMapping, SharePointIdentityMappingGroupType,
    SharePointIdentityMappingUserType, SharePointUserIdentityMapping, UserIdentity, UserKey,
};

/// A user mapping: which source user becomes which target user. Build one with [`UserMapping::new`].
///
/// ```
/// use crossmap_model::{SharePointUserIdentityMapping, UserMapping};
/// let read: UserMapping = serde_json::from_str(r#"{"sourceUserIdentity": {"userPrincipalName": "a@contoso.com"}}"#).unwrap();
/// let _same_type: SharePointUserIdentityMapping = read;
/// ```
pub type UserMapping = SharePointUserIdentityMapping;
/// A group mapping: which source group becomes which target group. Build one with [`GroupMapping::new`].
///
/// ```
/// use crossmap_model::{GroupMapping, Guid};
/// let m = GroupMapping::new(Guid::from_u128(1), Guid::from_u128(2), Guid::from_u128(3));
/// assert_eq!(m.target_group_id(), Some("00000000-0000-0000-0000-000000000003"));
/// ```
pub type GroupMapping = SharePointGroupIdentityMapping;
/// The kind of a mapped user (`regularUser`, `guestUser`, …).
///
/// ```
/// use crossmap_model::UserType;
/// assert_eq!(UserType::GuestUser.as_str(), "guestUser");
/// assert_eq!(UserType::from_wire("adminUser"), UserType::AdminUser);
/// ```
pub type UserType = SharePointIdentityMappingUserType;
/// The kind of a mapped group (`regularGroup`, `m365Group`, …).
///
/// ```
/// use crossmap_model::GroupType;
/// assert_eq!(GroupType::M365Group.as_str(), "m365Group");
/// ```
pub type GroupType = SharePointIdentityMappingGroupType;

impl SharePointUserIdentityMapping {
    /// A complete user mapping: the source organization, the source UPN (its key) and the target UPN, and
    /// `userType` `none`, exactly what the service stores when created from it.
    ///
    /// Because every property is set, sending it over an existing mapping also resets a user type set
    /// before to `none` unless [`user_type`](Self::user_type) says otherwise. Values are not checked
    /// here: the service (and `crossmap_delta`'s validation) refuses a malformed UPN with a clear error.
    ///
    /// ```
    /// use crossmap_model::{Guid, UserMapping, UserType};
    /// let org: Guid = "11111111-1111-1111-1111-111111111111".parse().unwrap();
    /// let mapping = UserMapping::new(org, "user1@contoso.com", "user1@fabrikam.com")
    ///     .email("user1@fabrikam.com")
    ///     .user_type(UserType::RegularUser);
    /// assert_eq!(
    ///     serde_json::to_value(&mapping).unwrap(),
    ///     serde_json::json!({
    ///         "sourceOrganizationId": "11111111-1111-1111-1111-111111111111",
    ///         "sourceUserIdentity": {"userPrincipalName": "user1@contoso.com"},
    ///         "targetUserIdentity": {"userPrincipalName": "user1@fabrikam.com"},
    ///         "targetUserMigrationData": {"email": "user1@fabrikam.com"},
    ///         "userType": "regularUser",
    ///     })
    /// );
    /// ```
    pub fn new(org: Guid, source_upn: impl Into<String>, target_upn: impl Into<String>) -> Self {
        SharePointUserIdentityMapping {
            source_organization_id: Patch::Value(org),
            source_user_identity: Patch::Value(UserIdentity {
                user_principal_name: Patch::Value(source_upn.into()),
                ..UserIdentity::default()
            }),
            target_user_identity: Patch::Value(UserIdentity {
                user_principal_name: Patch::Value(target_upn.into()),
                ..UserIdentity::default()
            }),
            user_type: Patch::Value(SharePointIdentityMappingUserType::None),
            ..Self::default()
        }
    }

    /// Sets the kind of user (`userType`).
    ///
    /// ```
    /// # use crossmap_model::{Guid, UserMapping, UserType};
    /// let guest = UserMapping::new(Guid::NIL, "ann@contoso.com", "ann@fabrikam.com").user_type(UserType::GuestUser);
    /// assert_eq!(guest.get_user_type(), Some(&UserType::GuestUser));
    /// ```
    #[must_use]
    pub fn user_type(mut self, user_type: SharePointIdentityMappingUserType) -> Self {
        self.user_type = Patch::Value(user_type);
        self
    }

    /// Sets the target user's email address (`targetUserMigrationData.email`).
    ///
    /// ```
    /// # use crossmap_model::{Guid, UserMapping};
    /// let m = UserMapping::new(Guid::NIL, "ann@contoso.com", "ann@fabrikam.com").email("ann.b@fabrikam.com");
    /// assert_eq!(m.target_email(), Some("ann.b@fabrikam.com"));
    /// ```
    #[must_use]
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.target_user_migration_data.get_or_insert_default().email = Patch::Value(email.into());
        self
    }

    /// Sets the target user's Entra object id (`targetUserIdentity.id`).
    ///
    /// ```
    /// # use crossmap_model::{Guid, UserMapping};
    /// let id = Guid::from_u128(0xbbbb);
    /// let m = UserMapping::new(Guid::NIL, "ann@contoso.com", "ann@fabrikam.com").target_id(id);
    /// assert_eq!(m.target_user_identity.value().unwrap().id.value().map(String::as_str), Some("00000000-0000-0000-0000-00000000bbbb"));
    /// ```
    #[must_use]
    pub fn target_id(mut self, id: Guid) -> Self {
        self.target_user_identity.get_or_insert_default().id = Patch::Value(id.to_string());
        self
    }

    /// Sets the target user's display name (`targetUserIdentity.displayName`).
    ///
    /// ```
    /// # use crossmap_model::{Guid, UserMapping};
    /// let m = UserMapping::new(Guid::NIL, "ann@contoso.com", "ann@fabrikam.com").display_name("Ann B");
    /// assert_eq!(serde_json::to_value(&m).unwrap()["targetUserIdentity"]["displayName"], "Ann B");
    /// ```
    #[must_use]
    pub fn display_name(mut self, name: impl Into<String>) -> Self {
        self.target_user_identity.get_or_insert_default().display_name = Patch::Value(name.into());
        self
    }

    /// Sets the source user's Entra object id (`sourceUserIdentity.id`).
    ///
    /// ```
    /// # use crossmap_model::{Guid, UserMapping};
    /// let m = UserMapping::new(Guid::NIL, "ann@contoso.com", "ann@fabrikam.com").source_id(Guid::from_u128(0xaaaa));
    /// assert_eq!(serde_json::to_value(&m).unwrap()["sourceUserIdentity"]["id"], "00000000-0000-0000-0000-00000000aaaa");
    /// ```
    #[must_use]
    pub fn source_id(mut self, id: Guid) -> Self {
        self.source_user_identity.get_or_insert_default().id = Patch::Value(id.to_string());
        self
    }

    /// Sets the source user's display name (`sourceUserIdentity.displayName`).
    ///
    /// ```
    /// # use crossmap_model::{Guid, UserMapping};
    /// let m = UserMapping::new(Guid::NIL, "ann@contoso.com", "ann@fabrikam.com").source_display_name("Ann");
    /// assert_eq!(serde_json::to_value(&m).unwrap()["sourceUserIdentity"]["displayName"], "Ann");
    /// ```
    #[must_use]
    pub fn source_display_name(mut self, name: impl Into<String>) -> Self {
        self.source_user_identity.get_or_insert_default().display_name = Patch::Value(name.into());
        self
    }

    /// The mapping's id (`id`), as the service answers it; `None` in a mapping built locally.
    ///
    /// ```
    /// # use crossmap_model::{Guid, UserMapping};
    /// let answered: UserMapping = serde_json::from_str(r#"{"id": "AQAAAAEAAAB1c2VyMUBjb250b3NvLmNvbQ"}"#).unwrap();
    /// assert_eq!(answered.id(), Some("AQAAAAEAAAB1c2VyMUBjb250b3NvLmNvbQ"));
    /// assert_eq!(UserMapping::new(Guid::NIL, "a@contoso.com", "a@fabrikam.com").id(), None);
    /// ```
    pub fn id(&self) -> Option<&str> {
        self.id.value().map(String::as_str)
    }

    /// The validated, normalised source key (`sourceUserIdentity.userPrincipalName`); `None` when it is
    /// absent, `null` or not a UPN.
    ///
    /// ```
    /// # use crossmap_model::{Guid, UserKey, UserMapping};
    /// let m = UserMapping::new(Guid::NIL, "Ann@Contoso.com", "ann@fabrikam.com");
    /// assert_eq!(m.source_key(), Some(UserKey::parse("ann@contoso.com").unwrap()));
    /// assert_eq!(UserMapping::new(Guid::NIL, "not a upn", "ann@fabrikam.com").source_key(), None);
    /// ```
    pub fn source_key(&self) -> Option<UserKey> {
        let upn = self.source_user_identity.value()?.user_principal_name.value()?;
        UserKey::parse(upn).ok()
    }

    /// The target user principal name (`targetUserIdentity.userPrincipalName`), as written.
    ///
    /// ```
    /// # use crossmap_model::{Guid, UserMapping};
    /// assert_eq!(UserMapping::new(Guid::NIL, "a@contoso.com", "A@Fabrikam.com").target_upn(), Some("A@Fabrikam.com"));
    /// ```
    pub fn target_upn(&self) -> Option<&str> {
        self.target_user_identity
            .value()?
            .user_principal_name
            .value()
            .map(String::as_str)
    }

    /// The target user's email address (`targetUserMigrationData.email`).
    ///
    /// ```
    /// # use crossmap_model::{Guid, UserMapping};
    /// assert_eq!(UserMapping::new(Guid::NIL, "a@contoso.com", "a@fabrikam.com").target_email(), None);
    /// ```
    pub fn target_email(&self) -> Option<&str> {
        self.target_user_migration_data
            .value()?
            .email
            .value()
            .map(String::as_str)
    }

    /// The source organization (`sourceOrganizationId`).
    ///
    /// ```
    /// # use crossmap_model::{Guid, UserMapping};
    /// let org = Guid::from_u128(1);
    /// assert_eq!(UserMapping::new(org, "a@contoso.com", "a@fabrikam.com").source_organization_id(), Some(org));
    /// ```
    pub fn source_organization_id(&self) -> Option<Guid> {
        self.source_organization_id.value().copied()
    }

    /// The kind of user (`userType`). Named `get_` because [`user_type`](Self::user_type) is the setter.
    ///
    /// ```
    /// # use crossmap_model::{Guid, UserMapping, UserType};
    /// assert_eq!(UserMapping::new(Guid::NIL, "a@contoso.com", "a@fabrikam.com").get_user_type(), Some(&UserType::None));
    /// ```
    pub fn get_user_type(&self) -> Option<&SharePointIdentityMappingUserType> {
        self.user_type.value()
    }

    /// Whether the mapping is a removal's answer (`deleted` is set).
    ///
    /// ```
    /// # use crossmap_model::UserMapping;
    /// let gone: UserMapping = serde_json::from_str(r#"{"deleted": {"state": "deleted"}}"#).unwrap();
    /// assert!(gone.is_deleted());
    /// ```
    pub fn is_deleted(&self) -> bool {
        self.deleted.is_value()
    }
}

impl SharePointGroupIdentityMapping {
    /// A complete group mapping: the source organization, the source group (its key) and the target
    /// group, and `groupType` `none`, exactly what the service stores when created from it.
    ///
    /// Because every property is set, sending it over an existing mapping also resets a group type set
    /// before to `none` unless [`group_type`](Self::group_type) says otherwise.
    ///
    /// ```
    /// use crossmap_model::{GroupMapping, GroupType, Guid};
    /// let org: Guid = "11111111-1111-1111-1111-111111111111".parse().unwrap();
    /// let source: Guid = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa".parse().unwrap();
    /// let target: Guid = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb".parse().unwrap();
    /// let mapping = GroupMapping::new(org, source, target)
    ///     .group_type(GroupType::M365Group)
    ///     .mail_nickname("targetGroup");
    /// assert_eq!(
    ///     serde_json::to_value(&mapping).unwrap(),
    ///     serde_json::json!({
    ///         "sourceOrganizationId": "11111111-1111-1111-1111-111111111111",
    ///         "groupType": "m365Group",
    ///         "sourceGroupIdentity": {"id": "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"},
    ///         "targetGroupIdentity": {"id": "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"},
    ///         "targetGroupMigrationData": {"mailNickname": "targetGroup"},
    ///     })
    /// );
    /// ```
    pub fn new(org: Guid, source_group_id: Guid, target_group_id: Guid) -> Self {
        SharePointGroupIdentityMapping {
            source_organization_id: Patch::Value(org),
            group_type: Patch::Value(SharePointIdentityMappingGroupType::None),
            source_group_identity: Patch::Value(Identity {
                id: Patch::Value(source_group_id.to_string()),
                ..Identity::default()
            }),
            target_group_identity: Patch::Value(Identity {
                id: Patch::Value(target_group_id.to_string()),
                ..Identity::default()
            }),
            ..Self::default()
        }
    }

    /// Sets the kind of group (`groupType`).
    ///
    /// ```
    /// # use crossmap_model::{GroupMapping, GroupType, Guid};
    /// let m = GroupMapping::new(Guid::NIL, Guid::from_u128(1), Guid::from_u128(2)).group_type(GroupType::RegularGroup);
    /// assert_eq!(m.get_group_type(), Some(&GroupType::RegularGroup));
    /// ```
    #[must_use]
    pub fn group_type(mut self, group_type: SharePointIdentityMappingGroupType) -> Self {
        self.group_type = Patch::Value(group_type);
        self
    }

    /// Sets the target group's mail nickname, its alias (`targetGroupMigrationData.mailNickname`).
    ///
    /// ```
    /// # use crossmap_model::{GroupMapping, Guid};
    /// let m = GroupMapping::new(Guid::NIL, Guid::from_u128(1), Guid::from_u128(2)).mail_nickname("sales");
    /// assert_eq!(m.target_mail_nickname(), Some("sales"));
    /// ```
    #[must_use]
    pub fn mail_nickname(mut self, alias: impl Into<String>) -> Self {
        self.target_group_migration_data.get_or_insert_default().mail_nickname = Patch::Value(alias.into());
        self
    }

    /// Sets the target group's display name (`targetGroupIdentity.displayName`).
    ///
    /// ```
    /// # use crossmap_model::{GroupMapping, Guid};
    /// let m = GroupMapping::new(Guid::NIL, Guid::from_u128(1), Guid::from_u128(2)).display_name("Sales");
    /// assert_eq!(serde_json::to_value(&m).unwrap()["targetGroupIdentity"]["displayName"], "Sales");
    /// ```
    #[must_use]
    pub fn display_name(mut self, name: impl Into<String>) -> Self {
        self.target_group_identity.get_or_insert_default().display_name = Patch::Value(name.into());
        self
    }

    /// Sets the source group's display name (`sourceGroupIdentity.displayName`).
    ///
    /// ```
    /// # use crossmap_model::{GroupMapping, Guid};
    /// let m = GroupMapping::new(Guid::NIL, Guid::from_u128(1), Guid::from_u128(2)).source_display_name("Sales (old)");
    /// assert_eq!(serde_json::to_value(&m).unwrap()["sourceGroupIdentity"]["displayName"], "Sales (old)");
    /// ```
    #[must_use]
    pub fn source_display_name(mut self, name: impl Into<String>) -> Self {
        self.source_group_identity.get_or_insert_default().display_name = Patch::Value(name.into());
        self
    }

    /// The mapping's id (`id`), as the service answers it; `None` in a mapping built locally.
    ///
    /// ```
    /// # use crossmap_model::GroupMapping;
    /// let answered: GroupMapping = serde_json::from_str(r#"{"id": "AQAAAAIAAABhYWFh"}"#).unwrap();
    /// assert_eq!(answered.id(), Some("AQAAAAIAAABhYWFh"));
    /// ```
    pub fn id(&self) -> Option<&str> {
        self.id.value().map(String::as_str)
    }

    /// The validated, normalised source key (`sourceGroupIdentity.id`); `None` when it is absent, `null`
    /// or not a GUID.
    ///
    /// ```
    /// # use crossmap_model::{GroupKey, GroupMapping, Guid};
    /// let m = GroupMapping::new(Guid::NIL, Guid::from_u128(1), Guid::from_u128(2));
    /// assert_eq!(m.source_key(), Some(GroupKey::new(Guid::from_u128(1))));
    /// ```
    pub fn source_key(&self) -> Option<GroupKey> {
        let id = self.source_group_identity.value()?.id.value()?;
        GroupKey::parse(id).ok()
    }

    /// The target group's id (`targetGroupIdentity.id`), as written.
    ///
    /// ```
    /// # use crossmap_model::{GroupMapping, Guid};
    /// let m = GroupMapping::new(Guid::NIL, Guid::from_u128(1), Guid::from_u128(2));
    /// assert_eq!(m.target_group_id(), Some("00000000-0000-0000-0000-000000000002"));
    /// ```
    pub fn target_group_id(&self) -> Option<&str> {
        self.target_group_identity.value()?.id.value().map(String::as_str)
    }

    /// The target group's mail nickname (`targetGroupMigrationData.mailNickname`).
    ///
    /// ```
    /// # use crossmap_model::{GroupMapping, Guid};
    /// assert_eq!(GroupMapping::new(Guid::NIL, Guid::from_u128(1), Guid::from_u128(2)).target_mail_nickname(), None);
    /// ```
    pub fn target_mail_nickname(&self) -> Option<&str> {
        self.target_group_migration_data
            .value()?
            .mail_nickname
            .value()
            .map(String::as_str)
    }

    /// The source organization (`sourceOrganizationId`).
    ///
    /// ```
    /// # use crossmap_model::{GroupMapping, Guid};
    /// let org = Guid::from_u128(7);
    /// assert_eq!(GroupMapping::new(org, Guid::from_u128(1), Guid::from_u128(2)).source_organization_id(), Some(org));
    /// ```
    pub fn source_organization_id(&self) -> Option<Guid> {
        self.source_organization_id.value().copied()
    }

    /// The kind of group (`groupType`). Named `get_` because [`group_type`](Self::group_type) is the setter.
    ///
    /// ```
    /// # use crossmap_model::{GroupMapping, GroupType, Guid};
    /// let m = GroupMapping::new(Guid::NIL, Guid::from_u128(1), Guid::from_u128(2));
    /// assert_eq!(m.get_group_type(), Some(&GroupType::None));
    /// ```
    pub fn get_group_type(&self) -> Option<&SharePointIdentityMappingGroupType> {
        self.group_type.value()
    }

    /// Whether the mapping is a removal's answer (`deleted` is set).
    ///
    /// ```
    /// # use crossmap_model::GroupMapping;
    /// let gone: GroupMapping = serde_json::from_str(r#"{"deleted": {"state": "deleted"}}"#).unwrap();
    /// assert!(gone.is_deleted());
    /// ```
    pub fn is_deleted(&self) -> bool {
        self.deleted.is_value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> Guid {
        "11111111-1111-1111-1111-111111111111".parse().unwrap()
    }

    #[test]
    fn setters_fill_only_their_property_and_keep_the_rest() {
        let m = UserMapping::new(org(), "a@contoso.com", "a@fabrikam.com")
            .target_id(Guid::from_u128(2))
            .display_name("A")
            .email("a@fabrikam.com");
        let target = m.target_user_identity.value().unwrap();
        assert_eq!(target.user_principal_name.value().unwrap(), "a@fabrikam.com");
        assert_eq!(target.display_name.value().unwrap(), "A");
        assert!(target.ip_address.is_absent());
        assert!(m.source_user_principal_name.is_absent(), "the service owns it");
        assert!(m.id.is_absent() && m.deleted.is_absent());
    }

    #[test]
    fn accessors_answer_none_for_absent_null_and_invalid() {
        let absent = UserMapping::default();
        assert_eq!(
            (absent.id(), absent.source_key(), absent.target_upn()),
            (None, None, None)
        );
        let null: UserMapping = serde_json::from_str(
            r#"{"id": null, "sourceUserIdentity": null, "targetUserIdentity": {"userPrincipalName": null}}"#,
        )
        .unwrap();
        assert_eq!((null.id(), null.source_key(), null.target_upn()), (None, None, None));
        let bad = GroupMapping::default().source_display_name("x");
        assert_eq!(bad.source_key(), None);
        let invalid: GroupMapping = serde_json::from_str(r#"{"sourceGroupIdentity": {"id": "nope"}}"#).unwrap();
        assert_eq!(invalid.source_key(), None);
    }
}
