//! Periodic audit checkpoints: a thread of its own (never the async executor) signs the audit
//! chain's head every `PORTFOLIO_AUDIT_CHECKPOINT_MINUTES` when it moved since the newest
//! checkpoint, so a removed tail is detectable even when nobody publishes one by hand.

use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use diesel::Connection;

use crate::db::Db;

/// The running publisher; dropping it stops the thread.
pub struct Checkpointer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts publishing `every` so often (`None`: not at all, and no thread either).
    pub fn start(db: Db, every: Option<Duration>) -> Option<Checkpointer> {
        let Some(every) = every else {
            log::info!("PORTFOLIO_AUDIT_CHECKPOINT_MINUTES=0: no periodic audit checkpoints");
            return None;
        };
        let (stop, stopped) = channel::<()>();
        let thread = std::thread::Builder::new()
            .name("audit-checkpoints".into())
            .spawn(move || loop {
                match stopped.recv_timeout(every) {
                    Err(RecvTimeoutError::Timeout) => publish(&db),
                    // A message or a dropped sender: the server is stopping.
                    _ => return,
                }
            })
            .expect("spawn audit checkpoint thread");
        Some(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

fn publish(db: &Db) {
    let result =
        db.run_blocking(|conn| conn.transaction(crate::store::checkpoints::publish_if_moved));
    match result {
        Ok(Some(cp)) => log::info!("audit checkpoint {} at entry {}", cp.id, cp.seq),
        Ok(None) => {}
        Err(e) => log::warn!("audit checkpoint: {e}"),
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
