//! The files `plan` and `push` read: the admins' identity-map CSV, or JSON Lines of wire mappings.
//!
//! Everything is read and checked before anything is sent; every problem names its file, line and
//! column (the CSV field, from 1), and the command stops while any row is wrong.

use crossmap_delta::{MappingTable, MemoryTable, Rules, one_to_one};
use crossmap_model::{
    Guid, Identity, MappingKey, Patch, SharePointGroupIdentityMapping as Group,
    SharePointIdentityMappingGroupMigrationData, SharePointIdentityMappingGroupType as GroupType,
    SharePointIdentityMappingUserMigrationData, SharePointIdentityMappingUserType as UserType,
    SharePointUserIdentityMapping as User, UserIdentity,
};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

/// The user types the CSV accepts, without regard to case: the API's names and admins' spellings.
pub(crate) const USER_TYPES: &str = "regularUser (also: member, user, regular), adminUser (also: admin, administrator), guestUser (also: guest, external), none";
/// The group types the CSV accepts, without regard to case.
pub(crate) const GROUP_TYPES: &str = "regularGroup (also: security, securitygroup, group, regular), m365Group (also: m365, microsoft365, \"microsoft 365\", unified, o365, office365), none";

/// The desired state read from a file: both kinds, plus warnings.
#[derive(Debug, Default)]
pub(crate) struct Desired {
    pub(crate) users: MemoryTable<User>,
    pub(crate) groups: MemoryTable<Group>,
    pub(crate) warnings: Vec<String>,
}

/// Every problem found, one per line of the message.
#[derive(Debug)]
pub(crate) struct Problems(pub(crate) Vec<String>);

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} problem(s); nothing was sent:", self.0.len())?;
        for p in &self.0 {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

fn user_type(s: &str) -> Option<UserType> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "regularuser" | "member" | "user" | "regular" => UserType::RegularUser,
        "adminuser" | "admin" | "administrator" => UserType::AdminUser,
        "guestuser" | "guest" | "external" => UserType::GuestUser,
        "none" => UserType::None,
        _ => return None,
    })
}

fn group_type(s: &str) -> Option<GroupType> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "regulargroup" | "security" | "securitygroup" | "group" | "regular" => GroupType::RegularGroup,
        "m365group" | "m365" | "microsoft365" | "microsoft 365" | "unified" | "o365" | "office365" => {
            GroupType::M365Group
        }
        "none" => GroupType::None,
        _ => return None,
    })
}

/// Reads a file by its extension: `.jsonl` / `.ndjson` as JSON Lines, anything else as the CSV.
pub(crate) fn read(path: &Path, strict: bool) -> anyhow::Result<Desired> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let name = path.display().to_string();
    let jsonl = matches!(path.extension().and_then(|e| e.to_str()), Some("jsonl" | "ndjson"));
    let desired = if jsonl {
        read_jsonl(&name, &text)
    } else {
        read_csv(&name, &text)
    }?;
    if strict && !desired.warnings.is_empty() {
        return Err(Problems(desired.warnings).into());
    }
    Ok(desired)
}

/// One row: what it maps, and where.
struct Row<M> {
    line: u64,
    mapping: M,
}

/// Reads the admins' six-column CSV.
pub(crate) fn read_csv(name: &str, text: &str) -> Result<Desired, Problems> {
    let mut problems = Vec::new();
    let mut users: Vec<Row<User>> = Vec::new();
    let mut groups: Vec<Row<Group>> = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Line numbers from byte offsets (the csv crate counts lines one short after a CRLF), counted from the
    // previous record on: records come in file order. A record after a CRLF starts at its LF: count it too.
    let mut counted = (0usize, 1u64); // (bytes scanned, newlines seen + 1)
    let mut line_at = |byte: u64| {
        let end = (byte as usize + 1).min(text.len()).max(counted.0);
        counted.1 += text.as_bytes()[counted.0..end].iter().filter(|b| **b == b'\n').count() as u64;
        counted.0 = end;
        counted.1
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    for (index, record) in reader.records().enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| line_at(p.byte()));
                problems.push(format!("{name}:{line}: not CSV: {e}"));
                continue;
            }
        };
        let line = record.position().map_or(index as u64 + 1, |p| line_at(p.byte()));
        if record.iter().all(str::is_empty) {
            continue;
        }
        let at = |col: usize| format!("{name}:{line}:{col}");
        let kind = record.get(0).unwrap_or("");
        let is_user = kind.eq_ignore_ascii_case("user");
        if !is_user && !kind.eq_ignore_ascii_case("group") {
            if index == 0 {
                continue; // a header row
            }
            problems.push(format!(
                "{}: the first column must be User or Group, not {kind:?}",
                at(1)
            ));
            continue;
        }
        if record.len() != 6 {
            problems.push(format!(
                "{}: a {kind} row has 6 columns, this one has {}",
                at(1),
                record.len()
            ));
            continue;
        }
        let field = |i: usize| record.get(i).unwrap_or("").to_owned();
        let org = match field(1).parse::<Guid>() {
            Ok(g) => g,
            Err(_) => {
                problems.push(format!("{}: SourceTenantCompanyID {:?} is not a GUID", at(2), field(1)));
                continue;
            }
        };
        if is_user {
            let mut row_problems = Vec::new();
            for (col, what) in [(3, "SourceUserUpn"), (4, "TargetUserUpn")] {
                if let Err(e) = crossmap_model::UserKey::parse(&field(col - 1)) {
                    row_problems.push(format!("{}: {what}: {e}", at(col)));
                }
            }
            let kind = user_type(&field(5));
            if kind.is_none() {
                row_problems.push(format!(
                    "{}: UserType {:?} is not one of: {USER_TYPES}",
                    at(6),
                    field(5)
                ));
            }
            let email = field(4);
            if !email.is_empty() && crossmap_model::UserKey::parse(&email).is_err() {
                row_problems.push(format!("{}: TargetUserEmail {email:?} is not an email address", at(5)));
            }
            if !row_problems.is_empty() {
                problems.extend(row_problems);
                continue;
            }
            let identity = |upn: String| UserIdentity {
                user_principal_name: Patch::Value(upn),
                ..UserIdentity::default()
            };
            users.push(Row {
                line,
                mapping: User {
                    source_organization_id: Patch::Value(org),
                    user_type: kind.map(Patch::Value).unwrap_or_default(),
                    source_user_identity: Patch::Value(identity(field(2))),
                    target_user_identity: Patch::Value(identity(field(3))),
                    target_user_migration_data: if email.is_empty() {
                        Patch::Absent
                    } else {
                        Patch::Value(SharePointIdentityMappingUserMigrationData {
                            email: Patch::Value(email),
                            ..Default::default()
                        })
                    },
                    ..User::default()
                },
            });
        } else {
            let mut row_problems = Vec::new();
            for (col, what) in [(3, "SourceGroupObjectID"), (4, "TargetGroupObjectID")] {
                if field(col - 1).parse::<Guid>().is_err() {
                    row_problems.push(format!("{}: {what} {:?} is not a GUID", at(col), field(col - 1)));
                }
            }
            let kind = group_type(&field(5));
            if kind.is_none() {
                row_problems.push(format!(
                    "{}: GroupType {:?} is not one of: {GROUP_TYPES}",
                    at(6),
                    field(5)
                ));
            }
            let name = field(4);
            if kind == Some(GroupType::M365Group) && name.chars().any(char::is_whitespace) {
                row_problems.push(format!(
                    "{}: M365GroupAlias {name:?} must not contain whitespace",
                    at(5)
                ));
            }
            if !row_problems.is_empty() {
                problems.extend(row_problems);
                continue;
            }
            let m365 = kind == Some(GroupType::M365Group);
            let mut target = Identity {
                id: Patch::Value(field(3)),
                ..Identity::default()
            };
            if !m365 && !name.is_empty() {
                target.display_name = Patch::Value(name.clone());
            }
            groups.push(Row {
                line,
                mapping: Group {
                    source_organization_id: Patch::Value(org),
                    group_type: kind.map(Patch::Value).unwrap_or_default(),
                    source_group_identity: Patch::Value(Identity {
                        id: Patch::Value(field(2)),
                        ..Identity::default()
                    }),
                    target_group_identity: Patch::Value(target),
                    target_group_migration_data: if m365 && !name.is_empty() {
                        Patch::Value(SharePointIdentityMappingGroupMigrationData {
                            mail_nickname: Patch::Value(name),
                            ..Default::default()
                        })
                    } else {
                        Patch::Absent
                    },
                    ..Group::default()
                },
            });
        }
    }
    finish(name, users, groups, problems)
}

/// Reads JSON Lines: one wire mapping per line, users and groups told apart by their source identity.
pub(crate) fn read_jsonl(name: &str, text: &str) -> Result<Desired, Problems> {
    let mut problems = Vec::new();
    let mut users = Vec::new();
    let mut groups = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("{name}:{n}:{}: not JSON: {e}", e.column()));
                continue;
            }
        };
        let parsed = if value.get("sourceUserIdentity").is_some() {
            serde_json::from_value::<User>(value).map(|m| users.push(Row { line: n, mapping: m }))
        } else if value.get("sourceGroupIdentity").is_some() {
            serde_json::from_value::<Group>(value).map(|m| groups.push(Row { line: n, mapping: m }))
        } else {
            problems.push(format!(
                "{name}:{n}: a mapping needs sourceUserIdentity or sourceGroupIdentity"
            ));
            continue;
        };
        if let Err(e) = parsed {
            problems.push(format!("{name}:{n}: {e}"));
        }
    }
    finish(name, users, groups, problems)
}

/// Puts rows into tables: duplicates are errors naming both lines; shared targets are warnings.
fn finish(
    name: &str,
    users: Vec<Row<User>>,
    groups: Vec<Row<Group>>,
    mut problems: Vec<String>,
) -> Result<Desired, Problems> {
    let mut desired = Desired::default();
    desired.users = table(name, users, &mut problems, &mut desired.warnings);
    desired.groups = table(name, groups, &mut problems, &mut desired.warnings);
    // In file order, whichever check found them.
    let line_of = |p: &String| {
        p[name.len()..]
            .split(':')
            .nth(1)
            .and_then(|l| l.parse::<u64>().ok())
            .unwrap_or(0)
    };
    problems.sort_by_key(line_of);
    if problems.is_empty() {
        Ok(desired)
    } else {
        Err(Problems(problems))
    }
}

fn table<M: Rules>(
    name: &str,
    rows: Vec<Row<M>>,
    problems: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> MemoryTable<M> {
    let mut table = MemoryTable::new();
    let mut first_line: HashMap<M::Key, u64> = HashMap::new();
    for row in &rows {
        match crossmap_delta::canonical(0, row.mapping.clone()) {
            Err(e) => problems.push(format!("{name}:{}: {}: {}", row.line, e.property, e.message)),
            Ok((key, mapping)) => {
                if let Some(first) = first_line.get(&key) {
                    problems.push(format!(
                        "{name}:{}: {key} is mapped again (first on line {first})",
                        row.line
                    ));
                    continue;
                }
                first_line.insert(key.clone(), row.line);
                table.put(key, &mapping);
            }
        }
    }
    for shared in one_to_one::<M>(table.iter().map(|(_, m)| m)) {
        let mut w = format!(
            "{} sources map to the same target {}:",
            shared.sources.len(),
            shared.target
        );
        for s in &shared.sources {
            let _ = write!(w, " {s} (line {})", first_line.get(s).copied().unwrap_or(0));
        }
        warnings.push(format!("{name}: {w}"));
    }
    table
}

/// Writes mappings back in the admins' CSV format, so an exported file can be pushed back.
pub(crate) fn write_csv(users: &[User], groups: &[Group]) -> String {
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    let text = |p: &Patch<String>| p.value().cloned().unwrap_or_default();
    for u in users {
        let src = u
            .source_user_identity
            .value()
            .map(|i| text(&i.user_principal_name))
            .unwrap_or_default();
        let tgt = u
            .target_user_identity
            .value()
            .map(|i| text(&i.user_principal_name))
            .unwrap_or_default();
        let email = u
            .target_user_migration_data
            .value()
            .map(|d| text(&d.email))
            .unwrap_or_default();
        let org = u
            .source_organization_id
            .value()
            .map(ToString::to_string)
            .unwrap_or_default();
        let kind = u.user_type.value().map(|t| t.as_str().to_owned()).unwrap_or_default();
        let _ = w.write_record(["User", &org, &src, &tgt, &email, &kind]);
    }
    for g in groups {
        let src = g.source_group_identity.value().map(|i| text(&i.id)).unwrap_or_default();
        let tgt = g.target_group_identity.value().map(|i| text(&i.id)).unwrap_or_default();
        let kind = g.group_type.value().cloned().unwrap_or(GroupType::None);
        let name = if kind == GroupType::M365Group {
            g.target_group_migration_data
                .value()
                .map(|d| text(&d.mail_nickname))
                .unwrap_or_default()
        } else {
            g.target_group_identity
                .value()
                .map(|i| text(&i.display_name))
                .unwrap_or_default()
        };
        let org = g
            .source_organization_id
            .value()
            .map(ToString::to_string)
            .unwrap_or_default();
        let _ = w.write_record(["Group", &org, &src, &tgt, &name, kind.as_str()]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = "11111111-1111-1111-1111-111111111111";

    fn problems(text: &str) -> Vec<String> {
        read_csv("map.csv", text).unwrap_err().0
    }

    #[test]
    fn reads_users_and_groups_with_a_header_bom_quotes_and_crlf() {
        let text = format!(
            "\u{feff}Type,SourceTenantCompanyID,Source,Target,Email,UserType\r\nUser,{ORG},\"o'brien@contoso.com\",obrien@fabrikam.com,obrien@fabrikam.com,Member\r\nGroup,{ORG},aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa,bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb,\"Sales, EMEA\",Security\r\ngroup,{ORG},cccccccc-cccc-cccc-cccc-cccccccccccc,dddddddd-dddd-dddd-dddd-dddddddddddd,sales,M365\r\n"
        );
        let d = read_csv("map.csv", &text).unwrap();
        assert_eq!((d.users.len(), d.groups.len()), (1, 2));
        let g = d
            .groups
            .iter()
            .map(|(_, g)| g)
            .find(|g| g.group_type == Patch::Value(GroupType::RegularGroup))
            .unwrap();
        assert_eq!(
            g.target_group_identity.value().unwrap().display_name.value().unwrap(),
            "Sales, EMEA"
        );
    }

    #[test]
    fn every_problem_names_its_line_and_column() {
        let text = format!(
            "User,{ORG},ann@contoso.com,ann@fabrikam.com,,Member\nUser,nope,bob@contoso.com,bob@fabrikam.com,,Member\nUser,{ORG},carol,carol@fabrikam.com,,Member\nUser,{ORG},dave@contoso.com,dave@fabrikam.com,,Wizard\nGroup,{ORG},zz,bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb,x,Security\nUser,{ORG},ANN@contoso.com,other@fabrikam.com,,Guest\nThing,{ORG},a,b,c,d\nUser,{ORG},eve@contoso.com\n"
        );
        let p = problems(&text);
        let expect = [
            "map.csv:2:2: SourceTenantCompanyID \"nope\" is not a GUID",
            "map.csv:3:3: SourceUserUpn",
            "map.csv:4:6: UserType \"Wizard\" is not one of: regularUser",
            "map.csv:5:3: SourceGroupObjectID \"zz\" is not a GUID",
            "map.csv:6: ann@contoso.com is mapped again (first on line 1)",
            "map.csv:7:1: the first column must be User or Group",
            "map.csv:8:1: a User row has 6 columns, this one has 3",
        ];
        assert_eq!(p.len(), expect.len(), "{p:#?}");
        for (got, want) in p.iter().zip(expect) {
            assert!(got.starts_with(want), "{got:?} does not start with {want:?}");
        }
    }

    #[test]
    fn two_sources_on_one_target_is_a_warning() {
        let text = format!(
            "User,{ORG},a@contoso.com,t@fabrikam.com,,Member\nUser,{ORG},b@contoso.com,T@fabrikam.com,,Member\n"
        );
        let d = read_csv("map.csv", &text).unwrap();
        assert_eq!(d.warnings.len(), 1);
        assert!(
            d.warnings[0].contains("a@contoso.com (line 1)") && d.warnings[0].contains("(line 2)"),
            "{:?}",
            d.warnings
        );
    }

    #[test]
    fn exported_csv_reads_back_the_same() {
        let text = format!(
            "User,{ORG},ann@contoso.com,ann@fabrikam.com,ann@fabrikam.com,guestUser\nGroup,{ORG},aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa,bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb,sales,m365Group\n"
        );
        let d = read_csv("map.csv", &text).unwrap();
        let users: Vec<User> = d.users.iter().map(|(_, m)| m).collect();
        let groups: Vec<Group> = d.groups.iter().map(|(_, m)| m).collect();
        let again = read_csv("export.csv", &write_csv(&users, &groups)).unwrap();
        assert!(
            crossmap_delta::same_contents(&again.users, &d.users)
                && crossmap_delta::same_contents(&again.groups, &d.groups)
        );
    }

    #[test]
    fn json_lines_are_read_too() {
        let text = format!(
            "{{\"sourceOrganizationId\":\"{ORG}\",\"sourceGroupIdentity\":{{\"id\":\"aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa\"}},\"targetGroupIdentity\":{{\"id\":\"bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb\"}}}}\n\n{{\"bad\n"
        );
        let p = read_jsonl("map.jsonl", &text).unwrap_err().0;
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("map.jsonl:3:"), "{p:?}");
    }
}
