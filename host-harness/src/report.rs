//! What a run did: the JSON report (SCENARIOS.md) and its readable rendering.

use std::fmt::Write as _;

use serde::Serialize;

use crate::engine::Limits;
use crate::host::{CallRecord, CallResult};
use crate::platform::{Event, LogLevel, LogLine, PlatformState};
use crate::scenario::Scenario;
use crate::signing::VerifiedPlugin;

/// The plugin a report was produced with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginInfo {
    pub path: String,
    pub sha256: String,
    /// The trusted keys that signed it; empty when it was not verified.
    pub signed_by: Vec<String>,
    /// False when it was loaded with `--allow-unsigned`.
    pub verified: bool,
}

impl PluginInfo {
    /// A plugin that could not be loaded: its path, and the sha256 of the file when it
    /// can be read.
    pub fn unloaded(path: &std::path::Path) -> PluginInfo {
        let sha256 = std::fs::read(path)
            .map(|bytes| crate::signing::sha256_hex(&bytes))
            .unwrap_or_default();
        PluginInfo {
            path: path.display().to_string(),
            sha256,
            signed_by: Vec::new(),
            verified: false,
        }
    }
}

impl From<&VerifiedPlugin> for PluginInfo {
    fn from(plugin: &VerifiedPlugin) -> Self {
        PluginInfo {
            path: plugin.path.display().to_string(),
            sha256: plugin.sha256.clone(),
            signed_by: plugin.signed_by.clone(),
            verified: plugin.verified,
        }
    }
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    Continue,
    Invalid {
        message: String,
    },
    Redirect {
        to: String,
    },
    /// The plugin trapped, ran out of a budget, or broke the contract.
    Error {
        message: String,
    },
}

impl Outcome {
    /// The report's `kind`: `continue`, `invalid`, `redirect` or `error`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Continue => "continue",
            Outcome::Invalid { .. } => "invalid",
            Outcome::Redirect { .. } => "redirect",
            Outcome::Error { .. } => "error",
        }
    }

    /// Whether the platform keeps the run's changes.
    pub fn commits(&self) -> bool {
        matches!(self, Outcome::Continue | Outcome::Redirect { .. })
    }

    /// One line for the readable report; the plugin's text has its control characters
    /// escaped.
    fn describe(&self) -> String {
        match self {
            Outcome::Continue => "continue".to_owned(),
            Outcome::Invalid { message } => format!("invalid: {}", printable(message)),
            Outcome::Redirect { to } => format!("redirect to {}", printable(to)),
            Outcome::Error { message } => format!("error: {}", printable(message)),
        }
    }
}

/// The budgets the run had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitsReport {
    pub fuel: u64,
    pub timeout_ms: u128,
    pub max_memory: usize,
}

impl From<&Limits> for LimitsReport {
    fn from(limits: &Limits) -> Self {
        LimitsReport {
            fuel: limits.fuel,
            timeout_ms: limits.timeout.as_millis(),
            max_memory: limits.max_memory,
        }
    }
}

/// Whether the scenario's `expect` held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expectations {
    pub passed: bool,
    pub failures: Vec<String>,
}

/// Everything one run did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub description: String,
    pub plugin: PluginInfo,
    pub outcome: Outcome,
    pub committed: bool,
    pub calls: Vec<CallRecord>,
    /// Events kept (none when rolled back).
    pub events: Vec<Event>,
    /// Redirects kept (none when rolled back).
    pub redirects: Vec<String>,
    /// Log lines the stage wrote (kept even on rollback, like a real log).
    pub logs: Vec<LogLine>,
    /// The platform after the run, in the scenario's shape.
    pub state: PlatformState,
    /// What differs between the platform before and after, a line each.
    pub changes: Vec<String>,
    /// What the stage had changed before the run was rolled back (empty when kept).
    pub rolled_back: Vec<String>,
    /// Fuel units the run burned.
    pub fuel: u64,
    pub limits: LimitsReport,
    /// Wall-clock time of instantiation and the call, in milliseconds. A measurement,
    /// never part of an expectation.
    pub wall_time_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expectations: Option<Expectations>,
}

impl Report {
    /// The report of a run that never started because the plugin could not be loaded
    /// (SCENARIOS.md: outcome `error`): nothing called, nothing changed.
    pub fn not_run(
        scenario: &Scenario,
        name: &str,
        plugin: PluginInfo,
        limits: &Limits,
        message: String,
    ) -> Report {
        let mut report = Report {
            scenario: name.to_owned(),
            description: scenario.description.clone(),
            plugin,
            outcome: Outcome::Error { message },
            committed: false,
            calls: Vec::new(),
            events: Vec::new(),
            redirects: Vec::new(),
            logs: Vec::new(),
            state: scenario.platform.clone(),
            changes: Vec::new(),
            rolled_back: Vec::new(),
            fuel: 0,
            limits: LimitsReport::from(limits),
            wall_time_ms: 0.0,
            expectations: None,
        };
        report.check_expectations(scenario);
        report
    }

    /// Compare the run with the scenario's `expect`, if it has one.
    pub(crate) fn check_expectations(&mut self, scenario: &Scenario) {
        if let Some(expect) = &scenario.expect {
            let failures = crate::expect::evaluate(expect, self);
            self.expectations = Some(Expectations {
                passed: failures.is_empty(),
                failures,
            });
        }
    }

    /// True unless an expectation failed.
    pub fn passed(&self) -> bool {
        self.expectations.as_ref().is_none_or(|e| e.passed)
    }

    /// The JSON report, pretty-printed.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The readable report `stage-harness run` prints.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let w = &mut out;
        let _ = writeln!(w, "scenario   {}", self.scenario);
        for line in wrap(&self.description, 77) {
            let _ = writeln!(w, "           {line}");
        }
        let signer = if self.plugin.verified {
            format!("signed by {}", self.plugin.signed_by.join(", "))
        } else {
            "NOT VERIFIED: loaded with --allow-unsigned".to_owned()
        };
        let _ = writeln!(w, "plugin     {}", self.plugin.path);
        let _ = writeln!(w, "           sha256 {}", self.plugin.sha256);
        let _ = writeln!(w, "           {signer}");
        let _ = writeln!(w, "outcome    {}", self.outcome.describe());
        let committed = if self.committed {
            "yes, changes kept"
        } else {
            "no, everything rolled back"
        };
        let _ = writeln!(w, "committed  {committed}");

        let _ = writeln!(w, "\nhost calls ({})", self.calls.len());
        if self.calls.is_empty() {
            let _ = writeln!(w, "  (none)");
        }
        for (i, call) in self.calls.iter().enumerate() {
            let args = call.args.iter().map(compact).collect::<Vec<_>>().join(", ");
            let result = match &call.result {
                CallResult::Ok(value) if value.is_null() => "ok".to_owned(),
                CallResult::Ok(value) => format!("ok {}", compact(value)),
                CallResult::Err(value) => format!("ERR {}", compact(value)),
                CallResult::Trap(text) => format!("TRAP {text}"),
            };
            let _ = writeln!(w, "  {:>2}. {}({args}) -> {result}", i + 1, call.import);
        }

        let _ = writeln!(w, "\nevents ({})", self.events.len());
        if self.events.is_empty() {
            let _ = writeln!(w, "  (none)");
        }
        for event in &self.events {
            let context = serde_json::to_value(event)
                .map(|v| compact(&v["context"]))
                .unwrap_or_default();
            let _ = writeln!(w, "  {} {context}", printable(&event.action));
        }
        for path in &self.redirects {
            let _ = writeln!(w, "\nredirect   {}", printable(path));
        }

        let _ = writeln!(w, "\nchanges ({})", self.changes.len());
        if self.changes.is_empty() {
            let _ = writeln!(w, "  (none)");
        }
        for change in &self.changes {
            let _ = writeln!(w, "  {}", printable(change));
        }

        if !self.rolled_back.is_empty() {
            let _ = writeln!(w, "\nrolled back ({})", self.rolled_back.len());
            for change in &self.rolled_back {
                let _ = writeln!(w, "  {}", printable(change));
            }
        }

        if !self.logs.is_empty() {
            let _ = writeln!(w, "\nlog");
            for line in &self.logs {
                let level = match line.level {
                    LogLevel::Info => "info",
                    LogLevel::Warning => "warning",
                    LogLevel::Error => "error",
                };
                let _ = writeln!(w, "  {level}: {}", printable(&line.message));
            }
        }

        let _ = writeln!(w);
        let _ = writeln!(w, "fuel       {} of {}", self.fuel, self.limits.fuel);
        let _ = writeln!(w, "wall time  {:.2} ms", self.wall_time_ms);
        match &self.expectations {
            None => {
                let _ = writeln!(w, "expect     (none given)");
            }
            Some(e) if e.passed => {
                let _ = writeln!(w, "expect     all hold");
            }
            Some(e) => {
                let _ = writeln!(w, "expect     {} FAILED", e.failures.len());
                for failure in &e.failures {
                    let _ = writeln!(w, "  - {failure}");
                }
            }
        }
        out
    }
}

/// `text` with control characters (newlines, terminal escapes) written as escapes: a
/// plugin's text must not add lines to the report, such as a forged `expect     all
/// hold`, or drive the terminal.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Split `text` into lines of at most `width` characters, at spaces (a longer word
/// gets a line of its own).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}

fn compact(value: &serde_json::Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{printable, wrap};

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            printable("no\nexpect     all hold\u{1b}[2J é"),
            "no\\nexpect     all hold\\u{1b}[2J é"
        );
    }

    #[test]
    fn wrap_breaks_at_spaces_within_the_width() {
        assert_eq!(wrap("a bb ccc dddd", 6), ["a bb", "ccc", "dddd"]);
        assert_eq!(wrap("", 6), Vec::<String>::new());
        assert_eq!(wrap("unbreakable-word x", 4), ["unbreakable-word", "x"]);
    }
}
