//! Background work (opening a project, creating and importing one, bulk labels, exports)
//! that the UI polls each frame instead of waiting for.
//!
//! A job is cancelled when its [`Job`] is dropped: the work sees
//! [`Progress::cancelled`] and stops at its next check, so a job that belonged to a closed
//! project does not go on writing to it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

pub use crate::progress::Progress;

/// What a job has done: the pass it is in, `done` of `total` (0 total: unknown), and
/// whether it was asked to stop. The core's long jobs report to it through [`Progress`].
#[derive(Default)]
pub struct JobProgress {
    done: AtomicU64,
    total: AtomicU64,
    pass: Mutex<String>,
    cancelled: AtomicBool,
}

impl JobProgress {
    /// Asks the work to stop at its next check.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn set(&self, done: u64, total: u64) {
        self.done.store(done, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }

    /// Fraction done, when the total is known.
    pub fn fraction(&self) -> Option<f32> {
        let total = self.total.load(Ordering::Relaxed);
        (total > 0).then(|| (self.done.load(Ordering::Relaxed) as f32 / total as f32).min(1.0))
    }

    /// `Checking image files: 120 / 2000`, `120 / 2000`, or nothing before any report.
    pub fn text(&self) -> String {
        let (d, t) = (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        );
        let pass = self.pass.lock().map(|p| p.clone()).unwrap_or_default();
        match (t > 0, pass.is_empty()) {
            (true, true) => format!("{} / {t}", d.min(t)),
            (true, false) => format!("{pass}: {} / {t}", d.min(t)),
            (false, false) => pass,
            (false, true) => String::new(),
        }
    }
}

impl Progress for JobProgress {
    fn start(&self, what: &str, total: u64) {
        if let Ok(mut p) = self.pass.lock() {
            *p = what.to_string();
        }
        self.set(0, total);
    }

    fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// A thread's result, delivered once.
pub struct Job<T> {
    /// What the job is doing, for the progress screen.
    pub what: String,
    pub progress: Arc<JobProgress>,
    rx: mpsc::Receiver<T>,
}

impl<T: Send + 'static> Job<T> {
    /// Runs `work` on a new thread; `ctx` is repainted when it finishes so the result is
    /// picked up without user input.
    pub fn spawn(
        what: impl Into<String>,
        ctx: Option<egui::Context>,
        work: impl FnOnce(&JobProgress) -> T + Send + 'static,
    ) -> Job<T> {
        let (tx, rx) = mpsc::channel();
        let progress = Arc::new(JobProgress::default());
        let p = Arc::clone(&progress);
        std::thread::spawn(move || {
            let out = work(&p);
            let _ = tx.send(out);
            if let Some(ctx) = ctx {
                ctx.request_repaint();
            }
        });
        Job {
            what: what.into(),
            progress,
            rx,
        }
    }

    /// The result, once the thread has finished (an error if it died without one).
    pub fn poll(&self) -> Option<Result<T, String>> {
        match self.rx.try_recv() {
            Ok(v) => Some(Ok(v)),
            Err(mpsc::TryRecvError::Empty) => None,
            Err(mpsc::TryRecvError::Disconnected) => {
                Some(Err(format!("{} stopped unexpectedly", self.what)))
            }
        }
    }
}

impl<T> Drop for Job<T> {
    fn drop(&mut self) {
        self.progress.cancel();
    }
}
