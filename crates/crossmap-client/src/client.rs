//! The client: configuration, the retrying request loop, and the typed calls.

use crate::auth::{ClientCredentials, MICROSOFT_AUTHORITY, TokenProvider};
use crate::error::{ClientError, GraphFailure};
use crate::pacing::{Pacer, Signal};
use crate::retry::RetryPolicy;
use crossmap_delta::{RequestError, Rules, check_envelope, validate_item};
use crossmap_model::{CollectionResponse, DeltaItem, DeltaRequest, EntityResponse, ErrorResponse, MappingKey};
use futures_util::Stream;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Graph's national clouds, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// graph.microsoft.com.
    Global,
    /// graph.microsoft.us (US Government L4).
    UsGov,
    /// dod-graph.microsoft.us (US Government L5, DoD).
    UsGovDod,
    /// microsoftgraph.chinacloudapi.cn (operated by 21Vianet).
    China,
}

impl Cloud {
    /// The beta service root.
    pub fn base_url(self) -> &'static str {
        match self {
            Cloud::Global => "https://graph.microsoft.com/beta",
            Cloud::UsGov => "https://graph.microsoft.us/beta",
            Cloud::UsGovDod => "https://dod-graph.microsoft.us/beta",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn/beta",
        }
    }

    /// The Graph host of the cloud, e.g. `graph.microsoft.us`.
    ///
    /// ```
    /// use crossmap_client::Cloud;
    /// assert!(Cloud::China.base_url().contains(Cloud::China.host()));
    /// ```
    pub fn host(self) -> &'static str {
        match self {
            Cloud::Global => "graph.microsoft.com",
            Cloud::UsGov => "graph.microsoft.us",
            Cloud::UsGovDod => "dod-graph.microsoft.us",
            Cloud::China => "microsoftgraph.chinacloudapi.cn",
        }
    }

    /// The cloud's identity platform, where its tokens come from.
    ///
    /// ```
    /// use crossmap_client::Cloud;
    /// assert_eq!(Cloud::Global.authority(), "https://login.microsoftonline.com");
    /// assert_eq!(Cloud::UsGovDod.authority(), "https://login.microsoftonline.us");
    /// assert_eq!(Cloud::China.authority(), "https://login.chinacloudapi.cn");
    /// ```
    pub fn authority(self) -> &'static str {
        match self {
            Cloud::Global => MICROSOFT_AUTHORITY,
            // GCC High and DoD share one login host.
            Cloud::UsGov | Cloud::UsGovDod => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }

    /// The scope an app asks the cloud's identity platform for: its Graph's `.default`.
    ///
    /// ```
    /// use crossmap_client::Cloud;
    /// assert_eq!(Cloud::UsGov.scope(), "https://graph.microsoft.us/.default");
    /// ```
    pub fn scope(self) -> &'static str {
        match self {
            Cloud::Global => "https://graph.microsoft.com/.default",
            Cloud::UsGov => "https://graph.microsoft.us/.default",
            Cloud::UsGovDod => "https://dod-graph.microsoft.us/.default",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn/.default",
        }
    }

    /// The cloud a service root belongs to, by its host; `None` for any other host (the emulator).
    ///
    /// ```
    /// use crossmap_client::Cloud;
    /// assert_eq!(Cloud::from_base_url("https://Graph.Microsoft.us/beta"), Some(Cloud::UsGov));
    /// assert_eq!(Cloud::from_base_url("http://127.0.0.1:8080/beta"), None);
    /// ```
    pub fn from_base_url(base_url: &str) -> Option<Cloud> {
        let url = reqwest::Url::parse(base_url).ok()?;
        let host = url.host_str()?;
        [Cloud::Global, Cloud::UsGov, Cloud::UsGovDod, Cloud::China]
            .into_iter()
            .find(|c| c.host().eq_ignore_ascii_case(host))
    }

    /// Reads a cloud's name: `global`, `usgov`, `dod`, `china`.
    pub fn from_name(name: &str) -> Option<Cloud> {
        match name.to_ascii_lowercase().as_str() {
            "global" | "public" => Some(Cloud::Global),
            "usgov" | "us-gov" | "gcchigh" => Some(Cloud::UsGov),
            "dod" | "usgov-dod" => Some(Cloud::UsGovDod),
            "china" | "21vianet" => Some(Cloud::China),
            _ => None,
        }
    }
}

/// The token authority for a service root: the one place that derives it, so a caller never keeps the
/// two URLs in step by hand.
///
/// Graph's hosts get their cloud's identity platform ([`Cloud::authority`]); any other host, i.e. the
/// emulator, serves its own token endpoint at its origin, `scheme://host:port`, without `/beta`.
///
/// ```
/// use crossmap_client::authority_for;
/// assert_eq!(authority_for("https://graph.microsoft.com/beta"), "https://login.microsoftonline.com");
/// assert_eq!(authority_for("https://microsoftgraph.chinacloudapi.cn/v1.0"), "https://login.chinacloudapi.cn");
/// assert_eq!(authority_for("http://127.0.0.1:8080/beta"), "http://127.0.0.1:8080");
/// assert_eq!(authority_for("http://localhost:8080/tenant-a/beta/"), "http://localhost:8080");
/// ```
pub fn authority_for(base_url: &str) -> String {
    if let Some(cloud) = Cloud::from_base_url(base_url) {
        return cloud.authority().to_owned();
    }
    match reqwest::Url::parse(base_url) {
        Ok(url) if url.has_host() => url.origin().ascii_serialization(),
        // Not a URL: `build` refuses such a base URL anyway; the text before its path is the best guess.
        _ => {
            let (scheme, rest) = base_url.split_once("://").unwrap_or(("", base_url));
            let host = rest.split('/').next().unwrap_or(rest);
            if scheme.is_empty() {
                host.to_owned()
            } else {
                format!("{scheme}://{host}")
            }
        }
    }
}

/// Counters of what the client did to get its answers.
#[derive(Debug, Default)]
pub struct Counters {
    /// Requests sent, retries included.
    pub requests: AtomicU64,
    /// Retries.
    pub retries: AtomicU64,
    /// 429 answers.
    pub throttles: AtomicU64,
    /// Microseconds requests spent waiting rather than in flight, summed over requests: held back by the
    /// pacing controller (a `Retry-After`, `RateLimit-*` spacing, the concurrency limit) or backing off
    /// before a retry.
    pub waited_us: AtomicU64,
}

impl Counters {
    /// [`Counters::waited_us`] as a duration.
    pub fn waited(&self) -> Duration {
        Duration::from_micros(self.waited_us.load(Ordering::Relaxed))
    }

    fn add_wait(&self, wait: Duration) {
        let us = u64::try_from(wait.as_micros()).unwrap_or(u64::MAX);
        self.waited_us.fetch_add(us, Ordering::Relaxed);
    }
}

/// SharePoint's traffic decoration: the `User-Agent` by which it knows an app's traffic, and favours it
/// when it throttles (`ISV|Company|App/Version` for software vendors, `NONISV|Company|App/Version` for an
/// organisation's own tools).
///
/// ```
/// use crossmap_client::TrafficDecoration;
/// assert_eq!(TrafficDecoration::isv("Contoso", "Mover", "2.1").to_string(), "ISV|Contoso|Mover/2.1");
/// assert_eq!(TrafficDecoration::non_isv("Fabrikam", "Merge", "1").to_string(), "NONISV|Fabrikam|Merge/1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficDecoration {
    isv: bool,
    company: String,
    app: String,
    version: String,
}

impl TrafficDecoration {
    /// An independent software vendor's app.
    pub fn isv(company: impl Into<String>, app: impl Into<String>, version: impl Into<String>) -> Self {
        TrafficDecoration {
            isv: true,
            company: company.into(),
            app: app.into(),
            version: version.into(),
        }
    }

    /// An organisation's own tool.
    pub fn non_isv(company: impl Into<String>, app: impl Into<String>, version: impl Into<String>) -> Self {
        TrafficDecoration {
            isv: false,
            ..TrafficDecoration::isv(company, app, version)
        }
    }

    /// Refuses parts that would break the format: empty, or holding `|`, `/` (in the company or app) or
    /// anything but printable ASCII.
    fn check(&self) -> Result<(), ClientError> {
        for (what, part, slash) in [
            ("company", &self.company, false),
            ("app", &self.app, false),
            ("version", &self.version, true),
        ] {
            let bad = part.is_empty()
                || part.contains('|')
                || (!slash && part.contains('/'))
                || !part.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
            if bad {
                return Err(ClientError::Build(format!(
                    "the traffic decoration's {what} {part:?} must be printable ASCII, not empty, without '|'{}",
                    if slash { "" } else { " or '/'" }
                )));
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for TrafficDecoration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.isv { "ISV" } else { "NONISV" };
        write!(f, "{kind}|{}|{}/{}", self.company, self.app, self.version)
    }
}

/// What the `User-Agent` is.
#[derive(Debug, Clone)]
enum Agent {
    Raw(String),
    Decorated(TrafficDecoration),
}

/// Where the built client's tokens come from.
enum Tokens {
    None,
    Provider(Arc<dyn TokenProvider>),
    /// Client credentials whose authority and scope follow the base URL, settled at `build` time.
    Credentials {
        tenant: String,
        client_id: String,
        secret: String,
    },
}

/// Builds a [`Client`].
///
/// ```
/// use crossmap_client::Client;
/// let client = Client::builder()
///     .base_url("http://127.0.0.1:8080/beta")
///     .client_credentials("contoso", "app", "secret")
///     .concurrency(8)
///     .build()
///     .unwrap();
/// assert_eq!(client.base_url(), "http://127.0.0.1:8080/beta");
/// ```
pub struct ClientBuilder {
    base_url: String,
    tokens: Tokens,
    retry: RetryPolicy,
    concurrency: usize,
    timeout: Duration,
    agent: Agent,
    adaptive: bool,
}

impl ClientBuilder {
    /// The service root, e.g. the emulator's `http://127.0.0.1:8080/beta` (default: Graph global beta). It
    /// must end in a version segment (`/beta` or `/v1.0`): [`ClientBuilder::build`] refuses it otherwise.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// A national cloud's service root.
    pub fn cloud(mut self, cloud: Cloud) -> Self {
        self.base_url = cloud.base_url().to_owned();
        self
    }

    /// Where tokens come from: this or [`ClientBuilder::client_credentials`] is required (the last given
    /// wins).
    pub fn token_provider(mut self, provider: impl TokenProvider) -> Self {
        self.tokens = Tokens::Provider(Arc::new(provider));
        self
    }

    /// Tokens from the client-credentials flow for `tenant`, from the identity platform that goes with the
    /// base URL ([`authority_for`], with the cloud's scope), worked out at [`ClientBuilder::build`] time:
    /// whatever order `base_url` and this are given in, the two stay in step. For another authority, give
    /// a [`ClientCredentials`] to [`ClientBuilder::token_provider`].
    ///
    /// ```
    /// use crossmap_client::{Client, Cloud};
    /// // Tokens from login.microsoftonline.us, for graph.microsoft.us.
    /// let client = Client::builder()
    ///     .client_credentials("contoso.onmicrosoft.us", "app-id", "secret")
    ///     .cloud(Cloud::UsGov)
    ///     .build()
    ///     .unwrap();
    /// # assert_eq!(client.base_url(), "https://graph.microsoft.us/beta");
    /// ```
    pub fn client_credentials(
        mut self,
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.tokens = Tokens::Credentials {
            tenant: tenant.into(),
            client_id: client_id.into(),
            secret: secret.into(),
        };
        self
    }

    /// How to retry (default: [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The most requests in flight (default 4): what `apply_all` keeps going, and the ceiling of the
    /// adaptive limit.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The time one attempt may take (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The `User-Agent` header, as is (see [`ClientBuilder::traffic_decoration`] for SharePoint's form).
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.agent = Agent::Raw(agent.into());
        self
    }

    /// The `User-Agent` in SharePoint's decorated form (default: `NONISV|crossmap|crossmap/{version}`);
    /// [`ClientBuilder::build`] refuses a decoration that breaks the form.
    pub fn traffic_decoration(mut self, decoration: TrafficDecoration) -> Self {
        self.agent = Agent::Decorated(decoration);
        self
    }

    /// Whether the pacing controller adapts to the service (default: yes): a `Retry-After` holds the
    /// whole client, `RateLimit-*` spaces requests, the concurrency limit follows AIMD (the crate docs,
    /// "Pacing"). Off, the concurrency is fixed and a `Retry-After` holds only its own request.
    pub fn adaptive(mut self, on: bool) -> Self {
        self.adaptive = on;
        self
    }

    /// The client, or [`ClientError::Build`] saying what is missing or wrong: a base URL without a
    /// version segment, no token provider, a malformed traffic decoration.
    pub fn build(self) -> Result<Client, ClientError> {
        check_base_url(&self.base_url)?;
        let tokens: Arc<dyn TokenProvider> = match self.tokens {
            Tokens::Provider(provider) => provider,
            Tokens::Credentials {
                tenant,
                client_id,
                secret,
            } => Arc::new(ClientCredentials::for_base_url(
                &self.base_url,
                tenant,
                client_id,
                secret,
            )),
            Tokens::None => {
                return Err(ClientError::Build(
                    "a token provider is required: client_credentials(..) or token_provider(..)".into(),
                ));
            }
        };
        let agent = match self.agent {
            Agent::Raw(agent) => agent,
            Agent::Decorated(d) => {
                d.check()?;
                d.to_string()
            }
        };
        let http = reqwest::Client::builder()
            .user_agent(agent)
            .timeout(self.timeout)
            .build()
            .map_err(|e| ClientError::Build(e.to_string()))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url: self.base_url,
                tokens,
                retry: self.retry,
                concurrency: self.concurrency,
                pacer: Pacer::new(self.concurrency, self.adaptive),
                counters: Counters::default(),
            }),
        })
    }
}

/// Refuses a service root that cannot be Graph's: it must be an http(s) URL whose path ends in a version
/// segment (`/v1.0` or `/beta`), or every call would later answer "not found".
fn check_base_url(url: &str) -> Result<(), ClientError> {
    let refuse = |why: &str| Err(ClientError::Build(format!("the base URL {url:?} {why}")));
    let Some(rest) = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")) else {
        return refuse("is not an http:// or https:// URL");
    };
    match rest.split_once('/') {
        None => refuse("has no version segment: add /beta (or /v1.0), e.g. http://127.0.0.1:8080/beta"),
        Some(("", _)) => refuse("has no host"),
        Some((_, path)) if path.split('/').next_back().is_some_and(|v| v == "beta" || v == "v1.0") => Ok(()),
        Some(_) => refuse("does not end in a version segment: /beta or /v1.0"),
    }
}

/// `url` without its query string, which can hold secrets: safe to show in an error.
fn without_query(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or(url).to_owned()
}

/// A Graph client for the identity-mapping API; cheap to clone.
///
/// ```no_run
/// # async fn example() -> Result<(), crossmap_client::ClientError> {
/// use crossmap_client::Client;
/// use crossmap_client::model::{GroupKey, GroupMapping};
/// let client = Client::builder()
///     .client_credentials("contoso.onmicrosoft.com", "app-id", "secret")
///     .build()?;
/// let key = GroupKey::parse("aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa").unwrap();
/// let mapping: Option<GroupMapping> = client.get(&key, None).await?;
/// let target = mapping.as_ref().and_then(|m| m.target_group_id());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    tokens: Arc<dyn TokenProvider>,
    retry: RetryPolicy,
    concurrency: usize,
    pacer: Pacer,
    counters: Counters,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url)
            .finish_non_exhaustive()
    }
}

/// A successful answer: status and body.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Vec<u8>,
}

/// One page of the change feed.
#[derive(Debug)]
pub struct DeltaPage<M> {
    /// Complete mappings and `@removed` entries, oldest first.
    pub items: Vec<DeltaItem<M>>,
    /// The link to ask for later changes.
    pub delta_link: String,
}

fn client_request_id() -> String {
    crossmap_model::Guid::from_u128(fastrand::u128(..)).to_string()
}

impl Client {
    /// A builder with Graph's global beta endpoint.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            base_url: Cloud::Global.base_url().to_owned(),
            tokens: Tokens::None,
            retry: RetryPolicy::default(),
            concurrency: 4,
            timeout: Duration::from_secs(60),
            agent: Agent::Decorated(TrafficDecoration::non_isv(
                "crossmap",
                "crossmap",
                env!("CARGO_PKG_VERSION"),
            )),
            adaptive: true,
        }
    }

    /// The service root.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// What the client did so far: requests, retries, throttles.
    pub fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    pub(crate) fn concurrency(&self) -> usize {
        self.inner.concurrency
    }

    /// The pacing controller's limit on requests in flight now (the builder's concurrency when not
    /// adaptive).
    pub fn concurrency_limit(&self) -> usize {
        self.inner.pacer.limit()
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}/{}", self.inner.base_url, path)
        }
    }

    /// Sends one request, retrying as the policy says; the same `client-request-id` on every attempt, and
    /// `Retry-Attempt: N` on the N-th retry. Every attempt goes through the pacing controller.
    pub(crate) async fn send(&self, method: Method, url: &str, body: Option<Vec<u8>>) -> Result<Answer, ClientError> {
        self.send_with(method, url, body, &[]).await
    }

    /// [`Client::send`] with extra request headers.
    pub(crate) async fn send_with(
        &self,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Result<Answer, ClientError> {
        let id = client_request_id();
        let mut first_sent = None;
        let mut previous = Duration::ZERO;
        let mut refreshed = false;
        let mut retries = 0u32;
        let counters = &self.inner.counters;
        for attempt in 1.. {
            // Held back first, so that a long wait never leaves the request with a stale token.
            let (permit, waited) = self.inner.pacer.acquire().await;
            counters.add_wait(waited);
            let token = self.inner.tokens.token().await?;
            let mut request = self
                .inner
                .http
                .request(method.clone(), url)
                .bearer_auth(token)
                .header("client-request-id", &id);
            if retries > 0 {
                request = request.header("Retry-Attempt", retries);
            }
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            if let Some(body) = &body {
                request = request.header("content-type", "application/json").body(body.clone());
            }
            // The retry policy's clock starts with the first attempt sent, not with the wait for it.
            let started = *first_sent.get_or_insert_with(Instant::now);
            counters.requests.fetch_add(1, Ordering::Relaxed);
            let error: ClientError = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let signal = Signal::read(status.as_u16(), response.headers());
                    permit.observe(&signal);
                    let retry_after = signal.retry_after;
                    let request_id = response
                        .headers()
                        .get("request-id")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    match response.bytes().await {
                        Ok(bytes) if status.is_success() => {
                            return Ok(Answer {
                                status,
                                body: bytes.to_vec(),
                            });
                        }
                        Ok(bytes) => graph_error(status, &bytes, request_id, &id, retry_after),
                        Err(e) => ClientError::Transport {
                            url: without_query(url),
                            client_request_id: id.clone(),
                            timeout: e.is_timeout(),
                            source: e.without_url(),
                        },
                    }
                }
                Err(e) => ClientError::Transport {
                    url: without_query(url),
                    client_request_id: id.clone(),
                    timeout: e.is_timeout(),
                    source: e.without_url(),
                },
            };
            drop(permit);
            if error.status() == Some(401) && !refreshed {
                // An expired or revoked token: get a new one once.
                self.inner.tokens.invalidate();
                refreshed = true;
                continue;
            }
            if !error.is_retryable() {
                return Err(error);
            }
            if error.is_throttled() {
                counters.throttles.fetch_add(1, Ordering::Relaxed);
            }
            let retry_after = error.retry_after();
            let Some(delay) = self
                .inner
                .retry
                .next_delay(attempt, started.elapsed(), previous, retry_after)
            else {
                return Err(error);
            };
            tracing::debug!(attempt, ?delay, error = %error, "retrying");
            counters.retries.fetch_add(1, Ordering::Relaxed);
            retries += 1;
            previous = delay;
            counters.add_wait(delay);
            tokio::time::sleep(delay).await;
        }
        unreachable!("the loop returns")
    }

    async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, ClientError> {
        self.get_json_with(url, &[]).await
    }

    /// A GET with extra headers, decoded.
    pub(crate) async fn get_json_with<T: DeserializeOwned>(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<T, ClientError> {
        let answer = self.send_with(Method::GET, url, None, headers).await?;
        decode(&answer)
    }

    /// The mapping of `key`, or `None` when there is none; `select` limits the properties returned.
    pub async fn get<M: Rules>(&self, key: &M::Key, select: Option<&[&str]>) -> Result<Option<M>, ClientError> {
        let mut url = self.url(&format!("{}{}", parent_path::<M>(), key.to_segment()));
        if let Some(select) = select {
            url.push_str(&format!("?$select={}", select.join(",")));
        }
        match self.get_json::<EntityResponse<M>>(&url).await {
            Ok(r) => Ok(Some(r.entity)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The mapping with `id` (an SDK-style call; the emulator serves it), or `None`.
    pub async fn get_by_id<M: Rules>(&self, id: &str) -> Result<Option<M>, ClientError> {
        let url = self.url(&format!("{}/{}", M::COLLECTION_PATH, encode_segment(id)));
        match self.get_json::<EntityResponse<M>>(&url).await {
            Ok(r) => Ok(Some(r.entity)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every mapping of the collection, page by page, following `@odata.nextLink` (an SDK-style call);
    /// [`Client::list_all`] collects it.
    pub fn list<M: Rules>(&self) -> impl Stream<Item = Result<M, ClientError>> + Send + '_ {
        let first = self.url(&format!("{}?$top=999", M::COLLECTION_PATH));
        let pages = futures_util::stream::try_unfold(Some(first), move |next| async move {
            let Some(url) = next else { return Ok(None) };
            let page: CollectionResponse<M> = self.get_json(&url).await?;
            Ok(Some((
                futures_util::stream::iter(page.value.into_iter().map(Ok)),
                page.next_link,
            )))
        });
        futures_util::TryStreamExt::try_flatten(pages)
    }

    /// Every mapping of the collection in one vector: [`Client::list`] collected, for callers without a
    /// stream library at hand.
    pub async fn list_all<M: Rules>(&self) -> Result<Vec<M>, ClientError> {
        futures_util::TryStreamExt::try_collect(self.list::<M>()).await
    }

    /// Sends one delta request, after checking it with the engine: a request the server would refuse is
    /// never sent. Returns the response entries in request order.
    pub async fn apply<M: Rules>(&self, request: &DeltaRequest<M>) -> Result<Vec<M>, ClientError> {
        check_envelope(request).map_err(ClientError::Invalid)?;
        let errors: Vec<_> = request
            .value
            .iter()
            .enumerate()
            .filter_map(|(i, item)| validate_item(i, item).err())
            .flatten()
            .collect();
        if !errors.is_empty() {
            return Err(ClientError::Invalid(RequestError::Invalid { errors }));
        }
        let body = serde_json::to_vec(request).map_err(|e| ClientError::Decode {
            message: e.to_string(),
            status: 0,
        })?;
        let answer = self
            .send(Method::PATCH, &self.url(M::COLLECTION_PATH), Some(body))
            .await?;
        let response: CollectionResponse<M> = decode(&answer)?;
        if response.value.len() != request.value.len() {
            return Err(ClientError::Decode {
                message: format!("{} entries for {} items", response.value.len(), request.value.len()),
                status: answer.status.as_u16(),
            });
        }
        Ok(response.value)
    }

    /// The change feed (a crossmap emulator extension): with `None`, every mapping and a delta link; with
    /// the delta link of a previous call, the changes since. Follows `@odata.nextLink` to the end.
    pub async fn changes<M: Rules>(&self, delta_link: Option<&str>) -> Result<DeltaPage<M>, ClientError> {
        let mut url = match delta_link {
            Some(link) => link.to_owned(),
            None => self.url(&format!("{}/delta()", M::COLLECTION_PATH)),
        };
        let mut items = Vec::new();
        loop {
            let page: CollectionResponse<DeltaItem<M>> = self.get_json(&url).await?;
            items.extend(page.value);
            match (page.next_link, page.delta_link) {
                (Some(next), _) => url = next,
                (None, Some(delta_link)) => return Ok(DeltaPage { items, delta_link }),
                (None, None) => {
                    return Err(ClientError::Decode {
                        message: "a delta page without a next or delta link".into(),
                        status: 200,
                    });
                }
            }
        }
    }
}

fn parent_path<M: Rules>() -> String {
    let path = M::COLLECTION_PATH;
    path[..path.len() - <M::Key as MappingKey>::COLLECTION.len()].to_owned()
}

fn encode_segment(s: &str) -> String {
    s.replace('%', "%25")
        .replace('/', "%2F")
        .replace('+', "%2B")
        .replace('=', "%3D")
}

fn decode<T: DeserializeOwned>(answer: &Answer) -> Result<T, ClientError> {
    serde_json::from_slice(&answer.body).map_err(|e| ClientError::Decode {
        message: e.to_string(),
        status: answer.status.as_u16(),
    })
}

fn graph_error(
    status: StatusCode,
    body: &[u8],
    request_id: Option<String>,
    client_request_id: &str,
    retry_after: Option<Duration>,
) -> ClientError {
    match serde_json::from_slice::<ErrorResponse>(body) {
        Ok(e) => ClientError::Graph(Box::new(GraphFailure {
            status: status.as_u16(),
            code: e.error.code,
            message: e.error.message,
            target: e.error.target,
            request_id: request_id.or_else(|| e.error.inner_error.and_then(|i| i.request_id)),
            client_request_id: client_request_id.to_owned(),
            retry_after,
        })),
        Err(_) => ClientError::Graph(Box::new(GraphFailure {
            status: status.as_u16(),
            code: status.canonical_reason().unwrap_or("error").to_owned(),
            message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            target: None,
            request_id,
            client_request_id: client_request_id.to_owned(),
            retry_after,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StaticToken;

    #[test]
    fn every_cloud_is_its_own_authority_and_any_other_host_its_origin() {
        for cloud in [Cloud::Global, Cloud::UsGov, Cloud::UsGovDod, Cloud::China] {
            assert_eq!(authority_for(cloud.base_url()), cloud.authority(), "{cloud:?}");
            assert_eq!(Cloud::from_base_url(cloud.base_url()), Some(cloud));
            assert!(cloud.scope().contains(cloud.host()), "{cloud:?}");
        }
        assert_eq!(authority_for("https://GRAPH.microsoft.com/v1.0/"), MICROSOFT_AUTHORITY);
        assert_eq!(authority_for("http://127.0.0.1:8080/beta"), "http://127.0.0.1:8080");
        assert_eq!(authority_for("http://127.0.0.1:8080/beta/"), "http://127.0.0.1:8080");
        assert_eq!(authority_for("https://emulator.test:443/beta"), "https://emulator.test");
        assert_eq!(
            authority_for("http://user:pw@[::1]:9000/x/beta?q=1"),
            "http://[::1]:9000"
        );
        // A lookalike host is not Graph.
        assert_eq!(
            authority_for("https://graph.microsoft.com.evil.test/beta"),
            "https://graph.microsoft.com.evil.test"
        );
        assert_eq!(authority_for("not a url/beta"), "not a url");
    }

    #[test]
    fn a_client_without_tokens_is_refused_naming_both_ways_to_give_them() {
        let e = Client::builder()
            .base_url("http://127.0.0.1:1/beta")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("client_credentials"), "{e}");
        let built = Client::builder()
            .client_credentials("t", "app", "secret")
            .base_url("http://127.0.0.1:1/beta")
            .build();
        assert!(built.is_ok());
    }

    #[test]
    fn a_base_url_without_a_version_segment_is_refused_when_built() {
        let build = |url: &str| {
            Client::builder()
                .base_url(url)
                .token_provider(StaticToken::new("t"))
                .build()
        };
        for good in [
            "http://127.0.0.1:8080/beta",
            "https://graph.microsoft.com/v1.0/",
            "http://h/x/beta",
        ] {
            assert!(build(good).is_ok(), "{good}");
        }
        for bad in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://h/betas",
            "ftp://h/beta",
            "h/beta",
        ] {
            let e = build(bad).err().unwrap_or_else(|| panic!("{bad} was accepted"));
            assert!(matches!(e, ClientError::Build(_)), "{bad}: {e}");
            assert!(e.to_string().contains(bad.trim_end_matches('/')), "{e}");
        }
    }

    #[test]
    fn errors_show_urls_without_their_query() {
        assert_eq!(without_query("http://h/beta/x?$select=a#f"), "http://h/beta/x");
    }
}
