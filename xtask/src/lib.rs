//! Builds the Account Lockdown plugin: compiles the guest crate for
//! `wasm32-unknown-unknown` in a nested cargo with its own target folder, encodes
//! the core module as a component with `wit-component`, validates it, and writes
//! `dist/account-lockdown.wasm`.
//!
//! The bytes must not depend on where the source lives or on what the outer cargo
//! was told: the nested cargo gets a cleaned environment and path remapping flags
//! (see [`rustflags`]), and the toolchain comes from `rust-toolchain.toml`.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};

/// The guest crate.
pub const PLUGIN_PACKAGE: &str = "account-lockdown-plugin";
/// The file name cargo gives the guest's cdylib.
pub const PLUGIN_CORE_FILE: &str = "account_lockdown_plugin.wasm";
/// The only target the guest is built for: no WASI, no ambient authority.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The cargo profile of the guest (workspace `Cargo.toml`, `[profile.plugin]`).
pub const PROFILE: &str = "plugin";
/// Where the component goes, relative to the workspace root.
pub const ARTIFACT: &str = "dist/account-lockdown.wasm";
/// The nested cargo's own target folder, relative to the workspace root. Sharing the
/// outer one would deadlock on its lock while `cargo xtask` runs.
pub const PLUGIN_TARGET_DIR: &str = "target/plugin-build";
/// Size budget of the component (48 KiB); `tests/all/component.rs` enforces it.
pub const SIZE_BUDGET: usize = 48 * 1024;

/// Virtual prefixes that replace machine-specific folders in the guest's bytes.
const REMAP_WORKSPACE: &str = "/account-lockdown";
const REMAP_TARGET_DIR: &str = "/account-lockdown/target";
const REMAP_CARGO_HOME: &str = "/cargo";
const REMAP_SYSROOT: &str = "/rust/sysroot";

/// Variables the outer cargo (or the user's shell) may set that would change what the
/// nested build produces or where it writes. Removed before the nested cargo starts.
const CLEARED_VARS: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_INCREMENTAL",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "RUSTC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_BOOTSTRAP",
    "RUSTUP_TOOLCHAIN",
    "RUSTUP_TOOLCHAIN_SOURCE",
];

/// Prefixes of variables removed for the same reason: `CARGO_BUILD_*` (target dir,
/// rustflags, wrappers), `CARGO_PROFILE_*` (profile overrides), `CARGO_TARGET_*`
/// (per-target rustflags and linkers), `CARGO_UNSTABLE_*`, cargo internals, and the
/// package variables `cargo run` gives the xtask process itself.
const CLEARED_PREFIXES: &[&str] = &[
    "CARGO_BUILD_",
    "CARGO_PROFILE_",
    "CARGO_TARGET_",
    "CARGO_UNSTABLE_",
    "CARGO_PKG_",
    "CARGO_CRATE_",
    "CARGO_BIN_",
    "CARGO_PRIMARY_PACKAGE",
    "__CARGO",
];

/// Where to build: the workspace to compile, the nested target folder, the output file.
#[derive(Debug, Clone)]
pub struct BuildConfig {
    pub workspace_root: PathBuf,
    pub target_dir: PathBuf,
    pub output: PathBuf,
}

impl BuildConfig {
    /// The standard layout under `workspace_root`: [`PLUGIN_TARGET_DIR`] and [`ARTIFACT`].
    pub fn for_workspace(workspace_root: impl Into<PathBuf>) -> Self {
        let workspace_root = workspace_root.into();
        BuildConfig {
            target_dir: workspace_root.join(PLUGIN_TARGET_DIR),
            output: workspace_root.join(ARTIFACT),
            workspace_root,
        }
    }
}

/// The workspace this xtask binary was compiled in.
pub fn default_workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .expect("xtask lives one folder below the workspace root")
        .to_owned()
}

/// The component that was written.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub path: PathBuf,
    pub len: usize,
    /// Lowercase hex sha256 of the file.
    pub sha256: String,
}

impl fmt::Display for Artifact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (path, len, sha) = (self.path.display(), self.len, &self.sha256);
        write!(f, "{path}: {len} bytes (sha256 {sha})")
    }
}

/// Build the guest, encode it as a component, validate it and write it atomically.
pub fn build(config: &BuildConfig) -> Result<Artifact> {
    let config = canonical(config)?;
    let toolchain = Toolchain::probe(&config.workspace_root)?;
    let core = compile_core_module(&config, &toolchain)?;
    let component = encode_component(&core)?;
    validate_component(&component)?;
    write_atomically(&config.output, &component)?;
    Ok(Artifact {
        path: config.output,
        len: component.len(),
        sha256: sha256_hex(&component),
    })
}

/// Absolute, symlink-free folders, so that the remapped prefixes match what rustc sees.
fn canonical(config: &BuildConfig) -> Result<BuildConfig> {
    let workspace_root = fs::canonicalize(&config.workspace_root).with_context(|| {
        let root = config.workspace_root.display();
        format!("workspace root {root} does not exist")
    })?;
    fs::create_dir_all(&config.target_dir)
        .with_context(|| format!("cannot create {}", config.target_dir.display()))?;
    let target_dir = fs::canonicalize(&config.target_dir)?;
    Ok(BuildConfig {
        workspace_root,
        target_dir,
        output: config.output.clone(),
    })
}

/// The toolchain `rust-toolchain.toml` selects in the workspace root.
#[derive(Debug, Clone)]
pub struct Toolchain {
    pub sysroot: PathBuf,
}

impl Toolchain {
    /// Ask `rustc` for its sysroot and check that the wasm target's standard library is
    /// installed there.
    pub fn probe(workspace_root: &Path) -> Result<Self> {
        let mut rustc = Command::new("rustc");
        rustc
            .args(["--print", "sysroot"])
            .current_dir(workspace_root);
        clean_env(&mut rustc);
        let out = rustc
            .output()
            .context("cannot run `rustc`; install Rust with rustup (https://rustup.rs)")?;
        ensure!(
            out.status.success(),
            "`rustc --print sysroot` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let sysroot = PathBuf::from(String::from_utf8(out.stdout)?.trim());
        let toolchain = Toolchain { sysroot };
        toolchain.require_wasm_target()?;
        Ok(toolchain)
    }

    fn require_wasm_target(&self) -> Result<()> {
        let std_dir = self
            .sysroot
            .join("lib/rustlib")
            .join(WASM_TARGET)
            .join("lib");
        if !std_dir.is_dir() {
            bail!(
                "the Rust target {WASM_TARGET} is not installed for the toolchain at {}; \
                 run `rustup target add {WASM_TARGET}` (or `make build`, which does it)",
                self.sysroot.display()
            );
        }
        Ok(())
    }
}

/// Run the nested `cargo build` of the guest and return the core module's bytes.
fn compile_core_module(config: &BuildConfig, toolchain: &Toolchain) -> Result<Vec<u8>> {
    let mut cargo = nested_cargo(config, toolchain);
    let status = cargo
        .status()
        .context("cannot run `cargo` for the wasm build; is it on PATH?")?;
    ensure!(
        status.success(),
        "the wasm build of {PLUGIN_PACKAGE} failed ({status}); see the cargo output above"
    );
    let core_path = core_module_path(config);
    fs::read(&core_path)
        .with_context(|| format!("cargo succeeded but {} is missing", core_path.display()))
}

/// The nested cargo command: own target folder, pinned profile and target, a clean
/// environment and reproducibility flags.
pub fn nested_cargo(config: &BuildConfig, toolchain: &Toolchain) -> Command {
    let mut cargo = Command::new("cargo");
    cargo.current_dir(&config.workspace_root);
    clean_env(&mut cargo);
    cargo
        .arg("build")
        .arg("--locked")
        .args(["--package", PLUGIN_PACKAGE])
        .args(["--target", WASM_TARGET])
        .args(["--profile", PROFILE])
        .arg("--manifest-path")
        .arg(config.workspace_root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&config.target_dir)
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            encoded_rustflags(config, toolchain),
        );
    cargo
}

/// Remove every variable that could leak from the outer cargo into the nested build.
fn clean_env(cmd: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if is_cleared(&name) {
            cmd.env_remove(&name);
        }
    }
    for name in CLEARED_VARS {
        cmd.env_remove(name);
    }
}

fn is_cleared(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    CLEARED_VARS.contains(&name) || CLEARED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The cargo home the nested cargo uses (registry and git sources live under it).
pub fn cargo_home() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        return Some(PathBuf::from(home));
    }
    std::env::home_dir().map(|home| home.join(".cargo"))
}

/// The guest's rustflags: only path remapping, so that no folder of this machine ends
/// up in the bytes (panic locations, debug paths).
pub fn rustflags(config: &BuildConfig, toolchain: &Toolchain) -> Vec<OsString> {
    let mut remaps = vec![
        (config.workspace_root.clone(), REMAP_WORKSPACE),
        (config.target_dir.clone(), REMAP_TARGET_DIR),
        (toolchain.sysroot.clone(), REMAP_SYSROOT),
    ];
    if let Some(home) = cargo_home() {
        let home = fs::canonicalize(&home).unwrap_or(home);
        remaps.push((home, REMAP_CARGO_HOME));
    }
    // rustc applies the last matching remap: the longer (more specific) prefix wins.
    remaps.sort_by_key(|(from, _)| from.as_os_str().len());
    remaps
        .into_iter()
        .map(|(from, to)| {
            let mut flag = OsString::from("--remap-path-prefix=");
            flag.push(from.as_os_str());
            flag.push("=");
            flag.push(to);
            flag
        })
        .collect()
}

/// [`rustflags`] joined with the 0x1f separator `CARGO_ENCODED_RUSTFLAGS` expects.
fn encoded_rustflags(config: &BuildConfig, toolchain: &Toolchain) -> OsString {
    let flags = rustflags(config, toolchain);
    let mut encoded = OsString::new();
    for (i, flag) in flags.iter().enumerate() {
        if i > 0 {
            encoded.push("\u{1f}");
        }
        encoded.push(flag);
    }
    encoded
}

/// Where cargo writes the guest's core module.
pub fn core_module_path(config: &BuildConfig) -> PathBuf {
    config
        .target_dir
        .join(WASM_TARGET)
        .join(PROFILE)
        .join(PLUGIN_CORE_FILE)
}

/// Turn the core module into a component. The guest embeds its WIT world (wit-bindgen's
/// `component-type` custom section), so no WIT files or WASI adapter are needed here.
pub fn encode_component(core: &[u8]) -> Result<Vec<u8>> {
    ensure!(
        has_wit_metadata(core)?,
        "the guest module carries no WIT metadata (no `component-type` custom section); \
         plugin/ must call `wit_bindgen::generate!` and `export!` the stage on wasm32"
    );
    wit_component::ComponentEncoder::default()
        .module(core)
        .context("cannot read the WIT metadata the guest module embeds")?
        .validate(true)
        .encode()
        .context("cannot encode the guest module as a component")
}

/// Whether the core module embeds wit-bindgen's `component-type*` custom section.
fn has_wit_metadata(core: &[u8]) -> Result<bool> {
    for payload in wasmparser::Parser::new(0).parse_all(core) {
        let payload = payload.context("the guest's core module is not valid wasm")?;
        if let wasmparser::Payload::CustomSection(section) = payload
            && section.name().starts_with("component-type")
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Check that `bytes` is a valid component (component-model features on).
pub fn validate_component(bytes: &[u8]) -> Result<()> {
    ensure!(
        wasmparser::Parser::is_component(bytes),
        "the encoded file is not a component (its header is a core module's)"
    );
    let features = wasmparser::WasmFeatures::default() | wasmparser::WasmFeatures::COMPONENT_MODEL;
    wasmparser::Validator::new_with_features(features)
        .validate_all(bytes)
        .context("the encoded component does not validate")?;
    Ok(())
}

/// Write `bytes` to a temporary file next to `path`, then rename it into place, so that
/// readers never see a half-written component.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent folder", path.display()))?;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let written = fs::write(&tmp, bytes)
        .with_context(|| format!("cannot write {}", tmp.display()))
        .and_then(|()| {
            fs::rename(&tmp, path)
                .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
        });
    if written.is_err() {
        // A half-written file (disk full) or one that could not be moved: leave nothing.
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// Lowercase hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_toolchain() -> Toolchain {
        Toolchain {
            sysroot: PathBuf::from("/opt/rust/toolchains/x"),
        }
    }

    #[test]
    fn leaked_variables_are_cleared() {
        for name in [
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET_DIR",
            "CARGO_BUILD_RUSTFLAGS",
            "CARGO_PROFILE_PLUGIN_OPT_LEVEL",
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
            "RUSTUP_TOOLCHAIN",
            "CARGO_PKG_NAME",
            "CARGO_MANIFEST_DIR",
        ] {
            assert!(is_cleared(OsStr::new(name)), "{name} should be cleared");
        }
        for name in ["CARGO_HOME", "RUSTUP_HOME", "PATH", "HOME", "CARGO"] {
            assert!(!is_cleared(OsStr::new(name)), "{name} should be kept");
        }
    }

    #[test]
    fn nested_cargo_uses_its_own_target_folder_and_profile() {
        let config = BuildConfig::for_workspace("/src/ws");
        let cargo = nested_cargo(&config, &fake_toolchain());
        let args: Vec<_> = cargo.get_args().map(|a| a.to_string_lossy()).collect();
        let joined = args.join(" ");
        assert!(
            joined.contains("--target-dir /src/ws/target/plugin-build"),
            "{joined}"
        );
        assert!(joined.contains("--profile plugin"), "{joined}");
        assert!(
            joined.contains("--target wasm32-unknown-unknown"),
            "{joined}"
        );
        assert!(
            joined.contains("--package account-lockdown-plugin"),
            "{joined}"
        );
    }

    #[test]
    fn rustflags_remap_the_workspace_and_target_folder_most_specific_last() {
        let config = BuildConfig::for_workspace("/src/ws");
        let flags: Vec<_> = rustflags(&config, &fake_toolchain())
            .into_iter()
            .map(|f| f.into_string().unwrap())
            .collect();
        let root = flags
            .iter()
            .position(|f| f == "--remap-path-prefix=/src/ws=/account-lockdown")
            .expect("workspace remap");
        let target = flags
            .iter()
            .position(|f| {
                f == "--remap-path-prefix=/src/ws/target/plugin-build=/account-lockdown/target"
            })
            .expect("target remap");
        assert!(root < target, "{flags:?}");
        assert!(
            flags.contains(&"--remap-path-prefix=/opt/rust/toolchains/x=/rust/sysroot".into()),
            "{flags:?}"
        );
        assert!(flags.iter().all(|f| f.starts_with("--remap-path-prefix=")));
    }

    #[test]
    fn encoded_rustflags_are_separated_by_unit_separator() {
        let config = BuildConfig::for_workspace("/src/ws");
        let encoded = encoded_rustflags(&config, &fake_toolchain());
        let encoded = encoded.to_str().unwrap();
        let parts: Vec<_> = encoded.split('\u{1f}').collect();
        assert_eq!(parts.len(), rustflags(&config, &fake_toolchain()).len());
        assert!(parts.iter().all(|p| p.starts_with("--remap-path-prefix=")));
    }

    #[test]
    fn a_missing_wasm_target_names_the_rustup_command() {
        let toolchain = Toolchain {
            sysroot: std::env::temp_dir().join("xtask-no-such-sysroot"),
        };
        let err = toolchain.require_wasm_target().unwrap_err().to_string();
        assert!(
            err.contains("rustup target add wasm32-unknown-unknown") && err.contains("make build"),
            "{err}"
        );
    }

    #[test]
    fn a_core_module_is_not_a_component() {
        let core = b"\0asm\x01\0\0\0";
        let err = validate_component(core).unwrap_err();
        assert!(err.to_string().contains("not a component"), "{err:#}");
    }

    #[test]
    fn a_module_without_wit_metadata_is_refused_with_a_hint() {
        let core = b"\0asm\x01\0\0\0";
        let err = encode_component(core).unwrap_err();
        assert!(
            format!("{err:#}").contains("wit_bindgen::generate!"),
            "{err:#}"
        );
    }

    #[test]
    fn atomic_write_replaces_the_file() {
        let dir = std::env::temp_dir().join(format!("xtask-write-{}", std::process::id()));
        let path = dir.join("out.wasm");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary file left"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_atomic_write_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("xtask-write-fail-{}", std::process::id()));
        // The destination is a folder with something in it: the rename must fail.
        let path = dir.join("out.wasm");
        fs::create_dir_all(path.join("inside")).unwrap();
        let err = write_atomically(&path, b"bytes").unwrap_err();
        assert!(format!("{err:#}").contains("cannot move"), "{err:#}");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["out.wasm"], "a temporary file was left behind");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn artifact_line_names_size_and_hash() {
        let artifact = Artifact {
            path: PathBuf::from("dist/account-lockdown.wasm"),
            len: 3,
            sha256: sha256_hex(b"abc"),
        };
        assert_eq!(
            artifact.to_string(),
            "dist/account-lockdown.wasm: 3 bytes (sha256 \
             ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad)"
        );
    }
}
