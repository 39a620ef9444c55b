//! Labeling-window latency, measured on the real `App` driven through `egui_kittest` with
//! real decoding on the loader's background threads.
//!
//! 1. Keystroke → next sample drawn, with 12-megapixel JPEGs (4000×3000, noisy), one label
//!    every 300 ms: for each keystroke, was the next image drawn in the very frame that
//!    handled the key, and how much CPU time did frames take.
//! 2. Opening a project of 1,000,000 samples: time to the first frame, time until the first
//!    sample is on screen, and resident memory.
//!
//! `cargo bench --bench latency` (env: `KEYLABEL_BENCH_KEYS`, default 40 keystrokes;
//! `KEYLABEL_BENCH_SAMPLES`, default 1000000). Generated data is kept in
//! `target/latency-bench/` and reused.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui::Key;
use egui_kittest::Harness;
use keylabel::app::App;
use keylabel::project::{NewSample, SampleKind};
use keylabel::{Project, TaskKind};
use keylabel_testkit::window::{harness, thread_cpu};

const PACE: Duration = Duration::from_millis(300);
const FRAME: Duration = Duration::from_millis(16);

fn env_num(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn data_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/latency-bench");
    std::fs::create_dir_all(&dir).expect("create target/latency-bench");
    dir
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

fn photo_project(n: usize) -> PathBuf {
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
    let path = data_dir().join(format!("photos-{}.keylabel", std::process::id()));
    let classes: Vec<String> = ["cat", "dog", "bird", "other"].map(String::from).into();
    let mut project = Project::create(&path, &classes, TaskKind::SingleLabel).unwrap();
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

/// Runs one frame; returns (wall ms, UI-thread CPU ms).
fn frame(h: &mut Harness<'_, App>) -> (f64, f64) {
    let (w, c) = (Instant::now(), thread_cpu());
    h.step();
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

fn keystroke_latency(keys: usize) {
    println!("== keystroke -> next 12-megapixel JPEG, one label every 300 ms");
    let n = keys + 10;
    eprintln!("  (making {n} 4000x3000 JPEGs in target/latency-bench/photos, first run only)");
    let path = photo_project(n);
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
    let decided = project.decided_by("bench").unwrap();
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

fn main() {
    let keys = env_num("KEYLABEL_BENCH_KEYS", 40);
    let samples = env_num("KEYLABEL_BENCH_SAMPLES", 1_000_000);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("keylabel latency benchmark ({cores} cores available)");
    // The big project first, so its memory figure is not mixed with decoded photos.
    open_million(samples);
    keystroke_latency(keys);
    std::io::stdout().flush().ok();
}
