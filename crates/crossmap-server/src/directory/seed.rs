//! Seed files: a tenant's directory as JSON Lines of Graph objects, read and stored all or nothing.

use super::schema::{self, Purpose};
use crossmap_model::odata::type_name_matches;
use crossmap_store::{DirectoryError, DirectorySeed, SeedOutcome, Store, StoreError};
use serde_json::Value;
use std::collections::HashMap;

/// Why a seed file was refused; nothing was stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    /// A line that is not a directory object the emulator takes.
    #[error("line {line}: {message}")]
    Line {
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// The store refused the objects (a UPN another stored user keeps) or failed.
    #[error("the directory could not be stored")]
    Store(#[source] StoreError),
}

/// What a seed file held and what storing it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedReport {
    /// The tenant, as tokens name it (`tid`).
    pub tenant: String,
    /// Users in the file.
    pub users: usize,
    /// Groups in the file.
    pub groups: usize,
    /// Whether the file holds the organization.
    pub organization: bool,
    /// What storing it changed.
    pub outcome: SeedOutcome,
}

/// Seeds `tenant`'s directory (named as the token endpoint names it: a GUID, or a name such as `contoso`)
/// from JSON Lines: one Graph object a line, each with `"@odata.type"` `#microsoft.graph.user`, `.group` or
/// `.organization` (at most one) and Graph's property names; users need `id` and `userPrincipalName`,
/// groups and the organization `id`; blank lines are skipped. All or nothing: a bad line, an id or UPN
/// given twice, or a UPN that a stored user not in the file keeps refuses the whole file. Objects whose id
/// is stored with other contents are replaced whole; objects already stored exactly so are left alone, so
/// seeding the same file again (a durable emulator restarted) changes nothing.
///
/// ```
/// use crossmap_server::seed_directory;
/// use crossmap_store::{Store, UserFilter};
/// let store = Store::in_memory();
/// let file = r##"{"@odata.type": "#microsoft.graph.user", "id": "aaaaaaaa-0000-4000-8000-000000000001", "userPrincipalName": "ann@contoso.com"}
/// {"@odata.type": "#microsoft.graph.group", "id": "bbbbbbbb-0000-4000-8000-000000000001", "displayName": "Sales", "groupTypes": []}"##;
/// let report = seed_directory(&store, "Contoso", file).unwrap();
/// assert_eq!((report.tenant.as_str(), report.users, report.groups, report.outcome.created), ("contoso", 1, 1, 2));
/// assert_eq!(seed_directory(&store, "contoso", file).unwrap().outcome.unchanged, 2);
/// assert!(store.user_by_upn("contoso", "Ann@Contoso.com").unwrap().is_some());
/// ```
pub fn seed_directory(store: &Store, tenant: &str, text: &str) -> Result<SeedReport, SeedError> {
    let tenant = crate::tenant_id(tenant);
    let (seed, lines) = read(&tenant, text)?;
    let outcome = store.seed_directory(&tenant, &seed).map_err(|e| match e {
        StoreError::Directory(DirectoryError::UpnTaken { upn, id }) => SeedError::Line {
            line: lines.get(&upn.to_lowercase()).copied().unwrap_or(0),
            message: format!(
                "userPrincipalName {upn:?} is already a stored user's (id {id}) whom this file does not name: \
                 change either, or delete that user"
            ),
        },
        e => SeedError::Store(e),
    })?;
    Ok(SeedReport {
        tenant,
        users: seed.users.len(),
        groups: seed.groups.len(),
        organization: seed.organization.is_some(),
        outcome,
    })
}

/// The seed a file holds, and the line of each (lower-cased) UPN.
fn read(tenant: &str, text: &str) -> Result<(DirectorySeed, HashMap<String, usize>), SeedError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut seed = DirectorySeed::default();
    let mut ids: HashMap<(bool, String), usize> = HashMap::new();
    let mut upns: HashMap<String, usize> = HashMap::new();
    let mut organization_line = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let at = |message: String| SeedError::Line { line: n, message };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|e| at(format!("not JSON: {e}")))?;
        let Value::Object(object) = value else {
            return Err(at("not a JSON object".into()));
        };
        let Some(kind) = object.get("@odata.type").and_then(Value::as_str) else {
            return Err(at(
                "no \"@odata.type\": say \"#microsoft.graph.user\", \"#microsoft.graph.group\" or \
                 \"#microsoft.graph.organization\""
                    .into(),
            ));
        };
        let invalid = |e: schema::Invalid| at(e.message);
        let required = |name: &str, what: &str| {
            object
                .get(name)
                .filter(|v| !v.is_null())
                .map(|_| ())
                .ok_or_else(|| at(format!("a seeded {what} needs \"{name}\"")))
        };
        if type_name_matches(kind, "microsoft.graph.user") {
            required("id", "user")?;
            required("userPrincipalName", "user")?;
            let user = schema::user(object, Purpose::Seed).map_err(invalid)?;
            let id = user.id.value().expect("required").to_string();
            let upn = user.user_principal_name.value().expect("required").to_lowercase();
            if let Some(first) = ids.insert((true, id.clone()), n) {
                return Err(at(format!("user id {id} is already line {first}'s")));
            }
            if let Some(first) = upns.insert(upn.clone(), n) {
                return Err(at(format!(
                    "userPrincipalName {upn:?} is already line {first}'s (compared without regard to case)"
                )));
            }
            seed.users.push(user);
        } else if type_name_matches(kind, "microsoft.graph.group") {
            required("id", "group")?;
            let group = schema::group(object, Purpose::Seed).map_err(invalid)?;
            let id = group.id.value().expect("required").to_string();
            if let Some(first) = ids.insert((false, id.clone()), n) {
                return Err(at(format!("group id {id} is already line {first}'s")));
            }
            seed.groups.push(group);
        } else if type_name_matches(kind, "microsoft.graph.organization") {
            required("id", "organization")?;
            if let Some(first) = organization_line {
                return Err(at(format!("a second organization: line {first} is the tenant's")));
            }
            let organization = schema::organization(object).map_err(invalid)?;
            let id = organization.id.value().expect("required").to_string();
            if tenant
                .parse::<crossmap_model::Guid>()
                .ok()
                .is_some_and(|t| t.to_string() != id)
            {
                return Err(at(format!(
                    "the organization's id {id} is not the tenant's ({tenant}): a tenant named by its GUID has that id"
                )));
            }
            organization_line = Some(n);
            seed.organization = Some(organization);
        } else {
            return Err(at(format!(
                "\"@odata.type\" {kind:?} is not a directory object the emulator seeds: user, group or organization"
            )));
        }
    }
    Ok((seed, upns))
}
