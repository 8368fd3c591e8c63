//! `Edm.Guid`: strictly the hyphenated 8-4-4-4-12 form, read in any case, written in lower case.

use std::fmt;
use std::str::FromStr;

/// A GUID as Graph writes it: `aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa`.
///
/// ```
/// use crossmap_model::Guid;
/// let g: Guid = "AAAAAAAA-aaaa-AAAA-aaaa-AAAAAAAAAAAA".parse().unwrap();
/// assert_eq!(g.to_string(), "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa");
/// assert!("{aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa}".parse::<Guid>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Guid(uuid::Uuid);

/// A string that is not a GUID in the 8-4-4-4-12 form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a GUID: expected 32 hex digits in the form 8-4-4-4-12")]
pub struct GuidError {
    /// The refused text.
    pub value: String,
}

impl Guid {
    /// The all-zero GUID.
    pub const NIL: Guid = Guid(uuid::Uuid::nil());

    /// Builds a GUID from its 128-bit value.
    pub const fn from_u128(v: u128) -> Guid {
        Guid(uuid::Uuid::from_u128(v))
    }

    /// The 128-bit value.
    pub const fn as_u128(&self) -> u128 {
        self.0.as_u128()
    }

    /// The underlying [`uuid::Uuid`].
    pub const fn as_uuid(&self) -> &uuid::Uuid {
        &self.0
    }
}

impl FromStr for Guid {
    type Err = GuidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        let shaped = b.len() == 36
            && b.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_hexdigit(),
            });
        if !shaped {
            return Err(GuidError { value: s.to_owned() });
        }
        uuid::Uuid::try_parse(s)
            .map(Guid)
            .map_err(|_| GuidError { value: s.to_owned() })
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl From<uuid::Uuid> for Guid {
    fn from(u: uuid::Uuid) -> Self {
        Guid(u)
    }
}

impl serde::Serialize for Guid {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = uuid::Uuid::encode_buffer();
        serializer.serialize_str(self.0.hyphenated().encode_lower(&mut buf))
    }
}

impl<'de> serde::Deserialize<'de> for Guid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = crate::odata::Text::deserialize(deserializer)?;
        text.as_str().parse().map_err(serde::de::Error::custom)
    }
}
