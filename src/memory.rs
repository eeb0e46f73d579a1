//! How much memory the process keeps. The reader runs requests on many threads at once (the
//! child batches of a page, the slices of a list), and glibc's malloc gives each thread that
//! allocates at the same time as others an arena of its own (up to eight per core), each
//! keeping the pages it once held. Measured on the real-world benchmark, that doubled the peak
//! memory of a sync for nothing: two arenas hold the same work in a little more than one
//! reader's memory, the threads spending their time waiting on the network, not on malloc.

/// Caps glibc's malloc arenas at two, before any thread starts. Elsewhere (musl, macOS) malloc
/// does not make an arena per thread, and nothing is done.
pub fn keep_arenas_few() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets a tuning parameter of the allocator; it is called before the
    // process starts any thread, as glibc asks.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
