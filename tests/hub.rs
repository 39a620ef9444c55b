//! The team hub on a real PostgreSQL server (`KEYLABEL_TEST_PG`, a superuser's URL; see
//! `scripts/pg-test-server`), driven through the real binary as a team would. Without a
//! server these tests say so and pass, unless `KEYLABEL_REQUIRE_PG=1` (CI).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use keylabel::project::{Project, SampleQuery};
use keylabel_testkit::cli::{Cli, json_of, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_keylabel");

/// Every test user's password (none of them exists outside a throwaway server).
const PASSWORD: &str = "pw-keylabel-hub-test";

/// Lets this process connect as any test user (the window's threads, a loader): sets
/// `PGPASSWORD`.
fn password_in_process() {
    // SAFETY: every test that sets it sets the same value (a race between two of them
    // changes nothing), and Rust's own readers of the environment take its lock.
    unsafe { std::env::set_var("PGPASSWORD", PASSWORD) };
}

/// A database of its own for one test on the test server, and its users.
struct Hub {
    /// The superuser's URL of the test's database (password included: a throwaway server).
    admin_url: String,
    /// `postgres://` + host part, to make user URLs.
    server: String,
    db: String,
    tag: String,
}

impl Hub {
    /// A fresh hub (`hub init` done), or `None` when no server is configured.
    fn new(test: &str) -> Option<Hub> {
        Some(Hub::on(&test_server(test)?, test))
    }

    /// A fresh hub in a database of its own on the server at the superuser URL `url`.
    fn on(url: &str, test: &str) -> Hub {
        let tag = format!("{test}_{}", std::process::id());
        let db = format!("kl_{tag}");
        let mut admin = postgres::Client::connect(url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("KEYLABEL_TEST_PG: cannot connect: {e}"));
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .unwrap();
        let (base, _) = url.rsplit_once('/').expect("a URL with a database");
        let server = base
            .split_once('@')
            .map(|(_, host)| host.to_string())
            .expect("a URL with a user");
        let hub = Hub {
            admin_url: format!("{base}/{db}"),
            server,
            db,
            tag,
        };
        hub.cli().ok(&["hub", "init", &hub.admin_url]);
        hub
    }

    fn cli(&self) -> Cli {
        Cli::new(BIN)
    }

    /// A user's URL (no password: that comes from PGPASSWORD).
    fn url_of(&self, user: &str) -> String {
        format!("postgres://{user}@{}/{}", self.server, self.db)
    }

    /// Adds a user `name` (made unique to the test) with `role`; returns the login.
    fn user(&self, name: &str, role: &str) -> String {
        self.user_with_password(name, role, PASSWORD)
    }

    /// Adds a user as [`Hub::user`] does, with a password of its own.
    fn user_with_password(&self, name: &str, role: &str, password: &str) -> String {
        let login = format!("{}_{name}", self.tag);
        let mut c = self.cli().command(&[
            "hub",
            "user",
            "add",
            &self.admin_url,
            &login,
            "--role",
            role,
        ]);
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        login
    }

    /// The command line of `login` on replica `project` (which knows its login; every
    /// test user has the same password).
    fn as_user(&self, _login: &str, project: &Path) -> Cli {
        self.cli().project(project).env("PGPASSWORD", PASSWORD)
    }

    /// The command line of the superuser (the hub's first admin) on `project`, such as
    /// the publisher once it is linked: its password comes from its URL.
    fn as_superuser(&self, project: &Path) -> Cli {
        let cli = self.cli().project(project);
        let creds = self
            .admin_url
            .split_once("://")
            .map_or("", |(_, rest)| rest);
        match creds.split_once('@').and_then(|(c, _)| c.split_once(':')) {
            Some((_, password)) => cli.env("PGPASSWORD", password),
            None => cli,
        }
    }

    /// A plain PostgreSQL client logged in as `login`.
    fn client(&self, login: &str) -> postgres::Client {
        postgres::Config::new()
            .host(self.server.split(':').next().unwrap())
            .port(self.server.split(':').nth(1).unwrap().parse().unwrap())
            .user(login)
            .password(PASSWORD)
            .dbname(&self.db)
            .connect(postgres::NoTls)
            .unwrap()
    }
}

/// The test server's superuser URL (`KEYLABEL_TEST_PG`), or `None` (the test skipped)
/// when none is configured and `KEYLABEL_REQUIRE_PG` is not 1.
fn test_server(test: &str) -> Option<String> {
    match std::env::var("KEYLABEL_TEST_PG") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("KEYLABEL_REQUIRE_PG").as_deref() != Ok("1"),
                "KEYLABEL_REQUIRE_PG=1 but KEYLABEL_TEST_PG is not set"
            );
            eprintln!("hub test `{test}` skipped: set KEYLABEL_TEST_PG (scripts/pg-test-server)");
            None
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(
            &self
                .admin_url
                .replace(&format!("/{}", self.db), "/keylabel_test"),
            postgres::NoTls,
        ) {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db));
            if let Ok(rows) = c.query(
                "SELECT rolname FROM pg_roles WHERE rolname LIKE $1",
                &[&format!("{}\\_%", self.tag)],
            ) {
                for r in rows {
                    let name: String = r.get(0);
                    let _ = c.batch_execute(&format!("DROP ROLE IF EXISTS \"{name}\""));
                }
            }
        }
    }
}

/// A classification project of `n` text rows (`row 1` … `row n`), classes pos and neg.
/// A published project of `n` rows (`rows_project`) named `name`, and a replica of it
/// for each new hub user (name, role) of `users`, joined as `NAME.keylabel`: each user's
/// login and replica.
fn published_with_replicas<const N: usize>(
    hub: &Hub,
    dir: &Path,
    n: usize,
    name: &str,
    users: [(&str, &str); N],
) -> [(String, PathBuf); N] {
    let publisher = rows_project(dir, n);
    Cli::new(BIN)
        .project(&publisher)
        .ok(&["hub", "publish", &hub.admin_url, "--name", name]);
    users.map(|(user, role)| {
        let login = hub.user(user, role);
        let replica = dir.join(format!("{user}.keylabel"));
        hub.as_user(&login, &replica)
            .ok(&["join", &hub.url_of(&login), "--name", name]);
        (login, replica)
    })
}

/// Records on `replica`, behind the command line's back, a label of `r1` as `pos` under
/// `who` with `kind` (what a merge of another's file, or an older keylabel, could leave).
fn record_r1_pos(replica: &Path, who: &str, kind: keylabel::project::EventKind) {
    let mut p = Project::open(replica).unwrap();
    let r1 = p.sample_by_name("r1").unwrap().unwrap().id;
    let pos = p.class_by_name("pos").unwrap().unwrap().id;
    let mut event = keylabel::project::NewEvent::label(r1, who, vec![pos]);
    event.kind = kind;
    p.record(event).unwrap();
}

fn rows_project(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("publisher.keylabel");
    let cli = Cli::new(BIN).project(&path);
    cli.ok(&["init", "--classes", "pos,neg"]);
    let csv = dir.join("rows.csv");
    let mut text = String::from("id,text\n");
    for i in 1..=n {
        text.push_str(&format!("r{i},row {i}\n"));
    }
    std::fs::write(&csv, text).unwrap();
    cli.ok(&["import", csv.to_str().unwrap(), "--id-column", "id"]);
    path
}

/// A project of `n` rows with `settings` published as `name`, and two annotators `x` and
/// `y` with a replica each: (x, x's replica, y, y's replica).
fn two_annotators(
    hub: &Hub,
    dir: &Path,
    n: usize,
    settings: &[(&str, &str)],
    name: &str,
) -> (String, PathBuf, String, PathBuf) {
    let publisher = rows_project(dir, n);
    let cli = Cli::new(BIN).project(&publisher);
    for (key, value) in settings {
        cli.ok(&["settings", "set", key, value]);
    }
    cli.ok(&["hub", "publish", &hub.admin_url, "--name", name]);
    let (x, y) = (hub.user("x", "annotator"), hub.user("y", "annotator"));
    let (rx, ry) = (dir.join("x.keylabel"), dir.join("y.keylabel"));
    for (who, r) in [(&x, &rx), (&y, &ry)] {
        hub.as_user(who, r)
            .ok(&["join", &hub.url_of(who), "--name", name]);
    }
    (x, rx, y, ry)
}

/// Every file under `dir` with its bytes, by relative path.
fn files_of(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// The files of an export folder, with the manifest's `created_at` (the second each export
/// ran) blanked: everything else in two exports of the same labels is the same.
fn export_of(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = files_of(dir);
    let manifest = files.get_mut("manifest.json").expect("a manifest");
    let mut m: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    assert!(m["created_at"].is_string());
    m["created_at"] = serde_json::Value::Null;
    *manifest = serde_json::to_vec(&m).unwrap();
    files
}

fn labels_of(path: &Path) -> Vec<(String, String)> {
    let p = Project::open(path).unwrap();
    let mut out = Vec::new();
    for s in p
        .sample_summaries(&SampleQuery::default(), 0, u64::MAX)
        .unwrap()
    {
        for d in p.decisions(s.id).unwrap() {
            out.push((s.name.clone(), d.annotator));
        }
    }
    out.sort();
    out
}

#[test]
fn publish_join_label_sync_and_status_between_replicas() {
    let Some(hub) = Hub::new("roundtrip") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let publisher = rows_project(dir.path(), 6);
    Cli::new(BIN)
        .project(&publisher)
        .ok(&["label", "r1", "pos", "--annotator", "carol"]);
    let out = Cli::new(BIN).project(&publisher).ok(&[
        "hub",
        "publish",
        &hub.admin_url,
        "--name",
        "reviews",
    ]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("keylabel-test"),
        "no password printed"
    );
    let alice = hub.user("alice", "annotator");
    let bob = hub.user("bob", "annotator");
    let a = dir.path().join("alice.keylabel");
    let b = dir.path().join("bob.keylabel");
    hub.as_user(&alice, &a)
        .ok(&["join", &hub.url_of(&alice), "--name", "reviews"]);
    hub.as_user(&bob, &b)
        .ok(&["join", &hub.url_of(&bob), "--name", "reviews"]);
    // The replicas hold the publisher's samples, classes and events, no password.
    for r in [&a, &b] {
        assert_eq!(Project::open(r).unwrap().sample_count().unwrap(), 6);
        let bytes = std::fs::read(r).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("pw-"),
            "no password stored"
        );
    }
    assert_eq!(labels_of(&a), [("r1".to_string(), "carol".to_string())]);
    // The class schema is the hub project's: an annotator's replica cannot change it (only
    // a hub admin, on the hub, for every replica at once).
    for change in [
        &["classes", "add", "maybe"][..],
        &["classes", "rename", "pos", "positive"],
        &["classes", "archive", "neg"],
    ] {
        let out = hub.as_user(&alice, &a).run(change);
        assert!(!out.status.success(), "{change:?}");
        assert!(
            stderr(&out).contains("only a hub admin changes the classes"),
            "{}",
            stderr(&out)
        );
    }

    // Alice labels (as her login, whatever --annotator says is refused); bob syncs.
    hub.as_user(&alice, &a).ok(&["label", "r2", "neg"]);
    let refused = hub
        .as_user(&alice, &a)
        .run(&["label", "r3", "neg", "--annotator", "mallory"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("you label as your login"),
        "{}",
        stderr(&refused)
    );
    let synced = hub.as_user(&bob, &b).json(&["sync", "--json"]);
    assert_eq!(
        synced,
        serde_json::json!({"pushed": 0, "pulled": 1, "pending": 0})
    );
    assert!(labels_of(&b).contains(&("r2".to_string(), alice.clone())));
    // Again: nothing to do.
    let again = hub.as_user(&bob, &b).json(&["sync", "--json"]);
    assert_eq!(
        again,
        serde_json::json!({"pushed": 0, "pulled": 0, "pending": 0})
    );
    let status = hub.as_user(&bob, &b).json(&["status", "--json"]);
    assert_eq!(status["hub"]["url"], hub.url_of(&bob));
    assert_eq!(status["hub"]["name"], "reviews");
    assert_eq!(status["hub"]["pending"], 0);
    assert!(status["hub"]["last_sync"].is_string());

    // Offline: the hub unreachable, labels are kept and counted as pending; they drain when
    // it is back. (An unreachable address stands for the stopped server.)
    {
        let p = Project::open(&b).unwrap();
        let mut link = p.hub_link().unwrap().unwrap();
        let real = link.url.clone();
        link.url = real.replace(&hub.server, "127.0.0.1:1");
        p.set_hub_link(&link).unwrap();
        drop(p);
        let out = hub.as_user(&bob, &b).run(&["label", "r4", "pos"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("waits for the hub"),
            "{}",
            stderr(&out)
        );
        let st = hub.as_user(&bob, &b).json(&["status", "--json"]);
        assert_eq!(st["hub"]["pending"], 1);
        let p = Project::open(&b).unwrap();
        link.url = real;
        p.set_hub_link(&link).unwrap();
    }
    let back = hub.as_user(&bob, &b).json(&["sync", "--json"]);
    assert_eq!(
        back,
        serde_json::json!({"pushed": 1, "pulled": 0, "pending": 0})
    );
    hub.as_user(&alice, &a).json(&["sync", "--json"]);
    assert_eq!(
        labels_of(&a),
        labels_of(&b),
        "the same log on both replicas"
    );
    // The same answers everywhere: byte-identical exports.
    for (r, out) in [(&a, "ea"), (&b, "eb")] {
        hub.as_user("x", r).ok(&[
            "export",
            "--format",
            "csv",
            "--only-labeled",
            "--out",
            dir.path().join(out).to_str().unwrap(),
        ]);
    }
    let (ea, eb) = (
        export_of(&dir.path().join("ea")),
        export_of(&dir.path().join("eb")),
    );
    assert!(ea.len() > 1);
    assert_eq!(ea, eb);
    // An event recorded under another name (before the replica was linked, say) is
    // refused by the hub, named, and holds nothing else up.
    {
        let mut p = Project::open(&b).unwrap();
        let r5 = p.sample_by_name("r5").unwrap().unwrap().id;
        let pos = p.class_by_name("pos").unwrap().unwrap().id;
        p.record(keylabel::project::NewEvent::label(r5, "mallory", vec![pos]))
            .unwrap();
    }
    hub.as_user(&bob, &b).ok(&["label", "r6", "neg"]);
    let out = hub.as_user(&bob, &b).run(&["sync", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the hub refused event"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("`mallory`"), "{}", stderr(&out));
    assert_eq!(json_of(&out)["pending"], 1, "only mallory's event waits");
    let mut admin = postgres::Client::connect(&hub.admin_url, postgres::NoTls).unwrap();
    let r6_on_hub: i64 = admin
        .query_one(
            "SELECT count(*) FROM keylabel.events e JOIN keylabel.samples s \
             ON s.project_id = e.project_id AND s.id = e.sample_id WHERE s.name = 'r6'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(r6_on_hub, 1, "bob's own label went");
    // The refused event is kept and counted apart from those waiting for the hub.
    let status = json_of(&hub.as_user(&bob, &b).ok(&["status", "--json"]));
    assert_eq!(status["hub"]["pending"], 1, "{status}");
    let text = stdout(&hub.as_user(&bob, &b).ok(&["status"]));
    assert!(text.contains("waiting           0"), "{text}");
    assert!(text.contains("refused           1"), "{text}");
    // The sync that follows a label does not offer it again (nor name it again);
    // `keylabel sync` does, and it is still refused.
    let out = hub.as_user(&bob, &b).ok(&["label", "r4", "neg"]);
    assert!(!stderr(&out).contains("refused"), "{}", stderr(&out));
    let out = hub.as_user(&bob, &b).run(&["sync"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("`mallory`"), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("0 waiting for the hub")
            && stdout(&out).contains("1 event refused by the hub"),
        "{}",
        stdout(&out)
    );
}

/// A review decision the hub refuses (its author is an annotator) is kept on the replica;
/// once the hub's admin makes them a reviewer, `keylabel sync` offers it again and it goes.
#[test]
fn a_refused_event_goes_at_the_next_sync_once_the_hub_would_take_it() {
    let Some(hub) = Hub::new("retry_after_grant") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let [(ann, a)] =
        published_with_replicas(&hub, dir.path(), 3, "reviews", [("ann", "annotator")]);
    record_r1_pos(&a, &ann, keylabel::project::EventKind::Review);
    let out = hub.as_user(&ann, &a).run(&["sync", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("only a reviewer review decisions"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        json_of(&out),
        serde_json::json!({"pushed": 0, "pulled": 0, "pending": 1}),
        "the JSON shape of the issue, no more"
    );
    let text = stdout(&hub.as_user(&ann, &a).ok(&["status"]));
    assert!(text.contains("refused           1"), "{text}");
    let mut admin = postgres::Client::connect(&hub.admin_url, postgres::NoTls).unwrap();
    let reviews_on_hub = |admin: &mut postgres::Client| -> i64 {
        admin
            .query_one(
                "SELECT count(*) FROM keylabel.events WHERE kind = 'review'",
                &[],
            )
            .unwrap()
            .get(0)
    };
    assert_eq!(reviews_on_hub(&mut admin), 0);
    admin
        .batch_execute(&format!("GRANT keylabel_reviewer TO \"{ann}\""))
        .unwrap();
    // The sync after a label skips what was refused; an explicit sync retries it.
    hub.as_user(&ann, &a).ok(&["label", "r2", "neg"]);
    assert_eq!(reviews_on_hub(&mut admin), 0, "not offered again by itself");
    let out = hub.as_user(&ann, &a).ok(&["sync"]);
    assert!(!stderr(&out).contains("refused"), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Pushed 1 events") && !stdout(&out).contains("refused"),
        "{}",
        stdout(&out)
    );
    assert_eq!(reviews_on_hub(&mut admin), 1);
    let text = stdout(&hub.as_user(&ann, &a).ok(&["status"]));
    assert!(
        text.contains("waiting           0") && !text.contains("refused"),
        "{text}"
    );
}

#[test]
fn the_hub_itself_refuses_writing_as_another_updating_deleting_and_publishing() {
    let Some(hub) = Hub::new("perms") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let publisher = rows_project(dir.path(), 3);
    Cli::new(BIN)
        .project(&publisher)
        .ok(&["hub", "publish", &hub.admin_url, "--name", "p"]);
    let alice = hub.user("alice", "annotator");
    let rita = hub.user("rita", "reviewer");
    let insert = |who: &str, kind: &str, uid: &str| {
        format!(
            "INSERT INTO keylabel.events(project_id, uid, sample_id, annotator, kind, labels, \
             source, at) VALUES ((SELECT id FROM keylabel.projects WHERE name = 'p'), '{uid}', 1, \
             '{who}', '{kind}', '[1]', 'human', '2026-12-03T00:00:00Z')"
        )
    };
    let mut c = hub.client(&alice);
    let refused = |c: &mut postgres::Client, sql: &str| {
        let e = c.batch_execute(sql).expect_err(sql);
        let msg = e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_default();
        assert!(
            msg.contains("row-level security")
                || msg.contains("permission denied")
                || msg.contains("only their own claims"),
            "{sql}: {msg}"
        );
    };
    refused(&mut c, &insert("somebody_else", "label", "u1"));
    refused(&mut c, &insert(&alice, "review", "u2"));
    refused(&mut c, "UPDATE keylabel.events SET labels = '[2]'");
    refused(&mut c, "DELETE FROM keylabel.events");
    refused(
        &mut c,
        "INSERT INTO keylabel.projects(name, task, settings) VALUES ('mine', 'single', '{}')",
    );
    refused(
        &mut c,
        "INSERT INTO keylabel.samples(project_id, id, kind, name, path, hash, bytes, \
         imported_at) VALUES (1, 99, 'text', 'x', 'x', 'h', 1, 't')",
    );
    refused(
        &mut c,
        "INSERT INTO keylabel.aliases(project_id, name, sample_id) VALUES (1, 'other', 1)",
    );
    // Nor change the team's settings, or what a sample needs (claiming none at all).
    refused(
        &mut c,
        r#"UPDATE keylabel.projects SET settings = '{"overlap": 5}'"#,
    );
    refused(&mut c, "UPDATE keylabel.queue SET need = 0");
    // What an annotator may do, they can.
    c.batch_execute(&insert(&alice, "label", "u3")).unwrap();
    // Claims: each user's own. Rita claims sample 2; alice may neither drop nor extend
    // that claim, only add her own.
    let claim = |who: &str, until: &str| {
        format!(
            "UPDATE keylabel.queue SET claims = claims || jsonb_build_object('{who}', \
             (now() + interval '{until}')::text) WHERE sample_id = 2"
        )
    };
    hub.client(&rita)
        .batch_execute(&claim(&rita, "10 minutes"))
        .unwrap();
    refused(
        &mut c,
        &format!("UPDATE keylabel.queue SET claims = claims - '{rita}' WHERE sample_id = 2"),
    );
    refused(&mut c, &claim(&rita, "1 year"));
    c.batch_execute(&claim(&alice, "10 minutes")).unwrap();
    // A reviewer may also decide; an annotator's name is still not theirs to use.
    let mut r = hub.client(&rita);
    r.batch_execute(&insert(&rita, "review", "u4")).unwrap();
    refused(&mut r, &insert(&alice, "label", "u5"));
    // Append-only holds even for the hub's owner.
    let mut admin = postgres::Client::connect(&hub.admin_url, postgres::NoTls).unwrap();
    let e = admin
        .batch_execute("DELETE FROM keylabel.events")
        .expect_err("delete");
    let msg = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default();
    assert!(msg.contains("append-only"), "{msg}");
    // Not even a superuser's UPDATE.
    let e = admin
        .batch_execute("UPDATE keylabel.events SET note = 'x'")
        .expect_err("update");
    let msg = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default();
    assert!(msg.contains("append-only"), "{msg}");
    // And keylabel says so in its words: alice cannot publish.
    let other = rows_project(&dir.path().join("x").tap_mkdir(), 2);
    let out =
        hub.as_user(&alice, &other)
            .run(&["hub", "publish", &hub.url_of(&alice), "--name", "hers"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("only a hub admin publishes"),
        "{}",
        stderr(&out)
    );
    // Users and their roles.
    let users = hub
        .cli()
        .json(&["hub", "user", "list", &hub.admin_url, "--json"]);
    let find = |n: &str| {
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == n)
            .map(|u| u["role"].clone())
    };
    assert_eq!(find(&alice), Some("annotator".into()));
    assert_eq!(find(&rita), Some("reviewer".into()));
}

trait TapMkdir {
    fn tap_mkdir(self) -> PathBuf;
}

impl TapMkdir for PathBuf {
    fn tap_mkdir(self) -> PathBuf {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}

#[test]
fn eight_annotators_label_concurrently_through_claims() {
    let Some(hub) = Hub::new("claims") else {
        return;
    };
    let n = std::env::var("KEYLABEL_TEST_HUB_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    for overlap in [1u32, 2] {
        let dir = tempfile::tempdir().unwrap();
        let publisher = rows_project(dir.path(), n);
        let cli = Cli::new(BIN).project(&publisher);
        cli.ok(&["settings", "set", "overlap", &overlap.to_string()]);
        let name = format!("c{overlap}");
        cli.ok(&["hub", "publish", &hub.admin_url, "--name", &name]);
        let logins: Vec<String> = (0..8)
            .map(|i| hub.user(&format!("o{overlap}a{i}"), "annotator"))
            .collect();
        let replicas: Vec<PathBuf> = logins
            .iter()
            .map(|l| {
                let r = dir.path().join(format!("{l}.keylabel"));
                hub.as_user(l, &r)
                    .ok(&["join", &hub.url_of(l), "--name", &name]);
                r
            })
            .collect();
        // Each annotator: next, label, until nothing is left; all eight at once.
        let workers: Vec<_> = logins
            .iter()
            .zip(&replicas)
            .map(|(l, r)| {
                let cli = hub.as_user(l, r);
                std::thread::spawn(move || label_until_done(&cli))
            })
            .collect();
        let total: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
        assert_eq!(
            total,
            n * overlap as usize,
            "overlap {overlap}: labels made"
        );
        // Every sample by exactly `overlap` different annotators.
        hub.as_user(&logins[0], &replicas[0]).ok(&["sync"]);
        let labels = labels_of(&replicas[0]);
        let mut per_sample = std::collections::BTreeMap::<String, Vec<String>>::new();
        for (s, who) in labels {
            per_sample.entry(s).or_default().push(who);
        }
        assert_eq!(
            per_sample.len(),
            n,
            "overlap {overlap}: every sample labeled"
        );
        for (s, who) in &per_sample {
            let distinct: std::collections::BTreeSet<_> = who.iter().collect();
            assert_eq!(who.len(), overlap as usize, "{s}: {who:?}");
            assert_eq!(distinct.len(), overlap as usize, "{s}: {who:?}");
        }
    }
}

#[test]
fn an_expired_claim_is_offered_again() {
    let Some(hub) = Hub::new("lease") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (x, rx, y, ry) = two_annotators(&hub, dir.path(), 2, &[("claim-lease", "1")], "l");
    let next =
        |who: &str, r: &Path| hub.as_user(who, r).json(&["next", "--json"])["sample"].clone();
    assert_eq!(next(&x, &rx), "r1");
    assert_eq!(next(&x, &rx), "r1", "asking again keeps the same claim");
    assert_eq!(next(&y, &ry), "r2", "claimed by x: y gets another");
    // x walks away; after the lease r1 is offered again.
    std::thread::sleep(Duration::from_millis(1500));
    hub.as_user(&y, &ry).ok(&["label", "r2", "pos"]);
    assert_eq!(next(&y, &ry), "r1");
}

#[test]
fn sslmode_require_is_honoured_and_passwords_come_from_pgpass() {
    let Some(hub) = Hub::new("tls") else {
        return;
    };
    let url = keylabel::hub::HubUrl::parse(&format!("{}?sslmode=require", hub.admin_url)).unwrap();
    assert!(!url.shown().contains("keylabel-test"), "{}", url.shown());
    let mut c = url.connect().unwrap();
    let ssl: bool = c
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(ssl, "the connection is encrypted");
    // A user's password from a pgpass file (no PGPASSWORD, none in the URL).
    let dir = tempfile::tempdir().unwrap();
    let alice = hub.user("alice", "annotator");
    let (host, port) = hub.server.split_once(':').unwrap();
    let pgpass = dir.path().join("pgpass");
    std::fs::write(
        &pgpass,
        format!("# hub\n{host}:{port}:*:{alice}:{PASSWORD}\n"),
    )
    .unwrap();
    // (No PGPASSWORD either: another test of this binary sets one in the process.)
    let out = Cli::new(BIN)
        .env("PGPASSFILE", &pgpass)
        .command(&[
            "hub",
            "user",
            "list",
            &format!("{}?sslmode=require", hub.url_of(&alice)),
        ])
        .env_remove("PGPASSWORD")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&alice));
    // A wrong password is a clear refusal that names the hub, not the password.
    let out =
        Cli::new(BIN)
            .env("PGPASSWORD", "wrong")
            .run(&["hub", "user", "list", &hub.url_of(&alice)]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("cannot connect to the hub at") && !err.contains("wrong"),
        "{err}"
    );
}

/// Points the replica at `path` at an address where no server listens (the hub is
/// unreachable) or back at the real one.
fn set_reachable(hub: &Hub, path: &Path, reachable: bool) {
    let p = Project::open(path).unwrap();
    let mut link = p.hub_link().unwrap().unwrap();
    let dead = "127.0.0.1:1";
    link.url = if reachable {
        link.url.replace(dead, &hub.server)
    } else {
        link.url.replace(&hub.server, dead)
    };
    p.set_hub_link(&link).unwrap();
}

#[test]
fn two_replicas_label_one_sample_offline_then_both_labels_and_the_disagreement_show() {
    let Some(hub) = Hub::new("offline") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (x, rx, y, ry) = two_annotators(&hub, dir.path(), 3, &[("overlap", "2")], "o");
    for (who, r, class) in [(&x, &rx, "pos"), (&y, &ry, "neg")] {
        set_reachable(&hub, r, false);
        // Offline, next uses the local queue.
        let next = hub.as_user(who, r).json(&["next", "--json"]);
        assert_eq!(next["sample"], "r1");
        hub.as_user(who, r).ok(&["label", "r1", class]);
        assert_eq!(
            hub.as_user(who, r).json(&["status", "--json"])["hub"]["pending"],
            1
        );
        set_reachable(&hub, r, true);
    }
    let sx = hub.as_user(&x, &rx).json(&["sync", "--json"]);
    assert_eq!(
        sx,
        serde_json::json!({"pushed": 1, "pulled": 0, "pending": 0})
    );
    let sy = hub.as_user(&y, &ry).json(&["sync", "--json"]);
    assert_eq!(
        sy,
        serde_json::json!({"pushed": 1, "pulled": 1, "pending": 0})
    );
    hub.as_user(&x, &rx).ok(&["sync"]);
    for r in [&rx, &ry] {
        assert_eq!(
            labels_of(r),
            [("r1".to_string(), x.clone()), ("r1".to_string(), y.clone())]
        );
        let agreement = hub.as_user("z", r).json(&["agreement", "--json"]);
        assert_eq!(agreement["items"], 1, "{agreement}");
        assert_eq!(agreement["percent_agreement"], 0.0, "{agreement}");
        let p = Project::open(r).unwrap();
        let queue = keylabel::review::queue::review_queue(&p, 10).unwrap();
        assert_eq!(queue.len(), 1);
        assert_eq!(queue[0].name, "r1");
    }
}

/// A sample the annotator opens themselves (from the grid, say) is claimed while it is on
/// screen, so that the hub hands it to nobody else; the sample they left goes back to the
/// others once it is no longer among the next, and a label moves on to a claimed one.
#[test]
fn the_window_claims_the_sample_the_annotator_opens() {
    use egui::Key;
    use keylabel::app::App;
    use keylabel_testkit::window::{harness, wait_until};
    let Some(hub) = Hub::new("window_opened") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let [(alice, ra), (bob, rb)] = published_with_replicas(
        &hub,
        dir.path(),
        6,
        "w",
        [("alice", "annotator"), ("bob", "annotator")],
    );
    password_in_process();
    let mut app = App::new(None, "someone".into());
    app.open_project(&ra);
    let mut h = harness(app);
    wait_until(&mut h, "alice's claims", |a| {
        a.session().is_some_and(|s| s.claimed().count() == 2)
    });
    h.step();
    let mut admin = postgres::Client::connect(&hub.admin_url, postgres::NoTls).unwrap();
    assert_eq!(live_claims(&mut admin, &alice), ["r1", "r2"]);
    // Alice opens r5 herself, as the grid does.
    let r5 = Project::open(&ra)
        .unwrap()
        .sample_by_name("r5")
        .unwrap()
        .unwrap()
        .id;
    h.state_mut().session_mut().unwrap().go_to(r5).unwrap();
    let claims_become =
        |h: &mut egui_kittest::Harness<'_, App>, admin: &mut postgres::Client, want: &[&str]| {
            let start = std::time::Instant::now();
            while live_claims(admin, &alice) != want {
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "alice's claims stayed {:?}, not {want:?}",
                    live_claims(admin, &alice)
                );
                h.step();
                std::thread::sleep(Duration::from_millis(20));
            }
        };
    // r5 on screen and r1 next: r2 goes back to the others.
    claims_become(&mut h, &mut admin, &["r1", "r5"]);
    // So bob, with overlap 1, is handed r2, not r5.
    assert_eq!(
        hub.as_user(&bob, &rb).json(&["next", "--json"])["sample"],
        "r2"
    );
    hub.as_user(&bob, &rb).ok(&["label", "r2", "neg"]);
    assert_eq!(
        hub.as_user(&bob, &rb).json(&["next", "--json"])["sample"],
        "r3",
        "r5 is alice's while it is on her screen"
    );
    // Alice labels r5: the window moves on to her claimed r1, and the claims follow.
    h.key_press(Key::Num1);
    h.step();
    assert_eq!(
        h.state()
            .session()
            .and_then(|s| s.current.as_ref())
            .map(|c| c.sample.name.clone())
            .as_deref(),
        Some("r1")
    );
    claims_become(&mut h, &mut admin, &["r1", "r4"]);
}

/// An admin changes a replica's classes in the window's Project dialog: made on the hub on
/// a thread of its own (the window goes on drawing meanwhile), then taken in by the class
/// bar; an annotator's change is refused by the hub and said in the dialog.
#[test]
fn the_window_changes_a_replicas_classes_on_the_hub_in_the_background() {
    use egui::Key;
    use egui_kittest::kittest::Queryable;
    use keylabel::app::App;
    use keylabel_testkit::window::{harness, type_into, wait_until};
    let Some(hub) = Hub::new("window_classes") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let [(_, rboss), (_, ralice)] = published_with_replicas(
        &hub,
        dir.path(),
        3,
        "w",
        [("boss", "admin"), ("alice", "annotator")],
    );
    password_in_process();
    // `hold` keeps the hub project's class lock for that long from another connection, as
    // a slow hub or another admin's change would.
    let add_class = |replica: &Path, name: &str, hold: Option<Duration>| {
        let mut app = App::new(None, "someone".into());
        app.open_project(replica);
        let mut h = harness(app);
        wait_until(&mut h, "the first sync", |a| {
            a.project()
                .and_then(|p| p.hub.as_ref())
                .is_some_and(|s| s.state().connected == Some(true))
        });
        h.key_press(Key::P);
        h.step();
        type_into(&mut h, "New class", name);
        let holder = hold.map(|hold| {
            let url = hub.admin_url.clone();
            let (locked, is_locked) = std::sync::mpsc::channel();
            let t = std::thread::spawn(move || {
                let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                let mut tx = c.transaction().unwrap();
                tx.batch_execute(
                    "SELECT pg_advisory_xact_lock(2, id::integer) FROM keylabel.projects",
                )
                .unwrap();
                locked.send(()).unwrap();
                std::thread::sleep(hold);
                tx.commit().unwrap();
            });
            is_locked.recv().unwrap();
            t
        });
        h.get_by_label("Add class").click();
        h.step();
        if holder.is_some() {
            // The window did not wait: the change is still being made, and it says so.
            assert!(h.state().project().unwrap().class_change.is_some());
            h.step();
            h.get_by_label_contains("Changing the classes on the hub");
        }
        wait_until(&mut h, "the change on the hub", |a| {
            a.project().is_some_and(|p| p.class_change.is_none())
        });
        h.step();
        if let Some(t) = holder {
            t.join().unwrap();
        }
        h
    };
    let h = add_class(&rboss, "maybe", Some(Duration::from_millis(1500)));
    h.get_by_label_contains("Added “maybe” (key 3)");
    let names: Vec<String> = h
        .state()
        .session()
        .unwrap()
        .classes
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(names, ["pos", "neg", "maybe"]);
    drop(h);
    let mut admin = postgres::Client::connect(&hub.admin_url, postgres::NoTls).unwrap();
    let on_hub: Vec<String> = admin
        .query("SELECT name FROM keylabel.classes ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(on_hub, ["pos", "neg", "maybe"]);
    // An annotator's window offers no class change (the hub would refuse it, as the
    // command line shows) and says why; the classes are listed.
    let mut app = App::new(None, "someone".into());
    app.open_project(&ralice);
    let mut h = harness(app);
    wait_until(&mut h, "alice's first sync", |a| {
        a.project()
            .and_then(|p| p.hub.as_ref())
            .is_some_and(|s| s.state().role.is_some())
    });
    h.key_press(Key::P);
    h.step();
    h.get_by_label(
        "Only a hub admin changes the classes of the team project “w”; you are a hub annotator.",
    );
    assert!(h.query_by_label("Add class").is_none());
    assert!(h.query_by_label("New class").is_none());
    h.get_by_label("pos");
    let count: i64 = admin
        .query_one("SELECT count(*) FROM keylabel.classes", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 3);
}

/// The window counts the events the hub refused apart from those waiting, names the
/// hub's reason on hover, and stays connected; once the login is granted a role that lets
/// one through, it goes within a few seconds.
#[test]
fn the_window_shows_refused_events_apart_from_waiting_ones() {
    use egui_kittest::kittest::Queryable;
    use keylabel::app::App;
    use keylabel_testkit::window::{harness, wait_until};
    let Some(hub) = Hub::new("window_refused") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let [(alice, ra)] = published_with_replicas(&hub, dir.path(), 3, "w", [("alice", "annotator")]);
    record_r1_pos(&ra, "mallory", keylabel::project::EventKind::Label);
    // And a review decision of alice's, which the hub takes only from a reviewer.
    record_r1_pos(&ra, &alice, keylabel::project::EventKind::Review);
    password_in_process();
    let mut app = App::new(None, "someone".into());
    app.open_project(&ra);
    let mut h = harness(app);
    let hub_state = |a: &App| a.project().and_then(|p| p.hub.as_ref()).map(|s| s.state());
    wait_until(&mut h, "the refusals", |a| {
        hub_state(a).is_some_and(|s| s.refused_events == 2)
    });
    h.step();
    h.get_by_label_contains("· 2 refused");
    // Made a reviewer: the window sees it within a few seconds and offers the refused
    // events again, and the review decision goes.
    postgres::Client::connect(&hub.admin_url, postgres::NoTls)
        .unwrap()
        .batch_execute(&format!("GRANT keylabel_reviewer TO \"{alice}\""))
        .unwrap();
    wait_until(&mut h, "the role granted to take effect", |a| {
        hub_state(a)
            .is_some_and(|s| s.role == Some(keylabel::hub::Role::Reviewer) && s.refused_events == 1)
    });
    h.step();
    let s = hub_state(h.state()).unwrap();
    assert_eq!((s.connected, s.refused, s.pending), (Some(true), false, 1));
    assert!(
        s.first_refusal
            .as_deref()
            .is_some_and(|r| r.contains("`mallory`")),
        "{s:?}"
    );
    h.get_by_label_contains("Hub: connected");
    h.get_by_label_contains("· 1 refused");
    assert!(
        h.query_by_label_contains("waiting").is_none(),
        "a refused event is not waiting"
    );
}

#[test]
fn the_window_syncs_in_the_background_and_shows_the_hub() {
    use egui::Key;
    use egui_kittest::kittest::Queryable;
    use keylabel::app::App;
    use keylabel_testkit::window::{harness, wait_until};
    let Some(hub) = Hub::new("window") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let [(alice, ra), (bob, rb)] = published_with_replicas(
        &hub,
        dir.path(),
        4,
        "w",
        [("alice", "annotator"), ("bob", "annotator")],
    );

    // Bob asks for work first: the hub hands him r1.
    assert_eq!(
        hub.as_user(&bob, &rb).json(&["next", "--json"])["sample"],
        "r1"
    );

    password_in_process();
    // Started with another name (the OS user's, say): on a replica the window labels as
    // the hub login.
    let mut app = App::new(None, "someone".into());
    app.open_project(&ra);
    let mut h = harness(app);
    wait_until(&mut h, "the replica to open", |a| {
        a.session().is_some_and(|s| s.current.is_some())
    });
    wait_until(&mut h, "the first sync", |a| {
        a.project()
            .and_then(|p| p.hub.as_ref())
            .is_some_and(|s| s.state().connected == Some(true))
    });
    h.get_by_label_contains("Hub: connected");
    assert_eq!(h.state().session().unwrap().annotator, alice);
    // The window opened on r1, the local queue's first; the hub's claims for alice (the
    // sample to show and the next) replace it before anything is done on it.
    let current = |a: &App| {
        a.session()
            .and_then(|s| s.current.as_ref())
            .map(|c| c.sample.name.clone())
    };
    wait_until(&mut h, "alice's claims", |a| {
        a.session().is_some_and(|s| s.claimed().count() == 2)
    });
    h.step();
    assert_eq!(current(h.state()).as_deref(), Some("r2"), "bob holds r1");
    let mut admin = postgres::Client::connect(&hub.admin_url, postgres::NoTls).unwrap();
    assert_eq!(live_claims(&mut admin, &alice), ["r2", "r3"]);
    assert_eq!(live_claims(&mut admin, &bob), ["r1"]);
    // A key press: saved in the replica, then on the hub without a sync command; the
    // window moves on to the claimed r3 at once, and the hub tops the claims up with r4.
    h.key_press(Key::Num1);
    h.step();
    assert_eq!(current(h.state()).as_deref(), Some("r3"));
    let on_hub = |admin: &mut postgres::Client| -> i64 {
        admin
            .query_one(
                "SELECT count(*) FROM keylabel.events WHERE annotator = $1",
                &[&alice],
            )
            .unwrap()
            .get(0)
    };
    let start = std::time::Instant::now();
    while on_hub(&mut admin) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the label never reached the hub"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    let start = std::time::Instant::now();
    while live_claims(&mut admin, &alice) != ["r3", "r4"] {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "alice's claims are {:?}",
            live_claims(&mut admin, &alice)
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    // Bob labels his sample on his machine: alice's window takes it in (its class counts).
    hub.as_user(&bob, &rb).ok(&["label", "r1", "neg"]);
    let neg = Project::open(&ra)
        .unwrap()
        .class_by_name("neg")
        .unwrap()
        .unwrap()
        .id;
    wait_until(&mut h, "bob's label in alice's window", |a| {
        a.session()
            .is_some_and(|s| s.counts.per_class.get(&neg).copied() == Some(1))
    });
    assert!(labels_of(&ra).contains(&("r1".to_string(), bob.clone())));
    // An admin adds a class on the hub: alice's open window takes it in (and its key).
    let boss = hub.user("boss", "admin");
    let rboss = dir.path().join("boss.keylabel");
    let boss_cli = hub.as_user(&boss, &rboss);
    boss_cli.ok(&["join", &hub.url_of(&boss), "--name", "w"]);
    boss_cli.ok(&["classes", "add", "maybe"]);
    wait_until(&mut h, "the new class in alice's window", |a| {
        a.session().is_some_and(|s| {
            s.classes
                .iter()
                .any(|c| c.name == "maybe" && c.key.as_deref() == Some("3"))
        })
    });
    // Alice is an annotator: the review view says so instead of recording a decision
    // the hub would refuse.
    assert_eq!(
        h.state()
            .project()
            .and_then(|p| p.hub.as_ref())
            .unwrap()
            .state()
            .role,
        Some(keylabel::hub::Role::Annotator)
    );
    // The project dialog says why this login adds no samples and changes no classes
    // instead of offering what the hub would refuse.
    h.key_press(Key::P);
    h.step();
    h.get_by_label_contains(
        "Only a hub admin adds samples to the team project “w”; you are a hub annotator.",
    );
    assert!(h.query_by_label("Import").is_none());
    h.get_by_label_contains("Only a hub admin changes the classes");
    assert!(h.query_by_label("Add class").is_none());
    h.key_press(Key::Escape);
    h.step();
    // Bob disagrees with alice on r2: a sample for review.
    hub.as_user(&bob, &rb).ok(&["label", "r2", "neg"]);
    h.key_press(Key::R);
    wait_until(&mut h, "the review list with a sample", |a| {
        a.project().is_some_and(
            |p| matches!(&p.view, keylabel::app::screen::View::Review(v) if v.current().is_some()),
        )
    });
    h.key_press(Key::Num1);
    h.step();
    h.get_by_label_contains("Review decisions are a reviewer's");
    let reviews: i64 = keylabel_testkit::fixtures::sql(&Project::open(&ra).unwrap())
        .query_row(
            "SELECT count(*) FROM events WHERE kind = 'review'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(reviews, 0);
    // Closing the window gives its claims up: bob gets r3 now, not after the lease.
    assert!(!live_claims(&mut admin, &alice).is_empty());
    drop(h);
    // Closing does not wait for the hub; quitting waits for the claims to be given up.
    keylabel::app::hub_sync::finish_closing(keylabel::app::hub_sync::RELEASE_WAIT);
    assert_eq!(live_claims(&mut admin, &alice), Vec::<String>::new());
    assert_eq!(
        hub.as_user(&bob, &rb).json(&["next", "--json"])["sample"],
        "r3"
    );
}

/// The hub's project id of `name`.
fn project_id(admin: &mut postgres::Client, name: &str) -> i64 {
    admin
        .query_one("SELECT id FROM keylabel.projects WHERE name = $1", &[&name])
        .unwrap()
        .get(0)
}

/// Samples whose claim by `who` is live on the hub, by name.
fn live_claims(admin: &mut postgres::Client, who: &str) -> Vec<String> {
    admin
        .query(
            "SELECT s.name FROM keylabel.queue q JOIN keylabel.samples s \
             ON s.project_id = q.project_id AND s.id = q.sample_id \
             WHERE q.claims ? $1 AND (q.claims ->> $1)::timestamptz > now() ORDER BY s.id",
            &[&who],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// (sample, annotator) of every label event on the hub, sorted.
fn hub_labels(admin: &mut postgres::Client) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = admin
        .query(
            "SELECT s.name, e.annotator FROM keylabel.events e JOIN keylabel.samples s \
             ON s.project_id = e.project_id AND s.id = e.sample_id WHERE e.kind = 'label'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    out.sort();
    out
}

/// `who` asks for work and labels it until nothing is left; the labels made.
fn label_until_done(cli: &Cli) -> usize {
    let mut done = 0;
    loop {
        let next = json_of(&cli.run(&["next", "--json"]));
        let Some(sample) = next["sample"].as_str().map(str::to_string) else {
            return done;
        };
        cli.ok(&["label", &sample, if done % 2 == 0 { "pos" } else { "neg" }]);
        done += 1;
        assert!(done <= 100_000, "runaway");
    }
}

#[test]
fn an_annotator_killed_while_holding_a_claim_loses_nothing_and_its_sample_goes_to_others() {
    let Some(hub) = Hub::new("sigkill") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (x, rx, y, ry) = two_annotators(&hub, dir.path(), 5, &[("claim-lease", "2")], "k");
    assert_eq!(
        hub.as_user(&x, &rx).json(&["next", "--json"])["sample"],
        "r1"
    );

    // x labels r1: committed in x's replica, then the push waits on the hub's append lock
    // (held here), and x's process is killed right there, holding its claim.
    let mut admin = postgres::Client::connect(&hub.admin_url, postgres::NoTls).unwrap();
    let id = project_id(&mut admin, "k");
    let mut locker = postgres::Client::connect(&hub.admin_url, postgres::NoTls).unwrap();
    let mut lock = locker.transaction().unwrap();
    lock.execute(
        "SELECT pg_advisory_xact_lock(1, $1::integer)",
        &[&(id as i32)],
    )
    .unwrap();
    let mut labeling = hub
        .as_user(&x, &rx)
        .command(&["label", "r1", "pos"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !labels_of(&rx).contains(&("r1".to_string(), x.clone())) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "x's label never committed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        labeling.try_wait().unwrap().is_none(),
        "the push should be waiting"
    );
    labeling.kill().unwrap(); // SIGKILL
    labeling.wait().unwrap();
    lock.rollback().unwrap();
    assert_eq!(live_claims(&mut admin, &x), ["r1"]);
    assert!(hub_labels(&mut admin).is_empty(), "the push never happened");

    // y gets everything else, then r1 once x's lease is over.
    assert_eq!(label_until_done(&hub.as_user(&y, &ry)), 4);
    std::thread::sleep(Duration::from_millis(2100));
    assert!(live_claims(&mut admin, &x).is_empty());
    assert_eq!(label_until_done(&hub.as_user(&y, &ry)), 1);

    // x comes back: its label, saved before the kill, reaches the hub; r1 has two labels
    // (ordinary overlap).
    assert_eq!(
        hub.as_user(&x, &rx).json(&["status", "--json"])["hub"]["pending"],
        1
    );
    let s = hub.as_user(&x, &rx).json(&["sync", "--json"]);
    assert_eq!(s["pushed"], 1, "{s}");
    assert_eq!(s["pending"], 0, "{s}");
    let mut want: Vec<(String, String)> = (1..=5).map(|i| (format!("r{i}"), y.clone())).collect();
    want.push(("r1".into(), x.clone()));
    want.sort();
    assert_eq!(hub_labels(&mut admin), want);
    assert_eq!(
        hub.as_user(&x, &rx).json(&["next", "--json"])["sample"],
        serde_json::Value::Null
    );
}

/// A PostgreSQL cluster of a test's own (`scripts/pg-test-server`), which the test may
/// stop and start again; stopped when dropped.
struct OwnServer {
    dir: tempfile::TempDir,
    port: u16,
    url: String,
}

impl OwnServer {
    fn start() -> OwnServer {
        let dir = tempfile::tempdir().unwrap();
        let mut s = OwnServer {
            dir,
            port: 0,
            url: String::new(),
        };
        s.up();
        s.port = s
            .url
            .rsplit_once(':')
            .unwrap()
            .1
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        s
    }

    fn script() -> Cli {
        Cli::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/pg-test-server"
        ))
    }

    /// Starts the cluster (on the port it had, once it had one).
    fn up(&mut self) {
        let mut script = Self::script();
        if self.port != 0 {
            script = script.env("KEYLABEL_PG_PORT", self.port.to_string());
        }
        let out = script.ok(&[self.dir.path().to_str().unwrap()]);
        self.url = String::from_utf8(out.stdout).unwrap().trim().to_string();
    }

    fn down(&self) {
        Self::script().ok(&["stop", self.dir.path().to_str().unwrap()]);
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = Self::script().run(&["stop", self.dir.path().to_str().unwrap()]);
    }
}

#[test]
fn the_server_stopped_during_labeling_and_started_again_gets_every_label_once() {
    if test_server("restart").is_none() {
        return;
    }
    let mut server = OwnServer::start();
    let hub = Hub::on(&server.url, "restart");
    let dir = tempfile::tempdir().unwrap();
    let n = 600;
    let publisher = rows_project(dir.path(), n);
    Cli::new(BIN)
        .project(&publisher)
        .ok(&["hub", "publish", &hub.admin_url, "--name", "s"]);
    let logins: Vec<String> = (0..3)
        .map(|i| hub.user(&format!("a{i}"), "annotator"))
        .collect();
    let replicas: Vec<PathBuf> = logins
        .iter()
        .map(|l| {
            let r = dir.path().join(format!("{l}.keylabel"));
            hub.as_user(l, &r)
                .ok(&["join", &hub.url_of(l), "--name", "s"]);
            r
        })
        .collect();
    let workers: Vec<_> = logins
        .iter()
        .zip(&replicas)
        .map(|(l, r)| {
            let cli = hub.as_user(l, r);
            std::thread::spawn(move || label_until_done(&cli))
        })
        .collect();
    // Down for a while once labeling runs (fast stop: connections in use are cut), then
    // up again on the same port.
    std::thread::sleep(Duration::from_millis(800));
    server.down();
    let offline_from = labels_of(&replicas[0]).len();
    std::thread::sleep(Duration::from_millis(1500));
    let offline_to = labels_of(&replicas[0]).len();
    server.up();
    assert!(
        workers.iter().any(|w| !w.is_finished()),
        "labeling still runs when the server is back"
    );
    let made: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(
        offline_to > offline_from,
        "labeling went on while the server was down ({offline_from} → {offline_to})"
    );

    // After everyone syncs: every label made is on the hub, exactly once.
    for (l, r) in logins.iter().zip(&replicas) {
        let s = hub.as_user(l, r).json(&["sync", "--json"]);
        assert_eq!(s["pending"], 0, "{l}: {s}");
    }
    let mut admin = postgres::Client::connect(&hub.admin_url, postgres::NoTls).unwrap();
    let on_hub = hub_labels(&mut admin);
    assert_eq!(on_hub.len(), made, "labels made and labels on the hub");
    let mut pairs = on_hub.clone();
    pairs.dedup();
    assert_eq!(
        pairs.len(),
        on_hub.len(),
        "a sample labeled twice by one annotator"
    );
    let labeled: std::collections::BTreeSet<_> = on_hub.iter().map(|(s, _)| s).collect();
    assert_eq!(labeled.len(), n, "every sample labeled");
    // Every replica holds the same labels as the hub.
    for (l, r) in logins.iter().zip(&replicas) {
        hub.as_user(l, r).ok(&["sync"]);
        assert_eq!(labels_of(r), on_hub, "{l}");
    }
}

#[test]
fn a_join_killed_halfway_leaves_no_replica_and_the_next_join_makes_it() {
    let Some(hub) = Hub::new("joinkill") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let publisher = rows_project(dir.path(), 50);
    Cli::new(BIN)
        .project(&publisher)
        .ok(&["hub", "publish", &hub.admin_url, "--name", "j"]);
    let x = hub.user("x", "annotator");
    let rx = dir.path().join("x.keylabel");
    // The event log locked: the join copies every sample, then waits to pull the events,
    // and is killed there.
    let mut locker = postgres::Client::connect(&hub.admin_url, postgres::NoTls).unwrap();
    let mut lock = locker.transaction().unwrap();
    lock.batch_execute("LOCK TABLE keylabel.events IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let mut joining = hub
        .as_user(&x, &rx)
        .command(&["join", &hub.url_of(&x), "--name", "j"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut admin = postgres::Client::connect(&hub.admin_url, postgres::NoTls).unwrap();
    let start = std::time::Instant::now();
    while admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND wait_event_type = 'Lock'",
            &[&x],
        )
        .unwrap()
        .get::<_, i64>(0)
        == 0
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the join never waited"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    joining.kill().unwrap();
    joining.wait().unwrap();
    lock.rollback().unwrap();
    assert!(!rx.exists(), "a killed join left a replica behind");
    let leftovers = || -> Vec<String> {
        std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".x.keylabel.keylabel-join-"))
            .collect()
    };
    assert!(
        !leftovers().is_empty(),
        "the killed join had a temporary replica"
    );

    hub.as_user(&x, &rx)
        .ok(&["join", &hub.url_of(&x), "--name", "j"]);
    assert_eq!(Project::open(&rx).unwrap().sample_count().unwrap(), 50);
    assert_eq!(
        leftovers(),
        Vec::<String>::new(),
        "the next join removes what the killed one left"
    );
}

#[test]
fn join_checks_the_files_under_files_by_content_hash() {
    use keylabel_testkit::images;
    let Some(hub) = Hub::new("filehash") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let imgs = dir.path().join("imgs").tap_mkdir();
    for (i, name) in ["a.png", "b.png", "c.png"].iter().enumerate() {
        images::save(
            &imgs.join(name),
            images::pattern(16, 16, i as u32),
            image::ImageFormat::Png,
        );
    }
    let publisher = dir.path().join("publisher.keylabel");
    let cli = Cli::new(BIN).project(&publisher);
    cli.ok(&["init", "--classes", "cat,dog"]);
    cli.ok(&["import", imgs.to_str().unwrap()]);
    cli.ok(&["hub", "publish", &hub.admin_url, "--name", "f"]);
    // The annotator's copy: a.png the same, b.png another picture, c.png missing.
    let copy = dir.path().join("copy").join("imgs").tap_mkdir();
    std::fs::copy(imgs.join("a.png"), copy.join("a.png")).unwrap();
    images::save(
        &copy.join("b.png"),
        images::pattern(16, 16, 99),
        image::ImageFormat::Png,
    );
    let x = hub.user("x", "annotator");
    let rx = dir.path().join("x.keylabel");
    let out = hub.as_user(&x, &rx).ok(&[
        "join",
        &hub.url_of(&x),
        "--name",
        "f",
        "--files",
        dir.path().join("copy").to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert!(
        err.contains("1 sample files under") && err.contains("b.png") && !err.contains("a.png"),
        "{err}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 sample files are not under"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Validation names the changed file too.
    let v = hub.as_user(&x, &rx).run(&["validate", "--json"]);
    let report = String::from_utf8_lossy(&v.stdout);
    assert!(report.contains("b.png"), "{report}");
}

#[test]
fn a_replica_of_a_project_published_with_its_files_fetches_each_when_first_needed() {
    use keylabel::app::loader::{ImageKey, ImageLoader, ImageState};
    use keylabel::hub::files::HubFiles;
    use keylabel_testkit::images;
    let Some(hub) = Hub::new("withfiles") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let imgs = dir.path().join("imgs").tap_mkdir();
    images::save(
        &imgs.join("a.png"),
        images::pattern(16, 16, 1),
        image::ImageFormat::Png,
    );
    images::save(
        &imgs.join("b.png"),
        images::pattern(20, 12, 2),
        image::ImageFormat::Png,
    );
    images::write(
        &imgs.join("c.jpg"),
        &images::jpeg(&images::photo(40, 30, 3), 90),
    );
    let publisher = dir.path().join("publisher.keylabel");
    let cli = Cli::new(BIN).project(&publisher);
    cli.ok(&["init", "--classes", "pos,neg"]);
    cli.ok(&["import", imgs.to_str().unwrap()]);
    cli.ok(&[
        "hub",
        "publish",
        &hub.admin_url,
        "--name",
        "wf",
        "--with-files",
    ]);

    // x joins with nothing but the URL, in a folder of its own; nothing is fetched yet.
    let (x, y) = (hub.user("x", "annotator"), hub.user("y", "annotator"));
    let team = dir.path().join("team").tap_mkdir();
    let rx = team.join("x.keylabel");
    let x_cli = hub.as_user(&x, &rx);
    let out = x_cli.ok(&["join", &hub.url_of(&x), "--name", "wf"]);
    let said = String::from_utf8_lossy(&out.stdout);
    let cache = team.join("x.files");
    assert!(
        said.contains("fetched from the hub when first needed")
            && said.contains(&cache.display().to_string()),
        "{said}"
    );
    assert!(!cache.exists(), "join fetched files already");

    // The window's loader fetches the file of the image it shows, and only that one.
    let replica = Project::open(&rx).unwrap();
    let first = replica.find_sample("imgs/a.png").unwrap().unwrap();
    let file = replica.resolve(&first.path);
    assert!(file.starts_with(&cache), "{}", file.display());
    password_in_process();
    let mut loader = ImageLoader::with_threads(egui::Context::default(), 64 << 20, 1);
    loader.set_files(HubFiles::of(&replica).unwrap());
    let key = ImageKey {
        sample: first.id,
        path: file.clone(),
        max_side: 0,
    };
    let wait = |loader: &mut ImageLoader| loop {
        match loader.get(&key) {
            ImageState::Pending => std::thread::sleep(Duration::from_millis(5)),
            done => break done,
        }
    };
    let state = wait(&mut loader);
    assert!(
        matches!(
            state,
            ImageState::Ready {
                original_size: [16, 16],
                ..
            }
        ),
        "{state:?}"
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(imgs.join("a.png")).unwrap()
    );
    assert_eq!(files_of(&cache).len(), 1);
    drop(replica);

    // Labeling, validation and export fetch the rest; the export is byte for byte the one
    // of a replica joined with the original files.
    label_until_done(&x_cli);
    let v = json_of(&x_cli.run(&["validate", "--json"]));
    assert_eq!(v["ok"], true, "{v}");
    let fetched = files_of(&cache);
    assert_eq!(fetched.len(), 3, "{:?}", fetched.keys());
    let mut originals: Vec<Vec<u8>> = files_of(&imgs).into_values().collect();
    let mut cached: Vec<Vec<u8>> = fetched.into_values().collect();
    originals.sort();
    cached.sort();
    assert_eq!(cached, originals);
    let ry = dir.path().join("y.keylabel");
    hub.as_user(&y, &ry).ok(&[
        "join",
        &hub.url_of(&y),
        "--name",
        "wf",
        "--files",
        dir.path().to_str().unwrap(),
    ]);
    let (ex, ey) = (dir.path().join("ex"), dir.path().join("ey"));
    x_cli.ok(&[
        "export",
        "--format",
        "tfrecord",
        "--out",
        ex.to_str().unwrap(),
    ]);
    hub.as_user(&y, &ry).ok(&[
        "export",
        "--format",
        "tfrecord",
        "--out",
        ey.to_str().unwrap(),
    ]);
    assert_eq!(export_of(&ex), export_of(&ey));

    // A cached file deleted while the hub is out of reach: the export refuses, naming why,
    // and writes nothing; with the hub back, the file is fetched again.
    std::fs::remove_file(&file).unwrap();
    set_reachable(&hub, &rx, false);
    let out_dir = dir.path().join("offline");
    let refused = x_cli.run(&[
        "export",
        "--format",
        "tfrecord",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(err.contains("cannot connect to the hub"), "{err}");
    assert!(!out_dir.exists());
    // The window's loader says the image is away (not unusable), and shows it once the
    // hub is back.
    let source = |path: &Path| HubFiles::of(&Project::open(path).unwrap()).unwrap();
    loader.clear();
    loader.set_files(source(&rx));
    let away = wait(&mut loader);
    assert!(
        matches!(&away, ImageState::Away(why) if why.contains("cannot be reached")),
        "{away:?}"
    );
    set_reachable(&hub, &rx, true);
    loader.set_files(source(&rx));
    assert!(matches!(wait(&mut loader), ImageState::Away(_)), "kept");
    loader.forget_failed();
    let back = wait(&mut loader);
    assert!(matches!(back, ImageState::Ready { .. }), "{back:?}");
    std::fs::remove_file(&file).unwrap();
    x_cli.ok(&[
        "export",
        "--format",
        "tfrecord",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(export_of(&out_dir), export_of(&ex));
    assert!(file.is_file());

    // A damaged copy on the hub is refused by its content hash, not cached.
    let mut admin = postgres::Client::connect(&hub.admin_url, postgres::NoTls).unwrap();
    admin
        .execute(
            "UPDATE keylabel.files SET bytes = '\\x00'::bytea WHERE hash = $1",
            &[&first.hash],
        )
        .unwrap();
    std::fs::remove_file(&file).unwrap();
    let bad = x_cli.run(&["validate"]);
    assert!(!bad.status.success());
    let err = stderr(&bad);
    assert!(
        err.contains("has other content") && err.contains(&first.hash),
        "{err}"
    );
    assert!(!file.exists());
}

#[test]
fn the_qa_fraction_offers_its_samples_to_one_annotator_more_through_claims() {
    let Some(hub) = Hub::new("qa") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (x, rx, y, ry) = two_annotators(
        &hub,
        dir.path(),
        40,
        &[("overlap", "1"), ("qa-fraction", "0.3")],
        "qa",
    );
    let z = hub.user("z", "annotator");
    let rz = dir.path().join("z.keylabel");
    hub.as_user(&z, &rz)
        .ok(&["join", &hub.url_of(&z), "--name", "qa"]);
    // Which rows the fraction selects: a function of their content, the same here as in
    // the local queue.
    let selected: std::collections::BTreeSet<String> = {
        let p = Project::open(&rx).unwrap();
        p.sample_summaries(&SampleQuery::default(), 0, u64::MAX)
            .unwrap()
            .into_iter()
            .filter(|s| keylabel::project::qa_selected(&s.hash, 0.3))
            .map(|s| s.name)
            .collect()
    };
    assert!(
        (4..=22).contains(&selected.len()),
        "0.3 of 40 selects about 12: {selected:?}"
    );
    // x labels all it is handed (every row), y then only the selected ones, z nothing.
    assert_eq!(label_until_done(&hub.as_user(&x, &rx)), 40);
    assert_eq!(label_until_done(&hub.as_user(&y, &ry)), selected.len());
    assert_eq!(label_until_done(&hub.as_user(&z, &rz)), 0);
    let mut admin = postgres::Client::connect(&hub.admin_url, postgres::NoTls).unwrap();
    // Each row's need is the overlap, one more for those the fraction selects, so that the
    // claims' index holds exactly the samples still open: none are left.
    let needs = hub_needs(&mut admin);
    assert_eq!(needs.iter().filter(|&&n| n == 2).count(), selected.len());
    assert_eq!(
        needs.iter().filter(|&&n| n == 1).count(),
        40 - selected.len()
    );
    let open: i64 = admin
        .query_one(
            "SELECT count(*) FROM keylabel.queue WHERE cardinality(decided_by) < need",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(open, 0);
    let by_y: std::collections::BTreeSet<String> = hub_labels(&mut admin)
        .into_iter()
        .filter(|(_, who)| *who == y)
        .map(|(s, _)| s)
        .collect();
    assert_eq!(by_y, selected);

    // A hub that answers with a refusal is not "offline": `next` says why and does not
    // fall back to the local queue.
    admin
        .batch_execute(&format!("REVOKE keylabel_annotator FROM \"{z}\""))
        .unwrap();
    let refused = hub.as_user(&z, &rz).run(&["next", "--json"]);
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(
        err.contains(&format!("the hub refused the login `{z}`"))
            && err.contains("ask the hub's admin")
            && err.contains("permission denied"),
        "{err}"
    );
    assert!(!err.contains("local queue"), "{err}");
}

/// `need` of every queue row of the hub, in sample order.
fn hub_needs(admin: &mut postgres::Client) -> Vec<i32> {
    admin
        .query("SELECT need FROM keylabel.queue ORDER BY sample_id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// A team of [`two_annotators`] on a project of `n` rows published as `name`, and an admin
/// `a` who joined it too: x's, y's and a's command lines, y's login and the replicas of x
/// and a.
fn two_annotators_and_an_admin(
    hub: &Hub,
    dir: &Path,
    n: usize,
    name: &str,
) -> (Cli, Cli, Cli, String, PathBuf, PathBuf) {
    let (x, rx, y, ry) = two_annotators(hub, dir, n, &[], name);
    let (xc, yc) = (hub.as_user(&x, &rx), hub.as_user(&y, &ry));
    let a = hub.user("a", "admin");
    let ra = dir.join("a.keylabel");
    let ac = hub.as_user(&a, &ra);
    ac.ok(&["join", &hub.url_of(&a), "--name", name]);
    (xc, yc, ac, y, rx, ra)
}

#[test]
fn an_admin_changes_the_settings_of_a_team_project_and_every_replica_and_claim_follows() {
    let Some(hub) = Hub::new("settings") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (xc, yc, ac, y, rx, ra) = two_annotators_and_an_admin(&hub, dir.path(), 6, "s");
    let mut admin = postgres::Client::connect(&hub.admin_url, postgres::NoTls).unwrap();
    let hub_settings = |admin: &mut postgres::Client| -> serde_json::Value {
        let text: String = admin
            .query_one("SELECT settings FROM keylabel.projects", &[])
            .unwrap()
            .get(0);
        serde_json::from_str(&text).unwrap()
    };
    // Overlap 1: x labels everything, nothing is left for y.
    assert_eq!(label_until_done(&xc), 6);
    assert_eq!(label_until_done(&yc), 0);
    assert_eq!(hub_needs(&mut admin), vec![1; 6]);

    // An annotator may not change the team's settings: PostgreSQL refuses, nothing changes
    // on the hub or on their replica. Their own way of working is theirs to change.
    let refused = yc.run(&["settings", "set", "overlap", "2"]);
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(
        err.contains("only a hub admin changes the settings") && err.contains(&y),
        "{err}"
    );
    assert_eq!(yc.json(&["settings"])["overlap"], 1);
    let own = yc.json(&["settings", "set", "suggestion-threshold", "0.8"]);
    assert_eq!(own["suggestion_threshold"], 0.8);
    assert_eq!(hub_settings(&mut admin)["overlap"], 1);
    assert_eq!(hub_settings(&mut admin)["suggestion_threshold"], 0.5);
    // Nor, out of reach of the hub, can an admin change it alone.
    set_reachable(&hub, &ra, false);
    assert!(
        !ac.run(&["settings", "set", "overlap", "2"])
            .status
            .success()
    );
    assert_eq!(ac.json(&["settings"])["overlap"], 1);
    set_reachable(&hub, &ra, true);

    // The admin sets overlap 2: on the hub, in what each sample needs, and on every
    // replica at its next sync; y is now handed every sample, x none.
    assert_eq!(ac.json(&["settings", "set", "overlap", "2"])["overlap"], 2);
    assert_eq!(hub_settings(&mut admin)["overlap"], 2);
    assert_eq!(hub_needs(&mut admin), vec![2; 6]);
    yc.ok(&["sync"]);
    let ys = yc.json(&["settings"]);
    assert_eq!(ys["overlap"], 2, "{ys}");
    assert_eq!(ys["suggestion_threshold"], 0.8, "y's own kept: {ys}");
    assert_eq!(label_until_done(&xc), 0);
    assert_eq!(label_until_done(&yc), 6);

    // A QA fraction of 1 selects every sample for one annotator more: a third one gets
    // them all through claims.
    ac.ok(&["settings", "set", "qa-fraction", "1"]);
    assert_eq!(hub_needs(&mut admin), vec![3; 6]);
    let z = hub.user("z", "annotator");
    let rz = dir.path().join("z.keylabel");
    let zc = hub.as_user(&z, &rz);
    zc.ok(&["join", &hub.url_of(&z), "--name", "s"]);
    assert_eq!(zc.json(&["settings"])["qa_fraction"], 1.0);
    assert_eq!(label_until_done(&zc), 6);
    assert_eq!(label_until_done(&xc), 0);
    xc.ok(&["sync"]);
    assert_eq!(xc.json(&["settings"])["qa_fraction"], 1.0);
    assert_eq!(labels_of(&rx).len(), 18);
}

/// `classes list --json` of `path`: (name, key, archived) of each class.
fn classes_of(cli: &Cli) -> Vec<(String, Option<String>, bool)> {
    let v = cli.json(&["classes", "list", "--json"]);
    v["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["key"].as_str().map(str::to_string),
                c["archived"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn an_admin_changes_the_classes_of_a_published_project_and_every_replica_takes_them_in() {
    let Some(hub) = Hub::new("classes") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (xc, yc, ac, _, _, ra) = two_annotators_and_an_admin(&hub, dir.path(), 4, "c");
    let two = vec![
        ("pos".to_string(), Some("1".to_string()), false),
        ("neg".to_string(), Some("2".to_string()), false),
    ];

    // An annotator may not change the schema: PostgreSQL refuses, nothing changes anywhere.
    let refused = xc.run(&["classes", "add", "maybe"]);
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(err.contains("only a hub admin"), "{err}");
    assert_eq!(classes_of(&xc), two);
    // Nor, out of reach of the hub, can an admin change it alone.
    set_reachable(&hub, &ra, false);
    assert!(!ac.run(&["classes", "add", "maybe"]).status.success());
    assert_eq!(classes_of(&ac), two);
    set_reachable(&hub, &ra, true);

    let added = stdout(&ac.ok(&["classes", "add", "maybe"]));
    assert!(
        added.contains("Added class `maybe` (key 3)") && added.contains("next sync"),
        "{added}"
    );
    ac.ok(&["classes", "rename", "neg", "negative"]);
    // x takes the change in at its sync and labels with the new class; y, which has not
    // synced since, takes in the class and x's label in one sync (classes come first).
    xc.ok(&["sync"]);
    let three = vec![
        ("pos".to_string(), Some("1".to_string()), false),
        ("negative".to_string(), Some("2".to_string()), false),
        ("maybe".to_string(), Some("3".to_string()), false),
    ];
    assert_eq!(classes_of(&xc), three);
    xc.ok(&["label", "r1", "maybe"]);
    xc.ok(&["sync"]);
    yc.ok(&["sync"]);
    assert_eq!(classes_of(&yc), three);
    let status = yc.json(&["status", "--json"]);
    let maybe = status["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "maybe")
        .cloned()
        .unwrap();
    assert_eq!(maybe["count"], 1, "{status}");

    // Archived on the hub: no longer offered anywhere, its label kept.
    ac.ok(&["classes", "archive", "maybe"]);
    yc.ok(&["sync"]);
    assert_eq!(
        classes_of(&yc)[2],
        ("maybe".to_string(), None, true),
        "archived on y"
    );
    let mut admin = postgres::Client::connect(&hub.admin_url, postgres::NoTls).unwrap();
    let on_hub: Vec<(i64, String, bool)> = admin
        .query(
            "SELECT id, name, archived FROM keylabel.classes ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        on_hub,
        vec![
            (1, "pos".to_string(), false),
            (2, "negative".to_string(), false),
            (3, "maybe".to_string(), true)
        ]
    );
    // A replica joined now starts with the schema as it is.
    let z = hub.user("z", "annotator");
    let rz = dir.path().join("z.keylabel");
    let zc = hub.as_user(&z, &rz);
    zc.ok(&["join", &hub.url_of(&z), "--name", "c"]);
    assert_eq!(classes_of(&zc), classes_of(&yc));
}

#[test]
fn an_annotators_replica_takes_no_new_samples_and_records_imported_labels_under_its_login() {
    let Some(hub) = Hub::new("imports") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (x, rx, _, _) = two_annotators(&hub, dir.path(), 3, &[], "s");
    let xc = hub.as_user(&x, &rx);
    // Only an admin adds samples to a team project.
    let more = dir.path().join("more.csv");
    std::fs::write(&more, "id,text\nr9,row 9\n").unwrap();
    let refused = xc.run(&["import", more.to_str().unwrap(), "--id-column", "id"]);
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(
        err.contains("cannot import into")
            && err.contains("hub project `s`")
            && err.contains("only a hub admin adds samples")
            && err.contains("is a hub annotator"),
        "{err}"
    );
    assert_eq!(Project::open(&rx).unwrap().sample_count().unwrap(), 3);

    // Labels from a file are x's own on x's replica (the hub takes only those), and another
    // name is refused before anything is recorded.
    let labels = dir.path().join("labels.csv");
    std::fs::write(&labels, "sample,label\nr1,pos\nr2,neg\n").unwrap();
    let other = xc.run(&[
        "import-labels",
        labels.to_str().unwrap(),
        "--annotator",
        "model",
    ]);
    assert!(!other.status.success(), "{}", stderr(&other));
    assert!(stderr(&other).contains("where you label as your login"));
    xc.ok(&["import-labels", labels.to_str().unwrap()]);
    let synced = xc.json(&["sync", "--json"]);
    assert_eq!(
        (synced["pushed"].as_u64(), synced["pending"].as_u64()),
        (Some(2), Some(0))
    );
    let mut admin = postgres::Client::connect(&hub.admin_url, postgres::NoTls).unwrap();
    assert_eq!(
        hub_labels(&mut admin),
        vec![("r1".to_string(), x.clone()), ("r2".to_string(), x.clone())]
    );

    // A replica that got a sample of its own anyway (an older keylabel let import do it):
    // the hub refuses the events on it and takes every other one.
    {
        let mut p = Project::open(&rx).unwrap();
        let first = p
            .sample_summaries(&SampleQuery::default(), 0, 1)
            .unwrap()
            .remove(0);
        let mut own = p.sample(first.id).unwrap().unwrap();
        own.id = keylabel::project::SampleId(99);
        own.name = "r99".into();
        own.hash = "f".repeat(64);
        p.insert_replica_samples(&[own]).unwrap();
    }
    xc.ok(&["label", "r99", "pos"]);
    // `label` syncs itself: r3's label goes, r99's stays behind.
    xc.ok(&["label", "r3", "pos"]);
    let out = xc.ok(&["sync", "--json"]);
    let synced = json_of(&out);
    assert_eq!(
        (synced["pushed"].as_u64(), synced["pending"].as_u64()),
        (Some(0), Some(1))
    );
    assert!(
        stderr(&out).contains("its sample #99 is not in the hub project"),
        "{}",
        stderr(&out)
    );
    assert_eq!(hub_labels(&mut admin).len(), 3);
}

/// `n` small PNGs in `dir/imgs` (`00.png`, `01.png`, …), imported into
/// `dir/publisher.keylabel` and published with their files as `name`; the folder.
fn pngs_published_with_files(hub: &Hub, dir: &Path, n: u32, name: &str) -> PathBuf {
    use keylabel_testkit::images;
    let imgs = dir.join("imgs").tap_mkdir();
    for i in 0..n {
        images::save(
            &imgs.join(format!("{i:02}.png")),
            images::pattern(12, 12, i),
            image::ImageFormat::Png,
        );
    }
    let pc = Cli::new(BIN).project(dir.join("publisher.keylabel"));
    pc.ok(&["init", "--classes", "pos,neg"]);
    pc.ok(&["import", imgs.to_str().unwrap()]);
    pc.ok(&[
        "hub",
        "publish",
        &hub.admin_url,
        "--name",
        name,
        "--with-files",
    ]);
    imgs
}

/// A replica `team/NAME.keylabel` of the hub project `project` for each new hub user
/// (name, role) of `users`, joined with nothing but the URL: its login, replica and command
/// line.
fn joined<const N: usize>(
    hub: &Hub,
    team: &Path,
    project: &str,
    users: [(&str, &str); N],
) -> [(String, PathBuf, Cli); N] {
    users.map(|(user, role)| {
        let login = hub.user(user, role);
        let replica = team.join(format!("{user}.keylabel"));
        let cli = hub.as_user(&login, &replica);
        cli.ok(&["join", &hub.url_of(&login), "--name", project]);
        (login, replica, cli)
    })
}

/// (id, name, content hash) of every sample of the project at `path`, in id order.
fn samples_of(path: &Path) -> Vec<(i64, String, String)> {
    let p = Project::open(path).unwrap();
    let mut out = Vec::new();
    p.each_sample(|s| {
        out.push((s.id.0, s.name, s.hash));
        Ok(())
    })
    .unwrap();
    out
}

/// A CSV of rows `prefix1` … `prefixN` (text `PREFIX row I`) at `dir/NAME`.
fn rows_csv(dir: &Path, name: &str, prefix: &str, n: usize) -> PathBuf {
    let path = dir.join(name);
    let mut text = String::from("id,text\n");
    for i in 1..=n {
        text.push_str(&format!("{prefix}{i},{prefix} row {i}\n"));
    }
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn an_admin_adds_samples_to_a_team_project_and_every_replica_takes_them_in() {
    let Some(hub) = Hub::new("addsamples") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let [(a, ra), (b, rb), (x, rx)] = published_with_replicas(
        &hub,
        dir.path(),
        3,
        "grow",
        [("a", "admin"), ("b", "admin"), ("x", "annotator")],
    );
    let (ac, bc, xc) = (
        hub.as_user(&a, &ra),
        hub.as_user(&b, &rb),
        hub.as_user(&x, &rx),
    );
    xc.ok(&["label", "r1", "pos"]);

    // The import counts against the whole team project: r1 is there already, r2 is there
    // with other content, r4 and r5 are new.
    let more = dir.path().join("more.csv");
    std::fs::write(&more, "id,text\nr1,row 1\nr4,row 4\nr5,row 5\nr2,changed\n").unwrap();
    let report = ac.json(&[
        "import",
        more.to_str().unwrap(),
        "--id-column",
        "id",
        "--json",
    ]);
    assert_eq!(report["added"], 2, "{report}");
    assert_eq!(report["already_present"], 1, "{report}");
    let unreadable = report["unreadable"].as_array().unwrap();
    assert_eq!(unreadable.len(), 1, "{report}");
    assert!(
        unreadable[0]["reason"]
            .as_str()
            .unwrap()
            .contains("the name `r2` is already taken"),
        "{report}"
    );
    let names =
        |path: &Path| -> Vec<String> { samples_of(path).into_iter().map(|s| s.1).collect() };
    assert_eq!(names(&ra), ["r1", "r2", "r3", "r4", "r5"]);
    // Nothing is left beside the replica.
    let beside: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(beside.is_empty(), "{beside:?}");

    // Two admins importing at once: every sample gets an id of its own.
    let (fa, fb) = (
        rows_csv(dir.path(), "fa.csv", "a", 300),
        rows_csv(dir.path(), "fb.csv", "b", 300),
    );
    let spawn = |cli: &Cli, file: &Path| {
        cli.command(&["import", file.to_str().unwrap(), "--id-column", "id"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut pa, mut pb) = (spawn(&ac, &fa), spawn(&bc, &fb));
    assert!(pa.wait().unwrap().success());
    assert!(pb.wait().unwrap().success());
    for cli in [&ac, &bc, &xc] {
        cli.ok(&["sync"]);
    }
    hub.as_superuser(&dir.path().join("publisher.keylabel"))
        .ok(&["sync"]);
    let everywhere = samples_of(&ra);
    assert_eq!(everywhere.len(), 605);
    let ids: std::collections::BTreeSet<i64> = everywhere.iter().map(|s| s.0).collect();
    assert_eq!(ids.len(), 605);
    for replica in [&rb, &rx, &dir.path().join("publisher.keylabel")] {
        assert_eq!(samples_of(replica), everywhere, "{}", replica.display());
    }

    // The annotator labels the new samples through claims; the hub takes every label, and
    // two replicas export the same bytes.
    let status = xc.json(&["status", "--json"]);
    assert_eq!(status["samples"], 605, "{status}");
    assert_eq!(label_until_done(&xc), 604);
    let synced = xc.json(&["sync", "--json"]);
    assert_eq!(synced["pending"], 0, "{synced}");
    let mut admin = postgres::Client::connect(&hub.admin_url, postgres::NoTls).unwrap();
    assert_eq!(hub_labels(&mut admin).len(), 605);
    ac.ok(&["sync"]);
    let (ea, ex) = (dir.path().join("ea"), dir.path().join("ex"));
    for (cli, out) in [(&ac, &ea), (&xc, &ex)] {
        cli.ok(&["export", "--format", "csv", "--out", out.to_str().unwrap()]);
    }
    assert_eq!(export_of(&ea), export_of(&ex));

    // An import killed halfway leaves nothing on the hub or in the replica; the next one
    // clears what it left.
    let big = rows_csv(dir.path(), "big.csv", "big", 50_000);
    let mut child = ac
        .command(&["import", big.to_str().unwrap(), "--id-column", "id"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let scratch = format!(".a.keylabel.keylabel-import-{}", child.id());
    let scratch_exists = || {
        std::fs::read_dir(dir.path()).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(&scratch)
        })
    };
    while !scratch_exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap();
    child.wait().unwrap();
    let on_hub = |admin: &mut postgres::Client| -> i64 {
        admin
            .query_one("SELECT count(*) FROM keylabel.samples", &[])
            .unwrap()
            .get(0)
    };
    assert_eq!(on_hub(&mut admin), 605);
    assert_eq!(samples_of(&ra), everywhere);
    ac.ok(&["import", more.to_str().unwrap(), "--id-column", "id"]);
    assert!(
        !scratch_exists(),
        "the killed import's scratch file is left"
    );
    assert_eq!(on_hub(&mut admin), 605);

    // With the hub out of reach, an import is refused and the replica keeps what it has.
    set_reachable(&hub, &ra, false);
    let late = rows_csv(dir.path(), "late.csv", "late", 2);
    let offline = ac.run(&["import", late.to_str().unwrap(), "--id-column", "id"]);
    assert!(!offline.status.success());
    let err = stderr(&offline);
    assert!(
        err.contains("samples are added on the hub, out of reach")
            && err.contains("cannot connect"),
        "{err}"
    );
    assert_eq!(samples_of(&ra), everywhere);
}

#[test]
fn images_added_to_a_team_project_reach_each_replica_where_it_keeps_its_files() {
    use keylabel_testkit::images;
    let Some(hub) = Hub::new("addimages") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let imgs = dir.path().join("imgs").tap_mkdir();
    let pattern = |path: &Path, seed: u32| {
        images::save(path, images::pattern(16, 16, seed), image::ImageFormat::Png)
    };
    pattern(&imgs.join("a.png"), 1);
    pattern(&imgs.join("b.png"), 2);
    let publisher = dir.path().join("publisher.keylabel");
    let pc = hub.as_superuser(&publisher);
    pc.ok(&["init", "--classes", "pos,neg"]);
    pc.ok(&["import", imgs.to_str().unwrap()]);
    // A copy of b.png elsewhere, imported before publishing: b.png's other name.
    let elsewhere = dir.path().join("elsewhere").tap_mkdir();
    std::fs::copy(imgs.join("b.png"), elsewhere.join("b-copy.png")).unwrap();
    pc.ok(&["import", elsewhere.to_str().unwrap()]);
    pc.ok(&["hub", "publish", &hub.admin_url, "--name", "pics"]);
    // x keeps a copy of the files in a folder of its own.
    let copy = dir.path().join("copy").tap_mkdir();
    let x = hub.user("x", "annotator");
    let rx = dir.path().join("team").tap_mkdir().join("x.keylabel");
    let xc = hub.as_user(&x, &rx);
    xc.ok(&[
        "join",
        &hub.url_of(&x),
        "--name",
        "pics",
        "--files",
        copy.to_str().unwrap(),
    ]);

    // The publisher (the hub's superuser: an admin) adds c.png, and a duplicate of a.png
    // under another name, which stays known as a.png's other name.
    pattern(&imgs.join("c.png"), 3);
    std::fs::copy(imgs.join("a.png"), imgs.join("a-again.png")).unwrap();
    let report = pc.json(&["import", imgs.to_str().unwrap(), "--json"]);
    assert_eq!(
        (
            &report["added"],
            &report["already_present"],
            &report["duplicates"]
        ),
        (&1.into(), &2.into(), &1.into()),
        "{report}"
    );
    let p = Project::open(&publisher).unwrap();
    let a = p.sample_by_name("imgs/a.png").unwrap().unwrap();
    assert_eq!(p.aliases_of(a.id).unwrap(), ["imgs/a-again.png"]);
    assert_eq!(
        p.sample_by_name("imgs/c.png").unwrap().unwrap().path,
        "imgs/c.png"
    );
    drop(p);

    // x finds the new image under its own folder, by the same relative path, and knows
    // the other names as the publisher does.
    xc.ok(&["sync"]);
    let r = Project::open(&rx).unwrap();
    let c = r.sample_by_name("imgs/c.png").unwrap().unwrap();
    assert_eq!(r.resolve(&c.path), copy.join("imgs/c.png"));
    assert_eq!(r.aliases_of(a.id).unwrap(), ["imgs/a-again.png"]);
    let b = r.sample_by_name("imgs/b.png").unwrap().unwrap();
    assert_eq!(r.aliases_of(b.id).unwrap(), ["elsewhere/b-copy.png"]);
    // Each image's SHA-256 comes with it, published or imported later, as its import
    // took it: an export from the replica does not hash the files again.
    use sha2::Digest as _;
    for (s, file) in [(&a, "a.png"), (&b, "b.png"), (&c, "c.png")] {
        let here = r.sample(s.id).unwrap().unwrap();
        let want: [u8; 32] = sha2::Sha256::digest(std::fs::read(imgs.join(file)).unwrap()).into();
        assert_eq!(here.sha256, Some(want), "{file}");
    }
    drop(r);
    let history = stdout(&xc.ok(&["history", "imgs/a-again.png"]));
    assert!(history.contains("imgs/a.png"), "{history}");
    std::fs::create_dir_all(copy.join("imgs")).unwrap();
    for name in ["a.png", "b.png", "c.png"] {
        std::fs::copy(imgs.join(name), copy.join("imgs").join(name)).unwrap();
    }
    assert_eq!(label_until_done(&xc), 3);
    let v = xc.json(&["validate", "--json"]);
    assert_eq!(v["ok"], true, "{v}");

    // a-again.png gets content of its own and is imported again: a sample of its own
    // now, no longer a.png's other name, on every replica (the hub keeps its aliases as
    // they were appended; a name that names a sample is nobody's other name).
    pattern(&imgs.join("a-again.png"), 4);
    let report = pc.json(&["import", imgs.to_str().unwrap(), "--json"]);
    assert_eq!(report["added"], 1, "{report}");
    xc.ok(&["sync"]);
    let y = hub.user("y", "annotator");
    let ry = dir.path().join("team").join("y.keylabel");
    hub.as_user(&y, &ry)
        .ok(&["join", &hub.url_of(&y), "--name", "pics"]);
    for replica in [&publisher, &rx, &ry] {
        let r = Project::open(replica).unwrap();
        let again = r.sample_by_name("imgs/a-again.png").unwrap().unwrap();
        assert_ne!(again.id, a.id, "{}", replica.display());
        assert!(
            r.aliases_of(a.id).unwrap().is_empty(),
            "{}",
            replica.display()
        );
        assert_eq!(
            r.aliases_of(b.id).unwrap(),
            ["elsewhere/b-copy.png"],
            "{}",
            replica.display()
        );
    }
}

#[test]
fn images_added_to_a_project_published_with_its_files_are_fetched_by_every_replica() {
    use keylabel_testkit::images;
    let Some(hub) = Hub::new("addwithfiles") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let imgs = pngs_published_with_files(&hub, dir.path(), 1, "wf");
    let team = dir.path().join("team").tap_mkdir();
    let [(a, _, ac), (_, _, xc)] = joined(&hub, &team, "wf", [("a", "admin"), ("x", "annotator")]);

    // The admin, on a replica that fetches its files, adds new photos from elsewhere.
    let new = dir.path().join("new").tap_mkdir();
    images::save(
        &new.join("b.png"),
        images::pattern(20, 12, 2),
        image::ImageFormat::Png,
    );
    images::write(
        &new.join("c.jpg"),
        &images::jpeg(&images::photo(40, 30, 3), 90),
    );
    // One of them in a folder named like a class: labeled so, under the admin's login.
    let pos = new.join("pos").tap_mkdir();
    images::save(
        &pos.join("d.png"),
        images::pattern(24, 24, 4),
        image::ImageFormat::Png,
    );
    let report = ac.json(&[
        "import",
        new.to_str().unwrap(),
        "--labels-from-folders",
        "--json",
    ]);
    assert_eq!(report["added"], 3, "{report}");
    let mut admin = postgres::Client::connect(&hub.admin_url, postgres::NoTls).unwrap();
    let labels = hub_labels(&mut admin);
    assert_eq!(labels.len(), 1, "{labels:?}");
    assert!(
        labels[0].0.ends_with("new/pos/d.png") && labels[0].1 == a,
        "{labels:?}"
    );

    // x has never seen those files: labeling and validation fetch them from the hub (the
    // labeled one is decided already, with an overlap of 1).
    assert_eq!(label_until_done(&xc), 3);
    let v = xc.json(&["validate", "--json"]);
    assert_eq!(v["ok"], true, "{v}");
    let mut originals: Vec<Vec<u8>> = files_of(&imgs).into_values().collect();
    originals.extend(files_of(&new).into_values());
    let mut cached: Vec<Vec<u8>> = files_of(&team.join("x.files")).into_values().collect();
    originals.sort();
    cached.sort();
    assert_eq!(cached, originals);

    // The team folder holds the replicas and their file caches, every file in them one the
    // project has: an import of it passes the caches over (their files, named by content
    // hash, are neither new samples nor other names of the old ones).
    let report = ac.json(&["import", team.to_str().unwrap(), "--json"]);
    assert_eq!(
        (&report["added"], &report["duplicates"]),
        (&0.into(), &0.into()),
        "{report}"
    );
    let p = Project::open(&team.join("a.keylabel")).unwrap();
    assert_eq!(p.all_aliases().unwrap(), []);
}

#[test]
fn an_admins_window_imports_into_a_team_project_and_an_open_window_takes_the_samples_in() {
    use egui::Key;
    use egui_kittest::kittest::Queryable;
    use keylabel::app::App;
    use keylabel_testkit::window::{harness, type_into, wait_until};
    let Some(hub) = Hub::new("window_import") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let [(_, rboss), (_, ralice)] = published_with_replicas(
        &hub,
        dir.path(),
        3,
        "wi",
        [("boss", "admin"), ("alice", "annotator")],
    );
    password_in_process();
    let open = |replica: &Path| {
        let mut app = App::new(None, "someone".into());
        app.open_project(replica);
        let mut h = harness(app);
        wait_until(&mut h, "the first sync", |a| {
            a.project()
                .and_then(|p| p.hub.as_ref())
                .is_some_and(|s| s.state().role.is_some())
        });
        h
    };
    let mut alice = open(&ralice);
    // Alice labels all three: her window says she is done.
    for _ in 0..3 {
        alice.key_press(Key::Num1);
        alice.step();
    }
    wait_until(&mut alice, "every sample decided", |a| {
        a.session().is_some_and(|s| s.finished)
    });

    let mut boss = open(&rboss);
    boss.key_press(Key::P);
    boss.step();
    let csv = rows_csv(dir.path(), "more.csv", "n", 4);
    type_into(&mut boss, "Samples to add", &csv.display().to_string());
    boss.get_by_label("Import").click();
    wait_until(&mut boss, "the import", |a| {
        a.project().is_some_and(|p| p.import.is_none())
    });
    boss.get_by_label_contains("Imported 4 samples");
    assert_eq!(boss.state().session().unwrap().counts.total, 7);

    // Alice's open window takes them in at its next background sync and moves on to one.
    wait_until(&mut alice, "the new samples", |a| {
        a.session()
            .is_some_and(|s| s.counts.total == 7 && !s.finished && s.current.is_some())
    });
    let current = alice.state().session().unwrap().current_id().unwrap();
    let name = Project::open(&ralice)
        .unwrap()
        .sample(current)
        .unwrap()
        .unwrap()
        .name;
    assert!(name.starts_with("more.csv#"), "{name}");
}

#[test]
fn files_are_fetched_ahead_of_the_annotator_and_on_demand_for_working_offline() {
    use keylabel::app::hub_sync::HubSync;
    let Some(hub) = Hub::new("fetchahead") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let imgs = pngs_published_with_files(&hub, dir.path(), 40, "fa");
    let pc = Cli::new(BIN).project(dir.path().join("publisher.keylabel"));
    let team = dir.path().join("team").tap_mkdir();
    let [(_, rx, _), (_, ry, yc)] =
        joined(&hub, &team, "fa", [("x", "annotator"), ("y", "annotator")]);
    let cached = |who: &str| {
        let cache = team.join(format!("{who}.files"));
        if cache.exists() {
            files_of(&cache)
        } else {
            Default::default()
        }
    };

    // `hub fetch` brings the next ones of the annotator's queue, or every file.
    let next = yc.json(&["hub", "fetch", "--next", "5", "--json"]);
    assert_eq!(
        (&next["fetched"], &next["images"]),
        (&5.into(), &5.into()),
        "{next}"
    );
    let all = yc.json(&["hub", "fetch", "--json"]);
    assert_eq!(
        (&all["fetched"], &all["images"]),
        (&35.into(), &40.into()),
        "{all}"
    );
    assert_eq!(cached("y").len(), 40);
    // Then the hub may go: y validates and labels with what is here.
    set_reachable(&hub, &ry, false);
    let v = yc.run(&["validate", "--json"]);
    let report = stdout(&v);
    assert!(
        report.contains("UNLABELED_SAMPLES") && !report.contains("MISSING_FILES"),
        "every file is here: {report}\n{}",
        stderr(&v)
    );
    let again = yc.run(&["hub", "fetch", "--json"]);
    assert!(
        again.status.success(),
        "nothing to fetch needs no hub: {}",
        stderr(&again)
    );
    // A replica that keeps its files itself has nothing to fetch.
    let own = pc.run(&["hub", "fetch"]);
    assert!(!own.status.success());
    assert!(
        stderr(&own).contains("does not fetch its files from a hub"),
        "{}",
        stderr(&own)
    );

    // x's open replica fetches ahead of the annotator as it syncs, a few files each time:
    // those of the samples its queue holds next, not every file.
    password_in_process();
    let sync = HubSync::start(&rx, "fa".into(), None);
    let start = std::time::Instant::now();
    // Counted by name while the sync thread writes (a file being fetched has a hidden
    // temporary name until it is complete).
    let fetched_so_far = || {
        walkdir::WalkDir::new(team.join("x.files"))
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_type().is_file() && !e.file_name().to_string_lossy().starts_with('.')
            })
            .count()
    };
    while fetched_so_far() < keylabel::hub::files::AHEAD {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} files fetched ahead",
            fetched_so_far()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(4));
    drop(sync);
    let fetched = cached("x");
    assert!(
        fetched.len() < 40,
        "{} files: more than ahead",
        fetched.len()
    );
    let first: std::collections::BTreeSet<Vec<u8>> = (0..fetched.len() as u32)
        .map(|i| std::fs::read(imgs.join(format!("{i:02}.png"))).unwrap())
        .collect();
    let got: std::collections::BTreeSet<Vec<u8>> = fetched.into_values().collect();
    assert_eq!(got, first, "the files of the first samples in queue order");
}

/// The passes of a job as a progress watcher sees them: (what, total, advanced).
#[derive(Default)]
struct Passes(std::sync::Mutex<Vec<(String, u64, u64)>>);

impl keylabel::progress::Progress for Passes {
    fn start(&self, what: &str, total: u64) {
        self.0.lock().unwrap().push((what.to_string(), total, 0));
    }
    fn advance(&self, n: u64) {
        if let Some(last) = self.0.lock().unwrap().last_mut() {
            last.2 += n;
        }
    }
}

#[test]
fn publishing_with_files_names_every_file_it_cannot_put_on_the_hub_and_shows_its_progress() {
    use keylabel_testkit::images;
    let Some(hub) = Hub::new("pubfiles") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let imgs = dir.path().join("imgs").tap_mkdir();
    for i in 0..5u32 {
        images::save(
            &imgs.join(format!("{i}.png")),
            images::pattern(10, 10, i),
            image::ImageFormat::Png,
        );
    }
    let publisher = dir.path().join("publisher.keylabel");
    let cli = Cli::new(BIN).project(&publisher);
    cli.ok(&["init", "--classes", "pos,neg"]);
    cli.ok(&["import", imgs.to_str().unwrap()]);
    cli.ok(&["label", "imgs/0.png", "pos"]);
    // Two files changed after their import, one gone.
    let original = |i: u32| std::fs::read(imgs.join(format!("{i}.png"))).unwrap();
    let (one, three) = (original(1), original(3));
    for i in [1u32, 3] {
        images::save(
            &imgs.join(format!("{i}.png")),
            images::pattern(10, 10, 40 + i),
            image::ImageFormat::Png,
        );
    }
    let moved = dir.path().join("4.png");
    std::fs::rename(imgs.join("4.png"), &moved).unwrap();
    let args = [
        "hub",
        "publish",
        &hub.admin_url,
        "--name",
        "pf",
        "--with-files",
    ];
    let out = cli.run(&args);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("3 sample files cannot be put on the hub; nothing was"),
        "{err}"
    );
    for (name, why) in [
        ("1.png", "changed since it was imported"),
        ("3.png", "changed since it was imported"),
        ("4.png", "cannot read"),
    ] {
        assert!(
            err.lines()
                .any(|l| l.contains(&imgs.join(name).display().to_string()) && l.contains(why)),
            "{name}: {err}"
        );
    }
    assert!(!err.contains("0.png") && !err.contains("2.png"), "{err}");
    let mut admin = postgres::Client::connect(&hub.admin_url, postgres::NoTls).unwrap();
    let on_hub: i64 = admin
        .query_one(
            "SELECT count(*) FROM keylabel.projects WHERE name = 'pf'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(on_hub, 0, "a failed publish leaves nothing on the hub");
    let files: i64 = admin
        .query_one("SELECT count(*) FROM keylabel.files", &[])
        .unwrap()
        .get(0);
    assert_eq!(files, 0, "nor any file");
    assert!(
        cli.json(&["status", "--json"]).get("hub").is_none(),
        "not linked"
    );

    // Put right, it publishes, and a watcher sees each pass through to its end.
    std::fs::write(imgs.join("1.png"), &one).unwrap();
    std::fs::rename(&moved, imgs.join("4.png")).unwrap();
    let refused = cli.run(&args);
    let err = stderr(&refused);
    assert!(
        err.contains("3.png")
            && err.contains("changed since it was imported")
            && !err.contains("sample files cannot"),
        "one file left, named alone: {err}"
    );
    std::fs::write(imgs.join("3.png"), &three).unwrap();
    let mut project = Project::open(&publisher).unwrap();
    let passes = Passes::default();
    let url = keylabel::hub::HubUrl::parse(&hub.admin_url).unwrap();
    let published = keylabel::hub::publish(&mut project, &url, "pf", true, &passes).unwrap();
    assert_eq!((published.samples, published.files), (5, 5));
    let events = project.event_count().unwrap();
    assert_eq!(
        passes.0.into_inner().unwrap(),
        vec![
            ("Putting the samples on the hub".to_string(), 5, 5),
            ("Putting the sample files on the hub".to_string(), 5, 5),
            ("Putting the events on the hub".to_string(), events, events),
        ]
    );
    assert_eq!(published.events, events);
}

#[test]
fn the_file_cache_keeps_within_its_limit_removing_the_files_needed_longest_ago() {
    use std::time::{Duration, SystemTime};
    let Some(hub) = Hub::new("cachelimit") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    pngs_published_with_files(&hub, dir.path(), 6, "cl");
    let team = dir.path().join("team").tap_mkdir();
    let [(_, rx, xc)] = joined(&hub, &team, "cl", [("x", "annotator")]);
    let fetched = xc.json(&["hub", "fetch", "--json"]);
    assert_eq!(fetched["fetched"], 6, "{fetched}");
    for name in ["imgs/00.png", "imgs/01.png", "imgs/02.png", "imgs/03.png"] {
        xc.ok(&["label", name, "pos"]);
    }
    // The files by sample; each needed some hours ago: the two to come longest ago,
    // 03 just now.
    let project = Project::open(&rx).unwrap();
    let mut file_of = std::collections::BTreeMap::new();
    project
        .each_sample(|s| {
            file_of.insert(s.name.clone(), project.resolve(&s.path));
            Ok(())
        })
        .unwrap();
    drop(project);
    let hours_ago = |name: &str, h: u64| {
        std::fs::File::open(&file_of[name])
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(h * 3600))
            .unwrap();
    };
    for (name, h) in [
        ("imgs/04.png", 9),
        ("imgs/05.png", 8),
        ("imgs/00.png", 6),
        ("imgs/01.png", 5),
        ("imgs/02.png", 4),
    ] {
        hours_ago(name, h);
    }
    let present = || -> Vec<&str> {
        file_of
            .iter()
            .filter(|(_, f)| f.exists())
            .map(|(n, _)| n.as_str())
            .collect()
    };
    let total: u64 = file_of.values().map(|f| f.metadata().unwrap().len()).sum();

    let state = xc.json(&["hub", "cache", "--json"]);
    assert_eq!(state["files"], 6, "{state}");
    assert_eq!(state["bytes"], total, "{state}");
    assert_eq!(state["limit"], 10u64 << 30, "10 GiB unless set: {state}");
    assert_eq!(state["removed_files"], 0, "{state}");

    // Just over the limit: the file needed longest ago goes, not those of the samples to
    // come, which are older.
    let limit = (total - 1).to_string();
    let state = xc.json(&["hub", "cache", "--limit", &limit, "--json"]);
    let size = |name: &str| std::fs::metadata(&file_of[name]).map_or(0, |m| m.len());
    assert_eq!(
        present(),
        [
            "imgs/01.png",
            "imgs/02.png",
            "imgs/03.png",
            "imgs/04.png",
            "imgs/05.png"
        ]
    );
    assert_eq!(state["removed_files"], 1, "{state}");
    assert_eq!(state["limit"], total - 1, "{state}");
    let left: u64 = [
        "imgs/01.png",
        "imgs/02.png",
        "imgs/03.png",
        "imgs/04.png",
        "imgs/05.png",
    ]
    .iter()
    .map(|n| size(n))
    .sum();
    assert_eq!(state["bytes"], left, "{state}");
    assert!(
        left <= (total - 1) / 10 * 9,
        "down to nine tenths of the limit"
    );

    // A limit far below: everything but the files to come and the one needed just now.
    let out = xc.ok(&["hub", "cache", "--limit", "100 B"]);
    let said = stdout(&out);
    assert!(said.contains("Removed 2 files"), "{said}");
    assert!(said.contains("over its limit"), "{said}");
    assert_eq!(present(), ["imgs/03.png", "imgs/04.png", "imgs/05.png"]);
    let state = xc.json(&["hub", "cache", "--json"]);
    assert_eq!(state["limit"], 100, "the limit is kept: {state}");

    // What was removed is fetched again when needed; no limit keeps everything.
    let fetched = xc.json(&["hub", "fetch", "--json"]);
    assert_eq!(fetched["fetched"], 3, "{fetched}");
    for name in file_of.keys() {
        hours_ago(name, 7);
    }
    let state = xc.json(&["hub", "cache", "--limit", "none", "--json"]);
    assert_eq!(
        (&state["limit"], &state["files"]),
        (&serde_json::Value::Null, &6.into())
    );
    let bad = xc.run(&["hub", "cache", "--limit", "lots"]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("`--limit lots` is not a size"),
        "{}",
        stderr(&bad)
    );
    assert_eq!(present().len(), 6);

    // An open window trims at its first sync, and then every so often: what was fetched
    // meanwhile and not needed for an hour goes too.
    keylabel::hub::files::set_cache_limit(&Project::open(&rx).unwrap(), Some(100)).unwrap();
    password_in_process();
    let sync = keylabel::app::hub_sync::HubSync::start(&rx, "cl".into(), None);
    let trimmed_to_what_comes = |what: &str| {
        let start = std::time::Instant::now();
        while present().len() > 2 {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{what}: {:?}",
                present()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    trimmed_to_what_comes("the first trim");
    sync.set_trim_every(Duration::from_secs(1));
    let fetched = xc.json(&["hub", "fetch", "--json"]);
    assert_eq!(fetched["fetched"], 4, "{fetched}");
    assert_eq!(present().len(), 6);
    for name in ["imgs/00.png", "imgs/01.png", "imgs/02.png", "imgs/03.png"] {
        hours_ago(name, 7);
    }
    trimmed_to_what_comes("a later trim");
    drop(sync);
    assert_eq!(
        present(),
        ["imgs/04.png", "imgs/05.png"],
        "the samples to come"
    );
}

/// Runs `args` of the binary on a terminal of its own (util-linux `script`), without any
/// password in its environment, and types `password` once it asks for one: its exit
/// status and all it showed.
fn on_a_terminal(args: &[&str], password: &str, dir: &Path) -> (bool, String) {
    use std::io::{Read, Write};
    let quoted: Vec<String> = std::iter::once(BIN)
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let mut child = std::process::Command::new("script")
        .args(["-qec", &quoted.join(" "), "/dev/null"])
        .env_remove("PGPASSWORD")
        .env("PGPASSFILE", dir.join("no-pgpass"))
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("util-linux `script` runs");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut shown = Vec::new();
    let mut byte = [0u8; 1];
    while !String::from_utf8_lossy(&shown).contains("Password of") {
        match stdout.read(&mut byte) {
            Ok(1) => shown.push(byte[0]),
            _ => break,
        }
    }
    if String::from_utf8_lossy(&shown).contains("Password of") {
        // Typed once the prompt shows (the terminal's echo is off by then).
        std::thread::sleep(Duration::from_millis(200));
        stdin.write_all(format!("{password}\r").as_bytes()).unwrap();
    }
    stdout.read_to_end(&mut shown).unwrap();
    let ok = child.wait().unwrap().success();
    drop(stdin);
    (ok, String::from_utf8_lossy(&shown).into_owned())
}

/// A TCP relay to the test server at `server` (`host:port`) that counts the connections
/// made through it: the address to connect to instead, and the count.
fn counting_relay(server: &str) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&count);
    let server = server.to_string();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            let Ok(upstream) = TcpStream::connect(&server) else {
                continue;
            };
            let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
                continue;
            };
            for (mut from, mut to) in [(client, upstream), (u2, c2)] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(Shutdown::Write);
                });
            }
        }
    });
    (addr, count)
}

#[test]
fn a_missing_or_refused_password_is_said_and_asked_for_at_a_terminal_and_in_the_window() {
    use egui_kittest::kittest::Queryable;
    use keylabel::app::App;
    use keylabel::hub::PasswordProblem;
    use keylabel_testkit::window::{harness, wait_until};
    let Some(hub) = Hub::new("password") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let publisher = rows_project(dir.path(), 3);
    hub.as_superuser(&publisher)
        .ok(&["hub", "publish", &hub.admin_url, "--name", "pw"]);
    let own = "pw-of-carol-only";
    let carol = hub.user_with_password("carol", "annotator", own);
    // Through a relay that counts carol's connections (each one a login).
    let (relay, logins) = counting_relay(&hub.server);
    let url = format!("postgres://{carol}@{relay}/{}", hub.db);
    let nowhere = dir.path().join("no-pgpass");

    // No password anywhere and no terminal: a clear error, which is not "offline".
    let out = Cli::new(BIN)
        .env("PGPASSFILE", &nowhere)
        .command(&["hub", "user", "list", &url])
        .env_remove("PGPASSWORD")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "the hub asks for the password of `{carol}` and none was given"
        )),
        "{err}"
    );
    let e = keylabel::hub::HubUrl::parse(&url).unwrap();
    // (This process may hold PGPASSWORD, set by another test: the wrong one for carol.)
    password_in_process();
    let Err(refused) = e.connect() else {
        panic!("carol connected with another's password")
    };
    assert_eq!(
        keylabel::hub::password_problem(&refused),
        Some(&PasswordProblem::Refused {
            login: carol.clone()
        }),
        "{refused:#}"
    );
    assert!(!keylabel::hub::is_unreachable(&refused));

    // At a terminal, join asks once, as psql does, and the password typed is used for
    // every connection of the command; it is in no file.
    let replica = dir.path().join("carol.keylabel");
    let replica_arg = replica.to_str().unwrap();
    let (ok, shown) = on_a_terminal(
        &["join", &url, "--name", "pw", "-p", replica_arg],
        own,
        dir.path(),
    );
    assert!(ok, "{shown}");
    assert_eq!(shown.matches("Password of").count(), 1, "{shown}");
    assert!(shown.contains("Joined `pw`"), "{shown}");
    assert!(!shown.contains(own), "the password is not echoed: {shown}");
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(f.unwrap().path()).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(own),
            "a password in a file"
        );
    }
    // A wrong one typed is said as refused.
    let (ok, shown) = on_a_terminal(&["-p", replica_arg, "sync"], "not-it", dir.path());
    assert!(!ok);
    assert!(
        shown.contains(&format!("the hub refused the password given for `{carol}`")),
        "{shown}"
    );

    // The window: the hub refuses PGPASSWORD (not carol's), so the window asks, says a
    // wrong one is refused, and connects with the right one, the label made meanwhile
    // kept and sent.
    // A password the window is told to save goes into the password file only once the
    // hub takes it. (Only this test sets PGPASSFILE in this process; every other one
    // connects with PGPASSWORD, which comes first.)
    let pgpass = dir.path().join("home").tap_mkdir().join("pgpass");
    // SAFETY: as `password_in_process`; no other test reads or sets this variable.
    unsafe { std::env::set_var("PGPASSFILE", &pgpass) };
    let mut app = App::new(None, "someone".into());
    app.open_project(&replica);
    let mut h = harness(app);
    let hub_state = |a: &App| a.project().and_then(|p| p.hub.as_ref()).map(|s| s.state());
    wait_until(&mut h, "the password prompt", |a| {
        matches!(a.overlay, keylabel::app::Overlay::HubPassword(_))
    });
    h.get_by_label_contains(&format!("asks for the password of “{carol}”"));
    h.get_by_label_contains("Hub: password refused");
    assert_eq!(hub_state(h.state()).unwrap().connected, Some(true));
    h.get_by_label_contains("Save it in").click();
    h.step();
    h.get_by_label("Password").type_text("still-not-it");
    h.step();
    h.key_press(egui::Key::Enter);
    wait_until(&mut h, "the prompt again", |a| {
        matches!(a.overlay, keylabel::app::Overlay::HubPassword(_))
            && hub_state(a).is_some_and(|s| s.password.is_some())
    });
    h.get_by_label_contains("The hub refused the password given");
    assert!(!pgpass.exists(), "a refused password is not saved");
    // Not now: labeling goes on, the top bar offers the prompt again.
    h.key_press(egui::Key::Escape);
    h.step();
    assert!(matches!(h.state().overlay, keylabel::app::Overlay::None));
    h.key_press(egui::Key::Num1);
    h.step();
    assert_eq!(
        labels_of(&replica).len(),
        1,
        "labeled while the hub is refused"
    );
    // Nor does the window try the refused login again by itself every few seconds, nor
    // after a decision: each try is a failed login in the server's log.
    let tried = logins.load(std::sync::atomic::Ordering::SeqCst);
    let waited = std::time::Instant::now();
    while waited.elapsed() < 2 * keylabel::app::hub_sync::EVERY + Duration::from_secs(1) {
        h.step();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        logins.load(std::sync::atomic::Ordering::SeqCst),
        tried,
        "the refused login was tried again"
    );
    // The review view says it too, and asks from there.
    h.key_press(egui::Key::R);
    h.step();
    h.get_by_label_contains("Reviewer: ");
    h.get_by_label_contains("Hub: password refused").click();
    wait_until(&mut h, "the prompt from the top bar", |a| {
        matches!(a.overlay, keylabel::app::Overlay::HubPassword(_))
    });
    h.get_by_label("Password").type_text(own);
    h.get_by_label_contains(&format!("Save it in {}", pgpass.display()))
        .click();
    h.step();
    h.key_press(egui::Key::Enter);
    wait_until(&mut h, "the connection", |a| {
        hub_state(a)
            .is_some_and(|s| s.connected == Some(true) && s.error.is_none() && s.pending == 0)
    });
    h.get_by_label_contains("Hub: connected");
    wait_until(&mut h, "the saved password said", |a| {
        a.toast
            .as_ref()
            .is_some_and(|t| t.text.contains("Hub password saved in"))
    });
    let saved = std::fs::read_to_string(&pgpass).unwrap();
    assert_eq!(saved.lines().count(), 1, "{saved}");
    assert!(
        saved.ends_with(&format!(":{}:{carol}:{own}\n", hub.db)),
        "{saved}"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&pgpass).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Another process, with no password but the file, connects as carol.
    let out = Cli::new(BIN)
        .env("PGPASSFILE", &pgpass)
        .command(&["-p", replica_arg, "sync", "--json"])
        .env_remove("PGPASSWORD")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let on_hub: i64 = postgres::Client::connect(&hub.admin_url, postgres::NoTls)
        .unwrap()
        .query_one(
            "SELECT count(*) FROM keylabel.events WHERE annotator = $1",
            &[&carol],
        )
        .unwrap()
        .get(0);
    assert_eq!(on_hub, 1);
}
