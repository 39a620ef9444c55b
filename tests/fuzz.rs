//! The readers of untrusted input on arbitrary bytes: every input the coverage-guided
//! fuzzers (`scripts/fuzz`) found is kept in `tests/fixtures/fuzz/TARGET/` and run here,
//! and property tests feed each reader random bytes and mutations of real files. The
//! readers must return (an error is fine), never panic, hang or allocate without bound.
//!
//! `PROPTEST_CASES` sets the number of random cases (default 256 per property).

use std::path::{Path, PathBuf};

use keylabel::fuzzing;
use proptest::prelude::*;

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `target` on every kept input of `kind` (a target that never failed has no folder:
/// git keeps no empty ones).
fn replay(kind: &str, target: impl Fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(kind);
    if !dir.exists() {
        return 0;
    }
    let files = fixtures(&format!("fuzz/{kind}"));
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target(&bytes)));
        assert!(result.is_ok(), "{} makes the reader panic", file.display());
    }
    files.len()
}

/// `(first byte, rest)` as the row and label targets split their input.
fn split(bytes: &[u8], each: impl Fn(&[u8], bool)) {
    if let Some((&kind, rest)) = bytes.split_first() {
        each(rest, kind % 2 == 1);
    }
}

#[test]
fn every_input_the_fuzzers_found_is_handled() {
    let kept = replay("image", fuzzing::image)
        + replay("rows", |b| split(b, fuzzing::table))
        + replay("labels", |b| split(b, fuzzing::labels))
        + replay("project", fuzzing::project_file)
        + replay("boxes", |b| {
            if let Some((&kind, rest)) = b.split_first() {
                fuzzing::boxes(rest, kind)
            }
        });
    assert!(
        kept >= 1,
        "the regression inputs are in tests/fixtures/fuzz"
    );
}

#[test]
fn every_media_fixture_is_handled_whole_and_cut_at_every_length() {
    for file in fixtures("media") {
        let bytes = std::fs::read(&file).unwrap();
        fuzzing::image(&bytes);
        for end in (0..bytes.len()).step_by(bytes.len().div_ceil(64).max(1)) {
            fuzzing::image(&bytes[..end]);
        }
    }
}

/// `seed` with up to 8 bytes overwritten, a slice cut out and bytes inserted.
fn mutated(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = seed.len().max(1);
    (
        prop::collection::vec((0..len, any::<u8>()), 0..8),
        (0..len, 0..64usize),
        (0..len, prop::collection::vec(any::<u8>(), 0..16)),
    )
        .prop_map(move |(writes, (cut_at, cut_len), (insert_at, insert))| {
            let mut b = seed.clone();
            for (at, v) in writes {
                if at < b.len() {
                    b[at] = v;
                }
            }
            let cut_at = cut_at.min(b.len());
            let cut_end = (cut_at + cut_len).min(b.len());
            b.drain(cut_at..cut_end);
            let insert_at = insert_at.min(b.len());
            b.splice(insert_at..insert_at, insert);
            b
        })
}

fn media_seed() -> impl Strategy<Value = Vec<u8>> {
    let seeds: Vec<Vec<u8>> = fixtures("media")
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    prop::sample::select(seeds).prop_flat_map(mutated)
}

const CSV: &str = "id,text,stars,price\na,\"a quoted, text\",5,9.5\nb,plain,,\n\"c\nd\",x,1,2\n";
const JSONL: &str =
    "{\"id\":\"a\",\"text\":\"hi\",\"n\":1,\"f\":[1,2]}\n{\"id\":\"b\",\"text\":\"yo\"}\n";
const LABELS_CSV: &str = "sample,label,annotator,score\na,cat,ann,0.5\nb,cat|dog,,\n";
const LABELS_JSONL: &str = "{\"sample\":\"a\",\"label\":[\"cat\",\"dog\"],\"score\":0.9}\n";
const COCO: &str = "{\"images\":[{\"id\":1,\"file_name\":\"a.jpg\",\"width\":64,\"height\":48}],\
    \"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,10,12.5]}],\
    \"categories\":[{\"id\":1,\"name\":\"car\"}]}";
const VOC: &str = "<annotation><filename>a.jpg</filename><size><width>64</width>\
    <height>48</height></size><object><name>car</name><bndbox><xmin>1</xmin><ymin>1</ymin>\
    <xmax>10</xmax><ymax>12</ymax></bndbox></object></annotation>";
const YOLO: &str = "0 0.5 0.5 0.25 0.125\n2 0.1 0.2 0.05 0.05 0.7\n";

proptest! {
    #[test]
    fn mutated_images_are_handled(bytes in media_seed()) {
        fuzzing::image(&bytes);
    }

    #[test]
    fn random_bytes_as_an_image_are_handled(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        fuzzing::image(&bytes);
    }

    #[test]
    fn mutated_rows_are_handled(
        csv in mutated(CSV.as_bytes().to_vec()),
        jsonl in mutated(JSONL.as_bytes().to_vec()),
    ) {
        fuzzing::table(&csv, false);
        fuzzing::table(&jsonl, true);
        fuzzing::table(&csv, true);
        fuzzing::table(&jsonl, false);
    }

    #[test]
    fn mutated_label_files_are_handled(
        csv in mutated(LABELS_CSV.as_bytes().to_vec()),
        jsonl in mutated(LABELS_JSONL.as_bytes().to_vec()),
    ) {
        fuzzing::labels(&csv, false);
        fuzzing::labels(&jsonl, true);
    }

    #[test]
    fn mutated_box_files_are_handled(
        coco in mutated(COCO.as_bytes().to_vec()),
        voc in mutated(VOC.as_bytes().to_vec()),
        yolo in mutated(YOLO.as_bytes().to_vec()),
    ) {
        for format in 0..3 {
            fuzzing::boxes(&coco, format);
            fuzzing::boxes(&voc, format);
            fuzzing::boxes(&yolo, format);
        }
    }
}

/// A real project file, made once per test run.
fn project_seed() -> Vec<u8> {
    use std::sync::OnceLock;
    static SEED: OnceLock<Vec<u8>> = OnceLock::new();
    SEED.get_or_init(|| {
        let dir = tempfile::TempDir::new().unwrap();
        let cli = crate::common::cli()
            .cwd(dir.path())
            .project(dir.path().join("p.keylabel"));
        cli.ok(&["init", "--classes", "cat,dog,bird"]);
        std::fs::write(
            dir.path().join("rows.csv"),
            "id,text,n\na,one,1\nb,two,2\nc,three,3\n",
        )
        .unwrap();
        cli.ok(&["import", "rows.csv", "--id-column", "id"]);
        std::fs::write(
            dir.path().join("labels.csv"),
            "sample,label,annotator\na,cat,ann\nb,dog,ann\na,dog,bob\n",
        )
        .unwrap();
        cli.ok(&["import-labels", "labels.csv"]);
        std::fs::read(dir.path().join("p.keylabel")).unwrap()
    })
    .clone()
}

proptest! {
    // Each case writes a file and opens it with SQLite: fewer cases.
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn mutated_project_files_are_refused_or_read(
        writes in prop::collection::vec((0..110_592usize, any::<u8>()), 1..32),
    ) {
        let mut bytes = project_seed();
        let len = bytes.len();
        for (at, v) in writes {
            bytes[at % len] = v;
        }
        fuzzing::project_file(&bytes);
    }
}
