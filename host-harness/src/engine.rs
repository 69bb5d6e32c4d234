//! The wasmtime engine and stores, and the budgets that keep a bad plugin from hanging
//! or exhausting the host: fuel, a wall-clock deadline (epoch interruption) and a
//! memory cap. [`new_engine`] is the one place an engine is configured and
//! [`new_store`] the one place a store is.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Engine, ResourceLimiter, Store, Trap};

/// Default fuel for one run: far above what a lockdown needs, low enough that a loop
/// stops within a fraction of a second.
pub const DEFAULT_FUEL: u64 = 100_000_000;
/// Default wall-clock deadline for one run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default cap on one run's linear memory, in bytes (64 MiB).
pub const DEFAULT_MAX_MEMORY: usize = 64 << 20;
/// How often the background ticker advances the engine's epoch.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The budgets of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel units the plugin may burn (`--fuel`).
    pub fuel: u64,
    /// Wall-clock time the plugin may run (`--timeout-ms`).
    pub timeout: Duration,
    /// Bytes of linear memory the plugin may hold (`--max-memory`).
    pub max_memory: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: DEFAULT_FUEL,
            timeout: DEFAULT_TIMEOUT,
            max_memory: DEFAULT_MAX_MEMORY,
        }
    }
}

impl Limits {
    /// The deadline in epoch ticks, at least one.
    fn deadline_ticks(&self) -> u64 {
        let ticks = self.timeout.as_nanos().div_ceil(EPOCH_TICK.as_nanos());
        u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
    }
}

/// Stops the ticker thread when the last engine handle goes away.
#[derive(Debug)]
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            // A ticker that panicked has nothing left to clean up.
            let _ = thread.join();
        }
    }
}

/// A wasmtime engine with fuel and epoch interruption on, and the background thread
/// that advances its epoch every [`EPOCH_TICK`]. Cheap to clone; the thread stops when
/// the last clone is dropped.
#[derive(Debug, Clone)]
pub struct StageEngine {
    engine: Engine,
    _ticker: Arc<Ticker>,
}

impl StageEngine {
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// Build the one engine configuration the harness uses, and start its epoch ticker.
pub fn new_engine() -> wasmtime::Result<StageEngine> {
    let mut config = Config::new();
    config.consume_fuel(true);
    config.epoch_interruption(true);
    let engine = Engine::new(&config)?;
    let stop = Arc::new(AtomicBool::new(false));
    let thread = std::thread::Builder::new()
        .name("stage-harness-epoch".into())
        .spawn({
            let engine = engine.weak();
            let stop = Arc::clone(&stop);
            move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::park_timeout(EPOCH_TICK);
                    match engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            }
        })
        .map_err(|e| wasmtime::format_err!("cannot start the epoch ticker thread: {e}"))?;
    Ok(StageEngine {
        engine,
        _ticker: Arc::new(Ticker {
            stop,
            thread: Some(thread),
        }),
    })
}

/// Store data that carries the memory cap.
pub trait HasMemoryCap {
    fn memory_cap(&mut self) -> &mut MemoryCap;
}

/// Build a store for one run: fuel set, epoch deadline armed, memory capped.
pub fn new_store<T: HasMemoryCap + 'static>(
    engine: &StageEngine,
    data: T,
    limits: &Limits,
) -> wasmtime::Result<Store<T>> {
    let mut store = Store::new(&engine.engine, data);
    store.data_mut().memory_cap().max = limits.max_memory;
    store.limiter(|data| data.memory_cap());
    store.set_fuel(limits.fuel)?;
    store.set_epoch_deadline(limits.deadline_ticks());
    store.epoch_deadline_trap();
    Ok(store)
}

/// Refuses linear-memory growth past a cap, and traps when it does (a plugin that
/// cannot get memory would otherwise fail in a less obvious way).
#[derive(Debug, Default)]
pub struct MemoryCap {
    max: usize,
    /// Bytes held by all of the run's memories together (a component may have several
    /// core instances, and a module several memories).
    held: usize,
    /// Elements held by all of the run's tables together.
    table_elements: usize,
}

/// The trap raised when a plugin asks for more memory than the cap allows.
#[derive(Debug, thiserror::Error)]
#[error("memory growth to {desired} bytes (all memories together) refused: the cap is {cap} bytes")]
pub struct MemoryCapExceeded {
    pub desired: usize,
    pub cap: usize,
}

/// The most elements a run's tables may hold together. Tables live in host memory,
/// outside the linear-memory cap, and growing one by millions of elements costs one
/// unit of fuel.
pub const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// The trap raised when a plugin asks for a table past [`MAX_TABLE_ELEMENTS`].
#[derive(Debug, thiserror::Error)]
#[error(
    "the plugin tried to grow its tables to {desired} elements; the harness allows {MAX_TABLE_ELEMENTS}"
)]
pub struct TableCapExceeded {
    pub desired: usize,
}

/// Move one memory's or table's share of a run-wide total from `current` to `desired`.
/// `Ok(false)`: past the item's own maximum, where the growth fails anyway and nothing
/// is counted; `Err(total)`: the total would pass `cap`.
fn grow_total(
    total: &mut usize,
    current: usize,
    desired: usize,
    maximum: Option<usize>,
    cap: usize,
) -> Result<bool, usize> {
    if maximum.is_some_and(|max| desired > max) {
        return Ok(false);
    }
    let grown = (total.saturating_sub(current)).saturating_add(desired);
    if grown > cap {
        return Err(grown);
    }
    *total = grown;
    Ok(true)
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let cap = self.max;
        grow_total(&mut self.held, current, desired, maximum, cap)
            .map_err(|desired| wasmtime::Error::new(MemoryCapExceeded { desired, cap }))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = &mut self.table_elements;
        grow_total(total, current, desired, maximum, MAX_TABLE_ELEMENTS)
            .map_err(|desired| wasmtime::Error::new(TableCapExceeded { desired }))
    }
}

/// Which budget a failed call ran out of, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overrun {
    Fuel,
    Deadline,
    Memory,
}

/// Tell a budget overrun apart from any other trap.
pub fn overrun(error: &wasmtime::Error) -> Option<Overrun> {
    if error.downcast_ref::<MemoryCapExceeded>().is_some() {
        return Some(Overrun::Memory);
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Some(Overrun::Fuel),
        Some(Trap::Interrupt) => Some(Overrun::Deadline),
        _ => None,
    }
}

/// The message for an overrun: which budget, its size, and the flag that raises it.
pub fn overrun_message(overrun: Overrun, limits: &Limits) -> String {
    match overrun {
        Overrun::Fuel => format!(
            "ran out of fuel (budget {}); raise it with --fuel",
            limits.fuel
        ),
        Overrun::Deadline => format!(
            "ran past the deadline (budget {} ms); raise it with --timeout-ms",
            limits.timeout.as_millis()
        ),
        Overrun::Memory => format!(
            "tried to grow memory past the cap (budget {} bytes); raise it with --max-memory",
            limits.max_memory
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_rounds_up_to_whole_ticks() {
        let limits = |ms| Limits {
            timeout: Duration::from_millis(ms),
            ..Limits::default()
        };
        assert_eq!(limits(0).deadline_ticks(), 1);
        assert_eq!(limits(10).deadline_ticks(), 1);
        assert_eq!(limits(11).deadline_ticks(), 2);
        assert_eq!(Limits::default().deadline_ticks(), 500);
    }

    #[test]
    fn overrun_messages_name_the_flag() {
        let limits = Limits::default();
        assert_eq!(
            overrun_message(Overrun::Fuel, &limits),
            "ran out of fuel (budget 100000000); raise it with --fuel"
        );
        assert!(overrun_message(Overrun::Deadline, &limits).ends_with("--timeout-ms"));
        assert!(overrun_message(Overrun::Memory, &limits).ends_with("--max-memory"));
    }

    #[test]
    fn memory_cap_counts_memories_together_and_skips_failed_growth() {
        let mut cap = MemoryCap {
            max: 100,
            ..MemoryCap::default()
        };
        assert!(
            !cap.memory_growing(0, 80, Some(50)).unwrap(),
            "past its own maximum"
        );
        assert!(cap.memory_growing(0, 60, None).unwrap());
        assert!(
            cap.memory_growing(0, 40, None).unwrap(),
            "a second memory: 100 in all"
        );
        assert!(cap.memory_growing(40, 41, None).is_err(), "101 in all");
        assert!(cap.memory_growing(60, 60, None).unwrap());
    }

    #[test]
    fn table_cap_counts_tables_together() {
        let mut cap = MemoryCap::default();
        assert!(cap.table_growing(0, MAX_TABLE_ELEMENTS / 2, None).unwrap());
        assert!(cap.table_growing(0, MAX_TABLE_ELEMENTS / 2, None).unwrap());
        assert!(
            cap.table_growing(0, 1, None).is_err(),
            "a third table, one too many"
        );
        assert!(
            !cap.table_growing(1, 5, Some(4)).unwrap(),
            "past its own maximum"
        );
    }

    #[test]
    fn engine_ticker_stops_on_drop() {
        let engine = new_engine().unwrap();
        let clone = engine.clone();
        drop(engine);
        drop(clone);
    }
}
