//! Per-annotator statistics: how much each annotator labeled, how fast, and how well their
//! labels match the final labels.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::agreement::{Annotations, Labels, Measure, Undefined, cohen_kappa};
use super::box_agreement::{DEFAULT_IOU, VsFinal, vs_final};
use super::consensus::final_labels_with_confidence;
use crate::project::{ClassId, Project, Result, SampleId, TaskKind};

/// How many confused class pairs are listed per annotator.
pub const MAX_CONFUSED: usize = 5;

/// The annotator gave `given` where the final label is `final_label`, `count` times.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfusedPair {
    pub given: String,
    pub final_label: String,
    pub count: u64,
}

/// One annotator's statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct AnnotatorStats {
    pub name: String,
    /// Samples the annotator currently has a label on.
    pub labels: u64,
    /// Label events of this annotator that record the time spent (undone ones included:
    /// the time was spent).
    pub timed_labels: u64,
    /// Median of the time spent per timed label event, in seconds.
    pub median_seconds: Option<f64>,
    /// Timed label events per hour of active time, where active time is the sum of the
    /// time spent on those events (from showing a sample to deciding); pauses between
    /// samples do not count.
    pub labels_per_hour: Option<f64>,
    /// Cohen's kappa between the annotator's labels and the final labels, over the samples
    /// the annotator labeled that have a final label (multi-label: one-vs-rest decisions
    /// per class, pooled).
    pub kappa_vs_final: Measure,
    /// Samples in that comparison.
    pub kappa_items: u64,
    /// Detect projects: how the annotator's boxes compare with the final boxes (see
    /// [`super::box_agreement::vs_final`], at [`super::box_agreement::DEFAULT_IOU`]);
    /// `None` for classification, and for an annotator with no image that has final boxes.
    pub boxes_vs_final: Option<VsFinal>,
    /// The most frequent (given, final) pairs where the two differ, most frequent first:
    /// label sets, or on a detect project the classes of boxes drawn on a final box's
    /// object under another class.
    pub confused: Vec<ConfusedPair>,
    /// Reviewer decisions recorded under this name (not counting undone ones).
    pub reviews: u64,
}

impl AnnotatorStats {
    /// How well this annotator's decisions match the final ones, and over how many samples,
    /// as the tables show it: box F1 on a detect project, Cohen's kappa otherwise.
    pub fn vs_final(&self, task: TaskKind) -> (Measure, u64) {
        match (task, &self.boxes_vs_final) {
            (TaskKind::Detect, Some(v)) => (v.f1, v.images),
            (TaskKind::Detect, None) => (Err(Undefined::NoFinalLabels), 0),
            _ => (self.kappa_vs_final, self.kappa_items),
        }
    }

    /// The heading of [`Self::vs_final`]'s column.
    pub fn vs_final_heading(task: TaskKind) -> &'static str {
        if task == TaskKind::Detect {
            "box F1 vs final"
        } else {
            "kappa vs final"
        }
    }
}

/// Statistics of every annotator (everyone with a current label, a label event or a review
/// decision), sorted by name.
pub fn annotator_stats(project: &Project) -> Result<Vec<AnnotatorStats>> {
    let ann = Annotations::load(project, Labels::Current)?;
    let finals: HashMap<SampleId, Vec<ClassId>> = final_labels_with_confidence(project)?
        .into_iter()
        .filter_map(|f| {
            f.resolution.labels().map(|l| {
                let mut l = l.to_vec();
                l.sort_unstable();
                (f.sample, l)
            })
        })
        .collect();

    // Categories: the annotators' label sets, then final sets nobody gave (a reviewer's).
    let mut sets: Vec<Vec<ClassId>> = (0..ann.sets.len())
        .map(|s| {
            let mut ids: Vec<ClassId> = ann.sets[s].iter().map(|&p| ann.classes[p].id).collect();
            ids.sort_unstable();
            ids
        })
        .collect();
    let mut set_idx: HashMap<Vec<ClassId>, u32> = sets
        .iter()
        .enumerate()
        .map(|(i, s)| (s.clone(), i as u32))
        .collect();
    let mut final_of: Vec<Option<u32>> = Vec::with_capacity(ann.samples.len());
    for id in &ann.samples {
        final_of.push(finals.get(id).map(|l| {
            *set_idx.entry(l.clone()).or_insert_with(|| {
                sets.push(l.clone());
                (sets.len() - 1) as u32
            })
        }));
    }
    let class_names: HashMap<ClassId, &str> = ann
        .classes
        .iter()
        .map(|c| (c.id, c.name.as_str()))
        .collect();
    let set_name = |s: u32| -> String {
        sets[s as usize]
            .iter()
            .map(|id| class_names.get(id).copied().unwrap_or("?"))
            .collect::<Vec<_>>()
            .join("|")
    };
    let reported = ann.reported_classes();
    let reported_ids: Vec<ClassId> = reported.iter().map(|&p| ann.classes[p].id).collect();

    // Per annotator: (given, final) pairs over samples with a final label.
    let mut pairs: Vec<Vec<(u32, u32)>> = vec![Vec::new(); ann.annotators.len()];
    let mut labels = vec![0u64; ann.annotators.len()];
    for (i, fin) in final_of.iter().enumerate() {
        for &(a, s) in ann.labels_of(i) {
            labels[a as usize] += 1;
            if let Some(f) = fin {
                pairs[a as usize].push((s, *f));
            }
        }
    }

    let mut by_name: BTreeMap<String, AnnotatorStats> = BTreeMap::new();
    for (a, name) in ann.annotators.iter().enumerate() {
        let p = &pairs[a];
        let (items, kappa) = match ann.task {
            TaskKind::SingleLabel => cohen_kappa(p.iter().copied(), sets.len()),
            TaskKind::MultiLabel | TaskKind::Detect => {
                let binary = p.iter().flat_map(|&(g, f)| {
                    let (g, f) = (&sets[g as usize], &sets[f as usize]);
                    reported_ids
                        .iter()
                        .map(move |c| (u32::from(g.contains(c)), u32::from(f.contains(c))))
                });
                let (n, k) = cohen_kappa(binary, 2);
                (n / reported_ids.len().max(1) as u64, k)
            }
        };
        let kappa = kappa.map_err(|u| match u {
            Undefined::NoSharedItems => Undefined::NoFinalLabels,
            other => other,
        });
        let mut confused: HashMap<(u32, u32), u64> = HashMap::new();
        for &(g, f) in p.iter().filter(|(g, f)| g != f) {
            *confused.entry((g, f)).or_default() += 1;
        }
        let confused = most_confused(confused.into_iter().map(|((g, f), count)| ConfusedPair {
            given: set_name(g),
            final_label: set_name(f),
            count,
        }));
        by_name.insert(
            name.clone(),
            AnnotatorStats {
                name: name.clone(),
                labels: labels[a],
                timed_labels: 0,
                median_seconds: None,
                labels_per_hour: None,
                kappa_vs_final: kappa,
                kappa_items: items,
                boxes_vs_final: None,
                confused,
                reviews: 0,
            },
        );
    }

    let empty = |name: &str| AnnotatorStats {
        name: name.to_string(),
        labels: 0,
        timed_labels: 0,
        median_seconds: None,
        labels_per_hour: None,
        kappa_vs_final: Err(Undefined::NoFinalLabels),
        kappa_items: 0,
        boxes_vs_final: None,
        confused: Vec::new(),
        reviews: 0,
    };

    let mut times: HashMap<String, Vec<u64>> = HashMap::new();
    {
        let mut stmt = project.conn().prepare(
            "SELECT annotator, spent_ms FROM events WHERE kind = 'label' AND spent_ms IS NOT NULL",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let name = r.get_ref(0)?.as_str()?;
            let ms: i64 = r.get(1)?;
            match times.get_mut(name) {
                Some(v) => v.push(ms.max(0) as u64),
                None => {
                    times.insert(name.to_string(), vec![ms.max(0) as u64]);
                }
            }
        }
    }
    if ann.task == TaskKind::Detect {
        for s in by_name.values_mut() {
            s.confused.clear();
        }
        for (name, v) in vs_final(project, DEFAULT_IOU)? {
            let s = by_name.entry(name.clone()).or_insert_with(|| empty(&name));
            s.confused = most_confused(v.confused.iter().map(|(&(g, f), &count)| ConfusedPair {
                given: class_names.get(&g).copied().unwrap_or("?").to_string(),
                final_label: class_names.get(&f).copied().unwrap_or("?").to_string(),
                count,
            }));
            s.boxes_vs_final = Some(v);
        }
    }
    for (name, mut ms) in times {
        let s = by_name.entry(name.clone()).or_insert_with(|| empty(&name));
        s.timed_labels = ms.len() as u64;
        ms.sort_unstable();
        let n = ms.len();
        if n > 0 {
            let median = if n % 2 == 1 {
                ms[n / 2] as f64
            } else {
                (ms[n / 2 - 1] as f64 + ms[n / 2] as f64) / 2.0
            };
            s.median_seconds = Some(median / 1000.0);
            let total: u64 = ms.iter().sum();
            if total > 0 {
                s.labels_per_hour = Some(n as f64 / (total as f64 / 3_600_000.0));
            }
        }
    }
    let mut stmt = project.conn().prepare(
        "SELECT e.annotator, count(*) FROM events e WHERE e.kind = 'review' \
         AND NOT EXISTS (SELECT 1 FROM events u WHERE u.target = e.uid AND u.kind = 'undo') \
         GROUP BY e.annotator",
    )?;
    let reviews = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (name, n) in reviews {
        let s = by_name.entry(name.clone()).or_insert_with(|| empty(&name));
        s.reviews = n as u64;
    }
    Ok(by_name.into_values().collect())
}

/// The [`MAX_CONFUSED`] most frequent of `pairs`, most frequent first.
fn most_confused(pairs: impl Iterator<Item = ConfusedPair>) -> Vec<ConfusedPair> {
    let mut confused: Vec<ConfusedPair> = pairs.collect();
    confused.sort_by(|x, y| {
        y.count
            .cmp(&x.count)
            .then_with(|| (&x.given, &x.final_label).cmp(&(&y.given, &y.final_label)))
    });
    confused.truncate(MAX_CONFUSED);
    confused
}

/// The JSON document `annotators --json` prints (with `boxes_vs_final` on a detect
/// project, for each annotator who decided an image that has final boxes).
pub fn stats_json(stats: &[AnnotatorStats]) -> Value {
    let rows: Vec<Value> = stats
        .iter()
        .map(|s| {
            let mut kappa = serde_json::Map::new();
            match &s.kappa_vs_final {
                Ok(v) => {
                    kappa.insert("value".into(), json!(v));
                }
                Err(u) => {
                    kappa.insert("value".into(), Value::Null);
                    kappa.insert("reason".into(), json!(u.reason()));
                }
            }
            kappa.insert("items".into(), json!(s.kappa_items));
            let mut row = json!({
                "name": s.name,
                "labels": s.labels,
                "timed_labels": s.timed_labels,
                "median_seconds": s.median_seconds,
                "labels_per_hour": s.labels_per_hour,
                "kappa_vs_final": Value::Object(kappa),
                "confused": s.confused.iter().map(|c| json!({
                    "given": c.given, "final": c.final_label, "count": c.count
                })).collect::<Vec<_>>(),
                "reviews": s.reviews,
            });
            if let Some(v) = &s.boxes_vs_final {
                row["boxes_vs_final"] = v.to_json(DEFAULT_IOU);
            }
            row
        })
        .collect();
    json!({ "annotators": rows })
}
