//! The matcher: exclusions, overrides, then the ordered rules, each deciding every still-open source at
//! once, then suggestions. `docs/matching.md` states the rules; this is their implementation.
//!
//! Each rule builds a small table of the open sources' values (in the targets' spelling, domains
//! rewritten) and reads every target once against it: no index of either directory is needed, memory is
//! read in order, and the table shrinks from rule to rule as sources are decided.

use crate::config::Config;
use crate::directory::{Directory, DirectoryError};
use crate::index::{Index, NONE};
use crate::matching::{Matching, Note, Outcome, Rule, Side, Status, Warning};
use crate::text::{Arena, Span, split_address};
use rustc_hash::FxHashMap;

/// The most candidates (or competing sources) a row lists; more are flagged, not listed.
pub const MAX_CANDIDATES: usize = 10;

/// Why matching did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MatchError {
    /// Names in the configuration that the directories do not hold, every one listed.
    #[error("{} name(s) in the configuration match no directory object: {}", .0.len(), list(.0))]
    Unknown(Vec<Unknown>),
    /// The directories are too large to match (more than 4 GiB of compared text).
    #[error("the directories are too large to match")]
    TooLarge(#[from] DirectoryError),
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
        let si = source.user_by_upn(s).map(|u| u.record());
        let ti = target.user_by_upn(t).map(|u| u.record());
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
        let si = source.group_by_id(*s).map(|g| g.record());
        let ti = target.group_by_id(*t).map(|g| g.record());
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
        match source.user_by_upn(a) {
            Some(s) => admins.push(s.index()),
            None => unknown.push(Unknown::Admin(a.clone())),
        }
    }
    if !unknown.is_empty() {
        return Err(MatchError::Unknown(unknown));
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
    )?;
    let groups = match_groups(source, target, &globs, &group_overrides, &mut excluded_by)?;

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
    let unmapped = unmapped_domains(source, target, config, &users);
    for (domain, users) in &unmapped {
        warnings.push(Warning::UnmappedSourceDomain {
            domain: domain.clone(),
            users: *users,
        });
    }
    Ok(Matching {
        source,
        target,
        users,
        groups,
        admins,
        patterns: config.excludes.clone(),
        domains: config.domains.clone(),
        unmapped: unmapped.into_keys().collect(),
        warnings,
    })
}

/// The UPN domains of open (unmatched or ambiguous) source users that no domain mapping rewrites and no
/// target user's UPN is at, with how many such users each has: the UPN rule could match none of them,
/// the mark of a renamed domain left out of `--map-domain`.
fn unmapped_domains(
    source: &Directory,
    target: &Directory,
    config: &Config,
    users: &Side,
) -> std::collections::BTreeMap<String, usize> {
    fn domain_of(u: crate::UserRef<'_>) -> Option<&str> {
        (!u.is_external())
            .then(|| split_address(u.user_principal_name_key()).map(|(_, d)| d))
            .flatten()
    }
    let at_target: rustc_hash::FxHashSet<&str> = (0..target.user_count() as u32)
        .filter_map(|t| domain_of(target.user_at(t)))
        .chain(target.verified_domains().iter().map(String::as_str))
        .collect();
    let mut out = std::collections::BTreeMap::new();
    for (i, &rec) in source.user_order().iter().enumerate() {
        if !matches!(users.status[i], Status::Unmatched | Status::Ambiguous) {
            continue;
        }
        let Some(domain) = domain_of(source.user_at(rec)) else {
            continue;
        };
        if at_target.contains(domain) || config.domains.iter().any(|(s, _)| s == domain) {
            continue;
        }
        *out.entry(domain.to_owned()).or_insert(0) += 1;
    }
    out
}

/// The domain rewrites.
struct Domains<'c> {
    forward: FxHashMap<&'c str, &'c str>,
}

impl<'c> Domains<'c> {
    fn new(config: &'c Config) -> Domains<'c> {
        Domains {
            forward: config.domains.iter().map(|(s, t)| (s.as_str(), t.as_str())).collect(),
        }
    }

    /// A source value (UPN or address, normalised) as the target would spell it.
    fn map<'x>(&self, value: &'x str, scratch: &'x mut String) -> &'x str {
        if self.forward.is_empty() {
            return value;
        }
        let Some((local, domain)) = split_address(value) else {
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
}

/// Gives an object's values for a rule to a callback.
type Values<'v> = &'v mut dyn FnMut(&str);

/// The candidates of one rule: the open sources' values, and what a pass over every target found.
#[derive(Default)]
struct Graph {
    /// The open sources' values in the targets' spelling, one slot per distinct value of a source.
    text: Arena,
    keys: Vec<Span>,
    owner: Vec<u32>,
    /// (source, first slot, slots) of each open source with a value, in record order.
    sources: Vec<(u32, u32, u32)>,
    index: Index,
    /// Per slot: the first slot holding the same value (the value's identity).
    head: Vec<u32>,
    /// Per value (at its head): how many unclaimed / claimed targets hold it, and the first found.
    free_count: Vec<u32>,
    free_first: Vec<u32>,
    taken_count: Vec<u32>,
    taken_first: Vec<u32>,
    /// (value, target) for values several targets hold, sorted by value then target rank.
    free_lists: Vec<(u32, u32)>,
    taken_lists: Vec<(u32, u32)>,
    /// Per target: the one open source sharing a value with it, or `many`.
    target_source: Vec<u32>,
    target_many: Vec<bool>,
}

impl Graph {
    /// The open sources' values: `values(s, push)` pushes source `s`'s values.
    fn new(
        sources: impl Iterator<Item = u32>,
        mut values: impl FnMut(u32, Values<'_>),
    ) -> Result<Graph, DirectoryError> {
        let mut g = Graph::default();
        let mut full = false;
        for s in sources {
            let first = g.keys.len();
            values(s, &mut |v| {
                if v.is_empty() || g.keys[first..].iter().any(|k| g.text.get(*k) == v) {
                    return;
                }
                match g.text.push(v) {
                    Ok(span) => {
                        g.keys.push(span);
                        g.owner.push(s);
                    }
                    Err(_) => full = true,
                }
            });
            let len = g.keys.len() - first;
            if len > 0 {
                g.sources.push((s, first as u32, len as u32));
            }
        }
        if full || g.keys.len() >= NONE as usize {
            return Err(DirectoryError::TooLarge);
        }
        let (text, keys) = (&g.text, &g.keys);
        g.index = Index::multi(keys.len(), |slot| Some(text.get(keys[slot as usize])));
        g.head = vec![NONE; keys.len()];
        for slot in 0..keys.len() as u32 {
            if g.head[slot as usize] == NONE {
                for x in g.index.chain_from(slot) {
                    g.head[x as usize] = slot;
                }
            }
        }
        Ok(g)
    }

    fn slot_of(&self, value: &str) -> Option<u32> {
        let (text, keys) = (&self.text, &self.keys);
        self.index.head(&value, |slot| Some(text.get(keys[slot as usize])))
    }

    /// Reads every target's values (`values(t, push)`) against the sources' values.
    fn scan(&mut self, claimed_by: &[u32], rank: impl Fn(u32) -> u32, mut values: impl FnMut(u32, Values<'_>)) {
        let slots = self.keys.len();
        self.free_count = vec![0; slots];
        self.free_first = vec![NONE; slots];
        self.taken_count = vec![0; slots];
        self.taken_first = vec![NONE; slots];
        self.target_source = vec![NONE; claimed_by.len()];
        self.target_many = vec![false; claimed_by.len()];
        if slots == 0 {
            return;
        }
        for t in 0..claimed_by.len() as u32 {
            let taken = claimed_by[t as usize] != NONE;
            values(t, &mut |w| {
                if w.is_empty() {
                    return;
                }
                let Some(h) = self.slot_of(w) else { return };
                let hu = h as usize;
                let (count, first, lists) = if taken {
                    (&mut self.taken_count, &mut self.taken_first, &mut self.taken_lists)
                } else {
                    (&mut self.free_count, &mut self.free_first, &mut self.free_lists)
                };
                count[hu] += 1;
                match count[hu] {
                    1 => first[hu] = t,
                    2 => lists.extend([(h, first[hu]), (h, t)]),
                    _ => lists.push((h, t)),
                }
                if !taken {
                    let tu = t as usize;
                    if self.index.has_next(h) {
                        self.target_many[tu] = true;
                    } else {
                        let o = self.owner[hu];
                        match self.target_source[tu] {
                            NONE => self.target_source[tu] = o,
                            x if x != o => self.target_many[tu] = true,
                            _ => {}
                        }
                    }
                }
            });
        }
        self.free_lists.sort_unstable_by_key(|&(h, t)| (h, rank(t)));
        self.taken_lists.sort_unstable_by_key(|&(h, t)| (h, rank(t)));
    }

    /// The targets of source entry `i`'s values, free or taken, the first few in canonical order.
    fn targets(&self, i: usize, taken: bool, rank: impl Fn(u32) -> u32) -> (Vec<u32>, bool) {
        let (count, first, lists) = if taken {
            (&self.taken_count, &self.taken_first, &self.taken_lists)
        } else {
            (&self.free_count, &self.free_first, &self.free_lists)
        };
        let (_, start, len) = self.sources[i];
        let mut out: Vec<u32> = Vec::new();
        for slot in start..start + len {
            let h = self.head[slot as usize];
            match count[h as usize] {
                0 => {}
                1 => out.push(first[h as usize]),
                _ => {
                    let from = lists.partition_point(|&(x, _)| x < h);
                    out.extend(
                        lists[from..]
                            .iter()
                            .take_while(|(x, _)| *x == h)
                            .take(MAX_CANDIDATES + 1)
                            .map(|(_, t)| *t),
                    );
                }
            }
        }
        cap(out, rank)
    }

    /// The other open sources sharing a value with target `t` (`values(t, push)`): the first few.
    fn others(
        &self,
        s: u32,
        t: u32,
        rank: impl Fn(u32) -> u32,
        mut values: impl FnMut(u32, Values<'_>),
    ) -> (Vec<u32>, bool) {
        let mut out = Vec::new();
        values(t, &mut |w| {
            if let Some(h) = self.slot_of(w) {
                out.extend(
                    self.index
                        .chain_from(h)
                        .map(|slot| self.owner[slot as usize])
                        .filter(|o| *o != s),
                );
            }
        });
        cap(out, rank)
    }
}

/// Sorted by rank, each once, at most [`MAX_CANDIDATES`]; and whether there were more.
fn cap(mut ids: Vec<u32>, rank: impl Fn(u32) -> u32) -> (Vec<u32>, bool) {
    ids.sort_unstable_by_key(|i| rank(*i));
    ids.dedup();
    let more = ids.len() > MAX_CANDIDATES;
    ids.truncate(MAX_CANDIDATES);
    (ids, more)
}

/// The decisions so far for one kind, by record number.
struct State<'d> {
    source: &'d Directory,
    target: &'d Directory,
    users: bool,
    status: Vec<Option<Status>>,
    rule: Vec<Option<Rule>>,
    target_of: Vec<u32>,
    claimed_by: Vec<u32>,
    notes: Vec<Note>,
    ids: Vec<u32>,
}

impl<'d> State<'d> {
    fn new(source: &'d Directory, target: &'d Directory, users: bool) -> State<'d> {
        let (n, m) = if users {
            (source.user_count(), target.user_count())
        } else {
            (source.group_count(), target.group_count())
        };
        State {
            source,
            target,
            users,
            status: vec![None; n],
            rule: vec![None; n],
            target_of: vec![NONE; n],
            claimed_by: vec![NONE; m],
            notes: Vec::new(),
            ids: Vec::new(),
        }
    }

    fn source_rank(&self) -> impl Fn(u32) -> u32 + use<'d> {
        let (users, source) = (self.users, self.source);
        move |r| {
            if users {
                source.user_rank(r)
            } else {
                source.group_rank(r)
            }
        }
    }

    fn target_rank(&self) -> impl Fn(u32) -> u32 + use<'d> {
        let (users, target) = (self.users, self.target);
        move |r| {
            if users {
                target.user_rank(r)
            } else {
                target.group_rank(r)
            }
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
        self.notes.push(Note {
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
        self.notes.push(Note {
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
        self.target_of[s as usize] = t;
        self.claimed_by[t as usize] = s;
    }

    fn open(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.status.len() as u32).filter(|s| self.status[*s as usize].is_none())
    }

    /// One rule: every open source is decided against the targets as they are when the rule starts.
    ///
    /// A source matches when its values point to exactly one unclaimed target and that target's values
    /// point back to no other open source. Matched pairs touch nothing else, so applying each match as it
    /// is found gives what deciding all at once gives.
    fn rule(
        &mut self,
        rule: Rule,
        source_values: impl FnMut(u32, Values<'_>),
        mut target_values: impl FnMut(u32, Values<'_>),
    ) -> Result<(), DirectoryError> {
        let mut g = Graph::new(self.open(), source_values)?;
        g.scan(&self.claimed_by, self.target_rank(), &mut target_values);
        for i in 0..g.sources.len() {
            let (s, start, len) = g.sources[i];
            let (mut one, mut many, mut taken) = (NONE, false, false);
            for slot in start..start + len {
                let h = g.head[slot as usize] as usize;
                match g.free_count[h] {
                    0 => {}
                    1 if one == NONE || one == g.free_first[h] => one = g.free_first[h],
                    _ => many = true,
                }
                taken |= g.taken_count[h] > 0;
            }
            if one == NONE && !many {
                if taken {
                    // Its candidates were all taken by earlier matches: final, a person must look.
                    let (claimed, more) = g.targets(i, true, self.target_rank());
                    self.note(s, rule, Outcome::Conflict, &claimed, &[], more);
                    self.status[s as usize] = Some(Status::Conflict);
                    self.rule[s as usize] = Some(rule);
                }
                continue;
            }
            let t = one as usize;
            if !many && !g.target_many[t] && g.target_source[t] == s {
                self.claim(s, one, rule);
                continue;
            }
            // Shared: no evidence either way; the source goes on to the next rule.
            let (free, more) = g.targets(i, false, self.target_rank());
            let (others, more_others) = if many {
                (Vec::new(), false)
            } else {
                g.others(s, one, self.source_rank(), &mut target_values)
            };
            self.note(s, rule, Outcome::Ambiguous, &free, &others, more || more_others);
            if self.rule[s as usize].is_none() {
                self.rule[s as usize] = Some(rule);
            }
        }
        Ok(())
    }

    /// Closes every open source: `ambiguous` if some rule found it ambiguous, else `unmatched` with the
    /// unclaimed targets of the same display name (`display`) listed as suggestions.
    fn finish(
        mut self,
        source_display: impl FnMut(u32, Values<'_>),
        target_display: impl FnMut(u32, Values<'_>),
    ) -> Result<Side, DirectoryError> {
        let unmatched: Vec<u32> = self.open().filter(|s| self.rule[*s as usize].is_none()).collect();
        for s in self.open().collect::<Vec<_>>() {
            self.status[s as usize] = Some(if self.rule[s as usize].is_some() {
                Status::Ambiguous
            } else {
                Status::Unmatched
            });
        }
        let mut g = Graph::new(unmatched.into_iter(), source_display)?;
        g.scan(&self.claimed_by, self.target_rank(), target_display);
        for i in 0..g.sources.len() {
            let (found, more) = g.targets(i, false, self.target_rank());
            if !found.is_empty() {
                self.note(g.sources[i].0, Rule::DisplayName, Outcome::Suggested, &found, &[], more);
            }
        }
        // Rows are read in canonical order: the decisions are stored in it, each source's notes together
        // in the order they were made (sort_by_key is stable).
        let order = if self.users {
            self.source.user_order()
        } else {
            self.source.group_order()
        };
        let rank = self.source_rank();
        self.notes.sort_by_key(|n| rank(n.source));
        let mut note_start = Vec::with_capacity(order.len() + 1);
        let mut at = 0usize;
        for &rec in order {
            note_start.push(at as u32);
            while at < self.notes.len() && self.notes[at].source == rec {
                at += 1;
            }
        }
        note_start.push(at as u32);
        Ok(Side {
            status: order
                .iter()
                .map(|&r| self.status[r as usize].unwrap_or(Status::Unmatched))
                .collect(),
            rule: order.iter().map(|&r| self.rule[r as usize]).collect(),
            target: order.iter().map(|&r| self.target_of[r as usize]).collect(),
            claimed_by: self.claimed_by,
            notes: self.notes,
            note_start,
            ids: self.ids,
        })
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
) -> Result<Side, DirectoryError> {
    let mut st = State::new(src, tgt, true);
    for s in 0..src.user_count() as u32 {
        let u = src.user_at(s);
        if !u.is_enabled() && !config.include_disabled {
            st.exclude(s, Rule::AccountEnabled, NONE);
        } else if let Some(p) = first_glob(globs, &[u.user_principal_name()], excluded_by) {
            st.exclude(s, Rule::Exclude, p);
        }
    }
    for &(s, t) in overrides {
        st.claim(s, t, Rule::Override);
    }
    let mut scratch = String::new();
    st.rule(
        Rule::OnPremisesImmutableId,
        |s, push| push(src.user_at(s).on_premises_immutable_id()),
        |t, push| push(tgt.user_at(t).on_premises_immutable_id()),
    )?;
    st.rule(
        Rule::EmployeeId,
        |s, push| push(src.user_at(s).employee_id()),
        |t, push| push(tgt.user_at(t).employee_id()),
    )?;
    // External identities (#EXT#) never take part in the UPN rule, on either side.
    st.rule(
        Rule::UserPrincipalName,
        |s, push| {
            let u = src.user_at(s);
            if !u.is_external() {
                push(domains.map(u.user_principal_name_key(), &mut scratch));
            }
        },
        |t, push| {
            let u = tgt.user_at(t);
            if !u.is_external() {
                push(u.user_principal_name_key());
            }
        },
    )?;
    // An address compares rewritten and as it is: a target guest invited for a source member who stays
    // carries that member's own address, at the source's domain.
    st.rule(
        Rule::Email,
        |s, push| {
            for a in src.user_at(s).addresses() {
                push(domains.map(a, &mut scratch));
                push(a);
            }
        },
        |t, push| tgt.user_at(t).addresses().for_each(push),
    )?;
    st.finish(
        |s, push| push(src.user_at(s).display_key()),
        |t, push| push(tgt.user_at(t).display_key()),
    )
}

/// A group's value qualified by its kind: rules compare groups of one kind only.
fn kinded<'x>(g: crate::GroupRef<'_>, value: &str, out: &'x mut String) -> &'x str {
    out.clear();
    if !value.is_empty() {
        out.push(match g.kind() {
            crate::GroupKind::Microsoft365 => 'm',
            crate::GroupKind::Security => 's',
        });
        out.push(':');
        out.push_str(value);
    }
    out
}

fn match_groups(
    src: &Directory,
    tgt: &Directory,
    globs: &[globset::GlobMatcher],
    overrides: &[(u32, u32)],
    excluded_by: &mut [usize],
) -> Result<Side, DirectoryError> {
    let mut st = State::new(src, tgt, false);
    for s in 0..src.group_count() as u32 {
        let g = src.group_at(s);
        if let Some(p) = first_glob(globs, &[g.display_name(), g.mail_nickname()], excluded_by) {
            st.exclude(s, Rule::Exclude, p);
        }
    }
    for &(s, t) in overrides {
        st.claim(s, t, Rule::Override);
    }
    let (mut a, mut b) = (String::new(), String::new());
    st.rule(
        Rule::MailNickname,
        |s, push| {
            let g = src.group_at(s);
            push(kinded(g, g.mail_nickname_key(), &mut a));
        },
        |t, push| {
            let g = tgt.group_at(t);
            push(kinded(g, g.mail_nickname_key(), &mut b));
        },
    )?;
    st.rule(
        Rule::DisplayName,
        |s, push| {
            let g = src.group_at(s);
            push(kinded(g, g.display_key(), &mut a));
        },
        |t, push| {
            let g = tgt.group_at(t);
            push(kinded(g, g.display_key(), &mut b));
        },
    )?;
    // A suggestion may cross kinds: a security "Finance" and a Microsoft 365 "Finance" are worth a look.
    st.finish(
        |s, push| push(src.group_at(s).display_key()),
        |t, push| push(tgt.group_at(t).display_key()),
    )
}
