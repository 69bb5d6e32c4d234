//! Speed and size of the real component under the harness: a bench binary, run with
//! `make bench` (`cargo bench -p stage-harness --bench lockdown`). It measures and
//! reports; it asserts nothing about time.
//!
//! - the component's size;
//! - compiling it (`Harness::load`: `Component::new` plus `instantiate_pre`);
//! - one run of a few representative scenarios (a fresh store, instantiation, the
//!   `execute` call, commit or rollback), with the fuel each burns.
//!
//! Each timing is the median and the 95th percentile of many repetitions, after a
//! warm-up. Set `BENCH_PLUGIN` to measure another build of the component.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use stage_harness::signing::{TrustPolicy, load_plugin};
use stage_harness::{Harness, Limits, Scenario};

/// Scenarios that cover the main paths: a full lockdown, the race, a refusal before any
/// change, and a failure that rolls back.
const SCENARIOS: [&str; 5] = [
    "admin-locks-other-account.json",
    "self-service-redirects-to-completion-flow.json",
    "race-tokens-created-during-revoke.json",
    "actor-without-permission-refused.json",
    "fault-revoke-tokens-error.json",
];
const COMPILES: usize = 10;
const RUNS: usize = 2_000;
const WARM_UP: usize = 50;

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host-harness lives one folder below the workspace root");
    let component = std::env::var_os("BENCH_PLUGIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("dist/account-lockdown.wasm"));
    let plugin = load_plugin(&component, &TrustPolicy::AllowUnsigned)
        .map_err(|e| anyhow::anyhow!("{e}; run `make build` first"))?;
    println!("component  {}", component.display());
    println!("size       {} bytes", plugin.bytes.len());
    println!("sha256     {}", plugin.sha256);

    let harness = Harness::new(Limits::default())?;
    let compile = measure(COMPILES, 1, || {
        harness.load(&plugin).expect("the component compiles");
    });
    println!("compile    {} ({COMPILES} compiles)", compile.summary());

    let loaded = harness.load(&plugin)?;
    println!();
    println!(
        "{:<48} {:>10} {:>10} {:>8} outcome",
        "scenario (one run)", "median", "p95", "fuel"
    );
    for name in SCENARIOS {
        let path = root.join("tests/scenarios").join(name);
        let scenario = Scenario::load(&path)?;
        let report = loaded.run(&scenario, name);
        anyhow::ensure!(
            report.passed(),
            "{name}: its expectations do not hold; fix the plugin before measuring it"
        );
        let timing = measure(RUNS, WARM_UP, || {
            std::hint::black_box(loaded.run(&scenario, name));
        });
        println!(
            "{:<48} {:>10} {:>10} {:>8} {}",
            name,
            show(timing.median()),
            show(timing.p95()),
            report.fuel,
            report.outcome.kind(),
        );
    }
    Ok(())
}

/// The durations of `runs` calls of `f`, after `warm_up` unmeasured ones, sorted.
fn measure(runs: usize, warm_up: usize, mut f: impl FnMut()) -> Timing {
    for _ in 0..warm_up {
        f();
    }
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    samples.sort();
    Timing(samples)
}

/// Sorted samples.
struct Timing(Vec<Duration>);

impl Timing {
    fn at(&self, fraction: f64) -> Duration {
        let last = self.0.len() - 1;
        // Rounding a fraction of a small count to an index: precision loss is harmless.
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "an index into a short list"
        )]
        let index = (last as f64 * fraction).round() as usize;
        self.0[index]
    }

    fn median(&self) -> Duration {
        self.at(0.5)
    }

    fn p95(&self) -> Duration {
        self.at(0.95)
    }

    fn summary(&self) -> String {
        format!("median {}, p95 {}", show(self.median()), show(self.p95()))
    }
}

fn show(duration: Duration) -> String {
    let micros = duration.as_secs_f64() * 1e6;
    if micros >= 10_000.0 {
        format!("{:.1} ms", micros / 1000.0)
    } else {
        format!("{micros:.1} µs")
    }
}
