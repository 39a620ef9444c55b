//! The review view, the export view and the history panel, driven through `egui_kittest`
//! on the real `App` with a real project file in a temporary folder.

use crate::common::window::{current, harness, press, press_mod, review_ready, wait_until};

use std::path::{Path, PathBuf};

use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use keylabel::app::export_view::Outcome;
use keylabel::app::{App, ViewKind};
use keylabel::project::{ClassId, EventKind, NewEvent, NewSample, SampleId};
use keylabel::{Project, TaskKind};

const REVIEWER: &str = "rev";

const TEXTS: [&str; 4] = [
    "The battery lasts two full days; the screen is bright even in sunlight.",
    "Arrived broken, and support never answered.",
    "It is a phone. It makes calls.",
    "Works as described, nothing more to say.",
];

/// A text project of four reviews; returns its path, the sample ids and the class ids
/// (positive, negative, neutral).
fn project(dir: &Path) -> (PathBuf, Vec<SampleId>, Vec<ClassId>) {
    let path = dir.join("reviews.keylabel");
    let classes: Vec<String> = ["positive", "negative", "neutral"].map(String::from).into();
    let mut project = Project::create(&path, &classes, TaskKind::SingleLabel).unwrap();
    let batch: Vec<NewSample> = TEXTS
        .iter()
        .enumerate()
        .map(|(i, t)| crate::common::text_row("reviews.csv", i + 1, t, None))
        .collect();
    project.insert_samples(&batch).unwrap();
    let ids = project
        .sample_ids(&Default::default(), 0, 100)
        .unwrap()
        .into_iter()
        .collect::<Vec<_>>();
    let class_ids = ["positive", "negative", "neutral"]
        .map(|n| project.class_by_name(n).unwrap().unwrap().id)
        .to_vec();
    (path, ids, class_ids)
}

fn label(path: &Path, sample: SampleId, who: &str, class: ClassId, ms: u64) {
    let mut p = Project::open(path).unwrap();
    p.record(NewEvent::label(sample, who, vec![class]).with_spent_ms(ms))
        .unwrap();
}

fn open(path: &Path, who: &str) -> Harness<'static, App> {
    let mut app = App::new(None, who.into());
    app.open_project(path);
    let mut h = harness(app);
    wait_until(&mut h, "the project to open", |a| a.session().is_some());
    h
}

/// Alice and bob disagree on samples 0, 1 and 2; both say positive on sample 3.
fn disagreeing(dir: &Path) -> (PathBuf, Vec<SampleId>, Vec<ClassId>) {
    let (path, s, c) = project(dir);
    for (i, (a, b)) in [(0, 1), (1, 2), (0, 2)].into_iter().enumerate() {
        label(&path, s[i], "alice", c[a], 1200);
        label(&path, s[i], "bob", c[b], 2400);
    }
    label(&path, s[3], "alice", c[0], 900);
    label(&path, s[3], "bob", c[0], 800);
    (path, s, c)
}

/// A toast (here the review decision's) sits above the view's bottom panels: it covers
/// none of the review row's buttons, nor, in the labeling view, the class bar.
#[test]
fn toasts_cover_no_button() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = disagreeing(dir.path());
    let mut h = open(&path, REVIEWER);
    press(&mut h, Key::R);
    review_ready(&mut h);
    press_mod(&mut h, Modifiers::SHIFT, Key::Num2);
    h.step();
    let toast = h.get_by_label_contains("accepted the label of bob").rect();
    for button in [
        "Send back (B)",
        "Accept alice (Shift+1)",
        "Accept bob (Shift+2)",
    ] {
        let b = h.get_by_label(button).rect();
        assert!(
            !toast.intersects(b),
            "the toast {toast:?} covers `{button}` {b:?}"
        );
    }
    // Back to labeling: a toast stays above the class bar.
    press(&mut h, Key::R);
    h.state_mut().info("A message of the labeling view");
    h.step();
    h.step();
    let toast = h.get_by_label("A message of the labeling view").rect();
    for class in ["positive", "negative", "neutral"] {
        let b = h.get_by_label_contains(class).rect();
        assert!(
            !toast.intersects(b),
            "the toast {toast:?} covers `{class}` {b:?}"
        );
    }
}

#[test]
fn review_view_accepts_sets_and_sends_back_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let (path, s, c) = disagreeing(dir.path());
    let mut h = open(&path, REVIEWER);

    press(&mut h, Key::R);
    review_ready(&mut h);
    let view = h
        .state()
        .project()
        .unwrap()
        .review()
        .expect("R opens the review view");
    assert_eq!(view.items.len(), 3, "the three disagreements are queued");
    assert_eq!(current(&h), s[0], "the first disagreement is shown");
    // Both annotators side by side, with their accept keys, and the statistics table.
    h.get_by_label_contains("Accept alice");
    h.get_by_label_contains("Accept bob");
    h.get_by_label_contains("3 in the queue");
    h.get_by_label("Most confused (given > final)");

    // Shift+2 accepts bob's label (annotators are listed by name).
    press_mod(&mut h, Modifiers::SHIFT, Key::Num2);
    {
        let p = Project::open(&path).unwrap();
        let review: Vec<_> = p
            .history(Some(s[0]))
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == EventKind::Review)
            .collect();
        assert_eq!(review.len(), 1);
        assert_eq!(review[0].annotator, REVIEWER, "the reviewer is recorded");
        assert_eq!(review[0].label_ids, vec![c[1]], "bob's label is final");
        assert_eq!(
            p.review_decision(s[0]).unwrap().map(|r| r.0),
            Some(vec![c[1]])
        );
        p.integrity_check().unwrap();
    }
    assert_eq!(current(&h), s[1], "the next item is shown");
    h.get_by_label_contains("2 in the queue");

    // A class key sets another label: neutral, which neither annotator gave.
    press(&mut h, Key::Num3);
    {
        let p = Project::open(&path).unwrap();
        assert_eq!(
            p.review_decision(s[1]).unwrap().map(|r| r.0),
            Some(vec![c[2]])
        );
    }
    assert_eq!(current(&h), s[2]);

    // B sends the last one back to the annotators.
    press(&mut h, Key::B);
    {
        let p = Project::open(&path).unwrap();
        let back: Vec<_> = p
            .history(Some(s[2]))
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == EventKind::SendBack)
            .collect();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].annotator, REVIEWER);
        assert!(
            p.decisions(s[2]).unwrap().iter().all(
                |d| d.labels.is_empty() || d.status != keylabel::project::SampleStatus::Labeled
            )
        );
        p.integrity_check().unwrap();
    }
    assert!(
        h.state()
            .project()
            .unwrap()
            .review()
            .unwrap()
            .items
            .is_empty()
    );
    h.get_by_label_contains("Nothing to review");

    // D lists the decided samples, each with its verdict, to revisit.
    let listed = |h: &Harness<'_, App>| -> Vec<SampleId> {
        let view = h.state().project().unwrap().review().unwrap();
        view.items.iter().map(|i| i.sample).collect()
    };
    press(&mut h, Key::D);
    review_ready(&mut h);
    assert_eq!(listed(&h), vec![s[0], s[1], s[2]]);
    assert_eq!(current(&h), s[0]);
    h.get_by_label_contains("3 decided before");
    h.get_by_label(&format!("Decided by {REVIEWER}: negative"));
    press(&mut h, Key::ArrowRight);
    h.get_by_label(&format!("Decided by {REVIEWER}: neutral"));
    press(&mut h, Key::ArrowRight);
    h.get_by_label(&format!("Sent back by {REVIEWER}"));
    h.get_by_label("No annotator has labeled it since");
    // Revisiting s0: accepting alice's label instead replaces the verdict, and the sample
    // stays in the list with it.
    press(&mut h, Key::ArrowLeft);
    press(&mut h, Key::ArrowLeft);
    press_mod(&mut h, Modifiers::SHIFT, Key::Num1);
    assert_eq!(current(&h), s[0]);
    assert_eq!(listed(&h), vec![s[0], s[1], s[2]]);
    h.get_by_label(&format!("Decided by {REVIEWER}: positive"));
    assert_eq!(
        Project::open(&path).unwrap().review_decision(s[0]).unwrap(),
        Some((vec![c[0]], REVIEWER.to_string()))
    );
    // Undo takes the revision back: bob's label is final again.
    press_mod(&mut h, Modifiers::COMMAND, Key::Z);
    review_ready(&mut h);
    h.get_by_label(&format!("Decided by {REVIEWER}: negative"));
    // D again: back to the (empty) queue.
    press(&mut h, Key::D);
    review_ready(&mut h);
    h.get_by_label_contains("Nothing to review");

    // R again goes back to labeling.
    press(&mut h, Key::R);
    assert!(h.state().project().unwrap().review().is_none());
}

#[test]
fn history_panel_lists_every_event_of_the_current_sample() {
    let dir = tempfile::tempdir().unwrap();
    let (path, s, _c) = disagreeing(dir.path());
    let mut h = open(&path, REVIEWER);
    press(&mut h, Key::R);
    review_ready(&mut h);
    assert_eq!(current(&h), s[0]);
    press(&mut h, Key::H);
    assert!(
        h.state().project().unwrap().history.is_some(),
        "H opens the history panel"
    );
    h.get_by_label("label: positive");
    h.get_by_label("label: negative");
    h.get_by_label_contains("alice ·");
    h.get_by_label_contains("bob ·");
    // After a decision the panel follows the next item of the queue.
    press_mod(&mut h, Modifiers::SHIFT, Key::Num1);
    press(&mut h, Key::ArrowLeft);
    assert_eq!(current(&h), s[1]);
    h.get_by_label("label: negative");
    h.get_by_label("label: neutral");
    press(&mut h, Key::R);
    press(&mut h, Key::H);
    assert!(
        h.state().project().unwrap().history.is_none(),
        "H closes it again"
    );
    let p = Project::open(&path).unwrap();
    let events = p.history(Some(s[0])).unwrap();
    assert_eq!(events.len(), 3, "two labels and one review: {events:?}");
}

#[test]
fn a_finding_opens_its_samples_in_the_grid() {
    let dir = tempfile::tempdir().unwrap();
    let (path, s, c) = project(dir.path());
    // Two of the four samples labeled: the other two are UNLABELED_SAMPLES.
    label(&path, s[0], "alice", c[0], 1000);
    label(&path, s[2], "alice", c[1], 1000);
    let mut h = open(&path, REVIEWER);
    press(&mut h, Key::E);
    wait_until(&mut h, "the validation", |a| {
        a.project()
            .and_then(|p| p.export())
            .is_some_and(|e| e.check.is_none())
    });
    h.get_by_label("Show the UNLABELED_SAMPLES samples in the grid")
        .click();
    h.run();
    assert!(
        h.state().project().unwrap().export().is_none(),
        "the export view gave way to the grid"
    );
    assert_eq!(h.state().view_kind(), Some(ViewKind::Grid));
    wait_until(&mut h, "the grid count", |a| {
        a.project()
            .map(|p| &p.grid)
            .is_some_and(|g| g.count().is_some())
    });
    let grid = &h.state().project().unwrap().grid;
    assert_eq!(grid.count(), Some(2));
    assert_eq!(
        grid.filter()
            .finding
            .as_ref()
            .map(|(code, names)| (code.as_str(), names.clone())),
        Some((
            "UNLABELED_SAMPLES",
            vec!["reviews.csv#2".to_string(), "reviews.csv#4".to_string()]
        ))
    );
    // The chip clears the filter: every sample again.
    h.get_by_label_contains("UNLABELED_SAMPLES (2)").click();
    h.run();
    wait_until(&mut h, "the grid count", |a| {
        a.project()
            .map(|p| &p.grid)
            .is_some_and(|g| g.count() == Some(4))
    });
    assert!(h.state().project().unwrap().grid.filter().finding.is_none());
}

#[test]
fn export_view_validates_charts_and_exports_with_progress() {
    let dir = tempfile::tempdir().unwrap();
    let (path, s, c) = project(dir.path());
    for (i, &sample) in s.iter().enumerate() {
        label(&path, sample, "alice", c[i % 2], 1000);
    }
    let mut h = open(&path, REVIEWER);
    press(&mut h, Key::E);
    assert!(
        h.state().project().unwrap().export().is_some(),
        "E opens the export view"
    );
    wait_until(&mut h, "the validation", |a| {
        a.project()
            .and_then(|p| p.export())
            .is_some_and(|e| e.check.is_none())
    });
    {
        let view = h.state().project().unwrap().export().unwrap();
        let check = view.checked.as_ref().unwrap().as_ref().unwrap();
        assert!(check.report.ok, "{:?}", check.report);
        let total: u64 = check.counts.iter().flatten().sum();
        assert_eq!(total, 4, "every final label lands in one split");
        assert_eq!(check.splits, vec!["train", "eval"]);
    }
    h.get_by_label("Final labels per split");

    let out = dir.path().join("dataset out");
    h.get_by_label("Output folder").focus();
    h.run();
    h.get_by_label("Output folder")
        .type_text(&format!("{}", out.display()));
    h.run();
    // The field held the default folder; keep only what was typed.
    set_export_folder(&mut h, &out);
    // TFRecord (the default) offers shards; JSON Lines does not.
    h.get_by_label("Files per split");
    h.get_by_label("JSONL").click();
    h.run();
    assert!(h.query_by_label("Files per split").is_none());
    h.get_by_label("Export dataset").click();
    // `step`, not `run`: the running export asks for frames until it is done.
    h.step();
    wait_until(&mut h, "the export", |a| {
        a.project()
            .and_then(|p| p.export())
            .is_some_and(|e| e.outcome.is_some())
    });
    match h
        .state()
        .project()
        .unwrap()
        .export()
        .unwrap()
        .outcome
        .as_ref()
        .unwrap()
    {
        Outcome::Done(summary) => {
            assert_eq!(summary.out, out);
            let n: u64 = summary.splits.values().map(|s| s.count).sum();
            assert_eq!(n, 4);
        }
        Outcome::Invalid(r) => panic!("validation failed: {r:?}"),
        Outcome::Cancelled => panic!("cancelled"),
        Outcome::Failed(e) => panic!("{e}"),
    }
    assert!(out.join("manifest.json").is_file());
    assert!(out.join("schema.pbtxt").is_file());
    h.get_by_label_contains("Exported to");
    Project::open(&path).unwrap().integrity_check().unwrap();

    // Labeling keys do nothing here; E goes back.
    let before = current(&h);
    press(&mut h, Key::Num2);
    assert_eq!(current(&h), before);
    assert!(
        Project::open(&path)
            .unwrap()
            .decision_of(before, REVIEWER)
            .unwrap()
            .is_none()
    );
    press(&mut h, Key::E);
    assert!(h.state().project().unwrap().export().is_none());
}

#[test]
fn an_export_over_an_invalid_project_writes_nothing_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (path, s, c) = disagreeing(dir.path());
    let _ = (s, c);
    let mut h = open(&path, REVIEWER);
    press(&mut h, Key::E);
    wait_until(&mut h, "the validation", |a| {
        a.project()
            .and_then(|p| p.export())
            .is_some_and(|e| e.check.is_none())
    });
    h.get_by_label("UNRESOLVED_DISAGREEMENTS");
    let out = dir.path().join("never");
    set_export_folder(&mut h, &out);
    h.run();
    let browse = h.get_by_label("Browse…").rect();
    h.get_by_label("Export dataset").click();
    // `step`, not `run`: the running export asks for frames until it is done.
    h.step();
    wait_until(&mut h, "the export", |a| {
        a.project()
            .and_then(|p| p.export())
            .is_some_and(|e| e.outcome.is_some())
    });
    assert!(matches!(
        h.state().project().unwrap().export().unwrap().outcome,
        Some(Outcome::Invalid(_))
    ));
    assert!(!out.exists());
    h.get_by_label_contains("nothing was written");
    // The message below the options does not widen their panel.
    h.run();
    assert_eq!(h.get_by_label("Browse…").rect(), browse);
}

/// Sets the export view's output folder, as typing the whole path would.
fn set_export_folder(h: &mut Harness<'_, App>, out: &Path) {
    h.state_mut()
        .project_mut()
        .unwrap()
        .export_mut()
        .unwrap()
        .out
        .text = out.display().to_string();
}

/// Every event in the project file (withdrawn ones too).
fn event_count(path: &Path) -> usize {
    Project::open(path).unwrap().history(None).unwrap().len()
}

/// In each view, every key bound only to commands the view does not take changes nothing:
/// no event is written, the view stays, no dialog opens. Class keys label only where the
/// view takes them.
#[test]
fn each_view_takes_exactly_its_commands() {
    use keylabel::app::commands::{Action, Command};
    use keylabel::app::keymap::Keymap;

    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = disagreeing(dir.path());
    let keymap = Keymap::default();
    let mut h = open(&path, REVIEWER);
    for view in [ViewKind::Grid, ViewKind::Review, ViewKind::Export] {
        let toggle = view.toggle().unwrap();
        press(&mut h, toggle_key(&keymap, toggle));
        assert_eq!(
            h.state().view_kind(),
            Some(view),
            "{toggle:?} opens {view:?}"
        );
        if view == ViewKind::Review {
            review_ready(&mut h);
        }
        let before = event_count(&path);
        let mut tried = 0;
        for cmd in Command::all().filter(|c| !view.takes(*c)) {
            for sc in keymap.shortcuts(cmd) {
                // A key that another command of this view uses belongs to that command
                // here (the arrows move through the grid).
                if let Some(Action::Command(other)) = keymap.action_for(*sc, &[], view)
                    && view.takes(other)
                {
                    continue;
                }
                let mods = Modifiers {
                    ctrl: sc.ctrl,
                    command: sc.ctrl,
                    alt: sc.alt,
                    shift: sc.shift,
                    ..Modifiers::NONE
                };
                press_mod(&mut h, mods, sc.key);
                // The export view is a form: Tab goes from field to field there, as in any
                // form. Elsewhere a key never moves the focus (it would hold every
                // shortcut until it let go).
                let focused = h.ctx.memory(|m| m.focused());
                match (view, focused) {
                    (ViewKind::Export, Some(id)) => h.ctx.memory_mut(|m| m.surrender_focus(id)),
                    _ => assert_eq!(
                        focused, None,
                        "{sc} ({cmd:?}) moved the keyboard focus in {view:?}"
                    ),
                }
                tried += 1;
                assert_eq!(
                    h.state().view_kind(),
                    Some(view),
                    "{sc} ({cmd:?}) left {view:?}"
                );
                assert!(
                    matches!(h.state().overlay, keylabel::app::Overlay::None),
                    "{sc} ({cmd:?}) opened a dialog in {view:?}"
                );
                assert_eq!(
                    event_count(&path),
                    before,
                    "{sc} ({cmd:?}) wrote an event in {view:?}"
                );
            }
        }
        assert!(tried > 10, "{view:?}: only {tried} keys tried");
        // A class key: sets the reviewed label in the review view, does nothing in the
        // export view (and in the grid, with nothing selected, asks for a selection).
        press(&mut h, Key::Num2);
        let after = event_count(&path);
        match view {
            ViewKind::Review => assert_eq!(after, before + 1, "the review decision"),
            _ => assert_eq!(after, before, "a class key in {view:?}"),
        }
        // Back to labeling with the same key.
        press(&mut h, toggle_key(&keymap, toggle));
        assert_eq!(h.state().view_kind(), Some(ViewKind::Label));
    }
}

fn toggle_key(
    keymap: &keylabel::app::keymap::Keymap,
    cmd: keylabel::app::commands::Command,
) -> Key {
    keymap.shortcuts(cmd)[0].key
}

/// Keys pressed while a list is read in place of the one shown (here: the queue of a
/// thousand disagreements, read when D switches back to it) decide nothing: they would
/// decide on a sample that is not shown.
#[test]
fn keys_pressed_while_the_review_list_is_read_decide_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.keylabel");
    let classes: Vec<String> = ["positive", "negative"].map(String::from).into();
    let mut p = Project::create(&path, &classes, TaskKind::SingleLabel).unwrap();
    let rows: Vec<NewSample> = (0..1000)
        .map(|i| crate::common::text_row("many.csv", i + 1, &format!("review {i}"), None))
        .collect();
    p.insert_samples(&rows).unwrap();
    let ids = p.sample_ids(&Default::default(), 0, 1000).unwrap();
    let c: Vec<ClassId> = p.classes().unwrap().iter().map(|c| c.id).collect();
    let labels: Vec<NewEvent> = ids
        .iter()
        .flat_map(|&s| {
            [
                NewEvent::label(s, "alice", vec![c[0]]),
                NewEvent::label(s, "bob", vec![c[1]]),
            ]
        })
        .collect();
    p.record_all(&labels).unwrap();
    drop(p);
    let mut h = open(&path, REVIEWER);
    press(&mut h, Key::R);
    review_ready(&mut h);
    h.get_by_label_contains("1000 in the queue");
    let events = event_count(&path);
    // D to the (empty) decided list, and D back with Shift+2 in the same frame.
    press(&mut h, Key::D);
    review_ready(&mut h);
    h.key_press(Key::D);
    h.key_press_modifiers(Modifiers::SHIFT, Key::Num2);
    h.step();
    let view = h.state().project().unwrap().review().unwrap();
    assert!(view.loading(), "the queue is being read");
    assert!(view.current().is_none(), "no sample to decide on meanwhile");
    assert_eq!(
        h.get_all_by_label_contains("Reading the samples to review")
            .count(),
        2,
        "the view says it, and so does the key's message"
    );
    review_ready(&mut h);
    assert_eq!(event_count(&path), events, "the early key decided nothing");
    assert_eq!(
        current(&h),
        ids[0],
        "the queue's first sample is shown once read"
    );
    h.get_by_label_contains("1000 in the queue");
}

/// The list is read on another thread: a read that was running when the reviewer decided
/// does not bring the decided sample back, while it does bring what others decided
/// meanwhile (a team hub's sync).
#[test]
fn the_review_list_read_in_the_background_never_undoes_a_decision() {
    let dir = tempfile::tempdir().unwrap();
    let (path, s, c) = disagreeing(dir.path());
    let mut h = open(&path, REVIEWER);
    press(&mut h, Key::R);
    review_ready(&mut h);
    assert_eq!(
        current(&h),
        s[0],
        "the first disagreement is shown once read"
    );
    h.get_by_label_contains("3 in the queue");

    // Carol disagrees on sample 3 (as a sync would bring it), the window reads the list
    // again, and the reviewer accepts bob on sample 0 while that read runs.
    label(&path, s[3], "carol", c[1], 700);
    let catch_up = |h: &mut Harness<'_, App>| {
        let project = Project::open_read_only(&path).unwrap();
        h.state_mut()
            .project_mut()
            .unwrap()
            .review_mut()
            .unwrap()
            .catch_up(&project);
    };
    catch_up(&mut h);
    h.key_press_modifiers(Modifiers::SHIFT, Key::Num2);
    h.step();
    review_ready(&mut h);
    assert_eq!(
        Project::open(&path).unwrap().review_decision(s[0]).unwrap(),
        Some((vec![c[1]], REVIEWER.to_string()))
    );
    let listed: Vec<SampleId> = h
        .state()
        .project()
        .unwrap()
        .review()
        .unwrap()
        .items
        .iter()
        .map(|i| i.sample)
        .collect();
    assert_eq!(
        listed,
        vec![s[1], s[2], s[3]],
        "s0 stays decided; s3 came in"
    );
    assert_eq!(
        current(&h),
        s[1],
        "the sample after the decided one stays shown"
    );
    h.get_by_label_contains("3 in the queue");
}

/// `Ctrl+Z` takes it back: the sample returns to the queue and is shown.
#[test]
fn review_decisions_update_the_figures_and_can_be_undone() {
    let dir = tempfile::tempdir().unwrap();
    let (path, s, c) = disagreeing(dir.path());
    let mut h = open(&path, REVIEWER);
    let count = |h: &Harness<'_, App>, class| {
        h.state()
            .session()
            .unwrap()
            .counts
            .per_class
            .get(&class)
            .copied()
            .unwrap_or(0)
    };
    let reviews = |h: &mut Harness<'_, App>| -> u64 {
        review_ready(h);
        let view = h.state().project().unwrap().review().unwrap();
        let figures = view.stats.figures.as_ref().unwrap().as_ref().unwrap();
        figures.iter().map(|a| a.reviews).sum()
    };
    press(&mut h, Key::R);
    // Sample 0: alice said positive, bob negative; both count in the class bar.
    let (positive, negative) = (count(&h, c[0]), count(&h, c[1]));
    assert_eq!(reviews(&mut h), 0);
    press_mod(&mut h, Modifiers::SHIFT, Key::Num2); // accept bob: negative
    assert_eq!(
        count(&h, c[0]),
        positive - 1,
        "positive no longer counted on it"
    );
    assert_eq!(count(&h, c[1]), negative);
    assert_eq!(
        reviews(&mut h),
        1,
        "the annotator table counts the review at once"
    );
    assert_eq!(current(&h), s[1]);

    press_mod(&mut h, Modifiers::COMMAND, Key::Z);
    assert_eq!(current(&h), s[0], "undo shows the sample again");
    review_ready(&mut h);
    let view = h.state().project().unwrap().review().unwrap();
    assert_eq!(view.items.len(), 3, "and it is back in the queue");
    assert_eq!(view.current().map(|i| i.sample), Some(s[0]));
    assert_eq!(count(&h, c[0]), positive);
    assert_eq!(reviews(&mut h), 0);
    let p = Project::open(&path).unwrap();
    assert_eq!(p.review_decision(s[0]).unwrap(), None);
    let history = p.history(Some(s[0])).unwrap();
    assert!(
        history
            .iter()
            .any(|e| e.kind == EventKind::Review && e.undone)
    );
    assert!(history.iter().any(|e| e.kind == EventKind::Undo));
}

/// A table row's other columns are shown in the file's order (not by name), in labeling
/// and beside the text in the review view.
#[test]
fn a_rows_columns_are_shown_in_the_files_order_also_to_the_reviewer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.keylabel");
    std::fs::write(
        dir.path().join("rows.csv"),
        "zeta,text,alpha,mid\nlast col first,Great phone,7,middle\nz2,Broken on arrival,3,m2\n",
    )
    .unwrap();
    let cli = crate::common::cli().project(&path);
    cli.ok(&["init", "--classes", "positive,negative"]);
    cli.ok(&["import", dir.path().join("rows.csv").to_str().unwrap()]);
    {
        let mut p = Project::open(&path).unwrap();
        let c: Vec<ClassId> = p.classes().unwrap().iter().map(|c| c.id).collect();
        let first = p
            .sample_ids(&keylabel::project::SampleQuery::default(), 0, 1)
            .unwrap()[0];
        p.record(NewEvent::label(first, "alice", vec![c[0]]))
            .unwrap();
        p.record(NewEvent::label(first, "bob", vec![c[1]])).unwrap();
    }
    let mut h = open(&path, REVIEWER);
    let order = |h: &Harness<'_, App>| -> Vec<String> {
        let s = h.state().session().unwrap();
        let sample = &s.current.as_ref().unwrap().sample;
        s.columns_of(sample)
            .into_iter()
            .map(|(k, _)| k.to_string())
            .collect()
    };
    // The reviewer labels the second row (the first has its two annotators).
    assert_eq!(order(&h), ["zeta", "alpha", "mid"]);
    h.get_by_label("z2");
    press(&mut h, Key::R);
    assert_eq!(h.state().view_kind(), Some(ViewKind::Review));
    review_ready(&mut h);
    h.get_by_label("Great phone");
    h.get_by_label("last col first");
    h.get_by_label("middle");
}
