//! The committed generated files are what the schema generates: plain `cargo test` catches drift.

use crossmap_codegen::{Mode, run};
use std::path::Path;

#[test]
fn generated_files_are_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let stale = run(&root, Mode::Check).expect("the schema generates");
    assert!(
        stale.is_empty(),
        "stale generated file(s): {}; run `cargo xtask codegen` and commit the result",
        stale.join(", ")
    );
}
