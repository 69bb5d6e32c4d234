//! The Account Lockdown stage, built as a WebAssembly component.
//!
//! The stage's decisions are plain Rust that runs (and is unit-tested) natively:
//!
//! - [`lockdown`]: the algorithm, [`execute`], step by step in the order README.md gives
//!   the platform calls, and its [`Outcome`];
//! - [`platform`]: the [`Platform`] trait, one method per WIT import, and the domain
//!   types it speaks ([`User`], [`HostError`], [`Event`], ...);
//! - [`settings`]: the stage's settings and their validation;
//! - [`context`]: reading the lockdown reason from the flow plan context;
//! - [`messages`]: every user-facing message, byte for byte.
//!
//! On `wasm32` only, the private `component` module adapts the WIT world
//! `idp:account-lockdown/account-lockdown`: it converts the generated types to the
//! domain types, calls [`execute`] with a [`Platform`] backed by the real imports, and
//! exports the component. No other module names a generated type.
//!
//! On `wasm32` the crate is also `no_std` (with `alloc`): the private `runtime` module
//! supplies a small allocator and a trapping panic handler in place of `std`'s, which
//! keeps the component under its 48 KiB budget. The native build (and its tests)
//! uses `std` as usual. The unit tests drive [`execute`] with a recording fake platform
//! (`src/fake.rs`, `src/lockdown/tests.rs`).

#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

pub mod context;
pub mod lockdown;
pub mod messages;
pub mod platform;
pub mod settings;

#[cfg(target_arch = "wasm32")]
mod component;
#[cfg(test)]
mod fake;
// The allocator and panic handler serve the component; the allocator's unit tests run
// natively, over a buffer standing in for the linear memory.
#[cfg(any(target_arch = "wasm32", test))]
mod runtime;

pub use lockdown::{MAX_PASSES, Outcome, execute};
pub use platform::{Event, HostError, LogLevel, Platform, User, UserKind, UserPk};
pub use settings::{CompletionFlow, FlowAuthentication, Settings};
