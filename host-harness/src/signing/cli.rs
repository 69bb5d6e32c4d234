//! Command-line pieces for signing: `keygen`, `sign`, `verify`, and the trust
//! options every command that loads a plugin takes ([`TrustArgs`]).
//!
//! The files are the `wasmsign2` tool's (0.2.8), so either side can check the other:
//! - keys from `wasmsign2 keygen -k X.secret -K X.pub` work with `sign --key X.secret`
//!   and `--trust X.pub`, and ours with its `-k` / `-K`;
//! - `wasmsign2 verify -i OUT -K NAME.pub` accepts what `sign` embeds, and with
//!   `-S SIG` what `sign --detached SIG` writes;
//! - what `wasmsign2 sign -i IN -o OUT -k X.secret [-K X.pub] [-S SIG]` writes passes
//!   `verify OUT --trust X.pub [--detached SIG]` (with `-K`, its signature names the key
//!   id, so a refusal can name the signer).
//!
//! `main.rs` embeds [`SigningCommand`] in its command enum with
//! `#[command(flatten)]` and calls [`SigningCommand::run`]; commands that load a plugin
//! flatten [`TrustArgs`] and call [`TrustArgs::policy`].

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::keys::{self, DEFAULT_TRUST_DIR, TRUST_DIR_ENV};
use super::{SigningError, TrustPolicy, load_plugin};

/// Exit status of a signing command that was refused (same as `run` for unusable input).
pub const EXIT_REFUSED: u8 = 2;

/// Which public keys to trust.
#[derive(Debug, Clone, Default, Args)]
pub struct TrustKeyArgs {
    /// Trust plugins signed by this public key (a `.pub` file); repeatable.
    #[arg(long = "trust", value_name = "PUBKEY")]
    pub trust: Vec<PathBuf>,
    /// Trust every `*.pub` file in DIR. Without --trust or --trust-dir, the folder
    /// named by $STAGE_HARNESS_TRUST_DIR is used, else ./trust/ if it exists.
    #[arg(long = "trust-dir", value_name = "DIR")]
    pub trust_dir: Option<PathBuf>,
    /// Check this detached signature file instead of a signature embedded in the plugin.
    #[arg(long = "detached", value_name = "SIG")]
    pub detached: Option<PathBuf>,
}

/// Trust options for commands that load a plugin (`run`, `check`, ...).
#[derive(Debug, Clone, Default, Args)]
pub struct TrustArgs {
    #[command(flatten)]
    pub keys: TrustKeyArgs,
    /// Load the plugin without checking any signature (local development only; a
    /// warning is printed and the report says `verified: false`).
    #[arg(long = "allow-unsigned", conflicts_with_all = ["trust", "trust_dir", "detached"])]
    pub allow_unsigned: bool,
}

impl TrustArgs {
    /// The policy these options describe, reading $STAGE_HARNESS_TRUST_DIR and
    /// ./trust/ as documented.
    pub fn policy(&self) -> Result<TrustPolicy, SigningError> {
        if self.allow_unsigned {
            return Ok(TrustPolicy::AllowUnsigned);
        }
        self.keys.policy()
    }

    /// [`TrustArgs::policy`] with the environment and default folder passed in.
    pub fn policy_with(
        &self,
        env_value: Option<OsString>,
        default_dir: &Path,
    ) -> Result<TrustPolicy, SigningError> {
        if self.allow_unsigned {
            return Ok(TrustPolicy::AllowUnsigned);
        }
        self.keys.policy_with(env_value, default_dir)
    }
}

impl TrustKeyArgs {
    /// The key-based policy these options describe.
    pub fn policy(&self) -> Result<TrustPolicy, SigningError> {
        self.policy_with(
            std::env::var_os(TRUST_DIR_ENV),
            Path::new(DEFAULT_TRUST_DIR),
        )
    }

    /// [`TrustKeyArgs::policy`] with the environment and default folder passed in.
    /// Explicit `--trust` files and `--trust-dir` add up; the variable and ./trust/ are
    /// consulted only when neither is given.
    pub fn policy_with(
        &self,
        env_value: Option<OsString>,
        default_dir: &Path,
    ) -> Result<TrustPolicy, SigningError> {
        let mut keys = self.trust.clone();
        let dir = if self.trust.is_empty() || self.trust_dir.is_some() {
            keys::trust_dir_choice(self.trust_dir.as_deref(), env_value, default_dir)
        } else {
            None
        };
        if let Some((dir, explicit)) = dir {
            // A variable set long ago is easy to forget: say where the folder came from.
            let origin = if explicit && self.trust_dir.is_none() {
                format!(" (the folder is named by ${TRUST_DIR_ENV})")
            } else {
                String::new()
            };
            let found = keys::public_keys_in(&dir).map_err(|error| match error {
                SigningError::TrustDir { path, detail } => SigningError::TrustDir {
                    path,
                    detail: format!("{detail}{origin}"),
                },
                other => other,
            })?;
            if found.is_empty() && explicit {
                return Err(SigningError::TrustDir {
                    path: dir,
                    detail: format!(
                        "it holds no *.pub files; copy the public keys you trust into it{origin}"
                    ),
                });
            }
            keys.extend(found);
        }
        if keys.is_empty() {
            return Err(SigningError::NoTrustedKeys);
        }
        Ok(match &self.detached {
            Some(signature) => TrustPolicy::Detached {
                keys,
                signature: signature.clone(),
            },
            None => TrustPolicy::Keys(keys),
        })
    }
}

/// `keygen`: create a key pair.
#[derive(Debug, Clone, Args)]
pub struct KeygenArgs {
    /// Folder for the key pair (created with mode 0700 if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Base name: writes DIR/NAME.secret (mode 0600) and DIR/NAME.pub.
    #[arg(long, default_value = "signing")]
    pub name: String,
    /// Replace existing key files of that name (the old secret key is lost).
    #[arg(long)]
    pub force: bool,
}

/// `sign`: sign a component.
#[derive(Debug, Clone, Args)]
pub struct SignArgs {
    /// The component to sign (e.g. dist/account-lockdown.wasm).
    #[arg(value_name = "IN")]
    pub input: PathBuf,
    /// Where to write the signed component. With --detached: where to write an
    /// unchanged copy of IN (optional).
    #[arg(
        short = 'o',
        long = "out",
        value_name = "OUT",
        required_unless_present = "detached"
    )]
    pub output: Option<PathBuf>,
    /// The secret key file.
    #[arg(long, value_name = "SECRET")]
    pub key: PathBuf,
    /// Write the signature to SIG instead of embedding it.
    #[arg(long, value_name = "SIG")]
    pub detached: Option<PathBuf>,
}

/// `verify`: check a component's signature.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// The component to check.
    #[arg(value_name = "IN")]
    pub input: PathBuf,
    #[command(flatten)]
    pub keys: TrustKeyArgs,
}

/// The signing subcommands, for `#[command(flatten)]` in the harness's command enum.
#[derive(Debug, Clone, Subcommand)]
pub enum SigningCommand {
    /// Create a signing key pair: DIR/NAME.secret (mode 0600) and DIR/NAME.pub.
    Keygen(KeygenArgs),
    /// Sign a component (embedded, or --detached); signing a signed file adds a signer.
    Sign(SignArgs),
    /// Check a component's signature and say which trusted keys signed it.
    Verify(VerifyArgs),
}

impl SigningCommand {
    /// Run the command, printing results to stdout and errors to stderr.
    /// Exit status: 0 on success, 2 ([`EXIT_REFUSED`]) on any error.
    pub fn run(&self) -> ExitCode {
        let mut out = std::io::stdout().lock();
        let result = match self {
            SigningCommand::Keygen(args) => keygen(args, &mut out),
            SigningCommand::Sign(args) => sign(args, &mut out),
            SigningCommand::Verify(args) => verify(args, &mut out),
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_REFUSED)
            }
        }
    }
}

/// `keygen`: write the key pair and print where it went and its fingerprint.
pub fn keygen(args: &KeygenArgs, out: &mut dyn Write) -> Result<(), SigningError> {
    let generated = keys::generate(&args.out, &args.name, args.force)?;
    let _ = writeln!(
        out,
        "secret key: {} (keep it private; never commit it)\npublic key: {}\nfingerprint: ed25519:{}",
        generated.secret.display(),
        generated.public.display(),
        generated.fingerprint
    );
    Ok(())
}

/// `sign`: embed a signature into OUT, or write a detached one to SIG (and an
/// unchanged copy of IN to OUT when given).
pub fn sign(args: &SignArgs, out: &mut dyn Write) -> Result<(), SigningError> {
    let input = super::read_component_file(&args.input)?;
    // Nothing is written unless every output can be.
    for path in args.output.iter().chain(&args.detached) {
        super::check_write_target(path)?;
    }
    if let Some(output) = &args.output
        && args.detached.as_ref() == Some(output)
    {
        return Err(SigningError::WriteTarget {
            path: output.clone(),
            detail: "-o and --detached name the same file; give the signature its own file".into(),
        });
    }
    let signed = super::sign_bytes(&args.input, &input, &args.key, args.detached.is_some())?;
    if let (Some(sig_path), Some(sig)) = (&args.detached, &signed.detached_signature) {
        super::write_atomically(sig_path, sig, false)?;
        let _ = writeln!(
            out,
            "wrote detached signature {} ({} signed {})",
            sig_path.display(),
            signed.signer,
            args.input.display()
        );
    }
    if let Some(output) = &args.output {
        super::write_atomically(output, &signed.component, false)?;
        let what = if args.detached.is_some() {
            "unchanged copy"
        } else {
            "signed component"
        };
        let _ = writeln!(
            out,
            "wrote {what} {} (signed by {})",
            output.display(),
            signed.signer
        );
    }
    Ok(())
}

/// `verify`: check the signature and print the trusted keys that signed it.
pub fn verify(args: &VerifyArgs, out: &mut dyn Write) -> Result<(), SigningError> {
    // `verify` has no --allow-unsigned: the two refusals that suggest it say otherwise.
    let without_allow_unsigned = |error| match error {
        SigningError::NoTrustedKeys => SigningError::NoKeysToVerify,
        SigningError::Unsigned { path } => SigningError::UnsignedToVerify { path },
        other => other,
    };
    let policy = args.keys.policy().map_err(without_allow_unsigned)?;
    verify_with(&args.input, &policy, out).map_err(without_allow_unsigned)
}

/// `verify` with an already-resolved policy (used by tests).
pub fn verify_with(
    input: &Path,
    policy: &TrustPolicy,
    out: &mut dyn Write,
) -> Result<(), SigningError> {
    let plugin = load_plugin(input, policy)?;
    let _ = writeln!(out, "{}: signature valid", input.display());
    for signer in &plugin.signed_by {
        let _ = writeln!(out, "signed by: {signer}");
    }
    let _ = writeln!(out, "sha256: {}", plugin.sha256);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Debug, Subcommand)]
    enum Command {
        Run {
            #[command(flatten)]
            trust: TrustArgs,
        },
        #[command(flatten)]
        Signing(SigningCommand),
    }

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once("stage-harness").chain(args.iter().copied()))
            .map(|c| c.command)
    }

    #[test]
    fn allow_unsigned_conflicts_with_trust() {
        let err = parse(&["run", "--allow-unsigned", "--trust", "k.pub"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        let Command::Run { trust } = parse(&["run", "--allow-unsigned"]).unwrap() else {
            panic!("not run")
        };
        assert!(matches!(
            trust.policy_with(None, Path::new("/nonexistent")).unwrap(),
            TrustPolicy::AllowUnsigned
        ));
    }

    #[test]
    fn trust_is_repeatable_and_detached_selects_the_detached_policy() {
        let Command::Run { trust } = parse(&[
            "run",
            "--trust",
            "a.pub",
            "--trust",
            "b.pub",
            "--detached",
            "x.sig",
        ])
        .unwrap() else {
            panic!("not run")
        };
        match trust.policy_with(None, Path::new("/nonexistent")).unwrap() {
            TrustPolicy::Detached { keys, signature } => {
                assert_eq!(keys, [PathBuf::from("a.pub"), PathBuf::from("b.pub")]);
                assert_eq!(signature, PathBuf::from("x.sig"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn no_keys_anywhere_is_an_error_naming_the_options() {
        let Command::Run { trust } = parse(&["run"]).unwrap() else {
            panic!("not run")
        };
        let err = trust
            .policy_with(None, Path::new("/nonexistent"))
            .unwrap_err();
        assert!(matches!(err, SigningError::NoTrustedKeys));
        let msg = err.to_string();
        assert!(msg.contains("--trust PUBKEY") && msg.contains("--allow-unsigned"));
    }

    #[test]
    fn sign_needs_out_unless_detached() {
        assert!(parse(&["sign", "in.wasm", "--key", "k.secret"]).is_err());
        assert!(
            parse(&[
                "sign",
                "in.wasm",
                "--key",
                "k.secret",
                "--detached",
                "s.sig"
            ])
            .is_ok()
        );
        let Command::Signing(SigningCommand::Keygen(k)) = parse(&["keygen", "--out", "d"]).unwrap()
        else {
            panic!("not keygen")
        };
        assert_eq!(k.name, "signing");
    }
}
