//! One annotator labeling one project: the current sample, the decisions, the counts.
//!
//! No egui here: every decision goes through [`Project::record`], which commits before
//! it returns, and only then does the session move on, so a sample on screen is never
//! ahead of what is on disk. Counts are read once when the project opens and then updated
//! from the one sample a decision touched, never recounted over the whole project.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::project::{
    BoundingBox, Class, ClassId, Decision, EventKind, NewEvent, Project, Sample, SampleId, TaskKind,
};

/// How many samples ahead / behind of the current one are kept ready.
pub const AHEAD: usize = 8;
pub const BEHIND: usize = 2;

/// Counts read when the project opens (off the UI thread for a big project).
#[derive(Clone, Debug, Default)]
pub struct Counts {
    pub total: u64,
    pub done: u64,
    pub per_class: HashMap<ClassId, u64>,
}

impl Counts {
    /// The counts `annotator` sees. In blind mode a class's count is of their own labels
    /// only; otherwise of every sample's current label.
    pub fn read(project: &Project, annotator: &str) -> Result<Counts> {
        let blind = project.settings()?.is_blind();
        let per_class = project.class_counts(blind.then_some(annotator))?;
        Ok(Counts {
            total: project.sample_count()?,
            done: project.decided_by(annotator)?,
            per_class,
        })
    }
}

/// What the current sample looks like to this annotator.
#[derive(Clone, Debug)]
pub struct Current {
    pub sample: Sample,
    /// 0-based position in import order.
    pub position: u64,
    pub decision: Option<Decision>,
    /// The classes counted for the sample in the class bar: its current label (all
    /// annotators / review), or in blind mode this annotator's own.
    pub classes: Vec<ClassId>,
    pub suggestion: Option<(Vec<ClassId>, Option<f64>)>,
    /// Detect: the model's suggested boxes (stored frame), empty when there are none.
    pub suggested_boxes: Vec<BoundingBox>,
    pub flagged: bool,
    /// Other names of the sample: files or rows import found to hold the same content.
    pub aliases: Vec<String>,
}

pub struct Session {
    /// Blind mode (read when the session starts): the annotator sees only their own labels.
    pub blind: bool,
    pub project: Project,
    pub annotator: String,
    /// Classes offered for labeling, in schema order.
    pub classes: Vec<Class>,
    pub counts: Counts,
    pub current: Option<Current>,
    /// Multi-label: the classes toggled on for the current sample, not yet committed.
    pub pending: Vec<ClassId>,
    shown_at: Instant,
    started: Instant,
    /// Decisions made in this session (for the rate).
    pub session_decisions: u64,
    /// Samples around the current one, for prefetching (import order).
    window: BTreeMap<SampleId, Sample>,
    /// Set when the queue is empty: everything is decided.
    pub finished: bool,
    /// Table rows' columns in their file's order (see [`Session::columns_of`]).
    pub columns: Vec<String>,
    /// What undo took back in this session, latest last: redo records it again. A new
    /// decision empties it (it would redo onto a different state).
    redo: Vec<NewEvent>,
    /// On a replica of a team hub: the samples the hub handed this annotator, in queue
    /// order, with their rows (for prefetching). The next sample is taken from these while
    /// there are any; offline, the local queue decides.
    claimed: Vec<Sample>,
    /// Whether the hub has handed out claims in this session yet.
    claims_arrived: bool,
    /// On a replica that fetches its files from the hub: where they come from.
    pub files: super::loader::FileSource,
}

impl Session {
    /// Starts labeling at the first sample this annotator has not decided on (or the first
    /// sample when all are decided).
    pub fn new(project: Project, annotator: String, counts: Counts) -> Result<Session> {
        let project_columns = project.feature_columns()?;
        let start = project.next_for_annotator(&annotator, None)?;
        let files = crate::hub::files::HubFiles::of(&project)?;
        let mut s = Session {
            blind: project.settings()?.is_blind(),
            classes: project.active_classes()?,
            project,
            annotator,
            counts,
            current: None,
            pending: Vec::new(),
            shown_at: Instant::now(),
            started: Instant::now(),
            session_decisions: 0,
            window: BTreeMap::new(),
            finished: false,
            columns: project_columns,
            redo: Vec::new(),
            claimed: Vec::new(),
            claims_arrived: false,
            files,
        };
        match start {
            Some(id) => s.go_to(id)?,
            None => {
                s.finished = true;
                if let Some(first) = s.project.sample_ids_after(None, 1)?.first() {
                    s.go_to(*first)?;
                }
            }
        }
        Ok(s)
    }

    pub fn task(&self) -> TaskKind {
        self.project.task()
    }

    pub fn current_id(&self) -> Option<SampleId> {
        self.current.as_ref().map(|c| c.sample.id)
    }

    /// Catches up after samples were added to the project (an import from the window):
    /// counts and classes are read again, and a session that had nothing to show goes to
    /// the first sample to decide.
    pub fn after_import(&mut self) -> Result<()> {
        self.counts = Counts::read(&self.project, &self.annotator)?;
        self.reload_classes()?;
        self.columns = self.project.feature_columns()?;
        let next = self.project.next_for_annotator(&self.annotator, None)?;
        if let Some(next) = next
            && (self.current.is_none() || self.finished)
        {
            self.finished = false;
            self.go_to(next)?;
        }
        Ok(())
    }

    /// Re-reads the class list (after a hotkey change).
    pub fn reload_classes(&mut self) -> Result<()> {
        self.classes = self.project.active_classes()?;
        Ok(())
    }

    /// Re-reads the classes and the settings the session keeps (after a sync took in the
    /// hub project's changes).
    pub fn reload_project_rules(&mut self) -> Result<()> {
        self.reload_classes()?;
        self.blind = self.project.settings()?.is_blind();
        Ok(())
    }

    /// Shows `id`: reads its row and this annotator's decision (a handful of indexed
    /// look-ups) and restarts the time-on-item clock.
    pub fn go_to(&mut self, id: SampleId) -> Result<()> {
        let held = || self.claimed.iter().find(|s| s.id == id);
        let sample = match self.window.get(&id).or_else(held) {
            Some(s) => s.clone(),
            None => match self.project.sample(id)? {
                Some(s) => s,
                None => anyhow::bail!("sample #{id} is not in the project"),
            },
        };
        let decision = self.project.decision_of(id, &self.annotator)?;
        self.pending = match &decision {
            Some(d) => d.labels.clone(),
            None => Vec::new(),
        };
        let position = match self.position_in_window(id) {
            Some(p) => p,
            None => self.project.sample_position(id)?,
        };
        self.current = Some(Current {
            position,
            classes: self.counted_classes(id)?,
            suggestion: self.project.suggestion(id)?,
            suggested_boxes: if self.task().is_detect() {
                self.project.suggested_boxes(id)?.unwrap_or_default()
            } else {
                Vec::new()
            },
            flagged: self.project.is_flagged(id)?,
            aliases: self.project.aliases_of(id)?,
            decision,
            sample,
        });
        self.shown_at = Instant::now();
        self.refresh_window(id)?;
        Ok(())
    }

    /// The position of `id` worked out from the current sample's when both are in the
    /// window of neighbours (which holds consecutive samples in import order): the usual
    /// step to the next sample then needs no count over the whole project.
    fn position_in_window(&self, id: SampleId) -> Option<u64> {
        let cur = self.current.as_ref()?;
        let from = cur.sample.id;
        if !self.window.contains_key(&from) || !self.window.contains_key(&id) {
            return None;
        }
        if id >= from {
            let steps = self.window.range(from..id).count() as u64;
            Some(cur.position + steps)
        } else {
            let steps = self.window.range(id..from).count() as u64;
            cur.position.checked_sub(steps)
        }
    }

    /// Keeps the rows of the samples around `id` so that prefetching needs no query per
    /// frame. Only rows not already held are read.
    fn refresh_window(&mut self, id: SampleId) -> Result<()> {
        let mut ids: Vec<SampleId> = self.project.sample_ids_after(Some(id), AHEAD as u64)?;
        let mut back = id;
        for _ in 0..BEHIND {
            match self.project.previous_sample(back)? {
                Some(p) => {
                    ids.push(p);
                    back = p;
                }
                None => break,
            }
        }
        ids.push(id);
        self.window.retain(|k, _| ids.contains(k));
        for i in ids {
            if let std::collections::btree_map::Entry::Vacant(e) = self.window.entry(i)
                && let Some(s) = self.project.sample(i)?
            {
                e.insert(s);
            }
        }
        Ok(())
    }

    /// Takes in the samples a team hub has claimed for this annotator (see
    /// [`crate::app::hub_sync::HubState::claimed`]), in queue order. Returns `true` the
    /// first time in the session that there are any.
    pub fn set_claimed(&mut self, ids: &[SampleId]) -> Result<bool> {
        if self.claimed.iter().map(|s| s.id).eq(ids.iter().copied()) {
            return Ok(false);
        }
        let first = !self.claims_arrived && !ids.is_empty();
        self.claims_arrived |= first;
        let mut rows = Vec::with_capacity(ids.len());
        for &id in ids {
            let held = self.claimed.iter().find(|s| s.id == id).cloned();
            if let Some(s) = held.map_or_else(|| self.project.sample(id), |s| Ok(Some(s)))? {
                rows.push(s);
            }
        }
        self.claimed = rows;
        Ok(first)
    }

    /// Whether nothing has been done on the sample on screen (no decision, nothing toggled,
    /// no decision in this session): showing another one instead loses nothing.
    pub fn untouched(&self) -> bool {
        self.session_decisions == 0
            && self.pending.is_empty()
            && self.current.as_ref().is_none_or(|c| c.decision.is_none())
    }

    /// Whether the hub's claims for this annotator have arrived in this session (before
    /// they do, the sample on screen is the local queue's pick, which the first claim may
    /// replace).
    pub fn claims_arrived(&self) -> bool {
        self.claims_arrived
    }

    /// The samples the hub claimed for this annotator, in queue order.
    pub fn claimed(&self) -> impl Iterator<Item = SampleId> + '_ {
        self.claimed.iter().map(|s| s.id)
    }

    /// The next sample after `id`: the first claimed one still open to this annotator, else
    /// the local queue's.
    fn next_after(&self, id: SampleId) -> Result<Option<SampleId>> {
        for c in self.claimed() {
            if c != id && self.project.is_open_for(&self.annotator, c)? {
                return Ok(Some(c));
            }
        }
        self.project.next_for_annotator(&self.annotator, Some(id))
    }

    /// The samples to decode ahead of time: the current one first, then the claimed ones
    /// (on a hub replica), then the next ones, then the previous ones.
    pub fn prefetch_order(&self) -> Vec<&Sample> {
        let Some(cur) = self.current_id() else {
            return Vec::new();
        };
        let mut out: Vec<&Sample> = self.window.get(&cur).into_iter().collect();
        out.extend(self.claimed.iter().filter(|s| s.id != cur));
        let unclaimed = |s: &&Sample| !self.claimed.iter().any(|c| c.id == s.id);
        let ahead = self.window.range(SampleId(cur.0 + 1)..).map(|(_, s)| s);
        out.extend(ahead.filter(unclaimed));
        out.extend(
            self.window
                .range(..cur)
                .rev()
                .map(|(_, s)| s)
                .filter(unclaimed),
        );
        out
    }

    /// Milliseconds since the current sample was shown.
    pub fn spent_ms(&self) -> u64 {
        self.shown_at.elapsed().as_millis() as u64
    }

    /// Items per hour in this session; `None` until there is enough to go on (a rate from
    /// three quick keystrokes would be noise).
    pub fn rate_per_hour(&self) -> Option<f64> {
        let secs = self.started.elapsed().as_secs_f64();
        (self.session_decisions >= 5 && secs >= 20.0)
            .then(|| self.session_decisions as f64 * 3600.0 / secs)
    }

    /// Estimated time to decide the remaining samples at this session's rate.
    pub fn time_left(&self) -> Option<Duration> {
        let rate = self.rate_per_hour()?;
        let left = self.counts.total.saturating_sub(self.counts.done) as f64;
        Some(Duration::from_secs_f64(left / rate * 3600.0))
    }

    /// Records `ev` for the current sample, updates the counts from that one sample, and
    /// (when `advance`) moves to the next sample this annotator should decide.
    fn decide(&mut self, ev: NewEvent, advance: bool) -> Result<()> {
        let id = ev.sample;
        self.redo.clear();
        self.record_counted(ev)?;
        self.session_decisions += 1;
        if advance {
            self.advance_from(id)
        } else {
            self.go_to(id)
        }
    }

    /// Runs a write on `sample` made outside the session's own calls (a review decision),
    /// keeping `done` and the class counts exact, so that the class bar never shows stale
    /// figures.
    pub fn write_on<T>(
        &mut self,
        sample: SampleId,
        write: impl FnOnce(&mut Project) -> Result<T>,
    ) -> Result<T> {
        let had = self.project.decision_of(sample, &self.annotator)?.is_some();
        let before = self.counted_classes(sample)?;
        let out = write(&mut self.project)?;
        let has = self.project.decision_of(sample, &self.annotator)?.is_some();
        let after = self.counted_classes(sample)?;
        self.apply_delta(had, has, &before, &after);
        Ok(out)
    }

    /// Writes one event, keeping `done` and the class counts exact. Returns whether the
    /// sample was undecided before (by this annotator) and is decided now.
    fn record_counted(&mut self, ev: NewEvent) -> Result<bool> {
        let id = ev.sample;
        let had = self.project.decision_of(id, &self.annotator)?.is_some();
        let before = self.counted_classes(id)?;
        self.project.record(ev)?;
        let has = self.project.decision_of(id, &self.annotator)?.is_some();
        let after = self.counted_classes(id)?;
        self.apply_delta(had, has, &before, &after);
        Ok(!had && has)
    }

    /// Detect: records a complete set of boxes as this annotator's decision on its image
    /// (every change the annotator makes is one such event, and one step of undo), and
    /// stays on the image.
    pub fn save_boxes(&mut self, edit: super::box_editor::Edit) -> Result<()> {
        let ev = NewEvent::boxes(edit.sample, &self.annotator, EventKind::Label, edit.boxes)
            .with_spent_ms(self.spent_ms());
        self.redo.clear();
        if self.record_counted(ev)? {
            self.session_decisions += 1;
        }
        if self.current_id() == Some(edit.sample) {
            self.reload_current()?;
        }
        Ok(())
    }

    /// Reads the current sample's decision again, without restarting its clock (the
    /// annotator is still on it).
    fn reload_current(&mut self) -> Result<()> {
        let Some(id) = self.current_id() else {
            return Ok(());
        };
        let shown_at = self.shown_at;
        self.go_to(id)?;
        self.shown_at = shown_at;
        Ok(())
    }

    /// Detect: the boxes this annotator gave the previous image (import order), with
    /// how that image is turned, to copy onto the current one. `None` when it has none.
    pub fn previous_boxes(&self) -> Result<Option<(Vec<BoundingBox>, crate::media::Turn)>> {
        let Some(id) = self.current_id() else {
            return Ok(None);
        };
        let Some(prev) = self.project.previous_sample(id)? else {
            return Ok(None);
        };
        let boxes = self
            .project
            .decision_of(prev, &self.annotator)?
            .and_then(|d| d.boxes)
            .unwrap_or_default();
        if boxes.is_empty() {
            return Ok(None);
        }
        let Some(sample) = self.project.sample(prev)? else {
            return Ok(None);
        };
        let stored = [sample.width.unwrap_or(0), sample.height.unwrap_or(0)];
        let path = self.project.resolve(&sample.path);
        // (A replica fetching its files from the hub has this one: it was on screen.)
        let orientation = crate::media::read_file_start(&path, 1 << 20)
            .ok()
            .and_then(|bytes| {
                let format = crate::media::sniff(&bytes)?;
                Some(crate::media::orientation(format, &bytes))
            })
            .unwrap_or(image::metadata::Orientation::NoTransforms);
        Ok(Some((
            boxes,
            crate::media::Turn {
                orientation,
                stored,
            },
        )))
    }

    /// Detect: moves on to the next image this annotator has not decided. Refused (with
    /// the reason) while the current image is undecided: its boxes are saved as they are
    /// drawn, so an undecided image has none yet, and "no objects" is a decision to make
    /// on purpose.
    pub fn boxes_done(&mut self) -> Result<std::result::Result<(), &'static str>> {
        let Some(cur) = &self.current else {
            return Ok(Ok(()));
        };
        if cur.decision.is_none() {
            return Ok(Err("undecided"));
        }
        let id = cur.sample.id;
        self.advance_from(id)?;
        Ok(Ok(()))
    }

    /// Records again what the last undo took back, and shows its sample. Returns `false`
    /// when there is nothing to redo.
    pub fn redo(&mut self) -> Result<bool> {
        let Some(ev) = self.redo.pop() else {
            return Ok(false);
        };
        let id = ev.sample;
        if self.record_counted(ev)? {
            self.session_decisions += 1;
        }
        self.finished = false;
        self.go_to(id)?;
        Ok(true)
    }

    /// The classes of `id` that the class bar counts (see [`Counts::read`]).
    fn counted_classes(&self, id: SampleId) -> Result<Vec<ClassId>> {
        if self.blind {
            Ok(self
                .project
                .decision_of(id, &self.annotator)?
                .map(|d| d.labels)
                .unwrap_or_default())
        } else {
            self.project.current_classes(id)
        }
    }

    fn apply_delta(&mut self, had: bool, has: bool, before: &[ClassId], after: &[ClassId]) {
        match (had, has) {
            (false, true) => self.counts.done += 1,
            (true, false) => self.counts.done = self.counts.done.saturating_sub(1),
            _ => {}
        }
        for c in before.iter().filter(|c| !after.contains(c)) {
            let n = self.counts.per_class.entry(*c).or_default();
            *n = n.saturating_sub(1);
        }
        for c in after.iter().filter(|c| !before.contains(c)) {
            *self.counts.per_class.entry(*c).or_default() += 1;
        }
    }

    fn advance_from(&mut self, id: SampleId) -> Result<()> {
        match self.next_after(id)? {
            Some(next) => {
                self.finished = false;
                self.go_to(next)
            }
            None => {
                // Everything is decided: stay on this sample and say so.
                self.finished = true;
                self.go_to(id)
            }
        }
    }

    /// A class key. Single-label: assign and advance. Multi-label: toggle (no write).
    pub fn class_key(&mut self, class: ClassId) -> Result<()> {
        let Some(id) = self.current_id() else {
            return Ok(());
        };
        match self.task() {
            TaskKind::SingleLabel => {
                let ev = NewEvent::label(id, &self.annotator, vec![class])
                    .with_spent_ms(self.spent_ms());
                self.decide(ev, true)
            }
            TaskKind::MultiLabel => {
                if let Some(i) = self.pending.iter().position(|c| *c == class) {
                    self.pending.remove(i);
                } else {
                    self.pending.push(class);
                }
                Ok(())
            }
            TaskKind::Detect => Err(anyhow::anyhow!(
                "boxes cannot be drawn in this version of the window yet: bring them in with \
                 `keylabel import-labels` (COCO, Pascal VOC or YOLO)"
            )),
        }
    }

    /// Labels every sample in `ids` with `class` in one transaction, one event each (the
    /// grid's bulk labeling). Multi-label adds the class to this annotator's current
    /// classes of each sample. Returns how many samples were labeled.
    pub fn label_many(&mut self, ids: &[SampleId], class: ClassId) -> Result<usize> {
        let mut before = Vec::with_capacity(ids.len());
        for &id in ids {
            let own = self.project.decision_of(id, &self.annotator)?;
            before.push((own.is_some(), self.counted_classes(id)?));
        }
        self.redo.clear();
        label_all(&mut self.project, &self.annotator, ids, class)?;
        for (&id, (had, classes_before)) in ids.iter().zip(before) {
            let has = self.project.decision_of(id, &self.annotator)?.is_some();
            let after = self.counted_classes(id)?;
            self.apply_delta(had, has, &classes_before, &after);
        }
        self.session_decisions += ids.len() as u64;
        if let Some(cur) = self.current_id() {
            self.go_to(cur)?;
        }
        Ok(ids.len())
    }

    /// Catches up after samples were labeled outside this session's own calls (a bulk label
    /// on a background thread): counts are read again and the current sample reloaded.
    pub fn after_bulk_label(&mut self, labeled: usize) -> Result<()> {
        self.counts = Counts::read(&self.project, &self.annotator)?;
        self.session_decisions += labeled as u64;
        if let Some(cur) = self.current_id() {
            self.go_to(cur)?;
        }
        Ok(())
    }

    /// Multi-label: saves the toggled classes and advances. Returns `false` when nothing is
    /// toggled (nothing is written: an empty label is not a decision; skip instead).
    pub fn commit(&mut self) -> Result<bool> {
        let Some(id) = self.current_id() else {
            return Ok(false);
        };
        if self.pending.is_empty() {
            return Ok(false);
        }
        let ev = NewEvent::label(id, &self.annotator, self.pending.clone())
            .with_spent_ms(self.spent_ms());
        self.decide(ev, true)?;
        Ok(true)
    }

    pub fn skip(&mut self) -> Result<()> {
        let Some(id) = self.current_id() else {
            return Ok(());
        };
        let ev = NewEvent::new(id, &self.annotator, EventKind::Skip).with_spent_ms(self.spent_ms());
        self.decide(ev, true)
    }

    pub fn exclude(&mut self, reason: &str) -> Result<()> {
        let Some(id) = self.current_id() else {
            return Ok(());
        };
        let reason = if reason.trim().is_empty() {
            "unusable"
        } else {
            reason.trim()
        };
        let ev = NewEvent::new(id, &self.annotator, EventKind::Exclude)
            .with_note(reason)
            .with_spent_ms(self.spent_ms());
        self.decide(ev, true)
    }

    /// Flags the current sample for review, or removes the flag; stays on the sample.
    pub fn toggle_flag(&mut self) -> Result<bool> {
        let Some(cur) = &self.current else {
            return Ok(false);
        };
        let (id, flagged) = (cur.sample.id, cur.flagged);
        let kind = if flagged {
            EventKind::Unflag
        } else {
            EventKind::Flag
        };
        self.redo.clear();
        self.project
            .record(NewEvent::new(id, &self.annotator, kind))?;
        self.go_to(id)?;
        Ok(!flagged)
    }

    /// Labels the current sample with the model's suggestion and advances. Returns `false`
    /// when there is no usable suggestion.
    pub fn accept_suggestion(&mut self) -> Result<bool> {
        let Some(cur) = &self.current else {
            return Ok(false);
        };
        let id = cur.sample.id;
        let Some((labels, _)) = &cur.suggestion else {
            return Ok(false);
        };
        let mut labels: Vec<ClassId> = labels
            .iter()
            .copied()
            .filter(|l| self.classes.iter().any(|c| c.id == *l))
            .collect();
        if self.task() == TaskKind::SingleLabel {
            labels.truncate(1);
        }
        if labels.is_empty() {
            return Ok(false);
        }
        let ev = NewEvent::label(id, &self.annotator, labels).with_spent_ms(self.spent_ms());
        self.decide(ev, true)?;
        Ok(true)
    }

    /// Undoes this annotator's last decision and shows that sample. Returns `false` when
    /// there is nothing left to undo.
    pub fn undo(&mut self) -> Result<bool> {
        let Some((uid, sample)) = self.project.last_undoable(&self.annotator)? else {
            return Ok(false);
        };
        let undone = self
            .project
            .history(Some(sample))?
            .into_iter()
            .find(|e| e.uid == uid);
        let had = self.project.decision_of(sample, &self.annotator)?.is_some();
        let before = self.counted_classes(sample)?;
        self.project.undo_last(&self.annotator)?;
        if let Some(e) = undone {
            self.redo.push(NewEvent {
                labels: e.label_ids,
                note: e.note,
                score: e.score,
                source: e.source,
                boxes: e.boxes,
                spent_ms: e.spent_ms,
                ..NewEvent::new(sample, &self.annotator, e.kind)
            });
        }
        let has = self.project.decision_of(sample, &self.annotator)?.is_some();
        let after = self.counted_classes(sample)?;
        self.apply_delta(had, has, &before, &after);
        self.session_decisions = self.session_decisions.saturating_sub(1);
        self.finished = false;
        self.go_to(sample)?;
        Ok(true)
    }

    /// Multi-label: the classes toggled on the current sample when they differ from its
    /// saved decision ("2 selected, not saved").
    pub fn unsaved(&self) -> Option<&[ClassId]> {
        let cur = self.current.as_ref()?;
        if self.task() != TaskKind::MultiLabel {
            return None;
        }
        let mut saved: Vec<ClassId> = cur
            .decision
            .as_ref()
            .filter(|d| d.status == crate::project::SampleStatus::Labeled)
            .map(|d| d.labels.clone())
            .unwrap_or_default();
        let mut pending = self.pending.clone();
        saved.sort_unstable();
        pending.sort_unstable();
        (saved != pending).then_some(self.pending.as_slice())
    }

    /// Multi-label: saves toggled classes that are not saved yet as the annotator's
    /// decision on the current sample (one undoable event), before the view moves away
    /// from it. Toggling every class off is not a decision: nothing is written then.
    /// Returns how many classes were saved.
    pub fn save_unsaved(&mut self) -> Result<usize> {
        let (Some(id), Some(pending)) = (self.current_id(), self.unsaved()) else {
            return Ok(0);
        };
        if pending.is_empty() {
            return Ok(0);
        }
        let n = pending.len();
        let ev =
            NewEvent::label(id, &self.annotator, pending.to_vec()).with_spent_ms(self.spent_ms());
        self.redo.clear();
        self.record_counted(ev)?;
        self.session_decisions += 1;
        // The saved decision is now the sample's own.
        self.go_to(id)?;
        Ok(n)
    }

    /// Shows `id` after saving toggled classes of the current sample (the user moves on:
    /// from the grid, the review queue, a view switch).
    pub fn move_to(&mut self, id: SampleId) -> Result<usize> {
        let saved = self.save_unsaved()?;
        self.go_to(id)?;
        Ok(saved)
    }

    /// The next sample in import order (toggled classes are saved first).
    pub fn go_next(&mut self) -> Result<usize> {
        let saved = self.save_unsaved()?;
        self.step_next()?;
        Ok(saved)
    }

    fn step_next(&mut self) -> Result<()> {
        if let Some(id) = self.current_id()
            && let Some(next) = self.project.sample_ids_after(Some(id), 1)?.first()
        {
            self.go_to(*next)?;
        }
        Ok(())
    }

    /// The previous sample in import order (toggled classes are saved first).
    pub fn go_previous(&mut self) -> Result<usize> {
        let saved = self.save_unsaved()?;
        if let Some(id) = self.current_id()
            && let Some(prev) = self.project.previous_sample(id)?
        {
            self.go_to(prev)?;
        }
        Ok(saved)
    }

    /// The next sample this annotator has not decided on (toggled classes are saved
    /// first).
    pub fn next_unlabeled(&mut self) -> Result<usize> {
        let saved = self.save_unsaved()?;
        if let Some(id) = self.current_id() {
            self.advance_from(id)?;
        }
        Ok(saved)
    }

    /// A sample's other columns in their file's order (columns the file did not order, as
    /// from JSON Lines, after them by name).
    pub fn columns_of<'a>(&self, sample: &'a Sample) -> Vec<(&'a str, &'a serde_json::Value)> {
        let Some(features) = &sample.features else {
            return Vec::new();
        };
        let mut out: Vec<(&str, &serde_json::Value)> = self
            .columns
            .iter()
            .filter_map(|c| features.get_key_value(c.as_str()))
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        out.extend(
            features
                .iter()
                .filter(|(k, _)| !self.columns.contains(k))
                .map(|(k, v)| (k.as_str(), v)),
        );
        out
    }

    /// The class with `id`, if it is offered for labeling.
    pub fn class(&self, id: ClassId) -> Option<&Class> {
        self.classes.iter().find(|c| c.id == id)
    }
}

/// Labels every sample in `ids` with `class` for `annotator` in one transaction, one event
/// each. Multi-label adds the class to the annotator's current classes of each sample.
pub fn label_all(
    project: &mut Project,
    annotator: &str,
    ids: &[SampleId],
    class: ClassId,
) -> Result<()> {
    let multi = project.task() == TaskKind::MultiLabel;
    let mut events = Vec::with_capacity(ids.len());
    for &id in ids {
        let labels = if multi {
            let mut l: Vec<ClassId> = project
                .decision_of(id, annotator)?
                .map(|d| d.labels)
                .unwrap_or_default();
            if !l.contains(&class) {
                l.push(class);
            }
            l
        } else {
            vec![class]
        };
        events.push(NewEvent::label(id, annotator, labels));
    }
    project.record_all(&events)?;
    Ok(())
}
