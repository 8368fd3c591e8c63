//! crossmap's project tasks, run as `cargo xtask <task>`.
//!
//! - `codegen [--check]`: regenerate the model from `schema/`, or fail naming every stale file;
//! - `layers`: fail when a crate depends on something its layer forbids (see `docs/architecture.md`);
//! - `docs`: `cargo doc --workspace --no-deps`, failing on any rustdoc or cargo warning;
//! - `package`: `cargo package` every crate (no verification build: that needs the registry);
//! - `features`: the `crossmap` facade's library checked with no feature and with each alone;
//! - `msrv`: every package inherits the workspace's `rust-version`, and no dependency declares a newer one;
//! - `proptest [--cases N]`: run the workspace's property tests (tests named `law_*`) with N cases;
//! - `ci`: everything CI runs: fmt, clippy (`incompatible_msrv` denied), codegen --check, layers, msrv, docs,
//!   package, features, the whole test suite (which runs the
//!   crash loop's short version, 3 rounds), the browser tests;
//! - `browser`: the emulator's web console in headless Chromium (Playwright), and the Python example of
//!   docs/emulator.md, against a freshly started debug emulator;
//! - `crashloop [--rounds N]`: the crash loop of `crossmap serve` SIGKILLed while compacting under writes,
//!   N rounds (default 20);
//! - `bench server [--baseline BIN | --memory]`: the release emulator against bare axum yardsticks on loopback
//!   (docs/performance.md); with an older `crossmap` binary, both emulators measured alternately in one run;
//!   `--memory`: only its resident memory with 1,000,000 group mappings;
//! - `bench store`: the data directory's size and the emulator's start after 10,000,000 changes, before and
//!   after compaction, against a fresh load;
//! - `bench compaction [--rounds N] [--baseline BIN]`: the durable PATCH flood with automatic compaction on
//!   and off, alternately (and a baseline binary's default);
//! - `bench client`: `apply_all` of 100,000 mappings against the emulator, and the Python SDK doing the same;
//! - `bench throttled`: 40,000 mappings into the emulator under a quota: crossmap's pacing against a fixed
//!   client and the Python SDK, with the 429s and early requests the emulator counted;
//! - `bench cli [--baseline BIN] [--rows N]`: `crossmap push` of a 100,000-row (or N-row) CSV: wall time and peak memory; with
//!   an older `crossmap` binary, both measured alternately in one run.
//! - `bench match`: `crossmap-match` on 1,000,000 × 1,000,000 users: time per phase and peak memory;
//! - `bench match-cli`: `crossmap match` reading 100,000 users per tenant from the local emulator.
//! - `fuzz [--seconds N] [TARGET…]`: build the fuzz targets (`fuzz/`) and run each for N seconds (default 60).

// A command-line tool reports on its terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod bench_store;
mod browser;
mod fuzz;
mod layers;
mod release;

use anyhow::{Context, Result, bail};
use crossmap_codegen::Mode;
use std::path::{Path, PathBuf};
use xshell::{Shell, cmd};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    match args.as_slice() {
        ["codegen"] => codegen(Mode::Write),
        ["codegen", "--check"] => codegen(Mode::Check),
        ["layers"] => layers::check(&sh),
        ["docs"] => release::docs(&sh),
        ["package"] => release::package(&sh),
        ["features"] => release::features(&sh),
        ["msrv"] => release::msrv(&sh, &project_root()),
        ["proptest"] => proptest(&sh, 20_000),
        ["proptest", "--cases", n] => proptest(&sh, n.parse().context("--cases takes a whole number")?),
        ["ci"] => ci(&sh),
        ["browser"] => browser::run(&sh, &project_root()),
        ["crashloop"] => crashloop(&sh, 20),
        ["crashloop", "--rounds", n] => crashloop(&sh, n.parse().context("--rounds takes a whole number")?),
        ["bench", "server"] => bench::server(&sh, &project_root(), None),
        ["bench", "server", "--baseline", bin] => bench::server(&sh, &project_root(), Some(Path::new(bin))),
        ["bench", "server", "--memory"] => bench::server_memory(&sh, &project_root()),
        ["bench", "store"] => bench_store::store(&sh, &project_root()),
        ["bench", "compaction", rest @ ..] => {
            let (mut rounds, mut baseline) = (3, None);
            let mut rest = rest.iter();
            while let Some(flag) = rest.next() {
                match (*flag, rest.next()) {
                    ("--rounds", Some(n)) => rounds = n.parse().context("--rounds takes a whole number")?,
                    ("--baseline", Some(bin)) => baseline = Some(Path::new(*bin)),
                    _ => bail!("usage: cargo xtask bench compaction [--rounds N] [--baseline BIN]"),
                }
            }
            bench_store::compaction(&sh, &project_root(), rounds, baseline)
        }
        ["bench", "client"] => bench::client(&sh, &project_root()),
        ["bench", "throttled"] => bench::throttled(&sh, &project_root()),
        ["bench", "cli", rest @ ..] => {
            let (mut baseline, mut rows) = (None, 100_000);
            let mut rest = rest.iter();
            while let Some(flag) = rest.next() {
                match (*flag, rest.next()) {
                    ("--baseline", Some(bin)) => baseline = Some(Path::new(*bin)),
                    ("--rows", Some(n)) => rows = n.parse().context("--rows takes a whole number")?,
                    _ => bail!("usage: cargo xtask bench cli [--baseline BIN] [--rows N]"),
                }
            }
            bench::cli(&sh, &project_root(), baseline, rows)
        }
        ["bench", "match"] => bench::matching(&sh),
        ["bench", "match-cli"] => bench::match_cli(&sh, &project_root()),
        ["fuzz", "--seconds", n, targets @ ..] => fuzz::run(
            &sh,
            &project_root(),
            n.parse().context("--seconds takes a whole number")?,
            targets,
        ),
        ["fuzz", targets @ ..] => fuzz::run(&sh, &project_root(), 60, targets),
        _ => {
            eprintln!(
                "usage: cargo xtask <codegen [--check] | layers | docs | package | features | msrv | proptest [--cases N] | ci | browser | crashloop [--rounds N] | bench server [--baseline BIN | --memory] | bench store | bench compaction [--rounds N] [--baseline BIN] | bench client | bench throttled | bench cli [--baseline BIN] [--rows N] | bench match | bench match-cli | fuzz [--seconds N] [TARGET...]>"
            );
            bail!("unknown task {args:?}")
        }
    }
}

/// The workspace root: the xtask crate's parent.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_owned()
}

fn codegen(mode: Mode) -> Result<()> {
    let stale = crossmap_codegen::run(&project_root(), mode)?;
    match (mode, stale.is_empty()) {
        (_, true) => println!("codegen: generated files are up to date"),
        (Mode::Write, false) => println!("codegen: rewrote {}", stale.join(", ")),
        (Mode::Check, false) => bail!(
            "codegen: stale generated file(s): {}\nrun `cargo xtask codegen` and commit the result",
            stale.join(", ")
        ),
    }
    Ok(())
}

fn proptest(sh: &Shell, cases: u32) -> Result<()> {
    let cases = cases.to_string();
    let _env = sh.push_env("PROPTEST_CASES", &cases);
    println!("proptest: running the property tests (law_*) with {cases} cases each");
    cmd!(sh, "cargo test --workspace --release -- law_").run()?;
    Ok(())
}

/// The crash loop (`crossmap-cli`'s `compaction::sigkills…` test) with `rounds` rounds.
fn crashloop(sh: &Shell, rounds: u32) -> Result<()> {
    let rounds = rounds.to_string();
    let _env = sh.push_env("CROSSMAP_CRASHLOOP_ROUNDS", &rounds);
    println!("crashloop: {rounds} rounds of SIGKILL during compaction under write load");
    cmd!(
        sh,
        "cargo test -p crossmap-cli --test it compaction::sigkills -- --nocapture"
    )
    .run()?;
    Ok(())
}

fn ci(sh: &Shell) -> Result<()> {
    cmd!(sh, "cargo fmt --all -- --check").run()?;
    cmd!(sh, "cargo clippy --workspace --all-targets --locked -- -D warnings").run()?;
    codegen(Mode::Check)?;
    layers::check(sh)?;
    release::msrv(sh, &project_root())?;
    release::docs(sh)?;
    release::package(sh)?;
    release::features(sh)?;
    cmd!(sh, "cargo test --workspace --locked").run()?;
    browser::run(sh, &project_root())?;
    Ok(())
}
