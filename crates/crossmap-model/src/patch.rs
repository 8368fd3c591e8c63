//! PATCH-aware property values and the recursive merge that OData's update semantics describe.

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer};

/// A property value that remembers whether it was absent, explicitly `null`, or set.
///
/// Partial updates depend on the difference: an absent property keeps its stored value, `null` clears it.
///
/// ```
/// use crossmap_model::Patch;
/// let absent: Patch<String> = Patch::Absent;
/// let cleared: Patch<String> = Patch::Null;
/// let set = Patch::Value("x".to_owned());
/// assert!(absent.is_absent() && cleared.is_null() && set.value() == Some(&"x".to_owned()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Patch<T> {
    /// The property was not in the JSON object.
    #[default]
    Absent,
    /// The property was present with the value `null`.
    Null,
    /// The property was present with a value.
    Value(T),
}

impl<T> Patch<T> {
    /// Whether the property was absent.
    pub fn is_absent(&self) -> bool {
        matches!(self, Patch::Absent)
    }

    /// Whether the property was explicitly `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Patch::Null)
    }

    /// Whether the property holds a value.
    pub fn is_value(&self) -> bool {
        matches!(self, Patch::Value(_))
    }

    /// The value, if set.
    pub fn value(&self) -> Option<&T> {
        match self {
            Patch::Value(v) => Some(v),
            _ => None,
        }
    }

    /// The value mutably, if set.
    pub fn value_mut(&mut self) -> Option<&mut T> {
        match self {
            Patch::Value(v) => Some(v),
            _ => None,
        }
    }

    /// The value by move, if set.
    pub fn into_value(self) -> Option<T> {
        match self {
            Patch::Value(v) => Some(v),
            _ => None,
        }
    }

    /// Borrows the value, keeping the absent / null distinction.
    pub fn as_ref(&self) -> Patch<&T> {
        match self {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(v) => Patch::Value(v),
        }
    }

    /// Takes the value out, leaving [`Patch::Absent`].
    pub fn take(&mut self) -> Patch<T> {
        std::mem::take(self)
    }

    /// The value, creating it with `T::default()` first if absent or null.
    pub fn get_or_insert_default(&mut self) -> &mut T
    where
        T: Default,
    {
        if !self.is_value() {
            *self = Patch::Value(T::default());
        }
        match self {
            Patch::Value(v) => v,
            _ => unreachable!("just set"),
        }
    }

    /// Writes `name: value` (or `name: null`) into a map being serialised; writes nothing when absent.
    pub fn serialize_entry<M: SerializeMap>(&self, map: &mut M, name: &str) -> Result<(), M::Error>
    where
        T: serde::Serialize,
    {
        match self {
            Patch::Absent => Ok(()),
            Patch::Null => map.serialize_entry(name, &()),
            Patch::Value(v) => map.serialize_entry(name, v),
        }
    }
}

impl<T> From<T> for Patch<T> {
    fn from(value: T) -> Self {
        Patch::Value(value)
    }
}

impl<T> From<Option<T>> for Patch<T> {
    /// `None` becomes [`Patch::Null`]: an option says nothing about absence.
    fn from(value: Option<T>) -> Self {
        value.map_or(Patch::Null, Patch::Value)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    /// Reached only for a property that is present, so `null` means [`Patch::Null`]; absence is the default.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Option::<T>::deserialize(deserializer)?.into())
    }
}

impl<T: serde::Serialize> serde::Serialize for Patch<T> {
    /// Standalone, absent and null both serialise as `null`; inside a generated type, absent is skipped.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(serializer)
    }
}

/// OData's PATCH semantics: apply `patch` onto `self`.
///
/// Primitive, enum and collection values replace; complex values merge property by property, where an
/// absent property keeps the stored value and `null` clears it.
///
/// ```
/// use crossmap_model::{Identity, Merge, Patch};
/// let mut stored = Identity { id: "a".to_owned().into(), display_name: "A".to_owned().into(), ..Default::default() };
/// stored.merge(Identity { display_name: Patch::Null, ..Default::default() });
/// assert_eq!(stored.id, Patch::Value("a".to_owned()));
/// assert!(stored.display_name.is_null());
/// ```
pub trait Merge {
    /// Applies `patch` onto `self`.
    fn merge(&mut self, patch: Self);
}

impl<T: Merge> Merge for Patch<T> {
    fn merge(&mut self, patch: Self) {
        match patch {
            Patch::Absent => {}
            Patch::Null => *self = Patch::Null,
            Patch::Value(v) => match self {
                Patch::Value(current) => current.merge(v),
                _ => *self = Patch::Value(v),
            },
        }
    }
}

macro_rules! replace_on_merge {
    ($($t:ty),*) => {$(
        impl Merge for $t {
            fn merge(&mut self, patch: Self) {
                *self = patch;
            }
        }
    )*};
}

replace_on_merge!(String, bool, i32, i64, crate::Guid);

impl<T> Merge for Vec<T> {
    /// Collections replace as a whole (OData: "collection properties replace").
    fn merge(&mut self, patch: Self) {
        *self = patch;
    }
}

/// The inverse of [`Merge`]: the smallest patch that turns one value into another, and the canonical form
/// in which such comparisons are made.
///
/// For canonical values `a` and `b`: `a.merge(a.diff(&b))`, canonicalised, equals `b`.
///
/// ```
/// use crossmap_model::{Diff, Identity, Merge, Patch};
/// let a = Identity { id: "x".to_owned().into(), display_name: "X".to_owned().into(), ..Default::default() };
/// let b = Identity { id: "x".to_owned().into(), ..Default::default() };
/// let patch = a.diff(&b);
/// assert!(patch.id.is_absent() && patch.display_name.is_null());
/// let mut c = a.clone();
/// c.merge(patch);
/// c.canonicalize();
/// assert_eq!(c, b);
/// ```
pub trait Diff {
    /// The patch from `self` to `to`: unchanged properties absent, removed ones `null`.
    fn diff(&self, to: &Self) -> Self;
    /// Puts the value in canonical form: `null` properties become absent, `@odata.type` and other
    /// instance annotations are dropped.
    fn canonicalize(&mut self);
    /// Drops every property the schema does not declare and every annotation, at every level: what is
    /// left is what a request may state.
    fn known_only(&mut self);
}

impl<T: Diff + PartialEq + Clone> Diff for Patch<T> {
    fn diff(&self, to: &Self) -> Self {
        match (self, to) {
            _ if self == to => Patch::Absent,
            (Patch::Value(a), Patch::Value(b)) => Patch::Value(a.diff(b)),
            (_, Patch::Value(b)) => Patch::Value(b.clone()),
            (_, Patch::Absent | Patch::Null) => Patch::Null,
        }
    }

    fn canonicalize(&mut self) {
        match self {
            Patch::Null => *self = Patch::Absent,
            Patch::Value(v) => v.canonicalize(),
            Patch::Absent => {}
        }
    }

    fn known_only(&mut self) {
        if let Patch::Value(v) = self {
            v.known_only();
        }
    }
}

macro_rules! replace_on_diff {
    ($($t:ty),*) => {$(
        impl Diff for $t {
            fn diff(&self, to: &Self) -> Self {
                to.clone()
            }
            fn canonicalize(&mut self) {}
            fn known_only(&mut self) {}
        }
    )*};
}

replace_on_diff!(String, bool, i32, i64, crate::Guid);

impl<T: Clone> Diff for Vec<T> {
    fn diff(&self, to: &Self) -> Self {
        to.clone()
    }
    fn canonicalize(&mut self) {}
    fn known_only(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_distinguishes_absent_null_and_value() {
        let mut p = Patch::Value("a".to_owned());
        p.merge(Patch::Absent);
        assert_eq!(p, Patch::Value("a".to_owned()));
        p.merge(Patch::Value("b".to_owned()));
        assert_eq!(p, Patch::Value("b".to_owned()));
        p.merge(Patch::Null);
        assert_eq!(p, Patch::Null);
    }

    #[test]
    fn deserialises_null_as_null() {
        let p: Patch<String> = serde_json::from_str("null").unwrap();
        assert!(p.is_null());
        let p: Patch<String> = serde_json::from_str("\"x\"").unwrap();
        assert_eq!(p.value().map(String::as_str), Some("x"));
    }
}
