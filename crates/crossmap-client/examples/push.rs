//! Pushes a CSV-sized set of user mappings with `apply_all`, printing progress, then one JSON line.
//!
//! `push BASE_URL AUTHORITY TENANT CLIENT_ID SECRET COUNT`, e.g. against `crossmap serve --app id:secret:manage`:
//! `cargo run --release -p crossmap-client --example push -- http://127.0.0.1:8080/beta http://127.0.0.1:8080 contoso id secret 100000`.
//! Used by `cargo xtask bench client`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use crossmap_client::{ApplyOptions, Client, ClientCredentials};
use crossmap_model::{
    DeltaItem, Guid, Patch, SharePointIdentityMappingUserMigrationData, SharePointIdentityMappingUserType,
    SharePointUserIdentityMapping as User, UserIdentity,
};
use std::sync::Arc;
use std::time::Instant;

fn user(n: u64) -> User {
    let identity = |upn: String| UserIdentity {
        user_principal_name: Patch::Value(upn),
        ..UserIdentity::default()
    };
    User {
        source_organization_id: Patch::Value(Guid::from_u128(0x1111_1111_1111_1111_1111_1111_1111_1111)),
        user_type: Patch::Value(SharePointIdentityMappingUserType::RegularUser),
        source_user_identity: Patch::Value(identity(format!("user{n}@contoso.com"))),
        target_user_identity: Patch::Value(identity(format!("user{n}@fabrikam.com"))),
        target_user_migration_data: Patch::Value(SharePointIdentityMappingUserMigrationData {
            email: Patch::Value(format!("user{n}@fabrikam.com")),
            ..Default::default()
        }),
        ..User::default()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, authority, tenant, id, secret, count] = args.as_slice() else {
        return Err("usage: push BASE_URL AUTHORITY TENANT CLIENT_ID SECRET COUNT".into());
    };
    let count: u64 = count.parse()?;
    let client = Client::builder()
        .base_url(base)
        .token_provider(ClientCredentials::new(tenant, id, secret).with_authority(authority))
        .build()?;
    let items: Vec<DeltaItem<User>> = (0..count).map(|n| DeltaItem::Upsert(user(n))).collect();
    let options = ApplyOptions {
        progress: Some(Arc::new(|p| {
            if p.done % 10_000 < 50 || p.done == p.total {
                eprintln!(
                    "{}/{} items, {} failed, {} retries, {} throttled",
                    p.done, p.total, p.failed, p.retries, p.throttles
                );
            }
        })),
        ..ApplyOptions::default()
    };
    let start = Instant::now();
    let report = client.apply_all(items, &options).await;
    let seconds = start.elapsed().as_secs_f64();
    if let Some((i, e)) = report.failures().next() {
        eprintln!("item {i} failed: {e}");
    }
    println!(
        "{{\"items\":{count},\"applied\":{},\"seconds\":{seconds:.3},\"items_per_s\":{:.0}}}",
        report.applied(),
        report.applied() as f64 / seconds
    );
    if report.is_complete() {
        Ok(())
    } else {
        Err("not every item was applied".into())
    }
}
