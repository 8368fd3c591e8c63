//! The matcher: exclusions, overrides, then the ordered rules, each deciding every still-open source at
//! once, then suggestions. `docs/matching.md` states the rules; this is their implementation.

use crate::config::Config;
use crate::directory::Directory;
use crate::index::NONE;
use crate::matching::{Matching, Outcome, Rule, Side, Status, Warning};
use rustc_hash::FxHashMap;
use std::ops::ControlFlow;

/// The most candidates (or competing sources) a row lists; more are flagged, not listed.
pub const MAX_CANDIDATES: usize = 10;

/// Objects named in the configuration that a directory does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} name(s) in the configuration match no directory object: {}", unknown.len(), list(unknown))]
pub struct MatchError {
    /// Every unknown name, in configuration order.
    pub unknown: Vec<Unknown>,
}

fn list(unknown: &[Unknown]) -> String {
    unknown.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// A name in the configuration that a directory does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unknown {
    /// An override's source user.
    #[error("override source user {0} is not in the source directory")]
    OverrideSourceUser(String),
    /// An override's target user.
    #[error("override target user {0} is not in the target directory")]
    OverrideTargetUser(String),
    /// An override's source group.
    #[error("override source group {0} is not in the source directory")]
    OverrideSourceGroup(String),
    /// An override's target group.
    #[error("override target group {0} is not in the target directory")]
    OverrideTargetGroup(String),
    /// An administrator.
    #[error("admin {0} is not in the source directory")]
    Admin(String),
}

/// Matches every source user and group against the target directory.
///
/// Fails, before matching anything, when an override or an admin names an object the directories do not
/// hold (every such name is listed): a typo there must not quietly become an unmatched row.
pub fn match_directories<'a>(
    source: &'a Directory,
    target: &'a Directory,
    config: &Config,
) -> Result<Matching<'a>, MatchError> {
    let mut unknown = Vec::new();
    let mut user_overrides = Vec::new();
    for (s, t) in &config.user_overrides {
        let si = source.user_upn_chain(s).next();
        let ti = target.user_upn_chain(t).next();
        if si.is_none() {
            unknown.push(Unknown::OverrideSourceUser(s.clone()));
        }
        if ti.is_none() {
            unknown.push(Unknown::OverrideTargetUser(t.clone()));
        }
        user_overrides.extend(si.zip(ti));
    }
    let mut group_overrides = Vec::new();
    for (s, t) in &config.group_overrides {
        let si = source.group_by_id(*s).map(|g| g.index());
        let ti = target.group_by_id(*t).map(|g| g.index());
        if si.is_none() {
            unknown.push(Unknown::OverrideSourceGroup(s.to_string()));
        }
        if ti.is_none() {
            unknown.push(Unknown::OverrideTargetGroup(t.to_string()));
        }
        group_overrides.extend(si.zip(ti));
    }
    let mut admins = Vec::new();
    for a in &config.admins {
        match source.user_upn_chain(a).next() {
            Some(s) => admins.push(s),
            None => unknown.push(Unknown::Admin(a.clone())),
        }
    }
    if !unknown.is_empty() {
        return Err(MatchError { unknown });
    }
    admins.sort_unstable();

    let globs: Vec<_> = config
        .excludes
        .iter()
        .filter_map(|p| crate::config::glob(p).ok())
        .collect();
    let mut excluded_by = vec![0usize; globs.len()];
    let domains = Domains::new(config);
    let users = match_users(
        source,
        target,
        config,
        &domains,
        &globs,
        &user_overrides,
        &mut excluded_by,
    );
    let groups = match_groups(source, target, &globs, &group_overrides, &mut excluded_by);

    let mut warnings = Vec::new();
    for (s, t) in &config.domains {
        let (sv, tv) = (source.verified_domains(), target.verified_domains());
        if !sv.is_empty() && !sv.contains(s) {
            warnings.push(Warning::UnverifiedSourceDomain(s.clone()));
        }
        if !tv.is_empty() && !tv.contains(t) {
            warnings.push(Warning::UnverifiedTargetDomain(t.clone()));
        }
    }
    for (p, n) in config.excludes.iter().zip(&excluded_by) {
        if *n == 0 {
            warnings.push(Warning::ExcludedNothing(p.clone()));
        }
    }
    Ok(Matching {
        source,
        target,
        users,
        groups,
        admins,
        patterns: config.excludes.clone(),
        domains: config.domains.clone(),
        warnings,
    })
}

/// The domain rewrites, both ways.
struct Domains<'c> {
    forward: FxHashMap<&'c str, &'c str>,
    inverse: FxHashMap<&'c str, Vec<&'c str>>,
}

impl<'c> Domains<'c> {
    fn new(config: &'c Config) -> Domains<'c> {
        let mut forward = FxHashMap::default();
        let mut inverse: FxHashMap<&str, Vec<&str>> = FxHashMap::default();
        for (s, t) in &config.domains {
            forward.insert(s.as_str(), t.as_str());
            inverse.entry(t.as_str()).or_default().push(s.as_str());
        }
        Domains { forward, inverse }
    }

    /// A source value (UPN or address, normalised) as the target would spell it.
    fn map<'x>(&self, value: &'x str, scratch: &'x mut String) -> &'x str {
        if self.forward.is_empty() {
            return value;
        }
        let Some((local, domain)) = crate::text::split_address(value) else {
            return value;
        };
        match self.forward.get(domain) {
            None => value,
            Some(mapped) => {
                scratch.clear();
                scratch.push_str(local);
                scratch.push('@');
                scratch.push_str(mapped);
                scratch
            }
        }
    }

    /// Calls `f` with every source spelling that [`map`](Self::map)s to the target value `value`: the
    /// value at each source domain mapped to its domain, and the value itself unless its domain is mapped
    /// elsewhere.
    fn each_source(
        &self,
        value: &str,
        scratch: &mut String,
        mut f: impl FnMut(&str) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if self.forward.is_empty() {
            return f(value);
        }
        let Some((local, domain)) = crate::text::split_address(value) else {
            return f(value);
        };
        if !self.forward.contains_key(domain) {
            f(value)?;
        }
        for source_domain in self.inverse.get(domain).into_iter().flatten() {
            scratch.clear();
            scratch.push_str(local);
            scratch.push('@');
            scratch.push_str(source_domain);
            f(scratch)?;
        }
        ControlFlow::Continue(())
    }
}

type Visit<'v> = &'v mut dyn FnMut(u32) -> ControlFlow<()>;

/// The decisions so far for one kind.
struct State {
    status: Vec<Option<Status>>,
    rule: Vec<Option<Rule>>,
    target: Vec<u32>,
    claimed_by: Vec<u32>,
    notes: Vec<crate::matching::Note>,
    ids: Vec<u32>,
}

impl State {
    fn new(sources: usize, targets: usize) -> State {
        State {
            status: vec![None; sources],
            rule: vec![None; sources],
            target: vec![NONE; sources],
            claimed_by: vec![NONE; targets],
            notes: Vec::new(),
            ids: Vec::new(),
        }
    }

    fn range(&mut self, ids: &[u32]) -> (u32, u32) {
        let start = self.ids.len() as u32;
        self.ids.extend_from_slice(ids);
        (start, ids.len() as u32)
    }

    fn note(&mut self, source: u32, rule: Rule, outcome: Outcome, targets: &[u32], others: &[u32], more: bool) {
        let targets = self.range(targets);
        let others = self.range(others);
        self.notes.push(crate::matching::Note {
            source,
            rule,
            outcome,
            targets,
            others,
            more,
            pattern: NONE,
        });
    }

    fn exclude(&mut self, s: u32, rule: Rule, pattern: u32) {
        self.status[s as usize] = Some(Status::Excluded);
        self.rule[s as usize] = Some(rule);
        self.notes.push(crate::matching::Note {
            source: s,
            rule,
            outcome: Outcome::Excluded,
            targets: (0, 0),
            others: (0, 0),
            more: false,
            pattern,
        });
    }

    fn claim(&mut self, s: u32, t: u32, rule: Rule) {
        self.status[s as usize] = Some(Status::Matched);
        self.rule[s as usize] = Some(rule);
        self.target[s as usize] = t;
        self.claimed_by[t as usize] = s;
    }

    fn overrides(&mut self, overrides: &[(u32, u32)]) {
        for &(s, t) in overrides {
            self.claim(s, t, Rule::Override);
        }
    }

    /// One rule: every open source is decided against the targets still unclaimed when the rule starts.
    ///
    /// `forward(s)` visits the targets sharing a value with source `s`; `inverse(t)` visits the sources
    /// sharing a value with target `t`. A match needs `s`'s only unclaimed candidate to be `t` and `t`'s
    /// only open candidate to be `s`. Matched pairs are their own components of the candidate graph, so
    /// deciding sources one after the other gives the same result as deciding them all at once.
    fn rule(&mut self, rule: Rule, mut forward: impl FnMut(u32, Visit<'_>), mut inverse: impl FnMut(u32, Visit<'_>)) {
        let (mut free, mut claimed, mut rivals) = (Vec::new(), Vec::new(), Vec::new());
        for s in 0..self.status.len() as u32 {
            if self.status[s as usize].is_some() {
                continue;
            }
            free.clear();
            claimed.clear();
            let mut more = false;
            let claimed_by = &self.claimed_by;
            forward(s, &mut |t| {
                if claimed_by[t as usize] != NONE {
                    if claimed.len() < MAX_CANDIDATES && !claimed.contains(&t) {
                        claimed.push(t);
                    }
                } else if !free.contains(&t) {
                    if free.len() == MAX_CANDIDATES {
                        more = true;
                        return ControlFlow::Break(());
                    }
                    free.push(t);
                }
                ControlFlow::Continue(())
            });
            if free.is_empty() {
                if !claimed.is_empty() {
                    // Its candidates were all taken by earlier matches: final, a person must look.
                    claimed.sort_unstable();
                    self.note(s, rule, Outcome::Conflict, &claimed, &[], false);
                    self.status[s as usize] = Some(Status::Conflict);
                    self.rule[s as usize] = Some(rule);
                }
                continue;
            }
            free.sort_unstable();
            rivals.clear();
            if free.len() == 1 {
                let status = &self.status;
                inverse(free[0], &mut |s2| {
                    if s2 != s && status[s2 as usize].is_none() && !rivals.contains(&s2) {
                        if rivals.len() == MAX_CANDIDATES {
                            more = true;
                            return ControlFlow::Break(());
                        }
                        rivals.push(s2);
                    }
                    ControlFlow::Continue(())
                });
                if rivals.is_empty() {
                    self.claim(s, free[0], rule);
                    continue;
                }
                rivals.sort_unstable();
            }
            // Shared: no evidence either way; the source goes on to the next rule.
            self.note(s, rule, Outcome::Ambiguous, &free, &rivals, more);
            if self.rule[s as usize].is_none() {
                self.rule[s as usize] = Some(rule);
            }
        }
    }

    /// Closes every open source: `ambiguous` if some rule found it ambiguous, else `unmatched` with the
    /// unclaimed targets `suggest(s)` visits listed as suggestions.
    fn finish(mut self, mut suggest: impl FnMut(u32, Visit<'_>)) -> Side {
        let mut found = Vec::new();
        for s in 0..self.status.len() as u32 {
            if self.status[s as usize].is_some() {
                continue;
            }
            if self.rule[s as usize].is_some() {
                self.status[s as usize] = Some(Status::Ambiguous);
                continue;
            }
            self.status[s as usize] = Some(Status::Unmatched);
            found.clear();
            let mut more = false;
            let claimed_by = &self.claimed_by;
            suggest(s, &mut |t| {
                if claimed_by[t as usize] == NONE && !found.contains(&t) {
                    if found.len() == MAX_CANDIDATES {
                        more = true;
                        return ControlFlow::Break(());
                    }
                    found.push(t);
                }
                ControlFlow::Continue(())
            });
            if !found.is_empty() {
                found.sort_unstable();
                self.note(s, Rule::DisplayName, Outcome::Suggested, &found, &[], more);
            }
        }
        // Each source's notes together, in the order they were made (sort_by_key is stable).
        self.notes.sort_by_key(|n| n.source);
        let mut note_start = Vec::with_capacity(self.status.len() + 1);
        let mut at = 0usize;
        for s in 0..self.status.len() as u32 {
            note_start.push(at as u32);
            while at < self.notes.len() && self.notes[at].source == s {
                at += 1;
            }
        }
        note_start.push(at as u32);
        Side {
            status: self
                .status
                .into_iter()
                .map(|s| s.unwrap_or(Status::Unmatched))
                .collect(),
            rule: self.rule,
            target: self.target,
            claimed_by: self.claimed_by,
            notes: self.notes,
            note_start,
            ids: self.ids,
        }
    }
}

fn first_glob(globs: &[globset::GlobMatcher], names: &[&str], counts: &mut [usize]) -> Option<u32> {
    let i = globs
        .iter()
        .position(|g| names.iter().any(|n| !n.is_empty() && g.is_match(n)))?;
    counts[i] += 1;
    Some(i as u32)
}

fn match_users(
    src: &Directory,
    tgt: &Directory,
    config: &Config,
    domains: &Domains<'_>,
    globs: &[globset::GlobMatcher],
    overrides: &[(u32, u32)],
    excluded_by: &mut [usize],
) -> Side {
    let mut st = State::new(src.user_count(), tgt.user_count());
    for u in src.users() {
        if !u.is_enabled() && !config.include_disabled {
            st.exclude(u.index(), Rule::AccountEnabled, NONE);
        } else if let Some(p) = first_glob(globs, &[u.user_principal_name()], excluded_by) {
            st.exclude(u.index(), Rule::Exclude, p);
        }
    }
    st.overrides(overrides);

    let (mut s1, mut s2) = (String::new(), String::new());
    st.rule(
        Rule::OnPremisesImmutableId,
        |s, visit| {
            if let Some(k) = src.user_rec_immutable(s) {
                let _ = tgt.user_immutable_chain(k).try_for_each(visit);
            }
        },
        |t, visit| {
            if let Some(k) = tgt.user_rec_immutable(t) {
                let _ = src.user_immutable_chain(k).try_for_each(visit);
            }
        },
    );
    st.rule(
        Rule::EmployeeId,
        |s, visit| {
            if let Some(k) = src.user_rec_employee(s) {
                let _ = tgt.user_employee_chain(k).try_for_each(visit);
            }
        },
        |t, visit| {
            if let Some(k) = tgt.user_rec_employee(t) {
                let _ = src.user_employee_chain(k).try_for_each(visit);
            }
        },
    );
    // External identities (#EXT#) never take part in the UPN rule, on either side.
    let external_s = |s: u32| src.user_rec_flags(s).1;
    let external_t = |t: u32| tgt.user_rec_flags(t).1;
    st.rule(
        Rule::UserPrincipalName,
        |s, visit| {
            if external_s(s) {
                return;
            }
            let key = domains.map(src.user_rec_upn_key(s), &mut s1);
            let _ = tgt.user_upn_chain(key).filter(|t| !external_t(*t)).try_for_each(visit);
        },
        |t, visit| {
            if external_t(t) {
                return;
            }
            let _ = domains.each_source(tgt.user_rec_upn_key(t), &mut s2, |k| {
                src.user_upn_chain(k)
                    .filter(|s| !external_s(*s))
                    .try_for_each(&mut *visit)
            });
        },
    );
    st.rule(
        Rule::Email,
        |s, visit| {
            for a in src.user_rec_addresses(s) {
                let key = domains.map(a, &mut s1);
                if tgt.user_address_chain(key).try_for_each(&mut *visit).is_break() {
                    return;
                }
            }
        },
        |t, visit| {
            for a in tgt.user_rec_addresses(t) {
                let flow = domains.each_source(a, &mut s2, |k| src.user_address_chain(k).try_for_each(&mut *visit));
                if flow.is_break() {
                    return;
                }
            }
        },
    );
    st.finish(|s, visit| {
        if let Some(k) = src.user_rec_display_key(s) {
            let _ = tgt.user_display_chain(k).try_for_each(visit);
        }
    })
}

fn match_groups(
    src: &Directory,
    tgt: &Directory,
    globs: &[globset::GlobMatcher],
    overrides: &[(u32, u32)],
    excluded_by: &mut [usize],
) -> Side {
    let mut st = State::new(src.group_count(), tgt.group_count());
    for g in src.groups() {
        if let Some(p) = first_glob(globs, &[g.display_name(), g.mail_nickname()], excluded_by) {
            st.exclude(g.index(), Rule::Exclude, p);
        }
    }
    st.overrides(overrides);
    // Both rules only between groups of the same kind.
    let same_kind = |s: u32, t: u32| src.group_rec_kind(s) == tgt.group_rec_kind(t);
    st.rule(
        Rule::MailNickname,
        |s, visit| {
            if let Some(k) = src.group_rec_nickname_key(s) {
                let _ = tgt
                    .group_nickname_chain(k)
                    .filter(|t| same_kind(s, *t))
                    .try_for_each(visit);
            }
        },
        |t, visit| {
            if let Some(k) = tgt.group_rec_nickname_key(t) {
                let _ = src
                    .group_nickname_chain(k)
                    .filter(|s| same_kind(*s, t))
                    .try_for_each(visit);
            }
        },
    );
    st.rule(
        Rule::DisplayName,
        |s, visit| {
            if let Some(k) = src.group_rec_display_key(s) {
                let _ = tgt
                    .group_display_chain(k)
                    .filter(|t| same_kind(s, *t))
                    .try_for_each(visit);
            }
        },
        |t, visit| {
            if let Some(k) = tgt.group_rec_display_key(t) {
                let _ = src
                    .group_display_chain(k)
                    .filter(|s| same_kind(*s, t))
                    .try_for_each(visit);
            }
        },
    );
    // A suggestion may cross kinds: a security "Finance" and a Microsoft 365 "Finance" are worth a look.
    st.finish(|s, visit| {
        if let Some(k) = src.group_rec_display_key(s) {
            let _ = tgt.group_display_chain(k).try_for_each(visit);
        }
    })
}
