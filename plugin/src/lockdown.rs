//! The Account Lockdown algorithm, written against the [`Platform`] trait.
//!
//! The order of the platform calls is part of the contract (the harness scenarios assert
//! it). The step letters and numbers in the comments are those of the crate's
//! README.md, which describes the algorithm in prose.

use alloc::{
    format,
    string::{String, ToString},
    vec,
};
use core::fmt;

use crate::context;
use crate::messages::{FAILED, NO_TARGET, PERMISSION, SELF_FLOW};
use crate::platform::{Event, HostError, LogLevel, Platform, User, UserPk};
use crate::settings::Settings;

#[cfg(test)]
mod tests;

/// The most session-and-token passes one lockdown makes. If the last allowed pass still
/// removed something, something keeps minting credentials and the lockdown fails.
pub const MAX_PASSES: u32 = 10;

/// The event's action.
pub const EVENT_ACTION: &str = "user_write";
/// The event's `action_id`, which notification rules match on.
pub const EVENT_ACTION_ID: &str = "account_lockdown";

/// How the stage ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The flow goes on to its next stage.
    Continue,
    /// The flow stops and shows this message; the platform rolls every change back.
    Invalid(String),
    /// The browser goes to this local path (already requested through `redirect`).
    Redirect(String),
}

/// Runs the stage: checks the settings and the context, finds the target, checks the
/// actor's permission, applies the enabled actions, records the event and decides where
/// the flow goes.
pub fn execute(platform: &mut impl Platform, settings: &Settings, context: &str) -> Outcome {
    run(platform, settings, context).unwrap_or_else(Outcome::Invalid)
}

/// [`execute`] with every refusal as `Err(message)`, so the steps can use `?`.
fn run(
    platform: &mut impl Platform,
    settings: &Settings,
    context: &str,
) -> Result<Outcome, String> {
    // a. Settings, pure.
    settings.check()?;
    // b. The reason, pure.
    let reason = context::lockdown_reason(context).map_err(|error| error.to_string())?;

    // 1. The target. A failed lookup (here and in step 3) has changed nothing, so it
    // is not logged: the host already knows the error it returned.
    let target = platform
        .get_pending_user()
        .map_err(|_| FAILED)?
        .ok_or(NO_TARGET)?;
    // 2. Only real accounts.
    if !target.kind.is_lockable() {
        return Err(NO_TARGET.into());
    }

    // 3. Permission. An anonymous actor (none, or the anonymous placeholder) may lock
    // nobody, not even the placeholder itself (refused in step 2 anyway).
    let actor = platform
        .get_actor()
        .map_err(|_| FAILED)?
        .filter(|actor| actor.kind.is_authenticated())
        .ok_or(PERMISSION)?;
    let self_service = actor.pk == target.pk;
    if !self_service && !platform.can_change_user(target.pk).map_err(|_| FAILED)? {
        return Err(PERMISSION.into());
    }

    // 4. A self-service lockdown that ends the session needs somewhere to go.
    let completion_flow = match (
        &settings.completion_flow,
        self_service && settings.delete_sessions,
    ) {
        (None, true) => return Err(SELF_FLOW.into()),
        (Some(flow), true) => Some(flow),
        (_, false) => None,
    };

    // 5. Apply.
    apply(platform, settings, &target)?;

    // 6. The event; failing to record it does not undo the lockdown.
    let event = Event {
        action: EVENT_ACTION.into(),
        context: vec![
            ("action_id".into(), EVENT_ACTION_ID.into()),
            ("reason".into(), reason),
            ("affected_user".into(), target.username.clone()),
        ],
    };
    if let Err(error) = platform.emit_event(event) {
        let what = format_args!(": the audit event could not be recorded: {error}");
        log(platform, LogLevel::Warning, &target, what);
    }

    // 7. Where the flow goes.
    let Some(flow) = completion_flow else {
        return Ok(Outcome::Continue);
    };
    let path = flow.path();
    if let Err(error) = platform.redirect(&path) {
        let what = format_args!(" failed: redirect to {path} was refused: {error}");
        log(platform, LogLevel::Error, &target, what);
        return Err(FAILED.into());
    }
    Ok(Outcome::Redirect(path))
}

/// Step 5: the enabled actions, then session and token passes until one removes nothing.
fn apply(platform: &mut impl Platform, settings: &Settings, target: &User) -> Result<(), String> {
    let pk = target.pk;
    if settings.deactivate_user {
        platform
            .set_inactive(pk)
            .map_err(|error| failed(platform, target, "set-inactive", &error))?;
    }
    if settings.set_unusable_password {
        platform
            .clear_password(pk)
            .map_err(|error| failed(platform, target, "clear-password", &error))?;
    }
    if !settings.delete_sessions && !settings.revoke_tokens {
        return Ok(());
    }
    for pass in 1..=MAX_PASSES {
        let removed = removal_pass(platform, settings, target)?;
        if removed == 0 {
            return Ok(());
        }
        if pass == MAX_PASSES {
            let what = format_args!(
                " failed: the last allowed pass ({MAX_PASSES}) still removed {removed} \
                 sessions or tokens; something keeps creating them"
            );
            log(platform, LogLevel::Error, target, what);
        }
    }
    Err(FAILED.into())
}

/// One pass of step 5: delete sessions, then revoke tokens (each if enabled). Returns
/// how many the pass removed in all.
fn removal_pass(
    platform: &mut impl Platform,
    settings: &Settings,
    target: &User,
) -> Result<u64, String> {
    let pk: UserPk = target.pk;
    let mut removed = 0;
    if settings.delete_sessions {
        let sessions = platform
            .delete_sessions(pk)
            .map_err(|error| failed(platform, target, "delete-sessions", &error))?;
        removed += u64::from(sessions);
    }
    if settings.revoke_tokens {
        let tokens = platform
            .revoke_tokens(pk)
            .map_err(|error| failed(platform, target, "revoke-tokens", &error))?;
        removed += u64::from(tokens);
    }
    Ok(removed)
}

/// Logs a failed apply call and gives the message the user sees.
fn failed(platform: &mut impl Platform, target: &User, import: &str, error: &HostError) -> String {
    log(
        platform,
        LogLevel::Error,
        target,
        format_args!(" failed: {import}: {error}"),
    );
    FAILED.into()
}

/// Writes a log line about the lockdown of `target`: its name and pk, then `what`.
fn log(platform: &mut impl Platform, level: LogLevel, target: &User, what: fmt::Arguments<'_>) {
    let line = format!(
        "account lockdown of \"{}\" (pk {}){what}",
        target.username, target.pk
    );
    platform.log(level, &line);
}
