//! What the emulator knows of Graph's `user`, `group` and `organization` types: their properties and
//! value shapes, the default property sets, the properties `POST` requires, and how an object sent (a
//! `POST` body, a seed line) is checked and made ready to store.

use crossmap_model::directory::{Group, Organization, User};
use serde_json::{Map, Value};

/// The shape of a property's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A string.
    Str,
    /// A collection of strings: `[]` when it has no value.
    Strs,
    /// A boolean.
    Bool,
    /// A complex value (an object).
    Object,
    /// A collection of complex values: `[]` when it has no value.
    Objects,
    /// A GUID (checked by the model).
    Guid,
}

impl Shape {
    /// What Graph answers for a selected property without a value.
    pub(crate) fn empty(self) -> Value {
        match self {
            Shape::Strs | Shape::Objects => Value::Array(Vec::new()),
            _ => Value::Null,
        }
    }

    fn admits(self, v: &Value) -> bool {
        match (self, v) {
            (_, Value::Null) => true,
            (Shape::Str | Shape::Guid, Value::String(_)) => true,
            (Shape::Strs, Value::Array(a)) => a.iter().all(Value::is_string),
            (Shape::Bool, Value::Bool(_)) => true,
            (Shape::Object, Value::Object(_)) => true,
            (Shape::Objects, Value::Array(a)) => a.iter().all(Value::is_object),
            _ => false,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Shape::Str => "a string",
            Shape::Strs => "an array of strings",
            Shape::Bool => "true or false",
            Shape::Object => "an object",
            Shape::Objects => "an array of objects",
            Shape::Guid => "a GUID",
        }
    }
}

/// One of the directory types the emulator serves.
#[derive(Debug)]
pub(crate) struct Type {
    /// The entity set's name: `users`, `groups`, `organization`.
    pub(crate) set: &'static str,
    /// The qualified type name.
    pub(crate) qualified: &'static str,
    /// The resource name in Graph's messages: `User`, `Group`, `Organization`.
    pub(crate) resource: &'static str,
    /// Every property the emulator knows, with its shape.
    pub(crate) properties: &'static [(&'static str, Shape)],
    /// What a `GET` without `$select` returns.
    pub(crate) default_set: &'static [&'static str],
    /// What `POST` requires.
    pub(crate) required: &'static [&'static str],
}

use Shape::{Bool, Guid, Object, Objects, Str, Strs};

/// `microsoft.graph.user`: the model's properties, Graph's default set, and the common others.
pub(crate) static USER: Type = Type {
    set: "users",
    qualified: "microsoft.graph.user",
    resource: "User",
    properties: &[
        ("id", Guid),
        ("userPrincipalName", Str),
        ("mail", Str),
        ("otherMails", Strs),
        ("proxyAddresses", Strs),
        ("employeeId", Str),
        ("onPremisesImmutableId", Str),
        ("onPremisesSamAccountName", Str),
        ("onPremisesSyncEnabled", Bool),
        ("userType", Str),
        ("accountEnabled", Bool),
        ("creationType", Str),
        ("externalUserState", Str),
        ("displayName", Str),
        ("givenName", Str),
        ("surname", Str),
        ("mailNickname", Str),
        ("businessPhones", Strs),
        ("jobTitle", Str),
        ("mobilePhone", Str),
        ("officeLocation", Str),
        ("preferredLanguage", Str),
        ("ageGroup", Str),
        ("city", Str),
        ("companyName", Str),
        ("consentProvidedForMinor", Str),
        ("country", Str),
        ("createdDateTime", Str),
        ("deletedDateTime", Str),
        ("department", Str),
        ("employeeHireDate", Str),
        ("employeeLeaveDateTime", Str),
        ("employeeOrgData", Object),
        ("employeeType", Str),
        ("externalUserStateChangeDateTime", Str),
        ("faxNumber", Str),
        ("identities", Objects),
        ("imAddresses", Strs),
        ("lastPasswordChangeDateTime", Str),
        ("legalAgeGroupClassification", Str),
        ("onPremisesDistinguishedName", Str),
        ("onPremisesDomainName", Str),
        ("onPremisesExtensionAttributes", Object),
        ("onPremisesLastSyncDateTime", Str),
        ("onPremisesSecurityIdentifier", Str),
        ("onPremisesUserPrincipalName", Str),
        ("passwordPolicies", Str),
        ("postalCode", Str),
        ("preferredDataLocation", Str),
        ("securityIdentifier", Str),
        ("showInAddressList", Bool),
        ("signInSessionsValidFromDateTime", Str),
        ("state", Str),
        ("streetAddress", Str),
        ("usageLocation", Str),
    ],
    default_set: &[
        "businessPhones",
        "displayName",
        "givenName",
        "id",
        "jobTitle",
        "mail",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "surname",
        "userPrincipalName",
    ],
    required: &[
        "accountEnabled",
        "displayName",
        "mailNickname",
        "userPrincipalName",
        "passwordProfile",
    ],
};

/// `microsoft.graph.group`.
pub(crate) static GROUP: Type = Type {
    set: "groups",
    qualified: "microsoft.graph.group",
    resource: "Group",
    properties: &[
        ("id", Guid),
        ("displayName", Str),
        ("mailNickname", Str),
        ("mail", Str),
        ("groupTypes", Strs),
        ("securityEnabled", Bool),
        ("mailEnabled", Bool),
        ("onPremisesSyncEnabled", Bool),
        ("proxyAddresses", Strs),
        ("classification", Str),
        ("createdDateTime", Str),
        ("creationOptions", Strs),
        ("deletedDateTime", Str),
        ("description", Str),
        ("expirationDateTime", Str),
        ("isAssignableToRole", Bool),
        ("membershipRule", Str),
        ("membershipRuleProcessingState", Str),
        ("onPremisesDomainName", Str),
        ("onPremisesLastSyncDateTime", Str),
        ("onPremisesNetBiosName", Str),
        ("onPremisesProvisioningErrors", Objects),
        ("onPremisesSamAccountName", Str),
        ("onPremisesSecurityIdentifier", Str),
        ("preferredDataLocation", Str),
        ("preferredLanguage", Str),
        ("renewedDateTime", Str),
        ("resourceBehaviorOptions", Strs),
        ("resourceProvisioningOptions", Strs),
        ("securityIdentifier", Str),
        ("serviceProvisioningErrors", Objects),
        ("theme", Str),
        ("visibility", Str),
    ],
    default_set: &[
        "id",
        "deletedDateTime",
        "classification",
        "createdDateTime",
        "creationOptions",
        "description",
        "displayName",
        "expirationDateTime",
        "groupTypes",
        "isAssignableToRole",
        "mail",
        "mailEnabled",
        "mailNickname",
        "membershipRule",
        "membershipRuleProcessingState",
        "onPremisesDomainName",
        "onPremisesLastSyncDateTime",
        "onPremisesNetBiosName",
        "onPremisesSamAccountName",
        "onPremisesSecurityIdentifier",
        "onPremisesSyncEnabled",
        "preferredDataLocation",
        "preferredLanguage",
        "proxyAddresses",
        "renewedDateTime",
        "resourceBehaviorOptions",
        "resourceProvisioningOptions",
        "securityEnabled",
        "securityIdentifier",
        "theme",
        "visibility",
        "onPremisesProvisioningErrors",
        "serviceProvisioningErrors",
    ],
    required: &["displayName", "mailEnabled", "mailNickname", "securityEnabled"],
};

/// `microsoft.graph.organization`.
pub(crate) static ORGANIZATION: Type = Type {
    set: "organization",
    qualified: "microsoft.graph.organization",
    resource: "Organization",
    properties: &[
        ("id", Guid),
        ("displayName", Str),
        ("verifiedDomains", Objects),
        ("businessPhones", Strs),
        ("city", Str),
        ("country", Str),
        ("countryLetterCode", Str),
        ("createdDateTime", Str),
        ("deletedDateTime", Str),
        ("marketingNotificationEmails", Strs),
        ("onPremisesLastSyncDateTime", Str),
        ("onPremisesSyncEnabled", Bool),
        ("postalCode", Str),
        ("preferredLanguage", Str),
        ("privacyProfile", Object),
        ("securityComplianceNotificationMails", Strs),
        ("securityComplianceNotificationPhones", Strs),
        ("state", Str),
        ("street", Str),
        ("technicalNotificationMails", Strs),
        ("tenantType", Str),
    ],
    default_set: &[
        "id",
        "businessPhones",
        "city",
        "country",
        "countryLetterCode",
        "createdDateTime",
        "deletedDateTime",
        "displayName",
        "marketingNotificationEmails",
        "onPremisesLastSyncDateTime",
        "onPremisesSyncEnabled",
        "postalCode",
        "preferredLanguage",
        "privacyProfile",
        "securityComplianceNotificationMails",
        "securityComplianceNotificationPhones",
        "state",
        "street",
        "technicalNotificationMails",
        "tenantType",
        "verifiedDomains",
    ],
    required: &[],
};

impl Type {
    /// The property named `name`, compared without regard to case (Graph's directory is lenient about
    /// case in `$select`), as the type spells it.
    pub(crate) fn property(&self, name: &str) -> Option<(&'static str, Shape)> {
        self.properties
            .iter()
            .find(|(p, _)| p.eq_ignore_ascii_case(name))
            .copied()
    }

    /// The object cut down to `select` (or the default set), in Graph's terms: a selected property
    /// without a value is `null` (`[]` for a collection).
    #[cfg(test)]
    pub(crate) fn shape(&self, mut object: Map<String, Value>, select: Option<&[&'static str]>) -> Map<String, Value> {
        let names = select.unwrap_or(self.default_set);
        names
            .iter()
            .map(|name| {
                let value = object.remove(*name).unwrap_or_else(|| self.empty(name));
                ((*name).to_owned(), value)
            })
            .collect()
    }

    /// What property `name` is without a value.
    fn empty(&self, name: &str) -> Value {
        self.property(name).map_or(Value::Null, |(_, shape)| shape.empty())
    }
}

/// A directory type the emulator serves, as [`Shaped`] reads it.
pub(crate) trait DirectoryObject: serde::Serialize {
    /// Writes declared property `name` if present; whether it did.
    fn declared<M: serde::ser::SerializeMap>(&self, map: &mut M, name: &str) -> Result<bool, M::Error>;
    /// The undeclared properties.
    fn others(&self) -> &Map<String, Value>;
}

macro_rules! object {
    ($($t:ty),*) => {$(
        impl DirectoryObject for $t {
            fn declared<M: serde::ser::SerializeMap>(&self, map: &mut M, name: &str) -> Result<bool, M::Error> {
                self.serialize_property(map, name)
            }
            fn others(&self) -> &Map<String, Value> {
                &self.additional_properties
            }
        }
    )*};
}
object!(User, Group, Organization);

/// An object cut down to `select` (or its type's default set) as it serialises, in Graph's terms: a
/// selected property without a value is `null` (`[]` for a collection). Written straight from the object,
/// without a JSON tree in between: lists of 999 users are the emulator's biggest answers.
pub(crate) struct Shaped<'a, T> {
    pub(crate) object: &'a T,
    pub(crate) ty: &'static Type,
    pub(crate) select: Option<&'a [&'static str]>,
}

impl<T: DirectoryObject> serde::Serialize for Shaped<'_, T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let names = self.select.unwrap_or(self.ty.default_set);
        let mut map = serializer.serialize_map(Some(names.len()))?;
        for name in names {
            if !self.object.declared(&mut map, name)? {
                match self.object.others().get(*name) {
                    Some(v) => map.serialize_entry(name, v)?,
                    None => map.serialize_entry(name, &self.ty.empty(name))?,
                }
            }
        }
        map.end()
    }
}

/// Why an object sent was refused: the message, and the property it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub(crate) message: String,
    pub(crate) property: Option<String>,
}

fn invalid(message: String, property: &str) -> Invalid {
    Invalid {
        message,
        property: Some(property.to_owned()),
    }
}

/// What checking an object is for: a `POST` (required properties, write-only ones) or a seed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Create,
    Seed,
}

/// Checks an object's properties against `ty`: annotations (`@odata.type` …) are dropped, every other
/// name must be a property of the type (in its exact spelling) with a value of its shape. A `POST` may
/// carry `passwordProfile` (checked, never stored) and must carry the required properties.
pub(crate) fn check(
    ty: &Type,
    mut object: Map<String, Value>,
    purpose: Purpose,
) -> Result<Map<String, Value>, Invalid> {
    if let Some(kind) = object.get("@odata.type") {
        let named = kind
            .as_str()
            .is_some_and(|k| crossmap_model::odata::type_name_matches(k, ty.qualified));
        if !named {
            return Err(invalid(
                format!("\"@odata.type\" {kind} is not #{}.", ty.qualified),
                "@odata.type",
            ));
        }
    }
    object.retain(|k, _| !k.starts_with('@') && !k.contains("@odata."));
    if purpose == Purpose::Create {
        for name in ty.required {
            if object.get(*name).is_none_or(Value::is_null) {
                return Err(invalid(
                    format!(
                        "A value is required for property '{name}' of resource '{}'.",
                        ty.resource
                    ),
                    name,
                ));
            }
        }
    }
    if ty.set == "users" {
        if let Some(profile) = object.remove("passwordProfile") {
            if purpose == Purpose::Seed {
                return Err(invalid(
                    "passwordProfile cannot be seeded: it is write-only, and the emulator keeps no passwords".into(),
                    "passwordProfile",
                ));
            }
            let password = profile.get("password").and_then(Value::as_str).unwrap_or_default();
            if password.is_empty() {
                return Err(invalid(
                    "Invalid value specified for property 'passwordProfile' of resource 'User': it needs a password."
                        .into(),
                    "passwordProfile",
                ));
            }
        }
    }
    for (name, value) in &object {
        let Some((known, shape)) = ty.property(name) else {
            return Err(invalid(
                format!("Invalid property '{name}': {} has no such property.", ty.qualified),
                name,
            ));
        };
        if known != name {
            return Err(invalid(
                format!("Invalid property '{name}': did you mean '{known}'? Property names are case-sensitive."),
                name,
            ));
        }
        if !shape.admits(value) {
            return Err(invalid(
                format!(
                    "Invalid value specified for property '{name}' of resource '{}': expected {}.",
                    ty.resource,
                    shape.describe()
                ),
                name,
            ));
        }
    }
    Ok(object)
}

fn bad_value(ty: &Type, name: &str, why: &str) -> Invalid {
    invalid(
        format!(
            "Invalid value specified for property '{name}' of resource '{}': {why}",
            ty.resource
        ),
        name,
    )
}

/// Reads a checked object as the model type, reporting a bad value (a GUID that is not one) by property.
fn typed<T: serde::de::DeserializeOwned>(ty: &Type, object: Map<String, Value>) -> Result<T, Invalid> {
    let de = Value::Object(object);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        bad_value(ty, &path, &e.into_inner().to_string())
    })
}

/// A user sent to be created or seeded, checked and made ready to store: `userType` defaults to `Member`
/// as Graph's does; a seeded user without `accountEnabled` is enabled (Graph's directory always has one).
pub(crate) fn user(object: Map<String, Value>, purpose: Purpose) -> Result<User, Invalid> {
    let ty = &USER;
    let mut user: User = typed(ty, check(ty, object, purpose)?)?;
    let upn = user.user_principal_name.value().map(String::as_str).unwrap_or_default();
    if !upn.is_empty() {
        check_upn(upn)?;
    }
    match user.user_type.value() {
        None => user.user_type = "Member".to_owned().into(),
        Some(t) if t == "Member" || t == "Guest" => {}
        Some(t) => {
            return Err(bad_value(
                ty,
                "userType",
                &format!("{t:?} is neither Member nor Guest."),
            ));
        }
    }
    if user.account_enabled.value().is_none() && purpose == Purpose::Seed {
        user.account_enabled = true.into();
    }
    if let Some(e) = user.employee_id.value() {
        if e.chars().count() > 16 {
            return Err(bad_value(ty, "employeeId", "it is at most 16 characters."));
        }
    }
    Ok(user)
}

/// A UPN Graph would take: `local@domain`, one `@`, no spaces.
fn check_upn(upn: &str) -> Result<(), Invalid> {
    let shaped = match upn.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@') && !upn.contains(char::is_whitespace)
        }
        None => false,
    };
    if shaped {
        Ok(())
    } else {
        Err(bad_value(
            &USER,
            "userPrincipalName",
            &format!("{upn:?} is not of the form alias@domain."),
        ))
    }
}

/// A group sent to be created or seeded. A `POST` follows Graph's kinds: a Microsoft 365 group
/// (`groupTypes` with `Unified`) is mail-enabled; any other group Graph creates is a security group, not
/// mail-enabled. Seeds may hold every kind (distribution, mail-enabled security groups).
pub(crate) fn group(object: Map<String, Value>, purpose: Purpose) -> Result<Group, Invalid> {
    let ty = &GROUP;
    let group: Group = typed(ty, check(ty, object, purpose)?)?;
    if purpose == Purpose::Create {
        let mail_enabled = group.mail_enabled.value() == Some(&true);
        if group.is_microsoft_365() && !mail_enabled {
            return Err(bad_value(
                ty,
                "mailEnabled",
                "a Microsoft 365 group (groupTypes Unified) is mail-enabled.",
            ));
        }
        if !group.is_microsoft_365() && mail_enabled {
            return Err(bad_value(
                ty,
                "mailEnabled",
                "only Microsoft 365 groups (groupTypes Unified) can be created mail-enabled.",
            ));
        }
    }
    Ok(group)
}

/// An organization, seeded.
pub(crate) fn organization(object: Map<String, Value>) -> Result<Organization, Invalid> {
    typed(&ORGANIZATION, check(&ORGANIZATION, object, Purpose::Seed)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(o) => o,
            _ => unreachable!(),
        }
    }

    #[test]
    fn every_default_and_required_property_is_known() {
        for ty in [&USER, &GROUP, &ORGANIZATION] {
            for name in ty.default_set.iter().chain(ty.required) {
                assert!(
                    ty.property(name).is_some() || *name == "passwordProfile",
                    "{}: {name}",
                    ty.set
                );
            }
        }
        for name in User::PROPERTIES {
            assert!(USER.property(name).is_some(), "{name}");
        }
        for name in Group::PROPERTIES {
            assert!(GROUP.property(name).is_some(), "{name}");
        }
        for name in Organization::PROPERTIES {
            assert!(ORGANIZATION.property(name).is_some(), "{name}");
        }
    }

    #[test]
    fn objects_are_checked_by_name_shape_and_purpose() {
        let ok = json!({"@odata.type": "#microsoft.graph.user", "id": "aaaaaaaa-0000-4000-8000-000000000001",
            "userPrincipalName": "ann@contoso.com", "jobTitle": "CFO", "businessPhones": ["1"]});
        let u = user(object(ok.clone()), Purpose::Seed).unwrap();
        assert_eq!(u.user_type.value().unwrap(), "Member");
        assert_eq!(u.account_enabled.value(), Some(&true));
        assert!(!u.additional_properties.contains_key("@odata.type"));
        let e = user(object(ok), Purpose::Create).unwrap_err();
        assert_eq!(e.property.as_deref(), Some("accountEnabled"));
        for (bad, property) in [
            (json!({"userprincipalname": "a@b"}), "userprincipalname"),
            (json!({"favouriteColour": "blue"}), "favouriteColour"),
            (json!({"jobTitle": 3}), "jobTitle"),
            (json!({"userPrincipalName": "no-at-sign"}), "userPrincipalName"),
            (json!({"userType": "Admin"}), "userType"),
            (json!({"employeeId": "12345678901234567"}), "employeeId"),
            (json!({"id": "nope"}), "id"),
            (json!({"passwordProfile": {"password": "x"}}), "passwordProfile"),
            (json!({"@odata.type": "#microsoft.graph.group"}), "@odata.type"),
        ] {
            let e = user(object(bad.clone()), Purpose::Seed).unwrap_err();
            assert_eq!(e.property.as_deref(), Some(property), "{bad}: {e:?}");
        }
        let create = json!({"accountEnabled": true, "displayName": "A", "mailNickname": "a",
            "userPrincipalName": "a@b.c", "passwordProfile": {"password": ""}});
        assert_eq!(
            user(object(create), Purpose::Create).unwrap_err().property.as_deref(),
            Some("passwordProfile")
        );
        let g = json!({"displayName": "S", "mailNickname": "s", "mailEnabled": true, "securityEnabled": true});
        assert_eq!(
            group(object(g.clone()), Purpose::Create)
                .unwrap_err()
                .property
                .as_deref(),
            Some("mailEnabled")
        );
        assert!(
            group(object(g), Purpose::Seed).is_ok(),
            "a mail-enabled security group can be seeded"
        );
    }

    #[test]
    fn shaped_objects_serialise_as_shaping_their_json_does() {
        let user: User = serde_json::from_value(json!({"id": "aaaaaaaa-0000-4000-8000-000000000001",
            "mail": null, "otherMails": ["a"], "jobTitle": "x", "employeeId": "7"}))
        .unwrap();
        let object = serde_json::to_value(&user).unwrap().as_object().unwrap().clone();
        let selects: [Option<&[&'static str]>; 3] = [
            None,
            Some(&["otherMails", "proxyAddresses", "mail", "jobTitle"]),
            Some(&["employeeId"]),
        ];
        for select in selects {
            let shaped = Shaped {
                object: &user,
                ty: &USER,
                select,
            };
            assert_eq!(
                serde_json::to_value(&shaped).unwrap(),
                Value::Object(USER.shape(object.clone(), select))
            );
        }
    }

    #[test]
    fn shaping_fills_what_has_no_value() {
        let shaped = USER.shape(
            object(json!({"id": "x", "otherMails": ["a"]})),
            Some(&["otherMails", "proxyAddresses", "mail"]),
        );
        assert_eq!(
            Value::Object(shaped),
            json!({"otherMails": ["a"], "proxyAddresses": [], "mail": null})
        );
        let default = USER.shape(object(json!({"id": "x", "employeeId": "7"})), None);
        assert_eq!(default.len(), USER.default_set.len());
        assert!(!default.contains_key("employeeId"), "returned only on $select");
        assert_eq!(default["businessPhones"], json!([]));
    }
}
