//! Mapping ids: standard base64 without padding of `u32 LE 1`, `u32 LE kind`, then the normalised key.
//!
//! This reproduces the documented ids: `AQAAAAIAAABhYWFhYWFhYS1hYWFhLWFhYWEtYWFhYS1hYWFhYWFhYWFhYWE` is
//! group `aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa`, `AQAAAAEAAAB1c2VyMUBjb250b3NvLmNvbQ` user `user1@contoso.com`.

use crate::{GroupKey, KeyError, UserKey};
use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};

/// The version word every documented id starts with.
const VERSION: u32 = 1;

/// Writes without padding as Graph does; reads with or without it.
const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Which collection a mapping belongs to; its number is the id's second word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MappingKind {
    /// A user mapping (kind 1).
    User = 1,
    /// A group mapping (kind 2).
    Group = 2,
}

/// A decoded mapping id: which kind, and the key it names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MappingId {
    /// A user mapping's id.
    User(UserKey),
    /// A group mapping's id.
    Group(GroupKey),
}

/// Why a string is not a crossmap mapping id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// Not standard base64.
    #[error("{id:?} is not a mapping id: it is not base64")]
    NotBase64 {
        /// The refused id.
        id: String,
    },
    /// Fewer than the 8 bytes of the two header words, or no key after them.
    #[error("{id:?} is not a mapping id: too short")]
    TooShort {
        /// The refused id.
        id: String,
    },
    /// A version word other than 1.
    #[error("{id:?} is not a mapping id: unknown version {version}")]
    Version {
        /// The refused id.
        id: String,
        /// The version found.
        version: u32,
    },
    /// A kind word other than 1 (user) or 2 (group), or not the kind that was asked for.
    #[error("{id:?} is not a {expected} mapping id: it has kind {kind}")]
    Kind {
        /// The refused id.
        id: String,
        /// The kind found.
        kind: u32,
        /// What was expected.
        expected: &'static str,
    },
    /// The key bytes are not UTF-8.
    #[error("{id:?} is not a mapping id: its key is not UTF-8")]
    NotUtf8 {
        /// The refused id.
        id: String,
    },
    /// The key is not valid for its kind.
    #[error("{id:?} is not a mapping id")]
    Key {
        /// The refused id.
        id: String,
        /// Why the key was refused.
        #[source]
        source: KeyError,
    },
}

impl MappingId {
    /// The kind of mapping the id names.
    pub fn kind(&self) -> MappingKind {
        match self {
            MappingId::User(_) => MappingKind::User,
            MappingId::Group(_) => MappingKind::Group,
        }
    }

    /// Encodes the id.
    ///
    /// ```
    /// use crossmap_model::{GroupKey, MappingId};
    /// let key = GroupKey::parse("aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa").unwrap();
    /// assert_eq!(MappingId::Group(key).encode(), "AQAAAAIAAABhYWFhYWFhYS1hYWFhLWFhYWEtYWFhYS1hYWFhYWFhYWFhYWE");
    /// ```
    pub fn encode(&self) -> String {
        let (kind, key) = match self {
            MappingId::User(k) => (MappingKind::User, k.as_str()),
            MappingId::Group(k) => (MappingKind::Group, k.as_str()),
        };
        encode(kind, key)
    }

    /// Decodes an id of either kind; the key must be valid and already normalised.
    pub fn decode(id: &str) -> Result<MappingId, IdError> {
        let bytes = ENGINE
            .decode(id)
            .map_err(|_| IdError::NotBase64 { id: id.to_owned() })?;
        if bytes.len() <= 8 {
            return Err(IdError::TooShort { id: id.to_owned() });
        }
        let word = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        let (version, kind) = (word(0), word(4));
        if version != VERSION {
            return Err(IdError::Version {
                id: id.to_owned(),
                version,
            });
        }
        let key = std::str::from_utf8(&bytes[8..]).map_err(|_| IdError::NotUtf8 { id: id.to_owned() })?;
        let decoded = match kind {
            1 => UserKey::parse(key).map(MappingId::User),
            2 => GroupKey::parse(key).map(MappingId::Group),
            _ => {
                return Err(IdError::Kind {
                    id: id.to_owned(),
                    kind,
                    expected: "user or group",
                });
            }
        }
        .map_err(|source| IdError::Key {
            id: id.to_owned(),
            source,
        })?;
        // One mapping, one id: a key that is not in normal form (upper case) names no mapping we issue.
        if decoded.key_text() != key {
            return Err(IdError::Key {
                id: id.to_owned(),
                source: KeyError::NotAUpn {
                    value: key.to_owned(),
                    reason: "it is not in normal (lower-case) form",
                },
            });
        }
        Ok(decoded)
    }

    /// The normalised key the id encodes, as text.
    pub fn key_text(&self) -> &str {
        match self {
            MappingId::User(k) => k.as_str(),
            MappingId::Group(k) => k.as_str(),
        }
    }
}

/// Encodes an id from its kind and normalised key text.
pub(crate) fn encode(kind: MappingKind, key: &str) -> String {
    let mut raw = Vec::with_capacity(8 + key.len());
    raw.extend_from_slice(&VERSION.to_le_bytes());
    raw.extend_from_slice(&(kind as u32).to_le_bytes());
    raw.extend_from_slice(key.as_bytes());
    ENGINE.encode(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_ids() {
        let g = MappingId::decode("AQAAAAIAAABhYWFhYWFhYS1hYWFhLWFhYWEtYWFhYS1hYWFhYWFhYWFhYWE").unwrap();
        assert_eq!(
            g,
            MappingId::Group(GroupKey::parse("aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa").unwrap())
        );
        let u = MappingId::decode("AQAAAAEAAAB1c2VyMUBjb250b3NvLmNvbQ").unwrap();
        assert_eq!(u, MappingId::User(UserKey::parse("user1@contoso.com").unwrap()));
        assert_eq!(u.encode(), "AQAAAAEAAAB1c2VyMUBjb250b3NvLmNvbQ");
    }

    #[test]
    fn padded_input_is_accepted() {
        assert!(MappingId::decode("AQAAAAEAAAB1c2VyMUBjb250b3NvLmNvbQ==").is_ok());
    }

    #[test]
    fn foreign_ids_are_refused_with_a_reason() {
        let cases = [
            ("not base64!", "not base64"),
            ("AQAAAAEAAAA", "too short"),
            (&encode_raw(2, 1, b"user1@contoso.com"), "unknown version 2"),
            (&encode_raw(1, 3, b"user1@contoso.com"), "kind 3"),
            (&encode_raw(1, 1, &[0xff, 0xfe]), "not UTF-8"),
            (&encode_raw(1, 2, b"not-a-guid"), "is not a mapping id"),
            (&encode_raw(1, 1, b"User1@contoso.com"), "is not a mapping id"),
        ];
        for (id, needle) in cases {
            let e = MappingId::decode(id).unwrap_err().to_string();
            assert!(e.contains(needle), "{id}: {e}");
        }
    }

    fn encode_raw(version: u32, kind: u32, key: &[u8]) -> String {
        let mut raw = version.to_le_bytes().to_vec();
        raw.extend_from_slice(&kind.to_le_bytes());
        raw.extend_from_slice(key);
        ENGINE.encode(raw)
    }
}
