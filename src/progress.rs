//! One progress and cancel interface for the long jobs of the core: import, validation and
//! export. The command line shows it as a bar on a terminal, the window as a progress bar
//! with Cancel, tests watch it.

/// Receives a job's progress from any of its threads, and may cancel it.
pub trait Progress: Sync {
    /// A pass over `total` items begins (0: not known).
    fn start(&self, _what: &str, _total: u64) {}
    /// `n` more items are done.
    fn advance(&self, _n: u64) {}
    /// The pass is over.
    fn finish(&self) {}
    /// When true, the job stops at its next check, leaving nothing half-written (an
    /// import keeps the batches it committed: importing again adds the rest).
    fn cancelled(&self) -> bool {
        false
    }
}

/// Progress that nobody watches.
pub struct NoProgress;

impl Progress for NoProgress {}
