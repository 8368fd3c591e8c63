//! Normalised text (trimmed, lower-cased: the form every comparison uses), kept in one arena per directory.

use std::borrow::Cow;

/// `s` trimmed and lower-cased: the form in which every value is compared.
///
/// ```
/// assert_eq!(crossmap_match::normalize("  Ann.Lee@Contoso.COM "), "ann.lee@contoso.com");
/// assert_eq!(crossmap_match::normalize("ÅSA@contoso.com"), "åsa@contoso.com");
/// ```
pub fn normalize(s: &str) -> Cow<'_, str> {
    let t = trim(s);
    if !t.is_ascii() {
        Cow::Owned(t.to_lowercase())
    } else if t.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(t.to_ascii_lowercase())
    } else {
        Cow::Borrowed(t)
    }
}

/// `s` without leading and trailing whitespace; values almost never have any, so look at the ends first.
pub(crate) fn trim(s: &str) -> &str {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) if f.is_ascii_graphic() && l.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// Splits an address or UPN at its last `@`: (local part, domain).
pub(crate) fn split_address(s: &str) -> Option<(&str, &str)> {
    let at = s.bytes().rposition(|b| b == b'@')?;
    let (local, domain) = (&s[..at], &s[at + 1..]);
    (!local.is_empty() && !domain.is_empty()).then_some((local, domain))
}

/// A piece of an [`Arena`]: `len == 0` means no value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    len: u32,
}

impl Span {
    /// Whether the span holds no value.
    pub(crate) fn is_empty(self) -> bool {
        self.len == 0
    }
}

/// The arena grew past 4 GiB of text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Full;

/// All of a directory's strings in one buffer: no allocation per value, 8 bytes per reference.
#[derive(Debug, Default)]
pub(crate) struct Arena {
    text: String,
}

impl Arena {
    /// The text of a span.
    pub(crate) fn get(&self, span: Span) -> &str {
        &self.text[span.start as usize..span.start as usize + span.len as usize]
    }

    /// Bytes held.
    pub(crate) fn len(&self) -> usize {
        self.text.len()
    }

    fn span_from(&self, start: usize) -> Result<Span, Full> {
        let end = u32::try_from(self.text.len()).map_err(|_| Full)?;
        Ok(Span {
            start: start as u32,
            len: end - start as u32,
        })
    }

    /// Appends `s` as it is.
    pub(crate) fn push(&mut self, s: &str) -> Result<Span, Full> {
        let start = self.text.len();
        self.text.push_str(s);
        self.span_from(start)
    }

    /// Appends `s` trimmed and lower-cased; an empty result is no value.
    pub(crate) fn push_normalized(&mut self, s: &str) -> Result<Span, Full> {
        let start = self.text.len();
        push_normalized(&mut self.text, s);
        self.span_from(start)
    }

    /// Appends `s` trimmed as it is, and its normalised form only where that differs: (original, key).
    pub(crate) fn push_with_key(&mut self, s: &str) -> Result<(Span, Span), Full> {
        let t = trim(s);
        let original = self.push(t)?;
        let key = self.push_normalized(t)?;
        if self.get(key) == self.get(original) {
            self.truncate(key.start as usize);
            Ok((original, original))
        } else {
            Ok((original, key))
        }
    }

    /// Appends `s` normalised, unless one of `known` already holds that text: gives the span holding it.
    pub(crate) fn push_normalized_once(&mut self, s: &str, known: &[Span]) -> Result<Span, Full> {
        let key = self.push_normalized(s)?;
        match known.iter().find(|k| self.get(**k) == self.get(key)) {
            Some(&k) => {
                self.truncate(key.start as usize);
                Ok(k)
            }
            None => Ok(key),
        }
    }

    /// Makes room for `bytes` more.
    pub(crate) fn reserve(&mut self, bytes: usize) {
        self.text.reserve(bytes);
    }

    /// Releases spare capacity.
    pub(crate) fn shrink(&mut self) {
        self.text.shrink_to_fit();
    }

    /// Gives back the bytes of the last pushes, down to `len` (an object refused half-way).
    pub(crate) fn truncate(&mut self, len: usize) {
        self.text.truncate(len);
    }
}

/// Appends `s`, trimmed and lower-cased, to `out` (no allocation for ASCII).
pub(crate) fn push_normalized(out: &mut String, s: &str) {
    let t = trim(s);
    if t.is_ascii() {
        let start = out.len();
        out.push_str(t);
        out[start..].make_ascii_lowercase();
    } else {
        out.push_str(&t.to_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stored_once_when_already_normal() {
        let mut a = Arena::default();
        let (o, k) = a.push_with_key(" ann@contoso.com ").unwrap();
        assert_eq!(o, k);
        assert_eq!(a.get(k), "ann@contoso.com");
        let (o, k) = a.push_with_key("Ann@Contoso.com").unwrap();
        assert_ne!(o, k);
        assert_eq!((a.get(o), a.get(k)), ("Ann@Contoso.com", "ann@contoso.com"));
        assert!(a.push_normalized("   ").unwrap().is_empty());
    }

    #[test]
    fn trimming_takes_unicode_whitespace_too() {
        assert_eq!(trim("\u{a0} a b\t"), "a b");
        assert_eq!(trim("ab"), "ab");
        assert_eq!(trim(" "), "");
        assert_eq!(trim(""), "");
    }

    #[test]
    fn addresses_split_at_the_last_at() {
        assert_eq!(split_address("a@b@c.com"), Some(("a@b", "c.com")));
        assert_eq!(split_address("@c.com"), None);
        assert_eq!(split_address("a@"), None);
        assert_eq!(split_address("abc"), None);
    }
}
