//! A compact binary encoding of the model's values, for keeping many mappings in memory or on disk.
//!
//! Deterministic (equal values encode to equal bytes, so rows compare as bytes) and about as small as
//! the strings it holds. A structured value starts with a header word (varint): two bits per declared
//! property (0 absent, 1 null, 2 value), then bit 62 for `@odata.type` and bit 63 for undeclared
//! properties; the present values follow in schema order. Strings are a varint length and UTF-8 bytes,
//! GUIDs 16 bytes, enum members a varint (declared member index + 1, or 0 and the text), undeclared
//! properties one JSON text. Not a wire format: it may change between versions.
//!
//! A caller needs only [`Compact`] (every generated type implements it); the functions and constants
//! beside it are the building blocks the generated implementations call.
//!
//! ```
//! use crossmap_model::{Identity, compact::Compact};
//! let identity = Identity { id: "a".to_owned().into(), ..Default::default() };
//! let bytes = identity.to_compact();
//! assert_eq!(Identity::from_compact(&bytes).unwrap(), identity);
//! ```

use crate::{Guid, Patch, PropertyInfo};
use serde_json::{Map, Value};

/// Bytes that do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("compact encoding is corrupt: {0}")]
pub struct CompactError(pub &'static str);

/// A value with a compact encoding.
pub trait Compact: Sized {
    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Reads one value from the front of `input`, advancing it.
    fn decode(input: &mut &[u8]) -> Result<Self, CompactError>;

    /// The encoding as a new buffer.
    fn to_compact(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.encode(&mut out);
        out
    }

    /// Decodes a whole buffer; trailing bytes are an error.
    fn from_compact(mut bytes: &[u8]) -> Result<Self, CompactError> {
        let v = Self::decode(&mut bytes)?;
        if bytes.is_empty() {
            Ok(v)
        } else {
            Err(CompactError("trailing bytes"))
        }
    }
}

/// Writes an unsigned LEB128 varint.
pub fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads an unsigned LEB128 varint.
pub fn read_varint(input: &mut &[u8]) -> Result<u64, CompactError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = input.split_first().ok_or(CompactError("truncated varint"))?;
        *input = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(CompactError("varint too long"))
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], CompactError> {
    if input.len() < n {
        return Err(CompactError("truncated value"));
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

/// Writes a string: length and bytes.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    write_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Reads a string written by [`write_str`].
pub fn read_str<'a>(input: &mut &'a [u8]) -> Result<&'a str, CompactError> {
    let n = usize::try_from(read_varint(input)?).map_err(|_| CompactError("length overflows"))?;
    std::str::from_utf8(take(input, n)?).map_err(|_| CompactError("string is not UTF-8"))
}

impl Compact for String {
    fn encode(&self, out: &mut Vec<u8>) {
        write_str(out, self);
    }
    fn decode(input: &mut &[u8]) -> Result<Self, CompactError> {
        read_str(input).map(str::to_owned)
    }
}

impl Compact for Guid {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.as_u128().to_le_bytes());
    }
    fn decode(input: &mut &[u8]) -> Result<Self, CompactError> {
        let b: [u8; 16] = take(input, 16)?.try_into().expect("16 bytes");
        Ok(Guid::from_u128(u128::from_le_bytes(b)))
    }
}

impl Compact for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    fn decode(input: &mut &[u8]) -> Result<Self, CompactError> {
        match take(input, 1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(CompactError("bad boolean")),
        }
    }
}

impl Compact for i64 {
    fn encode(&self, out: &mut Vec<u8>) {
        write_varint(out, ((self << 1) ^ (self >> 63)) as u64);
    }
    fn decode(input: &mut &[u8]) -> Result<Self, CompactError> {
        let v = read_varint(input)?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }
}

impl Compact for i32 {
    fn encode(&self, out: &mut Vec<u8>) {
        i64::from(*self).encode(out);
    }
    fn decode(input: &mut &[u8]) -> Result<Self, CompactError> {
        i32::try_from(i64::decode(input)?).map_err(|_| CompactError("i32 out of range"))
    }
}

impl<T: Compact> Compact for Vec<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        write_varint(out, self.len() as u64);
        for v in self {
            v.encode(out);
        }
    }
    fn decode(input: &mut &[u8]) -> Result<Self, CompactError> {
        let n = read_varint(input)?;
        (0..n).map(|_| T::decode(input)).collect()
    }
}

/// Header bit for a present `@odata.type`.
pub const ODATA_TYPE_BIT: u64 = 1 << 62;
/// Header bit for present undeclared properties.
pub const ADDITIONAL_BIT: u64 = 1 << 63;

/// The two header bits of property `index`.
pub fn presence<T>(p: &Patch<T>, index: u32) -> u64 {
    let state = match p {
        Patch::Absent => 0,
        Patch::Null => 1,
        Patch::Value(_) => 2,
    };
    state << (2 * index)
}

/// Writes property `p`'s value if it has one (its presence is in the header).
pub fn write_property<T: Compact>(out: &mut Vec<u8>, p: &Patch<T>) {
    if let Patch::Value(v) = p {
        v.encode(out);
    }
}

/// Reads property `index` as the header says.
pub fn read_property<T: Compact>(input: &mut &[u8], header: u64, index: u32) -> Result<Patch<T>, CompactError> {
    match (header >> (2 * index)) & 3 {
        0 => Ok(Patch::Absent),
        1 => Ok(Patch::Null),
        2 => T::decode(input).map(Patch::Value),
        _ => Err(CompactError("bad presence bits")),
    }
}

/// Writes the undeclared properties (their presence is in the header).
pub fn write_additional(out: &mut Vec<u8>, additional: &Map<String, Value>) {
    if !additional.is_empty() {
        write_str(out, &serde_json::to_string(additional).expect("a JSON map serialises"));
    }
}

/// Reads the undeclared properties as the header says. A name the type declares (or `@odata.type`) is
/// refused: the JSON reader never keeps one there, and the mapping's JSON would repeat it.
pub fn read_additional(
    input: &mut &[u8],
    header: u64,
    declared: &[PropertyInfo],
) -> Result<Map<String, Value>, CompactError> {
    if header & ADDITIONAL_BIT == 0 {
        return Ok(Map::new());
    }
    let map: Map<String, Value> =
        serde_json::from_str(read_str(input)?).map_err(|_| CompactError("undeclared properties are not JSON"))?;
    if map
        .keys()
        .any(|k| k == "@odata.type" || declared.iter().any(|p| p.name == k))
    {
        return Err(CompactError("an undeclared property has a declared name"));
    }
    Ok(map)
}

/// Writes an enum member: declared `index`, or the text of an undeclared one.
pub fn write_member(out: &mut Vec<u8>, index: Option<usize>, text: &str) {
    match index {
        Some(i) => write_varint(out, i as u64 + 1),
        None => {
            write_varint(out, 0);
            write_str(out, text);
        }
    }
}

/// Reads an enum member of `members`: `Ok(Ok(index))` for a declared one, `Ok(Err(text))` for an
/// undeclared one. A declared member written as text is refused: the JSON reader never makes one.
pub fn read_member(input: &mut &[u8], members: &[&str]) -> Result<Result<usize, String>, CompactError> {
    match read_varint(input)? {
        0 => {
            let text = read_str(input)?;
            if members.contains(&text) {
                return Err(CompactError("a declared member written as text"));
            }
            Ok(Err(text.to_owned()))
        }
        n => {
            let index = usize::try_from(n - 1).map_err(|_| CompactError("member index overflows"))?;
            if index >= members.len() {
                return Err(CompactError("unknown member index"));
            }
            Ok(Ok(index))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Identity, SharePointIdentityMappingGroupType};

    /// Found by the `compact_row` fuzz target: `5077E70` was read as one float, written in its shortest
    /// form and read back as a neighbour, so a stored row did not decode to the mapping that was stored.
    #[test]
    fn undeclared_numbers_survive_encoding_and_json() {
        let identity: Identity = serde_json::from_str(r#"{"id": "a", "n": [5077E70, 3E4, 0.1]}"#).unwrap();
        let decoded = Identity::from_compact(&identity.to_compact()).unwrap();
        assert_eq!(decoded, identity);
        assert_eq!(decoded.to_compact(), identity.to_compact());
        let reread: Identity = serde_json::from_str(&serde_json::to_string(&identity).unwrap()).unwrap();
        assert_eq!(reread, identity);
    }

    /// Found by the `compact_row` fuzz target: bytes holding an undeclared property named like a declared
    /// one decoded to a mapping whose JSON repeats the name (or reads back as the declared property).
    #[test]
    fn undeclared_properties_named_like_declared_ones_are_refused() {
        let bytes = |json: &str| {
            let mut out = Vec::new();
            write_varint(&mut out, ADDITIONAL_BIT);
            write_str(&mut out, json);
            out
        };
        for name in ["id", "displayName", "@odata.type"] {
            let e = Identity::from_compact(&bytes(&format!(r#"{{"{name}": "x"}}"#))).unwrap_err();
            assert_eq!(e, CompactError("an undeclared property has a declared name"), "{name}");
        }
        let ok = Identity::from_compact(&bytes(r#"{"other": "x", "Id": 1}"#)).unwrap();
        assert_eq!(ok.additional_properties.len(), 2);
    }

    /// Found by reading the `compact_row` target's failures: a declared enum member written as text
    /// decoded to `Other("none")`, which the JSON reader never makes (it reads `none` as the member).
    #[test]
    fn declared_members_written_as_text_are_refused() {
        let mut bytes = Vec::new();
        write_member(&mut bytes, None, "none");
        let e = SharePointIdentityMappingGroupType::from_compact(&bytes).unwrap_err();
        assert_eq!(e, CompactError("a declared member written as text"));
        let mut bytes = Vec::new();
        write_member(&mut bytes, None, "futureType");
        let other = SharePointIdentityMappingGroupType::from_compact(&bytes).unwrap();
        assert_eq!(other, SharePointIdentityMappingGroupType::Other("futureType".into()));
        assert_eq!(
            SharePointIdentityMappingGroupType::from_compact(&[9]),
            Err(CompactError("unknown member index"))
        );
    }
}
