//! OData plumbing shared by the generated types: property metadata and the helpers their serde code calls.
//!
//! For generic code: [`StructuredType`] (a type's name, paths and unknown properties), [`Visit`] (walk its
//! declared properties with their [`PropertyInfo`]). The `read_*` functions, [`value_of`] and
//! [`diff_additional`] are what the generated serde and `Diff` code calls; a caller rarely needs them.

use crate::{Guid, Patch};
use serde::de::{self, Deserialize, Deserializer, MapAccess};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// A declared property: its JSON name, CSDL type and nullability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PropertyInfo {
    /// The JSON name, e.g. `sourceOrganizationId`.
    pub name: &'static str,
    /// The CSDL type with the namespace spelled out, e.g. `Edm.Guid` or `microsoft.graph.identity`.
    pub edm_type: &'static str,
    /// Whether the schema allows `null`.
    pub nullable: bool,
}

/// What every generated complex and entity type offers, for code that handles them generically.
pub trait StructuredType {
    /// The qualified CSDL name, e.g. `microsoft.graph.identity`.
    const QUALIFIED_NAME: &'static str;
    /// Every declared property, inherited ones first.
    const PROPERTIES: &'static [PropertyInfo];

    /// The `@odata.type` annotation as received, if any.
    fn odata_type(&self) -> Option<&str>;
    /// Properties and annotations the schema does not declare, as received.
    fn additional_properties(&self) -> &Map<String, Value>;
    /// Mutable access to the undeclared properties.
    fn additional_properties_mut(&mut self) -> &mut Map<String, Value>;

    /// Looks a declared property up by JSON name.
    fn property(name: &str) -> Option<&'static PropertyInfo> {
        Self::PROPERTIES.iter().find(|p| p.name == name)
    }

    /// Names of received properties that the schema does not declare; instance annotations (names with
    /// an `@`) are not properties and are left out. A strict server refuses a value when this is non-empty.
    fn unknown_properties(&self) -> impl Iterator<Item = &str> {
        self.additional_properties()
            .keys()
            .map(String::as_str)
            .filter(|k| !k.contains('@'))
    }

    /// Whether the received `@odata.type`, if any, names this type (with or without `#`, by namespace
    /// or by the `graph` alias).
    fn odata_type_matches(&self) -> bool {
        self.odata_type()
            .is_none_or(|t| type_name_matches(t, Self::QUALIFIED_NAME))
    }
}

/// Whether an `@odata.type` value names `qualified` (`microsoft.graph.x`), allowing `#` and the alias.
pub fn type_name_matches(found: &str, qualified: &str) -> bool {
    let found = found.strip_prefix('#').unwrap_or(found);
    if found == qualified {
        return true;
    }
    match (found.strip_prefix("graph."), qualified.strip_prefix("microsoft.graph.")) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// A JSON string read without copying when the input allows it: property names and enum values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<'de>(Cow<'de, str>);

impl Text<'_> {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, owned.
    pub fn into_string(self) -> String {
        self.0.into_owned()
    }
}

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// Reads a declared property's value; a property that appears twice in one object is an error.
pub fn read_property<'de, A, T>(map: &mut A, slot: &mut Patch<T>, name: &'static str) -> Result<(), A::Error>
where
    A: MapAccess<'de>,
    T: Deserialize<'de>,
{
    if !slot.is_absent() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = map.next_value()?;
    Ok(())
}

/// Reads the `@odata.type` annotation.
pub fn read_odata_type<'de, A: MapAccess<'de>>(map: &mut A, slot: &mut Option<String>) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field("@odata.type"));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

/// Keeps an undeclared property or annotation as received.
pub fn read_additional<'de, A: MapAccess<'de>>(
    map: &mut A,
    additional: &mut Map<String, Value>,
    key: Text<'de>,
) -> Result<(), A::Error> {
    let value: Value = map.next_value()?;
    let key = key.into_string();
    if additional.contains_key(&key) {
        return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
    }
    additional.insert(key, value);
    Ok(())
}

/// A view of one property's value, for code that walks values generically (validation, `$select`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// Not in the object.
    Absent,
    /// Explicitly `null`.
    Null,
    /// A string.
    Text(&'a str),
    /// A GUID.
    Guid(&'a Guid),
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// An enum member, declared or not, with the declared members.
    Enum {
        /// The member's wire name.
        name: &'a str,
        /// Whether the schema declares it.
        known: bool,
        /// The declared members.
        members: &'static [&'static str],
    },
    /// A complex value; [`Visit`] descends into it.
    Structured,
    /// A collection of this many values.
    List(usize),
}

/// Gives the [`ValueRef`] of a value.
pub trait AsValueRef {
    /// The view.
    fn value_ref(&self) -> ValueRef<'_>;
}

impl AsValueRef for String {
    fn value_ref(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl AsValueRef for Guid {
    fn value_ref(&self) -> ValueRef<'_> {
        ValueRef::Guid(self)
    }
}

impl AsValueRef for bool {
    fn value_ref(&self) -> ValueRef<'_> {
        ValueRef::Bool(*self)
    }
}

impl AsValueRef for i32 {
    fn value_ref(&self) -> ValueRef<'_> {
        ValueRef::Int(i64::from(*self))
    }
}

impl AsValueRef for i64 {
    fn value_ref(&self) -> ValueRef<'_> {
        ValueRef::Int(*self)
    }
}

impl<T> AsValueRef for Vec<T> {
    fn value_ref(&self) -> ValueRef<'_> {
        ValueRef::List(self.len())
    }
}

/// The view of a property slot.
pub fn value_of<T: AsValueRef>(p: &Patch<T>) -> ValueRef<'_> {
    match p {
        Patch::Absent => ValueRef::Absent,
        Patch::Null => ValueRef::Null,
        Patch::Value(v) => v.value_ref(),
    }
}

/// Receives the walk of a value: see [`Visit`].
pub trait Visitor {
    /// Called first for every structured value (the top one and each complex one descended into).
    fn structured(&mut self, qualified_name: &'static str, odata_type: Option<&str>, additional: &Map<String, Value>);
    /// Called for every declared property, in schema order.
    fn property(&mut self, info: &'static PropertyInfo, value: ValueRef<'_>);
    /// Called before descending into the complex value of property `info`.
    fn enter(&mut self, info: &'static PropertyInfo);
    /// Called after that descent.
    fn leave(&mut self);
}

/// Walks a value's declared properties with their metadata, generated from the schema.
pub trait Visit {
    /// Walks `self`, calling `v` for each structured value and property.
    fn visit<V: Visitor>(&self, v: &mut V);
}

/// The patch between two sets of undeclared properties: changed or new ones, and `null` for removed ones.
pub fn diff_additional(from: &Map<String, Value>, to: &Map<String, Value>) -> Map<String, Value> {
    let mut out: Map<String, Value> = to
        .iter()
        .filter(|(k, v)| from.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for k in from.keys().filter(|k| !to.contains_key(*k)) {
        out.insert(k.clone(), Value::Null);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_match_with_hash_and_alias() {
        let q = "microsoft.graph.identity";
        assert!(type_name_matches("#microsoft.graph.identity", q));
        assert!(type_name_matches("microsoft.graph.identity", q));
        assert!(type_name_matches("#graph.identity", q));
        assert!(!type_name_matches("#microsoft.graph.userIdentity", q));
    }
}
