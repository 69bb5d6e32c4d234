//! Compare a run with its scenario's `expect`; each mismatch becomes a readable line.

use crate::platform::Event;
use crate::report::{Outcome, Report};
use crate::scenario::{Expect, ExpectedOutcome, OutcomeKind};

/// Every way `report` differs from `expect` (empty when all hold).
pub fn evaluate(expect: &Expect, report: &Report) -> Vec<String> {
    let mut failures = Vec::new();
    if let Some(outcome) = &expect.outcome {
        check_outcome(outcome, &report.outcome, &mut failures);
    }
    if let Some(committed) = expect.committed
        && committed != report.committed
    {
        failures.push(format!(
            "committed: expected {committed}, got {}",
            report.committed
        ));
    }
    for (pk, want) in expect.users.iter().flatten() {
        let Some(user) = report.state.user(*pk) else {
            failures.push(format!("users.{pk}: the user no longer exists"));
            continue;
        };
        let mut field = |name: &str, want: Option<String>, got: String| {
            if let Some(want) = want
                && want != got
            {
                failures.push(format!(
                    "users.{pk} ({}).{name}: expected {want}, got {got}",
                    user.username
                ));
            }
        };
        field("username", want.username.clone(), user.username.clone());
        field(
            "type",
            want.kind.map(|k| k.scenario_name().to_owned()),
            user.kind.scenario_name().to_owned(),
        );
        field(
            "is_active",
            want.is_active.map(|b| b.to_string()),
            user.is_active.to_string(),
        );
        field(
            "password_usable",
            want.password_usable.map(|b| b.to_string()),
            user.password_usable.to_string(),
        );
        field(
            "superuser",
            want.superuser.map(|b| b.to_string()),
            user.superuser.to_string(),
        );
    }
    for (pk, want) in expect.sessions_left.iter().flatten() {
        let got = report.state.sessions_of(*pk);
        if got != *want {
            failures.push(format!("sessions_left.{pk}: expected {want}, got {got}"));
        }
    }
    for (pk, want) in expect.tokens_left.iter().flatten() {
        let got = report.state.tokens_of(*pk);
        if got != *want {
            failures.push(format!("tokens_left.{pk}: expected {want}, got {got}"));
        }
    }
    if let Some(events) = &expect.events {
        check_events(events, &report.events, &mut failures);
    }
    if let Some(calls) = &expect.calls {
        let got: Vec<&str> = report.calls.iter().map(|c| c.import.as_str()).collect();
        check_calls(calls, &got, &mut failures);
    }
    if let Some(redirects) = &expect.redirects
        && *redirects != report.redirects
    {
        failures.push(format!(
            "redirects: expected {redirects:?}, got {:?}",
            report.redirects
        ));
    }
    failures
}

fn check_outcome(want: &ExpectedOutcome, got: &Outcome, failures: &mut Vec<String>) {
    let (kind, text) = match got {
        Outcome::Continue => (OutcomeKind::Continue, None),
        Outcome::Invalid { message } => (OutcomeKind::Invalid, Some(message)),
        Outcome::Redirect { to } => (OutcomeKind::Redirect, Some(to)),
        Outcome::Error { message } => (OutcomeKind::Error, Some(message)),
    };
    let shown = match text {
        Some(text) => format!("{} {text:?}", kind.name()),
        None => kind.name().to_owned(),
    };
    if want.kind != kind {
        failures.push(format!(
            "outcome: expected {}, got {shown}",
            want.kind.name()
        ));
        return;
    }
    let text = text.map(String::as_str).unwrap_or("");
    if let Some(message) = &want.message
        && message != text
    {
        failures.push(format!(
            "outcome.message: expected {message:?}, got {text:?}"
        ));
    }
    if let Some(part) = &want.message_contains
        && !text.contains(part.as_str())
    {
        failures.push(format!(
            "outcome.message: expected it to contain {part:?}, got {text:?}"
        ));
    }
    if let Some(to) = &want.to
        && to != text
    {
        failures.push(format!("outcome.to: expected {to:?}, got {text:?}"));
    }
}

fn show_events(events: &[Event]) -> String {
    serde_json::to_string(events).unwrap_or_default()
}

fn check_events(want: &[Event], got: &[Event], failures: &mut Vec<String>) {
    let same = want.len() == got.len() && want.iter().zip(got).all(|(a, b)| a.same_as(b));
    if !same {
        failures.push(format!(
            "events: expected {}, got {}",
            show_events(want),
            show_events(got)
        ));
    }
}

fn check_calls(want: &[String], got: &[&str], failures: &mut Vec<String>) {
    if want.iter().map(String::as_str).eq(got.iter().copied()) {
        return;
    }
    let first = want
        .iter()
        .map(String::as_str)
        .zip(got.iter().copied())
        .position(|(a, b)| a != b)
        .unwrap_or(want.len().min(got.len()));
    let detail = match (want.get(first), got.get(first)) {
        (Some(w), Some(g)) => format!("call {} is {g}, expected {w}", first + 1),
        (Some(w), None) => format!("missing call {}: {w}", first + 1),
        (None, Some(g)) => format!("unexpected call {}: {g}", first + 1),
        (None, None) => String::new(),
    };
    failures.push(format!(
        "calls: {detail}; expected [{}], got [{}]",
        want.join(", "),
        got.join(", ")
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_name_the_first_difference() {
        let mut failures = Vec::new();
        let want = ["get-actor".to_owned(), "log".to_owned()];
        check_calls(&want, &["get-actor"], &mut failures);
        check_calls(&want, &["get-actor", "redirect"], &mut failures);
        check_calls(&want[..1], &["get-actor", "log"], &mut failures);
        assert_eq!(
            failures,
            [
                "calls: missing call 2: log; expected [get-actor, log], got [get-actor]",
                "calls: call 2 is redirect, expected log; expected [get-actor, log], got [get-actor, redirect]",
                "calls: unexpected call 2: log; expected [get-actor], got [get-actor, log]",
            ]
        );
    }

    #[test]
    fn outcome_kind_and_message_are_compared() {
        let want = |kind, message: Option<&str>| ExpectedOutcome {
            kind,
            message: message.map(str::to_owned),
            message_contains: None,
            to: None,
        };
        let mut failures = Vec::new();
        check_outcome(
            &want(OutcomeKind::Continue, None),
            &Outcome::Continue,
            &mut failures,
        );
        assert!(failures.is_empty());
        let invalid = Outcome::Invalid {
            message: "no".into(),
        };
        check_outcome(&want(OutcomeKind::Continue, None), &invalid, &mut failures);
        check_outcome(
            &want(OutcomeKind::Invalid, Some("yes")),
            &invalid,
            &mut failures,
        );
        assert_eq!(
            failures,
            [
                "outcome: expected continue, got invalid \"no\"",
                "outcome.message: expected \"yes\", got \"no\"",
            ]
        );
    }
}
