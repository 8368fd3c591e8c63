//! Builds a one-to-one identity map from two tenants' directories, by ordered exact rules, and explains
//! every row.
//!
//! Pure: no I/O, no async; depends on `crossmap-model` only. The rules, the statuses and why a display name
//! never decides are written down in `docs/matching.md`.
//!
//! - [`DirectoryBuilder`] → [`Directory`]: one tenant's users and groups, pushed one at a time (a page of
//!   Graph's answer can go once pushed), normalised (trimmed, lower-cased) into one arena, in a canonical
//!   order; lookups by UPN, id, address, … for checking a map against it (each index built on first use);
//! - [`Config`]: overrides, domain rewrites, exclusions, admins, each checked as it is set;
//! - [`match_directories`] → [`Matching`]: one row per source object with its [`Status`], the [`Rule`] that
//!   decided, the [`Evidence`] and the candidates; the map is one-to-one by construction, and anything
//!   uncertain is a review row, never a map row;
//! - [`Matching::user_mappings`] / [`Matching::group_mappings`]: the identity map's rows as wire mappings;
//!   [`Matching::review`]: the review list, every source object once.
//!
//! ```
//! use crossmap_match::{Config, DirectoryBuilder, Rule, Status, match_directories};
//! use crossmap_model::Guid;
//! use crossmap_model::directory::User;
//!
//! let user = |id: u128, json: &str| -> User {
//!     let mut u: User = serde_json::from_str(json).unwrap();
//!     u.id = Guid::from_u128(id).into();
//!     u
//! };
//! let mut source = DirectoryBuilder::new(Guid::from_u128(0x5));
//! source.push_user(&user(1, r#"{"userPrincipalName": "Ann.Lee@contoso.com", "employeeId": "E1", "displayName": "Ann Lee"}"#)).unwrap();
//! source.push_user(&user(2, r#"{"userPrincipalName": "john.smith@contoso.com", "displayName": "John Smith", "accountEnabled": true}"#)).unwrap();
//! let mut target = DirectoryBuilder::new(Guid::from_u128(0x7));
//! target.push_user(&user(3, r#"{"userPrincipalName": "ann.smith@fabrikam.com", "employeeId": "e1", "mail": "Ann.Smith@fabrikam.com"}"#)).unwrap();
//! target.push_user(&user(4, r#"{"userPrincipalName": "jsmith2@fabrikam.com", "displayName": "John Smith"}"#)).unwrap();
//! let (source, target) = (source.build().unwrap(), target.build().unwrap());
//!
//! let mut config = Config::new();
//! config.map_domain_arg("contoso.com=fabrikam.com").unwrap();
//! let matching = match_directories(&source, &target, &config).unwrap();
//!
//! let rows: Vec<_> = matching.users().collect();
//! assert_eq!((rows[0].status(), rows[0].rule()), (Status::Matched, Some(Rule::EmployeeId)));
//! // Another John Smith is a suggestion for a person to check, never a match.
//! assert_eq!(rows[1].status(), Status::Unmatched);
//! assert_eq!(rows[1].candidates()[0].user_principal_name(), "jsmith2@fabrikam.com");
//!
//! let map: Vec<_> = matching.user_mappings().collect();
//! assert_eq!(map.len(), 1);
//! let email = map[0].target_user_migration_data.value().unwrap().email.value().unwrap();
//! assert_eq!(email, "Ann.Smith@fabrikam.com");
//! assert_eq!(matching.review().count(), 2); // every source object once
//! ```

mod config;
mod directory;
mod engine;
mod index;
mod matching;
mod text;

pub use config::{Config, ConfigError, LineError};
pub use directory::{Directory, DirectoryBuilder, DirectoryError, GroupKind, GroupRef, UserRef};
pub use engine::{MAX_CANDIDATES, MatchError, Unknown, match_directories};
pub use matching::{Counts, Evidence, GroupMatch, Matching, Outcome, ReviewRow, Row, Rule, Status, UserMatch, Warning};
pub use text::normalize;
