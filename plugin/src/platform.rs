//! What the stage needs from the platform, as plain Rust.
//!
//! [`Platform`] mirrors the `platform` interface of the WIT contract one method per
//! import, with domain types instead of generated ones. The component adapter implements
//! it with the real imports; the unit tests implement it with a fake that records calls.

use core::fmt;

use alloc::{string::String, vec::Vec};

/// A user's primary key on the platform.
pub type UserPk = u64;

/// What kind of account a user is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserKind {
    /// A person with an account of the organisation.
    Internal,
    /// A person from outside the organisation.
    External,
    /// A service account created by an administrator.
    ServiceAccount,
    /// A service account the platform created for its own use.
    InternalServiceAccount,
    /// The placeholder user of an unauthenticated request.
    Anonymous,
}

impl UserKind {
    /// Whether an account of this kind may be locked down. The anonymous placeholder
    /// and the platform's own service accounts are not real accounts to lock.
    pub fn is_lockable(self) -> bool {
        !matches!(self, Self::Anonymous | Self::InternalServiceAccount)
    }

    /// Whether a user of this kind is signed in: every kind but the anonymous placeholder.
    pub fn is_authenticated(self) -> bool {
        self != Self::Anonymous
    }
}

/// A user account, as much of it as the stage needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Primary key; every other call takes it.
    pub pk: UserPk,
    /// Login name; it becomes the event's `affected_user`.
    pub username: String,
    /// The kind of account.
    pub kind: UserKind,
}

/// An expected failure of a platform call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// No user has this primary key (any more).
    UserNotFound(UserPk),
    /// The platform could not complete the operation; the text says why.
    Failed(String),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UserNotFound(pk) => write!(f, "user {pk} does not exist"),
            Self::Failed(why) => f.write_str(why),
        }
    }
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event's action, such as `user_write`.
    pub action: String,
    /// String keys and values, in order.
    pub context: Vec<(String, String)>,
}

/// How bad a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Normal progress.
    Info,
    /// Something went wrong but the stage carried on.
    Warning,
    /// Something went wrong and the stage gave up.
    Error,
}

/// The platform imports, one method per WIT function, in the contract's words.
///
/// Methods take `&mut self` so that a fake can record calls and change its state.
pub trait Platform {
    /// `get-pending-user`: the account the flow is about, if any.
    fn get_pending_user(&mut self) -> Result<Option<User>, HostError>;
    /// `get-actor`: the signed-in user running the flow; `None` when anonymous.
    fn get_actor(&mut self) -> Result<Option<User>, HostError>;
    /// `can-change-user`: whether the actor may change `target`.
    fn can_change_user(&mut self, target: UserPk) -> Result<bool, HostError>;
    /// `set-inactive`: the user can no longer sign in.
    fn set_inactive(&mut self, user: UserPk) -> Result<(), HostError>;
    /// `clear-password`: the user's local password never matches again.
    fn clear_password(&mut self, user: UserPk) -> Result<(), HostError>;
    /// `delete-sessions`: end every session of the user; returns how many ended.
    fn delete_sessions(&mut self, user: UserPk) -> Result<u32, HostError>;
    /// `revoke-tokens`: delete every token and grant of the user; returns how many.
    fn revoke_tokens(&mut self, user: UserPk) -> Result<u32, HostError>;
    /// `emit-event`: record an audit event.
    fn emit_event(&mut self, event: Event) -> Result<(), HostError>;
    /// `redirect`: send the browser to the local `path` once the stage ends.
    fn redirect(&mut self, path: &str) -> Result<(), HostError>;
    /// `log`: write a line to the platform's log.
    fn log(&mut self, level: LogLevel, message: &str);
}
