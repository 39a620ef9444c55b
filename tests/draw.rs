//! Drawing boxes in the real window (`egui_kittest`): pointer drags and clicks, the box
//! keys, undo and redo, suggestions and EXIF-turned photos, each change checked in the
//! project file.

use std::path::{Path, PathBuf};

use egui::{Event, Key, Modifiers, PointerButton, Pos2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use keylabel::TaskKind;
use keylabel::app::App;
use keylabel::project::{BoundingBox, ClassId, EventKind, NewEvent, Project, SampleId, Source};
use keylabel_testkit::fixtures::image_sample;
use keylabel_testkit::images;
use keylabel_testkit::window::{
    current, harness, press, press_mod, review_ready, until_still, wait_until,
};

const ANNOTATOR: &str = "ann";

/// A detect project (car, person, dog) of the given image files, in that order.
fn project(dir: &Path, files: &[PathBuf]) -> PathBuf {
    let path = dir.join("boxes.keylabel");
    let classes: Vec<String> = ["car", "person", "dog"].map(String::from).into();
    let mut project = Project::create(&path, &classes, TaskKind::Detect).unwrap();
    let batch: Vec<_> = files.iter().map(|f| image_sample(&project, f)).collect();
    project.insert_samples(&batch).unwrap();
    path
}

/// `n` PNGs of 320×240 under `dir/images`.
fn pngs(dir: &Path, n: u32) -> Vec<PathBuf> {
    let images_dir = dir.join("images");
    std::fs::create_dir_all(&images_dir).unwrap();
    (0..n)
        .map(|i| {
            let file = images_dir.join(format!("frame {i:02}.png"));
            images::save(&file, images::pattern(320, 240, i), image::ImageFormat::Png);
            file
        })
        .collect()
}

fn open(path: &Path) -> Harness<'static, App> {
    let mut app = App::new(None, ANNOTATOR.into());
    app.open_project(path);
    let mut h = harness(app);
    wait_until(&mut h, "the project to open", |a| a.session().is_some());
    wait_until(&mut h, "the first image", |a| {
        a.current_image_ready() && a.project().is_some_and(|p| p.image.image_rect.is_some())
    });
    h
}

fn class(path: &Path, name: &str) -> ClassId {
    Project::open(path)
        .unwrap()
        .class_by_name(name)
        .unwrap()
        .unwrap()
        .id
}

/// Where pixel `p` of the image as seen lies on screen.
fn screen(h: &Harness<'_, App>, p: [f32; 2]) -> Pos2 {
    let app = h.state();
    let project = app.project().unwrap();
    // The review view's image, or the drawing view's.
    let (rect, [w, hh]) = match project.review().and_then(|r| r.placed) {
        Some(placed) => (placed.image, placed.turn.upright_size().map(f64::from)),
        None => {
            let editor = project.boxes.as_ref().expect("a detect project");
            (
                project.image.image_rect.expect("the image is drawn"),
                editor.size().expect("the image is under the editor"),
            )
        }
    };
    Pos2::new(
        rect.left() + p[0] / w as f32 * rect.width(),
        rect.top() + p[1] / hh as f32 * rect.height(),
    )
}

fn pointer(h: &mut Harness<'_, App>, event: Event) {
    h.input_mut().events.push(event);
    h.step();
}

fn button(pos: Pos2, pressed: bool) -> Event {
    Event::PointerButton {
        pos,
        button: PointerButton::Primary,
        pressed,
        modifiers: Modifiers::NONE,
    }
}

/// A drag with the primary button from image pixel `from` to `to`, in steps as a hand
/// moves.
fn drag(h: &mut Harness<'_, App>, from: [f32; 2], to: [f32; 2]) {
    let a = screen(h, from);
    let b = screen(h, to);
    pointer(h, Event::PointerMoved(a));
    pointer(h, button(a, true));
    for i in 1..=6 {
        pointer(h, Event::PointerMoved(a + (b - a) * (i as f32 / 6.0)));
    }
    pointer(h, button(b, false));
    h.step();
}

fn click(h: &mut Harness<'_, App>, at: [f32; 2]) {
    let p = screen(h, at);
    pointer(h, Event::PointerMoved(p));
    pointer(h, button(p, true));
    pointer(h, button(p, false));
    h.step();
}

/// The annotator's recorded boxes on `sample` (`None`: undecided).
fn recorded(path: &Path, sample: SampleId) -> Option<Vec<BoundingBox>> {
    Project::open(path)
        .unwrap()
        .decision_of(sample, ANNOTATOR)
        .unwrap()
        .map(|d| d.boxes.expect("a detect decision has boxes"))
}

fn one(path: &Path, sample: SampleId) -> BoundingBox {
    let boxes = recorded(path, sample).expect("decided");
    assert_eq!(boxes.len(), 1, "{boxes:?}");
    boxes[0]
}

/// Asserts that `b` is `[x, y, w, h]` within half a screen pixel's worth of image pixels.
fn near(b: BoundingBox, want: [f64; 4]) {
    let got = [b.x, b.y, b.w, b.h];
    assert!(
        got.iter().zip(want).all(|(g, w)| (g - w).abs() <= 1.0),
        "{got:?} is not {want:?}"
    );
}

#[test]
fn a_box_is_drawn_moved_resized_and_deleted_each_change_saved_and_undoable() {
    let dir = tempfile::tempdir().unwrap();
    let path = project(dir.path(), &pngs(dir.path(), 3));
    let mut h = open(&path);
    let first = current(&h);
    let (car, dog) = (class(&path, "car"), class(&path, "dog"));
    // The first class is armed from the start; 3 picks "dog" for the next boxes.
    press(&mut h, Key::Num3);
    drag(&mut h, [40.0, 30.0], [140.0, 130.0]);
    let b = one(&path, first);
    assert_eq!(b.class, dog);
    near(b, [40.0, 30.0, 100.0, 100.0]);
    assert_eq!(current(&h), first, "drawing stays on the image");
    // The new box is selected: the arrows move it by one pixel, Shift by ten.
    press(&mut h, Key::ArrowRight);
    assert_eq!(one(&path, first).x, b.x + 1.0);
    press_mod(&mut h, Modifiers::SHIFT, Key::ArrowDown);
    assert_eq!(one(&path, first).y, b.y + 10.0);
    // A class key changes the selected box's class.
    press(&mut h, Key::Num1);
    assert_eq!(one(&path, first).class, car);
    // Alt+Left moves the edge nearest the pointer: the pointer rests by the left edge.
    let moved = one(&path, first);
    let by_left_edge = screen(&h, [moved.x as f32 + 2.0, moved.y as f32 + 50.0]);
    pointer(&mut h, Event::PointerMoved(by_left_edge));
    press_mod(&mut h, Modifiers::ALT, Key::ArrowLeft);
    let edged = one(&path, first);
    assert_eq!((edged.x, edged.w), (moved.x - 1.0, moved.w + 1.0));
    // Its bottom-right corner, dragged out by 20 pixels, resizes it.
    let corner = [(edged.x + edged.w) as f32, (edged.y + edged.h) as f32];
    drag(&mut h, corner, [corner[0] + 20.0, corner[1] + 20.0]);
    let resized = one(&path, first);
    near(resized, [edged.x, edged.y, edged.w + 20.0, edged.h + 20.0]);
    // Its inside, dragged, moves it whole.
    let inside = [(resized.x + 30.0) as f32, (resized.y + 30.0) as f32];
    drag(&mut h, inside, [inside[0] - 25.0, inside[1] - 15.0]);
    let dragged = one(&path, first);
    near(
        dragged,
        [resized.x - 25.0, resized.y - 15.0, resized.w, resized.h],
    );
    // Two clicks at opposite corners draw a second box.
    press(&mut h, Key::Escape);
    click(&mut h, [250.0, 150.0]);
    click(&mut h, [300.0, 220.0]);
    let two = recorded(&path, first).unwrap();
    assert_eq!(two.len(), 2);
    near(two[1], [250.0, 150.0, 50.0, 70.0]);
    // Delete removes the selected (new) box.
    press(&mut h, Key::Delete);
    assert_eq!(recorded(&path, first).unwrap(), vec![dragged]);
    // Every change was one event: undo steps back through them, redo forward again.
    let events = Project::open(&path).unwrap().history(Some(first)).unwrap();
    let labels = events.iter().filter(|e| e.kind == EventKind::Label).count();
    assert_eq!(labels, 9, "{events:#?}");
    press(&mut h, Key::Backspace);
    assert_eq!(
        recorded(&path, first).unwrap().len(),
        2,
        "undo brought the box back"
    );
    press(&mut h, Key::Backspace);
    assert_eq!(recorded(&path, first).unwrap(), vec![dragged]);
    press_mod(&mut h, Modifiers::COMMAND, Key::Y);
    assert_eq!(recorded(&path, first).unwrap().len(), 2, "redo");
    press_mod(&mut h, Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    assert_eq!(recorded(&path, first).unwrap(), vec![dragged]);
    press_mod(&mut h, Modifiers::COMMAND, Key::Y);
    h.get_by_label_contains("Nothing to redo");
    Project::open(&path).unwrap().integrity_check().unwrap();
}

#[test]
fn no_objects_copy_previous_and_done_go_through_the_images() {
    let dir = tempfile::tempdir().unwrap();
    let path = project(dir.path(), &pngs(dir.path(), 3));
    let mut h = open(&path);
    let first = current(&h);
    // Done on an undecided image says what to do instead, and stays.
    press(&mut h, Key::Enter);
    assert_eq!(current(&h), first);
    h.get_by_label_contains("shows no objects");
    // "No objects" is a decision of its own, taken with one key: the next image shows.
    let first_name = h
        .state()
        .session()
        .unwrap()
        .current
        .as_ref()
        .unwrap()
        .sample
        .name
        .clone();
    press(&mut h, Key::O);
    assert_eq!(recorded(&path, first), Some(vec![]));
    let second = current(&h);
    assert_ne!(second, first, "O moves on");
    h.get_by_label_contains(&format!("{first_name}: no objects"));
    // Looking back shows the decision.
    press(&mut h, Key::ArrowLeft);
    assert_eq!(current(&h), first);
    h.get_by_label_contains("You decided: no objects");
    press(&mut h, Key::ArrowRight);
    assert_eq!(current(&h), second);
    wait_until(&mut h, "the second image", App::current_image_ready);
    // Nothing to copy from an image with no boxes.
    press(&mut h, Key::C);
    h.get_by_label_contains("no boxes of yours to copy");
    assert_eq!(recorded(&path, second), None);
    drag(&mut h, [10.0, 10.0], [60.0, 50.0]);
    let drawn = one(&path, second);
    press(&mut h, Key::N);
    let third = current(&h);
    assert_ne!(third, second);
    wait_until(&mut h, "the third image", App::current_image_ready);
    h.step();
    press(&mut h, Key::C);
    assert_eq!(
        recorded(&path, third),
        Some(vec![drawn]),
        "copied from the previous image"
    );
    press(&mut h, Key::C);
    assert_eq!(
        recorded(&path, third),
        Some(vec![drawn]),
        "not copied twice"
    );
    // With no box selected, the arrows go through the images.
    press(&mut h, Key::Escape);
    press(&mut h, Key::ArrowLeft);
    assert_eq!(current(&h), second);
    // Hiding the boxes changes nothing recorded.
    press(&mut h, Key::V);
    h.get_by_label_contains("Boxes hidden");
    assert_eq!(recorded(&path, second), Some(vec![drawn]));
    // In the grid a class key labels nothing (images get boxes, not classes).
    press(&mut h, Key::G);
    wait_until(&mut h, "the grid's pages", |a| {
        a.project().is_some_and(|p| !p.grid.is_loading())
    });
    h.step();
    h.get_by_label_contains("opens an image to draw its boxes");
    // (A hovered cell's tooltip repeats its label.)
    for name in [
        "frame 01.png, labeled, 1 box",
        "frame 02.png, labeled, 1 box",
    ] {
        assert!(h.get_all_by_label_contains(name).count() >= 1, "{name}");
    }
    assert!(
        h.get_all_by_label_contains("frame 00.png, labeled, no objects")
            .count()
            >= 1
    );
    press_mod(&mut h, Modifiers::COMMAND, Key::A);
    press(&mut h, Key::Num1);
    h.get_by_label_contains("a class key chooses the class of new boxes");
    assert_eq!(recorded(&path, second), Some(vec![drawn]));
    assert_eq!(recorded(&path, third), Some(vec![drawn]));
}

#[test]
fn suggestions_are_accepted_above_the_threshold_or_one_click_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let files = pngs(dir.path(), 1);
    let path = project(dir.path(), &files);
    let (car, person) = (class(&path, "car"), class(&path, "person"));
    let sure = BoundingBox {
        score: Some(0.92),
        ..BoundingBox::new(car, 10.0, 10.0, 80.0, 60.0)
    };
    let unsure = BoundingBox {
        score: Some(0.31),
        ..BoundingBox::new(person, 200.0, 100.0, 50.0, 100.0)
    };
    {
        let mut p = Project::open(&path).unwrap();
        let id = p.sample_ids_after(None, 1).unwrap()[0];
        let mut ev = NewEvent::boxes(id, "model-v1", EventKind::Suggest, vec![sure, unsure]);
        ev.source = Source::Model;
        p.record(ev).unwrap();
    }
    let mut h = open(&path);
    let id = current(&h);
    h.get_by_label_contains("Model suggests 2 boxes");
    press(&mut h, Key::A);
    assert_eq!(
        recorded(&path, id),
        Some(vec![BoundingBox {
            score: None,
            ..sure
        }]),
        "only the one scored at or above 0.5"
    );
    // A click on the other accepts it too.
    click(&mut h, [225.0, 150.0]);
    assert_eq!(
        recorded(&path, id),
        Some(vec![
            BoundingBox {
                score: None,
                ..sure
            },
            BoundingBox {
                score: None,
                ..unsure
            }
        ])
    );
}

#[test]
fn the_threshold_slider_writes_its_setting_once_the_drag_ends() {
    let dir = tempfile::tempdir().unwrap();
    let files = pngs(dir.path(), 1);
    let path = project(dir.path(), &files);
    let car = class(&path, "car");
    let scored = |score, x| BoundingBox {
        score: Some(score),
        ..BoundingBox::new(car, x, 10.0, 40.0, 40.0)
    };
    {
        let mut p = Project::open(&path).unwrap();
        let id = p.sample_ids_after(None, 1).unwrap()[0];
        let boxes = vec![scored(0.92, 10.0), scored(0.31, 100.0), scored(0.12, 200.0)];
        let mut ev = NewEvent::boxes(id, "model-v1", EventKind::Suggest, boxes);
        ev.source = Source::Model;
        p.record(ev).unwrap();
    }
    let mut h = open(&path);
    let id = current(&h);
    h.get_by_label_contains("accepts the 1 scored");
    let threshold = || {
        Project::open(&path)
            .unwrap()
            .settings()
            .unwrap()
            .suggestion_threshold
    };
    let rail = h.get_by_role(egui::accesskit::Role::Slider).rect();
    let (from, to) = (rail.center(), rail.left_center() + egui::vec2(1.0, 0.0));
    pointer(&mut h, Event::PointerMoved(from));
    pointer(&mut h, button(from, true));
    for i in 1..=6 {
        pointer(
            &mut h,
            Event::PointerMoved(from + (to - from) * (i as f32 / 6.0)),
        );
    }
    // The row follows the slider; the project is not written frame after frame.
    h.get_by_label_contains("accepts the 3 scored");
    assert_eq!(threshold(), 0.5, "written while dragged");
    pointer(&mut h, button(to, false));
    h.step();
    assert!(threshold() < 0.1, "{}", threshold());
    h.get_by_label_contains("accepts the 3 scored");
    press(&mut h, Key::A);
    assert_eq!(recorded(&path, id).map(|b| b.len()), Some(3));
}

/// A photo is drawn on upright, and the box lands on the same pixels of the stored frame
/// that exports and decoders see: for all eight EXIF orientations, the stored pixels under
/// the recorded box, turned as the tag says, are the pixels that were under the drag.
#[test]
fn a_box_drawn_on_a_turned_photo_covers_the_same_pixels_in_the_stored_frame() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/media");
    let files: Vec<PathBuf> = (1..=8)
        .map(|n| {
            let to = dir.path().join(format!("orientation-{n}.jpg"));
            std::fs::copy(fixtures.join(format!("orientation-{n}.jpg")), &to).unwrap();
            to
        })
        .collect();
    let path = project(dir.path(), &files);
    let mut h = open(&path);
    for (n, file) in (1..=8u8).zip(&files) {
        wait_until(&mut h, "the photo", App::current_image_ready);
        h.step();
        let id = current(&h);
        let upright = keylabel::app::loader::decode_file(file, 0).unwrap();
        let [uw, uh] = upright.original_size;
        assert_eq!(
            h.state().project().unwrap().boxes.as_ref().unwrap().size(),
            Some([f64::from(uw), f64::from(uh)]),
            "orientation {n} is drawn upright"
        );
        // A box over the top-left part of the image as seen.
        let (x0, y0, x1, y1) = (2.0, 3.0, (uw / 2) as f32, (uh / 3) as f32 + 4.0);
        drag(&mut h, [x0, y0], [x1, y1]);
        let b = one(&path, id);
        // The stored box, cut from the stored pixels and turned, is the upright view's
        // patch under the drag.
        let stored = image::open(file).unwrap().to_rgba8();
        assert_eq!((stored.width(), stored.height()), (48, 32), "stored frame");
        assert!(b.x >= 0.0 && b.y >= 0.0 && b.x + b.w <= 48.0 && b.y + b.h <= 32.0);
        let patch =
            image::imageops::crop_imm(&stored, b.x as u32, b.y as u32, b.w as u32, b.h as u32)
                .to_image();
        let mut turned = image::DynamicImage::ImageRgba8(patch);
        turned.apply_orientation(image::metadata::Orientation::from_exif(n).unwrap());
        let turned = turned.to_rgba8();
        let (ux, uy) = (x0.round() as usize, y0.round() as usize);
        assert_eq!(
            (turned.width() as usize, turned.height() as usize),
            ((x1.round() as usize) - ux, (y1.round() as usize) - uy),
            "orientation {n}: {b:?}"
        );
        let shown = &upright.image;
        for (x, y, px) in turned.enumerate_pixels() {
            let s = shown.pixels[(uy + y as usize) * shown.size[0] + ux + x as usize].to_array();
            assert_eq!(
                &s[..3],
                &px.0[..3],
                "orientation {n}, pixel ({x}, {y}) of the box"
            );
        }
        press(&mut h, Key::Enter);
    }
}

#[test]
fn the_reviewer_sees_each_annotators_boxes_and_accepts_one_set_or_an_edit() {
    let dir = tempfile::tempdir().unwrap();
    let path = project(dir.path(), &pngs(dir.path(), 3));
    let car = class(&path, "car");
    let dog = class(&path, "dog");
    let alices = vec![BoundingBox::new(car, 20.0, 20.0, 100.0, 60.0)];
    let bobs = vec![
        BoundingBox::new(car, 180.0, 120.0, 100.0, 80.0),
        BoundingBox::new(dog, 10.0, 150.0, 50.0, 50.0),
    ];
    {
        let mut p = Project::open(&path).unwrap();
        for s in [1, 2] {
            p.record(NewEvent::boxes(
                SampleId(s),
                "alice",
                EventKind::Label,
                alices.clone(),
            ))
            .unwrap();
            p.record(NewEvent::boxes(
                SampleId(s),
                "bob",
                EventKind::Label,
                bobs.clone(),
            ))
            .unwrap();
        }
        // The same objects, a few pixels apart: an agreement, not in the queue.
        let near_alices = vec![BoundingBox::new(car, 22.0, 21.0, 98.0, 60.0)];
        p.record(NewEvent::boxes(
            SampleId(3),
            "alice",
            EventKind::Label,
            alices.clone(),
        ))
        .unwrap();
        p.record(NewEvent::boxes(
            SampleId(3),
            "bob",
            EventKind::Label,
            near_alices,
        ))
        .unwrap();
    }
    let mut h = open(&path);
    press(&mut h, Key::R);
    wait_until(&mut h, "the review image", |a| {
        a.project()
            .and_then(|p| p.review())
            .is_some_and(|r| r.placed.is_some())
    });
    h.step();
    h.get_by_label_contains("2 in the queue");
    // alice's card (the stats table names the classes too).
    assert!(h.get_all_by_label("1 car").count() >= 1);
    h.get_by_label("1 car, 1 dog");
    // Each annotator's overlay has its own switch; V switches them all.
    let bobs_switch = |h: &Harness<'_, App>| {
        h.get_by_role_and_label(egui::accesskit::Role::CheckBox, "bob")
            .rect()
    };
    until_still(&mut h, "bob's switch", bobs_switch);
    h.get_by_role_and_label(egui::accesskit::Role::CheckBox, "bob")
        .click();
    h.step();
    let hidden = |h: &Harness<'_, App>| {
        h.state()
            .project()
            .unwrap()
            .review()
            .unwrap()
            .hidden
            .clone()
    };
    assert_eq!(hidden(&h), ["bob".to_string()].into());
    press(&mut h, Key::V);
    assert_eq!(hidden(&h).len(), 2);
    press(&mut h, Key::V);
    assert!(hidden(&h).is_empty());

    // Shift+1 accepts alice's set as the decision.
    press_mod(&mut h, Modifiers::SHIFT, Key::Num1);
    let current = |s: i64| {
        Project::open(&path)
            .unwrap()
            .current_boxes(SampleId(s))
            .unwrap()
    };
    assert_eq!(current(1), alices);
    h.get_by_label_contains("1 in the queue");
    wait_until(&mut h, "the second image", |a| {
        a.project()
            .and_then(|p| p.review())
            .is_some_and(|r| r.placed.is_some())
    });
    h.step();

    // Edit starts from bob's boxes; a new dog is drawn, Enter saves the set.
    until_still(&mut h, "bob's Edit button", |h| {
        h.get_all_by_label("Edit")
            .nth(1)
            .expect("bob's card")
            .rect()
    });
    h.get_all_by_label("Edit")
        .nth(1)
        .expect("bob's card")
        .click();
    h.run_steps(2);
    h.get_by_label_contains("Editing bob's boxes");
    press(&mut h, Key::Num3);
    drag(&mut h, [200.0, 10.0], [260.0, 70.0]);
    assert_eq!(
        current(2),
        Vec::<BoundingBox>::new(),
        "nothing saved before Enter"
    );
    press(&mut h, Key::Enter);
    let decided = current(2);
    assert_eq!(decided.len(), 3, "{decided:?}");
    assert_eq!(&decided[..2], &bobs[..]);
    assert_eq!(decided[2].class, dog);
    near(decided[2], [200.0, 10.0, 60.0, 60.0]);
    let history = Project::open(&path)
        .unwrap()
        .history(Some(SampleId(2)))
        .unwrap();
    let review = history.last().unwrap();
    assert_eq!(
        (review.kind, review.annotator.as_str()),
        (EventKind::Review, ANNOTATOR)
    );
    h.get_by_label_contains("Nothing to review");

    // Undo takes the reviewer's decision back: the image is in the queue again.
    press(&mut h, Key::Backspace);
    assert!(current(2).is_empty());
    review_ready(&mut h);
    h.get_by_label_contains("1 in the queue");
    Project::open(&path).unwrap().integrity_check().unwrap();
}
