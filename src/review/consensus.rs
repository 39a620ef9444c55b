//! The final label of each sample: a reviewer's decision if there is one, else what its
//! annotators agree on under the project's consensus policy.

use std::collections::{BTreeMap, HashMap};

use super::agreement::{Annotations, Labels};
use super::dawid_skene::{Options as DsOptions, dawid_skene};
use crate::project::stored;
use crate::project::{ClassId, ConsensusPolicy, Project, Result, SampleId, TaskKind};

/// How a sample's final label was reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// A reviewer decided.
    Reviewed(Vec<ClassId>),
    /// The annotators agree (under the policy); one annotator alone always agrees.
    Agreed(Vec<ClassId>),
    /// Annotators gave different labels and no policy or reviewer settled it.
    Disagreement,
}

impl Resolution {
    /// The final classes, if the sample has them.
    pub fn labels(&self) -> Option<&[ClassId]> {
        match self {
            Resolution::Reviewed(l) | Resolution::Agreed(l) => Some(l),
            Resolution::Disagreement => None,
        }
    }
}

/// Resolves one sample from its annotators' label sets (each sorted) and a review decision.
/// `labels` holds one entry per annotator who labeled the sample.
pub fn resolve(
    labels: &[Vec<ClassId>],
    review: Option<&[ClassId]>,
    policy: ConsensusPolicy,
) -> Option<Resolution> {
    if let Some(r) = review {
        return Some(Resolution::Reviewed(r.to_vec()));
    }
    let first = labels.first()?;
    if labels.iter().all(|l| l == first) {
        return Some(Resolution::Agreed(first.clone()));
    }
    match policy {
        ConsensusPolicy::Unanimous => Some(Resolution::Disagreement),
        // Dawid–Skene needs the whole project; per sample it falls back to a strict majority.
        ConsensusPolicy::Majority | ConsensusPolicy::DawidSkene => {
            let mut votes: BTreeMap<&Vec<ClassId>, usize> = BTreeMap::new();
            for l in labels {
                *votes.entry(l).or_default() += 1;
            }
            let (best, n) = votes
                .into_iter()
                .max_by_key(|(_, n)| *n)
                .expect("labels is not empty");
            if 2 * n > labels.len() {
                Some(Resolution::Agreed(best.clone()))
            } else {
                Some(Resolution::Disagreement)
            }
        }
    }
}

/// A sample being read: its id, the review decision and each annotator's labels.
type Pending = (SampleId, Option<Vec<ClassId>>, Vec<Vec<ClassId>>);

/// Dawid–Skene's choice for a sample (`None`: no single best label) and its posterior.
type Estimated = (Option<Vec<ClassId>>, f64);

/// A sample's final label with how sure keylabel is of it.
#[derive(Clone, Debug, PartialEq)]
pub struct FinalLabel {
    pub sample: SampleId,
    pub resolution: Resolution,
    /// 1 for a reviewer's decision; under Dawid–Skene the posterior probability of the
    /// chosen label (multi-label: the product over classes of the chosen yes/no); under
    /// unanimous or majority the share of annotators who gave the chosen label. `None`
    /// for a disagreement.
    pub confidence: Option<f64>,
}

/// The resolution of every labeled, not excluded sample, in sample order.
/// Streams over the derived tables; memory is proportional to the number of labeled samples.
pub fn final_labels(project: &Project) -> Result<Vec<(SampleId, Resolution)>> {
    Ok(final_labels_with_confidence(project)?
        .into_iter()
        .map(|f| (f.sample, f.resolution))
        .collect())
}

/// [`final_labels`] with each label's confidence. Under the Dawid–Skene policy the model is
/// estimated over the whole project first (reviewed samples count as known truth).
pub fn final_labels_with_confidence(project: &Project) -> Result<Vec<FinalLabel>> {
    let policy = project.settings()?.consensus;
    let estimate = match policy {
        ConsensusPolicy::DawidSkene => Some(estimate_project(project)?),
        _ => None,
    };
    let conn = project.conn();
    let mut stmt = conn.prepare(
        "SELECT st.sample_id, st.review_labels, a.labels FROM sample_state st \
         LEFT JOIN annotations a ON a.sample_id = st.sample_id AND a.state = 'labeled' \
         WHERE st.status = 'labeled' ORDER BY st.sample_id, a.annotator",
    )?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    let mut current: Option<Pending> = None;
    let flush = |cur: Option<Pending>, out: &mut Vec<FinalLabel>| {
        let Some((id, review, labels)) = cur else {
            return;
        };
        let found = match (&estimate, &review) {
            (Some(est), None) => est.get(&id).map(|(labels, p)| match labels {
                Some(l) => (Resolution::Agreed(l.clone()), Some(*p)),
                None => (Resolution::Disagreement, None),
            }),
            _ => resolve(&labels, review.as_deref(), policy).map(|r| {
                let confidence = match &r {
                    Resolution::Reviewed(_) => Some(1.0),
                    Resolution::Agreed(l) => {
                        Some(labels.iter().filter(|x| *x == l).count() as f64 / labels.len() as f64)
                    }
                    Resolution::Disagreement => None,
                };
                (r, confidence)
            }),
        };
        if let Some((resolution, confidence)) = found {
            out.push(FinalLabel {
                sample: id,
                resolution,
                confidence,
            });
        }
    };
    while let Some(r) = rows.next()? {
        let id: SampleId = r.get(0)?;
        if current.as_ref().map(|c| c.0) != Some(id) {
            flush(current.take(), &mut out);
            let review: Option<String> = r.get(1)?;
            let review = review
                .map(|s| stored::labels(&s, "sample_state", format!("sample {id}")))
                .transpose()?;
            current = Some((id, review, Vec::new()));
        }
        if let Some(l) = r.get::<_, Option<String>>(2)?
            && let Some(c) = current.as_mut()
        {
            c.2.push(stored::labels(&l, "annotations", format!("sample {id}"))?);
        }
    }
    flush(current.take(), &mut out);
    Ok(out)
}

/// Dawid–Skene over the whole project: for each labeled sample without a review, the chosen
/// classes (`None` on a tie or an empty multi-label set) and their posterior.
fn estimate_project(project: &Project) -> Result<HashMap<SampleId, Estimated>> {
    let ann = Annotations::load(project, Labels::Current)?;
    let reviews = reviewed_samples(project)?;
    let mut out = HashMap::with_capacity(ann.samples.len());
    match ann.task {
        TaskKind::SingleLabel => {
            let set_of: HashMap<Vec<ClassId>, u32> = (0..ann.sets.len())
                .map(|s| (set_ids(&ann, s), s as u32))
                .collect();
            let known: Vec<Option<u32>> = ann
                .samples
                .iter()
                .map(|id| reviews.get(id).and_then(|l| set_of.get(l).copied()))
                .collect();
            let est = dawid_skene(&ann.nominal(), &known, DsOptions::default());
            for (i, id) in ann.samples.iter().enumerate() {
                let v = match est.best(i) {
                    Some((s, p)) => (Some(set_ids(&ann, s as usize)), p),
                    None => (None, 0.0),
                };
                out.insert(*id, v);
            }
        }
        TaskKind::MultiLabel | TaskKind::Detect => {
            // One-vs-rest per class: a class is in the label when its posterior is above 1/2.
            let mut chosen: Vec<(Vec<ClassId>, f64, bool)> =
                vec![(Vec::new(), 1.0, false); ann.samples.len()];
            for p in ann.reported_classes() {
                let class_id = ann.classes[p].id;
                let known: Vec<Option<u32>> = ann
                    .samples
                    .iter()
                    .map(|id| reviews.get(id).map(|l| u32::from(l.contains(&class_id))))
                    .collect();
                let est = dawid_skene(&ann.one_vs_rest(p), &known, DsOptions::default());
                for (i, c) in chosen.iter_mut().enumerate() {
                    match est.best(i) {
                        Some((yes, prob)) => {
                            if yes == 1 {
                                c.0.push(class_id);
                            }
                            c.1 *= prob;
                        }
                        None => c.2 = true,
                    }
                }
            }
            for (id, (mut labels, p, tie)) in ann.samples.iter().zip(chosen) {
                labels.sort_unstable();
                let v = if tie || labels.is_empty() {
                    (None, 0.0)
                } else {
                    (Some(labels), p)
                };
                out.insert(*id, v);
            }
        }
    }
    Ok(out)
}

/// The class ids of a label set of `ann`, sorted.
fn set_ids(ann: &Annotations, set: usize) -> Vec<ClassId> {
    let mut ids: Vec<ClassId> = ann.sets[set].iter().map(|&p| ann.classes[p].id).collect();
    ids.sort_unstable();
    ids
}

/// Every reviewer decision: sample → sorted class ids.
fn reviewed_samples(project: &Project) -> Result<HashMap<SampleId, Vec<ClassId>>> {
    let mut stmt = project.conn().prepare(
        "SELECT sample_id, review_labels FROM sample_state WHERE review_labels IS NOT NULL",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, SampleId>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = HashMap::new();
    for row in rows {
        let (id, labels) = row?;
        let mut l = stored::labels(&labels, "sample_state", format!("sample {id}"))?;
        l.sort_unstable();
        out.insert(id, l);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn review_wins_over_annotators() {
        let r = resolve(
            &[vec![ClassId(1)], vec![ClassId(2)]],
            Some(&[ClassId(2)]),
            ConsensusPolicy::Unanimous,
        );
        assert_eq!(r, Some(Resolution::Reviewed(vec![ClassId(2)])));
    }

    #[test]
    fn unanimous_needs_everyone() {
        let p = ConsensusPolicy::Unanimous;
        assert_eq!(
            resolve(&[vec![ClassId(1)], vec![ClassId(1)]], None, p),
            Some(Resolution::Agreed(vec![ClassId(1)]))
        );
        assert_eq!(
            resolve(
                &[vec![ClassId(1)], vec![ClassId(1)], vec![ClassId(2)]],
                None,
                p
            ),
            Some(Resolution::Disagreement)
        );
        assert_eq!(resolve(&[], None, p), None);
    }

    #[test]
    fn majority_is_strict() {
        let p = ConsensusPolicy::Majority;
        assert_eq!(
            resolve(
                &[vec![ClassId(1)], vec![ClassId(1)], vec![ClassId(2)]],
                None,
                p
            ),
            Some(Resolution::Agreed(vec![ClassId(1)]))
        );
        assert_eq!(
            resolve(&[vec![ClassId(1)], vec![ClassId(2)]], None, p),
            Some(Resolution::Disagreement)
        );
    }
}
