//! The result: one row per source object, with its status, the rule that decided, the evidence and the
//! candidates; and what the CLI writes from it, the identity map's rows and the review list.

use crate::directory::{Directory, GroupKind, GroupRef, UserRef};
use crate::index::NONE;
use crate::text::split_address;
use crossmap_model::{
    Identity, Patch, SharePointGroupIdentityMapping, SharePointIdentityMappingGroupMigrationData,
    SharePointIdentityMappingGroupType as GroupType, SharePointIdentityMappingUserMigrationData,
    SharePointIdentityMappingUserType as UserType, SharePointUserIdentityMapping, UserIdentity,
};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq};
use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// What became of a source object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    /// A rule (or an override) found exactly one target: the object goes into the map.
    Matched,
    /// Every rule that found candidates found several (or a candidate other sources share too).
    Ambiguous,
    /// A rule's only candidates were already claimed by earlier matches.
    Conflict,
    /// No rule found a candidate.
    Unmatched,
    /// Left out: a disabled account, or an exclusion pattern.
    Excluded,
}

impl Status {
    /// Every status, in report order.
    pub const ALL: [Status; 5] = [
        Status::Matched,
        Status::Ambiguous,
        Status::Conflict,
        Status::Unmatched,
        Status::Excluded,
    ];

    /// The wire and CSV name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Matched => "matched",
            Status::Ambiguous => "ambiguous",
            Status::Conflict => "conflict",
            Status::Unmatched => "unmatched",
            Status::Excluded => "excluded",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rule, named by the Graph property it compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Rule {
    /// An admin's override (`--overrides`).
    #[serde(rename = "override")]
    Override,
    /// Users: `onPremisesImmutableId`.
    #[serde(rename = "onPremisesImmutableId")]
    OnPremisesImmutableId,
    /// Users: `employeeId`.
    #[serde(rename = "employeeId")]
    EmployeeId,
    /// Users: `userPrincipalName`, after domain rewrites; never for `#EXT#` UPNs.
    #[serde(rename = "userPrincipalName")]
    UserPrincipalName,
    /// Users: any of `mail`, the SMTP `proxyAddresses` and `otherMails`, after domain rewrites.
    #[serde(rename = "email")]
    Email,
    /// Groups of one kind: `mailNickname`.
    #[serde(rename = "mailNickname")]
    MailNickname,
    /// Groups of one kind: `displayName`; for users, only ever a suggestion.
    #[serde(rename = "displayName")]
    DisplayName,
    /// Excluded: `accountEnabled` is false.
    #[serde(rename = "accountEnabled")]
    AccountEnabled,
    /// Excluded: an exclusion pattern matched.
    #[serde(rename = "exclude")]
    Exclude,
}

impl Rule {
    /// The user rules, in the order they run (after overrides).
    pub const USERS: [Rule; 5] = [
        Rule::Override,
        Rule::OnPremisesImmutableId,
        Rule::EmployeeId,
        Rule::UserPrincipalName,
        Rule::Email,
    ];
    /// The group rules, in the order they run.
    pub const GROUPS: [Rule; 3] = [Rule::Override, Rule::MailNickname, Rule::DisplayName];

    /// The wire and CSV name.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Override => "override",
            Rule::OnPremisesImmutableId => "onPremisesImmutableId",
            Rule::EmployeeId => "employeeId",
            Rule::UserPrincipalName => "userPrincipalName",
            Rule::Email => "email",
            Rule::MailNickname => "mailNickname",
            Rule::DisplayName => "displayName",
            Rule::AccountEnabled => "accountEnabled",
            Rule::Exclude => "exclude",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one rule found for a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Exactly one candidate, shared with no other open source.
    Matched,
    /// Several candidates, or one that other open sources share.
    Ambiguous,
    /// Candidates, all already claimed.
    Conflict,
    /// Same display name, unclaimed: a suggestion for a person, never a match.
    Suggested,
    /// The source was excluded here (an override may still have matched it).
    Excluded,
}

/// Something the configuration says that the directories make doubtful; matching went ahead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Warning {
    /// A `--map-domain` source domain the source tenant has not verified.
    #[error("the domain mapping's source {0} is not a verified domain of the source tenant")]
    UnverifiedSourceDomain(String),
    /// A `--map-domain` target domain the target tenant has not verified.
    #[error("the domain mapping's target {0} is not a verified domain of the target tenant")]
    UnverifiedTargetDomain(String),
    /// An exclusion pattern that excluded nothing.
    #[error("the exclusion pattern {0:?} matched no source user or group")]
    ExcludedNothing(String),
    /// Source users left open (unmatched or ambiguous) at a UPN domain that no domain mapping rewrites
    /// and at which no target user is: their UPNs could match no one (a renamed domain left out?).
    #[error(
        "{users} unmatched or ambiguous source user(s) have UPNs at {domain}, which no --map-domain rewrites \
         and no target user's UPN is at: add --map-domain {domain}=TARGET-DOMAIN if that domain was renamed"
    )]
    UnmappedSourceDomain {
        /// The source domain, lower-cased.
        domain: String,
        /// How many open source users have a UPN there.
        users: usize,
    },
}

/// A rule's finding, as stored: ids into [`Side::ids`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Note {
    pub(crate) source: u32,
    pub(crate) rule: Rule,
    pub(crate) outcome: Outcome,
    pub(crate) targets: (u32, u32),
    pub(crate) others: (u32, u32),
    pub(crate) more: bool,
    pub(crate) pattern: u32,
}

/// The decisions for one kind, in the source directory's canonical order (`claimed_by` by target record).
#[derive(Debug)]
pub(crate) struct Side {
    pub(crate) status: Vec<Status>,
    pub(crate) rule: Vec<Option<Rule>>,
    pub(crate) target: Vec<u32>,
    pub(crate) claimed_by: Vec<u32>,
    pub(crate) notes: Vec<Note>,
    pub(crate) note_start: Vec<u32>,
    pub(crate) ids: Vec<u32>,
}

impl Side {
    fn notes(&self, s: u32) -> &[Note] {
        &self.notes[self.note_start[s as usize] as usize..self.note_start[s as usize + 1] as usize]
    }

    fn ids(&self, (start, len): (u32, u32)) -> &[u32] {
        &self.ids[start as usize..(start + len) as usize]
    }

    fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for s in &self.status {
            *c.get_mut(*s) += 1;
        }
        c
    }
}

/// How many source objects ended in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Matched.
    pub matched: usize,
    /// Ambiguous.
    pub ambiguous: usize,
    /// Conflict.
    pub conflict: usize,
    /// Unmatched.
    pub unmatched: usize,
    /// Excluded.
    pub excluded: usize,
}

impl Counts {
    /// The count of one status.
    pub fn get(&self, status: Status) -> usize {
        match status {
            Status::Matched => self.matched,
            Status::Ambiguous => self.ambiguous,
            Status::Conflict => self.conflict,
            Status::Unmatched => self.unmatched,
            Status::Excluded => self.excluded,
        }
    }

    fn get_mut(&mut self, status: Status) -> &mut usize {
        match status {
            Status::Matched => &mut self.matched,
            Status::Ambiguous => &mut self.ambiguous,
            Status::Conflict => &mut self.conflict,
            Status::Unmatched => &mut self.unmatched,
            Status::Excluded => &mut self.excluded,
        }
    }

    /// All objects.
    pub fn total(&self) -> usize {
        Status::ALL.iter().map(|s| self.get(*s)).sum()
    }
}

/// The outcome of [`match_directories`](crate::match_directories): one row per source user and group,
/// borrowing both directories.
///
/// Serialises (serde) as `{"users": [...], "groups": [...]}`, rows in the source directory's canonical
/// order: the same directories and configuration give the same bytes, whatever order the objects came in.
#[derive(Debug)]
pub struct Matching<'a> {
    pub(crate) source: &'a Directory,
    pub(crate) target: &'a Directory,
    pub(crate) users: Side,
    pub(crate) groups: Side,
    pub(crate) admins: Vec<u32>,
    pub(crate) patterns: Vec<String>,
    pub(crate) domains: Vec<(String, String)>,
    /// Source UPN domains no mapping rewrites and no target UPN is at, sorted.
    pub(crate) unmapped: Vec<String>,
    pub(crate) warnings: Vec<Warning>,
}

/// One rule's finding for a source: what was compared, what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence<R> {
    /// The rule.
    pub rule: Rule,
    /// What it found.
    pub outcome: Outcome,
    /// The source's values the rule compared, normalised and domain-rewritten (for a match by e-mail: the
    /// addresses source and target share; for an exclusion: the pattern or `false`).
    pub values: Vec<String>,
    /// The targets found (for a match: the target).
    pub candidates: Vec<R>,
    /// Other open sources that share the one candidate (an ambiguity seen from the target's side).
    pub others: Vec<R>,
    /// Whether there were more candidates or other sources than listed ([`MAX_CANDIDATES`](crate::MAX_CANDIDATES)).
    pub more: bool,
}

/// One source object's row: a user ([`UserRef`]) or a group ([`GroupRef`]).
#[derive(Debug, Clone, Copy)]
pub struct Row<'m, 'a, R> {
    matching: &'m Matching<'a>,
    side: &'m Side,
    /// The source's position in canonical order.
    index: u32,
    /// The source's record.
    record: u32,
    make: fn(&'a Directory, u32) -> R,
}

impl<'m, 'a, R> Row<'m, 'a, R> {
    /// The source object.
    pub fn source(&self) -> R {
        (self.make)(self.matching.source, self.record)
    }

    /// What became of it.
    pub fn status(&self) -> Status {
        self.side.status[self.index as usize]
    }

    /// The rule that decided: for `ambiguous`, the first rule that found it ambiguous; none for `unmatched`.
    pub fn rule(&self) -> Option<Rule> {
        match self.status() {
            Status::Unmatched => None,
            _ => self.side.rule[self.index as usize],
        }
    }

    /// The target, for a matched row.
    pub fn target(&self) -> Option<R> {
        let t = self.side.target[self.index as usize];
        (t != NONE).then(|| (self.make)(self.matching.target, t))
    }

    fn make_all(&self, dir: &'a Directory, ids: &[u32]) -> Vec<R> {
        ids.iter().map(|i| (self.make)(dir, *i)).collect()
    }

    /// The row's candidates: for `ambiguous`, every ambiguity's targets; for `conflict`, the claimed
    /// targets; for `unmatched`, the display-name suggestions; otherwise none.
    pub fn candidates(&self) -> Vec<R> {
        let wanted = match self.status() {
            Status::Ambiguous => Outcome::Ambiguous,
            Status::Conflict => Outcome::Conflict,
            Status::Unmatched => Outcome::Suggested,
            Status::Matched | Status::Excluded => return Vec::new(),
        };
        let mut ids: Vec<u32> = Vec::new();
        for n in self.side.notes(self.index).iter().filter(|n| n.outcome == wanted) {
            for t in self.side.ids(n.targets) {
                if !ids.contains(t) {
                    ids.push(*t);
                }
            }
        }
        self.make_all(self.matching.target, &ids)
    }

    fn note_evidence(&self, n: &Note, values: Vec<String>) -> Evidence<R> {
        Evidence {
            rule: n.rule,
            outcome: n.outcome,
            values,
            candidates: self.make_all(self.matching.target, self.side.ids(n.targets)),
            others: self.make_all(self.matching.source, self.side.ids(n.others)),
            more: n.more,
        }
    }
}

fn user_ref(dir: &Directory, record: u32) -> UserRef<'_> {
    dir.user_at(record)
}

fn group_ref(dir: &Directory, record: u32) -> GroupRef<'_> {
    dir.group_at(record)
}

/// A user's row.
pub type UserMatch<'m, 'a> = Row<'m, 'a, UserRef<'a>>;
/// A group's row.
pub type GroupMatch<'m, 'a> = Row<'m, 'a, GroupRef<'a>>;

impl<'m, 'a> Row<'m, 'a, UserRef<'a>> {
    /// The map's user type: `adminUser` for an admin, `guestUser` for a source guest, else `regularUser`.
    pub fn user_type(&self) -> UserType {
        if self.matching.admins.binary_search(&self.index).is_ok() {
            UserType::AdminUser
        } else if self.source().is_guest() {
            UserType::GuestUser
        } else {
            UserType::RegularUser
        }
    }

    /// The source's values as rule `rule` compares them.
    fn values(&self, rule: Rule, pattern: u32) -> Vec<String> {
        let s = self.source();
        let domains = &self.matching.domains;
        let one = |v: &str| if v.is_empty() { Vec::new() } else { vec![v.to_owned()] };
        match rule {
            Rule::Override => one(self.target().map_or("", |t| t.user_principal_name_key())),
            Rule::OnPremisesImmutableId => one(s.on_premises_immutable_id()),
            Rule::EmployeeId => one(s.employee_id()),
            Rule::UserPrincipalName => vec![map_domain(domains, s.user_principal_name_key())],
            Rule::Email => {
                let mut v: Vec<String> = s
                    .addresses()
                    .flat_map(|a| [map_domain(domains, a), a.to_owned()])
                    .collect();
                if let Some(t) = self.target().filter(|_| self.status() == Status::Matched) {
                    v.retain(|a| t.addresses().any(|b| b == a));
                }
                v.sort();
                v.dedup();
                v
            }
            Rule::DisplayName => one(&crate::normalize(s.display_name())),
            Rule::AccountEnabled => vec!["false".to_owned()],
            Rule::Exclude => one(self.matching.pattern(pattern)),
            Rule::MailNickname => Vec::new(),
        }
    }

    /// The review reason of a row matched with nothing else to say (most rows), without building its
    /// evidence.
    fn plain_match_reason(&self) -> Option<String> {
        if self.status() != Status::Matched || !self.side.notes(self.index).is_empty() {
            return None;
        }
        let s = self.source();
        let value = match self.rule()? {
            Rule::Override => return Some("an override".to_owned()),
            Rule::OnPremisesImmutableId => s.on_premises_immutable_id(),
            Rule::EmployeeId => s.employee_id(),
            _ => return None,
        };
        // `{value:?}` without the formatting machinery, for the plain values nearly all are.
        let plain = value.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
        let rule = self.rule()?.as_str();
        let mut reason = String::with_capacity(64 + value.len());
        reason.push_str(rule);
        if plain {
            reason.push_str(" \"");
            reason.push_str(value);
            reason.push('"');
        } else {
            let _ = write!(reason, " {value:?}");
        }
        reason.push_str(" identifies one source and one target user");
        Some(reason)
    }

    /// Every rule's finding for this user, in the order the rules ran; a match comes last.
    pub fn evidence(&self) -> Vec<Evidence<UserRef<'a>>> {
        let mut out: Vec<_> = self
            .side
            .notes(self.index)
            .iter()
            .map(|n| {
                let mut e = self.note_evidence(n, self.values(n.rule, n.pattern));
                // Of a source's addresses, the ones its candidates hold are the evidence: the others
                // (an address only it has) would send a reader looking for a sharing that is not there.
                if e.rule == Rule::Email && !e.candidates.is_empty() {
                    let shared = |a: &String| e.candidates.iter().any(|t| t.addresses().any(|b| b == a));
                    if e.values.iter().any(shared) {
                        e.values.retain(shared);
                    }
                }
                e
            })
            .collect();
        if let (Status::Matched, Some(rule), Some(t)) = (self.status(), self.rule(), self.target()) {
            out.push(Evidence {
                rule,
                outcome: Outcome::Matched,
                values: self.values(rule, NONE),
                candidates: vec![t],
                others: Vec::new(),
                more: false,
            });
        }
        out
    }
}

impl<'m, 'a> Row<'m, 'a, GroupRef<'a>> {
    fn values(&self, rule: Rule, pattern: u32) -> Vec<String> {
        let s = self.source();
        let one = |v: &str| {
            let v = crate::normalize(v);
            if v.is_empty() { Vec::new() } else { vec![v.into_owned()] }
        };
        match rule {
            Rule::Override => one(&self.target().map(|t| t.id().to_string()).unwrap_or_default()),
            Rule::MailNickname => one(s.mail_nickname()),
            Rule::DisplayName => one(s.display_name()),
            Rule::Exclude => vec![self.matching.pattern(pattern).to_owned()],
            _ => Vec::new(),
        }
    }

    /// Every rule's finding for this group, in the order the rules ran; a match comes last.
    pub fn evidence(&self) -> Vec<Evidence<GroupRef<'a>>> {
        let mut out: Vec<_> = self
            .side
            .notes(self.index)
            .iter()
            .map(|n| self.note_evidence(n, self.values(n.rule, n.pattern)))
            .collect();
        if let (Status::Matched, Some(rule), Some(t)) = (self.status(), self.rule(), self.target()) {
            out.push(Evidence {
                rule,
                outcome: Outcome::Matched,
                values: self.values(rule, NONE),
                candidates: vec![t],
                others: Vec::new(),
                more: false,
            });
        }
        out
    }

    /// The map's group type: the target's kind (`m365Group` or `regularGroup`); for an unmatched row the
    /// source's.
    pub fn group_type(&self) -> GroupType {
        match self.target().unwrap_or(self.source()).kind() {
            GroupKind::Microsoft365 => GroupType::M365Group,
            GroupKind::Security => GroupType::RegularGroup,
        }
    }
}

fn map_domain(domains: &[(String, String)], value: &str) -> String {
    if let Some((local, domain)) = split_address(value) {
        if let Some((_, t)) = domains.iter().find(|(s, _)| s == domain) {
            return format!("{local}@{t}");
        }
    }
    value.to_owned()
}

/// One line of the review list: every source user and group once, whatever its status.
///
/// Serialises (serde, e.g. with the csv crate) as the columns `kind,source,status,rule,target,candidates,reason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewRow<'a> {
    /// `user` or `group`.
    pub kind: &'static str,
    /// The source user's UPN, or the source group's object id.
    pub source: Cow<'a, str>,
    /// The status.
    pub status: Status,
    /// The deciding rule, empty when none.
    pub rule: &'static str,
    /// The target user's UPN, or the target group's object id; empty unless matched.
    pub target: Cow<'a, str>,
    /// The candidates (UPNs or object ids), separated by spaces.
    pub candidates: String,
    /// Why, in a sentence.
    pub reason: String,
}

impl ReviewRow<'_> {
    /// The column names, in order: the review CSV's header.
    pub const HEADER: [&'static str; 7] = ["kind", "source", "status", "rule", "target", "candidates", "reason"];
}

impl<'a> Matching<'a> {
    /// The source directory.
    pub fn source(&self) -> &'a Directory {
        self.source
    }

    /// The target directory.
    pub fn target(&self) -> &'a Directory {
        self.target
    }

    fn pattern(&self, i: u32) -> &str {
        self.patterns.get(i as usize).map_or("", String::as_str)
    }

    /// Every source user's row, ordered by source UPN.
    pub fn users(&self) -> impl ExactSizeIterator<Item = UserMatch<'_, 'a>> {
        self.source
            .user_order()
            .iter()
            .enumerate()
            .map(move |(index, &record)| Row {
                matching: self,
                side: &self.users,
                index: index as u32,
                record,
                make: user_ref,
            })
    }

    /// Every source group's row, ordered by source object id.
    pub fn groups(&self) -> impl ExactSizeIterator<Item = GroupMatch<'_, 'a>> {
        self.source
            .group_order()
            .iter()
            .enumerate()
            .map(move |(index, &record)| Row {
                matching: self,
                side: &self.groups,
                index: index as u32,
                record,
                make: group_ref,
            })
    }

    /// The row of a user of the source directory.
    pub fn user(&self, source: UserRef<'_>) -> UserMatch<'_, 'a> {
        Row {
            matching: self,
            side: &self.users,
            index: source.index(),
            record: source.record(),
            make: user_ref,
        }
    }

    /// The row of a group of the source directory.
    pub fn group(&self, source: GroupRef<'_>) -> GroupMatch<'_, 'a> {
        Row {
            matching: self,
            side: &self.groups,
            index: source.index(),
            record: source.record(),
            make: group_ref,
        }
    }

    /// The source user a user of the target directory was matched to.
    pub fn user_claiming(&self, target: UserRef<'_>) -> Option<UserRef<'a>> {
        let s = *self.users.claimed_by.get(target.record() as usize)?;
        (s != NONE).then(|| user_ref(self.source, s))
    }

    /// The source group a group of the target directory was matched to.
    pub fn group_claiming(&self, target: GroupRef<'_>) -> Option<GroupRef<'a>> {
        let s = *self.groups.claimed_by.get(target.record() as usize)?;
        (s != NONE).then(|| group_ref(self.source, s))
    }

    /// How many users ended in each status.
    pub fn user_counts(&self) -> Counts {
        self.users.counts()
    }

    /// How many groups ended in each status.
    pub fn group_counts(&self) -> Counts {
        self.groups.counts()
    }

    /// What the configuration says that the directories make doubtful.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The identity map's user rows: one per matched user, ordered by source UPN.
    pub fn user_mappings(&self) -> impl Iterator<Item = SharePointUserIdentityMapping> + '_ {
        self.users().filter_map(|row| row.mapping())
    }

    /// The identity map's group rows: one per matched group, ordered by source object id.
    pub fn group_mappings(&self) -> impl Iterator<Item = SharePointGroupIdentityMapping> + '_ {
        self.groups().filter_map(|row| row.mapping())
    }

    /// The review list: every source user (by UPN), then every source group (by id), once each.
    pub fn review(&self) -> impl Iterator<Item = ReviewRow<'a>> + '_ {
        let users = self.users().map(|row| row.review());
        users.chain(self.groups().map(|row| row.review()))
    }
}

impl<'a> Row<'_, 'a, UserRef<'a>> {
    /// The identity map's row, for a matched user: source and target UPN as Graph spells them, the
    /// target's `mail` (else its UPN) as the e-mail column, the [`user_type`](Self::user_type).
    pub fn mapping(&self) -> Option<SharePointUserIdentityMapping> {
        let t = self.target()?;
        let s = self.source();
        let identity = |upn: &str| UserIdentity {
            user_principal_name: Patch::Value(upn.to_owned()),
            ..UserIdentity::default()
        };
        let email = if t.mail().is_empty() {
            t.user_principal_name()
        } else {
            t.mail()
        };
        Some(SharePointUserIdentityMapping {
            source_organization_id: Patch::Value(self.matching.source.tenant_id()),
            user_type: Patch::Value(self.user_type()),
            source_user_identity: Patch::Value(identity(s.user_principal_name())),
            target_user_identity: Patch::Value(identity(t.user_principal_name())),
            target_user_migration_data: Patch::Value(SharePointIdentityMappingUserMigrationData {
                email: Patch::Value(email.to_owned()),
                ..Default::default()
            }),
            ..SharePointUserIdentityMapping::default()
        })
    }

    /// The review list's row.
    pub fn review(&self) -> ReviewRow<'a> {
        let upn = |u: &UserRef<'a>| Cow::Borrowed(u.user_principal_name());
        let source = upn(&self.source());
        if let Some(reason) = self.plain_match_reason() {
            return ReviewRow {
                kind: "user",
                source,
                status: Status::Matched,
                rule: self.rule().map_or("", Rule::as_str),
                target: self.target().map(|t| upn(&t)).unwrap_or_default(),
                candidates: String::new(),
                reason,
            };
        }
        let claimer = |t: &UserRef<'a>| self.matching.user_claiming(*t).map(|s| upn(&s));
        let mut row = review_row("user", source, self, &self.evidence(), upn, upn, claimer, "");
        if let Some(domain) = self.unmapped_domain() {
            let _ = write!(
                row.reason,
                "; no --map-domain rewrites {domain} and no target user's UPN is at it"
            );
        }
        row
    }

    /// The source's UPN domain, when the row is open and no mapping rewrites that domain nor any target
    /// UPN is at it (the warning [`Warning::UnmappedSourceDomain`]).
    fn unmapped_domain(&self) -> Option<&str> {
        if !matches!(self.status(), Status::Unmatched | Status::Ambiguous) || self.source().is_external() {
            return None;
        }
        let (_, domain) = split_address(self.source().user_principal_name_key())?;
        let unmapped = &self.matching.unmapped;
        unmapped
            .binary_search_by(|d| d.as_str().cmp(domain))
            .ok()
            .map(|i| unmapped[i].as_str())
    }
}

impl<'a> Row<'_, 'a, GroupRef<'a>> {
    /// The identity map's row, for a matched group. The type and the name column follow the target:
    /// `m365Group` with its `mailNickname`, or `regularGroup` with its `displayName`.
    pub fn mapping(&self) -> Option<SharePointGroupIdentityMapping> {
        let t = self.target()?;
        let m365 = t.kind() == GroupKind::Microsoft365;
        let name = t.map_name();
        let mut target = Identity {
            id: Patch::Value(t.id().to_string()),
            ..Identity::default()
        };
        if !m365 && !name.is_empty() {
            target.display_name = Patch::Value(name.to_owned());
        }
        Some(SharePointGroupIdentityMapping {
            source_organization_id: Patch::Value(self.matching.source.tenant_id()),
            group_type: Patch::Value(self.group_type()),
            source_group_identity: Patch::Value(Identity {
                id: Patch::Value(self.source().id().to_string()),
                ..Identity::default()
            }),
            target_group_identity: Patch::Value(target),
            target_group_migration_data: if m365 && !name.is_empty() {
                Patch::Value(SharePointIdentityMappingGroupMigrationData {
                    mail_nickname: Patch::Value(name.to_owned()),
                    ..Default::default()
                })
            } else {
                Patch::Absent
            },
            ..SharePointGroupIdentityMapping::default()
        })
    }

    /// The review list's row.
    pub fn review(&self) -> ReviewRow<'a> {
        let id = |g: &GroupRef<'a>| Cow::Owned(g.id().to_string());
        // In the sentence, a group is its id and its name: an id alone tells a reader nothing.
        let label = |g: &GroupRef<'a>| Cow::Owned(format!("{} {:?}", g.id(), g.display_name()));
        let claimer = |t: &GroupRef<'a>| self.matching.group_claiming(*t).map(|s| label(&s));
        let s = self.source();
        let name = format!("{:?} ({}): ", s.display_name(), s.kind());
        review_row("group", id(&s), self, &self.evidence(), id, label, claimer, &name)
    }
}

/// A review row; `name` names an object in the `target` and `candidates` columns, `label` in the reason.
#[allow(clippy::too_many_arguments)]
fn review_row<'a, R>(
    kind: &'static str,
    source: Cow<'a, str>,
    row: &Row<'_, 'a, R>,
    evidence: &[Evidence<R>],
    name: impl Fn(&R) -> Cow<'a, str>,
    label: impl Fn(&R) -> Cow<'a, str>,
    claimer: impl Fn(&R) -> Option<Cow<'a, str>>,
    prefix: &str,
) -> ReviewRow<'a> {
    let list_of = |list: &[R], more: bool, each: &dyn Fn(&R) -> Cow<'a, str>, sep: &str| {
        let mut s = list.iter().map(each).collect::<Vec<_>>().join(sep);
        if more {
            s.push_str(" …");
        }
        s
    };
    let names = |list: &[R], more: bool| list_of(list, more, &name, " ");
    let labels = |list: &[R], more: bool| list_of(list, more, &label, ", ");
    let shown = |e: &Evidence<R>| {
        let v = e.values.join(", ");
        format!("{} {v:?}", e.rule)
    };
    let mut reason = prefix.to_owned();
    let mut earlier = Vec::new();
    for e in evidence {
        match e.outcome {
            Outcome::Ambiguous => {
                let mut s = format!(
                    "{} is shared: {} target {}",
                    shown(e),
                    e.candidates.len(),
                    if e.candidates.len() == 1 {
                        kind.to_owned()
                    } else {
                        format!("{kind}s")
                    }
                );
                if !e.others.is_empty() {
                    let _ = write!(s, " also matching other source {kind}(s) {}", labels(&e.others, false));
                }
                if e.more {
                    s.push_str(" (and more)");
                }
                earlier.push(s);
            }
            Outcome::Conflict => {
                let taken: Vec<String> = e
                    .candidates
                    .iter()
                    .map(|t| match claimer(t) {
                        Some(by) => format!("{} (taken by {by})", label(t)),
                        None => label(t).into_owned(),
                    })
                    .collect();
                earlier.push(format!("{} points only to {}", shown(e), taken.join(", ")));
            }
            Outcome::Excluded if e.rule == Rule::AccountEnabled => earlier.push("accountEnabled is false".to_owned()),
            Outcome::Excluded => earlier.push(format!("the exclusion pattern {:?} matches", e.values.join(""))),
            Outcome::Suggested => earlier.push(format!(
                "same display name (a suggestion, never a match): {}",
                labels(&e.candidates, e.more)
            )),
            Outcome::Matched if e.rule == Rule::Override => earlier.push("an override".to_owned()),
            Outcome::Matched => earlier.push(format!("{} identifies one source and one target {kind}", shown(e))),
        }
    }
    let status = row.status();
    if status == Status::Unmatched && !evidence.iter().any(|e| e.outcome == Outcome::Suggested) {
        earlier.push("no rule found a candidate".to_owned());
    } else if status == Status::Unmatched {
        earlier.insert(0, "no rule found a candidate".to_owned());
    }
    reason.push_str(&earlier.join("; "));
    let candidates = row.candidates();
    let more = evidence
        .iter()
        .any(|e| e.more && matches!(e.outcome, Outcome::Ambiguous | Outcome::Suggested));
    ReviewRow {
        kind,
        source,
        status,
        rule: row.rule().map_or("", Rule::as_str),
        target: row.target().map(|t| name(&t)).unwrap_or_default(),
        candidates: names(&candidates, more && !candidates.is_empty()),
        reason,
    }
}

/// Serialises a list of directory objects by their identifiers.
struct Names<'x, R>(&'x [R], fn(&R) -> String);

impl<R> Serialize for Names<'_, R> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for r in self.0 {
            seq.serialize_element(&(self.1)(r))?;
        }
        seq.end()
    }
}

struct EvidenceJson<'x, R>(&'x Evidence<R>, fn(&R) -> String);

impl<R> Serialize for EvidenceJson<'_, R> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("rule", &e.rule)?;
        map.serialize_entry("outcome", &e.outcome)?;
        map.serialize_entry("values", &e.values)?;
        map.serialize_entry("candidates", &Names(&e.candidates, self.1))?;
        if !e.others.is_empty() {
            map.serialize_entry("others", &Names(&e.others, self.1))?;
        }
        if e.more {
            map.serialize_entry("more", &true)?;
        }
        map.end()
    }
}

struct RowJson<'x, R> {
    source: String,
    status: Status,
    rule: Option<Rule>,
    target: Option<String>,
    kind: (&'static str, String),
    evidence: &'x [Evidence<R>],
    name: fn(&R) -> String,
}

impl<R> Serialize for RowJson<'_, R> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("source", &self.source)?;
        map.serialize_entry("status", &self.status)?;
        map.serialize_entry("rule", &self.rule)?;
        map.serialize_entry("target", &self.target)?;
        map.serialize_entry(self.kind.0, &self.kind.1)?;
        let evidence: Vec<_> = self.evidence.iter().map(|e| EvidenceJson(e, self.name)).collect();
        map.serialize_entry("evidence", &evidence)?;
        map.end()
    }
}

fn user_name(u: &UserRef<'_>) -> String {
    u.user_principal_name().to_owned()
}

fn group_name(g: &GroupRef<'_>) -> String {
    g.id().to_string()
}

struct Rows<'x, 'a>(&'x Matching<'a>, bool);

impl Serialize for Rows<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let m = self.0;
        if self.1 {
            let mut seq = serializer.serialize_seq(Some(m.users.status.len()))?;
            for row in m.users() {
                let evidence = row.evidence();
                seq.serialize_element(&RowJson {
                    source: user_name(&row.source()),
                    status: row.status(),
                    rule: row.rule(),
                    target: row.target().map(|t| user_name(&t)),
                    kind: ("userType", row.user_type().as_str().to_owned()),
                    evidence: &evidence,
                    name: user_name,
                })?;
            }
            seq.end()
        } else {
            let mut seq = serializer.serialize_seq(Some(m.groups.status.len()))?;
            for row in m.groups() {
                let evidence = row.evidence();
                seq.serialize_element(&RowJson {
                    source: group_name(&row.source()),
                    status: row.status(),
                    rule: row.rule(),
                    target: row.target().map(|t| group_name(&t)),
                    kind: ("groupType", row.group_type().as_str().to_owned()),
                    evidence: &evidence,
                    name: group_name,
                })?;
            }
            seq.end()
        }
    }
}

impl Serialize for Matching<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("users", &Rows(self, true))?;
        map.serialize_entry("groups", &Rows(self, false))?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use crate::{Config, DirectoryBuilder, match_directories};
    use crossmap_model::directory::User;
    use crossmap_model::{Guid, Patch};
    use std::borrow::Cow;

    #[test]
    fn the_short_way_to_a_plain_match_says_what_the_long_way_says() {
        let values = ["e1", "A\"b", "back\\slash", "ünï", "with space"];
        let user = |id: u128, upn: String, employee: &str| User {
            id: Patch::Value(Guid::from_u128(id)),
            user_principal_name: Patch::Value(upn),
            employee_id: Patch::Value(employee.to_owned()),
            on_premises_immutable_id: Patch::Value(format!("i-{employee}")),
            ..User::default()
        };
        let (mut s, mut t) = (DirectoryBuilder::new(Guid::NIL), DirectoryBuilder::new(Guid::NIL));
        for (i, v) in values.iter().enumerate() {
            let i = i as u128;
            s.push_user(&user(i, format!("s{i}@a.com"), v)).unwrap();
            // Half match by immutable id, half by employee id.
            let mut u = user(100 + i, format!("t{i}@b.com"), v);
            if i.is_multiple_of(2) {
                u.on_premises_immutable_id = Patch::Absent;
            }
            t.push_user(&u).unwrap();
        }
        let (s, t) = (s.build().unwrap(), t.build().unwrap());
        let m = match_directories(&s, &t, &Config::new()).unwrap();
        for row in m.users() {
            let short = row.plain_match_reason().expect("a plain match");
            let upn = |u: &crate::UserRef<'_>| Cow::Owned(u.user_principal_name().to_owned());
            let long = super::review_row(
                "user",
                upn(&row.source()),
                &row,
                &row.evidence(),
                upn,
                upn,
                |_| None,
                "",
            );
            assert_eq!(short, long.reason);
        }
    }
}
