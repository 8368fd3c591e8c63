//! The invariants the CSV reader's fuzz target (`fuzz/fuzz_targets/csv_reader.rs`) checks; the CLI's tests
//! replay them on the committed inputs (`fuzz/seeds/csv_reader/`, `fuzz/regressions/csv_reader/`).

use crate::input::{ReadOptions, read_bytes, read_csv, write_csv};
use crossmap_delta::{MappingTable, same_contents};

/// Reads `data` as an identity-map file (any encoding, the delimiter found); then:
/// - every problem names the file and a line;
/// - what reads, written back as the admins' CSV (`export`), reads back as the same mappings.
///
/// ```
/// crossmap_cli::fuzz::csv_reader(b"User;11111111-1111-1111-1111-111111111111;a@contoso.com;a@fabrikam.com;;Guest\n");
/// ```
///
/// # Panics
/// When an invariant does not hold.
pub fn csv_reader(data: &[u8]) {
    let desired = match read_bytes("f.csv", data, &ReadOptions::default()) {
        Ok(d) => d,
        Err(problems) => {
            assert!(!problems.0.is_empty(), "an error without a problem");
            for p in &problems.0 {
                let line = p.strip_prefix("f.csv:").and_then(|r| r.split(':').next());
                assert!(
                    line.is_some_and(|l| l.parse::<u64>().is_ok()),
                    "a problem without its line: {p:?}"
                );
            }
            return;
        }
    };
    let users: Vec<_> = desired.users.iter().map(|(_, m)| m).collect();
    let groups: Vec<_> = desired.groups.iter().map(|(_, m)| m).collect();
    let written = write_csv(&users, &groups);
    let again = read_csv("export.csv", &written, None)
        .unwrap_or_else(|p| panic!("the export does not read back: {p}\n{written}"));
    assert!(
        same_contents(&again.users, &desired.users) && same_contents(&again.groups, &desired.groups),
        "the export reads back as other mappings:\n{written}"
    );
}
