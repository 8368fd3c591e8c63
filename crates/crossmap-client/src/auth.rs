//! Where access tokens come from: a static token, the client-credentials flow, or your own provider.

use crate::ClientError;
use futures_util::future::BoxFuture;
use std::time::{Duration, Instant};

/// Gives the client bearer tokens.
pub trait TokenProvider: Send + Sync + 'static {
    /// A token valid now.
    fn token(&self) -> BoxFuture<'_, Result<String, ClientError>>;
    /// The server refused the last token (401): forget it, so the next call gets a new one.
    fn invalidate(&self) {}
}

/// A ready token, used as is.
#[derive(Clone)]
pub struct StaticToken(String);

impl StaticToken {
    /// Uses `token` for every request.
    pub fn new(token: impl Into<String>) -> StaticToken {
        StaticToken(token.into())
    }
}

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticToken(..)")
    }
}

impl TokenProvider for StaticToken {
    fn token(&self) -> BoxFuture<'_, Result<String, ClientError>> {
        Box::pin(async move { Ok(self.0.clone()) })
    }
}

/// OAuth 2 client credentials with a client secret, cached and renewed before it expires; concurrent
/// callers share one refresh.
pub struct ClientCredentials {
    authority: String,
    tenant: String,
    client_id: String,
    secret: String,
    scope: String,
    http: reqwest::Client,
    cached: tokio::sync::Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret or the token.
        f.debug_struct("ClientCredentials")
            .field("authority", &self.authority)
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Microsoft's identity platform.
pub const MICROSOFT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// A token is renewed when less than this much of its life is left (and never kept past half its life).
const RENEW_BEFORE: Duration = Duration::from_secs(300);

impl ClientCredentials {
    /// Client credentials for `tenant` against Microsoft's identity platform, for Graph's `.default` scope.
    pub fn new(tenant: impl Into<String>, client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        ClientCredentials {
            authority: MICROSOFT_AUTHORITY.to_owned(),
            tenant: tenant.into(),
            client_id: client_id.into(),
            secret: secret.into(),
            scope: "https://graph.microsoft.com/.default".to_owned(),
            http: reqwest::Client::new(),
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// Client credentials for `tenant` against the identity platform that goes with the service root
    /// `base_url` ([`authority_for`](crate::authority_for)), for that cloud's Graph scope (the global
    /// one for the emulator, which accepts every cloud's).
    ///
    /// ```
    /// use crossmap_client::ClientCredentials;
    /// let china = ClientCredentials::for_base_url("https://microsoftgraph.chinacloudapi.cn/beta", "contoso", "app", "secret");
    /// assert!(format!("{china:?}").contains("https://login.chinacloudapi.cn"));
    /// ```
    pub fn for_base_url(
        base_url: &str,
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        let credentials =
            ClientCredentials::new(tenant, client_id, secret).with_authority(crate::authority_for(base_url));
        match crate::Cloud::from_base_url(base_url) {
            Some(cloud) => credentials.with_scope(cloud.scope()),
            None => credentials,
        }
    }

    /// Another authority, e.g. the emulator's base URL or a national cloud's login host.
    pub fn with_authority(mut self, authority: impl Into<String>) -> Self {
        self.authority = authority.into().trim_end_matches('/').to_owned();
        self
    }

    /// Another scope (e.g. `https://graph.microsoft.us/.default` for US Government).
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = scope.into();
        self
    }

    async fn fetch(&self) -> Result<(String, Instant), ClientError> {
        #[derive(serde::Deserialize)]
        struct Answer {
            access_token: Option<String>,
            expires_in: Option<u64>,
            error: Option<String>,
            error_description: Option<String>,
        }
        let url = format!("{}/{}/oauth2/v2.0/token", self.authority, self.tenant);
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", &self.client_id),
            ("client_secret", &self.secret),
            ("scope", &self.scope),
        ];
        let started = Instant::now();
        let response =
            self.http.post(&url).form(&form).send().await.map_err(|e| {
                ClientError::Token(format!("the token endpoint {url} did not answer: {}", e.without_url()))
            })?;
        let status = response.status();
        let answer: Answer = response.json().await.map_err(|e| {
            ClientError::Token(format!(
                "the token endpoint {url} answered {status} without JSON: {}",
                e.without_url()
            ))
        })?;
        match (answer.access_token, answer.expires_in) {
            (Some(token), Some(life)) if status.is_success() => {
                let life = Duration::from_secs(life);
                let keep = life.saturating_sub(RENEW_BEFORE.min(life / 2));
                Ok((token, started + keep))
            }
            _ => Err(ClientError::Token(format!(
                "the token endpoint {url} refused: {} {}",
                answer.error.unwrap_or_else(|| status.to_string()),
                answer.error_description.unwrap_or_default()
            ))),
        }
    }
}

impl TokenProvider for ClientCredentials {
    fn token(&self) -> BoxFuture<'_, Result<String, ClientError>> {
        Box::pin(async move {
            // One lock: concurrent callers wait for the one refresh instead of each asking.
            let mut cached = self.cached.lock().await;
            if let Some((token, renew_at)) = cached.as_ref() {
                if Instant::now() < *renew_at {
                    return Ok(token.clone());
                }
            }
            let (token, renew_at) = self.fetch().await?;
            *cached = Some((token.clone(), renew_at));
            Ok(token)
        })
    }

    fn invalidate(&self) {
        if let Ok(mut cached) = self.cached.try_lock() {
            *cached = None;
        }
    }
}
