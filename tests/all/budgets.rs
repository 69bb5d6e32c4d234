//! Budgets: a plugin that loops or grows memory without end is stopped, reported as an
//! `error` outcome that names the budget and its flag, and its changes are rolled back.
//! The misbehaving plugins are tiny hand-written components (WAT + the real WIT).

use std::time::Duration;

use stage_harness::Limits;
use stage_harness::report::Outcome;

use crate::common::{RETURN_CONTINUE, plugin, run, scenario, wat_plugin};

/// A lockdown that would commit changes, to show the overrun rolls them back.
const LOCKDOWN: &str = r#"{
  "platform": {"users": [{"pk": 1, "username": "akadmin", "type": "internal", "superuser": true},
                         {"pk": 3, "username": "bob", "type": "external"}],
               "sessions": [{"id": "s1", "user": 3}]},
  "request": {"actor": 1, "pending_user": 3}
}"#;

const LOOP_FOREVER: &str = "(loop $spin (br $spin)) (unreachable)";
const GROW_FOREVER: &str =
    "(loop $grow (drop (memory.grow (i32.const 16))) (br $grow)) (unreachable)";

fn error_message(outcome: &Outcome) -> &str {
    match outcome {
        Outcome::Error { message } => message,
        other => panic!("expected an error outcome, got {other:?}"),
    }
}

#[test]
fn fuel_overrun_is_an_error_naming_the_fuel_budget() {
    let limits = Limits {
        fuel: 1_000_000,
        ..Limits::default()
    };
    let report =
        wat_plugin("loop", LOOP_FOREVER, "").run_with(&scenario(LOCKDOWN), "loop", &limits);
    assert_eq!(
        error_message(&report.outcome),
        "ran out of fuel (budget 1000000); raise it with --fuel"
    );
    assert!(!report.committed);
    assert_eq!(report.fuel, 1_000_000);
}

#[test]
fn deadline_overrun_is_an_error_naming_the_timeout() {
    let limits = Limits {
        fuel: u64::MAX,
        timeout: Duration::from_millis(50),
        ..Limits::default()
    };
    let report =
        wat_plugin("loop", LOOP_FOREVER, "").run_with(&scenario(LOCKDOWN), "loop", &limits);
    assert_eq!(
        error_message(&report.outcome),
        "ran past the deadline (budget 50 ms); raise it with --timeout-ms"
    );
    assert!(!report.committed);
}

#[test]
fn memory_overrun_is_an_error_naming_the_memory_cap() {
    let limits = Limits {
        max_memory: 1 << 20,
        ..Limits::default()
    };
    let report =
        wat_plugin("grow", GROW_FOREVER, "").run_with(&scenario(LOCKDOWN), "grow", &limits);
    assert_eq!(
        error_message(&report.outcome),
        "tried to grow memory past the cap (budget 1048576 bytes); raise it with --max-memory"
    );
    assert!(!report.committed);
}

#[test]
fn a_real_lockdown_fails_cleanly_when_fuel_is_too_low_and_rolls_back() {
    let limits = Limits {
        fuel: 1_000,
        ..Limits::default()
    };
    let lockdown = scenario(LOCKDOWN);
    let report = plugin().run_with(&lockdown, "lockdown", &limits);
    assert_eq!(
        error_message(&report.outcome),
        "ran out of fuel (budget 1000); raise it with --fuel"
    );
    assert!(!report.committed);
    assert_eq!(report.state, lockdown.platform);
    assert!(report.events.is_empty());
}

#[test]
fn a_full_lockdown_fits_the_default_budgets() {
    let report = run(LOCKDOWN);
    assert_eq!(report.outcome, Outcome::Continue);
    assert!(
        report.fuel > 0 && report.fuel < Limits::default().fuel / 100,
        "{}",
        report.fuel
    );
}

#[test]
fn a_plugin_trap_is_an_error_and_a_well_behaved_stub_continues() {
    let report = wat_plugin("trap", "(unreachable)", "").run(&scenario(LOCKDOWN), "trap");
    assert!(
        error_message(&report.outcome).starts_with("the plugin trapped: wasm `unreachable`"),
        "{:?}",
        report.outcome
    );
    let report = wat_plugin("stub", RETURN_CONTINUE, "").run(&scenario(LOCKDOWN), "stub");
    assert_eq!(report.outcome, Outcome::Continue);
    assert!(report.calls.is_empty());
}

#[test]
fn a_redirect_never_asked_for_is_an_error() {
    // outcome = redirect("/elsewhere/"): case 2, string at 64 with length 11.
    let body = "(i32.store (i32.const 16) (i32.const 2))
                (i32.store (i32.const 20) (i32.const 64))
                (i32.store (i32.const 24) (i32.const 11))
                (i32.const 16)";
    let report = wat_plugin("sneaky", body, "/elsewhere/").run(&scenario(LOCKDOWN), "sneaky");
    assert_eq!(
        error_message(&report.outcome),
        "the stage returned redirect to \"/elsewhere/\" without asking for it through the `redirect` import"
    );
    assert!(!report.committed);
}

/// What the plugin hands the host is kept outside its memory cap: a plugin that logs a
/// 1 MiB message in a loop used to grow the host past 5 GB within the default fuel.
/// The host-side cap stops it after 16 MiB.
#[test]
fn a_plugin_flooding_the_log_is_stopped_by_the_host_text_cap() {
    let flood = r#"(module
  (import "idp:account-lockdown/platform@0.1.0" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 40)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 2000000))
  (func (export "idp:account-lockdown/stage@0.1.0#execute")
    (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
    (loop $again
      (call $log (i32.const 0) (i32.const 0) (i32.const 1048576))
      (br $again))
    (unreachable)))"#;
    let plugin = crate::common::bytes_plugin("flood", crate::common::encode_component(flood, None));
    let report = plugin.run(&scenario(LOCKDOWN), "flood");
    assert_eq!(
        error_message(&report.outcome),
        "the plugin handed the host more than 16777216 bytes of text (log messages, events, \
         redirects) in one run"
    );
    assert!(!report.committed);
    // 15 whole messages (with their level names) fit under the cap; the 16th does not.
    assert_eq!(report.logs.len(), 15);
}

/// Tables live in host memory, outside the linear-memory cap, and one `table.grow`
/// costs one unit of fuel whatever its size: a plugin growing a table in a loop used to
/// take over 500 MB of host memory in a run.
#[test]
fn a_plugin_growing_a_table_is_stopped_by_the_table_cap() {
    let body = "(loop $again
                  (drop (table.grow $t (ref.null func) (i32.const 0x4000000)))
                  (br $again))
                (unreachable)";
    let wat = format!(
        r#"(module
  (table $t 1 funcref)
  (memory (export "memory") 1)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
  (func (export "idp:account-lockdown/stage@0.1.0#execute")
    (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
    {body}))"#
    );
    let plugin = crate::common::bytes_plugin("table", crate::common::encode_component(&wat, None));
    let report = plugin.run(&scenario(LOCKDOWN), "table");
    assert_eq!(
        error_message(&report.outcome),
        "the plugin tried to grow its tables to 67108865 elements; the harness allows 1048576"
    );
    assert!(!report.committed);
}

/// The cap is on all of a run's memories together: a module with a second memory (or a
/// component with several core instances) used to get the whole cap for each.
#[test]
fn the_memory_cap_counts_every_memory_together() {
    let wat = format!(
        r#"(module
  (memory (export "memory") 1)
  (memory $second 1)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
  (func (export "idp:account-lockdown/stage@0.1.0#execute")
    (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
    {RETURN_CONTINUE}))"#
    );
    let plugin =
        crate::common::bytes_plugin("two-memories", crate::common::encode_component(&wat, None));
    let one_page = Limits {
        max_memory: 65536,
        ..Limits::default()
    };
    let report = plugin.run_with(&scenario(LOCKDOWN), "two", &one_page);
    assert_eq!(
        error_message(&report.outcome),
        "tried to grow memory past the cap (budget 65536 bytes); raise it with --max-memory"
    );
    let two_pages = Limits {
        max_memory: 2 * 65536,
        ..Limits::default()
    };
    let report = plugin.run_with(&scenario(LOCKDOWN), "two", &two_pages);
    assert_eq!(report.outcome, Outcome::Continue);
}
