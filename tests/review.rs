//! Several annotators on real project files: agreement (library and the real binary),
//! consensus policies, per-annotator statistics, the review queue and its actions, overlap
//! and QA-fraction queueing, blind mode, the `settings` command, and the offline flow of
//! copying a project to three annotators and merging their work.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use keylabel::TaskKind;
use keylabel::project::{
    ClassId, ConsensusPolicy, EventKind, NewEvent, NewSample, Project, SampleId, SampleKind,
    Source, qa_selected,
};
use keylabel::review::agreement::{self, Ratings, Undefined};
use keylabel::review::{
    Resolution, ReviewReason, accept, annotators::annotator_stats, final_labels,
    final_labels_with_confidence, review_queue, send_back, set_label, visible_decisions,
};
use keylabel_testkit::Rng;
use serde_json::Value;

// ---------------------------------------------------------------------------------------
// Helpers

fn create(dir: &Path, file: &str, classes: &[&str], task: TaskKind) -> (PathBuf, Project) {
    let path = dir.join(file);
    let names: Vec<String> = classes.iter().map(|c| c.to_string()).collect();
    let p = Project::create(&path, &names, task).unwrap();
    (path, p)
}

/// Adds `n` text samples named `s000`, `s001`, … and returns their ids.
fn add_samples(p: &mut Project, n: usize) -> Vec<SampleId> {
    let batch: Vec<NewSample> = (0..n)
        .map(|i| {
            let name = format!("s{i:03}");
            NewSample {
                kind: SampleKind::Text,
                name: name.clone(),
                path: "rows.csv".into(),
                row: Some(i as i64 + 1),
                hash: blake3::hash(name.as_bytes()).to_hex().to_string(),
                sha256: None,
                bytes: 10,
                width: None,
                height: None,
                format: None,
                text: Some(format!("text of row {i}")),
                features: None,
            }
        })
        .collect();
    p.insert_samples(&batch)
        .unwrap()
        .into_iter()
        .map(|o| match o {
            keylabel::project::InsertOutcome::Added(id) => id,
            other => panic!("{other:?}"),
        })
        .collect()
}

fn class_ids(p: &Project) -> Vec<ClassId> {
    p.classes().unwrap().into_iter().map(|c| c.id).collect()
}

fn label(p: &mut Project, sample: SampleId, who: &str, classes: &[ClassId]) {
    p.record(NewEvent::label(sample, who, classes.to_vec()))
        .unwrap();
}

fn bin(project: &Path, args: &[&str]) -> Output {
    crate::common::cli().project(project).run(args)
}

fn bin_json(project: &Path, args: &[&str]) -> Value {
    crate::common::cli().project(project).json(args)
}

fn close_measure(m: &agreement::Measure, want: f64) {
    let v = (*m).unwrap_or_else(|u| panic!("undefined: {u}"));
    assert!((v - want).abs() < 1e-12, "{v} != {want}");
}

fn close(v: &Value, want: f64) {
    let got = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    assert!((got - want).abs() < 1e-12, "{got} != {want}");
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------------------
// Agreement through the real binary

/// alice: a a b b (s0–s3); bob: a b b b (s0–s3); carol: a on s4 only.
/// By hand: percent agreement 3/4; Cohen κ(alice, bob) = (3/4 − 1/2)/(1 − 1/2) = 0.5;
/// Fleiss (4 items, 2 raters): A = 14, Nm = 8, S = 34 → (6·8 − 34)/(64 − 34) = 7/15;
/// Krippendorff: n = 8 (3 a, 5 b), D_o = 2, D_e = 64 − 9 − 25 = 30 → 1 − 7·2/30 = 8/15.
#[test]
fn agreement_json_from_the_binary_has_the_documented_shape_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut p) = create(
        dir.path(),
        "agree.keylabel",
        &["a", "b"],
        TaskKind::SingleLabel,
    );
    let s = add_samples(&mut p, 5);
    let c = class_ids(&p);
    for (i, l) in [0, 0, 1, 1].iter().enumerate() {
        label(&mut p, s[i], "alice", &[c[*l]]);
    }
    for (i, l) in [0, 1, 1, 1].iter().enumerate() {
        label(&mut p, s[i], "bob", &[c[*l]]);
    }
    label(&mut p, s[4], "carol", &[c[0]]);
    p.integrity_check().unwrap();
    drop(p);

    let j = bin_json(&path, &["agreement", "--json"]);
    assert_eq!(
        keys(&j),
        set(&[
            "items",
            "sent_back",
            "annotators",
            "percent_agreement",
            "cohen_kappa",
            "fleiss_kappa",
            "krippendorff_alpha"
        ])
    );
    assert_eq!(j["items"], 5);
    assert_eq!(j["sent_back"], 0);
    assert_eq!(
        j["annotators"],
        serde_json::json!(["alice", "bob", "carol"])
    );
    close(&j["percent_agreement"], 0.75);
    let pairs = j["cohen_kappa"].as_array().unwrap();
    assert_eq!(pairs.len(), 3);
    assert_eq!(keys(&pairs[0]), set(&["a", "b", "items", "kappa"]));
    assert_eq!(
        (pairs[0]["a"].as_str(), pairs[0]["b"].as_str()),
        (Some("alice"), Some("bob"))
    );
    assert_eq!(pairs[0]["items"], 4);
    close(&pairs[0]["kappa"], 0.5);
    // carol shares no sample with anyone: null with the reason next to it.
    for pair in &pairs[1..] {
        assert_eq!(pair["items"], 0);
        assert!(pair["kappa"].is_null());
        assert_eq!(pair["reason"], Undefined::NoSharedItems.reason());
    }
    assert_eq!(keys(&j["fleiss_kappa"]), set(&["value", "items", "raters"]));
    close(&j["fleiss_kappa"]["value"], 7.0 / 15.0);
    assert_eq!(
        (
            j["fleiss_kappa"]["items"].as_u64(),
            j["fleiss_kappa"]["raters"].as_u64()
        ),
        (Some(4), Some(2))
    );
    assert_eq!(keys(&j["krippendorff_alpha"]), set(&["value", "items"]));
    close(&j["krippendorff_alpha"]["value"], 8.0 / 15.0);
    assert_eq!(j["krippendorff_alpha"]["items"], 4);

    // --by-class: one-vs-rest alpha per class (two classes: both equal the overall alpha)
    // and the alice/bob confusion matrix.
    let j = bin_json(&path, &["agreement", "--json", "--by-class"]);
    let by_class = j["by_class"].as_array().unwrap();
    assert_eq!(by_class.len(), 2);
    assert_eq!(by_class[0]["class"], "a");
    close(&by_class[0]["krippendorff_alpha"]["value"], 8.0 / 15.0);
    let conf = j["confusion"].as_array().unwrap();
    assert_eq!(conf.len(), 1, "only pairs with shared samples: {conf:?}");
    assert_eq!(conf[0]["labels"], serde_json::json!(["a", "b"]));
    assert_eq!(conf[0]["matrix"], serde_json::json!([[1, 1], [0, 2]]));
    assert_eq!(conf[0]["items"], 4);

    // The text output is a table, never NaN.
    let out = bin(&path, &["agreement", "--by-class"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Cohen's kappa per pair"), "{text}");
    assert!(text.contains("Krippendorff's alpha"), "{text}");
    assert!(text.contains("undefined: the two annotators labeled no sample in common"));
    assert!(!text.to_lowercase().contains("nan"), "{text}");
}

#[test]
fn undefined_statistics_are_null_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut p) = create(
        dir.path(),
        "one.keylabel",
        &["cat", "dog"],
        TaskKind::SingleLabel,
    );
    let s = add_samples(&mut p, 3);
    let c = class_ids(&p);
    for &x in &s {
        label(&mut p, x, "alice", &[c[0]]);
        label(&mut p, x, "bob", &[c[0]]);
    }
    drop(p);
    let j = bin_json(&path, &["agreement", "--json"]);
    close(&j["percent_agreement"], 1.0);
    let reason = Undefined::NoVariation.reason();
    assert!(j["cohen_kappa"][0]["kappa"].is_null());
    assert_eq!(j["cohen_kappa"][0]["reason"], reason);
    assert!(j["fleiss_kappa"]["value"].is_null());
    assert_eq!(j["fleiss_kappa"]["reason"], reason);
    assert!(j["krippendorff_alpha"]["value"].is_null());
    assert_eq!(j["krippendorff_alpha"]["reason"], reason);
    let raw = String::from_utf8(bin(&path, &["agreement", "--json"]).stdout).unwrap();
    assert!(!raw.contains("NaN") && !raw.contains("inf"), "{raw}");

    // One annotator only: nothing is pairable.
    let (path, mut p) = create(
        dir.path(),
        "solo.keylabel",
        &["cat", "dog"],
        TaskKind::SingleLabel,
    );
    let s = add_samples(&mut p, 2);
    let c = class_ids(&p);
    label(&mut p, s[0], "alice", &[c[0]]);
    label(&mut p, s[1], "alice", &[c[1]]);
    drop(p);
    let j = bin_json(&path, &["agreement", "--json"]);
    let reason = Undefined::NoPairableItems.reason();
    assert!(j["percent_agreement"].is_null());
    assert_eq!(j["percent_agreement_reason"], reason);
    assert_eq!(j["cohen_kappa"], serde_json::json!([]));
    assert_eq!(j["fleiss_kappa"]["reason"], reason);
    assert_eq!(j["fleiss_kappa"]["items"], 0);
    assert_eq!(j["krippendorff_alpha"]["reason"], reason);

    // An empty project.
    let (path, p) = create(
        dir.path(),
        "empty.keylabel",
        &["cat"],
        TaskKind::SingleLabel,
    );
    drop(p);
    let j = bin_json(&path, &["agreement", "--json"]);
    assert_eq!(j["items"], 0);
    assert!(j["krippendorff_alpha"]["value"].is_null());
}

#[test]
fn multi_label_agreement_is_per_class_one_vs_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut p) = create(
        dir.path(),
        "multi.keylabel",
        &["x", "y", "z"],
        TaskKind::MultiLabel,
    );
    let s = add_samples(&mut p, 30);
    let c = class_ids(&p);
    let mut rng = Rng::new(11);
    let mut truth_rows: Vec<Vec<[bool; 3]>> = Vec::new();
    for &x in &s {
        let mut row = Vec::new();
        for who in ["ann", "ben"] {
            let mut labels: Vec<ClassId> = Vec::new();
            let mut has = [false; 3];
            for k in 0..3 {
                if rng.unit() < 0.4 {
                    labels.push(c[k]);
                    has[k] = true;
                }
            }
            if labels.is_empty() {
                labels.push(c[0]);
                has[0] = true;
            }
            label(&mut p, x, who, &labels);
            row.push(has);
        }
        truth_rows.push(row);
    }
    p.integrity_check().unwrap();
    drop(p);
    let j = bin_json(&path, &["agreement", "--json", "--by-class"]);
    assert_eq!(j["items"], 30);
    assert_eq!(j["cohen_kappa"][0]["items"], 30);
    assert_eq!(j["fleiss_kappa"]["items"], 30);
    // Per class: the alpha of the binary "has class k" ratings.
    for k in 0..3 {
        let rows: Vec<Vec<Option<u32>>> = truth_rows
            .iter()
            .map(|r| r.iter().map(|h| Some(u32::from(h[k]))).collect())
            .collect();
        let want = agreement::krippendorff_alpha(&Ratings::from_rows(2, 2, &rows).unwrap());
        close(
            &j["by_class"][k]["krippendorff_alpha"]["value"],
            want.value.unwrap(),
        );
    }
    // Pooled: every (sample, class) decision is one binary unit.
    let rows: Vec<Vec<Option<u32>>> = (0..3)
        .flat_map(|k| {
            truth_rows
                .iter()
                .map(move |r| r.iter().map(|h| Some(u32::from(h[k]))).collect())
        })
        .collect();
    let pooled = Ratings::from_rows(2, 2, &rows).unwrap();
    close(
        &j["krippendorff_alpha"]["value"],
        agreement::krippendorff_alpha(&pooled).value.unwrap(),
    );
    close(
        &j["cohen_kappa"][0]["kappa"],
        agreement::cohen_kappa_pairs(&pooled)[0].kappa.unwrap(),
    );
    // One 2×2 confusion matrix per class for the pair.
    let conf = j["confusion"].as_array().unwrap();
    assert_eq!(conf.len(), 3);
    assert_eq!(conf[1]["class"], "y");
    assert_eq!(conf[1]["labels"], serde_json::json!(["not y", "y"]));
    let total: u64 = conf[1]["matrix"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()))
        .sum();
    assert_eq!(total, 30);
}

// ---------------------------------------------------------------------------------------
// Cross-check with scikit-learn, statsmodels and krippendorff

struct Case {
    name: String,
    raters: usize,
    categories: usize,
    rows: Vec<Vec<Option<u32>>>,
}

fn random_case(
    name: &str,
    rng: &mut Rng,
    raters: usize,
    categories: u32,
    items: usize,
    p: f64,
) -> Case {
    let rows = (0..items)
        .map(|_| {
            (0..raters)
                .map(|_| (rng.unit() < p).then(|| rng.below(categories)))
                .collect()
        })
        .collect();
    Case {
        name: name.into(),
        raters,
        categories: categories as usize,
        rows,
    }
}

fn reference_cases() -> Vec<Case> {
    let mut rng = Rng::new(2026);
    let mut cases = Vec::new();
    for i in 0..8 {
        let raters = 2 + rng.below(5u32) as usize;
        let k = 2 + rng.below(4u32);
        let items = 20 + rng.below(150u32) as usize;
        let p = 0.5 + 0.5 * rng.unit();
        cases.push(random_case(
            &format!("random {i}"),
            &mut rng,
            raters,
            k,
            items,
            p,
        ));
    }
    // Correlated raters, so that the statistics are far from 0.
    let mut rows = Vec::new();
    for _ in 0..120 {
        let t = rng.below(4u32);
        rows.push(
            (0..5)
                .map(|_| {
                    if rng.unit() < 0.15 {
                        None
                    } else if rng.unit() < 0.8 {
                        Some(t)
                    } else {
                        Some(rng.below(4u32))
                    }
                })
                .collect(),
        );
    }
    cases.push(Case {
        name: "correlated".into(),
        raters: 5,
        categories: 4,
        rows,
    });
    cases.push(random_case("heavy missing", &mut rng, 6, 3, 200, 0.3));
    cases.push(Case {
        name: "one class only".into(),
        raters: 3,
        categories: 3,
        rows: vec![
            vec![Some(1), Some(1), None],
            vec![Some(1), Some(1), Some(1)],
            vec![None, Some(1), Some(1)],
        ],
    });
    let mut c = random_case("constant rater", &mut rng, 3, 3, 60, 1.0);
    for r in &mut c.rows {
        r[0] = Some(2);
    }
    cases.push(c);
    cases.push(Case {
        name: "total disagreement, two raters".into(),
        raters: 2,
        categories: 2,
        rows: (0..10)
            .map(|i| vec![Some(i % 2), Some(1 - i % 2)])
            .collect(),
    });
    cases.push(Case {
        name: "total disagreement, three raters".into(),
        raters: 3,
        categories: 3,
        rows: (0..9)
            .map(|i| vec![Some(i % 3), Some((i + 1) % 3), Some((i + 2) % 3)])
            .collect(),
    });
    cases.push(Case {
        name: "perfect agreement".into(),
        raters: 3,
        categories: 3,
        rows: (0..12).map(|i| vec![Some(i % 3); 3]).collect(),
    });
    cases.push(Case {
        name: "no overlap".into(),
        raters: 2,
        categories: 2,
        rows: (0..10)
            .map(|i| {
                if i % 2 == 0 {
                    vec![Some(i % 3 % 2), None]
                } else {
                    vec![None, Some(1)]
                }
            })
            .collect(),
    });
    cases.push(Case {
        name: "single pairable item".into(),
        raters: 3,
        categories: 2,
        rows: vec![
            vec![Some(0), Some(1), None],
            vec![Some(0), None, None],
            vec![None, None, Some(1)],
        ],
    });
    cases.push(Case {
        name: "fleiss count tie".into(),
        raters: 3,
        categories: 2,
        rows: vec![
            vec![Some(0), Some(1), None],
            vec![Some(1), Some(1), None],
            vec![Some(0), Some(0), Some(1)],
            vec![Some(1), Some(1), Some(0)],
        ],
    });
    cases
}

fn compare(want: &Value, got_value: &agreement::Measure, what: &str) {
    match (want.as_f64(), got_value) {
        (None, Err(_)) => {}
        (Some(w), Ok(g)) => assert!((w - g).abs() < 1e-9, "{what}: keylabel {g}, reference {w}"),
        (w, g) => panic!("{what}: keylabel {g:?}, reference {w:?}"),
    }
}

fn run_reference(python: &str, cases: &[Case]) -> Value {
    use std::io::Write;
    let input = serde_json::json!({
        "cases": cases.iter().map(|c| serde_json::json!({
            "name": c.name, "raters": c.raters, "categories": c.categories, "rows": c.rows,
        })).collect::<Vec<_>>()
    });
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/agreement_reference.py"
    );
    let mut child = Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn agrees_with_scikit_learn_statsmodels_and_krippendorff() {
    let Some(python) = std::env::var("KEYLABEL_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
    else {
        if std::env::var("KEYLABEL_REQUIRE_PYTHON").as_deref() == Ok("1") {
            panic!("KEYLABEL_REQUIRE_PYTHON=1 but KEYLABEL_PYTHON is not set");
        }
        eprintln!(
            "note: KEYLABEL_PYTHON is not set; skipping the cross-check against scikit-learn, \
             statsmodels and krippendorff"
        );
        return;
    };
    let cases = reference_cases();
    let reference = run_reference(&python, &cases);
    eprintln!("reference versions: {}", reference["versions"]);
    for (case, want) in cases.iter().zip(reference["cases"].as_array().unwrap()) {
        let r = Ratings::from_rows(case.raters, case.categories, &case.rows).unwrap();
        let name = &case.name;
        let pa = agreement::percent_agreement(&r);
        compare(
            &want["percent_agreement"]["value"],
            &pa.value,
            &format!("{name}: percent"),
        );
        assert_eq!(want["percent_agreement"]["items"], pa.items, "{name}");
        let pairs = agreement::cohen_kappa_pairs(&r);
        let want_pairs = want["cohen_kappa"].as_array().unwrap();
        assert_eq!(pairs.len(), want_pairs.len(), "{name}");
        for (g, w) in pairs.iter().zip(want_pairs) {
            assert_eq!(
                (w["a"].as_u64(), w["b"].as_u64()),
                (Some(g.a as u64), Some(g.b as u64))
            );
            assert_eq!(w["items"], g.items, "{name}");
            compare(
                &w["kappa"],
                &g.kappa,
                &format!("{name}: kappa {}-{}", g.a, g.b),
            );
        }
        let f = agreement::fleiss_kappa(&r);
        compare(
            &want["fleiss_kappa"]["value"],
            &f.value,
            &format!("{name}: fleiss"),
        );
        assert_eq!(want["fleiss_kappa"]["items"], f.items, "{name}");
        assert_eq!(want["fleiss_kappa"]["raters"], f.raters, "{name}");
        let a = agreement::krippendorff_alpha(&r);
        compare(
            &want["krippendorff_alpha"]["value"],
            &a.value,
            &format!("{name}: alpha"),
        );
        assert_eq!(want["krippendorff_alpha"]["items"], a.items, "{name}");
    }

    // And through a real project and the binary: the loader and the JSON carry the values.
    let dir = tempfile::tempdir().unwrap();
    let (path, mut p) = create(
        dir.path(),
        "ref.keylabel",
        &["c0", "c1", "c2", "c3"],
        TaskKind::SingleLabel,
    );
    let case = &cases[8]; // "correlated": 5 raters, 4 categories, missing ratings
    let s = add_samples(&mut p, case.rows.len());
    let c = class_ids(&p);
    let names = ["r0", "r1", "r2", "r3", "r4"];
    let mut events = Vec::new();
    for (i, row) in case.rows.iter().enumerate() {
        for (r, v) in row.iter().enumerate() {
            if let Some(v) = v {
                events.push(NewEvent::label(s[i], names[r], vec![c[*v as usize]]));
            }
        }
    }
    p.record_all(&events).unwrap();
    drop(p);
    let j = bin_json(&path, &["agreement", "--json"]);
    let want = &reference["cases"][8];
    let f = |v: &Value| v.as_f64().unwrap();
    assert!((f(&j["percent_agreement"]) - f(&want["percent_agreement"]["value"])).abs() < 1e-9);
    assert!((f(&j["fleiss_kappa"]["value"]) - f(&want["fleiss_kappa"]["value"])).abs() < 1e-9);
    assert!(
        (f(&j["krippendorff_alpha"]["value"]) - f(&want["krippendorff_alpha"]["value"])).abs()
            < 1e-9
    );
    for (g, w) in j["cohen_kappa"]
        .as_array()
        .unwrap()
        .iter()
        .zip(want["cohen_kappa"].as_array().unwrap())
    {
        assert!((f(&g["kappa"]) - f(&w["kappa"])).abs() < 1e-9);
        assert_eq!(g["items"], w["items"]);
    }
}

// ---------------------------------------------------------------------------------------
// Consensus

#[test]
fn dawid_skene_policy_recovers_truth_with_an_adversarial_annotator() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, mut p) = create(
        dir.path(),
        "ds.keylabel",
        &["a", "b", "c"],
        TaskKind::SingleLabel,
    );
    let n = 600;
    let s = add_samples(&mut p, n);
    let c = class_ids(&p);
    let mut rng = Rng::new(5);
    let mut truth = Vec::new();
    let mut events = Vec::new();
    for &x in &s {
        let t = rng.below(3u32);
        truth.push(c[t as usize]);
        let mut noisy = |acc: f64| {
            if rng.unit() < acc {
                t
            } else {
                (t + 1 + rng.below(2u32)) % 3
            }
        };
        let a = noisy(0.7);
        let b = noisy(0.7);
        let m = (noisy(0.95) + 1) % 3; // reliable, but shifted by one class
        events.push(NewEvent::label(x, "amy", vec![c[a as usize]]));
        events.push(NewEvent::label(x, "bea", vec![c[b as usize]]));
        events.push(NewEvent::label(x, "mallory", vec![c[m as usize]]));
    }
    p.record_all(&events).unwrap();
    let accuracy = |p: &Project| {
        let right = final_labels(p)
            .unwrap()
            .iter()
            .filter(|(id, r)| r.labels() == Some(&[truth[(id.0 - s[0].0) as usize]][..]))
            .count();
        right as f64 / n as f64
    };
    let mut settings = p.settings().unwrap();
    settings.consensus = ConsensusPolicy::Majority;
    p.set_settings(&settings).unwrap();
    let majority = accuracy(&p);
    settings.consensus = ConsensusPolicy::DawidSkene;
    p.set_settings(&settings).unwrap();
    let ds = accuracy(&p);
    assert!(ds > 0.9, "Dawid–Skene {ds}");
    assert!(ds > majority + 0.2, "Dawid–Skene {ds}, majority {majority}");
    let finals = final_labels_with_confidence(&p).unwrap();
    assert_eq!(finals.len(), n);
    for f in &finals {
        let conf = f.confidence.unwrap();
        assert!(conf > 0.0 && conf <= 1.0, "{conf}");
    }
    // A reviewer's decision still wins, with confidence 1.
    set_label(&mut p, s[0], "rita", &[c[2]]).unwrap();
    let f = &final_labels_with_confidence(&p).unwrap()[0];
    assert_eq!(f.resolution, Resolution::Reviewed(vec![c[2]]));
    assert_eq!(f.confidence, Some(1.0));
    p.integrity_check().unwrap();
}

#[test]
fn majority_and_unanimous_confidence_is_the_vote_share() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, mut p) = create(
        dir.path(),
        "vote.keylabel",
        &["a", "b"],
        TaskKind::SingleLabel,
    );
    let s = add_samples(&mut p, 1);
    let c = class_ids(&p);
    label(&mut p, s[0], "x", &[c[0]]);
    label(&mut p, s[0], "y", &[c[0]]);
    label(&mut p, s[0], "z", &[c[1]]);
    let f = &final_labels_with_confidence(&p).unwrap()[0];
    assert_eq!(f.resolution, Resolution::Disagreement);
    assert_eq!(f.confidence, None);
    let mut st = p.settings().unwrap();
    st.consensus = ConsensusPolicy::Majority;
    p.set_settings(&st).unwrap();
    let f = &final_labels_with_confidence(&p).unwrap()[0];
    assert_eq!(f.resolution, Resolution::Agreed(vec![c[0]]));
    assert!((f.confidence.unwrap() - 2.0 / 3.0).abs() < 1e-12);
}

// ---------------------------------------------------------------------------------------
// Review queue and actions

#[test]
fn review_queue_order_and_the_effect_of_each_action() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, mut p) = create(
        dir.path(),
        "queue.keylabel",
        &["cat", "dog", "bird"],
        TaskKind::SingleLabel,
    );
    let s = add_samples(&mut p, 7);
    let c = class_ids(&p);
    let mut st = p.settings().unwrap();
    st.overlap = 2;
    p.set_settings(&st).unwrap();
    // s0: suggestion overridden (model said dog, both said cat).
    let mut sug = NewEvent::new(s[0], "model-v1", EventKind::Suggest);
    sug.labels = vec![c[1]];
    sug.score = Some(0.9);
    sug.source = Source::Model;
    p.record(sug).unwrap();
    label(&mut p, s[0], "alice", &[c[0]]);
    label(&mut p, s[0], "bob", &[c[0]]);
    // s1: flagged, labeled by one annotator.
    label(&mut p, s[1], "alice", &[c[2]]);
    p.record(NewEvent::new(s[1], "alice", EventKind::Flag).with_note("blurry?"))
        .unwrap();
    // s2: disagreement.
    p.record(NewEvent::label(s[2], "alice", vec![c[0]]).with_spent_ms(1500))
        .unwrap();
    p.record(NewEvent::label(s[2], "bob", vec![c[1]]).with_spent_ms(2500))
        .unwrap();
    // s3: agreement, not in the queue.
    label(&mut p, s[3], "alice", &[c[1]]);
    label(&mut p, s[3], "bob", &[c[1]]);
    // s4: flagged and a disagreement: listed once, as a disagreement.
    label(&mut p, s[4], "alice", &[c[0]]);
    label(&mut p, s[4], "bob", &[c[2]]);
    p.record(NewEvent::new(s[4], "bob", EventKind::Flag))
        .unwrap();
    // s5: suggestion confirmed, not in the queue.
    let mut sug = NewEvent::new(s[5], "model-v1", EventKind::Suggest);
    sug.labels = vec![c[2]];
    sug.source = Source::Model;
    p.record(sug).unwrap();
    label(&mut p, s[5], "alice", &[c[2]]);
    p.integrity_check().unwrap();

    let q = review_queue(&p, 100).unwrap();
    let order: Vec<(SampleId, ReviewReason)> = q.iter().map(|i| (i.sample, i.reason)).collect();
    assert_eq!(
        order,
        vec![
            (s[2], ReviewReason::Disagreement),
            (s[4], ReviewReason::Disagreement),
            (s[1], ReviewReason::Flagged),
            (s[0], ReviewReason::SuggestionOverridden),
        ]
    );
    let d = &q[0].decisions;
    assert_eq!(d.len(), 2);
    assert_eq!(
        (d[0].annotator.as_str(), d[0].label_names.clone()),
        ("alice", vec!["cat".to_string()])
    );
    assert_eq!(
        (d[1].annotator.as_str(), d[1].spent_ms),
        ("bob", Some(2500))
    );
    assert!(!d[1].at.is_empty());
    assert_eq!(q[3].suggestion, Some((vec![c[1]], Some(0.9))));
    assert_eq!(review_queue(&p, 2).unwrap().len(), 2);
    assert!(review_queue(&p, 0).unwrap().is_empty());

    // Unanimous policy: s2 and s4 have no final label yet.
    let finals = final_labels(&p).unwrap();
    assert!(finals.contains(&(s[2], Resolution::Disagreement)));

    // Accept bob's label on s2.
    accept(&mut p, s[2], "rita", "bob").unwrap();
    assert!(
        final_labels(&p)
            .unwrap()
            .contains(&(s[2], Resolution::Reviewed(vec![c[1]])))
    );
    let h = p.history(Some(s[2])).unwrap();
    let review = h.iter().find(|e| e.kind == EventKind::Review).unwrap();
    assert_eq!(review.annotator, "rita");
    assert_eq!(review.labels, vec!["dog".to_string()]);
    assert!(accept(&mut p, s[3], "rita", "nobody").is_err());
    assert!(accept(&mut p, SampleId(9999), "rita", "alice").is_err());
    assert!(accept(&mut p, s[3], " ", "alice").is_err());

    // Override s4 with a third class: final label set, flag cleared.
    set_label(&mut p, s[4], "rita", &[c[1]]).unwrap();
    assert!(
        final_labels(&p)
            .unwrap()
            .contains(&(s[4], Resolution::Reviewed(vec![c[1]])))
    );
    assert!(!p.is_flagged(s[4]).unwrap());
    // A single-label project refuses two classes, and writes nothing.
    let events_before = p.history(None).unwrap().len();
    assert!(set_label(&mut p, s[3], "rita", &[c[0], c[1]]).is_err());
    assert_eq!(p.history(None).unwrap().len(), events_before);

    // Send s1 back: its label stops counting and the annotators are offered it again.
    assert_eq!(p.next_for_annotator("alice", None).unwrap(), Some(s[6]));
    send_back(&mut p, s[1], "rita").unwrap();
    assert!(!final_labels(&p).unwrap().iter().any(|(id, _)| *id == s[1]));
    assert!(p.decisions(s[1]).unwrap().is_empty());
    assert!(!p.is_flagged(s[1]).unwrap());
    assert_eq!(p.next_for_annotator("alice", None).unwrap(), Some(s[1]));
    // Samples with enough annotators or a review decision are not offered to a newcomer.
    assert_eq!(p.next_for_annotator("carol", None).unwrap(), Some(s[1]));
    assert_eq!(
        p.next_for_annotator("carol", Some(s[1])).unwrap(),
        Some(s[5])
    );

    let q = review_queue(&p, 100).unwrap();
    let order: Vec<SampleId> = q.iter().map(|i| i.sample).collect();
    assert_eq!(
        order,
        vec![s[0]],
        "reviewed and sent-back samples leave the queue"
    );
    p.integrity_check().unwrap();
}

#[test]
fn a_sample_sent_back_keeps_its_disagreement_in_the_agreement_figures() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut p) = create(
        dir.path(),
        "back.keylabel",
        &["a", "b"],
        TaskKind::SingleLabel,
    );
    let s = add_samples(&mut p, 4);
    let c = class_ids(&p);
    // alice and bob agree on s0 and s3, disagree on s1 and s2.
    for (i, (x, y)) in [(0, 0), (0, 1), (1, 0), (1, 1)].into_iter().enumerate() {
        label(&mut p, s[i], "alice", &[c[x]]);
        label(&mut p, s[i], "bob", &[c[y]]);
    }
    let before = agreement::agreement(&p, false).unwrap();
    close_measure(&before.percent_agreement.value, 0.5);
    assert_eq!((before.items, before.sent_back), (4, 0));

    // The reviewer sends s1 back: its labels stop counting as labels, not as ratings.
    send_back(&mut p, s[1], "rita").unwrap();
    assert!(p.decisions(s[1]).unwrap().is_empty());
    let after = agreement::agreement(&p, false).unwrap();
    assert_eq!((after.items, after.sent_back), (4, 1));
    close_measure(&after.percent_agreement.value, 0.5);
    assert_eq!(
        after.krippendorff_alpha.value, before.krippendorff_alpha.value,
        "the figures are those before the send-back"
    );
    // Statistics against the final labels read current labels only.
    let stats = annotator_stats(&p).unwrap();
    assert_eq!(stats.iter().find(|a| a.name == "alice").unwrap().labels, 3);
    drop(p);
    let j = bin_json(&path, &["agreement", "--json"]);
    assert_eq!(
        (j["items"].as_u64(), j["sent_back"].as_u64()),
        (Some(4), Some(1))
    );
    close(&j["percent_agreement"], 0.5);
    let text = String::from_utf8(bin(&path, &["agreement"]).stdout).unwrap();
    assert!(
        text.contains("1 sample sent back by a reviewer"),
        "the text report says so:\n{text}"
    );

    // alice labels s1 again, as bob had: her new label replaces the one sent back.
    let mut p = Project::open(&path).unwrap();
    label(&mut p, s[1], "alice", &[c[1]]);
    let relabeled = agreement::agreement(&p, false).unwrap();
    close_measure(&relabeled.percent_agreement.value, 0.75);
    assert_eq!(relabeled.items, 4);

    // Undoing the send-back gives the sample its labels back, and it is no longer counted
    // as sent back.
    assert_eq!(p.undo_last("rita").unwrap(), Some(s[1]));
    let undone = agreement::agreement(&p, false).unwrap();
    assert_eq!(undone.sent_back, 0);
    close_measure(&undone.percent_agreement.value, 0.75);
    assert_eq!(p.decisions(s[1]).unwrap().len(), 2);
    p.integrity_check().unwrap();
}

#[test]
fn a_version_4_project_learns_the_labels_its_send_backs_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut p) = create(
        dir.path(),
        "old.keylabel",
        &["a", "b"],
        TaskKind::SingleLabel,
    );
    let s = add_samples(&mut p, 2);
    let c = class_ids(&p);
    label(&mut p, s[0], "alice", &[c[0]]);
    label(&mut p, s[0], "bob", &[c[1]]);
    label(&mut p, s[1], "alice", &[c[0]]);
    label(&mut p, s[1], "bob", &[c[0]]);
    send_back(&mut p, s[0], "rita").unwrap();
    let want = agreement::agreement(&p, false).unwrap();
    drop(p);
    // Back to how keylabel before schema version 5 wrote the file.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "{}{}",
            keylabel_testkit::fixtures::BEFORE_BOXES,
            "DROP TABLE sample_aliases; DROP TABLE sent_back_labels; PRAGMA user_version = 4;"
        ))
        .unwrap();
    }
    let p = Project::open(&path).unwrap();
    assert_eq!(agreement::agreement(&p, false).unwrap(), want);
    assert_eq!(want.items, 2);
    close_measure(&want.percent_agreement.value, 0.5);
}

#[test]
fn blind_mode_hides_other_annotators_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, mut p) = create(
        dir.path(),
        "blind.keylabel",
        &["a", "b"],
        TaskKind::SingleLabel,
    );
    let s = add_samples(&mut p, 1);
    let c = class_ids(&p);
    label(&mut p, s[0], "alice", &[c[0]]);
    label(&mut p, s[0], "bob", &[c[1]]);
    // overlap 1, blind unset: not blind.
    assert_eq!(visible_decisions(&p, s[0], "bob").unwrap().len(), 2);
    let mut st = p.settings().unwrap();
    st.overlap = 2; // blind by default now
    p.set_settings(&st).unwrap();
    let v = visible_decisions(&p, s[0], "bob").unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].annotator, "bob");
    assert!(visible_decisions(&p, s[0], "carol").unwrap().is_empty());
    st.blind = Some(false);
    p.set_settings(&st).unwrap();
    assert_eq!(visible_decisions(&p, s[0], "bob").unwrap().len(), 2);
}

// ---------------------------------------------------------------------------------------
// Overlap and QA fraction

#[test]
fn overlap_two_offers_a_sample_to_a_second_annotator_not_a_third() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, mut p) = create(
        dir.path(),
        "overlap.keylabel",
        &["a", "b"],
        TaskKind::SingleLabel,
    );
    let s = add_samples(&mut p, 3);
    let c = class_ids(&p);
    let mut st = p.settings().unwrap();
    st.overlap = 2;
    p.set_settings(&st).unwrap();
    assert_eq!(p.next_for_annotator("alice", None).unwrap(), Some(s[0]));
    label(&mut p, s[0], "alice", &[c[0]]);
    assert_eq!(p.next_for_annotator("alice", None).unwrap(), Some(s[1]));
    assert_eq!(p.next_for_annotator("bob", None).unwrap(), Some(s[0]));
    label(&mut p, s[0], "bob", &[c[1]]);
    assert_eq!(p.next_for_annotator("carol", None).unwrap(), Some(s[1]));
    // After s1 (wrapping): carol is never offered s0.
    assert_eq!(
        p.next_for_annotator("carol", Some(s[2])).unwrap(),
        Some(s[1])
    );
    for x in &s[1..] {
        label(&mut p, *x, "alice", &[c[0]]);
        label(&mut p, *x, "bob", &[c[0]]);
    }
    assert_eq!(p.next_for_annotator("carol", None).unwrap(), None);
    assert_eq!(p.next_for_annotator("alice", Some(s[1])).unwrap(), None);
    // Overlap 1: one annotator is enough.
    st.overlap = 1;
    p.set_settings(&st).unwrap();
    let (_p2, mut q) = create(dir.path(), "one.keylabel", &["a"], TaskKind::SingleLabel);
    let t = add_samples(&mut q, 2);
    let first = class_ids(&q)[0];
    label(&mut q, t[0], "alice", &[first]);
    assert_eq!(q.next_for_annotator("bob", None).unwrap(), Some(t[1]));
    // Excluded samples are never offered.
    q.record(NewEvent::new(t[1], "alice", EventKind::Exclude).with_note("unreadable"))
        .unwrap();
    assert_eq!(q.next_for_annotator("bob", None).unwrap(), None);
    q.integrity_check().unwrap();
}

/// Labels every sample `who` is offered, in queue order; returns the samples labeled.
fn label_all_offered(p: &mut Project, who: &str, class: ClassId) -> Vec<SampleId> {
    let mut done = Vec::new();
    let mut after = None;
    while let Some(id) = p.next_for_annotator(who, after).unwrap() {
        assert!(!done.contains(&id), "{who} was offered {id} twice");
        label(p, id, who, &[class]);
        done.push(id);
        after = Some(id);
    }
    done
}

#[test]
fn qa_fraction_gives_a_reproducible_share_a_second_annotator() {
    let dir = tempfile::tempdir().unwrap();
    let run = |file: &str| {
        let (_path, mut p) = create(dir.path(), file, &["a", "b"], TaskKind::SingleLabel);
        let s = add_samples(&mut p, 150);
        let c = class_ids(&p)[0];
        let mut st = p.settings().unwrap();
        st.qa_fraction = 0.2;
        p.set_settings(&st).unwrap();
        assert!(st.is_blind());
        let first = label_all_offered(&mut p, "alice", c);
        assert_eq!(first.len(), 150);
        let second = label_all_offered(&mut p, "bob", c);
        let third = label_all_offered(&mut p, "carol", c);
        assert!(
            third.is_empty(),
            "a QA sample needs overlap + 1 = 2 annotators, not 3"
        );
        p.integrity_check().unwrap();
        let names: Vec<String> = second
            .iter()
            .map(|id| p.sample(*id).unwrap().unwrap().name)
            .collect();
        let expected: Vec<String> = s
            .iter()
            .map(|id| p.sample(*id).unwrap().unwrap())
            .filter(|x| qa_selected(&x.hash, 0.2))
            .map(|x| x.name)
            .collect();
        (names, expected)
    };
    let (a, expected) = run("qa1.keylabel");
    let (b, _) = run("qa2.keylabel");
    assert_eq!(
        a, expected,
        "the second annotator gets exactly the QA-selected samples"
    );
    assert_eq!(a, b, "the selection is reproducible");
    assert!(
        (15..=45).contains(&a.len()),
        "{} of 150 selected at 20%",
        a.len()
    );
    // The selection is a pure function of the content hash and the fraction.
    let h = blake3::hash(b"some content").to_hex().to_string();
    assert_eq!(qa_selected(&h, 0.5), qa_selected(&h, 0.5));
    assert!(!qa_selected(&h, 0.0) && qa_selected(&h, 1.0));
    // Monotone in the fraction: a sample chosen at 10% is chosen at 20%.
    for i in 0..200 {
        let h = blake3::hash(format!("{i}").as_bytes()).to_hex().to_string();
        assert!(!qa_selected(&h, 0.1) || qa_selected(&h, 0.2));
    }
}

// ---------------------------------------------------------------------------------------
// Per-annotator statistics

#[test]
fn annotator_statistics_from_the_library_and_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut p) = create(
        dir.path(),
        "stats.keylabel",
        &["cat", "dog"],
        TaskKind::SingleLabel,
    );
    let s = add_samples(&mut p, 4);
    let c = class_ids(&p);
    let mut st = p.settings().unwrap();
    st.consensus = ConsensusPolicy::Majority;
    p.set_settings(&st).unwrap();
    // Three annotators; ann is wrong on s1 and s3 (says dog where the majority says cat).
    for (i, &x) in s.iter().enumerate() {
        let ms = [1000, 2000, 6000, 3000][i];
        p.record(NewEvent::label(x, "ann", vec![c[i % 2]]).with_spent_ms(ms))
            .unwrap();
        p.record(NewEvent::label(x, "ben", vec![c[0]]).with_spent_ms(4000))
            .unwrap();
        p.record(NewEvent::label(x, "cyd", vec![c[0]])).unwrap();
    }
    accept(&mut p, s[0], "rita", "ben").unwrap();
    let stats = annotator_stats(&p).unwrap();
    let names: Vec<&str> = stats.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["ann", "ben", "cyd", "rita"]);
    let ann = &stats[0];
    assert_eq!(ann.labels, 4);
    assert_eq!(ann.timed_labels, 4);
    assert_eq!(ann.median_seconds, Some(2.5));
    // 4 labels in 12 s of active time = 1200 per hour.
    assert!((ann.labels_per_hour.unwrap() - 1200.0).abs() < 1e-9);
    // ann vs final (cat on all four): a constant final label makes kappa 0/0 … unless ann
    // varies: p_o = 1/2, p_e = 1/2·1 → κ = 0.
    assert_eq!(ann.kappa_items, 4);
    assert!(ann.kappa_vs_final.unwrap().abs() < 1e-12);
    assert_eq!(ann.confused.len(), 1);
    assert_eq!(
        (
            ann.confused[0].given.as_str(),
            ann.confused[0].final_label.as_str(),
            ann.confused[0].count
        ),
        ("dog", "cat", 2)
    );
    // ben always agrees with a constant final label: undefined, with the reason.
    assert!(stats[1].kappa_vs_final.is_err());
    assert_eq!(stats[2].median_seconds, None);
    assert_eq!(stats[2].labels_per_hour, None);
    assert_eq!((stats[3].labels, stats[3].reviews), (0, 1));
    drop(p);

    let j = bin_json(&path, &["annotators", "--json"]);
    let rows = j["annotators"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(
        keys(&rows[0]),
        set(&[
            "name",
            "labels",
            "timed_labels",
            "median_seconds",
            "labels_per_hour",
            "kappa_vs_final",
            "confused",
            "reviews"
        ])
    );
    assert_eq!(rows[0]["median_seconds"], 2.5);
    close(&rows[0]["labels_per_hour"], 1200.0);
    assert_eq!(
        rows[0]["confused"][0],
        serde_json::json!({"given": "dog", "final": "cat", "count": 2})
    );
    assert!(rows[1]["kappa_vs_final"]["value"].is_null());
    assert!(rows[1]["kappa_vs_final"]["reason"].is_string());
    let out = bin(&path, &["annotators"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("dog → cat ×2"), "{text}");
}

// ---------------------------------------------------------------------------------------
// Settings command

#[test]
fn settings_command_shows_and_changes_settings() {
    let dir = tempfile::tempdir().unwrap();
    let (path, p) = create(
        dir.path(),
        "settings.keylabel",
        &["a", "b"],
        TaskKind::SingleLabel,
    );
    drop(p);
    let j = bin_json(&path, &["settings"]);
    assert_eq!(j["overlap"], 1);
    assert_eq!(j["consensus"], "unanimous");
    assert!(j["blind"].is_null());
    assert_eq!(j["validation"]["min_agreement"], 0.667);

    let j = bin_json(&path, &["settings", "set", "overlap", "3"]);
    assert_eq!(j["overlap"], 3);
    bin_json(&path, &["settings", "set", "qa-fraction", "0.1"]);
    bin_json(&path, &["settings", "set", "consensus", "dawid-skene"]);
    bin_json(&path, &["settings", "set", "blind", "false"]);
    bin_json(&path, &["settings", "set", "min-agreement", "-0.25"]);
    bin_json(
        &path,
        &["settings", "set", "validation.imbalance_ratio", "5"],
    );
    let p = Project::open(&path).unwrap();
    let st = p.settings().unwrap();
    assert_eq!(st.overlap, 3);
    assert_eq!(st.qa_fraction, 0.1);
    assert_eq!(st.consensus, ConsensusPolicy::DawidSkene);
    assert_eq!(st.blind, Some(false));
    assert_eq!(st.validation.min_agreement, -0.25);
    assert_eq!(st.validation.imbalance_ratio, 5.0);
    drop(p);

    for (k, v) in [
        ("overlap", "0"),
        ("qa-fraction", "2"),
        ("consensus", "vote"),
        ("colour", "red"),
    ] {
        let out = bin(&path, &["settings", "set", k, v]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(k), "{err}");
        assert!(out.stdout.is_empty());
    }
    assert_eq!(
        Project::open(&path).unwrap().settings().unwrap(),
        st,
        "refused values change nothing"
    );
    let out = bin(&dir.path().join("missing.keylabel"), &["settings"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.keylabel"));
}

// ---------------------------------------------------------------------------------------
// Offline team work: copy to three annotators, label, merge, agreement, review

#[test]
fn three_copies_labeled_apart_merge_into_one_agreement_report() {
    let dir = tempfile::tempdir().unwrap();
    let (base, mut p) = create(
        dir.path(),
        "team.keylabel",
        &["cat", "dog", "bird"],
        TaskKind::SingleLabel,
    );
    let s = add_samples(&mut p, 40);
    let mut st = p.settings().unwrap();
    st.overlap = 3;
    p.set_settings(&st).unwrap();
    drop(p);
    let names = ["ada", "bo", "cy"];
    let copies: Vec<PathBuf> = names
        .iter()
        .map(|n| {
            let to = dir.path().join(format!("team-{n}.keylabel"));
            std::fs::copy(&base, &to).unwrap();
            to
        })
        .collect();
    let mut rng = Rng::new(99);
    let mut rows: Vec<Vec<Option<u32>>> = vec![vec![None; 3]; s.len()];
    for (r, (name, copy)) in names.iter().zip(&copies).enumerate() {
        let mut p = Project::open(copy).unwrap();
        let c = class_ids(&p);
        // Each annotator labels what their queue offers, skipping some samples.
        let mut after = None;
        while let Some(id) = p.next_for_annotator(name, after).unwrap() {
            after = Some(id);
            let i = (id.0 - s[0].0) as usize;
            if rng.unit() < 0.15 {
                p.record(NewEvent::new(id, name, EventKind::Skip)).unwrap();
                continue;
            }
            let truth = (i % 3) as u32;
            let v = if rng.unit() < 0.75 {
                truth
            } else {
                rng.below(3u32)
            };
            label(&mut p, id, name, &[c[v as usize]]);
            rows[i][r] = Some(v);
        }
        p.integrity_check().unwrap();
    }
    let mut merged = Project::open(&base).unwrap();
    for copy in &copies {
        let r = merged.merge_from(copy).unwrap();
        assert!(r.events_added > 0);
    }
    // Merging again adds nothing.
    assert_eq!(merged.merge_from(&copies[0]).unwrap().events_added, 0);
    merged.integrity_check().unwrap();

    let report = agreement::agreement(&merged, true).unwrap();
    assert_eq!(report.annotators, vec!["ada", "bo", "cy"]);
    let want = Ratings::from_rows(3, 3, &rows).unwrap();
    let labeled = rows
        .iter()
        .filter(|r| r.iter().any(Option::is_some))
        .count();
    assert_eq!(report.items, labeled as u64);
    // The report from the merged file equals the statistics of the labels given apart.
    // (Categories are numbered differently inside; the statistics do not depend on it.)
    let a = agreement::krippendorff_alpha(&want);
    assert_eq!(report.krippendorff_alpha.items, a.items);
    assert!((report.krippendorff_alpha.value.unwrap() - a.value.unwrap()).abs() < 1e-12);
    let f = agreement::fleiss_kappa(&want);
    assert_eq!(
        (report.fleiss_kappa.items, report.fleiss_kappa.raters),
        (f.items, f.raters)
    );
    assert!((report.fleiss_kappa.value.unwrap() - f.value.unwrap()).abs() < 1e-12);
    for (g, w) in report
        .cohen_kappa
        .iter()
        .zip(agreement::cohen_kappa_pairs(&want))
    {
        assert_eq!(g.items, w.items);
        assert!((g.kappa.unwrap() - w.kappa.unwrap()).abs() < 1e-12);
    }
    assert!(
        (report.percent_agreement.value.unwrap()
            - agreement::percent_agreement(&want).value.unwrap())
        .abs()
            < 1e-12
    );

    // Review the disagreements: accept the first annotator's label on each.
    let q = review_queue(&merged, 1000).unwrap();
    let disagreements = rows
        .iter()
        .filter(|r| {
            let v: BTreeSet<u32> = r.iter().flatten().copied().collect();
            v.len() > 1
        })
        .count();
    assert_eq!(
        q.iter()
            .filter(|i| i.reason == ReviewReason::Disagreement)
            .count(),
        disagreements
    );
    for item in &q {
        let first = item
            .decisions
            .iter()
            .find(|d| !d.labels.is_empty())
            .unwrap();
        let who = first.annotator.clone();
        accept(&mut merged, item.sample, "lead", &who).unwrap();
    }
    assert!(review_queue(&merged, 1000).unwrap().is_empty());
    assert!(
        final_labels(&merged)
            .unwrap()
            .iter()
            .all(|(_, r)| r.labels().is_some())
    );
    merged.integrity_check().unwrap();
}
