//! The generated wasmtime bindings for the `account-lockdown` world.
//!
//! This is the only module that runs `bindgen!`. Every import is `trappable`: a host
//! function returns `Ok(Err(host_error))` for an expected failure the stage must handle,
//! and `Err(wasmtime::Error)` to abort the component call (a trap).

wasmtime::component::bindgen!({
    world: "account-lockdown",
    path: "../wit",
    imports: { default: trappable },
    additional_derives: [PartialEq],
});

pub use exports::idp::account_lockdown::stage::{Outcome, Settings};
pub use idp::account_lockdown::platform;
pub use idp::account_lockdown::types::{
    self, CompletionFlow, FlowAuthentication, HostError, LogLevel,
};
