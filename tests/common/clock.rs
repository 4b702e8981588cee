//! A virtual clock for OpenSSL's DTLS retransmission timers.
//!
//! OpenSSL 3.0 reads the time for its DTLS timer with `gettimeofday`
//! (ssl/d1_lib.c, `get_current_time`), which libssl.so.3 imports from glibc.
//! This module defines `gettimeofday` in the test executable, and build.rs
//! exports it to the dynamic symbol table
//! (`-Wl,--export-dynamic-symbol=gettimeofday`), so the dynamic linker binds
//! libssl's reference to this definition instead of glibc's (the executable
//! comes first in the lookup scope).
//!
//! The virtual time is per thread: a test installs a [`VirtualClock`] on its
//! own thread, and every libssl call that thread makes sees the virtual time,
//! which moves only when the test calls [`VirtualClock::advance`]. Threads
//! without a clock installed (every other test in the binary) get the real
//! time from `clock_gettime(CLOCK_REALTIME)`, exactly what glibc's
//! `gettimeofday` returns. Rust's `Instant` and `SystemTime` use
//! `clock_gettime` directly and are never affected; nor is certificate
//! validity, which OpenSSL checks with `time()`.

use std::cell::Cell;
use std::marker::PhantomData;
use std::time::Duration;

/// Where virtual time starts: a plausible wall-clock time in microseconds
/// (not zero, since OpenSSL takes an all-zero deadline for "no timer").
pub const EPOCH_US: u64 = 1_700_000_000_000_000;

thread_local! {
    /// The current thread's virtual time in microseconds, if it has a clock.
    static NOW_US: Cell<Option<u64>> = const { Cell::new(None) };
}

/// The virtual time of the current thread while this value lives. Not
/// `Send`: it belongs to the thread that installed it.
pub struct VirtualClock {
    _thread_bound: PhantomData<*const ()>,
}

impl VirtualClock {
    /// Installs a virtual clock at [`EPOCH_US`] on the current thread.
    /// Panics if this thread already has one.
    pub fn install() -> VirtualClock {
        NOW_US.with(|c| {
            assert!(c.get().is_none(), "this thread already has a virtual clock");
            c.set(Some(EPOCH_US));
        });
        VirtualClock { _thread_bound: PhantomData }
    }

    /// Moves virtual time forward by `d` (microsecond resolution, as gettimeofday).
    pub fn advance(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).expect("advance too large");
        NOW_US.with(|c| c.set(Some(c.get().expect("clock uninstalled") + us)));
    }

    /// Virtual time passed since [`install`](Self::install).
    pub fn elapsed(&self) -> Duration {
        Duration::from_micros(NOW_US.with(|c| c.get().expect("clock uninstalled")) - EPOCH_US)
    }
}

impl Drop for VirtualClock {
    fn drop(&mut self) {
        NOW_US.with(|c| c.set(None));
    }
}

fn real_now_us() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out-pointer; CLOCK_REALTIME always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

/// The interposed `gettimeofday(2)`: the thread's virtual time if it has a
/// clock, the real time otherwise. The timezone argument is obsolete and, as
/// in glibc, left untouched.
///
/// # Safety
/// `tv` is null or points to a writable `struct timeval` (the C contract).
#[no_mangle]
pub unsafe extern "C" fn gettimeofday(tv: *mut libc::timeval, _tz: *mut libc::c_void) -> libc::c_int {
    // try_with: a thread being torn down may still call in; it gets real time.
    let us = NOW_US.try_with(Cell::get).ok().flatten().unwrap_or_else(real_now_us);
    if let Some(tv) = tv.as_mut() {
        tv.tv_sec = (us / 1_000_000) as libc::time_t;
        tv.tv_usec = (us % 1_000_000) as libc::suseconds_t;
    }
    0
}
