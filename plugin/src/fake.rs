//! A fake platform for the unit tests: one target account with some sessions and
//! tokens, one actor, a permission switch, injected faults, and a record of every call.

use crate::platform::{Event, HostError, LogLevel, Platform, User, UserKind, UserPk};

/// The administrator who runs the flow in most tests.
pub fn alice() -> User {
    User {
        pk: 1,
        username: "alice".into(),
        kind: UserKind::Internal,
    }
}

/// The account most tests lock down.
pub fn bob() -> User {
    User {
        pk: 2,
        username: "bob".into(),
        kind: UserKind::External,
    }
}

/// One platform call, with its arguments, in the order the stage made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    GetPendingUser,
    GetActor,
    CanChangeUser(UserPk),
    SetInactive(UserPk),
    ClearPassword(UserPk),
    DeleteSessions(UserPk),
    RevokeTokens(UserPk),
    EmitEvent(Event),
    Redirect(String),
    Log(LogLevel, String),
}

impl Call {
    /// The WIT name of the import.
    pub fn name(&self) -> &'static str {
        match self {
            Self::GetPendingUser => "get-pending-user",
            Self::GetActor => "get-actor",
            Self::CanChangeUser(_) => "can-change-user",
            Self::SetInactive(_) => "set-inactive",
            Self::ClearPassword(_) => "clear-password",
            Self::DeleteSessions(_) => "delete-sessions",
            Self::RevokeTokens(_) => "revoke-tokens",
            Self::EmitEvent(_) => "emit-event",
            Self::Redirect(_) => "redirect",
            Self::Log(..) => "log",
        }
    }
}

/// An injected failure: the `on_call`-th call of `import` (every call when `None`)
/// returns `error`.
struct Fault {
    import: &'static str,
    on_call: Option<usize>,
    error: HostError,
}

/// The fake platform. Build it with the chained setters, run the stage, then read
/// `calls` and the state fields.
pub struct Fake {
    /// Every call, in order.
    pub calls: Vec<Call>,
    pending: Option<User>,
    actor: Option<User>,
    can_change: bool,
    faults: Vec<Fault>,
    tokens_after_first_revoke: u32,
    regrowing_revokes: u32,
    /// Sessions of the target still alive.
    pub sessions: u32,
    /// Tokens of the target still alive.
    pub tokens: u32,
    /// Whether the target can still sign in.
    pub active: bool,
    /// Whether the target's password can still match.
    pub password_usable: bool,
}

impl Default for Fake {
    /// alice (allowed to change bob) locks down bob, who has 1 session and 2 tokens.
    fn default() -> Self {
        Self {
            calls: Vec::new(),
            pending: Some(bob()),
            actor: Some(alice()),
            can_change: true,
            faults: Vec::new(),
            tokens_after_first_revoke: 0,
            regrowing_revokes: 0,
            sessions: 1,
            tokens: 2,
            active: true,
            password_usable: true,
        }
    }
}

impl Fake {
    /// Sets the pending user (`None`: the plan names nobody and nobody is signed in).
    pub fn pending(mut self, user: Option<User>) -> Self {
        self.pending = user;
        self
    }

    /// Makes the pending user (bob) of this kind.
    pub fn target_kind(mut self, kind: UserKind) -> Self {
        if let Some(user) = &mut self.pending {
            user.kind = kind;
        }
        self
    }

    /// Sets the actor (`None`: an anonymous request).
    pub fn actor(mut self, user: Option<User>) -> Self {
        self.actor = user;
        self
    }

    /// The pending user locks down their own account.
    pub fn self_service(mut self) -> Self {
        self.actor = self.pending.clone();
        self
    }

    /// The actor lacks the change-user permission on the target.
    pub fn denied(mut self) -> Self {
        self.can_change = false;
        self
    }

    /// Sets how many sessions and tokens the target has.
    pub fn credentials(mut self, sessions: u32, tokens: u32) -> Self {
        self.sessions = sessions;
        self.tokens = tokens;
        self
    }

    /// The `on_call`-th call of `import` fails with `host-error::failed`.
    pub fn fail(self, import: &'static str, on_call: usize) -> Self {
        self.fail_with(
            import,
            Some(on_call),
            HostError::Failed("injected fault".into()),
        )
    }

    /// The `on_call`-th call of `import` (every call when `None`) fails with `error`.
    pub fn fail_with(
        mut self,
        import: &'static str,
        on_call: Option<usize>,
        error: HostError,
    ) -> Self {
        self.faults.push(Fault {
            import,
            on_call,
            error,
        });
        self
    }

    /// `count` fresh tokens appear right after the first `revoke-tokens` call returns.
    pub fn tokens_after_first_revoke(mut self, count: u32) -> Self {
        self.tokens_after_first_revoke = count;
        self
    }

    /// After each of the first `calls` `revoke-tokens` calls, one fresh token appears,
    /// so the pass after it finds one. `u32::MAX`: a platform that never runs dry.
    pub fn regrowing_revokes(mut self, calls: u32) -> Self {
        self.regrowing_revokes = calls;
        self
    }

    /// The import names of the calls made, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.calls.iter().map(Call::name).collect()
    }

    /// The events recorded.
    pub fn events(&self) -> Vec<&Event> {
        self.calls
            .iter()
            .filter_map(|call| match call {
                Call::EmitEvent(event) => Some(event),
                _ => None,
            })
            .collect()
    }

    /// The log lines written, with their levels.
    pub fn logs(&self) -> Vec<(LogLevel, &str)> {
        self.calls
            .iter()
            .filter_map(|call| match call {
                Call::Log(level, line) => Some((*level, line.as_str())),
                _ => None,
            })
            .collect()
    }

    /// Records `call` and returns the injected error for it, if any.
    fn record(&mut self, call: Call) -> Result<(), HostError> {
        let name = call.name();
        self.calls.push(call);
        let nth = self.calls.iter().filter(|c| c.name() == name).count();
        match self
            .faults
            .iter()
            .find(|f| f.import == name && f.on_call.is_none_or(|n| n == nth))
        {
            Some(fault) => Err(fault.error.clone()),
            None => Ok(()),
        }
    }

    fn revoke_count(&self) -> usize {
        self.calls
            .iter()
            .filter(|c| matches!(c, Call::RevokeTokens(_)))
            .count()
    }
}

impl Platform for Fake {
    fn get_pending_user(&mut self) -> Result<Option<User>, HostError> {
        self.record(Call::GetPendingUser)?;
        Ok(self.pending.clone())
    }

    fn get_actor(&mut self) -> Result<Option<User>, HostError> {
        self.record(Call::GetActor)?;
        Ok(self.actor.clone())
    }

    fn can_change_user(&mut self, target: UserPk) -> Result<bool, HostError> {
        self.record(Call::CanChangeUser(target))?;
        Ok(self.can_change)
    }

    fn set_inactive(&mut self, user: UserPk) -> Result<(), HostError> {
        self.record(Call::SetInactive(user))?;
        self.active = false;
        Ok(())
    }

    fn clear_password(&mut self, user: UserPk) -> Result<(), HostError> {
        self.record(Call::ClearPassword(user))?;
        self.password_usable = false;
        Ok(())
    }

    fn delete_sessions(&mut self, user: UserPk) -> Result<u32, HostError> {
        self.record(Call::DeleteSessions(user))?;
        Ok(core::mem::take(&mut self.sessions))
    }

    fn revoke_tokens(&mut self, user: UserPk) -> Result<u32, HostError> {
        self.record(Call::RevokeTokens(user))?;
        let removed = core::mem::take(&mut self.tokens);
        let nth = self.revoke_count();
        if nth == 1 {
            self.tokens += self.tokens_after_first_revoke;
        }
        if u32::try_from(nth).is_ok_and(|nth| nth <= self.regrowing_revokes) {
            self.tokens += 1;
        }
        Ok(removed)
    }

    fn emit_event(&mut self, event: Event) -> Result<(), HostError> {
        self.record(Call::EmitEvent(event))
    }

    fn redirect(&mut self, path: &str) -> Result<(), HostError> {
        self.record(Call::Redirect(path.into()))
    }

    fn log(&mut self, level: LogLevel, message: &str) {
        self.calls.push(Call::Log(level, message.into()));
    }
}
