//! What an admin tells the matcher: overrides, domain rewrites, exclusions, admins.
//!
//! Each setter checks its argument and refuses a contradiction at once (a domain mapped twice, two
//! overrides naming one target), so a [`Config`] is always consistent; the text readers check a whole
//! file and change nothing unless every line is right.

use crate::text::normalize;
use crossmap_model::{Guid, UserKey};
use rustc_hash::FxHashMap;
use std::fmt;

/// A refused setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A domain mapping that is not `SOURCE=TARGET` with two domain names.
    #[error("{value:?} is not a domain mapping: expected SOURCE=TARGET, e.g. contoso.com=fabrikam.com")]
    DomainMapping {
        /// The refused text.
        value: String,
    },
    /// One source domain mapped to two target domains.
    #[error("the domain {source_domain} is mapped twice: to {first} and to {second}")]
    DomainMappedTwice {
        /// The source domain.
        source_domain: String,
        /// The first target.
        first: String,
        /// The second.
        second: String,
    },
    /// A user override whose source or target is not a UPN.
    #[error("{value:?} is not a UPN")]
    NotAUpn {
        /// The refused text.
        value: String,
    },
    /// A group override whose source or target is not an object id.
    #[error("{value:?} is not a group object id (a GUID)")]
    NotAGuid {
        /// The refused text.
        value: String,
    },
    /// A line of an overrides file that is not `source,target`.
    #[error("expected two columns, source,target")]
    Columns,
    /// A line mixing a user and a group.
    #[error("{source_value:?} and {target:?}: a user maps to a user (UPNs), a group to a group (object ids)")]
    MixedKinds {
        /// The source column.
        source_value: String,
        /// The target column.
        target: String,
    },
    /// One source overridden to two different targets.
    #[error("{source_value} is overridden twice: to {first} and to {second}")]
    SourceOverriddenTwice {
        /// The source.
        source_value: String,
        /// The first target.
        first: String,
        /// The second.
        second: String,
    },
    /// Two sources overridden to one target: the map must stay one-to-one.
    #[error("{first} and {second} are both overridden to {target}: a target takes one source")]
    TargetOverriddenTwice {
        /// The target.
        target: String,
        /// The first source.
        first: String,
        /// The second.
        second: String,
    },
    /// An exclusion that is not a glob.
    #[error("{pattern:?} is not a glob pattern: {reason}")]
    Glob {
        /// The refused pattern.
        pattern: String,
        /// The glob parser's message.
        reason: String,
    },
}

/// A refused line of an overrides or admins text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct LineError {
    /// The line, from 1.
    pub line: u64,
    /// What is wrong with it.
    #[source]
    pub error: ConfigError,
}

/// The matcher's settings: what the `crossmap match` flags say.
///
/// ```
/// use crossmap_match::Config;
/// let mut config = Config::new();
/// config.map_domain_arg("contoso.com=fabrikam.com").unwrap();
/// config.exclude("svc-*@contoso.com").unwrap();
/// config.read_overrides("# source,target\nann@contoso.com,ann.lee@fabrikam.com\n").unwrap();
/// config.read_admins("root@contoso.com\n").unwrap();
/// assert!(config.override_user("bob@contoso.com", "ANN.LEE@fabrikam.com").is_err()); // one target, once
/// assert!(config.map_domain("contoso.com", "other.com").is_err()); // one domain, one mapping
/// ```
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub(crate) user_overrides: Vec<(String, String)>,
    user_override_source: FxHashMap<String, usize>,
    user_override_target: FxHashMap<String, usize>,
    pub(crate) group_overrides: Vec<(Guid, Guid)>,
    group_override_source: FxHashMap<Guid, usize>,
    group_override_target: FxHashMap<Guid, usize>,
    pub(crate) domains: Vec<(String, String)>,
    pub(crate) excludes: Vec<String>,
    pub(crate) include_disabled: bool,
    pub(crate) admins: Vec<String>,
    admin_set: FxHashMap<String, ()>,
}

fn domain(value: &str) -> Option<String> {
    let d = normalize(value);
    let ok = !d.is_empty() && !d.contains('@') && !d.chars().any(|c| c.is_whitespace() || c == '=');
    ok.then(|| d.into_owned())
}

fn upn(value: &str) -> Result<String, ConfigError> {
    UserKey::parse(value.trim())
        .map(|k| k.as_str().to_owned())
        .map_err(|_| ConfigError::NotAUpn {
            value: value.to_owned(),
        })
}

impl Config {
    /// No overrides, no domain rewrites, no exclusions beyond disabled accounts, no admins.
    pub fn new() -> Config {
        Config::default()
    }

    /// `--map-domain SOURCE=TARGET`: compare source UPNs and addresses at `source` as if at `target`.
    /// Repeating a mapping is harmless; mapping one source domain to two targets is refused.
    pub fn map_domain(&mut self, source: &str, target: &str) -> Result<(), ConfigError> {
        let bad = || ConfigError::DomainMapping {
            value: format!("{source}={target}"),
        };
        let (s, t) = (domain(source).ok_or_else(bad)?, domain(target).ok_or_else(bad)?);
        match self.domains.iter().find(|(d, _)| *d == s) {
            Some((_, first)) if *first == t => Ok(()),
            Some((_, first)) => Err(ConfigError::DomainMappedTwice {
                source_domain: s,
                first: first.clone(),
                second: t,
            }),
            None => {
                self.domains.push((s, t));
                Ok(())
            }
        }
    }

    /// `--map-domain` as written on the command line: `SOURCE=TARGET`.
    pub fn map_domain_arg(&mut self, arg: &str) -> Result<(), ConfigError> {
        let (s, t) = arg
            .split_once('=')
            .ok_or_else(|| ConfigError::DomainMapping { value: arg.to_owned() })?;
        self.map_domain(s, t)
    }

    /// Maps the source user `source` (UPN) to the target user `target` (UPN), whatever the rules say.
    pub fn override_user(&mut self, source: &str, target: &str) -> Result<(), ConfigError> {
        let (s, t) = (upn(source)?, upn(target)?);
        if let Some(&i) = self.user_override_source.get(&s) {
            let first = &self.user_overrides[i].1;
            if *first == t {
                return Ok(());
            }
            return Err(ConfigError::SourceOverriddenTwice {
                source_value: s,
                first: first.clone(),
                second: t,
            });
        }
        if let Some(&i) = self.user_override_target.get(&t) {
            return Err(ConfigError::TargetOverriddenTwice {
                target: t,
                first: self.user_overrides[i].0.clone(),
                second: s,
            });
        }
        self.user_override_source.insert(s.clone(), self.user_overrides.len());
        self.user_override_target.insert(t.clone(), self.user_overrides.len());
        self.user_overrides.push((s, t));
        Ok(())
    }

    /// Maps the source group `source` (object id) to the target group `target`, whatever the rules say.
    pub fn override_group(&mut self, source: Guid, target: Guid) -> Result<(), ConfigError> {
        if let Some(&i) = self.group_override_source.get(&source) {
            let first = self.group_overrides[i].1;
            if first == target {
                return Ok(());
            }
            return Err(ConfigError::SourceOverriddenTwice {
                source_value: source.to_string(),
                first: first.to_string(),
                second: target.to_string(),
            });
        }
        if let Some(&i) = self.group_override_target.get(&target) {
            return Err(ConfigError::TargetOverriddenTwice {
                target: target.to_string(),
                first: self.group_overrides[i].0.to_string(),
                second: source.to_string(),
            });
        }
        self.group_override_source.insert(source, self.group_overrides.len());
        self.group_override_target.insert(target, self.group_overrides.len());
        self.group_overrides.push((source, target));
        Ok(())
    }

    /// Reads an overrides file (`--overrides FILE`): CSV `source,target`, one pair a line; UPNs for users,
    /// object ids for groups, both kinds in one file. Lines starting with `#` and empty lines are skipped, as
    /// is a first line `source,target`. Every line is checked; nothing is added unless all are right.
    /// Gives the number of overrides read.
    pub fn read_overrides(&mut self, text: &str) -> Result<usize, Vec<LineError>> {
        let mut next = self.clone();
        let mut errors = Vec::new();
        let mut count = 0;
        for (line, record) in records(text) {
            let at = |error| LineError { line, error };
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    errors.push(at(e));
                    continue;
                }
            };
            if record.len() != 2 {
                errors.push(at(ConfigError::Columns));
                continue;
            }
            let (s, t) = (&record[0], &record[1]);
            if count == 0 && s.eq_ignore_ascii_case("source") && t.eq_ignore_ascii_case("target") {
                continue;
            }
            let done = match (s.parse::<Guid>(), t.parse::<Guid>()) {
                (Ok(s), Ok(t)) => next.override_group(s, t),
                (Err(_), Err(_)) => next.override_user(s, t),
                _ if s.contains('@') || t.contains('@') => Err(ConfigError::MixedKinds {
                    source_value: s.clone(),
                    target: t.clone(),
                }),
                (Err(_), _) => Err(ConfigError::NotAGuid { value: s.clone() }),
                (_, Err(_)) => Err(ConfigError::NotAGuid { value: t.clone() }),
            };
            match done {
                Ok(()) => count += 1,
                Err(e) => errors.push(at(e)),
            }
        }
        if errors.is_empty() {
            *self = next;
            Ok(count)
        } else {
            Err(errors)
        }
    }

    /// `--exclude GLOB`: leaves out source users whose UPN, and groups whose display name or mail nickname,
    /// match (`*`, `?`, `[abc]`, `{a,b}`; without regard to case).
    pub fn exclude(&mut self, pattern: &str) -> Result<(), ConfigError> {
        glob(pattern)?;
        if !self.excludes.iter().any(|p| p == pattern) {
            self.excludes.push(pattern.to_owned());
        }
        Ok(())
    }

    /// `--include-disabled`: match disabled source accounts too (by default they are excluded).
    pub fn include_disabled(&mut self, include: bool) {
        self.include_disabled = include;
    }

    /// Marks a source user (UPN) as an administrator: the map's `adminUser`.
    pub fn admin(&mut self, source_upn: &str) -> Result<(), ConfigError> {
        let u = upn(source_upn)?;
        if self.admin_set.insert(u.clone(), ()).is_none() {
            self.admins.push(u);
        }
        Ok(())
    }

    /// Reads an admins file (`--admins FILE`): one source UPN a line; `#` lines and empty lines skipped.
    /// Nothing is added unless every line is right. Gives the number of UPNs read.
    pub fn read_admins(&mut self, text: &str) -> Result<usize, Vec<LineError>> {
        let mut next = self.clone();
        let mut errors = Vec::new();
        let mut count = 0;
        for (line, raw) in text.lines().enumerate() {
            let raw = raw.trim().trim_start_matches('\u{feff}');
            if raw.is_empty() || raw.starts_with('#') {
                continue;
            }
            match next.admin(raw) {
                Ok(()) => count += 1,
                Err(error) => errors.push(LineError {
                    line: line as u64 + 1,
                    error,
                }),
            }
        }
        if errors.is_empty() {
            *self = next;
            Ok(count)
        } else {
            Err(errors)
        }
    }

    /// The domain mappings, normalised, in the order given.
    pub fn domain_mappings(&self) -> impl Iterator<Item = (&str, &str)> {
        self.domains.iter().map(|(s, t)| (s.as_str(), t.as_str()))
    }

    /// The exclusion patterns, in the order given.
    pub fn exclusions(&self) -> &[String] {
        &self.excludes
    }

    /// The user overrides (source UPN, target UPN), normalised, in the order given.
    pub fn user_overrides(&self) -> impl Iterator<Item = (&str, &str)> {
        self.user_overrides.iter().map(|(s, t)| (s.as_str(), t.as_str()))
    }

    /// The group overrides (source id, target id), in the order given.
    pub fn group_overrides(&self) -> &[(Guid, Guid)] {
        &self.group_overrides
    }

    /// Whether disabled source accounts are matched too.
    pub fn includes_disabled(&self) -> bool {
        self.include_disabled
    }

    /// The administrators' UPNs, normalised, in the order given.
    pub fn admins(&self) -> &[String] {
        &self.admins
    }
}

/// A glob matched without regard to case, `*` crossing every character.
pub(crate) fn glob(pattern: &str) -> Result<globset::GlobMatcher, ConfigError> {
    globset::GlobBuilder::new(pattern)
        .case_insensitive(true)
        .literal_separator(false)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| ConfigError::Glob {
            pattern: pattern.to_owned(),
            reason: e.kind().to_string(),
        })
}

/// The CSV records of a text with their line numbers; `#` comment lines and empty lines skipped.
fn records(text: &str) -> impl Iterator<Item = (u64, Result<Vec<String>, ConfigError>)> + '_ {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    reader.into_records().filter_map(|r| match r {
        Ok(r) if r.iter().all(str::is_empty) => None,
        Ok(r) => Some((
            r.position().map_or(0, |p| p.line()),
            Ok(r.iter().map(str::to_owned).collect()),
        )),
        // The reader is flexible and reads a &str: no ragged-row or UTF-8 errors reach here.
        Err(e) => Some((e.position().map_or(0, |p| p.line()), Err(ConfigError::Columns))),
    })
}

impl fmt::Display for Config {
    /// The settings as `crossmap match` flags, for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (s, t) in &self.domains {
            write!(f, " --map-domain {s}={t}")?;
        }
        for p in &self.excludes {
            write!(f, " --exclude {p:?}")?;
        }
        if self.include_disabled {
            f.write_str(" --include-disabled")?;
        }
        write!(
            f,
            " ({} user and {} group overrides, {} admins)",
            self.user_overrides.len(),
            self.group_overrides.len(),
            self.admins.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_mappings_are_checked_and_normalised() {
        let mut c = Config::new();
        c.map_domain_arg(" Contoso.COM = fabrikam.com").unwrap();
        c.map_domain_arg("contoso.com=fabrikam.com").unwrap();
        assert_eq!(
            c.domain_mappings().collect::<Vec<_>>(),
            [("contoso.com", "fabrikam.com")]
        );
        for bad in ["contoso.com", "=x.com", "a@b.com=x.com", "a.com=b c.com"] {
            assert!(
                matches!(c.map_domain_arg(bad), Err(ConfigError::DomainMapping { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            c.map_domain_arg("contoso.com=other.com"),
            Err(ConfigError::DomainMappedTwice { .. })
        ));
    }

    #[test]
    fn overrides_stay_one_to_one() {
        let mut c = Config::new();
        c.override_user("a@s.com", "x@t.com").unwrap();
        c.override_user("A@S.com", "X@t.com").unwrap(); // the same pair again
        assert!(matches!(
            c.override_user("a@s.com", "y@t.com"),
            Err(ConfigError::SourceOverriddenTwice { .. })
        ));
        assert!(matches!(
            c.override_user("b@s.com", "x@T.com"),
            Err(ConfigError::TargetOverriddenTwice { .. })
        ));
        let (g1, g2, g3) = (Guid::from_u128(1), Guid::from_u128(2), Guid::from_u128(3));
        c.override_group(g1, g2).unwrap();
        assert!(c.override_group(g3, g2).is_err());
        assert!(c.override_group(g1, g3).is_err());
        assert_eq!((c.user_overrides.len(), c.group_overrides.len()), (1, 1));
    }

    #[test]
    fn an_overrides_file_is_read_whole_or_not_at_all() {
        let mut c = Config::new();
        let text = "source,target\n# a comment\n\nann@s.com, ann@t.com\n\
                    11111111-1111-1111-1111-111111111111,22222222-2222-2222-2222-222222222222\n";
        assert_eq!(c.read_overrides(text), Ok(2));
        let bad = "bob@s.com,bob@t.com\nonly-one-column\ncat@s.com,11111111-1111-1111-1111-111111111111\n\
                   dan@s.com,ann@t.com\n";
        let errors = c.read_overrides(bad).unwrap_err();
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 4], "{errors:?}");
        assert!(matches!(errors[1].error, ConfigError::MixedKinds { .. }));
        assert!(matches!(errors[2].error, ConfigError::TargetOverriddenTwice { .. }));
        // Nothing of the refused file was kept, not even its good first line.
        assert_eq!(c.user_overrides.len(), 1);
    }

    #[test]
    fn admins_and_globs() {
        let mut c = Config::new();
        assert_eq!(c.read_admins("# admins\nroot@s.com\n\nRoot@S.com\n"), Ok(2));
        assert_eq!(c.admins, ["root@s.com"]);
        let e = c.read_admins("ok@s.com\nnot a upn\n").unwrap_err();
        assert_eq!(e[0].line, 2);
        assert_eq!(c.admins.len(), 1);
        assert!(matches!(c.exclude("[oops"), Err(ConfigError::Glob { .. })));
        c.exclude("svc-*@S.com").unwrap();
        assert!(glob("svc-*@S.com").unwrap().is_match("SVC-backup@s.com"));
    }
}
