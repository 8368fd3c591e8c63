//! Code generation for crossmap: one CSDL schema in, the model's Rust types and the `$metadata` document out.
//!
//! `schema/crossmap.csdl.xml` is the single source of the wire types. [`generate`] turns it into the files
//! listed in [`Output`]; [`run`] writes them, or with [`Mode::Check`] reports which committed files are
//! stale. `cargo xtask codegen [--check]` and the drift test in `crossmap-model` both call [`run`], so a
//! hand edit to a generated file fails both.
//!
//! ```no_run
//! use crossmap_codegen::{Mode, run};
//! let root = std::path::Path::new(".");
//! let stale = run(root, Mode::Check).expect("schema parses");
//! assert!(stale.is_empty(), "run `cargo xtask codegen`");
//! ```

mod csdl;
mod metadata;
mod rust;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use csdl::Schema;

/// Where the schema lives, relative to the workspace root.
pub const SCHEMA_PATH: &str = "schema/crossmap.csdl.xml";
/// Where the generated Rust lives, relative to the workspace root.
pub const RUST_OUTPUT_PATH: &str = "crates/crossmap-model/src/generated.rs";
/// Where the generated `$metadata` document lives, relative to the workspace root.
pub const METADATA_OUTPUT_PATH: &str = "crates/crossmap-model/src/metadata.xml";

/// What went wrong while generating.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodegenError {
    /// The schema file could not be read, or an output could not be read or written.
    #[error("cannot access {path}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying failure.
        #[source]
        source: std::io::Error,
    },
    /// The schema is not well-formed XML.
    #[error("schema is not well-formed XML")]
    Xml(#[from] roxmltree::Error),
    /// The schema is XML but says something the generator does not support or understand.
    #[error("schema: {0}")]
    Schema(String),
    /// `rustfmt` could not be run or refused the generated code.
    #[error("rustfmt failed on the generated code: {0}")]
    Rustfmt(String),
}

/// Whether [`run`] rewrites stale files or only reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Rewrite every output that differs from what the generator produces.
    Write,
    /// Change nothing; report every output that differs.
    Check,
}

/// One generated file: its path relative to the workspace root and its full contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Path relative to the workspace root, with `/` separators.
    pub path: &'static str,
    /// The complete file contents.
    pub contents: String,
}

/// Generates every output from the schema text.
pub fn generate(schema_xml: &str) -> Result<Vec<Output>, CodegenError> {
    let schema = csdl::parse(schema_xml)?;
    let rust = rustfmt(&rust::render(&schema)?)?;
    let metadata = metadata::render(schema_xml)?;
    Ok(vec![
        Output {
            path: RUST_OUTPUT_PATH,
            contents: rust,
        },
        Output {
            path: METADATA_OUTPUT_PATH,
            contents: metadata,
        },
    ])
}

/// Generates from `root/schema/crossmap.csdl.xml` and writes or checks the outputs under `root`.
///
/// Returns the paths (relative to `root`) that were stale: rewritten in [`Mode::Write`], left alone in
/// [`Mode::Check`]. An empty list means everything committed is up to date.
pub fn run(root: &Path, mode: Mode) -> Result<Vec<&'static str>, CodegenError> {
    let schema_path = root.join(SCHEMA_PATH);
    let schema = read(&schema_path)?.unwrap_or_default();
    let mut stale = Vec::new();
    for output in generate(&schema)? {
        let path = root.join(output.path);
        if read(&path)?.as_deref() == Some(output.contents.as_str()) {
            continue;
        }
        stale.push(output.path);
        if mode == Mode::Write {
            std::fs::write(&path, &output.contents).map_err(|source| CodegenError::Io { path, source })?;
        }
    }
    Ok(stale)
}

fn read(path: &Path) -> Result<Option<String>, CodegenError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CodegenError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Formats Rust source with the toolchain's `rustfmt`, so the committed file passes `cargo fmt --check`.
fn rustfmt(source: &str) -> Result<String, CodegenError> {
    let mut child = Command::new(std::env::var("RUSTFMT").unwrap_or_else(|_| "rustfmt".into()))
        .args(["--edition", "2024", "--emit", "stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CodegenError::Rustfmt(format!("cannot start rustfmt: {e}")))?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(source.as_bytes())
        .map_err(|e| CodegenError::Rustfmt(e.to_string()))?;
    let out = child
        .wait_with_output()
        .map_err(|e| CodegenError::Rustfmt(e.to_string()))?;
    if !out.status.success() {
        return Err(CodegenError::Rustfmt(String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    String::from_utf8(out.stdout).map_err(|e| CodegenError::Rustfmt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand edit to a generated file is reported by name in check mode and undone in write mode.
    #[test]
    fn a_hand_edit_is_caught_by_check_and_repaired_by_write() {
        let root = std::env::temp_dir().join(format!("crossmap-codegen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("schema")).unwrap();
        std::fs::create_dir_all(root.join("crates/crossmap-model/src")).unwrap();
        std::fs::write(
            root.join(SCHEMA_PATH),
            include_str!("../../../schema/crossmap.csdl.xml"),
        )
        .unwrap();

        assert_eq!(
            run(&root, Mode::Write).unwrap(),
            [RUST_OUTPUT_PATH, METADATA_OUTPUT_PATH],
            "first write"
        );
        assert!(
            run(&root, Mode::Check).unwrap().is_empty(),
            "fresh output is up to date"
        );

        let generated = root.join(RUST_OUTPUT_PATH);
        let edited = std::fs::read_to_string(&generated)
            .unwrap()
            .replace("pub id: Patch<String>", "pub id: Patch<i64>");
        std::fs::write(&generated, &edited).unwrap();
        assert_eq!(run(&root, Mode::Check).unwrap(), [RUST_OUTPUT_PATH]);
        assert_eq!(
            std::fs::read_to_string(&generated).unwrap(),
            edited,
            "check changes nothing"
        );

        assert_eq!(run(&root, Mode::Write).unwrap(), [RUST_OUTPUT_PATH]);
        assert!(run(&root, Mode::Check).unwrap().is_empty());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
