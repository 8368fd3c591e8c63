//! `crossmap serve --directory TENANT=FILE` as a process: the example directories seeded into two tenants,
//! read back over HTTP, seeded again unchanged after a restart; a bad file refused by line.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

const CONTOSO_ORG: &str = "6d1c8a3f-2b4e-4c9a-8f7d-1e5b3a9c0d24";
const FABRIKAM_ORG: &str = "a4e7b2c9-5f1d-4e3b-9a6c-8d2f0b7e1c53";

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name)
}

/// Starts `crossmap serve` over `dir` with the two example directories; returns the child, its base URL
/// and the lines it printed before it listened.
fn serve(dir: &Path) -> (Child, String, Vec<String>) {
    crate::serve::start(&[
        "--app".into(),
        "d:secret:directory".into(),
        "--data-dir".into(),
        dir.into(),
        "--directory".into(),
        format!("contoso={}", example("source-directory.jsonl").display()).into(),
        "--directory".into(),
        format!("Fabrikam={}", example("target-directory.jsonl").display()).into(),
    ])
}

async fn token(http: &reqwest::Client, base: &str, tenant: &str) -> String {
    crate::serve::token_for(http, base, tenant, "d").await
}

async fn get(http: &reqwest::Client, url: &str, token: &str) -> Value {
    let r = http.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.json().await.unwrap()
}

#[tokio::test]
async fn serve_seeds_each_tenants_directory_once_and_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base, printed) = serve(dir.path());
    assert!(
        printed.iter().any(
            |l| l.starts_with("directory contoso: 20 users, 6 groups, the organization from ")
                && l.ends_with("(27 created, 0 replaced, 0 unchanged)")
        ),
        "{printed:?}"
    );
    assert!(
        printed.iter().any(|l| l.starts_with("directory fabrikam: 20 users")),
        "{printed:?}"
    );
    let http = reqwest::Client::new();
    for (tenant, org, domain) in [
        ("contoso", CONTOSO_ORG, "contoso.com"),
        ("fabrikam", FABRIKAM_ORG, "fabrikam.com"),
    ] {
        let token = token(&http, &base, tenant).await;
        let users = get(
            &http,
            &format!("{base}/v1.0/users?$top=999&$select=id,userPrincipalName"),
            &token,
        )
        .await;
        let upns: Vec<&str> = users["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["userPrincipalName"].as_str().unwrap())
            .collect();
        assert_eq!(upns.len(), 20, "{tenant}");
        assert!(upns.iter().any(|u| u.ends_with(&format!("@{domain}"))));
        let groups = get(&http, &format!("{base}/v1.0/groups"), &token).await;
        assert_eq!(groups["value"].as_array().unwrap().len(), 6);
        let organization = get(&http, &format!("{base}/v1.0/organization"), &token).await;
        assert_eq!(organization["value"][0]["id"], org);
    }
    let contoso = token(&http, &base, "contoso").await;
    let guest = get(
        &http,
        &format!("{base}/v1.0/users/maria_partnerco.com%23EXT%23@contoso.onmicrosoft.com?$select=mail,userType"),
        &contoso,
    )
    .await;
    assert_eq!(
        (guest["mail"].as_str(), guest["userType"].as_str()),
        (Some("maria@partnerco.com"), Some("Guest"))
    );
    child.kill().unwrap();
    child.wait().unwrap();

    // Restarted with the same files: nothing to write.
    let (mut child, _, printed) = serve(dir.path());
    child.kill().unwrap();
    child.wait().unwrap();
    let seeded: Vec<&String> = printed.iter().filter(|l| l.starts_with("directory ")).collect();
    assert_eq!(seeded.len(), 2, "{printed:?}");
    assert!(
        seeded
            .iter()
            .all(|l| l.ends_with("(0 created, 0 replaced, 27 unchanged)")),
        "{seeded:?}"
    );
}

#[test]
fn a_bad_directory_file_stops_serve_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.jsonl");
    std::fs::write(
        &file,
        "{\"@odata.type\": \"#microsoft.graph.user\", \"id\": \"aaaaaaaa-0000-4000-8000-000000000001\", \"userPrincipalName\": \"a@b.c\"}\n\n{\"@odata.type\": \"#microsoft.graph.user\", \"id\": \"aaaaaaaa-0000-4000-8000-000000000002\"}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_crossmap"))
        .args(["serve", "--in-memory", "--addr", "127.0.0.1:0", "--directory"])
        .arg(format!("contoso={}", file.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("seeding the directory of contoso from"), "{stderr}");
    assert!(
        stderr.contains("line 3: a seeded user needs \"userPrincipalName\""),
        "{stderr}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_crossmap"))
        .args(["serve", "--in-memory", "--directory", "no-equals-sign"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected TENANT=FILE"));
}
