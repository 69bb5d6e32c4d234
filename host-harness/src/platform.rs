//! The mock identity platform the stage runs against: users, sessions, tokens, events,
//! redirects and log lines, with a snapshot to roll a unit of work back.
//!
//! Plain Rust on purpose: nothing here knows about wasmtime or the generated bindings.
//! The types double as the scenario's `platform` section and the report's `state`, so a
//! report shows the platform in the same shape the scenario described it.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

/// A user's primary key.
pub type UserPk = u64;

/// The kind of account, spelled as in scenario files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserType {
    Internal,
    External,
    ServiceAccount,
    InternalServiceAccount,
    Anonymous,
}

impl UserType {
    /// The name scenario files give this kind (`internal_service_account`...).
    pub fn scenario_name(self) -> &'static str {
        match self {
            UserType::Internal => "internal",
            UserType::External => "external",
            UserType::ServiceAccount => "service_account",
            UserType::InternalServiceAccount => "internal_service_account",
            UserType::Anonymous => "anonymous",
        }
    }

    /// The name the WIT contract gives this kind (`internal-service-account`...).
    pub fn wit_name(self) -> &'static str {
        match self {
            UserType::Internal => "internal",
            UserType::External => "external",
            UserType::ServiceAccount => "service-account",
            UserType::InternalServiceAccount => "internal-service-account",
            UserType::Anonymous => "anonymous",
        }
    }
}

/// The change-user permission a user holds: on some users, or on everyone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CanChange {
    /// On the listed users only (empty: on nobody).
    #[default]
    Nobody,
    Users(Vec<UserPk>),
    /// On every user (`"all"` in a scenario).
    All,
}

impl CanChange {
    fn is_nobody(&self) -> bool {
        matches!(self, CanChange::Nobody)
            || matches!(self, CanChange::Users(list) if list.is_empty())
    }

    /// Whether this grants the permission on `target`.
    pub fn covers(&self, target: UserPk) -> bool {
        match self {
            CanChange::Nobody => false,
            CanChange::Users(list) => list.contains(&target),
            CanChange::All => true,
        }
    }

    /// The user pks this names explicitly (none for `all`).
    pub fn listed(&self) -> &[UserPk] {
        match self {
            CanChange::Users(list) => list,
            CanChange::Nobody | CanChange::All => &[],
        }
    }
}

impl Serialize for CanChange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            CanChange::All => serializer.serialize_str("all"),
            CanChange::Nobody => serializer.collect_seq(std::iter::empty::<UserPk>()),
            CanChange::Users(list) => serializer.collect_seq(list),
        }
    }
}

impl<'de> Deserialize<'de> for CanChange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CanChangeVisitor;
        impl<'de> Visitor<'de> for CanChangeVisitor {
            type Value = CanChange;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of user pks or the string \"all\"")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<CanChange, E> {
                if value == "all" {
                    Ok(CanChange::All)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(value), &self))
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CanChange, A::Error> {
                let mut list = Vec::new();
                while let Some(pk) = seq.next_element::<UserPk>()? {
                    list.push(pk);
                }
                Ok(CanChange::Users(list))
            }
        }
        deserializer.deserialize_any(CanChangeVisitor)
    }
}

fn yes() -> bool {
    true
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// One account on the platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub pk: UserPk,
    pub username: String,
    #[serde(rename = "type")]
    pub kind: UserType,
    #[serde(default = "yes")]
    pub is_active: bool,
    #[serde(default = "yes")]
    pub password_usable: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub superuser: bool,
    #[serde(default, skip_serializing_if = "CanChange::is_nobody")]
    pub can_change: CanChange,
}

/// A signed-in browser session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    pub id: String,
    pub user: UserPk,
}

/// Every kind of token or grant the platform keeps for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Api,
    AppPassword,
    Recovery,
    Verification,
    OauthAuthorizationCode,
    OauthAccessToken,
    OauthRefreshToken,
    OauthDeviceCode,
    SamlSession,
}

/// A token or grant held by a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    pub id: String,
    pub user: UserPk,
    pub kind: TokenKind,
    #[serde(default, skip_serializing_if = "is_false")]
    pub expired: bool,
}

/// The platform's stored data: the scenario's `platform` section, the report's `state`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformState {
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub sessions: Vec<Session>,
    #[serde(default)]
    pub tokens: Vec<Token>,
}

impl PlatformState {
    pub fn user(&self, pk: UserPk) -> Option<&User> {
        self.users.iter().find(|user| user.pk == pk)
    }

    fn user_mut(&mut self, pk: UserPk) -> Result<&mut User, PlatformError> {
        self.users
            .iter_mut()
            .find(|user| user.pk == pk)
            .ok_or(PlatformError::UserNotFound(pk))
    }

    /// How many sessions `pk` still has.
    pub fn sessions_of(&self, pk: UserPk) -> usize {
        self.sessions.iter().filter(|s| s.user == pk).count()
    }

    /// How many tokens `pk` still has.
    pub fn tokens_of(&self, pk: UserPk) -> usize {
        self.tokens.iter().filter(|t| t.user == pk).count()
    }

    /// Readable lines saying what differs from `before` to `self`.
    pub fn changes_since(&self, before: &PlatformState) -> Vec<String> {
        let mut lines = Vec::new();
        for old in &before.users {
            let Some(new) = self.user(old.pk) else {
                lines.push(format!("user {} ({}) deleted", old.pk, old.username));
                continue;
            };
            let mut field = |name: &str, was: bool, now: bool| {
                if was != now {
                    lines.push(format!(
                        "user {} ({}): {name} {was} -> {now}",
                        old.pk, old.username
                    ));
                }
            };
            field("is_active", old.is_active, new.is_active);
            field("password_usable", old.password_usable, new.password_usable);
            field("superuser", old.superuser, new.superuser);
        }
        for old in &before.sessions {
            if !self.sessions.contains(old) {
                lines.push(format!("session {} of user {} deleted", old.id, old.user));
            }
        }
        for new in &self.sessions {
            if !before.sessions.contains(new) {
                lines.push(format!("session {} of user {} created", new.id, new.user));
            }
        }
        let kind = |token: &Token| {
            let kind = serde_json::to_value(token.kind).unwrap_or_default();
            let expired = if token.expired { ", expired" } else { "" };
            format!("{}{expired}", kind.as_str().unwrap_or("?"))
        };
        for old in &before.tokens {
            if !self.tokens.contains(old) {
                let line = format!(
                    "token {} ({}) of user {} deleted",
                    old.id,
                    kind(old),
                    old.user
                );
                lines.push(line);
            }
        }
        for new in &self.tokens {
            if !before.tokens.contains(new) {
                let line = format!(
                    "token {} ({}) of user {} created",
                    new.id,
                    kind(new),
                    new.user
                );
                lines.push(line);
            }
        }
        lines
    }
}

/// An audit event. Its context keeps the order the stage gave; in JSON it is an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub action: String,
    pub context: Vec<(String, String)>,
}

impl Event {
    /// Whether two events say the same thing (context keys in any order).
    pub fn same_as(&self, other: &Event) -> bool {
        let sorted = |event: &Event| {
            let mut pairs = event.context.clone();
            pairs.sort();
            pairs
        };
        self.action == other.action && sorted(self) == sorted(other)
    }
}

struct ContextMap<'a>(&'a [(String, String)]);

impl Serialize for ContextMap<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("action", &self.action)?;
        map.serialize_entry("context", &ContextMap(&self.context))?;
        map.end()
    }
}

/// The context object of an event, in the order written.
struct OrderedContext(Vec<(String, String)>);

impl<'de> Deserialize<'de> for OrderedContext {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContextVisitor;
        impl<'de> Visitor<'de> for ContextVisitor {
            type Value = OrderedContext;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of string keys and string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedContext, A::Error> {
                let mut pairs = Vec::new();
                while let Some(entry) = map.next_entry::<String, String>()? {
                    pairs.push(entry);
                }
                Ok(OrderedContext(pairs))
            }
        }
        deserializer.deserialize_map(ContextVisitor)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            action: String,
            #[serde(default)]
            context: Option<OrderedContext>,
        }
        let raw = Raw::deserialize(deserializer)?;
        Ok(Event {
            action: raw.action,
            context: raw.context.map(|c| c.0).unwrap_or_default(),
        })
    }
}

/// How bad a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Info,
    Warning,
    Error,
}

/// A line the stage wrote to the platform log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
}

/// An expected failure of a platform operation (the WIT `host-error`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum PlatformError {
    #[error("user {0} not found")]
    UserNotFound(UserPk),
    #[error("{0}")]
    Failed(String),
}

/// The parts of a user the stage sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRef {
    pub pk: UserPk,
    pub username: String,
    pub kind: UserType,
}

impl From<&User> for UserRef {
    fn from(user: &User) -> Self {
        UserRef {
            pk: user.pk,
            username: user.username.clone(),
            kind: user.kind,
        }
    }
}

/// Who is running the flow and for whom it was planned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowRequest {
    /// The signed-in user running the flow; `None` for an anonymous request.
    pub actor: Option<UserPk>,
    /// The user the flow was planned for; `None` when nothing was planned.
    pub pending_user: Option<UserPk>,
}

/// A saved point of the unit of work, to roll back to.
#[derive(Debug, Clone)]
pub struct Snapshot {
    state: PlatformState,
    events: usize,
    redirects: usize,
}

/// The mock platform: stored data plus what one flow run produced.
#[derive(Debug, Clone)]
pub struct Platform {
    state: PlatformState,
    request: FlowRequest,
    events: Vec<Event>,
    redirects: Vec<String>,
    logs: Vec<LogLine>,
    minted: u64,
}

impl Platform {
    pub fn new(state: PlatformState, request: FlowRequest) -> Self {
        Platform {
            state,
            request,
            events: Vec::new(),
            redirects: Vec::new(),
            logs: Vec::new(),
            minted: 0,
        }
    }

    pub fn state(&self) -> &PlatformState {
        &self.state
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    pub fn redirects(&self) -> &[String] {
        &self.redirects
    }

    pub fn logs(&self) -> &[LogLine] {
        &self.logs
    }

    /// Save the current point of the unit of work.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            state: self.state.clone(),
            events: self.events.len(),
            redirects: self.redirects.len(),
        }
    }

    /// Undo everything since `snapshot`: stored data, events and redirects. Log lines
    /// stay, as a real platform's log would keep them.
    pub fn rollback(&mut self, snapshot: Snapshot) {
        self.state = snapshot.state;
        self.events.truncate(snapshot.events);
        self.redirects.truncate(snapshot.redirects);
    }

    fn lookup(&self, pk: UserPk) -> Result<UserRef, PlatformError> {
        self.state
            .user(pk)
            .map(UserRef::from)
            .ok_or(PlatformError::UserNotFound(pk))
    }

    /// The user the flow is about: the planned user, else the user running the flow
    /// (the real platform hands back its anonymous placeholder user there too), else none.
    pub fn get_pending_user(&self) -> Result<Option<UserRef>, PlatformError> {
        match self.request.pending_user.or(self.request.actor) {
            Some(pk) => self.lookup(pk).map(Some),
            None => Ok(None),
        }
    }

    /// The signed-in user running the flow; none when the request is anonymous (no
    /// actor, or the actor is the anonymous placeholder user).
    pub fn get_actor(&self) -> Result<Option<UserRef>, PlatformError> {
        let Some(pk) = self.request.actor else {
            return Ok(None);
        };
        let actor = self.lookup(pk)?;
        Ok((actor.kind != UserType::Anonymous).then_some(actor))
    }

    /// Whether the actor holds the change-user permission on `target`: superusers on
    /// everyone, others on the users their `can_change` lists (or everyone for "all").
    pub fn can_change_user(&self, target: UserPk) -> Result<bool, PlatformError> {
        self.lookup(target)?;
        let Some(actor) = self.get_actor()? else {
            return Ok(false);
        };
        let actor = self
            .state
            .user(actor.pk)
            .ok_or(PlatformError::UserNotFound(actor.pk))?;
        Ok(actor.superuser || actor.can_change.covers(target))
    }

    pub fn set_inactive(&mut self, pk: UserPk) -> Result<(), PlatformError> {
        self.state.user_mut(pk)?.is_active = false;
        Ok(())
    }

    pub fn clear_password(&mut self, pk: UserPk) -> Result<(), PlatformError> {
        self.state.user_mut(pk)?.password_usable = false;
        Ok(())
    }

    /// End every session of `pk`; how many ended.
    pub fn delete_sessions(&mut self, pk: UserPk) -> Result<u32, PlatformError> {
        self.state.user_mut(pk)?;
        let before = self.state.sessions.len();
        self.state.sessions.retain(|s| s.user != pk);
        Ok(count(before - self.state.sessions.len()))
    }

    /// Delete every token of `pk`, expired ones included; how many went.
    pub fn revoke_tokens(&mut self, pk: UserPk) -> Result<u32, PlatformError> {
        self.state.user_mut(pk)?;
        let before = self.state.tokens.len();
        self.state.tokens.retain(|t| t.user != pk);
        Ok(count(before - self.state.tokens.len()))
    }

    /// Create `n` fresh API tokens for `pk`, as an attacker holding a token could.
    pub fn mint_tokens(&mut self, pk: UserPk, n: u32) {
        let mut taken: std::collections::HashSet<String> =
            self.state.tokens.iter().map(|t| t.id.clone()).collect();
        for _ in 0..n {
            let id = loop {
                self.minted += 1;
                let id = format!("minted-{}", self.minted);
                if taken.insert(id.clone()) {
                    break id;
                }
            };
            self.state.tokens.push(Token {
                id,
                user: pk,
                kind: TokenKind::Api,
                expired: false,
            });
        }
    }

    pub fn emit_event(&mut self, event: Event) -> Result<(), PlatformError> {
        self.events.push(event);
        Ok(())
    }

    /// Ask for a redirect once the stage ends. Only local paths (`/...`, not `//host`).
    pub fn redirect(&mut self, path: &str) -> Result<(), PlatformError> {
        if !path.starts_with('/') || path.starts_with("//") || path.contains('\\') {
            return Err(PlatformError::Failed(format!(
                "redirect target {path:?} is not a local path starting with /"
            )));
        }
        self.redirects.push(path.to_owned());
        Ok(())
    }

    pub fn log(&mut self, level: LogLevel, message: String) {
        self.logs.push(LogLine { level, message });
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(pk: UserPk, kind: UserType) -> User {
        User {
            pk,
            username: format!("user{pk}"),
            kind,
            is_active: true,
            password_usable: true,
            superuser: false,
            can_change: CanChange::Nobody,
        }
    }

    fn platform(actor: Option<UserPk>, pending_user: Option<UserPk>) -> Platform {
        let mut admin = user(1, UserType::Internal);
        admin.superuser = true;
        let mut helpdesk = user(2, UserType::Internal);
        helpdesk.can_change = CanChange::Users(vec![3]);
        let state = PlatformState {
            users: vec![
                admin,
                helpdesk,
                user(3, UserType::External),
                user(9, UserType::Anonymous),
            ],
            sessions: vec![Session {
                id: "s1".into(),
                user: 3,
            }],
            tokens: vec![Token {
                id: "t1".into(),
                user: 3,
                kind: TokenKind::Api,
                expired: true,
            }],
        };
        Platform::new(
            state,
            FlowRequest {
                actor,
                pending_user,
            },
        )
    }

    #[test]
    fn scenario_names_are_the_serde_names() {
        for kind in [
            UserType::Internal,
            UserType::External,
            UserType::ServiceAccount,
            UserType::InternalServiceAccount,
            UserType::Anonymous,
        ] {
            assert_eq!(serde_json::json!(kind), kind.scenario_name());
        }
    }

    #[test]
    fn pending_user_falls_back_to_the_actor() {
        assert_eq!(
            platform(Some(1), Some(3))
                .get_pending_user()
                .unwrap()
                .unwrap()
                .pk,
            3
        );
        assert_eq!(
            platform(Some(2), None)
                .get_pending_user()
                .unwrap()
                .unwrap()
                .pk,
            2
        );
        assert_eq!(platform(None, None).get_pending_user().unwrap(), None);
    }

    #[test]
    fn anonymous_actor_is_no_actor_and_may_change_nobody() {
        let p = platform(Some(9), None);
        assert_eq!(p.get_actor().unwrap(), None);
        assert!(!p.can_change_user(3).unwrap());
        assert!(!platform(None, Some(3)).can_change_user(3).unwrap());
    }

    #[test]
    fn permission_comes_from_superuser_or_can_change() {
        assert!(platform(Some(1), Some(3)).can_change_user(3).unwrap());
        assert!(platform(Some(2), Some(3)).can_change_user(3).unwrap());
        assert!(!platform(Some(2), Some(1)).can_change_user(1).unwrap());
        assert_eq!(
            platform(Some(1), None).can_change_user(42),
            Err(PlatformError::UserNotFound(42))
        );
    }

    #[test]
    fn rollback_restores_state_and_drops_events() {
        let mut p = platform(Some(1), Some(3));
        let before = p.snapshot();
        let original = p.state().clone();
        p.set_inactive(3).unwrap();
        assert_eq!(p.delete_sessions(3).unwrap(), 1);
        assert_eq!(p.revoke_tokens(3).unwrap(), 1);
        p.emit_event(Event {
            action: "user_write".into(),
            context: vec![],
        })
        .unwrap();
        p.redirect("/if/flow/x/").unwrap();
        p.rollback(before);
        assert_eq!(p.state(), &original);
        assert!(p.events().is_empty() && p.redirects().is_empty());
    }

    #[test]
    fn redirect_refuses_non_local_paths() {
        let mut p = platform(Some(1), Some(3));
        assert!(p.redirect("https://evil.example/").is_err());
        assert!(p.redirect("//evil.example/").is_err());
        assert!(p.redirect("/if/flow/done/").is_ok());
    }

    #[test]
    fn changes_name_each_difference() {
        let mut p = platform(Some(1), Some(3));
        let before = p.state().clone();
        p.clear_password(3).unwrap();
        p.revoke_tokens(3).unwrap();
        p.mint_tokens(3, 1);
        assert_eq!(
            p.state().changes_since(&before),
            [
                "user 3 (user3): password_usable true -> false",
                "token t1 (api, expired) of user 3 deleted",
                "token minted-1 (api) of user 3 created",
            ]
        );
    }
}
