//! Checks of a detect project's boxes, the final boxes an export would write (a review,
//! one annotator's, or the consensus of several: [`Project::final_boxes`]): images whose
//! annotators disagree (`UNRESOLVED_DISAGREEMENTS`), boxes against their image's stored
//! size (`BOX_OUT_OF_BOUNDS`, `DEGENERATE_BOX`), against each other (`DUPLICATE_BOXES`) and
//! against the other boxes of their class (`TINY_BOXES`, `BOX_SIZE_OUTLIERS`).
//!
//! Boxes are in the stored pixel frame (see [`crate::project::boxes`]), so the image size
//! they are checked against is the stored one, as a decoder of the exported bytes sees it.

use std::collections::BTreeMap;

use super::{Finding, Options, Severity, names_of, plural, scope_condition};
use crate::project::{BoundingBox, ClassId, Project, Result, SampleId, ValidationSettings};

/// How far (in pixels) a box may reach past the image's edge before it is out of bounds:
/// rounding in tools that store whole pixels.
pub const EDGE_TOLERANCE: f64 = 0.5;

/// `DUPLICATE_BOXES`: two boxes of one class on one image overlapping at least this much.
pub const DUPLICATE_IOU: f64 = 0.95;

/// `BOX_SIZE_OUTLIERS` looks at classes with at least this many boxes.
const OUTLIER_MIN_BOXES: usize = 10;

/// The box-level checks, and the current boxes per class (for the class-balance checks).
pub(super) fn check(
    project: &Project,
    options: &Options,
    settings: &ValidationSettings,
    finals: &super::FinalBoxes,
    out: &mut Vec<Finding>,
) -> Result<BTreeMap<ClassId, u64>> {
    let sql = format!(
        "SELECT s.id, s.width, s.height, st.status = 'labeled' FROM samples s \
         LEFT JOIN sample_state st ON st.sample_id = s.id \
         WHERE s.kind = 'image' AND {} ORDER BY s.id",
        scope_condition(options)
    );
    let mut unresolved = Vec::new();
    let mut out_of_bounds = Vec::new();
    let mut degenerate = Vec::new();
    let mut tiny = Vec::new();
    let mut duplicates = Vec::new();
    let mut counts: BTreeMap<ClassId, u64> = BTreeMap::new();
    // Each box's size relative to its image (square root of the area fraction), by class.
    let mut relative: BTreeMap<ClassId, Vec<(f64, SampleId)>> = BTreeMap::new();
    let conn = project.conn();
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query([])?;
    let (mut n_out, mut n_degenerate, mut n_tiny) = (0u64, 0u64, 0u64);
    while let Some(r) = rows.next()? {
        let sample: SampleId = r.get(0)?;
        let (width, height): (Option<f64>, Option<f64>) = (r.get(1)?, r.get(2)?);
        let labeled: Option<bool> = r.get(3)?;
        let Some(image) = finals.get(&sample) else {
            if labeled == Some(true) {
                unresolved.push(sample);
            }
            continue;
        };
        if has_duplicate(image) {
            duplicates.push(sample);
        }
        for b in image {
            *counts.entry(b.class).or_default() += 1;
            let mark = |list: &mut Vec<SampleId>, n: &mut u64| {
                *n += 1;
                if list.last() != Some(&sample) {
                    list.push(sample);
                }
            };
            if b.w <= 0.0 || b.h <= 0.0 {
                mark(&mut degenerate, &mut n_degenerate);
            } else if b.area() < settings.min_box_area {
                mark(&mut tiny, &mut n_tiny);
            }
            if let (Some(w), Some(h)) = (width, height) {
                if b.x < -EDGE_TOLERANCE
                    || b.y < -EDGE_TOLERANCE
                    || b.x + b.w > w + EDGE_TOLERANCE
                    || b.y + b.h > h + EDGE_TOLERANCE
                {
                    mark(&mut out_of_bounds, &mut n_out);
                }
                if b.area() > 0.0 && w * h > 0.0 {
                    relative
                        .entry(b.class)
                        .or_default()
                        .push(((b.area() / (w * h)).sqrt(), sample));
                }
            }
        }
    }
    if !unresolved.is_empty() {
        out.push(
            Finding::new(
                "UNRESOLVED_DISAGREEMENTS",
                Severity::Error,
                unresolved.len() as u64,
                format!(
                    "{} annotators whose boxes disagree and no review decision; decide them \
                     in the review, or change the consensus policy (`keylabel settings set \
                     consensus majority`: objects drawn by more than half are kept)",
                    plural(unresolved.len() as u64, "image has", "images have")
                ),
            )
            .with_samples(names_of(project, &unresolved)?),
        );
    }

    let boxes_on = |n: u64, images: usize| {
        format!(
            "{} on {}",
            plural(n, "box", "boxes"),
            plural(images as u64, "image", "images")
        )
    };
    if n_out > 0 {
        out.push(
            Finding::new(
                "BOX_OUT_OF_BOUNDS",
                Severity::Error,
                out_of_bounds.len() as u64,
                format!(
                    "{} reach beyond the image by more than {EDGE_TOLERANCE} pixel; correct \
                     them (boxes are in the pixels of the image as stored in its file)",
                    boxes_on(n_out, out_of_bounds.len())
                ),
            )
            .with_samples(names_of(project, &out_of_bounds)?),
        );
    }
    if n_degenerate > 0 {
        out.push(
            Finding::new(
                "DEGENERATE_BOX",
                Severity::Error,
                degenerate.len() as u64,
                format!(
                    "{} have zero or negative width or height; delete or redraw them",
                    boxes_on(n_degenerate, degenerate.len())
                ),
            )
            .with_samples(names_of(project, &degenerate)?),
        );
    }
    if n_tiny > 0 {
        out.push(
            Finding::new(
                "TINY_BOXES",
                Severity::Warning,
                tiny.len() as u64,
                format!(
                    "{} are smaller than {} square pixels (the `min_box_area` setting); \
                     check that they are objects and not slips of the mouse",
                    boxes_on(n_tiny, tiny.len()),
                    settings.min_box_area
                ),
            )
            .with_samples(names_of(project, &tiny)?),
        );
    }
    if !duplicates.is_empty() {
        out.push(
            Finding::new(
                "DUPLICATE_BOXES",
                Severity::Warning,
                duplicates.len() as u64,
                format!(
                    "{} two boxes of one class overlapping by IoU ≥ {DUPLICATE_IOU}: one \
                     object drawn twice, which a detector is trained to find twice",
                    plural(duplicates.len() as u64, "image has", "images have")
                ),
            )
            .with_samples(names_of(project, &duplicates)?),
        );
    }
    let outliers = size_outliers(&relative, settings.size_outlier_factor);
    if !outliers.is_empty() {
        out.push(
            Finding::new(
                "BOX_SIZE_OUTLIERS",
                Severity::Warning,
                outliers.len() as u64,
                format!(
                    "{} a box more than {}× larger or smaller (in width and height) than \
                     the median box of its class; check the class and the box",
                    plural(outliers.len() as u64, "image has", "images have"),
                    settings.size_outlier_factor.sqrt()
                ),
            )
            .with_samples(names_of(project, &outliers)?),
        );
    }
    Ok(counts)
}

/// Whether two boxes of one class overlap by at least [`DUPLICATE_IOU`].
fn has_duplicate(boxes: &[BoundingBox]) -> bool {
    boxes.iter().enumerate().any(|(i, a)| {
        boxes[i + 1..]
            .iter()
            .any(|b| a.class == b.class && a.iou(b) >= DUPLICATE_IOU)
    })
}

/// Images holding a box whose relative size is more than `√factor` times off its class's
/// median (the same factor as the image-size check, which compares areas).
fn size_outliers(relative: &BTreeMap<ClassId, Vec<(f64, SampleId)>>, factor: f64) -> Vec<SampleId> {
    let side = factor.sqrt();
    let mut found = Vec::new();
    for sizes in relative.values() {
        if sizes.len() < OUTLIER_MIN_BOXES {
            continue;
        }
        let mut sorted: Vec<f64> = sizes.iter().map(|(s, _)| *s).collect();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        found.extend(
            sizes
                .iter()
                .filter(|(s, _)| *s > median * side || *s * side < median)
                .map(|(_, id)| *id),
        );
    }
    found.sort_unstable();
    found.dedup();
    found
}
