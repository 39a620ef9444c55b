//! Detect projects end to end through the real binary: `init --task detect`, boxes from
//! COCO, Pascal VOC and YOLO files, the event log (undo, history, merge), the box checks of
//! validation, and the TFRecord, COCO, VOC and YOLO exports read back.

use std::fs;
use std::path::PathBuf;

use crate::common::images;
use image::ImageFormat;
use keylabel::project::{BoundingBox, ClassId, EventKind, NewEvent, Project};
use keylabel_testkit::Cli;
use serde_json::{Value, json};
use tempfile::TempDir;

/// A box as (class name, x, y, w, h).
type NamedBox = (String, f64, f64, f64, f64);
/// An image's name and its current boxes.
type ImageBoxes = (String, Vec<NamedBox>);

/// A detect project `p.keylabel` with classes car, person, dog and five imported images of
/// known sizes under `images/`.
struct Detect {
    dir: TempDir,
}

const IMAGES: [(&str, u32, u32); 5] = [
    ("a.png", 64, 48),
    ("b.png", 80, 60),
    ("c.jpg", 100, 40),
    ("d.png", 30, 30),
    ("e.png", 50, 70),
];

impl Detect {
    fn new() -> Detect {
        let dir = tempfile::tempdir().unwrap();
        let d = Detect { dir };
        d.cli()
            .ok(&["init", "--task", "detect", "--classes", "car,person,dog"]);
        fs::create_dir_all(d.path("images")).unwrap();
        for (i, (name, w, h)) in IMAGES.iter().enumerate() {
            let format = if name.ends_with(".jpg") {
                ImageFormat::Jpeg
            } else {
                ImageFormat::Png
            };
            images::save(
                &d.path("images").join(name),
                images::pattern(*w, *h, i as u32 + 1),
                format,
            );
        }
        d.cli().ok(&["import", "images"]);
        d
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn cli(&self) -> Cli {
        crate::common::cli()
            .cwd(self.dir.path())
            .annotator("ann")
            .project("p.keylabel")
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        p
    }

    fn status(&self) -> Value {
        self.cli().json(&["status", "--json"])
    }

    fn open(&self) -> Project {
        Project::open(&self.path("p.keylabel")).unwrap()
    }

    /// Each image's current boxes as (class name, x, y, w, h), by image name.
    fn boxes(&self) -> Vec<ImageBoxes> {
        let p = self.open();
        let classes = p.classes().unwrap();
        let name_of = |id: ClassId| classes.iter().find(|c| c.id == id).unwrap().name.clone();
        let mut out = Vec::new();
        for (name, _, _) in IMAGES {
            let s = p.find_sample(&format!("images/{name}")).unwrap().unwrap();
            let boxes = p
                .current_boxes(s.id)
                .unwrap()
                .into_iter()
                .map(|b| (name_of(b.class), b.x, b.y, b.w, b.h))
                .collect();
            out.push((name.to_string(), boxes));
        }
        out
    }
}

/// The COCO file the tests import: a (two boxes), b (one), c (none: "no objects"); d and
/// e are not in it.
fn coco() -> Value {
    json!({
        "images": [
            {"id": 1, "file_name": "a.png", "width": 64, "height": 48},
            {"id": 2, "file_name": "images/b.png", "width": 80, "height": 60},
            {"id": 7, "file_name": "c.jpg", "width": 100, "height": 40},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [0, 0, 1, 1], "area": 1, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [10.5, 4, 20, 30.25], "area": 605, "iscrowd": 0},
            {"id": 3, "image_id": 2, "category_id": 2, "bbox": [40, 20, 40, 40], "area": 1600, "iscrowd": 0},
        ],
        "categories": [
            {"id": 1, "name": "car"}, {"id": 2, "name": "person"}, {"id": 3, "name": "dog"},
        ],
    })
}

fn expected_after_coco() -> Vec<ImageBoxes> {
    vec![
        (
            "a.png".into(),
            vec![
                ("dog".into(), 0.0, 0.0, 1.0, 1.0),
                ("car".into(), 10.5, 4.0, 20.0, 30.25),
            ],
        ),
        (
            "b.png".into(),
            vec![("person".into(), 40.0, 20.0, 40.0, 40.0)],
        ),
        ("c.jpg".into(), vec![]),
        ("d.png".into(), vec![]),
        ("e.png".into(), vec![]),
    ]
}

#[test]
fn a_detect_project_reports_its_task_and_counts_boxes() {
    let d = Detect::new();
    let s = d.status();
    assert_eq!(s["task"], "detect");
    assert_eq!(s["boxes"], 0);
    let classes = d.cli().json(&["classes", "list", "--json"]);
    assert_eq!(classes["task"], "detect");
    assert_eq!(classes["classes"][0]["name"], "car");

    let file = d.write("coco.json", &coco().to_string());
    let out = d.cli().ok(&["import-labels", file.to_str().unwrap()]);
    let said = keylabel_testkit::cli::stdout(&out);
    assert!(said.contains("Recorded 3 labels on 3 samples"), "{said}");
    assert_eq!(d.boxes(), expected_after_coco());

    let s = d.status();
    assert_eq!(s["boxes"], 3);
    assert_eq!(s["labeled"], 3, "c.jpg is decided: no objects");
    assert_eq!(s["unlabeled"], 2);
    let count = |name: &str| {
        s["classes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["count"]
            .clone()
    };
    assert_eq!(
        (count("car"), count("person"), count("dog")),
        (json!(1), json!(1), json!(1))
    );

    // The same file again changes nothing.
    let out = d.cli().ok(&["import-labels", file.to_str().unwrap()]);
    assert!(keylabel_testkit::cli::stdout(&out).contains("Recorded 0 labels"));

    // A classification project is no place for --task detect's options, and the reverse.
    let other = tempfile::tempdir().unwrap();
    let refused = crate::common::cli()
        .cwd(other.path())
        .project("x.keylabel")
        .run(&[
            "init",
            "--task",
            "detect",
            "--multi-label",
            "--classes",
            "a",
        ]);
    assert!(!refused.status.success());
    assert!(
        keylabel_testkit::cli::stderr(&refused)
            .contains("--multi-label is a classification option")
    );
    assert!(!other.path().join("x.keylabel").exists());
}

#[test]
fn a_bad_coco_file_is_refused_whole_naming_its_entries() {
    let d = Detect::new();
    let mut bad = coco();
    bad["images"][1]["file_name"] = json!("nope.png");
    bad["categories"][2]["name"] = json!("cat");
    // A rotated photo's size, swapped: boxes drawn on the upright view.
    bad["images"][2]["width"] = json!(40);
    bad["images"][2]["height"] = json!(100);
    let file = d.write("bad.json", &bad.to_string());
    let out = d.cli().run(&["import-labels", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = keylabel_testkit::cli::stderr(&out);
    assert!(err.contains("nothing was written"), "{err}");
    assert!(err.contains("unknown image `nope.png`"), "{err}");
    assert!(err.contains("unknown class `cat`"), "{err}");
    assert!(err.contains("width and height swapped"), "{err}");
    assert_eq!(d.status()["boxes"], 0);
    assert_eq!(d.status()["labeled"], 0);

    let out = d.cli().run(&[
        "import-labels",
        d.write("x.json", "{\"images\": 3}").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(keylabel_testkit::cli::stderr(&out).contains("not a COCO annotation file"));
}

#[test]
fn voc_and_yolo_folders_give_the_same_boxes_as_coco() {
    let d = Detect::new();
    // The COCO boxes of a.png and b.png as VOC (1-based corners) and YOLO (normalised
    // centres), on whole pixels so that every format holds them exactly.
    let voc = |file: &str, w: u32, h: u32, objects: &[(&str, u32, u32, u32, u32)]| {
        let mut s = format!(
            "<annotation><filename>{file}</filename><size><width>{w}</width>\
             <height>{h}</height><depth>3</depth></size>"
        );
        for (name, xmin, ymin, xmax, ymax) in objects {
            s.push_str(&format!(
                "<object><name>{name}</name><bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin>\
                 <xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>"
            ));
        }
        s + "</annotation>"
    };
    d.write(
        "voc/a.xml",
        &voc(
            "a.png",
            64,
            48,
            &[("dog", 1, 1, 1, 1), ("car", 11, 5, 30, 34)],
        ),
    );
    d.write(
        "voc/b.xml",
        &voc("b.png", 80, 60, &[("person", 41, 21, 80, 60)]),
    );
    d.write("voc/c.xml", &voc("c.jpg", 100, 40, &[]));
    d.cli().ok(&["import-labels", "voc"]);
    let expected = vec![
        (
            "a.png".to_string(),
            vec![
                ("dog".to_string(), 0.0, 0.0, 1.0, 1.0),
                ("car".to_string(), 10.0, 4.0, 20.0, 30.0),
            ],
        ),
        (
            "b.png".into(),
            vec![("person".into(), 40.0, 20.0, 40.0, 40.0)],
        ),
        ("c.jpg".into(), vec![]),
        ("d.png".into(), vec![]),
        ("e.png".into(), vec![]),
    ];
    assert_eq!(d.boxes(), expected);
    assert_eq!(d.status()["labeled"], 3);

    // YOLO, as another annotator: class indices in the project's order (car, person, dog).
    d.write("yolo/classes.txt", "car\nperson\ndog\n");
    d.write(
        "yolo/labels/a.txt",
        &format!(
            "2 {} {} {} {}\n0 {} {} {} {}\n",
            0.5 / 64.0,
            0.5 / 48.0,
            1.0 / 64.0,
            1.0 / 48.0,
            20.0 / 64.0,
            19.0 / 48.0,
            20.0 / 64.0,
            30.0 / 48.0
        ),
    );
    d.write(
        "yolo/labels/b.txt",
        "1 0.75 0.6666666666666666 0.5 0.6666666666666666\n",
    );
    d.write("yolo/labels/c.txt", "");
    let yolo = d.cli().annotator("bob").ok(&["import-labels", "yolo"]);
    assert!(keylabel_testkit::cli::stdout(&yolo).contains("Recorded 3 labels"));
    let p = d.open();
    for (name, boxes) in &expected {
        let s = p.find_sample(&format!("images/{name}")).unwrap().unwrap();
        let Some(bob) = p.decision_of(s.id, "bob").unwrap() else {
            assert!(boxes.is_empty() && !["a.png", "b.png", "c.jpg"].contains(&name.as_str()));
            continue;
        };
        let got: Vec<(f64, f64, f64, f64)> = bob
            .boxes
            .unwrap()
            .iter()
            .map(|b| (b.x, b.y, b.w, b.h))
            .collect();
        let want: Vec<(f64, f64, f64, f64)> = boxes.iter().map(|b| (b.1, b.2, b.3, b.4)).collect();
        assert_eq!(got.len(), want.len(), "{name}");
        for (g, w) in got.iter().zip(&want) {
            for (a, b) in [(g.0, w.0), (g.1, w.1), (g.2, w.2), (g.3, w.3)] {
                assert!((a - b).abs() < 1e-9, "{name}: {got:?} vs {want:?}");
            }
        }
    }
    assert_eq!(d.status()["labeled"], 3);

    // A classes.txt in another order would make the indices mean other classes.
    d.write("yolo2/classes.txt", "person\ncar\ndog\n");
    d.write("yolo2/a.txt", "0 0.5 0.5 0.1 0.1\n");
    let out = d.cli().run(&["import-labels", "yolo2"]);
    assert!(!out.status.success());
    assert!(keylabel_testkit::cli::stderr(&out).contains("`classes.txt` names the classes"));
}

#[test]
fn every_change_is_an_event_and_undo_steps_back_through_them() {
    let d = Detect::new();
    let mut p = d.open();
    let a = p.find_sample("images/a.png").unwrap().unwrap().id;
    let car = ClassId(1);
    let one = vec![BoundingBox::new(car, 1.0, 2.0, 10.0, 10.0)];
    let two = vec![one[0], BoundingBox::new(ClassId(2), 20.0, 5.0, 8.0, 16.0)];
    p.record(NewEvent::boxes(a, "ann", EventKind::Label, one.clone()))
        .unwrap();
    p.record(NewEvent::boxes(a, "ann", EventKind::Label, two.clone()))
        .unwrap();
    assert_eq!(p.current_boxes(a).unwrap(), two);
    assert_eq!(p.undo_last("ann").unwrap(), Some(a));
    assert_eq!(p.current_boxes(a).unwrap(), one);
    p.undo_last("ann").unwrap();
    assert!(p.current_boxes(a).unwrap().is_empty());
    assert_eq!(
        p.sample_status(a).unwrap(),
        keylabel::project::SampleStatus::Unlabeled
    );
    // "No objects" is a decision.
    p.record(NewEvent::boxes(a, "ann", EventKind::Label, vec![]))
        .unwrap();
    assert_eq!(
        p.sample_status(a).unwrap(),
        keylabel::project::SampleStatus::Labeled
    );
    // A class label in a detect project, or a box that is not a number, is refused.
    let err = p
        .record(NewEvent::label(a, "ann", vec![car]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("a set of boxes"), "{err}");
    let err = p
        .record(NewEvent::boxes(
            a,
            "ann",
            EventKind::Label,
            vec![BoundingBox::new(car, f64::NAN, 0.0, 1.0, 1.0)],
        ))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a finite number"), "{err}");

    // The history shows every step with its boxes.
    let history = d.cli().json(&["history", "images/a.png", "--json"]);
    let kinds: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["label", "label", "undo", "undo", "label"]);
    assert_eq!(history[1]["boxes"].as_array().unwrap().len(), 2);
    assert_eq!(history[1]["labels"], json!(["car", "person"]));
    // And as text, each decision with its boxes, not only their classes.
    let text = keylabel_testkit::cli::stdout(&d.cli().ok(&["history", "images/a.png"]));
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[1].contains("  2 boxes: car (1, 2, 10×10), person (20, 5, 8×16)  (undone)"),
        "{text}"
    );
    assert!(lines[0].contains("  1 box: car (1, 2, 10×10)"), "{text}");
    assert!(lines[4].ends_with("  no objects"), "{text}");
}

#[test]
fn merge_carries_boxes_and_refuses_broken_ones() {
    let d = Detect::new();
    fs::copy(d.path("p.keylabel"), d.path("copy.keylabel")).unwrap();
    let file = d.write("coco.json", &coco().to_string());
    d.cli()
        .project("copy.keylabel")
        .annotator("eve")
        .ok(&["import-labels", file.to_str().unwrap()]);
    d.cli().ok(&["merge", "copy.keylabel"]);
    assert_eq!(d.boxes(), expected_after_coco());

    // A copy whose event holds boxes that are not a box list is refused whole.
    fs::copy(d.path("p.keylabel"), d.path("broken.keylabel")).unwrap();
    {
        let broken = Project::open(&d.path("broken.keylabel")).unwrap();
        let sql = keylabel_testkit::fixtures::sql(&broken);
        sql.execute(
            "INSERT INTO events(uid, sample_id, annotator, kind, labels, source, at, boxes) \
             SELECT 'bad-uid', id, 'mallory', 'label', '[1]', 'human', '2026-01-01T00:00:00Z', \
             '[{\"class\": 1, \"x\": \"left\"}]' FROM samples LIMIT 1",
            [],
        )
        .unwrap();
    }
    let before = fs::read(d.path("p.keylabel")).unwrap();
    let out = d.cli().run(&["merge", "broken.keylabel"]);
    assert!(!out.status.success());
    let err = keylabel_testkit::cli::stderr(&out);
    assert!(
        err.contains("broken.keylabel") && err.contains("bad-uid"),
        "{err}"
    );
    assert!(err.contains("a box list"), "{err}");
    assert_eq!(fs::read(d.path("p.keylabel")).unwrap(), before);
}

#[test]
fn validation_names_bad_boxes_and_undecided_images() {
    let d = Detect::new();
    let mut p = d.open();
    let id = |p: &Project, n: &str| p.find_sample(&format!("images/{n}")).unwrap().unwrap().id;
    let (a, b, c, e) = (
        id(&p, "a.png"),
        id(&p, "b.png"),
        id(&p, "c.jpg"),
        id(&p, "e.png"),
    );
    let car = ClassId(1);
    let bx = |x, y, w, h| BoundingBox::new(car, x, y, w, h);
    p.record_all(&[
        // a is 64×48: within half a pixel of the edge is fine; a pixel past it is not.
        NewEvent::boxes(
            a,
            "ann",
            EventKind::Label,
            vec![bx(-0.4, 0.0, 64.8, 48.0), bx(10.0, 10.0, 55.0, 5.0)],
        ),
        // b: a box of no width, a tiny one, and two boxes of one object.
        NewEvent::boxes(
            b,
            "ann",
            EventKind::Label,
            vec![bx(5.0, 5.0, 0.0, 10.0), bx(1.0, 1.0, 1.5, 1.5)],
        ),
        NewEvent::boxes(
            c,
            "ann",
            EventKind::Label,
            vec![bx(10.0, 10.0, 20.0, 20.0), bx(10.0, 10.0, 20.0, 20.2)],
        ),
        // e: no objects, decided.
        NewEvent::boxes(e, "ann", EventKind::Label, vec![]),
    ])
    .unwrap();
    let report = d.cli().run(&["validate", "--json"]);
    let v: Value = serde_json::from_slice(&report.stdout).unwrap();
    let finding = |code: &str| {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == code)
            .cloned()
            .unwrap_or_else(|| panic!("no {code} in {v:#}"))
    };
    assert_eq!(
        finding("BOX_OUT_OF_BOUNDS")["samples"],
        json!(["images/a.png"])
    );
    assert_eq!(finding("BOX_OUT_OF_BOUNDS")["severity"], "error");
    assert_eq!(
        finding("DEGENERATE_BOX")["samples"],
        json!(["images/b.png"])
    );
    assert_eq!(finding("TINY_BOXES")["samples"], json!(["images/b.png"]));
    assert_eq!(finding("TINY_BOXES")["severity"], "warning");
    assert_eq!(
        finding("DUPLICATE_BOXES")["samples"],
        json!(["images/c.jpg"])
    );
    // d is undecided; e, decided as empty, is not.
    assert_eq!(
        finding("UNDECIDED_IMAGES")["samples"],
        json!(["images/d.png"])
    );
    assert!(
        !v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "UNLABELED_SAMPLES")
    );
    assert_eq!(v["ok"], false);
    assert!(!report.status.success());
}

/// A detect project with every image decided and clean boxes, for the exports.
fn labeled() -> Detect {
    let d = Detect::new();
    let file = d.write("coco.json", &coco().to_string());
    d.cli().ok(&["import-labels", file.to_str().unwrap()]);
    let mut p = d.open();
    let id = |n: &str| p.find_sample(&format!("images/{n}")).unwrap().unwrap().id;
    let (dd, e) = (id("d.png"), id("e.png"));
    p.record_all(&[
        NewEvent::boxes(
            dd,
            "ann",
            EventKind::Label,
            vec![BoundingBox::new(ClassId(2), 3.0, 4.0, 20.0, 26.0)],
        ),
        NewEvent::boxes(e, "ann", EventKind::Label, vec![]),
    ])
    .unwrap();
    d
}

#[test]
fn tfrecord_export_holds_the_object_detection_api_features() {
    use keylabel::export::example::{Example, Kind};
    use prost::Message;
    fn kind<'a>(ex: &'a Example, key: &str) -> &'a Kind {
        let f = ex.features.as_ref().unwrap().feature.get(key);
        f.and_then(|f| f.kind.as_ref())
            .unwrap_or_else(|| panic!("no {key}"))
    }
    fn bytes(ex: &Example, key: &str) -> Vec<Vec<u8>> {
        match kind(ex, key) {
            Kind::BytesList(b) => b.value.clone(),
            other => panic!("{key}: {other:?}"),
        }
    }
    fn ints(ex: &Example, key: &str) -> Vec<i64> {
        match kind(ex, key) {
            Kind::Int64List(i) => i.value.clone(),
            other => panic!("{key}: {other:?}"),
        }
    }
    fn floats(ex: &Example, key: &str) -> Vec<f32> {
        match kind(ex, key) {
            Kind::FloatList(f) => f.value.clone(),
            other => panic!("{key}: {other:?}"),
        }
    }
    let d = labeled();
    d.cli().ok(&[
        "export", "--format", "tfrecord", "--out", "tf", "--split", "all=1",
    ]);
    let label_map = fs::read_to_string(d.path("tf/label_map.pbtxt")).unwrap();
    assert_eq!(
        label_map,
        "item {\n  id: 1\n  name: \"car\"\n}\nitem {\n  id: 2\n  name: \"person\"\n}\n\
         item {\n  id: 3\n  name: \"dog\"\n}\n"
    );
    let schema = fs::read_to_string(d.path("tf/schema.pbtxt")).unwrap();
    assert!(
        schema.contains("name: \"image/object/bbox/xmin\""),
        "{schema}"
    );
    assert!(
        schema.contains("float_domain {\n    min: 0.0\n    max: 1.0\n  }"),
        "{schema}"
    );
    assert!(
        schema.contains("value_count {\n    min: 0\n    max: 2\n  }"),
        "{schema}"
    );

    let data = fs::read(d.path("tf/all/data-00000-of-00001.tfrecord")).unwrap();
    let records: Vec<Vec<u8>> = keylabel::export::tfrecord::RecordReader::new(&data[..])
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(records.len(), 5);
    let mut seen = 0;
    for r in &records {
        let ex = Example::decode(&r[..]).unwrap();
        let name = String::from_utf8(bytes(&ex, "image/filename")[0].clone()).unwrap();
        let encoded = &bytes(&ex, "image/encoded")[0];
        let decoded = image::load_from_memory(encoded).unwrap();
        let (w, h) = (decoded.width() as f64, decoded.height() as f64);
        assert_eq!(ints(&ex, "image/width"), vec![w as i64]);
        assert_eq!(ints(&ex, "image/height"), vec![h as i64]);
        use sha2::Digest;
        let sha: String = sha2::Sha256::digest(encoded)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(bytes(&ex, "image/key/sha256")[0], sha.into_bytes());
        let xmin = floats(&ex, "image/object/bbox/xmin");
        let ymax = floats(&ex, "image/object/bbox/ymax");
        let labels = ints(&ex, "image/object/class/label");
        let texts = bytes(&ex, "image/object/class/text");
        let areas = floats(&ex, "image/object/area");
        match name.as_str() {
            "images/a.png" => {
                assert_eq!(labels, vec![3, 1]);
                assert_eq!(texts, vec![b"dog".to_vec(), b"car".to_vec()]);
                assert_eq!(xmin, vec![0.0, (10.5 / 64.0) as f32]);
                assert_eq!(ymax, vec![(1.0 / 48.0) as f32, (34.25 / 48.0) as f32]);
                assert_eq!(areas, vec![1.0, 605.0]);
                seen += 1;
            }
            "images/c.jpg" | "images/e.png" => {
                assert!(
                    labels.is_empty() && xmin.is_empty() && areas.is_empty(),
                    "{name}"
                );
                seen += 1;
            }
            _ => assert_eq!(labels.len(), 1, "{name}"),
        }
    }
    assert_eq!(seen, 3);
    let manifest: Value =
        serde_json::from_str(&fs::read_to_string(d.path("tf/manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["splits"]["all"]["classes"],
        json!({"car": 1, "person": 2, "dog": 1})
    );

    // Byte-identical the second time.
    d.cli().ok(&[
        "export", "--format", "tfrecord", "--out", "tf2", "--split", "all=1",
    ]);
    assert_eq!(
        fs::read(d.path("tf2/all/data-00000-of-00001.tfrecord")).unwrap(),
        data
    );
}

#[test]
fn the_export_s_image_keys_are_the_files_sha256_whether_the_import_took_it_or_not() {
    use sha2::Digest;
    let d = labeled();
    let p = d.open();
    let sql = keylabel_testkit::fixtures::sql(&p);
    // The import took each image's SHA-256 in the read that took its BLAKE3.
    let stored: Vec<(String, Option<Vec<u8>>)> = sql
        .prepare("SELECT path, sha256 FROM samples ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(stored.len(), IMAGES.len());
    for (path, sha) in &stored {
        let bytes = fs::read(p.resolve(path)).unwrap();
        assert_eq!(
            sha.as_deref(),
            Some(&sha2::Sha256::digest(&bytes)[..]),
            "{path}"
        );
    }
    let export = |out: &str| {
        d.cli().ok(&[
            "export", "--format", "tfrecord", "--out", out, "--split", "all=1",
        ]);
        fs::read(d.path(out).join("all/data-00000-of-00001.tfrecord")).unwrap()
    };
    let with = export("with");
    // Samples without one (an older project's, a replica's): the export hashes the bytes
    // and writes the same records.
    sql.execute("UPDATE samples SET sha256 = NULL", []).unwrap();
    let without = export("without");
    assert!(with == without, "the records differ");
    // A stored SHA-256 is only used for bytes that passed the BLAKE3 check: a file changed
    // since the import is refused, not exported under its old key.
    let a = p.resolve(&stored[0].0);
    let mut bytes = fs::read(&a).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&a, &bytes).unwrap();
    let out = d.cli().run(&[
        "export", "--format", "tfrecord", "--out", "changed", "--split", "all=1",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(&stored[0].0), "{err}");
    assert!(!d.path("changed").exists());
}

#[test]
fn coco_voc_and_yolo_exports_are_self_contained_and_round_trip() {
    let d = labeled();
    for format in ["coco", "voc", "yolo"] {
        d.cli().ok(&[
            "export", "--format", format, "--out", format, "--split", "all=1",
        ]);
    }
    // COCO: pixels, ids from 1, the images beside the file, hard-linked.
    let coco: Value =
        serde_json::from_str(&fs::read_to_string(d.path("coco/all/annotations.json")).unwrap())
            .unwrap();
    assert_eq!(
        coco["categories"][0],
        json!({"id": 1, "name": "car", "supercategory": ""})
    );
    let images = coco["images"].as_array().unwrap();
    assert_eq!(images.len(), 5);
    assert_eq!(
        images[0],
        json!({"id": 1, "file_name": "a.png", "width": 64, "height": 48})
    );
    assert_eq!(
        coco["annotations"][1],
        json!({"id": 2, "image_id": 1, "category_id": 1, "bbox": [10.5, 4.0, 20.0, 30.25],
               "area": 605.0, "iscrowd": 0})
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let linked = fs::metadata(d.path("coco/all/images/a.png")).unwrap();
        let original = fs::metadata(d.path("images/a.png")).unwrap();
        assert_eq!(
            linked.ino(),
            original.ino(),
            "a hard link on the same file system"
        );
    }
    assert!(d.path("yolo/data.yaml").is_file());
    assert!(d.path("voc/all/annotations/a.xml").is_file());
    assert!(d.path("yolo/all/labels/a.txt").is_file());

    // Each export imported into a fresh project gives the same boxes (VOC rounds to whole
    // pixels, so its project gets whole-pixel boxes of its own).
    for (format, input) in [
        ("coco", "coco/all/annotations.json"),
        ("voc", "voc/all/annotations"),
        ("yolo", "yolo/all/labels"),
    ] {
        let fresh = Detect::new();
        let input = d.path(input);
        let out = fresh
            .cli()
            .run(&["import-labels", "--format", format, input.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{format}: {}",
            keylabel_testkit::cli::stderr(&out)
        );
        let got = fresh.boxes();
        let want = d.boxes();
        for ((name, g), (_, w)) in got.iter().zip(&want) {
            assert_eq!(g.len(), w.len(), "{format} {name}");
            for (gb, wb) in g.iter().zip(w) {
                let tolerance = if format == "voc" { 0.5 } else { 1e-9 };
                assert_eq!(gb.0, wb.0, "{format} {name}");
                for (a, b) in [(gb.1, wb.1), (gb.2, wb.2), (gb.3, wb.3), (gb.4, wb.4)] {
                    assert!(
                        (a - b).abs() <= tolerance,
                        "{format} {name}: {g:?} vs {w:?}"
                    );
                }
            }
        }
    }

    // A classification project refuses the detection formats before writing anything.
    let other = tempfile::tempdir().unwrap();
    let cli = crate::common::cli().cwd(other.path()).project("c.keylabel");
    cli.ok(&["init", "--classes", "a,b"]);
    let out = cli.run(&["export", "--format", "coco", "--out", "x"]);
    assert!(!out.status.success());
    assert!(keylabel_testkit::cli::stderr(&out).contains("classification project"));
    assert!(!other.path().join("x").exists());
}

#[test]
fn voc_depth_is_the_number_of_channels_a_decoder_gives() {
    let dir = tempfile::tempdir().unwrap();
    let cli = crate::common::cli()
        .cwd(dir.path())
        .annotator("ann")
        .project("p.keylabel");
    cli.ok(&["init", "--task", "detect", "--classes", "car"]);
    fs::create_dir_all(dir.path().join("images")).unwrap();
    let grey = image::GrayImage::from_fn(40, 30, |x, y| image::Luma([(x * 5 + y) as u8]));
    let shots: [(&str, image::DynamicImage, ImageFormat, &str); 4] = [
        ("grey.png", grey.clone().into(), ImageFormat::Png, "1"),
        ("grey-photo.jpg", grey.into(), ImageFormat::Jpeg, "1"),
        (
            "rgba.png",
            images::disc(40, 30, 3).into(),
            ImageFormat::Png,
            "4",
        ),
        (
            "rgb.jpg",
            images::pattern(40, 30, 2).into(),
            ImageFormat::Jpeg,
            "3",
        ),
    ];
    for (name, img, format, _) in &shots {
        // As they are: the test kit makes every JPEG colour.
        img.save_with_format(dir.path().join("images").join(name), *format)
            .unwrap();
    }
    cli.ok(&["import", "images"]);
    let mut p = Project::open(&dir.path().join("p.keylabel")).unwrap();
    let all: Vec<NewEvent> = shots
        .iter()
        .map(|(name, ..)| {
            let id = p
                .find_sample(&format!("images/{name}"))
                .unwrap()
                .unwrap()
                .id;
            NewEvent::boxes(id, "ann", EventKind::Label, vec![])
        })
        .collect();
    p.record_all(&all).unwrap();
    drop(p);
    cli.ok(&[
        "export", "--format", "voc", "--out", "voc", "--split", "all=1",
    ]);
    // Each XML names its image.
    let mut depths = std::collections::BTreeMap::new();
    for f in fs::read_dir(dir.path().join("voc/all/annotations")).unwrap() {
        let xml = fs::read_to_string(f.unwrap().path()).unwrap();
        let between = |tag: &str| {
            let (_, rest) = xml.split_once(&format!("<{tag}>")).unwrap();
            rest.split_once(&format!("</{tag}>")).unwrap().0.to_string()
        };
        depths.insert(between("filename"), between("depth"));
    }
    assert_eq!(depths.len(), shots.len(), "{depths:?}");
    for (name, _, _, depth) in shots {
        assert_eq!(depths.get(name).map(String::as_str), Some(depth), "{name}");
    }
}

#[test]
fn agreement_on_boxes_matches_them_one_to_one_by_iou() {
    let d = Detect::new();
    let mut p = d.open();
    let id = |n: &str| p.find_sample(&format!("images/{n}")).unwrap().unwrap().id;
    let (a, b, c) = (id("a.png"), id("b.png"), id("c.jpg"));
    let (car, dog) = (ClassId(1), ClassId(3));
    let bx = |class, x, y, w, h| BoundingBox::new(class, x, y, w, h);
    p.record_all(&[
        // a: one car each, overlapping by 10×10 of 10×12 (IoU 100/120); a dog only ann drew.
        NewEvent::boxes(
            a,
            "ann",
            EventKind::Label,
            vec![bx(car, 0.0, 0.0, 10.0, 10.0), bx(dog, 30.0, 30.0, 5.0, 5.0)],
        ),
        NewEvent::boxes(
            a,
            "bob",
            EventKind::Label,
            vec![bx(car, 0.0, 0.0, 10.0, 12.0)],
        ),
        // b: same place, other class: no match.
        NewEvent::boxes(
            b,
            "ann",
            EventKind::Label,
            vec![bx(car, 5.0, 5.0, 20.0, 20.0)],
        ),
        NewEvent::boxes(
            b,
            "bob",
            EventKind::Label,
            vec![bx(dog, 5.0, 5.0, 20.0, 20.0)],
        ),
        // c: both say "no objects".
        NewEvent::boxes(c, "ann", EventKind::Label, vec![]),
        NewEvent::boxes(c, "bob", EventKind::Label, vec![]),
    ])
    .unwrap();
    let v = d.cli().json(&["agreement", "--json"]);
    let boxes = &v["boxes"];
    assert_eq!(boxes["iou_threshold"], 0.5);
    let pair = &boxes["pairs"][0];
    assert_eq!(
        (pair["a"].as_str(), pair["b"].as_str()),
        (Some("ann"), Some("bob"))
    );
    assert_eq!(pair["images"], 3);
    assert_eq!(pair["matched"], 1);
    assert_eq!(pair["only_a"], 2);
    assert_eq!(pair["only_b"], 1);
    // 2·1 / (3 + 2)
    assert!((pair["f1"].as_f64().unwrap() - 0.4).abs() < 1e-12, "{pair}");
    assert!((pair["mean_iou"].as_f64().unwrap() - 100.0 / 120.0).abs() < 1e-12);

    // At IoU 0.9 the cars no longer match: F1 0, mean IoU undefined with its reason.
    let strict = d.cli().json(&["agreement", "--json", "--iou", "0.9"]);
    let pair = &strict["boxes"]["pairs"][0];
    assert_eq!(pair["matched"], 0);
    assert_eq!(pair["f1"], 0.0);
    assert!(pair["mean_iou"].is_null());
    assert!(pair["mean_iou_reason"].as_str().unwrap().contains("no box"));
    let text = keylabel_testkit::cli::stdout(&d.cli().ok(&["agreement"]));
    assert!(text.contains("ann / bob: 3 images, 1 matched"), "{text}");
    assert!(!d.cli().run(&["agreement", "--iou", "0"]).status.success());

    // A classification project's agreement has no `boxes`.
    let other = tempfile::tempdir().unwrap();
    let cli = crate::common::cli().cwd(other.path()).project("c.keylabel");
    cli.ok(&["init", "--classes", "a,b"]);
    assert!(cli.json(&["agreement", "--json"]).get("boxes").is_none());
}

/// A detect project's annotator table scores each annotator by their boxes against the
/// final boxes (box F1 at IoU 0.5, the detect form of kappa against the final labels), and
/// lists the classes they put on a final box's object under another class.
#[test]
fn annotators_are_scored_by_their_boxes_against_the_final_boxes() {
    let d = Detect::new();
    let mut p = d.open();
    let id = |n: &str| p.find_sample(&format!("images/{n}")).unwrap().unwrap().id;
    let (a, b, c, e) = (id("a.png"), id("b.png"), id("c.jpg"), id("e.png"));
    let (car, person, dog) = (ClassId(1), ClassId(2), ClassId(3));
    let bx = |class, x, y, w, h| BoundingBox::new(class, x, y, w, h);
    let label = |s, who, boxes| NewEvent::boxes(s, who, EventKind::Label, boxes);
    p.record_all(&[
        // a: both draw the car, ann also a dog; the reviewer keeps only the car.
        label(
            a,
            "ann",
            vec![bx(car, 0.0, 0.0, 10.0, 10.0), bx(dog, 30.0, 30.0, 5.0, 5.0)],
        ),
        label(a, "bob", vec![bx(car, 0.0, 0.0, 10.0, 12.0)]),
        NewEvent::boxes(
            a,
            "rev",
            EventKind::Review,
            vec![bx(car, 0.0, 0.0, 10.0, 11.0)],
        ),
        // b: one object, a car to ann and a person to bob; the reviewer says person.
        label(b, "ann", vec![bx(car, 5.0, 5.0, 20.0, 20.0)]),
        label(b, "bob", vec![bx(person, 5.0, 5.0, 20.0, 20.0)]),
        NewEvent::boxes(
            b,
            "rev",
            EventKind::Review,
            vec![bx(person, 5.0, 5.0, 20.0, 20.0)],
        ),
        // c: "no objects" to both; e: ann alone.
        label(c, "ann", vec![]),
        label(c, "bob", vec![]),
        label(e, "ann", vec![bx(car, 1.0, 1.0, 5.0, 5.0)]),
    ])
    .unwrap();
    let v = d.cli().json(&["annotators", "--json"]);
    let row = |name: &str| {
        v["annotators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {v}"))
            .clone()
    };
    let (ann, bob, rev) = (row("ann"), row("bob"), row("rev"));
    let close = |x: &Value, want: f64| (x.as_f64().unwrap() - want).abs() < 1e-12;
    let vs = &ann["boxes_vs_final"];
    assert_eq!(vs["iou_threshold"], 0.5);
    assert_eq!(
        (&vs["images"], &vs["given"], &vs["final"], &vs["matched"]),
        (&json!(4), &json!(4), &json!(3), &json!(2)),
        "{ann}"
    );
    // 2·2 / (4 + 3); the cars of a (IoU 100/110) and of e (1).
    assert!(close(&vs["f1"], 4.0 / 7.0), "{ann}");
    assert!(close(&vs["mean_iou"], (100.0 / 110.0 + 1.0) / 2.0), "{ann}");
    assert_eq!(
        ann["confused"],
        json!([{"given": "car", "final": "person", "count": 1}])
    );
    let vs = &bob["boxes_vs_final"];
    assert_eq!((&vs["images"], &vs["matched"]), (&json!(3), &json!(2)));
    assert!(close(&vs["f1"], 1.0), "{bob}");
    assert!(close(&vs["mean_iou"], (110.0 / 120.0 + 1.0) / 2.0), "{bob}");
    assert_eq!(bob["confused"], json!([]));
    // The reviewer decided no image as an annotator.
    assert_eq!(rev["reviews"], 2);
    assert!(rev.get("boxes_vs_final").is_none(), "{rev}");

    let text = keylabel_testkit::cli::stdout(&d.cli().ok(&["annotators"]));
    assert!(text.contains("box F1 vs final"), "{text}");
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap()
            .to_string()
    };
    assert!(line("ann").contains("0.571 (4)"), "{text}");
    assert!(line("ann").contains("car → person ×1"), "{text}");
    assert!(line("bob").contains("1.000 (3)"), "{text}");
    assert!(text.contains("rev: box F1 vs final undefined"), "{text}");

    // A classification project keeps kappa, and has no `boxes_vs_final`.
    let other = tempfile::tempdir().unwrap();
    let cli = crate::common::cli()
        .cwd(other.path())
        .annotator("ann")
        .project("c.keylabel");
    cli.ok(&["init", "--classes", "a,b"]);
    fs::write(other.path().join("rows.csv"), "text\nhello\n").unwrap();
    cli.ok(&["import", "rows.csv"]);
    cli.ok(&["label", "rows.csv#1", "a"]);
    let v = cli.json(&["annotators", "--json"]);
    assert!(v["annotators"][0].get("boxes_vs_final").is_none(), "{v}");
    let text = keylabel_testkit::cli::stdout(&cli.ok(&["annotators"]));
    assert!(text.contains("kappa vs final"), "{text}");
}

/// With `KEYLABEL_PYTHON` naming a Python with TensorFlow and pycocotools, the detect
/// TFRecord is read with the Object Detection API's keys and the COCO export is loaded
/// and evaluated by pycocotools (AP 1.0 against the project's boxes).
#[test]
fn tensorflow_and_pycocotools_read_the_detect_exports() {
    let Some(python) = crate::common::reference_python(
        "KEYLABEL_PYTHON",
        "KEYLABEL_REQUIRE_PYTHON",
        "tensorflow-cpu and pycocotools (see .ci/requirements.txt)",
    ) else {
        return;
    };
    let d = labeled();
    d.cli().ok(&[
        "export",
        "--format",
        "tfrecord",
        "--out",
        "tf",
        "--split",
        "train=1,eval=1",
    ]);
    d.cli().ok(&[
        "export",
        "--format",
        "coco",
        "--out",
        "coco",
        "--split",
        "train=1,eval=1",
    ]);
    // What the project holds, independently of the exports.
    let mut expected = serde_json::Map::new();
    for (name, boxes) in d.boxes() {
        let (_, w, h) = IMAGES.iter().find(|(n, _, _)| *n == name).unwrap();
        let boxes: Vec<Value> = boxes
            .into_iter()
            .map(|(c, x, y, bw, bh)| json!([c, x, y, bw, bh]))
            .collect();
        expected.insert(
            format!("images/{name}"),
            json!({"file_name": name, "width": w, "height": h, "boxes": boxes}),
        );
    }
    let expected_path = d.write("expected.json", &Value::Object(expected).to_string());
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_detect.py");
    let out = std::process::Command::new(&python)
        .arg(&script)
        .arg(&expected_path)
        .arg(d.path("tf"))
        .arg(d.path("coco"))
        .env("TF_CPP_MIN_LOG_LEVEL", "2")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "check_detect.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("OK TFRecord") && stdout.contains("COCOeval AP 1.000"),
        "{stdout}"
    );
    println!("{stdout}");
}

/// TensorFlow Data Validation finds no anomaly in a detect TFRecord export (variable-length
/// box features, one image decided as holding no objects) against its `schema.pbtxt`.
/// One split: with two, this fixture's `train` holds only the empty image, and TFDV flags
/// a split without a single box (its statistics give a feature with no values a minimum
/// of 0, below the label map's first id).
#[test]
fn tfdv_finds_no_anomaly_in_the_detect_export() {
    let d = labeled();
    d.cli().ok(&[
        "export", "--format", "tfrecord", "--out", "tf", "--split", "train=1",
    ]);
    if let Some(stdout) = crate::common::check_with_tfdv(&[d.path("tf")]) {
        println!("{stdout}");
    }
}

#[test]
fn several_annotators_boxes_are_resolved_by_the_consensus_policy() {
    let d = Detect::new();
    let mut p = d.open();
    let id = |n: &str| p.find_sample(&format!("images/{n}")).unwrap().unwrap().id;
    let all: Vec<_> = IMAGES.iter().map(|(n, _, _)| id(n)).collect();
    let (car, dog) = (ClassId(1), ClassId(3));
    let bx = |class, x, y, w, h| BoundingBox::new(class, x, y, w, h);
    let mut events = Vec::new();
    // a: three annotators draw the car a little differently; one also draws a dog.
    for (who, x, extra) in [
        ("ann", 10.0, true),
        ("bob", 12.0, false),
        ("cy", 11.0, false),
    ] {
        let mut boxes = vec![bx(car, x, 5.0, 20.0, 20.0)];
        if extra {
            boxes.push(bx(dog, 40.0, 30.0, 10.0, 10.0));
        }
        events.push(NewEvent::boxes(all[0], who, EventKind::Label, boxes));
    }
    // The other images: ann alone, no objects.
    for &s in &all[1..] {
        events.push(NewEvent::boxes(s, "ann", EventKind::Label, vec![]));
    }
    p.record_all(&events).unwrap();
    let codes = |d: &Detect| -> Vec<String> {
        let v: Value =
            serde_json::from_slice(&d.cli().run(&["validate", "--json"]).stdout).unwrap();
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] == "error")
            .map(|f| format!("{} {}", f["code"].as_str().unwrap(), f["samples"]))
            .collect()
    };
    // Unanimous (the default): the dog only ann drew leaves a.png to a reviewer, and the
    // export refuses before writing.
    assert_eq!(
        codes(&d),
        vec!["UNRESOLVED_DISAGREEMENTS [\"images/a.png\"]"]
    );
    let refused = d.cli().run(&[
        "export", "--format", "coco", "--out", "x", "--split", "all=1",
    ]);
    assert!(!refused.status.success());
    assert!(!d.path("x").exists());

    // Majority: the car, drawn by all three, averaged; the dog dropped.
    d.cli().ok(&["settings", "set", "consensus", "majority"]);
    assert!(codes(&d).is_empty(), "{:?}", codes(&d));
    d.cli().ok(&[
        "export", "--format", "coco", "--out", "x", "--split", "all=1",
    ]);
    let coco: Value =
        serde_json::from_str(&fs::read_to_string(d.path("x/all/annotations.json")).unwrap())
            .unwrap();
    let anns = coco["annotations"].as_array().unwrap();
    assert_eq!(anns.len(), 1, "{anns:?}");
    assert_eq!(anns[0]["bbox"], json!([11.0, 5.0, 20.0, 20.0]));
    assert_eq!(anns[0]["category_id"], 1);

    // A reviewer's decision wins over any policy.
    let mut p = d.open();
    p.record(NewEvent::boxes(
        all[0],
        "rita",
        EventKind::Review,
        vec![bx(dog, 1.0, 1.0, 5.0, 5.0)],
    ))
    .unwrap();
    assert_eq!(
        p.current_boxes(all[0]).unwrap(),
        vec![bx(dog, 1.0, 1.0, 5.0, 5.0)]
    );
    d.cli().ok(&["settings", "set", "consensus", "unanimous"]);
    assert!(codes(&d).is_empty());
}

#[test]
fn a_table_is_not_imported_into_a_detect_project() {
    let d = Detect::new();
    d.write("rows.csv", "id,text\na,hello\nb,world\n");
    let out = d.cli().run(&["import", "rows.csv", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let unreadable = report["unreadable"].as_array().unwrap();
    assert_eq!(unreadable.len(), 1, "{report}");
    assert!(
        unreadable[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("rows.csv")
    );
    assert!(
        unreadable[0]["reason"]
            .as_str()
            .unwrap()
            .contains("cannot hold boxes")
    );
    assert_eq!(d.status()["samples"], 5);
}
