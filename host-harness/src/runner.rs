//! Compile a plugin once, then run any number of scenarios against it, each in a fresh
//! store, as one unit of work: kept on continue/redirect, rolled back otherwise.

use std::path::PathBuf;
use std::time::Instant;

use wasmtime::component::{Component, HasSelf, Linker};

use crate::bindings::{self, AccountLockdown, AccountLockdownPre};
use crate::engine::{self, Limits, StageEngine};
use crate::host::{HostCapExceeded, HostState, InjectedTrap};
use crate::platform::Platform;
use crate::report::{LimitsReport, Outcome, PluginInfo, Report};
use crate::scenario::{self, Scenario};
use crate::signing::VerifiedPlugin;

/// Why a plugin could not be prepared to run.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("cannot set up wasmtime: {0}")]
    Engine(String),
    #[error("{path} cannot be compiled: {message}; rebuild it with `make build`")]
    Compile { path: PathBuf, message: String },
    #[error(
        "{path} does not fit the idp:account-lockdown@0.1.0 world: {message}; build it against wit/ with `make build`"
    )]
    Link { path: PathBuf, message: String },
}

/// A wasmtime error with its causes, on one line.
fn chain(error: &wasmtime::Error) -> String {
    error
        .chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// The engine and linker shared by every plugin the harness loads.
pub struct Harness {
    engine: StageEngine,
    linker: Linker<HostState>,
    limits: Limits,
}

impl Harness {
    /// An engine with the given budgets and a linker with the platform imports.
    pub fn new(limits: Limits) -> Result<Harness, HarnessError> {
        let engine = engine::new_engine().map_err(|e| HarnessError::Engine(chain(&e)))?;
        let mut linker = Linker::new(engine.engine());
        AccountLockdown::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|e| HarnessError::Engine(chain(&e)))?;
        Ok(Harness {
            engine,
            linker,
            limits,
        })
    }

    /// Compile a verified plugin and resolve its imports, once.
    pub fn load(&self, plugin: &VerifiedPlugin) -> Result<Plugin, HarnessError> {
        let component = Component::new(self.engine.engine(), &plugin.bytes).map_err(|e| {
            HarnessError::Compile {
                path: plugin.path.clone(),
                message: chain(&e),
            }
        })?;
        let link = |e: wasmtime::Error| HarnessError::Link {
            path: plugin.path.clone(),
            message: chain(&e),
        };
        let pre = self.linker.instantiate_pre(&component).map_err(link)?;
        let pre = AccountLockdownPre::new(pre).map_err(link)?;
        Ok(Plugin {
            engine: self.engine.clone(),
            pre,
            info: PluginInfo::from(plugin),
            limits: self.limits,
        })
    }
}

/// A compiled plugin, ready to run scenarios.
pub struct Plugin {
    engine: StageEngine,
    pre: AccountLockdownPre<HostState>,
    info: PluginInfo,
    limits: Limits,
}

impl Plugin {
    /// Run `scenario` (named `name` in the report) with the plugin's budgets.
    pub fn run(&self, scenario: &Scenario, name: &str) -> Report {
        self.run_with(scenario, name, &self.limits)
    }

    /// Run `scenario` with other budgets.
    pub fn run_with(&self, scenario: &Scenario, name: &str, limits: &Limits) -> Report {
        let host_state = || {
            let platform =
                Platform::new(scenario.platform.clone(), scenario.request.flow_request());
            HostState::new(
                platform,
                scenario.faults.clone(),
                scenario.concurrent.clone(),
            )
        };
        let state = host_state();
        let before = state.platform.snapshot();
        let started = Instant::now();
        let (outcome, mut host, fuel_left) = match engine::new_store(&self.engine, state, limits) {
            Ok(mut store) => {
                let outcome = self.execute(&mut store, scenario, limits);
                let fuel_left = store.get_fuel().unwrap_or(0);
                (outcome, store.into_data(), fuel_left)
            }
            // Only if the engine had no fuel metering; nothing ran.
            Err(e) => {
                let message = format!("cannot create a store: {}", chain(&e));
                (Outcome::Error { message }, host_state(), limits.fuel)
            }
        };
        let wall_time = started.elapsed();

        // A redirect the stage never asked the platform for breaks the contract.
        let outcome = match outcome {
            Outcome::Redirect { to } if !host.platform.redirects().contains(&to) => {
                Outcome::Error {
                    message: format!(
                        "the stage returned redirect to {to:?} without asking for it through the `redirect` import"
                    ),
                }
            }
            other => other,
        };
        let committed = outcome.commits();
        let mut rolled_back = Vec::new();
        if !committed {
            rolled_back = host.platform.state().changes_since(&scenario.platform);
            rolled_back.extend(
                (host.platform.events().iter())
                    .map(|event| format!("event {} dropped", event.action)),
            );
            rolled_back.extend(
                (host.platform.redirects().iter())
                    .map(|path| format!("redirect to {path} dropped")),
            );
            host.platform.rollback(before);
        }
        let platform = &host.platform;
        let mut report = Report {
            scenario: name.to_owned(),
            description: scenario.description.clone(),
            plugin: self.info.clone(),
            outcome,
            committed,
            calls: host.calls().to_vec(),
            events: platform.events().to_vec(),
            redirects: platform.redirects().to_vec(),
            logs: platform.logs().to_vec(),
            state: platform.state().clone(),
            changes: platform.state().changes_since(&scenario.platform),
            rolled_back,
            fuel: limits.fuel.saturating_sub(fuel_left),
            limits: LimitsReport::from(limits),
            wall_time_ms: wall_time.as_secs_f64() * 1000.0,
            expectations: None,
        };
        report.check_expectations(scenario);
        report
    }

    fn execute(
        &self,
        store: &mut wasmtime::Store<HostState>,
        scenario: &Scenario,
        limits: &Limits,
    ) -> Outcome {
        let settings = wit_settings(&scenario.stage);
        let context = scenario.request.context_text();
        let result = self.pre.instantiate(&mut *store).and_then(|instance| {
            instance
                .idp_account_lockdown_stage()
                .call_execute(&mut *store, &settings, &context)
        });
        match result {
            Ok(bindings::Outcome::Continue) => Outcome::Continue,
            Ok(bindings::Outcome::Invalid(message)) => Outcome::Invalid { message },
            Ok(bindings::Outcome::Redirect(to)) => Outcome::Redirect { to },
            Err(error) => Outcome::Error {
                message: error_message(&error, limits),
            },
        }
    }
}

/// The report's message for a failed component call.
fn error_message(error: &wasmtime::Error, limits: &Limits) -> String {
    if let Some(overrun) = engine::overrun(error) {
        return engine::overrun_message(overrun, limits);
    }
    if let Some(trap) = error.downcast_ref::<InjectedTrap>() {
        return trap.to_string();
    }
    if let Some(cap) = error.downcast_ref::<HostCapExceeded>() {
        return cap.to_string();
    }
    if let Some(cap) = error.downcast_ref::<engine::TableCapExceeded>() {
        return cap.to_string();
    }
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => {
            let trap = trap.to_string();
            let what = trap.strip_prefix("wasm trap: ").unwrap_or(&trap);
            format!("the plugin trapped: {what}")
        }
        None => format!("the component call failed: {}", chain(error)),
    }
}

fn wit_settings(stage: &scenario::StageSettings) -> bindings::Settings {
    use scenario::FlowAuthentication as A;
    bindings::Settings {
        deactivate_user: stage.deactivate_user,
        set_unusable_password: stage.set_unusable_password,
        delete_sessions: stage.delete_sessions,
        revoke_tokens: stage.revoke_tokens,
        completion_flow: stage
            .completion_flow
            .as_ref()
            .map(|flow| bindings::CompletionFlow {
                slug: flow.slug.clone(),
                authentication: match flow.authentication {
                    A::None => bindings::FlowAuthentication::None,
                    A::RequireAuthenticated => bindings::FlowAuthentication::RequireAuthenticated,
                    A::RequireUnauthenticated => {
                        bindings::FlowAuthentication::RequireUnauthenticated
                    }
                    A::RequireSuperuser => bindings::FlowAuthentication::RequireSuperuser,
                },
            }),
    }
}
