//! What a release needs, checked in CI: the documentation builds without a warning, every crate
//! packages, the facade builds with each feature alone, and one minimum supported Rust version (MSRV)
//! holds across the workspace.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::path::Path;
use xshell::{Shell, cmd};

/// `cargo doc --workspace --no-deps` with rustdoc's warnings (broken intra-doc links and the like)
/// denied, and cargo's own (two documentation pages under one name) failing too.
pub(crate) fn docs(sh: &Shell) -> Result<()> {
    let _flags = sh.push_env("RUSTDOCFLAGS", "-D warnings");
    let output = cmd!(sh, "cargo doc --workspace --no-deps --locked")
        .ignore_status()
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprint!("{stderr}");
    if !output.status.success() {
        bail!("docs: cargo doc failed");
    }
    let warnings = cargo_warnings(&stderr);
    if !warnings.is_empty() {
        bail!("docs: cargo doc warned:\n{}", warnings.join("\n"));
    }
    println!("docs: the documentation builds without a warning");
    Ok(())
}

/// The facade's library builds with each of its features alone, and with none: a `#[cfg]` that only
/// the workspace's unified features hide shows up here.
pub(crate) fn features(sh: &Shell) -> Result<()> {
    for features in ["", "client", "server", "matching", "testing"] {
        cmd!(
            sh,
            "cargo check -p crossmap --lib --no-default-features --features={features} --locked"
        )
        .quiet()
        .run()?;
    }
    println!("features: crossmap builds with each feature alone, and with none");
    Ok(())
}

/// The lines of cargo's output that are warnings.
fn cargo_warnings(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("warning")).collect()
}

/// Packages every crate but xtask, without building them from the packages (that would need the
/// registry). The workspace is `publish = false` until a release is decided, and cargo keeps such
/// crates out of the local registry it resolves a package's lockfile against, so the lockfile is
/// left out (only the CLI's binary would use it; `--exclude-lockfile`).
pub(crate) fn package(sh: &Shell) -> Result<()> {
    cmd!(
        sh,
        "cargo package --workspace --exclude xtask --exclude crossmap-embed-test --no-verify --allow-dirty --exclude-lockfile --locked"
    )
    .quiet()
    .run()?;
    println!("package: every crate packages");
    Ok(())
}

/// The MSRV: every package inherits the workspace's `rust-version`, and no dependency declares a newer
/// one. (Newer std APIs are `clippy::incompatible_msrv`, denied in the workspace's lints.)
pub(crate) fn msrv(sh: &Shell, root: &Path) -> Result<()> {
    let json = cmd!(sh, "cargo metadata --format-version 1 --locked").quiet().read()?;
    let metadata: Value = serde_json::from_str(&json)?;
    let workspace = std::fs::read_to_string(root.join("Cargo.toml")).context("reading Cargo.toml")?;
    let msrv = workspace_rust_version(&workspace).context("the workspace sets no [workspace.package] rust-version")?;
    let mut manifests = Vec::new();
    for member in metadata["workspace_members"].as_array().context("workspace_members")? {
        let package = package_of(&metadata, member.as_str().context("member id")?)?;
        let path = package["manifest_path"].as_str().context("manifest_path")?;
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        manifests.push((package["name"].as_str().unwrap_or_default().to_owned(), text));
    }
    let problems = msrv_problems(&msrv, &metadata, &manifests)?;
    if !problems.is_empty() {
        bail!("msrv {msrv}:\n{}", problems.join("\n"));
    }
    println!("msrv: every package is on Rust {msrv}, and no dependency needs a newer one");
    Ok(())
}

fn package_of<'m>(metadata: &'m Value, id: &str) -> Result<&'m Value> {
    metadata["packages"]
        .as_array()
        .context("packages")?
        .iter()
        .find(|p| p["id"].as_str() == Some(id))
        .with_context(|| format!("no package {id}"))
}

/// `rust-version` under `[workspace.package]` of the root manifest.
fn workspace_rust_version(manifest: &str) -> Option<String> {
    let (_, section) = manifest.split_once("[workspace.package]")?;
    let section = section.split("\n[").next()?;
    let line = section
        .lines()
        .find(|l| l.split('=').next().is_some_and(|k| k.trim() == "rust-version"))?;
    Some(line.split_once('=')?.1.trim().trim_matches('"').to_owned())
}

/// Every member that does not inherit the MSRV, or declares another; every dependency that needs more.
fn msrv_problems(msrv: &str, metadata: &Value, manifests: &[(String, String)]) -> Result<Vec<String>> {
    let wanted = version(msrv).with_context(|| format!("the MSRV {msrv:?} is not a version"))?;
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .context("workspace_members")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut out = Vec::new();
    for (name, text) in manifests {
        let inherits = text
            .lines()
            .any(|l| l.replace(' ', "") == "rust-version.workspace=true");
        if !inherits {
            out.push(format!(
                "  {name} does not inherit rust-version (rust-version.workspace = true)"
            ));
        }
    }
    for p in metadata["packages"].as_array().context("packages")? {
        let (Some(id), Some(name)) = (p["id"].as_str(), p["name"].as_str()) else {
            continue;
        };
        let declared = p["rust_version"].as_str();
        let member = members.contains(&id);
        match (member, declared.and_then(version)) {
            (true, Some(v)) if v != wanted => out.push(format!(
                "  {name} declares rust-version {}",
                declared.unwrap_or_default()
            )),
            (true, None) => out.push(format!("  {name} declares no rust-version")),
            (false, Some(v)) if v > wanted => out.push(format!(
                "  the dependency {name} {} needs Rust {}",
                p["version"].as_str().unwrap_or_default(),
                declared.unwrap_or_default()
            )),
            _ => {}
        }
    }
    Ok(out)
}

/// `1.89` or `1.89.0` as (1, 89, 0).
fn version(v: &str) -> Option<(u32, u32, u32)> {
    let mut parts = v.trim().split('.').map(str::parse::<u32>);
    let major = parts.next()?.ok()?;
    let minor = parts.next().unwrap_or(Ok(0)).ok()?;
    let patch = parts.next().unwrap_or(Ok(0)).ok()?;
    Some((major, minor, patch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_keeps_one_msrv() {
        let sh = Shell::new().unwrap();
        sh.change_dir(crate::project_root());
        msrv(&sh, &crate::project_root()).unwrap();
    }

    fn metadata(deps: &[(&str, &str)]) -> Value {
        let mut packages = vec![
            serde_json::json!({"id": "a", "name": "crossmap-model", "version": "0.1.0", "rust_version": "1.89"}),
            serde_json::json!({"id": "b", "name": "crossmap-delta", "version": "0.1.0", "rust_version": "1.89"}),
        ];
        for (i, (name, rv)) in deps.iter().enumerate() {
            packages
                .push(serde_json::json!({"id": format!("d{i}"), "name": name, "version": "1.0.0", "rust_version": rv}));
        }
        serde_json::json!({"workspace_members": ["a", "b"], "packages": packages})
    }

    fn inheriting() -> Vec<(String, String)> {
        ["crossmap-model", "crossmap-delta"]
            .map(|n| (n.to_owned(), "[package]\nrust-version.workspace = true\n".to_owned()))
            .to_vec()
    }

    #[test]
    fn a_dependency_needing_a_newer_rust_is_reported() {
        let ok = msrv_problems(
            "1.89",
            &metadata(&[("serde", "1.61"), ("rusqlite", "1.89.0")]),
            &inheriting(),
        );
        assert_eq!(ok.unwrap(), Vec::<String>::new());
        let newer = msrv_problems("1.89", &metadata(&[("rusqlite", "1.90")]), &inheriting()).unwrap();
        assert_eq!(newer, ["  the dependency rusqlite 1.0.0 needs Rust 1.90"]);
    }

    #[test]
    fn a_member_that_does_not_inherit_the_msrv_is_reported() {
        let mut manifests = inheriting();
        manifests[1].1 = "[package]\nrust-version = \"1.89\"\n".to_owned();
        let v = msrv_problems("1.89", &metadata(&[]), &manifests).unwrap();
        assert_eq!(
            v,
            ["  crossmap-delta does not inherit rust-version (rust-version.workspace = true)"]
        );
        let mut other = metadata(&[]);
        other["packages"][0]["rust_version"] = "1.85".into();
        let v = msrv_problems("1.89", &other, &inheriting()).unwrap();
        assert_eq!(v, ["  crossmap-model declares rust-version 1.85"]);
    }

    #[test]
    fn the_workspace_msrv_is_read_from_its_section() {
        let manifest = "[workspace]\nmembers = []\n\n[workspace.package]\nversion = \"0.1.0\"\nrust-version = \"1.89\"\n\n[workspace.dependencies]\nrust-version = \"9\"\n";
        assert_eq!(workspace_rust_version(manifest).as_deref(), Some("1.89"));
        assert_eq!(workspace_rust_version("[workspace.package]\nversion = \"1\"\n"), None);
    }

    #[test]
    fn cargo_warnings_are_found() {
        let out = "   Documenting crossmap v0.1.0\nwarning: output filename collision.\n    Finished `dev`\n";
        assert_eq!(cargo_warnings(out), ["warning: output filename collision."]);
        assert!(cargo_warnings("    Finished `dev`\n").is_empty());
    }
}
