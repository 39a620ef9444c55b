//! What a project file keeps of its link to a team hub (see `crate::hub`): the hub it is a
//! replica of, which events the hub already holds, and the raw reads and writes that
//! publishing, joining and syncing need. The hub speaks the project's own ids: a replica
//! is made from the hub with the publisher's sample and class ids.

use std::collections::BTreeSet;

use rusqlite::{OptionalExtension, params};

use super::events::{NewEvent, check_shape, insert_event_with_uid, refresh_sample};
use super::samples::{SAMPLE_COLUMNS, Sample, row_to_sample};
use super::stored;
use super::{BoundingBox, ClassId, Project, ProjectError, Result, SampleId};

/// The hub a project is linked to (no password: those never enter a project file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubLink {
    /// The hub's URL without a password.
    pub url: String,
    /// The project's name on the hub.
    pub name: String,
    /// The project's id on the hub.
    pub project: i64,
    /// The hub's sequence number of the last event pulled.
    pub pulled: i64,
    /// When the last sync ended (RFC 3339), if one has.
    pub last_sync: Option<String>,
}

/// The condition on event `e` of not being on the hub: after the mark below which every
/// event is (see [`Project::hub_advance_pushed`]) and not among the uids it holds.
const UNPUSHED: &str = "e.id > coalesce((SELECT pushed_to FROM hub_link), 0) \
     AND NOT EXISTS (SELECT 1 FROM hub_events h WHERE h.uid = e.uid)";

/// An event as it travels between a replica and the hub: its global id and time, and what
/// it says.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedEvent {
    pub uid: String,
    pub at: String,
    pub event: NewEvent,
}

impl Project {
    /// The hub this project is a replica of, if it is linked.
    pub fn hub_link(&self) -> Result<Option<HubLink>> {
        Ok(self
            .conn
            .query_row(
                "SELECT url, name, project, pulled, last_sync FROM hub_link",
                [],
                |r| {
                    Ok(HubLink {
                        url: r.get(0)?,
                        name: r.get(1)?,
                        project: r.get(2)?,
                        pulled: r.get(3)?,
                        last_sync: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    /// Links the project to a hub project (replacing an earlier link).
    pub fn set_hub_link(&self, link: &HubLink) -> Result<()> {
        self.conn.execute(
            "INSERT INTO hub_link(one, url, name, project, pulled, last_sync) \
             VALUES (1, ?1, ?2, ?3, ?4, ?5) ON CONFLICT(one) DO UPDATE SET url = excluded.url, \
             name = excluded.name, project = excluded.project, pulled = excluded.pulled, \
             last_sync = excluded.last_sync",
            params![
                link.url,
                link.name,
                link.project,
                link.pulled,
                link.last_sync
            ],
        )?;
        Ok(())
    }

    /// Notes that a sync ended now.
    pub fn hub_synced(&self, at: &str) -> Result<()> {
        self.conn
            .execute("UPDATE hub_link SET last_sync = ?1", [at])?;
        Ok(())
    }

    /// How many of this replica's events the hub does not hold yet.
    pub fn hub_pending(&self) -> Result<u64> {
        let n: i64 = self.conn.query_row(
            &format!("SELECT count(*) FROM events e WHERE {UNPUSHED}"),
            [],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// How many of the events the hub does not hold it refused when they were last offered
    /// (a part of [`Project::hub_pending`]).
    pub fn hub_refused_count(&self) -> Result<u64> {
        let n: i64 = self.conn.query_row(
            &format!(
                "SELECT count(*) FROM events e JOIN hub_refused r ON r.uid = e.uid \
                 WHERE {UNPUSHED}"
            ),
            [],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// Why the hub refused the first of the events it refused (oldest first), if any did.
    pub fn hub_first_refusal(&self) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT r.reason FROM events e JOIN hub_refused r ON r.uid = e.uid \
                     WHERE {UNPUSHED} ORDER BY e.id LIMIT 1"
                ),
                [],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Notes that the hub refused the event `uid`, and why.
    pub fn hub_note_refused(&self, uid: &str, reason: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO hub_refused(uid, reason) VALUES (?1, ?2) \
             ON CONFLICT(uid) DO UPDATE SET reason = excluded.reason",
            [uid, reason],
        )?;
        Ok(())
    }

    /// Up to `limit` of the events the hub does not hold yet, oldest first; with
    /// `refused` false, not those it refused before (see [`Project::hub_note_refused`]).
    pub fn hub_unpushed(&self, limit: usize, refused: bool) -> Result<Vec<LoggedEvent>> {
        let skip = if refused {
            ""
        } else {
            " AND NOT EXISTS (SELECT 1 FROM hub_refused r WHERE r.uid = e.uid)"
        };
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events e WHERE {UNPUSHED}{skip} ORDER BY e.id LIMIT ?1"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt
            .query_map([limit as i64], row_to_logged)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// How many events the log holds (those [`Project::each_logged_event`] visits).
    pub fn event_count(&self) -> Result<u64> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// Every event of the log, oldest first, to `f` (publishing).
    pub fn each_logged_event(
        &self,
        mut f: impl FnMut(LoggedEvent) -> anyhow::Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {EVENT_COLUMNS} FROM events e ORDER BY e.id"
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            f(row_to_logged(r)?)?;
        }
        Ok(())
    }

    /// Moves the mark below which every event is on the hub up to just before the
    /// oldest one that is not (or past the last event), so that later syncs look only
    /// after it. Run at the end of a sync.
    pub fn hub_advance_pushed(&self) -> Result<()> {
        self.conn.execute(
            &format!(
                "UPDATE hub_link SET pushed_to = coalesce( \
                   (SELECT min(e.id) - 1 FROM events e WHERE {UNPUSHED}), \
                   (SELECT max(id) FROM events), pushed_to)"
            ),
            [],
        )?;
        Ok(())
    }

    /// Notes that the hub holds these events.
    pub fn hub_mark_held(&mut self, uids: &[String]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut ins = tx.prepare_cached("INSERT OR IGNORE INTO hub_events(uid) VALUES (?1)")?;
            let mut taken = tx.prepare_cached("DELETE FROM hub_refused WHERE uid = ?1")?;
            for uid in uids {
                ins.execute([uid])?;
                taken.execute([uid])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The highest sample id, 0 in a project without samples.
    pub fn max_sample_id(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT coalesce(max(id), 0) FROM samples", [], |r| r.get(0))?)
    }

    /// The sample holding content of hash `hash`, if one does.
    pub fn sample_with_hash(&self, hash: &str) -> Result<Option<SampleId>> {
        Ok(self
            .conn
            .prepare_cached("SELECT id FROM samples WHERE hash_key = ?1 AND hash = ?2 LIMIT 1")?
            .query_row(params![super::samples::hash_key(hash), hash], |r| r.get(0))
            .optional()?)
    }

    /// Records each name as another name of its sample (a duplicate of its content), in
    /// one transaction. A name that names a sample is not another one's other name (as an
    /// import has it): such an alias is passed over.
    pub fn add_aliases(&mut self, aliases: &[(String, SampleId)]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut add = tx.prepare_cached(
                "INSERT INTO sample_aliases(name, sample_id) SELECT ?1, ?2 \
                 WHERE NOT EXISTS (SELECT 1 FROM samples WHERE name = ?1) \
                 ON CONFLICT(name) DO UPDATE SET sample_id = excluded.sample_id",
            )?;
            for (name, id) in aliases {
                add.execute(params![name, id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every sample, in id order, to `f` (publishing).
    pub fn each_sample(&self, mut f: impl FnMut(Sample) -> anyhow::Result<()>) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {SAMPLE_COLUMNS} FROM samples ORDER BY id"))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            f(row_to_sample(r)?)?;
        }
        Ok(())
    }

    /// Writes samples exactly as given, ids included (samples from a hub): no duplicate
    /// detection, which the import that put them on the hub has done. An id already here
    /// is skipped (another process of this replica pulled it first); a name taken by
    /// another sample is refused. A sample's name is no longer another sample's other
    /// name (as an import into the project itself ends it).
    pub fn insert_replica_samples(&mut self, samples: &[Sample]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut unalias = tx.prepare_cached("DELETE FROM sample_aliases WHERE name = ?1")?;
            for s in samples {
                unalias.execute([&s.name])?;
            }
            let mut ins = tx.prepare_cached(
                "INSERT INTO samples(id, kind, name, path, row, hash, hash_key, bytes, width, \
                 height, format, text, features, imported_at, sha256) VALUES (?1, ?2, ?3, ?4, \
                 ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) ON CONFLICT(id) DO NOTHING",
            )?;
            for s in samples {
                ins.execute(params![
                    s.id,
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
                    s.features
                        .as_ref()
                        .map(|f| serde_json::Value::Object(f.clone()).to_string()),
                    s.imported_at,
                    s.sha256
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Adds events that came from the hub, skipping those already here, and notes that the
    /// hub holds them; returns how many were new. Every event is checked as `merge` checks
    /// a file's (its sample, classes, boxes and shape) and one that does not fit refuses the
    /// whole batch, naming it, before anything is written.
    pub fn add_logged_events(&mut self, events: &[LoggedEvent]) -> Result<u64> {
        let classes: BTreeSet<ClassId> = self.classes()?.into_iter().map(|c| c.id).collect();
        let task = self.task;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut added = 0u64;
        let mut touched = BTreeSet::new();
        {
            let mut exists = tx.prepare_cached("SELECT 1 FROM events WHERE uid = ?1")?;
            let mut sample_exists = tx.prepare_cached("SELECT 1 FROM samples WHERE id = ?1")?;
            let mut held =
                tx.prepare_cached("INSERT OR IGNORE INTO hub_events(uid) VALUES (?1)")?;
            for e in events {
                held.execute([&e.uid])?;
                if exists.exists([&e.uid])? {
                    continue;
                }
                let bad = |why: String| -> anyhow::Error {
                    ProjectError::Invalid(format!(
                        "the hub's event {} cannot be added: {why}",
                        e.uid
                    ))
                    .into()
                };
                let ev = &e.event;
                if !sample_exists.exists([ev.sample])? {
                    return Err(bad(format!("there is no sample {}", ev.sample)));
                }
                let box_classes = ev.boxes.iter().flatten().map(|b: &BoundingBox| b.class);
                if let Some(c) = ev
                    .labels
                    .iter()
                    .copied()
                    .chain(box_classes)
                    .find(|c| !classes.contains(c))
                {
                    return Err(bad(format!("there is no class {c}")));
                }
                if ev.annotator.trim().is_empty() {
                    return Err(bad("it names no annotator".into()));
                }
                if chrono::DateTime::parse_from_rfc3339(&e.at).is_err() {
                    return Err(bad(format!("`{}` is not a time", e.at)));
                }
                check_shape(task, ev).map_err(bad)?;
                insert_event_with_uid(&tx, ev, &e.uid, &e.at)?;
                touched.insert(ev.sample);
                added += 1;
            }
        }
        for s in touched {
            refresh_sample(&tx, s)?;
        }
        tx.commit()?;
        Ok(added)
    }
}

const EVENT_COLUMNS: &str = "e.uid, e.at, e.sample_id, e.annotator, e.kind, e.labels, e.target, \
                             e.note, e.score, e.source, e.spent_ms, e.boxes";

fn row_to_logged(r: &rusqlite::Row<'_>) -> rusqlite::Result<LoggedEvent> {
    let uid: String = r.get(0)?;
    let row = format!("event {uid}");
    let labels = stored::labels(&r.get::<_, String>(5)?, "events", &row)?;
    let boxes = r
        .get::<_, Option<String>>(11)?
        .map(|b| super::boxes::from_json(&b, "events", &row))
        .transpose()?;
    Ok(LoggedEvent {
        at: r.get(1)?,
        event: NewEvent {
            sample: r.get::<_, SampleId>(2)?,
            annotator: r.get(3)?,
            kind: stored::get(r, 4, "events", &row)?,
            labels,
            target: r.get(6)?,
            note: r.get(7)?,
            score: r.get(8)?,
            source: stored::get(r, 9, "events", &row)?,
            spent_ms: r.get::<_, Option<i64>>(10)?.map(|m| m.max(0) as u64),
            boxes,
        },
        uid,
    })
}

impl Project {
    /// Takes in the class schema of the hub project this replica follows: classes the hub
    /// has and this replica lacks are added with their ids (with the hub's hotkey when no
    /// class here uses it, else the first free default one), and renames, moves and
    /// archivings are followed. Hotkeys and colours of classes known already stay this
    /// annotator's own. Whether anything changed.
    pub fn adopt_classes(&mut self, hub: &[super::Class]) -> Result<bool> {
        let mut local = self.classes()?;
        let changed: Vec<&super::Class> = hub
            .iter()
            .filter(|h| {
                local.iter().find(|l| l.id == h.id).is_none_or(|l| {
                    l.name != h.name || l.position != h.position || l.archived != h.archived
                })
            })
            .collect();
        if changed.is_empty() {
            return Ok(false);
        }
        let tx = self.conn.transaction()?;
        // Names are unique: renamed classes (two may swap names) go through a placeholder.
        for h in &changed {
            tx.execute(
                "UPDATE classes SET name = char(0) || id WHERE id = ?1 AND name <> ?2",
                params![h.id, h.name],
            )?;
        }
        for h in changed {
            match local.iter().position(|l| l.id == h.id) {
                Some(i) => {
                    let key = if h.archived {
                        None
                    } else {
                        local[i].key.clone()
                    };
                    tx.execute(
                        "UPDATE classes SET name = ?2, position = ?3, archived = ?4, \
                         hotkey = ?5 WHERE id = ?1",
                        params![h.id, h.name, h.position, h.archived, key],
                    )?;
                    local[i].key = key;
                }
                None => {
                    let free = |k: &str| !local.iter().any(|l| l.key.as_deref() == Some(k));
                    let key = match &h.key {
                        _ if h.archived => None,
                        Some(k) if free(k) => Some(k.clone()),
                        _ => super::classes::free_default_key(&local),
                    };
                    tx.execute(
                        "INSERT INTO classes(id, name, hotkey, color, position, archived) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![h.id, h.name, key, h.color, h.position, h.archived],
                    )?;
                    local.push(super::Class { key, ..h.clone() });
                }
            }
        }
        tx.commit()?;
        Ok(true)
    }

    /// Gives the classes (matched by id) the hotkeys, colours, positions and archived
    /// flags of `classes` (a replica takes its hub project's).
    pub fn restore_classes(&mut self, classes: &[super::Class]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut up = tx.prepare_cached(
                "UPDATE classes SET hotkey = ?2, color = ?3, position = ?4, archived = ?5 \
                 WHERE id = ?1",
            )?;
            for c in classes {
                up.execute(params![c.id, c.key, c.color, c.position, c.archived])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}
