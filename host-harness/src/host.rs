//! The store data of one run and the host side of the `platform` imports.
//!
//! Each import is a thin delegation to the mock [`Platform`]: convert the WIT values,
//! call the platform, convert back. Around that, every call is recorded (import name,
//! arguments, result), scenario faults are applied, and the concurrent race is played.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::bindings::{self, HostError, platform, types};
use crate::engine::{HasMemoryCap, MemoryCap};
use crate::platform::{Event, LogLevel, Platform, PlatformError, UserPk, UserRef};
use crate::scenario::{Concurrent, Fault, FaultKind};

/// What an import call gave back, as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallResult {
    /// The call returned normally (for a `result`, its ok value).
    Ok(Value),
    /// The call returned its WIT error, such as `{"failed": "injected fault"}`.
    Err(Value),
    /// The host aborted the component call; the text says why.
    Trap(String),
}

/// One recorded import call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallRecord {
    pub import: String,
    pub args: Vec<Value>,
    pub result: CallResult,
}

/// The trap a `"fail": "trap"` fault raises.
#[derive(Debug, thiserror::Error)]
#[error("host import `{import}` trapped: injected fault on call {call}")]
pub struct InjectedTrap {
    pub import: &'static str,
    pub call: u32,
}

/// The most host calls one run may make. A lockdown makes a few dozen at most (ten
/// deletion passes of two calls, and a handful more).
pub const MAX_HOST_CALLS: usize = 10_000;
/// The most text (log messages, event contexts, redirect paths; in bytes) one run may
/// hand the host. The host keeps what it is handed, outside the plugin's memory cap, so
/// without this a plugin logging a large message in a loop exhausts the host.
pub const MAX_HOST_TEXT: usize = 16 << 20;

/// The trap raised when a plugin goes past a host-side cap.
#[derive(Debug, thiserror::Error)]
pub enum HostCapExceeded {
    #[error("the plugin made more than {MAX_HOST_CALLS} host calls; a lockdown needs a few dozen")]
    Calls,
    #[error(
        "the plugin handed the host more than {MAX_HOST_TEXT} bytes of text (log messages, events, redirects) in one run"
    )]
    Text,
}

/// Everything one run's store holds.
#[derive(Debug)]
pub struct HostState {
    pub platform: Platform,
    calls: Vec<CallRecord>,
    faults: Vec<Fault>,
    counts: BTreeMap<&'static str, u32>,
    race: Concurrent,
    memory: MemoryCap,
    /// Bytes of text handed to the host so far (see [`MAX_HOST_TEXT`]).
    text: usize,
}

impl HasMemoryCap for HostState {
    fn memory_cap(&mut self) -> &mut MemoryCap {
        &mut self.memory
    }
}

impl HostState {
    pub fn new(platform: Platform, faults: Vec<Fault>, race: Concurrent) -> Self {
        HostState {
            platform,
            calls: Vec::new(),
            faults,
            counts: BTreeMap::new(),
            race,
            memory: MemoryCap::default(),
            text: 0,
        }
    }

    pub fn calls(&self) -> &[CallRecord] {
        &self.calls
    }

    /// Run one import: count it, apply a fault if one fires, else delegate to the
    /// platform; record the call either way.
    fn call<T>(
        &mut self,
        import: &'static str,
        args: Vec<Value>,
        show: impl FnOnce(&T) -> Value,
        op: impl FnOnce(&mut Platform) -> Result<T, PlatformError>,
    ) -> wasmtime::Result<Result<T, HostError>> {
        if self.calls.len() >= MAX_HOST_CALLS {
            return Err(wasmtime::Error::new(HostCapExceeded::Calls));
        }
        self.text = self.text.saturating_add(args.iter().map(text_len).sum());
        if self.text > MAX_HOST_TEXT {
            // Recorded without its arguments: keeping them is what the cap prevents.
            self.record(
                import,
                vec![],
                CallResult::Trap(HostCapExceeded::Text.to_string()),
            );
            return Err(wasmtime::Error::new(HostCapExceeded::Text));
        }
        let count = self.counts.entry(import).or_default();
        *count += 1;
        let call = *count;
        let fault = self
            .faults
            .iter()
            .find(|f| f.fires(import, call))
            .map(|f| f.fail);
        let (result, recorded) = match fault {
            Some(FaultKind::Trap) => {
                let trap = InjectedTrap { import, call };
                let text = trap.to_string();
                self.record(import, args, CallResult::Trap(text));
                return Err(wasmtime::Error::new(trap));
            }
            Some(FaultKind::Error) => {
                let error = PlatformError::Failed("injected fault".into());
                (Err(error.clone()), CallResult::Err(to_json(&error)))
            }
            None => match op(&mut self.platform) {
                Ok(value) => {
                    let shown = show(&value);
                    (Ok(value), CallResult::Ok(shown))
                }
                Err(error) => {
                    let shown = to_json(&error);
                    (Err(error), CallResult::Err(shown))
                }
            },
        };
        self.record(import, args, recorded);
        Ok(result.map_err(wit_error))
    }

    fn record(&mut self, import: &str, args: Vec<Value>, result: CallResult) {
        self.calls.push(CallRecord {
            import: import.to_owned(),
            args,
            result,
        });
    }
}

/// Bytes of text in a call argument: its strings and object keys.
fn text_len(value: &Value) -> usize {
    match value {
        Value::String(text) => text.len(),
        Value::Array(items) => items.iter().map(text_len).sum(),
        Value::Object(map) => map.iter().map(|(k, v)| k.len() + text_len(v)).sum(),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

fn to_json(value: &impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn wit_error(error: PlatformError) -> HostError {
    match error {
        PlatformError::UserNotFound(pk) => HostError::UserNotFound(pk),
        PlatformError::Failed(text) => HostError::Failed(text),
    }
}

fn wit_user(user: UserRef) -> types::User {
    use crate::platform::UserType;
    types::User {
        pk: user.pk,
        username: user.username,
        kind: match user.kind {
            UserType::Internal => types::UserKind::Internal,
            UserType::External => types::UserKind::External,
            UserType::ServiceAccount => types::UserKind::ServiceAccount,
            UserType::InternalServiceAccount => types::UserKind::InternalServiceAccount,
            UserType::Anonymous => types::UserKind::Anonymous,
        },
    }
}

fn show_user(user: &Option<UserRef>) -> Value {
    match user {
        Some(user) => {
            json!({"pk": user.pk, "username": user.username, "kind": user.kind.wit_name()})
        }
        None => Value::Null,
    }
}

fn show_unit(_: &()) -> Value {
    Value::Null
}

type Answer<T> = wasmtime::Result<Result<T, HostError>>;

impl types::Host for HostState {}

impl platform::Host for HostState {
    fn get_pending_user(&mut self) -> Answer<Option<types::User>> {
        let answer = self.call("get-pending-user", vec![], show_user, |p| {
            p.get_pending_user()
        })?;
        Ok(answer.map(|user| user.map(wit_user)))
    }

    fn get_actor(&mut self) -> Answer<Option<types::User>> {
        let answer = self.call("get-actor", vec![], show_user, |p| p.get_actor())?;
        Ok(answer.map(|user| user.map(wit_user)))
    }

    fn can_change_user(&mut self, target: UserPk) -> Answer<bool> {
        self.call(
            "can-change-user",
            vec![json!(target)],
            |b| json!(b),
            |p| p.can_change_user(target),
        )
    }

    fn set_inactive(&mut self, user: UserPk) -> Answer<()> {
        self.call("set-inactive", vec![json!(user)], show_unit, |p| {
            p.set_inactive(user)
        })
    }

    fn clear_password(&mut self, user: UserPk) -> Answer<()> {
        self.call("clear-password", vec![json!(user)], show_unit, |p| {
            p.clear_password(user)
        })
    }

    fn delete_sessions(&mut self, user: UserPk) -> Answer<u32> {
        self.call(
            "delete-sessions",
            vec![json!(user)],
            |n| json!(n),
            |p| p.delete_sessions(user),
        )
    }

    fn revoke_tokens(&mut self, user: UserPk) -> Answer<u32> {
        let answer = self.call(
            "revoke-tokens",
            vec![json!(user)],
            |n| json!(n),
            |p| p.revoke_tokens(user),
        );
        // The race: an attacker mints fresh tokens right after each of the first
        // `revoke_passes_raced` revoke passes.
        let race = &mut self.race;
        if race.tokens_created_during_revoke > 0 && race.revoke_passes_raced > 0 && answer.is_ok() {
            race.revoke_passes_raced -= 1;
            self.platform
                .mint_tokens(user, race.tokens_created_during_revoke);
        }
        answer
    }

    fn emit_event(&mut self, event: types::Event) -> Answer<()> {
        let event = Event {
            action: event.action,
            context: event.context,
        };
        let args = vec![to_json(&event)];
        self.call("emit-event", args, show_unit, move |p| p.emit_event(event))
    }

    fn redirect(&mut self, path: String) -> Answer<()> {
        let args = vec![json!(path)];
        self.call("redirect", args, show_unit, |p| p.redirect(&path))
    }

    fn log(&mut self, level: types::LogLevel, message: String) -> wasmtime::Result<()> {
        let level = match level {
            bindings::LogLevel::Info => LogLevel::Info,
            bindings::LogLevel::Warning => LogLevel::Warning,
            bindings::LogLevel::Error => LogLevel::Error,
        };
        let args = vec![to_json(&level), json!(message)];
        let answer = self.call("log", args, show_unit, |p| {
            p.log(level, message);
            Ok(())
        })?;
        // Scenario validation refuses `error` faults on `log`, so this stays Ok.
        answer.map_err(|e| wasmtime::format_err!("log cannot fail, yet returned {e:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::{FlowRequest, PlatformState, Token, TokenKind, User, UserType};
    use platform::Host as _;

    fn state(faults: Vec<Fault>, race_tokens: u32) -> HostState {
        raced(faults, race_tokens, 1)
    }

    fn raced(faults: Vec<Fault>, tokens: u32, passes: u32) -> HostState {
        let user = |pk, kind| User {
            pk,
            username: format!("user{pk}"),
            kind,
            is_active: true,
            password_usable: true,
            superuser: pk == 1,
            can_change: Default::default(),
        };
        let platform = PlatformState {
            users: vec![user(1, UserType::Internal), user(3, UserType::External)],
            sessions: vec![],
            tokens: vec![Token {
                id: "t1".into(),
                user: 3,
                kind: TokenKind::Api,
                expired: false,
            }],
        };
        let request = FlowRequest {
            actor: Some(1),
            pending_user: Some(3),
        };
        let race = Concurrent {
            tokens_created_during_revoke: tokens,
            revoke_passes_raced: passes,
        };
        HostState::new(Platform::new(platform, request), faults, race)
    }

    fn fault(import: &str, fail: FaultKind, on_call: Option<u32>) -> Fault {
        Fault {
            import: import.into(),
            fail,
            on_call,
        }
    }

    #[test]
    fn calls_are_recorded_with_args_and_results() {
        let mut host = state(vec![], 0);
        assert_eq!(host.can_change_user(3).unwrap(), Ok(true));
        assert!(matches!(
            host.set_inactive(42).unwrap(),
            Err(HostError::UserNotFound(42))
        ));
        assert_eq!(
            host.calls(),
            [
                CallRecord {
                    import: "can-change-user".into(),
                    args: vec![json!(3)],
                    result: CallResult::Ok(json!(true)),
                },
                CallRecord {
                    import: "set-inactive".into(),
                    args: vec![json!(42)],
                    result: CallResult::Err(json!({"user-not-found": 42})),
                },
            ]
        );
    }

    #[test]
    fn an_error_fault_fires_on_its_call_only_and_changes_nothing() {
        let mut host = state(vec![fault("revoke-tokens", FaultKind::Error, Some(2))], 0);
        assert_eq!(host.revoke_tokens(3).unwrap(), Ok(1));
        assert!(
            matches!(host.revoke_tokens(3).unwrap(), Err(HostError::Failed(m)) if m == "injected fault")
        );
        assert_eq!(host.revoke_tokens(3).unwrap(), Ok(0));
        assert_eq!(
            host.calls()[1].result,
            CallResult::Err(json!({"failed": "injected fault"}))
        );
    }

    #[test]
    fn a_trap_fault_aborts_with_an_injected_trap() {
        let mut host = state(vec![fault("log", FaultKind::Trap, None)], 0);
        let error = host.log(types::LogLevel::Info, "hello".into()).unwrap_err();
        let trap = error
            .downcast_ref::<InjectedTrap>()
            .expect("an injected trap");
        assert_eq!(
            trap.to_string(),
            "host import `log` trapped: injected fault on call 1"
        );
        assert!(host.platform.logs().is_empty());
        assert_eq!(host.calls()[0].args, [json!("info"), json!("hello")]);
    }

    #[test]
    fn host_calls_and_text_are_capped() {
        let mut host = state(vec![], 0);
        let big = "x".repeat(MAX_HOST_TEXT / 4 + 1);
        for _ in 0..3 {
            host.log(types::LogLevel::Info, big.clone()).unwrap();
        }
        let error = host.log(types::LogLevel::Info, big).unwrap_err();
        assert!(matches!(error.downcast_ref(), Some(HostCapExceeded::Text)));
        assert_eq!(host.platform.logs().len(), 3, "the fourth is not kept");
        assert_eq!(host.calls()[3].args, Vec::<Value>::new());

        let mut host = state(vec![], 0);
        for _ in 0..MAX_HOST_CALLS {
            host.get_actor().unwrap().unwrap();
        }
        let error = host.get_actor().unwrap_err();
        assert!(matches!(error.downcast_ref(), Some(HostCapExceeded::Calls)));
    }

    #[test]
    fn the_race_mints_tokens_once_right_after_the_first_revoke() {
        let mut host = state(vec![], 2);
        assert_eq!(host.revoke_tokens(3).unwrap(), Ok(1));
        assert_eq!(host.platform.state().tokens_of(3), 2);
        assert_eq!(host.revoke_tokens(3).unwrap(), Ok(2));
        assert_eq!(host.revoke_tokens(3).unwrap(), Ok(0));
    }

    #[test]
    fn the_race_repeats_for_as_many_passes_as_asked() {
        let mut host = raced(vec![], 2, 3);
        assert_eq!(host.revoke_tokens(3).unwrap(), Ok(1));
        assert_eq!(host.revoke_tokens(3).unwrap(), Ok(2));
        assert_eq!(host.revoke_tokens(3).unwrap(), Ok(2));
        assert_eq!(host.revoke_tokens(3).unwrap(), Ok(2));
        assert_eq!(host.revoke_tokens(3).unwrap(), Ok(0));
    }
}
