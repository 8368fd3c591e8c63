//! What differs between the two kinds of mapping, as data: formats, required properties, defaults.
//!
//! Everything else in the engine is written once, generically over [`Rules`].

use crossmap_model::{
    Diff, IdentityMapping, Patch, SharePointGroupIdentityMapping, SharePointIdentityMappingGroupType,
    SharePointIdentityMappingUserType, SharePointUserIdentityMapping, Visit,
};

/// A format a string property must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A GUID in the 8-4-4-4-12 form.
    Guid,
    /// A user principal name: one `@`, something on each side, no whitespace.
    Upn,
    /// An email address: the same shape as a UPN.
    Email,
    /// A non-empty token without whitespace, such as a mail nickname.
    Token,
}

impl Format {
    /// Checks `value`; the error is a sentence about the value.
    pub fn check(self, value: &str) -> Result<(), String> {
        use crossmap_model::UserKey;
        match self {
            Format::Guid => value
                .parse::<crossmap_model::Guid>()
                .map(drop)
                .map_err(|_| format!("{value:?} is not a GUID (expected the form 8-4-4-4-12)")),
            Format::Upn => UserKey::parse(value).map(drop).map_err(|e| match e {
                crossmap_model::KeyError::NotAUpn { reason, .. } => {
                    format!("{value:?} is not a user principal name: {reason}")
                }
                other => other.to_string(),
            }),
            Format::Email => UserKey::parse(value).map(drop).map_err(|e| match e {
                crossmap_model::KeyError::NotAUpn { reason, .. } => {
                    format!("{value:?} is not an email address: {reason}")
                }
                other => other.to_string(),
            }),
            Format::Token if value.is_empty() => Err("must not be empty".to_owned()),
            Format::Token if value.chars().any(char::is_whitespace) => {
                Err(format!("{value:?} must not contain whitespace"))
            }
            Format::Token => Ok(()),
        }
    }
}

/// The per-kind facts the generic engine needs.
pub trait Rules: IdentityMapping + Visit + Diff {
    /// String properties with a format, by property path (the source key is checked separately).
    const FORMATS: &'static [(&'static [&'static str], Format)];
    /// The first property every stored mapping holds that `self` lacks, as a path: a create must supply
    /// them (`sourceOrganizationId` and the target key), an update must not clear them.
    fn missing_required(&self) -> Option<&'static str>;
    /// The property path of the target key, for the one-to-one lint.
    const TARGET_KEY_PATH: &'static str;

    /// Clears the properties the service owns and ignores in requests (`id`, `deleted`, ...).
    fn clear_server_owned(&mut self);
    /// Gives a new mapping the defaults of the properties its create left out.
    fn fill_defaults(&mut self);
    /// The target key, normalised (lower case), if set.
    fn target_key(&self) -> Option<String>;
}

impl Rules for SharePointGroupIdentityMapping {
    const FORMATS: &'static [(&'static [&'static str], Format)] = &[
        (&["targetGroupIdentity", "id"], Format::Guid),
        (&["targetGroupMigrationData", "mailNickname"], Format::Token),
    ];
    const TARGET_KEY_PATH: &'static str = "targetGroupIdentity.id";

    fn clear_server_owned(&mut self) {
        self.id = Patch::Absent;
        self.deleted = Patch::Absent;
    }

    fn missing_required(&self) -> Option<&'static str> {
        if !self.source_organization_id.is_value() {
            Some("sourceOrganizationId")
        } else if self.target_group_identity.value().is_none_or(|t| !t.id.is_value()) {
            Some("targetGroupIdentity.id")
        } else {
            None
        }
    }

    fn fill_defaults(&mut self) {
        if !self.group_type.is_value() {
            self.group_type = Patch::Value(SharePointIdentityMappingGroupType::None);
        }
    }

    fn target_key(&self) -> Option<String> {
        Some(self.target_group_identity.value()?.id.value()?.to_lowercase())
    }
}

impl Rules for SharePointUserIdentityMapping {
    const FORMATS: &'static [(&'static [&'static str], Format)] = &[
        (&["targetUserIdentity", "userPrincipalName"], Format::Upn),
        (&["targetUserMigrationData", "email"], Format::Email),
    ];
    const TARGET_KEY_PATH: &'static str = "targetUserIdentity.userPrincipalName";

    fn clear_server_owned(&mut self) {
        self.id = Patch::Absent;
        self.deleted = Patch::Absent;
        // "Alternate key for querying, internal only": derived from the source identity, never stored.
        self.source_user_principal_name = Patch::Absent;
    }

    fn missing_required(&self) -> Option<&'static str> {
        if !self.source_organization_id.is_value() {
            Some("sourceOrganizationId")
        } else if self
            .target_user_identity
            .value()
            .is_none_or(|t| !t.user_principal_name.is_value())
        {
            Some("targetUserIdentity.userPrincipalName")
        } else {
            None
        }
    }

    fn fill_defaults(&mut self) {
        if !self.user_type.is_value() {
            self.user_type = Patch::Value(SharePointIdentityMappingUserType::None);
        }
    }

    fn target_key(&self) -> Option<String> {
        Some(
            self.target_user_identity
                .value()?
                .user_principal_name
                .value()?
                .to_lowercase(),
        )
    }
}
