//! The algorithm against the fake platform: every step, setting, message and failure.
//! Each test builds a [`Fake`], runs the stage and asserts the outcome and the exact
//! sequence of platform calls.

use super::*;
use crate::fake::{Call, Fake, alice, bob};
use crate::messages::{self, CONTEXT_NOT_OBJECT, PROMPT_DATA_NOT_OBJECT};
use crate::platform::UserKind;
use crate::settings::{CompletionFlow, FlowAuthentication};

const CONTEXT: &str = r#"{"prompt_data": {"lockdown_reason": "leaked password"}}"#;
const FLOW: &str = "lockdown-complete";
const FLOW_PATH: &str = "/if/flow/lockdown-complete/";

/// An administrator locks another account with every action on and nothing racing.
const ADMIN_FULL: [&str; 10] = [
    "get-pending-user",
    "get-actor",
    "can-change-user",
    "set-inactive",
    "clear-password",
    "delete-sessions",
    "revoke-tokens",
    "delete-sessions",
    "revoke-tokens",
    "emit-event",
];

/// A user locks their own account with every action on and a completion flow.
const SELF_FULL: [&str; 10] = [
    "get-pending-user",
    "get-actor",
    "set-inactive",
    "clear-password",
    "delete-sessions",
    "revoke-tokens",
    "delete-sessions",
    "revoke-tokens",
    "emit-event",
    "redirect",
];

/// Runs the stage with the default settings and [`CONTEXT`].
fn run(fake: Fake) -> (Outcome, Fake) {
    run_with(fake, &Settings::default(), CONTEXT)
}

fn run_with(mut fake: Fake, settings: &Settings, context: &str) -> (Outcome, Fake) {
    let outcome = execute(&mut fake, settings, context);
    (outcome, fake)
}

/// Runs the stage with the default settings and this context; returns the reason the
/// event carries, or the refusal message.
fn reason_of(context: &str) -> Result<String, String> {
    match run_with(Fake::default(), &Settings::default(), context) {
        (Outcome::Continue, fake) => Ok(fake.events()[0].context[1].1.clone()),
        (Outcome::Invalid(message), fake) => {
            assert!(
                fake.calls.is_empty(),
                "a context error must come before any call"
            );
            Err(message)
        }
        (other, _) => panic!("unexpected outcome {other:?}"),
    }
}

fn invalid(message: impl Into<String>) -> Outcome {
    Outcome::Invalid(message.into())
}

fn with_flow(slug: &str, authentication: FlowAuthentication) -> Settings {
    Settings {
        completion_flow: Some(CompletionFlow {
            slug: slug.into(),
            authentication,
        }),
        ..Settings::default()
    }
}

fn self_settings() -> Settings {
    with_flow(FLOW, FlowAuthentication::None)
}

fn actions(deactivate: bool, password: bool, sessions: bool, tokens: bool) -> Settings {
    Settings {
        deactivate_user: deactivate,
        set_unusable_password: password,
        delete_sessions: sessions,
        revoke_tokens: tokens,
        completion_flow: None,
    }
}

fn error_logs(fake: &Fake) -> Vec<&str> {
    fake.logs()
        .into_iter()
        .filter(|(level, _)| *level == LogLevel::Error)
        .map(|(_, line)| line)
        .collect()
}

/// The head of an admin run: the three read calls.
fn admin_head() -> Vec<&'static str> {
    ADMIN_FULL[..3].to_vec()
}

fn admin_then(rest: &[&'static str]) -> Vec<&'static str> {
    let mut names = admin_head();
    names.extend_from_slice(rest);
    names
}

// ---------------------------------------------------------------- the happy paths

#[test]
fn admin_lockdown_applies_everything_and_continues() {
    let (outcome, fake) = run(Fake::default());
    assert_eq!(outcome, Outcome::Continue);
    assert_eq!(fake.names(), ADMIN_FULL);
    assert_eq!((fake.active, fake.password_usable), (false, false));
    assert_eq!((fake.sessions, fake.tokens), (0, 0));
}

#[test]
fn every_call_names_the_target() {
    let (_, fake) = run(Fake::default());
    let pk = bob().pk;
    assert_eq!(
        fake.calls[2..9],
        [
            Call::CanChangeUser(pk),
            Call::SetInactive(pk),
            Call::ClearPassword(pk),
            Call::DeleteSessions(pk),
            Call::RevokeTokens(pk),
            Call::DeleteSessions(pk),
            Call::RevokeTokens(pk),
        ]
    );
}

#[test]
fn the_event_is_recorded_once_exactly_as_documented() {
    let (_, fake) = run(Fake::default());
    let expected = Event {
        action: "user_write".into(),
        context: vec![
            ("action_id".into(), "account_lockdown".into()),
            ("reason".into(), "leaked password".into()),
            ("affected_user".into(), "bob".into()),
        ],
    };
    assert_eq!(fake.events(), [&expected]);
}

#[test]
fn a_successful_lockdown_writes_no_log() {
    let (_, fake) = run(Fake::default());
    assert!(fake.logs().is_empty());
}

// ---------------------------------------------------------------- a. settings

#[test]
fn an_empty_slug_is_refused_before_any_call() {
    let (outcome, fake) = run_with(
        Fake::default(),
        &with_flow("", FlowAuthentication::None),
        CONTEXT,
    );
    assert_eq!(
        outcome,
        invalid(
            r#"The completion flow slug "" is not a valid slug; use letters, digits, "-" and "_"."#
        )
    );
    assert!(fake.calls.is_empty());
}

#[test]
fn slugs_with_other_characters_are_refused() {
    for slug in ["a/b", "with space", "dot.ted", "caf\u{e9}", "../x", "a\"b"] {
        let settings = with_flow(slug, FlowAuthentication::None);
        let (outcome, fake) = run_with(Fake::default(), &settings, CONTEXT);
        assert_eq!(
            outcome,
            invalid(messages::invalid_flow_slug(slug)),
            "{slug}"
        );
        assert!(fake.calls.is_empty());
    }
}

#[test]
fn slugs_of_letters_digits_dash_and_underscore_are_accepted() {
    let settings = with_flow("Lockdown_done-2", FlowAuthentication::None);
    let (outcome, _) = run_with(Fake::default().self_service(), &settings, CONTEXT);
    assert_eq!(
        outcome,
        Outcome::Redirect("/if/flow/Lockdown_done-2/".into())
    );
}

#[test]
fn a_completion_flow_that_requires_authentication_is_refused() {
    // Self-service, where the flow would really run (admin lockdowns: see below).
    let (outcome, fake) = run_with(
        Fake::default().self_service(),
        &with_flow(FLOW, FlowAuthentication::RequireAuthenticated),
        CONTEXT,
    );
    assert_eq!(
        outcome,
        invalid(
            r#"The completion flow "lockdown-complete" requires authentication; set its authentication to "No authentication required"."#
        )
    );
    assert!(fake.calls.is_empty());
}

#[test]
fn flows_that_need_a_signed_in_user_are_refused_for_admin_lockdowns_too() {
    for authentication in [
        FlowAuthentication::RequireAuthenticated,
        FlowAuthentication::RequireSuperuser,
    ] {
        let settings = with_flow(FLOW, authentication);
        let (outcome, fake) = run_with(Fake::default(), &settings, CONTEXT);
        assert_eq!(
            outcome,
            invalid(messages::flow_requires_authentication(FLOW)),
            "{authentication:?}"
        );
        assert!(fake.calls.is_empty());
    }
}

#[test]
fn completion_flows_open_to_anonymous_browsers_are_accepted() {
    for authentication in [
        FlowAuthentication::None,
        FlowAuthentication::RequireUnauthenticated,
    ] {
        let settings = with_flow(FLOW, authentication);
        let (outcome, fake) = run_with(Fake::default().self_service(), &settings, CONTEXT);
        assert_eq!(
            outcome,
            Outcome::Redirect(FLOW_PATH.into()),
            "{authentication:?}"
        );
        assert_eq!(fake.names(), SELF_FULL);
    }
}

#[test]
fn the_slug_is_checked_before_the_authentication() {
    let settings = with_flow("bad slug", FlowAuthentication::RequireSuperuser);
    let (outcome, _) = run_with(Fake::default(), &settings, CONTEXT);
    assert_eq!(outcome, invalid(messages::invalid_flow_slug("bad slug")));
}

#[test]
fn settings_are_checked_before_the_context() {
    let settings = with_flow("", FlowAuthentication::None);
    let (outcome, _) = run_with(Fake::default(), &settings, "not json");
    assert_eq!(outcome, invalid(messages::invalid_flow_slug("")));
}

// ---------------------------------------------------------------- b. the context

#[test]
fn the_prompt_data_reason_wins_over_the_top_level_one() {
    let context = r#"{"lockdown_reason": "top", "prompt_data": {"lockdown_reason": "prompt"}}"#;
    assert_eq!(reason_of(context), Ok("prompt".into()));
}

#[test]
fn an_empty_prompt_data_reason_still_wins() {
    let context = r#"{"prompt_data": {"lockdown_reason": ""}, "lockdown_reason": "top"}"#;
    assert_eq!(reason_of(context), Ok(String::new()));
}

#[test]
fn the_top_level_reason_is_used_when_prompt_data_has_none() {
    assert_eq!(reason_of(r#"{"lockdown_reason": "top"}"#), Ok("top".into()));
    let context = r#"{"prompt_data": {"other": 1}, "lockdown_reason": "top"}"#;
    assert_eq!(reason_of(context), Ok("top".into()));
}

#[test]
fn the_reason_is_empty_when_neither_key_is_present() {
    assert_eq!(reason_of("{}"), Ok(String::new()));
    assert_eq!(reason_of(r#"{"prompt_data": {}}"#), Ok(String::new()));
}

#[test]
fn a_top_level_reason_of_any_type_is_ignored_when_prompt_data_has_one() {
    let context = r#"{"prompt_data": {"lockdown_reason": "prompt"}, "lockdown_reason": 7}"#;
    assert_eq!(reason_of(context), Ok("prompt".into()));
}

#[test]
fn escapes_in_the_reason_are_decoded() {
    let context = r#"{"lockdown_reason": "said \"hi\"\n\u00e9\ud83d\udd12"}"#;
    assert_eq!(
        reason_of(context),
        Ok("said \"hi\"\n\u{e9}\u{1f512}".into())
    );
}

#[test]
fn escaped_keys_are_matched_by_their_decoded_name() {
    let context = r#"{"lockdown\u005freason": "escaped key"}"#;
    assert_eq!(reason_of(context), Ok("escaped key".into()));
}

#[test]
fn the_last_of_duplicate_keys_counts() {
    let context = r#"{"lockdown_reason": "first", "lockdown_reason": "second"}"#;
    assert_eq!(reason_of(context), Ok("second".into()));
}

#[test]
fn other_keys_of_any_shape_are_skipped() {
    let context = r#"{"a": [1, -2.5e-3, {"b": null}], "n": 1e308, "t": true, "o": {"x": {}},
        "prompt_data": {"list": [[]], "lockdown_reason": "kept", "z": 18446744073709551616}}"#;
    assert_eq!(reason_of(context), Ok("kept".into()));
}

#[test]
fn every_escape_is_decoded() {
    let context =
        r#"{"lockdown_reason": "\"\\\/\b\f\n\r\t\u0041\u00DF\u20ac\ud800\udc00\uDBFF\uDFFF"}"#;
    assert_eq!(
        reason_of(context),
        Ok("\"\\/\u{8}\u{c}\n\r\tA\u{df}\u{20ac}\u{10000}\u{10ffff}".into())
    );
}

#[test]
fn a_reason_with_a_lone_surrogate_is_refused_as_not_json() {
    // No string can hold half of a surrogate pair, so the parser refuses the text.
    let refused = reason_of(r#"{"lockdown_reason": "a\ud800b"}"#);
    assert!(
        refused
            .as_ref()
            .is_err_and(|message| message.starts_with("The flow plan context is not valid JSON: ")),
        "{refused:?}"
    );
}

#[test]
fn unescaped_unicode_is_kept_as_is() {
    let context = "{\"lockdown_reason\": \"r\u{e9}sum\u{e9} \u{2014} \u{1f512}\"}";
    assert_eq!(
        reason_of(context),
        Ok("r\u{e9}sum\u{e9} \u{2014} \u{1f512}".into())
    );
}

#[test]
fn brackets_and_quotes_inside_skipped_strings_are_not_structure() {
    let context = r#"{"a": "}]\"{[", "b": {"c": "\\", "d": ["]", "}"]},
        "e\"}": 1, "lockdown_reason": "found"}"#;
    assert_eq!(reason_of(context), Ok("found".into()));
}

#[test]
fn whitespace_anywhere_between_tokens_is_accepted() {
    let context = " \t\r\n{ \"prompt_data\"\n:\t{\r\"lockdown_reason\" :\"spaced\" } \n} \n";
    assert_eq!(reason_of(context), Ok("spaced".into()));
}

#[test]
fn a_reason_nested_anywhere_else_is_not_read() {
    let context = r#"{"other": {"lockdown_reason": "no"}, "list": [{"lockdown_reason": "no"}]}"#;
    assert_eq!(reason_of(context), Ok(String::new()));
    let context = r#"{"prompt_data": {"nested": {"lockdown_reason": "no"}}}"#;
    assert_eq!(reason_of(context), Ok(String::new()));
}

#[test]
fn the_last_prompt_data_counts() {
    let context = r#"{"prompt_data": {"lockdown_reason": "first"}, "prompt_data": {}}"#;
    assert_eq!(reason_of(context), Ok(String::new()));
    let context = r#"{"prompt_data": 1, "prompt_data": {"lockdown_reason": "second"}}"#;
    assert_eq!(reason_of(context), Ok("second".into()));
}

#[test]
fn a_context_that_is_not_json_is_refused_with_the_parser_error() {
    let expected = |detail: &str| {
        Err(format!(
            "The flow plan context is not valid JSON: {detail}."
        ))
    };
    assert_eq!(
        reason_of(""),
        expected("EOF while parsing a value at line 1 column 0")
    );
    assert_eq!(
        reason_of("{"),
        expected("EOF while parsing an object at line 1 column 1")
    );
    assert_eq!(
        reason_of("{} x"),
        expected("trailing characters at line 1 column 4")
    );
    assert_eq!(
        reason_of("{'a': 1}"),
        expected("key must be a string at line 1 column 2")
    );
    assert_eq!(
        reason_of(r#"{"a": 1,}"#),
        expected("trailing comma at line 1 column 9")
    );
    assert_eq!(
        reason_of(r#"{"a": [1,]}"#),
        expected("expected value at line 1 column 10")
    );
    assert_eq!(
        reason_of("lockdown_reason=stolen laptop"),
        expected("expected value at line 1 column 1")
    );
    assert_eq!(
        reason_of(r#"{"prompt_data": {"lockdown_reason": "x"}"#),
        expected("EOF while parsing an object at line 1 column 40")
    );
    assert_eq!(
        reason_of("{\"lockdown_reason\": \"tab\there\"}"),
        expected(
            "control character (\\u0000-\\u001F) found while parsing a string at line 1 column 25"
        )
    );
    assert_eq!(
        reason_of(r#"{"lockdown_reason": "\x"}"#),
        expected("invalid escape at line 1 column 23")
    );
}

#[test]
fn a_context_that_is_not_an_object_is_refused() {
    for context in [
        "[]",
        "[1, {\"lockdown_reason\": \"x\"}]",
        "\"text\"",
        "1",
        "-0.5",
        "null",
        "true",
    ] {
        assert_eq!(
            reason_of(context),
            Err(CONTEXT_NOT_OBJECT.into()),
            "{context}"
        );
    }
}

#[test]
fn prompt_data_that_is_not_an_object_is_refused() {
    for value in ["null", "[]", "\"text\"", "3", "false"] {
        let context = format!(r#"{{"prompt_data": {value}, "lockdown_reason": "top"}}"#);
        assert_eq!(
            reason_of(&context),
            Err(PROMPT_DATA_NOT_OBJECT.into()),
            "{value}"
        );
    }
}

#[test]
fn a_prompt_data_reason_that_is_not_a_string_is_refused() {
    for value in ["null", "5", "true", "{}", "[\"x\"]"] {
        let context = format!(r#"{{"prompt_data": {{"lockdown_reason": {value}}}}}"#);
        assert_eq!(
            reason_of(&context),
            Err("The lockdown reason in prompt_data.lockdown_reason must be a string.".into()),
            "{value}"
        );
    }
}

#[test]
fn a_top_level_reason_that_is_not_a_string_is_refused() {
    for value in ["null", "0", "false", "{}", "[]"] {
        let context = format!(r#"{{"lockdown_reason": {value}}}"#);
        assert_eq!(
            reason_of(&context),
            Err("The lockdown reason in lockdown_reason must be a string.".into()),
            "{value}"
        );
    }
}

// ---------------------------------------------------------------- 1. the target

#[test]
fn no_pending_user_is_refused() {
    let (outcome, fake) = run(Fake::default().pending(None));
    assert_eq!(
        outcome,
        invalid("No target user specified for account lockdown")
    );
    assert_eq!(fake.names(), ["get-pending-user"]);
}

#[test]
fn a_failing_pending_user_lookup_fails_the_stage() {
    let (outcome, fake) = run(Fake::default().fail("get-pending-user", 1));
    assert_eq!(
        outcome,
        invalid("Account lockdown failed for this account.")
    );
    assert_eq!(fake.names(), ["get-pending-user"]);
}

#[test]
fn a_pending_user_that_vanished_fails_the_stage() {
    let fake = Fake::default().fail_with("get-pending-user", None, HostError::UserNotFound(2));
    let (outcome, fake) = run(fake);
    assert_eq!(outcome, invalid(FAILED));
    assert_eq!(fake.names(), ["get-pending-user"]);
}

// ---------------------------------------------------------------- 2. eligible targets

#[test]
fn anonymous_and_internal_service_account_targets_are_refused_like_a_missing_one() {
    for kind in [UserKind::Anonymous, UserKind::InternalServiceAccount] {
        let (outcome, fake) = run(Fake::default().target_kind(kind));
        assert_eq!(outcome, invalid(NO_TARGET), "{kind:?}");
        assert_eq!(fake.names(), ["get-pending-user"], "{kind:?}");
    }
}

#[test]
fn internal_external_and_service_account_targets_are_locked() {
    for kind in [
        UserKind::Internal,
        UserKind::External,
        UserKind::ServiceAccount,
    ] {
        let (outcome, fake) = run(Fake::default().target_kind(kind));
        assert_eq!(outcome, Outcome::Continue, "{kind:?}");
        assert_eq!(fake.names(), ADMIN_FULL, "{kind:?}");
    }
}

// ---------------------------------------------------------------- 3. permission

#[test]
fn an_anonymous_request_may_lock_nobody() {
    let (outcome, fake) = run(Fake::default().actor(None));
    assert_eq!(
        outcome,
        invalid("You do not have permission to lock down this account.")
    );
    assert_eq!(fake.names(), ["get-pending-user", "get-actor"]);
}

#[test]
fn an_actor_that_is_the_anonymous_placeholder_may_lock_nobody() {
    let placeholder = User {
        pk: 99,
        username: "AnonymousUser".into(),
        kind: UserKind::Anonymous,
    };
    let (outcome, fake) = run(Fake::default().actor(Some(placeholder)));
    assert_eq!(outcome, invalid(PERMISSION));
    assert_eq!(fake.names(), ["get-pending-user", "get-actor"]);
}

#[test]
fn another_account_needs_the_change_user_permission() {
    let (outcome, fake) = run(Fake::default().denied());
    assert_eq!(outcome, invalid(PERMISSION));
    assert_eq!(
        fake.calls,
        [
            Call::GetPendingUser,
            Call::GetActor,
            Call::CanChangeUser(bob().pk)
        ]
    );
    assert!(fake.active && fake.password_usable);
}

#[test]
fn a_failing_actor_lookup_fails_the_stage() {
    let (outcome, fake) = run(Fake::default().fail("get-actor", 1));
    assert_eq!(outcome, invalid(FAILED));
    assert_eq!(fake.names(), ["get-pending-user", "get-actor"]);
}

#[test]
fn a_failing_permission_check_fails_the_stage() {
    let (outcome, fake) = run(Fake::default().fail("can-change-user", 1));
    assert_eq!(outcome, invalid(FAILED));
    assert_eq!(fake.names(), admin_head());
}

#[test]
fn an_actor_may_lock_their_own_account_without_the_permission() {
    let fake = Fake::default().self_service().denied();
    let (outcome, fake) = run_with(fake, &actions(true, true, false, true), CONTEXT);
    assert_eq!(outcome, Outcome::Continue);
    assert!(!fake.names().contains(&"can-change-user"));
}

#[test]
fn self_service_is_decided_by_primary_key() {
    let same_pk = User {
        username: "bob-renamed".into(),
        ..bob()
    };
    let (outcome, fake) = run_with(
        Fake::default().actor(Some(same_pk)),
        &self_settings(),
        CONTEXT,
    );
    assert_eq!(outcome, Outcome::Redirect(FLOW_PATH.into()));
    assert_eq!(fake.names(), SELF_FULL);
}

// ---------------------------------------------------------------- 4. self-service

#[test]
fn self_service_that_deletes_sessions_needs_a_completion_flow() {
    let (outcome, fake) = run(Fake::default().self_service());
    assert_eq!(
        outcome,
        invalid("Self-service account lockdown requires a completion flow.")
    );
    assert_eq!(fake.names(), ["get-pending-user", "get-actor"]);
    assert!(fake.active && fake.password_usable);
}

#[test]
fn self_service_that_deletes_sessions_redirects_to_the_completion_flow() {
    let (outcome, fake) = run_with(Fake::default().self_service(), &self_settings(), CONTEXT);
    assert_eq!(outcome, Outcome::Redirect(FLOW_PATH.into()));
    assert_eq!(fake.names(), SELF_FULL);
    assert_eq!(fake.calls.last(), Some(&Call::Redirect(FLOW_PATH.into())));
    assert_eq!(fake.events().len(), 1);
}

#[test]
fn self_service_that_keeps_sessions_continues_without_a_flow() {
    let (outcome, fake) = run_with(
        Fake::default().self_service(),
        &actions(true, true, false, true),
        CONTEXT,
    );
    assert_eq!(outcome, Outcome::Continue);
    assert_eq!(
        fake.names(),
        [
            "get-pending-user",
            "get-actor",
            "set-inactive",
            "clear-password",
            "revoke-tokens",
            "revoke-tokens",
            "emit-event",
        ]
    );
}

#[test]
fn self_service_that_keeps_sessions_does_not_redirect_even_with_a_flow() {
    let settings = Settings {
        delete_sessions: false,
        ..self_settings()
    };
    let (outcome, fake) = run_with(Fake::default().self_service(), &settings, CONTEXT);
    assert_eq!(outcome, Outcome::Continue);
    assert!(!fake.names().contains(&"redirect"));
}

#[test]
fn an_admin_lockdown_continues_even_with_a_completion_flow() {
    let (outcome, fake) = run_with(Fake::default(), &self_settings(), CONTEXT);
    assert_eq!(outcome, Outcome::Continue);
    assert_eq!(fake.names(), ADMIN_FULL);
}

// ---------------------------------------------------------------- 5. the actions

#[test]
fn all_actions_off_still_records_the_event_and_continues() {
    let (outcome, fake) = run_with(
        Fake::default(),
        &actions(false, false, false, false),
        CONTEXT,
    );
    assert_eq!(outcome, Outcome::Continue);
    assert_eq!(fake.names(), admin_then(&["emit-event"]));
    assert_eq!(fake.events().len(), 1);
    assert!(fake.active && fake.password_usable);
}

#[test]
fn every_combination_of_the_four_actions() {
    for mask in 0..16_u8 {
        let [deactivate, password, sessions, tokens] = [1, 2, 4, 8].map(|bit| mask & bit != 0);
        let settings = actions(deactivate, password, sessions, tokens);
        let (outcome, fake) = run_with(Fake::default(), &settings, CONTEXT);
        assert_eq!(outcome, Outcome::Continue, "{settings:?}");

        let mut expected = admin_head();
        expected.extend(deactivate.then_some("set-inactive"));
        expected.extend(password.then_some("clear-password"));
        // bob starts with a session and tokens: one pass removes them, one finds none.
        for _ in 0..2 {
            expected.extend(sessions.then_some("delete-sessions"));
            expected.extend(tokens.then_some("revoke-tokens"));
        }
        expected.push("emit-event");
        assert_eq!(fake.names(), expected, "{settings:?}");
        assert_eq!(fake.active, !deactivate, "{settings:?}");
        assert_eq!(fake.password_usable, !password, "{settings:?}");
        assert_eq!(fake.sessions == 0, sessions, "{settings:?}");
        assert_eq!(fake.tokens == 0, tokens, "{settings:?}");
    }
}

#[test]
fn a_target_with_nothing_to_remove_takes_one_pass() {
    let (outcome, fake) = run(Fake::default().credentials(0, 0));
    assert_eq!(outcome, Outcome::Continue);
    assert_eq!(
        fake.names(),
        admin_then(&[
            "set-inactive",
            "clear-password",
            "delete-sessions",
            "revoke-tokens",
            "emit-event"
        ])
    );
}

#[test]
fn tokens_minted_during_the_lockdown_are_removed_by_another_pass() {
    let (outcome, fake) = run(Fake::default().tokens_after_first_revoke(2));
    assert_eq!(outcome, Outcome::Continue);
    assert_eq!(
        fake.names(),
        admin_then(&[
            "set-inactive",
            "clear-password",
            "delete-sessions",
            "revoke-tokens",
            "delete-sessions",
            "revoke-tokens",
            "delete-sessions",
            "revoke-tokens",
            "emit-event",
        ])
    );
    assert_eq!(fake.tokens, 0);
}

/// The calls of `passes` session-and-token passes.
fn passes(passes: usize) -> Vec<&'static str> {
    ["delete-sessions", "revoke-tokens"].repeat(passes)
}

#[test]
fn a_pass_that_removes_nothing_on_the_last_allowed_pass_succeeds() {
    // Tokens regrow after 8 revokes: passes 1 to 9 remove something, pass 10 nothing.
    let (outcome, fake) = run(Fake::default().regrowing_revokes(MAX_PASSES - 2));
    assert_eq!(outcome, Outcome::Continue);
    let mut expected = admin_then(&["set-inactive", "clear-password"]);
    expected.extend(passes(10));
    expected.push("emit-event");
    assert_eq!(fake.names(), expected);
}

#[test]
fn credentials_that_never_run_out_fail_after_exactly_max_passes() {
    let (outcome, fake) = run(Fake::default().regrowing_revokes(u32::MAX));
    assert_eq!(outcome, invalid(FAILED));
    let mut expected = admin_then(&["set-inactive", "clear-password"]);
    expected.extend(passes(10));
    expected.push("log");
    assert_eq!(fake.names(), expected);
    let errors = error_logs(&fake);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].contains("the last allowed pass (10) still removed 1 "),
        "{}",
        errors[0]
    );
    assert!(fake.events().is_empty());
}

#[test]
fn the_tenth_pass_still_removing_something_fails() {
    // Tokens regrow after 9 revokes: pass 10 still removes one.
    let (outcome, fake) = run(Fake::default().regrowing_revokes(MAX_PASSES - 1));
    assert_eq!(outcome, invalid(FAILED));
    assert_eq!(
        fake.names()
            .iter()
            .filter(|n| **n == "revoke-tokens")
            .count(),
        10
    );
    assert!(fake.events().is_empty());
}

#[test]
fn the_bound_holds_with_only_token_revocation_on() {
    let fake = Fake::default().regrowing_revokes(u32::MAX);
    let (outcome, fake) = run_with(fake, &actions(false, false, false, true), CONTEXT);
    assert_eq!(outcome, invalid(FAILED));
    let mut expected = admin_then(&["revoke-tokens"; 10]);
    expected.push("log");
    assert_eq!(fake.names(), expected);
}

/// Each apply call failing on its `nth` call: the stage logs an error, makes no further
/// call and records no event.
fn assert_apply_failure(import: &'static str, nth: usize, calls_before: &[&'static str]) {
    let (outcome, fake) = run(Fake::default().fail(import, nth));
    assert_eq!(outcome, invalid(FAILED), "{import} #{nth}");
    let mut expected = admin_then(calls_before);
    expected.extend([import, "log"]);
    assert_eq!(fake.names(), expected, "{import} #{nth}");
    let errors = error_logs(&fake);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].contains(import) && errors[0].contains("injected fault"),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("\"bob\" (pk 2)"), "{}", errors[0]);
}

#[test]
fn a_failing_set_inactive_fails_the_stage() {
    assert_apply_failure("set-inactive", 1, &[]);
}

#[test]
fn a_failing_clear_password_fails_the_stage() {
    assert_apply_failure("clear-password", 1, &["set-inactive"]);
}

#[test]
fn a_failing_delete_sessions_fails_the_stage() {
    assert_apply_failure("delete-sessions", 1, &["set-inactive", "clear-password"]);
}

#[test]
fn a_failing_revoke_tokens_fails_the_stage() {
    assert_apply_failure(
        "revoke-tokens",
        1,
        &["set-inactive", "clear-password", "delete-sessions"],
    );
}

#[test]
fn a_failure_in_a_later_pass_fails_the_stage() {
    let first_pass = [
        "set-inactive",
        "clear-password",
        "delete-sessions",
        "revoke-tokens",
    ];
    assert_apply_failure("delete-sessions", 2, &first_pass);
    let up_to_second_delete = [&first_pass[..], &["delete-sessions"]].concat();
    assert_apply_failure("revoke-tokens", 2, &up_to_second_delete);
}

#[test]
fn a_user_not_found_error_is_logged_with_its_pk() {
    let fake = Fake::default().fail_with("set-inactive", Some(1), HostError::UserNotFound(2));
    let (outcome, fake) = run(fake);
    assert_eq!(outcome, invalid(FAILED));
    assert!(error_logs(&fake)[0].ends_with("set-inactive: user 2 does not exist"));
}

// ---------------------------------------------------------------- 6. the event

#[test]
fn a_failing_emit_is_logged_as_a_warning_and_the_flow_continues() {
    let (outcome, fake) = run(Fake::default().fail("emit-event", 1));
    assert_eq!(outcome, Outcome::Continue);
    let mut expected = ADMIN_FULL.to_vec();
    expected.push("log");
    assert_eq!(fake.names(), expected);
    let logs = fake.logs();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].0, LogLevel::Warning);
    assert!(logs[0].1.contains("injected fault"), "{}", logs[0].1);
}

#[test]
fn a_failing_emit_still_redirects_a_self_service_lockdown() {
    let fake = Fake::default().self_service().fail("emit-event", 1);
    let (outcome, fake) = run_with(fake, &self_settings(), CONTEXT);
    assert_eq!(outcome, Outcome::Redirect(FLOW_PATH.into()));
    let mut expected = SELF_FULL[..9].to_vec();
    expected.extend(["log", "redirect"]);
    assert_eq!(fake.names(), expected);
    assert_eq!(fake.logs()[0].0, LogLevel::Warning);
}

#[test]
fn the_event_names_the_target_not_the_actor() {
    // alice (the actor) locks bob: the event is about bob.
    let (_, fake) = run_with(Fake::default(), &Settings::default(), "{}");
    let event = fake.events()[0];
    assert_eq!(event.context[2], ("affected_user".into(), bob().username));
    assert_ne!(event.context[2].1, alice().username);
    assert_eq!(event.context[1], ("reason".into(), String::new()));
}

#[test]
fn a_self_service_event_carries_the_reason_too() {
    let context = r#"{"lockdown_reason": "my laptop was stolen"}"#;
    let (_, fake) = run_with(Fake::default().self_service(), &self_settings(), context);
    let event = fake.events()[0];
    assert_eq!(event.action, "user_write");
    assert_eq!(
        event.context[0],
        ("action_id".into(), "account_lockdown".into())
    );
    assert_eq!(
        event.context[1],
        ("reason".into(), "my laptop was stolen".into())
    );
    assert_eq!(event.context[2], ("affected_user".into(), "bob".into()));
}

// ---------------------------------------------------------------- 7. the redirect

#[test]
fn a_refused_redirect_fails_the_stage() {
    let fake = Fake::default().self_service().fail("redirect", 1);
    let (outcome, fake) = run_with(fake, &self_settings(), CONTEXT);
    assert_eq!(outcome, invalid(FAILED));
    let mut expected = SELF_FULL.to_vec();
    expected.push("log");
    assert_eq!(fake.names(), expected);
    let errors = error_logs(&fake);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].contains(FLOW_PATH) && errors[0].contains("injected fault"),
        "{}",
        errors[0]
    );
}

#[test]
fn deeply_nested_values_are_skipped_without_recursion() {
    // serde_json skips a value it is not asked to decode (`IgnoredAny`) in a loop, not
    // by recursion, so nesting cannot exhaust the component's stack.
    let levels = 100_000;
    let context = format!(
        r#"{{"a": {}1{}, "lockdown_reason": "deep"}}"#,
        "[".repeat(levels),
        "]".repeat(levels)
    );
    assert_eq!(reason_of(&context), Ok("deep".into()));
}

#[test]
fn objects_nested_past_the_recursion_limit_through_read_keys_are_refused() {
    // Only values the lookup reads recurse; serde_json stops them at 128 levels (the
    // top object counts), which the message reports as serde_json words it.
    let nested = |levels: usize| {
        format!(
            "{}{{}}{}",
            r#"{"prompt_data": "#.repeat(levels),
            "}".repeat(levels)
        )
    };
    assert_eq!(reason_of(&nested(126)), Ok(String::new()));
    let refused = reason_of(&nested(127));
    assert!(
        refused.as_ref().is_err_and(|message| message
            .starts_with("The flow plan context is not valid JSON: recursion limit exceeded")),
        "{refused:?}"
    );
}
