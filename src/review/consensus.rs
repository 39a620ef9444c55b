//! The final label of each sample: a reviewer's decision if there is one, else what its
//! annotators agree on under the project's consensus policy.

use std::collections::BTreeMap;

use crate::project::{ClassId, ConsensusPolicy, Project, Result, SampleId};

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

/// The resolution of every labeled, not excluded sample, in sample order.
/// Streams over the derived tables; memory is proportional to the number of labeled samples.
pub fn final_labels(project: &Project) -> Result<Vec<(SampleId, Resolution)>> {
    let policy = project.settings()?.consensus;
    let conn = project.conn();
    let mut stmt = conn.prepare(
        "SELECT st.sample_id, st.review_labels, a.labels FROM sample_state st \
         LEFT JOIN annotations a ON a.sample_id = st.sample_id AND a.state = 'labeled' \
         WHERE st.status = 'labeled' ORDER BY st.sample_id, a.annotator",
    )?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    let mut current: Option<(SampleId, Option<Vec<ClassId>>, Vec<Vec<ClassId>>)> = None;
    let parse = |s: &str| -> Vec<ClassId> { serde_json::from_str(s).unwrap_or_default() };
    let flush = |cur: Option<(SampleId, Option<Vec<ClassId>>, Vec<Vec<ClassId>>)>,
                     out: &mut Vec<(SampleId, Resolution)>| {
        if let Some((id, review, labels)) = cur
            && let Some(r) = resolve(&labels, review.as_deref(), policy)
        {
            out.push((id, r));
        }
    };
    while let Some(r) = rows.next()? {
        let id: SampleId = r.get(0)?;
        if current.as_ref().map(|c| c.0) != Some(id) {
            flush(current.take(), &mut out);
            let review: Option<String> = r.get(1)?;
            current = Some((id, review.map(|s| parse(&s)), Vec::new()));
        }
        if let Some(l) = r.get::<_, Option<String>>(2)?
            && let Some(c) = current.as_mut()
        {
            c.2.push(parse(&l));
        }
    }
    flush(current.take(), &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn review_wins_over_annotators() {
        let r = resolve(&[vec![1], vec![2]], Some(&[2]), ConsensusPolicy::Unanimous);
        assert_eq!(r, Some(Resolution::Reviewed(vec![2])));
    }

    #[test]
    fn unanimous_needs_everyone() {
        let p = ConsensusPolicy::Unanimous;
        assert_eq!(resolve(&[vec![1], vec![1]], None, p), Some(Resolution::Agreed(vec![1])));
        assert_eq!(
            resolve(&[vec![1], vec![1], vec![2]], None, p),
            Some(Resolution::Disagreement)
        );
        assert_eq!(resolve(&[], None, p), None);
    }

    #[test]
    fn majority_is_strict() {
        let p = ConsensusPolicy::Majority;
        assert_eq!(
            resolve(&[vec![1], vec![1], vec![2]], None, p),
            Some(Resolution::Agreed(vec![1]))
        );
        assert_eq!(resolve(&[vec![1], vec![2]], None, p), Some(Resolution::Disagreement));
    }
}
