//! The engine's CPU pool: plain threads fed by a crossbeam channel. Query work never runs on
//! an async runtime; a server hands queries to the engine and polls or waits on them.

use std::thread::JoinHandle;

use crossbeam::channel::{self, Sender};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed set of worker threads. Dropping the pool lets the workers finish queued jobs and
/// exit.
pub(crate) struct Pool {
    sender: Option<Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    pub(crate) fn new(threads: usize) -> Pool {
        let (sender, receiver) = channel::unbounded::<Job>();
        let workers = (0..threads.max(1))
            .map(|i| {
                let receiver = receiver.clone();
                std::thread::Builder::new()
                    .name(format!("query-{i}"))
                    .spawn(move || {
                        for job in receiver {
                            job();
                        }
                    })
                    .expect("the OS can start a query worker thread")
            })
            .collect();
        Pool { sender: Some(sender), workers }
    }

    pub(crate) fn threads(&self) -> usize {
        self.workers.len()
    }

    pub(crate) fn spawn(&self, job: Job) {
        if let Some(s) = &self.sender {
            // The receivers live as long as the pool, so sending cannot fail.
            let _ = s.send(job);
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.sender.take();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}
