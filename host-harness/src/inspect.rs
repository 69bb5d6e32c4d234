//! Describe a component: its WIT package, imports and exports, size and sha256.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;
use wit_component::DecodedWasm;
use wit_parser::{Resolve, Type, TypeDefKind, WorldItem, WorldKey};

use crate::signing::VerifiedPlugin;

/// The component's WIT could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode the component type of {path}: {message}; build it with `make build`")]
pub struct InspectError {
    pub path: PathBuf,
    pub message: String,
}

/// One imported or exported item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// `idp:account-lockdown/platform@0.1.0`, or a bare function's name.
    pub name: String,
    /// The interface's functions, as `name(param: type, ...) -> result`.
    pub functions: Vec<String>,
}

/// What `stage-harness inspect` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub path: String,
    pub size: usize,
    pub sha256: String,
    pub signed_by: Vec<String>,
    pub verified: bool,
    /// The WIT packages (with versions) the imports and exports come from.
    pub packages: Vec<String>,
    pub imports: Vec<Item>,
    pub exports: Vec<Item>,
}

/// Decode the component type of an already-verified plugin.
pub fn inspect(plugin: &VerifiedPlugin) -> Result<Inspection, InspectError> {
    let decoded = wit_component::decode(&plugin.bytes).map_err(|e| InspectError {
        path: plugin.path.clone(),
        message: format!("{e:#}"),
    })?;
    let DecodedWasm::Component(resolve, world) = decoded else {
        return Err(InspectError {
            path: plugin.path.clone(),
            message: "it is a WIT package, not a component".to_owned(),
        });
    };
    let world = &resolve.worlds[world];
    let mut packages = Vec::new();
    let imports = (world.imports.iter())
        .filter_map(|(key, item)| describe(&resolve, key, item, &mut packages))
        .collect();
    let exports = (world.exports.iter())
        .filter_map(|(key, item)| describe(&resolve, key, item, &mut packages))
        .collect();
    Ok(Inspection {
        path: plugin.path.display().to_string(),
        size: plugin.bytes.len(),
        sha256: plugin.sha256.clone(),
        signed_by: plugin.signed_by.clone(),
        verified: plugin.verified,
        packages,
        imports,
        exports,
    })
}

fn describe(
    resolve: &Resolve,
    key: &WorldKey,
    item: &WorldItem,
    packages: &mut Vec<String>,
) -> Option<Item> {
    let signature = |f: &wit_parser::Function| {
        let params: Vec<String> = (f.params.iter())
            .map(|p| format!("{}: {}", p.name, type_name(resolve, &p.ty)))
            .collect();
        let result = match &f.result {
            Some(ty) => format!(" -> {}", type_name(resolve, ty)),
            None => String::new(),
        };
        format!("{}({}){result}", f.name, params.join(", "))
    };
    match item {
        WorldItem::Interface { id, .. } => {
            let interface = &resolve.interfaces[*id];
            if let Some(package) = interface.package {
                let name = resolve.packages[package].name.to_string();
                if !packages.contains(&name) {
                    packages.push(name);
                }
            }
            Some(Item {
                name: resolve.name_world_key(key),
                functions: interface.functions.values().map(signature).collect(),
            })
        }
        WorldItem::Function(function) => Some(Item {
            name: resolve.name_world_key(key),
            functions: vec![signature(function)],
        }),
        WorldItem::Type { .. } => None,
    }
}

/// A WIT type as WIT source spells it: its name when it has one, else its shape.
fn type_name(resolve: &Resolve, ty: &Type) -> String {
    let id = match ty {
        Type::Bool => return "bool".into(),
        Type::U8 => return "u8".into(),
        Type::U16 => return "u16".into(),
        Type::U32 => return "u32".into(),
        Type::U64 => return "u64".into(),
        Type::S8 => return "s8".into(),
        Type::S16 => return "s16".into(),
        Type::S32 => return "s32".into(),
        Type::S64 => return "s64".into(),
        Type::F32 => return "f32".into(),
        Type::F64 => return "f64".into(),
        Type::Char => return "char".into(),
        Type::String => return "string".into(),
        Type::ErrorContext => return "error-context".into(),
        Type::Id(id) => *id,
    };
    let def = &resolve.types[id];
    if let Some(name) = &def.name {
        return name.clone();
    }
    let name = |ty: &Type| type_name(resolve, ty);
    let maybe = |ty: &Option<Type>| ty.as_ref().map_or("_".to_owned(), name);
    match &def.kind {
        TypeDefKind::Option(ty) => format!("option<{}>", name(ty)),
        TypeDefKind::Result(r) => match (&r.ok, &r.err) {
            (None, None) => "result".to_owned(),
            (ok, None) => format!("result<{}>", maybe(ok)),
            (ok, err) => format!("result<{}, {}>", maybe(ok), maybe(err)),
        },
        TypeDefKind::List(ty) => format!("list<{}>", name(ty)),
        TypeDefKind::Tuple(t) => {
            let items: Vec<String> = t.types.iter().map(name).collect();
            format!("tuple<{}>", items.join(", "))
        }
        TypeDefKind::Type(ty) => name(ty),
        other => other.as_str().to_owned(),
    }
}

impl Inspection {
    /// The readable description `stage-harness inspect` prints.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let w = &mut out;
        let _ = writeln!(w, "component  {}", self.path);
        let _ = writeln!(w, "size       {} bytes", self.size);
        let _ = writeln!(w, "sha256     {}", self.sha256);
        let signature = if self.verified {
            format!("signed by {}", self.signed_by.join(", "))
        } else {
            "not verified (--allow-unsigned)".to_owned()
        };
        let _ = writeln!(w, "signature  {signature}");
        let _ = writeln!(w, "package    {}", self.packages.join(", "));
        for (title, items) in [("imports", &self.imports), ("exports", &self.exports)] {
            let _ = writeln!(w, "{title}");
            if items.is_empty() {
                let _ = writeln!(w, "  (none)");
            }
            for item in items.iter() {
                let _ = writeln!(w, "  {}", item.name);
                for function in &item.functions {
                    let _ = writeln!(w, "    {function}");
                }
            }
        }
        out
    }
}
