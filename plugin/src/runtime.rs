//! What `std` would otherwise provide on `wasm32`: a global allocator and a panic
//! handler. Compiled only for the component.
//!
//! The stage allocates a few kilobytes per call (the context text, the reason, a message)
//! and frees all of them before the call ends (the host frees the returned strings
//! through the post-return function). So instead of a general-purpose allocator such
//! as `dlmalloc` (about 7 KB of code), [`Heap`] hands out memory by bumping a pointer
//! and starts over from the beginning whenever nothing is allocated any more. A block
//! is reused only then; memory freed in between stays unused until that moment, which
//! bounds the heap by the most one call ever held at once, plus its growth copies.

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The size of a WebAssembly memory page.
const PAGE: usize = 65_536;

/// A bump allocator over the pages it grows the memory by. The atomics are plain loads
/// and stores on `wasm32` (no threads); they keep the static free of `static mut`.
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
        let pages = (stop - end).div_ceil(PAGE);
        if wasm32::memory_grow(0, pages) == usize::MAX {
            return false;
        }
        self.end.store(end + pages * PAGE, Relaxed);
        true
    }
}

// SAFETY: blocks never overlap: each starts at or after the end of the previous one,
// `next` only moves back (to `base`) when no block is live, and `reserve` only hands out
// memory the module grew for the heap (from the end of the memory it started with).
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.base.load(Relaxed) == 0 {
            // Start after everything the module was given (data, stack, the rest of the
            // initial pages): nothing else uses the memory beyond it.
            let start = wasm32::memory_size(0) * PAGE;
            self.base.store(start, Relaxed);
            self.next.store(start, Relaxed);
            self.end.store(start, Relaxed);
        }
        let align = layout.align();
        let start = (self.next.load(Relaxed) + align - 1) & !(align - 1);
        let Some(stop) = start.checked_add(layout.size()) else {
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
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    wasm32::unreachable()
}
