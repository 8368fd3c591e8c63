//! The guard rails of `crossmap push`, as an admin running it against a production tenant meets them:
//! no change without confirmation, no accidental wipe, a plan a reviewer can read, errors a person can
//! act on, and a service that echoes more than it was sent.

use crate::cli::{ORG, crossmap, stdout};
use crate::serve::serve;
use assert_cmd::Command;
use crossmap_test_support::echo::EchoServer;
use std::path::Path;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn users_csv(range: std::ops::Range<u32>) -> String {
    range
        .map(|n| format!("User,{ORG},user{n}@contoso.com,user{n}@fabrikam.com,,Member\n"))
        .collect()
}

fn exported_lines(base: &str, state: &Path) -> usize {
    stdout(&crossmap(base, "t1", state).arg("export").output().unwrap())
        .lines()
        .count()
}

#[test]
fn a_push_without_a_terminal_or_yes_changes_nothing_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) = serve(&dir.path().join("data"));
    let state = dir.path().join("state");
    let file = dir.path().join("map.csv");
    std::fs::write(&file, users_csv(0..3)).unwrap();
    let out = crossmap(&base, "t1", &state).arg("push").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("3 to create"),
        "the plan is shown first: {}",
        stdout(&out)
    );
    assert_eq!(exported_lines(&base, &state), 0, "something was sent");
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn replace_cannot_wipe_a_tenant_by_accident() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) = serve(&dir.path().join("data"));
    let state = dir.path().join("state");
    let file = dir.path().join("map.csv");
    std::fs::write(&file, users_csv(0..150)).unwrap();
    let out = crossmap(&base, "t1", &state)
        .args(["push", "--yes"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    // An empty file (or one of blank lines) with --replace is refused outright.
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "\r\n\r\n").unwrap();
    let out = crossmap(&base, "t1", &state)
        .args(["push", "--yes", "--replace"])
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("holds no mappings"), "{}", stderr(&out));

    // 140 removals of 150 mappings: over the default limit (max(10%, 100) = 100), refused even with --yes.
    let few = dir.path().join("few.csv");
    std::fs::write(&few, users_csv(0..10)).unwrap();
    let out = crossmap(&base, "t1", &state)
        .args(["push", "--yes", "--replace"])
        .arg(&few)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("remove 140 mappings") && err.contains("--max-removals"),
        "{err}"
    );
    assert_eq!(exported_lines(&base, &state), 150, "a refused push removed something");

    // A limit given explicitly holds too.
    let out = crossmap(&base, "t1", &state)
        .args(["push", "--yes", "--replace", "--max-removals", "139"])
        .arg(&few)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(exported_lines(&base, &state), 150);

    // Lifted, the removals are listed first (count and the first ten keys), then applied.
    let out = crossmap(&base, "t1", &state)
        .args(["push", "--yes", "--replace", "--max-removals", "all"])
        .arg(&few)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("140 mapping(s) will be REMOVED"), "{err}");
    assert_eq!(err.matches("  - user ").count(), 10, "{err}");
    assert!(err.contains("… and 130 more"), "{err}");
    assert_eq!(exported_lines(&base, &state), 10);
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn the_plan_shows_every_changed_property_old_and_new() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) = serve(&dir.path().join("data"));
    let state = dir.path().join("state");
    let file = dir.path().join("map.csv");
    std::fs::write(
        &file,
        format!("User,{ORG},ann@contoso.com,ann@fabrikam.com,ann@fabrikam.com,Member\n"),
    )
    .unwrap();
    assert!(
        crossmap(&base, "t1", &state)
            .args(["push", "--yes"])
            .arg(&file)
            .output()
            .unwrap()
            .status
            .success()
    );
    std::fs::write(
        &file,
        format!("User,{ORG},ann@contoso.com,anna@fabrikam.com,anna@fabrikam.com,Guest\n"),
    )
    .unwrap();
    let out = crossmap(&base, "t1", &state).arg("plan").arg(&file).output().unwrap();
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "0 to create, 1 to update, 0 to remove", "{text}");
    for change in [
        "targetUserIdentity.userPrincipalName: \"ann@fabrikam.com\" -> \"anna@fabrikam.com\"",
        "targetUserMigrationData.email: \"ann@fabrikam.com\" -> \"anna@fabrikam.com\"",
        "userType: \"regularUser\" -> \"guestUser\"",
    ] {
        assert!(text.contains(change), "missing {change:?} in:\n{text}");
    }
    let out = crossmap(&base, "t1", &state)
        .args(["plan", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["update"], 1);
    let changes = &plan["items"][0]["changes"];
    assert!(
        changes
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"property": "userType", "old": "regularUser", "new": "guestUser"})),
        "{plan}"
    );
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn user_errors_are_one_message_never_a_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let file = dir.path().join("map.csv");
    std::fs::write(&file, users_csv(0..1)).unwrap();
    // Nothing listens on this port: the message names the URL that was tried.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let out = crossmap(&base, "t1", &state)
        .env("RUST_BACKTRACE", "full")
        .args(["push", "--yes"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&base), "the URL tried is not named: {err}");
    assert!(!err.contains("backtrace") && !err.contains("Stack"), "{err}");
    // A missing file is refused input.
    let out = crossmap(&base, "t1", &state)
        .env("RUST_BACKTRACE", "1")
        .args(["plan", "no-such-file.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!stderr(&out).contains("backtrace"), "{}", stderr(&out));
    // The exit codes are documented.
    let help = Command::new(env!("CARGO_BIN_EXE_crossmap"))
        .args(["push", "--help"])
        .output()
        .unwrap();
    let help = stdout(&help);
    assert!(
        help.contains("Exit status") && help.contains("2  usage error"),
        "{help}"
    );
}

#[test]
fn a_second_push_against_a_service_that_echoes_more_sends_nothing() {
    let echo = EchoServer::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let file = dir.path().join("map.csv");
    let mut rows = users_csv(0..1500);
    rows.push_str(&format!(
        "Group,{ORG},aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa,bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb,sales,M365\n"
    ));
    std::fs::write(&file, rows).unwrap();
    let push = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_crossmap"));
        cmd.env("CROSSMAP_BASE_URL", &echo.base_url)
            .env("CROSSMAP_TOKEN", "t")
            .env("CROSSMAP_STATE", &state)
            .args(["push", "--yes"])
            .arg(&file)
            .output()
            .unwrap()
    };
    let first = push();
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stdout(&first).contains("applied 1501"), "{}", stdout(&first));
    let sent = echo.items_received();
    assert_eq!(sent, 1501);
    for _ in 0..2 {
        let again = push();
        assert!(again.status.success(), "{}", stderr(&again));
        assert!(stdout(&again).contains("nothing to send"), "{}", stdout(&again));
        assert_eq!(echo.items_received(), sent);
    }
    // --replace compares the complete map: still nothing.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crossmap"));
    let out = cmd
        .env("CROSSMAP_BASE_URL", &echo.base_url)
        .env("CROSSMAP_TOKEN", "t")
        .env("CROSSMAP_STATE", &state)
        .args(["plan", "--replace"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        stdout(&out).starts_with("0 to create, 0 to update, 0 to remove"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn serve_writes_no_colour_codes_when_not_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_crossmap"))
        .args(["serve", "--addr", "127.0.0.1:0", "--in-memory"])
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Make it log a request, then stop it and read what it wrote.
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.strip_prefix("crossmap emulator on http://") {
            break rest.split('/').next().unwrap().to_owned();
        }
    };
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET /beta/nothing HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(err.contains("/beta/nothing"), "the request was not logged: {err}");
    assert!(!err.contains('\u{1b}'), "colour codes in a non-terminal log: {err:?}");
}

#[test]
fn on_a_terminal_the_prompt_lists_the_removals_first_and_no_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) = serve(&dir.path().join("data"));
    let state = dir.path().join("state");
    let (all, few) = (dir.path().join("all.csv"), dir.path().join("few.csv"));
    std::fs::write(&all, users_csv(0..12)).unwrap();
    std::fs::write(&few, users_csv(0..1)).unwrap();
    assert!(
        crossmap(&base, "t1", &state)
            .args(["push", "--yes"])
            .arg(&all)
            .output()
            .unwrap()
            .status
            .success()
    );
    // `script` gives the push a terminal; the answer "n" comes on it.
    let line = format!("{} push --replace {}", env!("CARGO_BIN_EXE_crossmap"), few.display());
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("CROSSMAP_BASE_URL", &base)
        .env("CROSSMAP_TENANT", "t1")
        .env("CROSSMAP_CLIENT_ID", "w")
        .env("CROSSMAP_CLIENT_SECRET", "secret")
        .env("CROSSMAP_STATE", &state)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            std::thread::sleep(std::time::Duration::from_millis(1500));
            child.stdin.take().unwrap().write_all(b"n\n")?;
            child.wait_with_output()
        })
        .expect("script(1) from util-linux runs");
    let screen = stdout(&out);
    let removed = screen.find("11 mapping(s) will be REMOVED").expect(&screen);
    let prompt = screen.find("apply these changes? [y/N]").expect(&screen);
    assert!(removed < prompt, "the removals come before the question:\n{screen}");
    assert!(screen.contains("  - user user1@contoso.com"), "{screen}");
    assert!(screen.contains("nothing was sent"), "{screen}");
    assert_eq!(exported_lines(&base, &state), 12);
    server.kill().unwrap();
    server.wait().unwrap();
}
