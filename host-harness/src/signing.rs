//! Plugin signatures: keys, signing, and verification before compilation.
//!
//! SKELETON: the API below is the contract between the harness and the signing
//! module. The signing work (issue 4) replaces the bodies; the harness only calls
//! `TrustPolicy`, `load_plugin` and `VerifiedPlugin`.

use std::path::{Path, PathBuf};

/// Why a plugin file was refused before wasmtime saw it. Every message names the
/// problem and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("cannot read plugin {path}: {source}; build it with `make build` or pass --plugin PATH")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a WebAssembly component ({detail}); build it with `make build`")]
    NotAComponent { path: PathBuf, detail: String },
    #[error("signature checking is not implemented yet")]
    Unimplemented,
}

/// Which plugins the harness accepts.
#[derive(Debug, Clone)]
pub enum TrustPolicy {
    /// Only plugins signed by at least one of these public keys.
    Keys(Vec<PathBuf>),
    /// Anything that is a component (local development; prints a warning).
    AllowUnsigned,
}

/// A plugin file that passed the policy, ready to compile.
#[derive(Debug, Clone)]
pub struct VerifiedPlugin {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    /// Lowercase hex sha256 of the whole file.
    pub sha256: String,
    /// Names of the trusted keys that signed it; empty when not verified.
    pub signed_by: Vec<String>,
    /// False when loaded under `TrustPolicy::AllowUnsigned`.
    pub verified: bool,
}

/// Read `path`, check it against `policy`, then check that it is a component.
pub fn load_plugin(path: &Path, policy: &TrustPolicy) -> Result<VerifiedPlugin, SigningError> {
    let bytes = std::fs::read(path).map_err(|source| SigningError::Read {
        path: path.to_owned(),
        source,
    })?;
    let signed_by = match policy {
        TrustPolicy::AllowUnsigned => Vec::new(),
        TrustPolicy::Keys(_) => return Err(SigningError::Unimplemented),
    };
    if !wasmparser::Parser::is_component(&bytes) {
        return Err(SigningError::NotAComponent {
            path: path.to_owned(),
            detail: "its header is not a component's".into(),
        });
    }
    use sha2::Digest;
    let sha256 = format!("{:x}", sha2::Sha256::digest(&bytes));
    Ok(VerifiedPlugin {
        path: path.to_owned(),
        bytes,
        sha256,
        verified: !signed_by.is_empty(),
        signed_by,
    })
}
