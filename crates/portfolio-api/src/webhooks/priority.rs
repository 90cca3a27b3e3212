//! Scheduling priority of the delivery threads.
//!
//! Delivery is background work: an event reaching a receiver some milliseconds later harms
//! nobody, while the same CPU taken from the request threads slows every interactive read.
//! So the delivery threads can run niced (`PORTFOLIO_WEBHOOK_NICE`): when both want a core the
//! kernel prefers the request threads; when the machine has idle time, delivery gets it at
//! once. Linux applies niceness per thread, so this touches no other thread. Off by default:
//! measured on a saturated machine, nice 10 cut delivery to ~1/5 of the un-niced rate, so the
//! backlog grew for as long as the saturation lasted (bench/README.md).

#![allow(unsafe_code)] // setpriority(2) on this thread's id

/// Sets the calling thread's niceness to `nice` (1–19; 0 leaves it alone). A failure is
/// logged, never fatal: delivery still works at normal priority.
pub fn lower_this_thread(nice: i32) {
    if nice <= 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on this thread's own id; no memory is shared.
        let r = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice.min(19))
        };
        if r != 0 {
            log::warn!(
                "webhook delivery: could not lower the thread's priority to nice {nice}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}
