//! `cargo xtask browser`: the emulator's web console in headless Chromium, and the Python example of
//! `docs/emulator.md` ("Testing your tool against the emulator").
//!
//! Builds the debug `crossmap` binary, starts `crossmap serve --in-memory` on a free loopback port (the
//! port is read from the line the emulator prints once it listens) with an app and an admin token, runs
//! the Playwright tests in `tests/browser/` (node's test runner; screenshots into `docs/images/`), stops
//! the emulator, then runs `examples/emulator_test.py`, which starts an emulator of its own as any
//! language's test suite would. Fails when any test fails. Needs Debian's `chromium` (installed with
//! apt-get when missing, as `.ci/run` does) and `npm`; runs `npm ci` in `tests/browser/` when
//! `playwright-core` is not installed there.

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use xshell::{Shell, cmd};

const CLIENT_ID: &str = "browser-tests";
const CLIENT_SECRET: &str = "browser-tests-secret";

/// A running emulator, killed when dropped.
struct Emulator {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    url: String,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Emulator {
    /// Starts `crossmap serve ARGS --addr 127.0.0.1:0` and waits for the line that names its address.
    fn start(crossmap: &Path, args: &[&str]) -> Result<Emulator> {
        let mut child = Command::new(crossmap)
            .args(args)
            .args(["--addr", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", crossmap.display()))?;
        let stdout = child.stdout.take().context("the emulator's stdout")?;
        let (tx, rx) = mpsc::channel();
        // Reads every line, so that the emulator never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line
                    .strip_prefix("crossmap emulator on ")
                    .and_then(|rest| rest.split_once("/beta"))
                    .map(|(url, _)| url.to_owned())
                {
                    let _ = tx.send(url);
                }
            }
        });
        let mut emulator = Emulator {
            child,
            url: String::new(),
        };
        emulator.url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => match emulator.child.try_wait()? {
                Some(status) => bail!("the emulator exited before listening: {status}"),
                None => bail!("the emulator did not say where it listens within 60 s"),
            },
        };
        Ok(emulator)
    }
}

/// The cargo target directory (`CARGO_TARGET_DIR` when set, as cargo itself reads it).
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root.join(p) })
        .unwrap_or_else(|| root.join("target"))
}

pub(crate) fn run(sh: &Shell, root: &Path) -> Result<()> {
    let chromium = std::env::var("CROSSMAP_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    if !Path::new(&chromium).exists() && chromium == "/usr/bin/chromium" {
        // A fresh machine: Debian's Chromium, as .ci/run installs it (the package lists may be stale).
        println!("browser: installing Debian's chromium");
        let sh = sh.clone();
        let _env = sh.push_env("DEBIAN_FRONTEND", "noninteractive");
        if cmd!(sh, "apt-get install -y chromium").run().is_err() {
            cmd!(sh, "apt-get update").run()?;
            cmd!(sh, "apt-get install -y chromium").run()?;
        }
    }
    if !Path::new(&chromium).exists() {
        bail!("browser: no Chromium at {chromium}: install Debian's (`apt-get install -y chromium`), as .ci/run does");
    }
    cmd!(sh, "cargo build -p crossmap-cli --bin crossmap").run()?;
    let crossmap = target_dir(root).join("debug/crossmap");
    let tests = root.join("tests/browser");
    if !tests.join("node_modules/playwright-core").exists() {
        let _dir = sh.push_dir(&tests);
        cmd!(sh, "npm ci --no-audit --no-fund").run()?;
    }

    // With an admin token, so that the tests see the page ask for it.
    let admin_token = format!("browser-admin-{}", std::process::id());
    let app = format!("{CLIENT_ID}:{CLIENT_SECRET}:manage");
    let emulator = Emulator::start(
        &crossmap,
        &["serve", "--in-memory", "--app", &app, "--admin-token", &admin_token],
    )?;
    println!("browser: emulator on {}", emulator.url);
    {
        let _dir = sh.push_dir(&tests);
        let _env = [
            sh.push_env("CROSSMAP_URL", &emulator.url),
            sh.push_env("CROSSMAP_CLIENT_ID", CLIENT_ID),
            sh.push_env("CROSSMAP_CLIENT_SECRET", CLIENT_SECRET),
            sh.push_env("CROSSMAP_ADMIN_TOKEN", &admin_token),
            sh.push_env("CROSSMAP_SCREENSHOTS", root.join("docs/images")),
            sh.push_env("CROSSMAP_CHROMIUM", &chromium),
        ];
        cmd!(sh, "node --test --test-reporter=spec console.test.mjs").run()?;
    }
    drop(emulator);

    let _bin = sh.push_env("CROSSMAP_BIN", &crossmap);
    let example = root.join("examples/emulator_test.py");
    cmd!(sh, "python3 {example}").run()?;
    Ok(())
}
