//! What `std` would otherwise provide on `wasm32`: a global allocator and a panic
//! handler. Compiled for the component, and for the native unit tests at the end,
//! which run the same [`Heap`] over a buffer standing in for the linear memory.
//!
//! Instead of a general-purpose allocator such as `dlmalloc` (about 7 KB of code),
//! [`Heap`] hands out memory by bumping a pointer, and starts over from the beginning
//! whenever no block is allocated any more. A freed block is reused only then.
//!
//! # How much memory
//!
//! While any block is live, freed blocks stay unused, so one call's heap is every byte
//! it allocates (growth copies included), not the most it holds at once. For this
//! stage that is a small multiple of the plan context's length: the context arrives as
//! one string that lives for the whole call.
//!
//! # Instances that serve many calls
//!
//! Every block of one `execute` is freed by the end of the call, except the message or
//! path it returns, which the canonical ABI's post-return function frees (wasmtime
//! runs it inside `call`). So after each call nothing is live, the heap starts over,
//! and a reused instance needs no more memory than its largest single call
//! (`tests/all/component.rs` checks this over 400 calls). Linear memory never
//! shrinks: the instance keeps its peak. Two limits:
//!
//! - a call that traps (a panic, a host trap, a budget overrun) leaves blocks live
//!   forever. The component model forbids entering a trapped instance again, so the
//!   platform must drop it anyway;
//! - a host that lifts the result but never calls post-return (not a conforming
//!   host) keeps the returned string live: the heap then never starts over, and every
//!   later call adds everything it allocates until `memory.grow` fails and the call
//!   traps.
//!
//! The heap assumes it is the only code that grows the memory (nothing else in the
//! component does): the pages it grows start where its owned memory ends.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The size of a WebAssembly memory page.
const PAGE: usize = 65_536;

/// Where a block of `layout` goes when the first free byte is `next`: its first byte
/// and one past its last, or `None` if that passes the end of the address space.
fn place(next: usize, layout: Layout) -> Option<(usize, usize)> {
    // `align` is a power of two, so rounding up is a mask (cheaper than a remainder).
    let mask = layout.align() - 1;
    let start = next.checked_add(mask)? & !mask;
    Some((start, start.checked_add(layout.size())?))
}

/// How many pages to grow the memory by so that owned memory ending at `end` reaches
/// `stop` (greater than `end`), and the new end; `None` if the new end does not fit in
/// the address space.
fn growth(end: usize, stop: usize) -> Option<(usize, usize)> {
    let pages = (stop - end).div_ceil(PAGE);
    Some((pages, end.checked_add(pages.checked_mul(PAGE)?)?))
}

/// The memory a [`Heap`] takes its pages from.
trait Pages {
    /// The address one past the last byte of the memory.
    fn end(&self) -> usize;
    /// Adds `pages` pages at the end of the memory; false when it cannot grow.
    fn grow(&self, pages: usize) -> bool;
}

/// The component's linear memory.
#[cfg(target_arch = "wasm32")]
struct LinearMemory;

#[cfg(target_arch = "wasm32")]
impl Pages for LinearMemory {
    fn end(&self) -> usize {
        core::arch::wasm32::memory_size(0) * PAGE
    }

    fn grow(&self, pages: usize) -> bool {
        core::arch::wasm32::memory_grow(0, pages) != usize::MAX
    }
}

/// The memory the heap takes its pages from: the linear memory in the component, a
/// buffer in the native tests. A type alias, not a type parameter: a generic heap
/// compiled to a larger and slower component (108 bytes, 1.4% more fuel).
#[cfg(target_arch = "wasm32")]
type Memory = LinearMemory;
#[cfg(not(target_arch = "wasm32"))]
type Memory = tests::Buffer;

/// A bump allocator over the pages it grows the memory by. The atomics are plain loads
/// and stores on `wasm32` (no threads); they keep the static free of `static mut`.
struct Heap {
    /// Where the pages come from.
    pages: Memory,
    /// Where the heap starts; 0 until the first allocation.
    base: AtomicUsize,
    /// The first free byte.
    next: AtomicUsize,
    /// One past the last byte of memory the heap owns.
    end: AtomicUsize,
    /// How many blocks are allocated and not yet freed.
    live: AtomicUsize,
}

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static HEAP: Heap = Heap::new(LinearMemory);

impl Heap {
    const fn new(pages: Memory) -> Self {
        Heap {
            pages,
            base: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
            end: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
        }
    }

    /// Makes sure the heap owns memory up to `stop`, growing the memory if needed.
    fn reserve(&self, stop: usize) -> bool {
        let end = self.end.load(Relaxed);
        if stop <= end {
            return true;
        }
        let Some((pages, new_end)) = growth(end, stop) else {
            return false;
        };
        if !self.pages.grow(pages) {
            return false;
        }
        self.end.store(new_end, Relaxed);
        true
    }
}

// SAFETY: blocks never overlap: each starts at or after the end of the previous one
// (with no wrap-around: `place` and `growth` check every sum), `next` only moves back
// (to `base`) when no block is live, and `reserve` only hands out memory the heap grew
// for itself (from the end of the memory it started with). The tests below check this
// on a buffer, with random sequences of calls.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.base.load(Relaxed) == 0 {
            // Start after everything the module was given (data, stack, the rest of the
            // initial pages): nothing else uses the memory beyond it.
            let start = self.pages.end();
            self.base.store(start, Relaxed);
            self.next.store(start, Relaxed);
            self.end.store(start, Relaxed);
        }
        let Some((start, stop)) = place(self.next.load(Relaxed), layout) else {
            return ptr::null_mut();
        };
        if !self.reserve(stop) {
            return ptr::null_mut();
        }
        self.next.store(stop, Relaxed);
        self.live.store(self.live.load(Relaxed) + 1, Relaxed);
        start as *mut u8
    }

    unsafe fn dealloc(&self, _block: *mut u8, _layout: Layout) {
        let live = self.live.load(Relaxed) - 1;
        self.live.store(live, Relaxed);
        if live == 0 {
            self.next.store(self.base.load(Relaxed), Relaxed);
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // The newest block (a string or vector being built) grows in place.
        let start = block as usize;
        if start + layout.size() == self.next.load(Relaxed) {
            let Some(stop) = start.checked_add(new_size) else {
                return ptr::null_mut();
            };
            if !self.reserve(stop) {
                return ptr::null_mut();
            }
            self.next.store(stop, Relaxed);
            return block;
        }
        // SAFETY: the caller's contract for `realloc` is the one `alloc`, `copy` and
        // `dealloc` need; the new block does not overlap the old one.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let new_block = self.alloc(new_layout);
            if !new_block.is_null() {
                ptr::copy_nonoverlapping(block, new_block, layout.size().min(new_size));
                self.dealloc(block, layout);
            }
            new_block
        }
    }
}

/// A panic is a bug in the stage: trap, so the host reports an error and rolls back.
/// No message is formatted, which keeps the formatting machinery out of the component.
#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(test)]
mod tests {
    //! The heap over a buffer that stands in for the linear memory, and its address
    //! arithmetic at the edges of a 32-bit address space (the component's), written
    //! with `u32::MAX` so the tests mean the same on a 64-bit machine.

    use core::cell::Cell;
    use std::alloc::{alloc_zeroed, dealloc};

    use super::*;

    const TOP: usize = u32::MAX as usize;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).expect("valid layout")
    }

    /// A memory of `used` pages (the module's own) that can grow to `max` pages, over
    /// one page-aligned buffer.
    pub(super) struct Buffer {
        start: *mut u8,
        pages: Cell<usize>,
        max: usize,
    }

    impl Buffer {
        fn new(used: usize, max: usize) -> Self {
            // SAFETY: the layout is not empty; `Drop` frees it with the same layout.
            let start = unsafe { alloc_zeroed(layout(max * PAGE, PAGE)) };
            assert!(!start.is_null());
            Buffer {
                start,
                pages: Cell::new(used),
                max,
            }
        }
    }

    impl Drop for Buffer {
        fn drop(&mut self) {
            // SAFETY: allocated in `new` with this layout.
            unsafe { dealloc(self.start, layout(self.max * PAGE, PAGE)) }
        }
    }

    impl Pages for Buffer {
        fn end(&self) -> usize {
            self.start as usize + self.pages.get() * PAGE
        }

        fn grow(&self, pages: usize) -> bool {
            let grown = self.pages.get() + pages;
            let fits = grown <= self.max;
            if fits {
                self.pages.set(grown);
            }
            fits
        }
    }

    /// A heap whose memory starts with one page of the module's own and can grow to
    /// `max` pages in all.
    fn heap(max: usize) -> Heap {
        Heap::new(Buffer::new(1, max))
    }

    fn fill(block: *mut u8, len: usize, byte: u8) {
        // SAFETY: every caller passes a block the heap handed out with `len` bytes.
        unsafe { ptr::write_bytes(block, byte, len) }
    }

    fn holds(block: *mut u8, len: usize, byte: u8) -> bool {
        // SAFETY: as in `fill`.
        unsafe { core::slice::from_raw_parts(block, len) }
            .iter()
            .all(|&b| b == byte)
    }

    #[test]
    fn the_heap_starts_after_the_module_memory_and_aligns_blocks() {
        let heap = heap(4);
        let first_free = heap.pages.end();
        // SAFETY (all tests): layouts are not empty, blocks are the heap's own.
        unsafe {
            let a = heap.alloc(layout(3, 1));
            assert_eq!(a as usize, first_free);
            let b = heap.alloc(layout(8, 8));
            assert_eq!(b as usize, first_free + 8);
            let c = heap.alloc(layout(1, 4096));
            assert_eq!(c as usize % 4096, 0);
            assert!(c as usize >= b as usize + 8);
        }
    }

    #[test]
    fn the_heap_starts_over_only_when_no_block_is_live() {
        let heap = heap(4);
        unsafe {
            let a = heap.alloc(layout(16, 8));
            let b = heap.alloc(layout(16, 8));
            heap.dealloc(a, layout(16, 8));
            // b is live: a's bytes are not reused.
            let c = heap.alloc(layout(16, 8));
            assert_eq!(c as usize, b as usize + 16);
            heap.dealloc(b, layout(16, 8));
            heap.dealloc(c, layout(16, 8));
            assert_eq!(heap.alloc(layout(16, 8)), a);
        }
    }

    #[test]
    fn the_newest_block_grows_in_place_and_the_next_block_comes_after_it() {
        let heap = heap(4);
        unsafe {
            let a = heap.alloc(layout(8, 1));
            fill(a, 8, 0xa1);
            let grown = heap.realloc(a, layout(8, 1), 100_000);
            assert_eq!(grown, a);
            assert!(holds(a, 8, 0xa1));
            fill(a, 100_000, 0xa1);
            let b = heap.alloc(layout(8, 1));
            assert_eq!(b as usize, a as usize + 100_000);
            fill(b, 8, 0xb2);
            assert!(holds(a, 100_000, 0xa1));
        }
    }

    #[test]
    fn an_older_block_moves_when_it_grows_and_keeps_its_bytes() {
        let heap = heap(4);
        unsafe {
            let a = heap.alloc(layout(8, 4));
            fill(a, 8, 0xa1);
            let b = heap.alloc(layout(8, 4));
            fill(b, 8, 0xb2);
            let moved = heap.realloc(a, layout(8, 4), 32);
            assert_eq!(moved as usize, b as usize + 8);
            assert!(holds(moved, 8, 0xa1));
            assert!(holds(b, 8, 0xb2));
        }
    }

    #[test]
    fn a_memory_that_cannot_grow_gives_null_and_leaves_blocks_alone() {
        let heap = heap(2);
        unsafe {
            let a = heap.alloc(layout(PAGE / 2, 8));
            fill(a, PAGE / 2, 0xa1);
            assert!(heap.alloc(layout(PAGE, 8)).is_null());
            assert!(heap.realloc(a, layout(PAGE / 2, 8), PAGE + 1).is_null());
            assert!(holds(a, PAGE / 2, 0xa1));
            // The failures took nothing: the rest of the page is still there.
            let b = heap.alloc(layout(PAGE / 2, 8));
            assert_eq!(b as usize, a as usize + PAGE / 2);
        }
    }

    #[test]
    fn random_calls_never_hand_out_overlapping_or_misaligned_blocks() {
        let heap = heap(64);
        // A small deterministic generator (no `rand` needed).
        let mut seed = 0x5eed_u64;
        let mut next = |below: usize| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            usize::try_from(seed >> 33).expect("31 bits fit") % below
        };
        // Live blocks: address, layout, and the byte that fills them.
        let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
        for step in 0..6_000 {
            let byte = u8::try_from(step % 251).expect("below 256");
            if step % 300 == 299 {
                // Free everything (as at the end of a call): the heap starts over.
                for (block, layout, _) in live.drain(..) {
                    unsafe { heap.dealloc(block, layout) };
                }
                assert_eq!(heap.next.load(Relaxed), heap.base.load(Relaxed));
            }
            unsafe {
                match next(10) {
                    0..4 => {
                        let align = [1, 2, 4, 8, 16, 64][next(6)];
                        let layout = layout(1 + next(3000), align);
                        let block = heap.alloc(layout);
                        assert!(!block.is_null());
                        assert_eq!(block as usize % align, 0);
                        fill(block, layout.size(), byte);
                        live.push((block, layout, byte));
                    }
                    4..7 if !live.is_empty() => {
                        // Mostly the newest block, as strings and vectors grow.
                        let i = if next(2) == 0 {
                            live.len() - 1
                        } else {
                            next(live.len())
                        };
                        let (block, old, old_byte) = live[i];
                        let new_size = 1 + next(6000);
                        let block = heap.realloc(block, old, new_size);
                        assert!(!block.is_null());
                        assert!(holds(block, old.size().min(new_size), old_byte));
                        let new = layout(new_size, old.align());
                        fill(block, new_size, byte);
                        live[i] = (block, new, byte);
                    }
                    _ if !live.is_empty() => {
                        let (block, layout, _) = live.swap_remove(next(live.len()));
                        heap.dealloc(block, layout);
                    }
                    _ => {}
                }
            }
            // Every live block still holds its own bytes: nothing was handed out twice.
            for &(block, layout, byte) in &live {
                assert!(holds(block, layout.size(), byte), "step {step}");
            }
        }
    }

    #[test]
    fn a_block_starts_at_the_next_aligned_byte() {
        assert_eq!(place(1000, layout(10, 1)), Some((1000, 1010)));
        assert_eq!(place(1001, layout(8, 8)), Some((1008, 1016)));
        assert_eq!(place(1024, layout(8, 8)), Some((1024, 1032)));
    }

    #[test]
    fn aligning_past_the_end_of_memory_is_refused_not_wrapped() {
        if usize::BITS == 32 {
            // The unchecked `(next + align - 1) & !(align - 1)` wraps to 0 here.
            assert_eq!(place(0xC000_0001, layout(1, 1 << 30)), None);
        }
        assert_eq!(place(usize::MAX - 2, layout(1, 8)), None);
        assert_eq!(place(usize::MAX - 7, layout(8, 8)), None);
    }

    #[test]
    fn a_block_that_ends_past_the_end_of_memory_is_refused() {
        assert_eq!(place(usize::MAX - 16, layout(32, 1)), None);
    }

    #[test]
    fn growth_rounds_up_to_whole_pages() {
        assert_eq!(growth(PAGE, PAGE + 1), Some((1, 2 * PAGE)));
        assert_eq!(growth(PAGE, 3 * PAGE), Some((2, 3 * PAGE)));
    }

    #[test]
    fn growth_that_would_wrap_the_end_is_refused() {
        let end = usize::MAX - PAGE + 2;
        assert_eq!(growth(end, end + 1), None);
        if usize::BITS == 32 {
            // The last page of a 4 GiB memory: its end (2^32) does not fit in 32 bits.
            assert_eq!(growth(TOP + 1 - PAGE, TOP), None);
        }
    }
}
