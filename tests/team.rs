//! The whole team flow, as a team would run it: import images, copy the project to three
//! annotators, label on each copy, merge, measure agreement, review the disagreements,
//! validate and export for TFX. The command line does what a person would type; labeling
//! goes through the same core calls the window makes.

use std::path::{Path, PathBuf};
use std::process::Output;

use keylabel::project::{EventKind, NewEvent, Project, SampleQuery, SampleStatus};
use keylabel::review::queue::{ReviewReason, accept, review_queue, set_label};

fn keylabel(project: &Path, args: &[&str]) -> Output {
    crate::common::cli().project(project).run(args)
}

fn ok_json(project: &Path, args: &[&str]) -> serde_json::Value {
    crate::common::cli().project(project).json(args)
}

/// Twelve photos-like images in three class folders, two formats.
fn make_images(root: &Path) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    for (ci, class) in ["cat", "dog", "bird"].into_iter().enumerate() {
        let dir = root.join("photos").join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..4u32 {
            let img = image::RgbImage::from_fn(96 + i * 8, 64 + ci as u32 * 8, |x, y| {
                image::Rgb([
                    (x * 3 + i * 40) as u8,
                    (y * 5 + ci as u32 * 70) as u8,
                    ((x ^ y) + i * 17) as u8,
                ])
            });
            let name = if i % 2 == 0 {
                format!("{class} {i}.png")
            } else {
                format!("{class}_{i}.jpg")
            };
            img.save(dir.join(&name)).unwrap();
            out.push((format!("photos/{class}/{name}"), class));
        }
    }
    out
}

fn copy(from: &Path, to: PathBuf) -> PathBuf {
    std::fs::copy(from, &to).unwrap();
    to
}

#[test]
fn three_annotators_label_merge_agree_review_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let images = make_images(root);
    let base = root.join("team.keylabel");
    assert!(
        keylabel(&base, &["init", "--classes", "cat,dog,bird"])
            .status
            .success()
    );
    let settings = keylabel(&base, &["settings", "set", "overlap", "3"]);
    assert!(
        settings.status.success(),
        "{}",
        String::from_utf8_lossy(&settings.stderr)
    );
    let photos = root.join("photos");
    let imported = ok_json(&base, &["import", photos.to_str().unwrap(), "--json"]);
    assert_eq!(imported["added"], 12, "{imported}");
    assert_eq!(imported["unreadable"].as_array().unwrap().len(), 0);

    // Each annotator labels a copy. Alice is always right, Bob errs on the first two birds,
    // Carol on the first cat.
    let copies: Vec<(PathBuf, &str)> = ["alice", "bob", "carol"]
        .into_iter()
        .map(|who| (copy(&base, root.join(format!("{who}.keylabel"))), who))
        .collect();
    for (path, who) in &copies {
        let mut p = Project::open(path).unwrap();
        let mut after = None;
        let mut seen = 0;
        while let Some(id) = p.next_for_annotator(who, after).unwrap() {
            let sample = p.sample(id).unwrap().unwrap();
            let truth = images.iter().find(|(n, _)| *n == sample.name).unwrap().1;
            let given = match (*who, sample.name.as_str()) {
                ("bob", n) if n.starts_with("photos/bird/bird 0") => "dog",
                ("bob", n) if n.starts_with("photos/bird/bird_1") => "cat",
                ("carol", n) if n.starts_with("photos/cat/cat 0") => "dog",
                _ => truth,
            };
            let class = p.class_by_name(given).unwrap().unwrap().id;
            p.record(NewEvent::label(id, who, vec![class]).with_spent_ms(900))
                .unwrap();
            after = Some(id);
            seen += 1;
            assert!(seen <= 12, "{who} was offered a sample twice");
        }
        assert_eq!(seen, 12, "{who} labels every sample");
        p.integrity_check().unwrap();
    }

    // Merge the three copies into the base project (twice: idempotent).
    let names: Vec<&str> = copies.iter().map(|(p, _)| p.to_str().unwrap()).collect();
    let mut args = vec!["merge"];
    args.extend(&names);
    assert!(keylabel(&base, &args).status.success());
    assert!(keylabel(&base, &args).status.success());
    let status = ok_json(&base, &["status", "--json"]);
    assert_eq!(status["labeled"], 12);
    let per_annotator: Vec<u64> = status["annotators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"].as_u64().unwrap())
        .collect();
    assert_eq!(per_annotator, vec![12, 12, 12]);

    // Agreement: alice and bob agree on 10 of 12.
    let agreement = ok_json(&base, &["agreement", "--json"]);
    assert_eq!(agreement["items"], 12);
    assert_eq!(
        agreement["annotators"],
        serde_json::json!(["alice", "bob", "carol"])
    );
    let ab = agreement["cohen_kappa"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["a"] == "alice" && k["b"] == "bob")
        .unwrap();
    assert_eq!(ab["items"], 12);
    // 10/12 observed; expected from alice (4,4,4) and bob (5,6,1): (20+24+4)/144 = 1/3.
    let kappa = ab["kappa"].as_f64().unwrap();
    assert!(
        (kappa - (10.0 / 12.0 - 1.0 / 3.0) / (1.0 - 1.0 / 3.0)).abs() < 1e-9,
        "{kappa}"
    );
    assert_eq!(agreement["fleiss_kappa"]["raters"], 3);
    assert!(agreement["krippendorff_alpha"]["value"].as_f64().unwrap() > 0.5);

    // Validation refuses the export: three samples have no consensus.
    let out = keylabel(&base, &["validate", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let unresolved = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "UNRESOLVED_DISAGREEMENTS")
        .expect("disagreements are found");
    assert_eq!(unresolved["count"], 3);
    let out_dir = root.join("dataset");
    let refused = keylabel(
        &base,
        &[
            "export",
            "--format",
            "tfrecord",
            "--out",
            out_dir.to_str().unwrap(),
        ],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(!out_dir.exists(), "a refused export writes nothing");

    // The reviewer works through the queue: accepts alice twice, sets one by hand.
    let mut p = Project::open(&base).unwrap();
    let queue = review_queue(&p, 100).unwrap();
    assert_eq!(queue.len(), 3);
    assert!(queue.iter().all(|i| i.reason == ReviewReason::Disagreement));
    for (i, item) in queue.iter().enumerate() {
        assert_eq!(item.decisions.len(), 3);
        if i < 2 {
            accept(&mut p, item.sample, "rita", "alice").unwrap();
        } else {
            let truth = images.iter().find(|(n, _)| *n == item.name).unwrap().1;
            let class = p.class_by_name(truth).unwrap().unwrap().id;
            set_label(&mut p, item.sample, "rita", &[class]).unwrap();
        }
    }
    assert!(review_queue(&p, 100).unwrap().is_empty());
    let reviews = p
        .history(None)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EventKind::Review && e.annotator == "rita")
        .count();
    assert_eq!(reviews, 3, "every review decision is in the audit log");
    p.integrity_check().unwrap();
    drop(p);

    // Now the export goes through, and the same state and seed give the same bytes.
    let report = ok_json(&base, &["validate", "--json"]);
    assert_eq!(report["ok"], true, "{report}");
    let out = keylabel(
        &base,
        &[
            "export",
            "--format",
            "tfrecord",
            "--out",
            out_dir.to_str().unwrap(),
            "--seed",
            "7",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["label_map"],
        serde_json::json!(["cat", "dog", "bird"])
    );
    let total: u64 = manifest["splits"]
        .as_object()
        .unwrap()
        .values()
        .map(|s| s["count"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 12);
    for class in ["cat", "dog", "bird"] {
        let n: u64 = manifest["splits"]
            .as_object()
            .unwrap()
            .values()
            .map(|s| s["classes"][class].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(n, 4, "the final labels are the true ones for {class}");
    }
    assert!(out_dir.join("schema.pbtxt").is_file());
    let again = root.join("dataset2");
    assert!(
        keylabel(
            &base,
            &[
                "export",
                "--format",
                "tfrecord",
                "--out",
                again.to_str().unwrap(),
                "--seed",
                "7"
            ],
        )
        .status
        .success()
    );
    for f in manifest["files"].as_array().unwrap() {
        let rel = f["path"].as_str().unwrap();
        assert_eq!(
            std::fs::read(out_dir.join(rel)).unwrap(),
            std::fs::read(again.join(rel)).unwrap(),
            "{rel} differs between two exports of the same state"
        );
    }

    // A send-back returns a sample to every annotator's queue.
    let mut p = Project::open(&base).unwrap();
    let first = p.sample_ids(&SampleQuery::default(), 0, 1).unwrap()[0];
    keylabel::review::queue::send_back(&mut p, first, "rita").unwrap();
    assert_eq!(p.sample_status(first).unwrap(), SampleStatus::Unlabeled);
    assert_eq!(p.next_for_annotator("alice", None).unwrap(), Some(first));
    p.integrity_check().unwrap();
}
