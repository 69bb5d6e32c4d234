//! Key files: generation, parsing, fingerprints and the trust folder.
//!
//! Files are written in the wasmsign2 format, the one the `wasmsign2` command-line
//! tool writes with `keygen` and reads by default with `sign -k` / `verify -K`:
//! a public key is 33 bytes (`0x01` then the Ed25519 public key), a secret key is
//! 65 bytes (`0x81` then the 64-byte Ed25519 secret key). Reading accepts that
//! format and also PEM, DER and OpenSSH Ed25519 keys (wasmsign2's `from_any`).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use wasmsign2::{KeyPair, PublicKey, SecretKey};

use super::SigningError;

/// Extension of public key files (and of the files the trust folder picks up).
pub const PUBLIC_KEY_EXTENSION: &str = "pub";
/// Extension of secret key files.
pub const SECRET_KEY_EXTENSION: &str = "secret";
/// Environment variable naming the trust folder when `--trust-dir` is not given.
pub const TRUST_DIR_ENV: &str = "STAGE_HARNESS_TRUST_DIR";
/// Trust folder used when neither `--trust`, `--trust-dir` nor the variable is set,
/// relative to the current directory, if it exists.
pub const DEFAULT_TRUST_DIR: &str = "trust";
/// How many hex digits of the key id the short fingerprint shows.
const SHORT_FINGERPRINT_HEX: usize = 8;

/// A public key the caller trusts, with the name it is reported under.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// The key file's stem (`dev` for `.dev-keys/dev.pub`).
    pub name: String,
    /// The file it was read from.
    pub path: PathBuf,
    /// The key, with wasmsign2's default key id attached.
    pub key: PublicKey,
}

impl TrustedKey {
    /// Read a public key file in any format wasmsign2 understands.
    pub fn from_file(path: &Path) -> Result<Self, SigningError> {
        let bad = |detail: String| SigningError::BadPublicKey {
            path: path.to_owned(),
            detail,
        };
        if path.is_dir() {
            return Err(bad(format!(
                "it is a folder; trust every *.pub file in it with --trust-dir {}",
                path.display()
            )));
        }
        let data = read_small(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => bad(
                "it does not exist; check the path (keygen writes NAME.pub beside NAME.secret)"
                    .into(),
            ),
            _ => bad(format!("cannot read it: {e}")),
        })?;
        let key = parse_public_key(&data).map_err(bad)?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Ok(Self {
            name,
            path: path.to_owned(),
            key,
        })
    }

    /// Lowercase hex of the key id (wasmsign2's default id for this key, the one
    /// written into signatures).
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.key)
    }

    /// How reports and messages name the key: `dev (ed25519:1a2b3c4d…)`.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, short_fingerprint(&self.fingerprint()))
    }
}

/// Parse an Ed25519 public key (wasmsign2, DER, PEM or OpenSSH format) and attach
/// its default key id. The error text says what the bytes looked like.
pub fn parse_public_key(data: &[u8]) -> Result<PublicKey, String> {
    if data.is_empty() {
        return Err("the file is empty; pass the .pub file `stage-harness keygen` wrote".into());
    }
    match PublicKey::from_any(data) {
        Ok(pk) => Ok(pk.attach_default_key_id()),
        Err(_) if SecretKey::from_any(data).is_ok() => Err(
            "this is a SECRET key; trust the matching .pub file instead, and keep the secret key private".into(),
        ),
        Err(_) => Err(
            "not an Ed25519 public key in wasmsign2, PEM, DER or OpenSSH format; create one with `stage-harness keygen`".into(),
        ),
    }
}

/// Parse an Ed25519 secret key (wasmsign2, DER, PEM or OpenSSH format) and check
/// that it is internally consistent.
pub fn parse_secret_key(data: &[u8]) -> Result<SecretKey, String> {
    if data.is_empty() {
        return Err("the file is empty; pass the .secret file `stage-harness keygen` wrote".into());
    }
    let sk = match SecretKey::from_any(data) {
        Ok(sk) => sk,
        Err(_) if PublicKey::from_any(data).is_ok() => {
            return Err("this is a PUBLIC key; pass the matching .secret file".into());
        }
        Err(_) => {
            return Err(
                "not an Ed25519 secret key in wasmsign2, PEM, DER or OpenSSH format; create one with `stage-harness keygen`".into(),
            );
        }
    };
    sk.sk
        .validate_public_key(&sk.sk.public_key())
        .map_err(|_| {
            "the key is corrupted (its public half does not match its seed)".to_string()
        })?;
    Ok(sk)
}

/// Read a secret key file.
pub fn read_secret_key(path: &Path) -> Result<SecretKey, SigningError> {
    let bad = |detail: String| SigningError::BadSecretKey {
        path: path.to_owned(),
        detail,
    };
    let data = read_small(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    parse_secret_key(&data).map_err(bad)
}

/// The largest key or detached signature file read: a few hundred bytes is usual.
pub const MAX_SMALL_FILE_BYTES: u64 = 1 << 20;

/// Read a key or signature file, refusing one over [`MAX_SMALL_FILE_BYTES`] (a file named
/// by mistake, such as `/dev/zero`, is not read without end).
pub(crate) fn read_small(path: &Path) -> std::io::Result<Vec<u8>> {
    crate::read_capped(path, MAX_SMALL_FILE_BYTES)?.ok_or_else(|| {
        std::io::Error::other(format!(
            "it holds more than {MAX_SMALL_FILE_BYTES} bytes, far more than a key or a signature"
        ))
    })
}

/// The public half of a secret key, with its default key id attached.
pub fn public_key_of(sk: &SecretKey) -> PublicKey {
    PublicKey {
        pk: sk.sk.public_key(),
        key_id: None,
    }
    .attach_default_key_id()
}

/// Lowercase hex of a key's default key id.
pub fn fingerprint(pk: &PublicKey) -> String {
    let pk = pk.clone().attach_default_key_id();
    hex(pk.key_id().map(Vec::as_slice).unwrap_or_default())
}

/// `ed25519:1a2b3c4d…` from a full hex fingerprint.
pub fn short_fingerprint(full_hex: &str) -> String {
    let short: String = full_hex.chars().take(SHORT_FINGERPRINT_HEX).collect();
    if short.len() < full_hex.len() {
        format!("ed25519:{short}…")
    } else {
        format!("ed25519:{short}")
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Where `keygen` put a key pair.
#[derive(Debug, Clone)]
pub struct GeneratedKeys {
    pub secret: PathBuf,
    pub public: PathBuf,
    /// Full hex fingerprint of the public key.
    pub fingerprint: String,
}

/// Create `<dir>/<name>.secret` (mode 0600 from creation on) and `<dir>/<name>.pub`.
/// Refuses to replace existing files unless `force`. Both files are written in full
/// beside their places before either is moved there, so a failure leaves no half
/// pair, and `force` loses the old pair only once the new one is on disk.
pub fn generate(dir: &Path, name: &str, force: bool) -> Result<GeneratedKeys, SigningError> {
    if name.is_empty()
        || name.starts_with('.')
        || name.contains(['/', '\\'])
        || Path::new(name).components().count() != 1
    {
        return Err(SigningError::BadKeyName { name: name.into() });
    }
    if dir.exists() && !dir.is_dir() {
        return Err(SigningError::KeyFolderIsFile {
            path: dir.to_owned(),
        });
    }
    let secret = dir.join(format!("{name}.{SECRET_KEY_EXTENSION}"));
    let public = dir.join(format!("{name}.{PUBLIC_KEY_EXTENSION}"));
    for path in [&secret, &public] {
        if !force && path.symlink_metadata().is_ok() {
            return Err(SigningError::KeyExists { path: path.clone() });
        }
    }
    create_private_dir(dir)?;

    let kp = KeyPair::generate();
    let staged_secret = super::stage_file(&secret, &kp.sk.to_bytes(), true)?;
    let staged_public = super::stage_file(&public, &kp.pk.to_bytes(), false).inspect_err(|_| {
        let _ = fs::remove_file(&staged_secret);
    })?;
    super::move_into_place(&staged_secret, &secret).inspect_err(|_| {
        let _ = fs::remove_file(&staged_public);
    })?;
    super::move_into_place(&staged_public, &public)?;
    Ok(GeneratedKeys {
        secret,
        public,
        fingerprint: fingerprint(&kp.pk),
    })
}

fn create_private_dir(dir: &Path) -> Result<(), SigningError> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| SigningError::Write {
        path: dir.to_owned(),
        source,
    })
}

/// Which folder supplies trusted keys when the command line names none.
/// Explicit `--trust-dir` wins, then `$STAGE_HARNESS_TRUST_DIR`, then `./trust/` if it
/// exists. Returns the folder and whether it was asked for explicitly (an explicit
/// folder that is missing or empty is an error; the implicit `./trust/` is optional).
pub fn trust_dir_choice(
    explicit: Option<&Path>,
    env_value: Option<OsString>,
    default_dir: &Path,
) -> Option<(PathBuf, bool)> {
    if let Some(dir) = explicit {
        return Some((dir.to_owned(), true));
    }
    if let Some(value) = env_value.filter(|v| !v.is_empty()) {
        return Some((PathBuf::from(value), true));
    }
    default_dir
        .is_dir()
        .then(|| (default_dir.to_owned(), false))
}

/// Every `*.pub` file in `dir`, sorted by name.
pub fn public_keys_in(dir: &Path) -> Result<Vec<PathBuf>, SigningError> {
    let refuse = |detail: String| SigningError::TrustDir {
        path: dir.to_owned(),
        detail,
    };
    if dir.is_file() {
        return Err(refuse(format!(
            "it is a file; trust a single public key with --trust {}",
            dir.display()
        )));
    }
    let entries = fs::read_dir(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => refuse(
            "it does not exist; create it and copy the public keys you trust into it, or pass --trust PUBKEY".into(),
        ),
        _ => refuse(format!("cannot read it: {e}")),
    })?;
    let mut keys = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| SigningError::TrustDir {
            path: dir.to_owned(),
            detail: format!("cannot list it: {e}"),
        })?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == PUBLIC_KEY_EXTENSION) && path.is_file() {
            keys.push(path);
        }
    }
    keys.sort();
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasmsign2_format_round_trips_and_pem_is_accepted() {
        let kp = KeyPair::generate();
        let raw = parse_public_key(&kp.pk.to_bytes()).unwrap();
        let pem = parse_public_key(kp.pk.to_pem().as_bytes()).unwrap();
        let der = parse_public_key(&kp.pk.to_der()).unwrap();
        assert_eq!(raw.pk, kp.pk.pk);
        assert_eq!(pem.pk, kp.pk.pk);
        assert_eq!(der.pk, kp.pk.pk);
        assert!(
            raw.key_id().is_some(),
            "key id attached for signature matching"
        );

        let sk = parse_secret_key(&kp.sk.to_bytes()).unwrap();
        assert_eq!(sk.sk, kp.sk.sk);
        let sk = parse_secret_key(kp.sk.to_pem().as_bytes()).unwrap();
        assert_eq!(public_key_of(&sk).pk, kp.pk.pk);
    }

    #[test]
    fn empty_key_files_are_refused() {
        let empty = |err: String| err.starts_with("the file is empty; pass the .");
        assert!(empty(parse_public_key(b"").unwrap_err()));
        assert!(empty(parse_secret_key(b"").unwrap_err()));
    }

    #[test]
    fn garbage_is_not_a_public_key() {
        let err = parse_public_key(b"hello, world").unwrap_err();
        assert!(err.starts_with("not an Ed25519 public key"), "{err}");
        // A raw key with the wrong length.
        let err = parse_public_key(&[0x01, 1, 2, 3]).unwrap_err();
        assert!(err.starts_with("not an Ed25519 public key"), "{err}");
    }

    #[test]
    fn secret_key_passed_as_trusted_key_is_named() {
        let kp = KeyPair::generate();
        let err = parse_public_key(&kp.sk.to_bytes()).unwrap_err();
        assert!(err.starts_with("this is a SECRET key"), "{err}");
    }

    #[test]
    fn public_key_passed_as_signing_key_is_named() {
        let kp = KeyPair::generate();
        let err = parse_secret_key(&kp.pk.to_bytes()).unwrap_err();
        assert!(err.starts_with("this is a PUBLIC key"), "{err}");
    }

    #[test]
    fn corrupted_secret_key_is_refused() {
        let kp = KeyPair::generate();
        let mut bytes = kp.sk.to_bytes();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01; // the embedded public half no longer matches the seed
        let err = parse_secret_key(&bytes).unwrap_err();
        assert!(err.contains("corrupted"), "{err}");
    }

    #[test]
    fn fingerprint_is_the_signature_key_id() {
        let kp = KeyPair::generate();
        let with_id = kp.pk.clone().attach_default_key_id();
        assert_eq!(fingerprint(&kp.pk), hex(with_id.key_id().unwrap()));
        assert_eq!(fingerprint(&kp.pk).len(), 24);
        let short = short_fingerprint(&fingerprint(&kp.pk));
        assert!(
            short.starts_with("ed25519:") && short.ends_with('…'),
            "{short}"
        );
        assert_eq!(short.chars().count(), "ed25519:".len() + 8 + 1);
    }

    #[test]
    fn key_names_with_paths_are_refused() {
        let dir = std::env::temp_dir();
        for name in ["", "../x", "a/b", ".hidden"] {
            let err = generate(&dir, name, false).unwrap_err();
            assert!(
                matches!(err, SigningError::BadKeyName { .. }),
                "{name:?}: {err}"
            );
        }
    }

    #[test]
    fn trust_dir_precedence() {
        let missing = Path::new("/nonexistent/trust");
        assert_eq!(trust_dir_choice(None, None, missing), None);
        assert_eq!(
            trust_dir_choice(None, Some("".into()), missing),
            None,
            "an empty variable counts as unset"
        );
        assert_eq!(
            trust_dir_choice(None, Some("/env".into()), missing),
            Some((PathBuf::from("/env"), true))
        );
        assert_eq!(
            trust_dir_choice(Some(Path::new("/cli")), Some("/env".into()), missing),
            Some((PathBuf::from("/cli"), true))
        );
        let existing = std::env::temp_dir();
        assert_eq!(
            trust_dir_choice(None, None, &existing),
            Some((existing.clone(), false))
        );
    }
}
