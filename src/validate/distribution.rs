//! Checks on the class distribution of the final labels: `CLASS_IMBALANCE`, `RARE_CLASS`,
//! `EMPTY_CLASS`, `LABEL_DRIFT` (against the previous export) and `LOW_AGREEMENT`.

use std::collections::{BTreeMap, BTreeSet};

use super::{Finding, MAX_LISTED, Options, Severity, names_of, plural};
use crate::project::{ClassId, Project, Result, SampleId, ValidationSettings};

/// The project setting in which the export records the class counts it wrote:
/// `{"classes": {"cat": N, …}, "total": N}`.
pub const LAST_EXPORT_KEY: &str = "last_export";

/// How far apart two class distributions are, as TFDV measures drift of a categorical
/// feature.
#[derive(Clone, Debug, PartialEq)]
pub struct DriftDistances {
    /// Largest difference of one class's share: max over classes of |p − q|.
    pub linf: f64,
    /// Jensen–Shannon divergence with base-2 logarithms (between 0 and 1).
    pub js: f64,
    /// The class whose share moved most.
    pub worst: Option<String>,
}

/// Distances between the `previous` and `current` class counts, each normalised to a
/// distribution over the union of their classes (a class missing on one side has share 0).
/// `None` when either side has no counts.
pub fn drift_distances(
    previous: &BTreeMap<String, f64>,
    current: &BTreeMap<String, f64>,
) -> Option<DriftDistances> {
    let (tp, tc): (f64, f64) = (previous.values().sum(), current.values().sum());
    if tp <= 0.0 || tc <= 0.0 {
        return None;
    }
    let classes: BTreeSet<&String> = previous.keys().chain(current.keys()).collect();
    let mut d = DriftDistances {
        linf: 0.0,
        js: 0.0,
        worst: None,
    };
    // 0 · log 0 = 0.
    let kl_term = |a: f64, m: f64| if a > 0.0 { a * (a / m).log2() } else { 0.0 };
    for c in classes {
        let p = previous.get(c).copied().unwrap_or(0.0) / tp;
        let q = current.get(c).copied().unwrap_or(0.0) / tc;
        let diff = (p - q).abs();
        if diff > d.linf {
            d.linf = diff;
            d.worst = Some(c.clone());
        }
        let m = (p + q) / 2.0;
        d.js += 0.5 * kl_term(p, m) + 0.5 * kl_term(q, m);
    }
    d.js = d.js.clamp(0.0, 1.0);
    Some(d)
}

/// `LOW_AGREEMENT` when Krippendorff's `alpha` (computed over the samples several annotators
/// labeled) is below `min_agreement`; nothing when there is no overlap (`None`).
pub fn low_agreement(alpha: Option<f64>, min_agreement: f64) -> Option<Finding> {
    let alpha = alpha.filter(|a| a.is_finite())?;
    if alpha >= min_agreement {
        return None;
    }
    Some(Finding::new(
        "LOW_AGREEMENT",
        Severity::Warning,
        1,
        format!(
            "Krippendorff's alpha is {alpha:.3}, below {min_agreement}: the annotators often \
             disagree, so the labels are unreliable; clarify the class definitions and \
             review the disagreements (`keylabel agreement --by-class` shows where)"
        ),
    ))
}

pub(super) fn check(
    project: &Project,
    options: &Options,
    settings: &ValidationSettings,
    final_counts: &BTreeMap<ClassId, u64>,
    out: &mut Vec<Finding>,
) -> Result<()> {
    let active: Vec<(ClassId, String)> = project
        .active_classes()?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let count_of = |id: ClassId| final_counts.get(&id).copied().unwrap_or(0);

    // EMPTY_CLASS. A project with no labels at all is already UNLABELED_SAMPLES.
    let any_label = final_counts.values().any(|n| *n > 0);
    let empty: Vec<&str> = active
        .iter()
        .filter(|(id, _)| count_of(*id) == 0)
        .map(|(_, n)| n.as_str())
        .collect();
    if any_label && !empty.is_empty() {
        out.push(Finding::new(
            "EMPTY_CLASS",
            Severity::Warning,
            empty.len() as u64,
            format!(
                "{} no labeled samples: {}; a model cannot learn a class it never sees: \
                 label examples of it, or archive the class",
                plural(empty.len() as u64, "class has", "classes have"),
                quoted(&empty)
            ),
        ));
    }

    // RARE_CLASS: too few samples for every split to get one.
    let splits = options.splits.max(1) as u64;
    let rare: Vec<(ClassId, &str, u64)> = active
        .iter()
        .map(|(id, n)| (*id, n.as_str(), count_of(*id)))
        .filter(|(_, _, c)| *c > 0 && *c < splits)
        .collect();
    if !rare.is_empty() {
        let mut ids: Vec<SampleId> = Vec::new();
        let mut stmt = project.conn().prepare_cached(
            "SELECT sample_id FROM sample_classes WHERE class_id = ?1 ORDER BY sample_id LIMIT ?2",
        )?;
        for (class, _, _) in &rare {
            let room = MAX_LISTED.saturating_sub(ids.len()) as i64;
            for id in stmt.query_map(rusqlite::params![class, room], |r| r.get(0))? {
                ids.push(id?);
            }
        }
        let detail: Vec<String> = rare
            .iter()
            .map(|(_, n, c)| format!("`{n}` ({c})"))
            .collect();
        out.push(
            Finding::new(
                "RARE_CLASS",
                Severity::Warning,
                rare.len() as u64,
                format!(
                    "{} fewer samples than the {splits} splits, so some split will have none: \
                     {}; label more examples",
                    plural(rare.len() as u64, "class has", "classes have"),
                    detail.join(", ")
                ),
            )
            .with_samples(names_of(project, &ids)?),
        );
    }

    // CLASS_IMBALANCE: largest over smallest non-empty class.
    let non_empty: Vec<(&str, u64)> = active
        .iter()
        .map(|(id, n)| (n.as_str(), count_of(*id)))
        .filter(|(_, c)| *c > 0)
        .collect();
    if let (Some(max), Some(min)) = (
        non_empty.iter().max_by_key(|(_, c)| *c),
        non_empty.iter().min_by_key(|(_, c)| *c),
    ) {
        let ratio = max.1 as f64 / min.1 as f64;
        if ratio > settings.imbalance_ratio {
            out.push(Finding::new(
                "CLASS_IMBALANCE",
                Severity::Warning,
                2,
                format!(
                    "the largest class `{}` has {} samples, {ratio:.1} times the smallest \
                     `{}` ({}), above the limit of {}; label more of the small classes, or \
                     plan for class weights or resampling in training",
                    max.0, max.1, min.0, min.1, settings.imbalance_ratio
                ),
            ));
        }
    }

    drift(project, settings, final_counts, out)
}

/// `LABEL_DRIFT` against the counts the previous export recorded.
fn drift(
    project: &Project,
    settings: &ValidationSettings,
    final_counts: &BTreeMap<ClassId, u64>,
    out: &mut Vec<Finding>,
) -> Result<()> {
    let Some(previous) = project.setting_value(LAST_EXPORT_KEY)? else {
        return Ok(());
    };
    // Written by keylabel's own export; a value of another shape is not a previous export.
    let Some(classes) = previous.get("classes").and_then(|c| c.as_object()) else {
        return Ok(());
    };
    let previous: BTreeMap<String, f64> = classes
        .iter()
        .filter_map(|(k, v)| v.as_f64().map(|n| (k.clone(), n)))
        .filter(|(_, n)| *n > 0.0)
        .collect();
    let names: BTreeMap<ClassId, String> = project
        .classes()?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let current: BTreeMap<String, f64> = final_counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(id, n)| {
            let name = names.get(id).cloned().unwrap_or_else(|| format!("#{id}"));
            (name, *n as f64)
        })
        .collect();
    let Some(d) = drift_distances(&previous, &current) else {
        return Ok(());
    };
    if d.linf <= settings.drift_linf && d.js <= settings.drift_js {
        return Ok(());
    }
    let (tp, tc): (f64, f64) = (previous.values().sum(), current.values().sum());
    let moved = previous
        .keys()
        .chain(current.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|c| {
            let p = previous.get(*c).copied().unwrap_or(0.0) / tp;
            let q = current.get(*c).copied().unwrap_or(0.0) / tc;
            (p - q).abs() > 1e-12
        })
        .count() as u64;
    let worst = d.worst.as_deref().unwrap_or("?");
    let share = |m: &BTreeMap<String, f64>, t: f64| m.get(worst).copied().unwrap_or(0.0) / t;
    out.push(Finding::new(
        "LABEL_DRIFT",
        Severity::Warning,
        moved,
        format!(
            "the class distribution moved since the previous export: L-infinity distance \
             {:.4} (limit {}), Jensen-Shannon divergence {:.4} (limit {}); `{worst}` went \
             from {:.1}% to {:.1}% of the labels; check that the new labels follow the same \
             guidelines, or accept the change",
            d.linf,
            settings.drift_linf,
            d.js,
            settings.drift_js,
            100.0 * share(&previous, tp),
            100.0 * share(&current, tc)
        ),
    ));
    Ok(())
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn identical_distributions_do_not_drift() {
        let a = dist(&[("cat", 10.0), ("dog", 30.0)]);
        let b = dist(&[("cat", 1.0), ("dog", 3.0)]);
        let d = drift_distances(&a, &b).unwrap();
        assert!(d.linf.abs() < 1e-12 && d.js.abs() < 1e-12);
    }

    #[test]
    fn disjoint_distributions_are_one_apart() {
        let d = drift_distances(&dist(&[("cat", 5.0)]), &dist(&[("dog", 7.0)])).unwrap();
        assert!((d.linf - 1.0).abs() < 1e-12);
        assert!((d.js - 1.0).abs() < 1e-12);
    }

    #[test]
    fn low_agreement_only_below_the_threshold() {
        assert!(low_agreement(Some(0.5), 0.667).is_some());
        assert!(low_agreement(Some(0.8), 0.667).is_none());
        assert!(low_agreement(None, 0.667).is_none());
    }
}
