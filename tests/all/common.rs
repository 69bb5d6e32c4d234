//! Shared helpers for the integration tests.

use std::path::{Path, PathBuf};

/// The workspace root (the harness crate lives one folder below it).
pub fn workspace_root() -> PathBuf {
    let harness_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    harness_dir
        .parent()
        .expect("host-harness lives one folder below the workspace root")
        .to_owned()
}

/// `dist/<name>` under the workspace root; panics with the command that makes it when
/// the file is missing (`account-lockdown.wasm` comes from `make build`).
pub fn dist_file(name: &str) -> PathBuf {
    let path = workspace_root().join("dist").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `make build` first",
        path.display()
    );
    path
}

/// The bytes of `dist/<name>` (see [`dist_file`]).
pub fn read_dist(name: &str) -> Vec<u8> {
    let path = dist_file(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

use std::sync::OnceLock;

use stage_harness::signing::{TrustPolicy, VerifiedPlugin, load_plugin};
use stage_harness::{Harness, Limits, Plugin, Report, Scenario};

/// The unsigned component `make build` writes.
pub const COMPONENT: &str = "account-lockdown.wasm";

/// The real component, compiled once for the whole test binary (loaded unsigned: the
/// signing tests cover verification).
pub fn plugin() -> &'static Plugin {
    static PLUGIN: OnceLock<Plugin> = OnceLock::new();
    PLUGIN.get_or_init(|| {
        let path = dist_file(COMPONENT);
        let verified = load_plugin(&path, &TrustPolicy::AllowUnsigned)
            .unwrap_or_else(|e| panic!("{e}; run `make build` first"));
        harness().load(&verified).unwrap_or_else(|e| panic!("{e}"))
    })
}

/// One harness (engine, linker, epoch ticker) for every test.
pub fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| Harness::new(Limits::default()).expect("wasmtime starts"))
}

/// Parse scenario JSON (validated like a file named `inline.json`).
pub fn scenario(json: &str) -> Scenario {
    Scenario::parse(json, Path::new("inline.json")).unwrap_or_else(|e| panic!("{e}"))
}

/// Run scenario JSON through the real component.
pub fn run(json: &str) -> Report {
    plugin().run(&scenario(json), "inline.json")
}

/// A component for the `account-lockdown` world whose `execute` runs `body`, a core
/// wasm instruction sequence that leaves the outcome's return-area address (an i32) on
/// the stack. The module has one page of memory; address 16 is free for the outcome
/// and 64.. holds `data` (for strings the outcome points at).
pub fn wat_component(body: &str, data: &str) -> Vec<u8> {
    let wat = format!(
        r#"(module
  (memory (export "memory") 1)
  (data (i32.const 64) "{data}")
  (global $heap (mut i32) (i32.const 4096))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (i32.add (local.get 3) (i32.const 8))))
    (local.get $ptr))
  (func (export "idp:account-lockdown/stage@0.1.0#execute")
    (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
    {body}))"#
    );
    encode_component(&wat, None)
}

/// Encode the core module `wat` as a component of the `account-lockdown` world, or of
/// `(package_wit, world)` when given: a WIT package pushed beside `wit/`, so it may use
/// the contract's interfaces.
pub fn encode_component(wat: &str, other_world: Option<(&str, &str)>) -> Vec<u8> {
    let mut module = wat::parse_str(wat).unwrap_or_else(|e| panic!("{e}\n{wat}"));
    let mut resolve = wit_parser::Resolve::default();
    let (contract, _) = resolve
        .push_dir(workspace_root().join("wit"))
        .expect("wit/ parses");
    let (package, world) = match other_world {
        None => (contract, "account-lockdown"),
        Some((package_wit, world)) => {
            let package = resolve
                .push_str("other.wit", package_wit)
                .expect("the WIT parses");
            (package, world)
        }
    };
    let world = resolve
        .select_world(&[package], Some(world))
        .expect("the world exists");
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
        false,
    )
    .expect("metadata embeds");
    wit_component::ComponentEncoder::default()
        .module(&module)
        .expect("the module fits the world")
        .validate(true)
        .encode()
        .expect("the component encodes")
}

/// `execute` body that returns `continue`.
pub const RETURN_CONTINUE: &str = "(i32.store (i32.const 16) (i32.const 0)) (i32.const 16)";

/// A hand-written component, compiled with the shared harness, unsigned.
pub fn wat_plugin(name: &str, body: &str, data: &str) -> Plugin {
    bytes_plugin(name, wat_component(body, data))
}

/// Component bytes, compiled with the shared harness, unsigned.
pub fn bytes_plugin(name: &str, bytes: Vec<u8>) -> Plugin {
    let verified = VerifiedPlugin {
        path: PathBuf::from(format!("{name}.wat")),
        bytes,
        sha256: String::new(),
        signed_by: Vec::new(),
        verified: false,
    };
    harness().load(&verified).unwrap_or_else(|e| panic!("{e}"))
}
