//! The hub's schema in PostgreSQL: its own schema `keylabel`, versioned migrations, the
//! three group roles, and the permissions PostgreSQL itself enforces.
//!
//! - The event log is append-only for everyone: a trigger refuses every update, delete and
//!   truncate, and no role is granted either.
//! - Row-level security on the log: an annotator appends only events under their own login
//!   and only of the annotator kinds; a reviewer also review decisions; an admin anything
//!   (publishing a project's past events from every annotator).
//! - Only an admin writes projects, classes, samples and files (and changes classes and
//!   settings).
//! - `queue` holds each sample's claims and who has decided it, kept up to date by a
//!   trigger on the log, and how many decisions it needs; annotators may only change the
//!   claims column (claiming with
//!   `FOR UPDATE SKIP LOCKED`, see `super::claims`).

use anyhow::{Context, Result};

/// The event kinds an annotator may append.
pub const ANNOTATOR_KINDS: &[&str] = &["label", "skip", "exclude", "flag", "unflag", "undo"];
/// What a reviewer may append besides.
pub const REVIEWER_KINDS: &[&str] = &["review", "send_back"];

/// The group roles `hub init` creates.
pub const ROLES: [&str; 3] = ["keylabel_annotator", "keylabel_reviewer", "keylabel_admin"];

fn kinds_list(kinds: &[&str]) -> String {
    kinds
        .iter()
        .map(|k| format!("'{k}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One migration: SQL, then, for a step that needs what only keylabel computes (a rank
/// from a project's settings, say), a function run in the same transaction.
struct Migration {
    sql: String,
    then: Option<fn(&mut postgres::Transaction<'_>) -> Result<()>>,
}

impl From<String> for Migration {
    fn from(sql: String) -> Migration {
        Migration { sql, then: None }
    }
}

/// Migrations in order; migration `i` brings the hub from version `i` to `i + 1`.
fn migrations() -> Vec<Migration> {
    let annotator = kinds_list(ANNOTATOR_KINDS);
    let reviewer = kinds_list(&[ANNOTATOR_KINDS, REVIEWER_KINDS].concat());
    let sql: Vec<String> = vec![
        format!(
            r#"
        CREATE TABLE keylabel.projects (
            id           bigserial PRIMARY KEY,
            name         text NOT NULL UNIQUE,
            task         text NOT NULL,
            settings     text NOT NULL,
            with_files   boolean NOT NULL DEFAULT false,
            published_by text NOT NULL DEFAULT current_user,
            published_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE keylabel.classes (
            project_id bigint NOT NULL REFERENCES keylabel.projects(id),
            id         bigint NOT NULL,
            name       text NOT NULL,
            hotkey     text,
            color      text NOT NULL,
            position   bigint NOT NULL,
            archived   boolean NOT NULL,
            PRIMARY KEY (project_id, id)
        );
        CREATE TABLE keylabel.samples (
            project_id  bigint NOT NULL REFERENCES keylabel.projects(id),
            id          bigint NOT NULL,
            kind        text NOT NULL,
            name        text NOT NULL,
            path        text NOT NULL,
            row         bigint,
            hash        text NOT NULL,
            bytes       bigint NOT NULL,
            width       integer,
            height      integer,
            format      text,
            text        text,
            features    text,
            imported_at text NOT NULL,
            PRIMARY KEY (project_id, id)
        );
        -- Sample files by content hash, for projects published with their files.
        CREATE TABLE keylabel.files (
            hash  text PRIMARY KEY,
            bytes bytea NOT NULL
        );
        -- The log. `seq` is the order replicas pull in: appends to one project take an
        -- advisory lock first, so sequence numbers become visible in commit order.
        CREATE TABLE keylabel.events (
            seq        bigserial PRIMARY KEY,
            project_id bigint NOT NULL REFERENCES keylabel.projects(id),
            uid        text NOT NULL UNIQUE,
            sample_id  bigint NOT NULL,
            annotator  text NOT NULL,
            kind       text NOT NULL,
            labels     text NOT NULL,
            target     text,
            note       text,
            score      double precision,
            source     text NOT NULL,
            at         text NOT NULL,
            spent_ms   bigint,
            boxes      text,
            pushed_by  text NOT NULL DEFAULT current_user,
            FOREIGN KEY (project_id, sample_id) REFERENCES keylabel.samples(project_id, id)
        );
        CREATE INDEX events_project_seq ON keylabel.events(project_id, seq);
        CREATE TABLE keylabel.queue (
            project_id bigint NOT NULL,
            sample_id  bigint NOT NULL,
            decided_by text[] NOT NULL DEFAULT '{{}}',
            -- annotator -> end of the lease (timestamptz as text)
            claims     jsonb NOT NULL DEFAULT '{{}}',
            PRIMARY KEY (project_id, sample_id),
            FOREIGN KEY (project_id, sample_id) REFERENCES keylabel.samples(project_id, id)
        );

        CREATE FUNCTION keylabel.append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the keylabel event log is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$;
        CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON keylabel.events
            FOR EACH ROW EXECUTE FUNCTION keylabel.append_only();
        CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON keylabel.events
            FOR EACH STATEMENT EXECUTE FUNCTION keylabel.append_only();

        -- Who has decided each sample (a label, skip or exclusion not undone, since the
        -- last send-back), for the claims. Runs as the schema's owner.
        CREATE FUNCTION keylabel.queue_after_event() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = keylabel, pg_temp AS $$
        DECLARE
            t record;
        BEGIN
            IF NEW.kind IN ('label', 'skip', 'exclude') THEN
                UPDATE keylabel.queue
                   SET decided_by = CASE WHEN NEW.annotator = ANY(decided_by) THEN decided_by
                                         ELSE decided_by || NEW.annotator END,
                       claims = claims - NEW.annotator
                 WHERE project_id = NEW.project_id AND sample_id = NEW.sample_id;
            ELSIF NEW.kind = 'send_back' THEN
                UPDATE keylabel.queue SET decided_by = '{{}}', claims = '{{}}'
                 WHERE project_id = NEW.project_id AND sample_id = NEW.sample_id;
            ELSIF NEW.kind = 'undo' THEN
                SELECT annotator, sample_id INTO t FROM keylabel.events WHERE uid = NEW.target;
                IF FOUND AND NOT EXISTS (
                    SELECT 1 FROM keylabel.events e
                     WHERE e.project_id = NEW.project_id AND e.sample_id = t.sample_id
                       AND e.annotator = t.annotator AND e.kind IN ('label', 'skip', 'exclude')
                       AND NOT EXISTS (SELECT 1 FROM keylabel.events u
                                        WHERE u.kind = 'undo' AND u.target = e.uid))
                THEN
                    UPDATE keylabel.queue SET decided_by = array_remove(decided_by, t.annotator)
                     WHERE project_id = NEW.project_id AND sample_id = t.sample_id;
                END IF;
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER events_queue AFTER INSERT ON keylabel.events
            FOR EACH ROW EXECUTE FUNCTION keylabel.queue_after_event();
        CREATE INDEX events_target ON keylabel.events(target) WHERE target IS NOT NULL;

        GRANT USAGE ON SCHEMA keylabel TO keylabel_annotator, keylabel_reviewer, keylabel_admin;
        GRANT SELECT ON ALL TABLES IN SCHEMA keylabel
            TO keylabel_annotator, keylabel_reviewer, keylabel_admin;
        GRANT INSERT ON keylabel.events TO keylabel_annotator, keylabel_reviewer, keylabel_admin;
        GRANT USAGE ON SEQUENCE keylabel.events_seq_seq
            TO keylabel_annotator, keylabel_reviewer, keylabel_admin;
        GRANT UPDATE (claims) ON keylabel.queue
            TO keylabel_annotator, keylabel_reviewer, keylabel_admin;
        GRANT INSERT ON keylabel.projects, keylabel.classes, keylabel.samples, keylabel.files,
            keylabel.queue TO keylabel_admin;
        GRANT USAGE ON SEQUENCE keylabel.projects_id_seq TO keylabel_admin;

        ALTER TABLE keylabel.events ENABLE ROW LEVEL SECURITY;
        CREATE POLICY everyone_reads ON keylabel.events FOR SELECT USING (true);
        CREATE POLICY annotators_append ON keylabel.events FOR INSERT TO keylabel_annotator
            WITH CHECK (annotator = current_user AND pushed_by = current_user
                        AND kind IN ({annotator}));
        CREATE POLICY reviewers_append ON keylabel.events FOR INSERT TO keylabel_reviewer
            WITH CHECK (annotator = current_user AND pushed_by = current_user
                        AND kind IN ({reviewer}));
        CREATE POLICY admins_append ON keylabel.events FOR INSERT TO keylabel_admin
            WITH CHECK (pushed_by = current_user);
        "#
        ),
        // 2: fresh planner statistics after a publish (only a table's owner may ANALYZE it):
        // without them the first replicas' paging through a million samples is planned as
        // whole-table scans until autovacuum comes by.
        r#"
        CREATE FUNCTION keylabel.analyze_published() RETURNS void
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = keylabel, pg_temp AS $$
        BEGIN
            ANALYZE keylabel.samples;
            ANALYZE keylabel.queue;
        END $$;
        REVOKE ALL ON FUNCTION keylabel.analyze_published() FROM PUBLIC;
        GRANT EXECUTE ON FUNCTION keylabel.analyze_published() TO keylabel_admin;
        "#
        .to_string(),
        // 3: a hub user changes only their own claims: another's may only be dropped once
        // its lease is over (as claiming does). The schema owner's own updates (the queue
        // trigger ending claims on a label) pass.
        r#"
        CREATE FUNCTION keylabel.queue_claims_own() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            k text;
        BEGIN
            IF current_user::text = (SELECT tableowner FROM pg_tables
                                      WHERE schemaname = 'keylabel' AND tablename = 'queue')
            THEN
                RETURN NEW;
            END IF;
            FOR k IN SELECT jsonb_object_keys(OLD.claims || NEW.claims) LOOP
                IF k <> current_user::text
                   AND (OLD.claims -> k) IS DISTINCT FROM (NEW.claims -> k)
                   AND NOT ((NEW.claims -> k) IS NULL
                            AND (OLD.claims ->> k)::timestamptz <= now())
                THEN
                    RAISE EXCEPTION 'a hub user changes only their own claims: the claim of % refused', k
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
            END LOOP;
            RETURN NEW;
        END $$;
        CREATE TRIGGER queue_claims_own BEFORE UPDATE ON keylabel.queue
            FOR EACH ROW EXECUTE FUNCTION keylabel.queue_claims_own();
        "#
        .to_string(),
        // 4: the QA fraction in claims: each sample's rank (`qa_rank` of its content
        // hash, computed by the publisher), which the project's fraction compares to
        // offer the selected samples to one annotator more than the overlap. Samples
        // published before have none: the fraction selects none of them.
        "ALTER TABLE keylabel.queue ADD COLUMN qa_rank bigint".to_string(),
        // 5: an admin changes the classes of a published project (adds, renames, archives;
        // see `super::classes`); replicas take the change in at their next sync.
        "GRANT UPDATE (name, hotkey, archived) ON keylabel.classes TO keylabel_admin"
            .to_string(),
        // 6: claims without walking past the decided samples: for each number of
        // decisions a claim could need (1 to 3), an index of the samples with fewer, in
        // queue order. Replaced by one index on each row's own need in migration 8.
        (1..=3)
            .map(|need| {
                format!(
                    "CREATE INDEX queue_open_{need} ON keylabel.queue (project_id, sample_id) \
                     WHERE cardinality(decided_by) < {need};"
                )
            })
            .collect::<String>(),
        // 7: the other names of samples (a duplicate's path, see
        // `Project::aliases_of`), so that every replica matches label files and shows
        // names as the admin's does. Appended by publishing and by an admin's imports,
        // which hold the project's sample lock: `seq` becomes visible in commit order.
        r#"
        CREATE TABLE keylabel.aliases (
            seq        bigserial PRIMARY KEY,
            project_id bigint NOT NULL,
            name       text NOT NULL,
            sample_id  bigint NOT NULL,
            UNIQUE (project_id, name),
            FOREIGN KEY (project_id, sample_id) REFERENCES keylabel.samples(project_id, id)
        );
        GRANT SELECT ON keylabel.aliases
            TO keylabel_annotator, keylabel_reviewer, keylabel_admin;
        GRANT INSERT ON keylabel.aliases TO keylabel_admin;
        GRANT USAGE ON SEQUENCE keylabel.aliases_seq_seq TO keylabel_admin;
        "#
        .to_string(),
    ];
    let mut all: Vec<Migration> = sql.into_iter().map(Migration::from).collect();
    // 8: the settings are the hub project's (an admin changes them, see `super::settings`),
    // and each queue row holds how many decisions its sample needs (`need`: the overlap,
    // one more when the QA fraction selects it), so that the claims' index holds exactly
    // the samples still open, whatever the fraction. The rows there are get their need from
    // their project's settings (keylabel computes the QA threshold). The claims trigger now
    // runs only when the claims change: not when an admin sets the needs of a whole
    // project, nor for a label on a sample its annotator held no claim on.
    all.push(Migration {
        sql: r#"
        CREATE FUNCTION keylabel.need_of(overlap bigint, qa_threshold bigint, qa_rank bigint)
            RETURNS integer LANGUAGE sql IMMUTABLE
            RETURN (greatest(overlap, 1)
                    + CASE WHEN qa_rank <= qa_threshold THEN 1 ELSE 0 END)::integer;
        ALTER TABLE keylabel.queue ADD COLUMN need integer;
        GRANT UPDATE (settings) ON keylabel.projects TO keylabel_admin;
        GRANT UPDATE (need) ON keylabel.queue TO keylabel_admin;
        DROP TRIGGER queue_claims_own ON keylabel.queue;
        CREATE TRIGGER queue_claims_own BEFORE UPDATE OF claims ON keylabel.queue
            FOR EACH ROW WHEN (OLD.claims IS DISTINCT FROM NEW.claims)
            EXECUTE FUNCTION keylabel.queue_claims_own();
        "#
        .to_string(),
        then: Some(|tx| {
            let projects: Vec<i64> = tx
                .query("SELECT id FROM keylabel.projects ORDER BY id", &[])?
                .iter()
                .map(|r| r.get(0))
                .collect();
            for project in projects {
                let settings = super::settings::on_hub(tx, project)?;
                super::claims::set_need(tx, project, &super::claims::Rule::of(&settings))?;
            }
            tx.batch_execute(
                "DROP INDEX keylabel.queue_open_1, keylabel.queue_open_2, keylabel.queue_open_3;
                 ALTER TABLE keylabel.queue ALTER COLUMN need SET NOT NULL;
                 CREATE INDEX queue_open ON keylabel.queue (project_id, sample_id)
                     WHERE cardinality(decided_by) < need;",
            )?;
            Ok(())
        }),
    });
    // 9: each image's SHA-256 as its import took it, so that an export from a replica
    // writes `image/key/sha256` without hashing the bytes again. NULL for table rows and
    // for samples published before.
    all.push(
        "ALTER TABLE keylabel.samples ADD COLUMN sha256 bytea"
            .to_string()
            .into(),
    );
    // 10: a batch of events appended in one call (see `super::push_batch`): the project's
    // append lock, the rows and the notification in one round trip, so that the lock,
    // which every replica's push waits for, is held for the work alone and the commit. It
    // runs with its caller's rights, its INSERT planned at each call: the row-level
    // security of the log applies as to an INSERT of theirs.
    all.push(
        r#"
        CREATE FUNCTION keylabel.append_events(
            p_lock integer, p_project bigint, p_channel text, p_uids text[],
            p_samples bigint[], p_annotators text[], p_kinds text[], p_labels text[],
            p_targets text[], p_notes text[], p_scores double precision[], p_sources text[],
            p_ats text[], p_spent bigint[], p_boxes text[]) RETURNS bigint
        LANGUAGE plpgsql SET search_path = keylabel, pg_temp AS $$
        DECLARE
            n bigint;
        BEGIN
            PERFORM pg_advisory_xact_lock(p_lock, p_project::integer);
            -- Planned at each call (a plan kept by the session would keep the row-level
            -- security of the roles its login had then: a role granted since would not
            -- count).
            EXECUTE 'INSERT INTO keylabel.events(project_id, uid, sample_id, annotator, kind,
                         labels, target, note, score, source, at, spent_ms, boxes)
                     SELECT $1, * FROM unnest($2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
                         $13)
                     ON CONFLICT (uid) DO NOTHING'
                USING p_project, p_uids, p_samples, p_annotators, p_kinds, p_labels,
                      p_targets, p_notes, p_scores, p_sources, p_ats, p_spent, p_boxes;
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n > 0 THEN
                PERFORM pg_notify(p_channel, '');
            END IF;
            RETURN n;
        END $$;
        "#
        .to_string()
        .into(),
    );
    all
}

/// `statement` in a block that takes "it exists already" (also when a concurrent transaction
/// made it first) as success.
fn already_done_is_fine(statement: &str) -> String {
    format!(
        "DO $$ BEGIN {statement}; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )
}

/// The hub schema version this keylabel writes.
pub fn version() -> i64 {
    migrations().len() as i64
}

/// Refuses a hub whose schema is older than this keylabel's (a `hub init` migrates it).
pub fn require_current(client: &mut impl postgres::GenericClient) -> Result<()> {
    let done: i64 = client
        .query_one(
            "SELECT coalesce(max(version), 0)::bigint FROM keylabel.migrations",
            &[],
        )
        .context("the hub has no keylabel schema: run `keylabel hub init URL` first")?
        .get(0);
    if done < version() {
        anyhow::bail!(
            "the hub's schema is at version {done}, older than this keylabel's {}: an admin \
             runs `keylabel hub init URL` to migrate it",
            version()
        );
    }
    Ok(())
}

/// Creates the group roles and the schema, or migrates it forward; idempotent. Runs in one
/// transaction under an advisory lock, so two `hub init` at once do the work once.
pub fn init(client: &mut postgres::Client) -> Result<i64> {
    init_to(client, migrations().len())
}

/// [`init`] up to version `upto` (a hub as an older keylabel left it, for the tests of
/// migrating it).
fn init_to(client: &mut postgres::Client, upto: usize) -> Result<i64> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock(7405180000)", &[])?;
    // Roles belong to the whole cluster while the advisory lock above is per database, so a
    // `hub init` of another database in the same cluster may create the same role at the same
    // moment: each step ignores the error that says it is already done.
    for role in ROLES {
        tx.batch_execute(&already_done_is_fine(&format!(
            "CREATE ROLE {role} NOLOGIN"
        )))
        .with_context(|| format!("cannot create the role {role}"))?;
    }
    // An admin can also do what a reviewer can, and a reviewer what an annotator can.
    for grant in [
        "GRANT keylabel_annotator TO keylabel_reviewer",
        "GRANT keylabel_reviewer TO keylabel_admin",
    ] {
        tx.batch_execute(&already_done_is_fine(grant))
            .with_context(|| format!("cannot {grant}"))?;
    }
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS keylabel;
         CREATE TABLE IF NOT EXISTS keylabel.migrations (
             version integer PRIMARY KEY,
             at      timestamptz NOT NULL DEFAULT now()
         );
         GRANT USAGE ON SCHEMA keylabel TO keylabel_annotator;
         GRANT SELECT ON keylabel.migrations TO keylabel_annotator;",
    )?;
    let done: i64 = tx
        .query_one(
            "SELECT coalesce(max(version), 0)::bigint FROM keylabel.migrations",
            &[],
        )?
        .get(0);
    let mut all = migrations();
    all.truncate(upto);
    if done > all.len() as i64 {
        anyhow::bail!(
            "the hub's schema is at version {done}, written by a newer keylabel (this one knows \
             {}): upgrade keylabel",
            all.len()
        );
    }
    for (i, step) in all.iter().enumerate().skip(done as usize) {
        tx.batch_execute(&step.sql)
            .map_err(anyhow::Error::from)
            .and_then(|()| step.then.map_or(Ok(()), |then| then(&mut tx)))
            .with_context(|| format!("hub schema migration {} failed", i + 1))?;
        tx.execute(
            "INSERT INTO keylabel.migrations(version) VALUES ($1)",
            &[&(i as i32 + 1)],
        )?;
    }
    tx.commit()?;
    Ok(all.len() as i64)
}

#[cfg(test)]
mod tests {
    use super::already_done_is_fine;
    use std::sync::{Arc, Barrier};

    /// The test server's superuser URL, or `None` (then the test passes with a notice,
    /// unless a server is required).
    fn server() -> Option<String> {
        let url = std::env::var("KEYLABEL_TEST_PG")
            .ok()
            .filter(|u| !u.is_empty());
        if url.is_none() {
            assert!(
                std::env::var("KEYLABEL_REQUIRE_PG").as_deref() != Ok("1"),
                "KEYLABEL_REQUIRE_PG=1 but KEYLABEL_TEST_PG is not set"
            );
            eprintln!("no KEYLABEL_TEST_PG: the hub schema test does not run");
        }
        url
    }

    /// A hub at version 7 with a project of overlap 2 and QA fraction 0.5, migrated: each
    /// queue row's need is computed from the project's settings as keylabel ranks it, and
    /// the claims' index is the one on the need.
    #[test]
    fn migrating_to_schema_8_gives_every_queue_row_its_need() {
        let Some(url) = server() else {
            return;
        };
        let db = format!("kl_migrate_{}", std::process::id());
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .unwrap();
        let mut config: postgres::Config = url.parse().unwrap();
        config.dbname(&db);
        let mut c = config.connect(postgres::NoTls).unwrap();
        assert_eq!(super::init_to(&mut c, 7).unwrap(), 7);
        let hashes: Vec<String> = (0..64).map(|i| format!("{i:064x}")).collect();
        c.batch_execute(
            r#"INSERT INTO keylabel.projects(name, task, settings)
               VALUES ('p', 'single', '{"overlap": 2, "qa_fraction": 0.5}'),
                      ('q', 'single', '{}')"#,
        )
        .unwrap();
        for (project, hashes) in [(1i64, &hashes[..]), (2, &hashes[..3])] {
            for (i, h) in hashes.iter().enumerate() {
                let id = i as i64 + 1;
                c.execute(
                    "INSERT INTO keylabel.samples(project_id, id, kind, name, path, hash,                      bytes, imported_at) VALUES ($1, $2, 'text', $3, $3, $4, 1, 't')",
                    &[&project, &id, &format!("s{id}"), h],
                )
                .unwrap();
                c.execute(
                    "INSERT INTO keylabel.queue(project_id, sample_id, qa_rank)                      VALUES ($1, $2, $3)",
                    &[&project, &id, &crate::project::qa_rank(h)],
                )
                .unwrap();
            }
        }
        assert_eq!(super::init(&mut c).unwrap(), super::version());
        let needs: Vec<(i64, String, i32)> = c
            .query(
                "SELECT q.project_id, s.hash, q.need FROM keylabel.queue q JOIN keylabel.samples s                  ON s.project_id = q.project_id AND s.id = q.sample_id ORDER BY 1, q.sample_id",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let mut picked = 0;
        for (project, hash, need) in &needs {
            let want = if *project == 2 {
                1
            } else if crate::project::qa_selected(hash, 0.5) {
                picked += 1;
                3
            } else {
                2
            };
            assert_eq!(*need, want, "project {project}, {hash}");
        }
        assert!(
            (16..=48).contains(&picked),
            "0.5 of 64 picks about 32: {picked}"
        );
        let indexes: Vec<String> = c
            .query(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'queue'                  AND indexname LIKE 'queue_open%' ORDER BY 1",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(indexes, ["queue_open"]);
        drop(c);
        admin.batch_execute(&format!("DROP DATABASE {db}")).unwrap();
    }

    /// Two transactions create the same cluster-wide role at once (what two `hub init` of two
    /// databases in one cluster do): the second waits for the first to commit and then finds
    /// the role taken, which must count as done, not fail.
    #[test]
    fn creating_a_role_another_transaction_just_created_succeeds() {
        let Some(url) = server() else {
            return;
        };
        let role = format!("kl_race_{}", std::process::id());
        let create = already_done_is_fine(&format!("CREATE ROLE {role} NOLOGIN"));
        let mut first = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let mut second = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        first.batch_execute("BEGIN").unwrap();
        first.batch_execute(&create).unwrap();
        let started = Arc::new(Barrier::new(2));
        let waiter = {
            let (started, create) = (started.clone(), create.clone());
            std::thread::spawn(move || {
                started.wait();
                // Blocks on the first transaction's new row until it commits.
                second.batch_execute(&format!("BEGIN; {create}; COMMIT"))
            })
        };
        started.wait();
        std::thread::sleep(std::time::Duration::from_millis(300));
        first.batch_execute("COMMIT").unwrap();
        let result = waiter.join().unwrap();
        first
            .batch_execute(&format!("DROP ROLE IF EXISTS {role}"))
            .unwrap();
        result.expect("the second CREATE ROLE counts the role made meanwhile as done");
    }
}
