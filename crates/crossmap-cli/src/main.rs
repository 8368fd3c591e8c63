//! `crossmap`: the command line of the crossmap toolkit.
//!
//! `plan` and `push` turn the admins' identity-map CSV (or JSON Lines) into the smallest set of delta
//! requests and apply them, against Graph or the emulator; `get` and `export` read mappings back; `serve`
//! runs the emulator and `token` mints a bearer token for it; `ids` shows ids and key segments.

// A command-line tool reports on its terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod matching;
mod remote;

/// jemalloc, not the system's allocator: a push of a million rows frees one kind's rows while it holds
/// the other's, and glibc kept the freed memory as holes between the rows still held (peak 388 MiB
/// against 324 MiB with jemalloc, `docs/performance.md`). Not on MSVC, which jemalloc does not build for.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use crossmap_cli::input;
use crossmap_model::{
    GroupKey, IdentityMapping, MappingId, MappingKey, SharePointGroupIdentityMapping, SharePointUserIdentityMapping,
    UserKey,
};

/// Tools for Microsoft Graph's SharePoint cross-tenant identity-mapping API.
#[derive(Debug, Parser)]
#[command(name = "crossmap", version, about, after_help = EXIT_STATUS)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The exit codes, as a literal for `concat!`: the one table, shown in every command's help.
macro_rules! exit_status {
    () => {
        "Exit status:\n  0  done (or nothing to do)\n  1  some items were not applied, or the service failed\n  2  usage error or refused input (a bad file, a refused push): nothing was sent"
    };
}

/// The exit codes, shown in every command's help.
const EXIT_STATUS: &str = exit_status!();

/// `match`'s exit codes: the common ones, and the one `--fail-on-review` adds.
const MATCH_EXIT_STATUS: &str = concat!(
    exit_status!(),
    "\n  3  --fail-on-review: some source objects need review (ambiguous, conflict, unmatched); both files\n     were written"
);

#[derive(Debug, Subcommand)]
#[command(after_help = EXIT_STATUS)]
enum Command {
    /// Show what pushing FILE would change: creates, updates (each changed property as old -> new),
    /// removals.
    #[command(after_help = EXIT_STATUS)]
    Plan {
        #[command(flatten)]
        conn: remote::Connection,
        #[command(flatten)]
        file: FileArgs,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        check: matching::CheckArgs,
    },
    /// Apply FILE: send only what differs, with progress; failed items are listed with their Graph error.
    ///
    /// Without a terminal to confirm on, push changes nothing unless --yes is given. A push that would
    /// remove more than --max-removals mappings is refused before anything is sent, --yes or not; so is a
    /// map that `verify` finds errors in, when both tenants are named (or with --verify).
    #[command(after_help = EXIT_STATUS)]
    Push {
        #[command(flatten)]
        conn: remote::Connection,
        #[command(flatten)]
        file: FileArgs,
        /// Apply without asking (required when there is no terminal, as in a script).
        #[arg(long, short = 'y')]
        yes: bool,
        /// The most mappings this push may remove: a number, or `all` [default: 10% of the mappings the
        /// service holds, or 100, whichever is larger].
        #[arg(long, value_name = "N|all")]
        max_removals: Option<remote::MaxRemovals>,
        #[command(flatten)]
        check: matching::CheckArgs,
    },
    /// Build the identity map from the source and target tenants' directories, by ordered exact rules.
    ///
    /// Writes the map (matched rows only, pushable as is) and a review list of every source user and group
    /// with its status (matched, ambiguous, conflict, unmatched, excluded), the rule that decided and why.
    /// Display names never decide. The rules: docs/matching.md.
    // Match reads the two tenants named by --source-tenant and --target-tenant, and keeps no push
    // record: the connection's --tenant and --state mean nothing to it, so its help leaves them out.
    #[command(after_help = MATCH_EXIT_STATUS, mut_arg("tenant", |a| a.hide(true)), mut_arg("state", |a| a.hide(true)))]
    Match {
        #[command(flatten)]
        conn: remote::Connection,
        #[command(flatten)]
        tenants: matching::Tenants,
        #[command(flatten)]
        args: matching::MatchArgs,
    },
    /// Check a map (hand-made or not) against both directories: every problem as FILE:LINE: error|warning.
    ///
    /// Errors: a source or target that does not exist, one target in two rows, a Microsoft 365 alias that is
    /// not the target group's mailNickname, a group type that is not the target group's kind, a source
    /// tenant id that is not the source organization's. Warnings: a target e-mail that is not one of the
    /// target's addresses, a disabled target account. Exit 1 on any error.
    #[command(after_help = EXIT_STATUS)]
    Verify {
        #[command(flatten)]
        conn: remote::Connection,
        #[command(flatten)]
        tenants: matching::Tenants,
        /// The map to check: the admins' CSV or JSON Lines (.jsonl). Leave out with --remote.
        #[arg(required_unless_present = "remote")]
        file: Option<std::path::PathBuf>,
        /// Check the mappings the service holds instead of a file.
        #[arg(long, conflicts_with = "file")]
        remote: bool,
        /// The CSV delimiter: comma, semicolon or tab (found from the first data row if not given).
        #[arg(long, value_parser = parse_delimiter)]
        delimiter: Option<u8>,
    },
    /// Show one mapping.
    Get {
        #[command(flatten)]
        conn: remote::Connection,
        /// user or group.
        #[arg(value_parser = ["user", "group"])]
        kind: String,
        /// The source UPN (user) or source group object id (group).
        key: String,
        /// Only these properties, comma-separated.
        #[arg(long)]
        select: Option<String>,
    },
    /// Write the mappings out: the admins' CSV (pushable back) or JSON Lines.
    Export {
        #[command(flatten)]
        conn: remote::Connection,
        /// csv or jsonl.
        #[arg(long, default_value = "csv", value_parser = ["csv", "jsonl"])]
        format: String,
        /// users, groups or all.
        #[arg(long, default_value = "all", value_parser = ["users", "groups", "all"])]
        kind: String,
    },
    /// Run the emulator: a local stand-in for Graph's identity-mapping endpoints.
    Serve(ServeArgs),
    /// Mint a bearer token for the emulator, signed with the key in its data directory.
    Token(TokenArgs),
    /// Fold the emulator's log into a checkpoint of the current state, offline.
    ///
    /// No emulator may be running on the directory. The directory shrinks to about the state's size and
    /// the next start restores it instead of replaying history. Mirrors' change-feed tokens from before a
    /// removal it drops must resync.
    Compact {
        /// The emulator's data directory.
        #[arg(long, default_value = "./crossmap-data", env = "CROSSMAP_DATA_DIR")]
        data_dir: std::path::PathBuf,
    },
    /// Show the mapping id and the alternate-key URL segment of a source key, or decode a mapping id.
    Ids {
        #[command(subcommand)]
        what: IdsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum IdsCommand {
    /// A user mapping's id and segment, from the source UPN.
    User {
        /// The source user principal name.
        upn: String,
    },
    /// A group mapping's id and segment, from the source group's object id.
    Group {
        /// The source group's Entra object id (a GUID).
        object_id: String,
    },
    /// Which mapping an id names.
    Decode {
        /// A mapping id, as in the `id` property.
        id: String,
    },
}

/// The input file and how to read it.
#[derive(Debug, clap::Args)]
#[command(after_help = concat!(
    "The CSV has six columns, User and Group rows mixed, and no header (a first row whose every cell is a\n",
    "column name is skipped; any other bad row is an error with its line):\n",
    "  User,SourceTenantCompanyID,SourceUserUpn,TargetUserUpn,TargetUserEmail,UserType\n",
    "  Group,SourceTenantCompanyID,SourceGroupObjectID,TargetGroupObjectID,GroupName or M365GroupAlias,GroupType\n",
    "Types are matched without regard to case:\n",
    "  UserType: regularUser (also member, user, regular), adminUser (also admin, administrator),\n",
    "            guestUser (also guest, external), none\n",
    "  GroupType: regularGroup (also security, securitygroup, group, regular),\n",
    "             m365Group (also m365, microsoft365, \"microsoft 365\", unified, o365, office365), none\n",
    "Encodings: UTF-8 (with or without BOM), UTF-16 with a BOM (Excel's \"Unicode Text\"), else Windows-1252.\n",
    "Delimiters: comma, semicolon or tab, found from the first data row (or --delimiter).\n",
    "An empty cell states nothing: without --replace the property is left as the service has it.\n",
    "A .jsonl file holds one wire mapping per line.\n\n",
    exit_status!()
))]
struct FileArgs {
    /// The identity map: the admins' CSV, or JSON Lines (.jsonl).
    file: std::path::PathBuf,
    /// The file is the complete map (as Add-SPOTenantIdentityMap uploads are): remove mappings not in it,
    /// and clear properties its rows leave empty. An empty file is refused.
    #[arg(long)]
    replace: bool,
    /// Make warnings (two sources mapped to one target, an encoding guessed, ...) errors.
    #[arg(long)]
    strict: bool,
    /// The CSV delimiter: comma, semicolon or tab (found from the first data row if not given).
    #[arg(long, value_parser = parse_delimiter)]
    delimiter: Option<u8>,
}

impl FileArgs {
    fn options(&self) -> input::ReadOptions {
        input::ReadOptions {
            strict: self.strict,
            delimiter: self.delimiter,
            jsonl: false,
            keep_lines: false,
            keep_going: false,
        }
    }
}

fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "," | "comma" => Ok(b','),
        ";" | "semicolon" => Ok(b';'),
        "\t" | "\\t" | "tab" => Ok(b'\t'),
        _ => Err(format!("{s:?}: expected comma (,), semicolon (;) or tab")),
    }
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "CROSSMAP_ADDR")]
    addr: std::net::SocketAddr,
    /// Where the mappings and the token-signing key are kept.
    #[arg(long, default_value = "./crossmap-data", env = "CROSSMAP_DATA_DIR")]
    data_dir: std::path::PathBuf,
    /// Keep nothing on disk: mappings and tokens die with the process.
    #[arg(long)]
    in_memory: bool,
    /// Register an app as CLIENT_ID:SECRET:ROLE[,ROLE]; repeatable. Roles: read, manage (the mapping
    /// permissions), directory (every directory read), or full names: SharePointCrossTenantMigration.Read.All,
    /// SharePointCrossTenantMigration.Manage.All, User.Read.All, User.ReadWrite.All, GroupMember.Read.All,
    /// Group.Read.All, Group.ReadWrite.All, Directory.Read.All, Directory.ReadWrite.All, Organization.Read.All.
    /// Without any, a dev app with every role is registered and printed.
    #[arg(long = "app", value_name = "CLIENT_ID:SECRET:ROLES")]
    apps: Vec<crossmap_server::App>,
    /// Seed a tenant's directory (users, groups, organization) from FILE, JSON Lines of Graph objects each
    /// with its "@odata.type"; repeatable. TENANT as tokens name it: a GUID, or a name such as contoso.
    /// Objects already stored exactly so are left alone (restarting with the same file changes nothing);
    /// a stored id with other contents is replaced; stored objects the file does not name are kept.
    #[arg(long = "directory", value_name = "TENANT=FILE", value_parser = parse_directory)]
    directories: Vec<(String, std::path::PathBuf)>,
    /// Load a tenant's mappings from FILE at start: the admins' CSV or JSON Lines (.jsonl), read and
    /// checked as `crossmap push` reads them, applied as Graph's delta PATCH applies them; repeatable.
    /// Idempotent: mappings already stored so are left alone (loading twice changes nothing); mappings
    /// the file does not name are kept.
    #[arg(long = "load", value_name = "TENANT=FILE", value_parser = parse_load)]
    loads: Vec<(String, std::path::PathBuf)>,
    /// Turn the admin plane (/_crossmap/: health, reset, request journal, faults, console) off.
    #[arg(long)]
    no_admin: bool,
    /// Require `Authorization: Bearer T` on every admin call. Needed when --addr is not a loopback
    /// address: otherwise anyone who can reach the port could reset or fault the emulator.
    #[arg(long, value_name = "T", env = "CROSSMAP_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// How many requests the journal (GET /_crossmap/requests) keeps, the newest; 0 keeps none.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    journal: usize,
    /// Fault rules in force from the start: the JSON document PUT /_crossmap/faults takes
    /// ({"seed": 42, "rules": [...]}; docs/emulator.md).
    #[arg(long, value_name = "FILE")]
    faults: Option<std::path::PathBuf>,
    /// Emulate Graph's throttling: a quota of LIMIT resource units per WINDOW (seconds or minutes, e.g.
    /// 1200/60s or 1200/1m) for each app in each tenant; reads cost 1, list pages and writes 2. Past 80%
    /// used, answers carry RateLimit-*; beyond the quota, 429 with Retry-After. Off by default.
    #[arg(long, value_name = "LIMIT/WINDOW")]
    throttle: Option<crossmap_server::ThrottleConfig>,
    /// Compact the log by itself, beside the requests, once it holds this many records and at least a
    /// quarter as many as the checkpoint has rows (so the data directory stays within about twice the
    /// state); 0: only `crossmap compact`.
    #[arg(long, value_name = "RECORDS", default_value_t = 100_000)]
    compact_after: u64,
}

fn parse_directory(s: &str) -> Result<(String, std::path::PathBuf), String> {
    tenant_and_file(s, "contoso=examples/source-directory.jsonl")
}

fn parse_load(s: &str) -> Result<(String, std::path::PathBuf), String> {
    tenant_and_file(s, "contoso=examples/identity-map.csv")
}

fn tenant_and_file(s: &str, example: &str) -> Result<(String, std::path::PathBuf), String> {
    match s.split_once('=') {
        Some((tenant, file)) if !tenant.trim().is_empty() && !file.is_empty() => {
            Ok((tenant.trim().to_owned(), file.into()))
        }
        _ => Err(format!("{s:?}: expected TENANT=FILE, e.g. {example}")),
    }
}

#[derive(Debug, clap::Args)]
struct TokenArgs {
    /// The tenant the token is for (its `tid`): the partition of data it reaches.
    #[arg(long, default_value = "00000000-0000-0000-0000-000000000001")]
    tenant: String,
    /// The application id the token names.
    #[arg(long, default_value = "crossmap-cli")]
    app_id: String,
    /// Roles: read, manage, or the full permission names.
    #[arg(long, value_delimiter = ',', default_value = "manage")]
    roles: Vec<String>,
    /// The emulator's data directory, whose signing key signs the token.
    #[arg(long, default_value = "./crossmap-data", env = "CROSSMAP_DATA_DIR")]
    data_dir: std::path::PathBuf,
}

fn main() -> std::process::ExitCode {
    // clap answers usage errors itself, with exit code 2.
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The reader of our output went away (`crossmap export | head`): what it wanted, it got.
        Err(e) if is_broken_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` is the message and its causes on one line: never a backtrace, whatever
            // RUST_BACKTRACE says (panics keep theirs).
            let refused = e.downcast_ref::<remote::Refused>().is_some()
                || e.downcast_ref::<input::InputError>().is_some()
                || e.downcast_ref::<input::Problems>().is_some()
                || e.downcast_ref::<crossmap_server::SeedError>().is_some();
            let review = e.downcast_ref::<matching::NeedsReview>().is_some();
            if e.downcast_ref::<remote::NotApplied>().is_some()
                || e.downcast_ref::<input::Problems>().is_some()
                || e.downcast_ref::<matching::MapErrors>().is_some()
                || review
            {
                eprintln!("{e}");
            } else {
                eprintln!("error: {e:#}");
            }
            std::process::ExitCode::from(match (review, refused) {
                (true, _) => 3,
                (_, true) => 2,
                _ => 1,
            })
        }
    }
}

/// Whether `e` is a write to a closed pipe, at any depth of its causes.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Token(args) => token(args),
        Command::Compact { data_dir } => compact(&data_dir),
        Command::Ids { what } => ids(what),
        Command::Plan {
            conn,
            file,
            json,
            check,
        } => runtime()?.block_on(remote::plan_command(
            &conn,
            &file.file,
            &file.options(),
            file.replace,
            json,
            &check,
        )),
        Command::Push {
            conn,
            file,
            yes,
            max_removals,
            check,
        } => runtime()?.block_on(remote::push_command(
            &conn,
            &file.file,
            &file.options(),
            file.replace,
            yes,
            max_removals,
            &check,
        )),
        Command::Get {
            conn,
            kind,
            key,
            select,
        } => runtime()?.block_on(remote::get_command(&conn, &kind, &key, select)),
        Command::Export { conn, format, kind } => runtime()?.block_on(remote::export_command(&conn, &format, &kind)),
        Command::Match { conn, tenants, args } => runtime()?.block_on(matching::match_command(&conn, &tenants, &args)),
        Command::Verify {
            conn,
            tenants,
            file,
            delimiter,
            ..
        } => {
            let options = input::ReadOptions {
                delimiter,
                ..input::ReadOptions::default()
            };
            runtime()?.block_on(matching::verify_command(&conn, &tenants, file.as_deref(), &options))
        }
    }
}

/// The runtime of the client commands: one thread. They wait on the network far more than they compute,
/// and one thread allocates from one malloc arena: on a multi-threaded runtime, each worker's arena keeps
/// its own freed memory, which cost a push of 100,000 rows a quarter of its peak.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The tenant of the dev app's printed token.
const DEV_TENANT: &str = "00000000-0000-0000-0000-000000000001";

fn serve(args: ServeArgs) -> Result<()> {
    let admin = admin_options(&args)?;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: not into log files or CI output.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let (store, key) = if args.in_memory {
        (crossmap_store::Store::in_memory(), None)
    } else {
        let auto = (args.compact_after > 0).then_some(crossmap_store::AutoCompact {
            min_records: args.compact_after,
        });
        let options = crossmap_store::StoreOptions::default().auto_compact(auto);
        let store = crossmap_store::Store::open_with(&args.data_dir, options)
            .with_context(|| format!("opening the data directory {}", args.data_dir.display()))?;
        (store, Some(crossmap_server::Auth::key_in(&args.data_dir)?))
    };
    for (tenant, file) in &args.directories {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let report = crossmap_server::seed_directory(&store, tenant, &text)
            .with_context(|| format!("seeding the directory of {tenant} from {}", file.display()))?;
        let o = report.outcome;
        println!(
            "directory {}: {} users, {} groups{} from {} ({} created, {} replaced, {} unchanged)",
            report.tenant,
            report.users,
            report.groups,
            if report.organization { ", the organization" } else { "" },
            file.display(),
            o.created,
            o.replaced,
            o.unchanged
        );
    }
    for (tenant, file) in &args.loads {
        load(&store, tenant, file)?;
    }
    let mut apps = args.apps;
    let dev = apps.is_empty();
    if dev {
        let secret = crossmap_server::random_hex(16)?;
        apps.push(
            format!("crossmap-dev:{secret}:read,manage,User.ReadWrite.All,Group.ReadWrite.All,Directory.Read.All")
                .parse()?,
        );
    }
    let auth = match key {
        Some(key) => crossmap_server::Auth::new(key, apps),
        None => crossmap_server::Auth::ephemeral(apps)?,
    };
    if dev {
        let app = &auth.apps()[0];
        println!("dev app: client_id={} client_secret={}", app.client_id, app.secret);
        println!(
            "bearer token (tenant {DEV_TENANT}, 1 hour): {}",
            auth.mint(DEV_TENANT, &app.client_id, &app.roles)
        );
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("listening on {}", args.addr))?;
        println!(
            "crossmap emulator on http://{}/beta ({})",
            listener.local_addr()?,
            if args.in_memory {
                "in memory".to_owned()
            } else {
                format!("data in {}", args.data_dir.display())
            }
        );
        if let Some(q) = args.throttle {
            println!(
                "throttling: {} units per {} s per app and tenant (read {}, list {}, write {})",
                q.limit,
                q.window.as_secs_f64(),
                q.costs.read,
                q.costs.list,
                q.costs.write
            );
        }
        let app = crossmap_server::router(
            crossmap_server::AppState::new(store, auth)
                .with_admin(admin)
                .with_throttle(args.throttle),
        );
        axum_serve(listener, app).await
    })
}

/// The admin plane as the flags set it up. Refused (exit 2) when it would be open to the network without
/// a token, or when the fault file is not a valid document.
fn admin_options(args: &ServeArgs) -> Result<crossmap_server::AdminOptions> {
    if !args.no_admin && args.admin_token.is_none() && !args.addr.ip().is_loopback() {
        return Err(remote::Refused(format!(
            "--addr {} is not a loopback address: the admin plane (/_crossmap/) would let anyone who can reach \
             it reset the emulator or inject faults. Give --admin-token T (clients then send Authorization: \
             Bearer T), or turn the admin plane off with --no-admin",
            args.addr
        ))
        .into());
    }
    if args.admin_token.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return Err(remote::Refused("--admin-token must not be empty".to_owned()).into());
    }
    let faults = match &args.faults {
        Some(file) => {
            let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            crossmap_server::FaultConfig::from_json(&text)
                .map_err(|e| remote::Refused(format!("{}: not a valid fault document: {e}", file.display())))?
        }
        None => crossmap_server::FaultConfig::default(),
    };
    Ok(crossmap_server::AdminOptions {
        enabled: !args.no_admin,
        token: args.admin_token.clone(),
        journal: args.journal,
        faults,
    })
}

/// `serve --load TENANT=FILE`: the file read as `push` reads it, each kind applied as delta requests of
/// at most 50 items, so that exactly Graph's PATCH validation applies. A mapping stored exactly so is
/// no change, which makes loading idempotent.
fn load(store: &crossmap_store::Store, tenant: &str, file: &std::path::Path) -> Result<()> {
    use crossmap_delta::MappingTable;
    let desired = input::read(file, &input::ReadOptions::default())?;
    for w in &desired.warnings {
        eprintln!("warning: {w}");
    }
    let tenant = crossmap_server::tenant_id(tenant);
    let users = load_kind(store, &tenant, &desired.users)
        .with_context(|| format!("loading the user mappings of {}", file.display()))?;
    let groups = load_kind(store, &tenant, &desired.groups)
        .with_context(|| format!("loading the group mappings of {}", file.display()))?;
    println!(
        "mappings {tenant}: {} users, {} groups from {} ({} changed, {} unchanged)",
        desired.users.len(),
        desired.groups.len(),
        file.display(),
        users + groups,
        desired.len() - users - groups
    );
    Ok(())
}

/// Applies `table` to `tenant`; how many mappings changed.
fn load_kind<M: crossmap_store::StoredKind>(
    store: &crossmap_store::Store,
    tenant: &str,
    table: &impl crossmap_delta::MappingTable<M>,
) -> Result<usize> {
    let before = store.latest_token::<M>(tenant)?;
    // In key order, so that a load numbers its changes the same way every time.
    let mut mappings: Vec<(&M::Key, M)> = table.iter().collect();
    mappings.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for chunk in mappings.chunks(crossmap_model::MAX_DELTA_ITEMS) {
        let request = crossmap_delta::ParsedRequest {
            context: Some(crossmap_model::DELTA_CONTEXT.to_owned()),
            items: chunk
                .iter()
                .map(|(_, m)| Ok(crossmap_model::DeltaItem::Upsert(m.clone())))
                .collect(),
        };
        store.apply::<M>(tenant, request, crossmap_delta::Mode::Atomic)?;
    }
    Ok(usize::try_from(store.latest_token::<M>(tenant)? - before)?)
}

/// Serves until Ctrl-C; then requests in flight get a few seconds to finish, stalled clients none.
async fn axum_serve(listener: tokio::net::TcpListener, app: axum::Router) -> Result<()> {
    let options = crossmap_server::ServeOptions::default();
    crossmap_server::serve(listener, app, options, async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!(deadline = ?options.shutdown_deadline, "stopping: finishing the requests in flight");
    })
    .await
    .context("serving")
}

fn token(args: TokenArgs) -> Result<()> {
    let roles = args
        .roles
        .iter()
        .map(|r| {
            format!("x:y:{r}")
                .parse::<crossmap_server::App>()
                .map(|a| a.roles[0].clone())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let key = crossmap_server::Auth::key_in(&args.data_dir)
        .with_context(|| format!("reading the signing key in {}", args.data_dir.display()))?;
    println!(
        "{}",
        crossmap_server::Auth::new(key, Vec::new()).mint(&args.tenant, &args.app_id, &roles)
    );
    Ok(())
}

fn compact(dir: &std::path::Path) -> Result<()> {
    if !dir.join("crossmap.sqlite").exists() {
        anyhow::bail!("{} holds no emulator data (no crossmap.sqlite)", dir.display());
    }
    // Opening checks every record (checksums, token sequences) before any is folded in.
    let options = crossmap_store::StoreOptions::default().auto_compact(None);
    let store = crossmap_store::Store::open_with(dir, options)
        .with_context(|| format!("opening the data directory {}", dir.display()))?;
    let report = store.compact().context("compacting")?;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "compacted {}: {} log records folded into a checkpoint of {} rows; {:.1} MiB -> {:.1} MiB in {:.1} s",
        dir.display(),
        report.records_removed,
        report.checkpoint_rows,
        mib(report.bytes_before),
        mib(report.bytes_after),
        report.elapsed.as_secs_f64()
    );
    Ok(())
}

fn ids(what: IdsCommand) -> Result<()> {
    match what {
        IdsCommand::User { upn } => {
            let key = UserKey::parse(&upn).context("reading the UPN")?;
            println!(
                "id\t{}\nsegment\t{}",
                SharePointUserIdentityMapping::id_of(&key),
                key.to_segment()
            );
        }
        IdsCommand::Group { object_id } => {
            let key = GroupKey::parse(&object_id).context("reading the group object id")?;
            println!(
                "id\t{}\nsegment\t{}",
                SharePointGroupIdentityMapping::id_of(&key),
                key.to_segment()
            );
        }
        IdsCommand::Decode { id } => match MappingId::decode(&id).context("decoding the id")? {
            MappingId::User(key) => println!("user\t{key}\nsegment\t{}", key.to_segment()),
            MappingId::Group(key) => println!("group\t{key}\nsegment\t{}", key.to_segment()),
        },
    }
    Ok(())
}
