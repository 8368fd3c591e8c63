//! The source keys that name a mapping, and the OData alternate-key URL segments built from them.
//!
//! A group is named by its source group's Entra object id (a GUID, normalised to lower case); a user by
//! their source UPN (compared without regard to case, normalised to lower case). Both print and parse the
//! documented segments, `crossOrganizationUserMappings(sourceUserPrincipalName='o''brien@contoso.com')`,
//! following OData's URL conventions: a quote in a literal is doubled, percent-encoding is decoded before
//! the literal is read (so `%27` is a quote too), and `#`, `/`, `?`, `%` and other reserved characters are
//! percent-encoded when printing, so guest UPNs with `#EXT#` survive.

use crate::{Guid, IdentityMapping, SharePointGroupIdentityMapping, SharePointUserIdentityMapping};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use std::fmt;
use std::str::FromStr;

/// Why a key, a key literal or an alternate-key segment was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A group key that is not a GUID.
    #[error("source group object id {value:?} is not a GUID (expected the form 8-4-4-4-12)")]
    NotAGuid {
        /// The refused text.
        value: String,
    },
    /// A user key that is not a UPN.
    #[error("source user principal name {value:?} is not a UPN: {reason}")]
    NotAUpn {
        /// The refused text.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A segment that is not `collection(property='literal')` for the expected collection and property.
    #[error("{segment:?} is not an alternate-key segment of the form {expected}")]
    Segment {
        /// The refused segment, as received.
        segment: String,
        /// The form that was expected.
        expected: String,
    },
    /// A string literal that is not quoted correctly.
    #[error("{literal:?} is not an OData string literal: {reason}")]
    Literal {
        /// The refused literal, after percent-decoding.
        literal: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Percent-encoding that does not decode to UTF-8.
    #[error("{segment:?} does not percent-decode to UTF-8")]
    Encoding {
        /// The refused segment.
        segment: String,
    },
}

/// What a mapping key offers generically: parse, normalise, and its OData alternate key.
pub trait MappingKey: Clone + Eq + Ord + std::hash::Hash + fmt::Debug + fmt::Display + Send + Sync + 'static {
    /// The mapping type this key names, so that a key alone says which collection it belongs to (and
    /// `DeltaItem::remove(&key)` needs no annotation).
    type Mapping: IdentityMapping<Key = Self>;
    /// The collection's URL segment, e.g. `crossOrganizationUserMappings`.
    const COLLECTION: &'static str;
    /// The alternate key's alias in the URL, e.g. `sourceUserPrincipalName`.
    const ALTERNATE_KEY: &'static str;

    /// Validates and normalises a raw key value (not a literal: no quotes, no percent-encoding).
    fn parse(raw: &str) -> Result<Self, KeyError>;

    /// The normalised key as text; the text the mapping id encodes.
    fn as_str(&self) -> &str;

    /// The key predicate `(alias='literal')`, percent-encoded for a URL path.
    fn to_key_predicate(&self) -> String {
        format!("({}={})", Self::ALTERNATE_KEY, encode_literal(self.as_str()))
    }

    /// The whole segment `collection(alias='literal')`, percent-encoded for a URL path.
    fn to_segment(&self) -> String {
        format!("{}{}", Self::COLLECTION, self.to_key_predicate())
    }

    /// Parses a segment `collection(alias='literal')` as it appears in a URL path (percent-encoded or not).
    fn from_segment(segment: &str) -> Result<Self, KeyError> {
        let bad = || KeyError::Segment {
            segment: segment.to_owned(),
            expected: format!("{}({}='…')", Self::COLLECTION, Self::ALTERNATE_KEY),
        };
        let rest = strip_prefix_ignore_case(segment, Self::COLLECTION).ok_or_else(bad)?;
        if !rest.starts_with('(') {
            return Err(bad());
        }
        Self::from_key_predicate(rest)
    }

    /// Parses a key predicate `(alias='literal')` as it appears in a URL path.
    fn from_key_predicate(predicate: &str) -> Result<Self, KeyError> {
        let bad = || KeyError::Segment {
            segment: predicate.to_owned(),
            expected: format!("({}='…')", Self::ALTERNATE_KEY),
        };
        let decoded = percent_decode_str(predicate)
            .decode_utf8()
            .map_err(|_| KeyError::Encoding {
                segment: predicate.to_owned(),
            })?;
        let inner = decoded
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(bad)?;
        let (name, literal) = inner.split_once('=').ok_or_else(bad)?;
        if !name.trim().eq_ignore_ascii_case(Self::ALTERNATE_KEY) {
            return Err(bad());
        }
        Self::from_literal(literal.trim())
    }

    /// Parses a decoded literal: a quoted string, or (for GUID keys) a bare GUID.
    fn from_literal(literal: &str) -> Result<Self, KeyError> {
        Self::parse(&parse_string_literal(literal)?)
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// Characters percent-encoded inside a key literal in a path: everything that is not a URL path `pchar`,
/// plus `%`, `#`, `?`, `/` and the space. `'` stays literal (doubled); `@` and `:` are valid `pchar`s.
const LITERAL: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Writes `value` as an OData string literal for a URL path: quoted, quotes doubled, percent-encoded.
pub fn encode_literal(value: &str) -> String {
    let quoted = value.replace('\'', "''");
    format!("'{}'", utf8_percent_encode(&quoted, LITERAL))
}

/// Reads an already percent-decoded OData string literal: `'o''brien'` is `o'brien`.
pub fn parse_string_literal(literal: &str) -> Result<String, KeyError> {
    let bad = |reason| KeyError::Literal {
        literal: literal.to_owned(),
        reason,
    };
    let inner = literal
        .strip_prefix('\'')
        .and_then(|r| r.strip_suffix('\''))
        .filter(|_| literal.len() >= 2)
        .ok_or_else(|| bad("it must be enclosed in single quotes"))?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\'' && chars.next() != Some('\'') {
            return Err(bad("a single quote inside it must be written twice ('')"));
        }
        out.push(c);
    }
    Ok(out)
}

/// The key of a group mapping: the source group's Entra object id.
///
/// ```
/// use crossmap_model::{GroupKey, MappingKey};
/// let key: GroupKey = "AAAAAAAA-AAAA-AAAA-AAAA-AAAAAAAAAAAA".parse().unwrap();
/// assert_eq!(key.to_segment(), "crossOrganizationGroupMappings(sourceGroupObjectId='aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa')");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupKey {
    guid: Guid,
    /// The normalised text, kept inline so a key needs no allocation.
    text: [u8; 36],
}

impl GroupKey {
    /// The key of a GUID.
    pub fn new(guid: Guid) -> GroupKey {
        let mut text = [0u8; 36];
        text.copy_from_slice(guid.to_string().as_bytes());
        GroupKey { guid, text }
    }

    /// The GUID.
    pub fn guid(&self) -> Guid {
        self.guid
    }

    /// Validates and normalises a source group id: a GUID in the 8-4-4-4-12 form, any case.
    ///
    /// ```
    /// use crossmap_model::GroupKey;
    /// let key = GroupKey::parse("AAAAAAAA-AAAA-AAAA-AAAA-AAAAAAAAAAAA").unwrap();
    /// assert_eq!(key.as_str(), "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa");
    /// assert!(GroupKey::parse("{aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa}").is_err());
    /// ```
    pub fn parse(raw: &str) -> Result<GroupKey, KeyError> {
        let guid = raw
            .parse::<Guid>()
            .map_err(|_| KeyError::NotAGuid { value: raw.to_owned() })?;
        // A parsed GUID's text is the input in lower case: no formatting needed.
        let mut text = [0u8; 36];
        text.copy_from_slice(raw.as_bytes());
        text.make_ascii_lowercase();
        Ok(GroupKey { guid, text })
    }

    /// The normalised key as text (lower case); the text the mapping id encodes.
    ///
    /// ```
    /// use crossmap_model::{GroupKey, Guid};
    /// assert_eq!(GroupKey::new(Guid::from_u128(0xab)).as_str(), "00000000-0000-0000-0000-0000000000ab");
    /// ```
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.text).expect("a GUID's text is ASCII")
    }
}

impl From<Guid> for GroupKey {
    fn from(guid: Guid) -> GroupKey {
        GroupKey::new(guid)
    }
}

impl std::hash::Hash for GroupKey {
    /// The text is a function of the GUID: hashing the GUID alone agrees with `Eq`.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.guid.hash(state);
    }
}

impl fmt::Debug for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("GroupKey").field(&self.as_str()).finish()
    }
}

impl MappingKey for GroupKey {
    type Mapping = SharePointGroupIdentityMapping;
    const COLLECTION: &'static str = SharePointGroupIdentityMapping::COLLECTION;
    const ALTERNATE_KEY: &'static str = SharePointGroupIdentityMapping::ALTERNATE_KEY;

    fn parse(raw: &str) -> Result<Self, KeyError> {
        GroupKey::parse(raw)
    }

    fn as_str(&self) -> &str {
        GroupKey::as_str(self)
    }

    /// Accepts the documented quoted form and OData's bare GUID literal.
    fn from_literal(literal: &str) -> Result<Self, KeyError> {
        if literal.starts_with('\'') {
            Self::parse(&parse_string_literal(literal)?)
        } else {
            Self::parse(literal)
        }
    }
}

/// The key of a user mapping: the source user principal name, compared without regard to case.
///
/// ```
/// use crossmap_model::{MappingKey, UserKey};
/// let key = UserKey::parse("O'Brien@Contoso.com").unwrap();
/// assert_eq!(key, UserKey::parse("o'brien@contoso.com").unwrap());
/// assert_eq!(key.to_segment(), "crossOrganizationUserMappings(sourceUserPrincipalName='o''brien@contoso.com')");
/// let guest = UserKey::from_segment("crossOrganizationUserMappings(sourceUserPrincipalName='ann_fabrikam.com%23EXT%23@contoso.onmicrosoft.com')").unwrap();
/// assert_eq!(guest.as_str(), "ann_fabrikam.com#ext#@contoso.onmicrosoft.com");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserKey(String);

impl UserKey {
    /// Validates and normalises a source UPN: one `@`, something on each side, no whitespace or control
    /// characters; lower-cased, since UPNs compare without regard to case.
    ///
    /// ```
    /// use crossmap_model::UserKey;
    /// let key = UserKey::parse("Ann@Contoso.com").unwrap();
    /// assert_eq!(key.as_str(), "ann@contoso.com");
    /// assert!(UserKey::parse("ann at contoso.com").is_err());
    /// ```
    pub fn parse(raw: &str) -> Result<UserKey, KeyError> {
        let bad = |reason| KeyError::NotAUpn {
            value: raw.to_owned(),
            reason,
        };
        if raw.chars().any(char::is_whitespace) {
            return Err(bad("it contains whitespace"));
        }
        if raw.chars().any(char::is_control) {
            return Err(bad("it contains a control character"));
        }
        let (local, domain) = raw.split_once('@').ok_or_else(|| bad("it has no '@'"))?;
        if domain.contains('@') {
            return Err(bad("it has more than one '@'"));
        }
        if local.is_empty() {
            return Err(bad("nothing precedes the '@'"));
        }
        if domain.is_empty() {
            return Err(bad("no domain follows the '@'"));
        }
        Ok(UserKey(raw.to_lowercase()))
    }

    /// The normalised key as text (lower case); the text the mapping id encodes.
    ///
    /// ```
    /// use crossmap_model::UserKey;
    /// assert_eq!(UserKey::parse("A@B.com").unwrap().as_str(), "a@b.com");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl MappingKey for UserKey {
    type Mapping = SharePointUserIdentityMapping;
    const COLLECTION: &'static str = SharePointUserIdentityMapping::COLLECTION;
    const ALTERNATE_KEY: &'static str = SharePointUserIdentityMapping::ALTERNATE_KEY;

    fn parse(raw: &str) -> Result<Self, KeyError> {
        UserKey::parse(raw)
    }

    fn as_str(&self) -> &str {
        UserKey::as_str(self)
    }
}

macro_rules! key_text_impls {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $t {
            type Err = KeyError;
            fn from_str(s: &str) -> Result<Self, KeyError> {
                <$t as MappingKey>::parse(s)
            }
        }
        impl TryFrom<&str> for $t {
            type Error = KeyError;
            fn try_from(s: &str) -> Result<Self, KeyError> {
                <$t>::parse(s)
            }
        }
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = crate::odata::Text::deserialize(deserializer)?;
                <$t as MappingKey>::parse(text.as_str()).map_err(serde::de::Error::custom)
            }
        }
    )*};
}

key_text_impls!(GroupKey, UserKey);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_quotes_are_doubled_and_undoubled() {
        assert_eq!(encode_literal("o'brien@contoso.com"), "'o''brien@contoso.com'");
        assert_eq!(
            parse_string_literal("'o''brien@contoso.com'").unwrap(),
            "o'brien@contoso.com"
        );
        assert!(parse_string_literal("'o'brien'").is_err());
        assert!(parse_string_literal("'").is_err());
        assert!(parse_string_literal("abc").is_err());
    }

    #[test]
    fn percent_encoded_quote_is_still_a_quote() {
        let e = UserKey::from_key_predicate("(sourceUserPrincipalName='O%27Neil@contoso.com')").unwrap_err();
        assert!(matches!(e, KeyError::Literal { .. }), "{e}");
        let ok = UserKey::from_key_predicate("(sourceUserPrincipalName='O%27%27Neil@contoso.com')").unwrap();
        assert_eq!(ok.as_str(), "o'neil@contoso.com");
    }

    #[test]
    fn reserved_characters_are_percent_encoded() {
        let key = UserKey::parse("a/b#EXT#?%@contoso.com").unwrap();
        let seg = key.to_segment();
        assert_eq!(
            seg,
            "crossOrganizationUserMappings(sourceUserPrincipalName='a%2Fb%23ext%23%3F%25@contoso.com')"
        );
        assert_eq!(UserKey::from_segment(&seg).unwrap(), key);
    }

    #[test]
    fn upn_rules() {
        for bad in ["", "a", "@b", "a@", "a@b@c", "a b@c", "a@b\t"] {
            assert!(UserKey::parse(bad).is_err(), "{bad:?}");
        }
        assert!(UserKey::parse("ann_fabrikam.com#EXT#@contoso.onmicrosoft.com").is_ok());
    }

    #[test]
    fn group_keys_accept_bare_guid_literals_and_refuse_others() {
        let quoted = GroupKey::from_segment(
            "crossOrganizationGroupMappings(sourceGroupObjectId='AAAAAAAA-aaaa-aaaa-aaaa-aaaaaaaaaaaa')",
        )
        .unwrap();
        let bare = GroupKey::from_key_predicate("(sourceGroupObjectId=aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa)").unwrap();
        assert_eq!(quoted, bare);
        assert!(GroupKey::from_key_predicate("(sourceGroupObjectId='nope')").is_err());
        assert!(GroupKey::from_key_predicate("(sourceUserPrincipalName='a@b')").is_err());
        assert!(GroupKey::from_segment("crossOrganizationUserMappings(sourceGroupObjectId='x')").is_err());
    }
}
