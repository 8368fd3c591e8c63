//! What the two mapping types have in common, so the engine, store, server and client are written once.

use crate::compact::Compact;
use crate::id::{MappingKind, encode};
use crate::odata::StructuredType;
use crate::{
    Deleted, GroupKey, Identity, KeyError, MappingKey, Merge, Patch, SharePointGroupIdentityMapping,
    SharePointUserIdentityMapping, UserIdentity, UserKey,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A mapping type: a user or a group mapping, with its key and the properties that hold it.
///
/// ```
/// use crossmap_model::{GroupKey, IdentityMapping, MappingKey, SharePointGroupIdentityMapping};
/// let key = GroupKey::parse("aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa").unwrap();
/// let mapping = SharePointGroupIdentityMapping::from_key(&key);
/// assert_eq!(mapping.source_key_checked(), Some(Ok(key.clone())));
/// assert_eq!(mapping.source_key(), Some(key.clone())); // the inherent accessor: no trait needed
/// assert_eq!(SharePointGroupIdentityMapping::id_of(&key), "AQAAAAIAAABhYWFhYWFhYS1hYWFhLWFhYWEtYWFhYS1hYWFhYWFhYWFhYWE");
/// ```
pub trait IdentityMapping:
    StructuredType
    + Merge
    + Compact
    + Clone
    + Default
    + PartialEq
    + std::fmt::Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// The key that names a mapping of this type (and names this type back, [`MappingKey::Mapping`]).
    type Key: MappingKey<Mapping = Self>;
    /// The kind written into ids.
    const KIND: MappingKind;
    /// The property path of the source key inside an item, for error messages.
    const SOURCE_KEY_PATH: &'static str;
    /// The collection's path below the service root.
    const COLLECTION_PATH: &'static str;

    /// The source key as written in the item, before validation: absent, `null` or a string.
    fn source_key_raw(&self) -> Patch<&str>;
    /// A mapping holding only its source key (the shape of a removal item).
    fn from_key(key: &Self::Key) -> Self;
    /// A mapping holding only this mapping's source key property, exactly as this one writes it.
    fn key_only(&self) -> Self;
    /// The `id` property, absent, `null` or set (the inherent `id()` of each type gives an `Option<&str>`).
    fn id_patch(&self) -> &Patch<String>;
    /// The `id` property, mutably.
    fn id_mut(&mut self) -> &mut Patch<String>;
    /// The `deleted` facet, mutably.
    fn deleted_mut(&mut self) -> &mut Patch<Deleted>;

    /// The validated, normalised source key; `None` when the item does not carry one, an error when it is
    /// malformed (the inherent `source_key()` of each type folds both into `None`).
    fn source_key_checked(&self) -> Option<Result<Self::Key, KeyError>> {
        self.source_key_raw().value().map(|raw| Self::Key::parse(raw))
    }

    /// The id of the mapping named by `key`.
    fn id_of(key: &Self::Key) -> String {
        encode(Self::KIND, key.as_str())
    }
}

impl IdentityMapping for SharePointGroupIdentityMapping {
    type Key = GroupKey;
    const KIND: MappingKind = MappingKind::Group;
    const SOURCE_KEY_PATH: &'static str = "sourceGroupIdentity.id";
    const COLLECTION_PATH: &'static str = SharePointGroupIdentityMapping::COLLECTION_PATH;

    fn source_key_raw(&self) -> Patch<&str> {
        match &self.source_group_identity {
            Patch::Value(identity) => identity.id.as_ref().map_str(),
            Patch::Null => Patch::Null,
            Patch::Absent => Patch::Absent,
        }
    }

    fn from_key(key: &GroupKey) -> Self {
        SharePointGroupIdentityMapping {
            source_group_identity: Patch::Value(Identity {
                id: Patch::Value(key.to_string()),
                ..Identity::default()
            }),
            ..Self::default()
        }
    }

    fn key_only(&self) -> Self {
        let id = self.source_group_identity.as_ref().map_identity(|i| i.id.clone());
        SharePointGroupIdentityMapping {
            source_group_identity: id.map_value(|id| Identity {
                id,
                ..Identity::default()
            }),
            ..Self::default()
        }
    }

    fn id_patch(&self) -> &Patch<String> {
        &self.id
    }

    fn id_mut(&mut self) -> &mut Patch<String> {
        &mut self.id
    }

    fn deleted_mut(&mut self) -> &mut Patch<Deleted> {
        &mut self.deleted
    }
}

impl IdentityMapping for SharePointUserIdentityMapping {
    type Key = UserKey;
    const KIND: MappingKind = MappingKind::User;
    const SOURCE_KEY_PATH: &'static str = "sourceUserIdentity.userPrincipalName";
    const COLLECTION_PATH: &'static str = SharePointUserIdentityMapping::COLLECTION_PATH;

    fn source_key_raw(&self) -> Patch<&str> {
        match &self.source_user_identity {
            Patch::Value(identity) => identity.user_principal_name.as_ref().map_str(),
            Patch::Null => Patch::Null,
            Patch::Absent => Patch::Absent,
        }
    }

    fn from_key(key: &UserKey) -> Self {
        SharePointUserIdentityMapping {
            source_user_identity: Patch::Value(UserIdentity {
                user_principal_name: Patch::Value(key.to_string()),
                ..UserIdentity::default()
            }),
            ..Self::default()
        }
    }

    fn key_only(&self) -> Self {
        let upn = self
            .source_user_identity
            .as_ref()
            .map_identity(|i| i.user_principal_name.clone());
        SharePointUserIdentityMapping {
            source_user_identity: upn.map_value(|user_principal_name| UserIdentity {
                user_principal_name,
                ..UserIdentity::default()
            }),
            ..Self::default()
        }
    }

    fn id_patch(&self) -> &Patch<String> {
        &self.id
    }

    fn id_mut(&mut self) -> &mut Patch<String> {
        &mut self.id
    }

    fn deleted_mut(&mut self) -> &mut Patch<Deleted> {
        &mut self.deleted
    }
}

impl<'a, T> Patch<&'a T> {
    /// Reads one property of a complex value, keeping absent and null as they are.
    fn map_identity(self, f: impl FnOnce(&'a T) -> Patch<String>) -> Patch<Patch<String>> {
        match self {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(v) => Patch::Value(f(v)),
        }
    }
}

impl<T> Patch<T> {
    fn map_value<U>(self, f: impl FnOnce(T) -> U) -> Patch<U> {
        match self {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(v) => Patch::Value(f(v)),
        }
    }
}

impl<'a> Patch<&'a String> {
    fn map_str(self) -> Patch<&'a str> {
        match self {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(s) => Patch::Value(s.as_str()),
        }
    }
}
