//! The append-only event log and the state derived from it.
//!
//! Every decision (label, skip, exclusion, flag, review, send-back, undo) is a new row with
//! a globally unique id. The current state of a sample is a pure function of its events in
//! `(at, uid)` order, recomputed by [`refresh_sample`] in the same transaction as every
//! write, so the derived tables never disagree with the log and two logs merged in any
//! order give the same state.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use strum::EnumIter;

use super::boxes::{self, BoundingBox};
use super::stored::{self, labels_to_json};
use super::{ClassId, Project, ProjectError, Result, SampleId, SampleStatus, TaskKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, EnumIter)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Assigns the event's labels (replacing this annotator's previous decision).
    Label,
    /// The annotator passed on the sample for now.
    Skip,
    /// The sample is unusable (reason in `note`); never exported.
    Exclude,
    /// Marks the sample for a reviewer's attention.
    Flag,
    /// Removes a flag.
    Unflag,
    /// A model's suggested labels (with `score`), to be confirmed by an annotator.
    Suggest,
    /// A reviewer's final decision: the event's labels are the sample's label.
    Review,
    /// A reviewer sends the sample back: earlier decisions no longer count and it returns
    /// to the annotation queue.
    SendBack,
    /// Withdraws the event named in `target`.
    Undo,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Label => "label",
            EventKind::Skip => "skip",
            EventKind::Exclude => "exclude",
            EventKind::Flag => "flag",
            EventKind::Unflag => "unflag",
            EventKind::Suggest => "suggest",
            EventKind::Review => "review",
            EventKind::SendBack => "send_back",
            EventKind::Undo => "undo",
        }
    }

    /// Kinds an annotator's undo steps back through.
    pub fn is_undoable(self) -> bool {
        !matches!(self, EventKind::Undo | EventKind::Suggest)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, EnumIter)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Typed by a person in keylabel.
    Human,
    /// Brought in from a file or folder names.
    Imported,
    /// A model's suggestion.
    Model,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Human => "human",
            Source::Imported => "imported",
            Source::Model => "model",
        }
    }
}

/// An event to append.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub sample: SampleId,
    pub annotator: String,
    pub kind: EventKind,
    pub labels: Vec<ClassId>,
    pub target: Option<String>,
    pub note: Option<String>,
    pub score: Option<f64>,
    pub source: Source,
    /// Time the annotator spent on the sample before this decision.
    pub spent_ms: Option<u64>,
    /// In a detect project, the complete set of boxes of a label, review or suggestion
    /// (`labels` are then their distinct classes: see [`NewEvent::boxes`]). `None` in a
    /// classification project and for other kinds.
    pub boxes: Option<Vec<BoundingBox>>,
}

impl NewEvent {
    /// A human event of `kind` with no labels.
    pub fn new(sample: SampleId, annotator: &str, kind: EventKind) -> NewEvent {
        NewEvent {
            sample,
            annotator: annotator.to_string(),
            kind,
            labels: Vec::new(),
            target: None,
            note: None,
            score: None,
            source: Source::Human,
            spent_ms: None,
            boxes: None,
        }
    }

    /// A human detect decision: the complete set of boxes on the image (empty: the image
    /// shows no objects), with `kind` `Label`, `Review` or `Suggest`.
    pub fn boxes(
        sample: SampleId,
        annotator: &str,
        kind: EventKind,
        boxes: Vec<BoundingBox>,
    ) -> NewEvent {
        NewEvent {
            labels: boxes::classes_of(&boxes),
            boxes: Some(boxes),
            ..NewEvent::new(sample, annotator, kind)
        }
    }

    /// A human label event.
    pub fn label(sample: SampleId, annotator: &str, labels: Vec<ClassId>) -> NewEvent {
        NewEvent {
            labels,
            ..NewEvent::new(sample, annotator, EventKind::Label)
        }
    }

    pub fn with_spent_ms(mut self, ms: u64) -> NewEvent {
        self.spent_ms = Some(ms);
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> NewEvent {
        self.note = Some(note.into());
        self
    }
}

/// An event as stored, with class names resolved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub uid: String,
    pub sample_id: SampleId,
    pub sample: String,
    pub annotator: String,
    pub kind: EventKind,
    pub labels: Vec<String>,
    #[serde(skip)]
    pub label_ids: Vec<ClassId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    pub source: Source,
    pub at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spent_ms: Option<u64>,
    /// A detect decision's boxes (classes by id, as stored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boxes: Option<Vec<BoundingBox>>,
    /// Whether a later undo withdrew this event.
    pub undone: bool,
}

/// One annotator's current decision on a sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub annotator: String,
    pub status: SampleStatus,
    pub labels: Vec<ClassId>,
    pub event_uid: String,
    pub at: String,
    pub spent_ms: Option<u64>,
    /// The boxes of a detect decision (`Some`, possibly empty, when labeled).
    pub boxes: Option<Vec<BoundingBox>>,
}

/// Current time as RFC 3339 UTC with milliseconds; sorts as text in time order.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Inserts one event (no derived-state refresh) and returns its uid.
pub(super) fn insert_event(conn: &Connection, ev: &NewEvent, at: &str) -> Result<String> {
    let uid = uuid::Uuid::now_v7().to_string();
    insert_event_with_uid(conn, ev, &uid, at)?;
    Ok(uid)
}

pub(super) fn insert_event_with_uid(
    conn: &Connection,
    ev: &NewEvent,
    uid: &str,
    at: &str,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO events(uid, sample_id, annotator, kind, labels, target, note, score, \
         source, at, spent_ms, boxes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    stmt.execute(params![
        uid,
        ev.sample,
        ev.annotator,
        ev.kind,
        labels_to_json(&ev.labels),
        ev.target,
        ev.note,
        ev.score,
        ev.source,
        at,
        ev.spent_ms.map(|m| m as i64),
        ev.boxes.as_deref().map(boxes::to_json),
    ])?;
    Ok(())
}

/// Recomputes the derived state of every sample that has an event of `kind` (a migration
/// that adds derived state about that kind).
pub(super) fn refresh_samples_with(conn: &Connection, kind: EventKind) -> Result<()> {
    let ids: Vec<SampleId> = conn
        .prepare("SELECT DISTINCT sample_id FROM events WHERE kind = ?1")?
        .query_map([kind], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in ids {
        refresh_sample(conn, id)?;
    }
    Ok(())
}

/// Recomputes the derived state of one sample from its events.
pub(super) fn refresh_sample(conn: &Connection, sample: SampleId) -> Result<()> {
    struct Row {
        uid: String,
        annotator: String,
        kind: EventKind,
        labels: Vec<ClassId>,
        at: String,
        spent_ms: Option<u64>,
        target: Option<String>,
        boxes: Option<Vec<BoundingBox>>,
    }
    let mut stmt = conn.prepare_cached(
        "SELECT uid, annotator, kind, labels, at, spent_ms, target, boxes FROM events \
         WHERE sample_id = ?1 ORDER BY at, uid",
    )?;
    let rows = stmt
        .query_map([sample], |r| {
            let uid: String = r.get(0)?;
            let row = format!("event {uid}");
            Ok(Row {
                annotator: r.get(1)?,
                kind: stored::get(r, 2, "events", &row)?,
                labels: stored::labels(&r.get::<_, String>(3)?, "events", &row)?,
                at: r.get(4)?,
                spent_ms: r.get::<_, Option<i64>>(5)?.map(|m| m as u64),
                target: r.get(6)?,
                boxes: r
                    .get::<_, Option<String>>(7)?
                    .map(|b| boxes::from_json(&b, "events", &row))
                    .transpose()?,
                uid,
            })
        })?
        .collect::<rusqlite::Result<Vec<Row>>>()
        .map_err(stored::lift)?;

    let undone: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r.kind == EventKind::Undo)
        .filter_map(|r| r.target.as_deref())
        .collect();

    let mut decisions: BTreeMap<&str, Decision> = BTreeMap::new();
    // Labels a send-back cleared, by annotator; a later decision of theirs replaces them.
    let mut cleared: BTreeMap<&str, Vec<ClassId>> = BTreeMap::new();
    let mut flagged = false;
    /// The reviewer's decision in force: classes, reviewer, boxes (detect projects).
    struct Review<'a> {
        labels: Vec<ClassId>,
        who: &'a str,
        boxes: Option<&'a [BoundingBox]>,
    }
    let mut review: Option<Review> = None;
    let mut sent_back = false;
    for r in rows.iter().filter(|r| !undone.contains(r.uid.as_str())) {
        let status = match r.kind {
            EventKind::Label => SampleStatus::Labeled,
            EventKind::Skip => SampleStatus::Skipped,
            EventKind::Exclude => SampleStatus::Excluded,
            EventKind::Flag => {
                flagged = true;
                continue;
            }
            EventKind::Unflag => {
                flagged = false;
                continue;
            }
            EventKind::Review => {
                review = Some(Review {
                    labels: r.labels.clone(),
                    who: r.annotator.as_str(),
                    boxes: r.boxes.as_deref(),
                });
                continue;
            }
            EventKind::SendBack => {
                for (who, d) in std::mem::take(&mut decisions) {
                    if d.status == SampleStatus::Labeled {
                        cleared.insert(who, d.labels);
                    }
                }
                review = None;
                sent_back = true;
                continue;
            }
            EventKind::Suggest | EventKind::Undo => continue,
        };
        if status == SampleStatus::Labeled {
            cleared.remove(r.annotator.as_str());
        }
        decisions.insert(
            r.annotator.as_str(),
            Decision {
                annotator: r.annotator.clone(),
                status,
                labels: if status == SampleStatus::Labeled {
                    r.labels.clone()
                } else {
                    Vec::new()
                },
                event_uid: r.uid.clone(),
                at: r.at.clone(),
                spent_ms: r.spent_ms,
                boxes: if status == SampleStatus::Labeled {
                    r.boxes.clone()
                } else {
                    None
                },
            },
        );
    }

    conn.prepare_cached("DELETE FROM annotations WHERE sample_id = ?1")?
        .execute([sample])?;
    conn.prepare_cached("DELETE FROM sample_state WHERE sample_id = ?1")?
        .execute([sample])?;
    conn.prepare_cached("DELETE FROM sample_classes WHERE sample_id = ?1")?
        .execute([sample])?;
    conn.prepare_cached("DELETE FROM sent_back_labels WHERE sample_id = ?1")?
        .execute([sample])?;
    conn.prepare_cached("DELETE FROM sample_boxes WHERE sample_id = ?1")?
        .execute([sample])?;
    let mut keep_cleared = conn.prepare_cached(
        "INSERT INTO sent_back_labels(sample_id, annotator, labels) VALUES (?1, ?2, ?3)",
    )?;
    for (who, labels) in &cleared {
        keep_cleared.execute(params![sample, who, labels_to_json(labels)])?;
    }

    let mut insert = conn.prepare_cached(
        "INSERT INTO annotations(sample_id, annotator, state, labels, event_uid, at, spent_ms, \
         boxes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for d in decisions.values() {
        insert.execute(params![
            sample,
            d.annotator,
            d.status,
            labels_to_json(&d.labels),
            d.event_uid,
            d.at,
            d.spent_ms.map(|m| m as i64),
            d.boxes.as_deref().map(boxes::to_json),
        ])?;
    }

    let any = |s: SampleStatus| decisions.values().any(|d| d.status == s);
    let status = if any(SampleStatus::Excluded) {
        SampleStatus::Excluded
    } else if review.is_some() || any(SampleStatus::Labeled) {
        SampleStatus::Labeled
    } else if any(SampleStatus::Skipped) {
        SampleStatus::Skipped
    } else {
        SampleStatus::Unlabeled
    };
    let labelers = decisions
        .values()
        .filter(|d| d.status == SampleStatus::Labeled)
        .count();
    if status != SampleStatus::Unlabeled || flagged || sent_back {
        conn.prepare_cached(
            "INSERT INTO sample_state(sample_id, status, flagged, annotators, review_labels, \
             reviewer, sent_back, review_boxes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            sample,
            status,
            flagged,
            labelers as i64,
            review.as_ref().map(|r| labels_to_json(&r.labels)),
            review.as_ref().map(|r| r.who),
            sent_back,
            review.as_ref().and_then(|r| r.boxes.map(boxes::to_json)),
        ])?;
    }
    if status == SampleStatus::Labeled {
        let classes: BTreeSet<ClassId> = match &review {
            Some(r) => r.labels.iter().copied().collect(),
            None => decisions
                .values()
                .filter(|d| d.status == SampleStatus::Labeled)
                .flat_map(|d| d.labels.iter().copied())
                .collect(),
        };
        let mut ins =
            conn.prepare_cached("INSERT INTO sample_classes(class_id, sample_id) VALUES (?1, ?2)")?;
        for c in classes {
            ins.execute(params![c, sample])?;
        }
        let labeled: Vec<&[BoundingBox]> = decisions
            .values()
            .filter(|d| d.status == SampleStatus::Labeled)
            .filter_map(|d| d.boxes.as_deref())
            .collect();
        // Several annotators who disagree, and no review: the boxes wait for consensus or
        // a reviewer; the image counts as labeled, with no current boxes.
        let current = boxes::settled(review.as_ref().and_then(|r| r.boxes), &labeled);
        let mut ins = conn.prepare_cached(
            "INSERT INTO sample_boxes(sample_id, position, class_id, x, y, w, h) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for (i, b) in current.unwrap_or_default().iter().enumerate() {
            ins.execute(params![sample, i as i64, b.class, b.x, b.y, b.w, b.h])?;
        }
    }
    Ok(())
}

impl Project {
    /// Appends one event and updates the derived state, committed before returning.
    /// Returns the event's uid.
    pub fn record(&mut self, ev: NewEvent) -> Result<String> {
        let mut uids = self.record_all(std::slice::from_ref(&ev))?;
        Ok(uids.pop().unwrap_or_default())
    }

    /// Appends events in one transaction (one event each: a bulk action stays auditable).
    pub fn record_all(&mut self, events: &[NewEvent]) -> Result<Vec<String>> {
        let known: HashMap<ClassId, bool> = self
            .classes()?
            .into_iter()
            .map(|c| (c.id, c.archived))
            .collect();
        for ev in events {
            for l in &ev.labels {
                match known.get(l) {
                    None => {
                        return Err(ProjectError::Invalid(format!("unknown class id {l}")).into());
                    }
                    Some(true) if ev.source == Source::Human => {
                        return Err(ProjectError::Invalid(format!(
                            "class id {l} is archived and cannot be assigned"
                        ))
                        .into());
                    }
                    _ => {}
                }
            }
            check_shape(self.task, ev).map_err(ProjectError::Invalid)?;
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let at = now_rfc3339();
        let mut uids = Vec::with_capacity(events.len());
        let mut touched = BTreeSet::new();
        for ev in events {
            uids.push(insert_event(&tx, ev, &at)?);
            touched.insert(ev.sample);
        }
        for s in touched {
            refresh_sample(&tx, s)?;
        }
        tx.commit()?;
        Ok(uids)
    }

    /// The boxes of the current label of a detect project's image (the reviewer's, or
    /// the one annotator's), in the annotator's order.
    pub fn current_boxes(&self, sample: SampleId) -> Result<Vec<BoundingBox>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT class_id, x, y, w, h FROM sample_boxes WHERE sample_id = ?1 ORDER BY position",
        )?;
        let rows = stmt
            .query_map([sample], |r| {
                Ok(BoundingBox::new(
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// The final boxes of every labeled image of a detect project under `policy` (see
    /// [`boxes::final_boxes`]); images whose annotators disagree are absent.
    pub fn final_boxes(
        &self,
        policy: super::ConsensusPolicy,
    ) -> Result<HashMap<SampleId, Vec<BoundingBox>>> {
        let mut stmt = self.conn.prepare(
            "SELECT st.sample_id, st.review_boxes, a.boxes FROM sample_state st \
             LEFT JOIN annotations a ON a.sample_id = st.sample_id AND a.state = 'labeled' \
             WHERE st.status = 'labeled' ORDER BY st.sample_id",
        )?;
        let mut rows = stmt.query([])?;
        /// One image's rows so far: the reviewer's boxes and each annotator's.
        struct Image {
            id: SampleId,
            review: Option<Vec<BoundingBox>>,
            labeled: Vec<Vec<BoundingBox>>,
        }
        let mut out = HashMap::new();
        let mut group: Option<Image> = None;
        let settle = |g: Option<Image>, out: &mut HashMap<SampleId, Vec<BoundingBox>>| {
            if let Some(g) = g {
                let sets: Vec<&[BoundingBox]> = g.labeled.iter().map(Vec::as_slice).collect();
                if let Some(b) = boxes::final_boxes(g.review.as_deref(), &sets, policy) {
                    out.insert(g.id, b);
                }
            }
        };
        let parse = |json: Option<String>, table, id: SampleId| {
            json.map(|b| boxes::from_json(&b, table, format!("sample {id}")))
                .transpose()
        };
        while let Some(r) = rows.next()? {
            let id: SampleId = r.get(0)?;
            if group.as_ref().map(|g| g.id) != Some(id) {
                settle(group.take(), &mut out);
                group = Some(Image {
                    id,
                    review: parse(r.get(1)?, "sample_state", id)?,
                    labeled: Vec::new(),
                });
            }
            if let (Some(g), Some(b)) = (group.as_mut(), parse(r.get(2)?, "annotations", id)?) {
                g.labeled.push(b);
            }
        }
        settle(group, &mut out);
        Ok(out)
    }

    /// The most recent decision of `annotator` that is not yet undone.
    pub fn last_undoable(&self, annotator: &str) -> Result<Option<(String, SampleId)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT e.uid, e.sample_id FROM events e WHERE e.annotator = ?1 \
             AND e.kind NOT IN ('undo', 'suggest') \
             AND NOT EXISTS (SELECT 1 FROM events u WHERE u.target = e.uid AND u.kind = 'undo') \
             ORDER BY e.id DESC LIMIT 1",
        )?;
        Ok(stmt
            .query_row([annotator], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    /// Undoes `annotator`'s most recent decision that is still in force, returning the
    /// sample it was about; `None` when there is nothing left to undo.
    pub fn undo_last(&mut self, annotator: &str) -> Result<Option<SampleId>> {
        let Some((uid, sample)) = self.last_undoable(annotator)? else {
            return Ok(None);
        };
        let mut ev = NewEvent::new(sample, annotator, EventKind::Undo);
        ev.target = Some(uid);
        self.record(ev)?;
        Ok(Some(sample))
    }

    /// Each annotator's current decision on `sample`.
    pub fn decisions(&self, sample: SampleId) -> Result<Vec<Decision>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT annotator, state, labels, event_uid, at, spent_ms, boxes FROM annotations \
             WHERE sample_id = ?1 ORDER BY annotator",
        )?;
        let rows = stmt
            .query_map([sample], |r| {
                let annotator: String = r.get(0)?;
                let row = format!("sample {sample}, annotator {annotator}");
                Ok(Decision {
                    status: stored::get(r, 1, "annotations", &row)?,
                    labels: stored::labels(&r.get::<_, String>(2)?, "annotations", &row)?,
                    event_uid: r.get(3)?,
                    at: r.get(4)?,
                    spent_ms: r.get::<_, Option<i64>>(5)?.map(|m| m as u64),
                    boxes: r
                        .get::<_, Option<String>>(6)?
                        .map(|b| boxes::from_json(&b, "annotations", &row))
                        .transpose()?,
                    annotator,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(stored::lift)?;
        Ok(rows)
    }

    /// `annotator`'s current decision on `sample`, if any.
    pub fn decision_of(&self, sample: SampleId, annotator: &str) -> Result<Option<Decision>> {
        Ok(self
            .decisions(sample)?
            .into_iter()
            .find(|d| d.annotator == annotator))
    }

    /// The sample's derived status.
    pub fn sample_status(&self, sample: SampleId) -> Result<SampleStatus> {
        let row = format!("sample {sample}");
        let s: Option<SampleStatus> = self
            .conn
            .prepare_cached("SELECT status FROM sample_state WHERE sample_id = ?1")?
            .query_row([sample], |r| stored::get(r, 0, "sample_state", &row))
            .optional()
            .map_err(stored::lift)?;
        Ok(s.unwrap_or(SampleStatus::Unlabeled))
    }

    pub fn is_flagged(&self, sample: SampleId) -> Result<bool> {
        let f: Option<bool> = self
            .conn
            .prepare_cached("SELECT flagged FROM sample_state WHERE sample_id = ?1")?
            .query_row([sample], |r| r.get(0))
            .optional()?;
        Ok(f.unwrap_or(false))
    }

    /// The reviewer's decision on `sample`: (labels, reviewer).
    pub fn review_decision(&self, sample: SampleId) -> Result<Option<(Vec<ClassId>, String)>> {
        let row: Option<(Option<String>, Option<String>)> = self
            .conn
            .prepare_cached(
                "SELECT review_labels, reviewer FROM sample_state WHERE sample_id = ?1",
            )?
            .query_row([sample], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(match row {
            Some((Some(labels), Some(who))) => Some((
                stored::labels(&labels, "sample_state", format!("sample {sample}"))?,
                who,
            )),
            _ => None,
        })
    }

    /// The classes in the sample's current label (review decision, else the union of its
    /// annotators' labels).
    pub fn current_classes(&self, sample: SampleId) -> Result<Vec<ClassId>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT class_id FROM sample_classes WHERE sample_id = ?1 ORDER BY class_id",
        )?;
        let ids = stmt
            .query_map([sample], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<ClassId>>>()?;
        Ok(ids)
    }

    /// The most recent model suggestion for `sample` that has not been undone:
    /// (labels, score).
    pub fn suggestion(&self, sample: SampleId) -> Result<Option<(Vec<ClassId>, Option<f64>)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT labels, score FROM events e WHERE e.sample_id = ?1 AND e.kind = 'suggest' \
             AND NOT EXISTS (SELECT 1 FROM events u WHERE u.target = e.uid AND u.kind = 'undo') \
             ORDER BY e.at DESC, e.uid DESC LIMIT 1",
        )?;
        let row = format!("suggestion for sample {sample}");
        stmt.query_row([sample], |r| {
            Ok((
                stored::labels(&r.get::<_, String>(0)?, "events", &row)?,
                r.get(1)?,
            ))
        })
        .optional()
        .map_err(stored::lift)
    }

    /// The boxes of the most recent model suggestion for a detect project's `sample` that
    /// has not been undone.
    pub fn suggested_boxes(&self, sample: SampleId) -> Result<Option<Vec<BoundingBox>>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT boxes FROM events e WHERE e.sample_id = ?1 AND e.kind = 'suggest' \
             AND NOT EXISTS (SELECT 1 FROM events u WHERE u.target = e.uid AND u.kind = 'undo') \
             ORDER BY e.at DESC, e.uid DESC LIMIT 1",
        )?;
        let row = format!("suggestion for sample {sample}");
        let json: Option<Option<String>> = stmt.query_row([sample], |r| r.get(0)).optional()?;
        Ok(json
            .flatten()
            .map(|b| boxes::from_json(&b, "events", &row))
            .transpose()?)
    }

    /// The event log, for one sample or (with `None`) all, in order.
    pub fn history(&self, sample: Option<SampleId>) -> Result<Vec<Event>> {
        let names: HashMap<ClassId, String> = self
            .classes()?
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect();
        // One statement each: a sample's history is read from the index of its events,
        // already in order (an `?1 IS NULL OR` condition would read the whole log).
        let select = "SELECT e.uid, e.sample_id, s.name, e.annotator, e.kind, e.labels, \
                      e.target, e.note, e.score, e.source, e.at, e.spent_ms, \
                      EXISTS (SELECT 1 FROM events u WHERE u.target = e.uid AND u.kind = 'undo'), \
                      e.boxes \
                      FROM events e JOIN samples s ON s.id = e.sample_id";
        let sql = match sample {
            Some(_) => format!("{select} WHERE e.sample_id = ?1 ORDER BY e.at, e.uid"),
            None => format!("{select} WHERE ?1 IS NULL ORDER BY e.at, e.uid"),
        };
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map([sample], |r| {
                let uid: String = r.get(0)?;
                let row = format!("event {uid}");
                let label_ids = stored::labels(&r.get::<_, String>(5)?, "events", &row)?;
                Ok(Event {
                    sample_id: r.get(1)?,
                    sample: r.get(2)?,
                    annotator: r.get(3)?,
                    kind: stored::get(r, 4, "events", &row)?,
                    labels: label_ids
                        .iter()
                        .map(|id| names.get(id).cloned().unwrap_or_else(|| format!("#{id}")))
                        .collect(),
                    label_ids,
                    target: r.get(6)?,
                    note: r.get(7)?,
                    score: r.get(8)?,
                    source: stored::get(r, 9, "events", &row)?,
                    at: r.get(10)?,
                    spent_ms: r.get::<_, Option<i64>>(11)?.map(|m| m as u64),
                    undone: r.get(12)?,
                    boxes: r
                        .get::<_, Option<String>>(13)?
                        .map(|b| boxes::from_json(&b, "events", &row))
                        .transpose()?,
                    uid,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(stored::lift)?;
        Ok(rows)
    }

    /// Recomputes the derived state of every sample from the log (after a migration or a
    /// merge touching many samples).
    pub fn rebuild_state(&mut self) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(
            "DELETE FROM annotations; DELETE FROM sample_state; DELETE FROM sample_classes; \
             DELETE FROM sent_back_labels; DELETE FROM sample_boxes;",
        )?;
        let ids: Vec<SampleId> = tx
            .prepare("SELECT DISTINCT sample_id FROM events")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for id in ids {
            refresh_sample(&tx, id)?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// Why an event does not fit the project's task, if it does not: the rule for what a
/// decision holds, in one place (recording and merging both apply it).
pub(super) fn check_shape(task: TaskKind, ev: &NewEvent) -> std::result::Result<(), String> {
    let decision = matches!(
        ev.kind,
        EventKind::Label | EventKind::Review | EventKind::Suggest
    );
    match (&ev.boxes, task) {
        (Some(_), _) if !decision => Err(format!("a {} event holds no boxes", ev.kind.as_str())),
        (Some(_), TaskKind::SingleLabel | TaskKind::MultiLabel) => {
            Err("this is a classification project: its decisions are classes, not boxes".into())
        }
        (None, TaskKind::Detect) if decision => {
            Err("this is a detect project: a label, review or suggestion is a set of boxes".into())
        }
        (Some(bs), TaskKind::Detect) => {
            if let Some((i, why)) = bs
                .iter()
                .enumerate()
                .find_map(|(i, b)| b.unstorable().map(|w| (i, w)))
            {
                return Err(format!("box {} cannot be stored: {why}", i + 1));
            }
            if ev.labels != boxes::classes_of(bs) {
                return Err("a detect decision's classes are those of its boxes".into());
            }
            Ok(())
        }
        (None, _) => {
            let labeling = matches!(ev.kind, EventKind::Label | EventKind::Review);
            if task == TaskKind::SingleLabel && labeling && ev.labels.len() > 1 {
                return Err("this is a single-label project: give exactly one class".into());
            }
            if labeling && ev.labels.is_empty() {
                return Err("a label event needs at least one class".into());
            }
            Ok(())
        }
    }
}
