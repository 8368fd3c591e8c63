//! `crossmap plan / push / get / export` as a user runs them, against a running emulator.

use crate::serve::serve;
use assert_cmd::Command;
use std::path::Path;

pub(crate) const ORG: &str = "11111111-1111-1111-1111-111111111111";

/// `crossmap` with the connection in the environment, as a script would set it.
pub(crate) fn crossmap(base: &str, tenant: &str, state: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crossmap"));
    cmd.env("CROSSMAP_BASE_URL", base)
        .env("CROSSMAP_TENANT", tenant)
        .env("CROSSMAP_CLIENT_ID", "w")
        .env("CROSSMAP_CLIENT_SECRET", "secret")
        .env("CROSSMAP_STATE", state)
        .env_remove("CROSSMAP_TOKEN");
    cmd
}

pub(crate) fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn example() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/identity-map.csv")
}

#[test]
fn push_again_sends_nothing_replace_removes_and_export_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) = serve(&dir.path().join("data"));
    let state = dir.path().join("state");
    let out = crossmap(&base, "t1", &state)
        .args(["push", "--yes"])
        .arg(example())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout(&out).contains("6 to create, 0 to update, 0 to remove"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("applied 6 (4 users, 2 groups)"),
        "{}",
        stdout(&out)
    );

    let out = crossmap(&base, "t1", &state)
        .args(["push", "--yes"])
        .arg(example())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).contains("nothing to send"), "{}", stdout(&out));

    let got = crossmap(&base, "t1", &state)
        .args(["get", "user", "Sean.O'Brien@contoso.com"])
        .output()
        .unwrap();
    assert!(got.status.success());
    assert!(stdout(&got).contains("\"regularUser\""), "{}", stdout(&got));
    let missing = crossmap(&base, "t1", &state)
        .args(["get", "group", "eeeeeeee-eeee-eeee-eeee-eeeeeeeeeeee"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));

    let exported = stdout(&crossmap(&base, "t1", &state).arg("export").output().unwrap());
    assert_eq!(exported.lines().count(), 6);
    let file = dir.path().join("export.csv");
    std::fs::write(&file, &exported).unwrap();
    let out = crossmap(&base, "t2", &state)
        .args(["push", "--yes"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(stdout(&out).contains("6 to create"), "{}", stdout(&out));
    assert_eq!(
        stdout(&crossmap(&base, "t2", &state).arg("export").output().unwrap()),
        exported,
        "round trip"
    );

    let two = dir.path().join("two.csv");
    std::fs::write(
        &two,
        exported.lines().take(2).map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    let plan = crossmap(&base, "t1", &state)
        .args(["plan", "--json"])
        .arg(&two)
        .output()
        .unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(plan["remove"], 0, "without --replace nothing is removed: {plan}");
    assert!(
        plan["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["action"] != "remove")
    );
    let out = crossmap(&base, "t1", &state)
        .args(["push", "--yes", "--replace"])
        .arg(&two)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("0 to create, 0 to update, 4 to remove"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        stdout(&crossmap(&base, "t1", &state).arg("export").output().unwrap())
            .lines()
            .count(),
        2
    );
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn a_bad_csv_is_reported_with_lines_and_columns_and_nothing_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) = serve(&dir.path().join("data"));
    let state = dir.path().join("state");
    let file = dir.path().join("map.csv");
    std::fs::write(
        &file,
        format!(
            "User,{ORG},ann@contoso.com,ann@fabrikam.com,,Member\r\nUser,{ORG},bob@contoso.com,bob@fabrikam.com,,Wizard\r\nGroup,{ORG},not-a-guid,bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb,x,Security\r\nUser,{ORG},ANN@contoso.com,ann2@fabrikam.com,,Guest\r\n"
        ),
    )
    .unwrap();
    let out = crossmap(&base, "t1", &state)
        .args(["push", "--yes"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "refused input");
    let err = String::from_utf8_lossy(&out.stderr);
    let name = file.display().to_string();
    for needle in [
        format!("{name}:2:6: UserType \"Wizard\" is not one of: regularUser"),
        format!("{name}:3:3: SourceGroupObjectID \"not-a-guid\" is not a GUID"),
        format!("{name}:4: ann@contoso.com is mapped again (first on line 1)"),
        "nothing was sent".to_owned(),
    ] {
        assert!(err.contains(&needle), "missing {needle:?} in:\n{err}");
    }
    assert_eq!(
        stdout(&crossmap(&base, "t1", &state).arg("export").output().unwrap()),
        "",
        "something was sent"
    );
    // --strict turns a shared target into an error.
    std::fs::write(
        &file,
        format!("User,{ORG},a@contoso.com,t@fabrikam.com,,Member\nUser,{ORG},b@contoso.com,t@fabrikam.com,,Member\n"),
    )
    .unwrap();
    assert!(
        crossmap(&base, "t1", &state)
            .args(["plan"])
            .arg(&file)
            .output()
            .unwrap()
            .status
            .success()
    );
    assert_eq!(
        crossmap(&base, "t1", &state)
            .args(["plan", "--strict"])
            .arg(&file)
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn an_interrupted_push_sends_only_what_is_missing_when_run_again() {
    use std::io::BufRead;
    const ROWS: u64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let state = dir.path().join("state");
    let file = dir.path().join("big.csv");
    let rows: String = (0..ROWS)
        .map(|n| format!("User,{ORG},user{n}@contoso.com,user{n}@fabrikam.com,,Member\n"))
        .collect();
    std::fs::write(&file, rows).unwrap();
    let (mut server, base) = serve(&data);
    let mut push = std::process::Command::new(env!("CARGO_BIN_EXE_crossmap"));
    push.args(["push", "--yes"]).arg(&file);
    for (k, v) in [
        ("CROSSMAP_BASE_URL", base.as_str()),
        ("CROSSMAP_TENANT", "t1"),
        ("CROSSMAP_CLIENT_ID", "w"),
        ("CROSSMAP_CLIENT_SECRET", "secret"),
    ] {
        push.env(k, v);
    }
    push.env("CROSSMAP_STATE", &state)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut running = push.spawn().unwrap();
    // Wait for the first progress line (every 2 s when not on a terminal), then lose the server.
    // (Past the note that the map was not checked against the directories: no tenants are named.)
    let mut progress = std::io::BufReader::new(running.stderr.take().unwrap()).lines();
    let line = progress.find(|l| l.as_ref().map_or(true, |l| !l.starts_with("note: ")));
    let line = line.unwrap().unwrap();
    assert!(line.starts_with("users: "), "{line}");
    server.kill().unwrap();
    server.wait().unwrap();
    let first = running.wait_with_output().unwrap();
    assert!(!first.status.success(), "the push survived losing its server");
    let text = stdout(&first);
    let applied: u64 = text
        .split("applied ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(applied > 0 && applied < ROWS, "{text}");

    let (mut server, base) = serve(&data);
    let out = crossmap(&base, "t1", &state)
        .args(["push", "--yes"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    let to_create: u64 = text
        .split(" to create")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(
        to_create <= ROWS - applied,
        "acknowledged mappings were sent again: {text}"
    );
    let again = crossmap(&base, "t1", &state)
        .args(["push", "--yes"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(stdout(&again).contains("nothing to send"), "{}", stdout(&again));
    server.kill().unwrap();
    server.wait().unwrap();
}

/// A push larger than a slice (5,000 planned items are built and sent at a time, two slices in flight)
/// lands exactly what pushes smaller than a slice land, with --replace too, and converges.
#[test]
fn a_push_of_many_slices_lands_what_small_pushes_land() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) = serve(&dir.path().join("data"));
    let row = |n: u32, target: &str| format!("User,{ORG},u{n}@contoso.com,u{n}@{target},,Member\n");
    let whole: String = (0..12_003).map(|n| row(n, "fabrikam.com")).collect();
    let file = dir.path().join("whole.csv");
    std::fs::write(&file, &whole).unwrap();
    let push = |tenant: &str, file: &Path, extra: &[&str]| {
        let out = crossmap(&base, tenant, &dir.path().join(format!("state-{tenant}")))
            .args(["push", "--yes"])
            .args(extra)
            .arg(file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        stdout(&out)
    };
    let export = |tenant: &str| {
        let out = crossmap(&base, tenant, &dir.path().join(format!("state-{tenant}")))
            .arg("export")
            .output()
            .unwrap();
        let mut lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    assert!(push("big", &file, &[]).contains("applied 12003"));
    for (i, part) in whole.lines().collect::<Vec<_>>().chunks(4_000).enumerate() {
        let small = dir.path().join(format!("part{i}.csv"));
        std::fs::write(&small, part.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
        push("small", &small, &[]);
    }
    assert_eq!(export("big"), export("small"));
    assert_eq!(export("big").len(), 12_003);

    // Every third mapping changes target and the last 2,003 go: updates and removals across slices.
    let next: String = (0..10_000)
        .map(|n| row(n, if n % 3 == 0 { "northwind.com" } else { "fabrikam.com" }))
        .collect();
    std::fs::write(&file, &next).unwrap();
    let out = push("big", &file, &["--replace", "--max-removals", "all"]);
    assert!(out.contains("0 to create, 3334 to update, 2003 to remove"), "{out}");
    assert!(out.contains("applied 5337"), "{out}");
    assert!(push("big", &file, &["--replace"]).contains("nothing to send"));
    let exported = export("big");
    assert_eq!(exported.len(), 10_000);
    assert_eq!(exported.iter().filter(|l| l.contains("@northwind.com")).count(), 3334);
    // The local record the pushes left (what the service held before, with what it acknowledged since)
    // holds the same mappings, each key once.
    let record = std::fs::read_to_string(dir.path().join("state-big/crossOrganizationUserMappings.jsonl")).unwrap();
    let mut keys: Vec<String> = record
        .lines()
        .map(|l| {
            let m: serde_json::Value = serde_json::from_str(l).unwrap();
            m["sourceUserIdentity"]["userPrincipalName"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(keys.len(), 10_000);
    assert_eq!(record.lines().filter(|l| l.contains("@northwind.com")).count(), 3334);
    keys.dedup();
    assert_eq!(keys.len(), 10_000, "a key recorded twice");
    server.kill().unwrap();
}

/// `crossmap plan --json big.csv | head`: the reader goes away after a line, and the plan stops quietly
/// with success, as `cat` or `grep` would, instead of panicking with a backtrace.
#[test]
fn a_reader_that_stops_early_ends_plan_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) = serve(&dir.path().join("data"));
    // Far more than a pipe's buffer (64 KiB): the plan is still writing when the reader has gone.
    let rows: String = (0..3000)
        .map(|i| format!("User,{ORG},u{i}@contoso.com,u{i}@fabrikam.com,u{i}@fabrikam.com,regularUser\n"))
        .collect();
    let file = dir.path().join("big.csv");
    std::fs::write(&file, rows).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_crossmap"))
        .env("CROSSMAP_BASE_URL", &base)
        .env("CROSSMAP_TENANT", "t1")
        .env("CROSSMAP_CLIENT_ID", "w")
        .env("CROSSMAP_CLIENT_SECRET", "secret")
        .env("CROSSMAP_STATE", dir.path().join("state"))
        .env_remove("CROSSMAP_TOKEN")
        .args(["plan", "--json"])
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .env("RUST_BACKTRACE", "0")
        .spawn()
        .unwrap();
    let mut first = [0u8; 1];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    server.kill().unwrap();
    server.wait().unwrap();
}

/// Progress lines are per kind: a 429 on the users' PATCH shows on the users' line only, not again on the
/// groups' line (the client's counters run over the whole push).
#[test]
fn a_throttled_push_counts_each_kinds_throttles_on_its_own_line() {
    let dir = tempfile::tempdir().unwrap();
    let faults = dir.path().join("faults.json");
    std::fs::write(
        &faults,
        r#"{"rules": [{"match": {"method": "PATCH", "path": "crossOrganizationUserMappings"}, "times": 1, "status": 429, "retryAfter": "1"}]}"#,
    )
    .unwrap();
    let (mut server, base, _) = crate::serve::start(&[
        "--app".into(),
        "w:secret:manage".into(),
        "--data-dir".into(),
        dir.path().join("data").into(),
        "--faults".into(),
        faults.into(),
    ]);
    let out = crossmap(&base, "t1", &dir.path().join("state"))
        .args(["push", "--yes"])
        .arg(example())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let line = |kind: &str| {
        stderr
            .lines()
            .rfind(|l| l.starts_with(&format!("{kind}: ")))
            .unwrap_or_else(|| panic!("no {kind} line in {stderr}"))
            .to_owned()
    };
    assert!(line("users").contains("1 throttled, 1 retried"), "{stderr}");
    assert!(
        line("groups").contains("0 throttled, 0 retried, 0 s waited"),
        "{stderr}"
    );
    server.kill().unwrap();
    server.wait().unwrap();
}

/// `crossmap --help` gives each command one short line: the details are in the command's own help.
#[test]
fn the_command_list_has_one_short_line_per_command() {
    let out = Command::new(env!("CARGO_BIN_EXE_crossmap"))
        .arg("--help")
        .output()
        .unwrap();
    let help = stdout(&out);
    for line in help.lines().filter(|l| l.starts_with("  ")) {
        assert!(
            line.chars().count() <= 120,
            "{} characters: {line}",
            line.chars().count()
        );
    }
}
