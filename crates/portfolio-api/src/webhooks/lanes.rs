//! Send lanes: threads started with the worker that send some of a claim's subscriptions
//! beside the claiming thread. A claim hands them work over a channel instead of spawning
//! threads (measured with spawned threads: ~190 µs of CPU per delivery against ~150 µs on the
//! long-lived delivery threads; a new thread starts with cold caches and empty allocator
//! caches, bench/README.md, issue 15).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::webhooks::priority;

/// Work for a lane.
pub type Job = Box<dyn FnOnce() + Send>;

/// The lane threads; they end and are joined when this is dropped.
pub struct Lanes {
    jobs: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl Lanes {
    /// Starts `n` lane threads at niceness `nice`.
    pub fn start(n: usize, nice: i32) -> Lanes {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let threads = (0..n)
            .map(|i| {
                let queue = Arc::clone(&queue);
                std::thread::Builder::new()
                    .name(format!("webhook-lane-{i}"))
                    .spawn(move || {
                        priority::lower_this_thread(nice);
                        lane(&queue)
                    })
                    .expect("spawn webhook lane thread")
            })
            .collect();
        Lanes {
            jobs: Some(jobs),
            threads,
        }
    }

    /// Runs `job` on a lane thread, or here when the lanes are stopping.
    pub fn run(&self, job: Job) {
        match &self.jobs {
            Some(jobs) => {
                if let Err(mpsc::SendError(job)) = jobs.send(job) {
                    job()
                }
            }
            None => job(),
        }
    }
}

fn lane(queue: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let job = match queue.lock() {
            Ok(q) => q.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        // A job that panics drops its answer channel: the claim waiting for it fails (and
        // rolls back), this lane goes on.
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            log::error!("a webhook send lane's job panicked");
        }
    }
}

impl Drop for Lanes {
    fn drop(&mut self) {
        self.jobs.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
