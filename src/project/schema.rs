//! The project file's schema and its numbered migrations.
//!
//! `PRAGMA user_version` holds the number of migrations applied. A project opened by a newer
//! keylabel is migrated forward inside one transaction; a project whose version is above
//! [`SCHEMA_VERSION`] was written by a newer keylabel and is refused before anything is
//! written to it.

/// `PRAGMA application_id` of every keylabel project ("KLBL").
pub const APPLICATION_ID: i32 = 0x4B4C_424C;

/// Migrations in order; migration `i` brings the file from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: the event log, samples, classes, settings and the derived state.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE classes (
        id       INTEGER PRIMARY KEY,
        name     TEXT NOT NULL UNIQUE,
        hotkey   TEXT,
        color    TEXT NOT NULL,
        position INTEGER NOT NULL,
        archived INTEGER NOT NULL DEFAULT 0
    );

    -- One row per sample. `name` is the stable identity users see (relative path of an
    -- image, or the id column / `file#row` of a table row); `hash` is the content hash.
    CREATE TABLE samples (
        id          INTEGER PRIMARY KEY,
        kind        TEXT NOT NULL CHECK (kind IN ('image', 'text')),
        name        TEXT NOT NULL UNIQUE,
        path        TEXT NOT NULL,
        row         INTEGER,
        hash        TEXT NOT NULL,
        bytes       INTEGER NOT NULL,
        width       INTEGER,
        height      INTEGER,
        format      TEXT,
        text        TEXT,
        features    TEXT,
        imported_at TEXT NOT NULL
    );
    CREATE INDEX samples_hash ON samples(hash);
    CREATE INDEX samples_kind ON samples(kind);

    -- The append-only event log. Nothing here is ever updated or deleted.
    CREATE TABLE events (
        id        INTEGER PRIMARY KEY,
        uid       TEXT NOT NULL UNIQUE,
        sample_id INTEGER NOT NULL REFERENCES samples(id),
        annotator TEXT NOT NULL,
        kind      TEXT NOT NULL,
        labels    TEXT NOT NULL DEFAULT '[]',
        target    TEXT,
        note      TEXT,
        score     REAL,
        source    TEXT NOT NULL,
        at        TEXT NOT NULL,
        spent_ms  INTEGER
    );
    CREATE INDEX events_sample ON events(sample_id, at, uid);
    CREATE INDEX events_annotator ON events(annotator, id);
    CREATE INDEX events_target ON events(target) WHERE target IS NOT NULL;

    -- Derived from the log: each annotator's current decision on a sample.
    CREATE TABLE annotations (
        sample_id INTEGER NOT NULL,
        annotator TEXT NOT NULL,
        state     TEXT NOT NULL CHECK (state IN ('labeled', 'skipped', 'excluded')),
        labels    TEXT NOT NULL,
        event_uid TEXT NOT NULL,
        at        TEXT NOT NULL,
        spent_ms  INTEGER,
        PRIMARY KEY (sample_id, annotator)
    ) WITHOUT ROWID;
    CREATE INDEX annotations_annotator ON annotations(annotator, state);

    -- Derived from the log: one row per sample that has any decision, flag or review.
    CREATE TABLE sample_state (
        sample_id     INTEGER PRIMARY KEY,
        status        TEXT NOT NULL CHECK (status IN ('unlabeled', 'labeled', 'skipped', 'excluded')),
        flagged       INTEGER NOT NULL DEFAULT 0,
        annotators    INTEGER NOT NULL DEFAULT 0,
        review_labels TEXT,
        reviewer      TEXT,
        sent_back     INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX sample_state_status ON sample_state(status);
    CREATE INDEX sample_state_flagged ON sample_state(flagged) WHERE flagged = 1;

    -- Derived: the classes in a labeled sample's current label (a review decision when
    -- there is one, else the union of its annotators' labels).
    CREATE TABLE sample_classes (
        class_id  INTEGER NOT NULL,
        sample_id INTEGER NOT NULL,
        PRIMARY KEY (class_id, sample_id)
    ) WITHOUT ROWID;
    CREATE INDEX sample_classes_sample ON sample_classes(sample_id);
    "#,
    // 2: validation caches. Perceptual hashes of images, keyed by the content hash they
    // were computed from (a changed file is hashed again) and by the algorithm (a new
    // algorithm never reads an old hash). `phash` is the 64 hash bits as a signed integer;
    // NULL with `error` set when the image could not be decoded, which marks the sample
    // unreadable until its content changes. A partial index finds text samples whose text
    // is empty or whitespace (Unicode White_Space, as Rust's `str::trim`) without a scan.
    r#"
    CREATE TABLE perceptual_hashes (
        sample_id    INTEGER NOT NULL,
        content_hash TEXT NOT NULL,
        algorithm    TEXT NOT NULL,
        phash        INTEGER,
        error        TEXT,
        PRIMARY KEY (sample_id, content_hash, algorithm)
    ) WITHOUT ROWID;

    CREATE INDEX samples_empty_text ON samples(id)
        WHERE kind = 'text' AND trim(coalesce(text, ''), char(9, 10, 11, 12, 13, 32, 133,
        160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232,
        8233, 8239, 8287, 12288)) = '';
    "#,
    // 3: a compact key for finding samples by content. The index on the 64-character hex
    // hash was most of an import's cost at a million rows: every batch rewrote most of its
    // pages. `hash_key` is the hash's first 64 bits as an integer (see
    // `samples::hash_key`); a lookup matches the key, then the full hash. Every insert
    // sets it; the migration fills it with the `keylabel_hash_key` function that exists
    // only while migrating.
    r#"
    ALTER TABLE samples ADD COLUMN hash_key INTEGER;
    UPDATE samples SET hash_key = keylabel_hash_key(hash);
    CREATE INDEX samples_hash_key ON samples(hash_key);
    DROP INDEX samples_hash;
    "#,
    // 4: image files that validation read and found intact, with what it found and the
    // file's stamp (size, modification and status-change times, inode). A later validation
    // stats the file and, when the stamp and the content hash are unchanged, takes the
    // result from here instead of reading the bytes again (as git's index does). The export
    // still hashes every byte it writes. `colour` is `validate::files::colour_code`.
    r#"
    CREATE TABLE file_checks (
        sample_id    INTEGER PRIMARY KEY,
        content_hash TEXT NOT NULL,
        size         INTEGER NOT NULL,
        mtime_ns     INTEGER NOT NULL,
        ctime_ns     INTEGER NOT NULL,
        inode        INTEGER NOT NULL,
        pixels       INTEGER NOT NULL,
        colour       INTEGER NOT NULL
    );
    "#,
    // 5: labels that a reviewer's send-back cleared. Derived from the log: an annotator's
    // last label before the sample was sent back, while they have given no new label since.
    // They are no current label (the sample is back in the queue, its export and status
    // ignore them), but the agreement figures count them: the disagreement happened. The
    // migration fills the table from the log (see `migrate`). `sample_state.sent_back`
    // now means "sent back at least once" (the send-back not undone).
    r#"
    CREATE TABLE sent_back_labels (
        sample_id INTEGER NOT NULL,
        annotator TEXT NOT NULL,
        labels    TEXT NOT NULL,
        PRIMARY KEY (sample_id, annotator)
    ) WITHOUT ROWID;
    "#,
    // 6: other names of a sample: a file or row that import found to hold the same content
    // as an existing sample under another name. A label file that names it labels that
    // sample; the window's info panel and `history` show it. A later sample that takes the
    // name itself (the file's content changed) ends the alias.
    r#"
    CREATE TABLE sample_aliases (
        name      TEXT PRIMARY KEY,
        sample_id INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX sample_aliases_sample ON sample_aliases(sample_id);
    "#,
    // 7: boxes of detect projects. A detect decision (label, review or suggestion) is the
    // complete set of boxes one annotator gives an image, a JSON array in `events.boxes`
    // (see `project::boxes`; possibly empty: "no objects here"), and its `labels` are the
    // boxes' distinct classes. NULL for classification events. Derived from the log: each
    // annotator's current boxes (`annotations.boxes`), the reviewer's
    // (`sample_state.review_boxes`), and each image's current boxes one per row in
    // `sample_boxes`, so that boxes are counted per class from an index.
    r#"
    ALTER TABLE events ADD COLUMN boxes TEXT;
    ALTER TABLE annotations ADD COLUMN boxes TEXT;
    ALTER TABLE sample_state ADD COLUMN review_boxes TEXT;
    CREATE TABLE sample_boxes (
        sample_id INTEGER NOT NULL,
        position  INTEGER NOT NULL,
        class_id  INTEGER NOT NULL,
        x         REAL NOT NULL,
        y         REAL NOT NULL,
        w         REAL NOT NULL,
        h         REAL NOT NULL,
        PRIMARY KEY (sample_id, position)
    ) WITHOUT ROWID;
    CREATE INDEX sample_boxes_class ON sample_boxes(class_id);
    "#,
    // A replica of a team hub (see `crate::hub`): the hub it is linked to (one
    // row, never a password) and the uids of the events the hub holds (pushed or pulled),
    // so that a sync sends only what the hub lacks.
    r#"
    CREATE TABLE hub_link (
        one       INTEGER PRIMARY KEY CHECK (one = 1),
        url       TEXT NOT NULL,
        name      TEXT NOT NULL,
        project   INTEGER NOT NULL,
        pulled    INTEGER NOT NULL DEFAULT 0,
        last_sync TEXT
    );
    CREATE TABLE hub_events (uid TEXT PRIMARY KEY) WITHOUT ROWID;
    "#,
    // Every event up to `pushed_to` (an `events.id`) is on the hub: a sync looks for
    // what to push only after it, so that its cost follows the new events, not the log.
    r#"
    ALTER TABLE hub_link ADD COLUMN pushed_to INTEGER NOT NULL DEFAULT 0;
    "#,
    // The SHA-256 of an image's bytes (32 bytes), taken by the import in the same read as
    // the BLAKE3, so that an export that has checked the BLAKE3 writes the Object Detection
    // API's `image/key/sha256` without hashing the bytes again. NULL for table rows and for
    // samples imported before this column or pulled from a hub: the export hashes those.
    r#"
    ALTER TABLE samples ADD COLUMN sha256 BLOB;
    "#,
    // Events of a replica that its hub refused (another annotator's name, a sample the hub
    // project lacks, a review decision without the reviewer role), with the hub's reason:
    // kept here, counted apart from the events waiting for the hub, and offered again only
    // when asked (`keylabel sync`, or a new connection), not at every background sync.
    r#"
    CREATE TABLE hub_refused (uid TEXT PRIMARY KEY, reason TEXT NOT NULL) WITHOUT ROWID;
    "#,
];

/// The schema version this keylabel writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;
