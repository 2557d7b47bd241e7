//! How the process holds memory. mimalloc is the allocator (see `ALLOCATOR`); two of its
//! defaults cost a large cluster's controller tens of MiB of resident memory it never uses
//! (`docs/benchmarks/scale.md`, "Memory"): huge pages, and freed pages returned only lazily.

/// mimalloc's own switch for transparent huge pages; when set, it decides and we leave it be.
const ALLOW_THP: &str = "MIMALLOC_ALLOW_THP";

/// Turns transparent huge pages off for this process (unless `MIMALLOC_ALLOW_THP` is set).
/// mimalloc asks for them on its arenas, and the kernel then backs each 2 MiB region that
/// holds one live object with 2 MiB of memory: at 10k Ingresses, 37 MiB of the resident set.
pub fn without_huge_pages() {
    if std::env::var_os(ALLOW_THP).is_some() {
        return;
    }
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    let result = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if result != 0 {
        tracing::debug!(
            "transparent huge pages stay as the kernel sets them: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Returns the calling thread's free memory to the system now (mimalloc otherwise keeps
/// freed pages until a later allocation finds them a second old). The controller calls it
/// after each publish: a translation's temporaries are freed then, and nothing else runs on
/// that thread to reuse them soon.
pub fn return_free_memory() {
    // SAFETY: mi_collect only walks mimalloc's own structures for the calling thread.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
