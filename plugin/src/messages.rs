//! Every message the stage shows to a user, byte for byte (the table in the crate's
//! README.md lists them).
//!
//! Keeping them in one place makes them easy to review and lets the tests compare
//! outcomes with the same constants.

use alloc::{format, string::String};

/// The pending user is missing, anonymous or an internal service account.
pub const NO_TARGET: &str = "No target user specified for account lockdown";

/// The actor is anonymous, or locks another account without the change-user permission.
pub const PERMISSION: &str = "You do not have permission to lock down this account.";

/// A self-service lockdown that deletes sessions has nowhere to send the browser.
pub const SELF_FLOW: &str = "Self-service account lockdown requires a completion flow.";

/// A platform call failed: a lookup, an action, the last allowed pass still removing
/// something, or the redirect (a failed `emit-event` is only logged).
pub const FAILED: &str = "Account lockdown failed for this account.";

/// The plan context is valid JSON but not an object.
pub const CONTEXT_NOT_OBJECT: &str = "The flow plan context must be a JSON object.";

/// The plan context's `prompt_data` is present but not an object.
pub const PROMPT_DATA_NOT_OBJECT: &str =
    "The flow plan context's prompt_data must be a JSON object.";

/// The completion flow needs a signed-in user, which a locked-down browser no longer is.
pub fn flow_requires_authentication(slug: &str) -> String {
    format!(
        "The completion flow \"{slug}\" requires authentication; \
         set its authentication to \"No authentication required\"."
    )
}

/// The completion flow slug is empty or has a character outside `[A-Za-z0-9_-]`.
pub fn invalid_flow_slug(slug: &str) -> String {
    format!(
        "The completion flow slug \"{slug}\" is not a valid slug; \
         use letters, digits, \"-\" and \"_\"."
    )
}

/// The plan context is not JSON; `error` is the parser's own description.
pub fn context_not_json(error: &dyn core::fmt::Display) -> String {
    format!("The flow plan context is not valid JSON: {error}.")
}

/// The chosen reason is not a string; `location` is the path it was read from
/// (`prompt_data.lockdown_reason` or `lockdown_reason`).
pub fn reason_not_string(location: &str) -> String {
    format!("The lockdown reason in {location} must be a string.")
}

#[cfg(test)]
mod tests {
    //! Every message spelled out once more, byte for byte as the crate's README.md lists
    //! them, so that an edit to any of them fails here and not only in the scenarios.

    use super::*;

    #[test]
    fn every_message_is_byte_for_byte_the_documented_one() {
        assert_eq!(NO_TARGET, "No target user specified for account lockdown");
        assert_eq!(
            PERMISSION,
            "You do not have permission to lock down this account."
        );
        assert_eq!(
            SELF_FLOW,
            "Self-service account lockdown requires a completion flow."
        );
        assert_eq!(FAILED, "Account lockdown failed for this account.");
        assert_eq!(
            CONTEXT_NOT_OBJECT,
            "The flow plan context must be a JSON object."
        );
        assert_eq!(
            PROMPT_DATA_NOT_OBJECT,
            "The flow plan context's prompt_data must be a JSON object."
        );
        assert_eq!(
            flow_requires_authentication("done"),
            r#"The completion flow "done" requires authentication; set its authentication to "No authentication required"."#
        );
        assert_eq!(
            invalid_flow_slug("a b"),
            r#"The completion flow slug "a b" is not a valid slug; use letters, digits, "-" and "_"."#
        );
        assert_eq!(
            context_not_json(&"expected value at line 1 column 1"),
            "The flow plan context is not valid JSON: expected value at line 1 column 1."
        );
        assert_eq!(
            reason_not_string("prompt_data.lockdown_reason"),
            "The lockdown reason in prompt_data.lockdown_reason must be a string."
        );
    }
}
