//! Dawid–Skene (1979): each annotator's confusion matrix and the true class of each item,
//! estimated together by expectation–maximisation.
//!
//! An annotator who systematically mixes two classes up still carries information; majority
//! vote throws it away, Dawid–Skene uses it. The posterior probability of the chosen class
//! is the item's confidence.

use super::agreement::Ratings;

/// Knobs of the EM iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// Upper bound on EM rounds; the estimate after the last round is used. EM converges
    /// linearly and slowly when a rater is adversarial (a few hundred rounds).
    pub max_iterations: usize,
    /// Converged when no posterior moves by more than this in a round.
    pub tolerance: f64,
    /// Pseudo-count added to every confusion-matrix cell and class prior, so that a cell
    /// never seen in the data does not become probability 0 (and its log −∞).
    pub smoothing: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_iterations: 1000,
            tolerance: 1e-6,
            smoothing: 0.01,
        }
    }
}

/// The outcome of [`dawid_skene`].
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    pub categories: usize,
    /// `items × categories`: the probability of each true category per item.
    pub posteriors: Vec<f64>,
    /// Prior probability of each true category.
    pub priors: Vec<f64>,
    /// `raters × categories × categories`: P(rater says column | truth is row).
    pub confusion: Vec<f64>,
    pub iterations: usize,
    pub converged: bool,
}

impl Estimate {
    /// Item `i`'s posterior over the categories.
    pub fn posterior(&self, i: usize) -> &[f64] {
        &self.posteriors[i * self.categories..(i + 1) * self.categories]
    }

    /// The most probable category of item `i` and its posterior; `None` when the item has
    /// no category or two categories are equally probable (a tie is left to a reviewer).
    pub fn best(&self, i: usize) -> Option<(u32, f64)> {
        let p = self.posterior(i);
        let mut best: Option<(usize, f64)> = None;
        let mut tie = false;
        for (c, &v) in p.iter().enumerate() {
            match best {
                Some((_, b)) if (v - b).abs() <= 1e-12 => tie = true,
                Some((_, b)) if v < b => {}
                _ => {
                    best = Some((c, v));
                    tie = false;
                }
            }
        }
        match best {
            Some((c, v)) if !tie => Some((c as u32, v)),
            _ => None,
        }
    }
}

/// Estimates the true category of every item of `ratings`. `known[i]`, when given, is the
/// item's true category (a reviewer's decision): it is held fixed and teaches the model
/// about the raters. The EM starts from the vote shares (soft majority vote), as Dawid and
/// Skene propose.
pub fn dawid_skene(ratings: &Ratings, known: &[Option<u32>], options: Options) -> Estimate {
    let k = ratings.categories();
    let r = ratings.raters();
    let n = ratings.items();
    let s = options.smoothing.max(0.0);
    let mut post = vec![0.0f64; n * k];
    for (i, item) in ratings.iter().enumerate() {
        let row = &mut post[i * k..(i + 1) * k];
        if let Some(Some(c)) = known.get(i)
            && (*c as usize) < k
        {
            row[*c as usize] = 1.0;
            continue;
        }
        if item.is_empty() {
            row.iter_mut().for_each(|v| *v = 1.0 / k as f64);
            continue;
        }
        for rt in item {
            row[rt.category as usize] += 1.0 / item.len() as f64;
        }
    }
    let mut priors = vec![0.0f64; k];
    let mut confusion = vec![0.0f64; r * k * k];
    let mut iterations = 0;
    let mut converged = k == 0;
    let mut log_conf = vec![0.0f64; r * k * k];
    let mut scratch = vec![0.0f64; k];
    while iterations < options.max_iterations && !converged {
        iterations += 1;
        // M-step: priors and confusion matrices from the current posteriors.
        priors.iter_mut().for_each(|p| *p = s);
        confusion.iter_mut().for_each(|c| *c = s);
        for (i, item) in ratings.iter().enumerate() {
            let row = &post[i * k..(i + 1) * k];
            for (p, v) in priors.iter_mut().zip(row) {
                *p += v;
            }
            for rt in item {
                let base = rt.rater as usize * k * k + rt.category as usize;
                for (t, v) in row.iter().enumerate() {
                    confusion[base + t * k] += v;
                }
            }
        }
        let total: f64 = priors.iter().sum();
        priors.iter_mut().for_each(|p| *p /= total);
        for rater in confusion.chunks_mut(k * k) {
            for truth in rater.chunks_mut(k) {
                let sum: f64 = truth.iter().sum();
                truth.iter_mut().for_each(|c| *c /= sum);
            }
        }
        for (l, c) in log_conf.iter_mut().zip(&confusion) {
            *l = c.ln();
        }
        // E-step: posteriors from the priors and the confusion matrices, in log space.
        let mut change = 0.0f64;
        for (i, item) in ratings.iter().enumerate() {
            if matches!(known.get(i), Some(Some(c)) if (*c as usize) < k) {
                continue;
            }
            for (t, v) in scratch.iter_mut().enumerate() {
                *v = priors[t].ln();
            }
            for rt in item {
                let base = rt.rater as usize * k * k + rt.category as usize;
                for (t, v) in scratch.iter_mut().enumerate() {
                    *v += log_conf[base + t * k];
                }
            }
            let max = scratch.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = scratch.iter().map(|v| (v - max).exp()).sum();
            let row = &mut post[i * k..(i + 1) * k];
            for (p, v) in row.iter_mut().zip(&scratch) {
                let new = (v - max).exp() / sum;
                change = change.max((new - *p).abs());
                *p = new;
            }
        }
        converged = change <= options.tolerance;
    }
    Estimate {
        categories: k,
        posteriors: post,
        priors,
        confusion,
        iterations,
        converged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::agreement::Rating;

    #[test]
    fn recovers_truth_better_than_majority_with_an_adversarial_annotator() {
        let k = 3u32;
        let items = 3000;
        let mut rng = keylabel_testkit::Rng::new(7);
        let mut truth = Vec::new();
        let mut ratings = Ratings::new(3, k as usize);
        for _ in 0..items {
            let t = rng.below(k);
            truth.push(t);
            let noisy = |rng: &mut keylabel_testkit::Rng, acc: f64| {
                if rng.unit() < acc {
                    t
                } else {
                    (t + 1 + rng.below(k - 1)) % k
                }
            };
            let a = noisy(&mut rng, 0.7);
            let b = noisy(&mut rng, 0.7);
            // The adversary is reliable but maps every class to the next one.
            let c = (noisy(&mut rng, 0.95) + 1) % k;
            ratings
                .push_item(&[Rating::new(0, a), Rating::new(1, b), Rating::new(2, c)])
                .unwrap();
        }
        let mut majority_right = 0;
        for (i, item) in ratings.iter().enumerate() {
            let mut votes = [0; 3];
            for r in item {
                votes[r.category as usize] += 1;
            }
            if let Some(c) = (0..3).find(|&c| 2 * votes[c] > 3)
                && c as u32 == truth[i]
            {
                majority_right += 1;
            }
        }
        let est = dawid_skene(&ratings, &[], Options::default());
        assert!(est.converged, "{} iterations", est.iterations);
        let ds_right = (0..items)
            .filter(|&i| est.best(i).map(|(c, _)| c) == Some(truth[i]))
            .count();
        let majority = majority_right as f64 / items as f64;
        let ds = ds_right as f64 / items as f64;
        assert!(ds > 0.9, "Dawid–Skene accuracy {ds}");
        assert!(
            ds > majority + 0.2,
            "Dawid–Skene {ds} vs majority {majority}"
        );
        // The adversary's learned confusion matrix puts its mass one class to the right.
        for t in 0..3 {
            let row = &est.confusion[2 * 9 + t * 3..2 * 9 + t * 3 + 3];
            assert!(row[(t + 1) % 3] > 0.85, "{row:?}");
        }
        // Confidences are probabilities.
        for i in 0..items {
            let p: f64 = est.posterior(i).iter().sum();
            assert!((p - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn known_items_stay_fixed_and_ties_are_not_resolved() {
        let mut r = Ratings::new(2, 2);
        r.push_item(&[Rating::new(0, 0), Rating::new(1, 1)])
            .unwrap();
        r.push_item(&[Rating::new(0, 1), Rating::new(1, 1)])
            .unwrap();
        let est = dawid_skene(&r, &[Some(1), None], Options::default());
        assert_eq!(est.posterior(0), &[0.0, 1.0]);
        assert_eq!(est.best(1).map(|(c, _)| c), Some(1));
        // A symmetric item: one rater each way, nothing else to learn from.
        let mut r = Ratings::new(2, 2);
        r.push_item(&[Rating::new(0, 0), Rating::new(1, 1)])
            .unwrap();
        r.push_item(&[Rating::new(0, 1), Rating::new(1, 0)])
            .unwrap();
        let est = dawid_skene(&r, &[], Options::default());
        assert_eq!(est.best(0), None);
    }
}
