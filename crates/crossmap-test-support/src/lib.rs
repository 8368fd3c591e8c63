//! Test helpers shared by crossmap's crates: the wire fixtures from the public documentation, the
//! proptest strategies that generate mappings, states and requests ([`generators`]), large deterministic
//! data sets for benchmarks ([`data`]), directory objects for matching, small and colliding or large and
//! realistic ([`directories`]), a server that echoes more than it was sent ([`echo`]), the invariants
//! the fuzz targets check ([`fuzz`]), and the check that a document shows a test's code as is ([`shown`]).
//!
//! A dev-dependency only; `cargo xtask layers` fails if a shipped crate depends on it.
//!
//! ```
//! let body = crossmap_test_support::fixture("group_update_request.json");
//! assert!(body.contains("#$delta"));
//! ```

pub mod data;
pub mod directories;
pub mod echo;
pub mod fuzz;
pub mod generators;
pub mod shown;

use std::path::PathBuf;

/// The folder holding the wire fixtures: `tests/fixtures/` at the workspace root.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// The text of one fixture file.
///
/// # Panics
/// If the fixture does not exist: a test naming a missing fixture is a broken test.
pub fn fixture(name: &str) -> String {
    let path = fixtures_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// Every fixture's file name, sorted.
pub fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("tests/fixtures exists")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}
