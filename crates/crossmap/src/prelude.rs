//! The names most code needs, in one import: `use crossmap::prelude::*;`.
//!
//! The model's mappings, keys and delta items, the trait every layer handles mappings through, and with
//! the `client` feature the client, its options and its report.
//!
//! ```
//! use crossmap::prelude::*;
//! let key = UserKey::parse("ada@contoso.com").unwrap();
//! assert_eq!(key.to_string(), "ada@contoso.com");
//! ```

pub use crossmap_model::{
    DeltaItem, DeltaRequest, GroupKey, Guid, IdentityMapping, MappingKey, Patch, SharePointGroupIdentityMapping,
    SharePointUserIdentityMapping, UserKey,
};

#[cfg(feature = "client")]
pub use crossmap_client::{ApplyOptions, Client, ClientError, Report};

#[cfg(feature = "testing")]
pub use crate::testing::Emulator;
