//! Graph's directory objects, as `GET /v1.0/users`, `/groups` and `/organization` return them: the
//! properties that building and verifying an identity map reads, with Graph's names.
//!
//! Hand-written (the identity-mapping schema does not hold them). Like the generated types, every declared
//! property is a [`Patch`] (absent when not `$select`ed, `null` when Graph has no value), properties and
//! annotations not declared here are kept in `additional_properties`, and a value round-trips to the same
//! JSON. Every type has a `SELECT` list to ask Graph for exactly what it declares, and a [`Compact`] encoding
//! for keeping many of them (the emulator's directories).
//!
//! ```
//! use crossmap_model::directory::{Group, User};
//! let user: User = serde_json::from_str(r#"{
//!     "id": "AAAAAAAA-0000-4000-8000-000000000001",
//!     "userPrincipalName": "ann_fabrikam.com#EXT#@contoso.onmicrosoft.com",
//!     "mail": "ann@fabrikam.com",
//!     "proxyAddresses": ["SMTP:ann@fabrikam.com"],
//!     "userType": "Guest",
//!     "accountEnabled": true,
//!     "employeeId": null,
//!     "jobTitle": "Partner"
//! }"#).unwrap();
//! assert!(user.is_guest() && user.is_external() && user.is_enabled());
//! assert!(user.employee_id.is_null());
//! assert_eq!(user.additional_properties["jobTitle"], "Partner");
//! let group: Group = serde_json::from_str(r#"{"groupTypes": ["Unified"], "mailNickname": "sales"}"#).unwrap();
//! assert!(group.is_microsoft_365());
//! assert!(User::SELECT.starts_with("id,userPrincipalName,"));
//! ```

use crate::compact::{self, Compact};
use crate::odata::{self, Text};
use crate::{Guid, Patch};
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde_json::{Map, Value};
use std::fmt;

/// Declares a directory type: the struct, its `SELECT` list, its serde code (declared properties in
/// declaration order, then the undeclared ones as received) and its [`Compact`] encoding (declared
/// properties in declaration order, undeclared ones, `@odata.type` included, as one JSON text).
macro_rules! directory_type {
    (
        $(#[$doc:meta])*
        $name:ident, $what:literal, select $select:literal {
            $( $(#[$fdoc:meta])* $field:ident: $ty:ty = $json:literal, )*
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fdoc])* #[doc = concat!("\n\nJSON name `", $json, "`.")] pub $field: Patch<$ty>, )*
            /// Properties and annotations not declared here, kept as received.
            pub additional_properties: Map<String, Value>,
        }

        impl $name {
            /// Every declared property's JSON name, in declaration order.
            pub const PROPERTIES: &'static [&'static str] = &[$($json),*];
            /// The `$select` list that asks Graph for every declared property.
            pub const SELECT: &'static str = $select;

            /// Writes declared property `name` (its JSON name) as an entry of `map`: its value, or `null`;
            /// nothing when it is absent or not declared. Whether it wrote one. For serialising a chosen
            /// subset of the properties without building a JSON tree first.
            pub fn serialize_property<M: SerializeMap>(&self, map: &mut M, name: &str) -> Result<bool, M::Error> {
                match name {
                    $( $json if !self.$field.is_absent() => {
                        self.$field.serialize_entry(map, $json)?;
                        Ok(true)
                    } )*
                    _ => Ok(false),
                }
            }
        }

        impl Compact for $name {
            fn encode(&self, out: &mut Vec<u8>) {
                let mut header = 0u64;
                let mut index = 0u32;
                $( header |= compact::presence(&self.$field, index); index += 1; )*
                let _ = index;
                if !self.additional_properties.is_empty() {
                    header |= compact::ADDITIONAL_BIT;
                }
                compact::write_varint(out, header);
                $( compact::write_property(out, &self.$field); )*
                compact::write_additional(out, &self.additional_properties);
            }
            fn decode(input: &mut &[u8]) -> Result<Self, compact::CompactError> {
                let header = compact::read_varint(input)?;
                if header & compact::ODATA_TYPE_BIT != 0 {
                    return Err(compact::CompactError("a directory object has no @odata.type slot"));
                }
                let mut out = $name::default();
                let mut index = 0u32;
                $( out.$field = compact::read_property(input, header, index)?; index += 1; )*
                let _ = index;
                // Directory objects keep their `@odata.type` among the undeclared properties, so not
                // `compact::read_additional`, which refuses it; a declared name there is refused as it is
                // for mappings (the JSON reader never keeps one there).
                if header & compact::ADDITIONAL_BIT != 0 {
                    out.additional_properties = serde_json::from_str(compact::read_str(input)?)
                        .map_err(|_| compact::CompactError("undeclared properties are not JSON"))?;
                }
                if out.additional_properties.keys().any(|k| $name::PROPERTIES.contains(&k.as_str())) {
                    return Err(compact::CompactError("an undeclared property has a declared name"));
                }
                Ok(out)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(None)?;
                $( self.$field.serialize_entry(&mut map, $json)?; )*
                for (k, v) in &self.additional_properties {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        let mut out = $name::default();
                        while let Some(key) = map.next_key::<Text<'de>>()? {
                            match key.as_str() {
                                $( $json => odata::read_property(&mut map, &mut out.$field, $json)?, )*
                                _ => odata::read_additional(&mut map, &mut out.additional_properties, key)?,
                            }
                        }
                        Ok(out)
                    }
                }
                deserializer.deserialize_map(V)
            }
        }
    };
}

directory_type! {
    /// A `microsoft.graph.user`: the properties that identify a person across tenants.
    User, "a microsoft.graph.user object",
    select "id,userPrincipalName,mail,otherMails,proxyAddresses,employeeId,onPremisesImmutableId,onPremisesSamAccountName,onPremisesSyncEnabled,userType,accountEnabled,creationType,externalUserState,displayName,givenName,surname,mailNickname" {
        /// The object id.
        id: Guid = "id",
        /// The sign-in name; guests' look like `ann_fabrikam.com#EXT#@contoso.onmicrosoft.com`.
        user_principal_name: String = "userPrincipalName",
        /// The primary SMTP address; a guest's real address.
        mail: String = "mail",
        /// Additional addresses, not necessarily unique in the tenant.
        other_mails: Vec<String> = "otherMails",
        /// Proxy addresses: `SMTP:` marks the primary, `smtp:` secondary ones, other prefixes other kinds.
        proxy_addresses: Vec<String> = "proxyAddresses",
        /// The employee identifier given by the organisation, at most 16 characters.
        employee_id: String = "employeeId",
        /// The on-premises Active Directory anchor (`$select` only).
        on_premises_immutable_id: String = "onPremisesImmutableId",
        /// The on-premises `sAMAccountName` (`$select` only).
        on_premises_sam_account_name: String = "onPremisesSamAccountName",
        /// Whether the account is synchronised from on-premises (`$select` only).
        on_premises_sync_enabled: bool = "onPremisesSyncEnabled",
        /// `Member` or `Guest`.
        user_type: String = "userType",
        /// Whether the account can sign in.
        account_enabled: bool = "accountEnabled",
        /// How a guest or local account was created: `Invitation`, `LocalAccount`, …
        creation_type: String = "creationType",
        /// A guest's invitation state: `PendingAcceptance` or `Accepted`.
        external_user_state: String = "externalUserState",
        /// The name shown in the address book; never unique.
        display_name: String = "displayName",
        /// The given name.
        given_name: String = "givenName",
        /// The surname.
        surname: String = "surname",
        /// The mail alias.
        mail_nickname: String = "mailNickname",
    }
}

directory_type! {
    /// A `microsoft.graph.group`: its kind and the names that identify it across tenants.
    Group, "a microsoft.graph.group object",
    select "id,displayName,mailNickname,mail,groupTypes,securityEnabled,mailEnabled,onPremisesSyncEnabled,proxyAddresses" {
        /// The object id.
        id: Guid = "id",
        /// The display name; not unique.
        display_name: String = "displayName",
        /// The mail alias; for a Microsoft 365 group, the identity map's name column.
        mail_nickname: String = "mailNickname",
        /// The primary SMTP address of a mail-enabled group.
        mail: String = "mail",
        /// `["Unified"]` for a Microsoft 365 group; `DynamicMembership` marks dynamic groups.
        group_types: Vec<String> = "groupTypes",
        /// Whether the group is a security group.
        security_enabled: bool = "securityEnabled",
        /// Whether the group is mail-enabled.
        mail_enabled: bool = "mailEnabled",
        /// Whether the group is synchronised from on-premises.
        on_premises_sync_enabled: bool = "onPremisesSyncEnabled",
        /// Proxy addresses, as for users.
        proxy_addresses: Vec<String> = "proxyAddresses",
    }
}

directory_type! {
    /// A `microsoft.graph.organization`: the tenant, whose id is the map's `SourceTenantCompanyID`.
    Organization, "a microsoft.graph.organization object",
    select "id,displayName,verifiedDomains" {
        /// The tenant id.
        id: Guid = "id",
        /// The organisation's name.
        display_name: String = "displayName",
        /// The domains the tenant has verified.
        verified_domains: Vec<VerifiedDomain> = "verifiedDomains",
    }
}

directory_type! {
    /// A `microsoft.graph.verifiedDomain` of an organization.
    VerifiedDomain, "a microsoft.graph.verifiedDomain object",
    select "capabilities,isDefault,isInitial,name,type" {
        /// What the domain is used for, e.g. `Email, OfficeCommunicationsOnline`.
        capabilities: String = "capabilities",
        /// Whether it is the default domain for new users.
        is_default: bool = "isDefault",
        /// Whether it is the initial `*.onmicrosoft.com` domain.
        is_initial: bool = "isInitial",
        /// The domain name, e.g. `contoso.com`.
        name: String = "name",
        /// `Managed` or `Federated`.
        type_: String = "type",
    }
}

impl User {
    /// Whether `userType` is `Guest` (compared without regard to case).
    pub fn is_guest(&self) -> bool {
        self.user_type
            .value()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("Guest"))
    }

    /// Whether the UPN marks an external identity (`#EXT#`): guests, and "external members".
    pub fn is_external(&self) -> bool {
        self.user_principal_name.value().is_some_and(|u| is_external_upn(u))
    }

    /// Whether the account is enabled: only an explicit `accountEnabled: false` says it is not.
    pub fn is_enabled(&self) -> bool {
        self.account_enabled.value() != Some(&false)
    }

    /// The SMTP addresses among `proxyAddresses`, prefix (`SMTP:` / `smtp:`) removed; other kinds skipped.
    pub fn smtp_addresses(&self) -> impl Iterator<Item = &str> {
        smtp_addresses(&self.proxy_addresses)
    }
}

impl Group {
    /// Whether `groupTypes` contains `Unified`: a Microsoft 365 group (the map's `m365Group`).
    pub fn is_microsoft_365(&self) -> bool {
        self.group_types
            .value()
            .is_some_and(|t| t.iter().any(|t| t.trim().eq_ignore_ascii_case("Unified")))
    }

    /// The SMTP addresses among `proxyAddresses`, prefix removed.
    pub fn smtp_addresses(&self) -> impl Iterator<Item = &str> {
        smtp_addresses(&self.proxy_addresses)
    }
}

impl Organization {
    /// The names of the verified domains, as received.
    pub fn domain_names(&self) -> impl Iterator<Item = &str> {
        self.verified_domains
            .value()
            .into_iter()
            .flatten()
            .filter_map(|d| d.name.value().map(String::as_str))
    }
}

/// Whether a UPN is an external identity's: it contains `#EXT#` (in any case).
///
/// ```
/// assert!(crossmap_model::directory::is_external_upn("ann_fabrikam.com#ext#@contoso.onmicrosoft.com"));
/// assert!(!crossmap_model::directory::is_external_upn("ann@contoso.com"));
/// ```
pub fn is_external_upn(upn: &str) -> bool {
    upn.as_bytes().windows(5).any(|w| w.eq_ignore_ascii_case(b"#EXT#"))
}

/// The address of an `SMTP:` / `smtp:` proxy address (prefix in any case), `None` for other kinds.
///
/// ```
/// use crossmap_model::directory::smtp_address;
/// assert_eq!(smtp_address("SMTP:Ann@Contoso.com"), Some("Ann@Contoso.com"));
/// assert_eq!(smtp_address("x500:/o=Contoso/cn=ann"), None);
/// ```
pub fn smtp_address(proxy: &str) -> Option<&str> {
    let proxy = proxy.trim();
    let head = proxy.get(..5)?;
    head.eq_ignore_ascii_case("smtp:").then(|| &proxy[5..])
}

fn smtp_addresses(proxies: &Patch<Vec<String>>) -> impl Iterator<Item = &str> {
    proxies.value().into_iter().flatten().filter_map(|p| smtp_address(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_user_round_trips_with_nulls_and_unknown_properties() {
        let v = json!({
            "@odata.type": "#microsoft.graph.user",
            "id": "aaaaaaaa-0000-4000-8000-000000000001",
            "userPrincipalName": "Ann@Contoso.com",
            "mail": null,
            "otherMails": [],
            "proxyAddresses": ["SMTP:ann@contoso.com", "smtp:a@contoso.com", "SIP:ann@contoso.com"],
            "accountEnabled": false,
            "onPremisesExtensionAttributes": {"extensionAttribute1": "x"}
        });
        let u: User = serde_json::from_value(v.clone()).unwrap();
        assert!(u.mail.is_null() && u.employee_id.is_absent());
        assert!(!u.is_enabled() && !u.is_guest() && !u.is_external());
        assert_eq!(
            u.smtp_addresses().collect::<Vec<_>>(),
            ["ann@contoso.com", "a@contoso.com"]
        );
        assert_eq!(u.additional_properties.len(), 2);
        assert_eq!(serde_json::to_value(&u).unwrap(), v);
    }

    #[test]
    fn an_organization_round_trips_its_domains() {
        let v = json!({
            "id": "11111111-1111-1111-1111-111111111111",
            "displayName": "Contoso",
            "verifiedDomains": [
                {"capabilities": "Email", "isDefault": true, "isInitial": false, "name": "contoso.com", "type": "Managed"},
                {"name": "contoso.onmicrosoft.com", "isInitial": true, "future": 1}
            ]
        });
        let o: Organization = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(
            o.domain_names().collect::<Vec<_>>(),
            ["contoso.com", "contoso.onmicrosoft.com"]
        );
        assert_eq!(o.verified_domains.value().unwrap()[0].type_.value().unwrap(), "Managed");
        assert_eq!(serde_json::to_value(&o).unwrap(), v);
    }

    #[test]
    fn group_kinds_and_bad_values() {
        let g: Group = serde_json::from_value(json!({"groupTypes": ["DynamicMembership", "unified"]})).unwrap();
        assert!(g.is_microsoft_365());
        let g: Group = serde_json::from_value(json!({"groupTypes": [], "securityEnabled": true})).unwrap();
        assert!(!g.is_microsoft_365());
        let e = serde_json::from_value::<Group>(json!({"id": "not-a-guid"})).unwrap_err();
        assert!(e.to_string().contains("not a GUID"), "{e}");
        let e = serde_json::from_str::<User>(r#"{"mail":"a@b","mail":"c@d"}"#).unwrap_err();
        assert!(e.to_string().contains("duplicate field `mail`"), "{e}");
    }

    #[test]
    fn compact_encoding_round_trips_absent_null_values_and_extras() {
        let user: User = serde_json::from_value(json!({
            "id": "aaaaaaaa-0000-4000-8000-000000000001",
            "userPrincipalName": "ann_fabrikam.com#EXT#@contoso.onmicrosoft.com",
            "mail": null,
            "otherMails": ["a@b.c"],
            "accountEnabled": false,
            "mailNickname": "ann",
            "@odata.type": "#microsoft.graph.user",
            "jobTitle": "Partner"
        }))
        .unwrap();
        let bytes = user.to_compact();
        assert_eq!(User::from_compact(&bytes).unwrap(), user);
        let org: Organization = serde_json::from_value(json!({
            "id": "11111111-1111-1111-1111-111111111111",
            "verifiedDomains": [{"name": "contoso.com", "isDefault": true}, {"name": "x", "type": null}]
        }))
        .unwrap();
        assert_eq!(Organization::from_compact(&org.to_compact()).unwrap(), org);
        assert!(Group::from_compact(&[0xff, 0xff, 0xff]).is_err());
        // Equal values encode to equal bytes; a changed value changes them.
        let mut other = user.clone();
        other.mail = Patch::Absent;
        assert_ne!(other.to_compact(), bytes);
    }

    #[test]
    fn one_property_at_a_time_serialises_as_the_whole_does() {
        struct Some<'a>(&'a User, &'a [&'a str]);
        impl serde::Serialize for Some<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(None)?;
                for name in self.1 {
                    self.0.serialize_property(&mut map, name)?;
                }
                map.end()
            }
        }
        let user: User = serde_json::from_value(
            json!({"id": "aaaaaaaa-0000-4000-8000-000000000001", "mail": null, "otherMails": ["a@b"], "jobTitle": "x"}),
        )
        .unwrap();
        let names = ["otherMails", "mail", "employeeId", "jobTitle", "id"];
        assert_eq!(
            serde_json::to_value(Some(&user, &names)).unwrap(),
            json!({"otherMails": ["a@b"], "mail": null, "id": "aaaaaaaa-0000-4000-8000-000000000001"}),
            "absent and undeclared properties are left out"
        );
    }

    #[test]
    fn select_lists_name_every_declared_property() {
        assert_eq!(User::SELECT, User::PROPERTIES.join(","));
        assert_eq!(Group::SELECT, Group::PROPERTIES.join(","));
        assert_eq!(Organization::SELECT, Organization::PROPERTIES.join(","));
        assert_eq!(VerifiedDomain::SELECT, VerifiedDomain::PROPERTIES.join(","));
    }
}
