//! Waking the delivery threads when there is work, instead of having them poll.
//!
//! Triggers (migration `15e001_webhook_wakeups`) send a notification on the channel
//! [`CHANNEL`] when feed events, one-off jobs, new cursors or re-enabled subscriptions are
//! written. PostgreSQL delivers a notification only when its transaction commits, so a woken
//! thread always sees the new rows, and every replica listening on the database hears it.
//!
//! One listener thread per replica holds a plain libpq connection and blocks in `poll(2)` on
//! its socket (diesel's connection offers no way to wait for a notification); the delivery
//! threads wait on a condition variable. They still look on their own now and then (the
//! safety-net poll and retries falling due), see `worker`.

#![allow(unsafe_code)] // libpq and poll(2): the one connection diesel cannot wait on

use std::ffi::{CStr, CString};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use pq_sys::{
    ConnStatusType, ExecStatusType, PGconn, PQclear, PQconnectdb, PQconsumeInput, PQerrorMessage,
    PQexec, PQfinish, PQfreemem, PQnotifies, PQresultStatus, PQsocket, PQstatus,
};

/// The channel the triggers notify.
pub const CHANNEL: &str = "webhook_work";

/// A counter moved by every wake-up; delivery threads wait for it to move.
#[derive(Default)]
pub struct Wakeup {
    generation: Mutex<u64>,
    moved: Condvar,
    /// Threads delivering to quick receivers (see [`Wakeup::work_arrived`]).
    attentive: AtomicUsize,
}

impl Wakeup {
    pub fn current(&self) -> u64 {
        *self.generation.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes every waiting thread.
    pub fn wake(&self) {
        *self.generation.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.moved.notify_all();
    }

    /// New work: moves the counter, and wakes one waiting thread unless a thread is attentive.
    /// An attentive thread holds the quick subscriptions' cursors or is about to look for
    /// work again, and sees the counter moved when its claim is done; a thread woken meanwhile
    /// would find everything locked (measured: three in four wake-ups found nothing). A thread
    /// held up by a slow receiver is not attentive, so work for the others wakes another.
    pub fn work_arrived(&self) {
        *self.generation.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        if self.attentive.load(Ordering::SeqCst) == 0 {
            self.moved.notify_one();
        }
    }

    /// Marks the calling thread attentive until the guard is dropped or set off.
    pub fn attention(&self) -> Attention<'_> {
        self.attentive.fetch_add(1, Ordering::SeqCst);
        Attention {
            wakeup: self,
            on: true,
        }
    }

    /// Waits until the counter differs from `seen` or `timeout` passes; returns the counter.
    /// A wake between reading `seen` and calling this is not lost: the counter has moved.
    pub fn wait(&self, seen: u64, timeout: Duration) -> u64 {
        let guard = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = self
            .moved
            .wait_timeout_while(guard, timeout, |g| *g == seen)
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }
}

/// A thread's attentiveness (see [`Wakeup::work_arrived`]); off when dropped.
pub struct Attention<'a> {
    wakeup: &'a Wakeup,
    on: bool,
}

impl Attention<'_> {
    pub fn set(&mut self, on: bool) {
        if on != self.on {
            if on {
                self.wakeup.attentive.fetch_add(1, Ordering::SeqCst);
            } else {
                self.wakeup.attentive.fetch_sub(1, Ordering::SeqCst);
            }
            self.on = on;
        }
    }
}

impl Drop for Attention<'_> {
    fn drop(&mut self) {
        self.set(false);
    }
}

/// Listens on `url` until `stop`, waking `wakeup` on every notification. Reconnects when the
/// connection breaks, and wakes after each (re)connection: notifications sent while it was
/// away are lost, the work they announced is not.
pub fn listen(url: &str, wakeup: &Wakeup, stop: &AtomicBool) {
    let mut complained = false;
    while !stop.load(Ordering::SeqCst) {
        match Listener::connect(url) {
            Ok(mut listener) => {
                complained = false;
                wakeup.wake();
                while !stop.load(Ordering::SeqCst) {
                    match listener.wait(Duration::from_millis(200)) {
                        Ok(true) => wakeup.work_arrived(),
                        Ok(false) => {}
                        Err(e) => {
                            log::warn!("webhook wake-ups: connection lost ({e}); reconnecting");
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                if !complained {
                    log::warn!(
                        "webhook wake-ups: cannot listen ({e}); delivery falls back on polling"
                    );
                    complained = true;
                }
                for _ in 0..10 {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}

/// A libpq connection that has run `LISTEN`; closed when dropped.
struct Listener(NonNull<PGconn>);

impl Listener {
    fn connect(url: &str) -> Result<Listener, String> {
        let info = CString::new(url).map_err(|_| "the database URL holds a NUL byte")?;
        // SAFETY: `info` is a valid C string for the duration of the call.
        let conn = NonNull::new(unsafe { PQconnectdb(info.as_ptr()) }).ok_or("out of memory")?;
        let listener = Listener(conn);
        // SAFETY: `conn` is a live connection object until `listener` is dropped.
        if unsafe { PQstatus(conn.as_ptr()) } != ConnStatusType::CONNECTION_OK {
            return Err(listener.error());
        }
        let sql = CString::new(format!("LISTEN {CHANNEL}")).expect("no NUL");
        // SAFETY: as above; the result is checked for NULL and freed once.
        let ok = unsafe {
            let res = PQexec(conn.as_ptr(), sql.as_ptr());
            let ok = !res.is_null() && PQresultStatus(res) == ExecStatusType::PGRES_COMMAND_OK;
            PQclear(res);
            ok
        };
        if !ok {
            return Err(listener.error());
        }
        Ok(listener)
    }

    /// Waits up to `timeout` for notifications; true when at least one arrived.
    fn wait(&mut self, timeout: Duration) -> Result<bool, String> {
        if self.drain() {
            return Ok(true);
        }
        let conn = self.0.as_ptr();
        // SAFETY: `conn` is live; `pollfd` is a valid array of one for the call.
        let ready = unsafe {
            let mut fd = libc::pollfd {
                fd: PQsocket(conn),
                events: libc::POLLIN,
                revents: 0,
            };
            libc::poll(&mut fd, 1, timeout.as_millis() as libc::c_int)
        };
        if ready < 0 {
            let e = std::io::Error::last_os_error();
            return match e.kind() {
                std::io::ErrorKind::Interrupted => Ok(false),
                _ => Err(e.to_string()),
            };
        }
        if ready == 0 {
            return Ok(false);
        }
        // SAFETY: `conn` is live. Reads what arrived; 0 means the connection failed.
        if unsafe { PQconsumeInput(conn) } == 0 {
            return Err(self.error());
        }
        Ok(self.drain())
    }

    /// Takes every notification libpq holds; true when there was one.
    fn drain(&mut self) -> bool {
        let mut any = false;
        loop {
            // SAFETY: `conn` is live; each notification is freed once, as libpq asks.
            let n = unsafe { PQnotifies(self.0.as_ptr()) };
            if n.is_null() {
                return any;
            }
            unsafe { PQfreemem(n.cast()) };
            any = true;
        }
    }

    fn error(&self) -> String {
        // SAFETY: libpq returns a NUL-terminated message owned by the connection.
        unsafe { CStr::from_ptr(PQerrorMessage(self.0.as_ptr())) }
            .to_string_lossy()
            .trim()
            .to_owned()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // SAFETY: the connection is closed exactly once, here.
        unsafe { PQfinish(self.0.as_ptr()) }
    }
}
