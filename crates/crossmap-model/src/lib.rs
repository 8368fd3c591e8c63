//! The wire model of Microsoft Graph's (beta) SharePoint cross-tenant identity-mapping API.
//!
//! Typed, exact JSON for `sharePointUserIdentityMapping` and `sharePointGroupIdentityMapping` and their
//! parts, generated from `schema/crossmap.csdl.xml` (see [`generated`]); the delta request and response
//! envelopes and Graph's error shape ([`envelope`], [`error`]); the source keys that name a mapping and
//! their OData alternate-key URL segments ([`keys`]); mapping ids ([`id`]); and the directory objects an
//! identity map is built from and checked against, users, groups and the organization ([`directory`]). No
//! I/O, no async, no HTTP: embed it anywhere.
//!
//! Build mappings with [`UserMapping::new`] and [`GroupMapping::new`] and read them with their inherent
//! accessors; [`prelude`] brings the names most code needs into scope at once.
//!
//! ```
//! use crossmap_model::prelude::*;
//!
//! let org: Guid = "11111111-1111-1111-1111-111111111111".parse().unwrap();
//! let guest = UserMapping::new(org, "ann@contoso.com", "ann@fabrikam.com")
//!     .email("ann@fabrikam.com")
//!     .user_type(UserType::GuestUser);
//! assert_eq!(guest.source_key(), Some(UserKey::parse("Ann@Contoso.com").unwrap()));
//! assert_eq!(guest.target_upn(), Some("ann@fabrikam.com"));
//! let removal = DeltaItem::remove(&guest.source_key().unwrap());
//! assert!(removal.is_removal());
//! ```
//!
//! Reading a delta request as the service receives it (`from_json` / `to_json` on every envelope, see
//! [`json`]: no `serde_json` needed in your crate):
//!
//! ```
//! use crossmap_model::{DeltaItem, DeltaRequest, IdentityMapping, MappingKey, Patch, SharePointGroupIdentityMapping};
//!
//! let body = r##"{"@context": "#$delta", "value": [{
//!     "sourceOrganizationId": "11111111-1111-1111-1111-111111111111",
//!     "groupType": "m365Group",
//!     "sourceGroupIdentity": {"id": "AAAAAAAA-AAAA-AAAA-AAAA-AAAAAAAAAAAA"},
//!     "targetGroupMigrationData": {"mailNickname": null}
//! }]}"##;
//! let request = DeltaRequest::<SharePointGroupIdentityMapping>::from_json(body).unwrap();
//! let DeltaItem::Upsert(item) = &request.value[0] else { panic!("an upsert") };
//! let key = item.source_key().unwrap();
//! assert_eq!(key.as_str(), "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa");
//! assert_eq!(SharePointGroupIdentityMapping::id_of(&key), "AQAAAAIAAABhYWFhYWFhYS1hYWFhLWFhYWEtYWFhYS1hYWFhYWFhYWFhYWE");
//! // An explicit null stays distinguishable from an absent property.
//! let data = item.target_group_migration_data.value().unwrap();
//! assert!(data.mail_nickname.is_null());
//! assert!(item.target_group_identity.is_absent());
//! ```

mod builder;
pub mod compact;
pub mod directory;
pub mod envelope;
pub mod error;
pub mod generated;
mod guid;
pub mod id;
pub mod json;
pub mod keys;
mod mapping;
pub mod odata;
mod patch;

pub use builder::{GroupMapping, GroupType, UserMapping, UserType};
pub use envelope::{
    CollectionResponse, DELTA_CONTEXT, DeltaItem, DeltaRequest, EntityResponse, MAX_DELTA_ITEMS, Removed,
    RemovedReason, context_url, is_delta_context,
};
pub use error::{ErrorDetail, ErrorResponse, GraphError, InnerError};
pub use generated::*;
pub use guid::{Guid, GuidError};
pub use id::{IdError, MappingId, MappingKind};
pub use json::{JsonError, JsonErrorKind};
pub use keys::{GroupKey, KeyError, MappingKey, UserKey};
pub use mapping::IdentityMapping;
pub use odata::{PropertyInfo, StructuredType, Visit};
pub use patch::{Diff, Merge, Patch};

/// The names most code using the model needs, to import at once: `use crossmap_model::prelude::*;`.
///
/// ```
/// use crossmap_model::prelude::*;
/// let key = GroupKey::parse("aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa").unwrap();
/// let mapping = GroupMapping::new(Guid::NIL, key.guid(), Guid::from_u128(2)).group_type(GroupType::M365Group);
/// assert_eq!(mapping.source_key(), Some(key));
/// assert!(matches!(mapping.target_group_identity, Patch::Value(_)));
/// ```
pub mod prelude {
    pub use crate::{
        DeltaItem, GroupKey, GroupMapping, GroupType, Guid, IdentityMapping, KeyError, MappingKey, Patch, UserKey,
        UserMapping, UserType,
    };
}

/// The CSDL `$metadata` document of the API, generated from the same schema as the types.
pub const METADATA_XML: &str = include_str!("metadata.xml");
