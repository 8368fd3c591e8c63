//! The identity-mapping collections: routing inside `/beta/solutions/sharePoint/migrations/` and the
//! handlers, written once for both kinds.

use crate::error::ApiError;
use crate::{AppState, Claims, MAX_BODY, json_bytes, json_response};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crossmap_delta::{Mode, Outcome, ParsedRequest, parse_request};
use crossmap_model::error::codes;
use crossmap_model::{
    DELTA_CONTEXT, DeltaItem, EntityResponse, MappingId, MappingKey, SharePointGroupIdentityMapping,
    SharePointUserIdentityMapping,
};
use crossmap_store::StoredKind;
use futures_util::StreamExt;
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde_json::{Map, Value, json};

/// Routes the part of the path after the migrations root.
pub(crate) async fn handle(
    state: &AppState,
    claims: Claims,
    request: Request,
    rest: &str,
) -> Result<Response, ApiError> {
    let name_end = rest.find(['/', '(']).unwrap_or(rest.len());
    let (collection, tail) = rest.split_at(name_end);
    let (parts, body) = request.into_parts();
    let query = parts.uri.query().map(str::to_owned);
    let query = query.as_deref();
    if collection.eq_ignore_ascii_case(SharePointGroupIdentityMapping::COLLECTION) {
        Kind::<SharePointGroupIdentityMapping>::new(state, claims, parts.headers)
            .handle(parts.method, query, body, tail)
            .await
    } else if collection.eq_ignore_ascii_case(SharePointUserIdentityMapping::COLLECTION) {
        Kind::<SharePointUserIdentityMapping>::new(state, claims, parts.headers)
            .handle(parts.method, query, body, tail)
            .await
    } else {
        Err(ApiError::not_found(format!(
            "no collection {collection:?} under migrations: there are {} and {}",
            SharePointUserIdentityMapping::COLLECTION,
            SharePointGroupIdentityMapping::COLLECTION
        )))
    }
}

/// One request to one collection.
struct Kind<'s, M> {
    state: &'s AppState,
    claims: Claims,
    headers: HeaderMap,
    base: String,
    query: Query,
    _kind: std::marker::PhantomData<M>,
}

/// The OData system query options a collection understands, read from a request's query string.
///
/// ```
/// use crossmap_server::Query;
/// let q = Query::parse("$top=5&$select=id,%20sourceOrganizationId&$count=true").unwrap();
/// assert_eq!(q.to_query_string(), "$top=5&$select=id%2CsourceOrganizationId&$count=true");
/// assert_eq!(Query::parse(&q.to_query_string()).unwrap(), q);
/// assert!(Query::parse("$top=0").is_err());
/// // Graph's beta endpoint: the `$` is optional.
/// assert_eq!(Query::parse("top=5&select=id,%20sourceOrganizationId&count=true").unwrap(), q);
/// ```
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Query {
    select: Option<Vec<String>>,
    top: Option<usize>,
    skip: Option<usize>,
    skiptoken: Option<String>,
    count: bool,
    deltatoken: Option<u64>,
}

/// OData's preference to apply the valid items of a delta payload; 4.0 spells it with the prefix.
const CONTINUE_ON_ERROR: &str = "continue-on-error";
const CONTINUE_ON_ERROR_PREFIXED: &str = "odata.continue-on-error";

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 999;

/// OData's system query options, named without their `$`.
const SYSTEM_OPTIONS: [&str; 16] = [
    "apply",
    "compute",
    "count",
    "deltatoken",
    "expand",
    "filter",
    "format",
    "index",
    "levels",
    "orderby",
    "schemaversion",
    "search",
    "select",
    "skip",
    "skiptoken",
    "top",
];

/// The query's pairs with every system query option named with its `$`: Graph's beta endpoint reads
/// them with or without it ("On the beta endpoint, the $ prefix is optional", Graph's query-parameters
/// page), so `select=id` is `$select=id` and `$top=1&top=2` gives `$top` twice.
pub(crate) fn dollar_optional(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    pairs
        .into_iter()
        .map(|(name, value)| match SYSTEM_OPTIONS.contains(&name.as_str()) {
            true => (format!("${name}"), value),
            false => (name, value),
        })
        .collect()
}

fn parse_query(raw: Option<&str>) -> Result<Query, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|_| ApiError::bad_request("the query string is not valid"))?;
    // The collections are on the beta endpoint only.
    let pairs = dollar_optional(pairs);
    let mut q = Query::default();
    let number = |name: &str, v: &str| {
        v.parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("{name} must be a whole number, not {v:?}")))
    };
    let mut seen: Vec<&str> = Vec::new();
    for (name, _) in &pairs {
        // OData: a system query option may appear once (Graph answers 400 rather than pick one).
        if name.starts_with('$') {
            if seen.contains(&name.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "Query option '{name}' was specified more than once, but it must be specified at most once."
                )));
            }
            seen.push(name);
        }
    }
    for (name, value) in pairs {
        match name.as_str() {
            "$select" => {
                q.select = Some(
                    value
                        .split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect(),
                )
            }
            "$top" => q.top = Some(number("$top", &value)?),
            "$skip" => q.skip = Some(number("$skip", &value)?),
            "$skiptoken" => q.skiptoken = Some(value),
            "$count" => {
                q.count = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ApiError::bad_request("$count must be true or false")),
                }
            }
            "$deltatoken" => {
                q.deltatoken = Some(
                    value
                        .parse()
                        .map_err(|_| ApiError::bad_request(format!("{value:?} is not a delta token")))?,
                )
            }
            other if other.starts_with('$') => {
                return Err(ApiError::bad_request(format!(
                    "the query option {other} is not supported here"
                )));
            }
            _ => {}
        }
    }
    if q.top.is_some_and(|t| t == 0 || t > MAX_PAGE) {
        return Err(ApiError::bad_request(format!("$top must be between 1 and {MAX_PAGE}")));
    }
    Ok(q)
}

impl Query {
    /// Reads a query string (without the `?`): system options (`$…`, or without the `$`, as Graph's beta
    /// endpoint takes them) it does not support are refused, other parameters ignored. The error is the
    /// 400 the emulator answers.
    pub fn parse(raw: &str) -> Result<Query, ApiError> {
        parse_query(Some(raw))
    }

    /// The query string that reads back as these options (values percent-encoded); what the emulator's
    /// `@odata.nextLink`s and `@odata.deltaLink`s carry.
    pub fn to_query_string(&self) -> String {
        let mut options: Vec<(&str, String)> = Vec::new();
        if let Some(top) = self.top {
            options.push(("$top", top.to_string()));
        }
        if let Some(skip) = self.skip {
            options.push(("$skip", skip.to_string()));
        }
        if let Some(token) = &self.skiptoken {
            options.push(("$skiptoken", encode_component(token)));
        }
        if let Some(select) = &self.select {
            options.push(("$select", encode_component(&select.join(","))));
        }
        if self.count {
            options.push(("$count", "true".to_owned()));
        }
        if let Some(token) = self.deltatoken {
            options.push(("$deltatoken", token.to_string()));
        }
        let options: Vec<String> = options
            .into_iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        options.join("&")
    }
}

fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

impl<'s, M: StoredKind> Kind<'s, M> {
    fn new(state: &'s AppState, claims: Claims, headers: HeaderMap) -> Self {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let base = format!("http://{host}/beta");
        Kind {
            state,
            claims,
            base,
            query: Query::default(),
            headers,
            _kind: std::marker::PhantomData,
        }
    }

    async fn handle(
        mut self,
        method: Method,
        query: Option<&str>,
        body: Body,
        tail: &str,
    ) -> Result<Response, ApiError> {
        self.query = parse_query(query)?;
        match tail {
            "" => match method {
                Method::GET => self.read()?.list(),
                Method::POST => self.write()?.create(body).await,
                Method::PATCH => self.write()?.delta_patch(body).await,
                m => Err(ApiError::method_not_allowed(m.as_str(), "GET, POST, PATCH")),
            },
            // OData: a `/` inside a key is written `%2F`; unencoded it ends the path segment (on Graph
            // the key would be cut short), so it is refused rather than read as part of the key.
            t if t.starts_with('(') && t.contains('/') => Err(ApiError::bad_request(format!(
                "{t:?} is not a key segment: a '/' inside a key must be percent-encoded as %2F"
            ))),
            t if t.starts_with('(') => match method {
                Method::GET => {
                    let key = M::Key::from_key_predicate(t).map_err(|e| ApiError::bad_request(e.to_string()))?;
                    self.read()?.get(&key)
                }
                m => Err(ApiError::method_not_allowed(m.as_str(), "GET")),
            },
            "/$count" => match method {
                Method::GET => self.read()?.count(),
                m => Err(ApiError::method_not_allowed(m.as_str(), "GET")),
            },
            "/delta()" | "/delta" => match method {
                Method::GET => self.read()?.delta_feed(),
                m => Err(ApiError::method_not_allowed(m.as_str(), "GET")),
            },
            t if t.len() > 1 && !t[1..].contains('/') => {
                let raw = percent_decode_str(&t[1..]).decode_utf8_lossy().into_owned();
                let key = key_of_id::<M>(&raw)?;
                match method {
                    Method::GET => self.read()?.get(&key),
                    Method::PATCH => self.write()?.update(key, body).await,
                    Method::DELETE => self.write()?.delete(key).await,
                    m => Err(ApiError::method_not_allowed(m.as_str(), "GET, PATCH, DELETE")),
                }
            }
            _ => Err(ApiError::not_found(format!(
                "no resource at {}{tail}",
                M::COLLECTION_PATH
            ))),
        }
    }

    fn read(self) -> Result<Self, ApiError> {
        if self.claims.can_read() {
            Ok(self)
        } else {
            Err(ApiError::forbidden(format!(
                "reading mappings needs the {} or {} application permission",
                crate::READ_ROLE,
                crate::MANAGE_ROLE
            )))
        }
    }

    fn write(self) -> Result<Self, ApiError> {
        if self.claims.can_write() {
            Ok(self)
        } else {
            Err(ApiError::forbidden(format!(
                "writing mappings needs the {} application permission",
                crate::MANAGE_ROLE
            )))
        }
    }

    fn tenant(&self) -> &str {
        &self.claims.tid
    }

    fn context(&self, suffix: &str) -> String {
        let select = match &self.query.select {
            Some(s) if suffix == "/$entity" => format!("({})", s.join(",")),
            _ => String::new(),
        };
        crossmap_model::context_url(&self.base, &format!("{}{select}{suffix}", M::COLLECTION_PATH))
    }

    /// The entity as JSON, cut down to `$select` (and `id`) when given.
    fn shape(&self, mapping: &M) -> Result<Map<String, Value>, ApiError> {
        let Value::Object(mut object) = serde_json::to_value(mapping).map_err(|e| ApiError::internal(&e))? else {
            return Err(ApiError::internal(&"a mapping did not serialise to an object"));
        };
        if let Some(select) = &self.query.select {
            object.retain(|k, _| k == "id" || select.iter().any(|s| s == k));
        }
        Ok(object)
    }

    fn check_select(&self) -> Result<(), ApiError> {
        for name in self.query.select.iter().flatten() {
            if M::property(name).is_none() {
                return Err(ApiError::bad_request(format!(
                    "Could not find a property named '{name}' on type '{}'",
                    M::QUALIFIED_NAME
                )));
            }
        }
        Ok(())
    }

    fn get(self, key: &M::Key) -> Result<Response, ApiError> {
        self.check_select()?;
        let mapping = self
            .state
            .store()
            .get::<M>(self.tenant(), key)?
            .ok_or_else(|| not_found::<M>(key))?;
        let context = self.context("/$entity");
        if self.query.select.is_none() {
            // The common case straight to bytes, without an intermediate JSON tree.
            let body = EntityResponse {
                context: Some(context),
                entity: mapping,
            };
            return Ok(json_bytes(
                StatusCode::OK,
                serde_json::to_vec(&body).map_err(|e| ApiError::internal(&e))?,
            ));
        }
        let mut object = self.shape(&mapping)?;
        object.insert("@odata.context".into(), Value::String(context));
        Ok(json_response(StatusCode::OK, &Value::Object(object)))
    }

    fn list(self) -> Result<Response, ApiError> {
        self.check_select()?;
        let top = self.query.top.unwrap_or(DEFAULT_PAGE);
        let skip = self.query.skip.unwrap_or(0);
        let after = match &self.query.skiptoken {
            Some(t) => Some(M::Key::parse(t).map_err(|_| ApiError::bad_request("the $skiptoken is not valid"))?),
            None => None,
        };
        let page = self
            .state
            .store()
            .page::<M>(self.tenant(), after.as_ref(), skip.saturating_add(top))?;
        let value = page
            .mappings
            .iter()
            .skip(skip)
            .map(|m| self.shape(m).map(Value::Object))
            .collect::<Result<Vec<_>, _>>()?;
        let mut body = Map::new();
        body.insert("@odata.context".into(), Value::String(self.context("")));
        if self.query.count {
            body.insert(
                "@odata.count".into(),
                json!(self.state.store().count::<M>(self.tenant())?),
            );
        }
        body.insert("value".into(), Value::Array(value));
        if let Some(next) = page.next {
            let options = Query {
                top: Some(top),
                skiptoken: Some(next.as_str().to_owned()),
                select: self.query.select.clone(),
                count: self.query.count,
                ..Query::default()
            };
            let link = format!("{}/{}?{}", self.base, M::COLLECTION_PATH, options.to_query_string());
            body.insert("@odata.nextLink".into(), Value::String(link));
        }
        Ok(json_response(StatusCode::OK, &Value::Object(body)))
    }

    fn count(self) -> Result<Response, ApiError> {
        let n = self.state.store().count::<M>(self.tenant())?;
        Ok(([(header::CONTENT_TYPE, "text/plain;charset=utf-8")], n.to_string()).into_response())
    }

    /// The change feed as Graph delta pages: without a token, every mapping (then a deltaLink); with one,
    /// the changes since (removals as `@removed`).
    fn delta_feed(self) -> Result<Response, ApiError> {
        let top = self.query.top.unwrap_or(DEFAULT_PAGE);
        let link = |options: Query| {
            format!(
                "{}/{}/delta()?{}",
                self.base,
                M::COLLECTION_PATH,
                options.to_query_string()
            )
        };
        let delta_token = |token: u64| Query {
            deltatoken: Some(token),
            ..Query::default()
        };
        let mut body = Map::new();
        body.insert("@odata.context".into(), Value::String(self.context("/$delta")));
        match self.query.deltatoken {
            Some(token) => {
                let page = self.state.store().changes_since::<M>(self.tenant(), token, top)?;
                let value: Vec<Value> = page
                    .changes
                    .iter()
                    .map(|c| serde_json::to_value(c.to_delta_item()).map_err(|e| ApiError::internal(&e)))
                    .collect::<Result<_, _>>()?;
                body.insert("value".into(), Value::Array(value));
                let name = if page.more {
                    "@odata.nextLink"
                } else {
                    "@odata.deltaLink"
                };
                body.insert(name.into(), Value::String(link(delta_token(page.token))));
            }
            None => {
                // The initial round: all mappings in key order, then a token to follow changes from.
                // `$skiptoken` carries the snapshot's token and the last key sent: "token.key".
                let (snapshot, after) = match &self.query.skiptoken {
                    Some(t) => {
                        let (token, key) = t
                            .split_once('.')
                            .ok_or_else(|| ApiError::bad_request("the $skiptoken is not valid"))?;
                        let token: u64 = token
                            .parse()
                            .map_err(|_| ApiError::bad_request("the $skiptoken is not valid"))?;
                        (
                            token,
                            Some(M::Key::parse(key).map_err(|_| ApiError::bad_request("the $skiptoken is not valid"))?),
                        )
                    }
                    None => (self.state.store().latest_token::<M>(self.tenant())?, None),
                };
                let page = self.state.store().page::<M>(self.tenant(), after.as_ref(), top)?;
                let value: Vec<Value> = page
                    .mappings
                    .iter()
                    .map(|m| serde_json::to_value(m).map_err(|e| ApiError::internal(&e)))
                    .collect::<Result<_, _>>()?;
                body.insert("value".into(), Value::Array(value));
                match page.next {
                    Some(next) => body.insert(
                        "@odata.nextLink".into(),
                        Value::String(link(Query {
                            skiptoken: Some(format!("{snapshot}.{}", next.as_str())),
                            ..Query::default()
                        })),
                    ),
                    None => body.insert("@odata.deltaLink".into(), Value::String(link(delta_token(snapshot)))),
                };
            }
        }
        Ok(json_response(StatusCode::OK, &Value::Object(body)))
    }

    /// The request body as text: JSON content type, at most [`MAX_BODY`] bytes, UTF-8.
    async fn body(&self, body: Body) -> Result<String, ApiError> {
        read_json(&self.headers, body).await
    }

    /// The name under which the request asked for OData preference `name` (`continue-on-error`), to be
    /// echoed in `Preference-Applied`; `None` when it did not ask, or said `=false`. OData 4.01's ABNF:
    /// `[ "odata." ] name [ EQ-h booleanValue ]`, parameters after `;`, names without regard to case.
    fn prefer(headers: &HeaderMap, name: &str) -> Option<&'static str> {
        let asked = headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .find_map(|preference| {
                let preference = preference.split(';').next().unwrap_or_default();
                let (token, value) = match preference.split_once('=') {
                    Some((token, value)) => (token.trim(), Some(value.trim().trim_matches('"'))),
                    None => (preference.trim(), None),
                };
                let prefixed = token.len() > 6 && token[..6].eq_ignore_ascii_case("odata.");
                let bare = if prefixed { &token[6..] } else { token };
                bare.eq_ignore_ascii_case(name).then_some((prefixed, value))
            });
        match asked {
            Some((_, Some(value))) if value.eq_ignore_ascii_case("false") => None,
            Some((true, _)) => Some(CONTINUE_ON_ERROR_PREFIXED),
            Some((false, _)) => Some(CONTINUE_ON_ERROR),
            None => None,
        }
    }

    async fn apply(&self, request: ParsedRequest<M>, mode: Mode) -> Result<Vec<Outcome<M>>, ApiError> {
        let store = self.state.store().clone();
        let tenant = self.tenant().to_owned();
        // A write waits for its fsync: off the async workers.
        let applied = tokio::task::spawn_blocking(move || store.apply::<M>(&tenant, request, mode))
            .await
            .map_err(|e| ApiError::internal(&e))??;
        Ok(applied.outcomes)
    }

    /// Applies the single-item request `build` makes from the current mapping of `key`, in one step under
    /// the store's lock: a concurrent writer cannot slip between the read and the write.
    async fn apply_with(
        &self,
        key: M::Key,
        build: impl FnOnce(Option<M>) -> Result<DeltaItem<M>, ApiError> + Send + 'static,
    ) -> Result<Vec<Outcome<M>>, ApiError> {
        let store = self.state.store().clone();
        let tenant = self.tenant().to_owned();
        let applied = tokio::task::spawn_blocking(move || {
            store.apply_with::<M, ApiError>(&tenant, &key, Mode::Atomic, |current| build(current).map(Self::single))
        })
        .await
        .map_err(|e| ApiError::internal(&e))??;
        Ok(applied.outcomes)
    }

    /// The documented delta PATCH.
    async fn delta_patch(self, body: Body) -> Result<Response, ApiError> {
        let continue_on_error = Self::prefer(&self.headers, CONTINUE_ON_ERROR);
        let text = self.body(body).await?;
        let this = self;
        let parsed = parse_request::<M>(&text)?;
        let items = parsed.items.len();
        let removals: Vec<bool> = parsed
            .items
            .iter()
            .map(|i| matches!(i, Ok(item) if item.is_removal()))
            .collect();
        let mode = if continue_on_error.is_some() {
            Mode::ContinueOnError
        } else {
            Mode::Atomic
        };
        let outcomes = this.apply(parsed, mode).await?;
        let value = outcomes
            .iter()
            .zip(removals)
            .map(|(o, removal)| match o {
                Outcome::Failed(e) => Ok(json!({
                    "@Core.DataModificationException": {
                        "failedOperation": if removal { "delete" } else { "upsert" },
                        "responseCode": 400,
                        "info": {"code": codes::INVALID_REQUEST, "message": e.to_string(), "target": e.target()},
                    }
                })),
                other => {
                    serde_json::to_value(other.entry().expect("not a failure")).map_err(|e| ApiError::internal(&e))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut response = json_response(
            StatusCode::OK,
            &json!({"@odata.context": this.context("/$delta"), "value": value}),
        );
        if let Some(applied) = continue_on_error {
            response
                .headers_mut()
                .insert("Preference-Applied", HeaderValue::from_static(applied));
        }
        response
            .extensions_mut()
            .insert(crate::admin::journal::DeltaItems(items));
        Ok(response)
    }

    /// Reads one mapping from the body, reporting a bad value with its path.
    fn entity(text: &str) -> Result<M, ApiError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            ApiError::bad_request(format!("{path}: {}", e.into_inner())).with_details(Some(path), Vec::new())
        })
    }

    fn single(item: DeltaItem<M>) -> ParsedRequest<M> {
        ParsedRequest {
            context: Some(DELTA_CONTEXT.to_owned()),
            items: vec![Ok(item)],
        }
    }

    /// `POST` to the collection: creates one mapping (409 if its key is taken).
    async fn create(self, body: Body) -> Result<Response, ApiError> {
        let text = self.body(body).await?;
        let this = self;
        let mapping = Self::entity(&text)?;
        let key = match mapping.source_key_checked() {
            Some(Ok(k)) => k,
            Some(Err(e)) => return Err(ApiError::bad_request(format!("{}: {e}", M::SOURCE_KEY_PATH))),
            None => {
                return Err(ApiError::bad_request(format!(
                    "{} is required: it names the mapping",
                    M::SOURCE_KEY_PATH
                )));
            }
        };
        let taken = key.clone();
        let outcomes = this
            .apply_with(key.clone(), move |current| match current {
                Some(_) => Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    format!("a mapping already exists at {}", taken.to_segment()),
                )),
                None => Ok(DeltaItem::Upsert(mapping)),
            })
            .await?;
        let created = outcomes
            .first()
            .and_then(Outcome::entry)
            .ok_or_else(|| ApiError::internal(&"no outcome"))?;
        let mut object = this.shape(created)?;
        object.insert("@odata.context".into(), Value::String(this.context("/$entity")));
        let mut response = json_response(StatusCode::CREATED, &Value::Object(object));
        let location = format!(
            "{}/{}/{}",
            this.base,
            M::COLLECTION_PATH,
            encode_component(&M::id_of(&key))
        );
        if let Ok(v) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, v);
        }
        Ok(response)
    }

    /// `PATCH` by id: merges the body into the mapping (404 if there is none).
    async fn update(self, key: M::Key, body: Body) -> Result<Response, ApiError> {
        let text = self.body(body).await?;
        let this = self;
        let patch = Self::entity(&text)?;
        match patch.source_key_checked() {
            Some(Ok(k)) if k != key => {
                return Err(ApiError::bad_request(format!(
                    "{} cannot change: it names the mapping",
                    M::SOURCE_KEY_PATH
                )));
            }
            Some(Err(e)) => return Err(ApiError::bad_request(format!("{}: {e}", M::SOURCE_KEY_PATH))),
            _ => {}
        }
        let missing = not_found::<M>(&key);
        this.apply_with(key, move |current| {
            // The item names the mapping exactly as it is stored, then carries the changes.
            let mut item = current.ok_or(missing)?.key_only();
            item.merge(patch);
            Ok(DeltaItem::Upsert(item))
        })
        .await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }

    /// `DELETE` by id (404 if there is none).
    async fn delete(self, key: M::Key) -> Result<Response, ApiError> {
        let missing = not_found::<M>(&key);
        let removal = DeltaItem::deleted(M::from_key(&key));
        self.apply_with(key, move |current| current.map(|_| removal).ok_or(missing))
            .await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }
}

/// A request body as text: JSON content type, at most [`MAX_BODY`] bytes, UTF-8.
pub(crate) async fn read_json(headers: &HeaderMap, body: Body) -> Result<String, ApiError> {
    check_content_type(headers)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return Err(too_large());
    }
    let bytes = read_body(body, declared).await?;
    String::from_utf8(bytes).map_err(|_| ApiError::bad_request("the body is not UTF-8"))
}

/// Reads a body of at most [`MAX_BODY`] bytes: `413` past that, `400` for one that breaks its framing
/// (a bad chunk, fewer bytes than declared). By hand rather than with `to_bytes`, whose one error
/// cannot tell the two apart.
async fn read_body(body: Body, declared: Option<usize>) -> Result<Vec<u8>, ApiError> {
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0).min(MAX_BODY));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("the body could not be read: {}", cause(&e))))?;
        if bytes.len() + chunk.len() > MAX_BODY {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Only JSON is read: the media type `application/json` exactly (any case), with parameters such as
/// `charset=utf-8` or `odata.metadata=minimal`; a charset other than UTF-8 is refused too, since JSON is
/// UTF-8 (RFC 8259). Anything else, or no or several `Content-Type` headers, is `415`.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let refuse = |found: &str| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::UNSUPPORTED_MEDIA_TYPE,
            format!("the body must be JSON: send Content-Type: application/json (found {found})"),
        )
    };
    let mut values = headers.get_all(header::CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(refuse(if headers.contains_key(header::CONTENT_TYPE) {
            "several Content-Type headers"
        } else {
            "no Content-Type"
        }));
    };
    let text = value.to_str().map_err(|_| refuse("a Content-Type that is not text"))?;
    // RFC 9110 §8.3.1: type/subtype, then `;`-separated parameters, spaces allowed around each `;`
    // (the `mime` crate refuses a space before one, so this is read by hand).
    let mut parts = text.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    let charset_ok = parts.all(|p| match p.split_once('=') {
        Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
            value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        }
        Some(_) => true,
        None => p.trim().is_empty(),
    });
    if !essence.eq_ignore_ascii_case("application/json") || !charset_ok {
        return Err(refuse(&format!("{text:?}")));
    }
    Ok(())
}

/// The 413 for a body over [`MAX_BODY`].
fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        codes::REQUEST_TOO_LARGE,
        format!("the body is larger than {MAX_BODY} bytes"),
    )
}

/// An error with its causes, innermost last: hyper's body errors say what broke only in their source.
fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

/// The 404 for a mapping that is not there.
fn not_found<M: StoredKind>(key: &M::Key) -> ApiError {
    ApiError::not_found(format!("no mapping at {}", key.to_segment()))
}

/// The key an id names, if it is an id of this collection.
fn key_of_id<M: StoredKind>(raw: &str) -> Result<M::Key, ApiError> {
    let id = MappingId::decode(raw).map_err(|e| ApiError::not_found(e.to_string()))?;
    if id.kind() != M::KIND {
        return Err(ApiError::not_found(format!(
            "{raw:?} is not the id of a mapping in {}",
            M::COLLECTION_PATH
        )));
    }
    M::Key::parse(id.key_text()).map_err(|e| ApiError::not_found(e.to_string()))
}
