//! The commands that talk to Graph or the emulator: plan, push, get, export.

use crate::matching::{self, CheckArgs, Checked};
use anyhow::{Context, Result, bail};
use crossmap_cli::input::{self, Desired, ReadOptions};
use crossmap_client::{
    ApplyOptions, Client, ClientCredentials, Cloud, ItemResult, LocalState, Progress, Report, StaticToken,
};
use crossmap_delta::{MappingTable, MemoryTable, PlanItems, PlanQueue, Row, SortedTable, plan_iter, plan_merge_iter};
use crossmap_model::{
    DeltaItem, GroupKey, MappingKey, SharePointGroupIdentityMapping as Group, SharePointUserIdentityMapping as User,
    UserKey,
};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Where to connect and how to authenticate; each option can come from the environment.
#[derive(Debug, Clone, clap::Args)]
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
    /// The identity platform: by default the national cloud's (Microsoft's for global), or for a URL base
    /// the URL's own origin (the emulator).
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

    /// The same service, for another tenant (and its own token, if given).
    pub(crate) fn for_tenant(&self, tenant: &str, token: Option<&str>) -> Connection {
        Connection {
            tenant: Some(tenant.to_owned()),
            token: token.map(str::to_owned).or_else(|| self.token.clone()),
            ..self.clone()
        }
    }

    pub(crate) fn client(&self) -> Result<Client> {
        let builder = Client::builder().base_url(self.base());
        let builder = match (&self.token, &self.tenant, &self.client_id, &self.client_secret) {
            (Some(token), ..) => builder.token_provider(StaticToken::new(token)),
            (None, Some(tenant), Some(id), Some(secret)) => {
                builder.token_provider(self.credentials(tenant, id, secret))
            }
            _ => bail!("give --token, or --tenant, --client-id and --client-secret (or their CROSSMAP_* variables)"),
        };
        Ok(builder.build()?)
    }

    /// Client credentials from the identity platform of the service (its national cloud's, or the
    /// emulator's own), unless `--authority` names another.
    fn credentials(&self, tenant: &str, id: &str, secret: &str) -> ClientCredentials {
        let credentials = ClientCredentials::for_base_url(&self.base(), tenant, id, secret);
        match &self.authority {
            Some(authority) => credentials.with_authority(authority),
            None => credentials,
        }
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
pub(crate) async fn current<M: crossmap_delta::Rules>(
    client: &Client,
    state: &LocalState,
) -> Result<(MemoryTable<M>, &'static str)> {
    match client.current::<M>().await {
        Ok(table) => Ok((table, "the service's list")),
        Err(e) if matches!(e.status(), Some(400 | 404 | 405 | 501)) => Ok((state.load::<M>()?, "the local record")),
        Err(e) => Err(e).context("listing the current mappings"),
    }
}

/// A refusal: the input or the options do not allow what was asked, and nothing was sent (exit 2).
#[derive(Debug)]
pub(crate) struct Refused(pub(crate) String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Some items were not applied (exit 1); they were listed already.
#[derive(Debug)]
pub(crate) struct NotApplied(pub(crate) usize);

impl std::fmt::Display for NotApplied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} item(s) were not applied", self.0)
    }
}

impl std::error::Error for NotApplied {}

/// How many mappings a push may remove: a number, or `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MaxRemovals {
    /// At most this many.
    Count(usize),
    /// No limit.
    All,
}

impl std::str::FromStr for MaxRemovals {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("all") {
            return Ok(MaxRemovals::All);
        }
        s.parse()
            .map(MaxRemovals::Count)
            .map_err(|_| format!("{s:?} is neither a number nor `all`"))
    }
}

/// The default limit on removals: 10% of the mappings the service holds, or 100, whichever is larger.
pub(crate) fn default_max_removals(current: usize) -> usize {
    current.div_ceil(10).max(100)
}

/// What a planned item does, as `plan` names it and `push` counts it.
const ACTIONS: [&str; 3] = ["create", "update", "remove"];

fn key_text<M: crossmap_delta::Rules>(item: &DeltaItem<M>) -> String {
    item.entity()
        .source_key_checked()
        .and_then(Result::ok)
        .map(|k| k.as_str().to_owned())
        .unwrap_or_default()
}

/// The index in [`ACTIONS`] of what `item` does to `current`.
fn action<M: crossmap_delta::Rules>(current: &MemoryTable<M>, item: &DeltaItem<M>) -> usize {
    let exists = item
        .entity()
        .source_key_checked()
        .and_then(Result::ok)
        .is_some_and(|k| current.row(&k).is_some());
    match (item.is_removal(), exists) {
        (true, _) => 2,
        (false, true) => 1,
        (false, false) => 0,
    }
}

/// Every property an update changes, as `(path, old, new)`: what a reviewer approves.
fn changes<M: crossmap_delta::Rules>(current: &MemoryTable<M>, item: &DeltaItem<M>) -> Vec<serde_json::Value> {
    let Some(Ok(key)) = item.entity().source_key_checked() else {
        return Vec::new();
    };
    let Some(have) = current.row(&key).map(|r| r.decode::<M>()) else {
        return Vec::new();
    };
    let have = serde_json::to_value(&have).unwrap_or_default();
    let patch = serde_json::to_value(item.entity()).unwrap_or_default();
    let mut out = Vec::new();
    walk(&patch, &have, "", &mut out);
    out
}

fn walk(patch: &serde_json::Value, have: &serde_json::Value, prefix: &str, out: &mut Vec<serde_json::Value>) {
    let Some(patch) = patch.as_object() else { return };
    for (k, new) in patch {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        let old = have.get(k).unwrap_or(&serde_json::Value::Null);
        if new.is_object() && (old.is_object() || old.is_null()) {
            walk(new, old, &path, out);
        } else if old != new {
            out.push(serde_json::json!({"property": path, "old": old, "new": new}));
        }
    }
}

/// One planned change, for people and scripts.
fn describe<M: crossmap_delta::Rules>(kind: &str, current: &MemoryTable<M>, item: &DeltaItem<M>) -> serde_json::Value {
    let action = ACTIONS[action(current, item)];
    let changes = if action == "update" {
        changes(current, item)
    } else {
        Vec::new()
    };
    serde_json::json!({"action": action, "kind": kind, "key": key_text(item), "changes": changes})
}

/// One kind's plan, held as its two tables: the items are built as they are shown or sent, never all
/// at once (a million planned mappings are mostly their mappings).
pub(crate) struct Planned<M: crossmap_delta::Rules> {
    current: MemoryTable<M>,
    desired: SortedTable<M>,
    replace: bool,
    source: &'static str,
    /// (creates, updates, removals), counted by one pass over the items.
    counts: [usize; 3],
    /// The first ten removals' keys, for the confirmation.
    first_removals: Vec<String>,
}

impl<M: crossmap_delta::Rules> Planned<M> {
    /// The planned items, in key order, built one at a time.
    fn items(&self) -> PlanItems<'_, M, MemoryTable<M>, SortedTable<M>> {
        // With --replace the file is the complete map: what it leaves out is removed or cleared. Without,
        // only what it states is compared, and nothing is removed.
        if self.replace {
            plan_iter(&self.current, &self.desired)
        } else {
            plan_merge_iter(&self.current, &self.desired)
        }
    }

    /// How many items the plan has.
    fn len(&self) -> usize {
        self.counts.iter().sum()
    }
}

async fn plan_kind<M: crossmap_delta::Rules>(
    client: &Client,
    state: &LocalState,
    desired: SortedTable<M>,
    replace: bool,
) -> Result<Planned<M>> {
    let (current, source) = current::<M>(client, state).await?;
    let mut planned = Planned {
        current,
        desired,
        replace,
        source,
        counts: [0; 3],
        first_removals: Vec::new(),
    };
    let (mut counts, mut first_removals) = ([0; 3], Vec::new());
    for item in planned.items() {
        let a = action(&planned.current, &item);
        counts[a] += 1;
        if a == 2 && first_removals.len() < 10 {
            first_removals.push(key_text(&item));
        }
    }
    planned.counts = counts;
    planned.first_removals = first_removals;
    Ok(planned)
}

fn read_desired(file: &std::path::Path, options: &ReadOptions, replace: bool) -> Result<Desired> {
    let desired = input::read(file, options)?;
    for w in &desired.warnings {
        eprintln!("warning: {w}");
    }
    if replace && desired.is_empty() {
        return Err(Refused(format!(
            "{} holds no mappings: with --replace that would remove every mapping the service holds; refused",
            file.display()
        ))
        .into());
    }
    Ok(desired)
}

/// What `plan` shows and `push` sends: both kinds planned, and what checking the map found (`None`
/// when it was not checked).
struct FilePlan {
    client: Client,
    state: LocalState,
    users: Planned<User>,
    groups: Planned<Group>,
    checked: Option<Checked>,
}

/// Reads the file, connects, plans both kinds, and checks the file against the directories (unless
/// told not to), with the targets of what the service keeps beside it.
async fn plan_file(
    conn: &Connection,
    file: &std::path::Path,
    options: &ReadOptions,
    replace: bool,
    check: &CheckArgs,
) -> Result<FilePlan> {
    // The check's messages name each row's line; without a check, no lines are kept.
    let options = ReadOptions {
        keep_lines: check.tenants()?.is_some(),
        ..options.clone()
    };
    let desired = read_desired(file, &options, replace)?;
    let client = conn.client()?;
    let state = conn.state()?;
    let Desired {
        users,
        groups,
        user_lines,
        group_lines,
        ..
    } = desired;
    let users = plan_kind::<User>(&client, &state, users, replace).await?;
    let groups = plan_kind::<Group>(&client, &state, groups, replace).await?;
    let map = matching::MapFile {
        file,
        users: &users.desired,
        groups: &groups.desired,
        user_lines: &user_lines,
        group_lines: &group_lines,
    };
    // Without --replace, what the service holds and the file does not name stays: its targets count.
    let held = (!replace).then_some(matching::Held {
        users: &users.current,
        groups: &groups.current,
    });
    let checked = matching::check_file(conn, check, map, held).await?;
    Ok(FilePlan {
        client,
        state,
        users,
        groups,
        checked,
    })
}

/// Both kinds' (creates, updates, removals) added.
fn totals(users: &Planned<User>, groups: &Planned<Group>) -> [usize; 3] {
    let (u, g) = (users.counts, groups.counts);
    [u[0] + g[0], u[1] + g[1], u[2] + g[2]]
}

/// `crossmap plan`.
pub(crate) async fn plan_command(
    conn: &Connection,
    file: &std::path::Path,
    options: &ReadOptions,
    replace: bool,
    json: bool,
    check: &CheckArgs,
) -> Result<()> {
    let FilePlan {
        users, groups, checked, ..
    } = plan_file(conn, file, options, replace, check).await?;
    eprintln!("current state from {}", users.source);
    if let Some(c) = checked.filter(|c| c.errors > 0) {
        eprintln!(
            "note: push would refuse this map: {} error(s) against the directories (listed above)",
            c.errors
        );
    }
    let t = totals(&users, &groups);
    let rows = users
        .items()
        .map(|i| describe("user", &users.current, &i))
        .chain(groups.items().map(|i| describe("group", &groups.current, &i)));
    let limit = default_max_removals(users.current.len() + groups.current.len());
    if t[2] > limit {
        eprintln!(
            "note: {} removals are more than push allows without --max-removals (default limit {limit})",
            t[2]
        );
    }
    // Written, not printed: a reader that stops early (`| head`) is an error to stop on, not a panic.
    let mut out = std::io::stdout().lock();
    if json {
        // What the check found, for a script to gate on; null when the map was not checked.
        let check = checked.map(|c| serde_json::json!({"errors": c.errors, "warnings": c.warnings}));
        let plan = serde_json::json!({"create": t[0], "update": t[1], "remove": t[2], "check": check,
            "items": rows.collect::<Vec<_>>()});
        writeln!(out, "{}", serde_json::to_string_pretty(&plan)?)?;
        return Ok(());
    }
    writeln!(out, "{}", summary(t))?;
    for r in rows {
        writeln!(
            out,
            "{:<7} {:<6} {}",
            r["action"].as_str().unwrap_or(""),
            r["kind"].as_str().unwrap_or(""),
            r["key"].as_str().unwrap_or("")
        )?;
        for c in r["changes"].as_array().into_iter().flatten() {
            writeln!(
                out,
                "          {}: {} -> {}",
                c["property"].as_str().unwrap_or(""),
                c["old"],
                c["new"]
            )?;
        }
    }
    Ok(())
}

/// "N to create, N to update, N to remove".
fn summary(t: [usize; 3]) -> String {
    format!("{} to create, {} to update, {} to remove", t[0], t[1], t[2])
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
                "failed {} throttled {} retried {} waited {:.0} s (summed over requests)",
                p.failed,
                p.throttles,
                p.retries,
                p.waited.as_secs_f64()
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
                    "{label}: {}/{} items ({rate:.0}/s), {} failed, {} throttled, {} retried, {:.0} s waited (summed over requests)",
                    p.done,
                    p.total,
                    p.failed,
                    p.throttles,
                    p.retries,
                    p.waited.as_secs_f64()
                );
            }
        })
    }
}

/// How many planned items are built and handed to `apply_all` at a time. The plan is built slice by
/// slice and each slice's report (the service's answer for every item) is folded into the record and
/// dropped, keeping only the failures: memory follows the slice, not the file. Two slices are in flight
/// at once, so the requests never wait for the slowest of a slice before the next slice starts.
const SLICE: usize = 5_000;

/// What a push of one kind did: how many were applied, and a line for each item that was not.
struct Pushed {
    applied: usize,
    failures: Vec<String>,
}

/// A slice being sent: its keys (for messages) and its `apply_all`.
type InFlight<M> = (Vec<String>, tokio::task::JoinHandle<Report<M>>);

/// Sends one kind's plan. The record it leaves is what the service held before (its list, or the record
/// when it has none) with what it acknowledged applied: the plan's tables become the record as the push
/// goes, so memory holds about one table of the kind, not three.
async fn push_kind<M: crossmap_delta::Rules>(
    client: &Client,
    state: &LocalState,
    planned: Planned<M>,
    label: &'static str,
    options: &ApplyOptions,
) -> Result<Pushed> {
    let mut pushed = Pushed {
        applied: 0,
        failures: Vec::new(),
    };
    if planned.len() == 0 {
        return Ok(pushed);
    }
    let total = planned.len() as u64;
    let show = progress(total, label);
    // The client counts retries, 429s and waits since it was built: this kind's line shows its own.
    let c = client.counters();
    let base = Arc::new((
        c.retries.load(Ordering::Relaxed),
        c.throttles.load(Ordering::Relaxed),
        c.waited(),
    ));
    // Items done and failed in all slices, for one progress line over the whole kind.
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let Planned {
        current,
        desired,
        replace,
        ..
    } = planned;
    let mut queue = PlanQueue::new(&current, desired, replace);
    let mut record = Record {
        before: current,
        acknowledged: SortedTable::new(),
    };
    let mut previous: Option<InFlight<M>> = None;
    loop {
        // Keys are planned once each, so the slice in flight never touches a key this one plans.
        let slice: Vec<DeltaItem<M>> = std::iter::from_fn(|| queue.next_item(&record)).take(SLICE).collect();
        if slice.is_empty() {
            break;
        }
        if options.cancel.is_cancelled() {
            let not_sent = slice.iter().map(|i| format!("{label} {}: not sent", key_text(i)));
            pushed.failures.extend(not_sent);
            continue;
        }
        let keys: Vec<String> = slice.iter().map(key_text).collect();
        let (show, done, failed, base) = (show.clone(), done.clone(), failed.clone(), base.clone());
        // Each slice's progress counts from zero: add what changed since its last call.
        let seen = std::sync::Mutex::new((0u64, 0u64));
        let options = ApplyOptions {
            progress: Some(Arc::new(move |p: Progress| {
                let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                // Calls from concurrent requests may arrive out of order: count only what is new.
                let (new_done, new_failed) = (p.done.saturating_sub(seen.0), p.failed.saturating_sub(seen.1));
                *seen = (seen.0.max(p.done), seen.1.max(p.failed));
                show(Progress {
                    done: done.fetch_add(new_done, Ordering::Relaxed) + new_done,
                    total,
                    failed: failed.fetch_add(new_failed, Ordering::Relaxed) + new_failed,
                    retries: p.retries.saturating_sub(base.0),
                    throttles: p.throttles.saturating_sub(base.1),
                    waited: p.waited.saturating_sub(base.2),
                })
            })),
            ..options.clone()
        };
        let client = client.clone();
        let running = tokio::spawn(async move { client.apply_all(slice, &options).await });
        // This slice is on its way: now the one before it can be waited for and recorded.
        if let Some((keys, running)) = previous.replace((keys, running)) {
            let report = running.await.context("a push task failed")?;
            record_slice(&mut pushed, &mut record, label, &keys, report);
        }
    }
    if let Some((keys, running)) = previous {
        let report = running.await.context("a push task failed")?;
        record_slice(&mut pushed, &mut record, label, &keys, report);
    }
    state.save(&record)?;
    Ok(pushed)
}

/// The record a push leaves, kept as it goes: what the service held before (its list, or the old record),
/// and what it acknowledged since, apart. Acknowledgements come in the plan's order, which is key order,
/// so they are appended to a sorted vector (about 40 bytes a key beside its row) instead of growing a
/// hash table that holds every key twice over at its peak; a key acknowledged leaves `before`, so the
/// two never hold the same key.
struct Record<M: crossmap_delta::Rules> {
    before: MemoryTable<M>,
    acknowledged: SortedTable<M>,
}

impl<M: crossmap_delta::Rules> MappingTable<M> for Record<M> {
    fn row(&self, key: &M::Key) -> Option<&Row> {
        self.acknowledged.row(key).or_else(|| self.before.row(key))
    }

    fn put_row(&mut self, key: M::Key, row: Row) {
        self.before.remove(&key);
        self.acknowledged.put_row(key, row);
    }

    fn remove(&mut self, key: &M::Key) -> bool {
        let before = self.before.remove(key);
        self.acknowledged.remove(key) || before
    }

    fn len(&self) -> usize {
        self.before.len() + self.acknowledged.len()
    }

    fn rows(&self) -> impl Iterator<Item = (&M::Key, &Row)> {
        self.acknowledged.rows().chain(self.before.rows())
    }
}

/// Folds one slice's report into the record (only what the service acknowledged, in the terms the
/// requests used) and into the push's counts and failures.
fn record_slice<M: crossmap_delta::Rules>(
    pushed: &mut Pushed,
    record: &mut Record<M>,
    label: &str,
    keys: &[String],
    report: Report<M>,
) {
    report.record_into(record);
    for (key, result) in keys.iter().zip(report.items()) {
        match result {
            ItemResult::Applied { .. } => pushed.applied += 1,
            ItemResult::Failed(e) => pushed.failures.push(format!(
                "{label} {key}: {e}{}",
                e.request_id().map(|r| format!(" (request-id {r})")).unwrap_or_default()
            )),
            ItemResult::NotSent => pushed.failures.push(format!("{label} {key}: not sent")),
        }
    }
}

/// The removals of a plan, first ten keys, for the confirmation.
fn removals_preview(users: &Planned<User>, groups: &Planned<Group>, count: usize) -> String {
    let keys = users
        .first_removals
        .iter()
        .map(|k| format!("user {k}"))
        .chain(groups.first_removals.iter().map(|k| format!("group {k}")))
        .take(10);
    let mut text = format!("{count} mapping(s) will be REMOVED:\n");
    let mut shown = 0;
    for k in keys {
        text.push_str(&format!("  - {k}\n"));
        shown += 1;
    }
    if count > shown {
        text.push_str(&format!("  … and {} more (see `crossmap plan`)\n", count - shown));
    }
    text
}

/// `crossmap push`.
pub(crate) async fn push_command(
    conn: &Connection,
    file: &std::path::Path,
    options: &ReadOptions,
    replace: bool,
    yes: bool,
    max_removals: Option<MaxRemovals>,
    check: &CheckArgs,
) -> Result<()> {
    let FilePlan {
        client,
        state,
        users,
        groups,
        checked,
    } = plan_file(conn, file, options, replace, check).await?;
    // A map with errors against the directories would have SharePoint move content to nobody, or to
    // the wrong person: refused before anything is sent, --yes or not.
    if let Some(c) = checked.filter(|c| c.errors > 0) {
        return Err(Refused(format!(
            "{} has {} error(s) against the directories (listed above); nothing was sent. Fix the rows, \
             or give --no-verify to push it as it is",
            file.display(),
            c.errors
        ))
        .into());
    }
    let t = totals(&users, &groups);
    println!("{} (current state from {})", summary(t), users.source);
    if users.len() == 0 && groups.len() == 0 {
        println!("nothing to send");
        return Ok(());
    }
    // Removals are what cannot be taken back: bounded before anything is sent, --yes or not.
    let limit = match max_removals {
        Some(MaxRemovals::All) => usize::MAX,
        Some(MaxRemovals::Count(n)) => n,
        None => default_max_removals(users.current.len() + groups.current.len()),
    };
    if t[2] > limit {
        return Err(Refused(format!(
            "this push would remove {} mappings, more than the limit of {limit}{}; nothing was sent. \
             Check the file (is it the complete map?), then raise the limit with --max-removals {} \
             (or --max-removals all)",
            t[2],
            if max_removals.is_none() {
                " (10% of the mappings the service holds, or 100)"
            } else {
                ""
            },
            t[2]
        ))
        .into());
    }
    if t[2] > 0 {
        eprint!("{}", removals_preview(&users, &groups, t[2]));
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(Refused(
                "no terminal to confirm on, and --yes was not given: nothing was sent. Review the changes \
                 with `crossmap plan`, then run push again with --yes"
                    .to_owned(),
            )
            .into());
        }
        print!("apply these changes? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(Refused("not confirmed: nothing was sent".to_owned()).into());
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
    let pushed_users = push_kind(&client, &state, users, "users", &options).await?;
    let pushed_groups = push_kind(&client, &state, groups, "groups", &options).await?;
    let (u, g) = (pushed_users.applied, pushed_groups.applied);
    let mut failures = pushed_users.failures;
    failures.extend(pushed_groups.failures);
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
        return Err(NotApplied(failures.len()).into());
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
            writeln!(std::io::stdout().lock(), "{}", serde_json::to_string_pretty(&v)?)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crossmap_delta::same_contents;

    fn connection(base_url: &str, authority: Option<&str>) -> Connection {
        Connection {
            base_url: base_url.to_owned(),
            tenant: None,
            client_id: None,
            client_secret: None,
            token: None,
            authority: authority.map(str::to_owned),
            state: None,
        }
    }

    /// Where the credentials ask for tokens, and for which scope, as their `Debug` shows it.
    fn token_endpoint(c: &Connection) -> String {
        format!("{:?}", c.credentials("t", "app", "secret"))
    }

    #[test]
    fn a_national_cloud_gets_its_own_login_host_and_scope() {
        let usgov = token_endpoint(&connection("usgov", None));
        assert!(usgov.contains("\"https://login.microsoftonline.us\""), "{usgov}");
        assert!(usgov.contains("https://graph.microsoft.us/.default"), "{usgov}");
        let china = token_endpoint(&connection("china", None));
        assert!(china.contains("\"https://login.chinacloudapi.cn\""), "{china}");
        let global = token_endpoint(&connection("global", None));
        assert!(global.contains("\"https://login.microsoftonline.com\""), "{global}");
    }

    #[test]
    fn the_emulator_is_its_own_authority_unless_told_otherwise() {
        let emulator = token_endpoint(&connection("http://127.0.0.1:8080", None));
        assert!(emulator.contains("\"http://127.0.0.1:8080\""), "{emulator}");
        let told = token_endpoint(&connection("http://127.0.0.1:8080", Some("http://127.0.0.1:9090")));
        assert!(told.contains("\"http://127.0.0.1:9090\""), "{told}");
        assert!(!told.contains("secret"), "the secret is never shown: {told}");
    }

    fn row(n: u32, target: &str) -> (UserKey, Row) {
        let user: User = serde_json::from_value(serde_json::json!({
            "sourceOrganizationId": "11111111-1111-1111-1111-111111111111",
            "sourceUserIdentity": {"userPrincipalName": format!("u{n:02}@contoso.com")},
            "targetUserIdentity": {"userPrincipalName": format!("u{n:02}@{target}")}}))
        .unwrap();
        let (key, user) = crossmap_delta::canonical(0, user).unwrap();
        (key, Row::encode(&user))
    }

    /// The record kept in two parts is one table: updates of keys held before, creates, removals of
    /// both, in key order as a push acknowledges them, leave what one table given the same steps holds,
    /// each key once.
    #[test]
    fn a_record_in_two_parts_is_one_table() {
        let mut one = MemoryTable::<User>::new();
        for n in [2, 4, 6, 8] {
            let (key, r) = row(n, "a.com");
            one.put_row(key, r);
        }
        let mut record = Record {
            before: one.clone(),
            acknowledged: SortedTable::new(),
        };
        for n in 1..=9 {
            let (key, r) = row(n, "b.com");
            // 4 and 8 were held before; 5 never was.
            if n % 4 == 0 || n == 5 {
                assert_eq!(record.remove(&key), one.remove(&key));
            } else {
                record.put_row(key.clone(), r.clone());
                one.put_row(key, r);
            }
            assert_eq!(record.len(), one.len());
            assert!(same_contents(&record, &one) && same_contents(&one, &record));
        }
        let mut keys: Vec<&UserKey> = record.rows().map(|(k, _)| k).collect();
        let all = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!((keys.len(), all), (6, 6));
    }
}
