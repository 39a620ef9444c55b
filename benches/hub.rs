//! The team hub on a real PostgreSQL server, through keylabel's own code: replicas, their
//! syncs, and the window's background sync as the window runs it.
//!
//! 1. Intake: 20 annotators, each on its own replica with its own connection, record
//!    labels (one transaction each, as keystrokes are), then all push at once, ten events
//!    per transaction: events per second the hub takes. Then every replica pulls all the
//!    others' events at once (on a team each replica is on its own machine; here all
//!    twenty share this one with the server).
//! 2. Visibility: 20 annotators labeling at a human pace (one label every 0.5–1.5 s each)
//!    with the window's background sync ([`HubSync`]), and a reviewer's replica synced the
//!    same way: the time from an annotator's commit until the event is in the reviewer's
//!    replica.
//! 3. (run first) `join` of a 1,000,000-sample project (metadata only): the real binary's wall time
//!    and peak resident memory; `hub publish` of that project; and `next` (a sync and a
//!    claim) on it, at the start and once half of it is labeled.
//!
//! `KEYLABEL_BENCH_PG=<superuser URL> cargo bench --bench hub` (else `KEYLABEL_TEST_PG`;
//! `scripts/pg-test-server DIR` starts a throwaway server and prints its URL). Env:
//! `KEYLABEL_BENCH_ANNOTATORS` (20), `KEYLABEL_BENCH_EVENTS` per annotator (2,500),
//! `KEYLABEL_BENCH_HUB_SECS` (30), `KEYLABEL_BENCH_SAMPLES` (1,000,000). Data in
//! `target/hub-bench/`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use keylabel::app::hub_sync::HubSync;
use keylabel::hub::{self, HubUrl, Role};
use keylabel::project::{NewEvent, NewSample, SampleId};
use keylabel::{Project, TaskKind};
use keylabel_testkit::Rng;
use keylabel_testkit::fixtures::text_row;
use keylabel_testkit::hub::{BenchHub, PASSWORD, server_url};
use keylabel_testkit::measure;
use keylabel_testkit::measure::env_num;

const BIN: &str = env!("CARGO_BIN_EXE_keylabel");

fn data_dir() -> PathBuf {
    keylabel_testkit::measure::bench_dir("hub-bench")
}

/// A fresh classification project of `n` text rows at `path` (classes pos, neg).
fn rows_project(path: &Path, n: usize) -> Project {
    for f in [path.to_path_buf(), path.with_extension("keylabel-wal")] {
        let _ = std::fs::remove_file(f);
    }
    let mut p = Project::create(path, &["pos".into(), "neg".into()], TaskKind::SingleLabel)
        .expect("create project");
    for start in (0..n).step_by(50_000) {
        let batch: Vec<NewSample> = (start..(start + 50_000).min(n))
            .map(|i| {
                text_row(
                    "rows.csv",
                    i + 1,
                    &format!("Row {i}: the product arrived on time and works."),
                    None,
                )
            })
            .collect();
        p.insert_samples(&batch).expect("insert samples");
    }
    p
}

/// A hub project `name` of `n` rows published from a new local project, and a replica
/// joined for each of `logins`.
fn published(hub: &BenchHub, name: &str, n: usize, logins: &[String]) -> Vec<PathBuf> {
    let dir = data_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut p = rows_project(&dir.join("publisher.keylabel"), n);
    hub::publish(
        &mut p,
        &hub.admin(),
        name,
        false,
        &keylabel::progress::NoProgress,
    )
    .expect("publish");
    logins
        .iter()
        .map(|l| {
            let r = dir.join(format!("{l}.keylabel"));
            hub::join(&HubUrl::parse(&hub.url_of(l)).unwrap(), name, &r, None).expect("join");
            r
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn intake(hub: &BenchHub, logins: &[String], per: usize) {
    println!(
        "== intake: {} annotators, {per} labels each, pushed at once ten per transaction",
        logins.len()
    );
    let replicas = published(hub, "intake", per, logins);
    // Each replica first records its labels (one transaction each, as keystrokes are);
    // then all push at once, ten events per transaction, as twenty windows syncing after
    // every few decisions do.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(logins.len() + 1));
    let workers: Vec<_> = logins
        .iter()
        .zip(replicas.clone())
        .map(|(login, path)| {
            let (login, barrier) = (login.clone(), std::sync::Arc::clone(&barrier));
            let url = HubUrl::parse(&hub.url_of(&login)).unwrap();
            std::thread::spawn(move || {
                let mut p = Project::open(&path).unwrap();
                let pos = p.class_by_name("pos").unwrap().unwrap().id;
                for i in 0..per {
                    p.record(NewEvent::label(SampleId(i as i64 + 1), &login, vec![pos]))
                        .unwrap();
                }
                let mut client = url.connect().unwrap();
                barrier.wait();
                barrier.wait();
                hub::push_on(&mut p, &mut client, 10, hub::Refused::Skip)
                    .unwrap()
                    .pushed
            })
        })
        .collect();
    let start = Instant::now();
    barrier.wait();
    let recorded = start.elapsed().as_secs_f64();
    let start = Instant::now();
    barrier.wait();
    let pushed: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let wall = start.elapsed().as_secs_f64();
    let total = (logins.len() * per) as u64;
    assert_eq!(pushed, total, "every label pushed once");
    let mut admin = postgres::Client::connect(&hub.admin_url, postgres::NoTls).unwrap();
    let on_hub: i64 = admin
        .query_one(
            "SELECT count(*) FROM keylabel.events e \
             JOIN keylabel.projects p ON p.id = e.project_id WHERE p.name = 'intake'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(on_hub as u64, total, "events on the hub");
    println!(
        "  recorded in the replicas in {recorded:.2} s; pushed by all at once in {wall:.2} s: \
         {:.0} events/s taken by the hub",
        total as f64 / wall
    );
    // Then every replica pulls the others' events, all at once.
    let start = Instant::now();
    let pullers: Vec<_> = replicas
        .iter()
        .map(|path| {
            let path = path.clone();
            std::thread::spawn(move || {
                hub::sync(&mut Project::open(&path).unwrap(), hub::Refused::Skip).unwrap()
            })
        })
        .collect();
    for p in pullers {
        let s = p.join().unwrap();
        assert_eq!(s.pulled, total - per as u64, "the others' events");
    }
    let wall = start.elapsed().as_secs_f64();
    let pulled = (total - per as u64) * logins.len() as u64;
    println!(
        "  then all {} replicas pull the others' events at once: {pulled} events into the \
         replicas in {wall:.2} s ({:.0} events/s per replica, all on this machine)",
        logins.len(),
        pulled as f64 / wall / logins.len() as f64
    );
}

fn visibility(hub: &BenchHub, logins: &[String], reviewer: &str, secs: u64) {
    println!(
        "== visibility: {} annotators, one label every 0.5-1.5 s each, for {secs} s, with the \
         window's background sync; seen in a reviewer's replica",
        logins.len()
    );
    let mut all: Vec<String> = logins.to_vec();
    all.push(reviewer.to_string());
    let mut replicas = published(hub, "live", 20_000, &all);
    let review_path = replicas.pop().unwrap();
    let review_sync = HubSync::start(&review_path, "live".into(), None);
    review_sync.set_claiming(false);
    let (made_tx, made_rx) = channel::<(String, Instant)>();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let workers: Vec<_> = logins
        .iter()
        .zip(replicas)
        .enumerate()
        .map(|(k, (login, path))| {
            let (login, made) = (login.clone(), made_tx.clone());
            std::thread::spawn(move || {
                let sync = HubSync::start(&path, "live".into(), None);
                let mut p = Project::open(&path).unwrap();
                let pos = p.class_by_name("pos").unwrap().unwrap().id;
                let mut rng = Rng::new(k as u64 + 1);
                let mut i = 0;
                loop {
                    let pause = Duration::from_millis(500 + rng.below(1000));
                    if Instant::now() + pause > deadline {
                        break;
                    }
                    std::thread::sleep(pause);
                    let sample = SampleId((k * 1000 + i) as i64 + 1);
                    let uid = p
                        .record(NewEvent::label(sample, &login, vec![pos]))
                        .unwrap();
                    made.send((uid, Instant::now())).unwrap();
                    sync.poke();
                    i += 1;
                }
                // Time for the last syncs before the window closes.
                std::thread::sleep(Duration::from_secs(3));
            })
        })
        .collect();
    drop(made_tx);
    // The reviewer's replica, read every 5 ms as the window reads it after a sync.
    let observer = Project::open(&review_path).unwrap();
    let mut seen: HashMap<String, Instant> = HashMap::new();
    let stop = deadline + Duration::from_secs(5);
    while Instant::now() < stop {
        observer
            .each_logged_event(|e| {
                seen.entry(e.uid).or_insert_with(Instant::now);
                Ok(())
            })
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    for w in workers {
        w.join().unwrap();
    }
    let made: Vec<(String, Instant)> = made_rx.iter().collect();
    let mut ms: Vec<f64> = made
        .iter()
        .filter_map(|(uid, t)| {
            seen.get(uid)
                .map(|s| s.duration_since(*t).as_secs_f64() * 1e3)
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    println!(
        "  {} labels made, {} seen by the reviewer: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms \
         (the reviewer's replica read every 5 ms)",
        made.len(),
        ms.len(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or(f64::NAN)
    );
    drop(review_sync);
}

/// A measured run's peak memory, said as what it is known to be.
fn peak(run: &measure::Run) -> String {
    let mb = run.max_rss_bytes as f64 / 1e6;
    if run.peak_is_own() {
        format!("{mb:.0} MB")
    } else {
        format!("at most {mb:.0} MB (the figure Linux gives includes this benchmark's own peak)")
    }
}

fn join_million(hub: &BenchHub, n: usize) {
    println!("== join of a {n}-sample project (metadata only)");
    let dir = data_dir().join("million");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    drop(rows_project(&dir.join("publisher.keylabel"), n));
    let run = measure::run(
        BIN,
        &dir,
        &[
            "-p",
            "publisher.keylabel",
            "hub",
            "publish",
            &hub.admin_url,
            "--name",
            "million",
        ],
    );
    println!(
        "  keylabel hub publish: {:.1} s wall, {:.1} s CPU, peak resident memory {}",
        run.wall.as_secs_f64(),
        run.cpu.as_secs_f64(),
        peak(&run)
    );
    // The publish's writes flushed first (the server's and this machine's), so that the
    // join is measured on its own, as on an annotator's machine.
    postgres::Client::connect(&hub.admin_url, postgres::NoTls)
        .and_then(|mut c| c.batch_execute("CHECKPOINT"))
        .unwrap();
    let _ = std::process::Command::new("sync").status();
    let login = hub.user("joiner", Role::Annotator);
    let url = hub.url_of(&login);
    let run = measure::run(
        BIN,
        &dir,
        &["-p", "replica.keylabel", "join", &url, "--name", "million"],
    );
    let mut joined = Project::open(&dir.join("replica.keylabel")).unwrap();
    assert_eq!(joined.sample_count().unwrap(), n as u64);
    println!(
        "  keylabel join: {:.1} s wall, {:.1} s CPU, peak resident memory {}",
        run.wall.as_secs_f64(),
        run.cpu.as_secs_f64(),
        peak(&run)
    );

    // A claim at the start and with half the samples labeled (the claim looks for the
    // first open sample in queue order).
    let next = |what: &str| {
        let runs: Vec<measure::Run> = (0..3)
            .map(|_| measure::run(BIN, &dir, &["-p", "replica.keylabel", "next", "--json"]))
            .collect();
        let best = runs.iter().map(|r| r.wall).min().unwrap();
        println!(
            "  keylabel next ({what}): {:.0} ms wall, best of 3 (a sync, then the claim)",
            best.as_secs_f64() * 1e3
        );
    };
    next("nothing labeled yet");
    let pos = joined.class_by_name("pos").unwrap().unwrap().id;
    let half = n / 2;
    for start in (0..half).step_by(50_000) {
        let batch: Vec<NewEvent> = (start..(start + 50_000).min(half))
            .map(|i| NewEvent::label(SampleId(i as i64 + 1), &login, vec![pos]))
            .collect();
        joined.record_all(&batch).unwrap();
    }
    let url = HubUrl::parse(&url).unwrap();
    let t = Instant::now();
    hub::push_on(
        &mut joined,
        &mut url.connect().unwrap(),
        5_000,
        hub::Refused::Skip,
    )
    .unwrap();
    println!(
        "  {half} labels pushed by one replica in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    drop(joined);
    next(&format!("{half} samples labeled"));

    // The admin sets a QA fraction: every sample's need is set on the hub in one
    // transaction, and a claim still walks only the open samples (those the fraction
    // selects among the labeled ones, and the unlabeled ones after them).
    let admin = HubUrl::parse(&hub.admin_url).unwrap();
    let password: postgres::Config = hub.admin_url.parse().unwrap();
    let password = std::str::from_utf8(password.get_password().unwrap_or_default()).unwrap();
    admin.give_password(password, false);
    let publisher = Project::open(&dir.join("publisher.keylabel")).unwrap();
    let t = Instant::now();
    hub::settings::change(&publisher, "qa-fraction", "0.1").unwrap();
    println!(
        "  settings set qa-fraction 0.1 on the admin's replica: {:.1} s (the need of each of \
         the {n} samples set on the hub)",
        t.elapsed().as_secs_f64()
    );
    next(&format!("{half} samples labeled, QA fraction 0.1"));
}

fn main() {
    let Some(url) = server_url() else {
        println!(
            "hub benchmark skipped: set KEYLABEL_BENCH_PG to a PostgreSQL superuser's URL \
             (scripts/pg-test-server DIR prints one)"
        );
        return;
    };
    // SAFETY: set before any thread starts.
    unsafe { std::env::set_var("PGPASSWORD", PASSWORD) };
    let annotators = env_num("KEYLABEL_BENCH_ANNOTATORS", 20);
    let per = env_num("KEYLABEL_BENCH_EVENTS", 2_500);
    let secs = env_num("KEYLABEL_BENCH_HUB_SECS", 30) as u64;
    let samples = env_num("KEYLABEL_BENCH_SAMPLES", 1_000_000);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("keylabel hub benchmark ({cores} cores, the PostgreSQL server on this machine too)");
    let hub = BenchHub::fresh(&url, "klbench");
    let logins: Vec<String> = (0..annotators)
        .map(|i| hub.user(&format!("a{i}"), Role::Annotator))
        .collect();
    let reviewer = hub.user("rita", Role::Reviewer);
    // The join first: a measured child's peak memory cannot be told from this process's
    // when this one's is higher (see `measure::Run`).
    join_million(&hub, samples);
    intake(&hub, &logins, per);
    visibility(&hub, &logins, &reviewer, secs);
    std::io::stdout().flush().ok();
}
