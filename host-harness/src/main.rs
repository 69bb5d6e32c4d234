//! `stage-harness`: run the Account Lockdown component against scenario files.
//!
//! Exit status of `run` and `check`: 0 when every expectation holds, 1 when one does
//! not, 2 when the input cannot be used (bad scenario, plugin missing or refused).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Parser, Subcommand};

use stage_harness::engine::{DEFAULT_FUEL, DEFAULT_MAX_MEMORY, DEFAULT_TIMEOUT};
use stage_harness::report::PluginInfo;
use stage_harness::scenario::ScenarioError;
use stage_harness::signing::cli::{SigningCommand, TrustArgs};
use stage_harness::signing::{self, SigningError, TrustPolicy, VerifiedPlugin};
use stage_harness::{Harness, Limits, Plugin, Report, Scenario, inspect};

/// The plugin the commands load when `--plugin` is not given.
const DEFAULT_PLUGIN: &str = "dist/account-lockdown.signed.wasm";

#[derive(Debug, Parser)]
#[command(
    name = "stage-harness",
    version,
    about = "Run the Account Lockdown component under wasmtime against a mock platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one scenario and print what the stage did.
    Run {
        /// The scenario file (JSON).
        scenario: PathBuf,
        #[command(flatten)]
        plugin: PluginArgs,
        #[command(flatten)]
        budgets: BudgetArgs,
        /// Print the JSON report instead of the readable one.
        #[arg(long)]
        json: bool,
    },
    /// Run every scenario (*.json) in a folder: a line each and a summary.
    Check {
        /// The folder of scenario files.
        dir: PathBuf,
        #[command(flatten)]
        plugin: PluginArgs,
        #[command(flatten)]
        budgets: BudgetArgs,
        /// Print a JSON list of reports instead of the lines.
        #[arg(long)]
        json: bool,
    },
    /// Show a component's WIT package, imports and exports, size and sha256.
    Inspect {
        /// The component file.
        path: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// `keygen`, `sign` and `verify` (see `signing::cli`).
    #[command(flatten)]
    Signing(SigningCommand),
}

/// Which plugin to load and which signers to trust.
#[derive(Debug, Args)]
struct PluginArgs {
    /// The signed plugin component.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_PLUGIN)]
    plugin: PathBuf,
    #[command(flatten)]
    trust: TrustArgs,
}

/// The run budgets.
#[derive(Debug, Args)]
struct BudgetArgs {
    /// Fuel units one run may burn.
    #[arg(long, value_name = "UNITS", default_value_t = DEFAULT_FUEL, value_parser = budget::<u64>)]
    fuel: u64,
    /// Wall-clock milliseconds one run may take.
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_TIMEOUT.as_millis() as u64, value_parser = budget::<u64>)]
    timeout_ms: u64,
    /// Bytes of linear memory one run may hold.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_MEMORY, value_parser = budget::<usize>)]
    max_memory: usize,
}

/// A budget flag's value: a whole number of at least 1. Zero is refused rather than
/// run: it cannot mean anything but "no limit", which no budget offers.
fn budget<T>(text: &str) -> Result<T, String>
where
    T: std::str::FromStr + From<u8> + PartialEq,
    T::Err: std::fmt::Display,
{
    let value: T = text
        .parse()
        .map_err(|e| format!("{e}; give a whole number of at least 1"))?;
    if value == T::from(0) {
        return Err(
            "0 would stop the plugin before it starts; give at least 1 (there is no unlimited budget: for no practical limit, give a large number)"
                .to_owned(),
        );
    }
    Ok(value)
}

impl BudgetArgs {
    fn limits(&self) -> Limits {
        Limits {
            fuel: self.fuel,
            timeout: Duration::from_millis(self.timeout_ms),
            max_memory: self.max_memory,
        }
    }
}

/// The trust policy the flags ask for; prints the warning for `--allow-unsigned`.
fn policy(trust: &TrustArgs) -> Result<TrustPolicy> {
    let policy = trust.policy()?;
    if let Some(warning) = policy.warning() {
        eprintln!("{warning}");
    }
    Ok(policy)
}

fn load(args: &PluginArgs) -> Result<VerifiedPlugin> {
    let policy = policy(&args.trust)?;
    signing::load_plugin(&args.plugin, &policy).map_err(|error| match error {
        // `run` and `check` have a default plugin and a flag to name another.
        SigningError::Missing { path } => anyhow::anyhow!(
            "plugin {} does not exist; build and sign it with `make dist` (or `make run` for a development build), or pass --plugin PATH",
            path.display()
        ),
        other => other.into(),
    })
}

fn prepare(args: &PluginArgs, budgets: &BudgetArgs) -> Result<Plugin> {
    let verified = load(args)?;
    let harness = Harness::new(budgets.limits())?;
    Ok(harness.load(&verified)?)
}

/// With `--json`, a plugin that cannot be loaded still gives each scenario a report
/// whose outcome is `error` (SCENARIOS.md), so a script reading stdout sees why; the
/// error is printed and the exit status is 2 all the same.
fn unloaded_reports(
    scenarios: &[(String, Scenario)],
    plugin: &PluginArgs,
    budgets: &BudgetArgs,
    error: &anyhow::Error,
) -> Vec<Report> {
    let info = PluginInfo::unloaded(&plugin.plugin);
    let limits = budgets.limits();
    (scenarios.iter())
        .map(|(name, scenario)| {
            Report::not_run(scenario, name, info.clone(), &limits, render(error))
        })
        .collect()
}

fn run(scenario: &Path, plugin: &PluginArgs, budgets: &BudgetArgs, json: bool) -> Result<ExitCode> {
    let name = scenario.display().to_string();
    let loaded = Scenario::load(scenario)?;
    let prepared = match prepare(plugin, budgets) {
        Ok(prepared) => prepared,
        Err(error) => {
            if json {
                // One scenario, one report.
                for report in unloaded_reports(&[(name, loaded)], plugin, budgets, &error) {
                    emit(&format!("{}\n", report.to_json()))?;
                }
            }
            return Err(error);
        }
    };
    let report = prepared.run(&loaded, &name);
    if json {
        emit(&format!("{}\n", report.to_json()))?;
    } else {
        emit(&report.to_text())?;
    }
    Ok(exit_for(&[report]))
}

/// Write to stdout; a closed pipe becomes an error, not a panic.
fn emit(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

fn exit_for(reports: &[Report]) -> ExitCode {
    if reports.iter().all(Report::passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn check(dir: &Path, plugin: &PluginArgs, budgets: &BudgetArgs, json: bool) -> Result<ExitCode> {
    if dir.is_file() {
        bail!(
            "{} is a file, not a folder; run one scenario with `stage-harness run {}`",
            dir.display(),
            dir.display()
        );
    }
    if !dir.exists() {
        bail!(
            "scenario folder {} does not exist; check the path (the suite is in tests/scenarios)",
            dir.display()
        );
    }
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read scenario folder {}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!(
            "no scenario files (*.json) in {}; pass the folder that holds them",
            dir.display()
        );
    }
    // Every scenario is read before the plugin is loaded, for `--json`'s sake (see
    // `unloaded_reports`).
    let scenarios: Vec<(String, Result<Scenario, ScenarioError>)> = (files.iter())
        .map(|file| (file.display().to_string(), Scenario::load(file)))
        .collect();
    let prepared = match prepare(plugin, budgets) {
        Ok(prepared) => prepared,
        Err(error) => {
            if json {
                let usable: Vec<(String, Scenario)> = (scenarios.into_iter())
                    .filter_map(|(name, loaded)| match loaded {
                        Ok(scenario) => Some((name, scenario)),
                        Err(error) => {
                            eprintln!("error: {error}");
                            None
                        }
                    })
                    .collect();
                let reports = unloaded_reports(&usable, plugin, budgets, &error);
                emit(&format!("{}\n", serde_json::to_string_pretty(&reports)?))?;
            }
            return Err(error);
        }
    };
    let mut reports = Vec::new();
    let mut unusable = 0;
    let mut stdout = std::io::stdout().lock();
    for (name, loaded) in scenarios {
        let scenario = match loaded {
            Ok(scenario) => scenario,
            Err(error) => {
                unusable += 1;
                if json {
                    eprintln!("error: {error}");
                } else {
                    // The error names the file already.
                    writeln!(stdout, "ERROR {error}")?;
                }
                continue;
            }
        };
        let report = prepared.run(&scenario, &name);
        if !json {
            let verdict = if report.passed() { "ok   " } else { "FAIL " };
            let kind = report.outcome.kind();
            writeln!(stdout, "{verdict} {name} ({kind})")?;
            for failure in report.expectations.iter().flat_map(|e| &e.failures) {
                writeln!(stdout, "        - {failure}")?;
            }
        }
        reports.push(report);
    }
    let failed = reports.iter().filter(|r| !r.passed()).count();
    if json {
        writeln!(stdout, "{}", serde_json::to_string_pretty(&reports)?)?;
    } else {
        writeln!(
            stdout,
            "summary: {} scenarios, {} passed, {failed} failed, {unusable} unusable",
            files.len(),
            reports.len() - failed,
        )?;
    }
    if unusable > 0 {
        return Ok(ExitCode::from(2));
    }
    Ok(exit_for(&reports))
}

fn inspect_cmd(path: &Path, trust: &TrustArgs, json: bool) -> Result<ExitCode> {
    let policy = policy(trust)?;
    let verified = signing::load_plugin(path, &policy)?;
    let inspection = inspect::inspect(&verified)?;
    if json {
        emit(&format!("{}\n", serde_json::to_string_pretty(&inspection)?))?;
    } else {
        emit(&inspection.to_text())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// An error and its causes on one line, leaving out a cause whose text the message
/// already quotes (many library messages include their source).
fn render(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run {
            scenario,
            plugin,
            budgets,
            json,
        } => run(scenario, plugin, budgets, *json),
        Command::Check {
            dir,
            plugin,
            budgets,
            json,
        } => check(dir, plugin, budgets, *json),
        Command::Inspect { path, trust, json } => inspect_cmd(path, trust, *json),
        Command::Signing(command) => return command.run(),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", render(&error));
            ExitCode::from(2)
        }
    }
}
