//! `crossmap::testing::Emulator`: start, client, tokens, admin calls, durability, shutdown.

use crossmap::client::ClientError;
use crossmap::prelude::*;
use crossmap::testing::{AdminOptions, Emulator, EmulatorError, FaultConfig, MANAGE_ROLE, READ_ROLE};
use std::time::Duration;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const ORG: &str = "22222222-2222-2222-2222-222222222222";

fn user(n: u32) -> UserMapping {
    serde_json::from_value(
        serde_json::json!({"sourceOrganizationId": ORG, "userType": "regularUser",
        "sourceUserIdentity": {"userPrincipalName": format!("user{n}@contoso.com")},
        "targetUserIdentity": {"userPrincipalName": format!("user{n}@fabrikam.com")}}),
    )
    .unwrap()
}

fn key(n: u32) -> UserKey {
    UserKey::parse(&format!("user{n}@contoso.com")).unwrap()
}

async fn push(client: &Client, n: u32) -> Result {
    client
        .apply(&DeltaRequest::new(vec![DeltaItem::Upsert(user(n))]))
        .await?;
    Ok(())
}

#[tokio::test]
async fn the_client_reaches_the_emulators_tenant_and_the_journal_shows_it() -> Result {
    let emulator = Emulator::start().await?;
    assert!(emulator.base_url().starts_with("http://127.0.0.1:"));
    assert!(emulator.base_url().ends_with("/beta"));
    assert_eq!(emulator.base_url(), format!("{}/beta", emulator.origin()));
    let client = emulator.client()?;
    push(&client, 1).await?;
    let got: UserMapping = client.get(&key(1), None).await?.ok_or("not stored")?;
    assert_eq!(got.source_key(), Some(key(1)));
    assert_eq!(got.target_upn(), Some("user1@fabrikam.com"));
    let patches: Vec<_> = emulator
        .journal()
        .await?
        .into_iter()
        .filter(|e| e.method == "PATCH")
        .collect();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert_eq!(patches[0].status, Some(200));
    assert_eq!(patches[0].items, Some(1));
    assert_eq!(patches[0].tenant.as_deref(), Some(emulator.tenant()));
    assert_eq!(patches[0].app_id.as_deref(), Some(emulator.client_id()));
    emulator.clear_journal().await?;
    assert!(emulator.journal().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_token_carries_the_roles_asked_for() -> Result {
    let emulator = Emulator::start().await?;
    let users = format!(
        "{}/solutions/sharePoint/migrations/crossOrganizationUserMappings",
        emulator.base_url()
    );
    let body = serde_json::json!({"@context": "#$delta", "value": []});
    let http = reqwest::Client::new();
    let (read, manage) = (emulator.token(&[READ_ROLE]), emulator.token(&[MANAGE_ROLE]));
    let status = |r: reqwest::RequestBuilder| async move { Ok::<_, reqwest::Error>(r.send().await?.status().as_u16()) };
    assert_eq!(status(http.get(&users).bearer_auth(&read)).await?, 200);
    assert_eq!(status(http.patch(&users).bearer_auth(&read).json(&body)).await?, 403);
    assert_eq!(status(http.patch(&users).bearer_auth(&manage).json(&body)).await?, 200);
    Ok(())
}

#[tokio::test]
async fn reset_forgets_every_mapping_and_reset_tenant_only_that_tenants() -> Result {
    let emulator = Emulator::builder().tenant("Contoso").start().await?;
    assert_eq!(emulator.tenant(), "contoso");
    let client = emulator.client()?;
    push(&client, 1).await?;
    emulator.reset_tenant("fabrikam").await?;
    assert!(client.get::<UserMapping>(&key(1), None).await?.is_some());
    emulator.reset_tenant("Contoso").await?;
    assert!(client.get::<UserMapping>(&key(1), None).await?.is_none());
    push(&client, 2).await?;
    emulator.reset().await?;
    assert!(client.get::<UserMapping>(&key(2), None).await?.is_none());
    Ok(())
}

#[tokio::test]
async fn fault_rules_set_through_the_emulator_act_and_are_journaled() -> Result {
    let emulator = Emulator::start().await?;
    let client = emulator.client()?;
    let faults = FaultConfig::from_json(r#"{"rules": [{"match": {"method": "GET"}, "every": 1, "status": 400}]}"#)?;
    emulator.set_faults(&faults).await?;
    let refused = client.get::<UserMapping>(&key(1), None).await;
    assert!(matches!(refused, Err(ClientError::Graph(_))), "{refused:?}");
    let journal = emulator.journal().await?;
    let get = journal.iter().find(|e| e.method == "GET").ok_or("no GET journaled")?;
    assert_eq!(get.status, Some(400));
    assert!(get.fault.as_deref().is_some_and(|f| f.starts_with("rule 0")), "{get:?}");
    emulator.set_faults(&FaultConfig::default()).await?;
    assert!(client.get::<UserMapping>(&key(1), None).await?.is_none());
    Ok(())
}

#[tokio::test]
async fn an_admin_call_refused_says_so() -> Result {
    let emulator = Emulator::start().await?;
    let e = emulator.reset_tenant("").await.unwrap_err();
    assert!(matches!(&e, EmulatorError::Refused { status: 400, .. }), "{e:?}");
    assert!(e.to_string().contains("POST /_crossmap/reset?tenant="), "{e}");
    Ok(())
}

#[tokio::test]
async fn a_durable_emulator_keeps_its_mappings_and_tokens_across_a_restart() -> Result {
    let dir = tempfile::tempdir()?;
    let first = Emulator::builder().durable(dir.path()).start().await?;
    push(&first.client()?, 1).await?;
    let token = first.token(&[READ_ROLE]);
    first.shutdown().await?;
    let second = Emulator::builder().durable(dir.path()).start().await?;
    assert!(second.client()?.get::<UserMapping>(&key(1), None).await?.is_some());
    second.state().auth().verify(&token)?;
    Ok(())
}

#[tokio::test]
async fn a_second_emulator_on_a_directory_in_use_is_refused_until_the_first_stops() -> Result {
    let dir = tempfile::tempdir()?;
    let first = Emulator::builder().durable(dir.path()).start().await?;
    push(&first.client()?, 1).await?;
    // Spelled otherwise, the same directory.
    let other_spelling = dir.path().join(".");
    match Emulator::builder().durable(&other_spelling).start().await {
        Err(e @ EmulatorError::DirectoryInUse(_)) => {
            assert!(e.to_string().contains("shutdown().await"), "{e}")
        }
        Err(e) => return Err(format!("another error: {e}").into()),
        Ok(_) => return Err("two emulators serve one directory".into()),
    }
    // The refusal changed nothing: the first goes on, and once it is shut down the directory opens.
    push(&first.client()?, 2).await?;
    first.shutdown().await?;
    let second = Emulator::builder().durable(dir.path()).start().await?;
    assert_eq!(second.client()?.list_all::<UserMapping>().await?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn a_directory_reopened_right_after_a_drop_waits_for_the_dropped_emulator() -> Result {
    let dir = tempfile::tempdir()?;
    for n in 1..=3 {
        let emulator = Emulator::builder().durable(dir.path()).start().await?;
        assert_eq!(
            emulator.client()?.list_all::<UserMapping>().await?.len(),
            n as usize - 1
        );
        push(&emulator.client()?, n).await?;
        drop(emulator);
    }
    Ok(())
}

#[tokio::test]
async fn an_in_memory_emulator_starts_empty() -> Result {
    let first = Emulator::start().await?;
    push(&first.client()?, 1).await?;
    let second = Emulator::start().await?;
    assert_ne!(first.origin(), second.origin());
    assert!(second.client()?.get::<UserMapping>(&key(1), None).await?.is_none());
    Ok(())
}

#[tokio::test]
async fn dropping_the_emulator_stops_its_server() -> Result {
    let emulator = Emulator::start().await?;
    let host = emulator.origin().trim_start_matches("http://").to_owned();
    tokio::net::TcpStream::connect(&host).await?;
    drop(emulator);
    let closed = async {
        while tokio::net::TcpStream::connect(&host).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), closed)
        .await
        .map_err(|_| "still accepting connections 5 s after the drop")?;
    Ok(())
}

#[tokio::test]
async fn with_an_admin_token_the_emulators_admin_calls_send_it() -> Result {
    let options = AdminOptions {
        token: Some("s3cret".into()),
        ..AdminOptions::default()
    };
    let emulator = Emulator::builder().admin(options).start().await?;
    push(&emulator.client()?, 1).await?;
    assert_eq!(emulator.journal().await?.len(), 2, "the token request and the PATCH");
    emulator.reset().await?;
    // Without the token the admin plane refuses: the calls above did send it.
    let anonymous = reqwest::Client::new()
        .post(format!("{}/_crossmap/reset", emulator.origin()))
        .send()
        .await?;
    assert_eq!(anonymous.status(), 401);
    Ok(())
}
