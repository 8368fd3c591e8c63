//! `crossmap serve`'s admin flags as a process: the loopback / admin-token rule, `--no-admin`,
//! `--journal`, `--faults FILE` and `--load TENANT=FILE` (idempotent).

use crate::serve::start;
use serde_json::{Value, json};
use std::process::{Command, Stdio};

fn example(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}

/// `crossmap serve ARGS` expected to refuse to start: its exit code and what it said.
fn refused(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_crossmap"))
        .arg("serve")
        .args(args)
        .args(["--in-memory", "--app", "w:secret:manage"])
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_non_loopback_address_needs_an_admin_token_or_no_admin() {
    let (code, stderr) = refused(&["--addr", "0.0.0.0:0"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--admin-token") && stderr.contains("not a loopback address"),
        "{stderr}"
    );
    let (code, stderr) = refused(&["--addr", "0.0.0.0:0", "--admin-token", " "]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("must not be empty"), "{stderr}");
    // Either way out starts it (stopped at once: started is all this checks).
    for extra in [["--admin-token", "t0ken"], ["--no-admin", "--journal=5"]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crossmap"))
            .args([
                "serve",
                "--addr",
                "0.0.0.0:0",
                "--in-memory",
                "--app",
                "w:secret:manage",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
        let listening = lines.any(|l| l.unwrap().starts_with("crossmap emulator on "));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(listening, "{extra:?}");
    }
}

#[tokio::test]
async fn the_admin_token_no_admin_and_journal_flags() {
    let http = reqwest::Client::new();
    let (mut child, base, _) = start(&["--in-memory".into(), "--admin-token".into(), "t0ken".into()]);
    let health = format!("{base}/_crossmap/health");
    assert_eq!(http.get(&health).send().await.unwrap().status(), 401);
    let body: Value = http
        .get(&health)
        .bearer_auth("t0ken")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "ok");
    child.kill().unwrap();
    child.wait().unwrap();

    let (mut child, base, _) = start(&["--in-memory".into(), "--no-admin".into()]);
    assert_eq!(
        http.get(format!("{base}/_crossmap/health"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    child.kill().unwrap();
    child.wait().unwrap();

    let (mut child, base, _) = start(&["--in-memory".into(), "--journal".into(), "2".into()]);
    for n in 0..4 {
        http.get(format!("{base}/beta/nothing{n}")).send().await.unwrap();
    }
    let body: Value = http
        .get(format!("{base}/_crossmap/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths: Vec<&str> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/beta/nothing2", "/beta/nothing3"]);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn a_fault_file_is_in_force_from_the_start_and_a_bad_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"rules": [{"every": 0, "status": 503}]}"#).unwrap();
    let (code, stderr) = refused(&["--addr", "127.0.0.1:0", "--faults", bad.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("bad.json") && stderr.contains("every must be at least 1"),
        "{stderr}"
    );

    let good = dir.path().join("faults.json");
    let doc = json!({"seed": 42, "rules": [{"match": {"path": "/beta/"}, "every": 2, "status": 503}]});
    std::fs::write(&good, doc.to_string()).unwrap();
    let (mut child, base, _) = start(&["--in-memory".into(), "--faults".into(), good.into()]);
    let http = reqwest::Client::new();
    let got: Value = http
        .get(format!("{base}/_crossmap/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, doc);
    let statuses = [
        http.get(format!("{base}/beta/x"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        http.get(format!("{base}/beta/x"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
    ];
    assert_eq!(statuses, [404, 503]);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Starts `serve` over `data` loading `file` into contoso; the line it printed about the load, and what
/// `GET /_crossmap/tenants` says.
async fn serve_loading(data: &std::path::Path, file: &std::path::Path) -> (String, Value) {
    let load = format!("Contoso={}", file.display());
    let (mut child, base, printed) = start(&["--data-dir".into(), data.into(), "--load".into(), load.into()]);
    let tenants: Value = reqwest::get(format!("{base}/_crossmap/tenants"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let line = printed
        .into_iter()
        .find(|l| l.starts_with("mappings "))
        .expect("a line about the load");
    (line, tenants)
}

#[tokio::test]
async fn load_seeds_mappings_once_and_again_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let csv = example("identity-map.csv");
    let (line, tenants) = serve_loading(dir.path(), &csv).await;
    assert!(
        line.contains("4 users, 2 groups") && line.ends_with("(6 changed, 0 unchanged)"),
        "{line}"
    );
    assert_eq!(
        tenants,
        json!({"value": [{"tenant": "contoso", "userMappings": 4, "groupMappings": 2}]})
    );
    let (line, tenants) = serve_loading(dir.path(), &csv).await;
    assert!(line.ends_with("(0 changed, 6 unchanged)"), "{line}");
    assert_eq!(tenants["value"][0]["userMappings"], 4);

    // JSON Lines too, read by push's reader; one changed mapping is one change.
    let jsonl = dir.path().join("one.jsonl");
    let mapping = json!({"sourceOrganizationId": "11111111-1111-1111-1111-111111111111", "userType": "adminUser",
        "sourceUserIdentity": {"userPrincipalName": "ann.lee@contoso.com"},
        "targetUserIdentity": {"userPrincipalName": "ann.lee@fabrikam.com"}});
    std::fs::write(&jsonl, format!("{mapping}\n")).unwrap();
    let (line, _) = serve_loading(dir.path(), &jsonl).await;
    assert!(line.ends_with("(1 changed, 0 unchanged)"), "{line}");

    // A bad file stops the start, exit 2, naming the line.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "User,not-a-guid,a@contoso.com,a@fabrikam.com,,Member\n").unwrap();
    let load = format!("contoso={}", bad.display());
    let (code, stderr) = refused(&["--addr", "127.0.0.1:0", "--load", &load]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("bad.csv:1"), "{stderr}");
}
