//! Import and status at scale, measured on the real release binary.
//!
//! `cargo bench --bench scale` generates its data in a temporary folder and prints:
//! 1. importing 20,000 small image files (PNG and JPEG, a few KB each): files per second;
//! 2. importing a 1,000,000-row CSV (text and four typed columns): seconds and the peak
//!    memory (maximum resident set) of the `keylabel import` process;
//! 3. `keylabel status --json` on that million-sample project: seconds.
//!
//! Targets (issue 2): ≥ 5,000 files/s; ≤ 10 s and ≤ 300 MB; ≤ 0.5 s.
//! `KEYLABEL_BENCH_IMAGES` and `KEYLABEL_BENCH_ROWS` change the sizes.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use image::{ImageFormat, Rgb, RgbImage};
use keylabel_testkit::measure::Run;

const BIN: &str = env!("CARGO_BIN_EXE_keylabel");

/// A small deterministic generator, so that every run measures the same data.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Runs the keylabel binary and measures it.
fn run(dir: &Path, args: &[&str]) -> Run {
    keylabel_testkit::measure::run(BIN, dir, args)
}

fn env_count(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn write_images(folder: &Path, count: u64) {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for i in 0..count {
        let sub = folder.join(format!("class_{}", i % 10));
        if i < 10 {
            fs::create_dir_all(&sub).expect("image folder");
        }
        let (w, h) = (32 + rng.below(32) as u32, 32 + rng.below(32) as u32);
        let salt = i.to_le_bytes();
        let img = RgbImage::from_fn(w, h, |x, y| {
            let n = rng.next();
            if y == 0 && (x as usize) < salt.len() {
                // The index in the first row makes every file's content unique.
                Rgb([salt[x as usize], 0, 0])
            } else {
                Rgb([n as u8, (n >> 8) as u8, (x + y) as u8])
            }
        });
        let (name, format) = if i % 2 == 0 {
            (format!("img_{i:06}.png"), ImageFormat::Png)
        } else {
            (format!("img_{i:06}.jpg"), ImageFormat::Jpeg)
        };
        img.save_with_format(sub.join(name), format)
            .expect("write image");
    }
}

fn write_csv(path: &Path, rows: u64) {
    const WORDS: &[&str] = &[
        "the", "battery", "lasts", "long", "screen", "is", "bright", "but", "the", "case", "feels",
        "cheap", "delivery", "was", "fast", "great", "value", "would", "buy", "again", "not",
        "worth", "it", "sound", "quality", "café", "naïve", "😀",
    ];
    const CATEGORIES: &[&str] = &["phone", "laptop", "audio", "home", "garden", "toys"];
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let mut out = BufWriter::with_capacity(1 << 20, fs::File::create(path).expect("csv"));
    writeln!(out, "id,text,stars,price,category,helpful").expect("write");
    let mut text = String::new();
    for i in 0..rows {
        text.clear();
        let words = 6 + rng.below(10);
        for w in 0..words {
            if w > 0 {
                text.push(' ');
            }
            text.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
        }
        writeln!(
            out,
            "r{i},\"{text} #{i}\",{},{}.{:02},{},{}",
            1 + rng.below(5),
            rng.below(2000),
            rng.below(100),
            CATEGORIES[rng.below(CATEGORIES.len() as u64) as usize],
            if rng.below(4) == 0 {
                String::new()
            } else {
                rng.below(500).to_string()
            }
        )
        .expect("write");
    }
    out.flush().expect("flush");
}

fn added(run: &Run) -> u64 {
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("import JSON");
    v["added"].as_u64().unwrap_or(0)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn main() {
    // `cargo bench` passes `--bench`; a plain `cargo test --benches` run passes nothing and
    // only checks that this builds.
    if !std::env::args().any(|a| a == "--bench") {
        println!("scale: run with `cargo bench --bench scale`");
        return;
    }
    let images = env_count("KEYLABEL_BENCH_IMAGES", 20_000);
    let rows = env_count("KEYLABEL_BENCH_ROWS", 1_000_000);
    let dir = tempfile::TempDir::new().expect("temp dir");
    let root: PathBuf = dir.path().to_path_buf();
    println!("scale benchmark in {}", root.display());
    println!(
        "machine: {} logical CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // 1. Images.
    let t = Instant::now();
    write_images(&root.join("images"), images);
    let bytes: u64 = walk_size(&root.join("images"));
    println!(
        "generated {images} images ({:.1} MB, {:.1} KB average) in {:.1} s",
        mb(bytes),
        bytes as f64 / images as f64 / 1e3,
        t.elapsed().as_secs_f64()
    );
    run(
        &root,
        &["-p", "images.keylabel", "init", "--classes", "a,b,c"],
    );
    let r = run(
        &root,
        &["-p", "images.keylabel", "import", "images", "--json"],
    );
    assert_eq!(added(&r), images, "every image imported: {}", r.stdout);
    let rate = images as f64 / r.wall.as_secs_f64();
    println!(
        "import {images} image files: {:.2} s = {rate:.0} files/s (target >= 5000), \
         CPU {:.2} s, peak RSS {:.0} MB",
        r.wall.as_secs_f64(),
        r.cpu.as_secs_f64(),
        mb(r.max_rss_bytes)
    );

    // 2. A million-row CSV.
    let t = Instant::now();
    let csv = root.join("reviews.csv");
    write_csv(&csv, rows);
    println!(
        "generated {rows} CSV rows ({:.0} MB) in {:.1} s",
        mb(fs::metadata(&csv).map_or(0, |m| m.len())),
        t.elapsed().as_secs_f64()
    );
    run(
        &root,
        &["-p", "rows.keylabel", "init", "--classes", "pos,neg"],
    );
    let r = run(
        &root,
        &[
            "-p",
            "rows.keylabel",
            "import",
            "reviews.csv",
            "--id-column",
            "id",
            "--json",
        ],
    );
    assert_eq!(added(&r), rows, "every row imported: {}", r.stdout);
    println!(
        "import {rows}-row CSV: {:.2} s (target <= 10 s), CPU {:.2} s, peak RSS {:.0} MB \
         (target <= 300 MB)",
        r.wall.as_secs_f64(),
        r.cpu.as_secs_f64(),
        mb(r.max_rss_bytes)
    );

    // 3. Status on the million-sample project (best and worst of three).
    let runs: Vec<Run> = (0..3)
        .map(|_| {
            let r = run(&root, &["-p", "rows.keylabel", "status", "--json"]);
            let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("status JSON");
            assert_eq!(v["samples"].as_u64(), Some(rows));
            r
        })
        .collect();
    let best = runs
        .iter()
        .map(|r| r.wall.as_secs_f64())
        .fold(f64::INFINITY, f64::min);
    let worst = runs
        .iter()
        .map(|r| r.wall.as_secs_f64())
        .fold(0.0, f64::max);
    let cpu = runs
        .iter()
        .map(|r| r.cpu.as_secs_f64())
        .fold(f64::INFINITY, f64::min);
    println!(
        "status --json on {rows} samples: best {best:.3} s, worst {worst:.3} s, CPU {cpu:.3} s \
         (target <= 0.5 s)"
    );
    println!(
        "project file: {:.0} MB",
        mb(fs::metadata(root.join("rows.keylabel")).map_or(0, |m| m.len()))
    );
}

fn walk_size(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}
