//! Integration tests: the real component under wasmtime, through the harness library
//! and the `stage-harness` command line. One binary, so the component compiles once.

mod budgets;
mod cli;
mod common;
mod component;
mod scenarios;
mod signing;
