//! How well annotators agree on boxes (`agreement --json` on a detect project): for each
//! pair of annotators, over the images both decided, their boxes are matched one to one
//! (same class, IoU at least the threshold, greedily by descending IoU; see
//! [`match_boxes`]). `f1 = 2·matched / (boxes of a + boxes of b)`, summed over those
//! images; `mean_iou` is the mean IoU of the matches.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::agreement::{Measure, Undefined, put_measure};
use crate::project::boxes::{self, BoundingBox, match_boxes};
use crate::project::{ClassId, Project, Result, SampleId};

/// The IoU a match needs unless `--iou` says otherwise (PASCAL VOC's and COCO's AP50).
pub const DEFAULT_IOU: f64 = 0.5;

/// One pair of annotators.
#[derive(Clone, Debug, PartialEq)]
pub struct BoxPair {
    pub a: String,
    pub b: String,
    /// Images both decided.
    pub images: u64,
    pub matched: u64,
    /// Boxes of `a` (of `b`) that matched none of the other's.
    pub only_a: u64,
    pub only_b: u64,
    pub f1: Measure,
    pub mean_iou: Measure,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BoxAgreement {
    pub iou_threshold: f64,
    /// Every pair of annotators who decided an image in common, by name.
    pub pairs: Vec<BoxPair>,
}

#[derive(Default)]
struct Tally {
    images: u64,
    matched: u64,
    boxes_a: u64,
    boxes_b: u64,
    iou_sum: f64,
}

/// Box agreement of every pair of annotators of a detect project.
pub fn box_agreement(project: &Project, iou_threshold: f64) -> Result<BoxAgreement> {
    let mut stmt = project.conn().prepare(
        "SELECT sample_id, annotator, boxes FROM annotations \
         WHERE state = 'labeled' AND boxes IS NOT NULL ORDER BY sample_id, annotator",
    )?;
    let mut rows = stmt.query([])?;
    let mut tallies: BTreeMap<(String, String), Tally> = BTreeMap::new();
    let mut image: Vec<(String, Vec<BoundingBox>)> = Vec::new();
    let mut current: Option<SampleId> = None;
    let mut add = |image: &mut Vec<(String, Vec<BoundingBox>)>| {
        for (i, (a, boxes_a)) in image.iter().enumerate() {
            for (b, boxes_b) in &image[i + 1..] {
                let t = tallies.entry((a.clone(), b.clone())).or_default();
                let matches = match_boxes(boxes_a, boxes_b, iou_threshold);
                t.images += 1;
                t.matched += matches.len() as u64;
                t.boxes_a += boxes_a.len() as u64;
                t.boxes_b += boxes_b.len() as u64;
                t.iou_sum += matches.iter().map(|m| m.iou).sum::<f64>();
            }
        }
        image.clear();
    };
    while let Some(r) = rows.next()? {
        let sample: SampleId = r.get(0)?;
        if current != Some(sample) {
            add(&mut image);
            current = Some(sample);
        }
        let json: String = r.get(2)?;
        let found = boxes::from_json(&json, "annotations", format!("sample {sample}"))?;
        image.push((r.get(1)?, found));
    }
    add(&mut image);
    let pairs = tallies
        .into_iter()
        .map(|((a, b), t)| {
            let all = t.boxes_a + t.boxes_b;
            BoxPair {
                a,
                b,
                images: t.images,
                matched: t.matched,
                only_a: t.boxes_a - t.matched,
                only_b: t.boxes_b - t.matched,
                f1: if all == 0 {
                    Err(Undefined::NoBoxes)
                } else {
                    Ok(2.0 * t.matched as f64 / all as f64)
                },
                mean_iou: if t.matched == 0 {
                    Err(Undefined::NoMatchedBoxes)
                } else {
                    Ok(t.iou_sum / t.matched as f64)
                },
            }
        })
        .collect();
    Ok(BoxAgreement {
        iou_threshold,
        pairs,
    })
}

impl BoxAgreement {
    /// `{"iou_threshold", "pairs": [{"a", "b", "images", "matched", "only_a", "only_b",
    /// "f1", "mean_iou"}]}`; an undefined value is `null` with `f1_reason` or
    /// `mean_iou_reason` beside it.
    pub fn to_json(&self) -> Value {
        let pairs: Vec<Value> = self
            .pairs
            .iter()
            .map(|p| {
                let mut m = serde_json::Map::new();
                m.insert("a".into(), json!(p.a));
                m.insert("b".into(), json!(p.b));
                m.insert("images".into(), json!(p.images));
                m.insert("matched".into(), json!(p.matched));
                m.insert("only_a".into(), json!(p.only_a));
                m.insert("only_b".into(), json!(p.only_b));
                put_measure(&mut m, "f1", "f1_reason", &p.f1);
                put_measure(&mut m, "mean_iou", "mean_iou_reason", &p.mean_iou);
                Value::Object(m)
            })
            .collect();
        json!({"iou_threshold": self.iou_threshold, "pairs": pairs})
    }
}

/// How one annotator's boxes compare with the final boxes of the images they decided
/// (`annotators` on a detect project: the detect form of kappa against the final labels),
/// matched as in [`box_agreement`]: `f1 = 2·matched / (boxes given + final boxes)`.
#[derive(Clone, Debug, PartialEq)]
pub struct VsFinal {
    /// Images the annotator decided that have final boxes.
    pub images: u64,
    /// Boxes the annotator drew on them, and the final boxes there.
    pub given: u64,
    pub in_final: u64,
    pub matched: u64,
    pub f1: Measure,
    pub mean_iou: Measure,
    /// Boxes of the annotator that match no final box of their class but one of another
    /// class (same IoU threshold): (given class, final class) → how often.
    pub confused: BTreeMap<(ClassId, ClassId), u64>,
}

/// [`VsFinal`] of every annotator who decided an image of a detect project that has final
/// boxes (under the project's consensus policy), by name.
pub fn vs_final(project: &Project, iou_threshold: f64) -> Result<BTreeMap<String, VsFinal>> {
    let finals = project.final_boxes(project.settings()?.consensus)?;
    let mut stmt = project.conn().prepare(
        "SELECT sample_id, annotator, boxes FROM annotations \
         WHERE state = 'labeled' AND boxes IS NOT NULL",
    )?;
    let mut rows = stmt.query([])?;
    #[derive(Default)]
    struct Tally {
        images: u64,
        given: u64,
        in_final: u64,
        matched: u64,
        iou_sum: f64,
        confused: BTreeMap<(ClassId, ClassId), u64>,
    }
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    while let Some(r) = rows.next()? {
        let sample: SampleId = r.get(0)?;
        let Some(fin) = finals.get(&sample) else {
            continue;
        };
        let given = boxes::from_json(
            &r.get::<_, String>(2)?,
            "annotations",
            format!("sample {sample}"),
        )?;
        let t = tallies.entry(r.get(1)?).or_default();
        let matches = match_boxes(&given, fin, iou_threshold);
        t.images += 1;
        t.given += given.len() as u64;
        t.in_final += fin.len() as u64;
        t.matched += matches.len() as u64;
        t.iou_sum += matches.iter().map(|m| m.iou).sum::<f64>();
        // The boxes left on both sides, matched whatever their class: a box put on the
        // right object under the wrong class.
        let unmatched =
            |set: &[BoundingBox], taken: &dyn Fn(usize) -> bool| -> Vec<(usize, BoundingBox)> {
                set.iter()
                    .enumerate()
                    .filter(|(i, _)| !taken(*i))
                    .map(|(i, b)| {
                        (
                            i,
                            BoundingBox {
                                class: ClassId(0),
                                ..*b
                            },
                        )
                    })
                    .collect()
            };
        let left_given = unmatched(&given, &|i| matches.iter().any(|m| m.a == i));
        let left_final = unmatched(fin, &|i| matches.iter().any(|m| m.b == i));
        let strip = |v: &[(usize, BoundingBox)]| v.iter().map(|(_, b)| *b).collect::<Vec<_>>();
        for m in match_boxes(&strip(&left_given), &strip(&left_final), iou_threshold) {
            let g = given[left_given[m.a].0].class;
            let f = fin[left_final[m.b].0].class;
            *t.confused.entry((g, f)).or_default() += 1;
        }
    }
    Ok(tallies
        .into_iter()
        .map(|(name, t)| {
            let all = t.given + t.in_final;
            let f1 = if all == 0 {
                Err(Undefined::NoBoxesVsFinal)
            } else {
                Ok(2.0 * t.matched as f64 / all as f64)
            };
            let mean_iou = if t.matched == 0 {
                Err(Undefined::NoMatchedFinalBoxes)
            } else {
                Ok(t.iou_sum / t.matched as f64)
            };
            let v = VsFinal {
                images: t.images,
                given: t.given,
                in_final: t.in_final,
                matched: t.matched,
                f1,
                mean_iou,
                confused: t.confused,
            };
            (name, v)
        })
        .collect())
}

impl VsFinal {
    /// `{"iou_threshold", "images", "given", "final", "matched", "f1", "mean_iou"}`, an
    /// undefined value `null` with `f1_reason` or `mean_iou_reason` beside it.
    pub fn to_json(&self, iou_threshold: f64) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("iou_threshold".into(), json!(iou_threshold));
        m.insert("images".into(), json!(self.images));
        m.insert("given".into(), json!(self.given));
        m.insert("final".into(), json!(self.in_final));
        m.insert("matched".into(), json!(self.matched));
        put_measure(&mut m, "f1", "f1_reason", &self.f1);
        put_measure(&mut m, "mean_iou", "mean_iou_reason", &self.mean_iou);
        Value::Object(m)
    }
}
