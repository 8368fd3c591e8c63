//! The names most code needs, in one import: `use crossmap::prelude::*;`.
//!
//! The model's prelude (mappings and their builders, keys, delta items, [`Guid`], [`Patch`], the
//! [`IdentityMapping`] trait), [`DeltaRequest`]; with the `client` feature the client, its options, its
//! report (and what became of each item, `ItemResult`) and its errors; with `testing` the `testing::Emulator`.
//!
//! ```
//! use crossmap::prelude::*;
//! let key = UserKey::parse("Ada@Contoso.com").unwrap();
//! let mapping = UserMapping::new(Guid::NIL, "ada@contoso.com", "ada@fabrikam.com").user_type(UserType::GuestUser);
//! assert_eq!(mapping.source_key(), Some(key));
//! ```

pub use crossmap_model::DeltaRequest;
pub use crossmap_model::prelude::*;

#[cfg(feature = "client")]
pub use crossmap_client::{ApplyError, ApplyOptions, Client, ClientError, ItemResult, Report};

#[cfg(feature = "testing")]
pub use crate::testing::Emulator;
