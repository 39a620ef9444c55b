//! Progress a test watches.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use keylabel::progress::Progress;

/// Calls `on(pass, done, total)` after every advance of a job; the job is cancelled once
/// `on` returns true.
pub struct Watch<F> {
    pass: Mutex<String>,
    done: AtomicU64,
    total: AtomicU64,
    cancel: AtomicBool,
    on: F,
}

impl<F: Fn(&str, u64, u64) -> bool + Sync> Watch<F> {
    pub fn new(on: F) -> Watch<F> {
        Watch {
            pass: Mutex::new(String::new()),
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
            cancel: AtomicBool::new(false),
            on,
        }
    }
}

impl<F: Fn(&str, u64, u64) -> bool + Sync> Progress for Watch<F> {
    fn start(&self, what: &str, total: u64) {
        *self.pass.lock().expect("not poisoned") = what.to_string();
        self.done.store(0, Ordering::SeqCst);
        self.total.store(total, Ordering::SeqCst);
    }

    fn advance(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::SeqCst) + n;
        let pass = self.pass.lock().expect("not poisoned").clone();
        if (self.on)(&pass, done, self.total.load(Ordering::SeqCst)) {
            self.cancel.store(true, Ordering::SeqCst);
        }
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }
}
