//! Samples as the importer would record them, for tests that build projects through the
//! library.

use std::path::Path;

use keylabel::project::{NewSample, Project, SampleKind, TaskKind};
use serde_json::{Map, Value};
use sha2::Digest;

/// A plain SQLite connection to the project's file, as the `sqlite3` tool would open it:
/// for tests and benchmarks that look inside the file, or change it behind keylabel's back.
pub fn sql(project: &Project) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(project.path())
        .unwrap_or_else(|e| panic!("open {}: {e}", project.path().display()));
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .expect("set a busy timeout");
    conn
}

/// Creates a project at `file` with these classes.
pub fn project(file: &Path, classes: &[&str], task: TaskKind) -> Project {
    let names: Vec<String> = classes.iter().map(|c| c.to_string()).collect();
    Project::create(file, &names, task)
        .unwrap_or_else(|e| panic!("create {}: {e:#}", file.display()))
}

/// The image file `file` with its content `bytes`, as import records it: stored path, BLAKE3
/// hex and SHA-256, size, dimensions and format read from the header (none when it is no
/// image).
pub fn image_sample_of(project: &Project, file: &Path, bytes: &[u8]) -> NewSample {
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .expect("reading from memory cannot fail");
    let format = reader.format().map(|f| format!("{f:?}").to_lowercase());
    NewSample {
        sha256: Some(sha2::Sha256::digest(bytes).into()),
        ..NewSample::image(
            project.stored_path(file),
            blake3::hash(bytes).to_hex().to_string(),
            bytes.len() as u64,
            reader.into_dimensions().ok(),
            format,
        )
    }
}

/// The image file `file` (read from disk), as import records it.
pub fn image_sample(project: &Project, file: &Path) -> NewSample {
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    image_sample_of(project, file, &bytes)
}

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
        sha256: None,
        bytes: text.len() as u64,
        width: None,
        height: None,
        format: None,
        text: Some(text.to_string()),
        features,
    }
}

/// A text sample under any name (not a table row's `file#row`).
pub fn text_sample(name: &str, text: &str) -> NewSample {
    NewSample {
        name: name.to_string(),
        row: None,
        ..text_row("rows.csv", 1, text, None)
    }
}

/// SQL that takes a project file back to before schema version 7 (boxes; later versions,
/// the hub link, undone too), for the migration tests: run it first, then the SQL undoing
/// earlier versions.
pub const BEFORE_BOXES: &str = "DROP TABLE hub_refused; ALTER TABLE samples DROP COLUMN sha256; DROP TABLE hub_link; DROP TABLE hub_events; \
     DROP TABLE sample_boxes; ALTER TABLE events DROP COLUMN boxes; \
     ALTER TABLE annotations DROP COLUMN boxes; \
     ALTER TABLE sample_state DROP COLUMN review_boxes; PRAGMA user_version = 6;";
