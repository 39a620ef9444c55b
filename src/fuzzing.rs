//! Entry points for fuzzing: the readers of untrusted input, each taking arbitrary bytes.
//!
//! Each must return, whatever the bytes, without panicking, hanging or allocating without
//! bound. The coverage-guided targets in `fuzz/` (cargo fuzz) call them, and so do the
//! property tests in `tests/fuzz.rs`, which keep every input a fuzzer found as a
//! regression case and run in every `cargo test`.

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ingest::ImportOptions;
use crate::media::{self, MAX_PIXELS};

/// Images up to this many pixels are decoded in full (larger claims are only checked up to
/// the header, so that one input cannot take seconds; the limits themselves are tested by
/// the media tests).
const DECODED_PIXELS: u64 = 4 << 20;

/// An image file, as import, validation and the window read it: format, completeness,
/// trailing bytes, orientation, header size, and for small images the decoded view and the
/// perceptual hash.
pub fn image(bytes: &[u8]) {
    let Some(format) = media::sniff(bytes) else {
        return;
    };
    let complete = media::check_complete(format, bytes);
    let trailing = media::trailing_bytes(format, bytes);
    assert!(
        trailing <= bytes.len(),
        "{trailing} trailing bytes of {}",
        bytes.len()
    );
    let _ = media::orientation(format, bytes);
    let Ok((w, h)) = image::ImageReader::with_format(Cursor::new(bytes), format).into_dimensions()
    else {
        return;
    };
    let pixels = u64::from(w) * u64::from(h);
    if complete.is_err() || pixels > DECODED_PIXELS.min(MAX_PIXELS) {
        return;
    }
    if let Ok(view) = media::decode_upright(bytes, 64) {
        assert!(view.image.width() <= 64 && view.image.height() <= 64);
        assert!(view.image.width() > 0 && view.image.height() > 0);
    }
    let _ = crate::validate::phash::perceptual_hash(bytes, format);
}

/// A CSV file (`jsonl == false`) or a JSON Lines file of sample rows, read as `import` reads
/// it (id column `id`, text column `text`): every row is a sample or a reported problem.
pub fn table(bytes: &[u8], jsonl: bool) {
    use crate::ingest::table::{TableFormat, read_rows};
    let format = if jsonl {
        TableFormat::JsonLines
    } else {
        TableFormat::Csv(b',')
    };
    let options = ImportOptions {
        id_column: Some("id".into()),
        annotator: "fuzz".into(),
        ..ImportOptions::default()
    };
    let (tx, rx) = std::sync::mpsc::sync_channel(0);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let _ = read_rows(bytes, "fuzz", "fuzz", format, &options, &tx);
        });
        let mut read = 0u64;
        for chunk in rx {
            assert_eq!(chunk.read, (chunk.rows.len() + chunk.bad.len()) as u64);
            for row in &chunk.rows {
                assert!(!row.name.is_empty());
                assert!(row.text.as_ref().is_some_and(|t| t.len() <= bytes.len()));
            }
            read += chunk.read;
        }
        assert!(read <= bytes.len() as u64 + 1);
        reader.join().expect("the row reader panicked");
    });
}

/// A labels file (`import-labels`), CSV or JSON Lines, parsed into rows.
pub fn labels(bytes: &[u8], jsonl: bool) {
    if let Ok((rows, bad)) = crate::ingest::labels::parse(bytes, jsonl) {
        assert!(rows + bad.len() <= bytes.len() + 1);
    }
}

/// A box file of a detect project (`import-labels`): COCO JSON (first byte 0 mod 3), one
/// Pascal VOC XML file (1) or one YOLO label file (2), parsed into images and boxes.
pub fn boxes(bytes: &[u8], format: u8) {
    use crate::ingest::BoxFormat;
    let format = match format % 3 {
        0 => BoxFormat::Coco,
        1 => BoxFormat::Voc,
        _ => BoxFormat::Yolo,
    };
    if let Ok((images, boxes, bad)) = crate::ingest::detections::parse(bytes, format) {
        // Every image, box and bad entry comes from bytes of the input.
        assert!(images + boxes + bad.len() <= bytes.len() + 1);
    }
}

/// A project file: opened, and if it opens, checked, summed up, its log read and its
/// samples validated. A damaged or hostile file must give errors, never a panic.
pub fn project_file(bytes: &[u8]) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "keylabel-fuzz-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    if std::fs::create_dir(&dir).is_err() {
        return;
    }
    let path: PathBuf = dir.join("p.keylabel");
    if std::fs::write(&path, bytes).is_ok()
        && let Ok(project) = crate::Project::open(&path)
    {
        let _ = project.damage(true);
        let _ = project.status();
        let _ = project.history(None);
        let options = crate::validate::Options {
            near_duplicates: false,
            ..crate::validate::Options::default()
        };
        let _ = crate::validate::validate(&project, &options);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
