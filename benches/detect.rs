//! Object detection at scale, measured on the real release binary.
//!
//! `cargo bench --bench detect` builds a detect project of 100,000 image samples (records
//! only: `import-labels` reads no image file), writes a COCO annotation file with
//! 1,000,000 boxes over them, and times `keylabel import-labels` of it: seconds, CPU and
//! the peak memory of that process. Target (issue "Object detection"): ≤ 20 s, ≤ 1 GB.
//! `KEYLABEL_BENCH_DETECT_IMAGES` and `KEYLABEL_BENCH_DETECT_BOXES` (per image) change the
//! sizes.

use std::io::{BufWriter, Write};
use std::time::Instant;

use keylabel::TaskKind;
use keylabel::project::{NewSample, Project};
use keylabel_testkit::Rng;

const BIN: &str = env!("CARGO_BIN_EXE_keylabel");

fn env_count(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let images = env_count("KEYLABEL_BENCH_DETECT_IMAGES", 100_000);
    let per_image = env_count("KEYLABEL_BENCH_DETECT_BOXES", 10);
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("p.keylabel");
    let classes: Vec<String> = (0..10).map(|i| format!("class{i}")).collect();
    let t = Instant::now();
    let mut project = Project::create(&path, &classes, TaskKind::Detect).expect("project");
    let mut rng = Rng::new(7);
    let mut batch = Vec::new();
    let size = |i: u64| (640 + (i % 7) as u32 * 100, 480 + (i % 5) as u32 * 60);
    for i in 0..images {
        let hash = blake3::hash(&i.to_le_bytes()).to_hex().to_string();
        batch.push(NewSample::image(
            format!("frames/{:03}/frame_{i:06}.jpg", i / 1000),
            hash,
            50_000,
            Some(size(i)),
            Some("jpeg".into()),
        ));
        if batch.len() == 10_000 {
            project.insert_samples(&batch).expect("insert");
            batch.clear();
        }
    }
    project.insert_samples(&batch).expect("insert");
    drop(project);

    let coco = dir.path().join("instances.json");
    let mut out = BufWriter::new(std::fs::File::create(&coco).expect("coco file"));
    write!(out, "{{\"images\": [").unwrap();
    for i in 0..images {
        let (w, h) = size(i);
        let sep = if i == 0 { "" } else { ", " };
        write!(
            out,
            "{sep}{{\"id\": {i}, \"file_name\": \"frame_{i:06}.jpg\", \"width\": {w}, \"height\": {h}}}"
        )
        .unwrap();
    }
    write!(out, "], \"annotations\": [").unwrap();
    let mut n = 0u64;
    for i in 0..images {
        let (w, h) = size(i);
        for _ in 0..per_image {
            let bw = 10.0 + rng.unit() * 100.0;
            let bh = 10.0 + rng.unit() * 100.0;
            let x = rng.unit() * (f64::from(w) - bw);
            let y = rng.unit() * (f64::from(h) - bh);
            let sep = if n == 0 { "" } else { ", " };
            write!(
                out,
                "{sep}{{\"id\": {n}, \"image_id\": {i}, \"category_id\": {}, \"bbox\": \
                 [{x:.2}, {y:.2}, {bw:.2}, {bh:.2}], \"area\": {:.2}, \"iscrowd\": 0}}",
                1 + rng.below(10u64),
                bw * bh
            )
            .unwrap();
            n += 1;
        }
    }
    write!(out, "], \"categories\": [").unwrap();
    for i in 0..10 {
        let sep = if i == 0 { "" } else { ", " };
        write!(out, "{sep}{{\"id\": {}, \"name\": \"class{i}\"}}", i + 1).unwrap();
    }
    writeln!(out, "]}}").unwrap();
    out.flush().unwrap();
    drop(out);
    let mb = std::fs::metadata(&coco).unwrap().len() as f64 / 1e6;
    println!(
        "setup: {images} image samples and a COCO file of {n} boxes ({mb:.0} MB) in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let run = keylabel_testkit::measure::run(
        BIN,
        dir.path(),
        &[
            "-p",
            "p.keylabel",
            "--annotator",
            "bench",
            "import-labels",
            "instances.json",
        ],
    );
    print!("{}", run.stdout);
    println!(
        "import-labels of {n} COCO boxes on {images} images: {:.2} s (target <= 20 s), CPU \
         {:.2} s, peak RSS {:.0} MB (target <= 1024 MB)",
        run.wall.as_secs_f64(),
        run.cpu.as_secs_f64(),
        run.max_rss_bytes as f64 / 1e6
    );
    let project = Project::open(&path).expect("open");
    let status = project.status().expect("status");
    assert_eq!(status.boxes, Some(n), "every box is in the project");
}
