//! The commands that talk to Graph or the emulator: plan, push, get, export.

use crate::input::{self, Desired};
use anyhow::{Context, Result, bail};
use crossmap_client::{ApplyOptions, Client, ClientCredentials, Cloud, ItemResult, LocalState, Progress, StaticToken};
use crossmap_delta::{MappingTable, MemoryTable, plan};
use crossmap_model::{
    DeltaItem, GroupKey, MappingKey, SharePointGroupIdentityMapping as Group, SharePointUserIdentityMapping as User,
    UserKey,
};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where to connect and how to authenticate; each option can come from the environment.
#[derive(Debug, clap::Args)]
pub(crate) struct Connection {
    /// The service root: a URL (the emulator: http://127.0.0.1:8080) or a national cloud: global, usgov,
    /// dod, china.
    #[arg(long, env = "CROSSMAP_BASE_URL", default_value = "global")]
    base_url: String,
    /// The tenant to get a token for (a GUID or a domain).
    #[arg(long, env = "CROSSMAP_TENANT")]
    tenant: Option<String>,
    /// The application (client) id.
    #[arg(long, env = "CROSSMAP_CLIENT_ID")]
    client_id: Option<String>,
    /// The client secret; never echoed or logged.
    #[arg(long, env = "CROSSMAP_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// A ready bearer token, instead of the client credentials.
    #[arg(long, env = "CROSSMAP_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The identity platform: Microsoft's by default, or for a URL base the URL's own origin (the emulator).
    #[arg(long, env = "CROSSMAP_AUTHORITY")]
    authority: Option<String>,
    /// Where the record of what was applied is kept (default: under the user's data directory, one per
    /// tenant and service).
    #[arg(long, env = "CROSSMAP_STATE")]
    state: Option<PathBuf>,
}

impl Connection {
    /// The service root, with `/beta` added to a bare origin.
    fn base(&self) -> String {
        match Cloud::from_name(&self.base_url) {
            Some(cloud) => cloud.base_url().to_owned(),
            None => {
                let url = self.base_url.trim_end_matches('/');
                if url.matches('/').count() <= 2 {
                    format!("{url}/beta")
                } else {
                    url.to_owned()
                }
            }
        }
    }

    pub(crate) fn client(&self) -> Result<Client> {
        let builder = Client::builder().base_url(self.base());
        let builder = match (&self.token, &self.tenant, &self.client_id, &self.client_secret) {
            (Some(token), ..) => builder.token_provider(StaticToken::new(token)),
            (None, Some(tenant), Some(id), Some(secret)) => {
                let authority = match (&self.authority, Cloud::from_name(&self.base_url)) {
                    (Some(a), _) => a.clone(),
                    (None, Some(_)) => crossmap_client::MICROSOFT_AUTHORITY.to_owned(),
                    (None, None) => self.base().trim_end_matches("/beta").to_owned(),
                };
                builder.token_provider(ClientCredentials::new(tenant, id, secret).with_authority(authority))
            }
            _ => bail!("give --token, or --tenant, --client-id and --client-secret (or their CROSSMAP_* variables)"),
        };
        Ok(builder.build()?)
    }

    /// The local record for this tenant and service.
    pub(crate) fn state(&self) -> Result<LocalState> {
        if let Some(path) = &self.state {
            return Ok(LocalState::new(path));
        }
        let base = dirs::data_dir().context("no data directory for this user: give --state")?;
        let service: String = self
            .base()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let tenant = self.tenant.clone().unwrap_or_else(|| "token".to_owned());
        Ok(LocalState::new(
            base.join("crossmap").join("state").join(format!("{tenant}-{service}")),
        ))
    }
}

/// What the service holds now: its list where it has one (the emulator), else the local record.
async fn current<M: crossmap_delta::Rules>(
    client: &Client,
    state: &LocalState,
) -> Result<(MemoryTable<M>, &'static str)> {
    match client.current::<M>().await {
        Ok(table) => Ok((table, "the service's list")),
        Err(e) if matches!(e.status(), Some(400 | 404 | 405 | 501)) => Ok((state.load::<M>()?, "the local record")),
        Err(e) => Err(e).context("listing the current mappings"),
    }
}

/// What a planned item does, as `plan` names it and `push` counts it.
const ACTIONS: [&str; 3] = ["create", "update", "remove"];

/// The index in [`ACTIONS`] of what `item` does to `current`.
fn action<M: crossmap_delta::Rules>(current: &MemoryTable<M>, item: &DeltaItem<M>) -> usize {
    let exists = item
        .entity()
        .source_key()
        .and_then(Result::ok)
        .is_some_and(|k| current.row(&k).is_some());
    match (item.is_removal(), exists) {
        (true, _) => 2,
        (false, true) => 1,
        (false, false) => 0,
    }
}

/// One planned change, for people.
fn describe<M: crossmap_delta::Rules>(kind: &str, current: &MemoryTable<M>, item: &DeltaItem<M>) -> serde_json::Value {
    let key = item
        .entity()
        .source_key()
        .and_then(Result::ok)
        .map(|k| k.as_str().to_owned())
        .unwrap_or_default();
    let action = ACTIONS[action(current, item)];
    let mut changes: Vec<String> = Vec::new();
    if action == "update" {
        if let Ok(serde_json::Value::Object(o)) = serde_json::to_value(item.entity()) {
            changes = o
                .keys()
                .filter(|k| !k.starts_with("source") || *k == "sourceOrganizationId")
                .cloned()
                .collect();
        }
    }
    serde_json::json!({"action": action, "kind": kind, "key": key, "changes": changes})
}

struct Planned<M: crossmap_delta::Rules> {
    current: MemoryTable<M>,
    items: Vec<DeltaItem<M>>,
    source: &'static str,
}

async fn plan_kind<M: crossmap_delta::Rules>(
    client: &Client,
    state: &LocalState,
    desired: &MemoryTable<M>,
    replace: bool,
) -> Result<Planned<M>> {
    let (current, source) = current::<M>(client, state).await?;
    let mut items = plan(&current, desired);
    if !replace {
        items.retain(|i| !i.is_removal());
    }
    Ok(Planned { current, items, source })
}

fn read_desired(file: &std::path::Path, strict: bool) -> Result<Desired> {
    let desired = input::read(file, strict)?;
    for w in &desired.warnings {
        eprintln!("warning: {w}");
    }
    Ok(desired)
}

/// Reads the file, connects, and plans both kinds: what `plan` shows and `push` sends.
async fn plan_file(
    conn: &Connection,
    file: &std::path::Path,
    replace: bool,
    strict: bool,
) -> Result<(Client, LocalState, Planned<User>, Planned<Group>)> {
    let desired = read_desired(file, strict)?;
    let client = conn.client()?;
    let state = conn.state()?;
    let users = plan_kind::<User>(&client, &state, &desired.users, replace).await?;
    let groups = plan_kind::<Group>(&client, &state, &desired.groups, replace).await?;
    Ok((client, state, users, groups))
}

/// (creates, updates, removals) in a plan, counted without describing every item.
fn tally<M: crossmap_delta::Rules>(planned: &Planned<M>) -> [usize; 3] {
    let mut t = [0; 3];
    for item in &planned.items {
        t[action(&planned.current, item)] += 1;
    }
    t
}

/// `crossmap plan`.
pub(crate) async fn plan_command(
    conn: &Connection,
    file: &std::path::Path,
    replace: bool,
    json: bool,
    strict: bool,
) -> Result<()> {
    let (_, _, users, groups) = plan_file(conn, file, replace, strict).await?;
    eprintln!("current state from {}", users.source);
    let mut rows: Vec<serde_json::Value> = users
        .items
        .iter()
        .map(|i| describe("user", &users.current, i))
        .collect();
    rows.extend(groups.items.iter().map(|i| describe("group", &groups.current, i)));
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    for r in &rows {
        let changes = r["changes"]
            .as_array()
            .map(|c| c.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        let changes = if changes.is_empty() {
            String::new()
        } else {
            format!("  ({changes})")
        };
        println!(
            "{:<7} {:<6} {}{changes}",
            r["action"].as_str().unwrap_or(""),
            r["kind"].as_str().unwrap_or(""),
            r["key"].as_str().unwrap_or("")
        );
    }
    println!("{}", summary(&users, &groups));
    Ok(())
}

/// "N to create, N to update, N to remove" over both kinds.
fn summary(users: &Planned<User>, groups: &Planned<Group>) -> String {
    let (u, g) = (tally(users), tally(groups));
    format!(
        "{} to create, {} to update, {} to remove",
        u[0] + g[0],
        u[1] + g[1],
        u[2] + g[2]
    )
}

/// Progress for people: a bar on a terminal, a line every few seconds otherwise.
fn progress(total: u64, label: &'static str) -> Arc<dyn Fn(Progress) + Send + Sync> {
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {per_sec} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_prefix(label);
        Arc::new(move |p: Progress| {
            bar.set_position(p.done);
            bar.set_message(format!(
                "failed {} throttled {} retries {}",
                p.failed, p.throttles, p.retries
            ));
            if p.done == p.total {
                bar.finish();
            }
        })
    } else {
        let last = std::sync::Mutex::new(Instant::now());
        let start = Instant::now();
        Arc::new(move |p: Progress| {
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            if p.done == p.total || last.elapsed() > Duration::from_secs(2) {
                *last = Instant::now();
                let rate = p.done as f64 / start.elapsed().as_secs_f64().max(0.001);
                eprintln!(
                    "{label}: {}/{} items ({rate:.0}/s), {} failed, {} throttled, {} retries",
                    p.done, p.total, p.failed, p.throttles, p.retries
                );
            }
        })
    }
}

async fn push_kind<M: crossmap_delta::Rules>(
    client: &Client,
    state: &LocalState,
    planned: Planned<M>,
    label: &'static str,
    options: &ApplyOptions,
) -> Result<(usize, Vec<String>)> {
    if planned.items.is_empty() {
        return Ok((0, Vec::new()));
    }
    let keys: Vec<String> = planned
        .items
        .iter()
        .map(|i| {
            i.entity()
                .source_key()
                .and_then(Result::ok)
                .map(|k| k.as_str().to_owned())
                .unwrap_or_default()
        })
        .collect();
    let options = ApplyOptions {
        progress: Some(progress(planned.items.len() as u64, label)),
        ..options.clone()
    };
    let report = client.apply_all(planned.items, &options).await;
    // The record gets only what the service acknowledged.
    let mut record = state.load::<M>()?;
    report.record_into(&mut record);
    state.save(&record)?;
    let mut failures = Vec::new();
    for (i, result) in report.items.iter().enumerate() {
        match result {
            ItemResult::Applied { .. } => {}
            ItemResult::Failed(e) => failures.push(format!(
                "{label} {}: {e}{}",
                keys[i],
                e.request_id().map(|r| format!(" (request-id {r})")).unwrap_or_default()
            )),
            ItemResult::NotSent => failures.push(format!("{label} {}: not sent", keys[i])),
        }
    }
    Ok((report.applied(), failures))
}

/// `crossmap push`.
pub(crate) async fn push_command(
    conn: &Connection,
    file: &std::path::Path,
    replace: bool,
    yes: bool,
    strict: bool,
) -> Result<()> {
    let (client, state, users, groups) = plan_file(conn, file, replace, strict).await?;
    println!("{} (current state from {})", summary(&users, &groups), users.source);
    if users.items.is_empty() && groups.items.is_empty() {
        println!("nothing to send");
        return Ok(());
    }
    if !yes && std::io::stdin().is_terminal() {
        print!("apply these changes? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            bail!("not applied");
        }
    }
    let options = ApplyOptions::default();
    let cancel = options.cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: finishing the requests in flight; run push again to send the rest");
            cancel.cancel();
        }
    });
    let start = Instant::now();
    let (u, mut failures) = push_kind(&client, &state, users, "users", &options).await?;
    let (g, group_failures) = push_kind(&client, &state, groups, "groups", &options).await?;
    failures.extend(group_failures);
    println!(
        "applied {} ({u} users, {g} groups) in {:.1}s; {} not applied",
        u + g,
        start.elapsed().as_secs_f64(),
        failures.len()
    );
    if !failures.is_empty() {
        for f in failures.iter().take(100) {
            eprintln!("  {f}");
        }
        if failures.len() > 100 {
            eprintln!("  … and {} more", failures.len() - 100);
        }
        bail!("{} item(s) were not applied", failures.len());
    }
    Ok(())
}

/// `crossmap get user|group`.
pub(crate) async fn get_command(conn: &Connection, kind: &str, key: &str, select: Option<String>) -> Result<()> {
    let client = conn.client()?;
    let select: Option<Vec<String>> = select.map(|s| s.split(',').map(|p| p.trim().to_owned()).collect());
    let select_refs: Option<Vec<&str>> = select.as_ref().map(|s| s.iter().map(String::as_str).collect());
    let value = match kind {
        "user" => {
            let key = UserKey::parse(key)?;
            client
                .get::<User>(&key, select_refs.as_deref())
                .await?
                .map(serde_json::to_value)
                .transpose()?
        }
        _ => {
            let key = GroupKey::parse(key)?;
            client
                .get::<Group>(&key, select_refs.as_deref())
                .await?
                .map(serde_json::to_value)
                .transpose()?
        }
    };
    match value {
        Some(v) => {
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(())
        }
        None => bail!("no {kind} mapping for {key}"),
    }
}

/// `crossmap export`.
pub(crate) async fn export_command(conn: &Connection, format: &str, kind: &str) -> Result<()> {
    let client = conn.client()?;
    let state = conn.state()?;
    let users = if kind == "groups" {
        MemoryTable::new()
    } else {
        current::<User>(&client, &state).await?.0
    };
    let groups = if kind == "users" {
        MemoryTable::new()
    } else {
        current::<Group>(&client, &state).await?.0
    };
    let mut users: Vec<(UserKey, User)> = users.iter().map(|(k, m)| (k.clone(), m)).collect();
    let mut groups: Vec<(GroupKey, Group)> = groups.iter().map(|(k, m)| (*k, m)).collect();
    users.sort_by(|a, b| a.0.cmp(&b.0));
    groups.sort_by_key(|g| g.0);
    let users: Vec<User> = users.into_iter().map(|(_, m)| m).collect();
    let groups: Vec<Group> = groups.into_iter().map(|(_, m)| m).collect();
    let mut out = std::io::stdout().lock();
    match format {
        "jsonl" => {
            for u in &users {
                writeln!(out, "{}", serde_json::to_string(u)?)?;
            }
            for g in &groups {
                writeln!(out, "{}", serde_json::to_string(g)?)?;
            }
        }
        _ => out.write_all(input::write_csv(&users, &groups).as_bytes())?,
    }
    Ok(())
}
