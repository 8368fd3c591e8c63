//! `cargo xtask bench server`: the release emulator against its yardsticks, on loopback, in one run.
//!
//! Server and load generator are pinned to different cores (taskset). GETs are driven by oha (installed
//! with `cargo install oha --locked` when missing); delta PATCHes by the `patch_load` example, because
//! every request must be new for a durable store to have work to do. Prints a table for
//! docs/performance.md.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use xshell::{Shell, cmd};

/// Kills a child process when dropped.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const SERVER_CORE: &str = "0";
const LOAD_CORE: &str = "1";
pub(crate) const SECONDS: &str = "10";
pub(crate) const CONNECTIONS: &str = "32";

fn spawn_pinned(program: &Path, args: &[&str], port: u16) -> Result<Running> {
    let child = Command::new("taskset")
        .args(["-c", SERVER_CORE])
        .arg(program)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > Duration::from_secs(30) {
            bail!("{} did not listen on port {port}", program.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Running(child))
}

/// The release emulator `crossmap`, durable in `data_dir`, listening on `port` with the bench's app, pinned
/// to the server's core; `extra` flags after those.
pub(crate) fn durable_emulator(crossmap: &Path, data_dir: &str, port: u16, extra: &[&str]) -> Result<Running> {
    let addr = format!("127.0.0.1:{port}");
    let mut args = vec![
        "serve",
        "--addr",
        &addr,
        "--data-dir",
        data_dir,
        "--app",
        "bench:secret:manage",
    ];
    args.extend_from_slice(extra);
    spawn_pinned(crossmap, &args, port)
}

/// (requests/s, p50 ms, p99 ms) from oha's JSON summary.
fn oha(sh: &Shell, url: &str, token: &str) -> Result<(f64, f64, f64)> {
    let auth = format!("Authorization: Bearer {token}");
    let out = cmd!(
        sh,
        "taskset -c {LOAD_CORE} oha -z {SECONDS}s -c {CONNECTIONS} --no-tui --output-format json -H {auth} {url}"
    )
    .quiet()
    .read()?;
    let v: Value = serde_json::from_str(&out).context("oha's JSON output")?;
    let rps = v["summary"]["requestsPerSec"].as_f64().context("oha: requestsPerSec")?;
    let p = |k: &str| {
        v["latencyPercentiles"][k]
            .as_f64()
            .map(|s| s * 1000.0)
            .context("oha: latency percentiles")
    };
    let status_ok = v["statusCodeDistribution"]["200"].as_u64().unwrap_or(0);
    if status_ok == 0 {
        bail!("oha got no 200 from {url}: {}", v["statusCodeDistribution"]);
    }
    Ok((rps, p("p50")?, p("p99")?))
}

/// What patch_load reports: (items/s, p50 ms, p99 ms, max ms).
pub(crate) type Flood = (f64, f64, f64, f64);

/// patch_load pinned to the load core: `seconds` of 50-item delta PATCHes over the bench's connections.
pub(crate) fn patch_load(
    sh: &Shell,
    exe: &Path,
    url: &str,
    token: &str,
    seconds: &str,
    max: Option<&str>,
) -> Result<Flood> {
    let max = max.map(str::to_owned).into_iter();
    let out = cmd!(
        sh,
        "taskset -c {LOAD_CORE} {exe} {url} {token} {seconds} {CONNECTIONS} {max...}"
    )
    .quiet()
    .read()?;
    let v: Value = serde_json::from_str(&out).context("patch_load's output")?;
    if v["errors"].as_u64() != Some(0) {
        bail!("patch_load saw errors: {out}");
    }
    let f = |k: &str| v[k].as_f64().with_context(|| format!("patch_load: {k}"));
    Ok((f("items_per_s")?, f("p50_ms")?, f("p99_ms")?, f("max_ms")?))
}

/// The release build's directory: under `CARGO_TARGET_DIR` when set, else the workspace's `target/`.
pub(crate) fn release_dir(root: &Path) -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    target.join("release")
}

/// Runs `measure` on this tree's binary and, given a baseline binary (an older `crossmap`, built from
/// another commit), on that too: alternately, `rounds` rounds each, so that their ratio means something on
/// a shared machine. Each result is labelled `this tree` or `baseline`; `measure` gets the round, the
/// binary's place in it and the binary.
fn alternately<R>(
    this: &Path,
    baseline: Option<&Path>,
    rounds: usize,
    mut measure: impl FnMut(usize, usize, &Path) -> Result<R>,
) -> Result<Vec<(&'static str, R)>> {
    let mut runs: Vec<(&'static str, &Path)> = vec![("this tree", this)];
    if let Some(b) = baseline {
        runs.push(("baseline", b));
    }
    let rounds = if baseline.is_some() { rounds } else { 1 };
    let mut results = Vec::new();
    for round in 0..rounds {
        for (i, (label, binary)) in runs.iter().enumerate() {
            results.push((*label, measure(round, i, binary)?));
        }
    }
    Ok(results)
}

/// The mean of `f` over the results labelled `label`.
fn mean<R>(results: &[(&str, R)], label: &str, f: impl Fn(&R) -> f64) -> f64 {
    let v: Vec<f64> = results.iter().filter(|r| r.0 == label).map(|r| f(&r.1)).collect();
    v.iter().sum::<f64>() / v.len() as f64
}

pub(crate) fn rss_mib(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("VmRSS")?;
    Ok(kb / 1024.0)
}

/// Rounds of `bench server --baseline`: GET throughput swings from run to run on a busy machine.
const SERVER_ROUNDS: usize = 3;

/// What one emulator binary does in `bench server`.
struct Figures {
    /// Durable delta PATCH: (items/s, p50 ms, p99 ms).
    patch: Flood,
    /// GET by alternate key: (requests/s, p50 ms, p99 ms).
    get: (f64, f64, f64),
    /// RSS holding 1,000,000 group mappings, MiB.
    rss: f64,
}

/// `bench server [--baseline BIN]`: the release emulator against its yardsticks; with a baseline binary,
/// both emulators measured alternately in the same run (the yardsticks once).
pub(crate) fn server(sh: &Shell, root: &Path, baseline: Option<&Path>) -> Result<()> {
    cmd!(
        sh,
        "cargo build --release -p crossmap-cli -p crossmap-server --bins --examples"
    )
    .run()?;
    if cmd!(sh, "oha --version").quiet().ignore_stdout().run().is_err() {
        println!("bench: installing oha (cargo install oha --locked)");
        cmd!(sh, "cargo install oha --locked").run()?;
    }
    let release = release_dir(root);
    let crossmap = release.join("crossmap");
    let patch_exe = release.join("examples/patch_load");
    let yardstick = release.join("examples/yardstick");
    let results = alternately(&crossmap, baseline, SERVER_ROUNDS, |_, _, emulator| {
        emulator_figures(sh, emulator, &patch_exe)
    })?;
    let figures = |label: &str| Figures {
        patch: (
            mean(&results, label, |f| f.patch.0),
            mean(&results, label, |f| f.patch.1),
            mean(&results, label, |f| f.patch.2),
            mean(&results, label, |f| f.patch.3),
        ),
        get: (
            mean(&results, label, |f| f.get.0),
            mean(&results, label, |f| f.get.1),
            mean(&results, label, |f| f.get.2),
        ),
        rss: mean(&results, label, |f| f.rss),
    };
    let Figures { patch, get, rss } = figures("this tree");

    // The yardsticks.
    let bare_get = {
        let _y = spawn_pinned(&yardstick, &["get", "127.0.0.1:18482"], 18482)?;
        oha(sh, "http://127.0.0.1:18482/fixed", "none")?
    };
    let bare_patch = {
        let _y = spawn_pinned(&yardstick, &["patch", "127.0.0.1:18483"], 18483)?;
        patch_load(sh, &patch_exe, "http://127.0.0.1:18483/items", "none", SECONDS, None)?
    };

    println!(
        "\n| measure ({CONNECTIONS} connections, {SECONDS} s, server on core {SERVER_CORE}, load on core {LOAD_CORE}) | emulator | yardstick | ratio |"
    );
    println!("|---|---|---|---|");
    println!(
        "| GET by alternate key, requests/s | {:.0} | {:.0} (bare GET) | {:.2} |",
        get.0,
        bare_get.0,
        get.0 / bare_get.0
    );
    println!(
        "| GET p50 / p99, ms | {:.2} / {:.2} | {:.2} / {:.2} | |",
        get.1, get.2, bare_get.1, bare_get.2
    );
    println!(
        "| durable PATCH of 50 items, items/s | {:.0} | {:.0} (bare PATCH) | {:.2} |",
        patch.0,
        bare_patch.0,
        patch.0 / bare_patch.0
    );
    println!(
        "| PATCH p50 / p99, ms | {:.2} / {:.2} | {:.2} / {:.2} | |",
        patch.1, patch.2, bare_patch.1, bare_patch.2
    );
    println!("| emulator RSS with 1,000,000 group mappings | {rss:.0} MiB | | |");
    if baseline.is_some() {
        let before = figures("baseline");
        println!("\n| emulator, each run in order | GET requests/s | PATCH items/s | RSS MiB |");
        println!("|---|---|---|---|");
        for (label, f) in &results {
            println!("| {label} | {:.0} | {:.0} | {:.0} |", f.get.0, f.patch.0, f.rss);
        }
        println!(
            "\n| emulator (means of {SERVER_ROUNDS} runs each, alternately) | this tree | baseline | this / baseline |"
        );
        println!("|---|---|---|---|");
        println!(
            "| GET by alternate key, requests/s (/ bare GET) | {:.0} ({:.2}) | {:.0} ({:.2}) | {:.3} |",
            get.0,
            get.0 / bare_get.0,
            before.get.0,
            before.get.0 / bare_get.0,
            get.0 / before.get.0
        );
        println!(
            "| GET p50 / p99, ms | {:.2} / {:.2} | {:.2} / {:.2} | |",
            get.1, get.2, before.get.1, before.get.2
        );
        println!(
            "| durable PATCH of 50 items, items/s (/ bare PATCH) | {:.0} ({:.2}) | {:.0} ({:.2}) | {:.3} |",
            patch.0,
            patch.0 / bare_patch.0,
            before.patch.0,
            before.patch.0 / bare_patch.0,
            patch.0 / before.patch.0
        );
        println!(
            "| PATCH p50 / p99, ms | {:.2} / {:.2} | {:.2} / {:.2} | |",
            patch.1, patch.2, before.patch.1, before.patch.2
        );
        println!(
            "| RSS with 1,000,000 group mappings, MiB | {rss:.0} | {:.0} | {:.3} |",
            before.rss,
            rss / before.rss
        );
    }
    Ok(())
}

/// One emulator binary, durable, on its embedded default: delta PATCH throughput, GET by key, then RSS
/// once filled to 1,000,000 group mappings.
fn emulator_figures(sh: &Shell, crossmap: &Path, patch_exe: &Path) -> Result<Figures> {
    let dir: PathBuf = std::env::temp_dir().join(format!("crossmap-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_s = dir.to_str().context("a UTF-8 temp dir")?.to_owned();
    let port = 18481;
    let addr = format!("127.0.0.1:{port}");
    let emulator = durable_emulator(crossmap, &dir_s, port, &[])?;
    let token = cmd!(sh, "{crossmap} token --data-dir {dir_s} --tenant bench")
        .quiet()
        .read()?;
    let groups = format!("http://{addr}/beta/solutions/sharePoint/migrations/crossOrganizationGroupMappings");
    let patch = patch_load(sh, patch_exe, &groups, &token, SECONDS, None)?;
    let key_url = format!("{groups}(sourceGroupObjectId='00000000-0000-4000-8000-000000000000')");
    let get = oha(sh, &key_url, &token)?;
    // Memory with 1,000,000 mappings: fill up to 20,000 requests of 50 new keys.
    patch_load(sh, patch_exe, &groups, &token, "600", Some("20000"))?;
    let rss = rss_mib(emulator.0.id())?;
    drop(emulator);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Figures { patch, get, rss })
}

/// `bench server --memory`: only the emulator's resident memory with 1,000,000 group mappings (no oha, no
/// yardsticks).
pub(crate) fn server_memory(sh: &Shell, root: &Path) -> Result<()> {
    cmd!(
        sh,
        "cargo build --release -p crossmap-cli -p crossmap-server --bins --examples"
    )
    .run()?;
    let release = release_dir(root);
    let (rss, fill) = memory_with_a_million(sh, &release.join("crossmap"), &release.join("examples/patch_load"))?;
    println!("\n| emulator RSS with 1,000,000 group mappings (filled in {fill:.0} s) | {rss:.0} MiB |");
    Ok(())
}

/// The durable emulator filled with 1,000,000 group mappings (20,000 requests of 50 new keys):
/// (its resident memory in MiB, seconds to fill).
fn memory_with_a_million(sh: &Shell, crossmap: &Path, patch_exe: &Path) -> Result<(f64, f64)> {
    let dir: PathBuf = std::env::temp_dir().join(format!("crossmap-bench-memory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_s = dir.to_str().context("a UTF-8 temp dir")?.to_owned();
    let port = 18484;
    let addr = format!("127.0.0.1:{port}");
    let emulator = durable_emulator(crossmap, &dir_s, port, &[])?;
    let token = cmd!(sh, "{crossmap} token --data-dir {dir_s} --tenant bench")
        .quiet()
        .read()?;
    let groups = format!("http://{addr}/beta/solutions/sharePoint/migrations/crossOrganizationGroupMappings");
    let start = Instant::now();
    patch_load(sh, patch_exe, &groups, &token, "900", Some("20000"))?;
    let fill = start.elapsed().as_secs_f64();
    let rss = rss_mib(emulator.0.id())?;
    drop(emulator);
    let _ = std::fs::remove_dir_all(&dir);
    Ok((rss, fill))
}

/// What the push benches run: this tree's release emulator and `push` example, and the Python SDK's script
/// with its interpreter.
struct Pushers {
    python: PathBuf,
    crossmap: PathBuf,
    push: PathBuf,
    script: PathBuf,
}

/// Builds the release emulator and the client's examples, and makes the Python SDK's environment.
fn pushers(sh: &Shell, root: &Path) -> Result<Pushers> {
    cmd!(
        sh,
        "cargo build --release -p crossmap-cli -p crossmap-client --bins --examples"
    )
    .run()?;
    let release = release_dir(root);
    Ok(Pushers {
        python: python_sdk(sh, root)?,
        crossmap: release.join("crossmap"),
        push: release.join("examples/push"),
        script: root.join("xtask/bench/python_sdk_push.py"),
    })
}

/// `cargo xtask bench client`: `apply_all` of 100,000 user mappings against the local release emulator,
/// and in the same run the same push through Microsoft's Python beta SDK's request adapter.
pub(crate) fn client(sh: &Shell, root: &Path) -> Result<()> {
    const COUNT: &str = "100000";
    let Pushers {
        python,
        crossmap,
        push,
        script,
    } = pushers(sh, root)?;
    let dir = std::env::temp_dir().join(format!("crossmap-bench-client-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_s = dir.to_str().context("a UTF-8 temp dir")?.to_owned();
    let port = 18581;
    let authority = format!("http://127.0.0.1:{port}");
    let base = format!("{authority}/beta");
    let emulator = durable_emulator(&crossmap, &dir_s, port, &[])?;
    // Each path writes its own tenant, so both create 100,000 new mappings.
    let rust: Value = serde_json::from_str(
        &cmd!(
            sh,
            "taskset -c {LOAD_CORE} {push} {base} tenant-rust bench secret {COUNT}"
        )
        .quiet()
        .ignore_stderr()
        .read()?,
    )?;
    let python_out = cmd!(
        sh,
        "taskset -c {LOAD_CORE} {python} {script} {base} {authority} tenant-python bench secret {COUNT}"
    )
    .quiet()
    .read()?;
    let python: Value = serde_json::from_str(python_out.lines().last().unwrap_or_default())?;
    drop(emulator);
    let _ = std::fs::remove_dir_all(&dir);
    if rust["applied"] != rust["items"] || python["stored"] != python["items"] {
        bail!("a push did not store everything: rust {rust}, python {python}");
    }
    let (r, p) = (
        rust["seconds"].as_f64().context("seconds")?,
        python["seconds"].as_f64().context("seconds")?,
    );
    println!(
        "\n| push of {COUNT} user mappings (emulator on core {SERVER_CORE}, pusher on core {LOAD_CORE}) | seconds | items/s |"
    );
    println!("|---|---|---|");
    println!(
        "| crossmap-client apply_all (concurrency 4) | {r:.2} | {} |",
        rust["items_per_s"]
    );
    println!(
        "| msgraph-beta-sdk request adapter, sequential, 50 per request | {p:.2} | {} |",
        python["items_per_s"]
    );
    println!("| ratio | {:.1}x faster | |", p / r);
    Ok(())
}

/// The Python environment with Microsoft's beta SDK (msgraph-beta-sdk 1.66.0), made on first use; its
/// interpreter.
fn python_sdk(sh: &Shell, root: &Path) -> Result<PathBuf> {
    let venv = root.join("target/bench-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        println!(
            "bench: making the Python environment (msgraph-beta-sdk 1.66.0) in {}",
            venv.display()
        );
        cmd!(sh, "python3 -m venv {venv}").run()?;
        let pip = venv.join("bin/pip");
        cmd!(sh, "{pip} install -q msgraph-beta-sdk==1.66.0").run()?;
    }
    Ok(python)
}

/// `cargo xtask bench throttled`: 40,000 user mappings (800 delta requests of 50) into the release
/// emulator under `--throttle 400/10s` (writes cost 2: the quota's bound is (1,600 - 400) / 40 = 30 s),
/// by crossmap's client with its pacing controller, by the same client with adaptation off (fixed
/// concurrency 4, each request waiting only its own `Retry-After`), and by Microsoft's Python beta SDK's
/// request adapter with Kiota's default retry handler, 4 requests in flight; each into its own tenant,
/// so each starts with a full bucket. The emulator counts each one's `429`s and the requests that came
/// before a `Retry-After` had passed (`GET /_crossmap/throttle`).
pub(crate) fn throttled(sh: &Shell, root: &Path) -> Result<()> {
    const COUNT: u64 = 40_000;
    const QUOTA: &str = "400/10s";
    let (limit, window, cost) = (400.0, 10.0, 2.0);
    let bound = ((COUNT / 50) as f64 * cost - limit) / (limit / window);
    let Pushers {
        python,
        crossmap,
        push,
        script,
    } = pushers(sh, root)?;
    let dir = std::env::temp_dir().join(format!("crossmap-bench-throttled-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_s = dir.to_str().context("a UTF-8 temp dir")?.to_owned();
    let port = 18981;
    let authority = format!("http://127.0.0.1:{port}");
    let base = format!("{authority}/beta");
    let _emulator = durable_emulator(&crossmap, &dir_s, port, &["--throttle", QUOTA])?;
    let count = COUNT.to_string();
    let mut rows = Vec::new();
    for (label, tenant) in [
        (
            "crossmap-client, pacing controller (concurrency up to 4)",
            "tenant-adaptive",
        ),
        ("crossmap-client, adaptation off (fixed concurrency 4)", "tenant-fixed"),
        (
            "msgraph-beta-sdk request adapter, Kiota retry handler, 4 in flight",
            "tenant-python",
        ),
    ] {
        println!("bench: {label} ...");
        let out: Value = match tenant {
            "tenant-python" => {
                let out = cmd!(
                    sh,
                    "taskset -c {LOAD_CORE} {python} {script} {base} {authority} {tenant} bench secret {count} 4"
                )
                .env("NO_COUNT", "1")
                .quiet()
                .read()?;
                serde_json::from_str(out.lines().last().unwrap_or_default())?
            }
            _ => {
                let fixed = (tenant == "tenant-fixed").then_some("--fixed");
                serde_json::from_str(
                    &cmd!(
                        sh,
                        "taskset -c {LOAD_CORE} {push} {base} {tenant} bench secret {count} --patient {fixed...}"
                    )
                    .quiet()
                    .ignore_stderr()
                    .read()?,
                )?
            }
        };
        let seconds = out["seconds"].as_f64().context("seconds")?;
        // The emulator's counts for this pusher, then what it stored, read by another app (its own bucket).
        let quota: Value = serde_json::from_str(&cmd!(sh, "curl -s {authority}/_crossmap/throttle").read()?)?;
        let stats = quota["stats"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["tenant"] == tenant && s["appId"] == "bench"))
            .with_context(|| format!("no throttle stats for {tenant}: {quota}"))?
            .clone();
        let token = cmd!(
            sh,
            "{crossmap} token --data-dir {dir_s} --tenant {tenant} --app-id check --roles read"
        )
        .quiet()
        .read()?;
        let auth = format!("Authorization: Bearer {token}");
        let stored: u64 = cmd!(
            sh,
            "curl -s -H {auth} {base}/solutions/sharePoint/migrations/crossOrganizationUserMappings/$count"
        )
        .read()?
        .trim()
        .parse()
        .context("the stored count")?;
        rows.push((label, seconds, stats, stored));
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "\n| push of {COUNT} user mappings under --throttle {QUOTA} (bound {bound:.0} s; emulator on core {SERVER_CORE}, pusher on core {LOAD_CORE}) | wall time | ratio to the bound | requests | answered 429 | sent before Retry-After | stored |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (label, seconds, stats, stored) in &rows {
        let n = |k: &str| stats[k].as_u64().unwrap_or(0);
        let (requests, throttled) = (n("requests"), n("throttled"));
        println!(
            "| {label} | {seconds:.1} s | {:.2}x | {requests} | {throttled} ({:.1}%) | {} | {stored} |",
            seconds / bound,
            100.0 * throttled as f64 / requests.max(1) as f64,
            n("early"),
        );
    }
    Ok(())
}

/// `cargo xtask bench cli`: `crossmap push` of a 100,000-row identity-map CSV (50,000 users, 50,000
/// groups) into the local release emulator: wall time, and the push's peak resident memory.
/// `bench cli [--baseline BIN] [--rows N]`: `crossmap push` of `rows` rows (half users, half groups);
/// with a baseline binary (an older `crossmap`, built from another commit), both are measured in the same
/// run, alternately, so that their ratio means something on a shared machine.
pub(crate) fn cli(sh: &Shell, root: &Path, baseline: Option<&Path>, rows: u64) -> Result<()> {
    cmd!(sh, "cargo build --release -p crossmap-cli --bins").run()?;
    let crossmap = release_dir(root).join("crossmap");
    let dir = std::env::temp_dir().join(format!("crossmap-bench-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let csv = dir.join("identity-map.csv");
    let org = "11111111-1111-1111-1111-111111111111";
    let mut text = String::with_capacity(rows as usize * 120);
    for n in 0..rows / 2 {
        text.push_str(&format!(
            "User,{org},user{n}@contoso.com,user{n}@fabrikam.com,user{n}@fabrikam.com,Member\n"
        ));
        text.push_str(&format!(
            "Group,{org},{:08x}-0000-4000-8000-{n:012x},{:08x}-1111-4000-8000-{n:012x},group{n},M365\n",
            n >> 32,
            n >> 32
        ));
    }
    std::fs::write(&csv, text)?;
    let results = alternately(&crossmap, baseline, 2, |round, i, pusher| {
        // Each push gets a fresh emulator (this tree's) and data directory: only the pusher differs.
        let data = dir.join(format!("data-{round}-{i}"));
        push_once(&crossmap, pusher, &csv, &data, &dir.join(format!("state-{round}-{i}")))
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "\n| crossmap push of {rows} rows ({} users, {} groups) | wall time | peak RSS |",
        rows / 2,
        rows / 2
    );
    println!("|---|---|---|");
    for (label, (seconds, peak)) in &results {
        println!(
            "| {label} (emulator on core {SERVER_CORE}, push on core {LOAD_CORE}) | {seconds:.2} s | {peak:.0} MiB |"
        );
    }
    if baseline.is_some() {
        println!(
            "| ratio this tree / baseline (means) | {:.2} | {:.2} |",
            mean(&results, "this tree", |r| r.0) / mean(&results, "baseline", |r| r.0),
            mean(&results, "this tree", |r| r.1) / mean(&results, "baseline", |r| r.1)
        );
    }
    Ok(())
}

/// One `push --yes` of `csv` by `pusher` into a fresh `emulator`: (wall seconds, peak RSS in MiB).
fn push_once(emulator: &Path, pusher: &Path, csv: &Path, data: &Path, state: &Path) -> Result<(f64, f64)> {
    let port = 18781;
    let base = format!("http://127.0.0.1:{port}");
    let running = durable_emulator(emulator, data.to_str().context("UTF-8")?, port, &[])?;
    let start = Instant::now();
    let mut push = Command::new("taskset")
        .args(["-c", LOAD_CORE])
        .arg(pusher)
        .args(["push", "--yes"])
        .arg(csv)
        .env("CROSSMAP_BASE_URL", &base)
        .env("CROSSMAP_TENANT", "bench")
        .env("CROSSMAP_CLIENT_ID", "bench")
        .env("CROSSMAP_CLIENT_SECRET", "secret")
        .env("CROSSMAP_STATE", state)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let (status, peak_kib) = wait_with_peak(&mut push)?;
    let seconds = start.elapsed().as_secs_f64();
    drop(running);
    if !status.success() {
        bail!("the push by {} failed: {status}", pusher.display());
    }
    Ok((seconds, peak_kib / 1024.0))
}

/// `cargo xtask bench match`: `crossmap-match` on a 1,000,000 × 1,000,000-user move (the
/// `crates/crossmap-match/benches/match.rs` bench: wall and CPU time per phase, peak resident memory).
pub(crate) fn matching(sh: &Shell) -> Result<()> {
    cmd!(sh, "cargo bench -p crossmap-match --bench match").run()?;
    Ok(())
}

/// `bench match-cli`: `crossmap match` end to end, reading 100,000 users (and 1,000 groups) from each of
/// two tenants seeded in the local release emulator: wall time and the match process's peak memory.
pub(crate) fn match_cli(sh: &Shell, root: &Path) -> Result<()> {
    const USERS: u32 = 100_000;
    cmd!(sh, "cargo build --release -p crossmap-cli --bins").run()?;
    let crossmap = release_dir(root).join("crossmap");
    let dir = std::env::temp_dir().join(format!("crossmap-bench-match-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    // A realistic mix: most people keep their name under a new domain, some are found by employee id or
    // by an old address only, some have no counterpart, a few guests and disabled accounts.
    let seed = |org: &str, domain: &str, target: bool| -> String {
        let mut out = format!(
            "{{\"@odata.type\":\"#microsoft.graph.organization\",\"id\":\"{org}\",\"displayName\":\"{domain}\",\"verifiedDomains\":[{{\"name\":\"{domain}\",\"isDefault\":true}}]}}\n"
        );
        for n in 0..USERS {
            let side = if target { 0x7a } else { 0x51 };
            let id = format!("{side:08x}-0000-4000-8000-{n:012x}");
            let (upn, extra) = match (n % 10, target) {
                (0, true) => (format!("renamed{n}@{domain}"), format!(",\"employeeId\":\"E{n}\"")),
                (0, false) => (format!("user{n}@{domain}"), format!(",\"employeeId\":\"E{n}\"")),
                (1, true) => (
                    format!("new{n}@{domain}"),
                    format!(",\"proxyAddresses\":[\"SMTP:new{n}@{domain}\",\"smtp:old{n}@{domain}\"]"),
                ),
                (1, false) => (format!("old{n}@{domain}"), format!(",\"mail\":\"old{n}@{domain}\"")),
                (2, _) if target => (format!("only-target{n}@{domain}"), String::new()),
                (3, false) => (
                    format!("guest{n}_partner.com#EXT#@{domain}"),
                    ",\"userType\":\"Guest\"".to_owned(),
                ),
                (4, false) => (format!("user{n}@{domain}"), ",\"accountEnabled\":false".to_owned()),
                _ => (format!("user{n}@{domain}"), String::new()),
            };
            out.push_str(&format!(
                "{{\"@odata.type\":\"#microsoft.graph.user\",\"id\":\"{id}\",\"userPrincipalName\":\"{upn}\",\"displayName\":\"User {n}\",\"accountEnabled\":true{extra}}}\n"
            ));
        }
        for n in 0..1_000u32 {
            let side = if target { 0x7b } else { 0x52 };
            out.push_str(&format!(
                "{{\"@odata.type\":\"#microsoft.graph.group\",\"id\":\"{side:08x}-0000-4000-8000-{n:012x}\",\"displayName\":\"Team {n}\",\"mailNickname\":\"team{n}\",\"groupTypes\":[\"Unified\"],\"mailEnabled\":true,\"securityEnabled\":false}}\n"
            ));
        }
        out
    };
    let (source, target) = (dir.join("source.jsonl"), dir.join("target.jsonl"));
    std::fs::write(
        &source,
        seed("51000000-0000-4000-8000-000000000000", "contoso.com", false),
    )?;
    std::fs::write(
        &target,
        seed("7a000000-0000-4000-8000-000000000000", "fabrikam.com", true),
    )?;
    let port = 18881;
    let base = format!("http://127.0.0.1:{port}");
    let seeds = [
        format!("contoso={}", source.display()),
        format!("fabrikam={}", target.display()),
    ];
    let data = dir.join("data");
    let emulator = spawn_pinned(
        &crossmap,
        &[
            "serve",
            "--addr",
            &base[7..],
            "--data-dir",
            data.to_str().context("UTF-8")?,
            "--app",
            "bench:secret:manage,directory",
            "--directory",
            &seeds[0],
            "--directory",
            &seeds[1],
        ],
        port,
    )?;
    let start = Instant::now();
    let mut run = Command::new("taskset")
        .args(["-c", LOAD_CORE])
        .arg(&crossmap)
        .args(["match", "--source-tenant", "contoso", "--target-tenant", "fabrikam"])
        .args(["--map-domain", "contoso.com=fabrikam.com", "--out"])
        .arg(dir.join("map.csv"))
        .arg("--review")
        .arg(dir.join("review.csv"))
        .env("CROSSMAP_BASE_URL", &base)
        .env("CROSSMAP_CLIENT_ID", "bench")
        .env("CROSSMAP_CLIENT_SECRET", "secret")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let (status, peak_kib) = wait_with_peak(&mut run)?;
    let seconds = start.elapsed().as_secs_f64();
    let mut summary = String::new();
    if let Some(mut out) = run.stdout.take() {
        use std::io::Read;
        out.read_to_string(&mut summary)?;
    }
    drop(emulator);
    let mapped = std::fs::read_to_string(dir.join("map.csv"))
        .map(|m| m.lines().count())
        .unwrap_or(0);
    let _ = std::fs::remove_dir_all(&dir);
    if !status.success() {
        bail!("crossmap match failed: {status}");
    }
    println!("{summary}");
    println!(
        "\n| crossmap match, 100,000 users and 1,000 groups per tenant, from the emulator | wall time | peak RSS | map rows |"
    );
    println!("|---|---|---|---|");
    println!(
        "| emulator on core {SERVER_CORE}, match on core {LOAD_CORE} | {seconds:.2} s | {:.0} MiB | {mapped} |",
        peak_kib / 1024.0
    );
    Ok(())
}

/// Waits for `child`, sampling its `VmHWM` (the peak resident set so far) every 5 ms: the last reading
/// before it exits is its peak. Returns its exit status and that peak in KiB.
fn wait_with_peak(child: &mut std::process::Child) -> Result<(std::process::ExitStatus, f64)> {
    let mut peak_kib = 0.0f64;
    loop {
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) {
            if let Some(kib) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            {
                peak_kib = peak_kib.max(kib);
            }
        }
        if let Some(status) = child.try_wait()? {
            return Ok((status, peak_kib));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
