//! The subset of CSDL (OData's XML schema language) that crossmap's schema uses, parsed into plain structs.

use crate::CodegenError;
use roxmltree::{Document, Node};

const EDM_NS: &str = "http://docs.oasis-open.org/odata/ns/edm";
const DESCRIPTION: &str = "Org.OData.Core.V1.Description";
const ALTERNATE_KEYS: &str = "OData.Community.Keys.V1.AlternateKeys";

/// A parsed schema: one namespace's enums, complex and entity types, and its container's singletons.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    /// The namespace, e.g. `microsoft.graph`.
    pub namespace: String,
    /// The namespace's alias, e.g. `graph`.
    pub alias: Option<String>,
    /// Enum types in schema order.
    pub enums: Vec<EnumType>,
    /// Complex types in schema order.
    pub complex_types: Vec<StructType>,
    /// Entity types in schema order.
    pub entity_types: Vec<StructType>,
    /// The entity container's singletons: (name, type).
    pub singletons: Vec<(String, String)>,
}

/// An enum type and its members in order.
#[derive(Debug, Clone)]
pub struct EnumType {
    /// The type's name.
    pub name: String,
    /// The members' names, in order.
    pub members: Vec<String>,
    /// Its Core.Description.
    pub description: Option<String>,
}

/// A complex or entity type.
#[derive(Debug, Clone)]
pub struct StructType {
    /// The type's name.
    pub name: String,
    /// The local name of the base type, if any.
    pub base: Option<String>,
    /// Whether the type is abstract.
    pub is_abstract: bool,
    /// Structural properties declared on this type (not inherited ones).
    pub properties: Vec<Property>,
    /// Navigation properties declared on this type.
    pub navigation: Vec<Navigation>,
    /// Alternate keys: (alias, property path).
    pub alternate_keys: Vec<(String, String)>,
    /// Its Core.Description.
    pub description: Option<String>,
}

/// A structural property.
#[derive(Debug, Clone)]
pub struct Property {
    /// The JSON name.
    pub name: String,
    /// The type as resolved against the schema.
    pub ty: TypeRef,
    /// Whether `null` is an allowed value.
    pub nullable: bool,
    /// Its Core.Description.
    pub description: Option<String>,
}

/// A navigation property.
#[derive(Debug, Clone)]
pub struct Navigation {
    /// The property's name (the URL segment).
    pub name: String,
    /// The target type.
    pub ty: TypeRef,
}

/// A property's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeRef {
    /// An `Edm.*` primitive, by its full name.
    Primitive(String),
    /// An enum type of this schema, by local name.
    Enum(String),
    /// A complex type of this schema, by local name.
    Complex(String),
    /// An entity type of this schema, by local name.
    Entity(String),
    /// `Collection(T)`.
    Collection(Box<TypeRef>),
}

impl TypeRef {
    /// The type as written in CSDL with the namespace spelled out, e.g. `microsoft.graph.identity`.
    pub fn edm_name(&self, namespace: &str) -> String {
        match self {
            TypeRef::Primitive(p) => p.clone(),
            TypeRef::Enum(n) | TypeRef::Complex(n) | TypeRef::Entity(n) => {
                format!("{namespace}.{n}")
            }
            TypeRef::Collection(inner) => format!("Collection({})", inner.edm_name(namespace)),
        }
    }
}

impl Schema {
    /// Looks a structured type up by local name.
    pub fn struct_type(&self, name: &str) -> Option<&StructType> {
        self.complex_types
            .iter()
            .chain(&self.entity_types)
            .find(|t| t.name == name)
    }

    /// All properties of a type, inherited ones first, as Graph lists them.
    pub fn all_properties(&self, ty: &StructType) -> Vec<Property> {
        let mut props = match ty.base.as_deref().and_then(|b| self.struct_type(b)) {
            Some(base) => self.all_properties(base),
            None => Vec::new(),
        };
        props.extend(ty.properties.iter().cloned());
        props
    }

    /// Every containment collection reachable from a singleton: (URL path, element type).
    pub fn collections(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, ty) in &self.singletons {
            self.walk(name.clone(), ty, &mut out, 0);
        }
        out
    }

    fn walk(&self, path: String, ty: &str, out: &mut Vec<(String, String)>, depth: usize) {
        let Some(t) = self.struct_type(ty) else {
            return;
        };
        if depth > 8 {
            return;
        }
        for nav in &t.navigation {
            let child = format!("{path}/{}", nav.name);
            match &nav.ty {
                TypeRef::Collection(inner) => {
                    if let TypeRef::Entity(e) = inner.as_ref() {
                        out.push((child, e.clone()));
                    }
                }
                TypeRef::Entity(e) => self.walk(child, e, out, depth + 1),
                _ => {}
            }
        }
    }
}

fn err(msg: impl Into<String>) -> CodegenError {
    CodegenError::Schema(msg.into())
}

fn edm<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children()
        .filter(|c| c.is_element() && c.tag_name().namespace() == Some(EDM_NS))
}

fn attr<'a>(node: Node<'a, '_>, name: &str) -> Result<&'a str, CodegenError> {
    node.attribute(name).ok_or_else(|| {
        err(format!(
            "<{}> at byte {} lacks {name}",
            node.tag_name().name(),
            node.range().start
        ))
    })
}

fn description(node: Node<'_, '_>) -> Option<String> {
    edm(node)
        .find(|c| c.has_tag_name((EDM_NS, "Annotation")) && c.attribute("Term") == Some(DESCRIPTION))
        .and_then(|c| c.attribute("String"))
        .map(str::to_owned)
}

/// Parses the schema document.
pub(crate) fn parse(xml: &str) -> Result<Schema, CodegenError> {
    let doc = Document::parse(xml)?;
    let schema_node = doc
        .descendants()
        .find(|n| n.has_tag_name((EDM_NS, "Schema")))
        .ok_or_else(|| err("no <Schema> element in the edm namespace"))?;
    let mut schema = Schema {
        namespace: attr(schema_node, "Namespace")?.to_owned(),
        alias: schema_node.attribute("Alias").map(str::to_owned),
        ..Schema::default()
    };
    // Names first, so that type references can be resolved regardless of declaration order.
    let names: Vec<(&str, &str)> = edm(schema_node)
        .filter_map(|n| Some((n.tag_name().name(), n.attribute("Name")?)))
        .collect();
    let resolve = |raw: &str| resolve_type(raw, &schema.namespace, schema.alias.as_deref(), &names);
    let mut enums = Vec::new();
    let mut complex = Vec::new();
    let mut entities = Vec::new();
    let mut singletons = Vec::new();
    for node in edm(schema_node) {
        match node.tag_name().name() {
            "EnumType" => enums.push(EnumType {
                name: attr(node, "Name")?.to_owned(),
                members: edm(node)
                    .filter(|m| m.has_tag_name((EDM_NS, "Member")))
                    .map(|m| attr(m, "Name").map(str::to_owned))
                    .collect::<Result<_, _>>()?,
                description: description(node),
            }),
            kind @ ("ComplexType" | "EntityType") => {
                let ty = parse_struct(node, &resolve)?;
                if kind == "ComplexType" {
                    complex.push(ty)
                } else {
                    entities.push(ty)
                }
            }
            "EntityContainer" => {
                for s in edm(node).filter(|s| s.has_tag_name((EDM_NS, "Singleton"))) {
                    let ty = match resolve(attr(s, "Type")?)? {
                        TypeRef::Entity(e) => e,
                        other => {
                            return Err(err(format!("singleton of non-entity type {other:?}")));
                        }
                    };
                    singletons.push((attr(s, "Name")?.to_owned(), ty));
                }
            }
            other => return Err(err(format!("unsupported schema element <{other}>"))),
        }
    }
    schema.enums = enums;
    schema.complex_types = complex;
    schema.entity_types = entities;
    schema.singletons = singletons;
    for ty in schema.complex_types.iter().chain(&schema.entity_types) {
        if let Some(base) = &ty.base {
            if schema.struct_type(base).is_none() {
                return Err(err(format!("{}: unknown base type {base}", ty.name)));
            }
        }
    }
    Ok(schema)
}

fn parse_struct(
    node: Node<'_, '_>,
    resolve: &dyn Fn(&str) -> Result<TypeRef, CodegenError>,
) -> Result<StructType, CodegenError> {
    let name = attr(node, "Name")?.to_owned();
    let base = match node.attribute("BaseType") {
        Some(b) => match resolve(b)? {
            TypeRef::Complex(n) | TypeRef::Entity(n) => Some(n),
            other => {
                return Err(err(format!("{name}: base type {other:?} is not structured")));
            }
        },
        None => None,
    };
    let mut ty = StructType {
        name,
        base,
        is_abstract: node.attribute("Abstract") == Some("true"),
        properties: Vec::new(),
        navigation: Vec::new(),
        alternate_keys: Vec::new(),
        description: description(node),
    };
    for child in edm(node) {
        match child.tag_name().name() {
            "Property" => ty.properties.push(Property {
                name: attr(child, "Name")?.to_owned(),
                ty: resolve(attr(child, "Type")?)?,
                nullable: child.attribute("Nullable") != Some("false"),
                description: description(child),
            }),
            "NavigationProperty" => ty.navigation.push(Navigation {
                name: attr(child, "Name")?.to_owned(),
                ty: resolve(attr(child, "Type")?)?,
            }),
            "Annotation" if child.attribute("Term") == Some(ALTERNATE_KEYS) => {
                ty.alternate_keys = parse_alternate_keys(child)?;
            }
            "Key" | "Annotation" => {}
            other => return Err(err(format!("{}: unsupported element <{other}>", ty.name))),
        }
    }
    Ok(ty)
}

/// Reads `Alias` / `Name` pairs out of an `OData.Community.Keys.V1.AlternateKeys` annotation.
fn parse_alternate_keys(annotation: Node<'_, '_>) -> Result<Vec<(String, String)>, CodegenError> {
    let mut keys = Vec::new();
    for record in annotation.descendants().filter(|n| {
        n.has_tag_name((EDM_NS, "Record")) && n.attribute("Type") == Some("OData.Community.Keys.V1.PropertyRef")
    }) {
        let value = |prop: &str, attr_name: &str| {
            edm(record)
                .find(|p| p.attribute("Property") == Some(prop))
                .and_then(|p| p.attribute(attr_name))
                .map(str::to_owned)
                .ok_or_else(|| err(format!("alternate key record lacks {prop}")))
        };
        keys.push((value("Alias", "String")?, value("Name", "PropertyPath")?));
    }
    if keys.is_empty() {
        return Err(err("AlternateKeys annotation without any key"));
    }
    Ok(keys)
}

fn resolve_type(
    raw: &str,
    namespace: &str,
    alias: Option<&str>,
    names: &[(&str, &str)],
) -> Result<TypeRef, CodegenError> {
    if let Some(inner) = raw.strip_prefix("Collection(").and_then(|r| r.strip_suffix(')')) {
        return Ok(TypeRef::Collection(Box::new(resolve_type(
            inner, namespace, alias, names,
        )?)));
    }
    if raw.starts_with("Edm.") {
        return Ok(TypeRef::Primitive(raw.to_owned()));
    }
    let local = raw
        .strip_prefix(namespace)
        .or_else(|| alias.and_then(|a| raw.strip_prefix(a)))
        .and_then(|r| r.strip_prefix('.'))
        .ok_or_else(|| err(format!("type {raw} is outside namespace {namespace}")))?;
    match names.iter().find(|(_, n)| *n == local) {
        Some(("EnumType", _)) => Ok(TypeRef::Enum(local.to_owned())),
        Some(("ComplexType", _)) => Ok(TypeRef::Complex(local.to_owned())),
        Some(("EntityType", _)) => Ok(TypeRef::Entity(local.to_owned())),
        _ => Err(err(format!("unknown type {raw}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_committed_schema() {
        let xml = include_str!("../../../schema/crossmap.csdl.xml");
        let schema = parse(xml).unwrap();
        assert_eq!(schema.namespace, "microsoft.graph");
        let group = schema.struct_type("sharePointGroupIdentityMapping").unwrap();
        let names: Vec<_> = schema.all_properties(group).into_iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "id",
                "deleted",
                "sourceOrganizationId",
                "groupType",
                "sourceGroupIdentity",
                "targetGroupIdentity",
                "targetGroupMigrationData"
            ]
        );
        assert_eq!(
            group.alternate_keys,
            [("sourceGroupObjectId".to_owned(), "sourceGroupIdentity/id".to_owned())]
        );
        assert_eq!(
            schema.collections(),
            [
                (
                    "solutions/sharePoint/migrations/crossOrganizationGroupMappings".to_owned(),
                    "sharePointGroupIdentityMapping".to_owned()
                ),
                (
                    "solutions/sharePoint/migrations/crossOrganizationUserMappings".to_owned(),
                    "sharePointUserIdentityMapping".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn refuses_unknown_types() {
        let xml = r#"<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>
            <Schema Namespace="n" xmlns="http://docs.oasis-open.org/odata/ns/edm">
            <ComplexType Name="a"><Property Name="p" Type="n.missing"/></ComplexType></Schema></edmx:DataServices></edmx:Edmx>"#;
        let e = parse(xml).unwrap_err().to_string();
        assert!(e.contains("unknown type n.missing"), "{e}");
    }
}
