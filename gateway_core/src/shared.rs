//! Memory shared by every worker process of one gateway node.
//!
//! The gateway's parent process maps a [`SharedRegion`] before Granian forks its workers; each worker
//! inherits the same pages (`MAP_SHARED | MAP_ANONYMOUS`), so atomics in the region are counted once for the
//! whole node: token buckets (a limit holds whatever `--workers` is) and metrics (one scrape sees every
//! worker). The region is a plain array of `AtomicU64` words; the modules that use it lay out their own
//! structures on top of it.
//!
//! With `os_clock` (one `clock_gettime` call), this is the only place of `gateway_core`
//! with `unsafe`: the mapping itself and the view of its pages as atomics.

#![allow(unsafe_code)]

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;

/// Zero-filled words shared with every process forked after it was created.
pub struct SharedRegion {
    base: NonNull<AtomicU64>,
    words: usize,
}

// SAFETY: the region is only ever accessed through `&[AtomicU64]`, which is `Sync`; the pointer stays
// valid until `Drop`, which needs exclusive ownership.
unsafe impl Send for SharedRegion {}
unsafe impl Sync for SharedRegion {}

impl SharedRegion {
    /// Maps `words` zeroed 64-bit words. Pages are committed lazily by the kernel, so a large
    /// region that is mostly unused costs address space, not memory.
    pub fn new(words: usize) -> io::Result<Self> {
        let words = words.max(1);
        let bytes = words
            .checked_mul(std::mem::size_of::<AtomicU64>())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "shared region too large"))?;
        // SAFETY: a fresh anonymous mapping: no file, no address hint; the result is checked below.
        let pointer = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if pointer == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(pointer.cast::<AtomicU64>()).expect("mmap returned a null mapping");
        Ok(Self { base, words })
    }

    /// The region as atomics. Page-aligned, so every word is naturally aligned.
    pub fn words(&self) -> &[AtomicU64] {
        // SAFETY: `base` points at `words` zero-initialised, page-aligned u64 slots mapped read-write for
        // the lifetime of `self`; `AtomicU64` has the layout of `u64`, and all zeros is a valid value.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr(), self.words) }
    }

    pub fn len(&self) -> usize {
        self.words
    }

    pub fn is_empty(&self) -> bool {
        self.words == 0
    }
}

impl Drop for SharedRegion {
    fn drop(&mut self) {
        // SAFETY: the mapping was created by `new` with this length and is not used after this.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.words * std::mem::size_of::<AtomicU64>());
        }
    }
}

impl std::fmt::Debug for SharedRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRegion").field("words", &self.words).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::SharedRegion;
    use std::sync::atomic::Ordering;

    #[test]
    fn starts_zeroed_and_counts() {
        let region = SharedRegion::new(1024).unwrap();
        assert!(region.words().iter().all(|w| w.load(Ordering::Relaxed) == 0));
        region.words()[7].fetch_add(3, Ordering::Relaxed);
        assert_eq!(region.words()[7].load(Ordering::Relaxed), 3);
    }

    #[test]
    fn a_forked_child_writes_what_the_parent_reads() {
        let region = SharedRegion::new(16).unwrap();
        // SAFETY: the child only touches the atomics and exits without running any destructor.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            region.words()[0].fetch_add(41, Ordering::SeqCst);
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: waiting for the child forked above.
        unsafe { libc::waitpid(pid, &raw mut status, 0) };
        region.words()[0].fetch_add(1, Ordering::SeqCst);
        assert_eq!(region.words()[0].load(Ordering::SeqCst), 42);
    }
}
