//! Examples shown in documents, checked to be the code a test runs: the test file marks its region with
//! `// --- NAME: begin` and `// --- NAME: end`, and its test asserts the document shows that region as is.
//!
//! ```
//! use crossmap_test_support::shown;
//! let source = "fn main() {\n    // --- doc: begin\n    let x = 1;\n    // --- doc: end\n}\n";
//! assert_eq!(shown::region(source, "doc"), "let x = 1;\n");
//! let doc = "# Title\n\n## Use\n\n```rust\nlet x = 1;\n```\n";
//! assert_eq!(shown::rust_block_after(doc, "## Use"), "let x = 1;\n");
//! ```

/// The lines of `source` between `// --- NAME: begin` and `// --- NAME: end`, each without the begin
/// marker's indentation (a region inside a function reads as a document shows it).
///
/// # Panics
/// If `source` lacks either marker: the test names the region it checks.
pub fn region(source: &str, name: &str) -> String {
    let begin = format!("// --- {name}: begin\n");
    let end = format!("// --- {name}: end");
    let (before, rest) = source
        .split_once(&begin)
        .unwrap_or_else(|| panic!("no {begin:?} marker"));
    let indent = before.rsplit('\n').next().unwrap_or("");
    let (inside, _) = rest.split_once(&end).unwrap_or_else(|| panic!("no {end:?} marker"));
    // The end marker's own indentation is the last line's start: drop it.
    let inside = inside.strip_suffix(indent).unwrap_or(inside);
    inside
        .lines()
        .map(|l| format!("{}\n", l.strip_prefix(indent).unwrap_or(l)))
        .collect()
}

/// The first fenced Rust block after `heading` in `document`, without its fences.
///
/// # Panics
/// If there is none.
pub fn rust_block_after<'a>(document: &'a str, heading: &str) -> &'a str {
    document
        .split_once(heading)
        .and_then(|(_, rest)| rest.split_once("```rust\n"))
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(code, _)| code)
        .unwrap_or_else(|| panic!("no rust block under {heading:?}"))
}

/// A file of the workspace, by its path from the workspace root (`README.md`, `docs/emulator.md`).
///
/// # Panics
/// If it cannot be read.
pub fn workspace_file(path: &str) -> String {
    let full = concat!(env!("CARGO_MANIFEST_DIR"), "/../../").to_owned() + path;
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_at_the_top_level_is_taken_as_it_is() {
        let source = "use x;\n// --- r: begin\nfn f() {\n    g();\n}\n// --- r: end\n";
        assert_eq!(region(source, "r"), "fn f() {\n    g();\n}\n");
    }

    #[test]
    fn a_region_inside_a_function_loses_its_markers_indentation_only() {
        let source = "fn t() {\n    // --- r: begin\n    if a {\n        b();\n    }\n\n    // --- r: end\n}\n";
        assert_eq!(region(source, "r"), "if a {\n    b();\n}\n\n");
    }

    #[test]
    #[should_panic(expected = "no \"// --- missing: begin\\n\" marker")]
    fn a_missing_marker_is_named() {
        region("fn f() {}\n", "missing");
    }
}
