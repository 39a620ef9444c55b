//! Merging copies of a project that were labeled elsewhere: the union of their event logs.
//!
//! Events carry globally unique ids, so merging is idempotent and its result does not depend
//! on the order in which files are merged. Samples and classes are matched by name.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::events::{NewEvent, insert_event_with_uid, refresh_sample};
use super::samples::{SAMPLE_COLUMNS, row_to_sample};
use super::stored;
use super::{ClassId, Project, ProjectError, Result, SampleId};

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MergeReport {
    /// Events copied in (events already present are not counted).
    pub events_added: u64,
    /// Samples present in the other file only, copied in.
    pub samples_added: u64,
    /// Samples whose state changed.
    pub samples_touched: u64,
}

impl Project {
    /// Adds the samples and events of `other` that this project lacks. Refuses, writing
    /// nothing, when the two projects' classes differ.
    pub fn merge_from(&mut self, other_path: &Path) -> Result<MergeReport> {
        if std::path::absolute(other_path)? == self.path {
            return Err(ProjectError::Invalid(format!(
                "`{}` is this project itself",
                other_path.display()
            ))
            .into());
        }
        let other = Project::open_read_only(other_path)?;
        let mine: BTreeSet<String> = self.classes()?.into_iter().map(|c| c.name).collect();
        let theirs: BTreeSet<String> = other.classes()?.into_iter().map(|c| c.name).collect();
        if mine != theirs {
            let only_here: Vec<&String> = mine.difference(&theirs).collect();
            let only_there: Vec<&String> = theirs.difference(&mine).collect();
            return Err(ProjectError::Invalid(format!(
                "`{}` has different classes: only in this project: [{}]; only in `{}`: [{}]",
                other_path.display(),
                join(&only_here),
                other_path.display(),
                join(&only_there)
            ))
            .into());
        }
        if other.task() != self.task() {
            return Err(ProjectError::Invalid(format!(
                "`{}` is a {} project, this one is {}",
                other_path.display(),
                other.task().as_str(),
                self.task().as_str()
            ))
            .into());
        }
        let class_map: HashMap<ClassId, ClassId> = {
            let by_name: HashMap<String, ClassId> = self
                .classes()?
                .into_iter()
                .map(|c| (c.name, c.id))
                .collect();
            other
                .classes()?
                .into_iter()
                .filter_map(|c| by_name.get(&c.name).map(|id| (c.id, *id)))
                .collect()
        };

        let mut report = MergeReport::default();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut sample_map: HashMap<SampleId, SampleId> = HashMap::new();
        {
            let mut theirs = other
                .conn
                .prepare(&format!("SELECT {SAMPLE_COLUMNS} FROM samples ORDER BY id"))?;
            let mut find = tx.prepare_cached("SELECT id FROM samples WHERE name = ?1")?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO samples(kind, name, path, row, hash, hash_key, bytes, width, height, \
                 format, text, features, imported_at, sha256) VALUES (?1, ?2, ?3, ?4, ?5, ?6, \
                 ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?;
            let rows = theirs.query_map([], row_to_sample)?;
            for s in rows {
                let s = s?;
                let id = match find.query_row([&s.name], |r| r.get(0)).optional()? {
                    Some(id) => id,
                    None => {
                        insert.execute(params![
                            s.kind.as_str(),
                            s.name,
                            s.path,
                            s.row,
                            s.hash,
                            super::samples::hash_key(&s.hash),
                            s.bytes as i64,
                            s.width,
                            s.height,
                            s.format,
                            s.text,
                            s.features.map(|f| serde_json::Value::Object(f).to_string()),
                            s.imported_at,
                            s.sha256
                        ])?;
                        report.samples_added += 1;
                        SampleId(tx.last_insert_rowid())
                    }
                };
                sample_map.insert(s.id, id);
            }
        }
        let mut touched = BTreeSet::new();
        {
            let mut theirs = other.conn.prepare(
                "SELECT uid, sample_id, annotator, kind, labels, target, note, score, source, at, \
                 spent_ms, boxes FROM events ORDER BY id",
            )?;
            let mut exists = tx.prepare_cached("SELECT 1 FROM events WHERE uid = ?1")?;
            let mut rows = theirs.query([])?;
            while let Some(r) = rows.next()? {
                let uid: String = r.get(0)?;
                if exists.exists([&uid])? {
                    continue;
                }
                // Their file's own values: every field is checked, and one that is not
                // understood refuses the whole file (naming it and the event) before
                // anything is written. The log is append-only: what is merged stays.
                let row = format!("event {uid}");
                let theirs_named = |e: anyhow::Error| {
                    e.context(format!("`{}` cannot be merged", other_path.display()))
                };
                let bad = |what: &'static str, value: String| {
                    theirs_named(
                        stored::UnknownValue {
                            table: "events",
                            row: row.clone(),
                            what,
                            value,
                        }
                        .into(),
                    )
                };
                let their_sample: SampleId = r.get(1)?;
                let Some(&sample) = sample_map.get(&their_sample) else {
                    return Err(bad("a sample id", their_sample.to_string()));
                };
                let mut labels = stored::labels(&r.get::<_, String>(4)?, "events", &row)
                    .map_err(|e| theirs_named(e.into()))?
                    .into_iter()
                    .map(|l| {
                        class_map
                            .get(&l)
                            .copied()
                            .ok_or_else(|| bad("a class id", l.to_string()))
                    })
                    .collect::<Result<Vec<ClassId>>>()?;
                labels.sort_unstable(); // in this project's class ids
                let kind =
                    stored::get(r, 3, "events", &row).map_err(|e| theirs_named(stored::lift(e)))?;
                let source =
                    stored::get(r, 8, "events", &row).map_err(|e| theirs_named(stored::lift(e)))?;
                let annotator: String = r.get(2)?;
                if annotator.trim().is_empty() {
                    return Err(bad("an annotator name", annotator));
                }
                let score: Option<f64> = r.get(7)?;
                if let Some(s) = score.filter(|s| !s.is_finite()) {
                    return Err(bad("a score", s.to_string()));
                }
                let spent_ms = match r.get::<_, Option<i64>>(10)? {
                    Some(m) if m < 0 => return Err(bad("a time spent", m.to_string())),
                    m => m.map(|m| m as u64),
                };
                let at: String = r.get(9)?;
                if chrono::DateTime::parse_from_rfc3339(&at).is_err() {
                    return Err(bad("a time", at));
                }
                let boxes = match r.get::<_, Option<String>>(11)? {
                    None => None,
                    Some(json) => Some(
                        super::boxes::from_json(&json, "events", &row)
                            .map_err(|e| theirs_named(e.into()))?
                            .into_iter()
                            .map(|b| match class_map.get(&b.class) {
                                Some(&class) => Ok(super::BoundingBox { class, ..b }),
                                None => Err(bad("a class id", b.class.to_string())),
                            })
                            .collect::<Result<Vec<_>>>()?,
                    ),
                };
                let ev = NewEvent {
                    sample,
                    annotator,
                    kind,
                    labels,
                    target: r.get(5)?,
                    note: r.get(6)?,
                    score,
                    source,
                    spent_ms,
                    boxes,
                };
                if let Err(why) = super::events::check_shape(self.task, &ev) {
                    return Err(bad("an event that does not fit the project", why));
                }
                insert_event_with_uid(&tx, &ev, &uid, &at)?;
                report.events_added += 1;
                touched.insert(sample);
            }
        }
        for s in &touched {
            refresh_sample(&tx, *s)?;
        }
        tx.commit()?;
        report.samples_touched = touched.len() as u64;
        Ok(report)
    }
}

fn join(names: &[&String]) -> String {
    names
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
