//! A tenant's directory, as building and verifying an identity map reads it: `GET /v1.0/users`,
//! `/v1.0/groups` (paged streams, with `$select`, `$filter`, `$top`, `$count`) and `/v1.0/organization`.
//!
//! The directory is read from Graph's v1.0 endpoint whatever the client's version segment (the
//! identity-mapping API is beta only; users and groups are stable in v1.0), with the same retries as every
//! other call. One client reads one tenant: the tenant of its token.

use crate::client::Client;
use crate::error::ClientError;
use crossmap_model::CollectionResponse;
use crossmap_model::directory::{Group, Organization, User};
use futures_util::{Stream, TryStreamExt};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::DeserializeOwned;

/// What to ask of a directory list: which properties, which objects, how many a page.
///
/// ```
/// use crossmap_client::DirectoryQuery;
/// let q = DirectoryQuery::users().filter("accountEnabled eq true").count(true);
/// assert!(q.to_query().starts_with("$select=id%2CuserPrincipalName"));
/// assert!(q.to_query().ends_with("&$top=999&$filter=accountEnabled%20eq%20true&$count=true"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectoryQuery {
    /// `$select`: the properties to return (Graph's default set when `None`).
    pub select: Option<String>,
    /// `$filter`.
    pub filter: Option<String>,
    /// `$top`: objects a page, 1 to 999 (Graph's default, 100, when `None`).
    pub top: Option<u32>,
    /// `$count=true` (with `ConsistencyLevel: eventual`): the first page says how many objects match.
    pub count: bool,
}

impl DirectoryQuery {
    /// Every user property matching reads ([`User::SELECT`]), 999 a page.
    pub fn users() -> Self {
        DirectoryQuery {
            select: Some(User::SELECT.to_owned()),
            top: Some(999),
            ..Self::default()
        }
    }

    /// Every group property matching reads ([`Group::SELECT`]), 999 a page.
    pub fn groups() -> Self {
        DirectoryQuery {
            select: Some(Group::SELECT.to_owned()),
            top: Some(999),
            ..Self::default()
        }
    }

    /// With a `$filter`, e.g. `accountEnabled eq true`.
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = Some(filter.into());
        self
    }

    /// With `$count=true` (or not).
    pub fn count(mut self, count: bool) -> Self {
        self.count = count;
        self
    }

    /// The query string, values percent-encoded, without the leading `?`.
    pub fn to_query(&self) -> String {
        let mut parts = Vec::new();
        let enc = |v: &str| utf8_percent_encode(v, NON_ALPHANUMERIC).to_string();
        if let Some(s) = &self.select {
            parts.push(format!("$select={}", enc(s)));
        }
        if let Some(t) = self.top {
            parts.push(format!("$top={t}"));
        }
        if let Some(f) = &self.filter {
            parts.push(format!("$filter={}", enc(f)));
        }
        if self.count {
            parts.push("$count=true".to_owned());
        }
        parts.join("&")
    }
}

impl Client {
    /// The URL of a directory path: the service root with its version segment made `v1.0`.
    fn directory_url(&self, path: &str) -> String {
        let base = self.base_url();
        let root = base.rsplit_once('/').map_or(base, |(root, _)| root);
        format!("{root}/v1.0/{path}")
    }

    /// The pages of a directory collection, following `@odata.nextLink` to the end; the first page
    /// carries `@odata.count` when the query asked for it.
    pub fn directory_pages<T: DeserializeOwned + Send + 'static>(
        &self,
        collection: &str,
        query: &DirectoryQuery,
    ) -> impl Stream<Item = Result<CollectionResponse<T>, ClientError>> + Send + '_ {
        let q = query.to_query();
        let first = if q.is_empty() {
            self.directory_url(collection)
        } else {
            format!("{}?{q}", self.directory_url(collection))
        };
        let eventual = query.count || query.filter.is_some();
        futures_util::stream::try_unfold(Some(first), move |next| async move {
            let Some(url) = next else { return Ok(None) };
            // Advanced queries ($count, some filters) need eventual consistency; it is harmless otherwise.
            let headers: &[(&str, &str)] = if eventual {
                &[("ConsistencyLevel", "eventual")]
            } else {
                &[]
            };
            let page: CollectionResponse<T> = self.get_json_with(&url, headers).await?;
            let next = page.next_link.clone();
            Ok(Some((page, next)))
        })
    }

    /// The tenant's users, page after page: `GET /v1.0/users`.
    pub fn users(&self, query: &DirectoryQuery) -> impl Stream<Item = Result<User, ClientError>> + Send + '_ {
        self.directory_pages::<User>("users", query)
            .map_ok(|page| futures_util::stream::iter(page.value.into_iter().map(Ok)))
            .try_flatten()
    }

    /// The tenant's groups, page after page: `GET /v1.0/groups`.
    pub fn groups(&self, query: &DirectoryQuery) -> impl Stream<Item = Result<Group, ClientError>> + Send + '_ {
        self.directory_pages::<Group>("groups", query)
            .map_ok(|page| futures_util::stream::iter(page.value.into_iter().map(Ok)))
            .try_flatten()
    }

    /// The tenant itself: `GET /v1.0/organization` (its id is the `SourceTenantCompanyID` of a map).
    pub async fn organization(&self) -> Result<Organization, ClientError> {
        let url = format!(
            "{}?$select={}",
            self.directory_url("organization"),
            utf8_percent_encode(Organization::SELECT, NON_ALPHANUMERIC)
        );
        let page: CollectionResponse<Organization> = self.get_json_with(&url, &[]).await?;
        page.value.into_iter().next().ok_or_else(|| ClientError::Decode {
            message: "GET /organization returned no organization".to_owned(),
            status: 200,
        })
    }
}
