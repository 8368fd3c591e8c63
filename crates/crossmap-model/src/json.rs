//! Reading and writing the API's bodies without `serde_json` at hand: `from_json`, `from_slice` and
//! `to_json` on the envelopes ([`DeltaRequest`], [`CollectionResponse`], [`EntityResponse`],
//! [`ErrorResponse`]), failing with one typed error, [`JsonError`], that says what was being read and where.

use crate::odata::StructuredType;
use crate::{CollectionResponse, DeltaRequest, EntityResponse, ErrorResponse};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a body could not be read as the type asked for: what was being read, what was wrong, and where.
///
/// ```
/// use crossmap_model::{DeltaRequest, JsonErrorKind, UserMapping};
/// let e = DeltaRequest::<UserMapping>::from_json(r##"{"@context": "#$delta"}"##).unwrap_err();
/// assert_eq!(e.kind, JsonErrorKind::Data);
/// assert_eq!((e.line, e.column), (1, 23));
/// assert_eq!(e.to_string(), "not a delta request: missing field `value` at line 1, column 23");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not {what}: {message} at line {line}, column {column}")]
#[non_exhaustive]
pub struct JsonError {
    /// What was being read, e.g. `a delta request`.
    pub what: &'static str,
    /// What was wrong, e.g. ``missing field `value` ``.
    pub message: String,
    /// The line (from 1) at which it was found.
    pub line: usize,
    /// The column (from 1) at which it was found.
    pub column: usize,
    /// Whether the text is not JSON, is cut short, or is JSON of another shape.
    pub kind: JsonErrorKind,
}

/// What kind of problem a [`JsonError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JsonErrorKind {
    /// The text is not JSON.
    Syntax,
    /// The text ends before the JSON does.
    Eof,
    /// The text is JSON, but not of the shape or with the values the type requires.
    Data,
}

impl JsonError {
    fn new(what: &'static str, e: serde_json::Error) -> Self {
        let (line, column) = (e.line(), e.column());
        let kind = match e.classify() {
            serde_json::error::Category::Syntax => JsonErrorKind::Syntax,
            serde_json::error::Category::Eof => JsonErrorKind::Eof,
            // Reading from memory does no I/O: what is left is the data's shape.
            serde_json::error::Category::Data | serde_json::error::Category::Io => JsonErrorKind::Data,
        };
        // serde_json's message ends with its own " at line L column C": kept once, in our fields.
        let text = e.to_string();
        let message = text
            .strip_suffix(&format!(" at line {line} column {column}"))
            .unwrap_or(&text)
            .to_owned();
        JsonError {
            what,
            message,
            line,
            column,
            kind,
        }
    }
}

fn from_slice<T: DeserializeOwned>(what: &'static str, body: &[u8]) -> Result<T, JsonError> {
    serde_json::from_slice(body).map_err(|e| JsonError::new(what, e))
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    // Every map of the model has string keys and every value is JSON already: writing cannot fail.
    serde_json::to_string(value).expect("the model's types serialise to JSON")
}

impl<T: StructuredType + DeserializeOwned> DeltaRequest<T> {
    /// Reads a delta request body, as a `PATCH …/$delta` sends it: each item an upsert or, marked with
    /// `@removed`, a removal. The shape only: `crossmap_delta` says whether the service would apply it.
    ///
    /// ```
    /// use crossmap_model::{DeltaItem, DeltaRequest, UserMapping};
    /// // tests/fixtures/user_update_request.json, Graph's documented example.
    /// let body = r##"{
    ///   "@context": "#$delta",
    ///   "value": [
    ///     {
    ///       "sourceOrganizationId": "11111111-1111-1111-1111-111111111111",
    ///       "userType": "regularUser",
    ///       "sourceUserIdentity": {"userPrincipalName": "user1@contoso.com"},
    ///       "targetUserIdentity": {"userPrincipalName": "admin@a830edad9050849ken005.onmicrosoft.com"},
    ///       "targetUserMigrationData": {"email": "admin@a830edad9050849ken005.onmicrosoft.com"}
    ///     },
    ///     {
    ///       "@removed": {"reason": "deleted"},
    ///       "sourceUserIdentity": {"userPrincipalName": "user1@contoso.com"}
    ///     }
    ///   ]
    /// }"##;
    /// let request = DeltaRequest::<UserMapping>::from_json(body).unwrap();
    /// assert!(request.is_delta());
    /// let DeltaItem::Upsert(user) = &request.value[0] else { panic!("an upsert first") };
    /// assert_eq!(user.target_upn(), Some("admin@a830edad9050849ken005.onmicrosoft.com"));
    /// assert!(request.value[1].is_removal());
    /// ```
    pub fn from_json(body: &str) -> Result<Self, JsonError> {
        Self::from_slice(body.as_bytes())
    }

    /// Reads a delta request body from bytes, as an HTTP body arrives.
    pub fn from_slice(body: &[u8]) -> Result<Self, JsonError> {
        from_slice("a delta request", body)
    }
}

impl<T: StructuredType + Serialize> DeltaRequest<T> {
    /// The request as the body to send: compact JSON, each removal with its `@removed`.
    ///
    /// ```
    /// use crossmap_model::{DeltaItem, DeltaRequest, UserKey};
    /// let request = DeltaRequest::new(vec![DeltaItem::remove(&UserKey::parse("ann@contoso.com").unwrap())]);
    /// assert_eq!(
    ///     request.to_json(),
    ///     r##"{"@context":"#$delta","value":[{"@removed":{"reason":"deleted"},"sourceUserIdentity":{"userPrincipalName":"ann@contoso.com"}}]}"##
    /// );
    /// ```
    pub fn to_json(&self) -> String {
        to_json(self)
    }
}

impl<T: DeserializeOwned> CollectionResponse<T> {
    /// Reads a collection page: a list's page (follow [`next_link`](Self::next_link) for the next) or a
    /// delta PATCH's answer, one entry per item sent.
    ///
    /// ```
    /// use crossmap_model::{CollectionResponse, UserMapping};
    /// // tests/fixtures/user_update_response.json: the answer to the request above, entry by entry.
    /// let body = r#"{
    ///   "@odata.context": "https://graph.microsoft.com/beta/$metadata#solutions/sharePoint/migrations/crossOrganizationUserMappings/$delta",
    ///   "value": [
    ///     {
    ///       "id": "AQAAAAEAAAB1c2VyMUBjb250b3NvLmNvbQ",
    ///       "sourceOrganizationId": "11111111-1111-1111-1111-111111111111",
    ///       "userType": "regularUser",
    ///       "sourceUserIdentity": {"userPrincipalName": "user1@contoso.com"},
    ///       "targetUserIdentity": {"userPrincipalName": "admin@a830edad9050849ken005.onmicrosoft.com"},
    ///       "targetUserMigrationData": {"email": "admin@a830edad9050849ken005.onmicrosoft.com"}
    ///     },
    ///     {
    ///       "id": "AQAAAAEAAAB1c2VyMUBjb250b3NvLmNvbQ",
    ///       "sourceUserIdentity": {"userPrincipalName": "user1@contoso.com"}
    ///     }
    ///   ]
    /// }"#;
    /// let page = CollectionResponse::<UserMapping>::from_json(body).unwrap();
    /// assert_eq!(page.value.len(), 2);
    /// assert_eq!(page.value[0].id(), Some("AQAAAAEAAAB1c2VyMUBjb250b3NvLmNvbQ"));
    /// assert!(page.next_link.is_none(), "the last page");
    /// ```
    pub fn from_json(body: &str) -> Result<Self, JsonError> {
        Self::from_slice(body.as_bytes())
    }

    /// Reads a collection page from bytes, as an HTTP body arrives.
    pub fn from_slice(body: &[u8]) -> Result<Self, JsonError> {
        from_slice("a collection page", body)
    }
}

impl<T: Serialize> CollectionResponse<T> {
    /// The page as a body: compact JSON.
    ///
    /// ```
    /// use crossmap_model::{CollectionResponse, GroupKey, GroupMapping, Guid, IdentityMapping};
    /// let page = CollectionResponse::new("#x", vec![GroupMapping::from_key(&GroupKey::new(Guid::from_u128(1)))]);
    /// assert_eq!(
    ///     page.to_json(),
    ///     r##"{"@odata.context":"#x","value":[{"sourceGroupIdentity":{"id":"00000000-0000-0000-0000-000000000001"}}]}"##
    /// );
    /// ```
    pub fn to_json(&self) -> String {
        to_json(self)
    }
}

impl<T: StructuredType + DeserializeOwned> EntityResponse<T> {
    /// Reads one entity as a `GET` by id or by alternate key answers it, its `@odata.context` apart.
    ///
    /// ```
    /// use crossmap_model::{EntityResponse, UserMapping, UserType};
    /// // tests/fixtures/user_get_response.json, Graph's documented example.
    /// let body = r##"{
    ///   "@odata.type": "#microsoft.graph.sharePointUserIdentityMapping",
    ///   "id": "AQAAAAEAAAB1c2VyMUBjb250b3NvLmNvbQ",
    ///   "sourceOrganizationId": "11111111-1111-1111-1111-111111111111",
    ///   "userType": "regularUser",
    ///   "sourceUserIdentity": {
    ///     "@odata.type": "microsoft.graph.userIdentity",
    ///     "userPrincipalName": "user1@contoso.com"
    ///   },
    ///   "targetUserIdentity": {
    ///     "@odata.type": "microsoft.graph.userIdentity",
    ///     "userPrincipalName": "admin@a830edad9050849ken005.onmicrosoft.com"
    ///   },
    ///   "targetUserMigrationData": {
    ///     "@odata.type": "microsoft.graph.sharePointIdentityMappingUserMigrationData",
    ///     "email": "admin@a830edad9050849ken005.onmicrosoft.com"
    ///   }
    /// }"##;
    /// let user = EntityResponse::<UserMapping>::from_json(body).unwrap().entity;
    /// assert_eq!(user.source_key().unwrap().as_str(), "user1@contoso.com");
    /// assert_eq!(user.user_type.value(), Some(&UserType::RegularUser));
    /// ```
    pub fn from_json(body: &str) -> Result<Self, JsonError> {
        Self::from_slice(body.as_bytes())
    }

    /// Reads one entity from bytes, as an HTTP body arrives.
    pub fn from_slice(body: &[u8]) -> Result<Self, JsonError> {
        from_slice("an entity", body)
    }
}

impl<T: Serialize> EntityResponse<T> {
    /// The entity as a body: compact JSON, its `@odata.context` first when it has one.
    pub fn to_json(&self) -> String {
        to_json(self)
    }
}

impl ErrorResponse {
    /// Reads Graph's error body, `{"error": {"code", "message", …}}`.
    ///
    /// ```
    /// use crossmap_model::ErrorResponse;
    /// let body = r#"{"error": {"code": "itemNotFound", "message": "no such mapping"}}"#;
    /// assert_eq!(ErrorResponse::from_json(body).unwrap().error.code, "itemNotFound");
    /// assert!(ErrorResponse::from_json(r#"{"code": "itemNotFound"}"#).is_err());
    /// ```
    pub fn from_json(body: &str) -> Result<Self, JsonError> {
        Self::from_slice(body.as_bytes())
    }

    /// Reads Graph's error body from bytes, as an HTTP body arrives.
    pub fn from_slice(body: &[u8]) -> Result<Self, JsonError> {
        from_slice("a Graph error", body)
    }

    /// The error as a body: compact JSON.
    pub fn to_json(&self) -> String {
        to_json(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UserMapping;

    #[test]
    fn each_kind_of_problem_is_told_apart_with_its_place() {
        let not_json = DeltaRequest::<UserMapping>::from_json("{\n  \"value\": [,]}").unwrap_err();
        assert_eq!(not_json.kind, JsonErrorKind::Syntax);
        assert_eq!((not_json.line, not_json.column), (2, 13));
        assert_eq!(
            not_json.to_string(),
            "not a delta request: expected value at line 2, column 13"
        );

        let cut = CollectionResponse::<UserMapping>::from_json(r#"{"value": ["#).unwrap_err();
        assert_eq!(cut.kind, JsonErrorKind::Eof);
        assert_eq!(cut.what, "a collection page");

        let shape = EntityResponse::<UserMapping>::from_json(r#"{"userType": 3}"#).unwrap_err();
        assert_eq!(shape.kind, JsonErrorKind::Data);
        assert!(shape.to_string().starts_with("not an entity: "), "{shape}");
    }

    #[test]
    fn what_is_written_reads_back_the_same() {
        let org = crate::Guid::from_u128(7);
        let request = DeltaRequest::new(vec![
            crate::DeltaItem::Upsert(UserMapping::new(org, "a@contoso.com", "a@fabrikam.com")),
            crate::DeltaItem::remove(&crate::UserKey::parse("b@contoso.com").unwrap()),
        ]);
        assert_eq!(DeltaRequest::from_json(&request.to_json()).unwrap(), request);
        let entity = EntityResponse {
            context: Some("#c".to_owned()),
            entity: UserMapping::new(org, "a@contoso.com", "a@fabrikam.com"),
        };
        assert_eq!(EntityResponse::from_slice(entity.to_json().as_bytes()).unwrap(), entity);
        let error = ErrorResponse::from(crate::GraphError::new("itemNotFound", "gone"));
        assert_eq!(ErrorResponse::from_json(&error.to_json()).unwrap(), error);
    }
}
