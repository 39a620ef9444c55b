//! Several annotators: consensus (the final label of a sample), agreement statistics,
//! per-annotator statistics and the reviewer's queue.

pub mod agreement;
pub mod consensus;
pub mod dawid_skene;

pub use consensus::{FinalLabel, Resolution, final_labels, final_labels_with_confidence, resolve};
