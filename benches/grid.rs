//! Grid scrolling over a 1,000,000-sample project: CPU time of each frame.
//!
//! Builds a project of one million image samples pointing at 300 real JPEGs (so that the
//! thumbnails can all be cached, as the target says), drives [`GridView`] through
//! `egui_kittest` and scrolls it with the mouse wheel at several places in the project. A
//! frame's CPU time is egui's run of the whole UI plus tessellation of its shapes (what
//! eframe does before handing the meshes to the GPU).
//!
//! ```sh
//! cargo bench --bench grid                  # builds the project in a temporary folder
//! KEYLABEL_BENCH_SAMPLES=200000 cargo bench --bench grid
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use keylabel::app::grid::GridView;
use keylabel::project::{ClassId, NewEvent, Project, SampleId, TaskKind};
use keylabel_testkit::window::thread_cpu;

const IMAGES: usize = 300;

struct App {
    grid: GridView,
    project: Project,
}

fn build_project(dir: &Path, samples: usize) -> anyhow::Result<PathBuf> {
    let img_dir = dir.join("images");
    std::fs::create_dir_all(&img_dir)?;
    let mut files = Vec::new();
    for i in 0..IMAGES {
        let img = image::RgbImage::from_fn(320, 240, |x, y| {
            let v = ((x * 7 + y * 3 + i as u32 * 37) % 255) as u8;
            image::Rgb([v, (y as u8).wrapping_mul(i as u8 | 1), 255 - v])
        });
        let path = img_dir.join(format!("img_{i:03}.jpg"));
        img.save(&path)?;
        let bytes = std::fs::read(&path)?;
        files.push((
            format!("images/img_{i:03}.jpg"),
            blake3::hash(&bytes).to_hex().to_string(),
            bytes.len() as i64,
        ));
    }
    let path = dir.join("million.keylabel");
    let classes: Vec<String> = ["cat", "dog", "bird", "fish"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut project = Project::create(&path, &classes, TaskKind::SingleLabel)?;
    let t = Instant::now();
    {
        // One big transaction straight into the samples table: the import path checks
        // every file for duplicates, which is not what is measured here.
        let mut conn = keylabel_testkit::fixtures::sql(&project);
        let tx = conn.transaction()?;
        let mut stmt = tx.prepare(
            "INSERT INTO samples(kind, name, path, hash, hash_key, bytes, width, height, \
             format, imported_at) VALUES ('image', ?1, ?2, ?3, ?4, ?5, 320, 240, 'jpeg', \
             '2026-01-01T00:00:00.000Z')",
        )?;
        for i in 0..samples {
            let (stored, hash, bytes) = &files[i % IMAGES];
            stmt.execute(rusqlite::params![
                format!("shot_{i:07}.jpg"),
                stored,
                hash,
                keylabel::project::hash_key(hash),
                bytes
            ])?;
        }
        drop(stmt);
        tx.commit()?;
    }
    // Label one sample in 50, so that cells have class colours.
    let ids: Vec<i64> = (1..=samples as i64).step_by(50).collect();
    for chunk in ids.chunks(5000) {
        let events: Vec<NewEvent> = chunk
            .iter()
            .map(|&id| NewEvent::label(SampleId(id), "bench", vec![ClassId(1 + id % 4)]))
            .collect();
        project.record_all(&events)?;
    }
    eprintln!(
        "built {samples} samples in {:.1} s at {}",
        t.elapsed().as_secs_f64(),
        path.display()
    );
    Ok(path)
}

/// One frame: egui's run of the UI plus tessellation. Returns (CPU time, wall time).
fn frame(h: &mut Harness<'_, App>) -> (Duration, Duration) {
    let wall = Instant::now();
    let cpu = thread_cpu();
    h.step();
    let shapes = h.output().shapes.clone();
    let ppp = h.output().pixels_per_point;
    let meshes = h.ctx.tessellate(shapes, ppp);
    std::hint::black_box(meshes);
    (thread_cpu().saturating_sub(cpu), wall.elapsed())
}

fn settle(h: &mut Harness<'_, App>) {
    let start = Instant::now();
    loop {
        frame(h);
        if !h.state().grid.is_loading() || start.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn wheel(h: &mut Harness<'_, App>, dy: f32) {
    h.event(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: egui::vec2(0.0, dy),
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Unknown,
        modifiers: egui::Modifiers::NONE,
    });
}

fn stats(name: &str, mut t: Vec<Duration>) {
    t.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let n = t.len();
    let p = |q: f64| t[((n as f64 * q) as usize).min(n - 1)];
    let mean = t.iter().map(|d| ms(*d)).sum::<f64>() / n as f64;
    println!(
        "{name:<28} frames {n:>5}  median {:>6.2} ms  mean {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms",
        ms(p(0.5)),
        mean,
        ms(p(0.99)),
        ms(t[n - 1])
    );
}

fn main() -> anyhow::Result<()> {
    let samples: usize = std::env::var("KEYLABEL_BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let path = build_project(dir.path(), samples)?;
    let app = App {
        grid: GridView::new(&path),
        project: Project::open(&path)?,
    };
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(
            |ui, app: &mut App| {
                let _ = app.grid.show(ui, &app.project);
            },
            app,
        );
    let t = Instant::now();
    settle(&mut h);
    println!(
        "first screen with thumbnails: {:.0} ms (pages, count and 300 thumbnails made in the background)",
        t.elapsed().as_secs_f64() * 1e3
    );

    let mut all = Vec::new();
    let n = samples as u64;
    for (label, at) in [
        ("top", 0),
        ("middle", n / 2),
        ("three quarters", n * 3 / 4),
        ("end", n - 1),
    ] {
        h.state_mut().grid.scroll_to_index(at);
        settle(&mut h);
        // The focused sample is only known once its page is loaded, i.e. on screen.
        assert_eq!(
            h.state().grid.focused(),
            Some(SampleId(at as i64 + 1)),
            "scrolled to {label}"
        );
        // Warm: scroll down 200 wheel steps so pages and thumbnails are loaded and cached.
        for _ in 0..200 {
            wheel(&mut h, -60.0);
            frame(&mut h);
        }
        settle(&mut h);
        // Measured: scroll back up and down again over the cached stretch.
        let mut times = Vec::new();
        for dir in [60.0f32, -60.0] {
            for _ in 0..200 {
                wheel(&mut h, dir);
                times.push(frame(&mut h));
            }
        }
        stats(
            &format!("CPU, scroll at {label}"),
            times.iter().map(|t| t.0).collect(),
        );
        all.extend(times);
    }
    stats(
        "CPU, all scrolling frames",
        all.iter().map(|t| t.0).collect(),
    );
    stats(
        "wall, all scrolling frames",
        all.iter().map(|t| t.1).collect(),
    );
    Ok(())
}
