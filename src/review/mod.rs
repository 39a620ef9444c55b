//! Several annotators: consensus (the final label of a sample), agreement statistics and
//! the reviewer's queue.

pub mod consensus;

pub use consensus::{Resolution, final_labels, resolve};
