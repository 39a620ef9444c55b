//! The labeling window driven through `egui_kittest`: real keys and clicks on the real
//! `App`, with a real project file in a temporary folder, checked after every action.

use crate::common::window::{current, harness, press, press_mod, type_into, wait_until};
use crate::common::{image_sample, images};

use std::path::{Path, PathBuf};

use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use keylabel::app::grid::{GridFilter, StatusFilter};
use keylabel::app::{App, ViewKind};
use keylabel::project::{
    ClassId, EventKind, NewEvent, NewSample, SampleQuery, SampleStatus, Source,
};
use keylabel::{Project, TaskKind};

const ANNOTATOR: &str = "ann";

/// Writes a real image of `w`×`h` with a pattern that depends on `seed`, in the format its
/// extension names.
fn write_image(path: &Path, w: u32, h: u32, seed: u32) {
    let format = image::ImageFormat::from_path(path).expect("an image extension");
    images::save(path, images::pattern(w, h, seed), format);
}

/// A project of `n` real images (PNG and JPEG) plus, with `corrupt`, one broken file.
fn image_project(dir: &Path, task: TaskKind, n: u32, corrupt: bool) -> PathBuf {
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    let path = dir.join("animals.keylabel");
    let classes: Vec<String> = ["cat", "dog", "bird", "other"].map(String::from).into();
    let mut project = Project::create(&path, &classes, task).unwrap();
    let mut batch = Vec::new();
    for i in 0..n {
        let ext = if i % 2 == 0 { "png" } else { "jpg" };
        let file = images.join(format!("img {i:02}.{ext}"));
        write_image(&file, 320 + i * 8, 240, i);
        batch.push(image_sample(&project, &file));
    }
    if corrupt {
        let file = images.join("zz broken.jpg");
        std::fs::write(&file, b"\xff\xd8\xff\xe0 this is not a jpeg").unwrap();
        let mut s = image_sample(&project, &file);
        s.width = Some(100);
        s.height = Some(100);
        batch.push(s);
    }
    project.insert_samples(&batch).unwrap();
    path
}

fn text_project(dir: &Path) -> PathBuf {
    let path = dir.join("reviews.keylabel");
    let classes: Vec<String> = ["positive", "negative", "neutral"].map(String::from).into();
    let mut project = Project::create(&path, &classes, TaskKind::SingleLabel).unwrap();
    let texts = [
        "The battery lasts two full days and the screen is bright even in direct sunlight. \
         I would buy it again without a second thought.",
        "Arrived broken, and support never answered.",
    ];
    let batch: Vec<NewSample> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut features = serde_json::Map::new();
            features.insert("stars".into(), serde_json::json!(5 - i * 4));
            features.insert("product".into(), serde_json::json!("phone X2"));
            crate::common::text_row("reviews.csv", i + 1, t, Some(features))
        })
        .collect();
    project.insert_samples(&batch).unwrap();
    path
}

/// Opens `path` as the real window does and waits until the first sample is drawn.
fn open(path: &Path, settings: Option<PathBuf>) -> Harness<'static, App> {
    let mut app = App::new(settings, ANNOTATOR.into());
    app.open_project(path);
    let mut h = harness(app);
    wait_until(&mut h, "the project to open", |a| a.session().is_some());
    wait_until(&mut h, "the first image", App::current_image_ready);
    h
}

fn class_id(path: &Path, name: &str) -> ClassId {
    Project::open(path)
        .unwrap()
        .class_by_name(name)
        .unwrap()
        .unwrap()
        .id
}

#[test]
fn class_key_labels_commits_and_advances() {
    let dir = tempfile::tempdir().unwrap();
    let path = image_project(dir.path(), TaskKind::SingleLabel, 4, false);
    let mut h = open(&path, None);
    let first = current(&h);
    press(&mut h, Key::Num2);
    let second = current(&h);
    assert_ne!(first, second, "the view advanced");
    let project = Project::open(&path).unwrap();
    let d = project.decision_of(first, ANNOTATOR).unwrap().unwrap();
    assert_eq!(d.labels, vec![class_id(&path, "dog")]);
    assert_eq!(d.status, SampleStatus::Labeled);
    assert!(d.spent_ms.is_some(), "time on item is recorded");
    assert!(project.decision_of(second, ANNOTATOR).unwrap().is_none());
    project.integrity_check().unwrap();
    assert_eq!(h.state().session().unwrap().counts.done, 1);
    h.get_by_label_contains("1 / 4 decided");
    h.get_by_label("#2 of 4");
    press(&mut h, Key::ArrowLeft);
    h.get_by_label("#1 of 4");
    press(&mut h, Key::N);
    h.get_by_label("#2 of 4");
}

#[test]
fn undo_goes_back_through_several_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let path = image_project(dir.path(), TaskKind::SingleLabel, 5, false);
    let mut h = open(&path, None);
    let mut seen = vec![current(&h)];
    for key in [Key::Num1, Key::Num2, Key::Num3] {
        press(&mut h, key);
        seen.push(current(&h));
    }
    assert_eq!(
        Project::open(&path).unwrap().decided_by(ANNOTATOR).unwrap(),
        3
    );
    press_mod(&mut h, Modifiers::CTRL, Key::Z);
    assert_eq!(current(&h), seen[2]);
    press(&mut h, Key::Backspace);
    assert_eq!(current(&h), seen[1]);
    press_mod(&mut h, Modifiers::CTRL, Key::Z);
    assert_eq!(current(&h), seen[0]);
    let project = Project::open(&path).unwrap();
    assert_eq!(project.decided_by(ANNOTATOR).unwrap(), 0);
    let undos = project
        .history(None)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EventKind::Undo)
        .count();
    assert_eq!(undos, 3);
    assert_eq!(h.state().session().unwrap().counts.done, 0);
    // Nothing left: a further undo changes nothing and says so.
    press(&mut h, Key::Backspace);
    assert_eq!(current(&h), seen[0]);
    h.get_by_label("Nothing left to undo");
    project.integrity_check().unwrap();
}

#[test]
fn multi_label_toggles_then_enter_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = image_project(dir.path(), TaskKind::MultiLabel, 3, false);
    let mut h = open(&path, None);
    let first = current(&h);
    for key in [Key::Num1, Key::Num3, Key::Num1, Key::Num2] {
        press(&mut h, key);
    }
    assert_eq!(current(&h), first, "toggling does not advance");
    let project = Project::open(&path).unwrap();
    assert!(project.decision_of(first, ANNOTATOR).unwrap().is_none());
    press(&mut h, Key::Enter);
    assert_ne!(current(&h), first);
    let mut labels = project
        .decision_of(first, ANNOTATOR)
        .unwrap()
        .unwrap()
        .labels;
    labels.sort();
    let mut want = vec![class_id(&path, "dog"), class_id(&path, "bird")];
    want.sort();
    assert_eq!(labels, want);
    // Enter with nothing toggled writes nothing.
    let second = current(&h);
    press(&mut h, Key::Enter);
    assert_eq!(current(&h), second);
    assert!(project.decision_of(second, ANNOTATOR).unwrap().is_none());
    project.integrity_check().unwrap();
}

#[test]
fn multi_label_toggles_are_saved_when_moving_away_and_undo_takes_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = image_project(dir.path(), TaskKind::MultiLabel, 4, false);
    let (cat, bird) = (class_id(&path, "cat"), class_id(&path, "bird"));
    let mut h = open(&path, None);
    let first = current(&h);
    press(&mut h, Key::Num1);
    press(&mut h, Key::Num3);
    h.get_by_label_contains("2 selected, not saved");
    let decided = |id| {
        Project::open(&path)
            .unwrap()
            .decision_of(id, ANNOTATOR)
            .unwrap()
            .map(|d| {
                let mut l = d.labels;
                l.sort();
                l
            })
    };
    assert_eq!(decided(first), None, "toggling writes nothing");
    // Right moves on, and the toggles become the decision.
    press(&mut h, Key::ArrowRight);
    assert_ne!(current(&h), first);
    assert_eq!(decided(first), Some(vec![cat, bird]));
    h.get_by_label_contains("Saved the 2 toggled classes");
    assert!(h.query_by_label_contains("not saved").is_none());
    // Back on it, the saved classes show as chosen and nothing is pending.
    press(&mut h, Key::ArrowLeft);
    assert_eq!(current(&h), first);
    assert!(h.query_by_label_contains("not saved").is_none());
    // Toggle one more, then open the grid: saved as well.
    press(&mut h, Key::Num2);
    h.get_by_label_contains("3 selected, not saved");
    press(&mut h, Key::G);
    assert_eq!(decided(first).map(|l| l.len()), Some(3));
    press(&mut h, Key::G);
    // Undo takes back one saved decision at a time.
    press_mod(&mut h, Modifiers::COMMAND, Key::Z);
    assert_eq!(decided(first), Some(vec![cat, bird]));
    press_mod(&mut h, Modifiers::COMMAND, Key::Z);
    assert_eq!(decided(first), None);
}

#[test]
fn skip_exclude_with_reason_and_flag() {
    let dir = tempfile::tempdir().unwrap();
    let path = image_project(dir.path(), TaskKind::SingleLabel, 4, false);
    let mut h = open(&path, None);
    let a = current(&h);
    press(&mut h, Key::S);
    let b = current(&h);
    assert_ne!(a, b);
    press(&mut h, Key::X);
    h.get_by_label("Exclude this sample");
    assert_eq!(current(&h), b, "the prompt waits for a reason");
    // The prompt's text field has the focus: typing goes there, not to the keymap.
    h.get_by_label("Reason").type_text("blurry 2");
    h.step();
    press(&mut h, Key::Enter);
    let c = current(&h);
    assert_ne!(c, b);
    press(&mut h, Key::F);
    assert_eq!(current(&h), c, "flagging stays on the sample");
    let project = Project::open(&path).unwrap();
    assert_eq!(project.sample_status(a).unwrap(), SampleStatus::Skipped);
    assert_eq!(project.sample_status(b).unwrap(), SampleStatus::Excluded);
    let excl = project
        .history(Some(b))
        .unwrap()
        .into_iter()
        .find(|e| e.kind == EventKind::Exclude)
        .unwrap();
    assert_eq!(excl.note.as_deref(), Some("blurry 2"));
    assert!(project.is_flagged(c).unwrap());
    press(&mut h, Key::F);
    assert!(!project.is_flagged(c).unwrap());
    // Escape cancels the prompt without writing.
    press(&mut h, Key::X);
    press(&mut h, Key::Escape);
    assert!(h.query_by_label("Exclude this sample").is_none());
    assert_eq!(project.sample_status(c).unwrap(), SampleStatus::Unlabeled);
    project.integrity_check().unwrap();
}

#[test]
fn a_model_suggestion_is_shown_and_accepted_with_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = image_project(dir.path(), TaskKind::SingleLabel, 3, false);
    let bird = class_id(&path, "bird");
    {
        let mut project = Project::open(&path).unwrap();
        let first = project
            .next_for_annotator(ANNOTATOR, None)
            .unwrap()
            .unwrap();
        let mut ev = NewEvent::new(first, "model-v1", EventKind::Suggest);
        ev.labels = vec![bird];
        ev.score = Some(0.87);
        ev.source = Source::Model;
        project.record(ev).unwrap();
    }
    let mut h = open(&path, None);
    let first = current(&h);
    h.get_by_label_contains("Model suggests bird (0.87)");
    press(&mut h, Key::A);
    assert_ne!(current(&h), first);
    let project = Project::open(&path).unwrap();
    let d = project.decision_of(first, ANNOTATOR).unwrap().unwrap();
    assert_eq!(d.labels, vec![bird]);
    // No suggestion on the next sample: A writes nothing.
    let second = current(&h);
    press(&mut h, Key::A);
    assert_eq!(current(&h), second);
    assert!(project.decision_of(second, ANNOTATOR).unwrap().is_none());
}

#[test]
fn remapping_a_key_refuses_clashes_and_is_saved() {
    let dir = tempfile::tempdir().unwrap();
    let path = image_project(dir.path(), TaskKind::SingleLabel, 4, false);
    let settings = dir.path().join("config/settings.json");
    let mut h = open(&path, Some(settings.clone()));
    press_mod(&mut h, Modifiers::CTRL, Key::Comma);
    h.get_by_label("Key bindings");
    // Skip's key is `S`: try to move it onto Flag's `F`, then onto class 1's `1`.
    h.get_by_label("S").click();
    h.step();
    press(&mut h, Key::F);
    h.get_by_label("Refused: F is already bound to “Flag”");
    h.get_by_label("S").click();
    h.step();
    press(&mut h, Key::Num1);
    h.get_by_label("Refused: 1 is already bound to class “cat”");
    h.get_by_label("S").click();
    h.step();
    press(&mut h, Key::K);
    h.get_by_label("K now means “Skip”");
    // A class key can be moved too, but not onto a command's key.
    h.get_by_label("4").click();
    h.step();
    press(&mut h, Key::G);
    h.get_by_label("Refused: G is already bound to “Grid”");
    h.get_by_label("4").click();
    h.step();
    // O is "no objects" in a detect project (the key map is the same in every project).
    press(&mut h, Key::O);
    h.get_by_label("Refused: O is already bound to “Boxes: no objects”");
    h.get_by_label("4").click();
    h.step();
    press(&mut h, Key::J);
    h.get_by_label("J now labels “other”");
    press(&mut h, Key::Escape);
    assert!(h.query_by_label("Key bindings").is_none());

    let a = current(&h);
    press(&mut h, Key::S);
    assert_eq!(current(&h), a, "S no longer skips");
    press(&mut h, Key::K);
    let b = current(&h);
    press(&mut h, Key::J);
    let project = Project::open(&path).unwrap();
    assert_eq!(project.sample_status(a).unwrap(), SampleStatus::Skipped);
    assert_eq!(
        project.decision_of(b, ANNOTATOR).unwrap().unwrap().labels,
        vec![class_id(&path, "other")]
    );
    assert_eq!(
        project
            .class_by_name("other")
            .unwrap()
            .unwrap()
            .key
            .as_deref(),
        Some("J")
    );
    let saved = std::fs::read_to_string(&settings).unwrap();
    let json: serde_json::Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(json["keymap"]["skip"], serde_json::json!(["K"]));
}

/// A project of `n` short text rows (no images: quick to make in the thousands).
fn many_rows(dir: &Path, n: usize) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("rows.keylabel");
    let classes: Vec<String> = ["spam", "ham"].map(String::from).into();
    let mut project = Project::create(&path, &classes, TaskKind::SingleLabel).unwrap();
    let batch: Vec<NewSample> = (0..n)
        .map(|i| crate::common::text_row("rows.csv", i + 1, &format!("message number {i}"), None))
        .collect();
    project.insert_samples(&batch).unwrap();
    path
}

/// Grid: `G`, `Ctrl+A`, then a class key labels every selected sample, one event each.
fn grid_select_all_and_label(h: &mut Harness<'_, App>, n: usize) {
    press(h, Key::G);
    assert_eq!(h.state().view_kind(), Some(ViewKind::Grid));
    wait_until(h, "the grid count", |a| {
        a.project()
            .map(|p| &p.grid)
            .is_some_and(|g| g.count() == Some(n as u64))
    });
    press_mod(h, Modifiers::COMMAND, Key::A);
    wait_until(h, "everything selected", |a| {
        a.project()
            .map(|p| &p.grid)
            .is_some_and(|g| g.selected().len() == n)
    });
    press(h, Key::Num2);
}

#[test]
fn grid_bulk_labels_a_small_selection_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = many_rows(dir.path(), 30);
    let mut h = open(&path, None);
    grid_select_all_and_label(&mut h, 30);
    assert!(
        h.state().project().unwrap().bulk.is_none(),
        "a small selection is written at once"
    );
    // Outside blind mode the grid filters by annotator.
    h.get_by_label("Annotator");
    let project = Project::open(&path).unwrap();
    let status = project.status().unwrap();
    assert_eq!(status.labeled, 30);
    assert_eq!(project.history(None).unwrap().len(), 30, "one event each");
    assert_eq!(h.state().session().unwrap().counts.done, 30);
    h.get_by_label_contains("Labeled 30 samples");
}

#[test]
fn grid_bulk_labels_a_large_selection_in_the_background() {
    let n = keylabel::app::BULK_IN_BACKGROUND * 2 + 17;
    let dir = tempfile::tempdir().unwrap();
    let path = many_rows(dir.path(), n);
    let mut h = open(&path, None);
    grid_select_all_and_label(&mut h, n);
    wait_until(&mut h, "the bulk label", |a| {
        a.project().is_some_and(|p| p.bulk.is_none())
    });
    let project = Project::open(&path).unwrap();
    let status = project.status().unwrap();
    assert_eq!(status.labeled, n as u64);
    let ham = class_id(&path, "ham");
    assert_eq!(
        status
            .classes
            .iter()
            .find(|c| c.name == "ham")
            .unwrap()
            .count,
        n as u64
    );
    let history = project.history(None).unwrap();
    assert_eq!(history.len(), n, "one event each");
    assert!(
        history
            .iter()
            .all(|e| e.label_ids == vec![ham] && e.annotator == ANNOTATOR)
    );
    project.integrity_check().unwrap();
    // The window caught up: its counts, the grid and the message.
    assert_eq!(h.state().session().unwrap().counts.done, n as u64);
    h.get_by_label_contains(&format!("Labeled {n} samples"));
    // Undo still takes back one decision at a time.
    press_mod(&mut h, Modifiers::COMMAND, Key::Z);
    let project = Project::open(&path).unwrap();
    assert_eq!(project.status().unwrap().labeled, n as u64 - 1);
}

#[test]
fn blind_mode_shows_only_the_annotators_own_labels() {
    let dir = tempfile::tempdir().unwrap();
    let path = many_rows(dir.path(), 4);
    let (spam, ham) = (class_id(&path, "spam"), class_id(&path, "ham"));
    let ids = {
        let mut p = Project::open(&path).unwrap();
        let mut settings = p.settings().unwrap();
        settings.blind = Some(true);
        p.set_settings(&settings).unwrap();
        let ids = p.sample_ids(&SampleQuery::default(), 0, 10).unwrap();
        // Another annotator labeled two samples.
        for &id in &ids[..2] {
            p.record(NewEvent::label(id, "bob", vec![spam])).unwrap();
        }
        ids
    };
    let mut h = open(&path, None);
    let own = |h: &Harness<'_, App>, c: ClassId| {
        let counts = &h.state().session().unwrap().counts;
        counts.per_class.get(&c).copied().unwrap_or(0)
    };
    assert_eq!(
        own(&h, spam),
        0,
        "bob's labels are not counted in the class bar"
    );

    // The grid neither colours nor filters by bob's labels.
    press(&mut h, Key::G);
    let count_with = |h: &mut Harness<'_, App>, filter: GridFilter| {
        h.state_mut().project_mut().unwrap().grid.set_filter(filter);
        wait_until(h, "the grid count", |a| {
            a.project()
                .map(|p| &p.grid)
                .is_some_and(|g| g.count().is_some())
        });
        h.state().project().unwrap().grid.count().unwrap()
    };
    let spam_filter = GridFilter {
        class: Some(spam),
        ..GridFilter::default()
    };
    assert_eq!(count_with(&mut h, spam_filter.clone()), 0);
    let unlabeled = GridFilter {
        status: StatusFilter::Unlabeled,
        ..GridFilter::default()
    };
    assert_eq!(count_with(&mut h, unlabeled), 4);
    // Nor does it tell which samples bob decided.
    assert!(h.query_by_label("Annotator").is_none());
    let bobs = GridFilter {
        annotator: "bob".into(),
        ..GridFilter::default()
    };
    assert_eq!(count_with(&mut h, bobs), 0);
    let project = Project::open(&path).unwrap();
    let mine = SampleQuery {
        own_view: Some(ANNOTATOR.into()),
        ..SampleQuery::default()
    };
    let cells = project.sample_summaries(&mine, 0, 10).unwrap();
    assert!(
        cells
            .iter()
            .all(|c| c.classes.is_empty() && c.status == SampleStatus::Unlabeled),
        "{cells:?}"
    );

    // Labeling in the grid counts the annotator's own label.
    h.state_mut()
        .project_mut()
        .unwrap()
        .grid
        .set_filter(GridFilter::default());
    press(&mut h, Key::G);
    grid_select_all_and_label(&mut h, 4);
    assert_eq!(own(&h, ham), 4);
    assert_eq!(own(&h, spam), 0);
    let cells = project.sample_summaries(&mine, 0, 10).unwrap();
    assert!(cells.iter().all(|c| c.classes == vec![ham]), "{cells:?}");
    // Without blind mode the same samples show every current label.
    let all = project
        .sample_summaries(&SampleQuery::default(), 0, 10)
        .unwrap();
    assert_eq!(all[0].id, ids[0]);
    assert_eq!(all[0].classes, {
        let mut c = vec![spam, ham];
        c.sort_unstable();
        c
    });
    assert_eq!(count_with(&mut h, spam_filter), 0);
}

#[test]
fn buttons_do_what_keys_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = image_project(dir.path(), TaskKind::SingleLabel, 3, false);
    let mut h = open(&path, None);
    let a = current(&h);
    h.get_by_label_contains("bird").click();
    h.step();
    h.step();
    let b = current(&h);
    assert_ne!(a, b);
    h.get_by_label("Skip  S").click();
    h.step();
    h.step();
    let project = Project::open(&path).unwrap();
    assert_eq!(
        project.decision_of(a, ANNOTATOR).unwrap().unwrap().labels,
        vec![class_id(&path, "bird")]
    );
    assert_eq!(project.sample_status(b).unwrap(), SampleStatus::Skipped);
    h.get_by_label("Undo  Ctrl+Z").click();
    h.step();
    h.step();
    assert_eq!(current(&h), b);
}

/// With overlap 1, samples someone else labeled are not offered: the window says that
/// there is nothing left for this annotator, not that they decided everything.
#[test]
fn nothing_left_because_others_labeled_it_is_not_called_every_sample_decided() {
    let dir = tempfile::tempdir().unwrap();
    let path = text_project(dir.path());
    let positive = class_id(&path, "positive");
    {
        let mut p = Project::open(&path).unwrap();
        let ids = p.sample_ids(&Default::default(), 0, 10).unwrap();
        for id in ids {
            p.record(NewEvent::label(id, "someone else", vec![positive]))
                .unwrap();
        }
    }
    let h = open(&path, None);
    h.get_by_label_contains("Nothing left for you");
    assert!(
        h.query_by_label_contains("Every sample is decided")
            .is_none()
    );
    h.get_by_label_contains("0 / 2 decided");
}

#[test]
fn a_broken_image_shows_the_reason_and_can_be_excluded() {
    let dir = tempfile::tempdir().unwrap();
    let path = image_project(dir.path(), TaskKind::SingleLabel, 1, true);
    let mut h = open(&path, None);
    press(&mut h, Key::Num1);
    wait_until(&mut h, "the broken image to fail", App::current_image_ready);
    h.get_by_label("This image cannot be shown");
    h.get_by_label_contains("cannot decode");
    let broken = current(&h);
    press(&mut h, Key::X);
    press(&mut h, Key::Enter);
    let project = Project::open(&path).unwrap();
    assert_eq!(
        project.sample_status(broken).unwrap(),
        SampleStatus::Excluded
    );
    let note = project
        .history(Some(broken))
        .unwrap()
        .into_iter()
        .find(|e| e.kind == EventKind::Exclude)
        .and_then(|e| e.note);
    assert_eq!(note.as_deref(), Some("unreadable"));
    h.get_by_label_contains("Every sample is decided");
}

#[test]
fn cheat_sheet_lists_every_binding() {
    let dir = tempfile::tempdir().unwrap();
    let path = image_project(dir.path(), TaskKind::SingleLabel, 2, false);
    let mut h = open(&path, None);
    press_mod(&mut h, Modifiers::SHIFT, Key::Questionmark);
    h.get_by_label("Keyboard shortcuts");
    h.get_by_label("Label “cat”");
    h.get_by_label("Ctrl+Z or Backspace");
    h.get_by_label("? or F1");
    // While it is open, class keys do not label.
    let a = current(&h);
    press(&mut h, Key::Num1);
    assert_eq!(current(&h), a);
    press(&mut h, Key::Escape);
    assert!(h.query_by_label("Keyboard shortcuts").is_none());
    press(&mut h, Key::F1);
    h.get_by_label("Keyboard shortcuts");
    h.snapshot("cheat_sheet");
}

#[test]
fn start_screen_offers_new_open_and_demo() {
    let mut h = harness(App::new(None, ANNOTATOR.into()));
    h.run();
    h.get_by_label("New project");
    h.get_by_label("Open project…");
    h.get_by_label("Try the demo");
    h.get_by_label("None yet");
    h.get_by_label("New project").click();
    h.run();
    h.get_by_label("Create project");
    h.get_by_label("Single-label");
    h.get_by_label("Multi-label");
    // Creating without classes is refused in place.
    h.get_by_label("Create project").click();
    h.run();
    h.get_by_label_contains("type at least one class");
    h.snapshot("start_screen");
}

/// On a desktop without a file-dialog service every path can be typed: the project to
/// open, the samples and the project file of a new one, each checked as it is typed.
#[test]
fn paths_are_typed_checked_and_completed_without_a_file_dialog() {
    let dir = tempfile::tempdir().unwrap();
    let existing = image_project(dir.path(), TaskKind::SingleLabel, 2, false);
    let mut h = harness(App::new(None, ANNOTATOR.into()));
    h.run();
    h.get_by_label("Open project…").click();
    h.run();
    // A partial path: said not to exist, and the folder's entries that continue it are
    // offered; one click takes it.
    let partial = dir.path().join("anim");
    type_into(&mut h, "Project to open", &partial.display().to_string());
    h.get_by_label_contains("does not exist");
    h.get_by_label("animals.keylabel").click();
    h.run();
    h.get_by_label_contains("file of");
    h.get_by_label("Open").click();
    wait_until(&mut h, "the typed project to open", |a| {
        a.session().is_some()
    });
    assert_eq!(
        h.state().session().unwrap().project.path(),
        existing.as_path()
    );

    // A new project from a typed folder of images: the project file is suggested beside it.
    press_mod(&mut h, Modifiers::COMMAND, Key::W);
    h.get_by_label("New project").click();
    h.run();
    let images = dir.path().join("images");
    type_into(&mut h, "Samples", &images.display().to_string());
    h.get_by_label_contains("folder with 2 entries");
    let suggested = images.join("images.keylabel");
    assert_eq!(
        h.get_by_label("Project file").value().as_deref(),
        Some(suggested.display().to_string().as_str())
    );
    type_into(&mut h, "Classes", "cat, dog");
    h.get_by_label("Create project").click();
    wait_until(&mut h, "the new project to open", |a| a.session().is_some());
    assert_eq!(
        Project::open(&suggested).unwrap().sample_count().unwrap(),
        2
    );
}

#[test]
fn a_detect_project_from_the_start_screen_opens_in_the_drawing_view() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("street");
    std::fs::create_dir(&images).unwrap();
    for i in 0..2 {
        write_image(&images.join(format!("frame {i}.png")), 96, 64, i);
    }
    let mut h = harness(App::new(None, ANNOTATOR.into()));
    h.run();
    h.get_by_label("New project").click();
    h.run();
    type_into(&mut h, "Samples", &images.display().to_string());
    type_into(&mut h, "Classes", "car, person");
    h.get_by_label("Boxes (detection)").click();
    h.run();
    h.get_by_label("Create project").click();
    wait_until(&mut h, "the new project's first image", |a| {
        a.session().is_some_and(|s| s.current.is_some())
    });
    let project = Project::open(&images.join("street.keylabel")).unwrap();
    assert_eq!(project.task(), TaskKind::Detect);
    assert_eq!(project.sample_count().unwrap(), 2);
    assert_eq!(
        h.state().project().unwrap().view_kind(),
        keylabel::app::ViewKind::Draw
    );
    h.run();
    h.get_by_label_contains("Class key, then drag");
}

#[test]
fn new_project_from_the_start_screen_is_created_and_opened() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fresh.keylabel");
    let mut h = harness(App::new(None, ANNOTATOR.into()));
    h.run();
    h.get_by_label("New project").click();
    h.run();
    type_into(&mut h, "Project file", &file.display().to_string());
    type_into(&mut h, "Classes", "cat, dog");
    h.get_by_label("Multi-label").click();
    h.run();

    h.get_by_label("Create project").click();
    wait_until(&mut h, "the new project to open", |a| a.session().is_some());
    let project = Project::open(&file).unwrap();
    let names: Vec<String> = project
        .classes()
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["cat", "dog"]);
    assert_eq!(project.task(), TaskKind::MultiLabel);
    h.get_by_label("This project has no samples yet");
    assert!(
        h.query_by_label_contains("Every sample is decided")
            .is_none(),
        "an empty project is not a finished one"
    );

    // The empty project is no dead end: import into it, and edit its classes.
    let images = dir.path().join("later");
    std::fs::create_dir(&images).unwrap();
    for i in 0..3 {
        write_image(&images.join(format!("pic {i}.png")), 64, 48, i);
    }
    h.get_by_label_contains("Import samples…").click();
    h.run();
    // Import with nothing typed says what is missing, until a path is typed.
    h.get_by_label("Import").click();
    h.run();
    h.get_by_label("Samples: type or paste a path");
    type_into(&mut h, "Samples to add", &images.display().to_string());
    assert!(h.query_by_label("Samples: type or paste a path").is_none());
    h.get_by_label("Import").click();
    wait_until(&mut h, "the import", |a| {
        a.project().is_some_and(|p| p.import.is_none())
            && a.session().is_some_and(|s| s.current.is_some())
    });
    h.get_by_label_contains("Imported 3 samples");
    assert_eq!(Project::open(&file).unwrap().sample_count().unwrap(), 3);
    assert_eq!(h.state().session().unwrap().counts.total, 3);
    type_into(&mut h, "New class", "bird");
    h.get_by_label("Add class").click();
    h.run();
    h.get_by_label_contains("Added “bird” (key 3)");
    h.get_by_label("Archive “dog”").click();
    h.run();
    let classes: Vec<String> = Project::open(&file)
        .unwrap()
        .active_classes()
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(classes, ["cat", "bird"]);
    let names: Vec<String> = h
        .state()
        .session()
        .unwrap()
        .classes
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(names, ["cat", "bird"], "the class bar follows");
    h.get_by_label("Close (Esc)").click();
    h.run();
    assert!(matches!(h.state().overlay, keylabel::app::Overlay::None));
}

#[test]
fn image_view_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = image_project(dir.path(), TaskKind::SingleLabel, 3, false);
    let mut h = open(&path, None);
    h.run();
    h.snapshot("labeling_image");
    press(&mut h, Key::I);
    h.get_by_label("320 × 240 px");
    h.get_by_label("png");
}

#[test]
fn text_sample_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = text_project(dir.path());
    let mut h = open(&path, None);
    h.get_by_label_contains("The battery lasts two full days");
    h.get_by_label("phone X2");
    h.run();
    h.snapshot("labeling_text");
    press(&mut h, Key::Num1);
    h.get_by_label("Arrived broken, and support never answered.");
    let project = Project::open(&path).unwrap();
    let first = project.sample_by_name("reviews.csv#1").unwrap().unwrap().id;
    assert_eq!(
        project
            .decision_of(first, ANNOTATOR)
            .unwrap()
            .unwrap()
            .labels,
        vec![class_id(&path, "positive")]
    );
}

/// Labeled samples in the project file.
fn labeled(path: &Path) -> u64 {
    Project::open(path).unwrap().status().unwrap().labeled
}

#[test]
fn closing_a_project_during_a_bulk_label_leaves_the_next_project_untouched() {
    let n = keylabel::app::BULK_IN_BACKGROUND * 2 + 17;
    let dir = tempfile::tempdir().unwrap();
    let first = many_rows(&dir.path().join("first"), n);
    let second = many_rows(&dir.path().join("second"), 40);
    let mut h = open(&first, None);
    grid_select_all_and_label(&mut h, n);
    assert!(
        h.state().project().unwrap().bulk.is_some(),
        "the selection is labeled in the background"
    );
    press_mod(&mut h, Modifiers::COMMAND, Key::W);
    assert!(h.state().session().is_none(), "Ctrl+W closes the project");
    h.get_by_label_contains("stopped when the project closed");
    h.state_mut().open_project(&second);
    wait_until(&mut h, "the second project", |a| a.session().is_some());
    // Wait until the first project's job has stopped writing.
    let mut last = labeled(&first);
    loop {
        std::thread::sleep(std::time::Duration::from_millis(300));
        h.step();
        let now = labeled(&first);
        if now == last {
            break;
        }
        last = now;
    }
    // It stopped between whole chunks, in its own project.
    assert_eq!(last % keylabel::app::BULK_IN_BACKGROUND as u64, 0, "{last}");
    assert!(last < n as u64, "the job was cancelled ({last} of {n})");
    // The second project: no label in its file, none counted in the window.
    assert_eq!(labeled(&second), 0);
    for _ in 0..5 {
        h.step();
    }
    let session = h.state().session().unwrap();
    assert_eq!(session.project.path(), second.as_path());
    assert_eq!(session.counts.done, 0);
    assert!(session.counts.per_class.values().all(|&c| c == 0));
}
