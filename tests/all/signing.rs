//! Plugin signatures: what `load_plugin` accepts and refuses, `sign` with several
//! signers and detached signatures, and that signed components still validate and run.
//!
//! The component under test is the real `dist/account-lockdown.wasm` (`make build`);
//! one test also signs a small component built here, to show signing does not depend
//! on the plugin's world.

use std::path::{Path, PathBuf};

use stage_harness::signing::cli::{TrustKeyArgs, verify_with};
use stage_harness::signing::keys::{self, GeneratedKeys};
use stage_harness::signing::{
    SigningError, TrustPolicy, UNSIGNED_WARNING, VerifiedPlugin, load_plugin, sign_bytes,
    signature_count, verify_bytes,
};
use tempfile::TempDir;

/// A small component exporting `run: func() -> u32` that returns 42.
fn small_component() -> Vec<u8> {
    #[rustfmt::skip]
    let mut core: Vec<u8> = vec![
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // core module preamble
        0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f,       // type: () -> i32
        0x03, 0x02, 0x01, 0x00,                         // func 0 has type 0
        0x07, 0x07, 0x01, 0x03, b'r', b'u', b'n', 0x00, 0x00, // export "run" = func 0
        0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x2a, 0x0b, // body: i32.const 42
    ];
    let mut resolve = wit_parser::Resolve::default();
    let pkg = resolve
        .push_str(
            "signing-test.wit",
            "package test:signing; world small { export run: func() -> u32; }",
        )
        .unwrap();
    let world = resolve.select_world(&[pkg], Some("small")).unwrap();
    wit_component::embed_component_metadata(
        &mut core,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
        false,
    )
    .unwrap();
    wit_component::ComponentEncoder::default()
        .module(&core)
        .unwrap()
        .validate(true)
        .encode()
        .unwrap()
}

/// The component every test signs: the real plugin, unsigned, from `make build`.
fn component() -> Vec<u8> {
    crate::common::read_dist("account-lockdown.wasm")
}

/// A temporary folder with key pairs and files.
struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn keygen(&self, name: &str) -> GeneratedKeys {
        keys::generate(&self.path("keys"), name, false).unwrap()
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Sign `bytes` with `key` (embedded) and write the result to `name`.
    fn sign(&self, name: &str, bytes: &[u8], key: &GeneratedKeys) -> PathBuf {
        let signed = sign_bytes(Path::new(name), bytes, &key.secret, false).unwrap();
        self.write(name, &signed.component)
    }
}

fn trust(keys: &[&GeneratedKeys]) -> TrustPolicy {
    TrustPolicy::Keys(keys.iter().map(|k| k.public.clone()).collect())
}

/// How reports name a key generated as `name`.
fn label(name: &str, key: &GeneratedKeys) -> String {
    format!("{name} ({})", keys::short_fingerprint(&key.fingerprint))
}

fn load(path: &Path, policy: &TrustPolicy) -> Result<VerifiedPlugin, SigningError> {
    load_plugin(path, policy)
}

#[test]
fn signed_component_loads_and_names_the_key_that_verified_it() {
    let f = Fixture::new();
    let dev = f.keygen("dev");
    let path = f.sign("plugin.wasm", &component(), &dev);

    let plugin = load(&path, &trust(&[&dev])).unwrap();
    assert!(plugin.verified);
    assert_eq!(plugin.signed_by, [label("dev", &dev)]);
    assert_eq!(plugin.bytes, std::fs::read(&path).unwrap());
    use sha2::Digest as _;
    assert_eq!(
        plugin.sha256,
        format!("{:x}", sha2::Sha256::digest(&plugin.bytes))
    );
}

#[test]
fn unsigned_component_is_refused_with_the_fix() {
    let f = Fixture::new();
    let dev = f.keygen("dev");
    let path = f.write("plugin.wasm", &component());
    let err = load(&path, &trust(&[&dev])).unwrap_err();
    assert!(matches!(err, SigningError::Unsigned { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not signed; sign it with `stage-harness sign` or pass --allow-unsigned for local development",
            path.display()
        )
    );
}

#[test]
fn missing_plugin_is_named() {
    let f = Fixture::new();
    let dev = f.keygen("dev");
    let err = load(&f.path("nope.wasm"), &trust(&[&dev])).unwrap_err();
    assert!(matches!(err, SigningError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");
}

/// Where the signature section (the first section, right after the preamble) ends.
fn signature_section_end(signed: &[u8]) -> usize {
    assert_eq!(signed[8], 0, "the first section is a custom section");
    let (mut size, mut shift, mut at) = (0usize, 0, 9);
    loop {
        let byte = signed[at];
        size |= usize::from(byte & 0x7f) << shift;
        at += 1;
        shift += 7;
        if byte & 0x80 == 0 {
            break;
        }
    }
    at + size
}

/// Byte offsets to flip: every byte of the preamble and the signature section, then
/// about 300 spread over the rest, and the last byte.
fn flip_positions(signed: &[u8]) -> Vec<usize> {
    let signature_end = signature_section_end(signed);
    let mut positions: Vec<usize> = (0..signature_end).collect();
    let rest = signed.len() - signature_end;
    let step = (rest / 300).max(1);
    positions.extend((signature_end..signed.len()).step_by(step));
    positions.push(signed.len() - 1);
    positions.dedup();
    positions
}

#[test]
fn one_flipped_byte_anywhere_is_refused() {
    let f = Fixture::new();
    let dev = f.keygen("dev");
    let original = component();
    let signed = std::fs::read(f.sign("signed.wasm", &original, &dev)).unwrap();
    let signature_end = signature_section_end(&signed);
    assert_eq!(
        &signed[signature_end..],
        &original[8..],
        "signing only inserts the signature section"
    );
    let policy = trust(&[&dev]);
    let path = f.path("flipped.wasm");

    let positions = flip_positions(&signed);
    assert!(positions.len() > 150, "{} positions", positions.len());
    for &at in &positions {
        let mut bytes = signed.clone();
        bytes[at] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        let err = match load(&path, &policy) {
            Ok(_) => panic!("flipping byte {at} of {} was accepted", bytes.len()),
            Err(err) => err,
        };
        if at < 8 {
            // The preamble is not signed; a damaged one is not a component.
            assert!(
                matches!(err, SigningError::NotAComponent { .. }),
                "byte {at}: {err}"
            );
        } else if at >= signature_end {
            // Signed content changed: the trusted key's signature no longer matches.
            assert!(
                matches!(err, SigningError::Tampered { .. }),
                "byte {at}: {err}"
            );
        } else {
            // Inside the signature section: refused whichever way it breaks.
            assert!(
                matches!(
                    err,
                    SigningError::Tampered { .. }
                        | SigningError::Unsigned { .. }
                        | SigningError::UnknownSigners { .. }
                ),
                "byte {at}: {err}"
            );
        }
    }
}

#[test]
fn tampered_content_message_names_the_key_and_the_fix() {
    let f = Fixture::new();
    let dev = f.keygen("dev");
    let mut bytes = std::fs::read(f.sign("signed.wasm", &component(), &dev)).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    let path = f.write("tampered.wasm", &bytes);
    let err = load(&path, &trust(&[&dev])).unwrap_err().to_string();
    assert!(err.contains(&label("dev", &dev)), "{err}");
    assert!(err.contains("modified after signing"), "{err}");
    assert!(err.contains("sign it again"), "{err}");
}

#[test]
fn core_module_header_with_a_valid_signature_is_refused_as_not_a_component() {
    let f = Fixture::new();
    let dev = f.keygen("dev");
    let mut bytes = std::fs::read(f.sign("signed.wasm", &component(), &dev)).unwrap();
    bytes[4..8].copy_from_slice(&[0x01, 0x00, 0x00, 0x00]);
    let path = f.write("rewritten.wasm", &bytes);

    // The signature does not cover the preamble: it still verifies...
    let trusted =
        stage_harness::signing::load_trusted_keys(std::slice::from_ref(&dev.public)).unwrap();
    let signers = verify_bytes(&path, &bytes, &trusted, None).unwrap();
    assert_eq!(signers.len(), 1);
    // ...so the loader checks the header after verifying, and refuses.
    let err = load(&path, &trust(&[&dev])).unwrap_err();
    assert!(matches!(err, SigningError::NotAComponent { .. }), "{err}");
    assert!(err.to_string().contains("core module"), "{err}");
}

#[test]
fn wrong_key_is_refused_naming_the_signer() {
    let f = Fixture::new();
    let dev = f.keygen("dev");
    let other = f.keygen("other");
    let path = f.sign("signed.wasm", &component(), &other);
    let err = load(&path, &trust(&[&dev])).unwrap_err();
    assert!(matches!(err, SigningError::UnknownSigners { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&keys::short_fingerprint(&other.fingerprint)),
        "{msg}"
    );
    assert!(msg.contains(&label("dev", &dev)), "{msg}");
    assert!(msg.contains("--trust"), "{msg}");
}

#[test]
fn detached_signature_verifies_and_so_does_the_same_signature_embedded() {
    let f = Fixture::new();
    let dev = f.keygen("dev");
    let original = component();
    let path = f.write("plugin.wasm", &original);
    let signed = sign_bytes(&path, &original, &dev.secret, true).unwrap();
    assert_eq!(
        signed.component, original,
        "detached signing leaves the file as is"
    );
    let sig = signed.detached_signature.unwrap();
    let sig_path = f.write("plugin.wasm.sig", &sig);

    let detached = TrustPolicy::Detached {
        keys: vec![dev.public.clone()],
        signature: sig_path.clone(),
    };
    let plugin = load(&path, &detached).unwrap();
    assert_eq!(plugin.signed_by, [label("dev", &dev)]);
    // Without the signature file, the same bytes are unsigned.
    assert!(matches!(
        load(&path, &trust(&[&dev])),
        Err(SigningError::Unsigned { .. })
    ));

    // The same signature embedded (wasmsign2's attach) verifies too.
    let module = wasmsign2::Module::deserialize(&mut &original[..]).unwrap();
    let mut embedded = Vec::new();
    module
        .attach_signature(&sig)
        .unwrap()
        .serialize(&mut embedded)
        .unwrap();
    let embedded_path = f.write("embedded.wasm", &embedded);
    let plugin = load(&embedded_path, &trust(&[&dev])).unwrap();
    assert_eq!(plugin.signed_by, [label("dev", &dev)]);

    // And an embedded signature by the same key is the same bytes as the detached one.
    let signed = sign_bytes(&path, &original, &dev.secret, false).unwrap();
    assert_eq!(signed.component, embedded);

    // The detached signature does not vouch for other contents.
    let mut other = original.clone();
    let last = other.len() - 1;
    other[last] ^= 0x01;
    let other_path = f.write("other.wasm", &other);
    let err = load(
        &other_path,
        &TrustPolicy::Detached {
            keys: vec![dev.public.clone()],
            signature: sig_path,
        },
    )
    .unwrap_err();
    assert!(matches!(err, SigningError::Tampered { .. }), "{err}");
}

#[test]
fn detached_signature_file_that_is_not_a_signature_is_refused() {
    let f = Fixture::new();
    let dev = f.keygen("dev");
    let path = f.write("plugin.wasm", &component());
    let sig_path = f.write("junk.sig", b"not a signature");
    let err = load(
        &path,
        &TrustPolicy::Detached {
            keys: vec![dev.public.clone()],
            signature: sig_path,
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, SigningError::BadSignatureFile { .. }),
        "{err}"
    );
}

#[test]
fn two_signers_either_trusted_key_is_accepted() {
    let f = Fixture::new();
    let alice = f.keygen("alice");
    let bob = f.keygen("bob");
    let stranger = f.keygen("stranger");
    let once = std::fs::read(f.sign("once.wasm", &component(), &alice)).unwrap();
    let twice = f.sign("twice.wasm", &once, &bob);
    let bytes = std::fs::read(&twice).unwrap();
    assert_eq!(signature_count(&bytes, None), 2);

    let signed_by = |policy: TrustPolicy| load(&twice, &policy).unwrap().signed_by;
    assert_eq!(signed_by(trust(&[&alice])), [label("alice", &alice)]);
    assert_eq!(signed_by(trust(&[&bob])), [label("bob", &bob)]);
    assert_eq!(
        signed_by(trust(&[&bob, &alice])),
        [label("bob", &bob), label("alice", &alice)],
        "in the order the keys were trusted"
    );
    assert_eq!(
        signed_by(trust(&[&stranger, &alice])),
        [label("alice", &alice)]
    );
    let err = load(&twice, &trust(&[&stranger])).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&keys::short_fingerprint(&alice.fingerprint))
            && msg.contains(&keys::short_fingerprint(&bob.fingerprint)),
        "both signers named: {msg}"
    );

    // The first signature is intact for wasmsign2's own single-key verifier too.
    for key in [&alice, &bob] {
        let pk = wasmsign2::PublicKey::from_file(&key.public)
            .unwrap()
            .attach_default_key_id();
        pk.verify(&mut &bytes[..], None).unwrap();
    }
}

#[test]
fn partial_signatures_are_refused() {
    // `wasmsign2 split` + `sign`: delimiter sections, each prefix signed.
    let f = Fixture::new();
    let dev = f.keygen("dev");
    let sk = wasmsign2::SecretKey::from_file(&dev.secret).unwrap();
    let key_id = keys::public_key_of(&sk).key_id().cloned();
    let module = wasmsign2::Module::deserialize(&mut &component()[..]).unwrap();
    let (module, _) = sk.sign_multi(module, key_id.as_ref(), false, true).unwrap();
    let mut split = Vec::new();
    module.serialize(&mut split).unwrap();
    let path = f.write("split.wasm", &split);
    let err = load(&path, &trust(&[&dev])).unwrap_err();
    assert!(
        matches!(err, SigningError::PartialSignature { .. }),
        "{err}"
    );
}

#[test]
fn signing_twice_with_the_same_key_is_refused() {
    let f = Fixture::new();
    let dev = f.keygen("dev");
    let once = std::fs::read(f.sign("once.wasm", &component(), &dev)).unwrap();
    let err = sign_bytes(Path::new("once.wasm"), &once, &dev.secret, false).unwrap_err();
    assert!(err.to_string().contains("already signed by dev"), "{err}");
}

#[test]
fn signing_refuses_a_core_module_and_non_wasm() {
    let f = Fixture::new();
    let dev = f.keygen("dev");
    let core = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    let err = sign_bytes(Path::new("core.wasm"), &core, &dev.secret, false).unwrap_err();
    assert!(matches!(err, SigningError::NotAComponent { .. }), "{err}");
    assert!(err.to_string().contains("core module"), "{err}");
    let err = sign_bytes(Path::new("x.txt"), b"hello", &dev.secret, false).unwrap_err();
    assert!(matches!(err, SigningError::NotAComponent { .. }), "{err}");
}

#[test]
fn signing_with_a_public_key_is_refused() {
    let f = Fixture::new();
    let dev = f.keygen("dev");
    let err = sign_bytes(Path::new("p.wasm"), &component(), &dev.public, false).unwrap_err();
    assert!(matches!(err, SigningError::BadSecretKey { .. }), "{err}");
    assert!(err.to_string().contains("PUBLIC key"), "{err}");
}

#[test]
fn unreadable_trusted_key_is_refused() {
    let f = Fixture::new();
    let dev = f.keygen("dev");
    let path = f.sign("signed.wasm", &component(), &dev);
    let garbage = f.write("garbage.pub", b"ssh-rsa AAAA nothing");
    let err = load(&path, &TrustPolicy::Keys(vec![garbage])).unwrap_err();
    assert!(matches!(err, SigningError::BadPublicKey { .. }), "{err}");
    let err = load(&path, &TrustPolicy::Keys(vec![f.path("missing.pub")])).unwrap_err();
    assert!(matches!(err, SigningError::BadPublicKey { .. }), "{err}");
    let err = load(&path, &TrustPolicy::Keys(vec![dev.secret.clone()])).unwrap_err();
    assert!(err.to_string().contains("SECRET key"), "{err}");
    let err = load(&path, &TrustPolicy::Keys(vec![])).unwrap_err();
    assert!(matches!(err, SigningError::NoTrustedKeys), "{err}");
}

#[test]
fn allow_unsigned_loads_without_verifying_and_warns() {
    let f = Fixture::new();
    let path = f.write("plugin.wasm", &component());
    let plugin = load(&path, &TrustPolicy::AllowUnsigned).unwrap();
    assert!(!plugin.verified);
    assert!(plugin.signed_by.is_empty());
    assert_eq!(TrustPolicy::AllowUnsigned.warning(), Some(UNSIGNED_WARNING));
    assert_eq!(TrustPolicy::Keys(vec![]).warning(), None);

    // It still refuses what is not a component.
    let core = f.write(
        "core.wasm",
        &[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    );
    let err = load(&core, &TrustPolicy::AllowUnsigned).unwrap_err();
    assert!(matches!(err, SigningError::NotAComponent { .. }), "{err}");
}

#[test]
fn keygen_writes_a_private_secret_and_refuses_to_overwrite() {
    let f = Fixture::new();
    let dev = f.keygen("dev");
    assert_eq!(dev.secret, f.path("keys/dev.secret"));
    assert_eq!(dev.public, f.path("keys/dev.pub"));
    // The wasmsign2 format: 0x81 + 64 bytes, 0x01 + 32 bytes.
    let secret = std::fs::read(&dev.secret).unwrap();
    let public = std::fs::read(&dev.public).unwrap();
    assert_eq!((secret.len(), secret[0]), (65, 0x81));
    assert_eq!((public.len(), public[0]), (33, 0x01));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dev.secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let err = keys::generate(&f.path("keys"), "dev", false).unwrap_err();
    assert!(matches!(err, SigningError::KeyExists { .. }), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(std::fs::read(&dev.secret).unwrap(), secret, "left alone");

    let replaced = keys::generate(&f.path("keys"), "dev", true).unwrap();
    assert_ne!(replaced.fingerprint, dev.fingerprint);
}

#[test]
fn trust_dir_trusts_every_pub_file_in_it() {
    let f = Fixture::new();
    let alice = f.keygen("alice");
    let bob = f.keygen("bob");
    let path = f.sign("signed.wasm", &component(), &bob);
    let args = TrustKeyArgs {
        trust_dir: Some(f.path("keys")),
        ..TrustKeyArgs::default()
    };
    let policy = args.policy_with(None, Path::new("/nonexistent")).unwrap();
    let TrustPolicy::Keys(keys) = &policy else {
        panic!("{policy:?}")
    };
    assert_eq!(keys, &[alice.public.clone(), bob.public.clone()]);
    assert_eq!(
        load(&path, &policy).unwrap().signed_by,
        [label("bob", &bob)]
    );

    // The environment variable names the folder when no option does.
    let from_env = TrustKeyArgs::default()
        .policy_with(Some(f.path("keys").into()), Path::new("/nonexistent"))
        .unwrap();
    assert!(matches!(from_env, TrustPolicy::Keys(k) if k.len() == 2));
    // An explicit folder with no keys is an error, not "trust nothing".
    std::fs::create_dir(f.path("empty")).unwrap();
    let err = TrustKeyArgs {
        trust_dir: Some(f.path("empty")),
        ..TrustKeyArgs::default()
    }
    .policy_with(None, Path::new("/nonexistent"))
    .unwrap_err();
    assert!(matches!(err, SigningError::TrustDir { .. }), "{err}");
}

#[test]
fn verify_command_output_names_the_signers() {
    let f = Fixture::new();
    let dev = f.keygen("dev");
    let path = f.sign("signed.wasm", &component(), &dev);
    let mut out = Vec::new();
    verify_with(&path, &trust(&[&dev]), &mut out).unwrap();
    let out = String::from_utf8(out).unwrap();
    let sha = load(&path, &trust(&[&dev])).unwrap().sha256;
    assert_eq!(
        out,
        format!(
            "{}: signature valid\nsigned by: {}\nsha256: {sha}\n",
            path.display(),
            label("dev", &dev)
        )
    );
}

/// The exact steps the `wasmsign2` command-line tool takes (`sign -k -K`, `verify -K`),
/// through its library: its signatures verify here and ours verify there.
#[test]
fn signatures_interoperate_with_the_wasmsign2_tool() {
    let f = Fixture::new();
    let ours = f.keygen("ours");
    let original = component();

    // Ours, checked the way `wasmsign2 verify -i OUT -K ours.pub` does.
    let signed = std::fs::read(f.sign("ours.wasm", &original, &ours)).unwrap();
    let pk = wasmsign2::PublicKey::from_file(&ours.public)
        .unwrap()
        .attach_default_key_id();
    pk.verify(&mut &signed[..], None).unwrap();

    // Theirs: keys from `wasmsign2 keygen`, signed as `wasmsign2 sign -k -K` does.
    let kp = wasmsign2::KeyPair::generate();
    kp.sk.to_file(f.path("theirs.secret")).unwrap();
    kp.pk.to_file(f.path("theirs.pub")).unwrap();
    let key_id = kp.pk.clone().attach_default_key_id().key_id().cloned();
    let module = wasmsign2::Module::deserialize(&mut &original[..]).unwrap();
    let (module, _) = kp
        .sk
        .sign_multi(module, key_id.as_ref(), false, false)
        .unwrap();
    let mut theirs = Vec::new();
    module.serialize(&mut theirs).unwrap();
    let path = f.write("theirs.wasm", &theirs);
    let plugin = load(&path, &TrustPolicy::Keys(vec![f.path("theirs.pub")])).unwrap();
    assert_eq!(plugin.signed_by.len(), 1);
    assert!(plugin.signed_by[0].starts_with("theirs (ed25519:"));
    // And we can sign with their secret key file.
    sign_bytes(&path, &original, &f.path("theirs.secret"), false).unwrap();
}

#[test]
fn signed_component_still_validates_and_runs_with_the_report_naming_the_key() {
    let f = Fixture::new();
    let dev = f.keygen("dev");
    let path = f.sign("signed.wasm", &component(), &dev);
    let plugin = load(&path, &trust(&[&dev])).unwrap();
    wasmparser::Validator::new()
        .validate_all(&plugin.bytes)
        .expect("the signed component validates");

    let scenario_path =
        crate::common::workspace_root().join("tests/scenarios/admin-locks-other-account.json");
    let scenario = stage_harness::Scenario::load(&scenario_path).unwrap();
    let harness = stage_harness::Harness::new(stage_harness::Limits::default()).unwrap();
    let report = harness
        .load(&plugin)
        .unwrap()
        .run(&scenario, "admin-locks-other-account");
    assert!(report.passed(), "{}", report.to_text());
    assert!(report.plugin.verified);
    assert_eq!(report.plugin.signed_by, [label("dev", &dev)]);
    assert_eq!(report.plugin.sha256, plugin.sha256);
}

#[test]
fn signed_small_component_runs_under_plain_wasmtime() {
    use wasmtime::component::{Component, Linker};
    let f = Fixture::new();
    let dev = f.keygen("dev");
    let path = f.sign("small.wasm", &small_component(), &dev);
    let plugin = load(&path, &trust(&[&dev])).unwrap();
    let engine = wasmtime::Engine::default();
    let component = Component::new(&engine, &plugin.bytes).unwrap();
    let mut store = wasmtime::Store::new(&engine, ());
    let instance = Linker::<()>::new(&engine)
        .instantiate(&mut store, &component)
        .unwrap();
    let run = instance
        .get_typed_func::<(), (u32,)>(&mut store, "run")
        .unwrap();
    assert_eq!(run.call(&mut store, ()).unwrap(), (42,));
}

/// The `stage-harness` binary, run in `cwd` with no trust folder from the environment.
fn harness_cmd(cwd: &Path, args: &[&dyn AsRef<std::ffi::OsStr>]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_stage-harness"))
        .args(args.iter().map(|a| a.as_ref()))
        .current_dir(cwd)
        .env_remove(stage_harness::signing::TRUST_DIR_ENV)
        .output()
        .unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn cli_keygen_sign_verify_round_trip() {
    let f = Fixture::new();
    let cwd = f.dir.path();
    let unsigned = f.write("plugin.wasm", &component());

    let out = harness_cmd(cwd, &[&"keygen", &"--out", &"keys", &"--name", &"dev"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("keys/dev.secret"), "{}", stdout(&out));
    let out = harness_cmd(cwd, &[&"keygen", &"--out", &"keys", &"--name", &"dev"]);
    assert_eq!(out.status.code(), Some(2), "refuses to overwrite");
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));

    let out = harness_cmd(
        cwd,
        &[
            &"sign",
            &unsigned,
            &"-o",
            &"signed.wasm",
            &"--key",
            &"keys/dev.secret",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let fingerprint =
        keys::fingerprint(&wasmsign2::PublicKey::from_file(f.path("keys/dev.pub")).unwrap());
    let out = harness_cmd(
        cwd,
        &[&"verify", &"signed.wasm", &"--trust", &"keys/dev.pub"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!(
            "signed by: dev ({})",
            keys::short_fingerprint(&fingerprint)
        )),
        "{}",
        stdout(&out)
    );

    // A second signer, signing in place: both keys verify.
    harness_cmd(cwd, &[&"keygen", &"--out", &"keys", &"--name", &"second"]);
    let out = harness_cmd(
        cwd,
        &[
            &"sign",
            &"signed.wasm",
            &"-o",
            &"signed.wasm",
            &"--key",
            &"keys/second.secret",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = harness_cmd(cwd, &[&"verify", &"signed.wasm", &"--trust-dir", &"keys"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).matches("signed by: ").count(),
        2,
        "{}",
        stdout(&out)
    );

    // Detached: the signature file verifies the unchanged component; -o gets a copy.
    let out = harness_cmd(
        cwd,
        &[
            &"sign",
            &unsigned,
            &"-o",
            &"copy.wasm",
            &"--key",
            &"keys/dev.secret",
            &"--detached",
            &"plugin.sig",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(f.path("copy.wasm")).unwrap(), component());
    let out = harness_cmd(
        cwd,
        &[
            &"verify",
            &unsigned,
            &"--trust",
            &"keys/dev.pub",
            &"--detached",
            &"plugin.sig",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // Unsigned, and signed by another key: exit 2 with the reason.
    let out = harness_cmd(cwd, &[&"verify", &unsigned, &"--trust", &"keys/dev.pub"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not signed"), "{}", stderr(&out));
    harness_cmd(cwd, &[&"keygen", &"--out", &"keys", &"--name", &"other"]);
    let out = harness_cmd(
        cwd,
        &[&"verify", &"signed.wasm", &"--trust", &"keys/other.pub"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not by a key you trust"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn cli_run_refuses_unsigned_by_default_and_reports_the_signer_otherwise() {
    let f = Fixture::new();
    let cwd = f.dir.path();
    let dev = f.keygen("dev");
    let unsigned = f.write("plugin.wasm", &component());
    let signed = f.sign("signed.wasm", &component(), &dev);
    let scenario =
        crate::common::workspace_root().join("tests/scenarios/admin-locks-other-account.json");

    let out = harness_cmd(
        cwd,
        &[
            &"run",
            &scenario,
            &"--plugin",
            &unsigned,
            &"--trust",
            &dev.public,
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains(
            "is not signed; sign it with `stage-harness sign` or pass --allow-unsigned for local development"
        ),
        "{}",
        stderr(&out)
    );

    // --allow-unsigned: runs, warns, and the report says it was not verified.
    let out = harness_cmd(
        cwd,
        &[
            &"run",
            &scenario,
            &"--plugin",
            &unsigned,
            &"--allow-unsigned",
            &"--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(UNSIGNED_WARNING), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["plugin"]["verified"], false);
    assert_eq!(report["plugin"]["signed_by"], serde_json::json!([]));

    // Signed and trusted through ./trust/: the report names the key.
    std::fs::create_dir(cwd.join("trust")).unwrap();
    std::fs::copy(&dev.public, cwd.join("trust/dev.pub")).unwrap();
    let out = harness_cmd(cwd, &[&"run", &scenario, &"--plugin", &signed, &"--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["plugin"]["verified"], true);
    assert_eq!(
        report["plugin"]["signed_by"],
        serde_json::json!([label("dev", &dev)])
    );
}
