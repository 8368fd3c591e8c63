//! The query options of the directory collections: `$select`, `$top`, `$count`, `$skiptoken` and the
//! `$filter`s that matching needs, read as Graph's directory reads them and refused in its words.

use super::schema::Type;
use super::{bad_request, unsupported_query};
use crate::error::ApiError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use crossmap_model::Guid;
use crossmap_store::{Cursor, GroupFilter, UserFilter};

/// Graph's default page size for users and groups.
pub(crate) const DEFAULT_PAGE: usize = 100;
/// Graph's largest page.
pub(crate) const MAX_PAGE: usize = 999;

/// The options of one request, as given.
#[derive(Debug, Default)]
pub(crate) struct Options {
    /// `$select`, each name as the type spells it.
    pub(crate) select: Option<Vec<&'static str>>,
    /// `$top` (defaults to [`DEFAULT_PAGE`]).
    pub(crate) top: Option<usize>,
    /// `$count=true`.
    pub(crate) count: bool,
    /// `$filter`, as sent.
    pub(crate) filter: Option<String>,
    /// `$skiptoken`, as sent.
    pub(crate) skiptoken: Option<String>,
}

/// Reads the query string: each system query option at most once; the ones a directory list does not
/// take are refused as Graph refuses them. `beta`: the `$` of a system query option is optional, as on
/// Graph's beta endpoint (on v1.0 only some APIs allow it: there a name without `$` is a custom option).
pub(crate) fn options(raw: Option<&str>, ty: &Type, beta: bool) -> Result<Options, ApiError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|_| bad_request("The query string is not valid."))?;
    let pairs = if beta {
        crate::graph::dollar_optional(pairs)
    } else {
        pairs
    };
    let mut seen: Vec<&str> = Vec::new();
    for (name, _) in &pairs {
        if name.starts_with('$') {
            if seen.contains(&name.as_str()) {
                return Err(bad_request(format!(
                    "Query option '{name}' was specified more than once, but it must be specified at most once."
                )));
            }
            seen.push(name);
        }
    }
    let mut o = Options::default();
    for (name, value) in pairs {
        match name.as_str() {
            "$select" => o.select = Some(select(&value, ty)?),
            "$top" => {
                let top = value
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|t| (1..=MAX_PAGE).contains(t));
                o.top = Some(top.ok_or_else(|| {
                    bad_request(format!(
                        "Invalid page size specified: '{value}'. Must be between 1 and {MAX_PAGE} inclusive."
                    ))
                })?);
            }
            "$count" => {
                o.count = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(bad_request(format!(
                            "'{value}' is not a valid value for $count: true or false."
                        )));
                    }
                }
            }
            "$filter" => o.filter = Some(value),
            "$skiptoken" => o.skiptoken = Some(value),
            "$skip" => return Err(bad_request("'$skip' is not supported by the service.")),
            "$orderby" | "$search" | "$expand" | "$apply" | "$format" | "$levels" => {
                return Err(unsupported_query(format!(
                    "The query option '{name}' is not supported by the emulator's {}.",
                    ty.set
                )));
            }
            other if other.starts_with('$') => {
                return Err(bad_request(format!("Query option '{other}' is not supported.")));
            }
            _ => {}
        }
    }
    Ok(o)
}

/// `$select`: known properties, as the type spells them, each once.
fn select(value: &str, ty: &Type) -> Result<Vec<&'static str>, ApiError> {
    let mut names = Vec::new();
    for name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (known, _) = ty.property(name).ok_or_else(|| {
            bad_request(format!(
                "Could not find a property named '{name}' on type '{}'.",
                ty.qualified
            ))
        })?;
        if !names.contains(&known) {
            names.push(known);
        }
    }
    if names.is_empty() {
        return Err(bad_request("$select names no property."));
    }
    Ok(names)
}

/// A filter: the store's, or one no object can pass (`accountEnabled eq true and accountEnabled eq false`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Filtered<F> {
    /// What the store is asked.
    Store(F),
    /// Matches nothing: answered without asking.
    Nothing,
    /// `id in (…)` / `userPrincipalName in (…)`: at most [`MAX_IN`] objects, looked up one by one, then
    /// held to the store's filter and to every other `in` list.
    Keys(F, Vec<KeyList>),
}

/// Graph's limit on the values of one `in` (directory-notes: "`in` allows at most 15 values").
pub(crate) const MAX_IN: usize = 15;

/// The values of one `in` clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyList {
    /// `id in ('…', …)`.
    Ids(Vec<Guid>),
    /// `userPrincipalName in ('…', …)`, lower-cased (UPNs compare without regard to case).
    Upns(Vec<String>),
}

impl KeyList {
    /// Whether an object with this id and (for users) UPN is in the list.
    pub(crate) fn admits(&self, id: Option<&Guid>, upn: Option<&str>) -> bool {
        match self {
            KeyList::Ids(ids) => id.is_some_and(|id| ids.contains(id)),
            KeyList::Upns(upns) => upn.is_some_and(|u| upns.contains(&u.to_lowercase())),
        }
    }
}

/// Whether `user` passes the store's filter (for the few users an `in` names, checked here).
pub(crate) fn user_admitted(f: &UserFilter, user: &crossmap_model::directory::User) -> bool {
    let enabled = f
        .account_enabled
        .is_none_or(|want| user.account_enabled.value() == Some(&want));
    let kind = f.user_type.as_ref().is_none_or(|want| {
        ["Member", "Guest"].iter().any(|k| k.eq_ignore_ascii_case(want))
            && user.user_type.value().is_some_and(|t| t.eq_ignore_ascii_case(want))
    });
    let prefix = f.upn_prefix.as_ref().is_none_or(|p| {
        user.user_principal_name
            .value()
            .is_some_and(|u| u.to_lowercase().starts_with(p.as_str()))
    });
    enabled && kind && prefix
}

/// Whether `group` passes the store's filter.
pub(crate) fn group_admitted(f: &GroupFilter, group: &crossmap_model::directory::Group) -> bool {
    f.microsoft_365.is_none_or(|m| group.is_microsoft_365() == m)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Open,
    Close,
    Comma,
    Colon,
}

fn tokens(filter: &str, resource: &str) -> Result<Vec<Token>, ApiError> {
    let mut out = Vec::new();
    let mut chars = filter.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ',' | ':' => {
                chars.next();
                out.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    ',' => Token::Comma,
                    _ => Token::Colon,
                });
            }
            '\'' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            text.push('\'');
                        }
                        Some('\'') => break,
                        Some(c) => text.push(c),
                        None => {
                            return Err(bad_request(format!(
                                "Invalid filter clause: a string literal is not closed, in resource '{resource}'."
                            )));
                        }
                    }
                }
                out.push(Token::Text(text));
            }
            c if c.is_alphanumeric() || "/_.$-".contains(c) => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_alphanumeric() || "/_.$-".contains(c) {
                        word.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Token::Word(word));
            }
            other => {
                return Err(bad_request(format!("Invalid filter clause: unexpected '{other}'.")));
            }
        }
    }
    Ok(out)
}

/// One condition of a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Condition {
    AccountEnabled(bool),
    UserType(String),
    UpnPrefix(String),
    Unified,
    In(KeyList),
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    ty: &'a Type,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn expect(&mut self, want: Token) -> Result<(), ApiError> {
        match self.next() {
            Some(t) if t == want => Ok(()),
            _ => Err(self.syntax()),
        }
    }

    fn word(&mut self) -> Result<String, ApiError> {
        match self.next() {
            Some(Token::Word(w)) => Ok(w),
            _ => Err(self.syntax()),
        }
    }

    fn text(&mut self) -> Result<String, ApiError> {
        match self.next() {
            Some(Token::Text(t)) => Ok(t),
            _ => Err(self.syntax()),
        }
    }

    fn syntax(&self) -> ApiError {
        bad_request(format!(
            "Invalid filter clause: the emulator reads {}.",
            supported(self.ty)
        ))
    }

    fn unsupported_property(&self, name: &str) -> ApiError {
        unsupported_query(format!(
            "Unsupported or invalid query filter clause specified for property '{name}' of resource '{}'. The \
             emulator filters {}.",
            self.ty.resource,
            supported(self.ty)
        ))
    }

    /// `clause (and clause)*`
    fn conjunction(&mut self, out: &mut Vec<Condition>) -> Result<(), ApiError> {
        self.clause(out)?;
        while let Some(Token::Word(w)) = self.peek() {
            if w.eq_ignore_ascii_case("and") {
                self.next();
                self.clause(out)?;
            } else if w.eq_ignore_ascii_case("or") {
                return Err(unsupported_query(format!(
                    "The emulator does not combine filter clauses with 'or': it filters {}.",
                    supported(self.ty)
                )));
            } else {
                return Err(self.syntax());
            }
        }
        Ok(())
    }

    fn clause(&mut self, out: &mut Vec<Condition>) -> Result<(), ApiError> {
        if self.peek() == Some(&Token::Open) {
            self.next();
            self.conjunction(out)?;
            return self.expect(Token::Close);
        }
        let name = self.word()?;
        let users = self.ty.set == "users";
        if name.eq_ignore_ascii_case("startswith") {
            self.expect(Token::Open)?;
            let property = self.word()?;
            self.expect(Token::Comma)?;
            let prefix = self.text()?;
            self.expect(Token::Close)?;
            if users && property.eq_ignore_ascii_case("userPrincipalName") {
                out.push(Condition::UpnPrefix(prefix));
                return Ok(());
            }
            return Err(self.unsupported_property(&property));
        }
        if ["not", "endswith", "contains"]
            .iter()
            .any(|f| name.eq_ignore_ascii_case(f))
        {
            return Err(unsupported_query(format!(
                "The emulator does not support '{name}' in filters: it filters {}.",
                supported(self.ty)
            )));
        }
        if !users && name.eq_ignore_ascii_case("groupTypes/any") {
            self.expect(Token::Open)?;
            let var = self.word()?;
            self.expect(Token::Colon)?;
            let used = self.word()?;
            let op = self.word()?;
            let value = self.text()?;
            self.expect(Token::Close)?;
            if used != var || !op.eq_ignore_ascii_case("eq") {
                return Err(self.syntax());
            }
            if !value.eq_ignore_ascii_case("Unified") {
                return Err(unsupported_query(format!(
                    "The emulator filters groupTypes by 'Unified' only, not '{value}'."
                )));
            }
            out.push(Condition::Unified);
            return Ok(());
        }
        if self.peek() == Some(&Token::Open) {
            // A lambda or function the emulator does not read (`assignedLicenses/any(…)`, `groupTypes/any` on users).
            let property = name.split('/').next().unwrap_or(&name).to_owned();
            return Err(self.unsupported_property(&property));
        }
        let op = self.word()?;
        if op.eq_ignore_ascii_case("in") {
            return self.in_list(&name, out);
        }
        if !op.eq_ignore_ascii_case("eq") {
            return Err(unsupported_query(format!(
                "Unsupported property filter clause operator '{op}': the emulator filters {}.",
                supported(self.ty)
            )));
        }
        let value = self.next().ok_or_else(|| self.syntax())?;
        match (users, value) {
            (true, Token::Word(b)) if name.eq_ignore_ascii_case("accountEnabled") => {
                let b = match b.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(self.syntax()),
                };
                out.push(Condition::AccountEnabled(b));
                Ok(())
            }
            (true, Token::Text(t)) if name.eq_ignore_ascii_case("userType") => {
                out.push(Condition::UserType(t));
                Ok(())
            }
            _ => Err(self.unsupported_property(&name)),
        }
    }
}

impl Parser<'_> {
    /// `property in ('…', '…')`: `id` (users and groups) or `userPrincipalName` (users), at most [`MAX_IN`]
    /// values.
    fn in_list(&mut self, property: &str, out: &mut Vec<Condition>) -> Result<(), ApiError> {
        self.expect(Token::Open)?;
        let mut values = vec![self.text()?];
        while self.peek() == Some(&Token::Comma) {
            self.next();
            values.push(self.text()?);
        }
        self.expect(Token::Close)?;
        if values.len() > MAX_IN {
            return Err(unsupported_query(format!(
                "Too many values in the 'in' clause for property '{property}': {}. Max allowed: {MAX_IN}.",
                values.len()
            )));
        }
        let list = if property.eq_ignore_ascii_case("id") {
            let ids = values
                .iter()
                .map(|v| {
                    v.parse::<Guid>()
                        .map_err(|_| bad_request(format!("Invalid object identifier '{v}'.")))
                })
                .collect::<Result<_, _>>()?;
            KeyList::Ids(ids)
        } else if self.ty.set == "users" && property.eq_ignore_ascii_case("userPrincipalName") {
            KeyList::Upns(values.iter().map(|v| v.to_lowercase()).collect())
        } else {
            return Err(self.unsupported_property(property));
        };
        out.push(Condition::In(list));
        Ok(())
    }
}

fn supported(ty: &Type) -> &'static str {
    if ty.set == "users" {
        "users by accountEnabled eq true|false, userType eq 'Member'|'Guest', \
         startswith(userPrincipalName,'…'), id in ('…', …) and userPrincipalName in ('…', …), joined with 'and'"
    } else {
        "groups by groupTypes/any(c:c eq 'Unified') and id in ('…', …), joined with 'and'"
    }
}

fn conditions(filter: &str, ty: &Type) -> Result<Vec<Condition>, ApiError> {
    let mut parser = Parser {
        tokens: tokens(filter, ty.resource)?,
        at: 0,
        ty,
    };
    let mut out = Vec::new();
    parser.conjunction(&mut out)?;
    if parser.at != parser.tokens.len() {
        return Err(parser.syntax());
    }
    Ok(out)
}

/// A users `$filter` as the store's filter.
pub(crate) fn user_filter(filter: Option<&str>, ty: &Type) -> Result<Filtered<UserFilter>, ApiError> {
    let mut f = UserFilter::default();
    let Some(filter) = filter else {
        return Ok(Filtered::Store(f));
    };
    let mut lists = Vec::new();
    for condition in conditions(filter, ty)? {
        // Two conditions on one property: both must hold.
        let consistent = match condition {
            Condition::AccountEnabled(b) => *f.account_enabled.get_or_insert(b) == b,
            Condition::UserType(t) => f.user_type.get_or_insert_with(|| t.clone()).eq_ignore_ascii_case(&t),
            Condition::UpnPrefix(p) => {
                let p = p.to_lowercase();
                match &mut f.upn_prefix {
                    None => {
                        f.upn_prefix = Some(p);
                        true
                    }
                    Some(q) if p.starts_with(q.as_str()) => {
                        *q = p;
                        true
                    }
                    Some(q) => q.starts_with(&p),
                }
            }
            Condition::In(list) => {
                lists.push(list);
                true
            }
            Condition::Unified => unreachable!("only parsed for groups"),
        };
        if !consistent {
            return Ok(Filtered::Nothing);
        }
    }
    Ok(if lists.is_empty() {
        Filtered::Store(f)
    } else {
        Filtered::Keys(f, lists)
    })
}

/// A groups `$filter` as the store's filter.
pub(crate) fn group_filter(filter: Option<&str>, ty: &Type) -> Result<Filtered<GroupFilter>, ApiError> {
    let mut f = GroupFilter::default();
    let mut lists = Vec::new();
    if let Some(filter) = filter {
        for condition in conditions(filter, ty)? {
            match condition {
                Condition::In(list) => lists.push(list),
                other => {
                    debug_assert_eq!(other, Condition::Unified);
                    f.microsoft_365 = Some(true);
                }
            }
        }
    }
    Ok(if lists.is_empty() {
        Filtered::Store(f)
    } else {
        Filtered::Keys(f, lists)
    })
}

/// The opaque `$skiptoken` of a cursor: the set and the cursor, base64url, so that clients follow
/// `@odata.nextLink` rather than build tokens.
pub(crate) fn skiptoken(set: &str, cursor: &Cursor) -> String {
    let text = match cursor {
        Cursor::Id(id) => format!("{set}\ni\n{id}"),
        Cursor::Upn(upn) => format!("{set}\nu\n{upn}"),
    };
    URL_SAFE_NO_PAD.encode(text)
}

/// The cursor of a `$skiptoken`, if it is one of ours for `set`.
pub(crate) fn cursor(set: &str, token: &str) -> Result<Cursor, ApiError> {
    let bad = || bad_request("The $skiptoken is not valid: follow @odata.nextLink as it was given.");
    let bytes = URL_SAFE_NO_PAD.decode(token.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let mut parts = text.splitn(3, '\n');
    let (Some(s), Some(kind), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    if s != set {
        return Err(bad());
    }
    match kind {
        "i" => value.parse::<Guid>().map(Cursor::Id).map_err(|_| bad()),
        "u" => Ok(Cursor::Upn(value.to_owned())),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::schema::{GROUP, USER};
    use super::*;

    fn users(f: &str) -> Result<Filtered<UserFilter>, ApiError> {
        user_filter(Some(f), &USER)
    }

    #[test]
    fn the_filters_matching_needs_are_read() {
        let f =
            users("accountEnabled eq true and userType eq 'Guest' and startswith(userPrincipalName,'Ann''s')").unwrap();
        assert_eq!(
            f,
            Filtered::Store(UserFilter {
                account_enabled: Some(true),
                user_type: Some("Guest".into()),
                upn_prefix: Some("ann's".into()),
            })
        );
        assert_eq!(
            users("(accountEnabled eq false)").unwrap(),
            Filtered::Store(UserFilter {
                account_enabled: Some(false),
                ..UserFilter::default()
            })
        );
        assert_eq!(
            users("accountEnabled eq true and accountEnabled eq false").unwrap(),
            Filtered::Nothing
        );
        assert_eq!(
            users("startswith(userPrincipalName,'a') and startswith(userPrincipalName,'AB')").unwrap(),
            Filtered::Store(UserFilter {
                upn_prefix: Some("ab".into()),
                ..UserFilter::default()
            })
        );
        assert_eq!(
            group_filter(Some("groupTypes/any(c:c eq 'Unified')"), &GROUP).unwrap(),
            Filtered::Store(GroupFilter {
                microsoft_365: Some(true)
            })
        );
    }

    #[test]
    fn anything_else_is_refused_in_graphs_words() {
        for (f, code) in [
            ("accountEnabled ne true", "Request_UnsupportedQuery"),
            ("displayName eq 'Ann'", "Request_UnsupportedQuery"),
            ("startswith(displayName,'A')", "Request_UnsupportedQuery"),
            ("endswith(mail,'@contoso.com')", "Request_UnsupportedQuery"),
            (
                "accountEnabled eq true or userType eq 'Guest'",
                "Request_UnsupportedQuery",
            ),
            ("accountEnabled eq maybe", "Request_BadRequest"),
            ("userType eq 'Guest", "Request_BadRequest"),
            ("accountEnabled eq true true", "Request_BadRequest"),
            ("groupTypes/any(c:c eq 'Unified')", "Request_UnsupportedQuery"),
            ("", "Request_BadRequest"),
        ] {
            let e = users(f).unwrap_err();
            assert_eq!(e.error.code, code, "{f}: {}", e.error.message);
        }
        let e = group_filter(Some("groupTypes/any(c:c eq 'DynamicMembership')"), &GROUP).unwrap_err();
        assert_eq!(e.error.code, "Request_UnsupportedQuery");
        assert!(group_filter(Some("accountEnabled eq true"), &GROUP).is_err());
    }

    #[test]
    fn skiptokens_are_opaque_and_bound_to_their_set() {
        let c = Cursor::Upn("ann_x.com#ext#@contoso.onmicrosoft.com".into());
        let t = skiptoken("users", &c);
        assert!(
            t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{t}"
        );
        assert_eq!(cursor("users", &t).unwrap(), c);
        assert!(cursor("groups", &t).is_err());
        assert!(cursor("users", "nonsense!").is_err());
    }
}
