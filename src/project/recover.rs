//! `recover`: copies what can still be read out of a damaged project file into a new one.
//!
//! The event log is the record of every decision, and the samples, classes, settings and
//! other names are what the log refers to: those tables are copied row by row, and the
//! state derived from the log is rebuilt in the new file. A damaged stretch of a table is
//! stepped over one row at a time, so a few bad pages cost the rows stored on them, not
//! the rest. Caches (perceptual hashes, file checks) are left behind: validation rebuilds
//! them. The damaged file is only read.

use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params_from_iter};
use serde::Serialize;

use super::{Project, ProjectError, Result, TaskKind};

/// Tables copied, in an order that keeps references valid. `true`: a rowid table.
const TABLES: [(&str, bool); 6] = [
    ("meta", false),
    ("settings", false),
    ("classes", true),
    ("samples", true),
    ("events", true),
    ("sample_aliases", false),
];

/// Rows read per query while the table reads cleanly.
const CHUNK: i64 = 2_000;

/// What `recover` copied of one table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableCopy {
    pub table: String,
    /// Rows written to the new file.
    pub copied: u64,
    /// Rows that could not be read (a damaged page), when that can be counted.
    pub unreadable: u64,
    /// Why part of the table may be missing beyond the rows counted, if it may.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost: Option<String>,
}

/// What `recover` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecoverReport {
    pub tables: Vec<TableCopy>,
    /// `PRAGMA integrity_check` of the new file: `true` when it is sound.
    pub sound: bool,
}

impl RecoverReport {
    /// Whether everything was read.
    pub fn complete(&self) -> bool {
        self.tables
            .iter()
            .all(|t| t.unreadable == 0 && t.lost.is_none())
    }
}

impl Project {
    /// Copies what can be read of the project at `damaged` into a new project at `dest`
    /// (refused when `dest` exists). The new file is built under a temporary name and put
    /// in place only when complete.
    pub fn recover(damaged: &Path, dest: &Path) -> Result<RecoverReport> {
        if dest.exists() {
            return Err(ProjectError::Exists(dest.to_path_buf()).into());
        }
        let src = Connection::open_with_flags(
            damaged,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| ProjectError::Sqlite {
            path: damaged.to_path_buf(),
            source,
        })?;
        let app_id: i32 = src
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| ProjectError::NotAProject {
                path: damaged.to_path_buf(),
                reason: format!("its first page cannot be read ({e}); nothing can be copied"),
            })?;
        if app_id != super::APPLICATION_ID {
            return Err(ProjectError::NotAProject {
                path: damaged.to_path_buf(),
                reason: "it is no keylabel project file".into(),
            }
            .into());
        }
        let task = src
            .query_row("SELECT value FROM meta WHERE key = 'task'", [], |r| {
                r.get::<_, String>(0)
            })
            .ok()
            .and_then(|t| {
                use strum::IntoEnumIterator;
                TaskKind::iter().find(|k| k.as_str() == t)
            })
            .unwrap_or(TaskKind::SingleLabel);

        crate::leftovers::remove_stale_project_files(dest, "recovering");
        let tmp = crate::leftovers::temporary_beside(dest, "recovering");
        crate::leftovers::remove_project_files(&tmp);
        let built = (|| -> Result<RecoverReport> {
            // A placeholder class: the real classes (with their ids) replace it.
            drop(Project::create(&tmp, &["recovered".to_string()], task)?);
            let dst = Connection::open(&tmp)?;
            dst.execute_batch("DELETE FROM classes; DELETE FROM meta;")?;
            let mut tables = Vec::new();
            for (table, rowid) in TABLES {
                let tx = dst.unchecked_transaction()?;
                let copy = copy_table(&src, &tx, table, rowid);
                tx.commit()?;
                tables.push(copy);
            }
            drop(dst);
            let mut project = Project::open(&tmp)?;
            project.rebuild_state()?;
            let sound = project.damage(false)?.is_empty();
            drop(project);
            Ok(RecoverReport { tables, sound })
        })();
        let report = match built {
            Ok(r) => r,
            Err(e) => {
                crate::leftovers::remove_project_files(&tmp);
                return Err(e);
            }
        };
        let placed = std::fs::hard_link(&tmp, dest).map_err(|source| ProjectError::Io {
            path: dest.to_path_buf(),
            source,
        });
        crate::leftovers::remove_project_files(&tmp);
        placed?;
        Ok(report)
    }
}

/// The columns of `table` in `conn`, in order.
fn columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
    stmt.query_map([], |r| r.get::<_, String>(1))?.collect()
}

fn copy_table(src: &Connection, dst: &Connection, table: &str, rowid: bool) -> TableCopy {
    let mut copy = TableCopy {
        table: table.to_string(),
        copied: 0,
        unreadable: 0,
        lost: None,
    };
    let wanted = match columns(dst, table) {
        Ok(c) => c,
        Err(e) => {
            copy.lost = Some(format!("the new file has no such table: {e}"));
            return copy;
        }
    };
    let have = match columns(src, table) {
        Ok(c) if !c.is_empty() => c,
        Ok(_) => {
            copy.lost = Some("the damaged file has no such table".into());
            return copy;
        }
        Err(e) => {
            copy.lost = Some(format!("its definition cannot be read: {e}"));
            return copy;
        }
    };
    let cols: Vec<&String> = wanted.iter().filter(|c| have.contains(c)).collect();
    let list = cols
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let marks = vec!["?"; cols.len()].join(", ");
    let insert = format!("INSERT OR REPLACE INTO {table}({list}) VALUES ({marks})");
    let write = |values: Vec<Value>, copy: &mut TableCopy| match dst
        .prepare_cached(&insert)
        .and_then(|mut s| s.execute(params_from_iter(values)))
    {
        Ok(_) => copy.copied += 1,
        Err(_) => copy.unreadable += 1,
    };
    let read_values = |r: &rusqlite::Row<'_>, from: usize| -> rusqlite::Result<Vec<Value>> {
        (from..from + cols.len())
            .map(|i| r.get::<_, Value>(i))
            .collect()
    };

    if !rowid {
        let all = src
            .prepare(&format!("SELECT {list} FROM {table}"))
            .and_then(|mut s| {
                s.query_map([], |r| read_values(r, 0))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            });
        match all {
            Ok(rows) => rows.into_iter().for_each(|v| write(v, &mut copy)),
            Err(e) => copy.lost = Some(format!("the table cannot be read: {e}")),
        }
        return copy;
    }

    let chunk =
        format!("SELECT rowid, {list} FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT {CHUNK}");
    let single = format!("SELECT {list} FROM {table} WHERE rowid = ?1");
    let max: Option<i64> = src
        .query_row(&format!("SELECT max(rowid) FROM {table}"), [], |r| r.get(0))
        .ok()
        .flatten();
    let mut last = 0i64;
    'table: loop {
        let rows = src.prepare_cached(&chunk).and_then(|mut s| {
            s.query_map([last], |r| Ok((r.get::<_, i64>(0)?, read_values(r, 1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        });
        match rows {
            Ok(rows) if rows.is_empty() => break,
            Ok(rows) => {
                for (id, values) in rows {
                    write(values, &mut copy);
                    last = id;
                }
            }
            Err(_) => {
                // A damaged stretch: step over it one row at a time, up to the last id.
                let Some(max) = max else {
                    copy.lost = Some(format!("rows after id {last} cannot be read"));
                    break;
                };
                loop {
                    last += 1;
                    if last > max {
                        break 'table;
                    }
                    let row = src
                        .prepare_cached(&single)
                        .and_then(|mut s| s.query_row([last], |r| read_values(r, 0)).optional());
                    match row {
                        Ok(Some(values)) => {
                            write(values, &mut copy);
                            break;
                        }
                        Ok(None) => {}
                        Err(_) => copy.unreadable += 1,
                    }
                }
            }
        }
    }
    copy
}
