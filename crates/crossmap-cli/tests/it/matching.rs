//! `crossmap match` -> `push` -> `verify` against the emulator with seeded directories, and every problem
//! `verify` knows, each with its line.

use crate::cli::stdout;
use assert_cmd::Command;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Child;

const SOURCE_ORG: &str = "51000000-0000-4000-8000-000000000000";
const TARGET_ORG: &str = "7a000000-0000-4000-8000-000000000000";

fn id(prefix: u32, n: u32) -> String {
    format!("{prefix:08x}-0000-4000-8000-{n:012x}")
}

/// A directory seed: the organization, then users and groups, as JSON Lines.
fn seed(org: &str, name: &str, domain: &str, objects: Vec<serde_json::Value>) -> String {
    let mut lines = vec![
        json!({"@odata.type": "#microsoft.graph.organization", "id": org, "displayName": name,
        "verifiedDomains": [{"name": domain, "isDefault": true, "isInitial": false, "type": "Managed", "capabilities": "Email"}]}),
    ];
    lines.extend(objects);
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn user(n: u32, upn: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut u = json!({"@odata.type": "#microsoft.graph.user", "id": id(0x1000 + n / 1000, n), "userPrincipalName": upn,
        "displayName": upn.split('@').next().unwrap(), "accountEnabled": true, "userType": "Member"});
    u.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    u
}

fn group(n: u32, name: &str, m365: bool) -> serde_json::Value {
    json!({"@odata.type": "#microsoft.graph.group", "id": id(0x2000, n), "displayName": name, "mailNickname": name.to_lowercase().replace(' ', ""),
        "groupTypes": if m365 { json!(["Unified"]) } else { json!([]) }, "securityEnabled": !m365, "mailEnabled": m365})
}

fn directories(dir: &Path) -> (PathBuf, PathBuf) {
    let source = seed(
        SOURCE_ORG,
        "Contoso",
        "contoso.com",
        vec![
            user(1, "ann@contoso.com", json!({"onPremisesImmutableId": "imm-ann"})),
            user(2, "bob@contoso.com", json!({"employeeId": "E2"})),
            user(3, "carol@contoso.com", json!({})),
            user(
                4,
                "dave.old@contoso.com",
                json!({"mail": "dave.old@contoso.com", "proxyAddresses": ["SMTP:dave.old@contoso.com", "smtp:dave@contoso.com"]}),
            ),
            user(5, "john.smith@contoso.com", json!({"displayName": "John Smith"})),
            user(6, "jsmith@contoso.com", json!({"displayName": "John Smith"})),
            user(7, "gone@contoso.com", json!({"accountEnabled": false})),
            group(1, "Sales", true),
            group(2, "Finance", false),
            group(3, "Orphans", false),
        ],
    );
    let target = seed(
        TARGET_ORG,
        "Fabrikam",
        "fabrikam.com",
        vec![
            user(
                1001,
                "ann.lee@fabrikam.com",
                json!({"onPremisesImmutableId": "imm-ann", "mail": "ann.lee@fabrikam.com"}),
            ),
            user(1002, "robert@fabrikam.com", json!({"employeeId": "e2"})),
            user(1003, "carol@fabrikam.com", json!({})),
            user(
                1004,
                "dave.new@fabrikam.com",
                json!({"proxyAddresses": ["SMTP:dave.new@fabrikam.com", "smtp:dave@fabrikam.com"]}),
            ),
            user(1005, "john.smith2@fabrikam.com", json!({"displayName": "John Smith"})),
            user(1006, "off@fabrikam.com", json!({"accountEnabled": false})),
            group(1001, "Sales", true),
            group(1002, "Finance", false),
        ],
    );
    let (s, t) = (dir.join("source.jsonl"), dir.join("target.jsonl"));
    std::fs::write(&s, source).unwrap();
    std::fs::write(&t, target).unwrap();
    (s, t)
}

/// `crossmap serve` with both directories seeded and app `w` reading and writing both, beside `apps`
/// (`name:secret:roles`); returns the child and its origin.
fn serve_with(data: &Path, seeds: &[(&str, &Path)], apps: &[&str]) -> (Child, String) {
    let mut args: Vec<std::ffi::OsString> = vec![
        "--app".into(),
        "w:secret:manage,directory".into(),
        "--data-dir".into(),
        data.into(),
    ];
    for app in apps {
        args.push("--app".into());
        args.push(app.into());
    }
    for (tenant, file) in seeds {
        args.push("--directory".into());
        args.push(format!("{tenant}={}", file.display()).into());
    }
    let (child, base, _) = crate::serve::start(&args);
    (child, base)
}

/// A move under test: the example directories seeded into a spawned emulator as `contoso` and
/// `fabrikam`, a state directory, and the files `match` writes; the emulator stops when it is dropped
/// (a failed assertion too).
struct Move {
    dir: tempfile::TempDir,
    server: Child,
    base: String,
    state: PathBuf,
    map: PathBuf,
    review: PathBuf,
}

impl Move {
    /// `crossmap match --map-domain contoso.com=fabrikam.com ARGS --out MAP --review REVIEW`.
    fn run_match(&self, args: &[&str]) -> std::process::Output {
        crossmap(&self.base, &self.state)
            .args(["match", "--map-domain", "contoso.com=fabrikam.com"])
            .args(args)
            .arg("--out")
            .arg(&self.map)
            .arg("--review")
            .arg(&self.review)
            .output()
            .unwrap()
    }

    fn start() -> Move {
        Move::start_with(&[])
    }

    /// With more apps (`name:secret:roles`) beside `w`.
    fn start_with(apps: &[&str]) -> Move {
        let dir = tempfile::tempdir().unwrap();
        let (source, target) = directories(dir.path());
        let seeds = [("contoso", source.as_path()), ("fabrikam", target.as_path())];
        let (server, base) = serve_with(&dir.path().join("data"), &seeds, apps);
        Move {
            state: dir.path().join("state"),
            map: dir.path().join("map.csv"),
            review: dir.path().join("review.csv"),
            dir,
            server,
            base,
        }
    }
}

impl Drop for Move {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn crossmap(base: &str, state: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crossmap"));
    cmd.env("CROSSMAP_BASE_URL", base)
        .env("CROSSMAP_TENANT", "contoso")
        .env("CROSSMAP_SOURCE_TENANT", "contoso")
        .env("CROSSMAP_TARGET_TENANT", "fabrikam")
        .env("CROSSMAP_CLIENT_ID", "w")
        .env("CROSSMAP_CLIENT_SECRET", "secret")
        .env("CROSSMAP_STATE", state)
        .env_remove("CROSSMAP_TOKEN");
    cmd
}

#[test]
fn match_then_push_then_verify_is_clean_and_every_problem_has_its_line() {
    let m = Move::start();
    let (dir, base, state, map, review) = (&m.dir, m.base.clone(), m.state.clone(), m.map.clone(), m.review.clone());
    let out = crossmap(&base, &state)
        .args(["match", "--map-domain", "contoso.com=fabrikam.com", "--out"])
        .arg(&map)
        .arg("--review")
        .arg(&review)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    assert!(text.contains("users: 4 matched"), "{text}");
    assert!(text.contains("groups: 2 matched"), "{text}");

    let map_text = std::fs::read_to_string(&map).unwrap();
    assert_eq!(map_text.lines().count(), 6, "{map_text}");
    assert!(
        map_text.contains(&format!(
            "User,{SOURCE_ORG},ann@contoso.com,ann.lee@fabrikam.com,ann.lee@fabrikam.com,regularUser"
        )),
        "{map_text}"
    );
    assert!(
        map_text.contains("dave.old@contoso.com,dave.new@fabrikam.com"),
        "renamed person matched by e-mail: {map_text}"
    );
    assert!(!map_text.contains("smith"), "a display name decided: {map_text}");
    assert!(!map_text.contains("gone@"), "a disabled account was mapped: {map_text}");
    let review_text = std::fs::read_to_string(&review).unwrap();
    let mut lines = review_text.lines();
    assert_eq!(lines.next(), Some("kind,source,status,rule,target,candidates,reason"));
    assert_eq!(lines.count(), 10, "every source object once: {review_text}");
    assert!(
        review_text.contains("john.smith@contoso.com,unmatched"),
        "{review_text}"
    );
    assert!(review_text.contains("gone@contoso.com,excluded"), "{review_text}");

    let out = crossmap(&base, &state)
        .args(["push", "--yes"])
        .arg(&map)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for verify in [
        vec!["verify".to_owned(), map.display().to_string()],
        vec!["verify".to_owned(), "--remote".to_owned()],
    ] {
        let out = crossmap(&base, &state).args(&verify).output().unwrap();
        assert!(
            out.status.success(),
            "{verify:?}: {}{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout(&out).contains("0 error(s), 0 warning(s)"),
            "{verify:?}: {}",
            stdout(&out)
        );
    }

    // A hand-made map with every problem verify knows, one a line.
    let bad = dir.path().join("bad.csv");
    let other_org = "99999999-9999-4999-8999-999999999999";
    let rows = [
        format!("User,{SOURCE_ORG},nobody@contoso.com,carol@fabrikam.com,,Member"),
        format!("User,{SOURCE_ORG},carol@contoso.com,nobody@fabrikam.com,,Member"),
        format!("User,{SOURCE_ORG},ann@contoso.com,ann.lee@fabrikam.com,ann@elsewhere.com,Member"),
        format!("User,{SOURCE_ORG},bob@contoso.com,ann.lee@fabrikam.com,,Member"),
        format!("User,{SOURCE_ORG},dave.old@contoso.com,off@fabrikam.com,,Member"),
        format!(
            "Group,{SOURCE_ORG},{},{},wrongalias,M365",
            id(0x2000, 1),
            id(0x2000, 1001)
        ),
        format!("Group,{SOURCE_ORG},{},{},Finance,M365", id(0x2000, 2), id(0x2000, 1002)),
        format!("User,{other_org},john.smith@contoso.com,john.smith2@fabrikam.com,,Member"),
        format!(
            "Group,{SOURCE_ORG},{},{},Nope,Security",
            id(0x2000, 99),
            id(0x2000, 1098)
        ),
        // A row that does not read: an error of its own, and the rows around it are checked all the same.
        format!("User,{SOURCE_ORG},carol@contoso.com,carol@fabrikam.com,,superUser"),
    ];
    std::fs::write(&bad, rows.join("\n") + "\n").unwrap();
    let out = crossmap(&base, &state).arg("verify").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let report = stdout(&out);
    let name = bad.display().to_string();
    for (line, needle) in [
        (
            1,
            "error: source user nobody@contoso.com is not in the source directory",
        ),
        (
            2,
            "error: target user nobody@fabrikam.com is not in the target directory",
        ),
        (
            3,
            "warning: target e-mail ann@elsewhere.com is not one of ann.lee@fabrikam.com's addresses",
        ),
        (
            4,
            "error: target ann.lee@fabrikam.com is also the target of ann@contoso.com (line 3)",
        ),
        (5, "warning: target user off@fabrikam.com is a disabled account"),
        (6, "error: Microsoft 365 alias \"wrongalias\" is not target group"),
        (7, "error: group type m365Group, but target group"),
        (
            8,
            &format!("error: source tenant id {other_org} is not the source organization's"),
        ),
        (9, "error: source group"),
        (9, "error: target group"),
        (10, "error: column 6: UserType \"superUser\" is not one of"),
    ] {
        let want = format!("{name}:{line}: {needle}");
        assert!(report.contains(&want), "missing {want:?} in:\n{report}");
    }
}

#[test]
fn the_readme_walkthrough_on_the_example_directories() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let dir = tempfile::tempdir().unwrap();
    let (s, t) = (
        examples.join("source-directory.jsonl"),
        examples.join("target-directory.jsonl"),
    );
    let (mut server, base) = serve_with(&dir.path().join("data"), &[("contoso", &s), ("fabrikam", &t)], &[]);
    let state = dir.path().join("state");
    let (map, review) = (dir.path().join("map.csv"), dir.path().join("review.csv"));
    let out = crossmap(&base, &state)
        .args(["match", "--map-domain", "contoso.com=fabrikam.com", "--out"])
        .arg(&map)
        .arg("--review")
        .arg(&review)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let review = std::fs::read_to_string(&review).unwrap();
    let row = |source: &str| {
        review
            .lines()
            .find(|l| l.split(',').nth(1) == Some(source))
            .unwrap_or_else(|| panic!("{source} is not in the review list:\n{review}"))
            .to_owned()
    };
    // What examples/README.md promises, case by case.
    for (source, status) in [
        ("alice.johnson@contoso.com", "matched,onPremisesImmutableId"),
        ("brian.oconnor@contoso.com", "matched,employeeId"),
        ("carla.mendes@contoso.com", "matched,userPrincipalName"),
        ("diana.prince@contoso.com", "matched,"),
        ("john.smith@contoso.com", "unmatched,"),
        ("john.smith2@contoso.com", "unmatched,"),
        ("frank.miller@contoso.com", "ambiguous,employeeId"),
        ("ethan.ward@contoso.com", "excluded,"),
        ("kevin.brown@contoso.com", "unmatched,"),
    ] {
        let r = row(source);
        assert!(r.contains(&format!("{source},{status}")), "{r}");
    }
    let map_text = std::fs::read_to_string(&map).unwrap();
    assert!(
        !map_text.contains("jsmith@fabrikam.com"),
        "a display name decided:\n{map_text}"
    );
    assert!(map_text.contains("guestUser"), "the guest keeps its type:\n{map_text}");
    let out = crossmap(&base, &state)
        .args(["push", "--yes"])
        .arg(&map)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for args in [vec![map.display().to_string()], vec!["--remote".to_owned()]] {
        let out = crossmap(&base, &state).arg("verify").args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stdout(&out));
        assert!(stdout(&out).contains(" 0 error(s)"), "{args:?}: {}", stdout(&out));
    }
    server.kill().unwrap();
    server.wait().unwrap();
}

/// A bad overrides file is refused input (exit 2) with FILE:LINE: problems, as every other file the CLI
/// reads; so is an override naming someone the directories do not hold, with the file named.
#[test]
fn bad_overrides_are_refused_input_with_file_and_line() {
    let m = Move::start();
    let (dir, map, review) = (&m.dir, &m.map, &m.review);
    let run = |overrides: &Path| m.run_match(&["--overrides", overrides.to_str().unwrap()]);
    let contradicting = dir.path().join("contradicting.csv");
    std::fs::write(
        &contradicting,
        "source,target\nann@contoso.com,carol@fabrikam.com\nbob@contoso.com,carol@fabrikam.com\n",
    )
    .unwrap();
    let out = run(&contradicting);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("  {}:3: ", contradicting.display())),
        "{stderr}"
    );

    let unknown = dir.path().join("unknown.csv");
    std::fs::write(&unknown, "ann@contoso.com,nobody@fabrikam.com\n").unwrap();
    let out = run(&unknown);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("override target user nobody@fabrikam.com is not in the target directory"),
        "{stderr}"
    );
    assert!(stderr.contains(&unknown.display().to_string()), "{stderr}");
    assert!(!map.exists() && !review.exists(), "nothing is written");
}

/// A tenant named wrong answers with an empty directory (the emulator; Graph with another tenant's):
/// `match` refuses it (exit 2) instead of writing an empty map and calling everyone unmatched; so it
/// does when both flags name one tenant.
#[test]
fn a_wrong_or_repeated_tenant_is_refused_not_matched_against() {
    let m = Move::start();
    let (base, state, map, review) = (m.base.clone(), m.state.clone(), m.map.clone(), m.review.clone());
    for (target, needle) in [("fabrikm", "the target tenant fabrikm"), ("contoso", "are one tenant")] {
        let out = crossmap(&base, &state)
            .args(["match", "--target-tenant", target, "--out"])
            .arg(&map)
            .arg("--review")
            .arg(&review)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{target}: {stderr}");
        assert!(stderr.contains(needle), "{target}: {stderr}");
        assert!(!map.exists(), "{target}: a map was written");
    }
}

/// `match --help` lists what match uses: not the push record (`--state`) nor the mapping tenant.
#[test]
fn match_help_leaves_out_the_flags_match_ignores() {
    let out = Command::new(env!("CARGO_BIN_EXE_crossmap"))
        .args(["match", "--help"])
        .output()
        .unwrap();
    let help = stdout(&out);
    assert!(out.status.success(), "{help}");
    assert!(help.contains("--source-tenant"), "{help}");
    assert!(!help.contains("--state"), "{help}");
    assert!(!help.contains("--tenant <"), "{help}");
}

/// An output path in a folder that does not exist is refused before the directories are read (here: no
/// service at all, which would otherwise be the error), not after minutes of reading.
#[test]
fn an_output_in_a_missing_folder_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let out = crossmap("http://127.0.0.1:9", &dir.path().join("state"))
        .args(["match", "--out"])
        .arg(dir.path().join("no-such-folder/map.csv"))
        .arg("--review")
        .arg(dir.path().join("review.csv"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--out") && stderr.contains("no-such-folder"),
        "{stderr}"
    );
}

/// The mappings the service holds, as `export` writes them: one CSV line each.
fn exported(base: &str, state: &Path) -> String {
    let out = crossmap(base, state).arg("export").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    stdout(&out)
}

/// `push` checks the map against both directories when both tenants are named: a row `verify` calls an
/// error (a mistyped target, a source that is gone, one target twice) refuses the push (exit 2) with
/// `verify`'s FILE:LINE messages and sends nothing, `--yes` or not; `plan` shows the same and says so;
/// warnings alone are shown and the push goes on; `--no-verify` skips the check; `--verify` refuses to
/// go without the tenants; an app that cannot read the directories fails (exit 1), saying what it needs.
#[test]
fn push_checks_the_map_against_the_directories() {
    let m = Move::start_with(&["m:secret:manage"]);
    let (dir, base, state) = (&m.dir, m.base.clone(), m.state.clone());
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).into_owned();

    let bad = dir.path().join("bad.csv");
    let rows = [
        format!("User,{SOURCE_ORG},carol@contoso.com,carol@fabrikam.con,,Member"),
        format!("User,{SOURCE_ORG},ann@contoso.com,ann.lee@fabrikam.com,,Member"),
        format!("User,{SOURCE_ORG},left@contoso.com,robert@fabrikam.com,,Member"),
        format!("User,{SOURCE_ORG},bob@contoso.com,ann.lee@fabrikam.com,,Member"),
    ];
    std::fs::write(&bad, rows.join("\n") + "\n").unwrap();
    let name = bad.display().to_string();
    let errors = [
        format!("{name}:1: error: target user carol@fabrikam.con is not in the target directory"),
        format!("{name}:3: error: source user left@contoso.com is not in the source directory"),
        format!("{name}:4: error: target ann.lee@fabrikam.com is also the target of ann@contoso.com (line 2)"),
    ];
    let out = crossmap(&base, &state)
        .args(["push", "--yes"])
        .arg(&bad)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for e in &errors {
        assert!(err.contains(e.as_str()), "missing {e:?} in:\n{err}");
    }
    assert!(err.contains("3 error(s)") && err.contains("--no-verify"), "{err}");
    assert_eq!(exported(&base, &state), "", "a refused push sent something");

    // plan shows what push would do: the same findings, and that push would refuse; --json counts them.
    let out = crossmap(&base, &state).arg("plan").arg(&bad).output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    for e in &errors {
        assert!(err.contains(e.as_str()), "missing {e:?} in:\n{err}");
    }
    assert!(err.contains("push would refuse this map: 3 error(s)"), "{err}");
    let out = crossmap(&base, &state)
        .args(["plan", "--json"])
        .arg(&bad)
        .output()
        .unwrap();
    let plan: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(plan["check"], json!({"errors": 3, "warnings": 0}), "{plan}");

    // --verify needs both tenants; without them (and without --verify) the push goes on, saying so.
    let no_tenants = |args: &[&str]| {
        crossmap(&base, &state)
            .env_remove("CROSSMAP_SOURCE_TENANT")
            .env_remove("CROSSMAP_TARGET_TENANT")
            .args(args)
            .arg(&bad)
            .output()
            .unwrap()
    };
    let out = no_tenants(&["push", "--yes", "--verify"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--verify needs both directories"),
        "{}",
        stderr(&out)
    );
    assert_eq!(exported(&base, &state), "");
    let out = no_tenants(&["plan"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not checked against the directories"),
        "{}",
        stderr(&out)
    );

    // An app without the directory permissions: the check fails (exit 1), naming what it needs.
    let out = crossmap(&base, &state)
        .env("CROSSMAP_CLIENT_ID", "m")
        .args(["push", "--yes"])
        .arg(&bad)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("User.Read.All") && err.contains("--no-verify"), "{err}");
    assert_eq!(exported(&base, &state), "");

    // Warnings only (a disabled target account): shown, and the push goes on.
    let warned = dir.path().join("warned.csv");
    std::fs::write(
        &warned,
        format!(
            "User,{SOURCE_ORG},ann@contoso.com,ann.lee@fabrikam.com,,Member\n\
             User,{SOURCE_ORG},dave.old@contoso.com,off@fabrikam.com,,Member\n"
        ),
    )
    .unwrap();
    let out = crossmap(&base, &state)
        .args(["push", "--yes"])
        .arg(&warned)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "{}:2: warning: target user off@fabrikam.com is a disabled account",
            warned.display()
        )),
        "{err}"
    );
    assert!(err.contains("0 error(s), 1 warning(s)"), "{err}");
    assert_eq!(exported(&base, &state).lines().count(), 2);

    // Without --replace, what the service holds stays beside the file: its targets are taken. With
    // --replace the service's row of ann goes, and her target is free.
    let more = dir.path().join("more.csv");
    std::fs::write(
        &more,
        format!("User,{SOURCE_ORG},bob@contoso.com,ann.lee@fabrikam.com,,Member\n"),
    )
    .unwrap();
    let out = crossmap(&base, &state)
        .args(["push", "--yes"])
        .arg(&more)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}:1: error: target ann.lee@fabrikam.com is also the target of ann@contoso.com, a mapping the \
             service holds and this push keeps",
            more.display()
        )),
        "{err}"
    );
    let out = crossmap(&base, &state)
        .args(["plan", "--json", "--replace"])
        .arg(&more)
        .output()
        .unwrap();
    let plan: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(plan["check"], json!({"errors": 0, "warnings": 0}), "{plan}");
    assert_eq!(exported(&base, &state).lines().count(), 2);

    // --no-verify: the admin's word; the map goes as it is.
    let out = crossmap(&base, &state)
        .args(["push", "--yes", "--no-verify"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(exported(&base, &state).contains("carol@fabrikam.con"));
}

/// `match --fail-on-review` exits 3 when some source objects need a person (ambiguous, conflict,
/// unmatched), after writing both files; excluded ones need nobody, and without such rows it exits 0.
#[test]
fn match_fail_on_review_exits_3_while_rows_need_a_person() {
    let m = Move::start();
    let (map, review) = (&m.map, &m.review);
    let run = |extra: &[&str]| {
        let _ = std::fs::remove_file(map);
        m.run_match(&[&["--fail-on-review"], extra].concat())
    };
    let out = run(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("3 source object(s) need review (0 ambiguous, 0 conflict, 3 unmatched)"),
        "{err}"
    );
    assert!(err.contains(&review.display().to_string()), "{err}");
    assert_eq!(
        std::fs::read_to_string(map).unwrap().lines().count(),
        6,
        "the map is written"
    );
    let review_text = std::fs::read_to_string(review).unwrap();
    assert_eq!(review_text.matches(",unmatched,").count(), 3, "{review_text}");

    // The three excluded (the disabled account already is): nobody needs a person.
    let out = run(&["--exclude", "*smith@contoso.com", "--exclude", "Orphans"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
