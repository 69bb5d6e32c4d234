//! The built component (`dist/account-lockdown.wasm`, from `make build`): it validates,
//! imports exactly our host interface (no WASI, no ambient authority), exports exactly
//! the stage, and stays within the size budget.

use wasmparser::{Parser, Payload, Validator, WasmFeatures};

use crate::common::read_dist;

const COMPONENT: &str = "account-lockdown.wasm";
/// 48 KiB: the size budget the plugin is held to (issue 2).
const SIZE_BUDGET: usize = 49_152;

const EXPECTED_IMPORTS: &[&str] = &[
    "idp:account-lockdown/types@0.1.0",
    "idp:account-lockdown/platform@0.1.0",
];
const EXPECTED_EXPORTS: &[&str] = &["idp:account-lockdown/stage@0.1.0"];

/// Names imported and exported by the outermost component, and the module names every
/// nested core module imports from.
#[derive(Debug, Default)]
struct Surface {
    imports: Vec<String>,
    exports: Vec<String>,
    core_import_modules: Vec<String>,
}

fn surface(bytes: &[u8]) -> Surface {
    let mut surface = Surface::default();
    // Nesting depth: 0 inside the outer component, deeper inside nested modules.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.expect("the component parses") {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(section) if depth == 0 => {
                for import in section {
                    surface
                        .imports
                        .push(import.unwrap().name.full_name().into_owned());
                }
            }
            Payload::ComponentExportSection(section) if depth == 0 => {
                for export in section {
                    surface
                        .exports
                        .push(export.unwrap().name.full_name().into_owned());
                }
            }
            Payload::ImportSection(section) => {
                for import in section.into_imports() {
                    surface
                        .core_import_modules
                        .push(import.unwrap().module.to_owned());
                }
            }
            _ => {}
        }
    }
    surface
}

#[test]
fn component_validates_as_a_component() {
    let bytes = read_dist(COMPONENT);
    assert!(
        Parser::is_component(&bytes),
        "dist/{COMPONENT} is a core module, not a component; rebuild it with `make build`"
    );
    let features = WasmFeatures::default() | WasmFeatures::COMPONENT_MODEL;
    Validator::new_with_features(features)
        .validate_all(&bytes)
        .expect("dist/account-lockdown.wasm validates");
}

#[test]
fn component_imports_exactly_our_host_interface() {
    let imports = surface(&read_dist(COMPONENT)).imports;
    assert_eq!(imports, EXPECTED_IMPORTS);
}

#[test]
fn component_exports_exactly_the_stage() {
    let exports = surface(&read_dist(COMPONENT)).exports;
    assert_eq!(exports, EXPECTED_EXPORTS);
}

#[test]
fn component_has_no_wasi_anywhere() {
    let bytes = read_dist(COMPONENT);
    let surface = surface(&bytes);
    let names = surface
        .imports
        .iter()
        .chain(&surface.exports)
        .chain(&surface.core_import_modules);
    for name in names {
        assert!(!name.starts_with("wasi"), "unexpected WASI name {name:?}");
    }
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !text.contains("wasi:"),
        "the component mentions a wasi: interface"
    );
    assert!(
        !text.contains("wasi_snapshot"),
        "the component mentions WASI preview 1"
    );
}

#[test]
fn component_fits_the_size_budget() {
    let len = read_dist(COMPONENT).len();
    assert!(
        len <= SIZE_BUDGET,
        "dist/{COMPONENT} is {len} bytes, over the {SIZE_BUDGET}-byte budget"
    );
}
