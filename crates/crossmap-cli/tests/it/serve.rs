//! `crossmap serve` as a process: a SIGKILL during sustained writes loses nothing it acknowledged, and
//! Ctrl-C stops it within seconds whatever its clients do.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TENANT: &str = "11111111-1111-1111-1111-111111111111";

/// Starts `crossmap serve` on a free port with `args`; returns the child, its base URL (the origin) and
/// the lines it printed before it listened.
pub(crate) fn start(args: &[std::ffi::OsString]) -> (Child, String, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crossmap"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut printed = Vec::new();
    let base = loop {
        let line = lines.next().expect("the server says where it listens").expect("UTF-8");
        if let Some(rest) = line.strip_prefix("crossmap emulator on ") {
            break rest
                .split_whitespace()
                .next()
                .expect("a URL")
                .trim_end_matches("/beta")
                .to_owned();
        }
        printed.push(line);
    };
    (child, base, printed)
}

/// Starts `crossmap serve` on a free port over `dir`; returns the child and its base URL.
pub(crate) fn serve(dir: &Path) -> (Child, String) {
    let (child, base, _) = start(&[
        "--app".into(),
        "w:secret:manage".into(),
        "--data-dir".into(),
        dir.into(),
    ]);
    (child, base)
}

async fn token(http: &reqwest::Client, base: &str) -> String {
    token_for(http, base, TENANT, "w").await
}

/// A token for `client_id` (secret `secret`) in `tenant`, by the client-credentials grant.
pub(crate) async fn token_for(http: &reqwest::Client, base: &str, tenant: &str, client_id: &str) -> String {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", "secret"),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let body: Value = http
        .post(format!("{base}/{tenant}/oauth2/v2.0/token"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().expect("a token").to_owned()
}

fn group_id(n: u32) -> String {
    format!("00000000-0000-0000-0000-{n:012}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_during_sustained_writes_loses_no_acknowledged_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = serve(dir.path());
    let http = reqwest::Client::new();
    let token = token(&http, &base).await;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let url = format!("{base}/beta/solutions/sharePoint/migrations/crossOrganizationGroupMappings");
    let writers: Vec<_> = (0..4u32)
        .map(|w| {
            let (http, url, token, acked) = (http.clone(), url.clone(), token.clone(), acked.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    let n = w * 1_000_000 + i;
                    let body = json!({"@context": "#$delta", "value": [{"sourceOrganizationId": TENANT,
                        "sourceGroupIdentity": {"id": group_id(n)}, "targetGroupIdentity": {"id": group_id(n)}}]});
                    match http.patch(&url).bearer_auth(&token).json(&body).send().await {
                        Ok(r) if r.status() == 200 => acked.lock().unwrap().push(n),
                        _ => break, // the server is gone
                    }
                }
            })
        })
        .collect();
    let start = Instant::now();
    while acked.lock().unwrap().len() < 300 && start.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap(); // SIGKILL: no shutdown, no flush
    child.wait().unwrap();
    for w in writers {
        let _ = w.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 100, "only {} writes were acknowledged", acked.len());

    let (mut child, base) = serve(dir.path());
    let token = self::token(&http, &base).await;
    let mut lost = Vec::new();
    for n in &acked {
        let r = http
            .get(format!("{url_base}/beta/solutions/sharePoint/migrations/crossOrganizationGroupMappings(sourceGroupObjectId='{}')", group_id(*n), url_base = base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if r.status() != 200 {
            lost.push(*n);
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged mappings were lost: {lost:?}",
        lost.len(),
        acked.len()
    );
}

#[test]
fn ctrl_c_stops_serve_within_seconds_even_with_a_stalled_client() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = serve(dir.path());
    let addr = base.trim_start_matches("http://");
    // One client stalls halfway through its request head; another keeps an idle connection open.
    let mut stalled = std::net::TcpStream::connect(addr).unwrap();
    stalled
        .write_all(b"GET /beta/$metadata HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut idle = std::net::TcpStream::connect(addr).unwrap();
    idle.write_all(b"GET /beta/$metadata HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    std::thread::sleep(Duration::from_millis(200));
    // Ctrl-C is SIGINT.
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let exited = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > Duration::from_secs(15) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let Some(status) = exited else {
        child.kill().unwrap();
        child.wait().unwrap();
        panic!("crossmap serve was still running 15 s after Ctrl-C");
    };
    assert!(status.success(), "{status}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "crossmap serve took {:?} to stop",
        start.elapsed()
    );
    drop((stalled, idle));
}

/// A second `crossmap serve` (or an offline `crossmap compact`) on a data directory a running emulator
/// holds is refused with a clear message and exits non-zero, so two writers never interleave one log.
#[test]
fn a_second_process_on_a_data_directory_in_use_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut first, _base) = serve(dir.path());
    let second = Command::new(env!("CARGO_BIN_EXE_crossmap"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--app",
            "w:secret:manage",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let compact = Command::new(env!("CARGO_BIN_EXE_crossmap"))
        .args(["compact", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    for (what, out) in [("serve", second), ("compact", compact)] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "a second {what} started: {stderr}");
        assert!(stderr.contains("in use by another crossmap"), "{what}: {stderr}");
    }
    // Once the first is gone (even SIGKILLed: the kernel drops its lock), the directory opens again.
    let (mut again, _base) = serve(dir.path());
    again.kill().unwrap();
    again.wait().unwrap();
}
