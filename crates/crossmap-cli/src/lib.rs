//! The library behind the `crossmap` command line: reading the identity-map files admins have.
//!
//! The binary is the product; this library exposes [`input`], the reader of the admins' six-column CSV
//! (any of the encodings and delimiters Excel writes) and of JSON Lines, so that it can be fuzzed
//! ([`fuzz`]) and reused.
//!
//! ```
//! use crossmap_cli::input::{ReadOptions, read_bytes};
//! let csv = "User;11111111-1111-1111-1111-111111111111;ann@contoso.com;ann@fabrikam.com;;Member\n";
//! let desired = read_bytes("map.csv", csv.as_bytes(), &ReadOptions::default()).unwrap();
//! assert_eq!(desired.len(), 1); // the delimiter was found: `;`
//! ```

pub mod fuzz;
pub mod input;
