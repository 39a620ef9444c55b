//! Validation on real projects: images written with the `image` crate into a temporary
//! folder, text rows, labels recorded through the event log, and the real binary.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use crate::common::{image_sample_of, images};
use image::{GrayImage, ImageFormat, Rgb, RgbImage};
use keylabel::TaskKind;
use keylabel::project::{
    ClassId, ConsensusPolicy, EventKind, NewEvent, NewSample, Project, SampleId, SampleKind,
};
use keylabel::validate::{Options, Report, Severity, drift_distances, validate};
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------
// Helpers

fn png_bytes(img: &image::DynamicImage) -> Vec<u8> {
    let mut buf = Cursor::new(Vec::new());
    img.write_to(&mut buf, ImageFormat::Png).unwrap();
    buf.into_inner()
}

struct Fixture {
    dir: TempDir,
    project: Project,
}

impl Fixture {
    fn new(classes: &[&str]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let project = Project::create(
            &dir.path().join("pets.keylabel"),
            &classes.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            TaskKind::SingleLabel,
        )
        .unwrap();
        Fixture { dir, project }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `bytes` to `name` (sub-folders created) and imports it as an image sample,
    /// recording what the import would: BLAKE3 hex, size, dimensions, format.
    fn add_image(&mut self, name: &str, bytes: &[u8]) -> SampleId {
        let file = self.path(name);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, bytes).unwrap();
        let sample = image_sample_of(&self.project, &file, bytes);
        self.insert(sample)
    }

    fn add_photo(&mut self, name: &str, seed: u64) -> SampleId {
        self.add_image(name, &images::jpeg(&images::photo(160, 120, seed), 90))
    }

    fn add_text(&mut self, name: &str, text: &str) -> SampleId {
        let hash = blake3::hash(format!("{name}\u{0}{text}").as_bytes())
            .to_hex()
            .to_string();
        self.insert(NewSample {
            kind: SampleKind::Text,
            name: name.into(),
            path: "rows.csv".into(),
            row: Some(1),
            hash,
            sha256: None,
            bytes: text.len() as u64,
            width: None,
            height: None,
            format: None,
            text: Some(text.into()),
            features: None,
        })
    }

    fn insert(&mut self, sample: NewSample) -> SampleId {
        match self.project.insert_samples(&[sample]).unwrap()[0] {
            keylabel::project::InsertOutcome::Added(id) => id,
            other => panic!("not added: {other:?}"),
        }
    }

    fn class(&self, name: &str) -> ClassId {
        self.project.class_by_name(name).unwrap().unwrap().id
    }

    fn label(&mut self, id: SampleId, annotator: &str, class: &str) {
        let c = self.class(class);
        self.project
            .record(NewEvent::label(id, annotator, vec![c]))
            .unwrap();
    }

    fn event(&mut self, id: SampleId, annotator: &str, kind: EventKind) {
        self.project
            .record(NewEvent::new(id, annotator, kind))
            .unwrap();
    }

    fn validate(&self) -> Report {
        self.validate_with(&Options::default())
    }

    fn validate_with(&self, options: &Options) -> Report {
        let report = validate(&self.project, options).unwrap();
        self.project.integrity_check().unwrap();
        report
    }

    fn set_validation(&self, f: impl FnOnce(&mut keylabel::project::ValidationSettings)) {
        let mut s = self.project.settings().unwrap();
        f(&mut s.validation);
        self.project.set_settings(&s).unwrap();
    }
}

fn has(report: &Report, code: &str) -> bool {
    report.finding(code).is_some()
}

fn perceptual_rows(project: &Project) -> i64 {
    keylabel_testkit::fixtures::sql(project)
        .query_row("SELECT count(*) FROM perceptual_hashes", [], |r| r.get(0))
        .unwrap()
}

/// A labeled image project with no problem: `n` photos per class.
fn clean_images(n: u64) -> Fixture {
    let mut f = Fixture::new(&["cat", "dog"]);
    for i in 0..n {
        let id = f.add_photo(&format!("cats/cat {i}.jpg"), 100 + i);
        f.label(id, "ann", "cat");
        let id = f.add_photo(&format!("dogs/dög_{i}.jpg"), 200 + i);
        f.label(id, "ann", "dog");
    }
    f
}

// ---------------------------------------------------------------------------------------
// A clean project

#[test]
fn a_clean_project_has_no_findings() {
    let f = clean_images(3);
    let report = f.validate();
    assert!(report.ok);
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
}

// ---------------------------------------------------------------------------------------
// Errors

#[test]
fn unlabeled_and_skipped_samples_block_unless_only_labeled() {
    let mut f = clean_images(2);
    let unlabeled = f.add_photo("new/fresh.jpg", 900);
    let skipped = f.add_photo("new/skipped.jpg", 901);
    f.event(skipped, "ann", EventKind::Skip);
    let excluded = f.add_photo("new/excluded.jpg", 902);
    f.event(excluded, "ann", EventKind::Exclude);

    let report = f.validate();
    assert!(!report.ok);
    let finding = report.finding("UNLABELED_SAMPLES").unwrap();
    assert_eq!(finding.severity, Severity::Error);
    assert_eq!(finding.count, 2);
    assert_eq!(finding.samples, vec!["new/fresh.jpg", "new/skipped.jpg"]);

    let report = f.validate_with(&Options {
        only_labeled: true,
        ..Options::default()
    });
    assert!(report.ok);
    assert_eq!(
        report.finding("UNLABELED_SAMPLES").unwrap().severity,
        Severity::Warning
    );

    f.label(unlabeled, "ann", "cat");
    f.label(skipped, "ann", "dog");
    assert!(f.validate().ok);
}

#[test]
fn a_deleted_file_is_missing() {
    let mut f = clean_images(2);
    assert!(!has(&f.validate(), "MISSING_FILES"));
    std::fs::remove_file(f.path("cats/cat 1.jpg")).unwrap();
    // An excluded sample is never exported: its missing file is no error.
    let gone = f.add_photo("gone.jpg", 77);
    f.event(gone, "ann", EventKind::Exclude);
    std::fs::remove_file(f.path("gone.jpg")).unwrap();

    let report = f.validate();
    assert!(!report.ok);
    let finding = report.finding("MISSING_FILES").unwrap();
    assert_eq!(finding.severity, Severity::Error);
    assert_eq!(finding.count, 1);
    assert_eq!(finding.samples, vec!["cats/cat 1.jpg"]);
    assert!(!has(&report, "CHANGED_FILES") && !has(&report, "UNREADABLE_SAMPLES"));
}

#[test]
fn overwritten_bytes_are_a_changed_file() {
    let f = clean_images(2);
    assert!(!has(&f.validate(), "CHANGED_FILES"));
    // Another valid image under the same name.
    std::fs::write(
        f.path("dogs/dög_0.jpg"),
        images::jpeg(&images::photo(160, 120, 5), 90),
    )
    .unwrap();
    let report = f.validate();
    let finding = report.finding("CHANGED_FILES").unwrap();
    assert_eq!(finding.severity, Severity::Error);
    assert_eq!(finding.samples, vec!["dogs/dög_0.jpg"]);
    assert!(!has(&report, "UNREADABLE_SAMPLES"));
    assert!(!report.ok);
}

#[test]
fn a_second_validation_trusts_unchanged_stamps_only() {
    let f = clean_images(3);
    assert!(f.validate().ok);
    let rows: i64 = keylabel_testkit::fixtures::sql(&f.project)
        .query_row("SELECT count(*) FROM file_checks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 6, "every intact file is remembered");

    // The second run takes the remembered result instead of reading the file: a row
    // tampered with (a pixel count no file has) shows through as a size outlier, while
    // `rehash` reads the file, does not see it and puts the true row back.
    keylabel_testkit::fixtures::sql(&f.project)
        .execute(
            "UPDATE file_checks SET pixels = 4000000000 WHERE sample_id = \
             (SELECT id FROM samples WHERE name = 'cats/cat 0.jpg')",
            [],
        )
        .unwrap();
    let trusted = f.validate();
    assert_eq!(
        trusted.finding("SIZE_OUTLIERS").unwrap().samples,
        vec!["cats/cat 0.jpg"]
    );
    let reread = f.validate_with(&Options {
        rehash: true,
        ..Options::default()
    });
    assert!(!has(&reread, "SIZE_OUTLIERS"), "{:#?}", reread.findings);
    assert!(!has(&f.validate(), "SIZE_OUTLIERS"));

    // Same length, one byte different, modification time set back: the status-change
    // time still tells, and the change is found.
    let path = f.path("dogs/dög_1.jpg");
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&path, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
    let report = f.validate();
    assert_eq!(
        report.finding("CHANGED_FILES").unwrap().samples,
        vec!["dogs/dög_1.jpg"]
    );
    assert!(!report.ok);
}

#[test]
fn truncated_and_corrupt_files_are_unreadable() {
    let mut f = clean_images(2);
    assert!(!has(&f.validate(), "UNREADABLE_SAMPLES"));

    // Cut after import: changed and unreadable.
    let file = f.path("cats/cat 0.jpg");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();

    // Imported already cut short (the hash matches): only the structural test sees it.
    let whole = images::jpeg(&images::photo(160, 120, 31), 90);
    let cut = f.add_image("cut.jpg", &whole[..whole.len() * 2 / 3]);
    f.label(cut, "ann", "cat");
    let png = png_bytes(&image::DynamicImage::ImageRgb8(images::photo(64, 48, 32)));
    let cut_png = f.add_image("cut.png", &png[..png.len() - 40]);
    f.label(cut_png, "ann", "dog");

    // Whole JPEGs followed by other data (as phones append a second picture or a video)
    // are readable, even when that data holds bytes that look like a JPEG scan start.
    let mut tailed = images::jpeg(&images::photo(160, 120, 33), 90);
    tailed.extend_from_slice(b"\xFF\xDAappended data that is not part of the picture");
    tailed.extend((0..5000u32).map(|i| (i * 7 % 251) as u8));
    let t = f.add_image("tailed.jpg", &tailed);
    f.label(t, "ann", "cat");

    // Not an image at all.
    std::fs::write(
        f.path("dogs/dög_1.jpg"),
        b"this is a text file, not a picture",
    )
    .unwrap();

    let report = f.validate_with(&Options {
        near_duplicates: false,
        ..Options::default()
    });
    let finding = report.finding("UNREADABLE_SAMPLES").unwrap();
    assert_eq!(finding.severity, Severity::Error);
    assert_eq!(finding.count, 4, "{finding:#?}");
    let mut names = finding.samples.clone();
    names.sort();
    assert_eq!(
        names,
        vec!["cats/cat 0.jpg", "cut.jpg", "cut.png", "dogs/dög_1.jpg"]
    );
    assert!(
        finding.message.contains("cannot be read"),
        "{}",
        finding.message
    );
    // The two files changed on disk are also CHANGED_FILES; the two cut at import are not.
    let mut changed = report.finding("CHANGED_FILES").unwrap().samples.clone();
    changed.sort();
    assert_eq!(changed, vec!["cats/cat 0.jpg", "dogs/dög_1.jpg"]);
}

#[test]
fn disagreement_is_an_error_until_a_review_decides() {
    let mut f = clean_images(2);
    let id = f.add_photo("both.jpg", 55);
    f.label(id, "ann", "cat");
    f.label(id, "bob", "cat");
    assert!(f.validate().ok, "agreeing annotators are fine");

    let contested = f.add_photo("contested.jpg", 56);
    f.label(contested, "ann", "cat");
    f.label(contested, "bob", "dog");
    let report = f.validate();
    let finding = report.finding("UNRESOLVED_DISAGREEMENTS").unwrap();
    assert_eq!(finding.severity, Severity::Error);
    assert_eq!(finding.count, 1);
    assert_eq!(finding.samples, vec!["contested.jpg"]);
    assert!(!report.ok);

    let dog = f.class("dog");
    let mut review = NewEvent::new(contested, "rev", EventKind::Review);
    review.labels = vec![dog];
    f.project.record(review).unwrap();
    let report = f.validate();
    assert!(!has(&report, "UNRESOLVED_DISAGREEMENTS"));
    assert!(report.ok, "{:#?}", report.findings);
}

#[test]
fn majority_policy_settles_a_two_to_one_vote() {
    let mut f = clean_images(2);
    let id = f.add_photo("vote.jpg", 57);
    f.label(id, "a", "cat");
    f.label(id, "b", "cat");
    f.label(id, "c", "dog");
    assert!(has(&f.validate(), "UNRESOLVED_DISAGREEMENTS"));
    let mut s = f.project.settings().unwrap();
    s.consensus = ConsensusPolicy::Majority;
    f.project.set_settings(&s).unwrap();
    assert!(f.validate().ok);
}

/// Two copies of a project each imported one of two files with identical bytes under
/// different names; merging them gives two samples with one content hash.
fn merged_duplicates(label_a: &str, label_b: &str) -> Fixture {
    let mut f = clean_images(2);
    let bytes = images::jpeg(&images::photo(160, 120, 4242), 90);
    let a = f.add_image("copies/a.jpg", &bytes);
    f.label(a, "ann", label_a);

    let other_path = f.path("other.keylabel");
    let mut other = Project::create(
        &other_path,
        &["cat".to_string(), "dog".to_string()],
        TaskKind::SingleLabel,
    )
    .unwrap();
    let file = f.path("copies/b.jpg");
    std::fs::write(&file, &bytes).unwrap();
    let sample = image_sample_of(&other, &file, &bytes);
    let b = match other.insert_samples(&[sample]).unwrap()[0] {
        keylabel::project::InsertOutcome::Added(id) => id,
        o => panic!("{o:?}"),
    };
    let class = other.class_by_name(label_b).unwrap().unwrap().id;
    other
        .record(NewEvent::label(b, "bob", vec![class]))
        .unwrap();
    drop(other);
    f.project.merge_from(&other_path).unwrap();
    f.project.integrity_check().unwrap();
    f
}

#[test]
fn identical_content_with_different_labels_conflicts() {
    let f = merged_duplicates("cat", "dog");
    let report = f.validate();
    let finding = report.finding("CONFLICTING_DUPLICATES").unwrap();
    assert_eq!(finding.severity, Severity::Error);
    assert_eq!(finding.count, 2);
    assert_eq!(finding.samples, vec!["copies/a.jpg", "copies/b.jpg"]);
    assert!(!has(&report, "DUPLICATE_SAMPLES"));
    // Identical files are duplicates, not near-duplicates.
    assert!(!has(&report, "NEAR_DUPLICATES"), "{:#?}", report.findings);
    assert!(!report.ok);
}

#[test]
fn identical_content_with_one_label_is_a_warning() {
    let f = merged_duplicates("cat", "cat");
    let report = f.validate();
    let finding = report.finding("DUPLICATE_SAMPLES").unwrap();
    assert_eq!(finding.severity, Severity::Warning);
    assert_eq!(finding.count, 2);
    assert!(!has(&report, "CONFLICTING_DUPLICATES"));
    assert!(report.ok, "{:#?}", report.findings);
}

#[test]
fn an_archived_class_is_outside_the_schema() {
    let mut f = Fixture::new(&["cat", "dog", "bird"]);
    for (i, class) in ["cat", "cat", "dog", "dog", "bird"].iter().enumerate() {
        let id = f.add_text(&format!("row{i}"), "some text");
        f.label(id, "ann", class);
    }
    let report = f.validate();
    assert!(!has(&report, "LABEL_OUTSIDE_SCHEMA"));
    f.project.archive_class("bird").unwrap();
    let report = f.validate();
    let finding = report.finding("LABEL_OUTSIDE_SCHEMA").unwrap();
    assert_eq!(finding.severity, Severity::Error);
    assert_eq!(finding.count, 1);
    assert_eq!(finding.samples, vec!["row4"]);
    assert!(
        finding.message.contains("`bird` (archived)"),
        "{}",
        finding.message
    );
    assert!(!report.ok);
    // An excluded sample is not exported, so its label does not matter.
    let row4 = f.project.sample_by_name("row4").unwrap().unwrap().id;
    f.event(row4, "ann", EventKind::Exclude);
    assert!(!has(&f.validate(), "LABEL_OUTSIDE_SCHEMA"));
}

// ---------------------------------------------------------------------------------------
// Warnings

#[test]
fn near_duplicates_are_found_and_cached() {
    let mut f = clean_images(3);
    let report = f.validate();
    assert!(!has(&report, "NEAR_DUPLICATES"), "{:#?}", report.findings);
    assert_eq!(perceptual_rows(&f.project), 6);

    // A brightened copy, re-encoded at another quality.
    let original = images::photo(160, 120, 100);
    let brighter = RgbImage::from_fn(160, 120, |x, y| {
        Rgb(original.get_pixel(x, y).0.map(|v| v.saturating_add(18)))
    });
    let copy = f.add_image("copies/cat 0 brighter.jpg", &images::jpeg(&brighter, 70));
    f.label(copy, "ann", "cat");
    // And a half-size PNG of another photo.
    let dog = image::DynamicImage::ImageRgb8(images::photo(160, 120, 201)).resize_exact(
        80,
        60,
        image::imageops::FilterType::Triangle,
    );
    let small = f.add_image("copies/dog 1 small.png", &png_bytes(&dog));
    f.label(small, "ann", "dog");

    let report = f.validate();
    let finding = report.finding("NEAR_DUPLICATES").unwrap();
    assert_eq!(finding.severity, Severity::Warning);
    assert_eq!(finding.count, 4, "{finding:#?}");
    assert_eq!(
        finding.samples,
        vec![
            "cats/cat 0.jpg",
            "copies/cat 0 brighter.jpg",
            "dogs/dög_1.jpg",
            "copies/dog 1 small.png"
        ]
    );
    assert!(report.ok);
    assert_eq!(perceptual_rows(&f.project), 8);

    // The second run reads the cache: no new rows, and a hash planted in the cache is
    // what the check compares (the file is not hashed again).
    let before: i64 = perceptual_rows(&f.project);
    let planted: i64 = keylabel_testkit::fixtures::sql(&f.project)
        .query_row(
            "SELECT phash FROM perceptual_hashes p JOIN samples s ON s.id = p.sample_id \
             WHERE s.name = 'cats/cat 2.jpg'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    keylabel_testkit::fixtures::sql(&f.project)
        .execute(
            "UPDATE perceptual_hashes SET phash = ?1 WHERE sample_id = \
             (SELECT id FROM samples WHERE name = 'dogs/dög_2.jpg')",
            [planted],
        )
        .unwrap();
    let report = f.validate();
    assert_eq!(perceptual_rows(&f.project), before);
    let finding = report.finding("NEAR_DUPLICATES").unwrap();
    assert_eq!(finding.count, 6);
    assert!(finding.samples.contains(&"dogs/dög_2.jpg".to_string()));

    // A changed file is hashed again: its row is replaced, keyed by the new content.
    std::fs::write(
        f.path("dogs/dög_2.jpg"),
        images::jpeg(&images::photo(160, 120, 999), 90),
    )
    .unwrap();
    let report = f.validate();
    assert_eq!(perceptual_rows(&f.project), before);
    assert_eq!(report.finding("NEAR_DUPLICATES").unwrap().count, 4);
    let new_hash = blake3::hash(&std::fs::read(f.path("dogs/dög_2.jpg")).unwrap())
        .to_hex()
        .to_string();
    let cached_for: String = keylabel_testkit::fixtures::sql(&f.project)
        .query_row(
            "SELECT content_hash FROM perceptual_hashes WHERE sample_id = \
             (SELECT id FROM samples WHERE name = 'dogs/dög_2.jpg')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(cached_for, new_hash);
}

#[test]
fn near_duplicate_pass_can_be_skipped() {
    let mut f = clean_images(1);
    let copy = f.add_image("copy.jpg", &images::jpeg(&images::photo(160, 120, 100), 60));
    f.label(copy, "ann", "cat");
    let report = f.validate_with(&Options {
        near_duplicates: false,
        ..Options::default()
    });
    assert!(!has(&report, "NEAR_DUPLICATES"));
    assert_eq!(perceptual_rows(&f.project), 0);
    assert!(has(&f.validate(), "NEAR_DUPLICATES"));
}

#[test]
fn near_duplicates_respect_the_distance_setting() {
    let mut f = clean_images(2);
    let copy = f.add_image("copy.jpg", &images::jpeg(&images::photo(160, 120, 100), 60));
    f.label(copy, "ann", "cat");
    assert!(has(&f.validate(), "NEAR_DUPLICATES"));
    // Different images are far apart: even a generous distance does not join them.
    f.set_validation(|v| v.near_duplicate_distance = 8);
    assert_eq!(f.validate().finding("NEAR_DUPLICATES").unwrap().count, 2);
}

fn text_project(counts: &[(&str, usize)]) -> Fixture {
    let names: Vec<&str> = counts.iter().map(|(c, _)| *c).collect();
    let mut f = Fixture::new(&names);
    let mut row = 0;
    for (class, n) in counts {
        for _ in 0..*n {
            let id = f.add_text(&format!("reviews.csv#{row}"), &format!("text number {row}"));
            row += 1;
            if *n > 0 {
                f.label(id, "ann", class);
            }
        }
    }
    f
}

#[test]
fn imbalance_rare_and_empty_classes() {
    let f = text_project(&[("cat", 11), ("dog", 1), ("bird", 0), ("fish", 0)]);
    let report = f.validate();
    assert!(report.ok);

    let imbalance = report.finding("CLASS_IMBALANCE").unwrap();
    assert_eq!(imbalance.severity, Severity::Warning);
    assert!(
        imbalance.message.contains("11.0 times"),
        "{}",
        imbalance.message
    );

    let rare = report.finding("RARE_CLASS").unwrap();
    assert_eq!(rare.count, 1);
    assert!(rare.message.contains("`dog` (1)"), "{}", rare.message);
    assert_eq!(rare.samples, vec!["reviews.csv#11"]);

    let empty = report.finding("EMPTY_CLASS").unwrap();
    assert_eq!(empty.count, 2);
    assert!(
        empty.message.contains("`bird`, `fish`"),
        "{}",
        empty.message
    );

    // Three splits make a class of two rare too.
    let f = text_project(&[("cat", 5), ("dog", 2)]);
    assert!(!has(&f.validate(), "RARE_CLASS"));
    let report = f.validate_with(&Options {
        splits: 3,
        ..Options::default()
    });
    assert_eq!(report.finding("RARE_CLASS").unwrap().count, 1);
    assert!(!has(&report, "CLASS_IMBALANCE") && !has(&report, "EMPTY_CLASS"));

    // At the ratio limit there is no imbalance; above it there is.
    let f = text_project(&[("cat", 10), ("dog", 1)]);
    assert!(!has(&f.validate(), "CLASS_IMBALANCE"));
    f.set_validation(|v| v.imbalance_ratio = 9.5);
    assert!(has(&f.validate(), "CLASS_IMBALANCE"));
}

#[test]
fn drift_against_the_previous_export() {
    // Hand-computed: P = (0.5, 0.5), Q = (0.75, 0.25), M = (0.625, 0.375).
    // L∞ = 0.25; JS = ½·KL(P‖M) + ½·KL(Q‖M) (log₂) = 0.048794940695…
    let p: BTreeMap<String, f64> = [("cat".into(), 50.0), ("dog".into(), 50.0)].into();
    let q: BTreeMap<String, f64> = [("cat".into(), 3.0), ("dog".into(), 1.0)].into();
    let d = drift_distances(&p, &q).unwrap();
    assert!((d.linf - 0.25).abs() < 1e-12, "{d:?}");
    assert!((d.js - 0.048_794_940_695_398_5).abs() < 1e-12, "{d:?}");
    assert_eq!(d.worst.as_deref(), Some("cat"));
    // Over the union of classes: a new class has share 0 before.
    // P = (½, ½, 0), Q = (¼, ¼, ½): L∞ = 0.5, JS = 0.311278124459…
    let p: BTreeMap<String, f64> = [("cat".into(), 2.0), ("dog".into(), 2.0)].into();
    let q: BTreeMap<String, f64> = [
        ("cat".into(), 1.0),
        ("dog".into(), 1.0),
        ("bird".into(), 2.0),
    ]
    .into();
    let d = drift_distances(&p, &q).unwrap();
    assert!((d.linf - 0.5).abs() < 1e-12 && (d.js - 0.311_278_124_459_132_8).abs() < 1e-12);

    let f = text_project(&[("cat", 3), ("dog", 1)]);
    f.set_validation(|v| v.imbalance_ratio = 100.0);
    assert!(
        !has(&f.validate(), "LABEL_DRIFT"),
        "no previous export, no drift"
    );

    f.project
        .set_setting_value(
            "last_export",
            &serde_json::json!({"classes": {"cat": 50, "dog": 50}, "total": 100}),
        )
        .unwrap();
    let report = f.validate();
    let finding = report.finding("LABEL_DRIFT").unwrap();
    assert_eq!(finding.severity, Severity::Warning);
    assert_eq!(finding.count, 2);
    assert!(
        finding.message.contains("L-infinity distance 0.2500"),
        "{}",
        finding.message
    );
    assert!(
        finding.message.contains("Jensen-Shannon divergence 0.0488"),
        "{}",
        finding.message
    );
    assert!(
        finding.message.contains("`cat` went from 50.0% to 75.0%"),
        "{}",
        finding.message
    );
    assert!(report.ok);

    // Below both thresholds: no finding.
    f.set_validation(|v| {
        v.drift_linf = 0.3;
        v.drift_js = 0.05;
    });
    assert!(!has(&f.validate(), "LABEL_DRIFT"));
    // Either threshold alone triggers it.
    f.set_validation(|v| {
        v.drift_linf = 0.3;
        v.drift_js = 0.04;
    });
    assert!(has(&f.validate(), "LABEL_DRIFT"));
    // The same distribution as exported: no drift.
    f.project
        .set_setting_value(
            "last_export",
            &serde_json::json!({"classes": {"cat": 300, "dog": 100}, "total": 400}),
        )
        .unwrap();
    assert!(!has(&f.validate(), "LABEL_DRIFT"));
}

#[test]
fn size_and_colour_outliers() {
    let mut f = clean_images(3);
    assert!(!has(&f.validate(), "SIZE_OUTLIERS"));

    // 256 times the median pixel count.
    let big = f.add_image("huge.jpg", &images::jpeg(&images::photo(2560, 1920, 7), 80));
    f.label(big, "ann", "cat");
    let report = f.validate();
    let finding = report.finding("SIZE_OUTLIERS").unwrap();
    assert_eq!(finding.severity, Severity::Warning);
    assert_eq!(finding.samples, vec!["huge.jpg"]);
    assert!(
        finding.message.contains("median of 19200 pixels"),
        "{}",
        finding.message
    );

    // One grayscale image among colour ones.
    let gray = GrayImage::from_fn(160, 120, |x, y| {
        image::Luma([((x * 7 + y * 3) % 256) as u8])
    });
    let g = f.add_image(
        "gray.png",
        &png_bytes(&image::DynamicImage::ImageLuma8(gray)),
    );
    f.label(g, "ann", "dog");
    // Default: a colour type held by under 5% of the images; here 1 of 8.
    assert!(
        !f.validate()
            .finding("SIZE_OUTLIERS")
            .unwrap()
            .samples
            .contains(&"gray.png".to_string())
    );
    f.set_validation(|v| v.colour_outlier_fraction = 0.2);
    let report = f.validate();
    let finding = report.finding("SIZE_OUTLIERS").unwrap();
    assert_eq!(finding.count, 2);
    assert_eq!(finding.samples, vec!["huge.jpg", "gray.png"]);
    assert!(finding.message.contains("L8") && finding.message.contains("Rgb8"));
}

#[test]
fn empty_and_whitespace_text() {
    let mut f = Fixture::new(&["pos", "neg"]);
    for (i, text) in ["fine film", "", "  \t\n ", "\u{3000}\u{a0}", "ok"]
        .iter()
        .enumerate()
    {
        let id = f.add_text(&format!("r{i}"), text);
        f.label(id, "ann", if i % 2 == 0 { "pos" } else { "neg" });
    }
    let excluded = f.add_text("r9", " ");
    f.event(excluded, "ann", EventKind::Exclude);
    let report = f.validate();
    let finding = report.finding("EMPTY_TEXT").unwrap();
    assert_eq!(finding.severity, Severity::Warning);
    assert_eq!(finding.count, 3);
    assert_eq!(finding.samples, vec!["r1", "r2", "r3"]);
    assert!(report.ok);
}

#[test]
fn low_agreement_from_a_given_alpha() {
    let f = text_project(&[("cat", 3), ("dog", 3)]);
    let with = |alpha| Options {
        agreement_alpha: alpha,
        ..Options::default()
    };
    let report = f.validate_with(&with(Some(0.41)));
    let finding = report.finding("LOW_AGREEMENT").unwrap();
    assert_eq!(finding.severity, Severity::Warning);
    assert!(finding.message.contains("0.410"));
    assert!(!has(&f.validate_with(&with(Some(0.8))), "LOW_AGREEMENT"));
    assert!(!has(&f.validate_with(&with(None)), "LOW_AGREEMENT"));
}

// ---------------------------------------------------------------------------------------
// The project file

#[test]
fn a_version_1_project_is_migrated() {
    let f = clean_images(1);
    let path = f.project.path().to_path_buf();
    drop(f.project);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "{}{}",
            keylabel_testkit::fixtures::BEFORE_BOXES,
            "DROP TABLE sample_aliases; DROP TABLE sent_back_labels; DROP TABLE file_checks; \
             DROP INDEX samples_hash_key; ALTER TABLE samples DROP COLUMN hash_key; \
             CREATE INDEX samples_hash ON samples(hash); \
             DROP TABLE perceptual_hashes; DROP INDEX samples_empty_text; \
             PRAGMA user_version = 1;"
        ))
        .unwrap();
    }
    let project = Project::open(&path).unwrap();
    let version: i64 = keylabel_testkit::fixtures::sql(&project)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, keylabel::project::schema::SCHEMA_VERSION);
    let report = validate(&project, &Options::default()).unwrap();
    assert!(report.ok);
    assert_eq!(perceptual_rows(&project), 2);
    project.integrity_check().unwrap();
    drop(f.dir);
}

#[test]
fn a_read_only_project_validates_without_caching() {
    let mut f = clean_images(1);
    let copy = f.add_image("copy.jpg", &images::jpeg(&images::photo(160, 120, 100), 60));
    f.label(copy, "ann", "cat");
    let path = f.project.path().to_path_buf();
    let ro = Project::open_read_only(&path).unwrap();
    let report = validate(&ro, &Options::default()).unwrap();
    assert!(has(&report, "NEAR_DUPLICATES"));
    assert_eq!(perceptual_rows(&f.project), 0);
}

// ---------------------------------------------------------------------------------------
// The command line

fn keylabel(project: &Path, args: &[&str]) -> std::process::Output {
    crate::common::cli().project(project).run(args)
}

#[test]
fn cli_exit_codes_and_json() {
    let mut f = clean_images(2);
    let path = f.project.path().to_path_buf();

    let out = keylabel(&path, &["validate", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json, serde_json::json!({"ok": true, "findings": []}));
    // The same with every file read again.
    let out = keylabel(&path, &["validate", "--rehash", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json, serde_json::json!({"ok": true, "findings": []}));

    std::fs::remove_file(f.path("cats/cat 0.jpg")).unwrap();
    let extra = f.add_text("notes.csv#1", "   ");
    f.label(extra, "ann", "dog");
    let out = keylabel(&path, &["validate", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ok"], false);
    let findings = json["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 2, "{json:#}");
    let missing = &findings[0];
    assert_eq!(missing["code"], "MISSING_FILES");
    assert_eq!(missing["severity"], "error");
    assert_eq!(missing["count"], 1);
    assert!(
        missing["message"]
            .as_str()
            .unwrap()
            .contains("no longer exist")
    );
    assert_eq!(missing["samples"], serde_json::json!(["cats/cat 0.jpg"]));
    let keys: Vec<&String> = missing.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 5);
    assert_eq!(findings[1]["code"], "EMPTY_TEXT");
    assert_eq!(findings[1]["severity"], "warning");

    let out = keylabel(&path, &["validate"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let errors_at = text.find("Errors:").unwrap();
    let warnings_at = text.find("Warnings:").unwrap();
    assert!(errors_at < text.find("MISSING_FILES (1)").unwrap());
    assert!(warnings_at < text.find("EMPTY_TEXT (1)").unwrap());
    assert!(text.contains("cats/cat 0.jpg"));
    assert!(text.starts_with("1 error and 1 warning"), "{text}");

    // Excluding the sample whose file is gone leaves only the warning: exit 0.
    let id = f
        .project
        .sample_by_name("cats/cat 0.jpg")
        .unwrap()
        .unwrap()
        .id;
    f.event(id, "ann", EventKind::Exclude);
    let out = keylabel(&path, &["validate"]);
    assert_eq!(out.status.code(), Some(0));

    // A missing project is a clear error, not a panic.
    let out = keylabel(&f.path("nope.keylabel"), &["validate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

/// A sample's file replaced by a named pipe, or by a link to a device that never ends (a
/// shared project can name any path): validation, export and the viewer's decoder report
/// it and go on, without waiting on the pipe or reading the device.
#[test]
fn a_sample_file_that_became_a_pipe_or_a_device_is_unreadable_not_waited_on() {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    for i in 0..3 {
        images::save(
            &root.join(format!("img/{i}.png")),
            images::pattern(8, 8, i),
            ImageFormat::Png,
        );
    }
    let cli = crate::common::cli()
        .cwd(root)
        .project(root.join("p.keylabel"));
    cli.ok(&["init", "--classes", "cat,dog"]);
    cli.ok(&["import", "img"]);
    std::fs::write(
        root.join("labels.csv"),
        "sample,label\nimg/0.png,cat\nimg/1.png,dog\nimg/2.png,cat\n",
    )
    .unwrap();
    cli.ok(&["import-labels", "labels.csv"]);
    std::fs::remove_file(root.join("img/0.png")).unwrap();
    let fifo = std::ffi::CString::new(root.join("img/0.png").into_os_string().into_encoded_bytes())
        .unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    std::fs::remove_file(root.join("img/1.png")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", root.join("img/1.png")).unwrap();

    let limit = std::time::Duration::from_secs(60);
    let out = cli.run_within(&["validate", "--json"], limit);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "UNREADABLE_SAMPLES")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(
        finding["samples"],
        serde_json::json!(["img/0.png", "img/1.png"])
    );
    let out = cli.run_within(&["export", "--format", "tfrecord", "--out", "out"], limit);
    assert!(!out.status.success());
    assert!(!root.join("out").exists());
    let out = cli.run_within(
        &[
            "export",
            "--format",
            "csv",
            "--out",
            "out",
            "--only-labeled",
        ],
        limit,
    );
    assert!(
        !out.status.success(),
        "the unreadable samples are errors still"
    );

    for name in ["0.png", "1.png"] {
        let started = std::time::Instant::now();
        let bytes = keylabel::media::read_file(&root.join("img").join(name));
        assert!(bytes.is_err(), "{name}");
        assert!(started.elapsed() < limit);
    }
    #[cfg(feature = "gui")]
    {
        let err = keylabel::app::loader::decode_file(&root.join("img/0.png"), 64)
            .err()
            .unwrap();
        assert!(err.contains("named pipe"), "{err}");
        let err = keylabel::app::loader::decode_file(&root.join("img/1.png"), 64)
            .err()
            .unwrap();
        assert!(err.contains("a device"), "{err}");
    }
}

/// Photos are hashed from their EXIF thumbnail when they carry one that matches them (as
/// phones write it), and that finds the same near-duplicate pairs as hashing every full
/// photo: on a set of 10 photos with 3 near-duplicates each (re-encoded, scaled down,
/// brightened), with and without thumbnails mixed, no pair of different photos is found
/// and at least as many true pairs as from the full photos.
#[test]
fn near_duplicates_found_from_exif_thumbnails_are_those_found_from_full_photos() {
    use keylabel::validate::phash::perceptual_hash;
    const BASES: u64 = 8;
    let distance = 4;
    // (base, variant, pixels)
    let mut images = Vec::new();
    for base in 0..BASES {
        let photo = images::photo(640, 480, base * 7919 + 3);
        let brighter = RgbImage::from_fn(640, 480, |x, y| {
            let p = photo.get_pixel(x, y);
            Rgb(p.0.map(|c| c.saturating_add(12)))
        });
        let smaller =
            image::imageops::resize(&photo, 480, 360, image::imageops::FilterType::Triangle);
        images.push((base, 0, photo.clone(), 92));
        images.push((base, 1, photo, 60));
        images.push((base, 2, smaller, 85));
        images.push((base, 3, brighter, 90));
    }
    let pairs = |hashes: &[u64]| -> BTreeMap<(usize, usize), u32> {
        let mut out = BTreeMap::new();
        for i in 0..hashes.len() {
            for j in i + 1..hashes.len() {
                let d = (hashes[i] ^ hashes[j]).count_ones();
                if d <= distance {
                    out.insert((i, j), d);
                }
            }
        }
        out
    };
    let full: Vec<u64> = images
        .iter()
        .map(|(_, _, img, q)| perceptual_hash(&images::jpeg(img, *q), ImageFormat::Jpeg).unwrap())
        .collect();
    // Every other file carries a thumbnail: pairs across the two kinds are compared too.
    let mixed: Vec<u64> = images
        .iter()
        .enumerate()
        .map(|(i, (_, _, img, q))| {
            let bytes = if i % 2 == 0 {
                let b = images::phone_jpeg(img, *q);
                assert!(keylabel::media::exif_thumbnail(&b).is_some());
                b
            } else {
                images::jpeg(img, *q)
            };
            perceptual_hash(&bytes, ImageFormat::Jpeg).unwrap()
        })
        .collect();
    let thumbs: Vec<u64> = images
        .iter()
        .map(|(_, _, img, q)| {
            perceptual_hash(&images::phone_jpeg(img, *q), ImageFormat::Jpeg).unwrap()
        })
        .collect();
    let expected: std::collections::BTreeSet<(usize, usize)> = (0..images.len())
        .flat_map(|i| (i + 1..images.len()).map(move |j| (i, j)))
        .filter(|&(i, j)| images[i].0 == images[j].0)
        .collect();
    let mut found_by: Vec<std::collections::BTreeSet<(usize, usize)>> = Vec::new();
    for (what, hashes) in [
        ("full photos", &full),
        ("mixed", &mixed),
        ("thumbnails", &thumbs),
    ] {
        let found: std::collections::BTreeSet<_> = pairs(hashes).keys().copied().collect();
        let wrong: Vec<_> = found.difference(&expected).collect();
        assert!(
            wrong.is_empty(),
            "{what}: pairs of different photos {wrong:?}"
        );
        eprintln!(
            "{what}: {} of {} near-duplicate pairs found",
            found.len(),
            expected.len()
        );
        found_by.push(found);
    }
    // The full-photo hash, the recipe before thumbnails, is the baseline: hashing from
    // thumbnails finds at least the pairs it finds, and so does a mix of the two kinds of
    // file (here each finds all 48; at 960×720 the thumbnails found 60 of 60 pairs, the
    // full photos and the mix 57).
    for (what, found) in ["mixed", "thumbnails"].iter().zip(&found_by[1..]) {
        assert!(
            found.len() >= found_by[0].len(),
            "{what}: {} pairs, the full photos {}",
            found.len(),
            found_by[0].len()
        );
    }
}
