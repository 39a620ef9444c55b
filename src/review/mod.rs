//! Several annotators: consensus (the final label of a sample), agreement statistics,
//! per-annotator statistics, the reviewer's queue and the settings that govern them.

pub mod agreement;
pub mod annotators;
pub mod box_agreement;
pub mod consensus;
pub mod dawid_skene;
pub mod queue;
pub mod settings;

pub use consensus::{FinalLabel, Resolution, final_labels, final_labels_with_confidence, resolve};
pub use queue::{
    AnnotatorDecision, ReviewItem, ReviewReason, Verdict, accept, decided, review_queue, send_back,
    set_label, visible_decisions,
};
