//! Plugin signatures: keys, signing, and verification before compilation.
//!
//! Signatures follow the WebAssembly signatures format (tool-conventions
//! `Signatures.md`) as implemented by the `wasmsign2` crate: Ed25519 signatures in a
//! `signature` custom section placed first in the file (or in a detached file), with
//! room for several signers. All cryptography and the section format are wasmsign2's;
//! this module adds trust decisions, file handling and messages.
//!
//! The harness calls [`TrustPolicy`], [`load_plugin`] and reads [`VerifiedPlugin`];
//! the `keygen`, `sign` and `verify` commands live in [`cli`].
//!
//! Two properties of the format that [`load_plugin`] accounts for:
//! - the signature does not cover the 8-byte preamble, so a component whose header was
//!   rewritten to a core module's still verifies: the header is checked after
//!   verification, and such a file is refused as not a component;
//! - tools that strip custom sections remove the signature, so signing must be the last
//!   build step.

pub mod cli;
pub mod keys;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use wasmsign2::{Module, PublicKeySet, WSError};

pub use keys::{TRUST_DIR_ENV, TrustedKey};

/// Printed by the command line when a plugin is loaded under
/// [`TrustPolicy::AllowUnsigned`].
pub const UNSIGNED_WARNING: &str = "warning: --allow-unsigned: the plugin's signature was NOT checked; \
the report records `verified: false`. Use this for local development only.";

/// Why a plugin file (or a key, or a signing request) was refused. Every message
/// names the problem and what to do about it. Commands exit with status 2 on any of
/// these.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error(
        "{path} does not exist; check the path (`make build` writes dist/account-lockdown.wasm, `make dist` the signed dist/account-lockdown.signed.wasm)"
    )]
    Missing { path: PathBuf },
    #[error(
        "{path} is a folder; pass the component file (`make build` writes dist/account-lockdown.wasm)"
    )]
    Folder { path: PathBuf },
    #[error(
        "{path} holds more than {MAX_PLUGIN_BYTES} bytes, far more than a plugin component; check the path"
    )]
    TooLarge { path: PathBuf },
    #[error("cannot read plugin {path}: {source}; check the path and its permissions")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is not signed; sign it with `stage-harness sign` or pass --allow-unsigned for local development"
    )]
    Unsigned { path: PathBuf },
    #[error(
        "{path} does not match its signature: {detail}; it was modified after signing (or the signature is damaged). Do not load this copy: rebuild it and sign it again"
    )]
    Tampered { path: PathBuf, detail: String },
    #[error(
        "{path} is signed, but not by a key you trust: {found}; trusted keys: {trusted}. Pass the signer's public key with --trust if you trust it, or sign the plugin with a trusted key"
    )]
    UnknownSigners {
        path: PathBuf,
        /// How the signatures name their keys (short fingerprints), or a sentence saying
        /// they carry no key id.
        found: String,
        /// Labels of the keys that were trusted.
        trusted: String,
    },
    #[error(
        "{path} carries a partial signature (signature_delimiter sections), which vouches for truncated copies too; only whole-file signatures are accepted: sign the unsplit component with `stage-harness sign`"
    )]
    PartialSignature { path: PathBuf },
    #[error("{path} is not a WebAssembly component ({detail}); build it with `make build`")]
    NotAComponent { path: PathBuf, detail: String },
    #[error(
        "detached signature {path} cannot be used: {detail}; pass the file written by `stage-harness sign --detached`"
    )]
    BadSignatureFile { path: PathBuf, detail: String },
    #[error("public key {path} cannot be used: {detail}")]
    BadPublicKey { path: PathBuf, detail: String },
    #[error("trust folder {path} cannot be used: {detail}")]
    TrustDir { path: PathBuf, detail: String },
    #[error(
        "no trusted public keys: pass --trust PUBKEY (repeatable) or --trust-dir DIR, set {TRUST_DIR_ENV}, or put *.pub files in ./trust/; for local development only, pass --allow-unsigned"
    )]
    NoTrustedKeys,
    /// [`SigningError::NoTrustedKeys`] for `verify`, which has no `--allow-unsigned`.
    #[error(
        "no trusted public keys to verify against: pass --trust PUBKEY (repeatable) or --trust-dir DIR, set {TRUST_DIR_ENV}, or put *.pub files in ./trust/"
    )]
    NoKeysToVerify,
    /// [`SigningError::Unsigned`] for `verify`, which has no `--allow-unsigned`.
    #[error("{path} is not signed; sign it with `stage-harness sign`")]
    UnsignedToVerify { path: PathBuf },
    #[error("secret key {path} cannot be used: {detail}")]
    BadSecretKey { path: PathBuf, detail: String },
    #[error(
        "key name {name:?} is not a plain file name; pass --name with letters, digits, '-' or '_'"
    )]
    BadKeyName { name: String },
    #[error(
        "{path} already exists; pass --force to replace it (the old key is then lost for good)"
    )]
    KeyExists { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {detail}")]
    WriteTarget { path: PathBuf, detail: String },
    #[error("--out {path} is a file; pass the folder for the key pair (it is created if missing)")]
    KeyFolderIsFile { path: PathBuf },
    #[error("cannot sign {path}: {detail}")]
    Sign { path: PathBuf, detail: String },
}

/// The largest plugin file read (the real component is under 48 KiB).
pub const MAX_PLUGIN_BYTES: u64 = 64 << 20;

/// Which plugins the harness accepts.
#[derive(Debug, Clone)]
pub enum TrustPolicy {
    /// Only plugins with an embedded signature by at least one of these public keys.
    Keys(Vec<PathBuf>),
    /// Only plugins whose detached signature file `signature` holds a signature by at
    /// least one of these public keys.
    Detached {
        keys: Vec<PathBuf>,
        signature: PathBuf,
    },
    /// Anything that is a component (local development; the command line prints
    /// [`UNSIGNED_WARNING`]).
    AllowUnsigned,
}

impl TrustPolicy {
    /// The warning to print before loading under this policy, if any.
    pub fn warning(&self) -> Option<&'static str> {
        matches!(self, TrustPolicy::AllowUnsigned).then_some(UNSIGNED_WARNING)
    }
}

/// A plugin file that passed the policy, ready to compile.
#[derive(Debug, Clone)]
pub struct VerifiedPlugin {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    /// Lowercase hex sha256 of the whole file.
    pub sha256: String,
    /// Labels of the trusted keys that signed it (`dev (ed25519:1a2b3c4d…)`), in the
    /// order they were trusted; empty when not verified.
    pub signed_by: Vec<String>,
    /// False when loaded under `TrustPolicy::AllowUnsigned`.
    pub verified: bool,
}

/// Read `path`, check its signature against `policy` before anything else looks at
/// the bytes, then check that the verified bytes are a component.
pub fn load_plugin(path: &Path, policy: &TrustPolicy) -> Result<VerifiedPlugin, SigningError> {
    let bytes = read_component_file(path)?;
    let labels = |keys: Vec<&TrustedKey>| keys.iter().map(|k| k.label()).collect::<Vec<_>>();
    let (signed_by, verified) = match policy {
        TrustPolicy::AllowUnsigned => (Vec::new(), false),
        TrustPolicy::Keys(keys) => {
            let trusted = load_trusted_keys(keys)?;
            (labels(verify_bytes(path, &bytes, &trusted, None)?), true)
        }
        TrustPolicy::Detached { keys, signature } => {
            let trusted = load_trusted_keys(keys)?;
            let sig = read_detached(signature)?;
            let signers = verify_bytes(path, &bytes, &trusted, Some((signature, &sig)))?;
            (labels(signers), true)
        }
    };
    // The signature does not cover the preamble: check it only now, on bytes whose
    // sections are known to be the signed ones.
    check_component(path, &bytes, verified)?;
    let sha256 = sha256_hex(&bytes);
    Ok(VerifiedPlugin {
        path: path.to_owned(),
        bytes,
        sha256,
        signed_by,
        verified,
    })
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

/// Read every trusted key file; duplicates (the same key in two files) are kept once,
/// under the first name.
pub fn load_trusted_keys(paths: &[PathBuf]) -> Result<Vec<TrustedKey>, SigningError> {
    if paths.is_empty() {
        return Err(SigningError::NoTrustedKeys);
    }
    let mut keys: Vec<TrustedKey> = Vec::new();
    for path in paths {
        let key = TrustedKey::from_file(path)?;
        if !keys.iter().any(|k| k.key.pk == key.key.pk) {
            keys.push(key);
        }
    }
    Ok(keys)
}

fn read_detached(path: &Path) -> Result<Vec<u8>, SigningError> {
    let sig = keys::read_small(path).map_err(|e| SigningError::BadSignatureFile {
        path: path.to_owned(),
        detail: format!("cannot read it: {e}"),
    })?;
    wasmsign2::signature_info_from_detached(&sig).map_err(|e| SigningError::BadSignatureFile {
        path: path.to_owned(),
        detail: format!("it is not a WebAssembly signature ({e})"),
    })?;
    Ok(sig)
}

/// Read a plugin (or a component to sign), naming a missing file or a folder.
pub fn read_component_file(path: &Path) -> Result<Vec<u8>, SigningError> {
    if path.is_dir() {
        return Err(SigningError::Folder {
            path: path.to_owned(),
        });
    }
    let bytes = crate::read_capped(path, MAX_PLUGIN_BYTES).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            SigningError::Missing {
                path: path.to_owned(),
            }
        } else {
            SigningError::Read {
                path: path.to_owned(),
                source,
            }
        }
    })?;
    bytes.ok_or_else(|| SigningError::TooLarge {
        path: path.to_owned(),
    })
}

/// Refuse bytes whose preamble is not a component's. `signed`: the bytes passed a
/// signature check, so a core module's header there is a rewritten one.
fn check_component(path: &Path, bytes: &[u8], signed: bool) -> Result<(), SigningError> {
    if wasmparser::Parser::is_component(bytes) {
        return Ok(());
    }
    let detail = if bytes.is_empty() {
        "the file is empty"
    } else if wasmparser::Parser::is_core_wasm(bytes) && signed {
        "its header is a core module's, not a component's; a signature does not cover the header, so this file may have been altered"
    } else if wasmparser::Parser::is_core_wasm(bytes) {
        "it is a core module, like the one cargo builds before `make build` encodes it as a component"
    } else {
        "its first 8 bytes are not a WebAssembly component header"
    };
    Err(SigningError::NotAComponent {
        path: path.to_owned(),
        detail: detail.into(),
    })
}

/// Check `bytes` (embedded signature, or the detached one) against `trusted` and return
/// the trusted keys that signed it, in `trusted` order. Does not look at the preamble.
pub fn verify_bytes<'k>(
    path: &Path,
    bytes: &[u8],
    trusted: &'k [TrustedKey],
    detached: Option<(&Path, &[u8])>,
) -> Result<Vec<&'k TrustedKey>, SigningError> {
    if trusted.is_empty() {
        return Err(SigningError::NoTrustedKeys);
    }
    let set = PublicKeySet::new(trusted.iter().map(|k| k.key.clone()).collect());
    let detached_sig = detached.map(|(_, sig)| sig);
    let result = set.verify(&mut &bytes[..], detached_sig);
    match result {
        Ok(valid) => {
            let valid: HashSet<_> = valid.into_iter().map(|pk| pk.pk).collect();
            refuse_partial_signatures(path, bytes)?;
            Ok(trusted
                .iter()
                .filter(|k| valid.contains(&k.key.pk))
                .collect())
        }
        Err(e) => Err(classify_failure(path, bytes, trusted, detached, e)),
    }
}

/// Refuse files with `signature_delimiter` sections (wasmsign2's partial signatures).
/// Such a signature vouches for every delimited prefix of the file, so a copy cut short
/// at a delimiter would still verify; only whole-file signatures are accepted.
fn refuse_partial_signatures(path: &Path, bytes: &[u8]) -> Result<(), SigningError> {
    let unparsable = |e: WSError| SigningError::Tampered {
        path: path.to_owned(),
        detail: format!("its sections cannot be parsed ({e})"),
    };
    let mut reader = bytes;
    let stream = Module::init_from_reader(&mut reader).map_err(unparsable)?;
    for section in Module::iterate(stream).map_err(unparsable)? {
        if section.map_err(unparsable)?.is_signature_delimiter() {
            return Err(SigningError::PartialSignature {
                path: path.to_owned(),
            });
        }
    }
    Ok(())
}

/// Turn a wasmsign2 verification failure into a message that says which case it is.
fn classify_failure(
    path: &Path,
    bytes: &[u8],
    trusted: &[TrustedKey],
    detached: Option<(&Path, &[u8])>,
    error: WSError,
) -> SigningError {
    let path = path.to_owned();
    match error {
        WSError::NoSignatures => SigningError::Unsigned { path },
        WSError::UnsupportedModuleType => SigningError::NotAComponent {
            path,
            detail: "its first 8 bytes are not a WebAssembly header".into(),
        },
        WSError::VerificationFailed => {
            let detached_sig = detached.map(|(_, sig)| sig);
            // Did a trusted key sign *something* here? wasmsign2's partial verification
            // rejects with `VerificationFailed` exactly when this key has no valid
            // signature over any of the signed hashes; otherwise the key did sign, and
            // the content no longer matches what it signed.
            let signed_other_content = trusted.iter().find(|k| {
                !matches!(
                    k.key.verify_multi(&mut &bytes[..], detached_sig, |_| true),
                    Err(WSError::VerificationFailed)
                )
            });
            if let Some(key) = signed_other_content {
                return SigningError::Tampered {
                    path,
                    detail: format!(
                        "{} signed different contents than the file holds now",
                        key.label()
                    ),
                };
            }
            let key_ids = signature_key_ids(bytes, detached_sig);
            let trusted_ids: HashSet<String> = trusted.iter().map(|k| k.fingerprint()).collect();
            if let Some(id) = key_ids.iter().find(|id| trusted_ids.contains(*id)) {
                let key = trusted.iter().find(|k| &k.fingerprint() == id);
                let name = key.map_or_else(|| keys::short_fingerprint(id), |k| k.label());
                return SigningError::Tampered {
                    path,
                    detail: format!("the signature that names {name} is not valid"),
                };
            }
            let found = if key_ids.is_empty() {
                "its signatures carry no key id, so the signers cannot be named".to_string()
            } else {
                let mut s = String::from("signed by key id(s) ");
                for (i, id) in key_ids.iter().enumerate() {
                    let _ = write!(
                        s,
                        "{}{}",
                        if i > 0 { ", " } else { "" },
                        keys::short_fingerprint(id)
                    );
                }
                s
            };
            SigningError::UnknownSigners {
                path,
                found,
                trusted: trusted
                    .iter()
                    .map(TrustedKey::label)
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        }
        other => match detached {
            Some((sig_path, _)) => SigningError::BadSignatureFile {
                path: sig_path.to_owned(),
                detail: format!("checking {} failed: {other}", path.display()),
            },
            None => SigningError::Tampered {
                path,
                detail: format!("the file or its signature section cannot be parsed ({other})"),
            },
        },
    }
}

/// Hex key ids named by the signatures (embedded or detached); signatures without a
/// key id are skipped. Empty when the signature data cannot be read.
fn signature_key_ids(bytes: &[u8], detached: Option<&[u8]>) -> Vec<String> {
    let info = match detached {
        Some(sig) => wasmsign2::signature_info_from_detached(sig),
        None => wasmsign2::signature_info_from_reader(&mut &bytes[..], None),
    };
    let mut ids: Vec<String> = info
        .map(|info| info.key_ids().iter().map(|id| keys::hex(id)).collect())
        .unwrap_or_default();
    ids.dedup();
    ids
}

/// Refuse to write to `path` when it is a folder or its folder does not exist, before
/// anything is written.
pub fn check_write_target(path: &Path) -> Result<(), SigningError> {
    let refuse = |detail: String| SigningError::WriteTarget {
        path: path.to_owned(),
        detail,
    };
    if path.is_dir() {
        return Err(refuse("it is a folder; name a file".into()));
    }
    if path.file_name().is_none() {
        return Err(refuse("it does not name a file".into()));
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent
        && !parent.is_dir()
    {
        return Err(refuse(format!(
            "the folder {} does not exist; create it first, or write somewhere else",
            parent.display()
        )));
    }
    Ok(())
}

/// Write `bytes` to `path` through a temporary file in the same folder and a rename,
/// so no reader ever sees a half-written file, a failure leaves any old file intact, and
/// writing over the input itself is safe. `private` files are created with mode 0600
/// (no window where others could read them).
pub fn write_atomically(path: &Path, bytes: &[u8], private: bool) -> Result<(), SigningError> {
    let tmp = stage_file(path, bytes, private)?;
    move_into_place(&tmp, path)
}

/// The first half of [`write_atomically`]: write `bytes` to a temporary file beside
/// `path` and return its path.
pub(crate) fn stage_file(
    path: &Path,
    bytes: &[u8],
    private: bool,
) -> Result<PathBuf, SigningError> {
    check_write_target(path)?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.extend(path.file_name());
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    // A leftover of a killed run with the same process id.
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let written = options.open(&tmp).and_then(|mut file| {
        use std::io::Write as _;
        file.write_all(bytes)?;
        file.sync_all()
    });
    written.map(|()| tmp.clone()).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        SigningError::Write {
            path: path.to_owned(),
            source,
        }
    })
}

/// The second half of [`write_atomically`]: rename the staged file over `path`.
pub(crate) fn move_into_place(tmp: &Path, path: &Path) -> Result<(), SigningError> {
    std::fs::rename(tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(tmp);
        SigningError::Write {
            path: path.to_owned(),
            source,
        }
    })
}

/// What `sign` produced.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The component with the new signature embedded, or (detached) the input unchanged.
    pub component: Vec<u8>,
    /// The detached signature, when one was asked for.
    pub detached_signature: Option<Vec<u8>>,
    /// The signer's label.
    pub signer: String,
}

/// Sign a component with `secret_key_path`, as the last build step. An embedded
/// signature is added next to any existing ones (several signers); a detached one is
/// returned apart and the component is left unchanged.
pub fn sign_bytes(
    input_path: &Path,
    input: &[u8],
    secret_key_path: &Path,
    detached: bool,
) -> Result<Signed, SigningError> {
    check_component(input_path, input, false)?;
    let sk = keys::read_secret_key(secret_key_path)?;
    let pk = keys::public_key_of(&sk);
    let signer = TrustedKey {
        name: secret_key_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        path: secret_key_path.to_owned(),
        key: pk.clone(),
    };
    let sign_err = |detail: String| SigningError::Sign {
        path: input_path.to_owned(),
        detail,
    };
    let module = Module::deserialize(&mut &input[..])
        .map_err(|e| sign_err(format!("its sections cannot be parsed ({e})")))?;
    if detached
        && module
            .sections
            .first()
            .is_some_and(|s| s.is_signature_header())
    {
        return Err(sign_err(
            "it already has an embedded signature, and a detached signature of it would not verify; sign it embedded instead, or sign the unsigned build".into(),
        ));
    }
    let (module, signature) = sk
        .sign_multi(module, pk.key_id(), detached, false)
        .map_err(|e| match e {
            WSError::DuplicateSignature => {
                sign_err(format!("it is already signed by {}", signer.label()))
            }
            WSError::IncompatibleSignatureVersion => sign_err(
                "its existing signature uses another version of the signature format".into(),
            ),
            other => sign_err(other.to_string()),
        })?;
    let mut component = Vec::with_capacity(input.len() + 128);
    module
        .serialize(&mut component)
        .map_err(|e| sign_err(e.to_string()))?;

    // Check our own work with the library's verifier before anyone ships it.
    let detached_signature = detached.then_some(signature);
    PublicKeySet::new([pk].into_iter().collect())
        .verify(&mut &component[..], detached_signature.as_deref())
        .map_err(|e| sign_err(format!("the new signature does not verify ({e})")))?;

    Ok(Signed {
        component,
        detached_signature,
        signer: signer.label(),
    })
}

/// How many signatures (by any key, trusted or not) the embedded or detached
/// signature data holds; 0 when there is none or it cannot be read.
pub fn signature_count(bytes: &[u8], detached: Option<&[u8]>) -> usize {
    let info = match detached {
        Some(sig) => wasmsign2::signature_info_from_detached(sig),
        None => wasmsign2::signature_info_from_reader(&mut &bytes[..], None),
    };
    info.map(|i| i.signature_count()).unwrap_or(0)
}
