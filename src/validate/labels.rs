//! Checks on the label state: `UNLABELED_SAMPLES`, `UNRESOLVED_DISAGREEMENTS` and
//! `LABEL_OUTSIDE_SCHEMA`; and the final class counts the distribution checks use.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{Connection, OptionalExtension};

use super::{Finding, MAX_LISTED, Options, Severity, names_of, plural};
use crate::project::stored;
use crate::project::{ClassId, ConsensusPolicy, Project, Result, SampleId};
use crate::review::{Resolution, resolve};

/// What the label checks learned for the others.
pub(super) struct LabelSummary {
    /// Samples per class under the final labels (review decision, else consensus); samples
    /// whose annotators still disagree count in no class.
    pub final_counts: BTreeMap<ClassId, u64>,
}

pub(super) fn unlabeled(
    project: &Project,
    options: &Options,
    out: &mut Vec<Finding>,
) -> Result<()> {
    let conn = project.conn();
    let total = project.sample_count()?;
    // Counted from the status index: samples without a row in `sample_state` are unlabeled.
    let decided: i64 = conn.query_row(
        "SELECT count(*) FROM sample_state WHERE status IN ('labeled', 'excluded')",
        [],
        |r| r.get(0),
    )?;
    let count = total.saturating_sub(decided as u64);
    if count == 0 {
        return Ok(());
    }
    let ids: Vec<SampleId> = conn
        .prepare(
            "SELECT s.id FROM samples s WHERE NOT EXISTS (SELECT 1 FROM sample_state st \
             WHERE st.sample_id = s.id AND st.status IN ('labeled', 'excluded')) \
             ORDER BY s.id LIMIT ?1",
        )?
        .query_map([MAX_LISTED as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let (severity, tail) = if options.only_labeled {
        (Severity::Warning, "they are left out of the export")
    } else {
        (
            Severity::Error,
            "label them (or exclude unusable ones), or export with --only-labeled to leave \
             them out",
        )
    };
    let (code, message) = if project.task().is_detect() {
        (
            "UNDECIDED_IMAGES",
            format!(
                "{} no decision (skipped ones included): draw their boxes, or mark an image \
                 with no objects as such; {tail}",
                plural(count, "image has", "images have")
            ),
        )
    } else {
        (
            "UNLABELED_SAMPLES",
            format!(
                "{} no label (skipped ones included); {tail}",
                plural(count, "sample has", "samples have")
            ),
        )
    };
    out.push(Finding::new(code, severity, count, message).with_samples(names_of(project, &ids)?));
    Ok(())
}

pub(super) fn check(
    project: &Project,
    policy: ConsensusPolicy,
    out: &mut Vec<Finding>,
) -> Result<LabelSummary> {
    let conn = project.conn();
    // `sample_classes` holds a review decision, else the union of the annotators' labels.
    let mut current: BTreeMap<ClassId, u64> = BTreeMap::new();
    {
        let mut stmt =
            conn.prepare("SELECT class_id, count(*) FROM sample_classes GROUP BY class_id")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, ClassId>(0)?, r.get::<_, i64>(1)?)))? {
            let (class, n) = row?;
            current.insert(class, n as u64);
        }
    }

    // Only samples with several annotators and no review can differ from that union:
    // resolve them as the export does and correct the counts.
    let mut final_counts = current.clone();
    let mut disagreeing: Vec<SampleId> = Vec::new();
    let mut disagreeing_count = 0u64;
    {
        let mut stmt = conn.prepare(
            "SELECT st.sample_id, a.labels FROM sample_state st \
             JOIN annotations a ON a.sample_id = st.sample_id AND a.state = 'labeled' \
             WHERE st.status = 'labeled' AND st.review_labels IS NULL AND st.annotators > 1 \
             ORDER BY st.sample_id, a.annotator",
        )?;
        let mut rows = stmt.query([])?;
        let mut group: Option<(SampleId, Vec<Vec<ClassId>>)> = None;
        let mut settle = |g: Option<(SampleId, Vec<Vec<ClassId>>)>| {
            let Some((id, labels)) = g else { return };
            let union: BTreeSet<ClassId> = labels.iter().flatten().copied().collect();
            for c in &union {
                if let Some(n) = final_counts.get_mut(c) {
                    *n = n.saturating_sub(1);
                }
            }
            match resolve(&labels, None, policy) {
                Some(Resolution::Disagreement) => {
                    disagreeing_count += 1;
                    if disagreeing.len() < MAX_LISTED {
                        disagreeing.push(id);
                    }
                }
                Some(r) => {
                    for c in r.labels().unwrap_or_default() {
                        *final_counts.entry(*c).or_default() += 1;
                    }
                }
                None => {}
            }
        };
        while let Some(r) = rows.next()? {
            let id: SampleId = r.get(0)?;
            let labels = stored::labels(
                &r.get::<_, String>(1)?,
                "annotations",
                format!("sample {id}"),
            )?;
            match &mut group {
                Some((g, l)) if *g == id => l.push(labels),
                _ => {
                    settle(group.take());
                    group = Some((id, vec![labels]));
                }
            }
        }
        settle(group.take());
    }
    final_counts.retain(|_, n| *n > 0);
    // A detect project's disagreements are about boxes (see `boxes::check`).
    if disagreeing_count > 0 && !project.task().is_detect() {
        out.push(
            Finding::new(
                "UNRESOLVED_DISAGREEMENTS",
                Severity::Error,
                disagreeing_count,
                format!(
                    "{} annotators who disagree and no review decision; decide them in the \
                     window's review view (R), or change the consensus policy (`keylabel \
                     settings set consensus majority`)",
                    plural(disagreeing_count, "sample has", "samples have")
                ),
            )
            .with_samples(names_of(project, &disagreeing)?),
        );
    }

    outside_schema(project, policy, &current, out)?;
    Ok(LabelSummary { final_counts })
}

/// `LABEL_OUTSIDE_SCHEMA`: a final label naming an archived class, or a class id the
/// project does not know.
fn outside_schema(
    project: &Project,
    policy: ConsensusPolicy,
    current: &BTreeMap<ClassId, u64>,
    out: &mut Vec<Finding>,
) -> Result<()> {
    let classes = project.classes()?;
    let active: BTreeSet<ClassId> = classes
        .iter()
        .filter(|c| !c.archived)
        .map(|c| c.id)
        .collect();
    let outside: Vec<ClassId> = current
        .keys()
        .copied()
        .filter(|c| !active.contains(c))
        .collect();
    if outside.is_empty() {
        return Ok(());
    }
    let conn = project.conn();
    let mut candidates: BTreeSet<SampleId> = BTreeSet::new();
    {
        let mut stmt =
            conn.prepare_cached("SELECT sample_id FROM sample_classes WHERE class_id = ?1")?;
        for class in &outside {
            for id in stmt.query_map([class], |r| r.get::<_, SampleId>(0))? {
                candidates.insert(id?);
            }
        }
    }
    let outside: BTreeSet<ClassId> = outside.into_iter().collect();
    let mut affected: Vec<SampleId> = Vec::new();
    let mut used: BTreeSet<ClassId> = BTreeSet::new();
    let mut count = 0u64;
    for id in candidates {
        // A minority vote for an archived class does not reach the export; the final label
        // decides. Disagreements are reported on their own.
        let Some(Resolution::Reviewed(l) | Resolution::Agreed(l)) = final_label(conn, policy, id)?
        else {
            continue;
        };
        let bad: Vec<ClassId> = l.iter().copied().filter(|c| outside.contains(c)).collect();
        if !bad.is_empty() {
            used.extend(bad);
            count += 1;
            if affected.len() < MAX_LISTED {
                affected.push(id);
            }
        }
    }
    if count == 0 {
        return Ok(());
    }
    let names: Vec<String> = used
        .iter()
        .map(|id| match classes.iter().find(|c| c.id == *id) {
            Some(c) => format!("`{}` (archived)", c.name),
            None => format!("unknown class id {id}"),
        })
        .collect();
    out.push(
        Finding::new(
            "LABEL_OUTSIDE_SCHEMA",
            Severity::Error,
            count,
            format!(
                "{} labeled with a class outside the label schema: {}; relabel them with an \
                 active class",
                plural(count, "sample is", "samples are"),
                names.join(", ")
            ),
        )
        .with_samples(names_of(project, &affected)?),
    );
    Ok(())
}

/// The final label of one sample as the export sees it; `None` when it is not labeled.
pub(super) fn final_label(
    conn: &Connection,
    policy: ConsensusPolicy,
    id: SampleId,
) -> Result<Option<Resolution>> {
    let review: Option<Option<String>> = conn
        .prepare_cached(
            "SELECT review_labels FROM sample_state WHERE sample_id = ?1 AND status = 'labeled'",
        )?
        .query_row([id], |r| r.get(0))
        .optional()?;
    let Some(review) = review else {
        return Ok(None);
    };
    let labels: Vec<Vec<ClassId>> = conn
        .prepare_cached(
            "SELECT labels FROM annotations WHERE sample_id = ?1 AND state = 'labeled' \
             ORDER BY annotator",
        )?
        .query_map([id], |r| r.get::<_, String>(0))?
        .map(|l| Ok(stored::labels(&l?, "annotations", format!("sample {id}"))?))
        .collect::<Result<_>>()?;
    let review = review
        .map(|r| stored::labels(&r, "sample_state", format!("sample {id}")))
        .transpose()?;
    Ok(resolve(&labels, review.as_deref(), policy))
}
