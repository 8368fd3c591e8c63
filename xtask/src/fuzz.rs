//! `cargo xtask fuzz [--seconds N] [TARGET…]`: build the cargo-fuzz project in `fuzz/` and run each target
//! for N seconds (see `docs/testing.md`).
//!
//! cargo-fuzz needs nightly flags; the toolchain here is stable, so the build runs with
//! `RUSTC_BOOTSTRAP=1`. Without a sanitizer (`--sanitizer none`): our crates forbid `unsafe`, so
//! AddressSanitizer would only watch dependencies, and it doubles the build. Debug assertions (so integer
//! overflow checks) are on. A target stops at its first failing input and leaves it in
//! `fuzz/artifacts/<target>/`.

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::time::{Duration, Instant};
use xshell::{Shell, cmd};

/// Every fuzz target, in the order they run. Each is `fuzz/fuzz_targets/<name>.rs`, with seeds in
/// `fuzz/seeds/<name>/`, the inputs that found bugs in `fuzz/regressions/<name>/` and tokens for the
/// mutator in `fuzz/dicts/<name>.dict`.
pub(crate) const TARGETS: &[&str] = &[
    "delta_request",
    "alternate_key",
    "mapping_id",
    "query_options",
    "compact_row",
    "csv_reader",
];

/// The cargo-fuzz release installed when none is found (the one these docs were measured with).
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// The flags every cargo-fuzz command gets, so that `run` reuses what `build` built.
const BUILD_FLAGS: [&str; 3] = ["--sanitizer", "none", "--debug-assertions"];

/// Builds every target, then runs each of `only` (all when empty) for `seconds`.
pub(crate) fn run(sh: &Shell, root: &Path, seconds: u32, only: &[&str]) -> Result<()> {
    let targets: Vec<&str> = if only.is_empty() {
        TARGETS.to_vec()
    } else {
        only.to_vec()
    };
    if let Some(unknown) = targets.iter().find(|t| !TARGETS.contains(t)) {
        bail!("no fuzz target {unknown:?}; the targets are {}", TARGETS.join(", "));
    }
    let total = Instant::now();
    ensure_cargo_fuzz(sh)?;
    let _dir = sh.push_dir(root.join("fuzz"));
    let _bootstrap = sh.push_env("RUSTC_BOOTSTRAP", "1");

    let start = Instant::now();
    cmd!(sh, "cargo fuzz build {BUILD_FLAGS...}").run()?;
    let build = start.elapsed();

    let mut ran = Vec::new();
    for target in &targets {
        let corpus = format!("corpus/{target}");
        let seeds = format!("seeds/{target}");
        sh.create_dir(&corpus)?;
        let mut options = vec![format!("-max_total_time={seconds}"), "-timeout=10".to_owned()];
        let dict = format!("dicts/{target}.dict");
        if sh.path_exists(&dict) {
            options.push(format!("-dict={dict}"));
        }
        let start = Instant::now();
        // libFuzzer reads every folder and adds what it finds to the first one.
        let result = cmd!(
            sh,
            "cargo fuzz run {BUILD_FLAGS...} {target} {corpus} {seeds} -- {options...}"
        )
        .run();
        if result.is_err() {
            bail!(
                "fuzz target {target} failed: its input is in fuzz/artifacts/{target}/. Fix the bug with a unit \
                 test, copy the input into fuzz/regressions/{target}/ (the crates' tests replay it) and commit both"
            );
        }
        let corpus_size = sh.read_dir(&corpus).map(|files| files.len()).unwrap_or(0);
        ran.push((*target, start.elapsed(), corpus_size));
    }

    println!("\nfuzz: built every target in {}", seconds_of(build));
    for (target, took, corpus) in &ran {
        println!(
            "fuzz: {target:<14} ran {} (corpus now {corpus} inputs), no failure",
            seconds_of(*took)
        );
    }
    println!("fuzz: {} in all", seconds_of(total.elapsed()));
    Ok(())
}

fn seconds_of(d: Duration) -> String {
    format!("{:.0} s", d.as_secs_f64())
}

/// Installs cargo-fuzz from crates.io when `cargo fuzz` is not there.
fn ensure_cargo_fuzz(sh: &Shell) -> Result<()> {
    if cmd!(sh, "cargo fuzz --version").quiet().ignore_stderr().read().is_ok() {
        return Ok(());
    }
    println!("fuzz: cargo-fuzz is missing; installing it");
    cmd!(sh, "cargo install cargo-fuzz --locked --version {CARGO_FUZZ_VERSION}")
        .run()
        .with_context(|| {
            format!("could not install it: run `cargo install cargo-fuzz --locked --version {CARGO_FUZZ_VERSION}`")
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_has_a_source_file_and_seeds() {
        let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).unwrap();
        for target in TARGETS {
            assert!(
                fuzz.join(format!("fuzz_targets/{target}.rs")).is_file(),
                "{target}: no source"
            );
            assert!(
                manifest.contains(&format!("name = \"{target}\"")),
                "{target}: not in fuzz/Cargo.toml"
            );
            let seeds = std::fs::read_dir(fuzz.join("seeds").join(target)).map(|d| d.count());
            assert!(seeds.is_ok_and(|n| n > 0), "{target}: no seeds");
        }
        assert_eq!(
            manifest.matches("[[bin]]").count(),
            TARGETS.len(),
            "a target of fuzz/Cargo.toml is not in TARGETS"
        );
    }
}
