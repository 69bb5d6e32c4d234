//! The `stage-harness` command line: exact messages and exit codes (0 expectations
//! hold, 1 one does not, 2 unusable input).

use assert_cmd::Command;
use serde_json::Value;

use crate::common::{dist_file, workspace_root};

const DEMO: &str = "tests/scenarios/admin-locks-other-account.json";
const UNSIGNED_WARNING: &str = "warning: --allow-unsigned: the plugin's signature was NOT checked; \
the report records `verified: false`. Use this for local development only.\n";

/// `stage-harness ARGS... --plugin dist/account-lockdown.wasm --allow-unsigned`, run
/// from the workspace root.
fn harness(args: &[&str]) -> Command {
    dist_file(crate::common::COMPONENT);
    let mut cmd = Command::cargo_bin("stage-harness").expect("the binary builds");
    cmd.current_dir(workspace_root()).args(args).args([
        "--plugin",
        "dist/account-lockdown.wasm",
        "--allow-unsigned",
    ]);
    cmd
}

fn stdout_of(cmd: &mut Command, code: i32) -> String {
    let output = cmd.assert().code(code).get_output().clone();
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// A fresh folder holding `name` with `bytes`; the folder lives as long as the guard.
fn scratch(name: &str, bytes: &[u8]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    (dir, path.display().to_string())
}

/// `run` on a scenario file holding `bytes` is refused with exit 2 and exactly
/// `error: <path><message>`.
fn assert_scenario_refused(bytes: &[u8], message: &str) {
    let (_dir, path) = scratch("scenario.json", bytes);
    harness(&["run", &path])
        .assert()
        .code(2)
        .stdout("")
        .stderr(format!("error: {path}{message}\n"));
}

#[test]
fn a_list_of_scenarios_is_refused_exit_2() {
    assert_scenario_refused(
        b"[]",
        ": a scenario file holds one JSON object ({...}), not a list; put each scenario in a file of its own",
    );
    assert_scenario_refused(
        br#"{"request": [1, 3]}"#,
        ": request: must be a JSON object with named fields, not a list",
    );
}

#[test]
fn two_faults_on_the_same_call_are_refused_exit_2() {
    assert_scenario_refused(
        br#"{"faults": [{"import": "get-actor", "fail": "error", "on_call": 1},
                        {"import": "get-actor", "fail": "trap", "on_call": 1}]}"#,
        ": faults[1]: faults[0] already makes call 1 of \"get-actor\" fail; give each call of an import one fault at most",
    );
}

#[test]
fn outcome_message_on_a_redirect_is_refused_exit_2() {
    assert_scenario_refused(
        br#"{"expect": {"outcome": {"kind": "redirect", "message": "/if/flow/done/"}}}"#,
        ": expect.outcome.message: a redirect outcome has no message; a redirect's path is `to`",
    );
}

/// The host creates the race's tokens outside every plugin budget: four billion of
/// them used to hang the harness.
#[test]
fn a_race_past_the_bound_is_refused_exit_2() {
    assert_scenario_refused(
        br#"{"concurrent": {"tokens_created_during_revoke": 4000000000}}"#,
        ": concurrent.tokens_created_during_revoke: 4000000000 is more than the harness creates \
         (10000 at most per pass); a few tokens show the race as well as many",
    );
}

/// JSON allows a key twice; a plain map kept the last entry and dropped the first's checks.
#[test]
fn a_user_given_twice_in_expect_is_refused_exit_2() {
    assert_scenario_refused(
        br#"{"platform": {"users": [{"pk": 3, "username": "bob", "type": "internal"}]},
             "expect": {"users": {"3": {"is_active": false}, "3": {"password_usable": false}}}}"#,
        ": user pk 3 has two entries; merge them into one at line 2 column 93",
    );
}

/// serde's `expected u64` and "floating point" for a pk past u64 are put in scenario terms.
#[test]
fn a_pk_that_is_not_a_whole_number_is_named_as_a_pk_exit_2() {
    assert_scenario_refused(
        br#"{"platform": {"users": [{"pk": 18446744073709551616, "username": "a", "type": "internal"}]}}"#,
        ": invalid type: floating point `1.8446744073709552e+19`, expected a user pk (a whole \
         number from 0 to 18446744073709551615) at line 1 column 51",
    );
    assert_scenario_refused(
        br#"{"platform": {"users": [{"pk": 1, "username": "a", "type": "internal"}],
             "sessions": [{"id": "s", "user": 1}, {"id": "s", "user": 1}]}}"#,
        ": platform.sessions[1]: session id \"s\" appears more than once; give each session its own id",
    );
}

#[test]
fn run_prints_the_readable_report_and_exits_0() {
    let mut cmd = harness(&["run", DEMO]);
    let assert = cmd.assert().code(0).stderr(UNSIGNED_WARNING);
    let out = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    for line in [
        "scenario   tests/scenarios/admin-locks-other-account.json\n",
        "plugin     dist/account-lockdown.wasm\n",
        "           NOT VERIFIED: loaded with --allow-unsigned\n",
        "outcome    continue\n",
        "committed  yes, changes kept\n",
        "   1. get-pending-user() -> ok {\"pk\":3,\"username\":\"bob\",\"kind\":\"internal\"}\n",
        "   3. can-change-user(3) -> ok true\n",
        "  user 3 (bob): is_active true -> false\n",
        "expect     all hold\n",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(out.contains("\nfuel       "), "{out}");
}

#[test]
fn unknown_scenario_field_is_named_exit_2() {
    harness(&["run", "tests/fixtures/unknown-field.json"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            "error: tests/fixtures/unknown-field.json: unknown field `actr`, expected one of \
             `actor`, `pending_user`, `context`, `context_text` at line 3 column 20\n",
        );
}

#[test]
fn unknown_user_pk_is_named_exit_2() {
    harness(&["run", "tests/fixtures/unknown-user-pk.json"])
        .assert()
        .code(2)
        .stderr(
            "error: tests/fixtures/unknown-user-pk.json: request.pending_user: user pk 7 \
             does not exist; add it to platform.users (known pks: [1])\n",
        );
}

#[test]
fn bad_fault_import_lists_the_valid_ones_exit_2() {
    harness(&["run", "tests/fixtures/bad-fault-import.json"])
        .assert()
        .code(2)
        .stderr(
            "error: tests/fixtures/bad-fault-import.json: faults[0].import: unknown import \
             \"revoke-token\"; valid imports: get-pending-user, get-actor, can-change-user, set-inactive, \
             clear-password, delete-sessions, revoke-tokens, emit-event, redirect, log\n"
        );
}

#[test]
fn missing_plugin_file_exit_2() {
    Command::cargo_bin("stage-harness")
        .unwrap()
        .current_dir(workspace_root())
        .args(["run", DEMO, "--plugin", "dist/no-such-plugin.wasm", "--allow-unsigned"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(format!(
            "{UNSIGNED_WARNING}error: plugin dist/no-such-plugin.wasm does not exist; build and sign it \
             with `make dist` (or `make run` for a development build), or pass --plugin PATH\n"
        ));
}

/// `run DEMO --plugin PATH --allow-unsigned` is refused with exit 2 and exactly
/// `error: <PATH><message>` after the warning.
fn assert_plugin_refused(plugin: &str, message: &str) {
    in_dir(
        &workspace_root(),
        &["run", DEMO, "--allow-unsigned", "--plugin", plugin],
    )
    .assert()
    .code(2)
    .stdout("")
    .stderr(format!("{UNSIGNED_WARNING}error: {plugin}{message}\n"));
}

#[test]
fn plugin_that_is_a_folder_or_empty_is_named_exit_2() {
    assert_plugin_refused(
        "dist",
        " is a folder; pass the component file (`make build` writes dist/account-lockdown.wasm)",
    );
    let (_dir, empty) = scratch("empty.wasm", b"");
    assert_plugin_refused(
        &empty,
        " is not a WebAssembly component (the file is empty); build it with `make build`",
    );
}

/// An unsigned core module is what cargo builds before `make build` encodes it: say so,
/// and do not suggest tampering, which only a verified file's header can show.
#[test]
fn core_module_is_named_as_such_exit_2() {
    let (_dir, core) = scratch("core.wasm", b"\0asm\x01\0\0\0");
    assert_plugin_refused(
        &core,
        " is not a WebAssembly component (it is a core module, like the one cargo builds \
         before `make build` encodes it as a component); build it with `make build`",
    );
}

/// `inspect`, `verify` and `sign` take the file as an argument: no `--plugin` advice.
#[test]
fn missing_file_for_inspect_and_sign_names_the_path_exit_2() {
    let expected = "error: nope.wasm does not exist; check the path (`make build` writes \
                    dist/account-lockdown.wasm, `make dist` the signed \
                    dist/account-lockdown.signed.wasm)\n";
    Command::cargo_bin("stage-harness")
        .unwrap()
        .current_dir(workspace_root())
        .args(["inspect", "nope.wasm", "--allow-unsigned"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(format!("{UNSIGNED_WARNING}{expected}"));
    Command::cargo_bin("stage-harness")
        .unwrap()
        .current_dir(workspace_root())
        .args([
            "sign",
            "nope.wasm",
            "-o",
            "never.wasm",
            "--key",
            "nope.secret",
        ])
        .assert()
        .code(2)
        .stdout("")
        .stderr(expected);
}

/// SCENARIOS.md: outcome `error` covers a plugin that "could not be loaded". With
/// `--json` a script reading stdout gets that report (and the list for `check`); stderr
/// and the exit status still say the input was unusable.
#[test]
fn json_reports_a_plugin_that_cannot_be_loaded_exit_2() {
    let missing = "error: plugin dist/no-such-plugin.wasm does not exist; build and sign it with \
                   `make dist` (or `make run` for a development build), or pass --plugin PATH";
    let json_of = |args: &[&str]| {
        let output = Command::cargo_bin("stage-harness")
            .unwrap()
            .current_dir(workspace_root())
            .args(args)
            .args([
                "--json",
                "--plugin",
                "dist/no-such-plugin.wasm",
                "--allow-unsigned",
            ])
            .assert()
            .code(2)
            .stderr(format!("{UNSIGNED_WARNING}{missing}\n"))
            .get_output()
            .clone();
        serde_json::from_slice::<Value>(&output.stdout).expect("JSON on stdout")
    };
    let report = json_of(&["run", DEMO]);
    assert_eq!(report["scenario"], DEMO);
    assert_eq!(
        report["outcome"],
        serde_json::json!({"kind": "error", "message": &missing["error: ".len()..]})
    );
    assert_eq!(report["plugin"]["path"], "dist/no-such-plugin.wasm");
    assert_eq!(report["committed"], false);
    assert_eq!(report["calls"], serde_json::json!([]));
    assert_eq!(report["fuel"], 0);
    assert_eq!(
        report["state"]["users"][2]["username"], "bob",
        "the scenario's platform"
    );
    assert_eq!(report["expectations"]["passed"], false);

    let list = json_of(&["check", "tests/scenarios"]);
    let reports = list.as_array().expect("a list");
    assert!(reports.len() > 1);
    assert!(reports.iter().all(|r| r["outcome"]["kind"] == "error"));
}

#[test]
fn missing_scenario_file_exit_2() {
    harness(&["run", "tests/fixtures/no-such-scenario.json"])
        .assert()
        .code(2)
        .stderr(
            "error: scenario tests/fixtures/no-such-scenario.json does not exist; check the path\n",
        );
}

#[test]
fn scenario_that_is_a_folder_points_to_check_exit_2() {
    harness(&["run", "tests/scenarios"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            "error: scenario tests/scenarios is a folder; pass a scenario file, or run every \
             scenario in the folder with `stage-harness check tests/scenarios`\n",
        );
}

#[test]
fn empty_and_non_utf8_scenarios_are_named_exit_2() {
    for empty in [&b""[..], b" \n"] {
        assert_scenario_refused(
            empty,
            " is empty; a scenario is a JSON object, `{}` at the least (the format is in SCENARIOS.md)",
        );
    }
    assert_scenario_refused(
        b"{\"description\": \"caf\xe9\"}",
        " is not UTF-8 text (invalid byte at offset 20); save it as UTF-8",
    );
}

#[test]
fn failed_expectation_exit_1_with_the_failures() {
    let out = stdout_of(
        &mut harness(&["run", "tests/fixtures/expectation-fails.json"]),
        1,
    );
    assert!(
        out.contains("expect     1 FAILED\n  - outcome: expected invalid, got continue\n"),
        "{out}"
    );
}

/// Failure lines spell values the way the scenario does (`service_account`, not the
/// WIT contract's `service-account`).
#[test]
fn expectation_failures_use_the_scenario_spelling() {
    let (_dir, path) = scratch(
        "typed.json",
        br#"{"platform": {"users": [{"pk": 5, "username": "ci", "type": "service_account"}]},
             "expect": {"users": {"5": {"type": "internal_service_account"}}}}"#,
    );
    let out = stdout_of(&mut harness(&["run", &path]), 1);
    assert!(
        out.contains(
            "expect     1 FAILED
  - users.5 (ci).type: expected internal_service_account, got service_account
"
        ),
        "{out}"
    );
}

#[test]
fn budget_flags_reach_the_run() {
    let out = stdout_of(&mut harness(&["run", DEMO, "--fuel", "1000"]), 1);
    assert!(
        out.contains("outcome    error: ran out of fuel (budget 1000); raise it with --fuel\n"),
        "{out}"
    );
    assert!(
        out.contains("committed  no, everything rolled back\n"),
        "{out}"
    );
}

/// A budget of 0 is what many tools call "no limit"; here it would stop every run (or,
/// for the deadline, quietly become one 10 ms tick). Refused before anything runs.
#[test]
fn zero_budgets_are_refused_exit_2() {
    for (flag, value_name) in [
        ("--fuel", "UNITS"),
        ("--timeout-ms", "MS"),
        ("--max-memory", "BYTES"),
    ] {
        harness(&["run", DEMO, flag, "0"])
            .assert()
            .code(2)
            .stdout("")
            .stderr(format!(
                "error: invalid value '0' for '{flag} <{value_name}>': 0 would stop the plugin \
                 before it starts; give at least 1 (there is no unlimited budget: for no \
                 practical limit, give a large number)\n\nFor more information, try '--help'.\n"
            ));
    }
}

#[test]
fn check_on_a_file_a_missing_or_an_empty_folder_says_what_to_pass_exit_2() {
    harness(&["check", DEMO]).assert().code(2).stdout("").stderr(format!(
        "error: {DEMO} is a file, not a folder; run one scenario with `stage-harness run {DEMO}`\n"
    ));
    harness(&["check", "tests/no-such-folder"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            "error: scenario folder tests/no-such-folder does not exist; check the path \
             (the suite is in tests/scenarios)\n",
        );
    let (dir, _) = scratch("notes.txt", b"not a scenario");
    let dir = dir.path().display().to_string();
    harness(&["check", &dir])
        .assert()
        .code(2)
        .stdout("")
        .stderr(format!(
            "error: no scenario files (*.json) in {dir}; pass the folder that holds them\n"
        ));
}

#[test]
fn check_prints_a_line_per_scenario_and_a_summary() {
    let dir = workspace_root().join("tests").join("scenarios");
    let count = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count();
    let out = stdout_of(&mut harness(&["check", "tests/scenarios"]), 0);
    assert!(
        out.contains("ok    tests/scenarios/admin-locks-other-account.json (continue)\n"),
        "{out}"
    );
    assert_eq!(out.lines().count(), count + 1, "{out}");
    assert_eq!(
        out.lines().last().unwrap(),
        format!("summary: {count} scenarios, {count} passed, 0 failed, 0 unusable")
    );
}

#[test]
fn check_with_unusable_scenarios_exits_2_and_reports_each() {
    let out = stdout_of(&mut harness(&["check", "tests/fixtures"]), 2);
    assert!(
        out.contains("FAIL  tests/fixtures/expectation-fails.json (continue)\n"),
        "{out}"
    );
    assert!(
        out.contains("ERROR tests/fixtures/unknown-field.json: "),
        "{out}"
    );
    assert!(
        out.ends_with("summary: 4 scenarios, 0 passed, 1 failed, 3 unusable\n"),
        "{out}"
    );
}

#[test]
fn run_json_has_the_documented_shape() {
    let out = stdout_of(&mut harness(&["run", DEMO, "--json"]), 0);
    let report: Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(report["scenario"], DEMO);
    assert_eq!(report["plugin"]["path"], "dist/account-lockdown.wasm");
    assert_eq!(report["plugin"]["verified"], false);
    assert_eq!(report["plugin"]["signed_by"], serde_json::json!([]));
    assert_eq!(report["plugin"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(report["outcome"], serde_json::json!({"kind": "continue"}));
    assert_eq!(report["committed"], true);
    assert_eq!(
        report["calls"][0],
        serde_json::json!({"import": "get-pending-user", "args": [],
                           "result": {"ok": {"pk": 3, "username": "bob", "kind": "internal"}}})
    );
    assert_eq!(report["calls"][2]["args"], serde_json::json!([3]));
    assert_eq!(report["events"][0]["action"], "user_write");
    assert_eq!(report["events"][0]["context"]["affected_user"], "bob");
    for key in ["users", "sessions", "tokens"] {
        assert!(report["state"][key].is_array(), "state.{key}");
    }
    assert!(report["fuel"].as_u64().unwrap() > 0);
    assert_eq!(
        report["expectations"],
        serde_json::json!({"passed": true, "failures": []})
    );
}

#[test]
fn check_json_prints_a_list_of_reports() {
    let out = stdout_of(&mut harness(&["check", "tests/scenarios", "--json"]), 0);
    let reports: Vec<Value> = serde_json::from_str(&out).expect("a JSON list");
    assert!(reports.len() > 1);
    assert!(reports.iter().all(|r| r["expectations"]["passed"] == true));
}

#[test]
fn inspect_shows_package_imports_exports_size_and_sha256() {
    let bytes = std::fs::read(dist_file(crate::common::COMPONENT)).unwrap();
    let sha256 = {
        use sha2::Digest as _;
        format!("{:x}", sha2::Sha256::digest(&bytes))
    };
    let mut cmd = Command::cargo_bin("stage-harness").unwrap();
    cmd.current_dir(workspace_root()).args([
        "inspect",
        "dist/account-lockdown.wasm",
        "--allow-unsigned",
    ]);
    let out = stdout_of(&mut cmd, 0);
    let expected_head = format!(
        "component  dist/account-lockdown.wasm\nsize       {} bytes\nsha256     {sha256}\n\
         signature  not verified (--allow-unsigned)\npackage    idp:account-lockdown@0.1.0\n",
        bytes.len()
    );
    assert!(out.starts_with(&expected_head), "{out}");
    assert!(
        out.ends_with(
            "imports
  idp:account-lockdown/types@0.1.0
  idp:account-lockdown/platform@0.1.0
    get-pending-user() -> result<option<user>, host-error>
    get-actor() -> result<option<user>, host-error>
    can-change-user(target: user-pk) -> result<bool, host-error>
    set-inactive(user: user-pk) -> result<_, host-error>
    clear-password(user: user-pk) -> result<_, host-error>
    delete-sessions(user: user-pk) -> result<u32, host-error>
    revoke-tokens(user: user-pk) -> result<u32, host-error>
    emit-event(event: event) -> result<_, host-error>
    redirect(path: string) -> result<_, host-error>
    log(level: log-level, message: string)
exports
  idp:account-lockdown/stage@0.1.0
    execute(settings: settings, context: string) -> outcome
"
        ),
        "{out}"
    );
}

/// The readable report of the demo scenario, against a checked-in snapshot. The sha256,
/// fuel and wall time vary with the build and are masked. After an intended change,
/// re-bless with `STAGE_HARNESS_BLESS=1 cargo test --test all report_text`.
#[test]
fn report_text_matches_the_snapshot() {
    let out = stdout_of(&mut harness(&["run", DEMO]), 0);
    let masked: String = out
        .lines()
        .map(|line| {
            for prefix in ["           sha256 ", "fuel       ", "wall time  "] {
                if line.starts_with(prefix) {
                    return format!("{prefix}<masked>\n");
                }
            }
            format!("{line}\n")
        })
        .collect();
    let snapshot = workspace_root().join("tests/fixtures/snapshots/admin-locks-other-account.txt");
    if std::env::var_os("STAGE_HARNESS_BLESS").is_some() {
        std::fs::create_dir_all(snapshot.parent().unwrap()).unwrap();
        std::fs::write(&snapshot, &masked).unwrap();
    }
    let expected = std::fs::read_to_string(&snapshot).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; create it with STAGE_HARNESS_BLESS=1",
            snapshot.display()
        )
    });
    assert!(
        masked == expected,
        "the report differs from {} (re-bless with STAGE_HARNESS_BLESS=1 if intended):\n--- expected\n{expected}\n--- got\n{masked}",
        snapshot.display()
    );
}

/// A plugin that asks for more than the contract (here an `exfil` interface) is refused
/// before it runs: the host provides the platform interface and nothing else.
#[test]
fn plugin_importing_more_than_the_platform_is_refused_exit_2() {
    const EXTRA_IMPORT: &str = "package evil:plugin@0.1.0;
        interface exfil { send: func(data: string); }
        world greedy { import exfil; export idp:account-lockdown/stage@0.1.0; }";
    let module = format!(
        r#"(module
             (import "evil:plugin/exfil@0.1.0" "send" (func (param i32 i32)))
             (memory (export "memory") 1)
             (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
             (func (export "idp:account-lockdown/stage@0.1.0#execute")
               (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
               {}))"#,
        crate::common::RETURN_CONTINUE
    );
    let bytes = crate::common::encode_component(&module, Some((EXTRA_IMPORT, "greedy")));
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("greedy.wasm");
    std::fs::write(&plugin, bytes).unwrap();
    let output = Command::cargo_bin("stage-harness")
        .unwrap()
        .current_dir(workspace_root())
        .args(["run", DEMO, "--allow-unsigned", "--plugin"])
        .arg(&plugin)
        .assert()
        .code(2)
        .stdout("")
        .get_output()
        .clone();
    let stderr = String::from_utf8(output.stderr).unwrap();
    let expected = format!(
        "{UNSIGNED_WARNING}error: {} does not fit the idp:account-lockdown@0.1.0 world: ",
        plugin.display()
    );
    assert!(stderr.starts_with(&expected), "{stderr}");
    assert!(stderr.contains("evil:plugin/exfil@0.1.0"), "{stderr}");
    assert!(
        stderr.ends_with("; build it against wit/ with `make build`\n"),
        "{stderr}"
    );
}

/// `stage-harness ARGS...` run in `cwd`.
fn in_dir(cwd: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("stage-harness").unwrap();
    cmd.current_dir(cwd).args(args);
    cmd
}

/// The names in `dir`, sorted (temporary files included).
fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn keygen_into_a_file_path_says_out_takes_a_folder_exit_2() {
    let (dir, _) = scratch("taken", b"a file");
    in_dir(dir.path(), &["keygen", "--out", "taken"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            "error: --out taken is a file; pass the folder for the key pair (it is created if missing)\n",
        );
}

/// `--force` used to delete the old pair first: when the new one could not be written,
/// both keys were gone. Now nothing is touched until both new files are on disk.
#[test]
fn keygen_force_that_cannot_write_keeps_the_old_key() {
    let dir = tempfile::tempdir().unwrap();
    in_dir(dir.path(), &["keygen", "--out", "keys", "--name", "rel"])
        .assert()
        .code(0);
    let keys = dir.path().join("keys");
    let old_secret = std::fs::read(keys.join("rel.secret")).unwrap();
    std::fs::remove_file(keys.join("rel.pub")).unwrap();
    std::fs::create_dir(keys.join("rel.pub")).unwrap();
    in_dir(
        dir.path(),
        &["keygen", "--out", "keys", "--name", "rel", "--force"],
    )
    .assert()
    .code(2)
    .stdout("")
    .stderr("error: cannot write keys/rel.pub: it is a folder; name a file\n");
    assert_eq!(std::fs::read(keys.join("rel.secret")).unwrap(), old_secret);
    assert_eq!(
        listing(&keys),
        ["rel.pub", "rel.secret"],
        "no temporary file left"
    );
}

#[test]
fn sign_into_a_missing_folder_writes_nothing_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        dist_file(crate::common::COMPONENT),
        dir.path().join("plugin.wasm"),
    )
    .unwrap();
    in_dir(dir.path(), &["keygen", "--out", ".", "--name", "k"])
        .assert()
        .code(0);
    let before = listing(dir.path());
    in_dir(
        dir.path(),
        &[
            "sign",
            "plugin.wasm",
            "--key",
            "k.secret",
            "-o",
            "nowhere/signed.wasm",
        ],
    )
    .assert()
    .code(2)
    .stdout("")
    .stderr(
        "error: cannot write nowhere/signed.wasm: the folder nowhere does not exist; create it \
         first, or write somewhere else\n",
    );
    // The detached signature is checked before anything is written, not after it.
    let args = [
        "sign",
        "plugin.wasm",
        "--key",
        "k.secret",
        "--detached",
        "plugin.sig",
        "-o",
        "nowhere/copy.wasm",
    ];
    in_dir(dir.path(), &args).assert().code(2).stdout("");
    in_dir(
        dir.path(),
        &[
            "sign",
            "plugin.wasm",
            "--key",
            "k.secret",
            "-o",
            "x.wasm",
            "--detached",
            "x.wasm",
        ],
    )
    .assert()
    .code(2)
    .stdout("")
    .stderr(
        "error: cannot write x.wasm: -o and --detached name the same file; give the signature \
         its own file\n",
    );
    assert_eq!(listing(dir.path()), before);
}

#[test]
fn sign_onto_a_folder_is_refused_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    in_dir(dir.path(), &["keygen", "--out", ".", "--name", "k"])
        .assert()
        .code(0);
    let plugin = dist_file(crate::common::COMPONENT).display().to_string();
    in_dir(
        dir.path(),
        &["sign", &plugin, "--key", "k.secret", "-o", "out"],
    )
    .assert()
    .code(2)
    .stdout("")
    .stderr("error: cannot write out: it is a folder; name a file\n");
}

/// `run DEMO --plugin dist/account-lockdown.wasm TRUST...` in `cwd` (with no trust folder
/// from the environment) is refused with exit 2 and exactly `error: <message>`.
fn assert_trust_refused(cwd: &std::path::Path, trust: &[&str], message: &str) {
    let demo = workspace_root().join(DEMO);
    let plugin = dist_file(crate::common::COMPONENT);
    let mut cmd = Command::cargo_bin("stage-harness").unwrap();
    cmd.current_dir(cwd)
        .env_remove(stage_harness::signing::TRUST_DIR_ENV)
        .arg("run")
        .arg(&demo)
        .arg("--plugin")
        .arg(&plugin)
        .args(trust)
        .assert()
        .code(2)
        .stdout("")
        .stderr(format!("error: {message}\n"));
}

#[test]
fn trusted_keys_that_cannot_be_used_say_what_to_pass_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    in_dir(cwd, &["keygen", "--out", "keys", "--name", "rel"])
        .assert()
        .code(0);
    std::fs::create_dir(cwd.join("empty")).unwrap();
    assert_trust_refused(
        cwd,
        &["--trust", "keys"],
        "public key keys cannot be used: it is a folder; trust every *.pub file in it with --trust-dir keys",
    );
    assert_trust_refused(
        cwd,
        &["--trust", "keys/rel.secret"],
        "public key keys/rel.secret cannot be used: this is a SECRET key; trust the matching .pub file \
         instead, and keep the secret key private",
    );
    assert_trust_refused(
        cwd,
        &["--trust", "keys/nope.pub"],
        "public key keys/nope.pub cannot be used: it does not exist; check the path (keygen writes \
         NAME.pub beside NAME.secret)",
    );
    assert_trust_refused(
        cwd,
        &["--trust-dir", "keys/rel.pub"],
        "trust folder keys/rel.pub cannot be used: it is a file; trust a single public key with \
         --trust keys/rel.pub",
    );
    assert_trust_refused(
        cwd,
        &["--trust-dir", "nowhere"],
        "trust folder nowhere cannot be used: it does not exist; create it and copy the public keys \
         you trust into it, or pass --trust PUBKEY",
    );
    assert_trust_refused(
        cwd,
        &["--trust-dir", "empty"],
        "trust folder empty cannot be used: it holds no *.pub files; copy the public keys you trust into it",
    );
}

/// A trust folder named by a variable set long ago: the message says where it came from.
#[test]
fn trust_folder_from_the_environment_is_named_as_such_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    Command::cargo_bin("stage-harness")
        .unwrap()
        .current_dir(dir.path())
        .env(stage_harness::signing::TRUST_DIR_ENV, "empty")
        .arg("run")
        .arg(workspace_root().join(DEMO))
        .arg("--plugin")
        .arg(dist_file(crate::common::COMPONENT))
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            "error: trust folder empty cannot be used: it holds no *.pub files; copy the public \
             keys you trust into it (the folder is named by $STAGE_HARNESS_TRUST_DIR)\n",
        );
}

/// A component of another world (it exports something else) is refused before it runs.
#[test]
fn component_of_another_world_is_refused_exit_2() {
    const OTHER: &str = "package other:thing@0.1.0;
        interface api { run: func() -> u32; }
        world other { export api; }";
    let module = r#"(module
             (memory (export "memory") 1)
             (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
             (func (export "other:thing/api@0.1.0#run") (result i32) (i32.const 0)))"#;
    let bytes = crate::common::encode_component(module, Some((OTHER, "other")));
    let (_dir, plugin) = scratch("other.wasm", &bytes);
    assert_plugin_refused(
        &plugin,
        " does not fit the idp:account-lockdown@0.1.0 world: no exported instance named \
         `idp:account-lockdown/stage@0.1.0`; build it against wit/ with `make build`",
    );
}

/// A plugin's text cannot add lines to the readable report: its newline is escaped, so
/// a forged `expect     all hold` stays inside the outcome line.
#[test]
fn plugin_text_cannot_forge_report_lines() {
    let forged = "refused\\0aexpect     all hold";
    let body = format!(
        "(i32.store (i32.const 16) (i32.const 1))
         (i32.store (i32.const 20) (i32.const 64))
         (i32.store (i32.const 24) (i32.const {}))
         (i32.const 16)",
        "refused\nexpect     all hold".len()
    );
    let (_dir, plugin) = scratch("forger.wasm", &crate::common::wat_component(&body, forged));
    let (_scenario_dir, scenario) = scratch("no-expect.json", b"{}");
    let mut cmd = Command::cargo_bin("stage-harness").unwrap();
    cmd.current_dir(workspace_root()).args([
        "run",
        &scenario,
        "--allow-unsigned",
        "--plugin",
        &plugin,
    ]);
    let out = stdout_of(&mut cmd, 0);
    assert!(
        out.contains("outcome    invalid: refused\\nexpect     all hold\n"),
        "{out}"
    );
    assert!(!out.contains("\nexpect     all hold"), "{out}");
}

/// The event's action is the plugin's text too, in `events` and in `rolled back`.
#[test]
fn plugin_event_action_cannot_forge_report_lines() {
    let wat = r#"(module
  (import "idp:account-lockdown/platform@0.1.0" "emit-event"
    (func $emit (param i32 i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "x\0aexpect     all hold")
  (data (i32.const 96) "no")
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 4096))
  (func (export "idp:account-lockdown/stage@0.1.0#execute")
    (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
    (call $emit (i32.const 64) (i32.const 21) (i32.const 0) (i32.const 0) (i32.const 512))
    (i32.store (i32.const 16) (i32.const 1))
    (i32.store (i32.const 20) (i32.const 96))
    (i32.store (i32.const 24) (i32.const 2))
    (i32.const 16)))"#;
    let (_dir, plugin) = scratch("emitter.wasm", &crate::common::encode_component(wat, None));
    let (_scenario_dir, scenario) = scratch("no-expect.json", b"{}");
    let out = stdout_of(
        &mut in_dir(
            &workspace_root(),
            &["run", &scenario, "--allow-unsigned", "--plugin", &plugin],
        ),
        0,
    );
    assert!(
        out.contains("  event x\\nexpect     all hold dropped\n"),
        "{out}"
    );
    assert!(!out.contains("\nexpect     all hold"), "{out}");
}

/// `verify` has no `--allow-unsigned`; its refusal must not suggest one.
#[test]
fn verify_without_keys_does_not_suggest_allow_unsigned_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    Command::cargo_bin("stage-harness")
        .unwrap()
        .current_dir(dir.path())
        .env_remove(stage_harness::signing::TRUST_DIR_ENV)
        .arg("verify")
        .arg(dist_file(crate::common::COMPONENT))
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            "error: no trusted public keys to verify against: pass --trust PUBKEY (repeatable) or \
             --trust-dir DIR, set STAGE_HARNESS_TRUST_DIR, or put *.pub files in ./trust/\n",
        );
    in_dir(dir.path(), &["keygen", "--out", ".", "--name", "k"])
        .assert()
        .code(0);
    let plugin = dist_file(crate::common::COMPONENT).display().to_string();
    in_dir(dir.path(), &["verify", &plugin, "--trust", "k.pub"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(format!(
            "error: {plugin} is not signed; sign it with `stage-harness sign`\n"
        ));
}

/// A file named by mistake is not read without end (it used to fill memory until the
/// allocation failed).
#[cfg(unix)]
#[test]
fn endless_files_are_refused_exit_2() {
    harness(&["run", "/dev/zero"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            "error: /dev/zero holds more than 67108864 bytes, far more than a scenario; check the path\n",
        );
    in_dir(
        &workspace_root(),
        &["run", DEMO, "--allow-unsigned", "--plugin", "/dev/zero"],
    )
    .assert()
    .code(2)
    .stdout("")
    .stderr(format!(
        "{UNSIGNED_WARNING}error: /dev/zero holds more than 67108864 bytes, far more than a \
         plugin component; check the path\n"
    ));
    let too_big =
        "cannot read it: it holds more than 1048576 bytes, far more than a key or a signature";
    in_dir(
        &workspace_root(),
        &[
            "run",
            DEMO,
            "--plugin",
            "dist/account-lockdown.wasm",
            "--trust",
            "/dev/zero",
        ],
    )
    .assert()
    .code(2)
    .stderr(format!(
        "error: public key /dev/zero cannot be used: {too_big}\n"
    ));
    in_dir(
        &workspace_root(),
        &[
            "sign",
            "dist/account-lockdown.wasm",
            "--key",
            "/dev/zero",
            "--detached",
            "never.sig",
        ],
    )
    .assert()
    .code(2)
    .stderr(format!(
        "error: secret key /dev/zero cannot be used: {too_big}\n"
    ));
}
