//! The project file: creation, refusal of foreign and newer files, the event log and the
//! state derived from it, undo, classes, merge, and the command line over them.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::text_sample;
use keylabel::project::{
    ClassId, EventKind, NewEvent, NewSample, Project, SampleId, SampleQuery, SampleStatus, Source,
    TaskKind,
};

fn bin() -> Command {
    crate::common::cli().command(&[])
}

/// A project with `n` text samples `s0…` and classes cat, dog, bird.
fn project_with(dir: &Path, n: usize, task: TaskKind) -> (PathBuf, Project) {
    let path = dir.join("p.keylabel");
    let mut p = Project::create(&path, &["cat".into(), "dog".into(), "bird".into()], task).unwrap();
    let batch: Vec<NewSample> = (0..n)
        .map(|i| text_sample(&format!("s{i}"), &format!("text number {i}")))
        .collect();
    p.insert_samples(&batch).unwrap();
    (path, p)
}

fn class_id(p: &Project, name: &str) -> ClassId {
    p.class_by_name(name).unwrap().unwrap().id
}

fn sid(p: &Project, name: &str) -> SampleId {
    p.sample_by_name(name).unwrap().unwrap().id
}

#[test]
fn create_refuses_existing_file_and_leaves_it_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.keylabel");
    std::fs::write(&path, b"my precious notes").unwrap();
    let err = Project::create(&path, &["a".into()], TaskKind::SingleLabel).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"my precious notes");
}

/// `init` killed (SIGKILL) at random moments: the project file is either absent or a
/// complete project, never an empty or half-made file that every command would refuse and
/// `init` would not replace. A later `init` then works, or says the project exists.
#[cfg(unix)]
#[test]
fn a_killed_init_leaves_no_file_or_a_whole_project() {
    let dir = tempfile::tempdir().unwrap();
    let cli = || crate::common::cli().cwd(dir.path());
    let mut rng = keylabel_testkit::Rng::new(7);
    let (mut absent, mut whole) = (0, 0);
    for run in 0..30 {
        let path = dir.path().join(format!("run{run}.keylabel"));
        let mut child = cli()
            .project(&path)
            .command(&["init", "--classes", "a,b"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_micros(rng.below(15_000u64)));
        let _ = child.kill();
        let _ = child.wait();
        if path.exists() {
            let p = Project::open(&path)
                .unwrap_or_else(|e| panic!("run {run}: a file that is no project: {e:#}"));
            let names: Vec<String> = p.classes().unwrap().into_iter().map(|c| c.name).collect();
            assert_eq!(names, ["a", "b"], "run {run}");
            whole += 1;
            let again = cli().project(&path).run(&["init", "--classes", "a,b"]);
            assert!(!again.status.success());
            assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
        } else {
            absent += 1;
            cli().project(&path).ok(&["init", "--classes", "a,b"]);
            Project::open(&path).unwrap();
        }
    }
    eprintln!("{absent} runs killed before the project appeared, {whole} after");
}

#[test]
fn create_refuses_bad_classes_without_leaving_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.keylabel");
    for classes in [
        vec![],
        vec!["a".to_string(), "a".into()],
        vec!["a|b".to_string()],
    ] {
        assert!(Project::create(&path, &classes, TaskKind::SingleLabel).is_err());
        assert!(!path.exists(), "no file may be left behind for {classes:?}");
    }
}

#[test]
fn foreign_files_are_refused_and_never_modified() {
    let dir = tempfile::tempdir().unwrap();
    // A text file, an empty file and an SQLite database of another program.
    let text = dir.path().join("readme.txt");
    std::fs::write(&text, "hello").unwrap();
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, "").unwrap();
    let other = dir.path().join("other.db");
    {
        let c = rusqlite::Connection::open(&other).unwrap();
        c.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            .unwrap();
    }
    for f in [&text, &empty, &other] {
        let before = std::fs::read(f).unwrap();
        let err = Project::open(f).unwrap_err().to_string();
        assert!(err.contains("not a keylabel project"), "{f:?}: {err}");
        assert!(err.contains(&f.file_name().unwrap().to_string_lossy().to_string()));
        assert_eq!(std::fs::read(f).unwrap(), before, "{f:?} was modified");
        let mut wal = f.as_os_str().to_owned();
        wal.push("-wal");
        assert!(!PathBuf::from(wal).exists());
    }
}

#[test]
fn newer_schema_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let (path, p) = project_with(dir.path(), 1, TaskKind::SingleLabel);
    drop(p);
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("PRAGMA user_version = 999;").unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = Project::open(&path).unwrap_err().to_string();
    assert!(err.contains("newer keylabel"), "{err}");
    assert!(err.contains("999"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// A truncated project file, one cut to its first page, one that is no SQLite file and one
/// from a newer keylabel: every command, reading or writing, refuses with a message naming
/// the file and the reason, and the file's bytes are the same afterwards.
#[test]
fn truncated_foreign_and_newer_project_files_are_refused_and_left_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let (path, p) = project_with(dir.path(), 2_000, TaskKind::SingleLabel);
    drop(p);
    let whole = std::fs::read(&path).unwrap();
    std::fs::write(dir.path().join("rows.csv"), "text\na new row\n").unwrap();
    std::fs::write(dir.path().join("l.csv"), "sample,label\ns0,cat\n").unwrap();
    let newer = {
        let copy = dir.path().join("newer.keylabel");
        std::fs::copy(&path, &copy).unwrap();
        let c = rusqlite::Connection::open(&copy).unwrap();
        c.execute_batch("PRAGMA user_version = 999;").unwrap();
        drop(c);
        std::fs::read(&copy).unwrap()
    };
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("truncated", whole[..whole.len() / 2].to_vec(), "malformed"),
        ("first page only", whole[..4096].to_vec(), ""),
        (
            "not sqlite",
            b"id,text\n1,hello\n".to_vec(),
            "not a keylabel project",
        ),
        ("newer", newer, "newer keylabel"),
    ];
    let commands: [&[&str]; 9] = [
        &["status"],
        &["history", "--json"],
        &["validate"],
        &["import", "rows.csv"],
        &["import-labels", "l.csv"],
        &["classes", "add", "owl"],
        &["export", "--format", "csv", "--out", "out"],
        &["merge", "other.keylabel"],
        &["settings", "set", "overlap", "2"],
    ];
    for (what, bytes, reason) in cases {
        let file = dir
            .path()
            .join(format!("{}.keylabel", what.replace(' ', "-")));
        std::fs::write(&file, &bytes).unwrap();
        let cli = crate::common::cli().cwd(dir.path()).project(&file);
        for args in commands {
            let out = cli.run(args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{what}: {args:?} succeeded");
            assert!(
                err.contains(&file.display().to_string())
                    || err.contains(file.file_name().unwrap().to_str().unwrap()),
                "{what}: {args:?} names the file: {err}"
            );
            assert!(err.contains(reason), "{what}: {args:?}: {err}");
            assert!(
                std::fs::read(&file).unwrap() == bytes,
                "{what}: {args:?} changed the file"
            );
        }
        assert!(!dir.path().join("out").exists());
    }
}

#[test]
fn a_version_2_project_gets_hash_keys_and_still_finds_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut p) = project_with(dir.path(), 3, TaskKind::SingleLabel);
    // A second sample with the same content, as a merge of two copies can leave.
    p.insert_samples(&[text_sample("elsewhere", "text number 0")])
        .unwrap();
    drop(p);
    // Back to how keylabel before schema version 3 wrote the file.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "{}{}",
            keylabel_testkit::fixtures::BEFORE_BOXES,
            "DROP TABLE sample_aliases; DROP TABLE sent_back_labels; DROP TABLE file_checks; \
             DROP INDEX samples_hash_key; ALTER TABLE samples DROP COLUMN hash_key; \
             CREATE INDEX samples_hash ON samples(hash); PRAGMA user_version = 2;"
        ))
        .unwrap();
    }
    let mut p = Project::open(&path).unwrap();
    let keys: Vec<(String, Option<i64>)> = keylabel_testkit::fixtures::sql(&p)
        .prepare("SELECT hash, hash_key FROM samples ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(keys.len(), 3, "the copy was a duplicate, not a new sample");
    for (hash, key) in &keys {
        assert_eq!(*key, Some(keylabel::project::hash_key(hash)));
    }
    // The key is the first 64 bits of the hex hash.
    assert_eq!(
        keylabel::project::hash_key("00000000000000ff0123"),
        0xff,
        "hex prefix read as a number"
    );
    let out = p
        .insert_samples(&[
            text_sample("again", "text number 1"),
            text_sample("s2", "changed text"),
            text_sample("new", "a new text"),
        ])
        .unwrap();
    assert!(matches!(
        out[0],
        keylabel::project::InsertOutcome::Duplicate(_)
    ));
    assert!(matches!(
        out[1],
        keylabel::project::InsertOutcome::AlreadyPresent(_)
    ));
    assert!(matches!(out[2], keylabel::project::InsertOutcome::Added(_)));
    p.integrity_check().unwrap();
    // The cached statement plan uses the new index, not a scan of every sample.
    let plan: String = keylabel_testkit::fixtures::sql(&p)
        .query_row(
            "EXPLAIN QUERY PLAN SELECT id FROM samples WHERE hash_key = ?1 AND hash = ?2",
            rusqlite::params![1, "x"],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("samples_hash_key"), "{plan}");
}

#[test]
fn project_uses_wal_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut p) = project_with(dir.path(), 3, TaskKind::SingleLabel);
    let mode: String = keylabel_testkit::fixtures::sql(&p)
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let cat = class_id(&p, "cat");
    let s0 = sid(&p, "s0");
    p.record(NewEvent::label(s0, "alice", vec![cat]).with_spent_ms(1500))
        .unwrap();
    drop(p);
    let p = Project::open(&path).unwrap();
    assert_eq!(p.sample_status(s0).unwrap(), SampleStatus::Labeled);
    assert_eq!(p.current_classes(s0).unwrap(), vec![cat]);
    let h = p.history(Some(s0)).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].spent_ms, Some(1500));
    assert_eq!(h[0].labels, vec!["cat".to_string()]);
    p.integrity_check().unwrap();
}

#[test]
fn undo_steps_back_one_decision_at_a_time_without_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, mut p) = project_with(dir.path(), 3, TaskKind::SingleLabel);
    let (cat, dog) = (class_id(&p, "cat"), class_id(&p, "dog"));
    let (s0, s1, s2) = (sid(&p, "s0"), sid(&p, "s1"), sid(&p, "s2"));
    p.record(NewEvent::label(s0, "alice", vec![cat])).unwrap();
    p.record(NewEvent::label(s0, "alice", vec![dog])).unwrap(); // changed her mind
    p.record(NewEvent::new(s1, "alice", EventKind::Skip))
        .unwrap();
    p.record(NewEvent::new(s2, "alice", EventKind::Exclude).with_note("blurry"))
        .unwrap();
    p.record(NewEvent::label(s2, "bob", vec![cat])).unwrap();

    assert_eq!(p.sample_status(s2).unwrap(), SampleStatus::Excluded);
    assert_eq!(p.undo_last("alice").unwrap(), Some(s2));
    assert_eq!(
        p.sample_status(s2).unwrap(),
        SampleStatus::Labeled,
        "bob's label stays"
    );
    assert_eq!(p.undo_last("alice").unwrap(), Some(s1));
    assert_eq!(p.sample_status(s1).unwrap(), SampleStatus::Unlabeled);
    assert_eq!(p.undo_last("alice").unwrap(), Some(s0));
    assert_eq!(
        p.current_classes(s0).unwrap(),
        vec![cat],
        "back to her first label"
    );
    assert_eq!(p.undo_last("alice").unwrap(), Some(s0));
    assert_eq!(p.sample_status(s0).unwrap(), SampleStatus::Unlabeled);
    assert_eq!(p.undo_last("alice").unwrap(), None, "nothing left to undo");

    // Nothing was deleted: every decision and every undo is in the log.
    let h = p.history(None).unwrap();
    assert_eq!(h.len(), 9);
    assert_eq!(h.iter().filter(|e| e.kind == EventKind::Undo).count(), 4);
    assert_eq!(h.iter().filter(|e| e.undone).count(), 4);
    p.integrity_check().unwrap();
}

#[test]
fn status_counts_samples_classes_and_annotators() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, mut p) = project_with(dir.path(), 6, TaskKind::SingleLabel);
    let (cat, dog) = (class_id(&p, "cat"), class_id(&p, "dog"));
    let ids: Vec<SampleId> = (0..6).map(|i| sid(&p, &format!("s{i}"))).collect();
    p.record(NewEvent::label(ids[0], "alice", vec![cat]))
        .unwrap();
    p.record(NewEvent::label(ids[1], "alice", vec![dog]))
        .unwrap();
    p.record(NewEvent::label(ids[1], "bob", vec![dog])).unwrap();
    p.record(NewEvent::new(ids[2], "bob", EventKind::Skip))
        .unwrap();
    p.record(NewEvent::new(ids[3], "bob", EventKind::Exclude))
        .unwrap();
    p.record(NewEvent::new(ids[4], "bob", EventKind::Flag))
        .unwrap();
    let s = p.status().unwrap();
    assert_eq!(
        (
            s.samples,
            s.labeled,
            s.skipped,
            s.excluded,
            s.unlabeled,
            s.flagged
        ),
        (6, 2, 1, 1, 2, 1)
    );
    assert_eq!(s.kinds["text"], 6);
    let count = |n: &str| s.classes.iter().find(|c| c.name == n).unwrap().count;
    assert_eq!((count("cat"), count("dog"), count("bird")), (1, 1, 0));
    let labels: Vec<(String, u64)> = s
        .annotators
        .iter()
        .map(|a| (a.name.clone(), a.labels))
        .collect();
    assert_eq!(labels, vec![("alice".into(), 2), ("bob".into(), 1)]);

    let q = SampleQuery {
        status: Some(SampleStatus::Unlabeled),
        ..SampleQuery::default()
    };
    assert_eq!(p.count_samples(&q).unwrap(), 2);
    assert_eq!(p.sample_ids(&q, 0, 10).unwrap(), vec![ids[4], ids[5]]);
}

#[test]
fn queue_offers_each_annotator_what_they_have_not_decided() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, mut p) = project_with(dir.path(), 3, TaskKind::SingleLabel);
    let cat = class_id(&p, "cat");
    let ids: Vec<SampleId> = (0..3).map(|i| sid(&p, &format!("s{i}"))).collect();
    assert_eq!(p.next_for_annotator("alice", None).unwrap(), Some(ids[0]));
    p.record(NewEvent::label(ids[0], "alice", vec![cat]))
        .unwrap();
    assert_eq!(
        p.next_for_annotator("alice", Some(ids[0])).unwrap(),
        Some(ids[1])
    );
    // With overlap 1, a sample labeled by alice is not offered to bob.
    assert_eq!(p.next_for_annotator("bob", None).unwrap(), Some(ids[1]));
    // Wraps around to earlier samples still open.
    assert_eq!(
        p.next_for_annotator("alice", Some(ids[2])).unwrap(),
        Some(ids[1])
    );
}

#[test]
fn renaming_and_archiving_classes_keep_every_label() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, mut p) = project_with(dir.path(), 2, TaskKind::SingleLabel);
    let cat = class_id(&p, "cat");
    let s0 = sid(&p, "s0");
    p.record(NewEvent::label(s0, "alice", vec![cat])).unwrap();
    p.rename_class("cat", "kitten").unwrap();
    assert_eq!(
        p.history(Some(s0)).unwrap()[0].labels,
        vec!["kitten".to_string()]
    );
    let archived = p.archive_class("kitten").unwrap();
    assert!(archived.archived);
    assert_eq!(archived.key, None, "its hotkey is freed");
    assert_eq!(p.current_classes(s0).unwrap(), vec![cat]);
    assert!(
        p.active_classes()
            .unwrap()
            .iter()
            .all(|c| c.name != "kitten")
    );
    // An archived class cannot be assigned by hand any more.
    let s1 = sid(&p, "s1");
    assert!(p.record(NewEvent::label(s1, "alice", vec![cat])).is_err());
    // Keys clash: refused.
    let err = p.add_class("fox", Some("2"), None).unwrap_err().to_string();
    assert!(err.contains("already bound to class `dog`"), "{err}");
    let fox = p.add_class("fox", None, Some("#AABBCC")).unwrap();
    assert_eq!(fox.key.as_deref(), Some("1"), "first free default key");
    assert_eq!(fox.color, "#aabbcc");
    assert!(p.add_class("owl", None, Some("red")).is_err());
}

#[test]
fn single_label_projects_refuse_several_classes() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, mut p) = project_with(dir.path(), 1, TaskKind::SingleLabel);
    let (cat, dog) = (class_id(&p, "cat"), class_id(&p, "dog"));
    let s0 = sid(&p, "s0");
    assert!(p.record(NewEvent::label(s0, "a", vec![cat, dog])).is_err());
    assert!(p.record(NewEvent::label(s0, "a", vec![])).is_err());
    assert_eq!(
        p.history(None).unwrap().len(),
        0,
        "a refused event writes nothing"
    );

    let dir2 = tempfile::tempdir().unwrap();
    let (_path, mut m) = project_with(dir2.path(), 1, TaskKind::MultiLabel);
    let (cat, dog) = (class_id(&m, "cat"), class_id(&m, "dog"));
    let s0 = sid(&m, "s0");
    m.record(NewEvent::label(s0, "a", vec![dog, cat])).unwrap();
    assert_eq!(m.current_classes(s0).unwrap(), vec![cat, dog]);
}

#[test]
fn review_decision_and_send_back() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, mut p) = project_with(dir.path(), 1, TaskKind::SingleLabel);
    let (cat, dog) = (class_id(&p, "cat"), class_id(&p, "dog"));
    let s0 = sid(&p, "s0");
    p.record(NewEvent::label(s0, "alice", vec![cat])).unwrap();
    p.record(NewEvent::label(s0, "bob", vec![dog])).unwrap();
    assert_eq!(p.current_classes(s0).unwrap(), vec![cat, dog]);
    let mut review = NewEvent::label(s0, "rita", vec![dog]);
    review.kind = EventKind::Review;
    p.record(review).unwrap();
    assert_eq!(
        p.review_decision(s0).unwrap(),
        Some((vec![dog], "rita".into()))
    );
    assert_eq!(p.current_classes(s0).unwrap(), vec![dog]);
    p.record(NewEvent::new(s0, "rita", EventKind::SendBack))
        .unwrap();
    assert_eq!(p.review_decision(s0).unwrap(), None);
    assert_eq!(p.sample_status(s0).unwrap(), SampleStatus::Unlabeled);
    assert_eq!(
        p.next_for_annotator("alice", None).unwrap(),
        Some(s0),
        "back in the queue"
    );
}

#[test]
fn suggestions_do_not_count_as_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, mut p) = project_with(dir.path(), 1, TaskKind::SingleLabel);
    let dog = class_id(&p, "dog");
    let s0 = sid(&p, "s0");
    let mut ev = NewEvent::label(s0, "model-v1", vec![dog]);
    ev.kind = EventKind::Suggest;
    ev.source = Source::Model;
    ev.score = Some(0.87);
    p.record(ev).unwrap();
    assert_eq!(p.sample_status(s0).unwrap(), SampleStatus::Unlabeled);
    assert_eq!(p.suggestion(s0).unwrap(), Some((vec![dog], Some(0.87))));
}

/// Copies of one project labeled separately, merged in either order, give the same state,
/// and merging twice adds nothing.
#[test]
fn merge_is_idempotent_and_order_independent() {
    let dir = tempfile::tempdir().unwrap();
    let (base, p) = project_with(dir.path(), 4, TaskKind::SingleLabel);
    let (cat, dog) = (class_id(&p, "cat"), class_id(&p, "dog"));
    drop(p);
    let copies: Vec<PathBuf> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            let to = dir.path().join(format!("{n}.keylabel"));
            std::fs::copy(&base, &to).unwrap();
            to
        })
        .collect();
    for (who, path, class) in [
        ("alice", &copies[0], cat),
        ("bob", &copies[1], dog),
        ("carol", &copies[2], cat),
    ] {
        let mut p = Project::open(path).unwrap();
        for i in 0..4 {
            let s = sid(&p, &format!("s{i}"));
            p.record(NewEvent::label(s, who, vec![class])).unwrap();
        }
        let s = sid(&p, "s3");
        p.undo_last(who).unwrap();
        assert_eq!(p.sample_status(s).unwrap(), SampleStatus::Unlabeled);
    }
    let state = |p: &Project| {
        let s = p.status().unwrap();
        let decisions: Vec<_> = (0..4)
            .map(|i| p.decisions(sid(p, &format!("s{i}"))).unwrap())
            .collect();
        (s, decisions)
    };
    let x = dir.path().join("x.keylabel");
    let y = dir.path().join("y.keylabel");
    std::fs::copy(&base, &x).unwrap();
    std::fs::copy(&base, &y).unwrap();
    let mut px = Project::open(&x).unwrap();
    for c in &copies {
        px.merge_from(c).unwrap();
    }
    let mut py = Project::open(&y).unwrap();
    for c in copies.iter().rev() {
        py.merge_from(c).unwrap();
    }
    assert_eq!(state(&px), state(&py));
    let again = px.merge_from(&copies[0]).unwrap();
    assert_eq!(again.events_added, 0);
    let (s, _) = state(&px);
    assert_eq!(s.annotators.len(), 3);
    assert!(s.annotators.iter().all(|a| a.labels == 3));
    assert_eq!(px.history(None).unwrap().len(), 15);
    px.integrity_check().unwrap();
}

#[test]
fn merge_refuses_different_classes_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_a, mut p) = project_with(dir.path(), 1, TaskKind::SingleLabel);
    let other = dir.path().join("other.keylabel");
    Project::create(
        &other,
        &["cat".into(), "dog".into(), "owl".into()],
        TaskKind::SingleLabel,
    )
    .unwrap();
    let err = p.merge_from(&other).unwrap_err().to_string();
    assert!(err.contains("only in this project: [bird]"), "{err}");
    assert!(err.contains("owl"), "{err}");
    assert_eq!(p.sample_count().unwrap(), 1);
}

#[test]
fn paths_are_stored_relative_to_the_project_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, p) = project_with(dir.path(), 0, TaskKind::SingleLabel);
    let inside = dir.path().join("photos").join("a b.jpg");
    assert_eq!(p.stored_path(&inside), "photos/a b.jpg");
    assert_eq!(p.resolve("photos/a b.jpg"), inside);
    let outside = std::env::temp_dir().join("elsewhere.jpg");
    if !outside.starts_with(dir.path()) {
        assert_eq!(p.stored_path(&outside), outside.to_string_lossy());
    }
}

#[test]
fn cli_init_status_classes_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cli.keylabel");
    let out = bin()
        .arg("-p")
        .arg(&p)
        .args(["init", "--classes=-1,0,1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = bin()
        .arg("-p")
        .arg(&p)
        .args(["init", "--classes", "a"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let out = bin()
        .arg("-p")
        .arg(&p)
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "samples",
        "labeled",
        "unlabeled",
        "skipped",
        "excluded",
        "kinds",
        "classes",
        "annotators",
    ] {
        assert!(v.get(key).is_some(), "status --json lacks {key}: {v}");
    }
    let names: Vec<&str> = v["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["-1", "0", "1"]);
    assert_eq!(v["classes"][0]["key"], "1");

    let ok = bin()
        .arg("-p")
        .arg(&p)
        .args(["classes", "add", "-2", "--key", "9"])
        .status()
        .unwrap();
    assert!(ok.success());
    let clash = bin()
        .arg("-p")
        .arg(&p)
        .args(["classes", "add", "x", "--key", "9"])
        .output()
        .unwrap();
    assert!(!clash.status.success());
    assert!(String::from_utf8_lossy(&clash.stderr).contains("already bound"));
    let ok = bin()
        .arg("-p")
        .arg(&p)
        .args(["classes", "rename", "-1", "minus-one"])
        .status()
        .unwrap();
    assert!(ok.success());
    let out = bin()
        .arg("-p")
        .arg(&p)
        .args(["classes", "list", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["task"], "classify");
    assert_eq!(v["multi_label"], false);
    let v = &v["classes"];
    assert_eq!(v[0]["name"], "minus-one");
    assert_eq!(v[3]["name"], "-2");
    assert_eq!(v[3]["key"], "9");

    let out = bin()
        .arg("-p")
        .arg(&p)
        .args(["history", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        serde_json::json!([])
    );
    let out = bin()
        .arg("-p")
        .arg(&p)
        .args(["history", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no sample named `nope`"));

    let missing = bin()
        .args(["-p", "/nonexistent/x.keylabel", "status"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"));
    Project::open(&p).unwrap().integrity_check().unwrap();
}

#[test]
fn annotator_name_comes_from_flag_then_environment() {
    assert_eq!(keylabel::annotator_name(Some("zoe")), "zoe");
    let from_env = keylabel::annotator_name(None);
    assert!(!from_env.is_empty());
}

/// A project whose file was edited behind keylabel's back (as with the `sqlite3` tool) to
/// hold a value keylabel does not know: every command that reads it refuses, naming the
/// table, the row and the value, and nothing is changed or made up.
#[test]
fn stored_values_keylabel_does_not_know_are_refused_with_table_row_and_value() {
    use keylabel_testkit::fixtures::sql;

    struct Case {
        edit: &'static str,
        value: &'static str,
        table: &'static str,
        /// Commands that read the edited value.
        commands: &'static [&'static [&'static str]],
    }
    let cases = [
        Case {
            edit: "UPDATE events SET kind = 'teleport' WHERE kind = 'label'",
            value: "teleport",
            table: "events",
            commands: &[&["history", "--json"], &["history", "s0"]],
        },
        Case {
            edit: "UPDATE events SET source = 'telepathy'",
            value: "telepathy",
            table: "events",
            commands: &[&["history", "--json"]],
        },
        Case {
            edit: "UPDATE events SET labels = '[1, oops' WHERE kind = 'label'",
            value: "[1, oops",
            table: "events",
            commands: &[&["history", "--json"]],
        },
        Case {
            edit: "UPDATE annotations SET labels = 'cat'",
            value: "cat",
            table: "annotations",
            commands: &[&["agreement", "--json"], &["validate"], &["annotators"]],
        },
        Case {
            // (The schema itself refuses an unknown sample kind: a CHECK constraint.)
            edit: "UPDATE samples SET features = '{\"stars\": 4' WHERE name = 's1'",
            value: "{\"stars\": 4",
            table: "samples",
            commands: &[&[
                "export",
                "--format",
                "jsonl",
                "--out",
                "out",
                "--only-labeled",
            ]],
        },
        Case {
            edit: "UPDATE meta SET value = 'multi-class' WHERE key = 'task'",
            value: "multi-class",
            table: "meta",
            commands: &[&["status"], &["history"]],
        },
    ];
    for case in cases {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut p) = project_with(dir.path(), 3, TaskKind::SingleLabel);
        let (cat, dog) = (class_id(&p, "cat"), class_id(&p, "dog"));
        p.record(NewEvent::label(SampleId(1), "alice", vec![cat]))
            .unwrap();
        p.record(NewEvent::label(SampleId(1), "bob", vec![cat]))
            .unwrap();
        p.record(NewEvent::label(SampleId(2), "alice", vec![dog]))
            .unwrap();
        drop(p);
        let changed = sql(&Project::open(&path).unwrap())
            .execute(case.edit, [])
            .unwrap();
        assert!(changed > 0, "{} changed nothing", case.edit);
        let before = std::fs::read(&path).unwrap();
        let cli = crate::common::cli().cwd(dir.path()).project(&path);
        for args in case.commands {
            let out = cli.run(args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success(),
                "{args:?} after `{}` succeeded",
                case.edit
            );
            assert!(
                err.contains(&format!("`{}`", case.value))
                    && err.contains(&format!("table `{}`", case.table))
                    && (err.contains("event ") || err.contains("sample ") || err.contains("key ")),
                "{args:?} after `{}`: {err}",
                case.edit
            );
            assert_eq!(err.matches("does not know").count(), 1, "said once: {err}");
        }
        assert!(!dir.path().join("out").exists(), "no export was written");
        assert!(
            std::fs::read(&path).unwrap() == before,
            "the file is unchanged after `{}`",
            case.edit
        );
        // Recording on the sample whose events were edited is refused too (its state is
        // derived from their kinds and labels), and changes nothing.
        if case.table == "events" && !case.edit.contains("source") {
            let mut p = Project::open(&path).unwrap();
            let err = p
                .record(NewEvent::label(SampleId(1), "carol", vec![cat]))
                .expect_err(case.edit);
            assert!(format!("{err:#}").contains(case.value), "{err:#}");
            drop(p);
            let count: i64 = sql(&Project::open(&path).unwrap())
                .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
                .unwrap();
            assert_eq!(count, 3, "no event was added after `{}`", case.edit);
        }
    }
}

/// A copy whose events hold values this keylabel does not accept (edited by hand, or
/// damaged) is refused whole by `merge`, naming the file, the event and the value; the
/// project is left byte for byte as it was. Before, labels naming an unknown class merged as
/// labels with no class, and events of a missing sample were dropped without a word.
#[test]
fn merge_refuses_a_copy_with_any_event_it_does_not_understand() {
    use keylabel_testkit::fixtures::sql;
    let cases = [
        ("UPDATE events SET labels = '[999]'", "999", "a class id"),
        ("UPDATE events SET labels = 'cat'", "cat", "a label list"),
        ("UPDATE events SET at = 'yesterday'", "yesterday", "a time"),
        (
            "PRAGMA foreign_keys = OFF; UPDATE events SET sample_id = 9999",
            "9999",
            "a sample id",
        ),
        ("UPDATE events SET spent_ms = -5", "-5", "a time spent"),
        (
            "UPDATE events SET annotator = '  '",
            "  ",
            "an annotator name",
        ),
    ];
    for (edit, value, what) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (path, p) = project_with(dir.path(), 2, TaskKind::SingleLabel);
        drop(p);
        let copy = dir.path().join("copy.keylabel");
        std::fs::copy(&path, &copy).unwrap();
        {
            let mut c = Project::open(&copy).unwrap();
            let cat = class_id(&c, "cat");
            c.record(NewEvent::label(SampleId(1), "alice", vec![cat]).with_spent_ms(700))
                .unwrap();
        }
        sql(&Project::open(&copy).unwrap())
            .execute_batch(edit)
            .unwrap();
        let before = std::fs::read(&path).unwrap();
        let out = crate::common::cli()
            .cwd(dir.path())
            .project(&path)
            .run(&["merge", copy.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "`{edit}` merged: {err}");
        assert!(
            err.contains("copy.keylabel")
                && err.contains(&format!("`{value}`"))
                && err.contains(what)
                && err.contains("event "),
            "`{edit}`: {err}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "`{edit}` changed the project"
        );
        let p = Project::open(&path).unwrap();
        assert!(p.history(None).unwrap().is_empty());
    }
}

/// `backup` copies every committed label, also those still in the write-ahead log while
/// the window (here: an open project) holds the file, and refuses to overwrite.
#[test]
fn backup_copies_every_committed_event_while_the_project_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut p) = project_with(dir.path(), 5, TaskKind::SingleLabel);
    let cat = class_id(&p, "cat");
    for id in 1..=5 {
        p.record(NewEvent::label(SampleId(id), "alice", vec![cat]))
            .unwrap();
    }
    let wal = dir.path().join("p.keylabel-wal");
    assert!(
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) > 0,
        "the labels are (also) in the write-ahead log"
    );
    let copy = dir.path().join("copy.keylabel");
    let cli = crate::common::cli().project(&path);
    cli.ok(&["backup", copy.to_str().unwrap()]);
    drop(p);
    let copied = Project::open(&copy).unwrap();
    assert_eq!(copied.history(None).unwrap().len(), 5);
    assert_eq!(copied.status().unwrap().labeled, 5);
    copied.integrity_check().unwrap();
    let again = cli.run(&["backup", copy.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
}
