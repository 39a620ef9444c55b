//! Validation at scale.
//!
//! - `validate/1m_text_rows`: a 1,000,000-sample project of text rows (most labeled, some
//!   with two annotators, reviews, skips, exclusions, empty texts and a previous export),
//!   validated without the near-duplicate pass. Target: ≤ 3 s.
//! - `near_duplicates/*`: 2,000 photo-like 640×480 JPEGs. `first_run` empties the
//!   perceptual-hash cache before each run (every image read, BLAKE3-hashed, probed and
//!   perceptually hashed; target ≥ 500 images/s on 2 cores); `cached` runs with the cache
//!   full; `files_only` skips the perceptual pass.
//! - `large_photos/*`: fifty 12-megapixel (4000×3000) JPEGs, first validation (cache
//!   emptied each run). `phone` files carry a 160×120 EXIF thumbnail, as phones and cameras
//!   write them, and are hashed from it; `no_thumbnail` files are decoded in full. Target:
//!   ≥ 100 images/s on 2 cores for photos as phones write them.
//!
//! The generated projects are kept under `target/bench-data/` and reused by later runs.
//! Run: `cargo bench --bench validate`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use image::{Rgb, RgbImage};
use keylabel::TaskKind;
use keylabel::project::{EventKind, NewEvent, NewSample, Project, SampleId, SampleKind};
use keylabel::validate::{Options, validate};
use rayon::prelude::*;

const ROWS: u64 = 1_000_000;
const PHOTOS: u64 = 2_000;
const LARGE_PHOTOS: u64 = 50;
const CLASSES: [&str; 5] = ["positive", "negative", "neutral", "mixed", "spam"];

fn data_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).expect("create target/bench-data");
    dir
}

/// Builds (once) the 1,000,000-row project.
fn text_project() -> PathBuf {
    let path = data_dir().join("validate-1m-rows-v1.keylabel");
    if path.exists() {
        return path;
    }
    let started = Instant::now();
    let partial = path.with_extension("partial");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", partial.display()));
    }
    let names: Vec<String> = CLASSES.iter().map(|c| c.to_string()).collect();
    let mut p = Project::create(&partial, &names, TaskKind::SingleLabel).expect("create");
    let ids: Vec<keylabel::project::ClassId> = CLASSES
        .iter()
        .map(|c| p.class_by_name(c).unwrap().unwrap().id)
        .collect();
    const BATCH: u64 = 50_000;
    for start in (0..ROWS).step_by(BATCH as usize) {
        let samples: Vec<NewSample> = (start..start + BATCH)
            .map(|i| {
                let text = if i % 1000 == 7 {
                    String::new()
                } else {
                    format!(
                        "review {i}: the product arrived on day {} and works as described",
                        i % 31
                    )
                };
                NewSample {
                    kind: SampleKind::Text,
                    name: format!("reviews.csv#{}", i + 1),
                    path: "reviews.csv".into(),
                    row: Some(i as i64 + 1),
                    hash: blake3::hash(format!("{i}\u{0}{text}").as_bytes())
                        .to_hex()
                        .to_string(),
                    sha256: None,
                    bytes: text.len() as u64,
                    width: None,
                    height: None,
                    format: None,
                    text: Some(text),
                    features: Some(
                        serde_json::json!({"stars": (i % 5) + 1, "verified": i % 3 == 0})
                            .as_object()
                            .unwrap()
                            .clone(),
                    ),
                }
            })
            .collect();
        let outcomes = p.insert_samples(&samples).expect("insert");
        let first = match outcomes[0] {
            keylabel::project::InsertOutcome::Added(id) => id,
            o => panic!("{o:?}"),
        };
        let mut events = Vec::with_capacity(BATCH as usize + BATCH as usize / 10);
        for k in 0..BATCH {
            let (i, id) = (start + k, SampleId(first.0 + k as i64));
            // Skewed classes: positive most, spam least.
            let class = ids[[0, 0, 0, 1, 1, 2, 3, 0, 1, 4][(i % 10) as usize]];
            match i % 100 {
                0..=94 => {
                    events.push(NewEvent::label(id, "ann", vec![class]));
                    if i % 20 == 0 {
                        // A second annotator on 5%: agreeing, except every third.
                        let other = if i % 60 == 0 {
                            ids[(i as usize / 60) % 5]
                        } else {
                            class
                        };
                        events.push(NewEvent::label(id, "bob", vec![other]));
                        if i % 60 == 0 && i % 120 != 0 {
                            let mut r = NewEvent::new(id, "rev", EventKind::Review);
                            r.labels = vec![class];
                            events.push(r);
                        }
                    }
                }
                95 | 96 => events.push(NewEvent::new(id, "ann", EventKind::Skip)),
                97 => events.push(NewEvent::new(id, "ann", EventKind::Exclude)),
                _ => {}
            }
        }
        p.record_all(&events).expect("record");
    }
    p.set_setting_value(
        "last_export",
        &serde_json::json!({"classes": {"positive": 400000, "negative": 300000,
            "neutral": 100000, "mixed": 100000, "spam": 100000}, "total": 1000000}),
    )
    .expect("setting");
    keylabel_testkit::fixtures::sql(&p)
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .expect("checkpoint");
    drop(p);
    std::fs::rename(&partial, &path).expect("rename");
    eprintln!("generated {} in {:.1?}", path.display(), started.elapsed());
    path
}

/// Builds (once) the project of 2,000 labeled 640×480 JPEGs; every 50th is a brightened,
/// re-encoded copy of the one before it.
fn photo_project() -> PathBuf {
    let dir = data_dir().join("validate-photos-v2");
    let path = dir.join("photos.keylabel");
    if path.exists() {
        return path;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("img")).expect("mkdir");
    let started = Instant::now();
    let files: Vec<(String, Vec<u8>)> = (0..PHOTOS)
        .into_par_iter()
        .map(|i| {
            let img = if i % 50 == 49 {
                let src = keylabel_testkit::images::photo(640, 480, i - 1);
                RgbImage::from_fn(640, 480, |x, y| {
                    Rgb(src.get_pixel(x, y).0.map(|v| v.saturating_add(15)))
                })
            } else {
                keylabel_testkit::images::photo(640, 480, i)
            };
            let mut buf = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 85)
                .encode_image(&img)
                .expect("encode");
            (format!("img/photo_{i:05}.jpg"), buf)
        })
        .collect();
    let mut p = jpeg_project(&dir, &path, &files, (640, 480));
    let cat = p.class_by_name("cat").unwrap().unwrap().id;
    let dog = p.class_by_name("dog").unwrap().unwrap().id;
    let events: Vec<NewEvent> = (1..=PHOTOS as i64)
        .map(|id| {
            NewEvent::label(
                SampleId(id),
                "ann",
                vec![if id % 2 == 0 { cat } else { dog }],
            )
        })
        .collect();
    p.record_all(&events).expect("record");
    eprintln!("generated {} in {:.1?}", path.display(), started.elapsed());
    path
}

/// A project of classes `cat` and `dog` at `path` whose samples are `files` (name, JPEG
/// bytes of `size`), written under `dir`.
fn jpeg_project(dir: &Path, path: &Path, files: &[(String, Vec<u8>)], size: (u32, u32)) -> Project {
    let names: Vec<String> = ["cat", "dog"].iter().map(|c| c.to_string()).collect();
    let mut p = Project::create(path, &names, TaskKind::SingleLabel).expect("create");
    let samples: Vec<NewSample> = files
        .iter()
        .map(|(name, bytes)| {
            std::fs::write(dir.join(name), bytes).expect("write");
            NewSample::image(
                name.clone(),
                blake3::hash(bytes).to_hex().to_string(),
                bytes.len() as u64,
                Some(size),
                Some("jpeg".into()),
            )
        })
        .collect();
    p.insert_samples(&samples).expect("insert");
    p
}

/// Fifty labeled 12 MP JPEGs, with EXIF thumbnails when `phone`.
fn large_photo_project(phone: bool) -> PathBuf {
    let name = if phone { "phone" } else { "no-thumbnail" };
    let dir = data_dir().join(format!("validate-12mp-{name}-v1"));
    let path = dir.join("photos.keylabel");
    if path.exists() {
        return path;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("img")).expect("mkdir");
    let started = Instant::now();
    let files: Vec<(String, Vec<u8>)> = (0..LARGE_PHOTOS)
        .into_par_iter()
        .map(|i| {
            let img = keylabel_testkit::images::photo(4000, 3000, i + 100);
            let bytes = if phone {
                keylabel_testkit::images::phone_jpeg(&img, 90)
            } else {
                keylabel_testkit::images::jpeg(&img, 90)
            };
            (format!("img/IMG_{i:04}.jpg"), bytes)
        })
        .collect();
    let mut p = jpeg_project(&dir, &path, &files, (4000, 3000));
    let cat = p.class_by_name("cat").unwrap().unwrap().id;
    let events: Vec<NewEvent> = (1..=LARGE_PHOTOS as i64)
        .map(|id| NewEvent::label(SampleId(id), "ann", vec![cat]))
        .collect();
    p.record_all(&events).expect("record");
    let mb = files.iter().map(|(_, b)| b.len()).sum::<usize>() as f64 / 1e6;
    eprintln!(
        "generated {} ({mb:.0} MB) in {:.1?}",
        path.display(),
        started.elapsed()
    );
    path
}

fn bench_large_photos(c: &mut Criterion) {
    let mut group = c.benchmark_group("large_photos");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(LARGE_PHOTOS));
    for phone in [true, false] {
        let project = Project::open(&large_photo_project(phone)).expect("open");
        let clear = || {
            keylabel_testkit::fixtures::sql(&project)
                .execute("DELETE FROM perceptual_hashes", [])
                .expect("clear cache");
        };
        clear();
        let wall = Instant::now();
        validate(&project, &Options::default()).expect("validate");
        eprintln!(
            "{}: first validation of {LARGE_PHOTOS} 12 MP JPEGs in {:.2} s ({:.0} images/s)",
            if phone { "phone" } else { "no_thumbnail" },
            wall.elapsed().as_secs_f64(),
            LARGE_PHOTOS as f64 / wall.elapsed().as_secs_f64()
        );
        let id = if phone { "phone" } else { "no_thumbnail" };
        group.bench_function(id, |b| {
            b.iter_batched(
                clear,
                |()| validate(&project, &Options::default()).expect("validate"),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

fn bench_text_rows(c: &mut Criterion) {
    let path = text_project();
    let project = Project::open(&path).expect("open");
    let options = Options {
        near_duplicates: false,
        ..Options::default()
    };
    let report = validate(&project, &options).expect("validate");
    for f in &report.findings {
        eprintln!("  {} {:?} {}", f.code, f.severity, f.count);
    }
    let mut group = c.benchmark_group("validate");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(ROWS));
    group.bench_function("1m_text_rows", |b| {
        b.iter(|| validate(&project, &options).expect("validate"))
    });
    group.finish();
}

fn bench_near_duplicates(c: &mut Criterion) {
    let path = photo_project();
    let project = Project::open(&path).expect("open");
    let with = Options::default();
    let without = Options {
        near_duplicates: false,
        ..Options::default()
    };
    let report = validate(&project, &with).expect("validate");
    for f in &report.findings {
        eprintln!("  {} {:?} {}", f.code, f.severity, f.count);
    }
    // On a shared machine wall time depends on the other load; CPU time per image does not.
    keylabel_testkit::fixtures::sql(&project)
        .execute("DELETE FROM perceptual_hashes", [])
        .expect("clear cache");
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    validate(&project, &with).expect("validate");
    if let (Some(before), Some(after)) = (cpu, cpu_seconds()) {
        let cpu = after - before;
        eprintln!(
            "first run: {PHOTOS} images in {:.2} s wall, {cpu:.2} s CPU: {:.0} images per \
             CPU-second ({} cores available)",
            wall.elapsed().as_secs_f64(),
            PHOTOS as f64 / cpu,
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
    }
    let mut group = c.benchmark_group("near_duplicates");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements(PHOTOS));
    group.bench_function("first_run", |b| {
        b.iter_batched(
            || {
                keylabel_testkit::fixtures::sql(&project)
                    .execute("DELETE FROM perceptual_hashes", [])
                    .expect("clear cache");
            },
            |()| validate(&project, &with).expect("validate"),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("cached", |b| {
        b.iter(|| validate(&project, &with).expect("validate"))
    });
    group.bench_function("files_only", |b| {
        b.iter(|| validate(&project, &without).expect("validate"))
    });
    group.finish();
}

/// User + system CPU time of this process so far, from `/proc/self/stat` (Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let (utime, stime): (f64, f64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    // Clock ticks; 100 per second on every Linux configuration keylabel runs on.
    Some((utime + stime) / 100.0)
}

criterion_group!(
    benches,
    bench_text_rows,
    bench_near_duplicates,
    bench_large_photos
);
criterion_main!(benches);
