//! The stage's settings and their validation (step a of the algorithm).

use alloc::{format, string::String};

use crate::messages;

/// Who may run a flow, as the flow's authentication setting says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowAuthentication {
    /// Anyone, signed in or not.
    None,
    /// Only a signed-in user.
    RequireAuthenticated,
    /// Only a request that is not signed in.
    RequireUnauthenticated,
    /// Only a signed-in superuser.
    RequireSuperuser,
}

impl FlowAuthentication {
    /// Whether a browser without a session (as after a self-service lockdown) may run
    /// the flow.
    pub fn allows_anonymous(self) -> bool {
        matches!(self, Self::None | Self::RequireUnauthenticated)
    }
}

/// The flow a self-service lockdown ends in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionFlow {
    /// The flow's slug.
    pub slug: String,
    /// The flow's authentication setting.
    pub authentication: FlowAuthentication,
}

impl CompletionFlow {
    /// The local path the browser is sent to: `/if/flow/<slug>/`.
    pub fn path(&self) -> String {
        format!("/if/flow/{}/", self.slug)
    }

    /// Checks the slug, then the authentication mode; the error is the message to show.
    pub fn check(&self) -> Result<(), String> {
        let slug_ok = !self.slug.is_empty()
            && self
                .slug
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !slug_ok {
            return Err(messages::invalid_flow_slug(&self.slug));
        }
        if !self.authentication.allows_anonymous() {
            return Err(messages::flow_requires_authentication(&self.slug));
        }
        Ok(())
    }
}

/// The stage's settings, as an administrator configured them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Mark the account inactive.
    pub deactivate_user: bool,
    /// Make the local password unusable.
    pub set_unusable_password: bool,
    /// End every session of the account (repeated until none is left).
    pub delete_sessions: bool,
    /// Delete every token and grant of the account (repeated until none is left).
    pub revoke_tokens: bool,
    /// Where a self-service lockdown that deleted sessions sends the browser.
    pub completion_flow: Option<CompletionFlow>,
}

impl Default for Settings {
    /// The documented defaults: all four actions on, no completion flow.
    fn default() -> Self {
        Self {
            deactivate_user: true,
            set_unusable_password: true,
            delete_sessions: true,
            revoke_tokens: true,
            completion_flow: None,
        }
    }
}

impl Settings {
    /// Step a: checks the completion flow, if any. Pure; the error is the message.
    pub fn check(&self) -> Result<(), String> {
        self.completion_flow
            .as_ref()
            .map_or(Ok(()), CompletionFlow::check)
    }
}
