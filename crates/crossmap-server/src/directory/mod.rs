//! Graph's directory, per tenant: `GET` / `POST /users` and `/groups` (list with `$select`, `$top`,
//! `@odata.nextLink`, `$count`, `$filter`; create), `GET` / `DELETE` of one user (by id or UPN) or group
//! (by id), `$count`, and `GET /organization`, under `/v1.0` and `/beta` alike. Errors carry the codes
//! Graph's directory uses (`Request_BadRequest`, `Request_ResourceNotFound`, `Request_UnsupportedQuery`,
//! `Authorization_RequestDenied`).

mod query;
mod schema;
mod seed;

pub use seed::{SeedError, SeedReport, seed_directory};

use crate::error::ApiError;
use crate::graph::read_json;
use crate::{Access, AppState, Claims, json_bytes, json_response};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crossmap_model::directory::{Group, Organization, User};
use crossmap_model::{ErrorDetail, Guid};
use crossmap_store::{Cursor, DirectoryError, DirectoryPage, StoreError};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use query::{DEFAULT_PAGE, Filtered, KeyList, Options};
use schema::{DirectoryObject, GROUP, ORGANIZATION, Purpose, Shaped, Type, USER};
use serde_json::{Map, Value, json};

/// Graph's directory error codes.
mod codes {
    pub(super) const BAD_REQUEST: &str = "Request_BadRequest";
    pub(super) const NOT_FOUND: &str = "Request_ResourceNotFound";
    pub(super) const UNSUPPORTED_QUERY: &str = "Request_UnsupportedQuery";
    pub(super) const DENIED: &str = "Authorization_RequestDenied";
    pub(super) const CONFLICT: &str = "ObjectConflict";
}

/// 400 `Request_BadRequest`.
pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message)
}

/// 400 `Request_UnsupportedQuery`.
pub(crate) fn unsupported_query(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, codes::UNSUPPORTED_QUERY, message)
}

fn not_found(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        codes::NOT_FOUND,
        format!("Resource '{what}' does not exist or one of its queried reference-property objects are not present."),
    )
}

/// The directory's entity sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Set {
    Users,
    Groups,
    Organization,
}

impl Set {
    fn ty(self) -> &'static Type {
        match self {
            Set::Users => &USER,
            Set::Groups => &GROUP,
            Set::Organization => &ORGANIZATION,
        }
    }
}

/// A directory path: its version (`v1.0` or `beta`, as written back in links), set and the rest.
pub(crate) fn split(path: &str) -> Option<(&'static str, Set, &str)> {
    let rest = path.strip_prefix('/')?;
    let (version, rest) = rest.split_once('/')?;
    let version = ["v1.0", "beta"].into_iter().find(|v| v.eq_ignore_ascii_case(version))?;
    let end = rest.find('/').unwrap_or(rest.len());
    let (name, tail) = rest.split_at(end);
    let set = [
        ("users", Set::Users),
        ("groups", Set::Groups),
        ("organization", Set::Organization),
    ]
    .into_iter()
    .find(|(n, _)| n.eq_ignore_ascii_case(name))?
    .1;
    Some((version, set, tail))
}

/// One request to the directory.
struct Call<'s> {
    state: &'s AppState,
    claims: Claims,
    headers: HeaderMap,
    /// `http://{host}/{version}`: the service root links and contexts are built on.
    root: String,
    set: Set,
    ty: &'static Type,
    options: Options,
}

/// Serves a directory path; `tail` is what follows the set's name.
pub(crate) async fn handle(
    state: &AppState,
    claims: Claims,
    request: Request,
    version: &'static str,
    set: Set,
    tail: &str,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let ty = set.ty();
    let mut call = Call {
        state,
        claims,
        root: format!("http://{host}/{version}"),
        headers: parts.headers,
        set,
        ty,
        options: Options::default(),
    };
    let method = parts.method;
    if method == Method::GET {
        call.options = query::options(parts.uri.query(), ty, version == "beta")?;
    }
    let read = match set {
        Set::Users => Access::ReadUsers,
        Set::Groups => Access::ReadGroups,
        Set::Organization => Access::ReadOrganization,
    };
    let write = match set {
        Set::Users => Access::WriteUsers,
        _ => Access::WriteGroups,
    };
    match (set, tail) {
        (Set::Organization, "") => match method {
            Method::GET => call.need(read)?.organization(None),
            m => Err(ApiError::method_not_allowed(m.as_str(), "GET")),
        },
        (_, "") => match method {
            Method::GET => call.need(read)?.list(),
            Method::POST => call.need(write)?.create(body).await,
            m => Err(ApiError::method_not_allowed(m.as_str(), "GET, POST")),
        },
        (Set::Users | Set::Groups, t) if t.eq_ignore_ascii_case("/$count") => match method {
            Method::GET => call.need(read)?.count(),
            m => Err(ApiError::method_not_allowed(m.as_str(), "GET")),
        },
        (_, t) if t.len() > 1 && !t[1..].contains('/') => {
            let key = percent_decode_str(&t[1..]).decode_utf8_lossy().into_owned();
            match (set, method) {
                (Set::Organization, Method::GET) => call.need(read)?.organization(Some(&key)),
                (Set::Organization, m) => Err(ApiError::method_not_allowed(m.as_str(), "GET")),
                (_, Method::GET) => call.need(read)?.get(&key),
                (_, Method::DELETE) => call.need(write)?.delete(&key).await,
                (_, m) => Err(ApiError::method_not_allowed(m.as_str(), "GET, DELETE")),
            }
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            format!("the emulator serves no resource at /{version}/{}{tail}", ty.set),
        )),
    }
}

/// A list page's body.
#[derive(serde::Serialize)]
#[serde(bound = "T: DirectoryObject")]
struct ListBody<'a, T> {
    #[serde(rename = "@odata.context")]
    context: String,
    #[serde(rename = "@odata.count", skip_serializing_if = "Option::is_none")]
    count: Option<usize>,
    #[serde(rename = "@odata.nextLink", skip_serializing_if = "Option::is_none")]
    next_link: Option<String>,
    value: Vec<Shaped<'a, T>>,
}

/// Whether the request is an advanced query (`ConsistencyLevel: eventual`), which `$count` needs.
fn eventual(headers: &HeaderMap) -> bool {
    headers
        .get_all("consistencylevel")
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.trim().eq_ignore_ascii_case("eventual")))
}

fn encode(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

fn to_object<T: serde::Serialize>(value: &T) -> Result<Map<String, Value>, ApiError> {
    match serde_json::to_value(value).map_err(|e| ApiError::internal(&e))? {
        Value::Object(o) => Ok(o),
        _ => Err(ApiError::internal(&"a directory object did not serialise to an object")),
    }
}

impl Call<'_> {
    fn tenant(&self) -> &str {
        &self.claims.tid
    }

    fn need(self, access: Access) -> Result<Self, ApiError> {
        if self.claims.allows(access) {
            return Ok(self);
        }
        let what = match access {
            Access::ReadUsers => "reading users",
            Access::WriteUsers => "creating or deleting users",
            Access::ReadGroups => "reading groups",
            Access::WriteGroups => "creating or deleting groups",
            Access::ReadOrganization => "reading the organization",
        };
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::DENIED,
            format!(
                "Insufficient privileges to complete the operation: {what} needs one of the application permissions {}.",
                access.roles().join(", ")
            ),
        ))
    }

    /// `@odata.context` of the set, with the `$select` list, and `suffix` (`/$entity`).
    fn context(&self, suffix: &str) -> String {
        let select = match &self.options.select {
            Some(s) => format!("({})", s.join(",")),
            None => String::new(),
        };
        crossmap_model::context_url(&self.root, &format!("{}{select}{suffix}", self.ty.set))
    }

    fn shape<T: DirectoryObject>(&self, object: &T) -> Result<Map<String, Value>, ApiError> {
        to_object(&Shaped {
            object,
            ty: self.ty,
            select: self.options.select.as_deref(),
        })
    }

    fn check_count(&self) -> Result<(), ApiError> {
        if eventual(&self.headers) {
            Ok(())
        } else {
            Err(bad_request(
                "$count is not currently supported. (It is an advanced query: send the header ConsistencyLevel: eventual.)",
            ))
        }
    }

    fn cursor(&self) -> Result<Option<Cursor>, ApiError> {
        self.options
            .skiptoken
            .as_deref()
            .map(|t| query::cursor(self.ty.set, t))
            .transpose()
    }

    /// A store error in the directory's words: a cursor that does not fit the query is a bad skiptoken.
    fn store_error(e: StoreError) -> ApiError {
        match e {
            StoreError::Directory(DirectoryError::Cursor) => {
                bad_request("The $skiptoken is not valid for this query: follow @odata.nextLink as it was given.")
            }
            e => e.into(),
        }
    }

    /// One page of the set, its count when asked, and where to continue.
    fn list(self) -> Result<Response, ApiError> {
        if self.options.count {
            self.check_count()?;
        }
        let top = self.options.top.unwrap_or(DEFAULT_PAGE);
        let after = self.cursor()?;
        let store = self.state.store();
        let filter = self.options.filter.as_deref();
        match self.set {
            Set::Users => match query::user_filter(filter, self.ty)? {
                Filtered::Nothing => self.page::<User>(&[], None, 0, top),
                Filtered::Keys(f, lists) => {
                    let users = self.keyed_users(&f, &lists)?;
                    self.page_of(users, |u| u.id.value().copied(), top)
                }
                Filtered::Store(f) => {
                    let DirectoryPage { items, next } = store
                        .users(self.tenant(), &f, after.as_ref(), top)
                        .map_err(Self::store_error)?;
                    let count = if self.options.count {
                        store.count_users(self.tenant(), &f)?
                    } else {
                        0
                    };
                    self.page(&items, next, count, top)
                }
            },
            _ => match query::group_filter(filter, self.ty)? {
                Filtered::Nothing => self.page::<Group>(&[], None, 0, top),
                Filtered::Keys(f, lists) => {
                    let groups = self.keyed_groups(&f, &lists)?;
                    self.page_of(groups, |g| g.id.value().copied(), top)
                }
                Filtered::Store(f) => {
                    let DirectoryPage { items, next } = store
                        .groups(self.tenant(), &f, after.as_ref(), top)
                        .map_err(Self::store_error)?;
                    let count = if self.options.count {
                        store.count_groups(self.tenant(), &f)?
                    } else {
                        0
                    };
                    self.page(&items, next, count, top)
                }
            },
        }
    }

    /// The users an `in` filter names (looked up by its first list) that every list and `f` admit, in id
    /// order, each once.
    fn keyed_users(&self, f: &crossmap_store::UserFilter, lists: &[KeyList]) -> Result<Vec<User>, ApiError> {
        let store = self.state.store();
        let tenant = self.tenant();
        let mut found = std::collections::BTreeMap::new();
        let candidates: Vec<User> = match lists.first() {
            Some(KeyList::Ids(ids)) => ids
                .iter()
                .map(|id| store.user(tenant, id))
                .collect::<Result<Vec<_>, _>>()?,
            Some(KeyList::Upns(upns)) => upns
                .iter()
                .map(|upn| store.user_by_upn(tenant, upn))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        }
        .into_iter()
        .flatten()
        .collect();
        for user in candidates {
            let (Some(id), upn) = (user.id.value().copied(), user.user_principal_name.value()) else {
                continue;
            };
            if lists.iter().all(|l| l.admits(Some(&id), upn.map(String::as_str))) && query::user_admitted(f, &user) {
                found.insert(id, user);
            }
        }
        Ok(found.into_values().collect())
    }

    /// The groups an `id in (…)` filter names that `f` and every list admit, in id order, each once.
    fn keyed_groups(&self, f: &crossmap_store::GroupFilter, lists: &[KeyList]) -> Result<Vec<Group>, ApiError> {
        let store = self.state.store();
        let mut found = std::collections::BTreeMap::new();
        let ids = match lists.first() {
            Some(KeyList::Ids(ids)) => ids.as_slice(),
            _ => &[],
        };
        for id in ids {
            let Some(group) = store.group(self.tenant(), id)? else {
                continue;
            };
            if lists.iter().all(|l| l.admits(Some(id), None)) && query::group_admitted(f, &group) {
                found.insert(*id, group);
            }
        }
        Ok(found.into_values().collect())
    }

    /// A page of objects already found (an `in` filter's, in id order): after the `$skiptoken`'s id, at
    /// most `top`, a next link while more remain; the count is all of them.
    fn page_of<T: DirectoryObject>(
        &self,
        all: Vec<T>,
        id_of: impl Fn(&T) -> Option<Guid>,
        top: usize,
    ) -> Result<Response, ApiError> {
        let start = match self.cursor()? {
            None => 0,
            Some(Cursor::Id(after)) => all.partition_point(|o| id_of(o).is_some_and(|id| id <= after)),
            Some(Cursor::Upn(_)) => return Err(Self::store_error(StoreError::Directory(DirectoryError::Cursor))),
        };
        let rest = &all[start..];
        let items = &rest[..rest.len().min(top)];
        let next = (rest.len() > top)
            .then(|| items.last().and_then(&id_of).map(Cursor::Id))
            .flatten();
        self.page(items, next, all.len(), top)
    }

    /// A list page: context, count when asked, the link to the next page (before the values, where Graph's
    /// directory puts it), the values; serialised straight to bytes.
    fn page<T: DirectoryObject>(
        &self,
        items: &[T],
        next: Option<Cursor>,
        count: usize,
        top: usize,
    ) -> Result<Response, ApiError> {
        let select = self.options.select.as_deref();
        let body = ListBody {
            context: self.context(""),
            count: self.options.count.then_some(count),
            next_link: next.map(|next| self.next_link(&next, top)),
            value: items
                .iter()
                .map(|object| Shaped {
                    object,
                    ty: self.ty,
                    select,
                })
                .collect(),
        };
        let bytes = serde_json::to_vec(&body).map_err(|e| ApiError::internal(&e))?;
        Ok(json_bytes(StatusCode::OK, bytes))
    }

    /// The absolute URL of the next page: the same query, and the opaque `$skiptoken` after `next`.
    fn next_link(&self, next: &Cursor, top: usize) -> String {
        let mut link = format!("{}/{}?", self.root, self.ty.set);
        if let Some(select) = &self.options.select {
            link.push_str(&format!("$select={}&", encode(&select.join(","))));
        }
        if let Some(filter) = &self.options.filter {
            link.push_str(&format!("$filter={}&", encode(filter)));
        }
        if self.options.count {
            link.push_str("$count=true&");
        }
        link.push_str(&format!(
            "$top={top}&$skiptoken={}",
            query::skiptoken(self.ty.set, next)
        ));
        link
    }

    /// `GET /users/$count`, `/groups/$count`: the number, as text (`$filter` applies).
    fn count(self) -> Result<Response, ApiError> {
        self.check_count()?;
        let store = self.state.store();
        let filter = self.options.filter.as_deref();
        let n = match self.set {
            Set::Users => match query::user_filter(filter, self.ty)? {
                Filtered::Nothing => 0,
                Filtered::Keys(f, lists) => self.keyed_users(&f, &lists)?.len(),
                Filtered::Store(f) => store.count_users(self.tenant(), &f)?,
            },
            _ => match query::group_filter(filter, self.ty)? {
                Filtered::Nothing => 0,
                Filtered::Keys(f, lists) => self.keyed_groups(&f, &lists)?.len(),
                Filtered::Store(f) => store.count_groups(self.tenant(), &f)?,
            },
        };
        Ok(([(header::CONTENT_TYPE, "text/plain;charset=utf-8")], n.to_string()).into_response())
    }

    /// The user a path segment names: by id when it is a GUID, else by UPN (without regard to case).
    fn find_user(&self, key: &str) -> Result<User, ApiError> {
        let store = self.state.store();
        let found = match key.parse::<Guid>() {
            Ok(id) => store.user(self.tenant(), &id)?,
            Err(_) => store.user_by_upn(self.tenant(), key)?,
        };
        found.ok_or_else(|| not_found(key))
    }

    fn find_group(&self, key: &str) -> Result<Group, ApiError> {
        let id = key.parse::<Guid>().map_err(|_| {
            bad_request(format!(
                "Invalid object identifier '{key}': a group is named by its id, a GUID."
            ))
        })?;
        self.state
            .store()
            .group(self.tenant(), &id)?
            .ok_or_else(|| not_found(key))
    }

    fn entity(&self, object: Map<String, Value>, status: StatusCode) -> Response {
        let mut object = object;
        object.insert("@odata.context".into(), Value::String(self.context("/$entity")));
        json_response(status, &Value::Object(object))
    }

    fn get(self, key: &str) -> Result<Response, ApiError> {
        let object = match self.set {
            Set::Users => self.shape(&self.find_user(key)?)?,
            _ => self.shape(&self.find_group(key)?)?,
        };
        Ok(self.entity(object, StatusCode::OK))
    }

    async fn delete(self, key: &str) -> Result<Response, ApiError> {
        let id = match self.set {
            Set::Users => *self.find_user(key)?.id.value().expect("stored users have ids"),
            _ => *self.find_group(key)?.id.value().expect("stored groups have ids"),
        };
        let store = self.state.store().clone();
        let tenant = self.tenant().to_owned();
        let set = self.set;
        // A write waits for its fsync: off the async workers.
        let deleted = tokio::task::spawn_blocking(move || match set {
            Set::Users => store.delete_user(&tenant, &id),
            _ => store.delete_group(&tenant, &id),
        })
        .await
        .map_err(|e| ApiError::internal(&e))??;
        if !deleted {
            return Err(not_found(key)); // deleted by someone else meanwhile
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    }

    /// `POST /users`, `/groups`: Graph's required properties, an id assigned when none is given, `201`
    /// with the object (its default properties) and `Location`.
    async fn create(self, body: Body) -> Result<Response, ApiError> {
        let text = read_json(&self.headers, body).await?;
        let value: Value =
            serde_json::from_str(&text).map_err(|e| bad_request(format!("The request body is not valid JSON: {e}")))?;
        let Value::Object(object) = value else {
            return Err(bad_request(format!(
                "The request body must be a {} object.",
                self.ty.qualified
            )));
        };
        let invalid = |e: schema::Invalid| bad_request(e.message).with_details(e.property, Vec::new());
        let store = self.state.store().clone();
        let tenant = self.tenant().to_owned();
        let created = match self.set {
            Set::Users => {
                let mut user = schema::user(object, Purpose::Create).map_err(invalid)?;
                if user.id.value().is_none() {
                    user.id = new_id()?.into();
                }
                let user = tokio::task::spawn_blocking(move || store.create_user(&tenant, user))
                    .await
                    .map_err(|e| ApiError::internal(&e))?
                    .map_err(conflict)?;
                let id = *user.id.value().expect("set above");
                (
                    to_object(&Shaped {
                        object: &user,
                        ty: self.ty,
                        select: None,
                    })?,
                    id,
                )
            }
            _ => {
                let mut group = schema::group(object, Purpose::Create).map_err(invalid)?;
                if group.id.value().is_none() {
                    group.id = new_id()?.into();
                }
                let group = tokio::task::spawn_blocking(move || store.create_group(&tenant, group))
                    .await
                    .map_err(|e| ApiError::internal(&e))?
                    .map_err(conflict)?;
                let id = *group.id.value().expect("set above");
                (
                    to_object(&Shaped {
                        object: &group,
                        ty: self.ty,
                        select: None,
                    })?,
                    id,
                )
            }
        };
        let (object, id) = created;
        let location = format!("{}/{}/{id}", self.root, self.ty.set);
        let mut response = self.entity(object, StatusCode::CREATED);
        if let Ok(v) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, v);
        }
        Ok(response)
    }

    /// `GET /organization` (a collection of one) or `/organization/{id}`.
    fn organization(self, id: Option<&str>) -> Result<Response, ApiError> {
        let store = self.state.store();
        let organization = match store.organization(self.tenant())? {
            Some(o) => o,
            None => default_organization(self.tenant(), &store.upn_domains(self.tenant())?),
        };
        let object = self.shape(&organization)?;
        match id {
            None => Ok(json_response(
                StatusCode::OK,
                &json!({"@odata.context": self.context(""), "value": [object]}),
            )),
            Some(id)
                if organization
                    .id
                    .value()
                    .is_some_and(|o| id.parse::<Guid>().ok() == Some(*o)) =>
            {
                Ok(self.entity(object, StatusCode::OK))
            }
            Some(id) => Err(not_found(id)),
        }
    }
}

/// The directory's answer to a refused create: Graph's 400 with an `ObjectConflict` detail naming the
/// property.
fn conflict(e: StoreError) -> ApiError {
    let (property, message) = match &e {
        StoreError::Directory(DirectoryError::UpnTaken { .. }) => (
            "userPrincipalName",
            "Another object with the same value for property userPrincipalName already exists.",
        ),
        StoreError::Directory(DirectoryError::IdTaken { .. }) => (
            "id",
            "Another object with the same value for property id already exists.",
        ),
        _ => return e.into(),
    };
    bad_request(message).with_details(
        Some(property.to_owned()),
        vec![ErrorDetail {
            code: codes::CONFLICT.to_owned(),
            message: e.to_string(),
            target: Some(property.to_owned()),
        }],
    )
}

/// A fresh random (version 4) GUID.
fn new_id() -> Result<Guid, ApiError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(&e))?;
    Ok(uuid::Builder::from_random_bytes(bytes).into_uuid().into())
}

/// The organization of a tenant that was seeded without one: its id is the tenant's when the tenant is
/// named by a GUID, else the name-based (version 5, DNS namespace) GUID of `{name}.onmicrosoft.com`; its
/// display name the tenant's name; its verified domains those of its users' UPNs (and
/// `{name}.onmicrosoft.com`, the initial domain every tenant has), the one most users have the default.
pub(crate) fn default_organization(tenant: &str, upn_domains: &[(String, usize)]) -> Organization {
    let (id, initial) = match tenant.parse::<Guid>() {
        Ok(id) => (id, None),
        Err(_) => {
            let initial = format!("{tenant}.onmicrosoft.com");
            (
                uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_DNS, initial.as_bytes()).into(),
                Some(initial),
            )
        }
    };
    let mut domains: Vec<(String, usize)> = upn_domains.to_vec();
    if let Some(initial) = initial {
        if !domains.iter().any(|(d, _)| *d == initial) {
            domains.push((initial, 0));
            domains.sort();
        }
    }
    let is_initial = |d: &str| d.ends_with(".onmicrosoft.com");
    let default = domains
        .iter()
        .filter(|(d, _)| !is_initial(d))
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
        .or_else(|| domains.iter().find(|(d, _)| is_initial(d)))
        .map(|(d, _)| d.clone());
    let verified = domains
        .iter()
        .map(|(name, _)| {
            serde_json::from_value(json!({
                "capabilities": "Email, OfficeCommunicationsOnline",
                "isDefault": Some(name) == default.as_ref(),
                "isInitial": is_initial(name),
                "name": name,
                "type": "Managed",
            }))
            .expect("a verified domain")
        })
        .collect();
    Organization {
        id: id.into(),
        display_name: tenant.to_owned().into(),
        verified_domains: Some(verified).into(),
        ..Organization::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_by_version_and_set() {
        assert_eq!(split("/v1.0/users"), Some(("v1.0", Set::Users, "")));
        assert_eq!(split("/BETA/Groups/abc"), Some(("beta", Set::Groups, "/abc")));
        assert_eq!(split("/v1.0/organization/x"), Some(("v1.0", Set::Organization, "/x")));
        assert_eq!(split("/v2.0/users"), None);
        assert_eq!(split("/beta/usersx"), None);
        assert_eq!(split("/beta/solutions/sharePoint"), None);
    }

    #[test]
    fn a_default_organization_is_stable_and_names_the_users_domains() {
        let domains = [
            ("contoso.com".to_owned(), 3),
            ("contoso.onmicrosoft.com".to_owned(), 1),
            ("sub.contoso.com".to_owned(), 3),
        ];
        let o = default_organization("contoso", &domains);
        assert_eq!(o, default_organization("contoso", &domains));
        assert_ne!(o.id, default_organization("fabrikam", &domains).id);
        assert_eq!(o.display_name.value().unwrap(), "contoso");
        let d = o.verified_domains.value().unwrap();
        let default: Vec<&str> = d
            .iter()
            .filter(|d| d.is_default.value() == Some(&true))
            .map(|d| d.name.value().unwrap().as_str())
            .collect();
        assert_eq!(default, ["contoso.com"], "most users, then the first by name");
        let o = default_organization("11111111-1111-1111-1111-111111111111", &[]);
        assert_eq!(
            o.id.value().unwrap().to_string(),
            "11111111-1111-1111-1111-111111111111"
        );
        assert!(o.verified_domains.value().unwrap().is_empty());
        let o = default_organization("fabrikam", &[]);
        assert_eq!(o.domain_names().collect::<Vec<_>>(), ["fabrikam.onmicrosoft.com"]);
        assert_eq!(o.verified_domains.value().unwrap()[0].is_default.value(), Some(&true));
    }
}
