//! Crashes lose nothing: the real binary killed (`SIGKILL`) at random moments while it
//! imports, records labels from a file, exports and merges, 20 runs of each. After every
//! kill the project passes `PRAGMA integrity_check`, and the next run finishes the job
//! exactly. (Killing `init` and the window is tested beside them: `project.rs`,
//! `.ci/window-test`.)

#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use keylabel::Project;
use keylabel_testkit::{Cli, Rng, images};

const RUNS: usize = 20;

fn cli(dir: &Path, project: &Path) -> Cli {
    crate::common::cli()
        .cwd(dir)
        .project(project)
        .annotator("ann")
}

fn spawn(cli: &Cli, args: &[&str]) -> Child {
    cli.command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// How long one uninterrupted run takes here, so kills land inside it.
fn duration(cli: &Cli, args: &[&str]) -> Duration {
    let t = Instant::now();
    cli.ok(args);
    t.elapsed()
}

/// Kills `child` at a random moment of `span` and a little after (so that some kills come
/// too late, and both outcomes are seen); whether it had finished.
fn kill_within(mut child: Child, span: Duration, rng: &mut Rng) -> bool {
    std::thread::sleep(span.mul_f64(1.25 * rng.unit()));
    let finished = child.try_wait().unwrap().is_some();
    let _ = child.kill();
    let _ = child.wait();
    finished
}

fn intact(path: &Path) -> Project {
    let p = Project::open(path).unwrap();
    p.integrity_check().unwrap();
    p
}

fn folder_of_images(dir: &Path, n: u32) -> PathBuf {
    let images_dir = dir.join("photos");
    for i in 0..n {
        images::save(
            &images_dir.join(format!("{i:04}.png")),
            images::pattern(24, 16, i),
            image::ImageFormat::Png,
        );
    }
    images_dir
}

fn rows_file(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("rows.csv");
    let mut text = String::from("text\n");
    for i in 0..n {
        text.push_str(&format!("row {i} of the table\n"));
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// A killed import keeps whole batches; importing again ends with exactly every sample.
#[test]
fn a_killed_import_is_finished_by_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let photos = folder_of_images(dir.path(), 150);
    let rows = rows_file(dir.path(), 20_000);
    let total = 150 + 20_000;
    let template = dir.path().join("template.keylabel");
    cli(dir.path(), &template).ok(&["init", "--classes", "a,b"]);
    let args = ["import", photos.to_str().unwrap(), rows.to_str().unwrap()];
    let span = {
        let p = dir.path().join("timing.keylabel");
        std::fs::copy(&template, &p).unwrap();
        duration(&cli(dir.path(), &p), &args)
    };
    let mut rng = Rng::new(1);
    for run in 0..RUNS {
        let path = dir.path().join(format!("run{run}.keylabel"));
        std::fs::copy(&template, &path).unwrap();
        let c = cli(dir.path(), &path);
        kill_within(spawn(&c, &args), span, &mut rng);
        let partial = intact(&path).sample_count().unwrap();
        eprintln!("import run {run}: killed with {partial} of {total} samples in");
        assert!(partial <= total, "run {run}: {partial}");
        c.ok(&args);
        assert_eq!(intact(&path).sample_count().unwrap(), total, "run {run}");
    }
}

/// A killed `import-labels` recorded all of its file or none of it.
#[test]
fn a_killed_import_labels_wrote_all_of_its_file_or_none() {
    let dir = tempfile::tempdir().unwrap();
    const ROWS: usize = 3_000;
    let rows = rows_file(dir.path(), ROWS);
    let path = dir.path().join("p.keylabel");
    let c = cli(dir.path(), &path);
    c.ok(&["init", "--classes", "a,b"]);
    c.ok(&["import", rows.to_str().unwrap()]);
    let labels_of = |run: usize| {
        // Each run labels every row with a class and an annotator of its own, so that a
        // run's labels are told from the last one's.
        let class = ["a", "b"][run % 2];
        let labels = dir.path().join(format!("labels{run}.csv"));
        let mut text = String::from("sample,label,annotator\n");
        for i in 1..=ROWS {
            text.push_str(&format!("rows.csv#{i},{class},run{run}\n"));
        }
        std::fs::write(&labels, text).unwrap();
        labels
    };
    let span = {
        let p = dir.path().join("timing.keylabel");
        std::fs::copy(&path, &p).unwrap();
        let l = labels_of(999);
        duration(
            &cli(dir.path(), &p),
            &["import-labels", l.to_str().unwrap()],
        )
    };
    let mut rng = Rng::new(2);
    let (mut none, mut all) = (0, 0);
    let mut span = span;
    for run in 0..RUNS {
        let labels = labels_of(run);
        let args = ["import-labels", labels.to_str().unwrap()];
        kill_within(spawn(&c, &args), span, &mut rng);
        let p = intact(&path);
        let mine: i64 = keylabel_testkit::fixtures::sql(&p)
            .query_row(
                "SELECT count(*) FROM events WHERE annotator = ?1",
                [format!("run{run}")],
                |r| r.get(0),
            )
            .unwrap();
        match mine {
            0 => none += 1,
            n if n as usize == ROWS => all += 1,
            n => panic!("run {run}: {n} of {ROWS} labels recorded"),
        }
        drop(p);
        // The log grows run by run: the next kill is timed on this run's length.
        span = duration(&c, &args);
    }
    eprintln!("import-labels killed: {none} wrote nothing, {all} wrote everything");
}

/// A killed export leaves no output folder (or the complete one); the next export cleans
/// its temporary folder and writes the same dataset.
#[test]
fn a_killed_export_leaves_nothing_or_the_whole_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let photos = folder_of_images(dir.path(), 60);
    let path = dir.path().join("p.keylabel");
    let c = cli(dir.path(), &path);
    c.ok(&["init", "--classes", "a,b"]);
    c.ok(&["import", photos.to_str().unwrap()]);
    let labels: String = (0..60)
        .map(|i| format!("photos/{i:04}.png,{}\n", ["a", "b"][i % 2]))
        .collect();
    std::fs::write(dir.path().join("l.csv"), format!("sample,label\n{labels}")).unwrap();
    c.ok(&["import-labels", "l.csv"]);
    let export = |out: &str| ["export", "--format", "tfrecord", "--out", out].map(String::from);
    let reference = dir.path().join("reference");
    let span = {
        let a = export(reference.to_str().unwrap());
        duration(&c, &a.each_ref().map(String::as_str))
    };
    let want = std::fs::read(reference.join("manifest.json")).unwrap();
    let want: serde_json::Value = serde_json::from_slice(&want).unwrap();
    let mut rng = Rng::new(3);
    for run in 0..RUNS {
        let out = dir.path().join(format!("out{run}"));
        let a = export(out.to_str().unwrap());
        let a = a.each_ref().map(String::as_str);
        kill_within(spawn(&c, &a), span, &mut rng);
        if out.exists() {
            assert!(
                out.join("manifest.json").is_file(),
                "run {run}: a partial dataset"
            );
        } else {
            c.ok(&a);
        }
        let got: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(got["files"], want["files"], "run {run}: the same dataset");
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(&format!(".out{run}.keylabel-")))
            .collect();
        assert!(left.is_empty(), "run {run}: {left:?}");
        intact(&path);
    }
}

/// A killed merge wrote all of the other copy or none of it: merging again gives the exact
/// union.
#[test]
fn a_killed_merge_is_completed_by_merging_again() {
    let dir = tempfile::tempdir().unwrap();
    const ROWS: usize = 5_000;
    let rows = rows_file(dir.path(), ROWS);
    let base = dir.path().join("base.keylabel");
    let c = cli(dir.path(), &base);
    c.ok(&["init", "--classes", "a,b"]);
    c.ok(&["import", rows.to_str().unwrap()]);
    let copy = dir.path().join("copy.keylabel");
    std::fs::copy(&base, &copy).unwrap();
    let labels: String = (1..=ROWS)
        .map(|i| format!("rows.csv#{i},{}\n", ["a", "b"][i % 2]))
        .collect();
    std::fs::write(dir.path().join("l.csv"), format!("sample,label\n{labels}")).unwrap();
    cli(dir.path(), &copy).ok(&["import-labels", "l.csv"]);
    let template = dir.path().join("template.keylabel");
    std::fs::copy(&base, &template).unwrap();
    let args = ["merge", copy.to_str().unwrap()];
    let span = {
        let p = dir.path().join("timing.keylabel");
        std::fs::copy(&template, &p).unwrap();
        duration(&cli(dir.path(), &p), &args)
    };
    let mut rng = Rng::new(4);
    for run in 0..RUNS {
        let path = dir.path().join(format!("run{run}.keylabel"));
        std::fs::copy(&template, &path).unwrap();
        let c = cli(dir.path(), &path);
        kill_within(spawn(&c, &args), span, &mut rng);
        let events = intact(&path).history(None).unwrap().len();
        assert!(events == 0 || events == ROWS, "run {run}: {events} events");
        eprintln!("merge run {run}: killed with {events} of {ROWS} events in");
        c.ok(&args);
        let p = intact(&path);
        assert_eq!(p.history(None).unwrap().len(), ROWS, "run {run}");
        assert_eq!(p.status().unwrap().labeled as usize, ROWS, "run {run}");
    }
}

/// A project file with damaged pages in its middle: `check` finds it and says what to do,
/// validation and export refuse, and bulk writes are refused before writing anything.
/// Before, `import-labels` wrote into such a file and exited 0.
#[test]
fn a_damaged_project_file_is_found_and_not_written_to() {
    let dir = tempfile::tempdir().unwrap();
    let rows = rows_file(dir.path(), 20_000);
    let path = dir.path().join("p.keylabel");
    let c = cli(dir.path(), &path);
    c.ok(&["init", "--classes", "a,b"]);
    c.ok(&["import", rows.to_str().unwrap()]);
    std::fs::write(dir.path().join("l.csv"), "sample,label\nrows.csv#1,a\n").unwrap();
    let sound = c.run(&["check"]);
    assert!(sound.status.success());
    assert!(keylabel_testkit::cli::stdout(&sound).contains("is sound"));

    let bytes = damage_three_pages(&path);

    let checked = c.run(&["check"]);
    assert_eq!(checked.status.code(), Some(1));
    let said = keylabel_testkit::cli::stdout(&checked);
    assert!(
        said.contains("is damaged") && said.contains("backup"),
        "{said}"
    );

    let validated = c.run(&["validate"]);
    assert_eq!(validated.status.code(), Some(1));
    assert!(keylabel_testkit::cli::stdout(&validated).contains("DAMAGED_PROJECT_FILE"));
    let out = dir.path().join("ds");
    let exported = c.run(&["export", "--format", "csv", "--out", out.to_str().unwrap()]);
    assert_eq!(exported.status.code(), Some(1));
    assert!(!out.exists());
    for args in [&["import-labels", "l.csv"][..], &["import", "rows.csv"]] {
        let o = c.run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            keylabel_testkit::cli::stderr(&o).contains("is damaged"),
            "{args:?}: {}",
            keylabel_testkit::cli::stderr(&o)
        );
    }
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "nothing was written");

    // What can be read is copied into a new, sound file; the damaged one stays as it was.
    let new = dir.path().join("recovered.keylabel");
    let out = c.run(&["recover", new.to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{report:#} {}",
        keylabel_testkit::cli::stderr(&out)
    );
    assert_eq!(report["sound"], true, "{report:#}");
    let copied = |table: &str| {
        report["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == table)
            .unwrap()["copied"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(copied("classes"), 2);
    let samples = copied("samples");
    assert!((19_000..=20_000).contains(&samples), "{report:#}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "the damaged file is only read"
    );
    let p = intact(&new);
    assert_eq!(p.sample_count().unwrap(), samples);
    assert_eq!(
        p.classes()
            .unwrap()
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    drop(p);
    let rc = cli(dir.path(), &new);
    rc.ok(&["check"]);
    rc.ok(&["import-labels", "l.csv"]);
    let again = c.run(&["recover", new.to_str().unwrap()]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "an existing file is never replaced"
    );
}

/// Overwrites three pages in the middle of the project file (as a failing disk or a bad
/// copy leaves them); returns the file's bytes.
fn damage_three_pages(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    assert!(
        !Path::new(&format!("{}-wal", path.display())).exists(),
        "closed cleanly"
    );
    let page = 4096;
    let pages = bytes.len() / page;
    assert!(pages > 20, "{pages} pages");
    let mut rng = Rng::new(5);
    for p in [pages / 2, pages / 2 + 1, pages / 2 + 3] {
        for b in &mut bytes[p * page..(p + 1) * page] {
            *b = rng.below(256u32) as u8;
        }
    }
    std::fs::write(path, &bytes).unwrap();
    bytes
}

/// The window checks the file it opens in the background and says when it is damaged.
#[cfg(feature = "gui")]
#[test]
fn the_window_says_when_the_project_file_it_opened_is_damaged() {
    use egui_kittest::kittest::Queryable;
    use keylabel::app::App;
    use keylabel_testkit::window::{harness, wait_until};
    let dir = tempfile::tempdir().unwrap();
    let rows = rows_file(dir.path(), 20_000);
    let sound = dir.path().join("sound.keylabel");
    let c = cli(dir.path(), &sound);
    c.ok(&["init", "--classes", "a,b"]);
    c.ok(&["import", rows.to_str().unwrap()]);
    let damaged = dir.path().join("damaged.keylabel");
    std::fs::copy(&sound, &damaged).unwrap();
    damage_three_pages(&damaged);

    for (path, is_damaged) in [(&sound, false), (&damaged, true)] {
        let mut app = App::new(None, "ann".into());
        app.open_project(path);
        let mut h = harness(app);
        wait_until(&mut h, "the project to open", |a| a.session().is_some());
        wait_until(&mut h, "the check of the file", |a| {
            a.project().is_some_and(|p| p.integrity.is_none())
        });
        let found = !h.state().project().unwrap().damage.is_empty();
        assert_eq!(found, is_damaged, "{}", path.display());
        assert_eq!(h.query_by_label("Damaged file").is_some(), is_damaged);
        if is_damaged {
            h.get_by_label_contains("recover NEW.keylabel");
        }
    }
}

/// Labels for every row of `rows.csv` (made by [`rows_file`]), by one annotator.
fn labels_file(dir: &Path, rows: usize, annotator: &str, class: &str) -> PathBuf {
    let path = dir.join(format!("labels-{annotator}.csv"));
    let mut text = String::from("sample,label,annotator\n");
    for i in 1..=rows {
        text.push_str(&format!("rows.csv#{i},{class},{annotator}\n"));
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn labels_by(project: &Project, annotator: &str) -> i64 {
    keylabel_testkit::fixtures::sql(project)
        .query_row(
            "SELECT count(*) FROM annotations WHERE annotator = ?1 AND state = 'labeled'",
            [annotator],
            |r| r.get(0),
        )
        .unwrap()
}

/// Two `import-labels` started at the same moment on one project: SQLite's lock makes one
/// wait for the other, and both files are recorded in full.
#[test]
fn two_import_labels_at_once_both_land() {
    let dir = tempfile::tempdir().unwrap();
    const ROWS: usize = 20_000;
    let rows = rows_file(dir.path(), ROWS);
    let path = dir.path().join("p.keylabel");
    let c = cli(dir.path(), &path);
    c.ok(&["init", "--classes", "a,b"]);
    c.ok(&["import", rows.to_str().unwrap()]);
    let files = [
        labels_file(dir.path(), ROWS, "first", "a"),
        labels_file(dir.path(), ROWS, "second", "b"),
    ];
    let children: Vec<Child> = files
        .iter()
        .map(|f| {
            c.command(&["import-labels", f.to_str().unwrap()])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let p = intact(&path);
    assert_eq!(labels_by(&p, "first"), ROWS as i64);
    assert_eq!(labels_by(&p, "second"), ROWS as i64);
}

/// The labeling window (the real app in a test harness) labels by key while an
/// `import-labels` process records a large file into the same project: every key's label
/// and every row of the file are there.
#[cfg(feature = "gui")]
#[test]
fn the_window_labels_while_import_labels_writes_the_same_project() {
    use keylabel::app::App;
    use keylabel_testkit::window::{harness, press, wait_until};
    let dir = tempfile::tempdir().unwrap();
    const ROWS: usize = 60_000;
    let rows = rows_file(dir.path(), ROWS);
    let path = dir.path().join("p.keylabel");
    let c = cli(dir.path(), &path);
    c.ok(&["init", "--classes", "a,b"]);
    c.ok(&["import", rows.to_str().unwrap()]);
    let bulk = labels_file(dir.path(), ROWS, "bulk", "b");

    let mut app = App::new(None, "keys".into());
    app.open_project(&path);
    let mut h = harness(app);
    wait_until(&mut h, "the project to open", |a| a.session().is_some());
    wait_until(&mut h, "the first sample", App::current_image_ready);

    let mut child = c
        .command(&["import-labels", bulk.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the file's labels are in, every sample has the one annotator it needs and the
    // window says nothing is left; a key then labels the sample still on screen again, or
    // nothing. What must hold: every sample a key was pressed on has the key's label.
    let (mut pressed, mut while_running) = (0, 0);
    let mut keyed = std::collections::BTreeSet::new();
    while pressed < 30 || (child.try_wait().unwrap().is_none() && pressed < 400) {
        let running = child.try_wait().unwrap().is_none();
        let shown = h.state().session().and_then(|s| s.current_id());
        press(&mut h, egui::Key::Num1);
        pressed += 1;
        keyed.extend(shown);
        while_running += usize::from(running && shown.is_some());
    }
    let labeled = keyed.len();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "{pressed} keys pressed, {labeled} on a sample, {while_running} of them while \
         import-labels ran"
    );
    assert!(while_running > 0, "the two writers overlapped");
    drop(h);
    let p = intact(&path);
    assert_eq!(labels_by(&p, "keys"), labeled as i64);
    assert_eq!(labels_by(&p, "bulk"), ROWS as i64);
}
