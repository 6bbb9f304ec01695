//! The engines: image work runs on tokio's blocking pool, at most `threads` images at once, each
//! on an engine (and its buffers) reused from earlier images.

use std::sync::{Arc, Mutex};

use thumbnail_core::{Engine, Limits, Rendering, ThumbnailSpec};
use tokio::sync::Semaphore;

/// Engines kept between images, and the bound on how many run at once.
#[derive(Debug)]
pub(crate) struct Engines {
    idle: Arc<Mutex<Vec<Engine>>>,
    cpu: Arc<Semaphore>,
    limits: Limits,
}

impl Engines {
    pub(crate) fn new(threads: usize, limits: Limits) -> Self {
        Engines {
            idle: Arc::default(),
            cpu: Arc::new(Semaphore::new(threads.max(1))),
            limits,
        }
    }

    /// Makes `specs` of `bytes`, and its placeholder, on a blocking thread once one of the
    /// `threads` is free. The thread is taken until the work ends, even when the caller stops
    /// waiting (a job timeout): an abandoned decode still uses a core, so no new one starts on it.
    pub(crate) async fn render(
        &self,
        bytes: Vec<u8>,
        specs: Vec<ThumbnailSpec>,
    ) -> Result<Rendering, thumbnail_core::Error> {
        let permit = Arc::clone(&self.cpu)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let (idle, limits) = (Arc::clone(&self.idle), self.limits);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut engine = idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop()
                .unwrap_or_else(|| Engine::new(limits));
            let made = engine.render(&bytes, &specs);
            idle.lock().unwrap_or_else(|p| p.into_inner()).push(engine);
            made
        })
        .await
        .expect("the engine does not panic")
    }
}
