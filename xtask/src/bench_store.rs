//! `cargo xtask bench store`: the data directory and the emulator's start after a long history, before
//! and after compaction, against a fresh load of the same state. The history is written straight
//! through the store's API (the `history` example of `crossmap-store`), not over HTTP, to take minutes.

use crate::bench::{CONNECTIONS, Flood, Running, SECONDS, durable_emulator, patch_load, release_dir, rss_mib};
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use xshell::{Shell, cmd};

const MAPPINGS: &str = "1000000";
const VERSIONS: &str = "10";
const PORT: u16 = 18491;

/// The size of the files in `dir`, in MiB.
fn size_mib(dir: &Path) -> Result<f64> {
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir)? {
        bytes += entry?.metadata()?.len();
    }
    Ok(bytes as f64 / (1024.0 * 1024.0))
}

/// Writes `versions` of every mapping into `dir`; returns the seconds it took.
fn history(sh: &Shell, exe: &Path, dir: &Path, versions: &str, auto: bool) -> Result<f64> {
    let auto = auto.then_some("--auto");
    let out = cmd!(sh, "{exe} {dir} {MAPPINGS} {versions} {auto...}").read()?;
    let v: Value = serde_json::from_str(&out).context("history's output")?;
    v["seconds"].as_f64().context("history: seconds")
}

/// Starts the emulator on `dir`: (seconds until it accepts a connection, its RSS then in MiB); checks
/// that it then serves a stored mapping.
fn start(sh: &Shell, crossmap: &Path, dir: &Path) -> Result<(f64, f64)> {
    let addr = format!("127.0.0.1:{PORT}");
    let began = Instant::now();
    let child = Command::new(crossmap)
        .args([
            "serve",
            "--addr",
            &addr,
            "--compact-after",
            "0",
            "--app",
            "bench:secret:manage",
            "--data-dir",
        ])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting crossmap serve")?;
    let running = Running(child);
    while TcpStream::connect(("127.0.0.1", PORT)).is_err() {
        if began.elapsed() > Duration::from_secs(900) {
            bail!("the emulator did not listen within 15 minutes");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let seconds = began.elapsed().as_secs_f64();
    let rss = rss_mib(running.0.id())?;
    let token = cmd!(sh, "{crossmap} token --data-dir {dir} --tenant bench")
        .quiet()
        .read()?;
    let auth = format!("Authorization: Bearer {token}");
    let url = format!(
        "http://{addr}/beta/solutions/sharePoint/migrations/crossOrganizationGroupMappings(sourceGroupObjectId='00000000-0000-4000-8000-000000000000')"
    );
    let format = "%{http_code}";
    let status = cmd!(sh, "curl -s -o /dev/null -w {format} -H {auth} {url}")
        .quiet()
        .read()?;
    if status != "200" {
        bail!("the restarted emulator answered {status} for a stored mapping");
    }
    drop(running);
    Ok((seconds, rss))
}

pub(crate) fn store(sh: &Shell, root: &Path) -> Result<()> {
    // The same build as `bench server`'s (so one serves both), then the history writer.
    cmd!(
        sh,
        "cargo build --release -p crossmap-cli -p crossmap-server --bins --examples"
    )
    .run()?;
    cmd!(sh, "cargo build --release -p crossmap-store --example history").run()?;
    let release = release_dir(root);
    let crossmap = release.join("crossmap");
    let exe = release.join("examples/history");
    let base = std::env::temp_dir().join(format!("crossmap-bench-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (fresh, long, auto) = (base.join("fresh"), base.join("history"), base.join("auto"));

    // Each row is printed as soon as it is measured: the whole run takes many minutes.
    println!("bench store: a fresh load of {MAPPINGS} group mappings, then {VERSIONS} versions of each");
    println!(
        "\n| {MAPPINGS} group mappings | written in | data directory | x fresh | start (accepts connections) | RSS at start |"
    );
    println!("|---|---|---|---|---|---|");
    let fresh_write = history(sh, &exe, &fresh, "1", false)?;
    let fresh_size = size_mib(&fresh)?;
    let row = |what: &str, write: String, size: f64, start: (f64, f64)| {
        println!(
            "| {what} | {write} | {size:.0} MiB | {:.2} | {:.2} s | {:.0} MiB |",
            size / fresh_size,
            start.0,
            start.1
        );
    };
    row(
        "fresh load (1 version each)",
        format!("{fresh_write:.1} s"),
        fresh_size,
        start(sh, &crossmap, &fresh)?,
    );
    let long_write = history(sh, &exe, &long, VERSIONS, false)?;
    row(
        &format!("{VERSIONS} versions each, automatic compaction off"),
        format!("{long_write:.1} s"),
        size_mib(&long)?,
        start(sh, &crossmap, &long)?,
    );
    let began = Instant::now();
    cmd!(sh, "{crossmap} compact --data-dir {long}").quiet().run()?;
    let compact = began.elapsed().as_secs_f64();
    row(
        "the same, after `crossmap compact`",
        format!("compacted in {compact:.1} s"),
        size_mib(&long)?,
        start(sh, &crossmap, &long)?,
    );
    let auto_write = history(sh, &exe, &auto, VERSIONS, true)?;
    row(
        &format!("{VERSIONS} versions each, compacting automatically (default threshold)"),
        format!("{auto_write:.1} s"),
        size_mib(&auto)?,
        start(sh, &crossmap, &auto)?,
    );
    let _ = std::fs::remove_dir_all(&base);
    Ok(())
}

/// `bench compaction [--rounds N] [--baseline BIN]`: the durable PATCH flood (`patch_load`, new group
/// mappings, 32 connections, 10 s) on a fresh emulator with automatic compaction on (the default
/// threshold) and off (`--compact-after 0`), alternately, N rounds of each; with a baseline binary, its
/// default too, in the same rounds. Prints each run, then the means and the ratio on / off.
pub(crate) fn compaction(sh: &Shell, root: &Path, rounds: usize, baseline: Option<&Path>) -> Result<()> {
    cmd!(
        sh,
        "cargo build --release -p crossmap-cli -p crossmap-server --bins --examples"
    )
    .run()?;
    let release = release_dir(root);
    let crossmap = release.join("crossmap");
    let patch_exe = release.join("examples/patch_load");
    let mut runs: Vec<(&str, &Path, &[&str])> = vec![
        ("this tree, compaction on (default)", &crossmap, &[]),
        ("this tree, --compact-after 0", &crossmap, &["--compact-after", "0"]),
    ];
    if let Some(b) = baseline {
        runs.push(("baseline, compaction on (default)", b, &[]));
    }
    println!(
        "bench compaction: durable PATCH of 50 new group mappings, {CONNECTIONS} connections, {SECONDS} s, {rounds} rounds"
    );
    println!("\n| run | items/s | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|");
    let mut results: Vec<(&str, Flood)> = Vec::new();
    for _ in 0..rounds {
        for (label, binary, extra) in &runs {
            let dir = std::env::temp_dir().join(format!("crossmap-bench-compaction-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let dir_s = dir.to_str().context("a UTF-8 temp dir")?.to_owned();
            let port = 18495;
            let emulator = durable_emulator(binary, &dir_s, port, extra)?;
            let token = cmd!(sh, "{binary} token --data-dir {dir_s} --tenant bench")
                .quiet()
                .read()?;
            let url =
                format!("http://127.0.0.1:{port}/beta/solutions/sharePoint/migrations/crossOrganizationGroupMappings");
            let (items, p50, p99, max) = patch_load(sh, &patch_exe, &url, &token, SECONDS, None)?;
            drop(emulator);
            let _ = std::fs::remove_dir_all(&dir);
            println!("| {label} | {items:.0} | {p50:.1} | {p99:.1} | {max:.1} |");
            results.push((label, (items, p50, p99, max)));
        }
    }
    let mean = |label: &str, f: fn(&Flood) -> f64| {
        let v: Vec<f64> = results.iter().filter(|r| r.0 == label).map(|r| f(&r.1)).collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    println!("\n| means of {rounds} runs | items/s | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|");
    for (label, _, _) in &runs {
        println!(
            "| {label} | {:.0} | {:.1} | {:.1} | {:.1} |",
            mean(label, |r| r.0),
            mean(label, |r| r.1),
            mean(label, |r| r.2),
            mean(label, |r| r.3)
        );
    }
    println!(
        "\nthroughput, compaction on / off: {:.3}",
        mean(runs[0].0, |r| r.0) / mean(runs[1].0, |r| r.0)
    );
    Ok(())
}
