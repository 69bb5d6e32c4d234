//! Run the Account Lockdown component under wasmtime against a mock platform.

pub mod signing;
