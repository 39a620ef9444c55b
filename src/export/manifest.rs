//! `manifest.json`: what an export holds (counts per split and class, the label map, the
//! feature keys, every data file's SHA-256 and record count, the validation report), so a
//! pipeline can check a dataset before it trusts it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::sink::FileEntry;
use crate::validate::Report;

/// Counts of one split.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitSummary {
    pub count: u64,
    /// Samples per class (a multi-label sample counts once for each of its classes);
    /// every class of the label map is listed, with 0 when it has no sample here.
    pub classes: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// `tfrecord`, `csv` or `jsonl`.
    pub format: String,
    pub seed: u64,
    pub splits: BTreeMap<String, SplitSummary>,
    /// Class names in label-index order.
    pub label_map: Vec<String>,
    /// Role (`id`, `label`, `label_text`, …) to the feature key that holds it.
    pub features: BTreeMap<String, String>,
    pub files: Vec<FileEntry>,
    pub validation: Report,
    pub keylabel_version: String,
    /// The only field that differs between two exports of the same project state.
    pub created_at: String,
}
