//! Boxes of a detect project: what one box is, how a set of them is stored, and how two
//! sets are compared (IoU and the one-to-one matching that agreement and consensus use).
//!
//! A box is in pixels of the image as stored in its file (the frame TensorFlow's
//! `decode_image` and COCO tools see, whatever the EXIF orientation says), in continuous
//! coordinates: the image's top-left corner is (0, 0), and a box over exactly the first
//! pixel is `x = 0, w = 1`.

use std::fmt::Display;

use serde::{Deserialize, Serialize};

use super::ClassId;
use super::stored::UnknownValue;

/// One box: a class and a rectangle, with a model's score when it is a suggestion.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundingBox {
    pub class: ClassId,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

impl BoundingBox {
    pub fn new(class: ClassId, x: f64, y: f64, w: f64, h: f64) -> BoundingBox {
        BoundingBox {
            class,
            x,
            y,
            w,
            h,
            score: None,
        }
    }

    /// The area in pixels (0 for a degenerate box).
    pub fn area(&self) -> f64 {
        self.w.max(0.0) * self.h.max(0.0)
    }

    /// Intersection over union with `other` (0 when either is degenerate).
    pub fn iou(&self, other: &BoundingBox) -> f64 {
        let iw = (self.x + self.w).min(other.x + other.w) - self.x.max(other.x);
        let ih = (self.y + self.h).min(other.y + other.h) - self.y.max(other.y);
        if iw <= 0.0 || ih <= 0.0 {
            return 0.0;
        }
        let inter = iw * ih;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// Why the box cannot be stored at all, if so: a coordinate or score that is not a
    /// finite number. (Boxes outside the image or of zero size are stored, and named by
    /// validation.)
    pub fn unstorable(&self) -> Option<String> {
        let fields = [("x", self.x), ("y", self.y), ("w", self.w), ("h", self.h)];
        for (name, v) in fields {
            if !v.is_finite() {
                return Some(format!("its {name} is {v}, not a finite number"));
            }
        }
        match self.score {
            Some(s) if !s.is_finite() => Some(format!("its score is {s}, not a finite number")),
            _ => None,
        }
    }
}

/// The distinct classes of a set of boxes, sorted: the event's `labels` column, so that the
/// class-level views (counts, filters, agreement on which classes an image shows) read
/// detect decisions as they read multi-label ones.
pub fn classes_of(boxes: &[BoundingBox]) -> Vec<ClassId> {
    let mut classes: Vec<ClassId> = boxes.iter().map(|b| b.class).collect();
    classes.sort_unstable();
    classes.dedup();
    classes
}

/// The stored text of a set of boxes: a JSON array, in the annotator's order.
pub(crate) fn to_json(boxes: &[BoundingBox]) -> String {
    serde_json::to_string(boxes).expect("finite boxes serialise")
}

/// A stored set of boxes.
pub(crate) fn from_json(
    json: &str,
    table: &'static str,
    row: impl Display,
) -> Result<Vec<BoundingBox>, UnknownValue> {
    let unknown = || UnknownValue {
        table,
        row: row.to_string(),
        what: "a box list",
        value: json.chars().take(200).collect(),
    };
    let boxes: Vec<BoundingBox> = serde_json::from_str(json).map_err(|_| unknown())?;
    if boxes.iter().any(|b| b.unstorable().is_some()) {
        return Err(unknown());
    }
    Ok(boxes)
}

/// The boxes an image's decisions settle on, when they settle: the reviewer's when there is
/// a review, else those of the one annotator who labeled it, else those every annotator
/// gave alike. `None` while several annotators disagree (consensus or a reviewer decides).
/// An empty set is a decision: the image shows no objects.
pub fn settled<'a>(
    review: Option<&'a [BoundingBox]>,
    labeled: &[&'a [BoundingBox]],
) -> Option<&'a [BoundingBox]> {
    if let Some(review) = review {
        return Some(review);
    }
    let (first, rest) = labeled.split_first()?;
    rest.iter().all(|other| other == first).then_some(*first)
}

/// The IoU at which boxes of several annotators count as the same object for consensus.
pub const CONSENSUS_IOU: f64 = 0.5;

/// The boxes an image's decisions give under `policy`: [`settled`] when they settle;
/// else, with several annotators, their consensus. Boxes of one class are matched across
/// annotators (each annotator's boxes against the objects found so far, one to one at IoU
/// ≥ [`CONSENSUS_IOU`], in the order given); an object drawn by more than half of them is
/// kept, as the mean of their boxes, and one drawn by fewer is dropped. `unanimous` needs
/// every object drawn by everyone (`majority` and `dawid-skene` take the majority). `None`
/// (a disagreement for the reviewer) on a tie, or when unanimity is missing.
pub fn final_boxes(
    review: Option<&[BoundingBox]>,
    labeled: &[&[BoundingBox]],
    policy: super::ConsensusPolicy,
) -> Option<Vec<BoundingBox>> {
    if let Some(b) = settled(review, labeled) {
        return Some(b.to_vec());
    }
    if labeled.len() < 2 {
        return None;
    }
    consensus(labeled, policy == super::ConsensusPolicy::Unanimous)
}

fn consensus(sets: &[&[BoundingBox]], unanimous: bool) -> Option<Vec<BoundingBox>> {
    struct Object {
        members: Vec<BoundingBox>,
        mean: BoundingBox,
    }
    let mean = |members: &[BoundingBox]| {
        let n = members.len() as f64;
        let sum = |f: fn(&BoundingBox) -> f64| members.iter().map(f).sum::<f64>() / n;
        BoundingBox::new(
            members[0].class,
            sum(|b| b.x),
            sum(|b| b.y),
            sum(|b| b.w),
            sum(|b| b.h),
        )
    };
    let mut objects: Vec<Object> = Vec::new();
    for set in sets {
        let found: Vec<BoundingBox> = objects.iter().map(|o| o.mean).collect();
        let matches = match_boxes(set, &found, CONSENSUS_IOU);
        let mut taken = vec![false; set.len()];
        for m in &matches {
            let o = &mut objects[m.b];
            o.members.push(set[m.a]);
            o.mean = mean(&o.members);
            taken[m.a] = true;
        }
        for (b, _) in set.iter().zip(&taken).filter(|(_, t)| !**t) {
            objects.push(Object {
                members: vec![BoundingBox { score: None, ..*b }],
                mean: BoundingBox { score: None, ..*b },
            });
        }
    }
    let n = sets.len();
    let mut out = Vec::new();
    for o in objects {
        let k = o.members.len();
        if unanimous && k < n || 2 * k == n {
            return None;
        }
        if 2 * k > n {
            out.push(o.mean);
        }
    }
    Some(out)
}

/// One pair of matched boxes: indices into the two sets, and their IoU.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Match {
    pub a: usize,
    pub b: usize,
    pub iou: f64,
}

/// Matches boxes of `a` to boxes of `b` one to one: only boxes of the same class, only
/// pairs with IoU ≥ `threshold`, greedily by descending IoU (ties by position, so the
/// result does not depend on anything but the two lists). Sorted by `a`.
pub fn match_boxes(a: &[BoundingBox], b: &[BoundingBox], threshold: f64) -> Vec<Match> {
    let mut pairs = Vec::new();
    for (i, p) in a.iter().enumerate() {
        for (j, q) in b.iter().enumerate() {
            if p.class != q.class {
                continue;
            }
            let iou = p.iou(q);
            if iou >= threshold && iou > 0.0 {
                pairs.push(Match { a: i, b: j, iou });
            }
        }
    }
    pairs.sort_by(|x, y| {
        y.iou
            .total_cmp(&x.iou)
            .then(x.a.cmp(&y.a))
            .then(x.b.cmp(&y.b))
    });
    let (mut used_a, mut used_b) = (vec![false; a.len()], vec![false; b.len()]);
    let mut matched = Vec::new();
    for m in pairs {
        if !used_a[m.a] && !used_b[m.b] {
            used_a[m.a] = true;
            used_b[m.b] = true;
            matched.push(m);
        }
    }
    matched.sort_by_key(|m| m.a);
    matched
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(class: i64, x: f64, y: f64, w: f64, h: f64) -> BoundingBox {
        BoundingBox::new(ClassId(class), x, y, w, h)
    }

    #[test]
    fn iou_of_known_overlaps() {
        let a = bx(1, 0.0, 0.0, 10.0, 10.0);
        assert_eq!(a.iou(&a), 1.0);
        // Half of `a` overlapped by a box of the same size: 50 / 150.
        assert!((a.iou(&bx(1, 5.0, 0.0, 10.0, 10.0)) - 1.0 / 3.0).abs() < 1e-12);
        // Touching edges do not overlap.
        assert_eq!(a.iou(&bx(1, 10.0, 0.0, 5.0, 5.0)), 0.0);
        // A degenerate box overlaps nothing.
        assert_eq!(a.iou(&bx(1, 2.0, 2.0, 0.0, 4.0)), 0.0);
        assert_eq!(
            bx(1, 0.0, 0.0, 0.0, 0.0).iou(&bx(1, 0.0, 0.0, 0.0, 0.0)),
            0.0
        );
    }

    #[test]
    fn matching_is_one_to_one_by_class_and_best_first() {
        let a = [
            bx(1, 0.0, 0.0, 10.0, 10.0),
            bx(1, 1.0, 0.0, 10.0, 10.0),
            bx(2, 0.0, 0.0, 10.0, 10.0),
        ];
        // b[0] overlaps a[1] best (IoU 1), a[0] second; b[1] is of class 2 exactly on a[2].
        let b = [bx(1, 1.0, 0.0, 10.0, 10.0), bx(2, 0.0, 0.0, 10.0, 10.0)];
        let m = match_boxes(&a, &b, 0.5);
        assert_eq!(
            m.iter().map(|m| (m.a, m.b)).collect::<Vec<_>>(),
            vec![(1, 0), (2, 1)]
        );
        // Another class never matches, however well it overlaps.
        assert!(
            match_boxes(
                &[bx(1, 0.0, 0.0, 4.0, 4.0)],
                &[bx(2, 0.0, 0.0, 4.0, 4.0)],
                0.5
            )
            .is_empty()
        );
        // Below the threshold: no match.
        assert!(match_boxes(&a[..1], &[bx(1, 5.0, 0.0, 10.0, 10.0)], 0.5).is_empty());
        assert_eq!(
            match_boxes(&a[..1], &[bx(1, 5.0, 0.0, 10.0, 10.0)], 0.3).len(),
            1
        );
    }

    #[test]
    fn consensus_keeps_what_a_majority_drew_and_leaves_ties_to_a_reviewer() {
        use crate::project::ConsensusPolicy::{Majority, Unanimous};
        let car = |x: f64| bx(1, x, 0.0, 10.0, 10.0);
        let (a, b, c) = (
            [car(0.0), bx(2, 50.0, 50.0, 5.0, 5.0)],
            [car(2.0)],
            [car(1.0)],
        );
        // Three annotators: the car by all (averaged), the dog by one (dropped).
        let got = final_boxes(None, &[&a, &b, &c], Majority).unwrap();
        assert_eq!(got, vec![car(1.0)]);
        // Unanimity needs the dog too.
        assert_eq!(final_boxes(None, &[&a, &b, &c], Unanimous), None);
        // Two annotators, one box apart: a tie.
        assert_eq!(final_boxes(None, &[&a, &b], Majority), None);
        // Two who drew the same objects a little differently agree, even unanimously.
        assert_eq!(
            final_boxes(None, &[&b, &c], Unanimous).unwrap(),
            vec![car(1.5)]
        );
        // A review decides; one annotator decides alone; "no objects" alike is agreement.
        assert_eq!(
            final_boxes(Some(&a), &[&b, &c], Majority).unwrap(),
            a.to_vec()
        );
        assert_eq!(final_boxes(None, &[&a], Majority).unwrap(), a.to_vec());
        assert_eq!(final_boxes(None, &[&[], &[]], Unanimous).unwrap(), vec![]);
    }

    #[test]
    fn stored_boxes_round_trip_and_bad_ones_are_named() {
        let boxes = vec![
            bx(3, 0.0, 0.5, 1.0, 2.25),
            BoundingBox {
                score: Some(0.875),
                ..bx(1, 10.0, 20.0, 30.0, 40.0)
            },
        ];
        let json = to_json(&boxes);
        assert_eq!(from_json(&json, "events", "event x").unwrap(), boxes);
        assert_eq!(classes_of(&boxes), vec![ClassId(1), ClassId(3)]);
        for bad in [
            "{",
            r#"[{"class": 1, "x": 0, "y": 0, "w": 1}]"#,
            r#"[{"class": 1, "x": 0, "y": 0, "w": 1, "h": 1, "colour": 2}]"#,
            r#"[{"class": "car", "x": 0, "y": 0, "w": 1, "h": 1}]"#,
            r#"[{"class": 1, "x": 1e999, "y": 0, "w": 1, "h": 1}]"#,
        ] {
            let e = from_json(bad, "events", "event 7").unwrap_err();
            assert_eq!(
                (e.table, e.row.as_str(), e.what),
                ("events", "event 7", "a box list")
            );
        }
        assert!(
            bx(1, f64::NAN, 0.0, 1.0, 1.0)
                .unstorable()
                .unwrap()
                .contains("x is NaN")
        );
    }
}
