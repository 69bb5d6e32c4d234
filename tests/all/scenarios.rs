//! The scenario suite: every `tests/scenarios/*.json` runs through the real component
//! under wasmtime, and its `expect` must hold. Adding a case needs no Rust.

use stage_harness::Scenario;

use crate::common::{plugin, workspace_root};

/// Every scenario has `expect` and it holds. All-or-nothing is checked for every
/// scenario too: a run that is not committed leaves the platform exactly as the
/// scenario described it, with no event and no redirect.
#[test]
fn every_scenario_has_expectations_and_they_hold() {
    let dir = workspace_root().join("tests").join("scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("readable folder entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no scenarios in {}", dir.display());

    let mut problems = Vec::new();
    let mut rolled_back = 0;
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let scenario = match Scenario::load(file) {
            Ok(scenario) => scenario,
            Err(e) => {
                problems.push(format!("{name}: unusable: {e}"));
                continue;
            }
        };
        if scenario.expect.is_none() {
            problems.push(format!(
                "{name}: has no `expect`; every suite scenario must check something"
            ));
            continue;
        }
        let report = plugin().run(&scenario, &name);
        for failure in report.expectations.iter().flat_map(|e| &e.failures) {
            problems.push(format!("{name}: {failure}"));
        }
        if !report.committed {
            rolled_back += 1;
            assert_eq!(report.state, scenario.platform, "{name}: state changed");
            assert!(report.events.is_empty(), "{name}: events kept");
            assert!(report.redirects.is_empty(), "{name}: redirects kept");
            assert!(report.changes.is_empty(), "{name}: {:?}", report.changes);
        }
    }
    assert!(
        rolled_back > 0,
        "no scenario rolled back; the suite should have some"
    );
    assert!(
        problems.is_empty(),
        "{} of {} scenarios failed:\n{}",
        problems.len(),
        files.len(),
        problems.join("\n")
    );
}
