//! Media: image files of every kind a camera or a tool writes, judged the same way by
//! import, validation and the viewer (fixtures in `tests/fixtures/media`); and projects on
//! media that cannot be written, a read-only file system and a full disk, made as real
//! `tmpfs` mounts (this needs root, as in CI; `KEYLABEL_REQUIRE_MOUNT=1` turns "cannot
//! mount here" from a skip into a failure).

use std::path::{Path, PathBuf};
use std::process::Command;

use keylabel::Project;
use keylabel_testkit::cli::{stderr, stdout};

/// A `tmpfs` mounted on a temporary folder, unmounted on drop.
struct Mount {
    dir: tempfile::TempDir,
}

impl Mount {
    /// `None` where this process may not mount (not root): the test says so and stops,
    /// unless `KEYLABEL_REQUIRE_MOUNT=1`.
    fn tmpfs(size: &str) -> Option<Mount> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var("KEYLABEL_REQUIRE_MOUNT").is_err(),
                "cannot mount a tmpfs, and KEYLABEL_REQUIRE_MOUNT is set"
            );
            eprintln!("skipped: this process cannot mount a tmpfs (it needs root)");
            return None;
        }
        Some(Mount { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn read_only(&self) {
        let ok = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// A labeled image project of six samples in `dir`; returns its path.
fn labeled_project(dir: &Path) -> PathBuf {
    let images = dir.join("img");
    std::fs::create_dir(&images).unwrap();
    for i in 0..6u32 {
        let img = keylabel_testkit::images::photo(32, 24, u64::from(i) * 7 + 1);
        keylabel_testkit::images::save(
            &images.join(format!("{i}.png")),
            img,
            image::ImageFormat::Png,
        );
    }
    let labels: String = (0..6)
        .map(|i| format!("img/{i}.png,{}\n", ["cat", "dog"][i % 2]))
        .collect();
    std::fs::write(dir.join("labels.csv"), format!("sample,label\n{labels}")).unwrap();
    let cli = crate::common::cli().cwd(dir).project("p.keylabel");
    cli.ok(&["init", "--classes", "cat,dog"]);
    cli.ok(&["import", "img"]);
    cli.ok(&["import-labels", "labels.csv"]);
    dir.join("p.keylabel")
}

/// A project on a read-only file system: every reading command works (before, each said
/// "not a keylabel project: unable to open database file"); `export` writes its dataset
/// elsewhere and exits 0, warning that it could not record it in the project; a command
/// that writes says the project is read-only, and nothing changes.
#[test]
fn a_project_on_a_read_only_file_system_can_be_read_and_exported() {
    let Some(mount) = Mount::tmpfs("20m") else {
        return;
    };
    let path = labeled_project(mount.path());
    let before = std::fs::read(&path).unwrap();
    mount.read_only();
    let out = tempfile::tempdir().unwrap();
    let cli = crate::common::cli().cwd(mount.path()).project(&path);
    for args in [
        &["status", "--json"][..],
        &["validate"],
        &["history", "img/0.png"],
        &["agreement", "--json"],
        &["annotators"],
        &["classes", "list"],
    ] {
        cli.ok(args);
    }
    assert_eq!(cli.json(&["status", "--json"])["labeled"], 6);
    let ds = out.path().join("ds");
    let exported = cli.run(&["export", "--format", "csv", "--out", ds.to_str().unwrap()]);
    assert!(exported.status.success(), "{}", stderr(&exported));
    assert!(stdout(&exported).contains("Exported 6 records"));
    assert!(
        stderr(&exported).contains("could not be recorded"),
        "{}",
        stderr(&exported)
    );
    assert!(ds.join("manifest.json").is_file());

    for args in [
        &["classes", "add", "owl"][..],
        &["settings", "set", "overlap", "2"],
    ] {
        let o = cli.run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&o).contains("is read-only") && stderr(&o).contains("nothing was changed"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let p = Project::open(&path).unwrap();
    assert!(p.is_read_only());
}

/// A project whose disk is full: an export to another disk writes its dataset and exits 0
/// (validation's caches and the record of the export are left out, with a warning), and
/// the project is intact and usable once space is freed.
#[test]
fn an_export_from_a_project_on_a_full_disk_succeeds_and_says_what_it_left_out() {
    let Some(mount) = Mount::tmpfs("4m") else {
        return;
    };
    let path = labeled_project(mount.path());
    // Fill the disk.
    let filler = mount.path().join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![7u8; 64 * 1024];
        while f.write_all(&block).and_then(|()| f.flush()).is_ok() {}
    }
    let out = tempfile::tempdir().unwrap();
    let ds = out.path().join("ds");
    let cli = crate::common::cli().cwd(mount.path()).project(&path);
    let exported = cli.run(&["export", "--format", "csv", "--out", ds.to_str().unwrap()]);
    assert!(exported.status.success(), "{}", stderr(&exported));
    assert!(ds.join("manifest.json").is_file());
    assert!(
        stderr(&exported).contains("could not be recorded"),
        "{}",
        stderr(&exported)
    );

    std::fs::remove_file(&filler).unwrap();
    let p = Project::open(&path).unwrap();
    p.integrity_check().unwrap();
    assert_eq!(p.status().unwrap().labeled, 6);
    drop(p);
    cli.ok(&["classes", "add", "owl"]);
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/media")
        .join(name)
}

/// Every fixture, whether its image data is complete, and the bytes after its end.
/// Made with ImageMagick (`convert`), then cut, padded or extended by a few lines of Python;
/// the EXIF orientation files carry a hand-written APP1 segment.
const MEDIA: &[(&str, bool, &str)] = &[
    ("baseline.jpg", true, "a baseline JPEG"),
    ("progressive.jpg", true, "a progressive JPEG of ten scans"),
    (
        "motion-photo.jpg",
        true,
        "a JPEG with a video appended (a phone's motion photo)",
    ),
    ("zero-padded.jpg", true, "a JPEG padded with zero bytes"),
    (
        "stray-bytes.jpg",
        true,
        "a JPEG with stray bytes between two segments",
    ),
    ("cut.jpg", false, "a baseline JPEG cut inside its scan"),
    (
        "progressive-cut.jpg",
        false,
        "a progressive JPEG cut between its scans",
    ),
    ("complete.png", true, "a PNG"),
    ("trailing-data.png", true, "a PNG with bytes after IEND"),
    ("cut.png", false, "a PNG cut inside its data"),
    ("complete.gif", true, "a GIF"),
    (
        "trailing-data.gif",
        true,
        "a GIF with bytes after its trailer",
    ),
    ("cut.gif", false, "a GIF cut inside its data"),
    ("complete.webp", true, "a WebP"),
    (
        "trailing-data.webp",
        true,
        "a WebP with bytes after its RIFF container",
    ),
    ("cut.webp", false, "a WebP cut short of its RIFF size"),
    (
        "orientation-6.jpg",
        true,
        "a JPEG whose EXIF says: turn 90° clockwise",
    ),
];

/// One rule, three users: import, validation and the viewer agree on every fixture. Before,
/// import refused motion photos and PNGs with trailing data as "truncated".
#[test]
fn import_validation_and_the_viewer_agree_on_what_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let mut project = keylabel_testkit::fixtures::project(
        &dir.path().join("p.keylabel"),
        &["a"],
        keylabel::TaskKind::SingleLabel,
    );
    for (name, complete, what) in MEDIA {
        let path = fixture(name);
        let bytes = std::fs::read(&path).unwrap();
        let format = keylabel::media::sniff(&bytes).unwrap();
        let core = keylabel::media::check_complete(format, &bytes);
        assert_eq!(core.is_ok(), *complete, "{what} ({name}): {core:?}");
        if let Err(why) = &core {
            assert!(why.starts_with("truncated"), "{name}: {why}");
        }
        let imported = keylabel::ingest::images::probe(&path);
        assert_eq!(
            imported.is_ok(),
            *complete,
            "import of {what}: {imported:?}"
        );
        let shown = keylabel::app::loader::decode_file(&path, 0);
        assert_eq!(
            shown.is_ok(),
            *complete,
            "viewer on {what}: {:?}",
            shown.err()
        );
        // Validation reads the file as stored (here inserted without import's checks).
        let copy = dir.path().join(name);
        std::fs::copy(&path, &copy).unwrap();
        project
            .insert_samples(&[keylabel_testkit::fixtures::image_sample(&project, &copy)])
            .unwrap();
    }
    let report = keylabel::validate::validate(
        &project,
        &keylabel::validate::Options {
            only_labeled: false,
            ..Default::default()
        },
    )
    .unwrap();
    let unreadable = report
        .findings
        .iter()
        .find(|f| f.code == "UNREADABLE_SAMPLES")
        .expect("the cut files are unreadable");
    let mut named: Vec<String> = unreadable.samples.clone();
    named.sort();
    let mut cut: Vec<String> = MEDIA
        .iter()
        .filter(|m| !m.1)
        .map(|m| m.0.to_string())
        .collect();
    cut.sort();
    assert_eq!(named, cut, "validation finds exactly the cut files");
    assert!(
        keylabel::media::trailing_bytes(
            keylabel::media::ImageFormat::Jpeg,
            &std::fs::read(fixture("motion-photo.jpg")).unwrap()
        ) > 3000
    );
}

/// The viewer shows a photo upright, as its EXIF orientation says: the eight orientations
/// of one 48×32 image come out 48×32 (1–4) or 32×48 (5–8), turned the right way. The
/// stored frame (import's size, and what exports write) is always 48×32.
#[test]
fn photos_are_shown_upright_and_stored_as_they_are() {
    use image::metadata::Orientation;
    let reference = image::open(fixture("orientation-1.jpg")).unwrap();
    for n in 1..=8u8 {
        let path = fixture(&format!("orientation-{n}.jpg"));
        let bytes = std::fs::read(&path).unwrap();
        let orientation = keylabel::media::orientation(keylabel::media::ImageFormat::Jpeg, &bytes);
        assert_eq!(orientation, Orientation::from_exif(n).unwrap(), "file {n}");
        let info = keylabel::ingest::images::probe(&path).unwrap();
        assert_eq!((info.width, info.height), (48, 32), "stored frame of {n}");
        let shown = keylabel::app::loader::decode_file(&path, 0).unwrap();
        let upright = if n >= 5 { [32, 48] } else { [48, 32] };
        assert_eq!(shown.original_size, upright, "orientation {n}");
        assert_eq!(shown.image.size, [upright[0] as usize, upright[1] as usize]);
        // The pixels are the reference turned as the tag says.
        let mut want = reference.clone();
        want.apply_orientation(orientation);
        let want = want.to_rgba8();
        let px = |x: usize, y: usize| shown.image.pixels[y * shown.image.size[0] + x].to_array();
        for (x, y) in [
            (0usize, 0usize),
            (upright[0] as usize - 1, 0),
            (0, upright[1] as usize - 1),
        ] {
            let w = want.get_pixel(x as u32, y as u32).0;
            let got = px(x, y);
            let close = (0..3).all(|c| (i32::from(w[c]) - i32::from(got[c])).abs() <= 12);
            assert!(
                close,
                "orientation {n} at ({x}, {y}): {got:?} against {w:?}"
            );
        }
    }
}

/// Fills `mount` with a new file of zeros named `name`, leaving about `left` bytes; returns
/// the file.
fn fill(mount: &Mount, name: &str, left: u64) -> PathBuf {
    use std::io::Write;
    let filler = mount.path().join(name);
    let mut f = std::fs::File::create(&filler).unwrap();
    let block = vec![0u8; 16 * 1024];
    while f.write_all(&block).and_then(|()| f.flush()).is_ok() {}
    drop(f);
    let len = std::fs::metadata(&filler).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap()
        .set_len(len.saturating_sub(left))
        .unwrap();
    filler
}

/// A disk that fills up while keylabel writes: an import, an `import-labels` and an export
/// each stop with a clear error; the import keeps whole batches, `import-labels` wrote
/// nothing, the export left no folder; the project is intact, and once space is freed it
/// takes the same work again.
#[test]
fn a_disk_that_fills_during_import_labels_and_export_gives_a_clear_error_and_loses_nothing() {
    let Some(mount) = Mount::tmpfs("32m") else {
        return;
    };
    let path = labeled_project(mount.path());
    let outside = tempfile::tempdir().unwrap();
    let rows = outside.path().join("rows.csv");
    let text: String = (0..60_000)
        .map(|i| format!("row {i}: some words a reviewer would read\n"))
        .collect();
    std::fs::write(&rows, format!("text\n{text}")).unwrap();
    let cli = crate::common::cli().cwd(mount.path()).project(&path);
    let filler = fill(&mount, "filler", 1 << 20);

    let out = cli.run(&["import", rows.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("is full: the command stopped"),
        "{}",
        stderr(&out)
    );
    let p = Project::open(&path).unwrap();
    p.integrity_check().unwrap();
    assert_eq!(
        p.status().unwrap().labeled,
        6,
        "the labels made before are all there"
    );
    let samples = p.sample_count().unwrap();
    assert_eq!((samples - 6) % 50_000, 0, "whole batches: {samples}");
    drop(p);

    let labels = outside.path().join("labels.csv");
    let relabel: String = (0..6)
        .map(|i| format!("img/{i}.png,{},other\n", ["cat", "dog"][i % 2]))
        .collect();
    std::fs::write(&labels, format!("sample,label,annotator\n{relabel}")).unwrap();
    let events = |p: &Project| {
        keylabel_testkit::fixtures::sql(p)
            .query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
            .unwrap()
    };
    let before = events(&Project::open(&path).unwrap());
    // Leave no room at all.
    let filler2 = fill(&mount, "filler2", 0);
    let out = cli.run(&["import-labels", labels.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is full: the command stopped"),
        "{}",
        stderr(&out)
    );

    let ds = mount.path().join("ds");
    let out = cli.run(&[
        "export",
        "--format",
        "csv",
        "--out",
        ds.to_str().unwrap(),
        "--only-labeled",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("No space left")
            && stderr(&out).contains("train/data.csv")
            && stderr(&out).contains("nothing was written there"),
        "names the file and the reason: {}",
        stderr(&out)
    );
    let left: Vec<_> = std::fs::read_dir(mount.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("ds"))
        .collect();
    assert!(left.is_empty(), "the export left {left:?}");

    std::fs::remove_file(&filler).unwrap();
    std::fs::remove_file(&filler2).unwrap();
    let p = Project::open(&path).unwrap();
    p.integrity_check().unwrap();
    assert_eq!(events(&p), before, "nothing of the refused labels file");
    drop(p);
    cli.ok(&["import-labels", labels.to_str().unwrap()]);
    cli.ok(&["import", rows.to_str().unwrap()]);
    let p = Project::open(&path).unwrap();
    p.integrity_check().unwrap();
    assert_eq!(p.sample_count().unwrap(), 6 + 60_000);
    drop(p);
    // The import took the freed space; the export goes to another disk.
    let ds = outside.path().join("ds");
    cli.ok(&[
        "export",
        "--format",
        "csv",
        "--out",
        ds.to_str().unwrap(),
        "--only-labeled",
    ]);
    assert!(ds.join("manifest.json").is_file());
}

/// The window on a project whose disk fills up: a class key says the label was not saved
/// because the disk is full, the sample stays on screen, and once space is freed the same
/// key saves it and moves on.
#[cfg(feature = "gui")]
#[test]
fn the_window_on_a_full_disk_says_so_keeps_the_sample_and_saves_once_space_is_freed() {
    use egui_kittest::kittest::Queryable;
    use keylabel::app::App;
    use keylabel_testkit::window::{current, harness, press, wait_until};
    let Some(mount) = Mount::tmpfs("8m") else {
        return;
    };
    let path = labeled_project(mount.path());
    // Six more images, not labeled yet.
    for i in 6..12u32 {
        let img = keylabel_testkit::images::photo(32, 24, u64::from(i) * 7 + 1);
        keylabel_testkit::images::save(
            &mount.path().join(format!("more/{i}.png")),
            img,
            image::ImageFormat::Png,
        );
    }
    let cli = crate::common::cli().cwd(mount.path()).project(&path);
    cli.ok(&["import", "more"]);

    let mut app = App::new(None, "window".into());
    app.open_project(&path);
    let mut h = harness(app);
    wait_until(&mut h, "the project to open", |a| a.session().is_some());
    wait_until(&mut h, "the first image", App::current_image_ready);
    let first = current(&h);
    let filler = fill(&mount, "filler", 0);
    press(&mut h, egui::Key::Num1);
    assert_eq!(current(&h), first, "the sample stays on screen");
    h.get_by_label_contains("is full");
    let decided = |p: &Project| p.decision_of(first, "window").unwrap().is_some();
    std::fs::remove_file(&filler).unwrap();
    assert!(!decided(&Project::open(&path).unwrap()));
    press(&mut h, egui::Key::Num1);
    assert_ne!(current(&h), first, "saved, and on to the next sample");
    drop(h);
    let p = Project::open(&path).unwrap();
    p.integrity_check().unwrap();
    assert!(decided(&p));
}

/// The EXIF thumbnail reader: found where phones put it, in both byte orders' worth of
/// checks; absent from JPEGs without one (the orientation fixtures carry EXIF without a
/// thumbnail); never read beyond the segment when the file is cut or the offsets lie.
#[test]
fn exif_thumbnails_are_read_where_phones_put_them_and_nowhere_else() {
    use keylabel::media::exif_thumbnail;
    let photo = keylabel_testkit::images::photo(400, 300, 9);
    let plain = keylabel_testkit::images::jpeg(&photo, 90);
    let phone = keylabel_testkit::images::phone_jpeg(&photo, 90);
    let thumb = exif_thumbnail(&phone).expect("a thumbnail");
    let decoded = image::load_from_memory(thumb).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (160, 120));
    assert!(exif_thumbnail(&plain).is_none());
    for n in 1..=8 {
        let bytes = std::fs::read(fixture(&format!("orientation-{n}.jpg"))).unwrap();
        assert!(exif_thumbnail(&bytes).is_none(), "orientation-{n}.jpg");
    }
    // Cut anywhere inside the EXIF segment: no thumbnail, no panic.
    let app1_end = 4 + usize::from(u16::from_be_bytes([phone[4], phone[5]]));
    for end in 0..app1_end {
        assert!(exif_thumbnail(&phone[..end]).is_none(), "cut at {end}");
    }
    // The import reads the photo's own size, not the thumbnail's.
    let dir = tempfile::tempdir().unwrap();
    keylabel_testkit::images::write(&dir.path().join("phone.jpg"), &phone);
    let info = keylabel::ingest::images::probe(&dir.path().join("phone.jpg")).unwrap();
    assert_eq!((info.width, info.height), (400, 300));
}
