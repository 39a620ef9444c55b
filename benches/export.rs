//! TFRecord export of 20,000 images: keylabel's `export()` against TensorFlow's own
//! `tf.io.TFRecordWriter` writing the same Examples from Python, side by side. The project
//! is made as a new user makes it (a folder of PNGs imported, every image labeled), and
//! its first export, never validated before, is measured on its own. Two projects of the
//! same images: classification (one class each), and detection (ten boxes each, exported
//! in the Object Detection API's keys).
//!
//! `cargo bench --bench export` (set `KEYLABEL_PYTHON` to a Python with `tensorflow-cpu`
//! for the TensorFlow figure; `KEYLABEL_BENCH_IMAGES` changes the number of images,
//! `KEYLABEL_BENCH_TASKS=classify` or `=detect` runs one of the two).
//!
//! keylabel's figure is the whole export: validation, planning, reading every image file
//! and checking its content hash, encoding, CRCs, SHA-256 of every file, fsync and the
//! atomic rename. TensorFlow's figure (see `tf_write.py`) is what a Python script that
//! writes the same Examples does: read each image file, build the Example, serialise and
//! write it; nothing is validated, hashed or synced. The bench also prints TensorFlow's
//! write-only time (Examples built beforehand in memory) and keylabel's validation time
//! on its own, so that every part of the comparison is in view.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use image::{ImageFormat, Rgb, RgbImage};
use keylabel::export::{self, ExportOptions, Format};
use keylabel::project::{BoundingBox, EventKind, NewEvent};
use keylabel::{Project, TaskKind};
use keylabel_testkit::Rng;

const RUNS: usize = 5;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and then (as with a
    // filter argument that does not match) nothing is measured.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench")
        || args
            .iter()
            .any(|a| !a.starts_with('-') && !"export".contains(a.as_str()))
    {
        return;
    }
    let n: usize = std::env::var("KEYLABEL_BENCH_IMAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let root = dir.path();
    println!("export bench: {n} images in {}", root.display());

    // The images, written as a camera or a script would before keylabel sees them.
    let t = Instant::now();
    let mut total_bytes = 0u64;
    for i in 0..n {
        // Sizes and content vary, as in a real folder of small images.
        let (w, h) = (64 + (i % 5) as u32 * 16, 64 + (i % 3) as u32 * 16);
        let img = RgbImage::from_fn(w, h, |x, y| {
            if x < 8 && y < 8 {
                // A block coding `i` keeps every image's content (and hash) distinct.
                return Rgb([i as u8, (i >> 8) as u8, (x * 8 + y) as u8]);
            }
            let v = (x * 7 + y * 3 + i as u32 * 11) ^ (x * y + i as u32);
            Rgb([v as u8, (v >> 3) as u8, (x + y + i as u32) as u8])
        });
        let path = root.join(format!("images/{:02}/img{i:05}.png", i % 50));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        img.save_with_format(&path, ImageFormat::Png).unwrap();
        total_bytes += std::fs::metadata(&path).unwrap().len();
    }
    // The images were on the disk before keylabel was started: their writeback is not
    // the export's.
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    println!(
        "setup: {n} PNG images, {:.1} MB, written in {:.1} s",
        total_bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let tasks = std::env::var("KEYLABEL_BENCH_TASKS").unwrap_or_default();
    for task in [TaskKind::SingleLabel, TaskKind::Detect] {
        let name = if task.is_detect() {
            "detect"
        } else {
            "classify"
        };
        if tasks.is_empty() || tasks.split(',').any(|t| t == name) {
            compare(root, n, task);
        }
    }
}

/// Boxes per image in the detect project.
const BOXES: usize = 10;

/// One project of the images under `root/images` (`task`), exported by keylabel and by
/// TensorFlow's writer.
fn compare(root: &Path, n: usize, task: TaskKind) {
    let name = if task.is_detect() {
        "detect"
    } else {
        "classify"
    };
    println!("== {name}");
    // As a new user does: create a project, import the folder, label every image.
    let classes: Vec<String> = ["cat", "dog", "bird", "fish"].map(String::from).to_vec();
    let mut project =
        Project::create(&root.join(format!("{name}.keylabel")), &classes, task).unwrap();
    let t = Instant::now();
    let imported = keylabel::ingest::import(
        &mut project,
        &[root.join("images")],
        &keylabel::ingest::ImportOptions::default(),
        &keylabel::progress::NoProgress,
    )
    .unwrap();
    assert_eq!(imported.added, n as u64, "every image is imported");
    println!(
        "import of the folder (read, checked, content- and perceptually hashed): {:.3} s",
        t.elapsed().as_secs_f64()
    );
    let class_ids: Vec<keylabel::project::ClassId> =
        project.classes().unwrap().iter().map(|c| c.id).collect();
    let ids = project.sample_ids_after(None, n as u64).unwrap();
    let mut rng = Rng::new(3);
    let events: Vec<NewEvent> = ids
        .iter()
        .enumerate()
        .map(|(k, id)| {
            if !task.is_detect() {
                return NewEvent::label(*id, "bench", vec![class_ids[k % class_ids.len()]]);
            }
            let s = project.sample(*id).unwrap().unwrap();
            let (w, h) = (f64::from(s.width.unwrap()), f64::from(s.height.unwrap()));
            let boxes = (0..BOXES)
                .map(|b| {
                    let (bw, bh) = (4.0 + rng.unit() * w / 2.0, 4.0 + rng.unit() * h / 2.0);
                    BoundingBox::new(
                        class_ids[(k + b) % class_ids.len()],
                        (rng.unit() * (w - bw)).round(),
                        (rng.unit() * (h - bh)).round(),
                        bw.round(),
                        bh.round(),
                    )
                })
                .collect();
            NewEvent::boxes(*id, "bench", EventKind::Label, boxes)
        })
        .collect();
    project.record_all(&events).unwrap();

    let options = |dir: &str| ExportOptions {
        format: Format::TfRecord,
        out: root.join(format!("{name}-{dir}")),
        splits: export::parse_splits("train=8,eval=2").unwrap(),
        seed: 0,
        gzip: false,
        shards: 1,
        only_labeled: false,
        force: true,
    };
    // The first export of a project never validated before: what a new user waits for.
    // (It also warms the page cache, as for TensorFlow below.)
    let t = Instant::now();
    export::export(
        &mut project,
        &options("run"),
        &keylabel::progress::NoProgress,
    )
    .unwrap();
    let first = t.elapsed().as_secs_f64();
    println!(
        "first export (never validated: each file read once, by the export): {:.3} s",
        first
    );
    let mut times = Vec::new();
    for _ in 0..RUNS {
        // Each run replaces the previous one (--force), as a re-export would.
        let t = Instant::now();
        let s = export::export(
            &mut project,
            &options("run"),
            &keylabel::progress::NoProgress,
        )
        .unwrap();
        times.push(t.elapsed().as_secs_f64());
        assert_eq!(s.splits.values().map(|s| s.count).sum::<u64>(), n as u64);
    }
    times.sort_by(f64::total_cmp);
    let ours = times[RUNS / 2];
    println!(
        "keylabel export (validate + read + encode + write + fsync): median {ours:.3} s of {RUNS} \
         ({:.0} records/s)",
        n as f64 / ours
    );
    let mut checks = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let report = keylabel::validate::validate(
            &project,
            &keylabel::validate::Options {
                splits: 2,
                ..keylabel::validate::Options::default()
            },
        )
        .unwrap();
        checks.push(t.elapsed().as_secs_f64());
        assert!(report.ok);
    }
    checks.sort_by(f64::total_cmp);
    println!(
        "  of which validation (files known intact are stat-checked, near-duplicates from the cache): \
         median {:.3} s",
        checks[RUNS / 2]
    );

    let Some(python) = std::env::var_os("KEYLABEL_PYTHON") else {
        println!("TensorFlow: skipped (set KEYLABEL_PYTHON to a Python with tensorflow-cpu)");
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/tf_write.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(root.join(format!("{name}-run")))
        .arg(root)
        .arg(root.join(format!("{name}-tf")))
        .arg(RUNS.to_string())
        .env("TF_CPP_MIN_LOG_LEVEL", "2")
        .output()
        .expect("could not run Python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        panic!(
            "{script:?} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    print!("{stdout}");
    let figure = |key: &str| -> f64 {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("the script prints {key}"))
    };
    let tf = figure("TF_SECONDS ");
    let tf_first = figure("TF_FIRST_SECONDS ");
    let tf_write = figure("TF_WRITE_SECONDS ");
    println!(
        "keylabel {ours:.3} s vs TensorFlow from files {tf:.3} s: keylabel takes {:.0}% of \
         TensorFlow's time (target: at most 50%)",
        100.0 * ours / tf
    );
    println!(
        "keylabel's first export {first:.3} s vs TensorFlow's first run {tf_first:.3} s (both \
         writing new files): {:.0}% (target: at most 50%)",
        100.0 * first / tf_first
    );
    println!(
        "keylabel {ours:.3} s vs TensorFlow write only {tf_write:.3} s: {:.0}%",
        100.0 * ours / tf_write
    );
}
