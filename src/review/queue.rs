//! The reviewer's queue and the reviewer's decisions.
//!
//! The queue lists, in this order: samples whose annotators gave different labels, flagged
//! samples, and samples whose model suggestion the annotators overrode. Each decision a
//! reviewer takes is an event in the log, recorded under the reviewer's name: accepting
//! one annotator's label, setting another label, or sending the sample back to the
//! annotation queue.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use crate::project::boxes::{self, BoundingBox};
use crate::project::{
    ClassId, ConsensusPolicy, Decision, EventKind, NewEvent, Project, ProjectError, Result,
    SampleId, SampleStatus,
};

/// Why a sample is in the review queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewReason {
    /// Its annotators gave different labels and no reviewer has decided.
    Disagreement,
    /// Someone flagged it for review.
    Flagged,
    /// A model suggested labels and an annotator labeled it otherwise.
    SuggestionOverridden,
    /// A reviewer has decided it (the list of past decisions, [`decided`]).
    Decided,
}

impl ReviewReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewReason::Disagreement => "disagreement",
            ReviewReason::Flagged => "flagged",
            ReviewReason::SuggestionOverridden => "suggestion overridden",
            ReviewReason::Decided => "decided",
        }
    }
}

/// One annotator's current decision, as a reviewer sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnnotatorDecision {
    pub annotator: String,
    pub status: SampleStatus,
    pub labels: Vec<ClassId>,
    pub label_names: Vec<String>,
    /// When the decision was recorded (RFC 3339).
    pub at: String,
    /// Time the annotator spent on the sample.
    pub spent_ms: Option<u64>,
    /// A detect project's decision: its boxes (stored pixel frame).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boxes: Option<Vec<BoundingBox>>,
}

/// A reviewer's standing decision on a sample: the latest review or send-back not undone.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub reviewer: String,
    /// When it was recorded (RFC 3339).
    pub at: String,
    /// The labels the reviewer set or accepted; `None` when they sent the sample back.
    pub labels: Option<Vec<String>>,
}

/// A sample for a reviewer: waiting in the queue, or decided before.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReviewItem {
    pub sample: SampleId,
    pub name: String,
    pub reason: ReviewReason,
    /// Every annotator's current decision, by annotator name.
    pub decisions: Vec<AnnotatorDecision>,
    /// The latest model suggestion (labels, score), if any.
    pub suggestion: Option<(Vec<ClassId>, Option<f64>)>,
    /// What a reviewer decided, if one has (a sample in the queue can have been decided
    /// before, then flagged again).
    pub verdict: Option<Verdict>,
}

/// Up to `limit` samples for a reviewer: disagreements first, then flagged samples, then
/// samples whose model suggestion was overridden; in import order within each group. A
/// sample appears once, under the first reason that applies. Samples a reviewer has decided
/// leave the queue (unless flagged again).
pub fn review_queue(project: &Project, limit: usize) -> Result<Vec<ReviewItem>> {
    let mut picked: Vec<(SampleId, ReviewReason)> = Vec::new();
    let mut seen: BTreeSet<SampleId> = BTreeSet::new();
    if limit == 0 {
        return Ok(Vec::new());
    }
    let conn = project.conn();

    // 1. Disagreements: two or more labels that differ (boxes: that do not show the same
    // objects), no reviewer decision.
    {
        let detect = project.task().is_detect();
        let mut stmt = conn.prepare(
            "SELECT st.sample_id, a.labels, a.boxes FROM sample_state st \
             JOIN annotations a ON a.sample_id = st.sample_id AND a.state = 'labeled' \
             WHERE st.annotators >= 2 AND st.review_labels IS NULL AND st.status = 'labeled' \
             ORDER BY st.sample_id",
        )?;
        let mut rows = stmt.query([])?;
        // One sample's decisions so far: (sample, labels, boxes) of each annotator.
        let mut group: Vec<(SampleId, String, Option<String>)> = Vec::new();
        let differs = |group: &[(SampleId, String, Option<String>)]| -> Result<bool> {
            if !detect {
                return Ok(group.iter().any(|(_, l, _)| *l != group[0].1));
            }
            let sets = group
                .iter()
                .map(|(id, _, b)| boxes::from_json(b.as_deref().unwrap_or("[]"), "annotations", id))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(rusqlite::Error::from)?;
            let sets: Vec<&[BoundingBox]> = sets.iter().map(Vec::as_slice).collect();
            Ok(boxes::final_boxes(None, &sets, ConsensusPolicy::Unanimous).is_none())
        };
        loop {
            let row = rows.next()?;
            let id: Option<SampleId> = row.map(|r| r.get(0)).transpose()?;
            if let Some(&(cur, ..)) = group.first()
                && id != Some(cur)
            {
                if differs(&group)? {
                    picked.push((cur, ReviewReason::Disagreement));
                    seen.insert(cur);
                    if picked.len() >= limit {
                        break;
                    }
                }
                group.clear();
            }
            let (Some(r), Some(id)) = (row, id) else {
                break;
            };
            group.push((id, r.get(1)?, r.get(2)?));
        }
    }

    // 2. Flagged samples.
    if picked.len() < limit {
        let mut stmt = conn
            .prepare("SELECT sample_id FROM sample_state WHERE flagged = 1 ORDER BY sample_id")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let id: SampleId = r.get(0)?;
            if seen.insert(id) {
                picked.push((id, ReviewReason::Flagged));
                if picked.len() >= limit {
                    break;
                }
            }
        }
    }

    // 3. The latest suggestion differs from an annotator's current label.
    if picked.len() < limit {
        let mut stmt = conn.prepare(
            "SELECT e.sample_id, e.labels FROM events e WHERE e.kind = 'suggest' \
             AND NOT EXISTS (SELECT 1 FROM events u WHERE u.target = e.uid AND u.kind = 'undo') \
             ORDER BY e.sample_id, e.at DESC, e.uid DESC",
        )?;
        let mut labels_of = conn.prepare(
            "SELECT a.labels FROM annotations a JOIN sample_state st ON st.sample_id = a.sample_id \
             WHERE a.sample_id = ?1 AND a.state = 'labeled' AND st.review_labels IS NULL \
             AND st.status = 'labeled'",
        )?;
        let mut rows = stmt.query([])?;
        let mut last: Option<SampleId> = None;
        while let Some(r) = rows.next()? {
            let id: SampleId = r.get(0)?;
            if last == Some(id) {
                continue; // an older suggestion of the same sample
            }
            last = Some(id);
            if seen.contains(&id) {
                continue;
            }
            let suggested = r.get_ref(1)?.as_str()?.to_string();
            let overridden = labels_of
                .query_map([id], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?
                .iter()
                .any(|l| *l != suggested);
            if overridden {
                seen.insert(id);
                picked.push((id, ReviewReason::SuggestionOverridden));
                if picked.len() >= limit {
                    break;
                }
            }
        }
    }

    items(project, picked)
}

/// Up to `limit` samples a reviewer has decided (a review decision, or sent back), in
/// import order, each with its standing [`Verdict`]: the reviewer's way back to past
/// decisions. A new decision on one replaces its verdict.
pub fn decided(project: &Project, limit: usize) -> Result<Vec<ReviewItem>> {
    let ids = project.reviewed_samples(limit)?;
    items(
        project,
        ids.into_iter()
            .map(|id| (id, ReviewReason::Decided))
            .collect(),
    )
}

/// One sample as a reviewer sees it, listed for `reason` (read again after a decision on
/// it); `None` when it no longer exists.
pub fn item(
    project: &Project,
    sample: SampleId,
    reason: ReviewReason,
) -> Result<Option<ReviewItem>> {
    Ok(items(project, vec![(sample, reason)])?.pop())
}

/// The review items of `picked`, in that order (samples that no longer exist left out).
fn items(project: &Project, picked: Vec<(SampleId, ReviewReason)>) -> Result<Vec<ReviewItem>> {
    let names: HashMap<ClassId, String> = project
        .classes()?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let mut out = Vec::with_capacity(picked.len());
    for (id, reason) in picked {
        let Some(sample) = project.sample(id)? else {
            continue;
        };
        let verdict = project
            .history(Some(id))?
            .into_iter()
            .rev()
            .find(|e| !e.undone && matches!(e.kind, EventKind::Review | EventKind::SendBack))
            .map(|e| Verdict {
                labels: (e.kind == EventKind::Review).then_some(e.labels),
                reviewer: e.annotator,
                at: e.at,
            });
        out.push(ReviewItem {
            sample: id,
            name: sample.name,
            reason,
            decisions: project
                .decisions(id)?
                .into_iter()
                .map(|d| with_names(d, &names))
                .collect(),
            suggestion: project.suggestion(id)?,
            verdict,
        });
    }
    Ok(out)
}

fn with_names(d: Decision, names: &HashMap<ClassId, String>) -> AnnotatorDecision {
    AnnotatorDecision {
        label_names: d
            .labels
            .iter()
            .map(|id| names.get(id).cloned().unwrap_or_else(|| format!("#{id}")))
            .collect(),
        annotator: d.annotator,
        status: d.status,
        labels: d.labels,
        at: d.at,
        spent_ms: d.spent_ms,
        boxes: d.boxes,
    }
}

fn require_sample(project: &Project, sample: SampleId) -> Result<()> {
    if project.sample(sample)?.is_none() {
        return Err(ProjectError::Invalid(format!("there is no sample with id {sample}")).into());
    }
    Ok(())
}

fn require_reviewer(reviewer: &str) -> Result<()> {
    if reviewer.trim().is_empty() {
        return Err(
            ProjectError::Invalid("a review decision needs the reviewer's name".into()).into(),
        );
    }
    Ok(())
}

/// Records a review event and, when the sample is flagged, an unflag by the reviewer: the
/// reviewer has given it the attention the flag asked for.
fn record_review(project: &mut Project, sample: SampleId, ev: NewEvent) -> Result<String> {
    let mut events = vec![ev];
    if project.is_flagged(sample)? {
        let reviewer = events[0].annotator.clone();
        events.push(NewEvent::new(sample, &reviewer, EventKind::Unflag));
    }
    let uids = project.record_all(&events)?;
    Ok(uids.into_iter().next().unwrap_or_default())
}

/// The reviewer accepts `from_annotator`'s current label as the sample's final label.
/// Returns the review event's uid.
pub fn accept(
    project: &mut Project,
    sample: SampleId,
    reviewer: &str,
    from_annotator: &str,
) -> Result<String> {
    require_reviewer(reviewer)?;
    require_sample(project, sample)?;
    let decision = project
        .decision_of(sample, from_annotator)?
        .filter(|d| d.status == SampleStatus::Labeled)
        .ok_or_else(|| {
            ProjectError::Invalid(format!(
                "`{from_annotator}` has no current label on sample {sample} to accept"
            ))
        })?;
    let mut ev = NewEvent::new(sample, reviewer, EventKind::Review)
        .with_note(format!("accepted the label of {from_annotator}"));
    ev.labels = decision.labels;
    ev.boxes = decision.boxes;
    record_review(project, sample, ev)
}

/// The reviewer sets the sample's final label to `classes` (overriding the annotators).
/// Returns the review event's uid.
pub fn set_label(
    project: &mut Project,
    sample: SampleId,
    reviewer: &str,
    classes: &[ClassId],
) -> Result<String> {
    require_reviewer(reviewer)?;
    require_sample(project, sample)?;
    let mut ev =
        NewEvent::new(sample, reviewer, EventKind::Review).with_note("set by the reviewer");
    ev.labels = classes.to_vec();
    record_review(project, sample, ev)
}

/// The reviewer sets a detect image's final boxes to `boxes` (an annotator's set edited, or
/// one of the reviewer's own; empty: the image shows no objects). Returns the review
/// event's uid.
pub fn set_boxes(
    project: &mut Project,
    sample: SampleId,
    reviewer: &str,
    boxes: Vec<BoundingBox>,
) -> Result<String> {
    require_reviewer(reviewer)?;
    require_sample(project, sample)?;
    let ev = NewEvent::boxes(sample, reviewer, EventKind::Review, boxes)
        .with_note("boxes set by the reviewer");
    record_review(project, sample, ev)
}

/// The reviewer sends the sample back to the annotation queue: its current labels and any
/// review decision stop counting, and every annotator is offered it again.
/// Returns the send-back event's uid.
pub fn send_back(project: &mut Project, sample: SampleId, reviewer: &str) -> Result<String> {
    require_reviewer(reviewer)?;
    require_sample(project, sample)?;
    record_review(
        project,
        sample,
        NewEvent::new(sample, reviewer, EventKind::SendBack),
    )
}

/// The decisions on `sample` that `annotator` may see: in blind mode only their own, else
/// everyone's. The labeling window shows other annotators' labels only through this.
pub fn visible_decisions(
    project: &Project,
    sample: SampleId,
    annotator: &str,
) -> Result<Vec<Decision>> {
    let all = project.decisions(sample)?;
    if project.settings()?.is_blind() {
        Ok(all
            .into_iter()
            .filter(|d| d.annotator == annotator)
            .collect())
    } else {
        Ok(all)
    }
}
