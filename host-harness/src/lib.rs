//! Run the Account Lockdown component under wasmtime against a mock platform.
//!
//! The pieces, one job per module:
//! - [`scenario`]: the scenario file format and its validation;
//! - [`platform`]: the mock platform (plain Rust, no wasmtime);
//! - [`engine`]: the wasmtime engine, the store and the run budgets;
//! - [`host`]: the store data and the host side of the WIT imports;
//! - [`runner`]: compile a plugin once, run scenarios against it;
//! - [`report`] and [`expect`]: what a run did, and whether it matched the scenario;
//! - [`inspect`]: describe a component file;
//! - [`signing`]: plugin signatures, checked before wasmtime sees any byte.

mod bindings;
pub mod engine;
pub mod expect;
pub mod host;
pub mod inspect;
pub mod platform;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod signing;

pub use engine::Limits;
pub use report::Report;
pub use runner::{Harness, Plugin};
pub use scenario::Scenario;

/// Read `path` whole, unless it holds more than `cap` bytes (`Ok(None)`): a file named by
/// mistake (a disk image, `/dev/zero`) must not be read into memory without end.
pub(crate) fn read_capped(path: &std::path::Path, cap: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(cap.saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= cap).then_some(bytes))
}
