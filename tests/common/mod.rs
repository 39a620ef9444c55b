//! Set-up shared by the integration tests.

// Each test binary uses only some of these.
#![allow(dead_code)]

use keylabel::project::{NewSample, SampleKind};
use serde_json::{Map, Value};

/// Row `row` (from 1) of the table file `file`, named as the importer names it
/// (`file#row`), with its text and typed columns. Its content hash is the BLAKE3 of the
/// text, so rows with the same text are duplicates.
pub fn text_row(
    file: &str,
    row: usize,
    text: &str,
    features: Option<Map<String, Value>>,
) -> NewSample {
    NewSample {
        kind: SampleKind::Text,
        name: format!("{file}#{row}"),
        path: file.into(),
        row: Some(row as i64),
        hash: blake3::hash(text.as_bytes()).to_hex().to_string(),
        bytes: text.len() as u64,
        width: None,
        height: None,
        format: None,
        text: Some(text.to_string()),
        features,
    }
}
