//! The project file: one SQLite database holding the samples, the label schema, the
//! append-only event log and the state derived from it.
//!
//! Everything a front end does to a project goes through [`Project`]. Writes are committed
//! before the call returns, so a decision the user has seen as saved survives a crash.

pub mod boxes;
pub mod classes;
mod events;
mod merge;
mod recover;
mod replica;
mod samples;
pub mod schema;
mod settings;
mod status;
pub mod stored;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::{Deserialize, Serialize};

pub use boxes::BoundingBox;
pub use classes::{Class, ClassId, DEFAULT_COLORS, default_hotkey};
pub use events::{Decision, Event, EventKind, NewEvent, Source, now_rfc3339};
pub use merge::MergeReport;
pub use recover::{RecoverReport, TableCopy};
pub use replica::{HubLink, LoggedEvent};
pub use samples::{
    InsertOutcome, NewSample, SUMMARY_TEXT_CHARS, Sample, SampleId, SampleKind, SampleQuery,
    SampleStatus, SampleSummary, SampleToExport, hash_key, qa_rank, qa_selected, qa_threshold,
};
pub use settings::{ConsensusPolicy, Settings, ValidationSettings};
pub use status::{AnnotatorCount, ClassCount, HubStatus, Status};

use schema::{APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION};

/// How long a writer waits for another process holding the project's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Errors a user can act on when opening or creating a project.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("`{0}` already exists; choose another name or open it instead")]
    Exists(PathBuf),
    #[error("`{0}` does not exist")]
    Missing(PathBuf),
    #[error("`{path}` is not a keylabel project: {reason}")]
    NotAProject { path: PathBuf, reason: String },
    #[error(
        "`{path}` was written by a newer keylabel (schema version {found}, this keylabel \
         supports up to {supported}); upgrade keylabel to open it"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("`{path}`: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("`{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = anyhow::Error> = std::result::Result<T, E>;

/// Single-label (one class per sample), multi-label (any subset of classes), or detection
/// (boxes of classes on an image).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::EnumIter)]
#[serde(rename_all = "kebab-case")]
pub enum TaskKind {
    SingleLabel,
    MultiLabel,
    /// Object detection: a decision is the set of boxes on an image (see [`BoundingBox`]).
    Detect,
}

impl TaskKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::SingleLabel => "single-label",
            TaskKind::MultiLabel => "multi-label",
            TaskKind::Detect => "detect",
        }
    }

    /// `classify` or `detect`, as `status --json` and `classes list --json` say.
    pub fn family(self) -> &'static str {
        match self {
            TaskKind::SingleLabel | TaskKind::MultiLabel => "classify",
            TaskKind::Detect => "detect",
        }
    }

    pub fn is_detect(self) -> bool {
        self == TaskKind::Detect
    }
}

/// An open project file.
pub struct Project {
    conn: Connection,
    path: PathBuf,
    root: PathBuf,
    task: TaskKind,
}

impl std::fmt::Debug for Project {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Project").field("path", &self.path).finish()
    }
}

impl Project {
    /// Creates a new project at `path` with `classes` in order. Refuses, leaving the file
    /// system untouched, when `path` already exists or the classes are invalid.
    pub fn create(path: &Path, classes: &[String], task: TaskKind) -> Result<Project> {
        let names = classes::validate_new_names(classes)?;
        let io = |source: std::io::Error| ProjectError::Io {
            path: path.to_path_buf(),
            source,
        };
        if path.exists() {
            return Err(ProjectError::Exists(path.to_path_buf()).into());
        }
        // Built complete under a temporary name beside it, then put in place in one step:
        // a killed `init` leaves no empty or half-made file at `path`.
        crate::leftovers::remove_stale_project_files(path, "new");
        let tmp = crate::leftovers::temporary_beside(path, "new");
        crate::leftovers::remove_project_files(&tmp);
        let built = (|| -> Result<()> {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(io)?;
            let conn = Connection::open_with_flags(
                &tmp,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|source| ProjectError::Sqlite {
                path: path.to_path_buf(),
                source,
            })?;
            // A rollback journal while it is built: nothing beside the file outlives it.
            conn.execute_batch(&format!(
                "PRAGMA journal_mode = DELETE; PRAGMA synchronous = FULL; \
                 PRAGMA application_id = {APPLICATION_ID};"
            ))?;
            migrate(&conn, 0)?;
            let tx = rusqlite::Transaction::new_unchecked(
                &conn,
                rusqlite::TransactionBehavior::Immediate,
            )?;
            tx.execute(
                "INSERT INTO meta(key, value) VALUES ('task', ?1), ('created_at', ?2), \
                 ('created_by', ?3)",
                params![
                    task.as_str(),
                    events::now_rfc3339(),
                    concat!("keylabel ", env!("CARGO_PKG_VERSION"))
                ],
            )?;
            for (i, name) in names.iter().enumerate() {
                tx.execute(
                    "INSERT INTO classes(name, hotkey, color, position) VALUES (?1, ?2, ?3, ?4)",
                    params![
                        name,
                        default_hotkey(i),
                        DEFAULT_COLORS[i % DEFAULT_COLORS.len()],
                        i as i64
                    ],
                )?;
            }
            tx.commit()?;
            conn.close().map_err(|(_, e)| e)?;
            std::fs::File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(io)?;
            // A hard link fails when `path` exists, so another `init` that got there first
            // is never replaced. File systems without hard links get a rename after a check.
            match std::fs::hard_link(&tmp, path) {
                Ok(()) => std::fs::remove_file(&tmp).map_err(io)?,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(ProjectError::Exists(path.to_path_buf()).into());
                }
                Err(_) if !path.exists() => std::fs::rename(&tmp, path).map_err(io)?,
                Err(_) => return Err(ProjectError::Exists(path.to_path_buf()).into()),
            }
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                // The new name itself is durable once the folder is synced (best effort).
                let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
            }
            Ok(())
        })();
        crate::leftovers::remove_project_files(&tmp);
        built?;
        Project::open(path)
    }

    /// Opens an existing project for reading and writing, migrating an older schema.
    /// A file that is not a keylabel project, or one from a newer keylabel, is refused
    /// before anything is written to it. A project this process cannot change (a read-only
    /// file, folder or medium) is opened read-only ([`Project::is_read_only`]): reading works,
    /// and a write fails with SQLite's "readonly database", which [`storage_error`] names.
    pub fn open(path: &Path) -> Result<Project> {
        if !path.exists() {
            return Err(ProjectError::Missing(path.to_path_buf()).into());
        }
        if !writable(path) {
            return Project::open_reading(path);
        }
        match Project::open_writable(path) {
            // A disk that is full or failing may still be read.
            Err(e) if storage_trouble(&e) => Project::open_reading(path).map_err(|_| e),
            other => other,
        }
    }

    fn open_writable(path: &Path) -> Result<Project> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| ProjectError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
        let version = check_identity(&conn, path)?;
        configure(&conn, path)?;
        if version < SCHEMA_VERSION {
            migrate(&conn, version)?;
        }
        Project::from_conn(conn, path)
    }

    /// Opens a project this process cannot change: read-only where SQLite can share the
    /// write-ahead log's index, else as an immutable file (a read-only medium, where no one
    /// writes).
    fn open_reading(path: &Path) -> Result<Project> {
        match Project::open_read_only(path) {
            Ok(p) => Ok(p),
            // Without a write-ahead log (one would hold commits the immutable file lacks).
            Err(first) if wal_is_empty(path) => {
                let uri = format!("file:{}?immutable=1", uri_path(path));
                let Ok(conn) = Connection::open_with_flags(
                    uri,
                    OpenFlags::SQLITE_OPEN_READ_ONLY
                        | OpenFlags::SQLITE_OPEN_URI
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                ) else {
                    return Err(first);
                };
                match check_identity(&conn, path) {
                    Ok(SCHEMA_VERSION) => Project::from_conn(conn, path),
                    _ => Err(first),
                }
            }
            Err(first) => Err(first),
        }
    }

    /// Whether this project was opened without the right to change it.
    pub fn is_read_only(&self) -> bool {
        self.conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(true)
    }

    /// Opens a project without the right to change it (used to read other projects when
    /// merging).
    pub fn open_read_only(path: &Path) -> Result<Project> {
        if !path.exists() {
            return Err(ProjectError::Missing(path.to_path_buf()).into());
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| ProjectError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
        let version = check_identity(&conn, path)?;
        if version < SCHEMA_VERSION {
            return Err(ProjectError::Invalid(format!(
                "`{}` uses an older schema (version {version}); open it once with this \
                 keylabel to upgrade it first",
                path.display()
            ))
            .into());
        }
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Project::from_conn(conn, path)
    }

    fn from_conn(conn: Connection, path: &Path) -> Result<Project> {
        let task: TaskKind = conn
            .query_row("SELECT value FROM meta WHERE key = 'task'", [], |r| {
                stored::get(r, 0, "meta", "key `task`")
            })
            .optional()
            .map_err(stored::lift)?
            .unwrap_or(TaskKind::SingleLabel);
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let root = abs
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(Project {
            conn,
            path: abs,
            root,
            task,
        })
    }

    /// The project file's absolute path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder that relative sample paths are resolved against.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The project's name: its file name without the suffix.
    pub fn name(&self) -> String {
        self.path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "project".into())
    }

    pub fn task(&self) -> TaskKind {
        self.task
    }

    /// The underlying connection, for the core modules that run their own queries
    /// (review, validation). Front ends, import and export call typed functions instead.
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Bulk writes (a table import of millions of rows) with `on`, ordinary ones without.
    ///
    /// In WAL mode `synchronous = NORMAL` cannot corrupt the file; a power cut may only
    /// lose the last batches, which importing again restores. It spares an fsync per batch.
    /// A larger checkpoint interval copies each index page touched by several batches once.
    /// Back off, every commit is `synchronous = FULL` again: a decision the user has seen
    /// as saved is on disk.
    pub fn set_bulk_writes(&self, on: bool) -> Result<()> {
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Ok(());
        }
        self.conn.execute_batch(if on {
            "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 65536;"
        } else {
            "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 1000;"
        })?;
        Ok(())
    }

    /// Writes a complete, consistent copy of the project to `dest` (SQLite's `VACUUM
    /// INTO`): every committed write, also those still in the write-ahead log, while other
    /// connections (the window) go on. A copy made with `cp` of the file alone misses
    /// those. Refuses an existing `dest`; a failed copy leaves nothing at `dest`.
    pub fn backup_to(&self, dest: &Path) -> Result<()> {
        if dest.exists() {
            return Err(ProjectError::Invalid(format!(
                "`{}` exists already; name a new file for the copy",
                dest.display()
            ))
            .into());
        }
        let text = dest
            .to_str()
            .ok_or_else(|| anyhow::anyhow!("`{}` is not a UTF-8 path", dest.display()))?;
        if let Err(e) = self.conn.execute("VACUUM INTO ?1", [text]) {
            let _ = std::fs::remove_file(dest);
            return Err(anyhow::Error::new(e)
                .context(format!("could not write the copy `{}`", dest.display())));
        }
        Ok(())
    }

    /// Folds the write-ahead log back into the project file, so that the file alone holds
    /// every committed write (before it is copied or moved by other means than
    /// [`Project::backup_to`]).
    pub fn checkpoint(&self) -> Result<()> {
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }

    /// Runs SQLite's own consistency check; `Ok(())` when it reports `ok`.
    pub fn integrity_check(&self) -> Result<()> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if rows.len() == 1 && rows[0] == "ok" {
            Ok(())
        } else {
            anyhow::bail!("integrity check failed: {}", rows.join("; "))
        }
    }

    /// What SQLite's check of every page and index finds wrong with the file, when
    /// anything (`quick`: pages and structure without comparing indexes to tables, fast
    /// enough before every validation). An empty list means the file is sound.
    pub fn damage(&self, quick: bool) -> Result<Vec<String>> {
        let pragma = if quick {
            "PRAGMA quick_check(20)"
        } else {
            "PRAGMA integrity_check(20)"
        };
        let rows = self
            .conn
            .prepare(pragma)
            .and_then(|mut s| {
                s.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()
            })
            // A check that cannot even run (the file's first pages are gone) is damage too.
            .unwrap_or_else(|e| vec![e.to_string()]);
        Ok(if rows.len() == 1 && rows[0] == "ok" {
            Vec::new()
        } else {
            rows
        })
    }

    /// Turns a file path into the form stored in the project: relative to the project's
    /// folder (with `/` separators) when it lies under it, else absolute.
    pub fn stored_path(&self, file: &Path) -> String {
        path_under(&self.root, file)
    }

    /// The file a stored path refers to.
    pub fn resolve(&self, stored: &str) -> PathBuf {
        let p = Path::new(stored);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.root.join(p)
        }
    }

    /// Sets a value of the `meta` table.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }

    /// A value from the `meta` table.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }
}

/// `file` relative to the folder `root` (with `/` separators) when it lies under it, else
/// absolute: how a project stores a path.
pub fn path_under(root: &Path, file: &Path) -> String {
    let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let abs = normalize(&abs);
    match abs.strip_prefix(normalize(root)) {
        Ok(rel) => rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
        Err(_) => abs.to_string_lossy().into_owned(),
    }
}

/// Removes lexical `.` and `..` components so that prefix tests work on unresolved paths.
fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Reads the identity of a file without writing to it; returns its schema version.
/// Whether this process may change the project file: the file, and its folder (SQLite's
/// journal and write-ahead log live beside it), are writable on a writable file system.
fn writable(path: &Path) -> bool {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    may_write(path) && may_write(&folder)
}

#[cfg(unix)]
fn may_write(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return true;
    };
    // SAFETY: a valid NUL-terminated path. `access` answers for this process's real ids,
    // and says no on a read-only file system also to root.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

#[cfg(not(unix))]
fn may_write(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| !m.permissions().readonly())
        .unwrap_or(true)
}

/// Whether the project's write-ahead log is absent or empty.
fn wal_is_empty(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(PathBuf::from(wal)).map_or(true, |m| m.len() == 0)
}

/// Whether `e` comes from the storage (cannot open, read-only, full, an I/O error) rather
/// than from the file's content.
fn storage_trouble(e: &anyhow::Error) -> bool {
    use rusqlite::ErrorCode::{CannotOpen, DiskFull, ReadOnly, SystemIoFailure};
    has_sqlite_code(e, &[CannotOpen, DiskFull, ReadOnly, SystemIoFailure])
}

/// Whether an SQLite error with one of `codes` is anywhere in `e`'s chain (also inside a
/// [`ProjectError::Sqlite`]).
pub(crate) fn has_sqlite_code(e: &anyhow::Error, codes: &[rusqlite::ErrorCode]) -> bool {
    e.chain().any(|c| {
        let code = c
            .downcast_ref::<rusqlite::Error>()
            .and_then(rusqlite::Error::sqlite_error_code)
            .or_else(|| match c.downcast_ref::<ProjectError>() {
                Some(ProjectError::Sqlite { source, .. }) => source.sqlite_error_code(),
                _ => None,
            });
        code.is_some_and(|code| codes.contains(&code))
    })
}

/// `path` as the path of an SQLite `file:` URI (`%`, `?` and `#` escaped).
fn uri_path(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = String::new();
    for ch in abs.to_string_lossy().chars() {
        match ch {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3f"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out
}

/// Why the project's storage refused a write, when it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageTrouble {
    /// The file, its folder or its file system cannot be written.
    ReadOnly,
    /// The disk holding the project is full.
    Full,
}

impl StorageTrouble {
    /// The trouble `e`, an error of the project at `path`, reports, if it is one of these.
    /// A full disk does not always say so: SQLite may fail to grow its shared-memory index
    /// ("disk I/O error"), or the project was opened read-only because it could not be
    /// opened for writing; the free space of its file system tells then.
    pub fn of(e: &anyhow::Error, path: &Path) -> Option<StorageTrouble> {
        use rusqlite::ErrorCode;
        if has_sqlite_code(e, &[ErrorCode::DiskFull]) {
            return Some(StorageTrouble::Full);
        }
        let read_only = has_sqlite_code(e, &[ErrorCode::ReadOnly]);
        if (read_only || has_sqlite_code(e, &[ErrorCode::SystemIoFailure])) && disk_is_full(path) {
            return Some(StorageTrouble::Full);
        }
        read_only.then_some(StorageTrouble::ReadOnly)
    }
}

/// Whether the file system holding `path` has (next to) no room left for anyone.
fn disk_is_full(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let dir = std::path::absolute(path)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."));
        let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
            return false;
        };
        // SAFETY: `c` is a NUL-terminated path and `stat` a writable statvfs.
        let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut stat) } != 0 {
            return false;
        }
        // Less than what SQLite needs to grow a file by a few pages.
        (stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64) < 64 * 1024
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// When `e` is a write refused by the project's storage (read-only, or a full disk), that
/// said plainly: which file, what happened to the work, and what to do.
pub fn storage_error(e: &anyhow::Error, path: &Path) -> Option<anyhow::Error> {
    let trouble = StorageTrouble::of(e, path)?;
    let path = path.display();
    Some(match trouble {
        StorageTrouble::ReadOnly => anyhow::anyhow!(
            "`{path}` is read-only (the file, its folder or its disk cannot be written): this \
             command changes the project, and nothing was changed. Reading commands work on \
             it; to change it, copy it somewhere writable (`keylabel -p {path} backup COPY`)"
        ),
        StorageTrouble::Full => anyhow::anyhow!(
            "the disk holding `{path}` is full: the command stopped, and the project is intact \
             (what it had not finished was not written; an import keeps the batches it had \
             committed). Free some space and run it again"
        ),
    })
}

fn check_identity(conn: &Connection, path: &Path) -> Result<i64> {
    let not_a_project = |reason: String| ProjectError::NotAProject {
        path: path.to_path_buf(),
        reason,
    };
    // Only content that is no SQLite database is "not a project"; a file that cannot be
    // read (a full or failing disk) says why.
    let unreadable = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) | None => not_a_project(e.to_string()),
        Some(_) => ProjectError::Sqlite {
            path: path.to_path_buf(),
            source: e,
        },
    };
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(unreadable)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(unreadable)?;
    if app_id != APPLICATION_ID {
        let reason = if app_id == 0 {
            "it is not a keylabel project file".to_string()
        } else {
            format!("its SQLite application id is {app_id:#x}, not keylabel's")
        };
        return Err(not_a_project(reason).into());
    }
    if version > SCHEMA_VERSION {
        return Err(ProjectError::TooNew {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        }
        .into());
    }
    Ok(version)
}

fn configure(conn: &Connection, path: &Path) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|source| ProjectError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
    if !mode.eq_ignore_ascii_case("wal") {
        // A file system without shared memory (some network shares) cannot use WAL; the
        // rollback journal is still safe, only slower with several writers.
        conn.execute_batch("PRAGMA journal_mode = DELETE;")?;
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536;",
    )?;
    Ok(())
}

fn migrate(conn: &Connection, from: i64) -> Result<()> {
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    // Re-read inside the write transaction: another process may have migrated already.
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    tx.create_scalar_function(
        "keylabel_hash_key",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(samples::hash_key(&ctx.get::<String>(0)?)),
    )?;
    let start = current.max(from) as usize;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(start) {
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {};", i + 1))?;
    }
    // Derived state that a migration adds is computed by today's code, so after every
    // table is in today's shape.
    if start < 5 && MIGRATIONS.len() >= 5 {
        events::refresh_samples_with(&tx, EventKind::SendBack)?;
    }
    tx.commit()?;
    conn.remove_function("keylabel_hash_key", 1)?;
    Ok(())
}
