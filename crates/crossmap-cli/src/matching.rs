//! `crossmap match` and `crossmap verify`: the identity map built from, and checked against, the source
//! and target tenants' directories, read through Graph (or the emulator).

use crate::remote::{self, Connection, Refused};
use anyhow::{Context, Result};
use crossmap_cli::input::{self, ReadOptions};
use crossmap_client::{Client, DirectoryQuery};
use crossmap_delta::{MappingTable, MemoryTable, SortedTable};
use crossmap_match::{Config, Directory, DirectoryBuilder, GroupKind, Rule, Status, match_directories};
use crossmap_model::{
    Guid, SharePointGroupIdentityMapping as Group, SharePointIdentityMappingGroupType as GroupType,
    SharePointUserIdentityMapping as User,
};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The two tenants, and how to reach each.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Tenants {
    /// The source tenant (a GUID or a domain): where people and groups move from.
    #[arg(long, env = "CROSSMAP_SOURCE_TENANT")]
    source_tenant: String,
    /// The target tenant (a GUID or a domain): where they move to.
    #[arg(long, env = "CROSSMAP_TARGET_TENANT")]
    target_tenant: String,
    /// A ready bearer token for the source tenant, instead of the client credentials.
    #[arg(long, env = "CROSSMAP_SOURCE_TOKEN", hide_env_values = true)]
    source_token: Option<String>,
    /// A ready bearer token for the target tenant, instead of the client credentials.
    #[arg(long, env = "CROSSMAP_TARGET_TOKEN", hide_env_values = true)]
    target_token: Option<String>,
}

/// `plan` and `push`: checking the map against both directories before anything is sent.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Checking the map against the directories")]
pub(crate) struct CheckArgs {
    /// Require the check (made by default when both tenants are named): refuse unless they are.
    #[arg(long, conflicts_with = "no_verify")]
    verify: bool,
    /// Skip the check: send the map whatever the directories hold.
    #[arg(long)]
    no_verify: bool,
    /// The source tenant (a GUID or a domain): where people and groups move from.
    #[arg(long, env = "CROSSMAP_SOURCE_TENANT")]
    source_tenant: Option<String>,
    /// The target tenant (a GUID or a domain): where they move to.
    #[arg(long, env = "CROSSMAP_TARGET_TENANT")]
    target_tenant: Option<String>,
    /// A ready bearer token for the source tenant, instead of the client credentials.
    #[arg(long, env = "CROSSMAP_SOURCE_TOKEN", hide_env_values = true)]
    source_token: Option<String>,
    /// A ready bearer token for the target tenant, instead of the client credentials.
    #[arg(long, env = "CROSSMAP_TARGET_TOKEN", hide_env_values = true)]
    target_token: Option<String>,
}

impl CheckArgs {
    /// The two tenants to check against, when the check is to be made: with --verify (which needs both
    /// named), or by default when both are named; never with --no-verify.
    pub(crate) fn tenants(&self) -> Result<Option<Tenants>> {
        if self.no_verify {
            return Ok(None);
        }
        match (&self.source_tenant, &self.target_tenant) {
            (Some(source), Some(target)) => Ok(Some(Tenants {
                source_tenant: source.clone(),
                target_tenant: target.clone(),
                source_token: self.source_token.clone(),
                target_token: self.target_token.clone(),
            })),
            _ if self.verify => Err(Refused(
                "--verify needs both directories: give --source-tenant and --target-tenant (or \
                 CROSSMAP_SOURCE_TENANT and CROSSMAP_TARGET_TENANT); nothing was sent"
                    .to_owned(),
            )
            .into()),
            _ => Ok(None),
        }
    }
}

/// A file's rows to check, and the line of each.
pub(crate) struct MapFile<'a> {
    /// The file, for the messages.
    pub(crate) file: &'a Path,
    /// Its user rows.
    pub(crate) users: &'a SortedTable<User>,
    /// Its group rows.
    pub(crate) groups: &'a SortedTable<Group>,
    /// The line of each user row.
    pub(crate) user_lines: &'a HashMap<crossmap_model::UserKey, u64>,
    /// The line of each group row.
    pub(crate) group_lines: &'a HashMap<crossmap_model::GroupKey, u64>,
}

/// What checking a map before sending it found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checked {
    /// Rows `verify` calls errors.
    pub(crate) errors: usize,
    /// Rows `verify` warns about.
    pub(crate) warnings: usize,
}

/// The check `plan` and `push` make before anything is sent: the file's rows against both directories,
/// as `verify FILE` checks them, each finding on stderr (`FILE:LINE: error|warning: ...`). `None` when
/// no check was made, after saying so.
pub(crate) async fn check_file(
    conn: &Connection,
    check: &CheckArgs,
    map: MapFile<'_>,
    held: Option<Held<'_>>,
) -> Result<Option<Checked>> {
    let Some(tenants) = check.tenants()? else {
        if !check.no_verify {
            eprintln!(
                "note: the map was not checked against the directories: name --source-tenant and \
                 --target-tenant to check it (or give --no-verify)"
            );
        }
        return Ok(None);
    };
    let (source, target) = read_both(conn, &tenants).await.context(
        "checking the map against the directories (the app needs User.Read.All, GroupMember.Read.All and \
         Organization.Read.All, or Directory.Read.All, in both tenants; --no-verify skips the check)",
    )?;
    let name = map.file.display().to_string();
    let origin = Origin::File {
        name: &name,
        user_lines: map.user_lines,
        group_lines: map.group_lines,
    };
    let findings = check_map(map.users, map.groups, &origin, held, &source, &target);
    let mut err = std::io::stderr().lock();
    findings.write(&mut err, true)?;
    let checked = Checked {
        errors: findings.errors(),
        warnings: findings.warnings(),
    };
    writeln!(
        err,
        "map checked against {} and {}: {} error(s), {} warning(s)",
        source.display_name(),
        target.display_name(),
        checked.errors,
        checked.warnings
    )?;
    Ok(Some(checked))
}

/// `crossmap match`'s own options.
#[derive(Debug, clap::Args)]
pub(crate) struct MatchArgs {
    /// Rewrite a source domain before comparing UPNs and addresses: SRC=DST (repeatable).
    #[arg(long = "map-domain", value_name = "SRC=DST")]
    map_domains: Vec<String>,
    /// Pairs that always win: a CSV of `source,target` (UPNs, or group object ids).
    #[arg(long, value_name = "FILE")]
    overrides: Option<PathBuf>,
    /// Leave out sources whose UPN (users), or display name or mail nickname (groups), matches GLOB
    /// (repeatable).
    #[arg(long = "exclude", value_name = "GLOB")]
    excludes: Vec<String>,
    /// Match disabled source accounts too (by default they are excluded).
    #[arg(long)]
    include_disabled: bool,
    /// Source UPNs (one a line) that become `adminUser` in the map.
    #[arg(long, value_name = "FILE")]
    admins: Option<PathBuf>,
    /// Where to write the identity map (the six-column CSV, matched rows only; pushable as is).
    #[arg(long, value_name = "MAP.csv")]
    out: PathBuf,
    /// Where to write the review list: every source user and group once, with status, rule and reason.
    #[arg(long, value_name = "REVIEW.csv")]
    review: PathBuf,
    /// Exit 3 when some source objects need a person (ambiguous, conflict, unmatched), after writing both
    /// files.
    #[arg(long)]
    fail_on_review: bool,
}

/// The client for one tenant.
fn client_for(conn: &Connection, tenant: &str, token: Option<&str>) -> Result<Client> {
    conn.for_tenant(tenant, token).client()
}

/// Progress for people while directories are read: a spinner on a terminal, a line every few seconds
/// otherwise.
struct Reading {
    objects: Arc<AtomicU64>,
    bar: Option<indicatif::ProgressBar>,
    last: std::sync::Mutex<Instant>,
    label: String,
}

impl Reading {
    fn new(label: String) -> Reading {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {prefix}: {pos} objects {per_sec}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar.set_prefix(label.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Reading {
            objects: Arc::new(AtomicU64::new(0)),
            bar,
            last: std::sync::Mutex::new(Instant::now()),
            label,
        }
    }

    fn add(&self, n: u64) {
        let total = self.objects.fetch_add(n, Ordering::Relaxed) + n;
        match &self.bar {
            Some(bar) => bar.set_position(total),
            None => {
                let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
                if last.elapsed() > Duration::from_secs(2) {
                    *last = Instant::now();
                    eprintln!("{}: {total} objects read", self.label);
                }
            }
        }
    }

    fn finish(&self) {
        let total = self.objects.load(Ordering::Relaxed);
        match &self.bar {
            Some(bar) => bar.finish_with_message("done"),
            None => eprintln!("{}: {total} objects read", self.label),
        }
    }
}

/// Reads one tenant's organization, users and groups into a [`Directory`].
async fn read_directory(client: &Client, label: &str) -> Result<Directory> {
    let org = client
        .organization()
        .await
        .with_context(|| format!("reading the {label} tenant's organization"))?;
    let mut builder =
        DirectoryBuilder::from_organization(&org).with_context(|| format!("the {label} tenant's organization"))?;
    let progress = Reading::new(format!("{label} directory"));
    read_pages(client, "users", &DirectoryQuery::users(), label, &progress, |u| {
        builder.push_user(u)
    })
    .await?;
    read_pages(client, "groups", &DirectoryQuery::groups(), label, &progress, |g| {
        builder.push_group(g)
    })
    .await?;
    progress.finish();
    builder
        .build()
        .with_context(|| format!("the {label} tenant's directory"))
}

/// Every page of one directory collection, each object handed to `push` as it comes.
async fn read_pages<T: serde::de::DeserializeOwned + Send + 'static>(
    client: &Client,
    collection: &str,
    query: &DirectoryQuery,
    label: &str,
    progress: &Reading,
    mut push: impl FnMut(&T) -> Result<(), crossmap_match::DirectoryError>,
) -> Result<()> {
    let mut pages = std::pin::pin!(client.directory_pages::<T>(collection, query));
    while let Some(page) = pages.next().await {
        let page = page.with_context(|| format!("reading the {label} tenant's {collection}"))?;
        for object in &page.value {
            push(object).with_context(|| format!("one of the {label} tenant's {collection}"))?;
        }
        progress.add(page.value.len() as u64);
    }
    Ok(())
}

/// Both directories, read concurrently.
async fn read_both(conn: &Connection, tenants: &Tenants) -> Result<(Directory, Directory)> {
    let source = client_for(conn, &tenants.source_tenant, tenants.source_token.as_deref())?;
    let target = client_for(conn, &tenants.target_tenant, tenants.target_token.as_deref())?;
    let (s, t) = tokio::join!(read_directory(&source, "source"), read_directory(&target, "target"));
    let (s, t) = (s?, t?);
    // A tenant named wrong still answers (Graph with another tenant's directory, the emulator with an
    // empty one): matching against it would call everyone unmatched and write an empty map, exit 0.
    for (dir, label, flag, name) in [
        (&s, "source", "--source-tenant", &tenants.source_tenant),
        (&t, "target", "--target-tenant", &tenants.target_tenant),
    ] {
        if dir.user_count() == 0 && dir.group_count() == 0 {
            return Err(Refused(format!(
                "the {label} tenant {name} ({}) has no users and no groups: is {flag} right?",
                dir.tenant_id()
            ))
            .into());
        }
    }
    if s.tenant_id() == t.tenant_id() {
        return Err(Refused(format!(
            "--source-tenant {} and --target-tenant {} are one tenant ({}): a move needs two",
            tenants.source_tenant,
            tenants.target_tenant,
            s.tenant_id()
        ))
        .into());
    }
    Ok((s, t))
}

fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Refused(format!("cannot read {}: {e}", path.display())))?;
    Ok(input::decode(&bytes).0.into_owned())
}

/// The matching configuration from the flags; every problem is refused input, with its file and line.
fn config(args: &MatchArgs) -> Result<Config> {
    let mut config = Config::new();
    let refuse = |what: String| anyhow::Error::from(Refused(what));
    for d in &args.map_domains {
        config
            .map_domain_arg(d)
            .map_err(|e| refuse(format!("--map-domain {d}: {e}")))?;
    }
    for g in &args.excludes {
        config.exclude(g).map_err(|e| refuse(format!("--exclude {g}: {e}")))?;
    }
    config.include_disabled(args.include_disabled);
    for (path, admins) in [(&args.overrides, false), (&args.admins, true)] {
        let Some(path) = path else { continue };
        let text = read_text(path)?;
        let read = if admins {
            config.read_admins(&text)
        } else {
            config.read_overrides(&text)
        };
        if let Err(errors) = read {
            // FILE:LINE: as every other problem the CLI reports, for editors and grep.
            let lines: Vec<String> = errors
                .iter()
                .map(|e| format!("  {}:{}: {}", path.display(), e.line, e.error))
                .collect();
            return Err(refuse(format!(
                "{} problem(s) in {}; nothing was written:\n{}",
                errors.len(),
                path.display(),
                lines.join("\n")
            )));
        }
    }
    Ok(config)
}

/// `crossmap match`.
pub(crate) async fn match_command(conn: &Connection, tenants: &Tenants, args: &MatchArgs) -> Result<()> {
    let config = config(args)?;
    // Before the directories are read (minutes for a large tenant), not after.
    for (flag, path) in [("--out", &args.out), ("--review", &args.review)] {
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !folder.is_dir() {
            return Err(Refused(format!(
                "{flag} {}: there is no folder {}; nothing was read or written",
                path.display(),
                folder.display()
            ))
            .into());
        }
    }
    let (source, target) = read_both(conn, tenants).await?;
    let started = Instant::now();
    let matching = match_directories(&source, &target, &config).map_err(|e| match e {
        // Names the flags gave that the directories do not hold: refused input (exit 2), not a failure.
        crossmap_match::MatchError::Unknown(_) => {
            let files: Vec<String> = [&args.overrides, &args.admins]
                .into_iter()
                .flatten()
                .map(|p| p.display().to_string())
                .collect();
            anyhow::Error::from(Refused(format!(
                "{e} (check {}); nothing was written",
                files.join(" and ")
            )))
        }
        e => anyhow::Error::from(e).context("matching"),
    })?;
    let elapsed = started.elapsed();
    let users: Vec<User> = matching.user_mappings().collect();
    let groups: Vec<Group> = matching.group_mappings().collect();
    write_file(&args.out, input::write_csv(&users, &groups).as_bytes())?;
    let mut review = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    review.write_record(crossmap_match::ReviewRow::HEADER)?;
    for row in matching.review() {
        review.serialize(row)?;
    }
    write_file(&args.review, &review.into_inner().context("writing the review list")?)?;

    for w in matching.warnings() {
        eprintln!("warning: {w}");
    }
    let mut out = std::io::stdout().lock();
    let statuses = [
        Status::Matched,
        Status::Ambiguous,
        Status::Conflict,
        Status::Unmatched,
        Status::Excluded,
    ];
    for (kind, counts) in [("users", matching.user_counts()), ("groups", matching.group_counts())] {
        let parts: Vec<String> = statuses
            .iter()
            .map(|s| format!("{} {}", counts.get(*s), s.as_str()))
            .collect();
        writeln!(out, "{kind}: {}", parts.join(", "))?;
    }
    let mut by_rule: Vec<(Rule, usize)> = Vec::new();
    let rules = matching
        .users()
        .filter(|r| r.status() == Status::Matched)
        .filter_map(|r| r.rule())
        .chain(
            matching
                .groups()
                .filter(|r| r.status() == Status::Matched)
                .filter_map(|r| r.rule()),
        );
    for rule in rules {
        match by_rule.iter_mut().find(|(r, _)| *r == rule) {
            Some((_, n)) => *n += 1,
            None => by_rule.push((rule, 1)),
        }
    }
    let parts: Vec<String> = by_rule.iter().map(|(r, n)| format!("{n} by {}", r.as_str())).collect();
    writeln!(
        out,
        "matched {}",
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(", ")
        }
    )?;
    writeln!(
        out,
        "wrote {} ({} users, {} groups) and {} (every source object once); matched in {:.2}s",
        args.out.display(),
        users.len(),
        groups.len(),
        args.review.display(),
        elapsed.as_secs_f64()
    )?;
    if args.fail_on_review {
        // Excluded sources were left out on purpose: only the other open statuses need a person.
        let open = [Status::Ambiguous, Status::Conflict, Status::Unmatched]
            .map(|s| matching.user_counts().get(s) + matching.group_counts().get(s));
        if open.iter().sum::<usize>() > 0 {
            return Err(NeedsReview {
                review: args.review.clone(),
                open,
            }
            .into());
        }
    }
    Ok(())
}

/// `match --fail-on-review` found sources that need a person (exit 3); both files were written.
#[derive(Debug)]
pub(crate) struct NeedsReview {
    review: PathBuf,
    /// How many are ambiguous, in conflict, unmatched.
    open: [usize; 3],
}

impl std::fmt::Display for NeedsReview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [ambiguous, conflict, unmatched] = self.open;
        write!(
            f,
            "{} source object(s) need review ({ambiguous} ambiguous, {conflict} conflict, {unmatched} unmatched): \
             see {}",
            ambiguous + conflict + unmatched,
            self.review.display()
        )
    }
}

impl std::error::Error for NeedsReview {}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// One finding of `verify`.
struct Finding {
    at: String,
    line: u64,
    error: bool,
    message: String,
}

/// Where a map's rows come from, for the messages: a file (each row by its line) or the service.
enum Origin<'a> {
    /// A file, named so, with the line of each row (0 when not known).
    File {
        name: &'a str,
        user_lines: &'a HashMap<crossmap_model::UserKey, u64>,
        group_lines: &'a HashMap<crossmap_model::GroupKey, u64>,
    },
    /// The mappings the service holds.
    Service,
}

/// What checking a map found: every finding, in line order, errors first on a line.
struct Findings(Vec<Finding>);

impl Findings {
    fn errors(&self) -> usize {
        self.0.iter().filter(|f| f.error).count()
    }

    fn warnings(&self) -> usize {
        self.0.len() - self.errors()
    }

    /// Each finding on its line: `FILE:LINE: error|warning: message` (`service:KIND KEY: ...`).
    fn write(&self, out: &mut impl Write, lines: bool) -> std::io::Result<()> {
        for f in &self.0 {
            let level = if f.error { "error" } else { "warning" };
            if lines {
                writeln!(out, "{}:{}: {level}: {}", f.at, f.line, f.message)?;
            } else {
                writeln!(out, "{}: {level}: {}", f.at, f.message)?;
            }
        }
        Ok(())
    }
}

/// `crossmap verify`: checks a map against both directories; exit 1 on any error.
pub(crate) async fn verify_command(
    conn: &Connection,
    tenants: &Tenants,
    file: Option<&Path>,
    options: &ReadOptions,
) -> Result<()> {
    let mut findings: Vec<Finding> = Vec::new();
    let (users, groups, name, user_lines, group_lines) = match file {
        Some(path) => {
            let name = path.display().to_string();
            let bytes = std::fs::read(path).map_err(|e| Refused(format!("cannot read {name}: {e}")))?;
            let options = ReadOptions {
                jsonl: options.jsonl || matches!(path.extension().and_then(|e| e.to_str()), Some("jsonl" | "ndjson")),
                keep_lines: true,
                // Every row that reads is checked, whatever the others: one typo must not hide the rest.
                keep_going: true,
                ..options.clone()
            };
            let read = input::read_bytes(&name, &bytes, &options).unwrap_or_else(|problems| input::Desired {
                problems: problems.0,
                ..input::Desired::default()
            });
            // A row that does not even read is an error of the map like any other.
            for p in &read.problems {
                let (line, message) = split_location(&name, p);
                findings.push(Finding {
                    at: name.clone(),
                    line,
                    error: true,
                    message,
                });
            }
            (read.users, read.groups, name, read.user_lines, read.group_lines)
        }
        None => {
            let client = conn.client()?;
            let state = conn.state()?;
            let (users, _) = remote::current::<User>(&client, &state).await?;
            let (groups, _) = remote::current::<Group>(&client, &state).await?;
            (
                SortedTable::from(users),
                SortedTable::from(groups),
                "the service".to_owned(),
                HashMap::new(),
                HashMap::new(),
            )
        }
    };
    let (source, target) = read_both(conn, tenants).await?;
    let origin = match file {
        Some(_) => Origin::File {
            name: &name,
            user_lines: &user_lines,
            group_lines: &group_lines,
        },
        None => Origin::Service,
    };
    findings.extend(check_map(&users, &groups, &origin, None, &source, &target).0);
    findings.sort_by_key(|f| (f.line, !f.error));
    let findings = Findings(findings);
    let errors = findings.errors();
    // Written, not printed: a reader that stops early (`| head`) is an error to stop on, not a panic.
    let mut out = std::io::stdout().lock();
    findings.write(&mut out, file.is_some())?;
    writeln!(
        out,
        "{} user and {} group mapping(s) checked against {} and {}: {errors} error(s), {} warning(s)",
        users.len(),
        groups.len(),
        source.display_name(),
        target.display_name(),
        findings.warnings()
    )?;
    if errors > 0 {
        return Err(MapErrors(errors).into());
    }
    Ok(())
}

/// Every problem of a map's rows against the two directories (the checks `verify` lists in its help),
/// sorted by line, errors first on a line.
fn check_map(
    users: &SortedTable<User>,
    groups: &SortedTable<Group>,
    origin: &Origin<'_>,
    held: Option<Held<'_>>,
    source: &Directory,
    target: &Directory,
) -> Findings {
    let mut findings: Vec<Finding> = Vec::new();
    // The targets of the mappings the service keeps beside the map's rows (a push without --replace).
    let mut held_users: HashMap<String, String> = HashMap::new();
    let mut held_groups: HashMap<Guid, Guid> = HashMap::new();
    if let Some(held) = held {
        for (k, m) in held.users.iter().filter(|(k, _)| users.row(k).is_none()) {
            if let Some(t) = m
                .target_user_identity
                .value()
                .and_then(|t| t.user_principal_name.value())
            {
                held_users.insert(t.to_lowercase(), k.as_str().to_owned());
            }
        }
        for (k, m) in held.groups.iter().filter(|(k, _)| groups.row(k).is_none()) {
            let id = m.target_group_identity.value().and_then(|t| t.id.value());
            if let Some(t) = id.and_then(|id| id.parse::<Guid>().ok()) {
                held_groups.insert(t, k.guid());
            }
        }
    }
    let at = |kind: &str, key: &str| match origin {
        Origin::File { name, .. } => (*name).to_owned(),
        Origin::Service => format!("service:{kind} {key}"),
    };
    let org = source.tenant_id();

    // Users, in file order.
    let mut rows: Vec<(u64, String, User)> = users
        .iter()
        .map(|(k, m)| {
            let line = match origin {
                Origin::File { user_lines, .. } => user_lines.get(k).copied().unwrap_or(0),
                Origin::Service => 0,
            };
            (line, k.as_str().to_owned(), m)
        })
        .collect();
    rows.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let mut claimed: HashMap<String, (u64, String)> = HashMap::new();
    for (line, key, m) in &rows {
        let at = at("user", key);
        let mut say = |error: bool, message: String| {
            findings.push(Finding {
                at: at.clone(),
                line: *line,
                error,
                message,
            })
        };
        if let Some(problem) = other_organization(m.source_organization_id.value(), org) {
            say(true, problem);
        }
        if source.user_by_upn(key).is_none() {
            say(true, format!("source user {key} is not in the source directory"));
        }
        let Some(target_upn) = m
            .target_user_identity
            .value()
            .and_then(|t| t.user_principal_name.value())
        else {
            continue;
        };
        if let Some(other) = held_users.get(&target_upn.to_lowercase()) {
            say(true, held_claim(target_upn, other));
        }
        match claimed.get(&target_upn.to_lowercase()) {
            Some((first, other)) => say(true, also_claimed(target_upn, other, *first)),
            None => {
                claimed.insert(target_upn.to_lowercase(), (*line, key.clone()));
            }
        }
        let Some(t) = target.user_by_upn(target_upn) else {
            say(true, format!("target user {target_upn} is not in the target directory"));
            continue;
        };
        if !t.is_enabled() {
            say(false, format!("target user {target_upn} is a disabled account"));
        }
        if let Some(email) = m.target_user_migration_data.value().and_then(|d| d.email.value()) {
            let email = email.to_lowercase();
            let known = t.addresses().any(|a| a.eq_ignore_ascii_case(&email))
                || t.user_principal_name().eq_ignore_ascii_case(&email);
            if !known {
                say(
                    false,
                    format!("target e-mail {email} is not one of {target_upn}'s addresses"),
                );
            }
        }
    }

    // Groups, in file order.
    let mut rows: Vec<(u64, Guid, Group)> = groups
        .iter()
        .map(|(k, m)| {
            let line = match origin {
                Origin::File { group_lines, .. } => group_lines.get(k).copied().unwrap_or(0),
                Origin::Service => 0,
            };
            (line, k.guid(), m)
        })
        .collect();
    rows.sort_by_key(|a| (a.0, a.1));
    let mut claimed: HashMap<Guid, (u64, Guid)> = HashMap::new();
    for (line, key, m) in &rows {
        let at = at("group", &key.to_string());
        let mut say = |error: bool, message: String| {
            findings.push(Finding {
                at: at.clone(),
                line: *line,
                error,
                message,
            })
        };
        if let Some(problem) = other_organization(m.source_organization_id.value(), org) {
            say(true, problem);
        }
        if source.group_by_id(*key).is_none() {
            say(true, format!("source group {key} is not in the source directory"));
        }
        let Some(target_id) = m
            .target_group_identity
            .value()
            .and_then(|t| t.id.value())
            .and_then(|id| id.parse::<Guid>().ok())
        else {
            continue;
        };
        if let Some(other) = held_groups.get(&target_id) {
            say(true, held_claim(target_id, other));
        }
        match claimed.get(&target_id) {
            Some((first, other)) => say(true, also_claimed(target_id, other, *first)),
            None => {
                claimed.insert(target_id, (*line, *key));
            }
        }
        let Some(t) = target.group_by_id(target_id) else {
            say(true, format!("target group {target_id} is not in the target directory"));
            continue;
        };
        let kind = m.group_type.value().cloned().unwrap_or(GroupType::None);
        let m365 = t.kind() == GroupKind::Microsoft365;
        match (&kind, m365) {
            (GroupType::M365Group, false) => say(
                true,
                format!("group type m365Group, but target group {target_id} is not a Microsoft 365 group"),
            ),
            (GroupType::RegularGroup, true) => say(
                true,
                format!("group type regularGroup, but target group {target_id} is a Microsoft 365 group (m365Group)"),
            ),
            _ => {}
        }
        if kind == GroupType::M365Group {
            let alias = m
                .target_group_migration_data
                .value()
                .and_then(|d| d.mail_nickname.value())
                .cloned()
                .unwrap_or_default();
            if !alias.eq_ignore_ascii_case(t.mail_nickname()) {
                say(
                    true,
                    format!(
                        "Microsoft 365 alias {alias:?} is not target group {target_id}'s mailNickname {:?}",
                        t.mail_nickname()
                    ),
                );
            }
        }
    }

    findings.sort_by_key(|f| (f.line, !f.error));
    Findings(findings)
}

/// The error of a row whose source tenant id is not the source organization's.
fn other_organization(stated: Option<&Guid>, org: Guid) -> Option<String> {
    stated
        .filter(|g| **g != org)
        .map(|g| format!("source tenant id {g} is not the source organization's ({org})"))
}

/// The error of a row whose target an earlier row (on `first`, 0 when there are no lines) claimed.
fn also_claimed(target: impl std::fmt::Display, other: impl std::fmt::Display, first: u64) -> String {
    let at = if first > 0 {
        format!(" (line {first})")
    } else {
        String::new()
    };
    format!("target {target} is also the target of {other}{at}")
}

/// The error of a row whose target a mapping the service keeps, of another source, already has.
fn held_claim(target: impl std::fmt::Display, other: impl std::fmt::Display) -> String {
    format!("target {target} is also the target of {other}, a mapping the service holds and this push keeps")
}

/// The mappings the service holds that a push without --replace keeps beside the file's rows: their
/// targets are taken.
#[derive(Clone, Copy)]
pub(crate) struct Held<'a> {
    /// The user mappings held.
    pub(crate) users: &'a MemoryTable<User>,
    /// The group mappings held.
    pub(crate) groups: &'a MemoryTable<Group>,
}

/// `verify` found errors (exit 1); they were printed.
#[derive(Debug)]
pub(crate) struct MapErrors(usize);

impl std::fmt::Display for MapErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the map has {} error(s)", self.0)
    }
}

impl std::error::Error for MapErrors {}

/// (line, message) of a reader problem `NAME:LINE[:COL]: message`.
fn split_location(name: &str, problem: &str) -> (u64, String) {
    let rest = problem
        .strip_prefix(name)
        .and_then(|r| r.strip_prefix(':'))
        .unwrap_or(problem);
    let mut parts = rest.splitn(2, ": ");
    let location = parts.next().unwrap_or("");
    let message = parts.next().unwrap_or(rest).to_owned();
    let mut numbers = location.split(':');
    let line = numbers.next().and_then(|l| l.parse().ok()).unwrap_or(0);
    match numbers.next() {
        Some(col) => (line, format!("column {col}: {message}")),
        None => (line, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(verify: bool, no_verify: bool, source: Option<&str>, target: Option<&str>) -> CheckArgs {
        CheckArgs {
            verify,
            no_verify,
            source_tenant: source.map(str::to_owned),
            target_tenant: target.map(str::to_owned),
            source_token: None,
            target_token: None,
        }
    }

    /// The check is made when both tenants are named, never with --no-verify, and --verify without both
    /// is refused input (exit 2), not a push left unchecked.
    #[test]
    fn the_check_is_made_when_both_tenants_are_named_and_required_by_verify() {
        let both = (Some("contoso"), Some("fabrikam"));
        let made = |c: CheckArgs| c.tenants().unwrap().map(|t| (t.source_tenant, t.target_tenant));
        let pair = Some(("contoso".to_owned(), "fabrikam".to_owned()));
        assert_eq!(made(check(false, false, both.0, both.1)), pair);
        assert_eq!(made(check(true, false, both.0, both.1)), pair);
        assert_eq!(made(check(false, true, both.0, both.1)), None);
        assert_eq!(made(check(false, false, Some("contoso"), None)), None);
        let refused = check(true, false, Some("contoso"), None).tenants().unwrap_err();
        assert!(refused.downcast_ref::<Refused>().is_some(), "{refused}");
        assert!(refused.to_string().contains("--target-tenant"), "{refused}");
    }
}
