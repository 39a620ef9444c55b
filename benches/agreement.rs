//! Agreement at scale: 1,000,000 labels from 20 annotators (250,000 samples, 4 annotators
//! each, 5 classes), target ≤ 1 s.
//!
//! Two measurements: the statistics alone on ratings built in memory, and the whole
//! `agreement` path on a real project file (read every label from SQLite, then compute).
//! Dawid–Skene and the per-annotator statistics on the same labels are timed once for
//! information.
//! Run with `cargo bench --bench agreement`; set `KEYLABEL_BENCH_QUICK=1` for a smaller run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use keylabel::TaskKind;
use keylabel::project::{NewEvent, NewSample, Project, SampleKind};
use keylabel::review::agreement::{self, Rating, Ratings};
use keylabel::review::dawid_skene::{Options as DsOptions, dawid_skene};

const ANNOTATORS: u32 = 20;
const PER_SAMPLE: u32 = 4;
const CLASSES: u32 = 5;

/// For each sample: `PER_SAMPLE` distinct annotators and their classes (80 % agree with a
/// hidden true class).
fn generate(samples: usize) -> Vec<Vec<(u32, u32)>> {
    let mut rng = keylabel_testkit::Rng::new(42);
    (0..samples)
        .map(|_| {
            let truth = rng.below(CLASSES);
            let mut who: Vec<u32> = Vec::with_capacity(PER_SAMPLE as usize);
            while who.len() < PER_SAMPLE as usize {
                let a = rng.below(ANNOTATORS);
                if !who.contains(&a) {
                    who.push(a);
                }
            }
            who.into_iter()
                .map(|a| {
                    let c = if rng.below(10u32) < 8 {
                        truth
                    } else {
                        rng.below(CLASSES)
                    };
                    (a, c)
                })
                .collect()
        })
        .collect()
}

fn in_memory(data: &[Vec<(u32, u32)>]) -> Ratings {
    let mut r = Ratings::new(ANNOTATORS as usize, CLASSES as usize);
    let mut item = Vec::new();
    for s in data {
        item.clear();
        item.extend(s.iter().map(|&(a, c)| Rating::new(a, c)));
        r.push_item(&item).expect("valid ratings");
    }
    r
}

/// Everything `keylabel agreement` computes.
fn all_statistics(r: &Ratings) -> usize {
    let p = agreement::percent_agreement(r);
    let k = agreement::cohen_kappa_pairs(r);
    let f = agreement::fleiss_kappa(r);
    let a = agreement::krippendorff_alpha(r);
    black_box((&p, &f, &a));
    k.len()
}

fn write_project(dir: &std::path::Path, data: &[Vec<(u32, u32)>]) -> std::path::PathBuf {
    let path = dir.join("bench.keylabel");
    let classes: Vec<String> = (0..CLASSES).map(|c| format!("class{c}")).collect();
    let mut p = Project::create(&path, &classes, TaskKind::SingleLabel).expect("create");
    let ids: Vec<keylabel::project::ClassId> =
        p.classes().expect("classes").iter().map(|c| c.id).collect();
    let started = Instant::now();
    for (chunk_no, chunk) in data.chunks(25_000).enumerate() {
        let batch: Vec<NewSample> = (0..chunk.len())
            .map(|i| {
                let name = format!("s{:07}", chunk_no * 25_000 + i);
                NewSample {
                    kind: SampleKind::Text,
                    hash: blake3::hash(name.as_bytes()).to_hex().to_string(),
                    path: "rows.csv".into(),
                    row: Some((chunk_no * 25_000 + i) as i64 + 1),
                    name,
                    sha256: None,
                    bytes: 1,
                    width: None,
                    height: None,
                    format: None,
                    text: Some("text".into()),
                    features: None,
                }
            })
            .collect();
        let out = p.insert_samples(&batch).expect("insert samples");
        let mut events = Vec::with_capacity(chunk.len() * PER_SAMPLE as usize);
        for (o, s) in out.iter().zip(chunk) {
            let keylabel::project::InsertOutcome::Added(id) = o else {
                panic!("sample not added: {o:?}");
            };
            for &(a, c) in s {
                events.push(NewEvent::label(
                    *id,
                    &format!("annotator{a:02}"),
                    vec![ids[c as usize]],
                ));
            }
        }
        p.record_all(&events).expect("record labels");
    }
    eprintln!(
        "wrote {} labels to {} in {:.1} s",
        data.len() * PER_SAMPLE as usize,
        path.display(),
        started.elapsed().as_secs_f64()
    );
    path
}

fn main() {
    let quick = std::env::var("KEYLABEL_BENCH_QUICK").is_ok_and(|v| v == "1");
    let samples = if quick { 25_000 } else { 250_000 };
    let data = generate(samples);
    let labels = samples * PER_SAMPLE as usize;
    let ratings = in_memory(&data);
    assert_eq!(ratings.ratings(), labels);

    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_project(dir.path(), &data);
    let project = Project::open(&path).expect("open");

    // One timed run of each, printed plainly, before criterion's statistics.
    let t = Instant::now();
    all_statistics(&ratings);
    let mem = t.elapsed();
    let t = Instant::now();
    let report = agreement::agreement(&project, false).expect("agreement");
    let file = t.elapsed();
    black_box(&report);
    assert_eq!(report.items as usize, samples);
    println!(
        "agreement over {labels} labels from {ANNOTATORS} annotators: in memory {:.3} s, \
         from the project file {:.3} s (alpha {:?})",
        mem.as_secs_f64(),
        file.as_secs_f64(),
        report.krippendorff_alpha.value
    );

    // The review view's annotator table (read on a background thread after each decision).
    let t = Instant::now();
    let stats = keylabel::review::annotators::annotator_stats(&project).expect("statistics");
    println!(
        "annotator statistics over {labels} labels ({} annotators): {:.3} s",
        stats.len(),
        t.elapsed().as_secs_f64()
    );

    // The review view's list: read on a background thread when it opens and again as a
    // hub's events arrive, up to 1,000 samples with their decisions and verdicts.
    let t = Instant::now();
    let queue = keylabel::review::review_queue(&project, 1000).expect("review queue");
    println!(
        "review queue of {} samples over {labels} labels: {:.3} s",
        queue.len(),
        t.elapsed().as_secs_f64()
    );
    // One sample's history: the history panel, and undo, read it.
    let t = Instant::now();
    let events = project
        .history(queue.first().map(|i| i.sample))
        .expect("history");
    println!(
        "history of one sample ({} events) in a log of {labels}: {:.3} ms",
        events.len(),
        t.elapsed().as_secs_f64() * 1000.0
    );

    // Dawid–Skene on the same ratings (the `dawid-skene` consensus policy), one run.
    let t = Instant::now();
    let est = dawid_skene(&ratings, &[], DsOptions::default());
    println!(
        "Dawid–Skene over {labels} labels: {:.3} s, {} EM rounds, converged: {}",
        t.elapsed().as_secs_f64(),
        est.iterations,
        est.converged
    );

    let mut c = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(if quick { 3 } else { 15 }))
        .configure_from_args();
    c.bench_function(&format!("agreement/in_memory/{labels}_labels"), |b| {
        b.iter(|| all_statistics(black_box(&ratings)))
    });
    c.bench_function(&format!("agreement/project_file/{labels}_labels"), |b| {
        b.iter(|| agreement::agreement(black_box(&project), false).expect("agreement"))
    });
    c.bench_function(
        &format!("agreement/project_file_by_class/{labels}_labels"),
        |b| b.iter(|| agreement::agreement(black_box(&project), true).expect("agreement")),
    );
    c.final_summary();
}
