//! Export: TFRecord / CSV / JSON Lines written from real projects with real image files,
//! read back in Rust (and by TensorFlow itself when `KEYLABEL_PYTHON` names an interpreter
//! with `tensorflow` and `pandas`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use image::{ImageFormat, Rgb, RgbImage};
use keylabel::export::example::{Example, Kind};
use keylabel::export::tfrecord::{RecordReader, write_record};
use keylabel::export::{
    self, ExportError, ExportOptions, Format, Manifest, parse_splits, split_of,
};
use keylabel::progress::NoProgress;
use keylabel::project::{ClassId, EventKind, NewEvent, NewSample, SampleId};
use keylabel::{Project, TaskKind};
use keylabel_testkit::progress::Watch;
use proptest::prelude::*;
use prost::Message;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

const FORMATS: [(ImageFormat, &str, &str); 5] = [
    (ImageFormat::Png, "png", "png"),
    (ImageFormat::Jpeg, "jpeg", "jpg"),
    (ImageFormat::Gif, "gif", "gif"),
    (ImageFormat::Bmp, "bmp", "bmp"),
    (ImageFormat::WebP, "webp", "webp"),
];

/// A project with real image files of several formats and sizes under `root/images`,
/// in nested folders with spaces and non-ASCII names.
struct Fixture {
    dir: TempDir,
    project: Project,
    classes: Vec<ClassId>,
}

impl Fixture {
    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn out(&self, name: &str) -> PathBuf {
        self.root().join(name)
    }
}

fn new_project(classes: &[&str], task: TaskKind) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = classes.iter().map(|s| s.to_string()).collect();
    let project = Project::create(&dir.path().join("pets.keylabel"), &names, task).unwrap();
    let classes = project.classes().unwrap().iter().map(|c| c.id).collect();
    Fixture {
        dir,
        project,
        classes,
    }
}

/// Writes image `i` (distinct content, size and format by `i`) and inserts it.
fn add_image(f: &mut Fixture, i: usize) -> SampleId {
    let (fmt, fmt_name, ext) = FORMATS[i % FORMATS.len()];
    let folder = ["images/chats été", "images/dogs", "images/deep/nested b"][i % 3];
    let rel = format!("{folder}/img {i:03}.{ext}");
    let path = f.root().join(&rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let (w, h) = (8 + (i as u32 % 7) * 3, 6 + (i as u32 % 5) * 4);
    let img = RgbImage::from_fn(w, h, |x, y| {
        Rgb([(x * 13 + i as u32) as u8, (y * 29) as u8, (i * 7) as u8])
    });
    img.save_with_format(&path, fmt).unwrap();
    let sample = NewSample {
        name: rel,
        ..crate::common::image_sample(&f.project, &path)
    };
    assert_eq!(sample.format.as_deref(), Some(fmt_name));
    match f.project.insert_samples(&[sample]).unwrap()[0] {
        keylabel::project::InsertOutcome::Added(id) => id,
        other => panic!("image {i} not added: {other:?}"),
    }
}

fn label(f: &mut Fixture, id: SampleId, classes: &[usize]) {
    let ids = classes.iter().map(|&c| f.classes[c]).collect();
    f.project.record(NewEvent::label(id, "alice", ids)).unwrap();
}

/// `n` labeled images (class `i % 3`), plus one excluded image.
fn image_fixture(n: usize) -> Fixture {
    let mut f = new_project(&["cat", "dog", "bird"], TaskKind::SingleLabel);
    for i in 0..n {
        let id = add_image(&mut f, i);
        label(&mut f, id, &[i % 3]);
    }
    let excluded = add_image(&mut f, n);
    f.project
        .record(NewEvent::new(excluded, "alice", EventKind::Exclude).with_note("blurry"))
        .unwrap();
    f
}

fn multi_label_fixture(n: usize) -> Fixture {
    let mut f = new_project(
        &["indoor", "person", "animal", "vehicle"],
        TaskKind::MultiLabel,
    );
    for i in 0..n {
        let id = add_image(&mut f, i);
        let classes: Vec<usize> = (0..4)
            .filter(|c| (i >> c) & 1 == 1 || *c == i % 4)
            .collect();
        label(&mut f, id, &classes);
    }
    f
}

/// Table rows as the importer stores them: text plus typed columns, some null, one
/// column mixing ints and floats, one mixing numbers and text, one named like a key.
fn text_fixture(n: usize) -> Fixture {
    let mut f = new_project(&["negative", "positive"], TaskKind::SingleLabel);
    std::fs::write(f.root().join("reviews.csv"), "placeholder\n").unwrap();
    let mut batch = Vec::new();
    for i in 0..n {
        let text = format!(
            "review number {i}: {}",
            if i.is_multiple_of(2) {
                "great, \"loved\" it"
            } else {
                "meh\nnot good"
            }
        );
        let mut features = serde_json::Map::new();
        features.insert("stars".into(), serde_json::json!(i % 5 + 1));
        features.insert(
            "price".into(),
            if i.is_multiple_of(3) {
                serde_json::json!(10)
            } else {
                serde_json::json!(9.5 + i as f64)
            },
        );
        features.insert("lang".into(), serde_json::json!(["en", "fr", "de"][i % 3]));
        features.insert(
            "code".into(),
            if i.is_multiple_of(4) {
                serde_json::json!("A-1")
            } else {
                serde_json::json!(i)
            },
        );
        features.insert(
            "maybe".into(),
            if i.is_multiple_of(2) {
                serde_json::Value::Null
            } else {
                serde_json::json!(i * 2)
            },
        );
        features.insert("label".into(), serde_json::json!("from the file"));
        batch.push(crate::common::text_row(
            "reviews.csv",
            i + 1,
            &text,
            Some(features),
        ));
    }
    f.project.insert_samples(&batch).unwrap();
    for i in 0..n {
        let id = f
            .project
            .sample_by_name(&format!("reviews.csv#{}", i + 1))
            .unwrap()
            .unwrap()
            .id;
        label(&mut f, id, &[i % 2]);
    }
    f
}

fn options(format: Format, out: PathBuf) -> ExportOptions {
    ExportOptions {
        format,
        out,
        splits: parse_splits("train=8,eval=2").unwrap(),
        seed: 42,
        gzip: false,
        shards: 1,
        only_labeled: false,
        force: false,
    }
}

fn run(f: &mut Fixture, o: &ExportOptions) -> Result<export::ExportSummary, ExportError> {
    let r = export::export(&mut f.project, o, &NoProgress);
    f.project.integrity_check().unwrap();
    r
}

fn read_manifest(dir: &Path) -> Manifest {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

fn read_examples(path: &Path) -> Vec<Example> {
    let raw = std::fs::read(path).unwrap();
    let bytes = if path.to_string_lossy().ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        raw
    };
    RecordReader::new(&bytes[..])
        .map(|r| Example::decode(&r.unwrap()[..]).unwrap())
        .collect()
}

fn feature<'a>(ex: &'a Example, key: &str) -> Option<&'a Kind> {
    ex.features.as_ref()?.feature.get(key)?.kind.as_ref()
}

fn bytes_of(ex: &Example, key: &str) -> Vec<Vec<u8>> {
    match feature(ex, key) {
        Some(Kind::BytesList(b)) => b.value.clone(),
        other => panic!("{key}: expected bytes, got {other:?}"),
    }
}

fn text_of(ex: &Example, key: &str) -> String {
    let b = bytes_of(ex, key);
    assert_eq!(b.len(), 1, "{key}");
    String::from_utf8(b[0].clone()).unwrap()
}

fn ints_of(ex: &Example, key: &str) -> Vec<i64> {
    match feature(ex, key) {
        Some(Kind::Int64List(i)) => i.value.clone(),
        other => panic!("{key}: expected ints, got {other:?}"),
    }
}

/// Every file in `dir`, relative, with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(rel, std::fs::read(e.path()).unwrap());
        }
    }
    out
}

fn leftovers(root: &Path) -> Vec<String> {
    std::fs::read_dir(root)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".keylabel-tmp-") || n.contains(".keylabel-old-"))
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn tfrecord_holds_the_original_bytes_labels_and_a_matching_manifest() {
    let mut f = image_fixture(30);
    let out = f.out("dataset");
    let mut o = options(Format::TfRecord, out.clone());
    o.shards = 2;
    let summary = run(&mut f, &o).unwrap();
    assert!(summary.report.ok);
    let m = read_manifest(&out);
    assert_eq!(m.format, "tfrecord");
    assert_eq!(m.seed, 42);
    assert_eq!(m.label_map, vec!["cat", "dog", "bird"]);
    assert_eq!(m.features["id"], "image/filename");
    assert_eq!(m.features["label"], "image/class/label");
    assert_eq!(m.features["label_text"], "image/class/text");
    assert_eq!(m.keylabel_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        m.splits.values().map(|s| s.count).sum::<u64>(),
        30,
        "the excluded image is left out"
    );
    assert!(m.splits["train"].count > m.splits["eval"].count);
    let paths: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "eval/data-00000-of-00002.tfrecord",
            "eval/data-00001-of-00002.tfrecord",
            "train/data-00000-of-00002.tfrecord",
            "train/data-00001-of-00002.tfrecord"
        ]
    );
    assert!(out.join("schema.pbtxt").is_file());

    let mut seen = BTreeSet::new();
    let mut per_split: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for entry in &m.files {
        let path = out.join(&entry.path);
        assert_eq!(
            sha256_hex(&std::fs::read(&path).unwrap()),
            entry.sha256,
            "{}",
            entry.path
        );
        let examples = read_examples(&path);
        assert_eq!(examples.len() as u64, entry.records);
        let split = entry.path.split('/').next().unwrap().to_string();
        let mut names = Vec::new();
        for ex in &examples {
            let name = text_of(ex, "image/filename");
            let sample = f.project.sample_by_name(&name).unwrap().unwrap();
            let file = std::fs::read(f.root().join(&name)).unwrap();
            assert_eq!(
                bytes_of(ex, "image/encoded"),
                vec![file],
                "{name}: bytes re-encoded"
            );
            assert_eq!(text_of(ex, "image/source_id"), sample.hash);
            assert_eq!(text_of(ex, "image/format"), sample.format.clone().unwrap());
            assert_eq!(
                ints_of(ex, "image/height"),
                vec![i64::from(sample.height.unwrap())]
            );
            assert_eq!(
                ints_of(ex, "image/width"),
                vec![i64::from(sample.width.unwrap())]
            );
            let i: usize = name.rsplit("img ").next().unwrap()[..3].parse().unwrap();
            assert_eq!(ints_of(ex, "image/class/label"), vec![(i % 3) as i64]);
            assert_eq!(text_of(ex, "image/class/text"), m.label_map[i % 3]);
            assert_eq!(
                split_of(&sample.hash, 42, &o.splits),
                if split == "train" { 0 } else { 1 }
            );
            *per_split
                .entry(split.clone())
                .or_default()
                .entry(m.label_map[i % 3].clone())
                .or_default() += 1;
            assert!(seen.insert(name.clone()), "{name} written twice");
            names.push(name);
        }
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "records are in name order");
    }
    assert_eq!(seen.len(), 30);
    for (split, s) in &m.splits {
        for (class, n) in &s.classes {
            assert_eq!(
                per_split[split].get(class).copied().unwrap_or(0),
                *n,
                "{split}/{class}"
            );
        }
    }
    // The drift baseline for the next validation.
    let last = f.project.setting_value("last_export").unwrap().unwrap();
    assert_eq!(last["total"], 30);
    assert_eq!(last["classes"]["cat"], 10);
    assert_eq!(last["created_at"], serde_json::json!(m.created_at));
}

#[test]
fn schema_describes_the_features_with_domains() {
    let mut f = image_fixture(10);
    let out = f.out("ds");
    run(&mut f, &options(Format::TfRecord, out.clone())).unwrap();
    let schema = std::fs::read_to_string(out.join("schema.pbtxt")).unwrap();
    for key in [
        "image/encoded",
        "image/format",
        "image/height",
        "image/width",
        "image/filename",
        "image/source_id",
        "image/class/label",
        "image/class/text",
    ] {
        assert!(
            schema.contains(&format!("name: \"{key}\"")),
            "{key} missing:\n{schema}"
        );
    }
    assert!(
        schema.contains("int_domain {\n    min: 0\n    max: 2\n  }"),
        "{schema}"
    );
    assert!(schema.contains("string_domain {\n  name: \"label_text\"\n  value: \"cat\"\n  value: \"dog\"\n  value: \"bird\"\n}"), "{schema}");
    // Ten images of five formats: every format is in the domain.
    for fmt in ["bmp", "gif", "jpeg", "png", "webp"] {
        assert!(
            schema.contains(&format!("value: \"{fmt}\"")),
            "{fmt}:\n{schema}"
        );
    }
}

#[test]
fn multi_label_writes_every_class_and_a_value_count() {
    let mut f = multi_label_fixture(12);
    let out = f.out("ml");
    let mut o = options(Format::TfRecord, out.clone());
    o.gzip = true;
    run(&mut f, &o).unwrap();
    let m = read_manifest(&out);
    let mut total = 0;
    for entry in &m.files {
        assert!(entry.path.ends_with(".tfrecord.gz"), "{}", entry.path);
        for ex in read_examples(&out.join(&entry.path)) {
            let name = text_of(&ex, "image/filename");
            let i: usize = name.rsplit("img ").next().unwrap()[..3].parse().unwrap();
            let expect: Vec<i64> = (0..4usize)
                .filter(|c| (i >> c) & 1 == 1 || *c == i % 4)
                .map(|c| c as i64)
                .collect();
            assert_eq!(ints_of(&ex, "image/class/label"), expect, "{name}");
            let texts: Vec<String> = bytes_of(&ex, "image/class/text")
                .into_iter()
                .map(|b| String::from_utf8(b).unwrap())
                .collect();
            let expect_text: Vec<String> = expect
                .iter()
                .map(|&c| m.label_map[c as usize].clone())
                .collect();
            assert_eq!(texts, expect_text);
            total += 1;
        }
    }
    assert_eq!(total, 12);
    let schema = std::fs::read_to_string(out.join("schema.pbtxt")).unwrap();
    assert!(
        schema.contains("value_count {\n    min: 1\n    max: 4\n  }"),
        "{schema}"
    );
}

#[test]
fn gzip_files_carry_the_gz_suffix_and_are_gzip() {
    let mut f = image_fixture(9);
    let out = f.out("gz");
    let mut o = options(Format::TfRecord, out.clone());
    o.gzip = true;
    o.shards = 3;
    o.splits = parse_splits("all=1").unwrap();
    run(&mut f, &o).unwrap();
    let files = tree(&out);
    let data: Vec<&String> = files.keys().filter(|k| k.starts_with("all/")).collect();
    assert_eq!(
        data,
        [
            "all/data-00000-of-00003.tfrecord.gz",
            "all/data-00001-of-00003.tfrecord.gz",
            "all/data-00002-of-00003.tfrecord.gz"
        ]
    );
    let mut n = 0;
    for k in data {
        assert_eq!(&files[k][..2], &[0x1f, 0x8b], "{k} is not gzip");
        // A fixed header: no modification time, so repeated exports are identical.
        assert_eq!(&files[k][4..8], &[0, 0, 0, 0]);
        n += read_examples(&out.join(k)).len();
    }
    assert_eq!(n, 9, "round-robin shards hold every record once");
}

#[test]
fn same_state_and_seed_give_byte_identical_files() {
    let mut f = image_fixture(25);
    for (i, gzip) in [(0, false), (1, true)] {
        let mut a = options(Format::TfRecord, f.out(&format!("a{i}")));
        a.gzip = gzip;
        a.shards = 2;
        let mut b = a.clone();
        b.out = f.out(&format!("b{i}"));
        run(&mut f, &a).unwrap();
        run(&mut f, &b).unwrap();
        let (ta, tb) = (tree(&a.out), tree(&b.out));
        assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
        for (k, v) in &ta {
            if k != "manifest.json" {
                assert!(v == &tb[k], "{k} differs between two exports");
            }
        }
        let (mut ma, mut mb) = (read_manifest(&a.out), read_manifest(&b.out));
        ma.created_at.clear();
        mb.created_at.clear();
        assert_eq!(ma, mb, "only created_at may differ");
    }
    for (format, name) in [(Format::Csv, "csv"), (Format::Jsonl, "jsonl")] {
        let a = options(format, f.out(&format!("{name}-a")));
        let mut b = a.clone();
        b.out = f.out(&format!("{name}-b"));
        run(&mut f, &a).unwrap();
        run(&mut f, &b).unwrap();
        let path = format!("train/data.{name}");
        assert_eq!(tree(&a.out)[&path], tree(&b.out)[&path]);
    }
    // Another seed moves samples between splits.
    let mut c = options(Format::Csv, f.out("seed7"));
    c.seed = 7;
    run(&mut f, &c).unwrap();
    assert_ne!(
        tree(&c.out)["train/data.csv"],
        tree(&f.out("csv-a"))["train/data.csv"]
    );
}

#[test]
fn adding_samples_never_moves_existing_ones() {
    let mut f = image_fixture(40);
    let splits_of = |dir: &Path| -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut rdr = csv::Reader::from_path(dir.join("train/data.csv")).unwrap();
        for r in rdr.records() {
            out.insert(r.unwrap()[3].to_string(), "train".to_string());
        }
        let mut rdr = csv::Reader::from_path(dir.join("eval/data.csv")).unwrap();
        for r in rdr.records() {
            out.insert(r.unwrap()[3].to_string(), "eval".to_string());
        }
        out
    };
    let o = options(Format::Csv, f.out("before"));
    run(&mut f, &o).unwrap();
    let before = splits_of(&f.out("before"));
    assert_eq!(before.len(), 40);
    for i in 41..90 {
        let id = add_image(&mut f, i);
        label(&mut f, id, &[i % 3]);
    }
    let o = options(Format::Csv, f.out("after"));
    run(&mut f, &o).unwrap();
    let after = splits_of(&f.out("after"));
    assert_eq!(after.len(), 89);
    for (name, split) in &before {
        assert_eq!(&after[name], split, "{name} moved");
    }
    assert!(after.values().any(|s| s == "eval") && after.values().any(|s| s == "train"));
}

proptest! {
    #[test]
    fn split_depends_on_hash_and_seed_only(hash in "[0-9a-f]{64}", seed: u64, weights in proptest::collection::vec(1u32..20, 1..6)) {
        let splits: Vec<(String, u32)> = weights.iter().enumerate().map(|(i, w)| (format!("s{i}"), *w)).collect();
        let a = split_of(&hash, seed, &splits);
        prop_assert!(a < splits.len());
        prop_assert_eq!(a, split_of(&hash.clone(), seed, &splits.clone()));
    }

    #[test]
    fn example_encodes_and_decodes(
        bytes in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..4),
        ints in proptest::collection::vec(any::<i64>(), 0..8),
        floats in proptest::collection::vec(-1e6f32..1e6, 0..8),
        key in "[a-z/_]{1,12}",
    ) {
        use keylabel::export::example::Feature;
        let mut map = BTreeMap::new();
        map.insert(format!("{key}/b"), Feature::bytes(bytes));
        map.insert(format!("{key}/i"), Feature::ints(ints));
        map.insert(format!("{key}/f"), Feature::floats(floats));
        let ex = Example::from_features(map);
        let mut buf = Vec::new();
        ex.encode_into(&mut buf);
        let back = Example::decode(&buf[..]).unwrap();
        prop_assert_eq!(&back, &ex);
        let mut framed = Vec::new();
        write_record(&mut framed, &buf).unwrap();
        write_record(&mut framed, b"").unwrap();
        let records: Vec<Vec<u8>> = RecordReader::new(&framed[..]).map(|r| r.unwrap()).collect();
        prop_assert_eq!(records, vec![buf, Vec::new()]);
    }
}

#[test]
fn validation_errors_refuse_the_export_and_write_nothing() {
    let mut f = image_fixture(6);
    let unlabeled = add_image(&mut f, 50);
    let out = f.out("refused");
    match run(&mut f, &options(Format::TfRecord, out.clone())) {
        Err(ExportError::Invalid(report)) => {
            assert!(!report.ok);
            let e = report.errors().next().unwrap();
            assert_eq!(e.code, "UNLABELED_SAMPLES");
            assert_eq!(e.count, 1);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(!out.exists());
    assert!(leftovers(f.root()).is_empty());
    assert!(f.project.setting_value("last_export").unwrap().is_none());

    // --only-labeled leaves the unlabeled sample out.
    let mut o = options(Format::TfRecord, out.clone());
    o.only_labeled = true;
    let s = run(&mut f, &o).unwrap();
    assert_eq!(s.splits.values().map(|s| s.count).sum::<u64>(), 6);
    let name = f.project.sample(unlabeled).unwrap().unwrap().name;
    let csv_out = f.out("only.csv");
    let mut o = options(Format::Csv, csv_out.clone());
    o.only_labeled = true;
    run(&mut f, &o).unwrap();
    let all: String = ["train", "eval"]
        .iter()
        .map(|s| std::fs::read_to_string(csv_out.join(s).join("data.csv")).unwrap())
        .collect();
    assert!(!all.contains(&name));
    assert!(
        s.report
            .findings
            .iter()
            .any(|f| f.code == "UNLABELED_SAMPLES")
    );
}

#[test]
fn an_existing_folder_needs_force_and_is_replaced_only_when_complete() {
    let mut f = image_fixture(8);
    let out = f.out("ds");
    run(&mut f, &options(Format::TfRecord, out.clone())).unwrap();
    let first = tree(&out);
    let err = run(&mut f, &options(Format::Csv, out.clone())).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(tree(&out), first);

    // --force whose new export fails keeps the old one.
    let victim = f.project.sample_ids(&Default::default(), 0, 1).unwrap()[0];
    let victim_path = f
        .root()
        .join(f.project.sample(victim).unwrap().unwrap().path);
    let saved = std::fs::read(&victim_path).unwrap();
    std::fs::write(&victim_path, b"not the imported bytes").unwrap();
    let mut o = options(Format::TfRecord, out.clone());
    o.force = true;
    match run(&mut f, &o).unwrap_err() {
        // Refused by validation (a content-hash check), or caught while streaming the bytes.
        ExportError::Invalid(report) => {
            assert!(
                report.errors().any(|e| e.code == "CHANGED_FILES"),
                "{report:?}"
            )
        }
        err => assert!(
            err.to_string().contains("changed since it was imported"),
            "{err}"
        ),
    }
    assert_eq!(
        tree(&out),
        first,
        "a failed --force export left the old one alone"
    );
    assert!(leftovers(f.root()).is_empty());
    std::fs::write(&victim_path, saved).unwrap();

    let mut o = options(Format::Csv, out.clone());
    o.force = true;
    run(&mut f, &o).unwrap();
    let now = tree(&out);
    assert!(
        now.contains_key("train/data.csv")
            && !now.contains_key("train/data-00000-of-00001.tfrecord")
    );
    assert!(leftovers(f.root()).is_empty());

    // --force never deletes a folder that is not an export.
    let precious = f.out("precious");
    std::fs::create_dir(&precious).unwrap();
    std::fs::write(precious.join("thesis.txt"), "years of work").unwrap();
    let mut o = options(Format::Csv, precious.clone());
    o.force = true;
    let err = run(&mut f, &o).unwrap_err();
    assert!(
        err.to_string().contains("does not hold a keylabel export"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(precious.join("thesis.txt")).unwrap(),
        "years of work"
    );
}

#[test]
fn a_failure_midway_or_a_cancel_leaves_nothing_behind() {
    // The export reads batches of 256 images while it writes the batch before: with 520,
    // the last image is read only after the first batch is written.
    let mut f = image_fixture(520);
    let out = f.out("ds");
    let last = last_image(&f, 520);
    // The image vanishes once validation has checked every file and before the data
    // files' writing (which runs beside validation) reads any: validation passes, and the
    // writing fails when it comes to it.
    let progress = WriterGate::new(&last);
    let err = export::export(
        &mut f.project,
        &options(Format::TfRecord, out.clone()),
        &progress,
    )
    .unwrap_err();
    assert!(progress.removed.load(Ordering::SeqCst));
    let msg = err.to_string();
    assert!(
        msg.contains("could not read")
            && msg.contains(&last.file_name().unwrap().to_string_lossy().to_string()),
        "{msg}"
    );
    assert!(!out.exists());
    assert!(leftovers(f.root()).is_empty(), "{:?}", leftovers(f.root()));

    let mut f = image_fixture(70);
    // (The records may all be written by the time validation ends: the cancel then comes
    // before the dataset is put in place.)
    let progress = Watch::new(|pass, done, _| pass == "Exporting" && done >= 40);
    let r = export::export(
        &mut f.project,
        &options(Format::TfRecord, out.clone()),
        &progress,
    );
    assert!(matches!(r, Err(ExportError::Cancelled)), "{r:?}");
    assert!(!f.out("ds").exists());
    assert!(leftovers(f.root()).is_empty());
    assert!(f.project.setting_value("last_export").unwrap().is_none());
}

/// The file of the last in name order of the first `n` images of [`image_fixture`]`(n)`
/// (the labeled ones): the last one an export reads.
fn last_image(f: &Fixture, n: u64) -> PathBuf {
    let mut names: Vec<String> = (0..n)
        .map(|i| f.project.sample_ids(&Default::default(), i, 1).unwrap()[0])
        .map(|id| f.project.sample(id).unwrap().unwrap().name)
        .collect();
    names.sort();
    f.root().join(names.last().unwrap())
}

/// Progress that holds the export's writing thread back at its first check until
/// validation has checked every image file, then removes `file`.
struct WriterGate<'a> {
    file: &'a Path,
    pass: std::sync::Mutex<(String, u64, u64)>,
    files_checked: AtomicBool,
    removed: AtomicBool,
}

impl<'a> WriterGate<'a> {
    fn new(file: &'a Path) -> WriterGate<'a> {
        WriterGate {
            file,
            pass: Default::default(),
            files_checked: AtomicBool::new(false),
            removed: AtomicBool::new(false),
        }
    }
}

impl keylabel::progress::Progress for WriterGate<'_> {
    fn start(&self, what: &str, total: u64) {
        *self.pass.lock().unwrap() = (what.to_string(), 0, total);
    }

    fn advance(&self, n: u64) {
        let mut pass = self.pass.lock().unwrap();
        pass.1 += n;
        if pass.0 == "Checking image files" && pass.1 == pass.2 {
            self.files_checked.store(true, Ordering::SeqCst);
        }
    }

    fn cancelled(&self) -> bool {
        let writer = std::thread::current().name() == Some(export::WRITER_THREAD);
        if writer && !self.removed.load(Ordering::SeqCst) {
            let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while !self.files_checked.load(Ordering::SeqCst) && std::time::Instant::now() < until {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            std::fs::remove_file(self.file).unwrap();
            self.removed.store(true, Ordering::SeqCst);
        }
        false
    }
}

#[test]
fn validation_that_fails_while_the_data_files_are_written_leaves_nothing_behind() {
    // Written beside validation, the records of the first images are on the disk (in a
    // hidden folder) when validation finds that the last one changed since its import.
    let mut f = image_fixture(520);
    let last = last_image(&f, 520);
    let format = image::ImageFormat::from_path(&last).unwrap();
    RgbImage::from_pixel(9, 9, Rgb([1, 2, 3]))
        .save_with_format(&last, format)
        .unwrap();
    // Into folders that do not exist yet: they are not left behind either.
    let out = f.root().join("new/deeper/ds");
    match run(&mut f, &options(Format::TfRecord, out.clone())) {
        Err(ExportError::Invalid(report)) => {
            let codes: Vec<&str> = report.errors().map(|e| e.code.as_str()).collect();
            assert_eq!(codes, ["CHANGED_FILES"]);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(!f.root().join("new").exists());
    assert!(leftovers(f.root()).is_empty(), "{:?}", leftovers(f.root()));
    assert!(f.project.setting_value("last_export").unwrap().is_none());
}

#[test]
fn a_stale_temporary_folder_from_a_killed_export_is_removed() {
    let mut f = image_fixture(5);
    // No process has this id (above Linux's pid_max).
    let stale = f.root().join(".ds.keylabel-tmp-4194305");
    std::fs::create_dir_all(stale.join("train")).unwrap();
    std::fs::write(stale.join("train/data-00000-of-00001.tfrecord"), b"half").unwrap();
    let other = f.root().join(".other.keylabel-tmp-4194305");
    std::fs::create_dir(&other).unwrap();
    let o = options(Format::TfRecord, f.out("ds"));
    run(&mut f, &o).unwrap();
    assert!(!stale.exists());
    assert!(
        other.exists(),
        "only the same target's leftovers are touched"
    );
}

/// `export --force` killed between moving the old dataset aside and moving the new one in
/// (where the two folders cannot be swapped in one step) left nothing at the dataset path.
/// The next export puts the previous dataset back before anything else; it is never
/// deleted with the leftovers.
#[test]
fn a_dataset_moved_aside_by_a_killed_export_is_put_back() {
    let mut f = image_fixture(5);
    let out = f.out("ds");
    run(&mut f, &options(Format::TfRecord, out.clone())).unwrap();
    let previous = tree(&out);
    // The state a kill between the two renames leaves (no process has this id).
    let aside = f.root().join(".ds.keylabel-old-4194305");
    std::fs::rename(&out, &aside).unwrap();
    let unfinished = f.root().join(".ds.keylabel-tmp-4194305");
    std::fs::create_dir_all(unfinished.join("train")).unwrap();
    std::fs::write(unfinished.join("manifest.json"), b"{}").unwrap();

    // Without --force: the previous dataset is back, and so the folder exists.
    let err = run(&mut f, &options(Format::Csv, out.clone())).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(tree(&out), previous);
    assert!(!aside.exists());

    // With --force the new dataset replaces it, in one step, and nothing is left over.
    let mut o = options(Format::Csv, out.clone());
    o.force = true;
    run(&mut f, &o).unwrap();
    assert!(tree(&out).contains_key("train/data.csv"));
    assert!(leftovers(f.root()).is_empty(), "{:?}", leftovers(f.root()));
}

#[test]
fn table_rows_export_typed_columns() {
    let mut f = text_fixture(24);
    f.project
        .set_setting_value(
            "table_schema",
            &serde_json::json!({"text_column": "review"}),
        )
        .unwrap();
    let out = f.out("rows");
    let mut o = options(Format::TfRecord, out.clone());
    o.splits = parse_splits("all=1").unwrap();
    run(&mut f, &o).unwrap();
    let m = read_manifest(&out);
    assert_eq!(m.features["id"], "id");
    assert_eq!(m.features["text"], "review");
    let examples = read_examples(&out.join("all/data-00000-of-00001.tfrecord"));
    assert_eq!(examples.len(), 24);
    for ex in &examples {
        let id = text_of(ex, "id");
        let i: usize = id
            .trim_start_matches("reviews.csv#")
            .parse::<usize>()
            .unwrap()
            - 1;
        assert!(text_of(ex, "review").starts_with(&format!("review number {i}:")));
        assert_eq!(ints_of(ex, "stars"), vec![(i % 5 + 1) as i64]);
        let price = match feature(ex, "price") {
            Some(Kind::FloatList(fl)) => fl.value.clone(),
            other => panic!("price: {other:?}"),
        };
        let expect = if i.is_multiple_of(3) {
            10.0
        } else {
            9.5 + i as f32
        };
        assert_eq!(price, vec![expect], "ints and floats mix to float");
        let code = text_of(ex, "code");
        assert_eq!(
            code,
            if i.is_multiple_of(4) {
                "A-1".to_string()
            } else {
                i.to_string()
            },
            "numbers and text mix to text"
        );
        if i.is_multiple_of(2) {
            assert!(feature(ex, "maybe").is_none(), "null is an absent feature");
        } else {
            assert_eq!(ints_of(ex, "maybe"), vec![(i * 2) as i64]);
        }
        assert_eq!(
            text_of(ex, "label_column"),
            "from the file",
            "a column named like a key is renamed"
        );
        assert_eq!(ints_of(ex, "label"), vec![(i % 2) as i64]);
        assert_eq!(text_of(ex, "label_text"), ["negative", "positive"][i % 2]);
    }
    let schema = std::fs::read_to_string(out.join("schema.pbtxt")).unwrap();
    assert!(
        schema.contains("name: \"price\"\n  type: FLOAT"),
        "{schema}"
    );
    assert!(
        schema.contains(
            "name: \"maybe\"\n  type: INT\n  presence {\n    min_count: 1\n  }\n  value_count"
        ),
        "{schema}"
    );

    // CSV: one header, one row per sample, the same columns; JSON Lines likewise.
    let csv_out = f.out("rows-csv");
    let mut o = options(Format::Csv, csv_out.clone());
    o.splits = parse_splits("all=1").unwrap();
    run(&mut f, &o).unwrap();
    let mut rdr = csv::Reader::from_path(csv_out.join("all/data.csv")).unwrap();
    let header: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(
        header,
        [
            "id",
            "review",
            "code",
            "label_column",
            "lang",
            "maybe",
            "price",
            "stars",
            "label",
            "label_text"
        ]
    );
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 24);
    let row1 = rows.iter().find(|r| &r[0] == "reviews.csv#2").unwrap();
    assert_eq!(&row1[1], "review number 1: meh\nnot good");
    assert_eq!(&row1[6], "10.5");
    let row0 = rows.iter().find(|r| &r[0] == "reviews.csv#1").unwrap();
    assert_eq!(&row0[6], "10.0", "a whole float keeps its decimal point");
    assert_eq!(&row0[5], "", "null is an empty cell");

    let jl_out = f.out("rows-jsonl");
    let mut o = options(Format::Jsonl, jl_out.clone());
    o.splits = parse_splits("all=1").unwrap();
    run(&mut f, &o).unwrap();
    let text = std::fs::read_to_string(jl_out.join("all/data.jsonl")).unwrap();
    let objs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), 24);
    let o1 = objs.iter().find(|o| o["id"] == "reviews.csv#2").unwrap();
    assert_eq!(o1["stars"], 2);
    assert_eq!(o1["label"], 1);
    assert_eq!(o1["label_text"], "positive");
    assert_eq!(o1["maybe"], 2);
    assert!(
        objs.iter()
            .find(|o| o["id"] == "reviews.csv#1")
            .unwrap()
            .get("maybe")
            .is_none()
    );
}

#[test]
fn bad_options_are_refused_with_a_reason() {
    for bad in ["train=0,eval=2", "train=8,train=2", "tr/ain=1", "train"] {
        assert!(parse_splits(bad).is_err(), "{bad}");
    }
    let mut f = image_fixture(3);
    let mut o = options(Format::Csv, f.out("x"));
    o.gzip = true;
    assert!(run(&mut f, &o).unwrap_err().to_string().contains("--gzip"));
    assert!(!f.out("x").exists());

    // Nothing labeled: an empty dataset is refused, not written.
    let mut empty = new_project(&["a", "b"], TaskKind::SingleLabel);
    add_image(&mut empty, 0);
    let mut o = options(Format::TfRecord, empty.out("x"));
    o.only_labeled = true;
    let err = run(&mut empty, &o).unwrap_err();
    assert!(err.to_string().contains("nothing to export"), "{err}");
    assert!(!empty.out("x").exists());
    assert!(leftovers(empty.root()).is_empty());
}

fn keylabel(args: &[&str], cwd: &Path) -> std::process::Output {
    crate::common::cli().cwd(cwd).run(args)
}

#[test]
fn the_command_line_exports_and_refuses() {
    let mut f = image_fixture(12);
    let root = f.root().to_path_buf();
    let o = keylabel(
        &[
            "-p",
            "pets.keylabel",
            "export",
            "--format",
            "tfrecord",
            "--out",
            "tfx",
            "--gzip",
            "--split",
            "train=3,eval=1",
        ],
        &root,
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("Exported 12 records"), "{stdout}");
    assert!(
        stdout.contains("train/data-00000-of-00001.tfrecord.gz"),
        "{stdout}"
    );
    assert!(root.join("tfx/manifest.json").is_file());

    let o = keylabel(
        &[
            "-p",
            "pets.keylabel",
            "export",
            "--format",
            "csv",
            "--out",
            "tfx",
        ],
        &root,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));

    let o = keylabel(
        &[
            "-p",
            "pets.keylabel",
            "export",
            "--format",
            "csv",
            "--out",
            "x",
            "--split",
            "train=0",
        ],
        &root,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("above 0"));

    add_image(&mut f, 99);
    let o = keylabel(
        &[
            "-p",
            "pets.keylabel",
            "export",
            "--format",
            "csv",
            "--out",
            "refused",
        ],
        &root,
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("UNLABELED_SAMPLES"), "{stderr}");
    assert!(
        stderr.contains("img 099"),
        "the findings name the samples: {stderr}"
    );
    assert!(!root.join("refused").exists());
}

/// The exports the reference tools read: images as TFRecord (two shards; gzipped) and
/// CSV, multi-label images as TFRecord, table rows as TFRecord, CSV and JSON Lines. The
/// fixtures hold the folders; each path comes with its format.
fn reference_exports() -> (Vec<Fixture>, Vec<(Format, PathBuf)>) {
    let mut dirs = Vec::new();
    let mut images = image_fixture(30);
    let mut o = options(Format::TfRecord, images.out("plain"));
    o.shards = 2;
    run(&mut images, &o).unwrap();
    dirs.push((o.format, o.out.clone()));
    let mut o = options(Format::TfRecord, images.out("gzip"));
    o.gzip = true;
    run(&mut images, &o).unwrap();
    dirs.push((o.format, o.out.clone()));
    let o = options(Format::Csv, images.out("images-csv"));
    run(&mut images, &o).unwrap();
    dirs.push((o.format, o.out.clone()));

    let mut multi = multi_label_fixture(16);
    let o = options(Format::TfRecord, multi.out("multi"));
    run(&mut multi, &o).unwrap();
    dirs.push((o.format, o.out.clone()));

    let mut rows = text_fixture(30);
    for (format, name) in [
        (Format::TfRecord, "rows"),
        (Format::Csv, "rows-csv"),
        (Format::Jsonl, "rows-jsonl"),
    ] {
        let o = options(format, rows.out(name));
        run(&mut rows, &o).unwrap();
        dirs.push((o.format, o.out.clone()));
    }
    (vec![images, multi, rows], dirs)
}

/// TensorFlow reads every TFRecord (codec chosen by suffix), parses it with a feature spec
/// derived from `schema.pbtxt`, rejects a flipped byte; pandas reads the CSV.
#[test]
fn tensorflow_and_pandas_read_the_export() {
    let Some(python) = crate::common::reference_python(
        "KEYLABEL_PYTHON",
        "KEYLABEL_REQUIRE_PYTHON",
        "tensorflow-cpu and pandas (see .ci/requirements.txt)",
    ) else {
        return;
    };
    let (_fixtures, exports) = reference_exports();
    let dirs: Vec<&PathBuf> = exports.iter().map(|(_, d)| d).collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_export.py");
    let out = Command::new(&python)
        .arg(&script)
        .args(&dirs)
        .env("TF_CPP_MIN_LOG_LEVEL", "2")
        .output()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", Path::new(&python).display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "check_export.py failed:\n{stdout}\n{stderr}"
    );
    assert_eq!(stdout.matches("OK ").count(), dirs.len(), "{stdout}");
    println!("{stdout}");
}

/// TensorFlow Data Validation, as TFX's StatisticsGen and ExampleValidator run it, finds no
/// anomaly in the image, multi-label and table-row TFRecord exports (sharded and gzipped)
/// against the `schema.pbtxt` beside them.
#[test]
fn tfdv_finds_no_anomaly_against_the_exported_schema() {
    let (_fixtures, exports) = reference_exports();
    let tfrecords: Vec<PathBuf> = exports
        .into_iter()
        .filter(|(f, _)| *f == Format::TfRecord)
        .map(|(_, d)| d)
        .collect();
    assert_eq!(tfrecords.len(), 4);
    if let Some(stdout) = crate::common::check_with_tfdv(&tfrecords) {
        println!("{stdout}");
    }
}

/// Names a user or a hostile file could hold: path escapes, absolute paths, line breaks and
/// control characters, right-to-left overrides, names reserved on Windows, quotes and
/// backslashes, and very long names.
fn hostile_names() -> Vec<String> {
    let mut names: Vec<String> = [
        "../../../outside",
        "..",
        "/etc/passwd",
        "C:\\Windows\\system32",
        "line\nbreak",
        "carriage\r\nreturn",
        "tab\there",
        "bell\u{7}and escape\u{1b}[2J",
        "\u{202E}gpj.exe",
        "CON",
        "nul.txt",
        "  spaced  ",
        "quote\"comma,semi;",
        "shard/../manifest.json",
        "say \"hi\" \\ there",
    ]
    .map(String::from)
    .to_vec();
    names.push("ω".repeat(4000));
    names.push("n".repeat(9000));
    names
}

/// Asserts two name → class maps are equal; a difference is shown shortened (the names can
/// be thousands of characters long).
fn assert_same_names(
    read: &BTreeMap<String, String>,
    expected: &BTreeMap<String, String>,
    what: &str,
) {
    let short = |s: &str| format!("{:.60?}", s.chars().take(40).collect::<String>());
    let wrong: Vec<String> = expected
        .iter()
        .filter(|(k, v)| read.get(*k) != Some(v))
        .map(|(k, v)| {
            format!(
                "{} → {} (read {:?})",
                short(k),
                short(v),
                read.get(k).map(|r| short(r))
            )
        })
        .chain(
            read.keys()
                .filter(|k| !expected.contains_key(*k))
                .map(|k| format!("unexpected {}", short(k))),
        )
        .collect();
    assert!(wrong.is_empty(), "{what}: {wrong:#?}");
}

/// `export --format FORMAT --out OUT --split all=1`.
fn export_one_split(cli: &keylabel_testkit::Cli, format: &str, out: &Path) {
    cli.ok(&[
        "export",
        "--format",
        format,
        "--out",
        out.to_str().unwrap(),
        "--split",
        "all=1",
    ]);
}

/// Every relative path written under `root`, outside `skip`.
fn files_outside(root: &Path, skip: &[&Path]) -> BTreeSet<PathBuf> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| !skip.contains(&e.path()))
        .flatten()
        .map(|e| e.path().strip_prefix(root).unwrap().to_path_buf())
        .collect()
}

#[test]
fn hostile_sample_and_class_names_stay_inside_the_export_and_come_back_exactly() {
    let dir = TempDir::new().unwrap();
    let root = dir.path().join("work");
    std::fs::create_dir(&root).unwrap();
    let cli = crate::common::cli()
        .cwd(&root)
        .project(root.join("p.keylabel"));
    // Class names: everything but `|` and control characters is allowed, and white space
    // around a name is dropped.
    let classes: Vec<String> = hostile_names()
        .into_iter()
        .filter(|n| !n.chars().any(char::is_control) && n.trim() == n)
        .collect();
    cli.ok(&["init", "--classes", "plain"]);
    for class in &classes {
        cli.ok(&["classes", "add", "--", class]);
    }
    let samples = hostile_names();
    let mut rows = csv::Writer::from_path(root.join("rows.csv")).unwrap();
    let mut labels = csv::Writer::from_path(root.join("labels.csv")).unwrap();
    rows.write_record(["id", "text"]).unwrap();
    labels.write_record(["sample", "label"]).unwrap();
    let mut expected = BTreeMap::new();
    for (i, sample) in samples.iter().enumerate() {
        let class = &classes[i % classes.len()];
        rows.write_record([sample.as_str(), &format!("text {i}")])
            .unwrap();
        labels.write_record([sample.as_str(), class]).unwrap();
        expected.insert(sample.clone(), class.clone());
    }
    rows.flush().unwrap();
    labels.flush().unwrap();
    drop((rows, labels));
    let report = cli.json(&["import", "rows.csv", "--id-column", "id", "--json"]);
    assert_eq!(report["added"], samples.len(), "{report:#}");
    cli.ok(&["import-labels", "labels.csv"]);

    let before = files_outside(dir.path(), &[]);
    let mut outs = Vec::new();
    for format in ["tfrecord", "csv", "jsonl"] {
        let out = root.join(format!("out-{format}"));
        export_one_split(&cli, format, &out);
        outs.push(out);
    }
    let skip: Vec<&Path> = outs.iter().map(PathBuf::as_path).collect();
    assert_eq!(
        files_outside(dir.path(), &skip),
        before,
        "an export wrote outside its folder"
    );
    for (out, data) in outs.iter().zip([
        "all/data-00000-of-00001.tfrecord",
        "all/data.csv",
        "all/data.jsonl",
    ]) {
        let files: BTreeSet<String> = tree(out).into_keys().collect();
        let want: BTreeSet<String> = [data, "manifest.json", "schema.pbtxt"]
            .map(String::from)
            .into();
        assert_eq!(files, want, "{}", out.display());
    }

    let read: BTreeMap<String, String> =
        read_examples(&outs[0].join("all/data-00000-of-00001.tfrecord"))
            .iter()
            .map(|ex| (text_of(ex, "id"), text_of(ex, "label_text")))
            .collect();
    assert_same_names(&read, &expected, "TFRecord");
    let read: BTreeMap<String, String> = csv::Reader::from_path(outs[1].join("all/data.csv"))
        .unwrap()
        .deserialize::<BTreeMap<String, String>>()
        .map(|r| {
            let r = r.unwrap();
            (r["id"].clone(), r["label_text"].clone())
        })
        .collect();
    assert_same_names(&read, &expected, "CSV");
    let read: BTreeMap<String, String> = std::fs::read_to_string(outs[2].join("all/data.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["id"].as_str().unwrap().to_string(),
                v["label_text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_same_names(&read, &expected, "JSON Lines");
    let schema = std::fs::read_to_string(outs[0].join("schema.pbtxt")).unwrap();
    assert!(
        schema.contains(r#"value: "say \"hi\" \\ there""#),
        "{schema}"
    );

    check_with_tensorflow(&outs);

    // On a terminal, names are shown with their control characters and direction
    // overrides escaped: one line per event, no escape sequence reaches the screen.
    let history = keylabel_testkit::cli::stdout(&cli.ok(&["history"]));
    let events = cli.json(&["history", "--json"]).as_array().unwrap().len();
    assert_eq!(history.lines().count(), events, "one line per event");
    assert!(!history.contains(['\u{1b}', '\u{7}', '\r', '\u{202E}']));
    assert!(
        history.contains(r"bell\u{7}and escape\u{1b}[2J"),
        "{:.2000}",
        history
    );
    assert!(history.contains(r"line\nbreak"));
}

/// Image files with hostile names: their names (paths relative to the project) come back
/// exactly as `image/filename`, and nothing is written outside the export.
#[test]
fn hostile_image_file_names_come_back_exactly() {
    let dir = TempDir::new().unwrap();
    let root = dir.path().join("work");
    let photos = root.join("photos");
    // A path of about 3,000 characters: 15 folders of 200 (a file name is at most 255
    // bytes on most file systems).
    let deep: PathBuf = (0..15)
        .map(|i| format!("{i:02}{}", "d".repeat(198)))
        .collect();
    let files = [
        PathBuf::from("CON.png"),
        PathBuf::from("nul.txt.png"),
        PathBuf::from("line\nbreak.png"),
        PathBuf::from("\u{202E}gnp.exe.png"),
        PathBuf::from("quote\"and\\back.png"),
        PathBuf::from("-rf .png"),
        deep.join("last.png"),
    ];
    for (i, f) in files.iter().enumerate() {
        let path = photos.join(f);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut img = RgbImage::new(5 + i as u32, 4);
        img.put_pixel(0, 0, Rgb([i as u8 * 30, 7, 9]));
        img.save_with_format(&path, ImageFormat::Png).unwrap();
    }
    let cli = crate::common::cli()
        .cwd(&root)
        .project(root.join("p.keylabel"));
    cli.ok(&["init", "--classes", "CON,../up"]);
    let report = cli.json(&["import", "photos", "--json"]);
    assert_eq!(report["added"], files.len(), "{report:#}");
    let mut labels = csv::Writer::from_path(root.join("labels.csv")).unwrap();
    labels.write_record(["sample", "label"]).unwrap();
    let mut expected = BTreeMap::new();
    for (i, f) in files.iter().enumerate() {
        let name = Path::new("photos").join(f).to_str().unwrap().to_string();
        let class = ["CON", "../up"][i % 2];
        labels.write_record([name.as_str(), class]).unwrap();
        expected.insert(name, class.to_string());
    }
    labels.flush().unwrap();
    drop(labels);
    cli.ok(&["import-labels", "labels.csv"]);

    let before = files_outside(dir.path(), &[]);
    let tf = root.join("tf");
    let csv_out = root.join("csv");
    for (format, out) in [("tfrecord", &tf), ("csv", &csv_out)] {
        export_one_split(&cli, format, out);
    }
    assert_eq!(
        files_outside(dir.path(), &[tf.as_path(), csv_out.as_path()]),
        before,
        "an export wrote outside its folder"
    );
    let read: BTreeMap<String, String> =
        read_examples(&tf.join("all/data-00000-of-00001.tfrecord"))
            .iter()
            .map(|ex| {
                (
                    text_of(ex, "image/filename"),
                    text_of(ex, "image/class/text"),
                )
            })
            .collect();
    assert_same_names(&read, &expected, "TFRecord");
    let read: BTreeMap<String, String> = csv::Reader::from_path(csv_out.join("all/data.csv"))
        .unwrap()
        .deserialize::<BTreeMap<String, String>>()
        .map(|r| {
            let r = r.unwrap();
            (r["image/filename"].clone(), r["image/class/text"].clone())
        })
        .collect();
    assert_same_names(&read, &expected, "CSV");
    check_with_tensorflow(&[tf, csv_out]);
}

/// When `KEYLABEL_PYTHON` names a Python with TensorFlow, `check_export.py` reads the
/// exports (the full check runs in `tensorflow_and_pandas_read_the_export`).
fn check_with_tensorflow(outs: &[PathBuf]) {
    let Some(python) = std::env::var_os("KEYLABEL_PYTHON") else {
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_export.py");
    let out = Command::new(&python)
        .arg(&script)
        .args(outs)
        .env("TF_CPP_MIN_LOG_LEVEL", "2")
        .output()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", Path::new(&python).display()));
    assert!(
        out.status.success(),
        "check_export.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
