//! Labeling-window latency, measured on the real `App` driven through `egui_kittest` with
//! real decoding on the loader's background threads.
//!
//! 1. Keystroke → next sample drawn, with 12-megapixel JPEGs (4000×3000, noisy), one label
//!    every 300 ms: for each keystroke, was the next image drawn in the very frame that
//!    handled the key, and how much CPU time did frames take.
//!    With `KEYLABEL_BENCH_PG` (a PostgreSQL superuser's URL) the same again on a replica
//!    linked to a hub, the window syncing in the background and keeping samples claimed.
//! 2. Opening a project of 1,000,000 samples: time to the first frame, time until the first
//!    sample is on screen, and resident memory.
//! 3. Drawing boxes on 12-megapixel JPEGs that hold 500 boxes each (a detect project
//!    whose images carry 500 model suggestions each): `A` accepts the 500, then the CPU
//!    time of every frame while a new box is dragged out and while it is moved, at 60
//!    frames a second, the frames that record each change (the whole set of 501 boxes),
//!    and whether after `N` the next image is drawn with its 500 suggested boxes in the
//!    very next frame.
//!
//! A frame's CPU time is the UI thread's: input, layout, drawing and tessellation into
//! triangles (what the GPU then draws is not counted).
//!
//! `cargo bench --bench latency` (env: `KEYLABEL_BENCH_KEYS`, default 40 keystrokes;
//! `KEYLABEL_BENCH_SAMPLES`, default 1000000; `KEYLABEL_BENCH_DRAW_IMAGES`, default 12
//! images, and `KEYLABEL_BENCH_BOXES`, default 500 boxes each). Generated data is kept in
//! `target/latency-bench/` and reused.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui::{Event, Key, Modifiers, PointerButton, Pos2};
use egui_kittest::Harness;
use keylabel::app::App;
use keylabel::project::{BoundingBox, EventKind, NewEvent, NewSample, SampleKind};
use keylabel::{Project, TaskKind};
use keylabel_testkit::Rng;
use keylabel_testkit::hub::BenchHub;
use keylabel_testkit::measure::env_num;
use keylabel_testkit::window::{harness, thread_cpu};

const PACE: Duration = Duration::from_millis(300);
const FRAME: Duration = Duration::from_millis(16);

fn data_dir() -> PathBuf {
    keylabel_testkit::measure::bench_dir("latency-bench")
}

/// A 4000×3000 JPEG with noise on a gradient (noise makes it as slow to decode as a real
/// photo, or slower).
fn write_12mp_jpeg(path: &Path, seed: u32) {
    let (w, h) = (4000u32, 3000u32);
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = state & 0x3f;
        image::Rgb([
            ((x * 255 / w + n + seed * 30) % 256) as u8,
            ((y * 255 / h + n) % 256) as u8,
            (((x + y) / 40 + n * 2) % 256) as u8,
        ])
    });
    let file = std::fs::File::create(path).expect("create jpeg");
    let mut enc =
        image::codecs::jpeg::JpegEncoder::new_with_quality(std::io::BufWriter::new(file), 85);
    enc.encode_image(&img).expect("encode jpeg");
}

/// `n` 4000×3000 JPEGs in `target/latency-bench/photos`, made on the first run.
fn photos(n: usize) -> Vec<PathBuf> {
    let dir = data_dir().join("photos");
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for i in 0..n {
        let f = dir.join(format!("photo{i:03}.jpg"));
        if !f.exists() {
            write_12mp_jpeg(&f, i as u32);
        }
        files.push(f);
    }
    files
}

fn photo_project(n: usize, task: TaskKind, classes: &[&str]) -> PathBuf {
    let files = photos(n);
    let path = data_dir().join(format!("photos-{}.keylabel", std::process::id()));
    let classes: Vec<String> = classes.iter().map(|c| c.to_string()).collect();
    let mut project = Project::create(&path, &classes, task).unwrap();
    let batch: Vec<NewSample> = files
        .iter()
        .map(|f| {
            let bytes = std::fs::metadata(f).unwrap().len();
            let stored = project.stored_path(f);
            let hash = blake3::hash(stored.as_bytes()).to_hex().to_string();
            NewSample::image(stored, hash, bytes, Some((4000, 3000)), Some("jpeg".into()))
        })
        .collect();
    project.insert_samples(&batch).unwrap();
    path
}

fn million_project(n: usize) -> PathBuf {
    let path = data_dir().join(format!("text-{n}.keylabel"));
    if path.exists()
        && Project::open(&path)
            .map(|p| p.sample_count().unwrap_or(0))
            .ok()
            == Some(n as u64)
    {
        return path;
    }
    let _ = std::fs::remove_file(&path);
    let classes: Vec<String> = ["positive", "negative", "neutral"].map(String::from).into();
    let mut project = Project::create(&path, &classes, TaskKind::SingleLabel).unwrap();
    let t = Instant::now();
    let chunk = 50_000;
    for start in (0..n).step_by(chunk) {
        let batch: Vec<NewSample> = (start..(start + chunk).min(n))
            .map(|i| {
                let text = format!("Review number {i}: the product arrived on time and works.");
                NewSample {
                    kind: SampleKind::Text,
                    name: format!("reviews.csv#{}", i + 1),
                    path: "reviews.csv".into(),
                    row: Some(i as i64 + 1),
                    hash: blake3::hash(text.as_bytes()).to_hex().to_string(),
                    sha256: None,
                    bytes: text.len() as u64,
                    width: None,
                    height: None,
                    format: None,
                    text: Some(text),
                    features: None,
                }
            })
            .collect();
        project.insert_samples(&batch).unwrap();
    }
    eprintln!("  (made {n} samples in {:.1} s)", t.elapsed().as_secs_f64());
    path
}

/// Runs one frame and tessellates its shapes into triangles, as the window does on its
/// UI thread before handing them to the GPU; returns (wall ms, UI-thread CPU ms).
fn frame(h: &mut Harness<'_, App>) -> (f64, f64) {
    let (w, c) = (Instant::now(), thread_cpu());
    h.step();
    let out = h.output();
    let meshes = h.ctx.tessellate(out.shapes.clone(), out.pixels_per_point);
    std::hint::black_box(meshes);
    (
        w.elapsed().as_secs_f64() * 1e3,
        (thread_cpu() - c).as_secs_f64() * 1e3,
    )
}

fn rss_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn summary(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "  {name}: n={} p50={:.2} ms p95={:.2} ms p99={:.2} ms max={:.2} ms",
        ms.len(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.95),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or(f64::NAN)
    );
}

fn open_million(n: usize) {
    println!("== open a project of {n} samples");
    let path = million_project(n);
    let (rss0, _) = rss_mb();
    let t = Instant::now();
    let mut app = App::new(None, "bench".into());
    app.open_project(&path);
    let mut h = harness(app);
    h.step();
    let first_frame = t.elapsed();
    while h.state().session().is_none() {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "project did not open"
        );
        std::thread::sleep(Duration::from_millis(1));
        h.step();
    }
    h.step();
    let first_sample = t.elapsed();
    let mut frames = Vec::new();
    for _ in 0..30 {
        frames.push(frame(&mut h).1);
    }
    // Label a few to show the per-key cost on a big project.
    let (mut keys, mut keys_wall) = (Vec::new(), Vec::new());
    for k in [Key::Num1, Key::Num2, Key::Num3, Key::Num1, Key::Num2] {
        h.key_press(k);
        let (w, c) = frame(&mut h);
        keys.push(c);
        keys_wall.push(w);
    }
    let (rss, hwm) = rss_mb();
    println!(
        "  first frame after {:.1} ms",
        first_frame.as_secs_f64() * 1e3
    );
    println!(
        "  first sample on screen after {:.1} ms",
        first_sample.as_secs_f64() * 1e3
    );
    summary("idle frame CPU", frames);
    summary("keystroke frame CPU (label + commit + next)", keys);
    summary(
        "keystroke frame wall time (incl. fsync of the commit)",
        keys_wall,
    );
    println!("  resident memory: {rss:.0} MB (before opening {rss0:.0} MB, peak {hwm:.0} MB)");
    drop(h);
}

/// The project to label: the photo project itself, or with `hub` a replica of it joined
/// from that hub (the window then syncs in the background and claims ahead); and who
/// labels on it.
fn keystroke_project(n: usize, hub: Option<&BenchHub>) -> (PathBuf, String) {
    let path = photo_project(n, TaskKind::SingleLabel, &["cat", "dog", "bird", "other"]);
    let Some(hub) = hub else {
        return (path, "bench".into());
    };
    let name = format!("photos-{}", std::process::id());
    let mut publisher = Project::open(&path).unwrap();
    keylabel::hub::publish(
        &mut publisher,
        &hub.admin(),
        &name,
        false,
        &keylabel::progress::NoProgress,
    )
    .unwrap();
    drop(publisher);
    let _ = std::fs::remove_file(&path);
    let login = hub.user("annotator", keylabel::hub::Role::Annotator);
    let replica = data_dir().join(format!("{name}-replica.keylabel"));
    let url = keylabel::hub::HubUrl::parse(&hub.url_of(&login)).unwrap();
    keylabel::hub::join(&url, &name, &replica, Some(&data_dir())).unwrap();
    (replica, login)
}

fn keystroke_latency(keys: usize, hub: Option<&BenchHub>) {
    println!(
        "== keystroke -> next 12-megapixel JPEG, one label every 300 ms{}",
        if hub.is_some() {
            ", on a replica linked to a hub on this machine (background sync, claims ahead)"
        } else {
            ""
        }
    );
    let n = keys + 10;
    eprintln!("  (making {n} 4000x3000 JPEGs in target/latency-bench/photos, first run only)");
    let (path, who) = keystroke_project(n, hub);
    let mut app = App::new(None, "bench".into());
    app.open_project(&path);
    let mut h = harness(app);
    let t = Instant::now();
    while h.state().session().is_none() || !h.state_mut().current_image_ready() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "first image never decoded"
        );
        std::thread::sleep(FRAME);
        h.step();
    }
    h.step();
    println!(
        "  first 12 MP image decoded and drawn after {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let mut ready_next_frame = 0;
    let mut waits = Vec::new();
    let (mut key_frames, mut key_walls) = (Vec::new(), Vec::new());
    let mut idle_frames = Vec::new();
    let class_keys = [Key::Num1, Key::Num2, Key::Num3, Key::Num4];
    for i in 0..keys {
        // Frames at 60 Hz until the next keystroke is due.
        let due = Instant::now() + PACE;
        while Instant::now() + FRAME < due {
            let f = Instant::now();
            idle_frames.push(frame(&mut h).1);
            std::thread::sleep(FRAME.saturating_sub(f.elapsed()));
        }
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        h.key_press(class_keys[i % 4]);
        let (w, c) = frame(&mut h);
        key_frames.push(c);
        key_walls.push(w);
        let app = h.state();
        let current = app.session().and_then(|s| s.current_id());
        if current.is_some() && app.project().is_some_and(|p| p.image.drawn == current) {
            ready_next_frame += 1;
        } else {
            // How long until it is drawn.
            let w = Instant::now();
            loop {
                h.step();
                let app = h.state();
                if app
                    .project()
                    .is_some_and(|p| p.image.drawn == p.session.current_id())
                    || w.elapsed() > Duration::from_secs(10)
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            waits.push(w.elapsed().as_secs_f64() * 1e3);
        }
    }
    let project = Project::open(&path).unwrap();
    let decided = project.decided_by(&who).unwrap();
    assert_eq!(
        decided as usize, keys,
        "every keystroke is a label in the file"
    );
    println!("  keystrokes: {keys}; next image drawn in the very next frame: {ready_next_frame}");
    if !waits.is_empty() {
        summary("wait for the image when it was not ready", waits);
    }
    summary("keystroke frame CPU (commit + next + draw)", key_frames);
    summary(
        "keystroke frame wall time (incl. fsync of the commit)",
        key_walls,
    );
    summary("other frame CPU", idle_frames);
    let (rss, hwm) = rss_mb();
    println!("  resident memory: {rss:.0} MB (peak {hwm:.0} MB)");
    drop(h);
    drop(project);
    let _ = std::fs::remove_file(&path);
}

/// One frame with `event` in its input, at 60 frames a second; returns its UI-thread
/// CPU ms.
fn frame_with(h: &mut Harness<'_, App>, event: Event) -> f64 {
    let start = Instant::now();
    h.input_mut().events.push(event);
    let cpu = frame(h).1;
    std::thread::sleep(FRAME.saturating_sub(start.elapsed()));
    cpu
}

fn primary(pos: Pos2, pressed: bool) -> Event {
    Event::PointerButton {
        pos,
        button: PointerButton::Primary,
        pressed,
        modifiers: Modifiers::NONE,
    }
}

/// Where the point at fraction `f` of the image on screen is.
fn on_image(h: &Harness<'_, App>, f: [f32; 2]) -> Pos2 {
    let rect = h
        .state()
        .project()
        .and_then(|p| p.image.image_rect)
        .expect("the image is drawn");
    rect.min + egui::vec2(f[0] * rect.width(), f[1] * rect.height())
}

/// Drags the primary button from `a` to `b` in `steps` frames (a hand's pace, one move
/// per frame); returns the CPU ms of the moving frames and of the frame that lets go
/// (which records the change).
fn drag_frames(h: &mut Harness<'_, App>, a: Pos2, b: Pos2, steps: usize) -> (Vec<f64>, f64) {
    let mut moving = vec![
        frame_with(h, Event::PointerMoved(a)),
        frame_with(h, primary(a, true)),
    ];
    for i in 1..=steps {
        let p = a + (b - a) * (i as f32 / steps as f32);
        moving.push(frame_with(h, Event::PointerMoved(p)));
    }
    let release = frame_with(h, primary(b, false));
    (moving, release)
}

fn drawing_latency(images: usize, per_image: usize) {
    println!("== drawing on 12-megapixel JPEGs holding {per_image} boxes each ({images} images)");
    let path = photo_project(images, TaskKind::Detect, &["car", "person", "dog"]);
    {
        let mut project = Project::open(&path).unwrap();
        let classes: Vec<_> = project.classes().unwrap().iter().map(|c| c.id).collect();
        let mut rng = Rng::new(11);
        let ids = project.sample_ids_after(None, images as u64).unwrap();
        let events: Vec<NewEvent> = ids
            .iter()
            .map(|id| {
                let boxes = (0..per_image)
                    .map(|k| {
                        let (w, h) = (20.0 + rng.unit() * 300.0, 20.0 + rng.unit() * 300.0);
                        // The top-left corner (where the bench draws) is kept free: a
                        // press on a box takes hold of it instead of drawing.
                        let (x, y) = loop {
                            let x = rng.unit() * (4000.0 - w);
                            let y = rng.unit() * (3000.0 - h);
                            if x > 1400.0 || y > 900.0 {
                                break (x, y);
                            }
                        };
                        BoundingBox {
                            score: Some(0.6 + 0.4 * rng.unit()),
                            ..BoundingBox::new(classes[k % classes.len()], x, y, w, h)
                        }
                    })
                    .collect();
                NewEvent::boxes(*id, "model", EventKind::Suggest, boxes)
            })
            .collect();
        project.record_all(&events).unwrap();
    }
    let mut app = App::new(None, "bench".into());
    app.open_project(&path);
    let mut h = harness(app);
    let t = Instant::now();
    while h.state().session().is_none() || !h.state_mut().current_image_ready() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "first image never decoded"
        );
        std::thread::sleep(FRAME);
        h.step();
    }
    h.run_steps(3);
    h.key_press(Key::Num1);
    h.run_steps(2);
    let (mut drawing, mut moving, mut saves, mut next_keys, mut idle) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut accepts = Vec::new();
    let mut drawn_next_frame = 0;
    for i in 0..images {
        // The model's 500 boxes become the annotator's.
        h.key_press(Key::A);
        accepts.push(frame(&mut h).1);
        for _ in 0..5 {
            idle.push(frame(&mut h).1);
        }
        // A new box dragged out over an empty-ish corner, in 60 frames (one second).
        let (a, b) = (on_image(&h, [0.02, 0.02]), on_image(&h, [0.3, 0.25]));
        let (d, save) = drag_frames(&mut h, a, b, 60);
        drawing.extend(d);
        saves.push(save);
        // The new box (selected, on top) moved by its inside, in 30 frames.
        let (a, b) = (on_image(&h, [0.16, 0.13]), on_image(&h, [0.5, 0.5]));
        let (m, save) = drag_frames(&mut h, a, b, 30);
        moving.extend(m);
        saves.push(save);
        for _ in 0..10 {
            idle.push(frame(&mut h).1);
        }
        if i + 1 == images {
            break;
        }
        // Done: the next image, with its boxes, in the frame that handled the key?
        let before = h.state().session().and_then(|s| s.current_id());
        h.key_press(Key::N);
        next_keys.push(frame(&mut h).1);
        let app = h.state();
        let p = app.project().unwrap();
        let current = p.session.current_id();
        let boxes_shown = p
            .boxes
            .as_ref()
            .is_some_and(|e| e.sample() == current && e.suggestions().len() == per_image);
        if current != before && p.image.drawn == current && boxes_shown {
            drawn_next_frame += 1;
        } else {
            let w = Instant::now();
            while !h.state_mut().current_image_ready() && w.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(2));
                h.step();
            }
            h.step();
        }
    }
    let project = Project::open(&path).unwrap();
    let boxes = project.status().unwrap().boxes.unwrap_or(0);
    assert_eq!(
        boxes as usize,
        images * (per_image + 1),
        "every drawn box is in the file"
    );
    summary("frame CPU while dragging out a new box", drawing);
    summary("frame CPU while moving a box", moving);
    summary(
        "frame CPU of A (accepts the 500 suggestions, records them)",
        accepts,
    );
    summary(
        "frame CPU of letting go (records the whole set of boxes)",
        saves,
    );
    summary("frame CPU of N (done: next image)", next_keys);
    summary("other frame CPU", idle);
    println!(
        "  N pressed {}: next image drawn with its {per_image} boxes in the very next frame: \
         {drawn_next_frame}",
        images - 1
    );
    let (rss, hwm) = rss_mb();
    println!("  resident memory: {rss:.0} MB (peak {hwm:.0} MB)");
    drop(h);
    drop(project);
    let _ = std::fs::remove_file(&path);
}

fn main() {
    let keys = env_num("KEYLABEL_BENCH_KEYS", 40);
    let samples = env_num("KEYLABEL_BENCH_SAMPLES", 1_000_000);
    let draw_images = env_num("KEYLABEL_BENCH_DRAW_IMAGES", 12);
    let boxes = env_num("KEYLABEL_BENCH_BOXES", 500);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("keylabel latency benchmark ({cores} cores available)");
    // The big project first, so its memory figure is not mixed with decoded photos.
    open_million(samples);
    keystroke_latency(keys, None);
    match keylabel_testkit::hub::server_url() {
        Some(url) => {
            // SAFETY: set before the window's threads start.
            unsafe { std::env::set_var("PGPASSWORD", keylabel_testkit::hub::PASSWORD) };
            keystroke_latency(keys, Some(&BenchHub::fresh(&url, "kllatency")));
        }
        None => println!(
            "== keystroke latency on a hub replica skipped: set KEYLABEL_BENCH_PG (a \
             PostgreSQL superuser's URL)"
        ),
    }
    drawing_latency(draw_images, boxes);
    std::io::stdout().flush().ok();
}
