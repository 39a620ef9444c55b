//! The background image loader, the thumbnail cache, the demo project and the grid view,
//! on real files in temporary folders.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{image_sample, images};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use keylabel::app::commands::Action;
use keylabel::app::grid::{GridAction, GridFilter, GridView, StatusFilter};
use keylabel::app::keymap::Keymap;
use keylabel::app::loader::{ImageKey, ImageLoader, ImageState, Unloaded, decode_file};
use keylabel::app::thumbs::{THUMB_SIDE, ThumbKey, load_or_make, thumb_file, thumbs_dir};
use keylabel::app::{ViewKind, key_actions};
use keylabel::demo::{DEMO_CLASSES, DEMO_IMAGES, DEMO_MODEL, ensure_demo_project};
use keylabel::project::{
    ClassId, EventKind, NewEvent, NewSample, Project, SampleId, SampleQuery, SampleStatus, TaskKind,
};

fn save(dir: &Path, name: &str, w: u32, h: u32, format: image::ImageFormat, seed: u8) -> PathBuf {
    let path = dir.join(name);
    images::save(&path, images::disc(w, h, seed), format);
    path
}

fn key(sample: SampleId, path: &Path, max_side: u32) -> ImageKey {
    ImageKey {
        sample,
        path: path.to_path_buf(),
        max_side,
    }
}

/// Asks until the image is no longer pending (the loader works in the background).
fn wait_ready(loader: &mut ImageLoader, k: &ImageKey) -> ImageState {
    let start = Instant::now();
    loop {
        match loader.get(k) {
            ImageState::Pending if start.elapsed() < Duration::from_secs(20) => {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

fn wait_idle(loader: &mut ImageLoader) {
    let start = Instant::now();
    while !loader.is_idle() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(5));
    }
    loader.poll();
}

#[test]
fn decodes_formats_by_content_and_down_scales() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("photo.png", image::ImageFormat::Png),
        ("photo.jpg", image::ImageFormat::Jpeg),
        ("lossless.webp", image::ImageFormat::WebP),
        ("anim.gif", image::ImageFormat::Gif),
        ("scan.bmp", image::ImageFormat::Bmp),
        ("scan.tiff", image::ImageFormat::Tiff),
        // A PNG with a misleading name: recognised by its bytes.
        ("really a png.jpg", image::ImageFormat::Png),
    ];
    for (i, (name, format)) in cases.iter().enumerate() {
        let path = save(dir.path(), name, 300, 200, *format, i as u8 * 40);
        let full = decode_file(&path, 0).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(full.original_size, [300, 200], "{name}");
        assert_eq!(full.image.size, [300, 200], "{name}");
        let small = decode_file(&path, 120).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(small.original_size, [300, 200], "{name}");
        assert_eq!(small.image.size, [120, 80], "{name}: aspect ratio kept");
        // The disc in the middle is still there after down-scaling.
        let centre = small.image.pixels[40 * 120 + 60];
        assert!(centre.b() > 150, "{name}: centre pixel {centre:?}");
    }
    // Not enlarged when already small.
    let path = save(dir.path(), "tiny.png", 30, 50, image::ImageFormat::Png, 1);
    assert_eq!(decode_file(&path, 400).unwrap().image.size, [30, 50]);
}

/// A valid PNG whose header claims `w`×`h` pixels.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(image::GrayImage::new(8, 8))
        .write_to(&mut bytes, image::ImageFormat::Png)
        .unwrap();
    let mut b = bytes.into_inner();
    // IHDR data starts at byte 16: width, height (big endian); its CRC follows the 13 bytes.
    b[16..20].copy_from_slice(&w.to_be_bytes());
    b[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&b[12..29]);
    b[29..33].copy_from_slice(&crc.to_be_bytes());
    b
}

/// CRC-32 (IEEE), as PNG chunks use.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn failures_name_the_file_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);

    let missing = dir.path().join("gone.jpg");
    let e = decode_file(&missing, 0).unwrap_err();
    assert!(e.contains("gone.jpg") && e.contains("cannot read"), "{e}");

    let good = save(
        dir.path(),
        "full.jpg",
        400,
        300,
        image::ImageFormat::Jpeg,
        9,
    );
    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.path().join("truncated.jpg");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let e = decode_file(&truncated, 0).unwrap_err();
    assert!(e.contains("truncated.jpg"), "{e}");

    let text = dir.path().join("notes.png");
    std::fs::write(&text, "this is a shopping list, not a picture\n").unwrap();
    let e = decode_file(&text, 0).unwrap_err();
    assert!(e.contains("notes.png") && e.contains("not an image"), "{e}");

    let bomb = dir.path().join("bomb.png");
    std::fs::write(&bomb, png_claiming(100_000, 100_000)).unwrap();
    let e = decode_file(&bomb, 0).unwrap_err();
    assert!(e.contains("bomb.png") && e.contains("megapixels"), "{e}");

    let empty = dir.path().join("empty.gif");
    std::fs::write(&empty, b"").unwrap();
    assert!(decode_file(&empty, 0).unwrap_err().contains("empty.gif"));

    // Through the loader: the failure is a state, cached, not a panic.
    let mut loader = ImageLoader::with_threads(egui::Context::default(), 1 << 20, 2);
    match wait_ready(&mut loader, &key(SampleId(1), &truncated, 0)) {
        ImageState::Failed(reason) => assert!(reason.contains("truncated.jpg"), "{reason}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    let decodes = loader.stats().decodes;
    assert!(matches!(
        loader.get(&key(SampleId(1), &truncated, 0)),
        ImageState::Failed(_)
    ));
    assert_eq!(
        loader.stats().decodes,
        decodes,
        "a failure is not retried every frame"
    );
}

#[test]
fn a_cached_image_is_not_decoded_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = save(dir.path(), "a.png", 640, 480, image::ImageFormat::Png, 3);
    let mut loader = ImageLoader::with_threads(egui::Context::default(), 64 << 20, 2);
    let k = key(SampleId(7), &path, 320);
    assert!(matches!(loader.get(&k), ImageState::Pending));
    match wait_ready(&mut loader, &k) {
        ImageState::Ready {
            texture,
            original_size,
            ..
        } => {
            assert_eq!(original_size, [640, 480]);
            assert_eq!(texture.size(), [320, 240]);
        }
        other => panic!("{other:?}"),
    }
    let before = loader.stats();
    assert_eq!(before.decodes, 1);
    assert_eq!(before.bytes, 320 * 240 * 4);
    for _ in 0..10 {
        assert!(matches!(loader.get(&k), ImageState::Ready { .. }));
        loader.prefetch(std::slice::from_ref(&k));
    }
    let after = loader.stats();
    assert_eq!(after.decodes, 1, "no second decode of a cached key");
    assert_eq!(after.hits, before.hits + 10);
    assert!(loader.queued().is_empty());
    // Another size of the same file is another image.
    let big = key(SampleId(7), &path, 0);
    assert!(matches!(
        wait_ready(&mut loader, &big),
        ImageState::Ready { .. }
    ));
    assert_eq!(loader.stats().decodes, 2);
}

#[test]
fn prefetch_keeps_priority_order_and_drops_stale_work() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<ImageKey> = (0..12)
        .map(|i| {
            let p = save(
                dir.path(),
                &format!("s{i:02}.png"),
                64,
                48,
                image::ImageFormat::Png,
                i,
            );
            key(SampleId(i64::from(i)), &p, 0)
        })
        .collect();
    let mut loader = ImageLoader::with_threads(egui::Context::default(), 64 << 20, 1);
    loader.set_paused(true);
    // Current, 8 ahead, 2 behind.
    let window: Vec<ImageKey> = [3usize, 4, 5, 6, 7, 8, 9, 10, 11, 2, 1]
        .iter()
        .map(|&i| keys[i].clone())
        .collect();
    loader.prefetch(&window);
    assert_eq!(loader.queued(), window, "queued in the order given");
    assert_eq!(loader.stats().dropped, 0);

    // The annotator jumped ahead: the old window's queued work is dropped.
    let jump: Vec<ImageKey> = vec![keys[0].clone(), keys[11].clone()];
    loader.prefetch(&jump);
    assert_eq!(loader.queued(), jump);
    assert_eq!(
        loader.stats().dropped,
        10,
        "ten stale requests dropped, key 11 kept"
    );

    // What is on screen goes before prefetched work.
    assert!(matches!(loader.get(&keys[5]), ImageState::Pending));
    assert_eq!(loader.queued()[0], keys[5]);

    loader.set_paused(false);
    wait_idle(&mut loader);
    let s = loader.stats();
    assert_eq!(s.decodes, 3, "only the wanted images were decoded: {s:?}");
    for k in [&keys[0], &keys[11], &keys[5]] {
        assert!(matches!(loader.get(k), ImageState::Ready { .. }), "{k:?}");
    }
    assert_eq!(loader.stats().decodes, 3);
}

#[test]
fn eviction_stays_under_the_cap_and_keeps_the_current_image() {
    let dir = tempfile::tempdir().unwrap();
    // 100×100 RGBA = 40,000 bytes each; room for two.
    let cap = 90_000;
    let keys: Vec<ImageKey> = (0..6)
        .map(|i| {
            let p = save(
                dir.path(),
                &format!("e{i}.png"),
                100,
                100,
                image::ImageFormat::Png,
                i,
            );
            key(SampleId(i64::from(i)), &p, 0)
        })
        .collect();
    let mut loader = ImageLoader::with_threads(egui::Context::default(), cap, 2);
    for k in &keys {
        assert!(matches!(
            wait_ready(&mut loader, k),
            ImageState::Ready { .. }
        ));
        let s = loader.stats();
        assert!(s.bytes <= cap, "{s:?}");
    }
    let s = loader.stats();
    assert_eq!(s.entries, 2);
    assert_eq!(s.evictions, 4);
    // The least recently used went first: the last two are still there.
    let decodes = s.decodes;
    assert!(matches!(loader.get(&keys[4]), ImageState::Ready { .. }));
    assert!(matches!(loader.get(&keys[5]), ImageState::Ready { .. }));
    assert_eq!(loader.stats().decodes, decodes);
    assert!(matches!(loader.get(&keys[0]), ImageState::Pending));

    // An image larger than the whole cap is still shown when it is the current one.
    let huge = save(
        dir.path(),
        "huge.png",
        400,
        300,
        image::ImageFormat::Png,
        77,
    );
    let hk = key(SampleId(99), &huge, 0);
    assert!(matches!(
        wait_ready(&mut loader, &hk),
        ImageState::Ready { .. }
    ));
    assert!(matches!(loader.get(&hk), ImageState::Ready { .. }));

    // A prefetch window larger than the cap does not decode forever.
    assert!(matches!(
        wait_ready(&mut loader, &keys[0]),
        ImageState::Ready { .. }
    ));
    wait_idle(&mut loader);
    for _ in 0..50 {
        loader.prefetch(&keys);
        std::thread::sleep(Duration::from_millis(2));
    }
    wait_idle(&mut loader);
    let before = loader.stats().decodes;
    for _ in 0..20 {
        loader.prefetch(&keys);
        std::thread::sleep(Duration::from_millis(2));
    }
    wait_idle(&mut loader);
    assert_eq!(loader.stats().decodes, before, "no endless re-decoding");
    assert!(loader.stats().bytes <= cap);
}

#[test]
fn thumbnails_are_cached_on_disk_by_content_hash() {
    let dir = tempfile::tempdir().unwrap();
    let project_path = dir.path().join("birds.keylabel");
    let tdir = thumbs_dir(&project_path);
    assert_eq!(tdir, dir.path().join("birds.keylabel.thumbs"));
    let src = save(
        dir.path(),
        "heron.jpg",
        1200,
        800,
        image::ImageFormat::Jpeg,
        5,
    );
    let hash = blake3::hash(&std::fs::read(&src).unwrap())
        .to_hex()
        .to_string();
    let k = ThumbKey {
        hash: hash.clone(),
        path: src.clone(),
    };
    let made = load_or_make(&tdir, &k, false, None).unwrap();
    // 1200×800 → 160×106.7, rounded.
    assert_eq!(made.image.size, [THUMB_SIDE as usize, 107]);
    let file = thumb_file(&tdir, &hash);
    assert!(file.is_file(), "thumbnail written to {}", file.display());
    let on_disk = image::image_dimensions(&file).unwrap();
    assert_eq!(on_disk, (THUMB_SIDE, 107));
    // Once cached, the original is no longer read.
    std::fs::remove_file(&src).unwrap();
    let again = load_or_make(&tdir, &k, false, None).unwrap();
    assert_eq!(again.image.size, made.image.size);
    // A hash that is not hex cannot escape the folder.
    let odd = thumb_file(&tdir, "../../etc/passwd");
    assert_eq!(odd.parent(), Some(tdir.as_path()));
    // A missing original without a cached thumbnail is a failure that names it.
    let gone = ThumbKey {
        hash: "00ff".into(),
        path: src.clone(),
    };
    assert!(matches!(
        load_or_make(&tdir, &gone, false, None),
        Err(Unloaded::Failed(reason)) if reason.contains("heron.jpg")
    ));
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&tdir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_none_or(|x| x != "jpg"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn demo_project_is_made_once_and_reopened() {
    let data = tempfile::tempdir().unwrap();
    let first = ensure_demo_project(data.path()).unwrap();
    assert_eq!(first, data.path().join("demo").join("demo.keylabel"));
    let second = ensure_demo_project(data.path()).unwrap();
    assert_eq!(first, second);

    let project = Project::open(&first).unwrap();
    project.integrity_check().unwrap();
    let names: Vec<String> = project
        .classes()
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, DEMO_CLASSES);
    assert_eq!(project.sample_count().unwrap(), DEMO_IMAGES.len() as u64);
    assert_eq!(DEMO_IMAGES.len(), 40);
    let ids = project
        .sample_ids(&SampleQuery::default(), 0, 1000)
        .unwrap();
    let mut suggested = 0;
    for id in &ids {
        let s = project.sample(*id).unwrap().unwrap();
        let file = project.resolve(&s.path);
        assert!(
            file.starts_with(data.path().join("demo")),
            "{}",
            file.display()
        );
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(blake3::hash(&bytes).to_hex().to_string(), s.hash);
        let (w, h) = image::image_dimensions(&file).unwrap();
        assert_eq!((Some(w), Some(h)), (s.width, s.height));
        assert_eq!(s.format.as_deref(), Some("jpeg"));
        assert!(
            !s.name.contains("beach") && !s.name.contains("city"),
            "{}",
            s.name
        );
        assert_eq!(project.sample_status(*id).unwrap(), SampleStatus::Unlabeled);
        if let Some((labels, score)) = project.suggestion(*id).unwrap() {
            suggested += 1;
            assert_eq!(labels.len(), 1);
            assert!(score.is_some_and(|s| (0.0..=1.0).contains(&s)));
        }
    }
    assert_eq!(suggested, 6);
    let history = project.history(None).unwrap();
    assert!(
        history
            .iter()
            .all(|e| e.kind == EventKind::Suggest && e.annotator == DEMO_MODEL)
    );
    // Nothing left over from building it.
    let entries: Vec<String> = std::fs::read_dir(data.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, vec!["demo".to_string()]);
}

#[test]
fn demo_pictures_are_the_ones_in_assets() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let mut on_disk = Vec::new();
    for class in DEMO_CLASSES {
        for e in std::fs::read_dir(root.join(class)).unwrap() {
            on_disk.push(format!(
                "{class}/{}",
                e.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    on_disk.sort();
    let mut built_in: Vec<String> = DEMO_IMAGES
        .iter()
        .map(|(c, f, _)| format!("{c}/{f}"))
        .collect();
    built_in.sort();
    assert_eq!(
        on_disk, built_in,
        "every file in assets/demo is built in, and only those"
    );
    let total: usize = DEMO_IMAGES.iter().map(|(_, _, b)| b.len()).sum();
    assert!(total <= 1_500_000, "demo pictures take {total} bytes");
    for (class, file, bytes) in DEMO_IMAGES {
        let img = image::load_from_memory(bytes).unwrap_or_else(|e| panic!("{class}/{file}: {e}"));
        assert_eq!((img.width(), img.height()), (640, 480));
    }
}

// ---------------------------------------------------------------------------------------
// The grid, driven through egui_kittest.

struct GridApp {
    grid: GridView,
    project: Project,
    actions: Vec<GridAction>,
}

fn grid_harness(project_path: &Path, size: egui::Vec2) -> Harness<'static, GridApp> {
    let app = GridApp {
        grid: GridView::new(project_path),
        project: Project::open(project_path).unwrap(),
        actions: Vec::new(),
    };
    Harness::builder().with_size(size).build_ui_state(
        |ui, app: &mut GridApp| {
            // The window routes the grid's keys as commands of the default keymap.
            let keymap = Keymap::default();
            for action in key_actions(ui.ctx(), &keymap, &[], ViewKind::Grid) {
                if let Action::Command(cmd) = action {
                    app.actions.extend(app.grid.command(cmd));
                }
            }
            let actions = app.grid.show(ui, &app.project);
            app.actions.extend(actions);
        },
        app,
    )
}

/// Steps frames until the grid has its pages and thumbnails (work arrives from threads).
fn settle(h: &mut Harness<'_, GridApp>) {
    let start = Instant::now();
    loop {
        h.step();
        if !h.state().grid.is_loading() || start.elapsed() > Duration::from_secs(30) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    h.run_steps(3);
}

/// A project of `n` text samples and a few images.
fn mixed_project(dir: &Path, texts: usize) -> PathBuf {
    let path = dir.join("mixed.keylabel");
    let classes = vec!["cat".to_string(), "dog".to_string(), "bird".to_string()];
    let mut p = Project::create(&path, &classes, TaskKind::SingleLabel).unwrap();
    let img_dir = dir.join("imgs");
    std::fs::create_dir_all(&img_dir).unwrap();
    let mut batch = Vec::new();
    for i in 0..6u8 {
        let f = save(
            &img_dir,
            &format!("pic {i}.png"),
            120,
            90,
            image::ImageFormat::Png,
            i * 30,
        );
        batch.push(image_sample(&p, &f));
    }
    for i in 0..texts {
        let text = format!("Review {i}: the delivery was late but the product works well.");
        batch.push(crate::common::text_row("reviews.csv", i + 1, &text, None));
    }
    p.insert_samples(&batch).unwrap();
    path
}

#[test]
fn grid_shows_pages_opens_and_selects() {
    let dir = tempfile::tempdir().unwrap();
    let path = mixed_project(dir.path(), 600);
    {
        let mut p = Project::open(&path).unwrap();
        let cat = p.class_by_name("cat").unwrap().unwrap().id;
        p.record(NewEvent::label(SampleId(1), "ann", vec![cat]))
            .unwrap();
        p.record(NewEvent::new(SampleId(2), "ann", EventKind::Exclude).with_note("blurred"))
            .unwrap();
        p.record(NewEvent::new(SampleId(3), "ann", EventKind::Flag))
            .unwrap();
        p.integrity_check().unwrap();
    }
    let mut h = grid_harness(&path, egui::vec2(1000.0, 700.0));
    settle(&mut h);
    assert_eq!(h.state().grid.count(), Some(606));
    h.get_by_label("Sample imgs/pic 0.png, labeled cat");
    h.get_by_label("Sample imgs/pic 1.png, excluded");
    h.get_by_label("Sample imgs/pic 2.png, unlabeled, flagged");
    h.get_by_label("Sample reviews.csv#1, unlabeled");
    // Thumbnails were written next to the project.
    let thumbs = thumbs_dir(&path);
    let n = std::fs::read_dir(&thumbs).map(|d| d.count()).unwrap_or(0);
    assert_eq!(n, 6, "one thumbnail per image in {}", thumbs.display());

    // Click opens.
    h.get_by_label("Sample imgs/pic 3.png, unlabeled").click();
    h.run_steps(2);
    assert_eq!(h.state().actions, vec![GridAction::Open(SampleId(4))]);

    // Ctrl+click toggles, Shift+click selects a range.
    h.get_by_label("Sample imgs/pic 4.png, unlabeled")
        .click_modifiers(egui::Modifiers::COMMAND);
    h.run_steps(2);
    assert_eq!(h.state().grid.selected(), vec![SampleId(5)]);
    h.get_by_label("Sample reviews.csv#3, unlabeled")
        .click_modifiers(egui::Modifiers::SHIFT);
    h.run_steps(2);
    assert_eq!(h.state().grid.selected(), [5, 6, 7, 8, 9].map(SampleId));
    let node = h.get_by_label("Sample reviews.csv#1, unlabeled");
    assert_eq!(
        node.accesskit_node().toggled(),
        Some(egui::accesskit::Toggled::True),
        "a selected cell says so to screen readers"
    );
    let other = h.get_by_label("Sample reviews.csv#10, unlabeled");
    assert_eq!(
        other.accesskit_node().toggled(),
        Some(egui::accesskit::Toggled::False)
    );
    assert_eq!(h.state().actions.len(), 1, "selecting does not open");

    // Ctrl+A selects everything that matches, also what was never on screen.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    settle(&mut h);
    assert_eq!(h.state().grid.selected().len(), 606);
    h.key_press(egui::Key::Escape);
    h.run_steps(2);
    assert!(h.state().grid.selected().is_empty());

    // Arrows move the focus (it stayed on the last clicked cell), Enter opens it.
    assert_eq!(h.state().grid.focused(), Some(SampleId(9)));
    h.key_press(egui::Key::ArrowRight);
    h.key_press(egui::Key::ArrowRight);
    h.run_steps(1);
    h.key_press(egui::Key::Enter);
    h.run_steps(2);
    assert_eq!(
        h.state().actions.last(),
        Some(&GridAction::Open(SampleId(11)))
    );
    // Down moves by a whole row, Shift extends the selection.
    let cols = {
        let before = h.state().grid.focused().unwrap();
        h.key_press(egui::Key::ArrowDown);
        h.run_steps(2);
        (h.state().grid.focused().unwrap().0 - before.0) as usize
    };
    assert!(cols >= 3, "{cols} columns in 1000 points");
    h.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::ArrowRight);
    h.run_steps(2);
    assert_eq!(h.state().grid.selected().len(), 2);
}

#[test]
fn grid_filters_and_refreshes_after_labels_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = mixed_project(dir.path(), 40);
    let mut h = grid_harness(&path, egui::vec2(900.0, 600.0));
    settle(&mut h);
    assert_eq!(h.state().grid.count(), Some(46));

    // Label two through the same project the window holds, then tell the grid.
    {
        let app = h.state_mut();
        let dog = app.project.class_by_name("dog").unwrap().unwrap().id;
        let events: Vec<NewEvent> = [7, 8]
            .iter()
            .map(|&s| NewEvent::label(SampleId(s), "maria", vec![dog]))
            .collect();
        app.project.record_all(&events).unwrap();
        app.project
            .record(NewEvent::new(SampleId(9), "li", EventKind::Skip))
            .unwrap();
        app.grid.invalidate();
    }
    settle(&mut h);
    h.get_by_label("Sample reviews.csv#1, labeled dog");
    h.get_by_label("Sample reviews.csv#3, skipped");

    let dog = h.state().project.class_by_name("dog").unwrap().unwrap().id;
    let cases: Vec<(GridFilter, u64)> = vec![
        (
            GridFilter {
                status: StatusFilter::Labeled,
                ..Default::default()
            },
            2,
        ),
        (
            GridFilter {
                status: StatusFilter::Skipped,
                ..Default::default()
            },
            1,
        ),
        (
            GridFilter {
                status: StatusFilter::Unlabeled,
                ..Default::default()
            },
            43,
        ),
        (
            GridFilter {
                class: Some(dog),
                ..Default::default()
            },
            2,
        ),
        (
            GridFilter {
                annotator: "li".into(),
                ..Default::default()
            },
            1,
        ),
        (
            GridFilter {
                path_contains: "PIC".into(),
                ..Default::default()
            },
            6,
        ),
        (
            GridFilter {
                path_contains: "no such thing".into(),
                ..Default::default()
            },
            0,
        ),
    ];
    for (filter, expected) in cases {
        h.state_mut().grid.set_filter(filter.clone());
        settle(&mut h);
        let q = filter.to_query();
        assert_eq!(
            h.state().project.count_samples(&q).unwrap(),
            expected,
            "{filter:?}"
        );
        assert_eq!(h.state().grid.count(), Some(expected), "{filter:?}");
    }
    h.get_by_label("No sample matches these filters.");

    // Typing in the path box filters too.
    h.state_mut().grid.set_filter(GridFilter::default());
    settle(&mut h);
    h.get_by_label("Path").click();
    h.run_steps(1);
    h.get_by_label("Path").type_text("pic 5");
    settle(&mut h);
    assert_eq!(h.state().grid.count(), Some(1));
    h.get_by_label("Sample imgs/pic 5.png, unlabeled");
}

#[test]
fn grid_rubber_band_selects_the_cells_it_touches() {
    let dir = tempfile::tempdir().unwrap();
    let path = mixed_project(dir.path(), 30);
    let mut h = grid_harness(&path, egui::vec2(900.0, 600.0));
    settle(&mut h);
    let a = h.get_by_label("Sample imgs/pic 0.png, unlabeled").rect();
    let b = h.get_by_label("Sample imgs/pic 2.png, unlabeled").rect();
    // Start in the gap under the first cell, end inside the third.
    let start = a.left_bottom() + egui::vec2(5.0, 3.0);
    let end = b.center();
    h.hover_at(start);
    h.run_steps(1);
    h.drag_at(start);
    h.run_steps(1);
    for t in [0.25f32, 0.5, 0.75, 1.0] {
        h.hover_at(start + (end - start) * t);
        h.run_steps(1);
    }
    h.drop_at(end);
    h.run_steps(2);
    assert_eq!(h.state().grid.selected(), [1, 2, 3].map(SampleId));
    assert!(h.state().actions.is_empty());
}

#[test]
fn grid_snapshot_of_the_demo() {
    let data = tempfile::tempdir().unwrap();
    let path = ensure_demo_project(data.path()).unwrap();
    {
        let mut p = Project::open(&path).unwrap();
        let class = |p: &Project, n: &str| p.class_by_name(n).unwrap().unwrap().id;
        let (beach, forest, mountain, city) = (
            class(&p, "beach"),
            class(&p, "forest"),
            class(&p, "mountain"),
            class(&p, "city"),
        );
        // Label the first dozen by looking at the pictures' true classes.
        let truth: Vec<ClassId> = {
            let ids = p.sample_ids(&SampleQuery::default(), 0, 12).unwrap();
            ids.iter()
                .map(|id| {
                    let s = p.sample(*id).unwrap().unwrap();
                    let bytes = std::fs::read(p.resolve(&s.path)).unwrap();
                    let (c, _, _) = DEMO_IMAGES
                        .iter()
                        .find(|(_, _, b)| *b == bytes.as_slice())
                        .unwrap();
                    match *c {
                        "beach" => beach,
                        "forest" => forest,
                        "mountain" => mountain,
                        _ => city,
                    }
                })
                .collect()
        };
        for (i, c) in truth.iter().enumerate().take(10) {
            p.record(NewEvent::label(SampleId(i as i64 + 1), "ann", vec![*c]))
                .unwrap();
        }
        p.record(NewEvent::new(SampleId(11), "ann", EventKind::Skip))
            .unwrap();
        p.record(NewEvent::new(SampleId(12), "ann", EventKind::Exclude).with_note("duplicate"))
            .unwrap();
        p.record(NewEvent::new(SampleId(5), "ann", EventKind::Flag))
            .unwrap();
        p.integrity_check().unwrap();
    }
    let mut h = grid_harness(&path, egui::vec2(1100.0, 720.0));
    settle(&mut h);
    h.get_by_label_contains("Sample images/photo_001.jpg,")
        .click_modifiers(egui::Modifiers::COMMAND);
    h.run_steps(2);
    h.get_by_label_contains("Sample images/photo_014.jpg,")
        .click_modifiers(egui::Modifiers::COMMAND);
    settle(&mut h);
    h.snapshot("grid_demo");
}

#[test]
fn grid_snapshot_of_text_and_damaged_samples() {
    let dir = tempfile::tempdir().unwrap();
    let path = mixed_project(dir.path(), 24);
    {
        let mut p = Project::open(&path).unwrap();
        let broken = dir.path().join("imgs").join("broken.png");
        std::fs::write(&broken, b"\x89PNG\r\n\x1a\n not really").unwrap();
        let stored = p.stored_path(&broken);
        let gone = p.stored_path(&dir.path().join("imgs").join("moved away.jpg"));
        let damaged: Vec<NewSample> = [(stored, "aa01"), (gone, "aa02")]
            .into_iter()
            .map(|(s, h)| NewSample::image(s, h.into(), 20, None, Some("png".into())))
            .collect();
        p.insert_samples(&damaged).unwrap();
        let class = |p: &Project, n: &str| p.class_by_name(n).unwrap().unwrap().id;
        let (cat, dog, bird) = (class(&p, "cat"), class(&p, "dog"), class(&p, "bird"));
        for (id, c) in [
            (7, cat),
            (8, dog),
            (9, dog),
            (10, bird),
            (1, cat),
            (2, bird),
        ] {
            p.record(NewEvent::label(SampleId(id), "ann", vec![c]))
                .unwrap();
        }
        p.record(NewEvent::new(SampleId(11), "ann", EventKind::Skip))
            .unwrap();
        p.record(NewEvent::new(SampleId(12), "ann", EventKind::Exclude).with_note("spam"))
            .unwrap();
        p.record(NewEvent::new(SampleId(13), "ann", EventKind::Flag))
            .unwrap();
        p.integrity_check().unwrap();
    }
    let mut h = grid_harness(&path, egui::vec2(1000.0, 640.0));
    settle(&mut h);
    h.get_by_label("Sample reviews.csv#1, labeled cat");
    h.get_by_label("Sample reviews.csv#7, unlabeled, flagged");
    // The damaged files are at the end: scroll there with the keyboard.
    h.state_mut().grid.scroll_to_index(31);
    settle(&mut h);
    h.get_by_label("Sample imgs/broken.png, unlabeled");
    h.get_by_label("Sample imgs/moved away.jpg, unlabeled");
    h.state_mut().grid.scroll_to_index(0);
    settle(&mut h);
    h.snapshot("grid_text");
    h.state_mut().grid.scroll_to_index(31);
    settle(&mut h);
    h.snapshot("grid_damaged");
}

#[test]
fn grid_draws_each_images_boxes_on_its_thumbnail() {
    use keylabel::project::BoundingBox;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("boxes.keylabel");
    let classes: Vec<String> = ["car", "person", "dog"].map(String::from).into();
    let mut p = Project::create(&path, &classes, TaskKind::Detect).unwrap();
    let img_dir = dir.path().join("imgs");
    std::fs::create_dir_all(&img_dir).unwrap();
    let mut files: Vec<PathBuf> = (0..3u8)
        .map(|i| {
            save(
                &img_dir,
                &format!("street {i}.png"),
                320,
                240,
                image::ImageFormat::Png,
                i,
            )
        })
        .collect();
    // A phone photo stored 48×32 and turned a quarter clockwise to be seen (orientation 6).
    let turned = img_dir.join("turned.jpg");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/media/orientation-6.jpg"),
        &turned,
    )
    .unwrap();
    files.push(turned);
    let batch: Vec<_> = files.iter().map(|f| image_sample(&p, f)).collect();
    p.insert_samples(&batch).unwrap();
    let class = |p: &Project, n: &str| p.class_by_name(n).unwrap().unwrap().id;
    let (car, person, dog) = (class(&p, "car"), class(&p, "person"), class(&p, "dog"));
    let two = vec![
        BoundingBox::new(car, 20.0, 30.0, 120.0, 80.0),
        BoundingBox::new(dog, 200.0, 150.0, 100.0, 80.0),
    ];
    p.record(NewEvent::boxes(
        SampleId(1),
        "ann",
        EventKind::Label,
        two.clone(),
    ))
    .unwrap();
    p.record(NewEvent::boxes(
        SampleId(2),
        "ann",
        EventKind::Label,
        vec![],
    ))
    .unwrap();
    // Two annotators who drew different boxes: nothing settled yet.
    p.record(NewEvent::boxes(
        SampleId(3),
        "ann",
        EventKind::Label,
        two.clone(),
    ))
    .unwrap();
    p.record(NewEvent::boxes(
        SampleId(3),
        "bob",
        EventKind::Label,
        vec![BoundingBox::new(person, 100.0, 40.0, 60.0, 150.0)],
    ))
    .unwrap();
    // The stored frame's left half: the top half of the photo as seen.
    let half = BoundingBox::new(person, 0.0, 0.0, 24.0, 32.0);
    p.record(NewEvent::boxes(
        SampleId(4),
        "ann",
        EventKind::Label,
        vec![half],
    ))
    .unwrap();

    // The summaries carry the current boxes, and in blind mode the viewer's own.
    let all = p.sample_summaries(&SampleQuery::default(), 0, 10).unwrap();
    assert_eq!(all[0].boxes, two);
    assert_eq!(all[0].size, Some([320, 240]));
    assert!(all[1].boxes.is_empty() && all[1].classes.is_empty());
    assert!(all[2].boxes.is_empty() && !all[2].classes.is_empty());
    assert_eq!(all[3].boxes, [half]);
    assert_eq!(all[3].size, Some([48, 32]));
    let bobs = SampleQuery {
        own_view: Some("bob".into()),
        ..Default::default()
    };
    let own = p.sample_summaries(&bobs, 0, 10).unwrap();
    assert_eq!(
        own[2].boxes,
        [BoundingBox::new(person, 100.0, 40.0, 60.0, 150.0)]
    );
    assert!(own[0].boxes.is_empty() && own[0].status == SampleStatus::Unlabeled);
    drop(p);

    // The thumbnail of the turned photo says how it is turned, made or read from the cache.
    let tdir = thumbs_dir(&path);
    let k = ThumbKey {
        hash: all[3].hash.clone(),
        path: files[3].clone(),
    };
    for round in ["made", "cached"] {
        let t = load_or_make(&tdir, &k, true, None).unwrap();
        assert_eq!(
            t.turn.orientation,
            image::metadata::Orientation::Rotate90,
            "{round}"
        );
        assert_eq!(t.image.size, [32, 48], "{round}: upright");
    }

    let mut h = grid_harness(&path, egui::vec2(900.0, 420.0));
    settle(&mut h);
    h.get_by_label("Sample imgs/street 0.png, labeled, 2 boxes");
    h.get_by_label("Sample imgs/street 1.png, labeled, no objects");
    h.get_by_label("Sample imgs/street 2.png, labeled, boxes differ");
    h.get_by_label("Sample imgs/turned.jpg, labeled, 1 box");
    h.snapshot("grid_boxes");
}
