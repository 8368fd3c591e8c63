//! The layering invariants of `docs/architecture.md`, checked against `cargo metadata`.
//!
//! For each crate, the normal and build dependencies (not dev-dependencies), transitively, must not
//! include a crate its layer forbids. The facade, `crossmap`, may depend on every layer and no layer on it;
//! and without its default features it must pull in no async runtime, HTTP stack or database
//! (`cargo tree -p crossmap --no-default-features -e normal`).

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use xshell::{Shell, cmd};

/// Crates that bring an async runtime, HTTP or a database.
const IO_STACK: &[&str] = &[
    "tokio",
    "mio",
    "hyper",
    "http",
    "reqwest",
    "axum",
    "axum-core",
    "rusqlite",
    "libsqlite3-sys",
];

/// (crate, forbidden dependencies, why).
fn rules() -> Vec<(&'static str, Vec<&'static str>, &'static str)> {
    let ours = |allowed: &[&str]| -> Vec<&'static str> {
        [
            "crossmap",
            "crossmap-model",
            "crossmap-delta",
            "crossmap-match",
            "crossmap-store",
            "crossmap-client",
            "crossmap-server",
            "crossmap-cli",
            "crossmap-test-support",
            "crossmap-codegen",
        ]
        .into_iter()
        .filter(|c| !allowed.contains(c))
        .collect()
    };
    let with = |mut a: Vec<&'static str>, b: &[&'static str]| {
        a.extend_from_slice(b);
        a
    };
    vec![
        (
            "crossmap-model",
            with(ours(&[]), IO_STACK),
            "the model knows nothing of HTTP, async, storage or other crossmap crates",
        ),
        (
            "crossmap-delta",
            with(ours(&["crossmap-model"]), IO_STACK),
            "the engine is pure: the model only, no I/O",
        ),
        (
            "crossmap-match",
            with(ours(&["crossmap-model"]), IO_STACK),
            "matching is pure: the model only, no I/O",
        ),
        (
            "crossmap-store",
            with(
                ours(&["crossmap-model", "crossmap-delta"]),
                &["hyper", "reqwest", "axum", "axum-core"],
            ),
            "the store is below HTTP",
        ),
        (
            "crossmap-server",
            with(
                ours(&["crossmap-model", "crossmap-delta", "crossmap-store"]),
                &["reqwest"],
            ),
            "the server never depends on the client or the CLI",
        ),
        (
            "crossmap-client",
            with(
                ours(&["crossmap-model", "crossmap-delta"]),
                &["axum", "axum-core", "rusqlite", "libsqlite3-sys"],
            ),
            "the client talks HTTP to Graph: no server, no store",
        ),
        (
            "crossmap-cli",
            vec!["crossmap", "crossmap-test-support", "crossmap-codegen"],
            "the CLI sits on the layers, not on the facade; test support and codegen are never shipped",
        ),
        (
            "crossmap",
            vec!["crossmap-cli", "crossmap-test-support", "crossmap-codegen"],
            "the facade re-exports the library layers: no CLI, test support or codegen",
        ),
    ]
}

/// Runs the check; fails listing every violation.
pub(crate) fn check(sh: &Shell) -> Result<()> {
    let json = cmd!(sh, "cargo metadata --format-version 1 --locked").quiet().read()?;
    let violations = violations(&serde_json::from_str(&json)?)?;
    if !violations.is_empty() {
        bail!("layering violated:\n{}", violations.join("\n"));
    }
    let format = "{p}";
    let tree = cmd!(
        sh,
        "cargo tree -p crossmap --no-default-features -e normal --prefix none --format {format} --locked"
    )
    .quiet()
    .read()?;
    let pulled = io_without_defaults(&tree);
    if !pulled.is_empty() {
        bail!(
            "layering violated: crossmap without default features pulls in {}: the model and the engine only, no I/O",
            pulled.join(", ")
        );
    }
    println!("layers: every crate keeps to its layer; crossmap without default features does no I/O");
    Ok(())
}

/// The crates of `cargo tree --prefix none --format {p}` output (one `name vX.Y.Z …` a line) that the
/// facade without default features must not pull in: the I/O stack and the layers that do I/O.
fn io_without_defaults(tree: &str) -> Vec<String> {
    let forbidden: Vec<&str> = IO_STACK
        .iter()
        .copied()
        .chain(["crossmap-client", "crossmap-server", "crossmap-store", "crossmap-cli"])
        .collect();
    let names: BTreeSet<&str> = tree.lines().filter_map(|l| l.split_whitespace().next()).collect();
    names
        .into_iter()
        .filter(|n| forbidden.contains(n))
        .map(str::to_owned)
        .collect()
}

fn violations(metadata: &Value) -> Result<Vec<String>> {
    let names: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .context("packages")?
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for node in metadata["resolve"]["nodes"].as_array().context("resolve.nodes")? {
        let id = node["id"].as_str().context("node id")?;
        let deps = node["deps"].as_array().context("deps")?.iter().filter(|d| {
            d["dep_kinds"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].as_str() != Some("dev")))
        });
        edges.insert(id, deps.filter_map(|d| d["pkg"].as_str()).collect());
    }
    let mut out = Vec::new();
    for (krate, forbidden, why) in rules() {
        let Some((&root, _)) = names.iter().find(|(_, n)| **n == krate) else {
            continue;
        };
        let mut seen = BTreeSet::new();
        let mut stack = vec![root];
        while let Some(id) = stack.pop() {
            for &dep in edges.get(id).into_iter().flatten() {
                if seen.insert(dep) {
                    stack.push(dep);
                }
            }
        }
        for dep in seen.iter().filter_map(|id| names.get(id)) {
            if forbidden.contains(dep) {
                out.push(format!("  {krate} depends on {dep}: {why}"));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_keeps_its_layers() {
        let sh = Shell::new().unwrap();
        sh.change_dir(crate::project_root());
        check(&sh).unwrap();
    }

    #[test]
    fn matching_may_not_depend_on_the_engine() {
        let metadata = serde_json::json!({
            "packages": [{"id": "m", "name": "crossmap-match"}, {"id": "d", "name": "crossmap-delta"}],
            "resolve": {"nodes": [
                {"id": "m", "deps": [{"pkg": "d", "dep_kinds": [{"kind": null}]}]},
                {"id": "d", "deps": []}
            ]}
        });
        let v = violations(&metadata).unwrap();
        assert_eq!(
            v,
            ["  crossmap-match depends on crossmap-delta: matching is pure: the model only, no I/O"]
        );
    }

    #[test]
    fn no_layer_may_depend_on_the_facade() {
        let metadata = serde_json::json!({
            "packages": [{"id": "s", "name": "crossmap-store"}, {"id": "f", "name": "crossmap"}],
            "resolve": {"nodes": [
                {"id": "s", "deps": [{"pkg": "f", "dep_kinds": [{"kind": null}]}]},
                {"id": "f", "deps": []}
            ]}
        });
        let v = violations(&metadata).unwrap();
        assert_eq!(v, ["  crossmap-store depends on crossmap: the store is below HTTP"]);
    }

    #[test]
    fn the_facade_may_not_ship_the_cli() {
        let metadata = serde_json::json!({
            "packages": [{"id": "f", "name": "crossmap"}, {"id": "c", "name": "crossmap-cli"},
                         {"id": "s", "name": "crossmap-server"}],
            "resolve": {"nodes": [
                {"id": "f", "deps": [{"pkg": "c", "dep_kinds": [{"kind": null}]}, {"pkg": "s", "dep_kinds": [{"kind": null}]}]},
                {"id": "c", "deps": []},
                {"id": "s", "deps": []}
            ]}
        });
        let v = violations(&metadata).unwrap();
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].starts_with("  crossmap depends on crossmap-cli"), "{v:?}");
    }

    #[test]
    fn the_facade_without_defaults_may_not_pull_http() {
        let pure =
            "crossmap v0.1.0 (/w/crates/crossmap)\ncrossmap-model v0.1.0 (/w/crates/crossmap-model)\nserde v1.0.0\n";
        assert!(io_without_defaults(pure).is_empty());
        let http = format!("{pure}crossmap-client v0.1.0 (/w)\nreqwest v0.13.5\nhyper v1.8.0\ntokio v1.54.1 (*)\n");
        assert_eq!(
            io_without_defaults(&http),
            ["crossmap-client", "hyper", "reqwest", "tokio"]
        );
    }

    #[test]
    fn a_forbidden_dependency_is_reported() {
        let metadata = serde_json::json!({
            "packages": [{"id": "m", "name": "crossmap-model"}, {"id": "x", "name": "serde"}, {"id": "t", "name": "tokio"}],
            "resolve": {"nodes": [
                {"id": "m", "deps": [{"pkg": "x", "dep_kinds": [{"kind": null}]}, {"pkg": "t", "dep_kinds": [{"kind": "dev"}]}]},
                {"id": "x", "deps": [{"pkg": "t", "dep_kinds": [{"kind": null}]}]},
                {"id": "t", "deps": []}
            ]}
        });
        let v = violations(&metadata).unwrap();
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("crossmap-model depends on tokio"));
    }
}
