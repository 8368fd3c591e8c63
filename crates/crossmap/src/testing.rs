//! The emulator in your test's process, in one line (feature `testing`).
//!
//! [`Emulator::start`] serves the emulator's router (`crossmap-server`) on a free loopback port, on a
//! tokio task of the calling runtime, over an in-memory store, with one app registered holding every role.
//! It gives the URLs, a ready [`Client`] for its tenant, tokens, and the admin plane's calls (reset, the
//! request journal, fault rules); dropping it stops the server. For a data directory, another tenant or
//! the admin plane's options, [`Emulator::builder`]. What those calls take is re-exported here from
//! `crossmap-server`: [`FaultConfig`] and its [`FaultRule`]s, [`AdminOptions`], the roles ([`ROLES`],
//! [`READ_ROLE`], [`MANAGE_ROLE`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use crossmap::testing::Emulator;
//!
//! let emulator = Emulator::start().await?;
//! assert!(emulator.base_url().ends_with("/beta"));
//! let _client = emulator.client()?;
//! emulator.reset().await?;
//! assert!(emulator.journal().await?.is_empty());
//! # Ok(())
//! # }
//! ```

use crossmap_client::{Client, ClientBuilder, ClientError};
use crossmap_server::{App, AppState, Auth, AuthError, ServeOptions};
use crossmap_store::{Store, StoreError};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

// What a test hands to the emulator's calls, here so that a test needs no other import.
pub use crossmap_server::{AdminOptions, FaultConfig, FaultMatch, FaultRule, MANAGE_ROLE, READ_ROLE, ROLES};

/// The tenant an emulator serves unless told otherwise ([`EmulatorBuilder::tenant`]).
pub const DEFAULT_TENANT: &str = "11111111-1111-1111-1111-111111111111";

/// The client id of the app every emulator registers, with every role ([`ROLES`]).
pub const CLIENT_ID: &str = "crossmap-testing";

/// What can go wrong starting, calling or stopping an [`Emulator`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// No loopback port could be bound.
    #[error("could not listen on 127.0.0.1: {0}")]
    Bind(#[source] std::io::Error),
    /// The data directory could not be opened.
    #[error("could not open the emulator's store: {0}")]
    Store(#[from] StoreError),
    /// No signing key or secret could be made or read.
    #[error("could not set up the emulator's token issuer: {0}")]
    Auth(#[from] AuthError),
    /// The client could not be built.
    #[error("could not build a client for the emulator: {0}")]
    Client(#[from] ClientError),
    /// An admin-plane call did not get an answer, or its answer could not be read.
    #[error("the admin call {call} failed: {source}")]
    Admin {
        /// The call, e.g. `POST /_crossmap/reset`.
        call: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// An admin-plane call was refused.
    #[error("the admin call {call} answered {status}: {body}")]
    Refused {
        /// The call, e.g. `PUT /_crossmap/faults`.
        call: String,
        /// The HTTP status.
        status: u16,
        /// The answer's body (Graph's error shape).
        body: String,
    },
    /// Another emulator of this process still serves the data directory: two stores appending to one
    /// log would corrupt it.
    #[error(
        "the data directory {} is in use by another emulator of this process: `shutdown().await` it before \
         opening the directory again",
        .0.display()
    )]
    DirectoryInUse(PathBuf),
    /// The server's task ended in an error or panicked.
    #[error("the emulator's server failed: {0}")]
    Server(String),
}

/// One request the emulator received, as its journal (`GET /_crossmap/requests`) records it; see
/// `docs/emulator.md`, "The admin plane".
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct JournalEntry {
    /// The entry's number, increasing.
    pub seq: u64,
    /// When it arrived, RFC 3339 with milliseconds.
    pub time: String,
    /// The HTTP method.
    pub method: String,
    /// The path, as sent (still percent-encoded).
    pub path: String,
    /// The status answered; `None` when a fault dropped the connection unanswered.
    pub status: Option<u16>,
    /// How long the answer took, in milliseconds.
    pub duration_ms: f64,
    /// The verified token's tenant (`None` before authentication).
    pub tenant: Option<String>,
    /// The verified token's app.
    pub app_id: Option<String>,
    /// The `client-request-id` sent.
    pub client_request_id: Option<String>,
    /// The `request-id` answered.
    pub request_id: String,
    /// The `User-Agent` sent.
    pub user_agent: Option<String>,
    /// The `Retry-Attempt` header sent.
    pub retry_attempt: Option<u64>,
    /// The number of items in a delta PATCH's body.
    pub items: Option<usize>,
    /// The fault rules that acted on the request.
    pub fault: Option<String>,
}

/// The data directories of this process's running emulators.
static DIRECTORIES_IN_USE: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// How long [`EmulatorBuilder::start`] waits for an emulator on the same directory to stop: a dropped
/// one stops within its one-second shutdown deadline.
const DIRECTORY_WAIT: Duration = Duration::from_secs(3);

/// A data directory taken for one emulator, given back when the emulator and its server are gone.
#[derive(Debug)]
struct DirectoryLease(PathBuf);

impl DirectoryLease {
    /// Takes `dir` (created if missing), waiting up to [`DIRECTORY_WAIT`] for another emulator of this
    /// process to give it back.
    async fn take(dir: &Path) -> Result<DirectoryLease, EmulatorError> {
        // One name per directory, however it is spelled; a directory that cannot be made is the
        // store's error to report, under the name given.
        let _ = std::fs::create_dir_all(dir);
        let dir = std::fs::canonicalize(dir)
            .or_else(|_| std::path::absolute(dir))
            .unwrap_or_else(|_| dir.to_owned());
        let deadline = Instant::now() + DIRECTORY_WAIT;
        loop {
            if lock_directories().insert(dir.clone()) {
                return Ok(DirectoryLease(dir));
            }
            if Instant::now() >= deadline {
                return Err(EmulatorError::DirectoryInUse(dir));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for DirectoryLease {
    fn drop(&mut self) {
        lock_directories().remove(&self.0);
    }
}

fn lock_directories() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
    // The set stays consistent whatever panicked while holding it: each call is one insert or remove.
    DIRECTORIES_IN_USE.lock().unwrap_or_else(|e| e.into_inner())
}

/// How to start an [`Emulator`]: [`Emulator::builder`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct EmulatorBuilder {
    durable: Option<PathBuf>,
    tenant: Option<String>,
    admin: Option<AdminOptions>,
}

impl EmulatorBuilder {
    /// Keeps the mappings in the data directory `dir` (created if missing), as `crossmap serve
    /// --data-dir` does; its signing key too, so tokens outlive a restart on the same directory.
    ///
    /// One emulator of a process at a time serves a directory: [`EmulatorBuilder::start`] on a
    /// directory in use waits for the other emulator to stop (a dropped one stops within a second;
    /// [`Emulator::shutdown`] waits for it), and after three seconds fails with
    /// [`EmulatorError::DirectoryInUse`]. Tests running in parallel each need their own directory.
    /// (Another process on the same directory is refused by the store's lock: `EmulatorError` wraps its
    /// `StoreError::InUse`.)
    pub fn durable(mut self, dir: impl Into<PathBuf>) -> Self {
        self.durable = Some(dir.into());
        self
    }

    /// The tenant [`Emulator::client`] and [`Emulator::token`] act for: a GUID, or a name such as
    /// `contoso` (default [`DEFAULT_TENANT`]).
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// The admin plane's options (default [`AdminOptions::default`]: on, no token, a 10,000-request
    /// journal, no faults). With an admin token set, [`Emulator`]'s admin calls send it.
    pub fn admin(mut self, options: AdminOptions) -> Self {
        self.admin = Some(options);
        self
    }

    /// Starts the emulator on a free loopback port, served on a task of the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub async fn start(self) -> Result<Emulator, EmulatorError> {
        let secret = crossmap_server::random_hex(16)?;
        let app = App {
            client_id: CLIENT_ID.to_owned(),
            secret: secret.clone(),
            roles: ROLES.iter().map(|r| (*r).to_owned()).collect(),
        };
        let mut lease = None;
        let (store, auth) = match self.durable {
            None => (Store::in_memory(), Auth::ephemeral(vec![app])?),
            Some(dir) => {
                lease = Some(Arc::new(DirectoryLease::take(&dir).await?));
                // Opening replays the log and waits for fsyncs: off the async workers.
                let opened = tokio::task::spawn_blocking(move || -> Result<_, EmulatorError> {
                    let key = Auth::key_in(&dir)?;
                    Ok((Store::open(&dir)?, Auth::new(key, vec![app])))
                })
                .await
                .map_err(|e| EmulatorError::Server(e.to_string()))?;
                opened?
            }
        };
        let admin = self.admin.unwrap_or_default();
        let admin_token = admin.token.clone();
        let state = AppState::new(store, auth).with_admin(admin);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(EmulatorError::Bind)?;
        let origin = format!("http://{}", listener.local_addr().map_err(EmulatorError::Bind)?);
        let (stop, stopped) = oneshot::channel::<()>();
        let options = ServeOptions {
            // A test's emulator stops quickly: requests still in flight after a second are cut.
            shutdown_deadline: Duration::from_secs(1),
            ..ServeOptions::default()
        };
        let router = crossmap_server::router(state.clone());
        let server_lease = lease.clone();
        let server = tokio::spawn(async move {
            let served = crossmap_server::serve(listener, router, options, async {
                let _ = stopped.await;
            })
            .await;
            // The router, and with it the server's hold on the store, is gone: the directory may go too.
            drop(server_lease);
            served
        });
        tracing::debug!(%origin, "emulator started");
        Ok(Emulator {
            tenant: crossmap_server::tenant_id(self.tenant.as_deref().unwrap_or(DEFAULT_TENANT)),
            origin,
            secret,
            admin_token,
            state,
            http: reqwest::Client::new(),
            stop: Some(stop),
            server: Some(server),
            _lease: lease,
        })
    }
}

/// The emulator, serving on a loopback port until dropped (or [`Emulator::shutdown`]).
///
/// Dropping it signals the server to stop: it takes no new connections, and requests in flight get up
/// to a second to finish; [`Emulator::shutdown`] also waits for that.
#[derive(Debug)]
pub struct Emulator {
    origin: String,
    tenant: String,
    secret: String,
    admin_token: Option<String>,
    state: AppState,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    /// The data directory, held with the server's task (`None` in memory).
    _lease: Option<Arc<DirectoryLease>>,
}

impl Emulator {
    /// Starts an emulator with the defaults: in memory, tenant [`DEFAULT_TENANT`]; see
    /// [`EmulatorBuilder::start`].
    pub async fn start() -> Result<Emulator, EmulatorError> {
        Emulator::builder().start().await
    }

    /// Sets up an emulator with a data directory, another tenant or admin options.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// The base URL of the Graph calls, version segment included: `http://127.0.0.1:PORT/beta`.
    pub fn base_url(&self) -> String {
        format!("{}/beta", self.origin)
    }

    /// Scheme, host and port, `http://127.0.0.1:PORT`: where the admin plane (`/_crossmap/`) and the
    /// token endpoint (`/{tenant}/oauth2/v2.0/token`) live.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tenant the client and tokens act for, as tokens carry it (`tid`).
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The client id of the registered app ([`CLIENT_ID`]), for a tool of your own to sign in with.
    pub fn client_id(&self) -> &str {
        CLIENT_ID
    }

    /// The registered app's secret (random per emulator).
    pub fn client_secret(&self) -> &str {
        &self.secret
    }

    /// A bearer token for the tenant carrying `roles` (e.g. [`READ_ROLE`]), minted as
    /// the token endpoint would.
    pub fn token(&self, roles: &[&str]) -> String {
        let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        self.state.auth().mint(&self.tenant, CLIENT_ID, &roles)
    }

    /// A client for the tenant, signing in with the registered app's client credentials (the token
    /// authority, the emulator's origin, follows from the base URL: [`crossmap_client::authority_for`]).
    pub fn client(&self) -> Result<Client, EmulatorError> {
        Ok(self.client_builder().build()?)
    }

    /// The builder of [`Emulator::client`], to set more (concurrency, retries, traffic decoration)
    /// before [`ClientBuilder::build`].
    pub fn client_builder(&self) -> ClientBuilder {
        Client::builder()
            .base_url(self.base_url())
            .client_credentials(&self.tenant, CLIENT_ID, &self.secret)
    }

    /// The server's state: its store, token issuer and admin plane, as the router shares them.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Forgets every tenant's mappings and directory (`POST /_crossmap/reset`).
    pub async fn reset(&self) -> Result<(), EmulatorError> {
        self.admin(reqwest::Method::POST, "reset", None).await.map(drop)
    }

    /// Forgets one tenant's mappings and directory (`POST /_crossmap/reset?tenant=T`).
    pub async fn reset_tenant(&self, tenant: &str) -> Result<(), EmulatorError> {
        let tenant = percent_encoding::utf8_percent_encode(tenant, percent_encoding::NON_ALPHANUMERIC);
        self.admin(reqwest::Method::POST, &format!("reset?tenant={tenant}"), None)
            .await
            .map(drop)
    }

    /// The request journal, oldest first (`GET /_crossmap/requests`): every request outside the admin
    /// plane, up to the journal's size.
    pub async fn journal(&self) -> Result<Vec<JournalEntry>, EmulatorError> {
        #[derive(Deserialize)]
        struct Page {
            value: Vec<JournalEntry>,
        }
        let call = "GET /_crossmap/requests";
        let body = self.admin(reqwest::Method::GET, "requests", None).await?;
        let page: Page = serde_json::from_str(&body).map_err(|e| EmulatorError::Refused {
            call: call.to_owned(),
            status: 200,
            body: format!("an unreadable journal ({e}): {body}"),
        })?;
        Ok(page.value)
    }

    /// Empties the journal (`DELETE /_crossmap/requests`); its numbering goes on.
    pub async fn clear_journal(&self) -> Result<(), EmulatorError> {
        self.admin(reqwest::Method::DELETE, "requests", None).await.map(drop)
    }

    /// Puts `faults` in force (`PUT /_crossmap/faults`); `FaultConfig::default()` turns faults off.
    pub async fn set_faults(&self, faults: &FaultConfig) -> Result<(), EmulatorError> {
        let body = serde_json::to_string(faults).map_err(|e| EmulatorError::Server(e.to_string()))?;
        self.admin(reqwest::Method::PUT, "faults", Some(body)).await.map(drop)
    }

    /// Stops the server and waits until it has: requests in flight get up to a second to finish.
    pub async fn shutdown(mut self) -> Result<(), EmulatorError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.server.take() {
            Some(server) => match server.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(EmulatorError::Server(e.to_string())),
                Err(e) => Err(EmulatorError::Server(e.to_string())),
            },
            None => Ok(()),
        }
    }

    /// Calls `/_crossmap/{path}`, giving the answer's body when it is a success.
    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<String>) -> Result<String, EmulatorError> {
        let call = format!("{method} /_crossmap/{path}");
        let mut request = self.http.request(method, format!("{}/_crossmap/{path}", self.origin));
        if let Some(token) = &self.admin_token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body);
        }
        let failed = |source| EmulatorError::Admin {
            call: call.clone(),
            source,
        };
        let response = request.send().await.map_err(failed)?;
        let status = response.status();
        let text = response.text().await.map_err(failed)?;
        if !status.is_success() {
            return Err(EmulatorError::Refused {
                call,
                status: status.as_u16(),
                body: text,
            });
        }
        Ok(text)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // The server task sees the signal and stops on its own; nothing here can wait for it.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
