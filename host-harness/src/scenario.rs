//! Scenario files: the situation to run the stage in, and what must hold afterwards.
//!
//! The format is public (see SCENARIOS.md): unknown fields are refused so that a typo
//! cannot silently change what a test checks, and every user a scenario mentions must
//! exist in its `platform.users`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::platform::{Event, FlowRequest, PlatformState, UserPk, UserType};

/// Every import of the `platform` interface, by its WIT name.
pub const IMPORTS: [&str; 10] = [
    "get-pending-user",
    "get-actor",
    "can-change-user",
    "set-inactive",
    "clear-password",
    "delete-sessions",
    "revoke-tokens",
    "emit-event",
    "redirect",
    "log",
];

/// serde's message with Rust type names put in the scenario's terms (`expected u64`
/// is a user pk; a number too large for one reads as a floating point number).
fn readable(error: &serde_json::Error) -> String {
    error
        .to_string()
        .replace(
            "expected u64",
            "expected a user pk (a whole number from 0 to 18446744073709551615)",
        )
        .replace(
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        )
        .replace("expected usize", "expected a whole number of at least 0")
}

/// The largest scenario file read.
pub const MAX_SCENARIO_BYTES: u64 = 64 << 20;

/// The most tokens `concurrent.tokens_created_during_revoke` may ask for: the host
/// creates them outside any plugin budget, so the scenario must bound them.
pub const MAX_RACE_TOKENS: u32 = 10_000;

/// Why a scenario file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("scenario {path} does not exist; check the path")]
    Missing { path: PathBuf },
    #[error(
        "scenario {path} is a folder; pass a scenario file, or run every scenario in the folder with `stage-harness check {path}`"
    )]
    Folder { path: PathBuf },
    #[error(
        "{path} is empty; a scenario is a JSON object, `{{}}` at the least (the format is in SCENARIOS.md)"
    )]
    Empty { path: PathBuf },
    #[error(
        "{path} holds more than {MAX_SCENARIO_BYTES} bytes, far more than a scenario; check the path"
    )]
    TooLarge { path: PathBuf },
    #[error("{path} is not UTF-8 text (invalid byte at offset {offset}); save it as UTF-8")]
    NotUtf8 { path: PathBuf, offset: usize },
    #[error("cannot read scenario {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not a `#[source]`: the message already says it, in the scenario's terms.
    #[error("{path}: {}", readable(error))]
    Parse {
        path: PathBuf,
        error: serde_json::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

fn yes() -> bool {
    true
}

/// A whole scenario file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub stage: StageSettings,
    #[serde(default)]
    pub platform: PlatformState,
    #[serde(default)]
    pub request: Request,
    #[serde(default)]
    pub faults: Vec<Fault>,
    #[serde(default)]
    pub concurrent: Concurrent,
    #[serde(default)]
    pub expect: Option<Expect>,
}

/// The stage's five settings, with the documented defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSettings {
    #[serde(default = "yes")]
    pub deactivate_user: bool,
    #[serde(default = "yes")]
    pub set_unusable_password: bool,
    #[serde(default = "yes")]
    pub delete_sessions: bool,
    #[serde(default = "yes")]
    pub revoke_tokens: bool,
    #[serde(default)]
    pub completion_flow: Option<CompletionFlow>,
}

impl Default for StageSettings {
    fn default() -> Self {
        StageSettings {
            deactivate_user: true,
            set_unusable_password: true,
            delete_sessions: true,
            revoke_tokens: true,
            completion_flow: None,
        }
    }
}

/// The flow a self-service lockdown ends in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletionFlow {
    pub slug: String,
    /// Defaults to `none` when left out.
    #[serde(default)]
    pub authentication: FlowAuthentication,
}

/// The completion flow's authentication setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowAuthentication {
    #[default]
    None,
    RequireAuthenticated,
    RequireUnauthenticated,
    RequireSuperuser,
}

/// Who runs the flow, for whom it was planned, and the flow plan context.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    #[serde(default)]
    pub actor: Option<UserPk>,
    #[serde(default)]
    pub pending_user: Option<UserPk>,
    /// The flow plan context; handed to the stage as JSON text. Defaults to `{}`.
    #[serde(default)]
    pub context: Option<serde_json::Value>,
    /// Addition: the context as raw text, handed over byte for byte, for testing how the
    /// stage treats text that is not JSON. Not together with `context`.
    #[serde(default)]
    pub context_text: Option<String>,
}

impl Request {
    /// The context text the stage receives.
    pub fn context_text(&self) -> String {
        match (&self.context_text, &self.context) {
            (Some(text), _) => text.clone(),
            (None, Some(value)) => value.to_string(),
            (None, None) => "{}".to_owned(),
        }
    }

    pub fn flow_request(&self) -> FlowRequest {
        FlowRequest {
            actor: self.actor,
            pending_user: self.pending_user,
        }
    }
}

/// How an injected fault fails the import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The import returns `host-error::failed("injected fault")`.
    Error,
    /// The host aborts the component call.
    Trap,
}

/// Make one import fail, on its n-th call or on every call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub import: String,
    pub fail: FaultKind,
    #[serde(default)]
    pub on_call: Option<u32>,
}

impl Fault {
    /// Whether this fault fires on the `call`-th call (1-based) of `import`.
    pub fn fires(&self, import: &str, call: u32) -> bool {
        self.import == import && self.on_call.is_none_or(|n| n == call)
    }
}

/// An attacker racing the lockdown.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Concurrent {
    /// Fresh tokens of the target created right after a `revoke-tokens` call.
    #[serde(default)]
    pub tokens_created_during_revoke: u32,
    /// After how many `revoke-tokens` calls the attacker mints them again (an
    /// addition): 1, the default, is only the first pass; a large number is an attacker
    /// who never stops, which the stage's bound on passes must catch.
    #[serde(default = "one_pass")]
    pub revoke_passes_raced: u32,
}

fn one_pass() -> u32 {
    1
}

impl Default for Concurrent {
    fn default() -> Self {
        Concurrent {
            tokens_created_during_revoke: 0,
            revoke_passes_raced: one_pass(),
        }
    }
}

/// The outcome a scenario expects. `message`/`to` are compared only when given;
/// `message_contains` (an addition) checks a part of the message.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedOutcome {
    pub kind: OutcomeKind,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub message_contains: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
}

impl ExpectedOutcome {
    /// `message` and `message_contains` belong to `invalid` and `error`, `to` to
    /// `redirect`: on another kind they compare against nothing (or against the other
    /// field) and could never mean what the author wrote.
    fn validate(&self) -> Result<(), String> {
        let has_message = matches!(self.kind, OutcomeKind::Invalid | OutcomeKind::Error);
        let fix = match self.kind {
            OutcomeKind::Redirect => "a redirect's path is `to`",
            OutcomeKind::Continue => "leave it out",
            OutcomeKind::Invalid | OutcomeKind::Error => {
                "an invalid or error outcome has `message`"
            }
        };
        let kind = self.kind.name();
        for (field, given) in [
            ("message", self.message.is_some()),
            ("message_contains", self.message_contains.is_some()),
        ] {
            if given && !has_message {
                return Err(format!(
                    "expect.outcome.{field}: a {kind} outcome has no message; {fix}"
                ));
            }
        }
        if self.to.is_some() && self.kind != OutcomeKind::Redirect {
            return Err(format!(
                "expect.outcome.to: only a redirect outcome has `to`, and this one expects {kind}; {fix}"
            ));
        }
        Ok(())
    }
}

/// The four ways a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Continue,
    Invalid,
    Redirect,
    Error,
}

impl OutcomeKind {
    /// The name scenarios and reports use: `continue`, `invalid`, `redirect`, `error`.
    pub fn name(self) -> &'static str {
        match self {
            OutcomeKind::Continue => "continue",
            OutcomeKind::Invalid => "invalid",
            OutcomeKind::Redirect => "redirect",
            OutcomeKind::Error => "error",
        }
    }
}

/// Fields of a user to compare; the ones left out are not checked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedUser {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<UserType>,
    #[serde(default)]
    pub is_active: Option<bool>,
    #[serde(default)]
    pub password_usable: Option<bool>,
    #[serde(default)]
    pub superuser: Option<bool>,
}

/// What must hold after the run. Every key is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default)]
    pub outcome: Option<ExpectedOutcome>,
    #[serde(default, deserialize_with = "unique_pks")]
    pub users: Option<BTreeMap<UserPk, ExpectedUser>>,
    #[serde(default, deserialize_with = "unique_pks")]
    pub sessions_left: Option<BTreeMap<UserPk, usize>>,
    #[serde(default, deserialize_with = "unique_pks")]
    pub tokens_left: Option<BTreeMap<UserPk, usize>>,
    /// The whole list of events, in order.
    #[serde(default)]
    pub events: Option<Vec<Event>>,
    /// Addition: whether the run's changes were kept.
    #[serde(default)]
    pub committed: Option<bool>,
    /// Addition: the import names called, in order, exactly.
    #[serde(default)]
    pub calls: Option<Vec<String>>,
    /// Addition: the redirect paths asked for (after commit or rollback).
    #[serde(default)]
    pub redirects: Option<Vec<String>>,
}

/// An object keyed by user pk that refuses a pk given twice: a plain map keeps the last
/// entry and silently drops the checks of the first.
struct PkMap<T>(BTreeMap<UserPk, T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for PkMap<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{Error, MapAccess, Visitor};
        struct PkMapVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for PkMapVisitor<T> {
            type Value = PkMap<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object keyed by user pk")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PkMap<T>, A::Error> {
                let mut entries = BTreeMap::new();
                while let Some(pk) = map.next_key::<UserPk>()? {
                    let value = map.next_value()?;
                    if entries.insert(pk, value).is_some() {
                        return Err(A::Error::custom(format_args!(
                            "user pk {pk} has two entries; merge them into one"
                        )));
                    }
                }
                Ok(PkMap(entries))
            }
        }
        deserializer.deserialize_map(PkMapVisitor(std::marker::PhantomData))
    }
}

fn unique_pks<'de, D, T>(deserializer: D) -> Result<Option<BTreeMap<UserPk, T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<PkMap<T>>::deserialize(deserializer)?.map(|map| map.0))
}

impl Scenario {
    /// Read, parse and validate a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let path_buf = path.to_owned();
        if path.is_dir() {
            return Err(ScenarioError::Folder { path: path_buf });
        }
        let bytes = crate::read_capped(path, MAX_SCENARIO_BYTES)
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => ScenarioError::Missing {
                    path: path.to_owned(),
                },
                _ => ScenarioError::Read {
                    path: path.to_owned(),
                    source,
                },
            })?
            .ok_or_else(|| ScenarioError::TooLarge {
                path: path.to_owned(),
            })?;
        let text = String::from_utf8(bytes).map_err(|e| ScenarioError::NotUtf8 {
            path: path.to_owned(),
            offset: e.utf8_error().valid_up_to(),
        })?;
        if text.trim().is_empty() {
            return Err(ScenarioError::Empty { path: path_buf });
        }
        Scenario::parse(&text, path)
    }

    /// Parse and validate scenario text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
        let invalid = |message| ScenarioError::Invalid {
            path: path.to_owned(),
            message,
        };
        // serde fills a struct from a JSON list too, field by field in order: `[]`
        // would run as a scenario of defaults. Refuse a list wherever an object goes.
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(text)
            && let Some(message) = list_instead_of_object(&value)
        {
            return Err(invalid(message));
        }
        let scenario: Scenario =
            serde_json::from_str(text).map_err(|error| ScenarioError::Parse {
                path: path.to_owned(),
                error,
            })?;
        scenario.validate().map_err(invalid)?;
        Ok(scenario)
    }

    /// Check what serde cannot: references, duplicates, fault names.
    pub fn validate(&self) -> Result<(), String> {
        let mut pks = BTreeSet::new();
        for user in &self.platform.users {
            if !pks.insert(user.pk) {
                return Err(format!(
                    "platform.users: user pk {} appears more than once; give each user its own pk",
                    user.pk
                ));
            }
        }
        let known = |pk: UserPk, field: &str| -> Result<(), String> {
            if pks.contains(&pk) {
                Ok(())
            } else {
                let listed = pks
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                Err(format!(
                    "{field}: user pk {pk} does not exist; add it to platform.users (known pks: [{listed}])"
                ))
            }
        };
        if let Some(pk) = self.request.actor {
            known(pk, "request.actor")?;
        }
        if let Some(pk) = self.request.pending_user {
            known(pk, "request.pending_user")?;
        }
        for user in &self.platform.users {
            for &pk in user.can_change.listed() {
                known(pk, &format!("platform.users[pk {}].can_change", user.pk))?;
            }
        }
        let mut ids = BTreeSet::new();
        for (i, session) in self.platform.sessions.iter().enumerate() {
            known(session.user, &format!("platform.sessions[{i}].user"))?;
            if !ids.insert(session.id.as_str()) {
                return Err(format!(
                    "platform.sessions[{i}]: session id {:?} appears more than once; give each session its own id",
                    session.id
                ));
            }
        }
        let mut ids = BTreeSet::new();
        for (i, token) in self.platform.tokens.iter().enumerate() {
            known(token.user, &format!("platform.tokens[{i}].user"))?;
            if !ids.insert(token.id.as_str()) {
                return Err(format!(
                    "platform.tokens[{i}]: token id {:?} appears more than once; give each token its own id",
                    token.id
                ));
            }
        }
        if self.request.context.is_some() && self.request.context_text.is_some() {
            return Err("request: give either context or context_text, not both".to_owned());
        }
        if let Some(context) = &self.request.context
            && !context.is_object()
        {
            return Err(
                "request.context: must be a JSON object; use context_text to hand the stage other text"
                    .to_owned(),
            );
        }
        for (i, fault) in self.faults.iter().enumerate() {
            if !IMPORTS.contains(&fault.import.as_str()) {
                return Err(format!(
                    "faults[{i}].import: unknown import {:?}; valid imports: {}",
                    fault.import,
                    IMPORTS.join(", ")
                ));
            }
            if fault.import == "log" && fault.fail == FaultKind::Error {
                return Err(format!(
                    "faults[{i}]: import \"log\" has no error result, so it cannot fail with \"error\"; use \"fail\": \"trap\""
                ));
            }
            if fault.on_call == Some(0) {
                return Err(format!(
                    "faults[{i}].on_call: calls count from 1; leave it out to fail every call"
                ));
            }
            // Two faults on one call would leave which one fires to the file's order.
            let clash = self.faults[..i].iter().position(|earlier| {
                earlier.import == fault.import
                    && (earlier.on_call.is_none()
                        || fault.on_call.is_none()
                        || earlier.on_call == fault.on_call)
            });
            if let Some(j) = clash {
                let which = match (self.faults[j].on_call, fault.on_call) {
                    (Some(n), Some(_)) => format!("call {n}"),
                    _ => "the same calls".to_owned(),
                };
                return Err(format!(
                    "faults[{i}]: faults[{j}] already makes {which} of {:?} fail; give each call of an import one fault at most",
                    fault.import
                ));
            }
        }
        if self.concurrent.tokens_created_during_revoke > MAX_RACE_TOKENS {
            return Err(format!(
                "concurrent.tokens_created_during_revoke: {} is more than the harness creates ({MAX_RACE_TOKENS} at most per pass); a few tokens show the race as well as many",
                self.concurrent.tokens_created_during_revoke
            ));
        }
        if self.concurrent.revoke_passes_raced == 0 {
            return Err(
                "concurrent.revoke_passes_raced: must be at least 1 (the first pass); leave it out for 1"
                    .into(),
            );
        }
        if let Some(expect) = &self.expect {
            if let Some(outcome) = &expect.outcome {
                outcome.validate()?;
            }
            let maps = [
                (
                    "expect.users",
                    expect
                        .users
                        .as_ref()
                        .map(|m| m.keys().copied().collect::<Vec<_>>()),
                ),
                (
                    "expect.sessions_left",
                    expect
                        .sessions_left
                        .as_ref()
                        .map(|m| m.keys().copied().collect()),
                ),
                (
                    "expect.tokens_left",
                    expect
                        .tokens_left
                        .as_ref()
                        .map(|m| m.keys().copied().collect()),
                ),
            ];
            for (field, keys) in maps {
                for pk in keys.unwrap_or_default() {
                    known(pk, field)?;
                }
            }
            if let Some(calls) = &expect.calls {
                for (i, name) in calls.iter().enumerate() {
                    if !IMPORTS.contains(&name.as_str()) {
                        return Err(format!(
                            "expect.calls[{i}]: unknown import {name:?}; valid imports: {}",
                            IMPORTS.join(", ")
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Where the scenario has a JSON list in a place that takes an object, a message naming
/// that place; `None` when there is none (other wrong types are left to serde).
fn list_instead_of_object(root: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    if root.is_array() {
        return Some(
            "a scenario file holds one JSON object ({...}), not a list; put each scenario in a file of its own"
                .to_owned(),
        );
    }
    let mut places: Vec<(String, &Value)> = Vec::new();
    for key in ["stage", "platform", "request", "concurrent", "expect"] {
        if let Some(value) = root.get(key) {
            places.push((key.to_owned(), value));
        }
    }
    if let Some(flow) = root.pointer("/stage/completion_flow") {
        places.push(("stage.completion_flow".to_owned(), flow));
    }
    if let Some(outcome) = root.pointer("/expect/outcome") {
        places.push(("expect.outcome".to_owned(), outcome));
    }
    let lists = [
        ("platform.users", root.pointer("/platform/users")),
        ("platform.sessions", root.pointer("/platform/sessions")),
        ("platform.tokens", root.pointer("/platform/tokens")),
        ("faults", root.get("faults")),
        ("expect.events", root.pointer("/expect/events")),
    ];
    for (name, list) in lists {
        for (i, item) in list
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            places.push((format!("{name}[{i}]"), item));
        }
    }
    if let Some(users) = root.pointer("/expect/users").and_then(Value::as_object) {
        for (pk, user) in users {
            places.push((format!("expect.users.{pk}"), user));
        }
    }
    places
        .into_iter()
        .find(|(_, value)| value.is_array())
        .map(|(place, _)| format!("{place}: must be a JSON object with named fields, not a list"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, String> {
        Scenario::parse(text, Path::new("s.json")).map_err(|e| e.to_string())
    }

    const USERS: &str =
        r#""platform": {"users": [{"pk": 1, "username": "a", "type": "internal"}]}"#;

    #[test]
    fn defaults_turn_every_action_on() {
        let s = parse("{}").unwrap();
        assert!(s.stage.deactivate_user && s.stage.set_unusable_password);
        assert!(s.stage.delete_sessions && s.stage.revoke_tokens);
        assert!(s.stage.completion_flow.is_none());
        assert_eq!(s.request.context_text(), "{}");
    }

    #[test]
    fn unknown_field_is_named() {
        let err = parse(r#"{"request": {"actr": 1}}"#).unwrap_err();
        assert!(err.starts_with("s.json: unknown field `actr`"), "{err}");
    }

    #[test]
    fn a_list_where_an_object_goes_is_refused() {
        assert_eq!(
            parse("[]").unwrap_err(),
            "s.json: a scenario file holds one JSON object ({...}), not a list; put each scenario in a file of its own"
        );
        // serde would read these positionally: actor 1, pending_user 3.
        assert_eq!(
            parse(r#"{"request": [1, 3]}"#).unwrap_err(),
            "s.json: request: must be a JSON object with named fields, not a list"
        );
        let user = format!(r#"{{{USERS}, "expect": {{"users": {{"1": [false]}}}}}}"#);
        assert_eq!(
            parse(&user).unwrap_err(),
            "s.json: expect.users.1: must be a JSON object with named fields, not a list"
        );
        let token =
            r#"{"platform": {"tokens": [{"id": "t", "user": 1, "kind": "api"}, ["u", 1, "api"]]}}"#;
        assert_eq!(
            parse(token).unwrap_err(),
            "s.json: platform.tokens[1]: must be a JSON object with named fields, not a list"
        );
    }

    #[test]
    fn unknown_user_is_named() {
        let err = parse(&format!(r#"{{{USERS}, "request": {{"pending_user": 7}}}}"#)).unwrap_err();
        assert_eq!(
            err,
            "s.json: request.pending_user: user pk 7 does not exist; add it to platform.users (known pks: [1])"
        );
    }

    #[test]
    fn duplicate_pk_and_bad_faults_are_refused() {
        let dup = r#"{"platform": {"users": [{"pk": 1, "username": "a", "type": "internal"},
                                             {"pk": 1, "username": "b", "type": "internal"}]}}"#;
        assert!(
            parse(dup)
                .unwrap_err()
                .contains("user pk 1 appears more than once")
        );
        let bad = parse(r#"{"faults": [{"import": "revoke", "fail": "error"}]}"#).unwrap_err();
        assert!(
            bad.contains("unknown import \"revoke\"; valid imports: get-pending-user"),
            "{bad}"
        );
        let log = parse(r#"{"faults": [{"import": "log", "fail": "error"}]}"#).unwrap_err();
        assert!(log.contains("import \"log\" has no error result"), "{log}");
    }

    #[test]
    fn two_faults_on_one_call_are_refused() {
        let err = parse(
            r#"{"faults": [{"import": "get-actor", "fail": "error", "on_call": 1},
                           {"import": "get-actor", "fail": "trap", "on_call": 1}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            err,
            "s.json: faults[1]: faults[0] already makes call 1 of \"get-actor\" fail; give each call of an import one fault at most"
        );
        let err = parse(
            r#"{"faults": [{"import": "log", "fail": "trap", "on_call": 2},
                           {"import": "log", "fail": "trap"}]}"#,
        )
        .unwrap_err();
        assert!(
            err.contains("faults[0] already makes the same calls of \"log\" fail"),
            "{err}"
        );
        // Different calls, or different imports, are fine.
        parse(
            r#"{"faults": [{"import": "log", "fail": "trap", "on_call": 2},
                           {"import": "log", "fail": "trap", "on_call": 3},
                           {"import": "get-actor", "fail": "trap"}]}"#,
        )
        .unwrap();
    }

    #[test]
    fn outcome_fields_must_fit_the_kind() {
        let outcome = |o: &str| parse(&format!(r#"{{"expect": {{"outcome": {o}}}}}"#));
        assert_eq!(
            outcome(r#"{"kind": "redirect", "message": "/if/flow/done/"}"#).unwrap_err(),
            "s.json: expect.outcome.message: a redirect outcome has no message; a redirect's path is `to`"
        );
        assert_eq!(
            outcome(r#"{"kind": "invalid", "to": "/x/"}"#).unwrap_err(),
            "s.json: expect.outcome.to: only a redirect outcome has `to`, and this one expects invalid; an invalid or error outcome has `message`"
        );
        assert_eq!(
            outcome(r#"{"kind": "continue", "message_contains": ""}"#).unwrap_err(),
            "s.json: expect.outcome.message_contains: a continue outcome has no message; leave it out"
        );
        outcome(r#"{"kind": "error", "message_contains": "fuel"}"#).unwrap();
        outcome(r#"{"kind": "redirect", "to": "/x/"}"#).unwrap();
    }

    #[test]
    fn the_race_is_bounded() {
        let race = |n: u32| {
            parse(&format!(
                r#"{{"concurrent": {{"tokens_created_during_revoke": {n}}}}}"#
            ))
        };
        race(MAX_RACE_TOKENS).unwrap();
        assert_eq!(
            race(MAX_RACE_TOKENS + 1).unwrap_err(),
            "s.json: concurrent.tokens_created_during_revoke: 10001 is more than the harness creates (10000 at most per pass); a few tokens show the race as well as many"
        );
    }

    #[test]
    fn a_user_pk_given_twice_in_expect_is_refused() {
        let twice = format!(
            r#"{{{USERS}, "expect": {{"users": {{"1": {{"is_active": false}}, "1": {{"superuser": true}}}}}}}}"#
        );
        let err = parse(&twice).unwrap_err();
        assert!(
            err.starts_with("s.json: user pk 1 has two entries; merge them into one at line 1"),
            "{err}"
        );
        let err = parse(r#"{"expect": {"tokens_left": {"1": 0, "1": 2}}}"#).unwrap_err();
        assert!(err.contains("user pk 1 has two entries"), "{err}");
        let none = parse(r#"{"expect": {"sessions_left": null}}"#).unwrap();
        assert!(none.expect.unwrap().sessions_left.is_none());
    }

    #[test]
    fn number_errors_speak_of_pks_and_whole_numbers() {
        let err = parse(r#"{"request": {"actor": "1"}}"#).unwrap_err();
        assert_eq!(
            err,
            "s.json: invalid type: string \"1\", expected a user pk (a whole number from 0 to 18446744073709551615) at line 1 column 25"
        );
        let err = parse(r#"{"request": {"actor": 18446744073709551616}}"#).unwrap_err();
        assert!(err.contains("expected a user pk"), "{err}");
        let err =
            parse(r#"{"faults": [{"import": "log", "fail": "trap", "on_call": -1}]}"#).unwrap_err();
        assert!(
            err.contains("expected a whole number from 0 to 4294967295"),
            "{err}"
        );
    }

    #[test]
    fn can_change_takes_all_or_a_list() {
        let s = parse(
            r#"{"platform": {"users": [
            {"pk": 1, "username": "a", "type": "internal", "can_change": "all"},
            {"pk": 2, "username": "b", "type": "internal", "can_change": [1]}]}}"#,
        )
        .unwrap();
        assert!(s.platform.users[0].can_change.covers(99));
        assert!(s.platform.users[1].can_change.covers(1));
        let err = parse(
            r#"{"platform": {"users": [
            {"pk": 1, "username": "a", "type": "internal", "can_change": "some"}]}}"#,
        )
        .unwrap_err();
        assert!(
            err.contains("expected a list of user pks or the string \"all\""),
            "{err}"
        );
    }

    #[test]
    fn fault_fires_on_its_call_or_every_call() {
        let every = Fault {
            import: "log".into(),
            fail: FaultKind::Trap,
            on_call: None,
        };
        assert!(every.fires("log", 1) && every.fires("log", 5) && !every.fires("redirect", 1));
        let second = Fault {
            on_call: Some(2),
            ..every
        };
        assert!(!second.fires("log", 1) && second.fires("log", 2));
    }
}
