//! The engines: `threads` threads of their own, each owning an engine (and its buffers) for its
//! whole life, take images from one queue.
//!
//! Threads of their own rather than tokio's blocking pool: a job there lands on whichever pool
//! thread is free, often one that was just doing file I/O, so the engine's buffers were reused
//! from another thread's malloc arena and a decode paid page faults that `convert`, whose
//! threads each keep one engine, does not.

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

use thumbnail_core::{Engine, Limits, Rendering, ThumbnailSpec};
use tokio::sync::oneshot;

type Made = Result<Rendering, thumbnail_core::Error>;

struct Job {
    bytes: Vec<u8>,
    specs: Vec<ThumbnailSpec>,
    made: oneshot::Sender<Made>,
}

/// The queue into the engine threads. Dropping it ends them once their current image is done.
#[derive(Debug)]
pub(crate) struct Engines {
    jobs: mpsc::Sender<Job>,
}

impl Engines {
    pub(crate) fn new(threads: usize, limits: Limits) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            thread::Builder::new()
                .name(format!("engine-{n}"))
                .spawn(move || {
                    let mut engine = Engine::new(limits);
                    // The lock is held only while waiting: one idle thread waits on the queue,
                    // the others on the lock.
                    let next = || queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    while let Ok(job) = next() {
                        // The caller stopped waiting (a job timeout) before the image started.
                        if job.made.is_closed() {
                            continue;
                        }
                        let rendered = panic::catch_unwind(AssertUnwindSafe(|| {
                            engine.render(&job.bytes, &job.specs)
                        }));
                        match rendered {
                            Ok(made) => {
                                let _ = job.made.send(made);
                            }
                            // The caller sees the panic (its answer is dropped unsent), as it did
                            // on the blocking pool; the thread lives on, with a fresh engine, so
                            // one panic does not take a core away for good.
                            Err(_) => engine = Engine::new(limits),
                        }
                    }
                })
                .expect("an engine thread starts");
        }
        Engines { jobs }
    }

    /// Makes `specs` of `bytes`, and its placeholder, once one of the engine threads is free.
    /// An image that has started runs to its end even when the caller stops waiting: an
    /// abandoned decode still uses a core, so no new one starts on it.
    pub(crate) async fn render(&self, bytes: Vec<u8>, specs: Vec<ThumbnailSpec>) -> Made {
        let (made, rendering) = oneshot::channel();
        self.jobs
            .send(Job { bytes, specs, made })
            .expect("the engine threads live as long as their queue");
        rendering.await.expect("the engine does not panic")
    }
}
