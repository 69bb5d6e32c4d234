//! What `std` would otherwise provide on `wasm32`: a global allocator and a panic
//! handler. Compiled only for the component (and, for the address arithmetic, for the
//! native unit tests at the end).
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

use core::alloc::Layout;

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

#[cfg(target_arch = "wasm32")]
mod heap {
    use core::alloc::{GlobalAlloc, Layout};
    use core::arch::wasm32;
    use core::ptr;
    use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    use super::{PAGE, growth, place};

    /// A bump allocator over the pages it grows the memory by. The atomics are plain
    /// loads and stores on `wasm32` (no threads); they keep the static free of
    /// `static mut`.
    struct Heap {
        /// Where the heap starts; 0 until the first allocation.
        base: AtomicUsize,
        /// The first free byte.
        next: AtomicUsize,
        /// One past the last byte of memory the heap owns.
        end: AtomicUsize,
        /// How many blocks are allocated and not yet freed.
        live: AtomicUsize,
    }

    #[global_allocator]
    static HEAP: Heap = Heap {
        base: AtomicUsize::new(0),
        next: AtomicUsize::new(0),
        end: AtomicUsize::new(0),
        live: AtomicUsize::new(0),
    };

    impl Heap {
        /// Makes sure the heap owns memory up to `stop`, growing the memory if needed.
        fn reserve(&self, stop: usize) -> bool {
            let end = self.end.load(Relaxed);
            if stop <= end {
                return true;
            }
            let Some((pages, new_end)) = growth(end, stop) else {
                return false;
            };
            if wasm32::memory_grow(0, pages) == usize::MAX {
                return false;
            }
            self.end.store(new_end, Relaxed);
            true
        }
    }

    // SAFETY: blocks never overlap: each starts at or after the end of the previous
    // one (with no wrap-around: `place` and `growth` check every sum), `next` only
    // moves back (to `base`) when no block is live, and `reserve` only hands out memory
    // the module grew for the heap (from the end of the memory it started with).
    unsafe impl GlobalAlloc for Heap {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if self.base.load(Relaxed) == 0 {
                // Start after everything the module was given (data, stack, the rest of
                // the initial pages): nothing else uses the memory beyond it.
                let start = wasm32::memory_size(0) * PAGE;
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

    /// A panic is a bug in the stage: trap, so the host reports an error and rolls
    /// back. No message is formatted, which keeps the formatting machinery out of the
    /// component.
    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
        wasm32::unreachable()
    }
}

#[cfg(test)]
mod tests {
    //! The address arithmetic at the edges of a 32-bit address space (the component's),
    //! written with `u32::MAX` so the tests mean the same on a 64-bit machine.

    use super::*;

    const TOP: usize = u32::MAX as usize;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).expect("valid layout")
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
