//! Samples: images referenced by path, and text/table rows stored in the project.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use strum::EnumIter;

use super::stored::{self, StoredEnum};
use super::{Project, Result, events::now_rfc3339};

pub use super::stored::SampleId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, EnumIter)]
#[serde(rename_all = "lowercase")]
pub enum SampleKind {
    Image,
    Text,
}

impl SampleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SampleKind::Image => "image",
            SampleKind::Text => "text",
        }
    }
}

/// Where a sample stands, derived from every annotator's current decision.
/// Excluded wins over labeled, labeled over skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, EnumIter)]
#[serde(rename_all = "lowercase")]
pub enum SampleStatus {
    Unlabeled,
    Labeled,
    Skipped,
    Excluded,
}

impl SampleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SampleStatus::Unlabeled => "unlabeled",
            SampleStatus::Labeled => "labeled",
            SampleStatus::Skipped => "skipped",
            SampleStatus::Excluded => "excluded",
        }
    }

    /// The status a user names (`labeled`, …), for filters on the command line.
    pub fn parse(s: &str) -> Option<SampleStatus> {
        <SampleStatus as StoredEnum>::from_stored(s)
    }
}

/// A sample about to be imported.
#[derive(Clone, Debug, PartialEq)]
pub struct NewSample {
    pub kind: SampleKind,
    /// Unique, user-visible identity (relative path, or a row's id / `file#row`).
    pub name: String,
    /// The stored path of the file (see [`Project::stored_path`]).
    pub path: String,
    /// 1-based data row number for table rows.
    pub row: Option<i64>,
    /// BLAKE3 of the content, hex.
    pub hash: String,
    /// SHA-256 of the content, when the import took it (image files).
    pub sha256: Option<[u8; 32]>,
    pub bytes: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Image format name in lower case (`jpeg`, `png`, …).
    pub format: Option<String>,
    /// The text shown to the annotator, for table rows.
    pub text: Option<String>,
    /// Other columns of a table row, with their JSON types.
    pub features: Option<serde_json::Map<String, serde_json::Value>>,
}

impl NewSample {
    /// An image file, as import records it: `path` is its stored path (see
    /// [`Project::stored_path`]) and its name, `hash` the BLAKE3 hex of its `bytes` bytes;
    /// `size` (width, height) and `format` are what its header says, when it has one.
    pub fn image(
        path: String,
        hash: String,
        bytes: u64,
        size: Option<(u32, u32)>,
        format: Option<String>,
    ) -> NewSample {
        NewSample {
            kind: SampleKind::Image,
            name: path.clone(),
            path,
            row: None,
            hash,
            sha256: None,
            bytes,
            width: size.map(|s| s.0),
            height: size.map(|s| s.1),
            format,
            text: None,
            features: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub id: SampleId,
    pub kind: SampleKind,
    pub name: String,
    pub path: String,
    pub row: Option<i64>,
    pub hash: String,
    /// SHA-256 of the content, when the import took it (see [`NewSample::sha256`]).
    #[serde(skip)]
    pub sha256: Option<[u8; 32]>,
    pub bytes: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub format: Option<String>,
    pub text: Option<String>,
    pub features: Option<serde_json::Map<String, serde_json::Value>>,
    pub imported_at: String,
}

pub(super) const SAMPLE_COLUMNS: &str = "id, kind, name, path, row, hash, bytes, width, height, format, text, features, imported_at, \
     sha256";

pub(super) fn row_to_sample(r: &rusqlite::Row<'_>) -> rusqlite::Result<Sample> {
    let id: SampleId = r.get(0)?;
    let row = format!("sample {id}");
    let features = stored::features(r.get(11)?, &row)?;
    Ok(Sample {
        id,
        kind: stored::get(r, 1, "samples", &row)?,
        name: r.get(2)?,
        path: r.get(3)?,
        row: r.get(4)?,
        hash: r.get(5)?,
        bytes: r.get::<_, i64>(6)? as u64,
        width: r.get(7)?,
        height: r.get(8)?,
        format: r.get(9)?,
        text: r.get(10)?,
        features,
        imported_at: r.get(12)?,
        sha256: r.get(13)?,
    })
}

/// What [`Project::insert_samples`] did with each sample, in input order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    /// A new sample.
    Added(SampleId),
    /// A sample of this name already exists (re-import): nothing changed.
    AlreadyPresent(SampleId),
    /// Same content as an existing sample under another name: not added.
    Duplicate(SampleId),
}

/// A filter over samples, for the grid, review queues and exports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SampleQuery {
    pub status: Option<SampleStatus>,
    pub flagged: Option<bool>,
    pub class: Option<super::ClassId>,
    pub annotator: Option<String>,
    /// Case-insensitive substring of the sample's name.
    pub name_contains: Option<String>,
    /// Only the samples with these names (e.g. those a validation finding lists).
    pub names: Option<Vec<String>>,
    /// Blind mode: status and class mean this annotator's own decision, and nothing of
    /// other annotators' decisions shows (in filters and in [`Project::sample_summaries`]).
    pub own_view: Option<String>,
}

impl SampleQuery {
    fn where_clause(&self) -> (String, Vec<rusqlite::types::Value>) {
        use rusqlite::types::Value;
        let mut conds: Vec<String> = Vec::new();
        let mut args: Vec<Value> = Vec::new();
        if let (Some(status), Some(me)) = (self.status, &self.own_view) {
            if status == SampleStatus::Unlabeled {
                conds.push(
                    "NOT EXISTS (SELECT 1 FROM annotations an WHERE an.sample_id = s.id \
                     AND an.annotator = ?)"
                        .into(),
                );
                args.push(Value::Text(me.clone()));
            } else {
                conds.push(
                    "EXISTS (SELECT 1 FROM annotations an WHERE an.sample_id = s.id \
                     AND an.annotator = ? AND an.state = ?)"
                        .into(),
                );
                args.push(Value::Text(me.clone()));
                args.push(Value::Text(status.as_str().into()));
            }
        } else if let Some(status) = self.status {
            if status == SampleStatus::Unlabeled {
                conds.push(
                    "NOT EXISTS (SELECT 1 FROM sample_state st WHERE st.sample_id = s.id \
                     AND st.status <> 'unlabeled')"
                        .into(),
                );
            } else {
                conds.push(
                    "EXISTS (SELECT 1 FROM sample_state st WHERE st.sample_id = s.id \
                     AND st.status = ?)"
                        .into(),
                );
                args.push(Value::Text(status.as_str().into()));
            }
        }
        if let Some(flagged) = self.flagged {
            let cond = "EXISTS (SELECT 1 FROM sample_state st WHERE st.sample_id = s.id \
                        AND st.flagged = 1)";
            conds.push(if flagged {
                cond.into()
            } else {
                format!("NOT {cond}")
            });
        }
        if let (Some(class), Some(me)) = (self.class, &self.own_view) {
            conds.push(
                "EXISTS (SELECT 1 FROM annotations an, json_each(an.labels) j \
                 WHERE an.sample_id = s.id AND an.annotator = ? AND an.state = 'labeled' \
                 AND j.value = ?)"
                    .into(),
            );
            args.push(Value::Text(me.clone()));
            args.push(Value::Integer(class.0));
        } else if let Some(class) = self.class {
            conds.push(
                "EXISTS (SELECT 1 FROM sample_classes sc WHERE sc.sample_id = s.id \
                 AND sc.class_id = ?)"
                    .into(),
            );
            args.push(Value::Integer(class.0));
        }
        if let (Some(a), Some(me)) = (&self.annotator, &self.own_view)
            && a != me
        {
            // Blind mode: another annotator's decisions are not to be found.
            conds.push("0".into());
        } else if let Some(a) = &self.annotator {
            conds.push(
                "EXISTS (SELECT 1 FROM annotations an WHERE an.sample_id = s.id \
                 AND an.annotator = ?)"
                    .into(),
            );
            args.push(Value::Text(a.clone()));
        }
        if let Some(text) = &self.name_contains
            && !text.is_empty()
        {
            conds.push("instr(lower(s.name), lower(?)) > 0".into());
            args.push(Value::Text(text.clone()));
        }
        if let Some(names) = &self.names {
            // One parameter per name: a finding lists at most a hundred.
            let marks = vec!["?"; names.len()].join(", ");
            conds.push(format!("s.name IN ({marks})"));
            args.extend(names.iter().map(|n| Value::Text(n.clone())));
        }
        let clause = if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        };
        (clause, args)
    }
}

impl Project {
    /// Refuses new samples in a replica of a team hub: its samples are the hub project's,
    /// the same on every replica (the hub would refuse every event on a sample only one
    /// replica has).
    pub fn refuse_new_samples_on_replica(&self) -> Result<()> {
        match self.hub_link()? {
            Some(link) => Err(super::ProjectError::Invalid(format!(
                "cannot add samples to `{}` itself: it is a replica of the hub project `{}`, \
                 whose samples are the same for everyone and are added on the hub (an import \
                 into the replica does that, for a hub admin)",
                self.path().display(),
                link.name
            ))
            .into()),
            None => Ok(()),
        }
    }

    /// Inserts a batch of samples in one transaction. A name already present is left as it
    /// is; content already present under another name is a duplicate and not added. Refused
    /// in a replica of a team hub.
    pub fn insert_samples(&mut self, batch: &[NewSample]) -> Result<Vec<InsertOutcome>> {
        self.refuse_new_samples_on_replica()?;
        // IMMEDIATE: the batch reads (name and hash lookups) before it writes; a deferred
        // transaction would fail with SQLITE_BUSY, not wait, when another process wrote
        // in between.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = insert_samples_tx(&tx, batch)?;
        tx.commit()?;
        Ok(out)
    }

    pub fn sample(&self, id: SampleId) -> Result<Option<Sample>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {SAMPLE_COLUMNS} FROM samples WHERE id = ?1"
        ))?;
        Ok(stmt.query_row([id], row_to_sample).optional()?)
    }

    /// The samples with the given ids, in the order given, with one query (ids that do not
    /// exist are left out).
    pub fn samples_by_ids(&self, ids: &[SampleId]) -> Result<Vec<Sample>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = ids
            .iter()
            .map(SampleId::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {SAMPLE_COLUMNS} FROM samples WHERE id IN ({list})"
        ))?;
        let mut found: std::collections::HashMap<SampleId, Sample> = stmt
            .query_map([], row_to_sample)?
            .map(|r| r.map(|s| (s.id, s)))
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    pub fn sample_by_name(&self, name: &str) -> Result<Option<Sample>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {SAMPLE_COLUMNS} FROM samples WHERE name = ?1"
        ))?;
        Ok(stmt.query_row([name], row_to_sample).optional()?)
    }

    /// Finds a sample by name, or else by stored path (`path` may be given relative to the
    /// current folder or absolute; it is turned into the stored form first).
    /// A name import found to be a duplicate of a sample (see [`Project::aliases_of`])
    /// finds that sample.
    pub fn find_sample(&self, name_or_path: &str) -> Result<Option<Sample>> {
        if let Some(s) = self.sample_by_name(name_or_path)? {
            return Ok(Some(s));
        }
        let stored = self.stored_path(std::path::Path::new(name_or_path));
        if let Some(s) = self.sample_by_name(&stored)? {
            return Ok(Some(s));
        }
        for name in [name_or_path, stored.as_str()] {
            if let Some(s) = self.sample_by_alias(name)? {
                return Ok(Some(s));
            }
        }
        Ok(None)
    }

    /// Every image sample, in id order.
    pub fn image_ids(&self) -> Result<Vec<SampleId>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM samples WHERE kind = 'image' ORDER BY id")?;
        let ids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    /// Every image sample's names: its own and its other names (see
    /// [`Project::aliases_of`]), for matching label files that name images by file name.
    pub fn image_names(&self) -> Result<Vec<(SampleId, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, name FROM samples WHERE kind = 'image' UNION ALL \
             SELECT a.sample_id, a.name FROM sample_aliases a \
             JOIN samples s ON s.id = a.sample_id WHERE s.kind = 'image'",
        )?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// The sample whose other name (a duplicate found at import) is `name`.
    pub fn sample_by_alias(&self, name: &str) -> Result<Option<Sample>> {
        let id: Option<SampleId> = self
            .conn
            .prepare_cached("SELECT sample_id FROM sample_aliases WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?;
        match id {
            Some(id) => self.sample(id),
            None => Ok(None),
        }
    }

    /// Every other name (see [`Project::aliases_of`]) with its sample.
    pub fn all_aliases(&self) -> Result<Vec<(String, SampleId)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name, sample_id FROM sample_aliases ORDER BY name")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// The other names of sample `id`: files or rows that import found to hold the same
    /// content, in name order.
    pub fn aliases_of(&self, id: SampleId) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name FROM sample_aliases WHERE sample_id = ?1 ORDER BY name")?;
        let names = stmt
            .query_map([id], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(names)
    }

    /// The content hash recorded for sample `id` at import.
    pub fn hash_of(&self, id: SampleId) -> Result<String> {
        Ok(self
            .conn
            .prepare_cached("SELECT hash FROM samples WHERE id = ?1")?
            .query_row([id], |r| r.get(0))?)
    }

    /// Whether sample `id` has a label imported from a file or folder names (so that
    /// importing a folder again does not label it twice).
    pub fn has_imported_label(&self, id: SampleId) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM events WHERE sample_id = ?1 AND kind = ?2 \
                 AND source = ?3)",
            )?
            .query_row(
                params![id, super::EventKind::Label, super::Source::Imported],
                |r| r.get(0),
            )?)
    }

    pub fn sample_count(&self) -> Result<u64> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM samples", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// Ids of the samples matching `query`, in import order, `limit` from `offset`.
    pub fn sample_ids(
        &self,
        query: &SampleQuery,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<SampleId>> {
        let (clause, mut args) = query.where_clause();
        args.push(rusqlite::types::Value::Integer(limit as i64));
        args.push(rusqlite::types::Value::Integer(offset as i64));
        let sql = format!("SELECT s.id FROM samples s {clause} ORDER BY s.id LIMIT ? OFFSET ?");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let ids = stmt
            .query_map(rusqlite::params_from_iter(args), |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<SampleId>>>()?;
        Ok(ids)
    }

    /// How many samples match `query`.
    pub fn count_samples(&self, query: &SampleQuery) -> Result<u64> {
        let (clause, args) = query.where_clause();
        let sql = format!("SELECT count(*) FROM samples s {clause}");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let n: i64 = stmt.query_row(rusqlite::params_from_iter(args), |r| r.get(0))?;
        Ok(n as u64)
    }

    /// The sample ids in import order, starting after `after` (exclusive), at most `limit`.
    pub fn sample_ids_after(&self, after: Option<SampleId>, limit: u64) -> Result<Vec<SampleId>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM samples WHERE id > ?1 ORDER BY id LIMIT ?2")?;
        let ids = stmt
            .query_map(
                params![after.map_or(i64::MIN, |a| a.0), limit as i64],
                |r| r.get(0),
            )?
            .collect::<rusqlite::Result<Vec<SampleId>>>()?;
        Ok(ids)
    }

    /// The sample before `id` in import order.
    pub fn previous_sample(&self, id: SampleId) -> Result<Option<SampleId>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id FROM samples WHERE id < ?1 ORDER BY id DESC LIMIT 1",
                [id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// 0-based position of `id` in import order.
    pub fn sample_position(&self, id: SampleId) -> Result<u64> {
        let n: i64 =
            self.conn
                .query_row("SELECT count(*) FROM samples WHERE id < ?1", [id], |r| {
                    r.get(0)
                })?;
        Ok(n as u64)
    }

    /// The next sample, after `after` in import order (wrapping around to the start), that
    /// `annotator` should label: one they have not decided on, that nobody has excluded, that
    /// no reviewer has decided, and that still needs more annotators: `overlap` of them, or
    /// `overlap + 1` for the samples the QA fraction selects (see [`qa_selected`]).
    /// Nothing about other annotators' labels is revealed, so blind mode holds.
    pub fn next_for_annotator(
        &self,
        annotator: &str,
        after: Option<SampleId>,
    ) -> Result<Option<SampleId>> {
        let queue = QueueRule::read(self)?;
        let sql = format!(
            "SELECT s.id, s.hash, coalesce(st.annotators, 0) FROM samples s \
             LEFT JOIN sample_state st ON st.sample_id = s.id \
             WHERE s.id > ?1 AND s.id <= ?2 AND {} ORDER BY s.id LIMIT 512",
            QueueRule::CANDIDATE
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let ranges = match after {
            Some(a) => vec![(a.0, i64::MAX), (i64::MIN, a.0)],
            None => vec![(i64::MIN, i64::MAX)],
        };
        for (mut from, to) in ranges {
            loop {
                let rows = stmt
                    .query_map(params![from, to, annotator, queue.most], |r| {
                        let id: SampleId = r.get(0)?;
                        let hash: String = r.get(1)?;
                        let annotators: i64 = r.get(2)?;
                        Ok((id, hash, annotators))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let Some(last) = rows.last().map(|r| r.0) else {
                    break;
                };
                if let Some((id, _, _)) = rows.iter().find(|(_, hash, n)| queue.wants(*n, hash)) {
                    return Ok(Some(*id));
                }
                from = last.0;
            }
        }
        Ok(None)
    }

    /// Whether `annotator` should label `id` now, by the rule of
    /// [`Project::next_for_annotator`] (a sample a team hub handed out may have been
    /// decided since, here or by the review).
    pub fn is_open_for(&self, annotator: &str, id: SampleId) -> Result<bool> {
        let queue = QueueRule::read(self)?;
        let sql = format!(
            "SELECT s.hash, coalesce(st.annotators, 0) FROM samples s \
             LEFT JOIN sample_state st ON st.sample_id = s.id \
             WHERE s.id = ?1 AND s.id = ?2 AND {}",
            QueueRule::CANDIDATE
        );
        let row = self
            .conn
            .prepare_cached(&sql)?
            .query_row(params![id, id, annotator, queue.most], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()?;
        Ok(row.is_some_and(|(hash, n)| queue.wants(n, &hash)))
    }

    /// Samples that share content with at least one other sample, grouped by hash.
    pub fn hashes_with_several_samples(&self) -> Result<Vec<(String, Vec<SampleId>)>> {
        let mut stmt = self.conn.prepare(
            "SELECT hash, group_concat(id) FROM samples WHERE hash_key IN \
             (SELECT hash_key FROM samples GROUP BY hash_key HAVING count(*) > 1) \
             GROUP BY hash HAVING count(*) > 1",
        )?;
        let rows = stmt
            .query_map([], |r| {
                let hash: String = r.get(0)?;
                let ids: String = r.get(1)?;
                Ok((hash, ids))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows
            .into_iter()
            .map(|(h, ids)| (h, ids.split(',').filter_map(|i| i.parse().ok()).collect()))
            .collect())
    }
}

/// Which samples the annotator queue offers: the overlap and QA fraction, read once.
struct QueueRule {
    overlap: i64,
    qa: f64,
    /// The most annotators a sample can still be offered with.
    most: i64,
}

impl QueueRule {
    /// The SQL condition on `samples s` and `sample_state st` (with `?3` the annotator and
    /// `?4` [`QueueRule::most`]) that a candidate meets; [`QueueRule::wants`] then decides.
    const CANDIDATE: &str = "NOT EXISTS (SELECT 1 FROM annotations a WHERE a.sample_id = s.id \
         AND a.annotator = ?3) AND (st.sample_id IS NULL OR (st.status <> 'excluded' \
         AND st.review_labels IS NULL AND st.annotators < ?4))";

    fn read(project: &Project) -> Result<QueueRule> {
        let settings = project.settings()?;
        let overlap = settings.overlap.max(1) as i64;
        let qa = if settings.qa_fraction.is_finite() {
            settings.qa_fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let most = if qa > 0.0 { overlap + 1 } else { overlap };
        Ok(QueueRule { overlap, qa, most })
    }

    /// A candidate with `annotators` so far and content `hash` needs another annotator:
    /// fewer than the overlap, or exactly the overlap when the QA fraction selects it
    /// (decided from the hash).
    fn wants(&self, annotators: i64, hash: &str) -> bool {
        annotators < self.overlap || qa_selected(hash, self.qa)
    }
}

/// The indexed key of a content hash (`samples.hash_key`): its first 64 bits, read from the
/// hex digits. A hash that is not hex (only written by hand) gets the first 64 bits of its
/// BLAKE3 instead. Lookups compare the key and then the whole hash, so a collision of keys
/// costs a comparison, never a wrong match.
pub fn hash_key(hash: &str) -> i64 {
    match hash.get(..16).and_then(|h| u64::from_str_radix(h, 16).ok()) {
        Some(bits) => bits as i64,
        None => {
            let digest = blake3::hash(hash.as_bytes());
            let mut first = [0u8; 8];
            first.copy_from_slice(&digest.as_bytes()[..8]);
            i64::from_be_bytes(first)
        }
    }
}

pub(super) fn insert_samples_tx(
    tx: &Transaction<'_>,
    batch: &[NewSample],
) -> Result<Vec<InsertOutcome>> {
    let now = now_rfc3339();
    let mut by_name = tx.prepare_cached("SELECT id FROM samples WHERE name = ?1")?;
    let mut by_hash =
        tx.prepare_cached("SELECT id FROM samples WHERE hash_key = ?1 AND hash = ?2 LIMIT 1")?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO samples(kind, name, path, row, hash, hash_key, bytes, width, height, \
         format, text, features, imported_at, sha256) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    let mut alias = tx.prepare_cached(
        "INSERT INTO sample_aliases(name, sample_id) VALUES (?1, ?2) \
         ON CONFLICT(name) DO UPDATE SET sample_id = excluded.sample_id",
    )?;
    let mut unalias = tx.prepare_cached("DELETE FROM sample_aliases WHERE name = ?1")?;
    let mut out = Vec::with_capacity(batch.len());
    for s in batch {
        if let Some(id) = by_name.query_row([&s.name], |r| r.get(0)).optional()? {
            out.push(InsertOutcome::AlreadyPresent(id));
            continue;
        }
        let key = hash_key(&s.hash);
        if let Some(id) = by_hash
            .query_row(params![key, s.hash], |r| r.get(0))
            .optional()?
        {
            alias.execute(params![s.name, id])?;
            out.push(InsertOutcome::Duplicate(id));
            continue;
        }
        unalias.execute([&s.name])?;
        let features = s.features.as_ref().map(serde_json::to_string).transpose()?;
        insert.execute(params![
            s.kind.as_str(),
            s.name,
            s.path,
            s.row,
            s.hash,
            key,
            s.bytes as i64,
            s.width,
            s.height,
            s.format,
            s.text,
            features,
            now,
            s.sha256
        ])?;
        out.push(InsertOutcome::Added(SampleId(tx.last_insert_rowid())));
    }
    Ok(out)
}

/// What the grid shows of one sample: enough to draw its cell without another query.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleSummary {
    pub id: SampleId,
    pub kind: SampleKind,
    pub name: String,
    /// The stored path (see [`Project::resolve`]).
    pub path: String,
    pub hash: String,
    /// The start of a text sample (at most [`SUMMARY_TEXT_CHARS`] characters).
    pub text: Option<String>,
    pub status: SampleStatus,
    pub flagged: bool,
    /// The classes of its current label, ascending by id.
    pub classes: Vec<super::ClassId>,
    /// A detect project's image: the boxes of its current label, in the stored pixel frame
    /// (empty for classification, for an image decided as "no objects" and while its
    /// annotators disagree).
    pub boxes: Vec<super::BoundingBox>,
    /// An image's width and height as stored in its file, when known.
    pub size: Option<[u32; 2]>,
}

/// How much of a text sample [`Project::sample_summaries`] returns.
pub const SUMMARY_TEXT_CHARS: i64 = 240;

impl Project {
    /// Summaries of the samples matching `query`, in import order, `limit` from `offset`:
    /// one query for a whole page of the grid.
    pub fn sample_summaries(
        &self,
        query: &SampleQuery,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<SampleSummary>> {
        use rusqlite::types::Value;
        let (clause, where_args) = query.where_clause();
        // Status and classes: the sample's, or in blind mode the viewer's own decision.
        let (status, classes, boxes, mut args) = match &query.own_view {
            Some(me) => (
                "(SELECT an.state FROM annotations an WHERE an.sample_id = p.id \
                  AND an.annotator = ?)",
                "(SELECT group_concat(j.value) FROM annotations an, json_each(an.labels) j \
                  WHERE an.sample_id = p.id AND an.annotator = ? AND an.state = 'labeled')",
                "(SELECT an.boxes FROM annotations an \
                  WHERE an.sample_id = p.id AND an.annotator = ? AND an.state = 'labeled')",
                vec![
                    Value::Text(me.clone()),
                    Value::Text(me.clone()),
                    Value::Text(me.clone()),
                ],
            ),
            None => (
                "st.status",
                "(SELECT group_concat(sc.class_id) FROM sample_classes sc \
                  WHERE sc.sample_id = p.id)",
                // In the JSON form of `boxes::to_json`; NULL when the image has none.
                "(SELECT nullif(json_group_array(json_object('class', b.class_id, 'x', b.x, \
                  'y', b.y, 'w', b.w, 'h', b.h)), '[]') FROM (SELECT * FROM sample_boxes sb \
                  WHERE sb.sample_id = p.id ORDER BY sb.position) b)",
                Vec::new(),
            ),
        };
        args.extend(where_args);
        args.push(Value::Integer(limit as i64));
        args.push(Value::Integer(offset as i64));
        let sql = format!(
            "SELECT p.id, p.kind, p.name, p.path, p.hash, substr(p.text, 1, {SUMMARY_TEXT_CHARS}), \
                    {status}, coalesce(st.flagged, 0), {classes}, {boxes}, p.width, p.height \
             FROM (SELECT s.* FROM samples s {clause} ORDER BY s.id LIMIT ? OFFSET ?) p \
             LEFT JOIN sample_state st ON st.sample_id = p.id ORDER BY p.id"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |r| {
                let id: SampleId = r.get(0)?;
                let row = format!("sample {id}");
                let status: Option<SampleStatus> = stored::get(r, 6, "sample_state", &row)?;
                let classes: Option<String> = r.get(8)?;
                let mut classes: Vec<super::ClassId> = classes
                    .map(|c| c.split(',').filter_map(|v| v.parse().ok()).collect())
                    .unwrap_or_default();
                classes.sort_unstable();
                let boxes = match r.get::<_, Option<String>>(9)? {
                    Some(json) => super::boxes::from_json(&json, "sample_boxes", &row)?,
                    None => Vec::new(),
                };
                let size = match (r.get::<_, Option<u32>>(10)?, r.get::<_, Option<u32>>(11)?) {
                    (Some(w), Some(h)) => Some([w, h]),
                    _ => None,
                };
                Ok(SampleSummary {
                    id,
                    kind: stored::get(r, 1, "samples", &row)?,
                    name: r.get(2)?,
                    path: r.get(3)?,
                    hash: r.get(4)?,
                    text: r.get(5)?,
                    status: status.unwrap_or(SampleStatus::Unlabeled),
                    flagged: r.get::<_, i64>(7)? != 0,
                    classes,
                    boxes,
                    size,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

/// Whether the QA fraction `fraction` selects the sample with content hash `hash` for one
/// annotator more than the overlap. The choice is a pure function of the content: a keyed
/// BLAKE3 of the hash, read as a number in [0, 2^64), is below `fraction`·2^64. It is keyed
/// so that it is independent of the export split, which is also derived from the hash.
pub fn qa_selected(hash: &str, fraction: f64) -> bool {
    qa_threshold(fraction).is_some_and(|t| qa_rank(hash) <= t)
}

/// The number [`qa_selected`] compares for content hash `hash`: the keyed BLAKE3's first
/// 64 bits, shifted into the signed range with their order kept (so that a database can
/// store and compare it as a `bigint`; the team hub does).
pub fn qa_rank(hash: &str) -> i64 {
    let mut h = blake3::Hasher::new_derive_key("keylabel qa-fraction sample selection v1");
    h.update(hash.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.finalize().as_bytes()[..8]);
    (u64::from_le_bytes(first) ^ (1 << 63)) as i64
}

/// The largest [`qa_rank`] the QA fraction `fraction` selects (`None`: it selects none):
/// a sample is selected when its 64 bits are below `fraction`·2^64.
pub fn qa_threshold(fraction: f64) -> Option<i64> {
    if fraction.is_nan() || fraction <= 0.0 {
        return None;
    }
    if fraction >= 1.0 {
        return Some(i64::MAX);
    }
    // fraction·2^64 < 2^64 here, so the product fits a u64 after truncation.
    let below = (fraction * 18_446_744_073_709_551_616.0) as u64;
    below.checked_sub(1).map(|last| (last ^ (1 << 63)) as i64)
}

/// What export planning needs of one sample: no file content and no text, so that a
/// million samples stream through in a few words each.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleToExport {
    pub id: SampleId,
    pub name: String,
    pub kind: SampleKind,
    pub hash: String,
    /// The image's size in its stored pixels, when known.
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub format: Option<String>,
    pub has_text: bool,
    /// A table row's typed columns (images have none).
    pub features: Option<serde_json::Map<String, serde_json::Value>>,
    pub status: SampleStatus,
    pub bytes: u64,
}

impl Project {
    /// Calls `f` with every sample, in name order (the order of an export's records),
    /// streamed from one query.
    pub fn each_sample_to_export(
        &self,
        mut f: impl FnMut(SampleToExport) -> anyhow::Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare(
            "SELECT s.id, s.name, s.kind, s.hash, s.height, s.width, \
             s.format, s.text IS NOT NULL, s.features, st.status, s.bytes FROM samples s \
             LEFT JOIN sample_state st ON st.sample_id = s.id ORDER BY s.name",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let id: SampleId = r.get(0)?;
            let row = format!("sample {id}");
            let kind: SampleKind = stored::get(r, 2, "samples", &row).map_err(stored::lift)?;
            let features = match kind {
                SampleKind::Text => stored::features(r.get(8)?, &row)?,
                SampleKind::Image => None,
            };
            let status: Option<SampleStatus> =
                stored::get(r, 9, "sample_state", &row).map_err(stored::lift)?;
            f(SampleToExport {
                id,
                name: r.get(1)?,
                kind,
                hash: r.get(3)?,
                height: r.get(4)?,
                width: r.get(5)?,
                format: r.get(6)?,
                has_text: r.get(7)?,
                features,
                status: status.unwrap_or(SampleStatus::Unlabeled),
                bytes: r.get::<_, i64>(10)?.max(0) as u64,
            })?;
        }
        Ok(())
    }
}
