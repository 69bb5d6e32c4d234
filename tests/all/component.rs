//! The built component (`dist/account-lockdown.wasm`, from `make build`): it validates,
//! imports exactly our host interface (no WASI, no ambient authority), exports exactly
//! the stage, stays within the size budget, and keeps its memory bounded when one
//! instance serves many calls.

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

/// A platform may keep one instance and call `execute` on it again and again (the
/// harness instantiates per run, so only this test does that). The plugin's allocator
/// starts over once every block of a call is freed (the returned message by the
/// post-return function), so the linear memory must stop growing after the first
/// calls, whatever the outcome and however large the context.
mod reuse {
    use wasmtime::component::{Component, HasSelf, Linker};
    use wasmtime::{Engine, ResourceLimiter, Store};

    use super::COMPONENT;
    use crate::common::read_dist;

    wasmtime::component::bindgen!({
        world: "account-lockdown",
        path: "../wit",
        additional_derives: [PartialEq],
    });

    use idp::account_lockdown::types::{
        CompletionFlow, Event, FlowAuthentication, HostError, LogLevel, Outcome, Settings, User,
        UserKind,
    };

    /// A platform that always lets the actor (pk 1) lock bob (pk 2), and records the
    /// largest linear memory the plugin asked for.
    #[derive(Default)]
    struct Host {
        memory: usize,
    }

    impl ResourceLimiter for Host {
        fn memory_growing(
            &mut self,
            _: usize,
            desired: usize,
            _: Option<usize>,
        ) -> wasmtime::Result<bool> {
            self.memory = self.memory.max(desired);
            Ok(true)
        }

        fn table_growing(
            &mut self,
            _: usize,
            _: usize,
            _: Option<usize>,
        ) -> wasmtime::Result<bool> {
            Ok(true)
        }
    }

    fn user(pk: u64, username: &str) -> User {
        let (username, kind) = (username.into(), UserKind::Internal);
        User { pk, username, kind }
    }

    impl idp::account_lockdown::types::Host for Host {}

    impl idp::account_lockdown::platform::Host for Host {
        fn get_pending_user(&mut self) -> Result<Option<User>, HostError> {
            Ok(Some(user(2, "bob")))
        }
        fn get_actor(&mut self) -> Result<Option<User>, HostError> {
            Ok(Some(user(1, "alice")))
        }
        fn can_change_user(&mut self, _: u64) -> Result<bool, HostError> {
            Ok(true)
        }
        fn set_inactive(&mut self, _: u64) -> Result<(), HostError> {
            Ok(())
        }
        fn clear_password(&mut self, _: u64) -> Result<(), HostError> {
            Ok(())
        }
        fn delete_sessions(&mut self, _: u64) -> Result<u32, HostError> {
            Ok(0)
        }
        fn revoke_tokens(&mut self, _: u64) -> Result<u32, HostError> {
            Err(HostError::Failed("storage refused the write".into()))
        }
        fn emit_event(&mut self, _: Event) -> Result<(), HostError> {
            Ok(())
        }
        fn redirect(&mut self, _: String) -> Result<(), HostError> {
            Ok(())
        }
        fn log(&mut self, _: LogLevel, _: String) {}
    }

    #[test]
    fn a_reused_instance_stops_growing_its_memory() {
        let engine = Engine::default();
        let component = Component::new(&engine, read_dist(COMPONENT)).expect("compiles");
        let mut linker = Linker::new(&engine);
        AccountLockdown::add_to_linker::<Host, HasSelf<Host>>(&mut linker, |host| host)
            .expect("links");
        let mut store = Store::new(&engine, Host::default());
        store.limiter(|host| host);
        let plugin =
            AccountLockdown::instantiate(&mut store, &component, &linker).expect("instantiates");

        // A 64 KiB reason; revoke-tokens fails, so with `revoke_tokens` on the stage
        // returns a message (freed by post-return) and with it off it continues.
        let context = format!(r#"{{"lockdown_reason": "{}"}}"#, "x".repeat(64 << 10));
        let settings = |revoke_tokens| Settings {
            deactivate_user: true,
            set_unusable_password: true,
            delete_sessions: true,
            revoke_tokens,
            completion_flow: Some(CompletionFlow {
                slug: "done".into(),
                authentication: FlowAuthentication::None,
            }),
        };
        let call = |store: &mut Store<Host>, revoke_tokens| {
            plugin
                .idp_account_lockdown_stage()
                .call_execute(&mut *store, &settings(revoke_tokens), &context)
                .expect("execute returns")
        };
        let invalid = Outcome::Invalid("Account lockdown failed for this account.".into());
        for _ in 0..4 {
            assert_eq!(call(&mut store, true), invalid);
            assert_eq!(call(&mut store, false), Outcome::Continue);
        }
        let warmed_up = store.data().memory;
        for _ in 0..200 {
            assert_eq!(call(&mut store, true), invalid);
            assert_eq!(call(&mut store, false), Outcome::Continue);
        }
        assert_eq!(
            store.data().memory,
            warmed_up,
            "400 more calls on one instance grew its memory"
        );
    }
}
