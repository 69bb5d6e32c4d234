//! The WebAssembly adapter: converts between the generated WIT types and the domain
//! types, and backs [`Platform`] with the real imports. No decision is taken here.

use alloc::string::String;

use crate::lockdown::{self, Outcome};
use crate::platform::{self, Event, HostError, LogLevel, Platform, User, UserPk};
use crate::settings::{CompletionFlow, FlowAuthentication, Settings};

/// The generated bindings; nothing outside this file names them.
mod wit {
    wit_bindgen::generate!({ path: "../wit", world: "account-lockdown" });
}

use wit::exports::idp::account_lockdown::stage::Guest;
use wit::idp::account_lockdown::platform as host;
use wit::idp::account_lockdown::types;

/// The exported component.
struct Component;

impl Guest for Component {
    fn execute(settings: types::Settings, context: String) -> types::Outcome {
        match lockdown::execute(&mut Imports, &settings_from(settings), &context) {
            Outcome::Continue => types::Outcome::Continue,
            Outcome::Invalid(message) => types::Outcome::Invalid(message),
            Outcome::Redirect(path) => types::Outcome::Redirect(path),
        }
    }
}

wit::export!(Component with_types_in wit);

fn settings_from(settings: types::Settings) -> Settings {
    Settings {
        deactivate_user: settings.deactivate_user,
        set_unusable_password: settings.set_unusable_password,
        delete_sessions: settings.delete_sessions,
        revoke_tokens: settings.revoke_tokens,
        completion_flow: settings.completion_flow.map(|flow| CompletionFlow {
            slug: flow.slug,
            authentication: match flow.authentication {
                types::FlowAuthentication::None => FlowAuthentication::None,
                types::FlowAuthentication::RequireAuthenticated => {
                    FlowAuthentication::RequireAuthenticated
                }
                types::FlowAuthentication::RequireUnauthenticated => {
                    FlowAuthentication::RequireUnauthenticated
                }
                types::FlowAuthentication::RequireSuperuser => FlowAuthentication::RequireSuperuser,
            },
        }),
    }
}

fn user_from(user: types::User) -> User {
    User {
        pk: user.pk,
        username: user.username,
        kind: match user.kind {
            types::UserKind::Internal => platform::UserKind::Internal,
            types::UserKind::External => platform::UserKind::External,
            types::UserKind::ServiceAccount => platform::UserKind::ServiceAccount,
            types::UserKind::InternalServiceAccount => platform::UserKind::InternalServiceAccount,
            types::UserKind::Anonymous => platform::UserKind::Anonymous,
        },
    }
}

fn error_from(error: types::HostError) -> HostError {
    match error {
        types::HostError::UserNotFound(pk) => HostError::UserNotFound(pk),
        types::HostError::Failed(why) => HostError::Failed(why),
    }
}

/// [`Platform`] backed by the component's imports.
struct Imports;

impl Platform for Imports {
    fn get_pending_user(&mut self) -> Result<Option<User>, HostError> {
        host::get_pending_user()
            .map(|user| user.map(user_from))
            .map_err(error_from)
    }

    fn get_actor(&mut self) -> Result<Option<User>, HostError> {
        host::get_actor()
            .map(|user| user.map(user_from))
            .map_err(error_from)
    }

    fn can_change_user(&mut self, target: UserPk) -> Result<bool, HostError> {
        host::can_change_user(target).map_err(error_from)
    }

    fn set_inactive(&mut self, user: UserPk) -> Result<(), HostError> {
        host::set_inactive(user).map_err(error_from)
    }

    fn clear_password(&mut self, user: UserPk) -> Result<(), HostError> {
        host::clear_password(user).map_err(error_from)
    }

    fn delete_sessions(&mut self, user: UserPk) -> Result<u32, HostError> {
        host::delete_sessions(user).map_err(error_from)
    }

    fn revoke_tokens(&mut self, user: UserPk) -> Result<u32, HostError> {
        host::revoke_tokens(user).map_err(error_from)
    }

    fn emit_event(&mut self, event: Event) -> Result<(), HostError> {
        let event = types::Event {
            action: event.action,
            context: event.context,
        };
        host::emit_event(&event).map_err(error_from)
    }

    fn redirect(&mut self, path: &str) -> Result<(), HostError> {
        host::redirect(path).map_err(error_from)
    }

    fn log(&mut self, level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Info => types::LogLevel::Info,
            LogLevel::Warning => types::LogLevel::Warning,
            LogLevel::Error => types::LogLevel::Error,
        };
        host::log(level, message);
    }
}
