//! Inter-annotator agreement: percent agreement, Cohen's kappa for every annotator pair,
//! Fleiss' kappa and Krippendorff's alpha (nominal, missing ratings allowed).
//!
//! The statistics are pure functions over [`Ratings`], a compact item-by-item table of
//! (rater, category) pairs, so that they can be checked against published worked examples
//! and reference libraries without a project. [`Annotations`] loads that table from a
//! project and [`agreement`] builds the report the `agreement` command prints.
//!
//! Every statistic is computed from integer counts with one final division, so that the
//! results match scikit-learn's `cohen_kappa_score`, statsmodels' `fleiss_kappa` and the
//! `krippendorff` package to far better than 1e-9. A statistic that is undefined on the
//! data (0/0) is an [`Undefined`] with the reason, never NaN.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::project::stored;
use crate::project::{Class, ClassId, Project, Result, SampleId, TaskKind};

/// One rating: which rater gave which category.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rating {
    pub rater: u32,
    pub category: u32,
}

impl Rating {
    pub fn new(rater: u32, category: u32) -> Rating {
        Rating { rater, category }
    }
}

/// Why a statistic has no value on the given data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Undefined {
    /// No item has ratings from two or more raters.
    NoPairableItems,
    /// The two raters rated no item in common.
    NoSharedItems,
    /// All the ratings that count are in one category: the agreement expected by chance
    /// is total, so the statistic is 0/0.
    NoVariation,
    /// None of the annotator's samples has a final label to compare with.
    NoFinalLabels,
    /// Neither annotator drew a box on the images both decided.
    NoBoxes,
    /// No box of one annotator matched a box of the other.
    NoMatchedBoxes,
    /// Neither the annotator nor the final boxes hold a box on the images compared.
    NoBoxesVsFinal,
    /// No box of the annotator matched a final box.
    NoMatchedFinalBoxes,
}

impl Undefined {
    /// The reason, as printed and written to JSON.
    pub fn reason(self) -> &'static str {
        match self {
            Undefined::NoPairableItems => "no sample has labels from two or more annotators",
            Undefined::NoSharedItems => "the two annotators labeled no sample in common",
            Undefined::NoVariation => {
                "every label is the same class, so agreement expected by chance is total \
                 (expected disagreement 0) and the statistic is 0/0"
            }
            Undefined::NoFinalLabels => "none of this annotator's samples has a final label",
            Undefined::NoBoxes => {
                "neither annotator drew a box on the images both decided (both said \"no \
                 objects\")"
            }
            Undefined::NoMatchedBoxes => {
                "no box of one annotator matches a box of the other at this IoU threshold"
            }
            Undefined::NoBoxesVsFinal => {
                "neither this annotator nor the final boxes hold a box on the images compared \
                 (all \"no objects\")"
            }
            Undefined::NoMatchedFinalBoxes => {
                "no box of this annotator matches a final box at this IoU threshold"
            }
        }
    }
}

impl std::fmt::Display for Undefined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

/// A statistic's value, or why it has none.
pub type Measure = std::result::Result<f64, Undefined>;

/// Malformed ratings handed to [`Ratings::push_item`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RatingsError {
    #[error("rater {rater} rates one item twice")]
    DuplicateRater { rater: u32 },
    #[error("rater index {rater} is out of range (there are {raters} raters)")]
    RaterOutOfRange { rater: u32, raters: usize },
    #[error("category index {category} is out of range (there are {categories} categories)")]
    CategoryOutOfRange { category: u32, categories: usize },
}

/// Ratings of items by raters, stored item after item: each item holds at most one
/// rating per rater; raters who did not rate an item are simply absent (missing data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ratings {
    raters: usize,
    categories: usize,
    offsets: Vec<usize>,
    entries: Vec<Rating>,
}

impl Ratings {
    /// An empty table for `raters` raters and `categories` categories.
    pub fn new(raters: usize, categories: usize) -> Ratings {
        Ratings {
            raters,
            categories,
            offsets: vec![0],
            entries: Vec::new(),
        }
    }

    /// Adds one item. Refused when a rater appears twice or an index is out of range.
    pub fn push_item(&mut self, ratings: &[Rating]) -> std::result::Result<(), RatingsError> {
        for (i, r) in ratings.iter().enumerate() {
            if r.rater as usize >= self.raters {
                return Err(RatingsError::RaterOutOfRange {
                    rater: r.rater,
                    raters: self.raters,
                });
            }
            if r.category as usize >= self.categories {
                return Err(RatingsError::CategoryOutOfRange {
                    category: r.category,
                    categories: self.categories,
                });
            }
            if ratings[..i].iter().any(|o| o.rater == r.rater) {
                return Err(RatingsError::DuplicateRater { rater: r.rater });
            }
        }
        self.push_item_trusted(ratings.iter().copied());
        Ok(())
    }

    /// Adds an item whose ratings the caller built correctly (distinct raters, in range).
    fn push_item_trusted(&mut self, ratings: impl IntoIterator<Item = Rating>) {
        self.entries.extend(ratings);
        self.offsets.push(self.entries.len());
    }

    /// Builds the table from rows of a reliability matrix: one row per item, one column per
    /// rater, `None` where the rater did not rate the item.
    pub fn from_rows(
        raters: usize,
        categories: usize,
        rows: &[Vec<Option<u32>>],
    ) -> std::result::Result<Ratings, RatingsError> {
        let mut out = Ratings::new(raters, categories);
        let mut item = Vec::new();
        for row in rows {
            item.clear();
            for (rater, c) in row.iter().enumerate() {
                if let Some(c) = c {
                    item.push(Rating::new(rater as u32, *c));
                }
            }
            out.push_item(&item)?;
        }
        Ok(out)
    }

    pub fn raters(&self) -> usize {
        self.raters
    }

    pub fn categories(&self) -> usize {
        self.categories
    }

    /// Number of items (including items with fewer than two ratings).
    pub fn items(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Total number of ratings.
    pub fn ratings(&self) -> usize {
        self.entries.len()
    }

    /// The ratings of item `i`.
    pub fn item(&self, i: usize) -> &[Rating] {
        &self.entries[self.offsets[i]..self.offsets[i + 1]]
    }

    /// The items' ratings in order.
    pub fn iter(&self) -> impl Iterator<Item = &[Rating]> + '_ {
        self.offsets.windows(2).map(|w| &self.entries[w[0]..w[1]])
    }
}

/// Calls `f(category, count)` for every category rated in `item`; `buf` is scratch space.
fn for_each_count(item: &[Rating], buf: &mut Vec<u32>, mut f: impl FnMut(u32, u64)) {
    buf.clear();
    buf.extend(item.iter().map(|r| r.category));
    buf.sort_unstable();
    let mut i = 0;
    while i < buf.len() {
        let c = buf[i];
        let mut j = i + 1;
        while j < buf.len() && buf[j] == c {
            j += 1;
        }
        f(c, (j - i) as u64);
        i = j;
    }
}

/// A statistic over a number of items.
#[derive(Clone, Debug, PartialEq)]
pub struct Agreement {
    pub value: Measure,
    /// Items the statistic was computed over.
    pub items: u64,
}

/// Percent agreement: for every item with two or more ratings, the fraction of its rater
/// pairs that gave the same category; the mean of that fraction over those items.
/// (With two raters per item this is the share of items on which they agree.)
pub fn percent_agreement(ratings: &Ratings) -> Agreement {
    // Per number of ratings m: items, and agreeing ordered pairs Σ n_c (n_c − 1).
    let mut by_m: Vec<(u64, u64)> = vec![(0, 0); ratings.raters() + 1];
    let mut buf = Vec::new();
    for item in ratings.iter() {
        let m = item.len();
        if m < 2 {
            continue;
        }
        let mut pairs = 0;
        for_each_count(item, &mut buf, |_, n| pairs += n * (n - 1));
        by_m[m].0 += 1;
        by_m[m].1 += pairs;
    }
    let items: u64 = by_m.iter().map(|(n, _)| n).sum();
    if items == 0 {
        return Agreement {
            value: Err(Undefined::NoPairableItems),
            items: 0,
        };
    }
    let sum: f64 = by_m
        .iter()
        .enumerate()
        .filter(|(_, (n, _))| *n > 0)
        .map(|(m, (_, pairs))| *pairs as f64 / (m * (m - 1)) as f64)
        .sum();
    Agreement {
        value: Ok(sum / items as f64),
        items,
    }
}

/// Cohen's kappa from the counts of a two-rater table: `n` items, `agree` on the diagonal,
/// `s` = Σ_c (rater a's count of c)·(rater b's count of c).
/// κ = (n·agree − s) / (n² − s), which is (p_o − p_e) / (1 − p_e).
fn kappa_from_counts(n: u64, agree: u64, s: u128) -> Measure {
    if n == 0 {
        return Err(Undefined::NoSharedItems);
    }
    let nn = n as u128 * n as u128;
    if s >= nn {
        // p_e = 1: both raters used one and the same category throughout.
        return Err(Undefined::NoVariation);
    }
    let numer = (n as u128 * agree as u128) as i128 - s as i128;
    let denom = (nn - s) as i128;
    Ok(numer as f64 / denom as f64)
}

/// Cohen's kappa of two raters from their paired ratings `(a's category, b's category)`
/// over the items both rated. Returns the number of pairs and kappa
/// (the same as scikit-learn's `cohen_kappa_score(a, b)`).
pub fn cohen_kappa(
    pairs: impl IntoIterator<Item = (u32, u32)>,
    categories: usize,
) -> (u64, Measure) {
    let mut ma = vec![0u64; categories];
    let mut mb = vec![0u64; categories];
    let (mut n, mut agree) = (0u64, 0u64);
    for (a, b) in pairs {
        n += 1;
        agree += u64::from(a == b);
        ma[a as usize] += 1;
        mb[b as usize] += 1;
    }
    let s: u128 = ma
        .iter()
        .zip(&mb)
        .map(|(&x, &y)| x as u128 * y as u128)
        .sum();
    (n, kappa_from_counts(n, agree, s))
}

/// Cohen's kappa of one pair of raters (`a < b`).
#[derive(Clone, Debug, PartialEq)]
pub struct PairKappa {
    pub a: u32,
    pub b: u32,
    /// Items both rated.
    pub items: u64,
    pub kappa: Measure,
}

/// Accumulated two-rater counts of one pair.
struct PairCounts {
    n: u64,
    agree: u64,
    ma: Vec<u64>,
    mb: Vec<u64>,
}

/// Cohen's kappa for every pair of raters (a < b, in order), over the items both rated.
/// Pairs without a shared item are included, with [`Undefined::NoSharedItems`].
pub fn cohen_kappa_pairs(ratings: &Ratings) -> Vec<PairKappa> {
    let r = ratings.raters();
    let k = ratings.categories();
    let mut acc: Vec<Option<Box<PairCounts>>> = (0..r * r).map(|_| None).collect();
    for item in ratings.iter() {
        for (i, x) in item.iter().enumerate() {
            for y in &item[i + 1..] {
                let (p, q) = if x.rater < y.rater { (x, y) } else { (y, x) };
                let slot = &mut acc[p.rater as usize * r + q.rater as usize];
                let c = slot.get_or_insert_with(|| {
                    Box::new(PairCounts {
                        n: 0,
                        agree: 0,
                        ma: vec![0; k],
                        mb: vec![0; k],
                    })
                });
                c.n += 1;
                c.agree += u64::from(p.category == q.category);
                c.ma[p.category as usize] += 1;
                c.mb[q.category as usize] += 1;
            }
        }
    }
    let mut out = Vec::with_capacity(r * r.saturating_sub(1) / 2);
    for a in 0..r {
        for b in a + 1..r {
            let (items, kappa) = match &acc[a * r + b] {
                Some(c) => {
                    let s: u128 =
                        c.ma.iter()
                            .zip(&c.mb)
                            .map(|(&x, &y)| x as u128 * y as u128)
                            .sum();
                    (c.n, kappa_from_counts(c.n, c.agree, s))
                }
                None => (0, Err(Undefined::NoSharedItems)),
            };
            out.push(PairKappa {
                a: a as u32,
                b: b as u32,
                items,
                kappa,
            });
        }
    }
    out
}

/// Fleiss' kappa with the number of items and of ratings per item it used.
#[derive(Clone, Debug, PartialEq)]
pub struct Fleiss {
    pub value: Measure,
    pub items: u64,
    /// Ratings per item (Fleiss' kappa needs the same number on every item).
    pub raters: u64,
}

/// Fleiss' kappa over the items that have the most common number of ratings among items
/// with two or more (a tie goes to the larger number of ratings). On those items this is
/// exactly statsmodels' `fleiss_kappa(table)` on the items × categories count table.
pub fn fleiss_kappa(ratings: &Ratings) -> Fleiss {
    let mut count_by_m = vec![0u64; ratings.raters() + 1];
    for item in ratings.iter() {
        if item.len() >= 2 {
            count_by_m[item.len()] += 1;
        }
    }
    let Some((m, &n)) = count_by_m
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .max_by_key(|(m, n)| (**n, *m))
    else {
        return Fleiss {
            value: Err(Undefined::NoPairableItems),
            items: 0,
            raters: 0,
        };
    };
    let mut totals = vec![0u64; ratings.categories()];
    let mut sum_sq: u128 = 0;
    let mut buf = Vec::new();
    for item in ratings.iter().filter(|i| i.len() == m) {
        for_each_count(item, &mut buf, |c, k| {
            totals[c as usize] += k;
            sum_sq += (k * k) as u128;
        });
    }
    // With N items, m ratings each, A = Σ n_ij², S = Σ_j T_j² (T_j column totals):
    // P̄ = (A − Nm) / (Nm(m−1)), P_e = S / (Nm)², κ = (P̄ − P_e) / (1 − P_e)
    //   = ((A − Nm)·Nm − (m−1)·S) / ((m−1)·((Nm)² − S)).
    let nm = n as i128 * m as i128;
    let s: i128 = totals.iter().map(|&t| t as i128 * t as i128).sum();
    let a = sum_sq as i128;
    let value = if nm * nm == s {
        Err(Undefined::NoVariation)
    } else {
        let numer = (a - nm) * nm - (m as i128 - 1) * s;
        let denom = (m as i128 - 1) * (nm * nm - s);
        Ok(numer as f64 / denom as f64)
    };
    Fleiss {
        value,
        items: n,
        raters: m as u64,
    }
}

/// Krippendorff's alpha for nominal data over every item with two or more ratings
/// (missing ratings allowed): α = 1 − D_o / D_e from the coincidence matrix, as in
/// Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability". Items with one rating
/// are not pairable and do not count (the `krippendorff` package gives them no weight too).
pub fn krippendorff_alpha(ratings: &Ratings) -> Agreement {
    // Per number of ratings m: Σ (m² − Σ_c n_uc²), the off-diagonal coincidences times (m − 1).
    let mut off_by_m = vec![0u64; ratings.raters() + 1];
    let mut n_c = vec![0u64; ratings.categories()];
    let mut items = 0u64;
    let mut buf = Vec::new();
    for item in ratings.iter() {
        let m = item.len();
        if m < 2 {
            continue;
        }
        items += 1;
        let mut sq = 0u64;
        for_each_count(item, &mut buf, |c, k| {
            n_c[c as usize] += k;
            sq += k * k;
        });
        off_by_m[m] += (m * m) as u64 - sq;
    }
    if items == 0 {
        return Agreement {
            value: Err(Undefined::NoPairableItems),
            items: 0,
        };
    }
    let n: u128 = n_c.iter().map(|&x| x as u128).sum();
    let expected: u128 = n * n - n_c.iter().map(|&x| x as u128 * x as u128).sum::<u128>();
    if expected == 0 {
        return Agreement {
            value: Err(Undefined::NoVariation),
            items,
        };
    }
    let observed: f64 = off_by_m
        .iter()
        .enumerate()
        .filter(|(_, d)| **d > 0)
        .map(|(m, d)| *d as f64 / (m - 1) as f64)
        .sum();
    Agreement {
        value: Ok(1.0 - (n - 1) as f64 * observed / expected as f64),
        items,
    }
}

/// The confusion matrix of one pair of raters over the items both rated.
#[derive(Clone, Debug, PartialEq)]
pub struct PairConfusion {
    pub a: u32,
    pub b: u32,
    pub items: u64,
    /// `categories × categories`, row = a's category, column = b's.
    pub matrix: Vec<u64>,
}

/// The confusion matrix of every pair of raters (a < b) that rated an item in common.
pub fn confusion_matrices(ratings: &Ratings) -> Vec<PairConfusion> {
    let r = ratings.raters();
    let k = ratings.categories();
    let mut acc: Vec<Option<PairConfusion>> = (0..r * r).map(|_| None).collect();
    for item in ratings.iter() {
        for (i, x) in item.iter().enumerate() {
            for y in &item[i + 1..] {
                let (p, q) = if x.rater < y.rater { (x, y) } else { (y, x) };
                let c = acc[p.rater as usize * r + q.rater as usize].get_or_insert_with(|| {
                    PairConfusion {
                        a: p.rater,
                        b: q.rater,
                        items: 0,
                        matrix: vec![0; k * k],
                    }
                });
                c.items += 1;
                c.matrix[p.category as usize * k + q.category as usize] += 1;
            }
        }
    }
    acc.into_iter().flatten().collect()
}

/// Which labels [`Annotations::load`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Labels {
    /// The labels that count now: consensus, statistics against the final labels.
    Current,
    /// What each annotator rated: their current label or, when a reviewer's send-back
    /// cleared it and they have not labeled the sample again, that label. Agreement is
    /// measured on these: sending a sample back does not undo the disagreement.
    Rated,
}

/// The labels of a project's samples, one per annotator per sample (see [`Labels`]), with
/// each distinct label set interned.
#[derive(Clone, Debug)]
pub struct Annotations {
    pub task: TaskKind,
    /// Every class of the project, archived ones included, in schema order.
    pub classes: Vec<Class>,
    /// Annotators with at least one current label, sorted by name.
    pub annotators: Vec<String>,
    /// Samples with at least one current label, in id order.
    pub samples: Vec<SampleId>,
    /// The distinct label sets, each a sorted list of positions in `classes`; sorted so
    /// that single classes come in schema order.
    pub sets: Vec<Vec<usize>>,
    offsets: Vec<usize>,
    /// (annotator index, set index).
    entries: Vec<(u32, u32)>,
}

impl Annotations {
    /// Reads every label of the project of the kind `which` in one indexed scan.
    pub fn load(project: &Project, which: Labels) -> Result<Annotations> {
        let classes = project.classes()?;
        let position: HashMap<ClassId, usize> =
            classes.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
        let mut annotator_idx: HashMap<String, u32> = HashMap::new();
        let mut annotators: Vec<String> = Vec::new();
        let mut set_idx: HashMap<String, u32> = HashMap::new();
        let mut sets: Vec<Vec<usize>> = Vec::new();
        let mut samples = Vec::new();
        let mut offsets = vec![0];
        let mut entries: Vec<(u32, u32)> = Vec::new();

        let mut stmt = project.conn().prepare(match which {
            Labels::Current => {
                "SELECT sample_id, annotator, labels FROM annotations WHERE state = 'labeled' \
                 ORDER BY sample_id, annotator"
            }
            // An annotator with a label in `sent_back_labels` has no current label there.
            Labels::Rated => {
                "SELECT sample_id, annotator, labels FROM annotations WHERE state = 'labeled' \
                 UNION ALL SELECT sample_id, annotator, labels FROM sent_back_labels \
                 ORDER BY sample_id, annotator"
            }
        })?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let sample: SampleId = r.get(0)?;
            if samples.last() != Some(&sample) {
                if !samples.is_empty() {
                    offsets.push(entries.len());
                }
                samples.push(sample);
            }
            let name = r.get_ref(1)?.as_str()?;
            let a = match annotator_idx.get(name) {
                Some(&a) => a,
                None => {
                    let a = annotators.len() as u32;
                    annotators.push(name.to_string());
                    annotator_idx.insert(name.to_string(), a);
                    a
                }
            };
            // The schema keeps one current label per annotator and sample; a file edited or
            // damaged so that it holds two is refused, not counted twice.
            let this_sample = &entries[*offsets.last().expect("offsets start with 0")..];
            if this_sample.iter().any(|&(other, _)| other == a) {
                anyhow::bail!(
                    "sample {sample}: `{name}` has two current labels in the project file                      (damaged or edited; `keylabel check` tells which)"
                );
            }
            let raw = r.get_ref(2)?.as_str()?;
            let s = match set_idx.get(raw) {
                Some(&s) => s,
                None => {
                    let ids = stored::labels(raw, "annotations", format!("sample {sample}"))?;
                    let mut set: Vec<usize> = ids
                        .iter()
                        .map(|id| {
                            position.get(id).copied().ok_or_else(|| {
                                anyhow::anyhow!(
                                    "sample {sample}: label refers to unknown class {id}"
                                )
                            })
                        })
                        .collect::<Result<_>>()?;
                    set.sort_unstable();
                    set.dedup();
                    let s = sets.len() as u32;
                    sets.push(set);
                    set_idx.insert(raw.to_string(), s);
                    s
                }
            };
            entries.push((a, s));
        }
        if !samples.is_empty() {
            offsets.push(entries.len());
        }

        // Canonical order: annotators by name, sets by class positions; remap the entries.
        let mut by_name: Vec<u32> = (0..annotators.len() as u32).collect();
        by_name.sort_by(|&x, &y| annotators[x as usize].cmp(&annotators[y as usize]));
        let mut annotator_map = vec![0u32; annotators.len()];
        for (new, &old) in by_name.iter().enumerate() {
            annotator_map[old as usize] = new as u32;
        }
        let mut by_set: Vec<u32> = (0..sets.len() as u32).collect();
        by_set.sort_by(|&x, &y| {
            let (sx, sy) = (&sets[x as usize], &sets[y as usize]);
            sx.len().cmp(&sy.len()).then_with(|| sx.cmp(sy))
        });
        let mut set_map = vec![0u32; sets.len()];
        for (new, &old) in by_set.iter().enumerate() {
            set_map[old as usize] = new as u32;
        }
        for e in &mut entries {
            *e = (annotator_map[e.0 as usize], set_map[e.1 as usize]);
        }
        let annotators = by_name
            .iter()
            .map(|&i| annotators[i as usize].clone())
            .collect();
        let sets = by_set.iter().map(|&i| sets[i as usize].clone()).collect();

        Ok(Annotations {
            task: project.task(),
            classes,
            annotators,
            samples,
            sets,
            offsets,
            entries,
        })
    }

    /// The (annotator index, set index) labels of the `i`-th sample.
    pub fn labels_of(&self, i: usize) -> &[(u32, u32)] {
        &self.entries[self.offsets[i]..self.offsets[i + 1]]
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The index of `sample` in [`Annotations::samples`].
    pub fn position_of(&self, sample: SampleId) -> Option<usize> {
        self.samples.binary_search(&sample).ok()
    }

    /// A label set's name: its class names joined by `|` (as in label files).
    pub fn set_name(&self, set: usize) -> String {
        self.sets[set]
            .iter()
            .map(|&p| self.classes[p].name.as_str())
            .collect::<Vec<_>>()
            .join("|")
    }

    /// The sample's labels with each label set as one category (single-label projects:
    /// one category per class that was used).
    pub fn nominal(&self) -> Ratings {
        let mut out = Ratings::new(self.annotators.len(), self.sets.len());
        out.entries.reserve(self.entries.len());
        out.offsets.reserve(self.samples.len());
        for i in 0..self.samples.len() {
            out.push_item_trusted(self.labels_of(i).iter().map(|&(a, s)| Rating::new(a, s)));
        }
        out
    }

    /// One-vs-rest ratings for the class at `position`: category 1 when an annotator's label
    /// contains it, 0 when not.
    pub fn one_vs_rest(&self, position: usize) -> Ratings {
        let has: Vec<u32> = self
            .sets
            .iter()
            .map(|s| u32::from(s.contains(&position)))
            .collect();
        let mut out = Ratings::new(self.annotators.len(), 2);
        out.entries.reserve(self.entries.len());
        for i in 0..self.samples.len() {
            out.push_item_trusted(
                self.labels_of(i)
                    .iter()
                    .map(|&(a, s)| Rating::new(a, has[s as usize])),
            );
        }
        out
    }

    /// The classes whose one-vs-rest agreement is reported: every class offered for
    /// labeling, and archived ones that appear in a label.
    pub fn reported_classes(&self) -> Vec<usize> {
        let mut used = vec![false; self.classes.len()];
        for s in &self.sets {
            for &p in s {
                used[p] = true;
            }
        }
        (0..self.classes.len())
            .filter(|&p| !self.classes[p].archived || used[p])
            .collect()
    }

    /// Multi-label projects: the one-vs-rest ratings of every reported class, one after the
    /// other, so that each (sample, class) pair is one binary unit.
    pub fn pooled(&self, classes: &[usize]) -> Ratings {
        let mut out = Ratings::new(self.annotators.len(), 2);
        for &p in classes {
            let one = self.one_vs_rest(p);
            for item in one.iter() {
                out.push_item_trusted(item.iter().copied());
            }
        }
        out
    }
}

/// Cohen's kappa of one named pair.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedPairKappa {
    pub a: String,
    pub b: String,
    pub items: u64,
    pub kappa: Measure,
}

/// One-vs-rest alpha of one class.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassAlpha {
    pub class: String,
    pub alpha: Agreement,
}

/// A confusion matrix of one annotator pair (for multi-label projects: of one class,
/// one-vs-rest).
#[derive(Clone, Debug, PartialEq)]
pub struct ConfusionTable {
    pub a: String,
    pub b: String,
    pub items: u64,
    /// The class of a one-vs-rest table (multi-label projects).
    pub class: Option<String>,
    /// Row and column labels.
    pub labels: Vec<String>,
    /// Row = `a`'s label, column = `b`'s.
    pub matrix: Vec<Vec<u64>>,
}

/// Per-class agreement (`--by-class`).
#[derive(Clone, Debug, PartialEq)]
pub struct ByClass {
    pub alpha: Vec<ClassAlpha>,
    pub confusion: Vec<ConfusionTable>,
}

/// What `keylabel agreement` reports.
#[derive(Clone, Debug, PartialEq)]
pub struct AgreementReport {
    pub task: TaskKind,
    /// Samples with at least one rated label (see [`Labels::Rated`]).
    pub items: u64,
    /// Samples a reviewer sent back; the labels the send-back cleared are counted.
    pub sent_back: u64,
    pub annotators: Vec<String>,
    pub percent_agreement: Agreement,
    pub cohen_kappa: Vec<NamedPairKappa>,
    pub fleiss_kappa: Fleiss,
    pub krippendorff_alpha: Agreement,
    pub by_class: Option<ByClass>,
}

/// Computes the agreement report of a project, over what every annotator rated
/// ([`Labels::Rated`]).
pub fn agreement(project: &Project, by_class: bool) -> Result<AgreementReport> {
    Ok(AgreementReport {
        sent_back: project.sent_back_samples()?,
        ..report(&Annotations::load(project, Labels::Rated)?, by_class)
    })
}

/// Computes the agreement report from loaded annotations.
///
/// Single-label projects rate each sample with one category per class. Multi-label
/// projects are rated per class, one-vs-rest: the overall figures pool every (sample,
/// class) decision as one binary unit (item counts still count samples), and `by_class`
/// gives each class alone.
pub fn report(ann: &Annotations, by_class: bool) -> AgreementReport {
    let classes = ann.reported_classes();
    let (ratings, units) = match ann.task {
        TaskKind::SingleLabel => (ann.nominal(), 1u64),
        TaskKind::MultiLabel | TaskKind::Detect => {
            (ann.pooled(&classes), classes.len().max(1) as u64)
        }
    };
    let per_sample = |a: Agreement| Agreement {
        items: a.items / units,
        ..a
    };
    let name = |i: u32| ann.annotators[i as usize].clone();
    let cohen_kappa = cohen_kappa_pairs(&ratings)
        .into_iter()
        .map(|p| NamedPairKappa {
            a: name(p.a),
            b: name(p.b),
            items: p.items / units,
            kappa: p.kappa,
        })
        .collect();
    let fleiss = fleiss_kappa(&ratings);
    let by_class = by_class.then(|| {
        let alpha = classes
            .iter()
            .map(|&p| ClassAlpha {
                class: ann.classes[p].name.clone(),
                alpha: krippendorff_alpha(&ann.one_vs_rest(p)),
            })
            .collect();
        let mut confusion = Vec::new();
        match ann.task {
            TaskKind::SingleLabel => {
                let labels: Vec<String> = (0..ann.sets.len()).map(|s| ann.set_name(s)).collect();
                let k = labels.len();
                for c in confusion_matrices(&ratings) {
                    confusion.push(ConfusionTable {
                        a: name(c.a),
                        b: name(c.b),
                        items: c.items,
                        class: None,
                        labels: labels.clone(),
                        matrix: c.matrix.chunks(k.max(1)).map(<[u64]>::to_vec).collect(),
                    });
                }
            }
            TaskKind::MultiLabel | TaskKind::Detect => {
                for &p in &classes {
                    let cname = ann.classes[p].name.clone();
                    for c in confusion_matrices(&ann.one_vs_rest(p)) {
                        confusion.push(ConfusionTable {
                            a: name(c.a),
                            b: name(c.b),
                            items: c.items,
                            class: Some(cname.clone()),
                            labels: vec![format!("not {cname}"), cname.clone()],
                            matrix: c.matrix.chunks(2).map(<[u64]>::to_vec).collect(),
                        });
                    }
                }
                confusion.sort_by(|x, y| (&x.a, &x.b).cmp(&(&y.a, &y.b)));
            }
        }
        ByClass { alpha, confusion }
    });
    AgreementReport {
        task: ann.task,
        items: ann.samples.len() as u64,
        sent_back: 0,
        annotators: ann.annotators.clone(),
        percent_agreement: per_sample(percent_agreement(&ratings)),
        cohen_kappa,
        fleiss_kappa: Fleiss {
            items: fleiss.items / units,
            ..fleiss
        },
        krippendorff_alpha: per_sample(krippendorff_alpha(&ratings)),
        by_class,
    }
}

/// Inserts `"<key>": value` (null when undefined) and, when undefined, `"<reason_key>"`.
pub(crate) fn put_measure(
    obj: &mut serde_json::Map<String, Value>,
    key: &str,
    reason_key: &str,
    m: &Measure,
) {
    match m {
        Ok(v) => {
            obj.insert(key.into(), json!(v));
        }
        Err(u) => {
            obj.insert(key.into(), Value::Null);
            obj.insert(reason_key.into(), json!(u.reason()));
        }
    }
}

fn agreement_json(a: &Agreement) -> Value {
    let mut o = serde_json::Map::new();
    put_measure(&mut o, "value", "reason", &a.value);
    o.insert("items".into(), json!(a.items));
    Value::Object(o)
}

/// Serialised as the document `agreement --json` prints (see [`AgreementReport::to_json`]).
impl serde::Serialize for AgreementReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl AgreementReport {
    /// The JSON document `agreement --json` prints. Undefined values are `null` with a
    /// `reason` next to them (`percent_agreement_reason` for the top-level number).
    pub fn to_json(&self) -> Value {
        let mut o = serde_json::Map::new();
        o.insert("items".into(), json!(self.items));
        o.insert("sent_back".into(), json!(self.sent_back));
        o.insert("annotators".into(), json!(self.annotators));
        put_measure(
            &mut o,
            "percent_agreement",
            "percent_agreement_reason",
            &self.percent_agreement.value,
        );
        let pairs: Vec<Value> = self
            .cohen_kappa
            .iter()
            .map(|p| {
                let mut m = serde_json::Map::new();
                m.insert("a".into(), json!(p.a));
                m.insert("b".into(), json!(p.b));
                m.insert("items".into(), json!(p.items));
                put_measure(&mut m, "kappa", "reason", &p.kappa);
                Value::Object(m)
            })
            .collect();
        o.insert("cohen_kappa".into(), Value::Array(pairs));
        let mut f = serde_json::Map::new();
        put_measure(&mut f, "value", "reason", &self.fleiss_kappa.value);
        f.insert("items".into(), json!(self.fleiss_kappa.items));
        f.insert("raters".into(), json!(self.fleiss_kappa.raters));
        o.insert("fleiss_kappa".into(), Value::Object(f));
        o.insert(
            "krippendorff_alpha".into(),
            agreement_json(&self.krippendorff_alpha),
        );
        if let Some(bc) = &self.by_class {
            let alpha: Vec<Value> = bc
                .alpha
                .iter()
                .map(|c| json!({"class": c.class, "krippendorff_alpha": agreement_json(&c.alpha)}))
                .collect();
            o.insert("by_class".into(), Value::Array(alpha));
            let conf: Vec<Value> = bc
                .confusion
                .iter()
                .map(|c| {
                    let mut m = serde_json::Map::new();
                    m.insert("a".into(), json!(c.a));
                    m.insert("b".into(), json!(c.b));
                    if let Some(class) = &c.class {
                        m.insert("class".into(), json!(class));
                    }
                    m.insert("items".into(), json!(c.items));
                    m.insert("labels".into(), json!(c.labels));
                    m.insert("matrix".into(), json!(c.matrix));
                    Value::Object(m)
                })
                .collect();
            o.insert("confusion".into(), Value::Array(conf));
        }
        Value::Object(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(m: &Measure, want: f64) {
        let v = m.unwrap_or_else(|u| panic!("undefined: {u}"));
        assert!((v - want).abs() < 1e-12, "{v} != {want}");
    }

    /// Fleiss (1971) as reproduced on Wikipedia's "Fleiss' kappa" page: 10 subjects,
    /// 14 raters, 5 categories, rows are counts per category. κ = 0.210.
    fn fleiss_wikipedia() -> Ratings {
        let table: [[u32; 5]; 10] = [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ];
        let mut r = Ratings::new(14, 5);
        for row in table {
            let mut item = Vec::new();
            for (c, &n) in row.iter().enumerate() {
                for _ in 0..n {
                    item.push(Rating::new(item.len() as u32, c as u32));
                }
            }
            r.push_item(&item).unwrap();
        }
        r
    }

    #[test]
    fn fleiss_matches_the_1971_worked_example() {
        let f = fleiss_kappa(&fleiss_wikipedia());
        assert_eq!((f.items, f.raters), (10, 14));
        // Published: 0.210; statsmodels 0.15.0 fleiss_kappa on the table: 0.20993070442195522.
        close(&f.value, 0.20993070442195522);
        assert_eq!((f.value.unwrap() * 1000.0).round() / 1000.0, 0.210);
        // Wikipedia's P̄ = 0.378; percent agreement is the same quantity.
        let p = percent_agreement(&fleiss_wikipedia());
        assert!((p.value.unwrap() - 0.378).abs() < 5e-4);
    }

    /// Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the example with
    /// missing data: 4 coders, 12 units; nominal α = 0.743.
    fn krippendorff_2011() -> Ratings {
        let n = None;
        let s = Some;
        let coders: [[Option<u32>; 12]; 4] = [
            [
                s(1),
                s(2),
                s(3),
                s(3),
                s(2),
                s(1),
                s(4),
                s(1),
                s(2),
                n,
                n,
                n,
            ],
            [
                s(1),
                s(2),
                s(3),
                s(3),
                s(2),
                s(2),
                s(4),
                s(1),
                s(2),
                s(5),
                n,
                s(3),
            ],
            [
                n,
                s(3),
                s(3),
                s(3),
                s(2),
                s(3),
                s(4),
                s(2),
                s(2),
                s(5),
                s(1),
                n,
            ],
            [
                s(1),
                s(2),
                s(3),
                s(3),
                s(2),
                s(4),
                s(4),
                s(1),
                s(2),
                s(5),
                s(1),
                n,
            ],
        ];
        let rows: Vec<Vec<Option<u32>>> = (0..12)
            .map(|u| (0..4).map(|c| coders[c][u].map(|v| v - 1)).collect())
            .collect();
        Ratings::from_rows(4, 5, &rows).unwrap()
    }

    #[test]
    fn alpha_matches_krippendorffs_nominal_example_with_missing_data() {
        let a = krippendorff_alpha(&krippendorff_2011());
        // Unit 12 has one value and is not pairable.
        assert_eq!(a.items, 11);
        // Published: 0.743; krippendorff 0.9.0: 0.743421052631579 (= 1 − 39/152·…).
        close(&a.value, 0.743421052631579);
        assert_eq!((a.value.unwrap() * 1000.0).round() / 1000.0, 0.743);
    }

    #[test]
    fn cohen_matches_textbook_examples() {
        // Wikipedia "Cohen's kappa": 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no: κ = 0.4.
        let mut pairs = vec![(0, 0); 20];
        pairs.extend(vec![(0, 1); 5]);
        pairs.extend(vec![(1, 0); 10]);
        pairs.extend(vec![(1, 1); 15]);
        let (n, k) = cohen_kappa(pairs.iter().copied(), 2);
        assert_eq!(n, 50);
        close(&k, 0.4);
        // scikit-learn's docstring: negative/positive/neutral, κ = 0.6875.
        let a = [0, 1, 0, 2, 1];
        let b = [0, 1, 0, 2, 0];
        let (_, k) = cohen_kappa(a.into_iter().zip(b), 3);
        close(&k, 0.6875);
        // The same through the per-pair function over a ratings table.
        let rows: Vec<Vec<Option<u32>>> = a
            .iter()
            .zip(&b)
            .map(|(&x, &y)| vec![Some(x), Some(y)])
            .collect();
        let pk = cohen_kappa_pairs(&Ratings::from_rows(2, 3, &rows).unwrap());
        assert_eq!(pk.len(), 1);
        assert_eq!(pk[0].items, 5);
        close(&pk[0].kappa, 0.6875);
    }

    /// Values computed with scikit-learn 1.9.1, statsmodels 0.15.0 and krippendorff 0.9.0
    /// on this fixed table (3 raters, 4 categories, missing ratings, varying counts).
    #[test]
    fn matches_reference_libraries_on_a_mixed_table() {
        let n = None;
        let s = Some;
        let rows: Vec<Vec<Option<u32>>> = vec![
            vec![s(0), s(0), s(1)],
            vec![s(1), s(1), s(1)],
            vec![s(2), s(3), n],
            vec![n, s(2), s(2)],
            vec![s(0), s(0), s(0)],
            vec![s(3), n, n],
            vec![s(1), s(2), s(1)],
            vec![s(2), s(2), s(3)],
            vec![s(0), s(1), s(2)],
            vec![s(3), s(3), n],
        ];
        let r = Ratings::from_rows(3, 4, &rows).unwrap();
        let pk = cohen_kappa_pairs(&r);
        assert_eq!(
            pk.iter().map(|p| p.items).collect::<Vec<_>>(),
            vec![8, 6, 7]
        );
        close(&pk[0].kappa, REF_MIXED_COHEN[0]);
        close(&pk[1].kappa, REF_MIXED_COHEN[1]);
        close(&pk[2].kappa, REF_MIXED_COHEN[2]);
        let f = fleiss_kappa(&r);
        assert_eq!((f.items, f.raters), (6, 3));
        close(&f.value, REF_MIXED_FLEISS);
        let a = krippendorff_alpha(&r);
        assert_eq!(a.items, 9);
        close(&a.value, REF_MIXED_ALPHA);
        close(&percent_agreement(&r).value, REF_MIXED_PERCENT);
    }

    const REF_MIXED_COHEN: [f64; 3] = [0.5, 0.3076923076923076, 0.19999999999999996];
    const REF_MIXED_FLEISS: f64 = 0.2702702702702703;
    const REF_MIXED_ALPHA: f64 = 0.4061032863849765;
    const REF_MIXED_PERCENT: f64 = 0.5555555555555556;

    #[test]
    fn undefined_values_carry_a_reason() {
        // One class only.
        let rows = vec![vec![Some(1), Some(1)], vec![Some(1), Some(1)]];
        let r = Ratings::from_rows(2, 3, &rows).unwrap();
        assert_eq!(krippendorff_alpha(&r).value, Err(Undefined::NoVariation));
        assert_eq!(fleiss_kappa(&r).value, Err(Undefined::NoVariation));
        assert_eq!(cohen_kappa_pairs(&r)[0].kappa, Err(Undefined::NoVariation));
        close(&percent_agreement(&r).value, 1.0);
        // One rater per item: nothing is pairable.
        let rows = vec![vec![Some(0), None], vec![None, Some(1)]];
        let r = Ratings::from_rows(2, 2, &rows).unwrap();
        assert_eq!(
            krippendorff_alpha(&r).value,
            Err(Undefined::NoPairableItems)
        );
        assert_eq!(fleiss_kappa(&r).value, Err(Undefined::NoPairableItems));
        assert_eq!(percent_agreement(&r).value, Err(Undefined::NoPairableItems));
        assert_eq!(
            cohen_kappa_pairs(&r)[0].kappa,
            Err(Undefined::NoSharedItems)
        );
        assert_eq!(cohen_kappa_pairs(&r)[0].items, 0);
        // No ratings at all.
        let r = Ratings::new(0, 0);
        assert_eq!(
            krippendorff_alpha(&r).value,
            Err(Undefined::NoPairableItems)
        );
        assert!(cohen_kappa_pairs(&r).is_empty());
    }

    #[test]
    fn total_disagreement_and_a_constant_rater() {
        // Two raters who never agree, over two categories: κ = −1, α = −0.5 + …
        let rows = vec![vec![Some(0), Some(1)], vec![Some(1), Some(0)]];
        let r = Ratings::from_rows(2, 2, &rows).unwrap();
        close(&cohen_kappa_pairs(&r)[0].kappa, -1.0);
        close(&percent_agreement(&r).value, 0.0);
        // α = 1 − (n−1)·D_o/D_e = 1 − 3·4/8 = −0.5.
        close(&krippendorff_alpha(&r).value, -0.5);
        // A rater who always says 0 against one who varies: κ = 0.
        let rows = vec![
            vec![Some(0), Some(0)],
            vec![Some(0), Some(1)],
            vec![Some(0), Some(1)],
        ];
        let r = Ratings::from_rows(2, 2, &rows).unwrap();
        close(&cohen_kappa_pairs(&r)[0].kappa, 0.0);
    }

    #[test]
    fn malformed_items_are_refused() {
        let mut r = Ratings::new(2, 2);
        assert_eq!(
            r.push_item(&[Rating::new(0, 0), Rating::new(0, 1)]),
            Err(RatingsError::DuplicateRater { rater: 0 })
        );
        assert!(r.push_item(&[Rating::new(2, 0)]).is_err());
        assert!(r.push_item(&[Rating::new(0, 2)]).is_err());
        assert_eq!(r.items(), 0);
    }
}
