//! Sample import on real files: images of several formats written with the `image` crate,
//! broken and hostile files, CSV and JSON Lines tables, labels and suggestions from a file,
//! and two processes importing at once. The command line is driven through the real binary.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::images;
use image::ImageFormat;
use keylabel::ingest::{self, ImportOptions, ImportReport};
use keylabel::progress::Progress;
use keylabel::project::{EventKind, SampleKind, SampleQuery, Source};
use keylabel::{Project, TaskKind};
use keylabel_testkit::cli::json_of;
use serde_json::{Value, json};
use tempfile::TempDir;

fn project(dir: &Path, classes: &[&str], task: TaskKind) -> Project {
    keylabel_testkit::fixtures::project(&dir.join("p.keylabel"), classes, task)
}

fn write_image(path: &Path, w: u32, h: u32, seed: u8, format: ImageFormat) {
    images::save(path, images::pattern(w, h, seed.into()), format);
}

fn encoded(w: u32, h: u32, seed: u8, format: ImageFormat) -> Vec<u8> {
    images::encode(images::pattern(w, h, seed.into()), format)
}

fn import(project: &mut Project, paths: &[PathBuf], options: &ImportOptions) -> ImportReport {
    ingest::import(project, paths, options, &keylabel::progress::NoProgress).expect("import")
}

fn options() -> ImportOptions {
    ImportOptions {
        annotator: "importer".into(),
        ..ImportOptions::default()
    }
}

fn reason_of<'a>(report: &'a ImportReport, path_end: &str) -> &'a str {
    let hits: Vec<_> = report
        .unreadable
        .iter()
        .filter(|u| u.path.ends_with(path_end))
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "one entry for {path_end} in {:#?}",
        report.unreadable
    );
    &hits[0].reason
}

/// Runs the real binary in `dir` on the project `p.keylabel`.
fn keylabel(dir: &Path, args: &[&str]) -> Output {
    crate::common::cli()
        .cwd(dir)
        .annotator("cli-user")
        .project("p.keylabel")
        .run(args)
}

/// A PNG whose header claims `w`×`h` pixels, with valid chunk CRCs and a tiny body: a few
/// hundred bytes that would need tens of gigabytes to decode.
fn bomb_png(w: u32, h: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(&crc.finalize().to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

#[test]
fn images_of_every_format_are_found_by_content_in_nested_folders() {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    let mut p = project(root, &["cat", "dog"], TaskKind::SingleLabel);
    let data = root.join("data");
    let files = [
        ("a/photo.jpg", 64, 48, ImageFormat::Jpeg, "jpeg"),
        ("a/b/deep/scan.png", 17, 5, ImageFormat::Png, "png"),
        ("a/b/anim.gif", 30, 20, ImageFormat::Gif, "gif"),
        ("c/web.webp", 40, 41, ImageFormat::WebP, "webp"),
        ("c/old.bmp", 9, 300, ImageFormat::Bmp, "bmp"),
        ("c/x-ray.tiff", 120, 80, ImageFormat::Tiff, "tiff"),
        (
            "été et hiver/chat noir 🐈.png",
            33,
            22,
            ImageFormat::Png,
            "png",
        ),
        // A PNG under a JPEG name is still a PNG: content decides.
        ("c/really a png.jpg", 12, 34, ImageFormat::Png, "png"),
        // No extension at all.
        ("c/noext", 8, 8, ImageFormat::Jpeg, "jpeg"),
    ];
    for (i, (name, w, h, format, _)) in files.iter().enumerate() {
        write_image(&data.join(name), *w, *h, i as u8, *format);
    }
    // Hidden folders and files, and other files, are passed over without a word.
    write_image(
        &data.join(".git/objects/hidden.png"),
        5,
        5,
        200,
        ImageFormat::Png,
    );
    write_image(&data.join("c/.hidden.png"), 5, 5, 201, ImageFormat::Png);
    fs::write(data.join("c/README.txt"), "notes about the pictures").unwrap();
    fs::write(
        data.join("c/table.csv"),
        "text\nnot imported from a folder\n",
    )
    .unwrap();
    fs::write(data.join("c/blob.bin"), [0u8, 1, 2, 3, 250, 251]).unwrap();

    let report = import(&mut p, std::slice::from_ref(&data), &options());
    assert!(report.unreadable.is_empty(), "{:#?}", report.unreadable);
    assert_eq!(report.added, files.len() as u64);
    assert_eq!((report.already_present, report.duplicates), (0, 0));

    for (name, w, h, _, format) in files {
        let stored = format!("data/{name}");
        let s = p
            .sample_by_name(&stored)
            .unwrap()
            .unwrap_or_else(|| panic!("{stored} imported"));
        assert_eq!(s.kind, SampleKind::Image);
        assert_eq!(s.path, stored);
        assert_eq!((s.width, s.height), (Some(w), Some(h)), "{name}");
        assert_eq!(s.format.as_deref(), Some(format), "{name}");
        let bytes = fs::read(data.join(name)).unwrap();
        assert_eq!(s.bytes, bytes.len() as u64);
        assert_eq!(s.hash, blake3::hash(&bytes).to_hex().to_string());
        // The shared probe agrees with what was stored.
        let info = ingest::images::probe(&data.join(name)).unwrap();
        assert_eq!((info.width, info.height, info.hash), (w, h, s.hash.clone()));
    }
    assert_eq!(
        p.count_samples(&SampleQuery::default()).unwrap(),
        files.len() as u64
    );
    // Import order follows the sorted folder walk.
    let ids = p.sample_ids(&SampleQuery::default(), 0, 100).unwrap();
    let first = p.sample(ids[0]).unwrap().unwrap();
    assert_eq!(first.name, "data/a/b/anim.gif");
    p.integrity_check().unwrap();
}

#[test]
fn broken_and_hostile_files_are_reported_and_the_rest_is_imported() {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    drop(project(root, &["cat", "dog"], TaskKind::SingleLabel));
    let data = root.join("in");
    write_image(&data.join("good one.png"), 20, 10, 1, ImageFormat::Png);
    write_image(&data.join("good.jpg"), 20, 10, 2, ImageFormat::Jpeg);

    let jpeg = encoded(64, 64, 3, ImageFormat::Jpeg);
    fs::write(data.join("cut.jpg"), &jpeg[..jpeg.len() / 2]).unwrap();
    let png = encoded(64, 64, 4, ImageFormat::Png);
    fs::write(data.join("cut.png"), &png[..png.len() - 20]).unwrap();
    // Trailing zero padding after a complete JPEG is fine.
    let mut padded = encoded(16, 16, 5, ImageFormat::Jpeg);
    padded.extend_from_slice(&[0; 32]);
    fs::write(data.join("padded.jpg"), &padded).unwrap();
    let gif = encoded(16, 16, 6, ImageFormat::Gif);
    fs::write(data.join("cut.gif"), &gif[..gif.len() / 2]).unwrap();
    // Only the trailer byte missing: every pixel is there, so it is an image.
    fs::write(data.join("no trailer.gif"), &gif[..gif.len() - 1]).unwrap();
    fs::write(data.join("empty.png"), b"").unwrap();
    fs::write(data.join("notes.png"), "this is text, not a picture\n").unwrap();
    fs::write(
        data.join("bad header.jpg"),
        [0xFF, 0xD8, 0xFF, 0x00, 1, 2, 3, 0xFF, 0xD9],
    )
    .unwrap();
    fs::write(data.join("bomb.png"), bomb_png(100_000, 100_000)).unwrap();
    // A normal small PNG built the same way passes: the bomb is refused for its size only.
    let out = keylabel(root, &["import", "in", "gone.jpg", "--json"]);
    let report = json_of(&out);
    assert_eq!(
        report.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "added",
            "already_present",
            "duplicates",
            "skipped",
            "unreadable"
        ]
    );
    assert_eq!(report["added"], 4, "{report:#}");
    assert_eq!(report["duplicates"], 0);
    let unreadable: Vec<(String, String)> = report["unreadable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["path"].as_str().unwrap().to_string(),
                u["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let reason = |end: &str| -> String {
        let hits: Vec<_> = unreadable
            .iter()
            .filter(|(p, _)| p.ends_with(end))
            .collect();
        assert_eq!(hits.len(), 1, "{end} in {unreadable:#?}");
        hits[0].1.clone()
    };
    assert_eq!(reason("gone.jpg"), "file not found");
    assert!(reason("cut.jpg").starts_with("truncated jpeg"));
    assert!(reason("cut.png").starts_with("truncated png"));
    assert!(reason("cut.gif").starts_with("truncated gif"));
    assert_eq!(reason("empty.png"), "empty file (0 bytes)");
    assert!(
        reason("notes.png").starts_with("not an image"),
        "{}",
        reason("notes.png")
    );
    assert!(reason("bad header.jpg").starts_with("corrupt jpeg header"));
    let bomb = reason("bomb.png");
    assert!(bomb.starts_with("decompression bomb"), "{bomb}");
    assert!(bomb.contains("100000x100000"), "{bomb}");
    assert_eq!(unreadable.len(), 8, "{unreadable:#?}");

    let p = Project::open(&root.join("p.keylabel")).unwrap();
    assert!(p.sample_by_name("in/padded.jpg").unwrap().is_some());
    assert!(p.sample_by_name("in/good one.png").unwrap().is_some());
    assert!(p.sample_by_name("in/bomb.png").unwrap().is_none());
    p.integrity_check().unwrap();

    // The same small PNG construction with a sane size is an image.
    fs::write(root.join("tiny.png"), bomb_png(3, 2)).unwrap();
    let info = ingest::images::probe(&root.join("tiny.png")).unwrap();
    assert_eq!((info.width, info.height, info.format_name), (3, 2, "png"));
}

#[test]
fn a_file_without_read_permission_is_reported() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new().unwrap();
    let mut p = project(dir.path(), &["cat"], TaskKind::SingleLabel);
    let file = dir.path().join("locked.png");
    write_image(&file, 4, 4, 1, ImageFormat::Png);
    fs::set_permissions(&file, fs::Permissions::from_mode(0o000)).unwrap();
    let report = import(&mut p, std::slice::from_ref(&file), &options());
    if fs::File::open(&file).is_ok() {
        // Running as root: permissions do not bind, so the file is simply read.
        assert_eq!(report.added, 1);
    } else {
        assert_eq!(report.added, 0);
        assert_eq!(reason_of(&report, "locked.png"), "permission denied");
    }
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
}

#[test]
fn same_bytes_are_one_sample_and_importing_again_adds_nothing() {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    let mut p = project(root, &["cat", "dog"], TaskKind::SingleLabel);
    let data = root.join("d");
    write_image(&data.join("one.png"), 10, 10, 1, ImageFormat::Png);
    write_image(&data.join("two.png"), 10, 10, 2, ImageFormat::Png);
    fs::copy(data.join("one.png"), data.join("copy of one.png")).unwrap();
    fs::create_dir_all(data.join("sub")).unwrap();
    fs::copy(data.join("two.png"), data.join("sub/two again.png")).unwrap();

    // The folder and one of its files named again: the file counts once.
    let report = import(&mut p, &[data.clone(), data.join("one.png")], &options());
    assert!(report.unreadable.is_empty(), "{:#?}", report.unreadable);
    assert_eq!(
        (report.added, report.duplicates, report.already_present),
        (2, 2, 0)
    );
    assert_eq!(p.sample_count().unwrap(), 2);

    let again = import(&mut p, std::slice::from_ref(&data), &options());
    assert_eq!((again.added, again.already_present), (0, 2));
    assert_eq!(again.duplicates, 2);
    assert!(again.unreadable.is_empty());
    assert_eq!(p.sample_count().unwrap(), 2);

    // A file changed on disk after its import is detected, and the project keeps its sample.
    // The walk is in name order, so the first file of each content is the sample.
    let names: Vec<String> = p
        .sample_ids(&SampleQuery::default(), 0, 10)
        .unwrap()
        .into_iter()
        .map(|id| p.sample(id).unwrap().unwrap().name)
        .collect();
    assert_eq!(names, ["d/copy of one.png", "d/sub/two again.png"]);
    let before = p.sample_by_name("d/sub/two again.png").unwrap().unwrap();
    write_image(
        &data.join("sub/two again.png"),
        10,
        10,
        99,
        ImageFormat::Png,
    );
    let changed = import(&mut p, &[data.join("sub/two again.png")], &options());
    assert_eq!((changed.added, changed.already_present), (0, 0));
    assert!(reason_of(&changed, "two again.png").starts_with("changed since it was imported"));
    assert_eq!(
        p.sample_by_name("d/sub/two again.png").unwrap().unwrap(),
        before
    );
    p.integrity_check().unwrap();
}

#[test]
fn folder_names_become_imported_labels_once() {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    let mut p = project(root, &["cat", "dog", "bird"], TaskKind::SingleLabel);
    p.archive_class("bird").unwrap();
    let data = root.join("pets");
    write_image(&data.join("cat/c1.png"), 8, 8, 1, ImageFormat::Png);
    write_image(&data.join("cat/c2.jpg"), 8, 8, 2, ImageFormat::Jpeg);
    write_image(&data.join("dog/d1.png"), 8, 8, 3, ImageFormat::Png);
    write_image(&data.join("unsorted/u1.png"), 8, 8, 4, ImageFormat::Png);
    // An archived class is not offered, so its folder gives no label.
    write_image(&data.join("bird/b1.png"), 8, 8, 5, ImageFormat::Png);

    // First without labels, then with: samples already present still get their label.
    import(&mut p, &[data.join("cat/c1.png")], &options());
    let opts = ImportOptions {
        labels_from_folders: true,
        annotator: "folders".into(),
        ..ImportOptions::default()
    };
    let report = import(&mut p, std::slice::from_ref(&data), &opts);
    assert_eq!((report.added, report.already_present), (4, 1));

    let cat = p.class_by_name("cat").unwrap().unwrap().id;
    let dog = p.class_by_name("dog").unwrap().unwrap().id;
    let label_of = |p: &Project, name: &str| {
        let s = p.sample_by_name(name).unwrap().unwrap();
        p.current_classes(s.id).unwrap()
    };
    assert_eq!(label_of(&p, "pets/cat/c1.png"), vec![cat]);
    assert_eq!(label_of(&p, "pets/cat/c2.jpg"), vec![cat]);
    assert_eq!(label_of(&p, "pets/dog/d1.png"), vec![dog]);
    assert!(label_of(&p, "pets/unsorted/u1.png").is_empty());
    assert!(label_of(&p, "pets/bird/b1.png").is_empty());

    let history = p.history(None).unwrap();
    assert_eq!(history.len(), 3);
    for e in &history {
        assert_eq!(e.kind, EventKind::Label);
        assert_eq!(e.source, Source::Imported);
        assert_eq!(e.annotator, "folders");
    }
    // Importing the folder again adds no second label.
    let again = import(&mut p, std::slice::from_ref(&data), &opts);
    assert_eq!((again.added, again.already_present), (0, 5));
    assert_eq!(p.history(None).unwrap().len(), 3);
    let status = p.status().unwrap();
    assert_eq!((status.labeled, status.unlabeled), (3, 2));
    p.integrity_check().unwrap();
}

#[test]
fn csv_rows_keep_typed_features_and_bad_rows_are_reported() {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    drop(project(root, &["pos", "neg"], TaskKind::SingleLabel));
    let mut csv: Vec<u8> = Vec::new();
    csv.extend_from_slice(b"review,stars,price,sku,note\n");
    csv.extend_from_slice(b"\"Great, really great\",5,19.99,007,\n");
    csv.extend_from_slice(b"Terrible,1,3.5,A12,\"said \"\"never\"\"\"\n");
    csv.extend_from_slice(b"ragged row,2\n");
    csv.extend_from_slice(b"caf\xe9 latin-1,4,2.0,B1,x\n");
    csv.extend_from_slice(b"\"Great, really great\",5,19.99,007,\n");
    csv.extend_from_slice(b"\"multi\nline text\",3,-1e2,C3,y\n");
    fs::write(root.join("reviews.csv"), &csv).unwrap();

    let out = keylabel(
        root,
        &["import", "reviews.csv", "--text-column", "review", "--json"],
    );
    let report = json_of(&out);
    assert_eq!(report["added"], 3, "{report:#}");
    assert_eq!(report["duplicates"], 1);
    let reasons: Vec<&str> = report["unreadable"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|u| assert_eq!(u["path"], "reviews.csv"))
        .map(|u| u["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].starts_with("row 3 (line 4): expected 5 fields, found 2"),
        "{reasons:?}"
    );
    assert!(reasons[1].starts_with("row 4 (line 5): invalid UTF-8 in column `review`"));

    let p = Project::open(&root.join("p.keylabel")).unwrap();
    let first = p.sample_by_name("reviews.csv#1").unwrap().unwrap();
    assert_eq!(first.kind, SampleKind::Text);
    assert_eq!(first.text.as_deref(), Some("Great, really great"));
    assert_eq!(first.row, Some(1));
    assert_eq!(first.path, "reviews.csv");
    let features = Value::Object(first.features.clone().unwrap());
    assert_eq!(
        features,
        json!({"stars": 5, "price": 19.99, "sku": "007", "note": null})
    );
    assert!(features["stars"].is_i64() && features["price"].is_f64());
    let second = p.sample_by_name("reviews.csv#2").unwrap().unwrap();
    assert_eq!(second.features.unwrap()["note"], json!("said \"never\""));
    let multi = p.sample_by_name("reviews.csv#6").unwrap().unwrap();
    assert_eq!(multi.text.as_deref(), Some("multi\nline text"));
    assert_eq!(multi.features.unwrap()["price"], json!(-100.0));
    // Row 5 repeats row 1: the same content, so a duplicate and not a sample.
    assert!(p.sample_by_name("reviews.csv#5").unwrap().is_none());
    assert_eq!(
        p.setting_value("table_schema").unwrap(),
        Some(json!({"text_column": "review", "id_column": null,
            "columns": ["stars", "price", "sku", "note"]})),
        "the other columns are kept in the file's order"
    );

    // Importing again adds nothing.
    let again = json_of(&keylabel(
        root,
        &["import", "reviews.csv", "--text-column", "review", "--json"],
    ));
    assert_eq!(
        (again["added"].clone(), again["already_present"].clone()),
        (json!(0), json!(3))
    );
    // Without the right text column, the file is reported as a whole.
    let wrong = json_of(&keylabel(root, &["import", "reviews.csv", "--json"]));
    assert_eq!(wrong["added"], 0);
    let reason = wrong["unreadable"][0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("no column `text`"), "{reason}");
    assert!(
        reason.contains("review, stars, price, sku, note"),
        "{reason}"
    );
    p.integrity_check().unwrap();
}

#[test]
fn id_column_names_rows_and_identical_rows_are_duplicates() {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    let mut p = project(root, &["a", "b"], TaskKind::SingleLabel);
    fs::write(
        root.join("t.tsv"),
        "id\ttext\tscore\nq-1\tfirst\t0.5\nq-2\tsecond\t1\nq-3\tfirst\t0.5\n\tno id\t2\nq-1\tother\t3\n",
    )
    .unwrap();
    let opts = ImportOptions {
        id_column: Some("id".into()),
        ..options()
    };
    let report = import(&mut p, &[root.join("t.tsv")], &opts);
    // q-3 has the same content as q-1 (ids are not content): a duplicate.
    assert_eq!((report.added, report.duplicates), (2, 1));
    let reasons: Vec<&str> = report
        .unreadable
        .iter()
        .map(|u| u.reason.as_str())
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].starts_with("row 4 (line 5): empty id"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].starts_with("row 5: the name `q-1` is already taken"),
        "{reasons:?}"
    );
    let s = p.sample_by_name("q-2").unwrap().unwrap();
    assert_eq!(s.text.as_deref(), Some("second"));
    assert_eq!(Value::Object(s.features.unwrap()), json!({"score": 1}));
    assert_eq!(
        p.setting_value("table_schema").unwrap(),
        Some(json!({"text_column": "text", "id_column": "id", "columns": ["score"]}))
    );
    p.integrity_check().unwrap();
}

#[test]
fn json_lines_rows_and_their_bad_lines() {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    let mut p = project(root, &["a", "b"], TaskKind::SingleLabel);
    let mut jsonl = Vec::new();
    jsonl.extend_from_slice(
        b"{\"text\": \"hello\", \"n\": 3, \"w\": 0.25, \"tags\": [\"x\"], \"none\": null}\n",
    );
    jsonl.extend_from_slice(b"{\"text\": \"broken\"\n");
    jsonl.extend_from_slice(b"\n");
    jsonl.extend_from_slice(b"[1, 2, 3]\n");
    jsonl.extend_from_slice(b"{\"body\": \"no text field\"}\n");
    jsonl.extend_from_slice(b"{\"text\": \"caf\xe9\"}\n");
    jsonl.extend_from_slice(b"{\"text\": \"\xc3\xa9t\xc3\xa9 \xf0\x9f\x8c\x9e\", \"n\": -1}");
    fs::write(root.join("rows.jsonl"), &jsonl).unwrap();
    let report = import(&mut p, &[root.join("rows.jsonl")], &options());
    assert_eq!(report.added, 2);
    let reasons: Vec<&str> = report
        .unreadable
        .iter()
        .map(|u| u.reason.as_str())
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(
        reasons[0].starts_with("line 2: invalid JSON"),
        "{reasons:?}"
    );
    assert_eq!(reasons[1], "line 4: not a JSON object");
    assert_eq!(reasons[2], "line 5: no `text` field for the text");
    assert_eq!(reasons[3], "line 6: invalid UTF-8");
    let first = p.sample_by_name("rows.jsonl#1").unwrap().unwrap();
    assert_eq!(
        Value::Object(first.features.unwrap()),
        json!({"n": 3, "w": 0.25, "tags": ["x"], "none": null})
    );
    let last = p.sample_by_name("rows.jsonl#7").unwrap().unwrap();
    assert_eq!(last.text.as_deref(), Some("été 🌞"));
    p.integrity_check().unwrap();
}

/// A project with four images (two in a sub folder) and three text rows.
fn labeled_setup(task: TaskKind) -> TempDir {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    let mut p = project(root, &["cat", "dog", "bird"], task);
    for (i, name) in ["img/a.png", "img/b.png", "img/sub/c.png", "img/sub/d.png"]
        .iter()
        .enumerate()
    {
        write_image(&root.join(name), 6, 6, i as u8, ImageFormat::Png);
    }
    fs::write(root.join("t.csv"), "id,text\nr1,one\nr2,two\nr3,three\n").unwrap();
    let opts = ImportOptions {
        id_column: Some("id".into()),
        ..options()
    };
    let r = import(&mut p, &[root.join("img"), root.join("t.csv")], &opts);
    assert_eq!(r.added, 7);
    dir
}

/// `import-labels <(cat labels.csv)`: the file is a pipe, which can be read only once (here
/// `/dev/stdin` of the real binary, a pipe that opening again does not rewind).
#[cfg(unix)]
#[test]
fn labels_are_imported_from_a_pipe() {
    use std::io::Write;
    let dir = labeled_setup(TaskKind::SingleLabel);
    let root = dir.path().to_path_buf();
    for content in [
        "sample,label\nimg/a.png,cat\nr2,bird\n",
        "  \n{\"sample\": \"img/a.png\", \"label\": \"dog\"}\n",
    ] {
        let mut child = crate::common::cli()
            .cwd(&root)
            .project("p.keylabel")
            .command(&["import-labels", "/dev/stdin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(content.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{content:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let p = Project::open(&root.join("p.keylabel")).unwrap();
    let id = |n: &str| p.find_sample(n).unwrap().unwrap().id;
    let class = |n: &str| p.class_by_name(n).unwrap().unwrap().id;
    assert_eq!(
        p.current_classes(id("img/a.png")).unwrap(),
        vec![class("dog")]
    );
    assert_eq!(p.current_classes(id("r2")).unwrap(), vec![class("bird")]);
}

#[test]
fn labels_are_imported_from_csv_with_per_row_annotators() {
    let dir = labeled_setup(TaskKind::SingleLabel);
    let root = dir.path();
    fs::write(
        root.join("labels.csv"),
        "sample,label,annotator\nimg/a.png,cat,\nimg/sub/c.png,dog,alice\nr2,bird,alice\n",
    )
    .unwrap();
    let out = keylabel(root, &["--annotator", "bob", "import-labels", "labels.csv"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(line.starts_with("Recorded 3 labels on 3 samples"), "{line}");

    let p = Project::open(&root.join("p.keylabel")).unwrap();
    let id = |n: &str| p.find_sample(n).unwrap().unwrap().id;
    let class = |n: &str| p.class_by_name(n).unwrap().unwrap().id;
    let a = p.decision_of(id("img/a.png"), "bob").unwrap().unwrap();
    assert_eq!(a.labels, vec![class("cat")]);
    let c = p
        .decision_of(id("img/sub/c.png"), "alice")
        .unwrap()
        .unwrap();
    assert_eq!(c.labels, vec![class("dog")]);
    assert_eq!(p.current_classes(id("r2")).unwrap(), vec![class("bird")]);
    let history = p.history(None).unwrap();
    assert_eq!(history.len(), 3);
    assert!(
        history
            .iter()
            .all(|e| e.kind == EventKind::Label && e.source == Source::Imported)
    );
    drop(p);

    // The same file again changes nothing and writes nothing.
    let out = keylabel(root, &["--annotator", "bob", "import-labels", "labels.csv"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Recorded 0 labels"));
    let p = Project::open(&root.join("p.keylabel")).unwrap();
    assert_eq!(p.history(None).unwrap().len(), 3);
    p.integrity_check().unwrap();
}

#[test]
fn a_labels_file_with_bad_rows_is_refused_as_a_whole() {
    let dir = labeled_setup(TaskKind::SingleLabel);
    let root = dir.path();
    fs::write(
        root.join("labels.csv"),
        "sample,label\nimg/a.png,cat\nimg/nope.png,cat\nimg/b.png,cta\nr1,cat|dog\nimg/sub/d.png,dog\n",
    )
    .unwrap();
    let out = keylabel(root, &["import-labels", "labels.csv"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("labels.csv"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert!(
        err.contains("row 2: unknown sample `img/nope.png`"),
        "{err}"
    );
    assert!(err.contains("row 3: unknown class `cta`"), "{err}");
    assert!(err.contains("row 4: 2 classes"), "{err}");
    let p = Project::open(&root.join("p.keylabel")).unwrap();
    assert!(p.history(None).unwrap().is_empty());
    drop(p);

    // More than five bad rows: the first five are named, the rest counted.
    let mut many = String::from("sample,label\n");
    for i in 0..8 {
        many.push_str(&format!("missing-{i},cat\n"));
    }
    fs::write(root.join("many.csv"), many).unwrap();
    let out = keylabel(root, &["import-labels", "many.csv"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("8 bad rows") && err.contains("missing-4") && !err.contains("missing-5"));
    assert!(err.contains("and 3 more"), "{err}");

    // A file without the needed columns.
    fs::write(root.join("cols.csv"), "file,class\nimg/a.png,cat\n").unwrap();
    let out = keylabel(root, &["import-labels", "cols.csv"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`sample` and `label`"));
    let p = Project::open(&root.join("p.keylabel")).unwrap();
    assert!(p.history(None).unwrap().is_empty());
    p.integrity_check().unwrap();
}

#[test]
fn suggestions_and_multi_labels_from_json_lines() {
    let dir = labeled_setup(TaskKind::MultiLabel);
    let root = dir.path();
    fs::write(
        root.join("model.jsonl"),
        concat!(
            "{\"sample\": \"img/a.png\", \"label\": \"cat|dog\", \"score\": 0.75}\n",
            "{\"sample\": \"r3\", \"label\": [\"bird\"], \"score\": \"0.5\"}\n",
            "{\"sample\": \"img/sub/c.png\", \"label\": \"dog\"}\n",
        ),
    )
    .unwrap();
    let out = keylabel(root, &["import-labels", "model.jsonl", "--as-suggestions"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Recorded 3 suggestions"));

    let mut p = Project::open(&root.join("p.keylabel")).unwrap();
    let id = |p: &Project, n: &str| p.find_sample(n).unwrap().unwrap().id;
    let class = |p: &Project, n: &str| p.class_by_name(n).unwrap().unwrap().id;
    let a = id(&p, "img/a.png");
    assert_eq!(
        p.suggestion(a).unwrap(),
        Some((vec![class(&p, "cat"), class(&p, "dog")], Some(0.75)))
    );
    assert_eq!(
        p.suggestion(id(&p, "r3")).unwrap(),
        Some((vec![class(&p, "bird")], Some(0.5)))
    );
    assert_eq!(
        p.suggestion(id(&p, "img/sub/c.png")).unwrap().unwrap().1,
        None
    );
    // Suggestions are not labels: nothing is labeled yet.
    assert_eq!(p.status().unwrap().labeled, 0);
    let history = p.history(None).unwrap();
    assert!(
        history
            .iter()
            .all(|e| e.kind == EventKind::Suggest && e.source == Source::Model)
    );
    assert!(history.iter().all(|e| e.annotator == "cli-user"));

    // Multi-label labels through the library.
    // A path relative to the project folder, written as `./…`, names the sample too.
    fs::write(
        root.join("multi.csv"),
        "sample,label\n./img/b.png,cat|bird\n",
    )
    .unwrap();
    let r = ingest::import_labels(&mut p, &root.join("multi.csv"), "carol", false).unwrap();
    assert_eq!((r.recorded, r.samples, r.unchanged), (1, 1, 0));
    let b = id(&p, "img/b.png");
    assert_eq!(
        p.current_classes(b).unwrap(),
        vec![class(&p, "cat"), class(&p, "bird")]
    );
    // A JSON Lines labels file with a broken line is refused.
    fs::write(
        root.join("bad.jsonl"),
        "{\"sample\": \"img/b.png\", \"label\": \"dog\"}\n{oops\n",
    )
    .unwrap();
    let err = ingest::import_labels(&mut p, &root.join("bad.jsonl"), "carol", false).unwrap_err();
    assert!(err.to_string().contains("line 2: invalid JSON"), "{err}");
    assert_eq!(p.history(None).unwrap().len(), 4);
    p.integrity_check().unwrap();
}

#[test]
fn two_processes_import_into_one_project_at_once() {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    drop(project(root, &["cat", "dog"], TaskKind::SingleLabel));
    let per_folder = 150;
    for folder in ["left", "right", "shared"] {
        for i in 0..per_folder {
            let seed = match folder {
                "left" => 0u8,
                "right" => 1,
                _ => 2,
            };
            // Distinct content everywhere: sizes differ per file, colours per folder.
            write_image(
                &root.join(folder).join(format!("{i:03}.png")),
                4 + i as u32,
                3,
                seed,
                ImageFormat::Png,
            );
        }
    }
    let spawn = |a: &str, b: &str| {
        crate::common::cli()
            .cwd(root)
            .command(&["-p", "p.keylabel", "import", a, b, "--json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn keylabel")
    };
    let first = spawn("left", "shared");
    let second = spawn("shared", "right");
    let outs = [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ];
    let reports: Vec<Value> = outs.iter().map(json_of).collect();
    let sum = |k: &str| reports.iter().map(|r| r[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(sum("added"), 3 * per_folder);
    assert_eq!(sum("already_present"), per_folder);
    assert_eq!(sum("duplicates"), 0);
    let p = Project::open(&root.join("p.keylabel")).unwrap();
    assert_eq!(p.sample_count().unwrap(), 3 * per_folder);
    p.integrity_check().unwrap();
}

#[test]
fn text_output_lists_unreadable_files_and_the_project_file_is_never_imported() {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    drop(project(root, &["cat"], TaskKind::SingleLabel));
    write_image(&root.join("ok.png"), 5, 5, 1, ImageFormat::Png);
    fs::write(root.join("broken.gif"), b"GIF89a").unwrap();
    // The project lies in the imported folder: its own files are skipped.
    let out = keylabel(root, &["import", "."]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(
            "Imported 1 new sample (0 already present, 0 duplicates, 1 unreadable, 0 skipped"
        ),
        "{text}"
    );
    assert!(text.contains("broken.gif: "), "{text}");
    assert!(!text.contains("p.keylabel"), "{text}");
    assert!(out.stderr.is_empty(), "no progress bar off a terminal");
    let p = Project::open(&root.join("p.keylabel")).unwrap();
    assert_eq!(p.sample_by_name("ok.png").unwrap().unwrap().width, Some(5));
    let report = import(
        &mut Project::open(&root.join("p.keylabel")).unwrap(),
        &[root.join("p.keylabel")],
        &options(),
    );
    assert_eq!(
        reason_of(&report, "p.keylabel"),
        "this is the project file itself"
    );
    p.integrity_check().unwrap();
}

/// A cancelled import stops between batches: what it committed stays, nothing is
/// half-written, and importing the same files again adds the rest.
#[test]
fn a_cancelled_import_keeps_whole_batches_and_importing_again_adds_the_rest() {
    let dir = TempDir::new().unwrap();
    let mut p = project(dir.path(), &["pos", "neg"], TaskKind::SingleLabel);
    let rows = 60_001;
    let csv = dir.path().join("rows.csv");
    let mut text = String::from("text\n");
    for i in 0..rows {
        text.push_str(&format!("row number {i}\n"));
    }
    fs::write(&csv, text).unwrap();
    let images = dir.path().join("images");
    fs::create_dir(&images).unwrap();
    write_image(&images.join("a.png"), 8, 8, 1, ImageFormat::Png);

    // Cancelled once the first batch of rows is stored.
    let watch = keylabel_testkit::progress::Watch::new(|_, done, _| done >= 50_000);
    let report = ingest::import(&mut p, std::slice::from_ref(&csv), &options(), &watch).unwrap();
    assert!(report.cancelled);
    assert_eq!(report.added, 50_000, "one whole batch");
    assert_eq!(p.status().unwrap().samples, 50_000);
    p.integrity_check().unwrap();

    // Cancelled before anything: the images are not read, the table not started.
    let watch = keylabel_testkit::progress::Watch::new(|_, _, _| true);
    watch.advance(0);
    let report =
        ingest::import(&mut p, &[images.clone(), csv.clone()], &options(), &watch).unwrap();
    assert!(report.cancelled);
    assert_eq!((report.added, report.already_present), (0, 0));

    // Again, to the end: the rest of the rows and the image.
    let report = import(&mut p, &[images, csv], &options());
    assert!(!report.cancelled);
    assert_eq!((report.added, report.already_present), (10_002, 50_000));
    assert_eq!(p.status().unwrap().samples, rows + 1);
    // The command line's report has no `cancelled` key: it cannot cancel.
    let json = serde_json::to_value(&report).unwrap();
    assert!(json.get("cancelled").is_none(), "{json}");
}

/// Names are kept exactly as the file gives them, and nothing is passed over without being
/// counted: a row id with spaces around it stays so (a label file names it so), and hidden
/// files (`..png`, `.DS_Store`), hidden folders and files that are no image are counted as
/// skipped.
#[test]
fn names_are_kept_exactly_and_skipped_files_are_counted() {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    drop(project(root, &["cat", "dog"], TaskKind::SingleLabel));
    fs::write(
        root.join("rows.csv"),
        "id,text\n  padded  ,first row\nplain,second row\n",
    )
    .unwrap();
    let out = keylabel(root, &["import", "rows.csv", "--id-column", "id", "--json"]);
    assert_eq!(json_of(&out)["added"], 2);
    let p = Project::open(&root.join("p.keylabel")).unwrap();
    assert!(p.sample_by_name("  padded  ").unwrap().is_some());
    assert!(p.sample_by_name("padded").unwrap().is_none());
    drop(p);
    fs::write(root.join("labels.csv"), "sample,label\n  padded  ,cat\n").unwrap();
    keylabel(root, &["import-labels", "labels.csv"]);
    let p = Project::open(&root.join("p.keylabel")).unwrap();
    let id = p.sample_by_name("  padded  ").unwrap().unwrap().id;
    assert_eq!(p.current_classes(id).unwrap().len(), 1);
    drop(p);

    let photos = root.join("photos");
    write_image(&photos.join("a.png"), 6, 6, 1, ImageFormat::Png);
    write_image(&photos.join("..png"), 6, 6, 2, ImageFormat::Png);
    write_image(&photos.join(".hidden/b.png"), 6, 6, 3, ImageFormat::Png);
    fs::write(photos.join(".DS_Store"), b"\0\0\0\x01Bud1").unwrap();
    fs::write(photos.join("notes.txt"), "a shopping list").unwrap();
    let out = keylabel(root, &["import", "photos", "--json"]);
    let report = json_of(&out);
    assert_eq!(report["added"], 1, "{report:#}");
    assert_eq!(
        report["skipped"], 4,
        "..png, .hidden, .DS_Store, notes.txt: {report:#}"
    );
    assert_eq!(
        report["unreadable"].as_array().unwrap().len(),
        0,
        "{report:#}"
    );
    let out = keylabel(root, &["import", "photos"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("4 skipped: hidden or no image"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn keylabel_within(dir: &Path, args: &[&str], limit: std::time::Duration) -> Output {
    crate::common::cli()
        .cwd(dir)
        .project(dir.join("p.keylabel"))
        .run_within(args, limit)
}

#[test]
fn pipes_devices_sockets_and_symlink_loops_in_a_folder_are_skipped_with_a_reason() {
    use std::os::unix::fs::symlink;
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    drop(project(root, &["cat"], TaskKind::SingleLabel));
    let photos = root.join("photos");
    write_image(&photos.join("a.png"), 6, 6, 1, ImageFormat::Png);
    write_image(&photos.join("deep/b.png"), 6, 6, 2, ImageFormat::Png);
    // A named pipe nobody writes to: opening it for reading would wait forever.
    let fifo = std::ffi::CString::new(
        photos
            .join("pipe.png")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    // A device, reached through a link: reading /dev/zero never ends.
    symlink("/dev/zero", photos.join("zero.jpg")).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(photos.join("socket")).unwrap();
    symlink("..", photos.join("deep/up")).unwrap();

    let limit = std::time::Duration::from_secs(30);
    let out = keylabel_within(root, &["import", "photos", "--json"], limit);
    let report = json_of(&out);
    assert_eq!(report["added"], 2, "{report:#}");
    let reasons: std::collections::BTreeMap<String, String> = report["unreadable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let path = Path::new(u["path"].as_str().unwrap());
            let name = path.strip_prefix("photos").unwrap().display().to_string();
            (name, u["reason"].as_str().unwrap().to_string())
        })
        .collect();
    let expected: std::collections::BTreeMap<String, String> = [
        ("deep/up", "a symbolic link loops back to a parent folder"),
        (
            "pipe.png",
            "a named pipe (FIFO), not a regular file: not read",
        ),
        ("socket", "a socket, not a regular file: not read"),
        ("zero.jpg", "a device, not a regular file: not read"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(reasons, expected);

    // Named on the command line, a pipe is refused with the same reason, not waited on.
    let out = keylabel_within(root, &["import", "photos/pipe.png", "--json"], limit);
    let report = json_of(&out);
    assert_eq!(report["added"], 0);
    assert_eq!(
        report["unreadable"][0]["reason"],
        "a named pipe (FIFO), not a regular file: not read"
    );
}

#[test]
fn a_50_mb_field_is_reported_and_a_20000_column_row_is_imported() {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    drop(project(root, &["cat", "dog"], TaskKind::SingleLabel));
    let huge = "x".repeat(50 << 20);
    fs::write(
        root.join("field.csv"),
        format!("id,text\na,small\nb,{huge}\nc,after\n"),
    )
    .unwrap();
    let lines = [
        json!({"id": "d", "text": "small line"}),
        json!({"id": "e", "text": huge}),
        json!({"id": "f", "text": "line after"}),
    ];
    let jsonl: String = lines.iter().map(|l| format!("{l}\n")).collect();
    fs::write(root.join("field.jsonl"), jsonl).unwrap();
    drop(huge);
    let columns = 20_000;
    let header: Vec<String> = (0..columns).map(|i| format!("c{i}")).collect();
    let values: Vec<String> = (0..columns).map(|i| (i * 7).to_string()).collect();
    fs::write(
        root.join("wide.csv"),
        format!(
            "id,text,{}\nw,wide row,{}\n",
            header.join(","),
            values.join(",")
        ),
    )
    .unwrap();
    let out = keylabel(
        root,
        &[
            "import",
            "field.csv",
            "field.jsonl",
            "wide.csv",
            "--id-column",
            "id",
            "--json",
        ],
    );
    let report = json_of(&out);
    assert_eq!(report["added"], 5, "{report:#}");
    assert_eq!(
        report["unreadable"],
        json!([
            {"path": "field.csv", "reason": "row 2 (line 3): 50.0 MiB, more than the 16 MiB a row may hold"},
            {"path": "field.jsonl", "reason": "line 2: 50.0 MiB, more than the 16 MiB a row may hold"},
        ])
    );
    let p = Project::open(&root.join("p.keylabel")).unwrap();
    for (name, present) in [
        ("a", true),
        ("b", false),
        ("c", true),
        ("d", true),
        ("e", false),
        ("f", true),
    ] {
        assert_eq!(p.sample_by_name(name).unwrap().is_some(), present, "{name}");
    }
    let wide = p.sample_by_name("w").unwrap().unwrap();
    let features = p.sample(wide.id).unwrap().unwrap().features.unwrap();
    assert_eq!(features.len(), columns);
    assert_eq!(features["c19999"], json!(19_999 * 7));
    assert_eq!(p.feature_columns().unwrap(), header);
}

/// A file that import found to be a duplicate of an earlier sample stays known as that
/// sample's other name: a labels file naming every file of the folder labels the sample
/// through either name, `history` shows both names, and a file that gives one sample two
/// different labels under its two names is refused.
#[test]
fn a_duplicate_file_name_is_the_samples_other_name() {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    drop(project(root, &["cat", "dog"], TaskKind::SingleLabel));
    let photos = root.join("photos");
    write_image(&photos.join("a.png"), 6, 6, 1, ImageFormat::Png);
    fs::copy(photos.join("a.png"), photos.join("copy of a.png")).unwrap();
    write_image(&photos.join("b.png"), 6, 6, 2, ImageFormat::Png);
    let report = json_of(&keylabel(root, &["import", "photos", "--json"]));
    assert_eq!(
        (report["added"].clone(), report["duplicates"].clone()),
        (json!(2), json!(1))
    );

    fs::write(
        root.join("conflict.csv"),
        "sample,label\nphotos/a.png,cat\nphotos/copy of a.png,dog\nphotos/b.png,dog\n",
    )
    .unwrap();
    let out = keylabel(root, &["import-labels", "conflict.csv"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("row 2: `photos/copy of a.png` holds the same content as `photos/a.png` (row 1) but gets another label"),
        "{err}"
    );

    fs::write(
        root.join("labels.csv"),
        "sample,label\nphotos/a.png,cat\nphotos/copy of a.png,cat\nphotos/b.png,dog\n",
    )
    .unwrap();
    let out = keylabel(root, &["import-labels", "labels.csv"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Recorded 2 labels on 2 samples") && text.contains("(1 row unchanged)"),
        "{text}"
    );
    // Labelled through the other name alone.
    fs::write(
        root.join("other.csv"),
        "sample,label,annotator\nphotos/copy of a.png,dog,bob\n",
    )
    .unwrap();
    assert!(
        keylabel(root, &["import-labels", "other.csv"])
            .status
            .success()
    );

    let p = Project::open(&root.join("p.keylabel")).unwrap();
    let a = p.sample_by_name("photos/a.png").unwrap().unwrap();
    assert_eq!(p.aliases_of(a.id).unwrap(), vec!["photos/copy of a.png"]);
    assert!(p.sample_by_name("photos/copy of a.png").unwrap().is_none());
    assert_eq!(p.decisions(a.id).unwrap().len(), 2, "importer and bob");
    drop(p);
    let out = keylabel(root, &["history", "photos/copy of a.png"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("`photos/a.png`, also imported as `photos/copy of a.png`"),
        "{text}"
    );
    assert_eq!(
        text.lines().count(),
        3,
        "the name line and two labels: {text}"
    );

    // When the copy is changed and imported again, it becomes a sample of its own.
    write_image(&photos.join("copy of a.png"), 6, 6, 3, ImageFormat::Png);
    let report = json_of(&keylabel(root, &["import", "photos", "--json"]));
    assert_eq!(report["added"], 1, "{report:#}");
    let p = Project::open(&root.join("p.keylabel")).unwrap();
    assert!(p.aliases_of(a.id).unwrap().is_empty());
    assert!(p.sample_by_name("photos/copy of a.png").unwrap().is_some());
}

#[test]
fn import_remembers_what_it_read_so_the_first_validation_reads_no_file_twice() {
    use keylabel::validate::{Options, phash, validate};
    let dir = tempfile::tempdir().unwrap();
    let mut p = project(dir.path(), &["a"], TaskKind::SingleLabel);
    let photo = images::photo(160, 120, 9);
    let files = dir.path().join("files");
    fs::create_dir_all(&files).unwrap();
    // The same picture as PNG and as JPEG (near-duplicates), another one, and a photo
    // larger than what import hashes.
    let png = images::encode(photo.clone(), ImageFormat::Png);
    let jpeg = images::jpeg(&photo, 85);
    let other = images::encode(images::photo(160, 120, 10), ImageFormat::Png);
    let large = images::encode(images::pattern(1100, 1000, 3), ImageFormat::Png);
    for (name, bytes) in [
        ("same.png", &png),
        ("same.jpg", &jpeg),
        ("other.png", &other),
        ("large.png", &large),
    ] {
        images::write(&files.join(name), bytes);
    }
    let report = import(&mut p, std::slice::from_ref(&files), &options());
    assert_eq!(report.added, 4, "{report:?}");

    let sql = keylabel_testkit::fixtures::sql(&p);
    let checks: i64 = sql
        .query_row("SELECT count(*) FROM file_checks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(checks, 4, "every intact file read whole is remembered");
    // The three small images are hashed, with the validation's own recipe; the large one
    // is left to the first validation.
    let hashed: Vec<(String, i64)> = sql
        .prepare(
            "SELECT s.name, h.phash FROM perceptual_hashes h JOIN samples s ON s.id = h.sample_id \
             WHERE h.algorithm = ?1 AND h.content_hash = s.hash ORDER BY s.name",
        )
        .unwrap()
        .query_map([phash::ALGORITHM], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let expected = |bytes: &[u8], format| phash::perceptual_hash(bytes, format).unwrap() as i64;
    assert_eq!(
        hashed,
        vec![
            (
                "files/other.png".to_string(),
                expected(&other, ImageFormat::Png)
            ),
            (
                "files/same.jpg".to_string(),
                expected(&jpeg, ImageFormat::Jpeg)
            ),
            (
                "files/same.png".to_string(),
                expected(&png, ImageFormat::Png)
            ),
        ]
    );

    let found = validate(&p, &Options::default()).unwrap();
    let pairs = &found
        .finding("NEAR_DUPLICATES")
        .unwrap_or_else(|| panic!("{:#?} {hashed:x?}", found.findings))
        .samples;
    assert!(
        pairs.iter().any(|s| s.contains("same.png"))
            && pairs.iter().any(|s| s.contains("same.jpg")),
        "{pairs:?}"
    );
    assert!(found.finding("CHANGED_FILES").is_none());
    let after: i64 = sql
        .query_row("SELECT count(*) FROM perceptual_hashes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(after, 4, "validation hashed the large image");

    // A file rewritten after the import is still found changed: what the import
    // remembered is trusted only while the file's stamp is unchanged.
    std::thread::sleep(std::time::Duration::from_millis(20));
    images::write(&files.join("other.png"), &png);
    let changed = validate(&p, &Options::default()).unwrap();
    assert_eq!(
        changed.finding("CHANGED_FILES").unwrap().samples,
        vec!["files/other.png"]
    );
}
