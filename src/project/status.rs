//! Project-wide counts, answered from indexes so that they stay fast at a million samples.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ClassId, Project, Result};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassCount {
    pub name: String,
    pub key: Option<String>,
    /// Samples whose current label includes this class; in a detect project, the class's
    /// current boxes.
    pub count: u64,
    pub archived: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnnotatorCount {
    pub name: String,
    /// Samples this annotator currently has a label on.
    pub labels: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// `classify` or `detect`.
    pub task: String,
    /// Whether a classification sample may have several classes.
    pub multi_label: bool,
    /// A detect project's current boxes over all images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boxes: Option<u64>,
    pub samples: u64,
    /// Samples with at least one current label (or a reviewer's decision), not excluded.
    pub labeled: u64,
    pub unlabeled: u64,
    pub skipped: u64,
    pub excluded: u64,
    pub flagged: u64,
    pub kinds: BTreeMap<String, u64>,
    pub classes: Vec<ClassCount>,
    pub annotators: Vec<AnnotatorCount>,
    /// A replica of a team hub: which, and how far behind it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub: Option<HubStatus>,
}

/// The hub part of [`Status`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubStatus {
    /// The hub's URL, without a password.
    pub url: String,
    /// The project's name on the hub.
    pub name: String,
    /// Local events not yet on the hub.
    pub pending: u64,
    /// Of `pending`, the events the hub refused when they were offered (kept here). Not in
    /// `status --json`, whose `hub` shape is fixed: the text status shows it.
    #[serde(skip)]
    pub refused: u64,
    /// When the last sync ended (RFC 3339), `null` before the first.
    pub last_sync: Option<String>,
}

impl Project {
    pub fn status(&self) -> Result<Status> {
        let conn = &self.conn;
        let mut kinds: BTreeMap<String, u64> =
            [("image".to_string(), 0), ("text".to_string(), 0)].into();
        let mut stmt = conn.prepare_cached("SELECT kind, count(*) FROM samples GROUP BY kind")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (k, n) = row?;
            kinds.insert(k, n as u64);
        }
        let samples: u64 = kinds.values().sum();

        let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
        let mut stmt =
            conn.prepare_cached("SELECT status, count(*) FROM sample_state GROUP BY status")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (k, n) = row?;
            by_status.insert(k, n as u64);
        }
        let get = |k: &str| by_status.get(k).copied().unwrap_or(0);
        let (labeled, skipped, excluded) = (get("labeled"), get("skipped"), get("excluded"));
        let flagged: i64 = conn.query_row(
            "SELECT count(*) FROM sample_state WHERE flagged = 1",
            [],
            |r| r.get(0),
        )?;

        let mut counts: BTreeMap<ClassId, u64> = BTreeMap::new();
        let detect = self.task.is_detect();
        let mut stmt = conn.prepare_cached(if detect {
            "SELECT class_id, count(*) FROM sample_boxes GROUP BY class_id"
        } else {
            "SELECT class_id, count(*) FROM sample_classes GROUP BY class_id"
        })?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, ClassId>(0)?, r.get::<_, i64>(1)?)))? {
            let (k, n) = row?;
            counts.insert(k, n as u64);
        }
        let classes = self
            .classes()?
            .into_iter()
            .map(|c| ClassCount {
                count: counts.get(&c.id).copied().unwrap_or(0),
                name: c.name,
                key: c.key,
                archived: c.archived,
            })
            .collect();

        let mut stmt = conn.prepare_cached(
            "SELECT annotator, count(*) FROM annotations WHERE state = 'labeled' \
             GROUP BY annotator ORDER BY annotator",
        )?;
        let annotators = stmt
            .query_map([], |r| {
                Ok(AnnotatorCount {
                    name: r.get(0)?,
                    labels: r.get::<_, i64>(1)? as u64,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;

        Ok(Status {
            task: self.task.family().into(),
            multi_label: self.task == super::TaskKind::MultiLabel,
            boxes: detect.then(|| counts.values().sum()),
            samples,
            labeled,
            unlabeled: samples.saturating_sub(labeled + skipped + excluded),
            skipped,
            excluded,
            flagged: flagged as u64,
            kinds,
            classes,
            annotators,
            hub: match self.hub_link()? {
                Some(link) => Some(HubStatus {
                    url: link.url,
                    name: link.name,
                    pending: self.hub_pending()?,
                    refused: self.hub_refused_count()?,
                    last_sync: link.last_sync,
                }),
                None => None,
            },
        })
    }

    /// How many samples `annotator` has a current decision on (label, skip or exclusion).
    pub fn decided_by(&self, annotator: &str) -> Result<u64> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM annotations WHERE annotator = ?1",
            [annotator],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// Up to `limit` samples with a review decision or a send-back (not undone), in
    /// import order.
    pub fn reviewed_samples(&self, limit: usize) -> Result<Vec<super::SampleId>> {
        let ids = self
            .conn
            .prepare_cached(
                "SELECT sample_id FROM sample_state \
                 WHERE review_labels IS NOT NULL OR sent_back = 1 ORDER BY sample_id LIMIT ?1",
            )?
            .query_map([limit as i64], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    /// Samples a reviewer sent back to the annotators (the send-back not undone).
    pub fn sent_back_samples(&self) -> Result<u64> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM sample_state WHERE sent_back = 1",
            [],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// Labeled samples per class: of every sample's current label, or with `own` of that
    /// annotator's own labels only (blind mode).
    pub fn class_counts(
        &self,
        own: Option<&str>,
    ) -> Result<std::collections::HashMap<super::ClassId, u64>> {
        let pair = |r: &rusqlite::Row<'_>| Ok((r.get::<_, ClassId>(0)?, r.get::<_, i64>(1)?));
        let rows: Vec<(ClassId, i64)> = match own {
            Some(annotator) => self
                .conn
                .prepare(
                    "SELECT j.value, count(*) FROM annotations an, json_each(an.labels) j \
                     WHERE an.annotator = ?1 AND an.state = ?2 GROUP BY j.value",
                )?
                .query_map(
                    rusqlite::params![annotator, super::SampleStatus::Labeled],
                    pair,
                )?
                .collect::<rusqlite::Result<_>>()?,
            None => self
                .conn
                .prepare("SELECT class_id, count(*) FROM sample_classes GROUP BY class_id")?
                .query_map([], pair)?
                .collect::<rusqlite::Result<_>>()?,
        };
        Ok(rows.into_iter().map(|(c, n)| (c, n as u64)).collect())
    }
}
