//! The JSON envelopes around mappings: the delta request, collection and entity responses, `@removed`.

use crate::odata::StructuredType;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;

/// The `@context` a delta request carries.
pub const DELTA_CONTEXT: &str = "#$delta";

/// The most items one delta request may carry (the documented limit).
pub const MAX_DELTA_ITEMS: usize = 50;

/// Builds an `@odata.context` URL: `{service_root}/$metadata#{fragment}`.
///
/// ```
/// use crossmap_model::{SharePointGroupIdentityMapping, context_url};
/// let url = context_url("https://graph.microsoft.com/beta", &format!("{}/$delta", SharePointGroupIdentityMapping::COLLECTION_PATH));
/// assert_eq!(url, "https://graph.microsoft.com/beta/$metadata#solutions/sharePoint/migrations/crossOrganizationGroupMappings/$delta");
/// ```
pub fn context_url(service_root: &str, fragment: &str) -> String {
    format!("{}/$metadata#{fragment}", service_root.trim_end_matches('/'))
}

/// Whether a payload's `@context` marks it a delta payload: it ends with `$delta`.
pub fn is_delta_context(context: Option<&str>) -> bool {
    context.is_some_and(|c| c.ends_with("$delta"))
}

/// A delta request: `{"@context": "#$delta", "value": [...]}`.
///
/// ```
/// use crossmap_model::{DeltaItem, DeltaRequest, SharePointGroupIdentityMapping};
/// let body = r##"{"@context":"#$delta","value":[{"@removed":{"reason":"deleted"},"sourceGroupIdentity":{"id":"aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"}}]}"##;
/// let request: DeltaRequest<SharePointGroupIdentityMapping> = serde_json::from_str(body).unwrap();
/// assert!(request.is_delta());
/// assert!(matches!(request.value[0], DeltaItem::Removed { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "T: StructuredType + Serialize",
    deserialize = "T: StructuredType + DeserializeOwned"
))]
pub struct DeltaRequest<T> {
    /// The payload's context; `#$delta` for a delta payload. OData 4.0's `@odata.context` is read too.
    #[serde(
        rename = "@context",
        alias = "@odata.context",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub context: Option<String>,
    /// The changes, applied in order.
    pub value: Vec<DeltaItem<T>>,
}

impl<T> DeltaRequest<T> {
    /// A delta request carrying `items`.
    pub fn new(items: Vec<DeltaItem<T>>) -> Self {
        DeltaRequest {
            context: Some(DELTA_CONTEXT.to_owned()),
            value: items,
        }
    }

    /// Whether the context marks a delta payload (it ends with `$delta`).
    pub fn is_delta(&self) -> bool {
        is_delta_context(self.context.as_deref())
    }
}

/// One item of a delta payload: a change to apply, or a removal marked with `@removed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaItem<T> {
    /// Create or update the mapping the entity names.
    Upsert(T),
    /// Remove the mapping the entity names.
    Removed {
        /// The `@removed` annotation's content.
        removed: Removed,
        /// The entity, usually only its source identity.
        entity: T,
    },
}

impl<T> DeltaItem<T> {
    /// The entity, whichever the kind of item.
    pub fn entity(&self) -> &T {
        match self {
            DeltaItem::Upsert(e) | DeltaItem::Removed { entity: e, .. } => e,
        }
    }

    /// The entity by move.
    pub fn into_entity(self) -> T {
        match self {
            DeltaItem::Upsert(e) | DeltaItem::Removed { entity: e, .. } => e,
        }
    }

    /// Whether the item is a removal.
    pub fn is_removal(&self) -> bool {
        matches!(self, DeltaItem::Removed { .. })
    }

    /// A removal with reason `deleted` of `entity`.
    pub fn deleted(entity: T) -> Self {
        DeltaItem::Removed {
            removed: Removed {
                reason: Some(RemovedReason::Deleted),
            },
            entity,
        }
    }
}

impl<T: crate::IdentityMapping> DeltaItem<T> {
    /// The removal of the mapping named by `key`: the item holds only the key, as Graph's examples do.
    /// The key's type says which mapping type it removes, so no annotation is needed.
    ///
    /// ```
    /// use crossmap_model::{DeltaItem, UserKey};
    /// let key = UserKey::parse("ann@contoso.com").unwrap();
    /// let item = DeltaItem::remove(&key); // a `DeltaItem<UserMapping>`, from the key's type
    /// assert_eq!(
    ///     serde_json::to_value(&item).unwrap(),
    ///     serde_json::json!({"@removed": {"reason": "deleted"}, "sourceUserIdentity": {"userPrincipalName": "ann@contoso.com"}})
    /// );
    /// ```
    ///
    /// Generic code over a mapping type calls it the same way:
    ///
    /// ```
    /// use crossmap_model::{DeltaItem, GroupKey, GroupMapping, Guid, IdentityMapping};
    /// fn removals<M: IdentityMapping>(keys: &[M::Key]) -> Vec<DeltaItem<M>> {
    ///     keys.iter().map(DeltaItem::remove).collect()
    /// }
    /// let items: Vec<DeltaItem<GroupMapping>> = removals(&[GroupKey::new(Guid::from_u128(1))]);
    /// assert!(items[0].is_removal());
    /// ```
    pub fn remove<K>(key: &K) -> Self
    where
        K: crate::MappingKey<Mapping = T>,
        T: crate::IdentityMapping<Key = K>,
    {
        DeltaItem::deleted(T::from_key(key))
    }
}

/// The names an item's removal annotation may carry: OData 4.01's and 4.0's.
const REMOVED_ANNOTATIONS: [&str; 2] = ["@removed", "@odata.removed"];

impl<'de, T: StructuredType + DeserializeOwned> Deserialize<'de> for DeltaItem<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut entity = T::deserialize(deserializer)?;
        let mut found = None;
        for name in REMOVED_ANNOTATIONS {
            if let Some(v) = entity.additional_properties_mut().remove(name) {
                if found.is_some() {
                    return Err(D::Error::custom("both `@removed` and `@odata.removed` are present"));
                }
                found = Some(v);
            }
        }
        match found {
            None => Ok(DeltaItem::Upsert(entity)),
            Some(v) => {
                let removed = Removed::deserialize(v).map_err(|e| D::Error::custom(format_args!("@removed: {e}")))?;
                Ok(DeltaItem::Removed { removed, entity })
            }
        }
    }
}

impl<T: Serialize> Serialize for DeltaItem<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct WithRemoved<'a, T> {
            #[serde(rename = "@removed")]
            removed: &'a Removed,
            #[serde(flatten)]
            entity: &'a T,
        }
        match self {
            DeltaItem::Upsert(e) => e.serialize(serializer),
            DeltaItem::Removed { removed, entity } => WithRemoved { removed, entity }.serialize(serializer),
        }
    }
}

/// The content of an `@removed` annotation: an object, whose only property is `reason` (instance
/// annotations aside). Anything else (an array, a string, an unknown property) is refused when read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Removed {
    /// Why the item is removed; OData allows it to be left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<RemovedReason>,
}

impl<'de> Deserialize<'de> for Removed {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Removed;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an @removed object, such as {\"reason\": \"deleted\"}")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Removed, A::Error> {
                let mut out = Removed::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "reason" {
                        out.reason = map.next_value()?;
                    } else if key.contains('@') {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    } else {
                        return Err(serde::de::Error::unknown_field(&key, &["reason"]));
                    }
                }
                Ok(out)
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// The reason in `@removed`: `deleted` (the entity is gone) or `changed` (it left the collection).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RemovedReason {
    /// `deleted`.
    Deleted,
    /// `changed`.
    Changed,
    /// A reason OData does not define, as received.
    Other(String),
}

impl RemovedReason {
    /// The reason's wire text.
    pub fn as_str(&self) -> &str {
        match self {
            RemovedReason::Deleted => "deleted",
            RemovedReason::Changed => "changed",
            RemovedReason::Other(s) => s,
        }
    }
}

impl fmt::Display for RemovedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RemovedReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RemovedReason {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = crate::odata::Text::deserialize(deserializer)?;
        Ok(match text.as_str() {
            "deleted" => RemovedReason::Deleted,
            "changed" => RemovedReason::Changed,
            _ => RemovedReason::Other(text.into_string()),
        })
    }
}

/// A collection response: `{"@odata.context", "value", "@odata.nextLink"?, "@odata.deltaLink"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionResponse<T> {
    /// The `@odata.context` URL.
    #[serde(rename = "@odata.context", default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The total count, when `$count=true` asked for it.
    #[serde(rename = "@odata.count", default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// The items of this page.
    pub value: Vec<T>,
    /// The URL of the next page, if any.
    #[serde(rename = "@odata.nextLink", default, skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
    /// On the last page of a delta feed, the URL to ask for later changes.
    #[serde(rename = "@odata.deltaLink", default, skip_serializing_if = "Option::is_none")]
    pub delta_link: Option<String>,
}

impl<T> CollectionResponse<T> {
    /// A single-page response with `context`.
    pub fn new(context: impl Into<String>, value: Vec<T>) -> Self {
        CollectionResponse {
            context: Some(context.into()),
            count: None,
            value,
            next_link: None,
            delta_link: None,
        }
    }
}

/// A single-entity response: the entity's properties with `@odata.context` beside them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityResponse<T> {
    /// The `@odata.context` URL.
    pub context: Option<String>,
    /// The entity.
    pub entity: T,
}

impl<'de, T: StructuredType + DeserializeOwned> Deserialize<'de> for EntityResponse<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut entity = T::deserialize(deserializer)?;
        let context = match entity.additional_properties_mut().remove("@odata.context") {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(other) => {
                return Err(D::Error::custom(format_args!(
                    "@odata.context is not a string: {other}"
                )));
            }
        };
        Ok(EntityResponse { context, entity })
    }
}

impl<T: Serialize> Serialize for EntityResponse<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct WithContext<'a, T> {
            #[serde(rename = "@odata.context", skip_serializing_if = "Option::is_none")]
            context: &'a Option<String>,
            #[serde(flatten)]
            entity: &'a T,
        }
        WithContext {
            context: &self.context,
            entity: &self.entity,
        }
        .serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_is_an_object_with_only_a_reason() {
        for good in [
            r#"{}"#,
            r#"{"reason": "deleted"}"#,
            r#"{"reason": "changed", "@odata.type": "x"}"#,
        ] {
            assert!(serde_json::from_str::<Removed>(good).is_ok(), "{good}");
        }
        for bad in [r#"[]"#, r#"["deleted"]"#, r#""deleted""#, r#"{"foo": 1}"#, r#"null"#] {
            assert!(serde_json::from_str::<Removed>(bad).is_err(), "{bad} was accepted");
        }
        let r: Removed = serde_json::from_str(r#"{"reason": "deleted"}"#).unwrap();
        assert_eq!(r.reason, Some(RemovedReason::Deleted));
    }
}
